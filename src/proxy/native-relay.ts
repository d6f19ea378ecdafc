// The native relay (native/relay.c): connections past their first exchange are handed over by
// tcp.ts to an epoll thread of the addon, which moves their bytes with no JavaScript per chunk
// (Node's per-read machinery — libuv, stream wrappers, a V8 call per read — cost more CPU per
// request than the copying itself). With the `native` TCP implementation (tcp.ts) the addon also
// serves the listening sockets: accept, endpoint choice (from tables programmed here) and dial.
//
// The addon is built by `node native/build.mjs` (node-gyp, at install). Where it is missing or
// cannot load (no compiler at install, another platform), or with KUBELITE_PROXY_RELAY=js, the
// proxy relays in JavaScript as before; that is logged once per process.
import { closeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { logger } from '../util/log.js';

/** How a natively relayed connection ended. */
export const NativeEnd = {
  /** Both sides' FINs were passed on. */
  Clean: 0,
  /** A read or write failed; the other side was reset. */
  Reset: 1,
  /** Closed by `closeNativeRelay` (the proxy stops). */
  Closed: 2,
  /** Detached by `detachNativeRelay`: the two descriptors are handed back, still open. */
  Detached: 3,
  /** Not an end: `detachNativeRelay` could not detach (bytes in flight or a FIN seen); it goes on. */
  Kept: 4,
} as const;
export type NativeEnd = (typeof NativeEnd)[keyof typeof NativeEnd];

/** The descriptors are those handed back by a detach (-1 otherwise). */
export type NativeEndListener = (how: NativeEnd, bytesToEndpoint: number, bytesToClient: number, clientFd: number, endpointFd: number) => void;

interface RelayAddon {
  start(onEnd: (id: number, how: NativeEnd | typeof ACCEPTED | typeof GROUP_DETACHED, toEndpoint: number, toClient: number, clientFd: number, endpointFd: number) => void): void;
  relay(clientFd: number, endpointFd: number, toEndpoint?: Uint8Array, toClient?: Uint8Array): number;
  close(id: number): void;
  detach(id: number): void;
  group(): number;
  counters(group: number): [number, number, number, number];
  closeGroup(group: number): void;
  table(): number;
  setTable(index: number, mode: NativeTableMode, ips: string[], ports: number[]): void;
  freeTable(index: number): void;
  listen(fd: number, table: number, group: number, reuseport: boolean): number;
  route(id: number, table: number): void;
  closeListener(id: number): void;
  settled(group: number, minAgeMs: number): number;
  detachGroup(group: number, count: number, minAgeMs: number): void;
}

/** Reported for a socket accepted on a native listener whose table leaves the choice to JavaScript. */
const ACCEPTED = 5;
/** Reported for a relay accepted natively and detached by `detachNativeGroup` (the id is the group's). */
const GROUP_DETACHED = 6;

/** How a native listener's table picks: round-robin, random, or JavaScript (ClientIP affinity). */
export const NativeTableMode = { RoundRobin: 0, Random: 1, JavaScript: 2 } as const;
export type NativeTableMode = (typeof NativeTableMode)[keyof typeof NativeTableMode];

// Two directories below the package root, from the tsc output (dist/src/proxy) and from the
// bundle (dist/bundle/kubelite) alike.
const ADDON_PATH = fileURLToPath(new URL('../../../native/build/Release/kubelite_relay.node', import.meta.url));

/** Listeners of the relays running, by the addon's relay id. */
const running = new Map<number, NativeEndListener>();

/** Native listeners' handlers of the sockets JavaScript picks for, by listener id. */
const acceptors = new Map<number, (fd: number) => void>();

/** Handlers of the relays detached from native groups, by group id. */
const groupDetached = new Map<number, (clientFd: number, endpointFd: number) => void>();

function onEnd(id: number, how: NativeEnd | typeof ACCEPTED | typeof GROUP_DETACHED, toEndpoint: number, toClient: number, clientFd: number, endpointFd: number): void {
  if (how === GROUP_DETACHED) {
    const detached = groupDetached.get(id);
    if (detached) detached(clientFd, endpointFd);
    else {
      closeSync(clientFd);
      closeSync(endpointFd);
    }
    return;
  }
  if (how === ACCEPTED) {
    const accepted = acceptors.get(id);
    if (accepted) accepted(clientFd);
    else closeSync(clientFd); // its listener closed meanwhile: as if it had not been accepted
    return;
  }
  const listener = running.get(id);
  if (!listener) return;
  if (how !== NativeEnd.Kept) running.delete(id);
  listener(how, toEndpoint, toClient, clientFd, endpointFd);
}

function loadAddon(): RelayAddon | undefined {
  const log = logger('proxy');
  if (process.env.KUBELITE_PROXY_RELAY === 'js') {
    log.info('KUBELITE_PROXY_RELAY=js: relaying TCP connections in JavaScript');
    return undefined;
  }
  if (process.platform !== 'linux') return undefined; // the addon uses epoll; nothing to report
  try {
    const addon = createRequire(import.meta.url)(ADDON_PATH) as RelayAddon;
    addon.start(onEnd);
    return addon;
  } catch (e) {
    log.warn({ addon: ADDON_PATH, err: (e as Error).message }, 'native TCP relay not available (build it with `node native/build.mjs`); relaying in JavaScript');
    return undefined;
  }
}

let addon: RelayAddon | undefined | null = null;

/** Whether relays can be handed to the native relay; loads it on first call. */
export function nativeRelayAvailable(): boolean {
  if (addon === null) addon = loadAddon();
  return addon !== undefined;
}

/**
 * Relay between two established sockets natively. The descriptors are duplicated: the caller
 * closes its handles right after (a close, not a shutdown, so the connections stay up).
 * `toEndpoint`/`toClient`: bytes already read from one side and not yet written to the other.
 * Returns the relay's id for `closeNativeRelay` and `detachNativeRelay`; `ended` is called on
 * the main thread once the relay is over, and for each detach refused (NativeEnd.Kept).
 */
export function relayNatively(clientFd: number, endpointFd: number, ended: NativeEndListener, toEndpoint?: Uint8Array, toClient?: Uint8Array): number {
  if (!nativeRelayAvailable()) throw new Error('the native relay is not available');
  const id = addon!.relay(clientFd, endpointFd, toEndpoint, toClient);
  running.set(id, ended);
  return id;
}

/** Close both sockets of a native relay (no reset); its end is reported as NativeEnd.Closed. */
export function closeNativeRelay(id: number): void {
  addon?.close(id);
}

/**
 * Ask a native relay to stop and hand its sockets back: reported as NativeEnd.Detached with the
 * two descriptors, or as NativeEnd.Kept when bytes are in flight or a FIN was seen.
 */
export function detachNativeRelay(id: number): void {
  addon?.detach(id);
}

// ---- native listeners (native/relay.c: accepting, picking, dialing and relaying in C) ------------
//
// A TCP frontend's listening socket can be served by the addon's epoll thread: it accepts, picks
// the endpoint from a table JavaScript programs (the usable endpoints, round-robin or random),
// dials and relays, with no JavaScript per connection. A table for ClientIP affinity hands each
// accepted socket to JavaScript instead (`accepted`), which picks and relays as for its own.
// Connections accepted natively are counted per group (one per proxy), read with
// `nativeCounters`, and closed together with `closeNativeGroup`.

/** Whether listeners can be served natively: the relay is available and KUBELITE_PROXY_ACCEPT is not `js`. */
export function nativeAcceptAvailable(): boolean {
  return process.env.KUBELITE_PROXY_ACCEPT !== 'js' && nativeRelayAvailable();
}

export function nativeGroup(): number {
  return addon!.group();
}

/** [accepted, active, rejected, dialErrors] of the connections a group's listeners accepted. */
export function nativeCounters(group: number): [number, number, number, number] {
  return addon!.counters(group);
}

export function closeNativeGroup(group: number): void {
  addon?.closeGroup(group);
}

/**
 * How many of a group's connections are settled: connected, nothing in flight, no FIN seen, and
 * accepted at least `minAgeMs` ago (what `detachNativeGroup` may hand back).
 */
export function nativeSettled(group: number, minAgeMs: number): number {
  return addon!.settled(group, minAgeMs);
}

/**
 * Hand up to `count` settled connections of a group back, to be relayed by another process:
 * `detached` gets each one's two descriptors, open (later, on the main thread).
 */
export function detachNativeGroup(group: number, count: number, minAgeMs: number, detached: (clientFd: number, endpointFd: number) => void): void {
  groupDetached.set(group, detached);
  addon!.detachGroup(group, count, minAgeMs);
}

export function nativeTable(): number {
  return addon!.table();
}

export function setNativeTable(index: number, mode: NativeTableMode, endpoints: readonly { ip: string; port: number }[]): void {
  addon!.setTable(index, mode, endpoints.map((e) => e.ip), endpoints.map((e) => e.port));
}

export function freeNativeTable(index: number): void {
  addon?.freeTable(index);
}

/**
 * Serve a bound socket natively (the addon listens on a duplicate; the caller closes its own
 * descriptor). `reuseport`: on a socket of its own bound to the same address with SO_REUSEPORT
 * instead, so that the kernel spreads connections over the proxy workers (each has one).
 * `accepted` gets the sockets of connections JavaScript picks for (affinity tables).
 */
export function listenNatively(fd: number, table: number, group: number, reuseport: boolean, accepted: (fd: number) => void): number {
  const id = addon!.listen(fd, table, group, reuseport);
  acceptors.set(id, accepted);
  return id;
}

export function routeNativeListener(id: number, table: number): void {
  addon!.route(id, table);
}

/** Stop accepting (done on return); the connections carry on. */
export function closeNativeListener(id: number): void {
  acceptors.delete(id);
  addon?.closeListener(id);
}
