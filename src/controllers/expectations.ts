// Controller expectations, after upstream's UIDTrackingControllerExpectations
// (pkg/controller/controller_utils.go): a controller that has just asked for N creations or for
// the deletion of some pods records what it expects to observe, and does not act on the same
// owner again until its informer has seen all of it (or the expectations have expired). Without
// this a stale cache makes the controller create or delete the same replicas twice.

/** Upstream's ExpectationsTimeout: a missed watch event wakes the owner up after this long anyway. */
export const EXPECTATIONS_TIMEOUT_MS = 5 * 60_000;

interface Expectation {
  add: number;
  del: number;
  /** Keys (`namespace/name`) of the pods whose deletion is expected; each is observed at most once. */
  deleteKeys: Set<string>;
  at: number;
}

export class ControllerExpectations {
  private readonly byOwner = new Map<string, Expectation>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Whether the owner may be synced: nothing is expected, all was observed, or the expectation expired. */
  satisfied(ownerKey: string): boolean {
    const e = this.byOwner.get(ownerKey);
    if (!e) return true;
    if (e.add <= 0 && e.del <= 0) return true;
    return this.now() - e.at > EXPECTATIONS_TIMEOUT_MS;
  }

  /** Expect `count` creations (replacing what was expected before). */
  expectCreations(ownerKey: string, count: number): void {
    this.byOwner.set(ownerKey, { add: count, del: 0, deleteKeys: new Set(), at: this.now() });
  }

  /** Expect the deletion of these pods (replacing what was expected before). */
  expectDeletions(ownerKey: string, podKeys: string[]): void {
    const deleteKeys = new Set(podKeys);
    this.byOwner.set(ownerKey, { add: 0, del: deleteKeys.size, deleteKeys, at: this.now() });
  }

  creationObserved(ownerKey: string): void {
    const e = this.byOwner.get(ownerKey);
    if (e) e.add--;
  }

  /** A pod went (or started terminating): counts once, and only if its deletion was expected. */
  deletionObserved(ownerKey: string, podKey: string): void {
    const e = this.byOwner.get(ownerKey);
    if (e?.deleteKeys.delete(podKey)) e.del--;
  }

  delete(ownerKey: string): void {
    this.byOwner.delete(ownerKey);
  }

  /** What is still expected (for tests and debugging). */
  pending(ownerKey: string): { add: number; del: number } | undefined {
    const e = this.byOwner.get(ownerKey);
    return e && { add: e.add, del: e.del };
  }
}
