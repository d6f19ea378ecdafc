// The strategic merge patch's list helpers without per-call indexes: findByMergeKey scans the list
// (it built a Map and a closure for every lookup, once per patch element), and
// normalizeElementOrder skips the sorting and interleaving work that cannot move anything (a part
// of at most one item, an empty part). Each is compared with the code it replaced on random lists
// (maps with scalar, composite, null and missing merge keys, non-maps, duplicates, `$patch:
// delete` items): the same index, the same order, the same error.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { findByMergeKey, mergeKeyLookup, normalizeElementOrder, goEqual, splitDeleteItems } from '../src/apiserver/patch/order.js';
import { errBadArgType, errNoMergeKey, internal } from '../src/apiserver/patch/errors.js';
import { hasKey, isObject, type JsonObject, type JsonValue } from '../src/apiserver/patch/value.js';
import { strategicMergePatch } from '../src/apiserver/patch/strategic.js';
import { schemaForKind, resolveRef } from '../src/api/schema.js';

// ---- the replaced code, as it was ----

function isScalar(value: JsonValue): boolean {
  return value === null || typeof value !== 'object';
}

// findByMergeKey's old body was the index lookup order.ts still uses for many lookups in one list.
const oldFindByMergeKey = (list: JsonValue[], mergeKey: string, value: JsonValue): number => mergeKeyLookup(list, mergeKey)(value);

const MAP_TYPE = 'map[string]interface {}';

function oldValidateMergeKeyInLists(mergeKey: string, ...lists: JsonValue[][]): void {
  for (const list of lists) {
    for (const item of list) {
      if (!isObject(item)) throw errBadArgType(MAP_TYPE, item);
      if (!hasKey(item, mergeKey)) throw errNoMergeKey(item, mergeKey);
    }
  }
}

function oldNormalizeElementOrder(patchItems: JsonValue[], serverOnly: JsonValue[], patchOrder: JsonValue[], serverOrder: JsonValue[], mergeKey: string, elementsAreMaps: boolean): JsonValue[] {
  const sortedPatch = oldSortByReference(patchItems, patchOrder, mergeKey, elementsAreMaps);
  const sortedServer = oldSortByReference(serverOnly, serverOrder, mergeKey, elementsAreMaps);
  const serverPosition = oldPositionIn(serverOrder, mergeKey, elementsAreMaps);
  const patchAt = sortedPatch.map(serverPosition);
  const serverAt = sortedServer.map(serverPosition);
  const result: JsonValue[] = [];
  let i = 0;
  let j = 0;
  while (i < sortedServer.length || j < sortedPatch.length) {
    const serverFirst = j >= sortedPatch.length || (i < sortedServer.length && serverAt[i]! >= 0 && patchAt[j]! >= 0 && serverAt[i]! < patchAt[j]!);
    result.push(serverFirst ? sortedServer[i++]! : sortedPatch[j++]!);
  }
  return result;
}

function oldSortByReference(items: JsonValue[], order: JsonValue[], mergeKey: string, elementsAreMaps: boolean): JsonValue[] {
  let toSort: JsonValue[] = items;
  let deleted: JsonValue[] = [];
  if (elementsAreMaps) {
    oldValidateMergeKeyInLists(mergeKey, items, order);
    ({ kept: toSort, deleted } = splitDeleteItems(items));
  }
  const position = oldPositionIn(order, mergeKey, elementsAreMaps);
  const keyed = toSort.map((item) => ({ item, at: position(item) }));
  keyed.sort((a, b) => (a.at >= 0 && b.at >= 0 ? a.at - b.at : 0));
  return [...keyed.map((k) => k.item), ...deleted];
}

function oldPositionIn(list: JsonValue[], mergeKey: string, elementsAreMaps: boolean): (item: JsonValue) => number {
  const keyOf = (value: JsonValue): JsonValue => (elementsAreMaps ? (isObject(value) && hasKey(value, mergeKey) ? value[mergeKey]! : null) : value);
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

// ---- random inputs ----

/** A small deterministic generator (mulberry32), so that a failure can be replayed. */
function rng(seed: number): () => number {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const KEYS: JsonValue[] = ['a', 'b', 'c', 'd', 1, 2, 0, '', null, true, false, { x: 1 }, { x: 2 }, ['a'], ['a', 'b']];

function randomKey(r: () => number): JsonValue {
  const k = KEYS[Math.floor(r() * KEYS.length)]!;
  return typeof k === 'object' && k !== null ? JSON.parse(JSON.stringify(k)) as JsonValue : k;
}

function randomItem(r: () => number, mergeKey: string, opts: { nonMaps: boolean; missing: boolean; deletes: boolean }): JsonValue {
  const x = r();
  if (opts.nonMaps && x < 0.05) return [null, 3, 'str', ['l']][Math.floor(r() * 4)]!;
  const item: JsonObject = {};
  if (!(opts.missing && x < 0.12)) item[mergeKey] = randomKey(r);
  if (r() < 0.5) item.v = Math.floor(r() * 10);
  if (opts.deletes && r() < 0.1) item.$patch = 'delete';
  return item;
}

function randomList(r: () => number, mergeKey: string, opts: { nonMaps: boolean; missing: boolean; deletes: boolean }): JsonValue[] {
  const n = Math.floor(r() * 7);
  return Array.from({ length: n }, () => randomItem(r, mergeKey, opts));
}

function outcome<T>(f: () => T): { value?: T; error?: string } {
  try {
    return { value: f() };
  } catch (e) {
    return { error: e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e) };
  }
}

describe('findByMergeKey scans the list as the per-call index did', () => {
  test('random lists and values', () => {
    const r = rng(42);
    let found = 0, thrown = 0;
    for (let i = 0; i < 20000; i++) {
      const list = randomList(r, 'name', { nonMaps: true, missing: true, deletes: false });
      const value = randomKey(r);
      const want = outcome(() => oldFindByMergeKey(list, 'name', value));
      const got = outcome(() => findByMergeKey(list, 'name', value));
      assert.deepEqual(got, want, `list ${JSON.stringify(list)} value ${JSON.stringify(value)}`);
      if (want.error) thrown++;
      else if (want.value! >= 0) found++;
    }
    // The generator reaches every outcome.
    assert.ok(found > 1000 && thrown > 100, `found ${found} thrown ${thrown}`);
  });

  test('scalars match scalars only, composites by value, the first match wins', () => {
    const list: JsonValue[] = [{ k: ['a'] }, { k: 'a' }, { v: 1 }, { k: { x: 1 } }, { k: 'a' }, { k: null }, { k: 0 }];
    assert.equal(findByMergeKey(list, 'k', 'a'), 1);
    assert.equal(findByMergeKey(list, 'k', ['a']), 0);
    assert.equal(findByMergeKey(list, 'k', { x: 1 }), 3);
    assert.equal(findByMergeKey(list, 'k', null), 5);
    assert.equal(findByMergeKey(list, 'k', 0), 6);
    assert.equal(findByMergeKey(list, 'k', false), -1);
    assert.equal(findByMergeKey(list, 'k', '0'), -1);
    assert.throws(() => findByMergeKey([{ k: 'a' }, 'x', { k: 'b' }], 'k', 'b'), /value for key 1 is not a map/);
    assert.equal(findByMergeKey([{ k: 'a' }, 'x', { k: 'b' }], 'k', 'a'), 0);
  });
});

describe('normalizeElementOrder without the work that moves nothing', () => {
  test('random parts and orders, maps and scalars', () => {
    const r = rng(7);
    let errors = 0, emptyPart = 0;
    for (let i = 0; i < 20000; i++) {
      const maps = r() < 0.7;
      const opts = { nonMaps: r() < 0.1, missing: r() < 0.1, deletes: true };
      const gen = (): JsonValue[] => maps ? randomList(r, 'name', opts) : Array.from({ length: Math.floor(r() * 5) }, () => randomKey(r));
      // Parts are often empty or a single item, as in a status patch.
      const part = (): JsonValue[] => { const l = gen(); const n = r() < 0.3 ? 0 : r() < 0.5 ? Math.min(1, l.length) : l.length; return l.slice(0, n); };
      const patchItems = part(), serverOnly = part();
      const patchOrder = r() < 0.8 ? [...patchItems, ...gen()].sort(() => r() - 0.5) : gen();
      const serverOrder = r() < 0.8 ? [...serverOnly, ...patchItems, ...gen()].sort(() => r() - 0.5) : gen();
      const want = outcome(() => oldNormalizeElementOrder(patchItems, serverOnly, patchOrder, serverOrder, 'name', maps));
      const got = outcome(() => normalizeElementOrder(patchItems, serverOnly, patchOrder, serverOrder, 'name', maps));
      assert.deepEqual(got, want, JSON.stringify({ patchItems, serverOnly, patchOrder, serverOrder, maps }));
      if (want.error) errors++;
      if (!patchItems.length || !serverOnly.length) emptyPart++;
      // The answer is a list of its own: changing it leaves the inputs alone.
      if (got.value) {
        got.value.push('x');
        assert.notEqual(patchItems.at(-1), 'x');
        assert.notEqual(serverOnly.at(-1), 'x');
      }
    }
    assert.ok(errors > 100 && emptyPart > 1000, `errors ${errors} emptyPart ${emptyPart}`);
  });
});

test("a kubelet's status patch gives the same pod as before", () => {
  const pod = {
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default' },
    status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: '2026-11-28T01:00:00Z' }], podIPs: [{ ip: '10.0.0.9' }] },
  };
  const t = '2026-11-28T01:00:01Z';
  const patch = { metadata: { uid: 'u' }, status: {
    phase: 'Running',
    conditions: ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady'].map((type) => ({ type, status: 'True', lastTransitionTime: t })),
    '$setElementOrder/conditions': ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map((type) => ({ type })),
    podIPs: [{ ip: '10.0.0.7' }], '$setElementOrder/podIPs': [{ ip: '10.0.0.7' }, { ip: '10.0.0.9' }],
  } };
  const out = strategicMergePatch(pod, patch, schemaForKind('v1', 'Pod'), resolveRef) as { status: { conditions: { type: string }[]; podIPs: { ip: string }[] } };
  assert.deepEqual(out.status.conditions.map((c) => c.type), ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled']);
  assert.deepEqual(out.status.podIPs, [{ ip: '10.0.0.7' }, { ip: '10.0.0.9' }]);
});
