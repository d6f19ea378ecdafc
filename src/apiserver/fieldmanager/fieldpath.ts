// Field paths and field sets as sigs.k8s.io/structured-merge-diff (v4) defines them, and their
// FieldsV1 encoding, the JSON form managedFields entries carry:
//   {"f:spec":{"f:replicas":{}, "f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"web\"}":{".":{},"f:image":{}}}}}}}
// A path element is a field name (`f:`), an associative list item's key fields (`k:`), a set
// item's value (`v:`) or an atomic list's index (`i:`). A set is a tree: `members` are the paths
// that belong to the set, `children` lead to deeper members; `.` in FieldsV1 marks a node that is
// both. Sets are built with `insert` and never changed afterwards: the operations share subtrees.
import { goQuote } from '../../api/validation/field.js';

export type PathElement =
  | { readonly kind: 'field'; readonly name: string; readonly id: string }
  | { readonly kind: 'key'; readonly fields: readonly (readonly [string, unknown])[]; readonly id: string }
  | { readonly kind: 'value'; readonly value: unknown; readonly id: string }
  | { readonly kind: 'index'; readonly index: number; readonly id: string };

export type Path = readonly PathElement[];

// ---- Go-compatible JSON and ordering ----

/**
 * A JSON value as Go's encoding/json writes it: map keys sorted byte-wise, `<`, `>`, `&`, U+2028 and
 * U+2029 escaped. Used wherever upstream's bytes are visible (path element keys, the last-applied
 * annotation).
 */
export function goJSON(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  switch (typeof v) {
    case 'string': return goJSONString(v);
    case 'number': return Number.isFinite(v) ? JSON.stringify(v) : 'null';
    case 'boolean': return v ? 'true' : 'false';
  }
  if (Array.isArray(v)) return `[${v.map(goJSON).join(',')}]`;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort(compareStrings);
  return `{${keys.map((k) => `${goJSONString(k)}:${goJSON(o[k])}`).join(',')}}`;
}

const HTML_UNSAFE = /[<>&\u2028\u2029]/g;
const HAS_HTML_UNSAFE = /[<>&\u2028\u2029]/;

function goJSONString(s: string): string {
  const json = JSON.stringify(s);
  // Most strings (names, keys, condition types) have nothing to escape: skip the replacement pass.
  return HAS_HTML_UNSAFE.test(s) ? json.replace(HTML_UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) : json;
}

/** Go's string order (UTF-8 bytes, i.e. code points); UTF-16 units differ only around surrogates. */
export function compareStrings(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i), y = b.charCodeAt(i);
    if (x !== y) return x >= 0xd800 && y >= 0xd800 ? codePointRank(x) - codePointRank(y) : x - y;
  }
  return a.length - b.length;
}

/** Surrogates (astral code points) sort after U+E000–U+FFFF. */
const codePointRank = (unit: number) => (unit >= 0xe000 ? unit - 0x800 : unit + 0x2000);

type Json = Record<string, unknown>;
export const isMap = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** structured-merge-diff's total order of values: numbers, strings, booleans, lists, maps, null. */
export function compareValues(a: unknown, b: unknown): number {
  const ra = valueRank(a), rb = valueRank(b);
  if (ra !== rb) return ra - rb;
  switch (ra) {
    case 0: return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
    case 1: return Math.sign(compareStrings(a as string, b as string));
    case 2: return a === b ? 0 : a ? 1 : -1;
    case 3: {
      const x = a as unknown[], y = b as unknown[];
      for (let i = 0; i < Math.min(x.length, y.length); i++) {
        const c = compareValues(x[i], y[i]);
        if (c !== 0) return c;
      }
      return Math.sign(x.length - y.length);
    }
    case 4: {
      const x = a as Json, y = b as Json;
      const keys = [...new Set([...Object.keys(x), ...Object.keys(y)])].sort(compareStrings);
      for (const k of keys) {
        if (!(k in x)) return 1;
        if (!(k in y)) return -1;
        const c = compareValues(x[k], y[k]);
        if (c !== 0) return c;
      }
      return 0;
    }
    default: return 0;
  }
}

function valueRank(v: unknown): number {
  if (typeof v === 'number') return 0;
  if (typeof v === 'string') return 1;
  if (typeof v === 'boolean') return 2;
  if (Array.isArray(v)) return 3;
  if (isMap(v)) return 4;
  return 5;
}

/** Deep equality of JSON values (numbers compare numerically, as Go's int/float comparison does). */
export function valuesEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!valuesEqual(a[i], b[i])) return false;
    return true;
  }
  if (isMap(a)) {
    if (!isMap(b)) return false;
    const ka = Object.keys(a), kb = Object.keys(b);
    if (ka.length !== kb.length) return false;
    for (const k of ka) if (!(k in b) || !valuesEqual(a[k], b[k])) return false;
    return true;
  }
  return false;
}

// ---- path elements ----

/**
 * Field elements by name, shared (elements are immutable): comparing two objects makes one for
 * every field it visits, on every write. Bounded, since map keys (labels, annotations) are data.
 */
const fieldPEs = new Map<string, PathElement>();
const FIELD_PES_MAX = 4096;

export function fieldPE(name: string): PathElement {
  let pe = fieldPEs.get(name);
  if (!pe) {
    if (fieldPEs.size >= FIELD_PES_MAX) fieldPEs.clear();
    pe = { kind: 'field', name, id: `f:${name}` };
    fieldPEs.set(name, pe);
  }
  return pe;
}

/** An associative list item by its key fields (sorted by name here). */
export function keyPE(fields: (readonly [string, unknown])[]): PathElement {
  const sorted = fields.length > 1 ? [...fields].sort((a, b) => compareStrings(a[0], b[0])) : fields;
  let id = 'k:{';
  for (let i = 0; i < sorted.length; i++) {
    const [n, v] = sorted[i]!;
    id += `${i > 0 ? ',' : ''}${goJSONString(n)}:${goJSON(v)}`;
  }
  return { kind: 'key', fields: sorted, id: `${id}}` };
}

/**
 * The element of an item with one string key field (a condition's type, a container's name, an
 * IP), shared: every comparison makes one for each item of both sides. Bounded, as fieldPE's.
 */
export function stringKeyPE(name: string, value: string): PathElement {
  // By key field name (from the schema: a few), then by value (no key string to build and hash).
  let byValue = stringKeyPEs.get(name);
  if (!byValue) stringKeyPEs.set(name, (byValue = new Map()));
  let pe = byValue.get(value);
  if (!pe) {
    if (byValue.size >= STRING_KEY_PES_MAX) byValue.clear();
    pe = keyPE([[name, value]]);
    byValue.set(value, pe);
  }
  return pe;
}

const stringKeyPEs = new Map<string, Map<string, PathElement>>();
const STRING_KEY_PES_MAX = 4096;

export function valuePE(value: unknown): PathElement {
  return { kind: 'value', value, id: `v:${goJSON(value)}` };
}

export function indexPE(index: number): PathElement {
  return { kind: 'index', index, id: `i:${index}` };
}

const KIND_ORDER = { field: 0, key: 1, value: 2, index: 3 } as const;

/** Upstream's PathElement.Compare: fields, then keys, then values, then indices. */
export function comparePE(a: PathElement, b: PathElement): number {
  if (a.kind !== b.kind) return KIND_ORDER[a.kind] - KIND_ORDER[b.kind];
  switch (a.kind) {
    case 'field': return Math.sign(compareStrings(a.name, (b as typeof a).name));
    case 'value': return compareValues(a.value, (b as typeof a).value);
    case 'index': return Math.sign(a.index - (b as typeof a).index);
    case 'key': {
      const x = a.fields, y = (b as typeof a).fields;
      for (let i = 0; ; i++) {
        if (i >= x.length && i >= y.length) return 0;
        if (i >= x.length) return -1;
        if (i >= y.length) return 1;
        const c = Math.sign(compareStrings(x[i]![0], y[i]![0])) || compareValues(x[i]![1], y[i]![1]);
        if (c !== 0) return c;
      }
    }
  }
}

/** How upstream prints an element in paths and messages: `.name`, `[name="web"]`, `[=value]`, `[0]`. */
export function peString(pe: PathElement): string {
  switch (pe.kind) {
    case 'field': return `.${pe.name}`;
    case 'key': return `[${pe.fields.map(([n, v]) => `${n}=${valueString(v)}`).join(',')}]`;
    case 'value': return `[=${valueString(pe.value)}]`;
    case 'index': return `[${pe.index}]`;
  }
}

export function pathString(path: Path): string {
  return path.map(peString).join('');
}

/** value.ToString: strings quoted as Go's %q does, other scalars bare, lists bracketed. */
function valueString(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'string') return goQuote(v);
  if (typeof v === 'number') return goNumber(v);
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(valueString).join(',')}]`;
  return Object.keys(v as Json).map((k) => `${k}=${valueString((v as Json)[k])}`).join('');
}

/**
 * Go's %v of a number as decoded from JSON: integers are int64 and print in full; other numbers
 * are float64 and print as %g with the shortest digits (exponent form below 1e-4 and from 1e6 on).
 */
export function goNumber(n: number): string {
  if (Number.isInteger(n) && Math.abs(n) < 2 ** 63) return BigInt(n).toString();
  if (!Number.isFinite(n)) return n > 0 ? '+Inf' : n < 0 ? '-Inf' : 'NaN';
  const [mantissa, e] = n.toExponential().split('e') as [string, string];
  const exp = Number(e);
  if (exp < -4 || exp >= 6) return `${mantissa}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  return String(n);
}

/** Parses a FieldsV1 key. Unknown element types are skipped (undefined), as upstream does. */
function parsePE(s: string): PathElement | undefined {
  if (s.length < 2) throw new Error('key must be 2 characters long:');
  if (s[1] !== ':') throw new Error(`missing colon: ${s}`);
  const body = s.slice(2);
  switch (s[0]) {
    case 'f': return fieldPE(body);
    case 'v': return valuePE(JSON.parse(body));
    case 'k': {
      const o = JSON.parse(body) as unknown;
      if (!isMap(o)) throw new Error(`expected a key object: ${s}`);
      return keyPE(Object.entries(o));
    }
    case 'i': {
      if (!/^[+-]?\d+$/.test(body)) throw new Error(`strconv.Atoi: parsing ${JSON.stringify(body)}: invalid syntax`);
      return indexPE(Number(body));
    }
    default: return undefined;
  }
}

// ---- sets ----

interface Child {
  readonly pe: PathElement;
  readonly set: FieldSet;
}

/** The map of a set without members or without children, shared by all of them: never written to. */
class SharedEmptyMap<V> extends Map<string, V> {
  override set(): this {
    throw new Error('a FieldSet wrote to the shared empty map');
  }
}
const NO_MEMBERS: Map<string, PathElement> = new SharedEmptyMap();
const NO_CHILDREN: Map<string, Child> = new SharedEmptyMap();

export class FieldSet {
  /**
   * This level's members and children. A set without either shares an empty map until insert()
   * gives it its own: most sets built per write (comparisons, intersections, decoded leaves) lack
   * one or the other. Only insert() and descend() replace them; read them, never write to them.
   */
  members: Map<string, PathElement>;
  children: Map<string, Child>;

  constructor(members: Map<string, PathElement> = NO_MEMBERS, children: Map<string, Child> = NO_CHILDREN) {
    this.members = members;
    this.children = children;
  }

  static of(...paths: Path[]): FieldSet {
    const s = new FieldSet();
    for (const p of paths) s.insert(p);
    return s;
  }

  /** Adds a path (not its parents). The empty path, the whole object, is never tracked. Only while building. */
  insert(path: Path): void {
    if (path.length === 0) return;
    let s: FieldSet = this;
    for (let i = 0; i < path.length - 1; i++) s = s.descend(path[i]!);
    const last = path[path.length - 1]!;
    if (s.members === NO_MEMBERS) s.members = new Map();
    s.members.set(last.id, last);
  }

  private descend(pe: PathElement): FieldSet {
    let c = this.children.get(pe.id);
    if (!c) {
      if (this.children === NO_CHILDREN) this.children = new Map();
      this.children.set(pe.id, (c = { pe, set: new FieldSet() }));
    }
    return c.set;
  }

  has(path: Path): boolean {
    if (path.length === 0) return false;
    let s: FieldSet | undefined = this;
    for (let i = 0; i < path.length - 1 && s; i++) s = s.children.get(path[i]!.id)?.set;
    return !!s && s.members.has(path[path.length - 1]!.id);
  }

  /** Whether `o` has the same members and children, level by level (so the two encode alike; upstream's Set.Equals). */
  equals(o: FieldSet): boolean {
    if (this === o) return true;
    if (this.members.size !== o.members.size || this.children.size !== o.children.size) return false;
    for (const k of this.members.keys()) if (!o.members.has(k)) return false;
    for (const [k, c] of this.children) {
      const theirs = o.children.get(k);
      if (!theirs || !c.set.equals(theirs.set)) return false;
    }
    return true;
  }

  isEmpty(): boolean {
    if (this.members.size > 0) return false;
    for (const c of this.children.values()) if (!c.set.isEmpty()) return false;
    return true;
  }

  /** The subset under one element, without the element. */
  withPrefix(pe: PathElement): FieldSet {
    return this.children.get(pe.id)?.set ?? EMPTY;
  }

  /** Whether every member of this set is a member of `o` at the same place. */
  isSubsetOf(o: FieldSet): boolean {
    if (this === o) return true;
    if (this.members.size > o.members.size || this.children.size > o.children.size) return false;
    for (const k of this.members.keys()) if (!o.members.has(k)) return false;
    for (const [k, c] of this.children) {
      const theirs = o.children.get(k);
      if (!theirs || !c.set.isSubsetOf(theirs.set)) return false;
    }
    return true;
  }

  union(o: FieldSet): FieldSet {
    if (o.isEmpty()) return this;
    if (this.isEmpty()) return o;
    // A write's few changed fields usually lie within what their manager already owns: then the
    // union is that set itself, without copying it.
    if (this.isSubsetOf(o)) return o;
    if (o.isSubsetOf(this)) return this;
    const members = new Map(this.members);
    for (const [k, pe] of o.members) members.set(k, pe);
    const children = new Map(this.children);
    for (const [k, c] of o.children) {
      const mine = children.get(k);
      children.set(k, mine ? { pe: mine.pe, set: mine.set.union(c.set) } : c);
    }
    return new FieldSet(members, children);
  }

  /**
   * Members in both, and children's intersections (a member never meets a child). Nothing in
   * common gives the shared empty set: every manager's set meets each write's changed fields, and
   * most have nothing in common with them.
   */
  intersection(o: FieldSet): FieldSet {
    // Looked up from the smaller side (a manager's whole set meets a write's few changed fields);
    // the elements are this set's either way.
    let members: Map<string, PathElement> | undefined;
    if (this.members.size <= o.members.size) {
      for (const [k, pe] of this.members) if (o.members.has(k)) (members ??= new Map()).set(k, pe);
    } else {
      for (const k of o.members.keys()) {
        const pe = this.members.get(k);
        if (pe) (members ??= new Map()).set(k, pe);
      }
    }
    let children: Map<string, Child> | undefined;
    const smaller = this.children.size <= o.children.size ? this.children : o.children;
    const larger = smaller === this.children ? o.children : this.children;
    for (const [k, c] of smaller) {
      const other = larger.get(k);
      if (!other) continue;
      const mine = smaller === this.children ? c : other, theirs = mine === c ? other : c;
      const set = mine.set.intersection(theirs.set);
      if (!set.isEmpty()) (children ??= new Map()).set(k, { pe: mine.pe, set });
    }
    return members || children ? new FieldSet(members, children) : EMPTY;
  }

  /**
   * Members not in `o`; children minus `o`'s children. A member of `o` does not remove a child of
   * this set. Returns this set itself when nothing is removed.
   */
  difference(o: FieldSet): FieldSet {
    if (o.members.size === 0 && o.children.size === 0) return this;
    const members = new Map<string, PathElement>();
    for (const [k, pe] of this.members) if (!o.members.has(k)) members.set(k, pe);
    const children = new Map<string, Child>();
    let changed = members.size !== this.members.size;
    for (const [k, c] of this.children) {
      const theirs = o.children.get(k);
      if (!theirs) children.set(k, c);
      else {
        const set = c.set.difference(theirs.set);
        if (set !== c.set) changed = true;
        if (set === c.set) children.set(k, c);
        else if (!set.isEmpty()) children.set(k, { pe: c.pe, set });
      }
    }
    return changed ? new FieldSet(members, children) : this;
  }

  /**
   * Like difference, but a member of `o` also removes everything beneath it. Returns this set
   * itself when none of its elements is one of `o`'s (the reset fields of an endpoint, taken out
   * of every write's changes, are usually not among them).
   */
  recursiveDifference(o: FieldSet): FieldSet {
    if (!this.meets(o)) return this;
    const members = new Map<string, PathElement>();
    for (const [k, pe] of this.members) if (!o.members.has(k)) members.set(k, pe);
    const children = new Map<string, Child>();
    for (const [k, c] of this.children) {
      if (o.members.has(k)) continue;
      const theirs = o.children.get(k);
      if (!theirs) children.set(k, c);
      else {
        const set = c.set.recursiveDifference(theirs.set);
        if (!set.isEmpty()) children.set(k, set === c.set ? c : { pe: c.pe, set });
      }
    }
    return new FieldSet(members, children);
  }

  /** Whether any element of this level is also one of `o`'s (a member or a child there). */
  private meets(o: FieldSet): boolean {
    for (const k of this.members.keys()) if (o.members.has(k)) return true;
    for (const k of this.children.keys()) if (o.members.has(k) || o.children.has(k)) return true;
    return false;
  }

  /** Every member, in upstream's order: this level's members (sorted), then each child's, depth first. */
  paths(prefix: Path = []): Path[] {
    const out: Path[] = [];
    for (const pe of sortPEs([...this.members.values()])) out.push([...prefix, pe]);
    for (const c of sortChildren(this.children)) out.push(...c.set.paths([...prefix, c.pe]));
    return out;
  }

  /** The FieldsV1 JSON object, keys in upstream's order. */
  toFieldsV1(): Record<string, unknown> {
    return this.emit(false);
  }

  private emit(includeSelf: boolean): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    if (includeSelf) out['.'] = {};
    // Each element once (a member's own element where it is also a child), in upstream's order;
    // a child that is also a member marks itself with ".". Built without a record per element:
    // every write that changes a manager's fields encodes its set again.
    const members = this.members, children = this.children;
    const elements: PathElement[] = [];
    for (const pe of members.values()) elements.push(pe);
    if (children.size === 0) {
      // A level of members only (most levels): each is `{}`.
      sortElements(elements);
      for (let i = 0; i < elements.length; i++) out[elements[i]!.id] = {};
      return out;
    }
    for (const c of children.values()) if (!members.has(c.pe.id)) elements.push(c.pe);
    sortElements(elements);
    for (let i = 0; i < elements.length; i++) {
      const pe = elements[i]!;
      const child = children.get(pe.id);
      out[pe.id] = child ? child.set.emit(members.has(pe.id)) : {};
    }
    return out;
  }

  /**
   * Reads FieldsV1 JSON; throws on malformed keys. Every write decodes the object's stored entries
   * again, and many are the same text (all pods of one template share their spec entry; an
   * object's entries rarely change between its writes): decoded sets are kept by their JSON text,
   * which is safe because sets are never changed once built.
   */
  static fromFieldsV1(json: unknown): FieldSet {
    if (!isMap(json)) throw new Error('FieldsV1 must be a JSON object');
    const text = fieldsV1Key(json);
    const cached = decodedSets.get(text);
    if (cached) {
      // Most recently used last: the oldest entries go first when the cache is full.
      decodedSets.delete(text);
      decodedSets.set(text, cached);
      return cached;
    }
    const set = readLevel(json).children ?? new FieldSet();
    if (decodedSets.size >= DECODED_SETS_MAX) decodedSets.delete(decodedSets.keys().next().value as string);
    decodedSets.set(text, set);
    return set;
  }
}

/**
 * The cache key of a FieldsV1 object: a text that only equal JSON values (same keys in the same
 * order, same values) share, as JSON.stringify's, made in about half its time (its keys hold
 * quotes, which JSON.stringify escapes): each key is written with its length, then its value as
 * `{...}` when it is an object (nearly all are) or `=<JSON>;` otherwise.
 */
function fieldsV1Key(json: Json): string {
  let out = '';
  for (const key in json) {
    if (!Object.prototype.hasOwnProperty.call(json, key)) continue;
    const value = json[key];
    out += `${key.length}:${key}`;
    out += isMap(value) ? `{${fieldsV1Key(value)}}` : `=${JSON.stringify(value) ?? ''};`;
  }
  return out;
}

/** How many decoded FieldsV1 texts fromFieldsV1 keeps. */
const DECODED_SETS_MAX = 512;
const decodedSets = new Map<string, FieldSet>();

/** The empty set that withPrefix and intersection share; frozen, so that an insert into it throws. */
const EMPTY = Object.freeze(new FieldSet()) as FieldSet;

/** What readLevel gives for a level without keys: its parent is a member. */
const LEAF: { readonly children?: FieldSet; readonly isMember: boolean } = { isMember: true };

/** One FieldsV1 object: the set of its keys, and whether it marks its parent as a member. */
function readLevel(json: Json): { children?: FieldSet; isMember: boolean } {
  let members: Map<string, PathElement> | undefined;
  let children: Map<string, Child> | undefined;
  let isMember = false;
  for (const key in json) {
    if (!Object.prototype.hasOwnProperty.call(json, key)) continue;
    const value = json[key];
    if (key === '.') {
      isMember = true;
      continue;
    }
    const pe = parsePE(key);
    if (!pe) continue;
    const sub = isMap(value) ? readLevel(value) : LEAF;
    if (sub.isMember) (members ??= new Map()).set(pe.id, pe);
    if (sub.children) {
      const existing = children?.get(pe.id);
      (children ??= new Map()).set(pe.id, { pe, set: existing ? existing.set.union(sub.children) : sub.children });
    }
  }
  if (!members && !children) return LEAF;
  return { children: new FieldSet(members, children), isMember };
}

/**
 * Sorts one level's elements in upstream's order (comparePE), in place: an insertion sort, as
 * stable as Array.prototype.sort and quicker for the few elements a level has.
 */
function sortElements(pes: PathElement[]): void {
  if (pes.length > 24) {
    pes.sort(comparePE);
    return;
  }
  for (let i = 1; i < pes.length; i++) {
    const pe = pes[i]!;
    let j = i - 1;
    while (j >= 0 && comparePE(pes[j]!, pe) > 0) {
      pes[j + 1] = pes[j]!;
      j--;
    }
    pes[j + 1] = pe;
  }
}

function sortPEs(pes: PathElement[]): PathElement[] {
  return pes.sort(comparePE);
}

function sortChildren(children: Map<string, Child>): Child[] {
  return [...children.values()].sort((a, b) => comparePE(a.pe, b.pe));
}
