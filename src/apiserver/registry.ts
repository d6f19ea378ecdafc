// The generic REST registry: get, list, create, update, patch, delete and deletecollection for
// every resource of the table, on top of the store, with upstream's semantics (system fields,
// preconditions, status/scale split, generation, finalizers, graceful deletion, dryRun,
// field validation). One code path for all resources; per-resource behaviour comes from the
// table (resources.ts), the strategies, defaulting and validation.
import { randomUUID } from 'node:crypto';
import type { KeyValue, Store } from '../store/types.js';
import { CompactedError, ConflictError, KeyExistsError, NotFoundError, TimeoutError } from '../store/types.js';
import type { KObject, FieldError } from '../api/types.js';
import { RESOURCES, apiVersionOf, storageKey, storagePrefix, type ResourceType } from '../api/resources.js';
import { labelSelectorFromSpec, parseFieldSelector, parseLabelSelector, SelectorParseError, type FieldSelector, type LabelSelector, type LabelSelectorSpec } from '../api/selectors.js';
import { applyDefaults } from '../api/defaults.js';
import { validateCreate, validateUpdate, validateStatusUpdate, invalidMessage } from '../api/validation/index.js';
import { applyPatch, PatchError, type PatchType } from './patch/index.js';
import { hasKey, jsonDeepStrictEqual, setKey, type JsonObject } from './patch/value.js';
import { countJSONKeys, countParsedKeys, decodeError, findUnknownFields, pruneUnknownFields, replaceNulls, resolveRef, schemaForKind, strictDecodingErrors } from '../api/schema.js';
import { ApiError, errors } from './errors.js';
import { apply as applyConfig, nowRFC3339, recordScaleUpdate, recordUpdate } from './fieldmanager/index.js';
import { STRATEGIES } from './strategies.js';
import { decodeObject, encodeObject, rememberJSON, StoredObject, storedPrefix } from './codec.js';
import type { NamespaceCache } from './namespaces.js';
import { admitRuntimeClass } from './runtimeclass-admission.js';
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { RuntimeClass } from 'kubernetes-types/node/v1.js';

export type FieldValidation = 'Strict' | 'Warn' | 'Ignore';

export interface WriteOptions {
  dryRun: boolean;
  fieldManager?: string;
  fieldValidation: FieldValidation;
  /** Warnings for the response's Warning headers (unknown fields with Warn). */
  warnings: string[];
  /**
   * The JSON text of a create or update body: duplicate fields can only be seen in the text, and
   * a text without `null` has no JSON null to replace.
   */
  rawJSON?: string;
  /** Server-side apply: conflicts are overridden. */
  force?: boolean;
  /** Set on writes whose managedFields apply() already computed. */
  applied?: boolean;
}

export interface DeleteOptions {
  gracePeriodSeconds?: number;
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
  orphanDependents?: boolean;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: string[];
}

/** What remains to do for one write once the store has taken it (commit) or not (revert). */
export interface WriteTxn {
  commit(): Promise<void>;
  revert(): Promise<void>;
}

/**
 * A kind's storage hooks, as upstream's BeginCreate/BeginUpdate/AfterDelete: the Service storage
 * allocates ClusterIPs and node ports with them. The begin hooks run after defaulting and before
 * validation (they may fill in fields validation requires) and may change the object; they
 * throw ApiErrors. afterDelete never throws.
 */
export interface KindHooks {
  beginCreate?(obj: KObject, dryRun: boolean): Promise<WriteTxn | undefined>;
  beginUpdate?(obj: KObject, old: KObject, dryRun: boolean): Promise<WriteTxn | undefined>;
  afterDelete?(obj: KObject): Promise<void>;
}

/** Hooks by kind. */
export type RegistryHooks = Partial<Record<string, KindHooks>>;

export interface ListQuery {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
  resourceVersionMatch?: string;
}

export interface ListOutput {
  items: StoredObject[];
  resourceVersion: string;
  continue?: string;
  remainingItemCount?: number;
}

const RUNTIME_CLASSES = RESOURCES.find((r) => r.kind === 'RuntimeClass')!;

/** Names of the namespaces that exist from the start and may not be deleted. */
export const SYSTEM_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];
const UNDELETABLE_NAMESPACES = new Set(['default', 'kube-system', 'kube-public']);

const NAMESPACE = RESOURCES.find((r) => r.kind === 'Namespace')!;
const POD = RESOURCES.find((r) => r.kind === 'Pod')!;
// Upstream's SimpleNameGenerator alphabet (no vowels, no 0/1/3) and sizes.
const NAME_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
const GENERATE_NAME_MAX_BASE = 58;
const GENERATE_NAME_RETRIES = 8;
/**
 * kubelite runs pods and Services on 127.0.0.0/8 so that traffic needs no root and stays on one
 * machine; upstream forbids loopback endpoint addresses, kubelite must allow them.
 */
const VALIDATION = { allowLoopbackEndpoints: true };
/** Retries of an unconditional update or patch that lost a race (upstream GuaranteedUpdate loops). */
const UPDATE_RETRIES = 16;

/**
 * Serve the stored bytes of an object just written as the response to its write (spliced only
 * when the response is sent: a binding's answer is a Status, not the pod).
 */
function written(r: ResourceType, obj: KObject, kv: KeyValue): KObject {
  obj.metadata.resourceVersion = String(kv.modRevision);
  return rememberJSON(obj, new StoredObject(kv, storedPrefix(apiVersionOf(r), r.kind)));
}

/** A shallow copy of `obj`: its own members, in their order, in a new object. */
function sameOrderCopy(obj: KObject): KObject {
  const copy: JsonObject = {};
  for (const key in obj) if (hasKey(obj, key)) setKey(copy, key, (obj as unknown as JsonObject)[key]);
  return copy as unknown as KObject;
}

function generateName(base: string): string {
  let s = base.length > GENERATE_NAME_MAX_BASE ? base.slice(0, GENERATE_NAME_MAX_BASE) : base;
  // Upstream's generator is math/rand, not a cryptographic source; crypto.randomInt cost a few µs per name.
  for (let i = 0; i < 5; i++) s += NAME_ALPHABET[Math.floor(Math.random() * NAME_ALPHABET.length)];
  return s;
}

export interface Selectors {
  label?: LabelSelector;
  field?: FieldSelector;
}

export function parseSelectors(r: ResourceType, q: { labelSelector?: string; fieldSelector?: string }): Selectors {
  const out: Selectors = {};
  try {
    if (q.labelSelector) out.label = parseLabelSelector(q.labelSelector);
    if (q.fieldSelector) out.field = parseFieldSelector(q.fieldSelector);
  } catch (e) {
    if (e instanceof SelectorParseError) throw errors.badRequest(e.message);
    throw e;
  }
  for (const req of out.field?.requirements ?? []) {
    if (req.field !== 'metadata.name' && req.field !== 'metadata.namespace' && !(req.field in r.fields)) {
      throw errors.badRequest(`field label not supported: ${req.field}`);
    }
  }
  return out;
}

export function selectorsMatch(r: ResourceType, s: Selectors, o: KObject): boolean {
  if (s.label && !s.label.matches(o.metadata.labels)) return false;
  if (s.field && !s.field.matches((f) => {
    if (f === 'metadata.name') return o.metadata.name;
    if (f === 'metadata.namespace') return o.metadata.namespace ?? '';
    return r.fields[f]?.(o);
  })) return false;
  return true;
}

interface ContinueToken { v: string; rv: number; start: string }

function encodeContinue(rv: number, lastKeyRelative: string): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv, start: `${lastKeyRelative}\u0000` })).toString('base64');
}

function decodeContinue(token: string): ContinueToken {
  let t: ContinueToken;
  try {
    t = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as ContinueToken;
  } catch {
    throw errors.badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
  }
  if (t.v !== 'meta.k8s.io/v1') throw errors.badRequest('continue key is not valid: server does not recognize this encoded key');
  if (typeof t.rv !== 'number' || typeof t.start !== 'string' || t.start.includes('..') || t.start.startsWith('/')) {
    throw errors.badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
  }
  return t;
}

/** Apply a patch to an object of the given kind; malformed patches become Status errors. */
export function patchObject(type: PatchType, current: KObject, patch: unknown, apiVersion: string, kind: string): KObject {
  const schema = type === 'strategic' ? schemaForKind(apiVersion, kind) : undefined;
  try {
    return applyPatch(type, current, patch, schema, resolveRef) as KObject;
  } catch (e) {
    if (e instanceof PatchError) throw new ApiError(e.code, e.code === 422 ? 'Invalid' : e.code === 400 ? 'BadRequest' : 'InternalError', e.message);
    throw e;
  }
}

function stripSystemWrites(obj: KObject): void {
  // Fields clients may not set through the main endpoint on create.
  delete obj.metadata.deletionTimestamp;
  delete obj.metadata.deletionGracePeriodSeconds;
  delete obj.metadata.selfLink;
}

export class Registry {
  constructor(private readonly store: Store, private readonly namespaces: NamespaceCache, private readonly hooks: RegistryHooks = {}) {}

  private storeErr(r: ResourceType, name: string, e: unknown, op: string): never {
    if (e instanceof ApiError) throw e;
    if (e instanceof KeyExistsError) throw errors.alreadyExists(r, name);
    if (e instanceof NotFoundError) throw errors.notFound(r, name);
    if (e instanceof ConflictError) throw errors.modified(r, name);
    // The outcome is unknown (e.g. etcd lost its leader mid-write): 504 Timeout is upstream's
    // reason for "may still be processing the request", so clients neither count it as done nor
    // as refused. (ServerTimeout, a 500, tells the client the action was not completed.)
    if (e instanceof TimeoutError) throw errors.timeout(`The ${op} operation against ${r.plural}${r.group ? '.' + r.group : ''} "${name}" timed out; it may or may not have taken effect`);
    throw errors.internal(e);
  }

  async getRaw(r: ResourceType, ns: string | undefined, name: string): Promise<KeyValue | undefined> {
    return this.store.get(storageKey(r, ns, name));
  }

  async get(r: ResourceType, ns: string | undefined, name: string): Promise<KObject> {
    return decodeObject(await this.getKV(r, ns, name));
  }

  /** The stored object, for serving: its JSON is the stored bytes. */
  async getStored(r: ResourceType, ns: string | undefined, name: string): Promise<StoredObject> {
    return new StoredObject(await this.getKV(r, ns, name), storedPrefix(apiVersionOf(r), r.kind));
  }

  private async getKV(r: ResourceType, ns: string | undefined, name: string): Promise<KeyValue> {
    const kv = await this.getRaw(r, ns, name);
    if (!kv) throw errors.notFound(r, name);
    return kv;
  }

  /** List with selectors and paging; every page of one list is read at the revision of the first. */
  async list(r: ResourceType, ns: string | undefined, q: ListQuery): Promise<ListOutput> {
    const sel = parseSelectors(r, q);
    const prefix = storagePrefix(r, ns);
    // A field selector pinning metadata.name within a namespace is a point read (kubectl get NAME -w, wait, rollout status).
    const pinnedName = sel.field?.exact('metadata.name');
    let revision = 0;
    let startAfter: string | undefined;
    if (q.continue) {
      if (q.resourceVersion && q.resourceVersion !== '0') throw errors.badRequest('specifying resource version is not allowed when using continue');
      const t = decodeContinue(q.continue);
      revision = t.rv;
      startAfter = prefix + t.start.replace(/\u0000$/, '');
    } else if (q.resourceVersion && q.resourceVersion !== '0') {
      const rv = Number(q.resourceVersion);
      if (!Number.isInteger(rv) || rv < 0) throw errors.badRequest(`invalid resource version: ${q.resourceVersion}`);
      if (q.resourceVersionMatch === 'Exact') revision = rv;
      else await this.waitForRevision(rv);
    } else if (q.resourceVersionMatch) {
      throw errors.badRequest(`resourceVersionMatch is forbidden unless resourceVersion is provided`);
    }
    const limit = q.limit && q.limit > 0 ? q.limit : 0;
    const items: StoredObject[] = [];
    const prefixBytes = storedPrefix(apiVersionOf(r), r.kind);
    // Without selectors an object is never parsed: the response splices its stored bytes.
    const matches = (o: StoredObject) => (!sel.label && !sel.field) || selectorsMatch(r, sel, o.object);
    let more = false, lastKey: string | undefined, listRevision = revision;
    try {
      if (pinnedName !== undefined && ns !== undefined && !q.continue) {
        const key = storageKey(r, ns, pinnedName);
        const res = await this.store.list(key, { revision, limit: 1 });
        listRevision = res.revision;
        for (const kv of res.items) {
          if (kv.key !== key) continue;
          const o = new StoredObject(kv, prefixBytes);
          if (matches(o)) items.push(o);
        }
      } else {
        // Fetch pages until `limit` matching items are found (selectors filter after reading), as upstream does.
        const batch = limit ? Math.max(limit, 100) : 0;
        for (;;) {
          const res = await this.store.list(prefix, { revision: listRevision, startAfter, limit: batch });
          listRevision = res.revision;
          let i = 0;
          for (; i < res.items.length; i++) {
            const kv = res.items[i];
            const o = new StoredObject(kv, prefixBytes);
            if (matches(o)) {
              items.push(o);
              if (limit && items.length === limit) { lastKey = kv.key; break; }
            }
          }
          if (limit && items.length === limit) {
            more = i < res.items.length - 1 || res.more;
            break;
          }
          if (!res.more) break;
          startAfter = res.items[res.items.length - 1].key;
        }
      }
    } catch (e) {
      if (e instanceof CompactedError) {
        if (q.continue) {
          throw errors.expired('The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.');
        }
        throw errors.expired(`too old resource version: ${e.requested} (${e.compacted})`);
      }
      throw e;
    }
    const out: ListOutput = { items, resourceVersion: String(listRevision) };
    if (more && lastKey) out.continue = encodeContinue(listRevision, lastKey.slice(prefix.length));
    return out;
  }

  /** Serve "not older than rv": wait briefly for this process to observe rv, as upstream's watch cache does. */
  private async waitForRevision(rv: number): Promise<void> {
    const deadline = Date.now() + 3000;
    while ((await this.store.currentRevision()) < rv) {
      if (Date.now() > deadline) throw errors.timeout(`Too large resource version: ${rv}, current: ${await this.store.currentRevision()}`);
      await new Promise((res) => setTimeout(res, 5));
    }
  }

  private async requireNamespace(r: ResourceType, ns: string | undefined, name: string): Promise<void> {
    if (!r.namespaced || ns === undefined) return;
    const state = await this.namespaces.state(ns);
    if (state === 'missing') throw errors.notFound(NAMESPACE, ns);
    if (state === 'terminating') {
      const e = errors.forbidden(r, name, `unable to create new content in namespace ${ns} because it is being terminated`);
      e.details!.causes = [{ reason: 'NamespaceTerminating', message: `namespace ${ns} is being terminated`, field: 'metadata.namespace' }];
      throw e;
    }
  }

  /**
   * Whether the JSON text of a body (opts.rawJSON) repeats no key anywhere: its members counted
   * against those of `body`, its JSON.parse result, before checkBody or checkFields change it.
   * Only for the strict decoder's check (Strict and Warn).
   */
  private bodyKeysUnique(body: unknown, opts: WriteOptions): boolean {
    return opts.fieldValidation !== 'Ignore' && opts.rawJSON !== undefined && countJSONKeys(opts.rawJSON) === countParsedKeys(body);
  }

  /**
   * `uniqueKeys`: bodyKeysUnique's answer for the body `obj` was checked from. Returns whether
   * members may have been deleted from `obj` (nulls dropped, unknown fields pruned).
   */
  private checkFields(r: ResourceType, obj: KObject, opts: WriteOptions, uniqueKeys = false): boolean {
    const apiVersion = apiVersionOf(r);
    // JSON nulls become what Go's decoding makes of them (absent fields, zero list items and map values).
    // A body whose text never says `null` has none (the object is the text's, plus checkBody's fields).
    const nulls = opts.rawJSON === undefined || opts.rawJSON.includes('null');
    if (nulls) replaceNulls(apiVersion, r.kind, obj);
    if (opts.fieldValidation === 'Ignore') {
      pruneUnknownFields(apiVersion, r.kind, obj);
      return true;
    }
    // A text that repeats no key, parsed into an object without unknown fields, has no strict
    // decoding error: the object holds every key of the text (checkBody and replaceNulls add or
    // remove only known fields), so the text scan below would find nothing.
    if (uniqueKeys && opts.rawJSON !== undefined && findUnknownFields(apiVersion, r.kind, obj).length === 0) return nulls;
    // From the body text: unknown and duplicate fields in document order, as upstream's strict decoder.
    // The object's keys are the text's (checkBody adds only known fields), so a text without
    // problems has no unknown field to prune and the walk over the object is skipped.
    const fromText = opts.rawJSON !== undefined ? strictDecodingErrors(apiVersion, r.kind, opts.rawJSON) : undefined;
    if (fromText !== undefined && fromText.length === 0) return nulls;
    const unknown = pruneUnknownFields(apiVersion, r.kind, obj);
    const problems = fromText ?? unknown.map((f) => `unknown field "${f}"`);
    if (problems.length === 0) return true;
    if (opts.fieldValidation === 'Strict') {
      throw errors.badRequest(`${r.kind} in version "${r.version}" cannot be handled as a ${r.kind}: strict decoding error: ${problems.join(', ')}`);
    }
    opts.warnings.push(...problems);
    return true;
  }

  private invalid(r: ResourceType, name: string, errs: FieldError[]): never {
    throw errors.invalid(r, name, errs, invalidMessage(r.kind, name, errs));
  }

  /** Check that a request body names this resource's kind and namespace; fill what it leaves out. */
  checkBody(r: ResourceType, ns: string | undefined, body: unknown): KObject {
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      throw errors.badRequest(`the body of the request must be a JSON object (a ${r.kind})`);
    }
    const obj = body as KObject;
    const apiVersion = apiVersionOf(r);
    if (obj.apiVersion !== undefined && obj.apiVersion !== apiVersion) {
      throw errors.badRequest(`the API version in the data (${obj.apiVersion}) does not match the expected API version (${apiVersion})`);
    }
    if (obj.kind !== undefined && obj.kind !== r.kind) {
      throw errors.badRequest(`${obj.kind} in version "${r.version}" cannot be handled as a ${r.kind}: no kind "${obj.kind}" is registered for version "${apiVersion}" in scheme "k8s.io/apimachinery@v1.32.4-k3s1/pkg/runtime/scheme.go:100"`);
    }
    obj.apiVersion = apiVersion;
    obj.kind = r.kind;
    // Upstream decodes into the Go type first: a value of the wrong JSON type fails the request
    // before names, unknown fields, defaulting or validation are looked at.
    const decodeMsg = decodeError(apiVersion, r.kind, obj);
    if (decodeMsg !== undefined) {
      throw errors.badRequest(`${r.kind} in version "${r.version}" cannot be handled as a ${r.kind}: ${decodeMsg}`);
    }
    if (obj.metadata === undefined || obj.metadata === null) obj.metadata = {};
    if (typeof obj.metadata !== 'object' || Array.isArray(obj.metadata)) {
      throw errors.badRequest(`${r.kind} in version "${r.version}" cannot be handled as a ${r.kind}: json: cannot unmarshal ${Array.isArray(obj.metadata) ? 'array' : typeof obj.metadata} into Go struct field ${r.kind}.metadata of type v1.ObjectMeta`);
    }
    if (r.namespaced) {
      if (obj.metadata.namespace && ns !== undefined && obj.metadata.namespace !== ns) {
        throw errors.badRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      if (ns !== undefined) obj.metadata.namespace = ns;
    } else {
      delete obj.metadata.namespace;
    }
    // `creationTimestamp: null` arrives from typed clients (kubectl expose, create); it means "unset".
    if (obj.metadata.creationTimestamp === null) delete obj.metadata.creationTimestamp;
    return obj;
  }

  async create(r: ResourceType, ns: string | undefined, body: unknown, opts: WriteOptions): Promise<KObject> {
    const uniqueKeys = this.bodyKeysUnique(body, opts);
    let obj = this.checkBody(r, ns, body);
    // A member deleted from the middle of an object (an Event's `eventTime: null`, which
    // defaulting adds back at the end) turns it into a slow dictionary-mode object for V8: every
    // later read, copy and JSON.stringify of it paid for that. The same members in the same order
    // in a new object are a fast one again; only its top level is copied.
    if (this.checkFields(r, obj, opts, uniqueKeys)) obj = sameOrderCopy(obj);
    const meta = obj.metadata;
    stripSystemWrites(obj);
    meta.uid = randomUUID();
    meta.creationTimestamp = nowRFC3339();
    delete meta.resourceVersion;
    if (r.generation) meta.generation = 1;
    else delete meta.generation;
    // Name first (defaulting derives labels from it), then upstream's order: defaults, strategy, validation.
    const generated = !meta.name && !!meta.generateName;
    if (generated) meta.name = generateName(meta.generateName!);
    applyDefaults(r.kind, obj);
    if (r.kind === 'Pod') await this.admitPod(r, obj, generated ? '' : meta.name!);
    if (!opts.applied) recordUpdate(apiVersionOf(r), r.kind, undefined, obj, opts.fieldManager ?? '');
    STRATEGIES[r.kind]?.prepareForCreate?.(obj);
    const txn = await this.hooks[r.kind]?.beginCreate?.(obj, opts.dryRun);
    try {
      const stored = await this.validateAndCreate(r, ns, obj, opts, generated);
      await txn?.commit();
      return stored;
    } catch (e) {
      await txn?.revert();
      throw e;
    }
  }

  private async validateAndCreate(r: ResourceType, ns: string | undefined, obj: KObject, opts: WriteOptions, generated: boolean): Promise<KObject> {
    const meta = obj.metadata;
    const errs = validateCreate(r.kind, obj, VALIDATION);
    if (errs.length) this.invalid(r, meta.name ?? '', errs);
    await this.requireNamespace(r, ns, meta.name!);
    if (opts.dryRun) {
      if (!generated && (await this.store.get(storageKey(r, ns, meta.name!)))) throw errors.alreadyExists(r, meta.name!);
      return obj;
    }
    for (let attempt = 0; ; attempt++) {
      try {
        const kv = await this.store.create(storageKey(r, ns, meta.name!), encodeObject(obj));
        return written(r, obj, kv);
      } catch (e) {
        if (e instanceof KeyExistsError && generated) {
          if (attempt + 1 >= GENERATE_NAME_RETRIES) throw errors.generateNameConflict(r, meta.name!);
          meta.name = generateName(meta.generateName!);
          continue;
        }
        this.storeErr(r, meta.name!, e, 'create');
      }
    }
  }

  /**
   * The admission plugins of a new pod that read other objects (RuntimeClass). Upstream names the
   * object in its Forbidden error before a generated name exists, hence `name` may be ''.
   */
  private async admitPod(r: ResourceType, pod: KObject, name: string): Promise<void> {
    const why = await admitRuntimeClass(pod as unknown as Pod, async (rcName) => {
      const kv = await this.getRaw(RUNTIME_CLASSES, undefined, rcName);
      return kv ? (decodeObject(kv) as unknown as RuntimeClass) : undefined;
    });
    if (why) throw errors.forbidden(r, name, why);
  }

  /**
   * Read–modify–write with optimistic concurrency, as upstream's GuaranteedUpdate: `mutate` gets
   * the current object and returns the desired one. If the desired object carries a
   * resourceVersion it is a precondition (409 on mismatch); otherwise a lost race is retried.
   * Returns the stored object and whether it was created (create-on-update).
   *
   * `current` is the object the update is checked against: `mutate` must not change it. A
   * mutation that edits in place asks for a private copy with `copy()`; the patch engines copy
   * their input anyway and an update replaces the object, so most writes decode the stored text
   * once instead of twice. A binding's mutation reads only its copy (`current` is undefined for
   * it, `exists` says whether the object is stored), and what follows it needs the stored object
   * only for a no-op check, so a binding decodes the stored text once, and twice only then.
   */
  private async guaranteedUpdate(
    r: ResourceType, ns: string | undefined, name: string, opts: WriteOptions,
    mutate: (current: KObject | undefined, copy: () => KObject, exists: boolean) => KObject,
    /** `status`: only status may change; `binding`: the mutation is the server's own and is taken as it is. */
    subresource?: 'status' | 'binding',
    managedFields: 'record' | 'keep' | 'apply' = 'record',
  ): Promise<{ obj: KObject; created: boolean }> {
    const key = storageKey(r, ns, name);
    for (let attempt = 0; ; attempt++) {
      const kv = await this.store.get(key);
      const current = kv && subresource !== 'binding' ? decodeObject(kv) : undefined;
      // A copy is decoded again from the stored text: JSON.parse is several times cheaper than
      // structuredClone on these objects.
      const desired = mutate(current, () => decodeObject(kv!), kv !== undefined);
      const precondition = desired.metadata.resourceVersion;
      if (!kv) {
        if ((!r.createOnUpdate && managedFields !== 'apply') || subresource) throw errors.notFound(r, name);
        if (precondition) throw errors.notFound(r, name);
        return { obj: await this.create(r, ns, desired, { ...opts, fieldValidation: 'Ignore', applied: managedFields === 'apply' }), created: true };
      }
      // decodeObject's resourceVersion.
      const storedRV = String(kv.modRevision);
      if (precondition && precondition !== storedRV) {
        throw errors.modified(r, name);
      }
      let next: KObject;
      let txn: WriteTxn | undefined;
      if (subresource === 'status') next = this.prepareStatusUpdate(r, desired, current!);
      else if (subresource === 'binding') next = { ...desired, metadata: { ...desired.metadata, resourceVersion: storedRV } };
      else ({ obj: next, txn } = await this.prepareUpdate(r, desired, current!, opts.dryRun));
      let outcome: { obj: KObject; created: boolean } | 'retry';
      try {
        outcome = await this.storeUpdate(r, name, kv, current, next, opts, attempt, !!precondition, subresource, managedFields);
      } catch (e) {
        await txn?.revert();
        throw e;
      }
      if (outcome === 'retry') {
        await txn?.revert();
        continue;
      }
      await txn?.commit();
      return outcome;
    }
  }

  /** The write of a prepared update; 'retry' when it lost a race that guaranteedUpdate retries. */
  private async storeUpdate(
    r: ResourceType, name: string, kv: KeyValue, decoded: KObject | undefined, next: KObject, opts: WriteOptions, attempt: number,
    precondition: boolean, subresource: 'status' | 'binding' | undefined, managedFields: 'record' | 'keep' | 'apply',
  ): Promise<{ obj: KObject; created: boolean } | 'retry'> {
    // Undefined for a binding only (see guaranteedUpdate), which records no managedFields.
    const current = (): KObject => (decoded ??= decodeObject(kv));
    if (managedFields === 'record' && subresource !== 'binding') {
      recordUpdate(apiVersionOf(r), r.kind, current(), next, opts.fieldManager ?? '', subresource);
    }
    // A no-op update writes nothing and keeps the resourceVersion, as upstream does (it compares
    // the encoded bytes). The stored text, which encodeObject wrote, decides cheaply in most
    // cases: equal text is an equal object, and equal objects encode to the same length whatever
    // their key order; only then is the deep comparison needed, which walks the whole object
    // before it reaches a changed status.
    const value = encodeObject(next);
    if (value === kv.value || (value.length === kv.value.length && jsonDeepStrictEqual(next, current()))) return { obj: current(), created: false };
    if (opts.dryRun) return { obj: next, created: false };
    // The last finalizer removed from an object being deleted: the update completes the deletion.
    if (next.metadata.deletionTimestamp && !next.metadata.finalizers?.length && deletionIsFinal(r, next)) {
      try {
        await this.store.delete(kv.key, kv.modRevision);
      } catch (e) {
        if (e instanceof ConflictError && attempt < UPDATE_RETRIES) return 'retry';
        this.storeErr(r, name, e, 'update');
      }
      await this.hooks[r.kind]?.afterDelete?.(next);
      return { obj: next, created: false };
    }
    try {
      const stored = await this.store.update(kv.key, value, kv.modRevision);
      // A binding answers with a Status (bindPod): its pod is never served.
      if (subresource === 'binding') {
        next.metadata.resourceVersion = String(stored.modRevision);
        return { obj: next, created: false };
      }
      return { obj: written(r, next, stored), created: false };
    } catch (e) {
      if (e instanceof ConflictError && !precondition && attempt < UPDATE_RETRIES) return 'retry';
      if (e instanceof NotFoundError && attempt < UPDATE_RETRIES) return 'retry';
      this.storeErr(r, name, e, 'update');
    }
  }

  /** Main-resource update: system fields and status come from the stored object. */
  private async prepareUpdate(r: ResourceType, obj: KObject, old: KObject, dryRun: boolean): Promise<{ obj: KObject; txn?: WriteTxn }> {
    const m = obj.metadata, om = old.metadata;
    // A uid in the request must be the stored one (validation says "field is immutable"); none means "this object".
    if (!m.uid) m.uid = om.uid;
    m.creationTimestamp = om.creationTimestamp;
    dropEmptyMetadataLists(m);
    if (om.deletionTimestamp) m.deletionTimestamp = om.deletionTimestamp; else delete m.deletionTimestamp;
    if (om.deletionGracePeriodSeconds !== undefined) m.deletionGracePeriodSeconds = om.deletionGracePeriodSeconds; else delete m.deletionGracePeriodSeconds;
    m.resourceVersion = om.resourceVersion;
    if (om.generation !== undefined) m.generation = om.generation; else delete m.generation;
    delete m.selfLink;
    if (r.status) {
      if (old.status !== undefined) obj.status = old.status; else delete obj.status;
    }
    const strategy = STRATEGIES[r.kind];
    strategy?.prepareForUpdate?.(obj, old);
    applyDefaults(r.kind, obj, old);
    if (r.generation) {
      const changed = strategy?.generationChanged ? strategy.generationChanged(obj, old) : !jsonDeepStrictEqual(obj.spec, old.spec);
      if (changed) m.generation = (om.generation ?? 0) + 1;
    }
    const txn = await this.hooks[r.kind]?.beginUpdate?.(obj, old, dryRun);
    const errs = validateUpdate(r.kind, obj, old, VALIDATION);
    if (errs.length) {
      await txn?.revert();
      this.invalid(r, m.name ?? '', errs);
    }
    return { obj, txn };
  }

  /**
   * Status update, as upstream's per-resource status strategies: the spec (everything but
   * metadata and status) and the system fields come from the stored object; metadata such as
   * annotations may change (the Deployment controller writes its revision annotation this way),
   * except what a kind protects (Deployment labels, Pod owner references). The spec is `old`'s
   * own (see withStatusOf; `old` must be the write's private decode), taken from `old` rather
   * than from `obj`, which lost the stored nulls when its request was checked.
   */
  private prepareStatusUpdate(r: ResourceType, obj: KObject, old: KObject): KObject {
    const next = withStatusOf(old, obj);
    const m = next.metadata, om = old.metadata;
    m.name = om.name;
    m.namespace = om.namespace;
    m.uid = om.uid;
    m.creationTimestamp = om.creationTimestamp;
    // deletionTimestamp, deletionGracePeriodSeconds, generation and resourceVersion, in this order.
    if (om.deletionTimestamp !== undefined) m.deletionTimestamp = om.deletionTimestamp; else delete m.deletionTimestamp;
    if (om.deletionGracePeriodSeconds !== undefined) m.deletionGracePeriodSeconds = om.deletionGracePeriodSeconds; else delete m.deletionGracePeriodSeconds;
    if (om.generation !== undefined) m.generation = om.generation; else delete m.generation;
    if (om.resourceVersion !== undefined) m.resourceVersion = om.resourceVersion; else delete m.resourceVersion;
    STRATEGIES[r.kind]?.prepareForStatusUpdate?.(next, old);
    dropEmptyMetadataLists(m);
    applyDefaults(r.kind, next, old);
    const errs = validateStatusUpdate(r.kind, next, old, VALIDATION);
    if (errs.length) this.invalid(r, next.metadata.name ?? '', errs);
    return next;
  }

  async update(r: ResourceType, ns: string | undefined, name: string, body: unknown, opts: WriteOptions, subresource?: 'status'): Promise<{ obj: KObject; created: boolean }> {
    const uniqueKeys = this.bodyKeysUnique(body, opts);
    const obj = this.checkBody(r, ns, body);
    if (obj.metadata.name !== undefined && obj.metadata.name !== name) {
      throw errors.badRequest(`the name of the object (${obj.metadata.name}) does not match the name on the URL (${name})`);
    }
    obj.metadata.name = name;
    this.checkFields(r, obj, opts, uniqueKeys);
    // An update without resourceVersion is unconditional (upstream AllowUnconditionalUpdate) and retried on races.
    // Each of its attempts starts from the request's object as checked; a JSON copy is cheaper than structuredClone.
    // An update with one ends at the first lost race (409; a vanished object is 404 on its second
    // attempt, whatever the object holds), so it takes the request's object itself.
    if (obj.metadata.resourceVersion) return this.guaranteedUpdate(r, ns, name, opts, () => obj, subresource);
    const checked = JSON.stringify(obj);
    return this.guaranteedUpdate(r, ns, name, opts, () => JSON.parse(checked) as KObject, subresource);
  }

  async patch(r: ResourceType, ns: string | undefined, name: string, type: PatchType | 'apply', patch: unknown, opts: WriteOptions, subresource?: 'status'): Promise<{ obj: KObject; created: boolean }> {
    const apiVersion = apiVersionOf(r);
    return this.guaranteedUpdate(r, ns, name, opts, (current, copy) => {
      if (!current && type !== 'apply') throw errors.notFound(r, name);
      const rv = current?.metadata.resourceVersion;
      // The patch engines never change their input; apply gets a copy of its own.
      let setAside: unknown[] | undefined;
      let patched: KObject;
      if (type === 'apply') patched = applyConfig(apiVersion, r.kind, current && copy(), patch, opts.fieldManager ?? '', opts.force ?? false, subresource);
      else if (subresource === 'status') {
        const { input, managedFields } = statusPatchInput(type, current!, patch);
        setAside = managedFields;
        patched = patchObject(type, input, patch, apiVersion, r.kind);
      } else patched = patchObject(type, current!, patch, apiVersion, r.kind);
      const checked = this.checkBody(r, ns, patched);
      if (checked.metadata.name !== name) {
        throw errors.badRequest(`the name of the object (${checked.metadata.name}) does not match the name on the URL (${name})`);
      }
      this.checkFields(r, checked, opts);
      // The stored managedFields back in the place the patch left (statusPatchInput).
      if (setAside) checked.metadata.managedFields = setAside as never;
      // A patch that carries a resourceVersion different from the stored one is a precondition; one that
      // leaves it alone is unconditional (so drop it and let guaranteedUpdate retry races).
      if (checked.metadata.resourceVersion === rv) delete checked.metadata.resourceVersion;
      return checked;
    }, subresource, type === 'apply' ? 'apply' : 'record');
  }

  async delete(r: ResourceType, ns: string | undefined, name: string, options: DeleteOptions, dryRun: boolean): Promise<{ obj: KObject; deleted: boolean }> {
    if (r.kind === 'Namespace' && UNDELETABLE_NAMESPACES.has(name)) {
      throw errors.forbidden(r, name, 'this namespace may not be deleted');
    }
    const key = storageKey(r, ns, name);
    for (let attempt = 0; ; attempt++) {
      const kv = await this.store.get(key);
      if (!kv) throw errors.notFound(r, name);
      const obj = decodeObject(kv);
      const pre = options.preconditions;
      if (pre?.uid && pre.uid !== obj.metadata.uid) {
        throw errors.conflict(r, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${obj.metadata.uid}`);
      }
      if (pre?.resourceVersion && pre.resourceVersion !== obj.metadata.resourceVersion) {
        throw errors.conflict(r, name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${obj.metadata.resourceVersion}`);
      }
      const next = decodeObject(kv);
      const pending = this.prepareDeletion(r, next, options);
      if (dryRun) return { obj: pending ? next : obj, deleted: !pending };
      try {
        if (pending) {
          if (jsonDeepStrictEqual(next, obj)) return { obj, deleted: false };
          const written = await this.store.update(key, encodeObject(next), kv.modRevision);
          next.metadata.resourceVersion = String(written.modRevision);
          return { obj: next, deleted: false };
        }
        const res = await this.store.delete(key, kv.modRevision);
        obj.metadata.resourceVersion = String(res.revision);
        await this.hooks[r.kind]?.afterDelete?.(obj);
        return { obj, deleted: true };
      } catch (e) {
        if ((e instanceof ConflictError || e instanceof NotFoundError) && attempt < UPDATE_RETRIES) continue;
        this.storeErr(r, name, e, 'delete');
      }
    }
  }

  /**
   * Apply upstream's deletion rules to `o` in place. Returns true when the object must stay
   * (finalizers, graceful deletion, namespace termination) and false when it can go now.
   */
  private prepareDeletion(r: ResourceType, o: KObject, options: DeleteOptions): boolean {
    const m = o.metadata;
    let finalizers = [...(m.finalizers ?? [])];
    const policy = options.propagationPolicy ?? (options.orphanDependents ? 'Orphan' : options.orphanDependents === false ? 'Background' : undefined);
    if (policy === 'Orphan' && !finalizers.includes('orphan')) finalizers.push('orphan');
    if (policy === 'Foreground' && !finalizers.includes('foregroundDeletion')) finalizers.push('foregroundDeletion');
    if (policy === 'Background') finalizers = finalizers.filter((f) => f !== 'orphan' && f !== 'foregroundDeletion');
    if (policy === 'Foreground') finalizers = finalizers.filter((f) => f !== 'orphan');
    if (policy === 'Orphan') finalizers = finalizers.filter((f) => f !== 'foregroundDeletion');

    let grace = 0;
    if (r.kind === 'Pod') {
      const spec = o.spec as { nodeName?: string; terminationGracePeriodSeconds?: number } | undefined;
      const phase = (o.status as { phase?: string } | undefined)?.phase;
      grace = options.gracePeriodSeconds ?? spec?.terminationGracePeriodSeconds ?? 30;
      // Unscheduled and finished pods have no kubelet to wait for.
      if (!spec?.nodeName || phase === 'Succeeded' || phase === 'Failed') grace = 0;
    }
    const namespaceTerminating = r.kind === 'Namespace' && ((o.spec as { finalizers?: string[] } | undefined)?.finalizers?.length ?? 0) > 0;

    if (finalizers.length === 0 && grace === 0 && !namespaceTerminating) {
      // Deleting an object that is already terminating gracefully with grace 0 also removes it now.
      return false;
    }
    if (finalizers.length) m.finalizers = finalizers; else delete m.finalizers;
    if (!m.deletionTimestamp) {
      m.deletionTimestamp = new Date(Date.now() + grace * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
      m.deletionGracePeriodSeconds = grace;
    } else if (m.deletionGracePeriodSeconds !== undefined && grace < m.deletionGracePeriodSeconds) {
      // A second delete may shorten the grace period, never lengthen it.
      m.deletionTimestamp = new Date(Date.now() + grace * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
      m.deletionGracePeriodSeconds = grace;
    }
    if (r.kind === 'Namespace') o.status = { ...(o.status as object), phase: 'Terminating' };
    return true;
  }

  async deleteCollection(r: ResourceType, ns: string | undefined, q: ListQuery, options: DeleteOptions, dryRun: boolean): Promise<{ items: KObject[]; resourceVersion: string }> {
    const listed = await this.list(r, ns, { labelSelector: q.labelSelector, fieldSelector: q.fieldSelector });
    const deleted: KObject[] = [];
    for (const { object: o } of listed.items) {
      try {
        deleted.push((await this.delete(r, o.metadata.namespace, o.metadata.name!, options, dryRun)).obj);
      } catch (e) {
        if (e instanceof ApiError && e.code === 404) continue;
        throw e;
      }
    }
    return { items: deleted, resourceVersion: String(await this.store.currentRevision()) };
  }

  /** The autoscaling/v1 Scale view of a Deployment or ReplicaSet. */
  scaleOf(o: KObject): KObject {
    const spec = o.spec as { replicas?: number; selector?: LabelSelectorSpec } | undefined;
    const status = o.status as { replicas?: number } | undefined;
    const m = o.metadata;
    const sel = labelSelectorFromSpec(spec?.selector)?.toString() ?? '';
    return {
      kind: 'Scale', apiVersion: 'autoscaling/v1',
      metadata: { name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion, creationTimestamp: m.creationTimestamp },
      spec: { replicas: spec?.replicas ?? 0 },
      status: sel ? { replicas: status?.replicas ?? 0, selector: sel } : { replicas: status?.replicas ?? 0 },
    };
  }

  async getScale(r: ResourceType, ns: string | undefined, name: string): Promise<KObject> {
    return this.scaleOf(await this.get(r, ns, name));
  }

  /** Write a Scale (from PUT, or computed by a patch of the current Scale) through to its parent's spec.replicas. */
  async updateScale(r: ResourceType, ns: string | undefined, name: string, opts: WriteOptions,
    toScale: (current: KObject) => KObject): Promise<KObject> {
    const { obj } = await this.guaranteedUpdate(r, ns, name, opts, (stored, copy) => {
      if (!stored) throw errors.notFound(r, name);
      const current = copy();
      const scale = toScale(this.scaleOf(current));
      if (!scale || typeof scale !== 'object' || Array.isArray(scale)) throw errors.badRequest('the body of the request must be a Scale object');
      const decodeMsg = decodeError('autoscaling/v1', 'Scale', scale);
      if (decodeMsg !== undefined) throw errors.badRequest(`Scale in version "v1" cannot be handled as a Scale: ${decodeMsg}`);
      if (scale.kind !== undefined && scale.kind !== 'Scale') throw errors.badRequest(`${scale.kind} in version "v1" cannot be handled as a Scale: no kind "${scale.kind}" is registered for version "autoscaling/v1"`);
      const replicas = (scale.spec as { replicas?: unknown } | undefined)?.replicas ?? 0;
      if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
        const errs: FieldError[] = [{ reason: 'FieldValueInvalid', field: 'spec.replicas', message: `Invalid value: ${JSON.stringify(replicas)}: must be greater than or equal to 0` }];
        throw errors.invalid({ group: 'autoscaling', kind: 'Scale' }, name, errs, invalidMessage('Scale', name, errs));
      }
      const rv = scale.metadata?.resourceVersion;
      const prev = structuredClone(current);
      const next = current;
      (next.spec as { replicas?: number }).replicas = replicas;
      // A Scale carrying the parent's current resourceVersion is a precondition on it.
      if (!rv) delete next.metadata.resourceVersion; else next.metadata.resourceVersion = rv;
      recordScaleUpdate(apiVersionOf(r), prev, next, opts.fieldManager ?? '');
      return next;
    }, undefined, 'keep');
    return this.scaleOf(obj);
  }

  /**
   * The pods/binding subresource (what a scheduler posts): set spec.nodeName of an unbound pod and
   * its PodScheduled condition, as upstream's BindingREST does.
   */
  async bindPod(ns: string | undefined, name: string, body: unknown, opts: WriteOptions): Promise<void> {
    const r = POD;
    const b = body as { kind?: string; metadata?: { name?: string; annotations?: Record<string, string> }; target?: { kind?: string; name?: string } } | undefined;
    if (!b || typeof b !== 'object') throw errors.badRequest('the body of the request must be a Binding');
    if (b.kind !== undefined && b.kind !== 'Binding') throw errors.badRequest(`${b.kind} in version "v1" cannot be handled as a Binding`);
    if (b.metadata?.name !== undefined && b.metadata.name !== name) {
      throw errors.badRequest(`the name of the object (${b.metadata.name}) does not match the name on the URL (${name})`);
    }
    const node = b.target?.name;
    if (!node) {
      const errs: FieldError[] = [{ reason: 'FieldValueRequired', field: 'target.name', message: 'Required value' }];
      throw errors.invalid({ group: '', kind: 'Binding' }, name, errs, invalidMessage('Binding', name, errs));
    }
    if (b.target?.kind !== undefined && b.target.kind !== '' && b.target.kind !== 'Node') {
      const errs: FieldError[] = [{ reason: 'FieldValueNotSupported', field: 'target.kind', message: `Unsupported value: "${b.target.kind}": supported values: "Node"` }];
      throw errors.invalid({ group: '', kind: 'Binding' }, name, errs, invalidMessage('Binding', name, errs));
    }
    await this.guaranteedUpdate(r, ns, name, opts, (_current, copy, exists) => {
      if (!exists) throw errors.notFound(r, name);
      const current = copy();
      if (current.metadata.deletionTimestamp) throw errors.conflict(r, name, `pod ${name} is being deleted, cannot be assigned to a host`);
      const spec = current.spec as { nodeName?: string };
      if (spec.nodeName) throw errors.conflict(r, name, `pod ${name} is already assigned to node "${spec.nodeName}"`);
      spec.nodeName = node;
      if (b.metadata?.annotations) current.metadata.annotations = { ...current.metadata.annotations, ...b.metadata.annotations };
      const status = (current.status ??= {}) as { conditions?: { type: string; status: string; lastProbeTime: null; lastTransitionTime: string }[] };
      const conditions = (status.conditions ?? []).filter((c) => c.type !== 'PodScheduled');
      conditions.push({ type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: nowRFC3339() });
      status.conditions = conditions;
      delete current.metadata.resourceVersion;
      return current;
    }, 'binding');
  }

  /** Namespace finalize subresource: only spec.finalizers change; with none left a terminating namespace goes. */
  async finalizeNamespace(name: string, body: unknown, opts: WriteOptions): Promise<KObject> {
    const r = NAMESPACE;
    const obj = this.checkBody(r, undefined, body);
    const key = storageKey(r, undefined, name);
    for (let attempt = 0; ; attempt++) {
      const kv = await this.store.get(key);
      if (!kv) throw errors.notFound(r, name);
      const current = decodeObject(kv);
      if (obj.metadata.resourceVersion && obj.metadata.resourceVersion !== current.metadata.resourceVersion) throw errors.modified(r, name);
      const next = structuredClone(current);
      (next.spec as { finalizers?: string[] }) = { ...(next.spec as object), finalizers: (obj.spec as { finalizers?: string[] } | undefined)?.finalizers ?? [] };
      if (opts.dryRun) return next;
      try {
        if (next.metadata.deletionTimestamp && !(next.spec as { finalizers: string[] }).finalizers.length && !next.metadata.finalizers?.length) {
          await this.store.delete(key, kv.modRevision);
          return next;
        }
        const written = await this.store.update(key, encodeObject(next), kv.modRevision);
        next.metadata.resourceVersion = String(written.modRevision);
        return next;
      } catch (e) {
        if (e instanceof ConflictError && attempt < UPDATE_RETRIES) continue;
        this.storeErr(r, name, e, 'update');
      }
    }
  }
}

/**
 * A status write's object: `old` with `obj`'s metadata (a shallow copy) and status, every other
 * top-level field (the spec) taken from `old` itself, keys in `old`'s order as a spread would
 * give. The spec is shared, not copied: `old` is the write's private decode of the stored object
 * (guaranteedUpdate decodes it afresh for every attempt and hands it to nobody else), and
 * defaulting the shared spec defaults `old`'s too, as upstream defaults the old object when it
 * decodes it from storage.
 */
function withStatusOf(old: KObject, obj: KObject): KObject {
  const next: JsonObject = {};
  for (const key in old) {
    if (!hasKey(old, key)) continue;
    setKey(next, key, key === 'metadata' || key === 'status' ? null : (old as unknown as JsonObject)[key]);
  }
  const out = next as unknown as KObject;
  out.metadata = { ...obj.metadata };
  out.status = obj.status;
  return out;
}

/** The top-level fields a status write takes from its request; every other one comes from the stored object. */
const STATUS_WRITE_FIELDS = new Set(['apiVersion', 'kind', 'metadata', 'status']);

/**
 * What a merge or strategic merge patch of the status subresource is applied to. A status write
 * keeps the stored spec whatever the patch makes of it (withStatusOf copies it from the stored
 * object), so when the patch names no top-level field but apiVersion, kind, metadata and status
 * (and no top-level directive), the patch engine, which deep-copies its input, gets a view
 * without the spec: the result's metadata and status are the same, and a pod's spec is neither
 * copied nor walked by the field checks only to be dropped. Any other patch gets the whole
 * object, so its errors are upstream's.
 */
function statusPatchInput(type: PatchType, current: KObject, patch: unknown): { input: KObject; managedFields?: unknown[] } {
  if (type === 'json' || patch === null || typeof patch !== 'object' || Array.isArray(patch)) return { input: current };
  for (const key in patch) if (!STATUS_WRITE_FIELDS.has(key)) return { input: current };
  const view: Record<string, unknown> = {};
  for (const key in current) if (STATUS_WRITE_FIELDS.has(key)) view[key] = (current as unknown as Record<string, unknown>)[key];
  const managedFields = current.metadata.managedFields as unknown;
  if (!Array.isArray(managedFields) || managedFields.length === 0 || !leavesManagedFields((patch as Record<string, unknown>).metadata)) return { input: view as unknown as KObject };
  // The stored managedFields, a third of a pod's bytes, are neither copied by the patch engine nor
  // walked by the body checks: an empty list holds their place (the key order of metadata stays
  // the stored one) until the patched object is checked, then they are put back (see patch()).
  // A status write never takes managedFields from its request (recordUpdate reads the stored
  // ones), and the stored entries, written by this server, pass those checks unchanged.
  view.metadata = { ...current.metadata, managedFields: [] };
  return { input: view as unknown as KObject, managedFields };
}

/**
 * Whether a merge or strategic merge patch's `metadata` leaves metadata.managedFields as they
 * are: no metadata, or a map that names no managedFields and holds no directive (`$patch`,
 * `$retainKeys`, `$setElementOrder/...`, `$deleteFromPrimitiveList/...` all start with `$`).
 */
function leavesManagedFields(metadata: unknown): boolean {
  if (metadata === undefined) return true;
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) return false;
  for (const key in metadata) if (key === 'managedFields' || key.startsWith('$')) return false;
  return true;
}

/**
 * Go's encoding drops empty omitempty maps and lists: a patch that removes the last owner
 * reference or finalizer leaves no `ownerReferences: []` behind, as upstream.
 */
function dropEmptyMetadataLists(m: KObject['metadata']): void {
  if (isEmptyContainer(m.labels)) delete m.labels;
  if (isEmptyContainer(m.annotations)) delete m.annotations;
  if (isEmptyContainer(m.finalizers)) delete m.finalizers;
  if (isEmptyContainer(m.ownerReferences)) delete m.ownerReferences;
}

/** An object or array without own enumerable keys (what `Object.keys(v).length === 0` says, without the array). */
function isEmptyContainer(v: unknown): boolean {
  if (v === undefined || v === null || typeof v !== 'object') return false;
  if (Array.isArray(v)) return v.length === 0 && Object.keys(v).length === 0;
  for (const key in v) if (hasKey(v, key)) return false;
  return true;
}

/** Whether a terminating object with no finalizers left may be removed now (pods wait for their kubelet). */
function deletionIsFinal(r: ResourceType, o: KObject): boolean {
  if (r.kind === 'Namespace') return !((o.spec as { finalizers?: string[] } | undefined)?.finalizers?.length);
  return (o.metadata.deletionGracePeriodSeconds ?? 0) === 0;
}
