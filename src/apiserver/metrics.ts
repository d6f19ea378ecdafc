// Prometheus metrics of the API server, named after kube-apiserver's where one exists.
import { Registry, Counter, Gauge, collectDefaultMetrics, type Metric } from 'prom-client';
import type { Store } from '../store/types.js';
import type { ResourceType } from '../api/resources.js';
import type { WatchMetrics } from './watch.js';

export interface RequestLabels {
  verb: string;
  group: string;
  version: string;
  resource: string;
  subresource: string;
  scope: string;
}

const REQUEST_LABELS = ['verb', 'group', 'version', 'resource', 'subresource', 'scope'] as const;
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** A histogram's values in the form prom-client's Registry reads from a metric's get(). */
interface HistogramSnapshot {
  name: string;
  help: string;
  type: 'histogram';
  values: { metricName: string; labels: Record<string, string | number>; value: number }[];
  aggregator: 'sum';
}

/** What one label combination of the request metrics has counted. */
interface RequestTally {
  labels: RequestLabels;
  /** Requests by response code. */
  byCode: Map<number, number>;
  /** Observed durations: counts per bucket (not cumulative), their sum and count. */
  buckets: number[];
  sum: number;
  count: number;
}

/**
 * The request counter and latency histogram. Every request updates them, and prom-client
 * validates and hashes a label object on each inc/observe (about 5 µs a request); here a
 * request finds its tally by one joined key, and the counts become prom-client metrics only when
 * /metrics is read. The text is the one prom-client's Counter and Histogram would write.
 */
class RequestMetrics {
  private readonly tallies = new Map<string, RequestTally>();

  observe(labels: RequestLabels, code: number, seconds?: number): void {
    const key = `${labels.verb} ${labels.group} ${labels.version} ${labels.resource} ${labels.subresource} ${labels.scope}`;
    let t = this.tallies.get(key);
    if (!t) {
      t = { labels: { ...labels }, byCode: new Map(), buckets: DURATION_BUCKETS.map(() => 0), sum: 0, count: 0 };
      this.tallies.set(key, t);
    }
    t.byCode.set(code, (t.byCode.get(code) ?? 0) + 1);
    if (seconds === undefined) return;
    const b = DURATION_BUCKETS.findIndex((upper) => seconds <= upper);
    if (b >= 0) t.buckets[b]!++;
    t.sum += seconds;
    t.count++;
  }

  /** Replays the counts into a prom-client Counter labelled with `code` as well (at scrape time). */
  fillCounter(c: Counter<string>): void {
    c.reset();
    for (const t of this.tallies.values()) for (const [code, n] of t.byCode) c.inc({ ...t.labels, code: String(code) }, n);
  }

  /** The histogram as prom-client's Histogram reports it: cumulative buckets, then +Inf, sum and count. */
  histogram(name: string, help: string): HistogramSnapshot {
    const values: HistogramSnapshot['values'] = [];
    for (const t of this.tallies.values()) {
      if (t.count === 0) continue;
      let acc = 0;
      DURATION_BUCKETS.forEach((upper, i) => {
        acc += t.buckets[i]!;
        values.push({ metricName: `${name}_bucket`, labels: { le: upper, ...t.labels }, value: acc });
      });
      values.push({ metricName: `${name}_bucket`, labels: { le: '+Inf', ...t.labels }, value: t.count });
      values.push({ metricName: `${name}_sum`, labels: { ...t.labels }, value: t.sum });
      values.push({ metricName: `${name}_count`, labels: { ...t.labels }, value: t.count });
    }
    return { name, help, type: 'histogram', values, aggregator: 'sum' };
  }
}

export class ApiMetrics implements WatchMetrics {
  readonly registry = new Registry();
  private readonly requestMetrics = new RequestMetrics();
  private readonly watchers: Gauge<string>;
  private readonly slowWatchers: Counter<string>;

  constructor(store: Store) {
    const registers = [this.registry];
    const requestMetrics = this.requestMetrics;
    collectDefaultMetrics({ register: this.registry });
    new Counter({
      name: 'apiserver_request_total', registers,
      help: 'Counter of apiserver requests broken out for each verb, group, version, resource, subresource, scope and HTTP response code.',
      labelNames: [...REQUEST_LABELS, 'code'],
      collect() { requestMetrics.fillCounter(this); },
    });
    const durationName = 'apiserver_request_duration_seconds';
    const durationHelp = 'Response latency distribution in seconds for each verb, group, version, resource, subresource and scope (watches excluded).';
    this.registry.registerMetric({
      name: durationName,
      get: async () => requestMetrics.histogram(durationName, durationHelp),
    } as unknown as Metric);
    this.watchers = new Gauge({
      name: 'apiserver_registered_watchers', registers,
      help: 'Number of currently open watch streams for a given resource.',
      labelNames: ['group', 'version', 'kind'],
    });
    this.slowWatchers = new Counter({
      name: 'apiserver_terminated_watchers_total', registers,
      help: 'Counter of watchers closed because they could not keep up.',
      labelNames: ['resource'],
    });
    new Gauge({
      name: 'kubelite_store_revision', registers,
      help: 'The latest store revision this API server has observed.',
      async collect() { this.set(await store.currentRevision()); },
    });
    new Gauge({
      name: 'kubelite_store_compact_revision', registers,
      help: 'The revision up to which the store history has been compacted.',
      async collect() { this.set(await store.compactRevision()); },
    });
    if (store.stats) {
      const stats = store.stats.bind(store);
      new Counter({
        name: 'kubelite_store_commits_total', registers,
        help: 'Write transactions committed by the store (concurrent writes share one: group commit).',
        collect() { this.reset(); this.inc(stats().commits); },
      });
      new Counter({
        name: 'kubelite_store_writes_total', registers,
        help: 'Writes committed by the store.',
        collect() { this.reset(); this.inc(stats().writes); },
      });
    }
    new Gauge({
      name: 'apiserver_storage_size_bytes', registers,
      help: 'Size of the storage database file physically allocated in bytes.',
      async collect() { this.set(await store.sizeBytes()); },
    });
  }

  observe(labels: RequestLabels, code: number, seconds?: number): void {
    this.requestMetrics.observe(labels, code, seconds);
  }

  opened(r: ResourceType): void {
    this.watchers.inc({ group: r.group, version: r.version, kind: r.kind });
  }

  closed(r: ResourceType): void {
    this.watchers.dec({ group: r.group, version: r.version, kind: r.kind });
  }

  slowWatcherClosed(r: ResourceType): void {
    this.slowWatchers.inc({ resource: r.plural });
  }
}
