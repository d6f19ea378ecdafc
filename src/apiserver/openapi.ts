// OpenAPI as kube-apiserver serves it (k8s.io/kube-openapi handler3): the /openapi/v3 index, one
// document per group-version with paths for every resource and the schemas its kinds need, and
// /openapi/v2 as an empty protobuf document.
//
// kubectl depends on it in three places: `apply`/`create -f`/`edit` validation (it looks for a PATCH
// operation with the object's x-kubernetes-group-version-kind and a `fieldValidation` parameter;
// finding one, it leaves unknown-field checks to the server), `explain` (schemas by GVK), and the
// strategic merge patch of client-side apply (x-kubernetes-patch-* on the schemas).
//
// Documents are built on the first request and cached; their SHA-512 is the ETag and the `hash` of
// the index's URLs, so a client revalidates with If-None-Match or caches the hashed URL for good.
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { RESOURCES, groups, type ResourceType } from '../api/resources.js';
import { definitions, type SchemaNode } from '../api/schema.js';
import { subresourcesOf } from './discovery.js';

export interface OpenAPIResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer | string;
}

const META = 'io.k8s.apimachinery.pkg.apis.meta.v1';
const SCHEMA_REF = '#/components/schemas/';
const ref = (name: string) => ({ $ref: `${SCHEMA_REF}${name}` });

// ---------------------------------------------------------------------------------------------
// Definition names of kinds, found through their x-kubernetes-group-version-kind.

let definitionByKind: Map<string, string> | undefined;
function definitionOf(group: string, version: string, kind: string): string {
  if (!definitionByKind) {
    definitionByKind = new Map();
    for (const [name, node] of Object.entries(definitions())) {
      for (const gvk of node['x-kubernetes-group-version-kind'] ?? []) definitionByKind.set(`${gvk.group}/${gvk.version}/${gvk.kind}`, name);
    }
  }
  const name = definitionByKind.get(`${group}/${version}/${kind}`);
  if (!name) throw new Error(`openapi: no schema for ${group}/${version} ${kind}`);
  return name;
}

// ---------------------------------------------------------------------------------------------
// Parameters, in upstream's shape ({name, in, description, schema: {type, uniqueItems: true}}).

type ParamType = 'string' | 'integer' | 'boolean';
function param(name: string, type: ParamType, description: string, where: 'query' | 'path' = 'query') {
  return { description, in: where, name, ...(where === 'path' ? { required: true } : {}), schema: { type, uniqueItems: true } };
}

const Q = {
  allowWatchBookmarks: param('allowWatchBookmarks', 'boolean', 'Requests watch events of type BOOKMARK; the server sends them at its discretion.'),
  continue: param('continue', 'string', 'The continue token of a previous, paged list call with otherwise identical parameters.'),
  dryRun: param('dryRun', 'string', 'When present, the request is processed without persisting anything. Valid values are: - All: all dry run stages will be processed'),
  fieldManager: param('fieldManager', 'string', 'A name for the actor making these changes (at most 128 printable characters). Required for apply requests.'),
  fieldSelector: param('fieldSelector', 'string', 'A selector to restrict the list of returned objects by their fields. Defaults to everything.'),
  fieldValidation: param('fieldValidation', 'string', 'How the server handles unknown or duplicate fields in the request body: Ignore drops them silently, Warn drops them with a warning header each, Strict fails the request with a BadRequest error listing them all.'),
  force: param('force', 'boolean', 'Force an Apply request: take ownership of fields that conflict with other managers. Must be unset for non-apply patch requests.'),
  gracePeriodSeconds: param('gracePeriodSeconds', 'integer', 'The duration in seconds before the object should be deleted; zero deletes immediately. Defaults to the per-object value.'),
  ignoreStoreReadErrorWithClusterBreakingPotential: param('ignoreStoreReadErrorWithClusterBreakingPotential', 'boolean', 'Delete an object even if it cannot be read from storage, skipping finalizers and preconditions. Unsafe.'),
  labelSelector: param('labelSelector', 'string', 'A selector to restrict the list of returned objects by their labels. Defaults to everything.'),
  limit: param('limit', 'integer', 'The maximum number of objects to return; the list metadata then carries a continue token for the rest.'),
  orphanDependents: param('orphanDependents', 'boolean', 'Deprecated: use propagationPolicy. Whether the dependent objects should be orphaned.'),
  pretty: param('pretty', 'string', "If 'true', then the output is pretty printed."),
  propagationPolicy: param('propagationPolicy', 'string', "Whether and how garbage collection will be performed: 'Orphan', 'Background' or 'Foreground'."),
  resourceVersion: param('resourceVersion', 'string', 'A constraint on which resource versions a request may be served from. Defaults to unset.'),
  resourceVersionMatch: param('resourceVersionMatch', 'string', 'How resourceVersion is applied to list calls. Defaults to unset.'),
  sendInitialEvents: param('sendInitialEvents', 'boolean', 'With watch=true, start the stream with synthetic events for the current objects, followed by a bookmark.'),
  timeoutSeconds: param('timeoutSeconds', 'integer', 'Timeout for the list/watch call, regardless of any activity or inactivity.'),
  watch: param('watch', 'boolean', 'Watch for changes to the described resources and return them as a stream of add, update, and remove notifications.'),
};
const LIST = [Q.allowWatchBookmarks, Q.continue, Q.fieldSelector, Q.labelSelector, Q.limit, Q.resourceVersion, Q.resourceVersionMatch, Q.sendInitialEvents, Q.timeoutSeconds, Q.watch];
const WRITE = [Q.dryRun, Q.fieldManager, Q.fieldValidation];
const PATCH = [...WRITE, Q.force];
const DELETE = [Q.dryRun, Q.gracePeriodSeconds, Q.ignoreStoreReadErrorWithClusterBreakingPotential, Q.orphanDependents, Q.propagationPolicy];
const DELETE_COLLECTION = [Q.continue, Q.dryRun, Q.fieldSelector, Q.gracePeriodSeconds, Q.ignoreStoreReadErrorWithClusterBreakingPotential,
  Q.labelSelector, Q.limit, Q.orphanDependents, Q.propagationPolicy, Q.resourceVersion, Q.resourceVersionMatch, Q.sendInitialEvents, Q.timeoutSeconds];
const NAMESPACE_PARAM = param('namespace', 'string', 'object name and auth scope, such as for teams and projects', 'path');
const nameParam = (kind: string) => param('name', 'string', `name of the ${kind}`, 'path');

// ---------------------------------------------------------------------------------------------
// Operations.

const OBJECT_TYPES = ['application/json', 'application/vnd.kubernetes.protobuf', 'application/yaml'];
const LIST_TYPES = ['application/json', 'application/json;stream=watch', 'application/vnd.kubernetes.protobuf',
  'application/vnd.kubernetes.protobuf;stream=watch', 'application/yaml'];
const PATCH_TYPES = ['application/apply-patch+yaml', 'application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json'];
const STATUS_TEXT: Record<string, string> = { 200: 'OK', 201: 'Created', 202: 'Accepted' };

function content(types: string[], schema: string) {
  return Object.fromEntries(types.map((t) => [t, { schema: ref(schema) }]));
}

function responses(codes: number[], schema: string, types = OBJECT_TYPES) {
  const out: Record<string, object> = {};
  for (const code of codes) out[code] = { content: content(types, schema), description: STATUS_TEXT[code] };
  out[401] = { description: 'Unauthorized' };
  return out;
}

/** A group's words for operation ids and tags: rbac.authorization.k8s.io → [rbac, authorization], '' → [core]. */
function groupWords(group: string): string[] {
  return group === '' ? ['core'] : group.replace(/\.k8s\.io$/, '').split('.');
}
const capitalize = (s: string) => s[0].toUpperCase() + s.slice(1);

interface OperationContext {
  tag: string;
  /** e.g. CoreV1 */
  idPrefix: string;
  gvk: { group: string; kind: string; version: string };
}

/** `id` is [verb, subject]: the operationId is e.g. read + CoreV1 + NamespacedPodStatus. */
function operation(ctx: OperationContext, action: string, id: [string, string], description: string, extra: object) {
  return { description, operationId: `${id[0]}${ctx.idPrefix}${id[1]}`, ...extra, tags: [ctx.tag],
    'x-kubernetes-action': action, 'x-kubernetes-group-version-kind': ctx.gvk };
}

type PathItem = Record<string, unknown>;

/** The paths of one resource, as upstream lays them out (without the deprecated /watch/ paths). */
function resourcePaths(r: ResourceType, prefix: string, ctx: Omit<OperationContext, 'gvk'>): Record<string, PathItem> {
  const kindDef = definitionOf(r.group, r.version, r.kind);
  const listDef = definitionOf(r.group, r.version, r.listKind);
  const deleted = r.returnDeletedObject ? kindDef : `${META}.Status`;
  const scope = r.namespaced ? 'Namespaced' : '';
  const own: OperationContext = { ...ctx, gvk: { group: r.group, kind: r.kind, version: r.version } };
  const can = (verb: string) => (r.verbs as string[]).includes(verb);
  const collection = r.namespaced ? `${prefix}/namespaces/{namespace}/${r.plural}` : `${prefix}/${r.plural}`;
  const item = `${collection}/{name}`;
  const scopeParams = r.namespaced ? [NAMESPACE_PARAM] : [];
  const out: Record<string, PathItem> = {};

  const coll: PathItem = {};
  if (can('deletecollection')) {
    coll.delete = operation(own, 'deletecollection', ['delete', `Collection${scope}${r.kind}`], `delete collection of ${r.kind}`,
      { parameters: DELETE_COLLECTION, requestBody: { content: content(['*/*'], `${META}.DeleteOptions`) }, responses: responses([200], `${META}.Status`) });
  }
  if (can('list')) {
    coll.get = operation(own, 'list', ['list', `${scope}${r.kind}`], `list or watch objects of kind ${r.kind}`,
      { parameters: LIST, responses: responses([200], listDef, LIST_TYPES) });
  }
  if (can('create')) {
    coll.post = operation(own, 'post', ['create', `${scope}${r.kind}`], `create ${withArticle(r.kind)}`,
      { parameters: WRITE, requestBody: { content: content(['*/*'], kindDef), required: true }, responses: responses([200, 201, 202], kindDef) });
  }
  if (Object.keys(coll).length) out[collection] = { ...coll, parameters: [...scopeParams, Q.pretty] };

  if (r.namespaced && can('list')) {
    out[`${prefix}/${r.plural}`] = {
      get: operation(own, 'list', ['list', `${r.kind}ForAllNamespaces`], `list or watch objects of kind ${r.kind}`, { responses: responses([200], listDef, LIST_TYPES) }),
      parameters: [...LIST, Q.pretty].sort((a, b) => a.name.localeCompare(b.name)),
    };
  }

  const one: PathItem = {};
  if (can('delete')) {
    one.delete = operation(own, 'delete', ['delete', `${scope}${r.kind}`], `delete ${withArticle(r.kind)}`,
      { parameters: DELETE, requestBody: { content: content(['*/*'], `${META}.DeleteOptions`) }, responses: responses([200, 202], deleted) });
  }
  if (can('get')) one.get = operation(own, 'get', ['read', `${scope}${r.kind}`], `read the specified ${r.kind}`, { responses: responses([200], kindDef) });
  if (can('patch')) one.patch = patchOperation(own, ['patch', `${scope}${r.kind}`], `partially update the specified ${r.kind}`, kindDef);
  if (can('update')) one.put = putOperation(own, ['replace', `${scope}${r.kind}`], `replace the specified ${r.kind}`, kindDef);
  if (Object.keys(one).length) out[item] = { ...one, parameters: [nameParam(r.kind), ...scopeParams, Q.pretty] };

  for (const sub of subresourcesOf(r)) {
    const subCtx: OperationContext = { ...ctx, gvk: { group: sub.kind.group, kind: sub.kind.kind, version: sub.kind.version } };
    const subDef = definitionOf(sub.kind.group, sub.kind.version, sub.kind.kind);
    const suffix = capitalize(sub.name);
    const ops: PathItem = {};
    if (sub.verbs.includes('get')) {
      ops.get = operation(subCtx, 'get', ['read', `${scope}${r.kind}${suffix}`], `read ${sub.name} of the specified ${r.kind}`, { responses: responses([200], subDef) });
    }
    if (sub.verbs.includes('patch')) {
      ops.patch = patchOperation(subCtx, ['patch', `${scope}${r.kind}${suffix}`], `partially update ${sub.name} of the specified ${r.kind}`, subDef);
    }
    if (sub.verbs.includes('update')) {
      ops.put = putOperation(subCtx, ['replace', `${scope}${r.kind}${suffix}`], `replace ${sub.name} of the specified ${r.kind}`, subDef);
    }
    if (Object.keys(ops).length) out[`${item}/${sub.name}`] = { ...ops, parameters: [nameParam(sub.kind.kind), ...scopeParams, Q.pretty] };
  }
  return out;
}

function patchOperation(ctx: OperationContext, id: [string, string], description: string, schema: string) {
  return operation(ctx, 'patch', id, description, {
    parameters: PATCH, requestBody: { content: content(PATCH_TYPES, `${META}.Patch`), required: true }, responses: responses([200, 201], schema),
  });
}

function putOperation(ctx: OperationContext, id: [string, string], description: string, schema: string) {
  return operation(ctx, 'put', id, description, {
    parameters: WRITE, requestBody: { content: content(['*/*'], schema), required: true }, responses: responses([200, 201], schema),
  });
}

/** `a Pod`, `an Event`, and no article before a plural-looking kind (`Endpoints`), as upstream words it. */
const withArticle = (kind: string) => (/[^s]s$/.test(kind) ? kind : `${/^[AEIOU]/i.test(kind) ? 'an' : 'a'} ${kind}`);

// ---------------------------------------------------------------------------------------------
// Documents.

/** The definition names a schema node refers to, directly. */
function refsOf(node: SchemaNode | undefined, out: string[] = []): string[] {
  if (!node) return out;
  if (node.$ref) out.push(node.$ref.slice(SCHEMA_REF.length));
  for (const child of [...(node.allOf ?? []), ...Object.values(node.properties ?? {}), node.items]) refsOf(child, out);
  if (typeof node.additionalProperties === 'object') refsOf(node.additionalProperties, out);
  return out;
}

/** The definitions a document needs: its roots and everything they refer to, sorted by name. */
function closure(roots: string[]): Record<string, SchemaNode> {
  const all = definitions();
  const names = new Set<string>();
  const add = (name: string) => {
    if (names.has(name) || !all[name]) return;
    names.add(name);
    refsOf(all[name]).forEach(add);
  };
  roots.forEach(add);
  return Object.fromEntries([...names].sort().map((k) => [k, all[k]]));
}

function groupVersionDocument(group: string, version: string): object {
  const prefix = group ? `/apis/${group}/${version}` : `/api/${version}`;
  const words = groupWords(group);
  const ctx = {
    tag: `${words[0]}${words.slice(1).map(capitalize).join('')}_${version}`,
    idPrefix: `${words.map(capitalize).join('')}${capitalize(version)}`,
  };
  const resources = RESOURCES.filter((r) => r.group === group && r.version === version);
  const paths: Record<string, PathItem> = {
    [`${prefix}/`]: {
      get: { description: 'get available resources', operationId: `get${ctx.idPrefix}APIResources`,
        responses: responses([200], `${META}.APIResourceList`), tags: [ctx.tag] },
    },
  };
  const roots = [`${META}.APIResourceList`, `${META}.DeleteOptions`, `${META}.Patch`, `${META}.Status`, `${META}.WatchEvent`];
  for (const r of resources) {
    Object.assign(paths, resourcePaths(r, prefix, ctx));
    roots.push(definitionOf(r.group, r.version, r.kind), definitionOf(r.group, r.version, r.listKind));
    for (const sub of subresourcesOf(r)) roots.push(definitionOf(sub.kind.group, sub.kind.version, sub.kind.kind));
  }
  const sortedPaths = Object.fromEntries(Object.keys(paths).sort().map((k) => [k, paths[k]]));
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version: 'unversioned' }, paths: sortedPaths, components: { schemas: closure(roots) } };
}

interface Served {
  body: Buffer;
  etag: string;
}

let cache: { index: Served; documents: Map<string, Served> } | undefined;

const sha512 = (data: Buffer) => createHash('sha512').update(data).digest('hex').toUpperCase();
function served(value: object): Served {
  const body = Buffer.from(JSON.stringify(value));
  return { body, etag: sha512(body) };
}

function build() {
  if (cache) return cache;
  const documents = new Map<string, Served>();
  for (const g of groups()) {
    for (const version of g.versions) {
      documents.set(g.group ? `apis/${g.group}/${version}` : `api/${version}`, served(groupVersionDocument(g.group, version)));
    }
  }
  const paths = Object.fromEntries([...documents.keys()].sort().map((gv) => [gv, { serverRelativeURL: `/openapi/v3/${gv}?hash=${documents.get(gv)!.etag}` }]));
  cache = { index: served({ paths }), documents };
  return cache;
}

// ---------------------------------------------------------------------------------------------
// HTTP.

/** Whether If-None-Match names this entity tag (or `*`); weak tags compare equal, as for GET. */
function notModified(headers: IncomingHttpHeaders, etag: string): boolean {
  const header = headers['if-none-match'];
  if (!header) return false;
  return header.split(',').some((t) => {
    const tag = t.trim().replace(/^W\//, '');
    return tag === '*' || tag === `"${etag}"`;
  });
}

/** JSON is all we serve; a client that accepts only the protobuf form gets 406, as upstream for an unknown type. */
function acceptsJSON(headers: IncomingHttpHeaders): boolean {
  const accept = headers.accept;
  if (!accept) return true;
  return accept.split(',').some((part) => /^\s*(application\/json|application\/\*|\*\/\*)\s*(;|$)/.test(part));
}

function respond(doc: Served, headers: IncomingHttpHeaders, extra: Record<string, string>): OpenAPIResponse {
  const out = { ...extra, Etag: `"${doc.etag}"` };
  if (notModified(headers, doc.etag)) return { status: 304, headers: out, body: '' };
  return { status: 200, headers: { 'Content-Type': 'application/json', ...out }, body: doc.body };
}

/**
 * Answers /openapi/v2, /openapi/v3 and /openapi/v3/<group-version>; undefined for any other path
 * (including an unknown group-version), which the caller answers with 404.
 */
export function serveOpenAPI(path: string, query: URLSearchParams, headers: IncomingHttpHeaders): OpenAPIResponse | undefined {
  // An empty body is a valid, empty protobuf Document: kubectl's v2 fallbacks then find no schema
  // and pass. (The `@` form of the media type that kubectl asks for breaks Go's MIME parser.)
  if (path === '/openapi/v2') {
    return { status: 200, headers: { 'Content-Type': 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf' }, body: '' };
  }
  if (path === '/openapi/v3' || path === '/openapi/v3/') {
    // The apiserver's default for responses that set no caching policy.
    return respond(build().index, headers, { 'Cache-Control': 'no-cache, private' });
  }
  if (!path.startsWith('/openapi/v3/')) return undefined;
  const gv = path.slice('/openapi/v3/'.length);
  const doc = build().documents.get(gv);
  if (!doc) return undefined;
  if (!acceptsJSON(headers)) return { status: 406, headers: { Vary: 'Accept' }, body: '' };
  const hash = query.get('hash');
  if (hash && hash !== doc.etag) {
    // A stale hash: send the client to the current document, as upstream does.
    return { status: 301, headers: { Location: `/openapi/v3/${gv}?hash=${doc.etag}`, Vary: 'Accept' }, body: '' };
  }
  const caching: Record<string, string> = hash
    ? { 'Cache-Control': 'public, immutable', Expires: new Date(Date.now() + 365 * 86400_000).toUTCString() }
    : { 'Cache-Control': 'no-cache, private' };
  return respond(doc, headers, { Vary: 'Accept', ...caching });
}
