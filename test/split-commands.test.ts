// One cluster across processes: `kubelite up` serving only the API, two `kubelite controllers`
// competing for the Leases (one acts; killing it hands over within the lease duration; nothing
// is done twice), and `kubelite agent` processes as the nodes.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { startCluster, KUBELITE, type Cluster } from './helpers/cluster.js';
import { until } from './helpers/wait.js';

interface Proc { proc: ChildProcess; logs(): string; kill(signal?: NodeJS.Signals): Promise<void> }

function run(args: string[]): Proc {
  const proc = spawn(process.execPath, [KUBELITE, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d) => { err += d; });
  return {
    proc,
    logs: () => err,
    kill: (signal = 'SIGTERM') => new Promise((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
      proc.once('exit', () => resolve());
      proc.kill(signal);
    }),
  };
}

describe('controllers, scheduler and node agents as separate processes', () => {
  let c: Cluster;
  const procs: Proc[] = [];
  const controllers = () => {
    // Short enough for a quick hand-over, long enough that a leader on a loaded machine keeps
    // its Lease (one that misses its renew deadline exits, as upstream's do).
    const p = run(['controllers', '--kubeconfig', c.kubeconfig, '--leader-elect-lease-duration', '10s',
      '--leader-elect-renew-deadline', '8s', '--leader-elect-retry-period', '1s']);
    procs.push(p);
    return p;
  };
  before(async () => { c = await startCluster(); });
  after(async () => {
    for (const p of procs) await p.kill('SIGKILL');
    await c?.cleanup();
  });

  const holder = async (lease: string) => {
    const r = await c.request('GET', `/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/${lease}`);
    return r.status === 200 ? (r.json().spec?.holderIdentity as string | undefined) : undefined;
  };
  const pidOf = (identity: string) => procs.find((p) => p.logs().includes(identity));

  test('two controllers processes: one holds each Lease; a deployment runs on agent processes', async () => {
    const a = controllers(), b = controllers();
    for (const n of ['node01', 'node02']) procs.push(run(['agent', '--kubeconfig', c.kubeconfig, '--node', n, '--pod-start-delay', '50ms']));
    const kcm = await until(() => holder('kube-controller-manager'), 'a kube-controller-manager lease holder');
    await until(() => holder('kube-scheduler'), 'a kube-scheduler lease holder');
    await until(async () => (pidOf(kcm) ? true : undefined), 'the holder logged its identity');
    assert.ok([a, b].includes(pidOf(kcm)!), 'the holder is one of the two');
    await c.k('create', 'deployment', 'web', '--image=nginx:1.27', '--replicas=3');
    await until(async () => {
      const d = JSON.parse(await c.k('get', 'deploy', 'web', '-o', 'json'));
      return d.status?.readyReplicas === 3 ? true : undefined;
    }, '3 ready replicas');
    // Each agent registers its node, and node IPAM gives it a range, apart from the pods: the
    // three ready pods may all be on one node. Wait for both nodes with their ranges.
    const nodes = await until(async () => {
      const items = JSON.parse(await c.k('get', 'nodes', '-o', 'json')).items;
      return items.length === 2 && items.every((n: any) => n.spec.podCIDR) && items;
    }, 'both nodes registered with a podCIDR');
    assert.deepEqual(nodes.map((n: any) => n.metadata.name).sort(), ['node01', 'node02']);
  });

  test('killing the leader: the other takes over, and nothing is done twice', async () => {
    const before = await holder('kube-controller-manager');
    const leader = pidOf(before!)!;
    const controllerProcs = procs.filter((p) => p.proc.spawnargs.includes('controllers'));
    assert.deepEqual(controllerProcs.map((p) => p.proc.exitCode ?? p.proc.signalCode), [null, null], 'both controllers processes still run (none lost its Lease)');
    await leader.kill('SIGKILL');
    const after = await until(async () => {
      const h = await holder('kube-controller-manager');
      return h && h !== before ? h : undefined;
    }, 'a new holder');
    assert.notEqual(after, before);
    await c.k('scale', 'deploy', 'web', '--replicas=5');
    await until(async () => {
      const d = JSON.parse(await c.k('get', 'deploy', 'web', '-o', 'json'));
      return d.status?.readyReplicas === 5 ? true : undefined;
    }, '5 ready replicas');
    // One ReplicaSet, exactly the pods asked for: no controller acted twice.
    assert.equal(JSON.parse(await c.k('get', 'rs', '-o', 'json')).items.length, 1);
    assert.equal(JSON.parse(await c.k('get', 'pods', '-o', 'json')).items.length, 5);
  });
});

describe('kubelite controllers --controllers: only the named controllers run', () => {
  let c: Cluster;
  let p: Proc | undefined;
  before(async () => { c = await startCluster(); });
  after(async () => {
    await p?.kill('SIGKILL');
    await c?.cleanup();
  });

  test('an unknown name is refused with the known ones', async () => {
    const bad = run(['controllers', '--kubeconfig', c.kubeconfig, '--controllers', 'endpoint,nosuch']);
    // 'close', not 'exit': the error is read from stderr, which may still hold it at 'exit'.
    const code = await new Promise((resolve) => bad.proc.once('close', resolve));
    assert.notEqual(code, 0);
    assert.match(bad.logs(), /"nosuch" is not in the list of known controllers \(.*endpoints-controller/);
  });

  test('endpoint only: a Service gets its Endpoints, a Deployment gets no ReplicaSet', async () => {
    p = run(['controllers', '--kubeconfig', c.kubeconfig, '--controllers', 'endpoint', '--disable', 'scheduler']);
    await c.k('create', 'service', 'clusterip', 'web', '--tcp=80:8080');
    await c.k('create', 'deployment', 'web', '--image=nginx');
    await until(async () => {
      const r = await c.request('GET', '/api/v1/namespaces/default/endpoints/web');
      return r.status === 200 ? true : undefined;
    }, 'the Endpoints of web');
    // The Endpoints controller has acted; give the absent deployment controller the same chance.
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(JSON.parse(await c.k('get', 'rs', '-o', 'json')).items.length, 0, 'no deployment controller');
    const slices = JSON.parse(await c.k('get', 'endpointslices', '-l', 'kubernetes.io/service-name=web', '-o', 'json'));
    assert.equal(slices.items.length, 0, 'no EndpointSlice controller');
  });
});
