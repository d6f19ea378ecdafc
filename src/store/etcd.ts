// The store on an etcd cluster, as kube-apiserver uses etcd: keys as given (/registry/...),
// optionally under a key prefix; resourceVersion is etcd's mod revision; every write is one
// round trip (a transaction that compares the key's create or mod revision); lists are range
// reads, at a revision for consistent paging; watches are etcd watches multiplexed on one gRPC
// stream that resumes, without gap or duplicate, after a member fails.
//
// The npm `etcd3` client supplies connections and the KV/Watch RPCs. Its high-level watcher is
// not used: it resumes from the revision in the last response header, which for a watcher still
// catching up is ahead of the events it has received, and it reports a compacted start revision
// only as "Watcher canceled:". Its default retries are turned off: sending again a write that
// etcd may have applied could turn success into a false failure. Here a write is sent again
// only when no connection was made, and a write whose outcome is unknown is a TimeoutError.
// The client (gRPC and its .proto files) takes ~200 ms to load, so start() loads it: a server
// on SQLite that imports this module does not pay for it.
import type * as Etcd3Client from 'etcd3';
import type { Etcd3, IDuplexStream, IKeyValue, IOptions, IWatchRequest, IWatchResponse } from 'etcd3';
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

export interface EtcdStoreOptions {
  /** Client URLs of the members, e.g. http://127.0.0.1:2379. */
  endpoints: string[];
  /** Prepended to every key in etcd, so that several clusters can share one etcd (default none). */
  keyPrefix?: string;
  /**
   * Deadline of each request (default 10 s; etcd itself gives up on a proposal after about 7 s
   * when the leader is lost). A write not answered in time fails with TimeoutError.
   */
  requestTimeoutMs?: number;
}

/**
 * The key whose version orders compactions among API servers (upstream's name, outside any key
 * prefix because compaction is global to etcd). Its value is the last compacted revision.
 */
const COMPACT_KEY = Buffer.from('compact_rev_key');
const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
const RETRY_MIN_MS = 25;
const RETRY_MAX_MS = 1_000;
const WATCH_RECONNECT_MAX_MS = 2_000;
/** HTTP/2 flow-control window of each gRPC stream and of the connection (see start()). */
const FLOW_CONTROL_WINDOW_BYTES = 16 * 1024 * 1024;

/** `etcd://HOST:PORT[,HOST:PORT...][/KEY-PREFIX]` as store options. */
export function parseEtcdUrl(url: string): EtcdStoreOptions {
  const m = /^etcd:\/\/([^/]+)(\/.*)?$/i.exec(url);
  const hosts = m?.[1]?.split(',') ?? [];
  if (!m || hosts.some((h) => !/^[^:,\s]+:\d+$/.test(h))) {
    throw new Error(`store URL ${url} is not etcd://HOST:PORT[,HOST:PORT...][/KEY-PREFIX]`);
  }
  return { endpoints: hosts.map((h) => `http://${h}`), keyPrefix: m[2] ?? '' };
}

interface EtcdWatcher {
  /** Key range in etcd. */
  readonly start: Buffer;
  readonly end: Buffer;
  /** Every event up to this revision has been delivered (or did not match). */
  seenUpTo: number;
  /** Its id on the current watch stream, once its create request is sent. */
  id: string | undefined;
  done: boolean;
  onEvents: (events: StoreEvent[]) => void;
  onError?: (err: Error) => void;
}

type WatchStream = IDuplexStream<IWatchRequest, IWatchResponse>;
type CallOptions = NonNullable<Parameters<Etcd3['kv']['range']>[1]>;

/** The etcd3 module, once a store has started. */
let etcd3: typeof Etcd3Client | undefined;

export class EtcdStore implements Store {
  private readonly endpoints: string[];
  private readonly keyPrefix: Buffer;
  private readonly requestTimeoutMs: number;
  private client: Etcd3 | undefined;
  private state: 'new' | 'starting' | 'open' | 'closing' | 'closed' = 'new';

  /** The newest revision seen in any response: currentRevision() never goes back. */
  private highestRevision = 0;
  private knownCompactRevision = 0;
  /** Version of COMPACT_KEY when last seen: the compare of the next compaction's CAS. */
  private compactKeyVersion = 0;

  private writesInFlight = 0;
  private drained: (() => void) | undefined;

  private readonly watchers = new Set<EtcdWatcher>();
  private readonly watchersById = new Map<string, EtcdWatcher>();
  private watchStream: WatchStream | undefined;
  private watchConnecting = false;
  private watchReconnectMs = RETRY_MIN_MS;
  private watchReconnectTimer: NodeJS.Timeout | undefined;
  private nextWatchId = 1;

  constructor(opts: EtcdStoreOptions) {
    if (opts.endpoints.length === 0) throw new Error('the etcd store needs at least one endpoint');
    this.endpoints = opts.endpoints;
    this.keyPrefix = Buffer.from(opts.keyPrefix ?? '');
    this.requestTimeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  }

  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error('EtcdStore.start() may be called only once');
    this.state = 'starting';
    etcd3 ??= await import('etcd3');
    this.client = new etcd3.Etcd3({
      hosts: this.endpoints,
      faultHandling: { global: CALL_ONCE, host: skipUnreachableMember },
      grpcOptions: {
        // A watch catch-up or a large list may exceed gRPC's default 4 MiB per message.
        'grpc.max_receive_message_length': -1,
        // Notice a member that vanished without closing its connections (not only on loopback).
        'grpc.keepalive_time_ms': 30_000,
        'grpc.keepalive_timeout_ms': 10_000,
        // HTTP/2's default 64 KiB flow-control window lets etcd send a stream only 64 KiB per
        // round trip through our event loop: under load (event-loop turns of tens of ms) every
        // watch, multiplexed on one stream, fell seconds behind the writes. Go's gRPC, the client
        // of kube-apiserver, grows its windows up to 16 MiB by bandwidth-delay estimation.
        'grpc-node.flow_control_window': FLOW_CONTROL_WINDOW_BYTES,
      },
    });
    try {
      await this.readCompactKey();
    } catch (err) {
      this.state = 'closed';
      this.client.close();
      throw new StoreError(`cannot reach etcd at ${this.endpoints.join(',')}: ${messageOf(err)}`);
    }
    this.state = 'open';
  }

  async get(key: string): Promise<KeyValue | undefined> {
    const k = this.etcdKey(key);
    const res = await this.read((o) => this.kv().range({ key: k }, o));
    this.observe(res.header.revision);
    const kv = res.kvs[0];
    return kv && toKeyValue(key, kv);
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    const { start, end } = this.keyRange(prefix, opts.startAfter);
    const limit = opts.limit && opts.limit > 0 ? opts.limit : 0;
    const atRevision = opts.revision && opts.revision > 0 ? opts.revision : 0;
    let res;
    try {
      res = await this.read((o) => this.kv().range({ key: start, range_end: end, limit, revision: atRevision }, o));
    } catch (err) {
      if (err instanceof StoreError && isCompactedMessage(err.message)) {
        await this.readCompactKey().catch(() => undefined);
        throw new CompactedError(atRevision, this.knownCompactRevision);
      }
      throw err;
    }
    const revision = this.observe(res.header.revision);
    return {
      items: res.kvs.map((kv) => toKeyValue(this.storeKey(kv.key), kv)),
      revision: atRevision || revision,
      more: res.more,
    };
  }

  async count(prefix: string): Promise<number> {
    const { start, end } = this.keyRange(prefix, undefined);
    const res = await this.read((o) => this.kv().range({ key: start, range_end: end, count_only: true }, o));
    this.observe(res.header.revision);
    return Number(res.count);
  }

  async create(key: string, value: string): Promise<KeyValue> {
    const k = this.etcdKey(key);
    const res = await this.write(key, (o) =>
      this.kv().txn(
        {
          compare: [{ key: k, target: 'Create', result: 'Equal', create_revision: 0 }],
          success: [{ request_put: { key: k, value: Buffer.from(value) } }],
        },
        o,
      ),
    );
    if (!res.succeeded) throw new KeyExistsError(key);
    const revision = this.observe(res.header.revision);
    return { key, value, createRevision: revision, modRevision: revision };
  }

  async update(key: string, value: string, expectedModRevision: number): Promise<KeyValue> {
    // etcd compares an absent key's mod revision as 0: only a real revision can guard a put.
    if (!(expectedModRevision >= 1)) throw await this.preconditionFailure(key);
    const k = this.etcdKey(key);
    const res = await this.write(key, (o) =>
      this.kv().txn(
        {
          compare: [{ key: k, target: 'Mod', result: 'Equal', mod_revision: expectedModRevision }],
          // The range after the put returns the key's create revision, without its value.
          success: [{ request_put: { key: k, value: Buffer.from(value) } }, { request_range: { key: k, keys_only: true } }],
          failure: [{ request_range: { key: k } }],
        },
        o,
      ),
    );
    this.observe(res.header.revision);
    if (!res.succeeded) throw this.conflictOrMissing(key, res.responses[0]?.response_range.kvs[0]);
    const written = res.responses[1]!.response_range.kvs[0]!;
    return { key, value, createRevision: Number(written.create_revision), modRevision: Number(written.mod_revision) };
  }

  async delete(key: string, expectedModRevision?: number): Promise<{ deleted: KeyValue; revision: number }> {
    const k = this.etcdKey(key);
    if (expectedModRevision === undefined) {
      const res = await this.write(key, (o) => this.kv().deleteRange({ key: k, prev_kv: true }, o));
      const revision = this.observe(res.header.revision);
      const prev = res.prev_kvs[0];
      if (!prev) throw new NotFoundError(key);
      return { deleted: toKeyValue(key, prev), revision };
    }
    if (!(expectedModRevision >= 1)) throw await this.preconditionFailure(key);
    const res = await this.write(key, (o) =>
      this.kv().txn(
        {
          compare: [{ key: k, target: 'Mod', result: 'Equal', mod_revision: expectedModRevision }],
          success: [{ request_delete_range: { key: k, prev_kv: true } }],
          failure: [{ request_range: { key: k } }],
        },
        o,
      ),
    );
    const revision = this.observe(res.header.revision);
    if (!res.succeeded) throw this.conflictOrMissing(key, res.responses[0]?.response_range.kvs[0]);
    const prev = res.responses[0]!.response_delete_range.prev_kvs[0]!;
    return { deleted: toKeyValue(key, prev), revision };
  }

  /** The error of a write whose expected revision cannot match (no etcd revision is below 1). */
  private async preconditionFailure(key: string): Promise<Error> {
    const current = await this.get(key);
    return current ? new ConflictError(key, current) : new NotFoundError(key);
  }

  private conflictOrMissing(key: string, current: IKeyValue | undefined): Error {
    return current ? new ConflictError(key, toKeyValue(key, current)) : new NotFoundError(key);
  }

  watch(prefix: string, opts: WatchOptions): Watch {
    this.checkOpen();
    // What this process already knows is answered at once; etcd answers the rest (a compaction
    // by another API server) by cancelling the watch with its compact revision.
    if (opts.fromRevision < this.knownCompactRevision) {
      throw new CompactedError(opts.fromRevision, this.knownCompactRevision);
    }
    const { start, end } = this.keyRange(prefix, undefined);
    const watcher: EtcdWatcher = {
      start,
      end,
      seenUpTo: opts.fromRevision,
      id: undefined,
      done: false,
      onEvents: opts.onEvents,
      onError: opts.onError,
    };
    this.watchers.add(watcher);
    if (this.watchStream) this.sendWatchCreate(this.watchStream, watcher);
    else this.connectWatchStream();
    return {
      cancel: () => this.cancelWatcher(watcher),
      progress: () => watcher.seenUpTo,
    };
  }

  /**
   * Registers the watcher on the stream, from its last delivered revision. The start is
   * inclusive in etcd and that revision's events are skipped on arrival: so etcd itself refuses a
   * start below its compaction point exactly when the contract calls for CompactedError.
   */
  private sendWatchCreate(stream: WatchStream, w: EtcdWatcher): void {
    const id = String(this.nextWatchId++);
    w.id = id;
    this.watchersById.set(id, w);
    stream.write({
      create_request: {
        key: w.start,
        range_end: w.end,
        start_revision: Math.max(1, w.seenUpTo),
        prev_kv: true,
        // etcd then tells an idle watcher, at its progress-notify interval, how far it is.
        progress_notify: true,
        // Ids chosen here (etcd ≥ 3.4) let creates be pipelined instead of awaited one by one.
        watch_id: id,
      },
    });
  }

  private cancelWatcher(w: EtcdWatcher): void {
    if (w.done) return;
    w.done = true;
    this.watchers.delete(w);
    if (w.id !== undefined) {
      this.watchersById.delete(w.id);
      this.watchStream?.write({ cancel_request: { watch_id: w.id } });
    }
  }

  private connectWatchStream(): void {
    if (this.watchStream || this.watchConnecting || this.state !== 'open') return;
    this.watchConnecting = true;
    this.client!.watchClient.watch().then(
      (stream) => {
        this.watchConnecting = false;
        if (this.state !== 'open') {
          stream.cancel();
          return;
        }
        this.watchStream = stream;
        stream.on('data', (res) => {
          if (stream === this.watchStream) this.onWatchResponse(res);
        });
        stream.on('error', () => this.onWatchStreamGone(stream));
        stream.on('end', () => this.onWatchStreamGone(stream));
        for (const w of this.watchers) this.sendWatchCreate(stream, w);
      },
      () => {
        this.watchConnecting = false;
        this.scheduleWatchReconnect();
      },
    );
  }

  /** Every watcher on a broken stream resumes on a new one from the revision it had reached. */
  private onWatchStreamGone(stream: WatchStream): void {
    if (stream !== this.watchStream) return;
    this.watchStream = undefined;
    this.watchersById.clear();
    for (const w of this.watchers) w.id = undefined;
    this.scheduleWatchReconnect();
  }

  private scheduleWatchReconnect(): void {
    if (this.state !== 'open' || this.watchers.size === 0 || this.watchReconnectTimer) return;
    const delay = this.watchReconnectMs;
    this.watchReconnectMs = Math.min(delay * 2, WATCH_RECONNECT_MAX_MS);
    this.watchReconnectTimer = setTimeout(() => {
      this.watchReconnectTimer = undefined;
      this.connectWatchStream();
    }, delay);
  }

  private onWatchResponse(res: IWatchResponse): void {
    this.watchReconnectMs = RETRY_MIN_MS;
    const w = this.watchersById.get(res.watch_id);
    // Responses to a watcher cancelled here may still be on their way.
    if (!w || w.done) return;
    if (res.canceled) {
      this.watchersById.delete(res.watch_id);
      const compacted = Number(res.compact_revision);
      if (compacted > 0) {
        this.knownCompactRevision = Math.max(this.knownCompactRevision, compacted);
        this.finishWatcher(w, new CompactedError(w.seenUpTo, compacted));
      } else {
        this.finishWatcher(w, new StoreError(`etcd cancelled the watch: ${res.cancel_reason || 'no reason given'}`));
      }
      return;
    }
    if (res.events.length === 0) {
      // A progress notification: etcd sends it to a watcher only once that watcher is in sync,
      // through the same channel as its events, so its revision is a promise about this watcher.
      // (A created response's revision is not: a watcher from the past has events still to come.)
      if (!res.created) w.seenUpTo = Math.max(w.seenUpTo, Number(res.header.revision));
      return;
    }
    const events: StoreEvent[] = [];
    for (const ev of res.events) {
      const revision = Number(ev.kv.mod_revision);
      if (revision <= w.seenUpTo) continue;
      const key = this.storeKey(ev.kv.key);
      const prev = ev.prev_kv ? toKeyValue(key, ev.prev_kv) : undefined;
      const isCreate = ev.type === 'Put' && Number(ev.kv.create_revision) === revision;
      if (!prev && !isCreate) {
        // etcd reads the previous value when it sends the event; if that revision has been
        // compacted meanwhile, the event cannot be told completely (a delete would have no value).
        this.finishWatcher(w, new CompactedError(w.seenUpTo, Math.max(this.knownCompactRevision, revision)));
        return;
      }
      if (ev.type === 'Delete') {
        events.push({ type: 'delete', revision, key, kv: { ...prev!, modRevision: revision }, prev });
      } else {
        const kv = toKeyValue(key, ev.kv);
        events.push(prev ? { type: 'put', revision, key, kv, prev } : { type: 'put', revision, key, kv });
      }
    }
    if (events.length === 0) return;
    w.seenUpTo = events[events.length - 1]!.revision;
    try {
      w.onEvents(events);
    } catch (err) {
      // A watcher that cannot take its events has missed them: end it rather than skip ahead.
      this.finishWatcher(w, err instanceof Error ? err : new Error(String(err)));
    }
  }

  private finishWatcher(w: EtcdWatcher, err: Error): void {
    if (w.done) return;
    this.cancelWatcher(w);
    w.onError?.(err);
  }

  /**
   * Compacts etcd's history up to `revision`, unless another API server compacted since this
   * one last looked. As upstream, the version of COMPACT_KEY is a logical clock: the server
   * whose compare-and-swap on it succeeds compacts; the others learn the new version and skip
   * their turn, so several API servers do not compact the same history one after another.
   */
  async compact(revision: number): Promise<void> {
    this.checkOpen();
    if (revision <= this.knownCompactRevision) return;
    const res = await this.write(COMPACT_KEY.toString(), (o) =>
      this.kv().txn(
        {
          compare: [{ key: COMPACT_KEY, target: 'Version', result: 'Equal', version: this.compactKeyVersion }],
          success: [{ request_put: { key: COMPACT_KEY, value: Buffer.from(String(revision)) } }],
          failure: [{ request_range: { key: COMPACT_KEY } }],
        },
        o,
      ),
    );
    this.observe(res.header.revision);
    if (!res.succeeded) {
      this.learnCompactKey(res.responses[0]?.response_range.kvs[0]);
      return;
    }
    this.compactKeyVersion++;
    try {
      await this.read((o) => this.kv().compact({ revision }, o));
    } catch (err) {
      // Compacted further already (by hand, or by etcd's own auto-compaction): nothing to do.
      if (!(err instanceof StoreError && isCompactedMessage(err.message))) throw err;
    }
    this.knownCompactRevision = Math.max(this.knownCompactRevision, revision);
  }

  /** A linearizable read of the cluster's revision. */
  async currentRevision(): Promise<number> {
    const res = await this.read((o) => this.kv().range({ key: COMPACT_KEY, count_only: true }, o));
    this.observe(res.header.revision);
    return this.highestRevision;
  }

  /** The revision recorded by the last compaction of any API server (read from etcd). */
  async compactRevision(): Promise<number> {
    await this.readCompactKey();
    return this.knownCompactRevision;
  }

  /** The size of the responding member's database that is in use. */
  async sizeBytes(): Promise<number> {
    this.checkOpen();
    const status = (await this.read((o) => this.client!.maintenance.status(o))) as { dbSize: string; dbSizeInUse?: string };
    const inUse = Number(status.dbSizeInUse ?? 0);
    return inUse > 0 ? inUse : Number(status.dbSize);
  }

  /** Waits for the writes already made, then ends every watch and disconnects. */
  async close(): Promise<void> {
    if (this.state === 'closing' || this.state === 'closed') return;
    if (this.state === 'new') {
      this.state = 'closed';
      return;
    }
    this.state = 'closing';
    if (this.writesInFlight > 0) await new Promise<void>((resolve) => (this.drained = resolve));
    this.state = 'closed';
    clearTimeout(this.watchReconnectTimer);
    const stream = this.watchStream;
    this.watchStream = undefined;
    stream?.cancel();
    for (const w of [...this.watchers]) this.finishWatcher(w, new StoreClosedError());
    this.client?.close();
  }

  private async readCompactKey(): Promise<void> {
    const res = await this.read((o) => this.kv().range({ key: COMPACT_KEY }, o));
    this.observe(res.header.revision);
    this.learnCompactKey(res.kvs[0]);
  }

  private learnCompactKey(kv: IKeyValue | undefined): void {
    // Absent (never compacted, or deleted by hand), the key compares as version 0.
    this.compactKeyVersion = kv ? Number(kv.version) : 0;
    if (!kv) return;
    const recorded = Number(kv.value.toString());
    if (Number.isSafeInteger(recorded)) this.knownCompactRevision = Math.max(this.knownCompactRevision, recorded);
  }

  /**
   * A read, retried until the deadline while etcd is unreachable or between leaders: reads
   * change nothing, so sending one again is always safe.
   */
  private async read<T>(call: (opts: CallOptions) => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.requestTimeoutMs;
    for (let attempt = 0; ; attempt++) {
      // start() reads too, before the store is open.
      if (this.state !== 'starting') this.checkOpen();
      try {
        return await call({ deadline });
      } catch (err) {
        const delay = retryDelay(attempt);
        if (!(err instanceof etcd3!.GRPCUnavailableError || err instanceof MemberSkippedError) || Date.now() + delay >= deadline) {
          throw err instanceof StoreError ? err : new StoreError(`etcd read failed: ${messageOf(err)}`);
        }
        await sleep(delay);
      }
    }
  }

  /**
   * A write: sent again only while no connection could be made (so it never reached etcd).
   * Any other failure that etcd does not report as a refusal leaves the outcome unknown, which
   * is a TimeoutError: the caller must not take it for success nor for failure.
   */
  private async write<T>(key: string, call: (opts: CallOptions) => Promise<T>): Promise<T> {
    // Once closing, no new write starts; those under way finish before the client disconnects.
    if (this.state !== 'open') throw this.unavailableError();
    this.writesInFlight++;
    const deadline = Date.now() + this.requestTimeoutMs;
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          return await call({ deadline });
        } catch (err) {
          const delay = retryDelay(attempt);
          if (neverSent(err) && Date.now() + delay < deadline && this.state === 'open') {
            await sleep(delay);
            continue;
          }
          if (neverSent(err) || isRefusal(err)) throw new StoreError(`write to ${key} failed: ${messageOf(err)}`);
          throw new TimeoutError(`outcome of the write to ${key} is unknown: ${messageOf(err)}`);
        }
      }
    } finally {
      if (--this.writesInFlight === 0) this.drained?.();
    }
  }

  private kv(): Etcd3['kv'] {
    return this.client!.kv;
  }

  /** Reads are served until the store is closed; writes only while it is open. */
  private checkOpen(): void {
    if (this.state !== 'open' && this.state !== 'closing') throw this.unavailableError();
  }

  private unavailableError(): Error {
    if (this.state === 'new' || this.state === 'starting') return new StoreError('store is not started');
    return new StoreClosedError();
  }

  /** The revision of a response, also raising the highest revision seen. */
  private observe(revision: string): number {
    const r = Number(revision);
    if (r > this.highestRevision) this.highestRevision = r;
    return r;
  }

  private etcdKey(key: string): Buffer {
    return this.keyPrefix.length === 0 ? Buffer.from(key) : Buffer.concat([this.keyPrefix, Buffer.from(key)]);
  }

  private storeKey(etcdKey: Buffer): string {
    return etcdKey.toString('utf8', this.keyPrefix.length);
  }

  /** The etcd range of the keys with the prefix, after startAfter when given. */
  private keyRange(prefix: string, startAfter: string | undefined): { start: Buffer; end: Buffer } {
    const first = this.etcdKey(prefix);
    const end = rangeEnd(first);
    if (startAfter === undefined) return { start: first.length > 0 ? first : ZERO_KEY, end };
    // The smallest key after startAfter is startAfter followed by a zero byte.
    const after = Buffer.concat([this.etcdKey(startAfter), ZERO_KEY]);
    return { start: Buffer.compare(after, first) > 0 ? after : first.length > 0 ? first : ZERO_KEY, end };
  }
}

const ZERO_KEY = Buffer.from([0]);

/** etcd's range end for a prefix: the prefix with its last byte below 0xff incremented; [0] = no end. */
function rangeEnd(prefix: Buffer): Buffer {
  for (let i = prefix.length - 1; i >= 0; i--) {
    if (prefix[i]! < 0xff) {
      const end = Buffer.from(prefix.subarray(0, i + 1));
      end[i]!++;
      return end;
    }
  }
  return ZERO_KEY;
}

function toKeyValue(key: string, kv: IKeyValue): KeyValue {
  return {
    key,
    value: kv.value.toString(),
    createRevision: Number(kv.create_revision),
    modRevision: Number(kv.mod_revision),
  };
}

// The etcd3 client runs every call through a "global" policy and then a per-member one (it takes
// any object with `execute`; its policy library is not a dependency of ours). Its defaults retry
// a failed call three times and stop calling a member after three failures of any kind, such as
// the timeouts every member answers while a new leader is elected. Here: one attempt per call,
// and a member is skipped only for a while after a connection to it could not be made.
type CallPolicy = NonNullable<NonNullable<IOptions['faultHandling']>['global']>;

const CALL_ONCE = { execute: (fn: () => unknown) => fn() } as unknown as CallPolicy;

/** How long calls avoid a member that refused a connection (then one call tries it again). */
const UNREACHABLE_MEMBER_SKIP_MS = 2_000;

function skipUnreachableMember(): CallPolicy {
  let skipUntil = 0;
  const policy = {
    async execute(fn: () => Promise<unknown>): Promise<unknown> {
      // Thrown without calling fn: the client then tries the next member.
      if (Date.now() < skipUntil) throw new MemberSkippedError();
      try {
        return await fn();
      } catch (err) {
        if (noConnection(err)) skipUntil = Date.now() + UNREACHABLE_MEMBER_SKIP_MS;
        throw err;
      }
    },
  };
  return policy as unknown as CallPolicy;
}

class MemberSkippedError extends Error {
  constructor() {
    super('every etcd member refused connections recently');
    this.name = 'MemberSkippedError';
  }
}

function noConnection(err: unknown): boolean {
  return err instanceof etcd3!.GRPCUnavailableError && err.message.includes('No connection established');
}

/** The call failed before it reached any etcd member. */
function neverSent(err: unknown): boolean {
  return noConnection(err) || err instanceof MemberSkippedError;
}

/** etcd answered that it did not apply the request (bad request, quota, permissions). */
function isRefusal(err: unknown): boolean {
  const e = etcd3!;
  return (
    err instanceof e.GRPCInvalidArgumentError ||
    err instanceof e.GRPCResourceExhastedError ||
    err instanceof e.GRPCFailedPreconditionError ||
    err instanceof e.GRPCOutOfRangeError ||
    err instanceof e.GRPCNotImplementedError ||
    err instanceof e.GRPCUnauthenticatedError ||
    err instanceof e.EtcdPermissionDeniedError
  );
}

function isCompactedMessage(message: string): boolean {
  return message.includes('required revision has been compacted');
}

function retryDelay(attempt: number): number {
  return Math.min(RETRY_MIN_MS * 2 ** attempt, RETRY_MAX_MS);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
