// Watch streams: upstream's watch semantics over the store's revisioned event log.
// - resourceVersion unset or "0" (or sendInitialEvents=true): synthetic ADDED events for the
//   current state first, then every change after it;
// - resourceVersion=N: every change after N, or one ERROR event (410 Expired) if N is compacted;
// - selectors turn store events into ADDED/MODIFIED/DELETED as the object enters, changes in or
//   leaves the selection (as the watch cache does);
// - bookmarks, timeoutSeconds, and a bounded per-watcher buffer: a watcher that cannot keep up is
//   disconnected (it re-watches from its last resourceVersion) instead of stalling anyone else.
import type { ServerResponse } from 'node:http';
import type { Store, StoreEvent, Watch } from '../store/types.js';
import { CompactedError } from '../store/types.js';
import type { KObject } from '../api/types.js';
import { apiVersionOf, storagePrefix, storageKey, type ResourceType } from '../api/resources.js';
import { parseSelectors, selectorsMatch } from './registry.js';
import { StoredObject, storedPrefix } from './codec.js';
import { errors, type ApiError } from './errors.js';
import type { Logger } from '../util/log.js';

/** How long a watcher may stay over its buffer limit (up to 4× it) before it counts as unresponsive. */
const SLOW_WATCHER_GRACE_MS = 1000;

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchParams {
  resourceVersion?: string;
  resourceVersionMatch?: string;
  labelSelector?: string;
  fieldSelector?: string;
  allowWatchBookmarks: boolean;
  sendInitialEvents?: boolean;
  timeoutSeconds?: number;
}

/**
 * Turns one event into the bytes of one line of the stream (JSON, or a Table row for kubectl get -w).
 * `object` parses, `json` splices the stored bytes: an encoder calls the one it needs.
 */
export type EventEncoder = (type: WatchEventType, object: () => unknown, json: () => string) => string;

/** The line of a plain JSON watch stream. */
export const jsonEventEncoder: EventEncoder = (type, _object, json) => `{"type":"${type}","object":${json()}}\n`;

export interface WatchConfig {
  /** Interval of BOOKMARK events for clients that allow them. */
  bookmarkIntervalMs: number;
  /** Bytes a watcher may have buffered before it is disconnected as too slow. */
  maxBufferedBytes: number;
  /** Default stream lifetime when the client gives no timeoutSeconds (upstream: 30–60 min). */
  defaultTimeoutSeconds: () => number;
}

export const DEFAULT_WATCH_CONFIG: WatchConfig = {
  bookmarkIntervalMs: 30_000,
  maxBufferedBytes: 32 * 1024 * 1024,
  defaultTimeoutSeconds: () => 1800 + Math.floor(Math.random() * 1800),
};

export interface WatchMetrics {
  opened(r: ResourceType): void;
  closed(r: ResourceType): void;
  slowWatcherClosed(r: ResourceType): void;
}

export class WatchHub {
  private readonly streams = new Set<() => void>();

  constructor(private readonly store: Store, private readonly log: Logger, private readonly metrics: WatchMetrics,
    private readonly config: WatchConfig = DEFAULT_WATCH_CONFIG) {}

  /** Close every open watch stream (server shutdown). */
  closeAll(): void {
    for (const close of [...this.streams]) close();
  }

  get open(): number {
    return this.streams.size;
  }

  /**
   * Serve a watch on `res`. Errors found before the stream starts (bad selectors, bad
   * resourceVersion) are thrown as ApiError for the caller to answer with a Status.
   */
  async serve(r: ResourceType, ns: string | undefined, p: WatchParams, res: ServerResponse, encode: EventEncoder): Promise<void> {
    const sel = parseSelectors(r, p);
    const pinned = ns !== undefined ? sel.field?.exact('metadata.name') : undefined;
    // A watch of one named object (kubectl get NAME -w, wait, rollout status) needs only its key's events.
    const prefix = pinned !== undefined ? storageKey(r, ns, pinned) : storagePrefix(r, ns);
    const unfiltered = !sel.label && !sel.field;
    const matches = (o: StoredObject) => unfiltered || selectorsMatch(r, sel, o.object);
    const prefixBytes = storedPrefix(apiVersionOf(r), r.kind);

    let fromRevision: number;
    let initial: StoredObject[] = [];
    const wantsInitial = p.sendInitialEvents === true || !p.resourceVersion || p.resourceVersion === '0';
    if (p.resourceVersion && p.resourceVersion !== '0') {
      fromRevision = Number(p.resourceVersion);
      if (!Number.isInteger(fromRevision) || fromRevision < 0) throw errors.badRequest(`invalid resource version: ${p.resourceVersion}`);
    } else {
      fromRevision = 0;
    }
    if (wantsInitial) {
      const listed = await this.store.list(prefix);
      initial = listed.items.map((kv) => new StoredObject(kv, prefixBytes)).filter(matches);
      fromRevision = Math.max(fromRevision, listed.revision);
    }

    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();

    let closed = false;
    let storeWatch: Watch | undefined;
    let lastRevision = fromRevision;
    const timers: NodeJS.Timeout[] = [];
    const close = () => {
      if (closed) return;
      closed = true;
      storeWatch?.cancel();
      for (const t of timers) clearTimeout(t);
      this.streams.delete(close);
      this.metrics.closed(r);
      if (!res.writableEnded) res.end();
    };
    this.streams.add(close);
    this.metrics.opened(r);
    res.on('close', close);

    const write = (type: WatchEventType, object: () => unknown, json: () => string = () => JSON.stringify(object())): void => {
      if (closed) return;
      res.write(encode(type, object, json));
    };
    /** A store event's line: as plain JSON it is the same for every watcher, so it is encoded once for all. */
    const writeEvent = (ev: StoreEvent, type: WatchEventType, stored: StoredObject, rv: number): void => {
      if (closed) return;
      if (encode === jsonEventEncoder) {
        res.write(sharedLine(ev, type, stored, rv));
        return;
      }
      write(type, () => (rv === stored.kv.modRevision ? stored.object : withResourceVersion(stored.object, rv)), () => stored.json(rv));
    };
    /**
     * Checked before each batch, not after each write: one batch may queue more than the limit
     * before the event loop gets to flush it, even to a client that reads promptly. What is still
     * queued from earlier batches is what the client did not take.
     */
    let overSince = 0;
    const tooSlow = (): boolean => {
      const queued = res.writableLength, limit = this.config.maxBufferedBytes;
      if (queued <= limit) {
        overSince = 0;
        return false;
      }
      // As upstream's cacher gives a blocked watcher a time budget before it terminates it, a
      // client that is only momentarily behind (its reads competing with its own writes, say)
      // keeps its watch: it is closed once it stays over the limit for a second, or at once when
      // it is four times over, which bounds the memory a watcher can hold.
      const now = Date.now();
      if (!overSince) overSince = now;
      if (queued <= 4 * limit && now - overSince < SLOW_WATCHER_GRACE_MS) return false;
      this.metrics.slowWatcherClosed(r);
      this.log.warn({ resource: r.plural, namespace: ns, buffered: queued }, 'closing watch of an unresponsive client');
      // Drop what is buffered: the client re-watches from the last resourceVersion it processed.
      res.destroy();
      close();
      return true;
    };
    const bookmark = (annotations?: Record<string, string>) => {
      // The store's progress lets an idle watch advance its resourceVersion past other resources' writes.
      const progress = Math.max(lastRevision, storeWatch?.progress() ?? 0);
      lastRevision = progress;
      const metadata: Record<string, unknown> = { resourceVersion: String(progress) };
      if (annotations) metadata.annotations = annotations;
      write('BOOKMARK', () => ({ kind: r.kind, apiVersion: apiVersionOf(r), metadata }));
    };
    const fail = (e: ApiError) => {
      write('ERROR', () => e.status());
      close();
    };

    for (const o of initial) write('ADDED', () => o.object, () => o.json());
    if (p.sendInitialEvents && p.allowWatchBookmarks) bookmark({ 'k8s.io/initial-events-end': 'true' });

    const onEvents = (events: StoreEvent[]) => {
      if (closed || tooSlow()) return;
      for (const ev of events) {
        if (closed) return;
        if (ev.revision <= lastRevision) continue;
        lastRevision = ev.revision;
        const out = convertEvent(ev, prefixBytes, matches);
        if (out) writeEvent(ev, out.type, out.stored, out.rv);
      }
    };
    try {
      storeWatch = this.store.watch(prefix, {
        fromRevision,
        onEvents,
        onError: (err) => {
          if (err instanceof CompactedError) fail(errors.expired(`too old resource version: ${err.requested} (${err.compacted})`));
          else close();
        },
      });
    } catch (e) {
      if (e instanceof CompactedError) {
        fail(errors.expired(`too old resource version: ${e.requested} (${e.compacted})`));
        return;
      }
      close();
      throw e;
    }

    if (p.allowWatchBookmarks) {
      const tick = () => {
        if (closed || tooSlow()) return;
        bookmark();
        timers[0] = setTimeout(tick, this.config.bookmarkIntervalMs);
      };
      timers[0] = setTimeout(tick, this.config.bookmarkIntervalMs);
    }
    const timeout = p.timeoutSeconds && p.timeoutSeconds > 0 ? p.timeoutSeconds : this.config.defaultTimeoutSeconds();
    timers.push(setTimeout(close, timeout * 1000));
  }
}

/**
 * Parsed views of one store event, shared by every watcher that receives it, and the JSON watch
 * lines made of it so far (by event type and view): watchers of one event differ only in the
 * type their selectors give it.
 */
interface EventViews {
  cur: StoredObject;
  prev?: StoredObject;
  lines?: Map<string, Buffer>;
}

const views = new WeakMap<StoreEvent, EventViews>();

function viewsOf(ev: StoreEvent, prefix: string): EventViews {
  let v = views.get(ev);
  if (!v) {
    v = { cur: new StoredObject(ev.kv, prefix), prev: ev.prev ? new StoredObject(ev.prev, prefix) : undefined };
    views.set(ev, v);
  }
  return v;
}

/** Views holding lines, dropped after the event-loop turn in which the store delivered their events. */
let withLines: EventViews[] = [];

function dropLines(): void {
  for (const v of withLines) v.lines = undefined;
  withLines = [];
}

/**
 * The JSON watch line of an event as bytes, made once per event, type and view and written to
 * every watcher as it is (no per-watcher string building and UTF-8 encoding). The store hands
 * an event to all its watchers in one turn, so the lines are kept for that turn only: the
 * store's ring of recent events does not hold a second copy of every object. `stored` is one of
 * the event's views (viewsOf has run for it), and `rv` is always the event's revision.
 */
function sharedLine(ev: StoreEvent, type: WatchEventType, stored: StoredObject, rv: number): Buffer {
  const v = views.get(ev)!;
  const key = stored === v.cur ? type : `${type}/prev`;
  let line = v.lines?.get(key);
  if (!line) {
    line = Buffer.from(jsonEventEncoder(type, () => stored.object, () => stored.json(rv)));
    if (!v.lines) {
      v.lines = new Map();
      if (withLines.length === 0) setImmediate(dropLines);
      withLines.push(v);
    }
    v.lines.set(key, line);
  }
  return line;
}

function withResourceVersion(o: KObject, rv: number): KObject {
  return { ...o, metadata: { ...o.metadata, resourceVersion: String(rv) } };
}

/**
 * A store event seen through a selector: upstream's watch cache conversion. An object that leaves
 * the selection, or is deleted, is sent as it was before, with the event's revision.
 */
function convertEvent(ev: StoreEvent, prefix: string, matches: (o: StoredObject) => boolean):
  { type: WatchEventType; stored: StoredObject; rv: number } | undefined {
  const { cur, prev } = viewsOf(ev, prefix);
  if (ev.type === 'delete') {
    const last = prev ?? cur;
    return matches(last) ? { type: 'DELETED', stored: last, rv: ev.revision } : undefined;
  }
  const curMatches = matches(cur);
  if (!prev) return curMatches ? { type: 'ADDED', stored: cur, rv: ev.revision } : undefined;
  const prevMatches = matches(prev);
  if (curMatches) return { type: prevMatches ? 'MODIFIED' : 'ADDED', stored: cur, rv: ev.revision };
  if (prevMatches) return { type: 'DELETED', stored: prev, rv: ev.revision };
  return undefined;
}
