// JSON patch (RFC 6902) and the API server's error classes for it.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { applyPatch, PatchError } from '../src/apiserver/patch/index.js';

const jsonPatch = (original: unknown, patch: unknown): unknown => applyPatch('json', original, patch);

const doc = (): Record<string, unknown> => ({
  metadata: { name: 'cm', labels: { app: 'a' } },
  data: { k1: 'v1', k2: 'v2' },
  list: ['x', 'y'],
});

describe('operations', () => {
  const cases: [name: string, patch: unknown, expected: unknown][] = [
    ['add a member', [{ op: 'add', path: '/data/k3', value: 'v3' }], { ...doc(), data: { k1: 'v1', k2: 'v2', k3: 'v3' } }],
    ['add replaces an existing member', [{ op: 'add', path: '/data/k1', value: 'new' }], { ...doc(), data: { k1: 'new', k2: 'v2' } }],
    ['add inserts into a list', [{ op: 'add', path: '/list/1', value: 'z' }], { ...doc(), list: ['x', 'z', 'y'] }],
    ['add appends with -', [{ op: 'add', path: '/list/-', value: 'z' }], { ...doc(), list: ['x', 'y', 'z'] }],
    ['remove', [{ op: 'remove', path: '/data/k1' }], { ...doc(), data: { k2: 'v2' } }],
    ['replace', [{ op: 'replace', path: '/metadata/labels/app', value: 'b' }], { ...doc(), metadata: { name: 'cm', labels: { app: 'b' } } }],
    ['move', [{ op: 'move', from: '/data/k1', path: '/data/k9' }], { ...doc(), data: { k2: 'v2', k9: 'v1' } }],
    ['copy', [{ op: 'copy', from: '/data/k1', path: '/list/0' }], { ...doc(), list: ['v1', 'x', 'y'] }],
    ['a passing test', [{ op: 'test', path: '/data', value: { k2: 'v2', k1: 'v1' } }], doc()],
    ['test for null at an absent key passes', [{ op: 'test', path: '/metadata/annotations', value: null }], doc()],
    ['test without value at an absent key passes', [{ op: 'test', path: '/data/none' }], doc()],
    ['an empty patch', [], doc()],
    ['a null patch has no operations', null, doc()],
    ['operations apply in order', [
      { op: 'add', path: '/metadata/annotations', value: {} },
      { op: 'add', path: '/metadata/annotations/a', value: '1' },
    ], { ...doc(), metadata: { name: 'cm', labels: { app: 'a' }, annotations: { a: '1' } } }],
  ];
  for (const [name, patch, expected] of cases) {
    test(name, () => assert.deepEqual(jsonPatch(doc(), patch), expected));
  }
});

function assertGeneric422(patch: unknown): void {
  assert.throws(
    () => jsonPatch(doc(), patch),
    (err: unknown) => {
      assert.ok(err instanceof PatchError);
      assert.equal(err.code, 422);
      assert.equal(err.reason, 'Invalid');
      assert.equal(err.message, 'the server rejected our request due to an error in our request');
      assert.deepEqual(err.details, {});
      return true;
    },
  );
}

describe('operations that do not apply are the generic 422', () => {
  const cases: [string, unknown][] = [
    ['a failing test', [{ op: 'test', path: '/data/k1', value: 'other' }]],
    ['a test for null at a present key', [{ op: 'test', path: '/data/k1', value: null }]],
    ['a test below an absent parent', [{ op: 'test', path: '/nope/deeper', value: null }]],
    ['replace of an absent member', [{ op: 'replace', path: '/data/none', value: 'x' }]],
    ['remove of an absent member', [{ op: 'remove', path: '/data/none' }]],
    ['add below an absent parent', [{ op: 'add', path: '/metadata/annotations/a', value: '1' }]],
    ['add past the end of a list', [{ op: 'add', path: '/list/5', value: 'z' }]],
    ['move from an absent member', [{ op: 'move', from: '/data/none', path: '/data/k9' }]],
    ['an unknown op', [{ op: 'frobnicate', path: '/data' }]],
    ['an operation without path', [{ op: 'remove' }]],
    ['a null operation', [null]],
    ['a later failing operation', [{ op: 'add', path: '/data/k3', value: 'v3' }, { op: 'test', path: '/data/k1', value: 'nope' }]],
  ];
  for (const [name, patch] of cases) test(name, () => assertGeneric422(patch));
});

describe('undecodable patches are a 400', () => {
  const cases: [string, unknown, string][] = [
    ['an object', { op: 'add' }, 'json: cannot unmarshal object into Go value of type jsonpatch.Patch'],
    ['a string', 'x', 'json: cannot unmarshal string into Go value of type jsonpatch.Patch'],
    ['a number', 3, 'json: cannot unmarshal number into Go value of type jsonpatch.Patch'],
    ['a string operation', ['add'], 'json: cannot unmarshal string into Go value of type jsonpatch.Operation'],
    ['a list operation', [[]], 'json: cannot unmarshal array into Go value of type jsonpatch.Operation'],
  ];
  for (const [name, patch, message] of cases) {
    test(name, () => {
      assert.throws(
        () => jsonPatch(doc(), patch),
        (err: unknown) => err instanceof PatchError && err.code === 400 && err.reason === 'BadRequest' && err.message === message,
      );
    });
  }
});

describe('limits and inputs', () => {
  test('more than 10000 operations is a 413', () => {
    const patch = Array.from({ length: 10001 }, () => ({ op: 'test', path: '/data/k1', value: 'v1' }));
    assert.throws(
      () => jsonPatch(doc(), patch),
      (err: unknown) =>
        err instanceof PatchError &&
        err.code === 413 &&
        err.reason === 'RequestEntityTooLarge' &&
        err.message === 'Request entity too large: The allowed maximum operations in a JSON patch is 10000, got 10001',
    );
  });

  test('10000 operations are fine', () => {
    const patch = Array.from({ length: 10000 }, () => ({ op: 'test', path: '/data/k1', value: 'v1' }));
    assert.deepEqual(jsonPatch(doc(), patch), doc());
  });

  test('inputs are not mutated and the result does not share patch values', () => {
    const original = doc();
    const value = { nested: ['a'] };
    const patch = [{ op: 'add', path: '/data/obj', value }, { op: 'remove', path: '/list/0' }];
    const before = JSON.stringify([original, patch]);
    const result = jsonPatch(original, patch) as { data: { obj: { nested: string[] } } };
    assert.equal(JSON.stringify([original, patch]), before);
    result.data.obj.nested.push('b');
    assert.deepEqual(value.nested, ['a']);
  });

  test('a failing patch leaves the original untouched', () => {
    const original = doc();
    assert.throws(() => jsonPatch(original, [{ op: 'remove', path: '/data/k1' }, { op: 'remove', path: '/data/k1' }]));
    assert.deepEqual(original, doc());
  });

  test('the prototype cannot be patched', () => {
    assertGeneric422([{ op: 'add', path: '/__proto__/polluted', value: true }]);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});
