// The API status of a pod on this node, computed as the kubelet does (pkg/kubelet/kubelet_pods.go
// generateAPIPodStatus / getPhase, pkg/kubelet/status/generate.go): the phase from the container
// states, the conditions the kubelet owns (PodReadyToStartContainers, Initialized, Ready,
// ContainersReady, PodScheduled) with readiness gates honoured, and everything else carried over
// from the status the API holds.
import type { Container, ContainerStatus, Pod, PodCondition, PodStatus } from 'kubernetes-types/core/v1.js';
import { isSidecar, type RuntimePodStatus } from './runtime.js';

/** Conditions the kubelet writes; every other condition belongs to someone else and is kept. */
const KUBELET_CONDITIONS = new Set(['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled']);

export const DEADLINE_EXCEEDED_REASON = 'DeadlineExceeded';
export const DEADLINE_EXCEEDED_MESSAGE = 'Pod was active on the node longer than the specified deadline';

export interface PodStatusInputs {
  hostIP: string;
  /** The sandbox's IPs; shown once the runtime reports the sandbox ready. */
  podIPs: string[];
  /** Undefined while the pod has no sandbox yet (e.g. the node has no podCIDR). */
  runtime?: RuntimePodStatus;
  /** Nothing of the pod runs any more and nothing will be restarted (deletion, deadline). */
  podIsTerminal: boolean;
  deadlineExceeded?: boolean;
  /** RFC 3339 time used for new transitions. */
  now: string;
}

/** Go's %s of a []string: `[a b]`. */
const goList = (names: string[]) => `[${names.join(' ')}]`;

/** The status of a container the runtime has not created yet. */
export function waitingStatus(c: Container, reason: string): ContainerStatus {
  return { name: c.name, state: { waiting: { reason } }, lastState: {}, ready: false, restartCount: 0, image: c.image ?? '', imageID: '', started: false };
}

/** getPhase (pkg/kubelet/kubelet_pods.go, v1.32). */
export function podPhase(pod: Pod, initStatuses: ContainerStatus[], statuses: ContainerStatus[], podIsTerminal: boolean): string {
  const spec = pod.spec!;
  const initByName = new Map(initStatuses.map((s) => [s.name, s]));
  const byName = new Map(statuses.map((s) => [s.name, s]));
  let pendingRegularInit = 0;
  let pendingSidecars = 0;
  let failedInit = 0;
  for (const c of spec.initContainers ?? []) {
    if (isSidecar(c)) continue;
    const s = initByName.get(c.name);
    if (!s || s.state?.running) pendingRegularInit++;
    else if (s.state?.terminated) {
      if (s.state.terminated.exitCode !== 0) failedInit++;
    } else if (s.state?.waiting && s.lastState?.terminated) {
      if (s.lastState.terminated.exitCode !== 0) failedInit++;
    } else pendingRegularInit++;
  }
  let unknown = 0, running = 0, waiting = 0, stopped = 0, succeeded = 0;
  for (const c of spec.initContainers ?? []) {
    if (!isSidecar(c)) continue;
    const s = initByName.get(c.name);
    if (!s) unknown++;
    else if (s.state?.running) {
      if (!s.started) pendingSidecars++;
      running++;
    } else if (s.state?.terminated) {
      // Terminated sidecars do not count towards the phase.
    } else if (s.state?.waiting) {
      if (!s.lastState?.terminated) {
        pendingSidecars++;
        waiting++;
      }
    } else {
      pendingSidecars++;
      unknown++;
    }
  }
  for (const c of spec.containers) {
    const s = byName.get(c.name);
    if (!s) unknown++;
    else if (s.state?.running) running++;
    else if (s.state?.terminated) {
      stopped++;
      if (s.state.terminated.exitCode === 0) succeeded++;
    } else if (s.state?.waiting) {
      if (s.lastState?.terminated) stopped++;
      else waiting++;
    } else unknown++;
  }
  const restartPolicy = spec.restartPolicy ?? 'Always';
  if (failedInit > 0 && restartPolicy === 'Never') return 'Failed';
  if (pendingRegularInit > 0 || (pendingSidecars > 0 && running === 0 && stopped === 0)) {
    // A terminal pod whose init containers never finished failed.
    return podIsTerminal ? 'Failed' : 'Pending';
  }
  if (waiting > 0) return podIsTerminal ? 'Failed' : 'Pending';
  if (running > 0 && unknown === 0) return 'Running';
  if (running === 0 && stopped > 0 && unknown === 0) {
    // A terminal pod's containers will not be restarted whatever the restart policy says.
    if (podIsTerminal) return stopped === succeeded ? 'Succeeded' : 'Failed';
    if (restartPolicy === 'Always') return 'Running';
    if (stopped === succeeded) return 'Succeeded';
    if (restartPolicy === 'Never') return 'Failed';
    return 'Running';
  }
  return 'Pending';
}

interface Cond { status: string; reason?: string; message?: string }

/** GeneratePodInitializedCondition. */
function initializedCondition(pod: Pod, initStatuses: ContainerStatus[], phase: string): Cond {
  const inits = pod.spec?.initContainers ?? [];
  if (!inits.length) return { status: 'True' };
  const byName = new Map(initStatuses.map((s) => [s.name, s]));
  const unknown: string[] = [];
  const incomplete: string[] = [];
  for (const c of inits) {
    const s = byName.get(c.name);
    if (!s) unknown.push(c.name);
    else if (isSidecar(c) ? !s.started : !(s.state?.terminated && s.state.terminated.exitCode === 0)) incomplete.push(c.name);
  }
  if (!unknown.length && !incomplete.length) return { status: 'True' };
  if (phase === 'Succeeded' && !unknown.length) return { status: 'False', reason: 'PodCompleted' };
  const messages: string[] = [];
  if (unknown.length) messages.push(`containers with unknown status: ${goList(unknown)}`);
  if (incomplete.length) messages.push(`containers with incomplete status: ${goList(incomplete)}`);
  return { status: 'False', reason: 'ContainersNotInitialized', message: messages.join(', ') };
}

/** GenerateContainersReadyCondition: regular containers and sidecars. */
function containersReadyCondition(pod: Pod, initStatuses: ContainerStatus[], statuses: ContainerStatus[], phase: string): Cond {
  const byName = new Map([...initStatuses, ...statuses].map((s) => [s.name, s]));
  const unknown: string[] = [];
  const unready: string[] = [];
  const check = (c: Container) => {
    const s = byName.get(c.name);
    if (!s) unknown.push(c.name);
    else if (!s.ready) unready.push(c.name);
  };
  for (const c of pod.spec?.initContainers ?? []) if (isSidecar(c)) check(c);
  for (const c of pod.spec?.containers ?? []) check(c);
  if (phase === 'Succeeded' && !unknown.length) return { status: 'False', reason: 'PodCompleted' };
  if (!unknown.length && !unready.length) return { status: 'True' };
  const messages: string[] = [];
  if (unknown.length) messages.push(`containers with unknown status: ${goList(unknown)}`);
  if (unready.length) messages.push(`containers with unready status: ${goList(unready)}`);
  return { status: 'False', reason: 'ContainersNotReady', message: messages.join(', ') };
}

/** GeneratePodReadyCondition: containers ready, and every readiness gate's condition True. */
function readyCondition(pod: Pod, containersReady: Cond, conditions: PodCondition[]): Cond {
  if (containersReady.status !== 'True') return containersReady;
  const unready: string[] = [];
  for (const gate of pod.spec?.readinessGates ?? []) {
    const c = conditions.find((x) => x.type === gate.conditionType);
    if (!c) unready.push(`corresponding condition of pod readiness gate "${gate.conditionType}" does not exist.`);
    else if (c.status !== 'True') unready.push(`the status of pod readiness gate "${gate.conditionType}" is not "True", but ${c.status}`);
  }
  if (unready.length) return { status: 'False', reason: 'ReadinessGatesNotReady', message: unready.join(', ') };
  return { status: 'True' };
}

/** Sorted by name, as the kubelet reports regular containers. */
const byContainerName = (a: ContainerStatus, b: ContainerStatus) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/**
 * The status the kubelet would write for `pod`, given the status the API holds now (`base`):
 * lastTransitionTime moves only when a condition's status changes, and fields other components
 * own (qosClass, nominatedNodeName, foreign conditions...) are carried over.
 */
export function buildPodStatus(pod: Pod, base: PodStatus, inputs: PodStatusInputs): PodStatus {
  const spec = pod.spec!;
  const rs = inputs.runtime;
  const hasInit = (spec.initContainers ?? []).length > 0;
  const pendingReason = hasInit ? 'PodInitializing' : 'ContainerCreating';
  const initStatuses = rs?.initContainerStatuses ?? (spec.initContainers ?? []).map((c) => waitingStatus(c, pendingReason));
  const statuses = [...(rs?.containerStatuses ?? spec.containers.map((c) => waitingStatus(c, pendingReason)))].sort(byContainerName);

  let phase = inputs.deadlineExceeded ? 'Failed' : podPhase(pod, initStatuses, statuses, inputs.podIsTerminal);
  // A pod never leaves a terminal phase.
  if (base.phase === 'Succeeded' || base.phase === 'Failed') phase = base.phase;

  const baseConditions = base.conditions ?? [];
  const containersReady = containersReadyCondition(pod, initStatuses, statuses, phase);
  const owned: [string, Cond][] = [
    ['PodReadyToStartContainers', { status: rs?.sandboxReady ? 'True' : 'False' }],
    ['Initialized', initializedCondition(pod, initStatuses, phase)],
    ['Ready', readyCondition(pod, containersReady, baseConditions)],
    ['ContainersReady', containersReady],
  ];
  const conditions: PodCondition[] = baseConditions.filter((c) => !KUBELET_CONDITIONS.has(c.type));
  for (const [type, c] of owned) {
    const old = baseConditions.find((x) => x.type === type);
    const condition: PodCondition = {
      type, status: c.status, lastProbeTime: null as unknown as string,
      lastTransitionTime: old && old.status === c.status && old.lastTransitionTime ? old.lastTransitionTime : inputs.now,
    };
    if (c.reason) condition.reason = c.reason;
    if (c.message) condition.message = c.message;
    conditions.push(condition);
  }
  // The scheduler's binding sets PodScheduled; a pod created with spec.nodeName gets it here.
  conditions.push(baseConditions.find((x) => x.type === 'PodScheduled')
    ?? { type: 'PodScheduled', status: 'True', lastProbeTime: null as unknown as string, lastTransitionTime: inputs.now });

  const status: PodStatus = { ...base, phase, conditions, hostIP: inputs.hostIP, hostIPs: [{ ip: inputs.hostIP }] };
  // Pod IPs appear with the sandbox and stay after it is gone, as the kubelet keeps them.
  if (!base.podIPs?.length && rs?.sandboxReady && inputs.podIPs.length) {
    status.podIP = inputs.podIPs[0];
    status.podIPs = inputs.podIPs.map((ip) => ({ ip }));
  }
  status.startTime = base.startTime ?? inputs.now;
  if (hasInit) status.initContainerStatuses = initStatuses;
  else delete status.initContainerStatuses;
  status.containerStatuses = statuses;
  if (inputs.deadlineExceeded) {
    status.reason = DEADLINE_EXCEEDED_REASON;
    status.message = DEADLINE_EXCEEDED_MESSAGE;
  }
  return status;
}
