// Objects seen through their schema, as structured-merge-diff's `typed` package sees them: the
// OpenAPI definitions turned into its schema model (kube-openapi's schemaconv rules), and the walks
// server-side apply is made of — validation, the field set of a value, the comparison of two
// values, the merge of an applied configuration into a live object, and the removal of fields.
//
// Values are parsed JSON. `undefined` is an absent field; `null` is a present null, as upstream
// distinguishes a missing key from a nil value.
import { resolveSchema, schemaForKind, type SchemaNode } from '../../api/schema.js';
import { goQuote } from '../../api/validation/field.js';
import {
  FieldSet, compareStrings, fieldPE, goNumber, indexPE, isMap, keyPE, peString, stringKeyPE, valuePE, valuesEqual,
  type Path, type PathElement,
} from './fieldpath.js';

type Json = Record<string, unknown>;

export type ScalarKind = 'numeric' | 'string' | 'boolean' | 'untyped';

export interface ListType {
  /** Atomic lists are replaced as a whole; the others are associative (granular). */
  readonly atomic: boolean;
  /** Key fields of an associative list of maps; empty for a set of scalars. */
  readonly keys: readonly string[];
  readonly elem: TypeRef;
}

export interface StructField {
  readonly type: TypeRef;
  /** The schema's default, used for list keys an item leaves out (container port protocol "TCP"). */
  readonly default: unknown;
}

export interface MapType {
  readonly atomic: boolean;
  /** Named fields (a struct); empty for a plain map. */
  readonly fields: ReadonlyMap<string, StructField>;
  /** The type of the other keys; undefined when the schema declares no other keys. */
  readonly elem: TypeRef | undefined;
}

/** A type is a scalar, a list or a map; the untyped types are all three, chosen by the value. */
export interface Atom {
  readonly scalar?: ScalarKind;
  readonly list?: ListType;
  readonly map?: MapType;
}

/** A lazily built type, so that recursive definitions are fine. */
export class TypeRef {
  private built?: Atom;
  constructor(private readonly make: () => Atom) {}

  get atom(): Atom {
    return (this.built ??= this.make());
  }
}

/** An error upstream reports as typed-value validation errors (`.spec.foo: field not declared in schema`). */
export class TypedError extends Error {
  constructor(readonly errors: { path: string; message: string }[]) {
    super(renderErrors(errors));
    this.name = 'TypedError';
  }
}

function renderErrors(errs: { path: string; message: string }[]): string {
  const one = (e: { path: string; message: string }) => (e.path ? `${e.path}: ${e.message}` : e.message);
  if (errs.length === 1) return one(errs[0]!);
  return ['errors:', ...errs.map((e) => `  ${one(e)}`)].join('\n');
}

// ---- the schema model ----

const EMPTY_FIELDS: ReadonlyMap<string, StructField> = new Map();

/** Any atomic value (schemaconv's `__untyped_atomic_`). */
const UNTYPED_ATOMIC: TypeRef = new TypeRef(() => ({
  scalar: 'untyped',
  list: { atomic: true, keys: [], elem: UNTYPED_ATOMIC },
  map: { atomic: true, fields: EMPTY_FIELDS, elem: UNTYPED_ATOMIC },
}));

/** A value whose shape decides its type: maps are granular, lists atomic (`__untyped_deduced_`). */
export const DEDUCED: TypeRef = new TypeRef(() => ({
  scalar: 'untyped',
  list: { atomic: true, keys: [], elem: UNTYPED_ATOMIC },
  map: { atomic: false, fields: EMPTY_FIELDS, elem: DEDUCED },
}));

const typeCache = new WeakMap<SchemaNode, TypeRef>();

/** The type a schema node stands for; a `$ref` node's x-kubernetes-map-type overrides its target's. */
export function typeOf(node: SchemaNode): TypeRef {
  let t = typeCache.get(node);
  if (t) return t;
  const isRef = node.$ref !== undefined || (node.allOf?.length === 1 && node.properties === undefined && node.type === undefined);
  if (isRef) {
    const target = resolveSchema(node);
    const override = node['x-kubernetes-map-type'];
    t = new TypeRef(() => {
      const base = target ? typeOf(target).atom : DEDUCED.atom;
      if (!base.map || (override !== 'atomic' && override !== 'granular')) return base;
      return { ...base, map: { ...base.map, atomic: override === 'atomic' } };
    });
  } else {
    t = new TypeRef(() => parseSchema(node));
  }
  typeCache.set(node, t);
  return t;
}

/** kube-openapi's ToSchemaFromOpenAPI, for one node. */
function parseSchema(node: SchemaNode): Atom {
  // IntOrString and Quantity: scalars of either kind.
  if (node['x-kubernetes-int-or-string'] || node.format === 'int-or-string') return { scalar: 'untyped' };
  switch (node.type) {
    case undefined:
      if (node.oneOf) return { scalar: 'untyped' };
      return { scalar: 'untyped', list: parseList(node), map: parseObject(node) };
    case 'object': return { map: parseObject(node) };
    case 'array': return { list: parseList(node) };
    case 'integer':
    case 'number': return { scalar: 'numeric' };
    case 'boolean': return { scalar: 'boolean' };
    case 'string': return { scalar: node.format === undefined || node.format === '' || node.format === 'byte' ? 'string' : 'untyped' };
    default: return { scalar: 'untyped' };
  }
}

function parseObject(node: SchemaNode): MapType {
  const props = node.properties;
  let fields = EMPTY_FIELDS;
  if (props) {
    const m = new Map<string, StructField>();
    for (const [name, p] of Object.entries(props)) m.set(name, { type: typeOf(p), default: p.default });
    fields = m;
  }
  const ap = node.additionalProperties;
  let elem: TypeRef | undefined;
  if (ap === undefined) elem = props ? undefined : DEDUCED;
  else if (ap === true) elem = DEDUCED;
  else if (ap !== false) elem = typeOf(ap);
  return { atomic: node['x-kubernetes-map-type'] === 'atomic', fields, elem };
}

function parseList(node: SchemaNode): ListType {
  const elem = node.items ? typeOf(node.items) : UNTYPED_ATOMIC;
  const listType = node['x-kubernetes-list-type'];
  if (listType !== undefined) {
    if (listType === 'set') return { atomic: false, keys: [], elem };
    if (listType === 'map') return { atomic: false, keys: node['x-kubernetes-list-map-keys'] ?? [], elem };
    return { atomic: true, keys: [], elem };
  }
  // Without a list type, a strategic-merge list is associative by its merge key (a set without one).
  const strategy = node['x-kubernetes-patch-strategy'];
  if (strategy === 'merge' || strategy === 'merge,retainKeys') {
    const key = node['x-kubernetes-patch-merge-key'];
    return { atomic: false, keys: key ? [key] : [], elem };
  }
  return { atomic: true, keys: [], elem };
}

/** The type of a kind's objects; kinds without a schema are deduced from their values. */
export function typeForKind(apiVersion: string, kind: string): TypeRef {
  const node = schemaForKind(apiVersion, kind);
  return node ? typeOf(node) : DEDUCED;
}

/**
 * The kind's empty object as Go's typed converter sees a freshly made one: non-pointer struct
 * fields are present (`spec: {template: {spec: {}}}`), non-omitempty lists and maps are null
 * (`containers: null`). A field that goes from null to a value is not "added" in comparisons, so
 * it gets no `.` of its own in managedFields, as upstream shows after a create.
 */
export function zeroObject(apiVersion: string, kind: string): Json {
  const key = `${apiVersion}/${kind}`;
  let zero = ZERO_OBJECTS.get(key);
  if (!zero) {
    const node = schemaForKind(apiVersion, kind);
    zero = deepFreeze(node ? zeroStruct(node, 0) : {});
    ZERO_OBJECTS.set(key, zero);
  }
  return zero;
}

/**
 * Every create compares against its kind's empty object; building it walks the schema, so each is
 * built once and shared, frozen (comparisons only read it; a write to it would throw).
 */
const ZERO_OBJECTS = new Map<string, Json>();

function deepFreeze(v: Json): Json {
  for (const x of Object.values(v)) if (isMap(x)) deepFreeze(x);
  return Object.freeze(v);
}

function zeroStruct(node: SchemaNode, depth: number): Json {
  const n = resolveSchema(node);
  const out: Json = {};
  if (!n?.properties || depth > 16) return out;
  const required = new Set(n.required ?? []);
  for (const [name, p] of Object.entries(n.properties)) {
    const d = p.default;
    const target = resolveSchema(p);
    // The OpenAPI generator writes `default: {}` on non-pointer struct fields and the zero value on
    // non-omitempty scalars.
    if (isMap(d) && Object.keys(d).length === 0 && target?.properties) out[name] = zeroStruct(p, depth + 1);
    else if (d === '' || d === 0 || d === false) out[name] = d;
    else if (required.has(name) && (target?.type === 'array' || target?.type === 'object')) out[name] = null;
  }
  return out;
}

// ---- shared helpers ----

type Handler = 'scalar' | 'list' | 'map';

/** deduceAtom + handleAtom: which part of the type handles this value. */
function handlerFor(atom: Atom, v: unknown): Handler | undefined {
  if (v !== undefined && v !== null) {
    if (typeof v !== 'object') {
      if (atom.scalar) return 'scalar';
    } else if (Array.isArray(v)) {
      if (atom.list) return 'list';
    } else if (atom.map) return 'map';
  }
  return atom.map ? 'map' : atom.scalar ? 'scalar' : atom.list ? 'list' : undefined;
}

function fieldType(t: MapType, key: string): TypeRef | undefined {
  return t.fields.get(key)?.type ?? t.elem;
}

function requireFieldType(t: MapType, key: string, path: Path): TypeRef {
  const ft = fieldType(t, key);
  if (!ft) throw new TypedError([{ path: `${pathText(path)}.${key}`, message: 'field not declared in schema' }]);
  return ft;
}

const pathText = (path: Path) => path.map(peString).join('');

/** Whether a map has no keys of its own (without listing them: comparisons ask it of every map). */
function isEmptyMap(m: Json | undefined): boolean {
  if (m === undefined) return true;
  for (const k in m) if (Object.prototype.hasOwnProperty.call(m, k)) return false;
  return true;
}

/** An associative list item's path element, or the reason it has none. */
export function listItemPE(list: ListType, item: unknown): PathElement | string {
  if (list.keys.length > 0) {
    if (item === null) return 'associative list with keys may not have a null element';
    if (!isMap(item)) return 'associative list with keys may not have non-map elements';
    if (list.keys.length === 1) {
      const key = list.keys[0]!;
      const v = Object.prototype.hasOwnProperty.call(item, key) ? item[key] : undefined;
      if (typeof v === 'string') return stringKeyPE(key, v);
    }
    const fields: [string, unknown][] = [];
    const elemMap = list.elem.atom.map;
    for (const key of list.keys) {
      if (Object.prototype.hasOwnProperty.call(item, key)) fields.push([key, item[key]]);
      else {
        const def = elemMap?.fields.get(key)?.default;
        if (def === undefined || def === null) {
          return `associative list with keys has an element that omits key field ${goQuote(key)} (and doesn't have default value)`;
        }
        fields.push([key, def]);
      }
    }
    return keyPE(fields);
  }
  if (isMap(item)) return "associative list without keys has an element that's a map type";
  if (Array.isArray(item)) return 'not supported: associative list with lists as elements';
  if (item === null) return "associative list without keys has an element that's an explicit null";
  return valuePE(item);
}

function itemPE(list: ListType, item: unknown, index: number, path: Path): PathElement {
  const pe = listItemPE(list, item);
  if (typeof pe === 'string') throw new TypedError([{ path: pathText(path), message: `element ${index}: ${pe}` }]);
  return pe;
}

// ---- validation ----

/**
 * Upstream's typed validation of a value against its type (what makes an apply request fail with
 * `.spec.replicas: expected numeric (int or float), got string`). Duplicates in associative lists
 * are errors unless allowed (live objects may hold them).
 */
export function validate(tr: TypeRef, v: unknown, allowDuplicates = false): void {
  const errs: { path: string; message: string }[] = [];
  validateValue(tr, v, [], errs, allowDuplicates);
  if (errs.length) throw new TypedError(errs);
}

function validateValue(tr: TypeRef, v: unknown, path: PathElement[], errs: { path: string; message: string }[], allowDup: boolean): void {
  const atom = tr.atom;
  const add = (message: string): void => {
    errs.push({ path: pathText(path), message });
  };
  switch (handlerFor(atom, v)) {
    case 'scalar': {
      const msg = scalarError(atom.scalar!, v);
      if (msg) add(msg);
      return;
    }
    case 'list': {
      if (v === null || v === undefined) return;
      if (!Array.isArray(v)) return add(`expected list, got &{${goV(v)}}`);
      const t = atom.list!;
      const seen = new Set<string>();
      for (let i = 0; i < v.length; i++) {
        let pe: PathElement;
        if (t.atomic) pe = indexPE(i);
        else {
          const p = listItemPE(t, v[i]);
          if (typeof p === 'string') return add(`element ${i}: ${p}`);
          pe = p;
          if (seen.has(pe.id) && !allowDup) add(`duplicate entries for key ${peString(pe)}`);
          seen.add(pe.id);
        }
        path.push(pe);
        validateValue(t.elem, v[i], path, errs, allowDup);
        path.pop();
      }
      return;
    }
    case 'map': {
      if (v === null || v === undefined) return;
      if (!isMap(v)) return add(`expected map, got &{${goV(v)}}`);
      const t = atom.map!;
      for (const key of Object.keys(v)) {
        const ft = fieldType(t, key);
        path.push(fieldPE(key));
        if (!ft) {
          add('field not declared in schema');
          path.pop();
          return;
        }
        validateValue(ft, v[key], path, errs, allowDup);
        path.pop();
      }
      return;
    }
    default:
      add('schema error: invalid atom: inlined');
  }
}

function scalarError(kind: ScalarKind, v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  const t = typeof v;
  const isScalar = t === 'number' || t === 'string' || t === 'boolean';
  switch (kind) {
    case 'numeric': return t === 'number' ? undefined : `expected numeric (int or float), got ${goTypeName(v)}`;
    case 'string': return t === 'string' ? undefined : `expected string, got &value.valueUnstructured{Value:${goSharpV(v)}}`;
    case 'boolean': return t === 'boolean' ? undefined : `expected boolean, got &{${goV(v)}}`;
    case 'untyped': return isScalar ? undefined : `expected any scalar, got &{${goV(v)}}`;
  }
}

// Go's fmt renderings of unstructured values, as validation messages print them.

function goTypeName(v: unknown): string {
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int64' : 'float64';
  if (Array.isArray(v)) return '[]interface {}';
  if (isMap(v)) return 'map[string]interface {}';
  return '<nil>';
}

/** %v */
function goV(v: unknown): string {
  if (v === null || v === undefined) return '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return goNumber(v);
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(goV).join(' ')}]`;
  const m = v as Json;
  return `map[${Object.keys(m).sort(compareStrings).map((k) => `${k}:${goV(m[k])}`).join(' ')}]`;
}

/** %#v */
function goSharpV(v: unknown): string {
  if (v === null || v === undefined) return 'interface {}(nil)';
  if (typeof v === 'string') return goQuote(v);
  if (typeof v === 'number') return goNumber(v);
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[]interface {}{${v.map(goSharpV).join(', ')}}`;
  const m = v as Json;
  return `map[string]interface {}{${Object.keys(m).sort(compareStrings).map((k) => `${goQuote(k)}:${goSharpV(m[k])}`).join(', ')}}`;
}

// ---- field sets ----

/** The set of fields a value sets: leaves, atomic lists and maps, list items, empty maps and nulls. */
export function toFieldSet(tr: TypeRef, v: unknown): FieldSet {
  const set = new FieldSet();
  collectFields(tr, v, [], set);
  return set;
}

function collectFields(tr: TypeRef, v: unknown, path: PathElement[], set: FieldSet): void {
  const atom = tr.atom;
  switch (handlerFor(atom, v)) {
    case 'scalar':
      set.insert(path);
      return;
    case 'list': {
      const t = atom.list!;
      if (t.atomic) return set.insert(path);
      if (!Array.isArray(v)) return;
      const pes = v.map((item) => listItemPE(t, item));
      const seen = new Set<string>(), duplicates = new Set<string>();
      for (const pe of pes) {
        if (typeof pe === 'string') continue;
        if (!seen.has(pe.id)) seen.add(pe.id);
        else if (!duplicates.has(pe.id)) {
          // A duplicated item is owned as a whole.
          duplicates.add(pe.id);
          set.insert([...path, pe]);
        }
      }
      for (let i = 0; i < v.length; i++) {
        const pe = pes[i]!;
        if (typeof pe === 'string' || duplicates.has(pe.id)) continue;
        path.push(pe);
        collectFields(t.elem, v[i], path, set);
        set.insert(path);
        path.pop();
      }
      return;
    }
    case 'map': {
      const t = atom.map!;
      if (t.atomic) return set.insert(path);
      if (!isMap(v)) return;
      for (const [key, val] of Object.entries(v)) {
        const named = t.fields.has(key);
        path.push(fieldPE(key));
        collectFields(requireFieldType(t, key, path.slice(0, -1)), val, path, set);
        if (val === null || (isMap(val) && Object.keys(val).length === 0) || !named) set.insert(path);
        path.pop();
      }
      return;
    }
  }
}

/**
 * Adds to a set the named fields (struct fields) on the way to its members, so that removing the
 * set also removes the structs it leads through, but not maps or list items.
 */
export function ensureNamedFieldsAreMembers(set: FieldSet, tr: TypeRef | undefined): FieldSet {
  const atom = tr?.atom;
  const members = new Map(set.members);
  const children = new Map<string, { pe: PathElement; set: FieldSet }>();
  for (const [id, c] of set.children) {
    let childType: TypeRef | undefined;
    if (c.pe.kind === 'field' && atom?.map) {
      if (atom.map.fields.has(c.pe.name)) members.set(id, c.pe);
      childType = fieldType(atom.map, c.pe.name);
    } else if (c.pe.kind === 'key' && atom?.list) {
      childType = atom.list.elem;
    }
    children.set(id, { pe: c.pe, set: ensureNamedFieldsAreMembers(c.set, childType) });
  }
  return new FieldSet(members, children);
}

// ---- comparison ----

export interface Comparison {
  /** Fields the right-hand side no longer has. */
  removed: FieldSet;
  /** Fields both have, with different values. */
  modified: FieldSet;
  /** Fields only the right-hand side has. */
  added: FieldSet;
}

/**
 * What changed from lhs to rhs, field by field. With `merged`, `modified` and `added` are one set,
 * their union (what a write takes ownership of), built without a union pass.
 */
export function compare(tr: TypeRef, lhs: unknown, rhs: unknown, merged = false): Comparison {
  const changed = new FieldSet();
  const c: Comparison = { removed: new FieldSet(), modified: changed, added: merged ? changed : new FieldSet() };
  compareValue(tr, lhs, rhs, [], c);
  return c;
}

function compareValue(tr: TypeRef, lhs: unknown, rhs: unknown, path: PathElement[], c: Comparison): void {
  const atom = tr.atom;
  const hl = handlerFor(atom, lhs), hr = handlerFor(atom, rhs);
  let handler = rhs === undefined ? hl : hr;
  // A value that changed its kind (a scalar became a map) is compared as a whole.
  if (lhs !== undefined && rhs !== undefined && hl !== hr) handler = 'scalar';
  let inLeaf = true;
  switch (handler) {
    case 'map': inLeaf = compareMaps(atom.map!, lhs, rhs, path, c); break;
    case 'list': inLeaf = compareLists(atom.list!, lhs, rhs, path, c); break;
    default: compareLeaf(lhs, rhs, path, c);
  }
  if (!inLeaf) {
    if (lhs === undefined) c.added.insert(path);
    else if (rhs === undefined) c.removed.insert(path);
  }
}

function compareLeaf(lhs: unknown, rhs: unknown, path: PathElement[], c: Comparison): void {
  // Go's typed objects never tell an absent field from a null one; JSON does. Both mean "no value".
  if ((lhs === undefined || lhs === null) && (rhs === undefined || rhs === null)) return;
  if (lhs === undefined) c.added.insert(path);
  else if (rhs === undefined) c.removed.insert(path);
  else if (!valuesEqual(lhs, rhs)) c.modified.insert(path);
}

/** Returns whether the maps were compared as one leaf. */
function compareMaps(t: MapType, lhs: unknown, rhs: unknown, path: PathElement[], c: Comparison): boolean {
  const lm = isMap(lhs) ? lhs : undefined, rm = isMap(rhs) ? rhs : undefined;
  // Both empty or null: a leaf, which keeps the empty/null distinction.
  if (t.atomic || (isEmptyMap(lm) && isEmptyMap(rm))) {
    compareLeaf(lhs, rhs, path, c);
    return true;
  }
  if (lm) for (const key in lm) compareField(t, key, lm[key], rm?.[key], path, c);
  if (rm) for (const key in rm) if (!lm || !Object.prototype.hasOwnProperty.call(lm, key)) compareField(t, key, lm?.[key], rm[key], path, c);
  return false;
}

function compareField(t: MapType, key: string, lhs: unknown, rhs: unknown, path: PathElement[], c: Comparison): void {
  const ft = requireFieldType(t, key, path);
  path.push(fieldPE(key));
  compareValue(ft, lhs, rhs, path, c);
  path.pop();
}

function compareLists(t: ListType, lhs: unknown, rhs: unknown, path: PathElement[], c: Comparison): boolean {
  const ll = Array.isArray(lhs) ? lhs : undefined, rl = Array.isArray(rhs) ? rhs : undefined;
  if (t.atomic || (!ll?.length && !rl?.length)) {
    compareLeaf(lhs, rhs, path, c);
    return true;
  }
  // Items by path element, in a list each to see duplicates.
  const all: PathElement[] = [];
  const group = (list: unknown[] | undefined, into: Map<string, unknown[]>, other?: Map<string, unknown[]>) => {
    (list ?? []).forEach((item, i) => {
      const pe = itemPE(t, item, i, path);
      const items = into.get(pe.id);
      if (items) items.push(item);
      else {
        into.set(pe.id, [item]);
        if (!other?.has(pe.id)) all.push(pe);
      }
    });
  };
  const lv = new Map<string, unknown[]>(), rv = new Map<string, unknown[]>();
  group(ll, lv);
  group(rl, rv, lv);
  for (const pe of all) {
    const l = lv.get(pe.id) ?? [], r = rv.get(pe.id) ?? [];
    path.push(pe);
    if (l.length <= 1 && r.length <= 1) compareValue(t.elem, l[0], r[0], path, c);
    else if (l.length >= 2 && r.length >= 2) {
      // Duplicates on both sides: compared as an atomic list.
      if (l.length !== r.length || l.some((x, i) => !valuesEqual(x, r[i]))) c.modified.insert(path);
    } else if (l.length >= 2) {
      if (r.length) compareValue(t.elem, undefined, r[0], path, c);
      c.removed.insert(path);
    } else {
      if (l.length) compareValue(t.elem, l[0], undefined, path, c);
      c.added.insert(path);
    }
    path.pop();
  }
  return false;
}

// ---- merge ----

/**
 * Merges an applied configuration (rhs) into a live object (lhs): the configuration's values win,
 * granular maps and associative lists are merged item by item, atomic ones are replaced. List
 * items keep the live order, with the configuration's order among the items both have. Returns
 * undefined where neither side has a value. The result shares values with its inputs.
 */
export function merge(tr: TypeRef, lhs: unknown, rhs: unknown): unknown {
  return mergeValue(tr, lhs, rhs, []);
}

function mergeValue(tr: TypeRef, lhs: unknown, rhs: unknown, path: PathElement[]): unknown {
  const atom = tr.atom;
  const hl = handlerFor(atom, lhs), hr = handlerFor(atom, rhs);
  const handler = rhs === undefined ? hl : lhs === undefined || hl === hr ? hr : 'scalar';
  const keepRHS = rhs !== undefined ? rhs : lhs;
  switch (handler) {
    case 'map': {
      const t = atom.map!;
      const lm = isMap(lhs) ? lhs : undefined, rm = isMap(rhs) ? rhs : undefined;
      if (t.atomic || (isEmptyMap(lm) && isEmptyMap(rm))) return keepRHS;
      if (!lm && !rm) return undefined;
      const out: Json = {};
      for (const key of new Set([...Object.keys(lm ?? {}), ...Object.keys(rm ?? {})])) {
        const ft = requireFieldType(t, key, path);
        path.push(fieldPE(key));
        const v = mergeValue(ft, lm?.[key], rm?.[key], path);
        path.pop();
        if (v !== undefined) out[key] = v;
      }
      return Object.keys(out).length ? out : undefined;
    }
    case 'list': {
      const t = atom.list!;
      const ll = Array.isArray(lhs) ? lhs : undefined, rl = Array.isArray(rhs) ? rhs : undefined;
      if (t.atomic || (!ll?.length && !rl?.length)) return keepRHS;
      if (!ll && !rl) return undefined;
      const out = mergeListItems(t, ll ?? [], rl ?? [], path);
      return out.length ? out : undefined;
    }
    default:
      return keepRHS;
  }
}

/** Indexes a list's items by path element; a duplicated live item merges as null. */
function indexItems(t: ListType, list: unknown[], path: Path, allowDuplicates: boolean) {
  const pes: PathElement[] = [];
  const items: unknown[] = [];
  const observed = new Map<string, unknown>();
  list.forEach((item, i) => {
    const pe = itemPE(t, item, i, path);
    if (observed.has(pe.id)) {
      if (!allowDuplicates) throw new TypedError([{ path: pathText(path), message: `duplicate entries for key ${peString(pe)}` }]);
      observed.set(pe.id, null);
    } else observed.set(pe.id, item);
    pes.push(pe);
    items.push(item);
  });
  return { pes, items, observed };
}

function mergeListItems(t: ListType, lhs: unknown[], rhs: unknown[], path: PathElement[]): unknown[] {
  const r = indexItems(t, rhs, path, false);
  const l = indexItems(t, lhs, path, true);
  const out: unknown[] = [];
  const emit = (pe: PathElement, lv: unknown, rv: unknown) => {
    path.push(pe);
    const v = mergeValue(t.elem, lv, rv, path);
    path.pop();
    if (v !== undefined) out.push(v);
  };
  // The items both lists have, in the configuration's order: each is emitted when its turn comes.
  const shared = r.pes.filter((pe) => l.observed.has(pe.id));
  let sharedIndex = 0;
  let nextShared = shared[sharedIndex++];
  const mergedRHS = new Set<string>();
  let li = 0, ri = 0;
  while (li < l.pes.length || ri < r.pes.length) {
    if (li < l.pes.length && ri < r.pes.length) {
      const pe = l.pes[li]!;
      if (pe.id === r.pes[ri]!.id) {
        mergedRHS.add(pe.id);
        emit(pe, l.observed.get(pe.id), r.observed.get(pe.id));
        li++;
        ri++;
        nextShared = shared[sharedIndex++];
        continue;
      }
      if (r.observed.has(pe.id) && nextShared && nextShared.id !== pe.id) {
        li++;
        continue;
      }
    }
    if (li < l.pes.length) {
      const pe = l.pes[li]!;
      if (!r.observed.has(pe.id)) {
        emit(pe, l.items[li], undefined);
        li++;
        continue;
      }
      if (mergedRHS.has(pe.id)) li++;
    }
    if (ri < r.pes.length) {
      const pe = r.pes[ri]!;
      mergedRHS.add(pe.id);
      emit(pe, l.observed.get(pe.id), r.observed.get(pe.id));
      ri++;
      if (nextShared && nextShared.id === pe.id) nextShared = shared[sharedIndex++];
    }
  }
  return out;
}

// ---- removal ----

/**
 * The value without the fields of `toRemove` (a member removes the whole field or item). Maps and
 * lists left empty disappear; atomic ones reached by the set are removed whole.
 */
export function removeItems(tr: TypeRef, v: unknown, toRemove: FieldSet): unknown {
  const atom = tr.atom;
  switch (handlerFor(atom, v)) {
    case 'list': {
      if (!Array.isArray(v) || v.length === 0 || atom.list!.atomic) return undefined;
      const t = atom.list!;
      const out: unknown[] = [];
      for (const item of v) {
        const pe = listItemPE(t, item);
        if (typeof pe === 'string') {
          out.push(item);
          continue;
        }
        if (toRemove.members.has(pe.id)) continue;
        const sub = toRemove.withPrefix(pe);
        out.push(sub.isEmpty() ? item : removeItems(t.elem, item, sub) ?? null);
      }
      return out.length ? out : undefined;
    }
    case 'map': {
      if (!isMap(v) || Object.keys(v).length === 0 || atom.map!.atomic) return undefined;
      const t = atom.map!;
      const out: Json = {};
      for (const [key, val] of Object.entries(v)) {
        const pe = fieldPE(key);
        if (toRemove.members.has(pe.id)) continue;
        const sub = toRemove.withPrefix(pe);
        const ft = fieldType(t, key);
        const kept = sub.isEmpty() || !ft ? val : removeItems(ft, val, sub);
        if (kept !== undefined) out[key] = kept;
      }
      return Object.keys(out).length ? out : undefined;
    }
    default:
      return v;
  }
}
