// The informer every kubelite component is built on (after client-go's reflector + indexer):
// list, then watch from the list's resourceVersion with bookmarks; resume a broken watch from the
// last resourceVersion seen; re-list when that is too old (410); keep an indexed local cache and
// tell handlers what was added, updated and deleted. Handlers run synchronously in event order.
import type { RestClient, WatchEvent, WatchHandle } from './rest.js';
import { ApiStatusError, isGone } from './rest.js';
import type { ResourceType } from '../api/resources.js';
import type { KObject } from '../api/types.js';
import { logger } from '../util/log.js';

export interface InformerOptions<T extends KObject = KObject> {
  /** Watch one namespace only (namespaced resources). */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Call update handlers for every cached object this often (0 = never). */
  resyncMs?: number;
  /**
   * Applied to every object before it is cached and handed to handlers (client-go's
   * TransformFunc): lets a process keep less of each object.
   */
  transform?: (obj: T) => T;
  /**
   * Keep objects without metadata.managedFields (as kube-controller-manager's informers do: no
   * controller reads them). Watch events skip them before parsing, which is cheaper than parsing
   * and then dropping them (they are about half of a pod's JSON); listed objects drop them after.
   */
  omitManagedFields?: boolean;
  /**
   * Cache only the objects `object` accepts, as a field selector would, but decided here: for
   * a shared watch where most events concern nobody here (pods not bound to a node yet, for
   * node agents). An object that leaves the selection is deleted from the cache. `line` is a
   * cheap test on a watch event's raw bytes: false when the event's object is certainly not
   * selected, and the event is then dropped unparsed. It is sound only for a selection that
   * an object never leaves once in it (an immutable field), since a dropped event is never seen.
   */
  select?: { object: (obj: T) => boolean; line?: (bytes: Buffer) => boolean };
}

/** The starts of the event lines a `select.line` test may drop (kubelite and upstream write `type` first, compact). */
const DROPPABLE_EVENT_STARTS = ['{"type":"ADDED",', '{"type":"MODIFIED",', '{"type":"DELETED",'].map((s) => Buffer.from(s, 'latin1'));

function startsWith(b: Uint8Array, prefix: Uint8Array): boolean {
  if (b.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (b[i] !== prefix[i]) return false;
  return true;
}

/**
 * A watch line filter from a select.line test: only ADDED, MODIFIED and DELETED events are ever
 * dropped (BOOKMARK and ERROR lines always pass, as does any line in another layout).
 */
export function eventLineFilter(test: (bytes: Buffer) => boolean): (line: Buffer) => boolean {
  return (line) => {
    // The byte after `{"type":"` tells the three types apart: A(DDED), M(ODIFIED), D(ELETED).
    const t = line[9];
    const start = t === 0x41 ? DROPPABLE_EVENT_STARTS[0] : t === 0x4d ? DROPPABLE_EVENT_STARTS[1] : t === 0x44 ? DROPPABLE_EVENT_STARTS[2] : undefined;
    return start === undefined || !startsWith(line, start) || test(line);
  };
}

export interface Handlers<T> {
  add?(obj: T): void;
  update?(old: T, obj: T): void;
  delete?(obj: T): void;
}

export type IndexFunc<T> = (obj: T) => string[];

/**
 * The object without metadata.managedFields, as kube-controller-manager's informers keep them
 * (its TransformFunc trims them): no controller reads them, and they are often the largest part
 * of a small object. A new metadata object rather than `delete`, which would leave the object
 * in V8's slow dictionary mode.
 */
export function dropManagedFields<T extends KObject>(obj: T): T {
  if (obj.metadata?.managedFields === undefined) return obj;
  const { managedFields: _dropped, ...metadata } = obj.metadata;
  obj.metadata = metadata;
  return obj;
}

/**
 * `next` with every part that equals the same part of `prev` replaced by prev's (prev itself when
 * all of it is equal). A watch event carries a whole new object though an update mostly changes a
 * small part of it (a pod's status, one endpoint of a slice). The cache keeps the newest object
 * for long, so every part of it that is new survives the young generation and is copied and then
 * promoted by the garbage collector, and the scavenge pauses grow with those bytes; the parts
 * taken over from the cached object leave the freshly parsed ones as young garbage instead, which
 * costs nothing to collect. Sharing is safe because cached objects are never modified (a contract
 * of the cache: handlers and listers read them only).
 */
export function shareUnchanged<T>(prev: T, next: T): T {
  return share(prev, next) as T;
}

const hasOwn = Object.prototype.hasOwnProperty;

function share(prev: unknown, next: unknown): unknown {
  // Equal strings are taken over too: the parsed copy then dies young.
  if (prev === next) return prev;
  if (typeof prev !== 'object' || typeof next !== 'object' || prev === null || next === null) return next;
  if (Array.isArray(next)) {
    if (!Array.isArray(prev)) return next;
    let same = prev.length === next.length;
    // Items are matched by position, following one item inserted or removed on the way (an
    // address that moved between an Endpoints' ready and not-ready lists shifts the rest).
    let offset = 0;
    for (let i = 0; i < next.length; i++) {
      const j = i + offset;
      if (j >= 0 && j < prev.length && share(prev[j], next[i]) === prev[j]) {
        next[i] = prev[j];
        continue;
      }
      same = false;
      if (j + 1 >= 0 && j + 1 < prev.length && share(prev[j + 1], next[i]) === prev[j + 1]) {
        next[i] = prev[j + 1];
        offset++;
      } else if (j - 1 >= 0 && j - 1 < prev.length && share(prev[j - 1], next[i]) === prev[j - 1]) {
        next[i] = prev[j - 1];
        offset--;
      }
    }
    return same ? prev : next;
  }
  if (Array.isArray(prev)) return next;
  const p = prev as Record<string, unknown>, n = next as Record<string, unknown>;
  let same = true;
  let keys = 0;
  for (const k in n) {
    keys++;
    // An own `__proto__` (JSON.parse makes one) must not be assigned through the setter.
    if (!hasOwn.call(p, k) || k === '__proto__') {
      same = false;
      continue;
    }
    const s = share(p[k], n[k]);
    if (s === p[k]) n[k] = s;
    else same = false;
  }
  if (same) for (const _k in p) if (--keys < 0) return next;
  return same && keys === 0 ? prev : next;
}

const log = logger('informer');
const NO_OBJECTS: ReadonlyMap<string, never> = new Map<string, never>();

/** `namespace/name`, or `name` for cluster-scoped objects: the key controllers queue. */
export function keyOf(obj: { metadata: { name?: string; namespace?: string } }): string {
  const m = obj.metadata;
  return m.namespace ? `${m.namespace}/${m.name}` : `${m.name}`;
}

export function splitKey(key: string): { namespace?: string; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

export function collectionPath(r: Pick<ResourceType, 'group' | 'version' | 'plural' | 'namespaced'>, namespace?: string): string {
  const base = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
  return r.namespaced && namespace !== undefined ? `${base}/namespaces/${namespace}/${r.plural}` : `${base}/${r.plural}`;
}

export function objectPath(r: Pick<ResourceType, 'group' | 'version' | 'plural' | 'namespaced'>, namespace: string | undefined, name: string): string {
  return `${collectionPath(r, namespace)}/${name}`;
}

interface ListResponse<T> {
  metadata: { resourceVersion: string; continue?: string };
  items: T[];
}

export class Informer<T extends KObject = KObject> {
  private readonly store = new Map<string, T>();
  private readonly indexers = new Map<string, IndexFunc<T>>();
  /**
   * Per index, per value, the objects under it by key. The entries hold the objects themselves, so
   * that reading an index costs no lookup in the store (a 100,000-entry Map is slow to probe), and
   * an update that keeps an object's index values replaces it in place instead of removing and
   * re-adding its key (which leaves holes that every later iteration of the entry skips over).
   */
  private readonly indices = new Map<string, Map<string, Map<string, T>>>();
  private readonly handlers: Handlers<T>[] = [];
  private resourceVersion = '';
  private watch?: WatchHandle;
  private stopped = false;
  private synced = false;
  private syncWaiters: (() => void)[] = [];
  private resyncTimer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private readonly lineFilter?: (line: Buffer) => boolean;

  constructor(private readonly client: RestClient, readonly resource: ResourceType, private readonly opts: InformerOptions<T> = {}) {
    this.addIndex('namespace', (o) => [o.metadata.namespace ?? '']);
    const line = opts.select?.line;
    if (line) this.lineFilter = eventLineFilter(line);
  }

  on(h: Handlers<T>): this {
    this.handlers.push(h);
    return this;
  }

  addIndex(name: string, fn: IndexFunc<T>): this {
    this.indexers.set(name, fn);
    const index = new Map<string, Map<string, T>>();
    this.indices.set(name, index);
    for (const [key, obj] of this.store) for (const v of fn(obj)) this.indexSet(index, v, key, obj);
    return this;
  }

  get(key: string): T | undefined {
    return this.store.get(key);
  }

  list(namespace?: string): T[] {
    return namespace === undefined ? [...this.store.values()] : this.byIndex('namespace', namespace);
  }

  /** The objects under an index value, without building an array (large indexes, hot paths). */
  iterateIndex(name: string, value: string): IterableIterator<T> {
    return (this.indices.get(name)?.get(value) ?? NO_OBJECTS).values() as IterableIterator<T>;
  }

  /** Number of objects under an index value. */
  countIndex(name: string, value: string): number {
    return this.indices.get(name)?.get(value)?.size ?? 0;
  }

  byIndex(name: string, value: string): T[] {
    const objects = this.indices.get(name)?.get(value);
    return objects ? [...objects.values()] : [];
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves once the first list has been loaded into the cache. */
  waitForSync(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  /** Start listing and watching in the background; returns once the cache has synced. */
  async start(): Promise<void> {
    this.running ??= this.run();
    if (this.opts.resyncMs) {
      this.resyncTimer = setInterval(() => {
        for (const o of this.store.values()) for (const h of this.handlers) h.update?.(o, o);
      }, this.opts.resyncMs);
      this.resyncTimer.unref();
    }
    await this.waitForSync();
  }

  stop(): void {
    this.stopped = true;
    this.watch?.stop();
    if (this.resyncTimer) clearInterval(this.resyncTimer);
  }

  private query(): Record<string, string | undefined> {
    return { labelSelector: this.opts.labelSelector, fieldSelector: this.opts.fieldSelector };
  }

  private async run(): Promise<void> {
    let backoff = 250;
    let needList = true;
    while (!this.stopped) {
      try {
        if (needList) {
          await this.relist();
          needList = false;
        }
        await this.watchOnce();
        backoff = 250;
      } catch (e) {
        if (this.stopped) return;
        if (isGone(e)) {
          needList = true;
          continue;
        }
        log.warn({ resource: this.resource.plural, err: (e as Error).message }, 'list/watch failed; retrying');
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 30_000);
      }
    }
  }

  /** List everything (in pages) and reconcile the cache with it, telling handlers what changed. */
  private async relist(): Promise<void> {
    const path = collectionPath(this.resource, this.opts.namespace);
    const items: T[] = [];
    let cont: string | undefined;
    let rv = '';
    do {
      const page = await this.client.get<ListResponse<T>>(path, { ...this.query(), limit: 500, continue: cont });
      for (const item of page.items) {
        if (this.opts.select && !this.opts.select.object(item)) continue;
        const o = this.prepare(item);
        o.kind ??= this.resource.kind;
        o.apiVersion ??= this.resource.group ? `${this.resource.group}/${this.resource.version}` : this.resource.version;
        items.push(o);
      }
      cont = page.metadata.continue;
      rv = page.metadata.resourceVersion;
    } while (cont);
    const seen = new Set<string>();
    for (const o of items) {
      const key = keyOf(o);
      seen.add(key);
      const old = this.store.get(key);
      this.put(key, o);
      if (!old) this.emit('add', o);
      else if (old.metadata.resourceVersion !== o.metadata.resourceVersion) this.emit('update', o, old);
    }
    for (const [key, old] of [...this.store]) {
      if (!seen.has(key)) {
        this.remove(key);
        this.emit('delete', old);
      }
    }
    this.resourceVersion = rv;
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
  }

  private async watchOnce(): Promise<void> {
    const path = collectionPath(this.resource, this.opts.namespace);
    let gone: ApiStatusError | undefined;
    this.watch = this.client.watch<T>(path, {
      ...this.query(),
      resourceVersion: this.resourceVersion,
      allowWatchBookmarks: true,
      // As client-go's reflector: a random 5–10 minute stream, then re-watch from where it ended.
      timeoutSeconds: 300 + Math.floor(Math.random() * 300),
    }, (ev: WatchEvent<T>) => {
      if (ev.type === 'ERROR') {
        const status = ev.object as unknown as { code: number; message?: string; reason?: string };
        if (status.code === 410) gone = new ApiStatusError({ kind: 'Status', ...status });
        this.watch?.stop();
        return;
      }
      if (ev.object.metadata?.resourceVersion) this.resourceVersion = ev.object.metadata.resourceVersion;
      if (ev.type === 'BOOKMARK') return;
      let o = this.prepare(ev.object);
      o.kind ??= this.resource.kind;
      const key = keyOf(o);
      const old = this.store.get(key);
      if (old && ev.type === 'MODIFIED') o = shareUnchanged(old, o);
      // Out of the selection: as a field selector's watch, an object that leaves it is deleted.
      if (ev.type === 'DELETED' || (this.opts.select && !this.opts.select.object(o))) {
        if (old) {
          this.remove(key);
          this.emit('delete', o);
        }
        return;
      }
      this.put(key, o);
      if (old) this.emit('update', o, old);
      else this.emit('add', o);
    }, { omitManagedFields: this.opts.omitManagedFields, lineFilter: this.lineFilter });
    await this.watch.done;
    if (gone) throw gone;
  }

  /** What the cache keeps of a listed or watched object. */
  private prepare(obj: T): T {
    // A watch event's managedFields are normally cut before parsing; listed objects still have theirs.
    const o = this.opts.omitManagedFields ? dropManagedFields(obj) : obj;
    return this.opts.transform ? this.opts.transform(o) : o;
  }

  private emit(type: 'add' | 'update' | 'delete', obj: T, old?: T): void {
    for (const h of this.handlers) {
      try {
        if (type === 'add') h.add?.(obj);
        else if (type === 'update') h.update?.(old!, obj);
        else h.delete?.(obj);
      } catch (e) {
        log.error({ resource: this.resource.plural, err: (e as Error).stack }, 'event handler failed');
      }
    }
  }

  private indexSet(index: Map<string, Map<string, T>>, value: string, key: string, obj: T): void {
    let objects = index.get(value);
    if (!objects) index.set(value, (objects = new Map()));
    objects.set(key, obj);
  }

  private indexDelete(index: Map<string, Map<string, T>>, value: string, key: string): void {
    const objects = index.get(value);
    objects?.delete(key);
    if (objects?.size === 0) index.delete(value);
  }

  private put(key: string, obj: T): void {
    const old = this.store.get(key);
    this.store.set(key, obj);
    for (const [name, fn] of this.indexers) {
      const index = this.indices.get(name)!;
      const values = fn(obj);
      // Most updates (status, say) keep every index value: the entries just take the new object.
      if (old) for (const v of fn(old)) if (!values.includes(v)) this.indexDelete(index, v, key);
      for (const v of values) this.indexSet(index, v, key, obj);
    }
  }

  private remove(key: string): void {
    const old = this.store.get(key);
    if (!old) return;
    this.store.delete(key);
    for (const [name, fn] of this.indexers) {
      const index = this.indices.get(name)!;
      for (const v of fn(old)) this.indexDelete(index, v, key);
    }
  }
}
