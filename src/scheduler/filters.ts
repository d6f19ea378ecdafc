// The default filter plugins of kube-scheduler 1.32, in upstream's order, each with its exact
// failure reasons: NodeUnschedulable, TaintToleration, NodeAffinity (nodeSelector and required
// node affinity), NodePorts, NodeResourcesFit, PodTopologySpread (hard constraints). A node fails
// at the first plugin that rejects it (as upstream's RunFilterPlugins), so each node contributes
// the reasons of one plugin to the FailedScheduling message.
import type { Pod, Toleration } from 'kubernetes-types/core/v1.js';
import { podDemand, type NodeInfo, type PodDemand, type SchedulerCache } from './cache.js';
import { nodeNamesFromAffinity, PreferredNodeAffinity, RequiredNodeAffinity } from './node-affinity.js';
import { hardSpreadState, spreadFilter, type HardSpreadState, type PodSpreading, type SpreadingCache } from './spread.js';
import { firstUntoleratedTaint, tolerated, TAINT_UNSCHEDULABLE } from './taints.js';

export const ERR_UNSCHEDULABLE = 'node(s) were unschedulable';
export const ERR_NODE_AFFINITY = "node(s) didn't match Pod's node affinity/selector";
export const ERR_NODE_PORTS = "node(s) didn't have free ports for the requested pod ports";
export const ERR_AFFINITY_CONFLICT = 'pod affinity terms conflict';

export type StatusCode = 'Unschedulable' | 'UnschedulableAndUnresolvable';

/** Why one node cannot take the pod (upstream's framework.Status of the rejecting plugin). */
export interface NodeStatus {
  code: StatusCode;
  reasons: string[];
  plugin: string;
}

/** Everything a scheduling cycle needs about the pod, computed once (upstream's CycleState). */
export interface PodContext extends PodDemand {
  pod: Pod;
  key: string;
  namespace: string;
  priority: number;
  tolerations?: Toleration[];
  required?: RequiredNodeAffinity;
  preferred?: PreferredNodeAffinity;
  /** NodeAffinity's PreFilter result: only these nodes are considered. */
  nodeNames?: Set<string> | 'conflict';
  spreading: PodSpreading;
  hardSpread?: HardSpreadState;
}

export function podContext(pod: Pod, cache: SchedulerCache, spreading: SpreadingCache): PodContext {
  const demand = podDemand(pod);
  const ctx: PodContext = {
    pod,
    key: `${pod.metadata?.namespace}/${pod.metadata?.name}`,
    namespace: pod.metadata?.namespace ?? '',
    priority: pod.spec?.priority ?? 0,
    requests: demand.requests,
    nonZeroCPU: demand.nonZeroCPU,
    nonZeroMemory: demand.nonZeroMemory,
    ports: demand.ports,
    tolerations: pod.spec?.tolerations,
    required: RequiredNodeAffinity.of(pod),
    preferred: PreferredNodeAffinity.of(pod),
    nodeNames: nodeNamesFromAffinity(pod),
    spreading: spreading.of(pod),
  };
  if (ctx.spreading.hard.length) ctx.hardSpread = hardSpreadState(pod, ctx.spreading.hard, cache.nodes, ctx.required);
  return ctx;
}

const UNSCHEDULABLE_TAINT = { key: TAINT_UNSCHEDULABLE, effect: 'NoSchedule' as const };

/** NodeResourcesFit's reasons, in upstream's order: pods, cpu, memory, ephemeral-storage, then scalars. */
export function insufficientResources(ctx: PodContext, node: NodeInfo): string[] | undefined {
  let out: string[] | undefined;
  if (node.pods.size + 1 > node.allowedPodNumber) (out ??= []).push('Too many pods');
  const r = ctx.requests;
  if (r.milliCPU === 0 && r.memory === 0 && r.ephemeralStorage === 0 && !r.scalars?.size) return out;
  const a = node.allocatable;
  const used = node.requested;
  if (r.milliCPU > 0 && r.milliCPU > a.milliCPU - used.milliCPU) (out ??= []).push('Insufficient cpu');
  if (r.memory > 0 && r.memory > a.memory - used.memory) (out ??= []).push('Insufficient memory');
  if (r.ephemeralStorage > 0 && r.ephemeralStorage > a.ephemeralStorage - used.ephemeralStorage) (out ??= []).push('Insufficient ephemeral-storage');
  if (r.scalars) {
    for (const [name, q] of r.scalars) {
      if (q === 0) continue;
      if (q > (a.scalars?.get(name) ?? 0) - (used.scalars?.get(name) ?? 0)) (out ??= []).push(`Insufficient ${name}`);
    }
  }
  return out;
}

/** Run the filters on one node; undefined when the node fits. */
export function filterNode(ctx: PodContext, node: NodeInfo): NodeStatus | undefined {
  if (node.unschedulable && !tolerated(ctx.tolerations, UNSCHEDULABLE_TAINT)) {
    return { code: 'UnschedulableAndUnresolvable', reasons: [ERR_UNSCHEDULABLE], plugin: 'NodeUnschedulable' };
  }
  if (node.taints.length) {
    const taint = firstUntoleratedTaint(node.taints, ctx.tolerations);
    if (taint) {
      return { code: 'UnschedulableAndUnresolvable', reasons: [`node(s) had untolerated taint {${taint.key}: ${taint.value ?? ''}}`], plugin: 'TaintToleration' };
    }
  }
  if (ctx.required && !ctx.required.matches(node)) {
    return { code: 'UnschedulableAndUnresolvable', reasons: [ERR_NODE_AFFINITY], plugin: 'NodeAffinity' };
  }
  if (ctx.ports.length && !node.ports.empty) {
    for (const p of ctx.ports) {
      if (node.ports.conflicts(p)) return { code: 'Unschedulable', reasons: [ERR_NODE_PORTS], plugin: 'NodePorts' };
    }
  }
  const insufficient = insufficientResources(ctx, node);
  if (insufficient) return { code: 'Unschedulable', reasons: insufficient, plugin: 'NodeResourcesFit' };
  if (ctx.hardSpread) {
    const f = spreadFilter(ctx.spreading.hard, ctx.hardSpread, node);
    if (f) return { code: f.unresolvable ? 'UnschedulableAndUnresolvable' : 'Unschedulable', reasons: [f.reason], plugin: 'PodTopologySpread' };
  }
  return undefined;
}
