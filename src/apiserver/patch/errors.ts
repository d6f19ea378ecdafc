// Patch failures with the HTTP code, Status reason and message the upstream API server answers
// with (k8s.io/apiserver/pkg/endpoints/handlers/patch.go):
//  * BadRequest (400): an undecodable patch document and the strategic-merge-patch format errors
//    listed in interpretStrategicMergePatchError;
//  * Invalid (422) with the fixed message of NewGenericServerResponse: a JSON patch that does not
//    apply, and strategic-merge-patch lists of lists;
//  * RequestEntityTooLarge (413): a JSON patch with more than 10000 operations;
//  * 500 with no reason and the raw message: every other strategic-merge-patch error, because
//    upstream returns those as plain Go errors and ErrorToAPIStatus turns them into exactly that.
import { formatS, formatV, goTypeName } from './gofmt.js';
import type { JsonObject, JsonValue } from './value.js';

export type PatchErrorCode = 400 | 413 | 422 | 500;
/** Status reason; '' is StatusReasonUnknown, which upstream omits from the Status JSON. */
export type PatchErrorReason = 'BadRequest' | 'RequestEntityTooLarge' | 'Invalid' | '';

export class PatchError extends Error {
  constructor(
    readonly code: PatchErrorCode,
    readonly reason: PatchErrorReason,
    message: string,
    /** Status details; upstream sends `details: {}` with its generic 422. */
    readonly details?: Record<string, never>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'PatchError';
  }
}

export function badRequest(message: string): PatchError {
  return new PatchError(400, 'BadRequest', message);
}

/** The message kubectl shows as `The request is invalid: the server rejected our request ...`. */
export function genericInvalid(cause?: unknown): PatchError {
  return new PatchError(422, 'Invalid', 'the server rejected our request due to an error in our request', {}, { cause });
}

export function internal(message: string): PatchError {
  return new PatchError(500, '', message);
}

// Upstream sentinel errors (k8s.io/apimachinery/pkg/util/mergepatch/errors.go) and their classes.
export const errBadPatchFormatForPrimitiveList = (): PatchError => badRequest('invalid patch format of primitive list');
export const errBadPatchFormatForRetainKeys = (): PatchError => badRequest('invalid patch format of retainKeys');
export const errBadPatchFormatForSetElementOrderList = (): PatchError =>
  badRequest('invalid patch format of setElementOrder list');
export const errNoListOfLists = (): PatchError => genericInvalid(new Error('lists of lists are not supported'));

export function errNoMergeKey(map: JsonObject, mergeKey: string): PatchError {
  return internal(`map: ${formatV(map)} does not contain declared merge key: ${mergeKey}`);
}

/** `expected` is a Go type name such as `map[string]interface {}`. */
export function errBadArgType(expected: string, actual: JsonValue): PatchError {
  return internal(`expected a ${expected}, but received a ${goTypeName(actual) ?? '%!s(<nil>)'}`);
}

export function errBadPatchType(directive: JsonValue, map: JsonObject): PatchError {
  return internal(`unknown patch type: ${formatS(directive)} in map: ${formatV(map)}`);
}
