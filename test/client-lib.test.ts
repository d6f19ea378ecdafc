// The client library every component is built on: work queue, informer (list, watch, resume,
// re-list on 410), leader election on Leases — against a real server where it matters.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startCluster, type Cluster } from './helpers/cluster.js';
import { until } from './helpers/wait.js';
import { RestClient, type Query, type WatchEvent, type WatchHandle } from '../src/client/rest.js';
import { Informer, keyOf } from '../src/client/informer.js';
import { WorkQueue } from '../src/client/workqueue.js';
import { LeaderElector } from '../src/client/leader.js';
import { RESOURCES } from '../src/api/resources.js';

const PODS = RESOURCES.find((r) => r.plural === 'pods')!;
const pod = (name: string, labels: Record<string, string> = {}) => ({ metadata: { name, labels }, spec: { containers: [{ name: 'c', image: 'nginx' }] } });

describe('work queue', () => {
  test('a key is queued once, and once more if added while processed', async () => {
    const q = new WorkQueue('t');
    q.add('a'); q.add('a'); q.add('b');
    assert.equal(q.length, 2);
    const k = await q.get();
    assert.equal(k, 'a');
    q.add('a'); // while processing
    assert.equal(await q.get(), 'b');
    q.done('b');
    q.done('a');
    assert.equal(await q.get(), 'a');
    q.done('a');
    assert.equal(q.length, 0);
    q.shutDown();
    assert.equal(await q.get(), undefined);
  });

  test('failures back off exponentially and forget resets', async () => {
    const q = new WorkQueue('t', { baseMs: 20, maxMs: 1000 });
    q.addRateLimited('x');
    q.addRateLimited('x');
    assert.equal(q.retries('x'), 2);
    assert.equal(q.length, 0);
    assert.equal(await q.get(), 'x');
    q.done('x');
    q.forget('x');
    assert.equal(q.retries('x'), 0);
    q.shutDown();
  });
});

describe('informer and leader election against a server', () => {
  let c: Cluster;
  let client: RestClient;
  before(async () => {
    c = await startCluster();
    client = await RestClient.fromKubeconfig(c.kubeconfig);
  });
  after(async () => { client?.close(); await c?.cleanup(); });

  test('lists, watches, indexes, and tells handlers', async () => {
    await client.create('/api/v1/namespaces/default/pods', pod('one', { app: 'a' }));
    const seen: string[] = [];
    const inf = new Informer(client, PODS, { namespace: 'default' })
      .addIndex('app', (o) => [o.metadata.labels?.app ?? ''])
      .on({ add: (o) => seen.push(`add ${o.metadata.name}`), update: (_, o) => seen.push(`update ${o.metadata.name}`), delete: (o) => seen.push(`delete ${o.metadata.name}`) });
    await inf.start();
    assert.ok(inf.hasSynced);
    assert.deepEqual(seen, ['add one']);
    await client.create('/api/v1/namespaces/default/pods', pod('two', { app: 'a' }));
    await client.patch('/api/v1/namespaces/default/pods/one', { metadata: { labels: { app: 'b' } } });
    await client.delete('/api/v1/namespaces/default/pods/two');
    await until(() => seen.length === 4, 'events');
    assert.deepEqual(seen, ['add one', 'add two', 'update one', 'delete two']);
    assert.deepEqual(inf.byIndex('app', 'b').map(keyOf), ['default/one']);
    assert.deepEqual(inf.byIndex('app', 'a'), []);
    assert.equal(inf.get('default/one')?.kind, 'Pod');
    inf.stop();
  });

  test('a watch that ends resumes from the last resourceVersion; 410 re-lists and reports the difference', async () => {
    // A client whose next watch answers 410 while objects change behind the informer's back.
    class Flaky extends RestClient {
      failNext = false;
      override watch<T>(path: string, query: Query, onEvent: (e: WatchEvent<T>) => void): WatchHandle {
        if (this.failNext) {
          this.failNext = false;
          onEvent({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' } as T });
          return { done: Promise.resolve(), stop() {} };
        }
        return super.watch(path, query, onEvent);
      }
    }
    const flaky = new Flaky(client.config);
    await client.create('/api/v1/namespaces/default/pods', pod('r1'));
    const seen: string[] = [];
    const inf = new Informer(flaky, PODS, { namespace: 'default', fieldSelector: 'metadata.name!=one' })
      .on({ add: (o) => seen.push(`add ${o.metadata.name}`), delete: (o) => seen.push(`delete ${o.metadata.name}`) });
    await inf.start();
    assert.deepEqual(seen, ['add r1']);
    // End the live watch; while it is down, r1 goes and r2 comes; the next watch says 410.
    flaky.failNext = true;
    await client.delete('/api/v1/namespaces/default/pods/r1');
    await client.create('/api/v1/namespaces/default/pods', pod('r2'));
    (inf as unknown as { watch: WatchHandle }).watch.stop();
    await until(() => seen.includes('add r2') && seen.includes('delete r1'), 're-list');
    assert.deepEqual(inf.list('default').map((o) => o.metadata.name).sort(), ['r2']);
    inf.stop();
    flaky.close();
  });

  test('one leader at a time; a crashed leader is replaced after its lease expires', async () => {
    const events: string[] = [];
    const mk = (id: string) => new LeaderElector(client, {
      namespace: 'kube-system', name: 'test-controller', identity: id,
      leaseDurationMs: 1500, renewDeadlineMs: 1000, retryPeriodMs: 150,
      onStartedLeading: () => events.push(`${id} leads`), onStoppedLeading: () => events.push(`${id} stops`),
    });
    const a = mk('a'), b = mk('b');
    a.start();
    await until(() => a.isLeader, 'a leads');
    b.start();
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(b.isLeader, false);
    await a.stop({ release: false }); // as if it crashed
    const t = Date.now();
    await until(() => b.isLeader, 'b takes over');
    assert.ok(Date.now() - t >= 500, 'b waited for the lease to expire');
    const lease = await client.get<any>('/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/test-controller');
    assert.equal(lease.spec.holderIdentity, 'b');
    assert.equal(lease.spec.leaseTransitions, 1);
    await b.stop();
    assert.deepEqual(events, ['a leads', 'a stops', 'b leads', 'b stops']);
    const released = await client.get<any>('/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/test-controller');
    assert.equal(released.spec.holderIdentity, undefined);
  });
});

describe('watch stream parsing', () => {
  test('events split anywhere across chunks (inside a multi-byte character too) arrive whole and in order, managedFields cut on request', async () => {
    const events = [
      { type: 'ADDED', object: { metadata: { name: 'a', annotations: { note: 'ünïcødé → ✓' } } } },
      { type: 'MODIFIED', object: { metadata: { name: 'b' }, data: 'x'.repeat(200_000) } },
      { type: 'DELETED', object: { metadata: { name: 'c' } } },
    ];
    // Keep-alive blank lines between events; then the bytes cut into 1-, 2- and 7-byte pieces.
    let bytesToSend = Buffer.from(events.map((e) => JSON.stringify(e) + '\n\n').join(''), 'utf8');
    const server = http.createServer(async (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      const bytes = bytesToSend;
      const big = bytes.indexOf('"MODIFIED"');
      const cuts = [1, 2, 7, 3, big, 5, 64 * 1024, 64 * 1024, 64 * 1024];
      let at = 0;
      for (const n of cuts) {
        if (at >= bytes.length) break;
        res.write(bytes.subarray(at, Math.min(bytes.length, at + n)));
        at += n;
        await new Promise((r) => setTimeout(r, 2)); // separate TCP reads
      }
      res.end(bytes.subarray(Math.min(at, bytes.length)));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const client = new RestClient({ server: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
      const got: WatchEvent[] = [];
      await client.watch('/api/v1/pods', {}, (e) => got.push(e)).done;
      assert.deepEqual(got, events);
      // The same bytes with managedFields cut: lines joined from pieces and lines within one chunk alike.
      const withFields = events.map((e) => ({ ...e, object: { ...e.object, metadata: { ...e.object.metadata, managedFields: [{ manager: 'm', fieldsV1: { 'f:data': {} } }] } } }));
      bytesToSend = Buffer.from(withFields.map((e) => JSON.stringify(e) + '\n').join(''), 'utf8');
      const cut: WatchEvent[] = [];
      await client.watch('/api/v1/pods', {}, (e) => cut.push(e), { omitManagedFields: true }).done;
      assert.deepEqual(cut, events);
      const kept: WatchEvent[] = [];
      await client.watch('/api/v1/pods', {}, (e) => kept.push(e)).done;
      assert.deepEqual(kept, withFields);
    } finally {
      server.close();
    }
  });
});
