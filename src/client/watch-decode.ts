// Cutting `metadata.managedFields` out of a watch event's bytes before they are parsed. Informers
// of kubelite's components drop managedFields right after decoding (as kube-controller-manager's
// TransformFunc does), yet on a pod they are about half of the event's JSON and by far its most
// object-dense part (one small object per field path): parsing them was most of the decode's
// allocation, all of it garbage a moment later. Skipping them as bytes costs one pass over the
// span, with no allocation.

// JSON's structural characters (also read by answer-meta.ts's scan of a text).
export const QUOTE = 0x22;
export const BACKSLASH = 0x5c;
export const COLON = 0x3a;
export const COMMA = 0x2c;
export const OPEN_BRACE = 0x7b;
export const CLOSE_BRACE = 0x7d;
export const OPEN_BRACKET = 0x5b;
export const CLOSE_BRACKET = 0x5d;

/** The keys from the event to the member cut: `{"type":…,"object":{"metadata":{"managedFields":…}}}`. */
const PATH = ['object', 'metadata', 'managedFields'].map((k) => Buffer.from(k, 'latin1'));

export function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** Whether the string token b[start] … b[end] (both quotes) is exactly `"name"` and a key (a colon follows). */
function isKey(b: Uint8Array, start: number, end: number, name: Uint8Array): boolean {
  if (end - start - 1 !== name.length) return false;
  for (let k = 0; k < name.length; k++) if (b[start + 1 + k] !== name[k]) return false;
  let j = end + 1;
  while (j < b.length && isSpace(b[j])) j++;
  return b[j] === COLON;
}

/**
 * Removes the member `"managedFields": …` of `object.metadata` from a watch event line held in
 * `line`, in place (the bytes after it move up), and returns the line's new length — its old
 * length when there is no such member. The line must be one JSON value; strings are skipped with
 * their escapes, so a key or bracket inside a string value is never taken for structure, and only
 * the member at exactly that path is cut (an annotation or custom field of the same name stays).
 */
export function cutManagedFields(line: Uint8Array): number {
  const n = line.length;
  let depth = 0;
  /** How far along PATH the scan is: the container at depth `found` is the one PATH[found - 1] names. */
  let found = 0;
  /** Where the `"managedFields"` key starts, once found; its value is then skipped to its end. */
  let memberStart = -1;
  for (let i = 0; i < n; i++) {
    const c = line[i];
    if (c === QUOTE) {
      const start = i;
      for (i++; i < n; i++) {
        const d = line[i];
        if (d === BACKSLASH) i++;
        else if (d === QUOTE) break;
      }
      if (memberStart < 0 && depth === found + 1 && isKey(line, start, i, PATH[found])) {
        if (found === PATH.length - 1) {
          memberStart = start;
          continue;
        }
        // The key's value must be an object for the path to go on.
        let j = i + 1;
        while (j < n && (isSpace(line[j]) || line[j] === COLON)) j++;
        if (line[j] !== OPEN_BRACE) return n;
        found++;
        depth++;
        i = j;
      }
      continue;
    }
    if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      depth++;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET || c === COMMA) {
      // The member's value ends at the first comma or closing brace back at the metadata's depth.
      if (memberStart >= 0 && depth === PATH.length) return cut(line, memberStart, i);
      if (c === COMMA) continue;
      depth--;
      // A container on the path closed without the member: there is none.
      if (depth <= found) return n;
    }
  }
  return n;
}

/** Removes the member line[start, end) and the comma that separates it from its neighbours. */
function cut(line: Uint8Array, start: number, end: number): number {
  let before = start - 1;
  while (before >= 0 && isSpace(line[before])) before--;
  let from = start, to = end;
  if (line[before] === COMMA) from = before;
  else if (line[end] === COMMA) to = end + 1;
  line.copyWithin(from, to);
  return line.length - (to - from);
}
