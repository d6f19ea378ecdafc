// Choosing the endpoint of a new connection (or UDP flow) for one Service port: round-robin
// (IPVS's `rr`, the default here) or uniformly random (iptables' and nftables' rule), with
// `sessionAffinity: ClientIP` in front of either. Affinity follows iptables' `recent` match:
// a client that opened a connection to endpoint x within the last `timeout` is sent to x again
// while x is usable, and every such connection refreshes the timer (sliding window).
//
// With proxy workers (src/proxy/worker-pool.ts) each worker has a copy of every TCP balancer:
// round-robin and random run per worker, while the primary's copy holds the authoritative
// affinity table; `pinned` and `pin` let a worker use and extend it (see worker-main.ts).

export type BalanceMode = 'round-robin' | 'random';

interface AffinityEntry {
  key: string;
  lastUsed: number;
}

export class Balancer<E extends { key: string }> {
  private endpoints: E[] = [];
  private byKey = new Map<string, E>();
  private next = 0;
  private affinityMs?: number;
  private readonly clients = new Map<string, AffinityEntry>();
  /** Bumped on every change of endpoints or affinity: copies elsewhere know when to refresh. */
  version = 0;

  constructor(readonly mode: BalanceMode, private readonly now: () => number = Date.now) {}

  get size(): number {
    return this.endpoints.length;
  }

  /** The usable endpoints, in upstream's order. */
  get current(): readonly E[] {
    return this.endpoints;
  }

  /** The ClientIP affinity timeout, undefined without affinity. */
  get affinityTimeoutMs(): number | undefined {
    return this.affinityMs;
  }

  /** Whether picks depend on the client address (callers may skip looking it up otherwise). */
  get hasAffinity(): boolean {
    return this.affinityMs !== undefined;
  }

  has(key: string): boolean {
    return this.byKey.has(key);
  }

  /** The usable endpoint with this key, if any. */
  endpoint(key: string): E | undefined {
    return this.byKey.get(key);
  }

  /**
   * Replace the usable endpoints. The round-robin position carries over; clients pinned to an
   * endpoint that left are chosen for afresh on their next connection.
   */
  setEndpoints(endpoints: E[]): void {
    this.version++;
    this.endpoints = endpoints;
    this.byKey = new Map(endpoints.map((e) => [e.key, e]));
    if (this.next >= endpoints.length) this.next = 0;
    for (const [client, entry] of this.clients) if (!this.byKey.has(entry.key)) this.clients.delete(client);
  }

  /** Turn ClientIP affinity on with a timeout, or off (undefined). */
  setAffinity(timeoutMs: number | undefined): void {
    if (timeoutMs === this.affinityMs) return;
    this.version++;
    this.affinityMs = timeoutMs;
    this.clients.clear();
  }

  /**
   * The endpoint for a new connection from `clientIP` (needed only with affinity), avoiding the
   * endpoints in `exclude` (ones a connection attempt just failed on); undefined when none is left.
   */
  pick(clientIP?: string, exclude?: ReadonlySet<string>): E | undefined {
    const n = this.endpoints.length;
    if (n === 0) return undefined;
    if (this.affinityMs === undefined || clientIP === undefined) return this.choose(n, exclude);
    const pinned = this.pinned(clientIP, exclude);
    if (pinned) return pinned;
    const chosen = this.choose(n, exclude);
    if (chosen) this.clients.set(clientIP, { key: chosen.key, lastUsed: this.now() });
    return chosen;
  }

  /**
   * The endpoint `clientIP` is pinned to while the pin is unexpired, the endpoint usable and not
   * in `exclude`; the use refreshes the pin. Undefined otherwise, or without affinity.
   */
  pinned(clientIP: string, exclude?: ReadonlySet<string>): E | undefined {
    if (this.affinityMs === undefined) return undefined;
    const entry = this.clients.get(clientIP);
    if (!entry || exclude?.has(entry.key)) return undefined;
    const t = this.now();
    if (t - entry.lastUsed > this.affinityMs) return undefined;
    const e = this.byKey.get(entry.key);
    if (e) entry.lastUsed = t;
    return e;
  }

  /**
   * Record that `clientIP` used endpoint `key` at `at` (a choice made by another copy of this
   * balancer). The latest use wins: an older report does not move a pin made since.
   */
  pin(clientIP: string, key: string, at: number): void {
    if (this.affinityMs === undefined || !this.byKey.has(key)) return;
    const entry = this.clients.get(clientIP);
    if (entry && entry.lastUsed > at) return;
    if (entry && entry.key === key) entry.lastUsed = at;
    else this.clients.set(clientIP, { key, lastUsed: at });
  }

  private choose(n: number, exclude?: ReadonlySet<string>): E | undefined {
    if (!exclude?.size) {
      if (this.mode === 'random') return this.endpoints[Math.floor(Math.random() * n)];
      const e = this.endpoints[this.next]!;
      this.next = this.next + 1 === n ? 0 : this.next + 1;
      return e;
    }
    const left = this.endpoints.filter((e) => !exclude.has(e.key));
    if (!left.length) return undefined;
    if (this.mode === 'random') return left[Math.floor(Math.random() * left.length)];
    // Round-robin continues from its position, skipping the excluded endpoints.
    for (let i = 0; i < n; i++) {
      const e = this.endpoints[this.next]!;
      this.next = this.next + 1 === n ? 0 : this.next + 1;
      if (!exclude.has(e.key)) return e;
    }
    return undefined;
  }

  /** Forget clients whose affinity has expired (bounds memory; picks ignore expired entries anyway). */
  sweep(): void {
    if (this.affinityMs === undefined || !this.clients.size) return;
    const t = this.now();
    for (const [client, entry] of this.clients) if (t - entry.lastUsed > this.affinityMs) this.clients.delete(client);
  }

  /** Number of clients currently pinned (for tests and metrics). */
  get pinnedClients(): number {
    return this.clients.size;
  }
}
