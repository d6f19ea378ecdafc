// Taints and tolerations with upstream's matching (core/v1 Toleration.ToleratesTaint), and the
// taints a node carries for scheduling.
import type { Node, Taint, Toleration } from 'kubernetes-types/core/v1.js';

export const TAINT_NOT_READY = 'node.kubernetes.io/not-ready';
export const TAINT_UNREACHABLE = 'node.kubernetes.io/unreachable';
export const TAINT_UNSCHEDULABLE = 'node.kubernetes.io/unschedulable';

/** An empty effect matches every effect, an empty key (with Exists) every key; an empty operator means Equal. */
export function toleratesTaint(t: Toleration, taint: Taint): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  if (t.key && t.key !== taint.key) return false;
  switch (t.operator ?? '') {
    case '':
    case 'Equal':
      return (t.value ?? '') === (taint.value ?? '');
    case 'Exists':
      return true;
    default:
      return false;
  }
}

export function tolerated(tolerations: Toleration[] | undefined, taint: Taint): boolean {
  if (!tolerations) return false;
  for (const t of tolerations) if (toleratesTaint(t, taint)) return true;
  return false;
}

/**
 * The taints the scheduler sees on a node: its own, plus the condition taint upstream's node
 * lifecycle controller puts on a node that is not Ready (not-ready when Ready is False or not yet
 * reported, unreachable when Unknown), so that an unready node repels pods with upstream's message
 * and pods that tolerate the condition still go there.
 */
export function schedulingTaints(node: Node): Taint[] {
  const taints = node.spec?.taints ?? [];
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready')?.status;
  if (ready === 'True') return taints;
  const key = ready === 'Unknown' ? TAINT_UNREACHABLE : TAINT_NOT_READY;
  if (taints.some((t) => t.key === key && t.effect === 'NoSchedule')) return taints;
  return [...taints, { key, effect: 'NoSchedule' }];
}

/** TaintToleration's filter: the first NoSchedule/NoExecute taint the pod does not tolerate. */
export function firstUntoleratedTaint(taints: Taint[], tolerations: Toleration[] | undefined): Taint | undefined {
  for (const taint of taints) {
    if (taint.effect !== 'NoSchedule' && taint.effect !== 'NoExecute') continue;
    if (!tolerated(tolerations, taint)) return taint;
  }
  return undefined;
}

/** TaintToleration's score input: PreferNoSchedule taints not tolerated by the pod's (PreferNoSchedule or any-effect) tolerations. */
export function intolerablePreferNoSchedule(taints: Taint[], tolerations: Toleration[] | undefined): number {
  let n = 0;
  const prefer = tolerations?.filter((t) => !t.effect || t.effect === 'PreferNoSchedule');
  for (const taint of taints) if (taint.effect === 'PreferNoSchedule' && !tolerated(prefer, taint)) n++;
  return n;
}
