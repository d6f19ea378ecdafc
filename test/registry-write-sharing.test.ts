// The write path's shortcuts: encodeObject serialising an object in stored order without copies,
// the strategic merge patch using a plain patch without copying it, a status patch setting the
// stored managedFields aside (and putting them back in their place), a status write sharing the
// stored spec, and a binding decoding the stored object once. Each must give what the copying
// code gave: the same stored bytes, an unchanged request patch, the same errors.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { SqliteStore } from '../src/store/sqlite.js';
import { ConflictError, type Store } from '../src/store/types.js';
import { Registry } from '../src/apiserver/registry.js';
import { NamespaceCache } from '../src/apiserver/namespaces.js';
import { pino } from 'pino';
import { registryOnStore, write, POD, type RegistryOnStore } from './helpers/registry.js';
import { ApiError } from '../src/apiserver/errors.js';
import { encodeObject, knownJSON } from '../src/apiserver/codec.js';
import { strategicMergePatch } from '../src/apiserver/patch/strategic.js';
import { schemaForKind, resolveRef } from '../src/api/schema.js';
import type { KObject } from '../src/api/types.js';

/** The encoding before the in-place shortcut: copies without resourceVersion. */
function encodeByCopies(obj: KObject): string {
  const { apiVersion, kind, metadata, ...rest } = obj;
  const { resourceVersion: _rv, ...meta } = metadata;
  return JSON.stringify({ apiVersion, kind, metadata: meta, ...rest });
}

describe('encodeObject', () => {
  const cases: Record<string, unknown>[] = [
    { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'a', resourceVersion: '12', uid: 'u' }, spec: { x: 1 }, status: {} },
    { apiVersion: 'v1', kind: 'Pod', metadata: { resourceVersion: '3' } },
    { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'a' }, spec: { y: [1, null, 'z'] } },
    { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'a', resourceVersion: undefined }, spec: {} },
    { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'a', resourceVersion: null }, spec: {} },
    // Not in stored order: the copies decide the order.
    { kind: 'Pod', apiVersion: 'v1', metadata: { name: 'a', resourceVersion: '1' }, spec: {} },
    { metadata: { name: 'a', resourceVersion: '1' }, apiVersion: 'v1', kind: 'Pod' },
    { apiVersion: 'v1', metadata: { name: 'a' }, kind: 'Pod' },
    { 7: 'x', apiVersion: 'v1', kind: 'Pod', metadata: { name: 'a', resourceVersion: '9' } },
    { apiVersion: undefined, kind: 'Pod', metadata: { name: 'a', resourceVersion: '9' }, spec: {} },
    { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'a', resourceVersion: '9' }, spec: { toJSON: 'a string member, not a method' } },
  ];
  for (const [i, c] of cases.entries()) {
    test(`case ${i}: the same text as the copies, the object left as it was`, () => {
      const before = structuredClone(c);
      const hadRV = Object.prototype.hasOwnProperty.call(c.metadata, 'resourceVersion');
      assert.equal(encodeObject(c as unknown as KObject), encodeByCopies(c as unknown as KObject));
      assert.deepStrictEqual(c, before);
      assert.equal(Object.prototype.hasOwnProperty.call(c.metadata, 'resourceVersion'), hadRV);
    });
  }
  test('resourceVersion keeps its place in metadata', () => {
    const o = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'a', resourceVersion: '5', uid: 'u' } } as unknown as KObject;
    encodeObject(o);
    assert.deepEqual(Object.keys(o.metadata), ['name', 'resourceVersion', 'uid']);
  });
});

describe('strategic merge patch of a plain patch', () => {
  const schema = schemaForKind('v1', 'Pod');
  const original = () => ({
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', labels: { a: '1' } },
    status: { conditions: [{ type: 'Ready', status: 'False' }, { type: 'Initialized', status: 'True' }], podIPs: [{ ip: '10.0.0.1' }] },
  });
  test('the patch is neither changed nor shared with the result', () => {
    const patch = { metadata: { labels: { b: '2', a: null } }, status: { conditions: [{ type: 'Ready', status: 'True' }, { type: 'New', status: 'True', extra: { deep: [1, 2] } }], containerStatuses: [{ name: 'c', state: { running: {} } }] } };
    const before = structuredClone(patch);
    const orig = original();
    const out = strategicMergePatch(orig, patch, schema, resolveRef) as Record<string, any>;
    assert.deepStrictEqual(patch, before);
    assert.deepStrictEqual(orig, original());
    // Patch items first, then the server-only ones (upstream's order).
    assert.deepEqual(out.status.conditions.map((c: { type: string }) => c.type), ['Ready', 'New', 'Initialized']);
    // Editing the result leaves the patch alone.
    out.status.conditions[1].extra.deep.push(3);
    out.status.containerStatuses[0].state.running.startedAt = 'x';
    assert.deepStrictEqual(patch, before);
  });
  test('a patch with directives is not changed either (it is copied first)', () => {
    const patch = { metadata: { $retainKeys: ['labels', 'name'] }, status: { '$setElementOrder/conditions': [{ type: 'Initialized' }, { type: 'Ready' }], conditions: [{ type: 'Ready', status: 'True' }], podIPs: [{ ip: '10.0.0.1', $patch: 'delete' }] } };
    const before = structuredClone(patch);
    const out = strategicMergePatch(original(), patch, schema, resolveRef) as Record<string, any>;
    assert.deepStrictEqual(patch, before);
    assert.deepEqual(out.status.conditions.map((c: { type: string }) => c.type), ['Initialized', 'Ready']);
    assert.deepEqual(out.status.podIPs, []);
  });
  test('a patch value that is not plain JSON is copied as before', () => {
    const patch = { status: { phase: 'Running', hostIP: undefined, podIP: Number.NaN } };
    const out = strategicMergePatch(original(), patch, schema, resolveRef) as Record<string, any>;
    assert.equal(out.status.phase, 'Running');
    assert.equal('hostIP' in out.status, false);
    assert.equal(out.status.podIP, undefined, 'NaN became null, which deletes');
  });
});

describe('status writes and bindings on the registry', () => {
  let opened: RegistryOnStore, store: SqliteStore, registry: Registry;
  before(async () => {
    opened = await registryOnStore('kubelite-write-sharing-');
    ({ store, registry } = opened);
  });
  after(() => opened?.close());

  let n = 0;
  async function newPod(): Promise<string> {
    const name = `pod-${n++}`;
    await registry.create(POD, 'default', { metadata: { name, labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } }, write('controller'));
    return name;
  }
  const stored = async (name: string) => JSON.parse((await store.get(`/registry/pods/default/${name}`))!.value) as KObject;
  const managers = (o: KObject) => (o.metadata.managedFields ?? []).map((e) => `${e.manager}/${e.operation}${e.subresource ? '/' + e.subresource : ''}`);

  test('a status patch that adds metadata keeps managedFields where they were and the stored entries', async () => {
    const name = await newPod();
    const before = await stored(name);
    const keysBefore = Object.keys(before.metadata);
    assert.equal(keysBefore.at(-1), 'managedFields');
    const patch = { metadata: { annotations: { note: 'x' } }, status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True', lastProbeTime: null }] } };
    const patchBefore = structuredClone(patch);
    const { obj } = await registry.patch(POD, 'default', name, 'strategic', patch, write('kubelet'), 'status');
    assert.deepStrictEqual(patch, patchBefore);
    const after = await stored(name);
    // A new key goes after the stored ones, managedFields included, as the patch engine appends it.
    assert.deepEqual(Object.keys(after.metadata), [...keysBefore, 'annotations']);
    assert.deepEqual(after.metadata.annotations, { note: 'x' });
    assert.deepEqual(managers(after), ['controller/Update', 'kubelet/Update/status']);
    assert.deepEqual(after.metadata.managedFields![0], before.metadata.managedFields![0]);
    // The answer is the stored object.
    assert.equal(knownJSON(obj), JSON.stringify({ ...after, metadata: { resourceVersion: obj.metadata.resourceVersion, ...after.metadata } }));
    assert.deepEqual(after.spec, before.spec);
  });

  test('a status patch naming managedFields gets the whole object (its errors, the stored entries kept)', async () => {
    const name = await newPod();
    await assert.rejects(
      registry.patch(POD, 'default', name, 'strategic', { metadata: { managedFields: 'nope' }, status: { phase: 'Running' } }, write('kubelet'), 'status'),
      (e: unknown) => e instanceof ApiError && e.code === 400,
    );
    await registry.patch(POD, 'default', name, 'merge', { metadata: { managedFields: [] }, status: { phase: 'Running' } }, write('kubelet'), 'status');
    assert.deepEqual(managers(await stored(name)), ['controller/Update', 'kubelet/Update/status']);
    // Directives in metadata: not set aside either.
    await registry.patch(POD, 'default', name, 'strategic', { metadata: { $retainKeys: ['name', 'namespace', 'uid', 'labels', 'creationTimestamp'] }, status: { phase: 'Succeeded' } }, write('kubelet'), 'status');
    const after = await stored(name);
    assert.equal((after.status as { phase: string }).phase, 'Succeeded');
    assert.deepEqual(managers(after), ['controller/Update', 'kubelet/Update/status']);
  });

  test('a status patch that fails validation stores nothing; the next one starts from the stored object', async () => {
    const name = await newPod();
    const before = await store.get(`/registry/pods/default/${name}`);
    await assert.rejects(
      registry.patch(POD, 'default', name, 'strategic', { status: { podIP: 'not-an-ip', podIPs: [{ ip: 'not-an-ip' }] } }, write('kubelet'), 'status'),
      (e: unknown) => e instanceof ApiError && e.code === 422,
    );
    assert.equal((await store.get(`/registry/pods/default/${name}`))!.modRevision, before!.modRevision);
    await registry.patch(POD, 'default', name, 'strategic', { status: { phase: 'Running' } }, write('kubelet'), 'status');
    const after = await stored(name);
    assert.equal((after.status as { podIP?: string }).podIP, undefined);
    assert.equal((after.status as { phase: string }).phase, 'Running');
  });

  test('a status write keeps the stored spec, defaulted, whatever the request says', async () => {
    const name = await newPod();
    // A stored spec without a field defaulting fills in (as an older server might have stored it).
    const kv = (await store.get(`/registry/pods/default/${name}`))!;
    const raw = JSON.parse(kv.value) as KObject;
    delete (raw.spec as { dnsPolicy?: string }).dnsPolicy;
    await store.update(kv.key, JSON.stringify(raw), kv.modRevision);
    await registry.patch(POD, 'default', name, 'merge', { spec: { nodeName: 'elsewhere' }, status: { phase: 'Running' } }, write('kubelet'), 'status');
    const after = await stored(name);
    assert.equal((after.spec as { nodeName?: string }).nodeName, undefined);
    assert.equal((after.spec as { dnsPolicy?: string }).dnsPolicy, 'ClusterFirst');
    const current = await registry.get(POD, 'default', name);
    const { obj } = await registry.update(POD, 'default', name, { ...current, spec: { containers: [] }, status: { phase: 'Failed' } }, write('kubelet'), 'status');
    assert.deepEqual(obj.spec, after.spec);
    assert.equal((obj.status as { phase: string }).phase, 'Failed');
  });

  test('bindings: the errors, and a race lost and retried', async () => {
    await assert.rejects(registry.bindPod('default', 'missing', { target: { name: 'n1' } }, write('scheduler')), (e: unknown) => e instanceof ApiError && e.code === 404);
    const name = await newPod();
    const before = await store.get(`/registry/pods/default/${name}`);
    // A store whose first update of the pod loses a race to another writer.
    let raced = false;
    const update: Store['update'] = async (key, value, rev) => {
      if (!raced && key.endsWith(`/${name}`)) {
        raced = true;
        const cur = (await store.get(key))!;
        const o = JSON.parse(cur.value) as KObject;
        o.metadata.labels = { ...o.metadata.labels, raced: 'yes' };
        const won = await store.update(key, JSON.stringify(o), cur.modRevision);
        throw new ConflictError(key, won);
      }
      return store.update(key, value, rev);
    };
    const racing = new Proxy(store, {
      get(target, prop) {
        if (prop === 'update') return update;
        const v = Reflect.get(target, prop) as unknown;
        return typeof v === 'function' ? v.bind(target) : v;
      },
    }) as Store;
    const racingRegistry = new Registry(racing, new NamespaceCache(store, pino({ level: 'silent' })));
    await racingRegistry.bindPod('default', name, { target: { name: 'node-1' } }, write('scheduler'));
    assert.ok(raced);
    const after = await stored(name);
    assert.equal((after.spec as { nodeName: string }).nodeName, 'node-1');
    assert.equal(after.metadata.labels!.raced, 'yes');
    assert.deepEqual((after.status as { conditions: { type: string }[] }).conditions.map((c) => c.type), ['PodScheduled']);
    assert.ok((await store.get(`/registry/pods/default/${name}`))!.modRevision > before!.modRevision + 1);
    await assert.rejects(registry.bindPod('default', name, { target: { name: 'node-2' } }, write('scheduler')), (e: unknown) => e instanceof ApiError && e.code === 409 && /already assigned to node "node-1"/.test(e.message));
  });
});
