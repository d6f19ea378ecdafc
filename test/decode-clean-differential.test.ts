// decodeError (src/api/schema.ts) first asks decodesCleanly, a walk that restates the type rules
// of Decoder.value without building messages, and walks with the Decoder only when that says no.
// The two must stay in step: a rule the Decoder has and decodesCleanly lacks lets a bad body
// through unreported; the other way round only costs time, but is a mismatch all the same. This
// differential test builds bodies from the kinds' schemas (valid ones, then with a wrong value put
// at every place in them, and random ones) and checks that decodesCleanly is true exactly when
// the Decoder reports no error.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeVerdicts, resolveRef, schemaForKind, type SchemaNode } from '../src/api/schema.js';

const KINDS: [string, string][] = [
  ['v1', 'Pod'], ['v1', 'Service'], ['apps/v1', 'Deployment'], ['v1', 'Event'],
  ['discovery.k8s.io/v1', 'EndpointSlice'], ['v1', 'Node'], ['v1', 'Endpoints'], ['coordination.k8s.io/v1', 'Lease'],
];

/** A small deterministic PRNG (mulberry32): a failure is reproducible from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Values of every JSON type, including the edges of the decoder's rules: int32 and int64 limits,
 * fractions, quantities and times good and bad, int-or-string forms, empty and non-empty
 * containers. All are JSON values (what a parsed body can hold).
 */
const ODD_VALUES: unknown[] = [
  null, true, false, 0, 1, -1, 1.5, -0.25, 80, 65536,
  2 ** 31 - 1, 2 ** 31, -(2 ** 31), -(2 ** 31) - 1, 2 ** 53, 2 ** 63, -(2 ** 63), 1e300, -1e300,
  '', 'abc', '80', 'http', '1', '100m', '1Gi', '1.5e3', '1e9999999999999999999', '2Ki3', '1 Gi', ' 2 ', '+1', '-.5', '.', 'e3', '1E+2',
  '2026-11-28T03:00:00Z', '2026-11-28T03:00:00.123456Z', '2026-11-28T03:00:00+01:00', '2026-11-28', 'not a time', '2026-13-28T03:00:00Z',
  [], [1], ['a'], [null], [{}], [[1]], {}, { a: 1 }, { a: 'b' }, { a: null }, { a: { b: 1 } }, { '': [] },
];

const VALID_QUANTITIES = ['1', '100m', '1Gi', '0.5', '1e3', '2k', '-1', '+3M', 2, 0.25];
const VALID_TIMES = ['2026-11-28T03:00:00Z', '2026-11-28T03:00:00.5Z', '2026-11-28T03:00:00-07:00'];
const VALID_MICROTIMES = ['2026-11-28T03:00:00.123456Z', '2026-11-28T03:00:00.000000Z'];
const SPECIAL = {
  'io.k8s.apimachinery.pkg.api.resource.Quantity': (r: () => number) => pick(r, VALID_QUANTITIES),
  'io.k8s.apimachinery.pkg.util.intstr.IntOrString': (r: () => number) => (r() < 0.5 ? 8080 : 'http'),
  'io.k8s.apimachinery.pkg.apis.meta.v1.Time': (r: () => number) => pick(r, VALID_TIMES),
  'io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime': (r: () => number) => pick(r, VALID_MICROTIMES),
  'io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1': () => ({ 'f:metadata': { 'f:labels': {} } }),
  'io.k8s.apimachinery.pkg.runtime.RawExtension': () => ({ anything: [1, 'x', null] }),
} as Record<string, (r: () => number) => unknown>;

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)]!;
}

const REF_PREFIX = '#/components/schemas/';

/** The node behind `$ref` / single `allOf` wrappers, and the last definition name on the way. */
function follow(node: SchemaNode): { node: SchemaNode | undefined; definition?: string } {
  let definition: string | undefined;
  let n: SchemaNode | undefined = node;
  for (let hops = 0; n && hops < 8; hops++) {
    if (n.$ref !== undefined) {
      definition = n.$ref.slice(REF_PREFIX.length);
      n = resolveRef(n.$ref);
    } else if (n.allOf?.length === 1) n = n.allOf[0];
    else break;
  }
  return { node: n, definition };
}

/** A value of the schema's type: each field present with probability `fill`, nesting limited by `depth`. */
function generate(schema: SchemaNode, r: () => number, fill: number, depth: number): unknown {
  const { node, definition } = follow(schema);
  if (definition !== undefined && SPECIAL[definition]) return SPECIAL[definition](r);
  if (!node) return pick(r, ODD_VALUES);
  switch (node.type) {
    case 'object': {
      if (node.properties) {
        const out: Record<string, unknown> = {};
        if (depth <= 0) return out;
        for (const [key, sub] of Object.entries(node.properties)) {
          if (key === 'apiVersion' || key === 'kind') continue;
          if (r() < fill) out[key] = generate(sub, r, fill, depth - 1);
        }
        return out;
      }
      if (node.additionalProperties && typeof node.additionalProperties === 'object') {
        const out: Record<string, unknown> = {};
        if (depth <= 0) return out;
        const n = Math.floor(r() * 3);
        for (let i = 0; i < n; i++) out[`k${i}`] = generate(node.additionalProperties, r, fill, depth - 1);
        return out;
      }
      return { free: 'form' };
    }
    case 'array': {
      if (depth <= 0 || !node.items) return [];
      const n = Math.floor(r() * 3);
      return Array.from({ length: n }, () => generate(node.items!, r, fill, depth - 1));
    }
    case 'string': return pick(r, ['a', 'web', 'TCP', '']);
    case 'boolean': return r() < 0.5;
    case 'number': return pick(r, [0, 1.5, -3]);
    case 'integer': return node.format === 'int32' ? pick(r, [0, 1, 80, 2 ** 31 - 1, -(2 ** 31)]) : pick(r, [0, 7, 2 ** 53]);
    default: return pick(r, ODD_VALUES);
  }
}

type Path = (string | number)[];

/** Every place in a JSON value that holds a value (the root excluded), depth first. */
function paths(v: unknown, prefix: Path = [], out: Path[] = []): Path[] {
  if (Array.isArray(v)) v.forEach((x, i) => (out.push([...prefix, i]), paths(x, [...prefix, i], out)));
  else if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      out.push([...prefix, k]);
      paths(x, [...prefix, k], out);
    }
  }
  return out;
}

/** A copy of `v` with `replacement` at `path`. */
function replaced(v: unknown, path: Path, replacement: unknown): unknown {
  const copy = JSON.parse(JSON.stringify(v));
  let at = copy;
  for (const p of path.slice(0, -1)) at = at[p];
  at[path.at(-1)!] = replacement;
  return copy;
}

/** Calls `fn` with `v` holding `replacement` at `path` (in place), then puts the old value back. */
function withReplaced(v: unknown, path: Path, replacement: unknown, fn: () => void): void {
  let at = v as any;
  for (const p of path.slice(0, -1)) at = at[p];
  const key = path.at(-1)!;
  const had = Object.hasOwn(at, key);
  const old = at[key];
  at[key] = replacement;
  try {
    fn();
  } finally {
    if (had) at[key] = old;
    else delete at[key];
  }
}

/** Checks one body (JSON values only: what a parsed request body holds); counts what the two walks said. */
function check(apiVersion: string, kind: string, body: unknown, counts: { clean: number; bad: number }): void {
  const v = decodeVerdicts(apiVersion, kind, body);
  assert.ok(v, `${apiVersion}/${kind} is a known kind`);
  if (v.clean !== (v.error === undefined)) {
    assert.fail(`${apiVersion} ${kind}: decodesCleanly says ${v.clean} but the Decoder says ${v.error ?? 'nothing'} for ${JSON.stringify(body)}`);
  }
  if (v.clean) counts.clean++;
  else counts.bad++;
}

describe('decodesCleanly agrees with the Decoder', () => {
  for (const [apiVersion, kind] of KINDS) {
    test(`${apiVersion} ${kind}: a wrong value at every place of generated bodies`, () => {
      const schema = schemaForKind(apiVersion, kind);
      assert.ok(schema, `${apiVersion}/${kind} has a schema`);
      const counts = { clean: 0, bad: 0 };
      // Bodies until about 1,000 places have been tried (a generated Pod has hundreds).
      let places = 0;
      for (let seed = 1; places < 1000 || seed <= 2; seed++) {
        const r = prng(seed * 7919 + kind.length);
        const body = generate(schema, r, 0.5, 7);
        check(apiVersion, kind, body, counts);
        for (const path of paths(body)) {
          places++;
          for (const odd of ODD_VALUES) withReplaced(body, path, odd, () => check(apiVersion, kind, body, counts));
          // An unknown field beside a known one: skipped by both, whatever its value.
          const parent = path.slice(0, -1);
          withReplaced(body, [...parent, 'zzUnknownField'], pick(r, ODD_VALUES), () => check(apiVersion, kind, body, counts));
        }
        for (const odd of ODD_VALUES) check(apiVersion, kind, odd, counts);
      }
      // Both answers must have been exercised, or the test proves nothing.
      assert.ok(counts.clean > 100, `clean bodies: ${counts.clean}`);
      assert.ok(counts.bad > 100, `bodies with an error: ${counts.bad}`);
    });

    test(`${apiVersion} ${kind}: random bodies with random wrong values`, () => {
      const schema = schemaForKind(apiVersion, kind)!;
      const counts = { clean: 0, bad: 0 };
      const r = prng(424242 + kind.length * 31 + apiVersion.length);
      for (let i = 0; i < 400; i++) {
        let body = generate(schema, r, 0.4, 8);
        // Up to three places changed at once: the first problem in document order is not the only one.
        const n = Math.floor(r() * 4);
        for (let j = 0; j < n; j++) {
          const all = paths(body);
          if (!all.length) break;
          body = replaced(body, pick(r, all), pick(r, ODD_VALUES));
        }
        check(apiVersion, kind, body, counts);
      }
      assert.ok(counts.clean > 20 && counts.bad > 20, `clean ${counts.clean}, with an error ${counts.bad}`);
    });
  }
});
