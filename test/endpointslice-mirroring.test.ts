// The EndpointSlice mirroring controller: RepackSubsets and the mirroring plan on plain objects
// (scenarios after upstream's reconciler_test.go, our own inputs), then the controller against a
// real server: the seed's hand-written Endpoints (examples/ep.yaml) shown by kubectl describe svc
// through the mirrored slice, updates, skip-mirror, selectors, deletions, the 1,000-address cap
// with its event, address families, and leftovers cleaned up at start.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { EndpointSubset } from 'kubernetes-types/core/v1.js';
import { startCluster, ROOT, type Cluster } from './helpers/cluster.js';
import { runControllers, getJSON, call, type RunningControllers } from './helpers/run-controllers.js';
import { until, sleep } from './helpers/wait.js';
import {
  EndpointSliceMirroringController, MIRRORING_CONTROLLER_NAME, planMirroring, repackSubsets, shouldMirror, type EndpointsObject,
} from '../src/controllers/endpointslice-mirroring.js';
import type { SliceObject } from '../src/controllers/endpointslice-util.js';

// --- plain objects -------------------------------------------------------------------------------

function endpoints(subsets: EndpointSubset[], meta: Partial<EndpointsObject['metadata']> = {}): EndpointsObject {
  return { metadata: { name: 'ext', namespace: 'ns', uid: 'ep-uid', ...meta }, subsets };
}

let seq = 0;
function stored(s: SliceObject): SliceObject {
  seq++;
  const { generateName: _g, ...metadata } = s.metadata;
  return { ...s, metadata: { ...metadata, name: s.metadata.name ?? `ext-m${seq}`, uid: `slice-${seq}`, generation: 1 } };
}

const ips = (s: SliceObject) => (s.endpoints ?? []).map((e) => `${e.addresses[0]}${e.conditions?.ready ? '' : '(not ready)'}`).sort();

describe('EndpointSlice mirroring (units)', () => {
  test('RepackSubsets: duplicates merged, not-ready wins, ports with the same addresses grouped, port-less subsets kept', () => {
    const out = repackSubsets([
      { addresses: [{ ip: '10.0.0.2' }, { ip: '10.0.0.10' }], ports: [{ name: 'a', port: 80 }] },
      { addresses: [{ ip: '10.0.0.2' }, { ip: '10.0.0.10' }], ports: [{ name: 'b', port: 81 }] },
      { notReadyAddresses: [{ ip: '10.0.0.2' }], ports: [{ name: 'a', port: 80 }] },
      { addresses: [{ ip: '10.0.0.9' }] },
    ]);
    assert.deepEqual(out, [
      { addresses: [{ ip: '10.0.0.9' }] },
      { addresses: [{ ip: '10.0.0.10' }], notReadyAddresses: [{ ip: '10.0.0.2' }], ports: [{ name: 'a', port: 80 }] },
      { addresses: [{ ip: '10.0.0.10' }, { ip: '10.0.0.2' }], ports: [{ name: 'b', port: 81 }] },
    ]);
  });

  test('one slice per address type and port list; labels, annotations and owner from the Endpoints', () => {
    const ep = endpoints([
      { addresses: [{ ip: '10.0.0.1', nodeName: 'n1', hostname: 'h1', targetRef: { kind: 'Pod', namespace: 'ns', name: 'p1', uid: 'u1' } }, { ip: 'fd00::1' }], notReadyAddresses: [{ ip: '10.0.0.2' }], ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
      { addresses: [{ ip: '10.0.0.3' }], ports: [{ port: 9000, protocol: 'UDP', appProtocol: 'dns' }] },
    ], {
      labels: { team: 'x' },
      annotations: { note: 'n', 'endpoints.kubernetes.io/last-change-trigger-time': 't', 'kubectl.kubernetes.io/last-applied-configuration': '{}' },
    });
    const p = planMirroring(ep, [], 1000);
    assert.deepEqual([p.update.length, p.delete.length, p.invalidAddresses, p.skippedAddresses], [0, 0, 0, 0]);
    const shapes = p.create.map((s) => `${s.addressType} ${JSON.stringify(s.ports)} ${ips(s).join(',')}`).sort();
    assert.deepEqual(shapes, [
      'IPv4 [{"name":"","protocol":"UDP","port":9000,"appProtocol":"dns"}] 10.0.0.3',
      'IPv4 [{"name":"http","protocol":"TCP","port":80}] 10.0.0.1,10.0.0.2(not ready)',
      'IPv6 [{"name":"http","protocol":"TCP","port":80}] fd00::1',
    ]);
    const s = p.create.find((x) => x.endpoints!.length === 2)!;
    assert.deepEqual(s.metadata, {
      generateName: 'ext-', namespace: 'ns',
      labels: { team: 'x', 'kubernetes.io/service-name': 'ext', 'endpointslice.kubernetes.io/managed-by': MIRRORING_CONTROLLER_NAME },
      annotations: { note: 'n' },
      ownerReferences: [{ apiVersion: 'v1', kind: 'Endpoints', name: 'ext', uid: 'ep-uid', controller: true, blockOwnerDeletion: true }],
    });
    assert.deepEqual(s.endpoints!.find((e) => e.addresses[0] === '10.0.0.1'), {
      addresses: ['10.0.0.1'], conditions: { ready: true }, hostname: 'h1', targetRef: { kind: 'Pod', namespace: 'ns', name: 'p1', uid: 'u1' }, nodeName: 'n1',
    });
    // Mirrored again as they are: nothing to write.
    const again = planMirroring(ep, p.create.map(stored), 1000);
    assert.deepEqual([again.create.length, again.update.length, again.delete.length], [0, 0, 0]);
  });

  test('changes rewrite the slice under its name; extra slices of a group are deleted; a changed port list reuses a slice', () => {
    const ep = endpoints([{ addresses: [{ ip: '10.0.0.1' }], ports: [{ port: 80, protocol: 'TCP' }] }]);
    const [first] = planMirroring(ep, [], 1000).create.map(stored);
    const duplicate = stored(planMirroring(ep, [], 1000).create[0]);
    const added = endpoints([{ addresses: [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }], ports: [{ port: 80, protocol: 'TCP' }] }]);
    let p = planMirroring(added, [first, duplicate], 1000);
    assert.deepEqual(p.update.map((s) => [s.metadata.name, ips(s)]), [[first.metadata.name, ['10.0.0.1', '10.0.0.2']]]);
    assert.deepEqual(p.delete.map((s) => s.metadata.name), [duplicate.metadata.name]);
    const relabelled = endpoints(ep.subsets!, { labels: { new: 'label' } });
    p = planMirroring(relabelled, [first], 1000);
    assert.deepEqual(p.update.map((s) => s.metadata.labels!.new), ['label']);
    const newPorts = endpoints([{ addresses: [{ ip: '10.0.0.1' }], ports: [{ port: 8080, protocol: 'TCP' }] }]);
    p = planMirroring(newPorts, [first], 1000);
    assert.deepEqual([p.create.length, p.delete.length, p.update.map((s) => [s.metadata.name, s.ports![0].port])], [0, 0, [[first.metadata.name, 8080]]]);
    // No addresses left: the slices go.
    p = planMirroring(endpoints([]), [first], 1000);
    assert.deepEqual([p.create.length, p.update.length, p.delete.map((s) => s.metadata.name)], [0, 0, [first.metadata.name]]);
  });

  test('addresses over the per-subset maximum and invalid IPs are counted and skipped', () => {
    const addresses = Array.from({ length: 12 }, (_, i) => ({ ip: `10.0.1.${i + 1}` }));
    const p = planMirroring(endpoints([
      { addresses, notReadyAddresses: [{ ip: '10.0.2.1' }], ports: [{ port: 80, protocol: 'TCP' }] },
      { addresses: [{ ip: 'not-an-ip' }, { ip: '010.0.3.1' }], ports: [{ port: 81, protocol: 'TCP' }] },
    ]), [], 10);
    assert.deepEqual([p.invalidAddresses, p.skippedAddresses], [1, 4]);
    assert.deepEqual(p.create.map((s) => s.endpoints!.length).sort(), [1, 10]);
    assert.ok(p.create.some((s) => ips(s).join() === '10.0.3.1'), 'leading zeros parsed and written canonically');
  });

  test('skip-mirror and leader-election Endpoints are not mirrored', () => {
    assert.equal(shouldMirror(endpoints([])), true);
    assert.equal(shouldMirror(endpoints([], { labels: { 'endpointslice.kubernetes.io/skip-mirror': 'true' } })), false);
    assert.equal(shouldMirror(endpoints([], { labels: { 'endpointslice.kubernetes.io/skip-mirror': 'false' } })), true);
    assert.equal(shouldMirror(endpoints([], { annotations: { 'control-plane.alpha.kubernetes.io/leader': '{}' } })), false);
  });
});

// --- against a real server -----------------------------------------------------------------------

async function slicesOf(c: Cluster, ns: string, name: string): Promise<any[]> {
  const list = await getJSON(c, `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices?labelSelector=${encodeURIComponent(`kubernetes.io/service-name=${name}`)}`);
  return (list.items as any[]).sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
}

const readyIPs = (slices: any[]) => slices.flatMap((s) => (s.endpoints ?? []).filter((e: any) => e.conditions?.ready !== false).flatMap((e: any) => e.addresses)).sort();

async function makeNamespace(c: Cluster, ns: string): Promise<void> {
  await call(c, 'POST', '/api/v1/namespaces', { metadata: { name: ns } });
}

function writeEndpoints(c: Cluster, ns: string, name: string, subsets: unknown[], labels?: Record<string, string>): Promise<any> {
  return call(c, 'PUT', `/api/v1/namespaces/${ns}/endpoints/${name}`, { metadata: { name, ...(labels ? { labels } : {}) }, subsets });
}

describe('EndpointSlice mirroring controller', () => {
  let c: Cluster;
  let ctl: RunningControllers;
  before(async () => {
    c = await startCluster();
    ctl = await runControllers(c, (ctx) => [new EndpointSliceMirroringController(ctx)], { workers: 5 });
  });
  after(async () => { ctl?.stop(); await c?.cleanup(); });

  test('the seed\'s hand-written Endpoints: describe svc shows Selector <none> and Endpoints 10.0.0.250:80', async () => {
    const out = await c.k('apply', '-f', path.join(ROOT, 'examples/ep.yaml'));
    assert.match(out, /endpoints\/harbor-huangxin created/);
    const ep = await getJSON(c, '/api/v1/namespaces/default/endpoints/harbor-huangxin');
    const [slice] = await until(async () => { const s = await slicesOf(c, 'default', 'harbor-huangxin'); return s.length === 1 && s; }, 'mirrored slice');
    assert.match(slice.metadata.name, /^harbor-huangxin-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    assert.deepEqual(slice.metadata.labels, { 'kubernetes.io/service-name': 'harbor-huangxin', 'endpointslice.kubernetes.io/managed-by': MIRRORING_CONTROLLER_NAME });
    assert.equal(slice.metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration'], undefined);
    assert.deepEqual(slice.metadata.ownerReferences, [{ apiVersion: 'v1', kind: 'Endpoints', name: 'harbor-huangxin', uid: ep.metadata.uid, controller: true, blockOwnerDeletion: true }]);
    assert.equal(slice.addressType, 'IPv4');
    assert.deepEqual(slice.ports, [{ name: '', protocol: 'TCP', port: 80 }]);
    assert.deepEqual(slice.endpoints, [{ addresses: ['10.0.0.250'], conditions: { ready: true } }]);

    const d = await c.k('describe', 'svc', 'harbor-huangxin');
    assert.match(d, /^Selector:\s+<none>$/m);
    assert.match(d, /^Endpoints:\s+10\.0\.0\.250:80$/m);
    const get = await c.k('get', 'endpointslices', '-l', 'kubernetes.io/service-name=harbor-huangxin');
    assert.match(get, new RegExp(`^${slice.metadata.name}\\s+IPv4\\s+80\\s+10\\.0\\.0\\.250\\s+\\S+\\n$`, 'm'));
  });

  test('edits of the Endpoints are mirrored into the same slice; annotations and labels follow', async () => {
    const [before] = await slicesOf(c, 'default', 'harbor-huangxin');
    const ep = await getJSON(c, '/api/v1/namespaces/default/endpoints/harbor-huangxin');
    ep.metadata.labels = { site: 'b' };
    ep.metadata.annotations = { ...ep.metadata.annotations, owner: 'ops' };
    ep.subsets = [{ addresses: [{ ip: '10.0.0.250' }, { ip: '10.0.0.251' }], notReadyAddresses: [{ ip: '10.0.0.252' }], ports: [{ port: 80 }] }];
    await call(c, 'PUT', '/api/v1/namespaces/default/endpoints/harbor-huangxin', ep);
    const [after] = await until(async () => { const s = await slicesOf(c, 'default', 'harbor-huangxin'); return s[0]?.endpoints?.length === 3 && s; }, 'three endpoints');
    assert.equal(after.metadata.name, before.metadata.name);
    assert.equal(after.metadata.labels.site, 'b');
    assert.deepEqual(after.metadata.annotations, { owner: 'ops' });
    assert.deepEqual(readyIPs([after]), ['10.0.0.250', '10.0.0.251']);
    const d = await c.k('describe', 'svc', 'harbor-huangxin');
    assert.match(d, /^Endpoints:\s+10\.0\.0\.250:80,10\.0\.0\.251:80$/m);
  });

  test('skip-mirror removes the slices; taking it off mirrors again', async () => {
    const ep = await getJSON(c, '/api/v1/namespaces/default/endpoints/harbor-huangxin');
    await call(c, 'PATCH', '/api/v1/namespaces/default/endpoints/harbor-huangxin', { metadata: { labels: { 'endpointslice.kubernetes.io/skip-mirror': 'true' } } }, 'application/merge-patch+json');
    await until(async () => (await slicesOf(c, 'default', 'harbor-huangxin')).length === 0, 'slices deleted');
    assert.match(await c.k('describe', 'svc', 'harbor-huangxin'), /^Endpoints:\s+<none>$/m);
    await call(c, 'PATCH', '/api/v1/namespaces/default/endpoints/harbor-huangxin', { metadata: { labels: { 'endpointslice.kubernetes.io/skip-mirror': null } } }, 'application/merge-patch+json');
    const s = await until(async () => { const x = await slicesOf(c, 'default', 'harbor-huangxin'); return x.length === 1 && x; }, 'mirrored again');
    assert.equal(s[0].metadata.ownerReferences[0].uid, ep.metadata.uid);
  });

  test('a Service that gets a selector loses its mirrored slices; losing it again brings them back', async () => {
    await call(c, 'PATCH', '/api/v1/namespaces/default/services/harbor-huangxin', { spec: { selector: { app: 'harbor' } } }, 'application/merge-patch+json');
    await until(async () => (await slicesOf(c, 'default', 'harbor-huangxin')).length === 0, 'slices deleted');
    await call(c, 'PATCH', '/api/v1/namespaces/default/services/harbor-huangxin', { spec: { selector: null } }, 'application/merge-patch+json');
    await until(async () => (await slicesOf(c, 'default', 'harbor-huangxin')).length === 1, 'mirrored again');
  });

  test('deleting the Endpoints, or the Service, deletes the mirrored slices', async () => {
    await call(c, 'DELETE', '/api/v1/namespaces/default/endpoints/harbor-huangxin');
    await until(async () => (await slicesOf(c, 'default', 'harbor-huangxin')).length === 0, 'slices deleted with the Endpoints');
    await writeEndpoints(c, 'default', 'harbor-huangxin', [{ addresses: [{ ip: '10.0.0.250' }], ports: [{ port: 80 }] }]);
    await until(async () => (await slicesOf(c, 'default', 'harbor-huangxin')).length === 1, 'mirrored after re-creation');
    await call(c, 'DELETE', '/api/v1/namespaces/default/services/harbor-huangxin');
    await until(async () => (await slicesOf(c, 'default', 'harbor-huangxin')).length === 0, 'slices deleted with the Service');
    // Endpoints without a Service are not mirrored at all.
    await sleep(300);
    assert.equal((await slicesOf(c, 'default', 'harbor-huangxin')).length, 0);
  });

  test('two port lists and two families: one slice each; Endpoints labelled skip-mirror (as the kubernetes Service\'s) are never mirrored', async () => {
    const ns = 'multi';
    await makeNamespace(c, ns);
    await call(c, 'POST', `/api/v1/namespaces/${ns}/services`, { metadata: { name: 'db' }, spec: { ports: [{ name: 'sql', port: 5432 }, { name: 'admin', port: 8080 }] } });
    await writeEndpoints(c, ns, 'db', [
      { addresses: [{ ip: '192.168.0.1' }, { ip: 'fd00::1' }], ports: [{ name: 'sql', port: 5432 }] },
      { addresses: [{ ip: '192.168.0.2' }], ports: [{ name: 'admin', port: 8080 }] },
    ]);
    const slices = await until(async () => { const s = await slicesOf(c, ns, 'db'); return s.length === 3 && s; }, 'three slices');
    const shapes = slices.map((s) => `${s.addressType} ${s.ports.map((p: any) => `${p.name}:${p.port}`).join()} ${readyIPs([s]).join()}`).sort();
    assert.deepEqual(shapes, ['IPv4 admin:8080 192.168.0.2', 'IPv4 sql:5432 192.168.0.1', 'IPv6 sql:5432 fd00::1']);
    const d = await c.k('describe', 'svc', 'db', '-n', ns);
    assert.match(d, /Port:\s+sql\s+5432\/TCP\n[^\n]*\nEndpoints:\s+(192\.168\.0\.1:5432,\[fd00::1\]:5432|\[fd00::1\]:5432,192\.168\.0\.1:5432)\n/);
    assert.match(d, /Port:\s+admin\s+8080\/TCP\n[^\n]*\nEndpoints:\s+192\.168\.0\.2:8080\n/);

    await call(c, 'POST', `/api/v1/namespaces/${ns}/services`, { metadata: { name: 'apiserver' }, spec: { ports: [{ name: 'https', port: 443 }] } });
    await writeEndpoints(c, ns, 'apiserver', [{ addresses: [{ ip: '192.168.0.9' }], ports: [{ name: 'https', port: 6443 }] }], { 'endpointslice.kubernetes.io/skip-mirror': 'true' });
    await sleep(300);
    assert.equal((await slicesOf(c, ns, 'apiserver')).length, 0);
  });

  test('over 1000 addresses in a subset: 1000 mirrored, TooManyAddressesToMirror on the Endpoints', async () => {
    const ns = 'huge';
    await makeNamespace(c, ns);
    await call(c, 'POST', `/api/v1/namespaces/${ns}/services`, { metadata: { name: 'huge' }, spec: { ports: [{ port: 80 }] } });
    const addresses = Array.from({ length: 1005 }, (_, i) => ({ ip: `10.8.${i >> 8}.${i & 255}` }));
    await writeEndpoints(c, ns, 'huge', [{ addresses, ports: [{ port: 80 }] }]);
    const slices = await until(async () => { const s = await slicesOf(c, ns, 'huge'); return s.length === 1 && s; }, 'one slice');
    assert.equal(slices[0].endpoints.length, 1000);
    const ev = await until(async () => {
      const list = await getJSON(c, `/api/v1/namespaces/${ns}/events?fieldSelector=reason%3DTooManyAddressesToMirror`);
      return list.items[0];
    }, 'event');
    assert.equal(ev.type, 'Warning');
    assert.equal(ev.message, 'A max of 1000 addresses can be mirrored to EndpointSlices per Endpoints subset. 5 addresses were skipped');
    assert.deepEqual([ev.involvedObject.kind, ev.involvedObject.name, ev.source.component], ['Endpoints', 'huge', 'endpoint-slice-mirroring-controller']);
  });

  test('mirrored slices whose Endpoints went while the controller was down are deleted when it starts', async () => {
    const ns = 'leftover';
    await makeNamespace(c, ns);
    await call(c, 'POST', `/api/v1/namespaces/${ns}/services`, { metadata: { name: 'old' }, spec: { ports: [{ port: 80 }] } });
    await writeEndpoints(c, ns, 'old', [{ addresses: [{ ip: '10.9.0.1' }], ports: [{ port: 80 }] }]);
    await until(async () => (await slicesOf(c, ns, 'old')).length === 1, 'mirrored');
    ctl.stop();
    await call(c, 'DELETE', `/api/v1/namespaces/${ns}/endpoints/old`);
    await sleep(200);
    assert.equal((await slicesOf(c, ns, 'old')).length, 1, 'nobody deleted it while the controller was down');
    ctl = await runControllers(c, (ctx) => [new EndpointSliceMirroringController(ctx)], { workers: 5 });
    await until(async () => (await slicesOf(c, ns, 'old')).length === 0, 'leftover deleted at start');
  });
});
