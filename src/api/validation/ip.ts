// IP and CIDR parsing with the semantics upstream validation relies on (k8s.io/utils/net's
// ParseIPSloppy / ParseCIDRSloppy, forked from Go 1.16's net package): IPv4 octets may carry
// leading zeros and are read as decimal, IPv6 zones are rejected, and an IPv4-mapped IPv6 address
// counts as IPv4.
import { invalid, type FieldError } from './field.js';

/** A parsed address as 16 bytes (IPv4 stored IPv4-mapped, as Go does). */
export type IPBytes = Uint8Array;

/**
 * Four decimal octets separated by dots; each may carry leading zeros (Go's sloppy parse) and
 * must stay within 255. Scanned character by character, with no allocation: every Endpoints and
 * EndpointSlice write parses each of its addresses, and the endpoint controllers every pod IP of
 * every sync. The octets go to `out` when given. Returns undefined for anything else, or whether
 * `s` is already canonical (no leading zeros), as Go's IP.String() would print it.
 */
export function scanIPv4(s: string, out?: number[]): boolean | undefined {
  let part = 0, digits = 0, n = 0, canonical = true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2e) {
      if (digits === 0 || part === 3) return undefined;
      if (out) out[part] = n;
      part++;
      n = 0;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39) {
      if (digits === 1 && n === 0) canonical = false; // a leading zero
      n = n * 10 + (c - 0x30);
      if (n > 255) return undefined;
      digits++;
    } else {
      return undefined;
    }
  }
  if (digits === 0 || part !== 3) return undefined;
  if (out) out[3] = n;
  return canonical;
}

function parseIPv4(s: string): number[] | undefined {
  const out = [0, 0, 0, 0];
  return scanIPv4(s, out) === undefined ? undefined : out;
}

/** The IPv4-mapped IPv6 bytes of `octets`, written into `b` when given (a scratch buffer reused by its caller). */
function v4InV6(octets: number[], b: IPBytes = new Uint8Array(16)): IPBytes {
  b.fill(0, 0, 10);
  b[10] = 0xff;
  b[11] = 0xff;
  b.set(octets, 12);
  return b;
}

function parseIPv6(s: string): IPBytes | undefined {
  if (s.length === 0 || s.includes('%')) return undefined;
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const groups = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    const pieces = part.split(':');
    for (let i = 0; i < pieces.length; i++) {
      const p = pieces[i]!;
      if (i === pieces.length - 1 && p.includes('.')) {
        const v4 = parseIPv4(p);
        if (!v4) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return undefined;
      out.push(parseInt(p, 16));
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return undefined;
  // An embedded IPv4 address is only allowed at the very end.
  if (halves.length === 2 && halves[0]!.includes('.')) return undefined;
  let words: number[];
  if (halves.length === 2) {
    // Go accepts a "::" that stands for zero groups, so only a negative count is an error.
    const missing = 8 - head.length - tail.length;
    if (missing < 0) return undefined;
    words = [...head, ...new Array<number>(missing).fill(0), ...tail];
  } else {
    if (head.length !== 8) return undefined;
    words = head;
  }
  const b = new Uint8Array(16);
  words.forEach((w, i) => {
    b[2 * i] = w >> 8;
    b[2 * i + 1] = w & 0xff;
  });
  return b;
}

/** Go's ParseIPSloppy; undefined when the text is not an IP address. */
export function parseIP(s: string): IPBytes | undefined {
  const v4 = parseIPv4(s);
  if (v4) return v4InV6(v4);
  return parseIPv6(s);
}

/** True for IPv4 and IPv4-mapped IPv6 addresses (Go's To4() != nil). */
export function isIPv4Bytes(ip: IPBytes): boolean {
  for (let i = 0; i < 10; i++) if (ip[i] !== 0) return false;
  return ip[10] === 0xff && ip[11] === 0xff;
}

export function isValidIP(v: string): boolean {
  return scanIPv4(v) !== undefined || parseIPv6(v) !== undefined;
}

export function isIPv6String(v: string): boolean {
  const ip = parseIP(v);
  return ip !== undefined && !isIPv4Bytes(ip);
}

/** The family of an address, undefined when it is not one. */
export function ipFamilyOf(v: string): 'IPv4' | 'IPv6' | undefined {
  const ip = parseIP(v);
  if (!ip) return undefined;
  return isIPv4Bytes(ip) ? 'IPv4' : 'IPv6';
}

/** Go's ParseCIDRSloppy: `<ip>/<prefix length>`, the address need not be the network address. */
export function isValidCIDRString(v: string): boolean {
  const slash = v.indexOf('/');
  if (slash < 0) return false;
  const addr = v.slice(0, slash);
  const mask = v.slice(slash + 1);
  let bits: number;
  if (parseIPv4(addr)) bits = 32;
  else if (parseIPv6(addr)) bits = 128;
  else return false;
  if (!/^[0-9]+$/.test(mask)) return false;
  const n = Number(mask);
  return n <= bits;
}

export function cidrFamilyOf(v: string): 'IPv4' | 'IPv6' | undefined {
  if (!isValidCIDRString(v)) return undefined;
  return parseIPv4(v.slice(0, v.indexOf('/'))) ? 'IPv4' : 'IPv6';
}

// ---- upstream checks with their messages ----

/** validation.IsValidIP (v0.32). */
export function validateIP(field: string, value: string): FieldError[] {
  return isValidIP(value) ? [] : [invalid(field, value, 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)')];
}

export function validateIPv4Address(field: string, value: string): FieldError[] {
  if (scanIPv4(value) !== undefined) return [];
  const ip = parseIP(value);
  return ip && isIPv4Bytes(ip) ? [] : [invalid(field, value, 'must be a valid IPv4 address')];
}

export function validateIPv6Address(field: string, value: string): FieldError[] {
  const ip = parseIP(value);
  return ip && !isIPv4Bytes(ip) ? [] : [invalid(field, value, 'must be a valid IPv6 address')];
}

export function validateCIDR(field: string, value: string): FieldError[] {
  return isValidCIDRString(value) ? [] : [invalid(field, value, 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)')];
}

const SCRATCH_V4 = [0, 0, 0, 0];
const SCRATCH_BYTES: IPBytes = new Uint8Array(16);

function zeroBytes(ip: IPBytes, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (ip[i] !== 0) return false;
  return true;
}

/**
 * ValidateNonSpecialIP: what upstream forbids in Endpoints, EndpointSlices and externalIPs.
 * Upstream rejects the loopback range, where kubelite runs its pods; `allowLoopback` lifts that
 * one rule (a kubelite deviation the caller opts into).
 */
export function validateNonSpecialIP(field: string, value: string, allowLoopback = false): FieldError[] {
  // Dotted IPv4, the address of nearly every endpoint, is read into a scratch array: an
  // Endpoints or EndpointSlice write checks each of its addresses.
  const ip = scanIPv4(value, SCRATCH_V4) !== undefined ? v4InV6(SCRATCH_V4, SCRATCH_BYTES) : parseIP(value);
  if (!ip) return [invalid(field, value, 'must be a valid IP address')];
  const errs: FieldError[] = [];
  const v4 = isIPv4Bytes(ip);
  const unspecified = v4 ? zeroBytes(ip, 12, 16) : zeroBytes(ip, 0, 16);
  const loopback = v4 ? ip[12] === 127 : zeroBytes(ip, 0, 15) && ip[15] === 1;
  const linkLocalUnicast = v4 ? ip[12] === 169 && ip[13] === 254 : ip[0] === 0xfe && (ip[1]! & 0xc0) === 0x80;
  const linkLocalMulticast = v4 ? ip[12] === 224 && ip[13] === 0 && ip[14] === 0 : ip[0] === 0xff && (ip[1]! & 0x0f) === 0x02;
  if (unspecified) errs.push(invalid(field, value, `may not be unspecified (${value})`));
  if (loopback && !allowLoopback) errs.push(invalid(field, value, 'may not be in the loopback range (127.0.0.0/8, ::1/128)'));
  if (linkLocalUnicast) errs.push(invalid(field, value, 'may not be in the link-local range (169.254.0.0/16, fe80::/10)'));
  if (linkLocalMulticast) errs.push(invalid(field, value, 'may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)'));
  return errs;
}

/** netutils.IsDualStackIPStrings / IsDualStackCIDRStrings: exactly one of each family among them. */
export function isDualStack(families: ('IPv4' | 'IPv6' | undefined)[]): boolean {
  return families.includes('IPv4') && families.includes('IPv6');
}
