// Server-side apply and managedFields without a server: field sets and their FieldsV1 encoding,
// the typed walks (list semantics from the schemas, validation, merge), the bookkeeping of
// non-apply writes (recordUpdate), apply (merge, conflicts, force, pruning, co-ownership), the
// scale subresource, and the request helpers. Expectations follow structured-merge-diff v4 and
// k8s.io/apiserver v1.32.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import type { KObject } from '../src/api/types.js';
import { applyDefaults } from '../src/api/defaults.js';
import { ApiError } from '../src/apiserver/errors.js';
import {
  apply, defaultManager, recordScaleUpdate, recordUpdate, scaleManagedFields, validateWriteOptions, type ManagedFieldsEntry,
} from '../src/apiserver/fieldmanager/index.js';
import {
  FieldSet, fieldPE, goJSON, indexPE, keyPE, pathString, valuePE, type Path,
} from '../src/apiserver/fieldmanager/fieldpath.js';
import { compare, merge, toFieldSet, typeForKind, typeOf, validate, TypedError } from '../src/apiserver/fieldmanager/typed.js';

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
const f = fieldPE;
const p = (...names: string[]): Path => names.map(fieldPE);

// ---- object helpers ----

type Obj = Record<string, any>;

function deploymentConfig(opts: { replicas?: number; labels?: Record<string, string>; containers?: Obj[] } = {}): Obj {
  const spec: Obj = {
    selector: { matchLabels: { app: 'web' } },
    template: {
      metadata: { labels: { app: 'web' } },
      spec: { containers: opts.containers ?? [{ name: 'nginx', image: 'nginx:1.27', ports: [{ containerPort: 80 }] }] },
    },
  };
  if (opts.replicas !== undefined) spec.replicas = opts.replicas;
  return {
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default', labels: opts.labels ?? { app: 'web' } },
    spec,
  };
}

let rv = 1;

/** What the registry does around the field manager: system fields, kept status, defaults. */
function persist(kind: string, obj: KObject, old?: KObject): KObject {
  const m = obj.metadata;
  m.uid = old?.metadata.uid ?? 'uid-1';
  m.creationTimestamp = old?.metadata.creationTimestamp ?? '2024-05-01T10:00:00Z';
  m.resourceVersion = String(++rv);
  if (old && 'status' in old) obj.status = old.status;
  applyDefaults(kind, obj, old);
  return obj;
}

/** A create through a non-apply endpoint, some time ago (so that later writes sort after it). */
function created(config: Obj, manager = 'kubectl-create'): KObject {
  const obj = structuredClone(config) as KObject;
  const kind = obj.kind!;
  persist(kind, obj);
  recordUpdate(obj.apiVersion!, kind, undefined, obj, manager);
  for (const e of entries(obj)) {
    assert.match(e.time!, RFC3339);
    e.time = '2024-05-01T10:00:00Z';
  }
  return obj;
}

/** An update (PUT or patch) of `prev` by `manager`. */
function updated(prev: KObject, change: (o: Obj) => void, manager: string, subresource?: string): KObject {
  const next = structuredClone(prev);
  change(next);
  applyDefaults(next.kind!, next, prev);
  recordUpdate(next.apiVersion!, next.kind!, prev, next, manager, subresource);
  return next;
}

function applied(live: KObject | undefined, config: Obj, manager = 'kubectl', force = false, subresource?: string): KObject {
  const out = apply(config.apiVersion, config.kind, live, structuredClone(config), manager, force, subresource);
  return persist(config.kind, out, live);
}

function entries(o: KObject): ManagedFieldsEntry[] {
  return (o.metadata.managedFields ?? []) as ManagedFieldsEntry[];
}

function owners(o: KObject): string[] {
  return entries(o).map((e) => [e.manager, e.operation, e.subresource].filter(Boolean).join('/'));
}

function entry(o: KObject, manager: string, operation?: string, subresource?: string): ManagedFieldsEntry {
  const e = entries(o).find((x) => x.manager === manager && (!operation || x.operation === operation) && (x.subresource ?? '') === (subresource ?? ''));
  assert.ok(e, `no entry for ${manager} in ${JSON.stringify(owners(o))}`);
  return e;
}

function owns(o: KObject, manager: string, path: Path, operation?: string): boolean {
  return FieldSet.fromFieldsV1(entry(o, manager, operation).fieldsV1).has(path);
}

function expectApiError(fn: () => unknown, code: number, message: string | RegExp): ApiError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ApiError, `not an ApiError: ${e}`);
    assert.equal(e.code, code);
    if (typeof message === 'string') assert.equal(e.message, message);
    else assert.match(e.message, message);
    return e;
  }
  assert.fail('no error thrown');
}

const CONTAINERS = p('spec', 'template', 'spec', 'containers');
const nginx = keyPE([['name', 'nginx']]);

// ---- field paths and sets ----

describe('field sets and FieldsV1', () => {
  test('encodes members, children and `.` in upstream order (fields, keys, values, indices)', () => {
    const set = FieldSet.of(
      p('spec', 'replicas'),
      [f('spec'), f('template'), f('spec'), f('containers'), keyPE([['name', 'web']])],
      [f('spec'), f('template'), f('spec'), f('containers'), keyPE([['name', 'web']]), f('image')],
      [f('metadata'), f('finalizers'), valuePE('b')],
      [f('metadata'), f('finalizers'), valuePE('a')],
      [f('spec'), f('args'), indexPE(0)],
      [f('spec'), f('ports'), keyPE([['protocol', 'TCP'], ['containerPort', 80]])],
      p('apiVersion'),
    );
    assert.equal(JSON.stringify(set.toFieldsV1()), JSON.stringify({
      'f:apiVersion': {},
      'f:metadata': { 'f:finalizers': { 'v:"a"': {}, 'v:"b"': {} } },
      'f:spec': {
        'f:args': { 'i:0': {} },
        'f:ports': { 'k:{"containerPort":80,"protocol":"TCP"}': {} },
        'f:replicas': {},
        'f:template': { 'f:spec': { 'f:containers': { 'k:{"name":"web"}': { '.': {}, 'f:image': {} } } } },
      },
    }));
  });

  test('decodes what it encodes, with `.` marking a node that is a member', () => {
    const json = { 'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } }, 'f:spec': { 'f:containers': { 'k:{"name":"a"}': { '.': {}, 'f:image': {} } } } };
    const set = FieldSet.fromFieldsV1(json);
    assert.ok(set.has(p('metadata', 'labels')));
    assert.ok(set.has(p('metadata', 'labels', 'app')));
    assert.ok(!set.has(p('metadata')));
    assert.ok(set.has([...p('spec', 'containers'), keyPE([['name', 'a']])]));
    assert.ok(set.has([...p('spec', 'containers'), keyPE([['name', 'a']]), f('image')]));
    assert.deepEqual(set.toFieldsV1(), json);
    assert.deepEqual(set.paths().map(pathString), ['.metadata.labels', '.metadata.labels.app', '.spec.containers[name="a"]', '.spec.containers[name="a"].image']);
  });

  test('skips element types it does not know and rejects malformed keys', () => {
    assert.deepEqual(FieldSet.fromFieldsV1({ 'x:future': {}, 'f:a': {} }).toFieldsV1(), { 'f:a': {} });
    assert.throws(() => FieldSet.fromFieldsV1({ 'fa': {} }), /missing colon/);
    assert.throws(() => FieldSet.fromFieldsV1({ 'k:{bad': {} }));
    assert.throws(() => FieldSet.fromFieldsV1({ 'i:x': {} }));
  });

  test('set operations: difference keeps a child of a removed member, recursive difference does not', () => {
    const a = FieldSet.of(p('a', 'b'), p('a', 'c'), p('d'));
    const b = FieldSet.of(p('a'), p('a', 'b'));
    assert.deepEqual(a.difference(b).paths().map(pathString), ['.d', '.a.c']);
    assert.deepEqual(a.recursiveDifference(FieldSet.of(p('a'))).paths().map(pathString), ['.d']);
    assert.deepEqual(a.intersection(FieldSet.of(p('a', 'c'), p('a'))).paths().map(pathString), ['.a.c']);
    assert.deepEqual(a.union(b).paths().map(pathString), ['.a', '.d', '.a.b', '.a.c']);
    assert.ok(a.difference(a).isEmpty());
    assert.equal(a.difference(FieldSet.of(p('x'))), a, 'difference with nothing in common returns the same set');
  });

  test('paths print as upstream prints them in conflicts', () => {
    assert.equal(pathString([...CONTAINERS, nginx, f('ports'), keyPE([['protocol', 'TCP'], ['containerPort', 80]])]),
      '.spec.template.spec.containers[name="nginx"].ports[containerPort=80,protocol="TCP"]');
    assert.equal(pathString([f('metadata'), f('finalizers'), valuePE('x')]), '.metadata.finalizers[="x"]');
    assert.equal(pathString([f('args'), indexPE(2)]), '.args[2]');
  });

  test('Go JSON: sorted keys, HTML-safe escapes', () => {
    assert.equal(goJSON({ b: 1, a: ['<x>', '&', true, null], c: { z: 1.5, y: 'é' } }), '{"a":["\\u003cx\\u003e","\\u0026",true,null],"b":1,"c":{"y":"é","z":1.5}}');
  });
});

// ---- typed walks ----

describe('list and map semantics from the schemas', () => {
  const podType = typeForKind('v1', 'Pod');
  const fieldsOf = (v: unknown, tr = podType) => toFieldSet(tr, v).paths().map(pathString);

  test('containers are a map keyed by name, ports by containerPort and the defaulted protocol', () => {
    const pod = { spec: { containers: [{ name: 'a', image: 'x', ports: [{ containerPort: 80 }] }] } };
    assert.deepEqual(fieldsOf(pod), [
      '.spec.containers[name="a"]',
      '.spec.containers[name="a"].image',
      '.spec.containers[name="a"].name',
      '.spec.containers[name="a"].ports[containerPort=80,protocol="TCP"]',
      '.spec.containers[name="a"].ports[containerPort=80,protocol="TCP"].containerPort',
    ]);
  });

  test('atomic lists and maps are single fields; sets are granular by value', () => {
    const pod = {
      metadata: { finalizers: ['a', 'b'], labels: { x: '1' } },
      spec: { nodeSelector: { disk: 'ssd' }, tolerations: [{ key: 'k' }], containers: [{ name: 'a', args: ['-v'] }] },
    };
    assert.deepEqual(fieldsOf(pod), [
      '.metadata.finalizers[="a"]',
      '.metadata.finalizers[="b"]',
      '.metadata.labels.x',
      '.spec.nodeSelector',
      '.spec.tolerations',
      '.spec.containers[name="a"]',
      '.spec.containers[name="a"].args',
      '.spec.containers[name="a"].name',
    ]);
  });

  test('struct types marked atomic are leaves (a Deployment selector)', () => {
    const paths = fieldsOf({ spec: { selector: { matchLabels: { a: 'b' } } } }, typeForKind('apps/v1', 'Deployment'));
    assert.deepEqual(paths, ['.spec.selector']);
  });

  test('a list with a patch merge key but no list type is a map keyed by it; with no key, a set', () => {
    const byName = typeOf({ type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, v: { type: 'string' } } }, 'x-kubernetes-patch-strategy': 'merge', 'x-kubernetes-patch-merge-key': 'name' });
    assert.deepEqual(toFieldSet(byName, [{ name: 'a', v: '1' }]).paths().map(pathString), ['[name="a"]', '[name="a"].name', '[name="a"].v']);
    const set = typeOf({ type: 'array', items: { type: 'string' }, 'x-kubernetes-patch-strategy': 'merge' });
    assert.deepEqual(toFieldSet(set, ['x']).paths().map(pathString), ['[="x"]']);
    const plain = typeOf({ type: 'array', items: { type: 'string' } });
    assert.equal(toFieldSet(plain, ['x']).paths().map(pathString).join(), '', 'a plain list is atomic: the list itself, here the root');
  });

  test('empty maps and nulls are owned as fields', () => {
    assert.deepEqual(fieldsOf({ spec: { securityContext: {}, hostname: null } }), ['.spec.hostname', '.spec.securityContext']);
  });

  test('validation errors read as upstream prints them', () => {
    const dep = typeForKind('apps/v1', 'Deployment');
    const message = (v: unknown) => {
      try {
        validate(dep, v);
      } catch (e) {
        assert.ok(e instanceof TypedError);
        return e.message;
      }
      return '';
    };
    assert.equal(message({ spec: { bogus: 1 } }), '.spec.bogus: field not declared in schema');
    assert.equal(message({ spec: { replicas: 'two' } }), '.spec.replicas: expected numeric (int or float), got string');
    assert.equal(message({ metadata: { name: 3 } }), '.metadata.name: expected string, got &value.valueUnstructured{Value:3}');
    assert.equal(message({ spec: { paused: 'yes' } }), '.spec.paused: expected boolean, got &{yes}');
    assert.equal(message({ spec: { template: { spec: { containers: [{ name: 'a' }, { name: 'a' }] } } } }),
      '.spec.template.spec.containers: duplicate entries for key [name="a"]');
    // A key field with a schema default takes it (Container.name defaults to ""); one without is an error.
    assert.equal(message({ spec: { template: { spec: { containers: [{ image: 'x' }] } } } }), '');
    const keyed = typeOf({ type: 'array', items: { type: 'object', properties: { id: { type: 'string' } } }, 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['id'] });
    assert.throws(() => validate(keyed, [{}]), { message: 'element 0: associative list with keys has an element that omits key field "id" (and doesn\'t have default value)' });
    assert.equal(message({ spec: { template: 'x' } }), '.spec.template: expected map, got &{x}');
    assert.equal(message({ spec: { replicas: 1, template: { spec: { containers: [{ name: 'a', ports: [{ containerPort: 80 }] }] } } } }), '');
    assert.equal(message({ metadata: { name: 3 }, spec: { replicas: 'x' } }),
      'errors:\n  .metadata.name: expected string, got &value.valueUnstructured{Value:3}\n  .spec.replicas: expected numeric (int or float), got string');
  });

  test('merge keeps the live order of list items and places shared items in the applied order', () => {
    const list = typeOf({ type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, v: { type: 'string' } } }, 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] });
    const live = [{ name: 'a', v: '1' }, { name: 'b' }, { name: 'c' }];
    assert.deepEqual(merge(list, live, [{ name: 'c', v: '3' }, { name: 'a', v: '9' }]), [{ name: 'b' }, { name: 'c', v: '3' }, { name: 'a', v: '9' }]);
    assert.deepEqual(merge(list, live, [{ name: 'd' }]), [...live, { name: 'd' }]);
    const atomic = typeOf({ type: 'array', items: { type: 'string' }, 'x-kubernetes-list-type': 'atomic' });
    assert.deepEqual(merge(atomic, ['a', 'b'], ['c']), ['c']);
  });

  test('compare: a value that becomes null or goes from absent to null is no change', () => {
    const dep = typeForKind('apps/v1', 'Deployment');
    const c = compare(dep, { spec: { replicas: 1, paused: null } }, { spec: { replicas: 2, minReadySeconds: null, template: { metadata: { labels: { a: 'b' } } } } });
    assert.deepEqual(c.modified.paths().map(pathString), ['.spec.replicas']);
    assert.deepEqual(c.added.paths().map(pathString), ['.spec.template', '.spec.template.metadata', '.spec.template.metadata.labels', '.spec.template.metadata.labels.a']);
    assert.ok(c.removed.isEmpty());
  });
});

// ---- non-apply writes ----

describe('recordUpdate', () => {
  test('a create gives the creator everything it set, defaults included, as upstream shows it', () => {
    const d = created(deploymentConfig({ replicas: 2 }));
    assert.deepEqual(owners(d), ['kubectl-create/Update']);
    const e = entry(d, 'kubectl-create');
    assert.equal(e.apiVersion, 'apps/v1');
    assert.equal(e.fieldsType, 'FieldsV1');
    assert.deepEqual(Object.keys(e), ['manager', 'operation', 'apiVersion', 'time', 'fieldsType', 'fieldsV1']);
    // kubectl create deployment on a v1.32 cluster records exactly this (status and system fields are never tracked).
    assert.deepEqual(e.fieldsV1, {
      'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } },
      'f:spec': {
        'f:progressDeadlineSeconds': {},
        'f:replicas': {},
        'f:revisionHistoryLimit': {},
        'f:selector': {},
        'f:strategy': { 'f:rollingUpdate': { '.': {}, 'f:maxSurge': {}, 'f:maxUnavailable': {} }, 'f:type': {} },
        'f:template': {
          'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } },
          'f:spec': {
            'f:containers': {
              'k:{"name":"nginx"}': {
                '.': {}, 'f:image': {}, 'f:imagePullPolicy': {}, 'f:name': {},
                'f:ports': { '.': {}, 'k:{"containerPort":80,"protocol":"TCP"}': { '.': {}, 'f:containerPort': {}, 'f:protocol': {} } },
                'f:resources': {}, 'f:terminationMessagePath': {}, 'f:terminationMessagePolicy': {},
              },
            },
            'f:dnsPolicy': {}, 'f:restartPolicy': {}, 'f:schedulerName': {}, 'f:securityContext': {}, 'f:terminationGracePeriodSeconds': {},
          },
        },
      },
    });
  });

  test('fields changed by a write move to its manager; other managers lose them', () => {
    const d = created(deploymentConfig({ replicas: 2 }));
    const image = [...CONTAINERS, nginx, f('image')];
    const next = updated(d, (o) => { o.spec.template.spec.containers[0].image = 'nginx:1.28'; }, 'kubectl-set');
    assert.deepEqual(owners(next), ['kubectl-create/Update', 'kubectl-set/Update']);
    assert.ok(owns(next, 'kubectl-set', image));
    assert.ok(!owns(next, 'kubectl-create', image));
    assert.ok(owns(next, 'kubectl-create', p('spec', 'replicas')));
    assert.deepEqual(entry(next, 'kubectl-set').fieldsV1, { 'f:spec': { 'f:template': { 'f:spec': { 'f:containers': { 'k:{"name":"nginx"}': { 'f:image': {} } } } } } });
  });

  test('a write that changes nothing leaves the entries as they were', () => {
    const d = created(deploymentConfig({ replicas: 2 }));
    const next = updated(d, () => {}, 'someone');
    assert.ok(isDeepStrictEqual(next.metadata.managedFields, d.metadata.managedFields));
  });

  test('entries of the same manager, operation and subresource merge; subresources get their own', () => {
    const d = created(deploymentConfig({ replicas: 2 }));
    const a = updated(d, (o) => { o.metadata.annotations = { one: '1' }; }, 'editor');
    const b = updated(a, (o) => { o.spec.replicas = 4; }, 'editor');
    assert.deepEqual(owners(b), ['kubectl-create/Update', 'editor/Update']);
    assert.deepEqual(entry(b, 'editor').fieldsV1, { 'f:metadata': { 'f:annotations': { '.': {}, 'f:one': {} } }, 'f:spec': { 'f:replicas': {} } });
    const s = updated(b, (o) => { o.status = { replicas: 4, observedGeneration: 2 }; }, 'editor', 'status');
    assert.deepEqual(owners(s), ['kubectl-create/Update', 'editor/Update', 'editor/Update/status']);
    assert.deepEqual(entry(s, 'editor', 'Update', 'status').fieldsV1, { 'f:status': { 'f:observedGeneration': {}, 'f:replicas': {} } });
    assert.deepEqual(Object.keys(entry(s, 'editor', 'Update', 'status')), ['manager', 'operation', 'apiVersion', 'time', 'fieldsType', 'fieldsV1', 'subresource']);
  });

  test('a status write owns only status fields; a main write never owns status', () => {
    const d = created(deploymentConfig({ replicas: 2 }));
    // Even if spec differed in what the status endpoint passed on, it is reset there: no ownership, no loss.
    const s = updated(d, (o) => { o.status = { replicas: 2 }; o.spec.replicas = 9; o.metadata.labels = { app: 'web', x: 'y' }; }, 'controller', 'status');
    assert.deepEqual(entry(s, 'controller', 'Update', 'status').fieldsV1, { 'f:status': { 'f:replicas': {} } });
    assert.ok(owns(s, 'kubectl-create', p('spec', 'replicas')));
    const m = updated(d, (o) => { o.status = { replicas: 7 }; }, 'editor');
    assert.deepEqual(owners(m), ['kubectl-create/Update'], 'a status change through the main endpoint is no one\'s');
  });

  test('fields removed by a write leave their owners, and empty entries disappear', () => {
    const d = created(deploymentConfig({ replicas: 2 }));
    const a = updated(d, (o) => { o.metadata.annotations = { note: 'x' }; }, 'annotator');
    const b = updated(a, (o) => { delete o.metadata.annotations; }, 'cleaner');
    assert.deepEqual(owners(b), ['kubectl-create/Update'], 'the annotator owned only the annotation; the cleaner removed it and owns nothing');
  });

  test('system fields are never tracked', () => {
    const d = created(deploymentConfig({ replicas: 2 }));
    const fields = entry(d, 'kubectl-create').fieldsV1 as Obj;
    assert.deepEqual(Object.keys(fields), ['f:metadata', 'f:spec']);
    assert.deepEqual(Object.keys(fields['f:metadata']), ['f:labels']);
    const next = updated(d, (o) => { o.metadata.generation = 5; o.metadata.resourceVersion = '99'; }, 'server');
    assert.deepEqual(owners(next), ['kubectl-create/Update']);
  });

  test('a write without a manager is recorded for "unknown"', () => {
    const d = created(deploymentConfig({ replicas: 2 }), '');
    assert.deepEqual(owners(d), ['unknown/Update']);
  });

  test('an object stored without managedFields stays untracked by updates', () => {
    const d = created(deploymentConfig({ replicas: 2 }));
    delete d.metadata.managedFields;
    const next = updated(d, (o) => { o.spec.replicas = 3; }, 'editor');
    assert.equal(next.metadata.managedFields, undefined);
  });

  test('managedFields: [] or [{}] in a write clears them', () => {
    const d = created(deploymentConfig({ replicas: 2 }));
    assert.equal(updated(d, (o) => { o.metadata.managedFields = []; }, 'x').metadata.managedFields, undefined);
    assert.equal(updated(d, (o) => { o.metadata.managedFields = [{}]; }, 'x').metadata.managedFields, undefined);
  });

  test('entries sent with a main-resource write replace the stored ones (kubectl\'s migration patch)', () => {
    const d = created(deploymentConfig({ replicas: 2 }), 'kubectl-client-side-apply');
    const migrated = entries(d).map((e) => ({ ...e, manager: 'kubectl', operation: 'Apply' as const }));
    const next = updated(d, (o) => { o.metadata.managedFields = migrated; }, 'kubectl');
    assert.deepEqual(owners(next), ['kubectl/Apply']);
    assert.deepEqual(entry(next, 'kubectl').fieldsV1, entry(d, 'kubectl-client-side-apply').fieldsV1);
  });

  test('a subresource write ignores the entries it carries', () => {
    const d = created(deploymentConfig({ replicas: 2 }));
    const next = updated(d, (o) => { o.metadata.managedFields = []; o.status = { replicas: 1 }; }, 'ctl', 'status');
    assert.deepEqual(owners(next), ['kubectl-create/Update', 'ctl/Update/status']);
  });

  test('undecodable stored entries are dropped, as upstream drops them', () => {
    const d = created(deploymentConfig({ replicas: 2 }));
    d.metadata.managedFields = [{ manager: 'x', operation: 'Bogus', apiVersion: 'apps/v1', fieldsType: 'FieldsV1', fieldsV1: {} }] as never;
    const next = updated(d, (o) => { o.spec.replicas = 3; }, 'editor');
    assert.equal(next.metadata.managedFields, undefined);
  });

  test('entries sort appliers first, then by time, manager, apiVersion, subresource', () => {
    const d = created(deploymentConfig({ replicas: 2 }));
    d.metadata.managedFields = [
      { manager: 'b', operation: 'Update', apiVersion: 'apps/v1', time: '2024-01-02T00:00:00Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:replicas': {} } } },
      { manager: 'a', operation: 'Update', apiVersion: 'apps/v1', time: '2024-01-03T00:00:00Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:paused': {} } } },
      { manager: 'z', operation: 'Apply', apiVersion: 'apps/v1', time: '2024-01-04T00:00:00Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': { 'f:labels': { 'f:app': {} } } } },
      { manager: 'c', operation: 'Update', apiVersion: 'apps/v1', time: '2024-01-02T00:00:00Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:minReadySeconds': {} } } },
    ] as never;
    const next = updated(d, (o) => { o.metadata.annotations = { a: 'b' }; }, 'late');
    assert.deepEqual(owners(next), ['z/Apply', 'b/Update', 'c/Update', 'a/Update', 'late/Update']);
  });

  test('more than ten update managers: the oldest merge into "ancient-changes"', () => {
    let d = created(deploymentConfig({ replicas: 2 }), 'm0');
    d.metadata.managedFields = entries(d).map((e) => ({ ...e, time: '2024-01-01T00:00:00Z' }));
    for (let i = 1; i <= 10; i++) {
      d = updated(d, (o) => { o.metadata.annotations = { ...o.metadata.annotations, [`k${i}`]: 'v' }; }, `m${i}`);
      d.metadata.managedFields = entries(d).map((e) => (e.manager === `m${i}` ? { ...e, time: `2024-01-${String(i + 1).padStart(2, '0')}T00:00:00Z` } : e));
    }
    assert.equal(entries(d).length, 10, 'm0 and m1 were merged');
    assert.deepEqual(owners(d)[0], 'ancient-changes/Update');
    assert.ok(!owners(d).includes('m0/Update') && !owners(d).includes('m1/Update'));
    const ancient = FieldSet.fromFieldsV1(entry(d, 'ancient-changes').fieldsV1);
    assert.ok(ancient.has(p('spec', 'replicas')) && ancient.has(p('metadata', 'annotations', 'k1')));
    assert.equal(entry(d, 'ancient-changes').time, '2024-01-02T00:00:00Z', 'the bucket takes the time of the newest entry merged into it');
  });

  test('an object the schema cannot describe keeps its entries', () => {
    const d = created(deploymentConfig({ replicas: 2 }));
    const next = structuredClone(d);
    (next.spec as Obj).bogus = true;
    recordUpdate('apps/v1', 'Deployment', d, next, 'x');
    assert.deepEqual(next.metadata.managedFields, d.metadata.managedFields);
  });

  test('Services: ports keyed by port and protocol, selector atomic', () => {
    const svc = created({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] } }, 'kubectl-expose');
    const fv = entry(svc, 'kubectl-expose').fieldsV1 as Obj;
    assert.deepEqual(fv['f:spec']['f:ports'], { '.': {}, 'k:{"port":80,"protocol":"TCP"}': { '.': {}, 'f:port': {}, 'f:protocol': {}, 'f:targetPort': {} } });
    assert.deepEqual(fv['f:spec']['f:selector'], {});
  });
});

// ---- apply ----

describe('apply', () => {
  test('creates the object; the applier owns exactly what it applied', () => {
    const d = applied(undefined, deploymentConfig({ replicas: 2 }));
    assert.equal((d.spec as Obj).replicas, 2);
    assert.deepEqual(owners(d), ['kubectl/Apply']);
    const e = entry(d, 'kubectl');
    assert.deepEqual(Object.keys(e), ['manager', 'operation', 'apiVersion', 'time', 'fieldsType', 'fieldsV1']);
    assert.equal(e.apiVersion, 'apps/v1');
    assert.match(e.time!, RFC3339);
    assert.deepEqual(e.fieldsV1, {
      'f:metadata': { 'f:labels': { 'f:app': {} } },
      'f:spec': {
        'f:replicas': {},
        'f:selector': {},
        'f:template': {
          'f:metadata': { 'f:labels': { 'f:app': {} } },
          'f:spec': { 'f:containers': { 'k:{"name":"nginx"}': { '.': {}, 'f:image': {}, 'f:name': {}, 'f:ports': { 'k:{"containerPort":80,"protocol":"TCP"}': { '.': {}, 'f:containerPort': {} } } } } },
        },
      },
    });
  });

  test('re-applying the same configuration changes nothing, not even the time', () => {
    const d = applied(undefined, deploymentConfig({ replicas: 2 }));
    const again = applied(d, deploymentConfig({ replicas: 2 }));
    assert.ok(isDeepStrictEqual({ ...again, metadata: { ...again.metadata, resourceVersion: '' } }, { ...d, metadata: { ...d.metadata, resourceVersion: '' } }));
  });

  test('a changed field takes the new value', () => {
    const d = applied(undefined, deploymentConfig({ replicas: 2 }));
    const next = applied(d, deploymentConfig({ replicas: 3 }));
    assert.equal((next.spec as Obj).replicas, 3);
    assert.deepEqual(owners(next), ['kubectl/Apply']);
  });

  test('a field another manager set to another value is a conflict; force takes it', () => {
    const d = applied(undefined, deploymentConfig({ replicas: 2 }));
    const scaled = updated(d, (o) => { o.spec.replicas = 5; }, 'autoscaler');
    const err = expectApiError(() => apply('apps/v1', 'Deployment', scaled, deploymentConfig({ replicas: 2 }), 'kubectl', false), 409,
      'Apply failed with 1 conflict: conflict with "autoscaler" using apps/v1: .spec.replicas');
    assert.equal(err.reason, 'Conflict');
    assert.deepEqual(err.details, { causes: [{ reason: 'FieldManagerConflict', message: 'conflict with "autoscaler" using apps/v1', field: '.spec.replicas' }] });
    const forced = applied(scaled, deploymentConfig({ replicas: 2 }), 'kubectl', true);
    assert.equal((forced.spec as Obj).replicas, 2);
    assert.deepEqual(owners(forced), ['kubectl/Apply'], 'the autoscaler owned only replicas and is gone');
  });

  test('several conflicts are listed per manager', () => {
    const d = applied(undefined, deploymentConfig({ replicas: 2, labels: { app: 'web', tier: 'a' } }), 'team-a');
    const err = expectApiError(() => apply('apps/v1', 'Deployment', d, deploymentConfig({ replicas: 3, labels: { app: 'web', tier: 'b' } }), 'team-b', false), 409,
      'Apply failed with 2 conflicts: conflicts with "team-a":\n- .metadata.labels.tier\n- .spec.replicas');
    assert.equal(err.details?.causes?.length, 2);
  });

  test('the same value is no conflict: both managers own the field', () => {
    const d = applied(undefined, deploymentConfig({ replicas: 2 }), 'team-a');
    const both = applied(d, { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { replicas: 2 } }, 'team-b');
    assert.ok(owns(both, 'team-a', p('spec', 'replicas')));
    assert.ok(owns(both, 'team-b', p('spec', 'replicas')));
    assert.equal(entry(both, 'team-b').time, undefined, 'an apply that changed nothing leaves no time');
    // team-a stops applying replicas: team-b still owns it, so it stays.
    const aDrops = applied(both, deploymentConfig({}), 'team-a');
    assert.equal((aDrops.spec as Obj).replicas, 2);
    assert.ok(!owns(aDrops, 'team-a', p('spec', 'replicas')));
    // Now only team-b: when it stops too, the field goes (and the server's default comes back).
    const bDrops = apply('apps/v1', 'Deployment', aDrops, { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' } }, 'team-b', false);
    assert.equal((bDrops.spec as Obj).replicas, undefined);
    assert.deepEqual(owners(bDrops), ['team-a/Apply']);
  });

  test('fields the manager applied before and omits now are removed', () => {
    const d = applied(undefined, deploymentConfig({ replicas: 2, labels: { app: 'web', tier: 'frontend' } }));
    const next = applied(d, deploymentConfig({ replicas: 2 }));
    assert.deepEqual(next.metadata.labels, { app: 'web' });
    assert.ok(!owns(next, 'kubectl', p('metadata', 'labels', 'tier')));
    // A port dropped from a container goes; the container stays.
    const noPorts = applied(next, deploymentConfig({ replicas: 2, containers: [{ name: 'nginx', image: 'nginx:1.27' }] }));
    assert.equal(((noPorts.spec as Obj).template.spec.containers[0] as Obj).ports, undefined);
  });

  test('fields set by updates are not removed by an applier that never owned them', () => {
    const d = applied(undefined, deploymentConfig({ replicas: 2 }));
    const annotated = updated(d, (o) => { o.metadata.annotations = { note: 'kept' }; }, 'kubectl-annotate');
    const next = applied(annotated, deploymentConfig({ replicas: 2 }));
    assert.deepEqual(next.metadata.annotations, { note: 'kept' });
    assert.deepEqual(owners(next), ['kubectl/Apply', 'kubectl-annotate/Update']);
  });

  test('granular lists: each manager keeps its own items', () => {
    const a = applied(undefined, deploymentConfig({ replicas: 1, containers: [{ name: 'a', image: 'a:1' }] }), 'team-a');
    const sidecar = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { template: { spec: { containers: [{ name: 'b', image: 'b:1' }] } } } };
    const both = applied(a, sidecar, 'team-b');
    assert.deepEqual(((both.spec as Obj).template.spec.containers as Obj[]).map((c) => c.name), ['a', 'b']);
    const aLeaves = applied(both, deploymentConfig({ replicas: 1, containers: [{ name: 'c', image: 'c:1' }] }), 'team-a');
    assert.deepEqual(((aLeaves.spec as Obj).template.spec.containers as Obj[]).map((c) => c.name), ['b', 'c']);
  });

  test('atomic lists are owned and replaced whole', () => {
    const withArgs = (args: string[]) => deploymentConfig({ replicas: 1, containers: [{ name: 'nginx', image: 'x', args }] });
    const a = applied(undefined, withArgs(['-a', '-b']), 'team-a');
    const args = [...CONTAINERS, nginx, f('args')];
    const other = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { template: { spec: { containers: [{ name: 'nginx', args: ['-c'] }] } } } };
    expectApiError(() => apply('apps/v1', 'Deployment', a, other, 'team-b', false), 409,
      'Apply failed with 1 conflict: conflict with "team-a": .spec.template.spec.containers[name="nginx"].args');
    const b = applied(a, other, 'team-b', true);
    assert.deepEqual((b.spec as Obj).template.spec.containers[0].args, ['-c']);
    assert.ok(owns(b, 'team-b', args) && !owns(b, 'team-a', args));
  });

  test('sets are granular by value', () => {
    const pod = (finalizers: string[]) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default', finalizers }, spec: { containers: [{ name: 'c', image: 'x' }] } });
    const a = applied(undefined, pod(['example.com/a']), 'team-a');
    const b = applied(a, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', finalizers: ['example.com/b'] } }, 'team-b');
    assert.deepEqual(b.metadata.finalizers, ['example.com/a', 'example.com/b']);
    const aDrops = applied(b, pod([]), 'team-a');
    assert.deepEqual(aDrops.metadata.finalizers, ['example.com/b']);
  });

  test('an object no one has tracked: its fields belong to "before-first-apply"', () => {
    const d = created(deploymentConfig({ replicas: 2 }));
    delete d.metadata.managedFields;
    expectApiError(() => apply('apps/v1', 'Deployment', d, deploymentConfig({ replicas: 3 }), 'kubectl', false), 409,
      'Apply failed with 1 conflict: conflict with "before-first-apply" using apps/v1: .spec.replicas');
    const same = applied(d, deploymentConfig({ replicas: 2 }));
    assert.deepEqual(owners(same), ['kubectl/Apply', 'before-first-apply/Update']);
    assert.match(entry(same, 'before-first-apply').time!, RFC3339);
    assert.ok(owns(same, 'before-first-apply', p('spec', 'revisionHistoryLimit')));
  });

  test('status in a main-resource apply is not owned; a status apply owns only status', () => {
    const config = { ...deploymentConfig({ replicas: 2 }), status: { replicas: 9 } };
    const d = applied(undefined, config);
    assert.ok(!JSON.stringify(entry(d, 'kubectl').fieldsV1).includes('f:status'));
    const statusConfig = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { replicas: 7 }, status: { replicas: 2, readyReplicas: 1 } };
    const s = apply('apps/v1', 'Deployment', d, statusConfig, 'controller', false, 'status');
    assert.deepEqual(entry(s, 'controller', 'Apply', 'status').fieldsV1, { 'f:status': { 'f:readyReplicas': {}, 'f:replicas': {} } });
    assert.equal(entry(s, 'controller', 'Apply', 'status').subresource, 'status');
  });

  test('rejects bodies of another kind, with managedFields, or the schema does not describe', () => {
    const d = applied(undefined, deploymentConfig({ replicas: 2 }));
    expectApiError(() => apply('apps/v1', 'Deployment', d, { ...deploymentConfig(), kind: 'ReplicaSet' }, 'k', false), 400, 'invalid object type: apps/v1, Kind=ReplicaSet');
    expectApiError(() => apply('apps/v1', 'Deployment', d, { metadata: { name: 'web' } }, 'k', false), 400, 'invalid object type: /, Kind=');
    expectApiError(() => apply('v1', 'Pod', undefined, { apiVersion: 'v1', kind: 'Service' }, 'k', false), 400, 'invalid object type: /v1, Kind=Service');
    expectApiError(() => apply('apps/v1', 'Deployment', d, [1], 'k', false), 400, /^error decoding patch: .*cannot unmarshal array into Go value of type map\[string\]interface \{\}$/);
    const withMF = deploymentConfig();
    withMF.metadata.managedFields = [];
    expectApiError(() => apply('apps/v1', 'Deployment', d, withMF, 'k', false), 400, 'metadata.managedFields must be nil');
    const bogus = deploymentConfig();
    bogus.spec.bogus = 1;
    const e = expectApiError(() => apply('apps/v1', 'Deployment', d, bogus, 'k', false), 500,
      'failed to create typed patch object (default/web; apps/v1, Kind=Deployment): .spec.bogus: field not declared in schema');
    assert.equal(e.reason, '');
  });

  test('a resourceVersion in the configuration is kept, so that it acts as a precondition', () => {
    const d = applied(undefined, deploymentConfig({ replicas: 2 }));
    const config = deploymentConfig({ replicas: 2 });
    config.metadata.resourceVersion = '1';
    assert.equal(apply('apps/v1', 'Deployment', d, config, 'kubectl', false).metadata.resourceVersion, '1');
  });

  test('does not share objects with its inputs', () => {
    const d = applied(undefined, deploymentConfig({ replicas: 2 }));
    const config = deploymentConfig({ replicas: 3 });
    const out = apply('apps/v1', 'Deployment', d, config, 'kubectl', false);
    (out.spec as Obj).template.spec.containers[0].image = 'changed';
    (out.metadata.labels as Obj).x = 'y';
    assert.equal(config.spec.template.spec.containers[0].image, 'nginx:1.27');
    assert.deepEqual(d.metadata.labels, { app: 'web' });
  });
});

describe('apply after client-side apply', () => {
  const lastApplied = (config: Obj) => `${JSON.stringify({ ...config, metadata: { ...config.metadata, annotations: {} } })}\n`;
  const csaCreated = (config: Obj) => {
    const withAnnotation = structuredClone(config);
    withAnnotation.metadata.annotations = { 'kubectl.kubernetes.io/last-applied-configuration': lastApplied(config) };
    return created(withAnnotation, 'kubectl-client-side-apply');
  };

  test('kubectl may take the fields its last-applied annotation still shows; others may not', () => {
    const d = csaCreated(deploymentConfig({ replicas: 2 }));
    expectApiError(() => apply('apps/v1', 'Deployment', d, deploymentConfig({ replicas: 3 }), 'other', false), 409,
      'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas');
    const next = applied(d, deploymentConfig({ replicas: 3 }), 'kubectl');
    assert.equal((next.spec as Obj).replicas, 3);
    assert.ok(owns(next, 'kubectl', p('spec', 'replicas')));
    assert.ok(!owns(next, 'kubectl-client-side-apply', p('spec', 'replicas')));
  });

  test('a value changed since the client-side apply is still a conflict for kubectl', () => {
    const d = csaCreated(deploymentConfig({ replicas: 2 }));
    const edited = updated(d, (o) => { o.spec.replicas = 4; }, 'kubectl-client-side-apply');
    expectApiError(() => apply('apps/v1', 'Deployment', edited, deploymentConfig({ replicas: 3 }), 'kubectl', false), 409,
      'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas');
  });

  test('kubectl\'s apply rewrites an existing annotation to the applied configuration', () => {
    const d = csaCreated(deploymentConfig({ replicas: 2 }));
    const config = deploymentConfig({ replicas: 2 });
    const next = applied(d, config, 'kubectl');
    const expected = `${goJSON(config)}\n`;
    assert.equal(next.metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration'], expected);
    assert.ok(expected.startsWith('{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"labels":{"app":"web"},"name":"web","namespace":"default"},"spec":{'));
    const other = applied(d, config, 'other');
    assert.equal(other.metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration'], lastApplied(config), 'other managers leave it alone');
    const fresh = applied(undefined, config, 'kubectl');
    assert.equal(fresh.metadata.annotations, undefined, 'no annotation is added');
  });
});

// ---- scale ----

describe('the scale subresource', () => {
  test('a replicas change moves spec.replicas to an Update entry with subresource scale and no time', () => {
    const d = applied(undefined, deploymentConfig({ replicas: 2 }));
    const next = structuredClone(d);
    (next.spec as Obj).replicas = 5;
    recordScaleUpdate('apps/v1', d, next, 'kubectl');
    assert.deepEqual(owners(next), ['kubectl/Apply', 'kubectl/Update/scale']);
    const e = entry(next, 'kubectl', 'Update', 'scale');
    assert.deepEqual(e, { manager: 'kubectl', operation: 'Update', apiVersion: 'apps/v1', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:replicas': {} } }, subresource: 'scale' });
    assert.ok(!owns(next, 'kubectl', p('spec', 'replicas'), 'Apply'));
    expectApiError(() => apply('apps/v1', 'Deployment', next, deploymentConfig({ replicas: 2 }), 'kubectl', false), 409,
      'Apply failed with 1 conflict: conflict with "kubectl" with subresource "scale" using apps/v1: .spec.replicas');
  });

  test('no change, or no owner of spec.replicas: nothing is recorded', () => {
    const d = applied(undefined, deploymentConfig({ replicas: 2 }));
    const same = structuredClone(d);
    recordScaleUpdate('apps/v1', d, same, 'kubectl');
    assert.deepEqual(same.metadata.managedFields, d.metadata.managedFields);
    const unowned = applied(undefined, deploymentConfig({}));
    const next = structuredClone(unowned);
    (next.spec as Obj).replicas = 4;
    recordScaleUpdate('apps/v1', unowned, next, 'kubectl');
    assert.deepEqual(next.metadata.managedFields, unowned.metadata.managedFields);
  });

  test('the Scale shows the entries that own spec.replicas, in autoscaling/v1', () => {
    const d = applied(undefined, deploymentConfig({ replicas: 2 }));
    const mf = scaleManagedFields(d)!;
    assert.equal(mf.length, 1);
    assert.deepEqual({ ...mf[0], time: undefined }, { manager: 'kubectl', operation: 'Apply', apiVersion: 'autoscaling/v1', time: undefined, fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:replicas': {} } } });
    assert.equal(scaleManagedFields(applied(undefined, deploymentConfig({}))), undefined);
  });
});

// ---- request helpers ----

describe('request helpers', () => {
  test('the default manager is the User-Agent up to its first slash', () => {
    assert.equal(defaultManager('kubectl/v1.32.4 (linux/amd64) kubernetes/4cb5f07'), 'kubectl');
    assert.equal(defaultManager('kube-controller-manager/v1.32.0 (linux/amd64) kubernetes/abc/system:serviceaccount:x'), 'kube-controller-manager');
    assert.equal(defaultManager('curl'), 'curl');
    assert.equal(defaultManager('a\u0007b/1'), 'ab');
    assert.equal(defaultManager(undefined), '');
    assert.equal(defaultManager('x'.repeat(200)), 'x'.repeat(128));
    assert.equal(defaultManager(`${'x'.repeat(127)}é`), 'x'.repeat(127), 'a character that does not fit is left out');
  });

  test('fieldManager and force are checked as upstream checks them', () => {
    assert.equal(validateWriteOptions('PatchOptions', 'kubectl', true, false), undefined);
    assert.equal(validateWriteOptions('CreateOptions', undefined), undefined);
    const missing = validateWriteOptions('PatchOptions', undefined, true)!;
    assert.equal(missing.code, 422);
    assert.equal(missing.message, 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch');
    assert.equal(validateWriteOptions('PatchOptions', 'x', false, true)!.message, 'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch');
    assert.equal(validateWriteOptions('UpdateOptions', 'x'.repeat(129))!.message, 'UpdateOptions.meta.k8s.io "" is invalid: fieldManager: Too long: may not be more than 128 bytes');
    assert.equal(validateWriteOptions('CreateOptions', 'a\u0007')!.message, 'CreateOptions.meta.k8s.io "" is invalid: fieldManager: Invalid value: "a\\a": invalid character U+0007 (at position 1)');
  });
});
