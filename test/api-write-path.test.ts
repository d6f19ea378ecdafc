// The write path's shortcuts give what the long way gives: the strict decoder's check skipped
// for a body whose text repeats no key and whose object has no unknown field, and null
// replacement skipped for a body whose text has no `null`.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { countJSONKeys, countParsedKeys, strictDecodingErrors } from '../src/api/schema.js';
import { Registry, type FieldValidation, type WriteOptions } from '../src/apiserver/registry.js';
import { lookupResource } from '../src/api/resources.js';
import type { KeyValue, Store } from '../src/store/types.js';
import type { NamespaceCache } from '../src/apiserver/namespaces.js';
import { ApiError } from '../src/apiserver/errors.js';
import type { KObject } from '../src/api/types.js';

describe('countJSONKeys against countParsedKeys', () => {
  const same = [
    '{}', '[]', '"x"', '1', 'null', '{"a":1}', '{"a" : {"b":[{"c":null},{"d":"e"}]},"f":[]}',
    // Quotes, backslashes and colons inside strings, as keys and values.
    String.raw`{"a\"b":"c:d","e":"\\","f\\":"\\\"","g":"x\":y"}`,
    '{ "a" :\n\t"b" , "c"\r\n: [ "d" , { "e" : "f" } ] }',
    '{"":{"":""},"__proto__":{"x":1}}',
    JSON.stringify({ metadata: { name: 'n', labels: { a: 'b', 'c/d': 'e' } }, spec: { containers: [{ name: 'w', args: ['--a=b:c', '"q"'] }] } }),
  ];
  for (const text of same) {
    test(`no duplicate: ${text.slice(0, 40)}`, () => {
      assert.equal(countJSONKeys(text), countParsedKeys(JSON.parse(text)));
    });
  }
  const duplicated = [
    '{"a":1,"a":2}', '{"a":{"b":1,"b":1}}', '[{"x":1},{"y":1,"y":2}]', '{"a":"\\"","a":"b"}',
    '{"managedFields":[{"fieldsV1":{"f:a":{},"f:a":{}}}]}', '{"a" :1, "a"\n:2}',
  ];
  for (const text of duplicated) {
    test(`duplicate: ${text}`, () => {
      assert.ok(countJSONKeys(text) > countParsedKeys(JSON.parse(text)));
    });
  }
});

/** A registry on an in-memory store: what it writes, and the warnings of each write. */
function registry(): { reg: Registry; stored: Map<string, KeyValue> } {
  const stored = new Map<string, KeyValue>();
  let rev = 1;
  const store = {
    async get(key: string) { return stored.get(key); },
    async create(key: string, value: string) {
      const kv = { key, value, createRevision: ++rev, modRevision: rev };
      stored.set(key, kv);
      return kv;
    },
    async update(key: string, value: string) {
      const kv = { key, value, createRevision: stored.get(key)!.createRevision, modRevision: ++rev };
      stored.set(key, kv);
      return kv;
    },
  } as unknown as Store;
  const namespaces = { async state() { return 'active'; } } as unknown as NamespaceCache;
  return { reg: new Registry(store, namespaces, {}), stored };
}

const EVENTS = lookupResource('', 'v1', 'events')!;

/** Creates from a JSON text as the server does (opts.rawJSON is the text, for every fieldValidation). */
async function createFromText(reg: Registry, r: typeof EVENTS, text: string, fieldValidation: FieldValidation): Promise<{ obj: KObject; warnings: string[] }> {
  const opts: WriteOptions = { dryRun: false, fieldManager: 'test', fieldValidation, warnings: [], rawJSON: text };
  const obj = await reg.create(r, 'default', JSON.parse(text), opts);
  return { obj, warnings: opts.warnings };
}

describe('create from a JSON text', () => {
  test('a clean body: no warnings, stored as sent', async () => {
    const { reg } = registry();
    const text = '{"metadata":{"name":"a","labels":{"x":"null"}},"involvedObject":{"kind":"Pod","name":"p"},"reason":"R","message":"v: \\"null\\""}';
    for (const fv of ['Warn', 'Strict', 'Ignore'] as const) {
      const { obj, warnings } = await createFromText(reg, EVENTS, text.replace('"a"', `"a-${fv.toLowerCase()}"`), fv);
      assert.deepEqual(warnings, []);
      assert.deepEqual(obj.metadata.labels, { x: 'null' });
      assert.equal((obj as unknown as { message: unknown }).message, 'v: "null"');
    }
  });

  test('duplicate and unknown fields: the strict decoder\'s warnings, in document order; Strict refuses', async () => {
    const { reg, stored } = registry();
    const text = '{"metadata":{"name":"d","labels":{"x":"1","x":"2"}},"bogus":1,"involvedObject":{"kind":"Pod","name":"p"},"reason":"R","reason":"S"}';
    const { obj, warnings } = await createFromText(reg, EVENTS, text, 'Warn');
    assert.deepEqual(warnings, ['duplicate field "metadata.labels.x"', 'unknown field "bogus"', 'duplicate field "reason"']);
    assert.equal((obj as unknown as Record<string, unknown>).bogus, undefined);
    assert.deepEqual(obj.metadata.labels, { x: '2' });
    assert.equal((obj as unknown as Record<string, unknown>).reason, 'S');
    assert.equal(JSON.parse(stored.get('/registry/events/default/d')!.value).bogus, undefined);
    await assert.rejects(createFromText(reg, EVENTS, text.replace('"d"', '"d2"'), 'Strict'), (e: unknown) => {
      assert.ok(e instanceof ApiError);
      assert.equal(e.code, 400);
      assert.match(e.message, /strict decoding error: duplicate field "metadata.labels.x", unknown field "bogus", duplicate field "reason"$/);
      return true;
    });
    // Only a duplicate (no unknown field), and only an unknown field (no duplicate).
    const event = ',"involvedObject":{"kind":"Pod","name":"p"}}';
    assert.deepEqual((await createFromText(reg, EVENTS, '{"metadata":{"name":"e","name":"e"}' + event, 'Warn')).warnings, ['duplicate field "metadata.name"']);
    assert.deepEqual((await createFromText(reg, EVENTS, '{"metadata":{"name":"f","bogus":{"a":1,"a":2}}' + event, 'Warn')).warnings, ['unknown field "metadata.bogus"']);
  });

  test('a key repeated where the decoder does not look (FieldsV1) is no warning', async () => {
    const { reg } = registry();
    const text = '{"metadata":{"name":"m","managedFields":[{"manager":"x","operation":"Update","apiVersion":"v1","fieldsType":"FieldsV1","fieldsV1":{"f:reason":{},"f:reason":{}}}]},"involvedObject":{"kind":"Pod","name":"p"}}';
    assert.deepEqual(strictDecodingErrors('v1', 'Event', text), []);
    assert.deepEqual((await createFromText(reg, EVENTS, text, 'Warn')).warnings, []);
  });

  test('JSON nulls become what Go makes of them, whatever the fieldValidation, with the text or without', async () => {
    const texts = [
      '{"metadata":{"name":"ev.1","namespace":"default","labels":null},"involvedObject":{"kind":"Pod","namespace":"default","name":"p"},"reason":"Pulled","message":"null","eventTime":null,"series":null,"count":1}',
      '{"metadata":{"name":"ev.1","namespace":"default"},"involvedObject":{"kind":"Pod","namespace":"default","name":"p"},"reason":"Pulled","message":"nul","related":{"kind":"Node"},"count":1}',
    ];
    // The object as stored, without what differs from one create to the next.
    const comparable = (o: KObject) => {
      const { uid: _u, creationTimestamp: _c, managedFields: _m, resourceVersion: _r, ...meta } = o.metadata;
      return { ...o, metadata: meta };
    };
    for (const text of texts) {
      for (const fv of ['Warn', 'Strict', 'Ignore'] as const) {
        const withText = await createFromText(registry().reg, EVENTS, text, fv);
        const opts: WriteOptions = { dryRun: false, fieldManager: 'test', fieldValidation: fv, warnings: [] };
        const without = await registry().reg.create(EVENTS, 'default', JSON.parse(text), opts);
        assert.deepEqual(withText.warnings, []);
        assert.deepEqual(opts.warnings, []);
        assert.deepEqual(comparable(withText.obj), comparable(without), `${fv}: ${text}`);
        const o = withText.obj as unknown as Record<string, unknown>;
        assert.equal('series' in o, false);
        assert.equal('labels' in withText.obj.metadata, false);
      }
    }
  });
});
