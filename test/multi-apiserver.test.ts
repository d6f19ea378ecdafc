// Several API servers on one etcd: two `kubelite up --store etcd://...` processes with their own
// data directories but one CA and token file serve the same objects and watches, both appear in
// the `kubernetes` Endpoints, a SIGTERMed one has left them when it exits, and a SIGKILLed one
// drops out within its lease duration. Then the etcd leader of a 3-member cluster is killed under
// a stream of creates: no acknowledged create is lost, and a create whose outcome is unknown is
// answered as a timeout, never as a false failure.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Lease } from 'kubernetes-types/coordination/v1.js';
import type { Endpoints } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { startCluster, type Cluster } from './helpers/cluster.js';
import { startEtcd, etcdMissing, type EtcdCluster } from './helpers/etcd.js';
import { until } from './helpers/wait.js';
import { ApiStatusError, RestClient, type WatchEvent, type WatchHandle } from '../src/client/rest.js';

/** Leases: a simple namespaced kind whose spec.holderIdentity carries the test's data. */
const LEASES = '/apis/coordination.k8s.io/v1/namespaces/default/leases';
/** Short, so that a dead server's drop-out is quick to observe. */
const LEASE_ARGS = ['--apiserver-lease-duration', '3s', '--apiserver-lease-renew-interval', '1s'];

const clientOf = (c: Cluster) => new RestClient({ server: c.url, caPem: c.caPem, token: c.token });
const portOf = (c: Cluster) => Number(new URL(c.url).port);

/** The `kubernetes` Endpoints as IP:PORT strings, sorted. */
async function apiEndpoints(client: RestClient): Promise<string[]> {
  const ep = await client.get<Endpoints>('/api/v1/namespaces/default/endpoints/kubernetes');
  const out: string[] = [];
  for (const s of ep.subsets ?? []) for (const a of s.addresses ?? []) for (const p of s.ports ?? []) out.push(`${a.ip}:${p.port}`);
  return out.sort();
}

/** A watch that records its events; `waitFor` resolves once a predicate over them holds. */
function recordWatch(client: RestClient, resourceVersion: string) {
  const events: WatchEvent<Lease>[] = [];
  let ended = false;
  const handle: WatchHandle = client.watch<Lease>(LEASES, { resourceVersion }, (e) => events.push(e));
  handle.done.then(() => { ended = true; }, () => { ended = true; });
  return {
    events,
    handle,
    get ended() { return ended; },
    waitFor: (what: string, ok: (es: WatchEvent<Lease>[]) => boolean) => until(async () => (ok(events) ? true : undefined), what),
  };
}

const skip = etcdMissing();

describe('two API servers on one etcd', { skip }, () => {
  let etcd: EtcdCluster;
  let a: Cluster, b: Cluster;
  let dirB: string;
  before(async () => {
    etcd = await startEtcd({ members: 1 });
    const args = ['--store', etcd.storeUrl, ...LEASE_ARGS];
    a = await startCluster({ args });
    // B shares A's CA and tokens: it issues its own serving certificate from the shared CA.
    dirB = mkdtempSync(path.join(tmpdir(), 'kubelite-test-b-'));
    mkdirSync(path.join(dirB, 'pki'), { mode: 0o700 });
    for (const f of ['pki/ca.crt', 'pki/ca.key', 'tokens.csv']) copyFileSync(path.join(a.dataDir, f), path.join(dirB, f));
    b = await startCluster({ dataDir: dirB, args });
  });
  after(async () => {
    await b?.cleanup();
    await a?.cleanup();
    if (dirB) rmSync(dirB, { recursive: true, force: true });
    await etcd?.cleanup();
  });

  test('B uses the shared CA and token, and reads what A wrote', async () => {
    assert.equal(b.caPem, a.caPem);
    assert.equal(b.token, a.token);
    assert.notEqual(b.url, a.url);
    await clientOf(a).create(LEASES, { metadata: { name: 'from-a' }, spec: { holderIdentity: 'v' } });
    const got = await clientOf(b).get<Lease>(`${LEASES}/from-a`);
    assert.equal(got.spec?.holderIdentity, 'v');
  });

  test('a watch on B sees writes through A, in order', async () => {
    const listRV = (await clientOf(b).get<{ metadata: { resourceVersion: string } }>(LEASES)).metadata.resourceVersion;
    const w = recordWatch(clientOf(b), listRV);
    try {
      const ca = clientOf(a);
      const created = await ca.create<Lease>(LEASES, { metadata: { name: 'watched' }, spec: { holderIdentity: '1' } });
      await ca.update(`${LEASES}/watched`, { ...created, spec: { holderIdentity: '2' } });
      await ca.request('DELETE', `${LEASES}/watched`);
      await w.waitFor('the DELETED event on B', (es) => es.some((e) => e.type === 'DELETED' && e.object.metadata?.name === 'watched'));
      const seen = w.events.filter((e) => e.object.metadata?.name === 'watched').map((e) => [e.type, e.object.spec?.holderIdentity]);
      assert.deepEqual(seen, [['ADDED', '1'], ['MODIFIED', '2'], ['DELETED', '2']]);
    } finally {
      w.handle.stop();
    }
  });

  test('the kubernetes Endpoints list both API servers', async () => {
    const both = [`127.0.0.1:${portOf(a)}`, `127.0.0.1:${portOf(b)}`].sort();
    for (const c of [a, b]) {
      await until(async () => {
        const eps = await apiEndpoints(clientOf(c));
        return JSON.stringify(eps) === JSON.stringify(both) ? true : undefined;
      }, `both servers in the Endpoints read through ${c.url}`);
    }
  });

  test('SIGTERM B: it has left the Endpoints, EndpointSlice and Leases when it exits, long before its Lease would expire', async () => {
    const ca = clientOf(a);
    const leaseB = `/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-apiserver-127-0-0-1-${portOf(b)}`;
    assert.equal((await a.request('GET', leaseB)).status, 200, 'B has a Lease while it runs');
    const onlyA = [`127.0.0.1:${portOf(a)}`];
    assert.equal(await b.stop('SIGTERM'), 0, 'B exits cleanly');
    // Read at once, without waiting: B renewed its 3 s Lease at most 1 s ago, so only B's own
    // leaving (upstream's RemoveEndpoints on shutdown) can have taken it out by now.
    assert.equal((await a.request('GET', leaseB)).status, 404, "B's Lease is deleted");
    // B wrote the Endpoints and slice without itself before exiting, but A reconciles too (on
    // every Lease renewal): a pass of A's that listed the Leases before B's delete can write B
    // back just after, and A's next pass (the delete's watch event) takes it out again. So the
    // objects are waited for; with B's Lease gone, only a reconcile can take B out, not expiry.
    await until(async () => JSON.stringify(await apiEndpoints(ca)) === JSON.stringify(onlyA), 'the Endpoints without B');
    const sliceEndpoints = async () => {
      const slice = await ca.get<EndpointSlice>('/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes');
      return slice.endpoints?.map((e) => `${e.addresses[0]}:${slice.ports?.[0]?.port}`);
    };
    await until(async () => JSON.stringify(await sliceEndpoints()) === JSON.stringify(onlyA), 'the EndpointSlice without B');

    await b.restart();
    const both = [`127.0.0.1:${portOf(a)}`, `127.0.0.1:${portOf(b)}`].sort();
    await until(async () => {
      const eps = await apiEndpoints(ca);
      return JSON.stringify(eps) === JSON.stringify(both) ? true : undefined;
    }, 'the restarted B in the Endpoints', 15_000);
  });

  test('SIGKILL B: it drops out of the Endpoints, A and its watches go on, a re-list on restarted B sees everything', async () => {
    const ca = clientOf(a);
    const listRV = (await ca.get<{ metadata: { resourceVersion: string } }>(LEASES)).metadata.resourceVersion;
    const onA = recordWatch(ca, listRV);
    try {
      await b.stop('SIGKILL');
      // The lease duration is 3 s; the bound allows for a renewal just before the kill and slow machines.
      await until(async () => {
        const eps = await apiEndpoints(ca);
        return JSON.stringify(eps) === JSON.stringify([`127.0.0.1:${portOf(a)}`]) ? true : undefined;
      }, 'B dropped from the Endpoints', 15_000);
      const names = ['during-1', 'during-2', 'during-3'];
      for (const name of names) await ca.create(LEASES, { metadata: { name } });
      await onA.waitFor('the watch on A saw the writes', (es) => names.every((n) => es.some((e) => e.type === 'ADDED' && e.object.metadata?.name === n)));
      assert.equal(onA.ended, false, 'the watch on A is still open');

      await b.restart();
      const listed = await clientOf(b).get<{ items: Lease[] }>(LEASES);
      const listedNames = listed.items.map((i) => i.metadata?.name);
      for (const n of ['from-a', ...names]) assert.ok(listedNames.includes(n), `${n} listed on the restarted B`);
      assert.ok(!listedNames.includes('watched'), 'the deleted object stays deleted');
      // The restarted B (on a new port) joins the Endpoints again.
      const both = [`127.0.0.1:${portOf(a)}`, `127.0.0.1:${portOf(b)}`].sort();
      await until(async () => {
        const eps = await apiEndpoints(ca);
        return JSON.stringify(eps) === JSON.stringify(both) ? true : undefined;
      }, 'the restarted B in the Endpoints', 15_000);
    } finally {
      onA.handle.stop();
    }
  });
});

interface Outcome {
  name: string;
  /** 201, or the Status code of the failure. */
  code: number;
  reason?: string;
  message?: string;
  startedAt: number;
}

describe('etcd leader killed during a stream of creates', { skip }, () => {
  let etcd: EtcdCluster;
  let a: Cluster;
  before(async () => {
    etcd = await startEtcd({ members: 3 });
    a = await startCluster({ args: ['--store', etcd.storeUrl] });
  });
  after(async () => {
    await a?.cleanup();
    await etcd?.cleanup();
  });

  test('no acknowledged create is lost; unknown outcomes are timeouts; the API answers after the election', async (t) => {
    const client = clientOf(a);
    const outcomes: Outcome[] = [];
    let stop = false;
    const writer = async (w: number) => {
      for (let n = 0; !stop; n++) {
        const name = `w${w}-${n}`;
        const startedAt = Date.now();
        try {
          await client.create(LEASES, { metadata: { name }, spec: { holderIdentity: `writer-${w}` } });
          outcomes.push({ name, code: 201, startedAt });
        } catch (e) {
          if (!(e instanceof ApiStatusError)) throw e;
          outcomes.push({ name, code: e.code, reason: e.reason, message: e.message, startedAt });
        }
      }
    };
    const writers = Array.from({ length: 8 }, (_, w) => writer(w));
    await new Promise((r) => setTimeout(r, 2_000));
    const leader = await etcd.leader();
    const killedAt = Date.now();
    await etcd.kill(leader);
    await new Promise((r) => setTimeout(r, 6_000));
    // Creates in flight at the kill may wait out the store's request timeout (10 s); the stream
    // goes on until creates begun after the kill are acknowledged again.
    await until(async () => (outcomes.some((o) => o.code === 201 && o.startedAt > killedAt) ? true : undefined), 'a create begun after the kill acknowledged', 60_000);
    stop = true;
    await Promise.all(writers);

    const failures = outcomes.filter((o) => o.code !== 201);
    const bad = failures.filter((o) => !(o.code === 504 && o.reason === 'Timeout'));
    assert.deepEqual(bad, [], 'every failure is a 504 timeout (never an internal error, a false AlreadyExists or NotFound)');

    // until() retries while the list fails (no etcd leader yet).
    const listed = await until(() => client.get<{ items: Lease[] }>(LEASES), 'a list after the election');
    const present = new Set(listed.items.map((i) => i.metadata?.name));
    const lost = outcomes.filter((o) => o.code === 201 && !present.has(o.name)).map((o) => o.name);
    assert.deepEqual(lost, [], 'every acknowledged create is stored');
    // A create after the stream succeeds at once.
    await client.create(LEASES, { metadata: { name: 'after' } });
    const timedOutStored = failures.filter((o) => present.has(o.name)).length;
    t.diagnostic(`${outcomes.length} creates: ${outcomes.length - failures.length} acknowledged, ${failures.length} timed out (${timedOutStored} of which were stored)`);
  });
});
