// Service allocation in the API server: ClusterIPs from --service-cidr and NodePorts from
// --service-node-port-range with upstream's bands, checks and messages; headless, ExternalName
// and LoadBalancer Services; releases on delete, type change and port removal; dry runs; repair
// after a restart; and two allocators on one store never handing out the same value.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { startCluster, tempFile, type Cluster } from './helpers/cluster.js';
import { openStore } from '../src/store/index.js';
import type { Store } from '../src/store/types.js';
import { ServiceAllocator, parseNodePortRange, parseServiceCIDR } from '../src/apiserver/service-alloc.js';
import type { KObject } from '../src/api/types.js';

const quiet = pino({ level: 'silent' });

function ipToInt(ip: string): number {
  return ip.split('.').reduce((n, p) => n * 256 + Number(p), 0);
}

function svc(name: string, spec: Record<string, unknown>): object {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { ports: [{ port: 80 }], ...spec } };
}

async function create(c: Cluster, ns: string, body: object) {
  return c.request('POST', `/api/v1/namespaces/${ns}/services`, body);
}

async function createOK(c: Cluster, ns: string, body: object): Promise<any> {
  const res = await create(c, ns, body);
  assert.equal(res.status, 201, res.body);
  return res.json();
}

async function patch(c: Cluster, ns: string, name: string, body: object) {
  return c.request('PATCH', `/api/v1/namespaces/${ns}/services/${name}`, body, { headers: { 'Content-Type': 'application/merge-patch+json' } });
}

describe('service allocation, default ranges', () => {
  let c: Cluster;
  const ns = 'alloc';
  before(async () => {
    c = await startCluster();
    await c.k('create', 'namespace', ns);
  });
  after(async () => { await c?.cleanup(); });

  test('a ClusterIP from the dynamic (upper) band of 127.96.0.0/12, family fields as upstream', async () => {
    const s = await createOK(c, ns, svc('web', { selector: { app: 'web' } }));
    const ip: string = s.spec.clusterIP;
    const n = ipToInt(ip);
    // 127.96.0.1 - 127.96.1.0 is the static band (offset 256); dynamic values come from above it.
    assert.ok(n >= ipToInt('127.96.1.1') && n <= ipToInt('127.111.255.254'), ip);
    assert.deepEqual(s.spec.clusterIPs, [ip]);
    assert.deepEqual(s.spec.ipFamilies, ['IPv4']);
    assert.equal(s.spec.ipFamilyPolicy, 'SingleStack');
    const d = await c.k('describe', 'svc', 'web', '-n', ns);
    assert.match(d, /^IP Family Policy:\s+SingleStack$/m);
    assert.match(d, /^IP Families:\s+IPv4$/m);
    assert.match(d, new RegExp(`^IP:\\s+${ip.replace(/\./g, '\\.')}$`, 'm'));
    assert.match(d, new RegExp(`^IPs:\\s+${ip.replace(/\./g, '\\.')}$`, 'm'));
    // The allocated address is not the client's: kubectl-create owns no clusterIP field.
    const managed = JSON.stringify(s.metadata.managedFields);
    assert.doesNotMatch(managed, /f:clusterIP/);
  });

  test('a chosen IP is taken once; out of range, network and broadcast addresses are refused', async () => {
    await createOK(c, ns, svc('fixed', { clusterIP: '127.96.0.10' }));
    const dup = await create(c, ns, svc('dup', { clusterIP: '127.96.0.10' }));
    assert.equal(dup.status, 422);
    assert.equal(dup.json().message, 'Service "dup" is invalid: spec.clusterIPs: Invalid value: []string{"127.96.0.10"}: failed to allocate IP 127.96.0.10: provided IP is already allocated');
    assert.deepEqual(dup.json().details.causes, [{ reason: 'FieldValueInvalid', field: 'spec.clusterIPs', message: 'Invalid value: []string{"127.96.0.10"}: failed to allocate IP 127.96.0.10: provided IP is already allocated' }]);
    for (const ip of ['10.0.0.5', '127.96.0.0', '127.111.255.255', '127.112.0.1']) {
      const res = await create(c, ns, svc('out', { clusterIP: ip }));
      assert.equal(res.status, 422, ip);
      assert.equal(res.json().message, `Service "out" is invalid: spec.clusterIPs: Invalid value: []string{"${ip}"}: failed to allocate IP ${ip}: the provided IP (${ip}) is not in the valid range. The range of valid IPs is 127.96.0.0/12`);
    }
    // kubectl shows the same text.
    const r = await c.kubectl(['create', 'service', 'clusterip', 'again', '--tcp=80', '--clusterip=127.96.0.10', '-n', ns]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'error: failed to create ClusterIP service: Service "again" is invalid: spec.clusterIPs: Invalid value: []string{"127.96.0.10"}: failed to allocate IP 127.96.0.10: provided IP is already allocated\n');
    const applied = await c.kubectl(['apply', '-f', tempFile('dup.yaml', JSON.stringify({ ...svc('dup2', { clusterIP: '127.96.0.10' }), metadata: { name: 'dup2', namespace: ns } }))]);
    assert.equal(applied.code, 1);
    assert.match(applied.stderr, /The Service "dup2" is invalid: spec\.clusterIPs: Invalid value: \[\]string\{"127\.96\.0\.10"\}: failed to allocate IP 127\.96\.0\.10: provided IP is already allocated/);
    // The first usable address is the kubernetes Service's.
    const k = await create(c, ns, svc('first', { clusterIP: '127.96.0.1' }));
    assert.match(k.json().message, /provided IP is already allocated/);
  });

  test('headless and ExternalName Services get no IP', async () => {
    const h = await createOK(c, ns, svc('headless', { clusterIP: 'None', selector: { app: 'db' } }));
    assert.deepEqual([h.spec.clusterIP, h.spec.clusterIPs, h.spec.ipFamilies, h.spec.ipFamilyPolicy], ['None', ['None'], ['IPv4'], 'SingleStack']);
    const e = await createOK(c, ns, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'ext' }, spec: { type: 'ExternalName', externalName: 'db.example.com' } });
    assert.equal(e.spec.clusterIP, undefined);
    assert.equal(e.spec.clusterIPs, undefined);
    const rows = await c.k('get', 'svc', 'headless', 'ext', '-n', ns);
    assert.match(rows, /^headless\s+ClusterIP\s+None\s+<none>\s+80\/TCP/m);
    assert.match(rows, /^ext\s+ExternalName\s+<none>\s+db\.example\.com\s+<none>/m);
  });

  test('NodePorts: allocated in range, a chosen one taken once, same port numbers share one', async () => {
    const np = await createOK(c, ns, svc('np', { type: 'NodePort', ports: [{ name: 'a', port: 80 }, { name: 'b', port: 81 }] }));
    const ports = np.spec.ports.map((p: { nodePort: number }) => p.nodePort);
    for (const p of ports) assert.ok(p >= 30086 && p <= 32767, `${p} is in the dynamic band`);
    assert.notEqual(ports[0], ports[1]);
    await createOK(c, ns, svc('np-fixed', { type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] }));
    const dup = await create(c, ns, svc('np-dup', { type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] }));
    assert.equal(dup.status, 422);
    assert.equal(dup.json().message, 'Service "np-dup" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated');
    const r = await c.kubectl(['create', 'service', 'nodeport', 'np-dup', '--tcp=80', '--node-port=30080', '-n', ns]);
    assert.equal(r.stderr, 'error: failed to create NodePort service: Service "np-dup" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated\n');
    const out = await create(c, ns, svc('np-out', { type: 'NodePort', ports: [{ port: 80, nodePort: 40000 }] }));
    assert.equal(out.json().message, 'Service "np-out" is invalid: spec.ports[0].nodePort: Invalid value: 40000: provided port is not in the valid range. The range of valid ports is 30000-32767');
    const dns = await createOK(c, ns, svc('dns', { type: 'NodePort', ports: [{ name: 'udp', port: 53, protocol: 'UDP' }, { name: 'tcp', port: 53, protocol: 'TCP' }] }));
    assert.equal(dns.spec.ports[0].nodePort, dns.spec.ports[1].nodePort);
  });

  test('LoadBalancer: node ports as NodePort, ingress pending; opting out of node ports; health check port', async () => {
    const lb = await createOK(c, ns, svc('lb', { type: 'LoadBalancer', selector: { app: 'web' } }));
    assert.ok(lb.spec.ports[0].nodePort >= 30000 && lb.spec.ports[0].nodePort <= 32767);
    assert.ok(lb.spec.clusterIP);
    assert.deepEqual(lb.status, { loadBalancer: {} });
    assert.match(await c.k('get', 'svc', 'lb', '-n', ns), new RegExp(`^lb\\s+LoadBalancer\\s+${lb.spec.clusterIP.replace(/\./g, '\\.')}\\s+<pending>\\s+80:${lb.spec.ports[0].nodePort}/TCP`, 'm'));
    const noPorts = await createOK(c, ns, svc('lb-none', { type: 'LoadBalancer', allocateLoadBalancerNodePorts: false }));
    assert.equal(noPorts.spec.ports[0].nodePort, undefined);
    const local = await createOK(c, ns, svc('lb-local', { type: 'LoadBalancer', externalTrafficPolicy: 'Local' }));
    assert.ok(local.spec.healthCheckNodePort >= 30000 && local.spec.healthCheckNodePort <= 32767);
    assert.notEqual(local.spec.healthCheckNodePort, local.spec.ports[0].nodePort);
  });

  test('removing a port, changing the type and deleting release what was held', async () => {
    await createOK(c, ns, svc('rel', { type: 'NodePort', ports: [{ name: 'a', port: 80, nodePort: 30100 }, { name: 'b', port: 81, nodePort: 30101 }] }));
    const pr = await c.request('PATCH', `/api/v1/namespaces/${ns}/services/rel`, { spec: { ports: [{ name: 'a', port: 80, nodePort: 30100 }] } },
      { headers: { 'Content-Type': 'application/merge-patch+json' } });
    assert.equal(pr.status, 200, pr.body);
    await createOK(c, ns, svc('takes-30101', { type: 'NodePort', ports: [{ port: 80, nodePort: 30101 }] }));
    // NodePort -> ClusterIP frees the node ports.
    assert.equal(await c.k('patch', 'svc', 'rel', '-n', ns, '-p', '{"spec":{"type":"ClusterIP","ports":[{"name":"a","port":80,"nodePort":null}]}}'), 'service/rel patched\n');
    await createOK(c, ns, svc('takes-30100', { type: 'NodePort', ports: [{ port: 80, nodePort: 30100 }] }));
    // ClusterIP -> ExternalName frees the IP; back to ClusterIP allocates a new one.
    const before = await createOK(c, ns, svc('flip', { clusterIP: '127.96.0.20' }));
    assert.equal(before.spec.clusterIP, '127.96.0.20');
    assert.equal((await patch(c, ns, 'flip', { spec: { type: 'ExternalName', externalName: 'x.example.com' } })).status, 200);
    await createOK(c, ns, svc('takes-20', { clusterIP: '127.96.0.20' }));
    const back = await patch(c, ns, 'flip', { spec: { type: 'ClusterIP', externalName: null } });
    assert.equal(back.status, 200, back.body);
    assert.ok(back.json().spec.clusterIP && back.json().spec.clusterIP !== '127.96.0.20');
    assert.deepEqual(back.json().spec.ipFamilies, ['IPv4']);
    // Delete frees both kinds.
    await c.k('delete', 'svc', 'takes-20', 'takes-30100', '-n', ns);
    await createOK(c, ns, svc('again-20', { clusterIP: '127.96.0.20', type: 'NodePort', ports: [{ port: 80, nodePort: 30100 }] }));
  });

  test('an update that asks for a taken node port fails and changes nothing', async () => {
    await createOK(c, ns, svc('upd', { type: 'NodePort', ports: [{ port: 80, nodePort: 30110 }] }));
    const res = await c.request('PATCH', `/api/v1/namespaces/${ns}/services/upd`,
      { spec: { ports: [{ port: 80, nodePort: 30110 }, { name: 'b', port: 81, nodePort: 30080 }] } }, { headers: { 'Content-Type': 'application/merge-patch+json' } });
    assert.equal(res.status, 422);
    assert.equal(res.json().message, 'Service "upd" is invalid: spec.ports[1].nodePort: Invalid value: 30080: provided port is already allocated');
    assert.equal(await c.k('get', 'svc', 'upd', '-n', ns, '-o', 'jsonpath={.spec.ports[*].nodePort}'), '30110');
  });

  test('dry runs allocate nothing', async () => {
    const dry = await c.request('POST', `/api/v1/namespaces/${ns}/services?dryRun=All`, svc('dry', { clusterIP: '127.96.0.30', type: 'NodePort', ports: [{ port: 80, nodePort: 30120 }] }));
    assert.equal(dry.status, 201, dry.body);
    assert.equal(dry.json().spec.clusterIP, '127.96.0.30');
    // Upstream's dry run reports the network address for a dynamic IP; the node port shown is free.
    assert.equal(await c.k('create', 'service', 'clusterip', 'dry2', '--tcp=80', '-n', ns, '--dry-run=server', '-o', 'jsonpath={.spec.clusterIP}'), '127.96.0.0');
    const dryNp = Number(await c.k('create', 'service', 'nodeport', 'dry3', '--tcp=80', '-n', ns, '--dry-run=server', '-o', 'jsonpath={.spec.ports[0].nodePort}'));
    assert.ok(dryNp >= 30000 && dryNp <= 32767, String(dryNp));
    // A dry run still reports what is taken.
    const taken = await c.request('POST', `/api/v1/namespaces/${ns}/services?dryRun=All`, svc('dry4', { type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] }));
    assert.equal(taken.status, 422);
    assert.match(taken.json().message, /provided port is already allocated/);
    await createOK(c, ns, svc('real', { clusterIP: '127.96.0.30', type: 'NodePort', ports: [{ port: 80, nodePort: 30120 }] }));
    // A dry-run delete keeps the allocation.
    assert.equal((await c.request('DELETE', `/api/v1/namespaces/${ns}/services/real?dryRun=All`)).status, 200);
    assert.match((await create(c, ns, svc('real2', { clusterIP: '127.96.0.30' }))).json().message, /provided IP is already allocated/);
  });

  test('a failed create gives back what it took', async () => {
    // Valid allocation, then a validation error (bad port name): the IP and node port are free again.
    const bad = await create(c, ns, svc('bad', { clusterIP: '127.96.0.40', type: 'NodePort', ports: [{ name: 'Bad_Name', port: 80, nodePort: 30130 }] }));
    assert.equal(bad.status, 422);
    assert.match(bad.json().message, /spec\.ports\[0\]\.name/);
    // An existing name: AlreadyExists, and the reservation is released too.
    const exists = await create(c, ns, svc('web', { clusterIP: '127.96.0.41' }));
    assert.equal(exists.status, 409);
    await createOK(c, ns, svc('good', { clusterIP: '127.96.0.40', type: 'NodePort', ports: [{ port: 80, nodePort: 30130 }] }));
    await createOK(c, ns, svc('good2', { clusterIP: '127.96.0.41' }));
  });

  test('concurrent creates get distinct IPs and ports', async () => {
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => createOK(c, ns, svc(`many-${i}`, { type: 'NodePort' }))));
    const ips = new Set(results.map((s) => s.spec.clusterIP));
    const ports = new Set(results.map((s) => s.spec.ports[0].nodePort));
    assert.equal(ips.size, 40);
    assert.equal(ports.size, 40);
  });

  test('after a restart allocations are kept', async () => {
    const fixed = JSON.parse(await c.k('get', 'svc', 'fixed', '-n', ns, '-o', 'json'));
    await c.restart();
    assert.equal(JSON.parse(await c.k('get', 'svc', 'fixed', '-n', ns, '-o', 'json')).spec.clusterIP, fixed.spec.clusterIP);
    assert.match((await create(c, ns, svc('after', { clusterIP: '127.96.0.10' }))).json().message, /provided IP is already allocated/);
    assert.match((await create(c, ns, svc('after', { type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] }))).json().message, /provided port is already allocated/);
  });
});

describe('service allocation, small ranges', () => {
  let c: Cluster;
  const ns = 'small';
  // 127.96.0.1 - .6 are usable and .1 is the kubernetes Service's: five free; four node ports.
  const args = ['--service-cidr', '127.96.0.0/29', '--service-node-port-range', '30000-30003'];
  before(async () => {
    c = await startCluster({ args });
    await c.k('create', 'namespace', ns);
  });
  after(async () => { await c?.cleanup(); });

  test('the range fills up; headless and ExternalName need no IP; delete and type changes free one', async () => {
    const made = await Promise.all([1, 2, 3, 4, 5].map((i) => createOK(c, ns, svc(`s${i}`, {}))));
    assert.deepEqual(made.map((s) => s.spec.clusterIP).sort(), ['127.96.0.2', '127.96.0.3', '127.96.0.4', '127.96.0.5', '127.96.0.6']);
    const full = await create(c, ns, svc('s6', {}));
    assert.equal(full.status, 500);
    assert.equal(full.json().message, 'Internal error occurred: failed to allocate a serviceIP: range is full');
    const r = await c.kubectl(['create', 'service', 'clusterip', 's6', '--tcp=80', '-n', ns]);
    assert.equal(r.stderr, 'error: failed to create ClusterIP service: Internal error occurred: failed to allocate a serviceIP: range is full\n');
    await createOK(c, ns, svc('h', { clusterIP: 'None' }));
    await createOK(c, ns, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'e' }, spec: { type: 'ExternalName', externalName: 'a.example.com' } });
    // A dry run needs no free address.
    assert.equal((await c.request('POST', `/api/v1/namespaces/${ns}/services?dryRun=All`, svc('s6', {}))).status, 201);

    const freed = made.find((s) => s.metadata.name === 's5').spec.clusterIP;
    await c.k('delete', 'svc', 's5', '-n', ns);
    assert.equal((await createOK(c, ns, svc('s6', {}))).spec.clusterIP, freed);
    // ExternalName frees s6's IP for s7; s6 cannot get one back while the range is full.
    assert.equal((await patch(c, ns, 's6', { spec: { type: 'ExternalName', externalName: 'b.example.com' } })).status, 200);
    assert.equal((await createOK(c, ns, svc('s7', {}))).spec.clusterIP, freed);
    const back = await patch(c, ns, 's6', { spec: { type: 'ClusterIP', externalName: null } });
    assert.equal(back.status, 500);
    assert.equal(back.json().message, 'Internal error occurred: failed to allocate a serviceIP: range is full');
    assert.equal(await c.k('get', 'svc', 's6', '-n', ns, '-o', 'jsonpath={.spec.type}'), 'ExternalName');
    await c.k('delete', 'svc', 's1', 's2', 's3', 's4', 's7', '-n', ns);
  });

  test('node ports fill up; a failed create gives back the ports it took; a type change frees them', async () => {
    const np1 = await createOK(c, ns, svc('np1', { type: 'NodePort', ports: [{ name: 'a', port: 80 }, { name: 'b', port: 81 }] }));
    await createOK(c, ns, svc('lb1', { type: 'LoadBalancer' }));
    const fail = await create(c, ns, svc('np2', { type: 'NodePort', ports: [{ name: 'a', port: 80 }, { name: 'b', port: 81 }] }));
    assert.equal(fail.status, 500);
    assert.equal(fail.json().message, 'Internal error occurred: failed to allocate a nodePort: range is full');
    // np2 took the last port for its first entry before failing; it is free again.
    const np3 = await createOK(c, ns, svc('np3', { type: 'NodePort' }));
    const all = [...np1.spec.ports.map((p: { nodePort: number }) => p.nodePort), np3.spec.ports[0].nodePort];
    assert.equal(new Set(all).size, 3);
    assert.equal((await create(c, ns, svc('np4', { type: 'NodePort' }))).status, 500);
    assert.equal(await c.k('patch', 'svc', 'np1', '-n', ns, '--type=json', '-p', '[{"op":"replace","path":"/spec/type","value":"ClusterIP"},{"op":"remove","path":"/spec/ports/0/nodePort"},{"op":"remove","path":"/spec/ports/1/nodePort"}]'), 'service/np1 patched\n');
    const np4 = await createOK(c, ns, svc('np4', { type: 'NodePort', ports: [{ name: 'a', port: 80 }, { name: 'b', port: 81 }] }));
    assert.deepEqual(np4.spec.ports.map((p: { nodePort: number }) => p.nodePort).sort(), np1.spec.ports.map((p: { nodePort: number }) => p.nodePort).sort());
    await c.k('delete', 'svc', 'np1', 'lb1', 'np3', 'np4', '-n', ns);
  });

  test('after a restart, missing reservations are restored and leaked ones freed (not those in flight)', async () => {
    await createOK(c, ns, svc('a', { clusterIP: '127.96.0.2', type: 'NodePort', ports: [{ port: 80, nodePort: 30001 }] }));
    await c.stop();
    const store = openStore(`sqlite://${path.join(c.dataDir, 'state.db')}`);
    await store.start();
    try {
      // A's reservations are lost; a Service that never got written leaked .4 and 30002 an hour
      // ago; another holds .5 and 30003 since a moment ago (its create may still be under way).
      await store.delete('/registry/ipaddresses/127.96.0.2');
      await store.delete('/registry/servicenodeports/30001');
      const reservation = (name: string, owner: string, at: Date) => JSON.stringify({
        metadata: { name, creationTimestamp: at.toISOString().replace(/\.\d{3}Z$/, 'Z') },
        spec: { parentRef: { group: '', resource: 'services', namespace: ns, name: owner } },
      });
      const hourAgo = new Date(Date.now() - 3600_000);
      await store.create('/registry/ipaddresses/127.96.0.4', reservation('127.96.0.4', 'ghost', hourAgo));
      await store.create('/registry/servicenodeports/30002', reservation('30002', 'ghost', hourAgo));
      await store.create('/registry/ipaddresses/127.96.0.5', reservation('127.96.0.5', 'inflight', new Date()));
      await store.create('/registry/servicenodeports/30003', reservation('30003', 'inflight', new Date()));
    } finally {
      await store.close();
    }
    await c.restart();
    assert.match((await create(c, ns, svc('b', { clusterIP: '127.96.0.2' }))).json().message, /provided IP is already allocated/);
    assert.match((await create(c, ns, svc('b', { type: 'NodePort', ports: [{ port: 80, nodePort: 30001 }] }))).json().message, /provided port is already allocated/);
    await createOK(c, ns, svc('c', { clusterIP: '127.96.0.4', type: 'NodePort', ports: [{ port: 80, nodePort: 30002 }] }));
    assert.match((await create(c, ns, svc('d', { clusterIP: '127.96.0.5' }))).json().message, /provided IP is already allocated/);
    assert.match((await create(c, ns, svc('d', { type: 'NodePort', ports: [{ port: 80, nodePort: 30003 }] }))).json().message, /provided port is already allocated/);
  });
});

describe('allocators sharing one store (as API servers sharing etcd)', () => {
  let dir: string;
  let store: Store;
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'kubelite-alloc-'));
    store = openStore(`sqlite://${path.join(dir, 'state.db')}`);
    await store.start();
  });
  after(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const service = (name: string, spec: Record<string, unknown> = {}) => ({
    apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' },
    spec: { type: 'ClusterIP', ipFamilies: ['IPv4'], ipFamilyPolicy: 'SingleStack', ports: [{ port: 80, protocol: 'TCP', targetPort: 80 }], ...spec },
  }) as unknown as KObject;

  test('concurrent allocations from two allocators never collide', async () => {
    const opts = { store, log: quiet, serviceCIDR: '127.96.0.0/28', nodePortRange: '30000-30009' };
    const a = new ServiceAllocator(opts), b = new ServiceAllocator(opts);
    await Promise.all([a.start(), b.start()]);
    try {
      // 14 usable addresses, 10 node ports; 10 Services each want both.
      const objs = Array.from({ length: 10 }, (_, i) => service(`s${i}`, { type: 'NodePort' }));
      await Promise.all(objs.map((o, i) => (i % 2 ? a : b).hooks().beginCreate!(o, false)));
      const ips = objs.map((o) => (o.spec as { clusterIP: string }).clusterIP);
      const ports = objs.map((o) => (o.spec as { ports: { nodePort: number }[] }).ports[0]!.nodePort);
      assert.equal(new Set(ips).size, 10);
      assert.equal(new Set(ports).size, 10);
      await assert.rejects(a.hooks().beginCreate!(service('more', { type: 'NodePort' }), false), /failed to allocate a nodePort: range is full/);
      // What one released the other can hand out.
      await b.releaseService(objs[0] as never);
      const again = service('again', { type: 'NodePort' });
      await a.hooks().beginCreate!(again, false);
      assert.equal((again.spec as { ports: { nodePort: number }[] }).ports[0]!.nodePort, ports[0]);
    } finally {
      a.stop();
      b.stop();
    }
  });

  test('repair frees a leaked reservation only after the grace period', async () => {
    // A reservation's age is counted from its creationTimestamp, whole seconds: up to 1 s older
    // than it is. The grace period leaves the first repair 4 s more on a slow machine.
    const graceMs = 5_000;
    const alloc = new ServiceAllocator({ store, log: quiet, serviceCIDR: '127.97.0.0/29', leakGracePeriodMs: graceMs, repairIntervalMs: 3_600_000 });
    await alloc.start();
    try {
      const o = service('never-written', { clusterIP: '127.97.0.3', clusterIPs: ['127.97.0.3'] });
      await alloc.hooks().beginCreate!(o, false);
      await alloc.repair();
      assert.ok(await store.get('/registry/ipaddresses/127.97.0.3'), 'kept within the grace period');
      await new Promise((r) => setTimeout(r, graceMs + 100));
      await alloc.repair();
      assert.equal(await store.get('/registry/ipaddresses/127.97.0.3'), undefined, 'freed after it');
    } finally {
      alloc.stop();
    }
  });
});

describe('range flags', () => {
  test('parsing and bands, as upstream', () => {
    assert.deepEqual(parseServiceCIDR('127.96.0.0/12'), { text: '127.96.0.0/12', network: '127.96.0.0', first: ipToInt('127.96.0.1'), size: 1048574, offset: 256 });
    assert.equal(parseServiceCIDR('10.0.0.0/24').offset, 16);
    assert.equal(parseServiceCIDR('10.0.0.0/28').offset, 0);
    assert.throws(() => parseServiceCIDR('10.0.0.0/8'), /the mask must be >= 12/);
    assert.throws(() => parseServiceCIDR('10.0.0.0/30'), /at least 8 IP addresses/);
    assert.throws(() => parseServiceCIDR('fd00::/108'), /--service-cidr/);
    assert.deepEqual(parseNodePortRange('30000-32767'), { text: '30000-32767', first: 30000, size: 2768, offset: 86 });
    assert.deepEqual(parseNodePortRange('30000+99'), { text: '30000-30099', first: 30000, size: 100, offset: 16 });
    assert.throws(() => parseNodePortRange('32767-30000'), /invalid range/);
  });

  test('kubelite up refuses a bad --service-cidr', async () => {
    await assert.rejects(startCluster({ args: ['--service-cidr', '10.0.0.0/8'] }), /the mask must be >= 12/);
  });
});
