// How objects are stored and served. A stored value is the object's JSON without
// metadata.resourceVersion (that is the store's mod revision, as with etcd), written with
// apiVersion, kind and metadata first. That fixed prefix lets reads serve the stored bytes with
// the resourceVersion spliced in, instead of parsing and re-serialising every object: a list of
// 10,000 pods or a watch event fanned out to many watchers costs string copies, not JSON work.
import type { KeyValue } from '../store/types.js';
import type { KObject } from '../api/types.js';

/** Serialise an object for the store: apiVersion, kind, metadata (without resourceVersion), then the rest. */
export function encodeObject(obj: KObject): string {
  const metadata = obj.metadata;
  // An object whose own keys already start with apiVersion, kind and metadata (every object
  // decoded from the store, and what the registry builds from one) is serialised as it is, its
  // resourceVersion hidden for the while (JSON.stringify leaves out an undefined member): the
  // same text as the copies below, without making them.
  if (typeof metadata === 'object' && metadata !== null && !Array.isArray(metadata) && storedOrder(obj)) {
    const rv = metadata.resourceVersion;
    if (rv === undefined) return JSON.stringify(obj);
    metadata.resourceVersion = undefined;
    try {
      return JSON.stringify(obj);
    } finally {
      metadata.resourceVersion = rv;
    }
  }
  return encodeCopy(obj);
}

/** Whether the first three own keys of `obj` are apiVersion, kind and metadata, in that order. */
function storedOrder(obj: object): boolean {
  let i = 0;
  for (const key in obj) {
    if (key !== (i === 0 ? 'apiVersion' : i === 1 ? 'kind' : 'metadata')) return false;
    if (++i === 3) return Object.getPrototypeOf(obj) === Object.prototype && !('toJSON' in obj);
  }
  return false;
}

function encodeCopy(obj: KObject): string {
  const { apiVersion, kind, metadata, ...rest } = obj;
  const { resourceVersion: _rv, ...meta } = metadata;
  return JSON.stringify({ apiVersion, kind, metadata: meta, ...rest });
}

/** A fresh, mutable object from a stored value. */
export function decodeObject(kv: KeyValue): KObject {
  const o = JSON.parse(kv.value) as KObject;
  o.metadata.resourceVersion = String(kv.modRevision);
  return o;
}

/** The bytes every stored object of a kind starts with, up to and including metadata's `{`. */
export function storedPrefix(apiVersion: string, kind: string): string {
  // Every write and read asks for its kind's: made once per kind, found without building a key.
  let byKind = prefixes.get(apiVersion);
  if (byKind === undefined) {
    if (prefixes.size >= PREFIXES_MAX) prefixes.clear();
    prefixes.set(apiVersion, (byKind = new Map()));
  }
  let prefix = byKind.get(kind);
  if (prefix === undefined) {
    prefix = `{"apiVersion":${JSON.stringify(apiVersion)},"kind":${JSON.stringify(kind)},"metadata":{`;
    if (byKind.size >= PREFIXES_MAX) byKind.clear();
    byKind.set(kind, prefix);
  }
  return prefix;
}

const prefixes = new Map<string, Map<string, string>>();
/** Bound on the kinds and versions remembered (the resource table has a few dozen). */
const PREFIXES_MAX = 256;

/** Insert `"resourceVersion":"rv"` as the first field of metadata, whose `{` ends at `at`. */
function splice(value: string, at: number, rv: number, head: string): string {
  const sep = value[at] === '}' ? '' : ',';
  return `${head}"resourceVersion":"${rv}"${sep}${value.slice(at)}`;
}

/** One stored object as read from the store: parsed and serialised only when, and once, needed. */
export class StoredObject {
  private parsed?: KObject;
  private ownJSON?: string;

  constructor(readonly kv: KeyValue, private readonly prefix: string) {}

  /** The object with its resourceVersion. Shared between readers: never mutate it. */
  get object(): KObject {
    return (this.parsed ??= decodeObject(this.kv));
  }

  /** The object's JSON, with resourceVersion `rv` (its mod revision unless told otherwise). */
  json(rv = this.kv.modRevision): string {
    if (rv === this.kv.modRevision) return (this.ownJSON ??= this.serialise(rv));
    return this.serialise(rv);
  }

  private serialise(rv: number): string {
    const v = this.kv.value;
    if (v.startsWith(this.prefix)) return splice(v, this.prefix.length, rv, this.prefix);
    const o = this.object;
    return JSON.stringify({ ...o, metadata: { ...o.metadata, resourceVersion: String(rv) } });
  }

  /** The JSON of a list item: upstream's list items carry no apiVersion and kind. */
  itemJSON(): string {
    const v = this.kv.value;
    if (v.startsWith(this.prefix)) return splice(v, this.prefix.length, this.kv.modRevision, '{"metadata":{');
    const { apiVersion: _a, kind: _k, ...rest } = this.object;
    return JSON.stringify(rest);
  }
}

/**
 * JSON already produced for an object the registry just wrote (the stored bytes plus the new
 * resourceVersion, spliced when asked for), so that the response does not serialise the object
 * a second time.
 */
const written = new WeakMap<object, StoredObject>();

export function rememberJSON(obj: KObject, stored: StoredObject): KObject {
  written.set(obj, stored);
  return obj;
}

export function knownJSON(obj: unknown): string | undefined {
  return typeof obj === 'object' && obj !== null ? written.get(obj)?.json() : undefined;
}
