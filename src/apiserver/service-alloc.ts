// ClusterIPs and NodePorts of Services, allocated by the API server as upstream's Service storage
// does (pkg/registry/core/service/storage/alloc.go, v1.32): on create, on a type change, on port
// changes, released on delete, simulated on dry-run, with upstream's error texts.
//
// Every reservation is a key of its own in the store, as upstream's IPAddress allocator (KEP-1880)
// makes each allocated IP an object: /registry/ipaddresses/<ip> (the value is an upstream-shaped
// networking.k8s.io/v1 IPAddress naming the Service) and /registry/servicenodeports/<port>. The
// store's create-if-absent is the arbiter, so API servers sharing a store never hand out the same
// value; the in-memory sets of taken values (fed by a watch) only save failed attempts.
//
// A reservation is made before the Service is written and released if that write fails; a crash
// in between leaks it. The repair loop (at start and every few minutes, after upstream's repair
// controllers) frees reservations whose Service is gone or no longer uses them, once they are
// older than a grace period (so that a create in flight is not robbed), and re-reserves values
// of Services that lack a reservation (after a restore, or a crash between delete and release).
import { randomInt, randomUUID } from 'node:crypto';
import type { Service, ServicePort, ServiceSpec } from 'kubernetes-types/core/v1.js';
import type { KObject } from '../api/types.js';
import type { KeyValue, Store, Watch } from '../store/types.js';
import { KeyExistsError, NotFoundError, ConflictError } from '../store/types.js';
import { invalidMessage } from '../api/validation/index.js';
import { goStringSlice, invalid } from '../api/validation/field.js';
import { isHeadless, serviceStorageErrors } from '../api/validation/service.js';
import { intToIPv4, ipv4ToInt, parseCIDR4 } from '../node/ipam.js';
import { ApiError, errors } from './errors.js';
import type { KindHooks, WriteTxn } from './registry.js';
import type { Logger } from '../util/log.js';

export const DEFAULT_SERVICE_CIDR = '127.96.0.0/12';
export const DEFAULT_NODE_PORT_RANGE = '30000-32767';
/** Upstream's repair controllers run every 3 minutes. */
const DEFAULT_REPAIR_INTERVAL_MS = 180_000;
/** Upstream's IPAddress repair frees a leaked address only once it is older than the request timeout (60 s). */
const DEFAULT_LEAK_GRACE_MS = 60_000;

const IP_PREFIX = '/registry/ipaddresses/';
const PORT_PREFIX = '/registry/servicenodeports/';
const SERVICE_PREFIX = '/registry/services/specs/';
/** The allocator's name in IPAddress labels (upstream's ipallocator.ControllerName). */
const IP_ALLOCATOR = 'ipallocator.k8s.io';

// ---- ranges ----

/** A contiguous range of allocatable values split into KEP-3070's static (lower) and dynamic (upper) bands. */
export interface ValueRange {
  first: number;
  /** Number of allocatable values. */
  size: number;
  /** Size of the lower band, which dynamic allocation uses only when the upper one is full. */
  offset: number;
}

export interface ServiceCIDR extends ValueRange {
  /** The CIDR as configured, e.g. 127.96.0.0/12 (what error messages show). */
  text: string;
  /** The network address: what a dry-run dynamic allocation reports, as upstream. */
  network: string;
}

export interface NodePortRange extends ValueRange {
  /** `30000-32767`, as error messages show it. */
  text: string;
}

/** min(max(lo, size/step), hi), and no bands at all for tiny ranges (upstream's calculateRangeOffset). */
function bandOffset(size: number, lo: number, step: number, hi: number): number {
  if (size <= lo) return 0;
  return Math.min(Math.max(lo, Math.floor(size / step)), hi);
}

/**
 * Parse --service-cidr. IPv4 only (kubelite's cluster is single-stack IPv4); the network and
 * broadcast addresses are never allocated; at most a /12 and at least 8 addresses, as upstream.
 */
export function parseServiceCIDR(text: string): ServiceCIDR {
  let c;
  try {
    c = parseCIDR4(text);
  } catch (e) {
    throw new Error(`--service-cidr: ${(e as Error).message} (kubelite's service network is IPv4)`);
  }
  if (c.prefix < 12) throw new Error(`--service-cidr: specified --service-cluster-ip-range is too large; for 32-bit addresses, the mask must be >= 12`);
  if (c.size < 8) throw new Error(`--service-cidr: the service cluster IP range must be at least 8 IP addresses`);
  // Upstream's offset is computed from the CIDR's size, network and broadcast included.
  return { text, network: intToIPv4(c.base), first: c.base + 1, size: c.size - 2, offset: bandOffset(c.size, 16, 16, 256) };
}

/** Parse --service-node-port-range: `30000-32767` or `30000+2767`, as upstream's net.ParsePortRange. */
export function parseNodePortRange(text: string): NodePortRange {
  const m = /^(\d+)(?:([-+])(\d+))?$/.exec(text.trim());
  if (!m) throw new Error(`--service-node-port-range: not a port range: ${JSON.stringify(text)} (use e.g. 30000-32767)`);
  const base = Number(m[1]);
  const last = m[2] === '+' ? base + Number(m[3]) : m[2] === '-' ? Number(m[3]) : base;
  if (base < 1 || last > 65535 || last < base) throw new Error(`--service-node-port-range: invalid range ${JSON.stringify(text)}`);
  const size = last - base + 1;
  return { text: `${base}-${last}`, first: base, size, offset: bandOffset(size, 16, 32, 128) };
}

/** The first usable address of the service CIDR: the `kubernetes` Service's ClusterIP. */
export function firstServiceIP(cidr: ServiceCIDR): string {
  return intToIPv4(cidr.first);
}

/**
 * The order in which dynamic allocation tries values: a random start in the upper band, scanning
 * with wrap-around; then, only if all of that band was tried, the same in the lower band.
 */
function* dynamicCandidates(r: ValueRange): Generator<number> {
  const bands: [number, number][] = [[r.first + r.offset, r.size - r.offset], [r.first, r.offset]];
  for (const [start, count] of bands) {
    if (count <= 0) continue;
    const from = randomInt(count);
    for (let i = 0; i < count; i++) yield start + ((from + i) % count);
  }
}

// ---- reservations in the store ----

interface Owner {
  namespace: string;
  name: string;
}

interface Reservation {
  value: number;
  owner?: Owner;
  createdMs: number;
  kv: KeyValue;
}

class AllocationError extends Error {}
const ERR_FULL = 'range is full';

const sameOwner = (a: Owner | undefined, b: Owner) => a?.namespace === b.namespace && a?.name === b.name;

function nowRFC3339(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * One kind of reservation (IPs or node ports): a store key per taken value, and a watch-fed set
 * of the values taken, which dynamic allocation consults before trying a key.
 */
class ReservationTable {
  private readonly taken = new Set<number>();
  private watch?: Watch;
  private stopped = false;

  constructor(
    private readonly store: Store,
    private readonly prefix: string,
    private readonly range: ValueRange,
    private readonly format: (n: number) => string,
    private readonly parse: (name: string) => number | undefined,
    private readonly encode: (name: string, owner: Owner) => string,
    private readonly notInRange: (n: number) => string,
    private readonly allocatedMessage: string,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const listed = await this.store.list(this.prefix);
    this.taken.clear();
    for (const kv of listed.items) this.note(kv.key, true);
    this.watch = this.store.watch(this.prefix, {
      fromRevision: listed.revision,
      onEvents: (events) => { for (const ev of events) this.note(ev.key, ev.type === 'put'); },
      onError: (err) => {
        if (this.stopped) return;
        this.watch = undefined;
        this.log.warn({ err: err.message, prefix: this.prefix }, 'reservation watch ended; reloading');
        setTimeout(() => void this.start().catch(() => {}), 100);
      },
    });
  }

  stop(): void {
    this.stopped = true;
    this.watch?.cancel();
  }

  private note(key: string, present: boolean): void {
    const n = this.parse(key.slice(this.prefix.length));
    if (n === undefined) return;
    if (present) this.taken.add(n); else this.taken.delete(n);
  }

  key(n: number): string {
    return this.prefix + this.format(n);
  }

  inRange(n: number): boolean {
    return n >= this.range.first && n < this.range.first + this.range.size;
  }

  /** Whether the value is taken, as far as this server knows (dry runs ask this). */
  has(n: number): boolean {
    return this.taken.has(n);
  }

  /** Reserve a value chosen by the user; throws AllocationError with upstream's text. */
  async reserve(n: number, owner: Owner): Promise<void> {
    if (!this.inRange(n)) throw new AllocationError(this.notInRange(n));
    try {
      await this.store.create(this.key(n), this.encode(this.format(n), owner));
      this.taken.add(n);
    } catch (e) {
      if (e instanceof KeyExistsError) {
        this.taken.add(n);
        throw new AllocationError(this.allocatedMessage);
      }
      throw e;
    }
  }

  /** Reserve a free value, dynamic bands first; throws AllocationError('range is full'). */
  async reserveNext(owner: Owner): Promise<number> {
    for (const n of dynamicCandidates(this.range)) {
      if (this.taken.has(n)) continue;
      try {
        await this.store.create(this.key(n), this.encode(this.format(n), owner));
        this.taken.add(n);
        return n;
      } catch (e) {
        // Another API server took it since our cache heard of it: try the next one.
        if (e instanceof KeyExistsError) { this.taken.add(n); continue; }
        throw e;
      }
    }
    throw new AllocationError(ERR_FULL);
  }

  /** Release a value if `owner` holds it (a value someone else holds is left alone). */
  async release(n: number, owner: Owner): Promise<void> {
    const kv = await this.store.get(this.key(n));
    if (!kv || !sameOwner(reservationOf(kv, n).owner, owner)) return;
    await this.deleteIfUnchanged(kv);
  }

  async deleteIfUnchanged(kv: KeyValue): Promise<void> {
    try {
      await this.store.delete(kv.key, kv.modRevision);
      this.note(kv.key, false);
    } catch (e) {
      if (!(e instanceof NotFoundError) && !(e instanceof ConflictError)) throw e;
    }
  }

  /** Point a reservation at `owner` (repair of a wrong reference), unless it changed meanwhile. */
  async reassign(kv: KeyValue, n: number, owner: Owner): Promise<void> {
    try {
      await this.store.update(kv.key, this.encode(this.format(n), owner), kv.modRevision);
    } catch (e) {
      if (!(e instanceof NotFoundError) && !(e instanceof ConflictError)) throw e;
    }
  }

  /** Create a missing reservation for `owner`; false when someone holds the value already. */
  async restore(n: number, owner: Owner): Promise<boolean> {
    try {
      await this.store.create(this.key(n), this.encode(this.format(n), owner));
      this.taken.add(n);
      return true;
    } catch (e) {
      if (e instanceof KeyExistsError) return false;
      throw e;
    }
  }

  async list(): Promise<Reservation[]> {
    const out: Reservation[] = [];
    let startAfter: string | undefined;
    for (;;) {
      const page = await this.store.list(this.prefix, { startAfter, limit: 1000 });
      for (const kv of page.items) {
        const n = this.parse(kv.key.slice(this.prefix.length));
        if (n !== undefined) out.push(reservationOf(kv, n));
      }
      if (!page.more) return out;
      startAfter = page.items[page.items.length - 1]!.key;
    }
  }
}

/** The owner and age of a stored reservation; one that cannot be read counts as owned by nobody. */
function reservationOf(kv: KeyValue, value: number): Reservation {
  try {
    const o = JSON.parse(kv.value) as { metadata?: { creationTimestamp?: string }; spec?: { parentRef?: { resource?: string; namespace?: string; name?: string } } };
    const ref = o.spec?.parentRef;
    const owner = ref?.resource === 'services' && ref.namespace && ref.name ? { namespace: ref.namespace, name: ref.name } : undefined;
    return { value, owner, createdMs: Date.parse(o.metadata?.creationTimestamp ?? '') || 0, kv };
  } catch {
    return { value, createdMs: 0, kv };
  }
}

function parentRef(owner: Owner) {
  return { group: '', resource: 'services', namespace: owner.namespace, name: owner.name };
}

/** An upstream networking.k8s.io/v1 IPAddress, as the KEP-1880 allocator creates it. */
function encodeIPAddress(name: string, owner: Owner): string {
  return JSON.stringify({
    apiVersion: 'networking.k8s.io/v1', kind: 'IPAddress',
    metadata: {
      name, uid: randomUUID(), creationTimestamp: nowRFC3339(),
      labels: { 'ipaddress.kubernetes.io/ip-family': 'IPv4', 'ipaddress.kubernetes.io/managed-by': IP_ALLOCATOR },
    },
    spec: { parentRef: parentRef(owner) },
  });
}

/** A node port reservation has no upstream object; it is shaped like the IPAddress for one reader. */
function encodeNodePort(name: string, owner: Owner): string {
  return JSON.stringify({ metadata: { name, creationTimestamp: nowRFC3339() }, spec: { parentRef: parentRef(owner) } });
}

function parsePort(name: string): number | undefined {
  return /^\d+$/.test(name) ? Number(name) : undefined;
}

// ---- the Service storage's allocation steps ----

type Spec = ServiceSpec;

const needsNodePorts = (s: Spec) => s.type === 'NodePort' || s.type === 'LoadBalancer';
/** shouldAllocateNodePorts: LoadBalancers may opt out (then only requested ports are kept). */
const allocatesNodePorts = (s: Spec) => s.type === 'NodePort' || (s.type === 'LoadBalancer' && s.allocateLoadBalancerNodePorts !== false);
const needsHealthCheck = (s: Spec) => s.type === 'LoadBalancer' && s.externalTrafficPolicy === 'Local';
const hasClusterIPs = (s: Spec) => s.type !== 'ExternalName' && !isHeadless(s);
const nodePortsOf = (s: Spec) => (s.ports ?? []).map((p) => p.nodePort ?? 0).filter((n) => n !== 0);

function ownerOf(svc: Service): Owner {
  return { namespace: svc.metadata?.namespace ?? '', name: svc.metadata?.name ?? '' };
}

function invalidService(svc: Service, field: string, value: Parameters<typeof invalid>[1], detail: string): ApiError {
  const errs = [invalid(field, value, detail)];
  const name = svc.metadata?.name ?? '';
  return errors.invalid({ group: '', kind: 'Service' }, name, errs, invalidMessage('Service', name, errs));
}

/**
 * The allocations and deferred releases of one Service write. Allocations happen at once (a
 * value is better leaked than handed out twice); releases wait for the write to succeed.
 */
class ServiceTxn implements WriteTxn {
  private readonly ips: number[] = [];
  private readonly ports: number[] = [];
  private readonly releaseIPs: number[] = [];
  private readonly releasePorts: number[] = [];
  /** Node ports a dry run pretends to have taken (upstream's PortAllocationOperation). */
  private readonly dryPorts: number[] = [];

  constructor(private readonly a: ServiceAllocator, private readonly owner: Owner, private readonly dryRun: boolean) {}

  /** A ClusterIP: the one asked for, or a free one ('' asks for one). */
  async allocateIP(svc: Service, requested: string): Promise<string> {
    const t = this.a.ipTable;
    if (requested === '') {
      if (this.dryRun) return this.a.cidr.network;
      try {
        const n = await t.reserveNext(this.owner);
        this.ips.push(n);
        return intToIPv4(n);
      } catch (e) {
        if (e instanceof AllocationError) throw errors.internal(new Error(`failed to allocate a serviceIP: ${e.message}`));
        throw e;
      }
    }
    const n = ipv4ToInt(requested);
    const fail = (why: string) => invalidService(svc, 'spec.clusterIPs', goStringSlice(svc.spec?.clusterIPs), `failed to allocate IP ${requested}: ${why}`);
    if (n === undefined || !t.inRange(n)) throw fail(this.a.ipNotInRange(requested));
    if (this.dryRun) return requested;
    try {
      await t.reserve(n, this.owner);
    } catch (e) {
      if (e instanceof AllocationError) throw fail(e.message);
      throw e;
    }
    this.ips.push(n);
    return requested;
  }

  /** A node port asked for; the error text is the allocator's. */
  async allocatePort(n: number): Promise<void> {
    const t = this.a.portTable;
    if (this.dryRun) {
      if (!t.inRange(n)) throw new AllocationError(this.a.portNotInRange());
      if (t.has(n) || this.dryPorts.includes(n)) throw new AllocationError('provided port is already allocated');
      this.dryPorts.push(n);
      return;
    }
    await t.reserve(n, this.owner);
    this.ports.push(n);
  }

  /**
   * Any free node port. A dry run shows one that is free now without taking it. (Upstream's dry
   * run invents 32769, 32770, ... above the default range, which kubelite's validation, checking
   * requested ports against the range, would then reject.)
   */
  async allocateNextPort(): Promise<number> {
    if (this.dryRun) {
      const t = this.a.portTable;
      for (const n of dynamicCandidates(this.a.ports)) {
        if (t.has(n) || this.dryPorts.includes(n)) continue;
        this.dryPorts.push(n);
        return n;
      }
      throw new AllocationError(ERR_FULL);
    }
    const n = await this.a.portTable.reserveNext(this.owner);
    this.ports.push(n);
    return n;
  }

  deferReleaseIP(ip: string | undefined): void {
    const n = ip ? ipv4ToInt(ip) : undefined;
    if (n !== undefined) this.releaseIPs.push(n);
  }

  deferReleasePort(n: number | undefined): void {
    if (n) this.releasePorts.push(n);
  }

  async commit(): Promise<void> {
    if (this.dryRun) return;
    await this.a.releaseAll(this.releaseIPs, this.releasePorts, this.owner);
  }

  async revert(): Promise<void> {
    if (this.dryRun) return;
    await this.a.releaseAll(this.ips, this.ports, this.owner);
  }
}

export interface ServiceAllocatorOptions {
  store: Store;
  log: Logger;
  /** Default 127.96.0.0/12. */
  serviceCIDR?: string;
  /** Default 30000-32767. */
  nodePortRange?: string;
  /** Time between repair passes (default 3 min). */
  repairIntervalMs?: number;
  /** A reservation without a Service is freed once it is this old (default 60 s). */
  leakGracePeriodMs?: number;
}

export class ServiceAllocator {
  readonly cidr: ServiceCIDR;
  readonly ports: NodePortRange;
  readonly ipTable: ReservationTable;
  readonly portTable: ReservationTable;
  private readonly store: Store;
  private readonly log: Logger;
  private readonly repairIntervalMs: number;
  private readonly graceMs: number;
  private timer?: NodeJS.Timeout;
  private repairing?: Promise<void>;

  constructor(o: ServiceAllocatorOptions) {
    this.store = o.store;
    this.log = o.log;
    this.cidr = parseServiceCIDR(o.serviceCIDR ?? DEFAULT_SERVICE_CIDR);
    this.ports = parseNodePortRange(o.nodePortRange ?? DEFAULT_NODE_PORT_RANGE);
    this.repairIntervalMs = o.repairIntervalMs ?? DEFAULT_REPAIR_INTERVAL_MS;
    this.graceMs = o.leakGracePeriodMs ?? DEFAULT_LEAK_GRACE_MS;
    this.ipTable = new ReservationTable(this.store, IP_PREFIX, this.cidr, intToIPv4, ipv4ToInt, encodeIPAddress,
      (n) => this.ipNotInRange(intToIPv4(n)), 'provided IP is already allocated', this.log);
    this.portTable = new ReservationTable(this.store, PORT_PREFIX, this.ports, String, parsePort, encodeNodePort,
      () => this.portNotInRange(), 'provided port is already allocated', this.log);
  }

  ipNotInRange(ip: string): string {
    return `the provided IP (${ip}) is not in the valid range. The range of valid IPs is ${this.cidr.text}`;
  }

  portNotInRange(): string {
    return `provided port is not in the valid range. The range of valid ports is ${this.ports.text}`;
  }

  /** The first usable IP: the `kubernetes` Service's. */
  get firstIP(): string {
    return firstServiceIP(this.cidr);
  }

  /** Load what is taken, repair once, then repair periodically. */
  async start(): Promise<void> {
    await Promise.all([this.ipTable.start(), this.portTable.start()]);
    await this.repair();
    this.timer = setInterval(() => void this.repair(), this.repairIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.ipTable.stop();
    this.portTable.stop();
  }

  /** The registry's hooks for Services. */
  hooks(): KindHooks {
    return {
      beginCreate: (obj, dryRun) => this.allocateCreate(obj as unknown as Service, dryRun),
      beginUpdate: (obj, old, dryRun) => this.allocateUpdate(obj as unknown as Service, old as unknown as Service, dryRun),
      afterDelete: (obj) => this.releaseService(obj as unknown as Service),
    };
  }

  /** allocateCreate: ClusterIPs, node ports and the health check node port of a new Service. */
  async allocateCreate(svc: Service, dryRun: boolean): Promise<WriteTxn | undefined> {
    // Inputs the storage rejects before allocating are reported by validation.
    if (serviceStorageErrors(svc, undefined).length) return undefined;
    const txn = new ServiceTxn(this, ownerOf(svc), dryRun);
    try {
      await this.allocClusterIPs(svc, txn);
      const spec = svc.spec!;
      if (needsNodePorts(spec)) await this.initNodePorts(svc, txn);
      if (needsHealthCheck(spec)) await this.allocHealthCheckNodePort(spec, txn);
    } catch (e) {
      await txn.revert();
      throw e;
    }
    return txn;
  }

  /** allocateUpdate: what a type change or port change allocates now and releases on success. */
  async allocateUpdate(svc: Service, old: Service, dryRun: boolean): Promise<WriteTxn | undefined> {
    if (serviceStorageErrors(svc, old).length) return undefined;
    const spec = svc.spec!, oldSpec = old.spec ?? {};
    const txn = new ServiceTxn(this, ownerOf(svc), dryRun);
    try {
      // ExternalName to a type with IPs allocates them; the reverse releases them. A headless
      // Service never had any, and dual-stack changes do not exist on a single-stack cluster.
      if (oldSpec.type === 'ExternalName' && spec.type !== 'ExternalName') await this.allocClusterIPs(svc, txn);
      else if (!isHeadless(oldSpec) && oldSpec.type !== 'ExternalName' && spec.type === 'ExternalName') {
        for (const ip of oldSpec.clusterIPs ?? [oldSpec.clusterIP]) txn.deferReleaseIP(ip);
      }
      if (needsNodePorts(oldSpec) && (spec.type === 'ExternalName' || spec.type === 'ClusterIP')) {
        for (const n of nodePortsOf(oldSpec)) txn.deferReleasePort(n);
      }
      if (needsNodePorts(spec)) await this.updateNodePorts(svc, oldSpec, txn);
      if (!needsHealthCheck(oldSpec) && needsHealthCheck(spec)) await this.allocHealthCheckNodePort(spec, txn);
      else if (needsHealthCheck(oldSpec) && !needsHealthCheck(spec)) txn.deferReleasePort(oldSpec.healthCheckNodePort);
    } catch (e) {
      await txn.revert();
      throw e;
    }
    return txn;
  }

  /** releaseAllocatedResources: everything a deleted Service held. */
  async releaseService(svc: Service): Promise<void> {
    const spec = svc.spec ?? {};
    const ips = hasClusterIPs(spec) ? (spec.clusterIPs ?? [spec.clusterIP]).map((ip) => (ip ? ipv4ToInt(ip) : undefined)) : [];
    const ports = nodePortsOf(spec);
    if (needsHealthCheck(spec) && spec.healthCheckNodePort) ports.push(spec.healthCheckNodePort);
    await this.releaseAll(ips.filter((n): n is number => n !== undefined), ports, ownerOf(svc));
  }

  /** Release reservations held by `owner`; failures are logged (the repair loop frees leaks). */
  async releaseAll(ips: number[], ports: number[], owner: Owner): Promise<void> {
    const work = [...ips.map((n) => this.ipTable.release(n, owner)), ...ports.map((n) => this.portTable.release(n, owner))];
    for (const r of await Promise.allSettled(work)) {
      if (r.status === 'rejected') this.log.warn({ err: (r.reason as Error).message, service: `${owner.namespace}/${owner.name}` }, 'could not release a Service allocation; the repair loop will');
    }
  }

  private async allocClusterIPs(svc: Service, txn: ServiceTxn): Promise<void> {
    const spec = svc.spec!;
    if (!hasClusterIPs(spec)) return;
    // One family on this cluster: the first ClusterIP, requested or not.
    const ip = await txn.allocateIP(svc, spec.clusterIPs?.[0] ?? '');
    spec.clusterIPs = [ip];
    spec.clusterIP = ip;
  }

  private async allocatePortOrFail(svc: Service, i: number, n: number, txn: ServiceTxn): Promise<void> {
    try {
      await txn.allocatePort(n);
    } catch (e) {
      if (e instanceof AllocationError) throw invalidService(svc, `spec.ports[${i}].nodePort`, n, e.message);
      throw e;
    }
  }

  private async nextPort(txn: ServiceTxn): Promise<number> {
    try {
      return await txn.allocateNextPort();
    } catch (e) {
      if (e instanceof AllocationError) throw errors.internal(new Error(`failed to allocate a nodePort: ${e.message}`));
      throw e;
    }
  }

  /** initNodePorts: ports with the same number (e.g. 53/TCP and 53/UDP) share one node port. */
  private async initNodePorts(svc: Service, txn: ServiceTxn): Promise<void> {
    const spec = svc.spec!;
    const ports = spec.ports ?? [];
    const byPort = new Map<number, number>();
    for (let i = 0; i < ports.length; i++) {
      const sp = ports[i]!;
      if (!sp.nodePort && !allocatesNodePorts(spec)) continue;
      const shared = byPort.get(sp.port) ?? 0;
      if (shared === 0) {
        const requested = ports.find((p) => p.port === sp.port && p.nodePort)?.nodePort ?? 0;
        const n = requested || await this.nextPort(txn);
        if (requested) await this.allocatePortOrFail(svc, i, requested, txn);
        sp.nodePort = n;
        byPort.set(sp.port, n);
      } else if (sp.nodePort !== shared) {
        if (!sp.nodePort) sp.nodePort = shared;
        else await this.allocatePortOrFail(svc, i, sp.nodePort, txn);
      }
    }
  }

  /** updateNodePorts: new requests are allocated, ports no longer used released after the write. */
  private async updateNodePorts(svc: Service, oldSpec: Spec, txn: ServiceTxn): Promise<void> {
    const spec = svc.spec!;
    const oldPorts = nodePortsOf(oldSpec);
    const allocated = new Set<number>();
    const seen: ServicePort[] = [];
    const ports = spec.ports ?? [];
    for (let i = 0; i < ports.length; i++) {
      const sp = ports[i]!;
      if (!sp.nodePort && !allocatesNodePorts(spec)) continue;
      if (sp.nodePort) {
        if (!oldPorts.includes(sp.nodePort) && !allocated.has(sp.nodePort)) {
          await this.allocatePortOrFail(svc, i, sp.nodePort, txn);
          allocated.add(sp.nodePort);
        }
      } else {
        sp.nodePort = await this.nextPort(txn);
      }
      if (seen.some((p) => p.protocol === sp.protocol && p.nodePort === sp.nodePort)) {
        throw errors.internal(new Error(`duplicate nodePort: {${sp.protocol} ${sp.nodePort}}`));
      }
      seen.push(sp);
    }
    const kept = nodePortsOf(spec);
    for (const n of oldPorts) if (!kept.includes(n)) txn.deferReleasePort(n);
  }

  private async allocHealthCheckNodePort(spec: Spec, txn: ServiceTxn): Promise<void> {
    const requested = spec.healthCheckNodePort ?? 0;
    try {
      if (requested) await txn.allocatePort(requested);
      else spec.healthCheckNodePort = await txn.allocateNextPort();
    } catch (e) {
      if (!(e instanceof AllocationError)) throw e;
      throw errors.internal(new Error(requested
        ? `failed to allocate requested HealthCheck NodePort ${requested}: ${e.message}`
        : `failed to allocate a HealthCheck NodePort ${requested}: ${e.message}`));
    }
  }

  // ---- repair ----

  /** One repair pass; passes never overlap. Errors are logged, the next pass tries again. */
  repair(): Promise<void> {
    this.repairing ??= this.repairOnce()
      .catch((e) => this.log.error({ err: (e as Error).message }, 'service allocation repair failed'))
      .finally(() => { this.repairing = undefined; });
    return this.repairing;
  }

  private async repairOnce(): Promise<void> {
    // Services first: a reservation made after this list belongs to a write in flight, and is
    // younger than the grace period.
    const services = new Map<string, Spec>();
    let startAfter: string | undefined;
    for (;;) {
      const page = await this.store.list(SERVICE_PREFIX, { startAfter, limit: 1000 });
      for (const kv of page.items) {
        const svc = JSON.parse(kv.value) as KObject;
        services.set(`${svc.metadata.namespace}/${svc.metadata.name}`, (svc.spec ?? {}) as Spec);
      }
      if (!page.more) break;
      startAfter = page.items[page.items.length - 1]!.key;
    }
    const held = (s: Spec) => ({
      ips: hasClusterIPs(s) ? (s.clusterIPs ?? [s.clusterIP]).map((ip) => (ip ? ipv4ToInt(ip) : undefined)).filter((n): n is number => n !== undefined) : [],
      ports: [...nodePortsOf(s), ...(needsHealthCheck(s) && s.healthCheckNodePort ? [s.healthCheckNodePort] : [])],
    });
    const [ipRes, portRes] = await Promise.all([this.ipTable.list(), this.portTable.list()]);
    const now = Date.now();
    const check = async (table: ReservationTable, reservations: Reservation[], valuesOf: (s: Spec) => number[], what: string, show: (n: number) => string) => {
      const byValue = new Map(reservations.map((r) => [r.value, r]));
      // Every value a Service uses is reserved for it.
      for (const [key, spec] of services) {
        const [namespace, name] = key.split('/') as [string, string];
        const owner = { namespace, name };
        for (const n of new Set(valuesOf(spec))) {
          if (!table.inRange(n)) {
            this.log.warn({ service: key }, `the ${what} ${show(n)} for Service ${key} is not within the configured range; please recreate`);
            continue;
          }
          const r = byValue.get(n);
          if (!r) {
            if (await table.restore(n, owner)) this.log.warn({ service: key }, `the ${what} ${show(n)} for Service ${key} is not allocated; repairing`);
            continue;
          }
          if (sameOwner(r.owner, owner) || now - r.createdMs < this.graceMs) continue;
          const holder = r.owner && services.get(`${r.owner.namespace}/${r.owner.name}`);
          if (holder && valuesOf(holder).includes(n)) {
            this.log.error({ service: key }, `the ${what} ${show(n)} for Service ${key} was assigned to other services ${r.owner!.namespace}/${r.owner!.name}; please recreate`);
            continue;
          }
          this.log.warn({ service: key }, `the ${what} ${show(n)} for Service ${key} has a wrong reference; repairing`);
          await table.reassign(r.kv, n, owner);
          r.owner = owner;
        }
      }
      // Every reservation belongs to a Service that uses it, or is freed once past the grace period.
      for (const r of reservations) {
        if (now - r.createdMs < this.graceMs) continue;
        const spec = r.owner && services.get(`${r.owner.namespace}/${r.owner.name}`);
        if (spec && valuesOf(spec).includes(r.value)) continue;
        const ref = r.owner ? `${r.owner.namespace}/${r.owner.name}` : '<none>';
        this.log.warn({ service: ref }, `the ${what} ${show(r.value)} for Service ${ref} appears to have leaked: cleaning up`);
        await table.deleteIfUnchanged(r.kv);
      }
    };
    await check(this.ipTable, ipRes, (s) => held(s).ips, 'ClusterIP', intToIPv4);
    await check(this.portTable, portRes, (s) => held(s).ports, 'node port', String);
  }
}
