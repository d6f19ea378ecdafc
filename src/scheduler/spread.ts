// PodTopologySpread with upstream's semantics (pkg/scheduler/framework/plugins/podtopologyspread):
// a pod's own topologySpreadConstraints, or else the system defaults (hostname maxSkew 3 and zone
// maxSkew 5, both ScheduleAnyway) over the pods selected by the services, ReplicaSets (and the
// like) that select or own the pod. Hard constraints (DoNotSchedule) filter nodes, soft ones
// score them. Counts of matching pods per node come from the cache's spread groups.
import type { Pod, Service, TopologySpreadConstraint } from 'kubernetes-types/core/v1.js';
import type { ReplicaSet } from 'kubernetes-types/apps/v1.js';
import { labelSelectorFromRequirements, labelSelectorFromSpec, type LabelSelector, type Requirement } from '../api/selectors.js';
import { controllerRefOf } from '../controllers/pods.js';
import type { NodeInfo, SchedulerCache, SpreadGroup } from './cache.js';
import type { RequiredNodeAffinity } from './node-affinity.js';
import { firstUntoleratedTaint } from './taints.js';

export const LABEL_HOSTNAME = 'kubernetes.io/hostname';
export const LABEL_ZONE = 'topology.kubernetes.io/zone';

const SYSTEM_DEFAULT_CONSTRAINTS: { topologyKey: string; maxSkew: number }[] = [
  { topologyKey: LABEL_HOSTNAME, maxSkew: 3 },
  { topologyKey: LABEL_ZONE, maxSkew: 5 },
];

export const ERR_CONSTRAINTS_NOT_MATCH = "node(s) didn't match pod topology spread constraints";
export const ERR_NODE_LABEL_NOT_MATCH = `${ERR_CONSTRAINTS_NOT_MATCH} (missing required label)`;

/** What a null labelSelector selects: no pods at all. */
const NOTHING: LabelSelector = { requirements: [], empty: false, matches: () => false, toString: () => '<nothing>' };

export interface SpreadConstraint {
  topologyKey: string;
  maxSkew: number;
  minDomains: number;
  group: SpreadGroup;
  /** Whether the pod being scheduled is itself selected (it adds one to the node it lands on). */
  selfMatch: boolean;
  honorNodeAffinity: boolean;
  honorNodeTaints: boolean;
}

export interface PodSpreading {
  hard: SpreadConstraint[];
  soft: SpreadConstraint[];
  /** The soft constraints are the system defaults (nodes need not carry every topology label). */
  systemDefaulted: boolean;
}

/** Where the default selector comes from: the objects that select or own pods. */
export interface SpreadSources {
  servicesIn(namespace: string): Service[];
  replicaSet(namespace: string, name: string): ReplicaSet | undefined;
}

/**
 * Upstream's helper.DefaultSelector: the union of the selectors of the services selecting the pod,
 * and the selector of its controlling ReplicaSet. Undefined when empty (nothing to spread by).
 */
export function defaultSelector(pod: Pod, sources: SpreadSources): LabelSelector | undefined {
  const ns = pod.metadata?.namespace ?? '';
  const labels = (pod.metadata?.labels ?? {}) as Record<string, string>;
  const fromServices = new Map<string, string>();
  for (const svc of sources.servicesIn(ns)) {
    const sel = svc.spec?.selector;
    // A nil selector selects nothing, not everything.
    if (!sel) continue;
    let all = true;
    for (const k in sel) if (labels[k] !== sel[k]) { all = false; break; }
    if (all) for (const k in sel) fromServices.set(k, sel[k]!);
  }
  const reqs: Requirement[] = [...fromServices].map(([key, v]) => ({ key, op: '=', values: [v] }));
  const owner = controllerRefOf(pod);
  if (owner && owner.kind === 'ReplicaSet' && owner.apiVersion === 'apps/v1') {
    const rs = sources.replicaSet(ns, owner.name);
    if (rs) {
      try {
        const sel = labelSelectorFromSpec(rs.spec?.selector);
        if (sel) reqs.push(...sel.requirements);
      } catch {
        // An invalid selector adds nothing, as upstream ignores the conversion error.
      }
    }
  }
  if (reqs.length === 0) return undefined;
  reqs.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return labelSelectorFromRequirements(reqs);
}

function constraintSelector(c: TopologySpreadConstraint, podLabels: Record<string, string>): LabelSelector | undefined {
  let sel: LabelSelector | undefined;
  try {
    sel = labelSelectorFromSpec(c.labelSelector);
  } catch {
    return undefined;
  }
  const reqs: Requirement[] = [...(sel?.requirements ?? [])];
  // matchLabelKeys (beta, on in 1.32): the pod's own values of those keys narrow the selector.
  for (const key of c.matchLabelKeys ?? []) if (Object.hasOwn(podLabels, key)) reqs.push({ key, op: '=', values: [podLabels[key]!] });
  if (!sel && reqs.length === 0) return undefined;
  reqs.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return labelSelectorFromRequirements(reqs);
}

export function podSpreading(pod: Pod, cache: SchedulerCache, sources: SpreadSources): PodSpreading {
  const ns = pod.metadata?.namespace ?? '';
  const labels = (pod.metadata?.labels ?? {}) as Record<string, string>;
  const explicit = pod.spec?.topologySpreadConstraints ?? [];
  const out: PodSpreading = { hard: [], soft: [], systemDefaulted: explicit.length === 0 };
  if (explicit.length) {
    for (const c of explicit) {
      const selector = constraintSelector(c, labels);
      const group = cache.spreadGroup(ns, selector ?? NOTHING);
      const sc: SpreadConstraint = {
        topologyKey: c.topologyKey, maxSkew: c.maxSkew, minDomains: c.minDomains ?? 1, group,
        selfMatch: !!selector && selector.matches(labels),
        honorNodeAffinity: (c.nodeAffinityPolicy ?? 'Honor') === 'Honor',
        honorNodeTaints: c.nodeTaintsPolicy === 'Honor',
      };
      (c.whenUnsatisfiable === 'DoNotSchedule' ? out.hard : out.soft).push(sc);
    }
    return out;
  }
  const selector = defaultSelector(pod, sources);
  if (!selector) return out;
  const group = cache.spreadGroup(ns, selector);
  for (const d of SYSTEM_DEFAULT_CONSTRAINTS) {
    out.soft.push({ ...d, minDomains: 1, group, selfMatch: selector.matches(labels), honorNodeAffinity: true, honorNodeTaints: false });
  }
  return out;
}

function hasAllKeys(labels: Record<string, string>, constraints: SpreadConstraint[]): boolean {
  for (const c of constraints) if (!Object.hasOwn(labels, c.topologyKey)) return false;
  return true;
}

/** Whether a node's pods count for a constraint (nodeAffinityPolicy / nodeTaintsPolicy). */
function included(c: SpreadConstraint, pod: Pod, node: NodeInfo, required: RequiredNodeAffinity | undefined): boolean {
  if (c.honorNodeAffinity && required && !required.matches(node)) return false;
  if (c.honorNodeTaints && firstUntoleratedTaint(node.taints, pod.spec?.tolerations)) return false;
  return true;
}

/** PodTopologySpread's PreFilter state: matching pods per topology value and the minimum per constraint. */
export interface HardSpreadState {
  counts: Map<string, number>[];
  minMatch: number[];
}

export function hardSpreadState(pod: Pod, hard: SpreadConstraint[], allNodes: readonly NodeInfo[], required: RequiredNodeAffinity | undefined): HardSpreadState {
  const counts = hard.map(() => new Map<string, number>());
  for (const node of allNodes) {
    if (!hasAllKeys(node.labels, hard)) continue;
    hard.forEach((c, i) => {
      if (!included(c, pod, node, required)) return;
      const value = node.labels[c.topologyKey]!;
      counts[i]!.set(value, (counts[i]!.get(value) ?? 0) + c.group.count(node));
    });
  }
  const minMatch = hard.map((c, i) => {
    const m = counts[i]!;
    if (m.size < c.minDomains) return 0;
    let min = Infinity;
    for (const n of m.values()) min = Math.min(min, n);
    return min === Infinity ? 0 : min;
  });
  return { counts, minMatch };
}

/** PodTopologySpread's Filter; undefined when the node passes, else the failure and whether it is unresolvable. */
export function spreadFilter(hard: SpreadConstraint[], state: HardSpreadState, node: NodeInfo): { reason: string; unresolvable: boolean } | undefined {
  for (let i = 0; i < hard.length; i++) {
    const c = hard[i]!;
    const value = node.labels[c.topologyKey];
    if (value === undefined) return { reason: ERR_NODE_LABEL_NOT_MATCH, unresolvable: true };
    const skew = (state.counts[i]!.get(value) ?? 0) + (c.selfMatch ? 1 : 0) - state.minMatch[i]!;
    if (skew > c.maxSkew) return { reason: ERR_CONSTRAINTS_NOT_MATCH, unresolvable: false };
  }
  return undefined;
}

/**
 * PodTopologySpread's Score and NormalizeScore for the feasible nodes: fewer matching pods in a
 * node's topology domains is better; each count is weighted by log(number of domains + 2) so that
 * small topologies are not drowned by big ones. Returns normalized scores 0..100.
 */
export function spreadScores(
  pod: Pod, spreading: PodSpreading, feasible: NodeInfo[], allNodes: readonly NodeInfo[], required: RequiredNodeAffinity | undefined,
  /** Whether any node carries a label key (most clusters have no zones: skip the zone default then). */
  labelled: (key: string) => boolean,
): number[] {
  const soft = spreading.soft;
  const n = feasible.length;
  // Explicit constraints ignore nodes that lack one of their topology labels; the system defaults
  // do not, so that nodes without a zone still get hostname spreading.
  const ignored: boolean[] | undefined = spreading.systemDefaulted ? undefined : feasible.map((node) => !hasAllKeys(node.labels, soft));
  const considered = ignored ? ignored.filter((x) => !x).length : n;
  const perConstraint = soft.map((c) => {
    if (c.topologyKey === LABEL_HOSTNAME) return { weight: Math.log(considered + 2), values: undefined };
    if (!labelled(c.topologyKey)) return undefined;
    // Matching pods per value of the topology label, over all nodes, for the values feasible nodes have.
    const values = new Map<string, number>();
    let anyFeasibleLabelled = false;
    for (let i = 0; i < n; i++) {
      if (ignored?.[i]) continue;
      const v = feasible[i]!.labels[c.topologyKey];
      if (v !== undefined) anyFeasibleLabelled = true;
      values.set(v ?? '', 0);
    }
    // No feasible node has the label: the constraint adds nothing to any score.
    if (!anyFeasibleLabelled) return undefined;
    for (const node of allNodes) {
      if (ignored && !hasAllKeys(node.labels, soft)) continue;
      const v = node.labels[c.topologyKey] ?? '';
      const current = values.get(v);
      if (current === undefined || !included(c, pod, node, required)) continue;
      values.set(v, current + c.group.count(node));
    }
    return { weight: Math.log(values.size + 2), values };
  });
  const scores = new Array<number>(n);
  let min = Infinity;
  let max = 0;
  for (let i = 0; i < n; i++) {
    if (ignored?.[i]) continue;
    const node = feasible[i]!;
    let score = 0;
    for (let ci = 0; ci < soft.length; ci++) {
      const pc = perConstraint[ci];
      if (!pc) continue;
      const c = soft[ci]!;
      const v = node.labels[c.topologyKey];
      if (v === undefined) continue;
      const cnt = pc.values ? pc.values.get(v)! : c.group.count(node);
      score += cnt * pc.weight + (c.maxSkew - 1);
    }
    const s = Math.round(score);
    scores[i] = s;
    if (s < min) min = s;
    if (s > max) max = s;
  }
  for (let i = 0; i < n; i++) {
    if (ignored?.[i]) scores[i] = 0;
    else scores[i] = max === 0 ? 100 : Math.trunc((100 * (max + min - scores[i]!)) / max);
  }
  return scores;
}

const MEMO_MAX = 10_000;

/**
 * The system-default spreading of pods, remembered by (namespace, controller, labels): every pod of
 * a workload has the same, and working it out (services, owner, selector) for each of 100,000 pods
 * would cost more than placing them. Forget it all when services or ReplicaSets come or go.
 */
export class SpreadingCache {
  private readonly memo = new Map<string, PodSpreading>();

  constructor(private readonly cache: SchedulerCache, private readonly sources: SpreadSources) {}

  invalidate(): void {
    this.memo.clear();
  }

  of(pod: Pod): PodSpreading {
    if (pod.spec?.topologySpreadConstraints?.length) return podSpreading(pod, this.cache, this.sources);
    const owner = controllerRefOf(pod)?.uid ?? '';
    const key = `${pod.metadata?.namespace}\u0000${owner}\u0000${JSON.stringify(pod.metadata?.labels ?? {})}`;
    let s = this.memo.get(key);
    if (s && !s.soft.some((c) => c.group.dead)) {
      const now = Date.now();
      for (const c of s.soft) c.group.lastUsed = now;
      return s;
    }
    s = podSpreading(pod, this.cache, this.sources);
    if (this.memo.size >= MEMO_MAX) this.memo.clear();
    this.memo.set(key, s);
    return s;
  }
}
