// The node agent's endpoint for the API server, as the kubelet serves port 10250
// (pkg/kubelet/server/server.go): GET /containerLogs/<namespace>/<pod>/<container> with the v1
// PodLogOptions as query parameters, which the API server's pods/log subresource proxies to.
//
// It is plain HTTP on the node's address (every node is this machine, on loopback), and it
// authenticates as the kubelet's webhook authentication would for the API server's own client:
// the request must carry the bearer token the agent itself uses towards the API (the admin
// token of the kubeconfig), which the API server holds too. One server can front several agents
// of one process (one port for all simulated nodes); each request goes to the agent that has
// the pod.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import type { Writable } from 'node:stream';
import type { ContainerLogOptions } from './runtime.js';
import { parseRFC3339 } from './runtimes/cri-log.js';

/** PodLogOptions as the kubelet's containerLogs handler takes them. */
export interface PodLogRequest extends ContainerLogOptions {
  previous: boolean;
}

/** Writes one container's log; may reject before it has written anything (the client then gets 400). */
export type LogWriter = (out: Writable, signal: AbortSignal) => Promise<void>;

/** A failure the client is told about, with the kubelet's status code and plain-text body. */
export class LogRequestError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export interface ContainerLogSource {
  /**
   * The writer of a container's log, or undefined when the pod is not this agent's. Throws
   * LogRequestError when the container has no log to give (unknown, waiting, no previous).
   */
  containerLogs(namespace: string, pod: string, container: string, opts: PodLogRequest): LogWriter | undefined;
}

/** Go's strconv.ParseBool, which the parameter codec uses. */
function parseBool(v: string | null): boolean | undefined {
  if (v === null) return undefined;
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  throw new Error(`invalid bool ${v}`);
}

function parseInt64(v: string | null): number | undefined {
  if (v === null) return undefined;
  if (!/^[+-]?\d+$/.test(v)) throw new Error(`invalid integer ${v}`);
  return Number(v);
}

/**
 * The log options of a containerLogs query. Throws LogRequestError with the kubelet's texts for
 * queries that do not decode (400) or do not validate (422).
 */
export function parseLogQuery(q: URLSearchParams, nowMs = Date.now()): PodLogRequest {
  let tail = q.get('tailLines');
  // The kubelet still takes the old `tail` parameter; "all" means no limit.
  const legacyTail = q.get('tail');
  if (legacyTail !== null && legacyTail !== '') tail = legacyTail === 'all' ? null : legacyTail;
  let opts: PodLogRequest & { sinceSeconds?: number; sinceTime?: string };
  try {
    opts = {
      follow: parseBool(q.get('follow')) ?? false,
      previous: parseBool(q.get('previous')) ?? false,
      timestamps: parseBool(q.get('timestamps')) ?? false,
      tailLines: parseInt64(tail),
      limitBytes: parseInt64(q.get('limitBytes')),
      sinceSeconds: parseInt64(q.get('sinceSeconds')),
      sinceTime: q.get('sinceTime') ?? undefined,
    };
  } catch {
    throw new LogRequestError(400, '{"message": "Unable to decode query."}');
  }
  const sinceTimeMs = opts.sinceTime !== undefined ? parseRFC3339(opts.sinceTime) : undefined;
  if (opts.sinceTime !== undefined && sinceTimeMs === undefined) throw new LogRequestError(400, '{"message": "Unable to decode query."}');
  const invalid = (opts.tailLines !== undefined && opts.tailLines < 0) || (opts.limitBytes !== undefined && opts.limitBytes < 1)
    || (opts.sinceSeconds !== undefined && opts.sinceTime !== undefined) || (opts.sinceSeconds !== undefined && opts.sinceSeconds < 1);
  if (invalid) throw new LogRequestError(422, '{"message": "Invalid request."}');
  const sinceMs = opts.sinceSeconds !== undefined ? nowMs - opts.sinceSeconds * 1000 : sinceTimeMs;
  return {
    follow: opts.follow, previous: opts.previous, timestamps: opts.timestamps,
    ...(opts.tailLines !== undefined ? { tailLines: opts.tailLines } : {}),
    ...(opts.limitBytes !== undefined ? { limitBytes: opts.limitBytes } : {}),
    ...(sinceMs !== undefined ? { sinceMs } : {}),
  };
}

export class KubeletServer {
  private readonly server: http.Server;
  private readonly sources = new Set<ContainerLogSource>();
  private readonly token: Buffer;
  private address?: AddressInfo;

  constructor(private readonly opts: { host: string; token: string }) {
    this.token = Buffer.from(`Bearer ${opts.token}`);
    this.server = http.createServer((req, res) => void this.handle(req, res));
  }

  /** Listen on a free port of the node's address; resolves to the port. */
  async listen(): Promise<number> {
    if (this.address) return this.address.port;
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, this.opts.host, () => resolve());
    });
    this.address = this.server.address() as AddressInfo;
    return this.address.port;
  }

  get port(): number {
    return this.address?.port ?? 0;
  }

  register(source: ContainerLogSource): void {
    this.sources.add(source);
  }

  unregister(source: ContainerLogSource): void {
    this.sources.delete(source);
  }

  close(): void {
    this.server.close();
    this.server.closeAllConnections();
  }

  private authorized(req: http.IncomingMessage): boolean {
    const got = Buffer.from(req.headers.authorization ?? '');
    return got.length === this.token.length && timingSafeEqual(got, this.token);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const text = (status: number, body: string) => {
      res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
      res.end(body);
    };
    if (!this.authorized(req)) return text(401, 'Unauthorized');
    const url = new URL(req.url ?? '/', 'http://kubelet');
    if (url.pathname === '/healthz') return text(200, 'ok');
    const m = /^\/containerLogs\/([^/]*)\/([^/]*)\/([^/]*)$/.exec(url.pathname);
    if (!m) return text(404, '404 page not found');
    if (req.method !== 'GET') return text(405, 'Method Not Allowed');
    const [namespace, pod, container] = m.slice(1).map(decodeURIComponent) as [string, string, string];
    if (!pod) return text(400, '{"message": "Missing podID."}');
    if (!container) return text(400, '{"message": "Missing container name."}');
    if (!namespace) return text(400, '{"message": "Missing podNamespace."}');
    let writer: LogWriter | undefined;
    let opts: PodLogRequest;
    try {
      opts = parseLogQuery(url.searchParams);
      for (const s of this.sources) {
        writer = s.containerLogs(namespace, pod, container, opts);
        if (writer) break;
      }
    } catch (e) {
      if (e instanceof LogRequestError) return text(e.status, e.message);
      throw e;
    }
    if (!writer) return text(404, `pod "${pod}" does not exist`);
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    res.statusCode = 200;
    res.setHeader('Content-Type', 'text/plain');
    // Following waits for output that may be long in coming: the client has its answer now.
    if (opts.follow) res.flushHeaders();
    try {
      await writer(res, abort.signal);
      res.end();
    } catch (e) {
      if (!res.headersSent) return text(400, (e as Error).message);
      res.destroy();
    }
  }
}
