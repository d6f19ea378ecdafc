// Compute-resource names and quantities (core validation's validateResourceRequirements and the
// resource-name helpers of pkg/apis/core/helper).
import type { ResourceRequirements } from 'kubernetes-types/core/v1.js';
import { child, duplicate, forbidden, index, invalid, key, notFound, required, type FieldError } from './field.js';
import { isQualifiedName } from './names.js';
import { compareQuantities, formatQuantity, isInteger, parseQuantity, type Quantity } from './quantity.js';

const STANDARD_RESOURCES = new Set([
  'cpu', 'memory', 'ephemeral-storage', 'requests.cpu', 'requests.memory', 'requests.ephemeral-storage',
  'limits.cpu', 'limits.memory', 'limits.ephemeral-storage', 'pods', 'quotas', 'services',
  'replicationcontrollers', 'secrets', 'configmaps', 'persistentvolumeclaims', 'storage',
  'requests.storage', 'services.nodeports', 'services.loadbalancers',
]);
const STANDARD_CONTAINER_RESOURCES = new Set(['cpu', 'memory', 'ephemeral-storage']);
const INTEGER_RESOURCES = new Set([
  'pods', 'quotas', 'services', 'replicationcontrollers', 'secrets', 'configmaps', 'persistentvolumeclaims',
  'services.nodeports', 'services.loadbalancers',
]);

export function isHugePageResourceName(name: string): boolean {
  return name.startsWith('hugepages-');
}

function isNativeResource(name: string): boolean {
  return !name.includes('/') || name.includes('kubernetes.io/');
}

function isExtendedResourceName(name: string): boolean {
  if (isNativeResource(name) || name.startsWith('requests.')) return false;
  return isQualifiedName('requests.' + name).length === 0;
}

/** Hugepages and extended resources may not be overcommitted: requests must equal limits. */
export function isOvercommitAllowed(name: string): boolean {
  return isNativeResource(name) && !isHugePageResourceName(name);
}

function isIntegerResourceName(name: string): boolean {
  return INTEGER_RESOURCES.has(name) || isExtendedResourceName(name);
}

function validateResourceName(name: string, field: string): FieldError[] {
  const errs = isQualifiedName(name).map((m) => invalid(field, name, m));
  if (errs.length) return errs;
  if (!name.includes('/') && !(STANDARD_RESOURCES.has(name) || name.startsWith('hugepages-') || name.startsWith('requests.hugepages-'))) {
    return [invalid(field, name, 'must be a standard resource type or fully qualified')];
  }
  return [];
}

export function validateContainerResourceName(name: string, field: string): FieldError[] {
  const errs = validateResourceName(name, field);
  if (!name.includes('/')) {
    if (!(STANDARD_CONTAINER_RESOURCES.has(name) || isHugePageResourceName(name))) {
      errs.push(invalid(field, name, 'must be a standard resource for containers'));
    }
  } else if (!isNativeResource(name) && !isExtendedResourceName(name)) {
    errs.push(invalid(field, name, "doesn't follow extended resource name standard"));
  }
  return errs;
}

/**
 * Parse a quantity for validation. A malformed quantity is a decode error upstream (400, before
 * validation); here it is reported as an Invalid error on its field with the decoder's message.
 */
export function quantityOrError(value: string | number, field: string, errs: FieldError[]): Quantity | undefined {
  const q = parseQuantity(value);
  if ('error' in q) {
    errs.push(invalid(field, String(value), q.error));
    return undefined;
  }
  return q;
}

/** ValidateResourceQuantityValue. */
export function validateResourceQuantityValue(name: string, q: Quantity, field: string): FieldError[] {
  const errs: FieldError[] = [];
  if (q.mantissa < 0n) errs.push(invalid(field, formatQuantity(q), 'must be greater than or equal to 0'));
  // Upstream prints the Quantity struct here; its canonical text is the closest we can show.
  if (isIntegerResourceName(name) && !isInteger(q)) errs.push(invalid(field, formatQuantity(q), 'must be an integer'));
  return errs;
}

/** validateResourceRequirements for a container (names sorted: Go's map order is random). */
export function validateContainerResources(req: ResourceRequirements | undefined, path: string, podClaimNames: string[]): FieldError[] {
  const errs: FieldError[] = [];
  const limPath = child(path, 'limits');
  const reqPath = child(path, 'requests');
  const limits = new Map<string, Quantity>();
  let limCPUOrMemory = false;
  let reqCPUOrMemory = false;
  let hugePages = false;
  for (const name of Object.keys(req?.limits ?? {}).sort()) {
    const f = key(limPath, name);
    errs.push(...validateContainerResourceName(name, f));
    const q = quantityOrError(req!.limits![name]!, f, errs);
    if (!q) continue;
    limits.set(name, q);
    errs.push(...validateResourceQuantityValue(name, q, f));
    if (isHugePageResourceName(name)) hugePages = true;
    if (name === 'cpu' || name === 'memory') limCPUOrMemory = true;
  }
  for (const name of Object.keys(req?.requests ?? {}).sort()) {
    const f = key(reqPath, name);
    errs.push(...validateContainerResourceName(name, f));
    const q = quantityOrError(req!.requests![name]!, f, errs);
    if (!q) continue;
    errs.push(...validateResourceQuantityValue(name, q, f));
    const limit = limits.get(name);
    if (limit) {
      const cmp = compareQuantities(q, limit);
      if (cmp !== 0 && !isOvercommitAllowed(name)) {
        errs.push(invalid(reqPath, formatQuantity(q), `must be equal to ${name} limit of ${formatQuantity(limit)}`));
      } else if (cmp > 0) {
        errs.push(invalid(reqPath, formatQuantity(q), `must be less than or equal to ${name} limit of ${formatQuantity(limit)}`));
      }
    } else if (!isOvercommitAllowed(name)) {
      errs.push(required(limPath, 'Limit must be set for non overcommitable resources'));
    }
    if (isHugePageResourceName(name)) hugePages = true;
    if (name === 'cpu' || name === 'memory') reqCPUOrMemory = true;
  }
  if (!limCPUOrMemory && !reqCPUOrMemory && hugePages) errs.push(forbidden(path, 'HugePages require cpu or memory'));
  const seen = new Set<string>();
  (req?.claims ?? []).forEach((c, i) => {
    const f = index(child(path, 'claims'), i);
    if (!c.name) {
      errs.push(required(f));
      return;
    }
    if (seen.has(c.name)) errs.push(duplicate(f, c.name));
    seen.add(c.name);
    if (!podClaimNames.includes(c.name)) {
      const known = [...podClaimNames].sort();
      errs.push(notFound(f, c.name, 'must be one of the names in pod.spec.resourceClaims' + (known.length ? ': ' + known.join(', ') : ' which is empty')));
    }
  });
  return errs;
}
