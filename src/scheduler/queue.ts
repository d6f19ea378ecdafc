// The scheduling queue (after upstream's PriorityQueue): pending pods wait in activeQ (highest
// priority first, then first come), pods that failed wait out a back-off (1 s doubling to 10 s per
// attempt) in backoffQ, and pods that fit nowhere rest in unschedulablePods until a cluster event
// that could help them (a node added, a pod deleted...) moves them back, or 5 minutes pass.
import { isDeepStrictEqual } from 'node:util';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { podKeyOf } from './cache.js';

export const INITIAL_BACKOFF_MS = 1_000;
export const MAX_BACKOFF_MS = 10_000;
/** podMaxInUnschedulablePodsDuration */
export const MAX_UNSCHEDULABLE_MS = 5 * 60_000;
const FLUSH_UNSCHEDULABLE_INTERVAL_MS = 30_000;

/** Cluster events that may make unschedulable pods schedulable, and the plugins that care. */
export type ClusterEvent =
  | 'NodeAdd' | 'NodeLabelChange' | 'NodeTaintChange' | 'NodeAllocatableChange'
  | 'AssignedPodAdd' | 'AssignedPodUpdate' | 'AssignedPodDelete';

const INTERESTED: Record<ClusterEvent, string[]> = {
  NodeAdd: ['NodeUnschedulable', 'TaintToleration', 'NodeAffinity', 'NodePorts', 'NodeResourcesFit', 'PodTopologySpread'],
  NodeLabelChange: ['NodeAffinity', 'PodTopologySpread', 'NodeResourcesFit'],
  NodeTaintChange: ['NodeUnschedulable', 'TaintToleration', 'PodTopologySpread', 'NodeResourcesFit'],
  NodeAllocatableChange: ['NodeResourcesFit'],
  AssignedPodAdd: ['PodTopologySpread'],
  AssignedPodUpdate: ['PodTopologySpread'],
  AssignedPodDelete: ['NodePorts', 'NodeResourcesFit', 'PodTopologySpread'],
};

/** Pods rejected for reasons no plugin names (no nodes at all, errors) wait for any event. */
const ANY_PLUGIN = '';

type Where = 'active' | 'backoff' | 'unschedulable' | 'gated' | 'inflight' | 'gone';

export interface QueuedPodInfo {
  key: string;
  pod: Pod;
  /** When it last entered activeQ (ordering) or last failed (back-off base). */
  timestamp: number;
  attempts: number;
  /** Plugins that rejected it last time. */
  plugins: Set<string>;
  where: Where;
  /** Bumped on every move so that stale heap entries are skipped. */
  version: number;
}

/** A binary heap whose entries may go stale (lazy deletion). */
class Heap<T> {
  private readonly items: { v: T; version: number }[] = [];
  constructor(private readonly less: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.items.length;
  }

  push(v: T, version: number): void {
    const a = this.items;
    a.push({ v, version });
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(a[i]!.v, a[p]!.v)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }

  peek(): { v: T; version: number } | undefined {
    return this.items[0];
  }

  pop(): { v: T; version: number } | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length && last) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.less(a[l]!.v, a[m]!.v)) m = l;
        if (r < a.length && this.less(a[r]!.v, a[m]!.v)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

function backoffMs(attempts: number): number {
  let d = INITIAL_BACKOFF_MS;
  for (let i = 1; i < attempts; i++) {
    d *= 2;
    if (d >= MAX_BACKOFF_MS) return MAX_BACKOFF_MS;
  }
  return d;
}

/** A change the scheduler must look at again: anything but status and bookkeeping fields (upstream's isPodUpdated). */
function schedulingRelevantChange(old: Pod, pod: Pod): boolean {
  const strip = (p: Pod) => {
    const { resourceVersion: _rv, generation: _g, managedFields: _mf, ...meta } = p.metadata ?? {};
    return { meta, spec: p.spec };
  };
  return !isDeepStrictEqual(strip(old), strip(pod));
}

function priorityOf(pod: Pod): number {
  return pod.spec?.priority ?? 0;
}

export class SchedulingQueue {
  private readonly infos = new Map<string, QueuedPodInfo>();
  private readonly activeQ = new Heap<QueuedPodInfo>((a, b) => {
    const pa = priorityOf(a.pod);
    const pb = priorityOf(b.pod);
    return pa !== pb ? pa > pb : a.timestamp < b.timestamp;
  });
  private readonly backoffQ = new Heap<QueuedPodInfo>((a, b) => this.backoffExpiry(a) < this.backoffExpiry(b));
  /** Unschedulable pods by the plugins that rejected them, so an event only visits the pods it may help. */
  private readonly unschedulableByPlugin = new Map<string, Set<QueuedPodInfo>>();
  private backoffTimer?: NodeJS.Timeout;
  private backoffTimerAt = Infinity;
  private readonly flushTimer: NodeJS.Timeout;
  private closed = false;

  /** `onActive` is called whenever pods become ready to be scheduled. */
  constructor(private readonly onActive: () => void, private readonly now: () => number = Date.now) {
    this.flushTimer = setInterval(() => this.flushUnschedulableLeftover(), FLUSH_UNSCHEDULABLE_INTERVAL_MS);
    this.flushTimer.unref();
  }

  get(key: string): QueuedPodInfo | undefined {
    return this.infos.get(key);
  }

  /** Pods waiting, by where they wait (for tests and metrics). */
  counts(): Record<Where, number> {
    const c: Record<Where, number> = { active: 0, backoff: 0, unschedulable: 0, gated: 0, inflight: 0, gone: 0 };
    for (const i of this.infos.values()) c[i.where]++;
    return c;
  }

  /** A pending pod appeared (or changed): queue it, or refresh what is queued. */
  addOrUpdate(pod: Pod): void {
    const key = podKeyOf(pod);
    const info = this.infos.get(key);
    if (!info) {
      const fresh: QueuedPodInfo = { key, pod, timestamp: this.now(), attempts: 0, plugins: new Set(), where: 'gone', version: 0 };
      this.infos.set(key, fresh);
      if (pod.spec?.schedulingGates?.length) this.moveTo(fresh, 'gated');
      else this.moveTo(fresh, 'active');
      return;
    }
    const old = info.pod;
    info.pod = pod;
    if (info.where === 'gated') {
      if (!pod.spec?.schedulingGates?.length) this.moveTo(info, 'active');
    } else if (info.where === 'unschedulable' && schedulingRelevantChange(old, pod)) {
      this.moveTo(info, this.isBackingOff(info) ? 'backoff' : 'active');
    }
  }

  delete(key: string): void {
    const info = this.infos.get(key);
    if (!info) return;
    this.moveTo(info, 'gone');
    this.infos.delete(key);
  }

  /** The next pod to schedule; it stays "in flight" until done() or requeue(). */
  pop(): QueuedPodInfo | undefined {
    for (;;) {
      const e = this.activeQ.pop();
      if (!e) return undefined;
      const info = e.v;
      if (info.where !== 'active' || info.version !== e.version) continue;
      info.attempts++;
      this.moveTo(info, 'inflight');
      return info;
    }
  }

  /** The pod was bound (or is no longer pending). */
  done(key: string): void {
    const info = this.infos.get(key);
    if (info?.where === 'inflight') this.delete(key);
  }

  /**
   * The attempt failed. An error (a failed binding) waits out its back-off; a pod that fits
   * nowhere waits for an event that may help it, named by the plugins that rejected it.
   */
  requeue(info: QueuedPodInfo, opts: { error: boolean; plugins: Set<string> }): void {
    if (this.infos.get(info.key) !== info) return;
    info.timestamp = this.now();
    info.plugins = opts.plugins;
    this.moveTo(info, opts.error ? 'backoff' : 'unschedulable');
  }

  /** A cluster event: unschedulable pods it may help go back to be scheduled (after their back-off). */
  moveAllOnEvent(event: ClusterEvent): void {
    const moved = new Set<QueuedPodInfo>();
    for (const plugin of [ANY_PLUGIN, ...INTERESTED[event]]) {
      const set = this.unschedulableByPlugin.get(plugin);
      if (set) for (const info of set) moved.add(info);
    }
    for (const info of moved) this.moveTo(info, this.isBackingOff(info) ? 'backoff' : 'active');
  }

  close(): void {
    this.closed = true;
    clearInterval(this.flushTimer);
    if (this.backoffTimer) clearTimeout(this.backoffTimer);
  }

  private backoffExpiry(info: QueuedPodInfo): number {
    return info.timestamp + backoffMs(info.attempts);
  }

  private isBackingOff(info: QueuedPodInfo): boolean {
    return this.backoffExpiry(info) > this.now();
  }

  private moveTo(info: QueuedPodInfo, where: Where): void {
    if (info.where === 'unschedulable') {
      for (const p of info.plugins.size ? info.plugins : [ANY_PLUGIN]) this.unschedulableByPlugin.get(p)?.delete(info);
    }
    info.where = where;
    info.version++;
    switch (where) {
      case 'active':
        info.timestamp = this.now();
        this.activeQ.push(info, info.version);
        this.onActive();
        break;
      case 'backoff':
        this.backoffQ.push(info, info.version);
        this.armBackoffTimer();
        break;
      case 'unschedulable':
        for (const p of info.plugins.size ? info.plugins : [ANY_PLUGIN]) {
          let set = this.unschedulableByPlugin.get(p);
          if (!set) this.unschedulableByPlugin.set(p, (set = new Set()));
          set.add(info);
        }
        break;
      default:
        break;
    }
  }

  /** Move pods whose back-off has expired to activeQ, then wait for the next expiry. */
  private flushBackoffCompleted(): void {
    this.backoffTimer = undefined;
    this.backoffTimerAt = Infinity;
    const now = this.now();
    for (;;) {
      const e = this.backoffQ.peek();
      if (!e) break;
      const info = e.v;
      if (info.where !== 'backoff' || info.version !== e.version) {
        this.backoffQ.pop();
        continue;
      }
      if (this.backoffExpiry(info) > now) break;
      this.backoffQ.pop();
      this.moveTo(info, 'active');
    }
    this.armBackoffTimer();
  }

  private armBackoffTimer(): void {
    if (this.closed) return;
    let e = this.backoffQ.peek();
    while (e && (e.v.where !== 'backoff' || e.v.version !== e.version)) {
      this.backoffQ.pop();
      e = this.backoffQ.peek();
    }
    if (!e) return;
    const at = this.backoffExpiry(e.v);
    if (at >= this.backoffTimerAt) return;
    if (this.backoffTimer) clearTimeout(this.backoffTimer);
    this.backoffTimerAt = at;
    this.backoffTimer = setTimeout(() => this.flushBackoffCompleted(), Math.max(0, at - this.now()));
    this.backoffTimer.unref();
  }

  /** Pods unschedulable for longer than 5 minutes are tried again even without an event. */
  private flushUnschedulableLeftover(): void {
    const cutoff = this.now() - MAX_UNSCHEDULABLE_MS;
    const stale: QueuedPodInfo[] = [];
    for (const info of this.infos.values()) if (info.where === 'unschedulable' && info.timestamp < cutoff) stale.push(info);
    for (const info of stale) this.moveTo(info, this.isBackingOff(info) ? 'backoff' : 'active');
  }
}
