// The rules the Endpoints controller applies to pods and Services, kept apart from the controller
// so that the EndpointSlice controller can share them: which pods are endpoints at all
// (ShouldPodBeInEndpoints), named targetPorts (FindPort), hostnames, which pod changes matter
// (podEndpointsChanged), the last-change-trigger-time tracker, RepackSubsets with upstream's exact
// canonical order, the 1,000-address truncation, and the label indexes that find a pod's Services
// and a Service's pods without scanning. Sources (kubernetes v1.32): staging/src/k8s.io/endpointslice/
// util/{controller_utils,trigger_time_tracker}.go, pkg/api/v1/pod/util.go (FindPort),
// pkg/api/v1/endpoints/util.go (RepackSubsets), pkg/controller/endpoint/endpoints_controller.go.
import { createHash } from 'node:crypto';
import type { EndpointAddress, EndpointPort, EndpointSubset, Pod, Service, ServicePort } from 'kubernetes-types/core/v1.js';
import { ApiStatusError } from '../client/rest.js';
import { keyOf, type Informer } from '../client/informer.js';
import type { WorkQueue } from '../client/workqueue.js';
import type { KObject } from '../api/types.js';
import { isPodReady } from './pods.js';

/** v1.IsHeadlessService */
export const HEADLESS_LABEL = 'service.kubernetes.io/headless';
/** v1.EndpointsLastChangeTriggerTime */
export const TRIGGER_TIME_ANNOTATION = 'endpoints.kubernetes.io/last-change-trigger-time';
/** v1.EndpointsOverCapacity */
export const OVER_CAPACITY_ANNOTATION = 'endpoints.kubernetes.io/over-capacity';
/** The only value the controller writes into the over-capacity annotation. */
export const TRUNCATED = 'truncated';
/** resourcelock.LeaderElectionRecordAnnotationKey: Endpoints used as leader locks are never cleaned up. */
export const LEADER_ANNOTATION = 'control-plane.alpha.kubernetes.io/leader';
/** Most addresses (ready + not ready) one Endpoints object carries. */
export const MAX_CAPACITY = 1000;

// --- pods ------------------------------------------------------------------------------------

/** Succeeded or Failed: the pod will never run again. */
export function isPodTerminal(pod: Pod): boolean {
  const phase = pod.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}

/**
 * ShouldPodBeInEndpoints: not terminal, has an IP, and (unless `includeTerminating`) is not being
 * deleted. The Endpoints controller passes publishNotReadyAddresses as `includeTerminating`.
 */
export function shouldPodBeInEndpoints(pod: Pod, includeTerminating: boolean): boolean {
  if (isPodTerminal(pod)) return false;
  if (!pod.status?.podIP && !pod.status?.podIPs?.length) return false;
  if (!includeTerminating && pod.metadata?.deletionTimestamp) return false;
  return true;
}

/** ShouldSetHostname: the pod names a hostname and sits in the Service's subdomain. */
export function shouldSetHostname(pod: Pod, svc: Service): boolean {
  return !!pod.spec?.hostname && pod.spec.subdomain === svc.metadata?.name && pod.metadata?.namespace === svc.metadata?.namespace;
}

/**
 * FindPort: a numeric targetPort is used as it is (nothing checks that a container declares it); a
 * named one is the first container port with that name and the Service port's protocol, looked up
 * in the containers and then in the sidecars (init containers with restartPolicy Always).
 * undefined when the pod does not declare it: the Service port is skipped for this pod only.
 */
export function findPort(pod: Pod, sp: ServicePort): number | undefined {
  const target = sp.targetPort ?? sp.port;
  if (typeof target === 'number') return target;
  const protocol = sp.protocol ?? 'TCP';
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c.ports ?? []) if (p.name === target && (p.protocol ?? 'TCP') === protocol) return p.containerPort;
  }
  for (const c of pod.spec?.initContainers ?? []) {
    if (c.restartPolicy !== 'Always') continue;
    for (const p of c.ports ?? []) if (p.name === target && (p.protocol ?? 'TCP') === protocol) return p.containerPort;
  }
  return undefined;
}

/** helper.IsServiceIPSet: a cluster IP that is neither empty nor None. */
export function isServiceIPSet(svc: Service): boolean {
  const ip = svc.spec?.clusterIP;
  return !!ip && ip !== 'None';
}

function sameStringMap(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  const ka = a ? Object.keys(a) : [];
  const kb = b ? Object.keys(b) : [];
  if (ka.length !== kb.length) return false;
  for (const k of ka) if (b![k] !== a![k] || !Object.prototype.hasOwnProperty.call(b, k)) return false;
  return true;
}

/** podEndpointsChanged's second result: the Services selecting the pod may differ. */
function podLabelsChanged(old: Pod, cur: Pod): boolean {
  return !sameStringMap(old.metadata?.labels, cur.metadata?.labels)
    || old.spec?.hostname !== cur.spec?.hostname || old.spec?.subdomain !== cur.spec?.subdomain;
}

/**
 * podEndpointsChanged: `podChanged` when the pod's endpoint may differ (deletion started, Ready
 * flipped, pod IPs changed); `labelsChanged` when the Services selecting it may differ (labels,
 * or hostname/subdomain, which upstream counts here too).
 */
export function podEndpointsChanged(old: Pod, cur: Pod): { podChanged: boolean; labelsChanged: boolean } {
  const labelsChanged = podLabelsChanged(old, cur);
  if (old.metadata?.deletionTimestamp !== cur.metadata?.deletionTimestamp) return { podChanged: true, labelsChanged };
  if (isPodReady(old) !== isPodReady(cur)) return { podChanged: true, labelsChanged };
  const a = old.status?.podIPs ?? [], b = cur.status?.podIPs ?? [];
  if (a.length !== b.length) return { podChanged: true, labelsChanged };
  for (let i = 0; i < a.length; i++) if (a[i].ip !== b[i].ip) return { podChanged: true, labelsChanged };
  return { podChanged: false, labelsChanged };
}

/**
 * GetServicesToUpdateOnPodChange: nothing for a resync (same resourceVersion) or an irrelevant
 * change; the Services selecting the pod when only the pod changed; when its labels changed, the
 * union of the old and new Services if the pod changed too, else only those that gained or lost it.
 */
export function servicesToUpdateOnPodChange<P extends Pod>(
  old: P, cur: P, servicesFor: (namespace: string, labels: Record<string, string> | undefined) => Set<string>,
  endpointChanged: (old: P, cur: P) => boolean = (a, b) => podEndpointsChanged(a, b).podChanged,
): Set<string> {
  if (old.metadata?.resourceVersion === cur.metadata?.resourceVersion) return new Set();
  const labelsChanged = podLabelsChanged(old, cur);
  const podChanged = endpointChanged(old, cur);
  if (!podChanged && !labelsChanged) return new Set();
  const ns = cur.metadata?.namespace ?? '';
  const now = servicesFor(ns, cur.metadata?.labels);
  if (!labelsChanged) return now;
  const before = servicesFor(ns, old.metadata?.labels);
  if (podChanged) {
    for (const k of before) now.add(k);
    return now;
  }
  const out = new Set<string>();
  for (const k of now) if (!before.has(k)) out.add(k);
  for (const k of before) if (!now.has(k)) out.add(k);
  return out;
}

/** Whether an API error is a create refused because the namespace is terminating (NamespaceTerminatingCause). */
export function isNamespaceTerminating(e: unknown): boolean {
  if (!(e instanceof ApiStatusError) || e.code !== 403) return false;
  const causes = (e.status.details?.causes ?? []) as { type?: string }[];
  return causes.some((c) => c.type === 'NamespaceTerminating') || /because it is being terminated/.test(e.message);
}

// --- selectors and indexes ---------------------------------------------------------------------

/**
 * The Service's selector, or undefined when it selects nothing: a nil selector selects no pod, and
 * an empty one `{}` is stored as nil by upstream's protobuf round trip, so it counts as none.
 */
export function serviceSelector(svc: Service): Record<string, string> | undefined {
  const sel = svc.spec?.selector;
  return sel && Object.keys(sel).length > 0 ? sel : undefined;
}

export function selectorMatches(selector: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  if (!labels) return false;
  for (const k in selector) if (labels[k] !== selector[k] || !Object.prototype.hasOwnProperty.call(labels, k)) return false;
  return true;
}

/** Index of pods by every `namespace, label key, value` they carry. */
export const PODS_BY_LABEL = 'endpoints/pod-label';
/** Index of Services by the `namespace, key, value` of their selector's first key (sorted). */
export const SERVICES_BY_SELECTOR = 'endpoints/service-selector';

export function labelPairKey(namespace: string, key: string, value: string): string {
  return `${namespace}\u0000${key}\u0000${value}`;
}

export function podLabelPairs(pod: Pod): string[] {
  const labels = pod.metadata?.labels;
  if (!labels) return [];
  const ns = pod.metadata?.namespace ?? '';
  return Object.keys(labels).map((k) => labelPairKey(ns, k, labels[k]));
}

/**
 * A Service is indexed under one pair of its selector: any pod it selects carries that pair, so a
 * pod finds every candidate Service through its own label pairs.
 */
export function serviceSelectorPair(svc: Service): string[] {
  const sel = serviceSelector(svc);
  if (!sel) return [];
  const first = Object.keys(sel).sort()[0];
  return [labelPairKey(svc.metadata?.namespace ?? '', first, sel[first])];
}

/** The Services of a namespace whose selector matches these labels (getServicesForPod), through the index. */
export function servicesSelecting(services: Informer<Service & KObject>, namespace: string, labels: Record<string, string> | undefined): Set<string> {
  const out = new Set<string>();
  if (!labels) return out;
  for (const k in labels) {
    for (const svc of services.iterateIndex(SERVICES_BY_SELECTOR, labelPairKey(namespace, k, labels[k]))) {
      const sel = serviceSelector(svc);
      if (sel && selectorMatches(sel, labels)) out.add(keyOf(svc));
    }
  }
  return out;
}

/** The pods of a namespace a selector picks, read through the index entry of its rarest label pair. */
export function podsSelectedBy<P extends Pod & KObject>(pods: Informer<P>, namespace: string, selector: Record<string, string>): P[] {
  let best = '', bestCount = Infinity;
  for (const k in selector) {
    const pair = labelPairKey(namespace, k, selector[k]);
    const n = pods.countIndex(PODS_BY_LABEL, pair);
    if (n < bestCount) {
      best = pair;
      bestCount = n;
    }
  }
  const out: P[] = [];
  if (!bestCount) return out;
  for (const p of pods.iterateIndex(PODS_BY_LABEL, best)) if (selectorMatches(selector, p.metadata.labels)) out.push(p);
  return out;
}

/**
 * The Service and pod handlers the Endpoints and EndpointSlice controllers share, with the label
 * indexes they read: a Service event queues that Service; a pod event queues the Services that
 * select it, after `podDelayMs` (the batch period), where `podChanged` says which pod updates can
 * change an endpoint (the two controllers differ slightly, as upstream's do).
 */
export function queueServicesOnServiceAndPodEvents<S extends Service & KObject, P extends Pod & KObject>(
  services: Informer<S>, pods: Informer<P>, queue: WorkQueue, podDelayMs: number, podChanged: (old: P, cur: P) => boolean,
): void {
  pods.addIndex(PODS_BY_LABEL, podLabelPairs);
  services.addIndex(SERVICES_BY_SELECTOR, serviceSelectorPair);
  services.on({
    add: (s) => queue.add(keyOf(s)),
    update: (_old, s) => queue.add(keyOf(s)),
    delete: (s) => queue.add(keyOf(s)),
  });
  const servicesFor = (namespace: string, labels: Record<string, string> | undefined) =>
    servicesSelecting(services as unknown as Informer<Service & KObject>, namespace, labels);
  const queueAll = (keys: Iterable<string>) => {
    for (const k of keys) queue.addAfter(k, podDelayMs);
  };
  pods.on({
    add: (p) => queueAll(servicesFor(p.metadata.namespace ?? '', p.metadata.labels)),
    update: (old, p) => queueAll(servicesToUpdateOnPodChange(old, p, servicesFor, podChanged)),
    delete: (p) => queueAll(servicesFor(p.metadata.namespace ?? '', p.metadata.labels)),
  });
}

// --- last-change-trigger-time -------------------------------------------------------------------

/** Days of each month of a non-leap year. */
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** The number written by the `n` ASCII digits of `t` at `i`, or -1 if one is not a digit. */
function digits(t: string, i: number, n: number): number {
  let v = 0;
  for (let k = i; k < i + n; k++) {
    const d = t.charCodeAt(k) - 0x30;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/**
 * `YYYY-MM-DDTHH:MM:SSZ` (how the API server writes metav1.Time) from 1970 on, read field by
 * field: several times faster than Date.parse, which both controllers called for every pod of a
 * Service on every sync. undefined for anything else (fractions, offsets, out-of-range fields).
 */
function parseCanonicalTime(t: string): number | undefined {
  if (t.length !== 20 || t[4] !== '-' || t[7] !== '-' || t[10] !== 'T' || t[13] !== ':' || t[16] !== ':' || t[19] !== 'Z') return undefined;
  const year = digits(t, 0, 4), month = digits(t, 5, 2), day = digits(t, 8, 2);
  const hour = digits(t, 11, 2), minute = digits(t, 14, 2), second = digits(t, 17, 2);
  if (year < 1970 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) return undefined;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  if (day > DAYS_IN_MONTH[month - 1] + (month === 2 && leap ? 1 : 0)) return undefined;
  return Date.UTC(year, month - 1, day, hour, minute, second);
}

/** A timestamp in ms since the epoch, 0 for none or for text that is not a time. */
export function parseTime(t: string | undefined): number {
  if (!t) return 0;
  const canonical = parseCanonicalTime(t);
  if (canonical !== undefined) return canonical;
  const ms = Date.parse(t);
  return Number.isNaN(ms) ? 0 : ms;
}

/** time.RFC3339Nano in UTC: fractional seconds only when not zero, trailing zeros dropped. */
export function formatTriggerTime(ms: number): string {
  const iso = new Date(ms).toISOString();
  return iso.endsWith('.000Z') ? iso.replace(/\.000Z$/, 'Z') : iso.replace(/0+Z$/, 'Z');
}

/** What the tracker keeps per Service from one sync to the next. */
interface ServiceTriggerState {
  serviceTime: number;
  podTimes: Map<string, number>;
}

/**
 * TriggerTimeTracker (one for each of the Endpoints and EndpointSlice controllers): per Service,
 * the creation time and each selected pod's Ready transition time seen at the last sync. A sync's
 * trigger time is the Service's creation time on its first sync since start, else the earliest of
 * the times that moved since (0 = none: the annotation goes). compute() returns the time and a
 * commit() that records the new state: upstream records it at once, as the EndpointSlice
 * controller does; the Endpoints controller commits only once the sync has done its write (or
 * found nothing to write), so that a sync retried after a failure still reports the change that
 * caused it.
 */
export class TriggerTimeTracker {
  private readonly states = new Map<string, ServiceTriggerState>();

  compute(svc: Service, pods: Iterable<Pod>): { time: number; commit(): void } {
    const key = `${svc.metadata?.namespace ?? ''}/${svc.metadata?.name ?? ''}`;
    const prior = this.states.get(key);
    let min = 0;
    // The pods' times as two lists rather than a Map: they are young garbage once committed.
    const names: string[] = [], times: number[] = [];
    for (const pod of pods) {
      const t = parseTime(pod.status?.conditions?.find((c) => c.type === 'Ready')?.lastTransitionTime);
      if (!t) continue;
      const name = pod.metadata?.name ?? '';
      names.push(name);
      times.push(t);
      if (t > (prior?.podTimes.get(name) ?? 0) && (min === 0 || t < min)) min = t;
    }
    const serviceTime = parseTime(svc.metadata?.creationTimestamp);
    if (serviceTime > (prior?.serviceTime ?? 0) && (min === 0 || serviceTime < min)) min = serviceTime;
    return {
      time: prior ? min : serviceTime,
      commit: () => {
        const kept = this.states.get(key);
        if (!kept) this.states.set(key, { serviceTime, podTimes: new Map(names.map((n, i) => [n, times[i]])) });
        else updateState(kept, serviceTime, names, times);
      },
    };
  }

  /** Forget a Service (`namespace/name`) that is gone. */
  delete(key: string): void {
    this.states.delete(key);
  }
}

/**
 * Record a sync's times (pod `names[i]` at `times[i]`) in the state kept from an earlier one. A
 * state is kept from one sync of its Service to the next, long enough to be promoted to the old
 * generation; a fresh map per sync was promoted garbage on every change, where updating the kept
 * one in place costs nothing.
 */
function updateState(state: ServiceTriggerState, serviceTime: number, names: string[], times: number[]): void {
  state.serviceTime = serviceTime;
  const kept = state.podTimes;
  for (let i = 0; i < names.length; i++) if (kept.get(names[i]) !== times[i]) kept.set(names[i], times[i]);
  // Every current pod is in the map now: anything beyond them is a pod that left the selection.
  if (kept.size !== names.length) {
    const current = new Set(names);
    for (const name of kept.keys()) if (!current.has(name)) kept.delete(name);
  }
}

// --- RepackSubsets --------------------------------------------------------------------------------

// Upstream orders ports, and subsets, by the MD5 of a go-spew dump ("%#v", k8s.io/utils/dump.ForHash)
// of the Go structs. The functions below write exactly that dump for the v1 types involved, so that
// kubelite's Endpoints list their subsets and ports in the same order as upstream's.

const spewPtr = (type: string, v: string | undefined): string => (v === undefined ? `(${type})<nil>` : `(${type})${v}`);

function spewAddress(a: EndpointAddress): string {
  const r = a.targetRef;
  const ref = r === undefined
    ? '(*v1.ObjectReference)<nil>'
    : `(*v1.ObjectReference){Kind:(string)${r.kind ?? ''} Namespace:(string)${r.namespace ?? ''} Name:(string)${r.name ?? ''} UID:(types.UID)${r.uid ?? ''} APIVersion:(string)${r.apiVersion ?? ''} ResourceVersion:(string)${r.resourceVersion ?? ''} FieldPath:(string)${r.fieldPath ?? ''}}`;
  return `{IP:(string)${a.ip ?? ''} Hostname:(string)${a.hostname ?? ''} NodeName:${spewPtr('*string', a.nodeName)} TargetRef:${ref}}`;
}

function spewPortFields(p: EndpointPort): string {
  return `{Name:(string)${p.name ?? ''} Port:(int32)${p.port ?? 0} Protocol:(v1.Protocol)${p.protocol ?? ''} AppProtocol:${spewPtr('*string', p.appProtocol)}}`;
}

function spewSlice<T>(type: string, items: T[] | undefined, each: (x: T) => string): string {
  return items === undefined ? `(${type})<nil>` : `(${type})[${items.map(each).join(' ')}]`;
}

/** dump.ForHash of a v1.EndpointPort. */
export function spewEndpointPort(p: EndpointPort): string {
  return `(v1.EndpointPort)${spewPortFields(p)}`;
}

/** dump.ForHash of a v1.EndpointSubset; undefined lists are Go's nil slices. */
export function spewEndpointSubset(s: EndpointSubset): string {
  return `(v1.EndpointSubset){Addresses:${spewSlice('[]v1.EndpointAddress', s.addresses, spewAddress)} NotReadyAddresses:${spewSlice('[]v1.EndpointAddress', s.notReadyAddresses, spewAddress)} Ports:${spewSlice('[]v1.EndpointPort', s.ports, spewPortFields)}}`;
}

const md5 = (s: string): string => createHash('md5').update(s).digest('hex');

/**
 * LessEndpointAddress: by IP bytes, then by targetRef uid (no targetRef first). IPs are ASCII, whose
 * UTF-16 code units order as their bytes do, so plain string comparison is the byte comparison.
 */
export function compareEndpointAddresses(a: EndpointAddress, b: EndpointAddress): number {
  const ia = a.ip ?? '', ib = b.ip ?? '';
  if (ia !== ib) return ia < ib ? -1 : 1;
  if (!b.targetRef) return a.targetRef ? 1 : 0;
  if (!a.targetRef) return -1;
  const ua = a.targetRef.uid ?? '', ub = b.targetRef.uid ?? '';
  return ua < ub ? -1 : ua > ub ? 1 : 0;
}

function sortByHash<T>(items: T[], spew: (x: T) => string): T[] {
  if (items.length < 2) return items;
  const keyed = items.map((x) => ({ x, h: md5(spew(x)) }));
  keyed.sort((p, q) => (p.h < q.h ? -1 : p.h > q.h ? 1 : 0));
  return keyed.map((k) => k.x);
}

/** SortSubsets: addresses by IP and uid, ports and then subsets by the hash of their dump. */
export function sortSubsets(subsets: EndpointSubset[]): EndpointSubset[] {
  for (const s of subsets) {
    s.addresses?.sort(compareEndpointAddresses);
    s.notReadyAddresses?.sort(compareEndpointAddresses);
    if (s.ports) s.ports = sortByHash(s.ports, spewEndpointPort);
  }
  return sortByHash(subsets, spewEndpointSubset);
}

/** The "no port" a port-less (headless) address is recorded under. */
const NO_PORT_KEY = '\u0000none';

function portKey(p: EndpointPort): string {
  return `${p.name ?? ''}\u0000${p.port ?? 0}\u0000${p.protocol ?? ''}\u0000${p.appProtocol === undefined ? '\u0001' : p.appProtocol}`;
}

/**
 * Collects (address, port, ready) triples and packs them as RepackSubsets does: addresses are
 * de-duplicated by (IP, targetRef uid), not-ready wins over ready for the same port, ports offered
 * by the same set of (address, readiness) share a subset, and everything is put in upstream's order.
 */
export class SubsetPacker {
  /** One record per (IP, uid): the first address seen under that identity. */
  private readonly addresses = new Map<string, EndpointAddress>();
  /** Per port: the readiness of each address identity that offers it. */
  private readonly byPort = new Map<string, { port?: EndpointPort; members: Map<string, boolean> }>();
  /** Keys of the port objects seen: callers pass the same object for every pod resolving alike. */
  private readonly portKeys = new Map<EndpointPort, string>();

  /** Record that `addr` offers `port` (undefined: a headless Service without ports). */
  add(addr: EndpointAddress, port: EndpointPort | undefined, ready: boolean): void {
    const id = `${addr.ip}\u0000${addr.targetRef?.uid ?? ''}`;
    if (!this.addresses.has(id)) this.addresses.set(id, addr);
    let pk = NO_PORT_KEY;
    if (port) {
      pk = this.portKeys.get(port) ?? portKey(port);
      this.portKeys.set(port, pk);
    }
    let entry = this.byPort.get(pk);
    if (!entry) this.byPort.set(pk, (entry = { port, members: new Map() }));
    if (entry.members.get(id) !== false) entry.members.set(id, ready);
  }

  pack(): EndpointSubset[] {
    // Group ports by their exact membership (identity and readiness); one port needs no grouping.
    const groups = new Map<string, { members: Map<string, boolean>; ports?: EndpointPort[] }>();
    const single = this.byPort.size === 1;
    for (const { port, members } of this.byPort.values()) {
      const key = single ? '' : [...members].map(([id, ready]) => `${id}\u0000${ready ? 1 : 0}`).sort().join('\u0001');
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { members }));
      if (port) (g.ports ??= []).push(port);
    }
    const subsets: EndpointSubset[] = [];
    for (const g of groups.values()) {
      const s: EndpointSubset = {};
      for (const [id, ready] of g.members) {
        const a = this.addresses.get(id)!;
        if (ready) (s.addresses ??= []).push(a);
        else (s.notReadyAddresses ??= []).push(a);
      }
      if (g.ports) s.ports = g.ports;
      subsets.push(s);
    }
    return sortSubsets(subsets);
  }
}

/** RepackSubsets: any subsets in the canonical layout (a new list; the input is not changed). */
export function repackSubsets(subsets: EndpointSubset[]): EndpointSubset[] {
  const packer = new SubsetPacker();
  for (const s of subsets) {
    const ports: (EndpointPort | undefined)[] = s.ports?.length ? s.ports : [undefined];
    for (const port of ports) {
      for (const a of s.addresses ?? []) packer.add(a, port, true);
      for (const a of s.notReadyAddresses ?? []) packer.add(a, port, false);
    }
  }
  return packer.pack();
}

// --- capacity ---------------------------------------------------------------------------------------

/**
 * truncateEndpoints: beyond MAX_CAPACITY addresses, keep every ready address and share what room
 * is left among the subsets' not-ready ones, or, with more ready addresses than fit, share the
 * room among the ready ones and drop all not-ready ones; each subset gets its proportional share
 * rounded up (bounded by what is left) and keeps the first addresses of its sorted lists.
 */
export function truncateSubsets(subsets: EndpointSubset[]): { subsets: EndpointSubset[]; truncated: boolean } {
  let totalReady = 0, totalNotReady = 0;
  for (const s of subsets) {
    totalReady += s.addresses?.length ?? 0;
    totalNotReady += s.notReadyAddresses?.length ?? 0;
  }
  if (totalReady + totalNotReady <= MAX_CAPACITY) return { subsets, truncated: false };
  const truncateReady = totalReady > MAX_CAPACITY;
  const budget = truncateReady ? MAX_CAPACITY : MAX_CAPACITY - totalReady;
  const total = truncateReady ? totalReady : totalNotReady;
  let left = budget;
  const out = subsets.map((s) => {
    const list = (truncateReady ? s.addresses : s.notReadyAddresses) ?? [];
    const share = Math.min(Math.ceil((list.length / total) * budget), left);
    const kept = list.length <= share ? list : list.slice(0, share);
    left -= kept.length;
    const next: EndpointSubset = { ...s };
    if (truncateReady) {
      if (s.addresses) next.addresses = kept;
      // Upstream sets an empty list; it serialises as no field at all.
      delete next.notReadyAddresses;
    } else if (s.notReadyAddresses) {
      next.notReadyAddresses = kept;
    }
    return next;
  });
  // A subset left with no address at all would be refused by validation (upstream writes it and
  // fails on every sync); it carries nothing, so it is dropped.
  return { subsets: out.filter((s) => s.addresses?.length || s.notReadyAddresses?.length), truncated: true };
}

// --- comparison -----------------------------------------------------------------------------------

function sameAddress(a: EndpointAddress, b: EndpointAddress): boolean {
  if ((a.ip ?? '') !== (b.ip ?? '') || (a.hostname ?? '') !== (b.hostname ?? '') || a.nodeName !== b.nodeName) return false;
  const ra = a.targetRef, rb = b.targetRef;
  if (!ra || !rb) return ra === rb;
  return (ra.kind ?? '') === (rb.kind ?? '') && (ra.namespace ?? '') === (rb.namespace ?? '') && (ra.name ?? '') === (rb.name ?? '')
    && (ra.uid ?? '') === (rb.uid ?? '') && (ra.apiVersion ?? '') === (rb.apiVersion ?? '') && (ra.fieldPath ?? '') === (rb.fieldPath ?? '');
}

function sameList<T>(a: T[] | undefined, b: T[] | undefined, same: (x: T, y: T) => boolean): boolean {
  const la = a ?? [], lb = b ?? [];
  if (la.length !== lb.length) return false;
  for (let i = 0; i < la.length; i++) if (!same(la[i], lb[i])) return false;
  return true;
}

function samePort(a: EndpointPort, b: EndpointPort): boolean {
  return (a.name ?? '') === (b.name ?? '') && (a.port ?? 0) === (b.port ?? 0) && (a.protocol ?? '') === (b.protocol ?? '') && a.appProtocol === b.appProtocol;
}

/**
 * endpointSubsetsEqualIgnoreResourceVersion: semantic equality (missing and empty lists alike, in
 * order) that ignores targetRef.resourceVersion, which changes with every write to the pod.
 */
export function subsetsEqualIgnoringResourceVersion(a: EndpointSubset[] | undefined, b: EndpointSubset[] | undefined): boolean {
  return sameList(a, b, (x, y) => sameList(x.addresses, y.addresses, sameAddress)
    && sameList(x.notReadyAddresses, y.notReadyAddresses, sameAddress)
    && sameList(x.ports, y.ports, samePort));
}

/** Semantic equality of label maps (a missing map equals an empty one), ignoring one key of `a`. */
export function sameLabelsExcept(a: Record<string, string> | undefined, b: Record<string, string> | undefined, ignore: string): boolean {
  let na = 0;
  for (const k in a ?? {}) {
    if (k === ignore) continue;
    na++;
    if (!b || !Object.prototype.hasOwnProperty.call(b, k) || b[k] !== a![k]) return false;
  }
  return na === (b ? Object.keys(b).length : 0);
}
