// The EndpointSlice controller, after upstream's pkg/controller/endpointslice and its reconciler
// (staging/src/k8s.io/endpointslice): for every Service with a selector, EndpointSlices that list
// the pods it selects — one set per address family of the Service, one group of slices per
// distinct list of resolved ports, at most maxEndpointsPerSlice (100) endpoints per slice, each
// endpoint with ready/serving/terminating conditions, node, zone, hostname and targetRef. Slices
// are reused and filled before new ones are made so that a change costs as few writes as
// possible; a Service with no endpoints keeps one empty placeholder slice. Slices carry the
// Service's labels, the service-name and managed-by labels, a controller ownerReference to the
// Service (the garbage collector removes them with it) and the last-change-trigger-time annotation.
// An EndpointSliceTracker of the generations written keeps a lagging cache from producing
// duplicates.
import {
  findPort, isPodTerminal, isServiceIPSet, podsSelectedBy, queueServicesOnServiceAndPodEvents, serviceSelector,
  shouldPodBeInEndpoints, shouldSetHostname, TriggerTimeTracker,
} from './endpoint-util.js';
import type { Node, Pod, Service, ServicePort } from 'kubernetes-types/core/v1.js';
import type { Endpoint, EndpointPort } from 'kubernetes-types/discovery/v1.js';
import type { Reconciler } from '../client/controller.js';
import type { ControllerContext } from '../client/factory.js';
import type { Informer } from '../client/informer.js';
import { keyOf, splitKey, collectionPath, objectPath } from '../client/informer.js';
import type { EventRecorder } from '../client/events.js';
import { isConflict, isNotFound, type RestClient } from '../client/rest.js';
import { WorkQueue } from '../client/workqueue.js';
import type { KObject } from '../api/types.js';
import {
  ANNOTATION_TRIGGER_TIME, LABEL_HEADLESS, LABEL_MANAGED_BY, LABEL_SERVICE_NAME, LABEL_ZONE, SLICES_BY_SERVICE,
  CacheWaits, EndpointSliceTracker, aggregate, endpointKey, endpointsEqualBeyondHash, forWrite, formatRFC3339Nano,
  isNamespaceTerminating, managedBy, parseIP, portMapKey, sameStringMap, sliceNamePrefix, sliceOwnerKey, sliceServiceIndex,
  type AddressType, type SliceObject,
} from './endpointslice-util.js';
import { logger } from '../util/log.js';

export type ServiceObject = Service & KObject;
export type PodObject = Pod & KObject;
export type NodeObject = Node & KObject;

/** controllerQualifiedName: the managed-by value of the slices this controller owns. */
export const CONTROLLER_NAME = 'endpointslice-controller.k8s.io';
/** kube-controller-manager's --max-endpoints-per-slice default. */
export const DEFAULT_MAX_ENDPOINTS_PER_SLICE = 100;
/** The API's limit on endpoints per slice (and the flag's upper bound). */
const MAX_ENDPOINTS_LIMIT = 1000;
/** endpointSliceChangeMinSyncDelay: a foreign change to a slice re-syncs its Service after at least this long. */
const SLICE_CHANGE_MIN_SYNC_DELAY_MS = 1000;
/** Upstream's back-off for this controller: 1 s doubling to 1000 s. */
const RATE_LIMIT = { baseMs: 1000, maxMs: 1_000_000 };

const log = logger('endpointslice-controller');

export interface EndpointSliceControllerOptions {
  /** Endpoints per slice (--max-endpoints-per-slice, 1..1000; default 100). */
  maxEndpointsPerSlice?: number;
  /** Delay of pod-triggered syncs (--endpointslice-updates-batch-period; default 0). */
  endpointUpdatesBatchPeriodMs?: number;
}

function readyCondition(p: Pod) {
  return p.status?.conditions?.find((c) => c.type === 'Ready');
}

function isPodReady(p: Pod): boolean {
  return readyCondition(p)?.status === 'True';
}

/**
 * getAddressTypesForService: the Service's ipFamilies; for objects without them, the family of
 * the ClusterIP, and both families for a headless Service.
 */
export function addressTypesForService(svc: Service): AddressType[] {
  const out = new Set<AddressType>();
  for (const f of svc.spec?.ipFamilies ?? []) if (f === 'IPv4' || f === 'IPv6') out.add(f);
  if (out.size) return [...out];
  if (isServiceIPSet(svc)) return [parseIP(svc.spec!.clusterIP!)?.family ?? 'IPv4'];
  return ['IPv4', 'IPv6'];
}

/** getEndpointPorts: the Service's ports resolved on this pod; ports that do not resolve are left out. */
export function endpointPorts(svc: Service, pod: Pod): EndpointPort[] {
  const out: EndpointPort[] = [];
  for (const sp of svc.spec?.ports ?? []) {
    const port = findPort(pod, sp);
    if (port === undefined) continue;
    const ep: EndpointPort = { name: sp.name ?? '', protocol: sp.protocol ?? 'TCP', port };
    if (sp.appProtocol !== undefined) ep.appProtocol = sp.appProtocol;
    out.push(ep);
  }
  return out;
}

/** podToEndpoint: the pod's addresses of one family, its conditions, and where it runs. */
export function podToEndpoint(pod: Pod, node: Node | undefined, svc: Service, addressType: AddressType): Endpoint {
  const serving = isPodReady(pod);
  const terminating = !!pod.metadata?.deletionTimestamp;
  // For compatibility, a terminating endpoint is never ready unless publishNotReadyAddresses.
  const ready = svc.spec?.publishNotReadyAddresses === true || (serving && !terminating);
  const addresses: string[] = [];
  // Only status.podIPs counts here, as upstream's getEndpointAddresses.
  for (const { ip } of pod.status?.podIPs ?? []) {
    const parsed = ip ? parseIP(ip) : undefined;
    if (parsed && parsed.family === addressType) addresses.push(parsed.ip);
  }
  const ep: Endpoint = { addresses, conditions: { ready, serving, terminating } };
  if (shouldSetHostname(pod, svc)) ep.hostname = pod.spec!.hostname;
  ep.targetRef = { kind: 'Pod', namespace: pod.metadata?.namespace, name: pod.metadata?.name, uid: pod.metadata?.uid };
  if (pod.spec?.nodeName) ep.nodeName = pod.spec.nodeName;
  const zone = node?.metadata?.labels?.[LABEL_ZONE];
  if (zone) ep.zone = zone;
  return ep;
}

const RESERVED_LABELS = new Set([LABEL_SERVICE_NAME, LABEL_MANAGED_BY, LABEL_HEADLESS]);

/**
 * setEndpointSliceLabels: the Service's labels (reserved keys excepted) plus the headless,
 * service-name and managed-by labels; `changed` when the slice's own non-reserved labels differ
 * from the Service's.
 */
export function sliceLabels(current: Record<string, string> | undefined, svc: Service): { labels: Record<string, string>; changed: boolean } {
  const mine: Record<string, string> = {};
  const wanted: Record<string, string> = {};
  for (const k in current ?? {}) if (!RESERVED_LABELS.has(k)) mine[k] = current![k];
  const svcLabels = svc.metadata?.labels ?? {};
  for (const k in svcLabels) if (!RESERVED_LABELS.has(k)) wanted[k] = svcLabels[k];
  const changed = !sameStringMap(mine, wanted);
  if (!isServiceIPSet(svc)) wanted[LABEL_HEADLESS] = '';
  wanted[LABEL_SERVICE_NAME] = svc.metadata?.name ?? '';
  wanted[LABEL_MANAGED_BY] = CONTROLLER_NAME;
  return { labels: wanted, changed };
}

/** newEndpointSlice: generateName `<service>-`, the Service's labels, a controller reference to it. */
export function newEndpointSlice(svc: ServiceObject, ports: EndpointPort[], addressType: AddressType): SliceObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      generateName: sliceNamePrefix(svc.metadata.name ?? ''),
      namespace: svc.metadata.namespace,
      labels: sliceLabels({}, svc).labels,
      ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: svc.metadata.name ?? '', uid: svc.metadata.uid ?? '', controller: true, blockOwnerDeletion: true }],
    },
    addressType,
    endpoints: [],
    ports,
  };
}

/** ownedBy: a reference to this very Service (by uid) — not to an older Service of the same name. */
export function ownedBy(s: SliceObject, svc: Service): boolean {
  return (s.metadata.ownerReferences ?? []).some((o) => o.uid === svc.metadata?.uid && o.kind === 'Service' && o.apiVersion === 'v1');
}

/** placeholderSliceCompare: namespace, labels, owner references, address type, no ports, no endpoints. */
function samePlaceholder(a: SliceObject, b: SliceObject): boolean {
  if ((a.metadata.namespace ?? '') !== (b.metadata.namespace ?? '')) return false;
  if (!sameStringMap(a.metadata.labels, b.metadata.labels)) return false;
  const ra = a.metadata.ownerReferences ?? [], rb = b.metadata.ownerReferences ?? [];
  if (ra.length !== rb.length) return false;
  for (let i = 0; i < ra.length; i++) {
    const x = ra[i], y = rb[i];
    if (x.apiVersion !== y.apiVersion || x.kind !== y.kind || x.name !== y.name || x.uid !== y.uid
      || (x.controller ?? null) !== (y.controller ?? null) || (x.blockOwnerDeletion ?? null) !== (y.blockOwnerDeletion ?? null)) return false;
  }
  return a.addressType === b.addressType && !(a.endpoints?.length) && !(b.endpoints?.length) && !(a.ports?.length) && !(b.ports?.length);
}

/** getSliceToFill: the slice that ends up closest to full (not over) with `count` more endpoints. */
function sliceToFill(slices: SliceObject[], count: number, max: number): SliceObject | undefined {
  let closestDiff = max;
  let closest: SliceObject | undefined;
  for (const s of slices) {
    const diff = max - (count + (s.endpoints?.length ?? 0));
    if (diff >= 0 && diff < closestDiff) {
      closestDiff = diff;
      closest = s;
      if (diff === 0) return closest;
    }
  }
  return closest;
}

/** A copy of a cached slice that may be changed (its endpoints array is new; the endpoints themselves are not copied). */
function copySlice(s: SliceObject): SliceObject {
  return { ...s, metadata: { ...s.metadata }, endpoints: [...(s.endpoints ?? [])] };
}

/** PopAny, in insertion order (upstream pops from a Go map: any order is right). */
function popAny(set: Map<string, Endpoint>): Endpoint {
  const [k, v] = set.entries().next().value as [string, Endpoint];
  set.delete(k);
  return v;
}

export interface SliceChanges {
  create: SliceObject[];
  update: SliceObject[];
  delete: SliceObject[];
}

/**
 * reconcileByPortMapping: (1) keep the still-desired endpoints of each existing slice (fresh
 * versions) and drop the rest — such slices are updated, or deleted when emptied; slices whose
 * labels drifted are updated; the rest are unchanged; (2) fill the slices being updated, fullest
 * first; (3) put what remains into the unchanged slice that ends up closest to full, else into
 * new slices.
 */
export function reconcileByPortMapping(svc: ServiceObject, existing: SliceObject[], desired: Map<string, Endpoint>, ports: EndpointPort[], addressType: AddressType, max: number): SliceChanges {
  const byName = new Map<string, SliceObject>();
  const unchanged = new Set<string>();
  const toUpdate = new Set<string>();
  const toDelete = new Set<string>();

  for (const s of existing) {
    const name = s.metadata.name ?? '';
    byName.set(name, s);
    const kept: Endpoint[] = [];
    let updated = false;
    for (const e of s.endpoints ?? []) {
      const key = endpointKey(e);
      const want = desired.get(key);
      if (!want) continue;
      kept.push(want);
      if (!endpointsEqualBeyondHash(want, e)) updated = true;
      desired.delete(key);
    }
    const { labels, changed } = sliceLabels(s.metadata.labels, svc);
    if (updated || kept.length !== (s.endpoints?.length ?? 0)) {
      if (kept.length === 0) toDelete.add(name);
      else {
        byName.set(name, { ...s, metadata: { ...s.metadata, labels }, endpoints: kept });
        toUpdate.add(name);
      }
    } else if (changed) {
      byName.set(name, { ...copySlice(s), metadata: { ...s.metadata, labels } });
      toUpdate.add(name);
    } else {
      unchanged.add(name);
    }
  }

  if (desired.size > 0 && toUpdate.size > 0) {
    const fullestFirst = [...toUpdate].map((n) => byName.get(n)!).sort((a, b) => b.endpoints!.length - a.endpoints!.length);
    for (const s of fullestFirst) {
      while (desired.size > 0 && s.endpoints!.length < max) s.endpoints!.push(popAny(desired));
    }
  }

  const create: SliceObject[] = [];
  while (desired.size > 0) {
    let fill: SliceObject | undefined;
    if (desired.size < max && unchanged.size > 0) {
      const candidate = sliceToFill([...unchanged].map((n) => byName.get(n)!), desired.size, max);
      if (candidate) {
        fill = copySlice(candidate);
        byName.set(fill.metadata.name ?? '', fill);
      }
    }
    fill ??= newEndpointSlice(svc, ports, addressType);
    while (desired.size > 0 && fill.endpoints!.length < max) fill.endpoints!.push(popAny(desired));
    if (fill.metadata.name) {
      toUpdate.add(fill.metadata.name);
      unchanged.delete(fill.metadata.name);
    } else create.push(fill);
  }

  return { create, update: [...toUpdate].map((n) => byName.get(n)!), delete: [...toDelete].map((n) => byName.get(n)!) };
}

/** hintsEnabled: the topology-mode annotation (or its deprecated form) is Auto. */
function hintsEnabled(annotations: Record<string, string> | undefined): boolean {
  const v = annotations?.['service.kubernetes.io/topology-aware-hints'] ?? annotations?.['service.kubernetes.io/topology-mode'];
  return v === 'Auto' || v === 'auto';
}

type Heuristic = { needsUpdate(s: SliceObject): boolean; update(s: SliceObject): void };

/** Without trafficDistribution: no hints at all. */
const NO_HINTS: Heuristic = {
  needsUpdate: (s) => (s.endpoints ?? []).some((e) => e.hints),
  update(s) {
    s.endpoints = (s.endpoints ?? []).map((e) => {
      if (!e.hints) return e;
      const { hints: _dropped, ...rest } = e;
      return rest;
    });
  },
};

/** trafficDistribution PreferClose: every ready endpoint with a zone is hinted for its own zone. */
const PREFER_CLOSE: Heuristic = {
  needsUpdate: (s) => (s.endpoints ?? []).some((e) => {
    if (e.conditions?.ready !== true) return false;
    const zones = e.hints?.forZones ?? [];
    return e.zone ? zones.length !== 1 || zones[0].name !== e.zone : zones.length > 0;
  }),
  update(s) {
    s.endpoints = (s.endpoints ?? []).map((e) => {
      if (e.conditions?.ready !== true) return e;
      if (e.zone) return { ...e, hints: { forZones: [{ name: e.zone }] } };
      if (!e.hints) return e;
      const { hints: _dropped, ...rest } = e;
      return rest;
    });
  },
};

/**
 * trafficdist.ReconcileHints (and RemoveHintsFromSlices): hints on the slices to write, and
 * unchanged slices whose hints are wrong become updates. The topology-mode annotation (hints
 * from the zones' CPU shares) is not implemented: such Services get no hints, as upstream gives
 * them when it lacks the nodes' zone and CPU information.
 */
function reconcileHints(svc: Service, changes: SliceChanges, unchanged: SliceObject[]): void {
  const h = svc.spec?.trafficDistribution === 'PreferClose' && !hintsEnabled(svc.metadata?.annotations) ? PREFER_CLOSE : NO_HINTS;
  for (const s of unchanged) if (h.needsUpdate(s)) changes.update.push(copySlice(s));
  for (const s of changes.create) h.update(s);
  for (const s of changes.update) h.update(s);
}

export interface PlanInput {
  svc: ServiceObject;
  pods: Iterable<PodObject>;
  /** Existing slices of this address type managed by the controller for the Service. */
  existing: SliceObject[];
  addressType: AddressType;
  maxEndpointsPerSlice: number;
  node(name: string): NodeObject | undefined;
}

/**
 * reconcileByAddressType up to finalize: what to create, update and delete for one address
 * type, and the pods skipped because their node is unknown (errors, so that the sync retries).
 */
export function planAddressType(input: PlanInput): SliceChanges & { errors: Error[] } {
  const { svc, existing, addressType } = input;
  const ns = svc.metadata.namespace ?? '', name = svc.metadata.name ?? '';
  const changes: SliceChanges = { create: [], update: [], delete: [] };
  const errors: Error[] = [];
  const existingByPorts = new Map<string, SliceObject[]>();
  for (const s of existing) {
    if (!ownedBy(s, svc)) {
      changes.delete.push(s);
      continue;
    }
    const key = portMapKey(s.ports);
    const list = existingByPorts.get(key);
    if (list) list.push(s); else existingByPorts.set(key, [s]);
  }

  const desired = new Map<string, { ports: EndpointPort[]; endpoints: Map<string, Endpoint> }>();
  const publishNotReady = svc.spec?.publishNotReadyAddresses === true;
  // Only a named targetPort makes the ports depend on the pod: without one, every pod resolves
  // them alike, and they are resolved (and keyed) once instead of for each pod of the Service.
  const podIndependentPorts = (svc.spec?.ports ?? []).every((sp) => typeof (sp.targetPort ?? sp.port) === 'number');
  let allPods: { ports: EndpointPort[]; endpoints: Map<string, Endpoint> } | undefined;
  for (const pod of input.pods) {
    if (!shouldPodBeInEndpoints(pod, true)) continue;
    let group = allPods;
    if (!group) {
      const ports = endpointPorts(svc, pod);
      const key = portMapKey(ports);
      group = desired.get(key);
      if (!group) desired.set(key, (group = { ports, endpoints: new Map() }));
      if (podIndependentPorts) allPods = group;
    }
    const nodeName = pod.spec?.nodeName ?? '';
    const node = input.node(nodeName);
    if (!node && !publishNotReady) {
      // The pod stays out, and the error makes the Service sync again later (the node may appear).
      errors.push(new Error(`skipping Pod ${pod.metadata.name} for Service ${ns}/${name}: Node ${nodeName} Not Found`));
      continue;
    }
    const ep = podToEndpoint(pod, node, svc, addressType);
    if (ep.addresses.length > 0) group.endpoints.set(endpointKey(ep), ep);
  }

  for (const [key, group] of desired) {
    const c = reconcileByPortMapping(svc, existingByPorts.get(key) ?? [], group.endpoints, group.ports, addressType, input.maxEndpointsPerSlice);
    changes.create.push(...c.create);
    changes.update.push(...c.update);
    changes.delete.push(...c.delete);
  }
  for (const [key, slices] of existingByPorts) if (!desired.has(key)) changes.delete.push(...slices);

  // A Service without endpoints keeps one empty placeholder slice.
  if (existing.length === changes.delete.length && changes.create.length === 0) {
    const placeholder = newEndpointSlice(svc, [], addressType);
    if (changes.delete.length === 1 && samePlaceholder(changes.delete[0], placeholder)) changes.delete = [];
    else changes.create.push(placeholder);
  }

  const changed = new Set([...changes.update, ...changes.delete].map((s) => s.metadata.name));
  reconcileHints(svc, changes, existing.filter((s) => !changed.has(s.metadata.name)));
  return { ...changes, errors };
}

/** Whether a pod update can change its endpoints (podEndpointsChanged's first result). */
function podEndpointChanged(old: PodObject, cur: PodObject): boolean {
  // Upstream compares the deletionTimestamp pointers, so any update of a terminating pod counts.
  if (old.metadata.deletionTimestamp || cur.metadata.deletionTimestamp) return true;
  if (isPodReady(old) !== isPodReady(cur)) return true;
  // Not upstream's: a pod turning terminal while already unready would otherwise stay listed.
  if (isPodTerminal(old) !== isPodTerminal(cur)) return true;
  const a = old.status?.podIPs ?? [], b = cur.status?.podIPs ?? [];
  if (a.length !== b.length) return true;
  for (let i = 0; i < a.length; i++) if (a[i].ip !== b[i].ip) return true;
  return false;
}

export class EndpointSliceController implements Reconciler {
  readonly name = 'endpointslice';
  readonly queue = new WorkQueue('endpoint_slice', RATE_LIMIT);
  readonly tracker = new EndpointSliceTracker();
  private readonly client: RestClient;
  private readonly services: Informer<ServiceObject>;
  private readonly pods: Informer<PodObject>;
  private readonly nodes: Informer<NodeObject>;
  private readonly slices: Informer<SliceObject>;
  private readonly recorder: EventRecorder;
  private readonly triggerTimes = new TriggerTimeTracker();
  private readonly waits = new CacheWaits();
  private readonly maxEndpointsPerSlice: number;
  private readonly batchPeriodMs: number;

  constructor(ctx: ControllerContext, opts: EndpointSliceControllerOptions = {}) {
    this.client = ctx.client;
    this.services = ctx.informers.informer<ServiceObject>('services');
    this.pods = ctx.informers.informer<PodObject>('pods');
    this.nodes = ctx.informers.informer<NodeObject>('nodes');
    this.slices = ctx.informers.informer<SliceObject>('endpointslices');
    this.recorder = ctx.recorder({ component: 'endpoint-slice-controller' });
    const max = opts.maxEndpointsPerSlice ?? DEFAULT_MAX_ENDPOINTS_PER_SLICE;
    if (!Number.isInteger(max) || max < 1 || max > MAX_ENDPOINTS_LIMIT) throw new Error(`maxEndpointsPerSlice must be between 1 and ${MAX_ENDPOINTS_LIMIT}, got ${max}`);
    this.maxEndpointsPerSlice = max;
    this.batchPeriodMs = opts.endpointUpdatesBatchPeriodMs ?? 0;
  }

  async start(): Promise<void> {
    this.slices.addIndex(SLICES_BY_SERVICE, sliceServiceIndex);
    // The same handlers and indexes as the Endpoints controller's: on shared informers the indexes are kept once.
    queueServicesOnServiceAndPodEvents(this.services, this.pods, this.queue, this.batchPeriodMs, podEndpointChanged);
    this.slices.on({
      add: (s) => this.sliceAdded(s),
      update: (old, s) => this.sliceUpdated(old, s),
      delete: (s) => this.sliceDeleted(s),
    });
    await Promise.all([this.services.start(), this.pods.start(), this.nodes.start(), this.slices.start()]);
    // Shared informers may have synced before these handlers were added: sync every Service once.
    for (const s of this.services.list()) this.queue.add(keyOf(s));
  }

  stop(): void {
    for (const i of [this.services, this.pods, this.nodes, this.slices]) i.stop();
  }

  // --- event handlers: they only queue Service keys ------------------------------------------

  /** A slice event for the Service a sync waits on re-queues it at once. */
  private observed(s: SliceObject): void {
    const key = sliceOwnerKey(s);
    if (key && this.waits.observe(key)) this.queue.add(key);
  }

  /** queueServiceForEndpointSlice: changes made by others are synced after a short delay, so that several are taken together. */
  private queueForSlice(s: SliceObject): void {
    const key = sliceOwnerKey(s);
    if (key) this.queue.addAfter(key, Math.max(SLICE_CHANGE_MIN_SYNC_DELAY_MS, this.batchPeriodMs));
  }

  private sliceAdded(s: SliceObject): void {
    this.observed(s);
    if (managedBy(s, CONTROLLER_NAME) && this.tracker.shouldSync(s)) this.queueForSlice(s);
  }

  private sliceUpdated(old: SliceObject, s: SliceObject): void {
    this.observed(s);
    // Label changes do not bump the generation; a changed service-name label moves the slice.
    if (old.metadata.labels?.[LABEL_SERVICE_NAME] !== s.metadata.labels?.[LABEL_SERVICE_NAME]) {
      this.observed(old);
      this.queueForSlice(s);
      this.queueForSlice(old);
      return;
    }
    if (managedBy(old, CONTROLLER_NAME) !== managedBy(s, CONTROLLER_NAME) || (managedBy(s, CONTROLLER_NAME) && this.tracker.shouldSync(s))) this.queueForSlice(s);
  }

  private sliceDeleted(s: SliceObject): void {
    if (managedBy(s, CONTROLLER_NAME) && this.tracker.has(s) && !this.tracker.handleDeletion(s)) this.queueForSlice(s);
    this.observed(s);
  }

  // --- the sync ------------------------------------------------------------------------------

  async reconcile(key: string): Promise<void> {
    const svc = this.services.get(key);
    if (!svc) {
      // Deleted: its slices go with it through their ownerReference (garbage collector).
      const { namespace, name } = splitKey(key);
      this.triggerTimes.delete(key);
      this.tracker.deleteService(namespace ?? '', name);
      this.waits.forget(key);
      return;
    }
    if (svc.spec?.type === 'ExternalName') return;
    const selector = serviceSelector(svc);
    if (!selector) return;
    const pods = podsSelectedBy(this.pods, svc.metadata.namespace ?? '', selector);
    const slices: SliceObject[] = [];
    for (const s of this.slices.iterateIndex(SLICES_BY_SERVICE, key)) {
      // Slices being deleted are left alone, so that the controller does not get stuck on them.
      if (managedBy(s, CONTROLLER_NAME) && !s.metadata.deletionTimestamp) slices.push(s);
    }
    if (this.tracker.staleSlices(svc, slices)) {
      log.debug({ service: key }, 'EndpointSlice informer cache is out of date');
      this.waitForCache(key);
      return;
    }
    // Computed and recorded at once, as upstream (even when the sync turns out a no-op or fails),
    // so that the tracker's state follows the pods.
    const trigger = this.triggerTimes.compute(svc, pods);
    trigger.commit();
    const triggerTime = trigger.time;
    this.waits.begin(key);
    try {
      await this.reconcileSlices(svc, pods, slices, triggerTime);
    } catch (e) {
      const err = e as Error & { conflict?: boolean };
      this.recorder.event(svc, 'Warning', 'FailedToUpdateEndpointSlices', `Error updating Endpoint Slices for Service ${key}: ${err.message}`);
      // A write lost a race with the cache: the informer brings the newer slice soon.
      if (err.conflict) return this.waitForCache(key);
      throw err;
    } finally {
      this.waits.end(key);
    }
  }

  /** Sync again when the cache has caught up (a slice event for the Service), at the latest after the back-off. */
  private waitForCache(key: string): void {
    if (this.waits.wait(key)) this.queue.add(key);
    else this.queue.addAfter(key, RATE_LIMIT.baseMs);
  }

  /** Reconcile: every address type of the Service, then slices of address types it no longer has are deleted. */
  private async reconcileSlices(svc: ServiceObject, pods: PodObject[], slices: SliceObject[], triggerTime: number): Promise<void> {
    const types = addressTypesForService(svc);
    const byType = new Map<AddressType, SliceObject[]>(types.map((t) => [t, []]));
    const unsupported: SliceObject[] = [];
    for (const s of slices) {
      const list = byType.get(s.addressType as AddressType);
      if (list) list.push(s); else unsupported.push(s);
    }
    const errs: Error[] = [];
    let conflict = false;
    const node = (name: string) => (name ? this.nodes.get(name) : undefined);
    for (const addressType of types) {
      const plan = planAddressType({ svc, pods, existing: byType.get(addressType)!, addressType, maxEndpointsPerSlice: this.maxEndpointsPerSlice, node });
      errs.push(...plan.errors);
      try {
        await this.finalize(svc, plan, triggerTime);
      } catch (e) {
        conflict ||= (e as { conflict?: boolean }).conflict === true;
        errs.push(e as Error);
      }
    }
    for (const s of unsupported) {
      try {
        await this.deleteSlice(s);
      } catch (e) {
        errs.push(new Error(`error deleting ${s.metadata.name} EndpointSlice for Service ${keyOf(svc)}: ${(e as Error).message}`));
      }
    }
    const err = aggregate(errs);
    if (err) throw Object.assign(err, { conflict: conflict && errs.length === 1 });
  }

  /** finalize: creates that can reuse a slice about to be deleted become updates of it; then creates, updates, deletes. */
  private async finalize(svc: ServiceObject, changes: SliceChanges, triggerTime: number): Promise<void> {
    const { create, update } = changes;
    const del = [...changes.delete];
    for (let i = 0; i < del.length && create.length > 0;) {
      const old = del[i], fresh = create[create.length - 1];
      // Only slices of this very Service and address type (addressType is immutable).
      if (old.addressType === fresh.addressType && ownedBy(old, svc)) {
        fresh.metadata.name = old.metadata.name;
        create.pop();
        update.push(fresh);
        del.splice(i, 1);
      } else i++;
    }
    const key = keyOf(svc);
    const r = this.slices.resource;
    const ns = svc.metadata.namespace;
    // No new slices for a Service being deleted: the garbage collector would race with them.
    if (!svc.metadata.deletionTimestamp) {
      for (const s of create) {
        stampTriggerTime(s, triggerTime);
        try {
          this.tracker.update(await this.client.create<SliceObject>(collectionPath(r, ns), s));
        } catch (e) {
          if (isNamespaceTerminating(e)) return;
          throw withConflict(`failed to create EndpointSlice for Service ${key}`, e);
        }
      }
    }
    for (const s of update) {
      stampTriggerTime(s, triggerTime);
      try {
        this.tracker.update(await this.client.update<SliceObject>(objectPath(r, ns, s.metadata.name!), forWrite(s)));
      } catch (e) {
        throw withConflict(`failed to update ${s.metadata.name} EndpointSlice for Service ${key}`, e);
      }
    }
    for (const s of del) {
      try {
        await this.deleteSlice(s);
      } catch (e) {
        throw withConflict(`failed to delete ${s.metadata.name} EndpointSlice for Service ${key}`, e);
      }
    }
  }

  /** deleteEndpointSlice: a slice already gone is fine. */
  private async deleteSlice(s: SliceObject): Promise<void> {
    try {
      await this.client.delete(objectPath(this.slices.resource, s.metadata.namespace, s.metadata.name!));
    } catch (e) {
      if (isNotFound(e)) return;
      throw e;
    }
    this.tracker.expectDeletion(s);
  }
}

/** addTriggerTimeAnnotation: set to the trigger time, or removed when there is none. */
function stampTriggerTime(s: SliceObject, triggerTime: number): void {
  const annotations = { ...s.metadata.annotations };
  if (triggerTime) annotations[ANNOTATION_TRIGGER_TIME] = formatRFC3339Nano(triggerTime);
  else delete annotations[ANNOTATION_TRIGGER_TIME];
  s.metadata = { ...s.metadata, annotations };
}

function withConflict(what: string, e: unknown): Error {
  return Object.assign(new Error(`${what}: ${(e as Error).message}`), { conflict: isConflict(e) });
}
