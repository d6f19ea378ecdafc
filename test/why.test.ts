// `kubelite why service/NAME [pod/NAME]`: the membership rules as pure functions (one test per
// reason, after upstream's endpoints/endpointslice controller cases), then the command end to end
// against a real server, with pods whose status is written through pods/NAME/status and
// Endpoints/EndpointSlices written by hand for the cross-check (no controllers run here).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import type { Endpoints, Pod, Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import {
  endpointsAddresses, endpointsDiscrepancies, handWrittenMembership, notReadyDetails, podMembership, resolvePort,
  serviceMode, slicesDiscrepancies, type PodMembership,
} from '../src/api/endpoint-membership.js';
import { buildReport, renderText, serviceAddressTypes, sliceFamilies, type WhyClient } from '../src/cli/why.js';
import { startCluster, KUBELITE, type Cluster } from './helpers/cluster.js';

// --- fixtures for the unit tests ------------------------------------------------------------

function svc(o: Partial<Service['spec']> & { name?: string; namespace?: string } = {}): Service {
  const { name = 'web', namespace = 'default', ...spec } = o;
  return {
    metadata: { name, namespace },
    spec: {
      selector: { app: 'web' }, clusterIP: '127.96.0.10', ipFamilies: ['IPv4'],
      ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 'http' }],
      ...spec,
    },
  };
}

interface PodOpts {
  name?: string;
  namespace?: string;
  labels?: Record<string, string>;
  ip?: string | string[] | null;
  ready?: boolean | null;
  phase?: string;
  node?: string | null;
  deleting?: boolean;
  ports?: { name?: string; containerPort: number; protocol?: string }[];
  spec?: Partial<NonNullable<Pod['spec']>>;
  status?: Partial<NonNullable<Pod['status']>>;
}

function pod(o: PodOpts = {}): Pod {
  const ips = o.ip === null ? [] : Array.isArray(o.ip) ? o.ip : [o.ip ?? '127.244.0.5'];
  const conditions = o.ready === null ? [] : [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }];
  return {
    metadata: {
      name: o.name ?? 'p1', namespace: o.namespace ?? 'default', uid: `uid-${o.name ?? 'p1'}`, labels: o.labels ?? { app: 'web' },
      ...(o.deleting ? { deletionTimestamp: '2025-01-01T00:00:00Z', deletionGracePeriodSeconds: 30 } : {}),
    },
    spec: {
      ...(o.node === null ? {} : { nodeName: o.node ?? 'node01' }),
      containers: [{ name: 'app', image: 'nginx', ports: o.ports ?? [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] }],
      ...o.spec,
    },
    status: {
      phase: o.phase ?? 'Running',
      ...(ips.length ? { podIP: ips[0], podIPs: ips.map((ip) => ({ ip })) } : {}),
      conditions, ...o.status,
    },
  };
}

const codes = (m: PodMembership) => m.reasons.map((r) => r.code);

describe('membership rules (units)', () => {
  test('a Ready pod with the named port is an endpoint, in Endpoints and EndpointSlices', () => {
    const m = podMembership(svc(), pod());
    assert.equal(m.endpoint, 'yes');
    assert.equal(m.ip, '127.244.0.5');
    assert.deepEqual(m.ports.map((p) => p.resolved), [8080]);
    assert.deepEqual(m.reasons, []);
    assert.deepEqual(m.endpointSlice, { included: true, addresses: ['127.244.0.5'], conditions: { ready: true, serving: true, terminating: false }, ports: ['http:8080/TCP'] });
  });

  test('selector: every key that does not match, with both sides', () => {
    const m = podMembership(svc({ selector: { app: 'nginx', tier: 'fe', env: 'prod' } }), pod({ labels: { app: 'web', env: 'prod' } }));
    assert.equal(m.endpoint, 'no');
    assert.deepEqual(m.reasons.map((r) => r.message), [
      'selector app: want nginx, pod has app=web',
      'selector tier: want fe, pod has no tier label',
    ]);
    assert.equal(m.endpointSlice.included, false);
  });

  test('not Ready: the condition, the containers (probe, restarts), sidecars and readiness gates', () => {
    const p = pod({
      ready: false,
      spec: {
        containers: [
          { name: 'app', image: 'nginx', ports: [{ name: 'http', containerPort: 8080 }], readinessProbe: { httpGet: { path: '/healthz', port: 8080 } } },
          { name: 'log', image: 'busybox' },
          { name: 'slow', image: 'x', startupProbe: { tcpSocket: { port: 9 } } },
        ],
        initContainers: [{ name: 'proxy', image: 'envoy', restartPolicy: 'Always' }],
        readinessGates: [{ conditionType: 'example.com/lb' }, { conditionType: 'example.com/dns' }],
      },
      status: {
        conditions: [
          { type: 'Ready', status: 'False', reason: 'ContainersNotReady', message: 'containers with unready status: [app log]' },
          { type: 'example.com/dns', status: 'False', reason: 'Pending' },
        ],
        containerStatuses: [
          { name: 'app', ready: false, started: true, restartCount: 2, image: 'nginx', imageID: '', state: { running: {} }, lastState: { terminated: { exitCode: 1, reason: 'Error' } } },
          { name: 'log', ready: false, restartCount: 0, image: 'busybox', imageID: '', state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 10s' } } },
          { name: 'slow', ready: false, started: false, restartCount: 0, image: 'x', imageID: '', state: { running: {} } },
        ],
      },
    });
    const m = podMembership(svc(), p);
    assert.equal(m.endpoint, 'not-ready');
    assert.deepEqual(codes(m), ['NotReady']);
    assert.deepEqual(m.reasons[0].details, [
      'Ready=False (ContainersNotReady: containers with unready status: [app log])',
      'sidecar proxy: no status yet',
      'container app running, readiness probe failing (httpGet http://:8080/healthz, every 10s, 3 failures); restarted 2 times, last exit: Error (code 1)',
      'container log waiting: CrashLoopBackOff (back-off 10s)',
      'container slow running, startup probe not passed yet (tcpSocket :9, every 10s, 3 failures)',
      'readiness gate example.com/lb: no such condition yet (nothing has set it)',
      'readiness gate example.com/dns=False (Pending)',
    ]);
    assert.deepEqual(m.endpointSlice.conditions, { ready: false, serving: false, terminating: false });
  });

  test('no Ready condition at all counts as not ready', () => {
    const m = podMembership(svc(), pod({ ready: null }));
    assert.equal(m.endpoint, 'not-ready');
    assert.match(notReadyDetails(pod({ ready: null }))[0], /no Ready condition/);
  });

  test('publishNotReadyAddresses publishes a pod that is not Ready, as ready', () => {
    const m = podMembership(svc({ publishNotReadyAddresses: true }), pod({ ready: false }));
    assert.equal(m.endpoint, 'yes');
    assert.deepEqual(m.reasons, []);
    assert.match(m.notes[0], /publishNotReadyAddresses/);
    assert.deepEqual(m.endpointSlice.conditions, { ready: true, serving: false, terminating: false });
  });

  test('terminating: out of the Endpoints, kept in EndpointSlices as terminating', () => {
    const m = podMembership(svc(), pod({ deleting: true }));
    assert.equal(m.endpoint, 'no');
    assert.deepEqual(codes(m), ['Terminating']);
    assert.match(m.reasons[0].message, /deletionTimestamp 2025-01-01T00:00:00Z, grace period 30s/);
    assert.deepEqual(m.endpointSlice.conditions, { ready: false, serving: true, terminating: true });
  });

  test('terminating with publishNotReadyAddresses stays, as ready', () => {
    const m = podMembership(svc({ publishNotReadyAddresses: true }), pod({ deleting: true, ready: false }));
    assert.equal(m.endpoint, 'yes');
    assert.ok(m.notes.some((n) => /terminating .* kept \(as ready\)/.test(n)));
    assert.deepEqual(m.endpointSlice.conditions, { ready: true, serving: false, terminating: true });
  });

  test('terminal phases are never endpoints', () => {
    for (const phase of ['Succeeded', 'Failed']) {
      const m = podMembership(svc(), pod({ phase, status: phase === 'Failed' ? { reason: 'Evicted', message: 'low on memory' } : {} }));
      assert.equal(m.endpoint, 'no');
      assert.deepEqual(codes(m), ['Terminal']);
      assert.equal(m.endpointSlice.included, false);
    }
    assert.equal(podMembership(svc(), pod({ phase: 'Failed', status: { reason: 'Evicted', message: 'low on memory' } })).reasons[0].message, 'terminal phase Failed (Evicted: low on memory)');
  });

  test('no IP: not scheduled (with the scheduler\'s reason) or scheduled and still starting', () => {
    const unscheduled = podMembership(svc(), pod({
      ip: null, node: null, ready: null, phase: 'Pending',
      status: { conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/2 nodes are available' }] },
    }));
    assert.equal(unscheduled.endpoint, 'no');
    assert.deepEqual(codes(unscheduled), ['NotScheduled']);
    assert.equal(unscheduled.reasons[0].message, 'not scheduled yet, so no IP (Unschedulable: 0/2 nodes are available)');
    const starting = podMembership(svc(), pod({
      ip: null, ready: null, phase: 'Pending',
      status: { containerStatuses: [{ name: 'app', ready: false, restartCount: 0, image: 'nginx', imageID: '', state: { waiting: { reason: 'ContainerCreating' } } }] },
    }));
    assert.deepEqual(codes(starting), ['NoIP']);
    assert.equal(starting.reasons[0].message, 'no IP yet (on node node01, Pending)');
    assert.deepEqual(starting.reasons[0].details, ['container app waiting: ContainerCreating']);
  });

  test('named targetPort: skipped per port; a pod with no port left is not an endpoint', () => {
    const two = svc({ ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 'http' }, { name: 'metrics', port: 9090, protocol: 'TCP', targetPort: 'metrics' }] });
    const partial = podMembership(two, pod());
    assert.equal(partial.endpoint, 'yes');
    assert.deepEqual(partial.ports.map((p) => p.resolved), [8080, null]);
    assert.deepEqual(codes(partial), ['NamedPortNotFound']);
    assert.equal(partial.reasons[0].port, 'metrics');
    assert.equal(partial.reasons[0].message, 'port metrics/TCP (targetPort "metrics"): no container declares a port named "metrics"');
    assert.deepEqual(partial.reasons[0].details, ['declared: app: http=8080/TCP']);
    const none = podMembership(svc(), pod({ ports: [{ containerPort: 8080 }] }));
    assert.equal(none.endpoint, 'no');
    assert.deepEqual(codes(none), ['NamedPortNotFound']);
    // EndpointSlices still carry it, in a slice without ports.
    assert.deepEqual(none.endpointSlice.ports, []);
    assert.equal(none.endpointSlice.included, true);
  });

  test('named targetPort in init containers: sidecars count, plain init containers do not', () => {
    const sidecar = pod({ ports: [], spec: { initContainers: [{ name: 'proxy', image: 'envoy', restartPolicy: 'Always', ports: [{ name: 'http', containerPort: 15001 }] }] } });
    assert.equal(resolvePort(sidecar, svc().spec!.ports![0]).resolved, 15001);
    const init = pod({ ports: [], spec: { initContainers: [{ name: 'setup', image: 'busybox', ports: [{ name: 'http', containerPort: 15001 }] }] } });
    const r = resolvePort(init, svc().spec!.ports![0]);
    assert.equal(r.resolved, null);
    assert.match(r.reason!.details!.join('\n'), /init container setup declares it, but only sidecar init containers/);
  });

  test('numeric targetPort is used verbatim, declared or not', () => {
    const m = podMembership(svc({ ports: [{ port: 80, protocol: 'TCP', targetPort: 9376 }] }), pod({ ports: [] }));
    assert.equal(m.endpoint, 'yes');
    assert.deepEqual(m.ports.map((p) => p.resolved), [9376]);
  });

  test('named port with another protocol', () => {
    const m = podMembership(svc({ ports: [{ name: 'dns', port: 53, protocol: 'UDP', targetPort: 'dns' }] }), pod({ ports: [{ name: 'dns', containerPort: 53, protocol: 'TCP' }] }));
    assert.equal(m.endpoint, 'no');
    assert.deepEqual(codes(m), ['PortProtocolMismatch']);
    assert.equal(m.reasons[0].message, 'port dns/UDP (targetPort "dns"): container app declares "dns" as 53/TCP, not UDP');
  });

  test('other namespace, selectorless and ExternalName Services', () => {
    assert.deepEqual(codes(podMembership(svc(), pod({ namespace: 'team-b' }))), ['OtherNamespace']);
    assert.deepEqual(codes(podMembership(svc({ selector: undefined }), pod())), ['NoSelector']);
    assert.equal(serviceMode(svc({ selector: {} })), 'selectorless'); // {} is stored as nil upstream
    const ext = svc({ type: 'ExternalName', externalName: 'db.example.com', selector: undefined });
    assert.equal(serviceMode(ext), 'externalName');
    assert.deepEqual(codes(podMembership(ext, pod())), ['ExternalName']);
  });

  test('the address is the first pod IP of the Service\'s family', () => {
    const v6 = svc({ ipFamilies: ['IPv6'], clusterIP: 'fd00::10' });
    const m = podMembership(v6, pod({ ip: ['127.244.0.5'] }));
    assert.equal(m.endpoint, 'no');
    assert.deepEqual(codes(m), ['NoIPOfFamily']);
    assert.equal(podMembership(v6, pod({ ip: ['127.244.0.5', 'fd00::5'] })).ip, 'fd00::5');
  });

  test('headless Service without ports: the pod is an endpoint without ports', () => {
    const m = podMembership(svc({ clusterIP: 'None', ports: [] }), pod());
    assert.equal(m.endpoint, 'yes');
    assert.deepEqual(m.ports, []);
    assert.deepEqual(codes(podMembership(svc({ ports: [] }), pod())), ['NoPorts']);
  });

  test('hostname is published when spec.subdomain names the Service', () => {
    const m = podMembership(svc(), pod({ spec: { hostname: 'web-0', subdomain: 'web' } }));
    assert.ok(m.notes.some((n) => n.includes('hostname web-0')));
  });

  test('EndpointSlices skip pods whose node does not exist, unless publishNotReadyAddresses', () => {
    const nodeExists = (n: string) => n === 'node01';
    assert.equal(podMembership(svc(), pod({ node: 'ghost' }), { nodeExists }).endpointSlice.reason?.code, 'NodeNotFound');
    assert.equal(podMembership(svc(), pod({ node: 'ghost' }), { nodeExists }).endpoint, 'yes'); // the Endpoints controller does not look
    assert.equal(podMembership(svc({ publishNotReadyAddresses: true }), pod({ node: 'ghost' }), { nodeExists }).endpointSlice.included, true);
  });

  test('cross-check with an Endpoints object: missing, stale, readiness, IP and ports', () => {
    const s = svc();
    const ready = pod({ name: 'a' });
    const ep = (subsets: Endpoints['subsets']): Endpoints => ({ metadata: { name: 'web', namespace: 'default' }, subsets });
    const ref = (p: Pod) => ({ kind: 'Pod', namespace: 'default', name: p.metadata!.name, uid: p.metadata!.uid });
    const port = [{ name: 'http', port: 8080, protocol: 'TCP' }];
    const m = podMembership(s, ready);
    assert.deepEqual(endpointsDiscrepancies(s, ready, m, undefined), ['should be an endpoint (ready) but the Endpoints object does not exist']);
    assert.deepEqual(endpointsDiscrepancies(s, ready, m, ep([])), ['should be an endpoint (ready) but the Endpoints object does not list it yet (controller lag or bug)']);
    assert.deepEqual(endpointsDiscrepancies(s, ready, m, ep([{ addresses: [{ ip: '127.244.0.5', targetRef: ref(ready) }], ports: port }])), []);
    assert.deepEqual(endpointsDiscrepancies(s, ready, m, ep([{ notReadyAddresses: [{ ip: '127.244.0.9', targetRef: ref(ready) }], ports: [{ name: 'http', port: 80, protocol: 'TCP' }] }])), [
      'listed in the Endpoints object as not-ready but should be ready',
      'listed in the Endpoints object with IP 127.244.0.9 but its IP is 127.244.0.5',
      'listed in the Endpoints object with ports http:80/TCP but should be http:8080/TCP',
    ]);
    const gone = pod({ name: 'b', phase: 'Succeeded' });
    assert.deepEqual(endpointsDiscrepancies(s, gone, podMembership(s, gone), ep([{ addresses: [{ ip: '127.244.0.5', targetRef: ref(gone) }], ports: port }])),
      ['listed in the Endpoints object (as ready) but should not be: stale (controller lag or bug)']);
    const truncated: Endpoints = { metadata: { annotations: { 'endpoints.kubernetes.io/over-capacity': 'truncated' } }, subsets: [] };
    assert.match(endpointsDiscrepancies(s, ready, m, truncated)[0], /truncated at 1000 addresses/);
  });

  test('cross-check with EndpointSlices: conditions and stale entries', () => {
    const s = svc();
    const term = pod({ name: 't', deleting: true });
    const slice = (conditions: object): EndpointSlice => ({
      metadata: { name: 'web-abcde' }, addressType: 'IPv4', ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      endpoints: [{ addresses: ['127.244.0.5'], conditions, targetRef: { kind: 'Pod', namespace: 'default', name: 't', uid: 'uid-t' } }],
    });
    const m = podMembership(s, term);
    assert.deepEqual(slicesDiscrepancies(term, m, [slice({ ready: false, serving: true, terminating: true })]), []);
    assert.deepEqual(slicesDiscrepancies(term, m, [slice({ ready: true, serving: true, terminating: false })]),
      ['EndpointSlice web-abcde lists it with ready=true, serving=true, terminating=false but should be ready=false, serving=true, terminating=true']);
    assert.match(slicesDiscrepancies(term, m, [])[0], /no EndpointSlice lists it yet/);
    const done = pod({ name: 't', phase: 'Failed' });
    assert.match(slicesDiscrepancies(done, podMembership(s, done), [slice({ ready: true })])[0], /listed in EndpointSlice web-abcde but should not be/);
  });

  test('hand-written Endpoints of a selectorless Service: addresses and the pods they point at', () => {
    const s = svc({ selector: undefined });
    const p = pod({ name: 'db-0', ip: '127.244.0.7' });
    const ep: Endpoints = { metadata: { name: 'web' }, subsets: [{ addresses: [{ ip: '127.244.0.7' }, { ip: '10.0.0.250' }], notReadyAddresses: [{ ip: '10.0.0.251' }], ports: [{ port: 80 }] }] };
    assert.deepEqual(endpointsAddresses(ep, [p]).map((a) => [a.ip, a.ready, a.ports, a.pod]), [
      ['127.244.0.7', true, [':80/TCP'], 'db-0'], ['10.0.0.250', true, [':80/TCP'], null], ['10.0.0.251', false, [':80/TCP'], null],
    ]);
    const m = handWrittenMembership(s, p, ep);
    assert.equal(m.endpoint, 'yes');
    assert.match(m.reasons[0].message, /hand.*they list this pod \(127.244.0.7 as ready\)/);
    assert.equal(handWrittenMembership(s, pod({ name: 'x', ip: '127.244.0.8' }), ep).endpoint, 'no');
  });
});

// --- dual-stack: the report on a cluster answered from memory ---------------------------------

describe('dual-stack Services and pods', () => {
  const dual = () => svc({ ipFamilies: ['IPv4', 'IPv6'], clusterIPs: ['127.96.0.10', 'fd00:96::10'] });
  const ref = (name: string) => ({ kind: 'Pod', namespace: 'default', name, uid: `uid-${name}` });
  const ready = { ready: true, serving: true, terminating: false };
  const slice = (name: string, addressType: 'IPv4' | 'IPv6', endpoints: [string, string][]): EndpointSlice => ({
    metadata: { name, namespace: 'default', labels: { 'kubernetes.io/service-name': 'web', 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' } },
    addressType, ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: endpoints.map(([pod, ip]) => ({ addresses: [ip], conditions: ready, nodeName: 'node01', targetRef: ref(pod) })),
  });
  const pods = [
    pod({ name: 'both', ip: ['127.244.0.1', 'fd00::1'] }),
    pod({ name: 'v4only', ip: ['127.244.0.2'] }),
    pod({ name: 'v6only', ip: ['fd00::3'] }),
  ];
  /** What the controllers write for `dual()` and `pods`: Endpoints in the primary family, slices in each. */
  const endpoints: Endpoints = {
    metadata: { name: 'web', namespace: 'default' },
    subsets: [{ addresses: [{ ip: '127.244.0.1', targetRef: ref('both') }, { ip: '127.244.0.2', targetRef: ref('v4only') }], ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] }],
  };
  const v4 = slice('web-v4', 'IPv4', [['both', '127.244.0.1'], ['v4only', '127.244.0.2']]);
  const v6 = slice('web-v6', 'IPv6', [['both', 'fd00::1'], ['v6only', 'fd00::3']]);

  /** A read-only cluster holding `objects`: what `kubelite why` GETs. */
  function cluster(o: { endpoints?: Endpoints; slices: EndpointSlice[]; pods: Pod[] }): WhyClient {
    const answers: Record<string, unknown> = {
      '/api/v1/namespaces/default/pods': { items: o.pods },
      '/api/v1/namespaces/default/endpoints/web': o.endpoints,
      '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices': { items: o.slices },
      '/api/v1/nodes': { items: [{ metadata: { name: 'node01' } }] },
      '/api/v1/pods': { items: o.pods },
    };
    return { get: async (path: string) => answers[path] } as unknown as WhyClient;
  }

  test('the EndpointSlices\' address types: ipFamilies, else the ClusterIP\'s family, else both for a headless Service', () => {
    assert.deepEqual(serviceAddressTypes(dual()), ['IPv4', 'IPv6']);
    assert.deepEqual(serviceAddressTypes(svc({ ipFamilies: ['IPv6', 'IPv4'] })), ['IPv6', 'IPv4']);
    assert.deepEqual(serviceAddressTypes(svc({ ipFamilies: undefined, clusterIP: 'fd00::10' })), ['IPv6']);
    assert.deepEqual(serviceAddressTypes(svc({ ipFamilies: undefined })), ['IPv4']);
    assert.deepEqual(serviceAddressTypes(svc({ ipFamilies: undefined, clusterIP: 'None' })), ['IPv4', 'IPv6']);
  });

  test('each family\'s slices take the pod with its IPs of that family; a pod without one is left out of them', () => {
    const [both, v4only, v6only] = pods as [Pod, Pod, Pod];
    assert.deepEqual(sliceFamilies(dual(), both).map((f) => [f.addressType, f.included, f.addresses]), [['IPv4', true, ['127.244.0.1']], ['IPv6', true, ['fd00::1']]]);
    const [in4, out6] = sliceFamilies(dual(), v4only);
    assert.equal(in4!.included, true);
    assert.deepEqual([out6!.included, out6!.reason?.code], [false, 'NoIPOfFamily']);
    assert.equal(out6!.reason!.message, 'no IPv6 address (pod IPs: 127.244.0.2): the IPv6 EndpointSlices leave it out');
    assert.deepEqual(sliceFamilies(dual(), v6only).map((f) => f.included), [false, true]);
    // The Endpoints object is the primary family's: the IPv6-only pod is not in it.
    assert.equal(podMembership(dual(), v6only).endpoint, 'no');
    // A pod whose primary IP is IPv6 is in an IPv4 Service's Endpoints and slices by its IPv4 address.
    const v6first = pod({ name: 'v6first', ip: ['fd00::4', '127.244.0.4'] });
    assert.equal(podMembership(svc(), v6first).ip, '127.244.0.4');
    assert.deepEqual(sliceFamilies(svc(), v6first).map((f) => [f.addressType, f.addresses]), [['IPv4', ['127.244.0.4']]]);
  });

  test('the report: verdicts per family, IPs of every family shown, and the objects that agree raise nothing', async () => {
    const r = await buildReport(cluster({ endpoints, slices: [v4, v6], pods }), dual(), undefined);
    assert.deepEqual(r.service.ipFamilies, ['IPv4', 'IPv6']);
    assert.equal(r.service.ipFamily, 'IPv4');
    const by = Object.fromEntries(r.pods.map((p) => [p.name, p]));
    assert.deepEqual(Object.fromEntries(r.pods.map((p) => [p.name, [p.endpoint, p.endpointSlice.families.map((f) => f.included)]])), {
      both: ['yes', [true, true]], v4only: ['yes', [true, false]], v6only: ['no', [false, true]],
    });
    assert.deepEqual(by.both!.endpointSlice.addresses, ['127.244.0.1', 'fd00::1']);
    assert.deepEqual(by.both!.ips, ['127.244.0.1', 'fd00::1']);
    assert.equal(by.v6only!.reasons[0]!.message, 'no IPv4 address (pod IPs: fd00::3): the Endpoints object carries only the Service\'s primary family, IPv4');
    for (const p of r.pods) assert.deepEqual(p.discrepancies, [], p.name);
    assert.deepEqual(r.discrepancies, []);
    const text = renderText(r);
    const row = (name: string) => text.split('\n').find((l) => l.startsWith(`${name} `)) ?? assert.fail(text);
    assert.match(row('both'), /^both +127\.244\.0\.1,fd00::1 +yes +Ready$/);
    assert.match(row('v4only'), /^v4only +127\.244\.0\.2 +yes +Ready; not in the IPv6 EndpointSlices: no IPv6 address \(pod IPs: 127\.244\.0\.2\): the IPv6 EndpointSlices leave it out$/);
    assert.match(row('v6only'), /^v6only +fd00::3 +no +no IPv4 address \(pod IPs: fd00::3\): the Endpoints object carries only the Service's primary family, IPv4; in the IPv6 EndpointSlices \(fd00::3; ready=true, serving=true, terminating=false\)$/);
    assert.match(text, /Cross-check: the Endpoints object and EndpointSlices agree/);
  });

  test('the cross-check looks at each family\'s slices apart', async () => {
    // The IPv6 slice lost a pod and gained one that has no IPv6 address; an IPv4 address sits in it.
    const wrong6 = slice('web-v6', 'IPv6', [['v6only', 'fd00::3'], ['v4only', '127.244.0.2']]);
    const r = await buildReport(cluster({ endpoints, slices: [v4, wrong6], pods }), dual(), undefined);
    const by = Object.fromEntries(r.pods.map((p) => [p.name, p]));
    assert.deepEqual(by.both!.discrepancies, ['IPv6 should be in an EndpointSlice (ready=true, serving=true, terminating=false) but no EndpointSlice lists it yet (controller lag or bug)']);
    assert.deepEqual(by.v4only!.discrepancies, ['IPv6 listed in EndpointSlice web-v6 but should not be: stale (controller lag or bug)']);
    assert.deepEqual(by.v6only!.discrepancies, []);
    // A single-stack Service with a slice of the other family left over.
    const single = await buildReport(cluster({ endpoints, slices: [v4, v6], pods }), svc(), undefined);
    assert.deepEqual(single.discrepancies, ['EndpointSlice web-v6 has addressType IPv6, not one of the Service\'s families (IPv4): stale, the controller deletes such slices']);
    assert.deepEqual(single.pods.map((p) => p.discrepancies), [[], [], []], 'the IPv6 slice is not held against the pods');
  });
});

// --- end to end ----------------------------------------------------------------------------

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function why(args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [KUBELITE, 'why', ...args], { env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof (err as any).code === 'number' ? (err as any).code : 1) : 0, stdout, stderr });
    });
  });
}

describe('kubelite why (end to end)', () => {
  let c: Cluster;
  const kc = () => ['--kubeconfig', c.kubeconfig];
  const mustRequest = async (method: string, path: string, body?: unknown, contentType?: string) => {
    const r = await c.request(method, path, body, contentType ? { headers: { 'Content-Type': contentType } } : {});
    assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${r.body}`);
    return r.json();
  };
  const create = (path: string, body: unknown) => mustRequest('POST', path, body);
  const status = (ns: string, name: string, s: object) => mustRequest('PATCH', `/api/v1/namespaces/${ns}/pods/${name}/status`, { status: s }, 'application/merge-patch+json');
  const running = (ip: string, ready: boolean, extra: object = {}) => ({
    phase: 'Running', podIP: ip, podIPs: [{ ip }],
    conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', ...(ready ? {} : { reason: 'ContainersNotReady', message: 'containers with unready status: [app]' }) }],
    ...extra,
  });
  const mkPod = (name: string, o: { ns?: string; labels?: Record<string, string>; node?: string | null; ports?: object[]; finalizers?: string[] } = {}) => create(`/api/v1/namespaces/${o.ns ?? 'default'}/pods`, {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, labels: o.labels ?? { app: 'web' }, ...(o.finalizers ? { finalizers: o.finalizers } : {}) },
    spec: {
      ...(o.node === null ? {} : { nodeName: o.node ?? 'node01' }),
      containers: [{ name: 'app', image: 'nginx', ports: o.ports ?? [{ name: 'http', containerPort: 8080 }, { name: 'dns', containerPort: 53, protocol: 'UDP' }] }],
    },
  });
  const uids: Record<string, string> = {};

  before(async () => {
    c = await startCluster();
    await create('/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node01' } });
    await create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'other' } });
    await create('/api/v1/namespaces/default/services', {
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' },
      spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }, { name: 'dns', port: 53, protocol: 'UDP', targetPort: 'dns' }] },
    });
    for (const [name, o] of [
      ['web-ready', {}], ['web-unready', {}], ['web-term', { finalizers: ['example.com/hold'] }], ['web-done', {}], ['web-noip', {}],
      ['web-unsched', { node: null }], ['web-noport', { ports: [{ containerPort: 8080 }] }],
      ['web-tcpdns', { ports: [{ name: 'http', containerPort: 8080 }, { name: 'dns', containerPort: 53, protocol: 'TCP' }] }],
      ['api-1', { labels: { app: 'api' } }],
    ] as [string, Parameters<typeof mkPod>[1]][]) {
      const p = await mkPod(name, o);
      uids[name] = p.metadata.uid;
    }
    await mkPod('elsewhere', { ns: 'other' });
    await status('default', 'web-ready', running('127.244.0.11', true));
    await status('default', 'web-unready', running('127.244.0.12', false));
    await status('default', 'web-term', running('127.244.0.13', true));
    await status('default', 'web-done', { phase: 'Succeeded', conditions: [{ type: 'Ready', status: 'False', reason: 'PodCompleted' }] });
    await status('default', 'web-noip', { phase: 'Pending', containerStatuses: [{ name: 'app', ready: false, restartCount: 0, image: 'nginx', imageID: '', state: { waiting: { reason: 'ContainerCreating' } } }] });
    await status('default', 'web-unsched', { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/1 nodes are available: 1 Insufficient cpu.' }] });
    await status('default', 'web-noport', running('127.244.0.15', true));
    await status('default', 'web-tcpdns', running('127.244.0.16', true));
    await status('default', 'api-1', running('127.244.0.17', true));
    await status('other', 'elsewhere', running('127.244.0.18', true));
    // Terminating: a finalizer keeps the pod while its deletionTimestamp is set.
    await mustRequest('DELETE', '/api/v1/namespaces/default/pods/web-term');
  });
  after(async () => {
    await c?.cleanup();
  });

  test('table: one row per pod with the reason', async () => {
    const r = await why(['service/web', ...kc()]);
    assert.equal(r.code, 0, r.stderr);
    const out = r.stdout;
    assert.match(out, /^Service: +default\/web \(ClusterIP/m);
    assert.match(out, /^Selector: +app=web$/m);
    assert.match(out, /^Ports: +http 80\/TCP -> http, dns 53\/UDP -> dns$/m);
    assert.match(out, /^Endpoints: +no Endpoints object$/m);
    assert.match(out, /^Pods: +9 looked at: 2 endpoints, 1 not ready, 6 not endpoints$/m);
    assert.match(out, /^POD +IP +ENDPOINT +REASON$/m);
    const row = (name: string) => out.split('\n').find((l) => l.startsWith(`${name} `)) ?? assert.fail(`no row for ${name}:\n${out}`);
    assert.match(row('web-ready'), /127\.244\.0\.11 +yes +Ready$/);
    assert.match(row('web-unready'), /not-ready +not Ready: Ready=False \(ContainersNotReady: containers with unready status: \[app\]\)/);
    assert.match(row('web-term'), /no +terminating \(deletionTimestamp .*; EndpointSlices still list it \(ready=false, serving=true, terminating=true\)/);
    assert.match(row('web-done'), /<none> +no +terminal phase Succeeded/);
    assert.match(row('web-noip'), /no +no IP yet \(on node node01, Pending\) \[container app waiting: ContainerCreating\]/);
    assert.match(row('web-unsched'), /no +not scheduled yet, so no IP \(Unschedulable: 0\/1 nodes are available: 1 Insufficient cpu\.\)/);
    assert.match(row('web-noport'), /no +port http\/TCP \(targetPort "http"\): no container declares a port named "http".*port dns\/UDP/);
    assert.match(row('web-tcpdns'), /yes +Ready; port dns\/UDP \(targetPort "dns"\): container app declares "dns" as 53\/TCP, not UDP/);
    assert.match(row('api-1'), /no +selector app: want web, pod has app=api/);
    assert.match(out, /Note: 1 pod in other namespaces matches the selector, but a Service selects only in its own namespace: other\/elsewhere/);
    // No controller runs: the cross-check says so.
    assert.match(out, /! the Endpoints object default\/web does not exist \(is the endpoints controller running\?\)/);
    assert.match(out, /! web-ready, web-tcpdns: should be an endpoint \(ready\) but the Endpoints object does not exist/);
  });

  test('json: verdict, reason codes and ports per pod', async () => {
    const r = await why(['svc/web', '-o', 'json', ...kc()]);
    assert.equal(r.code, 0, r.stderr);
    const rep = JSON.parse(r.stdout);
    assert.equal(rep.kind, 'WhyServiceReport');
    assert.equal(rep.mode, 'selector');
    assert.deepEqual(rep.service.selector, { app: 'web' });
    assert.deepEqual(rep.summary, { pods: 9, endpoints: 2, notReady: 1, excluded: 6 });
    const by = Object.fromEntries(rep.pods.map((p: any) => [p.name, p]));
    const verdicts = Object.fromEntries(rep.pods.map((p: any) => [p.name, [p.endpoint, p.reasons.map((x: any) => x.code)]]));
    assert.deepEqual(verdicts, {
      'api-1': ['no', ['SelectorMismatch']],
      'web-done': ['no', ['Terminal']],
      'web-noip': ['no', ['NoIP']],
      'web-noport': ['no', ['NamedPortNotFound', 'NamedPortNotFound']],
      'web-ready': ['yes', []],
      'web-tcpdns': ['yes', ['PortProtocolMismatch']],
      'web-term': ['no', ['Terminating']],
      'web-unready': ['not-ready', ['NotReady']],
      'web-unsched': ['no', ['NotScheduled']],
    });
    assert.deepEqual(by['web-ready'].ports.map((p: any) => [p.name, p.resolved]), [['http', 8080], ['dns', 53]]);
    assert.deepEqual(by['web-tcpdns'].ports.map((p: any) => p.resolved), [8080, null]);
    assert.equal(by['web-ready'].ip, '127.244.0.11');
    assert.equal(by['web-ready'].node, 'node01');
    assert.deepEqual(by['web-term'].endpointSlice.conditions, { ready: false, serving: true, terminating: true });
    assert.deepEqual(rep.otherNamespaces, [{ namespace: 'other', name: 'elsewhere' }]);
    assert.deepEqual(by['web-ready'].discrepancies, ['should be an endpoint (ready) but the Endpoints object does not exist', 'should be in an EndpointSlice (ready=true, serving=true, terminating=false) but no EndpointSlice lists it yet (controller lag or bug)']);
  });

  test('cross-check against hand-written Endpoints and EndpointSlice', async () => {
    const ref = (name: string) => ({ kind: 'Pod', namespace: 'default', name, uid: uids[name] });
    await create('/api/v1/namespaces/default/endpoints', {
      apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'web' },
      subsets: [
        { addresses: [{ ip: '127.244.0.11', nodeName: 'node01', targetRef: ref('web-ready') }, { ip: '127.244.0.16', targetRef: ref('web-tcpdns') }],
          notReadyAddresses: [{ ip: '127.244.0.12', targetRef: ref('web-unready') }], ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] },
        { addresses: [{ ip: '127.244.0.11', targetRef: ref('web-ready') }], ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] },
        // Stale: a finished pod, and a pod that no longer exists.
        { addresses: [{ ip: '127.244.0.14', targetRef: ref('web-done') }, { ip: '127.244.0.99', targetRef: { kind: 'Pod', namespace: 'default', name: 'web-gone', uid: 'gone-uid' } }], ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] },
      ],
    });
    await create('/apis/discovery.k8s.io/v1/namespaces/default/endpointslices', {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: { name: 'web-abcde', labels: { 'kubernetes.io/service-name': 'web', 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' } },
      addressType: 'IPv4', ports: [{ name: 'http', port: 8080, protocol: 'TCP' }, { name: 'dns', port: 53, protocol: 'UDP' }],
      endpoints: [
        { addresses: ['127.244.0.11'], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'node01', targetRef: ref('web-ready') },
        // Wrong: a terminating pod shown as ready.
        { addresses: ['127.244.0.13'], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'node01', targetRef: ref('web-term') },
      ],
    });
    const r = await why(['service/web', ...kc()]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Endpoints: +5 ready, 1 not ready$/m);
    assert.match(r.stdout, /^EndpointSlices: +web-abcde \(2 endpoints\)$/m);
    const rep = JSON.parse((await why(['service/web', '-o', 'json', ...kc()])).stdout);
    const by = Object.fromEntries(rep.pods.map((p: any) => [p.name, p]));
    assert.deepEqual(by['web-ready'].discrepancies, []);
    assert.deepEqual(by['web-ready'].listed.endpoints, { state: 'ready', ips: ['127.244.0.11'], ports: ['dns:53/UDP', 'http:8080/TCP'] });
    // Listed for http only, though its dns port resolves too.
    assert.deepEqual(by['web-unready'].discrepancies.filter((d: string) => d.includes('Endpoints object')),
      ['listed in the Endpoints object with ports http:8080/TCP but should be dns:53/UDP, http:8080/TCP']);
    assert.deepEqual(by['web-done'].discrepancies, ['listed in the Endpoints object (as ready) but should not be: stale (controller lag or bug)']);
    assert.deepEqual(by['web-term'].discrepancies, ['EndpointSlice web-abcde lists it with ready=true, serving=true, terminating=false but should be ready=false, serving=true, terminating=true']);
    assert.deepEqual(by['web-tcpdns'].discrepancies, ['should be in an EndpointSlice (ready=true, serving=true, terminating=false) but no EndpointSlice lists it yet (controller lag or bug)']);
    assert.ok(rep.discrepancies.includes('the Endpoints object lists 127.244.0.99 (pod web-gone) but that pod does not exist: stale'), rep.discrepancies.join('\n'));
    assert.match(r.stdout, /! web-done: listed in the Endpoints object \(as ready\) but should not be: stale/);
  });

  test('a not-ready pod shows the kubelet\'s latest probe failure event', async () => {
    await create('/api/v1/namespaces/default/events', {
      apiVersion: 'v1', kind: 'Event', metadata: { name: 'web-unready.probe' }, type: 'Warning', reason: 'Unhealthy', count: 4,
      message: 'Readiness probe failed: HTTP probe failed with statuscode: 503', source: { component: 'kubelet', host: 'node01' },
      involvedObject: { kind: 'Pod', namespace: 'default', name: 'web-unready', uid: uids['web-unready'], fieldPath: 'spec.containers{app}' },
      firstTimestamp: '2025-01-01T00:00:00Z', lastTimestamp: '2025-01-01T00:01:00Z',
    });
    const r = await why(['service/web', 'pod/web-unready', ...kc()]);
    assert.match(r.stdout, /^web-unready .*not-ready +not Ready: .*; kubelet: Readiness probe failed: HTTP probe failed with statuscode: 503 \(4 times\)/m);
  });

  test('one pod: pod/NAME, in another namespace, or nowhere', async () => {
    const one = JSON.parse((await why(['service/web', 'pod/web-unready', '-o', 'json', ...kc()])).stdout);
    assert.deepEqual(one.pods.map((p: any) => p.name), ['web-unready']);
    assert.equal(one.pods[0].endpoint, 'not-ready');
    assert.deepEqual(one.otherNamespaces, []);
    const other = await why(['service/web', 'pod/elsewhere', ...kc()]);
    assert.equal(other.code, 0, other.stderr);
    assert.match(other.stdout, /^other\/elsewhere +127\.244\.0\.18 +no +the pod is in namespace other; the Service selects pods in default only$/m);
    const none = await why(['service/web', 'po/nope', ...kc()]);
    assert.equal(none.code, 1);
    assert.equal(none.stderr, 'Error from server (NotFound): pods "nope" not found\n');
  });

  test('a Service that does not exist: exit 1 with kubectl\'s message', async () => {
    const r = await why(['service/nope', ...kc()]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'Error from server (NotFound): services "nope" not found\n');
    const ns = await why(['service/web', '-n', 'other', ...kc()]);
    assert.equal(ns.code, 1);
    assert.match(ns.stderr, /services "web" not found/);
  });

  test('publishNotReadyAddresses: not-ready and terminating pods are endpoints', async () => {
    await create('/api/v1/namespaces/default/services', {
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'web-all' },
      spec: { selector: { app: 'web' }, publishNotReadyAddresses: true, ports: [{ port: 80, targetPort: 8080 }] },
    });
    const rep = JSON.parse((await why(['service/web-all', '-o', 'json', ...kc()])).stdout);
    const by = Object.fromEntries(rep.pods.map((p: any) => [p.name, p]));
    assert.equal(by['web-unready'].endpoint, 'yes');
    assert.equal(by['web-term'].endpoint, 'yes');
    assert.equal(by['web-noport'].endpoint, 'yes'); // numeric targetPort
    assert.equal(by['web-done'].endpoint, 'no');
    const table = (await why(['service/web-all', ...kc()])).stdout;
    assert.match(table, /^Publish: +publishNotReadyAddresses/m);
    assert.match(table, /^web-unready +127\.244\.0\.12 +yes +not Ready, but published anyway: publishNotReadyAddresses is true$/m);
  });

  test('selectorless Service: the hand-written Endpoints are listed', async () => {
    await create('/api/v1/namespaces/default/services', {
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'ext-db' }, spec: { ports: [{ port: 80, protocol: 'TCP' }] },
    });
    const bare = await why(['service/ext-db', ...kc()]);
    assert.equal(bare.code, 0, bare.stderr);
    assert.match(bare.stdout, /^Selector: +<none>$/m);
    assert.match(bare.stdout, /no selector, and no Endpoints object/);
    await create('/api/v1/namespaces/default/endpoints', {
      apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'ext-db' },
      subsets: [{ addresses: [{ ip: '10.0.0.250' }, { ip: '127.244.0.11' }], ports: [{ port: 80 }] }],
    });
    const r = await why(['service/ext-db', ...kc()]);
    assert.match(r.stdout, /^Verdict: +the Service has no selector: its Endpoints are hand-written \(2 ready, 0 not ready\); no mirrored EndpointSlice yet$/m);
    assert.match(r.stdout, /^ADDRESS +LISTED AS +PORTS +POD$/m);
    assert.match(r.stdout, /^10\.0\.0\.250 +ready +:80\/TCP +<none>$/m);
    assert.match(r.stdout, /^127\.244\.0\.11 +ready +:80\/TCP +web-ready$/m);
    assert.match(r.stdout, /! the hand-written Endpoints have no mirrored EndpointSlice yet/);
    const rep = JSON.parse((await why(['service/ext-db', 'pod/web-ready', '-o', 'json', ...kc()])).stdout);
    assert.equal(rep.mode, 'selectorless');
    assert.equal(rep.service.selector, null);
    assert.deepEqual(rep.endpoints.addresses.map((a: any) => a.ip), ['10.0.0.250', '127.244.0.11']);
    assert.equal(rep.pods[0].endpoint, 'yes');
    assert.equal(rep.pods[0].reasons[0].code, 'NoSelector');
    // A mirrored slice is recognised as such.
    await create('/apis/discovery.k8s.io/v1/namespaces/default/endpointslices', {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: { name: 'ext-db-xyz12', labels: { 'kubernetes.io/service-name': 'ext-db', 'endpointslice.kubernetes.io/managed-by': 'endpointslicemirroring-controller.k8s.io' } },
      addressType: 'IPv4', ports: [{ name: '', port: 80, protocol: 'TCP' }],
      endpoints: [{ addresses: ['10.0.0.250'], conditions: { ready: true } }, { addresses: ['127.244.0.11'], conditions: { ready: true } }],
    });
    const mirrored = await why(['service/ext-db', ...kc()]);
    assert.match(mirrored.stdout, /mirrored into EndpointSlice ext-db-xyz12$/m);
    assert.match(mirrored.stdout, /^EndpointSlices: +ext-db-xyz12 \(mirrored\) \(2 endpoints\)$/m);
  });

  test('ExternalName Service: no endpoints by design', async () => {
    await create('/api/v1/namespaces/default/services', {
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'cname' }, spec: { type: 'ExternalName', externalName: 'db.example.com' },
    });
    const r = await why(['service/cname', ...kc()]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Verdict: +type ExternalName \(db\.example\.com\): the Service has no endpoints by design/m);
    const rep = JSON.parse((await why(['service/cname', '-o', 'json', ...kc()])).stdout);
    assert.equal(rep.mode, 'externalName');
    assert.deepEqual(rep.pods, []);
  });

  test('finds the cluster through KUBECONFIG (first file defining the context), --context and usage errors', async () => {
    const env = { KUBECONFIG: `/nonexistent/config:${c.kubeconfig}`, HOME: '/nonexistent' };
    const r = await why(['service/web', 'pod/web-ready'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^web-ready +127\.244\.0\.11 +yes/m);
    const bad = await why(['service/web', '--context', 'nope'], env);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /context "nope" does not exist/);
    const usage = await why(['deployment/web', ...kc()]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /expected service\/NAME/);
    const format = await why(['service/web', '-o', 'yaml', ...kc()]);
    assert.equal(format.code, 2);
  });
});
