// Lease validation (pkg/apis/coordination/validation, v1.32).
import type { Lease } from 'kubernetes-types/coordination/v1.js';
import { child, forbidden, invalid, invalidEach, notSupported, type FieldError } from './field.js';
import { IS_NEGATIVE, validateObjectMeta, validateObjectMetaUpdate } from './meta.js';
import { isQualifiedName, nameIsDNSSubdomain } from './names.js';

type LeaseSpec = NonNullable<Lease['spec']> & { strategy?: string; preferredHolder?: string };

const LEASE_STRATEGIES = ['OldestEmulationVersion'];

function validateLeaseSpec(spec: LeaseSpec): FieldError[] {
  const errs: FieldError[] = [];
  const path = 'spec';
  if (spec.leaseDurationSeconds !== undefined && spec.leaseDurationSeconds <= 0) {
    errs.push(invalid(child(path, 'leaseDurationSeconds'), spec.leaseDurationSeconds, 'must be greater than 0'));
  }
  if (spec.leaseTransitions !== undefined && spec.leaseTransitions < 0) {
    errs.push(invalid(child(path, 'leaseTransitions'), spec.leaseTransitions, IS_NEGATIVE));
  }
  if (spec.strategy !== undefined) {
    // Upstream appends "strategy" to a path that already ends in it.
    const sp = child(path, 'strategy', 'strategy');
    if (!spec.strategy.includes('/')) {
      if (!LEASE_STRATEGIES.includes(spec.strategy)) errs.push(notSupported(sp, spec.strategy, LEASE_STRATEGIES));
    } else {
      errs.push(...invalidEach(sp, spec.strategy, isQualifiedName(spec.strategy)));
    }
  }
  if (spec.preferredHolder && !spec.strategy) {
    errs.push(forbidden(child(path, 'preferredHolder'), 'may only be specified if `strategy` is defined'));
  }
  return errs;
}

/** Leases live in the coordination group, whose metadata checks skip core's finalizer rule. */
export function validateLease(lease: Lease): FieldError[] {
  return [
    ...validateObjectMeta(lease.metadata ?? {}, true, nameIsDNSSubdomain, 'metadata', { kubeFinalizers: false }),
    ...validateLeaseSpec(lease.spec ?? {}),
  ];
}

export function validateLeaseUpdate(lease: Lease, old: Lease): FieldError[] {
  return [
    ...validateObjectMetaUpdate(lease.metadata ?? {}, old.metadata ?? {}, 'metadata', { kubeFinalizers: false }),
    ...validateLeaseSpec(lease.spec ?? {}),
  ];
}
