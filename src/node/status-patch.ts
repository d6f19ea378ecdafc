// Status writes as the kubelet sends them: a strategic merge patch of the status subresource that
// carries only what changed (upstream's PatchPodStatus / PatchNodeStatus compute a two-way merge
// patch), so that fields and conditions other components own are never overwritten.
//
// Equality is apimachinery's semantic equality as far as JSON shows it: a missing field, null, an
// empty object and an empty list are the same (Go drops them with omitempty, and a patch's null
// deletes a field rather than storing null).

function isEmpty(v: unknown): boolean {
  if (v === undefined || v === null) return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object') {
    for (const k in v as object) if (!isEmpty((v as Record<string, unknown>)[k])) return false;
    return true;
  }
  return false;
}

/**
 * Semantic equality of two JSON values (see above). Loops without intermediate arrays or sets:
 * the node agent compares every pod's status on every sync.
 */
export function semanticEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (isEmpty(a) && isEmpty(b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!semanticEqual(a[i], b[i])) return false;
    return true;
  }
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  for (const k in ra) if (!semanticEqual(ra[k], Object.hasOwn(rb, k) ? rb[k] : undefined)) return false;
  // Keys only b has: equal only if empty there.
  for (const k in rb) if (!Object.hasOwn(ra, k) && !isEmpty(rb[k])) return false;
  return true;
}

/** The merge key of each list merged by key (patchStrategy merge) in PodStatus and NodeStatus. */
const MERGE_KEYS: Record<string, string> = { conditions: 'type', podIPs: 'ip', hostIPs: 'ip', addresses: 'type' };

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The keys of `base`, then those only `desired` has, each in its object's order (as a Set of
 * both lists would give them, without building it): the order of the patch's members.
 */
function eachKey(base: Json, desired: Json, fn: (k: string) => void): void {
  for (const k of Object.keys(base)) fn(k);
  for (const k of Object.keys(desired)) if (!Object.hasOwn(base, k)) fn(k);
}

/**
 * A map patch: changed keys, nested maps patched recursively, removed keys as null. At the top
 * of a status (`topLevel`), the lists of MERGE_KEYS are merged by key instead of replaced.
 */
function mapPatch(base: Json, desired: Json, topLevel = false): Json {
  const out: Json = {};
  eachKey(base, desired, (k) => {
    const b = base[k];
    const d = desired[k];
    if (semanticEqual(b, d)) return;
    if (isEmpty(d)) out[k] = null;
    else if (topLevel && MERGE_KEYS[k] && Array.isArray(d)) keyedListPatch(k, MERGE_KEYS[k], Array.isArray(b) ? (b as Json[]) : [], d as Json[], out);
    else if (isObject(b) && isObject(d)) out[k] = mapPatch(b, d);
    else out[k] = withoutEmpty(d);
  });
  return out;
}

/** A value as sent in a patch: empty fields left out (a null would delete, not store, them). */
function withoutEmpty(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutEmpty);
  if (!isObject(v)) return v;
  const out: Json = {};
  for (const k of Object.keys(v)) {
    const x = v[k];
    if (x !== undefined && x !== null) out[k] = withoutEmpty(x);
  }
  return out;
}

/**
 * A list merged by `key`: changed and new elements (fields they lost set to null), removed
 * elements as `$patch: delete`, and the order of the result in `$setElementOrder/<name>`.
 */
function keyedListPatch(name: string, key: string, base: Json[], desired: Json[], out: Json): void {
  const old = new Map(base.map((e) => [e[key], e]));
  const changed: Json[] = [];
  for (const e of desired) {
    const b = old.get(e[key]);
    if (b && semanticEqual(b, e)) continue;
    if (!b) {
      changed.push(withoutEmpty(e) as Json);
      continue;
    }
    // The merge key last, after the changed fields (a fresh object: no copy needed to add it).
    const p = mapPatch(b, e);
    p[key] = e[key];
    changed.push(p);
  }
  const kept = new Set(desired.map((e) => e[key]));
  for (const b of base) if (!kept.has(b[key])) changed.push({ [key]: b[key], $patch: 'delete' });
  if (changed.length) out[name] = changed;
  out[`$setElementOrder/${name}`] = desired.map((e) => ({ [key]: e[key] }));
}

/** The strategic merge patch that turns status `base` into `desired` (empty when nothing changed). */
export function statusPatch(base: Json, desired: Json): Json {
  return mapPatch(base, desired, true);
}
