// The scenarios every service proxy mode must pass, written once: test/proxy.test.ts runs them
// against the userspace proxy (in one process and with worker processes), test/proxy-nftables.test.ts
// against the nftables proxy. Each file describes its mode through a `ProxyUnderTest` (how to tell
// that a change is programmed, that a frontend refuses, that a NodePort is open...) and adds the
// checks only its mode can make (`checks`: the rule text in the kernel, for instance); the tests
// that concern one mode only stay in its file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { Cluster } from './cluster.js';
import type { RestClient } from '../../src/client/rest.js';
import type { BalanceMode } from '../../src/proxy/balancer.js';
import { call } from './run-controllers.js';
import { until, sleep } from './wait.js';
import {
  createService, putSlice, fetchName, count, sequential, listen, keepAliveClient, tryConnect, udpClient, udpAsk,
  type Backends, type SvcOpts,
} from './proxy-api.js';

const NS = '/api/v1/namespaces/default';
const SLICES = '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices';

export type { BalanceMode };

/** Checks that only one mode can make, run at the named points of the shared scenarios. */
export interface ModeChecks {
  /** The Service port balances with `mode` over `endpoints` endpoints (e.g. the numgen rule). */
  balancing(service: string, portName: string, mode: BalanceMode, endpoints: number): Promise<void> | void;
  /** An endpoint left the Service port: what the proxy kept for it goes (e.g. its chain). */
  endpointLeft(service: string, portName: string, gone: string, kept: string): Promise<void>;
  /** ClientIP affinity has pinned `clientIP` (e.g. an element of a timed set in the kernel). */
  pinned(clientIP: string): void;
}

/** A proxy mode, as the shared scenarios drive and observe it. */
export interface ProxyUnderTest {
  /** The server the proxy watches, its client and the backends (read once the file's `before` has run). */
  readonly cluster: Cluster;
  readonly client: RestClient;
  readonly backends: Backends;
  /** Where NodePorts are reached. */
  readonly nodeIP: string;
  /** A ClusterIP of this run's own range, not used before. */
  nextServiceIP(): string;
  /**
   * Processes keeping their own round-robin place: 1 for the userspace proxy in one process and
   * for nftables (one counter in the kernel), the number of workers otherwise.
   */
  readonly rotations: number;
  /**
   * Whether a UDP flow moves to another endpoint once its own stops being usable. The userspace
   * proxy ends such flows at once; the nftables proxy deletes their conntrack entries, as
   * kube-proxy does, but only where the conntrack CLI is installed (without it a flow keeps its
   * endpoint until it idles out).
   */
  readonly udpFlowsLeaveGoneEndpoints: boolean;
  /** Resolves once every frontend of `servicePort` goes to exactly `endpoints` (`IP:port`, in order). */
  programmed(servicePort: string, endpoints: string[]): Promise<void>;
  /** Resolves once the proxy knows `servicePort` and turns its connections away (no usable endpoint). */
  rejecting(servicePort: string): Promise<void>;
  /** Asserts that connections to host:port are refused (eventually, where the mode applies a change in steps). */
  refused(host: string, port: number): Promise<void>;
  /** Resolves once nothing of the deleted Service port at `ip` is left in the proxy. */
  forgotten(servicePort: string, ip: string): Promise<void>;
  /** Resolves once the NodePort frontend of `servicePort` at `nodePort` is programmed. */
  nodePortOpen(servicePort: string, nodePort: number): Promise<void>;
  /** Resolves once the NodePort frontend of `servicePort` at `nodePort` is gone. */
  nodePortClosed(servicePort: string, nodePort: number): Promise<void>;
  /** Replace the proxy by a new one that balances with `mode`. */
  restart(mode: BalanceMode): Promise<void>;
  checks?: Partial<ModeChecks>;
}

export interface Scenario {
  name: string;
  /** Why the scenario does not apply to this proxy, if it does not (decided before the file's `before` runs). */
  skip?(p: ProxyUnderTest): string | false;
  run(p: ProxyUnderTest): Promise<void>;
}

/** The ClusterIP each scenario's Service got, by Service name: later tests reuse `rr`. */
const serviceIPs = new WeakMap<ProxyUnderTest, Map<string, string>>();

export function serviceIP(p: ProxyUnderTest, name: string): string {
  const ip = serviceIPs.get(p)?.get(name);
  if (!ip) throw new Error(`no Service ${name} was created for this proxy`);
  return ip;
}

/** A Service named `name` at a fresh ClusterIP (remembered for `serviceIP`). */
export async function service(p: ProxyUnderTest, name: string, o: Omit<SvcOpts, 'ip'>): Promise<string> {
  const ip = p.nextServiceIP();
  await createService(p.cluster, name, { ...o, ip });
  if (!serviceIPs.has(p)) serviceIPs.set(p, new Map());
  serviceIPs.get(p)!.set(name, ip);
  return ip;
}

/** Register the scenarios as tests of the enclosing describe, in order. */
export function runScenarios(scenarios: Scenario[], p: ProxyUnderTest): void {
  for (const s of scenarios) test(s.name, { skip: s.skip?.(p) || false }, () => s.run(p));
}

const eps = (b: Backends, ...ips: string[]) => ips.map((ip) => `${ip}:${b.httpPort}`);
const http = (b: Backends) => [{ name: 'http', port: b.httpPort }];

/** A Service `name` with port `http` 8080 → the backends' HTTP port on A, B and C, programmed; its ClusterIP. */
async function httpServiceOnABC(p: ProxyUnderTest, name: string, o: { affinitySeconds?: number } = {}): Promise<string> {
  const b = p.backends;
  const ip = await service(p, name, { ports: [{ name: 'http', port: 8080, targetPort: b.httpPort }], ...o });
  await putSlice(p.cluster, name, [{ ip: b.A }, { ip: b.B }, { ip: b.C }], http(b));
  await p.programmed(`default/${name}:http`, eps(b, b.A, b.B, b.C));
  return ip;
}

/** The scenarios on the first proxy of a run, in order (`rr` is created first and used later). */
export const SCENARIOS: Scenario[] = [
  {
    name: 'round-robin spreads new connections evenly over the ready endpoints',
    async run(p) {
      const ip = await httpServiceOnABC(p, 'rr');
      await p.checks?.balancing?.('rr', 'http', 'round-robin', 3);
      const names = await sequential(30, () => fetchName(ip, 8080));
      if (p.rotations === 1) {
        assert.deepEqual(count(names), { a: 10, b: 10, c: 10 });
        // A strict rotation over the three.
        assert.equal(new Set(names.slice(0, 3)).size, 3);
        assert.ok(names.every((n, i) => n === names[i % 3]), names.join(' '));
      } else {
        // Each process rotates on its own: every endpoint's share is within one per process of the others'.
        const counts = Object.values(count(names));
        assert.equal(counts.length, 3, names.join(' '));
        assert.ok(Math.max(...counts) - Math.min(...counts) <= p.rotations, names.join(' '));
      }
    },
  },
  {
    name: 'a change to another Service leaves this one\'s balancing alone (its rotation goes on)',
    skip: (p) => p.rotations > 1 && 'several processes rotate on their own: the next pick is not predictable',
    async run(p) {
      const b = p.backends;
      const ip = serviceIP(p, 'rr');
      const first = await fetchName(ip, 8080);
      await service(p, 'bystander', { ports: [{ name: 'http', port: 8080, targetPort: b.httpPort }] });
      await putSlice(p.cluster, 'bystander', [{ ip: b.A }], http(b));
      await p.programmed('default/bystander:http', eps(b, b.A));
      await putSlice(p.cluster, 'bystander', [{ ip: b.B }], http(b));
      await p.programmed('default/bystander:http', eps(b, b.B));
      const next = await fetchName(ip, 8080);
      const order = ['a', 'b', 'c'];
      assert.equal(next, order[(order.indexOf(first) + 1) % 3], 'the rotation was not reset by the other Service\'s changes');
    },
  },
  {
    name: 'a Service without usable endpoints refuses connections at once, and opens when it gets one',
    async run(p) {
      const b = p.backends;
      const ip = await service(p, 'empty', { ports: [{ name: 'http', port: 8080, targetPort: b.httpPort }] });
      await p.rejecting('default/empty:http');
      assert.equal(await tryConnect(ip, 8080), 'ECONNREFUSED');
      // Endpoints that are neither ready nor serving-terminating do not count.
      await putSlice(p.cluster, 'empty', [{ ip: b.A, ready: false }, { ip: b.B, ready: false, serving: false, terminating: true }], http(b));
      await until(async () => (await p.client.get<any>(`${SLICES}/empty-1`)).endpoints.length === 2, 'slice written');
      await sleep(200); // give the proxy the chance to (wrongly) open
      assert.equal(await tryConnect(ip, 8080), 'ECONNREFUSED');
      await putSlice(p.cluster, 'empty', [{ ip: b.A }], http(b));
      await p.programmed('default/empty:http', eps(b, b.A));
      assert.equal(await fetchName(ip, 8080), 'a');
      await putSlice(p.cluster, 'empty', [], http(b));
      await p.programmed('default/empty:http', []);
      await p.rejecting('default/empty:http');
      await p.refused(ip, 8080);
      // A deleted Service's frontend goes away.
      await call(p.cluster, 'DELETE', `${NS}/services/empty`);
      await p.forgotten('default/empty:http', ip);
    },
  },
  {
    name: 'endpoint changes apply live; an established connection to a removed endpoint carries on',
    async run(p) {
      const b = p.backends;
      const ip = await service(p, 'live', { ports: [{ name: 'http', port: 8080, targetPort: b.httpPort }] });
      await putSlice(p.cluster, 'live', [{ ip: b.A }, { ip: b.B }], http(b));
      await p.programmed('default/live:http', eps(b, b.A, b.B));
      const { ask, close } = keepAliveClient(ip, 8080);
      const first = await ask();
      const [gone, kept] = first.name === 'a' ? [b.A, b.B] : [b.B, b.A];
      await putSlice(p.cluster, 'live', [{ ip: kept }], http(b));
      await p.programmed('default/live:http', eps(b, kept));
      const again = await ask();
      assert.equal(again.localPort, first.localPort, 'the same connection');
      assert.equal(again.name, first.name, 'still going to the endpoint that left');
      close();
      assert.deepEqual(await sequential(4, () => fetchName(ip, 8080)), Array(4).fill(b.names[kept]));
      await p.checks?.endpointLeft?.('live', 'http', `${gone}:${b.httpPort}`, `${kept}:${b.httpPort}`);
    },
  },
  {
    name: 'terminating endpoints serve only while no ready endpoint exists',
    async run(p) {
      const b = p.backends;
      const ip = await service(p, 'term', { ports: [{ name: 'http', port: 8080, targetPort: b.httpPort }] });
      const terminating = [
        { ip: b.A, ready: false, serving: true, terminating: true },
        { ip: b.B, ready: false, serving: false, terminating: true },
      ];
      await putSlice(p.cluster, 'term', terminating, http(b));
      await p.programmed('default/term:http', eps(b, b.A));
      assert.deepEqual(await sequential(6, () => fetchName(ip, 8080)), Array(6).fill('a'));
      await putSlice(p.cluster, 'term', [...terminating, { ip: b.C }], http(b));
      await p.programmed('default/term:http', eps(b, b.C));
      assert.deepEqual(await sequential(6, () => fetchName(ip, 8080)), Array(6).fill('c'));
    },
  },
  {
    name: 'hairpin: an endpoint reaching its own Service through the ClusterIP is answered by itself',
    async run(p) {
      const b = p.backends;
      const ip = await service(p, 'hairpin', { ports: [{ name: 'http', port: 8080, targetPort: b.httpPort }] });
      await putSlice(p.cluster, 'hairpin', [{ ip: b.A }], http(b));
      await p.programmed('default/hairpin:http', eps(b, b.A));
      assert.deepEqual(await sequential(3, () => fetchName(ip, 8080, b.A)), ['a', 'a', 'a']);
    },
  },
  {
    name: 'sessionAffinity ClientIP pins each client address to one endpoint; different clients spread',
    async run(p) {
      const b = p.backends;
      const ip = await httpServiceOnABC(p, 'sticky', { affinitySeconds: 10800 });
      const perClient: Record<string, string[]> = {};
      for (const clientIP of ['127.0.0.21', '127.0.0.22', '127.0.0.23']) {
        perClient[clientIP] = await sequential(6, () => fetchName(ip, 8080, clientIP));
      }
      for (const [clientIP, names] of Object.entries(perClient)) assert.equal(new Set(names).size, 1, `${clientIP} stuck to one endpoint: ${names}`);
      assert.equal(new Set(Object.values(perClient).map((n) => n[0])).size, 3, 'three clients, three endpoints');
      p.checks?.pinned?.('127.0.0.21');
      // An endpoint that leaves releases its clients; the others stay pinned.
      const pinned = perClient['127.0.0.21']![0]!;
      const left = [b.A, b.B, b.C].filter((x) => b.names[x] !== pinned);
      await putSlice(p.cluster, 'sticky', left.map((x) => ({ ip: x })), http(b));
      await p.programmed('default/sticky:http', eps(b, ...left));
      const moved = await sequential(4, () => fetchName(ip, 8080, '127.0.0.21'));
      assert.equal(new Set(moved).size, 1);
      assert.notEqual(moved[0], pinned);
      assert.deepEqual(await sequential(3, () => fetchName(ip, 8080, '127.0.0.22')), Array(3).fill(perClient['127.0.0.22']![0]));
    },
  },
  {
    name: 'ClientIP affinity ends after timeoutSeconds without connections',
    async run(p) {
      const ip = await httpServiceOnABC(p, 'brief', { affinitySeconds: 1 });
      const first = await fetchName(ip, 8080, '127.0.0.31');
      const second = await fetchName(ip, 8080, '127.0.0.32');
      assert.notEqual(first, second);
      assert.equal(await fetchName(ip, 8080, '127.0.0.31'), first, 'pinned within the timeout');
      await sleep(1500);
      // The rotation goes on to the third endpoint: the first client is no longer pinned.
      const later = await fetchName(ip, 8080, '127.0.0.31');
      assert.notEqual(later, first);
      assert.notEqual(later, second);
      assert.equal(await fetchName(ip, 8080, '127.0.0.31'), later, 'pinned anew');
    },
  },
  {
    name: 'NodePort: the node address at the nodePort reaches the Service too',
    async run(p) {
      const b = p.backends;
      const nodePort = 30000 + Math.floor(Math.random() * 2700);
      const ip = await service(p, 'np', { type: 'NodePort', ports: [{ name: 'http', port: 8080, targetPort: b.httpPort, nodePort }] });
      await putSlice(p.cluster, 'np', [{ ip: b.B }], http(b));
      await p.programmed('default/np:http', eps(b, b.B));
      await p.nodePortOpen('default/np:http', nodePort);
      assert.equal(await fetchName(p.nodeIP, nodePort), 'b');
      assert.equal(await fetchName(ip, 8080), 'b');
      // Without endpoints the NodePort refuses too.
      await putSlice(p.cluster, 'np', [], http(b));
      await p.programmed('default/np:http', []);
      await p.rejecting('default/np:http');
      await p.refused(p.nodeIP, nodePort);
      // Back to ClusterIP: the NodePort goes, the ClusterIP stays.
      await putSlice(p.cluster, 'np', [{ ip: b.B }], http(b));
      await p.programmed('default/np:http', eps(b, b.B));
      const svc = await p.client.get<any>(`${NS}/services/np`);
      svc.spec.type = 'ClusterIP';
      delete svc.spec.ports[0].nodePort;
      await p.client.update(`${NS}/services/np`, svc);
      await p.nodePortClosed('default/np:http', nodePort);
      await p.refused(p.nodeIP, nodePort);
      assert.equal(await fetchName(ip, 8080), 'b');
    },
  },
  {
    name: 'half-close passes through: the client ends its side and still reads the answer',
    async run(p) {
      const b = p.backends;
      const port = 19001;
      // Counts what it receives until the client's FIN, then answers and closes.
      const counter = net.createServer({ allowHalfOpen: true }, (s) => {
        let n = 0;
        s.on('data', (d) => { n += d.length; });
        s.on('end', () => s.end(`received ${n} bytes`));
      });
      await listen(counter, b.A, port);
      b.track(counter);
      const ip = await service(p, 'halfclose', { ports: [{ name: 'raw', port, targetPort: port }] });
      await putSlice(p.cluster, 'halfclose', [{ ip: b.A }], [{ name: 'raw', port }]);
      await p.programmed('default/halfclose:raw', [`${b.A}:${port}`]);
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
    },
  },
  {
    name: 'UDP: flows are balanced, each flow keeps its endpoint, replies come from the service address',
    async run(p) {
      const b = p.backends;
      const ports = [{ name: 'dns', port: b.udpPort, protocol: 'UDP' }];
      const ip = await service(p, 'dns', { ports: [{ name: 'dns', port: 53, targetPort: b.udpPort, protocol: 'UDP' }] });
      await putSlice(p.cluster, 'dns', [{ ip: b.A }, { ip: b.B }, { ip: b.C }], ports);
      await p.programmed('default/dns:dns', [b.A, b.B, b.C].map((x) => `${x}:${b.udpPort}`));
      const clients = await Promise.all([1, 2, 3].map(() => udpClient()));
      try {
        const firsts: string[] = [];
        for (const s of clients) {
          const r = await udpAsk(s, 'hello', ip, 53);
          assert.equal(r.from, `${ip}:53`);
          assert.match(r.text, /^[abc]:hello$/);
          firsts.push(r.text.split(':')[0]!);
        }
        assert.deepEqual([...firsts].sort(), ['a', 'b', 'c'], 'three flows, three endpoints');
        // In reverse order: a proxy that balanced each datagram anew would, round-robin, hand the
        // flows the same endpoints again in the first order.
        for (const [i, s] of [...clients.entries()].reverse()) {
          assert.equal((await udpAsk(s, 'again', ip, 53)).text, `${firsts[i]}:again`, 'a flow keeps its endpoint');
        }
        if (p.udpFlowsLeaveGoneEndpoints) {
          // A flow whose endpoint stops being usable moves on its next datagram.
          const gone = firsts[0]!;
          const left = [b.A, b.B, b.C].filter((x) => b.names[x] !== gone);
          await putSlice(p.cluster, 'dns', left.map((x) => ({ ip: x })), ports);
          await p.programmed('default/dns:dns', left.map((x) => `${x}:${b.udpPort}`));
          const moved = await udpAsk(clients[0]!, 'moved', ip, 53);
          assert.notEqual(moved.text.split(':')[0], gone);
        }
        // No endpoints: the frontend refuses (clients get port unreachable).
        await putSlice(p.cluster, 'dns', [], ports);
        await p.programmed('default/dns:dns', []);
        await p.rejecting('default/dns:dns');
      } finally {
        for (const s of clients) s.close();
      }
    },
  },
];

/** Scenarios that replace the proxy: run after the tests that need the first one. */
export const RESTART_SCENARIOS: Scenario[] = [
  {
    name: 'random balancing (another proxy, --balance random) spreads over every endpoint',
    async run(p) {
      const b = p.backends;
      await p.restart('random');
      await p.programmed('default/rr:http', eps(b, b.A, b.B, b.C));
      await p.checks?.balancing?.('rr', 'http', 'random', 3);
      const names = await sequential(60, () => fetchName(serviceIP(p, 'rr'), 8080));
      const seen = count(names);
      assert.deepEqual(Object.keys(seen).sort(), ['a', 'b', 'c'], JSON.stringify(seen));
      // Not round-robin: 60 picks landing exactly 20/20/20 in strict rotation is what rr would do.
      assert.equal(names.every((n, i) => i < 3 || n === names[i - 3]), false, 'not a strict rotation');
    },
  },
];
