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

/** A Map that forgets its least recently used entries beyond a size (upstream's groupcache lru: Get refreshes). */
class Lru<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly max: number) {}
  get(k: string): V | undefined {
    const v = this.map.get(k);
    if (v !== undefined) {
      this.map.delete(k);
      this.map.set(k, v);
    }
    return v;
  }
  set(k: string, v: V): void {
    this.map.delete(k);
    this.map.set(k, v);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value as string);
  }
}

// The keys upstream correlates by (getEventKey, getSpamKey, EventAggregatorByReasonFunc): the
// spam key is the source and the object; aggregation adds type, reason and the reporting
// controller; counting adds the field path and the message. Fields are separated by NUL, which
// none of them contains (a missing field is empty).
function spamKey(e: CoreEvent): string {
  const o = e.involvedObject;
  return `${e.source.component}\0${e.source.host ?? ''}\0${o.kind ?? ''}\0${o.namespace ?? ''}\0${o.name ?? ''}\0${o.uid ?? ''}\0${o.apiVersion ?? ''}`;
}

function aggregateKey(e: CoreEvent, spam: string): string {
  return `${spam}\0${e.type}\0${e.reason}\0${e.reportingComponent}\0${e.reportingInstance}`;
}

function eventKey(e: CoreEvent, spam: string): string {
  return `${spam}\0${e.involvedObject.fieldPath ?? ''}\0${e.type}\0${e.reason}\0${e.message}`;
}

/** What the correlator decided for one event: skip it, create it, or patch an earlier one (`update`). */
export type Correlation =
  | { skip: true }
  | { skip: false; event: CoreEvent; key: string; update: boolean };

/**
 * Upstream's EventCorrelator with its default options. Pure bookkeeping (no I/O), so that it can
 * be tested with a fake clock; `now` is in milliseconds.
 */
export class EventCorrelator {
  private readonly aggregates = new Lru<{ messages: Set<string>; last: number }>(MAX_LRU);
  private readonly observations = new Lru<{ count: number; firstTimestamp: string; name: string }>(MAX_LRU);
  private readonly buckets = new Lru<{ tokens: number; at: number }>(MAX_LRU);

  constructor(private readonly now: () => number = Date.now) {}

  correlate(incoming: CoreEvent): Correlation {
    const t = this.now();
    // The combined event keeps the source and object, so one spam key serves all three steps.
    const spam = spamKey(incoming);
    const [aggregated, key] = this.aggregate(incoming, spam, t);
    const { event, update } = this.observe(aggregated, key);
    // Filtered after counting, as upstream: a skipped repeat still raises the count the next written one carries.
    if (!this.accept(spam, t)) return { skip: true };
    return { skip: false, event, key, update };
  }

  /** EventAggregate: the event itself and its full key, or, from the 10th message, the combined event and the group's key. */
  private aggregate(e: CoreEvent, spam: string, t: number): [CoreEvent, string] {
    const groupKey = aggregateKey(e, spam);
    let group = this.aggregates.get(groupKey);
    // The window slides: it is measured from the group's latest event, not its first.
    if (!group || t - group.last > AGGREGATE_INTERVAL_MS) group = { messages: new Set(), last: t };
    group.messages.add(e.message);
    group.last = t;
    this.aggregates.set(groupKey, group);
    if (group.messages.size < AGGREGATE_MAX_EVENTS) return [e, eventKey(e, spam)];
    // Keep the set from growing past the threshold (upstream pops an arbitrary member).
    group.messages.delete(group.messages.values().next().value as string);
    const stamp = rfc3339(t);
    // Upstream builds the combined event afresh: no reporting controller or instance.
    return [{
      metadata: { name: eventName(e.involvedObject.name, t), namespace: e.metadata.namespace },
      involvedObject: e.involvedObject,
      reason: e.reason, message: AGGREGATE_PREFIX + e.message, type: e.type, source: e.source,
      firstTimestamp: stamp, lastTimestamp: stamp, count: 1,
      eventTime: null, reportingComponent: '', reportingInstance: '',
    }, groupKey];
  }

  /** eventObserve: a key seen before turns the event into an update of the first one (its name and firstTimestamp, count + 1). */
  private observe(e: CoreEvent, key: string): { event: CoreEvent; update: boolean } {
    const last = this.observations.get(key);
    const event = last
      ? { ...e, metadata: { ...e.metadata, name: last.name }, firstTimestamp: last.firstTimestamp, count: last.count + 1 }
      : e;
    this.observations.set(key, { count: event.count, firstTimestamp: event.firstTimestamp, name: event.metadata.name });
    return { event, update: !!last };
  }

  /** EventSourceObjectSpamFilter: a token bucket per source and object, full at first. */
  private accept(key: string, t: number): boolean {
    const b = this.buckets.get(key) ?? { tokens: SPAM_BURST, at: t };
    b.tokens = Math.min(SPAM_BURST, b.tokens + ((t - b.at) / 1000) * SPAM_QPS);
    b.at = t;
    this.buckets.set(key, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
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

export class EventRecorder {
  private readonly correlator: EventCorrelator;
  /** Writes for one correlation key run in order (a create before the patches of its count); different keys run concurrently, up to a limit. */
  private readonly chains = new Map<string, Promise<void>>();
  private readonly pending = new Set<Promise<void>>();
  private active = 0;
  /** Writes waiting for one of the MAX_CONCURRENT_WRITES slots, oldest first. */
  private readonly waiting = new Fifo<() => void>();

  constructor(private readonly client: RestClient, private readonly source: EventSource, private readonly now: () => Date = () => new Date()) {
    this.correlator = new EventCorrelator(() => this.now().getTime());
  }

  /** Record an event about `obj`. Never throws; writes happen in the background. */
  event(obj: InvolvedObject, type: EventType, reason: string, message: string, fieldPath?: string): void {
    const t = this.now().getTime();
    const m = obj.metadata;
    const involved: Record<string, string> = {};
    if (obj.kind) involved.kind = obj.kind;
    if (m.namespace) involved.namespace = m.namespace;
    if (m.name) involved.name = m.name;
    if (m.uid) involved.uid = m.uid;
    if (obj.apiVersion) involved.apiVersion = obj.apiVersion;
    if (m.resourceVersion) involved.resourceVersion = m.resourceVersion;
    if (fieldPath) involved.fieldPath = fieldPath;
    const stamp = rfc3339(t);
    const result = this.correlator.correlate({
      // Events about cluster-scoped objects live in `default`.
      metadata: { name: eventName(m.name, t), namespace: m.namespace || 'default' },
      involvedObject: involved,
      reason, message, type,
      source: this.source.host ? { component: this.source.component, host: this.source.host } : { component: this.source.component },
      firstTimestamp: stamp, lastTimestamp: stamp, count: 1,
      eventTime: null, reportingComponent: this.source.component, reportingInstance: this.source.host ?? '',
    });
    if (result.skip) return;
    const { event, key, update } = result;
    this.enqueue(key, () => this.write(event, update));
  }

  /** Resolves when everything recorded so far has been written (or failed). */
  async flush(): Promise<void> {
    while (this.pending.size) await Promise.all([...this.pending]);
  }

  private enqueue(key: string, work: () => Promise<void>): void {
    const prior = this.chains.get(key);
    const next = prior ? prior.then(() => this.limited(work)) : this.limited(work);
    this.chains.set(key, next);
    this.pending.add(next);
    void next.finally(() => {
      this.pending.delete(next);
      if (this.chains.get(key) === next) this.chains.delete(key);
    });
  }

  /** Run `work` in a free slot, or once one is handed over by a write that finished. */
  private async limited(work: () => Promise<void>): Promise<void> {
    if (this.active < MAX_CONCURRENT_WRITES) this.active++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      await work();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }

  /**
   * recordEvent: an update patches count, lastTimestamp and message of the first event; if that is
   * gone (expired), the event is created again under its name with the count it has reached.
   * Failures are logged, not retried (upstream retries transport errors; the API is local here).
   */
  private async write(ev: CoreEvent, update: boolean): Promise<void> {
    const path = `/api/v1/namespaces/${ev.metadata.namespace}/events`;
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
    }
  }
}
