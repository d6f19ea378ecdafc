// Taints and tolerations as upstream matches them (k8s.io/api/core/v1 toleration.go, taint.go;
// pkg/apis/core/v1/helper GetMatchingTolerations), and the taint writes the node controllers
// share (pkg/controller/controller_utils.go AddOrUpdateTaintOnNode / RemoveTaintOffNode).
import type { Node, Taint, Toleration } from 'kubernetes-types/core/v1.js';
import type { RestClient } from '../client/rest.js';
import { isConflict } from '../client/rest.js';
import type { KObject } from '../api/types.js';

export const TAINT_NODE_NOT_READY = 'node.kubernetes.io/not-ready';
export const TAINT_NODE_UNREACHABLE = 'node.kubernetes.io/unreachable';
export const TAINT_NODE_UNSCHEDULABLE = 'node.kubernetes.io/unschedulable';
export const TAINT_NODE_OUT_OF_SERVICE = 'node.kubernetes.io/out-of-service';

/** Toleration.ToleratesTaint. */
export function toleratesTaint(t: Toleration, taint: Taint): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  if (t.key && t.key !== taint.key) return false;
  switch (t.operator ?? 'Equal') {
    case 'Equal': return (t.value ?? '') === (taint.value ?? '');
    case 'Exists': return true;
    default: return false;
  }
}

/** GetMatchingTolerations: whether every taint is tolerated, and the first toleration of each. */
export function matchingTolerations(taints: Taint[], tolerations: Toleration[]): { all: boolean; used: Toleration[] } {
  if (!taints.length) return { all: true, used: [] };
  const used: Toleration[] = [];
  for (const taint of taints) {
    const t = tolerations.find((x) => toleratesTaint(x, taint));
    if (!t) return { all: false, used: [] };
    used.push(t);
  }
  return { all: true, used };
}

/** Taint.MatchTaint: same key and effect. */
export const sameTaint = (a: Taint, b: Taint) => a.key === b.key && a.effect === b.effect;

const nowRFC3339 = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * Add taints (replacing one of the same key and effect unless it is already equal, so timeAdded
 * is kept) and remove others, in one update of the node; conflicts are retried with a fresh read.
 * Returns whether the node is (now) as asked.
 */
export async function swapNodeTaints(client: RestClient, cached: (Node & KObject) | undefined, name: string, add: Taint[], remove: Taint[]): Promise<boolean> {
  let node = cached;
  for (let attempt = 0; attempt < 5; attempt++) {
    if (!node || attempt > 0) node = await client.get<Node & KObject>(`/api/v1/nodes/${name}`);
    const current = node.spec?.taints ?? [];
    let next = current.filter((t) => !remove.some((r) => sameTaint(r, t)));
    for (const a of add) {
      const existing = next.find((t) => sameTaint(t, a));
      if (existing && (existing.value ?? '') === (a.value ?? '')) continue;
      next = next.filter((t) => !sameTaint(t, a));
      next.push({ ...a, timeAdded: nowRFC3339() });
    }
    if (next.length === current.length && next.every((t, i) => t === current[i])) return true;
    try {
      await client.update(`/api/v1/nodes/${name}`, { ...node, spec: { ...node.spec, taints: next.length ? next : undefined } });
      return true;
    } catch (e) {
      if (!isConflict(e)) throw e;
    }
  }
  return false;
}
