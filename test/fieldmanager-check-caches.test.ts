// The caches of the write path's checks give what the uncached code gives: decoded FieldsV1 sets
// are keyed so that only equal JSON shares an entry, the name checks' memory of valid texts never
// hides a problem, and the unknown-field walk over prepared schema nodes reports (and prunes) what
// the walk over the raw schema did.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FieldSet } from '../src/apiserver/fieldmanager/fieldpath.js';
import { isDNS1123Label, isDNS1123Subdomain, isQualifiedName, isValidLabelValue } from '../src/api/validation/names.js';
import { validateLabels } from '../src/api/validation/labels.js';
import { findUnknownFields, pruneUnknownFields, resolveSchema, schemaForKind, type SchemaNode } from '../src/api/schema.js';

describe('FieldsV1 decoding cache', () => {
  test('JSON values that differ decode to their own sets, whatever order they come in', () => {
    // Pairs a careless key (concatenated keys, no lengths or nesting marks) would confuse.
    const values: Record<string, unknown>[] = [
      { 'f:a': { 'f:b': {} } },
      { 'f:a': {}, 'f:b': {} },
      { 'f:a': { '.': {}, 'f:b': {} } },
      { 'f:a{f:b': {} },
      { 'f:1:f:a': {} },
      { 'f:a': { 'f:b': {}, 'f:c': {} } },
      { 'f:a': { 'f:b': { 'f:c': {} } } },
      { 'f:a': 1 },
      { 'f:a': '{}' },
      { 'f:a': { 'k:{"name":"x"}': {} } },
      { 'f:a': { 'k:{"name":"x"}': { '.': {} } } },
      { 'f:b': {}, 'f:a': {} },
    ];
    for (let round = 0; round < 2; round++) {
      for (const v of round === 0 ? values : [...values].reverse()) {
        const fresh = FieldSet.fromFieldsV1(JSON.parse(JSON.stringify(v)));
        assert.deepEqual(fresh.toFieldsV1(), reference(v), JSON.stringify(v));
      }
    }
  });

  test('a cached set is the same set', () => {
    const v = { 'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } }, 'f:spec': { 'f:replicas': {} } };
    assert.equal(FieldSet.fromFieldsV1(JSON.parse(JSON.stringify(v))), FieldSet.fromFieldsV1(JSON.parse(JSON.stringify(v))));
  });
});

/** What decoding then encoding a FieldsV1 value gives, by hand: members as `{}`, `.` kept where a node is also a member, sorted. */
function reference(v: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v).sort()) {
    const x = v[k];
    const children = typeof x === 'object' && x !== null ? Object.entries(x as Record<string, unknown>).filter(([kk]) => kk !== '.') : [];
    if (children.length === 0) out[k] = {};
    else {
      const inner = reference(Object.fromEntries(children));
      out[k] = '.' in (x as object) ? { '.': {}, ...inner } : inner;
    }
  }
  return out;
}

describe('name checks remember valid texts only', () => {
  test('the same answers on first and later calls, valid or not', () => {
    const cases: [(v: string) => string[], string][] = [
      [isQualifiedName, 'app'], [isQualifiedName, 'example.com/app'], [isQualifiedName, '-bad'], [isQualifiedName, 'a/b/c'], [isQualifiedName, ''],
      [isValidLabelValue, 'load'], [isValidLabelValue, ''], [isValidLabelValue, 'bad value'], [isValidLabelValue, 'x'.repeat(64)],
      [isDNS1123Label, 'default'], [isDNS1123Label, 'Default'], [isDNS1123Label, 'a.b'],
      [isDNS1123Subdomain, 'a.b'], [isDNS1123Subdomain, 'A.b'], [isDNS1123Subdomain, 'x'.repeat(254)],
    ];
    const first = cases.map(([f, v]) => f(v));
    for (let i = 0; i < 3; i++) assert.deepEqual(cases.map(([f, v]) => f(v)), first);
    assert.deepEqual(first.map((e) => e.length > 0), [false, false, true, true, true, false, false, true, true, false, true, true, false, true, true]);
    // A caller may change the list it gets: the next answer is not affected.
    isQualifiedName('app').push('changed');
    assert.deepEqual(isQualifiedName('app'), []);
  });

  test('validateLabels reports key and value problems in order', () => {
    const errs = validateLabels({ ok: 'fine', '-bad': 'fine', good: 'bad value' }, 'metadata.labels');
    assert.deepEqual(errs.map((e) => e.field), ['metadata.labels', 'metadata.labels']);
    assert.match(errs[0]!.message, /^Invalid value: "-bad": name part must consist of/);
    assert.match(errs[1]!.message, /^Invalid value: "bad value": a valid label must be/);
    assert.equal(validateLabels({ ok: 'fine', '-bad': 'fine', good: 'bad value' }, 'metadata.labels').length, errs.length);
  });
});

describe('unknown fields over prepared schema nodes', () => {
  // The previous walk, verbatim but for the names: the raw schema, resolved at every value.
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  function refWalk(schema: SchemaNode | undefined, value: unknown, path: (string | number)[], found: string[], prune: boolean): void {
    const node = resolveSchema(schema);
    if (!node || value === null || typeof value !== 'object') return;
    if (Array.isArray(value)) {
      if (!node.items) return;
      for (let i = 0; i < value.length; i++) refWalk(node.items, value[i], [...path, i], found, prune);
      return;
    }
    const properties = node.properties;
    const mapValues = !properties && isObject(node.additionalProperties) ? node.additionalProperties : undefined;
    if (!properties && !mapValues) return;
    for (const key in value) {
      const known = mapValues ?? (Object.prototype.hasOwnProperty.call(properties, key) ? properties![key] : undefined);
      if (known) refWalk(known, (value as Record<string, unknown>)[key], [...path, key], found, prune);
      else {
        if (prune || found.length < 100) found.push(render([...path, key]));
        if (prune) delete (value as Record<string, unknown>)[key];
      }
    }
  }
  const render = (p: (string | number)[]) => p.reduce<string>((out, s) => (typeof s === 'number' ? `${out}[${s}]` : out ? `${out}.${s}` : s), '');

  // A small seeded generator: objects of a kind with unknown keys sprinkled in at every depth.
  function rng(seed: number) {
    return () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  }
  function sprinkle(v: unknown, r: () => number): unknown {
    if (Array.isArray(v)) return v.map((x) => sprinkle(x, r));
    if (!isObject(v)) return v;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (r() < 0.1) out[`bogus${Math.floor(r() * 100)}`] = r() < 0.5 ? 1 : { nested: true };
      out[k] = sprinkle(x, r);
    }
    if (r() < 0.1) out.__proto__extra = [1, { a: 2 }];
    return out;
  }
  const pod = {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: 'p', namespace: 'default', labels: { app: 'x' }, annotations: { a: 'b' }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: 'u' }], managedFields: [{ manager: 'm', operation: 'Update', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': {} } }] },
    spec: {
      containers: [{ name: 'web', image: 'nginx', ports: [{ containerPort: 80 }], resources: { limits: { cpu: '1' } }, env: [{ name: 'A', valueFrom: { fieldRef: { fieldPath: 'x' } } }] }],
      tolerations: [{ key: 'k', operator: 'Exists' }], nodeSelector: { a: 'b' }, affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'a', operator: 'In', values: ['b'] }] }] } } },
    },
    status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True', lastProbeTime: null }], containerStatuses: [{ name: 'web', state: { running: { startedAt: 't' } } }] },
  };
  const deployment = {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' },
    spec: { replicas: 1, selector: { matchLabels: { app: 'x' } }, template: { metadata: { labels: { app: 'x' } }, spec: pod.spec }, strategy: { rollingUpdate: { maxSurge: '25%' } } },
  };

  test('the same paths found, and the same fields pruned, over seeded objects', () => {
    const r = rng(42);
    let withUnknown = 0;
    for (let i = 0; i < 300; i++) {
      const [apiVersion, kind, base] = i % 2 ? ['v1', 'Pod', pod] as const : ['apps/v1', 'Deployment', deployment] as const;
      const obj = sprinkle(base, r);
      const expected: string[] = [];
      refWalk(schemaForKind(apiVersion, kind), JSON.parse(JSON.stringify(obj)), [], expected, false);
      assert.deepEqual(findUnknownFields(apiVersion, kind, obj), expected);
      if (expected.length) withUnknown++;
      const a = JSON.parse(JSON.stringify(obj)), b = JSON.parse(JSON.stringify(obj));
      const prunedExpected: string[] = [];
      refWalk(schemaForKind(apiVersion, kind), a, [], prunedExpected, true);
      assert.deepEqual(pruneUnknownFields(apiVersion, kind, b), prunedExpected);
      assert.deepEqual(b, a);
    }
    assert.ok(withUnknown > 100, `objects with unknown fields: ${withUnknown}`);
  });
});
