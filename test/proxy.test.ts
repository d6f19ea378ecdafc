// The userspace service proxy (src/proxy/) against a real server: Services with explicit cluster
// IPs and hand-written EndpointSlices (no controllers), backends that are plain Node servers on
// their own loopback addresses, and the proxy running in the test process. Balancing
// (round-robin, random), ClientIP affinity and its timeout, refusal without endpoints, live
// endpoint changes, the terminating-endpoint fallback, UDP, NodePort, half-close, and the
// message for a port that needs root — checked with a proxy running as an unprivileged user.
// The suite runs with TCP relayed in the test process (handles, net) and by two worker
// processes (round-robin is then per worker; spread, shared affinity, crash and stop checked).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import dgram from 'node:dgram';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCluster, type Cluster } from './helpers/cluster.js';
import { call } from './helpers/run-controllers.js';
import { until, sleep } from './helpers/wait.js';
import { createService, putSlice, fetchName, count, sequential, listen, keepAliveClient } from './helpers/proxy-api.js';
import { RestClient } from '../src/client/rest.js';
import { controllerContext, type ControllerContext } from '../src/client/factory.js';
import { UserspaceProxy, listenErrorMessage, type ListenerStatus } from '../src/proxy/userspace.js';
import { DEFAULT_TCP_IMPLEMENTATION } from '../src/proxy/tcp.js';
import { Balancer } from '../src/proxy/balancer.js';
import { endpointsByPort, usableEndpoints, type ProxyEndpoint } from '../src/proxy/endpoints.js';

const NS = '/api/v1/namespaces/default';
const SLICES = '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices';
/**
 * ClusterIPs of this run, chosen by the test: the second /24 of the cluster's own service CIDR
 * (test/helpers/networks.ts), clear of the first addresses the allocator hands out.
 */
function serviceNet(c: Cluster): string {
  const [a, b, cc] = c.networks!.serviceCIDR.split('/')[0]!.split('.');
  return `${a}.${b}.${Number(cc) + 1}`;
}
const BACKEND_NET = `127.77.${1 + Math.floor(Math.random() * 254)}`;
const A = `${BACKEND_NET}.1`, B = `${BACKEND_NET}.2`, C = `${BACKEND_NET}.3`;
const NAMES: Record<string, string> = { [A]: 'a', [B]: 'b', [C]: 'c' };
const HTTP_PORT = 18080;

// ---- helpers ------------------------------------------------------------------------------------

/** Connect and report how it went: `connected`, or the error code (`ECONNREFUSED`, `ECONNRESET`...). */
function tryConnect(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.setTimeout(10_000, () => {
      s.destroy();
      resolve('timeout');
    });
    s.once('connect', () => {
      // A proxy that accepted and then resets would show here.
      s.once('close', () => resolve('closed'));
      s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      s.once('data', () => {
        s.destroy();
        resolve('connected');
      });
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
  });
}

/** A UDP exchange: send one datagram from `socket`, resolve with the reply and who sent it. */
function udpAsk(socket: dgram.Socket, msg: string, host: string, port: number): Promise<{ text: string; from: string }> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: Buffer, r: dgram.RemoteInfo) => {
      socket.removeListener('error', onError);
      resolve({ text: m.toString(), from: `${r.address}:${r.port}` });
    };
    const onError = (e: Error) => {
      socket.removeListener('message', onMessage);
      reject(e);
    };
    socket.once('message', onMessage);
    socket.once('error', onError);
    socket.send(msg, port, host);
  });
}

function udpClient(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  return new Promise((resolve) => s.bind(0, '127.0.0.1', () => resolve(s)));
}

// ---- pure parts ---------------------------------------------------------------------------------

describe('balancer', () => {
  const eps = (...keys: string[]) => keys.map((key) => ({ key }));

  test('round-robin cycles in order and keeps its place across endpoint updates', () => {
    const b = new Balancer<{ key: string }>('round-robin');
    b.setEndpoints(eps('x', 'y', 'z'));
    assert.deepEqual([1, 2, 3, 4].map(() => b.pick()!.key), ['x', 'y', 'z', 'x']);
    b.setEndpoints(eps('x', 'y', 'z', 'w'));
    assert.equal(b.pick()!.key, 'y');
    b.setEndpoints(eps('x'));
    assert.equal(b.pick()!.key, 'x');
    b.setEndpoints([]);
    assert.equal(b.pick(), undefined);
  });

  test('excluded endpoints are skipped; none left means none', () => {
    const b = new Balancer<{ key: string }>('round-robin');
    b.setEndpoints(eps('x', 'y', 'z'));
    assert.equal(b.pick(undefined, new Set(['x']))!.key, 'y');
    assert.equal(b.pick(undefined, new Set(['z']))!.key, 'x');
    assert.equal(b.pick(undefined, new Set(['x', 'y', 'z'])), undefined);
    const r = new Balancer<{ key: string }>('random');
    r.setEndpoints(eps('x', 'y'));
    for (let i = 0; i < 20; i++) assert.equal(r.pick(undefined, new Set(['x']))!.key, 'y');
  });

  test('random picks every endpoint', () => {
    const b = new Balancer<{ key: string }>('random');
    b.setEndpoints(eps('x', 'y', 'z'));
    const seen = count(Array.from({ length: 300 }, () => b.pick()!.key));
    assert.deepEqual(Object.keys(seen).sort(), ['x', 'y', 'z']);
  });

  test('ClientIP affinity: sticky within the timeout (sliding), chosen afresh after it or when the endpoint leaves', () => {
    let now = 1_000_000;
    const b = new Balancer<{ key: string }>('round-robin', () => now);
    b.setEndpoints(eps('x', 'y', 'z'));
    b.setAffinity(10_000);
    assert.equal(b.pick('10.0.0.1')!.key, 'x');
    assert.equal(b.pick('10.0.0.2')!.key, 'y');
    now += 9_000;
    assert.equal(b.pick('10.0.0.1')!.key, 'x', 'within the timeout');
    now += 9_000;
    assert.equal(b.pick('10.0.0.1')!.key, 'x', 'each connection refreshes the timer');
    now += 10_001;
    assert.equal(b.pick('10.0.0.1')!.key, 'z', 'expired: the next round-robin choice');
    b.setEndpoints(eps('x', 'y'));
    assert.equal(b.pick('10.0.0.1')!.key, 'x', 'its endpoint left: chosen afresh');
    assert.equal(b.pick('10.0.0.1')!.key, 'x');
    assert.equal(b.pick('10.0.0.1', new Set(['x']))!.key, 'y', 'a failed endpoint is not insisted on');
    now += 20_000;
    b.sweep();
    assert.equal(b.pinnedClients, 0);
  });
});

describe('endpoints (kube-proxy rules)', () => {
  const slice = (name: string, endpoints: unknown[], ports: unknown[], addressType = 'IPv4') => ({ metadata: { name }, addressType, endpoints, ports }) as any;

  test('slices merge per port name and protocol, duplicates collapse, order is by IP:port', () => {
    const m = endpointsByPort([
      slice('s2', [{ addresses: ['10.0.0.2'] }, { addresses: ['10.0.0.10'], conditions: { ready: false } }], [{ name: 'http', port: 80, protocol: 'TCP' }]),
      slice('s1', [{ addresses: ['10.0.0.2'], conditions: { ready: false } }, { addresses: ['10.0.0.1', '10.9.9.9'] }], [{ name: 'http', port: 80, protocol: 'TCP' }, { name: 'dns', port: 53, protocol: 'UDP' }]),
      slice('s3', [{ addresses: ['fd00::1'] }], [{ name: 'http', port: 80, protocol: 'TCP' }], 'IPv6'),
      slice('s4', [{ addresses: ['10.0.0.7'] }], [{ name: 'http', protocol: 'TCP' }]),
    ], 'IPv4');
    const http80 = m.get('http/TCP')!;
    assert.deepEqual(http80.map((e) => e.key), ['10.0.0.10:80', '10.0.0.1:80', '10.0.0.2:80']);
    // s1 comes first by name, so its copy of 10.0.0.2 (not ready) wins.
    assert.equal(http80.find((e) => e.ip === '10.0.0.2')!.ready, false);
    assert.deepEqual(m.get('dns/UDP')!.map((e) => e.key), ['10.0.0.1:53', '10.0.0.2:53']);
  });

  test('ready endpoints, else serving terminating ones', () => {
    const ep = (key: string, ready: boolean, serving: boolean, terminating: boolean): ProxyEndpoint => ({ ip: key, port: 1, key, ready, serving, terminating });
    assert.deepEqual(usableEndpoints([ep('a', true, true, false), ep('b', false, true, true), ep('c', false, false, false)]).map((e) => e.key), ['a']);
    assert.deepEqual(usableEndpoints([ep('b', false, true, true), ep('c', false, false, true), ep('d', false, true, false)]).map((e) => e.key), ['b']);
    assert.deepEqual(usableEndpoints([ep('c', false, false, true)]), []);
  });

  test('TCP is relayed with stream handles on this Node', () => {
    assert.equal(DEFAULT_TCP_IMPLEMENTATION, 'handles');
  });

  test('a bind that needs root says so', () => {
    const err = Object.assign(new Error('listen EACCES: permission denied 127.96.0.10:80'), { code: 'EACCES' });
    const msg = listenErrorMessage('TCP', '127.96.0.10', 80, 'default/web:http', err);
    assert.match(msg, /^cannot listen on 127\.96\.0\.10:80\/TCP for service default\/web:http: permission denied — ports below \d+ need root or CAP_NET_BIND_SERVICE/);
    assert.match(msg, /the other services keep working/);
    const inUse = Object.assign(new Error('x'), { code: 'EADDRINUSE' });
    assert.match(listenErrorMessage('UDP', '127.0.0.1', 30053, 'default/dns:dns', inUse), /127\.0\.0\.1:30053\/UDP .*already in use/);
  });
});

// ---- the proxy against a real server --------------------------------------------------------

const CONFIGS = [
  { tcpImplementation: 'handles', workers: 1 },
  { tcpImplementation: 'net', workers: 1 },
  { tcpImplementation: 'handles', workers: 2 },
] as const;

for (const { tcpImplementation, workers } of CONFIGS) describe(`userspace proxy (TCP relayed with ${tcpImplementation}, ${workers} process${workers > 1 ? 'es' : ''})`, () => {
  let c: Cluster;
  let client: RestClient;
  let ctx: ControllerContext;
  let proxy: UserspaceProxy;
  const servers: { close(): void }[] = [];
  let nextIP = 1;
  const svcIP = () => `${serviceNet(c)}.${nextIP++}`;

  /**
   * A closed frontend refuses connections. With workers, the listener is reported closed when the
   * primary lets go of it; each worker closes its copy when the message reaches it, an IPC hop
   * later (a connection in between is reset: the balancers the workers have are already empty).
   */
  const refused = async (host: string, port: number) => {
    if (workers === 1) assert.equal(await tryConnect(host, port), 'ECONNREFUSED');
    else await until(async () => (await tryConnect(host, port)) === 'ECONNREFUSED', `${host}:${port} refused`, 5000);
  };
  const statusOf = (servicePort: string, address?: string): ListenerStatus | undefined =>
    proxy.status().find((s) => s.servicePort === servicePort && (!address || s.address === address));
  const programmed = (servicePort: string, endpoints: string[], address?: string) =>
    until(() => {
      const s = statusOf(servicePort, address);
      return s && s.endpoints.join(',') === endpoints.join(',') && (endpoints.length === 0 || s.state === 'open') && s;
    }, `${servicePort} programmed with ${endpoints.join(',') || 'no endpoints'}`);

  before(async () => {
    c = await startCluster({ isolatedNetwork: true });
    client = await RestClient.fromKubeconfig(c.kubeconfig, 'proxy-test');
    ctx = controllerContext(client);
    // Three HTTP backends that answer with their name, each on its own address.
    for (const ip of [A, B, C]) {
      const s = http.createServer((_req, res) => res.end(`${NAMES[ip]}\n`));
      await listen(s, ip, HTTP_PORT);
      servers.push(s);
      // A UDP backend on the same address: replies `<name>:<datagram>`.
      const u = dgram.createSocket('udp4');
      u.on('message', (m, r) => u.send(`${NAMES[ip]}:${m}`, r.port, r.address));
      await new Promise<void>((resolve) => u.bind(15353, ip, () => resolve()));
      servers.push(u);
    }
    proxy = new UserspaceProxy(ctx, { udpIdleTimeoutMs: 60_000, tcpImplementation, workers });
    await proxy.start();
  });

  after(async () => {
    await proxy?.stop();
    ctx?.informers.stop();
    client?.close();
    for (const s of servers) s.close();
    await c?.cleanup();
  });

  test('round-robin spreads new connections evenly over the ready endpoints', async () => {
    const ip = svcIP();
    await createService(c, 'rr', { ip, ports: [{ name: 'http', port: 8080, targetPort: HTTP_PORT }] });
    await putSlice(c, 'rr', [{ ip: A }, { ip: B }, { ip: C }], [{ name: 'http', port: HTTP_PORT }]);
    await programmed('default/rr:http', [A, B, C].map((x) => `${x}:${HTTP_PORT}`));
    const names = await sequential(30, () => fetchName(ip, 8080));
    if (workers === 1) {
      assert.deepEqual(count(names), { a: 10, b: 10, c: 10 });
      // A strict rotation over the three.
      assert.equal(new Set(names.slice(0, 3)).size, 3);
      assert.ok(names.every((n, i) => n === names[i % 3]), names.join(' '));
    } else {
      // Each worker rotates on its own: every endpoint's share is within one per worker of the others'.
      const counts = Object.values(count(names));
      assert.equal(counts.length, 3, names.join(' '));
      assert.ok(Math.max(...counts) - Math.min(...counts) <= workers, names.join(' '));
    }
  });

  test('a Service without usable endpoints refuses connections at once, and opens when it gets one', async () => {
    const ip = svcIP();
    await createService(c, 'empty', { ip, ports: [{ name: 'http', port: 8080, targetPort: HTTP_PORT }] });
    await until(() => statusOf('default/empty:http'), 'frontend known');
    assert.equal(statusOf('default/empty:http')!.state, 'closed');
    assert.equal(await tryConnect(ip, 8080), 'ECONNREFUSED');
    // Endpoints that are neither ready nor serving-terminating do not count.
    await putSlice(c, 'empty', [{ ip: A, ready: false }, { ip: B, ready: false, serving: false, terminating: true }], [{ name: 'http', port: HTTP_PORT }]);
    await until(async () => (await client.get<any>(`${SLICES}/empty-1`)).endpoints.length === 2, 'slice written');
    await sleep(200); // give the proxy the chance to (wrongly) open
    assert.equal(await tryConnect(ip, 8080), 'ECONNREFUSED');
    await putSlice(c, 'empty', [{ ip: A }], [{ name: 'http', port: HTTP_PORT }]);
    await programmed('default/empty:http', [`${A}:${HTTP_PORT}`]);
    assert.equal(await fetchName(ip, 8080), 'a');
    await putSlice(c, 'empty', [], [{ name: 'http', port: HTTP_PORT }]);
    await programmed('default/empty:http', []);
    await refused(ip, 8080);
    // A deleted Service's frontend goes away.
    await call(c, 'DELETE', `${NS}/services/empty`);
    await until(() => !statusOf('default/empty:http'), 'frontend removed');
  });

  test('endpoint changes apply live; an established connection to a removed endpoint carries on', async () => {
    const ip = svcIP();
    await createService(c, 'live', { ip, ports: [{ name: 'http', port: 8080, targetPort: HTTP_PORT }] });
    await putSlice(c, 'live', [{ ip: A }, { ip: B }], [{ name: 'http', port: HTTP_PORT }]);
    await programmed('default/live:http', [`${A}:${HTTP_PORT}`, `${B}:${HTTP_PORT}`]);
    const { ask, close } = keepAliveClient(ip, 8080);
    const first = await ask();
    const other = first.name === 'a' ? B : A;
    await putSlice(c, 'live', [{ ip: other }], [{ name: 'http', port: HTTP_PORT }]);
    await programmed('default/live:http', [`${other}:${HTTP_PORT}`]);
    const again = await ask();
    assert.equal(again.localPort, first.localPort, 'the same connection');
    assert.equal(again.name, first.name, 'still relayed to the endpoint that left');
    close();
    const fresh = await sequential(4, () => fetchName(ip, 8080));
    assert.deepEqual(fresh, Array(4).fill(NAMES[other]));
  });

  test('terminating endpoints serve only while no ready endpoint exists', async () => {
    const ip = svcIP();
    await createService(c, 'term', { ip, ports: [{ name: 'http', port: 8080, targetPort: HTTP_PORT }] });
    await putSlice(c, 'term', [
      { ip: A, ready: false, serving: true, terminating: true },
      { ip: B, ready: false, serving: false, terminating: true },
    ], [{ name: 'http', port: HTTP_PORT }]);
    await programmed('default/term:http', [`${A}:${HTTP_PORT}`]);
    assert.deepEqual(await sequential(6, () => fetchName(ip, 8080)), Array(6).fill('a'));
    await putSlice(c, 'term', [
      { ip: A, ready: false, serving: true, terminating: true },
      { ip: B, ready: false, serving: false, terminating: true },
      { ip: C },
    ], [{ name: 'http', port: HTTP_PORT }]);
    await programmed('default/term:http', [`${C}:${HTTP_PORT}`]);
    assert.deepEqual(await sequential(6, () => fetchName(ip, 8080)), Array(6).fill('c'));
  });

  test('an endpoint that refuses is skipped for another', async () => {
    const ip = svcIP();
    const dead = `${BACKEND_NET}.9`; // nothing listens there
    await createService(c, 'retry', { ip, ports: [{ name: 'http', port: 8080, targetPort: HTTP_PORT }] });
    await putSlice(c, 'retry', [{ ip: A }, { ip: dead }], [{ name: 'http', port: HTTP_PORT }]);
    await programmed('default/retry:http', [`${A}:${HTTP_PORT}`, `${dead}:${HTTP_PORT}`]);
    const before = (await proxy.metrics.totals()).dialErrors;
    assert.deepEqual(await sequential(6, () => fetchName(ip, 8080)), Array(6).fill('a'));
    assert.ok((await proxy.metrics.totals()).dialErrors > before, 'the refused dials were counted');
  });

  test('sessionAffinity ClientIP pins each client address to one endpoint; different clients spread', async () => {
    const ip = svcIP();
    await createService(c, 'sticky', { ip, ports: [{ name: 'http', port: 8080, targetPort: HTTP_PORT }], affinitySeconds: 10800 });
    await putSlice(c, 'sticky', [{ ip: A }, { ip: B }, { ip: C }], [{ name: 'http', port: HTTP_PORT }]);
    await programmed('default/sticky:http', [A, B, C].map((x) => `${x}:${HTTP_PORT}`));
    const perClient: Record<string, string[]> = {};
    for (const clientIP of ['127.0.0.21', '127.0.0.22', '127.0.0.23']) {
      perClient[clientIP] = await sequential(6, () => fetchName(ip, 8080, clientIP));
    }
    for (const [clientIP, names] of Object.entries(perClient)) assert.equal(new Set(names).size, 1, `${clientIP} stuck to one endpoint: ${names}`);
    assert.equal(new Set(Object.values(perClient).map((n) => n[0])).size, 3, 'three clients, three endpoints');
    // An endpoint that leaves releases its clients.
    const pinned = perClient['127.0.0.21']![0]!;
    const left = [A, B, C].filter((x) => NAMES[x] !== pinned);
    await putSlice(c, 'sticky', left.map((x) => ({ ip: x })), [{ name: 'http', port: HTTP_PORT }]);
    await programmed('default/sticky:http', left.map((x) => `${x}:${HTTP_PORT}`));
    const moved = await sequential(4, () => fetchName(ip, 8080, '127.0.0.21'));
    assert.equal(new Set(moved).size, 1);
    assert.notEqual(moved[0], pinned);
  });

  test('ClientIP affinity ends after timeoutSeconds without connections', async () => {
    const ip = svcIP();
    await createService(c, 'brief', { ip, ports: [{ name: 'http', port: 8080, targetPort: HTTP_PORT }], affinitySeconds: 1 });
    await putSlice(c, 'brief', [{ ip: A }, { ip: B }, { ip: C }], [{ name: 'http', port: HTTP_PORT }]);
    await programmed('default/brief:http', [A, B, C].map((x) => `${x}:${HTTP_PORT}`));
    const first = await fetchName(ip, 8080, '127.0.0.31');
    const second = await fetchName(ip, 8080, '127.0.0.32');
    assert.notEqual(first, second);
    await sleep(1500);
    // Round-robin goes on to the third endpoint: the first client is no longer pinned.
    const after = await fetchName(ip, 8080, '127.0.0.31');
    assert.notEqual(after, first);
    assert.notEqual(after, second);
    assert.equal(await fetchName(ip, 8080, '127.0.0.31'), after, 'pinned anew');
  });

  test('NodePort: the node address at the nodePort reaches the Service too', async () => {
    const ip = svcIP();
    const nodePort = 30000 + Math.floor(Math.random() * 2700);
    await createService(c, 'np', { ip, type: 'NodePort', ports: [{ name: 'http', port: 8080, targetPort: HTTP_PORT, nodePort }] });
    await putSlice(c, 'np', [{ ip: B }], [{ name: 'http', port: HTTP_PORT }]);
    await programmed('default/np:http', [`${B}:${HTTP_PORT}`], '127.0.0.1');
    await programmed('default/np:http', [`${B}:${HTTP_PORT}`], ip);
    assert.equal(statusOf('default/np:http', '127.0.0.1')!.port, nodePort);
    assert.equal(await fetchName('127.0.0.1', nodePort), 'b');
    assert.equal(await fetchName(ip, 8080), 'b');
    // Back to ClusterIP: the NodePort closes.
    const svc = await client.get<any>(`${NS}/services/np`);
    svc.spec.type = 'ClusterIP';
    delete svc.spec.ports[0].nodePort;
    await client.update(`${NS}/services/np`, svc);
    await until(() => !statusOf('default/np:http', '127.0.0.1'), 'NodePort frontend removed');
    await refused('127.0.0.1', nodePort);
  });

  test('half-close passes through: the client ends its side and still reads the answer', async () => {
    const ip = svcIP();
    const port = 19001;
    // Counts what it receives until the client's FIN, then answers and closes.
    const counter = net.createServer({ allowHalfOpen: true }, (s) => {
      let n = 0;
      s.on('data', (d) => { n += d.length; });
      s.on('end', () => s.end(`received ${n} bytes`));
    });
    await listen(counter, A, port);
    servers.push(counter);
    await createService(c, 'halfclose', { ip, ports: [{ name: 'raw', port, targetPort: port }] });
    await putSlice(c, 'halfclose', [{ ip: A }], [{ name: 'raw', port }]);
    await programmed('default/halfclose:raw', [`${A}:${port}`]);
    const answer = await new Promise<string>((resolve, reject) => {
      const s = net.connect({ host: ip, port, allowHalfOpen: true });
      let got = '';
      s.on('data', (d) => { got += d; });
      s.on('end', () => resolve(got));
      s.on('error', reject);
      s.write(Buffer.alloc(300_000, 7));
      s.end();
    });
    assert.equal(answer, 'received 300000 bytes');
  });

  test('UDP: flows are balanced, each flow keeps its endpoint, replies come from the service address', async () => {
    const ip = svcIP();
    await createService(c, 'dns', { ip, ports: [{ name: 'dns', port: 53, targetPort: 15353, protocol: 'UDP' }] });
    await putSlice(c, 'dns', [{ ip: A }, { ip: B }, { ip: C }], [{ name: 'dns', port: 15353, protocol: 'UDP' }]);
    await programmed('default/dns:dns', [A, B, C].map((x) => `${x}:15353`));
    const clients = await Promise.all([1, 2, 3].map(() => udpClient()));
    try {
      const firsts = [];
      for (const s of clients) {
        const r = await udpAsk(s, 'hello', ip, 53);
        assert.equal(r.from, `${ip}:53`);
        firsts.push(r.text.split(':')[0]);
        assert.match(r.text, /^[abc]:hello$/);
      }
      assert.deepEqual([...firsts].sort(), ['a', 'b', 'c'], 'three flows, three endpoints');
      for (const [i, s] of clients.entries()) {
        const r = await udpAsk(s, 'again', ip, 53);
        assert.equal(r.text, `${firsts[i]}:again`, 'a flow keeps its endpoint');
      }
      // A flow whose endpoint stops being usable moves on its next datagram.
      const gone = firsts[0]!;
      const left = [A, B, C].filter((x) => NAMES[x] !== gone);
      await putSlice(c, 'dns', left.map((x) => ({ ip: x })), [{ name: 'dns', port: 15353, protocol: 'UDP' }]);
      await programmed('default/dns:dns', left.map((x) => `${x}:15353`));
      const moved = await udpAsk(clients[0]!, 'moved', ip, 53);
      assert.notEqual(moved.text.split(':')[0], gone);
      // No endpoints: the frontend closes (clients get port unreachable).
      await putSlice(c, 'dns', [], [{ name: 'dns', port: 15353, protocol: 'UDP' }]);
      await programmed('default/dns:dns', []);
      assert.equal(statusOf('default/dns:dns')!.state, 'closed');
    } finally {
      for (const s of clients) s.close();
    }
  });

  test('connections spread over the workers', { skip: workers === 1 && 'one process' }, async () => {
    const ip = svcIP();
    await createService(c, 'spread', { ip, ports: [{ name: 'http', port: 8080, targetPort: HTTP_PORT }] });
    await putSlice(c, 'spread', [{ ip: A }, { ip: B }, { ip: C }], [{ name: 'http', port: HTTP_PORT }]);
    await programmed('default/spread:http', [A, B, C].map((x) => `${x}:${HTTP_PORT}`));
    const before = (await proxy.workerCounters()).map((w) => w.accepted.TCP);
    assert.equal(before.length, workers);
    // Which worker accepts is the kernel's choice (a busy machine can hand one burst to one
    // worker), so bursts of 60 go on until every worker has taken some; a worker that never
    // accepts fails on the timeout.
    let sent = 0;
    const accepted = await until(async () => {
      const names = await Promise.all(Array.from({ length: 60 }, () => fetchName(ip, 8080)));
      sent += 60;
      assert.deepEqual(Object.keys(count(names)).sort(), ['a', 'b', 'c']);
      const now = (await proxy.workerCounters()).map((w, i) => w.accepted.TCP - before[i]!);
      assert.equal(now.reduce((x, y) => x + y, 0), sent, `accepted: ${now}`);
      return now.every((n) => n > 0) && now;
    }, 'every worker accepting connections');
    assert.equal(accepted.length, workers);
  });

  test('ClientIP affinity is one table across workers: many clients, many concurrent connections each', { skip: workers === 1 && 'one process' }, async () => {
    const ip = svcIP();
    await createService(c, 'sticky-many', { ip, ports: [{ name: 'http', port: 8080, targetPort: HTTP_PORT }], affinitySeconds: 10800 });
    await putSlice(c, 'sticky-many', [{ ip: A }, { ip: B }, { ip: C }], [{ name: 'http', port: HTTP_PORT }]);
    await programmed('default/sticky-many:http', [A, B, C].map((x) => `${x}:${HTTP_PORT}`));
    const clients = Array.from({ length: 24 }, (_, i) => `127.0.0.${60 + i}`);
    const before = (await proxy.workerCounters()).map((w) => w.accepted.TCP);
    // Three rounds, each with every client's connections at once (they race on both workers).
    const perClient = new Map<string, string[]>(clients.map((x) => [x, []]));
    for (let round = 0; round < 3; round++) {
      await Promise.all(clients.flatMap((clientIP) => Array.from({ length: 4 }, async () => {
        perClient.get(clientIP)!.push(await fetchName(ip, 8080, clientIP));
      })));
    }
    for (const [clientIP, names] of perClient) assert.equal(new Set(names).size, 1, `${clientIP} went to ${names}`);
    const firsts = count([...perClient.values()].map((n) => n[0]!));
    assert.deepEqual(Object.keys(firsts).sort(), ['a', 'b', 'c'], `clients spread: ${JSON.stringify(firsts)}`);
    const accepted = (await proxy.workerCounters()).map((w, i) => w.accepted.TCP - before[i]!);
    assert.ok(accepted.every((n) => n > 0), `both workers relayed: ${accepted}`);
  });

  test('a worker that dies is replaced and the Service keeps answering', { skip: workers === 1 && 'one process' }, async () => {
    const [victim, ...others] = proxy.workerPids();
    process.kill(victim!, 'SIGKILL');
    const pids = await until(() => {
      const now = proxy.workerPids();
      return now.length === workers && !now.includes(victim!) && now;
    }, 'a replacement worker', 15_000);
    for (const p of others) assert.ok(pids.includes(p), 'the other workers carry on');
    // Its replacement gets the listeners: every connection is answered, whichever worker takes it.
    const names = await until(async () => {
      const before = (await proxy.workerCounters()).map((w) => w.accepted.TCP);
      return before.length === workers && (await Promise.all(Array.from({ length: 30 }, () => fetchName(statusOf('default/rr:http')!.address, 8080))));
    }, 'answers after the crash');
    assert.equal(names.length, 30);
  });

  test('metrics count what went through', async () => {
    const text = await proxy.metrics.registry.metrics();
    const tcp = Number(/kubelite_proxy_connections_total\{protocol="TCP"\} (\d+)/.exec(text)?.[1]);
    assert.ok(tcp > 50, `TCP connections counted: ${tcp}`);
    assert.match(text, /kubelite_proxy_connections_total\{protocol="UDP"\} [1-9]/);
    assert.match(text, /kubelite_proxy_listeners\{state="open"\} [1-9]/);
    assert.match(text, /kubeproxy_sync_proxy_rules_duration_seconds_count [1-9]/);
  });

  test('stop ends the relayed connections and the worker processes', async () => {
    const held = net.connect({ host: statusOf('default/rr:http')!.address, port: 8080 });
    held.on('error', () => {});
    const closed = new Promise<void>((resolve) => held.once('close', () => resolve()));
    await new Promise<void>((resolve) => {
      held.once('data', () => resolve());
      held.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    });
    const pids = proxy.workerPids();
    assert.equal(pids.length, workers === 1 ? 0 : workers);
    await proxy.stop();
    await closed;
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    for (const pid of pids) assert.equal(alive(pid), false, `worker ${pid} has exited`);
  });

  test('random balancing (another proxy, --balance random) spreads over every endpoint', async () => {
    ctx.informers.stop();
    ctx = controllerContext(client);
    proxy = new UserspaceProxy(ctx, { mode: 'random', tcpImplementation, workers });
    await proxy.start();
    await programmed('default/rr:http', [A, B, C].map((x) => `${x}:${HTTP_PORT}`));
    const names = await sequential(60, () => fetchName(statusOf('default/rr:http')!.address, 8080));
    const seen = count(names);
    assert.deepEqual(Object.keys(seen).sort(), ['a', 'b', 'c'], JSON.stringify(seen));
    // Not round-robin: 60 picks landing exactly 20/20/20 in strict rotation is what rr would do.
    const rotation = names.every((n, i) => i < 3 || n === names[i - 3]);
    assert.equal(rotation, false, 'not a strict rotation');
  });
});

// ---- without root ------------------------------------------------------------------------------

describe('userspace proxy without root', () => {
  const unprivilegedStart = Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8').trim());
  const isRoot = process.getuid?.() === 0;
  let c: Cluster;
  let child: ChildProcess | undefined;
  let kubeconfigCopy = '';
  const backend = http.createServer((_req, res) => res.end('low-or-high\n'));

  before(async () => {
    c = await startCluster({ isolatedNetwork: true });
    await listen(backend, A, HTTP_PORT + 1);
  });

  after(async () => {
    child?.kill('SIGTERM');
    if (kubeconfigCopy) rmSync(kubeconfigCopy, { force: true });
    backend.close();
    await c?.cleanup();
  });

  test('a port below 1024 fails with a clear message while the other services work', { skip: unprivilegedStart <= 80 ? 'unprivileged ports start at or below 80 here' : false }, async () => {
    const low = `${serviceNet(c)}.200`, high = `${serviceNet(c)}.201`;
    await createService(c, 'low', { ip: low, ports: [{ name: 'http', port: 80, targetPort: HTTP_PORT + 1 }] });
    await createService(c, 'high', { ip: high, ports: [{ name: 'http', port: 8080, targetPort: HTTP_PORT + 1 }] });
    for (const s of ['low', 'high']) await putSlice(c, s, [{ ip: A }], [{ name: 'http', port: HTTP_PORT + 1 }]);
    let logs = '';
    if (isRoot) {
      // Run `kubelite proxy` as nobody: the real unprivileged path.
      kubeconfigCopy = path.join(tmpdir(), `kubelite-proxy-test-${process.pid}.kubeconfig`);
      writeFileSync(kubeconfigCopy, readFileSync(c.kubeconfig), { mode: 0o644 });
      const cli = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/proxy.js');
      child = spawn(process.execPath, ['--input-type=module', '-e',
        'const m = await import(process.argv[1]); await m.runProxy({ kubeconfig: process.argv[2], "metrics-bind-address": "" }, []);',
        cli, kubeconfigCopy], { uid: 65534, gid: 65534, stdio: ['ignore', 'ignore', 'pipe'], cwd: tmpdir() });
      child.stderr!.on('data', (d) => { logs += d; });
      const expected = new RegExp(`cannot listen on ${low.replace(/\./g, '\\.')}:80/TCP for service default/low:http: permission denied — ports below ${unprivilegedStart} need root or CAP_NET_BIND_SERVICE`);
      await until(() => expected.test(logs), 'the bind failure logged', 30_000).catch((e: Error) => {
        throw new Error(`${e.message}\nproxy logs:\n${logs}`);
      });
      assert.equal(await until(async () => (await fetchName(high, 8080).catch(() => '')) || false, 'the other service answers'), 'low-or-high');
      assert.equal(await tryConnect(low, 80), 'ECONNREFUSED');
      assert.equal(child.exitCode, null, 'the proxy keeps running');
    } else {
      const client = await RestClient.fromKubeconfig(c.kubeconfig, 'proxy-test');
      const ctx = controllerContext(client);
      const proxy = new UserspaceProxy(ctx, {});
      await proxy.start();
      try {
        const failed = await until(() => proxy.status().find((s) => s.servicePort === 'default/low:http' && s.state === 'failed'), 'low port failed');
        assert.match(failed.error!, /permission denied — ports below/);
        assert.equal(await until(async () => (await fetchName(high, 8080).catch(() => '')) || false, 'the other service answers'), 'low-or-high');
      } finally {
        proxy.stop();
        ctx.informers.stop();
        client.close();
      }
    }
  });
});
