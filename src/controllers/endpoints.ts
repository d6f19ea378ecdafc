// The Endpoints controller, after upstream's pkg/controller/endpoint (v1.32): for every Service with
// a selector, an Endpoints object of the same name listing the pods it selects in its namespace —
// ready pods under `addresses`, the others under `notReadyAddresses` (all under `addresses` with
// publishNotReadyAddresses), terminal, IP-less and (unless publishNotReadyAddresses) terminating
// pods left out, named targetPorts resolved per pod, everything packed and ordered as RepackSubsets
// does, at most 1,000 addresses (over-capacity annotation), labels copied from the Service plus the
// headless label, and the last-change-trigger-time annotation. Selectorless and ExternalName
// Services are left alone; Endpoints are deleted with their Service, and leftovers whose Service
// is gone are cleaned up at start.
//
// Work is keyed by Service; a pod change queues only the Services that select it (old and new
// labels), found through label indexes, and a sync reads only the Service's pods. Writes that
// would change nothing are skipped.
import type { Endpoints, EndpointAddress, EndpointPort, Pod, Service } from 'kubernetes-types/core/v1.js';
import type { Reconciler } from '../client/controller.js';
import type { ControllerContext } from '../client/factory.js';
import type { Informer } from '../client/informer.js';
import { keyOf, splitKey, objectPath, collectionPath } from '../client/informer.js';
import type { EventRecorder } from '../client/events.js';
import { isNotFound, type RestClient } from '../client/rest.js';
import { WorkQueue } from '../client/workqueue.js';
import type { ResourceType } from '../api/resources.js';
import type { KObject } from '../api/types.js';
import { podIPs, serviceIPFamily } from '../api/endpoint-membership.js';
import {
  HEADLESS_LABEL, LEADER_ANNOTATION, OVER_CAPACITY_ANNOTATION, TRIGGER_TIME_ANNOTATION, TRUNCATED,
  SubsetPacker, TriggerTimeTracker, findPort, formatTriggerTime, isNamespaceTerminating, isServiceIPSet,
  podEndpointsChanged, podsSelectedBy, queueServicesOnServiceAndPodEvents, sameLabelsExcept, serviceSelector,
  shouldPodBeInEndpoints, shouldSetHostname, subsetsEqualIgnoringResourceVersion, truncateSubsets,
} from './endpoint-util.js';
import { isPodReady } from './pods.js';

export type ServiceObject = Service & KObject;
export type EndpointsObject = Endpoints & KObject;
type PodObject = Pod & KObject;

/** Upstream's --concurrent-endpoint-syncs default. */
export const ENDPOINTS_CONTROLLER_WORKERS = 5;

/**
 * How long a sync waits for the Endpoints cache to show the controller's own last write before it
 * goes ahead anyway (the cache normally catches up within milliseconds and wakes the sync itself).
 */
const CACHE_WAIT_MS = 1000;

export interface EndpointsControllerOptions {
  /** Delay of pod-triggered syncs, so that several pod changes make one write (--endpoint-updates-batch-period; default 0). */
  endpointUpdatesBatchPeriodMs?: number;
}

/** A write whose result the Endpoints cache has not shown yet. */
interface PendingWrite {
  /** The resourceVersion the cache still shows until it catches up; null after a create (no object yet). */
  staleResourceVersion: string | null;
  since: number;
}

export class EndpointsController implements Reconciler {
  readonly name = 'endpoint';
  readonly queue = new WorkQueue('endpoint');
  private readonly client: RestClient;
  private readonly services: Informer<ServiceObject>;
  private readonly pods: Informer<PodObject>;
  private readonly endpoints: Informer<EndpointsObject>;
  private readonly endpointsResource: ResourceType;
  private readonly recorder: EventRecorder;
  private readonly batchPeriodMs: number;
  private readonly triggerTimes = new TriggerTimeTracker();
  /** Upstream's staleEndpointsTracker, extended to creates: writes the cache has yet to show. */
  private readonly pending = new Map<string, PendingWrite>();
  /** Services whose sync stopped to wait for the cache: the next Endpoints event for them queues them again. */
  private readonly waitingForCache = new Set<string>();

  constructor(ctx: ControllerContext, opts: EndpointsControllerOptions = {}) {
    this.client = ctx.client;
    this.services = ctx.informers.informer<ServiceObject>('services');
    this.pods = ctx.informers.informer<PodObject>('pods');
    this.endpoints = ctx.informers.informer<EndpointsObject>('endpoints');
    this.endpointsResource = ctx.informers.resource('endpoints');
    this.recorder = ctx.recorder({ component: 'endpoint-controller' });
    this.batchPeriodMs = opts.endpointUpdatesBatchPeriodMs ?? 0;
  }

  async start(): Promise<void> {
    queueServicesOnServiceAndPodEvents(this.services, this.pods, this.queue, this.batchPeriodMs, (old, cur) => podEndpointsChanged(old, cur).podChanged);
    // Upstream syncs on Endpoints deletions only; kubelite also wakes a sync waiting for the cache.
    this.endpoints.on({
      add: (ep) => this.cacheMoved(keyOf(ep)),
      update: (_old, ep) => this.cacheMoved(keyOf(ep)),
      delete: (ep) => {
        const key = keyOf(ep);
        this.pending.delete(key);
        this.waitingForCache.delete(key);
        this.queue.add(key);
      },
    });
    await Promise.all([this.services.start(), this.pods.start(), this.endpoints.start()]);
    // Shared informers may have synced before these handlers were added: sync every Service once.
    for (const s of this.services.list()) this.queue.add(keyOf(s));
    this.checkLeftoverEndpoints();
  }

  stop(): void {
    this.services.stop();
    this.pods.stop();
    this.endpoints.stop();
  }

  /**
   * checkLeftoverEndpoints: queue every Endpoints object under its own name, so that those whose
   * Service was deleted while the controller was not running get deleted. Leader-election locks
   * stored as Endpoints have no Service and are left alone.
   */
  private checkLeftoverEndpoints(): void {
    for (const ep of this.endpoints.list()) {
      if (ep.metadata.annotations?.[LEADER_ANNOTATION] !== undefined) continue;
      this.queue.add(keyOf(ep));
    }
  }

  private cacheMoved(key: string): void {
    if (this.waitingForCache.delete(key)) this.queue.add(key);
  }

  async reconcile(key: string): Promise<void> {
    const { namespace = '', name } = splitKey(key);
    const svc = this.services.get(key);
    if (!svc) {
      // The Service is gone: so are its Endpoints (they carry no ownerReference; the controller deletes them).
      try {
        await this.client.delete(objectPath(this.endpointsResource, namespace, name));
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
      this.triggerTimes.delete(key);
      this.pending.delete(key);
      this.waitingForCache.delete(key);
      return;
    }
    // ExternalName Services get no endpoints; selectorless ones get those users write.
    if (svc.spec?.type === 'ExternalName') return;
    const selector = serviceSelector(svc);
    if (!selector) return;

    const current = this.endpoints.get(key);
    if (this.mustWaitForCache(key, current)) return;

    const pods = podsSelectedBy(this.pods, namespace, selector);
    const trigger = this.triggerTimes.compute(svc, pods);
    const { subsets, truncated } = truncateSubsets(this.desiredSubsets(svc, pods));

    // As upstream: subsets, labels (but the headless one) and the capacity annotation decide; the
    // trigger-time annotation alone never causes a write. Upstream compares the subsets before
    // truncation, so it rewrites an over-capacity object on every sync; kubelite compares what it
    // would write.
    if (current
      && subsetsEqualIgnoringResourceVersion(current.subsets, subsets)
      && sameLabelsExcept(current.metadata.labels, svc.metadata.labels, HEADLESS_LABEL)
      && current.metadata.annotations?.[OVER_CAPACITY_ANNOTATION] === (truncated ? TRUNCATED : undefined)) {
      trigger.commit();
      return;
    }

    const labels: Record<string, string> = { ...svc.metadata.labels };
    if (isServiceIPSet(svc)) delete labels[HEADLESS_LABEL];
    else labels[HEADLESS_LABEL] = '';
    const annotations: Record<string, string> = { ...current?.metadata.annotations };
    if (trigger.time) annotations[TRIGGER_TIME_ANNOTATION] = formatTriggerTime(trigger.time);
    else delete annotations[TRIGGER_TIME_ANNOTATION];
    if (truncated) annotations[OVER_CAPACITY_ANNOTATION] = TRUNCATED;
    else delete annotations[OVER_CAPACITY_ANNOTATION];

    const metadata: EndpointsObject['metadata'] = current ? { ...current.metadata } : { name, namespace };
    if (Object.keys(labels).length) metadata.labels = labels;
    else delete metadata.labels;
    if (Object.keys(annotations).length) metadata.annotations = annotations;
    else delete metadata.annotations;
    const next: EndpointsObject = { apiVersion: 'v1', kind: 'Endpoints', metadata, ...(subsets.length ? { subsets } : {}) };

    try {
      if (!current) {
        await this.client.create(collectionPath(this.endpointsResource, namespace), next);
        this.pending.set(key, { staleResourceVersion: null, since: Date.now() });
      } else {
        const written = await this.client.update<EndpointsObject>(objectPath(this.endpointsResource, namespace, name), next);
        // A write the server found to change nothing keeps the resourceVersion: the cache is not stale then.
        if (written.metadata.resourceVersion !== current.metadata.resourceVersion) {
          this.pending.set(key, { staleResourceVersion: current.metadata.resourceVersion ?? '', since: Date.now() });
        }
      }
    } catch (e) {
      // Creating in a terminating namespace keeps failing; the namespace's deletion ends the matter.
      if (!current && isNamespaceTerminating(e)) return;
      const err = (e as Error).message;
      if (!current) {
        // As upstream: the event is about the object it tried to create, which has no namespace yet.
        this.recorder.event({ apiVersion: 'v1', kind: 'Endpoints', metadata: { name } }, 'Warning', 'FailedToCreateEndpoint',
          `Failed to create endpoint for service ${namespace}/${name}: ${err}`);
      } else {
        this.recorder.event({ apiVersion: 'v1', kind: 'Endpoints', metadata }, 'Warning', 'FailedToUpdateEndpoint',
          `Failed to update endpoint ${namespace}/${name}: ${err}`);
      }
      throw e;
    }
    trigger.commit();
  }

  /**
   * Whether the cache still shows the Endpoints as they were before this controller's last write
   * (or not at all after its create): computing from it would undo or repeat that write. The sync
   * then waits for the cache's next event for the object (upstream returns an error and retries
   * with back-off), or CACHE_WAIT_MS at most.
   */
  private mustWaitForCache(key: string, current: EndpointsObject | undefined): boolean {
    const p = this.pending.get(key);
    if (!p) return false;
    const stale = p.staleResourceVersion === null ? current === undefined : current?.metadata.resourceVersion === p.staleResourceVersion;
    const waited = Date.now() - p.since;
    if (!stale || waited >= CACHE_WAIT_MS) {
      this.pending.delete(key);
      return false;
    }
    this.waitingForCache.add(key);
    this.queue.addAfter(key, CACHE_WAIT_MS - waited);
    return true;
  }

  /** The Service's subsets, repacked (before truncation). */
  private desiredSubsets(svc: ServiceObject, pods: PodObject[]) {
    const packer = new SubsetPacker();
    const publishNotReady = !!svc.spec?.publishNotReadyAddresses;
    const ports = svc.spec?.ports ?? [];
    const headless = svc.spec?.clusterIP === 'None';
    // One EndpointPort per (Service port, resolved number): pods resolving alike share it.
    const portCache = ports.map(() => new Map<number, EndpointPort>());
    for (const pod of pods) {
      if (!shouldPodBeInEndpoints(pod, publishNotReady)) continue;
      const address = endpointAddress(svc, pod);
      if (!address) continue;
      const ready = publishNotReady || isPodReady(pod);
      if (ports.length === 0) {
        // Only headless Services may have no ports; their addresses carry none.
        if (headless) packer.add(address, undefined, ready);
        continue;
      }
      ports.forEach((sp, i) => {
        const number = findPort(pod, sp);
        if (number === undefined) return;
        let ep = portCache[i].get(number);
        if (!ep) {
          ep = { port: number };
          if (sp.name) ep.name = sp.name;
          if (sp.protocol) ep.protocol = sp.protocol;
          if (sp.appProtocol !== undefined) ep.appProtocol = sp.appProtocol;
          portCache[i].set(number, ep);
        }
        packer.add(address, ep, ready);
      });
    }
    return packer.pack();
  }
}

/**
 * podToEndpointAddressForService: the pod's first IP of the Service's family (ipFamilies[0]), its
 * node and a reference to it (kind, namespace, name, uid: no resourceVersion), and its hostname when
 * it sits in the Service's subdomain. undefined when it has no IP of that family.
 */
export function endpointAddress(svc: Service, pod: Pod): EndpointAddress | undefined {
  const v6 = serviceIPFamily(svc, pod) === 'IPv6';
  const ip = podIPs(pod).find((a) => a.includes(':') === v6);
  if (!ip) return undefined;
  const m = pod.metadata ?? {};
  const targetRef: EndpointAddress['targetRef'] = { kind: 'Pod', namespace: m.namespace, name: m.name };
  if (m.uid) targetRef.uid = m.uid;
  // nodeName is always set, even empty, as upstream points it at the pod's field.
  const address: EndpointAddress = { ip, nodeName: pod.spec?.nodeName ?? '', targetRef };
  if (shouldSetHostname(pod, svc)) address.hostname = pod.spec!.hostname;
  return address;
}
