// Field errors as upstream's k8s.io/apimachinery/pkg/util/validation/field (v0.32) builds and prints
// them. kubectl prints `<field>: <message>` verbatim from the Status causes, so the message text,
// including how the offending value is rendered, has to match Go's formatting exactly.
import type { FieldError } from '../types.js';

export type { FieldError };

/**
 * A value already rendered the way Go's `%#v` prints it (structs, maps, slices), for the few
 * errors upstream reports with a composite value, e.g. `map[string]string{"app":"web"}`.
 */
export class GoLiteral {
  constructor(readonly text: string) {}
}

/** Where kubelite knowingly departs from upstream's rules. All off by default. */
export interface ValidationOptions {
  /**
   * Accept loopback addresses (127.0.0.0/8, ::1) in Endpoints, EndpointSlices and Service
   * externalIPs. Upstream rejects them; kubelite's pods and services live there.
   */
  allowLoopbackEndpoints?: boolean;
}

/** What an error can carry as its bad value. `null`/`undefined` stand for a nil pointer. */
export type BadValue = string | number | boolean | null | undefined | GoLiteral;

/** Go's strconv.Quote: `"` and `\` escaped, non-printable characters as \x, \u or \U escapes. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    switch (ch) {
      case '"': out += '\\"'; continue;
      case '\\': out += '\\\\'; continue;
      case '\x07': out += '\\a'; continue;
      case '\b': out += '\\b'; continue;
      case '\f': out += '\\f'; continue;
      case '\n': out += '\\n'; continue;
      case '\r': out += '\\r'; continue;
      case '\t': out += '\\t'; continue;
      case '\v': out += '\\v'; continue;
    }
    if (isGoPrintable(ch)) out += ch;
    else if (cp < 0x80) out += '\\x' + cp.toString(16).padStart(2, '0');
    else if (cp < 0x10000) out += '\\u' + cp.toString(16).padStart(4, '0');
    else out += '\\U' + cp.toString(16).padStart(8, '0');
  }
  return out + '"';
}

// unicode.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space.
const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;
function isGoPrintable(ch: string): boolean {
  return PRINTABLE.test(ch);
}

/** How field.Error.ErrorBody renders a bad value (v0.32): numbers and bools bare, strings quoted. */
export function formatValue(v: BadValue): string {
  // A nil pointer becomes the *string* "null", which is then quoted like any string.
  if (v === null || v === undefined) return '"null"';
  if (v instanceof GoLiteral) return v.text;
  if (typeof v === 'string') return goQuote(v);
  return String(v);
}

// ---- Go `%#v` renderings of the composite values upstream reports ----

export function goStringSlice(values: string[] | undefined | null, type = '[]string'): GoLiteral {
  if (values === undefined || values === null) return new GoLiteral(`${type}(nil)`);
  return new GoLiteral(`${type}{${values.map(goQuote).join(', ')}}`);
}

/** fmt prints maps with sorted keys. */
export function goStringMap(m: Record<string, string> | undefined | null): GoLiteral {
  if (m === undefined || m === null) return new GoLiteral('map[string]string(nil)');
  const body = Object.keys(m).sort().map((k) => `${goQuote(k)}:${goQuote(m[k]!)}`).join(', ');
  return new GoLiteral(`map[string]string{${body}}`);
}

/** An intstr.IntOrString value: Type 0 is Int, 1 is String. */
export function goIntOrString(v: number | string | undefined | null): GoLiteral {
  if (typeof v === 'string') return new GoLiteral(`intstr.IntOrString{Type:1, IntVal:0, StrVal:${goQuote(v)}}`);
  return new GoLiteral(`intstr.IntOrString{Type:0, IntVal:${v ?? 0}, StrVal:""}`);
}

// ---- constructors, one per field.ErrorType ----

export function required(field: string, detail = ''): FieldError {
  return { reason: 'FieldValueRequired', field, message: withDetail('Required value', detail) };
}

export function invalid(field: string, value: BadValue, detail: string): FieldError {
  return { reason: 'FieldValueInvalid', field, message: withDetail(`Invalid value: ${formatValue(value)}`, detail) };
}

export function notSupported(field: string, value: BadValue, validValues: readonly string[]): FieldError {
  const detail = validValues.length ? 'supported values: ' + validValues.map(goQuote).join(', ') : '';
  return { reason: 'FieldValueNotSupported', field, message: withDetail(`Unsupported value: ${formatValue(value)}`, detail) };
}

export function duplicate(field: string, value: BadValue, detail = ''): FieldError {
  return { reason: 'FieldValueDuplicate', field, message: withDetail(`Duplicate value: ${formatValue(value)}`, detail) };
}

export function notFound(field: string, value: BadValue, detail = ''): FieldError {
  return { reason: 'FieldValueNotFound', field, message: withDetail(`Not found: ${formatValue(value)}`, detail) };
}

export function forbidden(field: string, detail: string): FieldError {
  return { reason: 'FieldValueForbidden', field, message: withDetail('Forbidden', detail) };
}

export function tooLong(field: string, maxLength: number): FieldError {
  return { reason: 'FieldValueTooLong', field, message: `Too long: may not be more than ${maxLength} bytes` };
}

export function tooMany(field: string, actual: number, max: number): FieldError {
  return { reason: 'FieldValueTooMany', field, message: `Too many: ${actual}: must have at most ${max} items` };
}

function withDetail(head: string, detail: string): string {
  return detail ? `${head}: ${detail}` : head;
}

// ---- field paths, as field.Path.String() renders them ----

export function child(path: string, ...names: string[]): string {
  let p = path;
  for (const n of names) p = p ? `${p}.${n}` : n;
  return p;
}

export function index(path: string, i: number): string {
  return `${path}[${i}]`;
}

export function key(path: string, k: string): string {
  return `${path}[${k}]`;
}

/** field.Error.Error(): `<field>: <body>`. */
export function errorString(e: FieldError): string {
  return `${e.field}: ${e.message}`;
}

/**
 * ErrorList.ToAggregate().Error(): duplicates dropped, a single error bare, several as
 * `[e1, e2]`. Returns '' for an empty list.
 */
export function aggregateMessage(errs: FieldError[]): string {
  const seen: string[] = [];
  for (const e of errs) {
    const s = errorString(e);
    if (!seen.includes(s)) seen.push(s);
  }
  if (seen.length === 0) return '';
  if (seen.length === 1) return seen[0]!;
  return `[${seen.join(', ')}]`;
}

/** Messages from an is*() check turned into Invalid errors on one field. */
export function invalidEach(field: string, value: BadValue, messages: string[]): FieldError[] {
  return messages.map((m) => invalid(field, value, m));
}
