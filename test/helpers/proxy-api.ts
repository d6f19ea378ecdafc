// What the proxy tests (userspace and nftables) share: Services with explicit cluster IPs and
// hand-written EndpointSlices in `default`, written through the API, backends that answer with
// their name, and small network helpers.
import net from 'node:net';
import http from 'node:http';
import dgram from 'node:dgram';
import type { Cluster } from './cluster.js';
import { call } from './run-controllers.js';

const NS = '/api/v1/namespaces/default';
const SLICES = '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices';

export interface SvcOpts {
  ip: string;
  ports: { name?: string; port: number; targetPort?: number; protocol?: string; nodePort?: number }[];
  type?: string;
  affinitySeconds?: number;
}

export async function createService(c: Cluster, name: string, o: SvcOpts): Promise<void> {
  await call(c, 'POST', `${NS}/services`, {
    apiVersion: 'v1', kind: 'Service', metadata: { name },
    spec: {
      type: o.type ?? 'ClusterIP', clusterIP: o.ip, clusterIPs: [o.ip],
      ports: o.ports.map((p) => ({ protocol: 'TCP', targetPort: p.port, ...p })),
      ...(o.affinitySeconds !== undefined ? { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: o.affinitySeconds } } } : {}),
    },
  });
}

export interface Ep { ip: string; ready?: boolean; serving?: boolean; terminating?: boolean }

/** Create or replace the one slice of a Service. */
export async function putSlice(c: Cluster, service: string, eps: Ep[], ports: { name?: string; port: number; protocol?: string }[]): Promise<void> {
  const body = {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { name: `${service}-1`, labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    endpoints: eps.map((e) => ({
      addresses: [e.ip],
      conditions: { ready: e.ready ?? true, serving: e.serving ?? e.ready ?? true, terminating: e.terminating ?? false },
    })),
    ports: ports.map((p) => ({ name: p.name ?? '', port: p.port, protocol: p.protocol ?? 'TCP' })),
  };
  const r = await c.request('GET', `${SLICES}/${service}-1`);
  if (r.status === 404) await call(c, 'POST', SLICES, body);
  else await call(c, 'PUT', `${SLICES}/${service}-1`, { ...body, metadata: { ...body.metadata, resourceVersion: r.json().metadata.resourceVersion } });
}

/**
 * Requests over one kept-alive connection: `ask()` resolves with the answering backend's name and
 * the client's local port (the same port means the same connection); `close()` ends it.
 */
export function keepAliveClient(host: string, port: number): { ask(): Promise<{ name: string; localPort: number }>; close(): void } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  return {
    ask: () => new Promise((resolve, reject) => {
      http.get({ host, port, agent }, (res) => {
        const localPort = res.socket.localPort!;
        let body = '';
        res.on('data', (d) => { body += d; });
        res.on('end', () => resolve({ name: body.trim(), localPort }));
      }).on('error', reject);
    }),
    close: () => agent.destroy(),
  };
}

/** One HTTP request on a new connection; resolves with the answering backend's name. */
export function fetchName(host: string, port: number, localAddress?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path: '/', agent: false, localAddress }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve(body.trim()));
    });
    req.on('error', reject);
  });
}

export function count(names: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of names) out[n] = (out[n] ?? 0) + 1;
  return out;
}

export async function sequential<T>(n: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i++) out.push(await fn(i));
  return out;
}

export function listen(server: net.Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
}

/**
 * Connect, send a request, and report how it went: `connected` once an answer arrives, `closed`
 * when the peer accepted and then closed without one (a proxy that accepts and drops shows so),
 * the error code (`ECONNREFUSED`, `ECONNRESET`...), or `timeout`.
 */
export function tryConnect(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.setTimeout(10_000, () => {
      s.destroy();
      resolve('timeout');
    });
    s.once('connect', () => {
      s.once('close', () => resolve('closed'));
      s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      s.once('data', () => {
        s.destroy();
        resolve('connected');
      });
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
  });
}

/** A UDP socket bound to an ephemeral port of 127.0.0.1. */
export function udpClient(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  return new Promise((resolve) => s.bind(0, '127.0.0.1', () => resolve(s)));
}

/**
 * A UDP exchange: send one datagram from `socket`, resolve with the reply and who sent it. A
 * datagram can be lost without a trace, so no reply within 10 s fails the exchange.
 */
export function udpAsk(socket: dgram.Socket, msg: string, host: string, port: number): Promise<{ text: string; from: string }> {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      socket.removeListener('message', onMessage);
      socket.removeListener('error', onError);
    };
    const onMessage = (m: Buffer, r: dgram.RemoteInfo) => {
      done();
      resolve({ text: m.toString(), from: `${r.address}:${r.port}` });
    };
    const onError = (e: Error) => {
      done();
      reject(e);
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`no reply to ${JSON.stringify(msg)} from ${host}:${port} in 10 s`));
    }, 10_000);
    socket.once('message', onMessage);
    socket.once('error', onError);
    socket.send(msg, port, host);
  });
}

/**
 * Three backends `a`, `b`, `c` on their own loopback addresses `<net>.1`–`.3`: HTTP at `httpPort`
 * answering with the name, UDP at `udpPort` replying `<name>:<datagram>`. Other servers a test
 * starts can be handed to `track` so that `close()` ends them too.
 */
export interface Backends {
  A: string;
  B: string;
  C: string;
  /** Backend name by address. */
  names: Record<string, string>;
  httpPort: number;
  udpPort: number;
  track(server: { close(): void }): void;
  close(): void;
}

export async function startBackends(net24: string, httpPort: number, udpPort: number): Promise<Backends> {
  const [A, B, C] = [1, 2, 3].map((i) => `${net24}.${i}`) as [string, string, string];
  const names: Record<string, string> = { [A]: 'a', [B]: 'b', [C]: 'c' };
  const servers: { close(): void }[] = [];
  const b: Backends = {
    A, B, C, names, httpPort, udpPort,
    track: (s) => { servers.push(s); },
    close: () => { for (const s of servers) s.close(); },
  };
  try {
    for (const ip of [A, B, C]) {
      const h = http.createServer((_req, res) => res.end(`${names[ip]}\n`));
      await listen(h, ip, httpPort);
      servers.push(h);
      const u = dgram.createSocket('udp4');
      u.on('message', (m, r) => u.send(`${names[ip]}:${m}`, r.port, r.address));
      await new Promise<void>((resolve, reject) => {
        u.once('error', reject);
        u.bind(udpPort, ip, () => resolve());
      });
      servers.push(u);
    }
  } catch (e) {
    b.close();
    throw e;
  }
  return b;
}
