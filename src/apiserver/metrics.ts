// Prometheus metrics of the API server, named after kube-apiserver's where one exists.
import { Registry, Counter, Histogram, Gauge, collectDefaultMetrics } from 'prom-client';
import type { Store } from '../store/types.js';
import type { ResourceType } from '../api/resources.js';
import type { WatchMetrics } from './watch.js';

export class ApiMetrics implements WatchMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<string>;
  private readonly duration: Histogram<string>;
  private readonly watchers: Gauge<string>;
  private readonly slowWatchers: Counter<string>;

  constructor(store: Store) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({
      name: 'apiserver_request_total', registers,
      help: 'Counter of apiserver requests broken out for each verb, group, version, resource, subresource, scope and HTTP response code.',
      labelNames: ['verb', 'group', 'version', 'resource', 'subresource', 'scope', 'code'],
    });
    this.duration = new Histogram({
      name: 'apiserver_request_duration_seconds', registers,
      help: 'Response latency distribution in seconds for each verb, group, version, resource, subresource and scope (watches excluded).',
      labelNames: ['verb', 'group', 'version', 'resource', 'subresource', 'scope'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    });
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

  observe(labels: { verb: string; group: string; version: string; resource: string; subresource: string; scope: string }, code: number, seconds?: number): void {
    this.requests.inc({ ...labels, code: String(code) });
    if (seconds !== undefined) this.duration.observe(labels, seconds);
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
