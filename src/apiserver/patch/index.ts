// The PATCH engines of the API server: JSON patch, JSON merge patch and strategic merge patch.
// Pure functions over parsed JSON; they never mutate their inputs. Server-side apply
// (application/apply-patch+yaml) is not handled here.
import { jsonPatch } from './json.js';
import { jsonMergePatch } from './merge.js';
import type { Resolver, SchemaNode } from './schema.js';
import { strategicMergePatch } from './strategic.js';

export { PatchError, type PatchErrorCode, type PatchErrorReason } from './errors.js';
export type { Resolver, SchemaNode } from './schema.js';

export type PatchType = 'json' | 'merge' | 'strategic';

const PATCH_TYPES: Record<string, PatchType> = {
  'application/json-patch+json': 'json',
  'application/merge-patch+json': 'merge',
  'application/strategic-merge-patch+json': 'strategic',
};

/**
 * Applies a patch of the given type and returns the new document. `schema` (with `resolve` for
 * its $refs) only matters to the strategic merge patch.
 * @throws PatchError with the code, reason and message the upstream API server answers with.
 */
export function applyPatch(type: PatchType, original: unknown, patch: unknown, schema?: SchemaNode, resolve?: Resolver): unknown {
  switch (type) {
    case 'json':
      return jsonPatch(original, patch);
    case 'merge':
      return jsonMergePatch(original, patch);
    case 'strategic':
      return strategicMergePatch(original, patch, schema, resolve);
  }
}

/**
 * The patch type of a request Content-Type, or undefined (upstream answers 415 then). Like
 * upstream, parameters after `;` are ignored and the media type must match exactly.
 */
export function patchTypeFromContentType(contentType: string): PatchType | undefined {
  const semicolon = contentType.indexOf(';');
  const mediaType = semicolon > 0 ? contentType.slice(0, semicolon) : contentType;
  return Object.prototype.hasOwnProperty.call(PATCH_TYPES, mediaType) ? PATCH_TYPES[mediaType] : undefined;
}
