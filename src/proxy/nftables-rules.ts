// What the nftables proxy writes, as text for `nft -f -`, computed without touching the kernel.
// The layout follows upstream's nftables proxier (pkg/proxy/nftables/proxier.go): one table,
// base chains on the netfilter hooks, and dispatch through verdict maps keyed by
// `ip daddr . meta l4proto . th dport`:
//
//   nat-output / nat-prerouting ─┬─ jump services ─┬─ vmap @service-ips        ─ goto service-<port>
//                                │                 └─ vmap @service-nodeports  ─ goto service-<port>
//                                └─ jump endpoints-check
//                                     ─ vmap @no-endpoint-services / @no-endpoint-nodeports ─ goto reject-chain
//   service-<port>:   ip saddr @affinity-<ep> goto endpoint-<ep>   (ClientIP affinity, per endpoint)
//                     numgen random|inc mod N vmap { 0 : goto endpoint-<ep0>, ... }
//   endpoint-<ep>:    update @affinity-<ep> { ip saddr }; dnat to IP:port
//   nat-postrouting ─ jump masquerading (hairpin SNAT of marked connections)
//
// Every chain hangs off a nat hook, and conntrack runs nat chains only for the first packet of a
// connection: established traffic runs none of our rules, only the kernel's conntrack lookup and
// address rewriting, which any DNAT costs.
//
// Deviations from upstream, all because kubelite lives on one host inside 127.0.0.0/8:
//   - No filter chains. Upstream rejects connections to Services without endpoints from filter
//     chains on input/forward/output (`ct state new jump endpoints-check`), because older
//     kernels allowed `reject` only on those hooks. A filter base chain is entered by every
//     packet of every connection on the host, established or not; on loopback each packet
//     crosses two (output, then input), measured at 2-3% of the CPU of a short HTTP request.
//     Here endpoints-check is jumped from the nat chains instead, which see exactly the first
//     packet of each connection (what `ct state new` selected); this needs a kernel that allows
//     `reject` on the prerouting hook (any recent one; 6.x here). Upstream's firewall chains
//     (LoadBalancerSourceRanges) do not exist here either (see below).
//   - round-robin (our default balance mode) is `numgen inc`: a per-rule counter, so each
//     Service port cycles over its endpoints; upstream only has `numgen random`.
//   - NodePorts match the node address(es) in @nodeport-ips, loopback included (upstream
//     excludes 127.0.0.0/8 from NodePorts). Local clients always take the output hook, where
//     DNAT to a loopback address needs no route_localnet.
//   - Endpoints on loopback are not masqueraded, not even for hairpin traffic: the reply
//     never leaves the host, and masquerading on `lo` would pick an unrelated address. Other
//     endpoints are marked for masquerade on hairpin as upstream does.
//   - Traffic policies `Local` are not modelled (every endpoint is on this host anyway), so
//     there are no external-*/local-* chains and no LoadBalancerSourceRanges firewall.
//   - IPv4 only (kubelite's service and pod networks are IPv4 loopback ranges).
import { createHash } from 'node:crypto';
import type { Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { endpointsByPort, familyOf, frontends, portKey, usableEndpoints, DEFAULT_AFFINITY_TIMEOUT_SECONDS } from './endpoints.js';
import type { BalanceMode } from './balancer.js';
import { udpFrontendKey, type UdpServing } from './conntrack.js';

export const DEFAULT_TABLE = 'kubelite';

/** The verdict maps Service frontends are entered in. */
export const MAPS = ['service-ips', 'service-nodeports', 'no-endpoint-services', 'no-endpoint-nodeports'] as const;
export type MapName = (typeof MAPS)[number];

const REJECT_CHAIN = 'reject-chain';
const MASQUERADE_MARK = '0x4000'; // upstream's default --masquerade-bit 14
const PROTOCOLS: Record<string, string> = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' };
/** nft's NFT_NAME_MAXLEN is 256; upstream keeps 16 characters for the prefix. */
const NAME_BASE_MAX = 240;

/** The rules one Service contributes to the table. */
export interface ServiceRules {
  /** Map elements, per map: key (`127.96.0.10 . tcp . 80`) → verdict (`goto service-...`). */
  elements: Map<MapName, Map<string, string>>;
  /** Regular chains (service-*, endpoint-*) and their rules in order. */
  chains: Map<string, string[]>;
  /** ClientIP affinity sets and their timeout in seconds. */
  affinitySets: Map<string, number>;
  /** What each Service port was programmed with (for status output and tests). */
  ports: ServicePortStatus[];
  /** UDP frontends and their serving endpoints' IPs: stale conntrack entries are judged by it (conntrack.ts). */
  udpServing: UdpServing;
}

export interface ServicePortStatus {
  /** `namespace/name:port` (port name, or number when unnamed). */
  servicePort: string;
  protocol: string;
  /** `address:port` of each frontend this Service holds (the node address for NodePorts). */
  frontends: string[];
  /** Usable endpoints, `IP:port`, in upstream's order; empty: connections are rejected. */
  endpoints: string[];
  /** Frontends another Service holds already (left out). */
  conflicts?: string[];
}

export function emptyRules(): ServiceRules {
  return { elements: new Map(MAPS.map((m) => [m, new Map()])), chains: new Map(), affinitySets: new Map(), ports: [], udpServing: new Map() };
}

/**
 * A hash of the name in front of the name itself, truncated: unique even when cut, and chains
 * of one Service that differ in one digit still look different (upstream's scheme, in hex).
 */
function hashedName(name: string): string {
  const full = `${createHash('sha256').update(name).digest('hex').slice(0, 8).toUpperCase()}-${name}`;
  return full.length > NAME_BASE_MAX ? `${full.slice(0, NAME_BASE_MAX - 3)}...` : full;
}

/** `namespace/name/protocol/portName`: the part of chain names that identifies a Service port. */
function portBase(namespace: string, name: string, protocol: string, portName: string): string {
  return `${namespace}/${name}/${protocol}/${portName}`;
}

export function serviceChainName(namespace: string, name: string, protocol: string, portName: string): string {
  return `service-${hashedName(portBase(namespace, name, protocol, portName))}`;
}

function endpointBase(namespace: string, name: string, protocol: string, portName: string, ip: string, port: number): string {
  // `:` is not allowed in names; `__` separates the Service port from the endpoint (as upstream).
  return hashedName(`${portBase(namespace, name, protocol, portName)}__${ip.replace(/:/g, '.')}/${port}`);
}

/** Chains and sets of Service ports carry a `/` in their name; the fixed ones never do. */
export function isServicePortObject(name: string): boolean {
  return name.includes('/');
}

function isLoopback(ip: string): boolean {
  return ip.startsWith('127.');
}

/** Where a frontend's element goes: the IP maps share one key space, the NodePort maps another. */
export function frontendClaim(map: MapName, key: string): string {
  return `${map.endsWith('nodeports') ? 'nodeport' : 'ip'} ${key}`;
}

export interface BuildOptions {
  mode: BalanceMode;
  nodeIP: string;
  /** Frontends (see frontendClaim) this Service may not take because another one holds them. */
  taken?: (claim: string) => boolean;
}

/** The rules of one Service from its spec and EndpointSlices. */
export function buildServiceRules(svc: Service, slices: readonly EndpointSlice[], o: BuildOptions): ServiceRules {
  const rules = emptyRules();
  const namespace = svc.metadata?.namespace ?? 'default';
  const name = svc.metadata?.name ?? '';
  const byPort = endpointsByPort(slices, 'IPv4');
  const affinity = svc.spec?.sessionAffinity === 'ClientIP'
    ? svc.spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY_TIMEOUT_SECONDS
    : undefined;
  for (const sp of svc.spec?.ports ?? []) {
    const protocol = PROTOCOLS[sp.protocol ?? 'TCP'];
    if (!protocol) continue;
    const portName = sp.name ?? '';
    const all = byPort.get(portKey(sp.name, sp.protocol ?? 'TCP')) ?? [];
    const endpoints = usableEndpoints(all);
    // Upstream keeps a UDP flow that reaches any serving endpoint, terminating ones included.
    const servingIPs = protocol === 'udp' ? [...new Set(all.filter((e) => e.serving).map((e) => e.ip))] : [];
    const svcChain = serviceChainName(namespace, name, protocol, portName);
    const status: ServicePortStatus = { servicePort: `${namespace}/${name}:${sp.name || sp.port}`, protocol: sp.protocol ?? 'TCP', frontends: [], endpoints: endpoints.map((e) => e.key) };
    rules.ports.push(status);

    const verdict = endpoints.length ? `goto ${svcChain}` : `goto ${REJECT_CHAIN}`;
    for (const fe of frontends(svc, sp, o.nodeIP)) {
      if (familyOf(fe.address) !== 'IPv4') continue;
      const nodePort = fe.kind === 'nodePort';
      const map: MapName = endpoints.length ? (nodePort ? 'service-nodeports' : 'service-ips') : (nodePort ? 'no-endpoint-nodeports' : 'no-endpoint-services');
      const key = nodePort ? `${protocol} . ${fe.port}` : `${fe.address} . ${protocol} . ${fe.port}`;
      const where = `${fe.address}:${fe.port}`;
      if (o.taken?.(frontendClaim(map, key))) {
        (status.conflicts ??= []).push(where);
        continue;
      }
      rules.elements.get(map)!.set(key, verdict);
      status.frontends.push(where);
      if (servingIPs.length) rules.udpServing.set(udpFrontendKey(nodePort ? undefined : fe.address, fe.port), servingIPs);
    }
    if (!endpoints.length) continue;

    const serviceRules: string[] = [];
    const vmap: string[] = [];
    endpoints.forEach((ep, i) => {
      const base = endpointBase(namespace, name, protocol, portName, ep.ip, ep.port);
      const chain = `endpoint-${base}`;
      const set = `affinity-${base}`;
      const chainRules: string[] = [];
      // Hairpin (an endpoint reaching its own Service) needs SNAT when the reply would leave the host.
      if (!isLoopback(ep.ip)) chainRules.push(`ip saddr ${ep.ip} jump mark-for-masquerade`);
      if (affinity !== undefined) {
        rules.affinitySets.set(set, affinity);
        chainRules.push(`update @${set} { ip saddr }`);
        serviceRules.push(`ip saddr @${set} goto ${chain}`);
      }
      chainRules.push(`meta l4proto ${protocol} dnat to ${ep.ip}:${ep.port}`);
      rules.chains.set(chain, chainRules);
      vmap.push(`${i} : goto ${chain}`);
    });
    // Only the first packet of a connection traverses nat chains, so this picks per connection.
    serviceRules.push(`numgen ${o.mode === 'random' ? 'random' : 'inc'} mod ${endpoints.length} vmap { ${vmap.join(', ')} }`);
    rules.chains.set(svcChain, serviceRules);
  }
  return rules;
}

// ---- transactions ------------------------------------------------------------------------------

/** The table's fixed part: base chains, dispatch rules, maps and sets. Idempotent (add + flush). */
export function setupScript(table: string, nodeIPs: readonly string[]): string[] {
  const t = `ip ${table}`;
  const out: string[] = [`add table ${t} { comment "rules for the kubelite service proxy" ; }`];
  const base: [string, string, string, number][] = [
    ['nat-prerouting', 'nat', 'prerouting', -100],
    ['nat-output', 'nat', 'output', -100],
    ['nat-postrouting', 'nat', 'postrouting', 100],
  ];
  for (const [name, type, hook, priority] of base) {
    out.push(`add chain ${t} ${name} { type ${type} hook ${hook} priority ${priority} ; policy accept ; }`, `flush chain ${t} ${name}`);
  }
  for (const name of ['services', 'endpoints-check', REJECT_CHAIN, 'mark-for-masquerade', 'masquerading']) {
    out.push(`add chain ${t} ${name}`, `flush chain ${t} ${name}`);
  }
  for (const map of MAPS) {
    const type = map.endsWith('nodeports') ? 'inet_proto . inet_service' : 'ipv4_addr . inet_proto . inet_service';
    out.push(`add map ${t} ${map} { type ${type} : verdict ; }`);
  }
  out.push(`add set ${t} nodeport-ips { type ipv4_addr ; }`, `flush set ${t} nodeport-ips`);
  if (nodeIPs.length) out.push(`add element ${t} nodeport-ips { ${nodeIPs.join(', ')} }`);
  out.push(
    // The first packet of each connection only (see the top of this file). A frontend is in
    // either the service maps or the no-endpoint ones, so the order of the two jumps does not
    // change what happens; services first spares connections to live Services two lookups.
    `add rule ${t} nat-output jump services`,
    `add rule ${t} nat-output jump endpoints-check`,
    `add rule ${t} nat-prerouting jump services`,
    `add rule ${t} nat-prerouting jump endpoints-check`,
    `add rule ${t} nat-postrouting jump masquerading`,
    `add rule ${t} ${REJECT_CHAIN} reject`,
    `add rule ${t} mark-for-masquerade mark set mark or ${MASQUERADE_MARK}`,
    `add rule ${t} masquerading mark and ${MASQUERADE_MARK} == 0 return`,
    `add rule ${t} masquerading mark set mark xor ${MASQUERADE_MARK}`,
    `add rule ${t} masquerading masquerade fully-random`,
    `add rule ${t} endpoints-check ip daddr . meta l4proto . th dport vmap @no-endpoint-services`,
    `add rule ${t} endpoints-check ip daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports`,
    `add rule ${t} services ip daddr . meta l4proto . th dport vmap @service-ips`,
    `add rule ${t} services ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports`,
  );
  return out;
}

/** Endpoint chains before service chains: a `goto` must name a chain that exists already. */
function chainOrder(a: string, b: string): number {
  const rank = (n: string) => (n.startsWith('endpoint-') ? 0 : 1);
  return rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0);
}

function sameRules(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  return !!a && !!b && a.length === b.length && a.every((r, i) => r === b[i]);
}

function addSet(t: string, name: string, timeoutSeconds: number): string {
  return `add set ${t} ${name} { type ipv4_addr ; flags dynamic,timeout ; timeout ${timeoutSeconds}s ; }`;
}

/** What the kernel's table holds besides the fixed part, as listed before a full sync. */
export interface ExistingObjects {
  chains: Set<string>;
  /** Affinity sets and their timeout in seconds. */
  sets: Map<string, number>;
}

/**
 * A full sync: the fixed part, every map rebuilt from scratch, every Service's chains flushed and
 * refilled, and whatever else the table holds of Service ports flushed (chains: `stale`, deleted
 * later by the caller) or deleted (sets). Affinity sets that stay are kept with their members.
 * With `replace`, any existing table is deleted first (a leftover of a crashed run).
 */
export function fullSyncScript(table: string, nodeIPs: readonly string[], services: Iterable<ServiceRules>, existing: ExistingObjects, replace: boolean): { script: string; stale: string[] } {
  const t = `ip ${table}`;
  const out: string[] = [];
  if (replace) out.push(`add table ${t}`, `delete table ${t}`);
  out.push(...setupScript(table, nodeIPs));
  for (const map of MAPS) out.push(`flush map ${t} ${map}`);
  const chains = new Map<string, string[]>();
  const sets = new Map<string, number>();
  const elements: string[] = [];
  for (const s of services) {
    for (const [c, r] of s.chains) chains.set(c, r);
    for (const [n, timeout] of s.affinitySets) sets.set(n, timeout);
    for (const [map, els] of s.elements) for (const [k, v] of els) elements.push(`add element ${t} ${map} { ${k} : ${v} }`);
  }
  const stale: string[] = [];
  if (!replace) {
    for (const c of existing.chains) {
      if (!isServicePortObject(c)) continue;
      out.push(`flush chain ${t} ${c}`);
      if (!chains.has(c)) stale.push(c);
    }
    // Chains referencing the sets were flushed above, so the sets can go now.
    for (const [n, timeout] of existing.sets) if (sets.get(n) !== timeout) out.push(`delete set ${t} ${n}`);
  }
  for (const [n, timeout] of sets) out.push(addSet(t, n, timeout));
  for (const c of [...chains.keys()].sort(chainOrder)) {
    out.push(`add chain ${t} ${c}`);
    for (const r of chains.get(c)!) out.push(`add rule ${t} ${c} ${r}`);
  }
  out.push(...elements);
  return { script: out.join('\n') + '\n', stale };
}

/**
 * A partial sync of one Service: only what differs between what it had (`old`) and what it
 * should have (`next`). Chains whose rules did not change are left alone (their round-robin
 * counters keep counting). Chains the Service no longer uses are flushed and returned as
 * `stale`: upstream deletes them a little later, since older kernels notice only after a while
 * that a map element no longer references them.
 */
export function partialSyncScript(table: string, old: ServiceRules, next: ServiceRules): { commands: string[]; stale: string[] } {
  const t = `ip ${table}`;
  const flush: string[] = [], deletes: string[] = [], sets: string[] = [], chains: string[] = [], adds: string[] = [];
  const recreatedSets = [...next.affinitySets].filter(([n, timeout]) => old.affinitySets.has(n) && old.affinitySets.get(n) !== timeout).map(([n]) => n);
  // A set is only deleted once no rule references it: then every chain of the Service is refilled.
  const refillAll = recreatedSets.length > 0;
  const stale: string[] = [];
  for (const [c, rules] of old.chains) {
    if (!next.chains.has(c)) {
      flush.push(`flush chain ${t} ${c}`);
      stale.push(c);
    } else if (refillAll || !sameRules(rules, next.chains.get(c))) {
      flush.push(`flush chain ${t} ${c}`);
    }
  }
  for (const map of MAPS) {
    const before = old.elements.get(map)!, after = next.elements.get(map)!;
    for (const [k, v] of before) if (after.get(k) !== v) deletes.push(`delete element ${t} ${map} { ${k} }`);
    for (const [k, v] of after) if (before.get(k) !== v) adds.push(`add element ${t} ${map} { ${k} : ${v} }`);
  }
  for (const n of old.affinitySets.keys()) if (!next.affinitySets.has(n) || recreatedSets.includes(n)) sets.push(`delete set ${t} ${n}`);
  for (const [n, timeout] of next.affinitySets) if (old.affinitySets.get(n) !== timeout) sets.push(addSet(t, n, timeout));
  for (const c of [...next.chains.keys()].sort(chainOrder)) {
    const rules = next.chains.get(c)!;
    const known = old.chains.get(c);
    if (known && !refillAll && sameRules(known, rules)) continue;
    // A chain new to this Service may still exist, flushed, as a stale chain awaiting deletion.
    if (!known) chains.push(`add chain ${t} ${c}`, `flush chain ${t} ${c}`);
    for (const r of rules) chains.push(`add rule ${t} ${c} ${r}`);
  }
  // Order matters within the transaction: stop referencing things before deleting them, create
  // things before referencing them.
  return { commands: [...flush, ...deletes, ...sets, ...chains, ...adds], stale };
}
