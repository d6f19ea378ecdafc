// Why a pod fits nowhere, worded as kube-scheduler 1.32 words it (framework.FitError.Error):
// `0/N nodes are available: <histogram of per-node reasons, sorted>. <post-filter message>` —
// e.g. `0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint {k: v}.
// preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption
// is not helpful for scheduling.`
import type { NodeStatus } from './filters.js';

export const NO_NODES_AVAILABLE = 'no nodes available to schedule pods';

export interface Diagnosis {
  numAllNodes: number;
  /** The status of each node that was filtered out. */
  statuses: Map<string, NodeStatus>;
  /** The status of every node not in `statuses` (those a PreFilter ruled out). */
  absent?: NodeStatus;
  /** A PreFilter rejected the pod outright with this message. */
  preFilterMsg?: string;
  /** Plugins that rejected the pod on some node (which cluster events may help it). */
  plugins: Set<string>;
}

export function newDiagnosis(numAllNodes: number): Diagnosis {
  return { numAllNodes, statuses: new Map(), plugins: new Set() };
}

/** The status of a node in the diagnosis (explicit, else the absent-nodes status). */
export function statusOf(d: Diagnosis, nodeName: string): NodeStatus | undefined {
  return d.statuses.get(nodeName) ?? d.absent;
}

export function fitErrorMessage(d: Diagnosis, postFilterMsg?: string): string {
  let msg = `0/${d.numAllNodes} nodes are available:`;
  if (d.preFilterMsg) {
    msg += ` ${d.preFilterMsg}.`;
  } else {
    const histogram = new Map<string, number>();
    for (const s of d.statuses.values()) for (const r of s.reasons) histogram.set(r, (histogram.get(r) ?? 0) + 1);
    const absentCount = d.numAllNodes - d.statuses.size;
    if (d.absent && absentCount > 0) for (const r of d.absent.reasons) histogram.set(r, (histogram.get(r) ?? 0) + absentCount);
    // Go's sort.Strings: plain byte order of "<count> <reason>".
    const parts = [...histogram].map(([r, n]) => `${n} ${r}`).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    if (parts.length) msg += ` ${parts.join(', ')}.`;
  }
  if (postFilterMsg) msg += ` ${postFilterMsg}`;
  return msg;
}

/** Events and conditions carry at most 1024 characters (validation.NoteLengthLimit). */
export function truncateMessage(msg: string): string {
  const max = 1024;
  return msg.length <= max ? msg : `${msg.slice(0, max - 4)} ...`;
}
