// Event recording for kubelite's components, after client-go's tools/record: core/v1 Events named
// `<object>.<hex nanoseconds>`, repeated events counted on one object (count, lastTimestamp),
// similar events with different messages combined, and a per-object spam filter. `kubectl describe`
// shows what this writes.
import type { RestClient } from './rest.js';
import { isNotFound } from './rest.js';
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

interface CoreEvent {
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
const AGGREGATE_WINDOW_MS = 10 * 60_000;
const AGGREGATE_THRESHOLD = 10;
const SPAM_BURST = 25;
const SPAM_REFILL_MS = 5 * 60_000;
/** Event writes in flight at once: a burst (a scheduler binding thousands of pods) must not queue behind one connection. */
const MAX_CONCURRENT_WRITES = 16;

const log = logger('events');

function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A Map that forgets its oldest entries beyond a size. */
class Lru<V> extends Map<string, V> {
  constructor(private readonly max: number) {
    super();
  }
  override set(k: string, v: V): this {
    if (this.has(k)) this.delete(k);
    super.set(k, v);
    if (this.size > this.max) this.delete(this.keys().next().value as string);
    return this;
  }
}

export class EventRecorder {
  /** Events already written, by their full identity (with message): repeats bump count. */
  private readonly seen = new Lru<{ name: string; namespace: string; count: number; firstTimestamp: string }>(MAX_LRU);
  /** Similar events (same object, type, reason): when messages keep changing, they are combined. */
  private readonly similar = new Lru<{ messages: Set<string>; since: number }>(MAX_LRU);
  private readonly buckets = new Lru<{ tokens: number; at: number }>(MAX_LRU);
  /** Writes of one event identity run in order (count updates); different ones run concurrently, up to a limit. */
  private readonly chains = new Map<string, Promise<void>>();
  private readonly pending = new Set<Promise<void>>();
  private active = 0;
  private readonly slots: (() => void)[] = [];

  constructor(private readonly client: RestClient, private readonly source: EventSource, private readonly now: () => Date = () => new Date()) {}

  /** Record an event about `obj`. Never throws; writes happen in order in the background. */
  event(obj: InvolvedObject, type: EventType, reason: string, message: string, fieldPath?: string): void {
    const t = this.now();
    const m = obj.metadata;
    const involved: Record<string, string> = {};
    if (obj.kind) involved.kind = obj.kind;
    if (m.namespace) involved.namespace = m.namespace;
    if (m.name) involved.name = m.name;
    if (m.uid) involved.uid = m.uid;
    if (obj.apiVersion) involved.apiVersion = obj.apiVersion;
    if (m.resourceVersion) involved.resourceVersion = m.resourceVersion;
    if (fieldPath) involved.fieldPath = fieldPath;
    const objectKey = [this.source.component, this.source.host ?? '', involved.kind, involved.namespace, involved.name, involved.uid, involved.apiVersion].join('\u0000');
    if (!this.allow(objectKey, t.getTime())) return;

    // Aggregation: the 10th different message for the same object/type/reason within 10 minutes
    // turns the series into one "(combined from similar events)" event.
    const similarKey = `${objectKey}\u0000${type}\u0000${reason}`;
    let group = this.similar.get(similarKey);
    if (!group || t.getTime() - group.since > AGGREGATE_WINDOW_MS) group = { messages: new Set(), since: t.getTime() };
    group.messages.add(message);
    this.similar.set(similarKey, group);
    const aggregated = group.messages.size >= AGGREGATE_THRESHOLD;
    const finalMessage = aggregated ? `(combined from similar events): ${message}` : message;
    const key = aggregated ? `${similarKey}\u0000(combined)` : `${similarKey}\u0000${message}`;

    const namespace = m.namespace || 'default';
    this.enqueue(key, () => this.write(key, {
      metadata: { name: `${m.name}.${(BigInt(t.getTime()) * 1_000_000n + BigInt(process.hrtime.bigint() % 1_000_000n)).toString(16)}`, namespace },
      involvedObject: involved,
      reason, message: finalMessage, type,
      source: this.source.host ? { component: this.source.component, host: this.source.host } : { component: this.source.component },
      firstTimestamp: rfc3339(t), lastTimestamp: rfc3339(t), count: 1,
      eventTime: null, reportingComponent: '', reportingInstance: '',
    }));
  }

  /** Resolves when everything recorded so far has been written (or failed). */
  async flush(): Promise<void> {
    while (this.pending.size) await Promise.all([...this.pending]);
  }

  private enqueue(key: string, work: () => Promise<void>): void {
    const prior = this.chains.get(key) ?? Promise.resolve();
    const next = prior.then(async () => {
      await this.acquire();
      try {
        await work();
      } finally {
        this.release();
      }
    });
    this.chains.set(key, next);
    this.pending.add(next);
    void next.finally(() => {
      this.pending.delete(next);
      if (this.chains.get(key) === next) this.chains.delete(key);
    });
  }

  private acquire(): Promise<void> {
    if (this.active < MAX_CONCURRENT_WRITES) {
      this.active++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.slots.push(() => { this.active++; resolve(); }));
  }

  private release(): void {
    this.active--;
    this.slots.shift()?.();
  }

  /** The spam filter: a token bucket per source and object (25 events, then one per 5 minutes). */
  private allow(key: string, now: number): boolean {
    const b = this.buckets.get(key) ?? { tokens: SPAM_BURST, at: now };
    b.tokens = Math.min(SPAM_BURST, b.tokens + (now - b.at) / SPAM_REFILL_MS);
    b.at = now;
    this.buckets.set(key, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  private async write(key: string, ev: CoreEvent): Promise<void> {
    const path = `/api/v1/namespaces/${ev.metadata.namespace}/events`;
    const prior = this.seen.get(key);
    try {
      if (prior) {
        const count = prior.count + 1;
        try {
          await this.client.patch(`${path}/${prior.name}`, { count, lastTimestamp: ev.lastTimestamp, message: ev.message }, 'strategic');
          this.seen.set(key, { ...prior, count });
          return;
        } catch (e) {
          // The event expired or was deleted: start a new one.
          if (!isNotFound(e)) throw e;
        }
      }
      await this.client.create(path, ev);
      this.seen.set(key, { name: ev.metadata.name, namespace: ev.metadata.namespace, count: 1, firstTimestamp: ev.firstTimestamp });
    } catch (e) {
      log.warn({ err: (e as Error).message, reason: ev.reason, object: ev.involvedObject.name }, 'could not write event');
    }
  }
}
