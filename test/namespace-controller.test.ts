// The namespace controller (with the ReplicaSet controller and the garbage collector) against a
// real server: `kubectl delete namespace` empties the namespace and returns once it is gone;
// graceful pods and content finalizers hold it in Terminating with upstream's conditions.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import YAML from 'yaml';
import { startCluster, tempFile, type Cluster } from './helpers/cluster.js';
import { runControllers, getJSON, call, bindPod, listPods, type RunningControllers } from './helpers/run-controllers.js';
import { until, sleep } from './helpers/wait.js';
import { ReplicaSetController } from '../src/controllers/replicaset.js';
import { GarbageCollector } from '../src/controllers/garbagecollector.js';
import { NamespaceController } from '../src/controllers/namespace.js';

const rs = (name: string, replicas: number) => ({
  apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name },
  spec: { replicas, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } },
});

const condition = (ns: any, type: string) => ns.status.conditions?.find((c: any) => c.type === type);

describe('namespace controller', () => {
  let c: Cluster;
  let ctl: RunningControllers;

  async function populate(ns: string, replicas: number) {
    await c.k('create', 'namespace', ns);
    await c.k('apply', '-n', ns, '-f', tempFile('rs.yaml', YAML.stringify(rs('web', replicas))));
    await c.k('create', 'service', 'clusterip', 'web', '--tcp=80:80', '-n', ns);
    await call(c, 'POST', `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`, { metadata: { name: 'lock' }, spec: { holderIdentity: 'me' } });
    return until(async () => { const p = await listPods(c, ns); return p.length === replicas && p; }, `${replicas} pods in ${ns}`);
  }

  before(async () => {
    c = await startCluster();
    // Upstream's 5 s pause before acting on a deletion is exercised by the first test only.
    ctl = await runControllers(c, (ctx) => [new ReplicaSetController(ctx), new GarbageCollector(ctx)]);
  });
  after(async () => { ctl?.stop(); await c?.cleanup(); });

  test('kubectl delete namespace empties it and returns once it is gone', async () => {
    const nsCtl = await runControllers(c, (ctx) => [new NamespaceController(ctx)]);
    try {
      await populate('team', 3);
      const r = await c.kubectl(['delete', 'namespace', 'team']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'namespace "team" deleted\n');
      assert.equal(await getJSON(c, '/api/v1/namespaces/team'), undefined);
      assert.deepEqual(await listPods(c, 'team'), []);
      const left = await getJSON(c, '/apis/apps/v1/namespaces/team/replicasets');
      assert.deepEqual(left.items, []);
      const got = await c.kubectl(['get', 'ns', 'team']);
      assert.equal(got.stderr, 'Error from server (NotFound): namespaces "team" not found\n');
    } finally {
      nsCtl.stop();
    }
  });

  test('graceful pods hold the namespace in Terminating until their kubelet is done', async () => {
    const nsCtl = await runControllers(c, (ctx) => [new NamespaceController(ctx, { deletionDelayMs: 0 })]);
    try {
      const pods = await populate('slow', 2);
      await bindPod(c, 'slow', pods[0].metadata.name, 'node01');
      const deleting = c.kubectl(['delete', 'namespace', 'slow']);
      const ns = await until(async () => { const n = await getJSON(c, '/api/v1/namespaces/slow'); return condition(n, 'NamespaceContentRemaining')?.status === 'True' && n; }, 'content remaining condition');
      assert.equal(ns.status.phase, 'Terminating');
      assert.deepEqual(ns.spec.finalizers, ['kubernetes']);
      assert.deepEqual(condition(ns, 'NamespaceContentRemaining'), {
        type: 'NamespaceContentRemaining', status: 'True', reason: 'SomeResourcesRemain',
        message: 'Some resources are remaining: pods. has 1 resource instances', lastTransitionTime: condition(ns, 'NamespaceContentRemaining').lastTransitionTime,
      });
      assert.deepEqual(ns.status.conditions.map((x: any) => [x.type, x.status, x.reason, x.message]), [
        ['NamespaceDeletionDiscoveryFailure', 'False', 'ResourcesDiscovered', 'All resources successfully discovered'],
        ['NamespaceDeletionGroupVersionParsingFailure', 'False', 'ParsedGroupVersions', 'All legacy kube types successfully parsed'],
        ['NamespaceDeletionContentFailure', 'False', 'ContentDeleted', 'All content successfully deleted, may be waiting on finalization'],
        ['NamespaceContentRemaining', 'True', 'SomeResourcesRemain', 'Some resources are remaining: pods. has 1 resource instances'],
        ['NamespaceFinalizersRemaining', 'False', 'ContentHasNoFinalizers', 'All content-preserving finalizers finished'],
      ]);
      const pod = await getJSON(c, `/api/v1/namespaces/slow/pods/${pods[0].metadata.name}`);
      assert.ok(pod.metadata.deletionTimestamp);
      assert.equal((await c.kubectl(['create', 'configmap', 'x', '-n', 'slow'])).code, 1);
      await sleep(500);
      assert.ok(await getJSON(c, '/api/v1/namespaces/slow'), 'still there while the pod terminates');
      // The node agent finishes the pod.
      await call(c, 'DELETE', `/api/v1/namespaces/slow/pods/${pods[0].metadata.name}?gracePeriodSeconds=0`);
      const r = await deleting;
      assert.equal(r.stdout, 'namespace "slow" deleted\n', r.stderr);
      assert.equal(await getJSON(c, '/api/v1/namespaces/slow'), undefined);
    } finally {
      nsCtl.stop();
    }
  });

  test('content finalizers are reported and waited for', async () => {
    const nsCtl = await runControllers(c, (ctx) => [new NamespaceController(ctx, { deletionDelayMs: 0 })]);
    try {
      await c.k('create', 'namespace', 'held');
      await call(c, 'POST', '/apis/coordination.k8s.io/v1/namespaces/held/leases', { metadata: { name: 'held', finalizers: ['example.com/hold'] }, spec: {} });
      await c.k('delete', 'namespace', 'held', '--wait=false');
      const ns = await until(async () => { const n = await getJSON(c, '/api/v1/namespaces/held'); return condition(n, 'NamespaceFinalizersRemaining')?.status === 'True' && n; }, 'finalizers remaining condition');
      assert.equal(condition(ns, 'NamespaceFinalizersRemaining').message, 'Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances');
      assert.equal(condition(ns, 'NamespaceFinalizersRemaining').reason, 'SomeFinalizersRemain');
      assert.equal(condition(ns, 'NamespaceContentRemaining').message, 'Some resources are remaining: leases.coordination.k8s.io has 1 resource instances');
      const lease = await getJSON(c, '/apis/coordination.k8s.io/v1/namespaces/held/leases/held');
      assert.ok(lease.metadata.deletionTimestamp);
      await call(c, 'PATCH', '/apis/coordination.k8s.io/v1/namespaces/held/leases/held', { metadata: { finalizers: null } }, 'application/merge-patch+json');
      // Finalizers are re-checked after upstream's estimate (15 s / 2 + 1).
      await until(async () => (await getJSON(c, '/api/v1/namespaces/held')) === undefined, 'namespace gone', 30_000);
    } finally {
      nsCtl.stop();
    }
  });
});
