// `kubectl get` against kubelite's server-side Tables, for every served resource: the default
// columns, -o wide, --show-labels, -L, one object, -A, --sort-by, several kinds at once, `get all`,
// an empty result and `get -w`. Whole outputs are compared with what upstream kubectl prints for
// the same objects. kubectl lays the cells out itself (tabwriter: columns padded to the widest
// cell + 3, at least 6 wide, widths remembered across the lines of a watch).
//
// AGE depends on timing: each age cell is masked as `Ns`, padded as a two-digit age would be.
// Every group creates its objects just before it prints them, so ages stay under 100 s and keep
// their column 6 wide. Times the printers render from object fields (LAST SEEN, restarts) are set
// whole days in the past, so they print the same for an hour.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { startCluster, type Cluster } from './helpers/cluster.js';

let c: Cluster;

/** A scheduler nobody runs: pods meant to stay Pending are left alone by kubelite's scheduler. */
const UNSCHEDULED = 'printing-test';

/** An RFC 3339 time `days` days and ten minutes ago: HumanDuration prints `<days>d` for the next 50 minutes. */
function daysAgo(days: number, micro = false): string {
  const iso = new Date(Date.now() - days * 86_400_000 - 600_000).toISOString();
  return micro ? iso.replace(/Z$/, '000Z') : iso.replace(/\.\d{3}Z$/, 'Z');
}

/** Ages under 100 s become `Ns`, keeping the width of the column they are in. */
function maskAges(out: string): string {
  return out.replace(/(^|[ \t])(\d{1,2})s(?=[ \t]|$)/gm, (m: string, pre: string, digits: string, offset: number, all: string) => {
    const end = offset + m.length;
    const lastInLine = end === all.length || all[end] === '\n';
    return `${pre}Ns${lastInLine ? '' : ' '.repeat(digits.length - 1)}`;
  });
}

const text = (...lines: string[]) => lines.map((l) => `${l}\n`).join('');

async function create(path: string, body: Record<string, unknown>): Promise<void> {
  const r = await c.request('POST', path, body);
  assert.equal(r.status, 201, `POST ${path}: ${r.body}`);
}

/** Write status through the status subresource, as a kubelet or controller would. */
async function setStatus(path: string, status: Record<string, unknown>): Promise<void> {
  const r = await c.request('PATCH', `${path}/status`, { status }, { headers: { 'Content-Type': 'application/merge-patch+json' } });
  assert.equal(r.status, 200, `PATCH ${path}/status: ${r.body}`);
}

async function remove(path: string): Promise<void> {
  const r = await c.request('DELETE', path, {});
  assert.ok(r.status === 200 || r.status === 202, `DELETE ${path}: ${r.body}`);
}

async function namespace(name: string, extra: Record<string, unknown> = {}): Promise<void> {
  await create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name, ...extra } });
}

/** `kubectl get ...` must succeed silently and print exactly `want` (ages masked). */
async function get(args: string[], want: string): Promise<void> {
  const r = await c.kubectl(['get', ...args]);
  assert.equal(r.stderr, '', `kubectl get ${args.join(' ')}: stderr`);
  assert.equal(r.code, 0);
  assert.equal(maskAges(r.stdout), want, `kubectl get ${args.join(' ')}`);
}

before(async () => { c = await startCluster(); });
after(async () => { await c?.cleanup(); });

describe('namespaces', () => {
  before(async () => {
    await namespace('p-ns', { labels: { printing: 'ns', app: 'team-a' } });
    await namespace('p-ns-gone', { labels: { printing: 'ns' }, finalizers: ['example.com/hold'] });
    await remove('/api/v1/namespaces/p-ns-gone');
  });

  test('get ns', () => get(['ns'], text(
    'NAME              STATUS        AGE',
    'default           Active        Ns',
    'kube-node-lease   Active        Ns',
    'kube-public       Active        Ns',
    'kube-system       Active        Ns',
    'p-ns              Active        Ns',
    'p-ns-gone         Terminating   Ns',
  )));

  const mine = ['-l', 'printing=ns'];
  const table = text(
    'NAME        STATUS        AGE',
    'p-ns        Active        Ns',
    'p-ns-gone   Terminating   Ns',
  );
  test('-o wide (no wide columns)', () => get(['ns', ...mine, '-o', 'wide'], table));
  test('-A changes nothing for cluster-scoped resources', () => get(['ns', ...mine, '-A'], table));
  test('--sort-by', () => get(['ns', ...mine, '--sort-by=.metadata.name'], table));
  test('--show-labels', () => get(['ns', ...mine, '--show-labels'], text(
    'NAME        STATUS        AGE   LABELS',
    'p-ns        Active        Ns    app=team-a,kubernetes.io/metadata.name=p-ns,printing=ns',
    'p-ns-gone   Terminating   Ns    kubernetes.io/metadata.name=p-ns-gone,printing=ns',
  )));
  test('-L app', () => get(['ns', ...mine, '-L', 'app'], text(
    'NAME        STATUS        AGE   APP',
    'p-ns        Active        Ns    team-a',
    'p-ns-gone   Terminating   Ns    ',
  )));
  test('one namespace', () => get(['ns', 'p-ns'], text(
    'NAME   STATUS   AGE',
    'p-ns   Active   Ns',
  )));
});

describe('nodes', () => {
  before(async () => {
    const node = (name: string, labels: Record<string, string>, spec: Record<string, unknown> = {}) =>
      create('/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { printing: 'nodes', ...labels } }, spec });
    const info = (kubeletVersion: string) => ({
      kubeletVersion, osImage: 'Debian GNU/Linux 12 (bookworm)', kernelVersion: '6.1.0-18-amd64', containerRuntimeVersion: 'containerd://1.7.13',
      operatingSystem: 'linux', architecture: 'amd64',
    });
    await node('p-node-a', { app: 'edge', 'node-role.kubernetes.io/control-plane': '' });
    await setStatus('/api/v1/nodes/p-node-a', {
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' }],
      addresses: [{ type: 'InternalIP', address: '127.0.0.2' }, { type: 'Hostname', address: 'p-node-a' }],
      nodeInfo: info('v1.32.4'),
    });
    await node('p-node-b', { 'kubernetes.io/role': 'worker', 'node-role.kubernetes.io/ingress': '' }, { unschedulable: true });
    await setStatus('/api/v1/nodes/p-node-b', {
      conditions: [{ type: 'Ready', status: 'False', reason: 'KubeletNotReady', message: 'container runtime is down' }],
      addresses: [{ type: 'InternalIP', address: '127.0.0.3' }, { type: 'ExternalIP', address: '203.0.113.7' }],
      nodeInfo: info('v1.31.2'),
    });
    await node('p-node-c', {});
  });

  const mine = ['-l', 'printing=nodes'];
  const table = text(
    'NAME       STATUS                        ROLES            AGE   VERSION',
    'p-node-a   Ready                         control-plane    Ns    v1.32.4',
    'p-node-b   NotReady,SchedulingDisabled   ingress,worker   Ns    v1.31.2',
    'p-node-c   Unknown                       <none>           Ns    ',
  );
  test('get nodes', () => get(['nodes', ...mine], table));
  test('-A', () => get(['nodes', ...mine, '-A'], table));
  test('--sort-by', () => get(['nodes', ...mine, '--sort-by=.metadata.name'], table));
  test('-o wide', () => get(['nodes', ...mine, '-o', 'wide'], text(
    'NAME       STATUS                        ROLES            AGE   VERSION   INTERNAL-IP   EXTERNAL-IP   OS-IMAGE                         KERNEL-VERSION   CONTAINER-RUNTIME',
    'p-node-a   Ready                         control-plane    Ns    v1.32.4   127.0.0.2     <none>        Debian GNU/Linux 12 (bookworm)   6.1.0-18-amd64   containerd://1.7.13',
    'p-node-b   NotReady,SchedulingDisabled   ingress,worker   Ns    v1.31.2   127.0.0.3     203.0.113.7   Debian GNU/Linux 12 (bookworm)   6.1.0-18-amd64   containerd://1.7.13',
    'p-node-c   Unknown                       <none>           Ns              <none>        <none>        <unknown>                        <unknown>        <unknown>',
  )));
  test('--show-labels', () => get(['nodes', ...mine, '--show-labels'], text(
    'NAME       STATUS                        ROLES            AGE   VERSION   LABELS',
    'p-node-a   Ready                         control-plane    Ns    v1.32.4   app=edge,node-role.kubernetes.io/control-plane=,printing=nodes',
    'p-node-b   NotReady,SchedulingDisabled   ingress,worker   Ns    v1.31.2   kubernetes.io/role=worker,node-role.kubernetes.io/ingress=,printing=nodes',
    'p-node-c   Unknown                       <none>           Ns              printing=nodes',
  )));
  test('-L app', () => get(['nodes', ...mine, '-L', 'app'], text(
    'NAME       STATUS                        ROLES            AGE   VERSION   APP',
    'p-node-a   Ready                         control-plane    Ns    v1.32.4   edge',
    'p-node-b   NotReady,SchedulingDisabled   ingress,worker   Ns    v1.31.2   ',
    'p-node-c   Unknown                       <none>           Ns              ',
  )));
  test('one node', () => get(['node', 'p-node-b'], text(
    'NAME       STATUS                        ROLES            AGE   VERSION',
    'p-node-b   NotReady,SchedulingDisabled   ingress,worker   Ns    v1.31.2',
  )));
});

describe('pods', () => {
  const ns = 'p-pods';
  const base = `/api/v1/namespaces/${ns}/pods`;
  before(async () => {
    await namespace(ns);
    const pod = (name: string, app: string, spec: Record<string, unknown> = {}) => create(base, {
      apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { printing: 'pods', app } },
      spec: { containers: [{ name: 'web', image: 'nginx:1.27' }], ...spec },
    });
    const started = daysAgo(1);
    const running = { running: { startedAt: started } };
    const ready = (ip: string, extra: Record<string, unknown> = {}) => ({
      phase: 'Running', podIP: ip, podIPs: [{ ip }],
      conditions: [{ type: 'Initialized', status: 'True' }, { type: 'Ready', status: 'True' }, { type: 'ContainersReady', status: 'True' }, { type: 'PodScheduled', status: 'True' }],
      containerStatuses: [{ name: 'web', image: 'nginx:1.27', imageID: '', ready: true, started: true, restartCount: 0, state: running }],
      ...extra,
    });

    await pod('crash-1', 'web', { nodeName: 'p-node-a' });
    await setStatus(`${base}/crash-1`, {
      phase: 'Running', podIP: '10.244.0.6', podIPs: [{ ip: '10.244.0.6' }],
      containerStatuses: [{ name: 'web', image: 'nginx:1.27', imageID: '', ready: false, started: false, restartCount: 3,
        state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 40s restarting failed container' } },
        lastState: { terminated: { exitCode: 1, reason: 'Error', startedAt: daysAgo(10), finishedAt: daysAgo(10) } } }],
    });
    await pod('done-1', 'batch', { nodeName: 'p-node-a', restartPolicy: 'Never' });
    await setStatus(`${base}/done-1`, {
      phase: 'Succeeded', podIP: '10.244.0.7', podIPs: [{ ip: '10.244.0.7' }],
      containerStatuses: [{ name: 'web', image: 'nginx:1.27', imageID: '', ready: false, started: false, restartCount: 0,
        state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: started, finishedAt: started } } }],
    });
    await pod('init-1', 'batch', { nodeName: 'p-node-b', initContainers: [{ name: 'migrate', image: 'busybox:1.36' }, { name: 'seed', image: 'busybox:1.36' }] });
    await setStatus(`${base}/init-1`, {
      phase: 'Pending', podIP: '10.244.1.4', podIPs: [{ ip: '10.244.1.4' }],
      conditions: [{ type: 'Initialized', status: 'False', reason: 'ContainersNotInitialized' }],
      initContainerStatuses: [
        { name: 'migrate', image: 'busybox:1.36', imageID: '', ready: true, restartCount: 0, state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: started, finishedAt: started } } },
        { name: 'seed', image: 'busybox:1.36', imageID: '', ready: false, restartCount: 0, state: running },
      ],
      containerStatuses: [{ name: 'web', image: 'nginx:1.27', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'PodInitializing' } } }],
    });
    await pod('lost-1', 'web', { nodeName: 'p-node-b' });
    await setStatus(`${base}/lost-1`, ready('10.244.1.5', { reason: 'NodeLost', message: 'Node p-node-b which was running pod lost-1 is unresponsive' }));
    await remove(`${base}/lost-1`);
    await pod('new-1', 'web', { schedulerName: UNSCHEDULED });
    await setStatus(`${base}/new-1`, { phase: 'Pending', nominatedNodeName: 'p-node-b' });
    await pod('stop-1', 'web', { nodeName: 'p-node-a' });
    await setStatus(`${base}/stop-1`, ready('10.244.0.8'));
    await remove(`${base}/stop-1`);
    await pod('web-1', 'web', { nodeName: 'p-node-a', readinessGates: [{ conditionType: 'example.com/load-balancer' }] });
    const up = ready('10.244.0.5');
    await setStatus(`${base}/web-1`, { ...up, conditions: [...(up.conditions as object[]), { type: 'example.com/load-balancer', status: 'True' }] });
  });

  const table = text(
    'NAME      READY   STATUS             RESTARTS      AGE',
    'crash-1   0/1     CrashLoopBackOff   3 (10d ago)   Ns',
    'done-1    0/1     Completed          0             Ns',
    'init-1    0/1     Init:1/2           0             Ns',
    'lost-1    1/1     Unknown            0             Ns',
    'new-1     0/1     Pending            0             Ns',
    'stop-1    1/1     Terminating        0             Ns',
    'web-1     1/1     Running            0             Ns',
  );
  test('get pods', () => get(['pods', '-n', ns], table));
  test('--sort-by', () => get(['pods', '-n', ns, '--sort-by=.metadata.name'], table));
  test('-o wide', () => get(['pods', '-n', ns, '-o', 'wide'], text(
    'NAME      READY   STATUS             RESTARTS      AGE   IP           NODE       NOMINATED NODE   READINESS GATES',
    'crash-1   0/1     CrashLoopBackOff   3 (10d ago)   Ns    10.244.0.6   p-node-a   <none>           <none>',
    'done-1    0/1     Completed          0             Ns    10.244.0.7   p-node-a   <none>           <none>',
    'init-1    0/1     Init:1/2           0             Ns    10.244.1.4   p-node-b   <none>           <none>',
    'lost-1    1/1     Unknown            0             Ns    10.244.1.5   p-node-b   <none>           <none>',
    'new-1     0/1     Pending            0             Ns    <none>       <none>     p-node-b         <none>',
    'stop-1    1/1     Terminating        0             Ns    10.244.0.8   p-node-a   <none>           <none>',
    'web-1     1/1     Running            0             Ns    10.244.0.5   p-node-a   <none>           1/1',
  )));
  test('--show-labels', () => get(['pods', '-n', ns, '--show-labels'], text(
    'NAME      READY   STATUS             RESTARTS      AGE   LABELS',
    'crash-1   0/1     CrashLoopBackOff   3 (10d ago)   Ns    app=web,printing=pods',
    'done-1    0/1     Completed          0             Ns    app=batch,printing=pods',
    'init-1    0/1     Init:1/2           0             Ns    app=batch,printing=pods',
    'lost-1    1/1     Unknown            0             Ns    app=web,printing=pods',
    'new-1     0/1     Pending            0             Ns    app=web,printing=pods',
    'stop-1    1/1     Terminating        0             Ns    app=web,printing=pods',
    'web-1     1/1     Running            0             Ns    app=web,printing=pods',
  )));
  test('-L app', () => get(['pods', '-n', ns, '-L', 'app'], text(
    'NAME      READY   STATUS             RESTARTS      AGE   APP',
    'crash-1   0/1     CrashLoopBackOff   3 (10d ago)   Ns    web',
    'done-1    0/1     Completed          0             Ns    batch',
    'init-1    0/1     Init:1/2           0             Ns    batch',
    'lost-1    1/1     Unknown            0             Ns    web',
    'new-1     0/1     Pending            0             Ns    web',
    'stop-1    1/1     Terminating        0             Ns    web',
    'web-1     1/1     Running            0             Ns    web',
  )));
  test('-A', () => get(['pods', '-A', '-l', 'printing=pods,app=batch'], text(
    'NAMESPACE   NAME     READY   STATUS      RESTARTS   AGE',
    'p-pods      done-1   0/1     Completed   0          Ns',
    'p-pods      init-1   0/1     Init:1/2    0          Ns',
  )));
  test('one pod', () => get(['pod', 'crash-1', '-n', ns], text(
    'NAME      READY   STATUS             RESTARTS      AGE',
    'crash-1   0/1     CrashLoopBackOff   3 (10d ago)   Ns',
  )));
});

describe('services', () => {
  const ns = 'p-svc';
  const base = `/api/v1/namespaces/${ns}/services`;
  before(async () => {
    await namespace(ns);
    const svc = (name: string, app: string | undefined, spec: Record<string, unknown>) => create(base, {
      apiVersion: 'v1', kind: 'Service', metadata: { name, labels: { printing: 'svc', ...(app ? { app } : {}) } }, spec,
    });
    await svc('db', undefined, { type: 'ExternalName', externalName: 'db.example.com' });
    await svc('dns', 'dns', { clusterIP: 'None', selector: { app: 'dns' },
      ports: [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, protocol: 'TCP' }] });
    await svc('ext', 'ext', { clusterIP: '127.96.0.2', externalIPs: ['198.51.100.7'], selector: { app: 'ext' }, ports: [{ port: 8080 }] });
    await svc('lb', 'web', { type: 'LoadBalancer', clusterIP: '127.96.0.3', selector: { app: 'web' },
      ports: [{ name: 'https', port: 443, nodePort: 30443 }, { name: 'http', port: 80, nodePort: 30080 }] });
    await svc('lb-ready', 'web', { type: 'LoadBalancer', clusterIP: '127.96.0.4', selector: { app: 'web' }, ports: [{ port: 80, nodePort: 30081 }] });
    await setStatus(`${base}/lb-ready`, { loadBalancer: { ingress: [{ ip: '203.0.113.11' }, { ip: '203.0.113.10' }] } });
    await svc('np', 'web', { type: 'NodePort', clusterIP: '127.96.0.5', selector: { app: 'web' }, ports: [{ port: 80, nodePort: 30082 }] });
    await svc('web', 'web', { clusterIP: '127.96.0.6', selector: { app: 'web', tier: 'front' }, ports: [{ port: 80, targetPort: 8080 }] });
  });

  const table = text(
    'NAME       TYPE           CLUSTER-IP   EXTERNAL-IP                 PORT(S)                      AGE',
    'db         ExternalName   <none>       db.example.com              <none>                       Ns',
    'dns        ClusterIP      None         <none>                      53/UDP,53/TCP                Ns',
    'ext        ClusterIP      127.96.0.2   198.51.100.7                8080/TCP                     Ns',
    'lb         LoadBalancer   127.96.0.3   <pending>                   443:30443/TCP,80:30080/TCP   Ns',
    'lb-ready   LoadBalancer   127.96.0.4   203.0.113.10,203.0.113.11   80:30081/TCP                 Ns',
    'np         NodePort       127.96.0.5   <none>                      80:30082/TCP                 Ns',
    'web        ClusterIP      127.96.0.6   <none>                      80/TCP                       Ns',
  );
  test('get services', () => get(['svc', '-n', ns], table));
  test('--sort-by', () => get(['svc', '-n', ns, '--sort-by=.metadata.name'], table));
  test('-o wide', () => get(['svc', '-n', ns, '-o', 'wide'], text(
    'NAME       TYPE           CLUSTER-IP   EXTERNAL-IP                 PORT(S)                      AGE   SELECTOR',
    'db         ExternalName   <none>       db.example.com              <none>                       Ns    <none>',
    'dns        ClusterIP      None         <none>                      53/UDP,53/TCP                Ns    app=dns',
    'ext        ClusterIP      127.96.0.2   198.51.100.7                8080/TCP                     Ns    app=ext',
    'lb         LoadBalancer   127.96.0.3   <pending>                   443:30443/TCP,80:30080/TCP   Ns    app=web',
    'lb-ready   LoadBalancer   127.96.0.4   203.0.113.10,203.0.113.11   80:30081/TCP                 Ns    app=web',
    'np         NodePort       127.96.0.5   <none>                      80:30082/TCP                 Ns    app=web',
    'web        ClusterIP      127.96.0.6   <none>                      80/TCP                       Ns    app=web,tier=front',
  )));
  test('--show-labels', () => get(['svc', '-n', ns, '--show-labels', '-l', 'app!=web'], text(
    'NAME   TYPE           CLUSTER-IP   EXTERNAL-IP      PORT(S)         AGE   LABELS',
    'db     ExternalName   <none>       db.example.com   <none>          Ns    printing=svc',
    'dns    ClusterIP      None         <none>           53/UDP,53/TCP   Ns    app=dns,printing=svc',
    'ext    ClusterIP      127.96.0.2   198.51.100.7     8080/TCP        Ns    app=ext,printing=svc',
  )));
  test('-L app', () => get(['svc', '-n', ns, '-L', 'app', '-l', 'app!=web'], text(
    'NAME   TYPE           CLUSTER-IP   EXTERNAL-IP      PORT(S)         AGE   APP',
    'db     ExternalName   <none>       db.example.com   <none>          Ns    ',
    'dns    ClusterIP      None         <none>           53/UDP,53/TCP   Ns    dns',
    'ext    ClusterIP      127.96.0.2   198.51.100.7     8080/TCP        Ns    ext',
  )));
  test('-A', () => get(['svc', '-A', '-l', 'printing=svc,app=web'], text(
    'NAMESPACE   NAME       TYPE           CLUSTER-IP   EXTERNAL-IP                 PORT(S)                      AGE',
    'p-svc       lb         LoadBalancer   127.96.0.3   <pending>                   443:30443/TCP,80:30080/TCP   Ns',
    'p-svc       lb-ready   LoadBalancer   127.96.0.4   203.0.113.10,203.0.113.11   80:30081/TCP                 Ns',
    'p-svc       np         NodePort       127.96.0.5   <none>                      80:30082/TCP                 Ns',
    'p-svc       web        ClusterIP      127.96.0.6   <none>                      80/TCP                       Ns',
  )));
  test('one service', () => get(['svc', 'lb', '-n', ns], text(
    'NAME   TYPE           CLUSTER-IP   EXTERNAL-IP   PORT(S)                      AGE',
    'lb     LoadBalancer   127.96.0.3   <pending>     443:30443/TCP,80:30080/TCP   Ns',
  )));
});

describe('endpoints', () => {
  const ns = 'p-ep';
  before(async () => {
    await namespace(ns);
    const ep = (name: string, subsets: unknown[] | undefined, app = 'web') => create(`/api/v1/namespaces/${ns}/endpoints`, {
      apiVersion: 'v1', kind: 'Endpoints', metadata: { name, labels: { printing: 'ep', app } }, ...(subsets ? { subsets } : {}),
    });
    const ips = (...list: string[]) => list.map((ip) => ({ ip }));
    await ep('empty', undefined, 'none');
    await ep('headless', [{ addresses: ips('10.244.0.20', '10.244.0.21') }], 'dns');
    await ep('many', [{ addresses: ips('10.244.1.1', '10.244.1.2', '10.244.1.3', '10.244.1.4', '10.244.1.5'), ports: [{ port: 8080 }] }]);
    await ep('unready', [{ notReadyAddresses: ips('10.244.0.30'), ports: [{ port: 80 }] }]);
    await ep('web', [{ addresses: ips('10.244.0.5', '10.244.0.6'), notReadyAddresses: ips('10.244.0.9'), ports: [{ port: 80 }] }]);
  });

  const table = text(
    'NAME       ENDPOINTS                                                     AGE',
    'empty      <none>                                                        Ns',
    'headless   10.244.0.20,10.244.0.21                                       Ns',
    'many       10.244.1.1:8080,10.244.1.2:8080,10.244.1.3:8080 + 2 more...   Ns',
    'unready                                                                  Ns',
    'web        10.244.0.5:80,10.244.0.6:80                                   Ns',
  );
  test('get endpoints', () => get(['ep', '-n', ns], table));
  test('-o wide (no wide columns)', () => get(['ep', '-n', ns, '-o', 'wide'], table));
  test('--sort-by', () => get(['ep', '-n', ns, '--sort-by=.metadata.name'], table));
  test('--show-labels', () => get(['ep', '-n', ns, '--show-labels', '-l', 'app!=web'], text(
    'NAME       ENDPOINTS                 AGE   LABELS',
    'empty      <none>                    Ns    app=none,printing=ep',
    'headless   10.244.0.20,10.244.0.21   Ns    app=dns,printing=ep',
  )));
  test('-L app', () => get(['ep', '-n', ns, '-L', 'app', '-l', 'app!=web'], text(
    'NAME       ENDPOINTS                 AGE   APP',
    'empty      <none>                    Ns    none',
    'headless   10.244.0.20,10.244.0.21   Ns    dns',
  )));
  test('-A', () => get(['ep', '-A', '-l', 'printing=ep,app=web'], text(
    'NAMESPACE   NAME      ENDPOINTS                                                     AGE',
    'p-ep        many      10.244.1.1:8080,10.244.1.2:8080,10.244.1.3:8080 + 2 more...   Ns',
    'p-ep        unready                                                                 Ns',
    'p-ep        web       10.244.0.5:80,10.244.0.6:80                                   Ns',
  )));
  test('one object', () => get(['ep', 'web', '-n', ns], text(
    'NAME   ENDPOINTS                     AGE',
    'web    10.244.0.5:80,10.244.0.6:80   Ns',
  )));
});

describe('endpointslices', () => {
  const ns = 'p-eps';
  before(async () => {
    await namespace(ns);
    const slice = (name: string, app: string, ports: unknown[] | undefined, endpoints: unknown[]) => create(`/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`, {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name, labels: { printing: 'eps', app } },
      addressType: 'IPv4', endpoints, ...(ports ? { ports } : {}),
    });
    const ready = (address: string, isReady = true) => ({ addresses: [address], conditions: { ready: isReady } });
    // A port with neither number nor name: the name defaults to "", which lists as <unset>, not `*`.
    await slice('any-port', 'dns', [{}], [ready('10.244.0.20')]);
    await slice('empty', 'none', undefined, []);
    await slice('many', 'web', [{ name: 'a', port: 80 }, { name: 'b', port: 443 }, { name: 'c', port: 8080 }, { name: 'd', port: 8443 }],
      [ready('10.244.2.1'), ready('10.244.2.2'), ready('10.244.2.3'), ready('10.244.2.4')]);
    await slice('web-x7k2p', 'web', [{ name: 'http', port: 8080 }], [ready('10.244.0.5'), ready('10.244.0.6', false)]);
  });

  const table = text(
    'NAME        ADDRESSTYPE   PORTS                     ENDPOINTS                                      AGE',
    'any-port    IPv4          <unset>                   10.244.0.20                                    Ns',
    'empty       IPv4          <unset>                   <unset>                                        Ns',
    'many        IPv4          80,443,8080 + 1 more...   10.244.2.1,10.244.2.2,10.244.2.3 + 1 more...   Ns',
    'web-x7k2p   IPv4          8080                      10.244.0.5,10.244.0.6                          Ns',
  );
  test('get endpointslices', () => get(['endpointslices', '-n', ns], table));
  test('-o wide (no wide columns)', () => get(['endpointslices', '-n', ns, '-o', 'wide'], table));
  test('--sort-by', () => get(['endpointslices', '-n', ns, '--sort-by=.metadata.name'], table));
  test('--show-labels', () => get(['endpointslices', '-n', ns, '--show-labels', '-l', 'app!=web'], text(
    'NAME       ADDRESSTYPE   PORTS     ENDPOINTS     AGE   LABELS',
    'any-port   IPv4          <unset>   10.244.0.20   Ns    app=dns,printing=eps',
    'empty      IPv4          <unset>   <unset>       Ns    app=none,printing=eps',
  )));
  test('-L app', () => get(['endpointslices', '-n', ns, '-L', 'app', '-l', 'app!=web'], text(
    'NAME       ADDRESSTYPE   PORTS     ENDPOINTS     AGE   APP',
    'any-port   IPv4          <unset>   10.244.0.20   Ns    dns',
    'empty      IPv4          <unset>   <unset>       Ns    none',
  )));
  test('-A', () => get(['endpointslices', '-A', '-l', 'printing=eps,app=web'], text(
    'NAMESPACE   NAME        ADDRESSTYPE   PORTS                     ENDPOINTS                                      AGE',
    'p-eps       many        IPv4          80,443,8080 + 1 more...   10.244.2.1,10.244.2.2,10.244.2.3 + 1 more...   Ns',
    'p-eps       web-x7k2p   IPv4          8080                      10.244.0.5,10.244.0.6                          Ns',
  )));
  test('one object', () => get(['endpointslice', 'web-x7k2p', '-n', ns], text(
    'NAME        ADDRESSTYPE   PORTS   ENDPOINTS               AGE',
    'web-x7k2p   IPv4          8080    10.244.0.5,10.244.0.6   Ns',
  )));
});

/** A Deployment and its ReplicaSet with their status written, as the controllers would. */
async function workloads(ns: string, label: string): Promise<void> {
  const template = (app: string, hash?: string) => ({
    metadata: { labels: { app, ...(hash ? { 'pod-template-hash': hash } : {}) } },
    spec: { containers: [{ name: 'web', image: 'nginx:1.27' }, { name: 'log', image: 'busybox:1.36' }] },
  });
  const deploy = (name: string, replicas: number, selector: Record<string, unknown>, tmpl: Record<string, unknown>) =>
    create(`/apis/apps/v1/namespaces/${ns}/deployments`, {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, labels: { printing: label, app: name } }, spec: { replicas, selector, template: tmpl },
    });
  await deploy('api', 1, { matchLabels: { app: 'api' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['front', 'back'] }] },
    { metadata: { labels: { app: 'api', tier: 'front' } }, spec: { containers: [{ name: 'api', image: 'example.com/api:2.1' }] } });
  await setStatus(`/apis/apps/v1/namespaces/${ns}/deployments/api`, { observedGeneration: 1, replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1 });
  await deploy('idle', 0, { matchLabels: { app: 'idle' } }, template('idle'));
  await deploy('web', 3, { matchLabels: { app: 'web' } }, template('web'));
  await setStatus(`/apis/apps/v1/namespaces/${ns}/deployments/web`, { observedGeneration: 1, replicas: 3, updatedReplicas: 3, readyReplicas: 2, availableReplicas: 2 });
  await create(`/apis/apps/v1/namespaces/${ns}/replicasets`, {
    apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'web-5d4f8c9b7', labels: { printing: label, app: 'web', 'pod-template-hash': '5d4f8c9b7' } },
    spec: { replicas: 3, selector: { matchLabels: { app: 'web', 'pod-template-hash': '5d4f8c9b7' } }, template: template('web', '5d4f8c9b7') },
  });
  await setStatus(`/apis/apps/v1/namespaces/${ns}/replicasets/web-5d4f8c9b7`, { replicas: 3, fullyLabeledReplicas: 3, readyReplicas: 2, availableReplicas: 2, observedGeneration: 1 });
}

describe('deployments', () => {
  const ns = 'p-deploy';
  before(async () => {
    await namespace(ns);
    await workloads(ns, 'deploy');
  });

  const table = text(
    'NAME   READY   UP-TO-DATE   AVAILABLE   AGE',
    'api    1/1     1            1           Ns',
    'idle   0/0     0            0           Ns',
    'web    2/3     3            2           Ns',
  );
  test('get deployments', () => get(['deploy', '-n', ns], table));
  test('--sort-by', () => get(['deploy', '-n', ns, '--sort-by=.metadata.name'], table));
  test('-o wide', () => get(['deploy', '-n', ns, '-o', 'wide'], text(
    'NAME   READY   UP-TO-DATE   AVAILABLE   AGE   CONTAINERS   IMAGES                    SELECTOR',
    'api    1/1     1            1           Ns    api          example.com/api:2.1       app=api,tier in (back,front)',
    'idle   0/0     0            0           Ns    web,log      nginx:1.27,busybox:1.36   app=idle',
    'web    2/3     3            2           Ns    web,log      nginx:1.27,busybox:1.36   app=web',
  )));
  test('--show-labels', () => get(['deploy', '-n', ns, '--show-labels'], text(
    'NAME   READY   UP-TO-DATE   AVAILABLE   AGE   LABELS',
    'api    1/1     1            1           Ns    app=api,printing=deploy',
    'idle   0/0     0            0           Ns    app=idle,printing=deploy',
    'web    2/3     3            2           Ns    app=web,printing=deploy',
  )));
  test('-L app', () => get(['deploy', '-n', ns, '-L', 'app'], text(
    'NAME   READY   UP-TO-DATE   AVAILABLE   AGE   APP',
    'api    1/1     1            1           Ns    api',
    'idle   0/0     0            0           Ns    idle',
    'web    2/3     3            2           Ns    web',
  )));
  test('-A', () => get(['deploy', '-A', '-l', 'printing=deploy,app!=idle'], text(
    'NAMESPACE   NAME   READY   UP-TO-DATE   AVAILABLE   AGE',
    'p-deploy    api    1/1     1            1           Ns',
    'p-deploy    web    2/3     3            2           Ns',
  )));
  test('one deployment', () => get(['deploy', 'web', '-n', ns], text(
    'NAME   READY   UP-TO-DATE   AVAILABLE   AGE',
    'web    2/3     3            2           Ns',
  )));
});

describe('replicasets', () => {
  const ns = 'p-rs';
  before(async () => {
    await namespace(ns);
    const rs = (name: string, app: string, replicas: number, status?: Record<string, unknown>) => create(`/apis/apps/v1/namespaces/${ns}/replicasets`, {
      apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name, labels: { printing: 'rs', app } },
      spec: { replicas, selector: { matchLabels: { app } }, template: { metadata: { labels: { app } }, spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] } } },
    }).then(() => status && setStatus(`/apis/apps/v1/namespaces/${ns}/replicasets/${name}`, status));
    await rs('api-6d8f7b5c4', 'api', 1, { replicas: 1, readyReplicas: 1, availableReplicas: 1 });
    await rs('new-7f9c6d8b5', 'new', 2);
    await rs('web-5d4f8c9b7', 'web', 3, { replicas: 3, readyReplicas: 2, availableReplicas: 2 });
  });

  const table = text(
    'NAME            DESIRED   CURRENT   READY   AGE',
    'api-6d8f7b5c4   1         1         1       Ns',
    'new-7f9c6d8b5   2         0         0       Ns',
    'web-5d4f8c9b7   3         3         2       Ns',
  );
  test('get replicasets', () => get(['rs', '-n', ns], table));
  test('--sort-by', () => get(['rs', '-n', ns, '--sort-by=.metadata.name'], table));
  test('-o wide', () => get(['rs', '-n', ns, '-o', 'wide'], text(
    'NAME            DESIRED   CURRENT   READY   AGE   CONTAINERS   IMAGES       SELECTOR',
    'api-6d8f7b5c4   1         1         1       Ns    web          nginx:1.27   app=api',
    'new-7f9c6d8b5   2         0         0       Ns    web          nginx:1.27   app=new',
    'web-5d4f8c9b7   3         3         2       Ns    web          nginx:1.27   app=web',
  )));
  test('--show-labels', () => get(['rs', '-n', ns, '--show-labels'], text(
    'NAME            DESIRED   CURRENT   READY   AGE   LABELS',
    'api-6d8f7b5c4   1         1         1       Ns    app=api,printing=rs',
    'new-7f9c6d8b5   2         0         0       Ns    app=new,printing=rs',
    'web-5d4f8c9b7   3         3         2       Ns    app=web,printing=rs',
  )));
  test('-L app', () => get(['rs', '-n', ns, '-L', 'app'], text(
    'NAME            DESIRED   CURRENT   READY   AGE   APP',
    'api-6d8f7b5c4   1         1         1       Ns    api',
    'new-7f9c6d8b5   2         0         0       Ns    new',
    'web-5d4f8c9b7   3         3         2       Ns    web',
  )));
  test('-A', () => get(['rs', '-A', '-l', 'printing=rs,app=web'], text(
    'NAMESPACE   NAME            DESIRED   CURRENT   READY   AGE',
    'p-rs        web-5d4f8c9b7   3         3         2       Ns',
  )));
  test('one replicaset', () => get(['rs', 'new-7f9c6d8b5', '-n', ns], text(
    'NAME            DESIRED   CURRENT   READY   AGE',
    'new-7f9c6d8b5   2         0         0       Ns',
  )));
});

describe('events', () => {
  const ns = 'p-ev';
  before(async () => {
    await namespace(ns);
    const event = (name: string, e: Record<string, unknown>, labels: Record<string, string> = {}) => create(`/api/v1/namespaces/${ns}/events`, {
      apiVersion: 'v1', kind: 'Event', metadata: { name, labels: { printing: 'ev', ...labels } }, ...e,
    });
    await event('crash-1.17f3a9c2b4d1e0f1', {
      involvedObject: { kind: 'Pod', namespace: ns, name: 'crash-1', fieldPath: 'spec.containers{web}' },
      type: 'Warning', reason: 'BackOff', message: 'Back-off restarting failed container web in pod crash-1',
      source: { component: 'kubelet', host: 'p-node-a' }, firstTimestamp: daysAgo(5), lastTimestamp: daysAgo(3), count: 12,
    }, { app: 'web' });
    await event('web-1.17f3a9c2b4d1e0f2', {
      involvedObject: { kind: 'Pod', namespace: ns, name: 'web-1' },
      type: 'Normal', reason: 'Scheduled', message: 'Successfully assigned p-ev/web-1 to p-node-a',
      source: { component: 'default-scheduler' }, firstTimestamp: daysAgo(3), lastTimestamp: daysAgo(3), count: 1,
    });
    await event('web.17f3a9c2b4d1e0f3', {
      involvedObject: { kind: 'Deployment', namespace: ns, name: 'web', apiVersion: 'apps/v1' },
      type: 'Normal', reason: 'ScalingReplicaSet', message: 'Scaled up replica set web-5d4f8c9b7 to 3 ',
      eventTime: daysAgo(2, true), series: { count: 4, lastObservedTime: daysAgo(2, true) },
      reportingComponent: 'deployment-controller', reportingInstance: 'kubelite-0', action: 'Scaling',
      source: {},
    }, { app: 'web' });
  });

  const table = text(
    'LAST SEEN   TYPE      REASON              OBJECT           MESSAGE',
    '3d          Warning   BackOff             pod/crash-1      Back-off restarting failed container web in pod crash-1',
    '3d          Normal    Scheduled           pod/web-1        Successfully assigned p-ev/web-1 to p-node-a',
    '2d          Normal    ScalingReplicaSet   deployment/web   Scaled up replica set web-5d4f8c9b7 to 3',
  );
  test('get events', () => get(['events', '-n', ns], table));
  test('--sort-by', () => get(['events', '-n', ns, '--sort-by=.metadata.name'], table));
  test('-o wide', () => get(['events', '-n', ns, '-o', 'wide'], text(
    'LAST SEEN   TYPE      REASON              OBJECT           SUBOBJECT              SOURCE                              MESSAGE                                                   FIRST SEEN   COUNT   NAME',
    '3d          Warning   BackOff             pod/crash-1      spec.containers{web}   kubelet, p-node-a                   Back-off restarting failed container web in pod crash-1   5d           12      crash-1.17f3a9c2b4d1e0f1',
    '3d          Normal    Scheduled           pod/web-1                               default-scheduler                   Successfully assigned p-ev/web-1 to p-node-a              3d           1       web-1.17f3a9c2b4d1e0f2',
    '2d          Normal    ScalingReplicaSet   deployment/web                          deployment-controller, kubelite-0   Scaled up replica set web-5d4f8c9b7 to 3                  2d           4       web.17f3a9c2b4d1e0f3',
  )));
  test('--show-labels', () => get(['events', '-n', ns, '--show-labels', '-l', 'app=web'], text(
    'LAST SEEN   TYPE      REASON              OBJECT           MESSAGE                                                   LABELS',
    '3d          Warning   BackOff             pod/crash-1      Back-off restarting failed container web in pod crash-1   app=web,printing=ev',
    '2d          Normal    ScalingReplicaSet   deployment/web   Scaled up replica set web-5d4f8c9b7 to 3                  app=web,printing=ev',
  )));
  test('-L app', () => get(['events', '-n', ns, '-L', 'app'], text(
    'LAST SEEN   TYPE      REASON              OBJECT           MESSAGE                                                   APP',
    '3d          Warning   BackOff             pod/crash-1      Back-off restarting failed container web in pod crash-1   web',
    '3d          Normal    Scheduled           pod/web-1        Successfully assigned p-ev/web-1 to p-node-a              ',
    '2d          Normal    ScalingReplicaSet   deployment/web   Scaled up replica set web-5d4f8c9b7 to 3                  web',
  )));
  test('-A', () => get(['events', '-A', '-l', 'printing=ev,app=web'], text(
    'NAMESPACE   LAST SEEN   TYPE      REASON              OBJECT           MESSAGE',
    'p-ev        3d          Warning   BackOff             pod/crash-1      Back-off restarting failed container web in pod crash-1',
    'p-ev        2d          Normal    ScalingReplicaSet   deployment/web   Scaled up replica set web-5d4f8c9b7 to 3',
  )));
  test('one event', () => get(['event', 'web-1.17f3a9c2b4d1e0f2', '-n', ns], text(
    'LAST SEEN   TYPE     REASON      OBJECT      MESSAGE',
    '3d          Normal   Scheduled   pod/web-1   Successfully assigned p-ev/web-1 to p-node-a',
  )));
});

describe('leases', () => {
  const ns = 'p-lease';
  before(async () => {
    await namespace(ns);
    const lease = (name: string, spec: Record<string, unknown>, app: string) => create(`/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`, {
      apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, labels: { printing: 'lease', app } }, spec,
    });
    await lease('kube-scheduler', { holderIdentity: 'p-node-a_6f1c2d3e', leaseDurationSeconds: 15, acquireTime: daysAgo(1, true), renewTime: daysAgo(1, true), leaseTransitions: 2 }, 'scheduler');
    await lease('unheld', { leaseDurationSeconds: 15 }, 'none');
  });

  const table = text(
    'NAME             HOLDER              AGE',
    'kube-scheduler   p-node-a_6f1c2d3e   Ns',
    'unheld                               Ns',
  );
  test('get leases', () => get(['leases', '-n', ns], table));
  test('-o wide (no wide columns)', () => get(['leases', '-n', ns, '-o', 'wide'], table));
  test('--sort-by', () => get(['leases', '-n', ns, '--sort-by=.metadata.name'], table));
  test('--show-labels', () => get(['leases', '-n', ns, '--show-labels'], text(
    'NAME             HOLDER              AGE   LABELS',
    'kube-scheduler   p-node-a_6f1c2d3e   Ns    app=scheduler,printing=lease',
    'unheld                               Ns    app=none,printing=lease',
  )));
  test('-L app', () => get(['leases', '-n', ns, '-L', 'app'], text(
    'NAME             HOLDER              AGE   APP',
    'kube-scheduler   p-node-a_6f1c2d3e   Ns    scheduler',
    'unheld                               Ns    none',
  )));
  test('-A', () => get(['leases', '-A', '-l', 'printing=lease'], text(
    'NAMESPACE   NAME             HOLDER              AGE',
    'p-lease     kube-scheduler   p-node-a_6f1c2d3e   Ns',
    'p-lease     unheld                               Ns',
  )));
  test('one lease', () => get(['lease', 'unheld', '-n', ns], text(
    'NAME     HOLDER   AGE',
    'unheld            Ns',
  )));
});

describe('several kinds at once', () => {
  const ns = 'p-apps';
  before(async () => {
    await namespace(ns);
    await workloads(ns, 'apps');
    await create(`/api/v1/namespaces/${ns}/pods`, {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-5d4f8c9b7-x2kqp', labels: { app: 'web', 'pod-template-hash': '5d4f8c9b7' } },
      spec: { schedulerName: UNSCHEDULED, containers: [{ name: 'web', image: 'nginx:1.27' }, { name: 'log', image: 'busybox:1.36' }] },
    });
    await create(`/api/v1/namespaces/${ns}/services`, {
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { clusterIP: '127.96.0.7', selector: { app: 'web' }, ports: [{ port: 80 }] },
    });
  });

  test('get deploy,rs: a table per kind, names with kind.group/', () => get(['deploy,rs', '-n', ns], text(
    'NAME                   READY   UP-TO-DATE   AVAILABLE   AGE',
    'deployment.apps/api    1/1     1            1           Ns',
    'deployment.apps/idle   0/0     0            0           Ns',
    'deployment.apps/web    2/3     3            2           Ns',
    '',
    'NAME                            DESIRED   CURRENT   READY   AGE',
    'replicaset.apps/web-5d4f8c9b7   3         3         2       Ns',
  )));

  test('get all', () => get(['all', '-n', ns], text(
    'NAME                      READY   STATUS    RESTARTS   AGE',
    'pod/web-5d4f8c9b7-x2kqp   0/2     Pending   0          Ns',
    '',
    'NAME          TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)   AGE',
    'service/web   ClusterIP   127.96.0.7   <none>        80/TCP    Ns',
    '',
    'NAME                   READY   UP-TO-DATE   AVAILABLE   AGE',
    'deployment.apps/api    1/1     1            1           Ns',
    'deployment.apps/idle   0/0     0            0           Ns',
    'deployment.apps/web    2/3     3            2           Ns',
    '',
    'NAME                            DESIRED   CURRENT   READY   AGE',
    'replicaset.apps/web-5d4f8c9b7   3         3         2       Ns',
  )));

  test('an empty result says so on stderr', async () => {
    for (const [args, message] of [
      [['deployments'], 'No resources found in default namespace.\n'],
      [['pods', '-n', 'p-apps', '-l', 'app=none'], 'No resources found in p-apps namespace.\n'],
      [['nodes', '-l', 'printing=none'], 'No resources found\n'],
      [['all', '-n', 'kube-public'], 'No resources found in kube-public namespace.\n'],
    ] as const) {
      const r = await c.kubectl(['get', ...args]);
      assert.equal(r.code, 0);
      assert.equal(r.stdout, '', args.join(' '));
      assert.equal(r.stderr, message, args.join(' '));
    }
  });
});

/** A `kubectl get -w` whose output is read as it arrives. */
function watch(args: string[]) {
  const child = spawn('kubectl', [`--kubeconfig=${c.kubeconfig}`, `--cache-dir=${c.dataDir}/kubectl-watch-cache`, 'get', ...args, '-w'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  return {
    /** Wait until `n` lines have been printed. */
    async lines(n: number): Promise<void> {
      const deadline = Date.now() + 20_000;
      while (out.split('\n').length - 1 < n) {
        if (Date.now() > deadline) throw new Error(`kubectl get ${args.join(' ')} -w printed only:\n${out}${err}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    output: () => out,
    errors: () => err,
    stop: () => child.kill(),
  };
}

describe('get -w', () => {
  const ns = 'p-watch';
  const base = `/api/v1/namespaces/${ns}/pods`;
  const pod = (name: string) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { schedulerName: UNSCHEDULED, containers: [{ name: 'web', image: 'nginx:1.27' }] } });
  before(async () => {
    await namespace(ns);
    await create(base, pod('w-1'));
  });

  test('a list watch prints one row per event, aligned with the list', async () => {
    const w = watch(['pods', '-n', ns]);
    try {
      await w.lines(2);
      await setStatus(`${base}/w-1`, {
        phase: 'Running', podIP: '10.244.3.1', podIPs: [{ ip: '10.244.3.1' }], conditions: [{ type: 'Ready', status: 'True' }],
        containerStatuses: [{ name: 'web', image: 'nginx:1.27', imageID: '', ready: true, started: true, restartCount: 0, state: { running: { startedAt: daysAgo(0) } } }],
      });
      await w.lines(3);
      await create(base, pod('w-2'));
      await w.lines(4);
      await setStatus(`${base}/w-2`, {
        phase: 'Pending',
        containerStatuses: [{ name: 'web', image: 'nginx:1.27', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'ContainerCreating' } } }],
      });
      await w.lines(5);
      await remove(`${base}/w-2`);
      await w.lines(6);
    } finally {
      w.stop();
    }
    assert.equal(w.errors(), '');
    assert.equal(maskAges(w.output()), text(
      'NAME   READY   STATUS    RESTARTS   AGE',
      'w-1    0/1     Pending   0          Ns',
      'w-1    1/1     Running   0          Ns',
      'w-2    0/1     Pending   0          Ns',
      'w-2    0/1     ContainerCreating   0          Ns',
      'w-2    0/1     ContainerCreating   0          Ns',
    ));
  });

  test('a watch of one object starts with its current row', async () => {
    const w = watch(['pod', 'w-1', '-n', ns, '-o', 'wide']);
    try {
      await w.lines(2);
      await c.request('PATCH', `${base}/w-1`, { metadata: { labels: { seen: 'yes' } } }, { headers: { 'Content-Type': 'application/merge-patch+json' } });
      await w.lines(3);
    } finally {
      w.stop();
    }
    assert.equal(w.errors(), '');
    assert.equal(maskAges(w.output()), text(
      'NAME   READY   STATUS    RESTARTS   AGE   IP           NODE     NOMINATED NODE   READINESS GATES',
      'w-1    1/1     Running   0          Ns    10.244.3.1   <none>   <none>           <none>',
      'w-1    1/1     Running   0          Ns    10.244.3.1   <none>   <none>           <none>',
    ));
  });
});
