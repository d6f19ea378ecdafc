// The EndpointSlice mirroring controller, after upstream's pkg/controller/endpointslicemirroring:
// the Endpoints a user writes by hand for a Service without selector are mirrored into
// EndpointSlices (kube-proxy and `kubectl describe svc` read slices only). The Endpoints are
// repacked first; each group of addresses that share an address type and a list of ports becomes
// one slice of at most 1,000 endpoints (addresses over that are skipped with a Warning event, and
// so are invalid IPs). Mirrored slices carry the Endpoints' labels and annotations, the
// service-name and managed-by labels, and a controller ownerReference to the Endpoints. They are
// deleted when the Endpoints or the Service go away, when the Service gets a selector, and when
// the Endpoints are labelled `endpointslice.kubernetes.io/skip-mirror: "true"` (as the API
// server labels the `kubernetes` Service's) or carry a leader-election annotation.
import type { EndpointAddress, EndpointPort as CoreEndpointPort, EndpointSubset, Endpoints } from 'kubernetes-types/core/v1.js';
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
  ANNOTATION_LAST_APPLIED, ANNOTATION_LEADER, ANNOTATION_TRIGGER_TIME, LABEL_MANAGED_BY, LABEL_SERVICE_NAME, LABEL_SKIP_MIRROR,
  SLICES_BY_SERVICE, CacheWaits, EndpointSliceTracker, endpointKey, endpointsEqualBeyondHash, forWrite, isNamespaceTerminating,
  managedBy, parseIP, portMapKey, sameStringMap, sliceNamePrefix, sliceOwnerKey, sliceServiceIndex, withoutKeys,
  type AddressType, type SliceObject,
} from './endpointslice-util.js';
import type { ServiceObject } from './endpointslice.js';
import { serviceSelector } from './endpoint-util.js';
import { logger } from '../util/log.js';

export type EndpointsObject = Endpoints & KObject;

/** The managed-by value of mirrored slices. */
export const MIRRORING_CONTROLLER_NAME = 'endpointslicemirroring-controller.k8s.io';
/** --mirroring-max-endpoints-per-subset default (and the API's limit per slice). */
export const DEFAULT_MAX_ENDPOINTS_PER_SUBSET = 1000;
/** Upstream's back-off for this controller: 1 s doubling to 100 s. */
const RATE_LIMIT = { baseMs: 1000, maxMs: 100_000 };

const log = logger('endpointslicemirroring-controller');

export interface EndpointSliceMirroringControllerOptions {
  /** Addresses mirrored per Endpoints subset (--mirroring-max-endpoints-per-subset, 1..1000; default 1000). */
  maxEndpointsPerSubset?: number;
  /** Delay of syncs triggered by slice changes (--mirroring-endpointslice-updates-batch-period; default 0). */
  endpointUpdatesBatchPeriodMs?: number;
}

/** shouldMirror: not labelled skip-mirror, and no leader-election record. */
export function shouldMirror(ep: Endpoints | undefined): boolean {
  if (!ep) return false;
  return ep.metadata?.labels?.[LABEL_SKIP_MIRROR] !== 'true' && ep.metadata?.annotations?.[ANNOTATION_LEADER] === undefined;
}

// --- RepackSubsets ---------------------------------------------------------------------------

/** The port key of an Endpoints port (`undefined` for the sentinel of a subset without ports). */
function corePortKey(p: CoreEndpointPort | undefined): string {
  return p ? `${p.name ?? ''}\u0000${p.protocol ?? 'TCP'}\u0000${p.port}\u0000${p.appProtocol ?? '\u0001'}` : '';
}

/** LessEndpointAddress: by IP as a byte string, then by targetRef uid (none first). */
function lessAddress(a: EndpointAddress, b: EndpointAddress): number {
  if (a.ip !== b.ip) return a.ip < b.ip ? -1 : 1;
  const ua = a.targetRef ? a.targetRef.uid ?? '' : undefined, ub = b.targetRef ? b.targetRef.uid ?? '' : undefined;
  if (ua === ub) return 0;
  if (ub === undefined) return 1;
  if (ua === undefined) return -1;
  return ua < ub ? -1 : ua > ub ? 1 : 0;
}

/**
 * RepackSubsets: every (address, port) pair is flattened, addresses de-duplicated by IP and
 * targetRef uid (not-ready wins over ready), then ports that share the same addresses are
 * grouped into one subset. Addresses are sorted as upstream sorts them; upstream orders ports
 * and subsets by a hash of their Go representation, kubelite by the ports' own fields.
 */
export function repackSubsets(subsets: EndpointSubset[] | undefined): EndpointSubset[] {
  const addrs = new Map<string, EndpointAddress>();
  const byPort = new Map<string, { port: CoreEndpointPort | undefined; ready: Map<EndpointAddress, boolean> }>();
  const record = (a: EndpointAddress, port: CoreEndpointPort | undefined, ready: boolean) => {
    const aKey = `${a.ip}\u0000${a.targetRef?.uid ?? ''}`;
    let addr = addrs.get(aKey);
    if (!addr) addrs.set(aKey, (addr = a));
    const pKey = corePortKey(port);
    let entry = byPort.get(pKey);
    if (!entry) byPort.set(pKey, (entry = { port, ready: new Map() }));
    const was = entry.ready.get(addr);
    if (was === undefined || was) entry.ready.set(addr, ready);
  };
  for (const ss of subsets ?? []) {
    // A subset without ports keeps its addresses (under a sentinel port).
    const ports: (CoreEndpointPort | undefined)[] = ss.ports?.length ? ss.ports : [undefined];
    for (const port of ports) {
      for (const a of ss.addresses ?? []) record(a, port, true);
      for (const a of ss.notReadyAddresses ?? []) record(a, port, false);
    }
  }
  const groups = new Map<string, { ports: CoreEndpointPort[]; ready: EndpointAddress[]; notReady: EndpointAddress[] }>();
  for (const { port, ready } of byPort.values()) {
    const ready_: EndpointAddress[] = [], notReady: EndpointAddress[] = [];
    for (const [a, r] of ready) (r ? ready_ : notReady).push(a);
    ready_.sort(lessAddress);
    notReady.sort(lessAddress);
    const key = [...ready_.map((a) => `+${a.ip}/${a.targetRef?.uid ?? ''}`), ...notReady.map((a) => `-${a.ip}/${a.targetRef?.uid ?? ''}`)].join(',');
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { ports: [], ready: ready_, notReady }));
    if (port) g.ports.push(port);
  }
  const out: EndpointSubset[] = [];
  for (const g of groups.values()) {
    g.ports.sort((a, b) => (corePortKey(a) < corePortKey(b) ? -1 : 1));
    const ss: EndpointSubset = {};
    if (g.ready.length) ss.addresses = g.ready;
    if (g.notReady.length) ss.notReadyAddresses = g.notReady;
    if (g.ports.length) ss.ports = g.ports;
    out.push(ss);
  }
  const first = (ss: EndpointSubset) => corePortKey(ss.ports?.[0]);
  return out.sort((a, b) => (first(a) < first(b) ? -1 : first(a) > first(b) ? 1 : 0));
}

// --- conversion --------------------------------------------------------------------------------

/** epPortsToEpsPorts. */
function slicePorts(ports: CoreEndpointPort[] | undefined): EndpointPort[] {
  return (ports ?? []).map((p) => {
    const out: EndpointPort = { name: p.name ?? '', protocol: p.protocol ?? 'TCP', port: p.port };
    if (p.appProtocol !== undefined) out.appProtocol = p.appProtocol;
    return out;
  });
}

/** addressToEndpoint: the IP in canonical form and its family; undefined for an invalid IP. */
function addressToEndpoint(a: EndpointAddress, ready: boolean): { endpoint: Endpoint; addressType: AddressType } | undefined {
  const parsed = parseIP(a.ip ?? '');
  if (!parsed) return undefined;
  const endpoint: Endpoint = { addresses: [parsed.ip], conditions: { ready } };
  if (a.hostname) endpoint.hostname = a.hostname;
  if (a.targetRef) endpoint.targetRef = a.targetRef;
  if (a.nodeName !== undefined) endpoint.nodeName = a.nodeName;
  return { endpoint, addressType: parsed.family };
}

const groupKey = (addressType: AddressType, ports: EndpointPort[] | null | undefined) => `${addressType}|${portMapKey(ports)}`;

/** newEndpointSlice of the mirroring controller: the Endpoints' labels and annotations, a controller reference to them. */
function newMirroredSlice(ep: EndpointsObject, ports: EndpointPort[], addressType: AddressType, name: string | undefined): SliceObject {
  const labels: Record<string, string> = { ...ep.metadata.labels, [LABEL_SERVICE_NAME]: ep.metadata.name ?? '', [LABEL_MANAGED_BY]: MIRRORING_CONTROLLER_NAME };
  const annotations = withoutKeys(ep.metadata.annotations, ANNOTATION_TRIGGER_TIME, ANNOTATION_LAST_APPLIED);
  const metadata: SliceObject['metadata'] = name ? { name } : { generateName: sliceNamePrefix(ep.metadata.name ?? '') };
  Object.assign(metadata, {
    namespace: ep.metadata.namespace,
    labels,
    annotations,
    ownerReferences: [{ apiVersion: 'v1', kind: 'Endpoints', name: ep.metadata.name ?? '', uid: ep.metadata.uid ?? '', controller: true, blockOwnerDeletion: true }],
  });
  return { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata, addressType, endpoints: [], ports };
}

export interface MirrorChanges {
  create: SliceObject[];
  update: SliceObject[];
  delete: SliceObject[];
}

/** Whether the slice's controller reference names this very Endpoints object. */
function ownedByEndpoints(s: SliceObject, ep: EndpointsObject): boolean {
  return (s.metadata.ownerReferences ?? []).some((o) => o.controller && o.kind === 'Endpoints' && o.uid === ep.metadata.uid);
}

/**
 * reconcileByPortMapping of the mirroring controller: one slice per group; the first existing
 * slice is kept as it is when its endpoints, labels and annotations already match, else
 * rewritten; the others are deleted.
 */
function mirrorGroup(ep: EndpointsObject, existing: SliceObject[], desired: Map<string, Endpoint>, ports: EndpointPort[], addressType: AddressType, max: number): MirrorChanges {
  const out: MirrorChanges = { create: [], update: [], delete: [] };
  if (desired.size === 0) {
    out.delete = existing;
    return out;
  }
  if (existing.length > 0) {
    out.delete = existing.slice(1);
    const first = existing[0];
    let matches = 0, differs = false;
    for (const e of first.endpoints ?? []) {
      const want = desired.get(endpointKey(e));
      if (!want) differs = true;
      else {
        matches++;
        if (!endpointsEqualBeyondHash(want, e)) differs = true;
      }
    }
    const same = !differs && matches === desired.size
      && sameStringMap(ep.metadata.labels, withoutKeys(first.metadata.labels, LABEL_MANAGED_BY, LABEL_SERVICE_NAME))
      && sameStringMap(withoutKeys(ep.metadata.annotations, ANNOTATION_TRIGGER_TIME, ANNOTATION_LAST_APPLIED), first.metadata.annotations)
      // Not upstream's: a slice still owned by an earlier Endpoints of the same name would be
      // garbage collected, so it is rewritten with the current owner.
      && ownedByEndpoints(first, ep);
    if (same) return out;
  }
  const slice = newMirroredSlice(ep, ports, addressType, existing[0]?.metadata.name);
  for (const e of desired.values()) {
    if (slice.endpoints!.length >= max) break;
    slice.endpoints!.push(e);
  }
  if (slice.metadata.name) out.update.push(slice);
  else out.create.push(slice);
  return out;
}

export interface MirrorPlan extends MirrorChanges {
  invalidAddresses: number;
  skippedAddresses: number;
}

/** reconcile up to finalize: the slices to write for the Endpoints, given the mirrored slices that exist. */
export function planMirroring(ep: EndpointsObject, existing: SliceObject[], maxPerSubset: number): MirrorPlan {
  const desired = new Map<string, { ports: EndpointPort[]; addressType: AddressType; endpoints: Map<string, Endpoint> }>();
  let invalid = 0, skipped = 0;
  for (const ss of repackSubsets(ep.subsets)) {
    const ports = slicePorts(ss.ports);
    const keys = {} as Record<AddressType, string>;
    for (const t of ['IPv4', 'IPv6'] as AddressType[]) {
      keys[t] = groupKey(t, ports);
      const g = desired.get(keys[t]);
      if (g) g.ports = ports;
      else desired.set(keys[t], { ports, addressType: t, endpoints: new Map() });
    }
    const total = (ss.addresses?.length ?? 0) + (ss.notReadyAddresses?.length ?? 0);
    let added = 0;
    for (const [list, ready] of [[ss.addresses ?? [], true], [ss.notReadyAddresses ?? [], false]] as const) {
      for (const a of list) {
        // At most maxPerSubset addresses per subset: one subset maps onto one slice.
        if (added >= maxPerSubset) break;
        const conv = addressToEndpoint(a, ready);
        if (!conv) {
          invalid++;
          log.info({ endpoints: keyOf(ep), ip: a.ip }, 'Address in Endpoints is not a valid IP, it will not be mirrored to an EndpointSlice');
          continue;
        }
        desired.get(keys[conv.addressType])!.endpoints.set(endpointKey(conv.endpoint), conv.endpoint);
        added++;
      }
    }
    skipped += total - added;
  }

  const existingByKey = new Map<string, SliceObject[]>();
  for (const s of existing) {
    const key = groupKey(s.addressType as AddressType, s.ports);
    const list = existingByKey.get(key);
    if (list) list.push(s); else existingByKey.set(key, [s]);
  }
  const plan: MirrorPlan = { create: [], update: [], delete: [], invalidAddresses: invalid, skippedAddresses: skipped };
  for (const [key, g] of desired) {
    const c = mirrorGroup(ep, existingByKey.get(key) ?? [], g.endpoints, g.ports, g.addressType, maxPerSubset);
    plan.create.push(...c.create);
    plan.update.push(...c.update);
    plan.delete.push(...c.delete);
  }
  for (const [key, slices] of existingByKey) if (!desired.has(key)) plan.delete.push(...slices);
  recycleSlices(plan);
  return plan;
}

/** recycleSlices: creates become updates of slices of the same address type that were to be deleted. */
function recycleSlices(plan: MirrorChanges): void {
  for (const t of ['IPv4', 'IPv6'] as AddressType[]) {
    const creates = plan.create.filter((s) => s.addressType === t);
    const deletes = plan.delete.filter((s) => s.addressType === t);
    for (let i = 0; i < creates.length && i < deletes.length; i++) {
      const fresh = creates[i], old = deletes[i];
      plan.create.splice(plan.create.indexOf(fresh), 1);
      plan.delete.splice(plan.delete.indexOf(old), 1);
      const { generateName: _unused, ...metadata } = fresh.metadata;
      fresh.metadata = { ...metadata, name: old.metadata.name };
      plan.update.push(fresh);
    }
  }
}

export class EndpointSliceMirroringController implements Reconciler {
  readonly name = 'endpointslice-mirroring';
  readonly queue = new WorkQueue('endpoint_slice_mirroring', RATE_LIMIT);
  readonly tracker = new EndpointSliceTracker();
  private readonly client: RestClient;
  private readonly endpoints: Informer<EndpointsObject>;
  private readonly services: Informer<ServiceObject>;
  private readonly slices: Informer<SliceObject>;
  private readonly recorder: EventRecorder;
  private readonly waits = new CacheWaits();
  private readonly maxPerSubset: number;
  private readonly batchPeriodMs: number;

  constructor(ctx: ControllerContext, opts: EndpointSliceMirroringControllerOptions = {}) {
    this.client = ctx.client;
    this.endpoints = ctx.informers.informer<EndpointsObject>('endpoints');
    this.services = ctx.informers.informer<ServiceObject>('services');
    this.slices = ctx.informers.informer<SliceObject>('endpointslices');
    this.recorder = ctx.recorder({ component: 'endpoint-slice-mirroring-controller' });
    const max = opts.maxEndpointsPerSubset ?? DEFAULT_MAX_ENDPOINTS_PER_SUBSET;
    if (!Number.isInteger(max) || max < 1 || max > 1000) throw new Error(`maxEndpointsPerSubset must be between 1 and 1000, got ${max}`);
    this.maxPerSubset = max;
    this.batchPeriodMs = opts.endpointUpdatesBatchPeriodMs ?? 0;
  }

  async start(): Promise<void> {
    this.slices.addIndex(SLICES_BY_SERVICE, sliceServiceIndex);
    this.endpoints.on({
      add: (ep) => shouldMirror(ep) && this.queue.add(keyOf(ep)),
      update: (old, ep) => (shouldMirror(ep) || shouldMirror(old)) && this.queue.add(keyOf(ep)),
      delete: (ep) => shouldMirror(ep) && this.queue.add(keyOf(ep)),
    });
    this.services.on({
      add: (s) => !serviceSelector(s) && this.queue.add(keyOf(s)),
      update: (old, s) => !serviceSelector(old) !== !serviceSelector(s) && this.queue.add(keyOf(s)),
      delete: (s) => !serviceSelector(s) && this.queue.add(keyOf(s)),
    });
    this.slices.on({
      add: (s) => {
        this.observed(s);
        if (managedBy(s, MIRRORING_CONTROLLER_NAME) && this.tracker.shouldSync(s)) this.queueForSlice(s);
      },
      update: (old, s) => {
        this.observed(s);
        if (old.metadata.labels?.[LABEL_SERVICE_NAME] !== s.metadata.labels?.[LABEL_SERVICE_NAME]) {
          this.observed(old);
          this.queueForSlice(s);
          this.queueForSlice(old);
          return;
        }
        const mine = managedBy(s, MIRRORING_CONTROLLER_NAME);
        if (managedBy(old, MIRRORING_CONTROLLER_NAME) !== mine || (mine && this.tracker.shouldSync(s))) this.queueForSlice(s);
      },
      delete: (s) => {
        if (managedBy(s, MIRRORING_CONTROLLER_NAME) && this.tracker.has(s) && !this.tracker.handleDeletion(s)) this.queueForSlice(s);
        this.observed(s);
      },
    });
    await Promise.all([this.endpoints.start(), this.services.start(), this.slices.start()]);
    // Shared informers may have synced before these handlers were added: every Endpoints to
    // mirror, and every mirrored slice's Endpoints (leftovers whose Endpoints are gone), once.
    for (const ep of this.endpoints.list()) if (shouldMirror(ep)) this.queue.add(keyOf(ep));
    for (const s of this.slices.list()) if (managedBy(s, MIRRORING_CONTROLLER_NAME)) this.queueForSlice(s);
  }

  stop(): void {
    for (const i of [this.endpoints, this.services, this.slices]) i.stop();
  }

  private queueForSlice(s: SliceObject): void {
    const key = sliceOwnerKey(s);
    if (key) this.queue.addAfter(key, this.batchPeriodMs);
  }

  private observed(s: SliceObject): void {
    const key = sliceOwnerKey(s);
    if (key && this.waits.observe(key)) this.queue.add(key);
  }

  /** endpointSlicesMirroredForService. */
  private mirroredSlices(key: string): SliceObject[] {
    const out: SliceObject[] = [];
    for (const s of this.slices.iterateIndex(SLICES_BY_SERVICE, key)) if (managedBy(s, MIRRORING_CONTROLLER_NAME)) out.push(s);
    return out;
  }

  async reconcile(key: string): Promise<void> {
    const { namespace = '', name } = splitKey(key);
    const ep = this.endpoints.get(key);
    const svc = this.services.get(key);
    // Nothing (more) to mirror: no Endpoints, skip-mirror, no Service, or a Service with a selector.
    if (!ep || !shouldMirror(ep) || !svc || serviceSelector(svc)) {
      this.waits.forget(key);
      return this.deleteMirroredSlices(namespace, name);
    }
    const slices = this.mirroredSlices(key);
    if (this.tracker.staleSlices(svc, slices)) {
      log.debug({ endpoints: key }, 'EndpointSlice informer cache is out of date');
      return this.waitForCache(key);
    }
    const plan = planMirroring(ep, slices, this.maxPerSubset);
    if (plan.invalidAddresses > 0) {
      this.recorder.event(ep, 'Warning', 'InvalidIPAddress', `Skipped ${plan.invalidAddresses} invalid IP addresses when mirroring to EndpointSlices`);
    }
    if (plan.skippedAddresses > plan.invalidAddresses) {
      log.info({ endpoints: key, skippedAddresses: plan.skippedAddresses }, 'Addresses in Endpoints were skipped due to exceeding MaxEndpointsPerSubset');
      this.recorder.event(ep, 'Warning', 'TooManyAddressesToMirror',
        `A max of ${this.maxPerSubset} addresses can be mirrored to EndpointSlices per Endpoints subset. ${plan.skippedAddresses} addresses were skipped`);
    }
    this.waits.begin(key);
    try {
      await this.finalize(ep, plan);
    } catch (e) {
      if ((e as { conflict?: boolean }).conflict) return this.waitForCache(key);
      throw e;
    } finally {
      this.waits.end(key);
    }
  }

  private waitForCache(key: string): void {
    if (this.waits.wait(key)) this.queue.add(key);
    else this.queue.addAfter(key, RATE_LIMIT.baseMs);
  }

  /** finalize: creates (not while the Endpoints are being deleted), updates, deletes. */
  private async finalize(ep: EndpointsObject, plan: MirrorChanges): Promise<void> {
    const r = this.slices.resource;
    const ns = ep.metadata.namespace;
    const key = keyOf(ep);
    if (!ep.metadata.deletionTimestamp) {
      for (const s of plan.create) {
        try {
          this.tracker.update(await this.client.create<SliceObject>(collectionPath(r, ns), s));
        } catch (e) {
          if (isNamespaceTerminating(e)) return;
          throw failure(`failed to create EndpointSlice for Endpoints ${key}`, e);
        }
      }
    }
    for (const s of plan.update) {
      try {
        this.tracker.update(await this.client.update<SliceObject>(objectPath(r, ns, s.metadata.name!), forWrite(s)));
      } catch (e) {
        throw failure(`failed to update ${s.metadata.name} EndpointSlice for Endpoints ${key}`, e);
      }
    }
    for (const s of plan.delete) {
      try {
        await this.client.delete(objectPath(r, ns, s.metadata.name!));
      } catch (e) {
        if (isNotFound(e)) continue;
        throw failure(`failed to delete ${s.metadata.name} EndpointSlice for Endpoints ${key}`, e);
      }
      this.tracker.expectDeletion(s);
    }
  }

  /** deleteMirroredSlices: every slice mirrored for this name goes. */
  private async deleteMirroredSlices(namespace: string, name: string): Promise<void> {
    const slices = this.mirroredSlices(`${namespace}/${name}`);
    this.tracker.deleteService(namespace, name);
    const errs: Error[] = [];
    for (const s of slices) {
      try {
        await this.client.delete(objectPath(this.slices.resource, namespace, s.metadata.name!));
      } catch (e) {
        if (!isNotFound(e)) errs.push(e as Error);
      }
    }
    if (errs.length) throw new Error(`Error(s) deleting ${errs.length}/${slices.length} EndpointSlices for ${namespace}/${name} Endpoints, including: ${errs[0].message}`);
  }
}

function failure(what: string, e: unknown): Error {
  return Object.assign(new Error(`${what}: ${(e as Error).message}`), { conflict: isConflict(e) });
}
