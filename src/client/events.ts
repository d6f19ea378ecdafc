// Event recording for kubelite's components, after client-go's tools/record: core/v1 Events named
// `<object>.<hex nanoseconds>`, passed through upstream's EventCorrelator before anything is
// written. The correlator (client-go tools/record/events_cache.go) does three things, in this order:
// aggregation (the 10th different message for one object and reason within 10 minutes turns the
// series into one "(combined from similar events)" event), counting (an event seen before is a
// PATCH of count and lastTimestamp on the first one, not a new object) and a spam filter (a token
// bucket per source and object: 25 events, then one per 5 minutes). The filter is what keeps a
// ReplicaSet scaling to 10,000 from writing 10,000 SuccessfulCreate events. `kubectl describe`
// shows what this writes.
import type { RestClient } from './rest.js';
import { isAlreadyExists, isNotFound } from './rest.js';
import { logger } from '../util/log.js';

export interface EventSource {
  /** e.g. `deployment-controller`, `default-scheduler`, `kubelet` */
  component: string;
  /** e.g. the node name for kubelets */
  host?: string;
}

export interface InvolvedObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name?: string; namespace?: string; uid?: string; resourceVersion?: string };
}

export type EventType = 'Normal' | 'Warning';

/** A core/v1 Event as the recorder writes it. */
export interface CoreEvent {
  metadata: { name: string; namespace: string };
  involvedObject: Record<string, string>;
  reason: string;
  message: string;
  source: { component: string; host?: string };
  firstTimestamp: string;
  lastTimestamp: string;
  count: number;
  type: EventType;
  eventTime: null;
  reportingComponent: string;
  reportingInstance: string;
}

/** Upstream's correlator constants (client-go tools/record/events_cache.go). */
const MAX_LRU = 4096;
const AGGREGATE_MAX_EVENTS = 10;
const AGGREGATE_INTERVAL_MS = 600_000;
const SPAM_BURST = 25;
const SPAM_QPS = 1 / 300;
const AGGREGATE_PREFIX = '(combined from similar events): ';
const STRATEGIC_MERGE_PATCH = 'application/strategic-merge-patch+json';
/** Event writes in flight at once: a burst (a scheduler binding thousands of pods) must not queue behind one connection. */
const MAX_CONCURRENT_WRITES = 16;
/**
 * Event writes in flight at once over all the recorders of one client. `up`'s hundred node agents
 * share one client: at 16 writes each they could keep 1,600 Events in flight in a rollout, and
 * every request in flight holds objects on the API server's thread that its young-generation
 * collections must copy. Waiting here, a write costs a closure in the component's thread and
 * nothing on the server's. 32, as the HTTP pool's connections per client (rest.ts). Measured on
 * the 10k workloads bench (12 interleaved pairs, ms of CPU per pod): V8's GC helper threads -0.15
 * (lower in every pair), the API thread -0.07, kl-sqlite +0.07 (Events commit in smaller groups),
 * kl-nodes +0.04; in all -0.13 +- 0.07 of 3.7; the rollout Ready sooner in every pair. A cap on every request
 * of a client (32, 64 or 128) cost the components and the store more than it saved. The price:
 * in a large rollout the Events are written late (at 100,000 pods still queued 60 s after all
 * were Ready); none is dropped, where upstream's broadcaster drops events beyond a 1,000 queue.
 */
export const MAX_CLIENT_EVENT_WRITES = 32;

const log = logger('events');

/** The last second formatted: events come in bursts, many within one second. */
let lastStamp = { second: NaN, text: '' };

function rfc3339(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second !== lastStamp.second) lastStamp = { second, text: new Date(second * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z') };
  return lastStamp.text;
}

/** `<name>.<hex nanoseconds>`; the sub-millisecond digits come from the monotonic clock so that events made within one millisecond differ. */
function eventName(objectName: string | undefined, ms: number): string {
  return `${objectName}.${(BigInt(ms) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n)).toString(16)}`;
}

// The correlator's three caches are upstream's: an LRU each (groupcache lru, 4096 entries; Get
// refreshes), keyed by the spam key (the source and the object), the aggregation key (that plus
// type, reason and the reporting controller) and the event key (that plus field path, type,
// reason and message). The last two extend the first, so each entry is filed under its object:
// one record per source and object holds that object's entries of all three caches, under the
// short rest of their keys. A kubelet's Pulled, Created and Started of one pod then keep one copy
// of the long part of their keys instead of seven, and an event builds one long key, not three.
// It matters where 100 simulated kubelets share one thread, each holding up to 3 × 4,096
// entries: after 100,000 pods they held about 300 MB there (1,070 bytes per event; now about
// 590). Each cache keeps its own recency list and evicts on its own, as upstream's three do.

/** What the correlator remembers about one source and involved object (one spam key). */
interface ObjectMemory {
  spamKey: string;
  /** Entries of the three caches under this object; the record goes when the last one does. */
  entries: number;
  bucket?: Remembered<SpamBucket>;
  groups?: Map<string, Remembered<AggregateGroup>>;
  observations?: Map<string, Remembered<Observation>>;
}

/** One entry of one of the caches, in that cache's recency list. */
interface Remembered<V> {
  object: ObjectMemory;
  /** The rest of the entry's key after the spam key ('' for the spam filter's). */
  rest: string;
  value: V;
  older?: Remembered<V>;
  newer?: Remembered<V>;
}

/** EventSourceObjectSpamFilter's token bucket. */
interface SpamBucket {
  tokens: number;
  at: number;
}

/** EventAggregator's record: the distinct messages seen in the window (at most 10, oldest first). */
interface AggregateGroup {
  messages: string[];
  last: number;
}

/** eventLogger's record of an event written before. */
interface Observation {
  count: number;
  firstTimestamp: string;
  name: string;
}

/** One cache's recency order, newest last, and its size bound. */
class RecencyList<V> {
  private newest?: Remembered<V>;
  private oldest?: Remembered<V>;
  private size = 0;
  constructor(private readonly max: number) {}

  /** Append a new entry; returns the least recently used one if the cache is now over its size. */
  add(e: Remembered<V>): Remembered<V> | undefined {
    e.older = this.newest;
    if (this.newest) this.newest.newer = e;
    else this.oldest = e;
    this.newest = e;
    if (++this.size <= this.max) return undefined;
    const evicted = this.oldest!;
    this.oldest = evicted.newer;
    this.oldest!.older = undefined;
    evicted.newer = undefined;
    this.size--;
    return evicted;
  }

  /** Mark an entry as just used. */
  touch(e: Remembered<V>): void {
    if (e === this.newest) return;
    // Not the newest, so it has a newer neighbour.
    e.newer!.older = e.older;
    if (e.older) e.older.newer = e.newer;
    else this.oldest = e.newer;
    e.older = this.newest;
    e.newer = undefined;
    this.newest!.newer = e;
    this.newest = e;
  }
}

// The keys upstream correlates by (getSpamKey, EventAggregatorByReasonFunc, getEventKey), as the
// spam key and the rest of the other two. Fields are separated by NUL, which none of them
// contains (a missing field is empty).
function spamKey(e: CoreEvent): string {
  return spamOf(e.source, e.involvedObject);
}

function spamOf(source: { component: string; host?: string }, o: Record<string, string>): string {
  return `${source.component}\0${source.host ?? ''}\0${o.kind ?? ''}\0${o.namespace ?? ''}\0${o.name ?? ''}\0${o.uid ?? ''}\0${o.apiVersion ?? ''}`;
}

/** How many distinct key rests one correlator shares at most before it starts over. */
const MAX_SHARED_RESTS = 1024;

/** What the correlator decided for one event: skip it, create it, or patch an earlier one (`update`). */
export type Correlation =
  | { skip: true }
  | { skip: false; event: CoreEvent; key: string; update: boolean };

/**
 * Upstream's EventCorrelator with its default options. Pure bookkeeping (no I/O), so that it can
 * be tested with a fake clock; `now` is in milliseconds.
 */
export class EventCorrelator {
  private readonly objects = new Map<string, ObjectMemory>();
  private readonly groupOrder = new RecencyList<AggregateGroup>(MAX_LRU);
  private readonly observationOrder = new RecencyList<Observation>(MAX_LRU);
  private readonly bucketOrder = new RecencyList<SpamBucket>(MAX_LRU);
  /**
   * One copy of each key rest: they repeat across objects (every pod of a Deployment gets the
   * same Pulled, Created and Started from its kubelet), and an entry keeps its rest as long as
   * it lives.
   */
  private sharedRests = new Map<string, string>();

  constructor(private readonly now: () => number = Date.now) {}

  /**
   * The key rests last made per reason (aggregation) and per message (events), with the fields
   * they were made of: a repeated event (every pod's Pulled, Created and Started) finds its rests
   * by one lookup of a short string instead of building and hashing the whole rest twice.
   */
  private aggregateRests = new Map<string, { type: string; reportingComponent: string; reportingInstance: string; rest: string }>();
  private eventRests = new Map<string, { fieldPath: string | undefined; type: string; reason: string; rest: string }>();

  private shared(rest: string): string {
    const known = this.sharedRests.get(rest);
    if (known !== undefined) return known;
    if (this.sharedRests.size >= MAX_SHARED_RESTS) this.sharedRests = new Map();
    this.sharedRests.set(rest, rest);
    return rest;
  }

  private aggregateRest(e: CoreEvent): string {
    const known = this.aggregateRests.get(e.reason);
    if (known !== undefined && known.type === e.type && known.reportingComponent === e.reportingComponent && known.reportingInstance === e.reportingInstance) return known.rest;
    const rest = this.shared(`${e.type}\0${e.reason}\0${e.reportingComponent}\0${e.reportingInstance}`);
    if (this.aggregateRests.size >= MAX_SHARED_RESTS) this.aggregateRests = new Map();
    this.aggregateRests.set(e.reason, { type: e.type, reportingComponent: e.reportingComponent, reportingInstance: e.reportingInstance, rest });
    return rest;
  }

  private eventRest(e: CoreEvent): string {
    const fieldPath = e.involvedObject.fieldPath;
    const known = this.eventRests.get(e.message);
    if (known !== undefined && known.fieldPath === fieldPath && known.type === e.type && known.reason === e.reason) return known.rest;
    const rest = this.shared(`${fieldPath ?? ''}\0${e.type}\0${e.reason}\0${e.message}`);
    if (this.eventRests.size >= MAX_SHARED_RESTS) this.eventRests = new Map();
    this.eventRests.set(e.message, { fieldPath, type: e.type, reason: e.reason, rest });
    return rest;
  }

  /**
   * Correlate one event. `spam` is its spam key (spamKey(incoming)) when the caller has it
   * already: the recorder keeps the last one it made, for the next event about the same object.
   */
  correlate(incoming: CoreEvent, spam = spamKey(incoming)): Correlation {
    const t = this.now();
    // The combined event keeps the source and object, so one spam key serves all three steps.
    let object = this.objects.get(spam);
    // Every field set at once, here and for entries: fields added later would live in a separate property array.
    if (!object) this.objects.set(spam, (object = { spamKey: spam, entries: 0, bucket: undefined, groups: undefined, observations: undefined }));
    const [aggregated, rest] = this.aggregate(object, incoming, t);
    const { event, update } = this.observe(object, aggregated, rest);
    // Filtered after counting, as upstream: a skipped repeat still raises the count the next written one carries.
    if (!this.accept(object, t)) return { skip: true };
    return { skip: false, event, key: `${spam}\0${rest}`, update };
  }

  /**
   * EventAggregate: the event itself and the rest of its event key, or, from the 10th message,
   * the combined event and the rest of the group's key.
   */
  private aggregate(object: ObjectMemory, e: CoreEvent, t: number): [CoreEvent, string] {
    const groupRest = this.aggregateRest(e);
    const groups = (object.groups ??= new Map());
    const entry = groups.get(groupRest);
    let group: AggregateGroup;
    if (!entry || t - entry.value.last > AGGREGATE_INTERVAL_MS) {
      // A new group, or one whose window ended: the window slides, measured from the group's latest event.
      group = { messages: [e.message], last: t };
      if (entry) {
        this.groupOrder.touch(entry);
        entry.value = group;
      } else this.remember(object, groups, this.groupOrder, groupRest, group);
    } else {
      this.groupOrder.touch(entry);
      group = entry.value;
      if (!group.messages.includes(e.message)) group.messages.push(e.message);
      group.last = t;
    }
    if (group.messages.length < AGGREGATE_MAX_EVENTS) return [e, this.eventRest(e)];
    // Keep the set from growing past the threshold (upstream pops an arbitrary member).
    group.messages.shift();
    const stamp = rfc3339(t);
    // Upstream builds the combined event afresh: no reporting controller or instance.
    return [{
      metadata: { name: eventName(e.involvedObject.name, t), namespace: e.metadata.namespace },
      involvedObject: e.involvedObject,
      reason: e.reason, message: AGGREGATE_PREFIX + e.message, type: e.type, source: e.source,
      firstTimestamp: stamp, lastTimestamp: stamp, count: 1,
      eventTime: null, reportingComponent: '', reportingInstance: '',
    }, groupRest];
  }

  /** eventObserve: a key seen before turns the event into an update of the first one (its name and firstTimestamp, count + 1). */
  private observe(object: ObjectMemory, e: CoreEvent, rest: string): { event: CoreEvent; update: boolean } {
    const observations = (object.observations ??= new Map());
    const entry = observations.get(rest);
    if (!entry) {
      this.remember(object, observations, this.observationOrder, rest, { count: e.count, firstTimestamp: e.firstTimestamp, name: e.metadata.name });
      return { event: e, update: false };
    }
    this.observationOrder.touch(entry);
    const last = entry.value;
    const event = { ...e, metadata: { ...e.metadata, name: last.name }, firstTimestamp: last.firstTimestamp, count: last.count + 1 };
    entry.value = { count: event.count, firstTimestamp: event.firstTimestamp, name: event.metadata.name };
    return { event, update: true };
  }

  /** EventSourceObjectSpamFilter: a token bucket per source and object, full at first. */
  private accept(object: ObjectMemory, t: number): boolean {
    let entry = object.bucket;
    if (entry) this.bucketOrder.touch(entry);
    else {
      entry = { object, rest: '', value: { tokens: SPAM_BURST, at: t }, older: undefined, newer: undefined };
      object.bucket = entry;
      object.entries++;
      this.forget(this.bucketOrder.add(entry));
    }
    const b = entry.value;
    b.tokens = Math.min(SPAM_BURST, b.tokens + ((t - b.at) / 1000) * SPAM_QPS);
    b.at = t;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** A new entry of one cache, filed under its object; the cache's least recently used entry goes if it is full. */
  private remember<V>(object: ObjectMemory, under: Map<string, Remembered<V>>, order: RecencyList<V>, rest: string, value: V): Remembered<V> {
    const entry: Remembered<V> = { object, rest, value, older: undefined, newer: undefined };
    under.set(rest, entry);
    object.entries++;
    this.forget(order.add(entry));
    return entry;
  }

  /** Drop an evicted entry from its object's record, and the record once it holds nothing. */
  private forget(evicted: Remembered<unknown> | undefined): void {
    if (!evicted) return;
    const object = evicted.object;
    if (object.bucket === evicted) object.bucket = undefined;
    else if (object.groups?.get(evicted.rest) === evicted) object.groups.delete(evicted.rest);
    else object.observations?.delete(evicted.rest);
    if (--object.entries === 0) this.objects.delete(object.spamKey);
  }
}

/**
 * A first-in first-out queue. Array.shift copies the whole array once it is long, and a burst
 * (a scheduler binding thousands of pods) queues thousands of writes.
 */
class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  push(item: T): void {
    this.items.push(item);
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    // Drop the consumed front now and then, so that the array does not grow for ever.
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}

/** The event write slots of one client, shared by its recorders: how many are taken, and the writes waiting for one. */
interface WriteSlots {
  active: number;
  waiting: Fifo<() => void>;
}

const clientSlots = new WeakMap<RestClient, WriteSlots>();

function slotsOf(client: RestClient): WriteSlots {
  let slots = clientSlots.get(client);
  if (!slots) clientSlots.set(client, (slots = { active: 0, waiting: new Fifo() }));
  return slots;
}

/** A write slot of `slots` is free: it passes to the oldest waiting write, if any. */
function releaseSlot(slots: WriteSlots): void {
  const next = slots.waiting.shift();
  if (next) next();
  else slots.active--;
}

/** A write the correlator decided on: create the event, or patch the count of an earlier one. */
interface EventWrite {
  event: CoreEvent;
  update: boolean;
}

export class EventRecorder {
  private readonly correlator: EventCorrelator;
  /**
   * Writes for one correlation key run in order (a create before the patches of its count);
   * different keys run concurrently, up to MAX_CONCURRENT_WRITES. A key is here while one of its
   * writes is in flight or waiting for a slot, with the writes queued behind that one.
   */
  private readonly keys = new Map<string, EventWrite[]>();
  /** Keys whose next write waits for a free slot, oldest first. */
  private readonly waiting = new Fifo<string>();
  private active = 0;
  /**
   * The involved object and spam key of the last event, with what they were made of: events come
   * in runs about one object (a kubelet's Pulled, Created, Started), which then share both.
   */
  private last?: { kind?: string; apiVersion?: string; name?: string; namespace?: string; uid?: string; resourceVersion?: string; fieldPath?: string; involved: Record<string, string>; spam: string };
  /** The event write slots of this recorder's client (MAX_CLIENT_EVENT_WRITES), shared with its other recorders. */
  private readonly slots: WriteSlots;
  /** Writes recorded and not yet finished: flush() waits for none. */
  private unfinished = 0;
  private flushed: (() => void)[] = [];

  constructor(private readonly client: RestClient, private readonly source: EventSource, private readonly now: () => Date = () => new Date()) {
    this.correlator = new EventCorrelator(() => this.now().getTime());
    this.slots = slotsOf(client);
  }

  /** Record an event about `obj`. Never throws; writes happen in the background. */
  event(obj: InvolvedObject, type: EventType, reason: string, message: string, fieldPath?: string): void {
    const t = this.now().getTime();
    const m = obj.metadata;
    let last = this.last;
    if (last === undefined || last.kind !== obj.kind || last.apiVersion !== obj.apiVersion || last.name !== m.name || last.namespace !== m.namespace
      || last.uid !== m.uid || last.resourceVersion !== m.resourceVersion || last.fieldPath !== fieldPath) {
      const involved: Record<string, string> = {};
      if (obj.kind) involved.kind = obj.kind;
      if (m.namespace) involved.namespace = m.namespace;
      if (m.name) involved.name = m.name;
      if (m.uid) involved.uid = m.uid;
      if (obj.apiVersion) involved.apiVersion = obj.apiVersion;
      if (m.resourceVersion) involved.resourceVersion = m.resourceVersion;
      if (fieldPath) involved.fieldPath = fieldPath;
      // The spam key is of the source and the object only (not its resourceVersion or field path).
      const spam = last !== undefined && last.kind === obj.kind && last.apiVersion === obj.apiVersion && last.name === m.name && last.namespace === m.namespace && last.uid === m.uid
        ? last.spam : spamOf(this.source, involved);
      this.last = last = { kind: obj.kind, apiVersion: obj.apiVersion, name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion, fieldPath, involved, spam };
    }
    // Shared by the events of one run: nothing modifies a recorded event's involvedObject.
    const involved = last.involved;
    const stamp = rfc3339(t);
    const result = this.correlator.correlate({
      // Events about cluster-scoped objects live in `default`.
      metadata: { name: eventName(m.name, t), namespace: m.namespace || 'default' },
      involvedObject: involved,
      reason, message, type,
      source: this.source.host ? { component: this.source.component, host: this.source.host } : { component: this.source.component },
      firstTimestamp: stamp, lastTimestamp: stamp, count: 1,
      eventTime: null, reportingComponent: this.source.component, reportingInstance: this.source.host ?? '',
    }, last.spam);
    if (result.skip) return;
    this.enqueue(result.key, { event: result.event, update: result.update });
  }

  /** Resolves when everything recorded so far has been written (or failed). */
  flush(): Promise<void> {
    if (this.unfinished === 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.flushed.push(resolve));
  }

  // The queue is plain bookkeeping rather than a promise chain per key: three promises and two
  // closures per event added up where a scheduler or a thread of kubelets records thousands.
  private enqueue(key: string, w: EventWrite): void {
    this.unfinished++;
    const queued = this.keys.get(key);
    // Behind a write of the same key: it starts once that one is done.
    if (queued) return void queued.push(w);
    this.keys.set(key, [w]);
    this.startOrWait(key);
  }

  /** Start the next write of `key` in a free slot, or queue the key for one. */
  private startOrWait(key: string): void {
    if (this.active >= MAX_CONCURRENT_WRITES) return this.waiting.push(key);
    this.active++;
    const w = this.keys.get(key)![0]!;
    const finished = () => this.done(key);
    // write() reports its failures itself; the second handler is for safety only.
    void this.write(w.event, w.update).then(finished, finished);
  }

  /** A write of `key` finished: the key's next write, or the key goes; the slot goes to the longest waiting key. */
  private done(key: string): void {
    this.active--;
    this.unfinished--;
    const queued = this.keys.get(key)!;
    queued.shift();
    if (queued.length) this.waiting.push(key);
    else this.keys.delete(key);
    const next = this.waiting.shift();
    if (next !== undefined) this.startOrWait(next);
    if (this.unfinished === 0 && this.flushed.length) {
      const waiters = this.flushed;
      this.flushed = [];
      for (const resolve of waiters) resolve();
    }
  }

  /**
   * recordEvent: an update patches count, lastTimestamp and message of the first event; if that is
   * gone (expired), the event is created again under its name with the count it has reached.
   * Failures are logged, not retried (upstream retries transport errors; the API is local here).
   */
  private async write(ev: CoreEvent, update: boolean): Promise<void> {
    const path = `/api/v1/namespaces/${ev.metadata.namespace}/events`;
    const slots = this.slots;
    if (slots.active < MAX_CLIENT_EVENT_WRITES) slots.active++;
    else await new Promise<void>((resolve) => slots.waiting.push(resolve));
    // The written event is never read back: its answer is not decoded (ignoreResult).
    try {
      if (update) {
        try {
          await this.client.request('PATCH', `${path}/${ev.metadata.name}`, {
            body: { count: ev.count, lastTimestamp: ev.lastTimestamp, message: ev.message }, contentType: STRATEGIC_MERGE_PATCH, ignoreResult: true,
          });
          return;
        } catch (e) {
          if (!isNotFound(e)) throw e;
        }
      }
      await this.client.request('POST', path, { body: ev, ignoreResult: true });
    } catch (e) {
      // AlreadyExists: another write of this event won; upstream drops it quietly too.
      if (isAlreadyExists(e)) return;
      log.warn({ err: (e as Error).message, reason: ev.reason, object: ev.involvedObject.name }, 'could not write event');
    } finally {
      releaseSlot(slots);
    }
  }
}
