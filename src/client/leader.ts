// Leader election on coordination.k8s.io/v1 Leases, after client-go's leaderelection: the holder
// renews the Lease every retry period; another candidate takes over once renewTime +
// leaseDuration has passed; writes use the Lease's resourceVersion, so two candidates can never
// both win the same round.
import type { RestClient } from './rest.js';
import { isConflict, isNotFound, isAlreadyExists } from './rest.js';
import { logger } from '../util/log.js';

export interface LeaderElectionConfig {
  namespace: string;
  name: string;
  identity: string;
  /** How long a Lease is valid after its last renewal (client-go default 15 s). */
  leaseDurationMs: number;
  /** The leader gives up if it could not renew for this long (default 10 s). */
  renewDeadlineMs: number;
  /** Time between attempts (default 2 s). */
  retryPeriodMs: number;
  onStartedLeading(): void;
  onStoppedLeading(): void;
}

export const LEADER_DEFAULTS = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };

interface Lease {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: { holderIdentity?: string; leaseDurationSeconds?: number; acquireTime?: string; renewTime?: string; leaseTransitions?: number };
}

const log = logger('leader-election');

/** MicroTime, as Leases carry it: RFC 3339 with microseconds. */
function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class LeaderElector {
  private timer?: NodeJS.Timeout;
  private leading = false;
  private lastRenew = 0;
  private stopped = false;

  constructor(private readonly client: RestClient, private readonly cfg: LeaderElectionConfig) {}

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    void this.tick();
  }

  /**
   * Stop competing. A leader releases the Lease so that another candidate takes over at once,
   * unless `release` is false (then the others wait for it to expire, as after a crash).
   */
  async stop({ release = true } = {}): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.leading && !release) {
      this.leading = false;
      this.cfg.onStoppedLeading();
      return;
    }
    if (this.leading) {
      this.leading = false;
      try {
        const lease = await this.client.get<Lease>(this.path());
        if (lease.spec?.holderIdentity === this.cfg.identity) {
          await this.client.update(this.path(), { ...lease, spec: { ...lease.spec, holderIdentity: undefined, renewTime: undefined, acquireTime: undefined } });
        }
      } catch (e) {
        log.warn({ err: (e as Error).message }, 'could not release the lease');
      }
      this.cfg.onStoppedLeading();
    }
  }

  private path(name = this.cfg.name): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.cfg.namespace}/leases${name ? `/${name}` : ''}`;
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    let ok = false;
    try {
      ok = await this.tryAcquireOrRenew();
    } catch (e) {
      log.debug({ err: (e as Error).message }, 'lease attempt failed');
    }
    const now = Date.now();
    if (ok) {
      this.lastRenew = now;
      if (!this.leading && !this.stopped) {
        this.leading = true;
        log.info({ lease: `${this.cfg.namespace}/${this.cfg.name}`, identity: this.cfg.identity }, 'became leader');
        this.cfg.onStartedLeading();
      }
    } else if (this.leading && now - this.lastRenew > this.cfg.renewDeadlineMs) {
      this.leading = false;
      log.warn({ lease: `${this.cfg.namespace}/${this.cfg.name}` }, 'lost leadership');
      this.cfg.onStoppedLeading();
    }
    if (!this.stopped) {
      this.timer = setTimeout(() => void this.tick(), this.cfg.retryPeriodMs);
      this.timer.unref();
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = new Date();
    const spec = {
      holderIdentity: this.cfg.identity,
      leaseDurationSeconds: Math.round(this.cfg.leaseDurationMs / 1000),
      acquireTime: microTime(now),
      renewTime: microTime(now),
      leaseTransitions: 0,
    };
    let lease: Lease;
    try {
      lease = await this.client.get<Lease>(this.path());
    } catch (e) {
      if (!isNotFound(e)) throw e;
      try {
        await this.client.create(this.path(''), { metadata: { name: this.cfg.name, namespace: this.cfg.namespace }, spec });
        return true;
      } catch (err) {
        if (isAlreadyExists(err)) return false;
        throw err;
      }
    }
    const s = lease.spec ?? {};
    const held = s.holderIdentity && s.holderIdentity !== this.cfg.identity;
    const expires = s.renewTime ? Date.parse(s.renewTime) + (s.leaseDurationSeconds ?? 0) * 1000 : 0;
    if (held && expires > now.getTime()) return false;
    const mine = s.holderIdentity === this.cfg.identity;
    const next = {
      ...lease,
      spec: {
        ...spec,
        acquireTime: mine && s.acquireTime ? s.acquireTime : spec.acquireTime,
        leaseTransitions: (s.leaseTransitions ?? 0) + (mine ? 0 : 1),
      },
    };
    try {
      await this.client.update(this.path(), next);
      return true;
    } catch (e) {
      if (isConflict(e)) return false;
      throw e;
    }
  }
}
