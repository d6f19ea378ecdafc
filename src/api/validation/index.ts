// Validation entry points: which upstream checks run for each kind on create, update and status
// update, in upstream's order, and the 422 message text built from the errors.
import type { Deployment, ReplicaSet } from 'kubernetes-types/apps/v1.js';
import type { Lease } from 'kubernetes-types/coordination/v1.js';
import type { Endpoints, Event, Namespace, Node, Pod, Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import type { RuntimeClass } from 'kubernetes-types/node/v1.js';
import { RESOURCES } from '../resources.js';
import type { FieldError, KObject } from '../types.js';
import {
  validateDeployment, validateDeploymentStatusUpdate, validateDeploymentUpdate, validateReplicaSet,
  validateReplicaSetStatusUpdate, validateReplicaSetUpdate, validateScale,
} from './apps.js';
import { validateLease, validateLeaseUpdate } from './coordination.js';
import { validateEvent, validateNamespace, validateNamespaceStatusUpdate, validateNode, validateNodeUpdate } from './core.js';
import { validateEndpointSlice, validateEndpointSliceUpdate } from './discovery.js';
import { validateRuntimeClass, validateRuntimeClassUpdate } from './node.js';
import { aggregateMessage, goQuote, type ValidationOptions } from './field.js';
import { validateObjectMeta, validateObjectMetaUpdate } from './meta.js';
import { validatePathSegmentName } from './names.js';
import { validatePodCreate, validatePodStatusUpdate, validatePodUpdate } from './pod.js';
import {
  serviceStorageErrors, validateEndpoints, validateEndpointsUpdate, validateService, validateServiceStatusUpdate,
  validateServiceUpdate,
} from './service.js';

export { aggregateMessage, errorString, goQuote, type ValidationOptions } from './field.js';
export { isValidCIDRString, isValidIP, ipFamilyOf } from './ip.js';
export { selectorMatches, validateLabelName, validateLabels, validateLabelSelector } from './labels.js';
export {
  isConfigMapKey, isDNS1035Label, isDNS1123Label, isDNS1123Subdomain, isQualifiedName, isValidLabelValue,
  isValidPortName, isValidPortNum,
} from './names.js';
export { canonicalQuantity, compareQuantities, formatQuantity, parseQuantity, type Quantity } from './quantity.js';
export { validateNamespaceFinalizeUpdate } from './core.js';
export { CLUSTER_IP_FAMILIES, NODE_PORT_RANGE } from './service.js';

/** The scale subresource's kind; it is not in the resource table. */
const SCALE = 'Scale';

/** Whether each kind of the resource table is namespaced (its first entry's answer). */
const NAMESPACED = new Map<string, boolean>();
for (const r of RESOURCES) if (!NAMESPACED.has(r.kind)) NAMESPACED.set(r.kind, r.namespaced);

function isNamespaced(kind: string): boolean {
  if (kind === SCALE) return true;
  return NAMESPACED.get(kind) ?? true;
}

const GENERIC_META_OPTIONS = { kubeFinalizers: false };

/**
 * What the generic registry checks of every object's metadata: names usable as URL path segments.
 * It reads the object's metadata only (no copy of the object to name the kind: an Event whose
 * null was dropped is a slow dictionary-mode object, which a spread copied member by member).
 */
function genericMeta(kind: string, obj: KObject): FieldError[] {
  return validateObjectMeta(obj.metadata ?? {}, isNamespaced(kind), validatePathSegmentName, 'metadata', GENERIC_META_OPTIONS);
}

function strategyValidate(kind: string, obj: KObject, opts: ValidationOptions): FieldError[] {
  const o = obj as unknown;
  switch (kind) {
    case 'Pod': return validatePodCreate(o as Pod);
    case 'Service': return validateService(o as Service, opts);
    case 'Endpoints': return validateEndpoints(o as Endpoints, opts);
    case 'Event': return validateEvent(o as Event);
    case 'Namespace': return validateNamespace(o as Namespace);
    case 'Node': return validateNode(o as Node);
    case 'Deployment': return validateDeployment(o as Deployment);
    case 'ReplicaSet': return validateReplicaSet(o as ReplicaSet);
    case 'EndpointSlice': return validateEndpointSlice(o as EndpointSlice, opts);
    case 'Lease': return validateLease(o as Lease);
    case 'RuntimeClass': return validateRuntimeClass(o as RuntimeClass);
    case SCALE: return validateScale(o as Parameters<typeof validateScale>[0]);
    default: return [];
  }
}

/**
 * Validation of a new object, after defaulting and name generation. Runs the kind's checks and,
 * only when they pass, the generic metadata checks, as upstream's registry does.
 */
export function validateCreate(kind: string, obj: KObject, opts: ValidationOptions = {}): FieldError[] {
  if (kind === 'Service') {
    const early = serviceStorageErrors(obj as unknown as Service, undefined);
    if (early.length) return early;
  }
  const errs = strategyValidate(kind, obj, opts);
  if (errs.length) return errs;
  return genericMeta(kind, obj);
}

function strategyValidateUpdate(kind: string, obj: KObject, old: KObject, opts: ValidationOptions): FieldError[] {
  const o = obj as unknown;
  const p = old as unknown;
  switch (kind) {
    case 'Pod': return validatePodUpdate(o as Pod, p as Pod);
    case 'Service': return validateServiceUpdate(o as Service, p as Service, opts);
    case 'Endpoints': return validateEndpointsUpdate(o as Endpoints, p as Endpoints, opts);
    // core/v1 Events only get the legacy checks on update.
    case 'Event': return validateEvent(o as Event);
    case 'Namespace': return [...validateNamespace(o as Namespace), ...validateObjectMetaUpdate(obj.metadata ?? {}, old.metadata ?? {})];
    case 'Node': return [...validateNode(o as Node), ...validateNodeUpdate(o as Node, p as Node)];
    case 'Deployment': return validateDeploymentUpdate(o as Deployment, p as Deployment);
    case 'ReplicaSet': return validateReplicaSetUpdate(o as ReplicaSet, p as ReplicaSet);
    case 'EndpointSlice': return validateEndpointSliceUpdate(o as EndpointSlice, p as EndpointSlice, opts);
    case 'Lease': return validateLeaseUpdate(o as Lease, p as Lease);
    case 'RuntimeClass': return validateRuntimeClassUpdate(o as RuntimeClass, p as RuntimeClass);
    default: return validateObjectMetaUpdate(obj.metadata ?? {}, old.metadata ?? {});
  }
}

/** What the generic registry checks on every update, before the kind's own checks. */
function commonUpdate(kind: string, obj: KObject, old: KObject): FieldError[] {
  return [
    ...genericMeta(kind, obj),
    ...validateObjectMetaUpdate(obj.metadata ?? {}, old.metadata ?? {}, 'metadata', { kubeFinalizers: false }),
  ];
}

/**
 * Validation of an update of the main resource (immutable fields included), after defaulting.
 * For the scale subresource pass kind "Scale" and the autoscaling/v1 Scale objects.
 */
export function validateUpdate(kind: string, obj: KObject, old: KObject, opts: ValidationOptions = {}): FieldError[] {
  if (kind === SCALE) return validateScale(obj as unknown as Parameters<typeof validateScale>[0]);
  if (kind === 'Service') {
    const early = serviceStorageErrors(obj as unknown as Service, old as unknown as Service);
    if (early.length) return early;
  }
  return [...commonUpdate(kind, obj, old), ...strategyValidateUpdate(kind, obj, old, opts)];
}

/** Validation of a write to the status subresource. */
export function validateStatusUpdate(kind: string, obj: KObject, old: KObject, opts: ValidationOptions = {}): FieldError[] {
  const o = obj as unknown;
  const p = old as unknown;
  let errs: FieldError[];
  switch (kind) {
    case 'Pod': errs = validatePodStatusUpdate(o as Pod, p as Pod); break;
    case 'Service': errs = validateServiceStatusUpdate(o as Service, p as Service); break;
    case 'Namespace': errs = validateNamespaceStatusUpdate(o as Namespace, p as Namespace); break;
    case 'Node': errs = validateNodeUpdate(o as Node, p as Node); break;
    case 'Deployment': errs = validateDeploymentStatusUpdate(o as Deployment, p as Deployment); break;
    case 'ReplicaSet': errs = validateReplicaSetStatusUpdate(o as ReplicaSet, p as ReplicaSet); break;
    default: return validateUpdate(kind, obj, old, opts);
  }
  return [...commonUpdate(kind, obj, old), ...errs];
}

/**
 * The message of upstream's 422 Status (errors.NewInvalid):
 * `Service "x" is invalid: spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive`,
 * with several distinct errors as `[err1, err2]`. The kind is qualified by its group
 * (`Deployment.apps "web" is invalid: ...`); kubectl rebuilds its own line from the causes.
 */
export function invalidMessage(kind: string, name: string, errs: FieldError[]): string {
  const group = kind === SCALE ? 'autoscaling' : RESOURCES.find((r) => r.kind === kind)?.group ?? '';
  const head = `${group ? `${kind}.${group}` : kind} ${goQuote(name)} is invalid`;
  const agg = aggregateMessage(errs);
  return agg ? `${head}: ${agg}` : head;
}
