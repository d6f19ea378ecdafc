// resource.Quantity as upstream parses and prints it (k8s.io/apimachinery/pkg/api/resource).
// Stored objects show quantities in canonical form ("0.5" becomes "500m", "1024Mi" becomes "1Gi"),
// and validation compares them exactly, so this works on exact decimals (mantissa × 10^scale).

export type QuantityFormat = 'DecimalSI' | 'BinarySI' | 'DecimalExponent';

export interface Quantity {
  /** value = mantissa × 10^scale */
  mantissa: bigint;
  scale: number;
  format: QuantityFormat;
}

/** The message a malformed quantity is rejected with when a request body is decoded. */
export const QUANTITY_FORMAT_ERROR = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
export const QUANTITY_SUFFIX_ERROR = "unable to parse quantity's suffix";

const DECIMAL_SUFFIXES: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY_SUFFIXES: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
const MAX_INT64 = (1n << 63n) - 1n;

function pow10(n: number): bigint {
  return 10n ** BigInt(n);
}

/** Divide rounding away from zero (inf.RoundUp). */
function divAwayFromZero(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b === 0n ? q : q + (a < 0n ? -1n : 1n);
}

function normalize(mantissa: bigint, scale: number): { mantissa: bigint; scale: number } {
  if (mantissa === 0n) return { mantissa: 0n, scale: 0 };
  while (mantissa % 10n === 0n) {
    mantissa /= 10n;
    scale++;
  }
  return { mantissa, scale };
}

/**
 * Parse a quantity as upstream's ParseQuantity does, or return the error text it would give.
 * JSON numbers are accepted too (upstream decodes them through their decimal text).
 */
export function parseQuantity(input: string | number): Quantity | { error: string } {
  // Objects repeat the same few quantities (100m, 64Mi, 1Gi...): remember parses (results are never mutated).
  const key = typeof input === 'number' ? `#${input}` : input;
  const hit = parsedQuantities.get(key);
  if (hit) return hit;
  const result = parseQuantityUncached(input);
  if (parsedQuantities.size >= PARSED_QUANTITIES_MAX) parsedQuantities.clear();
  parsedQuantities.set(key, result);
  return result;
}

const PARSED_QUANTITIES_MAX = 4096;
const parsedQuantities = new Map<string, Quantity | { error: string }>();

function parseQuantityUncached(input: string | number): Quantity | { error: string } {
  const str = typeof input === 'number' ? String(input) : input.trim();
  if (str.length === 0) return { error: QUANTITY_FORMAT_ERROR };
  const m = /^([+-]?)([0-9]*)(?:\.([0-9]*))?([eEinumkKMGTP]*)([-+]?[0-9]*)$/.exec(str);
  if (!m) return { error: QUANTITY_FORMAT_ERROR };
  const [, sign, intPart, fracPart = '', suffixLetters, suffixNumber] = m;
  const suffix = suffixLetters! + suffixNumber!;
  let base: 10 | 2;
  let exponent: number;
  let format: QuantityFormat;
  if (suffix in DECIMAL_SUFFIXES) {
    base = 10;
    exponent = DECIMAL_SUFFIXES[suffix]!;
    format = 'DecimalSI';
  } else if (suffix in BINARY_SUFFIXES) {
    base = 2;
    exponent = BINARY_SUFFIXES[suffix]!;
    format = 'BinarySI';
  } else if (suffix.length > 1 && (suffix[0] === 'e' || suffix[0] === 'E') && /^[-+]?[0-9]+$/.test(suffix.slice(1))) {
    base = 10;
    exponent = Number(suffix.slice(1));
    format = 'DecimalExponent';
  } else {
    return { error: QUANTITY_SUFFIX_ERROR };
  }
  if (!Number.isSafeInteger(exponent)) return { error: QUANTITY_SUFFIX_ERROR };
  const digits = (intPart || '0') + fracPart;
  const significant = digits.replace(/^0+/, '').length;
  let mantissa = BigInt(digits);
  let scale = -fracPart.length;
  if (base === 10) scale += exponent;
  else mantissa *= 1n << BigInt(exponent);
  // Huge exponents would make the BigInt arithmetic below enormous (1e999999999): decide them
  // from the digit count instead. Above int64 the value is capped; far below a nano-unit it
  // rounds away from zero to one nano-unit.
  if (mantissa === 0n) {
    scale = 0;
  } else if (scale + significant > 20) {
    return { ...normalize(sign === '-' ? -MAX_INT64 : MAX_INT64, 0), format };
  } else if (-9 - scale > significant + 1) {
    return { ...normalize(sign === '-' ? -1n : 1n, -9), format: format === 'BinarySI' ? 'DecimalSI' : format };
  }
  if (sign === '-') mantissa = -mantissa;
  // Anything finer than a nano-unit is rounded away from zero, so a request never becomes 0.
  if (scale < -9) {
    mantissa = divAwayFromZero(mantissa, pow10(-9 - scale));
    scale = -9;
  }
  // Values are capped at the largest int64.
  const abs = mantissa < 0n ? -mantissa : mantissa;
  if (compareParts(abs, scale, MAX_INT64, 0) > 0) {
    mantissa = mantissa < 0n ? -MAX_INT64 : MAX_INT64;
    scale = 0;
  }
  const n = normalize(mantissa, scale);
  // A binary quantity strictly between 0 and 1 is shown in decimal form.
  if (format === 'BinarySI' && n.mantissa > 0n && compareParts(n.mantissa, n.scale, 1n, 0) < 0) format = 'DecimalSI';
  return { ...n, format };
}

function compareParts(m1: bigint, s1: number, m2: bigint, s2: number): number {
  const s = Math.min(s1, s2);
  const a = m1 * pow10(s1 - s);
  const b = m2 * pow10(s2 - s);
  return a < b ? -1 : a > b ? 1 : 0;
}

export function compareQuantities(a: Quantity, b: Quantity): number {
  return compareParts(a.mantissa, a.scale, b.mantissa, b.scale);
}

export function isInteger(q: Quantity): boolean {
  return q.scale >= 0;
}

/** Quantity.RoundUp(scale): the defaulting of resource lists rounds to milli-units. */
export function roundUp(q: Quantity, scale: number): Quantity {
  if (q.scale >= scale) return q;
  const n = normalize(divAwayFromZero(q.mantissa, pow10(scale - q.scale)), scale);
  return { ...n, format: q.format };
}

/** Quantity.String(): the canonical text stored objects carry. */
export function formatQuantity(q: Quantity): string {
  if (q.mantissa === 0n) return '0';
  let format = q.format;
  if (format === 'BinarySI') {
    const small = compareParts(q.mantissa < 0n ? -q.mantissa : q.mantissa, q.scale, 1024n, 0) < 0;
    // Values below 1024 or with a fractional part are shown in decimal to avoid rounding.
    if (small || q.scale < 0) format = 'DecimalSI';
  }
  if (format === 'BinarySI') {
    let amount = q.mantissa * pow10(q.scale);
    let power = 0;
    while (amount % 1024n === 0n && power < 6) {
      amount /= 1024n;
      power++;
    }
    return amount.toString() + ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'][power];
  }
  let amount = q.mantissa;
  let exponent = q.scale;
  // Exponents are shown in multiples of three, moving digits into the mantissa.
  while (exponent % 3 !== 0) {
    amount *= 10n;
    exponent--;
  }
  if (format === 'DecimalSI') {
    const suffix = Object.keys(DECIMAL_SUFFIXES).find((k) => DECIMAL_SUFFIXES[k] === exponent);
    if (suffix !== undefined) return amount.toString() + suffix;
  }
  return amount.toString() + (exponent === 0 ? '' : `e${exponent}`);
}

/** Parse and print in canonical form; the input unchanged when it does not parse. */
export function canonicalQuantity(input: string | number): string | number {
  const q = parseQuantity(input);
  return 'error' in q ? input : formatQuantity(q);
}
