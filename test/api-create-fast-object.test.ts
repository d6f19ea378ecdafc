// A create whose checks may have deleted members of the body (JSON nulls dropped, unknown fields
// pruned) goes on with a same-order copy of the body's top level (a fast object for V8 again).
// The copy must keep every member in its place: the stored bytes, the answer (served from them)
// and a dry run's answer (the object itself, in its own key order) are what they were.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { RESOURCES } from '../src/api/resources.js';
import { knownJSON } from '../src/apiserver/codec.js';
import { registryOnStore, type RegistryOnStore } from './helpers/registry.js';
import type { WriteOptions } from '../src/apiserver/registry.js';

const EVENT = RESOURCES.find((r) => r.kind === 'Event')!;
const T = '2026-11-28T01:00:00Z';

function eventBody(name: string): Record<string, unknown> {
  return {
    metadata: { name, namespace: 'default' },
    involvedObject: { kind: 'Pod', namespace: 'default', name: 'web-1', uid: 'a0b1c2d3-0000-4000-8000-000000000001', apiVersion: 'v1', resourceVersion: '45', fieldPath: 'spec.containers{web}' },
    reason: 'Pulled', message: 'Container image "nginx:1.27" already present on machine', type: 'Normal',
    source: { component: 'kubelet', host: 'node001' },
    firstTimestamp: T, lastTimestamp: T, count: 1, eventTime: null, reportingComponent: 'kubelet', reportingInstance: 'node001',
  };
}

const opts = (o: Partial<WriteOptions> & { body?: unknown } = {}): WriteOptions => ({
  dryRun: false, fieldManager: 'kubelet', fieldValidation: 'Warn', warnings: [], ...o,
  rawJSON: o.body === undefined ? undefined : JSON.stringify(o.body),
});

// The key order the create leaves: the body's, apiVersion and kind added by the body check, and
// eventTime, dropped as a JSON null, added back last by defaulting.
const ANSWER_KEYS = ['metadata', 'involvedObject', 'reason', 'message', 'type', 'source', 'firstTimestamp', 'lastTimestamp', 'count',
  'reportingComponent', 'reportingInstance', 'apiVersion', 'kind', 'eventTime'];
const STORED_KEYS = ['apiVersion', 'kind', 'metadata', 'involvedObject', 'reason', 'message', 'type', 'source', 'firstTimestamp', 'lastTimestamp', 'count',
  'reportingComponent', 'reportingInstance', 'eventTime'];

describe('create with members dropped by the checks', () => {
  let env: RegistryOnStore;
  before(async () => { env = await registryOnStore('kubelite-create-copy-'); });
  after(async () => { await env.close(); });

  test('an Event with eventTime: null is stored and answered in the same order as before', async () => {
    const body = eventBody('web-1.1');
    const obj = await env.registry.create(EVENT, 'default', JSON.parse(JSON.stringify(body)), opts({ body }));
    assert.deepEqual(Object.keys(obj), ANSWER_KEYS);
    assert.equal(obj.eventTime, null);
    const kv = await env.store.get('/registry/events/default/web-1.1');
    assert.ok(kv);
    const stored = JSON.parse(kv.value) as Record<string, unknown>;
    assert.deepEqual(Object.keys(stored), STORED_KEYS);
    assert.equal(stored.eventTime, null);
    assert.deepEqual(Object.keys(stored.metadata as object), ['name', 'namespace', 'uid', 'creationTimestamp', 'managedFields']);
    // The answer is the stored bytes with the resourceVersion spliced in first.
    const answer = JSON.parse(knownJSON(obj)!) as { metadata: Record<string, unknown> };
    assert.deepEqual(Object.keys(answer), STORED_KEYS);
    assert.equal(answer.metadata.resourceVersion, String(kv.modRevision));
    assert.deepEqual({ ...answer, metadata: { ...answer.metadata, resourceVersion: undefined } }, { ...stored, metadata: { ...(stored.metadata as object), resourceVersion: undefined } });
  });

  test('a dry run answers with the object itself, in its own key order', async () => {
    const body = eventBody('web-1.2');
    const obj = await env.registry.create(EVENT, 'default', JSON.parse(JSON.stringify(body)), opts({ body, dryRun: true }));
    assert.deepEqual(Object.keys(obj), ANSWER_KEYS);
    assert.equal(knownJSON(obj), undefined);
    assert.equal(await env.store.get('/registry/events/default/web-1.2'), undefined);
  });

  test('an unknown __proto__ member is pruned, not turned into a prototype', async () => {
    const text = JSON.stringify(eventBody('web-1.3')).replace('{', '{"__proto__":{"polluted":true},');
    const parsed = JSON.parse(text) as Record<string, unknown>;
    assert.ok(Object.prototype.hasOwnProperty.call(parsed, '__proto__'));
    const o = opts({ fieldValidation: 'Warn' });
    o.rawJSON = text;
    const obj = await env.registry.create(EVENT, 'default', parsed, o);
    assert.equal(Object.getPrototypeOf(obj), Object.prototype);
    assert.equal(Object.prototype.hasOwnProperty.call(obj, '__proto__'), false);
    assert.equal((obj as Record<string, unknown>).polluted, undefined);
    assert.deepEqual(o.warnings, ['unknown field "__proto__"']);
    assert.deepEqual(Object.keys(obj), ANSWER_KEYS);
  });

  test('with fieldValidation Ignore (the copy is always made) the order is the same', async () => {
    const body = eventBody('web-1.4');
    const obj = await env.registry.create(EVENT, 'default', JSON.parse(JSON.stringify(body)), opts({ body, fieldValidation: 'Ignore' }));
    assert.deepEqual(Object.keys(obj), ANSWER_KEYS);
  });

  test('a body without nulls keeps its members and order', async () => {
    const body = eventBody('web-1.5');
    delete body.eventTime;
    const obj = await env.registry.create(EVENT, 'default', JSON.parse(JSON.stringify(body)), opts({ body }));
    assert.deepEqual(Object.keys(obj), ANSWER_KEYS);
  });
});
