// Defaulting: what a v1.32 kube-apiserver fills in before an object is validated and stored, so
// that kubectl prints the same objects as against a real cluster. Four sources, in upstream's order:
//  1. the scheme defaulters (pkg/apis/core/v1, apps/v1, discovery/v1 defaults.go and the
//     generated +default tags), plus what v1 <-> internal conversion normalises;
//  2. the admission plugins a default cluster always runs and that change pods: ServiceAccount,
//     Priority and DefaultTolerationSeconds;
//  3. the Service storage's preparation of allocated fields (clusterIPs, IP families, node ports);
//  4. the zero values Go's JSON encoder always writes for non-pointer structs and non-omitempty
//     fields (`resources: {}`, `status: {loadBalancer: {}}`, `creationTimestamp: null` in pod
//     templates, ...), which a stored object shows although nobody set them.
// Registry strategies (status reset on create, generation) are the apiserver's; see strategies.ts.
import type { Deployment, ReplicaSet } from 'kubernetes-types/apps/v1.js';
import type {
  Container, ContainerStatus, Endpoints, Event, Namespace, Node, Pod, PodSpec, PodTemplateSpec, Probe, Service,
  ServiceSpec, Toleration, Volume,
} from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import type { KObject } from './types.js';
import { ipFamilyOf } from './validation/ip.js';
import { formatQuantity, parseQuantity, roundUp } from './validation/quantity.js';
import { SYSTEM_PRIORITY_CLASSES } from './validation/pod.js';
import {
  CLUSTER_IP_FAMILIES, externallyAccessible, isUnchangedPreferDualStack, validateClusterIPsRelatedFields,
} from './validation/service.js';

type Obj = Record<string, unknown>;

/** Set fields that Go writes as null when unset (non-pointer times, non-omitempty lists). */
function nullIfUnset(o: object, ...keys: string[]): void {
  const r = o as Obj;
  for (const k of keys) r[k] ??= null;
}

/** The object at o[key], created as `empty` when missing (kubernetes-types marks status read-only). */
function ensure<T>(o: object, key: string, empty: T): T {
  const r = o as Obj;
  r[key] ??= empty;
  return r[key] as T;
}

/**
 * Fill in upstream's defaults, in place. Call it for every write after the registry strategy's
 * preparation and before validation; on updates (main resource or status) pass the stored object
 * as `old`, which carries over what the server allocated or admission computed.
 */
export function applyDefaults(kind: string, obj: KObject, old?: KObject): void {
  const o = obj as unknown;
  const p = old as unknown;
  switch (kind) {
    case 'Pod': return defaultPod(o as Pod, p as Pod | undefined);
    case 'Service': return defaultService(o as Service, p as Service | undefined);
    case 'Endpoints': return defaultEndpoints(o as Endpoints);
    case 'Deployment': return defaultDeployment(o as Deployment);
    case 'ReplicaSet': return defaultReplicaSet(o as ReplicaSet);
    case 'EndpointSlice': return defaultEndpointSlice(o as EndpointSlice);
    case 'Namespace': return defaultNamespace(o as Namespace);
    case 'Node': return defaultNode(o as Node);
    case 'Event': return defaultEvent(o as Event);
    case 'Lease': {
      obj.spec ??= {};
      return;
    }
  }
}

// ---- quantities ----

/** SetDefaults_ResourceList: quantities are stored canonical and rounded up to milli-units. */
function defaultResourceList(list: Record<string, string | number> | undefined): void {
  if (!list) return;
  for (const [name, value] of Object.entries(list)) {
    const q = parseQuantity(value);
    // A malformed quantity is left for validation to report.
    if (!('error' in q)) list[name] = formatQuantity(roundUp(q, -3));
  }
}

// ---- images ----

const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?`;
const REFERENCE = new RegExp(
  `^((?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*)(?::([\\w][\\w.-]{0,127}))?` +
    '(?:@([A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?$',
);

/**
 * The tag kubelet's image-name parser (docker reference normalisation) finds: "latest" when
 * there is neither tag nor digest, '' when the name does not parse or only has a digest.
 */
export function imageTag(image: string): string {
  if (/^[a-f0-9]{64}$/.test(image)) return '';
  const slash = image.indexOf('/');
  const first = slash < 0 ? '' : image.slice(0, slash);
  const hasDomain = slash >= 0 && (/[.:]/.test(first) || first === 'localhost' || first.toLowerCase() !== first);
  let remainder = hasDomain ? image.slice(slash + 1) : image;
  if (!hasDomain && !remainder.includes('/')) remainder = 'library/' + remainder;
  const colon = remainder.indexOf(':');
  const repo = colon < 0 ? remainder : remainder.slice(0, colon);
  if (repo.toLowerCase() !== repo) return '';
  const full = (hasDomain ? first : 'docker.io') + '/' + remainder;
  const m = REFERENCE.exec(full);
  if (!m || m[1]!.length > 255) return '';
  const [, , tag, digest] = m;
  if (tag) return tag;
  return digest ? '' : 'latest';
}

// ---- pod specs ----

function defaultProbe(p: Probe | undefined): void {
  if (!p) return;
  if (!p.timeoutSeconds) p.timeoutSeconds = 1;
  if (!p.periodSeconds) p.periodSeconds = 10;
  if (!p.successThreshold) p.successThreshold = 1;
  if (!p.failureThreshold) p.failureThreshold = 3;
  defaultHTTPGet(p.httpGet);
  if (p.grpc) p.grpc.service ??= '';
}

function defaultHTTPGet(h: { path?: string; scheme?: string } | undefined): void {
  if (!h) return;
  if (!h.path) h.path = '/';
  if (!h.scheme) h.scheme = 'HTTP';
}

function defaultFieldRef(ref: { apiVersion?: string } | undefined): void {
  if (ref && !ref.apiVersion) ref.apiVersion = 'v1';
}

function defaultContainer(c: Container): void {
  if (!c.imagePullPolicy) c.imagePullPolicy = imageTag(c.image ?? '') === 'latest' ? 'Always' : 'IfNotPresent';
  if (!c.terminationMessagePath) c.terminationMessagePath = '/dev/termination-log';
  if (!c.terminationMessagePolicy) c.terminationMessagePolicy = 'File';
  for (const port of c.ports ?? []) if (!port.protocol) port.protocol = 'TCP';
  for (const env of c.env ?? []) defaultFieldRef(env.valueFrom?.fieldRef);
  c.resources ??= {};
  defaultResourceList(c.resources.limits);
  defaultResourceList(c.resources.requests);
  defaultProbe(c.livenessProbe);
  defaultProbe(c.readinessProbe);
  defaultProbe(c.startupProbe);
  defaultHTTPGet(c.lifecycle?.postStart?.httpGet);
  defaultHTTPGet(c.lifecycle?.preStop?.httpGet);
}

const VOLUME_SOURCE_KEYS = [
  'hostPath', 'emptyDir', 'gcePersistentDisk', 'awsElasticBlockStore', 'gitRepo', 'secret', 'nfs', 'iscsi', 'glusterfs',
  'persistentVolumeClaim', 'rbd', 'flexVolume', 'cinder', 'cephfs', 'flocker', 'downwardAPI', 'fc', 'azureFile', 'configMap',
  'vsphereVolume', 'quobyte', 'azureDisk', 'photonPersistentDisk', 'projected', 'portworxVolume', 'scaleIO', 'storageos',
  'csi', 'ephemeral', 'image',
];
const DEFAULT_FILE_MODE = 0o644;

function defaultVolume(v: Volume): void {
  const vol = v as Volume & Obj;
  // A volume that names no source is an emptyDir.
  if (!VOLUME_SOURCE_KEYS.some((k) => vol[k] !== undefined && vol[k] !== null)) v.emptyDir = {};
  if (v.emptyDir?.sizeLimit !== undefined) {
    const q = parseQuantity(v.emptyDir.sizeLimit);
    if (!('error' in q)) v.emptyDir.sizeLimit = formatQuantity(q);
  }
  if (v.hostPath) v.hostPath.type ??= '';
  if (v.secret) v.secret.defaultMode ??= DEFAULT_FILE_MODE;
  if (v.configMap) v.configMap.defaultMode ??= DEFAULT_FILE_MODE;
  if (v.downwardAPI) {
    v.downwardAPI.defaultMode ??= DEFAULT_FILE_MODE;
    for (const item of v.downwardAPI.items ?? []) defaultFieldRef(item.fieldRef);
  }
  if (v.projected) {
    v.projected.defaultMode ??= DEFAULT_FILE_MODE;
    for (const s of v.projected.sources ?? []) {
      for (const item of s.downwardAPI?.items ?? []) defaultFieldRef(item.fieldRef);
      if (s.serviceAccountToken) s.serviceAccountToken.expirationSeconds ??= 3600;
    }
  }
  if (v.iscsi && !v.iscsi.iscsiInterface) v.iscsi.iscsiInterface = 'default';
  if (v.rbd) {
    if (!v.rbd.pool) v.rbd.pool = 'rbd';
    if (!v.rbd.user) v.rbd.user = 'admin';
    if (!v.rbd.keyring) v.rbd.keyring = '/etc/ceph/keyring';
  }
  if (v.azureDisk) {
    v.azureDisk.cachingMode ??= 'ReadWrite';
    v.azureDisk.fsType ??= 'ext4';
    v.azureDisk.readOnly ??= false;
    v.azureDisk.kind ??= 'Shared';
  }
  if (v.scaleIO) {
    if (!v.scaleIO.storageMode) v.scaleIO.storageMode = 'ThinProvisioned';
    if (!v.scaleIO.fsType) v.scaleIO.fsType = 'xfs';
  }
}

/** SetDefaults_PodSpec and the defaults of everything inside a pod spec, for pods and templates alike. */
function defaultPodSpec(spec: PodSpec): void {
  if (!spec.dnsPolicy) spec.dnsPolicy = 'ClusterFirst';
  if (!spec.restartPolicy) spec.restartPolicy = 'Always';
  spec.securityContext ??= {};
  spec.terminationGracePeriodSeconds ??= 30;
  if (!spec.schedulerName) spec.schedulerName = 'default-scheduler';
  // Conversion keeps the deprecated serviceAccount field a copy of serviceAccountName.
  if (!spec.serviceAccountName && spec.serviceAccount) spec.serviceAccountName = spec.serviceAccount;
  if (spec.serviceAccountName) spec.serviceAccount = spec.serviceAccountName;
  else delete spec.serviceAccount;
  for (const v of spec.volumes ?? []) defaultVolume(v);
  for (const c of spec.initContainers ?? []) defaultContainer(c);
  for (const c of spec.containers ?? []) defaultContainer(c);
  for (const c of spec.ephemeralContainers ?? []) defaultContainer(c as Container);
  defaultResourceList(spec.overhead);
}

function defaultPodTemplate(t: PodTemplateSpec | undefined): void {
  if (!t) return;
  // ObjectMeta.creationTimestamp is a non-pointer time: Go writes null when it is unset.
  t.metadata ??= {};
  if (t.metadata.creationTimestamp === undefined) (t.metadata as Obj).creationTimestamp = null;
  if (t.spec) defaultPodSpec(t.spec);
}

// ---- pods ----

/**
 * DefaultTolerationSeconds admission: pods leave unready or unreachable nodes after this many
 * seconds (kube-apiserver's --default-not-ready-toleration-seconds and
 * --default-unreachable-toleration-seconds, both 300 by default; `kubelite up` sets them).
 */
export const defaultTolerations = { notReadySeconds: 300, unreachableSeconds: 300 };

function defaultTolerationSeconds(spec: PodSpec): void {
  const tolerations = spec.tolerations ?? [];
  const tolerates = (key: string) => tolerations.some((t) => (t.key === key || !t.key) && (t.effect === 'NoExecute' || !t.effect));
  const add: Toleration[] = [];
  if (!tolerates('node.kubernetes.io/not-ready')) {
    add.push({ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: defaultTolerations.notReadySeconds });
  }
  if (!tolerates('node.kubernetes.io/unreachable')) {
    add.push({ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: defaultTolerations.unreachableSeconds });
  }
  if (add.length) spec.tolerations = [...tolerations, ...add];
}

/** Priority admission: no priority class means priority 0 and the default preemption policy. */
function defaultPriority(spec: PodSpec, old: PodSpec | undefined): void {
  if (old) {
    // On update the values admission computed at creation are kept.
    if (spec.priority === undefined && old.priority !== undefined) spec.priority = old.priority;
    if (spec.preemptionPolicy === undefined && old.preemptionPolicy !== undefined) spec.preemptionPolicy = old.preemptionPolicy;
    return;
  }
  spec.priority ??= SYSTEM_PRIORITY_CLASSES[spec.priorityClassName ?? ''] ?? 0;
  spec.preemptionPolicy ??= 'PreemptLowerPriority';
}

/** SetDefaults_Pod: container requests default to their limits. */
function defaultRequestsFromLimits(c: Container): void {
  const limits = c.resources?.limits;
  if (!limits) return;
  c.resources!.requests ??= {};
  for (const [name, value] of Object.entries(limits)) c.resources!.requests[name] ??= value;
}

function defaultContainerStatus(s: ContainerStatus): void {
  const st = s as ContainerStatus & Obj;
  st.state ??= {};
  st.lastState ??= {};
  st.ready ??= false;
  st.restartCount ??= 0;
  st.image ??= '';
  st.imageID ??= '';
  for (const state of [s.state, s.lastState]) {
    if (state?.running) nullIfUnset(state.running, 'startedAt');
    if (state?.terminated) {
      state.terminated.exitCode ??= 0;
      nullIfUnset(state.terminated, 'startedAt', 'finishedAt');
    }
  }
}

/** Conversion keeps podIP/podIPs and hostIP/hostIPs consistent, the single field winning a conflict. */
function syncIPs(status: Obj, single: 'podIP' | 'hostIP', plural: 'podIPs' | 'hostIPs'): void {
  const one = status[single] as string | undefined;
  const many = status[plural] as { ip?: string }[] | undefined;
  if (one && (!many?.length || many[0]!.ip !== one)) status[plural] = [{ ip: one }];
  const list = status[plural] as { ip?: string }[] | undefined;
  if (list?.length) status[single] = list[0]!.ip;
}

function defaultPod(pod: Pod, old: Pod | undefined): void {
  const spec = (pod.spec ??= {} as PodSpec);
  for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) defaultRequestsFromLimits(c);
  spec.enableServiceLinks ??= true;
  if (spec.hostNetwork) {
    for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
      for (const port of c.ports ?? []) if (!port.hostPort) port.hostPort = port.containerPort;
    }
  }
  defaultPodSpec(spec);
  // The ServiceAccount admission plugin; kubelite mounts no token volume.
  if (!spec.serviceAccountName) {
    spec.serviceAccountName = 'default';
    spec.serviceAccount = 'default';
  }
  defaultPriority(spec, old?.spec);
  defaultTolerationSeconds(spec);
  const status = ensure<Obj>(pod, 'status', {});
  // The QoS class is set once at creation; status writers may omit it.
  if (!status.qosClass && old?.status?.qosClass) status.qosClass = old.status.qosClass;
  syncIPs(status, 'podIP', 'podIPs');
  syncIPs(status, 'hostIP', 'hostIPs');
  for (const c of pod.status?.conditions ?? []) nullIfUnset(c, 'lastProbeTime', 'lastTransitionTime');
  for (const list of [pod.status?.containerStatuses, pod.status?.initContainerStatuses, pod.status?.ephemeralContainerStatuses]) {
    for (const s of list ?? []) defaultContainerStatus(s);
  }
}

// ---- workloads ----

function defaultDeployment(d: Deployment): void {
  const spec = (d.spec ??= {} as NonNullable<Deployment['spec']>);
  spec.replicas ??= 1;
  const strategy = (spec.strategy ??= {});
  if (!strategy.type) strategy.type = 'RollingUpdate';
  if (strategy.type === 'RollingUpdate') {
    const ru = (strategy.rollingUpdate ??= {});
    ru.maxUnavailable ??= '25%';
    ru.maxSurge ??= '25%';
  }
  spec.revisionHistoryLimit ??= 10;
  spec.progressDeadlineSeconds ??= 600;
  defaultPodTemplate(spec.template);
  const status = ensure<NonNullable<Deployment['status']>>(d, 'status', {});
  for (const c of status.conditions ?? []) nullIfUnset(c, 'lastUpdateTime', 'lastTransitionTime');
}

function defaultReplicaSet(rs: ReplicaSet): void {
  const spec = (rs.spec ??= {} as NonNullable<ReplicaSet['spec']>);
  spec.replicas ??= 1;
  defaultPodTemplate(spec.template);
  // ReplicaSetStatus.replicas has no omitempty.
  const status = ensure<NonNullable<ReplicaSet['status']>>(rs, 'status', { replicas: 0 });
  status.replicas ??= 0;
  for (const c of status.conditions ?? []) nullIfUnset(c, 'lastTransitionTime');
}

// ---- services ----

type Spec = ServiceSpec & { trafficDistribution?: string };

/** SetDefaults_Service. */
function serviceSchemeDefaults(svc: Service): void {
  const spec: Spec = (svc.spec ??= {});
  if (!spec.sessionAffinity) spec.sessionAffinity = 'None';
  if (spec.sessionAffinity === 'None') delete spec.sessionAffinityConfig;
  if (spec.sessionAffinity === 'ClientIP' && spec.sessionAffinityConfig?.clientIP?.timeoutSeconds === undefined) {
    spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 10800 } };
  }
  if (!spec.type) spec.type = 'ClusterIP';
  for (const port of spec.ports ?? []) {
    if (!port.protocol) port.protocol = 'TCP';
    if (port.targetPort === undefined || port.targetPort === null || port.targetPort === 0 || port.targetPort === '') port.targetPort = port.port;
  }
  if (externallyAccessible(spec) && !spec.externalTrafficPolicy) spec.externalTrafficPolicy = 'Cluster';
  if (spec.internalTrafficPolicy === undefined && (spec.type === 'NodePort' || spec.type === 'LoadBalancer' || spec.type === 'ClusterIP')) {
    spec.internalTrafficPolicy = 'Cluster';
  }
  if (spec.type === 'LoadBalancer') {
    spec.allocateLoadBalancerNodePorts ??= true;
    for (const ing of svc.status?.loadBalancer?.ingress ?? []) if (ing.ip && ing.ipMode === undefined) ing.ipMode = 'VIP';
  }
}

const needsClusterIP = (s: Spec) => s.type !== 'ExternalName';
const needsNodePort = (s: Spec) => s.type === 'NodePort' || s.type === 'LoadBalancer';
const needsHCNodePort = (s: Spec) => s.type === 'LoadBalancer' && s.externalTrafficPolicy === 'Local';
const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/** patchAllocatedValues: a resubmitted manifest keeps the IPs and ports the server allocated. */
function patchAllocatedValues(spec: Spec, old: Spec): void {
  if (needsClusterIP(old) && needsClusterIP(spec)) {
    if (!spec.clusterIP) spec.clusterIP = old.clusterIP;
    if (!spec.clusterIPs?.length && old.clusterIPs?.length) spec.clusterIPs = old.clusterIPs;
    if (!spec.clusterIP) delete spec.clusterIP;
  }
  if (needsNodePort(old) && needsNodePort(spec)) {
    const used = (s: Spec) => new Set((s.ports ?? []).map((p) => p.nodePort).filter(Boolean));
    const newUsed = used(spec);
    const taken = new Set([...used(old)].filter((n) => newUsed.has(n)));
    const byName = new Map((old.ports ?? []).map((p) => [p.name ?? '', p.nodePort]));
    for (const port of spec.ports ?? []) {
      if (port.nodePort) continue;
      const prev = byName.get(port.name ?? '');
      if (prev && !taken.has(prev)) port.nodePort = prev;
    }
  }
  if (needsHCNodePort(old) && needsHCNodePort(spec) && !spec.healthCheckNodePort) spec.healthCheckNodePort = old.healthCheckNodePort;
}

/** normalizeClusterIPs: clients may set only clusterIP (older ones) or both fields. */
function normalizeClusterIPs(spec: Spec, old: Spec | undefined): void {
  if (!old) {
    if (spec.clusterIP && !spec.clusterIPs?.length) spec.clusterIPs = [spec.clusterIP];
    return;
  }
  if (old.clusterIPs?.length && !spec.clusterIPs?.length && (old.clusterIP ?? '') === (spec.clusterIP ?? '')) spec.clusterIPs = old.clusterIPs;
  if ((old.clusterIP ?? '') !== (spec.clusterIP ?? '')) {
    const sameIPs = same(old.clusterIPs, spec.clusterIPs);
    if (old.clusterIP && !spec.clusterIP && sameIPs) delete spec.clusterIPs;
    if (spec.clusterIP && sameIPs) spec.clusterIPs = [spec.clusterIP];
  }
}

/**
 * initIPFamilyFields for kubelite's single-stack IPv4 cluster. Inputs that upstream rejects here are
 * left as they are: validation reports them with upstream's messages.
 */
function initIPFamilyFields(spec: Spec, old: Spec | undefined): void {
  if (spec.type === 'ExternalName' || isUnchangedPreferDualStack(spec, old)) return;
  const headlessSelectorless = spec.clusterIP === 'None' && Object.keys(spec.selector ?? {}).length === 0;
  if (spec.ipFamilyPolicy === undefined) {
    if (old?.ipFamilyPolicy !== undefined) spec.ipFamilyPolicy = old.ipFamilyPolicy;
    else spec.ipFamilyPolicy = headlessSelectorless ? 'RequireDualStack' : 'SingleStack';
  }
  if (validateClusterIPsRelatedFields(spec).length) return;
  if (old && spec.ipFamilyPolicy === 'SingleStack') {
    // Setting the policy back to single-stack releases a secondary IP and family.
    if (same(old.clusterIPs, spec.clusterIPs) && (spec.clusterIPs?.length ?? 0) > 1) spec.clusterIPs = spec.clusterIPs!.slice(0, 1);
    if (same(old.ipFamilies, spec.ipFamilies) && (spec.ipFamilies?.length ?? 0) > 1) spec.ipFamilies = spec.ipFamilies!.slice(0, 1);
  }
  if (spec.ipFamilyPolicy === 'SingleStack' && ((spec.clusterIPs?.length ?? 0) === 2 || (spec.ipFamilies?.length ?? 0) === 2)) return;
  const families = [...(spec.ipFamilies ?? [])];
  const clusterIPs = spec.clusterIPs ?? [];
  for (let i = 0; i < clusterIPs.length && clusterIPs[i] !== 'None'; i++) {
    if (i < families.length) continue;
    const fam = ipFamilyOf(clusterIPs[i]!);
    if (!fam || !CLUSTER_IP_FAMILIES.includes(fam)) return;
    families.push(fam);
  }
  const primary = CLUSTER_IP_FAMILIES[0]!;
  if (headlessSelectorless) {
    if (families.length === 0) families.push(primary);
    if (families.length < 2 && spec.ipFamilyPolicy !== 'SingleStack') families.push(families[0] === 'IPv4' ? 'IPv6' : 'IPv4');
    spec.ipFamilies = families;
    return;
  }
  if (spec.ipFamilyPolicy === 'RequireDualStack' && CLUSTER_IP_FAMILIES.length < 2) return;
  if (families.some((f) => !CLUSTER_IP_FAMILIES.includes(f))) return;
  if (families.length === 0) families.push(primary);
  spec.ipFamilies = families;
}

/** dropTypeDependentFields: a type change clears what only the old type used, unless also changed. */
function dropTypeDependentFields(svc: Service, old: Service): void {
  const spec: Spec = svc.spec!;
  const o: Spec = old.spec ?? {};
  if (needsClusterIP(o) && !needsClusterIP(spec)) {
    if (same(o.clusterIP, spec.clusterIP) && same(o.clusterIPs, spec.clusterIPs)) {
      delete spec.clusterIP;
      delete spec.clusterIPs;
    }
    if (same(o.ipFamilies, spec.ipFamilies)) delete spec.ipFamilies;
    if (same(o.ipFamilyPolicy, spec.ipFamilyPolicy)) delete spec.ipFamilyPolicy;
  }
  const nodePorts = (s: Spec) => (s.ports ?? []).map((p) => p.nodePort ?? 0);
  if (needsNodePort(o) && !needsNodePort(spec) && same(nodePorts(o), nodePorts(spec))) {
    for (const p of spec.ports ?? []) delete p.nodePort;
  }
  if (needsHCNodePort(o) && !needsHCNodePort(spec) && o.healthCheckNodePort === spec.healthCheckNodePort) delete spec.healthCheckNodePort;
  if (o.type === 'LoadBalancer' && spec.type !== 'LoadBalancer' && o.allocateLoadBalancerNodePorts !== undefined && o.allocateLoadBalancerNodePorts === spec.allocateLoadBalancerNodePorts) {
    delete spec.allocateLoadBalancerNodePorts;
  }
  if (o.type === 'LoadBalancer' && spec.type !== 'LoadBalancer' && same(o.loadBalancerClass, spec.loadBalancerClass)) delete spec.loadBalancerClass;
  if (externallyAccessible(o) && !externallyAccessible(spec) && o.externalTrafficPolicy === spec.externalTrafficPolicy) delete spec.externalTrafficPolicy;
  if (spec.type !== 'LoadBalancer' && svc.status) ensure<Obj>(svc, 'status', {}).loadBalancer = {};
}

function defaultService(svc: Service, old: Service | undefined): void {
  serviceSchemeDefaults(svc);
  const spec: Spec = svc.spec!;
  if (old?.spec) patchAllocatedValues(spec, old.spec);
  normalizeClusterIPs(spec, old?.spec);
  initIPFamilyFields(spec, old?.spec);
  if (old) dropTypeDependentFields(svc, old);
  ensure<Obj>(ensure<Obj>(svc, 'status', {}), 'loadBalancer', {});
}

function defaultEndpoints(ep: Endpoints): void {
  for (const ss of ep.subsets ?? []) for (const p of ss.ports ?? []) if (!p.protocol) p.protocol = 'TCP';
}

function defaultEndpointSlice(slice: EndpointSlice): void {
  // Both lists have no omitempty: an empty slice shows them as null.
  nullIfUnset(slice, 'endpoints', 'ports');
  for (const ep of slice.endpoints ?? []) ep.conditions ??= {};
  for (const p of slice.ports ?? []) {
    p.name ??= '';
    p.protocol ??= 'TCP';
  }
}

// ---- cluster objects ----

function defaultNamespace(ns: Namespace): void {
  // Every namespace is labelled with its own name, so selectors can pick namespaces by name.
  const name = ns.metadata?.name;
  if (name) {
    const meta = (ns.metadata ??= {});
    meta.labels = { ...(meta.labels ?? {}), 'kubernetes.io/metadata.name': name };
  }
  ns.spec ??= {};
  const status = ensure<NonNullable<Namespace['status']>>(ns, 'status', {});
  if (!status.phase) status.phase = 'Active';
}

const NODE_INFO_FIELDS = [
  'architecture', 'bootID', 'containerRuntimeVersion', 'kernelVersion', 'kubeProxyVersion', 'kubeletVersion',
  'machineID', 'operatingSystem', 'osImage', 'systemUUID',
];

function defaultNode(node: Node): void {
  const spec = (node.spec ??= {});
  // Conversion keeps podCIDR and podCIDRs consistent; podCIDR wins a conflict.
  if (spec.podCIDR && (!spec.podCIDRs?.length || spec.podCIDRs[0] !== spec.podCIDR)) spec.podCIDRs = [spec.podCIDR];
  if (spec.podCIDRs?.length) spec.podCIDR = spec.podCIDRs[0];
  const status = ensure<NonNullable<Node['status']>>(node, 'status', {});
  defaultResourceList(status.capacity);
  defaultResourceList(status.allocatable);
  if (status.allocatable === undefined && status.capacity !== undefined) status.allocatable = { ...status.capacity };
  const endpoints = (status.daemonEndpoints ??= {});
  const kubelet = (endpoints.kubeletEndpoint ??= { Port: 0 });
  kubelet.Port ??= 0;
  const info = (status.nodeInfo ??= {} as NonNullable<typeof status.nodeInfo>) as unknown as Obj;
  for (const f of NODE_INFO_FIELDS) info[f] ??= '';
  for (const c of status.conditions ?? []) nullIfUnset(c, 'lastHeartbeatTime', 'lastTransitionTime');
}

function defaultEvent(ev: Event): void {
  ev.involvedObject ??= {};
  ev.source ??= {};
  // Non-pointer times are written as null when unset; the reporting fields have no omitempty.
  nullIfUnset(ev, 'firstTimestamp', 'lastTimestamp', 'eventTime');
  ev.reportingComponent ??= '';
  ev.reportingInstance ??= '';
}
