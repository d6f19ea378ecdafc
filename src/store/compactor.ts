// Periodic compaction for any Store: keep at least `retentionMs` of history and at least
// `retentionRevisions` revisions, whichever is more, so that watchers that reconnect and lists
// that page slowly rarely meet 410 Gone, while the history does not grow without bound.
//
// A store does not know when a revision was written, so the compactor samples
// (time, current revision) at every pass; the revisions that are older than retentionMs are
// those at or below the newest sample taken at least retentionMs ago.
import { logger } from '../util/log.js';
import type { Store } from './types.js';

export interface CompactorOptions {
  /** Keep at least this much time of history (default 5 minutes). */
  retentionMs?: number;
  /** Keep at least this many revisions of history (default 10,000). */
  retentionRevisions?: number;
  /** Time between passes (default 60 s). */
  intervalMs?: number;
  /** The clock, in milliseconds (tests inject one). */
  now?: () => number;
}

export interface Compactor {
  /** Stops the timer; a pass under way finishes. */
  stop(): void;
  /** Runs one pass now (the timer runs the same); resolves when it is done. */
  tick(): Promise<void>;
}

const log = logger('store-compactor');

export function startCompactor(store: Store, opts: CompactorOptions = {}): Compactor {
  const retentionMs = opts.retentionMs ?? 5 * 60_000;
  const retentionRevisions = opts.retentionRevisions ?? 10_000;
  const intervalMs = opts.intervalMs ?? 60_000;
  const now = opts.now ?? Date.now;
  /** Oldest first; only the newest sample older than retentionMs and the later ones are kept. */
  const samples: { time: number; revision: number }[] = [];
  let running: Promise<void> | undefined;

  async function pass(): Promise<void> {
    const time = now();
    const current = await store.currentRevision();
    samples.push({ time, revision: current });
    let oldEnough = -1;
    for (let i = 0; i < samples.length && samples[i]!.time <= time - retentionMs; i++) oldEnough = i;
    if (oldEnough < 0) return;
    samples.splice(0, oldEnough);
    const target = Math.min(samples[0]!.revision, current - retentionRevisions);
    if (target <= 0 || target <= (await store.compactRevision())) return;
    await store.compact(target);
    log.debug({ revision: target, current }, 'compacted store history');
  }

  function tick(): Promise<void> {
    running ??= pass()
      .catch((err: unknown) => log.warn({ err }, 'store compaction failed'))
      .finally(() => (running = undefined));
    return running;
  }

  const timer = setInterval(tick, intervalMs);
  // Compaction is housekeeping: it must not keep a process alive that is otherwise done.
  timer.unref();
  void tick();
  return { stop: () => clearInterval(timer), tick };
}
