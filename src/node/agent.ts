// The node agent: kubelite's kubelet for one node name. It registers the Node (capacity,
// addresses, node info, conditions), heartbeats through a Lease in kube-node-lease and posts node
// status when it changes (upstream: pkg/kubelet/kubelet_node_status.go, pkg/kubelet/nodestatus,
// pkg/kubelet/nodelease), and runs the pods bound to it through a container runtime: sandbox IPs
// from the node's podCIDR, status patches as the kubelet's status manager sends them, and
// graceful deletion (stop the containers within the grace period, post the final status, then
// delete the pod with grace 0 and a UID precondition).
//
// Deletion without dropped requests: upstream's kubelet stops a deleted pod's containers at once,
// while service proxies learn from the EndpointSlices a moment later that the pod is leaving, so
// connections they send it meanwhile fail (users add preStop sleeps against it). Here a deleted
// pod goes on running — drained: the runtime tells its clients to reconnect elsewhere — while an
// EndpointSlice still offers it as a ready endpoint, and for a drain period (endpointDrainMs)
// after the slices show it terminating, time for every proxy to apply that; only then are its
// containers stopped (SIGTERM and preStop hooks for the process runtime), with what is left of
// the grace period. The grace period bounds the wait, so a pod that no slice stops offering (no
// endpoint controller runs) is stopped when it ends; a pod that no slice offered as serving
// during its deletion, or one deleted with grace 0, stops at once, as upstream's.
//
// Every simulated node is this machine: InternalIP 127.0.0.1, host OS facts from here.
import os from 'node:os';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import type { ContainerStatus, Node, NodeCondition, NodeStatus, Pod, PodStatus, Taint } from 'kubernetes-types/core/v1.js';
import type { Lease } from 'kubernetes-types/coordination/v1.js';
import type { RuntimeClass } from 'kubernetes-types/node/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { RestClient, isAlreadyExists, isConflict, isNotFound, type AnswerMeta } from '../client/rest.js';
import { Informer, keyOf, splitKey } from '../client/informer.js';
import { WorkQueue } from '../client/workqueue.js';
import type { Reconciler } from '../client/controller.js';
import { EventRecorder, type InvolvedObject } from '../client/events.js';
import { RESOURCES } from '../api/resources.js';
import type { KObject } from '../api/types.js';
import { canonicalQuantity, formatQuantity, parseQuantity } from '../api/validation/quantity.js';
import { logger } from '../util/log.js';
import type { Runtime, RuntimeListener } from './runtime.js';
import { SimRuntime, type SimRuntimeOptions } from './runtimes/sim.js';
import { IPAMExhaustedError, PodIPAM } from './ipam.js';
import { buildPodStatus, DEADLINE_EXCEEDED_MESSAGE, DEADLINE_EXCEEDED_REASON } from './pod-status.js';
import { semanticEqual, statusPatch } from './status-patch.js';

const isTerminalPhase = (phase: string | undefined) => phase === 'Succeeded' || phase === 'Failed';
import { KubeletServer, LogRequestError, type ContainerLogSource, type LogWriter, type PodLogRequest } from './kubelet-server.js';

export const KUBELET_VERSION = 'v1.32.4';
export const NODE_LEASE_NAMESPACE = 'kube-node-lease';
/** The kubelet's port, as Node.status.daemonEndpoints reports it before the agent's endpoint listens. */
const KUBELET_PORT = 10250;
/** RuntimeClass handlers that name the default runtime (containerd's default handler is runc). */
const DEFAULT_HANDLERS = ['sim', 'runc'];

export interface NodeAgentOptions {
  nodeName: string;
  client: RestClient;
  /** The container runtime of pods without a RuntimeClass (default: a SimRuntime with `sim` options). */
  runtime?: Runtime;
  sim?: SimRuntimeOptions;
  /**
   * More runtimes by RuntimeClass handler (`process`: a ProcessRuntime). A pod's
   * spec.runtimeClassName names a RuntimeClass whose handler picks one of these, or the default
   * runtime for the handlers `sim` and `runc`. Each agent needs runtimes of its own.
   */
  runtimes?: Record<string, Runtime>;
  /** A shared informer of RuntimeClasses (many agents in one process); otherwise the agent watches them itself. */
  sharedRuntimeClasses?: Informer<RuntimeClass & KObject>;
  /**
   * The endpoint the API server reaches the agent at for logs (one for many agents in one
   * process); otherwise the agent listens on its node address itself.
   */
  kubeletServer?: KubeletServer;
  /** Node capacity; merged over the defaults (cpu 4, memory 8Gi, pods 110, ephemeral-storage 100Gi, hugepages 0). */
  capacity?: Record<string, string>;
  /**
   * Node allocatable; by default capacity less the kubelet's default hard eviction thresholds
   * (memory.available 100Mi, nodefs.available 10%).
   */
  allocatable?: Record<string, string>;
  /** Extra node labels (kubelet --node-labels). */
  labels?: Record<string, string>;
  /** Taints to register the node with (kubelet --register-with-taints). */
  taints?: Taint[];
  /** The node's address (default 127.0.0.1). */
  hostIP?: string;
  /** Lease duration (default 40 s); the lease is renewed every quarter of it. */
  leaseDurationSeconds?: number;
  leaseRenewIntervalMs?: number;
  /** How often node status is computed (default 10 s) and posted at least (default 5 min). */
  nodeStatusUpdateFrequencyMs?: number;
  nodeStatusReportFrequencyMs?: number;
  /**
   * A shared informer of all pods, for many agents in one process: one watch instead of one per
   * node (the agent adds its `spec.nodeName` index and starts it if nobody did; it never stops it).
   * Without it the agent watches `spec.nodeName=<node>` as the kubelet does.
   */
  sharedPods?: Informer<Pod & KObject>;
  /**
   * A shared informer of all EndpointSlices (many agents in one process); otherwise the agent
   * watches them itself. It tells when a deleted pod is no longer offered to service proxies.
   */
  sharedEndpointSlices?: Informer<EndpointSlice & KObject>;
  /**
   * How long a deleted pod goes on serving after the EndpointSlices show it terminating, for the
   * service proxies to stop sending it new connections (default 1 s; see the top of this file).
   */
  endpointDrainMs?: number;
  /** Events per second to the API and burst (kubelet --event-qps 50, --event-burst 100); more are dropped. */
  eventQPS?: number;
  eventBurst?: number;
}

type PodObject = Pod & KObject;
type NodeObject = Node & KObject;
type SliceObject = EndpointSlice & KObject;

const log = logger('node-agent');
const POD_RESOURCE = RESOURCES.find((r) => r.plural === 'pods')!;
const NODE_RESOURCE = RESOURCES.find((r) => r.plural === 'nodes')!;
const RUNTIMECLASS_RESOURCE = RESOURCES.find((r) => r.plural === 'runtimeclasses')!;
const ENDPOINTSLICE_RESOURCE = RESOURCES.find((r) => r.plural === 'endpointslices')!;
export const NODE_NAME_INDEX = 'spec.nodeName';
/** EndpointSlices by the `namespace/name` of the pods their endpoints refer to. */
const SLICE_POD_INDEX = 'node-agent/endpoint-pods';
const DEFAULT_ENDPOINT_DRAIN_MS = 1000;

/**
 * The agents sharing one pod informer, by node name. One handler per informer routes each pod
 * event to the agents of the pod's old and new node: with a handler per agent, every pod event
 * of a 100-node process called 100 handlers, 99 of them for nothing.
 */
const podRoutes = new WeakMap<Informer<PodObject>, Map<string, NodeAgent>>();

function routePodEvents(pods: Informer<PodObject>, nodeName: string, agent: NodeAgent): void {
  let agents = podRoutes.get(pods);
  if (!agents) {
    const routes = (agents = new Map<string, NodeAgent>());
    podRoutes.set(pods, routes);
    const agentOf = (p: PodObject) => (p.spec?.nodeName ? routes.get(p.spec.nodeName) : undefined);
    pods.addIndex(NODE_NAME_INDEX, (p) => (p.spec?.nodeName ? [p.spec.nodeName] : []));
    pods.on({
      add: (p) => agentOf(p)?.podChanged(p),
      update: (old, p) => {
        const before = agentOf(old), after = agentOf(p);
        before?.podChanged(p);
        if (after !== before) after?.podChanged(p);
      },
      delete: (p) => agentOf(p)?.podChanged(p),
    });
  }
  agents.set(nodeName, agent);
}

function unroutePodEvents(pods: Informer<PodObject>, nodeName: string, agent: NodeAgent): void {
  const agents = podRoutes.get(pods);
  if (agents?.get(nodeName) === agent) agents.delete(nodeName);
}

const NODE_NAME_KEY = Buffer.from('"nodeName":', 'latin1');

/**
 * What node agents sharing one pod informer need of the pods: those bound to a node (the
 * kubelet's own watch selects `spec.nodeName=<node>`). A pod's nodeName never changes once set,
 * so an event whose bytes hold no `"nodeName":` key is of a pod not bound yet, and is dropped
 * unparsed (a third of the pod events, none of which any agent would act on).
 */
export const BOUND_PODS = {
  object: (p: PodObject) => !!p.spec?.nodeName,
  line: (bytes: Buffer) => bytes.indexOf(NODE_NAME_KEY) >= 0,
};

/** The `namespace/name` of the pods a slice's endpoints refer to. */
function endpointPods(slice: SliceObject): string[] {
  const out: string[] = [];
  for (const e of slice.endpoints ?? []) {
    const ref = e.targetRef;
    if (ref?.kind === 'Pod' && ref.name) out.push(`${ref.namespace ?? slice.metadata.namespace}/${ref.name}`);
  }
  return out;
}

/** The last second formatted (pods are synced by the thousand per second). */
let lastSecond = { second: NaN, text: '' };
/** Now in RFC 3339 (whole seconds). */
function rfc3339(): string {
  const second = Math.floor(Date.now() / 1000);
  if (second !== lastSecond.second) lastSecond = { second, text: new Date(second * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z') };
  return lastSecond.text;
}
/** MicroTime, as Leases carry it. */
const microTime = (d = new Date()) => d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

/** Resource versions are opaque to clients in general; kubelite's are revisions, so newer is larger. */
function newerRV(a: string | undefined, b: string | undefined): boolean {
  try {
    return a !== undefined && (b === undefined || BigInt(a) > BigInt(b));
  } catch {
    return false;
  }
}

const DEFAULT_CAPACITY: Record<string, string> = {
  cpu: '4', 'ephemeral-storage': '100Gi', 'hugepages-1Gi': '0', 'hugepages-2Mi': '0', memory: '8Gi', pods: '110',
};

/** A quantity in whole units (bytes), fractions dropped; undefined when it does not parse. */
function wholeUnits(v: string | undefined): bigint | undefined {
  if (v === undefined) return undefined;
  const q = parseQuantity(v);
  if ('error' in q) return undefined;
  return q.scale >= 0 ? q.mantissa * 10n ** BigInt(q.scale) : q.mantissa / 10n ** BigInt(-q.scale);
}

/** capacity − the kubelet's default hard eviction thresholds (memory.available<100Mi, nodefs.available<10%). */
function defaultAllocatable(capacity: Record<string, string>): Record<string, string> {
  const out = { ...capacity };
  const memory = wholeUnits(capacity.memory);
  if (memory !== undefined && memory > 100n * 1024n * 1024n) {
    out.memory = formatQuantity({ mantissa: memory - 100n * 1024n * 1024n, scale: 0, format: 'BinarySI' });
  }
  const disk = wholeUnits(capacity['ephemeral-storage']);
  if (disk !== undefined) out['ephemeral-storage'] = formatQuantity({ mantissa: (disk * 9n) / 10n, scale: 0, format: 'DecimalSI' });
  return out;
}

function readTrimmed(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The host's facts, read once: every simulated node runs on this machine. */
const hostFacts = (() => {
  let cached: { osImage: string; kernelVersion: string; architecture: string; operatingSystem: string; machineID: string; bootID: string } | undefined;
  return () => {
    if (cached) return cached;
    const osRelease = readTrimmed('/etc/os-release') ?? '';
    const pretty = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(osRelease)?.[1];
    const arch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
    cached = {
      osImage: pretty ?? `${os.type()} ${os.release()}`,
      kernelVersion: os.release(),
      architecture: arch[process.arch] ?? process.arch,
      operatingSystem: process.platform === 'win32' ? 'windows' : process.platform,
      machineID: readTrimmed('/etc/machine-id') ?? os.hostname(),
      bootID: readTrimmed('/proc/sys/kernel/random/boot_id') ?? '',
    };
    return cached;
  };
})();

/** A token bucket that drops what exceeds it, as the kubelet's event client does under load. */
class TokenBucket {
  private tokens: number;
  private at = Date.now();
  constructor(private readonly rate: number, private readonly burst: number) {
    this.tokens = burst;
  }
  take(): boolean {
    const t = Date.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.at) / 1000) * this.rate);
    this.at = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** What the agent keeps about a pod it has admitted (the pod worker's state). */
interface PodRecord {
  uid: string;
  /** The runtime running the pod (chosen by its RuntimeClass at admission). */
  runtime: Runtime;
  podIPs: string[];
  /** stop() was called on the runtime. */
  stopping: boolean;
  /** When the pod's containers must have stopped, as last asked of the runtime (ms since epoch). */
  stopDeadline?: number;
  /** A deletion was seen: when its grace period ends (ms since epoch). */
  graceDeadline?: number;
  /** Since when (ms since epoch) no EndpointSlice has offered the deleted pod as ready: its drain. */
  unroutedSince?: number;
  /** An EndpointSlice offered the pod to proxies as serving during its deletion. */
  wasEndpoint: boolean;
  /** The sandbox is gone: its IP has been released. */
  released: boolean;
  deadlineExceeded: boolean;
  deadlineTimer?: NodeJS.Timeout;
}

const NODE_CONDITIONS_OK: Record<string, { reason: string; message: string }> = {
  MemoryPressure: { reason: 'KubeletHasSufficientMemory', message: 'kubelet has sufficient memory available' },
  DiskPressure: { reason: 'KubeletHasNoDiskPressure', message: 'kubelet has no disk pressure' },
  PIDPressure: { reason: 'KubeletHasSufficientPID', message: 'kubelet has sufficient PID available' },
};
/** The events the kubelet records when a pressure condition is (newly) False. */
const NODE_CONDITION_EVENTS: Record<string, string> = {
  MemoryPressure: 'NodeHasSufficientMemory', DiskPressure: 'NodeHasNoDiskPressure', PIDPressure: 'NodeHasSufficientPID',
};
const NETWORK_NOT_READY = 'container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized';

export class NodeAgent implements Reconciler, ContainerLogSource {
  readonly name: string;
  readonly queue: WorkQueue;
  readonly nodeName: string;
  readonly runtime: Runtime;
  /** Runtimes by RuntimeClass handler, the default one included. */
  private readonly runtimes = new Map<string, Runtime>();
  private readonly runtimeClasses: Informer<RuntimeClass & KObject>;
  private readonly slices: Informer<SliceObject>;
  private readonly endpointDrainMs: number;
  /** Deleted pods (keys) that go on serving until proxies stop sending them connections. */
  private readonly draining = new Set<string>();
  /** Pods waiting for their RuntimeClass (or its handler): retried when RuntimeClasses change. */
  private readonly waitingForRuntimeClass = new Set<string>();
  private readonly kubeletServer: KubeletServer;
  private readonly client: RestClient;
  /**
   * Node status and the Lease go through a connection pool of their own (upstream's heartbeat
   * client), so that a flood of pod status writes never delays a heartbeat.
   */
  private readonly heartbeat: RestClient;
  private readonly hostIP: string;
  private readonly capacity: Record<string, string>;
  private readonly allocatable: Record<string, string>;
  private readonly leaseDurationSeconds: number;
  private readonly leaseRenewMs: number;
  private readonly statusUpdateMs: number;
  private readonly statusReportMs: number;
  private readonly pods: Informer<PodObject>;
  private readonly nodes: Informer<NodeObject>;
  private readonly recorder: EventRecorder;
  private readonly eventBucket: TokenBucket;
  private readonly records = new Map<string, PodRecord>();
  /**
   * The status last written per pod UID, with its resourceVersion (the watch may lag behind it):
   * the answer's text, parsed only if the status is read before the watch catches up (rarely).
   */
  private readonly synced = new Map<string, SyncedStatus>();
  /** Pod UIDs this agent has deleted (the watch has not shown them gone yet). */
  private readonly deleted = new Set<string>();
  /** Pods that found no free IP: retried as soon as one is released. */
  private readonly waitingForIP = new Set<string>();
  private ipam?: PodIPAM;
  /** The node as last written by this agent, if newer than the informer's copy. */
  private lastNode?: NodeObject;
  private lastStatusReport = 0;
  private nodeSync?: Promise<void>;
  private nodeSyncAgain = false;
  private lease?: Lease & KObject;
  private leaseTimer?: NodeJS.Timeout;
  private statusTimer?: NodeJS.Timeout;
  private stopped = false;
  private cachedNodeInfo?: NonNullable<NodeStatus['nodeInfo']>;

  constructor(private readonly opts: NodeAgentOptions) {
    this.nodeName = opts.nodeName;
    this.name = `node-agent/${opts.nodeName}`;
    this.queue = new WorkQueue(this.name, { baseMs: 100, maxMs: 30_000 });
    this.client = opts.client;
    this.heartbeat = new RestClient({ ...opts.client.config, userAgent: opts.client.config.userAgent ?? `kubelet/${KUBELET_VERSION} (${this.nodeName})` });
    this.runtime = opts.runtime ?? new SimRuntime(opts.sim);
    for (const h of DEFAULT_HANDLERS) this.runtimes.set(h, this.runtime);
    for (const [h, rt] of Object.entries(opts.runtimes ?? {})) this.runtimes.set(h, rt);
    this.runtimeClasses = opts.sharedRuntimeClasses ?? new Informer<RuntimeClass & KObject>(this.client, RUNTIMECLASS_RESOURCE);
    this.slices = opts.sharedEndpointSlices ?? new Informer<SliceObject>(this.client, ENDPOINTSLICE_RESOURCE);
    this.endpointDrainMs = opts.endpointDrainMs ?? DEFAULT_ENDPOINT_DRAIN_MS;
    this.hostIP = opts.hostIP ?? '127.0.0.1';
    this.kubeletServer = opts.kubeletServer ?? new KubeletServer({ host: this.hostIP, token: this.client.config.token ?? '' });
    // Quantities as the API stores them ("2000" reads back as "2k"), so that status compares equal.
    const canonical = (m: Record<string, string>) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, String(canonicalQuantity(v))]));
    this.capacity = canonical({ ...DEFAULT_CAPACITY, ...opts.capacity });
    this.allocatable = canonical(opts.allocatable ?? defaultAllocatable(this.capacity));
    this.leaseDurationSeconds = opts.leaseDurationSeconds ?? 40;
    this.leaseRenewMs = opts.leaseRenewIntervalMs ?? this.leaseDurationSeconds * 250;
    this.statusUpdateMs = opts.nodeStatusUpdateFrequencyMs ?? 10_000;
    this.statusReportMs = opts.nodeStatusReportFrequencyMs ?? 300_000;
    this.pods = opts.sharedPods ?? new Informer<PodObject>(this.client, POD_RESOURCE, { fieldSelector: `spec.nodeName=${this.nodeName}` });
    this.nodes = new Informer<NodeObject>(this.client, NODE_RESOURCE, { fieldSelector: `metadata.name=${this.nodeName}` });
    this.recorder = new EventRecorder(this.client, { component: 'kubelet', host: this.nodeName });
    this.eventBucket = new TokenBucket(opts.eventQPS ?? 50, opts.eventBurst ?? 100);
  }

  /** The kubelet refers to its node in events with the node name as UID. */
  private get nodeRef(): InvolvedObject {
    return { kind: 'Node', metadata: { name: this.nodeName, uid: this.nodeName } };
  }

  private event(obj: InvolvedObject, type: 'Normal' | 'Warning', reason: string, message: string, fieldPath?: string): void {
    if (this.eventBucket.take()) this.recorder.event(obj, type, reason, message, fieldPath);
  }

  // ---- lifecycle ----------------------------------------------------------------------------

  /** Register the node, sync the caches, start heartbeats; pod workers run once this resolves. */
  async start(): Promise<void> {
    this.event(this.nodeRef, 'Normal', 'Starting', 'Starting kubelet.');
    // The endpoint's port is part of the node's status, so it listens before registration.
    await this.kubeletServer.listen();
    this.kubeletServer.register(this);
    await this.registerNode();
    this.nodes.on({ add: () => this.nodeChanged(), update: () => this.nodeChanged() });
    if (this.opts.sharedPods) routePodEvents(this.pods, this.nodeName, this);
    else {
      // The informer watches this node's pods only (its field selector).
      this.pods.on({ add: (p) => this.podChanged(p), update: (_old, p) => this.podChanged(p), delete: (p) => this.podChanged(p) });
    }
    this.runtimeClasses.on({ add: () => this.runtimeClassesChanged(), update: () => this.runtimeClassesChanged() });
    this.slices.addIndex(SLICE_POD_INDEX, endpointPods);
    const sliceChanged = (s: SliceObject) => {
      if (!this.draining.size) return;
      for (const key of endpointPods(s)) if (this.draining.has(key)) this.queue.add(key);
    };
    this.slices.on({
      add: sliceChanged,
      update: (o, s) => {
        sliceChanged(o);
        sliceChanged(s);
      },
      delete: sliceChanged,
    });
    await Promise.all([this.nodes.start(), this.pods.start(), this.runtimeClasses.start(), this.slices.start()]);
    this.setupIPAM();
    // A shared informer that synced earlier told nobody here about the pods it holds.
    for (const p of this.podsHere()) this.queue.add(keyOf(p));
    this.event(this.nodeRef, 'Normal', 'NodeAllocatableEnforced', 'Updated Node Allocatable limit across pods');
    await this.syncNodeStatus();
    await this.renewLease();
    this.statusTimer = setInterval(() => void this.syncNodeStatus(), this.statusUpdateMs);
    this.statusTimer.unref();
    log.info({ node: this.nodeName, podCIDR: this.ipam?.cidr }, 'node agent started');
  }

  /**
   * A pod on this node (or that was) changed: its worker syncs it. Not for the version this
   * agent's own status write produced (the resourceVersion the write returned): the worker
   * already synced against it, and a runtime change since has queued the pod by itself. (The
   * echo may also arrive before the write's answer; then it is synced, to no effect.)
   */
  podChanged(p: PodObject): void {
    const uid = p.metadata.uid!;
    const own = this.synced.get(uid);
    // Once the watch has caught up with our write, its copy is the one to use: the status kept
    // from the write's answer goes (kept, it was a second copy of every running pod's status).
    if (own && !newerRV(own.rv, p.metadata.resourceVersion)) this.synced.delete(uid);
    if (own && own.rv === p.metadata.resourceVersion) return;
    this.queue.add(keyOf(p));
  }

  /** Stop heartbeats, watches and the runtime, as a kubelet that dies: the node's objects stay as they are. */
  stop(): void {
    this.stopped = true;
    if (this.leaseTimer) clearTimeout(this.leaseTimer);
    if (this.statusTimer) clearInterval(this.statusTimer);
    this.queue.shutDown();
    if (this.opts.sharedPods) unroutePodEvents(this.pods, this.nodeName, this);
    else this.pods.stop();
    this.nodes.stop();
    if (!this.opts.sharedRuntimeClasses) this.runtimeClasses.stop();
    if (!this.opts.sharedEndpointSlices) this.slices.stop();
    for (const r of this.records.values()) if (r.deadlineTimer) clearTimeout(r.deadlineTimer);
    for (const rt of new Set(this.runtimes.values())) rt.close();
    this.kubeletServer.unregister(this);
    if (!this.opts.kubeletServer) this.kubeletServer.close();
    this.heartbeat.close();
  }

  /** Resolves when the events recorded so far have been written. */
  flushEvents(): Promise<void> {
    return this.recorder.flush();
  }

  // ---- node registration and status ---------------------------------------------------------

  private defaultLabels(): Record<string, string> {
    const h = hostFacts();
    return {
      'beta.kubernetes.io/arch': h.architecture,
      'beta.kubernetes.io/os': h.operatingSystem,
      'kubernetes.io/arch': h.architecture,
      'kubernetes.io/hostname': this.nodeName,
      'kubernetes.io/os': h.operatingSystem,
      ...this.opts.labels,
    };
  }

  private nodeInfo(): NonNullable<NodeStatus['nodeInfo']> {
    return (this.cachedNodeInfo ??= this.makeNodeInfo());
  }

  private makeNodeInfo(): NonNullable<NodeStatus['nodeInfo']> {
    const h = hostFacts();
    // Distinct IDs per simulated node, derived from this machine's.
    const id = createHash('sha256').update(`${h.machineID}/${this.nodeName}`).digest('hex');
    return {
      architecture: h.architecture,
      bootID: h.bootID,
      containerRuntimeVersion: `${this.runtime.name}://${this.runtime.version}`,
      kernelVersion: h.kernelVersion,
      kubeProxyVersion: '',
      kubeletVersion: KUBELET_VERSION,
      machineID: id.slice(0, 32),
      operatingSystem: h.operatingSystem,
      osImage: h.osImage,
      systemUUID: `${id.slice(32, 40)}-${id.slice(40, 44)}-${id.slice(44, 48)}-${id.slice(48, 52)}-${id.slice(52, 64)}`,
    };
  }

  /** The node's status as this kubelet sees it now; transitions are kept from `current`. */
  private desiredNodeStatus(current: Node | undefined): NodeStatus {
    const now = rfc3339();
    const old = current?.status?.conditions ?? [];
    const networkReady = !!current?.spec?.podCIDR;
    const wanted: Record<string, { status: string; reason: string; message: string }> = {
      MemoryPressure: { status: 'False', ...NODE_CONDITIONS_OK.MemoryPressure! },
      DiskPressure: { status: 'False', ...NODE_CONDITIONS_OK.DiskPressure! },
      PIDPressure: { status: 'False', ...NODE_CONDITIONS_OK.PIDPressure! },
      // The network plugin (kubenet over the podCIDR) is ready once the node has a podCIDR.
      Ready: networkReady
        ? { status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' }
        : { status: 'False', reason: 'KubeletNotReady', message: NETWORK_NOT_READY },
    };
    const conditions: NodeCondition[] = Object.entries(wanted).map(([type, w]) => {
      const prev = old.find((c) => c.type === type);
      return {
        type, status: w.status, reason: w.reason, message: w.message, lastHeartbeatTime: now,
        lastTransitionTime: prev && prev.status === w.status && prev.lastTransitionTime ? prev.lastTransitionTime : now,
      };
    });
    return {
      capacity: this.capacity,
      allocatable: this.allocatable,
      conditions,
      addresses: [{ type: 'InternalIP', address: this.hostIP }, { type: 'Hostname', address: this.nodeName }],
      daemonEndpoints: { kubeletEndpoint: { Port: this.kubeletServer.port || KUBELET_PORT } },
      nodeInfo: this.nodeInfo(),
    };
  }

  /** registerWithAPIServer: create the Node, or reconcile the labels of the one that exists. */
  private async registerNode(): Promise<void> {
    const labels = this.defaultLabels();
    const annotations = { 'volumes.kubernetes.io/controller-managed-attach-detach': 'true' };
    const node: Node = {
      apiVersion: 'v1', kind: 'Node',
      metadata: { name: this.nodeName, labels, annotations },
      spec: this.opts.taints?.length ? { taints: this.opts.taints } : {},
      status: this.desiredNodeStatus(undefined),
    };
    for (let delay = 100; ; delay = Math.min(delay * 2, 7000)) {
      try {
        this.lastNode = await this.heartbeat.create<NodeObject>('/api/v1/nodes', node);
        this.lastStatusReport = Date.now();
        this.recordNodeConditionEvents([], node.status!.conditions!);
        log.info({ node: this.nodeName }, 'registered node');
        return;
      } catch (e) {
        if (isAlreadyExists(e)) break;
        if (this.stopped) throw e;
        log.warn({ node: this.nodeName, err: (e as Error).message }, 'unable to register node; retrying');
        await new Promise((r) => setTimeout(r, delay));
      }
    }
    const existing = await this.heartbeat.get<NodeObject>(`/api/v1/nodes/${this.nodeName}`);
    const patch: { labels?: Record<string, string>; annotations?: Record<string, string> } = {};
    for (const [k, v] of Object.entries(labels)) if (existing.metadata.labels?.[k] !== v) (patch.labels ??= {})[k] = v;
    for (const [k, v] of Object.entries(annotations)) if (existing.metadata.annotations?.[k] !== v) (patch.annotations ??= {})[k] = v;
    this.lastNode = Object.keys(patch).length
      ? await this.heartbeat.patch<NodeObject>(`/api/v1/nodes/${this.nodeName}`, { metadata: patch }, 'merge')
      : existing;
    log.info({ node: this.nodeName }, 'node was previously registered');
  }

  private podsHere(): PodObject[] {
    return this.opts.sharedPods ? this.pods.byIndex(NODE_NAME_INDEX, this.nodeName) : this.pods.list();
  }

  /** The freshest copy of our Node: the informer's, or what our last write returned. */
  private currentNode(): NodeObject | undefined {
    const cached = this.nodes.get(this.nodeName);
    if (this.lastNode && (!cached || newerRV(this.lastNode.metadata.resourceVersion, cached.metadata.resourceVersion))) return this.lastNode;
    return cached;
  }

  private nodeChanged(): void {
    if (this.stopped) return;
    // The IPAM is set up only once the pod cache can tell which IPs live pods hold.
    if (!this.ipam && this.pods.hasSynced && this.currentNode()?.spec?.podCIDR) {
      this.setupIPAM();
      // Pods waiting for a sandbox can have one now.
      for (const p of this.podsHere()) this.queue.add(keyOf(p));
    }
    void this.syncNodeStatus();
  }

  /** Pod IPs come from the node's podCIDR; live pods keep the IPs the API shows (nothing is persisted). */
  private setupIPAM(): void {
    const cidr = this.currentNode()?.spec?.podCIDR;
    if (this.ipam || !cidr) return;
    try {
      this.ipam = new PodIPAM(cidr);
    } catch (e) {
      log.error({ node: this.nodeName, podCIDR: cidr, err: (e as Error).message }, 'unusable podCIDR');
      return;
    }
    for (const p of this.podsHere()) {
      const phase = p.status?.phase;
      const ip = p.status?.podIP;
      if (!ip || p.spec?.hostNetwork || phase === 'Succeeded' || phase === 'Failed') continue;
      if (!this.ipam.reserve(ip, p.metadata.uid!)) log.warn({ pod: keyOf(p), ip }, 'pod IP outside the podCIDR or taken twice');
    }
  }

  /**
   * Compute node status; post it when something other than heartbeat times changed or the
   * report interval has passed (the Lease is the heartbeat). Calls are serialised.
   */
  private syncNodeStatus(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.nodeSync) {
      this.nodeSyncAgain = true;
      return this.nodeSync;
    }
    this.nodeSync = (async () => {
      do {
        this.nodeSyncAgain = false;
        try {
          await this.trySyncNodeStatus();
        } catch (e) {
          if (!this.stopped) log.warn({ node: this.nodeName, err: (e as Error).message }, 'unable to update node status');
        }
      } while (this.nodeSyncAgain && !this.stopped);
      this.nodeSync = undefined;
    })();
    return this.nodeSync;
  }

  private async trySyncNodeStatus(): Promise<void> {
    const node = this.currentNode();
    if (!node) return;
    const base = (node.status ?? {}) as Record<string, unknown>;
    const wanted = this.desiredNodeStatus(node);
    const desired = { ...base, ...wanted, conditions: mergeConditions(node.status?.conditions, wanted.conditions!) } as Record<string, unknown>;
    const withoutHeartbeats = (s: Record<string, unknown>) => ({
      ...s, conditions: ((s.conditions as NodeCondition[] | undefined) ?? []).map((c) => ({ ...c, lastHeartbeatTime: undefined })),
    });
    const changed = !semanticEqual(withoutHeartbeats(base), withoutHeartbeats(desired));
    if (!changed && Date.now() - this.lastStatusReport < this.statusReportMs) return;
    const updated = await this.heartbeat.patch<NodeObject>(`/api/v1/nodes/${this.nodeName}/status`, { status: statusPatch(base, desired) }, 'strategic');
    this.lastNode = updated;
    this.lastStatusReport = Date.now();
    this.recordNodeConditionEvents(node.status?.conditions ?? [], wanted.conditions!);
  }

  /** Events for conditions that changed, as the kubelet's status setters record them. */
  private recordNodeConditionEvents(before: NodeCondition[], after: NodeCondition[]): void {
    for (const c of after) {
      const prev = before.find((x) => x.type === c.type);
      if (prev && prev.status === c.status) continue;
      // A node that registers not ready yet (no pod network) records only its becoming ready.
      if (!prev && c.type === 'Ready' && c.status !== 'True') continue;
      const reason = c.type === 'Ready' ? (c.status === 'True' ? 'NodeReady' : 'NodeNotReady') : NODE_CONDITION_EVENTS[c.type];
      if (reason) this.event(this.nodeRef, 'Normal', reason, `Node ${this.nodeName} status is now: ${reason}`);
    }
  }

  // ---- lease --------------------------------------------------------------------------------

  /** Renew `kube-node-lease/<node>`; on failure retry sooner with back-off (200 ms doubling to 7 s). */
  private async renewLease(retryMs = 200): Promise<void> {
    if (this.stopped) return;
    let next = this.leaseRenewMs;
    try {
      await this.tryRenewLease();
    } catch (e) {
      this.lease = undefined;
      log.warn({ node: this.nodeName, err: (e as Error).message }, 'failed to renew the node lease');
      next = retryMs;
      retryMs = Math.min(retryMs * 2, 7000);
    }
    if (this.stopped) return;
    this.leaseTimer = setTimeout(() => void this.renewLease(next === this.leaseRenewMs ? 200 : retryMs), next);
    this.leaseTimer.unref();
  }

  private async tryRenewLease(): Promise<void> {
    const path = `/apis/coordination.k8s.io/v1/namespaces/${NODE_LEASE_NAMESPACE}/leases`;
    const node = this.currentNode();
    const owner = node?.metadata.uid ? [{ apiVersion: 'v1', kind: 'Node', name: this.nodeName, uid: node.metadata.uid }] : undefined;
    if (!this.lease) {
      try {
        this.lease = await this.heartbeat.get<Lease & KObject>(`${path}/${this.nodeName}`);
      } catch (e) {
        if (!isNotFound(e)) throw e;
        this.lease = await this.heartbeat.create<Lease & KObject>(path, {
          apiVersion: 'coordination.k8s.io/v1', kind: 'Lease',
          metadata: { name: this.nodeName, namespace: NODE_LEASE_NAMESPACE, ...(owner ? { ownerReferences: owner } : {}) },
          spec: { holderIdentity: this.nodeName, leaseDurationSeconds: this.leaseDurationSeconds, renewTime: microTime() },
        });
        return;
      }
    }
    const lease = this.lease;
    const next = {
      ...lease,
      metadata: { ...lease.metadata, ...(owner && !lease.metadata.ownerReferences?.length ? { ownerReferences: owner } : {}) },
      spec: { ...lease.spec, holderIdentity: this.nodeName, leaseDurationSeconds: this.leaseDurationSeconds, renewTime: microTime() },
    };
    try {
      this.lease = await this.heartbeat.update<Lease & KObject>(`${path}/${this.nodeName}`, next);
    } catch (e) {
      if (isConflict(e) || isNotFound(e)) this.lease = undefined;
      throw e;
    }
  }

  // ---- pods ---------------------------------------------------------------------------------

  private podRef(pod: PodObject): InvolvedObject {
    const m = pod.metadata;
    return { kind: 'Pod', apiVersion: 'v1', metadata: { name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion } };
  }

  private listener(key: string, pod: PodObject): RuntimeListener {
    const ref = this.podRef(pod);
    return {
      changed: () => this.queue.add(key),
      event: (type, reason, message, fieldPath) => this.event(ref, type, reason, message, fieldPath),
    };
  }

  /** The pod's status as the API holds it: the watch's copy, or our last write if that is newer. */
  private currentStatus(pod: PodObject): PodStatus {
    const s = this.synced.get(pod.metadata.uid!);
    if (!s || !newerRV(s.rv, pod.metadata.resourceVersion)) return pod.status ?? {};
    if (s.status === undefined) {
      s.status = answerStatus(s.text!);
      s.text = undefined;
    }
    return s.status;
  }

  /** The pod worker: make the runtime and the API's status of one pod agree with its object. */
  async reconcile(key: string): Promise<void> {
    const pod = this.pods.get(key);
    let rec = this.records.get(key);
    if (rec && (!pod || pod.metadata.uid !== rec.uid)) {
      this.teardown(key, rec);
      rec = undefined;
    }
    if (!pod || pod.spec?.nodeName !== this.nodeName) {
      this.waitingForRuntimeClass.delete(key);
      return;
    }
    const uid = pod.metadata.uid!;
    const deleting = !!pod.metadata.deletionTimestamp;
    if (!rec) {
      const phase = pod.status?.phase;
      if (phase === 'Succeeded' || phase === 'Failed' || deleting) {
        // Nothing of it runs here: it finished before, or was deleted before this agent ran it.
        if (deleting) await this.deletePod(pod);
        return;
      }
      rec = this.admit(key, pod);
      if (!rec) {
        // No sandbox yet (no podCIDR or no free IP): show the pod as being created.
        await this.syncPodStatus(pod, buildPodStatus(pod, this.currentStatus(pod), { hostIP: this.hostIP, podIPs: [], podIsTerminal: false, now: rfc3339() }));
        return;
      }
    }

    const base = this.currentStatus(pod);
    const terminationGrace = (pod.spec?.terminationGracePeriodSeconds ?? 30);
    if (deleting) {
      this.terminate(key, rec, pod, pod.metadata.deletionGracePeriodSeconds ?? terminationGrace);
    } else if (rec.deadlineExceeded && !rec.stopping) {
      this.event(this.podRef(pod), 'Normal', DEADLINE_EXCEEDED_REASON, DEADLINE_EXCEEDED_MESSAGE);
      this.stopContainers(rec, Date.now() + terminationGrace * 1000);
    }
    const rs = rec.runtime.status(uid);
    const status = buildPodStatus(pod, base, {
      hostIP: this.hostIP, podIPs: rec.podIPs, runtime: rs, podIsTerminal: !!rs?.stopped,
      deadlineExceeded: rec.deadlineExceeded, now: rfc3339(),
    });
    if (!rec.stopping && (status.phase === 'Succeeded' || status.phase === 'Failed')) {
      // The pod finished by itself: stop what still runs (sidecars) and tear the sandbox down.
      this.stopContainers(rec, Date.now() + terminationGrace * 1000);
    }
    if (rs?.stopped && !rec.released) {
      rec.released = true;
      this.releaseIP(uid);
    }
    if (!rs?.stopped && isTerminalPhase(status.phase) && !isTerminalPhase(base.phase)) {
      // As the kubelet's status manager: a pod is reported terminal only once none of its
      // containers can still be running; until then it keeps its phase, reason and message.
      status.phase = base.phase;
      status.reason = base.reason;
      status.message = base.message;
      if (status.reason === undefined) delete status.reason;
      if (status.message === undefined) delete status.message;
    }
    await this.syncPodStatus(pod, status);
    // The kubelet deletes a terminating pod once its containers have stopped and its final status is posted.
    if (deleting && rs?.stopped) await this.deletePod(pod);
  }

  /**
   * A pod being deleted. Its grace period runs from when the agent first sees the deletion (a
   * later delete may only shorten it). While a service proxy may still send it new connections it
   * goes on serving, drained; then its containers are stopped with what is left of the grace period.
   */
  private terminate(key: string, rec: PodRecord, pod: PodObject, graceSeconds: number): void {
    const now = Date.now();
    const deadline = now + Math.max(0, graceSeconds) * 1000;
    if (rec.graceDeadline === undefined || deadline < rec.graceDeadline) rec.graceDeadline = deadline;
    if (!rec.stopping) {
      const waitMs = Math.min(this.drainWaitMs(rec, pod, now), rec.graceDeadline - now);
      if (waitMs > 0) {
        this.draining.add(key);
        rec.runtime.drain?.(rec.uid);
        // Slice changes wake the pod earlier (see start()).
        this.queue.addAfter(key, waitMs);
        return;
      }
      this.draining.delete(key);
    }
    this.stopContainers(rec, rec.graceDeadline);
  }

  /**
   * How much longer a deleted pod must go on serving: without end while an EndpointSlice offers it
   * as ready (it is not marked terminating yet), then the drain period. A pod no slice offered
   * as serving during its deletion never had connections sent by a proxy: it stops at once.
   */
  private drainWaitMs(rec: PodRecord, pod: PodObject, now: number): number {
    const offered = this.endpointState(pod);
    if (offered === 'ready') {
      rec.wasEndpoint = true;
      rec.unroutedSince = undefined;
      return Infinity;
    }
    if (offered === 'serving') rec.wasEndpoint = true;
    if (!rec.wasEndpoint) return 0;
    rec.unroutedSince ??= now;
    return rec.unroutedSince + this.endpointDrainMs - now;
  }

  /**
   * How the EndpointSlices offer a pod to service proxies: `ready` while some endpoint of it is
   * ready and not terminating (the endpoint controller has not acted on the deletion yet);
   * `serving` while one is still serving (proxies use those only when no endpoint is ready);
   * otherwise `none`.
   */
  private endpointState(pod: PodObject): 'ready' | 'serving' | 'none' {
    const { namespace, name, uid } = pod.metadata;
    let state: 'serving' | 'none' = 'none';
    for (const slice of this.slices.byIndex(SLICE_POD_INDEX, keyOf(pod))) {
      for (const e of slice.endpoints ?? []) {
        const ref = e.targetRef;
        if (ref?.kind !== 'Pod' || ref.name !== name || (ref.namespace ?? slice.metadata.namespace) !== namespace) continue;
        if (ref.uid && ref.uid !== uid) continue; // an earlier pod of the same name
        const ready = e.conditions?.ready !== false;
        if (ready && !e.conditions?.terminating) return 'ready';
        if (e.conditions?.serving ?? ready) state = 'serving';
      }
    }
    return state;
  }

  /** Ask the runtime to stop the pod's containers by `deadline`; a later call may only bring it forward. */
  private stopContainers(rec: PodRecord, deadline: number): void {
    rec.stopping = true;
    if (rec.stopDeadline !== undefined && rec.stopDeadline <= deadline) return;
    rec.stopDeadline = deadline;
    void rec.runtime.stop(rec.uid, Math.max(0, deadline - Date.now()) / 1000);
  }

  /** Admission: a sandbox (IPs) and the runtime's start. Undefined when there is no IP to give yet. */
  private admit(key: string, pod: PodObject): PodRecord | undefined {
    const uid = pod.metadata.uid!;
    const runtime = this.runtimeFor(pod);
    if (typeof runtime === 'string') {
      this.event(this.podRef(pod), 'Warning', 'FailedCreatePodSandBox', `Failed to create pod sandbox: ${runtime}`);
      this.waitingForRuntimeClass.add(key);
      this.queue.addAfter(key, 10_000);
      return undefined;
    }
    this.waitingForRuntimeClass.delete(key);
    let podIPs: string[];
    if (pod.spec?.hostNetwork) podIPs = [this.hostIP];
    else {
      if (!this.ipam) return undefined;
      try {
        podIPs = [this.ipam.allocate(uid)];
      } catch (e) {
        if (!(e instanceof IPAMExhaustedError)) throw e;
        this.event(this.podRef(pod), 'Warning', 'FailedCreatePodSandBox',
          `Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox: plugin type="host-local" failed (add): ${e.message}`);
        this.waitingForIP.add(key);
        this.queue.addAfter(key, 10_000);
        return undefined;
      }
    }
    const rec: PodRecord = { uid, runtime, podIPs, stopping: false, wasEndpoint: false, released: !!pod.spec?.hostNetwork, deadlineExceeded: false };
    this.records.set(key, rec);
    runtime.start(pod, { podIPs, hostIP: this.hostIP }, this.listener(key, pod));
    const deadline = pod.spec?.activeDeadlineSeconds;
    if (deadline !== undefined) {
      const started = Date.parse(pod.status?.startTime ?? '') || Date.now();
      rec.deadlineTimer = setTimeout(() => {
        rec.deadlineExceeded = true;
        this.queue.add(key);
      }, Math.max(0, started + deadline * 1000 - Date.now()));
      rec.deadlineTimer.unref();
    }
    return rec;
  }

  /**
   * The runtime of a pod, by its RuntimeClass's handler (the kubelet's RuntimeClass manager and
   * the CRI runtime's handler lookup), or why there is none, in their words.
   */
  private runtimeFor(pod: PodObject): Runtime | string {
    const name = pod.spec?.runtimeClassName;
    if (!name) return this.runtime;
    const rc = this.runtimeClasses.get(name);
    if (!rc) return `runtimeclass.node.k8s.io "${name}" not found`;
    return this.runtimes.get(rc.handler)
      ?? `rpc error: code = Unknown desc = failed to get sandbox runtime: no runtime for "${rc.handler}" is configured`;
  }

  private runtimeClassesChanged(): void {
    for (const key of this.waitingForRuntimeClass) this.queue.add(key);
  }

  private releaseIP(uid: string): void {
    if (!this.ipam?.ipOf(uid)) return;
    this.ipam.release(uid);
    for (const key of this.waitingForIP) this.queue.add(key);
    this.waitingForIP.clear();
  }

  /** The pod's object is gone (or was replaced by one with another UID): forget it here. */
  private teardown(key: string, rec: PodRecord): void {
    if (rec.deadlineTimer) clearTimeout(rec.deadlineTimer);
    rec.runtime.remove(rec.uid);
    this.releaseIP(rec.uid);
    this.records.delete(key);
    this.waitingForRuntimeClass.delete(key);
    this.draining.delete(key);
    this.synced.delete(rec.uid);
    this.deleted.delete(rec.uid);
  }

  // ---- logs ---------------------------------------------------------------------------------

  /**
   * GetKubeletContainerLogs: the container must be in the pod's spec; which instance's log is
   * read follows from its status (validateContainerLogStatus). A runtime without logs (the
   * simulated one) gives an empty log.
   */
  containerLogs(namespace: string, podName: string, container: string, opts: PodLogRequest): LogWriter | undefined {
    const key = `${namespace}/${podName}`;
    const pod = this.pods.get(key);
    if (!pod || pod.spec?.nodeName !== this.nodeName) return undefined;
    const spec = pod.spec;
    const names = [...(spec.initContainers ?? []), ...spec.containers, ...(spec.ephemeralContainers ?? [])].map((c) => c.name);
    if (!names.includes(container)) throw new LogRequestError(404, `container "${container}" not found in pod "${podName}"`);
    const rec = this.records.get(key);
    const rs = rec && rec.uid === pod.metadata.uid ? rec.runtime.status(rec.uid) : undefined;
    const status = rs ?? this.currentStatus(pod);
    const containerID = logContainerID(podName, [...(status.containerStatuses ?? []), ...(status.initContainerStatuses ?? [])], container, opts.previous);
    const runtime = rs ? rec!.runtime : undefined;
    if (!runtime?.logs) return async () => {};
    return (out, signal) => runtime.logs!(rec!.uid, containerID, opts, out, signal);
  }

  /** Patch the pod's status subresource with what changed (uid as a precondition), as the status manager does. */
  private async syncPodStatus(pod: PodObject, desired: PodStatus): Promise<void> {
    const uid = pod.metadata.uid!;
    const base = this.currentStatus(pod);
    const patch = statusPatch(base as Record<string, unknown>, desired as Record<string, unknown>);
    if (!Object.keys(patch).some((k) => !k.startsWith('$setElementOrder/'))) return;
    const { namespace, name } = splitKey(keyOf(pod));
    try {
      // Only the answer's resourceVersion and UID are read at once (from its text, not parsed);
      // its status is parsed only if read before the watch shows this write.
      const updated = await this.client.patch<AnswerMeta>(`/api/v1/namespaces/${namespace}/pods/${name}/status`, { metadata: { uid }, status: patch }, 'strategic', undefined, { metadataOnly: true });
      const rv = updated.metadata.resourceVersion!;
      // Kept only while the watch lags behind the write (its echo may have come first).
      const cached = this.pods.get(keyOf(pod));
      const watchCaughtUp = cached?.metadata.uid === uid && !newerRV(rv, cached.metadata.resourceVersion);
      if (watchCaughtUp) this.synced.delete(uid);
      else if (updated.metadata.uid === uid) this.synced.set(uid, { rv, status: undefined, text: updated.text });
    } catch (e) {
      // A pod deleted meanwhile is handled when the watch shows it gone.
      if (!isNotFound(e)) throw e;
    }
  }

  /** Delete with grace 0 and the UID as a precondition: never a newer pod of the same name. */
  private async deletePod(pod: PodObject): Promise<void> {
    const uid = pod.metadata.uid!;
    if (this.deleted.has(uid)) return;
    const { namespace, name } = splitKey(keyOf(pod));
    try {
      await this.client.delete(`/api/v1/namespaces/${namespace}/pods/${name}`, {
        apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0, preconditions: { uid },
      });
      this.deleted.add(uid);
    } catch (e) {
      if (!isNotFound(e) && !isConflict(e)) throw e;
    }
  }
}

/**
 * validateContainerLogStatus (pkg/kubelet/kubelet_pods.go): the container ID whose log to read
 * (the previous instance's for `previous`), or the kubelet's explanation, for a 400.
 */
function logContainerID(podName: string, statuses: ContainerStatus[], container: string, previous: boolean): string {
  const s = statuses.find((x) => x.name === container);
  const fail = (why: string): never => {
    throw new LogRequestError(400, `container "${container}" in pod "${podName}" ${why}`);
  };
  if (!s) return fail('is not available');
  const last = s.lastState?.terminated;
  const { waiting, running, terminated } = s.state ?? {};
  if (previous) {
    if (!last?.containerID) throw new LogRequestError(400, `previous terminated container "${container}" in pod "${podName}" not found`);
    return last.containerID;
  }
  if (running) return s.containerID ?? fail('is waiting to start - no logs yet');
  if (terminated) {
    // A container that did not start again has no ID of its own: the last one's log is shown.
    if (terminated.containerID) return terminated.containerID;
    return last?.containerID ?? fail('is terminated');
  }
  if (last) return last.containerID ?? fail('is terminated');
  if (waiting) {
    if (waiting.reason === 'ErrImagePull') return fail("is waiting to start: image can't be pulled");
    if (waiting.reason === 'ImagePullBackOff') return fail('is waiting to start: trying and failing to pull image');
    return fail(`is waiting to start: ${waiting.reason ?? ''}`);
  }
  return fail('is waiting to start - no logs yet');
}

/** A pod status this agent wrote: its answer's text until the status is read from it. */
interface SyncedStatus {
  rv: string;
  status: PodStatus | undefined;
  text: string | undefined;
}

/** The status of a status write's answer (a pod's JSON). */
function answerStatus(text: string): PodStatus {
  try {
    return (JSON.parse(text) as PodObject).status ?? {};
  } catch {
    return {};
  }
}

/** Desired conditions merged into the existing list by type (others, e.g. NetworkUnavailable, stay). */
function mergeConditions(existing: NodeCondition[] | undefined, desired: NodeCondition[]): NodeCondition[] {
  const out = [...(existing ?? [])];
  for (const c of desired) {
    const i = out.findIndex((x) => x.type === c.type);
    if (i >= 0) out[i] = c;
    else out.push(c);
  }
  return out;
}
