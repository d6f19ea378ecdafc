// `kubelite up`: the whole cluster in one process on the embedded store.
import path from 'node:path';
import { mkdir } from 'node:fs/promises';
import type { ParseArgsConfig } from 'node:util';
import { openStore } from '../store/index.js';
import { writeKubeconfig } from '../client/kubeconfig.js';
import { logger, setLogLevel } from '../util/log.js';
import { COMPONENTS, type Component } from './components-list.js';

export const UP_HELP = `Usage: kubelite up [flags]

Run a kubelite cluster in one process: the API server on the embedded SQLite store, the
controllers (deployment, replicaset, garbage collector, namespace, node IPAM, node lifecycle,
taint eviction, pod GC), the scheduler and one simulated node agent per node.
On first start the data directory is created with a CA, a serving certificate, an admin
token (tokens.csv) and a kubeconfig. Stop with Ctrl-C (SIGINT) or SIGTERM.

Flags:
      --data-dir DIR        Data directory (default ./.kubelite)
      --listen HOST:PORT    Address of the HTTPS API server (default 127.0.0.1:6443; port 0 = any free port)
      --kubeconfig PATH     Write the kubeconfig here instead of DIR/kubeconfig (other entries in an
                            existing file are kept)
      --store URL           Store: sqlite://PATH (default sqlite://DIR/state.db)
      --nodes LIST          Names of the simulated nodes, comma-separated; empty for none
                            (default node01,node02)
      --cluster-cidr CIDR   Pod network; each node gets a slice of it (default 127.244.0.0/16)
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
      --disable LIST        Components not to run, comma-separated: controllers, scheduler, nodes
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
                            Output a watch may have queued before its client counts as too slow and is
                            disconnected (it re-watches from its last resourceVersion) (default 33554432)
      --log-level LEVEL     trace, debug, info, warn or error (default info; logs are JSON lines on stderr)
  -h, --help                Show this help
`;

export const UP_OPTIONS: ParseArgsConfig['options'] = {
  'data-dir': { type: 'string' },
  listen: { type: 'string' },
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
  'node-cidr-mask-size': { type: 'string' },
  'node-pods': { type: 'string' },
  'pod-start-delay': { type: 'string' },
  'node-monitor-grace-period': { type: 'string' },
  'default-toleration-seconds': { type: 'string' },
  disable: { type: 'string' },
};

/** `250ms`, `90s`, `5m`, `1h` → milliseconds. */
export function parseDuration(flag: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(v);
  if (!m) throw new Error(`--${flag}: not a duration: ${JSON.stringify(v)} (use e.g. 500ms, 90s, 5m, 1h)`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
}

function parseCount(flag: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${flag}: not a whole number: ${JSON.stringify(v)}`);
  return n;
}

export async function runUp(values: Record<string, unknown>): Promise<void> {
  const t0 = performance.now();
  if (values['log-level']) setLogLevel(String(values['log-level']));
  logger('up').debug({ ms: Math.round(t0) }, 'modules loaded');
  const log = logger('up');
  const dataDir = path.resolve(String(values['data-dir'] ?? '.kubelite'));
  const kubeconfig = path.resolve(String(values.kubeconfig ?? path.join(dataDir, 'kubeconfig')));
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
  const str = (k: string, d: string) => (values[k] === undefined ? d : String(values[k]));
  const disabled = str('disable', '').split(',').map((x) => x.trim()).filter(Boolean);
  for (const d of disabled) if (!COMPONENTS.includes(d as Component)) throw new Error(`--disable: unknown component "${d}" (known: ${COMPONENTS.join(', ')})`);
  const nodes = str('nodes', 'node01,node02').split(',').map((x) => x.trim()).filter(Boolean);
  const clusterCIDR = str('cluster-cidr', '127.244.0.0/16');
  if (!/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(clusterCIDR)) throw new Error(`--cluster-cidr: not an IPv4 CIDR: ${clusterCIDR}`);
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
  };
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  // Start the store's writer thread first: it boots on the other core while this thread loads
  // the API server's code (a separate chunk of the bundle).
  const store = openStore(values.store ? String(values.store) : `sqlite://${path.join(dataDir, 'state.db')}`);
  const started = store.start();
  started.catch(() => {}); // awaited below; avoid an unhandled rejection while the import runs
  const { startApiServer } = await import('../apiserver/index.js');
  log.debug({ ms: Math.round(performance.now()) }, 'API server code loaded');
  const api = await startApiServer({
    dataDir,
    listen: String(values.listen ?? '127.0.0.1:6443'),
    store: { store, started },
    log: logger('apiserver'),
    compaction,
    watch,
    defaultTolerationSeconds: tolerationSeconds,
  });
  await writeKubeconfig(kubeconfig, { name: 'kubelite', server: api.url, caPem: api.credentials.caPem, token: api.adminToken });
  // Ready only now: whoever sees /readyz succeed can also read the kubeconfig.
  api.server.setReady(true);
  // The components are API clients like any other; they start once the API answers.
  const { startComponents } = await import('./components.js');
  const running = await startComponents({ ...components, server: api.url, caPem: api.credentials.caPem, token: api.adminToken, log: logger('components') });
  const ms = Math.round(performance.now() - t0);
  process.stdout.write(
    `kubelite is running: API server ${api.url}, data in ${dataDir}\n` +
    `export KUBECONFIG=${kubeconfig}\n` +
    `Ready in ${ms} ms.\n`,
  );
  log.info({ url: api.url, dataDir, kubeconfig, ms }, 'ready');

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    try {
      await running.stop();
      await api.stop();
      log.info('stopped');
      process.exitCode = 0;
    } catch (e) {
      log.error({ err: e }, 'shutdown failed');
      process.exitCode = 1;
    }
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
}
