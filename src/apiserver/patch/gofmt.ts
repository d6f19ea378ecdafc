// Renders decoded JSON values the way Go's fmt prints map[string]interface{} data. Upstream's
// strategic-merge-patch errors embed values with %v / %s (e.g. `map: map[$patch:delete] does not
// contain declared merge key: name`), and kubectl shows those messages verbatim.
//
// The API server decodes patch numbers with "preserve ints": integral numbers become int64 and
// the rest float64. JSON.parse loses that distinction, so an integral value counts as int64.
import { isObject, type JsonValue } from './value.js';

/** Go's reflect type name of a decoded JSON value; undefined for nil. */
export function goTypeName(value: JsonValue): string | undefined {
  if (value === null) return undefined;
  if (Array.isArray(value)) return '[]interface {}';
  if (isObject(value)) return 'map[string]interface {}';
  if (typeof value === 'number') return isInt64(value) ? 'int64' : 'float64';
  return typeof value === 'boolean' ? 'bool' : 'string';
}

/** How Go's json.UnmarshalTypeError names a JSON value ("json: cannot unmarshal array into ..."). */
export function jsonKind(value: unknown): string {
  if (Array.isArray(value)) return 'array';
  if (isObject(value)) return 'object';
  if (typeof value === 'boolean') return 'bool';
  return typeof value === 'number' ? 'number' : 'string';
}

/** fmt's %v. */
export function formatV(value: JsonValue): string {
  return format(value, 'v', true);
}

/** fmt's %s: non-string scalars come out as `%!s(int64=5)`. */
export function formatS(value: JsonValue): string {
  return format(value, 's', true);
}

function format(value: JsonValue, verb: 'v' | 's', topLevel: boolean): string {
  if (value === null) {
    // A nil interface nested in a map or slice prints as <nil> whatever the verb.
    return verb === 's' && topLevel ? '%!s(<nil>)' : '<nil>';
  }
  if (Array.isArray(value)) return `[${value.map((item) => format(item, verb, false)).join(' ')}]`;
  if (isObject(value)) {
    // Go sorts map keys when printing (byte order; fine for the ASCII keys of API objects).
    const keys = Object.keys(value).sort();
    return `map[${keys.map((k) => `${k}:${format(value[k], verb, false)}`).join(' ')}]`;
  }
  if (typeof value === 'string') return value;
  const plain = typeof value === 'boolean' ? String(value) : formatNumber(value);
  return verb === 's' ? `%!s(${goTypeName(value)}=${plain})` : plain;
}

function isInt64(n: number): boolean {
  return Number.isInteger(n) && Math.abs(n) < 2 ** 63;
}

function formatNumber(n: number): string {
  if (isInt64(n)) return BigInt(n).toString();
  return formatFloat(n);
}

/** %v of a float64: shortest digits, %e notation when the exponent is < -4 or >= 6 (Go's %g rule). */
function formatFloat(n: number): string {
  const [mantissa, exponentText] = n.toExponential().split('e');
  const exponent = Number(exponentText);
  if (exponent < -4 || exponent >= 6) {
    const sign = exponent < 0 ? '-' : '+';
    return `${mantissa}e${sign}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  return String(n);
}
