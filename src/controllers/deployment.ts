// The Deployment controller, after upstream's pkg/controller/deployment (v1.32): a Deployment
// owns ReplicaSets named `<deployment>-<pod-template-hash>`, one per pod template it has had; the
// one whose template equals the Deployment's is the new one and the others are old. A rollout
// scales the new one up and the old ones down — RollingUpdate within maxSurge/maxUnavailable,
// Recreate all old pods first — while scaling events (and paused Deployments) resize all active
// ReplicaSets in proportion. Revisions live in annotations of the ReplicaSets; the status counts
// come from the ReplicaSets' status, and the Available and Progressing conditions (with the
// progress deadline) are kept as upstream keeps them, so that `kubectl rollout status/history/undo`
// and `kubectl describe` behave as against a real cluster.
import type { DeploymentStatus } from 'kubernetes-types/apps/v1.js';
import type { OwnerReference } from 'kubernetes-types/meta/v1.js';
import type { Reconciler } from '../client/controller.js';
import type { ControllerContext } from '../client/factory.js';
import type { Informer } from '../client/informer.js';
import { keyOf, objectPath, collectionPath } from '../client/informer.js';
import type { EventRecorder, InvolvedObject } from '../client/events.js';
import { ApiStatusError, isAlreadyExists, isNotFound, type RestClient } from '../client/rest.js';
import { WorkQueue } from '../client/workqueue.js';
import { labelSelectorFromSpec, type LabelSelector } from '../api/selectors.js';
import { controllerRefOf, type PodObject } from './pods.js';
import { BY_CONTROLLER_UID } from './replicaset.js';
import {
  type DeploymentObject, type ReplicaSetObject,
  POD_TEMPLATE_HASH_LABEL, REASONS, REVISION_ANNOTATION, ROLLBACK_TO_ANNOTATION,
  activeReplicaSets, actualReplicaCount, availableReplicaCount, readyReplicaCount, replicaCount, replicasOf,
  byCreation, byRevision, bySizeNewer, bySizeOlder,
  deploymentComplete, deploymentProgressing, deploymentTimedOut, desiredReplicasAnnotation, equalIgnoreHash,
  findActiveOrLatest, findNewReplicaSet, findOldReplicaSets, getCondition, hasProgressDeadline, hasRevisionHistoryLimit,
  isRollingUpdate, isSaturated, lastRevision, maxRevision, maxSurge, maxUnavailable, newCondition, newRSNewReplicas,
  normalizeStatus, podTemplateHash, proportion, removeCondition, replicaSetToDeploymentCondition, replicasAnnotationsNeedUpdate,
  revisionOf, rollbackTo, setCondition, setDeploymentAnnotationsTo, setDeploymentRevision, setFromReplicaSetTemplate,
  setNewReplicaSetAnnotations, setReplicasAnnotations,
} from './deployment-util.js';
import { isDeepStrictEqual } from 'node:util';
import { logger } from '../util/log.js';

export type { DeploymentObject, ReplicaSetObject } from './deployment-util.js';

/** Index of ReplicaSets without a controller, by namespace: the candidates for adoption. */
export const ORPHAN_REPLICASETS_BY_NAMESPACE = 'deployment-controller/orphan-replicasets';

const APPS_V1 = 'apps/v1';
const KIND = 'Deployment';

const log = logger('deployment-controller');

export interface DeploymentControllerOptions {
  /** Clock (milliseconds), for tests. */
  now?: () => number;
}

function byControllerUid(o: { metadata?: { ownerReferences?: OwnerReference[] } }): string[] {
  const ref = controllerRefOf(o);
  return ref ? [ref.uid] : [];
}

function sameRef(a: OwnerReference | undefined, b: OwnerReference | undefined): boolean {
  return isDeepStrictEqual(a ?? null, b ?? null);
}

/** Whether a create failed because the namespace is terminating (upstream's NamespaceTerminatingCause). */
function isNamespaceTerminating(e: unknown): boolean {
  if (!(e instanceof ApiStatusError)) return false;
  const causes = (e.status.details?.causes ?? []) as { type?: string }[];
  return causes.some((c) => c.type === 'NamespaceTerminating') || (e.code === 403 && /because it is being terminated/.test(e.message));
}

/** utilerrors.NewAggregate's message. */
function aggregate(errs: Error[]): Error | undefined {
  if (errs.length <= 1) return errs[0];
  return new Error(`[${errs.map((e) => e.message).join(', ')}]`);
}

/**
 * What one sync works on: a private copy of the Deployment (mutated as upstream mutates its
 * copy) and the ReplicaSets it owns, replaced by the server's answers as they are written so
 * that later steps of the same sync do not trip over their own writes.
 */
interface SyncState {
  d: DeploymentObject;
  rsList: ReplicaSetObject[];
}

export class DeploymentController implements Reconciler {
  readonly name = 'deployment';
  readonly queue = new WorkQueue('deployment');
  private readonly client: RestClient;
  private readonly dInformer: Informer<DeploymentObject>;
  private readonly rsInformer: Informer<ReplicaSetObject>;
  private readonly podInformer: Informer<PodObject>;
  private readonly recorder: EventRecorder;
  private readonly now: () => number;

  constructor(ctx: ControllerContext, opts: DeploymentControllerOptions = {}) {
    this.client = ctx.client;
    this.dInformer = ctx.informers.informer<DeploymentObject>('deployments');
    this.rsInformer = ctx.informers.informer<ReplicaSetObject>('replicasets');
    this.podInformer = ctx.informers.informer<PodObject>('pods');
    this.recorder = ctx.recorder({ component: 'deployment-controller' });
    this.now = opts.now ?? Date.now;
  }

  async start(): Promise<void> {
    this.rsInformer.addIndex(BY_CONTROLLER_UID, byControllerUid);
    this.rsInformer.addIndex(ORPHAN_REPLICASETS_BY_NAMESPACE, (rs) => (controllerRefOf(rs) ? [] : [rs.metadata.namespace ?? '']));
    this.podInformer.addIndex(BY_CONTROLLER_UID, byControllerUid);
    this.dInformer.on({
      add: (d) => this.enqueue(d),
      update: (_old, d) => this.enqueue(d),
      delete: (d) => this.enqueue(d),
    });
    this.rsInformer.on({
      add: (rs) => this.rsAdded(rs),
      update: (old, rs) => this.rsUpdated(old, rs),
      delete: (rs) => this.rsDeleted(rs),
    });
    this.podInformer.on({ delete: (p) => this.podDeleted(p) });
    await Promise.all([this.dInformer.start(), this.rsInformer.start(), this.podInformer.start()]);
    // Shared informers may have synced before these handlers were added: sync everything once.
    for (const d of this.dInformer.list()) this.enqueue(d);
  }

  stop(): void {
    this.dInformer.stop();
    this.rsInformer.stop();
    this.podInformer.stop();
  }

  // --- event handlers: they only queue keys ---------------------------------------------------

  private enqueue(d: DeploymentObject): void {
    this.queue.add(keyOf(d));
  }

  /** The Deployment a controller reference points at, if the cache has it with that uid. */
  private resolveControllerRef(namespace: string | undefined, ref: OwnerReference): DeploymentObject | undefined {
    if (ref.kind !== KIND) return undefined;
    const d = this.dInformer.get(`${namespace}/${ref.name}`);
    return d?.metadata.uid === ref.uid ? d : undefined;
  }

  /** Deployments whose selector matches an orphaned ReplicaSet (an empty selector matches nothing). */
  private deploymentsSelecting(rs: ReplicaSetObject): DeploymentObject[] {
    const out: DeploymentObject[] = [];
    for (const d of this.dInformer.list(rs.metadata.namespace ?? '')) {
      let sel: LabelSelector | undefined;
      try {
        sel = labelSelectorFromSpec(d.spec?.selector);
      } catch {
        continue;
      }
      if (!sel || sel.empty || !sel.matches(rs.metadata.labels)) continue;
      out.push(d);
    }
    if (out.length > 1) log.warn({ replicaSet: keyOf(rs), labels: rs.metadata.labels }, 'user error! more than one deployment is selecting replica set');
    return out;
  }

  private rsAdded(rs: ReplicaSetObject): void {
    if (rs.metadata.deletionTimestamp) return this.rsDeleted(rs);
    const ref = controllerRefOf(rs);
    if (ref) {
      const d = this.resolveControllerRef(rs.metadata.namespace, ref);
      if (d) this.enqueue(d);
      return;
    }
    for (const d of this.deploymentsSelecting(rs)) this.enqueue(d);
  }

  private rsUpdated(old: ReplicaSetObject, rs: ReplicaSetObject): void {
    if (old.metadata.resourceVersion === rs.metadata.resourceVersion) return;
    const ref = controllerRefOf(rs), oldRef = controllerRefOf(old);
    const refChanged = !sameRef(ref, oldRef);
    if (refChanged && oldRef) {
      const d = this.resolveControllerRef(old.metadata.namespace, oldRef);
      if (d) this.enqueue(d);
    }
    if (ref) {
      const d = this.resolveControllerRef(rs.metadata.namespace, ref);
      if (d) this.enqueue(d);
      return;
    }
    const labelsChanged = !isDeepStrictEqual(old.metadata.labels ?? {}, rs.metadata.labels ?? {});
    if (labelsChanged || refChanged) for (const d of this.deploymentsSelecting(rs)) this.enqueue(d);
  }

  private rsDeleted(rs: ReplicaSetObject): void {
    const ref = controllerRefOf(rs);
    if (!ref) return;
    const d = this.resolveControllerRef(rs.metadata.namespace, ref);
    if (d) this.enqueue(d);
  }

  /** A Recreate rollout waits for the old pods to be gone: a pod going away may unblock it. */
  private podDeleted(p: PodObject): void {
    const ref = controllerRefOf(p);
    if (!ref || ref.kind !== 'ReplicaSet') return;
    const rs = this.rsInformer.get(`${p.metadata.namespace}/${ref.name}`);
    if (!rs || rs.metadata.uid !== ref.uid) return;
    const rsRef = controllerRefOf(rs);
    if (!rsRef) return;
    const d = this.resolveControllerRef(rs.metadata.namespace, rsRef);
    if (d?.spec?.strategy?.type === 'Recreate') this.enqueue(d);
  }

  // --- API helpers ------------------------------------------------------------------------------

  private involved(d: DeploymentObject): InvolvedObject {
    return { apiVersion: APPS_V1, kind: KIND, metadata: d.metadata };
  }

  private event(d: DeploymentObject, type: 'Normal' | 'Warning', reason: string, message: string): void {
    this.recorder.event(this.involved(d), type, reason, message);
  }

  private dPath(d: DeploymentObject): string {
    return objectPath(this.dInformer.resource, d.metadata.namespace, d.metadata.name!);
  }

  private rsPath(rs: ReplicaSetObject): string {
    return objectPath(this.rsInformer.resource, rs.metadata.namespace, rs.metadata.name!);
  }

  /** UpdateStatus with the Deployment's resourceVersion; the copy takes the new resourceVersion. */
  private async updateStatus(st: SyncState): Promise<void> {
    const body = { ...st.d, apiVersion: APPS_V1, kind: KIND };
    const written = await this.client.update<DeploymentObject>(`${this.dPath(st.d)}/status`, body);
    (st.d.metadata as { resourceVersion?: string }).resourceVersion = written.metadata.resourceVersion;
  }

  /** Update of a ReplicaSet (spec and metadata), guarded by its resourceVersion; the sync's list gets the answer. */
  private async updateReplicaSet(st: SyncState, rs: ReplicaSetObject): Promise<ReplicaSetObject> {
    const written = await this.client.update<ReplicaSetObject>(this.rsPath(rs), { ...rs, apiVersion: APPS_V1, kind: 'ReplicaSet' });
    const i = st.rsList.findIndex((x) => x.metadata.uid === written.metadata.uid);
    if (i >= 0) st.rsList[i] = written;
    return written;
  }

  // --- sync -------------------------------------------------------------------------------------

  async reconcile(key: string): Promise<void> {
    const cached = this.dInformer.get(key);
    if (!cached) return;
    const d = structuredClone(cached);
    d.apiVersion = APPS_V1;
    d.kind = KIND;

    const selectorSpec = d.spec?.selector;
    if (selectorSpec && isDeepStrictEqual(selectorSpec, {})) {
      this.event(d, 'Warning', 'SelectingAll', 'This deployment is selecting all pods. A non-empty selector is required.');
      if ((d.status?.observedGeneration ?? 0) < (d.metadata.generation ?? 0)) {
        (d.status ??= {} as DeploymentStatus).observedGeneration = d.metadata.generation;
        await this.updateStatus({ d, rsList: [] });
      }
      return;
    }

    const st: SyncState = { d, rsList: await this.claimReplicaSets(d) };
    if (d.metadata.deletionTimestamp) return this.syncStatusOnly(st);

    // Paused and resumed Deployments get an Unknown Progressing condition, so that the time
    // spent paused does not count against the progress deadline.
    await this.checkPausedConditions(st);
    if (d.spec?.paused) return this.sync(st);

    // A rollback is not re-entrant: finish it (and clear the request) before anything else.
    if (rollbackTo(d) !== undefined) return this.rollback(st);

    if (await this.isScalingEvent(st)) return this.sync(st);

    switch (d.spec?.strategy?.type) {
      case 'Recreate': return this.rolloutRecreate(st);
      case 'RollingUpdate': return this.rolloutRolling(st);
    }
    throw new Error(`unexpected deployment strategy type: ${d.spec?.strategy?.type}`);
  }

  /**
   * Upstream's getReplicaSetsForDeployment (ClaimReplicaSets): owned ReplicaSets that still match
   * are kept, owned ones that stopped matching are released, matching orphans are adopted (after
   * an uncached read shows the Deployment is not being deleted).
   */
  private async claimReplicaSets(d: DeploymentObject): Promise<ReplicaSetObject[]> {
    const ns = d.metadata.namespace ?? '';
    const uid = d.metadata.uid!;
    let selector: LabelSelector | undefined;
    try {
      selector = labelSelectorFromSpec(d.spec?.selector);
    } catch (e) {
      throw new Error(`deployment ${ns}/${d.metadata.name} has invalid label selector: ${(e as Error).message}`);
    }
    const matches = (rs: ReplicaSetObject) => !!selector && selector.matches(rs.metadata.labels);
    const deleting = !!d.metadata.deletionTimestamp;
    const claimed: ReplicaSetObject[] = [];
    const errors: Error[] = [];
    let canAdopt: Promise<void> | undefined;
    const work: Promise<void>[] = [];

    for (const rs of this.rsInformer.byIndex(BY_CONTROLLER_UID, uid)) {
      if (rs.metadata.namespace !== ns) continue;
      if (matches(rs)) {
        claimed.push(structuredClone(rs));
      } else if (!deleting) {
        work.push(this.releaseReplicaSet(d, rs).catch((e: Error) => { errors.push(e); }));
      }
    }
    if (!deleting) {
      for (const rs of this.rsInformer.byIndex(ORPHAN_REPLICASETS_BY_NAMESPACE, ns)) {
        if (!matches(rs) || rs.metadata.deletionTimestamp) continue;
        canAdopt ??= this.recheckNotDeleted(d);
        work.push(canAdopt
          .catch((e: Error) => { throw new Error(`can't adopt ReplicaSet ${ns}/${rs.metadata.name} (${rs.metadata.uid}): ${e.message}`); })
          .then(() => this.adoptReplicaSet(d, rs))
          .then((adopted) => { if (adopted) claimed.push(adopted); })
          .catch((e: Error) => { errors.push(e); }));
      }
    }
    await Promise.all(work);
    const err = aggregate(errors);
    if (err) throw err;
    return claimed;
  }

  /** Upstream's RecheckDeletionTimestamp. */
  private async recheckNotDeleted(d: DeploymentObject): Promise<void> {
    let fresh: DeploymentObject;
    try {
      fresh = await this.client.get<DeploymentObject>(this.dPath(d));
    } catch (e) {
      throw new Error(`can't recheck DeletionTimestamp: ${(e as Error).message}`);
    }
    if (fresh.metadata.uid !== d.metadata.uid) {
      throw new Error(`can't recheck DeletionTimestamp: original Deployment ${d.metadata.namespace}/${d.metadata.name} is gone: got uid ${fresh.metadata.uid}, wanted ${d.metadata.uid}`);
    }
    if (fresh.metadata.deletionTimestamp) {
      throw new Error(`${fresh.metadata.namespace}/${fresh.metadata.name} has just been deleted at ${fresh.metadata.deletionTimestamp}`);
    }
  }

  private controllerRef(d: DeploymentObject): OwnerReference {
    return { apiVersion: APPS_V1, kind: KIND, name: d.metadata.name!, uid: d.metadata.uid!, controller: true, blockOwnerDeletion: true };
  }

  /** Adds the controller reference (the ReplicaSet's uid in the patch guards against a re-created one); undefined if it is gone. */
  private async adoptReplicaSet(d: DeploymentObject, rs: ReplicaSetObject): Promise<ReplicaSetObject | undefined> {
    try {
      return await this.client.patch<ReplicaSetObject>(this.rsPath(rs), { metadata: { ownerReferences: [this.controllerRef(d)], uid: rs.metadata.uid } }, 'strategic');
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  private async releaseReplicaSet(d: DeploymentObject, rs: ReplicaSetObject): Promise<void> {
    log.info({ replicaSet: keyOf(rs), deployment: keyOf(d) }, 'patching ReplicaSet to remove its controllerRef');
    try {
      await this.client.patch(this.rsPath(rs), { metadata: { ownerReferences: [{ $patch: 'delete', uid: d.metadata.uid }], uid: rs.metadata.uid } }, 'strategic');
    } catch (e) {
      if (isNotFound(e) || (e instanceof ApiStatusError && e.code === 422)) return;
      throw e;
    }
  }

  /** Upstream's getPodMapForDeployment: the Deployment's pods (active or not) by ReplicaSet uid. */
  private podMap(st: SyncState): Map<string, PodObject[]> {
    const map = new Map<string, PodObject[]>();
    let selector: LabelSelector | undefined;
    try {
      selector = labelSelectorFromSpec(st.d.spec?.selector);
    } catch {
      selector = undefined;
    }
    for (const rs of st.rsList) {
      const pods = this.podInformer.byIndex(BY_CONTROLLER_UID, rs.metadata.uid!)
        .filter((p) => p.metadata.namespace === st.d.metadata.namespace && !!selector && selector.matches(p.metadata.labels));
      map.set(rs.metadata.uid!, pods);
    }
    return map;
  }

  // --- revisions and the new ReplicaSet ---------------------------------------------------------

  /** Upstream's getAllReplicaSetsAndSyncRevision: the new ReplicaSet (created if asked) and all old ones. */
  private async getAllReplicaSetsAndSyncRevision(st: SyncState, createIfNotExisted: boolean): Promise<{ newRS?: ReplicaSetObject; oldRSs: ReplicaSetObject[] }> {
    const oldRSs = findOldReplicaSets(st.d, st.rsList);
    const newRS = await this.getNewReplicaSet(st, oldRSs, createIfNotExisted);
    return { newRS, oldRSs };
  }

  /**
   * Upstream's getNewReplicaSet: the ReplicaSet with the Deployment's template, its annotations
   * (revision = max old revision + 1, the Deployment's annotations) and minReadySeconds brought
   * up to date; the Deployment gets its revision. If there is none and createIfNotExisted, it is
   * created as `<deployment>-<hash>`; a name taken by a ReplicaSet with another template is a
   * hash collision, which bumps status.collisionCount and retries.
   */
  private async getNewReplicaSet(st: SyncState, oldRSs: ReplicaSetObject[], createIfNotExisted: boolean): Promise<ReplicaSetObject | undefined> {
    const d = st.d;
    const existing = findNewReplicaSet(d, st.rsList);
    const newRevision = String(maxRevision(oldRSs) + 1);

    if (existing) {
      const rsCopy = structuredClone(existing);
      const annotationsUpdated = setNewReplicaSetAnnotations(d, rsCopy, newRevision, true);
      const minReadyNeedsUpdate = (rsCopy.spec?.minReadySeconds ?? 0) !== (d.spec?.minReadySeconds ?? 0);
      if (annotationsUpdated || minReadyNeedsUpdate) {
        rsCopy.spec!.minReadySeconds = d.spec?.minReadySeconds;
        return this.updateReplicaSet(st, rsCopy);
      }
      // The revision comes from the ReplicaSet, which may have been written by an earlier sync.
      let needsUpdate = setDeploymentRevision(d, rsCopy.metadata.annotations?.[REVISION_ANNOTATION] ?? '');
      // Deployments from before progress reporting: start measuring from now.
      if (hasProgressDeadline(d) && !getCondition(d.status, 'Progressing')) {
        setCondition((d.status ??= {}), newCondition('Progressing', 'True', REASONS.foundNewRS, `Found new replica set "${rsCopy.metadata.name}"`, this.now()));
        needsUpdate = true;
      }
      if (needsUpdate) await this.updateStatus(st);
      return rsCopy;
    }

    if (!createIfNotExisted) return undefined;

    const template = structuredClone(d.spec!.template);
    const hash = podTemplateHash(template, d.status?.collisionCount);
    template.metadata = { ...(template.metadata ?? {}), labels: { ...(template.metadata?.labels ?? {}), [POD_TEMPLATE_HASH_LABEL]: hash } };
    const selector = structuredClone(d.spec!.selector);
    selector.matchLabels = { ...(selector.matchLabels ?? {}), [POD_TEMPLATE_HASH_LABEL]: hash };
    const name = `${d.metadata.name}-${hash}`;
    const newRS: ReplicaSetObject = {
      apiVersion: APPS_V1,
      kind: 'ReplicaSet',
      metadata: {
        name,
        namespace: d.metadata.namespace,
        ownerReferences: [this.controllerRef(d)],
        labels: { ...template.metadata.labels },
      },
      spec: { replicas: 0, minReadySeconds: d.spec?.minReadySeconds, selector, template },
    };
    if (newRS.spec!.minReadySeconds === undefined) delete newRS.spec!.minReadySeconds;
    const newReplicasCount = newRSNewReplicas(d, [...oldRSs, newRS], newRS);
    newRS.spec!.replicas = newReplicasCount;
    setNewReplicaSetAnnotations(d, newRS, newRevision, false);

    let created: ReplicaSetObject;
    let alreadyExists = false;
    try {
      created = await this.client.create<ReplicaSetObject>(collectionPath(this.rsInformer.resource, d.metadata.namespace), newRS);
    } catch (e) {
      if (isAlreadyExists(e)) {
        alreadyExists = true;
        const rs = this.rsInformer.get(`${d.metadata.namespace}/${name}`) ?? await this.client.get<ReplicaSetObject>(objectPath(this.rsInformer.resource, d.metadata.namespace, name));
        // Ours and with this template: a stale cache had hidden it. Anything else is a collision.
        const ref = controllerRefOf(rs);
        if (ref?.uid === d.metadata.uid && equalIgnoreHash(d.spec?.template, rs.spec?.template)) {
          created = structuredClone(rs);
        } else {
          const status = (d.status ??= {});
          const before = status.collisionCount ?? 0;
          (status as { collisionCount?: number }).collisionCount = before + 1;
          await this.updateStatus(st);
          log.info({ deployment: keyOf(d), oldCollisionCount: before, newCollisionCount: before + 1 }, 'found a hash collision for deployment - bumping collisionCount to resolve it');
          throw e;
        }
      } else if (isNamespaceTerminating(e)) {
        throw e;
      } else {
        const msg = `Failed to create new replica set "${name}": ${(e as Error).message}`;
        if (hasProgressDeadline(d)) {
          setCondition((d.status ??= {}), newCondition('Progressing', 'False', REASONS.failedRSCreate, msg, this.now()));
          // The bigger problem is reported below; a failed status write changes nothing.
          await this.updateStatus(st).catch(() => undefined);
        }
        this.event(d, 'Warning', REASONS.failedRSCreate, msg);
        throw e;
      }
    }
    if (!st.rsList.some((rs) => rs.metadata.uid === created.metadata.uid)) st.rsList.push(created);
    if (!alreadyExists && newReplicasCount > 0) {
      this.event(d, 'Normal', 'ScalingReplicaSet', `Scaled up replica set ${created.metadata.name} to ${newReplicasCount}`);
    }
    let needsUpdate = setDeploymentRevision(d, newRevision);
    if (!alreadyExists && hasProgressDeadline(d)) {
      setCondition((d.status ??= {}), newCondition('Progressing', 'True', REASONS.newReplicaSet, `Created new replica set "${created.metadata.name}"`, this.now()));
      needsUpdate = true;
    }
    if (needsUpdate) await this.updateStatus(st);
    return created;
  }

  // --- scaling ----------------------------------------------------------------------------------

  /** Upstream's isScalingEvent: an active ReplicaSet was sized for another replica count. */
  private async isScalingEvent(st: SyncState): Promise<boolean> {
    const { newRS, oldRSs } = await this.getAllReplicaSetsAndSyncRevision(st, false);
    for (const rs of activeReplicaSets([...oldRSs, newRS])) {
      const desired = desiredReplicasAnnotation(rs);
      if (desired === undefined) continue;
      if (desired !== replicasOf(st.d)) return true;
    }
    return false;
  }

  /** Upstream's sync: scaling events and paused Deployments (no rollout progress). */
  private async sync(st: SyncState): Promise<void> {
    const { newRS, oldRSs } = await this.getAllReplicaSetsAndSyncRevision(st, false);
    await this.scale(st, newRS, oldRSs);
    // A paused Deployment still has its history trimmed.
    if (st.d.spec?.paused && rollbackTo(st.d) === undefined) await this.cleanupDeployment(st, oldRSs);
    await this.syncDeploymentStatus(st, this.current(st, [...oldRSs, newRS]), this.current(st, [newRS])[0]);
  }

  private async syncStatusOnly(st: SyncState): Promise<void> {
    const { newRS, oldRSs } = await this.getAllReplicaSetsAndSyncRevision(st, false);
    await this.syncDeploymentStatus(st, [...oldRSs, newRS], newRS);
  }

  /** The latest copies (after this sync's writes) of some ReplicaSets. */
  private current(st: SyncState, rss: (ReplicaSetObject | undefined)[]): (ReplicaSetObject | undefined)[] {
    return rss.map((rs) => rs && (st.rsList.find((x) => x.metadata.uid === rs.metadata.uid) ?? rs));
  }

  /**
   * Upstream's scale: with one active ReplicaSet, it gets all replicas; with a saturated new one,
   * the old ones go to 0; otherwise (RollingUpdate) the difference to replicas + maxSurge is
   * spread over the active ReplicaSets in proportion to their size, so that a scaling event
   * during a rollout (or while paused) neither speeds up nor slows down the rollout.
   */
  private async scale(st: SyncState, newRS: ReplicaSetObject | undefined, oldRSs: ReplicaSetObject[]): Promise<void> {
    const d = st.d;
    const replicas = replicasOf(d);
    const activeOrLatest = findActiveOrLatest(newRS, oldRSs);
    if (activeOrLatest) {
      if (replicasOf(activeOrLatest) === replicas) return;
      await this.scaleReplicaSetAndRecordEvent(st, activeOrLatest, replicas);
      return;
    }
    if (isSaturated(d, newRS)) {
      for (const old of activeReplicaSets(oldRSs)) await this.scaleReplicaSetAndRecordEvent(st, old, 0);
      return;
    }
    if (!isRollingUpdate(d)) return;

    const allRSs = activeReplicaSets([...oldRSs, newRS]);
    const allRSsReplicas = replicaCount(allRSs);
    const allowedSize = replicas > 0 ? replicas + maxSurge(d) : 0;
    const toAdd = allowedSize - allRSsReplicas;
    // Scaling up, the newer of equal ReplicaSets goes first; scaling down, the older.
    let operation = '';
    if (toAdd > 0) {
      allRSs.sort(bySizeNewer);
      operation = 'up';
    } else if (toAdd < 0) {
      allRSs.sort(bySizeOlder);
      operation = 'down';
    }
    let added = 0;
    const sizes = new Map<string, number>();
    for (const rs of allRSs) {
      if (toAdd !== 0) {
        const p = proportion(rs, d, toAdd, added);
        sizes.set(rs.metadata.name!, replicasOf(rs) + p);
        added += p;
      } else {
        sizes.set(rs.metadata.name!, replicasOf(rs));
      }
    }
    for (let i = 0; i < allRSs.length; i++) {
      const rs = allRSs[i];
      // Leftovers go to the largest ReplicaSet.
      if (i === 0 && toAdd !== 0) sizes.set(rs.metadata.name!, Math.max(0, sizes.get(rs.metadata.name!)! + toAdd - added));
      await this.scaleReplicaSet(st, rs, sizes.get(rs.metadata.name!)!, operation);
    }
  }

  private async scaleReplicaSetAndRecordEvent(st: SyncState, rs: ReplicaSetObject, newScale: number): Promise<{ scaled: boolean; rs: ReplicaSetObject }> {
    if (replicasOf(rs) === newScale) return { scaled: false, rs };
    return this.scaleReplicaSet(st, rs, newScale, replicasOf(rs) < newScale ? 'up' : 'down');
  }

  /** Resize a ReplicaSet and bring its desired/max replica annotations up to date. */
  private async scaleReplicaSet(st: SyncState, rs: ReplicaSetObject, newScale: number, operation: string): Promise<{ scaled: boolean; rs: ReplicaSetObject }> {
    const d = st.d;
    const sizeNeedsUpdate = replicasOf(rs) !== newScale;
    const desired = replicasOf(d), max = replicasOf(d) + maxSurge(d);
    if (!sizeNeedsUpdate && !replicasAnnotationsNeedUpdate(rs, desired, max)) return { scaled: false, rs };
    const oldScale = replicasOf(rs);
    const rsCopy = structuredClone(rs);
    rsCopy.spec!.replicas = newScale;
    setReplicasAnnotations(rsCopy, desired, max);
    const written = await this.updateReplicaSet(st, rsCopy);
    if (sizeNeedsUpdate) {
      this.event(d, 'Normal', 'ScalingReplicaSet', `Scaled ${operation} replica set ${written.metadata.name} to ${newScale} from ${oldScale}`);
    }
    return { scaled: sizeNeedsUpdate, rs: written };
  }

  /**
   * Upstream's cleanupDeployment: keep revisionHistoryLimit old ReplicaSets; delete the oldest
   * revisions beyond that which have no replicas (in spec and status) and whose spec the
   * ReplicaSet controller has seen.
   */
  private async cleanupDeployment(st: SyncState, oldRSs: ReplicaSetObject[]): Promise<void> {
    const d = st.d;
    if (!hasRevisionHistoryLimit(d)) return;
    const cleanable = this.current(st, oldRSs).filter((rs): rs is ReplicaSetObject => !!rs && !rs.metadata.deletionTimestamp);
    const diff = cleanable.length - d.spec!.revisionHistoryLimit!;
    if (diff <= 0) return;
    cleanable.sort(byRevision);
    for (let i = 0; i < diff; i++) {
      const rs = cleanable[i];
      if ((rs.status?.replicas ?? 0) !== 0 || replicasOf(rs) !== 0 || (rs.metadata.generation ?? 0) > (rs.status?.observedGeneration ?? 0) || rs.metadata.deletionTimestamp) continue;
      log.debug({ replicaSet: keyOf(rs), deployment: keyOf(d) }, 'trying to clean up replica set for deployment');
      try {
        await this.client.delete(this.rsPath(rs));
      } catch (e) {
        // Stop at the first failure rather than pile up deletions on a struggling server.
        if (!isNotFound(e)) throw e;
      }
    }
  }

  // --- status -----------------------------------------------------------------------------------

  /** Upstream's calculateStatus: counts from the ReplicaSets, and the Available condition. */
  private calculateStatus(d: DeploymentObject, allRSs: (ReplicaSetObject | undefined)[], newRS: ReplicaSetObject | undefined): DeploymentStatus {
    const available = availableReplicaCount(allRSs);
    const total = replicaCount(allRSs);
    const status: DeploymentStatus = {
      observedGeneration: d.metadata.generation,
      replicas: actualReplicaCount(allRSs),
      updatedReplicas: actualReplicaCount([newRS]),
      readyReplicas: readyReplicaCount(allRSs),
      availableReplicas: available,
      // More available than desired (e.g. while scaling down) is not "negative unavailable".
      unavailableReplicas: Math.max(0, total - available),
      conditions: (d.status?.conditions ?? []).map((c) => ({ ...c })),
    };
    if (d.status?.collisionCount !== undefined) (status as { collisionCount?: number }).collisionCount = d.status.collisionCount;
    if (available >= replicasOf(d) - maxUnavailable(d)) {
      setCondition(status, newCondition('Available', 'True', REASONS.minimumReplicasAvailable, 'Deployment has minimum availability.', this.now()));
    } else {
      setCondition(status, newCondition('Available', 'False', REASONS.minimumReplicasUnavailable, 'Deployment does not have minimum availability.', this.now()));
    }
    return status;
  }

  private async writeStatusIfChanged(st: SyncState, status: DeploymentStatus): Promise<boolean> {
    const next = normalizeStatus(status);
    if (isDeepStrictEqual(normalizeStatus(st.d.status), next)) return false;
    st.d.status = next;
    await this.updateStatus(st);
    return true;
  }

  private async syncDeploymentStatus(st: SyncState, allRSs: (ReplicaSetObject | undefined)[], newRS: ReplicaSetObject | undefined): Promise<void> {
    await this.writeStatusIfChanged(st, this.calculateStatus(st.d, allRSs, newRS));
  }

  /**
   * Upstream's syncRolloutStatus: the status of a rollout in progress, with the Progressing
   * condition — NewReplicaSetAvailable when complete, ReplicaSetUpdated (lastUpdateTime
   * refreshed) on any progress, ProgressDeadlineExceeded when none came in time — and the
   * ReplicaSets' ReplicaFailure condition.
   */
  private async syncRolloutStatus(st: SyncState, allRSs: (ReplicaSetObject | undefined)[], newRS: ReplicaSetObject | undefined): Promise<void> {
    const d = st.d;
    allRSs = this.current(st, allRSs);
    newRS = this.current(st, [newRS])[0];
    const status = this.calculateStatus(d, allRSs, newRS);
    if (!hasProgressDeadline(d)) removeCondition(status, 'Progressing');

    // Only one active ReplicaSet and a completed rollout: a resync with no progress to estimate.
    const current = getCondition(d.status, 'Progressing');
    const isCompleteDeployment = (status.replicas ?? 0) === (status.updatedReplicas ?? 0) && current?.reason === REASONS.newRSAvailable;
    if (hasProgressDeadline(d) && !isCompleteDeployment) {
      const now = this.now();
      if (deploymentComplete(d, status)) {
        const msg = newRS ? `ReplicaSet "${newRS.metadata.name}" has successfully progressed.` : `Deployment "${d.metadata.name}" has successfully progressed.`;
        setCondition(status, newCondition('Progressing', 'True', REASONS.newRSAvailable, msg, now));
      } else if (deploymentProgressing(d, status)) {
        const msg = newRS ? `ReplicaSet "${newRS.metadata.name}" is progressing.` : `Deployment "${d.metadata.name}" is progressing.`;
        const cond = newCondition('Progressing', 'True', REASONS.replicaSetUpdated, msg, now);
        // Progress refreshes lastUpdateTime even when the reason stays the same.
        if (current) {
          if (current.status === 'True') cond.lastTransitionTime = current.lastTransitionTime;
          removeCondition(status, 'Progressing');
        }
        setCondition(status, cond);
      } else if (deploymentTimedOut(d, status, now)) {
        const msg = newRS ? `ReplicaSet "${newRS.metadata.name}" has timed out progressing.` : `Deployment "${d.metadata.name}" has timed out progressing.`;
        setCondition(status, newCondition('Progressing', 'False', REASONS.timedOut, msg, now));
      }
    }

    const failure = this.replicaFailure(allRSs, newRS);
    if (failure) setCondition(status, failure);
    else removeCondition(status, 'ReplicaFailure');

    if (!(await this.writeStatusIfChanged(st, status))) this.requeueStuckDeployment(d, status);
  }

  /** The ReplicaFailure condition of the new ReplicaSet, else of any old one. */
  private replicaFailure(allRSs: (ReplicaSetObject | undefined)[], newRS: ReplicaSetObject | undefined) {
    const failureOf = (rs: ReplicaSetObject | undefined) => rs?.status?.conditions?.find((c) => c.type === 'ReplicaFailure');
    const c = failureOf(newRS) ?? allRSs.map(failureOf).find((x) => x);
    return c && replicaSetToDeploymentCondition(c);
  }

  /** A rollout without progress is looked at again when its progress deadline passes. */
  private requeueStuckDeployment(d: DeploymentObject, status: DeploymentStatus): void {
    const current = getCondition(d.status, 'Progressing');
    if (!hasProgressDeadline(d) || !current) return;
    if (deploymentComplete(d, status) || current.reason === REASONS.timedOut) return;
    const last = current.lastUpdateTime ? Date.parse(current.lastUpdateTime) : NaN;
    if (Number.isNaN(last)) return;
    const after = last + d.spec!.progressDeadlineSeconds! * 1000 - this.now();
    this.queue.addAfter(keyOf(d), Math.max(0, after) + 1000);
  }

  /** Upstream's checkPausedConditions. */
  private async checkPausedConditions(st: SyncState): Promise<void> {
    const d = st.d;
    if (!hasProgressDeadline(d)) return;
    const cond = getCondition(d.status, 'Progressing');
    // A reported lack of progress is not overwritten by pausing.
    if (cond?.reason === REASONS.timedOut) return;
    const pausedCondExists = cond?.reason === REASONS.paused;
    const status = (d.status ??= {});
    if (d.spec?.paused && !pausedCondExists) {
      setCondition(status, newCondition('Progressing', 'Unknown', REASONS.paused, 'Deployment is paused', this.now()));
    } else if (!d.spec?.paused && pausedCondExists) {
      setCondition(status, newCondition('Progressing', 'Unknown', REASONS.resumed, 'Deployment is resumed', this.now()));
    } else {
      return;
    }
    await this.updateStatus(st);
  }

  // --- RollingUpdate ----------------------------------------------------------------------------

  private async rolloutRolling(st: SyncState): Promise<void> {
    const { newRS, oldRSs } = await this.getAllReplicaSetsAndSyncRevision(st, true);
    const allRSs = [...oldRSs, newRS];

    if (await this.reconcileNewReplicaSet(st, allRSs, newRS!)) return this.syncRolloutStatus(st, allRSs, newRS);
    if (await this.reconcileOldReplicaSets(st, this.current(st, allRSs), activeReplicaSets(this.current(st, oldRSs)), this.current(st, [newRS])[0]!)) {
      return this.syncRolloutStatus(st, allRSs, newRS);
    }
    if (deploymentComplete(st.d, st.d.status ?? {})) await this.cleanupDeployment(st, oldRSs);
    return this.syncRolloutStatus(st, allRSs, newRS);
  }

  /** Scale the new ReplicaSet up as far as maxSurge allows (or down to replicas). */
  private async reconcileNewReplicaSet(st: SyncState, allRSs: (ReplicaSetObject | undefined)[], newRS: ReplicaSetObject): Promise<boolean> {
    const replicas = replicasOf(st.d);
    if (replicasOf(newRS) === replicas) return false;
    if (replicasOf(newRS) > replicas) return (await this.scaleReplicaSetAndRecordEvent(st, newRS, replicas)).scaled;
    const count = newRSNewReplicas(st.d, allRSs, newRS);
    return (await this.scaleReplicaSetAndRecordEvent(st, newRS, count)).scaled;
  }

  /**
   * Scale old ReplicaSets down as far as maxUnavailable allows, counting the new ReplicaSet's
   * unavailable pods against it; unhealthy old replicas go first, as removing them costs no
   * availability.
   */
  private async reconcileOldReplicaSets(st: SyncState, allRSs: (ReplicaSetObject | undefined)[], oldRSs: ReplicaSetObject[], newRS: ReplicaSetObject): Promise<boolean> {
    const d = st.d;
    if (replicaCount(oldRSs) === 0) return false;
    const allPodsCount = replicaCount(allRSs);
    const minAvailable = replicasOf(d) - maxUnavailable(d);
    const newRSUnavailable = replicasOf(newRS) - (newRS.status?.availableReplicas ?? 0);
    const maxScaledDown = allPodsCount - minAvailable - newRSUnavailable;
    if (maxScaledDown <= 0) return false;

    let cleanedUp: { oldRSs: ReplicaSetObject[]; count: number };
    try {
      cleanedUp = await this.cleanupUnhealthyReplicas(st, oldRSs, maxScaledDown);
    } catch (e) {
      // As upstream: the next sync (which this sync's own write triggers) tries again.
      log.debug({ deployment: keyOf(d), err: (e as Error).message }, 'cleaning up unhealthy replicas failed');
      return false;
    }
    let scaledDown: number;
    try {
      scaledDown = await this.scaleDownOldReplicaSetsForRollingUpdate(st, [...cleanedUp.oldRSs, newRS], cleanedUp.oldRSs);
    } catch (e) {
      log.debug({ deployment: keyOf(d), err: (e as Error).message }, 'scaling down old replica sets failed');
      return false;
    }
    return cleanedUp.count + scaledDown > 0;
  }

  private async cleanupUnhealthyReplicas(st: SyncState, oldRSs: ReplicaSetObject[], maxCleanup: number): Promise<{ oldRSs: ReplicaSetObject[]; count: number }> {
    oldRSs = [...oldRSs].sort(byCreation);
    let total = 0;
    for (let i = 0; i < oldRSs.length; i++) {
      const rs = oldRSs[i];
      if (total >= maxCleanup) break;
      const replicas = replicasOf(rs), available = rs.status?.availableReplicas ?? 0;
      if (replicas === 0 || replicas === available) continue;
      const count = Math.min(maxCleanup - total, replicas - available);
      const newCount = replicas - count;
      if (newCount > replicas) throw new Error(`when cleaning up unhealthy replicas, got invalid request to scale down ${rs.metadata.namespace}/${rs.metadata.name} ${replicas} -> ${newCount}`);
      const { rs: updated } = await this.scaleReplicaSetAndRecordEvent(st, rs, newCount);
      total += count;
      oldRSs[i] = updated;
    }
    return { oldRSs, count: total };
  }

  private async scaleDownOldReplicaSetsForRollingUpdate(st: SyncState, allRSs: ReplicaSetObject[], oldRSs: ReplicaSetObject[]): Promise<number> {
    const d = st.d;
    const minAvailable = replicasOf(d) - maxUnavailable(d);
    const availablePods = availableReplicaCount(allRSs);
    if (availablePods <= minAvailable) return 0;
    oldRSs = [...oldRSs].sort(byCreation);
    const target = availablePods - minAvailable;
    let total = 0;
    for (const rs of oldRSs) {
      if (total >= target) break;
      const replicas = replicasOf(rs);
      if (replicas === 0) continue;
      const count = Math.min(replicas, target - total);
      const newCount = replicas - count;
      if (newCount > replicas) throw new Error(`when scaling down old RS, got invalid request to scale down ${rs.metadata.namespace}/${rs.metadata.name} ${replicas} -> ${newCount}`);
      await this.scaleReplicaSetAndRecordEvent(st, rs, newCount);
      total += count;
    }
    return total;
  }

  // --- Recreate ---------------------------------------------------------------------------------

  private async rolloutRecreate(st: SyncState): Promise<void> {
    // The new ReplicaSet is not created yet, so that nothing scales up before the old pods are gone.
    let { newRS, oldRSs } = await this.getAllReplicaSetsAndSyncRevision(st, false);
    let allRSs = [...oldRSs, newRS];

    if (await this.scaleDownOldReplicaSetsForRecreate(st, activeReplicaSets(oldRSs))) return this.syncRolloutStatus(st, allRSs, newRS);
    if (this.oldPodsRunning(newRS, oldRSs, this.podMap(st))) return this.syncRolloutStatus(st, allRSs, newRS);

    if (!newRS) {
      ({ newRS, oldRSs } = await this.getAllReplicaSetsAndSyncRevision(st, true));
      allRSs = [...oldRSs, newRS];
    }
    await this.scaleReplicaSetAndRecordEvent(st, this.current(st, [newRS])[0]!, replicasOf(st.d));
    if (deploymentComplete(st.d, st.d.status ?? {})) await this.cleanupDeployment(st, oldRSs);
    return this.syncRolloutStatus(st, allRSs, newRS);
  }

  private async scaleDownOldReplicaSetsForRecreate(st: SyncState, oldRSs: ReplicaSetObject[]): Promise<boolean> {
    let scaled = false;
    for (const rs of oldRSs) {
      if (replicasOf(rs) === 0) continue;
      if ((await this.scaleReplicaSetAndRecordEvent(st, rs, 0)).scaled) scaled = true;
    }
    return scaled;
  }

  /** Upstream's oldPodsRunning: old ReplicaSets report pods, or pods of them are not finished (terminating ones included). */
  private oldPodsRunning(newRS: ReplicaSetObject | undefined, oldRSs: ReplicaSetObject[], podMap: Map<string, PodObject[]>): boolean {
    if (actualReplicaCount(oldRSs) > 0) return true;
    for (const [uid, pods] of podMap) {
      if (newRS && newRS.metadata.uid === uid) continue;
      for (const p of pods) {
        const phase = p.status?.phase;
        if (phase === 'Failed' || phase === 'Succeeded') continue;
        return true;
      }
    }
    return false;
  }

  // --- rollback (the deprecated rollbackTo annotation) --------------------------------------------

  /**
   * Upstream's rollback, for `deprecated.deployment.rollback.to` (what extensions/v1beta1's
   * spec.rollbackTo became): the Deployment takes the template and annotations of the
   * ReplicaSet with that revision (0: the previous one); the annotation is removed in any case.
   * `kubectl rollout undo` does not use this: it patches the template itself.
   */
  private async rollback(st: SyncState): Promise<void> {
    const d = st.d;
    const { newRS, oldRSs } = await this.getAllReplicaSetsAndSyncRevision(st, true);
    const allRSs = this.current(st, [...oldRSs, newRS]).filter((rs): rs is ReplicaSetObject => !!rs);
    let revision = rollbackTo(d)!;
    if (revision === 0) {
      revision = lastRevision(allRSs);
      if (revision === 0) {
        this.event(d, 'Warning', REASONS.rollbackRevisionNotFound, 'Unable to find last revision.');
        return this.updateDeploymentAndClearRollbackTo(st);
      }
    }
    for (const rs of allRSs) {
      if (revisionOf(rs) !== revision) continue;
      const performed = await this.rollbackToTemplate(st, rs);
      if (performed) this.event(d, 'Normal', REASONS.rollbackDone, `Rolled back deployment "${d.metadata.name}" to revision ${revision}`);
      return;
    }
    this.event(d, 'Warning', REASONS.rollbackRevisionNotFound, 'Unable to find the revision to rollback to.');
    return this.updateDeploymentAndClearRollbackTo(st);
  }

  private async rollbackToTemplate(st: SyncState, rs: ReplicaSetObject): Promise<boolean> {
    const d = st.d;
    let performed = false;
    if (!equalIgnoreHash(d.spec?.template, rs.spec?.template)) {
      setFromReplicaSetTemplate(d, rs.spec!.template!);
      // The ReplicaSet's annotations (e.g. its change-cause) come back with its template.
      setDeploymentAnnotationsTo(d, rs);
      performed = true;
    } else {
      this.event(d, 'Warning', REASONS.rollbackTemplateUnchanged, `The rollback revision contains the same template as current deployment "${d.metadata.name}"`);
    }
    await this.updateDeploymentAndClearRollbackTo(st);
    return performed;
  }

  private async updateDeploymentAndClearRollbackTo(st: SyncState): Promise<void> {
    const d = st.d;
    if (d.metadata.annotations) delete d.metadata.annotations[ROLLBACK_TO_ANNOTATION];
    await this.client.update(this.dPath(d), { ...d, apiVersion: APPS_V1, kind: KIND });
  }
}
