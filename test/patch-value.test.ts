// The JSON value helpers of the patch engines: cloneJson copies exactly what JSON.stringify would
// keep, and jsonDeepStrictEqual answers as util.isDeepStrictEqual on JSON values.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import { cloneJson, jsonDeepStrictEqual } from '../src/apiserver/patch/value.js';

/** A small deterministic generator, so that a failure can be replayed. */
function generator(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
}

const SCALARS: unknown[] = [null, true, false, 0, -0, 1, 1.5, NaN, '', '0', 'a', 'Ready', undefined];
const KEYS = ['a', 'b', 'c', '0', '10', 'type', '__proto__'];

function randomValue(rnd: () => number, depth: number): unknown {
  const r = rnd();
  if (depth === 0 || r < 0.4) return SCALARS[Math.floor(rnd() * SCALARS.length)];
  if (r < 0.7) return Array.from({ length: Math.floor(rnd() * 4) }, () => randomValue(rnd, depth - 1));
  const o: Record<string, unknown> = {};
  for (let n = Math.floor(rnd() * 4); n > 0; n--) {
    Object.defineProperty(o, KEYS[Math.floor(rnd() * KEYS.length)]!, { value: randomValue(rnd, depth - 1), enumerable: true, writable: true, configurable: true });
  }
  return o;
}

/** A copy of `v` with one random change at most, so that equal and unequal pairs both occur often. */
function variant(rnd: () => number, v: unknown): unknown {
  if (Array.isArray(v)) {
    const copy = v.map((x) => (rnd() < 0.4 ? variant(rnd, x) : x));
    if (rnd() < 0.1) copy.push(null);
    return copy;
  }
  if (v !== null && typeof v === 'object') {
    const copy: Record<string, unknown> = {};
    // Reversed key order: the comparison must not depend on it.
    for (const k of Object.keys(v).reverse()) {
      const x = (v as Record<string, unknown>)[k];
      Object.defineProperty(copy, k, { value: rnd() < 0.4 ? variant(rnd, x) : x, enumerable: true, writable: true, configurable: true });
    }
    if (rnd() < 0.1) delete copy[Object.keys(copy)[0] ?? ''];
    return copy;
  }
  return rnd() < 0.3 ? SCALARS[Math.floor(rnd() * SCALARS.length)] : v;
}

describe('jsonDeepStrictEqual', () => {
  test('answers as util.isDeepStrictEqual on 20,000 random JSON pairs', () => {
    const rnd = generator(42);
    let equal = 0;
    for (let i = 0; i < 20_000; i++) {
      const a = randomValue(rnd, 4);
      const b = rnd() < 0.3 ? structuredClone(a) : variant(rnd, a);
      const expected = isDeepStrictEqual(a, b);
      if (expected) equal++;
      assert.equal(jsonDeepStrictEqual(a, b), expected, `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
    }
    // Both answers occur often enough for the comparison to mean something.
    assert.ok(equal > 2_000 && equal < 18_000, `equal pairs: ${equal}`);
  });

  test('edge cases', () => {
    assert.equal(jsonDeepStrictEqual(0, -0), false);
    assert.equal(jsonDeepStrictEqual(NaN, NaN), true);
    assert.equal(jsonDeepStrictEqual({ a: undefined }, {}), false);
    assert.equal(jsonDeepStrictEqual({}, { a: undefined }), false);
    assert.equal(jsonDeepStrictEqual([], {}), false);
    assert.equal(jsonDeepStrictEqual({ a: [1, { b: 'x' }] }, { a: [1, { b: 'x' }] }), true);
    assert.equal(jsonDeepStrictEqual(new Date(0), new Date(0)), true);
    assert.equal(jsonDeepStrictEqual(new Date(0), new Date(1)), false);
    assert.equal(jsonDeepStrictEqual([1, , 3], [1, undefined, 3]), false); // eslint-disable-line no-sparse-arrays
  });
});

describe('cloneJson', () => {
  test('equals a JSON round trip on random values, own "__proto__" keys included', () => {
    const rnd = generator(7);
    for (let i = 0; i < 5_000; i++) {
      const v = randomValue(rnd, 4);
      const copy = cloneJson(v);
      const text = JSON.stringify(v);
      assert.equal(JSON.stringify(copy), text === undefined ? 'null' : text);
    }
  });

  test('inherited properties are not copied', () => {
    const o = Object.create({ inherited: 1 }) as Record<string, unknown>;
    o.own = 2;
    assert.deepEqual(cloneJson(o), { own: 2 });
  });
});
