// Is a pod an endpoint of a Service, and if not, exactly why? The membership rules of upstream's
// Endpoints controller (pkg/controller/endpoint: syncService, podToEndpointAddressForService,
// addEndpointSubset), of the EndpointSlice controller (staging/src/k8s.io/endpointslice:
// ShouldPodBeInEndpoints, podToEndpoint, reconcileByAddressType) and of pkg/api/v1/pod
// (IsPodReady, FindPort), restated so that every place where upstream silently skips a pod
// yields a reason instead. `kubelite why` is built on this module; it holds no I/O.
import type { Container, ContainerPort, ContainerStatus, Endpoints, Pod, PodCondition, Probe, Service, ServicePort } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';

/** yes: in `addresses`; not-ready: in `notReadyAddresses`; no: not in the Endpoints at all. */
export type EndpointVerdict = 'yes' | 'not-ready' | 'no';

export type ReasonCode =
  | 'ExternalName' // the Service is type ExternalName: no endpoints by design
  | 'NoSelector' // the Service has no selector: its Endpoints are written by hand
  | 'OtherNamespace' // the pod is not in the Service's namespace
  | 'SelectorMismatch' // one selector key the pod's labels do not satisfy (one reason per key)
  | 'Terminal' // phase Succeeded or Failed
  | 'NotScheduled' // no node yet (hence no IP)
  | 'NoIP' // scheduled but status.podIP(s) still empty
  | 'Terminating' // deletionTimestamp set (and publishNotReadyAddresses false)
  | 'NoIPOfFamily' // no pod IP of the Service's IP family
  | 'NoPorts' // the Service has no ports and is not headless
  | 'NamedPortNotFound' // a named targetPort no container of the pod declares (per Service port)
  | 'PortProtocolMismatch' // the named port exists, but with another protocol (per Service port)
  | 'NotReady' // the pod's Ready condition is not True
  | 'NodeNotFound'; // EndpointSlices only: the pod's node does not exist

export interface Reason {
  code: ReasonCode;
  /** One line, e.g. `selector app: want nginx, pod has app=web`. */
  message: string;
  /** The Service port the reason is about (its name, or its number when unnamed). */
  port?: string;
  /** Supporting facts, e.g. each unready container and why. */
  details?: string[];
}

export interface PortMembership {
  name: string;
  port: number;
  protocol: string;
  targetPort: number | string;
  /** The endpoint port for this pod; null when the targetPort does not resolve on it. */
  resolved: number | null;
  reason?: Reason;
}

export interface SliceConditions {
  ready: boolean;
  serving: boolean;
  terminating: boolean;
}

/** What the EndpointSlice controller does with the pod (its rules differ from the Endpoints controller's). */
export interface SliceMembership {
  included: boolean;
  /** The endpoint's conditions, when included. */
  conditions?: SliceConditions;
  /** The endpoint's addresses (all pod IPs of the family), when included. */
  addresses?: string[];
  /** `name:port/protocol` of the ports of the slice it belongs in (possibly none), when included. */
  ports?: string[];
  /** Why not, when not included. */
  reason?: Reason;
}

export interface PodMembership {
  namespace: string;
  name: string;
  uid?: string;
  /** The pod's first IP of the Service's family: the address an Endpoints entry carries; null if none. */
  ip: string | null;
  endpoint: EndpointVerdict;
  /** One entry per Service port (empty for a headless Service without ports). */
  ports: PortMembership[];
  /** Why `no` or `not-ready`; for `yes`/`not-ready` also the Service ports skipped for this pod. */
  reasons: Reason[];
  /** Facts that do not exclude the pod but explain the outcome (publishNotReadyAddresses, hostname). */
  notes: string[];
  endpointSlice: SliceMembership;
}

export type ServiceMode = 'selector' | 'selectorless' | 'externalName';

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const SLICE_MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';
export const SLICE_CONTROLLER = 'endpointslice-controller.k8s.io';
export const MIRRORING_CONTROLLER = 'endpointslicemirroring-controller.k8s.io';
export const SKIP_MIRROR_LABEL = 'endpointslice.kubernetes.io/skip-mirror';
export const OVER_CAPACITY_ANNOTATION = 'endpoints.kubernetes.io/over-capacity';

/**
 * How the controllers treat the Service. An empty selector `{}` counts as none: upstream stores
 * it as nil after the protobuf round trip, and a nil selector selects nothing.
 */
export function serviceMode(svc: Service): ServiceMode {
  if (svc.spec?.type === 'ExternalName') return 'externalName';
  const sel = svc.spec?.selector;
  return sel && Object.keys(sel).length > 0 ? 'selector' : 'selectorless';
}

export type IPFamily = 'IPv4' | 'IPv6';
const isIPv6 = (ip: string) => ip.includes(':');

/** The pod's IPs; the API server keeps podIP and podIPs[0] in step, older objects may carry only podIP. */
export function podIPs(pod: Pod): string[] {
  const list = (pod.status?.podIPs ?? []).map((p) => p.ip).filter((ip): ip is string => !!ip);
  if (list.length > 0) return list;
  return pod.status?.podIP ? [pod.status.podIP] : [];
}

/** The family the Endpoints controller picks addresses in: ipFamilies[0], else the ClusterIP's, else the pod's. */
export function serviceIPFamily(svc: Service, pod?: Pod): IPFamily {
  const fam = svc.spec?.ipFamilies?.[0];
  if (fam === 'IPv4' || fam === 'IPv6') return fam;
  const cip = svc.spec?.clusterIP;
  if (cip && cip !== 'None') return isIPv6(cip) ? 'IPv6' : 'IPv4';
  return pod?.status?.podIP && isIPv6(pod.status.podIP) ? 'IPv6' : 'IPv4';
}

export function isHeadless(svc: Service): boolean {
  return svc.spec?.clusterIP === 'None';
}

function condition(pod: Pod, type: string): PodCondition | undefined {
  return pod.status?.conditions?.find((c) => c.type === type);
}

/** podutil.IsPodReady: the Ready condition exists and is True. */
export function isPodReady(pod: Pod): boolean {
  return condition(pod, 'Ready')?.status === 'True';
}

export function portLabel(sp: ServicePort): string {
  return sp.name ? sp.name : String(sp.port);
}

function conditionText(c: PodCondition): string {
  const why = [c.reason, c.message].filter(Boolean).join(': ');
  return `${c.type}=${c.status}${why ? ` (${why})` : ''}`;
}

function probeText(p: Probe): string {
  let what = 'probe';
  if (p.httpGet) what = `httpGet ${(p.httpGet.scheme ?? 'HTTP').toLowerCase()}://${p.httpGet.host ?? ''}:${p.httpGet.port}${p.httpGet.path ?? '/'}`;
  else if (p.tcpSocket) what = `tcpSocket :${p.tcpSocket.port}`;
  else if (p.grpc) what = `grpc :${p.grpc.port}`;
  else if (p.exec) what = `exec ${JSON.stringify(p.exec.command ?? [])}`;
  return `${what}, every ${p.periodSeconds ?? 10}s, ${p.failureThreshold ?? 3} failures`;
}

function containerText(c: Container, st: ContainerStatus | undefined, kind: string): string | undefined {
  if (!st) return `${kind} ${c.name}: no status yet`;
  if (st.ready) return undefined;
  let text: string;
  const s = st.state ?? {};
  if (s.waiting) text = `waiting: ${s.waiting.reason ?? 'unknown reason'}${s.waiting.message ? ` (${s.waiting.message})` : ''}`;
  else if (s.terminated) text = `terminated: ${s.terminated.reason ?? 'exited'}, exit code ${s.terminated.exitCode}`;
  else if (s.running) {
    if (st.started === false && c.startupProbe) text = `running, startup probe not passed yet (${probeText(c.startupProbe)})`;
    else if (c.readinessProbe) text = `running, readiness probe failing (${probeText(c.readinessProbe)})`;
    else text = 'running but not ready (no readiness probe: the kubelet has not reported it ready yet)';
  } else text = 'not ready, state unknown';
  if ((st.restartCount ?? 0) > 0) {
    const last = st.lastState?.terminated;
    text += `; restarted ${st.restartCount} time${st.restartCount === 1 ? '' : 's'}${last ? `, last exit: ${last.reason ?? 'exited'} (code ${last.exitCode})` : ''}`;
  }
  return `${kind} ${c.name} ${text}`;
}

/**
 * Why a pod is not Ready: the Ready condition itself, the conditions that feed it (scheduling,
 * init containers), each unready container (with its probe) and each unmet readiness gate.
 */
export function notReadyDetails(pod: Pod): string[] {
  const out: string[] = [];
  const ready = condition(pod, 'Ready');
  out.push(ready ? conditionText(ready) : 'no Ready condition (the kubelet has not reported the pod\'s status yet)');
  for (const type of ['PodScheduled', 'Initialized']) {
    const c = condition(pod, type);
    if (c && c.status !== 'True') out.push(conditionText(c));
  }
  const statuses = new Map<string, ContainerStatus>();
  for (const st of pod.status?.containerStatuses ?? []) statuses.set(st.name, st);
  const initStatuses = new Map<string, ContainerStatus>();
  for (const st of pod.status?.initContainerStatuses ?? []) initStatuses.set(st.name, st);
  // Sidecars (restartable init containers) count towards readiness like ordinary containers.
  for (const c of pod.spec?.initContainers ?? []) {
    if (c.restartPolicy !== 'Always') continue;
    const t = containerText(c, initStatuses.get(c.name), 'sidecar');
    if (t) out.push(t);
  }
  for (const c of pod.spec?.containers ?? []) {
    const t = containerText(c, statuses.get(c.name), 'container');
    if (t) out.push(t);
  }
  for (const g of pod.spec?.readinessGates ?? []) {
    const c = condition(pod, g.conditionType);
    if (!c) out.push(`readiness gate ${g.conditionType}: no such condition yet (nothing has set it)`);
    else if (c.status !== 'True') out.push(`readiness gate ${conditionText(c)}`);
  }
  return out;
}

function selectorReasons(selector: Record<string, string>, labels: Record<string, string>): Reason[] {
  const out: Reason[] = [];
  for (const [k, want] of Object.entries(selector)) {
    if (!Object.prototype.hasOwnProperty.call(labels, k)) {
      out.push({ code: 'SelectorMismatch', message: `selector ${k}: want ${want}, pod has no ${k} label` });
    } else if (labels[k] !== want) {
      out.push({ code: 'SelectorMismatch', message: `selector ${k}: want ${want}, pod has ${k}=${labels[k]}` });
    }
  }
  return out;
}

function declaredPorts(containers: Container[]): string {
  const all: string[] = [];
  for (const c of containers) {
    for (const p of c.ports ?? []) all.push(`${c.name}: ${p.name ? `${p.name}=` : ''}${p.containerPort}/${p.protocol ?? 'TCP'}`);
  }
  return all.length ? `declared: ${all.join(', ')}` : 'its containers declare no ports';
}

/**
 * FindPort with the reason when it fails: an int targetPort is used verbatim; a named one must be
 * declared with the Service port's protocol by a container, or by a sidecar init container.
 */
export function resolvePort(pod: Pod, sp: ServicePort): PortMembership {
  const protocol = sp.protocol ?? 'TCP';
  const target = sp.targetPort ?? sp.port;
  const base = { name: sp.name ?? '', port: sp.port, protocol, targetPort: target };
  if (typeof target === 'number') return { ...base, resolved: target };
  const containers = pod.spec?.containers ?? [];
  const sidecars = (pod.spec?.initContainers ?? []).filter((c) => c.restartPolicy === 'Always');
  const byName: { c: Container; p: ContainerPort }[] = [];
  for (const c of [...containers, ...sidecars]) {
    for (const p of c.ports ?? []) {
      if (p.name !== target) continue;
      if ((p.protocol ?? 'TCP') === protocol) return { ...base, resolved: p.containerPort };
      byName.push({ c, p });
    }
  }
  const label = `port ${portLabel(sp)}/${protocol} (targetPort ${JSON.stringify(target)})`;
  if (byName.length > 0) {
    const { c, p } = byName[0];
    return {
      ...base, resolved: null, reason: {
        code: 'PortProtocolMismatch', port: portLabel(sp),
        message: `${label}: container ${c.name} declares ${JSON.stringify(target)} as ${p.containerPort}/${p.protocol ?? 'TCP'}, not ${protocol}`,
      },
    };
  }
  const details = [declaredPorts([...containers, ...sidecars])];
  const plainInit = (pod.spec?.initContainers ?? []).filter((c) => c.restartPolicy !== 'Always' && (c.ports ?? []).some((p) => p.name === target));
  for (const c of plainInit) details.push(`init container ${c.name} declares it, but only sidecar init containers (restartPolicy: Always) count`);
  return {
    ...base, resolved: null, reason: {
      code: 'NamedPortNotFound', port: portLabel(sp),
      message: `${label}: no container declares a port named ${JSON.stringify(target)}`, details,
    },
  };
}

function terminationText(pod: Pod): string {
  const grace = pod.metadata?.deletionGracePeriodSeconds;
  return `deletionTimestamp ${pod.metadata?.deletionTimestamp}${grace !== undefined ? `, grace period ${grace}s` : ''}`;
}

function notScheduledReason(pod: Pod): Reason {
  const c = condition(pod, 'PodScheduled');
  const why = c && c.status !== 'True' ? [c.reason, c.message].filter(Boolean).join(': ') : '';
  return { code: 'NotScheduled', message: `not scheduled yet, so no IP${why ? ` (${why})` : ''}` };
}

function noIPReason(pod: Pod): Reason {
  const details: string[] = [];
  for (const st of pod.status?.containerStatuses ?? []) {
    if (st.state?.waiting) details.push(`container ${st.name} waiting: ${st.state.waiting.reason ?? 'unknown reason'}${st.state.waiting.message ? ` (${st.state.waiting.message})` : ''}`);
  }
  const phase = pod.status?.phase ?? 'no phase reported';
  return { code: 'NoIP', message: `no IP yet (on node ${pod.spec?.nodeName}, ${phase})`, ...(details.length ? { details } : {}) };
}

export interface MembershipOptions {
  /**
   * Whether a node exists. The EndpointSlice controller leaves out pods whose node is unknown
   * (unless publishNotReadyAddresses); without this function that check is not made.
   */
  nodeExists?: (name: string) => boolean;
}

/** The verdict on one pod for one Service, per port, for the Endpoints and for the EndpointSlices. */
export function podMembership(svc: Service, pod: Pod, opts: MembershipOptions = {}): PodMembership {
  const namespace = pod.metadata?.namespace ?? '';
  const m: PodMembership = {
    namespace, name: pod.metadata?.name ?? '', ...(pod.metadata?.uid ? { uid: pod.metadata.uid } : {}),
    ip: null, endpoint: 'no', ports: [], reasons: [], notes: [], endpointSlice: { included: false },
  };
  const excluded = (reasons: Reason[]): PodMembership => {
    m.reasons = reasons;
    m.endpointSlice = { included: false, reason: reasons[0] };
    return m;
  };
  const ips = podIPs(pod);
  const family = serviceIPFamily(svc, pod);
  const familyIPs = ips.filter((ip) => isIPv6(ip) === (family === 'IPv6'));
  m.ip = familyIPs[0] ?? null;
  const mode = serviceMode(svc);
  const svcNs = svc.metadata?.namespace ?? '';
  if (mode === 'externalName') {
    return excluded([{ code: 'ExternalName', message: `the Service is type ExternalName (${svc.spec?.externalName ?? ''}): it has no endpoints by design` }]);
  }
  if (mode === 'selectorless') {
    return excluded([{ code: 'NoSelector', message: 'the Service has no selector: no pod is selected, its Endpoints are written by hand' }]);
  }
  if (namespace !== svcNs) {
    return excluded([{ code: 'OtherNamespace', message: `the pod is in namespace ${namespace}; the Service selects pods in ${svcNs} only` }]);
  }
  const mismatches = selectorReasons(svc.spec!.selector!, pod.metadata?.labels ?? {});
  if (mismatches.length) return excluded(mismatches);

  const publishNotReady = svc.spec?.publishNotReadyAddresses === true;
  const ready = isPodReady(pod);
  const terminating = !!pod.metadata?.deletionTimestamp;
  const phase = pod.status?.phase;

  // ShouldPodBeInEndpoints, in upstream's order.
  if (phase === 'Succeeded' || phase === 'Failed') {
    const why = [pod.status?.reason, pod.status?.message].filter(Boolean).join(': ');
    return excluded([{ code: 'Terminal', message: `terminal phase ${phase}${why ? ` (${why})` : ''}` }]);
  }
  if (ips.length === 0) return excluded([pod.spec?.nodeName ? noIPReason(pod) : notScheduledReason(pod)]);
  const noFamily: Reason = { code: 'NoIPOfFamily', message: `no ${family} address (pod IPs: ${ips.join(', ')}); the Service's family is ${family}` };

  // Ports, resolved per pod.
  const svcPorts = svc.spec?.ports ?? [];
  m.ports = svcPorts.map((sp) => resolvePort(pod, sp));
  const portReasons = m.ports.flatMap((p) => (p.reason ? [p.reason] : []));
  const resolvedPorts = m.ports.filter((p) => p.resolved !== null);

  // The EndpointSlice controller includes terminating pods (ShouldPodBeInEndpoints(pod, true)),
  // and a pod none of whose ports resolve (in a slice without ports); it needs the pod's node.
  const nodeName = pod.spec?.nodeName ?? '';
  let slice: SliceMembership;
  if (opts.nodeExists && !publishNotReady && !opts.nodeExists(nodeName)) {
    slice = { included: false, reason: { code: 'NodeNotFound', message: `node ${JSON.stringify(nodeName)} not found: the EndpointSlice controller skips the pod until it exists` } };
  } else if (familyIPs.length === 0) {
    slice = { included: false, reason: noFamily };
  } else {
    slice = {
      included: true, addresses: familyIPs,
      conditions: { ready: publishNotReady || (ready && !terminating), serving: ready, terminating },
      ports: resolvedPorts.map((p) => portKey({ name: p.name, port: p.resolved!, protocol: p.protocol })).sort(),
    };
  }

  // Back to the Endpoints controller: terminating pods are left out unless publishNotReadyAddresses.
  if (terminating && !publishNotReady) {
    excluded([{ code: 'Terminating', message: `terminating (${terminationText(pod)})` }]);
    m.endpointSlice = slice;
    return m;
  }
  m.endpointSlice = slice;
  if (familyIPs.length === 0) {
    m.reasons = [noFamily];
    return m;
  }
  if (svcPorts.length === 0 && !isHeadless(svc)) {
    m.reasons = [{ code: 'NoPorts', message: 'the Service has no ports and is not headless' }];
    return m;
  }
  if (svcPorts.length > 0 && resolvedPorts.length === 0) {
    m.reasons = portReasons;
    return m;
  }
  m.reasons = [...portReasons];
  if (publishNotReady || ready) {
    m.endpoint = 'yes';
    if (!ready) m.notes.push('not Ready, but published anyway: publishNotReadyAddresses is true');
    if (terminating) m.notes.push(`terminating (${terminationText(pod)}), but kept (as ready): publishNotReadyAddresses is true`);
  } else {
    m.endpoint = 'not-ready';
    m.reasons.unshift({ code: 'NotReady', message: 'not Ready', details: notReadyDetails(pod) });
  }
  if (pod.spec?.hostname && pod.spec.subdomain === svc.metadata?.name) {
    m.notes.push(`hostname ${pod.spec.hostname} is published (spec.subdomain is the Service's name)`);
  }
  return m;
}

/** The pod's entry in the Endpoints: readiness → set of `name/port/protocol` keys. */
export interface Listed {
  /** ready / not-ready / both (inconsistent) / absent. */
  state: 'ready' | 'not-ready' | 'both' | 'absent';
  ips: string[];
  /** `name:port/protocol` of each port it is listed with (`-` for a subset without ports). */
  ports: string[];
}

/** The key an endpoint port is compared by. */
export function portKey(p: { name?: string; port?: number; protocol?: string }): string {
  return `${p.name ?? ''}:${p.port}/${p.protocol ?? 'TCP'}`;
}

function refMatches(ref: { kind?: string; namespace?: string; name?: string; uid?: string } | undefined, pod: Pod): boolean {
  if (!ref || (ref.kind && ref.kind !== 'Pod')) return false;
  if (ref.uid && pod.metadata?.uid) return ref.uid === pod.metadata.uid;
  return ref.name === pod.metadata?.name && (ref.namespace ?? pod.metadata?.namespace) === pod.metadata?.namespace;
}

/** Where the Endpoints object lists the pod (found by targetRef). */
export function listedInEndpoints(ep: Endpoints | undefined, pod: Pod): Listed {
  let ready = false, notReady = false;
  const ips = new Set<string>(), ports = new Set<string>();
  for (const subset of ep?.subsets ?? []) {
    const keys = (subset.ports ?? []).length ? subset.ports!.map(portKey) : ['-'];
    for (const [list, isReady] of [[subset.addresses, true], [subset.notReadyAddresses, false]] as const) {
      for (const a of list ?? []) {
        if (!refMatches(a.targetRef, pod)) continue;
        if (isReady) ready = true; else notReady = true;
        ips.add(a.ip);
        for (const k of keys) ports.add(k);
      }
    }
  }
  const state = ready && notReady ? 'both' : ready ? 'ready' : notReady ? 'not-ready' : 'absent';
  return { state, ips: [...ips], ports: [...ports].sort() };
}

export interface SliceListed {
  /** Names of the slices that list the pod. */
  slices: string[];
  conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean };
  addresses: string[];
  ports: string[];
}

/** Where the EndpointSlices list the pod (found by targetRef). */
export function listedInSlices(slices: EndpointSlice[], pod: Pod): SliceListed {
  const out: SliceListed = { slices: [], addresses: [], ports: [] };
  for (const s of slices) {
    for (const e of s.endpoints ?? []) {
      if (!refMatches(e.targetRef, pod)) continue;
      out.slices.push(s.metadata?.name ?? '');
      out.conditions = { ...e.conditions };
      out.addresses.push(...e.addresses);
      out.ports.push(...(s.ports ?? []).map(portKey));
    }
  }
  out.ports.sort();
  return out;
}

function expectedEndpointPorts(svc: Service, m: PodMembership): string[] {
  if ((svc.spec?.ports ?? []).length === 0) return ['-'];
  return m.ports.filter((p) => p.resolved !== null).map((p) => portKey({ name: p.name, port: p.resolved!, protocol: p.protocol })).sort();
}

const same = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
const readiness = (v: EndpointVerdict) => (v === 'yes' ? 'ready' : 'not ready');
const condText = (c: { ready?: boolean; serving?: boolean; terminating?: boolean } | undefined) =>
  `ready=${c?.ready ?? '<unset>'}, serving=${c?.serving ?? '<unset>'}, terminating=${c?.terminating ?? '<unset>'}`;

/**
 * Differences between what the rules say and what the Endpoints object holds: a controller that
 * lags (or a bug). `ep` undefined means the Endpoints object does not exist.
 */
export function endpointsDiscrepancies(svc: Service, pod: Pod, m: PodMembership, ep: Endpoints | undefined): string[] {
  const listed = listedInEndpoints(ep, pod);
  const out: string[] = [];
  if (m.endpoint === 'no') {
    if (listed.state !== 'absent') out.push(`listed in the Endpoints object (as ${listed.state}) but should not be: stale (controller lag or bug)`);
    return out;
  }
  if (!ep) return [`should be an endpoint (${readiness(m.endpoint)}) but the Endpoints object does not exist`];
  if (listed.state === 'absent') {
    const truncated = ep.metadata?.annotations?.[OVER_CAPACITY_ANNOTATION] === 'truncated';
    out.push(`should be an endpoint (${readiness(m.endpoint)}) but the Endpoints object does not list it${truncated ? ': the object is truncated at 1000 addresses (over-capacity)' : ' yet (controller lag or bug)'}`);
    return out;
  }
  const want = m.endpoint === 'yes' ? 'ready' : 'not-ready';
  if (listed.state !== want) out.push(`listed in the Endpoints object as ${listed.state} but should be ${want}`);
  if (m.ip && !same(listed.ips, [m.ip])) out.push(`listed in the Endpoints object with IP ${listed.ips.join(', ')} but its IP is ${m.ip}`);
  const wantPorts = expectedEndpointPorts(svc, m);
  if (!same(listed.ports, wantPorts)) out.push(`listed in the Endpoints object with ports ${listed.ports.join(', ')} but should be ${wantPorts.join(', ')}`);
  return out;
}

/** The same for the EndpointSlices (those the EndpointSlice controller manages for the Service). */
export function slicesDiscrepancies(pod: Pod, m: PodMembership, slices: EndpointSlice[]): string[] {
  const listed = listedInSlices(slices, pod);
  const want = m.endpointSlice;
  const out: string[] = [];
  if (!want.included) {
    if (listed.slices.length) out.push(`listed in EndpointSlice ${listed.slices.join(', ')} but should not be: stale (controller lag or bug)`);
    return out;
  }
  if (!listed.slices.length) {
    out.push(`should be in an EndpointSlice (${condText(want.conditions)}) but no EndpointSlice lists it yet (controller lag or bug)`);
    return out;
  }
  if (listed.slices.length > 1) out.push(`listed in several EndpointSlices: ${listed.slices.join(', ')}`);
  const c = listed.conditions ?? {};
  const w = want.conditions!;
  if (c.ready !== w.ready || c.serving !== w.serving || c.terminating !== w.terminating) {
    out.push(`EndpointSlice ${listed.slices[0]} lists it with ${condText(c)} but should be ${condText(w)}`);
  }
  if (!same([...listed.addresses].sort(), [...want.addresses!].sort())) out.push(`EndpointSlice ${listed.slices[0]} lists addresses ${listed.addresses.join(', ')} but the pod's are ${want.addresses!.join(', ')}`);
  if (listed.slices.length === 1 && !same(listed.ports, want.ports!)) out.push(`EndpointSlice ${listed.slices[0]} has ports ${listed.ports.join(', ') || '(none)'} but the pod's resolve to ${want.ports!.join(', ') || '(none)'}`);
  return out;
}

/** An address of an Endpoints object, as `kubelite why` lists hand-written ones. */
export interface ListedAddress {
  ip: string;
  ready: boolean;
  /** `name:port/protocol`, or `-` for a subset without ports. */
  ports: string[];
  nodeName?: string;
  hostname?: string;
  targetRef?: { kind?: string; namespace?: string; name?: string; uid?: string };
  /** The pod of the namespace this address points at (by targetRef, else by IP); null if none. */
  pod: string | null;
}

function podOfAddress(a: { ip: string; targetRef?: ListedAddress['targetRef'] }, pods: Pod[]): Pod | undefined {
  if (a.targetRef) return pods.find((p) => refMatches(a.targetRef, p));
  return pods.find((p) => podIPs(p).includes(a.ip) && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed');
}

/** Every address of an Endpoints object, one entry per (address, readiness), with the pod it points at. */
export function endpointsAddresses(ep: Endpoints | undefined, pods: Pod[]): ListedAddress[] {
  const byKey = new Map<string, ListedAddress>();
  for (const subset of ep?.subsets ?? []) {
    const keys = (subset.ports ?? []).length ? subset.ports!.map(portKey) : ['-'];
    for (const [list, ready] of [[subset.addresses, true], [subset.notReadyAddresses, false]] as const) {
      for (const a of list ?? []) {
        const key = `${a.ip}|${a.targetRef?.uid ?? ''}|${ready}`;
        let entry = byKey.get(key);
        if (!entry) {
          const pod = podOfAddress(a, pods);
          entry = {
            ip: a.ip, ready, ports: [],
            ...(a.nodeName ? { nodeName: a.nodeName } : {}), ...(a.hostname ? { hostname: a.hostname } : {}),
            ...(a.targetRef ? { targetRef: { kind: a.targetRef.kind, namespace: a.targetRef.namespace, name: a.targetRef.name, uid: a.targetRef.uid } } : {}),
            pod: pod?.metadata?.name ?? null,
          };
          byKey.set(key, entry);
        }
        for (const k of keys) if (!entry.ports.includes(k)) entry.ports.push(k);
      }
    }
  }
  return [...byKey.values()];
}

/**
 * The verdict on a pod for a Service without selector: no controller picks it, but the
 * hand-written Endpoints make it an endpoint if they list its IP (or point at it by targetRef).
 */
export function handWrittenMembership(svc: Service, pod: Pod, ep: Endpoints | undefined): PodMembership {
  const m = podMembership(svc, pod);
  const ips = podIPs(pod);
  m.ip = ips[0] ?? null;
  if (pod.metadata?.namespace !== svc.metadata?.namespace) return m;
  const mine = endpointsAddresses(ep, [pod]).filter((a) => a.pod !== null);
  const ready = mine.some((a) => a.ready);
  m.endpoint = ready ? 'yes' : mine.length ? 'not-ready' : 'no';
  m.reasons = [{
    ...m.reasons[0],
    message: mine.length
      ? `${m.reasons[0].message}; they list this pod (${mine.map((a) => `${a.ip} as ${a.ready ? 'ready' : 'not ready'}`).join(', ')})`
      : `${m.reasons[0].message}; they do not list this pod${ips.length ? ` (its IP${ips.length > 1 ? 's' : ''}: ${ips.join(', ')})` : ' (it has no IP)'}`,
  }];
  return m;
}
