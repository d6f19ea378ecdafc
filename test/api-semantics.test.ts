// Upstream API semantics over raw HTTPS: discovery, selectors, paging, watches (resume, synthetic
// ADDED, bookmarks, timeout, 410), dry runs, finalizers, subresources, generation, conflicts,
// health and metrics.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { startCluster, type Cluster } from './helpers/cluster.js';
import { until } from './helpers/wait.js';

const pod = (name: string, labels: Record<string, string> = {}, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'v1', kind: 'Pod', metadata: { name, labels, ...extra },
  spec: { containers: [{ name: 'c', image: 'nginx:1.27' }] },
});

const deployment = (name: string) => ({
  metadata: { name }, spec: { replicas: 2, selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'nginx:1.27' }] } } },
});

/** Collect the lines of a watch stream until `done` says stop or the stream ends. */
function watch(c: Cluster, path: string, done: (events: any[]) => boolean = () => false, timeoutMs = 10_000): Promise<any[]> {
  return new Promise((resolve, reject) => {
    const events: any[] = [];
    let buf = '';
    const req = https.get(new URL(path, c.url), { headers: { Authorization: `Bearer ${c.token}` }, ca: c.caPem }, (res) => {
      if (res.statusCode !== 200) { reject(new Error(`watch status ${res.statusCode}`)); return; }
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        buf += d;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          events.push(JSON.parse(buf.slice(0, i)));
          buf = buf.slice(i + 1);
          if (done(events)) { clearTimeout(timer); req.destroy(); resolve(events); return; }
        }
      });
      res.on('end', () => { clearTimeout(timer); resolve(events); });
    });
    const timer = setTimeout(() => { req.destroy(); resolve(events); }, timeoutMs);
    req.on('error', () => {});
  });
}

describe('API semantics', () => {
  let c: Cluster;
  const ns = '/api/v1/namespaces/sem';
  before(async () => {
    c = await startCluster({ args: ['--history-retention-time', '0s', '--history-retention-revisions', '5', '--compaction-interval', '200ms', '--watch-bookmark-interval', '300ms'] });
    assert.equal((await c.request('POST', '/api/v1/namespaces', { metadata: { name: 'sem' } })).status, 201);
  });
  after(async () => { await c?.cleanup(); });

  test('aggregated and legacy discovery', async () => {
    const agg = await c.request('GET', '/apis', undefined, { headers: { Accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json' } });
    assert.equal(agg.headers['content-type'], 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList');
    const groups = agg.json().items.map((g: any) => g.metadata.name);
    assert.deepEqual(groups.sort(), ['apps', 'coordination.k8s.io', 'discovery.k8s.io', 'node.k8s.io']);
    const legacy = (await c.request('GET', '/api/v1')).json();
    const names = legacy.resources.map((r: any) => r.name);
    for (const n of ['pods', 'pods/status', 'services', 'services/status', 'endpoints', 'nodes', 'nodes/status', 'namespaces', 'namespaces/status', 'namespaces/finalize', 'events']) {
      assert.ok(names.includes(n), n);
    }
    const apps = (await c.request('GET', '/apis/apps/v1')).json();
    const scale = apps.resources.find((r: any) => r.name === 'deployments/scale');
    assert.deepEqual([scale.group, scale.version, scale.kind], ['autoscaling', 'v1', 'Scale']);
    assert.equal((await c.request('GET', '/apis/apps')).json().preferredVersion.groupVersion, 'apps/v1');
  });

  test('label and field selectors', async () => {
    await c.request('POST', `${ns}/pods`, pod('s1', { app: 'a', tier: 'x' }));
    await c.request('POST', `${ns}/pods`, pod('s2', { app: 'b', tier: 'y' }));
    await c.request('POST', `${ns}/pods`, pod('s3', { app: 'c' }));
    const names = async (q: string) => (await c.request('GET', `${ns}/pods?${q}`)).json().items.map((p: any) => p.metadata.name).sort();
    assert.deepEqual(await names('labelSelector=app%3Da'), ['s1']);
    assert.deepEqual(await names('labelSelector=app!%3Da'), ['s2', 's3']);
    assert.deepEqual(await names('labelSelector=app%20in%20(a,c)'), ['s1', 's3']);
    assert.deepEqual(await names('labelSelector=app%20notin%20(a,c)'), ['s2']);
    assert.deepEqual(await names('labelSelector=tier'), ['s1', 's2']);
    assert.deepEqual(await names('labelSelector=!tier'), ['s3']);
    assert.deepEqual(await names('labelSelector=app,tier%3Dy'), ['s2']);
    assert.deepEqual(await names('fieldSelector=metadata.name%3Ds2'), ['s2']);
    assert.deepEqual(await names('fieldSelector=metadata.name!%3Ds2,status.phase%3DPending'), ['s1', 's3']);
    const bad = await c.request('GET', `${ns}/pods?fieldSelector=spec.bogus%3D1`);
    assert.equal(bad.status, 400);
    assert.equal(bad.json().message, 'field label not supported: spec.bogus');
    const badLabel = await c.request('GET', `${ns}/pods?labelSelector=a%20in%20(`);
    assert.equal(badLabel.status, 400);
    // All namespaces
    assert.ok((await c.request('GET', '/api/v1/pods?labelSelector=app%3Da')).json().items.length === 1);
  });

  test('limit and continue page through a consistent snapshot', async () => {
    for (let i = 0; i < 25; i++) await c.request('POST', `${ns}/pods`, pod(`page-${String(i).padStart(2, '0')}`, { paged: 'yes' }));
    const seen: string[] = [];
    let cont: string | undefined, rv: string | undefined, pages = 0;
    do {
      const page = (await c.request('GET', `${ns}/pods?labelSelector=paged&limit=10${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`)).json();
      if (pages === 0) {
        rv = page.metadata.resourceVersion;
        // A write between pages must not show up in later pages.
        await c.request('POST', `${ns}/pods`, pod('page-zz', { paged: 'yes' }));
      } else {
        assert.equal(page.metadata.resourceVersion, rv);
      }
      seen.push(...page.items.map((p: any) => p.metadata.name));
      cont = page.metadata.continue;
      pages++;
    } while (cont);
    assert.equal(pages, 3);
    assert.equal(seen.length, 25);
    assert.deepEqual(seen, [...seen].sort());
    assert.ok(!seen.includes('page-zz'));
    const bad = await c.request('GET', `${ns}/pods?limit=1&continue=garbage`);
    assert.equal(bad.status, 400);
  });

  test('watch: synthetic ADDED at RV 0, resume from an RV, selectors, timeout', async () => {
    const listed = (await c.request('GET', `${ns}/pods`)).json();
    const current = listed.items.length;
    const initial = await watch(c, `${ns}/pods?watch=true&resourceVersion=0`, (e) => e.length >= current);
    assert.equal(initial.length, current);
    assert.ok(initial.every((e) => e.type === 'ADDED'));

    const rv = listed.metadata.resourceVersion;
    const stream = watch(c, `${ns}/pods?watch=true&resourceVersion=${rv}&labelSelector=app%3Dw`, (e) => e.length >= 3);
    await c.request('POST', `${ns}/pods`, pod('w1', { app: 'w' }));
    await c.request('POST', `${ns}/pods`, pod('w2', { app: 'other' }));
    await c.request('PATCH', `${ns}/pods/w2`, { metadata: { labels: { app: 'w' } } }, { headers: { 'Content-Type': 'application/merge-patch+json' } });
    await c.request('PATCH', `${ns}/pods/w1`, { metadata: { labels: { app: 'gone' } } }, { headers: { 'Content-Type': 'application/merge-patch+json' } });
    const events = await stream;
    // w2 enters the selection (ADDED), w1 leaves it (DELETED with its old labels).
    assert.deepEqual(events.map((e) => [e.type, e.object.metadata.name]), [['ADDED', 'w1'], ['ADDED', 'w2'], ['DELETED', 'w1']]);
    assert.equal(events[2].object.metadata.labels.app, 'w');
    const rvs = events.map((e) => Number(e.object.metadata.resourceVersion));
    assert.deepEqual(rvs, [...rvs].sort((a, b) => a - b));

    const t = Date.now();
    const ended = await watch(c, `${ns}/pods?watch=true&resourceVersion=${rv}&timeoutSeconds=1&labelSelector=none`);
    assert.deepEqual(ended, []);
    assert.ok(Date.now() - t < 9000, 'the stream ended at timeoutSeconds');
  });

  test('watch: bookmarks advance, initial-events-end, 410 after compaction', async () => {
    const rv = (await c.request('GET', `${ns}/pods`)).json().metadata.resourceVersion;
    const bookmarks = watch(c, `${ns}/pods?watch=true&allowWatchBookmarks=true&resourceVersion=${rv}&labelSelector=none`,
      (e) => e.some((x) => x.type === 'BOOKMARK' && Number(x.object.metadata.resourceVersion) > Number(rv)), 30_000);
    // Writes elsewhere move the store on; the bookmark tells this idle watcher.
    await c.request('POST', '/api/v1/namespaces/default/pods', pod('elsewhere'));
    const got = await bookmarks;
    // The latest bookmark: one sent before the write can carry the watch's starting revision.
    const bm = got.filter((x) => x.type === 'BOOKMARK').at(-1);
    assert.ok(bm, 'a bookmark arrived');
    assert.equal(bm.object.kind, 'Pod');
    assert.ok(Number(bm.object.metadata.resourceVersion) > Number(rv));

    const initial = await watch(c, `${ns}/pods?watch=true&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&labelSelector=app%3Da`,
      (e) => e.some((x) => x.type === 'BOOKMARK'));
    assert.deepEqual(initial.map((e) => e.type), ['ADDED', 'BOOKMARK']);
    assert.equal(initial[1].object.metadata.annotations['k8s.io/initial-events-end'], 'true');

    // History is kept for 5 revisions here: write more, let the compactor run, then ask for RV 1.
    for (let i = 0; i < 10; i++) await c.request('POST', `${ns}/pods`, pod(`compact-${i}`));
    // The compactor runs on its own schedule: wait until an exact list at RV 1 is gone.
    await until(async () => (await c.request('GET', `${ns}/pods?resourceVersion=1&resourceVersionMatch=Exact`)).status === 410, 'revision 1 compacted');
    const expired = await watch(c, `${ns}/pods?watch=true&resourceVersion=1`);
    assert.equal(expired.length, 1);
    assert.equal(expired[0].type, 'ERROR');
    assert.equal(expired[0].object.code, 410);
    assert.equal(expired[0].object.reason, 'Expired');
    assert.match(expired[0].object.message, /^too old resource version: 1 \(\d+\)$/);
  });

  test('create: generateName, uid, creationTimestamp, generation; dryRun writes nothing', async () => {
    const gen = (await c.request('POST', `${ns}/pods`, pod('', {}, { generateName: 'gen-' }))).json();
    assert.match(gen.metadata.name, /^gen-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    const d = (await c.request('POST', '/apis/apps/v1/namespaces/sem/deployments', deployment('gen'))).json();
    assert.equal(d.metadata.generation, 1);
    const dry = await c.request('POST', `${ns}/pods?dryRun=All`, pod('dry'));
    assert.equal(dry.status, 201);
    assert.equal((await c.request('GET', `${ns}/pods/dry`)).status, 404);
    const dryDelete = await c.request('DELETE', `${ns}/pods/${gen.metadata.name}`, { dryRun: ['All'] });
    assert.equal(dryDelete.status, 200);
    assert.equal((await c.request('GET', `${ns}/pods/${gen.metadata.name}`)).status, 200);
  });

  test('update: resourceVersion precondition, no-op updates keep the RV, generation bumps on spec', async () => {
    const d = (await c.request('GET', '/apis/apps/v1/namespaces/sem/deployments/gen')).json();
    const same = (await c.request('PUT', '/apis/apps/v1/namespaces/sem/deployments/gen', d)).json();
    assert.equal(same.metadata.resourceVersion, d.metadata.resourceVersion);
    d.spec.replicas = 5;
    const changed = (await c.request('PUT', '/apis/apps/v1/namespaces/sem/deployments/gen', d)).json();
    assert.equal(changed.metadata.generation, 2);
    const stale = await c.request('PUT', '/apis/apps/v1/namespaces/sem/deployments/gen', d);
    assert.equal(stale.status, 409);
    assert.equal(stale.json().reason, 'Conflict');
    // status writes go through the status subresource only, and do not bump generation
    changed.status = { replicas: 7, observedGeneration: 2 };
    const main = (await c.request('PUT', '/apis/apps/v1/namespaces/sem/deployments/gen', changed)).json();
    assert.equal(main.status.replicas, undefined);
    const st = (await c.request('PUT', '/apis/apps/v1/namespaces/sem/deployments/gen/status', { ...main, spec: { ...main.spec, replicas: 1 }, status: { replicas: 7 } })).json();
    assert.equal(st.status.replicas, 7);
    assert.equal(st.spec.replicas, 5);
    assert.equal(st.metadata.generation, 2);
  });

  test('scale subresource', async () => {
    const s = (await c.request('GET', '/apis/apps/v1/namespaces/sem/deployments/gen/scale')).json();
    assert.deepEqual([s.kind, s.apiVersion, s.spec.replicas, s.status.selector], ['Scale', 'autoscaling/v1', 5, 'app=gen']);
    const p = await c.request('PATCH', '/apis/apps/v1/namespaces/sem/deployments/gen/scale', { spec: { replicas: 3 } }, { headers: { 'Content-Type': 'application/merge-patch+json' } });
    assert.equal(p.json().spec.replicas, 3);
    assert.equal((await c.request('GET', '/apis/apps/v1/namespaces/sem/deployments/gen')).json().spec.replicas, 3);
    const neg = await c.request('PUT', '/apis/apps/v1/namespaces/sem/deployments/gen/scale', { ...s, spec: { replicas: -1 } });
    assert.equal(neg.status, 422);
  });

  test('delete: finalizers, preconditions, graceful pods, deletecollection', async () => {
    await c.request('POST', `${ns}/pods`, pod('fin', {}, { finalizers: ['example.com/hold'] }));
    const del = await c.request('DELETE', `${ns}/pods/fin`);
    assert.equal(del.status, 202);
    assert.ok(del.json().metadata.deletionTimestamp);
    assert.equal((await c.request('GET', `${ns}/pods/fin`)).status, 200);
    const created = await c.request('POST', `${ns}/pods`, pod('fin2'));
    assert.equal(created.status, 201);
    const bad = await c.request('DELETE', `${ns}/pods/fin2`, { preconditions: { uid: 'nope' } });
    assert.equal(bad.status, 409);
    await c.request('PATCH', `${ns}/pods/fin`, [{ op: 'remove', path: '/metadata/finalizers' }], { headers: { 'Content-Type': 'application/json-patch+json' } });
    assert.equal((await c.request('GET', `${ns}/pods/fin`)).status, 404);

    // A scheduled pod terminates gracefully (its kubelet finishes the deletion); grace 0 removes it.
    await c.request('POST', `${ns}/pods`, { ...pod('sched'), spec: { ...pod('sched').spec, nodeName: 'node01', terminationGracePeriodSeconds: 30 } });
    const graceful = (await c.request('DELETE', `${ns}/pods/sched`)).json();
    assert.equal(graceful.metadata.deletionGracePeriodSeconds, 30);
    assert.equal((await c.request('GET', `${ns}/pods/sched`)).status, 200);
    await c.request('DELETE', `${ns}/pods/sched`, { gracePeriodSeconds: 0 });
    assert.equal((await c.request('GET', `${ns}/pods/sched`)).status, 404);

    const before = (await c.request('GET', `${ns}/pods?labelSelector=paged`)).json().items.length;
    assert.ok(before > 0);
    const coll = await c.request('DELETE', `${ns}/pods?labelSelector=paged`);
    assert.equal(coll.status, 200);
    assert.equal(coll.json().items.length, before);
    assert.equal((await c.request('GET', `${ns}/pods?labelSelector=paged`)).json().items.length, 0);
    const protectedNs = await c.request('DELETE', '/api/v1/namespaces/default');
    assert.equal(protectedNs.status, 403);
  });

  test('pods/binding assigns a pod to a node once', async () => {
    await c.request('POST', `${ns}/pods`, pod('bind-me'));
    const bind = (node: string) => c.request('POST', `${ns}/pods/bind-me/binding`, { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'bind-me' }, target: { kind: 'Node', name: node } });
    const first = await bind('node01');
    assert.equal(first.status, 201);
    const bound = (await c.request('GET', `${ns}/pods/bind-me`)).json();
    assert.equal(bound.spec.nodeName, 'node01');
    assert.deepEqual(bound.status.conditions.map((x: any) => [x.type, x.status]), [['PodScheduled', 'True']]);
    const again = await bind('node02');
    assert.equal(again.status, 409);
    assert.equal(again.json().message, 'Operation cannot be fulfilled on pods "bind-me": pod bind-me is already assigned to node "node01"');
    const legacy = (await c.request('GET', '/api/v1')).json().resources.find((x: any) => x.name === 'pods/binding');
    assert.deepEqual([legacy.kind, legacy.verbs], ['Binding', ['create']]);
  });

  test('health and metrics', async () => {
    const verbose = await c.request('GET', '/readyz?verbose', undefined, { token: null });
    assert.match(verbose.body, /\[\+\]etcd ok/);
    assert.match(verbose.body, /readyz check passed/);
    assert.equal((await c.request('GET', '/livez', undefined, { token: null })).body, 'ok');
    assert.equal((await c.request('GET', '/metrics', undefined, { token: null })).status, 401);
    const m = (await c.request('GET', '/metrics')).body;
    assert.match(m, /apiserver_request_total\{verb="POST",group="",version="v1",resource="pods",subresource="",scope="namespace",code="201"\} \d+/);
    assert.match(m, /apiserver_request_duration_seconds_bucket\{/);
    assert.match(m, /kubelite_store_revision \d+/);
    assert.match(m, /apiserver_storage_size_bytes \d+/);
    assert.match(m, /apiserver_registered_watchers/);
  });
});
