// Element order of merged lists, following upstream's rules (strategicpatch: normalizeElementOrder,
// mergeSortedSlice, partition*ByPresentInList). The merged list is split into "patch items"
// (present in the patch list, or in $setElementOrder when given) and "server-only items". Each part
// is sorted by its reference order, then the parts are interleaved: a server-only item goes before a
// patch item only when both occur in the live list and it came first there. So an element the
// patch adds that the live list lacks lands *before* the remaining server-only elements, e.g. live
// [a b] + patch [c] gives [c a b]; kubectl avoids that by sending $setElementOrder.
import { errBadArgType, errNoMergeKey, internal } from './errors.js';
import { deepEqual, hasKey, isObject, type JsonObject, type JsonValue } from './value.js';

const MAP_TYPE = 'map[string]interface {}';

/**
 * Go's == on two interface values. Composite merge-key values would make Go panic; comparing them
 * structurally is the sane reading.
 */
export function goEqual(a: JsonValue, b: JsonValue): boolean {
  return a === b || (typeof a === 'object' && typeof b === 'object' && a !== null && b !== null && deepEqual(a, b));
}

/**
 * Index of the first map whose merge key equals `value`; every element scanned must be a map.
 * One lookup scans the list as upstream does (mergeKeyLookup's index is for many lookups in one
 * list: built for each of a patch's elements it cost a Map and a closure per element). Scalar
 * values match scalar keys (SameValueZero, as the index's Map), composite ones composite keys
 * (goEqual), the first match winning either way.
 */
export function findByMergeKey(list: JsonValue[], mergeKey: string, value: JsonValue): number {
  const scalar = isScalar(value);
  for (let at = 0; at < list.length; at++) {
    const item = list[at];
    if (!isObject(item)) throw internal(`value for key ${at} is not a map`);
    if (!hasKey(item, mergeKey)) continue;
    const key = item[mergeKey];
    if (scalar ? isScalar(key) && (key === value || (key !== key && value !== value)) : !isScalar(key) && goEqual(key, value)) return at;
  }
  return -1;
}

/**
 * findByMergeKey for many lookups in one list. A scan fails at the first element that is not a map
 * unless a match comes before it; the lookup reproduces that.
 */
export function mergeKeyLookup(list: JsonValue[], mergeKey: string): (value: JsonValue) => number {
  const firstByScalar = new Map<JsonValue, number>();
  const compositeKeys: { at: number; key: JsonValue }[] = [];
  let notMapAt = list.length;
  for (let at = 0; at < list.length; at++) {
    const item = list[at];
    if (!isObject(item)) {
      notMapAt = at;
      break;
    }
    if (!hasKey(item, mergeKey)) continue;
    const key = item[mergeKey];
    if (!isScalar(key)) compositeKeys.push({ at, key });
    else if (!firstByScalar.has(key)) firstByScalar.set(key, at);
  }
  return (value) => {
    const at = isScalar(value) ? firstByScalar.get(value) ?? -1 : compositeKeys.find((c) => goEqual(c.key, value))?.at ?? -1;
    if (at >= 0) return at;
    if (notMapAt < list.length) throw internal(`value for key ${notMapAt} is not a map`);
    return -1;
  };
}

/** Every item must be a map carrying the merge key. */
function validateMergeKeyInLists(mergeKey: string, ...lists: JsonValue[][]): void {
  for (const list of lists) {
    for (const item of list) {
      if (!isObject(item)) throw errBadArgType(MAP_TYPE, item);
      if (!hasKey(item, mergeKey)) throw errNoMergeKey(item, mergeKey);
    }
  }
}

/** Splits maps into those without and those with `$patch: delete`. */
export function splitDeleteItems(list: JsonValue[]): { kept: JsonObject[]; deleted: JsonObject[] } {
  const kept: JsonObject[] = [];
  const deleted: JsonObject[] = [];
  for (const item of list) {
    if (!isObject(item)) throw errBadArgType(MAP_TYPE, item);
    (hasKey(item, '$patch') && item.$patch === 'delete' ? deleted : kept).push(item);
  }
  return { kept, deleted };
}

/** Splits `merged` into items present in `partitionBy` (by merge key for maps) and the rest. */
export function partitionByPresence(
  merged: JsonValue[],
  partitionBy: JsonValue[],
  mergeKey: string,
): { patchItems: JsonValue[]; serverOnly: JsonValue[] } {
  const patchItems: JsonValue[] = [];
  const serverOnly: JsonValue[] = [];
  const isPresent = mergeKey === '' ? membershipIn(partitionBy) : presenceByMergeKey(partitionBy, mergeKey);
  for (const item of merged) (isPresent(item) ? patchItems : serverOnly).push(item);
  return { patchItems, serverOnly };
}

function presenceByMergeKey(list: JsonValue[], mergeKey: string): (item: JsonValue) => boolean {
  const find = mergeKeyLookup(list, mergeKey);
  return (item) => {
    if (!isObject(item)) throw errBadArgType(MAP_TYPE, item);
    if (!hasKey(item, mergeKey)) throw errNoMergeKey(item, mergeKey);
    return find(item[mergeKey]) >= 0;
  };
}

/**
 * Orders patch items by `patchOrder` and server-only items by `serverOrder` (the live list), then
 * interleaves them.
 */
export function normalizeElementOrder(
  patchItems: JsonValue[],
  serverOnly: JsonValue[],
  patchOrder: JsonValue[],
  serverOrder: JsonValue[],
  mergeKey: string,
  elementsAreMaps: boolean,
): JsonValue[] {
  const sortedPatch = sortByReference(patchItems, patchOrder, mergeKey, elementsAreMaps);
  const sortedServer = sortByReference(serverOnly, serverOrder, mergeKey, elementsAreMaps);
  // With one part empty the interleaving below takes the other as it is (both are fresh arrays).
  if (sortedServer.length === 0) return sortedPatch;
  if (sortedPatch.length === 0) return sortedServer;
  const serverPosition = positionIn(serverOrder, mergeKey, elementsAreMaps);
  const patchAt = sortedPatch.map(serverPosition);
  const serverAt = sortedServer.map(serverPosition);

  const result: JsonValue[] = [];
  let i = 0;
  let j = 0;
  while (i < sortedServer.length || j < sortedPatch.length) {
    const serverFirst =
      j >= sortedPatch.length || (i < sortedServer.length && serverAt[i] >= 0 && patchAt[j] >= 0 && serverAt[i] < patchAt[j]);
    result.push(serverFirst ? sortedServer[i++] : sortedPatch[j++]);
  }
  return result;
}

/**
 * normalizeSliceOrder: stable sort by position in `order`; maps marked `$patch: delete` go last.
 * Items missing from `order` keep their relative place (upstream's comparator is inconsistent for
 * them; they only occur with an empty $setElementOrder list).
 */
function sortByReference(items: JsonValue[], order: JsonValue[], mergeKey: string, elementsAreMaps: boolean): JsonValue[] {
  let toSort: JsonValue[] = items;
  let deleted: JsonValue[] = [];
  if (elementsAreMaps) {
    validateMergeKeyInLists(mergeKey, items, order);
    ({ kept: toSort, deleted } = splitDeleteItems(items));
  }
  // Nothing to sort: the positions (pure lookups) would not move anything.
  if (toSort.length <= 1) return [...toSort, ...deleted];
  const position = positionIn(order, mergeKey, elementsAreMaps);
  const keyed = toSort.map((item) => ({ item, at: position(item) }));
  keyed.sort((a, b) => (a.at >= 0 && b.at >= 0 ? a.at - b.at : 0));
  return [...keyed.map((k) => k.item), ...deleted];
}

/**
 * Upstream's index(): the first position in `list` of an item, compared by merge-key value for
 * maps and by value otherwise; -1 when absent. Scalar keys are looked up in a map.
 */
function positionIn(list: JsonValue[], mergeKey: string, elementsAreMaps: boolean): (item: JsonValue) => number {
  const keyOf = (value: JsonValue): JsonValue =>
    elementsAreMaps ? (isObject(value) && hasKey(value, mergeKey) ? value[mergeKey] : null) : value;
  const keys = list.map(keyOf);
  const firstByScalar = new Map<JsonValue, number>();
  keys.forEach((key, at) => {
    if (isScalar(key) && !firstByScalar.has(key)) firstByScalar.set(key, at);
  });
  return (item) => {
    const wanted = keyOf(item);
    if (isScalar(wanted)) return firstByScalar.get(wanted) ?? -1;
    return keys.findIndex((key) => goEqual(key, wanted));
  };
}

/** Whether a value occurs in `list` (Go ==); scalars are looked up in a set. */
export function membershipIn(list: JsonValue[]): (item: JsonValue) => boolean {
  const scalars = new Set(list.filter(isScalar));
  const composites = list.filter((value) => !isScalar(value));
  return (item) => (isScalar(item) ? scalars.has(item) : composites.some((other) => goEqual(other, item)));
}

/** The list without repeats (Go ==), keeping first occurrences. */
export function uniqueValues(list: JsonValue[]): JsonValue[] {
  const seenScalars = new Set<JsonValue>();
  const unique: JsonValue[] = [];
  for (const item of list) {
    if (isScalar(item) ? seenScalars.has(item) : unique.some((other) => goEqual(other, item))) continue;
    if (isScalar(item)) seenScalars.add(item);
    unique.push(item);
  }
  return unique;
}

function isScalar(value: JsonValue): boolean {
  return value === null || typeof value !== 'object';
}
