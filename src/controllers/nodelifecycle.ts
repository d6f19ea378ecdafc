// Node lifecycle, after kube-controller-manager's node-lifecycle-controller
// (pkg/controller/nodelifecycle/node_lifecycle_controller.go, v1.32): a node whose kubelet stops
// renewing its Lease and posting status for the grace period gets its conditions set to Unknown
// ("Kubelet stopped posting node status."), the NoSchedule taints that mirror its conditions,
// and — rate-limited per zone — the `node.kubernetes.io/unreachable` (or `not-ready`) NoExecute
// taint that the taint eviction controller acts on. Its pods are marked not ready. A node that
// comes back loses the taints. When every node of every zone is down the controller assumes a
// problem of its own (master disruption) and taints nothing.
//
// Liveness is judged by this process's clock: the time it last saw the Lease's renewTime or the
// Ready condition's heartbeat change, never by comparing those timestamps with its own clock.
import type { Node, NodeCondition, Pod, Taint } from 'kubernetes-types/core/v1.js';
import type { Lease } from 'kubernetes-types/coordination/v1.js';
import type { ControllerContext } from '../client/factory.js';
import { keyOf, type Informer } from '../client/informer.js';
import type { Reconciler } from '../client/controller.js';
import { WorkQueue } from '../client/workqueue.js';
import type { EventRecorder, InvolvedObject } from '../client/events.js';
import { isConflict, isNotFound } from '../client/rest.js';
import type { KObject } from '../api/types.js';
import { logger } from '../util/log.js';
import { swapNodeTaints, TAINT_NODE_NOT_READY, TAINT_NODE_UNREACHABLE, TAINT_NODE_UNSCHEDULABLE, sameTaint } from './taints.js';

export interface NodeLifecycleOptions {
  /** How often node health is checked (--node-monitor-period, default 5 s). */
  nodeMonitorPeriodMs?: number;
  /** No Lease renewal or status for this long means Unknown (--node-monitor-grace-period; 50 s since v1.32). */
  nodeMonitorGracePeriodMs?: number;
  /** The same for a node that never posted a Ready condition (--node-startup-grace-period, 60 s). */
  nodeStartupGracePeriodMs?: number;
  /** Nodes tainted NoExecute per second in a healthy zone (--node-eviction-rate, 0.1). */
  evictionRate?: number;
  /** The same in a partially disrupted large zone (--secondary-node-eviction-rate, 0.01). */
  secondaryEvictionRate?: number;
  /** Zones with more nodes than this are large (--large-cluster-size-threshold, 50). */
  largeClusterThreshold?: number;
  /** Share of not-ready nodes (with more than 2) that makes a zone partially disrupted (--unhealthy-zone-threshold, 0.55). */
  unhealthyZoneThreshold?: number;
}

type NodeObject = Node & KObject;
type PodObject = Pod & KObject;
type LeaseObject = Lease & KObject;
type ZoneState = 'Initial' | 'Normal' | 'FullDisruption' | 'PartialDisruption';

export const NODE_NAME_INDEX = 'spec.nodeName';
const NODE_LEASE_NAMESPACE = 'kube-node-lease';
const EXCLUDE_DISRUPTION_LABEL = 'node.kubernetes.io/exclude-disruption';

const UNREACHABLE_NO_EXECUTE: Taint = { key: TAINT_NODE_UNREACHABLE, effect: 'NoExecute' };
const NOT_READY_NO_EXECUTE: Taint = { key: TAINT_NODE_NOT_READY, effect: 'NoExecute' };

/** Which condition status maps to which NoSchedule taint (TaintNodesByCondition). */
const CONDITION_TAINTS: Record<string, Record<string, string>> = {
  Ready: { False: TAINT_NODE_NOT_READY, Unknown: TAINT_NODE_UNREACHABLE },
  MemoryPressure: { True: 'node.kubernetes.io/memory-pressure' },
  DiskPressure: { True: 'node.kubernetes.io/disk-pressure' },
  NetworkUnavailable: { True: 'node.kubernetes.io/network-unavailable' },
  PIDPressure: { True: 'node.kubernetes.io/pid-pressure' },
};
const CONDITION_TAINT_KEYS = new Set(Object.values(CONDITION_TAINTS).flatMap((m) => Object.values(m)));

const log = logger('node-lifecycle-controller');
const rfc3339 = (ms = Date.now()) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** topology zone key: region and zone labels (none: the single zone ""). */
function zoneOf(n: Node): string {
  const l = n.metadata?.labels ?? {};
  const region = l['topology.kubernetes.io/region'] ?? l['failure-domain.beta.kubernetes.io/region'] ?? '';
  const zone = l['topology.kubernetes.io/zone'] ?? l['failure-domain.beta.kubernetes.io/zone'] ?? '';
  return region || zone ? `${region}:\u0000:${zone}` : '';
}

const readyOf = (n: Node) => n.status?.conditions?.find((c) => c.type === 'Ready');
const hasTaint = (n: Node, t: Taint) => (n.spec?.taints ?? []).some((x) => sameTaint(x, t));

/** What the controller last observed of a node, with local times (never the node's clock). */
interface NodeHealth {
  probeTimestamp: number;
  readyTransitionTimestamp: number;
  readyCondition?: NodeCondition;
  leaseRenewTime?: string;
}

/** A token bucket with burst 1 whose rate can be swapped (0 = never), as upstream's eviction limiter. */
class RateLimiter {
  private tokens = 1;
  private at = Date.now();
  constructor(private rate: number) {}
  swap(rate: number): void {
    this.rate = rate;
    this.tokens = 1;
    this.at = Date.now();
  }
  /** Take a token; otherwise the ms until one is available (Infinity at rate 0). */
  take(): number {
    if (this.rate <= 0) return Infinity;
    const t = Date.now();
    this.tokens = Math.min(1, this.tokens + ((t - this.at) / 1000) * this.rate);
    this.at = t;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return ((1 - this.tokens) / this.rate) * 1000;
  }
}

/** Nodes waiting for their NoExecute taint in one zone (RateLimitedTimedQueue). */
interface ZoneTainter {
  limiter: RateLimiter;
  queue: Set<string>;
  timer?: NodeJS.Timeout;
}

export class NodeLifecycleController implements Reconciler {
  readonly name = 'node-lifecycle-controller';
  readonly queue = new WorkQueue(this.name);
  private readonly nodes: Informer<NodeObject>;
  private readonly pods: Informer<PodObject>;
  private readonly leases: Informer<LeaseObject>;
  private readonly recorder: EventRecorder;
  private readonly opts: Required<NodeLifecycleOptions>;
  private readonly health = new Map<string, NodeHealth>();
  private readonly known = new Map<string, NodeObject>();
  private readonly zoneStates = new Map<string, ZoneState>();
  private readonly tainters = new Map<string, ZoneTainter>();
  /** Nodes whose pods could not all be marked not ready yet. */
  private readonly podsToRetry = new Set<string>();
  private monitorTimer?: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly ctx: ControllerContext, opts: NodeLifecycleOptions = {}) {
    this.opts = {
      nodeMonitorPeriodMs: opts.nodeMonitorPeriodMs ?? 5_000,
      nodeMonitorGracePeriodMs: opts.nodeMonitorGracePeriodMs ?? 50_000,
      nodeStartupGracePeriodMs: opts.nodeStartupGracePeriodMs ?? 60_000,
      evictionRate: opts.evictionRate ?? 0.1,
      secondaryEvictionRate: opts.secondaryEvictionRate ?? 0.01,
      largeClusterThreshold: opts.largeClusterThreshold ?? 50,
      unhealthyZoneThreshold: opts.unhealthyZoneThreshold ?? 0.55,
    };
    this.nodes = ctx.informers.informer<NodeObject>('nodes');
    this.pods = ctx.informers.informer<PodObject>('pods');
    this.leases = ctx.informers.informer<LeaseObject>('leases');
    this.recorder = ctx.recorder({ component: 'node-controller' });
  }

  async start(): Promise<void> {
    this.pods.addIndex(NODE_NAME_INDEX, (p) => (p.spec?.nodeName ? [p.spec.nodeName] : []));
    this.pods.on({
      add: (p) => this.podAssigned(undefined, p),
      update: (o, p) => this.podAssigned(o, p),
    });
    this.nodes.on({
      add: (n) => this.queue.add(`node/${n.metadata.name}`),
      update: (_o, n) => this.queue.add(`node/${n.metadata.name}`),
    });
    await Promise.all([this.nodes.start(), this.pods.start(), this.leases.start()]);
    this.monitorTimer = setInterval(() => this.monitor(), this.opts.nodeMonitorPeriodMs);
    this.monitorTimer.unref();
    this.monitor();
  }

  stop(): void {
    this.stopped = true;
    if (this.monitorTimer) clearInterval(this.monitorTimer);
    for (const t of this.tainters.values()) if (t.timer) clearTimeout(t.timer);
  }

  /** A pod newly on a node that is not ready is marked not ready (processPod). */
  private podAssigned(old: PodObject | undefined, p: PodObject): void {
    if (p.spec?.nodeName && p.spec.nodeName !== old?.spec?.nodeName) this.queue.add(`pod/${keyOf(p)}`);
  }

  private nodeRef(n: NodeObject): InvolvedObject {
    return { apiVersion: 'v1', kind: 'Node', metadata: { name: n.metadata.name, uid: n.metadata.uid } };
  }

  /**
   * The periodic pass (monitorNodeHealth): new and removed nodes, zone disruption from the
   * cached Ready conditions, then every node's health check through the queue.
   */
  private monitor(): void {
    if (this.stopped) return;
    const nodes = this.nodes.list();
    const names = new Set(nodes.map((n) => n.metadata.name!));
    for (const n of nodes) {
      const name = n.metadata.name!;
      if (this.known.has(name)) continue;
      this.known.set(name, n);
      this.recorder.event(this.nodeRef(n), 'Normal', 'RegisteredNode', `Node ${name} event: Registered Node ${name} in Controller`);
      this.tainterOf(zoneOf(n));
      void this.markNodeAsReachable(n).catch((e) => log.warn({ node: name, err: (e as Error).message }, 'failed to remove taints'));
    }
    for (const [name, n] of this.known) {
      if (names.has(name)) continue;
      this.known.delete(name);
      this.health.delete(name);
      this.podsToRetry.delete(name);
      for (const t of this.tainters.values()) t.queue.delete(name);
      this.recorder.event(this.nodeRef(n), 'Normal', 'RemovingNode', `Node ${name} event: Removing Node ${name} from Controller`);
    }
    this.handleDisruption(nodes);
    for (const n of nodes) this.queue.add(`node/${n.metadata.name}`);
  }

  async reconcile(key: string): Promise<void> {
    if (key.startsWith('pod/')) return this.reconcilePod(key.slice(4));
    const name = key.slice('node/'.length);
    const cached = this.nodes.get(name);
    if (!cached) return;
    if (!this.known.has(name)) {
      // Health is judged from the periodic pass on; conditions are mirrored in taints at once.
      await this.noScheduleTaintingPass(cached);
      return;
    }
    const { node, observed, current } = await this.updateNodeHealth(cached);
    await this.noScheduleTaintingPass(node);
    if (!current) return;
    await this.processTaintBasedEviction(node, observed);
    const needsRetry = this.podsToRetry.has(name);
    if ((current.status !== 'True' && observed.status === 'True') || (needsRetry && observed.status !== 'True')) {
      if (!needsRetry) this.recorder.event(this.nodeRef(node), 'Normal', 'NodeNotReady', `Node ${name} status is now: NodeNotReady`);
      try {
        await this.markPodsNotReady(this.pods.byIndex(NODE_NAME_INDEX, name), name);
        this.podsToRetry.delete(name);
      } catch (e) {
        this.podsToRetry.add(name);
        throw e;
      }
    } else {
      this.podsToRetry.delete(name);
    }
  }

  private async reconcilePod(podKey: string): Promise<void> {
    const pod = this.pods.get(podKey);
    const nodeName = pod?.spec?.nodeName;
    if (!pod || !nodeName) return;
    const ready = this.health.get(nodeName)?.readyCondition;
    if (!ready || !this.nodes.get(nodeName)) return;
    if (ready.status !== 'True') await this.markPodsNotReady([pod], nodeName);
  }

  /**
   * tryUpdateNodeHealth: refresh the probe time when the Lease was renewed or the Ready heartbeat
   * moved; past the grace period set Ready and the pressure conditions to Unknown.
   * Returns the node (as written), the Ready condition observed and the current one.
   */
  private async updateNodeHealth(cached: NodeObject): Promise<{ node: NodeObject; observed: NodeCondition; current?: NodeCondition }> {
    let node = cached;
    for (let attempt = 0; ; attempt++) {
      const name = node.metadata.name!;
      const now = Date.now();
      const created = node.metadata.creationTimestamp ?? rfc3339(now);
      let health = this.health.get(name);
      const readyNow = readyOf(node);
      let observed: NodeCondition;
      let grace: number;
      if (!readyNow) {
        // A node that never posted a Ready condition gets the (longer) startup grace period from its creation.
        observed = { type: 'Ready', status: 'Unknown', lastHeartbeatTime: created, lastTransitionTime: created };
        grace = this.opts.nodeStartupGracePeriodMs;
        if (!health) health = { probeTimestamp: Date.parse(created), readyTransitionTimestamp: Date.parse(created) };
      } else {
        observed = { ...readyNow };
        grace = this.opts.nodeMonitorGracePeriodMs;
      }
      const saved = health?.readyCondition;
      if (!health || (!saved && readyNow) || (saved && !readyNow)) {
        health = { probeTimestamp: now, readyTransitionTimestamp: now, readyCondition: readyNow, leaseRenewTime: health?.leaseRenewTime };
      } else if (saved && readyNow && saved.lastHeartbeatTime !== readyNow.lastHeartbeatTime) {
        health = {
          probeTimestamp: now,
          readyTransitionTimestamp: saved.lastTransitionTime !== readyNow.lastTransitionTime ? now : health.readyTransitionTimestamp,
          readyCondition: readyNow, leaseRenewTime: health.leaseRenewTime,
        };
      }
      // A renewed Lease is a heartbeat.
      const lease = this.leases.get(`${NODE_LEASE_NAMESPACE}/${name}`);
      const renew = lease?.spec?.renewTime;
      if (renew && (!health.leaseRenewTime || Date.parse(renew) > Date.parse(health.leaseRenewTime))) {
        health = { ...health, leaseRenewTime: renew, probeTimestamp: now };
      }
      this.health.set(name, health);
      if (now <= health.probeTimestamp + grace) return { node, observed, current: readyNow };

      const conditions = [...(node.status?.conditions ?? [])];
      const ts = rfc3339(now);
      for (const type of ['Ready', 'MemoryPressure', 'DiskPressure', 'PIDPressure']) {
        const i = conditions.findIndex((c) => c.type === type);
        if (i < 0) {
          conditions.push({ type, status: 'Unknown', reason: 'NodeStatusNeverUpdated', message: 'Kubelet never posted node status.', lastHeartbeatTime: created, lastTransitionTime: ts });
        } else if (conditions[i]!.status !== 'Unknown') {
          conditions[i] = { ...conditions[i]!, status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.', lastTransitionTime: ts };
        }
      }
      const current = conditions.find((c) => c.type === 'Ready')!;
      if (current.status === observed.status && current.reason === observed.reason && current.lastTransitionTime === observed.lastTransitionTime) {
        return { node, observed, current };
      }
      try {
        const updated = await this.ctx.client.update<NodeObject>(`/api/v1/nodes/${name}/status`, { ...node, status: { ...node.status, conditions } });
        log.info({ node: name }, 'node stopped posting status; marked Unknown');
        this.health.set(name, { ...health, readyCondition: current, readyTransitionTimestamp: now });
        return { node: updated, observed, current };
      } catch (e) {
        if (!isConflict(e) || attempt >= 4) throw e;
        node = await this.ctx.client.get<NodeObject>(`/api/v1/nodes/${name}`);
      }
    }
  }

  /** doNoScheduleTaintingPass: NoSchedule taints that mirror the node's conditions and spec.unschedulable. */
  private async noScheduleTaintingPass(node: NodeObject): Promise<void> {
    const wanted: Taint[] = [];
    for (const c of node.status?.conditions ?? []) {
      const key = CONDITION_TAINTS[c.type]?.[c.status];
      if (key) wanted.push({ key, effect: 'NoSchedule' });
    }
    if (node.spec?.unschedulable) wanted.push({ key: TAINT_NODE_UNSCHEDULABLE, effect: 'NoSchedule' });
    const present = (node.spec?.taints ?? []).filter((t) => t.effect === 'NoSchedule' && (t.key === TAINT_NODE_UNSCHEDULABLE || CONDITION_TAINT_KEYS.has(t.key)));
    const add = wanted.filter((w) => !present.some((p) => sameTaint(p, w)));
    const remove = present.filter((p) => !wanted.some((w) => sameTaint(p, w)));
    if (!add.length && !remove.length) return;
    if (!(await swapNodeTaints(this.ctx.client, node, node.metadata.name!, add, remove))) {
      throw new Error(`failed to swap NoSchedule taints of node ${node.metadata.name}`);
    }
  }

  /** processTaintBaseEviction: queue the NoExecute taint, swap it at once between kinds, or remove it. */
  private async processTaintBasedEviction(node: NodeObject, observed: NodeCondition): Promise<void> {
    const name = node.metadata.name!;
    if (observed.status === 'False') {
      if (hasTaint(node, UNREACHABLE_NO_EXECUTE)) await swapNodeTaints(this.ctx.client, node, name, [NOT_READY_NO_EXECUTE], [UNREACHABLE_NO_EXECUTE]);
      else this.markNodeForTainting(node, 'False');
    } else if (observed.status === 'Unknown') {
      if (hasTaint(node, NOT_READY_NO_EXECUTE)) await swapNodeTaints(this.ctx.client, node, name, [UNREACHABLE_NO_EXECUTE], [NOT_READY_NO_EXECUTE]);
      else this.markNodeForTainting(node, 'Unknown');
    } else if (observed.status === 'True') {
      await this.markNodeAsReachable(node);
    }
  }

  private tainterOf(zone: string): ZoneTainter {
    let t = this.tainters.get(zone);
    if (!t) {
      t = { limiter: new RateLimiter(this.opts.evictionRate), queue: new Set() };
      this.tainters.set(zone, t);
      if (!this.zoneStates.has(zone)) this.zoneStates.set(zone, 'Initial');
    }
    return t;
  }

  private markNodeForTainting(node: NodeObject, status: 'False' | 'Unknown'): void {
    const name = node.metadata.name!;
    const t = this.tainterOf(zoneOf(node));
    // A node re-queued for the other kind of taint starts over.
    if (status === 'False' && !hasTaint(node, NOT_READY_NO_EXECUTE)) t.queue.delete(name);
    if (status === 'Unknown' && !hasTaint(node, UNREACHABLE_NO_EXECUTE)) t.queue.delete(name);
    t.queue.add(name);
    this.drainTainter(t);
  }

  private async markNodeAsReachable(node: NodeObject): Promise<void> {
    for (const t of this.tainters.values()) t.queue.delete(node.metadata.name!);
    if (hasTaint(node, UNREACHABLE_NO_EXECUTE) || hasTaint(node, NOT_READY_NO_EXECUTE)) {
      await swapNodeTaints(this.ctx.client, node, node.metadata.name!, [], [UNREACHABLE_NO_EXECUTE, NOT_READY_NO_EXECUTE]);
      log.info({ node: node.metadata.name }, 'node is healthy again; removed its NoExecute taints');
    }
  }

  /** doNoExecuteTaintingPass for one zone: taint queued nodes as fast as the zone's limiter allows. */
  private drainTainter(t: ZoneTainter): void {
    if (t.timer || this.stopped) return;
    for (const name of t.queue) {
      const wait = t.limiter.take();
      if (wait > 0) {
        if (Number.isFinite(wait)) t.timer = setTimeout(() => {
          t.timer = undefined;
          this.drainTainter(t);
        }, wait);
        return;
      }
      t.queue.delete(name);
      void this.taintNoExecute(name).catch((e) => {
        log.warn({ node: name, err: (e as Error).message }, 'failed to taint node; will retry');
        t.queue.add(name);
        t.timer ??= setTimeout(() => {
          t.timer = undefined;
          this.drainTainter(t);
        }, 50);
      });
    }
  }

  /** The NoExecute taint that mirrors Ready (unreachable and not-ready exclude each other). */
  private async taintNoExecute(name: string): Promise<void> {
    const node = this.nodes.get(name);
    if (!node) return;
    const ready = readyOf(node);
    if (ready?.status === 'False') await swapNodeTaints(this.ctx.client, node, name, [NOT_READY_NO_EXECUTE], [UNREACHABLE_NO_EXECUTE]);
    else if (ready?.status === 'Unknown') await swapNodeTaints(this.ctx.client, node, name, [UNREACHABLE_NO_EXECUTE], [NOT_READY_NO_EXECUTE]);
  }

  /** ComputeZoneState. */
  private zoneState(conditions: (NodeCondition | undefined)[]): ZoneState {
    const ready = conditions.filter((c) => c?.status === 'True').length;
    const notReady = conditions.length - ready;
    if (ready === 0 && notReady > 0) return 'FullDisruption';
    if (notReady > 2 && notReady / conditions.length >= this.opts.unhealthyZoneThreshold) return 'PartialDisruption';
    return 'Normal';
  }

  private setLimiter(zone: string, size: number, state: ZoneState): void {
    const t = this.tainterOf(zone);
    if (state === 'Normal' || state === 'FullDisruption') t.limiter.swap(this.opts.evictionRate);
    else if (state === 'PartialDisruption') t.limiter.swap(size > this.opts.largeClusterThreshold ? this.opts.secondaryEvictionRate : 0);
    this.drainTainter(t);
  }

  /** handleDisruption: per-zone eviction rates; with every zone down, stop tainting altogether. */
  private handleDisruption(nodes: NodeObject[]): void {
    const byZone = new Map<string, (NodeCondition | undefined)[]>();
    for (const n of nodes) {
      if (n.metadata.labels?.[EXCLUDE_DISRUPTION_LABEL] !== undefined) continue;
      const z = zoneOf(n);
      const list = byZone.get(z) ?? [];
      list.push(readyOf(n));
      byZone.set(z, list);
    }
    const newStates = new Map<string, ZoneState>();
    let allAreFullyDisrupted = true;
    for (const [z, conds] of byZone) {
      const s = this.zoneState(conds);
      if (s !== 'FullDisruption') allAreFullyDisrupted = false;
      newStates.set(z, s);
      this.tainterOf(z);
    }
    let allWereFullyDisrupted = true;
    for (const [z, s] of [...this.zoneStates]) {
      if (!byZone.has(z)) {
        this.zoneStates.delete(z);
        continue;
      }
      if (s !== 'FullDisruption') {
        allWereFullyDisrupted = false;
        break;
      }
    }
    if (allAreFullyDisrupted && allWereFullyDisrupted) return;
    if (allAreFullyDisrupted) {
      log.info('all nodes are not ready: entering master disruption mode');
      for (const n of nodes) void this.markNodeAsReachable(n).catch(() => {});
      for (const z of this.zoneStates.keys()) {
        this.tainterOf(z).limiter.swap(0);
        this.zoneStates.set(z, 'FullDisruption');
      }
      return;
    }
    if (allWereFullyDisrupted) {
      log.info('some nodes are ready: exiting master disruption mode');
      const now = Date.now();
      for (const [name, h] of this.health) this.health.set(name, { ...h, probeTimestamp: now, readyTransitionTimestamp: now });
      for (const z of this.zoneStates.keys()) {
        const s = newStates.get(z)!;
        this.setLimiter(z, byZone.get(z)!.length, s);
        this.zoneStates.set(z, s);
      }
      return;
    }
    for (const [z, old] of this.zoneStates) {
      const s = newStates.get(z)!;
      if (s === old) continue;
      log.info({ zone: z, state: s }, 'zone is in a new state');
      this.setLimiter(z, byZone.get(z)!.length, s);
      this.zoneStates.set(z, s);
    }
  }

  /** MarkPodsNotReady: Ready=False on the node's pods that are ready, and a NodeNotReady event on each. */
  private async markPodsNotReady(pods: PodObject[], nodeName: string): Promise<void> {
    const errors: Error[] = [];
    for (const pod of pods) {
      if (pod.spec?.nodeName !== nodeName) continue;
      const ready = pod.status?.conditions?.find((c) => c.type === 'Ready');
      if (!ready || ready.status === 'False') continue;
      const m = pod.metadata;
      try {
        await this.ctx.client.patch(`/api/v1/namespaces/${m.namespace}/pods/${m.name}/status`, {
          metadata: { uid: m.uid },
          status: { conditions: [{ type: 'Ready', status: 'False', lastTransitionTime: rfc3339() }] },
        }, 'strategic');
      } catch (e) {
        if (isNotFound(e)) continue;
        errors.push(e as Error);
        continue;
      }
      this.recorder.event({ apiVersion: 'v1', kind: 'Pod', metadata: { name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion } },
        'Warning', 'NodeNotReady', 'Node is not ready');
    }
    if (errors.length) throw new Error(`unable to mark all pods NotReady on node ${nodeName}: ${errors.map((e) => e.message).join('; ')}`);
  }
}
