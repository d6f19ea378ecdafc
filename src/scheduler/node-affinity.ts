// Node selection terms with upstream's semantics (k8s.io/component-helpers/scheduling/corev1/
// nodeaffinity): a pod's nodeSelector and required node affinity together decide which nodes it
// may run on; preferred terms add their weight to a node's score. Terms are ORed, the requirements
// of a term ANDed; an empty term selects nothing; a term that does not parse (bad operator, bad
// values) never matches.
import type { NodeSelectorRequirement, NodeSelectorTerm, Pod, PreferredSchedulingTerm } from 'kubernetes-types/core/v1.js';
import { labelKeyProblem, labelValueProblem } from '../api/selectors.js';

/** The parts of a node that node selection looks at. */
export interface NodeLabels {
  name: string;
  labels: Record<string, string>;
}

type LabelOp = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist' | 'Gt' | 'Lt';

interface LabelRequirement {
  key: string;
  op: LabelOp;
  values: string[];
  /** Gt/Lt bound. */
  bound?: bigint;
}

interface FieldRequirement {
  op: 'In' | 'NotIn';
  value: string;
}

interface CompiledTerm {
  labels?: LabelRequirement[];
  /** Requirements on metadata.name, the only field upstream supports. */
  fields?: FieldRequirement[];
  invalid: boolean;
}

const INTEGER = /^[+-]?\d+$/;

function parseInteger(s: string): bigint | undefined {
  if (!INTEGER.test(s)) return undefined;
  const n = BigInt(s);
  // strconv.ParseInt(s, 10, 64) rejects what does not fit in int64.
  return n >= -(2n ** 63n) && n < 2n ** 63n ? n : undefined;
}

/** labels.NewRequirement's checks for node selector requirements; undefined when invalid. */
function compileLabelRequirement(r: NodeSelectorRequirement): LabelRequirement | undefined {
  const values = r.values ?? [];
  if (labelKeyProblem(r.key)) return undefined;
  for (const v of values) if (labelValueProblem(v)) return undefined;
  switch (r.operator) {
    case 'In':
    case 'NotIn':
      if (values.length === 0) return undefined;
      break;
    case 'Exists':
    case 'DoesNotExist':
      if (values.length !== 0) return undefined;
      break;
    case 'Gt':
    case 'Lt': {
      if (values.length !== 1) return undefined;
      const bound = parseInteger(values[0]!);
      if (bound === undefined) return undefined;
      return { key: r.key, op: r.operator, values, bound };
    }
    default:
      return undefined;
  }
  return { key: r.key, op: r.operator as LabelOp, values };
}

function compileTerm(t: NodeSelectorTerm): CompiledTerm | undefined {
  const exprs = t.matchExpressions ?? [];
  const fieldExprs = t.matchFields ?? [];
  // A term with neither kind of requirement selects nothing (and is skipped).
  if (exprs.length === 0 && fieldExprs.length === 0) return undefined;
  const term: CompiledTerm = { invalid: false };
  if (exprs.length) {
    term.labels = [];
    for (const e of exprs) {
      const r = compileLabelRequirement(e);
      if (r) term.labels.push(r);
      else term.invalid = true;
    }
  }
  if (fieldExprs.length) {
    term.fields = [];
    for (const e of fieldExprs) {
      const values = e.values ?? [];
      if (e.key !== 'metadata.name' || (e.operator !== 'In' && e.operator !== 'NotIn') || values.length !== 1) term.invalid = true;
      else term.fields.push({ op: e.operator, value: values[0]! });
    }
  }
  return term;
}

function labelMatches(r: LabelRequirement, labels: Record<string, string>): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, r.key);
  switch (r.op) {
    case 'In': return has && r.values.includes(labels[r.key]!);
    case 'NotIn': return !has || !r.values.includes(labels[r.key]!);
    case 'Exists': return has;
    case 'DoesNotExist': return !has;
    case 'Gt':
    case 'Lt': {
      if (!has) return false;
      const v = parseInteger(labels[r.key]!);
      if (v === undefined) return false;
      return r.op === 'Gt' ? v > r.bound! : v < r.bound!;
    }
  }
}

function termMatches(t: CompiledTerm, node: NodeLabels): boolean {
  if (t.invalid) return false;
  if (t.labels) for (const r of t.labels) if (!labelMatches(r, node.labels)) return false;
  if (t.fields) for (const f of t.fields) if ((node.name === f.value) !== (f.op === 'In')) return false;
  return true;
}

/** nodeSelector AND (any of the required node affinity terms); undefined = every node matches. */
export class RequiredNodeAffinity {
  private constructor(
    private readonly selector: [string, string][] | undefined,
    private readonly terms: CompiledTerm[] | undefined,
  ) {}

  static of(pod: Pod): RequiredNodeAffinity | undefined {
    const nodeSelector = pod.spec?.nodeSelector;
    const required = pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
    if (!nodeSelector && !required) return undefined;
    const selector = nodeSelector ? Object.entries(nodeSelector) : undefined;
    let terms: CompiledTerm[] | undefined;
    if (required) {
      terms = [];
      for (const t of required.nodeSelectorTerms ?? []) {
        const c = compileTerm(t);
        if (c) terms.push(c);
      }
    }
    return new RequiredNodeAffinity(selector, terms);
  }

  matches(node: NodeLabels): boolean {
    if (this.selector) for (const [k, v] of this.selector) if (node.labels[k] !== v) return false;
    if (this.terms) {
      for (const t of this.terms) if (termMatches(t, node)) return true;
      return false;
    }
    return true;
  }
}

/**
 * NodeAffinity's PreFilter: when every required term names nodes with `metadata.name In`, only
 * those nodes are considered. Returns undefined (all nodes), a set of names, or 'conflict' when
 * each term's names contradict each other.
 */
export function nodeNamesFromAffinity(pod: Pod): Set<string> | 'conflict' | undefined {
  const terms = pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  if (!terms || terms.length === 0) return undefined;
  let names: Set<string> | undefined;
  for (const t of terms) {
    let termNames: Set<string> | undefined;
    for (const f of t.matchFields ?? []) {
      if (f.key !== 'metadata.name' || f.operator !== 'In') continue;
      const s = new Set(f.values ?? []);
      termNames = termNames ? new Set([...termNames].filter((n) => s.has(n))) : s;
    }
    // A term without a name requirement may match any node: the terms are ORed.
    if (!termNames) return undefined;
    names ??= new Set();
    for (const n of termNames) names.add(n);
  }
  return names && names.size === 0 ? 'conflict' : names;
}

/** The preferred node affinity terms with a weight; a node's score is the sum of those it matches. */
export class PreferredNodeAffinity {
  private constructor(private readonly terms: { term: CompiledTerm; weight: number }[]) {}

  static of(pod: Pod): PreferredNodeAffinity | undefined {
    const preferred: PreferredSchedulingTerm[] = pod.spec?.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
    const terms: { term: CompiledTerm; weight: number }[] = [];
    for (const p of preferred) {
      if (!p.weight) continue;
      const term = compileTerm(p.preference ?? {});
      if (term && !term.invalid) terms.push({ term, weight: p.weight });
    }
    return terms.length ? new PreferredNodeAffinity(terms) : undefined;
  }

  score(node: NodeLabels): number {
    let s = 0;
    for (const { term, weight } of this.terms) if (termMatches(term, node)) s += weight;
    return s;
  }
}
