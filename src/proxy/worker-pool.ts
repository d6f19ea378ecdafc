// The userspace proxy's TCP relaying spread over worker processes (Node 20 has no SO_REUSEPORT,
// but a listening socket can be shared: its descriptor is passed over the IPC channel, as
// cluster's SCHED_NONE does). The primary keeps the informers, the balancers and the ClientIP
// affinity table; it binds each TCP frontend (without listening, so it accepts nothing itself)
// and sends the socket to every worker, which listens on its copy and relays what it accepts
// (worker-main.ts). Every worker polls the socket and takes one connection per turn of its event
// loop (libuv since 1.45 accepts once per readiness; UV_TCP_SINGLE_ACCEPT, which made it pause
// after each accept, is gone), so which worker gets a connection is up to the scheduler. With
// the `native` TCP implementation (tcp.ts) each worker's native relay listens instead on a socket
// of its own bound to the same address with SO_REUSEPORT (the primary's, not listening, takes
// nothing), and the kernel spreads connections by a hash of their addresses; those connections
// are moved like the others once settled (see below; the addon hands them back).
//
// Connections that live a while (keep-alive clients, streams) would stay where that chance put
// them: each worker reports its count of settled connections (tcp.ts) when it changes, and the
// primary asks the worker furthest over an even share to hand its surplus over; the two sockets
// of each such connection travel through the primary to the worker with the fewest, which
// carries on relaying them. Short connections never settle, so they never move.
//
// Workers get a copy of each balancer a TCP frontend uses and every change of it. Round-robin
// and random are per worker; affinity asks the primary (see worker-main.ts). A worker that
// dies is logged and replaced (its relayed connections are lost, as with a crash of the single
// process); workers exit when the primary goes, so none is left behind. /metrics sums the
// workers' connection counters, asked for at each scrape (a dead worker's counts go with it).
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../util/log.js';
import type { Balancer } from './balancer.js';
import type { ProxyEndpoint } from './endpoints.js';
import type { ProxyCounters } from './metrics.js';
import { bindListener, type BoundListener, type TcpFrontend } from './tcp.js';
import type { FromWorker, MovedHandle, MovingSide, ToWorker } from './worker-protocol.js';

// The tsc output and the bundle both sit two directories below dist/, so this names
// dist/src/proxy/worker-main.js from either.
const WORKER_MAIN = fileURLToPath(new URL('../../src/proxy/worker-main.js', import.meta.url));
/** A worker that dies sooner than this after its start is replaced only after RESTART_DELAY_MS. */
const SHORT_LIFE_MS = 5000;
const RESTART_DELAY_MS = 1000;
const STOP_GRACE_MS = 3000;
const COUNTERS_TIMEOUT_MS = 2000;
/**
 * Settled connections a worker may have over its share before some move (an odd total leaves one
 * over anyway; moving one back and forth would gain nothing).
 */
const SHED_SLACK = 1;
/**
 * The counts are judged once none has changed for this long, longer than the workers' balance
 * interval (worker-main.ts): each worker counts on its own clock, so right after a burst of
 * connections, or after a move, some counts are already new and others not yet.
 */
const LOAD_STABLE_MS = 300;

interface Worker {
  child: ChildProcess;
  startedAt: number;
  /** Has said it is ready: it is sent the whole state, then every change. */
  ready: boolean;
  /** Its settled connections, as last reported, plus those sent to it since. */
  settled: number;
}

interface PoolListener {
  id: number;
  frontend: WorkerFrontend;
  /** address|port: a new bind of it waits until the workers have closed their copies of the old. */
  addr: string;
  bound: BoundListener;
  balancer: Balancer<ProxyEndpoint>;
  /** Until every worker listens: the workers not done yet, and whom to tell. */
  opening?: { awaiting: Set<Worker>; acked: number; done: (err?: NodeJS.ErrnoException) => void };
}

interface BalancerCopy {
  id: number;
  /** The balancer version the workers have. */
  sent: number;
  /** Listeners routing to it. */
  refs: number;
}

export interface ProxyWorkerPoolOptions {
  count: number;
  log: Logger;
  /**
   * Whether the workers serve their listening sockets with the native relay's thread where it is
   * available (accept, endpoint choice, dial and relay in C; tcp.ts), default true; false: they
   * accept in JavaScript (and natively relay connections past their first exchange).
   */
  nativeAccept?: boolean;
}

export class ProxyWorkerPool {
  private readonly count: number;
  private readonly log: Logger;
  private readonly nativeAccept: boolean;
  private readonly workers = new Set<Worker>();
  private readonly listeners = new Map<number, PoolListener>();
  private readonly copies = new Map<Balancer<ProxyEndpoint>, BalancerCopy>();
  private readonly balancersById = new Map<number, Balancer<ProxyEndpoint>>();
  /** Listener copies being closed by workers, by listener id. */
  private readonly closing = new Map<number, { addr: string; awaiting: Set<Worker> }>();
  /** Binds waiting for the close of an earlier listener on the same address and port. */
  private readonly waitingBinds = new Map<string, (() => void)[]>();
  private readonly counterAsks = new Map<number, { awaiting: Set<Worker>; got: Map<Worker, ProxyCounters>; resolve: (c: ProxyCounters[]) => void }>();
  private nextId = 1;
  private stopped = false;
  /** Connections on their way between workers: where the second socket of each goes, by move id. */
  private readonly moves = new Map<string, Worker>();
  private loadChangedAt = 0;
  private balanceTimer?: NodeJS.Timeout;

  constructor(opts: ProxyWorkerPoolOptions) {
    this.count = opts.count;
    this.log = opts.log;
    this.nativeAccept = opts.nativeAccept ?? true;
  }

  /** Start the workers; resolves once all are ready. */
  async start(): Promise<void> {
    const started = Promise.all(Array.from({ length: this.count }, () => new Promise<void>((resolve, reject) => {
      const w = this.spawn();
      w.child.once('message', () => resolve());
      w.child.once('exit', (code, signal) => reject(new Error(`proxy worker exited at start (${signal ?? code})`)));
    })));
    try {
      await started;
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  /** A TCP frontend whose connections the workers relay through `balancer()`. */
  frontend(balancer: () => Balancer<ProxyEndpoint>): TcpFrontend {
    return new WorkerFrontend(this, balancer);
  }

  /** The workers' process ids. */
  get pids(): number[] {
    return [...this.workers].map((w) => w.child.pid!);
  }

  /**
   * Every worker's counters (for /metrics), in the workers' order (as `pids`). A worker that
   * does not answer within COUNTERS_TIMEOUT_MS is left out rather than holding the scrape up.
   */
  counters(): Promise<ProxyCounters[]> {
    const awaiting = new Set([...this.workers].filter((w) => w.ready));
    if (!awaiting.size) return Promise.resolve([]);
    const req = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const ask = this.counterAsks.get(req);
        this.counterAsks.delete(req);
        if (ask) resolve(this.inWorkerOrder(ask.got));
      }, COUNTERS_TIMEOUT_MS);
      timer.unref();
      this.counterAsks.set(req, { awaiting, got: new Map(), resolve: (c) => { clearTimeout(timer); resolve(c); } });
      for (const w of awaiting) this.send(w, { t: 'counters', req });
    });
  }

  /** End the workers (and so every connection they relay) and close the listeners. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.balanceTimer);
    for (const l of this.listeners.values()) l.bound.close();
    this.listeners.clear();
    await Promise.all([...this.workers].map((w) => new Promise<void>((resolve) => {
      if (w.child.exitCode !== null || w.child.signalCode !== null) return resolve();
      const kill = setTimeout(() => w.child.kill('SIGKILL'), STOP_GRACE_MS);
      w.child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      // A worker exits when its channel disconnects.
      if (w.child.connected) w.child.disconnect();
      else w.child.kill('SIGTERM');
    })));
  }

  // ---- listeners (called by WorkerFrontend) ---------------------------------------------------

  open(fe: WorkerFrontend, address: string, port: number, done: (err?: NodeJS.ErrnoException) => void): void {
    if (fe.closed || this.stopped) return;
    const addr = `${address}|${port}`;
    if ([...this.closing.values()].some((c) => c.addr === addr)) {
      // The workers still listen on the old socket: a bind now would fail with EADDRINUSE.
      let waiting = this.waitingBinds.get(addr);
      if (!waiting) this.waitingBinds.set(addr, (waiting = []));
      waiting.push(() => this.open(fe, address, port, done));
      return;
    }
    const bound = bindListener(address, port);
    if (bound instanceof Error) {
      done(bound);
      return;
    }
    const balancer = fe.balancer();
    const l: PoolListener = { id: this.nextId++, frontend: fe, addr, bound, balancer, opening: { awaiting: new Set(), acked: 0, done } };
    this.listeners.set(l.id, l);
    fe.listener = l;
    this.ref(balancer);
    for (const w of this.workers) if (w.ready) this.sendListener(w, l);
  }

  close(fe: WorkerFrontend): void {
    fe.closed = true;
    const l = fe.listener;
    if (!l) return;
    fe.listener = undefined;
    this.listeners.delete(l.id);
    this.unref(l.balancer);
    // The primary's copy goes at once; the socket closes with the workers' copies.
    l.bound.close();
    const awaiting = new Set<Worker>();
    for (const w of this.workers) {
      if (!w.ready) continue;
      this.send(w, { t: 'close', key: l.id });
      awaiting.add(w);
    }
    if (awaiting.size) this.closing.set(l.id, { addr: l.addr, awaiting });
  }

  route(fe: WorkerFrontend): void {
    const l = fe.listener;
    if (!l) return;
    const balancer = fe.balancer();
    if (balancer === l.balancer) {
      this.syncBalancer(balancer);
      return;
    }
    this.ref(balancer);
    const old = l.balancer;
    l.balancer = balancer;
    const id = this.copies.get(balancer)!.id;
    for (const w of this.workers) if (w.ready) this.send(w, { t: 'route', key: l.id, balancer: id });
    this.unref(old);
  }

  // ---- balancer copies ------------------------------------------------------------------------

  private ref(b: Balancer<ProxyEndpoint>): void {
    let copy = this.copies.get(b);
    if (!copy) {
      copy = { id: this.nextId++, sent: -1, refs: 0 };
      this.copies.set(b, copy);
      this.balancersById.set(copy.id, b);
    }
    copy.refs++;
    this.syncBalancer(b);
  }

  private unref(b: Balancer<ProxyEndpoint>): void {
    const copy = this.copies.get(b);
    if (!copy || --copy.refs > 0) return;
    this.copies.delete(b);
    this.balancersById.delete(copy.id);
    for (const w of this.workers) if (w.ready) this.send(w, { t: 'drop', id: copy.id });
  }

  /** Send the balancer's state to the workers if it changed since they got it. */
  private syncBalancer(b: Balancer<ProxyEndpoint>): void {
    const copy = this.copies.get(b)!;
    if (copy.sent === b.version) return;
    copy.sent = b.version;
    for (const w of this.workers) if (w.ready) this.send(w, this.balancerMessage(b, copy.id));
  }

  private balancerMessage(b: Balancer<ProxyEndpoint>, id: number): ToWorker {
    return { t: 'balancer', id, mode: b.mode, affinityMs: b.affinityTimeoutMs, endpoints: [...b.current] };
  }

  // ---- workers --------------------------------------------------------------------------------

  private spawn(): Worker {
    const child = fork(WORKER_MAIN, [], {
      // The primary's flags (a test runner's, --cpu-prof...) are not the workers'.
      execArgv: [],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      // The worker reads it (native-relay.ts); an environment that says `js` stays JavaScript.
      ...(this.nativeAccept ? {} : { env: { ...process.env, KUBELITE_PROXY_ACCEPT: 'js' } }),
    });
    const w: Worker = { child, startedAt: Date.now(), ready: false, settled: 0 };
    this.workers.add(w);
    child.on('message', (m: FromWorker, handle?: MovedHandle) => this.onMessage(w, m, handle));
    child.on('exit', (code, signal) => this.exited(w, code, signal));
    // Sends to a worker that is going are lost with it: 'exit' handles the rest.
    child.on('error', (err) => this.log.warn({ pid: child.pid, err: err.message }, 'proxy worker channel error'));
    return w;
  }

  private send(w: Worker, m: ToWorker, handle?: object): void {
    if (!w.child.connected) return;
    w.child.send(m, handle as never, (err) => {
      if (err && !this.stopped) this.log.debug({ pid: w.child.pid, err: err.message }, 'send to proxy worker failed');
    });
  }

  private sendListener(w: Worker, l: PoolListener): void {
    l.opening?.awaiting.add(w);
    this.send(w, { t: 'listen', key: l.id, balancer: this.copies.get(l.balancer)!.id }, l.bound.handle);
  }

  private onMessage(w: Worker, m: FromWorker, handle?: MovedHandle): void {
    switch (m.t) {
      case 'ready':
        w.ready = true;
        for (const [b, copy] of this.copies) {
          copy.sent = b.version;
          this.send(w, this.balancerMessage(b, copy.id));
        }
        for (const l of this.listeners.values()) this.sendListener(w, l);
        return;
      case 'listening': {
        const l = this.listeners.get(m.key);
        if (!l?.opening) return;
        if (m.error) {
          const { done } = l.opening;
          l.opening = undefined;
          // Close it everywhere; the proxy retries as for a failed bind.
          this.close(l.frontend);
          done(Object.assign(new Error(m.error.message), { code: m.error.code }));
          return;
        }
        l.opening.acked++;
        l.opening.awaiting.delete(w);
        this.openingProgress(l);
        return;
      }
      case 'closed':
        this.closedBy(w, m.key);
        return;
      case 'pick': {
        const b = this.balancersById.get(m.balancer);
        const ep = b?.pick(m.clientIP, m.exclude ? new Set(m.exclude) : undefined);
        this.send(w, { t: 'picked', req: m.req, ...(ep ? { endpoint: ep.key } : {}) });
        return;
      }
      case 'touch':
        for (const [id, clientIP, key, at] of m.uses) this.balancersById.get(id)?.pin(clientIP, key, at);
        return;
      case 'counters': {
        const ask = this.counterAsks.get(m.req);
        if (!ask) return;
        ask.got.set(w, m.counters);
        ask.awaiting.delete(w);
        this.counterProgress(m.req);
        return;
      }
      case 'load':
        w.settled = m.settled;
        this.loadChanged();
        return;
      case 'moving':
        if (handle) this.forwardMoving(w, m.id, m.side, handle);
    }
  }

  // ---- spreading settled connections (see tcp.ts) -------------------------------------------

  /** Judge the counts once they have stopped changing (LOAD_STABLE_MS). */
  private loadChanged(): void {
    this.loadChangedAt = performance.now();
    if (this.balanceTimer) return;
    const check = () => {
      const quietFor = performance.now() - this.loadChangedAt;
      if (quietFor < LOAD_STABLE_MS) {
        this.balanceTimer = setTimeout(check, LOAD_STABLE_MS - quietFor);
        this.balanceTimer.unref();
        return;
      }
      this.balanceTimer = undefined;
      this.balance();
    };
    this.balanceTimer = setTimeout(check, LOAD_STABLE_MS);
    this.balanceTimer.unref();
  }

  /** Ask the worker furthest over its share of settled connections to hand the surplus over. */
  private balance(): void {
    const ready = [...this.workers].filter((w) => w.ready);
    if (ready.length < 2 || this.stopped) return;
    const share = Math.ceil(ready.reduce((sum, w) => sum + w.settled, 0) / ready.length);
    const most = ready.reduce((a, b) => (b.settled > a.settled ? b : a));
    if (most.settled <= share + SHED_SLACK) return;
    this.send(most, { t: 'shed', count: most.settled - share });
  }

  /** Pass one socket of a moving connection on: both go to the worker with the fewest settled. */
  private forwardMoving(from: Worker, id: string, side: MovingSide, handle: MovedHandle): void {
    let to = this.moves.get(id);
    if (to) this.moves.delete(id);
    else {
      const others = [...this.workers].filter((w) => w.ready && w !== from && w.child.connected);
      to = others.length ? others.reduce((a, b) => (b.settled < a.settled ? b : a)) : undefined;
      if (to) {
        to.settled++;
        this.moves.set(id, to);
      }
    }
    // No worker to take it (all others gone): the connection is lost, as with a worker's death.
    if (!to || !to.child.connected || this.stopped) {
      handle.close();
      return;
    }
    // This process's copy closes once the socket is on its way.
    to.child.send({ t: 'adopt', id, side } satisfies ToWorker, handle as never, () => handle.close());
  }

  /** Listening is done once every worker sent it listens (at least one). */
  private openingProgress(l: PoolListener): void {
    const o = l.opening;
    if (!o || o.awaiting.size || !o.acked) return;
    l.opening = undefined;
    o.done();
  }

  private closedBy(w: Worker, id: number): void {
    const c = this.closing.get(id);
    if (!c) return;
    c.awaiting.delete(w);
    if (c.awaiting.size) return;
    this.closing.delete(id);
    if ([...this.closing.values()].some((o) => o.addr === c.addr)) return;
    const waiting = this.waitingBinds.get(c.addr);
    this.waitingBinds.delete(c.addr);
    for (const bind of waiting ?? []) bind();
  }

  private counterProgress(req: number): void {
    const ask = this.counterAsks.get(req)!;
    if (ask.awaiting.size) return;
    this.counterAsks.delete(req);
    ask.resolve(this.inWorkerOrder(ask.got));
  }

  private inWorkerOrder(got: Map<Worker, ProxyCounters>): ProxyCounters[] {
    return [...this.workers].filter((w) => got.has(w)).map((w) => got.get(w)!);
  }

  private exited(w: Worker, code: number | null, signal: NodeJS.Signals | null): void {
    this.workers.delete(w);
    // Its connections half on their way are lost with it (move ids start with the sender's pid).
    for (const id of [...this.moves.keys()]) if (id.startsWith(`${w.child.pid}.`)) this.moves.delete(id);
    // Whatever waited for this worker waits no more.
    for (const l of this.listeners.values()) {
      if (l.opening?.awaiting.delete(w)) this.openingProgress(l);
    }
    for (const id of [...this.closing.keys()]) this.closedBy(w, id);
    for (const [req, ask] of [...this.counterAsks]) if (ask.awaiting.delete(w)) this.counterProgress(req);
    if (this.stopped) return;
    const lived = Date.now() - w.startedAt;
    this.log.error({ pid: w.child.pid, code, signal, livedMs: lived }, 'proxy worker died; its connections are lost; starting another');
    const replace = () => {
      if (!this.stopped) this.spawn();
    };
    if (lived < SHORT_LIFE_MS) setTimeout(replace, RESTART_DELAY_MS).unref();
    else replace();
  }
}

/** A TCP frontend relayed by the pool's workers. */
class WorkerFrontend implements TcpFrontend {
  listener?: PoolListener;
  closed = false;

  constructor(private readonly pool: ProxyWorkerPool, readonly balancer: () => Balancer<ProxyEndpoint>) {}

  listen(address: string, port: number, done: (err?: NodeJS.ErrnoException) => void): void {
    this.pool.open(this, address, port, done);
  }

  close(): void {
    this.pool.close(this);
  }

  refresh(): void {
    this.pool.route(this);
  }
}
