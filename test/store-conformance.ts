// The store contract as tests, through the Store interface only, so that every implementation
// (SQLite now, etcd later) runs the very same suite:
//
//   storeConformance('sqlite', async () => ({ store, reopen, cleanup }));
//
// `open` returns a started store over empty data (or data no test key collides with: every test
// writes under its own prefix). `reopen`, when given, closes the current store and returns a new,
// started one over the same data. `cleanup` releases everything `open` and `reopen` made.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CompactedError,
  ConflictError,
  KeyExistsError,
  NotFoundError,
  StoreClosedError,
  type KeyValue,
  type Store,
  type StoreEvent,
} from '../src/store/types.js';

export interface StoreFixture {
  store: Store;
  reopen?: () => Promise<Store>;
  cleanup: () => Promise<void>;
}

/** A generous guard so that a lost event fails the test instead of hanging the run. */
const TEST_TIMEOUT_MS = 60_000;

export function storeConformance(name: string, open: () => Promise<StoreFixture>): void {
  const it = (title: string, body: (store: Store, fixture: StoreFixture) => Promise<void>): void => {
    test(title, { timeout: TEST_TIMEOUT_MS }, async () => {
      const fixture = await open();
      try {
        await body(fixture.store, fixture);
      } finally {
        await fixture.cleanup();
      }
    });
  };

  describe(`store conformance: ${name}`, () => {
    it('create, get and KeyExistsError', async (s) => {
      assert.equal(await s.get('/t/create/a'), undefined);
      const a = await s.create('/t/create/a', 'A');
      assert.deepEqual(a, { key: '/t/create/a', value: 'A', createRevision: a.modRevision, modRevision: a.modRevision });
      assert.ok(a.modRevision > 0);
      assert.deepEqual(await s.get('/t/create/a'), a);
      assert.ok((await s.currentRevision()) >= a.modRevision);

      const b = await s.create('/t/create/b', '');
      assert.ok(b.modRevision > a.modRevision, 'every write gets a newer revision');
      assert.equal((await s.get('/t/create/b'))?.value, '', 'an empty value is a value');

      await assert.rejects(s.create('/t/create/a', 'again'), (err: unknown) => {
        assert.ok(err instanceof KeyExistsError);
        assert.equal(err.key, '/t/create/a');
        return true;
      });
      assert.deepEqual(await s.get('/t/create/a'), a, 'a failed create changes nothing');
      const c = await s.create('/t/create/c', 'C');
      assert.ok(c.modRevision > b.modRevision, 'a failed write takes no revision');
    });

    it('update with the right and a wrong expected revision; NotFoundError', async (s) => {
      const v1 = await s.create('/t/update/x', '1');
      const v2 = await s.update('/t/update/x', '2', v1.modRevision);
      assert.equal(v2.value, '2');
      assert.equal(v2.createRevision, v1.createRevision);
      assert.ok(v2.modRevision > v1.modRevision);
      assert.deepEqual(await s.get('/t/update/x'), v2);

      await assert.rejects(s.update('/t/update/x', 'stale', v1.modRevision), (err: unknown) => {
        assert.ok(err instanceof ConflictError);
        assert.equal(err.key, '/t/update/x');
        assert.deepEqual(err.current, v2, 'the conflict carries the current value');
        return true;
      });
      assert.deepEqual(await s.get('/t/update/x'), v2);

      await assert.rejects(s.update('/t/update/missing', 'v', 1), (err: unknown) => {
        assert.ok(err instanceof NotFoundError);
        assert.equal(err.key, '/t/update/missing');
        return true;
      });
      assert.equal(await s.get('/t/update/missing'), undefined);
    });

    it('delete with and without a precondition; recreate gets a new createRevision', async (s) => {
      const a = await s.create('/t/delete/a', 'A');
      const { deleted, revision } = await s.delete('/t/delete/a');
      assert.deepEqual(deleted, a, 'delete returns the value it removed');
      assert.ok(revision > a.modRevision);
      assert.equal(await s.get('/t/delete/a'), undefined);
      assert.ok((await s.currentRevision()) >= revision);

      await assert.rejects(s.delete('/t/delete/a'), NotFoundError);
      await assert.rejects(s.delete('/t/delete/never', 5), NotFoundError);

      const b = await s.create('/t/delete/b', 'B');
      const b2 = await s.update('/t/delete/b', 'B2', b.modRevision);
      await assert.rejects(s.delete('/t/delete/b', b.modRevision), (err: unknown) => {
        assert.ok(err instanceof ConflictError);
        assert.deepEqual(err.current, b2);
        return true;
      });
      assert.deepEqual(await s.get('/t/delete/b'), b2, 'a failed delete keeps the key');
      const gone = await s.delete('/t/delete/b', b2.modRevision);
      assert.deepEqual(gone.deleted, b2);
      assert.equal(await s.get('/t/delete/b'), undefined);

      const again = await s.create('/t/delete/a', 'A again');
      assert.ok(again.createRevision > revision, 'a recreated key starts a new life');
      assert.equal(again.createRevision, again.modRevision);
      await assert.rejects(s.update('/t/delete/a', 'x', a.modRevision), ConflictError);
    });

    it('prefixes are isolated', async (s) => {
      const keys = ['/t/pfx/a/b', '/t/pfx/a/b/x', '/t/pfx/a/b/y', '/t/pfx/a/bc/x', '/t/pfx/a/b0', '/t/pfx/a/c'];
      const from = await s.currentRevision();
      const watched = collect(s, '/t/pfx/a/b/', from);
      for (const k of keys) await s.create(k, k);
      const listed = await s.list('/t/pfx/a/b/');
      assert.deepEqual(
        listed.items.map((kv) => kv.key),
        ['/t/pfx/a/b/x', '/t/pfx/a/b/y'],
      );
      assert.equal(await s.count('/t/pfx/a/b/'), 2);
      assert.equal(await s.count('/t/pfx/a/b'), 5);
      assert.equal(await s.count('/t/pfx/'), keys.length);
      assert.equal(await s.count('/t/pfx/zzz/'), 0);
      assert.deepEqual((await s.list('/t/pfx/zzz/')).items, []);
      const all = await s.list('');
      for (const k of keys) assert.ok(all.items.some((kv) => kv.key === k), 'the empty prefix lists everything');

      await s.create('/t/pfx/a/b/z', 'sentinel');
      const events = await watched.until((e) => e.key === '/t/pfx/a/b/z');
      assert.deepEqual(
        events.map((e) => e.key),
        ['/t/pfx/a/b/x', '/t/pfx/a/b/y', '/t/pfx/a/b/z'],
      );
      watched.cancel();
    });

    it('list is in byte order of the key, and pages with limit and startAfter', async (s) => {
      const names = ['b', 'a', 'B', 'é', '~', 'a0', 'a/', '\u{1F600}', '\uFFFD', 'Z', 'aa', '0', '-'];
      for (const n of names) await s.create(`/t/order/${n}`, n);
      const expected = names.map((n) => `/t/order/${n}`).sort(byteOrder);
      const full = await s.list('/t/order/');
      assert.deepEqual(
        full.items.map((kv) => kv.key),
        expected,
      );
      assert.equal(full.more, false);
      assert.ok(full.revision >= (await s.get(expected[0]!))!.modRevision);

      // Pages served at the revision of the first page do not see later writes.
      const first = await s.list('/t/order/', { limit: 4 });
      assert.equal(first.items.length, 4);
      assert.equal(first.more, true);
      await s.create('/t/order/00-late', 'late');
      await s.delete(expected[6]!);
      const paged: KeyValue[] = [...first.items];
      let page = first;
      while (page.more) {
        page = await s.list('/t/order/', {
          limit: 4,
          startAfter: paged[paged.length - 1]!.key,
          revision: first.revision,
        });
        assert.equal(page.revision, first.revision);
        assert.ok(page.items.length <= 4);
        paged.push(...page.items);
      }
      assert.deepEqual(paged, full.items);

      const exact = await s.list('/t/order/', { limit: expected.length + 1 });
      assert.equal(exact.more, false, 'no more when the last item was returned');
      const latest = await s.list('/t/order/', { limit: expected.length });
      assert.equal(latest.items.length, expected.length);
      assert.equal(latest.more, false, 'one key was added and one deleted');
      const limited = await s.list('/t/order/', { limit: expected.length - 1 });
      assert.equal(limited.more, true);
      const after = await s.list('/t/order/', { startAfter: '/t/order/~' });
      assert.deepEqual(
        after.items.map((kv) => kv.key),
        expected.filter((k) => byteOrder(k, '/t/order/~') > 0),
      );
      const before = await s.list('/t/order/', { startAfter: '/t/' });
      assert.equal(before.items.length, expected.length, 'startAfter before the prefix is no restriction');
      assert.deepEqual((await s.list('/t/order/', { startAfter: '/t/order/\u{1F600}' })).items, []);
    });

    it('list at an old revision sees old values and since-deleted keys', async (s) => {
      const a1 = await s.create('/t/old/a', 'a1');
      const b1 = await s.create('/t/old/b', 'b1');
      const d1 = await s.create('/t/old/d', 'd1');
      const at = d1.modRevision;
      const a2 = await s.update('/t/old/a', 'a2', a1.modRevision);
      await s.delete('/t/old/b');
      const c1 = await s.create('/t/old/c', 'c1');
      const b2 = await s.create('/t/old/b', 'b2');
      await s.update('/t/old/a', 'a3', a2.modRevision);
      await s.create('/t/other/x', 'elsewhere');

      const old = await s.list('/t/old/', { revision: at });
      assert.equal(old.revision, at);
      assert.deepEqual(old.items, [a1, b1, d1]);
      assert.equal(old.more, false);

      const mid = await s.list('/t/old/', { revision: c1.modRevision });
      assert.deepEqual(mid.items, [a2, c1, d1]);

      const paged1 = await s.list('/t/old/', { revision: at, limit: 2 });
      assert.deepEqual(paged1.items, [a1, b1]);
      assert.equal(paged1.more, true);
      const paged2 = await s.list('/t/old/', { revision: at, limit: 2, startAfter: '/t/old/b' });
      assert.deepEqual(paged2.items, [d1]);
      assert.equal(paged2.more, false);

      const now = await s.list('/t/old/');
      assert.deepEqual(
        now.items.map((kv) => [kv.key, kv.value]),
        [
          ['/t/old/a', 'a3'],
          ['/t/old/b', 'b2'],
          ['/t/old/c', 'c1'],
          ['/t/old/d', 'd1'],
        ],
      );
      assert.equal(now.items[1]!.createRevision, b2.createRevision);
    });

    it('count', async (s) => {
      assert.equal(await s.count('/t/count/'), 0);
      const kvs: KeyValue[] = [];
      for (let i = 0; i < 25; i++) kvs.push(await s.create(`/t/count/${i}`, String(i)));
      await s.create('/t/countx', 'not in the prefix');
      assert.equal(await s.count('/t/count/'), 25);
      await s.delete(kvs[3]!.key);
      await s.update(kvs[4]!.key, 'changed', kvs[4]!.modRevision);
      assert.equal(await s.count('/t/count/'), 24);
    });

    it('watch from now delivers puts and deletes with prev values, in order', async (s) => {
      await s.create('/t/watch/ignored', 'before');
      const from = await s.currentRevision();
      const w = collect(s, '/t/watch/', from);
      const a1 = await s.create('/t/watch/a', 'a1');
      const a2 = await s.update('/t/watch/a', 'a2', a1.modRevision);
      await s.create('/t/elsewhere', 'x');
      const del = await s.delete('/t/watch/a');
      const events = await w.until((e) => e.revision === del.revision);
      w.cancel();
      assert.deepEqual(events, [
        { type: 'put', revision: a1.modRevision, key: '/t/watch/a', kv: a1 },
        { type: 'put', revision: a2.modRevision, key: '/t/watch/a', kv: a2, prev: a1 },
        {
          type: 'delete',
          revision: del.revision,
          key: '/t/watch/a',
          // A delete's kv carries the deleted value at the revision of the delete.
          kv: { ...a2, modRevision: del.revision },
          prev: a2,
        },
      ]);
    });

    it('watch from the past replays history, then continues live', async (s) => {
      const x1 = await s.create('/t/past/x', 'x1');
      const from = x1.modRevision;
      const x2 = await s.update('/t/past/x', 'x2', x1.modRevision);
      const y1 = await s.create('/t/past/y', 'y1');
      const gone = await s.delete('/t/past/x', x2.modRevision);
      const w = collect(s, '/t/past/', from);
      const y2 = await s.update('/t/past/y', 'y2', y1.modRevision);
      const events = await w.until((e) => e.revision === y2.modRevision);
      w.cancel();
      assert.deepEqual(events, [
        { type: 'put', revision: x2.modRevision, key: '/t/past/x', kv: x2, prev: x1 },
        { type: 'put', revision: y1.modRevision, key: '/t/past/y', kv: y1 },
        { type: 'delete', revision: gone.revision, key: '/t/past/x', kv: { ...x2, modRevision: gone.revision }, prev: x2 },
        { type: 'put', revision: y2.modRevision, key: '/t/past/y', kv: y2, prev: y1 },
      ]);
    });

    it('a watch from a revision not reached yet skips the events up to it', async (s) => {
      const start = await s.currentRevision();
      const w = collect(s, '/t/future/', start + 2);
      const first = await s.create('/t/future/1', '1');
      const second = await s.create('/t/future/2', '2');
      const third = await s.create('/t/future/3', '3');
      const events = await w.until((e) => e.key === '/t/future/3');
      w.cancel();
      const expected = [first, second, third].filter((kv) => kv.modRevision > start + 2);
      assert.deepEqual(
        events.map((e) => e.revision),
        expected.map((kv) => kv.modRevision),
      );
    });

    it('a cancelled watch gets nothing more; close ends watches with StoreClosedError', async (s, fixture) => {
      const from = await s.currentRevision();
      let cancelledGot = 0;
      const cancelled = s.watch('/t/cancel/', { fromRevision: from, onEvents: (evs) => (cancelledGot += evs.length) });
      cancelled.cancel();
      cancelled.cancel();
      const open = collect(s, '/t/cancel/', from);
      await s.create('/t/cancel/a', 'a');
      await open.until((e) => e.key === '/t/cancel/a');
      assert.equal(cancelledGot, 0);
      if (!fixture.reopen) {
        open.cancel();
        return;
      }
      // Closing is part of reopening; the open watch must end with StoreClosedError.
      const reopened = await fixture.reopen();
      const err = await open.ended;
      assert.ok(err instanceof StoreClosedError, `expected StoreClosedError, got ${String(err)}`);
      assert.equal((await reopened.get('/t/cancel/a'))?.value, 'a');
    });

    it('concurrent writes: every watcher sees exactly the revisions after its start, in order, once', async (s) => {
      const prefixes = ['/t/conc/a/', '/t/conc/b/', '/t/conc/a'];
      const watchers: { prefix: string; from: number; w: Collector }[] = [];
      const startWatcher = (prefix: string, from: number): void => {
        watchers.push({ prefix, from, w: collect(s, prefix, from) });
      };
      const base = await s.currentRevision();
      startWatcher('/t/conc/a/', base);
      startWatcher('/t/conc/', base);

      const writes: { revision: number; key: string; type: 'put' | 'delete' }[] = [];
      let lastSeen = base;
      const record = (revision: number, key: string, type: 'put' | 'delete'): void => {
        writes.push({ revision, key, type });
        if (revision > lastSeen) lastSeen = revision;
        // Start watchers at different moments while hundreds of writes are in flight,
        // some from the newest revision seen, some from further back.
        if (writes.length % 150 === 0) {
          const i = writes.length / 150;
          startWatcher(prefixes[i % prefixes.length]!, lastSeen);
          startWatcher(prefixes[(i + 1) % prefixes.length]!, Math.max(base, lastSeen - 100));
        }
      };
      const chains: Promise<void>[] = [];
      for (let i = 0; i < 200; i++) {
        const key = `${prefixes[i % prefixes.length]}${i}`;
        chains.push(
          (async () => {
            const created = await s.create(key, `v0-${i}`);
            record(created.modRevision, key, 'put');
            const updated = await s.update(key, `v1-${i}`, created.modRevision);
            record(updated.modRevision, key, 'put');
            if (i % 3 === 0) {
              const { revision } = await s.delete(key, updated.modRevision);
              record(revision, key, 'delete');
            }
          })(),
        );
      }
      await Promise.all(chains);
      startWatcher('/t/conc/b/', lastSeen);
      assert.equal(new Set(writes.map((w) => w.revision)).size, writes.length, 'every write has its own revision');

      // One last write under every watched prefix marks the end of each stream.
      const sentinel = await s.create('/t/conc/a/~sentinel', 'end');
      const sentinelB = await s.create('/t/conc/b/~sentinel', 'end');
      const end = Math.max(sentinel.modRevision, sentinelB.modRevision);
      const ends = new Map([
        ['/t/conc/a/', sentinel.modRevision],
        ['/t/conc/b/', sentinelB.modRevision],
        ['/t/conc/a', sentinel.modRevision],
        ['/t/conc/', end],
      ]);
      writes.sort((x, y) => x.revision - y.revision);
      for (const { prefix, from, w } of watchers) {
        const last = ends.get(prefix)!;
        const events = await w.until((e) => e.revision === last);
        w.cancel();
        const seen = events.filter((e) => e.revision < sentinel.modRevision);
        const expected = writes.filter((x) => x.revision > from && x.key.startsWith(prefix));
        assert.deepEqual(
          seen.map((e) => [e.revision, e.key, e.type]),
          expected.map((x) => [x.revision, x.key, x.type]),
          `watcher on ${prefix} from ${from}`,
        );
        for (const e of seen) {
          if (e.type === 'delete' || e.kv.createRevision !== e.revision) {
            assert.ok(e.prev, `event at ${e.revision} carries its previous value`);
          }
        }
      }
    });

    it('concurrent updates with the same expected revision: exactly one wins', async (s) => {
      const kv = await s.create('/t/race/x', '0');
      const attempts = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) => s.update('/t/race/x', `writer ${i}`, kv.modRevision)),
      );
      const winners = attempts.filter((r) => r.status === 'fulfilled');
      assert.equal(winners.length, 1);
      const winner = (winners[0] as PromiseFulfilledResult<KeyValue>).value;
      for (const r of attempts) {
        if (r.status === 'rejected') {
          assert.ok(r.reason instanceof ConflictError);
          assert.deepEqual(r.reason.current, winner);
        }
      }
      assert.deepEqual(await s.get('/t/race/x'), winner);

      const creates = await Promise.allSettled(Array.from({ length: 10 }, () => s.create('/t/race/y', 'y')));
      assert.equal(creates.filter((r) => r.status === 'fulfilled').length, 1);
      for (const r of creates) if (r.status === 'rejected') assert.ok(r.reason instanceof KeyExistsError);
    });

    it('compaction drops old history and keeps current values', async (s) => {
      const a1 = await s.create('/t/compact/a', 'a1');
      const a2 = await s.update('/t/compact/a', 'a2', a1.modRevision);
      const b1 = await s.create('/t/compact/b', 'b1');
      const bGone = await s.delete('/t/compact/b');
      const a3 = await s.update('/t/compact/a', 'a3', a2.modRevision);
      const c1 = await s.create('/t/compact/c', 'c1');
      const point = b1.modRevision;

      await s.compact(point);
      assert.equal(await s.compactRevision(), point);
      assert.deepEqual(await s.get('/t/compact/a'), a3);
      assert.deepEqual(await s.get('/t/compact/c'), c1);
      assert.deepEqual((await s.list('/t/compact/')).items, [a3, c1]);

      await assert.rejects(s.list('/t/compact/', { revision: a2.modRevision }), (err: unknown) => {
        assert.ok(err instanceof CompactedError);
        return true;
      });
      assert.deepEqual((await s.list('/t/compact/', { revision: point })).items, [a2, b1]);
      assert.deepEqual((await s.list('/t/compact/', { revision: bGone.revision })).items, [a2]);

      assert.ok((await watchFailure(s, '/t/compact/', a1.modRevision)) instanceof CompactedError);
      const w = collect(s, '/t/compact/', point);
      const events = await w.until((e) => e.revision === c1.modRevision);
      w.cancel();
      assert.deepEqual(events, [
        { type: 'delete', revision: bGone.revision, key: '/t/compact/b', kv: { ...b1, modRevision: bGone.revision }, prev: b1 },
        { type: 'put', revision: a3.modRevision, key: '/t/compact/a', kv: a3, prev: a2 },
        { type: 'put', revision: c1.modRevision, key: '/t/compact/c', kv: c1 },
      ]);

      // Compacting again, up to the newest revision, still keeps every current value.
      const c2 = await s.update('/t/compact/c', 'c2', c1.modRevision);
      await s.compact(c2.modRevision);
      assert.equal(await s.compactRevision(), c2.modRevision);
      assert.deepEqual((await s.list('/t/compact/')).items, [a3, c2]);
      assert.ok((await watchFailure(s, '/t/compact/', point)) instanceof CompactedError);
      const after = collect(s, '/t/compact/', c2.modRevision);
      const c3 = await s.update('/t/compact/c', 'c3', c2.modRevision);
      assert.deepEqual(await after.until((e) => e.revision === c3.modRevision), [
        { type: 'put', revision: c3.modRevision, key: '/t/compact/c', kv: c3, prev: c2 },
      ]);
      after.cancel();
    });

    it('data and revisions survive a reopen', async (s, fixture) => {
      if (!fixture.reopen) return;
      const a = await s.create('/t/persist/a', 'A');
      const b = await s.create('/t/persist/b', 'B');
      const a2 = await s.update('/t/persist/a', 'A2', a.modRevision);
      await s.delete('/t/persist/b', b.modRevision);
      await s.compact(b.modRevision);
      const revision = await s.currentRevision();

      const reopened = await fixture.reopen();
      assert.deepEqual(await reopened.get('/t/persist/a'), a2);
      assert.equal(await reopened.get('/t/persist/b'), undefined);
      assert.ok((await reopened.currentRevision()) >= revision);
      assert.equal(await reopened.compactRevision(), b.modRevision);
      assert.deepEqual((await reopened.list('/t/persist/', { revision: b.modRevision })).items, [a, b]);
      const c = await reopened.create('/t/persist/c', 'C');
      assert.ok(c.modRevision > revision, 'revisions keep increasing after a reopen');
      const w = collect(reopened, '/t/persist/', b.modRevision);
      const events = await w.until((e) => e.revision === c.modRevision);
      w.cancel();
      assert.deepEqual(
        events.map((e) => [e.type, e.key]),
        [
          ['put', '/t/persist/a'],
          ['delete', '/t/persist/b'],
          ['put', '/t/persist/c'],
        ],
      );
    });
  });
}

interface Collector {
  /** Resolves with every event so far once one satisfies the predicate; rejects if the watch ends. */
  until(done: (e: StoreEvent) => boolean): Promise<StoreEvent[]>;
  /** Resolves with the error the watch ended with. */
  ended: Promise<Error>;
  cancel(): void;
}

function collect(store: Store, prefix: string, fromRevision: number): Collector {
  const events: StoreEvent[] = [];
  const waiters: { done: (e: StoreEvent) => boolean; resolve: (e: StoreEvent[]) => void; reject: (err: Error) => void }[] = [];
  let failure: Error | undefined;
  let endedWith!: (err: Error) => void;
  const ended = new Promise<Error>((resolve) => (endedWith = resolve));
  const check = (): void => {
    for (let i = 0; i < waiters.length; ) {
      const waiter = waiters[i]!;
      if (events.some(waiter.done)) {
        waiters.splice(i, 1);
        waiter.resolve([...events]);
      } else if (failure) {
        waiters.splice(i, 1);
        waiter.reject(failure);
      } else {
        i++;
      }
    }
  };
  const watch = store.watch(prefix, {
    fromRevision,
    onEvents: (batch) => {
      assert.ok(batch.length > 0, 'no empty batches');
      for (const e of batch) {
        const last = events[events.length - 1];
        assert.ok(!last || e.revision > last.revision, `revision ${e.revision} after ${last?.revision}`);
        assert.ok(e.revision > fromRevision);
        assert.ok(e.key.startsWith(prefix));
        events.push(e);
      }
      check();
    },
    onError: (err) => {
      failure = err;
      endedWith(err);
      check();
    },
  });
  return {
    until: (done) => new Promise((resolve, reject) => {
      waiters.push({ done, resolve, reject });
      check();
    }),
    ended,
    cancel: () => watch.cancel(),
  };
}

/** The error a watch fails with, thrown at once or reported through onError. */
async function watchFailure(store: Store, prefix: string, fromRevision: number): Promise<Error> {
  let events = 0;
  try {
    let reported!: (err: Error) => void;
    const failed = new Promise<Error>((resolve) => (reported = resolve));
    store.watch(prefix, { fromRevision, onEvents: (e) => (events += e.length), onError: reported });
    const err = await failed;
    assert.equal(events, 0, 'a compacted watch delivers nothing');
    return err;
  } catch (err) {
    return err as Error;
  }
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
