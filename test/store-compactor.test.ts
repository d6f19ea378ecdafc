import { describe, test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCompactor } from '../src/store/compactor.js';
import { SqliteStore } from '../src/store/sqlite.js';
import type { Store } from '../src/store/types.js';

/** The part of a Store the compactor uses, with the revision set by the test. */
function fakeStore(): { store: Store; compactions: number[]; setRevision(r: number): void; samples(): number } {
  let revision = 0;
  let compacted = 0;
  let samples = 0;
  const compactions: number[] = [];
  const store = {
    currentRevision: async () => {
      samples++;
      return revision;
    },
    compactRevision: async () => compacted,
    compact: async (r: number) => {
      compactions.push(r);
      compacted = r;
    },
  } as Partial<Store> as Store;
  return { store, compactions, setRevision: (r) => (revision = r), samples: () => samples };
}

const MINUTE = 60_000;

describe('store compactor', () => {
  test('keeps retentionMs of history when that is more than retentionRevisions', async () => {
    const { store, compactions, setRevision } = fakeStore();
    let now = 0;
    setRevision(1000);
    const compactor = startCompactor(store, { retentionMs: 5 * MINUTE, retentionRevisions: 100, now: () => now });
    try {
      await compactor.tick(); // the pass started by startCompactor: sample (0, 1000)
      for (let minute = 1; minute <= 4; minute++) {
        now = minute * MINUTE;
        setRevision(1000 + minute * 1000);
        await compactor.tick();
      }
      assert.deepEqual(compactions, [], 'nothing is older than five minutes yet');
      now = 5 * MINUTE;
      setRevision(6000);
      await compactor.tick();
      assert.deepEqual(compactions, [1000], 'the revision current five minutes ago');
      now = 6 * MINUTE + 30_000;
      setRevision(7000);
      await compactor.tick();
      assert.deepEqual(compactions, [1000, 2000], 'the newest sample at least five minutes old');
      await compactor.tick();
      assert.deepEqual(compactions, [1000, 2000], 'no compaction to the same revision twice');
    } finally {
      compactor.stop();
    }
  });

  test('keeps retentionRevisions when that is more than retentionMs', async () => {
    const { store, compactions, setRevision } = fakeStore();
    let now = 0;
    setRevision(8000);
    const compactor = startCompactor(store, { retentionMs: 5 * MINUTE, retentionRevisions: 10_000, now: () => now });
    try {
      await compactor.tick();
      now = 10 * MINUTE;
      setRevision(9000);
      await compactor.tick();
      assert.deepEqual(compactions, [], 'fewer than 10,000 revisions of history');
      now = 11 * MINUTE;
      setRevision(12_500);
      await compactor.tick();
      assert.deepEqual(compactions, [2500], '10,000 revisions behind the current one');
    } finally {
      compactor.stop();
    }
  });

  test('runs on its interval until stopped', async () => {
    mock.timers.enable({ apis: ['setInterval'] });
    const { store, compactions, setRevision, samples } = fakeStore();
    let now = 0;
    setRevision(50);
    const compactor = startCompactor(store, {
      retentionMs: 1000,
      retentionRevisions: 10,
      intervalMs: 1000,
      now: () => now,
    });
    try {
      await compactor.tick();
      now = 1000;
      setRevision(100);
      mock.timers.tick(1000);
      assert.equal(samples(), 2, 'the timer started a pass');
      await compactor.tick(); // waits for the pass the timer started
      assert.deepEqual(compactions, [50]);
      compactor.stop();
      now = 5000;
      setRevision(500);
      mock.timers.tick(5000);
      assert.equal(samples(), 2, 'a stopped compactor does nothing on its own');
    } finally {
      compactor.stop();
      mock.timers.reset();
    }
  });

  test('compacts a real store', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kubelite-compactor-'));
    const store = new SqliteStore({ path: join(dir, 'c.db') });
    await store.start();
    try {
      let now = 0;
      for (let i = 0; i < 10; i++) await store.create(`/c/${i}`, 'v');
      const compactor = startCompactor(store, { retentionMs: 1000, retentionRevisions: 5, now: () => now });
      await compactor.tick(); // sample (0, 10)
      for (let i = 10; i < 30; i++) await store.create(`/c/${i}`, 'v');
      now = 1000;
      await compactor.tick();
      compactor.stop();
      assert.equal(await store.compactRevision(), 10);
      assert.equal(await store.count('/c/'), 30);
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
