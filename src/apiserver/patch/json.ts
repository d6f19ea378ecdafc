// JSON patch (RFC 6902), applied with fast-json-patch. Error classes follow the API server's
// jsonPatcher: a body that does not decode as a list of operation objects is a 400 with Go's
// decoding message, more than 10000 operations a 413, and any operation that does not apply a 422
// whose fixed message names nothing (kubectl prints "The request is invalid: the server rejected
// our request due to an error in our request").
import jsonpatch, { type Operation } from 'fast-json-patch';
import { badRequest, genericInvalid, PatchError } from './errors.js';
import { jsonKind } from './gofmt.js';
import { cloneJson, hasKey, isObject, type JsonValue } from './value.js';

const MAX_OPERATIONS = 10000;

export function jsonPatch(original: unknown, patch: unknown): JsonValue {
  const operations = decodeOperations(cloneJson(patch));
  if (operations.length > MAX_OPERATIONS) {
    throw new PatchError(
      413,
      'RequestEntityTooLarge',
      `Request entity too large: The allowed maximum operations in a JSON patch is ${MAX_OPERATIONS}, got ${operations.length}`,
    );
  }
  let document = cloneJson(original);
  operations.forEach((operation, index) => {
    if (testsForNullAtAbsentKey(document, operation)) return;
    try {
      document = jsonpatch.applyOperation(document, operation as unknown as Operation, true, true, true, index).newDocument;
    } catch (cause) {
      throw genericInvalid(cause);
    }
  });
  return document;
}

/** Mirrors Go's json.Unmarshal into []map[string]*json.RawMessage (evanphx/json-patch.v4 Patch). */
function decodeOperations(patch: JsonValue): JsonValue[] {
  if (patch === null) return [];
  if (!Array.isArray(patch)) throw badRequest(`json: cannot unmarshal ${jsonKind(patch)} into Go value of type jsonpatch.Patch`);
  for (const operation of patch) {
    if (operation !== null && !isObject(operation)) {
      throw badRequest(`json: cannot unmarshal ${jsonKind(operation)} into Go value of type jsonpatch.Operation`);
    }
  }
  return patch;
}

/**
 * The server's json-patch library lets `test` with a null (or no) value pass when the key is
 * absent from an existing object, so `{"op":"test","path":"/metadata/annotations/x","value":null}`
 * asserts absence. fast-json-patch would fail it.
 */
function testsForNullAtAbsentKey(document: JsonValue, operation: JsonValue): boolean {
  if (!isObject(operation) || operation.op !== 'test' || typeof operation.path !== 'string') return false;
  if (hasKey(operation, 'value') && operation.value !== null) return false;
  const slash = operation.path.lastIndexOf('/');
  if (slash < 0) return false;
  const key = jsonpatch.unescapePathComponent(operation.path.slice(slash + 1));
  let parent: unknown;
  try {
    parent = jsonpatch.getValueByPointer(document, operation.path.slice(0, slash));
  } catch {
    return false;
  }
  return isObject(parent) && !hasKey(parent, key);
}
