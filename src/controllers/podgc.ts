// Pod garbage collection, after kube-controller-manager's pod-garbage-collector
// (pkg/controller/podgc/gc_controller.go, v1.32). Every 20 s:
//  - terminated pods beyond --terminated-pod-gc-threshold (12500) are deleted, oldest first;
//  - terminating pods on a node that is not ready and carries the
//    `node.kubernetes.io/out-of-service` taint are force-deleted;
//  - pods bound to a node that no longer exists (after a 40 s quarantine and a direct GET) are
//    marked Failed with DisruptionTarget (DeletionByPodGC) and force-deleted;
//  - terminating pods that were never scheduled are force-deleted.
// A pod evicted from an unreachable node therefore stays Terminating until its kubelet returns,
// the node object is deleted, or the node is tainted out-of-service — as upstream.
import type { Node, Pod, PodCondition } from 'kubernetes-types/core/v1.js';
import type { ControllerContext } from '../client/factory.js';
import { keyOf, type Informer } from '../client/informer.js';
import type { Reconciler } from '../client/controller.js';
import { WorkQueue } from '../client/workqueue.js';
import { isNotFound } from '../client/rest.js';
import type { KObject } from '../api/types.js';
import { logger } from '../util/log.js';
import { TAINT_NODE_OUT_OF_SERVICE } from './taints.js';

export interface PodGCOptions {
  /** --terminated-pod-gc-threshold (12500; 0 disables that part). */
  terminatedPodThreshold?: number;
  /** How often the passes run (20 s). */
  gcCheckPeriodMs?: number;
  /** How long a node must stay missing before its pods count as orphaned (40 s). */
  quarantineMs?: number;
}

type NodeObject = Node & KObject;
type PodObject = Pod & KObject;

const log = logger('pod-garbage-collector');
const GC_KEY = 'gc';

const isTerminated = (p: Pod) => p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';
const isNodeReady = (n: Node) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
const isEvicted = (p: Pod) => p.status?.phase === 'Failed' && p.status.reason === 'Evicted';

export class PodGCController implements Reconciler {
  readonly name = 'pod-garbage-collector';
  readonly queue = new WorkQueue(this.name);
  private readonly nodes: Informer<NodeObject>;
  private readonly pods: Informer<PodObject>;
  private readonly opts: Required<PodGCOptions>;
  /** Node names pods point at but the cache lacks, with when that was first seen. */
  private readonly missingSince = new Map<string, number>();
  private timer?: NodeJS.Timeout;

  constructor(private readonly ctx: ControllerContext, opts: PodGCOptions = {}) {
    this.opts = {
      terminatedPodThreshold: opts.terminatedPodThreshold ?? 12_500,
      gcCheckPeriodMs: opts.gcCheckPeriodMs ?? 20_000,
      quarantineMs: opts.quarantineMs ?? 40_000,
    };
    this.nodes = ctx.informers.informer<NodeObject>('nodes');
    this.pods = ctx.informers.informer<PodObject>('pods');
  }

  async start(): Promise<void> {
    await Promise.all([this.nodes.start(), this.pods.start()]);
    this.timer = setInterval(() => this.queue.add(GC_KEY), this.opts.gcCheckPeriodMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  async reconcile(): Promise<void> {
    const pods = this.pods.list();
    const nodes = new Map(this.nodes.list().map((n) => [n.metadata.name!, n]));
    const work: Promise<void>[] = [];
    if (this.opts.terminatedPodThreshold > 0) work.push(...this.gcTerminated(pods));
    work.push(...this.gcTerminating(pods, nodes));
    work.push(...(await this.gcOrphaned(pods, nodes)));
    work.push(...this.gcUnscheduledTerminating(pods));
    await Promise.all(work);
  }

  private gcTerminated(pods: PodObject[]): Promise<void>[] {
    const terminated = pods.filter(isTerminated);
    const excess = terminated.length - this.opts.terminatedPodThreshold;
    if (excess <= 0) return [];
    log.info({ count: excess }, 'garbage collecting terminated pods');
    // Evicted pods first, then the oldest, names breaking ties.
    terminated.sort((a, b) => {
      if (isEvicted(a) !== isEvicted(b)) return isEvicted(a) ? -1 : 1;
      const ta = a.metadata.creationTimestamp ?? '';
      const tb = b.metadata.creationTimestamp ?? '';
      if (ta !== tb) return ta < tb ? -1 : 1;
      return (a.metadata.name ?? '') < (b.metadata.name ?? '') ? -1 : 1;
    });
    return terminated.slice(0, excess).map((p) => this.markFailedAndDelete(p));
  }

  private gcTerminating(pods: PodObject[], nodes: Map<string, NodeObject>): Promise<void>[] {
    return pods.filter((p) => {
      if (!p.metadata.deletionTimestamp || !p.spec?.nodeName) return false;
      const n = nodes.get(p.spec.nodeName);
      return !!n && !isNodeReady(n) && (n.spec?.taints ?? []).some((t) => t.key === TAINT_NODE_OUT_OF_SERVICE);
    }).map((p) => this.markFailedAndDelete(p));
  }

  private async gcOrphaned(pods: PodObject[], nodes: Map<string, NodeObject>): Promise<Promise<void>[]> {
    const now = Date.now();
    const wanted = new Set<string>();
    for (const p of pods) {
      const n = p.spec?.nodeName;
      if (n && !nodes.has(n)) {
        wanted.add(n);
        if (!this.missingSince.has(n)) this.missingSince.set(n, now);
      }
    }
    const deleted = new Set<string>();
    for (const [name, since] of [...this.missingSince]) {
      if (!wanted.has(name) || nodes.has(name)) {
        this.missingSince.delete(name);
        continue;
      }
      if (now - since < this.opts.quarantineMs) continue;
      // The cache may lag: ask the API before declaring the node gone.
      try {
        await this.ctx.client.get(`/api/v1/nodes/${name}`);
        this.missingSince.delete(name);
      } catch (e) {
        if (isNotFound(e)) deleted.add(name);
        else log.warn({ node: name, err: (e as Error).message }, 'error getting node');
      }
    }
    const condition: PodCondition = { type: 'DisruptionTarget', status: 'True', reason: 'DeletionByPodGC', message: 'PodGC: node no longer exists' };
    return pods.filter((p) => deleted.has(p.spec?.nodeName ?? '')).map((p) => {
      log.info({ pod: keyOf(p), node: p.spec?.nodeName }, 'found orphaned pod assigned to a deleted node; deleting');
      return this.markFailedAndDelete(p, condition);
    });
  }

  private gcUnscheduledTerminating(pods: PodObject[]): Promise<void>[] {
    return pods.filter((p) => p.metadata.deletionTimestamp && !p.spec?.nodeName).map((p) => this.markFailedAndDelete(p));
  }

  /** Failed first (an orphan would stay Running forever otherwise), then deleted with grace 0. */
  private async markFailedAndDelete(p: PodObject, condition?: PodCondition): Promise<void> {
    const m = p.metadata;
    const path = `/api/v1/namespaces/${m.namespace}/pods/${m.name}`;
    try {
      if (!isTerminated(p)) {
        const status: Record<string, unknown> = { phase: 'Failed' };
        if (condition) status.conditions = [{ ...condition, lastTransitionTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') }];
        await this.ctx.client.patch(`${path}/status`, { metadata: { uid: m.uid }, status }, 'strategic');
      }
      await this.ctx.client.delete(path, { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0, preconditions: { uid: m.uid } });
      log.info({ pod: keyOf(p) }, 'force deleted pod');
    } catch (e) {
      if (!isNotFound(e)) log.warn({ pod: keyOf(p), err: (e as Error).message }, 'pod GC failed to delete pod');
    }
  }
}
