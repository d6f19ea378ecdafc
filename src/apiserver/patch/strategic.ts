// Kubernetes strategic merge patch, as the API server applies it
// (k8s.io/apimachinery/pkg/util/strategicpatch, StrategicMergeMapPatch, v1.32):
//  * maps merge recursively and `null` deletes a key;
//  * a list whose field has patch strategy `merge` merges: maps by their merge key, primitives as
//    a set union; every other list is replaced (see order.ts for the resulting element order);
//  * directives: `$patch` (replace | delete on a map; replace | delete elements of a merged list),
//    `$retainKeys`, `$setElementOrder/<list>` and `$deleteFromPrimitiveList/<list>`.
//
// Where upstream copies a patch value verbatim (a key the live object lacks, a value of another
// type, a replaced list, an appended list element) it drops maps that carry `$patch` and null map
// entries, and the typed decoding that follows drops the remaining directive keys; `sanitize`
// produces that end result here, so the result never holds a directive.
import {
  badRequest,
  errBadArgType,
  errBadPatchFormatForPrimitiveList,
  errBadPatchFormatForRetainKeys,
  errBadPatchFormatForSetElementOrderList,
  errBadPatchType,
  errNoListOfLists,
  errNoMergeKey,
  internal,
  type PatchError,
} from './errors.js';
import { formatV, jsonKind } from './gofmt.js';
import {
  findByMergeKey,
  goEqual,
  membershipIn,
  normalizeElementOrder,
  partitionByPresence,
  splitDeleteItems,
  uniqueValues,
} from './order.js';
import { cursor, fieldMeta, listFieldMeta, type FieldPatchMeta, type Resolver, type SchemaCursor, type SchemaNode } from './schema.js';
import { cloneJson, hasKey, isObject, setKey, type JsonObject, type JsonValue } from './value.js';

const DIRECTIVE = '$patch';
const RETAIN_KEYS = '$retainKeys';
const SET_ELEMENT_ORDER = '$setElementOrder';
const DELETE_FROM_PRIMITIVE_LIST = '$deleteFromPrimitiveList';
const MAP_TYPE = 'map[string]interface {}';
const SLICE_TYPE = '[]interface {}';

/**
 * Applies a strategic merge patch to a JSON object. `schema` is the OpenAPI node of the object's
 * type; without it every map merges and every list is replaced.
 */
export function strategicMergePatch(original: unknown, patch: unknown, schema?: SchemaNode, resolve?: Resolver): JsonValue {
  // The body is decoded into a map: `null` leaves it nil (nothing to apply), other non-objects fail.
  if (patch === null) return cloneJson(original);
  if (!isObject(patch)) {
    throw badRequest(`json: cannot unmarshal ${jsonKind(patch)} into Go value of type map[string]interface {}`);
  }
  if (!isObject(original)) throw badRequest('invalid JSON document');
  // The merge edits its patch only where a directive is (it consumes `$...` keys) and copies every
  // patch value it puts in place (sanitize), so a plain patch without directives is used as it is.
  const patchCopy = plainWithoutDirectives(patch) ? patch : (cloneJson(patch) as JsonObject);
  return mergeMap(cloneJson(original) as JsonObject, patchCopy, cursor(schema, resolve));
}

/**
 * Whether `value` is plain parsed JSON, which cloneJson would copy unchanged (plain objects and
 * dense arrays, strings, finite numbers, booleans, null), with no object key starting with `$`.
 */
function plainWithoutDirectives(value: unknown): boolean {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (typeof value !== 'object') return false;
  if (Array.isArray(value)) {
    if (Object.getPrototypeOf(value) !== Array.prototype) return false;
    for (let i = 0; i < value.length; i++) if (!(i in value) || !plainWithoutDirectives(value[i])) return false;
    return true;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype) return false;
  for (const key in value) {
    if (!hasKey(value, key) || key.charCodeAt(0) === 36 /* $ */) return false;
    if (!plainWithoutDirectives((value as Record<string, unknown>)[key])) return false;
  }
  return true;
}

/** Merges `patch` into `original` (both private copies, edited in place) and returns the result. */
function mergeMap(original: JsonObject, patch: JsonObject, at: SchemaCursor): JsonObject {
  if (hasKey(patch, DIRECTIVE)) return applyMapDirective(patch);

  applyRetainKeys(original, patch);
  mergeOrderedLists(original, patch, at);

  for (const [patchKey, patchValue] of Object.entries(patch)) {
    let key = patchKey;
    const isDeleteList = patchKey.startsWith(DELETE_FROM_PRIMITIVE_LIST);
    // Upstream keeps the raw key when the list name after the slash is empty.
    if (isDeleteList) key = directiveTarget(patchKey, DELETE_FROM_PRIMITIVE_LIST) || patchKey;

    if (patchValue === null) {
      delete original[key];
      continue;
    }
    // A deletion list never adds or replaces anything.
    if (!hasKey(original, key) || typeClass(original[key]) !== typeClass(patchValue)) {
      if (!isDeleteList) setSanitized(original, key, patchValue);
      continue;
    }
    const current = original[key];
    if (isObject(current) && isObject(patchValue)) {
      const meta = fieldMeta(at, key);
      if (meta.strategy === 'replace') setSanitized(original, key, patchValue);
      else setKey(original, key, mergeMap(current, patchValue, meta.schema));
    } else if (Array.isArray(current) && Array.isArray(patchValue)) {
      setKey(original, key, mergeListField(current, patchValue, listFieldMeta(at, key), isDeleteList));
    } else {
      setSanitized(original, key, patchValue);
    }
  }
  return original;
}

/** `$patch` on a map: replace it with the rest of the patch, or delete its content. */
function applyMapDirective(patch: JsonObject): JsonObject {
  const directive = patch[DIRECTIVE];
  if (directive === 'replace') {
    delete patch[DIRECTIVE];
    return sanitize(patch) as JsonObject;
  }
  if (directive === 'delete') return {};
  throw errBadPatchType(directive, patch);
}

/**
 * `$retainKeys`: drop every key of the original not listed. Every non-null key the patch sets
 * must be listed too.
 */
function applyRetainKeys(original: JsonObject, patch: JsonObject): void {
  if (!hasKey(patch, RETAIN_KEYS)) return;
  const retained = patch[RETAIN_KEYS];
  delete patch[RETAIN_KEYS];
  if (!Array.isArray(retained)) throw errBadPatchFormatForRetainKeys();

  const isRetained = (key: string): boolean => retained.some((item) => item === key);
  for (const [key, value] of Object.entries(patch)) {
    if (value === null || key.startsWith(DELETE_FROM_PRIMITIVE_LIST) || key.startsWith(SET_ELEMENT_ORDER)) continue;
    if (!isRetained(key)) throw errBadPatchFormatForRetainKeys();
  }
  for (const key of Object.keys(original)) {
    if (!isRetained(key)) delete original[key];
  }
}

/**
 * `$setElementOrder/<list>`: merge the list (when the patch has it) and put the result in the
 * given order, server-only elements interleaved where the live list had them. Both the directive
 * and the list are consumed from the patch.
 */
function mergeOrderedLists(original: JsonObject, patch: JsonObject, at: SchemaCursor): void {
  for (const directiveKey of Object.keys(patch)) {
    if (!directiveKey.startsWith(SET_ELEMENT_ORDER)) continue;
    const order = patch[directiveKey];
    delete patch[directiveKey];
    if (!Array.isArray(order)) throw errBadArgType(SLICE_TYPE, order);
    const field = directiveTarget(directiveKey, SET_ELEMENT_ORDER);

    const originalList = hasKey(original, field) ? asList(original[field]) : undefined;
    const patchList = hasKey(patch, field) ? asList(patch[field]) : undefined;
    const meta = listFieldMeta(at, field);
    validatePatchWithSetOrderList(patchList ?? [], order, meta.mergeKey);

    let merged: JsonValue[];
    if (originalList && patchList) merged = mergeListField(originalList, patchList, meta, false);
    else if (originalList) merged = originalList;
    else if (patchList) merged = sanitizeList(patchList);
    else continue;

    const { patchItems, serverOnly } = partitionByPresence(merged, order, meta.mergeKey);
    const elements = elementClass(originalList ?? [], patchList ?? []);
    // Upstream fails on lists without any element; ordering nothing is the useful reading (our
    // stored objects may keep an empty list where upstream's typed objects omit it).
    const ordered = elements
      ? normalizeElementOrder(patchItems, serverOnly, order, originalList ?? [], meta.mergeKey, elements === 'map')
      : merged;
    setKey(original, field, ordered);
    delete patch[field];
  }
}

function asList(value: JsonValue): JsonValue[] {
  if (!Array.isArray(value)) throw errBadArgType(SLICE_TYPE, value);
  return value;
}

/** validatePatchWithSetOrderList: the patch list must follow the order of $setElementOrder. */
function validatePatchWithSetOrderList(patchList: JsonValue[], order: JsonValue[], mergeKey: string): void {
  if (order.length === 0 || patchList.length === 0) return;
  const candidates: JsonValue[] = mergeKey ? splitDeleteItems(patchList).kept : patchList;
  let p = 0;
  let s = 0;
  while (p < candidates.length && s < order.length) {
    const item = candidates[p];
    if (isObject(item) && hasKey(item, DIRECTIVE)) {
      p++;
      continue;
    }
    if (mergeKeyValueEqual(item, order[s], mergeKey)) p++;
    s++;
  }
  if (p < candidates.length) {
    throw internal(
      `The order in patch list:\n${formatV(patchList)}\n doesn't match ${SET_ELEMENT_ORDER} list:\n${formatV(order)}\n`,
    );
  }
}

function mergeKeyValueEqual(left: JsonValue, right: JsonValue, mergeKey: string): boolean {
  if (!mergeKey) return goEqual(left, right);
  if (!isObject(left)) throw errBadArgType(MAP_TYPE, left);
  if (!isObject(right)) throw errBadArgType(MAP_TYPE, right);
  if (!hasKey(left, mergeKey)) throw errNoMergeKey(left, mergeKey);
  if (!hasKey(right, mergeKey)) throw errNoMergeKey(right, mergeKey);
  return goEqual(left[mergeKey], right[mergeKey]);
}

/** A list field: merged when its strategy says so (or for a deletion list), else replaced. */
function mergeListField(current: JsonValue[], patchList: JsonValue[], meta: FieldPatchMeta, isDeleteList: boolean): JsonValue[] {
  if (meta.strategy === 'merge' || isDeleteList) {
    return mergeList(current, patchList, meta.mergeKey, meta.schema, isDeleteList);
  }
  return sanitizeList(patchList);
}

function mergeList(original: JsonValue[], patch: JsonValue[], mergeKey: string, element: SchemaCursor, isDeleteList: boolean): JsonValue[] {
  if (original.length === 0 && patch.length === 0) return original;
  const elements = elementClass(original, patch);
  if (!elements) throw internal('no elements in any of the given slices');

  if (elements === 'scalar') {
    if (isDeleteList) {
      const isDeleted = membershipIn(patch);
      return original.filter((item) => !isDeleted(item));
    }
    const merged = uniqueValues([...original, ...patch]);
    const { patchItems, serverOnly } = partitionByPresence(merged, patch, '');
    return normalizeElementOrder(patchItems, serverOnly, patch, original, '', false);
  }

  if (mergeKey === '') throw internal('cannot merge lists without merge key for struct');
  const { remaining, plainPatch } = applyListDirectives(original, patch, mergeKey);
  const merged = mergeByKey(remaining, plainPatch, mergeKey, element);
  const { patchItems, serverOnly } = partitionByPresence(merged, plainPatch, mergeKey);
  return normalizeElementOrder(patchItems, serverOnly, plainPatch, remaining, mergeKey, true);
}

/**
 * Elements with `$patch` in a merged list of maps: `delete` removes every element with that merge
 * key; `replace` makes the other patch elements the whole list.
 */
function applyListDirectives(original: JsonValue[], patch: JsonValue[], mergeKey: string): { remaining: JsonValue[]; plainPatch: JsonObject[] } {
  let remaining = original;
  const plainPatch: JsonObject[] = [];
  let replace = false;
  for (const item of patch) {
    if (!isObject(item)) throw errBadArgType(MAP_TYPE, item);
    if (!hasKey(item, DIRECTIVE)) {
      plainPatch.push(item);
      continue;
    }
    const directive = item[DIRECTIVE];
    if (directive === 'delete') {
      if (!hasKey(item, mergeKey)) throw errNoMergeKey(item, mergeKey);
      remaining = withoutMergeKey(remaining, mergeKey, item[mergeKey]);
    } else if (directive === 'replace') {
      replace = true; // keep going: the other directives are still validated
    } else if (directive === 'merge') {
      throw internal('merging lists cannot yet be specified in the patch');
    } else {
      throw errBadPatchType(directive, item);
    }
  }
  return replace ? { remaining: sanitizeList(plainPatch), plainPatch: [] } : { remaining, plainPatch };
}

function withoutMergeKey(list: JsonValue[], mergeKey: string, value: JsonValue): JsonValue[] {
  let remaining = list;
  for (let at = findByMergeKey(remaining, mergeKey, value); at >= 0; at = findByMergeKey(remaining, mergeKey, value)) {
    remaining = [...remaining.slice(0, at), ...remaining.slice(at + 1)];
  }
  return remaining;
}

/** Merges each patch element into the element with the same merge key, or appends it. */
function mergeByKey(original: JsonValue[], patch: JsonObject[], mergeKey: string, element: SchemaCursor): JsonValue[] {
  const merged = [...original];
  for (const item of patch) {
    if (!hasKey(item, mergeKey)) throw errNoMergeKey(item, mergeKey);
    const at = findByMergeKey(merged, mergeKey, item[mergeKey]);
    if (at >= 0) merged[at] = mergeMap(merged[at] as JsonObject, item, element);
    else merged.push(sanitize(item) as JsonObject);
  }
  return merged;
}

type TypeClass = 'nil' | 'map' | 'slice' | 'string' | 'number' | 'bool';

/** Stands in for Go's reflect type; int64 and float64 are not told apart (JSON.parse cannot). */
function typeClass(value: JsonValue): TypeClass {
  if (value === null) return 'nil';
  if (Array.isArray(value)) return 'slice';
  if (isObject(value)) return 'map';
  if (typeof value === 'boolean') return 'bool';
  return typeof value === 'number' ? 'number' : 'string';
}

/** sliceElementType: all elements of one type, never lists; undefined when there are none. */
function elementClass(...lists: JsonValue[][]): 'map' | 'scalar' | undefined {
  let first: TypeClass | undefined;
  for (const list of lists) {
    for (const item of list) {
      const itemClass = typeClass(item);
      if (first === undefined) {
        if (itemClass === 'slice') throw errNoListOfLists();
        first = itemClass;
      } else if (itemClass !== first) {
        throw internal(`list element types are not identical: ${formatV(lists)}`);
      }
    }
  }
  if (first === undefined) return undefined;
  return first === 'map' ? 'map' : 'scalar';
}

/** The list name after `$setElementOrder/` or `$deleteFromPrimitiveList/`. */
function directiveTarget(key: string, prefix: string): string {
  const slash = key.indexOf('/');
  if (slash < 0 || key.slice(0, slash) !== prefix) throw badDirectiveFormat(prefix);
  return key.slice(slash + 1);
}

function badDirectiveFormat(prefix: string): PatchError {
  return prefix === DELETE_FROM_PRIMITIVE_LIST ? errBadPatchFormatForPrimitiveList() : errBadPatchFormatForSetElementOrderList();
}

function isDirectiveKey(key: string): boolean {
  return key === DIRECTIVE || key === RETAIN_KEYS || key.startsWith(SET_ELEMENT_ORDER) || key.startsWith(DELETE_FROM_PRIMITIVE_LIST);
}

/**
 * A patch value as stored when taken verbatim: maps carrying `$patch` vanish (undefined), as do
 * null map entries and directive keys. Nulls inside lists stay, as upstream keeps them.
 */
function sanitize(value: JsonValue): JsonValue | undefined {
  if (Array.isArray(value)) return sanitizeList(value);
  if (!isObject(value)) return value;
  if (hasKey(value, DIRECTIVE)) return undefined;
  const clean: JsonObject = {};
  for (const [key, item] of Object.entries(value)) {
    if (item === null || isDirectiveKey(key)) continue;
    const cleanItem = sanitize(item);
    if (cleanItem !== undefined) setKey(clean, key, cleanItem);
  }
  return clean;
}

function sanitizeList(list: JsonValue[]): JsonValue[] {
  const clean: JsonValue[] = [];
  for (const item of list) {
    const cleanItem = sanitize(item);
    if (cleanItem !== undefined) clean.push(cleanItem);
  }
  return clean;
}

function setSanitized(target: JsonObject, key: string, value: JsonValue): void {
  const clean = sanitize(value);
  if (clean === undefined) delete target[key];
  else setKey(target, key, clean);
}
