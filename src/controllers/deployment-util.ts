// The pure parts of the Deployment controller, after upstream's
// pkg/controller/deployment/util/deployment_util.go and pkg/controller/controller_utils.go:
// the pod-template-hash, template comparison, maxSurge/maxUnavailable resolution, the revision
// and replica annotations, status conditions, counting over ReplicaSets, orderings and the
// proportions used when a Deployment is scaled in the middle of a rollout.
import type { Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet, ReplicaSetCondition } from 'kubernetes-types/apps/v1.js';
import type { PodTemplateSpec } from 'kubernetes-types/core/v1.js';
import type { KObject } from '../api/types.js';

export type DeploymentObject = Deployment & KObject;
export type ReplicaSetObject = ReplicaSet & KObject;

export const POD_TEMPLATE_HASH_LABEL = 'pod-template-hash';
export const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision';
export const REVISION_HISTORY_ANNOTATION = 'deployment.kubernetes.io/revision-history';
export const DESIRED_REPLICAS_ANNOTATION = 'deployment.kubernetes.io/desired-replicas';
export const MAX_REPLICAS_ANNOTATION = 'deployment.kubernetes.io/max-replicas';
/** Where apps/v1 keeps the deprecated spec.rollbackTo.revision of extensions/v1beta1 (apps.DeprecatedRollbackTo). */
export const ROLLBACK_TO_ANNOTATION = 'deprecated.deployment.rollback.to';
const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';

/** Upstream's limit on the length of the revision-history annotation (maxRevHistoryLengthInChars). */
export const MAX_REVISION_HISTORY_CHARS = 2000;

/** Condition reasons and event reasons, with upstream's spelling. */
export const REASONS = {
  replicaSetUpdated: 'ReplicaSetUpdated',
  failedRSCreate: 'ReplicaSetCreateError',
  newReplicaSet: 'NewReplicaSetCreated',
  foundNewRS: 'FoundNewReplicaSet',
  newRSAvailable: 'NewReplicaSetAvailable',
  timedOut: 'ProgressDeadlineExceeded',
  paused: 'DeploymentPaused',
  resumed: 'DeploymentResumed',
  minimumReplicasAvailable: 'MinimumReplicasAvailable',
  minimumReplicasUnavailable: 'MinimumReplicasUnavailable',
  rollbackRevisionNotFound: 'DeploymentRollbackRevisionNotFound',
  rollbackTemplateUnchanged: 'DeploymentRollbackTemplateUnchanged',
  rollbackDone: 'DeploymentRollback',
} as const;

/** Annotations a Deployment never copies to its ReplicaSets (upstream's annotationsToSkip). */
const ANNOTATIONS_TO_SKIP = new Set([
  LAST_APPLIED_ANNOTATION,
  REVISION_ANNOTATION,
  REVISION_HISTORY_ANNOTATION,
  DESIRED_REPLICAS_ANNOTATION,
  MAX_REPLICAS_ANNOTATION,
  ROLLBACK_TO_ANNOTATION,
]);

export function skipCopyAnnotation(key: string): boolean {
  return ANNOTATIONS_TO_SKIP.has(key);
}

// ---- pod-template-hash ----------------------------------------------------------------------

/** apimachinery's rand alphabet: no vowels, no 0/1/3, so that generated names spell no words. */
const SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** rand.SafeEncodeString: each byte mapped onto the alphabet. */
export function safeEncodeString(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) out += SAFE_ALPHABET[s.charCodeAt(i) % SAFE_ALPHABET.length];
  return out;
}

/**
 * The canonical form templates are hashed and compared in: object keys sorted, and null, empty
 * objects and empty arrays dropped (upstream compares with apimachinery's semantic equality, for
 * which nil and empty are the same). Undefined means "empty".
 */
function canonicalValue(v: unknown): unknown {
  if (v === null || v === undefined) return undefined;
  if (Array.isArray(v)) {
    if (v.length === 0) return undefined;
    return v.map((x) => canonicalValue(x) ?? null);
  }
  if (typeof v === 'object') {
    const out: Record<string, unknown> = {};
    let any = false;
    for (const k of Object.keys(v as object).sort()) {
      const c = canonicalValue((v as Record<string, unknown>)[k]);
      if (c !== undefined) {
        out[k] = c;
        any = true;
      }
    }
    return any ? out : undefined;
  }
  return v;
}

/** The template as canonical JSON, without the pod-template-hash label. */
export function canonicalTemplate(t: PodTemplateSpec | undefined): string {
  const labels = { ...(t?.metadata?.labels ?? {}) };
  delete labels[POD_TEMPLATE_HASH_LABEL];
  const copy = { ...(t ?? {}), metadata: { ...(t?.metadata ?? {}), labels } };
  return JSON.stringify(canonicalValue(copy) ?? {});
}

const FNV32_OFFSET = 0x811c9dc5;
const FNV32_PRIME = 0x01000193;

function fnv1a32(h: number, bytes: Uint8Array): number {
  for (const b of bytes) h = Math.imul(h ^ b, FNV32_PRIME) >>> 0;
  return h;
}

/**
 * Upstream's controller.ComputeHash: FNV-1a (32 bit) of the template, then — when the Deployment
 * has a collisionCount — its little-endian uint32 followed by four zero bytes; the decimal sum
 * mapped onto the safe alphabet. Upstream hashes a Go debug dump of the struct; kubelite hashes
 * the canonical JSON, so values have the same form but differ from a real cluster's.
 */
export function podTemplateHash(template: PodTemplateSpec | undefined, collisionCount?: number): string {
  let h = fnv1a32(FNV32_OFFSET, Buffer.from(canonicalTemplate(template), 'utf8'));
  if (collisionCount !== undefined && collisionCount !== null) {
    const extra = new Uint8Array(8);
    new DataView(extra.buffer).setUint32(0, collisionCount >>> 0, true);
    h = fnv1a32(h, extra);
  }
  return safeEncodeString(String(h));
}

/** Upstream's EqualIgnoreHash: templates semantically equal apart from the pod-template-hash label. */
export function equalIgnoreHash(a: PodTemplateSpec | undefined, b: PodTemplateSpec | undefined): boolean {
  return canonicalTemplate(a) === canonicalTemplate(b);
}

// ---- maxSurge / maxUnavailable ----------------------------------------------------------------

/** intstr.GetScaledValueFromIntOrPercent: an int as is, `N%` of total rounded up or down. */
export function scaledValue(v: number | string | undefined, total: number, roundUp: boolean): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number') return v;
  const m = /^([+-]?\d+)%$/.exec(v);
  if (!m) throw new Error(`invalid value for IntOrString: invalid type: string is not a percentage`);
  const x = (Number(m[1]) * total) / 100;
  return roundUp ? Math.ceil(x) : Math.floor(x);
}

/**
 * Upstream's ResolveFenceposts: maxSurge rounds up, maxUnavailable down; if both come out 0,
 * maxUnavailable is 1 (surge might be impossible, e.g. under a quota).
 */
export function resolveFenceposts(maxSurge: number | string | undefined, maxUnavailable: number | string | undefined, desired: number): { surge: number; unavailable: number } {
  const surge = scaledValue(maxSurge ?? 0, desired, true);
  let unavailable = scaledValue(maxUnavailable ?? 0, desired, false);
  if (surge === 0 && unavailable === 0) unavailable = 1;
  return { surge, unavailable };
}

export function replicasOf(o: { spec?: { replicas?: number } }): number {
  return o.spec?.replicas ?? 0;
}

export function isRollingUpdate(d: Deployment): boolean {
  return d.spec?.strategy?.type === 'RollingUpdate';
}

export function maxUnavailable(d: Deployment): number {
  const replicas = replicasOf(d);
  if (!isRollingUpdate(d) || replicas === 0) return 0;
  const ru = d.spec?.strategy?.rollingUpdate;
  const { unavailable } = resolveFenceposts(ru?.maxSurge, ru?.maxUnavailable, replicas);
  return Math.min(unavailable, replicas);
}

export function maxSurge(d: Deployment): number {
  if (!isRollingUpdate(d)) return 0;
  const ru = d.spec?.strategy?.rollingUpdate;
  return resolveFenceposts(ru?.maxSurge, ru?.maxUnavailable, replicasOf(d)).surge;
}

/** Upstream's NewRSNewReplicas: how big the new ReplicaSet may be now. */
export function newRSNewReplicas(d: Deployment, allRSs: (ReplicaSet | undefined)[], newRS: ReplicaSet): number {
  const replicas = replicasOf(d);
  switch (d.spec?.strategy?.type) {
    case 'RollingUpdate': {
      const surge = scaledValue(d.spec.strategy.rollingUpdate?.maxSurge ?? 0, replicas, true);
      const current = replicaCount(allRSs);
      const maxTotal = replicas + surge;
      if (current >= maxTotal) return replicasOf(newRS);
      const scaleUp = Math.min(maxTotal - current, replicas - replicasOf(newRS));
      return replicasOf(newRS) + scaleUp;
    }
    case 'Recreate':
      return replicas;
    default:
      throw new Error(`deployment type ${d.spec?.strategy?.type} isn't supported`);
  }
}

export function hasProgressDeadline(d: Deployment): boolean {
  const s = d.spec?.progressDeadlineSeconds;
  return s !== undefined && s !== null && s !== 2147483647;
}

export function hasRevisionHistoryLimit(d: Deployment): boolean {
  const l = d.spec?.revisionHistoryLimit;
  return l !== undefined && l !== null && l !== 2147483647;
}

// ---- counting --------------------------------------------------------------------------------

const present = <T>(x: T | undefined | null): x is T => x !== undefined && x !== null;

/** Sum of spec.replicas. */
export function replicaCount(rss: (ReplicaSet | undefined)[]): number {
  return rss.filter(present).reduce((n, rs) => n + replicasOf(rs), 0);
}

/** Sum of status.replicas. */
export function actualReplicaCount(rss: (ReplicaSet | undefined)[]): number {
  return rss.filter(present).reduce((n, rs) => n + (rs.status?.replicas ?? 0), 0);
}

export function readyReplicaCount(rss: (ReplicaSet | undefined)[]): number {
  return rss.filter(present).reduce((n, rs) => n + (rs.status?.readyReplicas ?? 0), 0);
}

export function availableReplicaCount(rss: (ReplicaSet | undefined)[]): number {
  return rss.filter(present).reduce((n, rs) => n + (rs.status?.availableReplicas ?? 0), 0);
}

export function activeReplicaSets<T extends ReplicaSet>(rss: (T | undefined)[]): T[] {
  return rss.filter((rs): rs is T => present(rs) && replicasOf(rs) > 0);
}

// ---- revisions and annotations -----------------------------------------------------------------

/** Go's strconv.ParseInt(s, 10, 64); undefined when it would fail. */
function parseInt64(s: string): number | undefined {
  return /^[+-]?\d+$/.test(s) ? Number(s) : undefined;
}

/** Upstream's Revision: the revision annotation, 0 when absent, undefined when unparsable. */
export function revisionOf(o: { metadata?: { annotations?: Record<string, string> } }): number | undefined {
  const v = o.metadata?.annotations?.[REVISION_ANNOTATION];
  if (v === undefined) return 0;
  return parseInt64(v);
}

export function maxRevision(rss: ReplicaSet[]): number {
  let max = 0;
  for (const rs of rss) {
    const v = revisionOf(rs);
    if (v !== undefined && v > max) max = v;
  }
  return max;
}

/** Upstream's LastRevision: the second highest revision. */
export function lastRevision(rss: (ReplicaSet | undefined)[]): number {
  let max = 0, second = 0;
  for (const rs of rss.filter(present)) {
    const v = revisionOf(rs);
    if (v === undefined) continue;
    if (v >= max) {
      second = max;
      max = v;
    } else if (v > second) {
      second = v;
    }
  }
  return second;
}

/** strconv.Atoi of an annotation, as upstream's getIntFromAnnotation. */
function intAnnotation(rs: ReplicaSet, key: string): number | undefined {
  const v = rs.metadata?.annotations?.[key];
  return v === undefined ? undefined : parseInt64(v);
}

export function desiredReplicasAnnotation(rs: ReplicaSet): number | undefined {
  return intAnnotation(rs, DESIRED_REPLICAS_ANNOTATION);
}

type Annotated = { metadata?: { annotations?: Record<string, string> } };

function annotationsOf(o: Annotated): Record<string, string> {
  const m = (o.metadata ??= {}) as { annotations?: Record<string, string> };
  return (m.annotations ??= {});
}

export function replicasAnnotationsNeedUpdate(rs: ReplicaSet, desired: number, max: number): boolean {
  const a = rs.metadata?.annotations ?? {};
  return a[DESIRED_REPLICAS_ANNOTATION] !== String(desired) || a[MAX_REPLICAS_ANNOTATION] !== String(max);
}

/** Upstream's SetReplicasAnnotations; true if anything changed. */
export function setReplicasAnnotations(rs: ReplicaSet, desired: number, max: number): boolean {
  const a = annotationsOf(rs);
  let updated = false;
  if (a[DESIRED_REPLICAS_ANNOTATION] !== String(desired)) {
    a[DESIRED_REPLICAS_ANNOTATION] = String(desired);
    updated = true;
  }
  if (a[MAX_REPLICAS_ANNOTATION] !== String(max)) {
    a[MAX_REPLICAS_ANNOTATION] = String(max);
    updated = true;
  }
  return updated;
}

function copyDeploymentAnnotationsToReplicaSet(d: Deployment, rs: ReplicaSet): boolean {
  const a = annotationsOf(rs);
  let changed = false;
  for (const [k, v] of Object.entries(d.metadata?.annotations ?? {})) {
    // The revision is the ReplicaSet's own: the Deployment's copy of it may be stale.
    if (skipCopyAnnotation(k) || a[k] === v) continue;
    a[k] = v;
    changed = true;
  }
  return changed;
}

/**
 * Upstream's SetNewReplicaSetAnnotations: copy the Deployment's annotations, raise the revision
 * to newRevision (remembering the old one in revision-history when a ReplicaSet comes back, i.e.
 * a rollback), and on creation add the replica annotations. True if anything changed.
 */
export function setNewReplicaSetAnnotations(d: Deployment, rs: ReplicaSet, newRevision: string, exists: boolean, historyLimitChars = MAX_REVISION_HISTORY_CHARS): boolean {
  let changed = copyDeploymentAnnotationsToReplicaSet(d, rs);
  const a = annotationsOf(rs);
  const hadRevision = Object.prototype.hasOwnProperty.call(a, REVISION_ANNOTATION);
  const oldRevision = a[REVISION_ANNOTATION] ?? '';
  let oldRevisionInt = parseInt64(oldRevision);
  if (oldRevisionInt === undefined) {
    if (oldRevision !== '') return false;
    oldRevisionInt = 0;
  }
  const newRevisionInt = parseInt64(newRevision);
  if (newRevisionInt === undefined) return false;
  if (oldRevisionInt < newRevisionInt) {
    a[REVISION_ANNOTATION] = newRevision;
    changed = true;
  }
  if (hadRevision && oldRevisionInt < newRevisionInt) {
    const history = a[REVISION_HISTORY_ANNOTATION] ?? '';
    const old = history.split(',');
    if (old[0].length === 0) {
      a[REVISION_HISTORY_ANNOTATION] = oldRevision;
    } else {
      let total = history.length + oldRevision.length + 1;
      let start = 0;
      while (total > historyLimitChars && start < old.length) {
        total -= old[start].length + 1;
        start++;
      }
      if (total <= historyLimitChars) a[REVISION_HISTORY_ANNOTATION] = [...old.slice(start), oldRevision].join(',');
    }
  }
  if (!exists && setReplicasAnnotations(rs, replicasOf(d), replicasOf(d) + maxSurge(d))) changed = true;
  return changed;
}

/** Upstream's SetDeploymentRevision; true if it changed. */
export function setDeploymentRevision(d: Deployment, revision: string): boolean {
  const a = annotationsOf(d);
  if (a[REVISION_ANNOTATION] === revision) return false;
  a[REVISION_ANNOTATION] = revision;
  return true;
}

/** Upstream's SetDeploymentAnnotationsTo: on a rollback the Deployment takes the annotations of the ReplicaSet it returns to. */
export function setDeploymentAnnotationsTo(d: Deployment, rs: ReplicaSet): void {
  const kept: Record<string, string> = {};
  for (const [k, v] of Object.entries(d.metadata?.annotations ?? {})) if (skipCopyAnnotation(k)) kept[k] = v;
  for (const [k, v] of Object.entries(rs.metadata?.annotations ?? {})) if (!skipCopyAnnotation(k)) kept[k] = v;
  (d.metadata as { annotations?: Record<string, string> }).annotations = kept;
}

/** Upstream's SetFromReplicaSetTemplate: the Deployment's template becomes the ReplicaSet's, without the hash label. */
export function setFromReplicaSetTemplate(d: Deployment, template: PodTemplateSpec): void {
  const t = structuredClone(template);
  if (t.metadata?.labels) delete t.metadata.labels[POD_TEMPLATE_HASH_LABEL];
  (d.spec as { template: PodTemplateSpec }).template = t;
}

/** The revision the deprecated rollbackTo annotation asks for; undefined when absent or invalid. */
export function rollbackTo(d: Deployment): number | undefined {
  const v = d.metadata?.annotations?.[ROLLBACK_TO_ANNOTATION];
  if (!v) return undefined;
  return parseInt64(v);
}

// ---- conditions ----------------------------------------------------------------------------------

/** metav1.Time as JSON: RFC 3339 in whole seconds. */
export function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function newCondition(type: string, status: 'True' | 'False' | 'Unknown', reason: string, message: string, now: number): DeploymentCondition {
  const t = rfc3339(now);
  return { type, status, lastUpdateTime: t, lastTransitionTime: t, reason, message };
}

export function getCondition(status: DeploymentStatus | undefined, type: string): DeploymentCondition | undefined {
  return status?.conditions?.find((c) => c.type === type);
}

/**
 * Upstream's SetDeploymentCondition: no change when status and reason are the same; the
 * transition time survives when only the reason changes; the condition moves to the end.
 */
export function setCondition(status: DeploymentStatus, cond: DeploymentCondition): void {
  const current = getCondition(status, cond.type);
  if (current && current.status === cond.status && current.reason === cond.reason) return;
  const next = { ...cond };
  if (current && current.status === cond.status) next.lastTransitionTime = current.lastTransitionTime;
  (status as { conditions?: DeploymentCondition[] }).conditions = [...(status.conditions ?? []).filter((c) => c.type !== cond.type), next];
}

export function removeCondition(status: DeploymentStatus, type: string): void {
  const rest = (status.conditions ?? []).filter((c) => c.type !== type);
  const s = status as { conditions?: DeploymentCondition[] };
  if (rest.length) s.conditions = rest;
  else delete s.conditions;
}

/** Upstream's ReplicaSetToDeploymentCondition. */
export function replicaSetToDeploymentCondition(c: ReplicaSetCondition): DeploymentCondition {
  const out: DeploymentCondition = { type: c.type, status: c.status, lastUpdateTime: c.lastTransitionTime, lastTransitionTime: c.lastTransitionTime };
  if (c.reason) (out as { reason?: string }).reason = c.reason;
  if (c.message) (out as { message?: string }).message = c.message;
  return out;
}

/** All updated, all available, no old pods, and this generation observed. */
export function deploymentComplete(d: Deployment, s: DeploymentStatus): boolean {
  const replicas = replicasOf(d);
  return (s.updatedReplicas ?? 0) === replicas && (s.replicas ?? 0) === replicas
    && (s.availableReplicas ?? 0) === replicas && (s.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0);
}

/** New pods created, ready or available, or old pods gone, compared with the Deployment's current status. */
export function deploymentProgressing(d: Deployment, s: DeploymentStatus): boolean {
  const old = d.status ?? {};
  const oldOld = (old.replicas ?? 0) - (old.updatedReplicas ?? 0);
  const newOld = (s.replicas ?? 0) - (s.updatedReplicas ?? 0);
  return (s.updatedReplicas ?? 0) > (old.updatedReplicas ?? 0) || newOld < oldOld
    || (s.readyReplicas ?? 0) > (old.readyReplicas ?? 0) || (s.availableReplicas ?? 0) > (old.availableReplicas ?? 0);
}

/** No progress reported for longer than progressDeadlineSeconds (or already reported as timed out). */
export function deploymentTimedOut(d: Deployment, s: DeploymentStatus, now: number): boolean {
  if (!hasProgressDeadline(d)) return false;
  const c = getCondition(s, 'Progressing');
  if (!c) return false;
  if (c.reason === REASONS.newRSAvailable) return false;
  if (c.reason === REASONS.timedOut) return true;
  const from = c.lastUpdateTime ? Date.parse(c.lastUpdateTime) : NaN;
  if (Number.isNaN(from)) return false;
  return from + d.spec!.progressDeadlineSeconds! * 1000 < now;
}

/**
 * DeploymentStatus as the API serialises it: counts are omitempty (a 0 is absent), conditions
 * too; collisionCount is a pointer (present even when 0). Comparing two statuses in this form
 * is upstream's reflect.DeepEqual on the struct.
 */
export function normalizeStatus(s: DeploymentStatus | undefined): DeploymentStatus {
  const out: Record<string, unknown> = {};
  for (const k of ['observedGeneration', 'replicas', 'updatedReplicas', 'readyReplicas', 'availableReplicas', 'unavailableReplicas', 'terminatingReplicas'] as const) {
    const v = (s as Record<string, unknown> | undefined)?.[k];
    if (typeof v === 'number' && v !== 0) out[k] = v;
  }
  if (s?.conditions?.length) out.conditions = s.conditions.map((c) => ({ ...c }));
  if (s?.collisionCount !== undefined && s.collisionCount !== null) out.collisionCount = s.collisionCount;
  return out as DeploymentStatus;
}

// ---- orderings -------------------------------------------------------------------------------------

function creationMs(rs: ReplicaSet): number {
  const t = rs.metadata?.creationTimestamp;
  const ms = t ? Date.parse(t) : NaN;
  return Number.isNaN(ms) ? 0 : ms;
}

/** ReplicaSetsByCreationTimestamp: older first, then by name. */
export function byCreation(a: ReplicaSet, b: ReplicaSet): number {
  const ta = creationMs(a), tb = creationMs(b);
  if (ta !== tb) return ta - tb;
  const na = a.metadata?.name ?? '', nb = b.metadata?.name ?? '';
  return na < nb ? -1 : na > nb ? 1 : 0;
}

/** ReplicaSetsBySizeOlder: larger first; among equals, older first. */
export function bySizeOlder(a: ReplicaSet, b: ReplicaSet): number {
  const d = replicasOf(b) - replicasOf(a);
  return d !== 0 ? d : byCreation(a, b);
}

/** ReplicaSetsBySizeNewer: larger first; among equals, newer first. */
export function bySizeNewer(a: ReplicaSet, b: ReplicaSet): number {
  const d = replicasOf(b) - replicasOf(a);
  return d !== 0 ? d : byCreation(b, a);
}

/** ReplicaSetsByRevision: lower revision first; unparsable or equal revisions by creation. */
export function byRevision(a: ReplicaSet, b: ReplicaSet): number {
  const ra = revisionOf(a), rb = revisionOf(b);
  if (ra === undefined || rb === undefined || ra === rb) return byCreation(a, b);
  return ra - rb;
}

// ---- finding the new and old ReplicaSets -------------------------------------------------------------

/** Upstream's FindNewReplicaSet: the oldest ReplicaSet whose template equals the Deployment's. Sorts rsList. */
export function findNewReplicaSet<T extends ReplicaSet>(d: Deployment, rsList: T[]): T | undefined {
  rsList.sort(byCreation);
  const want = canonicalTemplate(d.spec?.template);
  return rsList.find((rs) => canonicalTemplate(rs.spec?.template) === want);
}

/** Upstream's FindOldReplicaSets: every ReplicaSet but the new one. */
export function findOldReplicaSets<T extends ReplicaSet>(d: Deployment, rsList: T[]): T[] {
  const newRS = findNewReplicaSet(d, rsList);
  return rsList.filter((rs) => !newRS || rs.metadata?.uid !== newRS.metadata?.uid);
}

/** Upstream's FindActiveOrLatest: the only active ReplicaSet, or the newest if none is active. */
export function findActiveOrLatest<T extends ReplicaSet>(newRS: T | undefined, oldRSs: T[]): T | undefined {
  if (!newRS && oldRSs.length === 0) return undefined;
  oldRSs.sort((a, b) => byCreation(b, a));
  const active = activeReplicaSets([...oldRSs, newRS]);
  if (active.length === 0) return newRS ?? oldRSs[0];
  if (active.length === 1) return active[0];
  return undefined;
}

/** Upstream's IsSaturated: the new ReplicaSet has all desired replicas, all available. */
export function isSaturated(d: Deployment, rs: ReplicaSet | undefined): boolean {
  if (!rs) return false;
  const desired = desiredReplicasAnnotation(rs);
  if (desired === undefined) return false;
  const replicas = replicasOf(d);
  return replicasOf(rs) === replicas && desired === replicas && (rs.status?.availableReplicas ?? 0) === replicas;
}

// ---- proportional scaling ----------------------------------------------------------------------------

/** Go's math.Round: halves away from zero. */
function roundHalfAway(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

/** Upstream's getReplicaSetFraction: this ReplicaSet's share of a scaling event. */
function replicaSetFraction(rs: ReplicaSet, d: Deployment): number {
  if (replicasOf(d) === 0) return -replicasOf(rs);
  const deploymentReplicas = replicasOf(d) + maxSurge(d);
  let annotated = intAnnotation(rs, MAX_REPLICAS_ANNOTATION);
  // Without the annotation, the Deployment's current size stands in (an approximation).
  if (annotated === undefined) annotated = d.status?.replicas ?? 0;
  // Never proportionally scale from zero (the division has no meaning then).
  if (annotated === 0) return 0;
  return roundHalfAway((replicasOf(rs) * deploymentReplicas) / annotated) - replicasOf(rs);
}

/** Upstream's GetProportion: how many replicas this ReplicaSet gains (or loses), within what is left to add. */
export function proportion(rs: ReplicaSet | undefined, d: Deployment, toAdd: number, added: number): number {
  if (!rs || replicasOf(rs) === 0 || toAdd === 0 || toAdd === added) return 0;
  const fraction = replicaSetFraction(rs, d);
  const allowed = toAdd - added;
  return toAdd > 0 ? Math.min(fraction, allowed) : Math.max(fraction, allowed);
}
