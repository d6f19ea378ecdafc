// A small Kubernetes REST client: what kubelite's own components (controllers, scheduler, node
// agents, proxy, the event recorder) use to talk to the API server — never to the store.
// JSON over HTTPS with keep-alive (requests on a connection pool of its own, http1.ts; watches
// on Node's client), or plain HTTP over the API server's Unix socket (`socketPath`), bearer
// tokens, Status errors as ApiStatusError, and watch streams read line by line.
import https from 'node:https';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { readKubeconfig } from './kubeconfig.js';
import { Http1Pool } from './http1.js';
import { cutManagedFields } from './watch-decode.js';
import { metadataOf, type AnswerMetadata } from './answer-meta.js';
import type { ApiChannel } from './channel.js';

export interface ClientConfig {
  /** https://host:port */
  server: string;
  caPem?: string;
  token?: string;
  insecure?: boolean;
  /**
   * The name the server certificate must carry, instead of the host of `server` (kubeconfig
   * `tls-server-name`): for a server reached by an address its certificate does not name.
   */
  tlsServerName?: string;
  /** Sent as User-Agent; upstream derives the default field manager from it. */
  userAgent?: string;
  /**
   * Reach the server through this Unix socket in plain HTTP instead of TLS to `server` (whose
   * host and port are still sent as Host): the API server's channel for kubelite's own
   * components on its machine (`kubelite up --api-socket`). The token is sent as over HTTPS.
   */
  socketPath?: string;
  /**
   * Reach the server through this thread's in-process API channel (src/client/channel.ts)
   * instead of a connection: for component threads that `up` started next to its API server.
   * `server` still names the server; the token is sent as over HTTPS.
   */
  channel?: ApiChannel;
}

export interface Status {
  kind: 'Status';
  status?: string;
  message?: string;
  reason?: string;
  code: number;
  details?: Record<string, unknown>;
}

/** A non-2xx answer: the server's Status (or one made up from the HTTP answer). */
export class ApiStatusError extends Error {
  constructor(readonly status: Status) {
    super(status.message || `HTTP ${status.code}`);
    this.name = 'ApiStatusError';
  }
  get code(): number {
    return this.status.code;
  }
  get reason(): string | undefined {
    return this.status.reason;
  }
}

export const isNotFound = (e: unknown) => e instanceof ApiStatusError && e.code === 404;
export const isConflict = (e: unknown) => e instanceof ApiStatusError && e.code === 409 && e.reason === 'Conflict';
export const isAlreadyExists = (e: unknown) => e instanceof ApiStatusError && e.code === 409 && e.reason === 'AlreadyExists';
export const isGone = (e: unknown) => e instanceof ApiStatusError && e.code === 410;

export type Query = Record<string, string | number | boolean | undefined>;

export interface WatchEvent<T = unknown> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

/** Connections to the server at most, as Node's Agent had (maxSockets); requests beyond wait for one. */
const MAX_CONNECTIONS = 32;

const NEWLINE = 0x0a;
const OPEN_BRACE = 0x7b;

export interface WatchOptions {
  /**
   * Leave `metadata.managedFields` out of every event's object: cut from the line's bytes before
   * they are parsed (see watch-decode.ts), for clients that would drop them anyway.
   */
  omitManagedFields?: boolean;
  /**
   * A test on each event line's raw bytes (managedFields not yet cut): false drops the event
   * without parsing it. For callers that know from the bytes that an event cannot concern them.
   */
  lineFilter?: (line: Buffer) => boolean;
}

export interface WatchHandle {
  /** Resolves when the stream ends (server timeout, close, error); rejects on a non-200 answer. */
  done: Promise<void>;
  stop(): void;
}

/** How much of a 2xx answer the caller reads. */
export interface AnswerOptions {
  /** Do not decode a 2xx answer: the call resolves with undefined. */
  ignoreResult?: boolean;
  /** Leave `metadata.managedFields` out of the 2xx answer's object (cut from its bytes, not parsed). */
  omitManagedFields?: boolean;
  /**
   * Decode only the 2xx answer's metadata name, namespace, uid and resourceVersion, read from its
   * text without parsing the object (answer-meta.ts): the call resolves with an AnswerMeta.
   */
  metadataOnly?: boolean;
}

/** A 2xx answer read with `metadataOnly`: its metadata strings, and its text for a caller that needs more of it later. */
export interface AnswerMeta {
  metadata: AnswerMetadata;
  text: string;
}

export interface RequestOptions extends AnswerOptions {
  query?: Query;
  body?: unknown;
  contentType?: string;
}

// cutManagedFields finds the member by its path in a watch event, `{"object":{"metadata":…}}`:
// an answer's object is put in that frame (one copy of its bytes, far cheaper than parsing the
// managedFields, about half of a pod's JSON and most of its objects).
const EVENT_FRAME_OPEN = Buffer.from('{"object":', 'latin1');
const EVENT_FRAME_CLOSE = Buffer.from('}', 'latin1');

/** The object of an answer body, parsed without its `metadata.managedFields`; undefined for an empty or malformed body (as request's plain parse). */
function parseWithoutManagedFields(body: Buffer): unknown {
  if (body.length === 0) return undefined;
  const framed = Buffer.concat([EVENT_FRAME_OPEN, body, EVENT_FRAME_CLOSE]);
  const end = cutManagedFields(framed) - EVENT_FRAME_CLOSE.length;
  try {
    return JSON.parse(framed.toString('utf8', EVENT_FRAME_OPEN.length, end));
  } catch {
    return undefined;
  }
}

/** A 2xx answer's AnswerMeta: its metadata read from the text, or parsed from it where the text is laid out otherwise. */
function answerMeta(text: string): AnswerMeta {
  let metadata = metadataOf(text);
  if (metadata === undefined) {
    let parsed: { metadata?: Record<string, unknown> } | undefined;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    metadata = {};
    const m = parsed?.metadata;
    if (m && typeof m === 'object') {
      for (const k of ['name', 'namespace', 'uid', 'resourceVersion'] as const) if (typeof m[k] === 'string') metadata[k] = m[k];
    }
  }
  return { metadata, text };
}

function queryString(q: Query | undefined): string {
  if (!q) return '';
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined) params.set(k, String(v));
  const s = params.toString();
  return s ? `?${s}` : '';
}

/**
 * The TLS options of every connection to the server: its CA, and with a tlsServerName, SNI and
 * the certificate check against that name (as client-go's TLSClientConfig.ServerName does).
 */
function tlsOptions(config: ClientConfig): tls.ConnectionOptions {
  const options: tls.ConnectionOptions = { ca: config.caPem, rejectUnauthorized: !config.insecure };
  const name = config.tlsServerName;
  if (!name) return options;
  // SNI carries host names only (RFC 6066; Node warns on an IP); an IP is still checked below.
  if (!net.isIP(name)) options.servername = name;
  options.checkServerIdentity = (_host, cert) => {
    // Node documents `reason` on this error ("Host: ... is not in the cert's altnames: ...").
    const mismatch = tls.checkServerIdentity(name, cert) as (Error & { reason?: string }) | undefined;
    if (mismatch) mismatch.message = `server certificate does not match tls-server-name "${name}": ${mismatch.reason ?? mismatch.message}`;
    return mismatch;
  };
  return options;
}

export class RestClient {
  private readonly pool: Http1Pool;
  private readonly base: URL;
  private readonly tls: tls.ConnectionOptions;
  /** headers() with lower-case names, as the in-process channel sends them. */
  private readonly lowerHeaders: Record<string, string>;

  constructor(readonly config: ClientConfig) {
    this.base = new URL(config.server);
    this.tls = tlsOptions(config);
    this.lowerHeaders = { host: this.base.host, ...Object.fromEntries(Object.entries(this.headers()).map(([k, v]) => [k.toLowerCase(), v])) };
    const secure = this.base.protocol === 'https:';
    this.pool = new Http1Pool({
      host: this.base.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: Number(this.base.port || (secure ? 443 : 80)),
      socketPath: config.socketPath,
      tls: secure && config.socketPath === undefined ? this.tls : undefined,
      maxConnections: MAX_CONNECTIONS,
      headers: this.headers(),
    });
  }

  static async fromKubeconfig(file: string, userAgent?: string): Promise<RestClient> {
    const kc = await readKubeconfig(file);
    return new RestClient({ ...kc, userAgent });
  }

  /** The headers of every request and watch. */
  private headers(): Record<string, string> {
    const h: Record<string, string> = { Accept: 'application/json' };
    if (this.config.token) h.Authorization = `Bearer ${this.config.token}`;
    if (this.config.userAgent) h['User-Agent'] = this.config.userAgent;
    return h;
  }

  /**
   * A channel request's headers, in lower case as a server reads them. Without a body they are
   * lowerHeaders itself (never modified; the channel sends a copy); with one, an object literal of
   * one fixed shape. A spread copy of lowerHeaders with two members added took about 3 µs to
   * build (50 ns for the literal) and doubled the cost of posting it (5 µs against 2.5 µs).
   */
  private channelHeaders(payload: string | undefined, contentType = 'application/json'): Record<string, string> {
    const h = this.lowerHeaders;
    if (payload === undefined) return h;
    const length = String(Buffer.byteLength(payload));
    const { authorization, 'user-agent': userAgent } = h;
    // headers() sets accept, authorization and user-agent only: with both optional ones present,
    // the literal has every member of lowerHeaders, in its order.
    if (authorization !== undefined && userAgent !== undefined) {
      return { host: h.host!, accept: h.accept!, authorization, 'user-agent': userAgent, 'content-type': contentType, 'content-length': length };
    }
    return { ...h, 'content-type': contentType, 'content-length': length };
  }

  /** How a watch connects: Node's client, and the options that choose TLS to `server` or plain HTTP on the socket. */
  private watchTransport(): { client: typeof https | typeof http; options: https.RequestOptions } {
    if (this.config.socketPath !== undefined) {
      // The URL's protocol is https, which http.request refuses; host and port still make the Host header, as over TLS.
      return { client: http, options: { socketPath: this.config.socketPath, protocol: 'http:', headers: { ...this.headers(), Host: this.base.host } } };
    }
    return { client: this.base.protocol === 'https:' ? https : http, options: { ...this.tls, headers: this.headers() } };
  }

  /**
   * One request; resolves with the parsed JSON body of a 2xx answer, throws ApiStatusError
   * otherwise. With `ignoreResult` a 2xx body is not decoded at all (a caller that never reads
   * it, such as the event recorder, saves the parse); with `omitManagedFields` a 2xx object's
   * `metadata.managedFields` are cut from its bytes before the parse (see watch-decode.ts), for a
   * caller that reads other fields only. Errors are reported the same either way.
   */
  async request<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const target = path + queryString(opts.query);
    const answer = this.config.channel
      ? await this.config.channel.request(method, target, this.channelHeaders(payload, opts.contentType), payload)
      : await this.pool.request(method, target, payload, opts.contentType);
    const code = answer.status;
    const ok = code >= 200 && code < 300;
    if (ok && opts.ignoreResult) return undefined as T;
    if (ok && opts.omitManagedFields && !opts.metadataOnly) return parseWithoutManagedFields(typeof answer.body === 'string' ? Buffer.from(answer.body) : answer.body) as T;
    const text = typeof answer.body === 'string' ? answer.body : answer.body.toString('utf8');
    if (ok && opts.metadataOnly) return answerMeta(text) as T;
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (ok) return parsed as T;
    throw new ApiStatusError(parsed && (parsed as Status).kind === 'Status'
      ? (parsed as Status)
      : { kind: 'Status', code, message: text || answer.statusText || `HTTP ${code}`, reason: answer.statusText });
  }

  get<T = unknown>(path: string, query?: Query): Promise<T> {
    return this.request<T>('GET', path, { query });
  }

  create<T = unknown>(path: string, body: unknown, query?: Query, answer?: AnswerOptions): Promise<T> {
    return this.request<T>('POST', path, { body, query, ...answer });
  }

  update<T = unknown>(path: string, body: unknown, query?: Query): Promise<T> {
    return this.request<T>('PUT', path, { body, query });
  }

  patch<T = unknown>(path: string, body: unknown, type: 'merge' | 'strategic' | 'json' = 'merge', query?: Query, answer?: AnswerOptions): Promise<T> {
    const contentType = { merge: 'application/merge-patch+json', strategic: 'application/strategic-merge-patch+json', json: 'application/json-patch+json' }[type];
    return this.request<T>('PATCH', path, { body, contentType, query, ...answer });
  }

  delete<T = unknown>(path: string, options?: Record<string, unknown>, query?: Query): Promise<T> {
    return this.request<T>('DELETE', path, { body: options, query });
  }

  /** Open a watch (`watch=true` is added); events are parsed line by line and handed over in order. */
  watch<T = unknown>(path: string, query: Query, onEvent: (e: WatchEvent<T>) => void, options: WatchOptions = {}): WatchHandle {
    if (this.config.channel) return this.watchOnChannel(this.config.channel, path + queryString({ ...query, watch: true }), onEvent, options);
    const url = new URL(path + queryString({ ...query, watch: true }), this.base);
    let req: http.ClientRequest | undefined;
    let stopped = false;
    const onChunk = eventLines(onEvent, options, () => stopped);
    const done = new Promise<void>((resolve, reject) => {
      // Watches get their own connection: a long-lived stream must not occupy a pooled socket.
      const { client, options } = this.watchTransport();
      req = client.request(url, { ...options, method: 'GET', agent: false }, (res) => {
        if (res.statusCode !== 200) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => reject(new ApiStatusError(watchRefusal(Buffer.concat(chunks), res.statusCode ?? 0))));
          return;
        }
        res.on('data', onChunk);
        res.on('end', () => resolve());
        res.on('error', () => resolve());
        res.on('close', () => resolve());
      });
      req.on('error', (e) => (stopped ? resolve() : reject(e)));
      req.end();
    });
    return {
      done,
      stop() {
        stopped = true;
        req?.destroy();
      },
    };
  }

  /** watch() over the in-process channel: the same lines, as transferred buffers instead of socket reads. */
  private watchOnChannel<T>(channel: ApiChannel, target: string, onEvent: (e: WatchEvent<T>) => void, options: WatchOptions): WatchHandle {
    let stopped = false;
    let cancel = () => {};
    let settle = () => {};
    const done = new Promise<void>((resolve, reject) => {
      settle = resolve;
      let status = 0;
      const errorBody: Buffer[] = [];
      const onLine = eventLines(onEvent, options, () => stopped);
      cancel = channel.stream(target, this.lowerHeaders, {
        head: (code) => { status = code; },
        data: (chunk) => {
          if (status === 200) onLine(chunk);
          else errorBody.push(Buffer.from(chunk));
        },
        end: (aborted) => {
          if (status === 200 || stopped) return resolve();
          if (status === 0) return reject(Object.assign(new Error(`watch ${target}: the API channel reset the stream`), { code: 'ECONNRESET', aborted }));
          reject(new ApiStatusError(watchRefusal(Buffer.concat(errorBody), status)));
        },
      });
    });
    return {
      done,
      stop() {
        stopped = true;
        cancel();
        settle();
      },
    };
  }

  close(): void {
    this.pool.close();
  }
}

/** The Status of a watch refused with a non-200 answer (or one made up from its body). */
function watchRefusal(body: Buffer, code: number): Status {
  const text = body.toString('utf8');
  try {
    return JSON.parse(text) as Status;
  } catch {
    return { kind: 'Status', code, message: text };
  }
}

/** A watch's chunks to events: lines filtered (lineFilter), managedFields cut if asked, parsed and handed over until stopped. */
function eventLines<T>(onEvent: (e: WatchEvent<T>) => void, options: WatchOptions, stopped: () => boolean): (chunk: Buffer) => void {
  const omitManagedFields = options.omitManagedFields === true;
  const lineFilter = options.lineFilter;
  return lineSplitter((line) => {
    if (stopped()) return;
    if (lineFilter !== undefined && line[0] === OPEN_BRACE && !lineFilter(line)) return;
    const text = line.toString('utf8', 0, omitManagedFields ? cutManagedFields(line) : line.length);
    // Events start with `{`; anything else is a keep-alive blank line or a stray CR.
    if (line[0] !== OPEN_BRACE && !text.trim()) return;
    onEvent(JSON.parse(text) as WatchEvent<T>);
  });
}

/**
 * Cuts a stream of chunks into lines on the bytes (a newline byte never occurs inside a UTF-8
 * sequence) and hands each over whole: decoding every chunk into a string, then joining and
 * slicing strings, made garbage of several times each event's size. A line is a view, valid
 * during the call only.
 */
function lineSplitter(onLine: (line: Buffer) => void): (chunk: Buffer) => void {
  let partial: Buffer[] = [];
  return (chunk) => {
    let start = 0;
    let nl: number;
    while ((nl = chunk.indexOf(NEWLINE, start)) >= 0) {
      const line = partial.length === 0 ? chunk.subarray(start, nl) : Buffer.concat([...partial, chunk.subarray(start, nl)]);
      partial = [];
      start = nl + 1;
      onLine(line);
    }
    // A partial line's bytes are kept as they are: the chunk is not reused under them.
    if (start < chunk.length) partial.push(start === 0 ? chunk : chunk.subarray(start));
  };
}
