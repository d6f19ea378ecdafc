// The namespace controller, after upstream's pkg/controller/namespace: a namespace being deleted
// (deletionTimestamp set, phase Terminating) has all its content deleted, resource by resource;
// its status conditions say what is left; once nothing is left, the `kubernetes` finalizer is
// removed through the finalize subresource and the API server removes the namespace.
import type { Namespace, NamespaceCondition } from 'kubernetes-types/core/v1.js';
import type { Reconciler } from '../client/controller.js';
import type { ControllerContext } from '../client/factory.js';
import type { Informer } from '../client/informer.js';
import { collectionPath } from '../client/informer.js';
import { isConflict, isNotFound, type RestClient } from '../client/rest.js';
import { WorkQueue } from '../client/workqueue.js';
import { RESOURCES, type ResourceType } from '../api/resources.js';
import type { KObject } from '../api/types.js';
import { logger } from '../util/log.js';

export type NamespaceObject = Namespace & KObject;

/** The finalizer this controller owns in spec.finalizers. */
export const FINALIZER_TOKEN = 'kubernetes';
/**
 * Upstream waits this long after seeing a deletion before acting, so that (HA) API servers see
 * the deletion and last-moment creations in the namespace land first.
 */
export const NAMESPACE_DELETION_GRACE_PERIOD_MS = 5000;
/** Upstream's wait estimate when content is held by finalizers. */
const FINALIZER_ESTIMATE_SECONDS = 15;
/** How soon a pod disappearing from a terminating namespace triggers another look. */
const POD_GONE_RECHECK_MS = 250;

const log = logger('namespace-controller');

/** Upstream's condition types, in the order they are kept, with the texts of their "all is well" variants. */
const CONDITIONS: { type: string; okReason: string; okMessage: string }[] = [
  { type: 'NamespaceDeletionDiscoveryFailure', okReason: 'ResourcesDiscovered', okMessage: 'All resources successfully discovered' },
  { type: 'NamespaceDeletionGroupVersionParsingFailure', okReason: 'ParsedGroupVersions', okMessage: 'All legacy kube types successfully parsed' },
  { type: 'NamespaceDeletionContentFailure', okReason: 'ContentDeleted', okMessage: 'All content successfully deleted, may be waiting on finalization' },
  { type: 'NamespaceContentRemaining', okReason: 'ContentRemoved', okMessage: 'All content successfully removed' },
  { type: 'NamespaceFinalizersRemaining', okReason: 'ContentHasNoFinalizers', okMessage: 'All content-preserving finalizers finished' },
];

export interface NamespaceControllerOptions {
  /** Delay between seeing a deletion and acting on it (upstream: 5 s). */
  deletionDelayMs?: number;
}

/** Content is left that should go by itself within `estimate` seconds (graceful pods, finalizers). */
class ResourcesRemainingError extends Error {
  constructor(readonly estimate: number) {
    super(`some content remains in the namespace, estimate ${estimate} seconds before it is removed`);
  }
}

interface ListPage {
  metadata: { continue?: string };
  items: KObject[];
}

interface ResourceRemaining {
  estimate: number;
  remaining: number;
  finalizers: Map<string, number>;
  /** Content is left that nothing is going to remove. */
  error?: Error;
}

function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Go's GroupVersionResource.String(), as upstream's messages print it: `/v1, Resource=pods`. */
function gvrString(r: ResourceType): string {
  return `${r.group}/${r.version}, Resource=${r.plural}`;
}

export class NamespaceController implements Reconciler {
  readonly name = 'namespace';
  readonly queue = new WorkQueue('namespace');
  private readonly client: RestClient;
  private readonly nsInformer: Informer<NamespaceObject>;
  private readonly podInformer: Informer;
  private readonly delayMs: number;
  private readonly rechecks = new Map<string, NodeJS.Timeout>();
  /** Every namespaced resource that can be deleted: what a namespace's deletion removes. */
  private readonly contentResources = RESOURCES.filter((r) => r.namespaced && r.verbs.includes('delete'));

  constructor(ctx: ControllerContext, opts: NamespaceControllerOptions = {}) {
    this.client = ctx.client;
    this.nsInformer = ctx.informers.informer<NamespaceObject>('namespaces');
    this.podInformer = ctx.informers.informer('pods');
    this.delayMs = opts.deletionDelayMs ?? NAMESPACE_DELETION_GRACE_PERIOD_MS;
  }

  async start(): Promise<void> {
    this.nsInformer.on({ add: (ns) => this.enqueue(ns), update: (_, ns) => this.enqueue(ns) });
    // Upstream polls while graceful pods terminate; noticing them go gets the namespace removed sooner.
    this.podInformer.on({ delete: (p) => this.podGone(p.metadata.namespace ?? '') });
    await Promise.all([this.nsInformer.start(), this.podInformer.start()]);
    for (const ns of this.nsInformer.list()) this.enqueue(ns);
  }

  stop(): void {
    this.nsInformer.stop();
    this.podInformer.stop();
    for (const t of this.rechecks.values()) clearTimeout(t);
    this.rechecks.clear();
  }

  private enqueue(ns: NamespaceObject): void {
    if (!ns.metadata.deletionTimestamp) return;
    this.queue.addAfter(ns.metadata.name!, this.delayMs);
  }

  private podGone(namespace: string): void {
    if (!this.nsInformer.get(namespace)?.metadata.deletionTimestamp || this.rechecks.has(namespace)) return;
    const t = setTimeout(() => {
      this.rechecks.delete(namespace);
      this.queue.add(namespace);
    }, POD_GONE_RECHECK_MS);
    t.unref();
    this.rechecks.set(namespace, t);
  }

  async reconcile(name: string): Promise<void> {
    try {
      await this.deleteNamespace(name);
    } catch (e) {
      if (!(e instanceof ResourcesRemainingError)) throw e;
      // Look again when the remaining content should be gone (upstream: estimate/2 + 1 s).
      log.debug({ namespace: name, estimate: e.estimate }, 'content remaining in namespace');
      this.queue.addAfter(name, (Math.floor(e.estimate / 2) + 1) * 1000);
    }
  }

  /** Upstream's namespacedResourcesDeleter.Delete. */
  private async deleteNamespace(name: string): Promise<void> {
    let ns: NamespaceObject;
    try {
      ns = await this.client.get<NamespaceObject>(`/api/v1/namespaces/${name}`);
    } catch (e) {
      if (isNotFound(e)) return;
      throw e;
    }
    if (!ns.metadata.deletionTimestamp) return;
    try {
      ns = await this.retryOnConflict(ns, (n) => this.ensureTerminating(n));
    } catch (e) {
      if (isNotFound(e)) return;
      throw e;
    }
    if (!ns.spec?.finalizers?.length) return;

    const estimate = await this.deleteAllContent(ns);
    if (estimate > 0) throw new ResourcesRemainingError(estimate);
    try {
      await this.retryOnConflict(ns, (n) => this.finalize(n));
    } catch (e) {
      // Another controller with the same token may have finished it.
      if (!isNotFound(e)) throw e;
    }
  }

  /** Upstream's retryOnConflictError: on a conflict, read the namespace again and retry. */
  private async retryOnConflict(ns: NamespaceObject, fn: (ns: NamespaceObject) => Promise<NamespaceObject>): Promise<NamespaceObject> {
    let latest = ns;
    for (;;) {
      try {
        return await fn(latest);
      } catch (e) {
        if (!isConflict(e)) throw e;
      }
      const fresh = await this.client.get<NamespaceObject>(`/api/v1/namespaces/${latest.metadata.name}`);
      if (fresh.metadata.uid !== latest.metadata.uid) throw new Error('namespace uid has changed across retries');
      latest = fresh;
    }
  }

  private async ensureTerminating(ns: NamespaceObject): Promise<NamespaceObject> {
    if (ns.status?.phase === 'Terminating') return ns;
    return this.client.update<NamespaceObject>(`/api/v1/namespaces/${ns.metadata.name}/status`, { ...ns, status: { ...ns.status, phase: 'Terminating' } });
  }

  /** Remove this controller's token from spec.finalizers (upstream keeps the rest, sorted). */
  private async finalize(ns: NamespaceObject): Promise<NamespaceObject> {
    const finalizers = [...new Set(ns.spec?.finalizers ?? [])].filter((f) => f !== FINALIZER_TOKEN).sort();
    return this.client.update<NamespaceObject>(`/api/v1/namespaces/${ns.metadata.name}/finalize`, {
      apiVersion: 'v1', kind: 'Namespace', metadata: ns.metadata, spec: { ...ns.spec, finalizers },
    });
  }

  /** Upstream's deleteAllContent: returns the estimated seconds until the rest is gone (0 = nothing left). */
  private async deleteAllContent(ns: NamespaceObject): Promise<number> {
    const name = ns.metadata.name!;
    let estimate = 0;
    const errors: Error[] = [];
    const remainingByResource: string[] = [];
    const remainingByFinalizer = new Map<string, number>();
    for (const r of this.contentResources) {
      let res: ResourceRemaining;
      try {
        res = await this.deleteAllOf(r, name);
      } catch (e) {
        errors.push(e as Error);
        continue;
      }
      if (res.error) errors.push(res.error);
      estimate = Math.max(estimate, res.estimate);
      if (res.remaining > 0) {
        remainingByResource.push(`${r.plural}.${r.group} has ${res.remaining} resource instances`);
        for (const [f, n] of res.finalizers) remainingByFinalizer.set(f, (remainingByFinalizer.get(f) ?? 0) + n);
      }
    }

    const now = Date.now();
    const failing: NamespaceCondition[] = [];
    if (remainingByResource.length) {
      failing.push({ type: 'NamespaceContentRemaining', status: 'True', reason: 'SomeResourcesRemain',
        message: `Some resources are remaining: ${remainingByResource.sort().join(', ')}`, lastTransitionTime: rfc3339(now) });
    }
    if (remainingByFinalizer.size) {
      const parts = [...remainingByFinalizer].map(([f, n]) => `${f} in ${n} resource instances`).sort();
      failing.push({ type: 'NamespaceFinalizersRemaining', status: 'True', reason: 'SomeFinalizersRemain',
        message: `Some content in the namespace has finalizers remaining: ${parts.join(', ')}`, lastTransitionTime: rfc3339(now) });
    }
    if (errors.length) {
      const msgs = errors.map((e) => e.message).sort();
      failing.push({ type: 'NamespaceDeletionContentFailure', status: 'True', reason: 'ContentDeletionFailed',
        message: `Failed to delete all resource types, ${errors.length} remaining: ${msgs.join(', ')}`, lastTransitionTime: rfc3339(now) });
    }
    const conditions = this.updatedConditions(ns.status?.conditions ?? [], failing, now);
    if (conditions) {
      try {
        await this.client.update(`/api/v1/namespaces/${name}/status`, { ...ns, status: { ...ns.status, conditions } });
      } catch (e) {
        log.warn({ namespace: name, err: (e as Error).message }, "couldn't update status condition for namespace");
      }
    }
    if (errors.length) throw new Error(errors.length === 1 ? errors[0].message : `[${errors.map((e) => e.message).join(', ')}]`);
    return estimate;
  }

  /** Upstream's updateConditions: every maintained type present, failing or "ok"; undefined when nothing changed. */
  private updatedConditions(current: NamespaceCondition[], failing: NamespaceCondition[], now: number): NamespaceCondition[] | undefined {
    const out = current.map((c) => ({ ...c }));
    let changed = false;
    for (const { type, okReason, okMessage } of CONDITIONS) {
      const want = failing.find((c) => c.type === type)
        ?? { type, status: 'False', reason: okReason, message: okMessage, lastTransitionTime: rfc3339(now) };
      const have = out.find((c) => c.type === type);
      if (!have) {
        out.push(want);
        changed = true;
      } else if (have.status !== want.status || have.reason !== want.reason || have.message !== want.message) {
        if (have.status !== want.status) have.lastTransitionTime = rfc3339(now);
        have.status = want.status;
        have.reason = want.reason;
        have.message = want.message;
        changed = true;
      }
    }
    return changed ? out : undefined;
  }

  /** Upstream's deleteAllContentForGroupVersionResource. */
  private async deleteAllOf(r: ResourceType, namespace: string): Promise<ResourceRemaining> {
    const path = collectionPath(r, namespace);
    const estimate = r.kind === 'Pod' ? await this.estimateForPods(namespace) : 0;
    // Background: the namespace is emptied anyway, and no orphan finalizer may hold things back.
    const options = { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' };
    if (r.verbs.includes('deletecollection')) {
      await this.client.delete(path, options);
    } else {
      for (const o of await this.listAll(path)) {
        try {
          await this.client.delete(`${path}/${o.metadata.name}`, options);
        } catch (e) {
          if (!isNotFound(e)) throw e;
        }
      }
    }
    const left = await this.listAll(path);
    if (left.length === 0) return { estimate: 0, remaining: 0, finalizers: new Map() };
    const finalizers = new Map<string, number>();
    for (const o of left) for (const f of o.metadata.finalizers ?? []) finalizers.set(f, (finalizers.get(f) ?? 0) + 1);
    if (estimate > 0) return { estimate, remaining: left.length, finalizers };
    // Finalizers are normal (the garbage collector, say); give them time.
    if (finalizers.size) return { estimate: FINALIZER_ESTIMATE_SECONDS, remaining: left.length, finalizers };
    return { estimate, remaining: left.length, finalizers, error: new Error(`unexpected items still remain in namespace: ${namespace} for gvr: ${gvrString(r)}`) };
  }

  /** The longest grace period of the namespace's unfinished pods: how long their kubelets may take. */
  private async estimateForPods(namespace: string): Promise<number> {
    let estimate = 0;
    for (const p of await this.listAll(collectionPath(this.podInformer.resource, namespace))) {
      const phase = (p.status as { phase?: string } | undefined)?.phase;
      if (phase === 'Succeeded' || phase === 'Failed') continue;
      const grace = (p.spec as { terminationGracePeriodSeconds?: number } | undefined)?.terminationGracePeriodSeconds;
      if (grace !== undefined && grace > estimate) estimate = grace;
    }
    return estimate;
  }

  private async listAll(path: string): Promise<KObject[]> {
    const items: KObject[] = [];
    let cont: string | undefined;
    do {
      const page = await this.client.get<ListPage>(path, { limit: 500, continue: cont });
      items.push(...page.items);
      cont = page.metadata.continue;
    } while (cont);
    return items;
  }
}
