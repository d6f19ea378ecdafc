// Patch metadata from OpenAPI v3 schema nodes, in upstream's /openapi/v3 shape. Mirrors
// strategicpatch.PatchMetaFromOpenAPIV3: the extensions sit on the property node (next to an
// `allOf: [{$ref}]` wrapper or `items`), and the node is then resolved to the field's own schema.
//
// Only x-kubernetes-patch-strategy and x-kubernetes-patch-merge-key matter here. The API server
// takes strategic-merge-patch behaviour from the Go struct tags, which are exactly these two;
// x-kubernetes-list-type/-list-map-keys describe server-side apply and are deliberately ignored
// (e.g. PodStatus.hostIPs is list-type atomic yet merges by `ip` in a strategic merge patch).
//
// Where no schema is known (no node, an unresolvable $ref, a field the node does not declare) the
// lookup yields no metadata, which is upstream's behaviour for untyped data: maps merge and lists
// are replaced.
import { internal } from './errors.js';

export interface SchemaNode {
  type?: string | string[];
  properties?: Record<string, SchemaNode>;
  additionalProperties?: SchemaNode | boolean;
  items?: SchemaNode;
  $ref?: string;
  allOf?: SchemaNode[];
  'x-kubernetes-patch-strategy'?: string;
  'x-kubernetes-patch-merge-key'?: string;
  'x-kubernetes-list-type'?: string;
  'x-kubernetes-list-map-keys'?: string[];
  [extension: string]: unknown;
}

/** Resolves a `$ref` exactly as written, e.g. `#/components/schemas/io.k8s.api.core.v1.PodSpec`. */
export type Resolver = (ref: string) => SchemaNode | undefined;

/** A position in the schema: the resolved node (if known) plus the resolver to follow refs. */
export interface SchemaCursor {
  node: SchemaNode | undefined;
  resolve: Resolver | undefined;
}

export interface FieldPatchMeta {
  /**
   * `merge`, `replace` or '' (none). A `retainKeys` strategy is accepted but needs no handling
   * here: the server applies a `$retainKeys` directive wherever it appears.
   */
  strategy: string;
  mergeKey: string;
  /** The field's schema; for a list, the schema of its elements. */
  schema: SchemaCursor;
}

export function cursor(node: SchemaNode | undefined, resolve: Resolver | undefined): SchemaCursor {
  return { node: resolveNode(node, resolve), resolve };
}

/** Metadata of a map-valued (or scalar) field. */
export function fieldMeta(at: SchemaCursor, key: string): FieldPatchMeta {
  return cachedMeta(fieldCache, at, key, computeFieldMeta);
}

/** Metadata of a list-valued field; `schema` is the element schema. */
export function listFieldMeta(at: SchemaCursor, key: string): FieldPatchMeta {
  return cachedMeta(listCache, at, key, computeListFieldMeta);
}

function computeFieldMeta(at: SchemaCursor, key: string): FieldPatchMeta {
  const property = propertyOf(at.node, key);
  return { ...strategyOf(property), schema: cursor(property, at.resolve) };
}

function computeListFieldMeta(at: SchemaCursor, key: string): FieldPatchMeta {
  const property = propertyOf(at.node, key);
  const list = resolveNode(property, at.resolve);
  return { ...strategyOf(property), schema: cursor(list?.items, at.resolve) };
}

/**
 * The metadata of the declared properties of a schema node, computed once per node, key and
 * resolver (schema nodes are never changed; the answers are read-only). Keys of free-form maps
 * (labels, annotations) are not kept: they are the clients' data and unbounded.
 */
type MetaCache = WeakMap<SchemaNode, { resolve: Resolver | undefined; byKey: Map<string, FieldPatchMeta> }>;
const fieldCache: MetaCache = new WeakMap();
const listCache: MetaCache = new WeakMap();

function cachedMeta(cache: MetaCache, at: SchemaCursor, key: string, compute: (at: SchemaCursor, key: string) => FieldPatchMeta): FieldPatchMeta {
  const node = at.node;
  if (!node?.properties || !Object.prototype.hasOwnProperty.call(node.properties, key)) return compute(at, key);
  let entry = cache.get(node);
  if (!entry) cache.set(node, (entry = { resolve: at.resolve, byKey: new Map() }));
  if (entry.resolve !== at.resolve) return compute(at, key);
  let meta = entry.byKey.get(key);
  if (!meta) entry.byKey.set(key, (meta = compute(at, key)));
  return meta;
}

function propertyOf(node: SchemaNode | undefined, key: string): SchemaNode | undefined {
  if (!node) return undefined;
  if (node.properties && Object.prototype.hasOwnProperty.call(node.properties, key)) return node.properties[key];
  return typeof node.additionalProperties === 'object' ? node.additionalProperties : undefined;
}

function resolveNode(node: SchemaNode | undefined, resolve: Resolver | undefined): SchemaNode | undefined {
  // A bound on the hops keeps a cyclic chain of bare refs from looping forever.
  for (let hops = 0; node && hops < 16; hops++) {
    if (node.allOf && node.allOf.length > 0) node = node.allOf[0];
    else if (typeof node.$ref === 'string') node = resolve?.(node.$ref);
    else return node;
  }
  return undefined;
}

function strategyOf(property: SchemaNode | undefined): Omit<FieldPatchMeta, 'schema'> {
  const mergeKey = property?.['x-kubernetes-patch-merge-key'];
  const strategy = property?.['x-kubernetes-patch-strategy'];
  return {
    strategy: withoutRetainKeys(typeof strategy === 'string' ? strategy.split(',') : []),
    mergeKey: typeof mergeKey === 'string' ? mergeKey : '',
  };
}

/** extractRetainKeysPatchStrategy: at most one strategy besides retainKeys. */
function withoutRetainKeys(strategies: string[]): string {
  const [first, second] = strategies;
  if (strategies.length === 0) return '';
  if (strategies.length === 1) return first === 'retainKeys' ? '' : first;
  if (strategies.length === 2 && first === 'retainKeys') return second;
  if (strategies.length === 2 && second === 'retainKeys') return first;
  throw internal(`unexpected patch strategy: [${strategies.join(' ')}]`);
}
