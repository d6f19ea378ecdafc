// Shared shapes of the API layer. Kubernetes object types come from `kubernetes-types`;
// these are the few generic shapes the generic handlers work with.
import type { ObjectMeta } from 'kubernetes-types/meta/v1.js';

/** Any Kubernetes object as it travels through the generic handlers. */
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export interface KObject {
  apiVersion?: string;
  kind?: string;
  /** kubernetes-types marks system fields read-only; the server is the one that writes them. */
  metadata: Mutable<ObjectMeta>;
  [field: string]: unknown;
}

/** One field error, as upstream's field.Error, rendered into Status causes. */
export interface FieldError {
  /** Upstream's cause reason: FieldValueRequired, FieldValueInvalid, FieldValueNotSupported, ... */
  reason:
    | 'FieldValueRequired'
    | 'FieldValueInvalid'
    | 'FieldValueNotSupported'
    | 'FieldValueDuplicate'
    | 'FieldValueForbidden'
    | 'FieldValueTooLong'
    | 'FieldValueTooMany'
    | 'FieldValueNotFound'
    | 'InternalError'
    | 'FieldValueTypeInvalid';
  /** The field path, e.g. `spec.ports[0].port`. */
  field: string;
  /** The full message as upstream prints it, e.g. `Invalid value: 0: must be between 1 and 65535, inclusive`. */
  message: string;
}
