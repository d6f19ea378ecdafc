// ObjectMeta validation (k8s.io/apimachinery/pkg/api/validation/objectmeta.go, v0.32, plus the
// finalizer-name check core's wrapper adds).
import type { ObjectMeta, OwnerReference } from 'kubernetes-types/meta/v1.js';
import {
  child, forbidden, GoLiteral, goQuote, goStringSlice, index, invalid, invalidEach, required, tooLong,
  type BadValue, type FieldError,
} from './field.js';
import { validateLabels } from './labels.js';
import { byteLength, isQualifiedName, nameIsDNSLabel, type NameValidator } from './names.js';

export const FIELD_IMMUTABLE = 'field is immutable';
export const IS_NEGATIVE = 'must be greater than or equal to 0';
const TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024;
const STANDARD_FINALIZERS = ['kubernetes', 'orphan', 'foregroundDeletion'];

export function validateNonnegative(value: number | undefined, field: string): FieldError[] {
  return (value ?? 0) < 0 ? [invalid(field, value, IS_NEGATIVE)] : [];
}

export function validateAnnotations(annotations: Record<string, string> | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  let size = 0;
  for (const [k, v] of Object.entries(annotations ?? {})) {
    // Annotation keys are qualified names, compared case-insensitively.
    errs.push(...invalidEach(path, k, isQualifiedName(k.toLowerCase())));
    size += byteLength(k) + byteLength(v);
  }
  if (size > TOTAL_ANNOTATION_SIZE_LIMIT) errs.push(tooLong(path, TOTAL_ANNOTATION_SIZE_LIMIT));
  return errs;
}

/** `%#v` of a metav1.OwnerReference. Set pointers print as addresses upstream; we cannot match those. */
function goOwnerReference(r: OwnerReference): string {
  const ptr = (v: boolean | undefined) => (v === undefined ? '(*bool)(nil)' : `(*bool)(${v})`);
  return `v1.OwnerReference{APIVersion:${goQuote(r.apiVersion ?? '')}, Kind:${goQuote(r.kind ?? '')}, Name:${goQuote(r.name ?? '')}, UID:${goQuote(r.uid ?? '')}, Controller:${ptr(r.controller)}, BlockOwnerDeletion:${ptr(r.blockOwnerDeletion)}}`;
}

/** schema.FromAPIVersionAndKind: an unparseable apiVersion leaves group and version empty. */
function groupVersionOf(apiVersion: string): { readonly group: string; readonly version: string } {
  // Owner references name the same few apiVersions on every write: each is split once (read only).
  let gv = groupVersions.get(apiVersion);
  if (gv === undefined) {
    gv = Object.freeze(splitGroupVersion(apiVersion));
    if (groupVersions.size >= 256) groupVersions.clear();
    groupVersions.set(apiVersion, gv);
  }
  return gv;
}

const groupVersions = new Map<string, { readonly group: string; readonly version: string }>();

function splitGroupVersion(apiVersion: string): { group: string; version: string } {
  if (apiVersion === '' || apiVersion === '/') return { group: '', version: '' };
  const parts = apiVersion.split('/');
  if (parts.length === 1) return { group: '', version: apiVersion };
  if (parts.length === 2) return { group: parts[0]!, version: parts[1]! };
  return { group: '', version: '' };
}

export function validateOwnerReferences(refs: OwnerReference[] | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  let firstController = '';
  for (const ref of refs ?? []) {
    const gv = groupVersionOf(ref.apiVersion ?? '');
    if (!gv.version) errs.push(invalid(child(path, 'apiVersion'), ref.apiVersion ?? '', 'version must not be empty'));
    if (!ref.kind) errs.push(invalid(child(path, 'kind'), ref.kind ?? '', 'kind must not be empty'));
    if (!ref.name) errs.push(invalid(child(path, 'name'), ref.name ?? '', 'name must not be empty'));
    if (!ref.uid) errs.push(invalid(child(path, 'uid'), ref.uid ?? '', 'uid must not be empty'));
    // Events may never own anything.
    if (gv.group === '' && gv.version === 'v1' && ref.kind === 'Event') {
      errs.push(invalid(path, new GoLiteral(goOwnerReference(ref)), '/v1, Kind=Event is disallowed from being an owner'));
    }
    if (ref.controller) {
      const name = `${ref.kind}/${ref.name}`;
      if (firstController) {
        errs.push(invalid(path, new GoLiteral(`[]v1.OwnerReference{${(refs ?? []).map(goOwnerReference).join(', ')}}`),
          `Only one reference can have Controller set to true. Found "true" in references for ${firstController} and ${name}`));
      } else {
        firstController = name;
      }
    }
  }
  return errs;
}

export function validateFinalizers(finalizers: string[] | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  for (const f of finalizers ?? []) errs.push(...invalidEach(path, f, isQualifiedName(f)));
  if (finalizers?.includes('orphan') && finalizers.includes('foregroundDeletion')) {
    errs.push(invalid(path, goStringSlice(finalizers), 'finalizer orphan and foregroundDeletion cannot be both set'));
  }
  return errs;
}

/** Core's extra finalizer rule: an unqualified name must be one Kubernetes defines. */
export function validateKubeFinalizerName(name: string, field: string): FieldError[] {
  if (!name.includes('/') && !STANDARD_FINALIZERS.includes(name)) {
    return [invalid(field, name, 'name is neither a standard finalizer name nor is it fully qualified')];
  }
  return [];
}

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

function isPrintable(ch: string): boolean {
  return /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u.test(ch);
}

function validateManagedFields(entries: ObjectMeta['managedFields'], path: string): FieldError[] {
  const errs: FieldError[] = [];
  (entries ?? []).forEach((e, i) => {
    const p = index(path, i);
    if (e.operation !== 'Apply' && e.operation !== 'Update') errs.push(invalid(child(p, 'operation'), e.operation ?? '', 'must be `Apply` or `Update`'));
    if (e.fieldsType && e.fieldsType !== 'FieldsV1') errs.push(invalid(child(p, 'fieldsType'), e.fieldsType, 'must be `FieldsV1`'));
    const manager = e.manager ?? '';
    if (byteLength(manager) > 128) errs.push(tooLong(child(p, 'manager'), 128));
    let pos = 0;
    // Printable ASCII, what nearly every manager name is, needs no per-character Unicode test.
    if (!PRINTABLE_ASCII.test(manager)) for (const ch of manager) {
      if (!isPrintable(ch)) {
        const cp = ch.codePointAt(0)!;
        errs.push(invalid(child(p, 'manager'), manager, `invalid character U+${cp.toString(16).toUpperCase().padStart(4, '0')} (at position ${pos})`));
      }
      pos += byteLength(ch);
    }
    if (byteLength(e.subresource ?? '') > 256) errs.push(tooLong(child(p, 'subresource'), 256));
  });
  return errs;
}

export interface MetaOptions {
  /** Add core's check that unqualified finalizer names are standard ones. */
  kubeFinalizers?: boolean;
}

/** ValidateObjectMeta: on create, after name generation. */
export function validateObjectMeta(meta: ObjectMeta, requiresNamespace: boolean, nameFn: NameValidator, path = 'metadata', opts: MetaOptions = { kubeFinalizers: true }): FieldError[] {
  const errs: FieldError[] = [];
  if (meta.generateName) {
    errs.push(...invalidEach(child(path, 'generateName'), meta.generateName, nameFn(meta.generateName, true)));
  }
  if (!meta.name) errs.push(required(child(path, 'name'), 'name or generateName is required'));
  else errs.push(...invalidEach(child(path, 'name'), meta.name, nameFn(meta.name, false)));
  if (requiresNamespace) {
    if (!meta.namespace) errs.push(required(child(path, 'namespace')));
    else errs.push(...invalidEach(child(path, 'namespace'), meta.namespace, nameIsDNSLabel(meta.namespace, false)));
  } else if (meta.namespace) {
    errs.push(forbidden(child(path, 'namespace'), 'not allowed on this type'));
  }
  errs.push(...validateNonnegative(meta.generation, child(path, 'generation')));
  errs.push(...validateLabels(meta.labels, child(path, 'labels')));
  errs.push(...validateAnnotations(meta.annotations, child(path, 'annotations')));
  errs.push(...validateOwnerReferences(meta.ownerReferences, child(path, 'ownerReferences')));
  errs.push(...validateFinalizers(meta.finalizers, child(path, 'finalizers')));
  errs.push(...validateManagedFields(meta.managedFields, child(path, 'managedFields')));
  if (opts.kubeFinalizers) {
    (meta.finalizers ?? []).forEach((f, i) => errs.push(...validateKubeFinalizerName(f, index(child(path, 'finalizers'), i))));
  }
  return errs;
}

/** How Go prints a metav1.Time value in an error: time.Time.String(), unquoted. */
function goTime(t: string | undefined | null): string {
  if (!t) return '0001-01-01 00:00:00 +0000 UTC';
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return t;
  const iso = d.toISOString(); // 2024-01-02T03:04:05.000Z
  const frac = iso.slice(20, 23).replace(/0+$/, '');
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${frac ? '.' + frac : ''} +0000 UTC`;
}

function immutable(newVal: BadValue, oldVal: BadValue, field: string, same = newVal === oldVal): FieldError[] {
  return same ? [] : [invalid(field, newVal, FIELD_IMMUTABLE)];
}

/** ValidateObjectMetaUpdate. */
export function validateObjectMetaUpdate(meta: ObjectMeta, old: ObjectMeta, path = 'metadata', opts: MetaOptions = { kubeFinalizers: true }): FieldError[] {
  const errs: FieldError[] = [];
  if (old.deletionTimestamp) {
    const extra = [...new Set(meta.finalizers ?? [])].filter((f) => !(old.finalizers ?? []).includes(f)).sort();
    if (extra.length) {
      errs.push(forbidden(child(path, 'finalizers'), `no new finalizers can be added if the object is being deleted, found new finalizers ${goStringSlice(extra).text}`));
    }
  }
  if (!meta.resourceVersion) errs.push(invalid(child(path, 'resourceVersion'), meta.resourceVersion ?? '', 'must be specified for an update'));
  if ((meta.generation ?? 0) < (old.generation ?? 0)) errs.push(invalid(child(path, 'generation'), meta.generation ?? 0, 'must not be decremented'));
  errs.push(...immutable(meta.name ?? '', old.name ?? '', child(path, 'name')));
  errs.push(...immutable(meta.namespace ?? '', old.namespace ?? '', child(path, 'namespace')));
  errs.push(...immutable(meta.uid ?? '', old.uid ?? '', child(path, 'uid')));
  errs.push(...immutableTime(meta.creationTimestamp, old.creationTimestamp, child(path, 'creationTimestamp'), false));
  errs.push(...immutableTime(meta.deletionTimestamp, old.deletionTimestamp, child(path, 'deletionTimestamp'), true));
  errs.push(...immutable(meta.deletionGracePeriodSeconds, old.deletionGracePeriodSeconds, child(path, 'deletionGracePeriodSeconds')));
  errs.push(...validateLabels(meta.labels, child(path, 'labels')));
  errs.push(...validateAnnotations(meta.annotations, child(path, 'annotations')));
  errs.push(...validateOwnerReferences(meta.ownerReferences, child(path, 'ownerReferences')));
  errs.push(...validateManagedFields(meta.managedFields, child(path, 'managedFields')));
  if (opts.kubeFinalizers) {
    (meta.finalizers ?? []).forEach((f, i) => errs.push(...validateKubeFinalizerName(f, index(child(path, 'finalizers'), i))));
  }
  return errs;
}

/**
 * A timestamp that must keep its stored value. The error shows it as Go prints a time (an unset
 * deletionTimestamp as nil); that text is built only when there is an error, as every update
 * checks both timestamps.
 */
function immutableTime(t: string | undefined | null, old: string | undefined | null, field: string, unsetIsNil: boolean): FieldError[] {
  if (sameTime(t, old)) return [];
  return [invalid(field, t || !unsetIsNil ? new GoLiteral(goTime(t)) : null, FIELD_IMMUTABLE)];
}

let lastValidTime: string | undefined;

function sameTime(a: string | undefined | null, b: string | undefined | null): boolean {
  if (!a || !b) return !a && !b;
  // The same text is the same instant when it is a time at all (an unparseable one equals nothing).
  if (a === b) {
    // Every update compares the stored creationTimestamp with itself: the last valid one is kept.
    if (a === lastValidTime) return true;
    if (Number.isNaN(Date.parse(a))) return false;
    lastValidTime = a;
    return true;
  }
  return new Date(a).getTime() === new Date(b).getTime();
}
