// Informers that cache a selection of objects (InformerOptions.select), as the node agents' shared
// pod informer does (bound pods only): what the cache holds after a list and watch events, and the
// watch's byte-level line filter, which drops events of pods not bound yet unparsed but never a
// BOOKMARK or ERROR line.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { RestClient, type Query, type WatchEvent, type WatchHandle } from '../src/client/rest.js';
import { Informer, eventLineFilter } from '../src/client/informer.js';
import { InformerFactory } from '../src/client/factory.js';
import { RESOURCES } from '../src/api/resources.js';
import { BOUND_PODS } from '../src/node/agent.js';
import type { KObject } from '../src/api/types.js';
import type { Pod } from 'kubernetes-types/core/v1.js';

type PodObject = Pod & KObject;
const PODS = RESOURCES.find((r) => r.plural === 'pods')!;

const pod = (name: string, rv: string, nodeName?: string, extra: Partial<KObject['metadata']> = {}): PodObject => ({
  apiVersion: 'v1', kind: 'Pod',
  metadata: { name, namespace: 'ns', resourceVersion: rv, uid: `uid-${name}`, ...extra },
  spec: { containers: [{ name: 'c', image: 'nginx' }], ...(nodeName ? { nodeName } : {}) },
});

class ScriptedClient extends RestClient {
  emit?: (e: WatchEvent<KObject>) => void;
  filter?: (line: Buffer) => boolean;
  constructor(private readonly items: KObject[]) {
    super({ server: 'https://127.0.0.1:1' });
  }
  override async get<T>(): Promise<T> {
    return { metadata: { resourceVersion: '1' }, items: this.items } as T;
  }
  override watch<T>(_path: string, _query: Query, onEvent: (e: WatchEvent<T>) => void, options?: { lineFilter?: (line: Buffer) => boolean }): WatchHandle {
    this.emit = onEvent as (e: WatchEvent<KObject>) => void;
    this.filter = options?.lineFilter;
    return { done: new Promise(() => {}), stop() {} };
  }
}

const line = (type: string, object: unknown) => `{"type":"${type}","object":${JSON.stringify(object)}}`;

describe('informers of a selection', () => {
  test('only selected objects are cached; an object leaving the selection is deleted; handlers see the same', async () => {
    const client = new ScriptedClient([pod('a', '1'), pod('b', '1', 'node1')]);
    const inf = new Informer<PodObject>(client, PODS, { omitManagedFields: true, select: BOUND_PODS });
    const seen: string[] = [];
    inf.on({ add: (o) => seen.push(`add ${o.metadata.name}`), update: (_old, o) => seen.push(`update ${o.metadata.name}`), delete: (o) => seen.push(`delete ${o.metadata.name}`) });
    await inf.start();
    while (!client.emit) await new Promise((r) => setImmediate(r));
    assert.deepEqual(inf.list().map((o) => o.metadata.name), ['b']);
    client.emit({ type: 'ADDED', object: pod('c', '2') });
    client.emit({ type: 'MODIFIED', object: pod('a', '3', 'node2') });
    client.emit({ type: 'MODIFIED', object: pod('b', '4', 'node1') });
    // Not selected any more (cannot happen to a pod's nodeName, but the cache follows the selection).
    client.emit({ type: 'MODIFIED', object: pod('b', '5') });
    client.emit({ type: 'DELETED', object: pod('c', '6') });
    assert.deepEqual(inf.list().map((o) => `${o.metadata.name}@${o.spec?.nodeName}`), ['a@node2']);
    assert.deepEqual(seen, ['add b', 'add a', 'update b', 'delete b']);
    // The watch was given the line filter.
    assert.equal(typeof client.filter, 'function');
    assert.equal(client.filter!(Buffer.from(line('ADDED', pod('d', '7')))), false);
    assert.equal(client.filter!(Buffer.from(line('MODIFIED', pod('d', '7', 'node1')))), true);
    inf.stop();
  });

  test('a factory\'s selected informer is shared under its name, apart from the plain one', () => {
    const factory = new InformerFactory(new ScriptedClient([]));
    const a = factory.selectedInformer<PodObject>('pods', 'bound', BOUND_PODS);
    assert.equal(factory.selectedInformer<PodObject>('pods', 'bound', BOUND_PODS), a);
    assert.notEqual(factory.informer('pods'), a);
  });

  test('the line filter drops only ADDED, MODIFIED and DELETED lines its test rejects', () => {
    const f = eventLineFilter(BOUND_PODS.line);
    const b = (s: string) => Buffer.from(s);
    assert.equal(f(b(line('ADDED', pod('a', '1')))), false);
    assert.equal(f(b(line('MODIFIED', pod('a', '1')))), false);
    assert.equal(f(b(line('DELETED', pod('a', '1')))), false);
    for (const type of ['ADDED', 'MODIFIED', 'DELETED']) assert.equal(f(b(line(type, pod('a', '1', 'node1')))), true);
    assert.equal(f(b(line('BOOKMARK', { kind: 'Pod', apiVersion: 'v1', metadata: { resourceVersion: '9' } }))), true);
    assert.equal(f(b(line('ERROR', { kind: 'Status', code: 410, reason: 'Expired' }))), true);
    // Another layout (type not first, or spaced) is never dropped.
    assert.equal(f(b(`{"object":${JSON.stringify(pod('a', '1'))},"type":"ADDED"}`)), true);
    assert.equal(f(b(`{ "type": "ADDED", "object": ${JSON.stringify(pod('a', '1'))}}`)), true);
  });

  test('a real watch stream: dropped lines never reach the handler, the others arrive in order', async () => {
    const lines = [
      line('ADDED', pod('pending', '2')),
      line('MODIFIED', pod('bound', '3', 'node1')),
      line('BOOKMARK', { kind: 'Pod', apiVersion: 'v1', metadata: { resourceVersion: '4' } }),
      line('MODIFIED', pod('pending', '5')),
      line('DELETED', pod('bound', '6', 'node1')),
      line('ERROR', { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 410, reason: 'Expired', message: 'too old' }),
    ];
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      // Split across writes, mid-line, as a stream may arrive.
      const all = lines.join('\n') + '\n';
      res.write(all.slice(0, 100));
      setImmediate(() => res.end(all.slice(100)));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const client = new RestClient({ server: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
      const got: string[] = [];
      const w = client.watch<KObject>('/api/v1/pods', {}, (e) => got.push(`${e.type} ${e.object.metadata?.name ?? e.object.metadata?.resourceVersion ?? (e.object as { reason?: string }).reason}`),
        { omitManagedFields: true, lineFilter: eventLineFilter(BOUND_PODS.line) });
      await w.done;
      assert.deepEqual(got, ['MODIFIED bound', 'BOOKMARK 4', 'DELETED bound', 'ERROR Expired']);
      client.close();
    } finally {
      server.close();
    }
  });
});
