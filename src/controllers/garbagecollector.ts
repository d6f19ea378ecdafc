// The garbage collector, after upstream's pkg/controller/garbagecollector: objects whose owners
// (ownerReferences) are all gone are deleted; an owner deleted in the foreground (finalizer
// `foregroundDeletion`) waits until its blocking dependents are gone; an owner deleted with the
// `orphan` finalizer first has itself removed from its dependents' ownerReferences.
//
// Upstream keeps its own graph (uid → node with owners and dependents) fed by informers of every
// deletable resource. Here the shared informers' caches are that graph: each carries an index of
// its objects by owner uid, so "the dependents of X" is one index lookup per resource and "is the
// owner there" is one cache lookup by the reference's coordinates. Owners the caches do not (yet)
// know are verified against the API server, as upstream does for its "virtual" nodes.
//
// Work items (queue keys):
//   delete|<plural>|<namespace>|<name>|<uid>  upstream's attemptToDelete for one object
//   orphan|<plural>|<namespace>|<name>|<uid>  upstream's attemptToOrphan for one owner
//   owner|<uid>                               verify an owner the caches do not have
import type { OwnerReference } from 'kubernetes-types/meta/v1.js';
import type { Reconciler } from '../client/controller.js';
import type { ControllerContext } from '../client/factory.js';
import { objectPath, type Informer } from '../client/informer.js';
import { isConflict, isNotFound, type RestClient } from '../client/rest.js';
import { WorkQueue } from '../client/workqueue.js';
import { RESOURCES, type ResourceType } from '../api/resources.js';
import type { KObject } from '../api/types.js';
import { logger } from '../util/log.js';

/** Index of every watched object by the uids of its owners. */
export const OWNER_UID_INDEX = 'garbage-collector/owner-uid';
/** Upstream's DefaultIgnoredResources: events (core and events.k8s.io) are never collected. */
export const IGNORED_RESOURCES = new Set(['/events', 'events.k8s.io/events']);
/** Size of the cache of owners known to be absent (upstream: 500). */
const ABSENT_OWNER_CACHE_SIZE = 500;
/** Concurrent requests when orphaning many dependents of one owner. */
const ORPHAN_CONCURRENCY = 50;

const FOREGROUND = 'foregroundDeletion';
const ORPHAN = 'orphan';

type Policy = 'Orphan' | 'Foreground' | 'Background';

const log = logger('garbage-collector');

export interface GarbageCollectorOptions {
  /** Plural names of the resources to watch; default: every deletable, listable, watchable resource but events. */
  resources?: string[];
}

function groupOf(apiVersion: string): string {
  const i = apiVersion.indexOf('/');
  return i < 0 ? '' : apiVersion.slice(0, i);
}

function beingDeleted(o: KObject): boolean {
  return !!o.metadata.deletionTimestamp;
}

function hasFinalizer(o: KObject, f: string): boolean {
  return o.metadata.finalizers?.includes(f) ?? false;
}

/** Being deleted in the foreground: waiting for its blocking dependents to go. */
function deletingDependents(o: KObject): boolean {
  return beingDeleted(o) && hasFinalizer(o, FOREGROUND);
}

/** The object just entered deletion with this finalizer (or was first seen so). */
function startsDeletionWith(old: KObject | undefined, o: KObject, finalizer: string): boolean {
  if (!beingDeleted(o) || !hasFinalizer(o, finalizer)) return false;
  return !old || !beingDeleted(old) || !hasFinalizer(old, finalizer);
}

function blocks(ref: OwnerReference | undefined): boolean {
  return ref?.blockOwnerDeletion === true;
}

function sameRef(a: OwnerReference, b: OwnerReference): boolean {
  return a.uid === b.uid && a.name === b.name && a.kind === b.kind && a.apiVersion === b.apiVersion && blocks(a) === blocks(b);
}

/** A set that forgets its oldest entries beyond a size. */
class LruSet {
  private readonly items = new Set<string>();
  constructor(private readonly max: number) {}
  add(k: string): void {
    this.items.delete(k);
    this.items.add(k);
    if (this.items.size > this.max) this.items.delete(this.items.values().next().value as string);
  }
  has(k: string): boolean {
    return this.items.has(k);
  }
}

interface Item {
  inf: Informer;
  obj: KObject;
}

export class GarbageCollector implements Reconciler {
  readonly name = 'garbagecollector';
  readonly queue = new WorkQueue('garbagecollector');
  private readonly client: RestClient;
  private readonly byPlural = new Map<string, Informer>();
  /** `<group>/<kind>` → informer: owner references are resolved by group and kind. */
  private readonly byGroupKind = new Map<string, Informer>();
  /** Owners the API server said are absent, by `<uid>|<plural>|<namespace>|<name>`. */
  private readonly absentOwners = new LruSet(ABSENT_OWNER_CACHE_SIZE);

  constructor(ctx: ControllerContext, opts: GarbageCollectorOptions = {}) {
    this.client = ctx.client;
    const plurals = opts.resources ?? RESOURCES
      .filter((r) => (['delete', 'list', 'watch'] as const).every((v) => r.verbs.includes(v)) && !IGNORED_RESOURCES.has(`${r.group}/${r.plural}`))
      .map((r) => r.plural);
    for (const plural of plurals) {
      const inf = ctx.informers.informer(plural);
      this.byPlural.set(plural, inf);
      this.byGroupKind.set(`${inf.resource.group}/${inf.resource.kind}`, inf);
    }
  }

  async start(): Promise<void> {
    for (const inf of this.byPlural.values()) {
      inf.addIndex(OWNER_UID_INDEX, (o) => o.metadata.ownerReferences?.map((r) => r.uid) ?? []);
      inf.on({
        add: (o) => this.observed(inf, undefined, o),
        update: (old, o) => this.observed(inf, old, o),
        delete: (o) => this.removed(inf, o),
      });
    }
    await Promise.all([...this.byPlural.values()].map((i) => i.start()));
    // Shared informers may have synced before these handlers were added: look at everything once.
    for (const inf of this.byPlural.values()) for (const o of inf.list()) this.observed(inf, undefined, o);
  }

  stop(): void {
    for (const inf of this.byPlural.values()) inf.stop();
  }

  // --- the graph, from the caches -----------------------------------------------------------

  private informerForRef(ref: OwnerReference): Informer | undefined {
    return this.byGroupKind.get(`${groupOf(ref.apiVersion)}/${ref.kind}`);
  }

  /** The namespace an owner reference of an object in `namespace` points into. */
  private static ownerNamespace(ownerInf: Informer, namespace: string | undefined): string {
    return ownerInf.resource.namespaced ? namespace ?? '' : '';
  }

  private static cacheKey(r: ResourceType, namespace: string, name: string): string {
    return r.namespaced ? `${namespace}/${name}` : name;
  }

  /** The owner as the cache has it, if it has it with the referenced uid. */
  private cachedOwner(ref: OwnerReference, namespace: string | undefined): KObject | undefined {
    const inf = this.informerForRef(ref);
    if (!inf) return undefined;
    const o = inf.get(GarbageCollector.cacheKey(inf.resource, GarbageCollector.ownerNamespace(inf, namespace), ref.name));
    return o?.metadata.uid === ref.uid ? o : undefined;
  }

  private absentKey(ownerInf: Informer, ref: OwnerReference, namespace: string | undefined): string {
    return `${ref.uid}|${ownerInf.resource.plural}|${GarbageCollector.ownerNamespace(ownerInf, namespace)}|${ref.name}`;
  }

  private dependentsOf(uid: string): Item[] {
    const out: Item[] = [];
    for (const inf of this.byPlural.values()) for (const obj of inf.byIndex(OWNER_UID_INDEX, uid)) out.push({ inf, obj });
    return out;
  }

  private static itemKey(type: 'delete' | 'orphan', inf: Informer, o: KObject): string {
    return `${type}|${inf.resource.plural}|${o.metadata.namespace ?? ''}|${o.metadata.name}|${o.metadata.uid}`;
  }

  private attemptToDelete(inf: Informer, o: KObject): void {
    this.queue.add(GarbageCollector.itemKey('delete', inf, o));
  }

  // --- event handlers (upstream's processGraphChanges): they only queue work ----------------

  private observed(inf: Informer, old: KObject | undefined, o: KObject): void {
    if (old && old.metadata.uid !== o.metadata.uid) {
      // Deleted and re-created between two looks (a re-list): two separate objects.
      this.removed(inf, old);
      old = undefined;
    }
    const refs = o.metadata.ownerReferences ?? [];
    const oldRefs = old?.metadata.ownerReferences ?? [];
    // Most updates (status, say) leave the references alone: skip the diff then.
    const unchanged = old !== undefined && refs.length === oldRefs.length
      && refs.every((r, i) => sameRef(r, oldRefs[i]));
    if (!unchanged && (refs.length || oldRefs.length)) {
      const before = new Map(oldRefs.map((r) => [r.uid, r]));
      for (const ref of refs) {
        const prior = before.get(ref.uid);
        before.delete(ref.uid);
        // An owner the caches do not know may be gone: verify (upstream's virtual node).
        if ((!prior || !sameRef(prior, ref)) && !this.cachedOwner(ref, o.metadata.namespace)) this.queue.add(`owner|${ref.uid}`);
        // A blocking reference turned non-blocking may let a foreground deletion finish.
        if (prior && blocks(prior) && !blocks(ref)) this.ownerUnblocked(prior, o.metadata.namespace);
      }
      for (const removed of before.values()) if (blocks(removed)) this.ownerUnblocked(removed, o.metadata.namespace);
    }
    if (startsDeletionWith(old, o, ORPHAN)) {
      this.queue.add(GarbageCollector.itemKey('orphan', inf, o));
      return;
    }
    if (startsDeletionWith(old, o, FOREGROUND)) {
      for (const dep of this.dependentsOf(o.metadata.uid!)) this.attemptToDelete(dep.inf, dep.obj);
      this.attemptToDelete(inf, o);
    }
  }

  private ownerUnblocked(ref: OwnerReference, namespace: string | undefined): void {
    const owner = this.cachedOwner(ref, namespace);
    if (owner && deletingDependents(owner)) this.attemptToDelete(this.informerForRef(ref)!, owner);
  }

  private removed(inf: Informer, o: KObject): void {
    const dependents = this.dependentsOf(o.metadata.uid!);
    if (dependents.length) {
      this.absentOwners.add(`${o.metadata.uid}|${inf.resource.plural}|${inf.resource.namespaced ? o.metadata.namespace ?? '' : ''}|${o.metadata.name}`);
    }
    for (const dep of dependents) this.attemptToDelete(dep.inf, dep.obj);
    // The last blocking dependent of a foreground deletion may just have gone.
    for (const ref of o.metadata.ownerReferences ?? []) {
      const owner = this.cachedOwner(ref, o.metadata.namespace);
      if (owner && deletingDependents(owner)) this.attemptToDelete(this.informerForRef(ref)!, owner);
    }
  }

  // --- workers ----------------------------------------------------------------------------

  async reconcile(key: string): Promise<void> {
    const [type, ...rest] = key.split('|');
    if (type === 'owner') return this.verifyOwner(rest[0]);
    const [plural, namespace, name, uid] = rest;
    const inf = this.byPlural.get(plural);
    if (!inf) return;
    const o = inf.get(namespace ? `${namespace}/${name}` : name);
    // Gone (or replaced): its delete event has queued what depends on it.
    if (!o || o.metadata.uid !== uid) return;
    if (type === 'orphan') return this.orphanDependents(inf, o);
    return this.attemptToDeleteItem(inf, o);
  }

  /**
   * An owner the caches did not have when a dependent referenced it: ask the API server; if it
   * is absent (or has another uid), its dependents are garbage candidates.
   */
  private async verifyOwner(uid: string): Promise<void> {
    const groups = new Map<string, { ownerInf: Informer; ref: OwnerReference; namespace: string | undefined; deps: Item[] }>();
    for (const dep of this.dependentsOf(uid)) {
      const ref = dep.obj.metadata.ownerReferences?.find((r) => r.uid === uid);
      const ownerInf = ref && this.informerForRef(ref);
      if (!ref || !ownerInf) continue;
      if (!dep.inf.resource.namespaced && ownerInf.resource.namespaced) continue;
      // Dependents may disagree on the owner's coordinates: each set is verified on its own.
      const k = this.absentKey(ownerInf, ref, dep.obj.metadata.namespace);
      let g = groups.get(k);
      if (!g) groups.set(k, (g = { ownerInf, ref, namespace: dep.obj.metadata.namespace, deps: [] }));
      g.deps.push(dep);
    }
    for (const [k, g] of groups) {
      if (this.cachedOwner(g.ref, g.namespace)) continue;
      if (!this.absentOwners.has(k) && (await this.liveOwner(g.ownerInf, g.ref, g.namespace))) continue;
      for (const dep of g.deps) this.attemptToDelete(dep.inf, dep.obj);
    }
  }

  /** Upstream's isDangling lookup: the owner from the API server, or undefined (and remembered) if absent. */
  private async liveOwner(ownerInf: Informer, ref: OwnerReference, namespace: string | undefined): Promise<KObject | undefined> {
    const ns = ownerInf.resource.namespaced ? namespace : undefined;
    let owner: KObject;
    try {
      owner = await this.client.get<KObject>(objectPath(ownerInf.resource, ns, ref.name));
    } catch (e) {
      if (!isNotFound(e)) throw e;
      this.absentOwners.add(this.absentKey(ownerInf, ref, namespace));
      return undefined;
    }
    if (owner.metadata.uid !== ref.uid) {
      this.absentOwners.add(this.absentKey(ownerInf, ref, namespace));
      return undefined;
    }
    return owner;
  }

  /** Upstream's attemptToDeleteItem. */
  private async attemptToDeleteItem(inf: Informer, o: KObject): Promise<void> {
    // Being deleted is a one-way trip: its dependents are handled once it is gone.
    if (beingDeleted(o) && !deletingDependents(o)) return;
    if (deletingDependents(o)) return this.processDeletingDependents(inf, o);
    const refs = o.metadata.ownerReferences ?? [];
    if (!refs.length) return;

    const solid: OwnerReference[] = [], dangling: OwnerReference[] = [], waiting: OwnerReference[] = [];
    for (const ref of refs) {
      const ownerInf = this.informerForRef(ref);
      if (!ownerInf) {
        // A kind this server does not serve cannot be verified; upstream retries it forever
        // and never collects the object, so count it as an existing owner.
        log.debug({ item: GarbageCollector.itemKey('delete', inf, o), owner: ref }, 'owner reference to an unknown kind');
        solid.push(ref);
        continue;
      }
      if (!inf.resource.namespaced && ownerInf.resource.namespaced) {
        // Cluster-scoped objects cannot have namespaced owners; retrying would not help.
        log.info({ item: GarbageCollector.itemKey('delete', inf, o), owner: ref }, 'item is cluster-scoped, but refers to a namespaced owner');
        return;
      }
      let owner: KObject | undefined;
      if (!this.absentOwners.has(this.absentKey(ownerInf, ref, o.metadata.namespace))) {
        owner = this.cachedOwner(ref, o.metadata.namespace) ?? (await this.liveOwner(ownerInf, ref, o.metadata.namespace));
      }
      if (!owner) dangling.push(ref);
      else if (deletingDependents(owner)) waiting.push(ref);
      else solid.push(ref);
    }

    if (solid.length) {
      if (!dangling.length && !waiting.length) return;
      // Drop the references to absent owners and to owners waiting for their dependents (which
      // would otherwise wait for this object forever).
      const uids = [...dangling, ...waiting].map((r) => r.uid);
      await this.patchOwnerRefs(inf, o, uids.map((uid) => ({ $patch: 'delete', uid })));
      return;
    }
    const ownDependents = waiting.length ? this.dependentsOf(o.metadata.uid!) : [];
    if (ownDependents.length) {
      // Owned by foreground deletions and owning things itself: delete it in the foreground too.
      // If one of its own dependents is also deleting in the foreground, there may be a cycle:
      // make this object's references non-blocking first.
      if (ownDependents.some((d) => deletingDependents(d.obj))) {
        const unblocked = refs.filter((r) => blocks(r)).map((r) => ({ ...r, blockOwnerDeletion: false }));
        await this.patchOwnerRefs(inf, o, unblocked);
      }
      return this.deleteObject(inf, o, 'Foreground');
    }
    // No owner left: collect it, honouring a propagation the object already asked for.
    const policy: Policy = hasFinalizer(o, ORPHAN) ? 'Orphan' : hasFinalizer(o, FOREGROUND) ? 'Foreground' : 'Background';
    log.debug({ item: GarbageCollector.itemKey('delete', inf, o), policy }, 'deleting item');
    return this.deleteObject(inf, o, policy);
  }

  /** An owner in foreground deletion: remove its finalizer once no blocking dependent is left. */
  private async processDeletingDependents(inf: Informer, o: KObject): Promise<void> {
    const uid = o.metadata.uid!;
    const blocking = this.dependentsOf(uid).filter((d) => d.obj.metadata.ownerReferences?.some((r) => r.uid === uid && blocks(r)));
    if (!blocking.length) return this.removeFinalizer(inf, o, FOREGROUND);
    // Dependents already terminating only need time; the others get (another) look.
    for (const d of blocking) if (!beingDeleted(d.obj)) this.attemptToDelete(d.inf, d.obj);
  }

  private path(inf: Informer, o: KObject): string {
    return objectPath(inf.resource, inf.resource.namespaced ? o.metadata.namespace : undefined, o.metadata.name!);
  }

  /** A strategic-merge patch of ownerReferences; the object's uid in it guards against a re-created object. */
  private async patchOwnerRefs(inf: Informer, o: KObject, refs: Record<string, unknown>[]): Promise<void> {
    try {
      await this.client.patch(this.path(inf, o), { metadata: { ownerReferences: refs, uid: o.metadata.uid } }, 'strategic');
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  /**
   * Delete with uid and resourceVersion preconditions, so that an object whose references
   * changed meanwhile is not collected; on a conflict over unchanged references (say, a status
   * update) delete with the uid precondition alone.
   */
  private async deleteObject(inf: Informer, o: KObject, policy: Policy): Promise<void> {
    const path = this.path(inf, o);
    const uid = o.metadata.uid!;
    const options = (resourceVersion?: string) => ({
      kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: policy,
      preconditions: resourceVersion ? { uid, resourceVersion } : { uid },
    });
    try {
      await this.client.delete(path, options(o.metadata.resourceVersion));
      return;
    } catch (e) {
      if (isNotFound(e)) return;
      if (!isConflict(e)) throw e;
    }
    let live: KObject;
    try {
      live = await this.client.get<KObject>(path);
    } catch (e) {
      if (isNotFound(e)) return;
      throw e;
    }
    if (live.metadata.uid !== uid) return;
    if (JSON.stringify(live.metadata.ownerReferences ?? []) !== JSON.stringify(o.metadata.ownerReferences ?? [])) {
      throw new Error(`the ownerReferences of ${path} changed; will look again`);
    }
    try {
      await this.client.delete(path, options());
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  /** Upstream's removeFinalizer: a merge patch of the finalizer list guarded by resourceVersion, retried on conflicts. */
  private async removeFinalizer(inf: Informer, o: KObject, finalizer: string): Promise<void> {
    const path = this.path(inf, o);
    for (let attempt = 0; ; attempt++) {
      let live: KObject;
      try {
        live = await this.client.get<KObject>(path);
      } catch (e) {
        if (isNotFound(e)) return;
        throw e;
      }
      if (live.metadata.uid !== o.metadata.uid || !hasFinalizer(live, finalizer)) return;
      const rest = live.metadata.finalizers!.filter((f) => f !== finalizer);
      try {
        await this.client.patch(path, { metadata: { resourceVersion: live.metadata.resourceVersion, finalizers: rest.length ? rest : null } }, 'merge');
        return;
      } catch (e) {
        if (isNotFound(e)) return;
        if (!isConflict(e) || attempt >= 4) throw e;
      }
    }
  }

  /** Upstream's attemptToOrphanWorker: drop the owner from its dependents, then its `orphan` finalizer. */
  private async orphanDependents(inf: Informer, owner: KObject): Promise<void> {
    const uid = owner.metadata.uid!;
    const dependents = this.dependentsOf(uid);
    const errors: string[] = [];
    for (let i = 0; i < dependents.length; i += ORPHAN_CONCURRENCY) {
      await Promise.all(dependents.slice(i, i + ORPHAN_CONCURRENCY).map(async (d) => {
        try {
          await this.patchOwnerRefs(d.inf, d.obj, [{ $patch: 'delete', uid }]);
        } catch (e) {
          errors.push(`orphaning ${GarbageCollector.itemKey('delete', d.inf, d.obj)} failed, ${(e as Error).message}`);
        }
      }));
    }
    if (errors.length) {
      throw new Error(`failed to orphan dependents of owner ${GarbageCollector.itemKey('orphan', inf, owner)}, got errors: ${errors.join(', ')}`);
    }
    await this.removeFinalizer(inf, owner, ORPHAN);
  }
}
