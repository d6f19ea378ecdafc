// The `default/kubernetes` Service, Endpoints and EndpointSlice the API server maintains: their
// shape as upstream's, the serving certificate's SAN for the Service IP, repair of deleted or
// changed objects, and the Lease-based set of API servers (a second, fake API server's Lease
// appears while it is live and drops out when it expires), and a stop that races a Lease renewal.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { startCluster, type Cluster } from './helpers/cluster.js';
import { until } from './helpers/wait.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { NamespaceCache } from '../src/apiserver/namespaces.js';
import { Registry, type WriteOptions } from '../src/apiserver/registry.js';
import { KubernetesServiceController, LEASE_NAMESPACE } from '../src/apiserver/kubernetes-service.js';
import { RESOURCES } from '../src/api/resources.js';

const LEASES = '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases';
const microTime = (d: Date) => d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

function portOf(c: Cluster): number {
  return Number(new URL(c.url).port);
}

async function endpointsOf(c: Cluster): Promise<string> {
  const ep = (await c.request('GET', '/api/v1/namespaces/default/endpoints/kubernetes')).json();
  return (ep.subsets ?? []).flatMap((ss: any) => ss.addresses.flatMap((a: any) => ss.ports.map((p: any) => `${a.ip}:${p.port}`))).join(',');
}

async function sliceAddresses(c: Cluster): Promise<string> {
  const slices = (await c.request('GET', '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?labelSelector=kubernetes.io/service-name%3Dkubernetes')).json().items;
  return slices.flatMap((s: any) => s.endpoints.flatMap((e: any) => e.addresses.map((a: string) => `${s.metadata.name}=${a}:${s.ports[0].port}`))).sort().join(',');
}

/** The lease duration of the fake live API servers: renewed every second, they outlast a slow read. */
const LIVE_LEASE_SECONDS = 8;

/** Renew the named Leases every second, as their API servers would, until stop(). */
function renewEverySecond(c: Cluster, names: string[]): { stop(): Promise<void> } {
  let last: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    last = Promise.all(names.map((name) => c.request('PATCH', `${LEASES}/${name}`, { spec: { renewTime: microTime(new Date()) } },
      { headers: { 'Content-Type': 'application/merge-patch+json' } }))).catch(() => undefined);
  }, 1000);
  return {
    async stop() {
      clearInterval(timer);
      await last;
    },
  };
}

/** A Lease as another API server would write it. */
function fakeLease(name: string, endpoint: string, renewed: Date, seconds: number): object {
  return {
    apiVersion: 'coordination.k8s.io/v1', kind: 'Lease',
    metadata: { name, labels: { 'apiserver.kubernetes.io/identity': 'kube-apiserver' }, annotations: { 'kubelite.io/advertise-address': endpoint } },
    spec: { holderIdentity: `${name}_x`, leaseDurationSeconds: seconds, renewTime: microTime(renewed) },
  };
}

describe('the kubernetes Service', () => {
  let c: Cluster;
  before(async () => { c = await startCluster(); });
  after(async () => { await c?.cleanup(); });

  test('kubectl get svc and endpoints', async () => {
    const port = portOf(c);
    assert.match(await c.k('get', 'svc'), /^NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE\nkubernetes   ClusterIP   127\.96\.0\.1   <none>        443\/TCP   \d+s\n$/);
    assert.match(await c.k('get', 'endpoints', 'kubernetes'), new RegExp(`^NAME\\s+ENDPOINTS\\s+AGE\\nkubernetes   127\\.0\\.0\\.1:${port}   \\d+s\\n$`));
  });

  test('the Service as upstream creates it', async () => {
    const s = (await c.request('GET', '/api/v1/namespaces/default/services/kubernetes')).json();
    assert.deepEqual(s.metadata.labels, { component: 'apiserver', provider: 'kubernetes' });
    assert.deepEqual(s.spec, {
      type: 'ClusterIP', clusterIP: '127.96.0.1', clusterIPs: ['127.96.0.1'], ipFamilies: ['IPv4'], ipFamilyPolicy: 'SingleStack',
      internalTrafficPolicy: 'Cluster', sessionAffinity: 'None',
      ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: portOf(c) }],
    });
    assert.equal(s.metadata.managedFields[0].manager, 'kube-apiserver');
    const d = await c.k('describe', 'svc', 'kubernetes');
    assert.match(d, /^Selector:\s+<none>$/m);
    assert.match(d, /^IP Family Policy:\s+SingleStack$/m);
    assert.match(d, /^IP Families:\s+IPv4$/m);
    assert.match(d, /^IP:\s+127\.96\.0\.1$/m);
    assert.match(d, /^IPs:\s+127\.96\.0\.1$/m);
    assert.match(d, /^Port:\s+https  443\/TCP$/m);
    assert.match(d, new RegExp(`^TargetPort:\\s+${portOf(c)}/TCP$`, 'm'));
    assert.match(d, new RegExp(`^Endpoints:\\s+127\\.0\\.0\\.1:${portOf(c)}$`, 'm'));
  });

  test('Endpoints and EndpointSlice as upstream writes them', async () => {
    const port = portOf(c);
    const ep = (await c.request('GET', '/api/v1/namespaces/default/endpoints/kubernetes')).json();
    assert.deepEqual(ep.metadata.labels, { 'endpointslice.kubernetes.io/skip-mirror': 'true' });
    assert.deepEqual(ep.subsets, [{ addresses: [{ ip: '127.0.0.1' }], ports: [{ name: 'https', port, protocol: 'TCP' }] }]);
    const slice = (await c.request('GET', '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes')).json();
    assert.deepEqual(slice.metadata.labels, { 'kubernetes.io/service-name': 'kubernetes' });
    assert.equal(slice.metadata.ownerReferences, undefined);
    assert.equal(slice.addressType, 'IPv4');
    assert.deepEqual(slice.endpoints, [{ addresses: ['127.0.0.1'], conditions: { ready: true } }]);
    assert.deepEqual(slice.ports, [{ name: 'https', port, protocol: 'TCP' }]);
  });

  test('this server has a Lease', async () => {
    const port = portOf(c);
    const lease = (await c.request('GET', `${LEASES}/kube-apiserver-127-0-0-1-${port}`)).json();
    assert.deepEqual(lease.metadata.labels, { 'apiserver.kubernetes.io/identity': 'kube-apiserver' });
    assert.equal(lease.metadata.annotations['kubelite.io/advertise-address'], `127.0.0.1:${port}`);
    assert.equal(lease.spec.leaseDurationSeconds, 15);
    assert.ok(Date.now() - Date.parse(lease.spec.renewTime) < 15_000);
  });

  test('the serving certificate covers the Service IP', async () => {
    const cert = await new Promise<tls.PeerCertificate>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port: portOf(c), ca: c.caPem, servername: 'kubernetes.default.svc' }, () => {
        resolve(s.getPeerCertificate());
        s.end();
      });
      s.on('error', reject);
    });
    assert.match(cert.subjectaltname ?? '', /IP Address:127\.96\.0\.1\b/);
    assert.match(cert.subjectaltname ?? '', /DNS:kubernetes\.default\.svc\.cluster\.local/);
  });

  test('a live second API server appears; it drops out when its Lease expires; expired ones never count', async () => {
    const port = portOf(c);
    const expired = await c.request('POST', LEASES, fakeLease('kube-apiserver-127-0-0-3-6443', '127.0.0.3:6443', new Date(Date.now() - 3600_000), 15));
    assert.equal(expired.status, 201, expired.body);
    // Same port as this server: one subset, addresses sorted; another port: a subset and a slice of its own.
    // The test renews the two live Leases, as their API servers would, for as long as it reads
    // them: with a Lease left to expire during the reads, a slow read would race its expiry.
    const live = ['kube-apiserver-127-0-0-2', 'kube-apiserver-127-0-0-4-7443'];
    const created = await c.request('POST', LEASES, fakeLease(live[0]!, `127.0.0.2:${port}`, new Date(), LIVE_LEASE_SECONDS));
    assert.equal(created.status, 201, created.body);
    const otherPort = await c.request('POST', LEASES, fakeLease(live[1]!, '127.0.0.4:7443', new Date(), LIVE_LEASE_SECONDS));
    assert.equal(otherPort.status, 201, otherPort.body);
    const renewer = renewEverySecond(c, live);
    try {
      const both = await until(async () => {
        const eps = await endpointsOf(c);
        return eps.includes('127.0.0.2') && eps.includes('127.0.0.4') && eps;
      }, 'the live fake API servers in the Endpoints');
      assert.equal(both, `127.0.0.1:${port},127.0.0.2:${port},127.0.0.4:7443`);
      // The slices are written after the Endpoints, in the same pass: wait for them too.
      const slices = `kubernetes-7443=127.0.0.4:7443,kubernetes=127.0.0.1:${port},kubernetes=127.0.0.2:${port}`;
      assert.equal(await until(async () => (await sliceAddresses(c)) === slices && slices, 'the live fake API servers in the EndpointSlices'), slices);
      assert.match(await c.k('get', 'endpoints', 'kubernetes'), new RegExp(`kubernetes   127\\.0\\.0\\.1:${port},127\\.0\\.0\\.2:${port},127\\.0\\.0\\.4:7443`));
    } finally {
      await renewer.stop();
    }
    // Nobody renews them now: once their Leases expire they are gone, and the extra slice with them.
    const alone = await until(async () => {
      const eps = await endpointsOf(c);
      return eps === `127.0.0.1:${port}` && eps;
    }, 'the fake API servers to drop out');
    assert.equal(alone, `127.0.0.1:${port}`);
    await until(async () => (await sliceAddresses(c)) === `kubernetes=127.0.0.1:${port}`, 'the extra slice to go');
  });

  test('deleted or changed objects are put back', async () => {
    const port = portOf(c);
    await c.k('delete', 'endpoints', 'kubernetes');
    await until(async () => (await endpointsOf(c)) === `127.0.0.1:${port}`, 'the Endpoints to be recreated');
    await c.k('delete', 'endpointslice', 'kubernetes');
    await until(async () => (await sliceAddresses(c)) === `kubernetes=127.0.0.1:${port}`, 'the EndpointSlice to be recreated');
    const patched = await c.request('PATCH', '/api/v1/namespaces/default/endpoints/kubernetes',
      { subsets: [{ addresses: [{ ip: '10.9.9.9' }], ports: [{ name: 'https', port: 1, protocol: 'TCP' }] }] },
      { headers: { 'Content-Type': 'application/merge-patch+json' } });
    assert.equal(patched.status, 200);
    await until(async () => (await endpointsOf(c)) === `127.0.0.1:${port}`, 'the Endpoints to be reset');
    assert.equal(await c.k('delete', 'svc', 'kubernetes'), 'service "kubernetes" deleted\n');
    const back = await until(async () => {
      const r = await c.request('GET', '/api/v1/namespaces/default/services/kubernetes');
      return r.status === 200 && r.json();
    }, 'the Service to be recreated');
    assert.equal(back.spec.clusterIP, '127.96.0.1');
  });

  test('no reconcile writes when nothing changed', async () => {
    const rv = async () => ['services/kubernetes', 'endpoints/kubernetes'].map(async (p) => (await c.request('GET', `/api/v1/namespaces/default/${p}`)).json().metadata.resourceVersion);
    const slice = async () => (await c.request('GET', '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes')).json().metadata.resourceVersion;
    const before = [...await Promise.all(await rv()), await slice()];
    // A Lease renewal (every 10 s) triggers a reconcile pass.
    const lease = `${LEASES}/kube-apiserver-127-0-0-1-${portOf(c)}`;
    const renewed = (await c.request('GET', lease)).json().spec.renewTime;
    await until(async () => (await c.request('GET', lease)).json().spec.renewTime !== renewed, 'a renewal', 30_000);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual([...await Promise.all(await rv()), await slice()], before);
  });

  test('after a restart on another port the objects follow it; the old Lease is gone', async () => {
    const oldPort = portOf(c);
    await c.restart();
    const port = portOf(c);
    assert.notEqual(port, oldPort);
    assert.equal(await endpointsOf(c), `127.0.0.1:${port}`);
    assert.equal(await sliceAddresses(c), `kubernetes=127.0.0.1:${port}`);
    assert.equal(await c.k('get', 'svc', 'kubernetes', '-o', 'jsonpath={.spec.ports[0].targetPort}'), String(port));
    assert.equal((await c.request('GET', `${LEASES}/kube-apiserver-127-0-0-1-${oldPort}`)).status, 404);
  });
});

describe('the kubernetes Service with other ranges and an advertise address', () => {
  let c: Cluster;
  before(async () => { c = await startCluster({ args: ['--service-cidr', '127.100.0.0/16', '--advertise-address', '127.0.0.7'] }); });
  after(async () => { await c?.cleanup(); });

  test('first IP of the CIDR, the advertised address in the endpoints', async () => {
    assert.equal(await c.k('get', 'svc', 'kubernetes', '-o', 'jsonpath={.spec.clusterIP}'), '127.100.0.1');
    assert.equal(await endpointsOf(c), `127.0.0.7:${portOf(c)}`);
  });
});

describe('stopping the kubernetes Service controller', () => {
  test('a Lease renewal under way when stop() is called does not write the Lease back', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kubelite-k8s-svc-'));
    const store = new SqliteStore({ path: path.join(dir, 'state.db') });
    await store.start();
    const log = pino({ level: 'silent' });
    const registry = new Registry(store, new NamespaceCache(store, log));
    const write: WriteOptions = { dryRun: false, fieldValidation: 'Strict', warnings: [] };
    const ns = RESOURCES.find((r) => r.kind === 'Namespace')!;
    const leaseType = RESOURCES.find((r) => r.kind === 'Lease')!;
    for (const name of ['default', LEASE_NAMESPACE]) await registry.create(ns, undefined, { metadata: { name } }, write);

    // The renewal's read of its Lease is held until this server's stop() has deleted the Lease
    // (what a renewal racing the stop would see), or for 1 s when stop() waits for it.
    let holdNextRead = false;
    let readHeld: () => void = () => {};
    const readIsHeld = new Promise<void>((resolve) => (readHeld = resolve));
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => (release = resolve));
    let leaseDeleted = false;
    let heldRead: Promise<unknown> | undefined;
    const leaseWrites: Promise<unknown>[] = [];
    const gated = new Proxy(registry, {
      get(target, prop, receiver) {
        const real = Reflect.get(target, prop, receiver);
        if (typeof real !== 'function') return real;
        if (prop === 'get') {
          return (...args: Parameters<Registry['get']>) => {
            if (!holdNextRead || args[0] !== leaseType) return target.get(...args);
            holdNextRead = false;
            readHeld();
            heldRead = released.then(() => target.get(...args));
            return heldRead;
          };
        }
        if (prop === 'create' || prop === 'update') {
          return (...args: unknown[]) => {
            const out = (real as (...a: unknown[]) => Promise<unknown>).apply(target, args);
            if (args[0] === leaseType) leaseWrites.push(out.catch(() => undefined));
            return out;
          };
        }
        if (prop === 'delete') {
          return async (...args: Parameters<Registry['delete']>) => {
            const out = await target.delete(...args);
            if (args[0] === leaseType) {
              leaseDeleted = true;
              release();
            }
            return out;
          };
        }
        return real.bind(target);
      },
    });

    const controller = new KubernetesServiceController({
      registry: gated, store, log, serviceIP: '127.96.0.1', advertiseAddress: '127.0.0.9', port: 6443,
      renewIntervalMs: 50, leaseDurationMs: 15_000,
    });
    try {
      await controller.start();
      assert.ok(await registry.getRaw(leaseType, LEASE_NAMESPACE, controller.leaseName), 'the Lease is written at start');
      holdNextRead = true;
      await readIsHeld;
      const fallback = setTimeout(release, 1_000);
      await controller.stop();
      clearTimeout(fallback);
      release();
      // The renewal goes on from its read to its write in the same turn; then the write settles.
      await heldRead?.catch(() => undefined);
      await new Promise((r) => setImmediate(r));
      await Promise.all(leaseWrites);
      assert.ok(leaseDeleted, 'stop() deleted the Lease');
      assert.equal(await registry.getRaw(leaseType, LEASE_NAMESPACE, controller.leaseName), undefined, 'the Lease stays deleted');
    } finally {
      await controller.stop();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
