// The nftables service proxy: kube-proxy's nftables mode. It watches Services and EndpointSlices
// (shared informers) and programs one nftables table (`ip kubelite` by default; layout and
// deviations from upstream in nftables-rules.ts) through the `nft` binary — a long-running
// `nft -i` for changes (nftables-session.ts), `nft -f -` for full syncs — so the kernel carries
// the traffic: no process sits in the data path. Needs root (CAP_NET_ADMIN) and the Debian
// package nftables.
//
// Programming is incremental, as upstream's partial syncs: a change to a Service or one of its
// slices rewrites only that Service's chains and map elements, all changes of one event-loop
// turn in one nft transaction (atomic: a connection sees the old rules or the new ones).
// A full sync rebuilds everything at start (after deleting any table a crashed run left
// behind), after a failed transaction, and periodically (upstream's full-sync period, 1 h), to
// repair drift. stop() deletes the table. Established connections are never cut by a change:
// conntrack keeps their translation, as with kube-proxy. UDP flows are the exception, as there:
// when the serving endpoints of a UDP Service port change, the conntrack entries of flows not
// answered by one of them are deleted (conntrack.ts, with the conntrack CLI) before the sync
// counts as done, so their next datagram is balanced anew. Without the CLI that step is skipped
// (logged once) and such a flow keeps its endpoint until it idles out.
import { isIPv4 } from 'node:net';
import { Counter } from 'prom-client';
import type { ControllerContext } from '../client/factory.js';
import { keyOf, type Informer } from '../client/informer.js';
import { logger, type Logger } from '../util/log.js';
import type { BalanceMode } from './balancer.js';
import { skipReason } from './endpoints.js';
import { ProxyMetrics } from './metrics.js';
import { watchServices, SLICES_BY_SERVICE, type ServiceObject, type SliceObject } from './watch.js';
import {
  DEFAULT_TABLE, MAPS, buildServiceRules, emptyRules, frontendClaim, fullSyncScript, isServicePortObject, partialSyncScript,
  type ExistingObjects, type ServicePortStatus, type ServiceRules,
} from './nftables-rules.js';
import { deleteTable, nftablesUnavailable, runNft, NftError } from './nftables-exec.js';
import { NftSession } from './nftables-session.js';
import { ConntrackCleaner, changedUdpServing, type UdpServing } from './conntrack.js';

export { deleteTable, nftablesUnavailable, runNft, NftError };

export interface NftablesProxyOptions {
  /** How a new connection picks an endpoint: `numgen inc` (round-robin, default) or `numgen random`. */
  mode?: BalanceMode;
  /** The address NodePorts are reached at (default 127.0.0.1). */
  nodeIP?: string;
  /** The nftables table (family ip) to own (default `kubelite`); deleted at start and stop. */
  table?: string;
  log?: Logger;
  /** Time between full syncs (default 1 h, upstream's FullSyncPeriod). */
  fullSyncPeriodMs?: number;
  /** The nft binary (default `nft` on the PATH). */
  nft?: string;
  /** The conntrack binary that clears stale UDP flows (default `conntrack` on the PATH). */
  conntrack?: string;
}

/** What a Service port is programmed with (for status output and tests). */
export interface NftServicePortStatus extends ServicePortStatus {
  /** `dnat`: connections go to the endpoints; `reject`: refused, no usable endpoint. */
  state: 'dnat' | 'reject';
}


/** Kernels before 6.2 may still see a chain as referenced for a moment after its map element went. */
const STALE_CHAIN_DELAY_MS = 1000;
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 30_000;

export class NftablesProxy {
  readonly metrics: ProxyMetrics;
  readonly table: string;
  private readonly mode: BalanceMode;
  private readonly nodeIP: string;
  private readonly log: Logger;
  private readonly nft: string;
  private readonly fullSyncPeriodMs: number;
  private readonly services: Informer<ServiceObject>;
  private readonly slices: Informer<SliceObject>;
  private readonly failures: Counter<string>;
  /** A running `nft -i` for the small transactions (see nftables-session.ts). */
  private readonly session: NftSession;
  private readonly conntrack: ConntrackCleaner;
  /** What each Service has in the kernel now (after the last successful transaction). */
  private programmed = new Map<string, ServiceRules>();
  /** Which Service holds a frontend (frontendClaim): the first to take it, as in userspace mode. */
  private claims = new Map<string, string>();
  /** Services that want a frontend another holds: synced again when it is released. */
  private waiting = new Map<string, Set<string>>();
  /** Chains no longer used, flushed, and when: deleted once STALE_CHAIN_DELAY_MS has passed. */
  private readonly staleChains = new Map<string, number>();
  private readonly dirty = new Set<string>();
  private needFullSync = false;
  private syncing?: Promise<void>;
  private kickScheduled = false;
  private retryMs = 0;
  /** A full sync failed and is retried after a back-off. */
  private retryPending = false;
  /** The caches have synced: slice trigger times count from now on. */
  private synced = false;
  /** The first full sync is done: changes are applied as they come. */
  private ready = false;
  private stopped = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  private fullSyncTimer?: NodeJS.Timeout;

  constructor(ctx: ControllerContext, opts: NftablesProxyOptions = {}) {
    this.mode = opts.mode ?? 'round-robin';
    this.nodeIP = opts.nodeIP ?? '127.0.0.1';
    // The table is family ip: NodePorts are matched against an IPv4 node address.
    if (!isIPv4(this.nodeIP)) throw new Error(`nftables mode: the node IP must be an IPv4 address, not ${JSON.stringify(this.nodeIP)}`);
    this.table = opts.table ?? DEFAULT_TABLE;
    if (!/^[A-Za-z][A-Za-z0-9_-]*$/.test(this.table)) throw new Error(`nftables table name not usable: ${JSON.stringify(this.table)}`);
    this.log = opts.log ?? logger('proxy');
    this.nft = opts.nft ?? 'nft';
    this.fullSyncPeriodMs = opts.fullSyncPeriodMs ?? 3_600_000;
    this.session = new NftSession(this.nft);
    this.conntrack = new ConntrackCleaner(opts.conntrack ?? 'conntrack', this.log);
    this.services = ctx.informers.informer<ServiceObject>('services');
    this.slices = ctx.informers.informer<SliceObject>('endpointslices');
    this.metrics = new ProxyMetrics(() => {
      const states: Record<string, number> = { open: 0, closed: 0 };
      for (const p of this.status()) states[p.state === 'dnat' ? 'open' : 'closed']! += p.frontends.length;
      return states;
    });
    this.failures = new Counter({
      name: 'kubeproxy_sync_proxy_rules_nftables_sync_failures_total', registers: [this.metrics.registry],
      help: 'nft transactions that failed (each is followed by a full sync).',
    });
  }

  /**
   * Check that nft works, start watching, and program every Service once the caches have
   * synced (deleting any leftover table first). Rejects with an NftError when nft is missing
   * or not permitted.
   */
  async start(): Promise<void> {
    const unavailable = await nftablesUnavailable(this.nft);
    if (unavailable) throw new NftError(unavailable);
    await this.conntrack.probe();
    watchServices(this.services, this.slices, (key, trigger) => {
      if (trigger !== undefined && this.synced) this.metrics.triggered(key, trigger);
      this.enqueue(key);
    });
    await Promise.all([this.services.start(), this.slices.start()]);
    if (this.stopped) return;
    this.synced = true;
    this.dirty.clear();
    await this.fullSync(true);
    this.ready = true;
    this.fullSyncTimer = setInterval(() => {
      this.needFullSync = true;
      this.kick();
    }, this.fullSyncPeriodMs);
    this.fullSyncTimer.unref();
    this.kick(); // whatever changed while the first sync ran
    this.log.info({ table: `ip ${this.table}`, mode: this.mode, nodeIP: this.nodeIP, services: this.programmed.size }, 'nftables proxy running');
  }

  /** Stop programming and delete the table. Informers are left to their owner. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.fullSyncTimer) clearInterval(this.fullSyncTimer);
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await this.syncing;
    this.session.close();
    try {
      await deleteTable(this.nft, this.table);
      this.log.info({ table: `ip ${this.table}` }, 'nftables table deleted');
    } catch (e) {
      this.log.error({ table: `ip ${this.table}`, err: (e as Error).message }, 'cannot delete the nftables table');
      throw e;
    }
  }

  /** Every Service port programmed, sorted by name. */
  status(): NftServicePortStatus[] {
    const out: NftServicePortStatus[] = [];
    for (const rules of this.programmed.values()) {
      for (const p of rules.ports) out.push({ ...p, state: p.endpoints.length ? 'dnat' : 'reject' });
    }
    return out.sort((a, b) => (a.servicePort < b.servicePort ? -1 : a.servicePort > b.servicePort ? 1 : 0));
  }

  // ---- scheduling ----------------------------------------------------------------------------

  private enqueue(key: string): void {
    if (this.stopped) return;
    this.dirty.add(key);
    if (this.synced) this.scheduleKick();
  }

  /** One transaction per event-loop turn: a watch chunk of many events is applied at once. */
  private scheduleKick(): void {
    if (this.kickScheduled) return;
    this.kickScheduled = true;
    setImmediate(() => {
      this.kickScheduled = false;
      this.kick();
    });
  }

  private after(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    t.unref();
    this.timers.add(t);
  }

  /** Start draining the work unless a drain is under way (it picks up what is new). */
  private kick(): void {
    if (this.syncing || this.stopped || !this.ready) return;
    this.syncing = this.drain().finally(() => {
      this.syncing = undefined;
      // Work that came in while the drain was finishing (its kicks found it still running).
      if (this.dirty.size || this.staleChainsDue().length) this.kick();
    });
  }

  private async drain(): Promise<void> {
    while (!this.stopped) {
      if (this.needFullSync) {
        if (this.retryPending) return; // the retry timer kicks again
        if (!(await this.fullSync(false).then(() => true, () => false))) return;
        continue;
      }
      if (!this.dirty.size) break;
      const keys = [...this.dirty];
      this.dirty.clear();
      await this.partialSync(keys);
    }
    if (!this.stopped) await this.deleteStaleChains();
  }

  // ---- syncing -------------------------------------------------------------------------------

  /** A Service's rules from the caches, taking the frontends it may take. */
  private compute(key: string): ServiceRules {
    const svc = this.services.get(key);
    if (!svc || skipReason(svc)) return emptyRules();
    const taken = (claim: string): boolean => {
      const owner = this.claims.get(claim);
      if (owner === undefined || owner === key) return false;
      // Remember who waits for it, so that it is synced again once the holder lets go.
      let waiting = this.waiting.get(claim);
      if (!waiting) this.waiting.set(claim, (waiting = new Set()));
      if (!waiting.has(key)) this.log.warn({ service: key, frontend: claim, holder: owner }, 'frontend already taken by another service; skipped');
      waiting.add(key);
      return true;
    };
    return buildServiceRules(svc, this.slices.byIndex(SLICES_BY_SERVICE, key), { mode: this.mode, nodeIP: this.nodeIP, taken });
  }

  /** Move the frontend claims of one Service from `old` to `next`; wake the Services waiting for released ones. */
  private reclaim(key: string, old: ServiceRules, next: ServiceRules): void {
    const claimsOf = (r: ServiceRules) => new Set(MAPS.flatMap((m) => [...r.elements.get(m)!.keys()].map((k) => frontendClaim(m, k))));
    const kept = claimsOf(next);
    for (const claim of claimsOf(old)) {
      if (kept.has(claim) || this.claims.get(claim) !== key) continue;
      this.claims.delete(claim);
      const waiting = this.waiting.get(claim);
      if (waiting) {
        this.waiting.delete(claim);
        for (const s of waiting) if (s !== key) this.enqueue(s);
      }
    }
    for (const claim of kept) this.claims.set(claim, key);
  }

  private async partialSync(keys: string[]): Promise<void> {
    const t0 = performance.now();
    const commands: string[] = [];
    const results: { key: string; next: ServiceRules; stale: string[] }[] = [];
    for (const key of keys) {
      const old = this.programmed.get(key) ?? emptyRules();
      const next = this.compute(key);
      this.reclaim(key, old, next);
      const diff = partialSyncScript(this.table, old, next);
      commands.push(...diff.commands);
      results.push({ key, next, stale: diff.stale });
    }
    if (commands.length) {
      try {
        await this.transaction(commands);
      } catch (e) {
        this.failures.inc();
        this.log.error({ services: keys, err: (e as Error).message }, 'nftables partial sync failed; doing a full sync');
        this.needFullSync = true;
        return;
      }
    }
    // Only the UDP frontends whose serving endpoints changed can have flows left stale.
    const udpChanged: UdpServing = new Map();
    for (const { key, next } of results) {
      for (const [frontend, ips] of changedUdpServing(this.programmed.get(key)?.udpServing, next.udpServing)) udpChanged.set(frontend, ips);
    }
    if (udpChanged.size) await this.conntrack.clean(udpChanged);
    const now = Date.now();
    for (const { key, next, stale } of results) {
      if (next.ports.length) this.programmed.set(key, next);
      else this.programmed.delete(key);
      for (const c of next.chains.keys()) this.staleChains.delete(c);
      for (const c of stale) this.staleChains.set(c, now);
      this.metrics.programmed(now, key);
    }
    if (results.some((r) => r.stale.length)) this.after(STALE_CHAIN_DELAY_MS + 50, () => this.kick());
    this.metrics.observeSync((performance.now() - t0) / 1000);
    this.log.debug({ services: keys, commands: commands.length }, 'nftables partial sync');
  }

  /** Run commands as one transaction: in the running nft when they fit on a line, else in a new one. */
  private async transaction(commands: string[]): Promise<void> {
    if (NftSession.fits(commands)) await this.session.run(commands);
    else await runNft(this.nft, ['-f', '-'], commands.join('\n') + '\n');
  }

  /** Chains and affinity sets of Service ports the table holds now. */
  private async listExisting(): Promise<ExistingObjects> {
    const existing: ExistingObjects = { chains: new Set(), sets: new Map() };
    let listing: string;
    try {
      listing = await runNft(this.nft, ['-j', 'list', 'table', 'ip', this.table]);
    } catch (e) {
      if (/No such file or directory/.test((e as Error).message)) return existing; // no table yet
      throw e;
    }
    const parsed = JSON.parse(listing) as { nftables?: Record<string, { name?: string; timeout?: number }>[] };
    for (const item of parsed.nftables ?? []) {
      if (item.chain?.name && isServicePortObject(item.chain.name)) existing.chains.add(item.chain.name);
      if (item.set?.name && isServicePortObject(item.set.name)) existing.sets.set(item.set.name, item.set.timeout ?? 0);
    }
    return existing;
  }

  /**
   * Rebuild the whole table from the caches in one transaction. With `replace` (at start) any
   * existing table is deleted in the same transaction. Throws when nft fails.
   */
  private async fullSync(replace: boolean): Promise<void> {
    const t0 = performance.now();
    this.needFullSync = false;
    this.dirty.clear();
    try {
      const existing = replace ? { chains: new Set<string>(), sets: new Map<string, number>() } : await this.listExisting();
      // Claims start afresh; older Services take contested frontends first.
      this.claims = new Map();
      this.waiting = new Map();
      const ordered = this.services.list().sort((a, b) => {
        const ta = a.metadata.creationTimestamp ?? '', tb = b.metadata.creationTimestamp ?? '';
        return ta < tb ? -1 : ta > tb ? 1 : keyOf(a) < keyOf(b) ? -1 : 1;
      });
      const computed = new Map<string, ServiceRules>();
      for (const svc of ordered) {
        const key = keyOf(svc);
        const rules = this.compute(key);
        this.reclaim(key, emptyRules(), rules);
        if (rules.ports.length) computed.set(key, rules);
      }
      const { script, stale } = fullSyncScript(this.table, [this.nodeIP], computed.values(), existing, replace);
      await runNft(this.nft, ['-f', '-'], script);
      await this.conntrack.clean(udpServingOf(computed.values()));
      this.programmed = computed;
      const now = Date.now();
      this.staleChains.clear();
      for (const c of stale) this.staleChains.set(c, now);
      if (stale.length) this.after(STALE_CHAIN_DELAY_MS + 50, () => this.kick());
      this.metrics.programmed(now);
      this.retryMs = 0;
      this.metrics.observeSync((performance.now() - t0) / 1000);
      this.log.debug({ services: computed.size, replace }, 'nftables full sync');
    } catch (e) {
      this.failures.inc();
      this.needFullSync = true;
      if (replace) throw e; // at start: the caller reports it
      this.retryMs = Math.min(RETRY_MAX_MS, Math.max(RETRY_MIN_MS, this.retryMs * 2));
      this.log.error({ err: (e as Error).message, retryInMs: this.retryMs }, 'nftables full sync failed');
      this.retryPending = true;
      this.after(this.retryMs, () => {
        this.retryPending = false;
        this.kick();
      });
      throw e;
    }
  }

  /** Delete the chains that have been stale long enough. A failure leaves them to the next full sync. */
  private staleChainsDue(): string[] {
    const due = Date.now() - STALE_CHAIN_DELAY_MS;
    return [...this.staleChains].filter(([, since]) => since <= due).map(([c]) => c);
  }

  private async deleteStaleChains(): Promise<void> {
    const chains = this.staleChainsDue();
    if (!chains.length) return;
    for (const c of chains) this.staleChains.delete(c);
    try {
      await this.transaction(chains.map((c) => `delete chain ip ${this.table} ${c}`));
    } catch (e) {
      this.log.warn({ chains: chains.length, err: (e as Error).message }, 'cannot delete stale nftables chains yet; the next full sync retries');
    }
  }
}

/** The UDP frontends of every programmed Service port (a frontend belongs to one Service). */
function udpServingOf(services: Iterable<ServiceRules>): UdpServing {
  const all: UdpServing = new Map();
  for (const r of services) for (const [k, v] of r.udpServing) all.set(k, v);
  return all;
}

