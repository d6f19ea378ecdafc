// The HTTPS front of the API server: authentication, routing of Kubernetes REST paths to the
// generic registry, content negotiation, Status errors, discovery, OpenAPI, health and metrics.
import https from 'node:https';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { promises as fs } from 'node:fs';
import { timingSafeEqual } from 'node:crypto';
import YAML from 'yaml';
import type { Store } from '../store/types.js';
import { lookupResource, type ResourceType } from '../api/resources.js';
import type { KObject } from '../api/types.js';
import { ApiError, errors } from './errors.js';
import { Registry, patchObject, type DeleteOptions, type FieldValidation, type WriteOptions, type ListOutput, type RegistryHooks } from './registry.js';
import { WatchHub, DEFAULT_WATCH_CONFIG, jsonEventEncoder, type EventEncoder, type WatchConfig } from './watch.js';
import { includeObjectOf, toTable, wantsTable, type IncludeObject } from './tables.js';
import { ApiMetrics } from './metrics.js';
import { knownJSON } from './codec.js';
import { NamespaceCache } from './namespaces.js';
import * as discovery from './discovery.js';
import { serveOpenAPI } from './openapi.js';
import { servePodLog } from './podlog.js';
import { patchTypeFromContentType } from './patch/index.js';
import { defaultManager, validateWriteOptions } from './fieldmanager/index.js';
import type { TokenUser, ServingCredentials } from './pki.js';
import type { Logger } from '../util/log.js';
import { apiVersionOf } from '../api/resources.js';
import { ChannelRequest, type ChannelResponse } from './channel.js';

export const MAX_BODY_BYTES = 3 * 1024 * 1024;
export const KUBERNETES_VERSION = { major: '1', minor: '32', gitVersion: 'v1.32.4+kubelite' };

export interface ApiServerOptions {
  store: Store;
  credentials: ServingCredentials;
  tokens: Map<string, TokenUser>;
  log: Logger;
  /** Called on every /readyz; false until bootstrap has finished. */
  watch?: Partial<WatchConfig>;
  /** Per-kind storage hooks (the Service allocator's). */
  hooks?: RegistryHooks;
}

interface Route {
  r: ResourceType;
  namespace?: string;
  name?: string;
  subresource?: string;
  /** The legacy /watch/ path prefix was used. */
  watchPath: boolean;
}

type Handled = { code: number; body?: unknown; headers?: Record<string, string> };

/** The body of /version; it never changes while the process runs. */
const VERSION_INFO = {
  ...KUBERNETES_VERSION, gitCommit: '0000000000000000000000000000000000000000', gitTreeState: 'clean',
  buildDate: '2026-11-26T00:00:00Z', goVersion: `node${process.versions.node}`, compiler: 'gc',
  platform: `${process.platform}/${process.arch === 'x64' ? 'amd64' : process.arch}`,
};

const PUBLIC_PATHS = new Set(['/version', '/version/', '/healthz', '/livez', '/readyz']);

function routeOf(segments: string[]): Route | 'discovery' | undefined {
  let group: string, version: string, rest: string[];
  if (segments[0] === 'api') {
    if (segments.length < 2) return 'discovery';
    group = ''; version = segments[1]; rest = segments.slice(2);
  } else if (segments[0] === 'apis') {
    if (segments.length < 3) return 'discovery';
    group = segments[1]; version = segments[2]; rest = segments.slice(3);
  } else {
    return undefined;
  }
  if (rest.length === 0) return 'discovery';
  let watchPath = false;
  if (rest[0] === 'watch') { watchPath = true; rest = rest.slice(1); }
  const resource = (plural: string) => lookupResource(group, version, plural);
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    // /namespaces/{name}/status|finalize is the Namespace's own subresource; otherwise a namespaced collection.
    const r = resource(rest[2]);
    if (r && r.namespaced && rest.length <= 5) return { r, namespace: rest[1], name: rest[3], subresource: rest[4], watchPath };
    const ns = resource('namespaces');
    if (ns && rest.length === 3) return { r: ns, name: rest[1], subresource: rest[2], watchPath };
    return undefined;
  }
  const r = resource(rest[0]);
  if (!r || rest.length > 3) return undefined;
  if (r.namespaced && rest.length > 1) return undefined; // namespaced objects live under /namespaces/{ns}/
  return { r, name: rest[1], subresource: rest[2], watchPath };
}

function bearer(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  if (!h) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m?.[1];
}

/** The known tokens as bytes, made once: a request compares against every one of them. */
type TokenTable = { bytes: Buffer; user: TokenUser }[];

function tokenTable(tokens: Map<string, TokenUser>): TokenTable {
  return [...tokens].map(([token, user]) => ({ bytes: Buffer.from(token), user }));
}

function lookupToken(table: TokenTable, token: string): TokenUser | undefined {
  // Compare in constant time so response timing does not leak token prefixes.
  const t = Buffer.from(token);
  for (const { bytes, user } of table) {
    if (bytes.length === t.length && timingSafeEqual(bytes, t)) return user;
  }
  return undefined;
}

/** What reading a request that closed before its end fails with (as the stream iterator did). */
function prematureClose(): Error {
  return Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
}

/**
 * The request body: bytes from a connection, or the text an in-process channel request carries
 * (channel.ts), which is never encoded only to be decoded again. Read with 'data'/'end' listeners
 * rather than `for await`: the async iterator costs a promise and a microtask turn per chunk on
 * every write request.
 */
function readBody(req: IncomingMessage): Promise<Buffer | string> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) return Promise.reject(errors.tooLarge(MAX_BODY_BYTES));
  if (req instanceof ChannelRequest) return Promise.resolve(req.body ?? '');
  // A body already read or a request already gone gets no more events.
  if (req.readableEnded) return Promise.resolve(Buffer.alloc(0));
  if (req.destroyed) return Promise.reject(prematureClose());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        // Stop collecting; the server discards the rest of the body once the 413 is sent.
        finish();
        reject(errors.tooLarge(MAX_BODY_BYTES));
        return;
      }
      chunks.push(c);
    };
    const onEnd = () => {
      finish();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
    };
    const onError = (e: Error) => {
      finish();
      reject(e);
    };
    const onClose = () => {
      finish();
      reject(prematureClose());
    };
    const finish = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

function mediaType(contentType: string | undefined): string {
  return (contentType ?? 'application/json').split(';')[0].trim().toLowerCase();
}

/** Decode a JSON or YAML request body into a value; malformed input is a 400 with the parser's reason. */
async function decodeBody(buf: Buffer | string, contentType: string | undefined, r?: ResourceType): Promise<unknown> {
  const mt = mediaType(contentType);
  if (mt === 'application/vnd.kubernetes.protobuf') {
    // kubectl's typed clients (create deployment|namespace|service) send protobuf; the decoder is loaded on first use.
    if (buf.length === 0) return undefined;
    const { decodeProtobufBody } = await import('./protobuf.js');
    return decodeProtobufBody(typeof buf === 'string' ? Buffer.from(buf) : buf);
  }
  const text = typeof buf === 'string' ? buf : buf.toString('utf8');
  if (mt === 'application/yaml' || mt === 'application/apply-patch+yaml') {
    try {
      return YAML.parse(text);
    } catch (e) {
      throw errors.badRequest(`error converting YAML to JSON: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  if (mt !== 'application/json' && !mt.endsWith('+json') && mt !== '*/*' && mt !== '') throw errors.unsupportedMediaType(mt);
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch (e) {
    const what = r ? `couldn't get version/kind; json parse error` : 'json parse error';
    throw errors.badRequest(`${what}: ${(e as Error).message}`);
  }
}

function wantsYAML(accept: string | undefined): boolean {
  if (!accept) return false;
  const first = accept.split(',')[0].trim();
  return first.startsWith('application/yaml');
}

function queryBool(q: URLSearchParams, k: string): boolean {
  const v = q.get(k);
  return v === 'true' || v === '1';
}

function queryInt(q: URLSearchParams, k: string): number | undefined {
  const v = q.get(k);
  if (v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw errors.badRequest(`invalid ${k}: ${JSON.stringify(v)}`);
  return n;
}

function dryRunOf(values: string[] | undefined): boolean {
  if (!values || values.length === 0) return false;
  for (const v of values) if (v !== 'All') throw errors.badRequest(`Invalid dry run: unsupported dry run mode: ${JSON.stringify(v)}`);
  return true;
}

function fieldValidationOf(q: URLSearchParams): FieldValidation {
  const v = q.get('fieldValidation');
  if (v === null || v === '') return 'Warn';
  if (v === 'Strict' || v === 'Warn' || v === 'Ignore') return v;
  throw errors.badRequest(`fieldValidation parameter unsupported: ${v}`);
}

/** A response body already serialised as JSON, with the value to use for other encodings. */
class RawJSON {
  /** `parts` concatenated are the JSON text; large lists are written part by part. */
  constructor(readonly parts: string[], readonly value: () => unknown) {}
}

/** Responses are written in pieces of about this size: one huge string makes TLS writes slow and GC heavy. */
const WRITE_CHUNK = 256 * 1024;

/** Upstream answers Table requests with this content type. */
const TABLE_CONTENT_TYPE = 'application/json;as=Table;v=v1;g=meta.k8s.io';

function tableResponse(table: object): Handled {
  return { code: 200, body: table, headers: { 'Content-Type': TABLE_CONTENT_TYPE } };
}

/**
 * Watch events as one-row Tables (kubectl get -w), the column definitions in the first event
 * only; errors and bookmarks stay plain objects, as upstream sends them.
 */
function tableEventEncoder(r: ResourceType, includeObject: IncludeObject): EventEncoder {
  let first = true;
  return (type, object, json) => {
    if (type === 'ERROR' || type === 'BOOKMARK') return jsonEventEncoder(type, object, json);
    const o = object() as KObject;
    const t = toTable(r, [o], { includeObject, resourceVersion: o.metadata.resourceVersion, columns: first });
    first = false;
    return `{"type":"${type}","object":${JSON.stringify(t)}}\n`;
  };
}

function listMetadata(out: { resourceVersion: string; continue?: string }): Record<string, unknown> {
  const metadata: Record<string, unknown> = { resourceVersion: out.resourceVersion };
  if (out.continue) metadata.continue = out.continue;
  return metadata;
}

/** A list response spliced from the stored bytes of its items (upstream's items carry no kind/apiVersion). */
function listBody(r: ResourceType, out: ListOutput): RawJSON {
  const head = `{"kind":${JSON.stringify(r.listKind)},"apiVersion":${JSON.stringify(apiVersionOf(r))},"metadata":${JSON.stringify(listMetadata(out))},"items":[`;
  const parts = [head];
  out.items.forEach((o, i) => parts.push(i ? ',' + o.itemJSON() : o.itemJSON()));
  parts.push(']}');
  return new RawJSON(parts, () => ({
    kind: r.listKind, apiVersion: apiVersionOf(r), metadata: listMetadata(out),
    items: out.items.map((o) => { const { kind: _k, apiVersion: _a, ...rest } = o.object; return rest; }),
  }));
}

function objectListBody(r: ResourceType, out: { items: KObject[]; resourceVersion: string }): object {
  return { kind: r.listKind, apiVersion: apiVersionOf(r), metadata: listMetadata(out), items: out.items.map(({ kind: _k, apiVersion: _a, ...rest }) => rest) };
}

/** Longest Unix socket path: sun_path is 108 bytes on Linux, NUL included. */
export const MAX_SOCKET_PATH_BYTES = 107;

/** Watches are long; only the request head and body must arrive promptly. */
function setServerTimeouts(server: http.Server): void {
  server.requestTimeout = 60_000;
  server.headersTimeout = 30_000;
  server.keepAliveTimeout = 65_000;
}

/**
 * Make way for a socket at `socketPath`: a socket file nobody accepts on (ECONNREFUSED: its server
 * is gone) is removed; a live one, or a file that is not a socket, is an error.
 */
async function removeStaleSocket(socketPath: string): Promise<void> {
  let stat;
  try {
    stat = await fs.lstat(socketPath);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  if (!stat.isSocket()) throw new Error(`${socketPath} exists and is not a socket; not replacing it`);
  const refused = await new Promise<boolean>((resolve, reject) => {
    const probe = net.connect({ path: socketPath });
    probe.once('connect', () => {
      probe.destroy();
      resolve(false);
    });
    probe.once('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNREFUSED' ? resolve(true) : reject(e)));
  });
  if (!refused) throw new Error(`another server is listening on ${socketPath}`);
  await fs.unlink(socketPath);
}

export class ApiServer {
  readonly registry: Registry;
  private readonly namespaces: NamespaceCache;
  readonly metrics: ApiMetrics;
  readonly watches: WatchHub;
  private server?: https.Server;
  private ready = false;
  private shuttingDown = false;
  private readonly log: Logger;
  private readonly tokens: TokenTable;

  constructor(private readonly opts: ApiServerOptions) {
    this.log = opts.log;
    this.tokens = tokenTable(opts.tokens);
    this.namespaces = new NamespaceCache(opts.store, opts.log.child({ component: 'namespaces' }));
    this.registry = new Registry(opts.store, this.namespaces, opts.hooks);
    this.metrics = new ApiMetrics(opts.store);
    this.watches = new WatchHub(opts.store, opts.log.child({ component: 'watch' }), this.metrics, { ...DEFAULT_WATCH_CONFIG, ...opts.watch });
  }

  /**
   * How the API server authenticates to node agents (upstream's kubelet client credentials): a
   * token of a system:masters user, which the agents, being clients with that token, accept.
   */
  private kubeletToken(): string {
    for (const [token, user] of this.opts.tokens) if (user.groups.includes('system:masters')) return token;
    return '';
  }

  setReady(v: boolean): void {
    this.ready = v;
  }

  async listen(host: string, port: number): Promise<AddressInfo> {
    const { credentials } = this.opts;
    await this.namespaces.start();
    this.server = https.createServer({ cert: credentials.certPem, key: credentials.keyPem, minVersion: 'TLSv1.2' }, (req, res) => this.serve(req, res));
    setServerTimeouts(this.server);
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, host, () => resolve());
    });
    return this.server.address() as AddressInfo;
  }

  /**
   * Serve on a Unix domain socket too, after listen(): plain HTTP/1.1 with the same handler,
   * timeouts and limits as HTTPS; only TLS is left out (bearer tokens are checked as on HTTPS).
   * It is the private channel of kubelite's own components on this machine, which otherwise pay
   * TLS on both ends of every request and watch event. The file is made 0600; a stale one (left
   * by a killed server) is replaced, one a live server answers on is not. close() stops
   * accepting, ends idle connections and removes the file; ApiServer.close() ends the watches.
   */
  async listenUnix(socketPath: string): Promise<{ close(): Promise<void> }> {
    // sun_path holds 108 bytes with the terminating NUL; libuv cuts a longer path silently.
    if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) {
      throw new Error(`API socket path is ${Buffer.byteLength(socketPath)} bytes, longer than the ${MAX_SOCKET_PATH_BYTES} a Unix socket address holds: ${socketPath}`);
    }
    await removeStaleSocket(socketPath);
    const server = http.createServer((req, res) => this.serve(req, res));
    setServerTimeouts(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => resolve());
    });
    try {
      await fs.chmod(socketPath, 0o600);
    } catch (e) {
      server.close();
      throw e;
    }
    return {
      close: async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
        });
        // Node's listener removes its socket file on close; a file someone replaced it with stays.
        await fs.rm(socketPath, { force: true }).catch(() => {});
      },
    };
  }

  /**
   * Serve a request of the in-process API channel (channel.ts: `up`'s component threads) with
   * the handler every listener uses; its request and response are the part of Node's the
   * handler touches.
   */
  serveInProcess(req: ChannelRequest, res: ChannelResponse): void {
    this.serve(req as unknown as IncomingMessage, res as unknown as ServerResponse);
  }

  /** Every listener's request handler: an error that escapes handle() is a 500, or a reset once the head is out. */
  private serve(req: IncomingMessage, res: ServerResponse): void {
    this.handle(req, res).catch((e) => {
      this.log.error({ err: e }, 'unhandled error in request handler');
      if (!res.headersSent) this.sendStatus(res, errors.internal(e));
      else res.destroy();
    });
  }

  /** Stop accepting requests, end watches, and wait for in-flight requests to finish. */
  async close(): Promise<void> {
    this.shuttingDown = true;
    this.ready = false;
    this.watches.closeAll();
    this.namespaces.stop();
    if (!this.server) return;
    await new Promise<void>((resolve) => {
      this.server!.close(() => resolve());
      this.server!.closeIdleConnections();
    });
  }

  private async send(res: ServerResponse, req: IncomingMessage, code: number, body: unknown, headers: Record<string, string> = {}, warnings: string[] = []): Promise<void> {
    let parts: string[];
    let ct: string;
    if (wantsYAML(req.headers.accept)) {
      parts = [YAML.stringify(body instanceof RawJSON ? body.value() : body)];
      ct = 'application/yaml';
    } else {
      parts = body instanceof RawJSON ? body.parts : [knownJSON(body) ?? JSON.stringify(body)];
      ct = 'application/json';
    }
    const h: Record<string, string | string[]> = { 'Content-Type': ct, 'Cache-Control': 'no-cache, private', ...headers };
    if (warnings.length) h.Warning = [...new Set(warnings)].map((w) => `299 - ${JSON.stringify(w)}`);
    res.writeHead(code, h);
    if (parts.length === 1) {
      res.end(parts[0]);
      return;
    }
    let chunk = '';
    for (const p of parts) {
      chunk += p;
      if (chunk.length < WRITE_CHUNK) continue;
      const more = res.write(chunk);
      chunk = '';
      if (!more && !res.destroyed) await drainedOrClosed(res);
      if (res.destroyed) return;
    }
    res.end(chunk);
  }

  private sendStatus(res: ServerResponse, e: ApiError): void {
    res.writeHead(e.code, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', ...e.headers });
    res.end(JSON.stringify(e.status()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    const url = new URL(req.url ?? '/', 'https://localhost');
    const path = url.pathname;
    const labels = { verb: req.method ?? 'GET', group: '', version: '', resource: '', subresource: '', scope: '' };
    let code = 200;
    let longRunning = false;
    try {
      if (PUBLIC_PATHS.has(path) || path.startsWith('/healthz/') || path.startsWith('/livez/') || path.startsWith('/readyz/')) {
        code = this.serveNonResource(req, res, path, url.searchParams);
        return;
      }
      const token = bearer(req);
      const user = token ? lookupToken(this.tokens, token) : undefined;
      if (!user) throw errors.unauthorized();
      if (path === '/metrics') {
        const text = await this.metrics.registry.metrics();
        res.writeHead(200, { 'Content-Type': this.metrics.registry.contentType });
        res.end(text);
        return;
      }
      if (path.startsWith('/openapi/')) {
        const out = serveOpenAPI(path, url.searchParams, req.headers);
        if (!out) throw errors.pathNotFound();
        code = out.status;
        res.writeHead(out.status, out.headers);
        res.end(out.body);
        return;
      }
      const segments = path.split('/').filter(Boolean);
      const route = routeOf(segments);
      if (route === 'discovery') {
        code = this.serveDiscovery(req, res, segments);
        return;
      }
      if (!route) throw errors.pathNotFound();
      const { r } = route;
      Object.assign(labels, { group: r.group, version: r.version, resource: r.plural, subresource: route.subresource ?? '',
        scope: route.name ? 'resource' : route.namespace !== undefined ? 'namespace' : 'cluster' });
      const q = url.searchParams;
      if (route.subresource === 'log' && r.kind === 'Pod' && route.name && route.namespace !== undefined && req.method === 'GET') {
        // Streamed from the pod's node agent; counted as upstream counts it.
        labels.verb = 'CONNECT';
        longRunning = true;
        code = await servePodLog(this.registry, this.kubeletToken(), route.namespace, route.name, q, res);
        return;
      }
      const isWatch = req.method === 'GET' && !route.name && (route.watchPath || queryBool(q, 'watch'));
      const isWatchNamed = req.method === 'GET' && route.name && route.watchPath;
      if (isWatch || isWatchNamed) {
        labels.verb = 'WATCH';
        longRunning = true;
        const table = wantsTable(req.headers.accept) ? includeObjectOf(q) : undefined;
        if (!r.verbs.includes('watch')) throw errors.methodNotSupported(r, 'watch');
        const fieldSelector = isWatchNamed
          ? [q.get('fieldSelector'), `metadata.name=${route.name}`].filter(Boolean).join(',')
          : q.get('fieldSelector') ?? undefined;
        await this.watches.serve(r, route.namespace, {
          resourceVersion: q.get('resourceVersion') ?? undefined,
          resourceVersionMatch: q.get('resourceVersionMatch') ?? undefined,
          labelSelector: q.get('labelSelector') ?? undefined,
          fieldSelector,
          allowWatchBookmarks: queryBool(q, 'allowWatchBookmarks'),
          sendInitialEvents: q.has('sendInitialEvents') ? queryBool(q, 'sendInitialEvents') : undefined,
          timeoutSeconds: queryInt(q, 'timeoutSeconds'),
        }, res, table ? tableEventEncoder(r, table) : jsonEventEncoder);
        return;
      }
      if (req.method === 'GET' && !route.name) labels.verb = 'LIST';
      if (req.method === 'DELETE' && !route.name) labels.verb = 'DELETECOLLECTION';
      const out = await this.serveResource(req, route, q);
      code = out.code;
      await this.send(res, req, out.code, out.body, out.headers, (out as { warnings?: string[] }).warnings);
    } catch (e) {
      const err = e instanceof ApiError ? e : errors.internal(e);
      code = err.code;
      if (err.code >= 500) this.log.error({ err: e, method: req.method, path }, 'request failed');
      if (res.headersSent) {
        res.destroy();
      } else {
        this.sendStatus(res, err);
      }
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      this.metrics.observe(labels, code, longRunning ? undefined : seconds);
      if (this.log.isLevelEnabled('debug')) {
        this.log.debug({ verb: labels.verb, path, code, ms: Math.round(seconds * 1e4) / 10, ua: req.headers['user-agent'] }, 'request');
      }
    }
  }

  private serveNonResource(req: IncomingMessage, res: ServerResponse, path: string, q: URLSearchParams): number {
    if (path === '/version' || path === '/version/') {
      void this.send(res, req, 200, VERSION_INFO);
      return 200;
    }
    // /healthz, /livez, /readyz, and /<kind>/<check> for one check, as upstream.
    const [, kind, only] = path.split('/');
    const checks: [string, boolean][] = [['ping', true], ['log', true], ['etcd', !this.shuttingDown]];
    if (kind === 'readyz') checks.push(['poststarthook/bootstrap-namespaces', this.ready], ['shutdown', !this.shuttingDown]);
    const selected = only ? checks.filter(([n]) => n === only || n.startsWith(`${only}/`)) : checks;
    if (selected.length === 0) {
      this.sendStatus(res, errors.pathNotFound());
      return 404;
    }
    const ok = selected.every(([, v]) => v);
    let body: string;
    if (q.has('verbose') || !ok) {
      body = selected.map(([n, v]) => (v ? `[+]${n} ok` : `[-]${n} failed: reason withheld`)).join('\n') + '\n' +
        (ok ? `${kind} check passed\n` : `${kind} check failed\n`);
    } else {
      body = 'ok';
    }
    res.writeHead(ok ? 200 : 500, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
    res.end(body);
    return ok ? 200 : 500;
  }

  private serveDiscovery(req: IncomingMessage, res: ServerResponse, segments: string[]): number {
    const agg = discovery.wantsAggregated(req.headers.accept);
    let body: unknown;
    const headers: Record<string, string> = { Vary: 'Accept' };
    const [root, a, b] = segments;
    if (segments.length === 1 && agg) {
      body = root === 'api' ? discovery.coreAggregated(agg) : discovery.groupsAggregated(agg);
      headers['Content-Type'] = discovery.aggregatedContentType(agg);
    } else if (segments.length === 1) {
      body = root === 'api' ? discovery.apiVersions(req.headers.host ?? '127.0.0.1') : discovery.apiGroupList();
    } else if (root === 'api' && segments.length === 2) {
      body = discovery.apiResourceList('', a);
    } else if (root === 'apis' && segments.length === 2) {
      body = discovery.apiGroupDoc(a);
    } else if (root === 'apis' && segments.length === 3) {
      body = discovery.apiResourceList(a, b);
    }
    if (!body) {
      this.sendStatus(res, errors.pathNotFound());
      return 404;
    }
    const payload = JSON.stringify(body);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', ...headers });
    res.end(payload);
    return 200;
  }

  private writeOptions(q: URLSearchParams, req?: IncomingMessage): WriteOptions {
    return {
      dryRun: dryRunOf(q.getAll('dryRun')),
      fieldManager: q.get('fieldManager') ?? defaultManager(req?.headers['user-agent']),
      force: q.get('force') === 'true',
      fieldValidation: fieldValidationOf(q),
      warnings: [],
    };
  }

  private async serveResource(req: IncomingMessage, route: Route, q: URLSearchParams): Promise<Handled & { warnings?: string[] }> {
    const { r, namespace: ns, name, subresource } = route;
    const reg = this.registry;
    const method = req.method ?? 'GET';
    if (r.namespaced && ns === undefined && method !== 'GET') {
      // Cluster-wide collections of namespaced resources are read-only.
      throw errors.methodNotSupported(r, method === 'POST' ? 'create' : 'deletecollection');
    }
    if (subresource) return this.serveSubresource(req, route, q);
    const verbAllowed = (v: ResourceType['verbs'][number]) => {
      if (!r.verbs.includes(v)) throw errors.methodNotSupported(r, v);
    };

    switch (method) {
      case 'GET': {
        const table = wantsTable(req.headers.accept) ? includeObjectOf(q) : undefined;
        if (name) {
          verbAllowed('get');
          const stored = await reg.getStored(r, ns, name);
          if (table) return tableResponse(toTable(r, [stored.object], { includeObject: table, resourceVersion: stored.object.metadata.resourceVersion }));
          return { code: 200, body: new RawJSON([stored.json()], () => stored.object) };
        }
        verbAllowed('list');
        const out = await reg.list(r, ns, {
          labelSelector: q.get('labelSelector') ?? undefined,
          fieldSelector: q.get('fieldSelector') ?? undefined,
          limit: queryInt(q, 'limit'),
          continue: q.get('continue') ?? undefined,
          resourceVersion: q.get('resourceVersion') ?? undefined,
          resourceVersionMatch: q.get('resourceVersionMatch') ?? undefined,
        });
        if (table) {
          return tableResponse(toTable(r, out.items.map((o) => o.object), {
            includeObject: table, resourceVersion: out.resourceVersion, continue: out.continue, remainingItemCount: out.remainingItemCount,
          }));
        }
        return { code: 200, body: listBody(r, out) };
      }
      case 'POST': {
        if (name) throw errors.methodNotSupported(r, 'create');
        verbAllowed('create');
        const opts = this.writeOptions(q, req);
        const body = await this.decodeWriteBody(await readBody(req), req, r, opts);
        const obj = await reg.create(r, ns, body, opts);
        return { code: 201, body: obj, warnings: opts.warnings };
      }
      case 'PUT': {
        if (!name) throw errors.methodNotSupported(r, 'update');
        verbAllowed('update');
        const opts = this.writeOptions(q, req);
        const body = await this.decodeWriteBody(await readBody(req), req, r, opts);
        const { obj, created } = await reg.update(r, ns, name, body, opts);
        return { code: created ? 201 : 200, body: obj, warnings: opts.warnings };
      }
      case 'PATCH': {
        if (!name) throw errors.methodNotSupported(r, 'patch');
        verbAllowed('patch');
        const opts = this.writeOptions(q, req);
        const { type, patch } = await this.readPatch(req);
        if (type === 'apply') {
          const invalid = validateWriteOptions('PatchOptions', q.get('fieldManager') ?? undefined, true, q.has('force') ? q.get('force') === 'true' : undefined);
          if (invalid) throw invalid;
        }
        const { obj, created } = await reg.patch(r, ns, name, type, patch, opts);
        return { code: created ? 201 : 200, body: obj, warnings: opts.warnings };
      }
      case 'DELETE': {
        const { options, dryRun } = await this.deleteOptions(req, q);
        if (name) {
          verbAllowed('delete');
          const { obj, deleted } = await reg.delete(r, ns, name, options, dryRun);
          if (deleted && !r.returnDeletedObject) {
            return { code: 200, body: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success',
              details: { name, ...(r.group ? { group: r.group } : {}), kind: r.plural, uid: obj.metadata.uid } } };
          }
          return { code: deleted ? 200 : 202, body: obj };
        }
        verbAllowed('deletecollection');
        const out = await reg.deleteCollection(r, ns, {
          labelSelector: q.get('labelSelector') ?? undefined,
          fieldSelector: q.get('fieldSelector') ?? undefined,
        }, options, dryRun);
        return { code: 200, body: objectListBody(r, out) };
      }
      default:
        throw errors.methodNotSupported(r, method.toLowerCase());
    }
  }

  /** A create or update body; JSON text is kept for the strict decoder's duplicate-field check and checkFields' null check. */
  private async decodeWriteBody(buf: Buffer | string, req: IncomingMessage, r: ResourceType, opts: WriteOptions): Promise<unknown> {
    const mt = mediaType(req.headers['content-type']);
    if (mt !== 'application/json' && mt !== '') return decodeBody(buf, req.headers['content-type'], r);
    // JSON is made text once, for the parse and for the checks that read the text.
    const text = typeof buf === 'string' ? buf : buf.toString('utf8');
    const body = await decodeBody(text, req.headers['content-type'], r);
    opts.rawJSON = text;
    return body;
  }

  private async readPatch(req: IncomingMessage): Promise<{ type: 'json' | 'merge' | 'strategic' | 'apply'; patch: unknown }> {
    const mt = mediaType(req.headers['content-type']);
    if (mt === 'application/apply-patch+yaml') {
      return { type: 'apply', patch: await decodeBody(await readBody(req), mt) };
    }
    const type = patchTypeFromContentType(mt);
    if (!type) throw errors.unsupportedMediaType(mt);
    const patch = await decodeBody(await readBody(req), 'application/json');
    if (patch === undefined) throw errors.badRequest('the body of the request was empty');
    return { type, patch };
  }

  private async deleteOptions(req: IncomingMessage, q: URLSearchParams): Promise<{ options: DeleteOptions; dryRun: boolean }> {
    const body = await decodeBody(await readBody(req), req.headers['content-type']);
    const options: DeleteOptions = body && typeof body === 'object' ? (body as DeleteOptions) : {};
    const kind = (options as { kind?: string }).kind;
    if (kind !== undefined && kind !== 'DeleteOptions') throw errors.badRequest(`${kind} is not a DeleteOptions`);
    const grace = queryInt(q, 'gracePeriodSeconds');
    if (grace !== undefined) options.gracePeriodSeconds = grace;
    const policy = q.get('propagationPolicy');
    if (policy) options.propagationPolicy = policy as DeleteOptions['propagationPolicy'];
    if (q.has('orphanDependents')) options.orphanDependents = queryBool(q, 'orphanDependents');
    if (options.propagationPolicy && !['Orphan', 'Background', 'Foreground'].includes(options.propagationPolicy)) {
      throw errors.badRequest(`propagationPolicy: Unsupported value: ${JSON.stringify(options.propagationPolicy)}: supported values: "Foreground", "Background", "Orphan"`);
    }
    if (options.gracePeriodSeconds !== undefined && (!Number.isInteger(options.gracePeriodSeconds) || options.gracePeriodSeconds < 0)) {
      throw errors.badRequest(`gracePeriodSeconds: Invalid value: ${options.gracePeriodSeconds}: must be >= 0`);
    }
    const dryRun = dryRunOf([...(options.dryRun ?? []), ...q.getAll('dryRun')]);
    return { options, dryRun };
  }

  private async serveSubresource(req: IncomingMessage, route: Route, q: URLSearchParams): Promise<Handled & { warnings?: string[] }> {
    const { r, namespace: ns, name, subresource } = route;
    const reg = this.registry;
    const method = req.method ?? 'GET';
    if (!name) throw errors.pathNotFound();
    if (subresource === 'status' && r.status) {
      switch (method) {
        case 'GET': return { code: 200, body: await reg.get(r, ns, name) };
        case 'PUT': {
          const opts = this.writeOptions(q, req);
          const body = await decodeBody(await readBody(req), req.headers['content-type'], r);
          return { code: 200, body: (await reg.update(r, ns, name, body, opts, 'status')).obj, warnings: opts.warnings };
        }
        case 'PATCH': {
          const opts = this.writeOptions(q, req);
          const { type, patch } = await this.readPatch(req);
          const { obj, created } = await reg.patch(r, ns, name, type, patch, opts, 'status');
          return { code: created ? 201 : 200, body: obj, warnings: opts.warnings };
        }
      }
      throw errors.methodNotSupported(r, method.toLowerCase());
    }
    if (subresource === 'scale' && r.scale) {
      switch (method) {
        case 'GET': return { code: 200, body: await reg.getScale(r, ns, name) };
        case 'PUT': {
          const opts = this.writeOptions(q, req);
          const body = await decodeBody(await readBody(req), req.headers['content-type'], r) as KObject;
          return { code: 200, body: await reg.updateScale(r, ns, name, opts, () => body) };
        }
        case 'PATCH': {
          const opts = this.writeOptions(q, req);
          const { type, patch } = await this.readPatch(req);
          if (type === 'apply') throw errors.unsupportedMediaType('application/apply-patch+yaml');
          return { code: 200, body: await reg.updateScale(r, ns, name, opts, (cur) => patchObject(type, cur, patch, 'autoscaling/v1', 'Scale')) };
        }
      }
      throw errors.methodNotSupported(r, method.toLowerCase());
    }
    if (subresource === 'binding' && r.kind === 'Pod' && method === 'POST') {
      const opts = this.writeOptions(q, req);
      const body = await decodeBody(await readBody(req), req.headers['content-type'], r);
      await reg.bindPod(ns, name, body, opts);
      return { code: 201, body: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 } };
    }
    if (subresource === 'finalize' && r.kind === 'Namespace' && method === 'PUT') {
      const opts = this.writeOptions(q, req);
      const body = await decodeBody(await readBody(req), req.headers['content-type'], r);
      return { code: 200, body: await reg.finalizeNamespace(name, body, opts) };
    }
    throw errors.pathNotFound();
  }
}

/**
 * Wait until a response can take more bytes, or is gone. Both listeners are removed whichever
 * fires: a large LIST waits here many times on one response, and listeners left behind pile up.
 */
function drainedOrClosed(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
