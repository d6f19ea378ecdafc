// The patch module's entry points: content-type mapping, dispatch and the error type.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { applyPatch, PatchError, patchTypeFromContentType } from '../src/apiserver/patch/index.js';
import { resolve, schemaOf } from './fixtures/patch/schemas.js';

describe('patchTypeFromContentType', () => {
  const cases: [string, string | undefined][] = [
    ['application/json-patch+json', 'json'],
    ['application/merge-patch+json', 'merge'],
    ['application/strategic-merge-patch+json', 'strategic'],
    ['application/strategic-merge-patch+json; charset=utf-8', 'strategic'],
    ['application/merge-patch+json;charset=UTF-8', 'merge'],
    ['application/apply-patch+yaml', undefined],
    ['application/apply-patch+cbor', undefined],
    ['application/json', undefined],
    ['', undefined],
    // Upstream compares the media type exactly.
    ['Application/Merge-Patch+JSON', undefined],
    ['application/merge-patch+json ; charset=utf-8', undefined],
    ['toString', undefined],
  ];
  for (const [contentType, expected] of cases) {
    test(JSON.stringify(contentType), () => assert.equal(patchTypeFromContentType(contentType), expected));
  }
});

describe('applyPatch', () => {
  const live = { metadata: { name: 'x' }, spec: { ports: [{ port: 80, targetPort: 80 }] } };

  test('dispatches on the patch type', () => {
    const schema = schemaOf('io.k8s.api.core.v1.Service');
    const strategic = applyPatch('strategic', live, { spec: { ports: [{ port: 443 }] } }, schema, resolve);
    const merge = applyPatch('merge', live, { spec: { ports: [{ port: 443 }] } }, schema, resolve);
    const json = applyPatch('json', live, [{ op: 'add', path: '/spec/ports/-', value: { port: 443 } }], schema, resolve);
    assert.deepEqual(strategic, { metadata: { name: 'x' }, spec: { ports: [{ port: 443 }, { port: 80, targetPort: 80 }] } });
    assert.deepEqual(merge, { metadata: { name: 'x' }, spec: { ports: [{ port: 443 }] } });
    assert.deepEqual(json, { metadata: { name: 'x' }, spec: { ports: [{ port: 80, targetPort: 80 }, { port: 443 }] } });
  });

  test('errors are PatchErrors carrying code and reason', () => {
    try {
      applyPatch('merge', live, null);
      assert.fail('expected an error');
    } catch (err) {
      assert.ok(err instanceof PatchError);
      assert.ok(err instanceof Error);
      assert.equal(err.name, 'PatchError');
      assert.equal(err.code, 400);
      assert.equal(err.reason, 'BadRequest');
      assert.equal(err.details, undefined);
    }
  });
});
