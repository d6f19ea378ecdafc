// Differential tests of the field manager's cheaper write path: the managedFields that
// recordUpdate, trackUpdate and takeOwnership produce are compared byte for byte with those of
// the previous implementation (kept below as the reference: three comparison sets joined by
// union, manager identifiers and kind contexts made afresh on every call, keyed list items'
// elements made by keyPE) over many seeded random writes: creates, updates and status writes by
// several managers, applies in between, lists with keys, duplicates, sets, maps with odd keys.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { KObject } from '../src/api/types.js';
import { applyDefaults } from '../src/api/defaults.js';
import { apply, recordUpdate } from '../src/apiserver/fieldmanager/index.js';
import { FieldSet, fieldPE, isMap, keyPE, stringKeyPE, type Path } from '../src/apiserver/fieldmanager/fieldpath.js';
import {
  ApplyConflicts, decodeManaged, encodeManaged, kindContext, nowRFC3339, ownerId, setManagedFields, takeOwnership, trackUpdate,
  withoutManagedFields, type KindContext, type Managed, type Owner,
} from '../src/apiserver/fieldmanager/managed.js';
import { TypedError, compare, listItemPE, typeForKind, zeroObject, type TypeRef } from '../src/apiserver/fieldmanager/typed.js';

type Obj = Record<string, any>;

// ---- the reference: the previous implementation, verbatim but for the names ----

function refOwnerId(o: Pick<Owner, 'manager' | 'operation' | 'apiVersion' | 'subresource'>): string {
  let id = `{"manager":${JSON.stringify(o.manager)},"operation":${JSON.stringify(o.operation)}`;
  if (o.operation === 'Update') id += `,"apiVersion":${JSON.stringify(o.apiVersion)}`;
  if (o.subresource) id += `,"subresource":${JSON.stringify(o.subresource)}`;
  return `${id}}`;
}

const path = (...names: string[]): Path => names.map(fieldPE);
const STRIP = FieldSet.of(
  path('apiVersion'), path('kind'), path('metadata'),
  ...['name', 'namespace', 'creationTimestamp', 'selfLink', 'uid', 'clusterName', 'generation', 'managedFields', 'resourceVersion']
    .map((f) => path('metadata', f)),
);
const RESET_PATHS: Record<string, Partial<Record<string, string[][]>>> = {
  Namespace: { '': [['status']], status: [['spec']], finalize: [['status']] },
  Node: { '': [['status']], status: [['spec']] },
  Pod: { '': [['status']], status: [['spec'], ['metadata', 'deletionTimestamp'], ['metadata', 'ownerReferences']] },
  Service: { '': [['status']], status: [['spec']] },
  Deployment: { '': [['status']], status: [['spec'], ['metadata', 'labels']] },
  ReplicaSet: { '': [['status']], status: [['spec']] },
};

function refKindContext(apiVersion: string, kind: string, subresource?: string): KindContext {
  const paths = RESET_PATHS[kind]?.[subresource ?? ''];
  return { apiVersion, kind, type: typeForKind(apiVersion, kind), subresource: subresource || undefined, ignored: paths ? FieldSet.of(...paths.map((p) => path(...p))) : undefined, ignoredPaths: paths };
}

function withoutPaths(v: unknown, paths: string[][] | undefined): unknown {
  return paths ? paths.reduce((acc, p) => withoutPath(acc, p, 0), v) : v;
}

function withoutPath(v: unknown, p: string[], i: number): unknown {
  const name = p[i]!;
  if (!isMap(v) || !(name in v)) return v;
  if (i === p.length - 1) {
    const { [name]: _removed, ...rest } = v;
    return rest;
  }
  return { ...v, [name]: withoutPath(v[name], p, i + 1) };
}

function refTakeOwnership(ctx: KindContext, live: unknown, next: unknown, managed: Managed, workflowId: string, force: boolean) {
  const cmp = compare(ctx.type, withoutPaths(live, ctx.ignoredPaths), withoutPaths(next, ctx.ignoredPaths));
  if (ctx.ignored) {
    cmp.removed = cmp.removed.recursiveDifference(ctx.ignored);
    cmp.modified = cmp.modified.recursiveDifference(ctx.ignored);
    cmp.added = cmp.added.recursiveDifference(ctx.ignored);
  }
  const changed = cmp.modified.union(cmp.added);
  const conflicts = new Map<string, { owner: Owner; set: FieldSet }>();
  for (const [id, owner] of managed) {
    if (id === workflowId) continue;
    const set = owner.set.intersection(changed);
    if (!set.isEmpty()) conflicts.set(id, { owner, set });
  }
  if (!force && conflicts.size > 0) throw new ApplyConflicts(conflicts);
  for (const { owner, set } of conflicts.values()) owner.set = owner.set.difference(set);
  if (!cmp.removed.isEmpty()) {
    for (const [id, owner] of managed) if (id !== workflowId) owner.set = owner.set.difference(cmp.removed);
  }
  for (const [id, owner] of managed) if (owner.set.isEmpty()) managed.delete(id);
  return cmp;
}

function refTrackUpdate(ctx: KindContext, live: unknown, next: unknown, managed: Managed, manager: string): void {
  const owner = { manager: manager || 'unknown', operation: 'Update' as const, apiVersion: ctx.apiVersion, subresource: ctx.subresource };
  const id = refOwnerId(owner);
  const decoded = managed.get(id)?.decoded;
  const cmp = refTakeOwnership(ctx, live, next, managed, 'current-operation', true);
  let set = cmp.modified.union(cmp.added);
  if (ctx.ignored) set = set.recursiveDifference(ctx.ignored);
  set = set.difference(STRIP);
  if (!set.isEmpty()) {
    const previous = managed.get(id);
    const entry: Owner = { manager: owner.manager, operation: 'Update', apiVersion: owner.apiVersion, set: previous ? set.union(previous.set) : set, time: nowRFC3339() };
    if (owner.subresource) entry.subresource = owner.subresource;
    if (decoded && entry.set.equals(decoded.set)) {
      entry.set = decoded.set;
      entry.decoded = decoded;
    }
    managed.set(id, entry);
  }
  refCapUpdateManagers(managed);
}

const unixSeconds = (t: string | undefined) => (t === undefined ? 0 : Math.floor(Date.parse(t) / 1000) || 0);

function refCapUpdateManagers(managed: Managed): void {
  const updaters = [...managed].filter(([, o]) => o.operation === 'Update').map(([id]) => id);
  if (updaters.length <= 10) return;
  updaters.sort((a, b) => unixSeconds(managed.get(a)!.time) - unixSeconds(managed.get(b)!.time) || (a < b ? -1 : a > b ? 1 : 0));
  const firstOfVersion = new Map<string, string>();
  let remaining = updaters.length;
  for (let i = 0; i < updaters.length && remaining > 10; i++) {
    const id = updaters[i]!;
    const owner = managed.get(id);
    if (!owner) continue;
    const version = owner.apiVersion;
    const bucketId = refOwnerId({ manager: 'ancient-changes', operation: 'Update', apiVersion: version });
    const first = firstOfVersion.get(version);
    if (first === undefined) {
      firstOfVersion.set(version, id);
      continue;
    }
    if (!managed.has(bucketId)) {
      const firstOwner = managed.get(first)!;
      managed.delete(first);
      managed.set(bucketId, { manager: 'ancient-changes', operation: 'Update', apiVersion: version, set: firstOwner.set });
    }
    const bucket = managed.get(bucketId)!;
    managed.set(bucketId, { ...bucket, set: owner.set.union(bucket.set), time: owner.time });
    managed.delete(id);
    remaining--;
  }
}

function decodeOrEmpty(entries: unknown): Managed {
  try {
    return decodeManaged(entries);
  } catch {
    return new Map();
  }
}

function isReset(entries: unknown): boolean {
  if (!Array.isArray(entries)) return false;
  if (entries.length === 0) return true;
  return entries.length === 1 && isMap(entries[0]) && Object.values(entries[0]).every((v) => v === undefined || v === null || v === '');
}

function refRecordUpdate(apiVersion: string, kind: string, prev: KObject | undefined, next: KObject, manager: string, subresource?: string): void {
  const ctx = refKindContext(apiVersion, kind, subresource);
  const stored = prev?.metadata.managedFields;
  let managed: Managed;
  if (ctx.subresource) managed = decodeOrEmpty(stored);
  else {
    const requested = next.metadata.managedFields;
    if (isReset(requested)) managed = new Map();
    else {
      managed = decodeOrEmpty(requested);
      if (managed.size === 0) managed = decodeOrEmpty(stored);
    }
  }
  if (managed.size === 0 && prev !== undefined) {
    delete next.metadata.managedFields;
    return;
  }
  try {
    const live = prev ? withoutManagedFields(prev) : zeroObject(apiVersion, kind);
    refTrackUpdate(ctx, live, withoutManagedFields(next), managed, manager);
    setManagedFields(next, encodeManaged(managed));
  } catch (e) {
    if (!(e instanceof TypedError)) throw e;
    setManagedFields(next, stored);
  }
}

// ---- random writes ----

/** mulberry32: a seeded generator, so that a failure can be replayed. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  return { next, int, pick, chance: (p: number) => next() < p };
}
type Rng = ReturnType<typeof rng>;

const ODD = ['a', 'b', 'web', 'app', 'x<y>', 'a&b', 'é', '\u2028', '日本', '😀', 'k.io/name', ''];
const word = (r: Rng) => r.pick(ODD) + (r.chance(0.5) ? String(r.int(4)) : '');

function randomMap(r: Rng, n: number): Record<string, string> {
  const m: Record<string, string> = {};
  for (let i = 0; i < n; i++) m[word(r)] = word(r);
  return m;
}

function conditions(r: Rng, types: string[]): Obj[] {
  return types.filter(() => r.chance(0.7)).map((type) => ({ type, status: r.pick(['True', 'False', 'Unknown']), ...(r.chance(0.5) ? { lastTransitionTime: '2026-11-27T10:00:00Z' } : {}), ...(r.chance(0.3) ? { lastProbeTime: null } : {}) }));
}

function container(r: Rng, name: unknown): Obj {
  const c: Obj = { name, image: r.pick(['nginx:1.27', 'busybox', 'redis:7']) };
  if (r.chance(0.4)) c.ports = Array.from({ length: r.int(3) }, () => ({ containerPort: r.pick([80, 443, 8080]), ...(r.chance(0.5) ? { protocol: r.pick(['TCP', 'UDP']) } : {}) }));
  if (r.chance(0.3)) c.env = Array.from({ length: r.int(3) }, () => ({ name: word(r), value: word(r) }));
  if (r.chance(0.2)) c.args = ['-c', word(r)];
  if (r.chance(0.2)) c.resources = r.chance(0.5) ? {} : { limits: { cpu: '100m' } };
  return c;
}

/** One random change of a kind's object, through `sub` (undefined: the main resource). */
const MUTATORS: Record<string, ((o: Obj, r: Rng) => void)[]> = {
  common: [
    (o, r) => { o.metadata.labels = r.chance(0.2) ? undefined : { ...o.metadata.labels, [word(r)]: word(r) }; },
    (o, r) => { if (o.metadata.labels) delete o.metadata.labels[r.pick(Object.keys(o.metadata.labels).concat('a'))]; },
    (o, r) => { o.metadata.annotations = r.chance(0.3) ? {} : randomMap(r, r.int(3)); },
    (o, r) => { o.metadata.finalizers = r.chance(0.2) ? [] : Array.from({ length: r.int(3) }, () => `f/${word(r)}`); },
    (o, r) => { o.metadata.ownerReferences = [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: `u${r.int(3)}`, ...(r.chance(0.5) ? { controller: true } : {}) }]; },
    (o) => { delete o.metadata.ownerReferences; },
  ],
  Pod: [
    (o, r) => { o.spec.containers = Array.from({ length: 1 + r.int(3) }, (_, i) => container(r, r.chance(0.05) ? i : r.pick(['web', 'side', 'x<y>', '日本']))); },
    (o, r) => { const c = o.spec.containers?.[0]; if (c) c.image = `img:${r.int(5)}`; },
    (o, r) => { o.spec.nodeName = `node${r.int(3)}`; },
    (o, r) => { o.spec.tolerations = r.chance(0.5) ? [{ key: word(r), operator: 'Exists' }] : undefined; },
    (o, r) => { o.status = { ...o.status, phase: r.pick(['Pending', 'Running', 'Succeeded']) }; },
    (o, r) => { o.status = { ...o.status, conditions: conditions(r, ['PodScheduled', 'Initialized', 'Ready', 'ContainersReady', 'PodReadyToStartContainers']) }; },
    (o, r) => { o.status = { ...o.status, podIP: `10.0.0.${r.int(4)}`, podIPs: Array.from({ length: r.int(3) }, () => ({ ip: `10.0.0.${r.int(3)}` })), hostIPs: [{ ip: '127.0.0.1' }] }; },
    (o, r) => { o.status = { ...o.status, containerStatuses: (o.spec.containers ?? []).map((c: Obj) => ({ name: c.name, ready: r.chance(0.5), restartCount: r.int(2), image: c.image, imageID: '', state: r.chance(0.5) ? { running: { startedAt: '2026-11-27T10:00:00Z' } } : { waiting: { reason: 'ContainerCreating' } }, lastState: {} })) }; },
    (o) => { delete o.status; },
  ],
  Event: [
    (o, r) => { o.reason = r.pick(['Scheduled', 'Pulled', 'Created', 'Started']); o.message = word(r); },
    (o, r) => { o.count = r.int(4); o.lastTimestamp = r.chance(0.5) ? '2026-11-27T10:00:01Z' : null; },
    (o, r) => { o.source = r.chance(0.5) ? { component: 'kubelet', host: `node${r.int(2)}` } : {}; },
    (o, r) => { o.involvedObject = { kind: 'Pod', name: word(r), namespace: 'default', ...(r.chance(0.5) ? { fieldPath: 'spec.containers{web}' } : {}) }; },
    (o, r) => { o.series = r.chance(0.5) ? { count: r.int(3), lastObservedTime: '2026-11-27T10:00:01.000000Z' } : undefined; },
    (o, r) => { o.eventTime = r.chance(0.5) ? null : '2026-11-27T10:00:01.000000Z'; o.reportingComponent = word(r); },
  ],
  Node: [
    (o, r) => { o.status = { ...o.status, conditions: conditions(r, ['Ready', 'MemoryPressure', 'DiskPressure', 'PIDPressure']) }; },
    // Addresses are keyed by type: duplicates happen.
    (o, r) => { o.status = { ...o.status, addresses: Array.from({ length: r.int(4) }, () => ({ type: r.pick(['InternalIP', 'Hostname']), address: `10.0.0.${r.int(3)}` })) }; },
    (o, r) => { o.spec.podCIDR = `10.${r.int(3)}.0.0/24`; o.spec.podCIDRs = [o.spec.podCIDR]; },
    (o, r) => { o.spec.taints = r.chance(0.5) ? [{ key: 'k', effect: r.pick(['NoSchedule', 'NoExecute']) }] : []; },
    (o, r) => { o.status = { ...o.status, capacity: { cpu: String(r.int(8)), pods: '110' }, allocatable: r.chance(0.5) ? {} : { pods: '110' } }; },
  ],
  ConfigMap: [
    (o, r) => { o.data = r.chance(0.1) ? null : { ...o.data, [word(r)]: word(r) }; },
    (o, r) => { if (o.data) delete o.data[r.pick(Object.keys(o.data).concat('a'))]; },
    (o, r) => { o.binaryData = r.chance(0.5) ? { b: 'AAAA' } : undefined; o.immutable = r.chance(0.3) ? false : undefined; },
  ],
  Deployment: [
    (o, r) => { o.spec.replicas = r.int(5); },
    (o, r) => { o.spec.template.spec.containers = [container(r, 'web')]; },
    (o, r) => { o.spec.template.metadata.labels = { app: 'web', [word(r)]: 'x' }; },
    (o, r) => { o.status = { replicas: r.int(3), readyReplicas: r.int(3), observedGeneration: r.int(3), conditions: conditions(r, ['Available', 'Progressing']) }; },
  ],
};

function seedObject(kind: string, r: Rng): Obj {
  const metadata: Obj = { name: 'obj', namespace: 'default', uid: 'uid-1', creationTimestamp: '2026-11-27T10:00:00Z', ...(r.chance(0.5) ? { labels: randomMap(r, 2) } : {}) };
  switch (kind) {
    case 'Pod': return { apiVersion: 'v1', kind, metadata, spec: { containers: [container(r, 'web')] } };
    case 'Event': return { apiVersion: 'v1', kind, metadata, involvedObject: { kind: 'Pod', name: 'p' }, reason: 'Scheduled', message: 'm', type: 'Normal', source: { component: 'default-scheduler' }, firstTimestamp: '2026-11-27T10:00:00Z', count: 1, eventTime: null };
    case 'Node': return { apiVersion: 'v1', kind, metadata: { ...metadata, namespace: undefined }, spec: {} };
    case 'ConfigMap': return { apiVersion: 'v1', kind, metadata, data: randomMap(r, 3) };
    case 'Deployment': return {
      apiVersion: 'apps/v1', kind, metadata,
      spec: { replicas: 1, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [container(r, 'web')] } } },
    };
  }
  throw new Error(kind);
}

const STATUS_KINDS = new Set(['Pod', 'Node', 'Deployment']);
const MANAGERS = ['kubectl', 'kube-controller-manager', 'kubelet', 'kube-scheduler', '', 'x<y>'];

function mutate(kind: string, o: Obj, r: Rng, n: number): void {
  for (let i = 0; i < n; i++) r.pick([...MUTATORS.common!, ...MUTATORS[kind]!])(o, r);
  // JSON, as the registry stores: undefined values are no fields.
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
}

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/** One write by both implementations on copies; asserts equal results and returns the object written. */
function bothRecord(apiVersion: string, kind: string, prev: KObject | undefined, next: KObject, manager: string, sub: string | undefined, what: string): KObject {
  const a = clone(next), b = clone(next);
  refRecordUpdate(apiVersion, kind, prev && clone(prev), a, manager, sub);
  recordUpdate(apiVersion, kind, prev && clone(prev), b, manager, sub);
  assert.equal(JSON.stringify(b), JSON.stringify(a), what);
  return b;
}

const KINDS = ['Pod', 'Event', 'Node', 'ConfigMap', 'Deployment'];

/** Date.now fixed (to several seconds over a run, so that entries sort by time too). */
function withClock<T>(fn: (tick: () => void) => T): T {
  const real = Date.now;
  let now = Date.parse('2026-11-27T10:00:00Z');
  Date.now = () => now;
  try {
    return fn(() => { now += 1000; });
  } finally {
    Date.now = real;
  }
}

describe('field manager: the cheaper write path writes what the previous one wrote', () => {
  test('recordUpdate over random creates, updates, status writes and applies', () => {
    let writes = 0, withEntries = 0, ancient = 0;
    let earlier: unknown;
    withClock((tick) => {
      for (let seed = 1; seed <= 400; seed++) {
        const r = rng(seed);
        const kind = KINDS[seed % KINDS.length]!;
        const apiVersion = kind === 'Deployment' ? 'apps/v1' : 'v1';
        let obj = seedObject(kind, r) as KObject;
        applyDefaults(kind, obj);
        // Sometimes a create carries managedFields of its own (taken from an earlier object).
        if (earlier && r.chance(0.1)) obj.metadata.managedFields = clone(earlier) as never;
        obj = bothRecord(apiVersion, kind, undefined, obj, r.pick(MANAGERS), undefined, `seed ${seed}: create`);
        writes++;
        for (let step = 0; step < 12; step++) {
          if (r.chance(0.3)) tick();
          const sub = STATUS_KINDS.has(kind) && r.chance(0.4) ? 'status' : undefined;
          const what = `seed ${seed} step ${step} (${kind}${sub ? '/status' : ''})`;
          if (r.chance(0.12) && kind !== 'Event') {
            // An apply (both sides share it; takeOwnership is compared on its own below).
            const config = clone(obj) as Obj;
            delete config.metadata.managedFields;
            mutate(kind, config, r, 1);
            try {
              obj = apply(apiVersion, kind, obj, config, r.pick(['kubectl', 'helm']), r.chance(0.5), sub) as KObject;
            } catch {
              // Conflicts and invalid configurations leave the object as it was.
            }
            continue;
          }
          const next = clone(obj) as Obj;
          mutate(kind, next, r, 1 + r.int(3));
          if (r.chance(0.05)) next.metadata.managedFields = r.chance(0.5) ? [] : [{}];
          applyDefaults(kind, next as KObject, obj);
          // Many managers now and then, so that the oldest are merged into "ancient-changes".
          const manager = r.chance(0.3) ? `ctl-${r.int(14)}` : r.pick(MANAGERS);
          obj = bothRecord(apiVersion, kind, obj, next as KObject, manager, sub, what);
          writes++;
          if ((obj.metadata.managedFields?.length ?? 0) > 1) withEntries++;
          if (obj.metadata.managedFields?.some((e) => e.manager === 'ancient-changes')) ancient++;
          if (obj.metadata.managedFields) earlier = obj.metadata.managedFields;
        }
      }
    });
    // The run must have exercised objects with several managers' entries, and the cap on them.
    assert.ok(withEntries > writes / 4, `${withEntries} of ${writes} writes with several entries`);
    assert.ok(ancient > 0, 'no write reached the cap of update managers');
  });

  test('takeOwnership and trackUpdate: same entries, same conflicts, same changed fields', () => {
    withClock((tick) => {
      for (let seed = 1000; seed < 1300; seed++) {
        const r = rng(seed);
        const kind = KINDS[seed % KINDS.length]!;
        const apiVersion = kind === 'Deployment' ? 'apps/v1' : 'v1';
        // A live object with several owners, built by updates of both implementations' shared path.
        let live = seedObject(kind, r) as KObject;
        applyDefaults(kind, live);
        recordUpdate(apiVersion, kind, undefined, live, 'creator');
        for (let i = 0; i < 4; i++) {
          const n = clone(live) as Obj;
          mutate(kind, n, r, 2);
          applyDefaults(kind, n as KObject, live);
          recordUpdate(apiVersion, kind, live, n as KObject, r.pick(MANAGERS), STATUS_KINDS.has(kind) && r.chance(0.3) ? 'status' : undefined);
          live = n as KObject;
          tick();
        }
        const next = clone(live) as Obj;
        mutate(kind, next, r, 1 + r.int(3));
        const sub = STATUS_KINDS.has(kind) && r.chance(0.4) ? 'status' : undefined;
        const ctx = kindContext(apiVersion, kind, sub);
        // The context also carries the reset paths as trees (ignoredTree, untrackedTree): the
        // comparisons below check what the writes made of them.
        const { ignoredTree: _ignoredTree, untrackedTree: _untrackedTree, ...shared } = ctx;
        assert.deepEqual(shared, { ...refKindContext(apiVersion, kind, sub) }, 'kind context');
        const l = withoutManagedFields(live), x = withoutManagedFields(next as KObject);
        const workflow = r.chance(0.5) ? ownerId({ manager: 'kubectl', operation: 'Apply', apiVersion }) : 'current-operation';
        const force = r.chance(0.5);
        const ma = decodeOrEmpty(live.metadata.managedFields), mb = decodeOrEmpty(live.metadata.managedFields);
        let ra: unknown, rb: unknown;
        try {
          const cmp = refTakeOwnership(ctx, l, x, ma, workflow, force);
          ra = { changed: cmp.modified.union(cmp.added).toFieldsV1(), removed: cmp.removed.toFieldsV1() };
        } catch (e) {
          ra = e instanceof ApplyConflicts ? [...e.conflicts].map(([id, c]) => [id, c.set.toFieldsV1()]) : String(e);
        }
        try {
          const ch = takeOwnership(ctx, l, x, mb, workflow, force);
          rb = { changed: ch.changed.toFieldsV1(), removed: ch.removed.toFieldsV1() };
        } catch (e) {
          rb = e instanceof ApplyConflicts ? [...e.conflicts].map(([id, c]) => [id, c.set.toFieldsV1()]) : String(e);
        }
        assert.equal(JSON.stringify(rb), JSON.stringify(ra), `seed ${seed}: takeOwnership`);
        assert.equal(JSON.stringify(encodeManaged(mb)), JSON.stringify(encodeManaged(ma)), `seed ${seed}: owners after takeOwnership`);

        const ta = decodeOrEmpty(live.metadata.managedFields), tb = decodeOrEmpty(live.metadata.managedFields);
        const manager = r.pick(MANAGERS);
        let ea: string, eb: string;
        try {
          refTrackUpdate(ctx, l, x, ta, manager);
          ea = JSON.stringify(encodeManaged(ta));
        } catch (e) {
          ea = String(e);
        }
        try {
          trackUpdate(ctx, l, x, tb, manager);
          eb = JSON.stringify(encodeManaged(tb));
        } catch (e) {
          eb = String(e);
        }
        assert.equal(eb, ea, `seed ${seed}: trackUpdate`);
      }
    });
  });

  test('compare with merged sets: modified and added are their union', () => {
    for (let seed = 2000; seed < 2300; seed++) {
      const r = rng(seed);
      const kind = KINDS[seed % KINDS.length]!;
      const apiVersion = kind === 'Deployment' ? 'apps/v1' : 'v1';
      const a = seedObject(kind, r);
      mutate(kind, a, r, 3);
      const b = clone(a);
      mutate(kind, b, r, 1 + r.int(4));
      const type: TypeRef = typeForKind(apiVersion, kind);
      for (const [lhs, rhs] of [[a, b], [zeroObject(apiVersion, kind), b], [a, undefined], [undefined, b]] as const) {
        let separate: string, merged: string;
        try {
          const c = compare(type, lhs, rhs);
          separate = JSON.stringify([c.modified.union(c.added).toFieldsV1(), c.removed.toFieldsV1()]);
        } catch (e) {
          separate = String(e);
        }
        try {
          const c = compare(type, lhs, rhs, true);
          assert.equal(c.modified, c.added);
          merged = JSON.stringify([c.added.toFieldsV1(), c.removed.toFieldsV1()]);
        } catch (e) {
          merged = String(e);
        }
        assert.equal(merged, separate, `seed ${seed}`);
      }
    }
  });

  test('shared manager identifiers and single-string-key elements equal freshly made ones', () => {
    const r = rng(7);
    for (let i = 0; i < 500; i++) {
      const o = { manager: word(r), operation: r.pick(['Apply', 'Update'] as const), apiVersion: r.pick(['v1', 'apps/v1', 'x']), subresource: r.pick([undefined, '', 'status', 'scale']) };
      assert.equal(ownerId(o), refOwnerId(o));
      assert.equal(ownerId(o), refOwnerId(o), 'again, from the cache');
      const name = r.pick(['name', 'type', 'ip', 'key']), value = word(r);
      assert.deepEqual(stringKeyPE(name, value), keyPE([[name, value]]));
    }
    // listItemPE of a one-key list: string keys shared, other values and defaults as before.
    const podType = typeForKind('v1', 'Pod');
    const containers = podType.atom.map!.fields.get('spec')!.type.atom.map!.fields.get('containers')!.type.atom.list!;
    assert.deepEqual(containers.keys, ['name']);
    for (const item of [{ name: 'web' }, { name: 'x<y>&\u2028' }, { name: 7 }, { name: null }, { name: { a: 1 } }, {}, { image: 'x' }]) {
      const pe = listItemPE(containers, item);
      const fresh = Object.prototype.hasOwnProperty.call(item, 'name') ? keyPE([['name', (item as Obj).name]]) : pe;
      assert.deepEqual(pe, fresh, JSON.stringify(item));
    }
    assert.equal(listItemPE(containers, { name: 'web' }), listItemPE(containers, { name: 'web' }), 'shared');
  });
});
