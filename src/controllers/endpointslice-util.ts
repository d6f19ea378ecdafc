// What the EndpointSlice controller and the EndpointSlice mirroring controller share, after
// upstream's staging/src/k8s.io/endpointslice/util (EndpointSliceTracker, endpoint hashing and
// comparison, port map keys) and the helpers both controllers' utils.go files repeat (slice name
// prefixes, managed-by checks, the key of the Service or Endpoints a slice belongs to).
import type { EndpointSlice, Endpoint, EndpointPort } from 'kubernetes-types/discovery/v1.js';
import type { ObjectReference } from 'kubernetes-types/core/v1.js';
import type { KObject } from '../api/types.js';
import { scanIPv4 } from '../api/validation/ip.js';
import { ApiStatusError } from '../client/rest.js';

export type SliceObject = EndpointSlice & KObject;
export type AddressType = 'IPv4' | 'IPv6';

/** discovery.LabelServiceName */
export const LABEL_SERVICE_NAME = 'kubernetes.io/service-name';
/** discovery.LabelManagedBy */
export const LABEL_MANAGED_BY = 'endpointslice.kubernetes.io/managed-by';
/** discovery.LabelSkipMirror */
export const LABEL_SKIP_MIRROR = 'endpointslice.kubernetes.io/skip-mirror';
/** v1.IsHeadlessService */
export const LABEL_HEADLESS = 'service.kubernetes.io/headless';
/** v1.EndpointsLastChangeTriggerTime */
export const ANNOTATION_TRIGGER_TIME = 'endpoints.kubernetes.io/last-change-trigger-time';
/** v1.LastAppliedConfigAnnotation */
export const ANNOTATION_LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
/** resourcelock.LeaderElectionRecordAnnotationKey */
export const ANNOTATION_LEADER = 'control-plane.alpha.kubernetes.io/leader';
/** v1.LabelTopologyZone */
export const LABEL_ZONE = 'topology.kubernetes.io/zone';

/**
 * Index of EndpointSlices by `namespace/<kubernetes.io/service-name>`: both controllers find
 * the slices of a Service (or Endpoints) through it, as upstream's listers do by label selector.
 */
export const SLICES_BY_SERVICE = 'endpointslice/service-name';

export function sliceServiceIndex(s: SliceObject): string[] {
  const svc = s.metadata.labels?.[LABEL_SERVICE_NAME];
  return svc ? [`${s.metadata.namespace ?? ''}/${svc}`] : [];
}

/** ServiceControllerKey / endpointsControllerKey: `namespace/name` of the owner named by the service-name label. */
export function sliceOwnerKey(s: SliceObject): string | undefined {
  const svc = s.metadata.labels?.[LABEL_SERVICE_NAME];
  return svc ? `${s.metadata.namespace ?? ''}/${svc}` : undefined;
}

export function managedBy(s: SliceObject, controller: string): boolean {
  return s.metadata.labels?.[LABEL_MANAGED_BY] === controller;
}

/**
 * getEndpointSlicePrefix: `<name>-` when that is a valid prefix of a DNS subdomain name (the
 * server appends 5 random characters), else the name itself. Names are already DNS subdomains,
 * so only the length can make the dash invalid.
 */
export function sliceNamePrefix(name: string): string {
  return name.length + 1 <= 253 ? `${name}-` : name;
}

/** A parsed IP: upstream parses "sloppily" (IPv4 octets with leading zeros) and writes it back canonically. */
export interface ParsedIP {
  ip: string;
  family: AddressType;
}

/** Dotted decimal, leading zeros dropped: `s` itself when it is already canonical, as pod IPs are. */
function parseIPv4(s: string): string | undefined {
  const canonical = scanIPv4(s);
  if (canonical === undefined) return undefined;
  return canonical ? s : s.split('.').map(Number).join('.');
}

/**
 * Parsed IPv6 addresses (their normal form goes through the URL parser, which is slow); IPv4
 * addresses are parsed each time, faster than a lookup in a map of every pod IP would be.
 */
const parsedIPv6Cache = new Map<string, ParsedIP | null>();

/**
 * netutils.ParseIPSloppy followed by IP.String(): IPv4 in dotted decimal; IPv6 in RFC 5952 form
 * (the WHATWG URL serialiser writes the same); IPv4-mapped IPv6 addresses count as IPv4 (Go's
 * To4() succeeds for them). undefined for anything that is not an IP.
 */
export function parseIP(s: string): ParsedIP | undefined {
  const v4 = parseIPv4(s);
  if (v4) return { ip: v4, family: 'IPv4' };
  const cached = parsedIPv6Cache.get(s);
  if (cached !== undefined) return cached ?? undefined;
  let out: ParsedIP | undefined;
  if (s.includes(':') && !s.includes('%') && !s.includes('[') && !s.includes('/')) {
    try {
      const host = new URL(`http://[${s}]/`).hostname.slice(1, -1);
      const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
      if (mapped) {
        const hi = parseInt(mapped[1], 16), lo = parseInt(mapped[2], 16);
        out = { ip: `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`, family: 'IPv4' };
      } else out = { ip: host, family: 'IPv6' };
    } catch {
      out = undefined;
    }
  }
  // Pod IPs repeat endlessly; the cache is bounded so that hand-written garbage cannot grow it.
  if (parsedIPv6Cache.size > 100_000) parsedIPv6Cache.clear();
  parsedIPv6Cache.set(s, out ?? null);
  return out;
}

/**
 * The identity of an endpoint (upstream's endpointHash): its sorted addresses, hostname and the
 * namespace/name of its targetRef. Conditions, node, zone and hints are not part of it, so that
 * their changes are updates of the same endpoint in place.
 */
export function endpointKey(e: Endpoint): string {
  const addrs = e.addresses.length > 1 ? [...e.addresses].sort() : e.addresses;
  return `${addrs.join(',')}|${e.hostname ?? ''}|${e.targetRef?.namespace ?? ''}/${e.targetRef?.name ?? ''}`;
}

function sameRef(a: ObjectReference | undefined, b: ObjectReference | undefined): boolean {
  if (!a || !b) return !a && !b;
  // Semantic equality of ObjectReference, resourceVersion ignored.
  return (a.kind ?? '') === (b.kind ?? '') && (a.namespace ?? '') === (b.namespace ?? '') && (a.name ?? '') === (b.name ?? '')
    && (a.uid ?? '') === (b.uid ?? '') && (a.apiVersion ?? '') === (b.apiVersion ?? '') && (a.fieldPath ?? '') === (b.fieldPath ?? '');
}

/** EndpointsEqualBeyondHash: equal in everything the key leaves out (hints aside, as upstream). */
export function endpointsEqualBeyondHash(a: Endpoint, b: Endpoint): boolean {
  const ca = a.conditions ?? {}, cb = b.conditions ?? {};
  return a.nodeName === b.nodeName && a.zone === b.zone
    && ca.ready === cb.ready && ca.serving === cb.serving && ca.terminating === cb.terminating
    && sameRef(a.targetRef, b.targetRef);
}

/** An EndpointPort with the server's defaults applied (name "" and TCP), as stored slices carry them. */
function portString(p: EndpointPort): string {
  return `${p.name ?? ''}\u0000${p.protocol ?? 'TCP'}\u0000${p.port ?? ''}\u0000${p.appProtocol ?? '\u0001'}`;
}

/** NewPortMapKey: the same set of ports in any order gives the same key. */
export function portMapKey(ports: EndpointPort[] | null | undefined): string {
  if (!ports || ports.length === 0) return '';
  const parts = ports.map(portString);
  if (parts.length > 1) parts.sort();
  return parts.join('\u0002');
}

/** Shallow-equal string maps, nil and empty alike (apimachinery semantic equality). */
export function sameStringMap(a: Record<string, string> | undefined | null, b: Record<string, string> | undefined | null): boolean {
  const ka = a ? Object.keys(a) : [], kb = b ? Object.keys(b) : [];
  if (ka.length !== kb.length) return false;
  for (const k of ka) if (!b || !Object.prototype.hasOwnProperty.call(b, k) || b[k] !== a![k]) return false;
  return true;
}

/** A copy of a string map without some keys. */
export function withoutKeys(m: Record<string, string> | undefined, ...keys: string[]): Record<string, string> {
  const out: Record<string, string> = { ...m };
  for (const k of keys) delete out[k];
  return out;
}

/** Whether an API error carries the NamespaceTerminating cause (creating in a terminating namespace). */
export function isNamespaceTerminating(e: unknown): boolean {
  if (!(e instanceof ApiStatusError)) return false;
  const causes = (e.status.details?.causes ?? []) as { type?: string }[];
  return causes.some((c) => c.type === 'NamespaceTerminating') || (e.code === 403 && /because it is being terminated/.test(e.message));
}

/** utilerrors.NewAggregate's message: one error as it is, several as `[a, b]`. */
export function aggregate(errs: Error[]): Error | undefined {
  if (errs.length === 0) return undefined;
  if (errs.length === 1) return errs[0];
  return new Error(`[${errs.map((e) => e.message).join(', ')}]`);
}

/** Go's time.RFC3339Nano in UTC: fractional seconds only when non-zero, trailing zeros trimmed. */
export function formatRFC3339Nano(ms: number): string {
  const iso = new Date(ms).toISOString();
  return iso.replace(/\.(\d{3})Z$/, (_m, frac: string) => {
    const f = frac.replace(/0+$/, '');
    return f ? `.${f}Z` : 'Z';
  });
}

/** A slice without metadata.managedFields (a write leaves them out: the server keeps them). */
export function forWrite(s: SliceObject): SliceObject {
  if (s.metadata.managedFields === undefined) return s;
  const { managedFields: _omitted, ...metadata } = s.metadata;
  return { ...s, metadata };
}

const DELETION_EXPECTED = -1;

interface ServiceRef {
  metadata: { namespace?: string; name?: string; uid?: string };
}

/**
 * EndpointSliceTracker: the generation of every slice this controller wrote, per Service (or
 * Endpoints), and the slices it deleted. A cache that holds an older generation, still holds a
 * deleted slice, or lacks a created one is stale: syncing from it would write duplicates or
 * undo the controller's own writes.
 */
export class EndpointSliceTracker {
  private readonly generations = new Map<string, Map<string, number>>();
  /** The uid of each Service seen: a re-created Service starts with nothing expected. */
  private readonly serviceUids = new Map<string, string>();

  private forSlice(s: SliceObject): Map<string, number> | undefined {
    return this.generations.get(sliceOwnerKey(s) ?? `${s.metadata.namespace ?? ''}/`);
  }

  private ensure(s: SliceObject): Map<string, number> {
    const key = sliceOwnerKey(s) ?? `${s.metadata.namespace ?? ''}/`;
    let g = this.generations.get(key);
    if (!g) this.generations.set(key, (g = new Map()));
    return g;
  }

  has(s: SliceObject): boolean {
    return this.forSlice(s)?.has(s.metadata.uid ?? '') ?? false;
  }

  /** True unless the tracker holds this slice at this generation or newer (i.e. it is the controller's own write). */
  shouldSync(s: SliceObject): boolean {
    const g = this.forSlice(s)?.get(s.metadata.uid ?? '');
    return g === undefined || (s.metadata.generation ?? 0) > g;
  }

  /** Whether the cached `slices` of `svc` lag behind this controller's writes. */
  staleSlices(svc: ServiceRef, slices: SliceObject[]): boolean {
    const key = `${svc.metadata.namespace ?? ''}/${svc.metadata.name ?? ''}`;
    const uid = svc.metadata.uid ?? '';
    const tracked = this.serviceUids.get(key);
    if (tracked && uid && tracked !== uid) this.generations.delete(key);
    this.serviceUids.set(key, uid);
    const gens = this.generations.get(key);
    if (!gens) return false;
    const provided = new Set<string>();
    for (const s of slices) {
      const sliceUid = s.metadata.uid ?? '';
      provided.add(sliceUid);
      const g = gens.get(sliceUid);
      if (g !== undefined && (g === DELETION_EXPECTED || g > (s.metadata.generation ?? 0))) return true;
    }
    for (const [sliceUid, g] of gens) if (g !== DELETION_EXPECTED && !provided.has(sliceUid)) return true;
    return false;
  }

  update(s: SliceObject): void {
    this.ensure(s).set(s.metadata.uid ?? '', s.metadata.generation ?? 0);
  }

  expectDeletion(s: SliceObject): void {
    this.ensure(s).set(s.metadata.uid ?? '', DELETION_EXPECTED);
  }

  /** Forget the slice; true if its deletion was expected (or it was never tracked). */
  handleDeletion(s: SliceObject): boolean {
    const gens = this.forSlice(s);
    if (!gens) return true;
    const uid = s.metadata.uid ?? '';
    const g = gens.get(uid);
    gens.delete(uid);
    return g === undefined || g === DELETION_EXPECTED;
  }

  deleteService(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    this.generations.delete(key);
    this.serviceUids.delete(key);
  }
}

/**
 * Keys whose sync found the cache stale (or lost a write race) and waits for the informer to
 * catch up. Upstream returns an error and retries after its back-off (1 s at first); kubelite
 * re-queues the key as soon as a slice event for it arrives (the one that ends the staleness),
 * with the back-off as a fallback, so that a fast series of pod changes is not held up by it.
 */
export class CacheWaits {
  private readonly waiting = new Set<string>();
  private readonly syncing = new Set<string>();
  private readonly seenWhileSyncing = new Set<string>();

  /** A sync of `key` begins. */
  begin(key: string): void {
    this.syncing.add(key);
    this.seenWhileSyncing.delete(key);
  }

  end(key: string): void {
    this.syncing.delete(key);
    this.seenWhileSyncing.delete(key);
  }

  /** Wait for the next slice event of `key`; true if one already arrived during the sync (re-queue now). */
  wait(key: string): boolean {
    if (this.seenWhileSyncing.has(key)) return true;
    this.waiting.add(key);
    return false;
  }

  /** A slice event for `key` arrived; true if a sync waits for it. */
  observe(key: string): boolean {
    if (this.syncing.has(key)) this.seenWhileSyncing.add(key);
    return this.waiting.delete(key);
  }

  forget(key: string): void {
    this.waiting.delete(key);
  }
}
