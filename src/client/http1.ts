// The HTTP/1.1 connection pool behind RestClient's requests: keep-alive connections to one
// server, one request at a time on each. Node's https.request through an Agent cost the
// components about three times the client CPU per small request of this pool in an interleaved
// A/B (ClientRequest and IncomingMessage streams, header objects, the agent's bookkeeping), and
// undici's Pool about twice; the components make about seven requests per pod. Here a request is
// one string written at once, and the answer is cut by Content-Length or chunks straight from
// the socket's buffers. Watches keep Node's client (long-lived streams, few).
import net from 'node:net';
import tls from 'node:tls';

/** An answer: status code, reason phrase and the whole body. */
export interface Http1Answer {
  status: number;
  statusText: string;
  body: Buffer;
}

export interface Http1PoolOptions {
  /** The server's host and port: connected to, and sent as Host. */
  host: string;
  port: number;
  /**
   * Connect to this Unix socket instead of host:port (which still make the Host header), in
   * plain HTTP: the API server's private channel (ApiServer.listenUnix).
   */
  socketPath?: string;
  /** TLS options of every connection; undefined for plain HTTP. */
  tls?: tls.ConnectionOptions;
  /** Connections at most; requests beyond wait for one. */
  maxConnections: number;
  /** Headers sent with every request (Host is added). */
  headers: Record<string, string>;
  /** An idle connection is closed after this long (default 30 s, below the servers' keep-alive timeouts: kubelite 65 s, Go 90 s). */
  idleTimeoutMs?: number;
}

const DEFAULT_IDLE_TIMEOUT_MS = 30_000;
const CRLF = Buffer.from('\r\n');
const CRLF_CRLF = Buffer.from('\r\n\r\n');
const EMPTY = Buffer.alloc(0);
/** Longest answer head accepted (Node's default --max-http-header-size). */
const MAX_HEAD_BYTES = 16 * 1024;
/** What a request path or header value must not contain (Node's http.request rejects the same). */
const INVALID_PATH = /[^\u0021-\u00ff]/;
const INVALID_HEADER_VALUE = /[^\t\u0020-\u007e\u0080-\u00ff]/;
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/;
/**
 * Requests sent again when a reused connection closes before any byte of the answer: the
 * server most likely closed it while idle and never read the request. As Go's net/http
 * (Request.isReplayable), only methods that change nothing when repeated.
 */
const REPLAYABLE = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

/** A request waiting for, or on, a connection. */
interface Pending {
  method: string;
  /** The whole request: head and body. */
  text: string;
  resolve: (a: Http1Answer) => void;
  reject: (e: Error) => void;
  /** Sent once already on a connection that closed before answering. */
  retried: boolean;
}

/** Where the parse of an answer stands. */
const enum Part { Head, Body, ChunkSize, ChunkData, ChunkEnd, Trailers, UntilClose }

/**
 * How a connection is done with its request: free for the next, or gone, with the request it
 * failed (`stale`: a reused connection that closed before any byte of the answer).
 */
type Outcome = { reusable: true } | { reusable: false; failed?: { pending: Pending; error: Error; stale: boolean } };

/**
 * One connection and the parse of the answer it awaits. Body bytes are taken out of the arriving
 * buffers as they come; only a head or chunk-size line split across buffers is joined.
 */
class Connection {
  private buf: Buffer = EMPTY;
  private pending?: Pending;
  private part = Part.Head;
  private status = 0;
  private statusText = '';
  private keepAlive = true;
  /** Body bytes still to come (of the whole body, or of the current chunk). */
  private remaining = 0;
  private bodyParts: Buffer[] = [];
  /** Bytes of the current answer seen: a connection that closes before any was not answered. */
  private answered = false;
  /** Requests this connection has carried; a failure on the first is not a stale connection. */
  uses = 0;
  closed = false;

  constructor(readonly socket: net.Socket, private readonly finished: (c: Connection, outcome: Outcome) => void) {
    socket.on('data', (d: Buffer) => this.received(d));
    socket.on('error', (e) => this.gone(e));
    // The server ending the connection: whatever comes after is not for us.
    socket.on('end', () => (this.part === Part.UntilClose && this.pending ? this.complete() : this.gone()));
    socket.on('close', () => this.gone());
    socket.on('timeout', () => socket.destroy());
  }

  send(p: Pending): void {
    this.pending = p;
    this.part = Part.Head;
    this.answered = false;
    this.uses++;
    this.socket.setTimeout(0);
    this.socket.ref();
    this.socket.write(p.text);
  }

  /** Idle in the pool: closed after a while, and not keeping the process alive (as Node's Agent). */
  idle(ms: number): void {
    this.socket.setTimeout(ms);
    this.socket.unref();
  }

  destroy(): void {
    this.closed = true;
    this.socket.destroy();
  }

  private received(d: Buffer): void {
    if (!this.pending) {
      // Nothing was asked: a server that talks now is closing the connection (a 408, say).
      this.fail(new Error('unexpected data from the server on an idle connection'));
      return;
    }
    this.answered = true;
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    this.parse();
  }

  private gone(e?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    const p = this.pending;
    this.pending = undefined;
    if (!p) return this.finished(this, { reusable: false });
    const error = e ?? Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    this.finished(this, { reusable: false, failed: { pending: p, error, stale: !this.answered && this.uses > 1 } });
  }

  private take(n: number): void {
    this.buf = n >= this.buf.length ? EMPTY : this.buf.subarray(n);
  }

  /** Take `remaining` body bytes from what has arrived; true when they are all there. */
  private takeBody(): boolean {
    const n = Math.min(this.remaining, this.buf.length);
    if (n > 0) this.bodyParts.push(this.buf.subarray(0, n));
    this.take(n);
    this.remaining -= n;
    return this.remaining === 0;
  }

  /** Move the parse on with what has arrived; complete once the answer is whole. */
  private parse(): void {
    for (;;) {
      switch (this.part) {
        case Part.Head: {
          const end = this.buf.indexOf(CRLF_CRLF);
          if (end < 0) {
            if (this.buf.length > MAX_HEAD_BYTES) this.fail(new Error('HTTP answer head too large'));
            return;
          }
          const head = this.buf.toString('latin1', 0, end);
          this.take(end + 4);
          if (!this.head(head)) return;
          break;
        }
        case Part.Body:
          if (!this.takeBody()) return;
          return this.complete();
        case Part.ChunkSize: {
          const end = this.buf.indexOf(CRLF);
          if (end < 0) return;
          // Chunk extensions (`;name=value`) carry nothing for us.
          const size = parseInt(this.buf.toString('latin1', 0, end), 16);
          if (!Number.isSafeInteger(size) || size < 0) return this.fail(new Error('malformed chunk size in HTTP answer'));
          this.take(end + 2);
          this.remaining = size;
          this.part = size === 0 ? Part.Trailers : Part.ChunkData;
          break;
        }
        case Part.ChunkData:
          if (!this.takeBody()) return;
          this.part = Part.ChunkEnd;
          break;
        case Part.ChunkEnd:
          if (this.buf.length < 2) return;
          this.take(2);
          this.part = Part.ChunkSize;
          break;
        case Part.Trailers: {
          const end = this.buf.indexOf(CRLF);
          if (end < 0) return;
          this.take(end + 2);
          if (end === 0) return this.complete();
          break;
        }
        case Part.UntilClose:
          if (this.buf.length) this.bodyParts.push(this.buf);
          this.buf = EMPTY;
          return;
      }
    }
  }

  /** Take the status line and headers and choose how the body is delimited (RFC 9112 §6.3); false when the connection failed on them. */
  private head(text: string): boolean {
    // Read in place, line by line: every answer passes here (about seven per pod for the
    // components), and splitting the head into lines and names made a dozen strings of each.
    const firstEnd = text.indexOf('\r\n');
    const statusLine = firstEnd < 0 ? text : text.slice(0, firstEnd);
    const m = STATUS_LINE.exec(statusLine);
    if (!m) {
      this.fail(new Error(`malformed HTTP status line: ${JSON.stringify(statusLine.slice(0, 100))}`));
      return false;
    }
    const status = Number(m[2]);
    // 1xx answers are interim: the real one follows.
    if (status < 200) return true;
    let contentLength = -1;
    let chunked = false;
    let keepAlive = m[1] === '1';
    for (let start = firstEnd < 0 ? text.length : firstEnd + 2; start < text.length;) {
      let end = text.indexOf('\r\n', start);
      if (end < 0) end = text.length;
      const colon = text.indexOf(':', start);
      const nameLength = colon - start;
      // Only three names matter; their lengths sort out nearly every other header unread.
      if (colon > start && colon < end && (nameLength === 14 || nameLength === 17 || nameLength === 10)) {
        const name = text.slice(start, colon).toLowerCase();
        if (name === 'content-length') contentLength = Number(text.slice(colon + 1, end).trim());
        else if (name === 'transfer-encoding') chunked = /(^|,)\s*chunked\s*$/i.test(text.slice(colon + 1, end));
        else if (name === 'connection') {
          const tokens = text.slice(colon + 1, end).toLowerCase();
          if (/(^|,)\s*close\s*(,|$)/.test(tokens)) keepAlive = false;
          else if (/(^|,)\s*keep-alive\s*(,|$)/.test(tokens)) keepAlive = true;
        }
      }
      start = end + 2;
    }
    this.status = status;
    this.statusText = m[3] ?? '';
    this.keepAlive = keepAlive;
    this.bodyParts = [];
    if (this.pending!.method === 'HEAD' || status === 204 || status === 304) {
      this.part = Part.Body;
      this.remaining = 0;
    } else if (chunked) this.part = Part.ChunkSize;
    else if (contentLength >= 0 && Number.isSafeInteger(contentLength)) {
      this.part = Part.Body;
      this.remaining = contentLength;
    } else {
      // Neither: the body runs to the end of the connection.
      this.part = Part.UntilClose;
      this.keepAlive = false;
    }
    return true;
  }

  private complete(): void {
    const parts = this.bodyParts;
    const body = parts.length === 0 ? EMPTY : parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    this.bodyParts = [];
    this.part = Part.Head;
    const p = this.pending!;
    this.pending = undefined;
    // Bytes beyond the answer would be an answer to nothing: such a connection is not reused.
    const reusable = this.keepAlive && this.buf.length === 0 && !this.closed;
    if (!reusable) this.destroy();
    this.finished(this, reusable ? { reusable: true } : { reusable: false });
    p.resolve({ status: this.status, statusText: this.statusText, body });
  }

  private fail(e: Error): void {
    const p = this.pending;
    this.pending = undefined;
    this.destroy();
    this.finished(this, { reusable: false });
    p?.reject(e);
  }
}

/** A pool of keep-alive HTTP/1.1 connections to one server. */
export class Http1Pool {
  private readonly idle: Connection[] = [];
  private open = 0;
  /** Requests waiting for a connection, oldest first (an array with a moving head: a burst queues thousands). */
  private queue: (Pending | undefined)[] = [];
  private queueHead = 0;
  /** Host and the fixed headers, as they are written in every request. */
  private readonly fixedHeaders: string;
  /** The TLS options with the CA parsed once: tls.connect would otherwise parse the PEM for every connection. */
  private readonly tls?: tls.ConnectionOptions;
  private readonly idleTimeoutMs: number;
  private closed = false;

  constructor(private readonly o: Http1PoolOptions) {
    if (o.socketPath !== undefined && o.tls) throw new TypeError('Http1Pool: a Unix socket connection is plain HTTP; give socketPath or tls, not both');
    if (o.tls) {
      const { ca, ...rest } = o.tls;
      const withContext = o.tls.secureContext || ca === undefined ? o.tls : { ...rest, secureContext: tls.createSecureContext({ ca }) };
      // SNI carries host names only (RFC 6066); the caller's servername wins.
      this.tls = withContext.servername === undefined && !net.isIP(o.host) ? { ...withContext, servername: o.host } : withContext;
    }
    this.idleTimeoutMs = o.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    let h = `Host: ${net.isIPv6(o.host) ? `[${o.host}]` : o.host}:${o.port}\r\n`;
    for (const [name, value] of Object.entries(o.headers)) {
      if (!HEADER_NAME.test(name)) throw new TypeError(`invalid HTTP header name ${JSON.stringify(name)}`);
      if (INVALID_HEADER_VALUE.test(value)) throw new TypeError(`invalid character in the value of header "${name}"`);
      h += `${name}: ${value}\r\n`;
    }
    this.fixedHeaders = h;
  }

  /** Send one request with a body (JSON text) or none; resolves with the answer, whatever its status. */
  request(method: string, path: string, body?: string, contentType?: string): Promise<Http1Answer> {
    if (INVALID_PATH.test(path)) return Promise.reject(new TypeError(`request path contains unescaped characters: ${JSON.stringify(path)}`));
    if (contentType !== undefined && INVALID_HEADER_VALUE.test(contentType)) return Promise.reject(new TypeError('invalid character in Content-Type'));
    let text = `${method} ${path} HTTP/1.1\r\n${this.fixedHeaders}`;
    if (body !== undefined) text += `Content-Type: ${contentType ?? 'application/json'}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    // A body-less POST, PUT or PATCH states its length, as Node's client does.
    else text += method === 'GET' || method === 'HEAD' || method === 'DELETE' || method === 'OPTIONS' ? '\r\n' : 'Content-Length: 0\r\n\r\n';
    return new Promise<Http1Answer>((resolve, reject) => {
      if (this.closed) return reject(new Error('client closed'));
      this.dispatch({ method, text, resolve, reject, retried: false });
    });
  }

  /** Close idle connections now and the others once their answer is in; requests after this fail. */
  close(): void {
    this.closed = true;
    for (const c of this.idle.splice(0)) c.destroy();
    for (let p = this.dequeue(); p; p = this.dequeue()) p.reject(new Error('client closed'));
  }

  private dispatch(p: Pending): void {
    const c = this.idle.pop();
    if (c) c.send(p);
    else if (this.open < this.o.maxConnections) this.connect().send(p);
    else this.queue.push(p);
  }

  private connect(): Connection {
    this.open++;
    const socket = this.o.socketPath !== undefined
      ? net.connect({ path: this.o.socketPath })
      : this.tls
        ? tls.connect({ ...this.tls, host: this.o.host, port: this.o.port })
        : net.connect({ host: this.o.host, port: this.o.port });
    socket.setNoDelay(true);
    return new Connection(socket, (c, outcome) => this.finished(c, outcome));
  }

  /** A connection is done with a request (and free for the next one) or gone. */
  private finished(c: Connection, outcome: Outcome): void {
    if (outcome.reusable) {
      const next = this.closed ? undefined : this.dequeue();
      if (next) return c.send(next);
      if (this.closed) {
        c.destroy();
        this.open--;
        return;
      }
      c.idle(this.idleTimeoutMs);
      this.idle.push(c);
      return;
    }
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
    this.open--;
    const failed = outcome.failed;
    if (failed) {
      const p = failed.pending;
      if (failed.stale && !p.retried && REPLAYABLE.has(p.method) && !this.closed) {
        p.retried = true;
        // Ahead of the queue, on another connection: it has waited its turn already.
        const other = this.idle.pop();
        if (other) other.send(p);
        else this.connect().send(p);
        return;
      }
      p.reject(failed.error);
    }
    // A request waiting for a connection gets a new one in place of this.
    if (this.open < this.o.maxConnections && !this.closed) {
      const next = this.dequeue();
      if (next) this.connect().send(next);
    }
  }

  private dequeue(): Pending | undefined {
    if (this.queueHead >= this.queue.length) return undefined;
    const next = this.queue[this.queueHead]!;
    this.queue[this.queueHead++] = undefined;
    // Drop the consumed front now and then, so that the array does not grow for ever.
    if (this.queueHead >= 1024 && this.queueHead * 2 >= this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
    return next;
  }
}
