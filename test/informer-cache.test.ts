// What large clusters rely on in the client library, without a server: the informer's indexes
// follow updates (entries hold the newest object, values that change move), shared informers keep
// no managedFields, the work queue stays first-in first-out across many keys, and
// `kubelite controllers --controllers` selects controllers as kube-controller-manager does.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RestClient, type Query, type WatchEvent, type WatchHandle } from '../src/client/rest.js';
import { Informer, dropManagedFields } from '../src/client/informer.js';
import { InformerFactory } from '../src/client/factory.js';
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
