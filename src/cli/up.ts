// `kubelite up`: the whole cluster in one process on the embedded store.
import path from 'node:path';
import { mkdir } from 'node:fs/promises';
import type { ParseArgsConfig } from 'node:util';
import { openStore } from '../store/index.js';
import { writeKubeconfig } from '../client/kubeconfig.js';
import { logger, setLogLevel } from '../util/log.js';
import { COMPONENTS, COMPONENTS_API, PROXY_MODES, type Component, type ProxyMode } from './components-list.js';
import { onShutdown, parseBool, parseCount, parseDuration } from './flags.js';
import type { RunningComponents } from './components.js';

export const UP_HELP = `Usage: kubelite up [flags]

Run a kubelite cluster in one process: the API server on the embedded SQLite store and, on
threads of their own, the controllers (deployment, replicaset, endpoints, endpointslice,
endpointslice mirroring, garbage collector, namespace, node IPAM, node lifecycle, taint
eviction, pod GC), the scheduler, one node agent per node and the service proxy (userspace:
listens on every ClusterIP:port and 127.0.0.1:NodePort; or nftables rules, as root). If one of these threads crashes,
kubelite logs it and exits with code 1.
On first start the data directory is created with a CA, a serving certificate, an admin
token (tokens.csv) and a kubeconfig. Stop with Ctrl-C (SIGINT) or SIGTERM.

Flags:
      --data-dir DIR        Data directory (default ./.kubelite)
      --listen HOST:PORT    Address of the HTTPS API server (default 127.0.0.1:6443; port 0 = any free port)
      --api-socket PATH     Also serve the API on this Unix socket (mode 0600), in plain HTTP with the
                            same token checks, for components on this machine (kubelite controllers,
                            agent, proxy --api-socket; this process's own with --components-api
                            socket) (default DIR/api.sock; "" for none)
      --components-api MODE How this process's controllers, scheduler, node agents and proxy reach its
                            API server: channel (default: an in-process message channel to the same
                            request handler, no connection), socket (the API socket) or https
      --kubeconfig PATH     Write the kubeconfig here instead of DIR/kubeconfig (other entries in an
                            existing file are kept)
      --store URL           Store: sqlite://PATH (default sqlite://DIR/state.db), or
                            etcd://HOST:PORT[,HOST:PORT...][/KEY-PREFIX] (see docs/operations.md)
      --nodes LIST          Names of the simulated nodes, comma-separated; empty for none
                            (default node01,node02)
      --cluster-cidr CIDR   Pod network; each node gets a slice of it (default 127.244.0.0/16)
      --service-cidr CIDR   Service ClusterIPs come from here; the kubernetes Service gets the first
                            (default 127.96.0.0/12)
      --service-node-port-range RANGE
                            NodePorts come from here (default 30000-32767)
      --apiserver-lease-duration DURATION
                            How long this server stays in the kubernetes Service's endpoints after its
                            last Lease renewal, i.e. how soon a dead server drops out (rounded up to
                            whole seconds; default 15s)
      --apiserver-lease-renew-interval DURATION
                            Time between renewals of this server's Lease (default 10s; keep it below
                            the lease duration)
      --advertise-address IP
                            The API server's address in the kubernetes Service's endpoints (default:
                            the --listen address, or 127.0.0.1 when that is 0.0.0.0)
      --node-cidr-mask-size N
                            Size of each node's pod CIDR (default 24)
      --node-pods N         Pods each simulated node can run (its pods capacity; default 110)
      --pod-start-delay DURATION
                            How long a simulated container takes to start, plus up to the same
                            again at random (default 250ms)
      --node-monitor-grace-period DURATION
                            A node whose agent is silent this long becomes NotReady (default 50s)
      --default-toleration-seconds N
                            How long pods stay on a NotReady or unreachable node before eviction,
                            unless they say otherwise (default 300)
      --disable LIST        Components not to run, comma-separated: controllers, scheduler, nodes, proxy
      --balance POLICY      How the proxy picks an endpoint for a new connection: round-robin
                            (default) or random (sessionAffinity: ClientIP pins clients either way)
      --proxy-mode MODE     userspace (default; no root) or nftables (root and the nft command:
                            DNAT rules in table "ip kubelite", deleted on exit)
      --proxy-workers N     userspace: worker processes relaying TCP (default 1: the proxy's own
                            thread; \`kubelite proxy\` defaults to one per core)
      --sim-answer BOOL     Simulated pods answer HTTP/TCP/UDP on their ports (default true; a
                            socket per pod port, so turn it off for very many pods)
      --history-retention-time DURATION
                            Keep at least this much store history for watches and paged lists
                            (default 5m; e.g. 90s, 10m)
      --history-retention-revisions N
                            Keep at least this many revisions of history (default 10000)
      --compaction-interval DURATION
                            Time between compaction passes (default 1m)
      --watch-bookmark-interval DURATION
                            Interval of BOOKMARK events on watches that allow them (default 30s)
      --watch-max-buffer BYTES
                            Output a watch may have queued for a second (or four times this at once)
                            before its client counts as too slow and is disconnected (it re-watches
                            from its last resourceVersion) (default 33554432)
      --log-level LEVEL     trace, debug, info, warn or error (default info; logs are JSON lines on stderr)
  -h, --help                Show this help
`;

export const SERVER_HELP = `Usage: kubelite server [flags]

Run the API server alone: kubelite up without its controllers, scheduler, node agents and
proxy, which then run as \`kubelite controllers\`, \`kubelite agent\` and \`kubelite proxy\`
processes pointed at its kubeconfig. Several servers may share one etcd store
(--store etcd://...); see docs/operations.md. The flags are those of kubelite up; the
component flags have no effect. The API socket (--api-socket, default DIR/api.sock) is served
too: components on this machine pass it as their --api-socket to skip TLS.
`;

export const UP_OPTIONS: ParseArgsConfig['options'] = {
  'data-dir': { type: 'string' },
  listen: { type: 'string' },
  'api-socket': { type: 'string' },
  'components-api': { type: 'string' },
  kubeconfig: { type: 'string' },
  store: { type: 'string' },
  'log-level': { type: 'string' },
  'history-retention-time': { type: 'string' },
  'history-retention-revisions': { type: 'string' },
  'compaction-interval': { type: 'string' },
  'watch-bookmark-interval': { type: 'string' },
  'watch-max-buffer': { type: 'string' },
  nodes: { type: 'string' },
  'cluster-cidr': { type: 'string' },
  'service-cidr': { type: 'string' },
  'service-node-port-range': { type: 'string' },
  'advertise-address': { type: 'string' },
  'apiserver-lease-duration': { type: 'string' },
  'apiserver-lease-renew-interval': { type: 'string' },
  'node-cidr-mask-size': { type: 'string' },
  'node-pods': { type: 'string' },
  'pod-start-delay': { type: 'string' },
  'node-monitor-grace-period': { type: 'string' },
  'default-toleration-seconds': { type: 'string' },
  disable: { type: 'string' },
  balance: { type: 'string' },
  'proxy-mode': { type: 'string' },
  'proxy-workers': { type: 'string' },
  'sim-answer': { type: 'string' },
};

export async function runUp(values: Record<string, unknown>): Promise<void> {
  const t0 = performance.now();
  if (values['log-level']) setLogLevel(String(values['log-level']));
  logger('up').debug({ ms: Math.round(t0) }, 'modules loaded');
  const log = logger('up');
  const dataDir = path.resolve(String(values['data-dir'] ?? '.kubelite'));
  const kubeconfig = path.resolve(String(values.kubeconfig ?? path.join(dataDir, 'kubeconfig')));
  // The socket is on unless turned off with an empty path.
  const socketFlag = values['api-socket'] === undefined ? undefined : String(values['api-socket']);
  const socketPath = socketFlag === undefined ? path.join(dataDir, 'api.sock') : socketFlag === '' ? undefined : path.resolve(socketFlag);
  // Flags are checked before anything starts.
  const compaction = {
    retentionMs: values['history-retention-time'] ? parseDuration('history-retention-time', String(values['history-retention-time'])) : undefined,
    retentionRevisions: values['history-retention-revisions'] ? parseCount('history-retention-revisions', String(values['history-retention-revisions'])) : undefined,
    intervalMs: values['compaction-interval'] ? parseDuration('compaction-interval', String(values['compaction-interval'])) : undefined,
  };
  const watch = {
    ...(values['watch-bookmark-interval'] ? { bookmarkIntervalMs: parseDuration('watch-bookmark-interval', String(values['watch-bookmark-interval'])) } : {}),
    ...(values['watch-max-buffer'] ? { maxBufferedBytes: parseCount('watch-max-buffer', String(values['watch-max-buffer'])) } : {}),
  };
  const apiserverLease = {
    durationMs: values['apiserver-lease-duration'] ? parseDuration('apiserver-lease-duration', String(values['apiserver-lease-duration'])) : undefined,
    renewIntervalMs: values['apiserver-lease-renew-interval'] ? parseDuration('apiserver-lease-renew-interval', String(values['apiserver-lease-renew-interval'])) : undefined,
  };
  const str = (k: string, d: string) => (values[k] === undefined ? d : String(values[k]));
  const disabled = str('disable', '').split(',').map((x) => x.trim()).filter(Boolean);
  for (const d of disabled) if (!COMPONENTS.includes(d as Component)) throw new Error(`--disable: unknown component "${d}" (known: ${COMPONENTS.join(', ')})`);
  const nodes = str('nodes', 'node01,node02').split(',').map((x) => x.trim()).filter(Boolean);
  const clusterCIDR = str('cluster-cidr', '127.244.0.0/16');
  if (!/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(clusterCIDR)) throw new Error(`--cluster-cidr: not an IPv4 CIDR: ${clusterCIDR}`);
  // The API server checks these in full (sizes, host bits, bounds) and knows their defaults.
  const optional = (k: string) => (values[k] === undefined ? undefined : String(values[k]));
  const serviceCIDR = optional('service-cidr');
  if (serviceCIDR !== undefined && !/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(serviceCIDR)) throw new Error(`--service-cidr: not an IPv4 CIDR: ${serviceCIDR}`);
  const nodePortRange = optional('service-node-port-range');
  if (nodePortRange !== undefined && !/^\d+(?:[-+]\d+)?$/.test(nodePortRange)) throw new Error(`--service-node-port-range: not a port range: ${nodePortRange} (use e.g. 30000-32767)`);
  const podStartDelayMs = parseDuration('pod-start-delay', str('pod-start-delay', '250ms'));
  const tolerationSeconds = parseCount('default-toleration-seconds', str('default-toleration-seconds', '300'));
  const components = {
    enabled: new Set(COMPONENTS.filter((c) => !disabled.includes(c))),
    nodes,
    clusterCIDR,
    nodeCIDRMaskSize: parseCount('node-cidr-mask-size', str('node-cidr-mask-size', '24')),
    nodePods: parseCount('node-pods', str('node-pods', '110')),
    podStartDelayMs,
    podStartJitterMs: podStartDelayMs,
    nodeMonitorGracePeriodMs: parseDuration('node-monitor-grace-period', str('node-monitor-grace-period', '50s')),
    simAnswer: parseBool('sim-answer', values['sim-answer']),
    balance: str('balance', 'round-robin') as 'round-robin' | 'random',
    proxyMode: str('proxy-mode', 'userspace') as ProxyMode,
    proxyWorkers: parseCount('proxy-workers', str('proxy-workers', '1')),
  };
  if (!['round-robin', 'random'].includes(components.balance)) throw new Error(`--balance: unknown policy "${components.balance}" (known: round-robin, random)`);
  if (components.proxyWorkers < 1) throw new Error('--proxy-workers: must be at least 1');
  const componentsApi = str('components-api', 'channel');
  if (!COMPONENTS_API.includes(componentsApi)) throw new Error(`--components-api: unknown mode "${componentsApi}" (known: ${COMPONENTS_API.join(', ')})`);
  if (componentsApi === 'socket' && socketPath === undefined) throw new Error('--components-api socket: there is no API socket (--api-socket "")');
  if (!PROXY_MODES.includes(components.proxyMode)) throw new Error(`--proxy-mode: unsupported mode "${components.proxyMode}" (supported: ${PROXY_MODES.join(', ')})`);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  // Start the store's writer thread first: it boots on the other core while this thread loads
  // the API server's code (a separate chunk of the bundle).
  const store = openStore(values.store ? String(values.store) : `sqlite://${path.join(dataDir, 'state.db')}`);
  const started = store.start();
  started.catch(() => {}); // awaited below; avoid an unhandled rejection while the import runs
  const { startApiServer, MAX_SOCKET_PATH_BYTES, ApiChannelServer } = await import('../apiserver/index.js');
  log.debug({ ms: Math.round(performance.now()) }, 'API server code loaded');
  // A data directory deep enough that its default socket path does not fit a socket address
  // still runs, over HTTPS only; a path asked for by flag must fit (listenUnix says why not).
  const defaultSocketTooLong = socketFlag === undefined && Buffer.byteLength(socketPath!) > MAX_SOCKET_PATH_BYTES;
  if (defaultSocketTooLong) log.warn({ socketPath, maxBytes: MAX_SOCKET_PATH_BYTES }, 'the data directory\'s path is too long for a Unix socket address: no API socket; components use HTTPS');
  const api = await startApiServer({
    dataDir,
    listen: String(values.listen ?? '127.0.0.1:6443'),
    socketPath: defaultSocketTooLong ? undefined : socketPath,
    store: { store, started },
    log: logger('apiserver'),
    compaction,
    watch,
    defaultTolerationSeconds: tolerationSeconds,
    serviceCIDR,
    nodePortRange,
    advertiseAddress: optional('advertise-address'),
    apiserverLease,
  });
  await writeKubeconfig(kubeconfig, { name: 'kubelite', server: api.url, caPem: api.credentials.caPem, token: api.adminToken });
  const { startComponentThreads } = await import('./components.js');
  const channel = componentsApi === 'channel' ? new ApiChannelServer((req, res) => api.server.serveInProcess(req, res)) : undefined;
  let starting: Promise<RunningComponents> | undefined;
  // Installed before anyone can see the server ready: whoever waits for that may signal at once,
  // and a SIGTERM before the handler takes the default action (the process dies, its socket file
  // left behind). Components still starting finish starting, then stop.
  onShutdown(log, async () => {
    await api.leave();
    const running = await starting?.catch(() => undefined);
    await running?.stop();
    channel?.close();
    await api.stop();
  });
  // Ready only now: whoever sees /readyz succeed can also read the kubeconfig.
  api.server.setReady(true);
  // The components are API clients like any other; they start once the API answers, each group
  // on a thread of its own so that they do not take the API server's event loop. A group whose
  // thread dies takes the cluster down (logged, exit code 1) rather than leaving it half working.
  starting = startComponentThreads(
    { ...components, server: api.url, socketPath: componentsApi === 'https' ? undefined : api.socketPath, caPem: api.credentials.caPem, token: api.adminToken, log: logger('components') },
    (group, err) => {
      log.error({ group, err }, 'component thread crashed; exiting');
      process.exit(1);
    },
    channel,
  );
  await starting;
  const ms = Math.round(performance.now() - t0);
  process.stdout.write(
    `kubelite is running: API server ${api.url}, data in ${dataDir}\n` +
    `export KUBECONFIG=${kubeconfig}\n` +
    `Ready in ${ms} ms.\n`,
  );
  log.info({ url: api.url, socketPath: api.socketPath, dataDir, kubeconfig, ms }, 'ready');
}
