// Strategic merge patch semantics, table-driven over the generic `mergeItem` test type (the OpenAPI
// twin of upstream's strategicpatch.MergeItem). Expected results follow upstream v1.32 behaviour,
// including its element-order rules.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { applyPatch, PatchError, type SchemaNode } from '../src/apiserver/patch/index.js';
import { resolve, schemaOf } from './fixtures/patch/schemas.js';

const mergeItem = schemaOf('mergeItem');

function smp(original: unknown, patch: unknown, schema: SchemaNode | undefined = mergeItem): unknown {
  return applyPatch('strategic', original, patch, schema, resolve);
}

/** No key of the result may be a patch directive. */
function assertNoDirectives(value: unknown, path = ''): void {
  if (Array.isArray(value)) value.forEach((item, i) => assertNoDirectives(item, `${path}[${i}]`));
  else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      assert.ok(!key.startsWith('$'), `directive ${key} left at ${path || '<root>'}`);
      assertNoDirectives(item, `${path}.${key}`);
    }
  }
}

interface Case {
  name: string;
  original: unknown;
  patch: unknown;
  expected: unknown;
}

function cases(group: string, list: Case[]): void {
  describe(group, () => {
    for (const c of list) {
      test(c.name, () => {
        const result = smp(c.original, c.patch);
        assert.deepEqual(result, c.expected);
        assertNoDirectives(result);
      });
    }
  });
}

interface ErrorCase {
  name: string;
  original: unknown;
  patch: unknown;
  code: number;
  reason: string;
  message: string;
  schema?: SchemaNode;
}

function errorCases(group: string, list: ErrorCase[]): void {
  describe(group, () => {
    for (const c of list) {
      test(c.name, () => {
        assert.throws(
          () => smp(c.original, c.patch, c.schema ?? mergeItem),
          (err: unknown) => {
            assert.ok(err instanceof PatchError, `expected a PatchError, got ${String(err)}`);
            assert.equal(err.message, c.message);
            assert.equal(err.code, c.code);
            assert.equal(err.reason, c.reason);
            return true;
          },
        );
      });
    }
  });
}

cases('maps', [
  { name: 'adds a field', original: { name: 'a' }, patch: { value: '1' }, expected: { name: 'a', value: '1' } },
  { name: 'changes a field', original: { name: 'a', value: '1' }, patch: { value: '2' }, expected: { name: 'a', value: '2' } },
  { name: 'null deletes a field', original: { name: 'a', value: '1' }, patch: { value: null }, expected: { name: 'a' } },
  { name: 'null for an absent field stores nothing', original: { name: 'a' }, patch: { other: null }, expected: { name: 'a' } },
  { name: 'an empty patch changes nothing', original: { name: 'a' }, patch: {}, expected: { name: 'a' } },
  { name: 'a null patch changes nothing', original: { name: 'a' }, patch: null, expected: { name: 'a' } },
  {
    name: 'merges nested maps',
    original: { simpleMap: { a: '1', b: '2' } },
    patch: { simpleMap: { b: '3', c: '4' } },
    expected: { simpleMap: { a: '1', b: '3', c: '4' } },
  },
  {
    name: 'null deletes a key of a nested map',
    original: { simpleMap: { a: '1', b: '2' } },
    patch: { simpleMap: { a: null } },
    expected: { simpleMap: { b: '2' } },
  },
  {
    name: '$patch: replace replaces a nested map',
    original: { simpleMap: { key1: '1', key2: '1' } },
    patch: { simpleMap: { $patch: 'replace', key3: 'x' } },
    expected: { simpleMap: { key3: 'x' } },
  },
  {
    name: '$patch: delete leaves an empty map',
    original: { simpleMap: { key1: '1', key2: '1' } },
    patch: { simpleMap: { $patch: 'delete' } },
    expected: { simpleMap: {} },
  },
  { name: '$patch: replace at the root', original: { name: '1', value: '1' }, patch: { $patch: 'replace', other: 'a' }, expected: { other: 'a' } },
  { name: '$patch: replace at the root with nothing else', original: { name: '1', value: '1' }, patch: { $patch: 'replace' }, expected: {} },
  { name: '$patch: delete at the root', original: { name: '1', value: '1' }, patch: { $patch: 'delete' }, expected: {} },
  {
    name: 'a new map keeps no null members',
    original: {},
    patch: { simpleMap: { a: '1', b: null } },
    expected: { simpleMap: { a: '1' } },
  },
  {
    name: 'a value of another type replaces the field',
    original: { value: 'x' },
    patch: { value: { a: '1', b: null } },
    expected: { value: { a: '1' } },
  },
  {
    name: 'a map with patch strategy replace is replaced',
    original: { replacingItem: { a: '1', b: { c: '1' } } },
    patch: { replacingItem: { b: { d: '2' } } },
    expected: { replacingItem: { b: { d: '2' } } },
  },
  {
    name: 'maps of fields the schema does not declare merge',
    original: { unknown: { a: '1' } },
    patch: { unknown: { b: '2' } },
    expected: { unknown: { a: '1', b: '2' } },
  },
  {
    name: 'lists of fields the schema does not declare are replaced',
    original: { unknown: [{ name: 'a' }] },
    patch: { unknown: [{ name: 'b' }] },
    expected: { unknown: [{ name: 'b' }] },
  },
]);

cases('merging lists of maps', [
  {
    name: 'merges an element by its merge key',
    original: { mergingList: [{ name: '1', value: 'a' }, { name: '2', value: 'b' }] },
    patch: { mergingList: [{ name: '2', other: 'x' }] },
    expected: { mergingList: [{ name: '1', value: 'a' }, { name: '2', value: 'b', other: 'x' }] },
  },
  {
    name: 'an added element goes before the elements the patch does not mention',
    original: { mergingList: [{ name: '1' }, { name: '2' }] },
    patch: { mergingList: [{ name: '3', value: 'c' }] },
    expected: { mergingList: [{ name: '3', value: 'c' }, { name: '1' }, { name: '2' }] },
  },
  {
    name: 'a merged element keeps its place after unmentioned earlier ones',
    original: { mergingList: [{ name: '1' }, { name: '2' }, { name: '3' }] },
    patch: { mergingList: [{ name: '3', value: 'c' }] },
    expected: { mergingList: [{ name: '1' }, { name: '2' }, { name: '3', value: 'c' }] },
  },
  {
    name: 'the patch order wins for the elements it mentions',
    original: { mergingList: [{ name: '1' }, { name: '2', value: 'b' }, { name: '3' }] },
    patch: { mergingList: [{ name: '3', value: 'c' }, { name: '1', value: 'a' }, { name: '2', other: 'x' }] },
    expected: { mergingList: [{ name: '3', value: 'c' }, { name: '1', value: 'a' }, { name: '2', value: 'b', other: 'x' }] },
  },
  {
    name: 'the patch order wins and unmentioned elements stay in front',
    original: { mergingList: [{ name: '1' }, { name: '2', value: 'b' }, { name: '3' }] },
    patch: { mergingList: [{ name: '3', value: 'c' }, { name: '1', value: 'a' }] },
    expected: { mergingList: [{ name: '2', value: 'b' }, { name: '3', value: 'c' }, { name: '1', value: 'a' }] },
  },
  {
    name: 'null deletes a field of a merged element',
    original: { mergingList: [{ name: '1', value: 'a', other: 'b' }] },
    patch: { mergingList: [{ name: '1', value: null }] },
    expected: { mergingList: [{ name: '1', other: 'b' }] },
  },
  {
    name: 'merges nested merging lists',
    original: { mergingList: [{ name: '1', mergingList: [{ name: 'a', value: '1' }, { name: 'b' }] }] },
    patch: { mergingList: [{ name: '1', mergingList: [{ name: 'a', value: '2' }] }] },
    expected: { mergingList: [{ name: '1', mergingList: [{ name: 'a', value: '2' }, { name: 'b' }] }] },
  },
  {
    name: '$patch: delete removes the element',
    original: { mergingList: [{ name: '1' }, { name: '2', value: 'b' }] },
    patch: { mergingList: [{ name: '1', $patch: 'delete' }] },
    expected: { mergingList: [{ name: '2', value: 'b' }] },
  },
  {
    name: 'deleting an absent element changes nothing',
    original: { mergingList: [{ name: '1' }] },
    patch: { mergingList: [{ name: '9', $patch: 'delete' }] },
    expected: { mergingList: [{ name: '1' }] },
  },
  {
    name: '$patch: delete removes every duplicate',
    original: { mergingList: [{ name: '1' }, { name: '1' }, { name: '2', value: 'a' }, { name: '3' }, { name: '3' }] },
    patch: { mergingList: [{ name: '1', $patch: 'delete' }, { name: '3', $patch: 'delete' }] },
    expected: { mergingList: [{ name: '2', value: 'a' }] },
  },
  {
    name: 'deletes and adds in one patch',
    original: { mergingList: [{ name: '1' }, { name: '2' }] },
    patch: { mergingList: [{ name: '3' }, { name: '1', $patch: 'delete' }] },
    expected: { mergingList: [{ name: '3' }, { name: '2' }] },
  },
  {
    name: '$patch: replace alone empties the list',
    original: { mergingList: [{ name: '1' }, { name: '2' }] },
    patch: { mergingList: [{ $patch: 'replace' }] },
    expected: { mergingList: [] },
  },
  {
    name: '$patch: replace makes the other elements the list',
    original: { mergingList: [{ name: '1' }, { name: '2' }] },
    patch: { mergingList: [{ name: '3', value: 'c' }, { $patch: 'replace' }] },
    expected: { mergingList: [{ name: '3', value: 'c' }] },
  },
  {
    name: 'replacement elements lose nulls',
    original: { mergingList: [{ name: '1' }] },
    patch: { mergingList: [{ $patch: 'replace' }, { name: '3', value: null, simpleMap: { a: null } }] },
    expected: { mergingList: [{ name: '3', simpleMap: {} }] },
  },
  {
    name: 'two patch elements with one key merge into one element',
    original: { mergingList: [{ name: '1' }] },
    patch: { mergingList: [{ name: '2', value: 'a' }, { name: '2', other: 'b' }] },
    expected: { mergingList: [{ name: '2', value: 'a', other: 'b' }, { name: '1' }] },
  },
  {
    name: 'an appended element keeps no nulls or directives',
    original: { mergingList: [{ name: '1' }] },
    patch: { mergingList: [{ name: '2', value: null, $retainKeys: ['name'], simpleMap: { a: '1', b: null } }] },
    expected: { mergingList: [{ name: '2', simpleMap: { a: '1' } }, { name: '1' }] },
  },
  {
    name: 'an empty patch list leaves the list alone',
    original: { mergingList: [{ name: '1' }] },
    patch: { mergingList: [] },
    expected: { mergingList: [{ name: '1' }] },
  },
  { name: 'empty lists stay empty', original: { mergingList: [] }, patch: { mergingList: [] }, expected: { mergingList: [] } },
  {
    name: 'a list without merge strategy is replaced',
    original: { nonMergingList: [{ name: '1', value: 'a' }] },
    patch: { nonMergingList: [{ name: '2' }] },
    expected: { nonMergingList: [{ name: '2' }] },
  },
  {
    name: 'elements of a replaced list that carry $patch vanish',
    original: { nonMergingList: [{ name: '1' }] },
    patch: { nonMergingList: [{ name: '2' }, { name: '3', $patch: 'delete' }] },
    expected: { nonMergingList: [{ name: '2' }] },
  },
]);

cases('merging lists of primitives', [
  { name: 'merges as a set union', original: { mergingIntList: [1, 2] }, patch: { mergingIntList: [2, 3] }, expected: { mergingIntList: [1, 2, 3] } },
  { name: 'an added value goes first', original: { mergingIntList: [1, 2] }, patch: { mergingIntList: [3] }, expected: { mergingIntList: [3, 1, 2] } },
  { name: 'the patch order wins', original: { mergingIntList: [1, 2, 3] }, patch: { mergingIntList: [3, 1, 2] }, expected: { mergingIntList: [3, 1, 2] } },
  { name: 'unmentioned values stay in front', original: { mergingIntList: [1, 2, 3] }, patch: { mergingIntList: [3, 1] }, expected: { mergingIntList: [2, 3, 1] } },
  { name: 'duplicates collapse', original: { mergingIntList: [1, 1, 2] }, patch: { mergingIntList: [2, 2] }, expected: { mergingIntList: [1, 2] } },
  { name: 'a list without merge strategy is replaced', original: { nonMergingIntList: [1, 2] }, patch: { nonMergingIntList: [3] }, expected: { nonMergingIntList: [3] } },
  {
    name: '$deleteFromPrimitiveList deletes values',
    original: { mergingIntList: [1, 2, 3, 2] },
    patch: { '$deleteFromPrimitiveList/mergingIntList': [2] },
    expected: { mergingIntList: [1, 3] },
  },
  {
    name: '$deleteFromPrimitiveList of an absent value changes nothing',
    original: { mergingIntList: [1, 2] },
    patch: { '$deleteFromPrimitiveList/mergingIntList': [3] },
    expected: { mergingIntList: [1, 2] },
  },
  {
    name: '$deleteFromPrimitiveList never creates the list',
    original: { name: 'x' },
    patch: { '$deleteFromPrimitiveList/mergingIntList': [3] },
    expected: { name: 'x' },
  },
  {
    name: '$deleteFromPrimitiveList leaves a null list null',
    original: { mergingIntList: null },
    patch: { '$deleteFromPrimitiveList/mergingIntList': [3] },
    expected: { mergingIntList: null },
  },
  {
    name: '$deleteFromPrimitiveList also works on a list without merge strategy',
    original: { nonMergingIntList: [1, 2, 3] },
    patch: { '$deleteFromPrimitiveList/nonMergingIntList': [2] },
    expected: { nonMergingIntList: [1, 3] },
  },
  {
    name: 'adds and deletes in one patch',
    original: { mergingIntList: [1, 2] },
    patch: { mergingIntList: [3], '$deleteFromPrimitiveList/mergingIntList': [1] },
    expected: { mergingIntList: [3, 2] },
  },
]);

cases('$setElementOrder', [
  {
    name: 'reorders without a patch list',
    original: { mergingList: [{ name: '1' }, { name: '2' }, { name: '3' }] },
    patch: { '$setElementOrder/mergingList': [{ name: '3' }, { name: '1' }, { name: '2' }] },
    expected: { mergingList: [{ name: '3' }, { name: '1' }, { name: '2' }] },
  },
  {
    name: 'keeps server fields while reordering',
    original: { mergingList: [{ name: '1', other: 'a' }, { name: '3', value: '3' }, { name: '4', value: '4' }, { name: '2', value: '2' }] },
    patch: { '$setElementOrder/mergingList': [{ name: '4' }, { name: '2' }, { name: '3' }, { name: '1' }] },
    expected: { mergingList: [{ name: '4', value: '4' }, { name: '2', value: '2' }, { name: '3', value: '3' }, { name: '1', other: 'a' }] },
  },
  {
    name: 'a trailing server-only element stays last',
    original: { mergingList: [{ name: '1', other: 'a' }, { name: '3' }, { name: '4' }, { name: '2' }, { name: '9' }] },
    patch: { '$setElementOrder/mergingList': [{ name: '4' }, { name: '2' }, { name: '3' }, { name: '1' }] },
    expected: { mergingList: [{ name: '4' }, { name: '2' }, { name: '3' }, { name: '1', other: 'a' }, { name: '9' }] },
  },
  {
    name: 'server-only elements stay after their live predecessor',
    original: { mergingList: [{ name: '1', other: 'a' }, { name: '2' }, { name: '7' }, { name: '9' }, { name: '8' }, { name: '3' }, { name: '4' }] },
    patch: { '$setElementOrder/mergingList': [{ name: '2' }, { name: '1' }, { name: '4' }, { name: '3' }] },
    expected: {
      mergingList: [{ name: '2' }, { name: '1', other: 'a' }, { name: '7' }, { name: '9' }, { name: '8' }, { name: '4' }, { name: '3' }],
    },
  },
  {
    name: 'puts an added element where the order says',
    original: { mergingList: [{ name: '1', other: 'a' }, { name: '2', value: '2', other: 'b' }] },
    patch: { '$setElementOrder/mergingList': [{ name: '3' }, { name: '1' }, { name: '2' }], mergingList: [{ name: '3', value: '3' }] },
    expected: { mergingList: [{ name: '3', value: '3' }, { name: '1', other: 'a' }, { name: '2', value: '2', other: 'b' }] },
  },
  {
    name: 'puts several added elements where the order says',
    original: { mergingList: [{ name: '1', other: 'a' }, { name: '2', value: '2' }] },
    patch: {
      '$setElementOrder/mergingList': [{ name: '1' }, { name: '4' }, { name: '2' }, { name: '3' }],
      mergingList: [{ name: '4', value: '4' }, { name: '3', value: '3' }],
    },
    expected: { mergingList: [{ name: '1', other: 'a' }, { name: '4', value: '4' }, { name: '2', value: '2' }, { name: '3', value: '3' }] },
  },
  {
    name: 'orders a primitive list with a server-only value',
    original: { mergingIntList: [1, 4, 2] },
    patch: { '$setElementOrder/mergingIntList': [3, 1, 2], mergingIntList: [3] },
    expected: { mergingIntList: [3, 1, 4, 2] },
  },
  {
    name: 'orders a primitive list while deleting from it',
    original: { mergingIntList: [1, 2, 3] },
    patch: { '$setElementOrder/mergingIntList': [2, 1], '$deleteFromPrimitiveList/mergingIntList': [3] },
    expected: { mergingIntList: [2, 1] },
  },
  {
    name: 'deletes in one list and reorders another',
    original: {
      mergingList: [{ name: 'a', value: 'a' }, { name: 'b', value: 'b' }],
      retainKeysMergingList: [{ name: 'c', value: 'c' }, { name: 'd', value: 'd' }],
    },
    patch: {
      '$setElementOrder/mergingList': [{ name: 'b' }],
      '$setElementOrder/retainKeysMergingList': [{ name: 'd' }, { name: 'c' }],
      mergingList: [{ $patch: 'delete', name: 'a' }],
    },
    expected: {
      mergingList: [{ name: 'b', value: 'b' }],
      retainKeysMergingList: [{ name: 'd', value: 'd' }, { name: 'c', value: 'c' }],
    },
  },
  {
    name: 'names in the order that are in no list are ignored',
    original: { mergingList: [{ name: '1' }, { name: '3' }] },
    patch: { '$setElementOrder/mergingList': [{ name: '3' }, { name: '2' }, { name: '1' }], mergingList: [{ name: '3', value: '3' }, { name: '1', value: '1' }] },
    expected: { mergingList: [{ name: '3', value: '3' }, { name: '1', value: '1' }] },
  },
  {
    name: 'values in the order that are in no primitive list are ignored',
    original: { mergingIntList: [1, 3] },
    patch: { '$setElementOrder/mergingIntList': [3, 2, 1] },
    expected: { mergingIntList: [3, 1] },
  },
  {
    name: 'duplicates of a merge key stay together',
    original: { mergingList: [{ name: '1' }, { name: '2', value: 'dup1' }, { name: '3' }, { name: '2', value: 'dup2' }, { name: '4' }] },
    patch: { '$setElementOrder/mergingList': [{ name: '2' }, { name: '1' }, { name: '4' }, { name: '3' }, { name: '2' }] },
    expected: { mergingList: [{ name: '2', value: 'dup1' }, { name: '2', value: 'dup2' }, { name: '1' }, { name: '4' }, { name: '3' }] },
  },
  {
    name: 'orders and cleans a list the live object lacks',
    original: {},
    patch: { '$setElementOrder/mergingList': [{ name: 'b' }, { name: 'a' }], mergingList: [{ name: 'b' }, { name: 'a', value: null }] },
    expected: { mergingList: [{ name: 'b' }, { name: 'a' }] },
  },
  {
    name: 'an empty live list stays empty',
    original: { mergingIntList: [] },
    patch: { '$setElementOrder/mergingIntList': [1] },
    expected: { mergingIntList: [] },
  },
  {
    name: 'an order for a list nobody has is dropped',
    original: { name: 'x' },
    patch: { '$setElementOrder/mergingIntList': [1] },
    expected: { name: 'x' },
  },
]);

cases('$retainKeys', [
  {
    name: 'clears the fields not listed',
    original: { retainKeysMap: { value: 'foo' } },
    patch: { retainKeysMap: { $retainKeys: ['other'], other: 'bar' } },
    expected: { retainKeysMap: { other: 'bar' } },
  },
  {
    name: 'switches a discriminated union',
    original: { retainKeysMap: { name: 'type1', value: 'foo' } },
    patch: { retainKeysMap: { $retainKeys: ['name', 'other'], name: 'type2', other: 'bar' } },
    expected: { retainKeysMap: { name: 'type2', other: 'bar' } },
  },
  {
    name: 'null fields need not be listed',
    original: { retainKeysMap: { name: 'a', value: 'b' } },
    patch: { retainKeysMap: { $retainKeys: ['name'], value: null } },
    expected: { retainKeysMap: { name: 'a' } },
  },
  {
    name: 'list directives need not be listed',
    original: { retainKeysMap: { name: 'a', value: 'x', mergingIntList: [1, 2] } },
    patch: {
      retainKeysMap: {
        $retainKeys: ['name', 'mergingIntList'],
        '$setElementOrder/mergingIntList': [2],
        '$deleteFromPrimitiveList/mergingIntList': [1],
      },
    },
    expected: { retainKeysMap: { name: 'a', mergingIntList: [2] } },
  },
  {
    name: 'without the directive the map merges',
    original: { retainKeysMap: { name: 'foo' } },
    patch: { retainKeysMap: { value: 'bar' } },
    expected: { retainKeysMap: { name: 'foo', value: 'bar' } },
  },
  {
    name: 'applies inside a merged list element',
    original: { retainKeysMergingList: [{ name: 'bar' }, { name: 'foo', value: 'a', other: 'x' }] },
    patch: { retainKeysMergingList: [{ name: 'foo', $retainKeys: ['name', 'other'], other: 'y' }] },
    expected: { retainKeysMergingList: [{ name: 'bar' }, { name: 'foo', other: 'y' }] },
  },
  {
    name: 'applies to any map, as on the server',
    original: { simpleMap: { a: '1', b: '2' } },
    patch: { simpleMap: { $retainKeys: ['a'] } },
    expected: { simpleMap: { a: '1' } },
  },
]);

cases('values taken verbatim carry no directives', [
  {
    name: 'directive keys of a new map are dropped',
    original: {},
    patch: {
      retainKeysMap: {
        $retainKeys: ['name'],
        name: 'a',
        mergingIntList: [1],
        '$setElementOrder/mergingIntList': [1],
        '$deleteFromPrimitiveList/mergingIntList': [2],
      },
    },
    expected: { retainKeysMap: { name: 'a', mergingIntList: [1] } },
  },
  {
    // Upstream 1.32 (removeDirectives) drops such maps, even for `$patch: replace`.
    name: 'maps with $patch in a new value vanish',
    original: {},
    patch: { simpleMap: { $patch: 'replace', a: '1' }, retainKeysMap: { name: 'x', simpleMap: { $patch: 'delete' } } },
    expected: { retainKeysMap: { name: 'x' } },
  },
  {
    name: 'a map with $patch replacing a scalar removes the field',
    original: { name: 'x', value: 'y' },
    patch: { value: { $patch: 'replace', a: '1' } },
    expected: { name: 'x' },
  },
]);

errorCases('directive errors', [
  {
    name: 'an unknown map directive',
    original: { simpleMap: { a: '1' } },
    patch: { simpleMap: { $patch: 'foo', a: '1' } },
    code: 500,
    reason: '',
    message: 'unknown patch type: foo in map: map[$patch:foo a:1]',
  },
  {
    name: 'a numeric map directive',
    original: { simpleMap: { a: '1' } },
    patch: { simpleMap: { $patch: 5 } },
    code: 500,
    reason: '',
    message: 'unknown patch type: %!s(int64=5) in map: map[$patch:5]',
  },
  {
    name: 'a fractional map directive',
    original: {},
    patch: { $patch: 1.5 },
    code: 500,
    reason: '',
    message: 'unknown patch type: %!s(float64=1.5) in map: map[$patch:1.5]',
  },
  {
    name: 'a null map directive',
    original: {},
    patch: { $patch: null, a: true },
    code: 500,
    reason: '',
    message: 'unknown patch type: %!s(<nil>) in map: map[$patch:<nil> a:true]',
  },
  {
    name: 'an unknown list element directive',
    original: { mergingList: [{ name: '1' }] },
    patch: { mergingList: [{ name: '1', $patch: 'foo' }] },
    code: 500,
    reason: '',
    message: 'unknown patch type: foo in map: map[$patch:foo name:1]',
  },
  {
    name: '$patch: merge in a list',
    original: { mergingList: [{ name: '1' }] },
    patch: { mergingList: [{ name: '1', $patch: 'merge' }] },
    code: 500,
    reason: '',
    message: 'merging lists cannot yet be specified in the patch',
  },
  {
    name: '$patch: delete without the merge key',
    original: { mergingList: [{ name: '1' }] },
    patch: { mergingList: [{ $patch: 'delete' }] },
    code: 500,
    reason: '',
    message: 'map: map[$patch:delete] does not contain declared merge key: name',
  },
  {
    name: 'a patch element without the merge key',
    original: { mergingList: [{ name: '1', value: 'a' }] },
    patch: { mergingList: [{ value: 'b' }] },
    code: 500,
    reason: '',
    message: 'map: map[value:b] does not contain declared merge key: name',
  },
  {
    name: 'a live element without the merge key',
    original: { mergingList: [{ value: 'x', weight: 1000000.5 }] },
    patch: { mergingList: [{ name: '1' }] },
    code: 500,
    reason: '',
    message: 'map: map[value:x weight:1.0000005e+06] does not contain declared merge key: name',
  },
  {
    name: '$retainKeys that is not a list',
    original: { retainKeysMap: { name: 'a' } },
    patch: { retainKeysMap: { $retainKeys: 'name' } },
    code: 400,
    reason: 'BadRequest',
    message: 'invalid patch format of retainKeys',
  },
  {
    name: '$retainKeys missing a field the patch sets',
    original: { retainKeysMap: { name: 'a' } },
    patch: { retainKeysMap: { $retainKeys: ['name'], value: 'b' } },
    code: 400,
    reason: 'BadRequest',
    message: 'invalid patch format of retainKeys',
  },
  {
    name: '$deleteFromPrimitiveList without a list name',
    original: { mergingIntList: [1] },
    patch: { $deleteFromPrimitiveList: [1] },
    code: 400,
    reason: 'BadRequest',
    message: 'invalid patch format of primitive list',
  },
  {
    name: 'a $deleteFromPrimitiveList lookalike',
    original: { mergingIntList: [1] },
    patch: { '$deleteFromPrimitiveListX/mergingIntList': [1] },
    code: 400,
    reason: 'BadRequest',
    message: 'invalid patch format of primitive list',
  },
  {
    name: '$setElementOrder without a list name',
    original: { mergingIntList: [1] },
    patch: { $setElementOrder: [1] },
    code: 400,
    reason: 'BadRequest',
    message: 'invalid patch format of setElementOrder list',
  },
  {
    name: '$setElementOrder that is not a list',
    original: { mergingIntList: [1] },
    patch: { '$setElementOrder/mergingIntList': 'x' },
    code: 500,
    reason: '',
    message: 'expected a []interface {}, but received a string',
  },
  {
    name: '$setElementOrder for a field that is not a list',
    original: { mergingIntList: { a: 1 } },
    patch: { '$setElementOrder/mergingIntList': [1] },
    code: 500,
    reason: '',
    message: 'expected a []interface {}, but received a map[string]interface {}',
  },
  {
    name: 'a patch list out of the $setElementOrder order',
    original: { mergingList: [{ name: '1' }, { name: '3' }, { name: '2' }] },
    patch: {
      '$setElementOrder/mergingList': [{ name: '1' }, { name: '2' }, { name: '3' }],
      mergingList: [{ name: '3', value: '3' }, { name: '1', value: '1' }],
    },
    code: 500,
    reason: '',
    message:
      'The order in patch list:\n[map[name:3 value:3] map[name:1 value:1]]\n doesn\'t match $setElementOrder list:\n[map[name:1] map[name:2] map[name:3]]\n',
  },
  {
    name: 'a primitive patch list out of the $setElementOrder order',
    original: { mergingIntList: [1, 3, 2] },
    patch: { '$setElementOrder/mergingIntList': [1, 2, 3], mergingIntList: [3, 1] },
    code: 500,
    reason: '',
    message: "The order in patch list:\n[3 1]\n doesn't match $setElementOrder list:\n[1 2 3]\n",
  },
  {
    name: '$setElementOrder elements without the merge key',
    original: { mergingList: [{ name: '1' }] },
    patch: { '$setElementOrder/mergingList': [{ value: 'x' }] },
    code: 500,
    reason: '',
    message: 'map: map[value:x] does not contain declared merge key: name',
  },
]);

errorCases('list type errors', [
  {
    name: 'elements of different types',
    original: { mergingList: [{ name: '1' }] },
    patch: { mergingList: ['x'] },
    code: 500,
    reason: '',
    message: 'list element types are not identical: [[map[name:1]] [x]]',
  },
  {
    name: 'lists of lists',
    original: { mergingIntList: [[1]] },
    patch: { mergingIntList: [[2]] },
    code: 422,
    reason: 'Invalid',
    message: 'the server rejected our request due to an error in our request',
  },
  {
    name: 'a merge strategy without merge key on a list of maps',
    original: { items: [{ a: 1 }] },
    patch: { items: [{ a: 2 }] },
    schema: { type: 'object', properties: { items: { type: 'array', items: { type: 'object' }, 'x-kubernetes-patch-strategy': 'merge' } } },
    code: 500,
    reason: '',
    message: 'cannot merge lists without merge key for struct',
  },
  {
    name: 'two patch strategies besides retainKeys',
    original: { items: [1] },
    patch: { items: [2] },
    schema: { type: 'object', properties: { items: { type: 'array', 'x-kubernetes-patch-strategy': 'merge,replace' } } },
    code: 500,
    reason: '',
    message: 'unexpected patch strategy: [merge replace]',
  },
]);

errorCases('patch documents that are not objects', [
  {
    name: 'a list',
    original: {},
    patch: [],
    code: 400,
    reason: 'BadRequest',
    message: 'json: cannot unmarshal array into Go value of type map[string]interface {}',
  },
  { name: 'a string', original: {}, patch: 'x', code: 400, reason: 'BadRequest', message: 'json: cannot unmarshal string into Go value of type map[string]interface {}' },
  { name: 'a number', original: {}, patch: 1, code: 400, reason: 'BadRequest', message: 'json: cannot unmarshal number into Go value of type map[string]interface {}' },
  { name: 'a boolean', original: {}, patch: true, code: 400, reason: 'BadRequest', message: 'json: cannot unmarshal bool into Go value of type map[string]interface {}' },
]);

describe('schema lookup', () => {
  test('without a schema every list is replaced and every map merges', () => {
    const result = applyPatch('strategic', { mergingList: [{ name: '1' }], simpleMap: { a: '1' } }, { mergingList: [{ name: '2' }], simpleMap: { b: '2' } });
    assert.deepEqual(result, { mergingList: [{ name: '2' }], simpleMap: { a: '1', b: '2' } });
  });

  test('an unresolvable $ref counts as an unknown schema', () => {
    const schema: SchemaNode = { type: 'object', properties: { spec: { allOf: [{ $ref: '#/components/schemas/missing' }] } } };
    const result = smp({ spec: { mergingList: [{ name: '1' }] } }, { spec: { mergingList: [{ name: '2' }] } }, schema);
    assert.deepEqual(result, { spec: { mergingList: [{ name: '2' }] } });
  });

  test('a bare $ref and additionalProperties are followed', () => {
    const schema: SchemaNode = { type: 'object', additionalProperties: { $ref: '#/components/schemas/mergeItem' } };
    const result = smp({ x: { mergingList: [{ name: '1' }] } }, { x: { mergingList: [{ name: '2' }] } }, schema);
    assert.deepEqual(result, { x: { mergingList: [{ name: '2' }, { name: '1' }] } });
  });

  test('x-kubernetes-list-type map alone does not merge (the struct tags decide)', () => {
    const schema: SchemaNode = {
      type: 'object',
      properties: { items: { type: 'array', 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] } },
    };
    assert.deepEqual(smp({ items: [{ name: 'a' }] }, { items: [{ name: 'b' }] }, schema), { items: [{ name: 'b' }] });
  });
});

describe('inputs', () => {
  function deepFreeze<T>(value: T): T {
    if (value !== null && typeof value === 'object') {
      for (const item of Object.values(value)) deepFreeze(item);
      Object.freeze(value);
    }
    return value;
  }

  test('are never mutated and the result shares nothing with them', () => {
    const original = deepFreeze({
      mergingList: [{ name: '1', value: 'a' }, { name: '2' }],
      retainKeysMap: { name: 'x', value: 'y' },
      mergingIntList: [1, 2, 3],
    });
    const patch = deepFreeze({
      '$setElementOrder/mergingList': [{ name: '2' }, { name: '1' }, { name: '3' }],
      mergingList: [{ name: '1', value: null }, { name: '3', simpleMap: { a: '1' } }],
      retainKeysMap: { $retainKeys: ['name'], name: 'z' },
      '$deleteFromPrimitiveList/mergingIntList': [2],
    });
    const before = JSON.stringify([original, patch]);
    const result = smp(original, patch) as { mergingList: { simpleMap?: Record<string, string> }[] };
    assert.equal(JSON.stringify([original, patch]), before);
    assert.deepEqual(result, {
      mergingList: [{ name: '2' }, { name: '1' }, { name: '3', simpleMap: { a: '1' } }],
      retainKeysMap: { name: 'z' },
      mergingIntList: [1, 3],
    });
    result.mergingList[2].simpleMap!.a = 'changed';
    assert.equal(patch.mergingList[1].simpleMap?.a, '1');
  });

  test('a __proto__ key is kept as data', () => {
    const result = smp(JSON.parse('{"simpleMap":{"a":"1"}}'), JSON.parse('{"simpleMap":{"__proto__":"x"}}')) as { simpleMap: object };
    assert.equal(Object.getPrototypeOf(result.simpleMap), Object.prototype);
    assert.deepEqual(Object.keys(result.simpleMap), ['a', '__proto__']);
  });
});
