// Which endpoints a Service port sends traffic to, as kube-proxy computes it (upstream
// pkg/proxy/endpointslicecache.go and pkg/proxy/topology.go CategorizeEndpoints): the slices of
// a Service are merged and grouped per (port name, protocol); only `addresses[0]` of an endpoint
// counts and only addresses of the frontend's IP family; duplicates (same `IP:port`) collapse;
// the list is sorted by its `IP:port` string. Traffic goes to the ready endpoints, or, when none
// is ready, to those that are still serving while terminating. Pure functions: no I/O.
import type { Service, ServicePort } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';

export type IPFamily = 'IPv4' | 'IPv6';
export type ProxyProtocol = 'TCP' | 'UDP';

export const LABEL_SERVICE_NAME = 'kubernetes.io/service-name';
/** Services labelled so are programmed by another proxy (upstream's server-side label selector). */
export const LABEL_SERVICE_PROXY_NAME = 'service.kubernetes.io/service-proxy-name';
export const LABEL_HEADLESS = 'service.kubernetes.io/headless';
/** When the change an EndpointSlice carries was triggered (for network-programming latency). */
export const ANNOTATION_TRIGGER_TIME = 'endpoints.kubernetes.io/last-change-trigger-time';
export const DEFAULT_AFFINITY_TIMEOUT_SECONDS = 10800;

export interface ProxyEndpoint {
  ip: string;
  port: number;
  /** `IP:port` (`[IP]:port` for IPv6): upstream's endpoint string, the sort and identity key. */
  key: string;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
}

export function familyOf(ip: string): IPFamily {
  return ip.includes(':') ? 'IPv6' : 'IPv4';
}

export function joinHostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** The key endpoints are grouped under: a Service port's name and protocol. */
export function portKey(name: string | undefined, protocol: string | undefined): string {
  return `${name ?? ''}/${protocol ?? 'TCP'}`;
}

/**
 * All endpoints of one Service's slices of one IP family, per `portKey`, deduplicated and sorted.
 * Slices are visited in name order and the first copy of a duplicate wins, so the outcome does
 * not depend on cache order.
 */
export function endpointsByPort(slices: readonly EndpointSlice[], family: IPFamily): Map<string, ProxyEndpoint[]> {
  const sets = new Map<string, Map<string, ProxyEndpoint>>();
  const ordered = [...slices].sort((a, b) => ((a.metadata?.name ?? '') < (b.metadata?.name ?? '') ? -1 : 1));
  for (const slice of ordered) {
    if (slice.addressType !== family) continue;
    for (const p of slice.ports ?? []) {
      if (!p.port) continue; // upstream ignores ports without a number ("all ports" is not supported)
      const k = portKey(p.name ?? '', p.protocol ?? 'TCP');
      let set = sets.get(k);
      if (!set) sets.set(k, (set = new Map()));
      for (const e of slice.endpoints ?? []) {
        const ip = e.addresses?.[0];
        if (!ip || familyOf(ip) !== family) continue;
        const key = joinHostPort(ip, p.port);
        if (set.has(key)) continue;
        const c = e.conditions ?? {};
        const ready = c.ready ?? true;
        set.set(key, {
          ip, port: p.port, key, ready,
          // As newer upstreams: an unset `serving` means what `ready` says.
          serving: c.serving ?? ready,
          terminating: c.terminating ?? false,
        });
      }
    }
  }
  const out = new Map<string, ProxyEndpoint[]>();
  for (const [k, set] of sets) out.set(k, [...set.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)));
  return out;
}

/**
 * The endpoints new connections may go to (CategorizeEndpoints' cluster set): the ready ones;
 * if there are none, the ones serving while terminating (ProxyTerminatingEndpoints), so that a
 * Service whose pods are all shutting down keeps answering until they stop.
 */
export function usableEndpoints(all: readonly ProxyEndpoint[]): ProxyEndpoint[] {
  const ready = all.filter((e) => e.ready);
  return ready.length ? ready : all.filter((e) => e.serving && e.terminating);
}

/** Why the proxy leaves a Service alone, or undefined when it programs it. */
export function skipReason(svc: Service): string | undefined {
  const labels = svc.metadata?.labels ?? {};
  if (labels[LABEL_SERVICE_PROXY_NAME] !== undefined) return `labelled ${LABEL_SERVICE_PROXY_NAME}`;
  if (labels[LABEL_HEADLESS] !== undefined) return `labelled ${LABEL_HEADLESS}`;
  if (svc.spec?.type === 'ExternalName') return 'type ExternalName';
  const ip = svc.spec?.clusterIP;
  if (ip === 'None') return 'headless';
  if (!ip) return 'no cluster IP yet';
  return undefined;
}

/** One address:port a Service port is reached at. */
export interface Frontend {
  address: string;
  port: number;
  /** `clusterIP`, `nodePort`, `externalIP` or `loadBalancer`. */
  kind: 'clusterIP' | 'nodePort' | 'externalIP' | 'loadBalancer';
}

/**
 * Where a Service port is reached: its cluster IPs, its external IPs and load-balancer ingress
 * IPs at `port`, and the node address at `nodePort` (NodePort and LoadBalancer Services).
 */
export function frontends(svc: Service, sp: ServicePort, nodeIP: string): Frontend[] {
  const spec = svc.spec ?? {};
  const out: Frontend[] = [];
  const clusterIPs = spec.clusterIPs?.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : [];
  for (const ip of clusterIPs) if (ip && ip !== 'None') out.push({ address: ip, port: sp.port, kind: 'clusterIP' });
  for (const ip of spec.externalIPs ?? []) out.push({ address: ip, port: sp.port, kind: 'externalIP' });
  if (spec.type === 'LoadBalancer') {
    for (const ing of svc.status?.loadBalancer?.ingress ?? []) if (ing.ip) out.push({ address: ing.ip, port: sp.port, kind: 'loadBalancer' });
  }
  if ((spec.type === 'NodePort' || spec.type === 'LoadBalancer') && sp.nodePort) {
    out.push({ address: nodeIP, port: sp.nodePort, kind: 'nodePort' });
  }
  return out;
}

/** The ClientIP affinity timeout of a Service in ms, or undefined without affinity. */
export function affinityTimeoutMs(svc: Service): number | undefined {
  if (svc.spec?.sessionAffinity !== 'ClientIP') return undefined;
  const s = svc.spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY_TIMEOUT_SECONDS;
  return s * 1000;
}
