// The etcd store against real etcd members (Debian's etcd-server, started by the tests on free
// loopback ports): the same conformance suite as the SQLite store, then what only etcd has —
// several store instances (API servers) on one etcd, compaction coordinated between them,
// progress notifications, a watch backlog reaching a busy process (the gRPC flow-control window),
// a leader killed during a stream of writes, and `kubelite up` on etcd.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { storeConformance, type StoreFixture } from './store-conformance.js';
import { etcdMissing, startEtcd, type EtcdCluster } from './helpers/etcd.js';
import { startCluster, tempFile } from './helpers/cluster.js';
import { EtcdStore, parseEtcdUrl, type EtcdStoreOptions } from '../src/store/etcd.js';
import { openStore } from '../src/store/index.js';
import {
  CompactedError,
  ConflictError,
  StoreError,
  TimeoutError,
  type KeyValue,
  type Store,
  type StoreEvent,
} from '../src/store/types.js';

const missing = etcdMissing();
/** A guard so that a lost event fails the test instead of hanging the run. */
const T = { timeout: 120_000 };

if (missing) {
  test('etcd store', { skip: `etcd tests skipped: ${missing}` }, () => {});
} else {
  /** One etcd for both conformance runs: every conformance test writes under its own keys. */
  let shared: Promise<EtcdCluster> | undefined;
  after(async () => (await shared)?.cleanup());

  const etcdFixture = (options: Omit<EtcdStoreOptions, 'endpoints'>) => async (): Promise<StoreFixture> => {
    const cluster = await (shared ??= startEtcd());
    const opened: EtcdStore[] = [];
    const openOne = async (): Promise<EtcdStore> => {
      const store = new EtcdStore({ endpoints: cluster.endpoints, ...options });
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
      },
    };
  };

  storeConformance('etcd', etcdFixture({}));
  storeConformance('etcd, under a key prefix', etcdFixture({ keyPrefix: '/tenant-a' }));

  describe('etcd store', () => {
    test('openStore and parseEtcdUrl read etcd:// URLs', () => {
      assert.ok(openStore('etcd://127.0.0.1:2379') instanceof EtcdStore);
      assert.deepEqual(parseEtcdUrl('etcd://127.0.0.1:2379,127.0.0.2:2380'), {
        endpoints: ['http://127.0.0.1:2379', 'http://127.0.0.2:2380'],
        keyPrefix: '',
      });
      assert.deepEqual(parseEtcdUrl('etcd://localhost:2379/kubelite'), {
        endpoints: ['http://localhost:2379'],
        keyPrefix: '/kubelite',
      });
      assert.throws(() => openStore('etcd://'), /etcd:\/\/HOST:PORT/);
      assert.throws(() => openStore('etcd://host-without-port'), /etcd:\/\/HOST:PORT/);
    });

    test('start fails with a clear error when no member answers', async () => {
      const store = new EtcdStore({ endpoints: ['http://127.0.0.1:1'], requestTimeoutMs: 500 });
      await assert.rejects(store.start(), (err: unknown) => {
        assert.ok(err instanceof StoreError);
        assert.match(err.message, /cannot reach etcd at http:\/\/127\.0\.0\.1:1/);
        return true;
      });
      await store.close();
    });

    test("two stores on one etcd see each other's writes and watches", T, async () => {
      await withEtcd({}, async (_cluster, open) => {
        const [a, b] = await open(2);
        const fromB = collect(b, '/two/', await b.currentRevision());
        const fromA = collect(a, '/two/', await a.currentRevision());

        const x1 = await a.create('/two/x', 'from a');
        assert.ok((await b.currentRevision()) >= x1.modRevision, 'a read through b sees a\'s revision at once');
        assert.deepEqual(await b.get('/two/x'), x1);
        const x2 = await b.update('/two/x', 'from b', x1.modRevision);
        await assert.rejects(a.update('/two/x', 'stale', x1.modRevision), (err: unknown) => {
          assert.ok(err instanceof ConflictError);
          assert.deepEqual(err.current, x2);
          return true;
        });
        const gone = await a.delete('/two/x', x2.modRevision);
        assert.deepEqual((await b.list('/two/')).items, []);

        const expected = [
          { type: 'put', revision: x1.modRevision, key: '/two/x', kv: x1 },
          { type: 'put', revision: x2.modRevision, key: '/two/x', kv: x2, prev: x1 },
          { type: 'delete', revision: gone.revision, key: '/two/x', kv: { ...x2, modRevision: gone.revision }, prev: x2 },
        ];
        assert.deepEqual(await fromB.until((e) => e.revision === gone.revision), expected);
        assert.deepEqual(await fromA.until((e) => e.revision === gone.revision), expected);
      });
    });

    test('compaction: watches and lists from before it get CompactedError, in every store', T, async () => {
      await withEtcd({}, async (_cluster, open) => {
        const [a, b] = await open(2);
        const v1 = await a.create('/gc/k', 'v1');
        const v2 = await a.update('/gc/k', 'v2', v1.modRevision);
        const v3 = await a.update('/gc/k', 'v3', v2.modRevision);
        const page = await b.list('/gc/', { revision: v1.modRevision, limit: 1 });
        assert.deepEqual(page.items, [v1]);
        // b has not seen the compaction: etcd itself refuses b's watch (the client quirk:
        // only the raw response carries the compact revision) and b's paged list.
        await a.compact(v2.modRevision);

        assert.throws(() => a.watch('/gc/', { fromRevision: v1.modRevision, onEvents: () => {} }), CompactedError);
        const err = await watchError(b, '/gc/', v1.modRevision);
        assert.ok(err instanceof CompactedError, `expected CompactedError, got ${String(err)}`);
        assert.equal(err.compacted, v2.modRevision);
        assert.equal(err.requested, v1.modRevision);
        assert.equal(await b.compactRevision(), v2.modRevision);

        // The next page of a list from before the compaction point.
        await assert.rejects(
          b.list('/gc/', { revision: v1.modRevision, limit: 1, startAfter: page.items[0]!.key }),
          CompactedError,
        );
        await assert.rejects(a.list('/gc/', { revision: v1.modRevision }), CompactedError);
        assert.deepEqual((await b.list('/gc/', { revision: v2.modRevision })).items, [v2]);
        assert.deepEqual((await b.list('/gc/')).items, [v3]);

        // From the compaction point on, history is complete.
        const w = collect(b, '/gc/', v2.modRevision);
        assert.deepEqual(await w.until((e) => e.revision === v3.modRevision), [
          { type: 'put', revision: v3.modRevision, key: '/gc/k', kv: v3, prev: v2 },
        ]);
      });
    });

    test('of two API servers compacting in the same round, one compacts', T, async () => {
      await withEtcd({}, async (_cluster, open) => {
        const [a, b] = await open(2);
        let kv = await a.create('/round/k', '0');
        for (let i = 1; i <= 5; i++) kv = await a.update('/round/k', String(i), kv.modRevision);
        const early = kv.modRevision - 3;
        const late = kv.modRevision - 1;

        await a.compact(early);
        // b last looked at the compaction key before a's turn: it skips this round...
        await b.compact(late);
        assert.equal(await b.compactRevision(), early);
        assert.ok((await b.list('/round/', { revision: early })).items.length === 1, 'history after a\'s point is kept');
        // ...and acts in the next one.
        await b.compact(late);
        assert.equal(await a.compactRevision(), late);
        await assert.rejects(a.list('/round/', { revision: early }), CompactedError);
      });
    });

    test('an idle watch makes progress past writes elsewhere (etcd progress notifications)', T, async () => {
      await withEtcd({ progressNotifyIntervalMs: 200 }, async (_cluster, open) => {
        const [store] = await open(1);
        const from = await store.currentRevision();
        const events: StoreEvent[] = [];
        const idle = store.watch('/idle/', { fromRevision: from, onEvents: (e) => events.push(...e) });
        assert.equal(idle.progress(), from);
        let last: KeyValue | undefined;
        for (let i = 0; i < 5; i++) last = await store.create(`/busy/${i}`, 'x');
        await waitFor(() => idle.progress() >= last!.modRevision, 'a progress notification');
        assert.equal(events.length, 0, 'no event of its own yet');
        // Progress never runs ahead of an event: the next event has a newer revision.
        const mine = await store.create('/idle/a', 'a');
        await waitFor(() => events.length > 0, 'the event of /idle/a');
        assert.equal(events[0]!.revision, mine.modRevision);
        assert.ok(mine.modRevision > last!.modRevision);
        idle.cancel();
      });
    });

    test('a watch backlog reaches a busy process in a few event-loop turns, not 64 KiB per turn', T, async (t) => {
      // The defect: gRPC's default 64 KiB HTTP/2 window let etcd send the shared watch stream
      // only 64 KiB per turn of our event loop, so a loaded API server (turns of tens of ms)
      // received watch events seconds after their writes. Turns are counted, not milliseconds:
      // with a 64 KiB window, 8 MiB take at least 128 turns whatever the machine's speed.
      // Progress notifications are kept out of the way (one a minute).
      await withEtcd({ progressNotifyIntervalMs: 60_000 }, async (_cluster, open) => {
        const [store] = await open(1);
        const valueBytes = 128 * 1024;
        const count = 64;
        const from = await store.currentRevision();
        for (let i = 0; i < count; i++) {
          await store.create(`/backlog/${String(i).padStart(3, '0')}`, String(i % 10).repeat(valueBytes));
        }
        // The watch stream is opened first, so that the backlog watch's create request goes out at once.
        const opener = collect(store, '/opener/', await store.currentRevision());
        await store.create('/opener/x', 'x');
        await opener.until(() => true);

        let received = 0;
        let failure: Error | undefined;
        const backlog = store.watch('/backlog/', {
          fromRevision: from,
          onEvents: (events) => (received += events.length),
          onError: (err) => (failure = err),
        });
        await sleep(20);
        // A long busy spell lets etcd read the history and send as much as the window allows.
        busyFor(1_000);
        let turns = 0;
        await new Promise<void>((resolve, reject) => {
          const turn = () => {
            if (failure) return reject(failure);
            if (received >= count) return resolve();
            if (++turns > 1_000) return reject(new Error(`${received} of ${count} events after 1,000 turns`));
            // A loaded API server: each turn of the event loop does 20 ms of other work.
            busyFor(20);
            setImmediate(turn);
          };
          setImmediate(turn);
        });
        backlog.cancel();
        opener.cancel();
        t.diagnostic(`${count * valueBytes} bytes of events in ${turns} busy turns`);
        assert.ok(turns <= 32, `${count * valueBytes} bytes of events took ${turns} busy event-loop turns`);
      });
    });

    test('etcd leader killed during a stream of writes: no acknowledged write lost, no false failure', T, async (t) => {
      await withEtcd({ members: 3 }, async (cluster, open) => {
        const [store] = await open(1);
        const watchedFrom = await store.currentRevision();
        const watched = collect(store, '/fault/', watchedFrom);

        type Outcome = { key: string; op: 'create' | 'update'; value: string; ok?: KeyValue; err?: unknown };
        const outcomes: Outcome[] = [];
        let acknowledged = 0;
        let stop = false;
        const writer = async (w: number): Promise<void> => {
          for (let j = 0; !stop; j++) {
            const key = `/fault/${w}/${j}`;
            const created: Outcome = { key, op: 'create', value: `c${j}` };
            outcomes.push(created);
            try {
              created.ok = await store.create(key, created.value);
              acknowledged++;
            } catch (err) {
              created.err = err;
              continue;
            }
            if (j % 2 === 1) continue;
            const updated: Outcome = { key, op: 'update', value: `u${j}` };
            outcomes.push(updated);
            try {
              updated.ok = await store.update(key, updated.value, created.ok.modRevision);
              acknowledged++;
            } catch (err) {
              updated.err = err;
            }
          }
        };
        const writers = Array.from({ length: 16 }, (_, w) => writer(w));
        try {
          await waitFor(() => acknowledged >= 300, '300 acknowledged writes');
          const leader = await cluster.leader();
          const beforeKill = acknowledged;
          await cluster.kill(leader);
          const newLeader = await cluster.leader();
          assert.notEqual(newLeader.name, leader.name);
          await waitFor(() => acknowledged >= beforeKill + 300, '300 acknowledged writes after the kill');
        } finally {
          stop = true;
          await Promise.all(writers);
        }

        // Read back through a store that knows only the surviving members.
        const survivors = cluster.members.filter((m) => m.running).map((m) => m.clientUrl);
        const reader = new EtcdStore({ endpoints: survivors });
        await reader.start();
        try {
          const stored = new Map((await reader.list('/fault/')).items.map((kv) => [kv.key, kv]));
          const byKey = new Map<string, Outcome[]>();
          for (const o of outcomes) byKey.set(o.key, [...(byKey.get(o.key) ?? []), o]);
          for (const [key, [created, updated]] of byKey) {
            const kv = stored.get(key);
            const what = (o: Outcome) => `${o.op} of ${key} (${o.ok ? 'acknowledged' : String(o.err)})`;
            if (!created!.ok) {
              // No update follows a create that was not acknowledged.
              if (created!.err instanceof TimeoutError) assert.ok(!kv || kv.value === created!.value, what(created!));
              else assert.equal(kv, undefined, `a failed write is not stored: ${what(created!)}`);
            } else if (!updated || (!updated.ok && !(updated.err instanceof TimeoutError))) {
              assert.deepEqual(kv, created!.ok, `the acknowledged create is stored: ${what(created!)}`);
            } else if (updated.ok) {
              assert.deepEqual(kv, updated.ok, `the acknowledged update is stored: ${what(updated)}`);
            } else {
              assert.ok(kv && (kv.value === created!.value || kv.value === updated.value), what(updated));
            }
          }
          const timeouts = outcomes.filter((o) => o.err instanceof TimeoutError).length;
          const failed = outcomes.filter((o) => o.err && !(o.err instanceof TimeoutError)).length;
          t.diagnostic(`${outcomes.length} writes: ${acknowledged} acknowledged, ${timeouts} timed out, ${failed} failed`);

          // The watch went on through the kill: every stored write once, in order.
          const end = await reader.create('/fault/~end', 'end');
          const events = await watched.until((e) => e.key === '/fault/~end');
          for (let i = 1; i < events.length; i++) assert.ok(events[i]!.revision > events[i - 1]!.revision, 'in order, once');
          for (const kv of stored.values()) {
            assert.ok(events.some((e) => e.revision === kv.modRevision && e.key === kv.key), `event of ${kv.key}@${kv.modRevision}`);
          }
          assert.equal(events[events.length - 1]!.revision, end.modRevision);
        } finally {
          watched.cancel();
          await reader.close();
        }
      });
    });

    test('a watch goes on, without gap or duplicate, while each member in turn is restarted', T, async () => {
      await withEtcd({ members: 3 }, async (cluster, open) => {
        const [store] = await open(1);
        const watched = collect(store, '/roll/', await store.currentRevision());
        // The watch stream is on one member, chosen at random: restarting each one meets it.
        const written: KeyValue[] = [];
        for (const member of cluster.members) {
          for (let i = 0; i < 20; i++) written.push(await store.create(`/roll/${member.name}/before/${i}`, 'v'));
          await cluster.kill(member);
          // Writes in flight when a leader dies may time out; these start once there is a new one.
          await cluster.leader();
          for (let i = 0; i < 20; i++) written.push(await store.create(`/roll/${member.name}/during/${i}`, 'v'));
          await cluster.restart(member);
        }
        const last = written[written.length - 1]!;
        const events = await watched.until((e) => e.revision === last.modRevision);
        watched.cancel();
        assert.deepEqual(
          events.map((e) => [e.key, e.revision]),
          written.map((kv) => [kv.key, kv.modRevision]),
        );
      });
    });

    test('kubelite up --store etcd://: kubectl create, get and get -w', T, async () => {
      await withEtcd({}, async (cluster) => {
        const c = await startCluster({ args: ['--store', cluster.storeUrl] });
        try {
          const watch = spawn(
            'kubectl',
            [`--kubeconfig=${c.kubeconfig}`, `--cache-dir=${c.dataDir}/kcache-w`, 'get', 'pods', '--watch', '--output-watch-events'],
            { stdio: ['ignore', 'pipe', 'pipe'] },
          );
          let watchOut = '';
          watch.stdout.on('data', (d) => (watchOut += d));
          try {
            const pod = {
              apiVersion: 'v1',
              kind: 'Pod',
              metadata: { name: 'on-etcd', labels: { app: 'web' } },
              spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] },
            };
            assert.equal((await c.k('create', '-f', tempFile('pod.json', JSON.stringify(pod)))).trim(), 'pod/on-etcd created');
            const got = JSON.parse(await c.k('get', 'pod', 'on-etcd', '-o', 'json'));
            assert.equal(got.metadata.name, 'on-etcd');
            assert.match(got.metadata.resourceVersion, /^\d+$/);
            assert.equal((await c.k('label', 'pod', 'on-etcd', 'tier=front')).trim(), 'pod/on-etcd labeled');
            assert.equal((await c.k('delete', 'pod', 'on-etcd', '--wait=false')).trim(), 'pod "on-etcd" deleted');
            await waitFor(() => /^DELETED/m.test(watchOut), () => `DELETED in the output of kubectl get -w:\n${watchOut}`);
            // Table rows: EVENT NAME READY STATUS ...
            const rows = watchOut.trim().split('\n').slice(1).map((line) => line.split(/\s+/).slice(0, 2).join(' '));
            assert.deepEqual(rows, ['ADDED on-etcd', 'MODIFIED on-etcd', 'DELETED on-etcd']);
            // The objects are in etcd under upstream's keys.
            const store = new EtcdStore({ endpoints: cluster.endpoints });
            await store.start();
            try {
              assert.ok((await store.get('/registry/namespaces/default')) !== undefined);
            } finally {
              await store.close();
            }
          } finally {
            watch.kill();
          }
        } finally {
          await c.cleanup();
        }
      });
    });
  });
}

/** Runs body against a fresh etcd; the stores it opens are closed before etcd stops. */
async function withEtcd(
  opts: Parameters<typeof startEtcd>[0],
  body: (cluster: EtcdCluster, open: (n: number) => Promise<EtcdStore[]>) => Promise<void>,
): Promise<void> {
  const cluster = await startEtcd(opts);
  const opened: EtcdStore[] = [];
  const open = (n: number): Promise<EtcdStore[]> =>
    Promise.all(
      Array.from({ length: n }, async () => {
        const store = new EtcdStore({ endpoints: cluster.endpoints });
        opened.push(store);
        await store.start();
        return store;
      }),
    );
  try {
    await body(cluster, open);
  } finally {
    for (const store of opened) await store.close();
    await cluster.cleanup();
  }
}

interface Collector {
  until(done: (e: StoreEvent) => boolean): Promise<StoreEvent[]>;
  cancel(): void;
}

function collect(store: Store, prefix: string, fromRevision: number): Collector {
  const events: StoreEvent[] = [];
  let failure: Error | undefined;
  const watch = store.watch(prefix, {
    fromRevision,
    onEvents: (batch) => events.push(...batch),
    onError: (err) => (failure = err),
  });
  return {
    async until(done) {
      await waitFor(() => {
        if (failure) throw failure;
        return events.some(done);
      }, `an event under ${prefix}`);
      return [...events];
    },
    cancel: () => watch.cancel(),
  };
}

/** The error a watch fails with, thrown at once or reported through onError. */
async function watchError(store: Store, prefix: string, fromRevision: number): Promise<Error> {
  try {
    return await new Promise<Error>((resolve) => {
      store.watch(prefix, { fromRevision, onEvents: () => resolve(new Error('got events')), onError: resolve });
    });
  } catch (err) {
    return err as Error;
  }
}

/** Polls until cond() holds; fails after timeoutMs instead of hanging the run. */
async function waitFor(cond: () => boolean, what: string | (() => string), timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await sleep(10);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Keeps the event loop busy, as a loaded server's request handling does. */
function busyFor(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy
  }
}
