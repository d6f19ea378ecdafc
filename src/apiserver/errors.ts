// Kubernetes Status errors. Every failure leaves the server as a `Status` object with upstream's
// reason, code and message wording (kubectl prints `Error from server (<reason>): <message>`
// from it verbatim), mirroring k8s.io/apimachinery/pkg/api/errors.
import type { FieldError } from '../api/types.js';
import { qualifiedResource, type ResourceType } from '../api/resources.js';

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: { reason?: string; message?: string; field?: string }[];
  retryAfterSeconds?: number;
}

export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never> | { resourceVersion?: string };
  status: 'Failure' | 'Success';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

export class ApiError extends Error {
  constructor(
    public readonly code: number,
    public readonly reason: string,
    message: string,
    public readonly details?: StatusDetails,
    /** Extra response headers, e.g. Retry-After. */
    public readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  status(): Status {
    const s: Status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: this.message, reason: this.reason, code: this.code };
    if (this.details) s.details = this.details;
    return s;
  }
}

type Res = Pick<ResourceType, 'group' | 'plural'>;

function resourceDetails(r: Res, name: string): StatusDetails {
  return r.group ? { name, group: r.group, kind: r.plural } : { name, kind: r.plural };
}

export const errors = {
  notFound(r: Res, name: string): ApiError {
    return new ApiError(404, 'NotFound', `${qualifiedResource(r)} "${name}" not found`, resourceDetails(r, name));
  },
  /** The URL names no resource this server knows. */
  pathNotFound(): ApiError {
    return new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
  },
  alreadyExists(r: Res, name: string): ApiError {
    return new ApiError(409, 'AlreadyExists', `${qualifiedResource(r)} "${name}" already exists`, resourceDetails(r, name));
  },
  /** generateName collided every time it was retried. */
  generateNameConflict(r: Res, name: string): ApiError {
    return new ApiError(409, 'AlreadyExists',
      `${qualifiedResource(r)} "${name}" already exists, the server was not able to generate a unique name for the object`,
      resourceDetails(r, name), { 'Retry-After': '1' });
  },
  conflict(r: Res, name: string, why: string): ApiError {
    return new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${qualifiedResource(r)} "${name}": ${why}`, resourceDetails(r, name));
  },
  modified(r: Res, name: string): ApiError {
    return errors.conflict(r, name, 'the object has been modified; please apply your changes to the latest version and try again');
  },
  invalid(r: Pick<ResourceType, 'group' | 'kind'>, name: string, errs: FieldError[], message: string): ApiError {
    const details: StatusDetails = { name, kind: r.kind, causes: errs.map((e) => ({ reason: e.reason, message: e.message, field: e.field })) };
    if (r.group) details.group = r.group;
    return new ApiError(422, 'Invalid', message, details);
  },
  badRequest(message: string): ApiError {
    return new ApiError(400, 'BadRequest', message);
  },
  forbidden(r: Res, name: string, why: string): ApiError {
    return new ApiError(403, 'Forbidden', `${qualifiedResource(r)} "${name}" is forbidden: ${why}`, resourceDetails(r, name));
  },
  unauthorized(): ApiError {
    return new ApiError(401, 'Unauthorized', 'Unauthorized');
  },
  methodNotSupported(r: Res | undefined, action: string): ApiError {
    const what = r ? `${qualifiedResource(r)}` : '';
    return new ApiError(405, 'MethodNotAllowed', `${action} is not supported on resources of kind "${what}"`,
      r ? { kind: r.plural, ...(r.group ? { group: r.group } : {}) } : undefined);
  },
  tooLarge(limit: number): ApiError {
    return new ApiError(413, 'RequestEntityTooLarge', `Request entity too large: limit is ${limit}`);
  },
  unsupportedMediaType(contentType: string): ApiError {
    return new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got ${contentType})`);
  },
  notAcceptable(): ApiError {
    return new ApiError(406, 'NotAcceptable', 'only the following media types are accepted: application/json, application/yaml, application/json;stream=watch');
  },
  /** A watch or list from a revision that compaction removed. */
  expired(message: string): ApiError {
    return new ApiError(410, 'Expired', message);
  },
  gone(message: string): ApiError {
    return new ApiError(410, 'Gone', message);
  },
  timeout(message: string, retryAfterSeconds = 1): ApiError {
    return new ApiError(504, 'Timeout', message, { retryAfterSeconds }, { 'Retry-After': String(retryAfterSeconds) });
  },
  serverTimeout(r: Res, operation: string): ApiError {
    return new ApiError(500, 'ServerTimeout', `The ${operation} operation against ${qualifiedResource(r)} could not be completed at this time, please try again.`,
      { kind: r.plural, ...(r.group ? { group: r.group } : {}), retryAfterSeconds: 1 }, { 'Retry-After': '1' });
  },
  internal(err: unknown): ApiError {
    const msg = err instanceof Error ? err.message : String(err);
    return new ApiError(500, 'InternalError', `Internal error occurred: ${msg}`, { causes: [{ message: msg }] });
  },
  serviceUnavailable(message: string): ApiError {
    return new ApiError(503, 'ServiceUnavailable', message);
  },
};
