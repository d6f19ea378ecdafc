// API discovery built from the resource table: aggregated discovery (apidiscovery.k8s.io/v2 and
// v2beta1, chosen by the Accept header, recognised by kubectl only through the response
// Content-Type) and the legacy APIVersions / APIGroupList / APIGroup / APIResourceList documents.
import { RESOURCES, groups, apiVersionOf, type ResourceType } from '../api/resources.js';

interface SubresourceInfo {
  name: string;
  kind: { group: string; version: string; kind: string };
  verbs: string[];
}

/** The subresources a resource serves (also used by the router). */
export function subresourcesOf(r: ResourceType): SubresourceInfo[] {
  const own = { group: r.group, version: r.version, kind: r.kind };
  const out: SubresourceInfo[] = [];
  if (r.kind === 'Namespace') out.push({ name: 'finalize', kind: own, verbs: ['update'] });
  if (r.kind === 'Pod') out.push({ name: 'binding', kind: { group: '', version: 'v1', kind: 'Binding' }, verbs: ['create'] });
  if (r.scale) out.push({ name: 'scale', kind: { group: 'autoscaling', version: 'v1', kind: 'Scale' }, verbs: ['get', 'patch', 'update'] });
  if (r.status) out.push({ name: 'status', kind: own, verbs: ['get', 'patch', 'update'] });
  return out;
}

const byGroupVersion = (g: string, v: string) => RESOURCES.filter((r) => r.group === g && r.version === v);

function aggregatedResource(r: ResourceType) {
  const subs = subresourcesOf(r);
  return {
    resource: r.plural,
    responseKind: { group: r.group, version: r.version, kind: r.kind },
    scope: r.namespaced ? 'Namespaced' : 'Cluster',
    singularResource: r.singular,
    verbs: [...r.verbs].sort(),
    ...(r.shortNames.length ? { shortNames: r.shortNames } : {}),
    ...(r.categories.length ? { categories: r.categories } : {}),
    ...(subs.length ? {
      subresources: subs.map((s) => ({ subresource: s.name, responseKind: s.kind, verbs: s.verbs })),
    } : {}),
  };
}

function aggregatedList(core: boolean, version: 'v2' | 'v2beta1') {
  const items = groups().filter((g) => (g.group === '') === core).map((g) => ({
    metadata: { name: g.group, creationTimestamp: null },
    versions: g.versions.map((v) => ({
      version: v,
      resources: byGroupVersion(g.group, v).map(aggregatedResource),
      freshness: 'Current',
    })),
  }));
  return { kind: 'APIGroupDiscoveryList', apiVersion: `apidiscovery.k8s.io/${version}`, metadata: {}, items };
}

export function aggregatedContentType(version: 'v2' | 'v2beta1'): string {
  return `application/json;g=apidiscovery.k8s.io;v=${version};as=APIGroupDiscoveryList`;
}

/** Which aggregated discovery version the Accept header asks for, if any (first listed wins). */
export function wantsAggregated(accept: string | undefined): 'v2' | 'v2beta1' | undefined {
  if (!accept) return undefined;
  for (const part of accept.split(',')) {
    const p = part.replace(/\s+/g, '');
    if (!p.includes('as=APIGroupDiscoveryList') || !p.includes('g=apidiscovery.k8s.io')) {
      if (p.startsWith('application/json') || p.startsWith('*/*')) return undefined;
      continue;
    }
    if (p.includes('v=v2beta1')) return 'v2beta1';
    if (p.includes('v=v2')) return 'v2';
  }
  return undefined;
}

export function coreAggregated(version: 'v2' | 'v2beta1') {
  return aggregatedList(true, version);
}

export function groupsAggregated(version: 'v2' | 'v2beta1') {
  return aggregatedList(false, version);
}

export function apiVersions(serverAddress: string) {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

function apiGroup(g: { group: string; versions: string[] }) {
  const versions = g.versions.map((v) => ({ groupVersion: `${g.group}/${v}`, version: v }));
  return { name: g.group, versions, preferredVersion: versions[0] };
}

export function apiGroupList() {
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: groups().filter((g) => g.group !== '').map(apiGroup) };
}

export function apiGroupDoc(group: string) {
  const g = groups().find((x) => x.group === group && group !== '');
  return g ? { kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(g) } : undefined;
}

export function apiResourceList(group: string, version: string) {
  const rs = byGroupVersion(group, version);
  if (rs.length === 0) return undefined;
  const resources: object[] = [];
  for (const r of rs) {
    resources.push({
      name: r.plural, singularName: r.singular, namespaced: r.namespaced, kind: r.kind, verbs: [...r.verbs].sort(),
      ...(r.shortNames.length ? { shortNames: r.shortNames } : {}),
      ...(r.categories.length ? { categories: r.categories } : {}),
    });
    for (const s of subresourcesOf(r)) {
      resources.push({
        name: `${r.plural}/${s.name}`, singularName: '', namespaced: r.namespaced, kind: s.kind.kind, verbs: s.verbs,
        ...(s.kind.group !== r.group || s.kind.version !== r.version ? { group: s.kind.group, version: s.kind.version } : {}),
      });
    }
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: apiVersionOf({ group, version }), resources };
}
