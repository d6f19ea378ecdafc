// Runtime access to the OpenAPI v3 definitions that scripts/gen-openapi.mjs generates at build time
// (dist/openapi/definitions.json, upstream names such as io.k8s.api.core.v1.PodSpec), and the
// schema walks that use them: server-side unknown and duplicate field detection, as upstream's
// strict JSON decoding reports them.
//
// The file is read on first use, not at import: the server must start in well under 300 ms and
// many requests never need a schema.
import { readFileSync } from 'node:fs';

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

let loaded: { definitions: Record<string, SchemaNode>; byKind: Map<string, SchemaNode> } | undefined;

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
  for (const node of Object.values(definitions)) {
    for (const gvk of node['x-kubernetes-group-version-kind'] ?? []) {
      byKind.set(`${gvk.group ? `${gvk.group}/${gvk.version}` : gvk.version}/${gvk.kind}`, node);
    }
  }
  loaded = { definitions, byKind };
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
  return ref.startsWith(REF_PREFIX) ? load().definitions[ref.slice(REF_PREFIX.length)] : undefined;
}

/** The schema a node stands for: follows `$ref` and the single-entry `allOf` wrapper upstream puts around refs. */
export function resolveSchema(node: SchemaNode | undefined): SchemaNode | undefined {
  for (let hops = 0; node && hops < 8; hops++) {
    if (node.$ref !== undefined) node = resolveRef(node.$ref);
    else if (node.allOf?.length === 1) node = node.allOf[0];
    else return node;
  }
  return node;
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
const join = (path: string, key: string) => (path ? `${path}.${key}` : key);

/** Paths of the fields of `obj` that the kind's schema does not have. An unknown kind has none. */
export function findUnknownFields(apiVersion: string, kind: string, obj: unknown): string[] {
  const found: string[] = [];
  walkUnknown(schemaForKind(apiVersion, kind), obj, '', found, false);
  return found;
}

/**
 * Removes the fields of `obj` that the kind's schema does not have, as upstream's decoding into the
 * Go type drops them, and returns their paths (all of them, even beyond the first 100).
 */
export function pruneUnknownFields(apiVersion: string, kind: string, obj: unknown): string[] {
  const found: string[] = [];
  walkUnknown(schemaForKind(apiVersion, kind), obj, '', found, true);
  return found;
}

function walkUnknown(schema: SchemaNode | undefined, value: unknown, path: string, found: string[], prune: boolean): void {
  const node = resolveSchema(schema);
  if (!node || value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    if (node.items) for (let i = 0; i < value.length; i++) walkUnknown(node.items, value[i], `${path}[${i}]`, found, prune);
    return;
  }
  const properties = node.properties;
  if (properties) {
    for (const key of Object.keys(value)) {
      if (Object.prototype.hasOwnProperty.call(properties, key)) {
        walkUnknown(properties[key], (value as Json)[key], join(path, key), found, prune);
      } else {
        if (prune || found.length < MAX_STRICT_ERRORS) found.push(join(path, key));
        if (prune) delete (value as Json)[key];
      }
    }
  } else if (isObject(node.additionalProperties)) {
    for (const key of Object.keys(value)) walkUnknown(node.additionalProperties, (value as Json)[key], join(path, key), found, prune);
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
  scanner.value(schemaForKind(apiVersion, kind), '');
  return scanner.errors;
}

const QUOTE = 0x22, BACKSLASH = 0x5c, OPEN_BRACE = 0x7b, CLOSE_BRACE = 0x7d, OPEN_BRACKET = 0x5b, CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c, COLON = 0x3a;

class StrictScanner {
  readonly errors: string[] = [];
  private readonly seen = new Set<string>();
  private pos = 0;

  constructor(private readonly text: string) {}

  /** Scans one value at pos; `schema` undefined means nothing is checked inside it. */
  value(schema: SchemaNode | undefined, path: string): void {
    this.skipSpace();
    const c = this.text.charCodeAt(this.pos);
    const node = schema && resolveSchema(schema);
    if (c === OPEN_BRACE) this.object(node, path);
    else if (c === OPEN_BRACKET) this.array(node?.items, path);
    else if (c === QUOTE) this.string();
    else this.literal();
  }

  private object(node: SchemaNode | undefined, path: string): void {
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
      if (keys) {
        const known = mapValues !== undefined || Object.prototype.hasOwnProperty.call(properties, key);
        if (!known) this.report('unknown field', join(path, key));
        else {
          if (keys.has(key)) this.report('duplicate field', join(path, key));
          keys.add(key);
          child = mapValues ?? properties![key];
        }
      }
      this.value(child, join(path, key));
      this.skipSpace();
      if (this.text.charCodeAt(this.pos) === COMMA) {
        this.pos++;
        continue;
      }
      this.expect(CLOSE_BRACE);
      return;
    }
  }

  private array(items: SchemaNode | undefined, path: string): void {
    this.pos++;
    this.skipSpace();
    if (this.text.charCodeAt(this.pos) === CLOSE_BRACKET) {
      this.pos++;
      return;
    }
    for (let i = 0; ; i++) {
      this.value(items, `${path}[${i}]`);
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
    this.expect(QUOTE);
    const start = this.pos;
    let escaped = false;
    for (;;) {
      const c = this.text.charCodeAt(this.pos++);
      if (c === QUOTE) break;
      if (c === BACKSLASH) {
        escaped = true;
        this.pos++;
      } else if (Number.isNaN(c)) {
        throw new SyntaxError('unterminated string');
      }
    }
    const raw = this.text.slice(start, this.pos - 1);
    return escaped ? (JSON.parse(`"${raw}"`) as string) : raw;
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

  private report(type: string, path: string): void {
    const message = `${type} ${JSON.stringify(path)}`;
    if (this.errors.length >= MAX_STRICT_ERRORS || this.seen.has(message)) return;
    this.seen.add(message);
    this.errors.push(message);
  }
}
