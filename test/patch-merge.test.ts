// JSON merge patch: the RFC 7386 appendix A examples, plus the behaviour of the library the API
// server uses (evanphx/json-patch.v4) where it differs from the RFC.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { applyPatch, PatchError } from '../src/apiserver/patch/index.js';

const merge = (original: unknown, patch: unknown): unknown => applyPatch('merge', original, patch);

describe('RFC 7386 appendix A', () => {
  const examples: [original: unknown, patch: unknown, expected: unknown][] = [
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [['a', 'b'], ['c', 'd'], ['c', 'd']],
    [{ a: 'b' }, ['c'], ['c']],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: 'b', c: null }, { a: 'b' }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ];
  examples.forEach(([original, patch, expected], i) => {
    test(`example ${i + 1}: ${JSON.stringify(original)} + ${JSON.stringify(patch)}`, () => {
      assert.deepEqual(merge(original, patch), expected);
    });
  });
});

describe('server behaviour', () => {
  test('an absent map is created from the patch without its nulls', () => {
    assert.deepEqual(merge({ metadata: { name: 'x' } }, { metadata: { annotations: { a: null, b: '1' } } }), {
      metadata: { name: 'x', annotations: { b: '1' } },
    });
  });

  test('deleting a key of an absent map leaves an empty map', () => {
    assert.deepEqual(merge({ metadata: { name: 'x' } }, { metadata: { annotations: { a: null } } }), {
      metadata: { name: 'x', annotations: {} },
    });
  });

  test('a null field is replaced like an absent one', () => {
    assert.deepEqual(merge({ spec: null }, { spec: { a: 1, b: null } }), { spec: { a: 1 } });
  });

  test('an object replacing a scalar loses its nulls', () => {
    assert.deepEqual(merge({ a: [1] }, { a: { b: null, c: 1 } }), { a: { c: 1 } });
  });

  test('a list replacing a scalar loses nulls of its objects but keeps null elements', () => {
    assert.deepEqual(merge({ a: 1 }, { a: [{ b: null, c: 1 }, null] }), { a: [{ c: 1 }, null] });
  });

  test('a list replacing an object is taken as is', () => {
    assert.deepEqual(merge({ a: { x: 1 } }, { a: [{ b: null }] }), { a: [{ b: null }] });
  });

  test('a list patch replaces the document, without nulls in its objects', () => {
    assert.deepEqual(merge({ a: 1 }, [{ b: null, c: 2 }]), [{ c: 2 }]);
  });

  test('inputs are not mutated', () => {
    const original = { a: { b: 1, c: 2 } };
    const patch = { a: { b: null, d: { e: null } } };
    const before = JSON.stringify([original, patch]);
    assert.deepEqual(merge(original, patch), { a: { c: 2, d: {} } });
    assert.equal(JSON.stringify([original, patch]), before);
  });

  for (const [name, patch] of [
    ['null', null],
    ['a string', 'x'],
    ['a number', 1],
    ['a boolean', false],
  ] as const) {
    test(`a patch that is ${name} is a 400`, () => {
      assert.throws(
        () => merge({ a: 1 }, patch),
        (err: unknown) => err instanceof PatchError && err.code === 400 && err.reason === 'BadRequest' && err.message === 'Invalid JSON Patch',
      );
    });
  }
});
