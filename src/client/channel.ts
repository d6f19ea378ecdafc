// The client side of the in-process API channel (src/apiserver/channel.ts): what RestClient
// uses instead of HTTP when its thread was started by `up` with a port to the API server. Many
// RestClients of one thread (a hundred node agents) share the thread's one port; requests are
// told apart by id. Messages to the server are batched, one postMessage per event-loop turn
// (Outbox, shared with the server side).
import { STATUS_CODES } from 'node:http';
import type { MessagePort } from 'node:worker_threads';
import { Outbox, type Batch, type ToClient, type ToServer } from '../apiserver/channel.js';

/** A whole answer. The body is the server's text: no bytes to decode on this side. */
export interface ChannelAnswer {
  status: number;
  statusText: string;
  body: string;
}

/** What a stream's reader is told. */
export interface StreamReader {
  head(status: number, headers: Record<string, string | string[]>): void;
  /** Bytes of the answer; the view is only valid during the call. */
  data(chunk: Buffer): void;
  /** The answer ended: `aborted` when the server cut it off (as a reset connection). */
  end(aborted: boolean): void;
}

interface Waiting {
  resolve(a: ChannelAnswer): void;
  reject(e: Error): void;
}

/** A request the server cut off before answering: as a connection reset. */
function resetError(): Error {
  return Object.assign(new Error('the API channel request was reset by the server'), { code: 'ECONNRESET' });
}

export class ApiChannel {
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();
  private readonly streams = new Map<number, StreamReader>();
  /** Requests whose answer comes as a stream (head, data, end), gathered until it ends. */
  private readonly gathering = new Map<number, { status: number; chunks: Buffer[] }>();
  private readonly outbox: Outbox<ToServer>;
  private closed = false;

  constructor(private readonly port: MessagePort) {
    this.outbox = new Outbox(port);
    port.on('message', (batch: Batch<ToClient>) => {
      for (const m of batch) this.receive(m);
    });
    port.on('close', () => this.shut());
    // The port keeps the thread alive only while something waits on it.
    port.unref();
  }

  /** One request; `headers` in lower case, as the server reads them. */
  request(method: string, url: string, headers: Record<string, string>, body?: string): Promise<ChannelAnswer> {
    if (this.closed) return Promise.reject(resetError());
    const id = this.nextId++;
    return new Promise<ChannelAnswer>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.busy();
      this.post({ t: 'req', id, method, url, headers, body });
    });
  }

  /** A streaming GET (a watch): returns its cancel. */
  stream(url: string, headers: Record<string, string>, reader: StreamReader): () => void {
    const id = this.nextId++;
    if (this.closed) {
      queueMicrotask(() => reader.end(true));
      return () => {};
    }
    this.streams.set(id, reader);
    this.busy();
    this.post({ t: 'req', id, method: 'GET', url, headers });
    return () => {
      if (!this.streams.delete(id)) return;
      this.idle();
      this.post({ t: 'cancel', id });
    };
  }

  private receive(m: ToClient): void {
    if (m.t === 'res') {
      const w = this.waiting.get(m.id);
      if (!w) {
        // A stream answered whole: an error (410 Gone, 403…) or an empty answer.
        const reader = this.streams.get(m.id);
        if (!reader) return;
        this.streams.delete(m.id);
        this.idle();
        reader.head(m.status, m.headers);
        if (m.body) reader.data(Buffer.from(m.body));
        reader.end(false);
        return;
      }
      this.waiting.delete(m.id);
      this.idle();
      w.resolve({ status: m.status, statusText: STATUS_CODES[m.status] ?? '', body: m.body });
      return;
    }
    const reader = this.streams.get(m.id);
    if (!reader) {
      const w = this.waiting.get(m.id);
      if (!w) return;
      // A request answered as a stream (the head flushed before the body: a followed log) is
      // gathered whole; one cut off fails as on a reset connection.
      if (m.t === 'head') this.gathering.set(m.id, { status: m.status, chunks: [] });
      else if (m.t === 'data') {
        this.gathering.get(m.id)?.chunks.push(Buffer.from(m.body));
        // Taken: a long answer (a big LIST is written in chunks) waits for room as on a socket.
        this.post({ t: 'ack', id: m.id, bytes: m.body.byteLength });
      } else {
        const g = this.gathering.get(m.id);
        this.gathering.delete(m.id);
        this.waiting.delete(m.id);
        this.idle();
        if (m.aborted || !g) w.reject(resetError());
        else w.resolve({ status: g.status, statusText: STATUS_CODES[g.status] ?? '', body: Buffer.concat(g.chunks).toString('utf8') });
      }
      return;
    }
    if (m.t === 'head') {
      reader.head(m.status, m.headers);
    } else if (m.t === 'data') {
      reader.data(Buffer.from(m.body));
      // Taken: the server may send more (flow control as a socket's window).
      if (this.streams.has(m.id)) this.post({ t: 'ack', id: m.id, bytes: m.body.byteLength });
    } else if (m.t === 'end') {
      this.streams.delete(m.id);
      this.idle();
      reader.end(m.aborted);
    }
  }

  private post(m: ToServer): void {
    if (!this.closed) this.outbox.post(m);
  }

  private busy(): void {
    if (this.waiting.size + this.streams.size === 1) this.port.ref();
  }

  private idle(): void {
    if (this.waiting.size + this.streams.size === 0) this.port.unref();
  }

  /** The server side went away: everything open fails as on a closed connection. */
  private shut(): void {
    this.closed = true;
    for (const w of this.waiting.values()) w.reject(resetError());
    this.waiting.clear();
    const readers = [...this.streams.values()];
    this.streams.clear();
    for (const r of readers) r.end(true);
  }
}
