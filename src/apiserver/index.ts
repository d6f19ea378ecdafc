// Starting an API server on a data directory: credentials, store, HTTPS listener (and the Unix
// socket of kubelite's own components, when asked), compaction and the namespaces that exist from
// the start. Used by `kubelite up` (and later `kubelite server`).
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { openStore } from '../store/index.js';
import { startCompactor, type CompactorOptions } from '../store/compactor.js';
import type { Store } from '../store/types.js';
import { RESOURCES } from '../api/resources.js';
import { defaultTolerations } from '../api/defaults.js';
import { ipFamilyOf, NODE_PORT_RANGE } from '../api/validation/index.js';
import { ApiServer } from './server.js';
export { MAX_SOCKET_PATH_BYTES } from './server.js';
import { SYSTEM_NAMESPACES } from './registry.js';
import { ApiError } from './errors.js';
import { ensureServingCredentials, ensureTokens, type ServingCredentials } from './pki.js';
import type { Logger } from '../util/log.js';
import type { WatchConfig } from './watch.js';
import { ServiceAllocator } from './service-alloc.js';
import { KubernetesServiceController } from './kubernetes-service.js';

export interface StartOptions {
  dataDir: string;
  /** host:port; port 0 picks a free port. */
  listen: string;
  /**
   * Also serve plain HTTP on this Unix socket (ApiServer.listenUnix): for clients on this machine
   * that may read the data directory, such as `up`'s component threads. Default: none.
   */
  socketPath?: string;
  /** The store, already starting (its start() promise); default: SQLite in the data dir, started here. */
  store?: { store: Store; started: Promise<void> };
  log: Logger;
  watch?: Partial<WatchConfig>;
  compaction?: CompactorOptions;
  /** DefaultTolerationSeconds admission for not-ready and unreachable nodes (default 300). */
  defaultTolerationSeconds?: number;
  /** ClusterIPs come from here (default 127.96.0.0/12); the `kubernetes` Service gets the first. */
  serviceCIDR?: string;
  /** NodePorts come from here (default 30000-32767). */
  nodePortRange?: string;
  /**
   * The IP other API clients reach this server at, published in the `kubernetes` Endpoints
   * (default: the listen address, or 127.0.0.1 when listening on all addresses or a name).
   */
  advertiseAddress?: string;
  /** Service allocation repair: time between passes (default 3 min), leak grace period (default 60 s). */
  serviceRepair?: { intervalMs?: number; leakGracePeriodMs?: number };
  /** This server's Lease for the `kubernetes` Endpoints: renew interval (default 10 s) and duration (default 15 s). */
  apiserverLease?: { renewIntervalMs?: number; durationMs?: number };
}

/** `up` serves its component threads through this (channel.ts). */
export { ApiChannelServer } from './channel.js';

export interface RunningApiServer {
  server: ApiServer;
  store: Store;
  address: AddressInfo;
  /** https://host:port as clients should use it. */
  url: string;
  /** The Unix socket served besides `url`, if one was asked for. */
  socketPath?: string;
  credentials: ServingCredentials;
  adminToken: string;
  /**
   * Take this server out of the `kubernetes` Endpoints now (its Lease goes), before the slower
   * parts of a shutdown: as upstream's pre-shutdown hook, so clients stop being sent here even if
   * the process is killed before stop() ends. stop() does it too.
   */
  leave(): Promise<void>;
  stop(): Promise<void>;
}

/** Open a store and start it; the caller may do other work while its writer thread boots. */
export function startStore(url: string): { store: Store; started: Promise<void> } {
  const store = openStore(url);
  return { store, started: store.start() };
}

export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(listen);
  if (!m) throw new Error(`--listen must be HOST:PORT, got ${JSON.stringify(listen)}`);
  const port = Number(m[3]);
  if (port < 0 || port > 65535) throw new Error(`--listen port out of range: ${port}`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

/**
 * The names and addresses the serving certificate must cover for clients to verify it: those of
 * the listen address, the advertised one, and the `kubernetes` Service's ClusterIP and DNS names.
 */
function servingNames(host: string, advertiseAddress: string, serviceIP: string): { dns: string[]; ips: string[] } {
  const dns = ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local', os.hostname()];
  const ips = ['127.0.0.1', '::1', serviceIP, advertiseAddress];
  const isIP = /^[\d.]+$/.test(host) || host.includes(':');
  if (isIP && host !== '0.0.0.0' && host !== '::') ips.push(host);
  if (!isIP && !dns.includes(host)) dns.push(host);
  return { dns: [...new Set(dns)], ips: [...new Set(ips)] };
}

/** The address to publish for a listen host: the host itself if it is one IP, else loopback. */
export function defaultAdvertiseAddress(host: string): string {
  return ipFamilyOf(host) && host !== '0.0.0.0' && host !== '::' ? host : '127.0.0.1';
}

export async function startApiServer(o: StartOptions): Promise<RunningApiServer> {
  const { host, port } = parseListen(o.listen);
  if (o.defaultTolerationSeconds !== undefined) {
    defaultTolerations.notReadySeconds = o.defaultTolerationSeconds;
    defaultTolerations.unreachableSeconds = o.defaultTolerationSeconds;
  }
  const advertiseAddress = o.advertiseAddress ?? defaultAdvertiseAddress(host);
  if (!ipFamilyOf(advertiseAddress)) throw new Error(`--advertise-address must be an IP address, got ${JSON.stringify(advertiseAddress)}`);
  await fs.mkdir(o.dataDir, { recursive: true, mode: 0o700 });
  const { store, started } = o.store ?? startStore(`sqlite://${path.join(o.dataDir, 'state.db')}`);
  const allocator = new ServiceAllocator({
    store, log: o.log.child({ component: 'service-allocator' }), serviceCIDR: o.serviceCIDR, nodePortRange: o.nodePortRange,
    repairIntervalMs: o.serviceRepair?.intervalMs, leakGracePeriodMs: o.serviceRepair?.leakGracePeriodMs,
  });
  // Validation checks requested node ports against the configured range (one API server per process).
  NODE_PORT_RANGE.base = allocator.ports.first;
  NODE_PORT_RANGE.size = allocator.ports.size;
  const names = servingNames(host, advertiseAddress, allocator.firstIP);
  const [credentials, tokens] = await Promise.all([
    ensureServingCredentials(o.dataDir, names.dns, names.ips),
    ensureTokens(o.dataDir),
    started,
  ]);
  o.log.debug({ ms: Math.round(performance.now()) }, 'store open, credentials loaded');
  const server = new ApiServer({ store, credentials, tokens: tokens.users, log: o.log, watch: o.watch, hooks: { Service: allocator.hooks() } });
  // What is allocated is known (and repaired) before the first Service write.
  const [address] = await Promise.all([server.listen(host, port), allocator.start()]);
  const socket = o.socketPath === undefined ? undefined : await server.listenUnix(o.socketPath);
  const compactor = startCompactor(store, o.compaction);
  await bootstrapNamespaces(server);
  o.log.debug({ ms: Math.round(performance.now()) }, 'system namespaces present');
  const kubernetesService = new KubernetesServiceController({
    registry: server.registry, store, log: o.log.child({ component: 'kubernetes-service' }),
    serviceIP: allocator.firstIP, advertiseAddress, port: address.port,
    renewIntervalMs: o.apiserverLease?.renewIntervalMs, leaseDurationMs: o.apiserverLease?.durationMs,
  });
  await kubernetesService.start();
  o.log.debug({ ms: Math.round(performance.now()) }, 'kubernetes service reconciled');
  const clientHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return {
    server, store, address, credentials, adminToken: tokens.adminToken,
    url: `https://${clientHost}:${address.port}`,
    socketPath: o.socketPath,
    leave: () => kubernetesService.stop(),
    async stop() {
      // Leave the `kubernetes` Endpoints while the store is still there.
      await kubernetesService.stop();
      allocator.stop();
      compactor.stop();
      // server.close() ends every watch at once, before its first await: the socket's listener,
      // which waits for its connections, can then close too.
      await Promise.all([server.close(), socket?.close()]);
      await store.close();
    },
  };
}

async function bootstrapNamespaces(server: ApiServer): Promise<void> {
  const nsResource = RESOURCES.find((r) => r.kind === 'Namespace')!;
  await Promise.all(SYSTEM_NAMESPACES.map(async (name) => {
    if (await server.registry.getRaw(nsResource, undefined, name)) return;
    try {
      await server.registry.create(nsResource, undefined, { metadata: { name } }, { dryRun: false, fieldValidation: 'Strict', warnings: [] });
    } catch (e) {
      if (!(e instanceof ApiError && e.reason === 'AlreadyExists')) throw e;
    }
  }));
}
