// Labels and label selectors (k8s.io/apimachinery/pkg/apis/meta/v1/validation and
// pkg/labels semantics): validation messages, matching, and Go renderings of selectors.
import type { LabelSelector, LabelSelectorRequirement } from 'kubernetes-types/meta/v1.js';
import { child, forbidden, GoLiteral, goQuote, goStringMap, goStringSlice, index, invalid, invalidEach, required, type FieldError } from './field.js';
import { isQualifiedName, isValidLabelValue } from './names.js';

export function validateLabelName(name: string, field: string): FieldError[] {
  return invalidEach(field, name, isQualifiedName(name));
}

/** ValidateLabels: every key a qualified name, every value a label value; errors on the map's path. */
export function validateLabels(labels: Record<string, string> | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  // Every write checks its object's labels: no entry pairs or empty lists are made for valid ones.
  for (const k in labels) {
    if (!Object.prototype.hasOwnProperty.call(labels, k)) continue;
    const v = labels[k]!;
    const keyProblems = isQualifiedName(k);
    if (keyProblems.length) errs.push(...invalidEach(path, k, keyProblems));
    const valueProblems = isValidLabelValue(v);
    if (valueProblems.length) errs.push(...invalidEach(path, v, valueProblems));
  }
  return errs;
}

export function validateLabelSelectorRequirement(r: LabelSelectorRequirement, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const values = r.values ?? [];
  switch (r.operator) {
    case 'In':
    case 'NotIn':
      if (values.length === 0) errs.push(required(child(path, 'values'), "must be specified when `operator` is 'In' or 'NotIn'"));
      break;
    case 'Exists':
    case 'DoesNotExist':
      if (values.length > 0) errs.push(forbidden(child(path, 'values'), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"));
      break;
    default:
      errs.push(invalid(child(path, 'operator'), r.operator, 'not a valid selector operator'));
  }
  errs.push(...validateLabelName(r.key, child(path, 'key')));
  values.forEach((v, i) => errs.push(...invalidEach(index(child(path, 'values'), i), v, isValidLabelValue(v))));
  return errs;
}

export function validateLabelSelector(sel: LabelSelector | undefined, path: string): FieldError[] {
  if (!sel) return [];
  const errs = validateLabels(sel.matchLabels, child(path, 'matchLabels'));
  (sel.matchExpressions ?? []).forEach((r, i) => errs.push(...validateLabelSelectorRequirement(r, index(child(path, 'matchExpressions'), i))));
  return errs;
}

/** Whether metav1.LabelSelectorAsSelector would fail to turn the selector into a labels.Selector. */
export function selectorConversionFails(sel: LabelSelector): boolean {
  const reqs = [
    ...Object.entries(sel.matchLabels ?? {}).map(([key, v]) => ({ key, operator: 'In', values: [v] })),
    ...(sel.matchExpressions ?? []),
  ];
  return reqs.some((r) => {
    const values = r.values ?? [];
    if (isQualifiedName(r.key).length) return true;
    switch (r.operator) {
      case 'In':
      case 'NotIn':
        if (values.length === 0) return true;
        break;
      case 'Exists':
      case 'DoesNotExist':
        if (values.length > 0) return true;
        break;
      default:
        return true;
    }
    return values.some((v) => isValidLabelValue(v).length > 0);
  });
}

/** A selector with no requirements selects everything (labels.Everything().Empty() is true). */
export function selectorIsEmpty(sel: LabelSelector): boolean {
  return Object.keys(sel.matchLabels ?? {}).length + (sel.matchExpressions ?? []).length === 0;
}

export function selectorMatches(sel: LabelSelector, labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (l[k] !== v) return false;
  for (const r of sel.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    const values = r.values ?? [];
    switch (r.operator) {
      case 'In':
        if (!has || !values.includes(l[r.key]!)) return false;
        break;
      case 'NotIn':
        if (has && values.includes(l[r.key]!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

/** `%#v` of a *metav1.LabelSelector after dereferencing, as selector errors print it. */
export function goLabelSelector(sel: LabelSelector): GoLiteral {
  const exprs = sel.matchExpressions;
  const exprText = exprs === undefined || exprs === null
    ? '[]v1.LabelSelectorRequirement(nil)'
    : `[]v1.LabelSelectorRequirement{${exprs
        .map((r) => `v1.LabelSelectorRequirement{Key:${goQuote(r.key)}, Operator:${goQuote(r.operator)}, Values:${goStringSlice(r.values).text}}`)
        .join(', ')}}`;
  return new GoLiteral(`v1.LabelSelector{MatchLabels:${goStringMap(sel.matchLabels).text}, MatchExpressions:${exprText}}`);
}
