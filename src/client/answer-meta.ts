// Reading an answer's metadata (name, namespace, uid, resourceVersion) from its JSON text without
// parsing the object. A component that writes an object often needs only these of the answer (the
// ReplicaSet controller names the created pod in its event; a node agent keeps the resourceVersion
// of its status write), yet parsing the answer built the whole object — spec, status and, unless
// cut first, managedFields — all garbage a moment later. The scan walks the top-level members up
// to `metadata` and the members of `metadata` until the four strings are found (the API server
// writes them first), jumping over strings with indexOf.

import { QUOTE, BACKSLASH, COLON, COMMA, OPEN_BRACE, CLOSE_BRACE, OPEN_BRACKET, CLOSE_BRACKET, isSpace } from './watch-decode.js';

/** The members of an answer's `metadata` that metadataOf reads. */
export interface AnswerMetadata {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
}


function skipSpace(s: string, i: number): number {
  while (i < s.length && isSpace(s.charCodeAt(i))) i++;
  return i;
}

/** The index of the quote that closes the string opening at s[i] (a quote); -1 if none. */
function stringEnd(s: string, i: number): number {
  for (;;) {
    const q = s.indexOf('"', i + 1);
    if (q < 0) return -1;
    // Escaped when an odd number of backslashes precede it.
    let b = q - 1;
    while (s.charCodeAt(b) === BACKSLASH) b--;
    if ((q - 1 - b) % 2 === 0) return q;
    i = q;
  }
}

/** The index just past the JSON value starting at s[i]; -1 when it does not end. */
function valueEnd(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c === QUOTE) {
    const e = stringEnd(s, i);
    return e < 0 ? -1 : e + 1;
  }
  if (c === OPEN_BRACE || c === OPEN_BRACKET) {
    let depth = 0;
    for (let j = i; j < s.length; j++) {
      const d = s.charCodeAt(j);
      if (d === QUOTE) {
        j = stringEnd(s, j);
        if (j < 0) return -1;
      } else if (d === OPEN_BRACE || d === OPEN_BRACKET) depth++;
      else if (d === CLOSE_BRACE || d === CLOSE_BRACKET) {
        if (--depth === 0) return j + 1;
      }
    }
    return -1;
  }
  // A number, true, false or null: up to the next delimiter.
  let j = i;
  while (j < s.length) {
    const d = s.charCodeAt(j);
    if (d === COMMA || d === CLOSE_BRACE || d === CLOSE_BRACKET || isSpace(d)) break;
    j++;
  }
  return j > i ? j : -1;
}

/** The decoded string s[start] … s[end] (both quotes). */
function stringAt(s: string, start: number, end: number): string {
  const raw = s.slice(start + 1, end);
  return raw.indexOf('\\') < 0 ? raw : (JSON.parse(s.slice(start, end + 1)) as string);
}

const WANTED = 4;

/**
 * The string members name, namespace, uid and resourceVersion of the `metadata` object of the
 * JSON object in `text` (members that are absent or not strings are left out), read without
 * parsing the object; undefined when the text is not an object with a `metadata` object (or is
 * cut short before its end), for the caller to parse it instead.
 */
export function metadataOf(text: string): AnswerMetadata | undefined {
  let i = skipSpace(text, 0);
  if (text.charCodeAt(i) !== OPEN_BRACE) return undefined;
  i++;
  for (;;) {
    i = skipSpace(text, i);
    if (text.charCodeAt(i) !== QUOTE) return undefined;
    const keyEnd = stringEnd(text, i);
    if (keyEnd < 0) return undefined;
    const isMetadata = keyEnd - i - 1 === 8 && text.startsWith('metadata', i + 1);
    i = skipSpace(text, keyEnd + 1);
    if (text.charCodeAt(i) !== COLON) return undefined;
    i = skipSpace(text, i + 1);
    if (isMetadata) return text.charCodeAt(i) === OPEN_BRACE ? metadataMembers(text, i + 1) : undefined;
    i = valueEnd(text, i);
    if (i < 0) return undefined;
    i = skipSpace(text, i);
    if (text.charCodeAt(i) !== COMMA) return undefined;
    i++;
  }
}

/** The wanted string members of the object whose members start at text[i]. */
function metadataMembers(text: string, i: number): AnswerMetadata | undefined {
  const out: AnswerMetadata = {};
  let found = 0;
  i = skipSpace(text, i);
  if (text.charCodeAt(i) === CLOSE_BRACE) return out;
  for (;;) {
    i = skipSpace(text, i);
    if (text.charCodeAt(i) !== QUOTE) return undefined;
    const keyStart = i;
    const keyEnd = stringEnd(text, i);
    if (keyEnd < 0) return undefined;
    i = skipSpace(text, keyEnd + 1);
    if (text.charCodeAt(i) !== COLON) return undefined;
    i = skipSpace(text, i + 1);
    const valueStart = i;
    i = valueEnd(text, i);
    if (i < 0) return undefined;
    if (text.charCodeAt(valueStart) === QUOTE) {
      const key = stringAt(text, keyStart, keyEnd);
      if (key === 'name' || key === 'namespace' || key === 'uid' || key === 'resourceVersion') {
        if (out[key] === undefined) found++;
        out[key] = stringAt(text, valueStart, i - 1);
        // The API server writes each member once: the rest of the object need not be read.
        if (found === WANTED) return out;
      }
    }
    i = skipSpace(text, i);
    const c = text.charCodeAt(i);
    if (c === CLOSE_BRACE) return out;
    if (c !== COMMA) return undefined;
    i++;
  }
}
