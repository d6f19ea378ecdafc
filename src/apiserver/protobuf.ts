// Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`). client-go's typed
// clients send them by default since 1.31, so `kubectl create deployment|namespace|service ...`
// POSTs nothing else. We turn such a body into the JSON object upstream's server would have stored
// for it, and the rest of the server handles it as if the client had sent JSON.
//
// Wire format: the magic `k8s\0`, then a runtime.Unknown {typeMeta, raw, contentEncoding,
// contentType} whose `raw` is the object's message. The messages are described by our own field
// table (protobuf-schema.ts); protobufjs decodes them, and the walk below turns a decoded message
// into upstream's JSON: the Go encoder writes every non-pointer field, zero or not, so a field's
// JSON presence follows Go's encoding/json rules on the decoded struct (`omitempty` drops zero
// scalars, structs are always written, pointers when set), and the few types with their own JSON
// form (Time, MicroTime, Quantity, IntOrString, FieldsV1) are converted by hand.
import protobuf from 'protobufjs/light.js';
import type { Message, Type } from 'protobufjs/light.js';
import { ApiError, errors } from './errors.js';
import { KINDS, MESSAGES, PROTO_PACKAGES, SPECIAL_MESSAGES } from './protobuf-schema.js';

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

type Scalar = 'string' | 'int32' | 'int64' | 'bool' | 'bytes';

/** One row of the schema table, parsed. */
interface FieldInfo {
  /** JSON name (the protobuf field name for inline fields). */
  name: string;
  id: number;
  /** A Scalar, or a message name of the table (or one missing from it). */
  type: string;
  scalar: boolean;
  pointer: boolean;
  repeated: boolean;
  /** A protobuf map (string keys); `type` is the value type. */
  map: boolean;
  /** Go's JSON writes the zero value (no `omitempty`). */
  keep: boolean;
  /** An embedded Go struct: its fields go into the parent's JSON. */
  inline: boolean;
  /** The message type is not in the table: decoded as opaque bytes, refused when present. */
  unsupported: boolean;
}

const SCALARS = new Set<string>(['string', 'int32', 'int64', 'bool', 'bytes']);

function parseField(message: string, name: string, spec: string): FieldInfo {
  const m = /^(\d+) (\*)?(\[\](?!byte\b)|map\[string\])?(\S+)((?: keep| inline)*)$/.exec(spec);
  if (!m) throw new Error(`protobuf schema: bad field ${message}.${name}: '${spec}'`);
  const type = m[4] === '[]byte' ? 'bytes' : m[4];
  const scalar = SCALARS.has(type);
  return {
    name, id: Number(m[1]), type, scalar,
    pointer: m[2] === '*', repeated: m[3] === '[]', map: m[3] === 'map[string]',
    keep: m[5].includes('keep'), inline: m[5].includes('inline'),
    unsupported: !scalar && !(type in MESSAGES),
  };
}

/** Upstream's protobuf name of a table message, e.g. k8s.io.api.core.v1.PodSpec. */
function protoName(message: string): string {
  const dot = message.lastIndexOf('.');
  const pkg = message.slice(0, dot);
  return `${PROTO_PACKAGES[pkg] ?? pkg}.${message.slice(dot + 1)}`;
}

function unsupportedMediaType(message: string): ApiError {
  return new ApiError(415, 'UnsupportedMediaType', `${message}; send the object as application/json instead`);
}

/** Thrown by the reader for a field number the table does not know, named by the message decoding it. */
class UnknownFieldError extends Error {
  inMessage?: string;
  constructor(readonly field: number) {
    super(`unknown protobuf field ${field}`);
  }
}

// protobufjs skips fields it has no descriptor for. Upstream skips them too, but for us an unknown
// field means the table lags the client's API version, and dropping its value would store
// something other than what the client sent. Zero values (every byte 0: varint 0, empty string or
// message) pass: a newer client's Go encoder writes one for each non-pointer field added since
// 1.32, and refusing those would refuse every object it sends. (A new pointer field explicitly set
// to its zero value is lost that way; the wire cannot tell it apart.) Anything else is refused.
class StrictReader extends protobuf.Reader {
  private lastVarint = 0;

  override uint32(): number {
    this.lastVarint = super.uint32();
    return this.lastVarint;
  }

  override skipType(wireType: number, depth?: number): protobuf.Reader {
    const field = this.lastVarint >>> 3;
    const start = this.pos;
    super.skipType(wireType, depth);
    if (wireType === 3 || this.buf.subarray(start, this.pos).some((b) => b !== 0)) throw new UnknownFieldError(field);
    return this;
  }
}

interface Codec {
  types: Map<string, Type>;
  fields: Map<string, FieldInfo[]>;
}

let codec: Codec | undefined;

/** Builds the protobufjs types from the table once, on the first protobuf body. */
function getCodec(): Codec {
  if (codec) return codec;
  const fields = new Map<string, FieldInfo[]>();
  const nested: Record<string, unknown> = {};
  for (const [message, specs] of Object.entries(MESSAGES)) {
    const infos = Object.entries(specs).map(([name, spec]) => parseField(message, name, spec));
    fields.set(message, infos);
    const json: Record<string, object> = {};
    for (const f of infos) {
      const type = f.scalar ? f.type : f.unsupported ? 'bytes' : `.${f.type}`;
      json[f.name] = f.map ? { id: f.id, keyType: 'string', type } : f.repeated ? { id: f.id, type, rule: 'repeated' } : { id: f.id, type };
    }
    // 'core.v1.PodSpec' → nested namespaces core → v1 → type PodSpec.
    const path = message.split('.');
    let ns = nested;
    for (const part of path.slice(0, -1)) {
      const child = (ns[part] ??= { nested: {} }) as { nested: Record<string, unknown> };
      ns = child.nested;
    }
    ns[path[path.length - 1]] = { fields: json };
  }
  const root = protobuf.Root.fromJSON({ nested: nested as protobuf.INamespace['nested'] });
  const types = new Map<string, Type>();
  for (const message of fields.keys()) types.set(message, withNamedErrors(root.lookupType(message), message));
  return (codec = { types, fields });
}

/**
 * Makes `type.decode` report an unknown field with the message that holds it (nested messages
 * call it through the type object). protobufjs generates a type's code on its first use; so do
 * we, as a body reaches only a few of the table's types.
 */
function withNamedErrors(type: Type, message: string): Type {
  type.decode = function firstDecode(this: Type, ...args: Parameters<Type['decode']>) {
    type.setup(); // replaces type.decode with the generated decoder
    const decode = type.decode;
    type.decode = function (this: Type, ...args: Parameters<Type['decode']>) {
      try {
        return decode.apply(this, args);
      } catch (e) {
        if (e instanceof UnknownFieldError) e.inMessage ??= message;
        throw e;
      }
    } as Type['decode'];
    return type.decode.apply(this, args);
  } as Type['decode'];
  return type;
}

type Decoded = Message & Record<string, unknown>;

function decodeMessage(message: string, bytes: Uint8Array): Decoded {
  const type = getCodec().types.get(message)!;
  try {
    return type.decode(new StrictReader(bytes), bytes.length) as Decoded;
  } catch (e) {
    if (e instanceof UnknownFieldError) {
      throw unsupportedMediaType(`protobuf field ${e.field} of ${protoName(e.inMessage ?? message)} is not known to this server`);
    }
    throw errors.badRequest(`error decoding protobuf body: ${(e as Error).message}`);
  }
}

const has = (m: object, key: string): boolean => Object.prototype.hasOwnProperty.call(m, key);

/** protobufjs gives int64 as a Long object when the `long` package is installed. */
function int64(v: unknown): number {
  return typeof v === 'number' ? v : protobuf.util.LongBits.from(v as protobuf.Long).toNumber(false);
}

function scalarToJSON(type: string, v: unknown): unknown {
  if (type === 'int64') return int64(v);
  if (type === 'bytes') return Buffer.from(v as Uint8Array).toString('base64');
  return v;
}

function isZero(v: unknown): boolean {
  return v === '' || v === 0 || v === false || (v instanceof Uint8Array && v.length === 0);
}

const ZERO: Record<Scalar, unknown> = { string: '', int32: 0, int64: 0, bool: false, bytes: new Uint8Array() };

/** RFC 3339 in UTC as metav1.Time (seconds) and metav1.MicroTime (microseconds) write it. */
function timeToJSON(m: Decoded, micro: boolean): string | undefined {
  // The Go encoder writes a zero time as an empty message; an explicit 0 is the Unix epoch.
  if (!has(m, 'seconds') && !has(m, 'nanos')) return undefined;
  // Time keeps whole seconds only (upstream's decoder drops nanos); MicroTime truncates nanos to
  // microseconds, and Go's time.Unix carries any overflow into the seconds.
  const total = int64(m.seconds) * 1e6 + (micro ? Math.trunc(Number(m.nanos ?? 0) / 1000) : 0);
  const seconds = Math.floor(total / 1e6);
  const date = new Date(seconds * 1000);
  if (!Number.isFinite(date.getTime()) || date.getUTCFullYear() < 0 || date.getUTCFullYear() > 9999) {
    throw errors.badRequest(`error decoding protobuf body: time ${seconds}s is outside of the years 0 to 9999`);
  }
  const iso = date.toISOString().slice(0, 19);
  if (!micro) return `${iso}Z`;
  return `${iso}.${String(total - seconds * 1e6).padStart(6, '0')}Z`;
}

/** The JSON of a message-typed value; undefined where Go's JSON would write null. */
function messageToJSON(message: string, m: Decoded | undefined): unknown {
  switch (message as (typeof SPECIAL_MESSAGES)[number]) {
    case 'meta.v1.Time':
    case 'meta.v1.MicroTime':
      return m ? timeToJSON(m, message === 'meta.v1.MicroTime') : undefined;
    case 'resource.Quantity':
      // A zero Quantity (no string) encodes as "0"; the string is parsed and checked later, as JSON's is.
      return m && has(m, 'string') ? m.string : '0';
    case 'intstr.IntOrString': {
      const type = m && has(m, 'type') ? int64(m.type) : 0;
      if (type === 0) return m?.intVal ?? 0;
      if (type === 1) return m?.strVal ?? '';
      throw errors.badRequest(`error decoding protobuf body: impossible IntOrString.Type ${type}`);
    }
    case 'meta.v1.FieldsV1': {
      const raw = m?.Raw as Uint8Array | undefined;
      if (!raw || raw.length === 0) return undefined;
      try {
        return JSON.parse(Buffer.from(raw).toString('utf8'));
      } catch (e) {
        throw errors.badRequest(`error decoding protobuf body: fieldsV1: ${(e as Error).message}`);
      }
    }
  }
  return structToJSON(message, m);
}

/** A struct's JSON: its fields as Go's encoding/json writes them, nulls left out. */
function structToJSON(message: string, m: Decoded | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of getCodec().fields.get(message)!) {
    const present = m !== undefined && (f.repeated || f.map ? hasElements(m[f.name]) : has(m, f.name));
    if (f.unsupported) {
      if (present) throw unsupportedMediaType(`protobuf message ${protoName(f.type)} (field ${f.name} of ${protoName(message)}) is not supported by this server`);
      continue;
    }
    const v = present ? m![f.name] : undefined;
    const toJSON = (x: unknown) => (f.scalar ? scalarToJSON(f.type, x) : messageToJSON(f.type, (x ?? undefined) as Decoded | undefined));
    if (f.map) {
      // A nil map is null in Go's JSON, whether or not the field is omitempty.
      if (present) out[f.name] = Object.fromEntries(Object.entries(v as object).map(([k, x]) => [k, toJSON(x)]));
    } else if (f.repeated) {
      if (present) out[f.name] = (v as unknown[]).map(toJSON);
    } else if (f.inline) {
      Object.assign(out, structToJSON(f.type, v as Decoded | undefined));
    } else if (f.pointer) {
      if (present) setDefined(out, f.name, toJSON(v));
    } else if (f.scalar) {
      const value = scalarToJSON(f.type, present ? v : ZERO[f.type as Scalar]);
      if (f.keep || !isZero(value)) out[f.name] = value;
    } else {
      // A non-pointer struct is always written (omitempty does not apply to structs).
      setDefined(out, f.name, toJSON(v));
    }
  }
  return out;
}

function hasElements(v: unknown): boolean {
  return Array.isArray(v) ? v.length > 0 : v !== null && typeof v === 'object' && Object.keys(v).length > 0;
}

function setDefined(out: Record<string, unknown>, key: string, value: unknown): void {
  if (value !== undefined) out[key] = value;
}

/**
 * Decode a k8s protobuf request body into the JSON object upstream would have decoded (apiVersion,
 * kind, and fields with upstream's JSON names and zero-value normalisation). Throws ApiError 400
 * for malformed bodies, 415 for kinds/types not in the table.
 */
export function decodeProtobufBody(buf: Buffer): Record<string, unknown> {
  if (buf.length < MAGIC.length || !buf.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw errors.badRequest(`provided data does not appear to be a protobuf message, expected prefix [${[...MAGIC].join(' ')}]`);
  }
  const unknown = decodeMessage('runtime.Unknown', buf.subarray(MAGIC.length));
  const typeMeta = (unknown.typeMeta ?? {}) as { apiVersion?: string; kind?: string };
  const apiVersion = typeMeta.apiVersion ?? '';
  const kind = typeMeta.kind ?? '';
  if (!kind) throw errors.badRequest(`Object 'Kind' is missing in protobuf body`);
  const encoding = (unknown.contentEncoding ?? '') as string;
  if (encoding) throw unsupportedMediaType(`protobuf bodies with content encoding "${encoding}" are not supported`);
  const message = KINDS[`${apiVersion}/${kind}`];
  if (!message) throw unsupportedMediaType(`${kind} in version "${apiVersion}" cannot be decoded from protobuf by this server`);
  const raw = (unknown.raw ?? new Uint8Array()) as Uint8Array;
  return { apiVersion, kind, ...structToJSON(message, decodeMessage(message, raw)) };
}
