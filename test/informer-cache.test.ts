// What large clusters rely on in the client library, without a server: the informer's indexes
// follow updates (entries hold the newest object, values that change move), shared informers keep
// no managedFields (cut from watch events' bytes before parsing), the work queue stays first-in first-out across many keys, and
// `kubelite controllers --controllers` selects controllers as kube-controller-manager does.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RestClient, type Query, type WatchEvent, type WatchHandle } from '../src/client/rest.js';
import { Informer, dropManagedFields, shareUnchanged } from '../src/client/informer.js';
import { InformerFactory } from '../src/client/factory.js';
import { cutManagedFields } from '../src/client/watch-decode.js';
import { WorkQueue } from '../src/client/workqueue.js';
import { RESOURCES } from '../src/api/resources.js';
import { parseControllers, CONTROLLER_ALIASES } from '../src/cli/controllers.js';
import type { KObject } from '../src/api/types.js';

const PODS = RESOURCES.find((r) => r.plural === 'pods')!;

/** A client that answers the list with `items` and then hands the test the watch's event callback. */
class ScriptedClient extends RestClient {
  emit?: (e: WatchEvent<KObject>) => void;
  constructor(private readonly items: KObject[]) {
    super({ server: 'https://127.0.0.1:1' });
  }
  override async get<T>(): Promise<T> {
    return { metadata: { resourceVersion: '1' }, items: this.items } as T;
  }
  override watch<T>(_path: string, _query: Query, onEvent: (e: WatchEvent<T>) => void): WatchHandle {
    this.emit = onEvent as (e: WatchEvent<KObject>) => void;
    return { done: new Promise(() => {}), stop() {} };
  }
}

const pod = (name: string, app: string, rv: string, extra: Partial<KObject['metadata']> = {}): KObject => ({
  metadata: { name, namespace: 'ns', labels: { app }, resourceVersion: rv, ...extra },
});

async function started(items: KObject[], transform?: (o: KObject) => KObject) {
  const client = new ScriptedClient(items);
  const inf = new Informer(client, PODS, { transform }).addIndex('app', (o) => [o.metadata.labels?.app ?? '']);
  await inf.start();
  // The watch starts right after the list has been loaded.
  while (!client.emit) await new Promise((r) => setImmediate(r));
  return { inf, emit: client.emit };
}

describe('informer cache', () => {
  test('index entries hold the newest object, and move when the indexed value changes', async () => {
    const { inf, emit } = await started([pod('a', 'x', '1'), pod('b', 'x', '1')]);
    assert.deepEqual([...inf.iterateIndex('app', 'x')].map((o) => o.metadata.name), ['a', 'b']);
    emit({ type: 'MODIFIED', object: pod('a', 'x', '2') });
    assert.deepEqual(inf.byIndex('app', 'x').map((o) => o.metadata.resourceVersion), ['2', '1']);
    emit({ type: 'MODIFIED', object: pod('a', 'y', '3') });
    assert.deepEqual(inf.byIndex('app', 'x').map((o) => o.metadata.name), ['b']);
    assert.deepEqual(inf.byIndex('app', 'y').map((o) => o.metadata.resourceVersion), ['3']);
    assert.equal(inf.countIndex('app', 'y'), 1);
    emit({ type: 'DELETED', object: pod('b', 'x', '4') });
    assert.equal(inf.countIndex('app', 'x'), 0);
    assert.deepEqual([...inf.iterateIndex('app', 'x')], []);
    assert.deepEqual(inf.list('ns').map((o) => o.metadata.name), ['a']);
    inf.stop();
  });

  test('a transform applies to listed and watched objects before handlers see them', async () => {
    const managedFields = [{ manager: 'kubectl', operation: 'Update' }];
    const { inf, emit } = await started([pod('a', 'x', '1', { managedFields })], dropManagedFields);
    const seen: KObject[] = [];
    inf.on({ update: (_old, o) => seen.push(o) });
    assert.equal(inf.get('ns/a')?.metadata.managedFields, undefined);
    assert.equal(inf.get('ns/a')?.metadata.resourceVersion, '1');
    emit({ type: 'MODIFIED', object: pod('a', 'x', '2', { managedFields }) });
    assert.equal(seen.length, 1);
    assert.equal(seen[0].metadata.managedFields, undefined);
    assert.deepEqual(seen[0].metadata.labels, { app: 'x' });
    inf.stop();
  });

  test('shared informers drop managedFields', async () => {
    const factory = new InformerFactory(new ScriptedClient([pod('a', 'x', '1', { managedFields: [{ manager: 'm' }] })]));
    const inf = factory.informer('pods');
    await inf.start();
    assert.equal(inf.get('ns/a')?.metadata.managedFields, undefined);
    factory.stop();
  });
});

describe('managedFields cut from a watch line before parsing', () => {
  /** The event as the informer gets it with the cut: the line's bytes less the member, parsed. */
  const decoded = (line: string): unknown => {
    const bytes = Buffer.from(line, 'utf8');
    return JSON.parse(bytes.toString('utf8', 0, cutManagedFields(bytes)));
  };
  /** The same event parsed whole, then object.metadata.managedFields deleted. */
  const expected = (line: string): unknown => {
    const ev = JSON.parse(line);
    if (ev.object?.metadata && typeof ev.object.metadata === 'object') delete ev.object.metadata.managedFields;
    return ev;
  };
  const managedFields = [{ manager: 'kubectl', operation: 'Update', fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } }, 'f:spec': { 'f:containers': { 'k:{"name":"web"}': { '.': {} } } } } }];

  test('the member goes wherever it sits in metadata, with its comma, also in pretty-printed JSON', () => {
    const cases = [
      { type: 'MODIFIED', object: { kind: 'Pod', metadata: { name: 'a', managedFields, uid: 'u' }, spec: {} } },
      { type: 'ADDED', object: { metadata: { managedFields, name: 'a' } } },
      { type: 'ADDED', object: { metadata: { name: 'a', managedFields } } },
      { type: 'ADDED', object: { metadata: { managedFields } } },
      { type: 'ADDED', object: { metadata: { name: 'a', managedFields: null } } },
      { object: { spec: { x: [1, { y: '}' }] }, metadata: { name: '"]', managedFields } }, type: 'DELETED' },
    ];
    for (const ev of cases) {
      for (const line of [JSON.stringify(ev), JSON.stringify(ev, null, 2).replace(/\n/g, '\r\n')]) {
        const out = decoded(line) as { object: { metadata: Record<string, unknown> } };
        assert.deepEqual(out, expected(line), line);
        assert.equal('managedFields' in out.object.metadata, false);
      }
    }
  });

  test('only object.metadata.managedFields: fields of that name elsewhere, and look-alikes in strings, stay', () => {
    const cases = [
      // An annotation, a custom field, a pod template's metadata, the event's own envelope.
      { type: 'ADDED', object: { metadata: { name: 'a', annotations: { managedFields: '[1]' } }, spec: { managedFields: [1], template: { metadata: { managedFields } } } } },
      { type: 'ADDED', managedFields: [1], object: { metadata: { name: 'a' } } },
      // A string value holding the member's text, and a key with an escaped quote and brackets.
      { type: 'ADDED', object: { metadata: { name: '\\"managedFields\\":[', labels: { 'k"managedFields': '{[' } } } },
      { type: 'ADDED', object: { data: '"metadata":{"managedFields":[]}', metadata: { 'x\\': 'y', managedFields } } },
      // metadata that is not an object, and no object at all (an ERROR's Status has no metadata).
      { type: 'ADDED', object: { metadata: 'managedFields' } },
      { type: 'ERROR', object: { kind: 'Status', code: 410, details: { metadata: { managedFields } } } },
    ];
    for (const ev of cases) {
      const line = JSON.stringify(ev);
      assert.deepEqual(decoded(line), expected(line), line);
    }
    const untouched = JSON.stringify(cases[0]);
    assert.equal(cutManagedFields(Buffer.from(untouched)), Buffer.byteLength(untouched));
  });

  test('random objects: the cut equals parsing and deleting', () => {
    let seed = 42;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
    const words = ['metadata', 'managedFields', 'object', '"', '\\', '{', '}', '[', ']', ',', ':', 'ü✓', 'x'];
    const value = (depth: number): unknown => {
      const k = rnd(depth > 3 ? 3 : 6);
      if (k === 0) return words[rnd(words.length)] + words[rnd(words.length)];
      if (k === 1) return rnd(100);
      if (k === 2) return null;
      if (k === 3) return Array.from({ length: rnd(4) }, () => value(depth + 1));
      return Object.fromEntries(Array.from({ length: rnd(5) }, () => [words[rnd(words.length)], value(depth + 1)]));
    };
    for (let i = 0; i < 2000; i++) {
      const metadata = value(2) as Record<string, unknown>;
      if (metadata && typeof metadata === 'object' && !Array.isArray(metadata) && rnd(2)) metadata.managedFields = value(3);
      const line = JSON.stringify({ type: 'MODIFIED', object: { spec: value(1), metadata, status: value(1) } });
      assert.deepEqual(decoded(line), expected(line), line);
    }
  });

  test('shared informers ask their watch to cut managedFields, and drop those a watch left in', async () => {
    let asked: unknown;
    class Client extends ScriptedClient {
      override watch<T>(path: string, query: Query, onEvent: (e: WatchEvent<T>) => void, options?: { omitManagedFields?: boolean }): WatchHandle {
        asked = options?.omitManagedFields;
        return super.watch(path, query, onEvent);
      }
    }
    const client = new Client([pod('a', 'x', '1')]);
    const inf = new InformerFactory(client).informer('pods');
    await inf.start();
    while (!client.emit) await new Promise((r) => setImmediate(r));
    assert.equal(asked, true);
    client.emit({ type: 'MODIFIED', object: pod('a', 'x', '2', { managedFields }) });
    assert.equal(inf.get('ns/a')?.metadata.resourceVersion, '2');
    assert.equal(inf.get('ns/a')?.metadata.managedFields, undefined);
    inf.stop();
  });
});

describe('cached objects share what an update left unchanged', () => {
  const parsed = <T>(o: T): T => JSON.parse(JSON.stringify(o)) as T;
  const address = (ip: string) => ({ ip, targetRef: { kind: 'Pod', name: `p-${ip}` } });

  test('equal parts come from the old object, changed ones from the new; the content is the new one', () => {
    const old = parsed({ metadata: { name: 'a', resourceVersion: '1', labels: { app: 'x' } }, spec: { containers: [{ name: 'c', ports: [{ containerPort: 80 }] }] }, status: { conditions: [{ type: 'Ready', status: 'True' }, { type: 'Initialized', status: 'True' }] } });
    const next = parsed({ ...old, metadata: { ...old.metadata, resourceVersion: '2' }, status: { conditions: [{ type: 'Ready', status: 'False' }, { type: 'Initialized', status: 'True' }] } });
    const expected = parsed(next);
    const out = shareUnchanged(old, next);
    assert.deepEqual(out, expected);
    assert.equal(out.spec, old.spec);
    assert.equal(out.metadata.labels, old.metadata.labels);
    assert.notEqual(out.metadata, old.metadata);
    assert.equal(out.metadata.resourceVersion, '2');
    assert.equal(out.status.conditions[1], old.status.conditions[1]);
    assert.equal(out.status.conditions[0].status, 'False');
    assert.equal(shareUnchanged(old, parsed(old)), old, 'an equal object is the old one');
  });

  test('an item moved between lists is followed; added and removed keys are not lost', () => {
    const old = parsed({ addresses: ['1', '2', '3', '4'].map(address), notReady: [address('9')], gone: 1 });
    const next = parsed({ addresses: ['1', '3', '4'].map(address), notReady: [address('2'), address('9')], added: { x: 1 } });
    const expected = parsed(next);
    const out = shareUnchanged<Record<string, any>>(old, next);
    assert.deepEqual(out, expected);
    assert.equal(out.addresses[0], old.addresses[0]);
    assert.equal(out.addresses[1], old.addresses[2]);
    assert.equal(out.addresses[2], old.addresses[3]);
    assert.equal(out.notReady[1], old.notReady[0]);
    assert.deepEqual(shareUnchanged({ a: 1, b: 2 }, { a: 1 }), { a: 1 });
    assert.deepEqual(shareUnchanged(['a', 'b', 'c'], ['a', 'b']), ['a', 'b']);
  });

  test('a key named __proto__ is data, not the prototype', () => {
    const text = '{"labels":{"__proto__":{"x":"1"},"app":"a"}}';
    const out = shareUnchanged(JSON.parse(text), JSON.parse(text.replace('"a"', '"b"')));
    assert.deepEqual(out, JSON.parse(text.replace('"a"', '"b"')));
    assert.equal(Object.getPrototypeOf(out.labels), Object.prototype);
  });

  test('the informer caches and hands out the shared object', async () => {
    const spec = { containers: [{ name: 'c', image: 'nginx' }] };
    const { inf, emit } = await started([{ ...pod('a', 'x', '1'), spec } as KObject]);
    const before = inf.get('ns/a') as KObject & { spec: unknown };
    const seen: [KObject, KObject][] = [];
    inf.on({ update: (old, o) => seen.push([old, o]) });
    emit({ type: 'MODIFIED', object: JSON.parse(JSON.stringify({ ...pod('a', 'x', '2'), spec })) });
    const after = inf.get('ns/a') as KObject & { spec: unknown };
    assert.equal(after.metadata.resourceVersion, '2');
    assert.equal(after.spec, before.spec);
    assert.deepEqual(after.spec, spec);
    assert.equal(seen.length, 1);
    assert.equal(seen[0][0], before);
    assert.equal(seen[0][1], after);
    inf.stop();
  });
});

describe('work queue order', () => {
  test('keys come out in the order they went in, across many keys and interleaved gets', async () => {
    const q = new WorkQueue('t');
    const out: string[] = [];
    for (let i = 0; i < 5000; i++) {
      q.add(`k${i}`);
      // Take one key for every two added, so that the front is consumed while the back grows.
      if (i % 2) {
        const k = (await q.get())!;
        out.push(k);
        q.done(k);
      }
    }
    assert.equal(q.length, 2500);
    while (q.length) {
      const k = (await q.get())!;
      out.push(k);
      q.done(k);
    }
    assert.deepEqual(out, Array.from({ length: 5000 }, (_, i) => `k${i}`));
    q.shutDown();
  });
});

describe('--controllers', () => {
  const all = Object.keys(CONTROLLER_ALIASES);

  test("'*' is every controller; -NAME takes one away, by name or alias", () => {
    assert.deepEqual([...parseControllers('*')], all);
    const some = parseControllers('*,-garbagecollector,-node-lifecycle-controller');
    assert.equal(some.has('garbage-collector-controller'), false);
    assert.equal(some.has('node-lifecycle-controller'), false);
    assert.equal(some.size, all.length - 2);
  });

  test('named controllers only, aliases resolved; -NAME wins over NAME', () => {
    assert.deepEqual([...parseControllers('endpoint,endpointslice-controller')], ['endpoints-controller', 'endpointslice-controller']);
    assert.deepEqual([...parseControllers('endpoint,-endpoints-controller,podgc')], ['pod-garbage-collector-controller']);
    assert.deepEqual([...parseControllers('')], []);
  });

  test('an unknown name is an error', () => {
    assert.throws(() => parseControllers('*,-bogus'), /"-bogus" is not in the list of known controllers/);
  });
});
