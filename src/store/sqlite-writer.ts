// The single writer of a SqliteStore, run in a worker thread so that the synchronous
// better-sqlite3 calls (and above all the fsync of every commit) never block the main event
// loop. Group commit falls out of that: while one transaction is being fsynced, the main thread
// keeps posting write requests; they queue up in this thread's message port and all of them run
// in the next transaction, which costs one fsync for the whole batch.
//
// Schema (one database file, WAL mode):
//   log(rev, key, deleted, create_rev, prev_rev, value) — one row per write, the revision is the
//     rowid. A put stores the new value; a delete stores no value (the deleted value is the row
//     prev_rev points at). prev_rev links to the key's previous put (0 for a create), which gives
//     watch events their `prev` and lets a list at an old revision undo later writes.
//   current(key, rev, create_rev) — the live keys, pointing at their latest log row, so a value
//     is stored once, not in two tables.
//   meta(name, value) — the revision counter and the compaction state.
//
// Compaction to C deletes the rows <= C that no reader can need any more: deletes, and puts
// superseded by a later write <= C (rows some row <= C points at through prev_rev). What stays
// at or below C is exactly the state at C, which still serves lists at revision >= C and the
// `prev` of every event after C.
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { nameThisThread } from '../util/thread-name.js';

/**
 * `knownPrev`: the sender holds the value at expectedModRevision, so a successful write's answer
 * leaves the replaced value out (and this thread need not read it).
 */
export type WriteOp =
  | { kind: 'create'; key: string; value: string }
  | { kind: 'update'; key: string; value: string; expectedModRevision: number; knownPrev?: true }
  | { kind: 'delete'; key: string; expectedModRevision?: number; knownPrev?: true };

/** The state a precondition failed against, or the state a successful write replaced. */
export interface StoredValue {
  createRevision: number;
  modRevision: number;
  value: string;
}

/** The replaced state of a write whose sender knows the value (WriteOp.knownPrev). */
export type StoredRevisions = Omit<StoredValue, 'value'>;

export type WriteResult =
  | { status: 'ok'; revision: number; createRevision: number; prev?: StoredValue | StoredRevisions }
  | { status: 'exists' }
  | { status: 'notFound' }
  | { status: 'conflict'; current: StoredValue }
  | { status: 'error'; message: string };

export type ToWriter =
  | { type: 'write'; ops: WriteOp[] }
  | { type: 'compact'; id: number; revision: number }
  | { type: 'close' };

export type FromWriter =
  | { type: 'ready'; revision: number; compactRevision: number }
  | { type: 'openFailed'; message: string }
  /** Results in the order of the ops posted; `revision` is the revision committed after them. */
  | { type: 'written'; results: WriteResult[]; revision: number }
  | { type: 'compacted'; id: number; compactRevision: number }
  | { type: 'compactFailed'; id: number; message: string };

export interface WriterOptions {
  path: string;
  /** Writes that would grow the database beyond this size fail with SQLITE_FULL. */
  maxSizeBytes?: number;
}

/** Ops executed in one transaction at most; the rest wait for the next one. */
const MAX_BATCH_OPS = 2000;
/** Revisions of history removed per compaction transaction, so writes are never held up long. */
const COMPACT_CHUNK_REVISIONS = 5000;

/** Bumped when the schema changes, so that an older kubelite refuses a newer file. */
const SCHEMA_VERSION = 1;

const port: MessagePort = requireParentPort();
const options = workerData as WriterOptions;
nameThisThread('kl-sqlite');

let db: Database.Database;
try {
  db = openDatabase(options);
} catch (err) {
  port.postMessage({ type: 'openFailed', message: errorMessage(err) } satisfies FromWriter);
  port.close();
  throw err;
}

function requireParentPort(): MessagePort {
  if (parentPort === null) throw new Error('sqlite-writer must run in a worker thread');
  return parentPort;
}

function openDatabase(opts: WriterOptions): Database.Database {
  const conn = new Database(opts.path);
  const version = conn.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    conn.close();
    throw new Error(`the database has schema version ${version}; this kubelite knows version ${SCHEMA_VERSION} only`);
  }
  conn.pragma('journal_mode = WAL');
  // FULL: a commit returns only after the WAL is fsynced, so an acknowledged write survives a crash.
  conn.pragma('synchronous = FULL');
  conn.pragma('temp_store = MEMORY');
  if (opts.maxSizeBytes !== undefined) {
    const pageSize = conn.pragma('page_size', { simple: true }) as number;
    conn.pragma(`max_page_count = ${Math.max(1, Math.floor(opts.maxSizeBytes / pageSize))}`);
  }
  conn.exec(`
    CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS log (
      rev INTEGER PRIMARY KEY,
      key TEXT NOT NULL,
      deleted INTEGER NOT NULL,
      create_rev INTEGER NOT NULL,
      prev_rev INTEGER NOT NULL,
      value TEXT
    );
    CREATE TABLE IF NOT EXISTS current (
      key TEXT PRIMARY KEY,
      rev INTEGER NOT NULL,
      create_rev INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT OR IGNORE INTO meta (name, value) VALUES
      ('revision', 0), ('compact_revision', 0), ('compacted_through', 0);
  `);
  conn.pragma(`user_version = ${SCHEMA_VERSION}`);
  return conn;
}

const stmt = {
  begin: db.prepare('BEGIN IMMEDIATE'),
  commit: db.prepare('COMMIT'),
  rollback: db.prepare('ROLLBACK'),
  getMeta: db.prepare<[string], number>('SELECT value FROM meta WHERE name = ?').pluck(),
  setMeta: db.prepare<[number, string]>('UPDATE meta SET value = ? WHERE name = ?'),
  current: db
    .prepare<[string], [number, number, string]>(
      'SELECT c.rev, c.create_rev, l.value FROM current c CROSS JOIN log l ON l.rev = c.rev WHERE c.key = ?',
    )
    .raw(),
  currentRevisions: db.prepare<[string], [number, number]>('SELECT rev, create_rev FROM current WHERE key = ?').raw(),
  insertCurrent: db.prepare<[string, number, number]>(
    'INSERT INTO current (key, rev, create_rev) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING',
  ),
  updateCurrent: db.prepare<[number, string]>('UPDATE current SET rev = ? WHERE key = ?'),
  deleteCurrent: db.prepare<[string]>('DELETE FROM current WHERE key = ?'),
  insertLog: db.prepare<[number, string, number, number, number, string | null]>(
    'INSERT INTO log (rev, key, deleted, create_rev, prev_rev, value) VALUES (?, ?, ?, ?, ?, ?)',
  ),
  compactSuperseded: db.prepare<[number, number]>(
    'DELETE FROM log WHERE rev IN (SELECT prev_rev FROM log WHERE rev > ? AND rev <= ? AND prev_rev > 0)',
  ),
  compactDeletes: db.prepare<[number, number]>('DELETE FROM log WHERE rev > ? AND rev <= ? AND deleted = 1'),
};

let committedRevision = stmt.getMeta.get('revision') ?? 0;
let compactRevision = stmt.getMeta.get('compact_revision') ?? 0;
/** History up to here is already removed; below compactRevision when a compaction is under way. */
let compactedThrough = stmt.getMeta.get('compacted_through') ?? 0;
const compactWaiters: { id: number; revision: number }[] = [];
/** Set when removing history failed; the next compaction request tries again. */
let compactionStalled = false;

const pendingOps: WriteOp[] = [];
let stepScheduled = false;
let closing = false;

port.on('message', (msg: ToWriter) => {
  switch (msg.type) {
    case 'write':
      for (const op of msg.ops) pendingOps.push(op);
      break;
    case 'compact':
      requestCompaction(msg.id, msg.revision);
      break;
    case 'close':
      closing = true;
      break;
  }
  scheduleStep();
});

port.postMessage({ type: 'ready', revision: committedRevision, compactRevision } satisfies FromWriter);
// Finish a compaction a crash interrupted.
if (compactionPending()) scheduleStep();

function compactionPending(): boolean {
  // A close does not wait for a long compaction: it resumes when the store is opened again.
  return compactedThrough < compactRevision && !compactionStalled && !closing;
}

// setImmediate runs after the message port has delivered everything that queued up while the
// previous transaction was being committed, so one step sees the whole backlog.
function scheduleStep(): void {
  if (stepScheduled) return;
  stepScheduled = true;
  setImmediate(step);
}

function step(): void {
  stepScheduled = false;
  if (pendingOps.length > 0) {
    const ops = pendingOps.splice(0, MAX_BATCH_OPS);
    const results = writeBatch(ops);
    port.postMessage({ type: 'written', results, revision: committedRevision } satisfies FromWriter);
  }
  if (compactionPending()) compactChunk();
  if (pendingOps.length > 0 || compactionPending()) {
    scheduleStep();
  } else if (closing) {
    db.close();
    port.close();
  }
}

/**
 * Runs the ops in one transaction. Each op checks its precondition against the state the
 * earlier ops of the batch left. When an op throws (SQLITE_FULL, I/O error), the transaction
 * may be half-done or already rolled back by SQLite, so it is rolled back and the batch runs
 * again without that op: only the failing op fails, and nothing is reported before COMMIT.
 */
function writeBatch(ops: WriteOp[]): WriteResult[] {
  const failed = new Map<number, WriteResult>();
  for (;;) {
    try {
      stmt.begin.run();
    } catch (err) {
      return failAll(ops, failed, err);
    }
    const results: WriteResult[] = [];
    let revision = committedRevision;
    let failedIndex = -1;
    let failure: unknown;
    for (let index = 0; index < ops.length; index++) {
      const already = failed.get(index);
      if (already) {
        results.push(already);
        continue;
      }
      try {
        const result = execute(ops[index]!, revision + 1);
        if (result.status === 'ok') revision = result.revision;
        results.push(result);
      } catch (err) {
        failedIndex = index;
        failure = err;
        break;
      }
    }
    if (failedIndex >= 0) {
      rollback();
      failed.set(failedIndex, { status: 'error', message: errorMessage(failure) });
      if (failed.size === ops.length) return ops.map((_, i) => failed.get(i)!);
      continue;
    }
    try {
      if (revision !== committedRevision) stmt.setMeta.run(revision, 'revision');
      stmt.commit.run();
    } catch (err) {
      rollback();
      return failAll(ops, failed, err);
    }
    committedRevision = revision;
    return results;
  }
}

function failAll(ops: WriteOp[], failed: Map<number, WriteResult>, err: unknown): WriteResult[] {
  const error: WriteResult = { status: 'error', message: errorMessage(err) };
  return ops.map((_, i) => failed.get(i) ?? error);
}

function rollback(): void {
  if (!db.inTransaction) return;
  try {
    stmt.rollback.run();
  } catch {
    // The transaction is gone either way; the next BEGIN reports a lasting problem.
  }
}

function execute(op: WriteOp, revision: number): WriteResult {
  switch (op.kind) {
    case 'create': {
      if (stmt.insertCurrent.run(op.key, revision, revision).changes === 0) return { status: 'exists' };
      stmt.insertLog.run(revision, op.key, 0, revision, 0, op.value);
      return { status: 'ok', revision, createRevision: revision };
    }
    case 'update': {
      const row = currentRow(op);
      if (!row) return { status: 'notFound' };
      const [modRevision, createRevision] = row;
      if (modRevision !== op.expectedModRevision) return conflict(op.key);
      stmt.insertLog.run(revision, op.key, 0, createRevision, modRevision, op.value);
      stmt.updateCurrent.run(revision, op.key);
      return { status: 'ok', revision, createRevision, prev: replaced(row) };
    }
    case 'delete': {
      const row = currentRow(op);
      if (!row) return { status: 'notFound' };
      const [modRevision, createRevision] = row;
      if (op.expectedModRevision !== undefined && modRevision !== op.expectedModRevision) return conflict(op.key);
      stmt.insertLog.run(revision, op.key, 1, createRevision, modRevision, null);
      stmt.deleteCurrent.run(op.key);
      return { status: 'ok', revision, createRevision, prev: replaced(row) };
    }
  }
}

/** The key's current revisions, and its value unless the sender knows it. */
function currentRow(op: Extract<WriteOp, { kind: 'update' | 'delete' }>): [number, number, string?] | undefined {
  return op.knownPrev ? stmt.currentRevisions.get(op.key) : stmt.current.get(op.key);
}

function replaced([modRevision, createRevision, value]: [number, number, string?]): StoredValue | StoredRevisions {
  return value === undefined ? { createRevision, modRevision } : { createRevision, modRevision, value };
}

function conflict(key: string): WriteResult {
  const [modRevision, createRevision, value] = stmt.current.get(key)!;
  return { status: 'conflict', current: { createRevision, modRevision, value } };
}

function requestCompaction(id: number, revision: number): void {
  if (revision > committedRevision) {
    port.postMessage({
      type: 'compactFailed',
      id,
      message: `cannot compact to revision ${revision}: it is ahead of the current revision ${committedRevision}`,
    } satisfies FromWriter);
    return;
  }
  if (revision > compactRevision) {
    // Persist the new compaction point before removing anything: a reader that could miss a
    // removed row then always sees a compact revision that tells it so. After a crash, the
    // removal resumes from compacted_through.
    try {
      stmt.setMeta.run(revision, 'compact_revision');
    } catch (err) {
      port.postMessage({ type: 'compactFailed', id, message: errorMessage(err) } satisfies FromWriter);
      return;
    }
    compactRevision = revision;
  }
  compactionStalled = false;
  compactWaiters.push({ id, revision });
  answerCompactWaiters();
}

function compactChunk(): void {
  const from = compactedThrough;
  const to = Math.min(compactRevision, from + COMPACT_CHUNK_REVISIONS);
  try {
    stmt.begin.run();
    // Superseded puts first: the deletes of this range still carry their prev_rev links.
    stmt.compactSuperseded.run(from, to);
    stmt.compactDeletes.run(from, to);
    stmt.setMeta.run(to, 'compacted_through');
    stmt.commit.run();
  } catch (err) {
    rollback();
    // Leave the compaction where it is until the next request retries it; the waiters are
    // told, so a caller is not left hanging on a lasting failure.
    compactionStalled = true;
    for (const w of compactWaiters.splice(0)) {
      port.postMessage({ type: 'compactFailed', id: w.id, message: errorMessage(err) } satisfies FromWriter);
    }
    return;
  }
  compactedThrough = to;
  answerCompactWaiters();
}

function answerCompactWaiters(): void {
  for (let i = 0; i < compactWaiters.length; ) {
    const w = compactWaiters[i]!;
    if (w.revision <= compactedThrough) {
      compactWaiters.splice(i, 1);
      port.postMessage({ type: 'compacted', id: w.id, compactRevision } satisfies FromWriter);
    } else {
      i++;
    }
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
