// The ReplicaSet controller, after upstream's pkg/controller/replicaset: keeps `spec.replicas`
// active pods for every ReplicaSet. Pods are made from the template (generateName `<rs>-`, the
// template's labels, annotations and finalizers, a controller ownerReference), orphans matching
// the selector are adopted and owned pods that stop matching are released (both by patching
// ownerReferences), expectations keep a stale cache from causing double creates or deletes,
// creations go in slow-start batches (1, 2, 4, ...), deletions pick pods in upstream's ranking
// order, and the status (replicas, fullyLabeled/ready/available, observedGeneration,
// ReplicaFailure) is written through the status subresource.
import type { ReplicaSet, ReplicaSetCondition, ReplicaSetStatus } from 'kubernetes-types/apps/v1.js';
import type { OwnerReference } from 'kubernetes-types/meta/v1.js';
import type { Reconciler } from '../client/controller.js';
import type { ControllerContext } from '../client/factory.js';
import type { Informer } from '../client/informer.js';
import { keyOf, objectPath, collectionPath } from '../client/informer.js';
import type { EventRecorder, InvolvedObject } from '../client/events.js';
import { ApiStatusError, isConflict, isNotFound, type AnswerMeta, type RestClient } from '../client/rest.js';
import { WorkQueue } from '../client/workqueue.js';
import type { KObject } from '../api/types.js';
import { labelSelectorFromSpec, labelSelectorFromRequirements, type LabelSelector } from '../api/selectors.js';
import { ControllerExpectations } from './expectations.js';
import { controllerRefOf, isPodActive, isPodReady, podKey, rankPodsForDeletion, type PodObject } from './pods.js';
import { ReplicaSetPods, addFlags, tallySignature, type PodCounts } from './replicaset-pods.js';
import { logger } from '../util/log.js';

export type ReplicaSetObject = ReplicaSet & KObject;

/** Upstream's BurstReplicas: at most this many creations or deletions per sync. */
export const BURST_REPLICAS = 500;
/** Upstream's SlowStartInitialBatchSize. */
const SLOW_START_INITIAL_BATCH = 1;
/** Index of pods and ReplicaSets by the uid of their controller (ownerReference with controller: true). */
export const BY_CONTROLLER_UID = 'replicaset-controller/controller-uid';
/** Index of pods without a controller, by namespace: the candidates for adoption. */
export const ORPHANS_BY_NAMESPACE = 'replicaset-controller/orphans';

const APPS_V1 = 'apps/v1';
const KIND = 'ReplicaSet';

const log = logger('replicaset-controller');
const NOTHING: LabelSelector = { ...labelSelectorFromRequirements([]), empty: false, matches: () => false };

export interface ReplicaSetControllerOptions {
  /** Creations/deletions per sync (upstream: 500). */
  burstReplicas?: number;
  /** Clock, for tests. */
  now?: () => number;
}

/** What ClaimPods yields: the counts of the claimed pods, and the pods themselves when asked. */
interface ClaimedPods {
  counts: PodCounts;
  list(): PodObject[];
}

function byControllerUid(o: KObject): string[] {
  const ref = controllerRefOf(o);
  return ref ? [ref.uid] : [];
}

function sameLabels(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  const ka = Object.keys(a ?? {}), kb = Object.keys(b ?? {});
  return ka.length === kb.length && ka.every((k) => a![k] === b?.[k]);
}

function sameRef(a: OwnerReference | undefined, b: OwnerReference | undefined): boolean {
  if (!a || !b) return a === b;
  return a.uid === b.uid && a.name === b.name && a.kind === b.kind && a.apiVersion === b.apiVersion
    && !!a.controller === !!b.controller && !!a.blockOwnerDeletion === !!b.blockOwnerDeletion;
}

/** Whether an API error carries upstream's NamespaceTerminating cause (creating in a terminating namespace). */
function isNamespaceTerminating(e: unknown): boolean {
  if (!(e instanceof ApiStatusError)) return false;
  const causes = (e.status.details?.causes ?? []) as { type?: string }[];
  // kubelite's server words the Forbidden message as upstream's admission does but sends no cause yet.
  return causes.some((c) => c.type === 'NamespaceTerminating') || (e.code === 403 && /because it is being terminated/.test(e.message));
}

/** utilerrors.NewAggregate's message: one error as it is, several as `[a, b]`. */
function aggregate(errs: Error[]): Error | undefined {
  if (errs.length === 0) return undefined;
  if (errs.length === 1) return errs[0];
  return new Error(`[${errs.map((e) => e.message).join(', ')}]`);
}

/**
 * Call `fn` `count` times in batches of 1, 2, 4, ... (each batch concurrently); stop after the
 * first batch with a failure. Returns the number of successful calls and the first error.
 */
export async function slowStartBatch(count: number, initial: number, fn: () => Promise<void>): Promise<{ successes: number; error?: Error }> {
  let remaining = count, successes = 0;
  for (let size = Math.min(remaining, initial); size > 0; size = Math.min(2 * size, remaining)) {
    const results = await Promise.allSettled(Array.from({ length: size }, () => fn()));
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    successes += size - failed.length;
    if (failed.length) return { successes, error: failed[0].reason as Error };
    remaining -= size;
  }
  return { successes };
}

export class ReplicaSetController implements Reconciler {
  readonly name = 'replicaset';
  readonly queue = new WorkQueue('replicaset');
  readonly expectations: ControllerExpectations;
  private readonly client: RestClient;
  private readonly rsInformer: Informer<ReplicaSetObject>;
  private readonly podInformer: Informer<PodObject>;
  private readonly recorder: EventRecorder;
  private readonly burstReplicas: number;
  private readonly now: () => number;
  /** Per ReplicaSet uid, its pods as counted at its last sync, kept current from pod events. */
  private readonly ownedPods = new Map<string, ReplicaSetPods>();
  /** Pending batched status-only syncs (own timers: the queue's addAfter keeps a longer pending delay). */
  private readonly statusTimers = new Map<string, NodeJS.Timeout>();
  /** The resourceVersion of each ReplicaSet as this controller's last status write left it. */
  private readonly ownStatusWrites = new Map<string, string>();

  constructor(ctx: ControllerContext, opts: ReplicaSetControllerOptions = {}) {
    this.client = ctx.client;
    this.rsInformer = ctx.informers.informer<ReplicaSetObject>('replicasets');
    this.podInformer = ctx.informers.informer<PodObject>('pods');
    this.recorder = ctx.recorder({ component: 'replicaset-controller' });
    this.burstReplicas = opts.burstReplicas ?? BURST_REPLICAS;
    this.now = opts.now ?? Date.now;
    this.expectations = new ControllerExpectations(this.now);
  }

  async start(): Promise<void> {
    this.rsInformer.addIndex(BY_CONTROLLER_UID, byControllerUid);
    this.podInformer.addIndex(BY_CONTROLLER_UID, byControllerUid);
    this.podInformer.addIndex(ORPHANS_BY_NAMESPACE, (p) => (controllerRefOf(p) ? [] : [p.metadata.namespace ?? '']));
    this.rsInformer.on({
      add: (rs) => this.queue.add(keyOf(rs)),
      update: (old, rs) => {
        if (old.metadata.uid !== rs.metadata.uid) this.rsDeleted(old);
        else if (this.isOwnStatusWrite(old, rs)) return;
        this.queue.add(keyOf(rs));
      },
      delete: (rs) => this.rsDeleted(rs),
    });
    this.podInformer.on({
      add: (p) => {
        this.markDirty(p);
        this.podAdded(p);
      },
      update: (old, p) => {
        this.markDirty(old);
        this.markDirty(p);
        this.podUpdated(old, p);
      },
      delete: (p) => {
        this.markDirty(p);
        this.podDeleted(p);
      },
    });
    await Promise.all([this.rsInformer.start(), this.podInformer.start()]);
    // Shared informers may have synced before these handlers were added: sync everything once.
    for (const rs of this.rsInformer.list()) this.queue.add(keyOf(rs));
  }

  stop(): void {
    this.rsInformer.stop();
    this.podInformer.stop();
    for (const t of this.statusTimers.values()) clearTimeout(t);
    this.statusTimers.clear();
  }

  // --- event handlers: they only update expectations and queue keys -----------------------

  private rsDeleted(rs: ReplicaSetObject): void {
    const key = keyOf(rs);
    // A ReplicaSet re-created under the same name starts clean.
    this.expectations.delete(key);
    this.ownedPods.delete(rs.metadata.uid!);
    this.ownStatusWrites.delete(key);
    this.queue.add(key);
  }

  /** The pod changed: the ReplicaSet its controller reference names re-reads it at its next sync. */
  private markDirty(p: PodObject): void {
    const ref = controllerRefOf(p);
    if (ref) this.ownedPods.get(ref.uid)?.markDirty(keyOf(p));
  }

  /**
   * Whether an update is the echo of this controller's own status write (same generation, the
   * resourceVersion the write returned). Upstream syncs again on it; the sync would walk every pod
   * of the ReplicaSet to compute the status just written from the same cache, so it is skipped:
   * pod changes since the write have queued a sync of their own.
   */
  private isOwnStatusWrite(old: ReplicaSetObject, rs: ReplicaSetObject): boolean {
    return old.metadata.generation === rs.metadata.generation && this.ownStatusWrites.get(keyOf(rs)) === rs.metadata.resourceVersion;
  }

  /** The ReplicaSet a controller reference points at, if the cache has it with that uid. */
  private resolveControllerRef(namespace: string | undefined, ref: OwnerReference): ReplicaSetObject | undefined {
    if (ref.kind !== KIND) return undefined;
    const rs = this.rsInformer.get(`${namespace}/${ref.name}`);
    return rs?.metadata.uid === ref.uid ? rs : undefined;
  }

  /** ReplicaSets in the pod's namespace whose selector matches it (candidates to adopt an orphan). */
  private replicaSetsSelecting(p: PodObject): ReplicaSetObject[] {
    const out: ReplicaSetObject[] = [];
    for (const rs of this.rsInformer.list(p.metadata.namespace ?? '')) {
      let sel: LabelSelector | undefined;
      try {
        sel = labelSelectorFromSpec(rs.spec?.selector);
      } catch {
        continue;
      }
      if (!sel || sel.empty || !sel.matches(p.metadata.labels)) continue;
      out.push(rs);
    }
    if (out.length > 1) log.warn({ pod: keyOf(p), labels: p.metadata.labels }, `user error! more than one ${KIND} is selecting pods with labels`);
    return out;
  }

  private podAdded(p: PodObject): void {
    // After a restart a pod may show up already terminating: that is no creation to observe.
    if (p.metadata.deletionTimestamp) return this.podDeleted(p);
    const ref = controllerRefOf(p);
    if (ref) {
      const rs = this.resolveControllerRef(p.metadata.namespace, ref);
      if (!rs) return;
      this.expectations.creationObserved(keyOf(rs));
      this.observedOwnPod(rs);
      return;
    }
    for (const rs of this.replicaSetsSelecting(p)) this.queue.add(keyOf(rs));
  }

  /**
   * One of the creations or deletions a ReplicaSet waits for was seen. Once all are, it syncs at
   * once (the next burst starts); until then a sync could only update the status counts.
   */
  private observedOwnPod(rs: ReplicaSetObject): void {
    const key = keyOf(rs);
    if (this.expectations.satisfied(key)) this.queue.add(key);
    else this.statusChanged(key, rs.metadata.uid!);
  }

  private podUpdated(old: PodObject, p: PodObject): void {
    if (old.metadata.resourceVersion === p.metadata.resourceVersion) return;
    const labelsChanged = !sameLabels(old.metadata.labels, p.metadata.labels);
    if (p.metadata.deletionTimestamp) {
      // A graceful deletion has begun: replace the pod now rather than when it is finally gone.
      this.podDeleted(p);
      if (labelsChanged) this.podDeleted(old);
      return;
    }
    const ref = controllerRefOf(p), oldRef = controllerRefOf(old);
    const refChanged = !sameRef(ref, oldRef);
    if (refChanged && oldRef) {
      const rs = this.resolveControllerRef(old.metadata.namespace, oldRef);
      if (rs) this.queue.add(keyOf(rs));
    }
    if (ref) {
      const rs = this.resolveControllerRef(p.metadata.namespace, ref);
      if (!rs) return;
      const key = keyOf(rs);
      if (refChanged || labelsChanged) this.queue.add(key);
      else this.statusChanged(key, rs.metadata.uid!);
      const minReady = rs.spec?.minReadySeconds ?? 0;
      if (minReady > 0 && !isPodReady(old) && isPodReady(p)) this.queue.addAfter(key, minReady * 1000 + 1000);
      return;
    }
    if (labelsChanged || refChanged) for (const rs of this.replicaSetsSelecting(p)) this.queue.add(keyOf(rs));
  }

  /**
   * A change to a pod of the ReplicaSet that can only affect its status counts. Upstream syncs at
   * once. A sync re-reads only the changed pods, but each that changes a count writes the status
   * (and the Deployment controller follows with a write of its own), so for large ReplicaSets
   * the sync is delayed a little to let changes batch: 1 ms per 10 pods, at most 100 ms.
   */
  private statusChanged(key: string, uid: string): void {
    const delay = Math.min(100, Math.floor((this.ownedPods.get(uid)?.claimed ?? 0) / 10));
    if (delay < 1) return this.queue.add(key);
    if (this.statusTimers.has(key)) return;
    const t = setTimeout(() => {
      this.statusTimers.delete(key);
      this.queue.add(key);
    }, delay);
    t.unref();
    this.statusTimers.set(key, t);
  }

  private podDeleted(p: PodObject): void {
    const ref = controllerRefOf(p);
    if (!ref) return;
    const rs = this.resolveControllerRef(p.metadata.namespace, ref);
    if (!rs) return;
    this.expectations.deletionObserved(keyOf(rs), podKey(p));
    this.observedOwnPod(rs);
  }

  // --- sync -------------------------------------------------------------------------------

  async reconcile(key: string): Promise<void> {
    const rs = this.rsInformer.get(key);
    if (!rs) {
      this.expectations.delete(key);
      this.ownStatusWrites.delete(key);
      return;
    }
    const needsSync = this.expectations.satisfied(key);
    let selector: LabelSelector;
    try {
      selector = labelSelectorFromSpec(rs.spec?.selector) ?? NOTHING;
    } catch (e) {
      log.error({ key, err: (e as Error).message }, 'invalid selector');
      return;
    }

    const claimed = await this.claimPods(rs, selector);

    let manageError: Error | undefined;
    if (needsSync && !rs.metadata.deletionTimestamp) {
      try {
        await this.manageReplicas(key, claimed, rs);
      } catch (e) {
        manageError = e as Error;
      }
    }
    const updated = await this.updateStatus(rs, this.calculateStatus(rs, claimed.counts, manageError));
    // A last line of defence against clock skew: look again once the pods should be available.
    const replicas = updated.spec?.replicas ?? 1;
    const minReady = updated.spec?.minReadySeconds ?? 0;
    if (!manageError && minReady > 0 && (updated.status?.readyReplicas ?? 0) === replicas && (updated.status?.availableReplicas ?? 0) !== replicas) {
      this.queue.addAfter(key, minReady * 1000);
    }
    if (manageError) throw manageError;
  }

  /**
   * The ReplicaSet's pods as the cache has them now: the kept counts with the pods changed since
   * the last sync re-read, or a full count when there are none yet or they were made for another
   * selector, template labels or minReadySeconds.
   */
  private currentPods(rs: ReplicaSetObject, selector: LabelSelector, now: number): ReplicaSetPods {
    const uid = rs.metadata.uid!;
    const signature = tallySignature(rs);
    let owned = this.ownedPods.get(uid);
    if (owned?.signature === signature) {
      owned.refresh((k) => this.podInformer.get(k), now);
      return owned;
    }
    owned = new ReplicaSetPods(signature, rs, selector, this.podInformer.iterateIndex(BY_CONTROLLER_UID, uid), now);
    this.ownedPods.set(uid, owned);
    return owned;
  }

  /**
   * Upstream's ClaimPods over the active pods: keep owned pods that match, release owned pods that
   * no longer match (unless the ReplicaSet is being deleted), adopt matching orphans (after
   * checking with a fresh read that the ReplicaSet is not being deleted). Returns the counts of
   * the claimed pods, and their list on demand (only scale-down needs it).
   * Only pods this ReplicaSet controls and orphans can be claimed: pods of other controllers are
   * never touched, so the namespace's full pod list (as upstream walks it) is not needed, and the
   * owned pods are kept counted between syncs (ReplicaSetPods), so that only the pods that
   * changed are looked at.
   */
  private async claimPods(rs: ReplicaSetObject, selector: LabelSelector): Promise<ClaimedPods> {
    const errors: Error[] = [];
    const ns = rs.metadata.namespace ?? '';
    const deleting = !!rs.metadata.deletionTimestamp;
    const now = this.now();
    const owned = this.currentPods(rs, selector, now);
    // Taken now: pod events during the writes below are counted at the next sync.
    const counts = owned.snapshot();
    const work: Promise<void>[] = [];
    if (!deleting) {
      for (const key of owned.releaseKeys()) {
        const p = this.podInformer.get(key);
        if (p) work.push(this.releasePod(rs, p).catch((e: Error) => { errors.push(e); }));
      }
    }
    const adopted: PodObject[] = [];
    let canAdopt: Promise<void> | undefined;
    for (const p of this.podInformer.iterateIndex(ORPHANS_BY_NAMESPACE, ns)) {
      if (!isPodActive(p) || deleting || !selector.matches(p.metadata.labels)) continue;
      canAdopt ??= this.recheckNotDeleted(rs);
      work.push(canAdopt
        .catch((e: Error) => { throw new Error(`can't adopt Pod ${p.metadata.namespace}/${p.metadata.name} (${p.metadata.uid}): ${e.message}`); })
        .then(() => this.adoptPod(rs, p))
        .then((ok) => { if (ok) adopted.push(p); })
        .catch((e: Error) => { errors.push(e); }));
    }
    await Promise.all(work);
    const err = aggregate(errors);
    if (err) throw err;
    // Adopted pods count from this sync on, as upstream's claimed list has them (the kept counts
    // take them in when the informer shows their new owner).
    for (const p of adopted) addFlags(counts, owned.claimedFlags(p, now), 1);
    return {
      counts,
      // The kept counts change only at the start of a sync, so these are the keys counted above;
      // the pods are read as the cache has them now, and those gone or going since are left out.
      list: () => {
        const pods: PodObject[] = [];
        for (const key of owned.claimedKeys()) {
          const p = this.podInformer.get(key);
          if (p && isPodActive(p)) pods.push(p);
        }
        return pods.concat(adopted);
      },
    };
  }

  /** Upstream's RecheckDeletionTimestamp: an uncached read before the first adoption. */
  private async recheckNotDeleted(rs: ReplicaSetObject): Promise<void> {
    let fresh: ReplicaSetObject;
    try {
      fresh = await this.client.get<ReplicaSetObject>(this.rsPath(rs));
    } catch (e) {
      throw new Error(`can't recheck DeletionTimestamp: ${(e as Error).message}`);
    }
    if (fresh.metadata.uid !== rs.metadata.uid) {
      throw new Error(`can't recheck DeletionTimestamp: original ${KIND} ${rs.metadata.namespace}/${rs.metadata.name} is gone: got uid ${fresh.metadata.uid}, wanted ${rs.metadata.uid}`);
    }
    if (fresh.metadata.deletionTimestamp) {
      throw new Error(`${fresh.metadata.namespace}/${fresh.metadata.name} has just been deleted at ${fresh.metadata.deletionTimestamp}`);
    }
  }

  private controllerRef(rs: ReplicaSetObject): OwnerReference {
    return { apiVersion: APPS_V1, kind: KIND, name: rs.metadata.name!, uid: rs.metadata.uid!, controller: true, blockOwnerDeletion: true };
  }

  private podPath(p: PodObject): string {
    return objectPath(this.podInformer.resource, p.metadata.namespace, p.metadata.name!);
  }

  private rsPath(rs: ReplicaSetObject): string {
    return objectPath(this.rsInformer.resource, rs.metadata.namespace, rs.metadata.name!);
  }

  /** Adds the controller reference; the pod's uid in the patch guards against a re-created pod. False if the pod is gone. */
  private async adoptPod(rs: ReplicaSetObject, p: PodObject): Promise<boolean> {
    try {
      await this.client.patch(this.podPath(p), { metadata: { ownerReferences: [this.controllerRef(rs)], uid: p.metadata.uid } }, 'strategic');
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  private async releasePod(rs: ReplicaSetObject, p: PodObject): Promise<void> {
    log.info({ pod: keyOf(p), replicaSet: keyOf(rs) }, 'patching pod to remove its controllerRef');
    try {
      await this.client.patch(this.podPath(p), { metadata: { ownerReferences: [{ $patch: 'delete', uid: rs.metadata.uid }], uid: p.metadata.uid } }, 'strategic');
    } catch (e) {
      // Gone, or no longer ours / re-created (Invalid): nothing left to release.
      if (isNotFound(e) || (e instanceof ApiStatusError && e.code === 422)) return;
      throw e;
    }
  }

  private involved(rs: ReplicaSetObject): InvolvedObject {
    return { apiVersion: APPS_V1, kind: KIND, metadata: rs.metadata };
  }

  /** Create or delete pods so that the claimed active pods approach spec.replicas. */
  private async manageReplicas(key: string, claimed: ClaimedPods, rs: ReplicaSetObject): Promise<void> {
    const replicas = rs.spec?.replicas ?? 1;
    const diff = claimed.counts.claimed - replicas;
    if (diff < 0) {
      const count = Math.min(-diff, this.burstReplicas);
      this.expectations.expectCreations(key, count);
      log.debug({ key, need: replicas, creating: count }, 'too few replicas');
      const { successes, error } = await slowStartBatch(count, SLOW_START_INITIAL_BATCH, () => this.createPod(rs));
      // Pods never attempted are not coming: stop expecting them (the next sync retries).
      for (let i = successes; i < count; i++) this.expectations.creationObserved(key);
      if (error) throw error;
    } else if (diff > 0) {
      const count = Math.min(diff, this.burstReplicas);
      log.debug({ key, need: replicas, deleting: count }, 'too many replicas');
      const pods = claimed.list();
      const victims = count < pods.length ? rankPodsForDeletion(pods, this.relatedPods(rs), this.now()).slice(0, count) : pods.slice(0, count);
      this.expectations.expectDeletions(key, victims.map(podKey));
      const errors: Error[] = [];
      await Promise.all(victims.map(async (p) => {
        try {
          await this.deletePod(rs, p);
        } catch (e) {
          // The informer will see no deletion for this one.
          this.expectations.deletionObserved(key, podKey(p));
          if (!isNotFound(e)) errors.push(e as Error);
        }
      }));
      if (errors.length) throw errors[0];
    }
  }

  /**
   * Upstream's getIndirectlyRelatedPods: the pods of every ReplicaSet with the same controller as
   * this one (the old and new ReplicaSets of a Deployment), used to prefer deleting pods that are
   * doubled up on a node. Taken as each such ReplicaSet's own pods plus matching orphans.
   */
  private relatedPods(rs: ReplicaSetObject): PodObject[] {
    const ref = controllerRefOf(rs);
    if (!ref) return [];
    const seen = new Set<string>();
    const out: PodObject[] = [];
    const orphans = this.podInformer.byIndex(ORPHANS_BY_NAMESPACE, rs.metadata.namespace ?? '');
    for (const related of this.rsInformer.byIndex(BY_CONTROLLER_UID, ref.uid)) {
      if (related.metadata.namespace !== rs.metadata.namespace) continue;
      let sel: LabelSelector | undefined;
      try {
        sel = labelSelectorFromSpec(related.spec?.selector);
      } catch {
        continue;
      }
      if (!sel) continue;
      const owned = this.podInformer.byIndex(BY_CONTROLLER_UID, related.metadata.uid!);
      for (const p of [...owned, ...orphans]) {
        if (p.metadata.namespace !== rs.metadata.namespace || !sel.matches(p.metadata.labels) || seen.has(p.metadata.uid!)) continue;
        seen.add(p.metadata.uid!);
        out.push(p);
      }
    }
    return out;
  }

  /** Upstream's GetPodFromTemplate + RealPodControl.CreatePods, with its events. */
  private async createPod(rs: ReplicaSetObject): Promise<void> {
    const template = rs.spec?.template;
    const labels = template?.metadata?.labels;
    if (!labels || Object.keys(labels).length === 0) throw new Error('unable to create pods, no labels');
    const metadata: KObject['metadata'] = { generateName: `${rs.metadata.name}-`, labels: { ...labels } };
    const annotations = template?.metadata?.annotations;
    if (annotations && Object.keys(annotations).length) metadata.annotations = { ...annotations };
    const finalizers = template?.metadata?.finalizers;
    if (finalizers?.length) metadata.finalizers = [...finalizers];
    metadata.ownerReferences = [this.controllerRef(rs)];
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata, spec: template?.spec };
    let created: AnswerMeta;
    try {
      // Only the created pod's name is read (for the event): from the answer's text, not parsed.
      created = await this.client.create<AnswerMeta>(collectionPath(this.podInformer.resource, rs.metadata.namespace), pod, undefined, { metadataOnly: true });
    } catch (e) {
      // Creating in a terminating namespace fails every time; that is no failure to report.
      if (isNamespaceTerminating(e)) return;
      this.recorder.event(this.involved(rs), 'Warning', 'FailedCreate', `Error creating: ${(e as Error).message}`);
      throw e;
    }
    this.recorder.event(this.involved(rs), 'Normal', 'SuccessfulCreate', `Created pod: ${created.metadata.name}`);
  }

  private async deletePod(rs: ReplicaSetObject, p: PodObject): Promise<void> {
    try {
      await this.client.delete(this.podPath(p));
    } catch (e) {
      if (isNotFound(e)) throw e;
      this.recorder.event(this.involved(rs), 'Warning', 'FailedDelete', `Error deleting: ${(e as Error).message}`);
      throw new Error(`unable to delete pods: ${(e as Error).message}`);
    }
    this.recorder.event(this.involved(rs), 'Normal', 'SuccessfulDelete', `Deleted pod: ${p.metadata.name}`);
  }

  /** Upstream's calculateStatus, from the counts of the claimed pods. */
  private calculateStatus(rs: ReplicaSetObject, counts: PodCounts, manageError: Error | undefined): ReplicaSetStatus {
    const now = this.now();
    let conditions: ReplicaSetCondition[] = [...(rs.status?.conditions ?? [])];
    const failure = conditions.find((c) => c.type === 'ReplicaFailure');
    if (manageError && !failure) {
      const diff = counts.claimed - (rs.spec?.replicas ?? 1);
      const reason = diff < 0 ? 'FailedCreate' : diff > 0 ? 'FailedDelete' : '';
      conditions.push({ type: 'ReplicaFailure', status: 'True', lastTransitionTime: new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z'), reason, message: manageError.message });
    } else if (!manageError && failure) {
      conditions = conditions.filter((c) => c.type !== 'ReplicaFailure');
    }
    // Zero counts are omitted, as Go's omitempty does.
    const status: ReplicaSetStatus = { replicas: counts.claimed };
    if (counts.fullyLabeled) status.fullyLabeledReplicas = counts.fullyLabeled;
    if (counts.ready) status.readyReplicas = counts.ready;
    if (counts.available) status.availableReplicas = counts.available;
    if (rs.status?.observedGeneration) status.observedGeneration = rs.status.observedGeneration;
    if (conditions.length) status.conditions = conditions;
    return status;
  }

  /** Upstream's updateReplicaSetStatus: write only on a change, retry a conflict once on a fresh read. */
  private async updateStatus(rs: ReplicaSetObject, status: ReplicaSetStatus): Promise<ReplicaSetObject> {
    const old = rs.status ?? { replicas: 0 };
    const generation = rs.metadata.generation ?? 0;
    if ((old.replicas ?? 0) === status.replicas
      && (old.fullyLabeledReplicas ?? 0) === (status.fullyLabeledReplicas ?? 0)
      && (old.readyReplicas ?? 0) === (status.readyReplicas ?? 0)
      && (old.availableReplicas ?? 0) === (status.availableReplicas ?? 0)
      && generation === (old.observedGeneration ?? 0)
      && JSON.stringify(old.conditions ?? []) === JSON.stringify(status.conditions ?? [])) {
      return rs;
    }
    // The generation acted on, so that a retry cannot claim to have seen a later spec.
    const next: ReplicaSetStatus = { ...status };
    if (generation) next.observedGeneration = generation;
    const path = `${this.rsPath(rs)}/status`;
    let current = rs;
    for (let attempt = 0; ; attempt++) {
      try {
        const written = await this.client.update<ReplicaSetObject>(path, { ...current, apiVersion: APPS_V1, kind: KIND, status: next });
        this.ownStatusWrites.set(keyOf(written), written.metadata.resourceVersion!);
        return written;
      } catch (e) {
        if (!isConflict(e) || attempt >= 1) throw e;
        current = await this.client.get<ReplicaSetObject>(this.rsPath(rs));
      }
    }
  }
}
