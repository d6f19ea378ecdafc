// Runtime access to the OpenAPI v3 definitions that scripts/gen-openapi.mjs generates at build time
// (dist/openapi/definitions.json, upstream names such as io.k8s.api.core.v1.PodSpec), and the
// schema walks that use them: server-side unknown and duplicate field detection, as upstream's
// strict JSON decoding reports them.
//
// The file is read on first use, not at import: the server must start in well under 300 ms and
// many requests never need a schema.
import { readFileSync } from 'node:fs';
import { NAMED_FIELD_TYPES } from './go-type-names.js';
import { RFC3339, RFC3339_MICRO, timeParseError } from './go-time.js';
import { QUANTITY_FORMAT_ERROR, QUANTITY_SUFFIX_ERROR } from './validation/quantity.js';

export interface SchemaNode {
  type?: string;
  format?: string;
  description?: string;
  properties?: Record<string, SchemaNode>;
  required?: string[];
  additionalProperties?: SchemaNode | boolean;
  items?: SchemaNode;
  allOf?: SchemaNode[];
  oneOf?: SchemaNode[];
  $ref?: string;
  default?: unknown;
  'x-kubernetes-group-version-kind'?: { group: string; version: string; kind: string }[];
  'x-kubernetes-patch-strategy'?: string;
  'x-kubernetes-patch-merge-key'?: string;
  'x-kubernetes-list-type'?: string;
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-map-type'?: string;
  [extension: string]: unknown;
}

const REF_PREFIX = '#/components/schemas/';
const DEFINITIONS_FILE = new URL('../../openapi/definitions.json', import.meta.url);

let loaded: {
  definitions: Record<string, SchemaNode>;
  byKind: Map<string, SchemaNode>;
  byRef: Map<string, SchemaNode>;
  /** `<apiVersion>/<kind>` → definition name, e.g. `apps/v1/Deployment` → `io.k8s.api.apps.v1.Deployment`. */
  kindDefinitions: Map<string, string>;
} | undefined;

function load() {
  if (loaded) return loaded;
  let text: string;
  try {
    text = readFileSync(DEFINITIONS_FILE, 'utf8');
  } catch (e) {
    throw new Error(`OpenAPI definitions missing (${(e as Error).message}): run \`npm run build\`, which generates them`);
  }
  const definitions = JSON.parse(text) as Record<string, SchemaNode>;
  const byKind = new Map<string, SchemaNode>();
  const byRef = new Map<string, SchemaNode>();
  const kindDefinitions = new Map<string, string>();
  for (const [name, node] of Object.entries(definitions)) {
    byRef.set(`${REF_PREFIX}${name}`, node);
    for (const gvk of node['x-kubernetes-group-version-kind'] ?? []) {
      const key = `${gvk.group ? `${gvk.group}/${gvk.version}` : gvk.version}/${gvk.kind}`;
      byKind.set(key, node);
      kindDefinitions.set(key, name);
    }
  }
  loaded = { definitions, byKind, byRef, kindDefinitions };
  return loaded;
}

/** All definitions, keyed by upstream name. Shared: do not modify. */
export function definitions(): Record<string, SchemaNode> {
  return load().definitions;
}

/** The definition of a kind, e.g. ('apps/v1', 'Deployment') or ('autoscaling/v1', 'Scale'). */
export function schemaForKind(apiVersion: string, kind: string): SchemaNode | undefined {
  return load().byKind.get(`${apiVersion}/${kind}`);
}

/** Resolves `#/components/schemas/<name>`. */
export function resolveRef(ref: string): SchemaNode | undefined {
  return load().byRef.get(ref);
}

/** The schema a node stands for: follows `$ref` and the single-entry `allOf` wrapper upstream puts around refs. */
export function resolveSchema(node: SchemaNode | undefined): SchemaNode | undefined {
  for (let hops = 0; node && hops < 8; hops++) {
    if (node.$ref !== undefined) node = resolveRef(node.$ref);
    else if (node.allOf?.length === 1) node = node.allOf[0];
    else return node;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Unknown fields. Upstream decodes a body into the Go type; with fieldValidation Strict or Warn the
// decoder reports each JSON key that matches no field (case-sensitively), with its path in the
// form `spec.template.spec.containers[0].imagee` (map keys join with dots as well). Types with their
// own JSON decoding (Time, Quantity, IntOrString, FieldsV1, RawExtension) are not looked into, and
// neither is the value of an unknown key. The decoder keeps at most 100 strict errors.

const MAX_STRICT_ERRORS = 100;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The path being walked, rendered only when reported: keys joined by dots, list indices as `[i]`. */
class FieldPath {
  private readonly segments: (string | number)[] = [];

  push(segment: string | number): void {
    this.segments.push(segment);
  }

  pop(): void {
    this.segments.pop();
  }

  render(): string {
    let out = '';
    for (const s of this.segments) out += typeof s === 'number' ? `[${s}]` : out ? `.${s}` : s;
    return out;
  }
}

/** Paths of the fields of `obj` that the kind's schema does not have. An unknown kind has none. */
export function findUnknownFields(apiVersion: string, kind: string, obj: unknown): string[] {
  const found: string[] = [];
  walkUnknown(schemaForKind(apiVersion, kind), obj, new FieldPath(), found, false);
  return found;
}

/**
 * Removes the fields of `obj` that the kind's schema does not have, as upstream's decoding into the
 * Go type drops them, and returns their paths (all of them, even beyond the first 100).
 */
export function pruneUnknownFields(apiVersion: string, kind: string, obj: unknown): string[] {
  const found: string[] = [];
  walkUnknown(schemaForKind(apiVersion, kind), obj, new FieldPath(), found, true);
  return found;
}

/**
 * What walkUnknown needs of a schema node, taken from it once (resolved through `$ref` and
 * `allOf`): every write walks its object against the same nodes. Undefined where the walk stops.
 */
interface UnknownWalk {
  /** A struct's fields (own properties only), each with its own walk. */
  readonly fields?: Map<string, UnknownWalk | undefined>;
  /** A map's values. */
  readonly values?: UnknownWalk;
  /** A list's items. */
  readonly items?: UnknownWalk;
  /** Whether arrays (items) or objects (fields, values) are looked into. */
  readonly list: boolean;
  readonly object: boolean;
}

const unknownWalks = new Map<SchemaNode, UnknownWalk | null>();

function unknownWalkOf(schema: SchemaNode | undefined): UnknownWalk | undefined {
  if (!schema) return undefined;
  const cached = unknownWalks.get(schema);
  if (cached !== undefined) return cached ?? undefined;
  const node = resolveSchema(schema);
  if (!node) {
    unknownWalks.set(schema, null);
    return undefined;
  }
  const properties = node.properties;
  const mapValues = !properties && isObject(node.additionalProperties) ? node.additionalProperties : undefined;
  const walk: { fields?: Map<string, UnknownWalk | undefined>; values?: UnknownWalk; items?: UnknownWalk; list: boolean; object: boolean } = {
    list: !!node.items, object: !!properties || !!mapValues,
  };
  // Entered before its parts are made: recursive definitions reach it again.
  unknownWalks.set(schema, walk);
  if (properties) {
    walk.fields = new Map();
    for (const key of Object.keys(properties)) walk.fields.set(key, unknownWalkOf(properties[key]));
  }
  if (mapValues) walk.values = unknownWalkOf(mapValues);
  if (node.items) walk.items = unknownWalkOf(node.items);
  return walk;
}

function walkUnknown(schema: SchemaNode | undefined, value: unknown, path: FieldPath, found: string[], prune: boolean): void {
  walkUnknownWith(unknownWalkOf(schema), value, path, found, prune);
}

function walkUnknownWith(walk: UnknownWalk | undefined, value: unknown, path: FieldPath, found: string[], prune: boolean): void {
  if (!walk || value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    if (!walk.list) return;
    for (let i = 0; i < value.length; i++) {
      path.push(i);
      walkUnknownWith(walk.items, value[i], path, found, prune);
      path.pop();
    }
    return;
  }
  if (!walk.object) return;
  const fields = walk.fields, values = walk.values;
  for (const key in value) {
    path.push(key);
    if (fields === undefined || fields.has(key)) walkUnknownWith(fields === undefined ? values : fields.get(key), (value as Json)[key], path, found, prune);
    else {
      if (prune || found.length < MAX_STRICT_ERRORS) found.push(path.render());
      if (prune) delete (value as Json)[key];
    }
    path.pop();
  }
}

// ---------------------------------------------------------------------------------------------
// Duplicate fields exist only in the JSON text, so they are found by scanning it alongside the
// schema. The scan reports unknown fields too, which gives upstream's strict errors in upstream's
// order (document order, each message once): `unknown field "spec.foo"`, `duplicate field "spec.replicas"`.
// A duplicate is a repeated key of a map, or a repeated known field of a struct; a repeated unknown
// key is one unknown field.

/**
 * Upstream's strict decoding errors for a JSON body of the given kind, as they appear after
 * `strict decoding error: ` (joined with ", "). `json` must be valid JSON (parse it first).
 */
export function strictDecodingErrors(apiVersion: string, kind: string, json: string): string[] {
  const scanner = new StrictScanner(json);
  scanner.value(schemaForKind(apiVersion, kind));
  return scanner.errors;
}

/**
 * The members of every object in a JSON text (keys, duplicates included). `json` must be valid
 * JSON. Against countParsedKeys of its JSON.parse result, which keeps one member per key, it tells
 * whether the text repeats a key anywhere: then the two differ.
 */
export function countJSONKeys(json: string): number {
  let keys = 0;
  for (let pos = json.indexOf('"'); pos >= 0; pos = json.indexOf('"', pos)) {
    // Jump to the string's closing quote: one preceded by an even number of backslashes.
    let end = pos + 1;
    for (;;) {
      end = json.indexOf('"', end);
      if (end < 0) throw new SyntaxError('unterminated string');
      let backslashes = 0;
      while (json.charCodeAt(end - 1 - backslashes) === BACKSLASH) backslashes++;
      if (backslashes % 2 === 0) break;
      end++;
    }
    pos = end + 1;
    let c = json.charCodeAt(pos);
    while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = json.charCodeAt(++pos);
    if (c === COLON) keys++;
  }
  return keys;
}

/** The members of every object in a parsed JSON value. */
export function countParsedKeys(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0;
  let keys = 0;
  if (Array.isArray(value)) {
    for (const item of value) keys += countParsedKeys(item);
    return keys;
  }
  for (const key in value) keys += 1 + countParsedKeys((value as Json)[key]);
  return keys;
}

const QUOTE = 0x22, BACKSLASH = 0x5c, OPEN_BRACE = 0x7b, CLOSE_BRACE = 0x7d, OPEN_BRACKET = 0x5b, CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c, COLON = 0x3a;

class StrictScanner {
  readonly errors: string[] = [];
  private readonly seen = new Set<string>();
  private readonly path = new FieldPath();
  private pos = 0;

  constructor(private readonly text: string) {}

  /** Scans one value at pos; `schema` undefined means nothing is checked inside it. */
  value(schema: SchemaNode | undefined): void {
    this.skipSpace();
    const c = this.text.charCodeAt(this.pos);
    const node = schema && resolveSchema(schema);
    if (c === OPEN_BRACE) this.object(node);
    else if (c === OPEN_BRACKET) this.array(node?.items);
    else if (c === QUOTE) this.skipString();
    else this.literal();
  }

  private object(node: SchemaNode | undefined): void {
    const properties = node?.properties;
    const mapValues = !properties && isObject(node?.additionalProperties) ? node.additionalProperties : undefined;
    const checked = properties !== undefined || mapValues !== undefined;
    const keys = checked ? new Set<string>() : undefined;
    this.pos++;
    this.skipSpace();
    if (this.text.charCodeAt(this.pos) === CLOSE_BRACE) {
      this.pos++;
      return;
    }
    for (;;) {
      this.skipSpace();
      const key = this.string();
      this.skipSpace();
      this.expect(COLON);
      let child: SchemaNode | undefined;
      this.path.push(key);
      if (keys) {
        const known = mapValues !== undefined || Object.prototype.hasOwnProperty.call(properties, key);
        if (!known) this.report('unknown field');
        else {
          if (keys.has(key)) this.report('duplicate field');
          keys.add(key);
          child = mapValues ?? properties![key];
        }
      }
      this.value(child);
      this.path.pop();
      this.skipSpace();
      if (this.text.charCodeAt(this.pos) === COMMA) {
        this.pos++;
        continue;
      }
      this.expect(CLOSE_BRACE);
      return;
    }
  }

  private array(items: SchemaNode | undefined): void {
    this.pos++;
    this.skipSpace();
    if (this.text.charCodeAt(this.pos) === CLOSE_BRACKET) {
      this.pos++;
      return;
    }
    for (let i = 0; ; i++) {
      this.path.push(i);
      this.value(items);
      this.path.pop();
      this.skipSpace();
      if (this.text.charCodeAt(this.pos) === COMMA) {
        this.pos++;
        continue;
      }
      this.expect(CLOSE_BRACKET);
      return;
    }
  }

  /** Reads a string at pos and returns its value (decoded only when it has escapes). */
  private string(): string {
    const start = this.pos + 1;
    this.skipString();
    const raw = this.text.slice(start, this.pos - 1);
    return raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
  }

  private skipString(): void {
    this.expect(QUOTE);
    // Jump from quote to quote; a quote preceded by an odd number of backslashes is escaped.
    for (;;) {
      const end = this.text.indexOf('"', this.pos);
      if (end < 0) throw new SyntaxError('unterminated string');
      let backslashes = 0;
      while (this.text.charCodeAt(end - 1 - backslashes) === BACKSLASH) backslashes++;
      this.pos = end + 1;
      if (backslashes % 2 === 0) return;
    }
  }

  private literal(): void {
    const start = this.pos;
    while (this.pos < this.text.length) {
      const c = this.text.charCodeAt(this.pos);
      if (c === COMMA || c === CLOSE_BRACE || c === CLOSE_BRACKET || c <= 0x20) break;
      this.pos++;
    }
    if (this.pos === start) throw new SyntaxError(`unexpected character at ${start}`);
  }

  private skipSpace(): void {
    for (let c = this.text.charCodeAt(this.pos); c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09; ) c = this.text.charCodeAt(++this.pos);
  }

  private expect(code: number): void {
    if (this.text.charCodeAt(this.pos) !== code) throw new SyntaxError(`expected ${String.fromCharCode(code)} at ${this.pos}`);
    this.pos++;
  }

  private report(type: string): void {
    const message = `${type} ${JSON.stringify(this.path.render())}`;
    if (this.errors.length >= MAX_STRICT_ERRORS || this.seen.has(message)) return;
    this.seen.add(message);
    this.errors.push(message);
  }
}

// ---------------------------------------------------------------------------------------------
// Decode errors. Upstream decodes a body into the Go type before anything else looks at it, and a
// JSON value of the wrong type fails the request with 400 (`Deployment in version "v1" cannot be
// handled as a Deployment: json: cannot unmarshal string into Go struct field
// DeploymentSpec.spec.replicas of type int32`). The walk below does what its decoder
// (sigs.k8s.io/json, a fork of encoding/json) does:
//  * a message names the innermost struct being decoded and the struct fields from the root, without
//    list indices or map keys (`Container.spec.template.spec.containers.image`), and the Go type of the
//    target after pointers, as reflect prints it (`int32`, `[]v1.Container`, `map[string]string`,
//    `v1.Protocol`);
//  * a mismatch is remembered and decoding goes on; the first one in document order is reported,
//  * unless a type with its own UnmarshalJSON (IntOrString, Quantity, Time, MicroTime) fails: that
//    error ends decoding at once and is reported, whatever came before. IntOrString and the times
//    decode through encoding/json, whose type errors get the same struct and field context;
//  * JSON null is never an error: it leaves the zero value (see replaceNulls);
//  * keys that match no field are skipped with their values (unknown fields are reported elsewhere).
// Known difference: the walk sees parsed numbers, not their text, so an integral number written as
// `3.0` or `1e3` passes for an int32 where upstream's strconv.ParseInt rejects it.

type GoKind =
  | 'struct' | 'slice' | 'map' | 'string' | 'int32' | 'int64' | 'bool' | 'float64'
  | 'intOrString' | 'quantity' | 'time' | 'microTime'
  /** Keeps any JSON as it is (FieldsV1, RawExtension), or a schema with nothing to check against. */
  | 'opaque';

interface GoType {
  readonly kind: GoKind;
  /** The type as Go's reflect prints it in messages. */
  readonly name: string;
  /** A struct's definition short name (what messages call the struct) and its fields' types, filled in on first use. */
  readonly struct?: { readonly name: string; readonly properties: Record<string, SchemaNode>; readonly fields: Map<string, GoType> };
  /** A slice's items or a map's values. */
  readonly elem?: GoType;
}

const OPAQUE: GoType = { kind: 'opaque', name: 'interface {}' };
const SPECIAL_TYPES: Record<string, GoType> = {
  'io.k8s.apimachinery.pkg.util.intstr.IntOrString': { kind: 'intOrString', name: 'intstr.IntOrString' },
  'io.k8s.apimachinery.pkg.api.resource.Quantity': { kind: 'quantity', name: 'resource.Quantity' },
  'io.k8s.apimachinery.pkg.apis.meta.v1.Time': { kind: 'time', name: 'v1.Time' },
  'io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime': { kind: 'microTime', name: 'v1.MicroTime' },
  'io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1': { kind: 'opaque', name: 'v1.FieldsV1' },
  'io.k8s.apimachinery.pkg.runtime.RawExtension': { kind: 'opaque', name: 'runtime.RawExtension' },
};

/** Types of the named definitions; fields are resolved lazily, so recursive definitions are fine. */
const definitionTypes = new Map<string, GoType>();

/** The definition a node refers to (through `$ref` and `allOf` wrappers), if any. */
function definitionOf(node: SchemaNode): string | undefined {
  let name: string | undefined;
  for (let hops = 0; hops < 8; hops++) {
    if (node.$ref !== undefined) {
      name = node.$ref.slice(REF_PREFIX.length);
      const next = resolveRef(node.$ref);
      if (!next) break;
      node = next;
    } else if (node.allOf?.length === 1) node = node.allOf[0]!;
    else break;
  }
  return name;
}

/** `io.k8s.api.core.v1.PodSpec` → `v1.PodSpec`: Go qualifies a type by its package's last path element. */
function goDefinitionName(definition: string): string {
  const parts = definition.split('.');
  return parts.slice(-2).join('.');
}

function definitionType(definition: string): GoType {
  const special = SPECIAL_TYPES[definition];
  if (special) return special;
  let t = definitionTypes.get(definition);
  if (t) return t;
  const node = resolveRef(`${REF_PREFIX}${definition}`);
  const name = goDefinitionName(definition);
  t = node?.properties
    ? { kind: 'struct', name, struct: { name: definition.slice(definition.lastIndexOf('.') + 1), properties: node.properties, fields: new Map() } }
    : inlineType(node, name);
  definitionTypes.set(definition, t);
  return t;
}

/** The Go type of a schema node; `named` is the Go type's own name where it has one (NAMED_FIELD_TYPES). */
function goTypeOf(node: SchemaNode | undefined, named?: string): GoType {
  const definition = node && definitionOf(node);
  return definition !== undefined ? definitionType(definition) : inlineType(resolveSchema(node), named);
}

function inlineType(node: SchemaNode | undefined, named?: string): GoType {
  switch (node?.type) {
    case 'array': {
      const elem = goTypeOf(node.items, named?.startsWith('[]') ? named.slice(2) : undefined);
      return { kind: 'slice', name: named ?? `[]${elem.name}`, elem };
    }
    case 'object': {
      if (!isObject(node.additionalProperties)) return OPAQUE;
      // A named map type (v1.ResourceList) takes its value type from the schema.
      const valueName = named?.startsWith('map[') ? named.slice(named.indexOf(']') + 1) : undefined;
      const elem = goTypeOf(node.additionalProperties, valueName);
      return { kind: 'map', name: named ?? `map[string]${elem.name}`, elem };
    }
    case 'string': return { kind: 'string', name: named ?? 'string' };
    case 'boolean': return { kind: 'bool', name: named ?? 'bool' };
    case 'number': return { kind: 'float64', name: named ?? 'float64' };
    case 'integer': {
      const kind = node.format === 'int32' ? 'int32' : 'int64';
      return { kind, name: named ?? kind };
    }
    default: return OPAQUE;
  }
}

/** The type of a struct's field, or undefined for a key that names no field. */
function fieldType(t: GoType, key: string): GoType | undefined {
  const s = t.struct!;
  let field = s.fields.get(key);
  if (field === undefined) {
    if (!Object.prototype.hasOwnProperty.call(s.properties, key)) return undefined;
    field = goTypeOf(s.properties[key], NAMED_FIELD_TYPES.get(`${s.name}.${key}`));
    s.fields.set(key, field);
  }
  return field;
}

function rootType(apiVersion: string, kind: string): GoType | undefined {
  const definition = load().kindDefinitions.get(`${apiVersion}/${kind}`);
  return definition === undefined ? undefined : definitionType(definition);
}

/** What Go's decoder calls a JSON value in `cannot unmarshal <value>`. */
function jsonKind(v: unknown): string {
  switch (typeof v) {
    case 'string': return 'string';
    case 'number': return 'number';
    case 'boolean': return 'bool';
    default: return Array.isArray(v) ? 'array' : 'object';
  }
}

/** A number as its JSON text most likely read (integers in full, never in exponent form). */
function numberText(n: number): string {
  return Number.isInteger(n) ? BigInt(n).toString() : String(n);
}

const INT32_MIN = -(2 ** 31), INT32_MAX = 2 ** 31 - 1, INT64_LIMIT = 2 ** 63;

function fitsInt(n: number, kind: 'int32' | 'int64'): boolean {
  if (!Number.isInteger(n)) return false;
  return kind === 'int32' ? n >= INT32_MIN && n <= INT32_MAX : n >= -INT64_LIMIT && n < INT64_LIMIT;
}

class Decoder {
  /** The first mismatch, reported unless an UnmarshalJSON error ends decoding first. */
  saved: string | undefined;
  /** The struct fields from the root to the value being decoded, and the struct holding the last one. */
  private readonly fields: string[] = [];
  private struct = '';

  private typeError(value: string, type: string): string {
    if (this.fields.length === 0) return `json: cannot unmarshal ${value} into Go value of type ${type}`;
    return `json: cannot unmarshal ${value} into Go struct field ${this.struct}.${this.fields.join('.')} of type ${type}`;
  }

  private mismatch(value: string, type: string): undefined {
    this.saved ??= this.typeError(value, type);
    return undefined;
  }

  /** Decodes `v` as `t`; returns the error that ends decoding, if one does. */
  value(t: GoType, v: unknown): string | undefined {
    if (v === null || v === undefined) return undefined;
    switch (t.kind) {
      case 'struct': {
        if (!isObject(v)) return this.mismatch(jsonKind(v), t.name);
        const outer = this.struct;
        for (const key in v) {
          const field = fieldType(t, key);
          if (!field) continue;
          this.fields.push(key);
          this.struct = t.struct!.name;
          const stop = this.value(field, v[key]);
          if (stop !== undefined) return stop;
          this.fields.pop();
          this.struct = outer;
        }
        return undefined;
      }
      case 'slice': {
        if (!Array.isArray(v)) return this.mismatch(jsonKind(v), t.name);
        for (const item of v) {
          const stop = this.value(t.elem!, item);
          if (stop !== undefined) return stop;
        }
        return undefined;
      }
      case 'map': {
        if (!isObject(v)) return this.mismatch(jsonKind(v), t.name);
        for (const key in v) {
          const stop = this.value(t.elem!, v[key]);
          if (stop !== undefined) return stop;
        }
        return undefined;
      }
      case 'string':
        return typeof v === 'string' ? undefined : this.mismatch(jsonKind(v), t.name);
      case 'bool':
        return typeof v === 'boolean' ? undefined : this.mismatch(jsonKind(v), t.name);
      case 'float64':
        return typeof v === 'number' ? undefined : this.mismatch(jsonKind(v), t.name);
      case 'int32':
      case 'int64':
        if (typeof v !== 'number') return this.mismatch(jsonKind(v), t.name);
        // A number that is no integer of the type is named with its text.
        return fitsInt(v, t.kind) ? undefined : this.mismatch(`number ${numberText(v)}`, t.name);
      case 'intOrString':
        // A string is the string form; anything else is decoded into the int32 form.
        if (typeof v === 'string') return undefined;
        if (typeof v !== 'number') return this.typeError(jsonKind(v), 'int32');
        return fitsInt(v, 'int32') ? undefined : this.typeError(`number ${numberText(v)}`, 'int32');
      case 'quantity':
        // Quantity parses the JSON text of a number or the content of a string.
        if (typeof v === 'number') return undefined;
        return typeof v === 'string' ? quantityError(v) : QUANTITY_FORMAT_ERROR;
      case 'time':
      case 'microTime':
        if (typeof v !== 'string') return this.typeError(jsonKind(v), 'string');
        return timeParseError(t.kind === 'time' ? RFC3339 : RFC3339_MICRO, v);
      case 'opaque':
        return undefined;
    }
  }
}

/**
 * Whether Decoder.value would find neither a mismatch nor an error that ends decoding: its rules
 * restated without messages (test/decode-clean-differential.test.ts checks that the two agree).
 */
function decodesCleanly(t: GoType, v: unknown): boolean {
  if (v === null || v === undefined) return true;
  switch (t.kind) {
    case 'struct': {
      if (!isObject(v)) return false;
      for (const key in v) {
        const field = fieldType(t, key);
        if (field && !decodesCleanly(field, v[key])) return false;
      }
      return true;
    }
    case 'slice': {
      if (!Array.isArray(v)) return false;
      for (const item of v) if (!decodesCleanly(t.elem!, item)) return false;
      return true;
    }
    case 'map': {
      if (!isObject(v)) return false;
      for (const key in v) if (!decodesCleanly(t.elem!, v[key])) return false;
      return true;
    }
    case 'string': return typeof v === 'string';
    case 'bool': return typeof v === 'boolean';
    case 'float64': return typeof v === 'number';
    case 'int32':
    case 'int64': return typeof v === 'number' && fitsInt(v, t.kind);
    case 'intOrString': return typeof v === 'string' || (typeof v === 'number' && fitsInt(v, 'int32'));
    case 'quantity': return typeof v === 'number' || (typeof v === 'string' && quantityError(v) === undefined);
    case 'time':
    case 'microTime': return typeof v === 'string' && timeParseError(t.kind === 'time' ? RFC3339 : RFC3339_MICRO, v) === undefined;
    case 'opaque': return true;
  }
}

const QUANTITY_SUFFIXES = new Set(['', 'n', 'u', 'm', 'k', 'M', 'G', 'T', 'P', 'E', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei']);
const QUANTITY_SUFFIX_LETTERS = 'eEinumkKMGTP';
const INT64_MAX = (1n << 63n) - 1n;
const isDigitChar = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';

/**
 * The error resource.ParseQuantity gives for a string, if any: upstream's scanner (sign, digits,
 * fraction, suffix letters, signed exponent digits) and suffix lookup, without computing the value.
 */
function quantityError(text: string): string | undefined {
  const s = text.trim();
  if (s.length === 0) return QUANTITY_FORMAT_ERROR;
  let pos = s[0] === '+' || s[0] === '-' ? 1 : 0;
  while (isDigitChar(s[pos])) pos++;
  if (s[pos] === '.') {
    pos++;
    while (isDigitChar(s[pos])) pos++;
  }
  const suffixStart = pos;
  while (pos < s.length && QUANTITY_SUFFIX_LETTERS.includes(s[pos]!)) pos++;
  if (pos < s.length) {
    if (s[pos] === '+' || s[pos] === '-') pos++;
    while (isDigitChar(s[pos])) pos++;
    if (pos < s.length) return QUANTITY_FORMAT_ERROR;
  }
  const suffix = s.slice(suffixStart);
  if (QUANTITY_SUFFIXES.has(suffix)) return undefined;
  // A decimal exponent: `e` or `E` and what strconv.ParseInt accepts as an int64.
  if (suffix.length > 1 && (suffix[0] === 'e' || suffix[0] === 'E') && /^[+-]?[0-9]+$/.test(suffix.slice(1))) {
    const exponent = BigInt(suffix.slice(1));
    if (exponent <= INT64_MAX && exponent >= -INT64_MAX - 1n) return undefined;
  }
  return QUANTITY_SUFFIX_ERROR;
}

/**
 * The first decode error upstream's JSON decoder would report for this object of the kind, or
 * undefined: the text after `cannot be handled as a <Kind>: `, e.g.
 * `json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32`.
 * An unknown kind has none.
 */
export function decodeError(apiVersion: string, kind: string, obj: unknown): string | undefined {
  const root = rootType(apiVersion, kind);
  if (!root) return undefined;
  // Nearly every body decodes: a walk that keeps no struct and field names tells, and only a body
  // with a problem is walked again for its message.
  if (decodesCleanly(root, obj)) return undefined;
  const decoder = new Decoder();
  return decoder.value(root, obj) ?? decoder.saved;
}

/**
 * For the differential test: decodesCleanly's verdict and the Decoder's own answer for the same
 * body, each computed on its own (decodeError consults the second only when the first says no).
 * They must agree: clean exactly when the Decoder reports nothing. Undefined for an unknown kind.
 */
export function decodeVerdicts(apiVersion: string, kind: string, obj: unknown): { clean: boolean; error: string | undefined } | undefined {
  const root = rootType(apiVersion, kind);
  if (!root) return undefined;
  const decoder = new Decoder();
  return { clean: decodesCleanly(root, obj), error: decoder.value(root, obj) ?? decoder.saved };
}

/** The JSON of a Go zero value where one must stand in for null (list items, map values). */
function zeroValue(t: GoType): unknown {
  switch (t.kind) {
    case 'struct': return {};
    case 'string': return '';
    case 'bool': return false;
    case 'int32': case 'int64': case 'float64': case 'intOrString': return 0;
    case 'quantity': return '0';
    // Nil slices and maps, zero times and raw values encode as null.
    default: return null;
  }
}

/**
 * Rewrites the JSON nulls of an object that decodes without error (decodeError) as upstream's
 * decoding into the Go type leaves them, in place: a null field is the same as an absent one, so it
 * is removed; a null list item or map value becomes the zero value of its type (`""`, `0`, `{}`).
 * Defaulting and validation then never meet a null that Go would not have. Unknown fields are left
 * alone.
 */
export function replaceNulls(apiVersion: string, kind: string, obj: unknown): void {
  const root = rootType(apiVersion, kind);
  if (root) replaceNullsIn(root, obj);
}

function replaceNullsIn(t: GoType, v: unknown): void {
  if (t.kind === 'struct' && isObject(v)) {
    for (const key in v) {
      const field = fieldType(t, key);
      if (!field) continue;
      if (v[key] === null) delete v[key];
      else replaceNullsIn(field, v[key]);
    }
  } else if (t.kind === 'slice' && Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      if (v[i] === null) v[i] = zeroValue(t.elem!);
      else replaceNullsIn(t.elem!, v[i]);
    }
  } else if (t.kind === 'map' && isObject(v)) {
    for (const key in v) {
      if (v[key] === null) v[key] = zeroValue(t.elem!);
      else replaceNullsIn(t.elem!, v[key]);
    }
  }
}
