// Server-side printing, object → cells: upstream's printers.go rules column by column, AGE
// (duration.HumanDuration) at every boundary, and the Table the apiserver assembles from them.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  PRINTERS, printerFor, humanDuration, timestampSince, formatLabels, labelSelectorString, loadBalancerIngress,
  serviceExternalIP, formatEndpoints, nodeRoles, type TableCell,
} from '../src/api/printers.js';
import { toTable, wantsTable, includeObjectOf } from '../src/apiserver/tables.js';
import { lookupKind, RESOURCES } from '../src/api/resources.js';
import { ApiError } from '../src/apiserver/errors.js';
import type { KObject } from '../src/api/types.js';

const NOW = Date.parse('2026-11-26T12:00:00Z');
const ago = (seconds: number): string => new Date(NOW - seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
const S = 1, M = 60, H = 3600, D = 86400;

/** The row of one object as { column name: cell }. */
function row(kind: string, obj: Record<string, unknown>): Record<string, TableCell> {
  const p = printerFor(kind);
  const cells = p.cells(obj as unknown as KObject, NOW);
  assert.equal(cells.length, p.columns.length, `${kind}: one cell per column`);
  return Object.fromEntries(p.columns.map((c, i) => [c.name, cells[i]]));
}

const meta = (name: string, extra: Record<string, unknown> = {}) => ({ name, namespace: 'default', creationTimestamp: ago(42), ...extra });

describe('AGE: duration.HumanDuration', () => {
  const cases: [number, string][] = [
    [-5 * S, '<invalid>'], [-2 * S, '<invalid>'], [-1.999 * S, '0s'], [-1 * S, '0s'], [-0.5 * S, '0s'], [0, '0s'],
    [0.999 * S, '0s'], [7 * S, '7s'], [59 * S, '59s'], [119 * S, '119s'], [119.999 * S, '119s'],
    [120 * S, '2m'], [150 * S, '2m30s'], [181 * S, '3m1s'], [599 * S, '9m59s'],
    [600 * S, '10m'], [659 * S, '10m'], [35 * M, '35m'], [78 * M, '78m'], [179 * M + 59 * S, '179m'],
    [180 * M, '3h'], [3 * H + 5 * M, '3h5m'], [3 * H + 5 * M + 59 * S, '3h5m'], [7 * H + 59 * M + 59 * S, '7h59m'],
    [8 * H, '8h'], [47 * H + 59 * M, '47h'],
    [48 * H, '2d'], [2 * D + 3 * H, '2d3h'], [7 * D + 23 * H + 59 * M, '7d23h'],
    [8 * D, '8d'], [729 * D + 23 * H, '729d'],
    [730 * D, '2y'], [730 * D + 70 * D, '2y70d'], [8 * 365 * D - 1 * S, '7y364d'],
    [8 * 365 * D, '8y'], [8 * 365 * D + 100 * D, '8y'], [100 * 365 * D, '100y'],
  ];
  for (const [seconds, want] of cases) {
    test(`${seconds}s → ${want}`, () => assert.equal(humanDuration(seconds * 1000), want));
  }

  test('unset and zero timestamps are <unknown>', () => {
    assert.equal(timestampSince(undefined, NOW), '<unknown>');
    assert.equal(timestampSince(null, NOW), '<unknown>');
    assert.equal(timestampSince('', NOW), '<unknown>');
    assert.equal(timestampSince('0001-01-01T00:00:00Z', NOW), '<unknown>');
  });

  test('timestamps, with and without fractions (MicroTime)', () => {
    assert.equal(timestampSince(ago(90), NOW), '90s');
    assert.equal(timestampSince('2026-11-26T11:59:30.123456Z', NOW), '29s');
    assert.equal(timestampSince('2026-11-26T12:00:01Z', NOW), '0s');
    assert.equal(timestampSince('2026-11-26T12:00:05Z', NOW), '<invalid>');
  });
});

describe('column definitions', () => {
  const headers = (kind: string, wide: boolean) =>
    PRINTERS[kind].columns.filter((c) => wide || c.priority === 0).map((c) => c.name.toUpperCase()).join(' | ');

  test('every served resource has its upstream printer', () => {
    for (const r of RESOURCES) assert.ok(PRINTERS[r.kind], `printer for ${r.kind}`);
  });

  test('headers, default and -o wide', () => {
    const want: Record<string, [string, string]> = {
      Pod: ['NAME | READY | STATUS | RESTARTS | AGE', 'NAME | READY | STATUS | RESTARTS | AGE | IP | NODE | NOMINATED NODE | READINESS GATES'],
      Service: ['NAME | TYPE | CLUSTER-IP | EXTERNAL-IP | PORT(S) | AGE', 'NAME | TYPE | CLUSTER-IP | EXTERNAL-IP | PORT(S) | AGE | SELECTOR'],
      Endpoints: ['NAME | ENDPOINTS | AGE', 'NAME | ENDPOINTS | AGE'],
      EndpointSlice: ['NAME | ADDRESSTYPE | PORTS | ENDPOINTS | AGE', 'NAME | ADDRESSTYPE | PORTS | ENDPOINTS | AGE'],
      Node: ['NAME | STATUS | ROLES | AGE | VERSION', 'NAME | STATUS | ROLES | AGE | VERSION | INTERNAL-IP | EXTERNAL-IP | OS-IMAGE | KERNEL-VERSION | CONTAINER-RUNTIME'],
      Namespace: ['NAME | STATUS | AGE', 'NAME | STATUS | AGE'],
      Event: ['LAST SEEN | TYPE | REASON | OBJECT | MESSAGE', 'LAST SEEN | TYPE | REASON | OBJECT | SUBOBJECT | SOURCE | MESSAGE | FIRST SEEN | COUNT | NAME'],
      Lease: ['NAME | HOLDER | AGE', 'NAME | HOLDER | AGE'],
      Deployment: ['NAME | READY | UP-TO-DATE | AVAILABLE | AGE', 'NAME | READY | UP-TO-DATE | AVAILABLE | AGE | CONTAINERS | IMAGES | SELECTOR'],
      ReplicaSet: ['NAME | DESIRED | CURRENT | READY | AGE', 'NAME | DESIRED | CURRENT | READY | AGE | CONTAINERS | IMAGES | SELECTOR'],
    };
    for (const [kind, [narrow, wide]] of Object.entries(want)) {
      assert.equal(headers(kind, false), narrow, kind);
      assert.equal(headers(kind, true), wide, `${kind} wide`);
    }
  });

  test('exactly one Name column, with format "name", described as upstream does', () => {
    for (const [kind, p] of Object.entries(PRINTERS)) {
      const named = p.columns.filter((c) => c.format === 'name');
      assert.equal(named.length, 1, kind);
      assert.equal(named[0].name, 'Name');
      assert.match(named[0].description, /^Name must be unique within a namespace\. /);
      for (const c of p.columns) {
        assert.deepEqual(Object.keys(c), ['name', 'type', 'format', 'description', 'priority'], `${kind}.${c.name} field order`);
        assert.ok(c.description.length > 0, `${kind}.${c.name} has a description`);
      }
    }
    assert.equal(PRINTERS.Event.columns.find((c) => c.name === 'Name')!.priority, 1);
    assert.match(PRINTERS.Pod.columns.find((c) => c.name === 'Age')!.description, /^CreationTimestamp is a timestamp representing the server time/);
  });

  test('upstream column types (integer where the Go printer writes numbers)', () => {
    assert.deepEqual(PRINTERS.ReplicaSet.columns.map((c) => c.type), ['string', 'integer', 'integer', 'integer', 'string', 'string', 'string', 'string']);
    assert.equal(PRINTERS.Pod.columns.find((c) => c.name === 'Restarts')!.type, 'string');
  });
});

describe('pods', () => {
  const pod = (status: Record<string, unknown>, spec: Record<string, unknown> = {}, m: Record<string, unknown> = {}) => ({
    apiVersion: 'v1', kind: 'Pod', metadata: meta('web-1', m),
    spec: { containers: [{ name: 'web', image: 'nginx' }], ...spec }, status,
  });
  const running = (name: string, ready = true, restartCount = 0, extra: Record<string, unknown> = {}) =>
    ({ name, ready, restartCount, state: { running: { startedAt: ago(30) } }, ...extra });
  const waiting = (name: string, reason?: string, restartCount = 0) => ({ name, ready: false, restartCount, state: { waiting: reason ? { reason } : {} } });
  const terminated = (name: string, t: Record<string, unknown>, restartCount = 0) => ({ name, ready: false, restartCount, state: { terminated: t } });
  const readyCond = (status = 'True') => ({ type: 'Ready', status });
  const two = { containers: [{ name: 'a', image: 'x' }, { name: 'b', image: 'y' }] };

  test('a new pod: Pending, nothing ready, <none> everywhere wide', () => {
    assert.deepEqual(PRINTERS.Pod.cells(pod({ phase: 'Pending' }) as unknown as KObject, NOW),
      ['web-1', '0/1', 'Pending', '0', '42s', '<none>', '<none>', '<none>', '<none>']);
  });

  test('STATUS', () => {
    const status = (s: Record<string, unknown>, spec?: Record<string, unknown>, m?: Record<string, unknown>) => row('Pod', pod(s, spec, m)).Status;
    assert.equal(status({}), '');
    assert.equal(status({ phase: 'Running', containerStatuses: [running('web')] }), 'Running');
    assert.equal(status({ phase: 'Pending', containerStatuses: [waiting('web', 'ContainerCreating')] }), 'ContainerCreating');
    assert.equal(status({ phase: 'Running', containerStatuses: [waiting('web', 'CrashLoopBackOff', 4)] }), 'CrashLoopBackOff');
    assert.equal(status({ phase: 'Pending', containerStatuses: [waiting('web', 'ImagePullBackOff')] }), 'ImagePullBackOff');
    assert.equal(status({ phase: 'Pending', containerStatuses: [waiting('web')] }), 'Pending', 'a waiting state without a reason keeps the phase');
    assert.equal(status({ phase: 'Succeeded', containerStatuses: [terminated('web', { exitCode: 0, reason: 'Completed' })] }), 'Completed');
    assert.equal(status({ phase: 'Failed', containerStatuses: [terminated('web', { exitCode: 1, reason: 'Error' })] }), 'Error');
    assert.equal(status({ phase: 'Failed', containerStatuses: [terminated('web', { exitCode: 137, reason: 'OOMKilled' })] }), 'OOMKilled');
    assert.equal(status({ phase: 'Failed', containerStatuses: [terminated('web', { exitCode: 3 })] }), 'ExitCode:3');
    assert.equal(status({ phase: 'Failed', containerStatuses: [terminated('web', { exitCode: 0, signal: 9 })] }), 'Signal:9');
    assert.equal(status({ phase: 'Failed', reason: 'Evicted', message: 'low on memory' }), 'Evicted', 'status.reason replaces the phase');
    assert.equal(status({ phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'SchedulingGated' }] }), 'SchedulingGated');
    assert.equal(status({ phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable' }] }), 'Pending');
    // The reverse scan leaves the first container's reason.
    assert.equal(status({ phase: 'Pending', containerStatuses: [waiting('a', 'ImagePullBackOff'), waiting('b', 'CrashLoopBackOff')] }, two), 'ImagePullBackOff');
    assert.equal(status({ phase: 'Running', containerStatuses: [running('a'), waiting('b', 'CrashLoopBackOff')] }, two), 'CrashLoopBackOff');
  });

  test('Completed with a container still running: Running when the pod is Ready, else NotReady', () => {
    const s = (conditions: unknown[]) => row('Pod', pod({
      phase: 'Running', conditions,
      containerStatuses: [terminated('a', { exitCode: 0, reason: 'Completed' }), running('b')],
    }, two));
    assert.equal(s([readyCond()]).Status, 'Running');
    assert.equal(s([readyCond()]).Ready, '1/2');
    assert.equal(s([readyCond('False')]).Status, 'NotReady');
    assert.equal(s([]).Status, 'NotReady');
  });

  test('Terminating, and Unknown for pods of a lost node', () => {
    const deleting = { deletionTimestamp: ago(-30), deletionGracePeriodSeconds: 30 };
    assert.equal(row('Pod', pod({ phase: 'Running', containerStatuses: [running('web')] }, {}, deleting)).Status, 'Terminating');
    assert.equal(row('Pod', pod({ phase: 'Pending' }, {}, deleting)).Status, 'Terminating');
    assert.equal(row('Pod', pod({ phase: 'Running', reason: 'NodeLost', containerStatuses: [running('web')] }, {}, deleting)).Status, 'Unknown');
    assert.equal(row('Pod', pod({ phase: 'Running', reason: 'NodeLost' })).Status, 'NodeLost', 'NodeLost without deletion is just the reason');
    // Finished pods are not "terminating".
    assert.equal(row('Pod', pod({ phase: 'Succeeded', containerStatuses: [terminated('web', { exitCode: 0, reason: 'Completed' })] }, {}, deleting)).Status, 'Completed');
    assert.equal(row('Pod', pod({ phase: 'Failed' }, {}, deleting)).Status, 'Failed');
  });

  test('init containers: Init:x/y, Init:<reason>, Init:Signal, Init:ExitCode', () => {
    const spec = { initContainers: [{ name: 'i1', image: 'x' }, { name: 'i2', image: 'x' }] };
    const s = (initContainerStatuses: unknown[], extra: Record<string, unknown> = {}) =>
      row('Pod', pod({ phase: 'Pending', initContainerStatuses, containerStatuses: [waiting('web', 'PodInitializing')], ...extra }, spec)).Status;
    assert.equal(s([waiting('i1', 'PodInitializing'), waiting('i2', 'PodInitializing')]), 'Init:0/2');
    assert.equal(s([running('i1', false), waiting('i2', 'PodInitializing')]), 'Init:0/2');
    assert.equal(s([terminated('i1', { exitCode: 0, reason: 'Completed' }), running('i2', false)]), 'Init:1/2');
    assert.equal(s([waiting('i1', 'CrashLoopBackOff', 3), waiting('i2', 'PodInitializing')]), 'Init:CrashLoopBackOff');
    assert.equal(s([terminated('i1', { exitCode: 1, reason: 'Error' }), waiting('i2')]), 'Init:Error');
    assert.equal(s([terminated('i1', { exitCode: 3 }), waiting('i2')]), 'Init:ExitCode:3');
    assert.equal(s([terminated('i1', { exitCode: 137, signal: 9 }), waiting('i2')]), 'Init:Signal:9');
    assert.equal(s([]), 'PodInitializing', 'no init statuses yet: the containers decide');
    // With the Initialized condition true the containers are looked at even if an init status lags,
    // but a running container sets no reason: the init status stays (upstream's behaviour).
    assert.equal(s([running('i1', false), waiting('i2')], {
      conditions: [{ type: 'Initialized', status: 'True' }], containerStatuses: [running('web')],
    }), 'Init:0/2');
    assert.equal(s([running('i1', false), waiting('i2')], {
      conditions: [{ type: 'Initialized', status: 'True' }], containerStatuses: [waiting('web', 'CrashLoopBackOff')],
    }), 'CrashLoopBackOff');
    // All init containers done.
    assert.equal(row('Pod', pod({
      phase: 'Running', initContainerStatuses: [terminated('i1', { exitCode: 0, reason: 'Completed' }), terminated('i2', { exitCode: 0, reason: 'Completed' })],
      containerStatuses: [running('web')],
    }, spec)).Status, 'Running');
  });

  test('sidecars (restartable init containers) count as containers', () => {
    const spec = { initContainers: [{ name: 'proxy', image: 'envoy', restartPolicy: 'Always' }, { name: 'setup', image: 'x' }] };
    const r = row('Pod', pod({
      phase: 'Running',
      conditions: [{ type: 'Initialized', status: 'True' }, readyCond()],
      initContainerStatuses: [
        running('proxy', true, 2, { started: true, lastState: { terminated: { exitCode: 1, finishedAt: ago(3 * M) } } }),
        terminated('setup', { exitCode: 0, reason: 'Completed' }),
      ],
      containerStatuses: [running('web', true, 1, { lastState: { terminated: { exitCode: 1, finishedAt: ago(10 * M) } } })],
    }, spec));
    assert.equal(r.Ready, '2/2');
    assert.equal(r.Status, 'Running');
    assert.equal(r.Restarts, '3 (3m ago)', 'sidecar and container restarts, the latest termination');

    const starting = row('Pod', pod({
      phase: 'Pending',
      initContainerStatuses: [running('proxy', false, 0, { started: false }), waiting('setup', 'PodInitializing')],
    }, spec));
    assert.equal(starting.Status, 'Init:0/2');
    assert.equal(starting.Ready, '0/2');
    const started = row('Pod', pod({
      phase: 'Pending',
      initContainerStatuses: [running('proxy', true, 0, { started: true }), running('setup', false)],
    }, spec));
    assert.equal(started.Status, 'Init:1/2');
    assert.equal(started.Ready, '1/2');
  });

  test('RESTARTS: sum, and when the last container restarted', () => {
    const restarts = (s: Record<string, unknown>, spec?: Record<string, unknown>) => row('Pod', pod(s, spec)).Restarts;
    assert.equal(restarts({ phase: 'Running', containerStatuses: [running('web', true, 0)] }), '0');
    assert.equal(restarts({ phase: 'Running', containerStatuses: [running('web', true, 3)] }), '3', 'no last termination known');
    assert.equal(restarts({ phase: 'Running', containerStatuses: [waiting('web', 'CrashLoopBackOff', 5)].map((c) => ({ ...c, lastState: { terminated: { exitCode: 1, finishedAt: ago(5 * M) } } })) }), '5 (5m ago)');
    assert.equal(restarts({ phase: 'Running', containerStatuses: [
      running('a', true, 1, { lastState: { terminated: { exitCode: 1, finishedAt: ago(2 * H) } } }),
      running('b', true, 2, { lastState: { terminated: { exitCode: 1, finishedAt: ago(41) } } }),
    ] }, two), '3 (41s ago)');
    assert.equal(restarts({ phase: 'Running', containerStatuses: [running('web', true, 2, { lastState: { terminated: { exitCode: 1 } } })] }), '2', 'a termination without finishedAt');
    // While initialising, only the init containers' restarts count.
    assert.equal(restarts({ phase: 'Pending', initContainerStatuses: [
      { ...waiting('init', 'CrashLoopBackOff', 4), lastState: { terminated: { exitCode: 1, finishedAt: ago(20) } } },
    ], containerStatuses: [waiting('web', 'PodInitializing', 9)] }, { initContainers: [{ name: 'init', image: 'x' }] }), '4 (20s ago)');
  });

  test('READY counts containers that are ready and running', () => {
    const ready = (containerStatuses: unknown[]) => row('Pod', pod({ phase: 'Running', containerStatuses }, two)).Ready;
    assert.equal(ready([running('a'), running('b')]), '2/2');
    assert.equal(ready([running('a'), running('b', false)]), '1/2');
    assert.equal(ready([{ name: 'a', ready: true, state: {} }, running('b')]), '1/2', 'ready without a running state does not count');
    assert.equal(ready([]), '0/2');
  });

  test('wide: IP, NODE, NOMINATED NODE, READINESS GATES', () => {
    const r = row('Pod', pod({
      phase: 'Running', podIP: '10.244.0.13', podIPs: [{ ip: '10.244.0.13' }, { ip: 'fd00::13' }], nominatedNodeName: 'node-2',
      conditions: [{ type: 'example.com/gate-a', status: 'True' }, { type: 'example.com/gate-b', status: 'False' }],
    }, { nodeName: 'node-1', readinessGates: [{ conditionType: 'example.com/gate-a' }, { conditionType: 'example.com/gate-b' }, { conditionType: 'example.com/gate-c' }] }));
    assert.deepEqual([r.IP, r.Node, r['Nominated Node'], r['Readiness Gates']], ['10.244.0.13', 'node-1', 'node-2', '1/3']);
    assert.equal(row('Pod', pod({ podIPs: [{ ip: 'fd00::1' }] })).IP, 'fd00::1');
    assert.equal(row('Pod', pod({ podIP: '10.0.0.2', podIPs: [{ ip: '10.0.0.9' }] })).IP, '10.0.0.2', 'podIP is authoritative');
    assert.equal(row('Pod', pod({}, { readinessGates: [{ conditionType: 'x' }] }))['Readiness Gates'], '0/1');
  });

  test('finished pods carry the Completed row condition', () => {
    const p = PRINTERS.Pod;
    assert.deepEqual(p.conditions!(pod({ phase: 'Succeeded' }) as unknown as KObject),
      [{ type: 'Completed', status: 'True', reason: 'Succeeded', message: 'The pod has completed successfully.' }]);
    assert.deepEqual(p.conditions!(pod({ phase: 'Failed' }) as unknown as KObject),
      [{ type: 'Completed', status: 'True', reason: 'Failed', message: 'The pod failed.' }]);
    assert.equal(p.conditions!(pod({ phase: 'Running' }) as unknown as KObject), undefined);
  });
});

describe('services', () => {
  const svc = (spec: Record<string, unknown>, status: Record<string, unknown> = { loadBalancer: {} }) =>
    ({ apiVersion: 'v1', kind: 'Service', metadata: meta('web'), spec, status });

  test('ClusterIP', () => {
    assert.deepEqual(PRINTERS.Service.cells(svc({ type: 'ClusterIP', clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10'], ports: [{ port: 80, protocol: 'TCP', targetPort: 8080 }], selector: { app: 'web' } }) as unknown as KObject, NOW),
      ['web', 'ClusterIP', '10.96.0.10', '<none>', '80/TCP', '42s', 'app=web']);
  });

  test('CLUSTER-IP', () => {
    assert.equal(row('Service', svc({ type: 'ClusterIP', clusterIP: 'None', clusterIPs: ['None'] }))['Cluster-IP'], 'None');
    assert.equal(row('Service', svc({ type: 'ClusterIP', clusterIPs: ['10.96.0.1', 'fd00::1'] }))['Cluster-IP'], '10.96.0.1');
    assert.equal(row('Service', svc({ type: 'ExternalName', externalName: 'db.example.com' }))['Cluster-IP'], '<none>');
    assert.equal(row('Service', svc({ type: 'ClusterIP', clusterIP: '10.96.0.7' }))['Cluster-IP'], '10.96.0.7');
  });

  test('EXTERNAL-IP', () => {
    const ext = (spec: Record<string, unknown>, status?: Record<string, unknown>) => row('Service', svc(spec, status))['External-IP'];
    assert.equal(ext({ type: 'ClusterIP' }), '<none>');
    assert.equal(ext({ type: 'ClusterIP', externalIPs: ['1.2.3.4', '5.6.7.8'] }), '1.2.3.4,5.6.7.8');
    assert.equal(ext({ type: 'NodePort' }), '<none>');
    assert.equal(ext({ type: 'NodePort', externalIPs: ['1.2.3.4'] }), '1.2.3.4');
    assert.equal(ext({ type: 'LoadBalancer' }), '<pending>');
    assert.equal(ext({ type: 'LoadBalancer' }, { loadBalancer: { ingress: [{ ip: '203.0.113.9' }, { ip: '203.0.113.1' }, { ip: '203.0.113.9' }] } }), '203.0.113.1,203.0.113.9',
      'sorted, de-duplicated, never cut: served tables are wide');
    assert.equal(ext({ type: 'LoadBalancer' }, { loadBalancer: { ingress: [{ hostname: 'lb.example.com' }, { ip: '10.1.1.1', hostname: 'ignored' }] } }), '10.1.1.1,lb.example.com');
    assert.equal(ext({ type: 'LoadBalancer', externalIPs: ['1.2.3.4'] }, { loadBalancer: { ingress: [{ ip: '10.1.1.1' }] } }), '10.1.1.1,1.2.3.4');
    assert.equal(ext({ type: 'LoadBalancer', externalIPs: ['1.2.3.4'] }), '1.2.3.4');
    assert.equal(ext({ type: 'ExternalName', externalName: 'db.example.com' }), 'db.example.com');
    assert.equal(ext({}), '<unknown>');
  });

  test('the LoadBalancer list is cut to 16 characters outside wide output', () => {
    const lb = { ingress: [{ ip: '203.0.113.10' }, { ip: '203.0.113.11' }] };
    assert.equal(loadBalancerIngress(lb, false), '203.0.113.10,...');
    assert.equal(loadBalancerIngress(lb, true), '203.0.113.10,203.0.113.11');
    assert.equal(loadBalancerIngress({ ingress: [{ hostname: 'lb-1.example.com' }] }, false), 'lb-1.example.com', '16 characters fit');
    assert.equal(loadBalancerIngress({ ingress: [{ hostname: 'lb-12.example.com' }] }, false), 'lb-12.example...');
    assert.equal(serviceExternalIP({ spec: { type: 'LoadBalancer' }, status: { loadBalancer: lb } }, false), '203.0.113.10,...');
  });

  test('PORT(S)', () => {
    const ports = (p: unknown[] | undefined, type = 'ClusterIP') => row('Service', svc({ type, ports: p }))['Port(s)'];
    assert.equal(ports([{ port: 80, protocol: 'TCP' }]), '80/TCP');
    assert.equal(ports([{ port: 80, protocol: 'TCP', nodePort: 30080 }], 'NodePort'), '80:30080/TCP');
    assert.equal(ports([{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, protocol: 'TCP' }, { name: 'metrics', port: 9153, protocol: 'TCP' }]), '53/UDP,53/TCP,9153/TCP');
    assert.equal(ports([{ port: 443, protocol: 'TCP', nodePort: 31443 }, { port: 80, protocol: 'TCP', nodePort: 0 }], 'LoadBalancer'), '443:31443/TCP,80/TCP');
    assert.equal(ports([{ port: 80 }]), '80/', 'no protocol prints as Go formats an empty string');
    assert.equal(ports([]), '<none>');
    assert.equal(ports(undefined, 'ExternalName'), '<none>');
  });

  test('SELECTOR (labels.FormatLabels)', () => {
    assert.equal(row('Service', svc({ type: 'ClusterIP', selector: { tier: 'front', app: 'web' } })).Selector, 'app=web,tier=front');
    assert.equal(row('Service', svc({ type: 'ClusterIP' })).Selector, '<none>');
    assert.equal(formatLabels({}), '<none>');
    assert.equal(formatLabels({ b: '', a: 'x' }), 'a=x,b=');
  });
});

describe('endpoints', () => {
  const ep = (subsets?: unknown[]) => ({ apiVersion: 'v1', kind: 'Endpoints', metadata: meta('web'), ...(subsets ? { subsets } : {}) });
  const addrs = (...ips: string[]) => ips.map((ip) => ({ ip }));
  const show = (subsets?: unknown[]) => formatEndpoints(ep(subsets) as Parameters<typeof formatEndpoints>[0]);

  test('row', () => {
    assert.deepEqual(PRINTERS.Endpoints.cells(ep([{ addresses: addrs('10.244.0.13', '10.244.0.14'), ports: [{ port: 8080, protocol: 'TCP' }] }]) as unknown as KObject, NOW),
      ['web', '10.244.0.13:8080,10.244.0.14:8080', '42s']);
  });

  test('ENDPOINTS', () => {
    assert.equal(show(undefined), '<none>');
    assert.equal(show([]), '<none>');
    assert.equal(show([{ addresses: addrs('10.0.0.1', '10.0.0.2', '10.0.0.3'), ports: [{ port: 80 }] }]), '10.0.0.1:80,10.0.0.2:80,10.0.0.3:80');
    assert.equal(show([{ addresses: addrs('10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5'), ports: [{ port: 80 }] }]),
      '10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 2 more...');
    // Ports are the outer loop.
    assert.equal(show([{ addresses: addrs('10.0.0.1', '10.0.0.2'), ports: [{ name: 'http', port: 80 }, { name: 'https', port: 443 }] }]),
      '10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more...');
    // Headless services without ports list bare IPs.
    assert.equal(show([{ addresses: addrs('10.0.0.1', '10.0.0.2') }]), '10.0.0.1,10.0.0.2');
    assert.equal(show([{ addresses: addrs('fd00::1'), ports: [{ port: 53 }] }]), '[fd00::1]:53');
    // Not-ready addresses never show; only those leaves an empty cell, not <none>.
    assert.equal(show([{ notReadyAddresses: addrs('10.0.0.9'), ports: [{ port: 80 }] }]), '');
    assert.equal(show([{ addresses: addrs('10.0.0.1'), notReadyAddresses: addrs('10.0.0.9'), ports: [{ port: 80 }] }]), '10.0.0.1:80');
    // Subsets in stored order, the count spanning all of them.
    assert.equal(show([
      { addresses: addrs('10.0.0.1', '10.0.0.2'), ports: [{ port: 80 }] },
      { addresses: addrs('10.0.1.1', '10.0.1.2'), ports: [{ port: 81 }] },
    ]), '10.0.0.1:80,10.0.0.2:80,10.0.1.1:81 + 1 more...');
    assert.equal(show([{ addresses: addrs('10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4') }, { addresses: addrs('10.0.1.1'), ports: [{ port: 80 }] }]),
      '10.0.0.1,10.0.0.2,10.0.0.3 + 2 more...');
  });
});

describe('endpointslices', () => {
  const slice = (ports: unknown[] | undefined, endpoints: unknown[] | undefined) => ({
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: meta('web-abc12'), addressType: 'IPv4',
    ...(ports ? { ports } : {}), ...(endpoints ? { endpoints } : {}),
  });
  const e = (...addresses: string[]) => ({ addresses, conditions: { ready: true } });

  test('row', () => {
    assert.deepEqual(PRINTERS.EndpointSlice.cells(slice([{ name: 'http', port: 80, protocol: 'TCP' }], [e('10.244.0.13'), e('10.244.0.14')]) as unknown as KObject, NOW),
      ['web-abc12', 'IPv4', '80', '10.244.0.13,10.244.0.14', '42s']);
  });

  test('PORTS', () => {
    const ports = (p: unknown[] | undefined) => row('EndpointSlice', slice(p, [])).Ports;
    assert.equal(ports(undefined), '<unset>');
    assert.equal(ports([]), '<unset>');
    assert.equal(ports([{ port: 80 }, { port: 443 }]), '80,443');
    assert.equal(ports([{ port: 80 }, { port: 443 }, { port: 8080 }, { port: 8443 }, { port: 9090 }]), '80,443,8080 + 2 more...');
    assert.equal(ports([{ name: 'http' }]), 'http', 'the name when there is no number');
    assert.equal(ports([{}, { port: null, name: null }]), '*,*');
    assert.equal(ports([{ name: '', port: null }]), '<unset>', 'an empty name joins to an empty list');
  });

  test('ENDPOINTS: addresses, ready or not', () => {
    const eps = (list: unknown[] | undefined) => row('EndpointSlice', slice([], list)).Endpoints;
    assert.equal(eps(undefined), '<unset>');
    assert.equal(eps([]), '<unset>');
    assert.equal(eps([e('10.0.0.1'), { addresses: ['10.0.0.2'], conditions: { ready: false, terminating: true } }]), '10.0.0.1,10.0.0.2');
    assert.equal(eps([e('10.0.0.1', '10.0.0.2'), e('10.0.0.3', '10.0.0.4')]), '10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...');
    assert.equal(eps([e('10.0.0.1'), e('10.0.0.2'), e('10.0.0.3')]), '10.0.0.1,10.0.0.2,10.0.0.3');
  });
});

describe('deployments and replicasets', () => {
  const template = { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx:1.27' }, { name: 'log', image: 'busybox' }] } };
  const deploy = (spec: Record<string, unknown>, status?: Record<string, unknown>) =>
    ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: meta('web'), spec: { template, ...spec }, ...(status ? { status } : {}) });

  test('deployment row', () => {
    assert.deepEqual(PRINTERS.Deployment.cells(deploy({ replicas: 3, selector: { matchLabels: { app: 'web' } } }, { replicas: 3, readyReplicas: 2, updatedReplicas: 3, availableReplicas: 2 }) as unknown as KObject, NOW),
      ['web', '2/3', 3, 2, '42s', 'web,log', 'nginx:1.27,busybox', 'app=web']);
    assert.deepEqual(PRINTERS.Deployment.cells(deploy({ replicas: 2 }) as unknown as KObject, NOW).slice(1, 4), ['0/2', 0, 0], 'no status yet');
    assert.equal(row('Deployment', deploy({ replicas: 0 }, {})).Ready, '0/0');
  });

  test('deployment SELECTOR (LabelSelectorAsSelector)', () => {
    const sel = (selector: unknown) => row('Deployment', deploy({ replicas: 1, selector })).Selector;
    assert.equal(sel({ matchLabels: { tier: 'front', app: 'web' } }), 'app=web,tier=front');
    assert.equal(sel({ matchLabels: { app: 'web' }, matchExpressions: [
      { key: 'env', operator: 'In', values: ['qa', 'prod'] }, { key: 'canary', operator: 'DoesNotExist' },
      { key: 'zone', operator: 'NotIn', values: ['b'] }, { key: 'track', operator: 'Exists' },
    ] }), 'app=web,!canary,env in (prod,qa),track,zone notin (b)', 'sorted by key');
    assert.equal(sel(undefined), '', 'no selector');
    assert.equal(sel({}), '', 'the empty selector');
    assert.equal(sel({ matchExpressions: [{ key: 'env', operator: 'Near', values: ['x'] }] }), '<invalid>');
    assert.equal(sel({ matchExpressions: [{ key: 'env', operator: 'toString', values: ['x'] }] }), '<invalid>');
    assert.equal(sel({ matchExpressions: [{ key: 'env', operator: 'In', values: [] }] }), '<invalid>');
    assert.equal(sel({ matchLabels: { 'bad key!': 'x' } }), '<invalid>');
  });

  test('replicaset row and SELECTOR (FormatLabelSelector)', () => {
    const rs = (spec: Record<string, unknown>, status?: Record<string, unknown>) =>
      ({ apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: meta('web-5d4f8c9b7'), spec: { template, ...spec }, ...(status ? { status } : {}) });
    assert.deepEqual(PRINTERS.ReplicaSet.cells(rs({ replicas: 3, selector: { matchLabels: { app: 'web', 'pod-template-hash': '5d4f8c9b7' } } }, { replicas: 3, readyReplicas: 1 }) as unknown as KObject, NOW),
      ['web-5d4f8c9b7', 3, 3, 1, '42s', 'web,log', 'nginx:1.27,busybox', 'app=web,pod-template-hash=5d4f8c9b7']);
    assert.deepEqual(PRINTERS.ReplicaSet.cells(rs({ replicas: 2, selector: {} }) as unknown as KObject, NOW).slice(1, 4), [2, 0, 0]);
    assert.equal(row('ReplicaSet', rs({ selector: {} })).Selector, '<none>');
    assert.equal(row('ReplicaSet', rs({})).Selector, '<none>');
    assert.equal(row('ReplicaSet', rs({ selector: { matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] } })).Selector, '<error>');
    assert.equal(row('ReplicaSet', rs({ template: { spec: { containers: [] } } })).Containers, '');
  });

  test('labelSelectorString keeps duplicates and sorts set values', () => {
    assert.equal(labelSelectorString({ matchExpressions: [{ key: 'a', operator: 'In', values: ['z', 'y', 'z'] }] }), 'a in (y,z,z)');
    assert.equal(labelSelectorString(null), '');
  });
});

describe('nodes', () => {
  const node = (status: Record<string, unknown>, spec: Record<string, unknown> = {}, labels?: Record<string, string>) =>
    ({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-1', creationTimestamp: ago(3 * D + 2 * H), ...(labels ? { labels } : {}) }, spec, status });
  const ready = (s: string) => ({ conditions: [{ type: 'MemoryPressure', status: 'False' }, { type: 'Ready', status: s }] });

  test('row, wide', () => {
    assert.deepEqual(PRINTERS.Node.cells(node({
      ...ready('True'),
      addresses: [{ type: 'Hostname', address: 'node-1' }, { type: 'InternalIP', address: '127.0.0.2' }, { type: 'InternalIP', address: '127.0.0.3' }],
      nodeInfo: { kubeletVersion: 'v1.32.4', osImage: 'Debian GNU/Linux 12 (bookworm)', kernelVersion: '6.1.0-18-amd64', containerRuntimeVersion: 'containerd://1.7.13' },
    }, {}, { 'node-role.kubernetes.io/control-plane': '' }) as unknown as KObject, NOW),
    ['node-1', 'Ready', 'control-plane', '3d2h', 'v1.32.4', '127.0.0.2', '<none>', 'Debian GNU/Linux 12 (bookworm)', '6.1.0-18-amd64', 'containerd://1.7.13']);
  });

  test('STATUS', () => {
    assert.equal(row('Node', node(ready('True'))).Status, 'Ready');
    assert.equal(row('Node', node(ready('False'))).Status, 'NotReady');
    assert.equal(row('Node', node(ready('Unknown'))).Status, 'NotReady');
    assert.equal(row('Node', node({})).Status, 'Unknown');
    assert.equal(row('Node', node({ conditions: [{ type: 'DiskPressure', status: 'True' }] })).Status, 'Unknown');
    assert.equal(row('Node', node(ready('True'), { unschedulable: true })).Status, 'Ready,SchedulingDisabled');
    assert.equal(row('Node', node({}, { unschedulable: true })).Status, 'Unknown,SchedulingDisabled');
    assert.equal(row('Node', node({ conditions: [{ type: 'Ready', status: 'False' }, { type: 'Ready', status: 'True' }] })).Status, 'Ready', 'the last Ready condition counts');
  });

  test('ROLES', () => {
    assert.equal(nodeRoles(undefined), '<none>');
    assert.equal(nodeRoles({ 'kubernetes.io/hostname': 'node-1' }), '<none>');
    assert.equal(nodeRoles({ 'node-role.kubernetes.io/worker': '', 'node-role.kubernetes.io/control-plane': 'true' }), 'control-plane,worker');
    assert.equal(nodeRoles({ 'kubernetes.io/role': 'master', 'node-role.kubernetes.io/master': '' }), 'master');
    assert.equal(nodeRoles({ 'kubernetes.io/role': '', 'node-role.kubernetes.io/': 'x' }), '<none>');
    assert.equal(nodeRoles({ 'kubernetes.io/role': 'ingress', 'node-role.kubernetes.io/worker': '' }), 'ingress,worker');
  });

  test('VERSION and the wide columns when the node reported nothing', () => {
    const r = row('Node', node({}));
    assert.deepEqual([r.Version, r['Internal-IP'], r['External-IP'], r['OS-Image'], r['Kernel-Version'], r['Container-Runtime']],
      ['', '<none>', '<none>', '<unknown>', '<unknown>', '<unknown>']);
    assert.equal(row('Node', node({ addresses: [{ type: 'ExternalIP', address: '203.0.113.7' }] }))['External-IP'], '203.0.113.7');
  });
});

describe('namespaces and leases', () => {
  test('namespaces', () => {
    const ns = (phase?: string) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a', creationTimestamp: ago(5 * M) }, ...(phase ? { status: { phase } } : {}) });
    assert.deepEqual(PRINTERS.Namespace.cells(ns('Active') as unknown as KObject, NOW), ['team-a', 'Active', '5m']);
    assert.equal(row('Namespace', ns('Terminating')).Status, 'Terminating');
    assert.equal(row('Namespace', ns()).Status, '');
  });

  test('leases', () => {
    const lease = (spec: Record<string, unknown>) => ({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: meta('kube-scheduler'), spec });
    assert.deepEqual(PRINTERS.Lease.cells(lease({ holderIdentity: 'node-1_0b6c', leaseDurationSeconds: 15 }) as unknown as KObject, NOW), ['kube-scheduler', 'node-1_0b6c', '42s']);
    assert.equal(row('Lease', lease({})).Holder, '');
  });
});

describe('events', () => {
  const event = (e: Record<string, unknown>) => ({
    apiVersion: 'v1', kind: 'Event', metadata: meta('web-1.17f3a'),
    involvedObject: { kind: 'Pod', name: 'web-1', namespace: 'default' }, type: 'Normal', reason: 'Started', message: 'Started container web', ...e,
  });

  test('row, wide order', () => {
    assert.deepEqual(PRINTERS.Event.cells(event({
      involvedObject: { kind: 'Pod', name: 'web-1', namespace: 'default', fieldPath: 'spec.containers{web}' },
      source: { component: 'kubelet', host: 'node-1' }, firstTimestamp: ago(5 * M), lastTimestamp: ago(41), count: 3, message: '  Started container web\n',
    }) as unknown as KObject, NOW),
    ['41s', 'Normal', 'Started', 'pod/web-1', 'spec.containers{web}', 'kubelet, node-1', 'Started container web', '5m', 3, 'web-1.17f3a']);
  });

  test('LAST SEEN and FIRST SEEN fall back from lastTimestamp to firstTimestamp to eventTime', () => {
    const seen = (e: Record<string, unknown>) => { const r = row('Event', event(e)); return [r['Last Seen'], r['First Seen']]; };
    assert.deepEqual(seen({ firstTimestamp: ago(2 * H), lastTimestamp: ago(90) }), ['90s', '120m']);
    assert.deepEqual(seen({ firstTimestamp: ago(2 * H) }), ['120m', '120m']);
    assert.deepEqual(seen({ eventTime: '2026-11-26T11:59:00.000000Z' }), ['60s', '60s']);
    assert.deepEqual(seen({ firstTimestamp: null, lastTimestamp: null, eventTime: '2026-11-26T11:59:00.500000Z' }), ['59s', '59s']);
    assert.deepEqual(seen({}), ['<unknown>', '<unknown>']);
    assert.deepEqual(seen({ lastTimestamp: ago(10) }), ['10s', '<unknown>']);
  });

  test('series: LAST SEEN from lastObservedTime, COUNT from the series', () => {
    const r = row('Event', event({ eventTime: ago(10 * M), series: { count: 7, lastObservedTime: '2026-11-26T11:59:50.000000Z' }, count: 0 }));
    assert.deepEqual([r['Last Seen'], r['First Seen'], r.Count], ['10s', '10m', 7]);
  });

  test('COUNT defaults to 1 for singleton events', () => {
    assert.equal(row('Event', event({})).Count, 1);
    assert.equal(row('Event', event({ count: 0 })).Count, 1);
    assert.equal(row('Event', event({ count: 12 })).Count, 12);
  });

  test('OBJECT, SUBOBJECT, SOURCE, MESSAGE', () => {
    assert.equal(row('Event', event({ involvedObject: { kind: 'Deployment', name: 'web' } })).Object, 'deployment/web');
    assert.equal(row('Event', event({ involvedObject: { kind: 'Node' } })).Object, 'node');
    assert.equal(row('Event', event({ involvedObject: {} })).Object, '');
    assert.equal(row('Event', event({})).Subobject, '');
    assert.equal(row('Event', event({ source: { component: 'kubelet' } })).Source, 'kubelet');
    assert.equal(row('Event', event({ reportingComponent: 'deployment-controller', reportingInstance: 'kubelite-1' })).Source, 'deployment-controller, kubelite-1');
    assert.equal(row('Event', event({ source: { host: 'node-1' }, reportingComponent: 'kubelet' })).Source, 'kubelet, node-1');
    assert.equal(row('Event', event({ source: {}, reportingInstance: 'node-2' })).Source, ', node-2');
    assert.equal(row('Event', event({})).Source, '');
    assert.equal(row('Event', event({ message: '\t Back-off restarting failed container \n' })).Message, 'Back-off restarting failed container');
    assert.equal(row('Event', event({ message: undefined })).Message, '');
  });
});

describe('default printer (kinds without one)', () => {
  test('NAME and CREATED AT', () => {
    const p = printerFor('Widget');
    assert.deepEqual(p.columns.map((c) => [c.name, c.type, c.format]), [['Name', 'string', 'name'], ['Created At', 'date', '']]);
    assert.deepEqual(p.cells({ metadata: { name: 'w', creationTimestamp: '2026-11-26T11:00:00Z' } }, NOW), ['w', '2026-11-26T11:00:00Z']);
    assert.deepEqual(p.cells({ metadata: { name: 'w' } }, NOW), ['w', '0001-01-01T00:00:00Z']);
  });
});

describe('Table assembly', () => {
  const pods = lookupKind('v1', 'Pod')!;
  const p1 = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'a', namespace: 'default', uid: 'u1', resourceVersion: '7', creationTimestamp: ago(5), labels: { app: 'web' } }, spec: { containers: [{ name: 'c' }] }, status: { phase: 'Running' } };
  const p2 = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'b', namespace: 'default', uid: 'u2', resourceVersion: '8', creationTimestamp: ago(6) }, spec: { containers: [{ name: 'c' }] }, status: { phase: 'Succeeded' } };
  const objects = [p1, p2] as unknown as KObject[];

  test('a list with PartialObjectMetadata rows (the default)', () => {
    const t = toTable(pods, objects, { includeObject: 'Metadata', resourceVersion: '10', now: new Date(NOW) }) as any;
    assert.deepEqual(Object.keys(t), ['kind', 'apiVersion', 'metadata', 'columnDefinitions', 'rows']);
    assert.equal(t.kind, 'Table');
    assert.equal(t.apiVersion, 'meta.k8s.io/v1');
    assert.deepEqual(t.metadata, { resourceVersion: '10' });
    assert.equal(t.columnDefinitions, PRINTERS.Pod.columns);
    assert.deepEqual(t.rows[0], {
      cells: ['a', '0/1', 'Running', '0', '5s', '<none>', '<none>', '<none>', '<none>'],
      object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: p1.metadata },
    });
    assert.deepEqual(Object.keys(t.rows[1]), ['cells', 'conditions', 'object']);
    assert.equal(t.rows[1].conditions[0].reason, 'Succeeded');
    // What goes on the wire.
    const wire = JSON.parse(JSON.stringify(t));
    assert.equal(wire.rows[0].object.metadata.uid, 'u1');
    assert.equal(wire.columnDefinitions[0].format, 'name');
  });

  test('includeObject=Object embeds the whole object, None a null object', () => {
    const full = toTable(pods, objects, { includeObject: 'Object', now: new Date(NOW) }) as any;
    assert.equal(full.rows[0].object, p1);
    const bare = { metadata: { name: 'x', creationTimestamp: ago(1) }, spec: { containers: [] } } as unknown as KObject;
    const withKind = toTable(pods, [bare], { includeObject: 'Object', now: new Date(NOW) }) as any;
    assert.equal(withKind.rows[0].object.kind, 'Pod');
    assert.equal(withKind.rows[0].object.apiVersion, 'v1');
    const none = toTable(pods, objects, { includeObject: 'None', now: new Date(NOW) }) as any;
    assert.equal(none.rows[0].object, null);
    assert.match(JSON.stringify(none.rows[0]), /"object":null}$/);
  });

  test('paging metadata, no columns for later watch events, empty lists', () => {
    const t = toTable(pods, objects.slice(0, 1), { includeObject: 'Metadata', resourceVersion: '10', continue: 'tok', remainingItemCount: 4, columns: false }) as any;
    assert.deepEqual(t.metadata, { resourceVersion: '10', continue: 'tok', remainingItemCount: 4 });
    assert.deepEqual(t.columnDefinitions, []);
    const empty = toTable(lookupKind('apps/v1', 'Deployment')!, [], { includeObject: 'Metadata', resourceVersion: '3' }) as any;
    assert.deepEqual(empty.rows, []);
    assert.equal(empty.columnDefinitions, PRINTERS.Deployment.columns);
    assert.deepEqual((toTable(pods, [], { includeObject: 'Metadata' }) as any).metadata, {});
  });

  test('AGE is measured now unless told otherwise', () => {
    const fresh = { metadata: { name: 'n', creationTimestamp: new Date(Date.now() - 3000).toISOString() } } as unknown as KObject;
    const t = toTable(lookupKind('v1', 'Namespace')!, [fresh], { includeObject: 'None' }) as any;
    assert.match(t.rows[0].cells[2], /^[34]s$/);
  });
});

describe('negotiation', () => {
  test('wantsTable', () => {
    const kubectl = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json';
    assert.equal(wantsTable(kubectl), true);
    assert.equal(wantsTable('application/json;as=Table;v=v1beta1;g=meta.k8s.io'), true);
    assert.equal(wantsTable('application/json; as=Table; g=meta.k8s.io; v=v1'), true, 'spaces around parameters');
    assert.equal(wantsTable('application/yaml;as=Table;v=v1;g=meta.k8s.io'), true);
    assert.equal(wantsTable(undefined), false);
    assert.equal(wantsTable(''), false);
    assert.equal(wantsTable('application/json'), false);
    assert.equal(wantsTable('application/json, */*'), false);
    assert.equal(wantsTable('application/vnd.kubernetes.protobuf,application/json'), false);
    assert.equal(wantsTable('application/json,application/json;as=Table;v=v1;g=meta.k8s.io'), false, 'the first of equals wins');
    assert.equal(wantsTable('application/json;q=0.5,application/json;as=Table;v=v1;g=meta.k8s.io'), true, 'a higher q wins');
    assert.equal(wantsTable('application/json;as=Table;v=v1;g=meta.k8s.io;q=0.5,application/json'), false);
    assert.equal(wantsTable('application/json;as=Table;v=v2;g=meta.k8s.io,application/json'), false, 'no such Table version');
    assert.equal(wantsTable('application/json;as=Table;v=v1;g=example.com'), false);
    assert.equal(wantsTable('application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1;g=meta.k8s.io'), true, 'unservable conversions are skipped');
    assert.equal(wantsTable('text/html;as=Table;v=v1;g=meta.k8s.io'), false);
  });

  test('includeObjectOf', () => {
    assert.equal(includeObjectOf(new URLSearchParams('')), 'Metadata');
    assert.equal(includeObjectOf(new URLSearchParams('includeObject=')), 'Metadata');
    assert.equal(includeObjectOf(new URLSearchParams('includeObject=Metadata')), 'Metadata');
    assert.equal(includeObjectOf(new URLSearchParams('includeObject=Object')), 'Object');
    assert.equal(includeObjectOf(new URLSearchParams('includeObject=None')), 'None');
    assert.throws(() => includeObjectOf(new URLSearchParams('includeObject=object')), (e: unknown) =>
      e instanceof ApiError && e.code === 400 && e.reason === 'BadRequest' && e.message === 'unrecognized includeObject value: "object"');
  });
});
