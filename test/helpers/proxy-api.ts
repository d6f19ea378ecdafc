// What the proxy tests (userspace and nftables) share: Services with explicit cluster IPs and
// hand-written EndpointSlices in `default`, written through the API, and small network helpers.
import net from 'node:net';
import http from 'node:http';
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
