// The store contract: a revisioned key–value log after etcd and kine.
//
// One global revision counter; every successful write gets the next one. Values are opaque
// strings (the apiserver stores JSON without metadata.resourceVersion, which is derived from
// the mod revision on read, as kube-apiserver does with etcd). Every implementation (SQLite,
// etcd) must pass the same conformance suite in test/store-conformance.ts.

export interface KeyValue {
  key: string;
  value: string;
  /** Revision of the write that created this key (since its last deletion). */
  createRevision: number;
  /** Revision of the last write to this key; becomes metadata.resourceVersion. */
  modRevision: number;
}

export type EventType = 'put' | 'delete';

export interface StoreEvent {
  type: EventType;
  /** The revision of this write. Events reach a watcher in strictly increasing revision order. */
  revision: number;
  key: string;
  /** For 'put': the new value. For 'delete': the value at deletion (same as prev.value). */
  kv: KeyValue;
  /** The value before this write; absent for a create. */
  prev?: KeyValue;
}

export interface ListOptions {
  /** Return at most this many items (0 or absent = no limit). */
  limit?: number;
  /** Return only keys strictly greater than this one (paging). */
  startAfter?: string;
  /**
   * Read the state as of this revision (0 or absent = latest). Used for consistent paging:
   * every page of one list is served at the revision of its first page.
   * Throws CompactedError when the revision is older than the compaction point.
   */
  revision?: number;
}

export interface ListResult {
  items: KeyValue[];
  /** The revision the list was read at. */
  revision: number;
  /** True when more items exist after the last one returned. */
  more: boolean;
}

export interface WatchOptions {
  /**
   * Deliver every event with revision > fromRevision. Throws CompactedError (synchronously or
   * through onError) when events after fromRevision are no longer retained.
   */
  fromRevision: number;
  /** The array may be shared with other watchers of the same prefix: read it, never modify it. */
  onEvents: (events: StoreEvent[]) => void;
  /** Called at most once; the watch is over afterwards (e.g. CompactedError, store closed). */
  onError?: (err: Error) => void;
}

export interface Watch {
  /** Stop delivering events. Idempotent. */
  cancel(): void;
  /**
   * Every event with a revision up to this one has been delivered (or did not match the prefix):
   * what a BOOKMARK may promise, as etcd's progress notifications do.
   */
  progress(): number;
}

export interface Store {
  /** Open / recover. Must be called once before anything else. */
  start(): Promise<void>;
  get(key: string): Promise<KeyValue | undefined>;
  /** Keys starting with prefix, in byte order of key. */
  list(prefix: string, opts?: ListOptions): Promise<ListResult>;
  count(prefix: string): Promise<number>;
  /** Throws KeyExistsError if the key exists. Resolves only once the write is durable. */
  create(key: string, value: string): Promise<KeyValue>;
  /**
   * Replace the value if the key's modRevision equals expectedModRevision.
   * Throws NotFoundError if absent, ConflictError (carrying the current value) otherwise.
   */
  update(key: string, value: string, expectedModRevision: number): Promise<KeyValue>;
  /**
   * Delete the key, if expectedModRevision is given only when it matches.
   * Resolves with the deleted value and the revision of the delete.
   */
  delete(key: string, expectedModRevision?: number): Promise<{ deleted: KeyValue; revision: number }>;
  watch(prefix: string, opts: WatchOptions): Watch;
  /** Drop history up to and including revision. Current values are never dropped. */
  compact(revision: number): Promise<void>;
  /** The latest revision this process has observed as committed. */
  currentRevision(): Promise<number>;
  /** The revision history is retained after (0 if never compacted). */
  compactRevision(): Promise<number>;
  /** Write transactions committed and writes they carried, where the store can tell (group commit). */
  stats?(): { commits: number; writes: number };
  /** Approximate size of the stored data in bytes (for metrics). */
  sizeBytes(): Promise<number>;
  close(): Promise<void>;
}

export class StoreError extends Error {}

export class KeyExistsError extends StoreError {
  constructor(public readonly key: string) {
    super(`key exists: ${key}`);
    this.name = 'KeyExistsError';
  }
}

export class NotFoundError extends StoreError {
  constructor(public readonly key: string) {
    super(`key not found: ${key}`);
    this.name = 'NotFoundError';
  }
}

export class ConflictError extends StoreError {
  constructor(public readonly key: string, public readonly current: KeyValue) {
    super(`conflict on ${key}: current modRevision ${current.modRevision}`);
    this.name = 'ConflictError';
  }
}

export class CompactedError extends StoreError {
  constructor(public readonly requested: number, public readonly compacted: number) {
    super(`revision ${requested} has been compacted (compacted up to ${compacted})`);
    this.name = 'CompactedError';
  }
}

/** The outcome of a write is unknown (e.g. an etcd request timed out). Never reported as success. */
export class TimeoutError extends StoreError {
  constructor(message: string) {
    super(message);
    this.name = 'TimeoutError';
  }
}

export class StoreClosedError extends StoreError {
  constructor() {
    super('store is closed');
    this.name = 'StoreClosedError';
  }
}
