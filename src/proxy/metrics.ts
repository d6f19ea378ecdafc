// The proxy's Prometheus metrics. Hot paths bump plain counters; prom-client reads them only
// when scraped, so a connection costs no more than an integer increment. Names follow
// kube-proxy's where one exists (kubeproxy_*), kubelite_proxy_* otherwise. With proxy workers
// the connection counters are this process's plus every worker's, asked for once per scrape.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

type Protocol = 'TCP' | 'UDP';
const PROTOCOLS: Protocol[] = ['TCP', 'UDP'];

export interface ProxyCounters {
  /** TCP connections accepted / UDP flows started. */
  accepted: Record<Protocol, number>;
  /** Open TCP connections / live UDP flows. */
  active: Record<Protocol, number>;
  /** Connections refused (reset) / datagrams dropped because no endpoint was usable. */
  rejected: Record<Protocol, number>;
  /** Failed connection attempts to endpoints (each is retried on another endpoint when one is left). */
  dialErrors: number;
}

export function addCounters(into: ProxyCounters, c: ProxyCounters): void {
  for (const protocol of PROTOCOLS) {
    into.accepted[protocol] += c.accepted[protocol];
    into.active[protocol] += c.active[protocol];
    into.rejected[protocol] += c.rejected[protocol];
  }
  into.dialErrors += c.dialErrors;
}

export class ProxyMetrics {
  readonly registry = new Registry();
  readonly counters: ProxyCounters = {
    accepted: { TCP: 0, UDP: 0 },
    active: { TCP: 0, UDP: 0 },
    rejected: { TCP: 0, UDP: 0 },
    dialErrors: 0,
  };
  private readonly syncDuration: Histogram<string>;
  private readonly programming: Histogram<string>;
  private readonly lastSync: Gauge<string>;
  /** The earliest slice change trigger time not yet programmed, per Service. */
  private readonly pendingTrigger = new Map<string, number>();
  /** The counters of other processes (proxy workers), when there are some. */
  private remote?: () => Promise<ProxyCounters[]>;
  private local?: () => ProxyCounters | undefined;
  /** One gathering serves all the collectors of a scrape. */
  private gathering?: Promise<ProxyCounters>;

  constructor(listenerStates: () => Record<string, number>) {
    const registers = [this.registry];
    const totals = () => this.totals();
    // Counters are reported from the plain fields: reset to the current total on each scrape.
    new Counter({
      name: 'kubelite_proxy_connections_total', registers, labelNames: ['protocol'],
      help: 'TCP connections accepted and UDP flows started on service frontends.',
      async collect() {
        const c = await totals();
        this.reset();
        for (const protocol of PROTOCOLS) this.inc({ protocol }, c.accepted[protocol]);
      },
    });
    new Gauge({
      name: 'kubelite_proxy_active_connections', registers, labelNames: ['protocol'],
      help: 'Open TCP connections and live UDP flows through the proxy.',
      async collect() {
        const c = await totals();
        for (const protocol of PROTOCOLS) this.set({ protocol }, c.active[protocol]);
      },
    });
    new Counter({
      name: 'kubelite_proxy_rejected_total', registers, labelNames: ['protocol'],
      help: 'TCP connections reset and UDP datagrams dropped because the service had no usable endpoint.',
      async collect() {
        const c = await totals();
        this.reset();
        for (const protocol of PROTOCOLS) this.inc({ protocol }, c.rejected[protocol]);
      },
    });
    new Counter({
      name: 'kubelite_proxy_endpoint_dial_errors_total', registers,
      help: 'Failed connection attempts to endpoints.',
      async collect() {
        const c = await totals();
        this.reset();
        this.inc(c.dialErrors);
      },
    });
    new Gauge({
      name: 'kubelite_proxy_listeners', registers, labelNames: ['state'],
      help: 'Service frontends by state: open (bound), closed (no usable endpoints) or failed (could not bind).',
      collect() {
        this.reset();
        for (const [state, n] of Object.entries(listenerStates())) this.set({ state }, n);
      },
    });
    this.syncDuration = new Histogram({
      name: 'kubeproxy_sync_proxy_rules_duration_seconds', registers,
      help: 'How long one service took to reprogram (endpoints, balancers and listeners).',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    });
    this.programming = new Histogram({
      name: 'kubeproxy_network_programming_duration_seconds', registers,
      help: 'From the change of an EndpointSlice (its last-change-trigger-time) to the proxy applying it.',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    });
    this.lastSync = new Gauge({
      name: 'kubeproxy_sync_proxy_rules_last_timestamp_seconds', registers,
      help: 'The last time a service was reprogrammed.',
    });
  }

  /** Counters kept outside `counters` in this process (the native relay's listeners'), counted in. */
  setLocal(local: () => ProxyCounters | undefined): void {
    this.local = local;
  }

  /** Count other processes' counters in (proxy workers). */
  setRemote(remote: () => Promise<ProxyCounters[]>): void {
    this.remote = remote;
  }

  /** This process's counters plus the remote ones. */
  totals(): Promise<ProxyCounters> {
    if (this.gathering) return this.gathering;
    const remote = this.remote;
    const gathering = (async () => {
      const sum: ProxyCounters = { accepted: { TCP: 0, UDP: 0 }, active: { TCP: 0, UDP: 0 }, rejected: { TCP: 0, UDP: 0 }, dialErrors: 0 };
      addCounters(sum, this.counters);
      const local = this.local?.();
      if (local) addCounters(sum, local);
      for (const c of remote ? await remote() : []) addCounters(sum, c);
      return sum;
    })();
    this.gathering = gathering;
    const done = () => {
      if (this.gathering === gathering) this.gathering = undefined;
    };
    gathering.then(done, done);
    return gathering;
  }

  observeSync(seconds: number): void {
    this.syncDuration.observe(seconds);
    this.lastSync.set(Date.now() / 1000);
  }

  /**
   * A slice change with this last-change-trigger-time (ms) touched Service `key`: the earliest
   * not yet programmed is kept, the start of the network-programming latency upstream measures.
   */
  triggered(key: string, triggerMs: number): void {
    const pending = this.pendingTrigger.get(key);
    if (pending === undefined || triggerMs < pending) this.pendingTrigger.set(key, triggerMs);
  }

  /** Service `key` (every Service, without a key) is programmed as of `now` (ms). */
  programmed(now: number, key?: string): void {
    const keys = key === undefined ? [...this.pendingTrigger.keys()] : [key];
    for (const k of keys) {
      const trigger = this.pendingTrigger.get(k);
      if (trigger === undefined) continue;
      this.pendingTrigger.delete(k);
      this.programming.observe(Math.max(0, (now - trigger) / 1000));
    }
  }
}
