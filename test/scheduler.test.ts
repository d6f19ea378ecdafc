// The scheduler (src/scheduler) against a real server: Nodes and Pods made through the API, the
// scheduler running in the test process, results read back through the API and with kubectl.
// Every filter of the default profile, spreading, upstream's FailedScheduling wording and the
// PodScheduled condition, retries when the cluster changes, preemption.
import { describe, test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type Cluster } from './helpers/cluster.js';
import { RestClient } from '../src/client/rest.js';
import { controllerContext, type ControllerContext } from '../src/client/factory.js';
import { numFeasibleNodesToFind, Scheduler } from '../src/scheduler/scheduler.js';
import { toleratesTaint } from '../src/scheduler/taints.js';
import { RequiredNodeAffinity } from '../src/scheduler/node-affinity.js';
import { fitErrorMessage, newDiagnosis } from '../src/scheduler/fit-error.js';
import { podRequests, quantityValue } from '../src/scheduler/resources.js';

const NS = 'default';
const PODS = `/api/v1/namespaces/${NS}/pods`;

interface NodeOpts {
  labels?: Record<string, string>;
  taints?: { key: string; value?: string; effect: string }[];
  unschedulable?: boolean;
  ready?: 'True' | 'False' | 'Unknown';
  cpu?: string;
  memory?: string;
  pods?: string;
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('scheduler', () => {
  let c: Cluster;
  let client: RestClient;
  let ctx: ControllerContext;
  let scheduler: Scheduler;
  const nodesMade: string[] = [];
  const podsMade: string[] = [];

  async function node(name: string, o: NodeOpts = {}): Promise<void> {
    await client.create('/api/v1/nodes', {
      metadata: { name, labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', ...o.labels } },
      spec: { taints: o.taints, unschedulable: o.unschedulable },
    });
    nodesMade.push(name);
    const resources = { cpu: o.cpu ?? '4', memory: o.memory ?? '8Gi', pods: o.pods ?? '110' };
    await client.patch(`/api/v1/nodes/${name}/status`, {
      status: {
        capacity: resources, allocatable: resources,
        conditions: [{ type: 'Ready', status: o.ready ?? 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status', lastHeartbeatTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') }],
      },
    }, 'merge');
  }

  async function pod(name: string, spec: Record<string, unknown> = {}, meta: Record<string, unknown> = {}, requests?: Record<string, string>, ports?: unknown[]): Promise<any> {
    const container: Record<string, unknown> = { name: 'c', image: 'nginx' };
    if (requests) container.resources = { requests };
    if (ports) container.ports = ports;
    const p = await client.create(PODS, { metadata: { name, ...meta }, spec: { containers: [container], ...spec } });
    podsMade.push(name);
    return p;
  }

  const getPod = (name: string) => client.get<any>(`${PODS}/${name}`);
  const nodeOf = (name: string) => waitFor(`${name} to be bound`, async () => (await getPod(name)).spec.nodeName as string | undefined);
  const events = async (name: string, reason: string) =>
    (await client.get<any>(`/api/v1/namespaces/${NS}/events`, { fieldSelector: `involvedObject.name=${name},reason=${reason}` })).items;
  const failedMessage = (name: string) => waitFor(`FailedScheduling for ${name}`, async () => {
    const ev = await events(name, 'FailedScheduling');
    return ev.length ? (ev[ev.length - 1].message as string) : undefined;
  });

  /** Delete this test's pods (at once, as a kubelet would confirm) and nodes, and wait until they are gone. */
  async function cleanup(): Promise<void> {
    for (const name of podsMade.splice(0)) await client.delete(`${PODS}/${name}`, { gracePeriodSeconds: 0 }).catch(() => undefined);
    for (const name of nodesMade.splice(0)) await client.delete(`/api/v1/nodes/${name}`).catch(() => undefined);
    await waitFor('pods and nodes to go', async () => {
      const pods = await client.get<any>(PODS);
      const nodes = await client.get<any>('/api/v1/nodes');
      return pods.items.length === 0 && nodes.items.length === 0;
    });
    // The scheduler's informers see the deletions shortly after.
    await sleep(200);
  }

  before(async () => {
    c = await startCluster();
    client = await RestClient.fromKubeconfig(c.kubeconfig, 'scheduler-test');
    ctx = controllerContext(client);
    scheduler = new Scheduler(ctx);
    await scheduler.start();
  });
  afterEach(cleanup);
  after(async () => {
    scheduler?.stop();
    ctx?.informers.stop();
    client?.close();
    await c?.cleanup();
  });

  test('binds to Ready, schedulable nodes; Scheduled event; get -o wide shows the node', async () => {
    await node('ready-1');
    await node('notready-1', { ready: 'False' });
    await node('cordoned-1', { unschedulable: true });
    await pod('web-5d8c7b9f4-x2g5f');
    assert.equal(await nodeOf('web-5d8c7b9f4-x2g5f'), 'ready-1');
    const p = await getPod('web-5d8c7b9f4-x2g5f');
    assert.equal(p.status.conditions.find((x: any) => x.type === 'PodScheduled').status, 'True');

    const scheduled = await waitFor('Scheduled event', async () => (await events('web-5d8c7b9f4-x2g5f', 'Scheduled'))[0]);
    assert.equal(scheduled.message, 'Successfully assigned default/web-5d8c7b9f4-x2g5f to ready-1');
    assert.equal(scheduled.type, 'Normal');
    assert.deepEqual(scheduled.source, { component: 'default-scheduler' });
    const describe = await c.k('describe', 'pod', 'web-5d8c7b9f4-x2g5f');
    assert.match(describe, /Normal\s+Scheduled\s+\S+\s+default-scheduler\s+Successfully assigned default\/web-5d8c7b9f4-x2g5f to ready-1/);

    const wide = await c.k('get', 'pods', '-o', 'wide');
    const header = wide.split('\n')[0]!;
    const row = wide.split('\n').find((l) => l.startsWith('web-5d8c7b9f4-x2g5f'))!;
    assert.equal(row.slice(header.indexOf('NODE')).split(/\s+/)[0], 'ready-1', wide);

    // A pod with spec.nodeName set, or for another scheduler, is not this scheduler's business.
    await pod('preset', { nodeName: 'cordoned-1' });
    await pod('other', { schedulerName: 'my-scheduler' });
    await sleep(500);
    assert.equal((await getPod('other')).spec.nodeName, undefined);
    assert.deepEqual(await events('preset', 'Scheduled'), []);
    assert.deepEqual(await events('other', 'FailedScheduling'), []);

    // Nowhere to go: each node says why, in upstream's words and order.
    await pod('picky', { nodeSelector: { 'kubernetes.io/hostname': 'notready-1' } });
    assert.equal(await failedMessage('picky'),
      "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, 1 node(s) were unschedulable. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.");
  });

  test('nodeSelector and required node affinity with every operator', async () => {
    await node('aff-1', { labels: { tier: 'gold', rank: '3', ssd: 'true' } });
    await node('aff-2', { labels: { tier: 'silver', rank: '7' } });
    const term = (...matchExpressions: unknown[]) => ({ nodeSelectorTerms: [{ matchExpressions }] });
    const affinity = (required: unknown) => ({ affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: required } } });
    const cases: [string, Record<string, unknown>, string][] = [
      ['sel', { nodeSelector: { tier: 'silver' } }, 'aff-2'],
      ['in', affinity(term({ key: 'tier', operator: 'In', values: ['gold', 'bronze'] })), 'aff-1'],
      ['notin', affinity(term({ key: 'tier', operator: 'NotIn', values: ['gold'] })), 'aff-2'],
      ['exists', affinity(term({ key: 'ssd', operator: 'Exists' })), 'aff-1'],
      ['doesnotexist', affinity(term({ key: 'ssd', operator: 'DoesNotExist' })), 'aff-2'],
      ['gt', affinity(term({ key: 'rank', operator: 'Gt', values: ['5'] })), 'aff-2'],
      ['lt', affinity(term({ key: 'rank', operator: 'Lt', values: ['5'] })), 'aff-1'],
      ['and', affinity(term({ key: 'rank', operator: 'Exists' }, { key: 'tier', operator: 'In', values: ['silver'] })), 'aff-2'],
      ['or', affinity({ nodeSelectorTerms: [
        { matchExpressions: [{ key: 'tier', operator: 'In', values: ['bronze'] }] },
        { matchExpressions: [{ key: 'rank', operator: 'Gt', values: ['6'] }] },
      ] }), 'aff-2'],
      ['fields', affinity({ nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['aff-1'] }] }] }), 'aff-1'],
      ['fields-notin', affinity({ nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'NotIn', values: ['aff-1'] }] }] }), 'aff-2'],
      ['both', { nodeSelector: { ssd: 'true' }, ...affinity(term({ key: 'rank', operator: 'Lt', values: ['4'] })) }, 'aff-1'],
    ];
    for (const [name, spec] of cases) await pod(name, spec);
    for (const [name, , want] of cases) assert.equal(await nodeOf(name), want, name);

    await pod('nowhere', affinity(term({ key: 'tier', operator: 'In', values: ['platinum'] })));
    assert.equal(await failedMessage('nowhere'),
      "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.");
    // Labelling a node is a cluster event that brings the pod back.
    await client.patch('/api/v1/nodes/aff-2', { metadata: { labels: { tier: 'platinum' } } }, 'merge');
    assert.equal(await nodeOf('nowhere'), 'aff-2');
  });

  test('taints and tolerations (NoSchedule, NoExecute; Equal, Exists, empty key, effects)', async () => {
    await node('taint-1', { taints: [{ key: 'dedicated', value: 'infra', effect: 'NoSchedule' }] });
    await node('taint-2', { taints: [{ key: 'maint', effect: 'NoExecute' }] });
    await node('taint-3', { taints: [{ key: 'soft', value: 'x', effect: 'PreferNoSchedule' }] });
    const on = (n: string) => ({ nodeSelector: { 'kubernetes.io/hostname': n } });

    await pod('plain');
    assert.equal(await nodeOf('plain'), 'taint-3');
    await pod('equal', { ...on('taint-1'), tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'infra', effect: 'NoSchedule' }] });
    assert.equal(await nodeOf('equal'), 'taint-1');
    await pod('exists-any', { ...on('taint-2'), tolerations: [{ operator: 'Exists' }] });
    assert.equal(await nodeOf('exists-any'), 'taint-2');
    await pod('key-any-effect', { ...on('taint-2'), tolerations: [{ key: 'maint', operator: 'Exists' }] });
    assert.equal(await nodeOf('key-any-effect'), 'taint-2');

    await pod('wrong-value', { ...on('taint-1'), tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'db', effect: 'NoSchedule' }] });
    assert.equal(await failedMessage('wrong-value'),
      "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated taint {dedicated: infra}, 1 node(s) had untolerated taint {maint: }. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.");
    await pod('wrong-effect', { ...on('taint-2'), tolerations: [{ key: 'maint', operator: 'Exists', effect: 'NoSchedule' }] });
    assert.match(await failedMessage('wrong-effect'), /1 node\(s\) had untolerated taint \{maint: \}/);
    assert.equal((await getPod('wrong-effect')).spec.nodeName, undefined);

    // A toleration for the unschedulable taint also lets a pod onto a cordoned node.
    await node('cordoned-2', { unschedulable: true });
    await pod('tolerates-cordon', { ...on('cordoned-2'), tolerations: [{ key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' }] });
    assert.equal(await nodeOf('tolerates-cordon'), 'cordoned-2');
  });

  test('resource requests against allocatable; FailedScheduling and PodScheduled; a new node helps', async () => {
    await node('small-1', { cpu: '1', memory: '1Gi' });
    await pod('fits', {}, {}, { cpu: '600m', memory: '256Mi' });
    assert.equal(await nodeOf('fits'), 'small-1');
    await pod('too-big', {}, {}, { cpu: '600m', memory: '256Mi' });
    const want = '0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.';
    assert.equal(await failedMessage('too-big'), want);
    const cond = await waitFor('PodScheduled=False', async () =>
      (await getPod('too-big')).status?.conditions?.find((x: any) => x.type === 'PodScheduled' && x.status === 'False'));
    assert.equal(cond.reason, 'Unschedulable');
    assert.equal(cond.message, want);
    const describe = await c.k('describe', 'pod', 'too-big');
    assert.ok(describe.split('\n').some((l) => /^\s+Warning\s+FailedScheduling\s+\S+\s+default-scheduler\s+/.test(l) && l.endsWith(want)), describe);
    assert.match(describe, /PodScheduled\s+False/);
    assert.match(await c.k('get', 'pod', 'too-big'), /too-big\s+0\/1\s+Pending/);

    await pod('greedy', {}, {}, { memory: '2Gi', cpu: '2' });
    assert.equal(await failedMessage('greedy'),
      '0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.');

    await node('small-2', { cpu: '1', memory: '1Gi' });
    assert.equal(await nodeOf('too-big'), 'small-2');
  });

  test('pods bound but not yet seen bound count on their node (assumed pods)', async () => {
    // Both nodes start NotReady, so the pods wait; when half-1 becomes Ready all four are placed
    // in one go, before the informer can show any binding: only the scheduler's own accounting
    // of the pods it has just bound keeps more than two off half-1.
    await node('half-1', { cpu: '1', ready: 'False' });
    await node('half-2', { cpu: '1', ready: 'False' });
    const names = ['half-a', 'half-b', 'half-c', 'half-d'];
    for (const n of names) await pod(n, {}, {}, { cpu: '500m' });
    for (const n of names) await failedMessage(n);
    // Past their first back-off (1 s), so that the node event sends all four to be scheduled at once.
    await sleep(1500);
    const ready = { status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', lastHeartbeatTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') }] } };
    await client.patch('/api/v1/nodes/half-1/status', ready, 'strategic');
    await waitFor('two pods on half-1', async () => (await Promise.all(names.map(getPod))).filter((p) => p.spec.nodeName).length >= 2);
    await client.patch('/api/v1/nodes/half-2/status', ready, 'strategic');
    const placed = await Promise.all(names.map((n) => nodeOf(n)));
    assert.deepEqual(placed.sort(), ['half-1', 'half-1', 'half-2', 'half-2']);
  });

  test('pod count and host ports', async () => {
    await node('count-1', { pods: '1' });
    await pod('first');
    assert.equal(await nodeOf('first'), 'count-1');
    await pod('second');
    assert.equal(await failedMessage('second'),
      '0/1 nodes are available: 1 Too many pods. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.');
    // Deleting the first pod frees the slot.
    await client.delete(`${PODS}/first`, { gracePeriodSeconds: 0 });
    assert.equal(await nodeOf('second'), 'count-1');
    await cleanup();

    await node('port-1');
    await node('port-2');
    const hostPort = [{ containerPort: 80, hostPort: 8080 }];
    await pod('hp-a', {}, {}, undefined, hostPort);
    await pod('hp-b', {}, {}, undefined, hostPort);
    await pod('hp-udp', {}, {}, undefined, [{ containerPort: 53, hostPort: 8080, protocol: 'UDP' }]);
    const [a, b] = [await nodeOf('hp-a'), await nodeOf('hp-b')];
    assert.notEqual(a, b);
    await nodeOf('hp-udp');
    await pod('hp-c', {}, {}, undefined, hostPort);
    assert.equal(await failedMessage('hp-c'),
      "0/2 nodes are available: 2 node(s) didn't have free ports for the requested pod ports. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.");
  });

  test('replicas of one ReplicaSet or Service spread across nodes', async () => {
    await node('spread-1');
    await node('spread-2');
    const rs = await client.create<any>(`/apis/apps/v1/namespaces/${NS}/replicasets`, {
      metadata: { name: 'web-5d8c7b9f4' },
      spec: { replicas: 3, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } },
    });
    const owned = { labels: { app: 'web' }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rs.metadata.name, uid: rs.metadata.uid, controller: true, blockOwnerDeletion: true }] };
    const count = async (names: string[]) => {
      const byNode = new Map<string, number>();
      for (const n of names) {
        const where = await nodeOf(n);
        byNode.set(where, (byNode.get(where) ?? 0) + 1);
      }
      return [...byNode.values()].sort();
    };
    // One at a time, as a ReplicaSet controller creates them, and all at once.
    for (const n of ['web-1', 'web-2', 'web-3']) {
      await pod(n, {}, owned);
      await nodeOf(n);
    }
    assert.deepEqual(await count(['web-1', 'web-2', 'web-3']), [1, 2]);

    await node('spread-3');
    await Promise.all(['web-4', 'web-5', 'web-6'].map((n) => pod(n, {}, owned)));
    assert.deepEqual(await count(['web-1', 'web-2', 'web-3', 'web-4', 'web-5', 'web-6']), [2, 2, 2]);

    // Pods a Service selects spread the same way.
    await client.create(`/api/v1/namespaces/${NS}/services`, { metadata: { name: 'api' }, spec: { selector: { app: 'api' }, ports: [{ port: 80 }] } });
    const api = ['api-1', 'api-2', 'api-3', 'api-4', 'api-5', 'api-6'];
    await Promise.all(api.map((n) => pod(n, {}, { labels: { app: 'api' } })));
    assert.deepEqual(await count(api), [2, 2, 2]);
    await client.delete(`/api/v1/namespaces/${NS}/services/api`);
    await client.delete(`/apis/apps/v1/namespaces/${NS}/replicasets/${rs.metadata.name}`);
  });

  test('topologySpreadConstraints: DoNotSchedule filters with upstream message', async () => {
    await node('zone-a1', { labels: { 'topology.kubernetes.io/zone': 'a' } });
    await node('zone-b1', { labels: { 'topology.kubernetes.io/zone': 'b' } });
    const spec = {
      topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { app: 'db' } } }],
      affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: ['zone-a1'] }] }] } } },
    };
    await pod('db-1', spec, { labels: { app: 'db' } });
    assert.equal(await nodeOf('db-1'), 'zone-a1');
    // Zone a already has one more than zone b: a second pod there would make the skew 2. Zone b
    // counts although this pod may not go there because nodeAffinityPolicy is Ignore.
    const constraint = { ...spec.topologySpreadConstraints[0], nodeAffinityPolicy: 'Ignore' };
    await pod('db-2', { topologySpreadConstraints: [constraint], nodeSelector: { 'topology.kubernetes.io/zone': 'a' } }, { labels: { app: 'db' } });
    assert.equal(await failedMessage('db-2'),
      "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) didn't match pod topology spread constraints. preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling.");
    // Free to go anywhere, the next replica goes to the emptier zone.
    await pod('db-3', { topologySpreadConstraints: spec.topologySpreadConstraints }, { labels: { app: 'db' } });
    assert.equal(await nodeOf('db-3'), 'zone-b1');
  });

  test('a higher-priority pod preempts a lower-priority one', async () => {
    await node('prio-1', { cpu: '1' });
    await pod('low', {}, {}, { cpu: '600m' });
    assert.equal(await nodeOf('low'), 'prio-1');
    const high = await pod('high', { priorityClassName: 'system-cluster-critical' }, {}, { cpu: '600m' });
    // The victim is asked to go; with no kubelet here, the test confirms its deletion.
    const victim = await waitFor('the victim to be deleted', async () => {
      const p = await getPod('low').catch(() => undefined);
      return p?.metadata.deletionTimestamp ? p : (p === undefined ? { gone: true } : undefined);
    });
    if (!victim.gone) {
      assert.equal(victim.status.conditions.find((x: any) => x.type === 'DisruptionTarget')?.reason, 'PreemptionByScheduler');
      await client.delete(`${PODS}/low`, { gracePeriodSeconds: 0 }).catch(() => undefined);
    }
    const preempted = await waitFor('Preempted event', async () => (await events('low', 'Preempted'))[0]);
    assert.equal(preempted.message, `Preempted by pod ${high.metadata.uid} on node prio-1`);
    assert.equal(await nodeOf('high'), 'prio-1');
    assert.equal((await getPod('high')).status.nominatedNodeName, 'prio-1');
  });
});

describe('scheduler building blocks (upstream cases)', () => {
  test('toleration matching', () => {
    const taint = { key: 'k', value: 'v', effect: 'NoSchedule' as const };
    const cases: [Record<string, string>, boolean][] = [
      [{ key: 'k', operator: 'Equal', value: 'v', effect: 'NoSchedule' }, true],
      [{ key: 'k', value: 'v' }, true], // empty operator means Equal, empty effect matches all
      [{ key: 'k', operator: 'Equal', value: 'w' }, false],
      [{ key: 'k', operator: 'Exists' }, true],
      [{ operator: 'Exists' }, true], // empty key with Exists tolerates everything
      [{ operator: 'Exists', effect: 'NoExecute' }, false],
      [{ key: 'other', operator: 'Exists' }, false],
      [{ key: 'k', operator: 'Gt', value: '1' }, false], // not an operator in 1.32
    ];
    for (const [t, want] of cases) assert.equal(toleratesTaint(t, taint), want, JSON.stringify(t));
  });

  test('node selector terms: operators, invalid terms never match, empty terms are skipped', () => {
    const node = { name: 'n1', labels: { rank: '7', tier: 'gold' } };
    const match = (terms: unknown[], nodeSelector?: Record<string, string>) =>
      RequiredNodeAffinity.of({ spec: { containers: [], nodeSelector, affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms as any } } } } })!.matches(node);
    assert.equal(match([{ matchExpressions: [{ key: 'rank', operator: 'Gt', values: ['6'] }] }]), true);
    assert.equal(match([{ matchExpressions: [{ key: 'rank', operator: 'Gt', values: ['7'] }] }]), false);
    assert.equal(match([{ matchExpressions: [{ key: 'rank', operator: 'Gt', values: ['x'] }] }]), false);
    assert.equal(match([{ matchExpressions: [{ key: 'rank', operator: 'Lt', values: ['8', '9'] }] }]), false);
    assert.equal(match([{ matchExpressions: [{ key: 'tier', operator: 'In', values: [] }] }]), false);
    assert.equal(match([{ matchExpressions: [{ key: 'tier', operator: 'Exists', values: ['gold'] }] }]), false);
    assert.equal(match([{ matchExpressions: [{ key: 'tier', operator: 'Bogus', values: ['gold'] }] }, { matchExpressions: [{ key: 'tier', operator: 'In', values: ['gold'] }] }]), true);
    assert.equal(match([{}]), false);
    assert.equal(match([{}, { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n1'] }] }]), true);
    assert.equal(match([{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n1', 'n2'] }] }]), false);
    assert.equal(match([{ matchExpressions: [{ key: 'tier', operator: 'In', values: ['gold'] }] }], { rank: '8' }), false);
  });

  test('FailedScheduling wording: histogram sorted as strings, absent nodes, pre-filter message', () => {
    const d = newDiagnosis(12);
    for (let i = 0; i < 10; i++) d.statuses.set(`a${i}`, { code: 'Unschedulable', reasons: ['Insufficient cpu', 'Insufficient memory'], plugin: 'NodeResourcesFit' });
    d.statuses.set('b', { code: 'UnschedulableAndUnresolvable', reasons: ['node(s) had untolerated taint {k: v}'], plugin: 'TaintToleration' });
    d.absent = { code: 'UnschedulableAndUnresolvable', reasons: ["node(s) didn't satisfy plugin(s) [NodeAffinity]"], plugin: 'NodeAffinity' };
    assert.equal(fitErrorMessage(d, 'preemption: x.'),
      "0/12 nodes are available: 1 node(s) didn't satisfy plugin(s) [NodeAffinity], 1 node(s) had untolerated taint {k: v}, 10 Insufficient cpu, 10 Insufficient memory. preemption: x.");
    const pre = newDiagnosis(3);
    pre.preFilterMsg = 'pod affinity terms conflict';
    assert.equal(fitErrorMessage(pre), '0/3 nodes are available: pod affinity terms conflict.');
  });

  test('how many feasible nodes are enough (percentageOfNodesToScore)', () => {
    assert.equal(numFeasibleNodesToFind(50), 50);
    assert.equal(numFeasibleNodesToFind(100), 100);
    assert.equal(numFeasibleNodesToFind(1000), 420);
    assert.equal(numFeasibleNodesToFind(5000), 500);
    assert.equal(numFeasibleNodesToFind(20000), 1000);
    assert.equal(numFeasibleNodesToFind(150), 100);
  });

  test('quantities and requests as the scheduler counts them', () => {
    assert.equal(quantityValue('100m', true), 100);
    assert.equal(quantityValue('1.5', true), 1500);
    assert.equal(quantityValue('1Gi'), 1024 ** 3);
    assert.equal(quantityValue('0.5'), 1); // Value() rounds up
    const pod = {
      spec: {
        containers: [{ name: 'a', image: 'x', resources: { requests: { cpu: '100m' } } }, { name: 'b', image: 'x' }],
        initContainers: [
          { name: 'side', image: 'x', restartPolicy: 'Always', resources: { requests: { cpu: '50m', memory: '10Mi' } } },
          { name: 'init', image: 'x', resources: { requests: { cpu: '1', memory: '1Mi' } } },
        ],
        overhead: { cpu: '10m' },
      },
    };
    // Regular + sidecar = 150m; the init container runs next to the sidecar = 1050m (11Mi); plus overhead.
    assert.deepEqual(podRequests(pod as any), { milliCPU: 1060, memory: 11 * 1024 * 1024, ephemeralStorage: 0 });
    // Containers without a request count 100m / 200Mi when scoring.
    assert.equal(podRequests(pod as any, true).memory, 200 * 1024 * 1024 + 200 * 1024 * 1024 + 10 * 1024 * 1024);
  });
});
