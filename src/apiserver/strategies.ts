// Per-resource write strategies: what upstream's registry strategies (pkg/registry/<group>/<resource>/strategy.go)
// do to an object on create and update beyond defaulting and validation: resetting status on
// create, keeping fields the main endpoint may not change, and bumping metadata.generation.
import type { KObject } from '../api/types.js';
import { jsonDeepStrictEqual, sameMembers } from './patch/value.js';

export interface Strategy {
  /** Called on create after system fields are set, before defaulting and validation. */
  prepareForCreate?(obj: KObject): void;
  /** Called on update of the main resource (not status), before defaulting and validation. */
  prepareForUpdate?(obj: KObject, old: KObject): void;
  /** Called on a status update after spec and system fields were taken from the stored object. */
  prepareForStatusUpdate?(obj: KObject, old: KObject): void;
  /** Whether a change from old to obj bumps metadata.generation (resources that track generation). */
  generationChanged?(obj: KObject, old: KObject): boolean;
}

/** The fields that are not the spec, for kinds without a `spec` field. */
const NOT_SPEC: ReadonlySet<string> = new Set(['metadata', 'status', 'apiVersion', 'kind']);

const specChanged = (obj: KObject, old: KObject) => !jsonDeepStrictEqual(obj.spec, old.spec);

type Resources = Record<string, { limits?: Record<string, string>; requests?: Record<string, string> }>;

/** Upstream's pod QoS class (pkg/apis/core/helper/qos): BestEffort, Guaranteed or Burstable. */
export function podQOSClass(spec: { containers?: { resources?: Resources[string] }[]; initContainers?: { resources?: Resources[string] }[] } | undefined): string {
  const containers = [...(spec?.containers ?? []), ...(spec?.initContainers ?? [])];
  const compute = (m: Record<string, string> | undefined) =>
    Object.fromEntries(Object.entries(m ?? {}).filter(([k, v]) => (k === 'cpu' || k === 'memory') && v !== '0'));
  let any = false, guaranteed = true;
  for (const c of containers) {
    const req = compute(c.resources?.requests), lim = compute(c.resources?.limits);
    if (Object.keys(req).length || Object.keys(lim).length) any = true;
    // Guaranteed: every container limits cpu and memory, and requests (defaulted from limits) equal them.
    if (!lim.cpu || !lim.memory) guaranteed = false;
    for (const k of Object.keys(req)) if (req[k] !== lim[k]) guaranteed = false;
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

export const STRATEGIES: Record<string, Strategy> = {
  Namespace: {
    prepareForCreate(o) {
      const spec = (o.spec ??= {}) as { finalizers?: string[] };
      if (!spec.finalizers) spec.finalizers = ['kubernetes'];
      o.status = { phase: 'Active' };
    },
    prepareForUpdate(o, old) {
      // spec.finalizers change only through the finalize subresource.
      (o.spec ??= {} as Record<string, unknown>);
      (o.spec as Record<string, unknown>).finalizers = (old.spec as { finalizers?: string[] } | undefined)?.finalizers;
    },
  },
  Pod: {
    prepareForCreate(o) {
      o.status = { phase: 'Pending', qosClass: podQOSClass(o.spec as never) };
    },
    // Old kubelets corrupted owner references through pods/status; upstream keeps them.
    prepareForStatusUpdate(o, old) {
      if (old.metadata.ownerReferences) o.metadata.ownerReferences = old.metadata.ownerReferences;
      else delete o.metadata.ownerReferences;
    },
  },
  Service: {
    prepareForCreate(o) {
      o.status = { loadBalancer: {} };
    },
  },
  Deployment: {
    prepareForCreate(o) {
      o.status = {};
    },
    prepareForStatusUpdate(o, old) {
      if (old.metadata.labels) o.metadata.labels = old.metadata.labels;
      else delete o.metadata.labels;
    },
    // Annotations bump the generation too because the controller copies them to ReplicaSets.
    generationChanged: (o, old) => specChanged(o, old) || !jsonDeepStrictEqual(o.metadata.annotations ?? {}, old.metadata.annotations ?? {}),
  },
  ReplicaSet: {
    prepareForCreate(o) {
      o.status = { replicas: 0 };
    },
    generationChanged: specChanged,
  },
  EndpointSlice: {
    // Anything but metadata and status changed: a spec change, for a kind without a `spec` field.
    generationChanged: (o, old) => !sameMembers(o as unknown as Record<string, unknown>, old as unknown as Record<string, unknown>, NOT_SPEC),
  },
};
