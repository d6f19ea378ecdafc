// The EndpointSlice controller: its reconciler's packing rules on plain objects (scenarios after
// upstream's reconciler_test.go and utils_test.go, our own inputs), then the controller against a
// real server, driven through the API and checked through the API and the real kubectl (describe
// svc reads only EndpointSlices in kubectl 1.32; get endpointslices), including a restart of the
// controller in the middle of pod churn.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ContainerPort } from 'kubernetes-types/core/v1.js';
import { startCluster, type Cluster } from './helpers/cluster.js';
import { runControllers, getJSON, call, type RunningControllers } from './helpers/run-controllers.js';
import { until, sleep } from './helpers/wait.js';
import {
  EndpointSliceController, planAddressType, addressTypesForService, CONTROLLER_NAME,
  type ServiceObject, type PodObject, type NodeObject, type PlanInput,
} from '../src/controllers/endpointslice.js';
import { EndpointSliceTracker, parseIP, formatRFC3339Nano, type SliceObject } from '../src/controllers/endpointslice-util.js';
import { TriggerTimeTracker } from '../src/controllers/endpoint-util.js';
import { GarbageCollector } from '../src/controllers/garbagecollector.js';
import { RestClient, type Query, type WatchEvent, type WatchHandle } from '../src/client/rest.js';

// --- plain objects -------------------------------------------------------------------------------

interface PodOpts {
  ip?: string;
  ips?: string[];
  ready?: boolean;
  node?: string;
  labels?: Record<string, string>;
  ports?: ContainerPort[];
  deleting?: boolean;
  phase?: string;
  hostname?: string;
  subdomain?: string;
  readySince?: string;
}

function pod(name: string, o: PodOpts = {}): PodObject {
  const ips = o.ips ?? [o.ip ?? `10.0.${name.length}.${[...name].reduce((a, ch) => (a * 31 + ch.charCodeAt(0)) % 250, 7) + 1}`];
  return {
    metadata: {
      name, namespace: 'ns', uid: `uid-${name}`, labels: o.labels ?? { app: 'web' }, resourceVersion: '1',
      ...(o.deleting ? { deletionTimestamp: '2025-01-01T00:00:00Z' } : {}),
    },
    spec: {
      nodeName: o.node ?? 'node-a', containers: [{ name: 'c', image: 'x', ports: o.ports ?? [] }],
      ...(o.hostname ? { hostname: o.hostname } : {}), ...(o.subdomain ? { subdomain: o.subdomain } : {}),
    },
    status: {
      phase: o.phase ?? 'Running', podIP: ips[0], podIPs: ips.map((ip) => ({ ip })),
      conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True', lastTransitionTime: o.readySince ?? '2025-01-01T00:00:00Z' }],
    },
  };
}

function svc(name = 'web', o: { selector?: Record<string, string>; ports?: any[]; clusterIP?: string; ipFamilies?: string[]; publishNotReady?: boolean; labels?: Record<string, string>; uid?: string; trafficDistribution?: string } = {}): ServiceObject {
  return {
    metadata: { name, namespace: 'ns', uid: o.uid ?? 'svc-uid', labels: o.labels, creationTimestamp: '2025-01-01T00:00:00Z' },
    spec: {
      selector: o.selector ?? { app: 'web' }, ports: o.ports ?? [{ port: 80, targetPort: 8080, protocol: 'TCP' }],
      clusterIP: o.clusterIP ?? '10.96.0.10', ipFamilies: o.ipFamilies ?? ['IPv4'],
      ...(o.publishNotReady ? { publishNotReadyAddresses: true } : {}),
      ...(o.trafficDistribution ? { trafficDistribution: o.trafficDistribution } : {}),
    },
  };
}

const NODES: Record<string, NodeObject> = {
  'node-a': { metadata: { name: 'node-a', labels: { 'topology.kubernetes.io/zone': 'zone-a' } } },
  'node-b': { metadata: { name: 'node-b' } },
};

function plan(s: ServiceObject, pods: PodObject[], existing: SliceObject[] = [], max = 100, over: Partial<PlanInput> = {}) {
  return planAddressType({ svc: s, pods, existing, addressType: 'IPv4', maxEndpointsPerSlice: max, node: (n) => NODES[n], ...over });
}

let sliceSeq = 0;
/** What the server would store for a slice the plan creates: a name, a uid, generation 1. */
function stored(s: SliceObject): SliceObject {
  sliceSeq++;
  return { ...s, metadata: { ...s.metadata, name: `${s.metadata.generateName}s${sliceSeq}`, uid: `slice-${sliceSeq}`, generation: 1 }, endpoints: [...(s.endpoints ?? [])] };
}

const podNames = (s: SliceObject) => (s.endpoints ?? []).map((e) => e.targetRef?.name).sort();
const many = (prefix: string, n: number, o: PodOpts = {}) => Array.from({ length: n }, (_, i) => pod(`${prefix}${i}`, { ip: `10.1.${Math.floor(i / 250)}.${(i % 250) + 1}`, ...o }));

describe('EndpointSlice reconciler (units)', () => {
  test('a Service without endpoints gets one placeholder slice, kept as it is on later syncs', () => {
    const s = svc('web', { labels: { team: 'a' } });
    const p = plan(s, []);
    assert.equal(p.create.length, 1);
    assert.deepEqual([p.update.length, p.delete.length, p.errors.length], [0, 0, 0]);
    const placeholder = p.create[0];
    assert.deepEqual(placeholder.metadata, {
      generateName: 'web-', namespace: 'ns',
      labels: { team: 'a', 'kubernetes.io/service-name': 'web', 'endpointslice.kubernetes.io/managed-by': CONTROLLER_NAME },
      ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: 'web', uid: 'svc-uid', controller: true, blockOwnerDeletion: true }],
    });
    assert.deepEqual([placeholder.addressType, placeholder.endpoints, placeholder.ports], ['IPv4', [], []]);
    const again = plan(s, [], [stored(placeholder)]);
    assert.deepEqual([again.create.length, again.update.length, again.delete.length], [0, 0, 0]);
    // New Service labels: the placeholder is replaced (the controller turns that into an update of the same name).
    const relabelled = plan(svc('web', { labels: { team: 'b' } }), [], [stored(placeholder)]);
    assert.deepEqual([relabelled.create.length, relabelled.update.length, relabelled.delete.length], [1, 0, 1]);
  });

  test('250 endpoints, 100 per slice: 100 + 100 + 50; a repeated sync writes nothing', () => {
    const pods = many('p', 250);
    const p = plan(svc(), pods);
    assert.deepEqual(p.create.map((s) => s.endpoints!.length), [100, 100, 50]);
    const existing = p.create.map(stored);
    const again = plan(svc(), pods, existing);
    assert.deepEqual([again.create.length, again.update.length, again.delete.length], [0, 0, 0]);
  });

  test('removed and added endpoints: the changed slice is refilled; the others are not written', () => {
    const pods = many('p', 250);
    const existing = plan(svc(), pods).create.map(stored);
    const first = new Set(podNames(existing[0]));
    const removed = pods.filter((x) => first.has(x.metadata.name!)).slice(0, 10).map((x) => x.metadata.name);
    const next = [...pods.filter((x) => !removed.includes(x.metadata.name)), ...Array.from({ length: 5 }, (_, i) => pod(`new${i}`, { ip: `10.2.0.${i + 1}` }))];
    const p = plan(svc(), next, existing);
    assert.deepEqual([p.create.length, p.delete.length], [0, 0]);
    assert.equal(p.update.length, 1);
    assert.equal(p.update[0].metadata.name, existing[0].metadata.name);
    assert.equal(p.update[0].endpoints!.length, 95);
    for (const n of removed) assert.ok(!podNames(p.update[0]).includes(n));
  });

  test('leftover endpoints go into the unchanged slice that ends up closest to full, else a new slice', () => {
    const bPods = Array.from({ length: 95 }, (_, i) => pod(`b${i}`, { ip: `10.3.0.${i + 1}` }));
    const a = stored(plan(svc(), many('a', 80)).create[0]);
    const b = stored(plan(svc(), bPods).create[0]);
    const base = [...many('a', 80), ...bPods];
    const extra = (n: number) => Array.from({ length: n }, (_, i) => pod(`x${i}`, { ip: `10.4.0.${i + 1}` }));
    let p = plan(svc(), [...base, ...extra(5)], [a, b]);
    assert.deepEqual(p.update.map((s) => [s.metadata.name, s.endpoints!.length]), [[b.metadata.name, 100]]);
    p = plan(svc(), [...base, ...extra(15)], [a, b]);
    assert.deepEqual(p.update.map((s) => [s.metadata.name, s.endpoints!.length]), [[a.metadata.name, 95]]);
    p = plan(svc(), [...base, ...extra(30)], [a, b]);
    assert.deepEqual([p.update.length, p.create.map((s) => s.endpoints!.length)], [0, [30]]);
  });

  test('endpoints removed from one slice and added: the slice being updated is filled first', () => {
    const pods = many('p', 150);
    const existing = plan(svc(), pods).create.map(stored); // 100 + 50
    const second = new Set(podNames(existing[1]));
    const kept = pods.filter((x) => !second.has(x.metadata.name!) || Number(x.metadata.name!.slice(1)) % 2 === 0);
    const p = plan(svc(), [...kept, ...Array.from({ length: 10 }, (_, i) => pod(`n${i}`, { ip: `10.5.0.${i + 1}` }))], existing);
    assert.deepEqual(p.update.map((s) => s.metadata.name), [existing[1].metadata.name]);
    assert.equal(p.update[0].endpoints!.length, kept.length - 100 + 10);
    assert.equal(p.create.length, 0);
  });

  test('endpoint conditions: ready, serving, terminating; publishNotReadyAddresses; terminal and IP-less pods left out', () => {
    const pods = [
      pod('ready'), pod('unready', { ready: false }), pod('terminating', { deleting: true }),
      pod('terminating-unready', { deleting: true, ready: false }), pod('done', { phase: 'Succeeded' }), pod('failed', { phase: 'Failed' }),
      { ...pod('no-ip'), status: { phase: 'Pending' } },
    ];
    const conds = (s: ServiceObject) => Object.fromEntries(plan(s, pods).create[0].endpoints!.map((e) => [e.targetRef!.name, e.conditions]));
    assert.deepEqual(conds(svc()), {
      ready: { ready: true, serving: true, terminating: false },
      unready: { ready: false, serving: false, terminating: false },
      terminating: { ready: false, serving: true, terminating: true },
      'terminating-unready': { ready: false, serving: false, terminating: true },
    });
    const published = conds(svc('web', { publishNotReady: true }));
    assert.deepEqual(published['terminating-unready'], { ready: true, serving: false, terminating: true });
    assert.deepEqual(published.unready, { ready: true, serving: false, terminating: false });
  });

  test('endpoint fields: addresses of the family, targetRef, nodeName, zone from the node, hostname when the subdomain names the Service', () => {
    const p = plan(svc(), [
      pod('a', { ips: ['10.0.0.1', 'fd00::1'], hostname: 'host-a', subdomain: 'web' }),
      pod('b', { ip: '10.0.0.2', node: 'node-b', hostname: 'host-b', subdomain: 'other' }),
    ]);
    const byName = Object.fromEntries(p.create[0].endpoints!.map((e) => [e.targetRef!.name, e]));
    assert.deepEqual(byName.a, {
      addresses: ['10.0.0.1'], conditions: { ready: true, serving: true, terminating: false }, hostname: 'host-a',
      targetRef: { kind: 'Pod', namespace: 'ns', name: 'a', uid: 'uid-a' }, nodeName: 'node-a', zone: 'zone-a',
    });
    assert.deepEqual(byName.b, {
      addresses: ['10.0.0.2'], conditions: { ready: true, serving: true, terminating: false },
      targetRef: { kind: 'Pod', namespace: 'ns', name: 'b', uid: 'uid-b' }, nodeName: 'node-b',
    });
    const v6 = planAddressType({ svc: svc('web', { ipFamilies: ['IPv6', 'IPv4'] }), pods: [pod('a', { ips: ['10.0.0.1', 'fd00:0:0::1'] })], existing: [], addressType: 'IPv6', maxEndpointsPerSlice: 100, node: (n) => NODES[n] });
    assert.deepEqual(v6.create[0].endpoints!.map((e) => e.addresses), [['fd00::1']]);
    assert.equal(v6.create[0].addressType, 'IPv6');
  });

  test('named target ports resolve per pod: one group of slices per port list; unresolvable ports are left out', () => {
    const s = svc('web', { ports: [{ name: 'http', port: 80, targetPort: 'web', protocol: 'TCP' }, { name: 'metrics', port: 9000, targetPort: 9090, protocol: 'TCP', appProtocol: 'http' }] });
    const p = plan(s, [
      pod('a', { ip: '10.0.0.1', ports: [{ name: 'web', containerPort: 8080, protocol: 'TCP' }] }),
      pod('b', { ip: '10.0.0.2', ports: [{ name: 'web', containerPort: 8081, protocol: 'TCP' }] }),
      pod('c', { ip: '10.0.0.3', ports: [{ name: 'web', containerPort: 8080, protocol: 'UDP' }] }),
      pod('d', { ip: '10.0.0.4', ports: [{ name: 'web', containerPort: 8080 }] }),
    ]);
    const groups = p.create.map((sl) => [JSON.stringify(sl.ports), podNames(sl)]).sort();
    assert.deepEqual(groups, [
      ['[{"name":"http","protocol":"TCP","port":8080},{"name":"metrics","protocol":"TCP","port":9090,"appProtocol":"http"}]', ['a', 'd']],
      ['[{"name":"http","protocol":"TCP","port":8081},{"name":"metrics","protocol":"TCP","port":9090,"appProtocol":"http"}]', ['b']],
      ['[{"name":"metrics","protocol":"TCP","port":9090,"appProtocol":"http"}]', ['c']],
    ]);
    // A pod none of whose ports resolve still gets an endpoint, in a slice without ports.
    const none = plan(svc('web', { ports: [{ name: 'http', port: 80, targetPort: 'web', protocol: 'TCP' }] }), [pod('x', { ip: '10.0.0.9' })]);
    assert.deepEqual([none.create.length, none.create[0].ports, podNames(none.create[0])], [1, [], ['x']]);
  });

  test('the endpoints of an existing placeholder go into it; a condition change is an update in place', () => {
    const placeholder = stored(plan(svc('web', { ports: [] , clusterIP: 'None' }), []).create[0]);
    const headless = svc('web', { ports: [], clusterIP: 'None' });
    assert.equal(placeholder.metadata.labels!['service.kubernetes.io/headless'], '');
    const p = plan(headless, [pod('a', { ip: '10.0.0.1' })], [placeholder]);
    assert.deepEqual([p.create.length, p.delete.length, p.update.map((s) => s.metadata.name)], [0, 0, [placeholder.metadata.name]]);
    const withA = stored({ ...p.update[0], metadata: { ...p.update[0].metadata, generateName: '' } });
    const flipped = plan(headless, [pod('a', { ip: '10.0.0.1', ready: false })], [withA]);
    assert.deepEqual(flipped.update.map((s) => [s.metadata.name, s.endpoints![0].conditions]), [[withA.metadata.name, { ready: false, serving: false, terminating: false }]]);
  });

  test('slices owned by an earlier Service of the same name are replaced; label drift is corrected', () => {
    const pods = [pod('a', { ip: '10.0.0.1' })];
    const old = stored(plan(svc('web', { uid: 'old-uid' }), pods).create[0]);
    const p = plan(svc(), pods, [old]);
    assert.deepEqual([p.create.length, p.delete.map((s) => s.metadata.name)], [1, [old.metadata.name]]);
    const mine = stored(plan(svc(), pods).create[0]);
    const drifted = { ...mine, metadata: { ...mine.metadata, labels: { ...mine.metadata.labels, extra: 'x' } } };
    const fixed = plan(svc(), pods, [drifted]);
    assert.equal(fixed.update.length, 1);
    assert.equal(fixed.update[0].metadata.labels!.extra, undefined);
  });

  test('pods on unknown nodes are skipped with an error, unless publishNotReadyAddresses', () => {
    const pods = [pod('a', { ip: '10.0.0.1' }), pod('lost', { ip: '10.0.0.2', node: 'gone' })];
    const p = plan(svc(), pods);
    assert.deepEqual(podNames(p.create[0]), ['a']);
    assert.deepEqual(p.errors.map((e) => e.message), ['skipping Pod lost for Service ns/web: Node gone Not Found']);
    const published = plan(svc('web', { publishNotReady: true }), pods);
    assert.deepEqual([podNames(published.create[0]), published.errors.length], [['a', 'lost'], 0]);
  });

  test('trafficDistribution PreferClose: ready endpoints with a zone get a hint for it; without it hints are removed', () => {
    const pods = [pod('a', { ip: '10.0.0.1' }), pod('b', { ip: '10.0.0.2', node: 'node-b' }), pod('c', { ip: '10.0.0.3', ready: false })];
    const p = plan(svc('web', { trafficDistribution: 'PreferClose' }), pods);
    const hints = Object.fromEntries(p.create[0].endpoints!.map((e) => [e.targetRef!.name, e.hints]));
    assert.deepEqual(hints, { a: { forZones: [{ name: 'zone-a' }] }, b: undefined, c: undefined });
    const existing = stored(p.create[0]);
    const off = plan(svc(), pods, [existing]);
    assert.equal(off.update.length, 1);
    assert.ok(off.update[0].endpoints!.every((e) => !e.hints));
    assert.ok(existing.endpoints!.some((e) => e.hints), 'the cached slice is not modified');
  });

  test('address types: ipFamilies, else the ClusterIP family, else both for headless', () => {
    assert.deepEqual(addressTypesForService(svc('a', { ipFamilies: ['IPv6', 'IPv4'] })), ['IPv6', 'IPv4']);
    assert.deepEqual(addressTypesForService({ metadata: {}, spec: { clusterIP: 'fd00::10' } }), ['IPv6']);
    assert.deepEqual(addressTypesForService({ metadata: {}, spec: { clusterIP: 'None' } }), ['IPv4', 'IPv6']);
  });

  test('EndpointSliceTracker: own writes are not synced; a cache behind them is stale', () => {
    const t = new EndpointSliceTracker();
    const s = (uid: string, generation: number): SliceObject => ({ metadata: { namespace: 'ns', uid, generation, labels: { 'kubernetes.io/service-name': 'web' } }, addressType: 'IPv4', endpoints: [] });
    const service = { metadata: { namespace: 'ns', name: 'web', uid: 'svc-1' } };
    assert.equal(t.staleSlices(service, [s('a', 1)]), false);
    t.update(s('a', 2));
    assert.equal(t.shouldSync(s('a', 2)), false);
    assert.equal(t.shouldSync(s('a', 3)), true);
    assert.equal(t.staleSlices(service, [s('a', 1)]), true, 'older generation cached');
    assert.equal(t.staleSlices(service, []), true, 'created slice not cached yet');
    assert.equal(t.staleSlices(service, [s('a', 2)]), false);
    t.expectDeletion(s('a', 2));
    assert.equal(t.staleSlices(service, [s('a', 2)]), true, 'deleted slice still cached');
    assert.equal(t.staleSlices(service, []), false);
    assert.equal(t.handleDeletion(s('a', 2)), true);
    t.update(s('b', 1));
    assert.equal(t.handleDeletion(s('b', 1)), false, 'a deletion nobody expected');
    t.update(s('c', 1));
    assert.equal(t.staleSlices({ metadata: { ...service.metadata, uid: 'svc-2' } }, []), false, 're-created Service starts clean');
  });

  test('trigger time: creation time first, then the earliest change since the last sync, none when nothing changed', () => {
    const t = new TriggerTimeTracker();
    const s = svc();
    // The EndpointSlice controller records each sync's times at once, as upstream.
    const sync = (pods: PodObject[]) => {
      const r = t.compute(s, pods);
      r.commit();
      return r.time;
    };
    const p1 = pod('a', { readySince: '2025-01-01T00:05:00Z' });
    assert.equal(formatRFC3339Nano(sync([p1])), '2025-01-01T00:00:00Z');
    assert.equal(sync([p1]), 0);
    const p2 = pod('b', { readySince: '2025-01-01T00:07:00Z' });
    const p1b = pod('a', { readySince: '2025-01-01T00:06:00.5Z' });
    assert.equal(formatRFC3339Nano(sync([p1b, p2])), '2025-01-01T00:06:00.5Z');
    assert.equal(sync([p1b, p2]), 0);
  });

  test('IPs are parsed sloppily and written canonically', () => {
    assert.deepEqual(parseIP('010.000.0.1'), { ip: '10.0.0.1', family: 'IPv4' });
    assert.deepEqual(parseIP('FD00:0:0:0::0001'), { ip: 'fd00::1', family: 'IPv6' });
    assert.deepEqual(parseIP('::ffff:10.0.0.1'), { ip: '10.0.0.1', family: 'IPv4' });
    assert.equal(parseIP('10.0.0.256'), undefined);
    assert.equal(parseIP('example.com'), undefined);
    for (const bad of ['', '1.2.3', '1.2.3.4.', '.1.2.3', '1..2.3', '1.2.3.4.5', '1.2.3.-4', '1.2.3.4 ', '１.2.3.4']) assert.equal(parseIP(bad), undefined, bad);
    assert.deepEqual(parseIP('0.0.0.0'), { ip: '0.0.0.0', family: 'IPv4' });
    assert.deepEqual(parseIP('1.2.3.00000255'), { ip: '1.2.3.255', family: 'IPv4' });
  });

  test('IPv4 parsing matches the sloppy rule on random strings of digits and dots', () => {
    // The rule, written plainly: four dot-separated runs of ASCII digits, each at most 255.
    const sloppy = (s: string) => {
      const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
      const octets = m?.slice(1).map(Number);
      return octets && octets.every((o) => o <= 255) ? octets.join('.') : undefined;
    };
    let seed = 7;
    const random = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) % n;
    let valid = 0;
    for (let i = 0; i < 20_000; i++) {
      // Mostly four groups of zero to four digits (leading zeros and values over 255 included).
      const count = random(5) === 0 ? 3 + 2 * random(2) : 4;
      const groups = Array.from({ length: count }, () => Array.from({ length: [0, 1, 1, 2, 2, 3, 3, 4][random(8)] }, () => '0125679'[random(7)]).join(''));
      const s = groups.join('.');
      const want = sloppy(s);
      if (want !== undefined) valid++;
      assert.deepEqual(parseIP(s), want === undefined ? undefined : { ip: want, family: 'IPv4' }, s);
    }
    assert.ok(valid > 1000, `only ${valid} valid addresses were tried`);
  });
});

// --- against a real server -----------------------------------------------------------------------

async function makeNode(c: Cluster, name: string, zone?: string): Promise<void> {
  const r = await c.request('POST', '/api/v1/nodes', { metadata: { name, labels: zone ? { 'topology.kubernetes.io/zone': zone } : {} } });
  if (r.status !== 201 && r.status !== 409) throw new Error(`node ${name}: ${r.status} ${r.body}`);
}

async function makePod(c: Cluster, ns: string, name: string, o: { labels: Record<string, string>; ip: string; ready?: boolean; node?: string; ports?: ContainerPort[] }): Promise<void> {
  await call(c, 'POST', `/api/v1/namespaces/${ns}/pods`, {
    metadata: { name, labels: o.labels },
    spec: { nodeName: o.node ?? 'node-a', containers: [{ name: 'c', image: 'nginx:1.27', ports: o.ports ?? [{ containerPort: 8080 }] }] },
  });
  await podStatus(c, ns, name, o.ip, o.ready ?? true);
}

function podStatus(c: Cluster, ns: string, name: string, ip: string, ready: boolean): Promise<unknown> {
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  return call(c, 'PATCH', `/api/v1/namespaces/${ns}/pods/${name}/status`, {
    status: { phase: 'Running', podIP: ip, podIPs: [{ ip }], conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: now }] },
  }, 'application/merge-patch+json');
}

async function makeService(c: Cluster, ns: string, name: string, spec: Record<string, unknown>, labels?: Record<string, string>): Promise<any> {
  return call(c, 'POST', `/api/v1/namespaces/${ns}/services`, { metadata: { name, ...(labels ? { labels } : {}) }, spec });
}

async function makeNamespace(c: Cluster, ns: string): Promise<void> {
  await call(c, 'POST', '/api/v1/namespaces', { metadata: { name: ns } });
}

async function slicesOf(c: Cluster, ns: string, service: string): Promise<any[]> {
  const list = await getJSON(c, `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices?labelSelector=${encodeURIComponent(`kubernetes.io/service-name=${service}`)}`);
  return (list.items as any[]).sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
}

/** pod name → `ready/serving/terminating` over every slice; a pod listed twice fails. */
function endpointsByPod(slices: any[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of slices) {
    for (const e of s.endpoints ?? []) {
      const n = e.targetRef.name;
      assert.equal(out[n], undefined, `pod ${n} listed twice`);
      out[n] = `${e.conditions.ready}/${e.conditions.serving}/${e.conditions.terminating}`;
    }
  }
  return out;
}

const endpointsLine = (describe: string) => /^Endpoints:[ \t]*(.*)$/m.exec(describe)?.[1] ?? null;

describe('EndpointSlice controller', () => {
  let c: Cluster;
  let ctl: RunningControllers;
  before(async () => {
    c = await startCluster();
    await makeNode(c, 'node-a', 'zone-a');
    await makeNode(c, 'node-b');
    ctl = await runControllers(c, (ctx) => [new EndpointSliceController(ctx), new GarbageCollector(ctx)], { workers: 5 });
  });
  after(async () => { ctl?.stop(); await c?.cleanup(); });

  test('a selector Service: one slice with its ready pods; kubectl describe svc and get endpointslices show them', async () => {
    const ns = 'web';
    await makeNamespace(c, ns);
    const s = await makeService(c, ns, 'nginx', { selector: { app: 'nginx' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] }, { app: 'nginx', team: 'blue' });
    const ips = ['127.244.1.10', '127.244.1.11', '127.244.1.12'];
    for (const [i, ip] of ips.entries()) await makePod(c, ns, `nginx-${i}`, { labels: { app: 'nginx' }, ip, node: i === 2 ? 'node-b' : 'node-a' });
    const slices = await until(async () => { const sl = await slicesOf(c, ns, 'nginx'); return sl.length === 1 && sl[0].endpoints?.length === 3 && sl; }, 'one slice with 3 endpoints');
    const slice = slices[0];
    assert.match(slice.metadata.name, /^nginx-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    assert.equal(slice.metadata.generateName, 'nginx-');
    // Without a ClusterIP (none allocated) a Service counts as headless.
    const headless = !s.spec.clusterIP || s.spec.clusterIP === 'None' ? { 'service.kubernetes.io/headless': '' } : {};
    assert.deepEqual(slice.metadata.labels, { app: 'nginx', team: 'blue', ...headless, 'kubernetes.io/service-name': 'nginx', 'endpointslice.kubernetes.io/managed-by': CONTROLLER_NAME });
    assert.deepEqual(slice.metadata.ownerReferences, [{ apiVersion: 'v1', kind: 'Service', name: 'nginx', uid: s.metadata.uid, controller: true, blockOwnerDeletion: true }]);
    assert.match(slice.metadata.annotations['endpoints.kubernetes.io/last-change-trigger-time'], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(slice.addressType, 'IPv4');
    assert.deepEqual(slice.ports, [{ name: 'http', protocol: 'TCP', port: 8080 }]);
    const byPod = Object.fromEntries(slice.endpoints.map((e: any) => [e.targetRef.name, e]));
    assert.deepEqual(byPod['nginx-0'].addresses, ['127.244.1.10']);
    assert.deepEqual(byPod['nginx-0'].conditions, { ready: true, serving: true, terminating: false });
    assert.equal(byPod['nginx-0'].nodeName, 'node-a');
    assert.equal(byPod['nginx-0'].zone, 'zone-a');
    assert.equal(byPod['nginx-2'].zone, undefined);
    assert.deepEqual(Object.keys(byPod['nginx-0'].targetRef).sort(), ['kind', 'name', 'namespace', 'uid']);

    const d = await c.k('describe', 'svc', 'nginx', '-n', ns);
    const listed = endpointsLine(d)!.split(',').sort();
    assert.deepEqual(listed, ips.map((ip) => `${ip}:8080`));
    const get = await c.k('get', 'endpointslices', '-n', ns);
    assert.match(get, /^NAME\s+ADDRESSTYPE\s+PORTS\s+ENDPOINTS\s+AGE\n/);
    const row = get.split('\n')[1].split(/\s+/);
    assert.equal(row[0], slice.metadata.name);
    assert.equal(row[1], 'IPv4');
    assert.equal(row[2], '8080');
    assert.deepEqual(row[3].split(',').sort(), ips);
  });

  test('readiness flips and terminating pods update the same slice in place; force-deleted pods leave it', async () => {
    const ns = 'web';
    const before = (await slicesOf(c, ns, 'nginx'))[0];
    await podStatus(c, ns, 'nginx-1', '127.244.1.11', false);
    let sl = await until(async () => { const x = await slicesOf(c, ns, 'nginx'); return endpointsByPod(x)['nginx-1'] === 'false/false/false' && x; }, 'nginx-1 not ready');
    assert.deepEqual(sl.map((x) => x.metadata.name), [before.metadata.name]);
    assert.deepEqual(endpointsLine(await c.k('describe', 'svc', 'nginx', '-n', ns))!.split(',').sort(), ['127.244.1.10:8080', '127.244.1.12:8080']);

    await call(c, 'DELETE', `/api/v1/namespaces/${ns}/pods/nginx-0`);
    sl = await until(async () => { const x = await slicesOf(c, ns, 'nginx'); return endpointsByPod(x)['nginx-0'] === 'false/true/true' && x; }, 'nginx-0 terminating');
    await call(c, 'DELETE', `/api/v1/namespaces/${ns}/pods/nginx-0`, { gracePeriodSeconds: 0 });
    sl = await until(async () => { const x = await slicesOf(c, ns, 'nginx'); return !('nginx-0' in endpointsByPod(x)) && x; }, 'nginx-0 gone');
    assert.deepEqual(sl.map((x) => x.metadata.name), [before.metadata.name]);
    assert.deepEqual(endpointsByPod(sl), { 'nginx-1': 'false/false/false', 'nginx-2': 'true/true/false' });
  });

  test('a Service without pods has a placeholder slice; its name is reused when pods come and go', async () => {
    const ns = 'empty';
    await makeNamespace(c, ns);
    await makeService(c, ns, 'lonely', { selector: { app: 'lonely' }, ports: [{ port: 80 }] });
    const [placeholder] = await until(async () => { const sl = await slicesOf(c, ns, 'lonely'); return sl.length === 1 && sl; }, 'placeholder');
    assert.deepEqual([placeholder.endpoints ?? null, placeholder.ports ?? null].map((x) => (x && x.length === 0 ? null : x)), [null, null]);
    assert.equal(endpointsLine(await c.k('describe', 'svc', 'lonely', '-n', ns)), '');
    assert.match(await c.k('get', 'endpointslices', '-n', ns), new RegExp(`${placeholder.metadata.name}\\s+IPv4\\s+<unset>\\s+<unset>\\s+`));
    await makePod(c, ns, 'lonely-0', { labels: { app: 'lonely' }, ip: '127.244.2.1' });
    let sl = await until(async () => { const x = await slicesOf(c, ns, 'lonely'); return x[0]?.endpoints?.length === 1 && x; }, 'endpoint added');
    assert.deepEqual(sl.map((x) => x.metadata.name), [placeholder.metadata.name]);
    await call(c, 'DELETE', `/api/v1/namespaces/${ns}/pods/lonely-0`, { gracePeriodSeconds: 0 });
    sl = await until(async () => { const x = await slicesOf(c, ns, 'lonely'); return x.length === 1 && !(x[0].endpoints?.length) && x; }, 'back to placeholder');
    assert.equal(sl[0].metadata.name, placeholder.metadata.name);
    assert.equal(sl[0].ports?.length ?? 0, 0);
  });

  test('105 pods: 100 + 5 endpoints; named target ports split pods into slices by resolved port', async () => {
    const ns = 'big';
    await makeNamespace(c, ns);
    await makeService(c, ns, 'big', { selector: { app: 'big' }, ports: [{ name: 'web', port: 80, targetPort: 'web' }] });
    const make = (i: number) => makePod(c, ns, `big-${i}`, { labels: { app: 'big' }, ip: `127.244.3.${i + 1}`, ports: [{ name: 'web', containerPort: i < 100 ? 8080 : 9090 }] });
    for (let i = 0; i < 110; i += 10) await Promise.all(Array.from({ length: 10 }, (_, k) => make(i + k)));
    const sl = await until(async () => { const x = await slicesOf(c, ns, 'big'); return Object.keys(endpointsByPod(x)).length === 110 && x; }, '110 endpoints', 60_000);
    const shape = sl.map((x) => `${x.ports[0].port}:${x.endpoints.length}`).sort();
    assert.deepEqual(shape, ['8080:100', '9090:10']);
    // Five more on 8080: a new slice for them (the full one cannot take them).
    await Promise.all([100, 101, 102, 103, 104].map((i) => makePod(c, ns, `more-${i}`, { labels: { app: 'big' }, ip: `127.244.4.${i}`, ports: [{ name: 'web', containerPort: 8080 }] })));
    const sl2 = await until(async () => { const x = await slicesOf(c, ns, 'big'); return Object.keys(endpointsByPod(x)).length === 115 && x; }, '115 endpoints', 60_000);
    assert.deepEqual(sl2.map((x) => `${x.ports[0].port}:${x.endpoints.length}`).sort(), ['8080:100', '8080:5', '9090:10']);
    const d = await c.k('describe', 'svc', 'big', '-n', ns);
    assert.match(endpointsLine(d)!, /^127\.244\.\d+\.\d+:(8080|9090),127\.244\.\d+\.\d+:(8080|9090),127\.244\.\d+\.\d+:(8080|9090) \+ \d+ more\.\.\.$/);
  });

  test('foreign changes to a managed slice are undone; a deleted slice comes back', async () => {
    const ns = 'web';
    const [slice] = await slicesOf(c, ns, 'nginx');
    const tampered = { ...slice, endpoints: slice.endpoints.map((e: any) => ({ ...e, conditions: { ready: true, serving: true, terminating: false } })) };
    delete tampered.metadata.managedFields;
    await call(c, 'PUT', `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices/${slice.metadata.name}`, tampered);
    await until(async () => endpointsByPod(await slicesOf(c, ns, 'nginx'))['nginx-1'] === 'false/false/false', 'tampering undone');
    await call(c, 'DELETE', `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices/${slice.metadata.name}`);
    const sl = await until(async () => { const x = await slicesOf(c, ns, 'nginx'); return x.length === 1 && x[0].metadata.name !== slice.metadata.name && x; }, 'slice re-created');
    assert.deepEqual(endpointsByPod(sl), { 'nginx-1': 'false/false/false', 'nginx-2': 'true/true/false' });
  });

  test('Service labels are copied (reserved ones not); headless Services are labelled; relabelling updates the slices', async () => {
    const ns = 'labels';
    await makeNamespace(c, ns);
    await makeService(c, ns, 'hl', { selector: { app: 'hl' }, clusterIP: 'None', ports: [{ port: 80 }] }, { a: '1', 'kubernetes.io/service-name': 'spoof' });
    await makePod(c, ns, 'hl-0', { labels: { app: 'hl' }, ip: '127.244.5.1' });
    const [slice] = await until(async () => { const x = await slicesOf(c, ns, 'hl'); return x[0]?.endpoints?.length === 1 && x; }, 'headless slice');
    assert.deepEqual(slice.metadata.labels, { a: '1', 'service.kubernetes.io/headless': '', 'kubernetes.io/service-name': 'hl', 'endpointslice.kubernetes.io/managed-by': CONTROLLER_NAME });
    await call(c, 'PATCH', `/api/v1/namespaces/${ns}/services/hl`, { metadata: { labels: { a: '2', b: 'x' } } }, 'application/merge-patch+json');
    const [relabelled] = await until(async () => { const x = await slicesOf(c, ns, 'hl'); return x[0]?.metadata.labels.a === '2' && x; }, 'labels follow');
    assert.equal(relabelled.metadata.name, slice.metadata.name);
    assert.equal(relabelled.metadata.labels.b, 'x');
  });

  test('a pod on an unknown node: left out, FailedToUpdateEndpointSlices on the Service', async () => {
    const ns = 'lost';
    await makeNamespace(c, ns);
    await makeService(c, ns, 'lost', { selector: { app: 'lost' }, ports: [{ port: 80 }] });
    await makePod(c, ns, 'ok', { labels: { app: 'lost' }, ip: '127.244.6.1' });
    await makePod(c, ns, 'orphan', { labels: { app: 'lost' }, ip: '127.244.6.2', node: 'no-such-node' });
    await until(async () => JSON.stringify(endpointsByPod(await slicesOf(c, ns, 'lost'))) === JSON.stringify({ ok: 'true/true/false' }), 'only ok listed');
    const d = await until(async () => { const x = await c.k('describe', 'svc', 'lost', '-n', ns); return /FailedToUpdateEndpointSlices/.test(x) && x; }, 'warning event');
    assert.match(d, /Warning\s+FailedToUpdateEndpointSlices\s+.*endpoint-slice-controller\s+Error updating Endpoint Slices for Service lost\/lost: skipping Pod orphan for Service lost\/lost: Node no-such-node Not Found/);
    // The node appears: the retry picks the pod up.
    await makeNode(c, 'no-such-node');
    await until(async () => Object.keys(endpointsByPod(await slicesOf(c, ns, 'lost'))).length === 2, 'orphan listed after its node exists', 30_000);
  });

  test('ExternalName and selectorless Services get no slices from this controller; deleted Services lose theirs (garbage collector)', async () => {
    const ns = 'kinds';
    await makeNamespace(c, ns);
    await makeService(c, ns, 'ext', { type: 'ExternalName', externalName: 'example.com' });
    await makeService(c, ns, 'manual', { ports: [{ port: 80 }] });
    await makeService(c, ns, 'gone', { selector: { app: 'gone' }, ports: [{ port: 80 }] });
    await until(async () => (await slicesOf(c, ns, 'gone')).length === 1, 'slice for gone');
    await sleep(300);
    assert.deepEqual([(await slicesOf(c, ns, 'ext')).length, (await slicesOf(c, ns, 'manual')).length], [0, 0]);
    await call(c, 'DELETE', `/api/v1/namespaces/${ns}/services/gone`);
    await until(async () => (await slicesOf(c, ns, 'gone')).length === 0, 'slices garbage collected');
  });
});

/** A client whose EndpointSlice watch events arrive late: the controller's slice cache lags behind its writes. */
class SlowSliceWatch extends RestClient {
  override watch<T = unknown>(path: string, query: Query, onEvent: (e: WatchEvent<T>) => void): WatchHandle {
    if (!path.includes('/endpointslices')) return super.watch(path, query, onEvent);
    return super.watch<T>(path, query, (e) => { setTimeout(() => onEvent(e), 400); });
  }
}

describe('EndpointSlice controller restarts and stale caches', () => {
  let c: Cluster;
  before(async () => {
    c = await startCluster();
    await makeNode(c, 'node-a');
  });
  after(async () => { await c?.cleanup(); });

  test('a restart in the middle of pod churn converges: every pod once, with its current readiness', async () => {
    const ns = 'churn';
    await makeNamespace(c, ns);
    await makeService(c, ns, 'churn', { selector: { app: 'churn' }, ports: [{ port: 80 }] });
    const N = 150;
    for (let i = 0; i < N; i += 25) await Promise.all(Array.from({ length: 25 }, (_, k) => makePod(c, ns, `p-${i + k}`, { labels: { app: 'churn' }, ip: `127.244.${7 + ((i + k) >> 8)}.${(i + k) & 255}` })));
    const ready = new Array<boolean>(N).fill(true);
    const alive = new Array<boolean>(N).fill(true);
    let ctl = await runControllers(c, (ctx) => [new EndpointSliceController(ctx)], { workers: 5 });
    let stop = false;
    const churn = (async () => {
      for (let round = 0; !stop; round++) {
        const i = Math.floor(Math.random() * N);
        if (!alive[i]) continue;
        if (round % 10 === 9) {
          alive[i] = false;
          await call(c, 'DELETE', `/api/v1/namespaces/${ns}/pods/p-${i}`, { gracePeriodSeconds: 0 });
        } else {
          ready[i] = !ready[i];
          await podStatus(c, ns, `p-${i}`, `127.244.${7 + (i >> 8)}.${i & 255}`, ready[i]);
        }
      }
    })();
    await sleep(700);
    ctl.stop();
    await sleep(400);
    ctl = await runControllers(c, (ctx) => [new EndpointSliceController(ctx)], { workers: 5 });
    await sleep(700);
    stop = true;
    await churn;
    try {
      const want: Record<string, string> = {};
      for (let i = 0; i < N; i++) if (alive[i]) want[`p-${i}`] = ready[i] ? 'true/true/false' : 'false/false/false';
      const sl = await until(async () => {
        const x = await slicesOf(c, ns, 'churn');
        return JSON.stringify(Object.entries(endpointsByPod(x)).sort()) === JSON.stringify(Object.entries(want).sort()) && x;
      }, 'slices match the pods');
      // Packed as the reconciler packs: no more slices than needed plus the partly filled ones it kept.
      assert.ok(sl.length <= Math.ceil(Object.keys(want).length / 100) + 1, `${sl.length} slices`);
      for (const s of sl) assert.ok(s.endpoints.length <= 100);
    } finally {
      ctl.stop();
    }
  });

  test('a lagging slice cache does not make duplicate slices: syncs wait for the controller\'s own writes', async () => {
    const ns = 'stale';
    await makeNamespace(c, ns);
    const base = await RestClient.fromKubeconfig(c.kubeconfig, 'kubelite-controller-test');
    const client = new SlowSliceWatch(base.config);
    base.close();
    const ctl = await runControllers(c, (ctx) => [new EndpointSliceController(ctx)], { client, workers: 5 });
    const created: string[] = [];
    const watcher = await RestClient.fromKubeconfig(c.kubeconfig);
    // From a listed revision: a watch opened "now" could miss a slice created before it registered.
    const listed = await getJSON(c, `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`);
    const w = watcher.watch<any>(`/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`, { resourceVersion: listed.metadata.resourceVersion }, (e) => { if (e.type === 'ADDED') created.push(e.object.metadata.name); });
    try {
      await makeService(c, ns, 'fast', { selector: { app: 'fast' }, ports: [{ port: 80 }] });
      await sleep(50);
      for (let i = 0; i < 5; i++) await makePod(c, ns, `fast-${i}`, { labels: { app: 'fast' }, ip: `127.244.9.${i + 1}` });
      const sl = await until(async () => { const x = await slicesOf(c, ns, 'fast'); return Object.keys(endpointsByPod(x)).length === 5 && x; }, 'five endpoints');
      await until(() => created.length > 0, 'the slice\'s ADDED event');
      // A duplicate would come from a sync that ran on the stale cache: give such syncs time to write.
      await sleep(500);
      assert.equal((await slicesOf(c, ns, 'fast')).length, 1);
      assert.deepEqual(created, [sl[0].metadata.name], 'one slice was ever created');

      // Someone else writes the slice; the controller's next write (from its lagging cache) gets a 409 and is retried.
      await call(c, 'PATCH', `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices/${sl[0].metadata.name}`, { metadata: { labels: { touched: 'yes' } } }, 'application/merge-patch+json');
      await podStatus(c, ns, 'fast-0', '127.244.9.1', false);
      await until(async () => { const x = await slicesOf(c, ns, 'fast'); return endpointsByPod(x)['fast-0'] === 'false/false/false' && x[0].metadata.labels.touched === undefined; }, 'conflict retried');
      const ev = await until(async () => (await getJSON(c, `/api/v1/namespaces/${ns}/events?fieldSelector=reason%3DFailedToUpdateEndpointSlices`)).items[0], 'conflict event');
      assert.match(ev.message, /^Error updating Endpoint Slices for Service stale\/fast: failed to update fast-\w+ EndpointSlice for Service stale\/fast: .*the object has been modified/);
    } finally {
      w.stop();
      watcher.close();
      ctl.stop();
    }
  });
});
