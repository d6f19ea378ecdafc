// A userspace proxy worker process (forked by worker-pool.ts): it relays the TCP connections it
// accepts on listening sockets the primary binds and sends over, with copies of the primary's
// balancers. Round-robin and random run on the local copy, so each worker's own sequence is
// balanced. ClientIP affinity stays one table across workers: a valid local pin is used at once
// (the primary's last use of that pin is at least as recent, so it is valid there too) and the
// use is reported in a batch; without one the worker asks the primary, whose table decides.
// Every BALANCE_INTERVAL_MS the worker counts its settled connections and reports the count when
// it changed; asked to shed some (worker-pool.ts), it detaches them and sends their sockets on,
// and it adopts the sockets of connections other workers shed.
// The worker exits when the primary goes (its IPC channel disconnects), ending its connections.
import { Balancer, type BalanceMode } from './balancer.js';
import type { ProxyEndpoint } from './endpoints.js';
import { addCounters, type ProxyCounters } from './metrics.js';
import {
  PICK_LATER, adoptRelay, countSettled, detachSettled, nativeCountersOf, nextRelayEpoch, serveListener,
  type PickWaiter, type Picker, type Relayed, type ServedListener,
} from './tcp.js';
import type { FromWorker, MovedHandle, MovingSide, ToWorker } from './worker-protocol.js';

/** How often the settled connections are counted (and relays age by one epoch, tcp.ts). */
const BALANCE_INTERVAL_MS = 200;
/** A connection whose second socket has not come by then is given up (its sender died). */
const ADOPT_TIMEOUT_MS = 5000;

const ignoreSendError = () => {};
const send = (m: FromWorker) => {
  // A primary that is going (a failed send) is handled by 'disconnect'.
  if (process.connected) process.send!(m, ignoreSendError);
};

const counters: ProxyCounters = { accepted: { TCP: 0, UDP: 0 }, active: { TCP: 0, UDP: 0 }, rejected: { TCP: 0, UDP: 0 }, dialErrors: 0 };
const open = new Set<Relayed>();

/** Pending asks to the primary, by request number. */
const asks = new Map<number, { picker: WorkerPicker; clientIP: string; waiter: PickWaiter }>();
let nextAsk = 1;

/** Pin uses not reported yet; sent once per event-loop turn. */
let touches: [number, string, string, number][] = [];
function reportUse(balancer: number, clientIP: string, key: string, at: number): void {
  if (!touches.length) setImmediate(() => {
    send({ t: 'touch', uses: touches });
    touches = [];
  });
  touches.push([balancer, clientIP, key, at]);
}

/** This worker's copy of one of the primary's balancers. */
class WorkerPicker implements Picker {
  readonly local: Balancer<ProxyEndpoint>;

  constructor(readonly id: number, mode: BalanceMode) {
    this.local = new Balancer<ProxyEndpoint>(mode);
  }

  get hasAffinity(): boolean {
    return this.local.hasAffinity;
  }

  pick(clientIP: string | undefined, exclude: ReadonlySet<string> | undefined, waiter: PickWaiter): ProxyEndpoint | undefined | typeof PICK_LATER {
    if (!this.local.hasAffinity || clientIP === undefined) return this.local.pick(undefined, exclude);
    if (this.local.size === 0) return undefined;
    const pinned = this.local.pinned(clientIP, exclude);
    if (pinned) {
      reportUse(this.id, clientIP, pinned.key, Date.now());
      return pinned;
    }
    const req = nextAsk++;
    asks.set(req, { picker: this, clientIP, waiter });
    send({ t: 'pick', req, balancer: this.id, clientIP, ...(exclude?.size ? { exclude: [...exclude] } : {}) });
    return PICK_LATER;
  }

  /** The primary's answer: pin it locally as used now, and hand it to the waiting connection. */
  answered(clientIP: string, key: string | undefined, waiter: PickWaiter): void {
    const ep = key === undefined ? undefined : this.local.endpoint(key);
    if (ep) this.local.pin(clientIP, ep.key, Date.now());
    waiter.picked(ep);
  }
}

/** Stands in for a balancer the worker does not know (dropped meanwhile): no endpoint. */
const NO_ENDPOINTS: Picker = { hasAffinity: false, pick: () => undefined };

const pickers = new Map<number, WorkerPicker>();

// ---- moving settled connections (see tcp.ts) ---------------------------------------------------

let reportedSettled = 0;
function reportLoad(): void {
  const settled = countSettled(open);
  if (settled === reportedSettled) return;
  reportedSettled = settled;
  send({ t: 'load', settled });
}

let nextMove = 1;
/** Send one socket of a detached connection; this process's copy closes once it is on its way. */
function sendMoving(id: string, side: MovingSide, handle: MovedHandle): void {
  if (!process.connected) {
    handle.close();
    return;
  }
  process.send!({ t: 'moving', id, side } satisfies FromWorker, handle as never, () => handle.close());
}

function shed(count: number): void {
  detachSettled(open, count, (d) => {
    const id = `${process.pid}.${nextMove++}`;
    sendMoving(id, 'client', d.client as MovedHandle);
    sendMoving(id, 'upstream', d.upstream as MovedHandle);
  });
  reportLoad();
}

/** Halves of moved connections waiting for the other half, by move id. */
const arriving = new Map<string, { client?: MovedHandle; upstream?: MovedHandle; timer: NodeJS.Timeout }>();
/** Adopted connections dial nothing. */
const adoptedContext = { picker: (): Picker => NO_ENDPOINTS, open, counters };

function adopt(id: string, side: MovingSide, handle: MovedHandle): void {
  let a = arriving.get(id);
  if (!a) {
    const timer = setTimeout(() => {
      arriving.delete(id);
      a!.client?.close();
      a!.upstream?.close();
    }, ADOPT_TIMEOUT_MS);
    arriving.set(id, (a = { timer }));
  }
  a[side] = handle;
  if (!a.client || !a.upstream) return;
  arriving.delete(id);
  clearTimeout(a.timer);
  const relayed = adoptRelay(a.client, a.upstream, adoptedContext);
  if (relayed instanceof Error) {
    a.client.close();
    a.upstream.close();
  }
}
const listeners = new Map<number, { served?: ServedListener; balancer: number }>();

/** Listeners served natively program their tables from the balancer copies: after every change. */
function syncListeners(): void {
  for (const l of listeners.values()) l.served?.sync?.();
}

/** This worker's counters, with those of the connections its native listeners accepted. */
function allCounters(): ProxyCounters {
  const native = nativeCountersOf(open);
  if (!native) return counters;
  const sum = structuredClone(counters);
  addCounters(sum, native);
  return sum;
}

function onMessage(m: ToWorker, handle: unknown): void {
  switch (m.t) {
    case 'balancer': {
      let p = pickers.get(m.id);
      if (!p || p.local.mode !== m.mode) pickers.set(m.id, (p = new WorkerPicker(m.id, m.mode)));
      p.local.setEndpoints(m.endpoints);
      p.local.setAffinity(m.affinityMs);
      syncListeners();
      return;
    }
    case 'drop':
      pickers.delete(m.id);
      syncListeners();
      return;
    case 'listen': {
      const entry: { served?: ServedListener; balancer: number } = { balancer: m.balancer };
      if (!handle) {
        send({ t: 'listening', key: m.key, error: { code: 'EINVAL', message: 'the listening socket did not come with the message' } });
        return;
      }
      const served = serveListener(handle, { picker: () => pickers.get(entry.balancer) ?? NO_ENDPOINTS, open, counters }, true);
      if (served instanceof Error) {
        send({ t: 'listening', key: m.key, error: { code: served.code ?? 'UNKNOWN', message: served.message } });
        return;
      }
      entry.served = served;
      listeners.set(m.key, entry);
      send({ t: 'listening', key: m.key });
      return;
    }
    case 'route': {
      const l = listeners.get(m.key);
      if (l) l.balancer = m.balancer;
      l?.served?.sync?.();
      return;
    }
    case 'close':
      listeners.get(m.key)?.served?.close();
      listeners.delete(m.key);
      send({ t: 'closed', key: m.key });
      return;
    case 'picked': {
      const ask = asks.get(m.req);
      if (!ask) return;
      asks.delete(m.req);
      ask.picker.answered(ask.clientIP, m.endpoint, ask.waiter);
      return;
    }
    case 'counters':
      send({ t: 'counters', req: m.req, counters: allCounters() });
      return;
    case 'shed':
      shed(m.count);
      return;
    case 'adopt':
      if (handle) adopt(m.id, m.side, handle as MovedHandle);
  }
}

process.on('message', (m: ToWorker, handle: unknown) => onMessage(m, handle));
process.on('disconnect', () => {
  // The primary stopped or died: nothing may outlive it.
  for (const l of listeners.values()) l.served?.close();
  for (const c of open) c.destroy();
  for (const a of arriving.values()) {
    a.client?.close();
    a.upstream?.close();
  }
  process.exit(0);
});
setInterval(() => {
  nextRelayEpoch();
  reportLoad();
}, BALANCE_INTERVAL_MS).unref();
// Forget expired pins now and then (picks ignore them anyway; this bounds memory).
setInterval(() => {
  for (const p of pickers.values()) p.local.sweep();
}, 10_000).unref();
send({ t: 'ready' });
