// DefaultPreemption (upstream's PostFilter): when a pod fits nowhere, find nodes where evicting
// pods of lower priority would make room, choose the one where that hurts least, and report why
// preemption cannot help otherwise — the `preemption: ...` half of the FailedScheduling message.
// PodDisruptionBudgets do not exist in kubelite, so none is violated.
import type { NodeInfo, PodRecord } from './cache.js';
import { fitErrorMessage, newDiagnosis, statusOf, type Diagnosis } from './fit-error.js';
import type { NodeStatus, PodContext } from './filters.js';

export const PREEMPTION_NOT_HELPFUL = 'Preemption is not helpful for scheduling';
export const NO_PREEMPTION_VICTIMS = 'No preemption victims found for incoming pod';

export interface PreemptionCandidate {
  node: NodeInfo;
  /** Most important first. */
  victims: PodRecord[];
}

export interface PreemptionResult {
  /** The PostFilter message (empty when a candidate was found). */
  message: string;
  candidate?: PreemptionCandidate;
}

function startTime(r: PodRecord, now: number): number {
  const t = r.pod.status?.startTime;
  return t ? Date.parse(t) : now;
}

/** upstream's MoreImportantPod: higher priority first, then the one that started earlier. */
function moreImportantFirst(now: number) {
  return (a: PodRecord, b: PodRecord) => (a.priority !== b.priority ? b.priority - a.priority : startTime(a, now) - startTime(b, now));
}

/**
 * SelectVictimsOnNode: remove every lower-priority pod; if the pod then fits, add them back one by
 * one, most important first, keeping each that still leaves room. The node is left as it was.
 */
function selectVictims(ctx: PodContext, node: NodeInfo, fits: (n: NodeInfo) => NodeStatus | undefined, now: number): PodRecord[] | NodeStatus {
  const lower = [...node.pods].filter((p) => p.priority < ctx.priority);
  if (lower.length === 0) return { code: 'UnschedulableAndUnresolvable', reasons: [NO_PREEMPTION_VICTIMS], plugin: 'DefaultPreemption' };
  const removed = new Set<PodRecord>();
  for (const p of lower) {
    node.addPod(p, -1);
    removed.add(p);
  }
  try {
    const status = fits(node);
    if (status) return status;
    const victims: PodRecord[] = [];
    for (const p of lower.sort(moreImportantFirst(now))) {
      node.addPod(p, 1);
      removed.delete(p);
      if (fits(node)) {
        node.addPod(p, -1);
        removed.add(p);
        victims.push(p);
      }
    }
    return victims;
  } finally {
    for (const p of removed) node.addPod(p, 1);
  }
}

const MAX_INT32 = 2 ** 31 - 1;

/** pickOneNodeForPreemption's criteria, in order: lowest highest-priority victim, lowest priority sum, fewest victims, latest start of the most important victims. */
function pickCandidate(candidates: PreemptionCandidate[], now: number): PreemptionCandidate {
  const narrow = (list: PreemptionCandidate[], key: (c: PreemptionCandidate) => number) => {
    const best = Math.min(...list.map(key));
    return list.filter((c) => key(c) === best);
  };
  let list = narrow(candidates, (c) => c.victims[0]?.priority ?? -Infinity);
  if (list.length > 1) list = narrow(list, (c) => c.victims.reduce((s, v) => s + v.priority + MAX_INT32 + 1, 0));
  if (list.length > 1) list = narrow(list, (c) => c.victims.length);
  if (list.length > 1) {
    list = narrow(list, (c) => {
      const top = c.victims[0]?.priority;
      const earliest = Math.min(...c.victims.filter((v) => v.priority === top).map((v) => startTime(v, now)));
      return -earliest;
    });
  }
  return list[0]!;
}

export function preempt(ctx: PodContext, diagnosis: Diagnosis, nodes: readonly NodeInfo[], fits: (n: NodeInfo) => NodeStatus | undefined): PreemptionResult {
  const spec = ctx.pod.spec;
  if (spec?.preemptionPolicy === 'Never') return { message: 'preemption: not eligible due to preemptionPolicy=Never.' };
  const nominated = ctx.pod.status?.nominatedNodeName;
  if (nominated) {
    const node = nodes.find((n) => n.name === nominated);
    const st = statusOf(diagnosis, nominated);
    if (node && st?.code !== 'UnschedulableAndUnresolvable') {
      for (const p of node.pods) {
        if (p.priority < ctx.priority && p.terminating) return { message: 'preemption: not eligible due to a terminating pod on the nominated node.' };
      }
    }
  }
  const now = Date.now();
  const result = newDiagnosis(nodes.length);
  result.absent = { code: 'UnschedulableAndUnresolvable', reasons: [PREEMPTION_NOT_HELPFUL], plugin: 'DefaultPreemption' };
  const candidates: PreemptionCandidate[] = [];
  for (const node of nodes) {
    const st = statusOf(diagnosis, node.name);
    if (!st || st.code === 'UnschedulableAndUnresolvable') {
      result.statuses.set(node.name, result.absent);
      continue;
    }
    const victims = selectVictims(ctx, node, fits, now);
    if (Array.isArray(victims)) candidates.push({ node, victims });
    else result.statuses.set(node.name, victims);
  }
  if (candidates.length === 0) return { message: `preemption: ${fitErrorMessage(result)}` };
  return { message: '', candidate: pickCandidate(candidates, now) };
}
