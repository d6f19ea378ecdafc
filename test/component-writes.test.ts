// What the components write and read of their writes, after the CPU cuts of this file's code:
// answers read without being parsed (src/client/answer-meta.ts, RestClient `metadataOnly`) give the
// metadata strings JSON.parse would, whatever the layout; a channel request's headers are the same
// members in the same order; the event recorder names each event's object as given while it reuses
// the involved object and spam key of a run of events; the node agent's status patch is the same
// patch, members in the same order, as before its loops were rewritten.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { metadataOf } from '../src/client/answer-meta.js';
import { EventRecorder } from '../src/client/events.js';
import { semanticEqual, statusPatch } from '../src/node/status-patch.js';
import { RestClient, ApiStatusError, type AnswerMeta } from '../src/client/rest.js';
import type { ApiChannel } from '../src/client/channel.js';

const WANTED = ['name', 'namespace', 'uid', 'resourceVersion'] as const;

/** What JSON.parse gives of the four members (string values only). */
function parsedMetadata(text: string): Record<string, string> {
  const m = (JSON.parse(text) as { metadata?: Record<string, unknown> }).metadata ?? {};
  const out: Record<string, string> = {};
  for (const k of WANTED) if (typeof m[k] === 'string') out[k] = m[k] as string;
  return out;
}

const POD = {
  kind: 'Pod', apiVersion: 'v1',
  metadata: {
    name: 'web-7d4b9c8f5-abcde', generateName: 'web-7d4b9c8f5-', namespace: 'default', uid: '4c1d7e2a-5b6c-4d3e-9f80-112233445566',
    resourceVersion: '12345', creationTimestamp: '2026-11-28T01:00:00Z',
    labels: { app: 'web', name: 'not-this', uid: 'nor-this' },
    managedFields: [{ manager: 'kube-controller-manager', operation: 'Update', fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': { 'k:{"uid":"x"}': {} } } }],
  },
  spec: { containers: [{ name: 'web', image: 'nginx' }], nodeName: 'node001' },
  status: { phase: 'Running', metadata: { name: 'a status member named metadata' } },
};

describe('metadataOf reads the answer metadata JSON.parse would', () => {
  test('a pod as the API server writes it', () => {
    const text = JSON.stringify(POD);
    assert.deepEqual(metadataOf(text), parsedMetadata(text));
    assert.deepEqual(metadataOf(text), { name: POD.metadata.name, namespace: 'default', uid: POD.metadata.uid, resourceVersion: '12345' });
  });

  test('metadata after other members, with nested look-alikes, whitespace and escapes', () => {
    const obj = {
      spec: { metadata: { name: 'nested', uid: 'nested' }, list: [1, 'x]}"', { a: [true, null, -1.5e3] }], s: 'a"b\\"c{' },
      'meta\\"data': { name: 'escaped key' },
      metadata: { labels: { name: 'label' }, name: 'caf\u00e9 "quoted" \\ \u2603', annotations: { 'x}': '{"name":"no"}' }, uid: 'u-1' },
      status: {},
    };
    for (const text of [JSON.stringify(obj), JSON.stringify(obj, null, 2), JSON.stringify(obj, null, '\t')]) {
      assert.deepEqual(metadataOf(text), parsedMetadata(text));
    }
    assert.equal(metadataOf(JSON.stringify(obj))!.name, 'caf\u00e9 "quoted" \\ \u2603');
  });

  test('an escaped key is read as JSON.parse reads it', () => {
    const text = '{"metadata":{"na\\u006de":"n","uid":"u"}}';
    assert.deepEqual(metadataOf(text), { name: 'n', uid: 'u' });
  });

  test('members that are not strings are left out; an empty metadata gives none', () => {
    assert.deepEqual(metadataOf('{"metadata":{"name":null,"uid":7,"namespace":{"a":1},"resourceVersion":"9"}}'), { resourceVersion: '9' });
    assert.deepEqual(metadataOf('{"metadata":{}}'), {});
    assert.deepEqual(metadataOf(' { "kind" : "Status" , "metadata" : { } } '), {});
  });

  test('no metadata object, or text cut short: undefined (the caller parses)', () => {
    for (const text of ['', '[]', '{}', '{"kind":"Pod"}', '{"metadata":"x"}', '{"metadata":[]}', '{"kind":"Po', '{"metadata":{"name":"a"', 'null', '{"kind":"Pod" "metadata":{}}']) {
      assert.equal(metadataOf(text), undefined, text);
    }
  });

  test('random objects: the same as JSON.parse', () => {
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const strings = ['name', 'uid', 'metadata', 'a"b', 'x\\y', '{', '}', '[', ']', ',', ':', '\u00e9\u2603', '', 'resourceVersion', 'namespace'];
    const value = (depth: number): unknown => {
      const k = rnd(depth > 2 ? 4 : 7);
      if (k === 0) return strings[rnd(strings.length)];
      if (k === 1) return rnd(1000) - 500;
      if (k === 2) return [true, false, null][rnd(3)];
      if (k === 3) return strings[rnd(strings.length)] + strings[rnd(strings.length)];
      if (k === 4) return Array.from({ length: rnd(4) }, () => value(depth + 1));
      return object(depth + 1);
    };
    const object = (depth: number): Record<string, unknown> => {
      const o: Record<string, unknown> = {};
      for (let i = rnd(5); i > 0; i--) o[strings[rnd(strings.length)]!] = value(depth);
      return o;
    };
    for (let n = 0; n < 2000; n++) {
      const top = object(0);
      if (rnd(4) > 0) top.metadata = object(1);
      const text = JSON.stringify(top, null, rnd(3) === 0 ? 1 : undefined);
      const m = top.metadata;
      const expected = m && typeof m === 'object' && !Array.isArray(m) ? parsedMetadata(text) : undefined;
      assert.deepEqual(metadataOf(text), expected, text);
    }
  });
});

/** A channel that answers every request with `answer` and keeps what it was sent. */
function fakeChannel(answer: { status: number; body: string }) {
  const sent: { method: string; url: string; headers: Record<string, string>; body?: string }[] = [];
  const channel = {
    request: async (method: string, url: string, headers: Record<string, string>, body?: string) => {
      sent.push({ method, url, headers: { ...headers }, body });
      return { status: answer.status, statusText: '', body: answer.body };
    },
  } as unknown as ApiChannel;
  return { channel, sent };
}

describe('RestClient metadataOnly', () => {
  test('a 2xx answer resolves with its metadata and text, unparsed', async () => {
    const text = JSON.stringify(POD);
    const { channel } = fakeChannel({ status: 201, body: text });
    const client = new RestClient({ server: 'https://127.0.0.1:6443', token: 't', channel });
    const meta = await client.create<AnswerMeta>('/api/v1/namespaces/default/pods', { metadata: { generateName: 'web-' } }, undefined, { metadataOnly: true });
    assert.deepEqual(meta, { metadata: parsedMetadata(text), text });
  });

  test('a body laid out otherwise is parsed instead; errors are as without the option', async () => {
    const { channel } = fakeChannel({ status: 200, body: '{"kind":"Pod"}' });
    const client = new RestClient({ server: 'https://127.0.0.1:6443', channel });
    assert.deepEqual(await client.request('GET', '/x', { metadataOnly: true }), { metadata: {}, text: '{"kind":"Pod"}' });
    const status = { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'pods "x" not found', reason: 'NotFound', code: 404 };
    const failing = new RestClient({ server: 'https://127.0.0.1:6443', channel: fakeChannel({ status: 404, body: JSON.stringify(status) }).channel });
    await assert.rejects(failing.request('GET', '/x', { metadataOnly: true }), (e) => e instanceof ApiStatusError && e.code === 404 && e.status.message === status.message);
  });
});

describe('channel request headers', () => {
  for (const [label, config] of [
    ['token and user agent', { token: 'tok', userAgent: 'kubelet/v1.32.4 (node001)' }],
    ['token only', { token: 'tok' }],
    ['neither', {}],
  ] as const) {
    test(`${label}: the members and order of the headers`, async () => {
      const { channel, sent } = fakeChannel({ status: 200, body: '{}' });
      const client = new RestClient({ server: 'https://127.0.0.1:6443', channel, ...config });
      const base: Record<string, string> = { host: '127.0.0.1:6443', accept: 'application/json' };
      if ('token' in config) base.authorization = `Bearer ${config.token}`;
      if ('userAgent' in config) base['user-agent'] = config.userAgent;
      await client.get('/api/v1/pods');
      await client.patch('/api/v1/namespaces/d/pods/p/status', { status: { phase: 'Running\u00e9' } }, 'strategic');
      await client.create('/api/v1/namespaces/d/events', { a: 1 });
      assert.deepEqual(sent.map((s) => Object.entries(s.headers)), [
        Object.entries(base),
        Object.entries({ ...base, 'content-type': 'application/strategic-merge-patch+json', 'content-length': String(Buffer.byteLength(sent[1]!.body!)) }),
        Object.entries({ ...base, 'content-type': 'application/json', 'content-length': '7' }),
      ]);
    });
  }
});

describe('event recorder: runs of events about one object', () => {
  test('each event names its object as given, also when the same reference object changes between events', async () => {
    const { channel, sent } = fakeChannel({ status: 201, body: '{}' });
    const client = new RestClient({ server: 'https://127.0.0.1:6443', channel });
    const recorder = new EventRecorder(client, { component: 'kubelet', host: 'node001' });
    const ref = { kind: 'Pod', apiVersion: 'v1', metadata: { name: 'p', namespace: 'default', uid: 'u1', resourceVersion: '1' } };
    recorder.event(ref, 'Normal', 'Pulled', 'pulled', 'spec.containers{a}');
    recorder.event(ref, 'Normal', 'Created', 'created', 'spec.containers{b}');
    ref.metadata.resourceVersion = '2';
    recorder.event(ref, 'Normal', 'Started', 'started', 'spec.containers{b}');
    ref.metadata.uid = 'u2';
    recorder.event(ref, 'Normal', 'Started', 'started', 'spec.containers{b}');
    recorder.event({ kind: 'Node', metadata: { name: 'node001', uid: 'node001' } }, 'Normal', 'NodeReady', 'ready');
    recorder.event(ref, 'Normal', 'Killing', 'killing');
    await recorder.flush();
    const objects = sent.map((s) => (JSON.parse(s.body!) as { involvedObject: Record<string, string> }).involvedObject);
    const pod = { kind: 'Pod', namespace: 'default', name: 'p', apiVersion: 'v1' };
    assert.deepEqual(objects, [
      { ...pod, uid: 'u1', resourceVersion: '1', fieldPath: 'spec.containers{a}' },
      { ...pod, uid: 'u1', resourceVersion: '1', fieldPath: 'spec.containers{b}' },
      { ...pod, uid: 'u1', resourceVersion: '2', fieldPath: 'spec.containers{b}' },
      { ...pod, uid: 'u2', resourceVersion: '2', fieldPath: 'spec.containers{b}' },
      { kind: 'Node', name: 'node001', uid: 'node001' },
      { ...pod, uid: 'u2', resourceVersion: '2' },
    ]);
    // The same object and message again: counted on the first event (a PATCH), whatever the object's resourceVersion.
    ref.metadata.resourceVersion = '3';
    recorder.event(ref, 'Normal', 'Killing', 'killing');
    await recorder.flush();
    assert.equal(sent.at(-1)!.method, 'PATCH');
    assert.equal((JSON.parse(sent.at(-1)!.body!) as { count: number }).count, 2);
  });
});

// The node agent's status patch before its loops were rewritten without intermediate sets and
// entry arrays: the reference its output (members and their order) must equal.
type Json = Record<string, unknown>;
const refIsEmpty = (v: unknown): boolean => {
  if (v === undefined || v === null) return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object') {
    for (const k in v as object) if (!refIsEmpty((v as Json)[k])) return false;
    return true;
  }
  return false;
};
const refIsObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const REF_MERGE_KEYS: Record<string, string> = { conditions: 'type', podIPs: 'ip', hostIPs: 'ip', addresses: 'type' };
function refMapPatch(base: Json, desired: Json): Json {
  const out: Json = {};
  for (const k of new Set([...Object.keys(base), ...Object.keys(desired)])) {
    const b = base[k];
    const d = desired[k];
    if (semanticEqual(b, d)) continue;
    if (refIsEmpty(d)) out[k] = null;
    else if (refIsObject(b) && refIsObject(d)) out[k] = refMapPatch(b, d);
    else out[k] = refWithoutEmpty(d);
  }
  return out;
}
function refWithoutEmpty(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(refWithoutEmpty);
  if (!refIsObject(v)) return v;
  const out: Json = {};
  for (const [k, x] of Object.entries(v)) if (x !== undefined && x !== null) out[k] = refWithoutEmpty(x);
  return out;
}
function refKeyedListPatch(name: string, key: string, base: Json[], desired: Json[], out: Json): void {
  const old = new Map(base.map((e) => [e[key], e]));
  const changed: Json[] = [];
  for (const e of desired) {
    const b = old.get(e[key]);
    if (b && semanticEqual(b, e)) continue;
    changed.push(b ? { ...refMapPatch(b, e), [key]: e[key] } : (refWithoutEmpty(e) as Json));
  }
  const kept = new Set(desired.map((e) => e[key]));
  for (const b of base) if (!kept.has(b[key])) changed.push({ [key]: b[key], $patch: 'delete' });
  if (changed.length) out[name] = changed;
  out[`$setElementOrder/${name}`] = desired.map((e) => ({ [key]: e[key] }));
}
function refStatusPatch(base: Json, desired: Json): Json {
  const out: Json = {};
  for (const k of new Set([...Object.keys(base), ...Object.keys(desired)])) {
    const b = base[k];
    const d = desired[k];
    if (semanticEqual(b, d)) continue;
    if (refIsEmpty(d)) out[k] = null;
    else if (REF_MERGE_KEYS[k] && Array.isArray(d)) refKeyedListPatch(k, REF_MERGE_KEYS[k], Array.isArray(b) ? (b as Json[]) : [], d as Json[], out);
    else if (refIsObject(b) && refIsObject(d)) out[k] = refMapPatch(b, d);
    else out[k] = refWithoutEmpty(d);
  }
  return out;
}

describe('node agent status patch', () => {
  test('random statuses: the same patch, members in the same order, as the reference', () => {
    let seed = 11;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
    const keys = ['phase', 'reason', 'message', 'podIP', 'startTime', 'qosClass', 'x', 'y'];
    const values = ['Running', 'Pending', '', 'a', 'b'];
    const scalar = () => [null, values[rnd(values.length)], rnd(3), true][rnd(4)];
    const map = (depth: number): Json => {
      const o: Json = {};
      for (let i = rnd(4); i > 0; i--) o[keys[rnd(keys.length)]!] = depth < 2 && rnd(3) === 0 ? map(depth + 1) : rnd(5) === 0 ? [] : scalar();
      return o;
    };
    const list = (key: string) => {
      const out: Json[] = [];
      for (const v of ['A', 'B', 'C', 'D']) if (rnd(2)) out.push({ [key]: v, ...map(1) });
      return rnd(4) === 0 ? out.reverse() : out;
    };
    const status = (): Json => {
      const s = map(0);
      if (rnd(3)) s.conditions = list('type');
      if (rnd(3)) s.podIPs = list('ip');
      if (rnd(4) === 0) s.containerStatuses = [map(1), map(1)];
      return s;
    };
    for (let n = 0; n < 3000; n++) {
      const base = status();
      const desired = rnd(4) === 0 ? structuredClone(base) : status();
      if (rnd(3) === 0) for (const k of Object.keys(base)) if (rnd(2) && !(k in desired)) desired[k] = structuredClone(base[k]);
      const want = refStatusPatch(base, desired);
      const got = statusPatch(base, desired);
      assert.equal(JSON.stringify(got), JSON.stringify(want), JSON.stringify({ base, desired }));
    }
  });
});
