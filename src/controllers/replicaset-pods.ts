// What the pods a ReplicaSet controls add up to, kept up to date from pod events, so that a sync
// costs O(pods changed since the last sync) instead of a walk over every pod of the ReplicaSet.
// Upstream's syncReplicaSet walks them all (ClaimPods, then calculateStatus) on every sync; at
// 100,000 replicas, with a sync per burst of pod changes, that walk dominated the controller.
// The classification of each pod is upstream's: a pod with this ReplicaSet's uid as controller
// reference, in its namespace and active, is claimed if the selector matches it and to be released
// if not; claimed pods count as fully labeled, ready and available as calculateStatus counts them.
import type { ReplicaSet } from 'kubernetes-types/apps/v1.js';
import type { LabelSelector } from '../api/selectors.js';
import { keyOf } from '../client/informer.js';
import { controllerRefOf, isPodActive, isPodAvailable, isPodReady, type PodObject } from './pods.js';

/** Owned, active, in the namespace, matching the selector: counts in status.replicas. */
export const CLAIMED = 1;
/** Owned, active, in the namespace, but the selector no longer matches: to be released. */
export const RELEASE = 2;
/** Claimed, with every label of the template. */
export const FULLY_LABELED = 4;
export const READY = 8;
/** Claimed and ready for minReadySeconds. */
export const AVAILABLE = 16;

export interface PodCounts {
  /** status.replicas: claimed pods. */
  claimed: number;
  fullyLabeled: number;
  ready: number;
  available: number;
}

/** The parts of a ReplicaSet the classification depends on; a change to any of them means a recount. */
export function tallySignature(rs: ReplicaSet): string {
  return JSON.stringify([rs.metadata?.uid, rs.metadata?.namespace, rs.spec?.selector, rs.spec?.template?.metadata?.labels ?? {}, rs.spec?.minReadySeconds ?? 0]);
}

/**
 * The pods one ReplicaSet (one uid, one signature) controls, by pod key, with what each
 * contributes. Pod events only mark keys dirty; `refresh` re-reads those keys from the cache.
 */
export class ReplicaSetPods {
  private readonly flags = new Map<string, number>();
  /** Keys whose pod changed since the last refresh (reads happen at refresh, from the cache). */
  private readonly dirty = new Set<string>();
  /** Claimed ready pods not yet available: availability changes with time alone, so they are looked at on every refresh. */
  private readonly notYetAvailable = new Set<string>();
  private readonly toRelease = new Set<string>();
  private readonly counts: PodCounts = { claimed: 0, fullyLabeled: 0, ready: 0, available: 0 };
  private readonly templateLabels: [string, string][];
  private readonly namespace: string;
  private readonly uid: string;
  private readonly minReadySeconds: number;

  /**
   * Counts every pod under the ReplicaSet's uid in `owned` (the informer's controller-uid index):
   * the one full walk, when a ReplicaSet is first synced or its selector, template labels or
   * minReadySeconds changed.
   */
  constructor(
    readonly signature: string,
    rs: ReplicaSet,
    private readonly selector: LabelSelector,
    owned: Iterable<PodObject>,
    now: number,
  ) {
    this.templateLabels = Object.entries(rs.spec?.template?.metadata?.labels ?? {});
    this.namespace = rs.metadata?.namespace ?? '';
    this.uid = rs.metadata?.uid ?? '';
    this.minReadySeconds = rs.spec?.minReadySeconds ?? 0;
    for (const p of owned) this.set(keyOf(p), this.classify(p, now));
  }

  /** A pod under this key changed (was added, updated or deleted). */
  markDirty(podKey: string): void {
    this.dirty.add(podKey);
  }

  /** Re-classify the changed pods (and those waiting to become available) as the cache has them now. */
  refresh(get: (podKey: string) => PodObject | undefined, now: number): void {
    for (const key of this.dirty) this.set(key, this.classify(get(key), now));
    this.dirty.clear();
    for (const key of this.notYetAvailable) this.set(key, this.classify(get(key), now));
  }

  /** What one pod contributes to this ReplicaSet (0: nothing, it is not this ReplicaSet's). */
  classify(p: PodObject | undefined, now: number): number {
    if (!p || p.metadata.namespace !== this.namespace || controllerRefOf(p)?.uid !== this.uid || !isPodActive(p)) return 0;
    return this.selector.matches(p.metadata.labels) ? this.claimedFlags(p, now) : RELEASE;
  }

  /** What a pod this ReplicaSet claims counts for. */
  claimedFlags(p: PodObject, now: number): number {
    const labels = p.metadata.labels;
    let f = CLAIMED;
    let labeled = true;
    for (const [k, v] of this.templateLabels) {
      if (labels?.[k] !== v) {
        labeled = false;
        break;
      }
    }
    if (labeled) f |= FULLY_LABELED;
    if (isPodReady(p)) {
      f |= READY;
      if (this.minReadySeconds === 0 || isPodAvailable(p, this.minReadySeconds, now)) f |= AVAILABLE;
    }
    return f;
  }

  /** The counts as of the last refresh (a copy: the caller may add pods it adopts). */
  snapshot(): PodCounts {
    return { ...this.counts };
  }

  /** Claimed pods as of the last refresh. */
  get claimed(): number {
    return this.counts.claimed;
  }

  /** Keys of owned pods the selector no longer matches. */
  releaseKeys(): IterableIterator<string> {
    return this.toRelease.values();
  }

  /** Keys of the claimed pods (for scale-down, which ranks them all). */
  *claimedKeys(): IterableIterator<string> {
    for (const [key, f] of this.flags) if (f & CLAIMED) yield key;
  }

  private set(key: string, f: number): void {
    const old = this.flags.get(key) ?? 0;
    if (old === f) return;
    addFlags(this.counts, old, -1);
    addFlags(this.counts, f, 1);
    if (f) this.flags.set(key, f);
    else this.flags.delete(key);
    if (f & RELEASE) this.toRelease.add(key);
    else this.toRelease.delete(key);
    if ((f & READY) && !(f & AVAILABLE)) this.notYetAvailable.add(key);
    else this.notYetAvailable.delete(key);
  }
}

/** Add (sign 1) or remove (sign -1) what a pod with flags `f` counts for. */
export function addFlags(c: PodCounts, f: number, sign: 1 | -1): void {
  if (f & CLAIMED) c.claimed += sign;
  if (f & FULLY_LABELED) c.fullyLabeled += sign;
  if (f & READY) c.ready += sign;
  if (f & AVAILABLE) c.available += sign;
}
