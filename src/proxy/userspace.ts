// The userspace service proxy: kube-proxy's job done with sockets instead of kernel rules, so it
// needs no root. It watches Services and EndpointSlices (shared informers) and keeps, for every
// Service port, a listener on each of its frontends — cluster IPs, external and load-balancer
// IPs at `port`, the node address at `nodePort` — that relays TCP connections and UDP flows to
// the Service's usable endpoints (src/proxy/endpoints.ts) as a Balancer chooses them.
//
// A frontend whose Service has no usable endpoint is not bound at all, so connecting to it is
// refused at once by the kernel — the same "connection refused" that kube-proxy's REJECT rule
// gives — and a UDP client gets the ICMP port-unreachable. A frontend that cannot be bound (a
// port below 1024 without root, an address in use) is logged once with the reason and retried
// with back-off; every other frontend works meanwhile.
//
// Changes apply live: a Service's listeners and balancers are recomputed from the caches when
// the Service or one of its slices changes (batched per event-loop turn). Established TCP
// connections are never touched by a change — as with conntrack, a connection to an endpoint
// that left may go on. UDP flows to an endpoint that is no longer usable end at once, as
// kube-proxy clears their conntrack entries.
//
// With `workers` > 1, TCP is relayed by that many worker processes sharing each listening socket
// (src/proxy/worker-pool.ts): round-robin and random then run per worker (each worker's
// sequence is balanced), ClientIP affinity stays one table, kept here. UDP stays in this process.
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import type { ControllerContext } from '../client/factory.js';
import { keyOf, type Informer } from '../client/informer.js';
import { logger, type Logger } from '../util/log.js';
import { Balancer, type BalanceMode } from './balancer.js';
import {
  affinityTimeoutMs, endpointsByPort, familyOf, frontends, joinHostPort,
  portKey, skipReason, usableEndpoints, type IPFamily, type ProxyEndpoint, type ProxyProtocol,
} from './endpoints.js';
import { ProxyMetrics, type ProxyCounters } from './metrics.js';
import { watchServices, SLICES_BY_SERVICE, type ServiceObject, type SliceObject } from './watch.js';
import { createTcpFrontend, DEFAULT_TCP_IMPLEMENTATION, nativeCountersOf, type Relayed, type TcpFrontend, type TcpImplementation } from './tcp.js';
import { UdpRelay } from './udp.js';
import { ProxyWorkerPool } from './worker-pool.js';

export interface UserspaceProxyOptions {
  /** How a new connection picks among a Service's usable endpoints (default round-robin). */
  mode?: BalanceMode;
  /** The address NodePorts listen on (default 127.0.0.1). */
  nodeIP?: string;
  log?: Logger;
  /** A UDP flow without traffic either way for this long ends (default 30 s, conntrack's UDP timeout). */
  udpIdleTimeoutMs?: number;
  /** How TCP is relayed (src/proxy/tcp.ts; default: stream handles where available). */
  tcpImplementation?: TcpImplementation;
  /**
   * Processes relaying TCP (default 1: this one). More spread the relaying over cores; they
   * need the `handles` TCP implementation.
   */
  workers?: number;
}

export type ListenerState = 'open' | 'opening' | 'closed' | 'failed';

/** One service frontend as the proxy sees it (for status output and tests). */
export interface ListenerStatus {
  protocol: ProxyProtocol;
  address: string;
  port: number;
  /** `namespace/name:port` of the Service port it belongs to. */
  servicePort: string;
  /** open: bound; closed: not bound because no endpoint is usable; failed: could not bind. */
  state: ListenerState;
  /** Usable endpoints, `IP:port`, in upstream's order. */
  endpoints: string[];
  error?: string;
}


interface Listener {
  key: string;
  protocol: ProxyProtocol;
  family: IPFamily;
  address: string;
  port: number;
  /** Key of the Service that owns it. */
  service: string;
  servicePort: string;
  /** Replaced when the Service changes; every new connection reads the current one. */
  balancer: Balancer<ProxyEndpoint>;
  /** Should be bound now: the Service port has usable endpoints. */
  want: boolean;
  /** No Service wants it any more: forget it once it is closed. */
  released: boolean;
  state: 'closed' | 'opening' | 'open';
  tcp?: TcpFrontend;
  udp?: dgram.Socket;
  relay?: UdpRelay;
  error?: { code: string; message: string };
  retry?: NodeJS.Timeout;
  backoffMs: number;
}

const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 60_000;

function unprivilegedPortStart(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8').trim()) || 1024;
  } catch {
    return 1024;
  }
}

function closeQuietly(socket: dgram.Socket): void {
  try {
    socket.close();
  } catch {
    // already closed
  }
}

/** What a failed bind means for the user, in one line. */
export function listenErrorMessage(protocol: ProxyProtocol, address: string, port: number, servicePort: string, err: NodeJS.ErrnoException): string {
  const where = `cannot listen on ${joinHostPort(address, port)}/${protocol} for service ${servicePort}`;
  switch (err.code) {
    case 'EACCES':
    case 'EPERM':
      return `${where}: permission denied — ports below ${unprivilegedPortStart()} need root or CAP_NET_BIND_SERVICE ` +
        '(or a lower sysctl net.ipv4.ip_unprivileged_port_start); the other services keep working';
    case 'EADDRINUSE':
      return `${where}: the address is already in use by another program`;
    case 'EADDRNOTAVAIL':
      return `${where}: the address is not on this machine (service, node and pod addresses must be local, e.g. in 127.0.0.0/8)`;
    default:
      return `${where}: ${err.message}`;
  }
}

export class UserspaceProxy {
  readonly metrics: ProxyMetrics;
  private readonly mode: BalanceMode;
  private readonly nodeIP: string;
  private readonly log: Logger;
  private readonly udpIdleMs: number;
  private readonly services: Informer<ServiceObject>;
  private readonly slices: Informer<SliceObject>;
  private readonly listeners = new Map<string, Listener>();
  private readonly listenersByService = new Map<string, Set<string>>();
  private readonly balancersByService = new Map<string, Map<string, Balancer<ProxyEndpoint>>>();
  /** Services that want a listener another Service holds: synced again when it is released. */
  private readonly waitingFor = new Map<string, Set<string>>();
  /** TCP connections being relayed. */
  private readonly connections = new Set<Relayed>();
  private readonly tcpImplementation: TcpImplementation;
  private readonly workers: number;
  private pool?: ProxyWorkerPool;
  private readonly dirty = new Set<string>();
  private flushScheduled = false;
  private synced = false;
  private stopped = false;
  private sweeper?: NodeJS.Timeout;

  constructor(ctx: ControllerContext, opts: UserspaceProxyOptions = {}) {
    this.mode = opts.mode ?? 'round-robin';
    this.nodeIP = opts.nodeIP ?? '127.0.0.1';
    this.log = opts.log ?? logger('proxy');
    this.udpIdleMs = opts.udpIdleTimeoutMs ?? 30_000;
    this.tcpImplementation = opts.tcpImplementation ?? DEFAULT_TCP_IMPLEMENTATION;
    this.workers = opts.workers ?? 1;
    if (!Number.isInteger(this.workers) || this.workers < 1) throw new Error(`workers: not a positive integer: ${this.workers}`);
    if (this.workers > 1 && this.tcpImplementation === 'net') {
      throw new Error(`workers: ${this.workers} worker processes need the "native" or "handles" TCP implementation (this is "${this.tcpImplementation}")`);
    }
    this.services = ctx.informers.informer<ServiceObject>('services');
    this.slices = ctx.informers.informer<SliceObject>('endpointslices');
    this.metrics = new ProxyMetrics(() => {
      const states: Record<string, number> = { open: 0, closed: 0, failed: 0 };
      for (const l of this.listeners.values()) states[this.stateOf(l)] = (states[this.stateOf(l)] ?? 0) + 1;
      return states;
    });
    this.metrics.setLocal(() => nativeCountersOf(this.connections));
  }

  /** Start watching; resolves once the caches have synced and every Service has been programmed. */
  async start(): Promise<void> {
    if (this.workers > 1) {
      const pool = new ProxyWorkerPool({ count: this.workers, log: this.log, nativeAccept: this.tcpImplementation === 'native' });
      this.pool = pool;
      this.metrics.setRemote(() => pool.counters());
      await pool.start();
      if (this.stopped) return;
    }
    watchServices(this.services, this.slices, (key, trigger) => {
      if (trigger !== undefined && this.synced) this.metrics.triggered(key, trigger);
      this.enqueue(key);
    });
    await Promise.all([this.services.start(), this.slices.start()]);
    if (this.stopped) return;
    this.synced = true;
    for (const s of this.services.list()) this.dirty.add(keyOf(s));
    this.flush();
    const sweepMs = Math.max(100, Math.min(10_000, this.udpIdleMs / 2));
    this.sweeper = setInterval(() => this.sweep(), sweepMs);
    this.sweeper.unref();
    this.log.info({ mode: this.mode, nodeIP: this.nodeIP, tcp: this.tcpImplementation, workers: this.workers, services: this.listenersByService.size }, 'userspace proxy running');
  }

  /**
   * Close every listener and end every relayed connection (and the workers). Informers are left
   * to their owner. Resolves once the workers have exited.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.sweeper) clearInterval(this.sweeper);
    for (const l of this.listeners.values()) {
      if (l.retry) clearTimeout(l.retry);
      this.close(l);
    }
    this.listeners.clear();
    for (const c of this.connections) c.destroy();
    await this.pool?.stop();
  }

  /** Process ids of the TCP worker processes (none without workers). */
  workerPids(): number[] {
    return this.pool?.pids ?? [];
  }

  /** Each worker process's own counters (none without workers): how connections spread. */
  workerCounters(): Promise<ProxyCounters[]> {
    return this.pool?.counters() ?? Promise.resolve([]);
  }

  /** Every frontend the proxy knows, sorted by service port and address. */
  status(): ListenerStatus[] {
    return [...this.listeners.values()]
      .filter((l) => !l.released)
      .map((l) => ({
        protocol: l.protocol, address: l.address, port: l.port, servicePort: l.servicePort, state: this.stateOf(l),
        endpoints: l.balancer.current.map((e) => e.key), ...(l.error ? { error: l.error.message } : {}),
      }))
      .sort((a, b) => (a.servicePort < b.servicePort ? -1 : a.servicePort > b.servicePort ? 1 : a.address < b.address ? -1 : 1));
  }

  private stateOf(l: Listener): ListenerState {
    if (l.state !== 'closed') return l.state;
    return l.error && l.want ? 'failed' : 'closed';
  }

  // ---- programming ----------------------------------------------------------------------------

  private enqueue(key: string): void {
    if (this.stopped) return;
    this.dirty.add(key);
    // One pass per event-loop turn: a watch chunk carrying many events reprograms a Service once.
    if (!this.synced || this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.stopped) return;
    const keys = [...this.dirty];
    this.dirty.clear();
    for (const key of keys) {
      try {
        this.syncService(key);
      } catch (e) {
        this.log.error({ service: key, err: (e as Error).stack }, 'failed to program service');
      }
    }
  }

  /** Recompute one Service's balancers and listeners from the caches. */
  private syncService(key: string): void {
    const t0 = performance.now();
    const svc = this.services.get(key);
    const skip = svc ? skipReason(svc) : 'deleted';
    const oldBalancers = this.balancersByService.get(key);
    const balancers = new Map<string, Balancer<ProxyEndpoint>>();
    const wanted = new Map<string, { protocol: ProxyProtocol; family: IPFamily; address: string; port: number; servicePort: string; balancer: Balancer<ProxyEndpoint> }>();
    if (svc && !skip) {
      const slices = this.slices.byIndex(SLICES_BY_SERVICE, key);
      const byFamily = new Map<IPFamily, Map<string, ProxyEndpoint[]>>();
      const affinity = affinityTimeoutMs(svc);
      for (const sp of svc.spec?.ports ?? []) {
        const protocol = sp.protocol ?? 'TCP';
        if (protocol !== 'TCP' && protocol !== 'UDP') {
          this.log.debug({ service: key, port: sp.name ?? sp.port, protocol }, 'protocol not supported by the userspace proxy');
          continue;
        }
        const servicePort = `${key}:${sp.name || sp.port}`;
        for (const fe of frontends(svc, sp, this.nodeIP)) {
          const family = familyOf(fe.address);
          let ports = byFamily.get(family);
          if (!ports) byFamily.set(family, (ports = endpointsByPort(slices, family)));
          // One balancer per Service port and family, shared by all its frontends (as iptables'
          // KUBE-SVC chain is): round-robin position and affinity hold across them.
          const bkey = `${sp.name ?? ''}/${protocol}/${family}`;
          let balancer = balancers.get(bkey);
          if (!balancer) {
            balancer = oldBalancers?.get(bkey) ?? new Balancer<ProxyEndpoint>(this.mode);
            balancer.setEndpoints(usableEndpoints(ports.get(portKey(sp.name, protocol)) ?? []));
            balancer.setAffinity(affinity);
            balancers.set(bkey, balancer);
          }
          wanted.set(`${protocol} ${joinHostPort(fe.address, fe.port)}`, { protocol, family, address: fe.address, port: fe.port, servicePort, balancer });
        }
      }
    }
    if (balancers.size) this.balancersByService.set(key, balancers);
    else this.balancersByService.delete(key);

    const held = this.listenersByService.get(key) ?? new Set<string>();
    for (const lkey of held) {
      if (wanted.has(lkey)) continue;
      held.delete(lkey);
      this.release(lkey);
    }
    for (const [lkey, w] of wanted) {
      let l = this.listeners.get(lkey);
      if (l && l.service !== key && !l.released) {
        let waiting = this.waitingFor.get(lkey);
        if (!waiting) this.waitingFor.set(lkey, (waiting = new Set()));
        if (!waiting.has(key)) this.log.warn({ service: key, frontend: lkey, holder: l.service }, 'frontend already taken by another service; skipped');
        waiting.add(key);
        continue;
      }
      if (!l) {
        l = { key: lkey, ...w, service: key, want: false, released: false, state: 'closed', backoffMs: 0 };
        this.listeners.set(lkey, l);
      }
      l.released = false;
      l.service = key;
      l.servicePort = w.servicePort;
      l.balancer = w.balancer;
      l.want = w.balancer.size > 0;
      held.add(lkey);
      l.relay?.prune();
      l.tcp?.refresh?.();
      this.apply(l);
    }
    if (held.size) this.listenersByService.set(key, held);
    else this.listenersByService.delete(key);

    this.metrics.observeSync((performance.now() - t0) / 1000);
    this.metrics.programmed(Date.now(), key);
    this.log.debug({ service: key, skip, frontends: wanted.size }, 'programmed service');
  }

  /** No Service wants this frontend any more. */
  private release(lkey: string): void {
    const l = this.listeners.get(lkey);
    if (!l) return;
    l.want = false;
    l.released = true;
    this.apply(l);
    const waiting = this.waitingFor.get(lkey);
    if (waiting) {
      this.waitingFor.delete(lkey);
      for (const s of waiting) this.enqueue(s);
    }
  }

  // ---- listeners ------------------------------------------------------------------------------

  /** Bring a listener to what it should be: bound while wanted, closed otherwise. */
  private apply(l: Listener): void {
    if (this.stopped || l.state === 'opening') return; // re-applied once the bind completes
    if (!l.want) {
      if (l.retry) clearTimeout(l.retry);
      l.retry = undefined;
      l.error = undefined;
      l.backoffMs = 0;
      if (l.state === 'open') this.close(l);
      if (l.released) this.listeners.delete(l.key);
      return;
    }
    if (l.state === 'closed' && !l.retry) this.open(l);
  }

  private open(l: Listener): void {
    l.state = 'opening';
    if (l.protocol === 'TCP') {
      const balancer = () => l.balancer;
      const frontend = this.pool
        ? this.pool.frontend(balancer)
        : createTcpFrontend({ balancer, open: this.connections, counters: this.metrics.counters }, this.tcpImplementation);
      l.tcp = frontend;
      frontend.listen(l.address, l.port, (err) => {
        if (l.tcp !== frontend) return; // closed while the bind was under way
        if (err) this.listenerError(l, err);
        else this.opened(l);
      });
    } else {
      const socket = dgram.createSocket(l.family === 'IPv6' ? 'udp6' : 'udp4');
      l.udp = socket;
      l.relay = new UdpRelay(socket, () => l.balancer, this.metrics.counters);
      // A listener closed while its bind was under way is stale: whatever it bound is closed.
      socket.once('listening', () => (l.udp === socket ? this.opened(l) : closeQuietly(socket)));
      socket.on('error', (err) => l.udp === socket && this.listenerError(l, err));
      socket.bind({ address: l.address, port: l.port });
    }
  }

  private opened(l: Listener): void {
    l.state = 'open';
    if (l.error) this.log.info({ frontend: l.key, service: l.servicePort }, 'listening now');
    l.error = undefined;
    l.backoffMs = 0;
    this.apply(l);
  }

  private listenerError(l: Listener, err: NodeJS.ErrnoException): void {
    if (l.state !== 'opening') {
      // A bound UDP socket's errors leave it listening.
      this.log.warn({ frontend: l.key, service: l.servicePort, err: err.message }, 'listener error');
      return;
    }
    this.close(l);
    const code = err.code ?? 'UNKNOWN';
    const message = listenErrorMessage(l.protocol, l.address, l.port, l.servicePort, err);
    // Said once per cause: the retries that follow fail the same way until something changes.
    if (l.error?.code !== code) this.log.warn({ frontend: l.key, service: l.servicePort, code }, message);
    l.error = { code, message };
    if (this.stopped) return;
    l.backoffMs = Math.min(RETRY_MAX_MS, Math.max(RETRY_MIN_MS, l.backoffMs * 2));
    l.retry = setTimeout(() => {
      l.retry = undefined;
      this.apply(l);
    }, l.backoffMs);
    l.retry.unref();
    this.apply(l);
  }

  /** Stop accepting; established connections carry on. */
  private close(l: Listener): void {
    if (l.tcp) {
      l.tcp.close();
      l.tcp = undefined;
    }
    if (l.udp) {
      l.relay?.close();
      closeQuietly(l.udp);
      l.udp = undefined;
      l.relay = undefined;
    }
    l.state = 'closed';
  }

  private sweep(): void {
    for (const l of this.listeners.values()) l.relay?.sweep(this.udpIdleMs);
    for (const balancers of this.balancersByService.values()) for (const b of balancers.values()) b.sweep();
  }
}
