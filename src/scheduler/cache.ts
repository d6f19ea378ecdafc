// The scheduler's view of the cluster (after upstream's internal/cache): one NodeInfo per node
// with what its pods request, the host ports they hold and their count; pods the scheduler has
// bound but the informer has not shown yet count as "assumed" so that the next decision already
// sees them. Spreading needs "how many pods matching selector S are on node N" for every node, for
// every pod scheduled: the cache keeps those counts per (namespace, selector) group, updated as
// pods come and go, instead of counting pods node by node for each decision.
import type { Node, Pod, Taint } from 'kubernetes-types/core/v1.js';
import type { LabelSelector } from '../api/selectors.js';
import { emptyResources, HostPortUsage, isScalarResourceName, podHostPorts, podRequests, quantityValue, type HostPort, type Resources } from './resources.js';
import { schedulingTaints } from './taints.js';

/** One pod counted on a node. */
export interface PodRecord {
  key: string;
  uid: string;
  namespace: string;
  labels: Record<string, string>;
  nodeName: string;
  /** The NodeInfo it is counted on. */
  node: NodeInfo;
  requests: Resources;
  nonZeroCPU: number;
  nonZeroMemory: number;
  ports: HostPort[];
  priority: number;
  /** Being deleted: still holds its resources, but no longer counts for spreading. */
  terminating: boolean;
  /** Bound by this scheduler, not yet seen bound through the informer. */
  assumed: boolean;
  pod: Pod;
  /** Spread groups this pod is counted in. */
  groups: SpreadGroup[];
}

/** Matching pods per node for one (namespace, selector). */
export class SpreadGroup {
  /** Indexed by NodeInfo.id: a plain array lookup per node and pod scheduled. */
  private readonly counts: number[] = [];
  lastUsed = Date.now();
  dead = false;
  constructor(readonly key: string, readonly namespace: string, readonly selector: LabelSelector) {}

  count(node: NodeInfo): number {
    return this.counts[node.id] ?? 0;
  }

  add(node: NodeInfo, delta: number): void {
    this.counts[node.id] = (this.counts[node.id] ?? 0) + delta;
  }
}

let nextNodeId = 0;

export class NodeInfo {
  node?: Node;
  labels: Record<string, string> = {};
  /** Taints as the scheduler sees them (see schedulingTaints). */
  taints: Taint[] = [];
  unschedulable = false;
  allocatable: Resources = emptyResources();
  allowedPodNumber = 0;
  /** Sum of the requests of the pods on the node. */
  readonly requested: Resources = emptyResources();
  /** The same with 100m / 200Mi for containers that request nothing (scoring only). */
  nonZeroCPU = 0;
  nonZeroMemory = 0;
  readonly pods = new Set<PodRecord>();
  readonly ports = new HostPortUsage();
  /** A small integer naming this NodeInfo in per-node arrays. */
  readonly id = nextNodeId++;

  constructor(readonly name: string) {}

  setNode(node: Node): void {
    this.node = node;
    this.labels = (node.metadata?.labels ?? {}) as Record<string, string>;
    this.taints = schedulingTaints(node);
    this.unschedulable = !!node.spec?.unschedulable;
    const alloc = (node.status?.allocatable ?? node.status?.capacity ?? {}) as Record<string, string>;
    const a = emptyResources();
    for (const name in alloc) {
      const q = alloc[name];
      if (name === 'cpu') a.milliCPU = quantityValue(q, true);
      else if (name === 'memory') a.memory = quantityValue(q);
      else if (name === 'ephemeral-storage') a.ephemeralStorage = quantityValue(q);
      else if (name !== 'pods' && isScalarResourceName(name)) (a.scalars ??= new Map()).set(name, quantityValue(q));
    }
    this.allocatable = a;
    this.allowedPodNumber = quantityValue(alloc.pods);
  }

  addPod(r: PodRecord, sign: 1 | -1): void {
    if (sign > 0) this.pods.add(r);
    else this.pods.delete(r);
    const req = this.requested;
    req.milliCPU += sign * r.requests.milliCPU;
    req.memory += sign * r.requests.memory;
    req.ephemeralStorage += sign * r.requests.ephemeralStorage;
    if (r.requests.scalars) {
      req.scalars ??= new Map();
      for (const [k, v] of r.requests.scalars) req.scalars.set(k, (req.scalars.get(k) ?? 0) + sign * v);
    }
    this.nonZeroCPU += sign * r.nonZeroCPU;
    this.nonZeroMemory += sign * r.nonZeroMemory;
    for (const p of r.ports) this.ports.add(p, sign);
  }
}

function sameLabels(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  if (a === b) return true;
  const ak = Object.keys(a ?? {});
  if (ak.length !== Object.keys(b ?? {}).length) return false;
  for (const k of ak) if (a![k] !== b?.[k]) return false;
  return true;
}

export function podKeyOf(pod: Pod): string {
  return `${pod.metadata?.namespace}/${pod.metadata?.name}`;
}

/** What a pod counts on a node, when the caller has it computed already. */
export interface PodDemand {
  requests: Resources;
  nonZeroCPU: number;
  nonZeroMemory: number;
  ports: HostPort[];
}

export function podDemand(pod: Pod): PodDemand {
  const nonZero = podRequests(pod, true);
  return { requests: podRequests(pod), nonZeroCPU: nonZero.milliCPU, nonZeroMemory: nonZero.memory, ports: podHostPorts(pod) };
}

export class SchedulerCache {
  private readonly nodeInfos = new Map<string, NodeInfo>();
  /** Nodes that exist (have a Node object), in the order they appeared. */
  private nodeList: NodeInfo[] = [];
  private readonly podRecords = new Map<string, PodRecord>();
  private readonly podsByNamespace = new Map<string, Set<PodRecord>>();
  private readonly groups = new Map<string, SpreadGroup>();
  private readonly groupsByNamespace = new Map<string, Set<SpreadGroup>>();
  private readonly labelKeyCounts = new Map<string, number>();

  get nodes(): readonly NodeInfo[] {
    return this.nodeList;
  }

  node(name: string): NodeInfo | undefined {
    const ni = this.nodeInfos.get(name);
    return ni?.node ? ni : undefined;
  }

  /** Whether some node carries the label key. */
  labelled(key: string): boolean {
    return (this.labelKeyCounts.get(key) ?? 0) > 0;
  }

  setNode(node: Node): NodeInfo {
    const name = node.metadata!.name!;
    const ni = this.nodeInfo(name);
    if (ni.node) this.countLabelKeys(ni.labels, -1);
    else this.nodeList.push(ni);
    ni.setNode(node);
    this.countLabelKeys(ni.labels, 1);
    return ni;
  }

  removeNode(name: string): void {
    const ni = this.nodeInfos.get(name);
    if (!ni?.node) return;
    this.countLabelKeys(ni.labels, -1);
    ni.node = undefined;
    this.nodeList = this.nodeList.filter((n) => n !== ni);
    // Pods still on a deleted node keep their accounting until they go (as upstream's "ghost" nodes).
    if (ni.pods.size === 0) this.nodeInfos.delete(name);
  }

  pod(key: string): PodRecord | undefined {
    return this.podRecords.get(key);
  }

  /** Count a pod the scheduler has just decided to bind, before the API confirms it. */
  assume(pod: Pod, nodeName: string, demand: PodDemand = podDemand(pod)): void {
    this.removePod(podKeyOf(pod));
    this.insert(this.makeRecord(pod, nodeName, true, demand));
  }

  /** The binding failed: the pod no longer counts (unless the informer has shown it bound meanwhile). */
  forget(key: string): void {
    const r = this.podRecords.get(key);
    if (r?.assumed) this.removePod(key);
  }

  /** A bound, non-terminal pod as the informer shows it. */
  setPod(pod: Pod): void {
    const key = podKeyOf(pod);
    const nodeName = pod.spec!.nodeName!;
    const old = this.podRecords.get(key);
    if (old && old.uid === pod.metadata?.uid && old.nodeName === nodeName
      && old.terminating === !!pod.metadata?.deletionTimestamp && sameLabels(old.labels, pod.metadata?.labels as Record<string, string>)) {
      // Status changes and the confirmation of an assumed pod change nothing the scheduler counts.
      old.pod = pod;
      old.assumed = false;
      return;
    }
    if (old) this.removePod(key);
    this.insert(this.makeRecord(pod, nodeName, false));
  }

  removePod(key: string): PodRecord | undefined {
    const r = this.podRecords.get(key);
    if (!r) return undefined;
    this.podRecords.delete(key);
    this.podsByNamespace.get(r.namespace)?.delete(r);
    const ni = r.node;
    ni.addPod(r, -1);
    if (!ni.node && ni.pods.size === 0 && this.nodeInfos.get(ni.name) === ni) this.nodeInfos.delete(ni.name);
    for (const g of r.groups) g.add(ni, -1);
    return r;
  }

  /** The group of pods matching `selector` in `namespace`, with its per-node counts. */
  spreadGroup(namespace: string, selector: LabelSelector): SpreadGroup {
    const key = `${namespace}\u0000${selector.toString()}`;
    let g = this.groups.get(key);
    if (!g) {
      g = new SpreadGroup(key, namespace, selector);
      this.groups.set(key, g);
      let inNs = this.groupsByNamespace.get(namespace);
      if (!inNs) this.groupsByNamespace.set(namespace, (inNs = new Set()));
      inNs.add(g);
      for (const r of this.podsByNamespace.get(namespace) ?? []) {
        if (!r.terminating && selector.matches(r.labels)) {
          r.groups.push(g);
          g.add(r.node, 1);
        }
      }
    }
    g.lastUsed = Date.now();
    return g;
  }

  /** Forget groups nobody scheduled with for a while, so that every pod event does not match against them forever. */
  pruneGroups(unusedSinceMs: number): void {
    const cutoff = Date.now() - unusedSinceMs;
    const touched = new Set<string>();
    for (const [key, g] of this.groups) {
      if (g.lastUsed >= cutoff) continue;
      g.dead = true;
      this.groups.delete(key);
      this.groupsByNamespace.get(g.namespace)?.delete(g);
      touched.add(g.namespace);
    }
    for (const ns of touched) {
      for (const r of this.podsByNamespace.get(ns) ?? []) if (r.groups.some((g) => g.dead)) r.groups = r.groups.filter((g) => !g.dead);
      if (this.groupsByNamespace.get(ns)?.size === 0) this.groupsByNamespace.delete(ns);
    }
  }

  /** A record of `pod` on `nodeName`, not inserted (preemption counts nominated pods with it). */
  makeRecord(pod: Pod, nodeName: string, assumed: boolean, demand: PodDemand = podDemand(pod)): PodRecord {
    return {
      key: podKeyOf(pod),
      uid: pod.metadata?.uid ?? '',
      namespace: pod.metadata?.namespace ?? '',
      labels: (pod.metadata?.labels ?? {}) as Record<string, string>,
      nodeName,
      node: this.nodeInfos.get(nodeName) ?? new NodeInfo(nodeName),
      requests: demand.requests,
      nonZeroCPU: demand.nonZeroCPU,
      nonZeroMemory: demand.nonZeroMemory,
      ports: demand.ports,
      priority: pod.spec?.priority ?? 0,
      terminating: !!pod.metadata?.deletionTimestamp,
      assumed,
      pod,
      groups: [],
    };
  }

  private countLabelKeys(labels: Record<string, string>, delta: number): void {
    for (const k in labels) this.labelKeyCounts.set(k, (this.labelKeyCounts.get(k) ?? 0) + delta);
  }

  private nodeInfo(name: string): NodeInfo {
    let ni = this.nodeInfos.get(name);
    if (!ni) this.nodeInfos.set(name, (ni = new NodeInfo(name)));
    return ni;
  }

  private insert(r: PodRecord): void {
    this.podRecords.set(r.key, r);
    let inNs = this.podsByNamespace.get(r.namespace);
    if (!inNs) this.podsByNamespace.set(r.namespace, (inNs = new Set()));
    inNs.add(r);
    // The NodeInfo may have been dropped since the record was made (node deleted, last pod gone).
    if (this.nodeInfos.get(r.nodeName) !== r.node) r.node = this.nodeInfo(r.nodeName);
    r.node.addPod(r, 1);
    if (r.terminating) return;
    for (const g of this.groupsByNamespace.get(r.namespace) ?? []) {
      if (g.selector.matches(r.labels)) {
        r.groups.push(g);
        g.add(r.node, 1);
      }
    }
  }
}
