// Label and field selectors with upstream's grammar and semantics
// (k8s.io/apimachinery/pkg/labels/selector.go, pkg/fields/selector.go).

export type LabelOp = 'in' | 'notin' | 'exists' | '!' | '=' | '==' | '!=' | 'gt' | 'lt';

export interface Requirement {
  key: string;
  op: LabelOp;
  values: string[];
}

export class SelectorParseError extends Error {}

export interface LabelSelector {
  requirements: Requirement[];
  matches(labels: Record<string, string> | undefined): boolean;
  empty: boolean;
  toString(): string;
}

function requirementMatches(r: Requirement, labels: Record<string, string>): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, r.key);
  const v = has ? labels[r.key] : undefined;
  switch (r.op) {
    case 'in': case '=': case '==': return has && r.values.includes(v!);
    case 'notin': case '!=': return !has || !r.values.includes(v!);
    case 'exists': return has;
    case '!': return !has;
    case 'gt': case 'lt': {
      if (!has || !/^-?\d+$/.test(v!)) return false;
      const n = Number(v), bound = Number(r.values[0]);
      return r.op === 'gt' ? n > bound : n < bound;
    }
  }
}

function requirementString(r: Requirement): string {
  switch (r.op) {
    case 'exists': return r.key;
    case '!': return `!${r.key}`;
    case 'in': return `${r.key} in (${r.values.join(',')})`;
    case 'notin': return `${r.key} notin (${r.values.join(',')})`;
    case 'gt': return `${r.key}>${r.values[0]}`;
    case 'lt': return `${r.key}<${r.values[0]}`;
    default: return `${r.key}${r.op}${r.values[0]}`;
  }
}

export function labelSelectorFromRequirements(requirements: Requirement[]): LabelSelector {
  return {
    requirements,
    empty: requirements.length === 0,
    matches(labels) {
      const l = labels ?? {};
      for (const r of requirements) if (!requirementMatches(r, l)) return false;
      return true;
    },
    toString() {
      return requirements.map(requirementString).join(',');
    },
  };
}

export const everything: LabelSelector = labelSelectorFromRequirements([]);

// --- label selector string parser -------------------------------------------------------

type Tok = { t: 'id' | 'op' | '(' | ')' | ',' | '!' | 'end'; v: string };

function lex(s: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') { i++; continue; }
    if (c === '(' || c === ')' || c === ',') { out.push({ t: c, v: c }); i++; continue; }
    if (c === '!' && s[i + 1] === '=') { out.push({ t: 'op', v: '!=' }); i += 2; continue; }
    if (c === '!') { out.push({ t: '!', v: '!' }); i++; continue; }
    if (c === '=' && s[i + 1] === '=') { out.push({ t: 'op', v: '==' }); i += 2; continue; }
    if (c === '=' || c === '>' || c === '<') { out.push({ t: 'op', v: c }); i++; continue; }
    let j = i;
    while (j < s.length && !' \t\n\r(),!=<>'.includes(s[j])) j++;
    const word = s.slice(i, j);
    out.push({ t: 'id', v: word });
    i = j;
  }
  out.push({ t: 'end', v: '' });
  return out;
}

const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Upstream's IsQualifiedName as used for label keys; returns a problem description or undefined. */
export function labelKeyProblem(key: string): string | undefined {
  const parts = key.split('/');
  let name = key;
  if (parts.length === 2) {
    const prefix = parts[0];
    name = parts[1];
    if (prefix.length === 0) return 'prefix part must be non-empty';
    if (prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix)) {
      return "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
    }
  } else if (parts.length > 2) {
    return "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')";
  }
  if (name.length === 0) return 'name part must be non-empty';
  if (name.length > 63) return 'name part must be no more than 63 characters';
  if (!QUALIFIED_NAME.test(name)) {
    return "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
  }
  return undefined;
}

/** Upstream's IsValidLabelValue; returns a problem description or undefined. */
export function labelValueProblem(v: string): string | undefined {
  if (v.length > 63) return 'must be no more than 63 characters';
  if (v.length > 0 && !QUALIFIED_NAME.test(v)) {
    return "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
  }
  return undefined;
}

function checkKey(key: string): void {
  const p = labelKeyProblem(key);
  if (p) throw new SelectorParseError(`unable to parse requirement: key: Invalid value: "${key}": ${p}`);
}

function checkValue(key: string, i: number, v: string): void {
  const p = labelValueProblem(v);
  if (p) throw new SelectorParseError(`unable to parse requirement: values[${i}][${key}]: Invalid value: "${v}": ${p}`);
}

/** Parse a label selector string (`app=web,tier in (a,b),!canary`). Throws SelectorParseError. */
export function parseLabelSelector(s: string): LabelSelector {
  const toks = lex(s);
  let p = 0;
  const reqs: Requirement[] = [];
  const expect = (what: string): never => {
    const t = toks[p];
    throw new SelectorParseError(`unable to parse requirement: found '${t.t === 'end' ? '' : t.v}', expected: ${what}`);
  };
  if (toks[0].t === 'end') return everything;
  for (;;) {
    let r: Requirement;
    if (toks[p].t === '!') {
      p++;
      if (toks[p].t !== 'id') expect('identifier after \'!\'');
      checkKey(toks[p].v);
      r = { key: toks[p++].v, op: '!', values: [] };
    } else {
      if (toks[p].t !== 'id') expect('identifier');
      const key = toks[p++].v;
      checkKey(key);
      const t = toks[p];
      if (t.t === ',' || t.t === 'end') {
        r = { key, op: 'exists', values: [] };
      } else if (t.t === 'op') {
        p++;
        const op: LabelOp = t.v === '>' ? 'gt' : t.v === '<' ? 'lt' : (t.v as LabelOp);
        // An empty value is allowed: `app=` selects an empty label value.
        let v = '';
        if (toks[p].t === 'id') v = toks[p++].v;
        else if (toks[p].t !== ',' && toks[p].t !== 'end') expect('identifier');
        if ((op === 'gt' || op === 'lt') && !/^-?\d+$/.test(v)) {
          throw new SelectorParseError(`unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer`);
        }
        if (op !== 'gt' && op !== 'lt') checkValue(key, 0, v);
        r = { key, op, values: [v] };
      } else if (t.t === 'id' && (t.v === 'in' || t.v === 'notin')) {
        p++;
        if (toks[p].t !== '(') expect("'(' ");
        p++;
        const values: string[] = [];
        for (;;) {
          if (toks[p].t === 'id') values.push(toks[p++].v);
          else if (toks[p].t === ',' || toks[p].t === ')') values.push('');
          else expect("',', ')' or identifier");
          if (toks[p].t === ',') { p++; continue; }
          if (toks[p].t === ')') { p++; break; }
          expect("',' or ')'");
        }
        values.forEach((v, i) => checkValue(key, i, v));
        r = { key, op: t.v as LabelOp, values: [...new Set(values)].sort() };
      } else {
        return expect("'=', '!=', '==', 'in', notin'");
      }
    }
    reqs.push(r);
    if (toks[p].t === 'end') break;
    if (toks[p].t !== ',') expect("','");
    p++;
  }
  // Upstream sorts requirements by key so String() is canonical.
  reqs.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return labelSelectorFromRequirements(reqs);
}

/** metav1.LabelSelector (matchLabels + matchExpressions) → selector. Null selects nothing, {} everything. */
export interface LabelSelectorSpec {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

export function labelSelectorFromSpec(spec: LabelSelectorSpec | null | undefined): LabelSelector | undefined {
  if (!spec) return undefined;
  const reqs: Requirement[] = [];
  for (const [k, v] of Object.entries(spec.matchLabels ?? {})) reqs.push({ key: k, op: '=', values: [v] });
  for (const e of spec.matchExpressions ?? []) {
    const op = ({ In: 'in', NotIn: 'notin', Exists: 'exists', DoesNotExist: '!' } as Record<string, LabelOp>)[e.operator];
    if (!op) throw new SelectorParseError(`"${e.operator}" is not a valid label selector operator`);
    reqs.push({ key: e.key, op, values: op === 'in' || op === 'notin' ? [...(e.values ?? [])].sort() : [] });
  }
  reqs.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return labelSelectorFromRequirements(reqs);
}

/** metav1.FormatLabelSelector: `app=web`, `<none>` for an empty selector, `<error>` when invalid. */
export function formatLabelSelector(spec: LabelSelectorSpec | null | undefined): string {
  try {
    const s = labelSelectorFromSpec(spec);
    if (!s) return '<none>';
    const str = s.toString();
    return str === '' ? '<none>' : str;
  } catch {
    return '<error>';
  }
}

// --- field selectors ---------------------------------------------------------------------

export interface FieldRequirement {
  field: string;
  op: '=' | '!=';
  value: string;
}

export interface FieldSelector {
  requirements: FieldRequirement[];
  empty: boolean;
  matches(get: (field: string) => string | undefined): boolean;
  /** The value the selector pins a field to (e.g. metadata.name=x), if any. */
  exact(field: string): string | undefined;
}

/** Parse `a=b,c!=d` with upstream's escaping (`\,` `\=` `\\`). Throws SelectorParseError. */
export function parseFieldSelector(s: string): FieldSelector {
  const reqs: FieldRequirement[] = [];
  const terms: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\' && i + 1 < s.length) { cur += c + s[++i]; continue; }
    if (c === ',') { terms.push(cur); cur = ''; continue; }
    cur += c;
  }
  if (cur !== '' || terms.length > 0) terms.push(cur);
  for (const term of terms) {
    if (term === '') continue;
    let idx = -1, op: '=' | '!=' = '=', opLen = 1;
    for (let i = 0; i < term.length; i++) {
      if (term[i] === '\\') { i++; continue; }
      if (term.startsWith('!=', i)) { idx = i; op = '!='; opLen = 2; break; }
      if (term.startsWith('==', i)) { idx = i; op = '='; opLen = 2; break; }
      if (term[i] === '=') { idx = i; op = '='; opLen = 1; break; }
    }
    if (idx <= 0) throw new SelectorParseError(`invalid selector: '${s}'; can't understand '${term}'`);
    const unescape = (x: string) => x.replace(/\\(.)/g, '$1');
    reqs.push({ field: unescape(term.slice(0, idx)), op, value: unescape(term.slice(idx + opLen)) });
  }
  return {
    requirements: reqs,
    empty: reqs.length === 0,
    matches(get) {
      for (const r of reqs) {
        const v = get(r.field) ?? '';
        if (r.op === '=' ? v !== r.value : v === r.value) return false;
      }
      return true;
    },
    exact(field) {
      const r = reqs.find((x) => x.field === field && x.op === '=');
      return r?.value;
    },
  };
}
