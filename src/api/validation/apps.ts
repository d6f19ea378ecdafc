// Deployment, ReplicaSet and autoscaling/v1 Scale validation (pkg/apis/apps/validation and
// pkg/apis/autoscaling/validation, v1.32, plus the selector immutability the apps/v1 strategies add).
import type { Deployment, DeploymentStrategy, ReplicaSet } from 'kubernetes-types/apps/v1.js';
import type { PodTemplateSpec } from 'kubernetes-types/core/v1.js';
import type { LabelSelector } from 'kubernetes-types/meta/v1.js';
import { child, forbidden, GoLiteral, goIntOrString, goQuote, goStringMap, invalid, notSupported, required, type FieldError } from './field.js';
import { goLabelSelector, selectorConversionFails, selectorIsEmpty, selectorMatches, validateLabelSelector } from './labels.js';
import { FIELD_IMMUTABLE, IS_NEGATIVE, validateNonnegative, validateObjectMeta, validateObjectMetaUpdate } from './meta.js';
import { isValidPercent, nameIsDNSSubdomain } from './names.js';
import { validatePodTemplateSpec } from './pod.js';

type IntOrString = number | string | undefined;

/**
 * The template must carry the selector's labels and be a valid pod template that always restarts.
 * A missing selector converts to upstream's "nothing" selector, which no labels match.
 */
function validateTemplateForReplicaSet(template: PodTemplateSpec | undefined, selector: LabelSelector | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const labels = template?.metadata?.labels;
  const matches = selector ? selectorIsEmpty(selector) || selectorMatches(selector, labels) : false;
  if (!matches) {
    errs.push(invalid(child(path, 'metadata', 'labels'), goStringMap(labels), '`selector` does not match template `labels`'));
  }
  errs.push(...validatePodTemplateSpec(template, path));
  const rp = template?.spec?.restartPolicy ?? '';
  if (rp !== 'Always') errs.push(notSupported(child(path, 'spec', 'restartPolicy'), rp, ['Always']));
  if (template?.spec?.activeDeadlineSeconds !== undefined) {
    errs.push(forbidden(child(path, 'spec', 'activeDeadlineSeconds'), 'activeDeadlineSeconds in ReplicaSet is not Supported'));
  }
  return errs;
}

function validateSelectorAndTemplate(selector: LabelSelector | undefined, template: PodTemplateSpec | undefined): FieldError[] {
  const errs: FieldError[] = [];
  if (!selector) {
    errs.push(required('spec.selector'));
    errs.push(...validateTemplateForReplicaSet(template, undefined, 'spec.template'));
    return errs;
  }
  errs.push(...validateLabelSelector(selector, 'spec.selector'));
  if (selectorIsEmpty(selector)) errs.push(invalid('spec.selector', goLabelSelector(selector), 'empty selector is invalid for deployment'));
  if (selectorConversionFails(selector)) errs.push(invalid('spec.selector', goLabelSelector(selector), 'invalid label selector'));
  else errs.push(...validateTemplateForReplicaSet(template, selector, 'spec.template'));
  return errs;
}

function percentOf(v: IntOrString): number | undefined {
  return typeof v === 'string' && isValidPercent(v).length === 0 ? Number(v.slice(0, -1)) : undefined;
}

/** intstr's IntValue(): a string that is not a number counts as 0. */
function intOrPercentValue(v: IntOrString): number {
  const pct = percentOf(v);
  if (pct !== undefined) return pct;
  if (typeof v === 'number') return v;
  return /^[+-]?[0-9]+$/.test(v ?? '') ? Number(v) : 0;
}

function validatePositiveIntOrPercent(v: IntOrString, field: string): FieldError[] {
  if (typeof v === 'string') return isValidPercent(v).map((m) => invalid(field, goIntOrString(v), m));
  return validateNonnegative(v ?? 0, field);
}

function notMoreThan100Percent(v: IntOrString, field: string): FieldError[] {
  const pct = percentOf(v);
  return pct !== undefined && pct > 100 ? [invalid(field, goIntOrString(v), 'must not be greater than 100%')] : [];
}

function goDeploymentStrategy(s: DeploymentStrategy): GoLiteral {
  const ru = s.rollingUpdate
    ? `&apps.RollingUpdateDeployment{MaxUnavailable:${goIntOrString(s.rollingUpdate.maxUnavailable).text}, MaxSurge:${goIntOrString(s.rollingUpdate.maxSurge).text}}`
    : '(*apps.RollingUpdateDeployment)(nil)';
  return new GoLiteral(`apps.DeploymentStrategy{Type:${goQuote(s.type ?? '')}, RollingUpdate:${ru}}`);
}

function validateDeploymentStrategy(s: DeploymentStrategy | undefined): FieldError[] {
  const strategy = s ?? {};
  const path = 'spec.strategy';
  switch (strategy.type) {
    case 'Recreate':
      return strategy.rollingUpdate ? [forbidden(child(path, 'rollingUpdate'), "may not be specified when strategy `type` is 'Recreate'")] : [];
    case 'RollingUpdate': {
      const ru = strategy.rollingUpdate;
      if (!ru) return [required(child(path, 'rollingUpdate'), 'this should be defaulted and never be nil')];
      const rp = child(path, 'rollingUpdate');
      const errs = validatePositiveIntOrPercent(ru.maxUnavailable, child(rp, 'maxUnavailable'));
      errs.push(...validatePositiveIntOrPercent(ru.maxSurge, child(rp, 'maxSurge')));
      if (intOrPercentValue(ru.maxUnavailable) === 0 && intOrPercentValue(ru.maxSurge) === 0) {
        errs.push(invalid(child(rp, 'maxUnavailable'), goIntOrString(ru.maxUnavailable), 'may not be 0 when `maxSurge` is 0'));
      }
      errs.push(...notMoreThan100Percent(ru.maxUnavailable, child(rp, 'maxUnavailable')));
      return errs;
    }
    default:
      return [notSupported(path, goDeploymentStrategy(strategy), ['Recreate', 'RollingUpdate'])];
  }
}

/** ValidateDeploymentSpec. */
function validateDeploymentSpec(d: Deployment): FieldError[] {
  const spec = d.spec ?? ({} as NonNullable<Deployment['spec']>);
  const errs = validateNonnegative(spec.replicas, 'spec.replicas');
  errs.push(...validateSelectorAndTemplate(spec.selector, spec.template));
  errs.push(...validateDeploymentStrategy(spec.strategy));
  errs.push(...validateNonnegative(spec.minReadySeconds, 'spec.minReadySeconds'));
  if (spec.revisionHistoryLimit !== undefined) errs.push(...validateNonnegative(spec.revisionHistoryLimit, 'spec.revisionHistoryLimit'));
  const pds = spec.progressDeadlineSeconds;
  if (pds !== undefined) {
    errs.push(...validateNonnegative(pds, 'spec.progressDeadlineSeconds'));
    if (pds <= (spec.minReadySeconds ?? 0)) errs.push(invalid('spec.progressDeadlineSeconds', pds, 'must be greater than minReadySeconds'));
  }
  return errs;
}

export function validateDeployment(d: Deployment): FieldError[] {
  return [...validateObjectMeta(d.metadata ?? {}, true, nameIsDNSSubdomain), ...validateDeploymentSpec(d)];
}

function selectorImmutable(sel: LabelSelector | undefined, old: LabelSelector | undefined): FieldError[] {
  if (JSON.stringify(normalizeSelector(sel)) === JSON.stringify(normalizeSelector(old))) return [];
  return [invalid('spec.selector', sel ? goLabelSelector(sel) : null, FIELD_IMMUTABLE)];
}

function normalizeSelector(sel: LabelSelector | undefined): unknown {
  if (!sel) return null;
  const ml = sel.matchLabels && Object.keys(sel.matchLabels).length ? Object.fromEntries(Object.entries(sel.matchLabels).sort()) : undefined;
  return { ml, me: sel.matchExpressions?.length ? sel.matchExpressions : undefined };
}

export function validateDeploymentUpdate(d: Deployment, old: Deployment): FieldError[] {
  return [
    ...validateObjectMetaUpdate(d.metadata ?? {}, old.metadata ?? {}),
    ...validateDeploymentSpec(d),
    ...selectorImmutable(d.spec?.selector, old.spec?.selector),
  ];
}

function cannotExceed(value: number | undefined, limit: number | undefined, field: string, message: string): FieldError[] {
  return (value ?? 0) > (limit ?? 0) ? [invalid(field, value ?? 0, message)] : [];
}

export function validateDeploymentStatusUpdate(d: Deployment, old: Deployment): FieldError[] {
  const errs = validateObjectMetaUpdate(d.metadata ?? {}, old.metadata ?? {});
  const s = d.status ?? {};
  for (const f of ['observedGeneration', 'replicas', 'updatedReplicas', 'readyReplicas', 'availableReplicas', 'unavailableReplicas', 'collisionCount'] as const) {
    errs.push(...validateNonnegative(s[f], `status.${f}`));
  }
  const msg = 'cannot be greater than status.replicas';
  errs.push(...cannotExceed(s.updatedReplicas, s.replicas, 'status.updatedReplicas', msg));
  errs.push(...cannotExceed(s.readyReplicas, s.replicas, 'status.readyReplicas', msg));
  errs.push(...cannotExceed(s.availableReplicas, s.replicas, 'status.availableReplicas', msg));
  errs.push(...cannotExceed(s.availableReplicas, s.readyReplicas, 'status.availableReplicas', 'cannot be greater than readyReplicas'));
  const oc = old.status?.collisionCount;
  if (oc !== undefined && (s.collisionCount === undefined || s.collisionCount < oc)) {
    errs.push(invalid('status.collisionCount', s.collisionCount ?? 0, 'cannot be decremented'));
  }
  return errs;
}

function validateReplicaSetSpec(rs: ReplicaSet): FieldError[] {
  const spec = rs.spec ?? ({} as NonNullable<ReplicaSet['spec']>);
  const errs = validateNonnegative(spec.replicas, 'spec.replicas');
  errs.push(...validateNonnegative(spec.minReadySeconds, 'spec.minReadySeconds'));
  errs.push(...validateSelectorAndTemplate(spec.selector, spec.template));
  return errs;
}

export function validateReplicaSet(rs: ReplicaSet): FieldError[] {
  return [...validateObjectMeta(rs.metadata ?? {}, true, nameIsDNSSubdomain), ...validateReplicaSetSpec(rs)];
}

/** The ReplicaSet strategy validates the object as on create as well, so some errors come twice. */
export function validateReplicaSetUpdate(rs: ReplicaSet, old: ReplicaSet): FieldError[] {
  return [
    ...validateReplicaSet(rs),
    ...validateObjectMetaUpdate(rs.metadata ?? {}, old.metadata ?? {}),
    ...validateReplicaSetSpec(rs),
    ...selectorImmutable(rs.spec?.selector, old.spec?.selector),
  ];
}

export function validateReplicaSetStatusUpdate(rs: ReplicaSet, old: ReplicaSet): FieldError[] {
  const errs = validateObjectMetaUpdate(rs.metadata ?? {}, old.metadata ?? {});
  const s = rs.status ?? { replicas: 0 };
  for (const f of ['replicas', 'fullyLabeledReplicas', 'readyReplicas', 'availableReplicas', 'observedGeneration'] as const) {
    errs.push(...validateNonnegative(s[f], `status.${f}`));
  }
  const msg = 'cannot be greater than status.replicas';
  errs.push(...cannotExceed(s.fullyLabeledReplicas, s.replicas, 'status.fullyLabeledReplicas', msg));
  errs.push(...cannotExceed(s.readyReplicas, s.replicas, 'status.readyReplicas', msg));
  errs.push(...cannotExceed(s.availableReplicas, s.replicas, 'status.availableReplicas', msg));
  errs.push(...cannotExceed(s.availableReplicas, s.readyReplicas, 'status.availableReplicas', 'cannot be greater than readyReplicas'));
  return errs;
}

/** autoscaling ValidateScale, for writes to the scale subresource. */
export function validateScale(scale: { metadata?: Parameters<typeof validateObjectMeta>[0]; spec?: { replicas?: number } }): FieldError[] {
  const errs = validateObjectMeta(scale.metadata ?? {}, true, nameIsDNSSubdomain);
  const replicas = scale.spec?.replicas ?? 0;
  if (replicas < 0) errs.push(invalid('spec.replicas', replicas, IS_NEGATIVE));
  return errs;
}
