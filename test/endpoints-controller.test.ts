// The Endpoints controller against a real server, driven through the API and the real kubectl:
// selection, readiness, publishNotReadyAddresses, terminating and terminal pods, pods without IP,
// named and numeric targetPorts, multi-port and headless Services, upstream's subset order,
// nodeName/targetRef/hostname, labels, the trigger-time and over-capacity annotations, deletion with
// the Service, selectorless and ExternalName Services, leftovers, skipped no-op writes, conflicts,
// the events upstream emits, a restart in the middle of churn, and `kubectl get/describe ep`.
// The rules themselves (RepackSubsets order, truncation, FindPort, trigger times) are checked
// against facts taken from upstream's Go code and tests.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { EndpointSubset, Pod, Service } from 'kubernetes-types/core/v1.js';
import { startCluster, type Cluster } from './helpers/cluster.js';
import { runControllers, getJSON, call, bindPod, type RunningControllers } from './helpers/run-controllers.js';
import { until, sleep } from './helpers/wait.js';
import { EndpointsController, endpointAddress } from '../src/controllers/endpoints.js';
import {
  MAX_CAPACITY, TriggerTimeTracker, findPort, formatTriggerTime, repackSubsets, servicesToUpdateOnPodChange, spewEndpointPort,
  subsetsEqualIgnoringResourceVersion, truncateSubsets, isServiceIPSet, parseTime,
} from '../src/controllers/endpoint-util.js';
import { RestClient, isConflict, type Query } from '../src/client/rest.js';
import { readKubeconfig } from '../src/client/kubeconfig.js';
import { controllerContext } from '../src/client/factory.js';

// --- helpers -------------------------------------------------------------------------------------

const TRIGGER = 'endpoints.kubernetes.io/last-change-trigger-time';
const OVER_CAPACITY = 'endpoints.kubernetes.io/over-capacity';
const HEADLESS = 'service.kubernetes.io/headless';

let ipSeq = 0;
/** A fresh pod IP on loopback (127.244.0.0/16, kubelite's pod CIDR). */
const nextIP = () => { const n = ipSeq++; return `127.244.${Math.floor(n / 250)}.${(n % 250) + 1}`; };
/** Seconds-precision RFC 3339, as the API stores times. */
const rfc3339 = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

interface PodOpts {
  labels: Record<string, string>;
  /** spec.nodeName; null: not scheduled. */
  node?: string | null;
  ports?: { name?: string; containerPort: number; protocol?: string }[];
  sidecarPorts?: { name?: string; containerPort: number; protocol?: string }[];
  initPorts?: { name?: string; containerPort: number; protocol?: string }[];
  hostname?: string;
  subdomain?: string;
  finalizers?: string[];
}

async function createPod(c: Cluster, ns: string, name: string, o: PodOpts): Promise<any> {
  const init = [
    ...(o.sidecarPorts ? [{ name: 'sidecar', image: 'envoy', restartPolicy: 'Always', ports: o.sidecarPorts }] : []),
    ...(o.initPorts ? [{ name: 'init', image: 'busybox', ports: o.initPorts }] : []),
  ];
  return call(c, 'POST', `/api/v1/namespaces/${ns}/pods`, {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, labels: o.labels, ...(o.finalizers ? { finalizers: o.finalizers } : {}) },
    spec: {
      ...(o.node === null ? {} : { nodeName: o.node ?? 'node-1' }),
      ...(o.hostname ? { hostname: o.hostname } : {}), ...(o.subdomain ? { subdomain: o.subdomain } : {}),
      ...(init.length ? { initContainers: init } : {}),
      containers: [{ name: 'c', image: 'nginx', ...(o.ports ? { ports: o.ports } : {}) }],
    },
  });
}

/** Write a pod's status as a node agent would: phase, IP and the Ready condition. */
async function setStatus(c: Cluster, ns: string, name: string, s: { ip?: string; ready: boolean; phase?: string; since?: Date }): Promise<any> {
  return call(c, 'PATCH', `/api/v1/namespaces/${ns}/pods/${name}/status`, {
    status: {
      phase: s.phase ?? 'Running',
      ...(s.ip ? { podIP: s.ip, podIPs: [{ ip: s.ip }] } : {}),
      conditions: [{ type: 'Ready', status: s.ready ? 'True' : 'False', lastProbeTime: null, lastTransitionTime: rfc3339(s.since ?? new Date()) }],
    },
  }, 'application/merge-patch+json');
}

/** A pod with an IP and the given readiness; returns its IP. */
async function runningPod(c: Cluster, ns: string, name: string, ready: boolean, o: PodOpts): Promise<string> {
  const ip = nextIP();
  await createPod(c, ns, name, o);
  await setStatus(c, ns, name, { ip, ready });
  return ip;
}

async function createNamespace(c: Cluster, ns: string): Promise<void> {
  await call(c, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
}

async function createService(c: Cluster, ns: string, name: string, spec: Record<string, unknown>, labels?: Record<string, string>): Promise<Service & { metadata: any }> {
  return call(c, 'POST', `/api/v1/namespaces/${ns}/services`, { apiVersion: 'v1', kind: 'Service', metadata: { name, ...(labels ? { labels } : {}) }, spec });
}

const epPath = (ns: string, name: string) => `/api/v1/namespaces/${ns}/endpoints/${name}`;

async function waitEp(c: Cluster, ns: string, name: string, ok: (ep: any) => boolean, what: string, ms = 30_000): Promise<any> {
  return until(async () => { const ep = await getJSON(c, epPath(ns, name)); return ep && ok(ep) ? ep : undefined; }, what, ms);
}

const ipsOf = (list: any[] | undefined) => (list ?? []).map((a) => a.ip);
/** Byte order of IP strings, as upstream sorts addresses. */
const byBytes = (ips: string[]) => [...ips].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
const allReady = (ep: any) => (ep.subsets ?? []).flatMap((s: any) => ipsOf(s.addresses));
const allNotReady = (ep: any) => (ep.subsets ?? []).flatMap((s: any) => ipsOf(s.notReadyAddresses));
const sameSet = (a: string[], b: string[]) => a.length === b.length && [...a].sort().join() === [...b].sort().join();

/** A RestClient that can run a hook before each write to an Endpoints object, and counts those writes. */
class HookedClient extends RestClient {
  readonly writes: string[] = [];
  hook?: (method: string, path: string) => Promise<void>;
  override async request<T = unknown>(method: string, path: string, opts: { query?: Query; body?: unknown; contentType?: string } = {}): Promise<T> {
    if (method !== 'GET' && /\/endpoints(\/|$)/.test(path)) {
      this.writes.push(`${method} ${path}`);
      const h = this.hook;
      this.hook = undefined;
      await h?.(method, path);
    }
    return super.request<T>(method, path, opts);
  }
}

async function hookedClient(c: Cluster): Promise<HookedClient> {
  const kc = await readKubeconfig(c.kubeconfig);
  return new HookedClient({ ...kc, userAgent: 'kube-controller-manager/v1.32.0 (linux/amd64) kubernetes/kubelite' });
}

/** Wait until a running controller's cache shows an object at (at least) this resourceVersion. */
function inCache(ctl: RunningControllers, plural: string, key: string, rv: string): Promise<unknown> {
  return until(() => Number(ctl.ctx.informers.informer(plural).get(key)?.metadata.resourceVersion ?? 0) >= Number(rv), `${plural} ${key} at ${rv} in the cache`);
}

async function events(c: Cluster, ns: string, reason: string): Promise<any[]> {
  const list = await getJSON(c, `/api/v1/namespaces/${ns}/events`);
  return (list.items as any[]).filter((e) => e.reason === reason);
}

// --- the rules, against upstream's facts ----------------------------------------------------------

describe('endpoint rules (units)', () => {
  const addr = (ip: string, name: string, uid: string, node: string) => ({ ip, nodeName: node, targetRef: { kind: 'Pod', namespace: 'ns', name, uid } });

  test('RepackSubsets groups and orders exactly as upstream', () => {
    // Facts from upstream's RepackSubsets (Go, go-spew v1.1.2 dump + MD5) on this input: a named
    // port resolving differently per pod splits the subsets.
    const a = addr('10.0.0.1', 'a', 'uid-a', 'n1'), b = addr('10.0.0.2', 'b', 'uid-b', 'n2'), cc = addr('10.0.0.10', 'c', 'uid-c', 'n1');
    const http = { name: 'http', port: 8080, protocol: 'TCP' };
    const input: EndpointSubset[] = [
      { addresses: [a], ports: [http] }, { addresses: [b], ports: [http] }, { notReadyAddresses: [cc], ports: [http] },
      { addresses: [a], ports: [{ name: 'metrics', port: 9090, protocol: 'TCP' }] },
      { addresses: [b], ports: [{ name: 'metrics', port: 9091, protocol: 'TCP' }] },
      { notReadyAddresses: [cc], ports: [{ name: 'metrics', port: 9090, protocol: 'TCP' }] },
    ];
    assert.deepEqual(repackSubsets(input), [
      { addresses: [a], notReadyAddresses: [cc], ports: [{ name: 'metrics', port: 9090, protocol: 'TCP' }] },
      { addresses: [b], ports: [{ name: 'metrics', port: 9091, protocol: 'TCP' }] },
      // 10.0.0.1 < 10.0.0.2 bytewise; 10.0.0.10 sorts before 10.0.0.9 would, as upstream compares bytes.
      { addresses: [a, b], notReadyAddresses: [cc], ports: [http] },
    ]);
    // Ports of one subset, in upstream's order (from the same Go code).
    const ports = [
      { name: 'http', port: 80, protocol: 'TCP' }, { name: 'https', port: 443, protocol: 'TCP', appProtocol: 'https' },
      { name: 'metrics', port: 9090, protocol: 'TCP' }, { name: 'dns', port: 53, protocol: 'UDP' },
    ];
    assert.deepEqual(repackSubsets([{ addresses: [{ ip: '10.0.0.1' }], ports }])[0].ports!.map((p) => p.name), ['dns', 'metrics', 'https', 'http']);
    // The dump upstream hashes, byte for byte.
    assert.equal(spewEndpointPort({ name: 'http', port: 80, protocol: 'TCP' }),
      '(v1.EndpointPort){Name:(string)http Port:(int32)80 Protocol:(v1.Protocol)TCP AppProtocol:(*string)<nil>}');
  });

  test('RepackSubsets: duplicates collapse, not-ready wins, port-less addresses survive, bytewise IP order', () => {
    const x = { ip: '10.0.0.9', targetRef: { kind: 'Pod', uid: 'x' } }, y = { ip: '10.0.0.10', targetRef: { kind: 'Pod', uid: 'y' } };
    const p = { port: 80, protocol: 'TCP' };
    assert.deepEqual(repackSubsets([{ addresses: [x, y], ports: [p] }, { notReadyAddresses: [x], ports: [p] }, { addresses: [y], ports: [p] }]),
      [{ addresses: [y], notReadyAddresses: [x], ports: [p] }]);
    assert.deepEqual(repackSubsets([{ addresses: [x] }, { addresses: [y] }]), [{ addresses: [y, x] }]);
    assert.deepEqual(repackSubsets([]), []);
  });

  test('truncation shares the 1,000 addresses as upstream (TestTruncateEndpoints)', () => {
    const cases = [
      { ready: [50, 100, 100, 100, 100], notReady: [50, 100, 100, 100, 100], wantReady: [50, 100, 100, 100, 100], wantNotReady: [50, 100, 100, 100, 100], truncated: false },
      { ready: [100, 100, 100, 100, 100], notReady: [100, 100, 100, 100, 100], wantReady: [100, 100, 100, 100, 100], wantNotReady: [100, 100, 100, 100, 100], truncated: false },
      { ready: [90, 110, 50, 10, 20], notReady: [101, 200, 200, 201, 298], wantReady: [90, 110, 50, 10, 20], wantNotReady: [73, 144, 144, 145, 214], truncated: true },
      { ready: [205, 400, 402, 400, 693], notReady: [100, 200, 200, 200, 300], wantReady: [98, 191, 192, 191, 328], wantNotReady: [0, 0, 0, 0, 0], truncated: true },
    ];
    for (const tc of cases) {
      const subsets = tc.ready.map((n, i) => ({
        addresses: Array.from({ length: n }, (_, j) => ({ ip: `10.${i}.0.${j}` })),
        notReadyAddresses: Array.from({ length: tc.notReady[i] }, (_, j) => ({ ip: `10.${i}.1.${j}` })),
      }));
      const r = truncateSubsets(subsets);
      assert.equal(r.truncated, tc.truncated);
      assert.deepEqual(r.subsets.map((s) => s.addresses?.length ?? 0), tc.wantReady);
      assert.deepEqual(r.subsets.map((s) => s.notReadyAddresses?.length ?? 0), tc.wantNotReady);
      // The first addresses of each sorted list are the ones kept.
      if (tc.truncated) assert.equal(r.subsets[0].addresses![0].ip, '10.0.0.0');
    }
    assert.equal(MAX_CAPACITY, 1000);
  });

  test('FindPort: numbers verbatim, names per protocol, sidecars count, plain init containers do not', () => {
    const pod: Pod = {
      spec: {
        initContainers: [
          { name: 'init', ports: [{ name: 'early', containerPort: 7000 }] },
          { name: 'side', restartPolicy: 'Always', ports: [{ name: 'proxy', containerPort: 15001 }] },
        ],
        containers: [{ name: 'c', ports: [{ name: 'dns', containerPort: 53, protocol: 'UDP' }, { name: 'web', containerPort: 8080 }, { name: 'dns', containerPort: 5353, protocol: 'TCP' }] }],
      },
    };
    assert.equal(findPort(pod, { port: 80, targetPort: 9999 }), 9999);
    assert.equal(findPort(pod, { port: 80 }), 80);
    assert.equal(findPort(pod, { port: 80, targetPort: 'web', protocol: 'TCP' }), 8080);
    assert.equal(findPort(pod, { port: 53, targetPort: 'dns', protocol: 'UDP' }), 53);
    assert.equal(findPort(pod, { port: 53, targetPort: 'dns', protocol: 'TCP' }), 5353);
    assert.equal(findPort(pod, { port: 80, targetPort: 'web', protocol: 'UDP' }), undefined);
    assert.equal(findPort(pod, { port: 80, targetPort: 'proxy', protocol: 'TCP' }), 15001);
    assert.equal(findPort(pod, { port: 80, targetPort: 'early', protocol: 'TCP' }), undefined);
  });

  test('the address: IP of the Service family, node, targetRef without resourceVersion (TestPodToEndpointAddressForService)', () => {
    const pod = (ips: string[]): Pod => ({
      metadata: { name: 'p', namespace: 'ns', uid: 'u1', resourceVersion: '7' },
      spec: { nodeName: 'n1', hostname: 'h', subdomain: 'svc', containers: [] },
      status: { podIP: ips[0], podIPs: ips.map((ip) => ({ ip })) },
    });
    const svc = (spec: Service['spec'], name = 'svc'): Service => ({ metadata: { name, namespace: 'ns' }, spec });
    const dual = pod(['1.2.3.4', '2000::4']), dual6 = pod(['2000::4', '1.2.3.4']), v4 = pod(['1.2.3.4']);
    assert.equal(endpointAddress(svc({ clusterIP: '10.0.0.1' }), dual6)?.ip, '1.2.3.4');
    assert.equal(endpointAddress(svc({ clusterIP: '3000::1' }), dual)?.ip, '2000::4');
    assert.equal(endpointAddress(svc({ clusterIP: 'None', ipFamilies: ['IPv6'] }), dual)?.ip, '2000::4');
    assert.equal(endpointAddress(svc({ clusterIP: 'None' }), dual6)?.ip, '2000::4');
    assert.equal(endpointAddress(svc({ clusterIP: 'None' }), dual)?.ip, '1.2.3.4');
    assert.equal(endpointAddress(svc({ clusterIP: '3000::1' }), v4), undefined);
    assert.deepEqual(endpointAddress(svc({ clusterIP: '10.0.0.1', ipFamilies: ['IPv4'] }), v4),
      { ip: '1.2.3.4', nodeName: 'n1', hostname: 'h', targetRef: { kind: 'Pod', namespace: 'ns', name: 'p', uid: 'u1' } });
    assert.equal(endpointAddress(svc({ clusterIP: '10.0.0.1' }, 'other'), v4)?.hostname, undefined);
  });

  test('trigger times: Service creation first, then the earliest change; nothing changed means none', () => {
    const t = new TriggerTimeTracker();
    const svc: Service = { metadata: { name: 's', namespace: 'ns', creationTimestamp: '2018-01-01T00:00:00Z' } };
    const pod = (name: string, at: string): Pod => ({ metadata: { name }, status: { conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: at }] } });
    let r = t.compute(svc, [pod('a', '2018-01-01T00:00:05Z')]);
    assert.equal(formatTriggerTime(r.time), '2018-01-01T00:00:00Z');
    r.commit();
    r = t.compute(svc, [pod('a', '2018-01-01T00:00:05Z')]);
    assert.equal(r.time, 0);
    // Not committed: a retried sync reports the same change again.
    assert.equal(formatTriggerTime(t.compute(svc, [pod('a', '2018-01-01T00:01:00Z'), pod('b', '2018-01-01T00:00:30Z')]).time), '2018-01-01T00:00:30Z');
    r = t.compute(svc, [pod('a', '2018-01-01T00:01:00Z'), pod('b', '2018-01-01T00:00:30Z')]);
    r.commit();
    assert.equal(t.compute(svc, [pod('a', '2018-01-01T00:01:00Z'), pod('b', '2018-01-01T00:00:30Z')]).time, 0);
    // A pod that left the selection is forgotten: when it comes back, its time counts again.
    t.compute(svc, [pod('a', '2018-01-01T00:01:00Z')]).commit();
    assert.equal(formatTriggerTime(t.compute(svc, [pod('a', '2018-01-01T00:01:00Z'), pod('b', '2018-01-01T00:00:30Z')]).time), '2018-01-01T00:00:30Z');
    assert.equal(formatTriggerTime(Date.parse('2018-01-01T00:00:00.120Z')), '2018-01-01T00:00:00.12Z');
  });

  test('condition times read field by field agree with Date.parse', () => {
    const asParsed = (t: string) => { const ms = Date.parse(t); return Number.isNaN(ms) ? 0 : ms; };
    let seed = 11;
    const random = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) % n;
    for (let i = 0; i < 20_000; i++) {
      const t = new Date(random(2 ** 24) * 250_000 + random(250_000)).toISOString().replace(/\.\d+Z$/, 'Z');
      assert.equal(parseTime(t), asParsed(t), t);
    }
    // Out-of-range fields, leap days, fractions, offsets, years before 1970 and non-times.
    for (const t of ['2024-02-29T23:59:59Z', '2025-02-29T00:00:00Z', '2025-02-30T00:00:00Z', '2025-04-31T00:00:00Z', '2025-13-01T00:00:00Z',
      '2025-00-10T00:00:00Z', '2025-01-01T24:00:00Z', '2025-01-01T00:60:00Z', '2025-01-01T00:00:60Z', '2025-01-01T00:00:00.5Z',
      '2025-01-01T01:00:00+01:00', '0001-01-01T00:00:00Z', '1969-12-31T23:59:59Z', '2025-01-01 00:00:00Z', '2025-0a-01T00:00:00Z', 'yesterday', '']) {
      assert.equal(parseTime(t), asParsed(t), t);
    }
  });

  test('which Services a pod change queues: nothing for resyncs, union or symmetric difference on relabel', () => {
    const svcs: Record<string, Record<string, string>> = { 'ns/a': { app: 'a' }, 'ns/b': { app: 'b' }, 'ns/all': { tier: 'web' } };
    const servicesFor = (_ns: string, labels: Record<string, string> | undefined) =>
      new Set(Object.entries(svcs).filter(([, sel]) => Object.entries(sel).every(([k, v]) => labels?.[k] === v)).map(([k]) => k));
    const pod = (rv: string, labels: Record<string, string>, ready: boolean): Pod => ({
      metadata: { namespace: 'ns', name: 'p', resourceVersion: rv, labels },
      status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
    });
    const q = (o: Pod, n: Pod) => [...servicesToUpdateOnPodChange(o, n, servicesFor)].sort();
    assert.deepEqual(q(pod('1', { app: 'a', tier: 'web' }, true), pod('1', { app: 'a', tier: 'web' }, false)), []);
    assert.deepEqual(q(pod('1', { app: 'a', tier: 'web' }, true), pod('2', { app: 'a', tier: 'web' }, true)), []);
    assert.deepEqual(q(pod('1', { app: 'a', tier: 'web' }, true), pod('2', { app: 'a', tier: 'web' }, false)), ['ns/a', 'ns/all']);
    assert.deepEqual(q(pod('1', { app: 'a', tier: 'web' }, true), pod('2', { app: 'b', tier: 'web' }, true)), ['ns/a', 'ns/b']);
    assert.deepEqual(q(pod('1', { app: 'a', tier: 'web' }, true), pod('2', { app: 'b', tier: 'web' }, false)), ['ns/a', 'ns/all', 'ns/b']);
  });

  test('subsets compare semantically, ignoring targetRef.resourceVersion (TestEndpointSubsetsEqualIgnoreResourceVersion)', () => {
    const es1 = { addresses: [{ ip: '1.1.1.1', targetRef: { kind: 'Pod', name: 'pod1-1', namespace: 'ns', resourceVersion: '1' } }], ports: [{ port: 8081, protocol: 'TCP' }] };
    const mutate = (f: (s: any) => void) => { const s = structuredClone(es1); f(s); return s; };
    assert.equal(subsetsEqualIgnoringResourceVersion([es1], [mutate((s) => { s.addresses[0].targetRef.resourceVersion = '100'; })]), true);
    assert.equal(subsetsEqualIgnoringResourceVersion([es1], [mutate((s) => { delete s.addresses[0].targetRef.resourceVersion; })]), true);
    assert.equal(subsetsEqualIgnoringResourceVersion([es1], [mutate((s) => { s.addresses[0].ip = '1.1.1.10'; })]), false);
    assert.equal(subsetsEqualIgnoringResourceVersion([es1], [mutate((s) => { s.ports[0].port = 8082; })]), false);
    assert.equal(subsetsEqualIgnoringResourceVersion([es1, es1], [es1]), false);
    assert.equal(subsetsEqualIgnoringResourceVersion(undefined, []), true);
  });
});

// --- the running controller -----------------------------------------------------------------------

describe('Endpoints controller', () => {
  let c: Cluster;
  let ctl: RunningControllers;
  let controller: EndpointsController;

  before(async () => {
    c = await startCluster();
    ctl = await runControllers(c, (ctx) => [(controller = new EndpointsController(ctx))], { workers: 5 });
  });
  after(async () => { ctl?.stop(); await c?.cleanup(); });

  test('selects the ready and not-ready pods of its own namespace, with node, targetRef, labels and trigger time', async () => {
    await createNamespace(c, 'basic');
    await createNamespace(c, 'basic-other');
    const svc = await createService(c, 'basic', 'web', { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] }, { app: 'web', tier: 'frontend' });
    ipSeq = 7; // w1 127.244.0.8, w2 .9, w3 .10: upstream sorts IPs as bytes, so .10 comes first
    const w1 = await runningPod(c, 'basic', 'w1', true, { labels: { app: 'web' } });
    const w2 = await runningPod(c, 'basic', 'w2', true, { labels: { app: 'web', extra: 'x' }, node: 'node-2' });
    const w3 = await runningPod(c, 'basic', 'w3', true, { labels: { app: 'web' } });
    const w4 = await runningPod(c, 'basic', 'w4', false, { labels: { app: 'web' } });
    await runningPod(c, 'basic', 'other-app', true, { labels: { app: 'other' } });
    await runningPod(c, 'basic-other', 'w1', true, { labels: { app: 'web' } });

    const ep = await waitEp(c, 'basic', 'web', (e) => allReady(e).length === 3 && allNotReady(e).length === 1, '3 ready + 1 not ready');
    assert.equal(ep.subsets.length, 1);
    assert.deepEqual(ipsOf(ep.subsets[0].addresses), byBytes([w1, w2, w3]));
    assert.deepEqual(ipsOf(ep.subsets[0].notReadyAddresses), [w4]);
    assert.deepEqual(ep.subsets[0].ports, [{ port: 8080, protocol: 'TCP' }]);
    const pods = (await getJSON(c, '/api/v1/namespaces/basic/pods')).items as any[];
    for (const a of [...ep.subsets[0].addresses, ...ep.subsets[0].notReadyAddresses]) {
      const pod = pods.find((p) => p.status.podIP === a.ip);
      assert.deepEqual(a, { ip: pod.status.podIP, nodeName: pod.spec.nodeName, targetRef: { kind: 'Pod', namespace: 'basic', name: pod.metadata.name, uid: pod.metadata.uid } });
    }
    const wantLabels: Record<string, string> = { app: 'web', tier: 'frontend' };
    if (!isServiceIPSet(svc)) wantLabels[HEADLESS] = '';
    assert.deepEqual(ep.metadata.labels, wantLabels);
    assert.match(ep.metadata.annotations[TRIGGER], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    assert.equal(ep.metadata.ownerReferences, undefined);
    assert.equal(ep.metadata.annotations[OVER_CAPACITY], undefined);
  });

  test('follows readiness, IP, label and deletion changes; the trigger time is the change\'s', async () => {
    await createNamespace(c, 'follow');
    await createService(c, 'follow', 'web', { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] });
    const a = await runningPod(c, 'follow', 'a', true, { labels: { app: 'web' } });
    const b = await runningPod(c, 'follow', 'b', true, { labels: { app: 'web' } });
    await waitEp(c, 'follow', 'web', (e) => allReady(e).length === 2, 'both ready');

    const since = new Date(Date.now() + 60_000);
    await setStatus(c, 'follow', 'a', { ready: false, since });
    let ep = await waitEp(c, 'follow', 'web', (e) => sameSet(allNotReady(e), [a]), 'a not ready');
    assert.deepEqual(allReady(ep), [b]);
    assert.equal(ep.metadata.annotations[TRIGGER], rfc3339(since));

    await setStatus(c, 'follow', 'a', { ready: true });
    await waitEp(c, 'follow', 'web', (e) => sameSet(allReady(e), [a, b]) && allNotReady(e).length === 0, 'a ready again');

    const a2 = nextIP();
    await setStatus(c, 'follow', 'a', { ip: a2, ready: true });
    await waitEp(c, 'follow', 'web', (e) => sameSet(allReady(e), [a2, b]), 'a\'s new IP');

    await call(c, 'PATCH', '/api/v1/namespaces/follow/pods/b', { metadata: { labels: { app: 'moved' } } }, 'application/merge-patch+json');
    await waitEp(c, 'follow', 'web', (e) => sameSet(allReady(e), [a2]), 'b relabelled away');
    await call(c, 'PATCH', '/api/v1/namespaces/follow/pods/b', { metadata: { labels: { app: 'web' } } }, 'application/merge-patch+json');
    await waitEp(c, 'follow', 'web', (e) => sameSet(allReady(e), [a2, b]), 'b back');

    await call(c, 'DELETE', '/api/v1/namespaces/follow/pods/b', { gracePeriodSeconds: 0 });
    ep = await waitEp(c, 'follow', 'web', (e) => sameSet(allReady(e), [a2]), 'b deleted');
    await call(c, 'DELETE', '/api/v1/namespaces/follow/pods/a', { gracePeriodSeconds: 0 });
    ep = await waitEp(c, 'follow', 'web', (e) => !e.subsets, 'no pods left');
    assert.equal(ep.subsets, undefined);
  });

  test('publishNotReadyAddresses lists unready and terminating pods as ready; otherwise terminating pods go', async () => {
    await createNamespace(c, 'pnr');
    await createService(c, 'pnr', 'pub', { selector: { app: 'db' }, publishNotReadyAddresses: true, ports: [{ port: 5432 }] });
    await createService(c, 'pnr', 'plain', { selector: { app: 'db' }, ports: [{ port: 5432 }] });
    const r = await runningPod(c, 'pnr', 'ready', true, { labels: { app: 'db' } });
    const u = await runningPod(c, 'pnr', 'unready', false, { labels: { app: 'db' } });
    const t = await runningPod(c, 'pnr', 'terminating', true, { labels: { app: 'db' }, finalizers: ['example.com/hold'] });
    await waitEp(c, 'pnr', 'plain', (e) => sameSet(allReady(e), [r, t]) && sameSet(allNotReady(e), [u]), 'plain: ready, terminating-to-be, unready');
    // Deleting a scheduled pod is graceful: it stays, terminating.
    await call(c, 'DELETE', '/api/v1/namespaces/pnr/pods/terminating');
    const plain = await waitEp(c, 'pnr', 'plain', (e) => sameSet(allReady(e), [r]), 'terminating pod out of plain');
    assert.deepEqual(allNotReady(plain), [u]);
    // The cache now holds the deletion: sync pub from it.
    await controller.reconcile('pnr/pub');
    const pub = await getJSON(c, epPath('pnr', 'pub'));
    assert.ok(sameSet(allReady(pub), [r, u, t]), JSON.stringify(pub.subsets));
    assert.deepEqual(allNotReady(pub), []);
    await call(c, 'PATCH', '/api/v1/namespaces/pnr/pods/terminating', { metadata: { finalizers: null } }, 'application/merge-patch+json');
    await call(c, 'DELETE', '/api/v1/namespaces/pnr/pods/terminating', { gracePeriodSeconds: 0 });
    await waitEp(c, 'pnr', 'pub', (e) => sameSet(allReady(e), [r, u]), 'terminating pod gone');
  });

  test('terminal pods and pods without an IP are left out', async () => {
    await createNamespace(c, 'terminal');
    await createService(c, 'terminal', 'job', { selector: { app: 'job' }, publishNotReadyAddresses: true, ports: [{ port: 80 }] });
    await createPod(c, 'terminal', 'succeeded', { labels: { app: 'job' } });
    await setStatus(c, 'terminal', 'succeeded', { ip: nextIP(), ready: true, phase: 'Succeeded' });
    await createPod(c, 'terminal', 'failed', { labels: { app: 'job' } });
    await setStatus(c, 'terminal', 'failed', { ip: nextIP(), ready: false, phase: 'Failed' });
    await createPod(c, 'terminal', 'no-ip', { labels: { app: 'job' } });
    await setStatus(c, 'terminal', 'no-ip', { ready: true, phase: 'Pending' });
    await createPod(c, 'terminal', 'no-status', { labels: { app: 'job' } });
    // Written last: Endpoints listing it were computed from a cache that held all the others.
    const ok = await runningPod(c, 'terminal', 'running', true, { labels: { app: 'job' } });
    const ep = await waitEp(c, 'terminal', 'job', (e) => allReady(e).includes(ok), 'the running pod');
    assert.deepEqual(allReady(ep), [ok]);
    assert.deepEqual(allNotReady(ep), []);
  });

  test('named targetPorts resolve per pod: a pod lacking one is skipped for that port only; subsets in upstream order', async () => {
    await createNamespace(c, 'named');
    await createService(c, 'named', 'app', {
      selector: { app: 'app' },
      ports: [
        { name: 'http', port: 80, targetPort: 'web' },
        { name: 'metrics', port: 9000, targetPort: 'metrics' },
        { name: 'dns', port: 53, protocol: 'UDP', targetPort: 'dns' },
      ],
    });
    // Declares neither named port (a plain init container's ports do not count): never an endpoint.
    await runningPod(c, 'named', 'e', true, { labels: { app: 'app' }, ports: [{ name: 'other', containerPort: 1234 }], initPorts: [{ name: 'web', containerPort: 8080 }] });
    const a = await runningPod(c, 'named', 'a', true, { labels: { app: 'app' }, ports: [{ name: 'web', containerPort: 8080 }, { name: 'metrics', containerPort: 9090 }, { name: 'dns', containerPort: 53, protocol: 'TCP' }] });
    const b = await runningPod(c, 'named', 'b', true, { labels: { app: 'app' }, ports: [{ name: 'web', containerPort: 8080 }, { name: 'metrics', containerPort: 9091 }] });
    const cc = await runningPod(c, 'named', 'c', false, { labels: { app: 'app' }, ports: [{ name: 'web', containerPort: 8080 }] });
    const d = await runningPod(c, 'named', 'd', true, { labels: { app: 'app' }, ports: [{ name: 'web', containerPort: 8080 }], sidecarPorts: [{ name: 'metrics', containerPort: 9090 }] });
    const ep = await waitEp(c, 'named', 'app', (e) => allReady(e).includes(d) && allNotReady(e).length === 1, 'all four pods');
    const shape = (ep.subsets as any[]).map((s) => ({
      ports: s.ports.map((p: any) => `${p.name}:${p.port}/${p.protocol}`),
      ready: [...ipsOf(s.addresses)].sort(), notReady: [...ipsOf(s.notReadyAddresses)].sort(),
    }));
    const want = [
      { ports: ['http:8080/TCP'], ready: [a, b, d].sort(), notReady: [cc] },
      { ports: ['metrics:9090/TCP'], ready: [a, d].sort(), notReady: [] },
      { ports: ['metrics:9091/TCP'], ready: [b], notReady: [] },
    ];
    assert.deepEqual([...shape].sort((x, y) => (x.ports[0] < y.ports[0] ? -1 : 1)), want);
    // The stored order is the canonical one (repacking the stored subsets changes nothing).
    assert.deepEqual(ep.subsets, repackSubsets(structuredClone(ep.subsets)));
  });

  test('hostname for pods in the Service\'s subdomain; headless Services without ports; multi-port Services', async () => {
    await createNamespace(c, 'hosts');
    await createService(c, 'hosts', 'db', { selector: { app: 'db' }, clusterIP: 'None' });
    await createService(c, 'hosts', 'db2', { selector: { app: 'db' }, ports: [{ name: 'sql', port: 5432 }, { name: 'admin', port: 8080, appProtocol: 'http' }] });
    const h1 = await runningPod(c, 'hosts', 'h1', true, { labels: { app: 'db' }, hostname: 'h1', subdomain: 'db' });
    const h2 = await runningPod(c, 'hosts', 'h2', true, { labels: { app: 'db' }, hostname: 'h2', subdomain: 'db2' });
    const h3 = await runningPod(c, 'hosts', 'h3', false, { labels: { app: 'db' } });
    const db = await waitEp(c, 'hosts', 'db', (e) => allReady(e).length === 2 && allNotReady(e).length === 1, 'headless db');
    assert.equal(db.subsets.length, 1);
    assert.equal(db.subsets[0].ports, undefined);
    assert.equal(db.metadata.labels[HEADLESS], '');
    const host = (e: any, ip: string) => [...e.subsets[0].addresses, ...(e.subsets[0].notReadyAddresses ?? [])].find((x: any) => x.ip === ip)?.hostname;
    assert.equal(host(db, h1), 'h1');
    assert.equal(host(db, h2), undefined);
    assert.equal(host(db, h3), undefined);
    const db2 = await waitEp(c, 'hosts', 'db2', (e) => allReady(e).length === 2, 'db2');
    assert.equal(db2.subsets.length, 1);
    assert.deepEqual(db2.subsets[0].ports.map((p: any) => p.name).sort(), ['admin', 'sql']);
    assert.equal(db2.subsets[0].ports.find((p: any) => p.name === 'admin').appProtocol, 'http');
    assert.equal(host(db2, h2), 'h2');
    assert.equal(host(db2, h1), undefined);
    assert.deepEqual(db2.subsets, repackSubsets(structuredClone(db2.subsets)));
  });

  test('labels follow the Service, hand-added labels go at the next write, annotations stay', async () => {
    await createNamespace(c, 'labels');
    await createService(c, 'labels', 'web', { selector: { app: 'web' }, ports: [{ port: 80 }] }, { team: 'a' });
    await runningPod(c, 'labels', 'p', true, { labels: { app: 'web' } });
    await waitEp(c, 'labels', 'web', (e) => allReady(e).length === 1, 'endpoints');
    await call(c, 'PATCH', '/api/v1/namespaces/labels/services/web', { metadata: { labels: { team: 'b', env: 'prod' } } }, 'application/merge-patch+json');
    await waitEp(c, 'labels', 'web', (e) => e.metadata.labels.team === 'b' && e.metadata.labels.env === 'prod', 'labels copied');
    const patched = await call(c, 'PATCH', epPath('labels', 'web'), { metadata: { labels: { mine: 'x' }, annotations: { note: 'kept' } } }, 'application/merge-patch+json');
    await inCache(ctl, 'endpoints', 'labels/web', patched.metadata.resourceVersion);
    await call(c, 'PATCH', '/api/v1/namespaces/labels/services/web', { metadata: { annotations: { touch: '1' } } }, 'application/merge-patch+json');
    const ep = await waitEp(c, 'labels', 'web', (e) => e.metadata.labels.mine === undefined, 'hand-added label dropped');
    assert.equal(ep.metadata.annotations.note, 'kept');
    assert.equal(ep.metadata.annotations.touch, undefined, 'Service annotations are not copied');
  });

  test('over 1,000 addresses: truncated (not-ready first), annotated, and the annotation goes when back under', async () => {
    await createNamespace(c, 'cap');
    await createService(c, 'cap', 'big', { selector: { app: 'big' }, ports: [{ port: 80 }] });
    const ips: string[] = [];
    const total = 1002, notReady = 4;
    const names = Array.from({ length: total }, (_, i) => `p${i}`);
    for (let i = 0; i < total; i += 50) {
      await Promise.all(names.slice(i, i + 50).map(async (name, j) => {
        const ip = `127.245.${Math.floor((i + j) / 250)}.${((i + j) % 250) + 1}`;
        ips[i + j] = ip;
        await createPod(c, 'cap', name, { labels: { app: 'big' } });
        await setStatus(c, 'cap', name, { ip, ready: i + j >= notReady });
      }));
    }
    const unreadyIPs = byBytes(ips.slice(0, notReady));
    const ep = await waitEp(c, 'cap', 'big', (e) => allReady(e).length === total - notReady, 'all ready addresses', 60_000);
    assert.equal(ep.metadata.annotations[OVER_CAPACITY], 'truncated');
    // 998 ready fit; the 2 places left go to the first not-ready addresses in (byte) order.
    assert.deepEqual(allNotReady(ep), unreadyIPs.slice(0, 2));
    const podOf = (ip: string) => names[ips.indexOf(ip)];
    await Promise.all(unreadyIPs.slice(0, 2).map((ip) => call(c, 'DELETE', `/api/v1/namespaces/cap/pods/${podOf(ip)}`, { gracePeriodSeconds: 0 })));
    const under = await waitEp(c, 'cap', 'big', (e) => e.metadata.annotations?.[OVER_CAPACITY] === undefined, 'annotation removed', 60_000);
    assert.equal(allReady(under).length, total - notReady);
    assert.deepEqual(allNotReady(under), unreadyIPs.slice(2));
  });

  test('Endpoints go with their Service; selectorless and ExternalName Services are left alone', async () => {
    await createNamespace(c, 'life');
    await createService(c, 'life', 'gone', { selector: { app: 'x' }, ports: [{ port: 80 }] });
    await runningPod(c, 'life', 'x', true, { labels: { app: 'x' } });
    await waitEp(c, 'life', 'gone', (e) => allReady(e).length === 1, 'endpoints of gone');
    await call(c, 'DELETE', '/api/v1/namespaces/life/services/gone');
    await until(async () => (await getJSON(c, epPath('life', 'gone'))) === undefined, 'endpoints deleted with the Service');

    // The seed's hand-written example: a Service without selector and its Endpoints.
    await createService(c, 'life', 'manual', { ports: [{ port: 80 }] });
    const hand = await call(c, 'POST', '/api/v1/namespaces/life/endpoints', {
      apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'manual', labels: { mine: 'yes' } },
      subsets: [{ addresses: [{ ip: '10.0.0.250' }], ports: [{ port: 80 }] }],
    });
    await createService(c, 'life', 'external', { type: 'ExternalName', externalName: 'example.com', selector: { app: 'x' } });
    await controller.reconcile('life/manual');
    await controller.reconcile('life/external');
    const after = await getJSON(c, epPath('life', 'manual'));
    assert.equal(after.metadata.resourceVersion, hand.metadata.resourceVersion);
    assert.deepEqual(after.subsets, [{ addresses: [{ ip: '10.0.0.250' }], ports: [{ port: 80, protocol: 'TCP' }] }]);
    assert.equal(await getJSON(c, epPath('life', 'external')), undefined);
    // Deleting a selectorless Service deletes its Endpoints too (upstream deletes by name).
    await call(c, 'DELETE', '/api/v1/namespaces/life/services/manual');
    await until(async () => (await getJSON(c, epPath('life', 'manual'))) === undefined, 'hand-written Endpoints deleted with their Service');
  });

  test('FailedToCreateEndpoint: an Endpoints the server refuses (a pod with an IP but no node) is reported and retried', async () => {
    await createNamespace(c, 'invalid');
    const ip = nextIP();
    await createPod(c, 'invalid', 'unbound', { labels: { app: 'bad' }, node: null });
    const pod = await setStatus(c, 'invalid', 'unbound', { ip, ready: true });
    await inCache(ctl, 'pods', 'invalid/unbound', pod.metadata.resourceVersion);
    // The pod is there before the Service: the first write is the create, and it is refused.
    await createService(c, 'invalid', 'bad', { selector: { app: 'bad' }, ports: [{ port: 80 }] });
    // As upstream, the event is about the object it tried to create, which has no namespace: it lands in default.
    const [ev] = await until(async () => { const e = (await events(c, 'default', 'FailedToCreateEndpoint')).filter((x) => x.involvedObject.name === 'bad'); return e.length && e; }, 'FailedToCreateEndpoint');
    assert.equal(ev.type, 'Warning');
    assert.equal(ev.source.component, 'endpoint-controller');
    assert.deepEqual({ kind: ev.involvedObject.kind, apiVersion: ev.involvedObject.apiVersion }, { kind: 'Endpoints', apiVersion: 'v1' });
    assert.match(ev.message, /^Failed to create endpoint for service invalid\/bad: Endpoints "bad" is invalid: subsets\[0\]\.addresses\[0\]\.nodeName: Invalid value: ""/);
    await bindPod(c, 'invalid', 'unbound', 'node-1');
    const bound = await getJSON(c, '/api/v1/namespaces/invalid/pods/unbound');
    await inCache(ctl, 'pods', 'invalid/unbound', bound.metadata.resourceVersion);
    // Binding is no endpoint-relevant pod change; the retries (or a Service change) pick it up.
    await call(c, 'PATCH', '/api/v1/namespaces/invalid/services/bad', { metadata: { annotations: { retry: 'now' } } }, 'application/merge-patch+json');
    const ep = await waitEp(c, 'invalid', 'bad', (e) => allReady(e).length === 1, 'created once the pod has a node');
    assert.equal(ep.subsets[0].addresses[0].nodeName, 'node-1');
  });

  test('kubectl get ep and describe ep print what upstream prints for a Service with 3 ready pods', async () => {
    await c.k('create', 'namespace', 'kubectl');
    await c.k('create', 'service', 'clusterip', 'nginx', '--tcp=80:80', '-n', 'kubectl');
    const ips: string[] = [];
    for (const n of ['n1', 'n2', 'n3']) ips.push(await runningPod(c, 'kubectl', `nginx-${n}`, true, { labels: { app: 'nginx' } }));
    await waitEp(c, 'kubectl', 'nginx', (e) => allReady(e).length === 3, '3 ready');
    const sorted = byBytes(ips);
    const get = (await c.k('get', 'ep', 'nginx', '-n', 'kubectl')).trimEnd().split('\n');
    assert.equal(get.length, 2);
    assert.deepEqual(get[0].split(/\s{2,}/), ['NAME', 'ENDPOINTS', 'AGE']);
    const row = get[1].split(/\s{2,}/);
    assert.equal(row[0], 'nginx');
    assert.equal(row[1], sorted.map((ip) => `${ip}:80`).join(','));
    assert.match(row[2], /^\d+s$/);

    const describe = await c.k('describe', 'ep', 'nginx', '-n', 'kubectl');
    const lines = describe.split('\n');
    assert.match(lines[0], /^Name:\s+nginx$/);
    assert.match(lines[1], /^Namespace:\s+kubectl$/);
    assert.ok(lines.some((l) => /^Labels:\s+app=nginx$/.test(l)), describe);
    assert.ok(lines.some((l) => /^Annotations:\s+endpoints\.kubernetes\.io\/last-change-trigger-time: \d{4}-/.test(l)), describe);
    const at = lines.indexOf('Subsets:');
    assert.ok(at > 0, describe);
    assert.match(lines[at + 1], new RegExp(`^  Addresses:\\s+${sorted.join(',').replace(/\./g, '\\.')}$`));
    assert.match(lines[at + 2], /^  NotReadyAddresses:\s+<none>$/);
    assert.match(lines[at + 3], /^  Ports:$/);
    assert.match(lines[at + 4], /^    Name\s+Port\s+Protocol$/);
    assert.match(lines[at + 5], /^    ----\s+----\s+--------$/);
    // kubectl create service names the port after it: 80-80.
    assert.match(lines[at + 6], /^    80-80\s+80\s+TCP$/);
    assert.ok(lines.some((l) => /^Events:\s+<none>$/.test(l)), describe);
  });
});

// --- sync by sync: upstream's request-count scenarios ----------------------------------------------

describe('Endpoints controller, one sync at a time', () => {
  let c: Cluster;
  let client: HookedClient;
  let controller: EndpointsController;
  let stopAll: () => void;
  const informer = (plural: string) => ctx.informers.informer(plural);
  let ctx: ReturnType<typeof controllerContext>;

  /** Wait until the controller's cache shows an object at (at least) this resourceVersion, or its absence. */
  const cached = (plural: string, key: string, rv: string | null) => until(() => {
    const o = informer(plural).get(key);
    return rv === null ? !o : !!o && Number(o.metadata.resourceVersion) >= Number(rv);
  }, `${plural} ${key} at ${rv} in the cache`);

  /** Run one sync and return the Endpoints writes it made. */
  async function sync(key: string): Promise<string[]> {
    const before = client.writes.length;
    await controller.reconcile(key);
    return client.writes.slice(before);
  }

  before(async () => {
    c = await startCluster();
    await createNamespace(c, 'ns');
    // Leftovers from before the controller starts: one without Service, one leader-election lock.
    await call(c, 'POST', '/api/v1/namespaces/ns/endpoints', { metadata: { name: 'orphan' }, subsets: [{ addresses: [{ ip: '10.0.0.1' }], ports: [{ port: 80 }] }] });
    await call(c, 'POST', '/api/v1/namespaces/ns/endpoints', { metadata: { name: 'lock', annotations: { 'control-plane.alpha.kubernetes.io/leader': '{}' } } });
    client = await hookedClient(c);
    ctx = controllerContext(client);
    controller = new EndpointsController(ctx);
    // Started (informers, handlers, initial queue) but without workers: the test runs each sync.
    await controller.start();
    stopAll = () => { controller.stop(); ctx.informers.stop(); client.close(); };
  });
  after(async () => { stopAll?.(); await c?.cleanup(); });

  test('leftover Endpoints without a Service are deleted at start; leader-election locks are not queued', async () => {
    const queued: string[] = [];
    while (controller.queue.length) {
      const key = (await controller.queue.get())!;
      queued.push(key);
      await controller.reconcile(key);
      controller.queue.done(key);
    }
    assert.ok(queued.includes('ns/orphan'), queued.join());
    assert.ok(!queued.includes('ns/lock'), queued.join());
    assert.equal(await getJSON(c, epPath('ns', 'orphan')), undefined);
    assert.ok(await getJSON(c, epPath('ns', 'lock')));
    // A Service that does not exist: its Endpoints are deleted (TestSyncEndpointsServiceNotFound).
    assert.deepEqual(await sync('ns/lock'), ['DELETE /api/v1/namespaces/ns/endpoints/lock']);
  });

  test('a sync that would change nothing writes nothing; the trigger time alone never causes a write', async () => {
    const svc = await createService(c, 'ns', 'foo', { selector: { foo: 'bar' }, ports: [{ port: 80, targetPort: 8080 }] });
    const ip = nextIP();
    await createPod(c, 'ns', 'pod0', { labels: { foo: 'bar' } });
    const pod = await setStatus(c, 'ns', 'pod0', { ip, ready: true });
    await cached('services', 'ns/foo', svc.metadata.resourceVersion);
    await cached('pods', 'ns/pod0', pod.metadata.resourceVersion);
    assert.deepEqual(await sync('ns/foo'), ['POST /api/v1/namespaces/ns/endpoints']);
    const ep = await getJSON(c, epPath('ns', 'foo'));
    // First sync since start: the trigger time is the Service's creation.
    assert.equal(ep.metadata.annotations[TRIGGER], svc.metadata.creationTimestamp);
    await cached('endpoints', 'ns/foo', ep.metadata.resourceVersion);
    assert.deepEqual(await sync('ns/foo'), [], 'identical: no write (TestSyncEndpointsItemsPreexistingIdentical)');
    // Only the pod's resourceVersion changes (an annotation): still nothing to write.
    const touched = await call(c, 'PATCH', '/api/v1/namespaces/ns/pods/pod0', { metadata: { annotations: { a: 'b' } } }, 'application/merge-patch+json');
    await cached('pods', 'ns/pod0', touched.metadata.resourceVersion);
    assert.deepEqual(await sync('ns/foo'), [], 'pod resourceVersion only');
    // A label change on the Service is written; no trigger time changed, so the annotation goes (AnnotationCleared).
    const relabelled = await call(c, 'PATCH', '/api/v1/namespaces/ns/services/foo', { metadata: { labels: { x: 'y' } } }, 'application/merge-patch+json');
    await cached('services', 'ns/foo', relabelled.metadata.resourceVersion);
    assert.deepEqual(await sync('ns/foo'), ['PUT /api/v1/namespaces/ns/endpoints/foo']);
    const cleared = await getJSON(c, epPath('ns', 'foo'));
    assert.equal(cleared.metadata.annotations?.[TRIGGER], undefined);
    assert.equal(cleared.metadata.labels.x, 'y');
    // A readiness change: its transition time becomes the trigger time.
    await cached('endpoints', 'ns/foo', cleared.metadata.resourceVersion);
    const since = new Date(Date.now() + 5_000);
    const unready = await setStatus(c, 'ns', 'pod0', { ready: false, since });
    await cached('pods', 'ns/pod0', unready.metadata.resourceVersion);
    assert.deepEqual(await sync('ns/foo'), ['PUT /api/v1/namespaces/ns/endpoints/foo']);
    const after = await getJSON(c, epPath('ns', 'foo'));
    assert.equal(after.metadata.annotations[TRIGGER], rfc3339(since));
    assert.deepEqual(allNotReady(after), [ip]);
  });

  test('empty, selectorless and ExternalName cases write nothing', async () => {
    // TestSyncEndpointsExistingNilSubsets: nothing selected, Endpoints already empty.
    const empty = await call(c, 'POST', '/api/v1/namespaces/ns/endpoints', { metadata: { name: 'empty' } });
    const svc = await createService(c, 'ns', 'empty', { selector: { none: 'here' }, ports: [{ port: 80 }] });
    await cached('services', 'ns/empty', svc.metadata.resourceVersion);
    await cached('endpoints', 'ns/empty', empty.metadata.resourceVersion);
    assert.deepEqual(await sync('ns/empty'), []);
    // TestSyncEndpointsItemsPreserveNoSelector.
    const hand = await call(c, 'POST', '/api/v1/namespaces/ns/endpoints', { metadata: { name: 'hand' }, subsets: [{ addresses: [{ ip: '6.7.8.9' }], ports: [{ port: 1000 }] }] });
    const sel = await createService(c, 'ns', 'hand', { ports: [{ port: 80 }] });
    await cached('services', 'ns/hand', sel.metadata.resourceVersion);
    await cached('endpoints', 'ns/hand', hand.metadata.resourceVersion);
    assert.deepEqual(await sync('ns/hand'), []);
    // TestSyncServiceExternalNameType.
    const ext = await createService(c, 'ns', 'ext', { type: 'ExternalName', externalName: 'example.com', selector: { foo: 'bar' } });
    await cached('services', 'ns/ext', ext.metadata.resourceVersion);
    assert.deepEqual(await sync('ns/ext'), []);
  });

  test('a conflict (409) fails the sync with FailedToUpdateEndpoint; the retry succeeds and keeps the other writer\'s change', async () => {
    const svc = await createService(c, 'ns', 'conflict', { selector: { app: 'conflict' }, ports: [{ port: 80 }] });
    await createPod(c, 'ns', 'c0', { labels: { app: 'conflict' } });
    const p0 = await setStatus(c, 'ns', 'c0', { ip: nextIP(), ready: true });
    await cached('services', 'ns/conflict', svc.metadata.resourceVersion);
    await cached('pods', 'ns/c0', p0.metadata.resourceVersion);
    await sync('ns/conflict');
    const ep = await getJSON(c, epPath('ns', 'conflict'));
    await cached('endpoints', 'ns/conflict', ep.metadata.resourceVersion);
    const p1 = await setStatus(c, 'ns', 'c0', { ready: false });
    await cached('pods', 'ns/c0', p1.metadata.resourceVersion);
    // Another writer gets in between the controller's read of its cache and its write.
    client.hook = async () => {
      await call(c, 'PATCH', epPath('ns', 'conflict'), { metadata: { annotations: { 'other-writer': 'was here' } } }, 'application/merge-patch+json');
    };
    await assert.rejects(controller.reconcile('ns/conflict'), (e: unknown) => isConflict(e));
    const [ev] = await until(async () => { const e = (await events(c, 'ns', 'FailedToUpdateEndpoint')).filter((x) => x.involvedObject.name === 'conflict'); return e.length && e; }, 'FailedToUpdateEndpoint');
    assert.equal(ev.type, 'Warning');
    assert.equal(ev.message, 'Failed to update endpoint ns/conflict: Operation cannot be fulfilled on endpoints "conflict": the object has been modified; please apply your changes to the latest version and try again');
    const patched = await getJSON(c, epPath('ns', 'conflict'));
    await cached('endpoints', 'ns/conflict', patched.metadata.resourceVersion);
    assert.deepEqual(await sync('ns/conflict'), ['PUT /api/v1/namespaces/ns/endpoints/conflict']);
    const done = await getJSON(c, epPath('ns', 'conflict'));
    assert.equal(allNotReady(done).length, 1);
    assert.equal(done.metadata.annotations['other-writer'], 'was here');
    const describe = await c.k('describe', 'ep', 'conflict', '-n', 'ns');
    assert.match(describe, /Warning\s+FailedToUpdateEndpoint\s+.*endpoint-controller\s+Failed to update endpoint ns\/conflict: Operation cannot be fulfilled/);
  });

  test('after its own write, a sync waits for the cache to show it instead of writing from stale data', async () => {
    const svc = await createService(c, 'ns', 'stale', { selector: { app: 'stale' }, ports: [{ port: 80 }] });
    await createPod(c, 'ns', 's0', { labels: { app: 'stale' } });
    let pod = await setStatus(c, 'ns', 's0', { ip: nextIP(), ready: true });
    await cached('services', 'ns/stale', svc.metadata.resourceVersion);
    await cached('pods', 'ns/s0', pod.metadata.resourceVersion);
    assert.deepEqual(await sync('ns/stale'), ['POST /api/v1/namespaces/ns/endpoints']);
    const ep = await getJSON(c, epPath('ns', 'stale'));
    await cached('endpoints', 'ns/stale', ep.metadata.resourceVersion);
    // From here on the Endpoints cache stays as it is: it never shows the controller's next writes.
    informer('endpoints').stop();
    pod = await setStatus(c, 'ns', 's0', { ready: false });
    await cached('pods', 'ns/s0', pod.metadata.resourceVersion);
    assert.deepEqual(await sync('ns/stale'), ['PUT /api/v1/namespaces/ns/endpoints/stale']);
    // The cache still shows the version just overwritten: writing from it would conflict (409), and a
    // comparison with it could even find nothing to write and lose a change. The sync waits.
    pod = await setStatus(c, 'ns', 's0', { ip: nextIP(), ready: false });
    await cached('pods', 'ns/s0', pod.metadata.resourceVersion);
    assert.deepEqual(await sync('ns/stale'), []);
    // The same after a create: the cache does not show the new object yet, so no second create.
    const svc2 = await createService(c, 'ns', 'stale2', { selector: { app: 'stale' }, ports: [{ port: 80 }] });
    await cached('services', 'ns/stale2', svc2.metadata.resourceVersion);
    assert.deepEqual(await sync('ns/stale2'), ['POST /api/v1/namespaces/ns/endpoints']);
    assert.deepEqual(await sync('ns/stale2'), []);
  });
});

// --- restart in the middle of churn ----------------------------------------------------------------

describe('Endpoints controller restarted mid-churn', () => {
  let c: Cluster;
  before(async () => { c = await startCluster(); });
  after(async () => { await c?.cleanup(); });

  test('a new controller converges every Service and cleans up after the one that stopped', async () => {
    await createNamespace(c, 'churn');
    const services = ['s0', 's1', 's2', 's3', 's4'];
    for (const s of services) await createService(c, 'churn', s, { selector: { app: s }, ports: [{ port: 80, targetPort: 8080 }] });
    let podSeq = 0;
    const live = new Set<string>();
    const addPod = async (svc: string, ready: boolean) => {
      const name = `p${podSeq++}`;
      await runningPod(c, 'churn', name, ready, { labels: { app: svc } });
      live.add(name);
    };
    for (let i = 0; i < 40; i++) await addPod(services[i % services.length], i % 3 !== 0);

    let ctl = await runControllers(c, (ctx) => [new EndpointsController(ctx)], { workers: 5 });
    let stop = false;
    const pick = () => [...live][Math.floor(Math.random() * live.size)];
    const churn = (async () => {
      while (!stop) {
        const op = Math.random();
        const name = pick();
        try {
          if (op < 0.5) await setStatus(c, 'churn', name, { ready: Math.random() < 0.5 });
          else if (op < 0.7) {
            live.delete(name);
            await call(c, 'DELETE', `/api/v1/namespaces/churn/pods/${name}`, { gracePeriodSeconds: 0 });
            await addPod(services[Math.floor(Math.random() * 4)], Math.random() < 0.5);
          } else if (op < 0.85) {
            await call(c, 'PATCH', `/api/v1/namespaces/churn/pods/${name}`, { metadata: { labels: { app: services[Math.floor(Math.random() * 4)] } } }, 'application/merge-patch+json');
          } else {
            await setStatus(c, 'churn', name, { ip: nextIP(), ready: true });
          }
        } catch (e) {
          // A pod picked while another operation deletes it: skip.
          if (!/404/.test((e as Error).message)) throw e;
        }
      }
    })();
    await sleep(700);
    ctl.stop();
    // While no controller runs: more churn, a Service deleted (its Endpoints are left over), an orphan.
    await sleep(500);
    await call(c, 'DELETE', '/api/v1/namespaces/churn/services/s4');
    await call(c, 'POST', '/api/v1/namespaces/churn/endpoints', { metadata: { name: 'orphan' }, subsets: [{ addresses: [{ ip: '10.1.1.1' }] }] });
    await sleep(300);
    ctl = await runControllers(c, (ctx) => [new EndpointsController(ctx)], { workers: 5 });
    try {
      await sleep(700);
      stop = true;
      await churn;

      const expected = async (svc: string) => {
        const pods = ((await getJSON(c, `/api/v1/namespaces/churn/pods?labelSelector=app%3D${svc}`)).items as any[])
          .filter((p) => p.status?.podIP && !p.metadata.deletionTimestamp && !['Succeeded', 'Failed'].includes(p.status.phase));
        const ready = (p: any) => p.status.conditions?.some((x: any) => x.type === 'Ready' && x.status === 'True');
        return { ready: pods.filter(ready).map((p) => p.status.podIP), notReady: pods.filter((p) => !ready(p)).map((p) => p.status.podIP) };
      };
      for (const s of services.slice(0, 4)) {
        const want = await expected(s);
        await waitEp(c, 'churn', s, (e) => sameSet(allReady(e), want.ready) && sameSet(allNotReady(e), want.notReady), `${s} converged to ${JSON.stringify(want)}`);
      }
      await until(async () => (await getJSON(c, epPath('churn', 's4'))) === undefined, 's4\'s leftover Endpoints deleted');
      await until(async () => (await getJSON(c, epPath('churn', 'orphan'))) === undefined, 'orphan deleted');
    } finally {
      stop = true;
      await churn.catch(() => undefined);
      ctl.stop();
    }
  });
});
