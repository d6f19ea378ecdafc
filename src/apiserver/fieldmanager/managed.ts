// metadata.managedFields bookkeeping as k8s.io/apimachinery's managedfields package keeps it: the
// entries (one per manager, operation, apiVersion for updaters, and subresource), what a
// non-apply write does to them, the scale subresource's view of spec.replicas, and the manager
// name a request without fieldManager gets.
import type { FieldError, KObject } from '../../api/types.js';
import { aggregateMessage, forbidden, invalid, required, tooLong } from '../../api/validation/field.js';
import { ApiError, errors } from '../errors.js';
import { FieldSet, fieldPE, isMap, valuesEqual, type Path } from './fieldpath.js';
import { TypedError, compare, typeForKind, zeroObject, type TypeRef } from './typed.js';

export interface ManagerInfo {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  /** RFC 3339, seconds. Absent where upstream leaves it out (scale entries, an apply that changed nothing). */
  time?: string;
  subresource?: string;
}

export interface ManagedFieldsEntry extends ManagerInfo {
  fieldsType: 'FieldsV1';
  fieldsV1: Record<string, unknown>;
}

/** One manager's fields. */
export interface Owner {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  subresource?: string;
  time?: string;
  set: FieldSet;
  /** The stored entry this owner was decoded from, written back as it was while nothing changed. */
  decoded?: { entry: ManagedFieldsEntry; set: FieldSet; time?: string };
}

/** Owners by upstream's manager identifier. */
export type Managed = Map<string, Owner>;

/** What a write changed, as the owners of the changed fields see it. */
export class ApplyConflicts extends Error {
  constructor(readonly conflicts: Map<string, { owner: Owner; set: FieldSet }>) {
    super('apply conflicts');
    this.name = 'ApplyConflicts';
  }
}

/** Upstream's fieldManager limit, in bytes. */
const FIELD_MANAGER_MAX_LENGTH = 128;
/** Update managers beyond this many are merged, oldest first, into "ancient-changes". */
const MAX_UPDATE_MANAGERS = 10;
const ANCIENT_CHANGES = 'ancient-changes';
/** The manager of an object's fields that no one owned when it was first applied to. */
export const BEFORE_FIRST_APPLY = 'before-first-apply';
/** The identifier a write's own changes are collected under before they join its manager's entry. */
const CURRENT_OPERATION = 'current-operation';

/**
 * Upstream's manager identifier: the entry without time and fields, and without apiVersion for
 * appliers, so that an applier keeps one entry whatever version it applies with.
 */
export function ownerId(o: Pick<Owner, 'manager' | 'operation' | 'apiVersion' | 'subresource'>): string {
  // Every write looks up its own manager's identifier and those of the stored entries: the few
  // managers there are keep theirs (a newline cannot occur in apiVersion or subresource).
  const key = `${o.operation === 'Update' ? `U${o.apiVersion}` : 'A'}\n${o.subresource ?? ''}\n${o.manager}`;
  let id = ownerIds.get(key);
  if (id === undefined) {
    // The JSON of {manager, operation, apiVersion?, subresource?}, written out field by field.
    id = `{"manager":${JSON.stringify(o.manager)},"operation":${JSON.stringify(o.operation)}`;
    if (o.operation === 'Update') id += `,"apiVersion":${JSON.stringify(o.apiVersion)}`;
    if (o.subresource) id += `,"subresource":${JSON.stringify(o.subresource)}`;
    id += '}';
    if (ownerIds.size >= OWNER_IDS_MAX) ownerIds.clear();
    ownerIds.set(key, id);
  }
  return id;
}

const ownerIds = new Map<string, string>();
const OWNER_IDS_MAX = 1024;

// ---- encoding ----

/** Decodes metadata.managedFields; throws on entries upstream cannot decode. */
export function decodeManaged(entries: unknown): Managed {
  const out: Managed = new Map();
  if (entries === undefined || entries === null) return out;
  if (!Array.isArray(entries)) throw new Error('managedFields must be a list');
  entries.forEach((e: unknown, i) => {
    if (!isMap(e)) throw new Error(`managed fields entry ${i} must be an object`);
    if (e.operation !== 'Apply' && e.operation !== 'Update') throw new Error('operation must be `Apply` or `Update`');
    if (typeof e.apiVersion !== 'string' || e.apiVersion === '') throw new Error('apiVersion must not be empty');
    if (e.fieldsType === undefined || e.fieldsType === '') throw new Error(`missing fieldsType in managed fields entry ${i}`);
    if (e.fieldsType !== 'FieldsV1') throw new Error(`invalid fieldsType ${JSON.stringify(e.fieldsType)} in managed fields entry ${i}`);
    const owner: Owner = {
      manager: typeof e.manager === 'string' ? e.manager : '',
      operation: e.operation,
      apiVersion: e.apiVersion,
      set: e.fieldsV1 === undefined || e.fieldsV1 === null ? new FieldSet() : FieldSet.fromFieldsV1(e.fieldsV1),
    };
    if (typeof e.subresource === 'string' && e.subresource) owner.subresource = e.subresource;
    if (typeof e.time === 'string') owner.time = e.time;
    owner.decoded = { entry: e as unknown as ManagedFieldsEntry, set: owner.set, time: owner.time };
    out.set(ownerId(owner), owner);
  });
  return out;
}

function decodeOrEmpty(entries: unknown): Managed {
  try {
    return decodeManaged(entries);
  } catch {
    return new Map();
  }
}

/** The entries in upstream's order: appliers first, then by time, manager, apiVersion, subresource. */
export function encodeManaged(managed: Managed): ManagedFieldsEntry[] | undefined {
  if (managed.size === 0) return undefined;
  const entries = [...managed.values()].map(toEntry);
  if (entries.length === 1) return entries;
  return entries.sort((p, q) => {
    if (p.operation !== q.operation) return p.operation < q.operation ? -1 : 1;
    const ps = unixSeconds(p.time), qs = unixSeconds(q.time);
    if (ps !== qs) return ps - qs;
    if (p.manager !== q.manager) return p.manager < q.manager ? -1 : 1;
    if (p.apiVersion !== q.apiVersion) return p.apiVersion < q.apiVersion ? -1 : 1;
    const pr = p.subresource ?? '', qr = q.subresource ?? '';
    return pr < qr ? -1 : pr > qr ? 1 : 0;
  });
}

function toEntry(o: Owner): ManagedFieldsEntry {
  // Encoding sets is most of the cost of a write that changes no ownership.
  const unchanged = o.decoded && o.decoded.set === o.set && isCanonical(o.decoded.entry) ? o.decoded : undefined;
  if (unchanged && unchanged.time === o.time) return unchanged.entry;
  // Key order as the Go struct: manager, operation, apiVersion, time, fieldsType, fieldsV1, subresource.
  const e = { manager: o.manager, operation: o.operation, apiVersion: o.apiVersion } as ManagedFieldsEntry;
  if (o.time !== undefined) e.time = o.time;
  e.fieldsType = 'FieldsV1';
  e.fieldsV1 = unchanged ? unchanged.entry.fieldsV1 : o.set.toFieldsV1();
  if (o.subresource) e.subresource = o.subresource;
  return e;
}

/** A stored entry that is exactly what encoding would write (no extra or misplaced keys). */
function isCanonical(e: ManagedFieldsEntry): boolean {
  const keys = Object.keys(e);
  const expected = ['manager', 'operation', 'apiVersion', ...(e.time !== undefined ? ['time'] : []), 'fieldsType', 'fieldsV1', ...(e.subresource ? ['subresource'] : [])];
  return keys.length === expected.length && keys.every((k, i) => k === expected[i]) && e.manager !== '';
}

/** An entry's time in Unix seconds; the last text parsed is kept (a write's entries mostly share the current second). */
function unixSeconds(t: string | undefined): number {
  if (t === undefined) return 0;
  if (t !== lastTimeText) {
    lastTimeText = t;
    lastTimeSeconds = Math.floor(Date.parse(t) / 1000) || 0;
  }
  return lastTimeSeconds;
}

let lastTimeText: string | undefined;
let lastTimeSeconds = 0;

export function setManagedFields(obj: KObject, entries: unknown): void {
  if (Array.isArray(entries) && entries.length > 0) obj.metadata.managedFields = entries as never;
  else delete obj.metadata.managedFields;
}

export function cloneManaged(m: Managed): Managed {
  return new Map([...m].map(([id, o]) => [id, { ...o }]));
}

let nowSecond = -1;
let nowText = '';

/** The current time in RFC 3339 to the second, as upstream's metav1.Time; made once per second. */
export function nowRFC3339(): string {
  const second = Math.floor(Date.now() / 1000);
  if (second !== nowSecond) {
    nowSecond = second;
    nowText = new Date(second * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  }
  return nowText;
}

/** The object without metadata.managedFields (a shallow copy), which is never itself tracked. */
export function withoutManagedFields(o: KObject): KObject {
  if (o.metadata?.managedFields === undefined) return o;
  const { managedFields: _dropped, ...metadata } = o.metadata;
  return { ...o, metadata };
}

// ---- per-kind context ----

const path = (...names: string[]): Path => names.map(fieldPE);

/** Fields never tracked: type and identity, and what the server alone writes. */
const STRIP = FieldSet.of(
  path('apiVersion'), path('kind'), path('metadata'),
  ...['name', 'namespace', 'creationTimestamp', 'selfLink', 'uid', 'clusterName', 'generation', 'managedFields', 'resourceVersion']
    .map((f) => path('metadata', f)),
);

/**
 * The fields each endpoint resets (upstream's strategies' GetResetFields): no manager owns them
 * through that endpoint, and changes there conflict with no one.
 */
const RESET_PATHS: Record<string, Partial<Record<'' | 'status' | 'finalize', string[][]>>> = {
  Namespace: { '': [['status']], status: [['spec']], finalize: [['status']] },
  Node: { '': [['status']], status: [['spec']] },
  Pod: { '': [['status']], status: [['spec'], ['metadata', 'deletionTimestamp'], ['metadata', 'ownerReferences']] },
  Service: { '': [['status']], status: [['spec']] },
  Deployment: { '': [['status']], status: [['spec'], ['metadata', 'labels']] },
  ReplicaSet: { '': [['status']], status: [['spec']] },
};

export interface KindContext {
  apiVersion: string;
  kind: string;
  type: TypeRef;
  subresource?: string;
  /** Reset fields of the endpoint written to. */
  ignored?: FieldSet;
  /** The same fields as paths of field names, to leave them out before comparing. */
  ignoredPaths?: string[][];
  /** The same paths as a tree (withoutTree), and with metadata.managedFields added (what recordUpdate compares without). */
  ignoredTree?: PathTree;
  untrackedTree?: PathTree;
}

/** The reset fields of each kind and endpoint, as a set and as paths; built once. */
const RESET = new Map(Object.entries(RESET_PATHS).flatMap(([kind, bySub]) => Object.entries(bySub).map(
  ([sub, paths]) => [`${kind}/${sub}`, { paths, set: FieldSet.of(...paths.map((p) => path(...p))) }] as const,
)));

const MANAGED_FIELDS_PATH = ['metadata', 'managedFields'];

export function kindContext(apiVersion: string, kind: string, subresource?: string): KindContext {
  // One per kind and endpoint, shared (callers only read it): every write needs its kind's.
  // Looked up level by level: no key string to build and hash on every write.
  let byKind = kindContexts.get(apiVersion);
  if (!byKind) {
    if (kindContexts.size >= KIND_CONTEXTS_MAX) kindContexts.clear();
    kindContexts.set(apiVersion, (byKind = new Map()));
  }
  let bySub = byKind.get(kind);
  if (!bySub) {
    if (byKind.size >= KIND_CONTEXTS_MAX) byKind.clear();
    byKind.set(kind, (bySub = new Map()));
  }
  const sub = subresource ?? '';
  let ctx = bySub.get(sub);
  if (!ctx) {
    const reset = RESET.get(`${kind}/${sub}`);
    ctx = Object.freeze({
      apiVersion, kind, type: typeForKind(apiVersion, kind), subresource: subresource || undefined, ignored: reset?.set, ignoredPaths: reset?.paths,
      ignoredTree: reset ? pathTree(reset.paths) : undefined, untrackedTree: pathTree([...(reset?.paths ?? []), MANAGED_FIELDS_PATH]),
    });
    if (bySub.size >= KIND_CONTEXTS_MAX) bySub.clear();
    bySub.set(sub, ctx);
  }
  return ctx;
}

const kindContexts = new Map<string, Map<string, Map<string, KindContext>>>();
const KIND_CONTEXTS_MAX = 1024;

/** Field-name paths as a tree: a name leads to the names below it, or to true where the path ends (the field goes). */
type PathTree = Map<string, PathTree | true>;

function pathTree(paths: string[][]): PathTree {
  const root: PathTree = new Map();
  for (const p of paths) {
    let t = root;
    for (let i = 0; i < p.length; i++) {
      const at = t.get(p[i]!);
      if (at === true) break;
      if (i === p.length - 1) t.set(p[i]!, true);
      else if (at) t = at;
      else t.set(p[i]!, (t = new Map()));
    }
  }
  return root;
}

/**
 * `v` without the fields at the tree's paths, copied along each path (`v` itself is not changed;
 * an object on a path without any of them is `v`'s own): both sides of a comparison lose them, so
 * it skips subtrees whose changes would be dropped anyway (the pod spec on every status write) and
 * metadata.managedFields, which is never tracked. Keys keep their order.
 */
function withoutTree(v: unknown, tree: PathTree): unknown {
  if (!isMap(v) || !meetsTree(v, tree)) return v;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(v)) {
    const sub = tree.get(key);
    if (sub === true) continue;
    const value = sub === undefined ? v[key] : withoutTree(v[key], sub);
    if (key === '__proto__') Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
    else out[key] = value;
  }
  return out;
}

/** Whether `v` has a field at one of the tree's paths. */
function meetsTree(v: Record<string, unknown>, tree: PathTree): boolean {
  for (const [name, sub] of tree) {
    if (!(name in v)) continue;
    if (sub === true) return true;
    const below = v[name];
    if (isMap(below) && meetsTree(below, sub)) return true;
  }
  return false;
}

// ---- ownership changes ----

/**
 * The common step of updates and applies (structured-merge-diff's Updater.update): compares the
 * live and new objects, and takes the changed fields away from every manager but `workflowId`
 * that owns them. Unless forced, any such field is a conflict and nothing changes. Fields the new
 * object no longer has leave every other manager. Managers left without fields are dropped.
 */
export function takeOwnership(ctx: KindContext, live: unknown, next: unknown, managed: Managed, workflowId: string, force: boolean, withoutIgnored = false): Changes {
  // Modified and added fields are collected in one set: only their union matters here.
  const ignored = withoutIgnored ? undefined : ctx.ignoredTree ?? (ctx.ignoredPaths && pathTree(ctx.ignoredPaths));
  const cmp = ignored ? compare(ctx.type, withoutTree(live, ignored), withoutTree(next, ignored), true) : compare(ctx.type, live, next, true);
  let changed = cmp.added, removed = cmp.removed;
  if (ctx.ignored) {
    removed = removed.recursiveDifference(ctx.ignored);
    changed = changed.recursiveDifference(ctx.ignored);
  }
  const conflicts = new Map<string, { owner: Owner; set: FieldSet }>();
  for (const [id, owner] of managed) {
    if (id === workflowId) continue;
    const set = owner.set.intersection(changed);
    if (!set.isEmpty()) conflicts.set(id, { owner, set });
  }
  if (!force && conflicts.size > 0) throw new ApplyConflicts(conflicts);
  for (const { owner, set } of conflicts.values()) owner.set = owner.set.difference(set);
  if (!removed.isEmpty()) {
    for (const [id, owner] of managed) if (id !== workflowId) owner.set = owner.set.difference(removed);
  }
  for (const [id, owner] of managed) if (owner.set.isEmpty()) managed.delete(id);
  return { changed, removed };
}

/** What a write changed, without the endpoint's reset fields: modified and added fields together, and removed ones. */
export interface Changes {
  changed: FieldSet;
  removed: FieldSet;
}

/** Removes the never-tracked fields from one manager's set, dropping the manager if nothing is left. */
export function stripUntracked(managed: Managed, id: string): void {
  const owner = managed.get(id);
  if (!owner) return;
  owner.set = owner.set.difference(STRIP);
  if (owner.set.isEmpty()) managed.delete(id);
}

/**
 * An update by `manager` from `live` to `next` (objects without managedFields): the fields it
 * changed become the manager's (its Update entry for this apiVersion and subresource, stamped
 * now), other managers lose them, fields that went away leave everyone. Mutates `managed`.
 */
export function trackUpdate(ctx: KindContext, live: unknown, next: unknown, managed: Managed, manager: string, withoutIgnored = false): void {
  const owner = { manager: manager || 'unknown', operation: 'Update' as const, apiVersion: ctx.apiVersion, subresource: ctx.subresource };
  const id = ownerId(owner);
  // Taken before takeOwnership, which drops the entry when the write took back all its fields.
  const decoded = managed.get(id)?.decoded;
  // The changed fields, already without the reset fields.
  const set = takeOwnership(ctx, live, next, managed, CURRENT_OPERATION, true, withoutIgnored).changed.difference(STRIP);
  if (!set.isEmpty()) {
    const previous = managed.get(id);
    const entry: Owner = { manager: owner.manager, operation: 'Update', apiVersion: owner.apiVersion, set: previous ? set.union(previous.set) : set, time: nowRFC3339() };
    if (owner.subresource) entry.subresource = owner.subresource;
    // A manager that wrote only fields it already owned (a controller's next Endpoints update, a
    // kubelet's next status write) ends with the set it was decoded from: its stored fieldsV1 is
    // written back, not encoded again.
    if (decoded && entry.set.equals(decoded.set)) {
      entry.set = decoded.set;
      entry.decoded = decoded;
    }
    managed.set(id, entry);
  }
  capUpdateManagers(managed);
}

/** Keeps at most MAX_UPDATE_MANAGERS Update entries by merging the oldest into per-version "ancient-changes" buckets. */
function capUpdateManagers(managed: Managed): void {
  if (managed.size <= MAX_UPDATE_MANAGERS) return;
  const updaters = [...managed].filter(([, o]) => o.operation === 'Update').map(([id]) => id);
  if (updaters.length <= MAX_UPDATE_MANAGERS) return;
  updaters.sort((a, b) => unixSeconds(managed.get(a)!.time) - unixSeconds(managed.get(b)!.time) || (a < b ? -1 : a > b ? 1 : 0));
  const firstOfVersion = new Map<string, string>();
  let remaining = updaters.length;
  for (let i = 0; i < updaters.length && remaining > MAX_UPDATE_MANAGERS; i++) {
    const id = updaters[i]!;
    const owner = managed.get(id);
    if (!owner) continue;
    const version = owner.apiVersion;
    const bucketId = ownerId({ manager: ANCIENT_CHANGES, operation: 'Update', apiVersion: version });
    const first = firstOfVersion.get(version);
    if (first === undefined) {
      firstOfVersion.set(version, id);
      continue;
    }
    if (!managed.has(bucketId)) {
      const firstOwner = managed.get(first)!;
      managed.delete(first);
      managed.set(bucketId, { manager: ANCIENT_CHANGES, operation: 'Update', apiVersion: version, set: firstOwner.set });
    }
    const bucket = managed.get(bucketId)!;
    managed.set(bucketId, { ...bucket, set: owner.set.union(bucket.set), time: owner.time });
    managed.delete(id);
    remaining--;
  }
}

/** `managedFields: []` or `[{}]` in a write clears the entries. */
function isReset(entries: unknown): boolean {
  if (!Array.isArray(entries)) return false;
  if (entries.length === 0) return true;
  return entries.length === 1 && isMap(entries[0]) && Object.values(entries[0]).every((v) => v === undefined || v === null || v === '');
}

/**
 * After a create, update or patch that is not an apply: sets `next.metadata.managedFields` for
 * the write of `manager` from `prev` (undefined on create) to `next`, as upstream's field manager
 * does. Call it on the object about to be stored (defaulted, system fields set). A main-resource
 * write may carry managedFields of its own (kubectl's client-side-apply migration sends them in a
 * JSON patch); they replace the stored ones, and an empty list clears them. Subresource writes
 * ignore the request's entries. An object stored without entries stays without them until it is
 * applied to.
 */
export function recordUpdate(apiVersion: string, kind: string, prev: KObject | undefined, next: KObject, manager: string, subresource?: string): void {
  const ctx = kindContext(apiVersion, kind, subresource);
  const stored = prev?.metadata.managedFields;
  let managed: Managed;
  if (ctx.subresource) managed = decodeOrEmpty(stored);
  else {
    const requested = next.metadata.managedFields;
    if (isReset(requested)) managed = new Map();
    else {
      managed = decodeOrEmpty(requested);
      if (managed.size === 0) managed = decodeOrEmpty(stored);
    }
  }
  // Tracking starts at creation or at the first apply.
  if (managed.size === 0 && prev !== undefined) {
    delete next.metadata.managedFields;
    return;
  }
  try {
    // Both sides without managedFields and the endpoint's reset fields, in one copy each.
    const untracked = ctx.untrackedTree ?? pathTree([...(ctx.ignoredPaths ?? []), MANAGED_FIELDS_PATH]);
    const live = withoutTree(prev ?? zeroObject(apiVersion, kind), untracked);
    trackUpdate(ctx, live, withoutTree(next, untracked), managed, manager, true);
    setManagedFields(next, encodeManaged(managed));
  } catch (e) {
    if (!(e instanceof TypedError)) throw e;
    // An object the schema cannot describe keeps its entries unchanged, as upstream's UpdateNoErrors does.
    setManagedFields(next, stored);
  }
}

// ---- the scale subresource ----

const REPLICAS = path('spec', 'replicas');
const SCALE_API_VERSION = 'autoscaling/v1';

/**
 * After a write through the scale subresource (`prev` and `next` are the parent objects): when
 * spec.replicas changed, it moves from its owners to `manager`'s Update entry with subresource
 * "scale". As upstream, the entry has no time, and nothing is recorded when no one owned
 * spec.replicas before.
 */
export function recordScaleUpdate(apiVersion: string, prev: KObject, next: KObject, manager: string): void {
  const stored = prev.metadata.managedFields;
  const replicas = (o: KObject) => (o.spec as { replicas?: unknown } | undefined)?.replicas;
  const managed = decodeOrEmpty(stored);
  const owners = [...managed].filter(([, o]) => o.set.has(REPLICAS));
  if (valuesEqual(replicas(prev), replicas(next)) || owners.length === 0) {
    setManagedFields(next, stored);
    return;
  }
  const taken = FieldSet.of(REPLICAS);
  for (const [id, owner] of owners) {
    owner.set = owner.set.difference(taken);
    if (owner.set.isEmpty()) managed.delete(id);
  }
  // Upstream looks the entry's time up under the Scale's own identifier, so it never finds one.
  const scaler: Owner = { manager: manager || 'unknown', operation: 'Update', apiVersion, subresource: 'scale', set: taken };
  managed.set(ownerId(scaler), scaler);
  setManagedFields(next, encodeManaged(managed));
}

/** The managedFields of a parent's Scale: the entries that own spec.replicas, in autoscaling/v1. */
export function scaleManagedFields(parent: KObject): ManagedFieldsEntry[] | undefined {
  const managed = decodeOrEmpty(parent.metadata.managedFields);
  const scale: Managed = new Map();
  for (const [id, o] of managed) {
    if (o.set.has(REPLICAS)) scale.set(id, { ...o, apiVersion: SCALE_API_VERSION, set: FieldSet.of(REPLICAS) });
  }
  return encodeManaged(scale);
}

// ---- request options ----

// unicode.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space.
const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;

/**
 * The manager of a request without fieldManager, from its User-Agent as upstream derives it: the
 * text before the first `/`, without unprintable characters, cut to 128 bytes
 * (`kubectl/v1.32.4 (linux/amd64) kubernetes/4cb5f07` → `kubectl`). Empty without a User-Agent;
 * the entry is then recorded for "unknown".
 */
export function defaultManager(userAgent: string | undefined): string {
  const prefix = (userAgent ?? '').split('/')[0]!;
  let out = '', bytes = 0;
  for (const ch of prefix) {
    if (!PRINTABLE.test(ch)) continue;
    const n = Buffer.byteLength(ch);
    if (bytes + n > FIELD_MANAGER_MAX_LENGTH) break;
    out += ch;
    bytes += n;
  }
  return out;
}

/**
 * Upstream's checks of a write's fieldManager and force parameters (ValidateCreateOptions,
 * ValidateUpdateOptions, ValidatePatchOptions): a 422 for `PatchOptions.meta.k8s.io`, or undefined.
 * `force` is the parameter as given (undefined when absent).
 */
export function validateWriteOptions(
  options: 'CreateOptions' | 'UpdateOptions' | 'PatchOptions',
  fieldManager: string | undefined,
  apply = false,
  force?: boolean,
): ApiError | undefined {
  const errs: FieldError[] = [];
  if (options === 'PatchOptions') {
    if (!apply && force !== undefined) errs.push(forbidden('force', 'may not be specified for non-apply patch'));
    if (apply && !fieldManager) errs.push(required('fieldManager', 'is required for apply patch'));
  }
  const fm = fieldManager ?? '';
  if (Buffer.byteLength(fm) > FIELD_MANAGER_MAX_LENGTH) errs.push(tooLong('fieldManager', FIELD_MANAGER_MAX_LENGTH));
  let position = 0;
  for (const ch of fm) {
    if (!PRINTABLE.test(ch)) {
      const code = ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
      errs.push(invalid('fieldManager', fm, `invalid character U+${code} (at position ${position})`));
    }
    position += Buffer.byteLength(ch);
  }
  if (errs.length === 0) return undefined;
  return errors.invalid({ group: 'meta.k8s.io', kind: options }, '', errs, `${options}.meta.k8s.io "" is invalid: ${aggregateMessage(errs)}`);
}
