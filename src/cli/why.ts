// `kubelite why service/NAME [pod/NAME]`: for each pod, is it an endpoint of the Service, and if
// not, exactly why — by the Endpoints and EndpointSlice controllers' rules
// (src/api/endpoint-membership.ts) — checked against the Endpoints object and EndpointSlices
// the controllers actually wrote, so that a lagging or wrong controller shows too.
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ParseArgsConfig } from 'node:util';
import type { Endpoints, Event, Node, Pod, Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { readKubeconfig } from '../client/kubeconfig.js';
import { ApiStatusError, isNotFound, RestClient } from '../client/rest.js';
import {
  endpointsAddresses, endpointsDiscrepancies, handWrittenMembership, isHeadless, listedInEndpoints, listedInSlices,
  MIRRORING_CONTROLLER, OVER_CAPACITY_ANNOTATION, podIPs, podMembership, serviceIPFamily, serviceMode,
  SERVICE_NAME_LABEL, SKIP_MIRROR_LABEL, SLICE_CONTROLLER, SLICE_MANAGED_BY_LABEL, slicesDiscrepancies,
  type IPFamily, type Listed, type ListedAddress, type MembershipOptions, type PodMembership, type Reason,
  type ServiceMode, type SliceListed, type SliceMembership,
} from '../api/endpoint-membership.js';

export const WHY_HELP = `Usage: kubelite why service/NAME [pod/NAME] [flags]

Explain a Service's endpoints: for every pod in the Service's namespace (or only the pod named),
say whether it is an endpoint and exactly why not, by the rules of the Endpoints and EndpointSlice
controllers: selector keys that do not match (both sides shown), not Ready (which condition,
container, probe or readiness gate), terminating, terminal phase, not scheduled, no IP, a named
targetPort its containers do not declare or declare with another protocol, another namespace.
The verdicts are checked against the Endpoints object and the EndpointSlices in the cluster;
differences (a controller lagging or wrong) are listed under "Cross-check".
For a Service without selector it lists the hand-written Endpoints (and their mirrored
EndpointSlices); for an ExternalName Service it says that it has no endpoints by design.

ENDPOINT is the pod's place in the Endpoints object: yes (addresses), not-ready
(notReadyAddresses) or no. EndpointSlices differ on terminating pods: they keep them, with
ready=false, terminating=true; the REASON column says so.

Dual-stack: the Endpoints object carries the Service's primary family (ipFamilies[0]) only; the
EndpointSlice controller writes slices for each of the Service's families and puts a pod in a
family's slices with its IPs of that family. A pod without an IP of some family is left out of
that family's slices; the REASON column says which. IP shows the pod's IPs of the Service's families.

pod/NAME is looked up in the Service's namespace; if it exists only in other namespaces, the
verdict is "other namespace". (svc/, services/, po/ and pods/ are accepted too.)

Flags:
  -n, --namespace NS     Namespace of the Service (default: the context's namespace, else default)
  -o, --output FORMAT    table (default) or json
      --kubeconfig PATH  Kubeconfig file (default: $KUBECONFIG, else ~/.kube/config; in a list of
                         files in $KUBECONFIG the first that defines the context is used)
      --context NAME     Kubeconfig context (default: the current context)
  -h, --help             Show this help

Exit status: 0 when the report was made (whatever it says), 1 when the Service (or the pod named)
does not exist or the cluster cannot be reached, 2 on bad usage.

JSON output (-o json), kind WhyServiceReport, apiVersion kubelite.io/v1alpha1:
  service      {namespace, name, type, clusterIP, selector (null if none), publishNotReadyAddresses,
                ipFamily (the Endpoints object's), ipFamilies (the EndpointSlices' address types),
                externalName?, ports: [{name, port, protocol, targetPort}]}
  mode         "selector" | "selectorless" | "externalName"
  message      one-line summary for selectorless and ExternalName Services
  summary      {pods, endpoints, notReady, excluded}: counts of the verdicts
  endpoints    the Endpoints object: {exists, ready, notReady, overCapacity, addresses: [{ip, ready,
                ports: ["name:port/PROTO"], nodeName?, hostname?, targetRef?, pod}]}
  endpointSlices  {names, managedBy: {NAME: manager}, endpoints}
  pods         one per pod: {namespace, name, uid, ip (of the Endpoints' family), ips (all), node, phase,
                endpoint: "yes"|"not-ready"|"no",
                ports: [{name, port, protocol, targetPort, resolved (null if not), reason?}],
                reasons: [{code, message, port?, details?}], notes: [string],
                endpointSlice: {included, conditions?: {ready, serving, terminating}, addresses?,
                  ports?, reason?, families: [{addressType, included, addresses?, reason?, ...}]},
                listed: {endpoints: {state: "ready"|"not-ready"|"both"|"absent", ips, ports},
                  endpointSlices: {slices, conditions?, addresses, ports}},
                discrepancies: [string]}
  otherNamespaces  [{namespace, name}]: pods elsewhere whose labels match the selector
  discrepancies    differences not tied to one pod (missing objects, addresses of unknown pods)
Reason codes: ExternalName, NoSelector, OtherNamespace, SelectorMismatch, Terminal, NotScheduled,
NoIP, Terminating, NoIPOfFamily, NoPorts, NamedPortNotFound, PortProtocolMismatch, NotReady,
NodeNotFound (EndpointSlices only).
`;

export const WHY_OPTIONS: ParseArgsConfig['options'] = {
  namespace: { type: 'string', short: 'n' },
  output: { type: 'string', short: 'o' },
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
};

/** The pod in the EndpointSlices of one address type (the EndpointSlice controller reconciles each apart). */
export interface FamilySliceMembership extends SliceMembership {
  addressType: IPFamily;
}

export interface PodReport extends PodMembership {
  /** Every IP of the pod (status.podIPs), whatever its family. */
  ips: string[];
  /** Across the Service's address types, with the verdict of each in `families` (none without a selector). */
  endpointSlice: SliceMembership & { families: FamilySliceMembership[] };
  node: string | null;
  phase: string | null;
  listed: { endpoints: Listed; endpointSlices: SliceListed };
  discrepancies: string[];
}

export interface WhyReport {
  kind: 'WhyServiceReport';
  apiVersion: 'kubelite.io/v1alpha1';
  service: {
    namespace: string;
    name: string;
    type: string;
    clusterIP: string | null;
    selector: Record<string, string> | null;
    publishNotReadyAddresses: boolean;
    ipFamily: string;
    ipFamilies: IPFamily[];
    externalName?: string;
    ports: { name: string; port: number; protocol: string; targetPort: number | string }[];
  };
  mode: ServiceMode;
  message?: string;
  summary: { pods: number; endpoints: number; notReady: number; excluded: number };
  endpoints: { exists: boolean; ready: number; notReady: number; overCapacity: boolean; addresses: ListedAddress[] };
  endpointSlices: { names: string[]; managedBy: Record<string, string>; endpoints: number };
  pods: PodReport[];
  otherNamespaces: { namespace: string; name: string }[];
  discrepancies: string[];
}

class UsageError extends Error {}

const RESOURCE_ALIASES: Record<string, 'service' | 'pod'> = {
  service: 'service', services: 'service', svc: 'service', pod: 'pod', pods: 'pod', po: 'pod',
};

function parseRef(arg: string, want: 'service' | 'pod'): string {
  const m = /^([a-z]+)\/([^/]+)$/.exec(arg);
  if (!m || RESOURCE_ALIASES[m[1]] !== want) throw new UsageError(`expected ${want}/NAME, got ${JSON.stringify(arg)}`);
  return m[2];
}

interface KubeconfigDoc {
  'current-context'?: string;
  contexts?: { name: string; context?: { namespace?: string } }[];
}

/** Find the cluster as kubectl does: --kubeconfig, else $KUBECONFIG (a list), else ~/.kube/config. */
async function connect(values: Record<string, unknown>): Promise<{ client: RestClient; namespace: string }> {
  const YAML = (await import('yaml')).default;
  const explicit = values.kubeconfig === undefined ? undefined : String(values.kubeconfig);
  const files = explicit ? [explicit]
    : process.env.KUBECONFIG ? process.env.KUBECONFIG.split(path.delimiter).filter(Boolean)
      : [path.join(os.homedir(), '.kube', 'config')];
  const docs: { file: string; doc: KubeconfigDoc }[] = [];
  for (const file of files) {
    if (!existsSync(file)) {
      if (explicit) throw new Error(`stat ${file}: no such file or directory`);
      continue; // kubectl skips missing files of a KUBECONFIG list
    }
    docs.push({ file, doc: (YAML.parse(readFileSync(file, 'utf8')) ?? {}) as KubeconfigDoc });
  }
  if (docs.length === 0) throw new Error(`no kubeconfig found (looked at ${files.join(', ')}); use --kubeconfig or KUBECONFIG`);
  const contextName = values.context === undefined ? docs.map((d) => d.doc['current-context']).find(Boolean) : String(values.context);
  if (!contextName) throw new Error('current-context is not set in the kubeconfig; use --context');
  const owner = docs.find((d) => (d.doc.contexts ?? []).some((c) => c.name === contextName));
  if (!owner) throw new Error(`context "${contextName}" does not exist`);
  const ctx = owner.doc.contexts!.find((c) => c.name === contextName)!.context ?? {};
  const cfg = await readKubeconfig(owner.file, contextName);
  return { client: new RestClient({ ...cfg, userAgent: 'kubelite-why/0.1.0' }), namespace: ctx.namespace || 'default' };
}

interface List<T> {
  items?: T[];
}

const enc = encodeURIComponent;

async function getOrUndefined<T>(client: WhyClient, p: string): Promise<T | undefined> {
  try {
    return await client.get<T>(p);
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

function selectorString(sel: Record<string, string>): string {
  return Object.entries(sel).map(([k, v]) => `${k}=${v}`).join(',');
}

/** The kubelet's latest "Readiness/Startup probe failed" event of each pod, by pod uid (or name). */
async function probeEvents(client: WhyClient, ns: string): Promise<Map<string, Event>> {
  const out = new Map<string, Event>();
  let list: List<Event>;
  try {
    list = await client.get<List<Event>>(`/api/v1/namespaces/${enc(ns)}/events`, { fieldSelector: 'involvedObject.kind=Pod,reason=Unhealthy' });
  } catch {
    return out; // events are a nicety: a server that cannot filter them gets no probe messages
  }
  const when = (e: Event) => String(e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? '');
  for (const e of list.items ?? []) {
    if (!/^(Readiness|Startup) probe/.test(e.message ?? '')) continue;
    const key = e.involvedObject.uid || e.involvedObject.name || '';
    const prev = out.get(key);
    if (!prev || when(e) >= when(prev)) out.set(key, e);
  }
  return out;
}

/** What the report reads the cluster with: GETs only. */
export type WhyClient = Pick<RestClient, 'get'>;

/** The report on `svc` (for every pod of its namespace, or only `podName`), from the cluster's current objects. */
export async function buildReport(client: WhyClient, svc: Service, podName: string | undefined): Promise<WhyReport> {
  const ns = svc.metadata!.namespace!;
  const name = svc.metadata!.name!;
  const mode = serviceMode(svc);
  const report: WhyReport = {
    kind: 'WhyServiceReport', apiVersion: 'kubelite.io/v1alpha1',
    service: {
      namespace: ns, name, type: svc.spec?.type ?? 'ClusterIP', clusterIP: svc.spec?.clusterIP ?? null,
      selector: mode === 'selector' ? svc.spec!.selector! : null,
      publishNotReadyAddresses: svc.spec?.publishNotReadyAddresses === true,
      ipFamily: serviceIPFamily(svc),
      ipFamilies: serviceAddressTypes(svc),
      ...(svc.spec?.externalName ? { externalName: svc.spec.externalName } : {}),
      ports: (svc.spec?.ports ?? []).map((p) => ({ name: p.name ?? '', port: p.port, protocol: p.protocol ?? 'TCP', targetPort: p.targetPort ?? p.port })),
    },
    mode,
    summary: { pods: 0, endpoints: 0, notReady: 0, excluded: 0 },
    endpoints: { exists: false, ready: 0, notReady: 0, overCapacity: false, addresses: [] },
    endpointSlices: { names: [], managedBy: {}, endpoints: 0 },
    pods: [], otherNamespaces: [], discrepancies: [],
  };
  if (mode === 'externalName') {
    report.message = `type ExternalName (${svc.spec?.externalName ?? ''}): the Service has no endpoints by design; DNS answers with a CNAME to ${svc.spec?.externalName ?? ''}`;
    return report;
  }

  // The pods looked at: the one named (found in other namespaces if not in the Service's), or all in the namespace.
  let pods: Pod[];
  if (podName !== undefined) {
    const pod = await getOrUndefined<Pod>(client, `/api/v1/namespaces/${enc(ns)}/pods/${enc(podName)}`);
    pods = pod ? [pod] : (await client.get<List<Pod>>('/api/v1/pods', { fieldSelector: `metadata.name=${podName}` })).items ?? [];
    if (pods.length === 0) throw new ApiStatusError({ kind: 'Status', code: 404, reason: 'NotFound', message: `pods "${podName}" not found` });
  } else {
    pods = (await client.get<List<Pod>>(`/api/v1/namespaces/${enc(ns)}/pods`)).items ?? [];
  }

  const [ep, sliceList] = await Promise.all([
    getOrUndefined<Endpoints>(client, `/api/v1/namespaces/${enc(ns)}/endpoints/${enc(name)}`),
    client.get<List<EndpointSlice>>(`/apis/discovery.k8s.io/v1/namespaces/${enc(ns)}/endpointslices`, { labelSelector: `${SERVICE_NAME_LABEL}=${name}` }),
  ]);
  const slices = sliceList.items ?? [];
  const nsPods = pods.filter((p) => p.metadata?.namespace === ns);
  report.endpoints = {
    exists: !!ep,
    ready: (ep?.subsets ?? []).reduce((n, s) => n + (s.addresses?.length ?? 0), 0),
    notReady: (ep?.subsets ?? []).reduce((n, s) => n + (s.notReadyAddresses?.length ?? 0), 0),
    overCapacity: ep?.metadata?.annotations?.[OVER_CAPACITY_ANNOTATION] === 'truncated',
    addresses: endpointsAddresses(ep, nsPods),
  };
  report.endpointSlices = {
    names: slices.map((s) => s.metadata!.name!),
    managedBy: Object.fromEntries(slices.map((s) => [s.metadata!.name!, s.metadata?.labels?.[SLICE_MANAGED_BY_LABEL] ?? ''])),
    endpoints: slices.reduce((n, s) => n + (s.endpoints?.length ?? 0), 0),
  };

  if (mode === 'selectorless') {
    const mirrored = slices.filter((s) => s.metadata?.labels?.[SLICE_MANAGED_BY_LABEL] === MIRRORING_CONTROLLER);
    const skip = ep?.metadata?.labels?.[SKIP_MIRROR_LABEL] === 'true';
    report.message = !ep
      ? 'the Service has no selector, and no Endpoints object: it has no endpoints until someone writes Endpoints (or EndpointSlices) by hand'
      : `the Service has no selector: its Endpoints are hand-written (${report.endpoints.ready} ready, ${report.endpoints.notReady} not ready)${
        skip ? `; not mirrored into EndpointSlices (label ${SKIP_MIRROR_LABEL}=true)`
          : mirrored.length ? `; mirrored into EndpointSlice ${mirrored.map((s) => s.metadata!.name).join(', ')}`
            : '; no mirrored EndpointSlice yet'}`;
    if (ep && !skip && mirrored.length === 0) report.discrepancies.push('the hand-written Endpoints have no mirrored EndpointSlice yet (is the EndpointSlice mirroring controller running?)');
    if (podName !== undefined) report.pods = pods.map((p) => podReport(svc, handWrittenMembership(svc, p, ep), p, ep, [], []));
    summarise(report);
    return report;
  }

  // Selector: the EndpointSlice controller's own slices (others, e.g. hand-made ones, do not count).
  const managed = slices.filter((s) => s.metadata?.labels?.[SLICE_MANAGED_BY_LABEL] === SLICE_CONTROLLER);
  const nodes = new Set(((await client.get<List<Node>>('/api/v1/nodes')).items ?? []).map((n) => n.metadata!.name!));
  const opts: MembershipOptions = { nodeExists: (n) => nodes.has(n) };
  const memberships = pods.map((p) => podMembership(svc, p, opts));
  if (memberships.some((m) => m.reasons.some((r) => r.code === 'NotReady'))) {
    const events = await probeEvents(client, ns);
    for (const m of memberships) {
      const e = events.get(m.uid ?? '') ?? events.get(m.name);
      const notReady = m.reasons.find((r) => r.code === 'NotReady');
      if (e && notReady) notReady.details = [...(notReady.details ?? []), `kubelet: ${e.message}${(e.count ?? 1) > 1 ? ` (${e.count} times)` : ''}`];
    }
  }
  report.pods = memberships.map((m, i) => podReport(svc, m, pods[i], ep, managed, slices, opts));

  const addressTypes = serviceAddressTypes(svc);
  for (const s of managed) {
    if (!addressTypes.includes(s.addressType as IPFamily)) report.discrepancies.push(`EndpointSlice ${s.metadata!.name} has addressType ${s.addressType}, not one of the Service's families (${addressTypes.join(', ')}): stale, the controller deletes such slices`);
  }
  if (!ep) report.discrepancies.push(`the Endpoints object ${ns}/${name} does not exist (is the endpoints controller running?)`);
  if (managed.length === 0) report.discrepancies.push(`no EndpointSlice of the Service (label ${SERVICE_NAME_LABEL}=${name}, managed by ${SLICE_CONTROLLER}) exists, not even a placeholder (is the EndpointSlice controller running?)`);
  if (podName === undefined) {
    // Addresses of pods that are not in the namespace any more: stale entries.
    const known = new Set(nsPods.map((p) => p.metadata?.uid));
    for (const a of report.endpoints.addresses) {
      if (!a.targetRef) report.discrepancies.push(`the Endpoints object lists ${a.ip} without a pod reference (the endpoints controller always sets targetRef)`);
      else if (a.targetRef.uid && !known.has(a.targetRef.uid)) report.discrepancies.push(`the Endpoints object lists ${a.ip} (pod ${a.targetRef.name}) but that pod does not exist: stale`);
    }
    for (const s of managed) {
      for (const e of s.endpoints ?? []) {
        if (e.targetRef?.uid && !known.has(e.targetRef.uid)) report.discrepancies.push(`EndpointSlice ${s.metadata!.name} lists ${e.addresses.join(', ')} (pod ${e.targetRef.name}) but that pod does not exist: stale`);
      }
    }
    // Pods elsewhere with matching labels: a frequent mistake is a Service in the wrong namespace.
    const matching = (await client.get<List<Pod>>('/api/v1/pods', { labelSelector: selectorString(svc.spec!.selector!) })).items ?? [];
    report.otherNamespaces = matching.filter((p) => p.metadata?.namespace !== ns).map((p) => ({ namespace: p.metadata!.namespace!, name: p.metadata!.name! }));
  }
  summarise(report);
  return report;
}

/**
 * getAddressTypesForService: the address types the EndpointSlice controller writes slices for —
 * the Service's ipFamilies; for an object without them, the family of its ClusterIP, and both
 * families when headless.
 */
export function serviceAddressTypes(svc: Service): IPFamily[] {
  const out: IPFamily[] = [];
  for (const f of svc.spec?.ipFamilies ?? []) if ((f === 'IPv4' || f === 'IPv6') && !out.includes(f)) out.push(f);
  if (out.length) return out;
  const cip = svc.spec?.clusterIP;
  if (cip && !isHeadless(svc)) return [cip.includes(':') ? 'IPv6' : 'IPv4'];
  return ['IPv4', 'IPv6'];
}

/**
 * The pod in the EndpointSlices of each of the Service's address types: the membership rules
 * applied as if the Service had that one family (each address type's slices hold the pod's IPs
 * of that family, upstream's getEndpointAddresses).
 */
export function sliceFamilies(svc: Service, pod: Pod, opts: MembershipOptions = {}): FamilySliceMembership[] {
  const ips = podIPs(pod);
  return serviceAddressTypes(svc).map((addressType) => {
    const one = podMembership({ ...svc, spec: { ...svc.spec, ipFamilies: [addressType] } }, pod, opts).endpointSlice;
    const reason = one.reason?.code === 'NoIPOfFamily'
      ? { ...one.reason, message: `no ${addressType} address (pod IPs: ${ips.join(', ')}): the ${addressType} EndpointSlices leave it out` }
      : one.reason;
    return { addressType, ...one, ...(reason ? { reason } : {}) };
  });
}

/** The slice verdicts of every family as one: included if in some family's slices, with all its addresses there. */
function mergedSliceMembership(primary: SliceMembership, families: FamilySliceMembership[]): PodReport['endpointSlice'] {
  const included = families.filter((f) => f.included);
  if (included.length === 0) return { ...primary, families };
  const { conditions, ports } = included[0]!;
  return { included: true, conditions, addresses: included.flatMap((f) => f.addresses ?? []), ports, families };
}

function podReport(svc: Service, m: PodMembership, pod: Pod, ep: Endpoints | undefined, managed: EndpointSlice[], slices: EndpointSlice[], opts: MembershipOptions = {}): PodReport {
  const selector = serviceMode(svc) === 'selector';
  const families = selector ? sliceFamilies(svc, pod, opts) : [];
  const dualStack = families.length > 1;
  // With several families, "the Service's family" of a missing address is the primary one, the Endpoints'.
  const reasons = dualStack
    ? m.reasons.map((r) => (r.code === 'NoIPOfFamily'
      ? { ...r, message: `no ${serviceIPFamily(svc, pod)} address (pod IPs: ${podIPs(pod).join(', ')}): the Endpoints object carries only the Service's primary family, ${serviceIPFamily(svc, pod)}` }
      : r))
    : m.reasons;
  const report: PodReport = {
    ...m,
    reasons,
    ips: podIPs(pod),
    endpointSlice: selector ? mergedSliceMembership(m.endpointSlice, families) : { ...m.endpointSlice, families },
    node: pod.spec?.nodeName || null,
    phase: pod.status?.phase ?? null,
    listed: { endpoints: listedInEndpoints(ep, pod), endpointSlices: listedInSlices(slices, pod) },
    discrepancies: [],
  };
  // The cross-check applies where controllers own the objects: Services with a selector. Each
  // address type's slices are checked apart, against the pod's IPs of that family.
  if (selector) {
    report.discrepancies = endpointsDiscrepancies(svc, pod, m, ep);
    for (const f of families) {
      const found = slicesDiscrepancies(pod, { ...m, endpointSlice: f }, managed.filter((s) => s.addressType === f.addressType));
      report.discrepancies.push(...(dualStack ? found.map((d) => `${f.addressType} ${d}`) : found));
    }
  }
  return report;
}

function summarise(r: WhyReport): void {
  r.summary = {
    pods: r.pods.length,
    endpoints: r.pods.filter((p) => p.endpoint === 'yes').length,
    notReady: r.pods.filter((p) => p.endpoint === 'not-ready').length,
    excluded: r.pods.filter((p) => p.endpoint === 'no').length,
  };
}

// --- text output ---------------------------------------------------------------------------

function reasonText(r: Reason): string {
  if (r.code === 'NotReady') return `not Ready: ${(r.details ?? []).join('; ')}`;
  return r.details?.length ? `${r.message} [${r.details.join('; ')}]` : r.message;
}

const condList = (c: { ready?: boolean; serving?: boolean; terminating?: boolean } | undefined) =>
  `ready=${c?.ready}, serving=${c?.serving}, terminating=${c?.terminating}`;

function rowReason(p: PodReport, mode: ServiceMode): string {
  const parts: string[] = [];
  // A `yes` says first why it is one (Ready, or published anyway), then the ports left out.
  if (p.endpoint === 'yes' && mode === 'selector' && p.notes.length === 0) parts.push('Ready');
  if (p.endpoint === 'yes') parts.push(...p.notes, ...p.reasons.map(reasonText));
  else parts.push(...p.reasons.map(reasonText), ...p.notes);
  if (mode === 'selector') {
    const s = p.endpointSlice;
    const missing = s.families.filter((f) => !f.included);
    if (p.endpoint === 'no' && s.included) {
      const where = missing.length ? `the ${s.families.filter((f) => f.included).map((f) => f.addressType).join(', ')} EndpointSlices` : 'EndpointSlices';
      // Out of the Endpoints for want of an address of the primary family, yet in another family's slices.
      if (p.reasons.some((r) => r.code === 'NoIPOfFamily')) parts.push(`in ${where} (${s.addresses!.join(', ')}; ${condList(s.conditions)})`);
      else parts.push(`${where} still list it (${condList(s.conditions)})`);
    }
    if (p.endpoint !== 'no' && !s.included && s.reason) parts.push(`not in EndpointSlices: ${s.reason.message}`);
    else if (p.endpoint !== 'no') for (const f of missing) if (f.reason) parts.push(`not in the ${f.addressType} EndpointSlices: ${f.reason.message}`);
  }
  return parts.join('; ');
}

/** The pod's IPs of the Service's families, the Endpoints' one first (a pod of another namespace or a selectorless Service: its first IP). */
function ipText(p: PodReport, families: IPFamily[]): string {
  const ofService = p.ips.filter((ip) => families.includes(ip.includes(':') ? 'IPv6' : 'IPv4') && ip !== p.ip);
  const shown = [...(p.ip ? [p.ip] : []), ...ofService];
  return shown.length ? shown.join(',') : '<none>';
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] + 3))).join('').trimEnd()).join('\n') + '\n';
}

function portsText(r: WhyReport): string {
  if (r.service.ports.length === 0) return '<none>';
  return r.service.ports.map((p) => `${p.name ? `${p.name} ` : ''}${p.port}/${p.protocol} -> ${p.targetPort}`).join(', ');
}

export function renderText(r: WhyReport): string {
  const s = r.service;
  let out = '';
  const kv: [string, string][] = [['Service:', `${s.namespace}/${s.name} (${s.type}${s.clusterIP && s.type !== 'ExternalName' ? ` ${s.clusterIP}` : ''})`]];
  if (r.mode === 'externalName') {
    kv.push(['Verdict:', r.message!]);
    return kv.map(([k, v]) => `${k.padEnd(17)}${v}`).join('\n') + '\n';
  }
  kv.push(['Selector:', s.selector ? selectorString(s.selector) : '<none>']);
  kv.push(['Ports:', portsText(r)]);
  if (s.publishNotReadyAddresses) kv.push(['Publish:', 'publishNotReadyAddresses: not-ready and terminating pods are listed as ready']);
  const e = r.endpoints;
  kv.push(['Endpoints:', e.exists ? `${e.ready} ready, ${e.notReady} not ready${e.overCapacity ? ' (truncated: over capacity)' : ''}` : 'no Endpoints object']);
  kv.push(['EndpointSlices:', r.endpointSlices.names.length
    ? `${r.endpointSlices.names.map((n) => `${n}${r.endpointSlices.managedBy[n] === MIRRORING_CONTROLLER ? ' (mirrored)' : ''}`).join(', ')} (${r.endpointSlices.endpoints} endpoint${r.endpointSlices.endpoints === 1 ? '' : 's'})`
    : '<none>']);
  if (r.mode === 'selector') {
    const sum = r.summary;
    kv.push(['Pods:', `${sum.pods} looked at: ${sum.endpoints} endpoint${sum.endpoints === 1 ? '' : 's'}, ${sum.notReady} not ready, ${sum.excluded} not endpoint${sum.excluded === 1 ? '' : 's'}`]);
  } else {
    kv.push(['Verdict:', r.message!]);
  }
  out += kv.map(([k, v]) => `${k.padEnd(17)}${v}`).join('\n') + '\n';

  if (r.mode === 'selectorless' && r.endpoints.addresses.length) {
    out += '\n' + table([['ADDRESS', 'LISTED AS', 'PORTS', 'POD'], ...r.endpoints.addresses.map((a) => [
      a.ip, a.ready ? 'ready' : 'not-ready', a.ports.join(','), a.pod ?? (a.targetRef?.name ? `${a.targetRef.name} (not found)` : '<none>'),
    ])]);
  }
  if (r.pods.length) {
    out += '\n' + table([['POD', 'IP', 'ENDPOINT', 'REASON'], ...r.pods.map((p) => [
      p.namespace === s.namespace ? p.name : `${p.namespace}/${p.name}`, ipText(p, s.ipFamilies), p.endpoint, rowReason(p, r.mode),
    ])]);
  } else if (r.mode === 'selector') {
    out += `\nNo pods in namespace ${s.namespace}.\n`;
  }
  if (r.otherNamespaces.length) {
    const names = r.otherNamespaces.map((p) => `${p.namespace}/${p.name}`);
    out += `\nNote: ${names.length} pod${names.length === 1 ? '' : 's'} in other namespaces match${names.length === 1 ? 'es' : ''} the selector, but a Service selects only in its own namespace: ${names.slice(0, 10).join(', ')}${names.length > 10 ? ', ...' : ''}\n`;
  }
  if (r.mode === 'selector' || r.discrepancies.length) {
    // Identical findings on several pods are grouped into one line.
    const grouped = new Map<string, string[]>();
    for (const p of r.pods) for (const d of p.discrepancies) grouped.set(d, [...(grouped.get(d) ?? []), p.name]);
    const lines = [...r.discrepancies.map((d) => `  ! ${d}`), ...[...grouped].map(([d, names]) => `  ! ${names.join(', ')}: ${d}`)];
    out += lines.length
      ? `\nCross-check with the Endpoints object and EndpointSlices:\n${lines.join('\n')}\n`
      : '\nCross-check: the Endpoints object and EndpointSlices agree with these verdicts.\n';
  }
  return out;
}

export async function runWhy(values: Record<string, unknown>, positionals: string[]): Promise<void> {
  let svcName: string, podName: string | undefined;
  const output = values.output === undefined ? 'table' : String(values.output);
  try {
    if (positionals.length < 1 || positionals.length > 2) throw new UsageError('expected service/NAME and at most one pod/NAME');
    svcName = parseRef(positionals[0], 'service');
    podName = positionals[1] === undefined ? undefined : parseRef(positionals[1], 'pod');
    if (output !== 'table' && output !== 'json') throw new UsageError(`--output: unknown format ${JSON.stringify(output)} (table or json)`);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`kubelite why: ${e.message}\n\n${WHY_HELP}`);
    process.exitCode = 2;
    return;
  }
  const { client, namespace: contextNs } = await connect(values);
  const ns = values.namespace === undefined ? contextNs : String(values.namespace);
  let report: WhyReport;
  try {
    const svc = await client.get<Service>(`/api/v1/namespaces/${enc(ns)}/services/${enc(svcName)}`);
    report = await buildReport(client, svc, podName);
  } catch (e) {
    if (e instanceof ApiStatusError && isNotFound(e)) {
      process.stderr.write(`Error from server (NotFound): ${e.message}\n`);
      process.exitCode = 1;
      return;
    }
    throw e;
  }
  process.stdout.write(output === 'json' ? `${JSON.stringify(report, null, 2)}\n` : renderText(report));
}
