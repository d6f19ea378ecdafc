// The cluster's components as `kubelite up` runs them in one process: controllers, scheduler and
// one node agent per node. Each is an API client (HTTPS to the API server like any other client,
// or plain HTTP on its Unix socket when given one); groups get their own connection pools and
// shared informers so that pod-status traffic of many nodes does not delay controllers, or the
// other way round.
// `up` runs each group on a worker thread of its own (startComponentThreads), so that the API
// server's event loop serves requests while the components compute on the other core.
import { MessageChannel, Worker, isMainThread, parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { RestClient } from '../client/rest.js';
import { ApiChannel } from '../client/channel.js';
import { startController, type Reconciler } from '../client/controller.js';
import type { ApiChannelServer } from '../apiserver/channel.js';
import type { BalanceMode } from '../proxy/balancer.js';
import { logger, rootLogger, setLogLevel, type Logger } from '../util/log.js';
import { COMPONENTS, type Component, type ProxyMode } from './components-list.js';
import { nameThisThread } from '../util/thread-name.js';

export interface ComponentOptions {
  server: string;
  /**
   * The API server's Unix socket (ApiServer.listenUnix): when set, every client of the
   * components connects there in plain HTTP instead of TLS to `server` (still sent as Host).
   */
  socketPath?: string;
  /**
   * This thread's in-process API channel (src/client/channel.ts): when set, every client of the
   * components uses it instead of a connection. Set by startComponentThreads, never passed in.
   */
  channel?: ApiChannel;
  caPem: string;
  token: string;
  /** The kubeconfig's tls-server-name: the name the server certificate is checked against. */
  tlsServerName?: string;
  /** The kubeconfig's insecure-skip-tls-verify. */
  insecure?: boolean;
  enabled: Set<Component>;
  /** Of the controllers group, the controllers to run by upstream's names (default: all). */
  controllers?: Set<string>;
  nodes: string[];
  clusterCIDR: string;
  nodeCIDRMaskSize: number;
  /** Pods a simulated node takes (its pods capacity). */
  nodePods: number;
  /** Simulated container start time (ms) and its random extra. */
  podStartDelayMs: number;
  podStartJitterMs: number;
  /** How long a node may miss heartbeats before it is NotReady (upstream node-monitor-grace-period). */
  nodeMonitorGracePeriodMs: number;
  /**
   * RuntimeClass handlers the node agents offer besides the simulated default (default
   * ['process']: RuntimeClass handler `process` runs containers as host processes).
   */
  runtimes?: string[];
  /** Simulated pods answer traffic on their ports (default true; off for very many pods: a socket each). */
  simAnswer?: boolean;
  /** How the proxy picks an endpoint for a new connection (default round-robin). */
  balance?: BalanceMode;
  /** userspace (default: sockets, no root) or nftables (kernel rules in table `ip kubelite`, root). */
  proxyMode?: ProxyMode;
  /** userspace: worker processes relaying TCP (default 1: no workers, the proxy relays itself). */
  proxyWorkers?: number;
  log: Logger;
}

export interface RunningComponents {
  stop(): Promise<void>;
}

/**
 * Each group has its own connection pool. The User-Agent names the upstream component it plays:
 * the server derives field managers from it (`kube-controller-manager`, `kube-scheduler`, `kubelet`).
 */
function client(o: ComponentOptions, component: string): RestClient {
  return new RestClient({ server: o.server, socketPath: o.socketPath, channel: o.channel, caPem: o.caPem, token: o.token, tlsServerName: o.tlsServerName, insecure: o.insecure, userAgent: `${component}/v1.32.4 (linux/amd64) kubelite/0.1.0` });
}

/** What a group's start (src/cli/groups/) gets: the options, and where its clients, controllers and stops go. */
export interface GroupEnv {
  o: ComponentOptions;
  /** A client of its own (connection pool, User-Agent naming the upstream component it plays). */
  newClient(component: string): RestClient;
  /** Start a controller with this many workers; it stops with the rest. */
  run(r: Reconciler, workers: number): Promise<void>;
  /** Called on stop, last registered first. */
  onStop(...stops: (() => void | Promise<void>)[]): void;
}

/**
 * Each group's code, imported on its own: a component thread compiles only its group's modules,
 * and `up`'s own thread, which only starts the threads, none (in a worker thread on the 2-core
 * machine, one group's code loaded in ~50-70 ms of a core, all four groups' ~100 ms).
 */
const GROUP_CODE: Record<Component, () => Promise<{ start(env: GroupEnv): Promise<void> }>> = {
  controllers: () => import('./groups/controllers.js'),
  scheduler: () => import('./groups/scheduler.js'),
  nodes: () => import('./groups/nodes.js'),
  proxy: () => import('./groups/proxy.js'),
};

/** The enabled groups in COMPONENTS' order, nodes only if there are nodes to run. */
function groupsToRun(o: Pick<ComponentOptions, 'enabled' | 'nodes'>): Component[] {
  return COMPONENTS.filter((g) => o.enabled.has(g) && (g !== 'nodes' || o.nodes.length > 0));
}

export async function startComponents(o: ComponentOptions): Promise<RunningComponents> {
  const stops: (() => void | Promise<void>)[] = [];
  const clients: RestClient[] = [];
  const env: GroupEnv = {
    o,
    newClient: (component) => {
      const c = client(o, component);
      clients.push(c);
      return c;
    },
    run: async (r, workers) => {
      const c = await startController(r, workers);
      stops.push(() => c.stop());
    },
    onStop: (...s) => void stops.push(...s),
  };
  // In COMPONENTS' order; stop() goes in reverse (the proxy and node agents stop before the controllers).
  for (const group of groupsToRun(o)) {
    await (await GROUP_CODE[group]()).start(env);
  }
  return {
    async stop() {
      for (const s of stops.reverse()) await s();
      for (const c of clients) c.close();
    },
  };
}

/** ComponentOptions as they cross to a worker thread: plain data; the thread makes its own logger. */
type ThreadOptions = Omit<ComponentOptions, 'log' | 'channel'> & { logLevel: string };

/** What a component thread tells `up`. */
type ThreadMessage = { type: 'started' } | { type: 'failed'; message: string; stack?: string };

/** Marks workerData of the threads started below (this module is also loaded on other threads). */
const THREAD_MARK = 'kubeliteComponentThread';
/** workerData's key of the thread's API channel port, if it has one. */
const PORT_MARK = 'kubeliteApiPort';

/** How long a stopped thread may linger (a handle left open) before it exits anyway. */
const THREAD_EXIT_GRACE_MS = 2_000;

/**
 * Start each enabled group (controllers, scheduler, nodes, proxy) on a worker thread of its own:
 * the same startComponents as in-process, run inside the thread. Resolves once every thread has
 * started its components (rejects if one could not). A thread that dies afterwards (an uncaught
 * error, or exiting while not asked to) is reported to `onCrash` — `up` logs it and exits.
 */
export async function startComponentThreads(o: ComponentOptions, onCrash: (group: Component, error: Error) => void, channel?: ApiChannelServer): Promise<RunningComponents> {
  // A channel is made per thread below; one given in `o` belongs to this thread and is not passed on.
  const { log, channel: _ownChannel, ...plain } = o;
  const groups = groupsToRun(o);
  let stopping = false;
  const threads = groups.map((group) => {
    const data: ThreadOptions = { ...plain, enabled: new Set([group]), logLevel: rootLogger.level };
    // This module is its own chunk in the bundle and its own file in tsc's output, so its URL
    // is a loadable entry point in both; the mark below makes it start the thread's group.
    // With a channel server, the thread's clients reach the API through a port of their own.
    const ports = channel ? new MessageChannel() : undefined;
    if (ports) channel!.attach(ports.port1);
    const worker = new Worker(new URL(import.meta.url), {
      workerData: { [THREAD_MARK]: data, [PORT_MARK]: ports?.port2 },
      transferList: ports ? [ports.port2] : [],
    });
    let startedOk = false;
    let startFailed: (e: Error) => void = () => {};
    const started = new Promise<void>((resolve, reject) => {
      startFailed = reject;
      worker.on('message', (m: ThreadMessage) => {
        if (m.type === 'started') {
          startedOk = true;
          resolve();
        } else if (m.type === 'failed') reject(Object.assign(new Error(m.message), { stack: m.stack ?? m.message }));
      });
    });
    started.catch(() => {}); // awaited below
    // Listening from the start: a thread may die while others are still starting.
    const died = (e: Error) => {
      if (stopping) return;
      if (startedOk) onCrash(group, e);
      else startFailed(e);
    };
    worker.on('error', died);
    worker.on('exit', (code) => died(new Error(`the ${group} thread exited unexpectedly with code ${code}`)));
    return { group, worker, started };
  });
  const stopThread = async (t: (typeof threads)[number]): Promise<void> => {
    const exited = new Promise<void>((resolve) => t.worker.once('exit', () => resolve()));
    t.worker.postMessage({ type: 'stop' });
    await exited;
  };
  try {
    await Promise.all(threads.map((t) => t.started));
  } catch (e) {
    stopping = true;
    await Promise.all(threads.map((t) => t.worker.terminate()));
    throw e;
  }
  log.debug({ threads: groups }, 'component threads running');
  return {
    async stop() {
      stopping = true;
      // Reverse start order, as in-process: the proxy and node agents stop before the controllers.
      for (const t of [...threads].reverse()) await stopThread(t);
    },
  };
}

/** The worker side: start this thread's group, report, and stop it when `up` says so. */
async function serveThread(data: ThreadOptions, apiPort: MessagePort | undefined): Promise<void> {
  const port = parentPort!;
  const { logLevel, ...plain } = data;
  const options: Omit<ComponentOptions, 'log'> = apiPort ? { ...plain, channel: new ApiChannel(apiPort) } : plain;
  nameThisThread(`kl-${[...options.enabled][0]}`);
  setLogLevel(logLevel);
  const send = (m: ThreadMessage) => port.postMessage(m);
  let running: RunningComponents;
  try {
    running = await startComponents({ ...options, log: logger('components') });
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    send({ type: 'failed', message: err.message, stack: err.stack });
    return;
  }
  send({ type: 'started' });
  port.on('message', (m: { type: string }) => {
    if (m.type !== 'stop') return;
    void running.stop()
      .catch((e: unknown) => logger('components').error({ err: e }, 'stopping failed'))
      .finally(() => {
        // Closing the port lets the thread end once its last handles are gone; a handle that
        // lingers does not hold up the shutdown.
        port.close();
        setTimeout(() => process.exit(0), THREAD_EXIT_GRACE_MS).unref();
      });
  });
}

if (!isMainThread && workerData?.[THREAD_MARK]) void serveThread(workerData[THREAD_MARK] as ThreadOptions, workerData[PORT_MARK] as MessagePort | undefined);
