// The userspace service proxy (src/proxy/) against a real server: Services with explicit cluster
// IPs and hand-written EndpointSlices (no controllers), backends that are plain Node servers on
// their own loopback addresses, and the proxy running in the test process. The scenarios every
// proxy mode shares (balancing, affinity, refusal, live changes, terminating endpoints, NodePort,
// UDP, half-close...) are in test/helpers/proxy-scenarios.ts; this file runs them with TCP relayed
// in the test process (handles, net) and by two worker processes (round-robin is then per
// worker), and adds what is the userspace proxy's own: the balancer and endpoint rules as pure
// functions, retrying an endpoint that refuses, spread over the workers, one affinity table
// across them, a worker crash, metrics, stop, and the message for a port that needs root —
// checked with a proxy running as an unprivileged user.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCluster, type Cluster } from './helpers/cluster.js';
import { until } from './helpers/wait.js';
import { createService, putSlice, fetchName, count, sequential, listen, tryConnect, startBackends, type Backends } from './helpers/proxy-api.js';
import { SCENARIOS, RESTART_SCENARIOS, runScenarios, service, type ProxyUnderTest } from './helpers/proxy-scenarios.js';
import { RestClient } from '../src/client/rest.js';
import { controllerContext, type ControllerContext } from '../src/client/factory.js';
import { UserspaceProxy, listenErrorMessage, type ListenerStatus } from '../src/proxy/userspace.js';
import { DEFAULT_TCP_IMPLEMENTATION } from '../src/proxy/tcp.js';
import { Balancer } from '../src/proxy/balancer.js';
import { endpointsByPort, usableEndpoints, type ProxyEndpoint } from '../src/proxy/endpoints.js';

/**
 * ClusterIPs of this run, chosen by the test: the second /24 of the cluster's own service CIDR
 * (test/helpers/networks.ts), clear of the first addresses the allocator hands out.
 */
function serviceNet(c: Cluster): string {
  const [a, b, cc] = c.networks!.serviceCIDR.split('/')[0]!.split('.');
  return `${a}.${b}.${Number(cc) + 1}`;
}
const BACKEND_NET = `127.77.${1 + Math.floor(Math.random() * 254)}`;
const HTTP_PORT = 18080;
const UDP_PORT = 15353;

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

  test('TCP is accepted and relayed natively on this Node', () => {
    assert.equal(DEFAULT_TCP_IMPLEMENTATION, 'native');
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
  { tcpImplementation: 'native', workers: 1 },
  { tcpImplementation: 'handles', workers: 1 },
  { tcpImplementation: 'net', workers: 1 },
  { tcpImplementation: 'native', workers: 2 },
  { tcpImplementation: 'handles', workers: 2 },
] as const;

for (const { tcpImplementation, workers } of CONFIGS) describe(`userspace proxy (TCP relayed with ${tcpImplementation}, ${workers} process${workers > 1 ? 'es' : ''})`, () => {
  let c: Cluster;
  let client: RestClient;
  let ctx: ControllerContext;
  let proxy: UserspaceProxy;
  let backends: Backends;
  let nextIP = 1;

  const statusOf = (servicePort: string, address?: string): ListenerStatus | undefined =>
    proxy.status().find((s) => s.servicePort === servicePort && (!address || s.address === address));

  const underTest: ProxyUnderTest = {
    get cluster() { return c; },
    get client() { return client; },
    get backends() { return backends; },
    nodeIP: '127.0.0.1',
    nextServiceIP: () => `${serviceNet(c)}.${nextIP++}`,
    rotations: workers,
    udpFlowsLeaveGoneEndpoints: true,
    programmed: async (servicePort, endpoints) => {
      await until(() => {
        const all = proxy.status().filter((s) => s.servicePort === servicePort);
        return all.length > 0 && all.every((s) => s.endpoints.join(',') === endpoints.join(',') && (endpoints.length === 0 || s.state === 'open'));
      }, `${servicePort} programmed with ${endpoints.join(',') || 'no endpoints'}`);
    },
    rejecting: async (servicePort) => {
      await until(() => statusOf(servicePort), `${servicePort} known`);
      for (const s of proxy.status().filter((x) => x.servicePort === servicePort)) assert.equal(s.state, 'closed', `${s.address}:${s.port}`);
    },
    /**
     * A closed frontend refuses connections. With workers, the listener is reported closed when the
     * primary lets go of it; each worker closes its copy when the message reaches it, an IPC hop
     * later (a connection in between is reset: the balancers the workers have are already empty).
     */
    refused: async (host, port) => {
      if (workers === 1) assert.equal(await tryConnect(host, port), 'ECONNREFUSED');
      else await until(async () => (await tryConnect(host, port)) === 'ECONNREFUSED', `${host}:${port} refused`, 5000);
    },
    forgotten: async (servicePort) => {
      await until(() => !statusOf(servicePort), `${servicePort} frontends removed`);
    },
    nodePortOpen: async (servicePort, nodePort) => {
      await until(() => {
        const s = statusOf(servicePort, '127.0.0.1');
        return s?.port === nodePort && s.state === 'open';
      }, `${servicePort} open at 127.0.0.1:${nodePort}`);
    },
    nodePortClosed: async (servicePort) => {
      await until(() => !statusOf(servicePort, '127.0.0.1'), 'NodePort frontend removed');
    },
    restart: async (mode) => {
      await proxy.stop();
      ctx.informers.stop();
      ctx = controllerContext(client);
      proxy = new UserspaceProxy(ctx, { mode, tcpImplementation, workers });
      await proxy.start();
    },
  };

  before(async () => {
    c = await startCluster({ isolatedNetwork: true });
    client = await RestClient.fromKubeconfig(c.kubeconfig, 'proxy-test');
    ctx = controllerContext(client);
    backends = await startBackends(BACKEND_NET, HTTP_PORT, UDP_PORT);
    proxy = new UserspaceProxy(ctx, { udpIdleTimeoutMs: 60_000, tcpImplementation, workers });
    await proxy.start();
  });

  after(async () => {
    await proxy?.stop();
    ctx?.informers.stop();
    client?.close();
    backends?.close();
    await c?.cleanup();
  });

  runScenarios(SCENARIOS, underTest);

  test('an endpoint that refuses is skipped for another', async () => {
    const { A } = backends;
    const dead = `${BACKEND_NET}.9`; // nothing listens there
    const ip = await service(underTest, 'retry', { ports: [{ name: 'http', port: 8080, targetPort: HTTP_PORT }] });
    await putSlice(c, 'retry', [{ ip: A }, { ip: dead }], [{ name: 'http', port: HTTP_PORT }]);
    await underTest.programmed('default/retry:http', [`${A}:${HTTP_PORT}`, `${dead}:${HTTP_PORT}`]);
    const before = (await proxy.metrics.totals()).dialErrors;
    assert.deepEqual(await sequential(6, () => fetchName(ip, 8080)), Array(6).fill('a'));
    assert.ok((await proxy.metrics.totals()).dialErrors > before, 'the refused dials were counted');
  });

  test('connections spread over the workers', { skip: workers === 1 && 'one process' }, async () => {
    const { A, B, C } = backends;
    const ip = await service(underTest, 'spread', { ports: [{ name: 'http', port: 8080, targetPort: HTTP_PORT }] });
    await putSlice(c, 'spread', [{ ip: A }, { ip: B }, { ip: C }], [{ name: 'http', port: HTTP_PORT }]);
    await underTest.programmed('default/spread:http', [A, B, C].map((x) => `${x}:${HTTP_PORT}`));
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
    const { A, B, C } = backends;
    const ip = await service(underTest, 'sticky-many', { ports: [{ name: 'http', port: 8080, targetPort: HTTP_PORT }], affinitySeconds: 10800 });
    await putSlice(c, 'sticky-many', [{ ip: A }, { ip: B }, { ip: C }], [{ name: 'http', port: HTTP_PORT }]);
    await underTest.programmed('default/sticky-many:http', [A, B, C].map((x) => `${x}:${HTTP_PORT}`));
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

  runScenarios(RESTART_SCENARIOS, underTest);

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
});

// ---- without root ------------------------------------------------------------------------------

describe('userspace proxy without root', () => {
  const unprivilegedStart = Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8').trim());
  const isRoot = process.getuid?.() === 0;
  let c: Cluster;
  let child: ChildProcess | undefined;
  let kubeconfigCopy = '';
  const BACKEND = `${BACKEND_NET}.1`;
  const backend = http.createServer((_req, res) => res.end('low-or-high\n'));

  before(async () => {
    c = await startCluster({ isolatedNetwork: true });
    await listen(backend, BACKEND, HTTP_PORT + 1);
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
    for (const s of ['low', 'high']) await putSlice(c, s, [{ ip: BACKEND }], [{ name: 'http', port: HTTP_PORT + 1 }]);
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
