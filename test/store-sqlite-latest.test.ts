// The SQLite store answers get() for recently used keys from memory: these tests check that it
// always answers what the database holds (reads before and after writes, deletes, failed writes,
// a read racing a write, keys evicted from memory).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStore } from '../src/store/sqlite.js';
import { ConflictError, type KeyValue } from '../src/store/types.js';

async function withStore(body: (store: SqliteStore, onDisk: (key: string) => KeyValue | undefined) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'kubelite-store-latest-'));
  const path = join(dir, 'store.db');
  const store = new SqliteStore({ path });
  await store.start();
  const db = new Database(path, { readonly: true });
  const query = db.prepare(`SELECT c.key AS key, l.value AS value, c.create_rev AS createRevision, c.rev AS modRevision
    FROM current c CROSS JOIN log l ON l.rev = c.rev WHERE c.key = ?`);
  try {
    await body(store, (key) => query.get(key) as KeyValue | undefined);
  } finally {
    db.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

test('get answers what the database holds across creates, updates, deletes and failed writes', async () => {
  await withStore(async (store, onDisk) => {
    const keys = Array.from({ length: 20 }, (_, i) => `/t/k${i}`);
    for (const k of keys) assert.equal(await store.get(k), undefined); // remembered as absent
    await Promise.all(keys.map((k) => store.create(k, `${k}=1`)));
    for (const k of keys) assert.deepEqual(await store.get(k), onDisk(k));
    for (const [i, k] of keys.entries()) {
      const kv = (await store.get(k))!;
      if (i % 3 === 0) await store.delete(k, kv.modRevision);
      else if (i % 3 === 1) await store.update(k, `${k}=2`, kv.modRevision);
      else await assert.rejects(store.update(k, `${k}=stale`, kv.modRevision - 1), ConflictError);
    }
    for (const [i, k] of keys.entries()) {
      const got = await store.get(k);
      assert.deepEqual(got, onDisk(k), k);
      assert.equal(got?.value, i % 3 === 0 ? undefined : i % 3 === 1 ? `${k}=2` : `${k}=1`);
    }
    // Recreated after its delete: a new create revision.
    await store.create(keys[0]!, 'again');
    assert.deepEqual(await store.get(keys[0]!), onDisk(keys[0]!));
  });
});

test('a get racing a write sees the old or the new value, and the new one once the write is answered', async () => {
  await withStore(async (store, onDisk) => {
    let kv = await store.create('/t/race', 'v0');
    for (let i = 1; i <= 50; i++) {
      const writing = store.update('/t/race', `v${i}`, kv.modRevision);
      const during = (await store.get('/t/race'))!;
      assert.ok(during.value === `v${i - 1}` || during.value === `v${i}`, during.value);
      kv = await writing;
      assert.deepEqual(await store.get('/t/race'), kv);
      assert.deepEqual(kv, onDisk('/t/race'));
    }
  });
});

test('keys beyond the ones kept in memory are read from the database', async () => {
  await withStore(async (store, onDisk) => {
    // More keys than the store keeps (10,000, evicted in batches of 512), each written twice so that memory held every value once.
    const n = 11_000;
    const keys = Array.from({ length: n }, (_, i) => `/t/many/${i}`);
    const created = await Promise.all(keys.map((k) => store.create(k, 'a')));
    await Promise.all(created.map((kv) => store.update(kv.key, `${kv.key}=b`, kv.modRevision)));
    for (const k of [keys[0]!, keys[1]!, keys[n - 1]!]) {
      const got = await store.get(k);
      assert.equal(got?.value, `${k}=b`);
      assert.deepEqual(got, onDisk(k));
    }
  });
});
