// The in-process API channel: how `up`'s component threads (controllers, scheduler, node agents,
// proxy) reach the API server that runs on the process's main thread. Each thread gets a
// MessagePort; a request travels as one message and is served by the same handler as HTTPS and
// the API socket (ApiServer.serveInProcess): authentication by bearer token, authorization,
// admission, validation, the store. Only the transport differs.
//
// Why: the API server's main thread is the bottleneck of a large rollout, and on it an HTTP
// request costs more than the work it carries. On the 2-core machine of docs/performance.md a
// minimal Node HTTP server spends ~85–90 µs of CPU per small request over a Unix socket (parser,
// IncomingMessage/ServerResponse streams, one writev syscall per answer), a MessagePort round trip
// ~8 µs. Watch events are batched per event-loop turn and moved as transferred ArrayBuffers.
//
// The request and response objects below are the part of IncomingMessage and ServerResponse the
// handler uses (server.ts, watch.ts, podlog.ts): headers, method, url; writeHead/write/end,
// flushHeaders, destroy, writableLength and the 'close' and 'drain' events. Flow control as on a
// socket: what a stream has posted and its client has not yet taken counts in writableLength, so
// a watcher that falls behind is cut off as an HTTP one is (WatchHub's slow-watcher check).
import { EventEmitter } from 'node:events';
import type { MessagePort } from 'node:worker_threads';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

/** Client → server messages. */
export type ToServer =
  /** A request; `body` is the request body's text (JSON), as the client would send it. */
  | { t: 'req'; id: number; method: string; url: string; headers: Record<string, string>; body?: string }
  /** The client gave up on a request or stopped reading a stream (a watch stopped). */
  | { t: 'cancel'; id: number }
  /** The client has consumed `bytes` more of a stream's data: flow control. */
  | { t: 'ack'; id: number; bytes: number };

/** Server → client messages. */
export type ToClient =
  /** A whole answer: status, headers and body at once (every non-streaming request). */
  | { t: 'res'; id: number; status: number; headers: Record<string, string | string[]>; body: string }
  /** A streaming answer's head (a watch, a followed log): data messages follow. */
  | { t: 'head'; id: number; status: number; headers: Record<string, string | string[]> }
  /** Bytes of a streaming answer. */
  | { t: 'data'; id: number; body: ArrayBuffer }
  /** A streaming answer ended: normally, or cut off (`aborted`) as a reset connection would be. */
  | { t: 'end'; id: number; aborted: boolean };

/** A port's messages are posted in batches, one postMessage per event-loop turn and direction. */
export type Batch<T> = T[];

/** A response's unread data above which write() asks the caller to wait for 'drain' (Node's default highWaterMark). */
const HIGH_WATER_MARK = 16 * 1024;

/** The request as the handler reads it: no stream, the body is already here (server.ts readBody). */
export class ChannelRequest {
  constructor(readonly method: string, readonly url: string, readonly headers: IncomingHttpHeaders, readonly body: string | undefined) {}
}

/**
 * Messages posted on a port in batches: one postMessage per event-loop turn (after the turn's
 * other work, so that a burst of requests or answers travels together), with the buffers to
 * transfer. Both sides of the channel use it.
 */
export class Outbox<T> {
  private batch: Batch<T> = [];
  private transfer: ArrayBuffer[] = [];
  private scheduled = false;

  constructor(readonly port: MessagePort) {}

  post(m: T, transfer?: ArrayBuffer): void {
    this.batch.push(m);
    if (transfer) this.transfer.push(transfer);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.flush);
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const batch = this.batch;
    const transfer = this.transfer;
    this.batch = [];
    this.transfer = [];
    try {
      this.port.postMessage(batch, transfer);
    } catch {
      // The other side is gone (its port closed): what was posted has no one to go to.
    }
  };
}

/** One side of the channel on the server: the port of one component thread. */
class Port extends Outbox<ToClient> {
  /** Open responses by request id (streams waiting for acks or cancels, and requests in flight). */
  readonly open = new Map<number, ChannelResponse>();
  /** Requests and cancels received and not yet served, in arrival order, from `head` on. */
  queue: (ToServer & { t: 'req' | 'cancel' })[] = [];
  head = 0;
  /** In the server's round of ports with work waiting. */
  inRound = false;
}

/**
 * Channel requests the server starts per event-loop turn before it lets the loop go round (HTTPS
 * requests, the store's commits, the answers' flush, other ports). A node agents' thread posts
 * hundreds of status patches in one message during a rollout; served in one go they held the API
 * thread for 100–400 ms, and every other client's request, kubectl's too, waited behind them.
 * Counted, not timed: a handler's work runs mostly in promise continuations after the turn's
 * synchronous part, where a clock read here cannot see it. 64 pod writes are ~10–30 ms; 16 per
 * turn cost ~8 % more CPU per pod in a rollout (smaller commits and message batches everywhere).
 */
export const REQUESTS_PER_TURN = 64;

/** The response as the handler writes it. */
export class ChannelResponse extends EventEmitter {
  statusCode = 200;
  headersSent = false;
  writableEnded = false;
  destroyed = false;
  private headers: Record<string, string | string[]> = {};
  /** Streaming: the head is posted, data follows in `data` messages. */
  private streaming = false;
  /** Data written and not yet posted (this turn's writes), and its size. */
  private pending: (string | Buffer)[] = [];
  private pendingBytes = 0;
  private flushScheduled = false;
  /** Bytes posted that the client has not acknowledged. */
  private unacked = 0;
  private closed = false;

  constructor(private readonly id: number, private readonly port: Port) {
    super();
  }

  get writableLength(): number {
    return this.unacked + this.pendingBytes;
  }

  writeHead(code: number, headers?: OutgoingHttpHeaders): this {
    this.statusCode = code;
    if (headers) {
      for (const [k, v] of Object.entries(headers)) {
        if (v === undefined) continue;
        this.headers[k] = Array.isArray(v) ? v.map(String) : String(v);
      }
    }
    return this;
  }

  /** Posts the head now: the answer becomes a stream. */
  flushHeaders(): void {
    if (this.headersSent || this.destroyed) return;
    this.headersSent = true;
    this.streaming = true;
    this.port.post({ t: 'head', id: this.id, status: this.statusCode, headers: this.headers });
  }

  write(chunk: string | Buffer): boolean {
    if (this.writableEnded || this.destroyed) return false;
    this.flushHeaders();
    const bytes = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    if (bytes === 0) return true;
    this.pending.push(chunk);
    this.pendingBytes += bytes;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // After this turn's other writes (a batch of watch events is written in one turn).
      setImmediate(this.flushData);
    }
    return this.writableLength < HIGH_WATER_MARK;
  }

  end(chunk?: string | Buffer): this {
    if (this.writableEnded || this.destroyed) return this;
    if (!this.streaming) {
      this.writableEnded = true;
      // The common case: the whole answer in one message, its body as text.
      this.headersSent = true;
      const body = chunk === undefined ? '' : typeof chunk === 'string' ? chunk : chunk.toString('utf8');
      this.port.post({ t: 'res', id: this.id, status: this.statusCode, headers: this.headers, body });
      this.port.open.delete(this.id);
      this.closeSoon();
      return this;
    }
    if (chunk !== undefined) this.write(chunk);
    this.writableEnded = true;
    this.flushData();
    this.port.post({ t: 'end', id: this.id, aborted: false });
    this.port.open.delete(this.id);
    this.closeSoon();
    return this;
  }

  /** Ends the answer as a reset connection would: the client sees it cut off. */
  destroy(): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.pending = [];
    this.pendingBytes = 0;
    // Before or after the head: the client's request or stream fails as on a reset connection.
    if (!this.writableEnded) this.port.post({ t: 'end', id: this.id, aborted: true });
    this.port.open.delete(this.id);
    this.closeSoon();
    return this;
  }

  /** The client took `bytes` of the stream. */
  acked(bytes: number): void {
    const before = this.writableLength;
    this.unacked = Math.max(0, this.unacked - bytes);
    if (before >= HIGH_WATER_MARK && this.writableLength < HIGH_WATER_MARK) this.emit('drain');
  }

  /** The client went away (a watch stopped, a request abandoned): as a closed connection. */
  cancelled(): void {
    this.destroyed = true;
    this.pending = [];
    this.pendingBytes = 0;
    this.port.open.delete(this.id);
    this.closeSoon();
  }

  private readonly flushData = (): void => {
    this.flushScheduled = false;
    if (this.pendingBytes === 0 || this.destroyed) return;
    // One transferable buffer per turn: the bytes are copied once here and moved, not cloned.
    const out = Buffer.allocUnsafeSlow(this.pendingBytes);
    let at = 0;
    for (const c of this.pending) at += typeof c === 'string' ? out.write(c, at) : c.copy(out, at);
    this.unacked += this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    const ab = out.buffer as ArrayBuffer;
    this.port.post({ t: 'data', id: this.id, body: ab }, ab);
  };

  private closeSoon(): void {
    if (this.closed) return;
    this.closed = true;
    // As Node's ServerResponse: 'close' comes after end() returns, never inside it.
    process.nextTick(() => this.emit('close'));
  }
}

/** What serves a channel request: ApiServer.serveInProcess. */
export type ChannelHandler = (req: ChannelRequest, res: ChannelResponse) => void;

/**
 * The server side: attach each component thread's port. Requests are served in turn, one from
 * each port with requests waiting (fair queuing with a port as the flow, as upstream's API
 * Priority and Fairness queues each flow), REQUESTS_PER_TURN per event-loop turn; acks
 * (flow control) are taken at once. When a port closes (its thread ended), its queued requests
 * are dropped and its open streams end as on a closed connection.
 */
export class ApiChannelServer {
  private readonly ports = new Set<Port>();
  /** Ports with requests waiting, in serving order; `next` is the one to serve next. */
  private round: Port[] = [];
  private next = 0;
  private turnScheduled = false;

  constructor(private readonly handler: ChannelHandler) {}

  attach(port: MessagePort): void {
    const p = new Port(port);
    this.ports.add(p);
    port.on('message', (batch: Batch<ToServer>) => {
      for (const m of batch) {
        if (m.t === 'ack') p.open.get(m.id)?.acked(m.bytes);
        else p.queue.push(m);
      }
      if (p.head < p.queue.length && !p.inRound) {
        p.inRound = true;
        this.round.push(p);
      }
      this.scheduleTurn();
    });
    port.on('close', () => {
      p.queue = [];
      p.head = 0;
      this.ports.delete(p);
      for (const res of [...p.open.values()]) res.cancelled();
    });
  }

  private scheduleTurn(): void {
    if (this.turnScheduled || this.round.length === 0) return;
    this.turnScheduled = true;
    setImmediate(this.serveTurn);
  }

  private readonly serveTurn = (): void => {
    this.turnScheduled = false;
    const round = this.round;
    for (let served = 0; round.length && served < REQUESTS_PER_TURN; ) {
      if (this.next >= round.length) this.next = 0;
      const p = round[this.next]!;
      // Nothing left to serve, or the port closed (which dropped its queue).
      if (p.head >= p.queue.length) {
        p.inRound = false;
        round.splice(this.next, 1);
        continue;
      }
      const m = p.queue[p.head++]!;
      if (p.head === p.queue.length) {
        p.queue = [];
        p.head = 0;
      }
      this.receive(p, m);
      if (m.t === 'req') served++;
      // The next turn goes on from the next port, not from the first again.
      this.next++;
    }
    this.scheduleTurn();
  };

  private receive(p: Port, m: ToServer & { t: 'req' | 'cancel' }): void {
    if (m.t === 'req') {
      const res = new ChannelResponse(m.id, p);
      p.open.set(m.id, res);
      this.handler(new ChannelRequest(m.method, m.url, m.headers, m.body), res);
    } else {
      p.open.get(m.id)?.cancelled();
    }
  }

  /** Close every port: the component threads' clients see their streams end. */
  close(): void {
    for (const p of this.ports) {
      for (const res of [...p.open.values()]) res.cancelled();
      p.port.close();
    }
    this.ports.clear();
    this.round = [];
  }
}
