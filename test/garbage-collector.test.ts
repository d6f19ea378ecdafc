// The garbage collector (with the ReplicaSet controller) against a real server: background,
// foreground and orphan propagation through kubectl, dangling and uid-mismatched owners, partial
// ownership, owners of other kinds (Service → EndpointSlice, cluster-scoped Node → Lease), a
// foreground chain Deployment → ReplicaSet → Pods, and a restart that finds garbage left behind.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import YAML from 'yaml';
import { startCluster, tempFile, type Cluster } from './helpers/cluster.js';
import { runControllers, getJSON, call, bindPod, listPods, type RunningControllers } from './helpers/run-controllers.js';
import { until, sleep } from './helpers/wait.js';
import { ReplicaSetController } from '../src/controllers/replicaset.js';
import { GarbageCollector } from '../src/controllers/garbagecollector.js';

const rsPath = (name: string) => `/apis/apps/v1/namespaces/default/replicasets/${name}`;
const podPath = (name: string) => `/api/v1/namespaces/default/pods/${name}`;

function rs(name: string, replicas: number, owner?: { name: string; uid: string }) {
  return {
    apiVersion: 'apps/v1', kind: 'ReplicaSet',
    metadata: { name, ...(owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: owner.name, uid: owner.uid, controller: true, blockOwnerDeletion: true }] } : {}) },
    spec: { replicas, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } },
  };
}

function pod(name: string, ownerReferences: unknown[]) {
  return { metadata: { name, ownerReferences }, spec: { containers: [{ name: 'c', image: 'nginx' }] } };
}

const ref = (kind: string, apiVersion: string, name: string, uid: string, extra: Record<string, boolean> = {}) => ({ apiVersion, kind, name, uid, ...extra });

describe('garbage collector', () => {
  let c: Cluster;
  let ctl: RunningControllers;
  const start = () => runControllers(c, (ctx) => [new ReplicaSetController(ctx), new GarbageCollector(ctx)]);

  /** A ReplicaSet with `replicas` pods, the first `bound` of them bound to a node (so they terminate gracefully). */
  async function replicaSetWithPods(name: string, replicas: number, bound: number, owner?: { name: string; uid: string }) {
    await c.k('apply', '-f', tempFile('rs.yaml', YAML.stringify(rs(name, replicas, owner))));
    const obj = await getJSON(c, rsPath(name));
    const pods = await until(async () => { const p = await listPods(c, 'default', `app=${name}`); return p.length === replicas && p; }, `${replicas} pods of ${name}`);
    for (const p of pods.slice(0, bound)) await bindPod(c, 'default', p.metadata.name, 'node01');
    return { uid: obj.metadata.uid as string, pods: pods.map((p) => p.metadata.name as string) };
  }

  before(async () => {
    c = await startCluster();
    ctl = await start();
  });
  after(async () => { ctl?.stop(); await c?.cleanup(); });

  test('kubectl delete rs (background): the pods go, scheduled ones through graceful termination', async () => {
    const { pods } = await replicaSetWithPods('bg', 3, 1);
    assert.equal(await c.k('delete', 'rs', 'bg'), 'replicaset.apps "bg" deleted\n');
    assert.equal(await getJSON(c, rsPath('bg')), undefined);
    await until(async () => (await getJSON(c, podPath(pods[1]))) === undefined && (await getJSON(c, podPath(pods[2]))) === undefined, 'unscheduled pods deleted');
    const terminating = await until(async () => { const p = await getJSON(c, podPath(pods[0])); return p?.metadata.deletionTimestamp && p; }, 'scheduled pod terminating');
    assert.equal(terminating.metadata.deletionGracePeriodSeconds, 30);
  });

  test('kubectl delete rs --cascade=orphan: the pods stay, without the owner reference', async () => {
    const { pods } = await replicaSetWithPods('orph', 2, 0);
    assert.equal(await c.k('delete', 'rs', 'orph', '--cascade=orphan'), 'replicaset.apps "orph" deleted\n');
    assert.equal(await getJSON(c, rsPath('orph')), undefined);
    await sleep(500);
    for (const name of pods) {
      const p = await getJSON(c, podPath(name));
      assert.ok(p && !p.metadata.deletionTimestamp, `${name} kept`);
      assert.deepEqual(p.metadata.ownerReferences ?? [], []);
    }
  });

  test('kubectl delete rs --cascade=foreground: the owner waits for its blocking dependents', async () => {
    const { uid, pods } = await replicaSetWithPods('fg', 3, 1);
    const deleting = c.kubectl(['delete', 'rs', 'fg', '--cascade=foreground']);
    const waiting = await until(async () => { const r = await getJSON(c, rsPath('fg')); return r?.metadata.deletionTimestamp && r; }, 'rs being deleted');
    assert.deepEqual(waiting.metadata.finalizers, ['foregroundDeletion']);
    await until(async () => (await listPods(c, 'default', 'app=fg')).length === 1, 'unscheduled pods deleted');
    const left = await until(async () => { const p = await getJSON(c, podPath(pods[0])); return p?.metadata.deletionTimestamp && p; }, 'scheduled pod terminating');
    assert.equal(left.metadata.ownerReferences[0].uid, uid);
    await sleep(500);
    assert.ok(await getJSON(c, rsPath('fg')), 'the ReplicaSet waits while its pod terminates');
    // The node agent finishes the pod: only then may the ReplicaSet go.
    await call(c, 'DELETE', `${podPath(pods[0])}?gracePeriodSeconds=0`);
    const r = await deleting;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'replicaset.apps "fg" deleted\n');
    assert.equal(await getJSON(c, rsPath('fg')), undefined);
  });

  test('dangling and uid-mismatched owners are collected; partly owned objects lose only the dangling reference', async () => {
    const svc = await call(c, 'POST', '/api/v1/namespaces/default/services', { metadata: { name: 'keeper' }, spec: { ports: [{ port: 80 }] } });
    const svcRef = ref('Service', 'v1', 'keeper', svc.metadata.uid);
    await call(c, 'POST', '/api/v1/namespaces/default/pods', pod('owner-missing', [ref('ReplicaSet', 'apps/v1', 'never-there', '6c1f6c36-0000-4000-8000-000000000001')]));
    await call(c, 'POST', '/api/v1/namespaces/default/pods', pod('owner-other-uid', [ref('Service', 'v1', 'keeper', '6c1f6c36-0000-4000-8000-000000000002')]));
    await call(c, 'POST', '/api/v1/namespaces/default/pods', pod('owner-present', [svcRef]));
    await call(c, 'POST', '/api/v1/namespaces/default/pods', pod('owners-mixed', [svcRef, ref('ReplicaSet', 'apps/v1', 'gone', '6c1f6c36-0000-4000-8000-000000000003', { blockOwnerDeletion: true })]));
    await until(async () => (await getJSON(c, podPath('owner-missing'))) === undefined, 'pod with a missing owner deleted');
    await until(async () => (await getJSON(c, podPath('owner-other-uid'))) === undefined, 'pod whose owner has another uid deleted');
    const mixed = await until(async () => { const p = await getJSON(c, podPath('owners-mixed')); return p.metadata.ownerReferences.length === 1 && p; }, 'dangling reference removed');
    assert.deepEqual(mixed.metadata.ownerReferences, [svcRef]);
    assert.ok(await getJSON(c, podPath('owner-present')));
    // Deleting the Service takes its pods along.
    assert.equal(await c.k('delete', 'svc', 'keeper'), 'service "keeper" deleted\n');
    await until(async () => (await getJSON(c, podPath('owner-present'))) === undefined && (await getJSON(c, podPath('owners-mixed'))) === undefined, 'dependents of the Service deleted');
  });

  test('any resource of the table: Service → EndpointSlice, cluster-scoped Node → Lease', async () => {
    const svc = await call(c, 'POST', '/api/v1/namespaces/default/services', { metadata: { name: 'front' }, spec: { ports: [{ port: 80 }], selector: { app: 'front' } } });
    await call(c, 'POST', '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices', {
      metadata: { name: 'front-abcde', labels: { 'kubernetes.io/service-name': 'front' }, ownerReferences: [ref('Service', 'v1', 'front', svc.metadata.uid, { controller: true, blockOwnerDeletion: true })] },
      addressType: 'IPv4', endpoints: [],
    });
    const node = await call(c, 'POST', '/api/v1/nodes', { metadata: { name: 'gc-node' } });
    await call(c, 'POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', {
      metadata: { name: 'gc-node', ownerReferences: [ref('Node', 'v1', 'gc-node', node.metadata.uid)] }, spec: { holderIdentity: 'gc-node' },
    });
    await sleep(300);
    assert.ok(await getJSON(c, '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/front-abcde'), 'slice kept while its Service exists');
    assert.ok(await getJSON(c, '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/gc-node'), 'lease kept while its Node exists');
    await c.k('delete', 'svc', 'front');
    await c.k('delete', 'node', 'gc-node');
    await until(async () => (await getJSON(c, '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/front-abcde')) === undefined, 'slice deleted');
    await until(async () => (await getJSON(c, '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/gc-node')) === undefined, 'lease deleted');
  });

  test('foreground through two levels: Deployment → ReplicaSet → Pods', async () => {
    const d = await call(c, 'POST', '/apis/apps/v1/namespaces/default/deployments', {
      metadata: { name: 'chain' },
      spec: { replicas: 2, selector: { matchLabels: { app: 'chain-d' } }, template: { metadata: { labels: { app: 'chain-d' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } },
    });
    const { pods } = await replicaSetWithPods('chain-rs', 2, 1, { name: 'chain', uid: d.metadata.uid });
    const deleting = c.kubectl(['delete', 'deploy', 'chain', '--cascade=foreground']);
    // The ReplicaSet owns pods, so the collector deletes it in the foreground as well.
    const rsDeleting = await until(async () => { const r = await getJSON(c, rsPath('chain-rs')); return r?.metadata.deletionTimestamp && r; }, 'rs deleting');
    assert.deepEqual(rsDeleting.metadata.finalizers, ['foregroundDeletion']);
    await until(async () => { const p = await getJSON(c, podPath(pods[0])); return p?.metadata.deletionTimestamp; }, 'scheduled pod terminating');
    await until(async () => (await getJSON(c, podPath(pods[1]))) === undefined, 'unscheduled pod deleted');
    assert.ok(await getJSON(c, '/apis/apps/v1/namespaces/default/deployments/chain'), 'deployment waits');
    await call(c, 'DELETE', `${podPath(pods[0])}?gracePeriodSeconds=0`);
    const r = await deleting;
    assert.equal(r.stdout, 'deployment.apps "chain" deleted\n', r.stderr);
    assert.equal(await getJSON(c, rsPath('chain-rs')), undefined);
  });

  test('garbage left while the collector was down is collected when it starts', async () => {
    const svc = await call(c, 'POST', '/api/v1/namespaces/default/services', { metadata: { name: 'later' }, spec: { ports: [{ port: 80 }] } });
    await call(c, 'POST', '/api/v1/namespaces/default/pods', pod('left-behind', [ref('Service', 'v1', 'later', svc.metadata.uid)]));
    ctl.stop();
    await call(c, 'DELETE', '/api/v1/namespaces/default/services/later');
    await sleep(300);
    assert.ok(await getJSON(c, podPath('left-behind')), 'nothing collects while the collector is down');
    ctl = await start();
    await until(async () => (await getJSON(c, podPath('left-behind'))) === undefined, 'pod collected after restart');
  });
});
