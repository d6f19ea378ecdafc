// Running a controller: workers take keys from its queue and call its reconcile(key). A failed
// reconcile is retried with back-off; reconcile is idempotent and recomputes everything from the
// informers' caches, so a restart or a missed event heals itself.
import type { WorkQueue } from './workqueue.js';
import { logger, type Logger } from '../util/log.js';

export interface Reconciler {
  readonly name: string;
  readonly queue: WorkQueue;
  /** Start informers and register handlers; resolves when caches have synced. */
  start(): Promise<void>;
  reconcile(key: string): Promise<void>;
  /** Stop informers and timers. */
  stop(): void;
}

/** Run `workers` loops over the reconciler's queue until the queue shuts down. */
export async function runWorkers(r: Reconciler, workers = 1, log: Logger = logger(r.name)): Promise<void> {
  const worker = async () => {
    for (;;) {
      const key = await r.queue.get();
      if (key === undefined) return;
      try {
        await r.reconcile(key);
        r.queue.forget(key);
      } catch (e) {
        log.warn({ key, retries: r.queue.retries(key), err: (e as Error).message }, 'reconcile failed; will retry');
        r.queue.addRateLimited(key);
      } finally {
        r.queue.done(key);
      }
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
}

/** Start a reconciler and its workers; the returned stop() ends both. */
export async function startController(r: Reconciler, workers = 1): Promise<{ stop(): void; done: Promise<void> }> {
  await r.start();
  const done = runWorkers(r, workers);
  return {
    done,
    stop() {
      r.queue.shutDown();
      r.stop();
    },
  };
}
