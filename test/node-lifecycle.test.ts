// A node whose agent stops: the node lifecycle controller marks it Unknown and taints it, its pods
// are marked not ready and evicted after their toleration seconds by the taint eviction
// controller (with upstream's events), and the node coming back loses the taints. Pod GC
// force-deletes pods of a node object that is gone. Shortened periods, a real server.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type Cluster } from './helpers/cluster.js';
import { RestClient } from '../src/client/rest.js';
import { controllerContext, type ControllerContext } from '../src/client/factory.js';
import { startController } from '../src/client/controller.js';
import { NodeAgent } from '../src/node/agent.js';
import { NodeIPAMController } from '../src/controllers/nodeipam.js';
import { NodeLifecycleController } from '../src/controllers/nodelifecycle.js';
import { TaintEvictionController } from '../src/controllers/tainteviction.js';
import { PodGCController } from '../src/controllers/podgc.js';

const PODS = '/api/v1/namespaces/default/pods';

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('node lifecycle and taint-based eviction', () => {
  let c: Cluster;
  let client: RestClient;
  let ctx: ControllerContext;
  const stops: (() => void)[] = [];
  const agents = new Map<string, { stop(): void }>();

  async function startAgent(nodeName: string): Promise<void> {
    // Renewing the Lease well within the shortened grace period.
    const agent = new NodeAgent({ client, nodeName, leaseRenewIntervalMs: 300, sim: { startDelayMs: 100, startJitterMs: 0 } });
    const ctl = await startController(agent, 2);
    agents.set(nodeName, ctl);
    stops.push(() => ctl.stop());
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
    c = await startCluster();
    client = await RestClient.fromKubeconfig(c.kubeconfig, 'node-lifecycle-test');
    ctx = controllerContext(client);
    for (const r of [
      new NodeIPAMController(ctx),
      new NodeLifecycleController(ctx, { nodeMonitorPeriodMs: 300, nodeMonitorGracePeriodMs: 5_000 }),
      new TaintEvictionController(ctx),
      new PodGCController(ctx, { gcCheckPeriodMs: 300, quarantineMs: 500 }),
    ]) {
      const ctl = await startController(r, 2);
      stops.push(() => ctl.stop());
    }
    await startAgent('node01');
    await startAgent('node02');
    await waitFor('nodes Ready', async () => /node01\s+Ready[\s\S]*node02\s+Ready/.test(await c.k('get', 'nodes', '--no-headers')));
  });

  after(async () => {
    for (const s of stops.reverse()) s();
    ctx?.informers.stop();
    client?.close();
    await c?.cleanup();
  });

  test('the controller registers nodes', async () => {
    await waitFor('RegisteredNode', async () => (await events('involvedObject.name=node01,reason=RegisteredNode')).length > 0);
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
    for (const n of ['short', 'default', 'forever', 'elsewhere']) await waitFor(`${n} Running`, () => running(n));
    assert.deepEqual((await getPod('default')).spec.tolerations.map((t: any) => [t.key, t.tolerationSeconds]),
      [['node.kubernetes.io/not-ready', 300], ['node.kubernetes.io/unreachable', 300]]);

    agents.get('node01')!.stop();

    const node = await waitFor('node01 Unknown', async () => {
      const n = await getNode('node01');
      return n.status.conditions.find((x: any) => x.type === 'Ready').status === 'Unknown' && n;
    });
    const ready = node.status.conditions.find((x: any) => x.type === 'Ready');
    assert.equal(ready.reason, 'NodeStatusUnknown');
    assert.equal(ready.message, 'Kubelet stopped posting node status.');
    for (const t of ['MemoryPressure', 'DiskPressure', 'PIDPressure']) {
      assert.equal(node.status.conditions.find((x: any) => x.type === t).status, 'Unknown');
    }
    assert.match(await c.k('get', 'node', 'node01', '--no-headers'), /^node01\s+NotReady\s/);

    const tainted = await waitFor('node01 tainted', async () => {
      const n = await getNode('node01');
      const taints = (n.spec.taints ?? []).map((t: any) => `${t.key}:${t.effect}`).sort();
      return taints.length === 2 && n;
    });
    assert.deepEqual(tainted.spec.taints.map((t: any) => `${t.key}:${t.effect}`).sort(),
      ['node.kubernetes.io/unreachable:NoExecute', 'node.kubernetes.io/unreachable:NoSchedule']);
    for (const t of tainted.spec.taints) assert.ok(t.timeAdded, 'taints carry timeAdded');

    const nodeEvents = await waitFor('NodeNotReady', async () => {
      const e = await events('involvedObject.name=node01,reason=NodeNotReady');
      return e.length > 0 && e;
    });
    assert.equal(nodeEvents[0].message, 'Node node01 status is now: NodeNotReady');

    // Every pod on the node is marked not ready at once.
    await waitFor('pods not ready', async () => {
      const p = await getPod('default');
      return p.status.conditions.find((x: any) => x.type === 'Ready').status === 'False';
    });
    const podEvents = await waitFor('pod NodeNotReady event', async () => {
      const e = await events('involvedObject.name=default,reason=NodeNotReady');
      return e.length > 0 && e;
    });
    assert.equal(podEvents[0].type, 'Warning');
    assert.equal(podEvents[0].message, 'Node is not ready');

    // The 2 s toleration runs out: the pod is deleted (it stays Terminating: its kubelet is gone).
    const evicted = await waitFor('short evicted', async () => {
      const p = await getPod('short');
      return p.metadata.deletionTimestamp && p;
    });
    const disruption = evicted.status.conditions.find((x: any) => x.type === 'DisruptionTarget');
    assert.equal(disruption.reason, 'DeletionByTaintManager');
    assert.equal(disruption.message, 'Taint manager: deleting due to NoExecute taint');
    // Container statuses are the dead kubelet's last word: still ready, as upstream shows them.
    assert.match(await c.k('get', 'pod', 'short', '--no-headers'), /^short\s+1\/1\s+Terminating\s/);
    const marking = await events('involvedObject.name=short,reason=TaintManagerEviction');
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
    await waitFor('node01 Ready and untainted', async () => {
      const n = await getNode('node01');
      return n.status.conditions.find((x: any) => x.type === 'Ready').status === 'True' && !n.spec.taints?.length;
    });
    await waitFor('short gone', async () => {
      try {
        await getPod('short');
        return false;
      } catch {
        return true;
      }
    });
    const cancelled = await waitFor('cancel event', async () => {
      const e = await events('involvedObject.name=default,reason=TaintManagerEviction');
      return e.length > 0 && e;
    });
    assert.equal(cancelled[0].message, 'Cancelling deletion of Pod default/default');
    await waitFor('default Ready again', async () => (await getPod('default')).status.conditions.find((x: any) => x.type === 'Ready').status === 'True');
  });

  test('pods of a node object that is deleted are force-deleted by pod GC', async () => {
    await client.create(PODS, pod('orphan', 'node02'));
    await waitFor('orphan Running', () => running('orphan'));
    agents.get('node02')!.stop();
    await client.delete('/api/v1/nodes/node02');
    await waitFor('orphan gone', async () => {
      try {
        await getPod('orphan');
        return false;
      } catch {
        return true;
      }
    });
  });
});
