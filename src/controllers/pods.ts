// Pod predicates, the controller reference and the deletion ranking shared by workload
// controllers, with upstream's semantics (pkg/api/v1/pod/util.go, pkg/controller/controller_utils.go,
// apimachinery's GetControllerOf).
import type { Pod, PodCondition } from 'kubernetes-types/core/v1.js';
import type { OwnerReference } from 'kubernetes-types/meta/v1.js';
import type { KObject } from '../api/types.js';

/** A Pod as it comes out of an informer (metadata always present). */
export type PodObject = Pod & KObject;

/** GetControllerOf: the owner reference marked as the controller, if any. */
export function controllerRefOf(o: { metadata?: { ownerReferences?: OwnerReference[] } }): OwnerReference | undefined {
  return o.metadata?.ownerReferences?.find((r) => r.controller);
}

/** The annotation by which users rank pods for scale-down (PodDeletionCost, on by default). */
export const POD_DELETION_COST_ANNOTATION = 'controller.kubernetes.io/pod-deletion-cost';

/** Upstream's IsPodActive: not finished and not being deleted. */
export function isPodActive(p: Pod): boolean {
  const phase = p.status?.phase;
  return phase !== 'Succeeded' && phase !== 'Failed' && !p.metadata?.deletionTimestamp;
}

export function podReadyCondition(p: Pod): PodCondition | undefined {
  return p.status?.conditions?.find((c) => c.type === 'Ready');
}

export function isPodReady(p: Pod): boolean {
  return podReadyCondition(p)?.status === 'True';
}

/** Ready for at least minReadySeconds (upstream's IsPodAvailable). */
export function isPodAvailable(p: Pod, minReadySeconds: number, now: number): boolean {
  const c = podReadyCondition(p);
  if (c?.status !== 'True') return false;
  if (!minReadySeconds) return true;
  const since = c.lastTransitionTime ? Date.parse(c.lastTransitionTime) : NaN;
  return !Number.isNaN(since) && since + minReadySeconds * 1000 < now;
}

/** `namespace/name`, upstream's PodKey as used by expectations. */
export function podKey(p: Pod): string {
  return `${p.metadata?.namespace}/${p.metadata?.name}`;
}

const PHASE_ORDINAL: Record<string, number> = { Pending: 0, Unknown: 1, Running: 2 };

/** Go's strconv.ParseInt(v, 10, 32); anything else means cost 0, as upstream ignores the error. */
function deletionCost(p: Pod): number {
  const v = p.metadata?.annotations?.[POD_DELETION_COST_ANNOTATION];
  if (v === undefined || !/^[+-]?\d+$/.test(v)) return 0;
  const n = Number(v);
  return n >= -(2 ** 31) && n < 2 ** 31 ? n : 0;
}

function time(t: string | undefined): number | undefined {
  if (!t) return undefined;
  const ms = Date.parse(t);
  return Number.isNaN(ms) ? undefined : ms;
}

/** Upstream's afterOrZero: a missing time sorts first, otherwise the later one does. */
function afterOrZero(t1: number | undefined, t2: number | undefined): boolean {
  if (t1 === undefined || t2 === undefined) return t1 === undefined;
  return t1 > t2;
}

/**
 * Upstream's logarithmicRankDiff (LogarithmicScaleDown, on by default): pods whose ages fall in the
 * same power-of-two bucket (of nanoseconds) rank equally, so scale-down does not always pick the
 * very newest pod.
 */
function logarithmicRankDiff(t1: number, t2: number, now: number): number {
  const rank = (t: number) => {
    const ns = (now - t) * 1e6;
    return ns > 0 ? Math.floor(Math.log2(ns)) : -1;
  };
  return rank(t1) - rank(t2);
}

function maxContainerRestarts(p: Pod): { regular: number; sidecar: number } {
  let regular = 0, sidecar = 0;
  for (const c of p.status?.containerStatuses ?? []) regular = Math.max(regular, c.restartCount ?? 0);
  const sidecars = new Set((p.spec?.initContainers ?? []).filter((c) => c.restartPolicy === 'Always').map((c) => c.name));
  for (const c of p.status?.initContainerStatuses ?? []) if (sidecars.has(c.name)) sidecar = Math.max(sidecar, c.restartCount ?? 0);
  return { regular, sidecar };
}

function uidLess(a: Pod, b: Pod): boolean {
  return (a.metadata?.uid ?? '') < (b.metadata?.uid ?? '');
}

/**
 * Upstream's ActivePodsWithRanks.Less: true when pod `a` should be deleted before pod `b`.
 * `rankA`/`rankB` count the related active pods on each pod's node (doubled-up pods go first).
 */
export function deleteBefore(a: Pod, rankA: number, b: Pod, rankB: number, now: number): boolean {
  const nodeA = a.spec?.nodeName ?? '', nodeB = b.spec?.nodeName ?? '';
  // 1. Unassigned < assigned.
  if (nodeA !== nodeB && (nodeA === '' || nodeB === '')) return nodeA === '';
  // 2. Pending < Unknown < Running.
  const phaseA = PHASE_ORDINAL[a.status?.phase ?? ''] ?? 0, phaseB = PHASE_ORDINAL[b.status?.phase ?? ''] ?? 0;
  if (phaseA !== phaseB) return phaseA < phaseB;
  // 3. Not ready < ready.
  const readyA = isPodReady(a), readyB = isPodReady(b);
  if (readyA !== readyB) return !readyA;
  // 4. Lower pod-deletion-cost < higher.
  const costA = deletionCost(a), costB = deletionCost(b);
  if (costA !== costB) return costA < costB;
  // 5. Doubled up < not doubled up.
  if (rankA !== rankB) return rankA > rankB;
  // 6. Ready for a shorter time < longer (in logarithmic buckets).
  if (readyA && readyB) {
    const tA = time(podReadyCondition(a)?.lastTransitionTime), tB = time(podReadyCondition(b)?.lastTransitionTime);
    if (tA !== tB) {
      if (tA === undefined || tB === undefined) return afterOrZero(tA, tB);
      const d = logarithmicRankDiff(tA, tB, now);
      return d === 0 ? uidLess(a, b) : d < 0;
    }
  }
  // 7. More container restarts < fewer.
  const rA = maxContainerRestarts(a), rB = maxContainerRestarts(b);
  if (rA.regular !== rB.regular) return rA.regular > rB.regular;
  if (rA.sidecar !== rB.sidecar) return rA.sidecar > rB.sidecar;
  // 8. Newer < older (in logarithmic buckets); no creation time first.
  const cA = time(a.metadata?.creationTimestamp), cB = time(b.metadata?.creationTimestamp);
  if (cA !== cB) {
    if (cA === undefined || cB === undefined) return afterOrZero(cA, cB);
    const d = logarithmicRankDiff(cA, cB, now);
    return d === 0 ? uidLess(a, b) : d < 0;
  }
  return false;
}

/**
 * Pods in the order upstream deletes them (getPodsToDelete): ranked by deleteBefore, where a
 * pod's rank is the number of active `related` pods on its node.
 */
export function rankPodsForDeletion<P extends Pod>(pods: P[], related: Pod[], now: number): P[] {
  const onNode = new Map<string, number>();
  for (const p of related) {
    if (!isPodActive(p)) continue;
    const n = p.spec?.nodeName ?? '';
    onNode.set(n, (onNode.get(n) ?? 0) + 1);
  }
  const ranked = pods.map((pod) => ({ pod, rank: onNode.get(pod.spec?.nodeName ?? '') ?? 0 }));
  ranked.sort((x, y) => (deleteBefore(x.pod, x.rank, y.pod, y.rank, now) ? -1 : deleteBefore(y.pod, y.rank, x.pod, x.rank, now) ? 1 : 0));
  return ranked.map((r) => r.pod);
}
