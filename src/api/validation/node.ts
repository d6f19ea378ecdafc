// RuntimeClass validation (pkg/apis/node/validation, v1.32).
import type { RuntimeClass } from 'kubernetes-types/node/v1.js';
import { child, invalid, invalidEach, type FieldError } from './field.js';
import { FIELD_IMMUTABLE, validateObjectMeta, validateObjectMetaUpdate } from './meta.js';
import { isDNS1123Label, nameIsDNSSubdomain } from './names.js';
import { validateLabels } from './labels.js';
import { validateTolerations } from './pod.js';
import { validateContainerResources } from './resources.js';

/** The node group's metadata checks are apimachinery's, without core's finalizer rule. */
const META_OPTIONS = { kubeFinalizers: false };

export function validateRuntimeClass(rc: RuntimeClass): FieldError[] {
  const errs = validateObjectMeta(rc.metadata ?? {}, false, nameIsDNSSubdomain, 'metadata', META_OPTIONS);
  errs.push(...invalidEach('handler', rc.handler ?? '', isDNS1123Label(rc.handler ?? '')));
  // Overhead reuses the resource requirements checks on `limits`, so errors read overhead.limits[...].
  if (rc.overhead) errs.push(...validateContainerResources({ limits: rc.overhead.podFixed }, 'overhead', []));
  if (rc.scheduling) {
    if (rc.scheduling.nodeSelector) errs.push(...validateLabels(rc.scheduling.nodeSelector, child('scheduling', 'nodeSelector')));
    errs.push(...validateTolerations(rc.scheduling.tolerations, child('scheduling', 'tolerations')));
  }
  return errs;
}

/** Only the handler is immutable; overhead and scheduling may change (admission copies them into new pods). */
export function validateRuntimeClassUpdate(rc: RuntimeClass, old: RuntimeClass): FieldError[] {
  const errs = validateObjectMetaUpdate(rc.metadata ?? {}, old.metadata ?? {}, 'metadata', META_OPTIONS);
  if ((rc.handler ?? '') !== (old.handler ?? '')) errs.push(invalid('handler', rc.handler ?? '', FIELD_IMMUTABLE));
  return errs;
}
