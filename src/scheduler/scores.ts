// The default score plugins of kube-scheduler 1.32 with their weights: TaintToleration ×3
// (PreferNoSchedule taints), NodeAffinity ×2 (preferred terms), NodeResourcesFit ×1
// (LeastAllocated on cpu and memory), PodTopologySpread ×2, NodeResourcesBalancedAllocation ×1.
// Every plugin scores 0..100 per node after normalization; the node with the highest weighted sum
// wins, ties broken uniformly at random (upstream's selectHost).
import type { NodeInfo } from './cache.js';
import type { PodContext } from './filters.js';
import { spreadScores } from './spread.js';
import { intolerablePreferNoSchedule } from './taints.js';

const MAX_NODE_SCORE = 100;
const WEIGHT_TAINT_TOLERATION = 3;
const WEIGHT_NODE_AFFINITY = 2;
const WEIGHT_NODE_RESOURCES_FIT = 1;
const WEIGHT_POD_TOPOLOGY_SPREAD = 2;
const WEIGHT_BALANCED_ALLOCATION = 1;

/** framework's DefaultNormalizeScore: scale to 0..100 by the maximum, optionally reversed. */
function normalize(scores: number[], reverse: boolean): number[] {
  let max = 0;
  for (const s of scores) if (s > max) max = s;
  if (max === 0) return scores.map(() => (reverse ? MAX_NODE_SCORE : 0));
  return scores.map((s) => {
    const v = Math.trunc((MAX_NODE_SCORE * s) / max);
    return reverse ? MAX_NODE_SCORE - v : v;
  });
}

function leastRequested(requested: number, capacity: number): number {
  if (capacity === 0 || requested > capacity) return 0;
  return Math.trunc(((capacity - requested) * MAX_NODE_SCORE) / capacity);
}

/** NodeResourcesFit's LeastAllocated over cpu and memory (weight 1 each), with the non-zero requests. */
function leastAllocated(ctx: PodContext, n: NodeInfo): number {
  let score = 0;
  let weights = 0;
  const a = n.allocatable;
  if (a.milliCPU !== 0) {
    score += leastRequested(n.nonZeroCPU + ctx.nonZeroCPU, a.milliCPU);
    weights++;
  }
  if (a.memory !== 0) {
    score += leastRequested(n.nonZeroMemory + ctx.nonZeroMemory, a.memory);
    weights++;
  }
  return weights === 0 ? 0 : Math.trunc(score / weights);
}

/** NodeResourcesBalancedAllocation: 100 × (1 − the spread of cpu and memory utilisation), with the actual requests. */
function balancedAllocation(ctx: PodContext, n: NodeInfo): number {
  const a = n.allocatable;
  // The standard deviation of the cpu and memory fractions is half their difference; with one of
  // the two unknown it is 0.
  if (a.milliCPU === 0 || a.memory === 0) return MAX_NODE_SCORE;
  const cpu = Math.min(1, (n.requested.milliCPU + ctx.requests.milliCPU) / a.milliCPU);
  const memory = Math.min(1, (n.requested.memory + ctx.requests.memory) / a.memory);
  return Math.trunc((1 - Math.abs((cpu - memory) / 2)) * MAX_NODE_SCORE);
}

/** Weighted total score of each feasible node. */
export function scoreNodes(ctx: PodContext, feasible: NodeInfo[], allNodes: readonly NodeInfo[], labelled: (key: string) => boolean): number[] {
  const n = feasible.length;
  const totals = new Array<number>(n);
  let tainted = false;
  for (let i = 0; i < n; i++) {
    const node = feasible[i]!;
    if (node.taints.length) tainted = true;
    totals[i] = WEIGHT_NODE_RESOURCES_FIT * leastAllocated(ctx, node) + WEIGHT_BALANCED_ALLOCATION * balancedAllocation(ctx, node);
  }
  const add = (scores: number[], weight: number) => {
    for (let i = 0; i < n; i++) totals[i] += scores[i]! * weight;
  };
  // TaintToleration scores every node, 100 each when no PreferNoSchedule taint is in the way.
  if (tainted) add(normalize(feasible.map((node) => intolerablePreferNoSchedule(node.taints, ctx.tolerations)), true), WEIGHT_TAINT_TOLERATION);
  else for (let i = 0; i < n; i++) totals[i] += MAX_NODE_SCORE * WEIGHT_TAINT_TOLERATION;
  if (ctx.preferred) add(normalize(feasible.map((node) => ctx.preferred!.score(node)), false), WEIGHT_NODE_AFFINITY);
  if (ctx.spreading.soft.length) add(spreadScores(ctx.pod, ctx.spreading, feasible, allNodes, ctx.required, labelled), WEIGHT_POD_TOPOLOGY_SPREAD);
  return totals;
}

/** The index of a highest-scoring node, chosen uniformly among ties (reservoir sampling as upstream). */
export function selectHost(scores: number[], random: () => number = Math.random): number {
  let best = 0;
  let ties = 1;
  for (let i = 1; i < scores.length; i++) {
    if (scores[i]! > scores[best]!) {
      best = i;
      ties = 1;
    } else if (scores[i] === scores[best]) {
      ties++;
      if (Math.floor(random() * ties) === 0) best = i;
    }
  }
  return best;
}
