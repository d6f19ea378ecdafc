// The RuntimeClass admission plugin (plugin/pkg/admission/runtimeclass, v1.32), which a default
// kube-apiserver runs on every pod create: a pod naming a RuntimeClass that does not exist is
// rejected; the class's overhead becomes the pod's spec.overhead (a pod that sets a different
// overhead, or an overhead without a class that defines one, is rejected); the class's
// scheduling constraints are merged into the pod's nodeSelector and tolerations.
import type { Pod, Toleration } from 'kubernetes-types/core/v1.js';
import type { RuntimeClass } from 'kubernetes-types/node/v1.js';
import { isDeepStrictEqual } from 'node:util';
import { compareQuantities, parseQuantity } from '../api/validation/quantity.js';

/**
 * Admit a new pod in place. Resolves to the reason it is forbidden (the text after
 * `pods "x" is forbidden: `), or undefined when it is admitted.
 */
export async function admitRuntimeClass(pod: Pod, lookup: (name: string) => Promise<RuntimeClass | undefined>): Promise<string | undefined> {
  const spec = pod.spec;
  if (!spec) return undefined;
  let rc: RuntimeClass | undefined;
  if (spec.runtimeClassName) {
    rc = await lookup(spec.runtimeClassName);
    if (!rc) return `pod rejected: RuntimeClass "${spec.runtimeClassName}" not found`;
  }
  const podFixed = rc?.overhead?.podFixed;
  if (podFixed) {
    if (spec.overhead && !sameResources(spec.overhead, podFixed)) return "pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead";
    spec.overhead = { ...podFixed };
  } else if (spec.overhead) {
    return 'pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead';
  }
  const scheduling = rc?.scheduling;
  if (scheduling) {
    const selector = spec.nodeSelector ? { ...spec.nodeSelector } : undefined;
    for (const [k, v] of Object.entries(scheduling.nodeSelector ?? {})) {
      const podValue = selector?.[k];
      if (podValue !== undefined && podValue !== v) {
        return `conflict: runtimeClass.scheduling.nodeSelector[${k}] = ${v}; pod.spec.nodeSelector[${k}] = ${podValue}`;
      }
    }
    if (scheduling.nodeSelector) spec.nodeSelector = { ...selector, ...scheduling.nodeSelector };
    const merged = mergeTolerations(spec.tolerations ?? [], scheduling.tolerations ?? []);
    if (merged.length) spec.tolerations = merged;
  }
  return undefined;
}

/** Semantic equality of two resource lists: same names, equal quantities ("1" equals "1000m"). */
function sameResources(a: Record<string, string | number>, b: Record<string, string | number>): boolean {
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((k) => {
    if (!(k in b)) return false;
    const qa = parseQuantity(a[k]!);
    const qb = parseQuantity(b[k]!);
    return !('error' in qa) && !('error' in qb) && compareQuantities(qa, qb) === 0;
  });
}

/** Whether toleration `ss` tolerates everything `t` does (pkg/util/tolerations isSuperset). */
function isSuperset(ss: Toleration, t: Toleration): boolean {
  if (isDeepStrictEqual(ss, t)) return true;
  if ((t.key ?? '') !== (ss.key ?? '') && (ss.key ?? '') !== '') return false;
  if ((t.effect ?? '') !== (ss.effect ?? '') && (ss.effect ?? '') !== '') return false;
  if (ss.effect === 'NoExecute' && ss.tolerationSeconds !== undefined) {
    if (t.tolerationSeconds === undefined || t.tolerationSeconds > ss.tolerationSeconds) return false;
  }
  switch (ss.operator ?? '') {
    case 'Equal':
    case '':
      return (t.operator ?? 'Equal') === 'Equal' && (t.value ?? '') === (ss.value ?? '');
    case 'Exists':
      return true;
    default:
      return false;
  }
}

/** MergeTolerations: both lists in order, dropping a toleration another one already covers. */
function mergeTolerations(first: Toleration[], second: Toleration[]): Toleration[] {
  const all = [...first, ...second];
  const merged: Toleration[] = [];
  all.forEach((t, i) => {
    if (merged.some((m) => isSuperset(m, t))) return;
    // Of two equal tolerations the first is kept.
    if (all.slice(i + 1).some((later) => !isDeepStrictEqual(later, t) && isSuperset(later, t))) return;
    merged.push(t);
  });
  return merged;
}
