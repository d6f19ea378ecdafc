// kubelite's scheduler: kube-scheduler's default profile (1.32) on kubelite's informers. Pending
// pods whose schedulerName is default-scheduler (or empty) are taken from a priority queue one at
// a time; each is filtered and scored against every node from the in-memory cache (no API calls),
// counted on the chosen node at once ("assumed"), and bound through pods/binding while the next pod
// is already being placed — several bindings in flight. A pod that fits nowhere gets upstream's
// FailedScheduling event and PodScheduled=False condition, and waits until a node or pod change
// could help it (with back-off, and at least every 5 minutes); lower-priority pods are preempted
// for it where that makes room.
import { isDeepStrictEqual } from 'node:util';
import type { Node, Pod, PodCondition, Service } from 'kubernetes-types/core/v1.js';
import type { ReplicaSet } from 'kubernetes-types/apps/v1.js';
import type { KObject } from '../api/types.js';
import type { ControllerContext } from '../client/factory.js';
import type { EventRecorder, InvolvedObject } from '../client/events.js';
import type { Informer } from '../client/informer.js';
import { isNotFound, type RestClient } from '../client/rest.js';
import { logger } from '../util/log.js';
import { NodeInfo, podKeyOf, SchedulerCache, type PodRecord } from './cache.js';
import { ERR_AFFINITY_CONFLICT, filterNode, podContext, type NodeStatus, type PodContext } from './filters.js';
import { fitErrorMessage, newDiagnosis, NO_NODES_AVAILABLE, truncateMessage } from './fit-error.js';
import { preempt, type PreemptionCandidate } from './preemption.js';
import { SchedulingQueue, type ClusterEvent, type QueuedPodInfo } from './queue.js';
import { scoreNodes, selectHost } from './scores.js';
import { SpreadingCache } from './spread.js';

type PodObject = Pod & KObject;
type NodeObject = Node & KObject;

export const DEFAULT_SCHEDULER_NAME = 'default-scheduler';

/** Upstream's minFeasibleNodesToFind and minFeasibleNodesPercentageToFind. */
const MIN_FEASIBLE_NODES_TO_FIND = 100;
const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5;
/** Longest stretch of scheduling before letting watch events and binding answers in. */
const BATCH_MS = 10;
const DEFAULT_MAX_BINDINGS_IN_FLIGHT = 256;
const GROUP_PRUNE_INTERVAL_MS = 60_000;
const GROUP_UNUSED_MS = 10 * 60_000;

const log = logger('scheduler');

export interface SchedulerOptions {
  /** Bindings posted and not yet answered at most; scheduling pauses beyond (default 256). */
  maxBindingsInFlight?: number;
  /** Tie-breaking between equally good nodes (default Math.random). */
  random?: () => number;
}

export interface SchedulerStats {
  scheduled: number;
  bindingsInFlight: number;
  queue: Record<string, number>;
}

function isTerminal(pod: Pod): boolean {
  const phase = pod.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}

function eventTarget(pod: Pod): InvolvedObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: pod.metadata as InvolvedObject['metadata'] };
}

function podPath(pod: Pod): string {
  return `/api/v1/namespaces/${pod.metadata?.namespace}/pods/${pod.metadata?.name}`;
}

function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** percentageOfNodesToScore's adaptive default: all of up to 100 nodes, then 50% minus 1% per 125 nodes, at least 5%. */
export function numFeasibleNodesToFind(numAllNodes: number): number {
  if (numAllNodes < MIN_FEASIBLE_NODES_TO_FIND) return numAllNodes;
  const percentage = Math.max(MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND, 50 - Math.trunc(numAllNodes / 125));
  return Math.max(MIN_FEASIBLE_NODES_TO_FIND, Math.trunc((numAllNodes * percentage) / 100));
}

export class Scheduler {
  readonly name = 'scheduler';
  private readonly client: RestClient;
  private readonly recorder: EventRecorder;
  private readonly pods: Informer<PodObject>;
  private readonly nodes: Informer<NodeObject>;
  private readonly services: Informer<Service & KObject>;
  private readonly replicaSets: Informer<ReplicaSet & KObject>;
  private readonly cache = new SchedulerCache();
  private readonly queue: SchedulingQueue;
  private readonly spreading: SpreadingCache;
  /** Pods nominated to a node by preemption: node → pod key → record. */
  private readonly nominated = new Map<string, Map<string, PodRecord>>();
  private readonly nominatedNodeOf = new Map<string, string>();
  private readonly maxInFlight: number;
  private readonly random: () => number;
  private nextStartNodeIndex = 0;
  private inFlight = 0;
  private scheduled = 0;
  private pumpScheduled = false;
  private running = false;
  private stopped = false;
  private pruneTimer?: NodeJS.Timeout;

  constructor(ctx: ControllerContext, opts: SchedulerOptions = {}) {
    this.client = ctx.client;
    this.recorder = ctx.recorder({ component: DEFAULT_SCHEDULER_NAME });
    this.pods = ctx.informers.informer<PodObject>('pods');
    this.nodes = ctx.informers.informer<NodeObject>('nodes');
    this.services = ctx.informers.informer<Service & KObject>('services');
    this.replicaSets = ctx.informers.informer<ReplicaSet & KObject>('replicasets');
    this.maxInFlight = opts.maxBindingsInFlight ?? DEFAULT_MAX_BINDINGS_IN_FLIGHT;
    this.random = opts.random ?? Math.random;
    this.queue = new SchedulingQueue(() => this.pump());
    this.spreading = new SpreadingCache(this.cache, {
      servicesIn: (ns) => this.services.list(ns),
      replicaSet: (ns, name) => this.replicaSets.get(`${ns}/${name}`),
    });
  }

  /** Register with the informers, wait for their caches, then schedule until stop(). */
  async start(): Promise<void> {
    this.nodes.on({
      add: (n) => this.onNode(n),
      update: (_old, n) => this.onNode(n),
      delete: (n) => {
        if (!this.stopped) this.cache.removeNode(n.metadata.name!);
      },
    });
    // Which pods spread together depends on services' selectors and on ReplicaSets (their selectors are immutable).
    const invalidate = () => this.spreading.invalidate();
    this.services.on({
      add: invalidate,
      update: (old, svc) => {
        if (!isDeepStrictEqual(old.spec?.selector, svc.spec?.selector)) invalidate();
      },
      delete: invalidate,
    });
    this.replicaSets.on({ add: invalidate, delete: invalidate });
    this.pods.on({
      add: (p) => this.onPod(p),
      update: (_old, p) => this.onPod(p),
      delete: (p) => this.onPodGone(p),
    });
    await Promise.all([this.nodes.start(), this.pods.start(), this.services.start(), this.replicaSets.start()]);
    // Shared informers may have listed before these handlers were registered: take in what they hold.
    for (const n of this.nodes.list()) this.onNode(n);
    for (const p of this.pods.list()) this.onPod(p);
    this.pruneTimer = setInterval(() => this.cache.pruneGroups(GROUP_UNUSED_MS), GROUP_PRUNE_INTERVAL_MS);
    this.pruneTimer.unref();
    this.running = true;
    log.info({ nodes: this.cache.nodes.length, pending: this.queue.counts().active }, 'scheduler started');
    this.pump();
  }

  stop(): void {
    this.running = false;
    this.stopped = true;
    this.queue.close();
    if (this.pruneTimer) clearInterval(this.pruneTimer);
  }

  stats(): SchedulerStats {
    return { scheduled: this.scheduled, bindingsInFlight: this.inFlight, queue: this.queue.counts() };
  }

  // --- informer events ---------------------------------------------------------------------

  private responsibleFor(pod: Pod): boolean {
    const name = pod.spec?.schedulerName ?? '';
    return name === '' || name === DEFAULT_SCHEDULER_NAME;
  }

  private onNode(node: NodeObject): void {
    if (this.stopped) return;
    const before = this.cache.node(node.metadata.name!);
    const prev = before && {
      labels: JSON.stringify(before.labels),
      taints: JSON.stringify(before.taints) + before.unschedulable,
      allocatable: JSON.stringify([before.allocatable, [...(before.allocatable.scalars ?? [])], before.allowedPodNumber]),
    };
    const ni = this.cache.setNode(node);
    if (!prev) return this.queue.moveAllOnEvent('NodeAdd');
    const events: ClusterEvent[] = [];
    if (prev.labels !== JSON.stringify(ni.labels)) events.push('NodeLabelChange');
    if (prev.taints !== JSON.stringify(ni.taints) + ni.unschedulable) events.push('NodeTaintChange');
    if (prev.allocatable !== JSON.stringify([ni.allocatable, [...(ni.allocatable.scalars ?? [])], ni.allowedPodNumber])) events.push('NodeAllocatableChange');
    for (const e of events) this.queue.moveAllOnEvent(e);
  }

  private onPod(pod: PodObject): void {
    if (this.stopped) return;
    if (isTerminal(pod)) return this.onPodGone(pod);
    const key = podKeyOf(pod);
    if (pod.spec?.nodeName) {
      // Bound (by this scheduler or anyone): it counts on its node and is no longer pending.
      this.queue.delete(key);
      this.removeNominated(key);
      const known = this.cache.pod(key);
      const labelsBefore = known && !known.assumed ? known.labels : undefined;
      this.cache.setPod(pod);
      if (!known) this.queue.moveAllOnEvent('AssignedPodAdd');
      else if (labelsBefore && labelsBefore !== this.cache.pod(key)?.labels) this.queue.moveAllOnEvent('AssignedPodUpdate');
      return;
    }
    if (!this.responsibleFor(pod)) return;
    if (pod.metadata.deletionTimestamp) {
      this.queue.delete(key);
      this.removeNominated(key);
      return;
    }
    if (this.cache.pod(key)?.assumed) {
      // Our binding is in flight; the informer shows an older, unbound copy.
      const info = this.queue.get(key);
      if (info) info.pod = pod;
      return;
    }
    this.queue.addOrUpdate(pod);
    const nominatedNode = pod.status?.nominatedNodeName;
    if (nominatedNode && this.nominatedNodeOf.get(key) !== nominatedNode) this.setNominated(pod, nominatedNode);
    else if (!nominatedNode) this.removeNominated(key);
  }

  private onPodGone(pod: PodObject): void {
    if (this.stopped) return;
    const key = podKeyOf(pod);
    this.queue.delete(key);
    this.removeNominated(key);
    if (this.cache.removePod(key)) this.queue.moveAllOnEvent('AssignedPodDelete');
  }

  // --- the scheduling loop -----------------------------------------------------------------

  private pump(): void {
    if (!this.running || this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => this.runBatch());
  }

  private runBatch(): void {
    this.pumpScheduled = false;
    if (!this.running) return;
    const deadline = performance.now() + BATCH_MS;
    while (this.inFlight < this.maxInFlight) {
      const info = this.queue.pop();
      if (!info) return;
      try {
        this.scheduleOne(info);
      } catch (e) {
        log.error({ pod: info.key, err: (e as Error).stack }, 'scheduling failed');
        this.queue.requeue(info, { error: true, plugins: new Set() });
      }
      if (performance.now() >= deadline) return this.pump();
    }
  }

  /** One scheduling cycle: filter, score, assume, and start the binding. */
  private scheduleOne(info: QueuedPodInfo): void {
    const pod = info.pod as PodObject;
    if (pod.metadata.deletionTimestamp || pod.spec?.nodeName || this.cache.pod(info.key)) {
      this.queue.done(info.key);
      return;
    }
    const nodes = this.cache.nodes;
    if (nodes.length === 0) {
      this.fail(info, NO_NODES_AVAILABLE, { reason: 'Unschedulable', plugins: new Set() });
      return;
    }
    const ctx = podContext(pod, this.cache, this.spreading);
    const diagnosis = newDiagnosis(nodes.length);
    let candidates: readonly NodeInfo[] = nodes;
    if (ctx.nodeNames === 'conflict') {
      // NodeAffinity's PreFilter rejects the pod on every node at once.
      diagnosis.preFilterMsg = ERR_AFFINITY_CONFLICT;
      diagnosis.absent = { code: 'UnschedulableAndUnresolvable', reasons: [ERR_AFFINITY_CONFLICT], plugin: 'NodeAffinity' };
      diagnosis.plugins.add('NodeAffinity');
      candidates = [];
    } else if (ctx.nodeNames) {
      const names = ctx.nodeNames;
      candidates = nodes.filter((n) => names.has(n.name));
      diagnosis.absent = { code: 'UnschedulableAndUnresolvable', reasons: ["node(s) didn't satisfy plugin(s) [NodeAffinity]"], plugin: 'NodeAffinity' };
      diagnosis.plugins.add('NodeAffinity');
    }

    const feasible: NodeInfo[] = [];
    // A node nominated by an earlier preemption is tried first: it is likely the only fit.
    const nominatedNode = pod.status?.nominatedNodeName ? this.cache.node(pod.status.nominatedNodeName) : undefined;
    if (nominatedNode && candidates.includes(nominatedNode) && !this.filter(ctx, nominatedNode)) feasible.push(nominatedNode);
    if (feasible.length === 0 && candidates.length) {
      const n = candidates.length;
      const toFind = numFeasibleNodesToFind(n);
      const start = this.nextStartNodeIndex % n;
      let processed = 0;
      for (let i = 0; i < n; i++) {
        const node = candidates[(start + i) % n]!;
        processed++;
        const status = this.filter(ctx, node);
        if (status) {
          diagnosis.statuses.set(node.name, status);
          diagnosis.plugins.add(status.plugin);
        } else {
          feasible.push(node);
          if (feasible.length >= toFind) break;
        }
      }
      this.nextStartNodeIndex = (start + processed) % n;
    }

    if (feasible.length === 0) {
      const result = preempt(ctx, diagnosis, nodes, (node) => this.filter(ctx, node));
      if (result.candidate) this.preemptFor(pod, result.candidate);
      this.fail(info, fitErrorMessage(diagnosis, result.message), {
        reason: 'Unschedulable', plugins: diagnosis.plugins, nominatedNode: result.candidate?.node.name ?? '',
      });
      return;
    }
    const chosen = feasible.length === 1 ? feasible[0]! : feasible[selectHost(scoreNodes(ctx, feasible, nodes, (key) => this.cache.labelled(key)), this.random)]!;
    this.assumeAndBind(info, ctx, chosen.name);
  }

  /** The filters, with the pods nominated to the node counted when they are at least as important. */
  private filter(ctx: PodContext, node: NodeInfo): NodeStatus | undefined {
    const nominated = this.nominated.get(node.name);
    if (!nominated?.size) return filterNode(ctx, node);
    const added: PodRecord[] = [];
    for (const r of nominated.values()) {
      if (r.key !== ctx.key && r.priority >= ctx.priority) {
        node.addPod(r, 1);
        added.push(r);
      }
    }
    try {
      return filterNode(ctx, node);
    } finally {
      for (const r of added) node.addPod(r, -1);
    }
  }

  private assumeAndBind(info: QueuedPodInfo, ctx: PodContext, nodeName: string): void {
    const pod = ctx.pod as PodObject;
    this.cache.assume(pod, nodeName, ctx);
    this.removeNominated(info.key);
    this.inFlight++;
    const { name, namespace, uid } = pod.metadata;
    const binding = { apiVersion: 'v1', kind: 'Binding', metadata: { name, namespace, uid }, target: { apiVersion: 'v1', kind: 'Node', name: nodeName } };
    // The answer is a Status nobody reads: not decoded.
    this.client.request('POST', `${podPath(pod)}/binding`, { body: binding, ignoreResult: true }).then(
      () => {
        this.scheduled++;
        this.queue.done(info.key);
        this.recorder.event(eventTarget(pod), 'Normal', 'Scheduled', `Successfully assigned ${namespace}/${name} to ${nodeName}`);
      },
      (e: Error) => {
        log.debug({ pod: info.key, node: nodeName, err: e.message }, 'binding failed');
        this.cache.forget(info.key);
        // The resources it held are free again for pods that did not fit.
        this.queue.moveAllOnEvent('AssignedPodDelete');
        if (!this.stopped) this.fail(info, e.message, { reason: 'SchedulerError', plugins: new Set(), error: true });
      },
    ).finally(() => {
      this.inFlight--;
      this.pump();
    });
  }

  /**
   * The attempt failed (upstream's handleSchedulingFailure): back to the queue, a FailedScheduling
   * event, and the PodScheduled condition (with the nominated node, if preemption chose one).
   */
  private fail(info: QueuedPodInfo, message: string, opts: { reason: 'Unschedulable' | 'SchedulerError'; plugins: Set<string>; error?: boolean; nominatedNode?: string }): void {
    const current = this.pods.get(info.key);
    if (!current || current.metadata.uid !== info.pod.metadata?.uid) {
      this.queue.done(info.key);
      return;
    }
    if (current.spec?.nodeName) {
      this.queue.done(info.key);
      return;
    }
    info.pod = current;
    this.queue.requeue(info, { error: !!opts.error, plugins: opts.plugins });
    this.recorder.event(eventTarget(current), 'Warning', 'FailedScheduling', truncateMessage(message));
    this.updatePodScheduled(current, opts.reason, message, opts.nominatedNode);
  }

  /** PodScheduled=False with the reason and message, through the status subresource, only when it changes. */
  private updatePodScheduled(pod: PodObject, reason: string, message: string, nominatedNode: string | undefined): void {
    const old = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
    const nominatedChanged = nominatedNode !== undefined && (pod.status?.nominatedNodeName ?? '') !== nominatedNode;
    if (old && old.status === 'False' && old.reason === reason && old.message === message && !nominatedChanged) return;
    const condition: PodCondition = {
      type: 'PodScheduled', status: 'False', reason, message,
      lastProbeTime: null as unknown as string,
      lastTransitionTime: old?.status === 'False' && old.lastTransitionTime ? old.lastTransitionTime : rfc3339(new Date()),
    };
    const status: Record<string, unknown> = { conditions: [condition] };
    if (nominatedChanged) status.nominatedNodeName = nominatedNode || null;
    this.client.patch(`${podPath(pod)}/status`, { status }, 'strategic').catch((e: Error) => {
      if (!isNotFound(e)) log.warn({ pod: podKeyOf(pod), err: e.message }, 'could not update the PodScheduled condition');
    });
  }

  // --- preemption ----------------------------------------------------------------------------

  /** Evict the victims (DisruptionTarget condition, then delete) and nominate the node for the preemptor. */
  private preemptFor(preemptor: PodObject, c: PreemptionCandidate): void {
    const now = rfc3339(new Date());
    for (const victim of c.victims) {
      const path = podPath(victim.pod);
      const condition = {
        type: 'DisruptionTarget', status: 'True', reason: 'PreemptionByScheduler',
        message: `${DEFAULT_SCHEDULER_NAME}: preempting to accommodate a higher priority pod`, lastTransitionTime: now,
      };
      this.client.patch(`${path}/status`, { status: { conditions: [condition] } }, 'strategic')
        .then(() => this.client.delete(path))
        .catch((e: Error) => {
          if (!isNotFound(e)) log.warn({ victim: victim.key, err: e.message }, 'could not preempt pod');
        });
      this.recorder.event(eventTarget(victim.pod), 'Normal', 'Preempted', `Preempted by pod ${preemptor.metadata.uid} on node ${c.node.name}`);
    }
    // Lower-priority pods nominated to this node may no longer fit there.
    const priority = preemptor.spec?.priority ?? 0;
    for (const r of [...(this.nominated.get(c.node.name)?.values() ?? [])]) {
      if (r.priority >= priority) continue;
      this.removeNominated(r.key);
      this.client.patch(`${podPath(r.pod)}/status`, { status: { nominatedNodeName: null } }, 'strategic').catch(() => undefined);
    }
    this.setNominated(preemptor, c.node.name);
  }

  private setNominated(pod: Pod, nodeName: string): void {
    const key = podKeyOf(pod);
    this.removeNominated(key);
    let onNode = this.nominated.get(nodeName);
    if (!onNode) this.nominated.set(nodeName, (onNode = new Map()));
    onNode.set(key, this.cache.makeRecord(pod, nodeName, false));
    this.nominatedNodeOf.set(key, nodeName);
  }

  private removeNominated(key: string): void {
    const node = this.nominatedNodeOf.get(key);
    if (node === undefined) return;
    this.nominatedNodeOf.delete(key);
    const onNode = this.nominated.get(node);
    onNode?.delete(key);
    if (onNode?.size === 0) this.nominated.delete(node);
  }
}
