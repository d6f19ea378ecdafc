// The node agent (src/node/agent.ts) with the sim runtime and the node IPAM controller, against a
// real server: Nodes and Leases as a kubelet keeps them, pods bound to a node running with IPs
// from its podCIDR, graceful deletion, readiness gates, init containers, restart policies, and an
// agent restart that adopts its running pods. Checked through the API and the real kubectl.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import type { Cluster } from './helpers/cluster.js';
import { startAgentCluster, PODS, type AgentCluster } from './helpers/node-agents.js';
import { until } from './helpers/wait.js';
import type { RestClient, WatchHandle } from '../src/client/rest.js';
import type { ControllerContext } from '../src/client/factory.js';
import { BOUND_PODS, type NodeAgent, type NodeAgentOptions } from '../src/node/agent.js';
import { IPAMExhaustedError, PodIPAM, ipv4ToInt, parseCIDR4 } from '../src/node/ipam.js';

function inCIDR(ip: string, cidr: string): boolean {
  const c = parseCIDR4(cidr);
  const n = ipv4ToInt(ip)!;
  return n >= c.base && n < c.base + c.size;
}

describe('pod IPAM', () => {
  test('skips the network, gateway and broadcast addresses and hands out addresses round-robin', () => {
    const ipam = new PodIPAM('127.250.0.0/29');
    assert.equal(ipam.capacity, 5);
    assert.equal(ipam.gateway, '127.250.0.1');
    const ips = ['a', 'b', 'c', 'd', 'e'].map((o) => ipam.allocate(o));
    assert.deepEqual(ips, ['127.250.0.2', '127.250.0.3', '127.250.0.4', '127.250.0.5', '127.250.0.6']);
    assert.equal(ipam.allocate('a'), '127.250.0.2', 'an owner keeps its address');
    assert.throws(() => ipam.allocate('f'), (e: unknown) => e instanceof IPAMExhaustedError && /no IP addresses available in range set: 127\.250\.0\.2-127\.250\.0\.6/.test((e as Error).message));
    ipam.release('b');
    assert.equal(ipam.allocate('f'), '127.250.0.3');
  });

  test('a rebuilt allocator keeps the addresses live pods hold and continues after them', () => {
    const ipam = new PodIPAM('127.244.3.0/24');
    assert.equal(ipam.reserve('127.244.3.7', 'x'), true);
    assert.equal(ipam.reserve('127.244.3.7', 'y'), false, 'one address, one pod');
    assert.equal(ipam.reserve('127.244.4.7', 'y'), false, 'outside the range');
    assert.equal(ipam.reserve('127.244.3.1', 'y'), false, 'the gateway');
    assert.equal(ipam.allocate('y'), '127.244.3.8');
  });
});

describe('node agent (sim runtime)', () => {
  let h: AgentCluster;
  let c: Cluster;
  let client: RestClient;
  let ctx: ControllerContext;
  const agents = new Map<string, NodeAgent>();

  async function startAgent(opts: Partial<Omit<NodeAgentOptions, 'client'>> & { nodeName: string }): Promise<NodeAgent> {
    const agent = await h.startAgent({
      leaseRenewIntervalMs: 1000,
      sim: { startDelayMs: 400, startJitterMs: 0, initRunMs: 300, backoffBaseMs: 300 },
      ...opts,
    });
    agents.set(opts.nodeName, agent);
    return agent;
  }

  const pod = (name: string, spec: Record<string, unknown>, meta: Record<string, unknown> = {}) => ({
    metadata: { name, ...meta },
    spec: { containers: [{ name: 'nginx', image: 'nginx' }], ...spec },
  });

  const getPod = (name: string) => h.getPod(name);
  /** Watch one pod from a listed revision: a watch opened "now" can miss the states before it registers. */
  async function watchPod(name: string, onEvent: (ev: any) => void): Promise<WatchHandle> {
    const fieldSelector = `metadata.name=${name}`;
    const listed = await client.get<any>(PODS, { fieldSelector });
    return client.watch<any>(PODS, { fieldSelector, resourceVersion: listed.metadata.resourceVersion }, onEvent);
  }
  const runningReady = (name: string) => h.runningReady(name);

  before(async () => {
    h = await startAgentCluster({ userAgent: 'node-agent-test' });
    ({ c, client, ctx } = h);
    await startAgent({ nodeName: 'node01' });
    await startAgent({ nodeName: 'node02' });
    // node03's containers ignore the request to stop: they are killed when the grace period ends.
    await startAgent({ nodeName: 'node03', sim: { startDelayMs: 100, startJitterMs: 0, stopDelayMs: 3_600_000 } });
  });

  after(async () => {
    await h?.stop();
  });

  test('nodes are registered Ready with distinct podCIDRs, as kubectl get nodes -o wide shows them', async () => {
    await until(async () => {
      const out = await c.k('get', 'nodes', '--no-headers');
      return out.trim().split('\n').filter((l) => /^node0[123]\s+Ready\s/.test(l)).length === 3;
    }, 'nodes Ready');
    const wide = await c.k('get', 'nodes', '-o', 'wide');
    const lines = wide.trim().split('\n');
    assert.match(lines[0]!, /^NAME\s+STATUS\s+ROLES\s+AGE\s+VERSION\s+INTERNAL-IP\s+EXTERNAL-IP\s+OS-IMAGE\s+KERNEL-VERSION\s+CONTAINER-RUNTIME$/);
    const row = lines.find((l) => l.startsWith('node01 '))!;
    const cols = row.split(/\s{3,}/);
    assert.equal(cols[1], 'Ready');
    assert.equal(cols[2], '<none>');
    assert.equal(cols[4], 'v1.32.4');
    assert.equal(cols[5], '127.0.0.1');
    assert.equal(cols[6], '<none>');
    assert.equal(cols[8], os.release());
    assert.equal(cols[9], 'kubelite-sim://0.1.0');

    const nodes = (await client.get<any>('/api/v1/nodes')).items.filter((n: any) => /^node0[123]$/.test(n.metadata.name));
    const cidrs = nodes.map((n: any) => n.spec.podCIDR);
    assert.equal(new Set(cidrs).size, 3, `distinct podCIDRs: ${cidrs}`);
    for (const n of nodes) {
      assert.ok(inCIDR(n.spec.podCIDR.split('/')[0], '127.244.0.0/16'), n.spec.podCIDR);
      assert.match(n.spec.podCIDR, /\/24$/);
      assert.deepEqual(n.spec.podCIDRs, [n.spec.podCIDR]);
      assert.equal(n.metadata.labels['kubernetes.io/hostname'], n.metadata.name);
      assert.equal(n.metadata.labels['kubernetes.io/os'], 'linux');
      assert.deepEqual(n.status.addresses, [{ type: 'InternalIP', address: '127.0.0.1' }, { type: 'Hostname', address: n.metadata.name }]);
      assert.equal(n.status.capacity.pods, '110');
      assert.equal(n.status.capacity.cpu, '4');
      assert.equal(n.status.allocatable.memory, '8092Mi'); // 8Gi less the 100Mi eviction threshold
      assert.equal(n.status.nodeInfo.kubeletVersion, 'v1.32.4');
      assert.ok(n.status.daemonEndpoints.kubeletEndpoint.Port > 0, 'the agent reports the port of its log endpoint');
      const byType = Object.fromEntries(n.status.conditions.map((x: any) => [x.type, x]));
      assert.equal(byType.Ready.status, 'True');
      assert.equal(byType.Ready.reason, 'KubeletReady');
      assert.equal(byType.Ready.message, 'kubelet is posting ready status');
      for (const t of ['MemoryPressure', 'DiskPressure', 'PIDPressure']) assert.equal(byType[t].status, 'False');
      assert.equal(n.spec.taints, undefined, 'no taints once ready');
    }
    // The NodeReady Event is its own write, unordered with the node's status: wait for it.
    const describe = await until(async () => {
      const d = await c.k('describe', 'node', 'node01');
      return /Normal\s+NodeReady\s+.*kubelet\s+Node node01 status is now: NodeReady/.test(d) && d;
    }, 'describe node01 showing the NodeReady event');
    assert.match(describe, /PodCIDR:\s+127\.244\.\d+\.0\/24/);
    assert.match(describe, /Container Runtime Version:\s+kubelite-sim:\/\/0\.1\.0/);
    assert.match(describe, /HolderIdentity:\s+node01/);
  });

  test('each node renews its Lease in kube-node-lease', async () => {
    const path = '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node01';
    const first = await client.get<any>(path);
    assert.equal(first.spec.holderIdentity, 'node01');
    assert.equal(first.spec.leaseDurationSeconds, 40);
    const node = await client.get<any>('/api/v1/nodes/node01');
    assert.deepEqual(first.metadata.ownerReferences, [{ apiVersion: 'v1', kind: 'Node', name: 'node01', uid: node.metadata.uid }]);
    const renewed = await until(async () => {
      const l = await client.get<any>(path);
      return l.spec.renewTime !== first.spec.renewTime && l;
    }, 'a lease renewal');
    assert.ok(Date.parse(renewed.spec.renewTime) > Date.parse(first.spec.renewTime));
  });

  test('a pod created on a node runs there: ContainerCreating, then Running and Ready with an IP from its podCIDR', async () => {
    // Watch the pod's updates to see the states it passes through.
    const seen: any[] = [];
    const watch: WatchHandle = await watchPod('web', (ev) => seen.push(ev.object));
    try {
      await client.create(PODS, pod('web', { nodeName: 'node01' }));
      const p = await until(() => runningReady('web'), 'web Running');
      const node = await client.get<any>('/api/v1/nodes/node01');
      assert.ok(inCIDR(p.status.podIP, node.spec.podCIDR), `${p.status.podIP} in ${node.spec.podCIDR}`);
      assert.ok(!p.status.podIP.endsWith('.0') && !p.status.podIP.endsWith('.1'), 'network and gateway addresses are never handed out');
      assert.deepEqual(p.status.podIPs, [{ ip: p.status.podIP }]);
      assert.equal(p.status.hostIP, '127.0.0.1');
      assert.deepEqual(p.status.hostIPs, [{ ip: '127.0.0.1' }]);
      assert.ok(p.status.startTime);
      assert.deepEqual(p.status.conditions.map((x: any) => [x.type, x.status]),
        [['PodReadyToStartContainers', 'True'], ['Initialized', 'True'], ['Ready', 'True'], ['ContainersReady', 'True'], ['PodScheduled', 'True']]);
      const cs = p.status.containerStatuses[0];
      assert.match(cs.containerID, /^kubelite-sim:\/\/[0-9a-f]{64}$/);
      assert.equal(cs.image, 'docker.io/library/nginx:latest');
      assert.match(cs.imageID, /^docker\.io\/library\/nginx@sha256:[0-9a-f]{64}$/);
      assert.ok(cs.state.running.startedAt);
      assert.equal(cs.ready, true);
      assert.equal(cs.started, true);
      assert.equal(cs.restartCount, 0);
      assert.ok(seen.some((o) => o.status?.phase === 'Pending' && o.status.containerStatuses?.[0]?.state?.waiting?.reason === 'ContainerCreating'),
        'the pod showed ContainerCreating before it ran');
      const wide = await c.k('get', 'pod', 'web', '-o', 'wide', '--no-headers');
      const cols = wide.trim().split(/\s{3,}/);
      assert.equal(cols[1], '1/1');
      assert.equal(cols[2], 'Running');
      assert.equal(cols[5], p.status.podIP);
      assert.equal(cols[6], 'node01');
      // The Started Event is its own write, unordered with the pod's status: wait for it.
      await until(async () => /Normal\s+Started\s+.*kubelet\s+Started container nginx/.test(await c.k('describe', 'pod', 'web')), 'describe web showing the Started event');
    } finally {
      watch.stop();
    }
  });

  test('a pod bound through pods/binding runs on that node', async () => {
    await client.create(PODS, pod('bound', {}));
    await client.create(`${PODS}/bound/binding`, { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'bound' }, target: { apiVersion: 'v1', kind: 'Node', name: 'node02' } });
    const p = await until(() => runningReady('bound'), 'bound Running');
    const node = await client.get<any>('/api/v1/nodes/node02');
    assert.ok(inCIDR(p.status.podIP, node.spec.podCIDR));
  });

  test('pods never share an IP, and replacements get new IPs', async () => {
    const names = Array.from({ length: 24 }, (_, i) => `churn-${i}`);
    await Promise.all(names.map((n, i) => client.create(PODS, pod(n, { nodeName: i % 2 ? 'node01' : 'node02', terminationGracePeriodSeconds: 0 }))));
    const running = await Promise.all(names.map((n) => until(() => runningReady(n), `${n} Running`)));
    const firstIPs = new Set(running.map((p: any) => p.status.podIP));
    assert.equal(firstIPs.size, names.length);
    // Delete half and create as many new ones while the old ones go.
    await Promise.all(names.slice(0, 12).map((n) => client.delete(`${PODS}/${n}`)));
    const fresh = Array.from({ length: 12 }, (_, i) => `churn-new-${i}`);
    await Promise.all(fresh.map((n, i) => client.create(PODS, pod(n, { nodeName: i % 2 ? 'node01' : 'node02' }))));
    const newPods = await Promise.all(fresh.map((n) => until(() => runningReady(n), `${n} Running`)));
    for (const p of newPods) assert.ok(!firstIPs.has(p.status.podIP), `${p.metadata.name} got a new IP (${p.status.podIP})`);
    await until(async () => {
      const items = (await client.get<any>(PODS)).items;
      return !items.some((p: any) => names.slice(0, 12).includes(p.metadata.name));
    }, 'deleted pods gone');
    const live = (await client.get<any>(PODS)).items.filter((p: any) => p.status?.podIP && p.status.phase === 'Running');
    const ips = live.map((p: any) => p.status.podIP);
    assert.equal(new Set(ips).size, ips.length, `live pods have distinct IPs: ${ips.join(' ')}`);
  });

  test('kubectl delete: the containers stop, the final status is posted, then the pod is gone', async () => {
    await client.create(PODS, pod('quick', { nodeName: 'node02' }));
    await until(() => runningReady('quick'), 'quick Running');
    const seen: any[] = [];
    const watch = await watchPod('quick', (ev) => seen.push(ev));
    try {
      const out = await c.k('delete', 'pod', 'quick');
      assert.equal(out.trim(), 'pod "quick" deleted');
      await until(async () => seen.some((e) => e.type === 'DELETED'), 'the DELETED event');
      const last = seen.filter((e) => e.type === 'MODIFIED').at(-1).object;
      assert.ok(last.metadata.deletionTimestamp);
      assert.equal(last.status.phase, 'Succeeded');
      assert.equal(last.status.containerStatuses[0].state.terminated.exitCode, 0);
      assert.equal(last.status.containerStatuses[0].state.terminated.reason, 'Completed');
    } finally {
      watch.stop();
    }
  });

  test('a container that ignores SIGTERM keeps the pod Terminating for its grace period, then it is killed', async () => {
    await client.create(PODS, pod('slow', { nodeName: 'node03', terminationGracePeriodSeconds: 3 }));
    await until(() => runningReady('slow'), 'slow Running');
    const seen: any[] = [];
    const watch = await watchPod('slow', (ev) => seen.push(ev));
    try {
      await client.delete(`${PODS}/slow`);
      const row = await c.k('get', 'pod', 'slow', '--no-headers');
      assert.match(row, /^slow\s+1\/1\s+Terminating\s/);
      const p = await getPod('slow');
      assert.equal(p.metadata.deletionGracePeriodSeconds, 3);
      const deleted = await until(async () => seen.find((e) => e.type === 'DELETED'), 'slow gone', 20_000);
      const last = seen.filter((e) => e.type === 'MODIFIED').at(-1).object;
      assert.equal(last.status.phase, 'Failed');
      assert.equal(last.status.containerStatuses[0].state.terminated.exitCode, 137);
      assert.ok(Date.parse(deleted.object.metadata.deletionTimestamp) <= Date.now());
      // The event is a write of its own, not ordered with the pod's deletion: wait for it.
      const events = await until(async () => {
        const items = (await client.get<any>('/api/v1/namespaces/default/events', { fieldSelector: 'involvedObject.name=slow,reason=Killing' })).items;
        return items.length > 0 && items;
      }, 'the Killing event');
      assert.equal(events[0].message, 'Stopping container nginx');
    } finally {
      watch.stop();
    }
  });

  test('readiness gates: Ready only when every gate condition is True', async () => {
    await client.create(PODS, pod('gated', { nodeName: 'node01', readinessGates: [{ conditionType: 'example.com/lb-ready' }] }));
    const p = await until(async () => {
      const x = await getPod('gated');
      return x.status?.phase === 'Running' && x;
    }, 'gated Running');
    const ready = p.status.conditions.find((x: any) => x.type === 'Ready');
    assert.equal(ready.status, 'False');
    assert.equal(ready.reason, 'ReadinessGatesNotReady');
    assert.equal(ready.message, 'corresponding condition of pod readiness gate "example.com/lb-ready" does not exist.');
    assert.equal(p.status.conditions.find((x: any) => x.type === 'ContainersReady').status, 'True');
    let cols = (await c.k('get', 'pod', 'gated', '-o', 'wide', '--no-headers')).trim().split(/\s{3,}/);
    assert.equal(cols.at(-1), '0/1');

    await c.k('patch', 'pod', 'gated', '--subresource=status', '--type=strategic', '-p',
      JSON.stringify({ status: { conditions: [{ type: 'example.com/lb-ready', status: 'False' }] } }));
    await until(async () => (await getPod('gated')).status.conditions.find((x: any) => x.type === 'Ready').message === 'the status of pod readiness gate "example.com/lb-ready" is not "True", but False', 'gate message updated');

    await c.k('patch', 'pod', 'gated', '--subresource=status', '--type=strategic', '-p',
      JSON.stringify({ status: { conditions: [{ type: 'example.com/lb-ready', status: 'True' }] } }));
    const readyPod = await until(() => runningReady('gated'), 'gated Ready');
    // The gate's condition is kept, ahead of the kubelet's own.
    assert.equal(readyPod.status.conditions[0].type, 'example.com/lb-ready');
    cols = (await c.k('get', 'pod', 'gated', '-o', 'wide', '--no-headers')).trim().split(/\s{3,}/);
    assert.equal(cols.at(-1), '1/1');
  });

  test('init containers run to completion before the containers start', async () => {
    const seen: any[] = [];
    const watch = await watchPod('with-init', (ev) => seen.push(ev.object));
    try {
      await client.create(PODS, pod('with-init', {
        nodeName: 'node02',
        initContainers: [{ name: 'setup', image: 'busybox' }, { name: 'migrate', image: 'busybox' }],
      }));
      const p = await until(() => runningReady('with-init'), 'with-init Running');
      for (const s of p.status.initContainerStatuses) {
        assert.equal(s.state.terminated.reason, 'Completed');
        assert.equal(s.state.terminated.exitCode, 0);
      }
      assert.deepEqual(p.status.initContainerStatuses.map((s: any) => s.name), ['setup', 'migrate']);
      // While the first init container ran, nothing else did.
      const early = seen.find((o) => o.status?.initContainerStatuses?.[0]?.state?.running);
      assert.ok(early, 'saw the first init container running');
      assert.ok(!early.status.initContainerStatuses[1].state.running);
      assert.equal(early.status.containerStatuses[0].state.waiting.reason, 'PodInitializing');
      assert.equal(early.status.conditions.find((x: any) => x.type === 'Initialized').message, 'containers with incomplete status: [setup migrate]');
    } finally {
      watch.stop();
    }
  });

  test('restart policy: Never completes, OnFailure restarts a failing container with back-off', async () => {
    await client.create(PODS, pod('job-like', { nodeName: 'node01', restartPolicy: 'Never' }, { annotations: { 'sim.kubelite.io/exit': 'nginx=300ms:0' } }));
    await until(async () => (await getPod('job-like')).status?.phase === 'Succeeded', 'job-like Succeeded');
    const row = await c.k('get', 'pod', 'job-like', '--no-headers');
    assert.match(row, /^job-like\s+0\/1\s+Completed\s+0\s/);

    await client.create(PODS, pod('crashy', { nodeName: 'node01', restartPolicy: 'OnFailure' }, { annotations: { 'sim.kubelite.io/exit': 'nginx=200ms:1' } }));
    const p = await until(async () => {
      const x = await getPod('crashy');
      return x.status?.containerStatuses?.[0]?.restartCount >= 2 && x;
    }, 'crashy restarted twice');
    assert.equal(p.status.phase, 'Running');
    assert.equal(p.status.containerStatuses[0].lastState.terminated.exitCode, 1);
    await until(async () => /CrashLoopBackOff/.test(await c.k('get', 'pod', 'crashy', '--no-headers')), 'CrashLoopBackOff shown');
  });

  test('activeDeadlineSeconds: the pod is stopped and fails with DeadlineExceeded', async () => {
    await client.create(PODS, pod('deadline', { nodeName: 'node02', activeDeadlineSeconds: 1 }));
    // As upstream's kubelet, the pod is reported Failed only once its container has ended: the
    // first Failed seen already carries the terminated container.
    const p = await until(async () => {
      const x = await getPod('deadline');
      return x.status?.phase === 'Failed' && x;
    }, 'deadline Failed');
    assert.ok(p.status.containerStatuses?.[0]?.state?.terminated, `Failed with its container ${JSON.stringify(p.status.containerStatuses?.[0]?.state)}`);
    assert.equal(p.status.reason, 'DeadlineExceeded');
    assert.equal(p.status.message, 'Pod was active on the node longer than the specified deadline');
    assert.equal(p.status.containerStatuses[0].state.terminated?.exitCode, 0, 'its container was stopped');
  });

  test('a node out of pod IPs leaves new pods ContainerCreating until an IP is released', async () => {
    // A node registered with a /29 (five pod IPs) before its agent starts, as with kubelet --pod-cidr.
    await client.create('/api/v1/nodes', { metadata: { name: 'tiny' }, spec: { podCIDR: '127.250.0.0/29' } });
    await startAgent({ nodeName: 'tiny' });
    const names = Array.from({ length: 6 }, (_, i) => `tiny-${i}`);
    for (const n of names.slice(0, 5)) await client.create(PODS, pod(n, { nodeName: 'tiny', terminationGracePeriodSeconds: 0 }));
    await Promise.all(names.slice(0, 5).map((n) => until(() => runningReady(n), `${n} Running`)));
    await client.create(PODS, pod('tiny-5', { nodeName: 'tiny' }));
    const events = await until(async () => {
      const e = (await client.get<any>('/api/v1/namespaces/default/events', { fieldSelector: 'involvedObject.name=tiny-5,reason=FailedCreatePodSandBox' })).items;
      return e.length > 0 && e;
    }, 'FailedCreatePodSandBox');
    assert.match(events[0].message, /no IP addresses available in range set: 127\.250\.0\.2-127\.250\.0\.6/);
    // The event and the status are separate writes with no order between them (as the kubelet's).
    const waiting = await until(async () => {
      const p = await getPod('tiny-5');
      return p.status?.containerStatuses?.length > 0 && p;
    }, 'tiny-5 status written');
    assert.equal(waiting.status.phase, 'Pending');
    assert.equal(waiting.status.containerStatuses[0].state.waiting.reason, 'ContainerCreating');
    assert.equal(waiting.status.podIP, undefined);
    const freed = (await getPod('tiny-2')).status.podIP;
    await client.delete(`${PODS}/tiny-2`);
    const p = await until(() => runningReady('tiny-5'), 'tiny-5 Running');
    assert.equal(p.status.podIP, freed);
    const live = await Promise.all(['tiny-0', 'tiny-1', 'tiny-3', 'tiny-4', 'tiny-5'].map(getPod));
    assert.equal(new Set(live.map((x) => x.status.podIP)).size, 5);
  });

  test('agents can share one pod informer', async () => {
    await startAgent({ nodeName: 'node04', sharedPods: ctx.informers.informer('pods') });
    await client.create(PODS, pod('shared', { nodeName: 'node04' }));
    const p = await until(() => runningReady('shared'), 'shared Running');
    const node = await client.get<any>('/api/v1/nodes/node04');
    assert.ok(inCIDR(p.status.podIP, node.spec.podCIDR));
  });

  test('agents can share an informer of bound pods only (as `up` runs them): a pod bound later runs', async () => {
    const bound = ctx.informers.selectedInformer<any>('pods', 'bound', BOUND_PODS);
    await startAgent({ nodeName: 'node05', sharedPods: bound });
    await client.create(PODS, pod('bound-later', {}));
    // The pending pod's events are dropped unparsed: the informer never holds it.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(bound.get('default/bound-later'), undefined);
    await client.create(`${PODS}/bound-later/binding`, { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'bound-later' }, target: { apiVersion: 'v1', kind: 'Node', name: 'node05' } });
    const p = await until(() => runningReady('bound-later'), 'bound-later Running');
    assert.equal(p.spec.nodeName, 'node05');
    assert.equal(bound.get('default/bound-later')?.spec.nodeName, 'node05');
    await client.delete(`${PODS}/bound-later`);
    await until(async () => bound.get('default/bound-later') === undefined, 'bound-later gone from the informer');
  });

  test('an agent that restarts adopts its running pods: same containers, same IPs', async () => {
    await client.create(PODS, pod('survivor', { nodeName: 'node03' }));
    const before = await until(() => runningReady('survivor'), 'survivor Running');
    const old = agents.get('node03')!;
    old.stop();
    await startAgent({ nodeName: 'node03', sim: { startDelayMs: 100, startJitterMs: 0, stopDelayMs: 3_600_000 } });
    // A pod created after the restart gets an IP no live pod holds.
    await client.create(PODS, pod('after-restart', { nodeName: 'node03' }));
    const next = await until(() => runningReady('after-restart'), 'after-restart Running');
    assert.notEqual(next.status.podIP, before.status.podIP);
    const again = await getPod('survivor');
    assert.equal(again.status.podIP, before.status.podIP);
    assert.equal(again.status.containerStatuses[0].containerID, before.status.containerStatuses[0].containerID);
    assert.equal(again.metadata.resourceVersion, before.metadata.resourceVersion, 'nothing was rewritten');
  });
});
