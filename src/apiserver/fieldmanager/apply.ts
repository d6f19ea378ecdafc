// Server-side apply (PATCH with application/apply-patch+yaml) as upstream's field manager runs it:
// the applied configuration is merged into the live object, the manager's Apply entry becomes the
// configuration's field set, fields it applied before and omits now are removed unless someone
// else owns them, and changing a field another manager owns is a conflict unless forced.
import type { KObject } from '../../api/types.js';
import { goQuote } from '../../api/validation/field.js';
import { ApiError, errors } from '../errors.js';
import { FieldSet, goJSON, isMap, pathString, valuesEqual, type Path } from './fieldpath.js';
import {
  ApplyConflicts, BEFORE_FIRST_APPLY, cloneManaged, decodeManaged, encodeManaged, kindContext, nowRFC3339, ownerId,
  setManagedFields, stripUntracked, takeOwnership, trackUpdate, withoutManagedFields,
  type KindContext, type Managed, type Owner,
} from './managed.js';
import { TypedError, compare, ensureNamedFieldsAreMembers, merge, removeItems, toFieldSet, validate, zeroObject } from './typed.js';

type Json = Record<string, unknown>;

const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';
/** The manager `kubectl apply --server-side` uses; only it keeps the client-side-apply annotation up to date. */
const KUBECTL = 'kubectl';

/**
 * Server-side apply: merges `applied` (the request body) into `live` (undefined: the object is
 * created) for `manager`, and returns the object to store, with its managedFields. `subresource`
 * is "status" for applies to the status endpoint. Throws a 409 Status listing the conflicts
 * (unless `force`), a 400 for a body of another kind or one that sets managedFields, and upstream's
 * 500 for a body the schema does not describe. The result still goes through the write path
 * (null removal, defaulting, validation); do not record it again with recordUpdate.
 */
export function apply(apiVersion: string, kind: string, live: KObject | undefined, applied: unknown, manager: string, force: boolean, subresource?: string): KObject {
  const config = checkConfig(apiVersion, kind, applied);
  const ctx = kindContext(apiVersion, kind, subresource);
  let managed: Managed;
  try {
    managed = decodeManaged(live?.metadata.managedFields);
  } catch (e) {
    throw new ApiError(500, '', `failed to decode managed fields: ${(e as Error).message}`);
  }
  try {
    validate(ctx.type, config);
  } catch (e) {
    if (!(e instanceof TypedError)) throw e;
    const meta = isMap(config.metadata) ? config.metadata : {};
    const text = (v: unknown) => (typeof v === 'string' ? v : '');
    throw new ApiError(500, '', `failed to create typed patch object (${text(meta.namespace)}/${text(meta.name)}; ${gvkString(apiVersion, kind)}): ${e.message}`);
  }
  const liveValue = live ? withoutManagedFields(live) : undefined;
  const run = (forced: boolean) => applyOnce(ctx, liveValue, config, cloneManaged(managed), manager, forced);
  let result: ApplyResult;
  try {
    result = run(force);
  } catch (e) {
    if (!(e instanceof ApplyConflicts)) throw e;
    const conflicts = listConflicts(e);
    // kubectl's first server-side apply over a client-side-applied object may take the fields its
    // last-applied annotation shows it set, if they still hold the value it set.
    const allowed = manager === KUBECTL && liveValue ? fieldsStillAsLastApplied(ctx, liveValue) : undefined;
    if (!allowed) throw conflictError(conflicts);
    const remaining = conflicts.filter((c) => !allowed.has(c.path));
    if (remaining.length > 0) throw conflictError(remaining);
    result = run(true);
  }
  const out = structuredClone((result.object ?? liveValue) as KObject);
  if (manager === KUBECTL) refreshLastApplied(out, config);
  setManagedFields(out, encodeManaged(result.managed));
  return out;
}

/** The body must be an object of the endpoint's kind, without managedFields. */
function checkConfig(apiVersion: string, kind: string, applied: unknown): Json {
  if (applied === null || applied === undefined) applied = {};
  if (!isMap(applied)) {
    const what = Array.isArray(applied) ? 'array' : typeof applied === 'number' ? 'number' : typeof applied === 'boolean' ? 'bool' : 'string';
    throw errors.badRequest(`error decoding patch: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal ${what} into Go value of type map[string]interface {}`);
  }
  const av = typeof applied.apiVersion === 'string' ? applied.apiVersion : '';
  const k = typeof applied.kind === 'string' ? applied.kind : '';
  if (av !== apiVersion || k !== kind) throw errors.badRequest(`invalid object type: ${gvkString(av, k)}`);
  if (isMap(applied.metadata) && Array.isArray(applied.metadata.managedFields)) {
    throw errors.badRequest('metadata.managedFields must be nil');
  }
  return applied;
}

/** Go's GroupVersionKind.String(): `apps/v1, Kind=Deployment`, `/v1, Kind=Pod`. */
function gvkString(apiVersion: string, kind: string): string {
  const parts = apiVersion.split('/');
  const [group, version] = parts.length === 2 ? parts : parts.length === 1 ? ['', apiVersion] : ['', ''];
  return `${group}/${version}, Kind=${kind}`;
}

interface ApplyResult {
  /** The merged object, or undefined when it equals the live one. */
  object: KObject | undefined;
  managed: Managed;
}

function applyOnce(ctx: KindContext, live: KObject | undefined, config: Json, managed: Managed, manager: string, force: boolean): ApplyResult {
  // An object written before anyone applied to it: its fields so far belong to "before-first-apply".
  if (managed.size === 0 && live) trackUpdate(ctx, zeroObject(ctx.apiVersion, ctx.kind), live, managed, BEFORE_FIRST_APPLY);
  const owner: Owner = { manager: manager || 'unknown', operation: 'Apply', apiVersion: ctx.apiVersion, set: new FieldSet() };
  if (ctx.subresource) owner.subresource = ctx.subresource;
  const id = ownerId(owner);
  const previous = managed.get(id);
  let set = toFieldSet(ctx.type, config);
  if (ctx.ignored) set = set.recursiveDifference(ctx.ignored);
  owner.set = set;
  if (previous?.time !== undefined) owner.time = previous.time;
  managed.set(id, owner);
  const merged = prune(ctx, merge(ctx.type, live, config), managed, previous?.set);
  takeOwnership(ctx, live, merged, managed, id, force);
  stripUntracked(managed, id);
  const changed = !live || !valuesEqual(live, merged);
  const entry = managed.get(id);
  if (changed && entry) entry.time = nowRFC3339();
  return { object: changed ? (merged as KObject) : undefined, managed };
}

/**
 * Removes what the applier owned before (`lastSet`) and no longer applies, except fields another
 * manager (or the new configuration) owns, and except what the applier did not have to begin with.
 */
function prune(ctx: KindContext, merged: unknown, managed: Managed, lastSet: FieldSet | undefined): unknown {
  if (!lastSet || lastSet.isEmpty()) return merged;
  const tr = ctx.type;
  const named = (s: FieldSet) => ensureNamedFieldsAreMembers(s, tr);
  const last = named(lastSet);
  let pruned = removeItems(tr, merged, last);
  // Add back what anyone owns.
  let owned = new FieldSet();
  for (const o of managed.values()) owned = owned.union(o.set);
  const mergedSet = named(toFieldSet(tr, merged));
  pruned = removeItems(tr, merged, mergedSet.difference(named(toFieldSet(tr, pruned)).union(named(owned))));
  // Add back what the applier never owned (removal reaches whole structs and items).
  const prunedSet = named(toFieldSet(tr, pruned));
  return removeItems(tr, merged, mergedSet.difference(prunedSet).intersection(last));
}

// ---- conflicts ----

interface Conflict {
  owner: Owner;
  id: string;
  path: Path;
}

function listConflicts(e: ApplyConflicts): Conflict[] {
  const out: Conflict[] = [];
  const ids = [...e.conflicts.keys()].sort();
  for (const id of ids) {
    const { owner, set } = e.conflicts.get(id)!;
    for (const path of set.paths()) out.push({ owner, id, path });
  }
  return out;
}

/** How upstream names a manager in conflicts: `"kubectl" with subresource "scale" using apps/v1`. */
function printManager(o: Owner): string {
  let s = goQuote(o.manager);
  if (o.subresource) s += ` with subresource ${goQuote(o.subresource)}`;
  if (o.operation === 'Update') s += ` using ${o.apiVersion}`;
  return s;
}

function conflictError(conflicts: Conflict[]): ApiError {
  const causes = conflicts.map((c) => ({ reason: 'FieldManagerConflict', message: `conflict with ${printManager(c.owner)}`, field: pathString(c.path) }));
  let message: string;
  if (conflicts.length === 1) {
    const c = conflicts[0]!;
    message = `Apply failed with 1 conflict: conflict with ${printManager(c.owner)}: ${pathString(c.path)}`;
  } else {
    const lines: string[] = [];
    let current: string | undefined;
    for (const c of conflicts) {
      if (c.id !== current) {
        lines.push(`conflicts with ${printManager(c.owner)}:`);
        current = c.id;
      }
      lines.push(`- ${pathString(c.path)}`);
    }
    message = `Apply failed with ${conflicts.length} conflicts: ${lines.join('\n')}`;
  }
  return new ApiError(409, 'Conflict', message, { causes });
}

// ---- kubectl's client-side-apply annotation ----

/**
 * The fields of the live object's last-applied annotation whose value is still the applied one, or
 * undefined when there is no usable annotation.
 */
function fieldsStillAsLastApplied(ctx: KindContext, live: KObject): FieldSet | undefined {
  const text = live.metadata.annotations?.[LAST_APPLIED_ANNOTATION];
  if (!text) return undefined;
  let lastApplied: unknown;
  try {
    lastApplied = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isMap(lastApplied) || lastApplied.apiVersion !== ctx.apiVersion) return undefined;
  try {
    validate(ctx.type, lastApplied);
    const cmp = compare(ctx.type, lastApplied, live);
    return toFieldSet(ctx.type, lastApplied).difference(cmp.modified).difference(cmp.added).difference(cmp.removed);
  } catch (e) {
    if (e instanceof TypedError) return undefined;
    throw e;
  }
}

/**
 * After kubectl's server-side apply, an existing last-applied annotation is rewritten to the
 * applied configuration (as Go encodes it, without the annotation itself), so that going back
 * to client-side apply still works.
 */
function refreshLastApplied(obj: KObject, config: Json): void {
  const annotations = obj.metadata.annotations;
  if (!annotations?.[LAST_APPLIED_ANNOTATION]) return;
  const copy = structuredClone(config);
  const meta = copy.metadata;
  if (isMap(meta) && isMap(meta.annotations)) delete meta.annotations[LAST_APPLIED_ANNOTATION];
  annotations[LAST_APPLIED_ANNOTATION] = `${goJSON(copy)}\n`;
}
