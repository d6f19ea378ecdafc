// The namespace lifecycle check of every namespaced create (upstream's NamespaceLifecycle
// admission): the namespace must exist and not be terminating. Like upstream, it answers from a
// watch-fed cache, so the hot create path does no store read; a namespace the cache has not
// seen yet (created a moment ago) is looked up in the store.
import type { Store, Watch } from '../store/types.js';
import type { KObject } from '../api/types.js';
import type { Logger } from '../util/log.js';

const PREFIX = '/registry/namespaces/';

export type NamespaceState = 'active' | 'terminating' | 'missing';

function stateOf(value: string): NamespaceState {
  return (JSON.parse(value) as KObject).metadata.deletionTimestamp ? 'terminating' : 'active';
}

export class NamespaceCache {
  private readonly states = new Map<string, NamespaceState>();
  private watch?: Watch;
  private stopped = false;

  constructor(private readonly store: Store, private readonly log: Logger) {}

  async start(): Promise<void> {
    const listed = await this.store.list(PREFIX);
    this.states.clear();
    for (const kv of listed.items) this.states.set(kv.key.slice(PREFIX.length), stateOf(kv.value));
    this.watch = this.store.watch(PREFIX, {
      fromRevision: listed.revision,
      onEvents: (events) => {
        for (const ev of events) {
          const name = ev.key.slice(PREFIX.length);
          if (ev.type === 'delete') this.states.delete(name);
          else this.states.set(name, stateOf(ev.kv.value));
        }
      },
      onError: (err) => {
        if (this.stopped) return;
        // Fall back to store reads until the cache is rebuilt.
        this.watch = undefined;
        this.states.clear();
        this.log.warn({ err: err.message }, 'namespace cache watch ended; rebuilding');
        setTimeout(() => void this.start().catch(() => {}), 100);
      },
    });
  }

  stop(): void {
    this.stopped = true;
    this.watch?.cancel();
  }

  async state(name: string): Promise<NamespaceState> {
    const cached = this.watch ? this.states.get(name) : undefined;
    if (cached) return cached;
    const kv = await this.store.get(PREFIX + name);
    return kv ? stateOf(kv.value) : 'missing';
  }
}
