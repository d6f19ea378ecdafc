// JSON merge patch (RFC 7386) as the API server applies it: gopkg.in/evanphx/json-patch.v4
// MergePatch. Objects merge recursively, `null` deletes a key, anything else replaces. Values the
// patch puts in place lose their null object members, except where a non-object value replaces
// an object (that library's quirk, kept because it is what the server stores).
import { badRequest } from './errors.js';
import { cloneJson, hasKey, isObject, setKey, type JsonObject, type JsonValue } from './value.js';

export function jsonMergePatch(original: unknown, patch: unknown): JsonValue {
  const patchValue = cloneJson(patch);
  // A patch of null or a scalar is not a merge patch at all.
  if (patchValue === null || (!isObject(patchValue) && !Array.isArray(patchValue))) {
    throw badRequest('Invalid JSON Patch');
  }
  // A list replaces the whole document.
  if (Array.isArray(patchValue)) return pruneNulls(patchValue);
  const document = cloneJson(original);
  if (!isObject(document)) return pruneNulls(patchValue);
  return mergeObjects(document, patchValue);
}

function mergeObjects(document: JsonObject, patch: JsonObject): JsonObject {
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) {
      delete document[key];
    } else if (!hasKey(document, key) || document[key] === null) {
      setKey(document, key, pruneNulls(value));
    } else {
      setKey(document, key, mergeValue(document[key], value));
    }
  }
  return document;
}

function mergeValue(current: JsonValue, patch: JsonValue): JsonValue {
  if (!isObject(current)) return pruneNulls(patch);
  if (!isObject(patch)) return patch;
  return mergeObjects(current, patch);
}

/** Removes null object members at any depth; null list elements stay. */
function pruneNulls(value: JsonValue): JsonValue {
  if (Array.isArray(value)) return value.map((item) => (item === null ? null : pruneNulls(item)));
  if (!isObject(value)) return value;
  for (const [key, item] of Object.entries(value)) {
    if (item === null) delete value[key];
    else setKey(value, key, pruneNulls(item));
  }
  return value;
}
