// Messages between the userspace proxy's primary (worker-pool.ts) and its worker processes
// (worker-main.ts) over the child_process IPC channel. The channel keeps order, which the design
// leans on: a worker sees a balancer's new endpoints before any answer picked among them.
import type { BalanceMode } from './balancer.js';
import type { ProxyEndpoint } from './endpoints.js';
import type { ProxyCounters } from './metrics.js';

/** Primary → worker. */
export type ToWorker =
  /** Create or update the worker's copy of balancer `id`. */
  | { t: 'balancer'; id: number; mode: BalanceMode; affinityMs?: number; endpoints: ProxyEndpoint[] }
  /** No listener uses balancer `id` any more. */
  | { t: 'drop'; id: number }
  /** Listen on the bound socket sent with this message (key: the primary's listener id). */
  | { t: 'listen'; key: number; balancer: number }
  /** New connections on listener `key` go through balancer `balancer` from now on. */
  | { t: 'route'; key: number; balancer: number }
  /** Stop accepting on listener `key`; relayed connections carry on. */
  | { t: 'close'; key: number }
  /** The answer to a `pick`: the endpoint's key, none when no endpoint is usable. */
  | { t: 'picked'; req: number; endpoint?: string }
  /** Report your counters. */
  | { t: 'counters'; req: number }
  /** Hand `count` settled connections over to other workers (send them back as `moving`). */
  | { t: 'shed'; count: number }
  /** One socket of a connection another worker relayed (`id` pairs the two), sent with this message. */
  | { t: 'adopt'; id: string; side: MovingSide };

/** Worker → primary. */
export type FromWorker =
  /** Handlers are installed: state may be sent. */
  | { t: 'ready' }
  | { t: 'listening'; key: number; error?: { code: string; message: string } }
  | { t: 'closed'; key: number }
  /** ClientIP affinity without a valid local pin: the primary's table decides. */
  | { t: 'pick'; req: number; balancer: number; clientIP: string; exclude?: string[] }
  /** Local pins used since the last report: [balancer, clientIP, endpoint key, time in ms]. */
  | { t: 'touch'; uses: [number, string, string, number][] }
  | { t: 'counters'; req: number; counters: ProxyCounters }
  /** Settled connections (tcp.ts: lived a while, could move) relayed now; sent when it changes. */
  | { t: 'load'; settled: number }
  /** One socket of a connection this worker stopped relaying, sent with this message, for another. */
  | { t: 'moving'; id: string; side: MovingSide };

export type MovingSide = 'client' | 'upstream';

/** A socket handle as it travels between processes: all a sender or receiver does with it is close it. */
export interface MovedHandle {
  close(): void;
}
