// Node, Namespace and Event validation (pkg/apis/core/validation, v1.32).
import type { Event, Namespace, Node, Taint } from 'kubernetes-types/core/v1.js';
import {
  child, duplicate, forbidden, GoLiteral, goQuote, goStringSlice, index, invalid, invalidEach, required, type FieldError,
} from './field.js';
import { cidrFamilyOf, isDualStack, validateCIDR } from './ip.js';
import { validateLabelName } from './labels.js';
import { validateKubeFinalizerName, validateObjectMeta, validateObjectMetaUpdate } from './meta.js';
import { byteLength, isDNS1123Subdomain, isQualifiedName, isValidLabelValue, nameIsDNSLabel, nameIsDNSSubdomain } from './names.js';
import { validateTaintEffect } from './pod.js';
import { quantityOrError, validateResourceQuantityValue } from './resources.js';

// ---- Node ----

function goTaint(t: Taint): GoLiteral {
  return new GoLiteral(`core.Taint{Key:${goQuote(t.key)}, Value:${goQuote(t.value ?? '')}, Effect:${goQuote(t.effect)}, TimeAdded:(*v1.Time)(nil)}`);
}

function validateNodeTaints(taints: Taint[] | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const seen = new Map<string, Set<string>>();
  (taints ?? []).forEach((t, i) => {
    const p = index(path, i);
    errs.push(...validateLabelName(t.key, child(p, 'key')));
    const msgs = isValidLabelValue(t.value ?? '');
    if (msgs.length) errs.push(invalid(child(p, 'value'), t.value ?? '', msgs.join(';')));
    errs.push(...validateTaintEffect(t.effect, false, child(p, 'effect')));
    const keys = seen.get(t.effect) ?? new Set<string>();
    if (keys.has(t.key)) {
      errs.push(duplicate(p, goTaint(t), 'taints must be unique by key and effect pair'));
      return;
    }
    keys.add(t.key);
    seen.set(t.effect, keys);
  });
  return errs;
}

function validateNodeSpecificAnnotations(annotations: Record<string, string> | undefined): FieldError[] {
  const raw = annotations?.['scheduler.alpha.kubernetes.io/taints'];
  if (!raw) return [];
  try {
    return validateNodeTaints(JSON.parse(raw) as Taint[], 'metadata.annotations.scheduler.alpha.kubernetes.io/taints');
  } catch (e) {
    return [invalid('metadata.annotations', 'scheduler.alpha.kubernetes.io/taints', (e as Error).message)];
  }
}

function validateNodeResources(node: Node): FieldError[] {
  const errs: FieldError[] = [];
  for (const list of ['capacity', 'allocatable'] as const) {
    const rl = node.status?.[list] ?? {};
    for (const name of Object.keys(rl).sort()) {
      const f = `status.${list}.${name}`;
      const q = quantityOrError(rl[name]!, f, errs);
      if (q) errs.push(...validateResourceQuantityValue(name, q, f));
    }
  }
  return errs;
}

/** ValidateNode. Taint errors are reported under metadata, as upstream does. */
export function validateNode(node: Node): FieldError[] {
  const errs = validateObjectMeta(node.metadata ?? {}, false, nameIsDNSSubdomain);
  errs.push(...validateNodeSpecificAnnotations(node.metadata?.annotations));
  if (node.spec?.taints?.length) errs.push(...validateNodeTaints(node.spec.taints, 'metadata.taints'));
  errs.push(...validateNodeResources(node));
  const cidrs = node.spec?.podCIDRs ?? [];
  if (cidrs.length) {
    cidrs.forEach((c, i) => errs.push(...validateCIDR(index('spec.podCIDRs', i), c)));
    if (cidrs.length > 1) {
      if (!isDualStack(cidrs.map(cidrFamilyOf)) || cidrs.length > 2) {
        errs.push(invalid('spec.podCIDRs', goStringSlice(cidrs), 'may specify no more than one CIDR for each IP family'));
      }
      const seen = new Set<string>();
      cidrs.forEach((c, i) => {
        if (seen.has(c)) errs.push(duplicate(index('spec.podCIDRs', i), c));
        seen.add(c);
      });
    }
  }
  return errs;
}

/** ValidateNodeUpdate (the status subresource runs only this). */
export function validateNodeUpdate(node: Node, old: Node): FieldError[] {
  const errs = validateObjectMetaUpdate(node.metadata ?? {}, old.metadata ?? {});
  errs.push(...validateNodeSpecificAnnotations(node.metadata?.annotations));
  errs.push(...validateNodeResources(node));
  const addrs = new Set<string>();
  (node.status?.addresses ?? []).forEach((a, i) => {
    const id = `${a.type}\u0000${a.address}`;
    if (addrs.has(id)) errs.push(duplicate(index('status.addresses', i), new GoLiteral(`core.NodeAddress{Type:${goQuote(a.type)}, Address:${goQuote(a.address)}}`)));
    addrs.add(id);
  });
  const oldCIDRs = old.spec?.podCIDRs ?? [];
  const newCIDRs = node.spec?.podCIDRs ?? [];
  if (oldCIDRs.length) {
    const message = 'node updates may not change podCIDR except from "" to valid';
    if (oldCIDRs.length !== newCIDRs.length) errs.push(forbidden('spec.podCIDRs', message));
    else oldCIDRs.forEach((c, i) => {
      if (c !== newCIDRs[i]) errs.push(forbidden('spec.podCIDRs', message));
    });
  }
  const oldProvider = old.spec?.providerID ?? '';
  if (oldProvider && oldProvider !== (node.spec?.providerID ?? '')) {
    errs.push(forbidden('spec.providerID', 'node updates may not change providerID except from "" to valid'));
  }
  if (node.spec?.taints?.length) errs.push(...validateNodeTaints(node.spec.taints, 'metadata.taints'));
  if ((node.spec?.externalID ?? '') !== (old.spec?.externalID ?? '')) errs.push(forbidden('spec.externalID', 'may not be updated'));
  return errs;
}

// ---- Namespace ----

function validateNamespaceFinalizers(ns: Namespace, path: string, indexed: boolean): FieldError[] {
  const errs: FieldError[] = [];
  (ns.spec?.finalizers ?? []).forEach((f, i) => {
    const p = indexed ? index(path, i) : path;
    errs.push(...invalidEach(p, f, isQualifiedName(f)));
    errs.push(...validateKubeFinalizerName(f, p));
  });
  return errs;
}

export function validateNamespace(ns: Namespace): FieldError[] {
  // Upstream reports spec finalizer problems on the list's path, without an index.
  return [...validateObjectMeta(ns.metadata ?? {}, false, nameIsDNSLabel), ...validateNamespaceFinalizers(ns, 'spec.finalizers', false)];
}

export function validateNamespaceStatusUpdate(ns: Namespace, old: Namespace): FieldError[] {
  const errs = validateObjectMetaUpdate(ns.metadata ?? {}, old.metadata ?? {});
  const phase = ns.status?.phase ?? '';
  // Upstream's field path really is "status.Phase".
  if (!ns.metadata?.deletionTimestamp) {
    if (phase !== 'Active') errs.push(invalid('status.Phase', phase, "may only be 'Active' if `deletionTimestamp` is empty"));
  } else if (phase !== 'Terminating') {
    errs.push(invalid('status.Phase', phase, "may only be 'Terminating' if `deletionTimestamp` is not empty"));
  }
  return errs;
}

/** The namespaces/finalize subresource. */
export function validateNamespaceFinalizeUpdate(ns: Namespace, old: Namespace): FieldError[] {
  return [...validateObjectMetaUpdate(ns.metadata ?? {}, old.metadata ?? {}), ...validateNamespaceFinalizers(ns, 'spec.finalizers', true)];
}

// ---- Event (core/v1 keeps only the legacy checks) ----

export function validateEvent(ev: Event): FieldError[] {
  const errs: FieldError[] = [];
  const ns = ev.metadata?.namespace ?? '';
  const involvedNs = ev.involvedObject?.namespace ?? '';
  if (!ev.eventTime) {
    if (!involvedNs) {
      // Events about cluster-scoped objects live in "default" (or no namespace, for old clients).
      if (ns !== '' && ns !== 'default') errs.push(invalid('involvedObject.namespace', involvedNs, 'does not match event.namespace'));
    } else if (ns !== involvedNs) {
      errs.push(invalid('involvedObject.namespace', involvedNs, 'does not match event.namespace'));
    }
  } else {
    if (!involvedNs && ns !== 'default' && ns !== 'kube-system') errs.push(invalid('involvedObject.namespace', involvedNs, 'does not match event.namespace'));
    const rc = ev.reportingComponent ?? '';
    if (!rc) errs.push(required('reportingController'));
    errs.push(...invalidEach('reportingController', rc, isQualifiedName(rc)));
    const ri = ev.reportingInstance ?? '';
    if (!ri) errs.push(required('reportingInstance'));
    if (byteLength(ri) > 128) errs.push(invalid('reportingInstance', '', 'can have at most 128 characters'));
    const action = ev.action ?? '';
    if (!action) errs.push(required('action'));
    if (byteLength(action) > 128) errs.push(invalid('action', '', 'can have at most 128 characters'));
    const reason = ev.reason ?? '';
    if (!reason) errs.push(required('reason'));
    if (byteLength(reason) > 128) errs.push(invalid('reason', '', 'can have at most 128 characters'));
    if (byteLength(ev.message ?? '') > 1024) errs.push(invalid('message', '', 'can have at most 1024 characters'));
  }
  errs.push(...invalidEach('namespace', ns, isDNS1123Subdomain(ns)));
  return errs;
}

