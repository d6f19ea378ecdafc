import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { storeConformance, type StoreFixture } from './store-conformance.js';
import { SqliteStore, type SqliteStoreOptions } from '../src/store/sqlite.js';
import { openStore } from '../src/store/index.js';
import {
  ConflictError,
  KeyExistsError,
  NotFoundError,
  StoreClosedError,
  StoreError,
  type StoreEvent,
} from '../src/store/types.js';

async function withTempDir<T>(body: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'kubelite-store-'));
  try {
    return await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function sqliteFixture(options: Omit<SqliteStoreOptions, 'path'> = {}): () => Promise<StoreFixture> {
  return async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kubelite-store-'));
    const path = join(dir, 'store.db');
    const opened: SqliteStore[] = [];
    const openOne = async (): Promise<SqliteStore> => {
      const store = new SqliteStore({ path, ...options });
      await store.start();
      opened.push(store);
      return store;
    };
    return {
      store: await openOne(),
      reopen: async () => {
        await opened[opened.length - 1]!.close();
        return openOne();
      },
      cleanup: async () => {
        for (const store of opened) await store.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  };
}

storeConformance('sqlite', sqliteFixture());
// With a ring of three events nearly every watch has to replay from the log table first.
storeConformance('sqlite, watches replayed from the log', sqliteFixture({ eventCacheSize: 3 }));

describe('sqlite store', () => {
  test('concurrent writes share commits (group commit)', async () => {
    await withTempDir(async (dir) => {
      const store = new SqliteStore({ path: join(dir, 's.db') });
      await store.start();
      try {
        const before = store.stats();
        const written = await Promise.all(
          Array.from({ length: 500 }, (_, i) => store.create(`/group/${i}`, 'v'.repeat(2000))),
        );
        const after = store.stats();
        assert.equal(after.writes - before.writes, 500);
        assert.ok(after.commits - before.commits < 500, `${after.commits - before.commits} commits for 500 writes`);
        const revisions = written.map((kv) => kv.modRevision).sort((a, b) => a - b);
        assert.deepEqual(revisions, Array.from({ length: 500 }, (_, i) => revisions[0]! + i), 'consecutive revisions');
        assert.equal(await store.count('/group/'), 500);
      } finally {
        await store.close();
      }
    });
  });

  test('every acknowledged write survives a SIGKILL of the writing process', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'crash.db');
      const script = fileURLToPath(new URL('./fixtures/store-crash-writer.js', import.meta.url));
      const child = spawn(process.execPath, [script, path], { stdio: ['ignore', 'pipe', 'inherit'] });
      const acknowledged: string[] = [];
      let partial = '';
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_code, signal) => resolve(signal)));
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (chunk: string) => {
        const lines = (partial + chunk).split('\n');
        partial = lines.pop()!;
        acknowledged.push(...lines);
        // Kill it mid-stream, while writes are in flight.
        if (acknowledged.length >= 300 && child.exitCode === null && !child.killed) child.kill('SIGKILL');
      });
      const signal = await exited;
      assert.equal(signal, 'SIGKILL', 'the writer ran until it was killed');
      assert.ok(acknowledged.length >= 300);

      const store = new SqliteStore({ path });
      await store.start();
      try {
        const { items } = await store.list('/crash/');
        const stored = new Map(items.map((kv) => [kv.key, kv]));
        for (const key of acknowledged) {
          const kv = stored.get(key);
          assert.ok(kv, `acknowledged key ${key} is stored`);
          assert.equal(kv.value.length, 2000);
        }
        assert.ok((await store.currentRevision()) >= items.length);
        // The recovered store takes new writes after the old revisions.
        const next = await store.create('/crash/after', 'x');
        assert.ok(next.modRevision > Math.max(...items.map((kv) => kv.modRevision)));
      } finally {
        await store.close();
      }
    });
  });

  test('a write that does not fit fails alone; compaction makes room again', async () => {
    await withTempDir(async (dir) => {
      const store = new SqliteStore({ path: join(dir, 'quota.db'), maxSizeBytes: 512 * 1024 });
      await store.start();
      try {
        // In one batch: a value larger than the quota between small writes.
        const results = await Promise.allSettled([
          store.create('/quota/a', 'a'),
          store.create('/quota/huge', 'h'.repeat(1024 * 1024)),
          store.create('/quota/b', 'b'),
        ]);
        assert.equal(results[0]!.status, 'fulfilled');
        assert.equal(results[2]!.status, 'fulfilled');
        const failed = results[1]!;
        assert.equal(failed.status, 'rejected');
        const reason = (failed as PromiseRejectedResult).reason;
        assert.ok(reason instanceof StoreError);
        assert.ok(!(reason instanceof KeyExistsError || reason instanceof ConflictError || reason instanceof NotFoundError));
        assert.equal(await store.get('/quota/huge'), undefined, 'a failed write is not stored');
        const a = (results[0] as PromiseFulfilledResult<{ modRevision: number }>).value;
        const b = (results[2] as PromiseFulfilledResult<{ modRevision: number }>).value;
        assert.equal(b.modRevision, a.modRevision + 1, 'a failed write takes no revision');

        // Fill the quota with history: updates of one key.
        let kv = await store.create('/quota/x', 'x'.repeat(4000));
        let full: unknown;
        for (let i = 0; i < 1000 && !full; i++) {
          try {
            kv = await store.update('/quota/x', `${i}`.padEnd(4000, 'x'), kv.modRevision);
          } catch (err) {
            full = err;
          }
        }
        assert.ok(full instanceof StoreError, 'the quota was reached');
        assert.deepEqual(await store.get('/quota/x'), kv, 'reads still work and show the last committed value');

        await store.compact(await store.currentRevision());
        const after = await store.update('/quota/x', 'fits again', kv.modRevision);
        assert.equal((await store.get('/quota/x'))?.value, 'fits again');
        assert.ok(after.modRevision > kv.modRevision);
      } finally {
        await store.close();
      }
    });
  });

  test('compaction removes all history up to its revision, and resumes after a crash', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'compact.db');
      const logRows = (): number => {
        const db = new Database(path, { readonly: true });
        try {
          return db.prepare('SELECT count(*) FROM log').pluck().get() as number;
        } finally {
          db.close();
        }
      };
      let store = new SqliteStore({ path });
      await store.start();
      for (let i = 0; i < 50; i++) {
        let kv = await store.create(`/gc/${i}`, 'v0');
        for (let u = 1; u <= 3; u++) kv = await store.update(kv.key, `v${u}`, kv.modRevision);
        if (i % 5 === 0) await store.delete(kv.key);
      }
      const deleteAndRecreate = await store.create('/gc/0', 'again');
      const history = await store.currentRevision();
      assert.equal(logRows(), history, 'one log row per revision before compaction');
      await store.compact(history);
      assert.equal(logRows(), 41, 'only the rows of the live keys are left');
      assert.equal(await store.count('/gc/'), 41);
      assert.deepEqual(await store.get('/gc/0'), deleteAndRecreate);

      // A crash right after the compaction point was recorded leaves the history in place;
      // the next open finishes removing it.
      for (let i = 1; i < 50; i++) {
        if (i % 5 === 0) continue;
        const kv = (await store.get(`/gc/${i}`))!;
        await store.update(kv.key, 'v4', kv.modRevision);
      }
      const point = await store.currentRevision();
      await store.close();
      const before = logRows();
      const db = new Database(path);
      db.prepare("UPDATE meta SET value = ? WHERE name = 'compact_revision'").run(point);
      db.close();
      store = new SqliteStore({ path });
      await store.start();
      try {
        assert.equal(await store.compactRevision(), point);
        // The writer resumes the compaction in the step after the first write, if not before;
        // the second write is answered after that step.
        await store.create('/gc/next', 'x');
        await store.create('/gc/next2', 'x');
        assert.ok(logRows() < before, `${logRows()} rows left of ${before}`);
        assert.equal(logRows(), 43);
      } finally {
        await store.close();
      }
    });
  });

  test('a watch from far back replays a long history in order', async () => {
    await withTempDir(async (dir) => {
      const store = new SqliteStore({ path: join(dir, 'replay.db'), eventCacheSize: 10 });
      await store.start();
      try {
        const start = await store.currentRevision();
        for (let round = 0; round < 10; round++) {
          await Promise.all(Array.from({ length: 500 }, (_, i) => store.create(`/replay/${round}/${i}`, 'v')));
        }
        const end = await store.currentRevision();
        const events: StoreEvent[] = [];
        let batches = 0;
        await new Promise<void>((resolve, reject) => {
          store.watch('/replay/', {
            fromRevision: start,
            onEvents: (batch) => {
              batches++;
              events.push(...batch);
              if (events[events.length - 1]!.revision >= end) resolve();
            },
            onError: reject,
          });
        });
        assert.equal(events.length, 5000);
        assert.deepEqual(
          events.map((e) => e.revision),
          Array.from({ length: 5000 }, (_, i) => start + 1 + i),
        );
        assert.ok(batches > 1, 'the replay is delivered in several steps');
      } finally {
        await store.close();
      }
    });
  });

  test('close lets writes in flight finish; later calls fail with StoreClosedError', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'close.db');
      const store = new SqliteStore({ path });
      await store.start();
      const writes = Array.from({ length: 100 }, (_, i) => store.create(`/close/${i}`, 'v'));
      await store.close();
      assert.equal((await Promise.allSettled(writes)).filter((r) => r.status === 'fulfilled').length, 100);
      await assert.rejects(store.create('/close/late', 'v'), StoreClosedError);
      await assert.rejects(store.get('/close/0'), StoreClosedError);
      assert.throws(() => store.watch('/close/', { fromRevision: 0, onEvents: () => {} }), StoreClosedError);
      await store.close();

      const again = new SqliteStore({ path });
      await again.start();
      assert.equal(await again.count('/close/'), 100);
      await again.close();
    });
  });

  test('events carry the replaced value whether this side knew it or the writer sent it', async () => {
    // The writer leaves the replaced value out of its answer when the store holds it (the key's
    // latest value, no write in flight); otherwise it sends it. Both must give the same events.
    await withTempDir(async (dir) => {
      const store = new SqliteStore({ path: join(dir, 'prev.db') });
      await store.start();
      try {
        const a1 = await store.create('/prev/a', 'one');
        const events: StoreEvent[] = [];
        store.watch('/prev/', { fromRevision: a1.modRevision, onEvents: (evs) => events.push(...evs) });
        // Known here: a1 is the latest value and nothing is in flight.
        const a2 = await store.update('/prev/a', 'two', a1.modRevision);
        // The second update is sent while the first is in flight, so its replaced value is not
        // known here; both commit in order.
        const next = a2.modRevision + 1;
        const [a3, a4] = await Promise.all([
          store.update('/prev/a', 'three', a2.modRevision),
          store.update('/prev/a', 'four', next),
        ]);
        assert.equal(a3.modRevision, next);
        // A conflict still reports the current value.
        await assert.rejects(store.update('/prev/a', 'stale', a1.modRevision), (err: unknown) => {
          assert.ok(err instanceof ConflictError);
          assert.equal(err.current.value, 'four');
          return true;
        });
        // An unconditional delete is answered with the value it removed.
        const gone = await store.delete('/prev/a');
        assert.deepEqual(gone.deleted, a4);
        // The store hands events to live watchers before it answers the writes.
        assert.deepEqual(events, [
          { type: 'put', revision: a2.modRevision, key: '/prev/a', kv: a2, prev: a1 },
          { type: 'put', revision: a3.modRevision, key: '/prev/a', kv: a3, prev: a2 },
          { type: 'put', revision: a4.modRevision, key: '/prev/a', kv: a4, prev: a3 },
          { type: 'delete', revision: gone.revision, key: '/prev/a', kv: { ...a4, modRevision: gone.revision }, prev: a4 },
        ]);
      } finally {
        await store.close();
      }
    });
  });

  test('start fails with a clear error when the file cannot be opened', async () => {
    const store = new SqliteStore({ path: join(tmpdir(), 'kubelite-no-such-dir', 'x', 'store.db') });
    await assert.rejects(store.start(), (err: unknown) => {
      assert.ok(err instanceof StoreError);
      assert.match(err.message, /cannot open/);
      return true;
    });
    await assert.rejects(store.create('/x', 'v'), StoreError);
    await store.close();
  });

  test('openStore picks the store from the URL', async () => {
    assert.ok(openStore('sqlite:///tmp/x.db') instanceof SqliteStore);
    assert.ok(openStore('/tmp/x.db') instanceof SqliteStore);
    assert.throws(() => openStore('mysql://db'), /unsupported/);
    await withTempDir(async (dir) => {
      const store = openStore(`sqlite://${join(dir, 'url.db')}`);
      await store.start();
      try {
        assert.equal((await store.create('/url/a', 'A')).value, 'A');
      } finally {
        await store.close();
      }
    });
  });
});
