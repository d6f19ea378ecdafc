// The `default/kubernetes` Service and its Endpoints and EndpointSlice, which the API server
// itself maintains (upstream: pkg/controlplane/controller/kubernetesservice and the "lease"
// endpoint reconciler, pkg/controlplane/reconcilers/lease.go and endpointsadapter.go).
//
// The Service (ClusterIP = first IP of the service CIDR, port 443 named https, targetPort = this
// server's port, no selector) is created when missing; its ports and type are reset at start.
//
// Where upstream keeps per-server TTL keys under /masterleases/, kubelite uses coordination/v1
// Leases `kube-apiserver-<address>-<port>` in kube-system, labelled
// `apiserver.kubernetes.io/identity: kube-apiserver` as upstream's API server identity leases,
// with the server's endpoint in the annotation `kubelite.io/advertise-address: IP:PORT`. Each
// server renews its Lease every renew interval (10 s) with a lease duration (TTL) of 15 s, and
// every server writes the Endpoints and EndpointSlice from the Leases not yet expired. So several
// API servers on one store all appear, a stopped one removes its own Lease, and a dead one drops
// out when its Lease expires (a timer fires then; Lease and object changes are watched too).
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { Lease } from 'kubernetes-types/coordination/v1.js';
import type { EndpointSubset, Endpoints, Service, ServicePort } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import type { KObject } from '../api/types.js';
import { RESOURCES, type ResourceType } from '../api/resources.js';
import { ipFamilyOf } from '../api/validation/index.js';
import type { Store, Watch } from '../store/types.js';
import { ApiError } from './errors.js';
import type { Registry, WriteOptions } from './registry.js';
import type { Logger } from '../util/log.js';

export const KUBERNETES_SERVICE = 'kubernetes';
const SERVICE_NAMESPACE = 'default';
export const LEASE_NAMESPACE = 'kube-system';
export const IDENTITY_LABEL = 'apiserver.kubernetes.io/identity';
export const IDENTITY_VALUE = 'kube-apiserver';
export const ADVERTISE_ANNOTATION = 'kubelite.io/advertise-address';
const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
const SKIP_MIRROR_LABEL = 'endpointslice.kubernetes.io/skip-mirror';
/** Upstream's APIServerServicePort. */
const SERVICE_PORT = 443;
const PORT_NAME = 'https';
/** Upstream's DefaultEndpointReconcilerInterval and master lease TTL. */
const DEFAULT_RENEW_INTERVAL_MS = 10_000;
const DEFAULT_LEASE_DURATION_MS = 15_000;
/** How long a graceful stop may spend removing this server from the Endpoints. */
const STOP_TIMEOUT_MS = 3_000;

const kind = (k: string): ResourceType => RESOURCES.find((r) => r.kind === k)!;
const SERVICE = kind('Service');
const ENDPOINTS = kind('Endpoints');
const SLICE = kind('EndpointSlice');
const LEASE = kind('Lease');

export interface KubernetesServiceOptions {
  registry: Registry;
  store: Store;
  log: Logger;
  /** The Service's ClusterIP: the first IP of the service CIDR. */
  serviceIP: string;
  /** The address other clients reach this server at (an IP). */
  advertiseAddress: string;
  /** The port this server listens on (the Service's targetPort, the endpoints' port). */
  port: number;
  /** Time between Lease renewals (default 10 s). */
  renewIntervalMs?: number;
  /** How long a Lease counts after its renewal (default 15 s). */
  leaseDurationMs?: number;
}

/** The Lease name of the API server at ip:port: readable, stable across restarts, a DNS subdomain. */
export function leaseNameFor(ip: string, port: number): string {
  return `kube-apiserver-${ip.toLowerCase().replace(/[^0-9a-z]/g, '-')}-${port}`;
}

/** `IP:PORT` (IPv6 in brackets), as the advertise annotation carries it. */
export function formatEndpoint(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

function parseEndpoint(v: string | undefined): { ip: string; port: number } | undefined {
  const m = v ? /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(v) : null;
  if (!m) return undefined;
  const ip = m[1] ?? m[2]!;
  const port = Number(m[3]);
  if (!ipFamilyOf(ip) || port < 1 || port > 65535) return undefined;
  return { ip, port };
}

/** MicroTime, as Leases carry it. */
function microTime(d = new Date()): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** When a Lease stops counting; undefined when it never did. */
function leaseExpiry(l: Lease): number | undefined {
  const renewed = Date.parse(l.spec?.renewTime ?? l.spec?.acquireTime ?? '');
  const seconds = l.spec?.leaseDurationSeconds;
  if (Number.isNaN(renewed) || !seconds) return undefined;
  return renewed + seconds * 1000;
}

function writeOptions(): WriteOptions {
  return { dryRun: false, fieldManager: 'kube-apiserver', fieldValidation: 'Strict', warnings: [] };
}

const isStatus = (e: unknown, reason: string) => e instanceof ApiError && e.reason === reason;

/** The endpoint groups of the live API servers: one per (family, port), addresses sorted. */
interface EndpointGroup {
  family: 'IPv4' | 'IPv6';
  port: number;
  ips: string[];
}

/**
 * Groups in a deterministic order every API server agrees on: the Service's targetPort first
 * (its group gets the slice named `kubernetes`), then IPv4 before IPv6, then by port.
 */
function groupEndpoints(endpoints: { ip: string; port: number }[], primaryPort: number | undefined): EndpointGroup[] {
  const groups = new Map<string, EndpointGroup>();
  for (const { ip, port } of endpoints) {
    const family = ipFamilyOf(ip)!;
    const key = `${family}/${port}`;
    const g = groups.get(key) ?? { family, port, ips: [] };
    if (!g.ips.includes(ip)) g.ips.push(ip);
    groups.set(key, g);
  }
  // Upstream lists the addresses as a sorted set.
  for (const g of groups.values()) g.ips.sort();
  const rank = (g: EndpointGroup) => [g.port === primaryPort ? 0 : 1, g.family === 'IPv4' ? 0 : 1, g.port];
  return [...groups.values()].sort((a, b) => {
    const ra = rank(a), rb = rank(b);
    return ra[0]! - rb[0]! || ra[1]! - rb[1]! || ra[2]! - rb[2]!;
  });
}

/** The first group's slice is `kubernetes`, as upstream's; API servers on other ports or families get their own. */
function sliceName(g: EndpointGroup, i: number): string {
  if (i === 0) return KUBERNETES_SERVICE;
  return `${KUBERNETES_SERVICE}-${g.family === 'IPv6' ? 'v6-' : ''}${g.port}`;
}

export class KubernetesServiceController {
  readonly leaseName: string;
  private readonly holderIdentity: string;
  private readonly renewIntervalMs: number;
  private readonly leaseDurationMs: number;
  private readonly watches: Watch[] = [];
  private tickTimer?: NodeJS.Timeout;
  private expiryTimer?: NodeJS.Timeout;
  private running?: Promise<void>;
  /** The Lease renewal under way, which stop() lets finish before it deletes the Lease. */
  private renewing?: Promise<void>;
  private dirty = false;
  private stopped = false;

  constructor(private readonly o: KubernetesServiceOptions) {
    this.leaseName = leaseNameFor(o.advertiseAddress, o.port);
    this.holderIdentity = `${this.leaseName}_${randomUUID()}`;
    this.renewIntervalMs = o.renewIntervalMs ?? DEFAULT_RENEW_INTERVAL_MS;
    this.leaseDurationMs = o.leaseDurationMs ?? DEFAULT_LEASE_DURATION_MS;
  }

  /** This server's endpoint, as its Lease announces it. */
  get endpoint(): string {
    return formatEndpoint(this.o.advertiseAddress, this.o.port);
  }

  /** The first pass (Service shape corrected, Lease written, endpoints reconciled), then the loops. */
  async start(): Promise<void> {
    await this.watchChanges();
    // The first pass holds `running` as any pass does: what its own writes trigger through the
    // watches (the Service it creates, its Lease) is one more pass after it, not a second
    // reconciliation racing it to create the same Endpoints and EndpointSlice.
    this.running = (async () => {
      await this.step('service', () => this.ensureService(true));
      await this.step('lease', () => this.renewLease());
      await this.step('endpoints', () => this.reconcileEndpoints());
    })();
    await this.running;
    this.running = undefined;
    if (this.dirty) this.trigger();
    this.tickTimer = setInterval(() => void this.tick(), this.renewIntervalMs);
    this.tickTimer.unref();
  }

  /** Stop renewing, and take this server out of the Endpoints at once (its Lease goes). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.tickTimer) clearInterval(this.tickTimer);
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    for (const w of this.watches) w.cancel();
    const leave = (async () => {
      // A renewal that read the Lease before the delete would write it back afterwards, leaving
      // this server in the Endpoints until the Lease expires: as upstream's StopReconciling, wait
      // for the passes under way, then no other starts.
      await this.renewing;
      await this.running;
      await this.step('lease', async () => {
        try {
          await this.o.registry.delete(LEASE, LEASE_NAMESPACE, this.leaseName, {}, false);
        } catch (e) {
          if (!isStatus(e, 'NotFound')) throw e;
        }
      });
      await this.step('endpoints', () => this.reconcileEndpoints());
    })();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([leave, new Promise<void>((resolve) => { timer = setTimeout(resolve, STOP_TIMEOUT_MS); })]);
    clearTimeout(timer);
  }

  private async tick(): Promise<void> {
    if (this.stopped || this.renewing) return;
    this.renewing = this.step('lease', () => this.renewLease());
    await this.renewing;
    this.renewing = undefined;
    this.trigger();
  }

  /** Reconcile soon; reconciliations never overlap, and triggers during one coalesce into one more. */
  private trigger(): void {
    if (this.stopped) return;
    this.dirty = true;
    this.running ??= (async () => {
      while (this.dirty && !this.stopped) {
        this.dirty = false;
        await this.step('service', () => this.ensureService(false));
        await this.step('endpoints', () => this.reconcileEndpoints());
      }
      this.running = undefined;
    })();
  }

  private async step(what: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (e) {
      // A lost race (another API server wrote first) is settled by the next pass.
      const level = isStatus(e, 'Conflict') || isStatus(e, 'AlreadyExists') ? 'debug' : 'warn';
      this.o.log[level]({ err: (e as Error).message }, `kubernetes service: ${what} reconcile failed`);
    }
  }

  /** Watch the objects this controller maintains, so that changes and deletions are repaired at once. */
  private async watchChanges(): Promise<void> {
    const fromRevision = await this.o.store.currentRevision();
    const serviceKey = `/registry/${SERVICE.storagePrefix}/${SERVICE_NAMESPACE}/${KUBERNETES_SERVICE}`;
    const endpointsKey = `/registry/${ENDPOINTS.storagePrefix}/${SERVICE_NAMESPACE}/${KUBERNETES_SERVICE}`;
    const labelled = (value: string, label: string, v: string) => {
      try {
        return (JSON.parse(value) as KObject).metadata.labels?.[label] === v;
      } catch {
        return false;
      }
    };
    const watch = (prefix: string, relevant: (key: string, value: string) => boolean) => {
      const w = this.o.store.watch(prefix, {
        fromRevision,
        onEvents: (events) => { if (events.some((ev) => relevant(ev.key, ev.kv.value))) this.trigger(); },
        onError: () => {
          // The periodic pass keeps things right meanwhile; watch again from now.
          if (this.stopped) return;
          const i = this.watches.indexOf(w);
          if (i >= 0) this.watches.splice(i, 1);
          setTimeout(() => { if (!this.stopped) void this.watchChanges().then(() => this.trigger()).catch(() => {}); }, 1000).unref();
        },
      });
      this.watches.push(w);
    };
    // Several watches after an error would trigger more often, never wrongly; start clean anyway.
    for (const w of this.watches.splice(0)) w.cancel();
    watch(`/registry/${LEASE.storagePrefix}/${LEASE_NAMESPACE}/`, (_k, v) => labelled(v, IDENTITY_LABEL, IDENTITY_VALUE));
    watch(serviceKey, (k) => k === serviceKey);
    watch(endpointsKey, (k) => k === endpointsKey);
    watch(`/registry/${SLICE.storagePrefix}/${SERVICE_NAMESPACE}/${KUBERNETES_SERVICE}`, (_k, v) => labelled(v, SERVICE_NAME_LABEL, KUBERNETES_SERVICE));
  }

  private desiredPorts(): ServicePort[] {
    return [{ name: PORT_NAME, protocol: 'TCP', port: SERVICE_PORT, targetPort: this.o.port }];
  }

  /**
   * Create the Service when missing. `resetShape` (at start) also puts its ports and type back,
   * as upstream's getMasterServiceUpdateIfNeeded; afterwards users' changes are left alone.
   */
  private async ensureService(resetShape: boolean): Promise<void> {
    const reg = this.o.registry;
    let current: Service | undefined;
    try {
      current = (await reg.get(SERVICE, SERVICE_NAMESPACE, KUBERNETES_SERVICE)) as unknown as Service;
    } catch (e) {
      if (!isStatus(e, 'NotFound')) throw e;
    }
    if (!current) {
      const svc: Service = {
        apiVersion: 'v1', kind: 'Service',
        metadata: { name: KUBERNETES_SERVICE, namespace: SERVICE_NAMESPACE, labels: { component: 'apiserver', provider: 'kubernetes' } },
        spec: {
          type: 'ClusterIP', clusterIP: this.o.serviceIP, ipFamilyPolicy: 'SingleStack', sessionAffinity: 'None',
          // Maintained by the API server, not by a pod selector.
          ports: this.desiredPorts(),
        },
      };
      try {
        await reg.create(SERVICE, SERVICE_NAMESPACE, svc, writeOptions());
        this.o.log.info({ clusterIP: this.o.serviceIP }, 'created the kubernetes service');
      } catch (e) {
        if (!isStatus(e, 'AlreadyExists')) throw e;
      }
      return;
    }
    if (!resetShape) return;
    const want = this.desiredPorts();
    const ports = current.spec?.ports ?? [];
    const same = current.spec?.type === 'ClusterIP' && ports.length === want.length && ports.every((p, i) =>
      p.name === want[i]!.name && p.protocol === want[i]!.protocol && p.port === want[i]!.port && p.targetPort === want[i]!.targetPort && !p.nodePort);
    if (same) return;
    this.o.log.warn({ ports: want }, 'resetting the kubernetes service ports and type');
    const next = { ...current, spec: { ...current.spec, type: 'ClusterIP', ports: want } };
    await reg.update(SERVICE, SERVICE_NAMESPACE, KUBERNETES_SERVICE, next, writeOptions());
  }

  private async renewLease(): Promise<void> {
    const reg = this.o.registry;
    const now = microTime();
    const meta = {
      labels: { [IDENTITY_LABEL]: IDENTITY_VALUE },
      annotations: { [ADVERTISE_ANNOTATION]: this.endpoint },
    };
    const spec = { holderIdentity: this.holderIdentity, leaseDurationSeconds: Math.max(1, Math.ceil(this.leaseDurationMs / 1000)), renewTime: now };
    let current: Lease | undefined;
    try {
      current = (await reg.get(LEASE, LEASE_NAMESPACE, this.leaseName)) as unknown as Lease;
    } catch (e) {
      if (!isStatus(e, 'NotFound')) throw e;
    }
    if (!current) {
      const lease: Lease = {
        apiVersion: 'coordination.k8s.io/v1', kind: 'Lease',
        metadata: { name: this.leaseName, namespace: LEASE_NAMESPACE, ...meta },
        spec: { ...spec, acquireTime: now },
      };
      await reg.create(LEASE, LEASE_NAMESPACE, lease, writeOptions());
      return;
    }
    const m = current.metadata ?? {};
    const next: Lease = {
      ...current,
      metadata: { ...m, labels: { ...m.labels, ...meta.labels }, annotations: { ...m.annotations, ...meta.annotations } },
      spec: { ...current.spec, ...spec, ...(current.spec?.holderIdentity === this.holderIdentity ? {} : { acquireTime: now }) },
    };
    await reg.update(LEASE, LEASE_NAMESPACE, this.leaseName, next, writeOptions());
  }

  /** The endpoints of the API servers whose Leases have not expired; schedules a pass at the next expiry. */
  private async liveEndpoints(): Promise<{ ip: string; port: number }[]> {
    const listed = await this.o.registry.list(LEASE, LEASE_NAMESPACE, { labelSelector: `${IDENTITY_LABEL}=${IDENTITY_VALUE}` });
    const now = Date.now();
    const out: { ip: string; port: number }[] = [];
    let nextExpiry = Infinity;
    for (const item of listed.items) {
      const lease = item.object as unknown as Lease;
      const expiry = leaseExpiry(lease);
      const ep = parseEndpoint(lease.metadata?.annotations?.[ADVERTISE_ANNOTATION]);
      if (expiry === undefined || expiry <= now || !ep) continue;
      out.push(ep);
      nextExpiry = Math.min(nextExpiry, expiry);
    }
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    if (nextExpiry < Infinity && !this.stopped) {
      this.expiryTimer = setTimeout(() => this.trigger(), nextExpiry - now + 10);
      this.expiryTimer.unref();
    }
    return out;
  }

  private async reconcileEndpoints(): Promise<void> {
    const live = await this.liveEndpoints();
    // With no Lease at all something is wrong (this server's own was just renewed, or it is
    // stopping as the last one): like upstream, never erase every endpoint.
    if (live.length === 0) return;
    const groups = groupEndpoints(live, await this.serviceTargetPort());
    await this.syncEndpoints(groups);
    await this.syncSlices(groups);
  }

  /** The port the `kubernetes` Service sends to (whichever API server last set it). */
  private async serviceTargetPort(): Promise<number | undefined> {
    try {
      const svc = (await this.o.registry.get(SERVICE, SERVICE_NAMESPACE, KUBERNETES_SERVICE)) as unknown as Service;
      const target = svc.spec?.ports?.[0]?.targetPort;
      return typeof target === 'number' ? target : undefined;
    } catch (e) {
      if (isStatus(e, 'NotFound')) return undefined;
      throw e;
    }
  }

  private async syncEndpoints(groups: EndpointGroup[]): Promise<void> {
    const reg = this.o.registry;
    const subsets: EndpointSubset[] = groups.map((g) => ({
      addresses: g.ips.map((ip) => ({ ip })),
      ports: [{ name: PORT_NAME, port: g.port, protocol: 'TCP' }],
    }));
    const labels = { [SKIP_MIRROR_LABEL]: 'true' };
    let current: Endpoints | undefined;
    try {
      current = (await reg.get(ENDPOINTS, SERVICE_NAMESPACE, KUBERNETES_SERVICE)) as unknown as Endpoints;
    } catch (e) {
      if (!isStatus(e, 'NotFound')) throw e;
    }
    if (!current) {
      const ep: Endpoints = { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: KUBERNETES_SERVICE, namespace: SERVICE_NAMESPACE, labels }, subsets };
      await reg.create(ENDPOINTS, SERVICE_NAMESPACE, ep, writeOptions());
      return;
    }
    if (isDeepStrictEqual(current.subsets ?? [], subsets) && isDeepStrictEqual(current.metadata?.labels ?? {}, labels)) return;
    // The labels are the API server's alone, as upstream's endpoints adapter sets them.
    const next: Endpoints = { ...current, metadata: { ...current.metadata, labels }, subsets };
    await reg.update(ENDPOINTS, SERVICE_NAMESPACE, KUBERNETES_SERVICE, next, writeOptions());
    this.o.log.info({ endpoints: endpointList(groups) }, 'updated the kubernetes endpoints');
  }

  private async syncSlices(groups: EndpointGroup[]): Promise<void> {
    const reg = this.o.registry;
    const labels = { [SERVICE_NAME_LABEL]: KUBERNETES_SERVICE };
    const desired = new Map(groups.map((g, i) => [sliceName(g, i), {
      addressType: g.family,
      endpoints: g.ips.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
      ports: [{ name: PORT_NAME, port: g.port, protocol: 'TCP' }],
    }]));
    const listed = await reg.list(SLICE, SERVICE_NAMESPACE, { labelSelector: `${SERVICE_NAME_LABEL}=${KUBERNETES_SERVICE}` });
    for (const item of listed.items) {
      const current = item.object as unknown as EndpointSlice;
      const name = current.metadata?.name ?? '';
      const want = desired.get(name);
      // A slice of the wrong address type cannot be changed (the field is immutable): it is replaced.
      if (!want || want.addressType !== current.addressType) {
        try {
          await reg.delete(SLICE, SERVICE_NAMESPACE, name, {}, false);
        } catch (e) {
          if (!isStatus(e, 'NotFound')) throw e;
        }
        continue;
      }
      desired.delete(name);
      if (isDeepStrictEqual(current.endpoints ?? [], want.endpoints) && isDeepStrictEqual(current.ports ?? [], want.ports)
        && isDeepStrictEqual(current.metadata?.labels ?? {}, labels)) continue;
      const next = { ...current, metadata: { ...current.metadata, labels }, ...want };
      await reg.update(SLICE, SERVICE_NAMESPACE, name, next, writeOptions());
    }
    for (const [name, want] of desired) {
      const slice = { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name, namespace: SERVICE_NAMESPACE, labels }, ...want };
      await reg.create(SLICE, SERVICE_NAMESPACE, slice, writeOptions());
    }
  }
}

function endpointList(groups: EndpointGroup[]): string[] {
  return groups.flatMap((g) => g.ips.map((ip) => formatEndpoint(ip, g.port)));
}
