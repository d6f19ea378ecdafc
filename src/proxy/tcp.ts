// TCP frontends of the userspace proxy: a listening socket whose connections are relayed to an
// endpoint the Service port's Balancer picks. The endpoint is dialed before any client byte is
// read, so a refused dial (a pod that has just stopped listening) is retried on another endpoint
// without losing data. Half-close travels through (a FIN from one side is passed on while the
// other direction keeps flowing) and an abortive close (RST) of one side resets the other.
//
// Three implementations with the same behaviour:
// - `handles`: Node's TCP stream handles driven directly, as
//   net.Socket drives them but without the stream machinery in between. Each chunk read is
//   written straight to the other handle (with the reading side paused while a write is
//   pending), which takes less than half the CPU per connection that two piped net.Sockets do —
//   the difference between trailing HAProxy and matching it on connection rate.
//   A connection that goes on past its first exchange is then handed to the native relay
//   (native-relay.ts, native/relay.c) where that is built: an epoll thread moves its bytes with
//   no JavaScript per chunk, which is most of what the stream handles still cost per request.
// - `net`: two net.Sockets spliced with pipe(); portable, used when the handles are not
//   reachable (process.binding withdrawn in some future Node).
// - `native` (the default): `handles`, but where the native relay is available the listening
//   socket itself is served by the addon's epoll thread (NativeListener): it accepts, picks from a
//   table programmed from the balancer (round-robin or random over the same usable endpoints, in
//   the same order), dials and relays with no JavaScript per connection; a connection used to
//   cost ~60 µs of CPU more in JavaScript and libuv than in C (new connection per request).
//   Rules kept: a refused dial is retried on another endpoint (MAX_DIALS), no endpoint resets
//   the client, a table change leaves open connections alone. With ClientIP affinity the
//   accepted socket is handed to JavaScript, which picks and relays it as it does its own.
//   Where the addon is missing (or KUBELITE_PROXY_RELAY=js), `native` is `handles`.
//
// Proxy workers (worker-pool.ts, worker-main.ts) use the handles: the primary binds a socket
// (bindListener) and each worker listens on its copy (serveListener), or with `native` on a
// socket of its own bound to the same address with SO_REUSEPORT, so that the kernel spreads
// connections over the workers by their addresses' hash (a shared socket served by epoll
// threads goes to whichever accepts first: all 50 of a burst to one worker at times). The hash
// spreads unevenly too (19 + 31 of 50 keep-alive connections): natively accepted connections
// that settle are moved between workers like JavaScript's (detachSettled). A worker's
// endpoint choice may need a round trip to the primary (affinity), so a connection asks a
// Picker, which answers at once or later.
import net from 'node:net';
import { closeSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { getSystemErrorMap } from 'node:util';
import { Balancer } from './balancer.js';
import type { ProxyEndpoint } from './endpoints.js';
import type { ProxyCounters } from './metrics.js';
import {
  NativeEnd, NativeTableMode, closeNativeGroup, closeNativeListener, closeNativeRelay, detachNativeGroup, detachNativeRelay, freeNativeTable,
  listenNatively, nativeAcceptAvailable, nativeCounters, nativeGroup, nativeRelayAvailable, nativeSettled, nativeTable, relayNatively,
  routeNativeListener, setNativeTable,
} from './native-relay.js';

/**
 * `native`: `handles`, with the listening sockets served by the native relay's thread where it is
 * available (native-relay.ts: accept, endpoint choice, dial and relay in C); `handles` otherwise.
 */
export type TcpImplementation = 'native' | 'handles' | 'net';

/** Something the proxy can end on stop: a connection being relayed. */
export interface Relayed {
  destroy(): void;
}

export interface TcpFrontend {
  /** Bind and listen; `done` is called once, with the error if that failed. */
  listen(address: string, port: number, done: (err?: NodeJS.ErrnoException) => void): void;
  /** Stop accepting; established connections carry on. */
  close(): void;
  /** The balancer, or its endpoints, changed: frontends that hold copies elsewhere update them. */
  refresh?(): void;
}

/** Returned by `Picker.pick` when the choice is made elsewhere and handed to `waiter` later. */
export const PICK_LATER = Symbol('pick later');

export interface PickWaiter {
  picked(ep: ProxyEndpoint | undefined): void;
}

/**
 * What a relayed connection asks for its endpoint: a Balancer, or a proxy worker's copy of one
 * that may have to ask the primary (ClientIP affinity, src/proxy/worker-main.ts).
 */
export interface Picker {
  readonly hasAffinity: boolean;
  /** The endpoint, undefined when none is usable, or PICK_LATER when `waiter` will be told. */
  pick(clientIP: string | undefined, exclude: ReadonlySet<string> | undefined, waiter: PickWaiter): ProxyEndpoint | undefined | typeof PICK_LATER;
}

/** What a connection accepted on a served listener handle needs (see `serveListener`). */
export interface ListenerContext {
  /** Read for every connection. */
  picker(): Picker;
  open: Set<Relayed>;
  counters: ProxyCounters;
}

export interface TcpFrontendContext {
  /** Read for every connection: a Service change replaces the balancer. */
  balancer(): Balancer<ProxyEndpoint>;
  /** Connections being relayed, so that the proxy can end them on stop. */
  open: Set<Relayed>;
  counters: ProxyCounters;
}

/** Endpoints tried per client connection before it is reset. */
const MAX_DIALS = 3;
/** Dial failures that say "this endpoint does not answer" rather than "this machine is in trouble". */
const RETRIABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EADDRNOTAVAIL']);
const LISTEN_BACKLOG = 1024;
/**
 * Linux copies TCP_NODELAY from a listening socket to the sockets it accepts, so setting it once
 * on the listener spares a setsockopt per connection; elsewhere each accepted socket gets it.
 */
const NODELAY_INHERITED = process.platform === 'linux';

// ---- Node's stream handles ----------------------------------------------------------------------

interface TCPHandle {
  /** The socket's file descriptor (-1 where there is none). */
  readonly fd: number;
  bind(address: string, port: number): number;
  bind6(address: string, port: number, flags: number): number;
  listen(backlog: number): number;
  connect(req: object, address: string, port: number): number;
  connect6(req: object, address: string, port: number): number;
  readStart(): number;
  readStop(): number;
  writeBuffer(req: object, data: Uint8Array): number;
  shutdown(req: object): number;
  setNoDelay(on: boolean): number;
  getpeername(out: { address?: string }): number;
  getsockname(out: { port?: number }): number;
  reset(cb: () => void): number;
  /** Take over an open socket descriptor. */
  open(fd: number): number;
  useUserBuffer(buffer: Uint8Array): void;
  close(cb?: () => void): void;
  /** A function only: the binding rejects anything else. */
  onread: (buffer: ArrayBuffer | undefined) => void;
  onconnection: (status: number, client?: TCPHandle) => void;
}

interface Req {
  oncomplete?: (status: number) => void;
  handle?: TCPHandle;
  buffer?: Uint8Array;
  address?: string;
  port?: number;
}

interface Handles {
  newServer(): TCPHandle;
  newSocket(): TCPHandle;
  newConnectReq(): Req;
  newWriteReq(): Req;
  newShutdownReq(): Req;
  state: Int32Array;
  kReadBytesOrError: number;
  kArrayBufferOffset: number;
  kLastWriteWasAsync: number;
}

/** libuv's end-of-stream status. */
const UV_EOF = -4095;
const errnoNames = getSystemErrorMap();

function errnoCode(status: number): string {
  return errnoNames.get(status)?.[0] ?? `E${-status}`;
}

function uvError(status: number, syscall: string, address: string, port: number): NodeJS.ErrnoException {
  const [code, description] = errnoNames.get(status) ?? [`E${-status}`, 'unknown error'];
  return Object.assign(new Error(`${syscall} ${code}: ${description} ${address}:${port}`), { code, errno: status, syscall, address, port });
}

/** Node's TCP and stream bindings, or undefined where they cannot be reached as expected. */
function loadHandles(): Handles | undefined {
  try {
    const binding = (process as unknown as { binding(name: string): Record<string, any> }).binding;
    const tcp = binding('tcp_wrap');
    const stream = binding('stream_wrap');
    const { TCP, TCPConnectWrap, constants } = tcp;
    const { WriteWrap, ShutdownWrap, streamBaseState } = stream;
    if (typeof TCP !== 'function' || typeof TCPConnectWrap !== 'function' || typeof WriteWrap !== 'function' || typeof ShutdownWrap !== 'function') return undefined;
    if (!(streamBaseState instanceof Int32Array) || typeof TCP.prototype.reset !== 'function' || typeof TCP.prototype.useUserBuffer !== 'function') return undefined;
    return {
      newServer: () => new TCP(constants.SERVER),
      newSocket: () => new TCP(constants.SOCKET),
      newConnectReq: () => new TCPConnectWrap(),
      newWriteReq: () => new WriteWrap(),
      newShutdownReq: () => new ShutdownWrap(),
      state: streamBaseState,
      kReadBytesOrError: stream.kReadBytesOrError,
      kArrayBufferOffset: stream.kArrayBufferOffset,
      kLastWriteWasAsync: stream.kLastWriteWasAsync,
    };
  } catch {
    return undefined;
  }
}

const handles = loadHandles();

/** The implementation used when none is asked for: native accept where the addon is built. */
export const DEFAULT_TCP_IMPLEMENTATION: TcpImplementation = handles ? 'native' : 'net';

export function createTcpFrontend(ctx: TcpFrontendContext, impl: TcpImplementation = DEFAULT_TCP_IMPLEMENTATION): TcpFrontend {
  if ((impl === 'handles' || impl === 'native') && handles) return new HandleFrontend(handles, ctx, impl === 'native');
  return new NetFrontend(ctx);
}

class HandleFrontend implements TcpFrontend {
  private server?: TCPHandle;
  private served?: NativeListener;

  constructor(private readonly h: Handles, private readonly ctx: TcpFrontendContext, private readonly native: boolean) {}

  listen(address: string, port: number, done: (err?: NodeJS.ErrnoException) => void): void {
    const server = this.h.newServer();
    let status = address.includes(':') ? server.bind6(address, port, 0) : server.bind(address, port);
    if (status === 0 && NODELAY_INHERITED) status = server.setNoDelay(true);
    if (status === 0) status = server.listen(LISTEN_BACKLOG);
    if (status !== 0) {
      server.close();
      done(uvError(status, 'listen', address, port));
      return;
    }
    const ctx = this.ctx;
    const lctx: ListenerContext = { picker: () => ctx.balancer(), open: ctx.open, counters: ctx.counters };
    if (this.native && nativeAcceptAvailable()) {
      const served = serveNatively(this.h, server, lctx);
      if (served instanceof Error) {
        done(Object.assign(served, { address, port }));
        return;
      }
      this.served = served;
      done();
      return;
    }
    acceptOn(this.h, server, lctx);
    this.server = server;
    done();
  }

  close(): void {
    this.server?.close();
    this.server = undefined;
    this.served?.close();
    this.served = undefined;
  }

  refresh(): void {
    this.served?.sync();
  }
}

// ---- listeners served by the native relay (native-relay.ts) -------------------------------------

/** The native copy of a balancer: its table index, the balancer version it holds, its listeners. */
interface NativeTableRef {
  index: number;
  version: number;
  refs: number;
}
const nativeTables = new WeakMap<Balancer<ProxyEndpoint>, NativeTableRef>();
/** For listeners whose picker has no balancer (a worker's stand-in for a dropped one): no endpoint. */
let emptyTable: number | undefined;

/** The balancer behind a picker: itself, or a proxy worker's local copy (worker-main.ts). */
function balancerOf(p: Picker): Balancer<ProxyEndpoint> | undefined {
  if (p instanceof Balancer) return p as Balancer<ProxyEndpoint>;
  const local = (p as { local?: unknown }).local;
  return local instanceof Balancer ? (local as Balancer<ProxyEndpoint>) : undefined;
}

/**
 * How long a natively accepted connection must have lived to count as settled (movable between
 * proxy workers): two of worker-main.ts' balance intervals, as HandleRelay's epochs.
 */
const NATIVE_SETTLED_AGE_MS = 400;

/** Per set of relayed connections (one proxy's): its native group, which stands in the set for them. */
class NativeGroup implements Relayed {
  readonly id = nativeGroup();
  constructor(private readonly h: Handles) {}
  destroy(): void {
    closeNativeGroup(this.id);
  }
  /** The group's settled connections (see countSettled). */
  settled(): number {
    return nativeSettled(this.id, NATIVE_SETTLED_AGE_MS);
  }
  /** Hand up to `max` settled connections to `detached` (see detachSettled); they arrive later. */
  detach(max: number, detached: (d: DetachedRelay) => void): void {
    detachNativeGroup(this.id, max, NATIVE_SETTLED_AGE_MS, (clientFd, endpointFd) => {
      const d = handlesOf(this.h, clientFd, endpointFd);
      if (d) detached(d);
    });
  }
}
const nativeGroups = new WeakMap<Set<Relayed>, NativeGroup>();

/**
 * The counters of the connections accepted natively for this set's listeners (added to the
 * set's own in metrics and worker reports), undefined when none were served natively.
 */
export function nativeCountersOf(open: Set<Relayed>): ProxyCounters | undefined {
  const g = nativeGroups.get(open);
  if (!g) return undefined;
  const [accepted, active, rejected, dialErrors] = nativeCounters(g.id);
  return { accepted: { TCP: accepted, UDP: 0 }, active: { TCP: active, UDP: 0 }, rejected: { TCP: rejected, UDP: 0 }, dialErrors };
}

/** A listening socket served by the native relay's thread. */
export class NativeListener implements ServedListener {
  private id = -1;
  private balancer?: Balancer<ProxyEndpoint>;
  private table?: NativeTableRef;
  private closed = false;

  constructor(private readonly h: Handles, private readonly ctx: ListenerContext) {}

  /** Listen on `fd`, or with `reuseport` on a socket bound like it (the caller closes its handle of it). */
  start(fd: number, reuseport: boolean): void {
    let group = nativeGroups.get(this.ctx.open);
    if (!group) {
      group = new NativeGroup(this.h);
      nativeGroups.set(this.ctx.open, group);
      this.ctx.open.add(group);
    }
    const table = this.tableIndex();
    this.id = listenNatively(fd, table, group.id, reuseport, (client) => this.accepted(client));
  }

  /** Program the table the listener's picker stands for now (when its balancer or that changed). */
  sync(): void {
    if (this.closed) return;
    const before = this.balancer;
    const index = this.tableIndex();
    if (this.balancer !== before && this.id >= 0) routeNativeListener(this.id, index);
  }

  private tableIndex(): number {
    const b = balancerOf(this.ctx.picker());
    if (b !== this.balancer) {
      this.release();
      this.balancer = b;
      if (b) {
        let t = nativeTables.get(b);
        if (!t) nativeTables.set(b, (t = { index: nativeTable(), version: -1, refs: 0 }));
        t.refs++;
        this.table = t;
      }
    }
    const t = this.table;
    if (!b || !t) return (emptyTable ??= nativeTable());
    if (t.version !== b.version) {
      t.version = b.version;
      const mode = b.hasAffinity ? NativeTableMode.JavaScript : b.mode === 'random' ? NativeTableMode.Random : NativeTableMode.RoundRobin;
      setNativeTable(t.index, mode, b.current);
    }
    return t.index;
  }

  private release(): void {
    const t = this.table, b = this.balancer;
    this.table = undefined;
    if (!t || !b || --t.refs > 0) return;
    nativeTables.delete(b);
    freeNativeTable(t.index);
  }

  /** A socket the native relay accepted for JavaScript to pick for (ClientIP affinity). */
  private accepted(fd: number): void {
    const client = this.h.newSocket();
    if (client.open(fd) !== 0) {
      client.close();
      closeSync(fd);
      return;
    }
    new HandleRelay(this.h, client, this.ctx.picker(), this.ctx);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.id >= 0) closeNativeListener(this.id);
    this.release();
    this.balancer = undefined;
  }
}

/**
 * Serve a listening (or bound) handle natively; the handle is closed here. `reuseport`: a proxy
 * worker's, on a socket of its own in the address's SO_REUSEPORT group (native-relay.ts).
 */
function serveNatively(h: Handles, server: TCPHandle, ctx: ListenerContext, reuseport = false): NativeListener | NodeJS.ErrnoException {
  const served = new NativeListener(h, ctx);
  try {
    served.start(server.fd, reuseport);
  } catch (e) {
    served.close();
    server.close();
    const err = e as NodeJS.ErrnoException;
    return Object.assign(new Error(`native ${err.message}`), { code: err.code ?? 'UNKNOWN', syscall: 'listen' });
  }
  server.close();
  return served;
}

function acceptOn(h: Handles, server: TCPHandle, ctx: ListenerContext): void {
  server.onconnection = (st, client) => {
    // A failed accept (EMFILE...) loses that one connection; the listener goes on.
    if (st < 0 || !client) return;
    new HandleRelay(h, client, ctx.picker(), ctx);
  };
}

/** A bound TCP handle that is not listening yet, to be passed to proxy workers. */
export interface BoundListener {
  /** The raw handle, as child_process.send accepts it. */
  readonly handle: object;
  close(): void;
}

/**
 * Bind address:port without listening: proxy workers each listen on (and accept from) a copy of
 * the socket, so the process that binds it takes no connections itself. Needs the stream handles.
 */
export function bindListener(address: string, port: number): BoundListener | NodeJS.ErrnoException {
  if (!handles) return Object.assign(new Error('proxy workers need Node\'s TCP stream handles, not reachable in this Node'), { code: 'ENOTSUP' });
  const server = handles.newServer();
  let status = address.includes(':') ? server.bind6(address, port, 0) : server.bind(address, port);
  if (status === 0) {
    // libuv reports a bind's EADDRINUSE only at listen(); an unbound socket shows port 0 here.
    const out: { port?: number } = {};
    status = server.getsockname(out);
    if (status === 0 && out.port !== port) status = -osConstants.errno.EADDRINUSE;
  }
  // On the shared socket itself: every worker's copy accepts with it.
  if (status === 0 && NODELAY_INHERITED) status = server.setNoDelay(true);
  if (status !== 0) {
    server.close();
    return uvError(status, 'bind', address, port);
  }
  return { handle: server, close: () => server.close() };
}

/** A listening socket served in this process (a proxy worker's copy of a bound listener). */
export interface ServedListener {
  close(): void;
  /** The picker's balancer changed (natively served listeners program their table). */
  sync?(): void;
}

/**
 * Listen on a handle received from the primary and relay what it accepts; `native`: served by
 * the native relay's thread where it is available.
 */
export function serveListener(handle: unknown, ctx: ListenerContext, native = false): ServedListener | NodeJS.ErrnoException {
  if (!handles) return Object.assign(new Error('no TCP stream handles in this Node'), { code: 'ENOTSUP' });
  const server = handle as TCPHandle;
  if (native && nativeAcceptAvailable()) return serveNatively(handles, server, ctx, true);
  const status = server.listen(LISTEN_BACKLOG);
  if (status !== 0) {
    server.close();
    return uvError(status, 'listen', '', 0);
  }
  acceptOn(handles, server, ctx);
  return { close: () => server.close() };
}

/**
 * Read buffers, one per direction of a relayed connection (handle.useUserBuffer): reads land in
 * them instead of a fresh ArrayBuffer each, which spares allocation and garbage collection per
 * chunk. A direction reads no more while a write of its buffer is pending, so one buffer each is
 * enough. Free buffers are kept for the next connections, up to a bound.
 *
 * Each buffer keeps the view of it last written (the chunk read): chunks often come in the same
 * size again, on one connection (requests and responses of one kind) and on the next ones, and
 * a typed array per chunk is garbage to collect.
 */
interface ReadBuffer {
  readonly bytes: Buffer;
  view: Buffer;
}
const READ_BUFFER_BYTES = 32 * 1024;
const POOLED_BUFFERS_MAX = 512;
const freeBuffers: ReadBuffer[] = [];
function takeBuffer(): ReadBuffer {
  const free = freeBuffers.pop();
  if (free) return free;
  const bytes = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
  return { bytes, view: bytes };
}
function releaseBuffer(b: ReadBuffer | undefined): void {
  if (b && freeBuffers.length < POOLED_BUFFERS_MAX) freeBuffers.push(b);
}
const noop = () => {};
/**
 * The write request every relay passes while writes complete at once (nearly always on loopback):
 * such a write leaves the request untouched, so one serves all; a write that stays pending keeps
 * it, and the next write takes a new one. Spares a request object per direction and connection.
 */
let idleWriteReq: Req | undefined;
/**
 * A relay is handed to the native relay when the client sends a second chunk (a second request
 * on a kept-alive connection), or at the eighth chunk read either way (a long answer, a stream).
 * Handing over costs system calls (duplicating, registering, and at the end unregistering both
 * sockets) and two thread wake-ups, which a connection carrying one exchange and closing (a new
 * connection per request) would pay without gaining anything, also when its answer comes in
 * more than one chunk; a connection that goes on gains at every chunk after.
 */
const NATIVE_AT_CLIENT_CHUNK = 2;
const NATIVE_AT_CHUNK = 8;

// ---- moving relayed connections between proxy workers -------------------------------------------
//
// The workers share each listening socket and the kernel hands a connection to whichever worker
// accepts first, so long-lived connections can end up unevenly spread (with wrk -c50 against two
// workers, 31 against 19). A worker can hand an established relay over to another: it stops
// reading both sockets and sends them on (worker-pool.ts); the receiver starts reading them where
// they stand. Nothing is in flight in userspace when a relay is idle between two reads, as each
// chunk read is written at once; data arriving meanwhile waits in the kernel's socket buffers.
// Only connections that have lived a while ("settled") count and move: short ones end before a
// move would pay off, so a new connection per request costs nothing extra.

/** Advanced by the worker's balance timer; a relay born two ticks ago or earlier is settled. */
let relayEpoch = 0;
/** Relays handed over from another worker were settled there. */
const ADOPTED = -Infinity;

export function nextRelayEpoch(): void {
  relayEpoch++;
}

/** A settled relay's two sockets, taken out of this process's event loop (see `detachSettled`). */
export interface DetachedRelay {
  client: object;
  upstream: object;
}

/** How many of `open`'s relays are settled. */
export function countSettled(open: Iterable<Relayed>): number {
  let n = 0;
  for (const r of open) {
    if (r instanceof HandleRelay && r.settled()) n++;
    else if (r instanceof NativeGroup) n += r.settled();
  }
  return n;
}

/**
 * Stop relaying up to `max` settled connections here: their sockets are passed to `detached`, to
 * be sent to another worker (and closed here once sent); they count as no longer active in this
 * process. Relays in JavaScript are detached at once, native ones once the native relay has
 * handed their sockets back (or not at all, if bytes are in flight by then); connections the
 * native relay accepted itself (a NativeGroup's) come last, as many as it finds settled.
 */
export function detachSettled(open: Set<Relayed>, max: number, detached: (d: DetachedRelay) => void): void {
  let asked = 0;
  let group: NativeGroup | undefined;
  for (const r of open) {
    if (asked >= max) break;
    if (r instanceof NativeGroup) group = r;
    else if (r instanceof HandleRelay && r.movable()) {
      asked++;
      r.detach(detached);
    }
  }
  // Connections the native relay accepted itself are asked for after those of JavaScript.
  if (group && asked < max) group.detach(max - asked, detached);
}

/** Handles of their own for a detached connection's two descriptors (undefined: lost, not leaked). */
function handlesOf(h: Handles, clientFd: number, endpointFd: number): DetachedRelay | undefined {
  const client = h.newSocket(), upstream = h.newSocket();
  const clientOpened = client.open(clientFd) === 0, upstreamOpened = upstream.open(endpointFd) === 0;
  if (clientOpened && upstreamOpened) return { client, upstream };
  // Not seen (they are open sockets); the connection is lost then, not leaked.
  client.close();
  upstream.close();
  if (!clientOpened) closeSync(clientFd);
  if (!upstreamOpened) closeSync(endpointFd);
  return undefined;
}

/** Relay the two sockets of a connection another worker detached. */
export function adoptRelay(client: unknown, upstream: unknown, ctx: ListenerContext): Relayed | NodeJS.ErrnoException {
  if (!handles) return Object.assign(new Error('no TCP stream handles in this Node'), { code: 'ENOTSUP' });
  return new HandleRelay(handles, client as TCPHandle, ctx.picker(), ctx, upstream as TCPHandle);
}

/**
 * One client connection relayed with stream handles. A connection that carries more than one
 * exchange is handed over to the native relay where it is available (native-relay.ts): then this
 * object only stands for the connection in `open` and the counters until the native relay
 * reports its end.
 */
class HandleRelay implements Relayed, PickWaiter {
  private upstream?: TCPHandle;
  /** The native relay's id, once it has taken the sockets over. */
  private nativeId?: number;
  /** Where a native relay's sockets go once it has handed them back (detach). */
  private detaching?: (d: DetachedRelay) => void;
  /** Taken at the first dial: what the client sends is read into one, the endpoint's into the other. */
  private fromClient?: ReadBuffer;
  private fromUpstream?: ReadBuffer;
  private failed?: Set<string>;
  private readonly clientIP?: string;
  private ended = false;
  private eofs = 0;
  /** Chunks read from the client, and both ways (counted up to the hand-over to the native relay). */
  private clientChunks = 0;
  private chunks = 0;
  /** Writes the kernel has not taken whole yet (their direction has stopped reading). */
  private pendingWrites = 0;
  private readonly born: number;

  /** With `adopted`, the endpoint side of a connection relayed elsewhere before: no dial. */
  constructor(private readonly h: Handles, private readonly client: TCPHandle, private readonly picker: Picker, private readonly ctx: ListenerContext, adopted?: TCPHandle) {
    ctx.counters.active.TCP++;
    ctx.open.add(this);
    if (adopted) {
      this.born = ADOPTED;
      this.upstream = adopted;
      // Nothing is in flight in a detached relay (detachSettled).
      if (nativeRelayAvailable() && this.handOver(adopted)) return;
      this.fromUpstream = takeBuffer();
      this.pipe(adopted, client, this.fromUpstream);
      this.fromClient = takeBuffer();
      this.pipe(client, adopted, this.fromClient);
      return;
    }
    this.born = relayEpoch;
    ctx.counters.accepted.TCP++;
    if (picker.hasAffinity) {
      const peer: { address?: string } = {};
      client.getpeername(peer);
      this.clientIP = peer.address;
    }
    this.dial();
  }

  /** Connected both ways, no FIN seen, and old enough to stay. */
  settled(): boolean {
    if (this.ended || this.detaching || this.born > relayEpoch - 2) return false;
    // The native relay checks for FINs itself when asked to detach.
    return this.nativeId !== undefined || (this.fromClient !== undefined && this.eofs === 0);
  }

  /** Settled, and no write is pending: everything read has been passed on. */
  movable(): boolean {
    return this.pendingWrites === 0 && this.settled();
  }

  /** Stop relaying (see detachSettled); only when movable(). */
  detach(detached: (d: DetachedRelay) => void): void {
    if (this.nativeId !== undefined) {
      this.detaching = detached;
      detachNativeRelay(this.nativeId);
      return;
    }
    const client = this.client, upstream = this.upstream!;
    client.readStop();
    upstream.readStop();
    this.ended = true;
    this.ctx.open.delete(this);
    this.ctx.counters.active.TCP--;
    releaseBuffer(this.fromClient);
    releaseBuffer(this.fromUpstream);
    this.fromClient = this.fromUpstream = undefined;
    detached({ client, upstream });
  }

  private dial(): void {
    const ep = this.picker.pick(this.clientIP, this.failed, this);
    if (ep !== PICK_LATER) this.picked(ep);
  }

  picked(ep: ProxyEndpoint | undefined): void {
    if (this.ended) return;
    if (!ep) {
      this.ctx.counters.rejected.TCP++;
      this.end(this.client);
      return;
    }
    const up = this.h.newSocket();
    this.upstream = up;
    // Set before the socket exists, libuv applies it when connect creates the socket.
    up.setNoDelay(true);
    const req = this.h.newConnectReq();
    req.address = ep.ip;
    req.port = ep.port;
    req.oncomplete = (status) => this.connected(up, ep, status);
    const status = ep.ip.includes(':') ? up.connect6(req, ep.ip, ep.port) : up.connect(req, ep.ip, ep.port);
    if (status !== 0) {
      this.connected(up, ep, status);
      return;
    }
    // Reading the endpoint starts with the dial rather than once it is connected: libuv then
    // registers the socket with epoll once, for the connect and for reading, where starting to
    // read after the connect costs two more epoll_ctl calls (an add that fails with EEXIST, then
    // a modify). Nothing can be read before the connection is up, and a failed dial closes the
    // socket before libuv reads from it.
    this.fromUpstream ??= takeBuffer();
    this.pipe(up, this.client, this.fromUpstream);
  }

  private connected(up: TCPHandle, ep: ProxyEndpoint, status: number): void {
    if (this.ended) return;
    if (status < 0) {
      this.ctx.counters.dialErrors++;
      up.close();
      this.upstream = undefined;
      (this.failed ??= new Set()).add(ep.key);
      if (this.failed.size < MAX_DIALS && RETRIABLE.has(errnoCode(status))) this.dial();
      else this.end(this.client);
      return;
    }
    if (!NODELAY_INHERITED) this.client.setNoDelay(true);
    this.fromClient = takeBuffer();
    this.pipe(this.client, up, this.fromClient);
  }

  /**
   * Hand both sockets to the native relay and close the handles here (a close, which sends
   * nothing: the native relay holds duplicates). `chunk`, just read from `from` and not written
   * yet, is the only byte in flight (no write is pending): the native relay writes it first.
   * Returns false, relaying on here, when the native relay could not take the sockets (out of
   * descriptors for the duplicates).
   */
  private handOver(up: TCPHandle, from?: TCPHandle, chunk?: Uint8Array): boolean {
    try {
      const ended = (how: NativeEnd, _toEndpoint: number, _toClient: number, clientFd: number, endpointFd: number) => this.nativeEnded(how, clientFd, endpointFd);
      this.nativeId = from === this.client
        ? relayNatively(this.client.fd, up.fd, ended, chunk)
        : relayNatively(this.client.fd, up.fd, ended, undefined, chunk);
    } catch {
      return false;
    }
    this.client.close();
    up.close();
    // Closed handles read no more: their buffers can serve others.
    releaseBuffer(this.fromClient);
    releaseBuffer(this.fromUpstream);
    this.fromClient = this.fromUpstream = undefined;
    return true;
  }

  private nativeEnded(how: NativeEnd, clientFd: number, endpointFd: number): void {
    const detached = this.detaching;
    this.detaching = undefined;
    if (how === NativeEnd.Kept) return;
    this.nativeId = undefined;
    if (how === NativeEnd.Detached) {
      this.ended = true;
      this.ctx.open.delete(this);
      this.ctx.counters.active.TCP--;
      // Handles of their own for the sockets, to send on as a relay detached here is sent.
      const d = handlesOf(this.h, clientFd, endpointFd);
      if (d) detached!(d);
      return;
    }
    if (this.ended) return;
    this.ended = true;
    this.ctx.open.delete(this);
    this.ctx.counters.active.TCP--;
  }

  /** Copy src → dst chunk by chunk; pass src's FIN on as a shutdown of dst. */
  private pipe(src: TCPHandle, dst: TCPHandle, rb: ReadBuffer): void {
    const h = this.h;
    const buffer = rb.bytes;
    src.useUserBuffer(buffer);
    src.onread = () => {
      if (this.ended) return;
      const nread = h.state[h.kReadBytesOrError]!;
      if (nread > 0) {
        if (rb.view.length !== nread) rb.view = nread === buffer.length ? buffer : buffer.subarray(0, nread);
        if ((++this.chunks >= NATIVE_AT_CHUNK || (src === this.client && ++this.clientChunks >= NATIVE_AT_CLIENT_CHUNK)) && this.pendingWrites === 0 && this.eofs === 0 && nativeRelayAvailable() && this.handOver(this.upstream!, src, rb.view)) return;
        const req = (idleWriteReq ??= h.newWriteReq());
        const status = dst.writeBuffer(req, rb.view);
        if (status < 0) {
          idleWriteReq = undefined;
          this.end(src);
        } else if (h.state[h.kLastWriteWasAsync]) {
          // The kernel took only part of it: the rest goes out of `buffer`, so nothing more is
          // read into it until that write completes. The request is this write's until then
          // (its completion is reported later, so the callback is set in time).
          idleWriteReq = undefined;
          this.pendingWrites++;
          req.oncomplete = (st: number) => {
            this.pendingWrites--;
            if (this.ended) return;
            if (st < 0) this.end(src);
            else src.readStart();
          };
          src.readStop();
        }
        return;
      }
      if (nread === UV_EOF) {
        // Both sides have sent their FIN: nothing is pending either way (a direction with a
        // pending write reads nothing, its FIN included), so closing both is a clean close.
        if (++this.eofs === 2) {
          this.end();
          return;
        }
        // Half-close: pass the FIN on (libuv sends it after the writes still queued on dst).
        const shutdown = h.newShutdownReq();
        shutdown.handle = dst;
        shutdown.oncomplete = noop;
        if (dst.shutdown(shutdown) < 0) this.end(src);
        return;
      }
      if (nread < 0) this.end(dst);
    };
    src.readStart();
  }

  /**
   * Finish the relay: close both sides; `reset` (the peer of a side that failed, or a client no
   * endpoint can take) is told with a reset, as the kernel would tell it.
   */
  private end(reset?: TCPHandle): void {
    if (this.ended) return;
    this.ended = true;
    this.ctx.open.delete(this);
    this.ctx.counters.active.TCP--;
    for (const side of [this.client, this.upstream]) {
      if (!side || side === reset) continue;
      side.close();
    }
    if (reset && reset.reset(noop) !== 0) reset.close();
    // Closed handles neither read nor write any more: their buffers can serve others.
    releaseBuffer(this.fromClient);
    releaseBuffer(this.fromUpstream);
    this.fromClient = this.fromUpstream = undefined;
  }

  destroy(): void {
    if (this.nativeId !== undefined) closeNativeRelay(this.nativeId);
    else this.end();
  }
}

// ---- net.Socket ---------------------------------------------------------------------------------

class NetFrontend implements TcpFrontend {
  private server?: net.Server;

  constructor(private readonly ctx: TcpFrontendContext) {}

  listen(address: string, port: number, done: (err?: NodeJS.ErrnoException) => void): void {
    const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (c) => relayNet(c, this.ctx.balancer(), this.ctx));
    this.server = server;
    let settled = false;
    server.once('listening', () => {
      settled = true;
      // Closed while the bind was under way: whatever got bound goes again.
      if (this.server !== server) server.close();
      else done();
    });
    server.on('error', (err) => {
      if (settled || this.server !== server) return; // an accept error (EMFILE...): the listener goes on
      settled = true;
      this.server = undefined;
      done(err);
    });
    server.listen({ host: address, port, backlog: LISTEN_BACKLOG });
  }

  close(): void {
    this.server?.close();
    this.server = undefined;
  }
}

/** Reset a connected socket (RST), or just destroy one that is not connected yet. */
function abort(s: net.Socket): void {
  if (s.destroyed) return;
  if (s.connecting) s.destroy();
  else s.resetAndDestroy();
}

/** Whether a socket closed after both directions finished normally (FIN each way). */
function closedCleanly(s: net.Socket): boolean {
  return s.readableEnded && s.writableFinished;
}

function relayNet(client: net.Socket, balancer: Balancer<ProxyEndpoint>, ctx: TcpFrontendContext): void {
  const { counters, open } = ctx;
  counters.accepted.TCP++;
  counters.active.TCP++;
  // remoteAddress costs a system call; only affinity needs it.
  const clientIP = balancer.hasAffinity ? client.remoteAddress : undefined;
  let upstream: net.Socket | undefined;
  let failed: Set<string> | undefined;
  open.add(client);
  client.on('error', () => {
    if (upstream) abort(upstream);
  });
  client.once('close', () => {
    open.delete(client);
    counters.active.TCP--;
    // A clean close leaves the endpoint side to finish flushing what it still has to send.
    if (upstream && !upstream.destroyed && !closedCleanly(client)) upstream.destroy();
  });

  const dial = (): void => {
    const ep = balancer.pick(clientIP, failed);
    if (!ep) {
      counters.rejected.TCP++;
      abort(client);
      return;
    }
    const up = net.connect({ host: ep.ip, port: ep.port, allowHalfOpen: true, noDelay: true });
    upstream = up;
    const onDialError = (err: NodeJS.ErrnoException) => {
      counters.dialErrors++;
      if (client.destroyed) return;
      (failed ??= new Set()).add(ep.key);
      if (failed.size < MAX_DIALS && RETRIABLE.has(err.code ?? '')) dial();
      else abort(client);
    };
    up.once('error', onDialError);
    up.once('connect', () => {
      up.removeListener('error', onDialError);
      if (client.destroyed) {
        up.destroy();
        return;
      }
      up.on('error', () => abort(client));
      up.once('close', () => {
        if (!client.destroyed && !closedCleanly(up)) client.destroy();
      });
      client.pipe(up);
      up.pipe(client);
    });
  };
  dial();
}
