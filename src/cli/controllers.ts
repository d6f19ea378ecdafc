// `kubelite controllers`: the controllers and the scheduler as a process of their own, pointed at
// the API with a kubeconfig. Each group runs under leader election on a Lease in kube-system (the
// names upstream's kube-controller-manager and kube-scheduler use), so that several copies can
// run and exactly one of each acts. A copy that loses its Lease exits, as upstream's do: its
// caches and queues may hold decisions made while another copy already led.
import os from 'node:os';
import { randomUUID } from 'node:crypto';
import type { ParseArgsConfig } from 'node:util';
import { RestClient } from '../client/rest.js';
import { LeaderElector, LEADER_DEFAULTS } from '../client/leader.js';
import { logger, setLogLevel } from '../util/log.js';
import { API_SOCKET_HELP, apiConnection, onShutdown, parseBool, parseCount, parseDuration } from './flags.js';
import type { Component } from './components-list.js';
import type { RunningComponents } from './components.js';

export const CONTROLLERS_HELP = `Usage: kubelite controllers [flags]

Run the controllers (deployment, replicaset, endpoints, endpointslice, garbage collector,
namespace, node IPAM, node lifecycle, taint eviction, pod GC) and the scheduler against the API
server of a kubeconfig. With --leader-elect (the default) several copies may run: the holder of
the Lease kube-system/kube-controller-manager runs the controllers and the holder of
kube-system/kube-scheduler the scheduler; the others wait and take over within the lease duration.

Flags:
      --kubeconfig PATH     Kubeconfig (default $KUBECONFIG, else ~/.kube/config)
${API_SOCKET_HELP}
      --leader-elect BOOL   Take part in leader election (default true)
      --leader-elect-lease-duration DURATION
                            How long a Lease holds after its last renewal (default 15s)
      --leader-elect-renew-deadline DURATION
                            A leader that could not renew for this long stops (default 10s)
      --leader-elect-retry-period DURATION
                            Time between attempts to acquire or renew (default 2s)
      --disable LIST        Groups not to run, comma-separated: controllers, scheduler
      --controllers LIST    Controllers to run, comma-separated, as kube-controller-manager's
                            flag: '*' for all, NAME to enable one, -NAME to disable one (default
                            '*'). Names (upstream's, or their old short aliases): endpoints-
                            controller (endpoint), endpointslice-controller (endpointslice),
                            endpointslice-mirroring-controller (endpointslicemirroring),
                            deployment-controller (deployment), replicaset-controller
                            (replicaset), garbage-collector-controller (garbagecollector),
                            namespace-controller (namespace), node-ipam-controller (nodeipam),
                            node-lifecycle-controller (nodelifecycle), taint-eviction-controller,
                            pod-garbage-collector-controller (podgc)
      --cluster-cidr CIDR   Pod network; each node gets a slice of it (default 127.244.0.0/16)
      --node-cidr-mask-size N
                            Size of each node's pod CIDR (default 24)
      --node-monitor-grace-period DURATION
                            A node whose agent is silent this long becomes NotReady (default 50s)
      --log-level LEVEL     trace, debug, info, warn or error (default info)
  -h, --help                Show this help
`;

export const CONTROLLERS_OPTIONS: ParseArgsConfig['options'] = {
  kubeconfig: { type: 'string' },
  'api-socket': { type: 'string' },
  'leader-elect': { type: 'string' },
  'leader-elect-lease-duration': { type: 'string' },
  'leader-elect-renew-deadline': { type: 'string' },
  'leader-elect-retry-period': { type: 'string' },
  disable: { type: 'string' },
  controllers: { type: 'string' },
  'cluster-cidr': { type: 'string' },
  'node-cidr-mask-size': { type: 'string' },
  'node-monitor-grace-period': { type: 'string' },
  'log-level': { type: 'string' },
};

/** The controllers `kubelite controllers` runs, by upstream's names, with the aliases upstream still accepts. */
export const CONTROLLER_ALIASES: Readonly<Record<string, string[]>> = {
  'endpoints-controller': ['endpoint'],
  'endpointslice-controller': ['endpointslice'],
  'endpointslice-mirroring-controller': ['endpointslicemirroring'],
  'deployment-controller': ['deployment'],
  'replicaset-controller': ['replicaset'],
  'garbage-collector-controller': ['garbagecollector'],
  'namespace-controller': ['namespace'],
  'node-ipam-controller': ['nodeipam'],
  'node-lifecycle-controller': ['nodelifecycle'],
  'taint-eviction-controller': [],
  'pod-garbage-collector-controller': ['podgc'],
};

/**
 * kube-controller-manager's --controllers: items are `*` (every controller), `NAME` (enable it)
 * or `-NAME` (disable it); as upstream's IsControllerEnabled, `-NAME` wins, then `NAME`, then
 * `*`. Returns the canonical names of the controllers to run.
 */
export function parseControllers(list: string): Set<string> {
  const canonical = new Map<string, string>();
  for (const [name, aliases] of Object.entries(CONTROLLER_ALIASES)) for (const n of [name, ...aliases]) canonical.set(n, name);
  const enabled = new Set<string>(), disabled = new Set<string>();
  let all = false;
  for (const raw of list.split(',').map((x) => x.trim()).filter(Boolean)) {
    if (raw === '*') {
      all = true;
      continue;
    }
    const off = raw.startsWith('-');
    const name = canonical.get(off ? raw.slice(1) : raw);
    if (!name) throw new Error(`--controllers: "${raw}" is not in the list of known controllers (${Object.keys(CONTROLLER_ALIASES).join(', ')})`);
    (off ? disabled : enabled).add(name);
  }
  return new Set(Object.keys(CONTROLLER_ALIASES).filter((n) => !disabled.has(n) && (enabled.has(n) || all)));
}

/** The Lease each group is elected on, named as upstream's components name theirs. */
const LEASES: Partial<Record<Component, string>> = { controllers: 'kube-controller-manager', scheduler: 'kube-scheduler' };

export async function runControllers(values: Record<string, unknown>): Promise<void> {
  if (values['log-level']) setLogLevel(String(values['log-level']));
  const log = logger('controllers');
  const str = (k: string, d: string) => (values[k] === undefined ? d : String(values[k]));
  const elect = parseBool('leader-elect', values['leader-elect']);
  const election = {
    leaseDurationMs: parseDuration('leader-elect-lease-duration', str('leader-elect-lease-duration', `${LEADER_DEFAULTS.leaseDurationMs}ms`)),
    renewDeadlineMs: parseDuration('leader-elect-renew-deadline', str('leader-elect-renew-deadline', `${LEADER_DEFAULTS.renewDeadlineMs}ms`)),
    retryPeriodMs: parseDuration('leader-elect-retry-period', str('leader-elect-retry-period', `${LEADER_DEFAULTS.retryPeriodMs}ms`)),
  };
  const disabled = str('disable', '').split(',').map((x) => x.trim()).filter(Boolean);
  for (const d of disabled) if (!(d in LEASES)) throw new Error(`--disable: unknown group "${d}" (known: controllers, scheduler)`);
  const groups = (Object.keys(LEASES) as Component[]).filter((g) => !disabled.includes(g));
  const kc = await apiConnection(values);
  const options = {
    server: kc.server, socketPath: kc.socketPath, caPem: kc.caPem ?? '', token: kc.token ?? '', tlsServerName: kc.tlsServerName, insecure: kc.insecure,
    nodes: [], nodePods: 0, podStartDelayMs: 0, podStartJitterMs: 0,
    controllers: parseControllers(str('controllers', '*')),
    clusterCIDR: str('cluster-cidr', '127.244.0.0/16'),
    nodeCIDRMaskSize: parseCount('node-cidr-mask-size', str('node-cidr-mask-size', '24')),
    nodeMonitorGracePeriodMs: parseDuration('node-monitor-grace-period', str('node-monitor-grace-period', '50s')),
    log: logger('components'),
  };
  const { startComponents } = await import('./components.js');
  // Upstream's identity: the host name and a random suffix, so two copies on one host differ.
  const identity = `${os.hostname()}_${randomUUID()}`;
  const running: RunningComponents[] = [];
  const electors: LeaderElector[] = [];
  let stopping = false;

  for (const group of groups) {
    const start = async () => running.push(await startComponents({ ...options, enabled: new Set([group]) }));
    if (!elect) {
      await start();
      continue;
    }
    const client = new RestClient({ ...kc, userAgent: `${LEASES[group]}/v1.32.4 (linux/amd64) kubelite/0.1.0 leader-election` });
    const elector = new LeaderElector(client, {
      namespace: 'kube-system', name: LEASES[group]!, identity, ...election,
      onStartedLeading: () => {
        log.info({ group, identity }, 'leading: starting');
        start().catch((e) => {
          log.error({ group, err: e }, 'could not start');
          process.exit(1);
        });
      },
      onStoppedLeading: () => {
        if (stopping) return;
        log.error({ group, identity }, 'leaderelection lost');
        process.exit(1);
      },
    });
    elector.start();
    electors.push(elector);
  }
  // A standby has nothing else that keeps the process alive while it waits for a Lease.
  const keepAlive = setInterval(() => {}, 1 << 30);
  // The handler before the announcement: a SIGTERM right after it must release the Leases.
  onShutdown(log, async () => {
    stopping = true;
    clearInterval(keepAlive);
    for (const r of running) await r.stop();
    // Released Leases let a standby take over at once instead of after the lease duration.
    for (const e of electors) await e.stop({ release: true });
  });
  log.info({ groups, identity, leaderElect: elect }, elect ? 'waiting for leadership' : 'running');
}
