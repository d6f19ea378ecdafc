// A node whose agent stops: the node lifecycle controller marks it Unknown and taints it, its pods
// are marked not ready and evicted after their toleration seconds by the taint eviction
// controller (with upstream's events), and the node coming back loses the taints. Pod GC
// force-deletes pods of a node object that is gone. Shortened periods, a real server.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Cluster } from './helpers/cluster.js';
import { startAgentCluster, PODS, type AgentCluster } from './helpers/node-agents.js';
import { until } from './helpers/wait.js';
import type { RestClient } from '../src/client/rest.js';
import { NodeLifecycleController } from '../src/controllers/nodelifecycle.js';
import { TaintEvictionController } from '../src/controllers/tainteviction.js';
import { PodGCController } from '../src/controllers/podgc.js';

describe('node lifecycle and taint-based eviction', () => {
  let h: AgentCluster;
  let c: Cluster;
  let client: RestClient;

  async function startAgent(nodeName: string): Promise<void> {
    // Renewing the Lease well within the shortened grace period.
    await h.startAgent({ nodeName, leaseRenewIntervalMs: 300, sim: { startDelayMs: 100, startJitterMs: 0 } }, 2);
  }

  const getPod = (name: string) => client.get<any>(`${PODS}/${name}`);
  const getNode = (name: string) => client.get<any>(`/api/v1/nodes/${name}`);
  const running = async (name: string) => (await getPod(name)).status?.phase === 'Running';
  const unreachable = (seconds?: number) => ({ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', ...(seconds === undefined ? {} : { tolerationSeconds: seconds }) });
  const pod = (name: string, nodeName: string, tolerations?: unknown[]) => ({
    metadata: { name },
    spec: { nodeName, containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10' }], ...(tolerations ? { tolerations } : {}) },
  });
  const events = async (fieldSelector: string) => (await client.get<any>('/api/v1/namespaces/default/events', { fieldSelector })).items;

  before(async () => {
    h = await startAgentCluster({ userAgent: 'node-lifecycle-test' });
    ({ c, client } = h);
    await h.run(new NodeLifecycleController(h.ctx, { nodeMonitorPeriodMs: 300, nodeMonitorGracePeriodMs: 5_000 }), 2);
    await h.run(new TaintEvictionController(h.ctx), 2);
    await h.run(new PodGCController(h.ctx, { gcCheckPeriodMs: 300, quarantineMs: 500 }), 2);
    await startAgent('node01');
    await startAgent('node02');
    await until(async () => /node01\s+Ready[\s\S]*node02\s+Ready/.test(await c.k('get', 'nodes', '--no-headers')), 'nodes Ready');
  });

  after(async () => {
    await h?.stop();
  });

  test('the controller registers nodes', async () => {
    await until(async () => (await events('involvedObject.name=node01,reason=RegisteredNode')).length > 0, 'RegisteredNode');
    const [ev] = await events('involvedObject.name=node01,reason=RegisteredNode');
    assert.equal(ev.message, 'Node node01 event: Registered Node node01 in Controller');
    assert.equal(ev.source.component, 'node-controller');
  });

  test('an agent that stops: Unknown, tainted, pods not ready, then evicted after their toleration seconds; back: untainted', async () => {
    await client.create(PODS, pod('short', 'node01', [unreachable(2)]));
    // The API server gives this one the default 300 s.
    await client.create(PODS, pod('default', 'node01'));
    await client.create(PODS, pod('forever', 'node01', [unreachable()]));
    await client.create(PODS, pod('elsewhere', 'node02', [unreachable(2)]));
    for (const n of ['short', 'default', 'forever', 'elsewhere']) await until(() => running(n), `${n} Running`);
    assert.deepEqual((await getPod('default')).spec.tolerations.map((t: any) => [t.key, t.tolerationSeconds]),
      [['node.kubernetes.io/not-ready', 300], ['node.kubernetes.io/unreachable', 300]]);

    h.stopAgent('node01');

    const node = await until(async () => {
      const n = await getNode('node01');
      return n.status.conditions.find((x: any) => x.type === 'Ready').status === 'Unknown' && n;
    }, 'node01 Unknown');
    const ready = node.status.conditions.find((x: any) => x.type === 'Ready');
    assert.equal(ready.reason, 'NodeStatusUnknown');
    assert.equal(ready.message, 'Kubelet stopped posting node status.');
    for (const t of ['MemoryPressure', 'DiskPressure', 'PIDPressure']) {
      assert.equal(node.status.conditions.find((x: any) => x.type === t).status, 'Unknown');
    }
    assert.match(await c.k('get', 'node', 'node01', '--no-headers'), /^node01\s+NotReady\s/);

    const tainted = await until(async () => {
      const n = await getNode('node01');
      const taints = (n.spec.taints ?? []).map((t: any) => `${t.key}:${t.effect}`).sort();
      return taints.length === 2 && n;
    }, 'node01 tainted');
    assert.deepEqual(tainted.spec.taints.map((t: any) => `${t.key}:${t.effect}`).sort(),
      ['node.kubernetes.io/unreachable:NoExecute', 'node.kubernetes.io/unreachable:NoSchedule']);
    for (const t of tainted.spec.taints) assert.ok(t.timeAdded, 'taints carry timeAdded');

    const nodeEvents = await until(async () => {
      const e = await events('involvedObject.name=node01,reason=NodeNotReady');
      return e.length > 0 && e;
    }, 'NodeNotReady');
    assert.equal(nodeEvents[0].message, 'Node node01 status is now: NodeNotReady');

    // Every pod on the node is marked not ready at once.
    await until(async () => {
      const p = await getPod('default');
      return p.status.conditions.find((x: any) => x.type === 'Ready').status === 'False';
    }, 'pods not ready');
    const podEvents = await until(async () => {
      const e = await events('involvedObject.name=default,reason=NodeNotReady');
      return e.length > 0 && e;
    }, 'pod NodeNotReady event');
    assert.equal(podEvents[0].type, 'Warning');
    assert.equal(podEvents[0].message, 'Node is not ready');

    // The 2 s toleration runs out: the pod is deleted (it stays Terminating: its kubelet is gone).
    const evicted = await until(async () => {
      const p = await getPod('short');
      return p.metadata.deletionTimestamp && p;
    }, 'short evicted');
    const disruption = evicted.status.conditions.find((x: any) => x.type === 'DisruptionTarget');
    assert.equal(disruption.reason, 'DeletionByTaintManager');
    assert.equal(disruption.message, 'Taint manager: deleting due to NoExecute taint');
    // Container statuses are the dead kubelet's last word: still ready, as upstream shows them.
    assert.match(await c.k('get', 'pod', 'short', '--no-headers'), /^short\s+1\/1\s+Terminating\s/);
    // The event is a write of its own, after the deletion: wait for it rather than read it once.
    const marking = await until(async () => {
      const e = await events('involvedObject.name=short,reason=TaintManagerEviction');
      return e.length > 0 && e;
    }, 'TaintManagerEviction event');
    assert.equal(marking[0].message, 'Marking for deletion Pod default/short');
    assert.equal(marking[0].source.component, 'taint-eviction-controller');

    assert.equal((await getPod('default')).metadata.deletionTimestamp, undefined, '300 s have not passed');
    assert.equal((await getPod('forever')).metadata.deletionTimestamp, undefined, 'tolerates forever');
    const elsewhere = await getPod('elsewhere');
    assert.equal(elsewhere.metadata.deletionTimestamp, undefined, 'pods on the healthy node stay');
    assert.equal(elsewhere.status.conditions.find((x: any) => x.type === 'Ready').status, 'True');

    // The agent comes back: the node is Ready, the taints go, the scheduled eviction is cancelled,
    // and the agent finishes the deletion of the evicted pod.
    await startAgent('node01');
    await until(async () => {
      const n = await getNode('node01');
      return n.status.conditions.find((x: any) => x.type === 'Ready').status === 'True' && !n.spec.taints?.length;
    }, 'node01 Ready and untainted');
    await until(async () => {
      try {
        await getPod('short');
        return false;
      } catch {
        return true;
      }
    }, 'short gone');
    const cancelled = await until(async () => {
      const e = await events('involvedObject.name=default,reason=TaintManagerEviction');
      return e.length > 0 && e;
    }, 'cancel event');
    assert.equal(cancelled[0].message, 'Cancelling deletion of Pod default/default');
    await until(async () => (await getPod('default')).status.conditions.find((x: any) => x.type === 'Ready').status === 'True', 'default Ready again');
  });

  test('pods of a node object that is deleted are force-deleted by pod GC', async () => {
    await client.create(PODS, pod('orphan', 'node02'));
    await until(() => running('orphan'), 'orphan Running');
    h.stopAgent('node02');
    await client.delete('/api/v1/nodes/node02');
    await until(async () => {
      try {
        await getPod('orphan');
        return false;
      } catch {
        return true;
      }
    }, 'orphan gone');
  });
});
