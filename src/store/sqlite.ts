// The embedded store: a revisioned key–value log in one SQLite file (see sqlite-writer.ts for
// the schema). Writes go to a writer thread that commits them in groups; reads run here, on a
// read-only connection, which WAL lets proceed while the writer commits. Watches are served from
// an in-memory ring of recent events and, further back, from the log table.
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import {
  CompactedError,
  ConflictError,
  KeyExistsError,
  NotFoundError,
  StoreClosedError,
  StoreError,
  TimeoutError,
  type KeyValue,
  type ListOptions,
  type ListResult,
  type Store,
  type StoreEvent,
  type Watch,
  type WatchOptions,
} from './types.js';
import type { FromWriter, ToWriter, WriteOp, WriterOptions, WriteResult } from './sqlite-writer.js';

export interface SqliteStoreOptions {
  /** The database file; its directory must exist. */
  path: string;
  /** Recent events kept in memory to start watches without reading the log (default 10,000). */
  eventCacheSize?: number;
  /**
   * Writes that would grow the database beyond this size fail (and the store keeps serving
   * reads, deletes that fit and compaction), like etcd's backend quota. Default: unlimited.
   */
  maxSizeBytes?: number;
}

export interface SqliteStoreStats {
  /** Transactions that committed at least one write. */
  commits: number;
  /** Writes committed. */
  writes: number;
}

const DEFAULT_EVENT_CACHE_SIZE = 10_000;
/**
 * Keys whose current value is kept in memory (the most recently written or read). A write is
 * usually followed by a read of the same key (bind after create, status after bind, the next
 * Endpoints update), and SQLite answers that read slowly: another connection's commit drops the
 * reader's whole page cache, so each such read reloads its B-tree pages from the file.
 */
const LATEST_CACHE_SIZE = 10_000;
/** Keys beyond LATEST_CACHE_SIZE that the cache may hold before the least recently used are evicted at once. */
const LATEST_CACHE_EVICT_BATCH = 512;
/** What the latest-value cache holds for a key that does not exist. */
const ABSENT = null;
/** Revisions of history read from the log per step of a watch replay, between event-loop turns. */
const LOG_REPLAY_CHUNK_REVISIONS = 1_000;

interface PendingWrite {
  op: WriteOp;
  /** The value the write replaces if it succeeds, when known here (WriteOp.knownPrev). */
  prev?: KeyValue;
  resolve: (value: never) => void;
  reject: (err: Error) => void;
}

interface Watcher {
  prefix: string;
  /** Every event up to this revision has been delivered or skipped. */
  seenUpTo: number;
  /** True once caught up: new commits are delivered as they arrive. */
  live: boolean;
  done: boolean;
  onEvents: (events: StoreEvent[]) => void;
  onError?: (err: Error) => void;
}

type LogRow = {
  rev: number;
  key: string;
  deleted: number;
  createRev: number;
  value: string | null;
  prevRev: number | null;
  prevCreateRev: number | null;
  prevValue: string | null;
};

type KeyRange = { lower: string; lowerInclusive: boolean; upper: string | undefined };

export class SqliteStore implements Store {
  private readonly path: string;
  private readonly maxSizeBytes: number | undefined;
  private worker: Worker | undefined;
  private reader: Database.Database | undefined;
  private readonly statements = new Map<string, Database.Statement>();
  private readonly ring: EventRing;
  /**
   * The current value of recently used keys, exact for every key with no write in flight: every
   * write to the database goes through this store's writer thread, and a key's entry is replaced
   * when its write is answered (in commit order). Keys with a write in flight are read from SQLite,
   * which may already show the commit that is not answered yet, as before.
   */
  private readonly latest = new Map<string, KeyValue | typeof ABSENT>();
  /** Writes in flight per key. */
  private readonly writing = new Map<string, number>();

  private knownRevision = 0;
  private knownCompactRevision = 0;
  private state: 'new' | 'starting' | 'open' | 'closing' | 'closed' | 'failed' = 'new';
  private failure: Error | undefined;

  /** Sent and waiting for results, in the order the writer answers them. */
  private readonly inflight = new Fifo<PendingWrite>();
  private outbox: WriteOp[] = [];
  private flushScheduled = false;
  private nextCompactId = 1;
  private readonly compactions = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  /** The watchers by prefix: a commit's events are filtered once per prefix, not once per watcher. */
  private readonly watchersByPrefix = new Map<string, Set<Watcher>>();
  private readonly counters: SqliteStoreStats = { commits: 0, writes: 0 };
  private drained: (() => void) | undefined;
  private exited: Promise<void> | undefined;
  private opening:
    | { resolve: (ready: { revision: number; compactRevision: number }) => void; reject: (err: Error) => void }
    | undefined;

  constructor(opts: SqliteStoreOptions) {
    this.path = opts.path;
    this.maxSizeBytes = opts.maxSizeBytes;
    this.ring = new EventRing(Math.max(1, opts.eventCacheSize ?? DEFAULT_EVENT_CACHE_SIZE));
  }

  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error('SqliteStore.start() may be called only once');
    this.state = 'starting';
    const worker = new Worker(new URL('./sqlite-writer.js', import.meta.url), {
      workerData: { path: this.path, maxSizeBytes: this.maxSizeBytes } satisfies WriterOptions,
    });
    this.worker = worker;
    worker.on('message', (msg: FromWriter) => this.onWriterMessage(msg));
    worker.on('error', (err) => this.onWriterGone(err));
    this.exited = new Promise((resolve) => {
      worker.once('exit', (code) => {
        this.onWriterGone(new Error(`exit code ${code}`));
        resolve();
      });
    });
    let ready: { revision: number; compactRevision: number };
    try {
      ready = await new Promise((resolve, reject) => (this.opening = { resolve, reject }));
      // The writer has created the file and switched it to WAL, so a read-only connection works.
      this.reader = new Database(this.path, { readonly: true, fileMustExist: true });
    } catch (err) {
      this.state = 'failed';
      this.failure = err instanceof StoreError ? err : new StoreError(`cannot open ${this.path}: ${String(err)}`);
      await worker.terminate();
      throw this.failure;
    } finally {
      this.opening = undefined;
    }
    this.knownRevision = ready.revision;
    this.knownCompactRevision = ready.compactRevision;
    this.ring.reset(ready.revision);
    this.state = 'open';
  }

  /** Commit counters, to show that concurrent writes share transactions (group commit). */
  stats(): SqliteStoreStats {
    return { ...this.counters };
  }

  async get(key: string): Promise<KeyValue | undefined> {
    this.checkReadable();
    const inFlight = this.writing.has(key);
    if (!inFlight) {
      const cached = this.latest.get(key);
      if (cached !== undefined) return cached ?? undefined;
    }
    const kv = this.statement<[string], KeyValue>(
      'get',
      `SELECT c.key AS key, l.value AS value, c.create_rev AS createRevision, c.rev AS modRevision
       FROM current c CROSS JOIN log l ON l.rev = c.rev WHERE c.key = ?`,
    ).get(key);
    if (!inFlight) this.remember(key, kv);
    return kv;
  }

  /**
   * Keep `kv` as the current value of `key` (undefined: absent), evicting the least recently kept
   * keys in batches: a Map's iterator walks over the holes its deletions left at the front until
   * it is rehashed, so evicting one key per write cost a scan of thousands of holes each time.
   */
  private remember(key: string, kv: KeyValue | undefined): void {
    this.latest.delete(key);
    this.latest.set(key, kv ?? ABSENT);
    if (this.latest.size > LATEST_CACHE_SIZE + LATEST_CACHE_EVICT_BATCH) {
      let excess = this.latest.size - LATEST_CACHE_SIZE;
      for (const k of this.latest.keys()) {
        this.latest.delete(k);
        if (--excess === 0) break;
      }
    }
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    const reader = this.checkReadable();
    const range = keyRange(prefix, opts.startAfter);
    const limit = opts.limit && opts.limit > 0 ? opts.limit : 0;
    return reader.transaction(() => {
      const { revision: latest, compactRevision } = this.readMeta();
      const revision = opts.revision && opts.revision > 0 ? opts.revision : latest;
      if (revision < compactRevision) throw new CompactedError(revision, compactRevision);
      if (revision > latest) throw new StoreError(`revision ${revision} is ahead of the current revision ${latest}`);
      const { items, more } = revision === latest ? this.listLatest(range, limit) : this.listAt(range, limit, revision);
      return { items, revision, more };
    })();
  }

  private listLatest(range: KeyRange, limit: number): { items: KeyValue[]; more: boolean } {
    const items = this.currentRows(range, limit > 0 ? limit + 1 : -1);
    const more = limit > 0 && items.length > limit;
    if (more) items.length = limit;
    return { items, more };
  }

  /**
   * The state at an old revision: the live keys not written since, plus, for every key written
   * since, its value before the first of those writes (absent if that write created it).
   * The cost grows with the writes since `revision`, not with the size of the store.
   */
  private listAt(range: KeyRange, limit: number, revision: number): { items: KeyValue[]; more: boolean } {
    const writtenSince = new Map<string, number>();
    const changes = this.statement<[number, ...string[]], [string, number]>(
      `changes:${rangeShape(range)}`,
      `SELECT key, prev_rev FROM log WHERE rev > ? AND ${rangeSql('key', range)} ORDER BY rev`,
    ).raw();
    for (const [key, prevRev] of changes.iterate(revision, ...rangeParams(range))) {
      if (!writtenSince.has(key)) writtenSince.set(key, prevRev);
    }
    const restored: { key: string; prevRev: number }[] = [];
    for (const [key, prevRev] of writtenSince) if (prevRev > 0) restored.push({ key, prevRev });
    restored.sort((a, b) => compareKeys(a.key, b.key));

    // Every key written since is skipped below, so this many more rows always suffice.
    const unchanged = this.currentRows(range, limit > 0 ? limit + 1 + writtenSince.size : -1).filter(
      (kv) => !writtenSince.has(kv.key),
    );
    const getRow = this.statement<[number], { createRevision: number; value: string }>(
      'logValue',
      'SELECT create_rev AS createRevision, value FROM log WHERE rev = ?',
    );
    const items: KeyValue[] = [];
    const wanted = limit > 0 ? limit + 1 : Infinity;
    let u = 0;
    let r = 0;
    while (items.length < wanted && (u < unchanged.length || r < restored.length)) {
      const next = restored[r];
      if (u < unchanged.length && (next === undefined || compareKeys(unchanged[u]!.key, next.key) < 0)) {
        items.push(unchanged[u++]!);
      } else {
        const row = getRow.get(next!.prevRev);
        if (!row) throw new StoreError(`history of ${next!.key} at revision ${revision} is missing`);
        items.push({ key: next!.key, value: row.value, createRevision: row.createRevision, modRevision: next!.prevRev });
        r++;
      }
    }
    const more = items.length > limit && limit > 0;
    if (more) items.length = limit;
    return { items, more };
  }

  private currentRows(range: KeyRange, limit: number): KeyValue[] {
    return this.statement<[...string[], number], KeyValue>(
      `current:${rangeShape(range)}`,
      `SELECT c.key AS key, l.value AS value, c.create_rev AS createRevision, c.rev AS modRevision
       FROM current c CROSS JOIN log l ON l.rev = c.rev
       WHERE ${rangeSql('c.key', range)} ORDER BY c.key LIMIT ?`,
    ).all(...rangeParams(range), limit);
  }

  async count(prefix: string): Promise<number> {
    this.checkReadable();
    const range = keyRange(prefix, undefined);
    return this.statement<string[], number>(
      `count:${rangeShape(range)}`,
      `SELECT count(*) FROM current WHERE ${rangeSql('key', range)}`,
    )
      .pluck()
      .get(...rangeParams(range))!;
  }

  create(key: string, value: string): Promise<KeyValue> {
    return this.write({ kind: 'create', key, value });
  }

  update(key: string, value: string, expectedModRevision: number): Promise<KeyValue> {
    return this.write({ kind: 'update', key, value, expectedModRevision });
  }

  delete(key: string, expectedModRevision?: number): Promise<{ deleted: KeyValue; revision: number }> {
    return this.write({ kind: 'delete', key, expectedModRevision });
  }

  private write<T>(op: WriteOp): Promise<T> {
    if (this.state !== 'open') return Promise.reject(this.unavailableError());
    const prev = this.knownValue(op);
    if (prev && op.kind !== 'create') op.knownPrev = true;
    return new Promise<T>((resolve, reject) => {
      this.inflight.push({ op, prev, resolve: resolve as (value: never) => void, reject });
      this.writing.set(op.key, (this.writing.get(op.key) ?? 0) + 1);
      this.outbox.push(op);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        // Ops arriving in the same event-loop turn travel to the writer in one message.
        setImmediate(() => this.flush());
      }
    });
  }

  /**
   * The value a conditional update or delete replaces if it succeeds, when the latest-value cache
   * holds it: then the writer need not send it back. (It is exact for a key with no write in flight.)
   */
  private knownValue(op: WriteOp): KeyValue | undefined {
    if (op.kind === 'create' || op.expectedModRevision === undefined || this.writing.has(op.key)) return undefined;
    const cached = this.latest.get(op.key);
    return cached && cached.modRevision === op.expectedModRevision ? cached : undefined;
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.outbox.length === 0 || !this.worker) return;
    const ops = this.outbox;
    this.outbox = [];
    this.worker.postMessage({ type: 'write', ops } satisfies ToWriter);
  }

  private onWriterMessage(msg: FromWriter): void {
    switch (msg.type) {
      case 'written':
        this.onWritten(msg.results, msg.revision);
        break;
      case 'compacted':
        this.knownCompactRevision = Math.max(this.knownCompactRevision, msg.compactRevision);
        this.compactions.get(msg.id)?.resolve();
        this.compactions.delete(msg.id);
        break;
      case 'compactFailed':
        this.compactions.get(msg.id)?.reject(new StoreError(`compaction failed: ${msg.message}`));
        this.compactions.delete(msg.id);
        break;
      case 'ready':
        this.opening?.resolve(msg);
        break;
      case 'openFailed':
        this.opening?.reject(new StoreError(`cannot open ${this.path}: ${msg.message}`));
        break;
    }
  }

  private onWritten(results: WriteResult[], revision: number): void {
    const events: StoreEvent[] = [];
    const settle: (() => void)[] = [];
    let writes = 0;
    for (const result of results) {
      const pending = this.inflight.shift();
      if (!pending) throw new Error('sqlite writer answered more writes than were sent');
      const { op } = pending;
      this.writeAnswered(op.key);
      if (result.status === 'ok') {
        writes++;
        const settled = this.applied(op, result, pending.prev, events);
        settle.push(() => pending.resolve(settled as never));
      } else {
        const err = this.writeError(op, result);
        settle.push(() => pending.reject(err));
      }
    }
    if (writes > 0) {
      this.counters.commits++;
      this.counters.writes += writes;
    }
    this.knownRevision = Math.max(this.knownRevision, revision);
    for (const event of events) this.ring.push(event);
    if (events.length > 0) this.deliverLive(events);
    for (const s of settle) s();
    if (this.inflight.length === 0) this.drained?.();
  }

  private writeAnswered(key: string): void {
    const n = this.writing.get(key)!;
    if (n > 1) this.writing.set(key, n - 1);
    else this.writing.delete(key);
  }

  /** Builds the event of a committed write and returns what the write call resolves with. */
  private applied(
    op: WriteOp,
    result: Extract<WriteResult, { status: 'ok' }>,
    known: KeyValue | undefined,
    events: StoreEvent[],
  ): KeyValue | { deleted: KeyValue; revision: number } {
    const { revision, createRevision, prev } = result;
    let prevKv: KeyValue | undefined;
    if (prev && 'value' in prev) {
      prevKv = { key: op.key, value: prev.value, createRevision: prev.createRevision, modRevision: prev.modRevision };
    } else if (prev) {
      // The writer leaves the value out only of writes sent with knownPrev, whose value is `known`.
      if (known?.modRevision !== prev.modRevision) throw new Error(`sqlite writer left out the replaced value of ${op.key}`);
      prevKv = known;
    }
    if (op.kind === 'delete') {
      const kv = { ...prevKv!, modRevision: revision };
      events.push({ type: 'delete', revision, key: op.key, kv, prev: prevKv });
      this.remember(op.key, undefined);
      return { deleted: prevKv!, revision };
    }
    const kv: KeyValue = { key: op.key, value: op.value, createRevision, modRevision: revision };
    this.remember(op.key, kv);
    events.push(
      prevKv ? { type: 'put', revision, key: op.key, kv, prev: prevKv } : { type: 'put', revision, key: op.key, kv },
    );
    return kv;
  }

  private writeError(op: WriteOp, result: Exclude<WriteResult, { status: 'ok' }>): Error {
    switch (result.status) {
      case 'exists':
        return new KeyExistsError(op.key);
      case 'notFound':
        return new NotFoundError(op.key);
      case 'conflict':
        return new ConflictError(op.key, { key: op.key, ...result.current });
      case 'error':
        return new StoreError(`write to ${op.key} failed: ${result.message}`);
    }
  }

  /** The writer thread ended: normally after close(), otherwise through a crash. */
  private onWriterGone(cause: Error): void {
    if (this.state === 'starting') {
      this.opening?.reject(new StoreError(`cannot open ${this.path}: ${cause.message}`));
      return;
    }
    if (this.state === 'closed' || this.state === 'failed') return;
    const failure = new StoreError(`sqlite writer thread stopped: ${cause.message}`);
    // The writer may have committed some of these before it stopped: their outcome is unknown.
    this.latest.clear();
    this.writing.clear();
    for (let p = this.inflight.shift(); p; p = this.inflight.shift()) {
      p.reject(new TimeoutError(`outcome of the write to ${p.op.key} is unknown: ${failure.message}`));
    }
    for (const c of this.compactions.values()) c.reject(failure);
    this.compactions.clear();
    this.drained?.();
    if (this.state === 'closing') return;
    this.state = 'failed';
    this.failure = failure;
    this.endWatchers(failure);
  }

  watch(prefix: string, opts: WatchOptions): Watch {
    if (this.state !== 'open') throw this.unavailableError();
    if (opts.fromRevision < this.knownCompactRevision) {
      throw new CompactedError(opts.fromRevision, this.knownCompactRevision);
    }
    const watcher: Watcher = {
      prefix,
      seenUpTo: opts.fromRevision,
      live: false,
      done: false,
      onEvents: opts.onEvents,
      onError: opts.onError,
    };
    this.addWatcher(watcher);
    // Never call back before watch() has returned its handle.
    queueMicrotask(() => this.catchUp(watcher));
    return {
      cancel: () => {
        watcher.done = true;
        this.removeWatcher(watcher);
      },
      progress: () => watcher.seenUpTo,
    };
  }

  /**
   * Brings a watcher up to the latest known revision: from the log table in bounded steps while
   * it is behind the ring, then from the ring in one go, after which it is live. Everything runs
   * on this thread, so no commit can slip in between the catch-up and going live.
   */
  private catchUp(w: Watcher): void {
    if (w.done) return;
    if (w.seenUpTo >= this.ring.oldest - 1) {
      const events: StoreEvent[] = [];
      for (let rev = w.seenUpTo + 1; rev <= this.ring.newest; rev++) {
        const event = this.ring.get(rev);
        if (event.key.startsWith(w.prefix)) events.push(event);
      }
      w.seenUpTo = Math.max(w.seenUpTo, this.ring.newest);
      w.live = true;
      if (events.length > 0) this.emit(w, events);
      return;
    }
    const upTo = Math.min(w.seenUpTo + LOG_REPLAY_CHUNK_REVISIONS, this.ring.oldest - 1);
    let events: StoreEvent[];
    try {
      events = this.readLog(w.prefix, w.seenUpTo, upTo);
    } catch (err) {
      this.finish(w, err instanceof Error ? err : new Error(String(err)));
      return;
    }
    w.seenUpTo = upTo;
    if (events.length > 0) this.emit(w, events);
    setImmediate(() => this.catchUp(w));
  }

  private readLog(prefix: string, after: number, upTo: number): StoreEvent[] {
    const reader = this.checkReadable();
    const range = keyRange(prefix, undefined);
    return reader.transaction(() => {
      const { compactRevision } = this.readMeta();
      if (after < compactRevision) throw new CompactedError(after, compactRevision);
      const rows = this.statement<[number, number, ...string[]], LogRow>(
        `log:${rangeShape(range)}`,
        `SELECT l.rev AS rev, l.key AS key, l.deleted AS deleted, l.create_rev AS createRev, l.value AS value,
                p.rev AS prevRev, p.create_rev AS prevCreateRev, p.value AS prevValue
         FROM log l LEFT JOIN log p ON p.rev = l.prev_rev
         WHERE l.rev > ? AND l.rev <= ? AND ${rangeSql('l.key', range)} ORDER BY l.rev`,
      ).all(after, upTo, ...rangeParams(range));
      return rows.map(logEvent);
    })();
  }

  private addWatcher(w: Watcher): void {
    let group = this.watchersByPrefix.get(w.prefix);
    if (!group) this.watchersByPrefix.set(w.prefix, (group = new Set()));
    group.add(w);
  }

  private removeWatcher(w: Watcher): void {
    const group = this.watchersByPrefix.get(w.prefix);
    if (group?.delete(w) && group.size === 0) this.watchersByPrefix.delete(w.prefix);
  }

  /**
   * Hands a commit's events to the live watchers. Watchers of one prefix that have seen nothing
   * of this commit (all live ones, normally) share one array of its events under that prefix.
   */
  private deliverLive(events: StoreEvent[]): void {
    const first = events[0]!.revision;
    const last = events[events.length - 1]!.revision;
    for (const [prefix, group] of this.watchersByPrefix) {
      let shared: StoreEvent[] | undefined;
      for (const w of group) {
        if (!w.live) continue;
        let matching: StoreEvent[];
        if (w.seenUpTo < first) {
          shared ??= prefix === '' ? events : events.filter((e) => e.key.startsWith(prefix));
          matching = shared;
        } else {
          matching = events.filter((e) => e.revision > w.seenUpTo && e.key.startsWith(prefix));
        }
        w.seenUpTo = Math.max(w.seenUpTo, last);
        if (matching.length > 0) this.emit(w, matching);
      }
    }
  }

  private emit(w: Watcher, events: StoreEvent[]): void {
    if (w.done) return;
    try {
      w.onEvents(events);
    } catch (err) {
      // A watcher that cannot take its events has missed them: end it rather than skip ahead.
      this.finish(w, err instanceof Error ? err : new Error(String(err)));
    }
  }

  private finish(w: Watcher, err: Error): void {
    if (w.done) return;
    w.done = true;
    this.removeWatcher(w);
    w.onError?.(err);
  }

  private endWatchers(err: Error): void {
    for (const w of [...this.watchersByPrefix.values()].flatMap((group) => [...group])) this.finish(w, err);
  }

  async compact(revision: number): Promise<void> {
    if (this.state !== 'open') throw this.unavailableError();
    const id = this.nextCompactId++;
    const done = new Promise<void>((resolve, reject) => this.compactions.set(id, { resolve, reject }));
    this.worker!.postMessage({ type: 'compact', id, revision } satisfies ToWriter);
    return done;
  }

  async currentRevision(): Promise<number> {
    this.checkReadable();
    return this.knownRevision;
  }

  async compactRevision(): Promise<number> {
    this.checkReadable();
    return this.knownCompactRevision;
  }

  async sizeBytes(): Promise<number> {
    const reader = this.checkReadable();
    const pages = reader.pragma('page_count', { simple: true }) as number;
    const free = reader.pragma('freelist_count', { simple: true }) as number;
    const pageSize = reader.pragma('page_size', { simple: true }) as number;
    return (pages - free) * pageSize;
  }

  /** Waits for the writes already made, then stops the writer and ends every watch. */
  async close(): Promise<void> {
    if (this.state === 'new') {
      this.state = 'closed';
      return;
    }
    if (this.state === 'closing' || this.state === 'closed') return;
    if (this.state === 'open') {
      this.state = 'closing';
      this.flush();
      if (this.inflight.length > 0) await new Promise<void>((resolve) => (this.drained = resolve));
      // A compaction still running is not waited for; it resumes when the store is reopened.
      for (const c of this.compactions.values()) c.reject(new StoreClosedError());
      this.compactions.clear();
      this.worker?.postMessage({ type: 'close' } satisfies ToWriter);
      await this.exited;
    }
    this.state = 'closed';
    this.endWatchers(new StoreClosedError());
    this.reader?.close();
    this.reader = undefined;
  }

  private readMeta(): { revision: number; compactRevision: number } {
    const [revision, compactRevision] = this.statement<[], [number, number]>(
      'meta',
      `SELECT (SELECT value FROM meta WHERE name = 'revision'), (SELECT value FROM meta WHERE name = 'compact_revision')`,
    )
      .raw()
      .get()!;
    return { revision, compactRevision };
  }

  private statement<P extends unknown[], R>(name: string, sql: string): Database.Statement<P, R> {
    let s = this.statements.get(name);
    if (!s) {
      s = this.reader!.prepare(sql);
      this.statements.set(name, s);
    }
    return s as unknown as Database.Statement<P, R>;
  }

  private checkReadable(): Database.Database {
    if (this.state === 'open' || this.state === 'closing') return this.reader!;
    throw this.unavailableError();
  }

  private unavailableError(): Error {
    if (this.state === 'failed' && this.failure) return this.failure;
    if (this.state === 'new' || this.state === 'starting') return new StoreError('store is not started');
    return new StoreClosedError();
  }
}

function logEvent(row: LogRow): StoreEvent {
  const prev: KeyValue | undefined =
    row.prevRev === null
      ? undefined
      : { key: row.key, value: row.prevValue!, createRevision: row.prevCreateRev!, modRevision: row.prevRev };
  if (row.deleted) {
    return { type: 'delete', revision: row.rev, key: row.key, kv: { ...prev!, modRevision: row.rev }, prev };
  }
  const kv: KeyValue = { key: row.key, value: row.value!, createRevision: row.createRev, modRevision: row.rev };
  return prev ? { type: 'put', revision: row.rev, key: row.key, kv, prev } : { type: 'put', revision: row.rev, key: row.key, kv };
}

/**
 * The last `capacity` events, by revision. Every revision is one event, so the events held are
 * exactly the revisions oldest..newest.
 */
class EventRing {
  private readonly slots: StoreEvent[];
  oldest = 1;
  newest = 0;

  constructor(private readonly capacity: number) {
    this.slots = new Array<StoreEvent>(capacity);
  }

  /** Starts empty after `revision`. */
  reset(revision: number): void {
    this.oldest = revision + 1;
    this.newest = revision;
  }

  push(event: StoreEvent): void {
    if (event.revision !== this.newest + 1) {
      throw new Error(`event ring: revision ${event.revision} does not follow ${this.newest}`);
    }
    this.slots[event.revision % this.capacity] = event;
    this.newest = event.revision;
    if (this.newest - this.oldest + 1 > this.capacity) this.oldest = this.newest - this.capacity + 1;
  }

  get(revision: number): StoreEvent {
    return this.slots[revision % this.capacity]!;
  }
}

/** A queue with O(1) shift, for the writes awaiting their results. */
class Fifo<T> {
  private items: T[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head]!;
    this.items[this.head++] = undefined as T;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}

/** Keys with the prefix (and after startAfter), as bounds SQLite can use on its key index. */
function keyRange(prefix: string, startAfter: string | undefined): KeyRange {
  const upper = prefixEnd(prefix);
  if (startAfter !== undefined && compareKeys(startAfter, prefix) >= 0) {
    return { lower: startAfter, lowerInclusive: false, upper };
  }
  return { lower: prefix, lowerInclusive: true, upper };
}

function rangeShape(range: KeyRange): string {
  return `${range.lowerInclusive ? 'ge' : 'gt'}${range.upper === undefined ? '' : ',lt'}`;
}

function rangeSql(column: string, range: KeyRange): string {
  const lower = `${column} ${range.lowerInclusive ? '>=' : '>'} ?`;
  return range.upper === undefined ? lower : `${lower} AND ${column} < ?`;
}

function rangeParams(range: KeyRange): string[] {
  return range.upper === undefined ? [range.lower] : [range.lower, range.upper];
}

/** The smallest string greater than every string that starts with prefix; none for ''. */
export function prefixEnd(prefix: string): string | undefined {
  const codePoints = Array.from(prefix);
  while (codePoints.length > 0) {
    const last = codePoints.pop()!.codePointAt(0)!;
    if (last < 0x10ffff) {
      // Surrogate code points cannot be encoded in UTF-8; skip over them.
      const next = last + 1 === 0xd800 ? 0xe000 : last + 1;
      return codePoints.join('') + String.fromCodePoint(next);
    }
  }
  return undefined;
}

/**
 * Orders keys as SQLite does (bytes of UTF-8, i.e. code points), which differs from the
 * UTF-16 order of `<` only for characters beyond U+FFFF against U+E000–U+FFFF.
 */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

function codePointRank(unit: number): number {
  if (unit >= 0xd800 && unit <= 0xdfff) return unit + 0x2000;
  if (unit >= 0xe000) return unit - 0x800;
  return unit;
}
