// The errors of Go's time.Parse for the two layouts API timestamps are decoded with: metav1.Time uses
// time.RFC3339 and metav1.MicroTime uses RFC3339Micro. A request body with a malformed timestamp is
// rejected with this text (`parsing time "x" as "2006-01-02T15:04:05Z07:00": cannot parse "x" as "2006"`),
// so it is reproduced step by step: the layout is cut into the same chunks time.Parse walks, and
// each chunk consumes the value as Go's does, on UTF-8 bytes as Go strings are.

export const RFC3339 = '2006-01-02T15:04:05Z07:00';
export const RFC3339_MICRO = '2006-01-02T15:04:05.000000Z07:00';
export type TimeLayout = typeof RFC3339 | typeof RFC3339_MICRO;

type Std = 'year' | 'month' | 'day' | 'hour' | 'minute' | 'second' | 'fraction' | 'zone' | 'end';

/** One step of time.Parse: the literal text before a layout element, the element and its text in the layout. */
interface Chunk {
  prefix: string;
  std: Std;
  text: string;
}

const chunk = (prefix: string, std: Std, text: string): Chunk => ({ prefix, std, text });
const DATE_TIME = [
  chunk('', 'year', '2006'), chunk('-', 'month', '01'), chunk('-', 'day', '02'),
  chunk('T', 'hour', '15'), chunk(':', 'minute', '04'), chunk(':', 'second', '05'),
];
const CHUNKS: Record<TimeLayout, Chunk[]> = {
  [RFC3339]: [...DATE_TIME, chunk('', 'zone', 'Z07:00'), chunk('', 'end', '')],
  // ".000000" demands exactly six digits after the separator.
  [RFC3339_MICRO]: [...DATE_TIME, chunk('', 'fraction', '.000000'), chunk('', 'zone', 'Z07:00'), chunk('', 'end', '')],
};
const MICRO_FRACTION_BYTES = 7;

const DIGIT_0 = 0x30, DIGIT_9 = 0x39, PLUS = 0x2b, MINUS = 0x2d, COLON = 0x3a, PERIOD = 0x2e, COMMA = 0x2c, LETTER_Z = 0x5a;

const isDigit = (b: Uint8Array, i: number) => i < b.length && b[i]! >= DIGIT_0 && b[i]! <= DIGIT_9;
const isSeparator = (c: number | undefined) => c === PERIOD || c === COMMA;

/** Go's time.quote: ASCII as is (quotes and backslashes escaped), every other byte as \xNN. */
function quote(bytes: Uint8Array): string {
  let out = '"';
  for (const b of bytes) {
    if (b >= 0x80 || b < 0x20) out += `\\x${b.toString(16).padStart(2, '0')}`;
    else {
      if (b === 0x22 || b === 0x5c) out += '\\';
      out += String.fromCharCode(b);
    }
  }
  return out + '"';
}

const encoder = new TextEncoder();

/** getnum: one or two digits (exactly two when fixed); undefined where Go reports errBad. */
function getnum(s: Uint8Array, fixed: boolean): [number, Uint8Array] | undefined {
  if (!isDigit(s, 0)) return undefined;
  if (!isDigit(s, 1)) return fixed ? undefined : [s[0]! - DIGIT_0, s.subarray(1)];
  return [(s[0]! - DIGIT_0) * 10 + (s[1]! - DIGIT_0), s.subarray(2)];
}

/** atoi: an optional sign and decimal digits, nothing else (an empty digit run is 0, as in Go). */
function atoi(s: Uint8Array): number | undefined {
  let i = 0;
  const negative = s[0] === MINUS;
  if (s[0] === MINUS || s[0] === PLUS) i = 1;
  let x = 0;
  for (; i < s.length; i++) {
    if (!isDigit(s, i)) return undefined;
    x = x * 10 + (s[i]! - DIGIT_0);
  }
  return negative ? -x : x;
}

/** parseNanoseconds: validates a separator and up to nine digits; returns the range error, if any. */
function fractionError(value: Uint8Array, length: number): { bad: true } | { range: string } | undefined {
  if (!isSeparator(value[0])) return { bad: true };
  const ns = atoi(value.subarray(1, Math.min(length, 10)));
  if (ns === undefined) return { bad: true };
  return ns < 0 ? { range: 'fractional second' } : undefined;
}

function daysIn(month: number, year: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Two ASCII digits of `text` at `i` as a number, or -1. */
function twoDigits(text: string, i: number): number {
  const a = text.charCodeAt(i) - DIGIT_0, b = text.charCodeAt(i + 1) - DIGIT_0;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

/**
 * Whether `text` is the form the API writes (`2006-01-02T15:04:05Z`, with `.000000` for
 * MicroTime) with every element in range: time.Parse accepts it. Checked on the string, so that
 * the common case needs none of the byte-by-byte walk below.
 */
function isCanonical(layout: TimeLayout, text: string): boolean {
  const fraction = layout === RFC3339_MICRO ? MICRO_FRACTION_BYTES : 0;
  if (text.length !== 20 + fraction || text.charCodeAt(19 + fraction) !== LETTER_Z) return false;
  if (text[4] !== '-' || text[7] !== '-' || text[10] !== 'T' || text[13] !== ':' || text[16] !== ':') return false;
  for (let i = 20; i < 19 + fraction; i++) {
    const c = text.charCodeAt(i);
    if (c < DIGIT_0 || c > DIGIT_9) return false;
  }
  if (fraction && text[19] !== '.') return false;
  const century = twoDigits(text, 0), yy = twoDigits(text, 2);
  const month = twoDigits(text, 5), day = twoDigits(text, 8);
  if (century < 0 || yy < 0 || month < 1 || month > 12 || day < 1 || day > daysIn(month, century * 100 + yy)) return false;
  const hour = twoDigits(text, 11), minute = twoDigits(text, 14), second = twoDigits(text, 17);
  return hour >= 0 && hour < 24 && minute >= 0 && minute < 60 && second >= 0 && second < 60;
}

/** The text of Go's `time.Parse(layout, value)` error, or undefined when the value parses. */
export function timeParseError(layout: TimeLayout, text: string): string | undefined {
  if (isCanonical(layout, text)) return undefined;
  const whole = encoder.encode(text);
  const parseError = (layoutElem: string, valueElem: Uint8Array) =>
    `parsing time ${quote(whole)} as ${quote(encoder.encode(layout))}: cannot parse ${quote(valueElem)} as ${quote(encoder.encode(layoutElem))}`;
  const messageError = (message: string) => `parsing time ${quote(whole)}${message}`;

  const chunks = CHUNKS[layout];
  let value: Uint8Array = whole;
  let year = 0, month = -1, day = -1;
  for (let c = 0; c < chunks.length; c++) {
    const { prefix, std, text: stdText } = chunks[c]!;
    for (let i = 0; i < prefix.length; i++) {
      if (value.length === 0 || value[0] !== prefix.charCodeAt(i)) return parseError(prefix, value);
      value = value.subarray(1);
    }
    if (std === 'end') {
      if (value.length) return messageError(`: extra text: ${quote(value)}`);
      break;
    }
    const hold = value;
    let bad = false;
    let range = '';
    const num = (fixed: boolean, max: number, name: string): number => {
      const got = getnum(value, fixed);
      if (!got) {
        bad = true;
        return 0;
      }
      value = got[1];
      if (got[0] >= max) range = name;
      return got[0];
    };
    switch (std) {
      case 'year': {
        const y = value.length >= 4 && isDigit(value, 0) ? atoi(value.subarray(0, 4)) : undefined;
        if (y === undefined) bad = true;
        else {
          year = y;
          value = value.subarray(4);
        }
        break;
      }
      case 'month': {
        const got = getnum(value, true);
        if (!got) bad = true;
        else {
          [month, value] = got;
          if (month <= 0 || month > 12) range = 'month';
        }
        break;
      }
      case 'day': {
        const got = getnum(value, true);
        if (!got) bad = true;
        else [day, value] = got;
        break;
      }
      case 'hour':
        num(false, 24, 'hour');
        break;
      case 'minute':
        num(true, 60, 'minute');
        break;
      case 'second': {
        num(true, 60, 'second');
        if (bad || range) break;
        // A fraction the layout does not ask for is accepted after the seconds.
        if (value.length >= 2 && isSeparator(value[0]) && isDigit(value, 1) && chunks[c + 1]?.std !== 'fraction') {
          let n = 2;
          while (isDigit(value, n)) n++;
          const e = fractionError(value, n);
          if (e && 'range' in e) range = e.range;
          else if (e) bad = true;
          value = value.subarray(n);
        }
        break;
      }
      case 'fraction': {
        if (value.length < MICRO_FRACTION_BYTES) {
          bad = true;
          break;
        }
        const e = fractionError(value, MICRO_FRACTION_BYTES);
        if (e && 'range' in e) range = e.range;
        else if (e) bad = true;
        value = value.subarray(MICRO_FRACTION_BYTES);
        break;
      }
      case 'zone': {
        if (value.length >= 1 && value[0] === LETTER_Z) {
          value = value.subarray(1);
          break;
        }
        if (value.length < 6 || value[3] !== COLON) {
          bad = true;
          break;
        }
        const sign = value[0];
        const hours = getnum(value.subarray(1, 3), true);
        const minutes = hours && getnum(value.subarray(4, 6), true);
        if (!hours || !minutes) bad = true;
        value = value.subarray(6);
        if ((hours?.[0] ?? 0) > 24) range = 'time zone offset hour';
        if ((minutes?.[0] ?? 0) > 60) range = 'time zone offset minute';
        if (sign !== PLUS && sign !== MINUS) bad = true;
        break;
      }
    }
    if (range) return messageError(`: ${range} out of range`);
    if (bad) return parseError(stdText, hold);
  }
  if (day < 1 || day > daysIn(month, year)) return messageError(': day out of range');
  return undefined;
}
