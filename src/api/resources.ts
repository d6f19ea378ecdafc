// The resource table: one declarative entry per served resource. Discovery, OpenAPI, routing,
// storage keys, defaulting, validation, the status/scale split and (later) table printing are
// all driven from here; the HTTP handlers stay generic.

export type Verb = 'create' | 'delete' | 'deletecollection' | 'get' | 'list' | 'patch' | 'update' | 'watch';

const ALL_VERBS: Verb[] = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

export interface ResourceType {
  /** API group, '' for core. */
  group: string;
  version: string;
  kind: string;
  listKind: string;
  /** Plural lower-case name used in URLs. */
  plural: string;
  singular: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  verbs: Verb[];
  /** Has a `status` subresource: main writes keep the old status, status writes keep the rest. */
  status: boolean;
  /** Has a `scale` subresource (autoscaling/v1 Scale over spec.replicas / status.replicas). */
  scale: boolean;
  /** metadata.generation starts at 1 and increments on every change outside metadata and status. */
  generation: boolean;
  /** etcd-style key segment: /registry/<storagePrefix>/<namespace>/<name>, as upstream. */
  storagePrefix: string;
  /** Field selectors beyond metadata.name / metadata.namespace, as upstream's field label conversion funcs. */
  fields: Record<string, FieldGetter>;
  /** DELETE answers with the object rather than a Success Status (upstream's ReturnDeletedObject). */
  returnDeletedObject: boolean;
  /** PUT of a missing object creates it (upstream's AllowCreateOnUpdate). */
  createOnUpdate: boolean;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type FieldGetter = (obj: any) => string | undefined;

const str = (v: unknown): string => (v === undefined || v === null ? '' : String(v));

export function apiVersionOf(r: Pick<ResourceType, 'group' | 'version'>): string {
  return r.group ? `${r.group}/${r.version}` : r.version;
}

/** Upstream's `<resource>[.<group>]` used in messages: `deployments.apps "web" not found`. */
export function qualifiedResource(r: Pick<ResourceType, 'group' | 'plural'>): string {
  return r.group ? `${r.plural}.${r.group}` : r.plural;
}

type Optional = 'listKind' | 'verbs' | 'storagePrefix' | 'fields' | 'returnDeletedObject' | 'createOnUpdate';

function resource(r: Omit<ResourceType, Optional> & Partial<Pick<ResourceType, Optional>>): ResourceType {
  return { listKind: `${r.kind}List`, verbs: ALL_VERBS, storagePrefix: r.plural, fields: {},
    returnDeletedObject: false, createOnUpdate: false, ...r };
}

export const RESOURCES: ResourceType[] = [
  resource({ group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', singular: 'namespace',
    namespaced: false, shortNames: ['ns'], categories: [], status: true, scale: false, generation: false,
    // Namespaces are removed through their finalizers, never by deletecollection.
    verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'], returnDeletedObject: true,
    fields: { 'status.phase': (o) => str(o.status?.phase) } }),
  resource({ group: '', version: 'v1', kind: 'Node', plural: 'nodes', singular: 'node',
    namespaced: false, shortNames: ['no'], categories: [], status: true, scale: false, generation: false,
    storagePrefix: 'minions', fields: { 'spec.unschedulable': (o) => String(!!o.spec?.unschedulable) } }),
  resource({ group: '', version: 'v1', kind: 'Pod', plural: 'pods', singular: 'pod',
    namespaced: true, shortNames: ['po'], categories: ['all'], status: true, scale: false, generation: false,
    returnDeletedObject: true,
    fields: {
      'spec.nodeName': (o) => str(o.spec?.nodeName),
      'spec.restartPolicy': (o) => str(o.spec?.restartPolicy),
      'spec.schedulerName': (o) => str(o.spec?.schedulerName),
      'spec.serviceAccountName': (o) => str(o.spec?.serviceAccountName),
      'spec.hostNetwork': (o) => String(!!o.spec?.hostNetwork),
      'status.phase': (o) => str(o.status?.phase),
      'status.podIP': (o) => str(o.status?.podIPs?.[0]?.ip ?? o.status?.podIP),
      'status.nominatedNodeName': (o) => str(o.status?.nominatedNodeName),
    } }),
  resource({ group: '', version: 'v1', kind: 'Service', plural: 'services', singular: 'service',
    namespaced: true, shortNames: ['svc'], categories: ['all'], status: true, scale: false, generation: false,
    storagePrefix: 'services/specs', returnDeletedObject: true,
    fields: { 'spec.clusterIP': (o) => str(o.spec?.clusterIP), 'spec.type': (o) => str(o.spec?.type) } }),
  resource({ group: '', version: 'v1', kind: 'Endpoints', plural: 'endpoints', singular: 'endpoints',
    namespaced: true, shortNames: ['ep'], categories: [], status: false, scale: false, generation: false,
    storagePrefix: 'services/endpoints', createOnUpdate: true }),
  resource({ group: '', version: 'v1', kind: 'Event', plural: 'events', singular: 'event',
    namespaced: true, shortNames: ['ev'], categories: [], status: false, scale: false, generation: false,
    createOnUpdate: true,
    fields: {
      'involvedObject.kind': (o) => str(o.involvedObject?.kind),
      'involvedObject.namespace': (o) => str(o.involvedObject?.namespace),
      'involvedObject.name': (o) => str(o.involvedObject?.name),
      'involvedObject.uid': (o) => str(o.involvedObject?.uid),
      'involvedObject.apiVersion': (o) => str(o.involvedObject?.apiVersion),
      'involvedObject.resourceVersion': (o) => str(o.involvedObject?.resourceVersion),
      'involvedObject.fieldPath': (o) => str(o.involvedObject?.fieldPath),
      reason: (o) => str(o.reason),
      reportingComponent: (o) => str(o.reportingComponent),
      source: (o) => str(o.source?.component),
      type: (o) => str(o.type),
    } }),
  resource({ group: 'apps', version: 'v1', kind: 'Deployment', plural: 'deployments', singular: 'deployment',
    namespaced: true, shortNames: ['deploy'], categories: ['all'], status: true, scale: true, generation: true }),
  resource({ group: 'apps', version: 'v1', kind: 'ReplicaSet', plural: 'replicasets', singular: 'replicaset',
    namespaced: true, shortNames: ['rs'], categories: ['all'], status: true, scale: true, generation: true,
    fields: { 'status.replicas': (o) => String(o.status?.replicas ?? 0) } }),
  resource({ group: 'discovery.k8s.io', version: 'v1', kind: 'EndpointSlice', plural: 'endpointslices',
    singular: 'endpointslice', namespaced: true, shortNames: [], categories: [], status: false, scale: false,
    generation: true }),
  resource({ group: 'coordination.k8s.io', version: 'v1', kind: 'Lease', plural: 'leases', singular: 'lease',
    namespaced: true, shortNames: [], categories: [], status: false, scale: false, generation: false }),
  resource({ group: 'node.k8s.io', version: 'v1', kind: 'RuntimeClass', plural: 'runtimeclasses', singular: 'runtimeclass',
    namespaced: false, shortNames: [], categories: [], status: false, scale: false, generation: false }),
];

/** The groups in discovery order (core first, then as upstream orders its groups). */
export function groups(): { group: string; versions: string[] }[] {
  const out: { group: string; versions: string[] }[] = [];
  for (const r of RESOURCES) {
    let g = out.find((x) => x.group === r.group);
    if (!g) out.push((g = { group: r.group, versions: [] }));
    if (!g.versions.includes(r.version)) g.versions.push(r.version);
  }
  return out;
}

const byPath = new Map<string, ResourceType>();
const byKind = new Map<string, ResourceType>();
for (const r of RESOURCES) {
  byPath.set(`${r.group}/${r.version}/${r.plural}`, r);
  byKind.set(`${apiVersionOf(r)}/${r.kind}`, r);
}

export function lookupResource(group: string, version: string, plural: string): ResourceType | undefined {
  return byPath.get(`${group}/${version}/${plural}`);
}

export function lookupKind(apiVersion: string, kind: string): ResourceType | undefined {
  return byKind.get(`${apiVersion}/${kind}`);
}

/** The store key of an object: /registry/<prefix>/[<namespace>/]<name>, as kube-apiserver lays out etcd. */
export function storageKey(r: ResourceType, namespace: string | undefined, name: string): string {
  return r.namespaced ? `/registry/${r.storagePrefix}/${namespace}/${name}` : `/registry/${r.storagePrefix}/${name}`;
}

/** The key prefix of a collection (all namespaces when namespace is undefined). Ends with '/'. */
export function storagePrefix(r: ResourceType, namespace?: string): string {
  return r.namespaced && namespace !== undefined
    ? `/registry/${r.storagePrefix}/${namespace}/`
    : `/registry/${r.storagePrefix}/`;
}
