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

  constructor(readonly config: ClientConfig) {
    this.base = new URL(config.server);
    this.tls = tlsOptions(config);
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
    const answer = await this.pool.request(method, path + queryString(opts.query), payload, opts.contentType);
    const code = answer.status;
    const ok = code >= 200 && code < 300;
    if (ok && opts.ignoreResult) return undefined as T;
    if (ok && opts.omitManagedFields) return parseWithoutManagedFields(answer.body) as T;
    const text = answer.body.toString('utf8');
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
    const omitManagedFields = options.omitManagedFields === true;
    const lineFilter = options.lineFilter;
    const url = new URL(path + queryString({ ...query, watch: true }), this.base);
    let req: http.ClientRequest | undefined;
    let stopped = false;
    const done = new Promise<void>((resolve, reject) => {
      // Watches get their own connection: a long-lived stream must not occupy a pooled socket.
      const { client, options } = this.watchTransport();
      req = client.request(url, { ...options, method: 'GET', agent: false }, (res) => {
        if (res.statusCode !== 200) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let status: Status;
            try {
              status = JSON.parse(text) as Status;
            } catch {
              status = { kind: 'Status', code: res.statusCode ?? 0, message: text };
            }
            reject(new ApiStatusError(status));
          });
          return;
        }
        // Lines are cut on the bytes (a newline byte never occurs inside a UTF-8 sequence) and
        // each is decoded once, whole: decoding every chunk into a string, joining and slicing
        // strings made garbage of several times every event's size (every component pays this).
        let partial: Buffer[] = [];
        res.on('data', (chunk: Buffer) => {
          let start = 0;
          let nl: number;
          while ((nl = chunk.indexOf(NEWLINE, start)) >= 0) {
            const line = partial.length === 0 ? chunk.subarray(start, nl) : Buffer.concat([...partial, chunk.subarray(start, nl)]);
            partial = [];
            start = nl + 1;
            if (stopped) continue;
            if (lineFilter !== undefined && line[0] === OPEN_BRACE && !lineFilter(line)) continue;
            const text = line.toString('utf8', 0, omitManagedFields ? cutManagedFields(line) : line.length);
            // Events start with `{`; anything else is a keep-alive blank line or a stray CR.
            if (line[0] !== OPEN_BRACE && !text.trim()) continue;
            onEvent(JSON.parse(text) as WatchEvent<T>);
          }
          if (start < chunk.length) partial.push(start === 0 ? chunk : chunk.subarray(start));
        });
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

  close(): void {
    this.pool.close();
  }
}
