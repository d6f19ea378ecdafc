// JSON value helpers shared by the patch engines. The engines work on private deep copies so they
// can edit in place (as upstream does on its decoded maps) without touching the caller's values.
import { isDeepStrictEqual } from 'node:util';

export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

export function isObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

export function hasKey(object: object, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(object, key);
}

/** Sets an own property; a plain assignment of `__proto__` would replace the prototype instead. */
export function setKey(object: JsonObject, key: string, value: JsonValue): void {
  if (key === '__proto__') {
    Object.defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true });
  } else {
    object[key] = value;
  }
}

/** Deep copy of a parsed JSON value (anything that is not JSON is dropped like JSON.stringify would). */
export function cloneJson(value: unknown): JsonValue {
  if (Array.isArray(value)) return value.map((item) => (item === undefined ? null : cloneJson(item)));
  if (isObject(value)) {
    // for-in over own keys rather than Object.entries: no [key, value] array per property, which
    // on a pod copied per status write was about half of what the copy allocated.
    const copy: JsonObject = {};
    for (const key in value) {
      if (!hasKey(value, key)) continue;
      const item = value[key];
      if (item !== undefined && typeof item !== 'function') setKey(copy, key, cloneJson(item));
    }
    return copy;
  }
  if (typeof value === 'string' || typeof value === 'boolean' || value === null) return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  return null;
}

export function deepEqual(a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((item, i) => deepEqual(item, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => hasKey(b, k) && deepEqual(a[k], b[k]));
  }
  return false;
}

/**
 * util.isDeepStrictEqual for parsed JSON values (plain objects, arrays without holes or extra
 * properties, strings, numbers, booleans, null; a key holding undefined counts as present, as
 * there): the same answer without the key arrays and bookkeeping Node's comparison allocates,
 * which showed up on every write that compares an object with its stored version. Objects of
 * other classes and sparse arrays are handed to isDeepStrictEqual.
 */
export function jsonDeepStrictEqual(a: unknown, b: unknown): boolean {
  if (a === b) return a !== 0 || Object.is(a, b);
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return Number.isNaN(a) && Number.isNaN(b);
  const pa = Object.getPrototypeOf(a), pb = Object.getPrototypeOf(b);
  if (pa !== pb) return false;
  if (pa === Array.prototype) {
    const x = a as unknown[], y = b as unknown[];
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) {
      if (!(i in x) || !(i in y)) return isDeepStrictEqual(a, b);
      if (!jsonDeepStrictEqual(x[i], y[i])) return false;
    }
    return true;
  }
  if (pa !== Object.prototype && pa !== null) return isDeepStrictEqual(a, b);
  return sameMembers(a as Record<string, unknown>, b as Record<string, unknown>);
}

/**
 * Whether two plain objects have the same own keys holding jsonDeepStrictEqual values, the keys
 * in `skip` left out of both (compared in place, not on copies without them).
 */
export function sameMembers(x: Record<string, unknown>, y: Record<string, unknown>, skip?: ReadonlySet<string>): boolean {
  let count = 0;
  for (const key in x) {
    if (!hasKey(x, key) || skip?.has(key)) continue;
    if (!hasKey(y, key) || !jsonDeepStrictEqual(x[key], y[key])) return false;
    count++;
  }
  for (const key in y) if (hasKey(y, key) && !skip?.has(key)) count--;
  return count === 0;
}
