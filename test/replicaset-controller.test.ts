// The ReplicaSet controller against a real server, driven through the API and the real kubectl:
// pod naming and ownership, scale (subresource), deletion ranking, adoption and release,
// terminating and finished pods, readiness and availability, expectations, slow start,
// FailedCreate and the ReplicaFailure condition, and the events `kubectl describe` shows.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import YAML from 'yaml';
import { startCluster, tempFile, type Cluster } from './helpers/cluster.js';
import { runControllers, getJSON, call, bindPod, setPodStatus, listPods, type RunningControllers } from './helpers/run-controllers.js';
import { until, sleep } from './helpers/wait.js';
import { ReplicaSetController } from '../src/controllers/replicaset.js';
import { ControllerExpectations, EXPECTATIONS_TIMEOUT_MS } from '../src/controllers/expectations.js';
import { rankPodsForDeletion } from '../src/controllers/pods.js';
import { ReplicaSetPods, tallySignature } from '../src/controllers/replicaset-pods.js';
import { labelSelectorFromSpec } from '../src/api/selectors.js';
import { ApiStatusError, RestClient, type Query, type WatchEvent, type WatchHandle } from '../src/client/rest.js';

const NAME_SUFFIX = /^[bcdfghjklmnpqrstvwxz2456789]{5}$/;

function rs(name: string, replicas: number, labels: Record<string, string>, extra: { minReadySeconds?: number; annotations?: Record<string, string> } = {}) {
  return {
    apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name },
    spec: {
      replicas, selector: { matchLabels: labels }, ...(extra.minReadySeconds ? { minReadySeconds: extra.minReadySeconds } : {}),
      template: {
        metadata: { labels: { ...labels, tier: 'web' }, ...(extra.annotations ? { annotations: extra.annotations } : {}) },
        spec: { containers: [{ name: 'c', image: 'nginx:1.27' }] },
      },
    },
  };
}

const apply = (c: Cluster, obj: unknown, ns = 'default') => c.k('apply', '-n', ns, '-f', tempFile('obj.yaml', YAML.stringify(obj)));
const rsPath = (ns: string, name: string) => `/apis/apps/v1/namespaces/${ns}/replicasets/${name}`;
const owned = (pods: any[], uid: string) => pods.filter((p) => p.metadata.ownerReferences?.some((r: any) => r.uid === uid && r.controller));
const active = (pods: any[]) => pods.filter((p) => !p.metadata.deletionTimestamp && !['Succeeded', 'Failed'].includes(p.status?.phase));

describe('expectations and ranking (units)', () => {
  test('expectations: satisfied once observed, deletions counted once per pod, expiry', () => {
    let now = 0;
    const e = new ControllerExpectations(() => now);
    assert.equal(e.satisfied('ns/a'), true);
    e.expectCreations('ns/a', 2);
    assert.equal(e.satisfied('ns/a'), false);
    e.creationObserved('ns/a');
    assert.equal(e.satisfied('ns/a'), false);
    e.creationObserved('ns/a');
    assert.equal(e.satisfied('ns/a'), true);
    e.expectDeletions('ns/a', ['ns/p1', 'ns/p2']);
    e.deletionObserved('ns/a', 'ns/p1');
    e.deletionObserved('ns/a', 'ns/p1');
    e.deletionObserved('ns/a', 'ns/other');
    assert.deepEqual(e.pending('ns/a'), { add: 0, del: 1 });
    now = EXPECTATIONS_TIMEOUT_MS + 1;
    assert.equal(e.satisfied('ns/a'), true);
  });

  test('deletion ranking follows upstream ActivePodsWithRanks', () => {
    const now = Date.parse('2025-01-01T01:00:00Z');
    const pod = (name: string, o: { node?: string; phase?: string; ready?: string; cost?: string; restarts?: number; created?: string }) => ({
      metadata: { name, uid: name, creationTimestamp: o.created ?? '2025-01-01T00:00:00Z', annotations: o.cost ? { 'controller.kubernetes.io/pod-deletion-cost': o.cost } : undefined },
      spec: { nodeName: o.node, containers: [] },
      status: { phase: o.phase ?? 'Pending', conditions: o.ready ? [{ type: 'Ready', status: 'True', lastTransitionTime: o.ready }] : [], containerStatuses: [{ name: 'c', restartCount: o.restarts ?? 0 }] },
    });
    const pods = [
      pod('ready-old', { node: 'n1', phase: 'Running', ready: '2025-01-01T00:00:00Z' }),
      pod('ready-new', { node: 'n2', phase: 'Running', ready: '2025-01-01T00:59:59Z' }),
      pod('running', { node: 'n1', phase: 'Running' }),
      pod('pending-scheduled', { node: 'n1' }),
      pod('unscheduled', {}),
      pod('ready-costly', { node: 'n3', phase: 'Running', ready: '2025-01-01T00:59:59Z', cost: '100' }),
      pod('ready-restarted', { node: 'n4', phase: 'Running', ready: '2025-01-01T00:00:00Z', restarts: 3 }),
    ];
    const order = rankPodsForDeletion(pods as any, pods as any, now).map((p) => p.metadata!.name);
    // n1 has 3 related pods, so its ready pod ranks before the other ready ones despite its age.
    assert.deepEqual(order, ['unscheduled', 'pending-scheduled', 'running', 'ready-old', 'ready-new', 'ready-restarted', 'ready-costly']);
  });
});

describe('kept pod counts (units)', () => {
  const set = { apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'k', namespace: 'ns', uid: 'rs-uid' },
    spec: { replicas: 3, minReadySeconds: 10, selector: { matchLabels: { app: 'k' } }, template: { metadata: { labels: { app: 'k', tier: 'web' } } } } };
  const ref = (uid: string) => [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'k', uid, controller: true }];
  type P = { metadata: any; status: any };
  const pod = (name: string, o: { uid?: string; ns?: string; labels?: Record<string, string>; phase?: string; readySince?: number; deleting?: boolean }): P => ({
    metadata: { name, namespace: o.ns ?? 'ns', labels: o.labels ?? { app: 'k', tier: 'web' }, ownerReferences: o.uid === '' ? undefined : ref(o.uid ?? 'rs-uid'),
      ...(o.deleting ? { deletionTimestamp: '2025-01-01T00:00:00Z' } : {}) },
    status: { phase: o.phase ?? 'Running', conditions: o.readySince === undefined ? [] : [{ type: 'Ready', status: 'True', lastTransitionTime: new Date(o.readySince).toISOString() }] },
  });
  const selector = labelSelectorFromSpec(set.spec.selector)!;

  test('classification and counts as calculateStatus counts, availability with time alone', () => {
    const t0 = Date.parse('2025-01-01T00:00:00Z');
    const cache = new Map<string, P>([
      ['ns/ready', pod('ready', { readySince: t0 })],
      ['ns/fresh', pod('fresh', { readySince: t0 + 5000 })],
      ['ns/partial', pod('partial', { labels: { app: 'k' } })],
      ['ns/mismatch', pod('mismatch', { labels: { app: 'other' } })],
      ['ns/done', pod('done', { phase: 'Succeeded', readySince: t0 })],
      ['ns/going', pod('going', { deleting: true, readySince: t0 })],
      ['other/elsewhere', pod('elsewhere', { ns: 'other' })],
    ]);
    const kept = new ReplicaSetPods(tallySignature(set as any), set as any, selector, cache.values() as any, t0 + 12_000);
    assert.deepEqual(kept.snapshot(), { claimed: 3, fullyLabeled: 2, ready: 2, available: 1 });
    assert.deepEqual([...kept.releaseKeys()], ['ns/mismatch']);
    assert.deepEqual([...kept.claimedKeys()].sort(), ['ns/fresh', 'ns/partial', 'ns/ready']);
    // No event: 'fresh' becomes available as time passes.
    kept.refresh((k) => cache.get(k) as any, t0 + 16_000);
    assert.deepEqual(kept.snapshot(), { claimed: 3, fullyLabeled: 2, ready: 2, available: 2 });
    // Relabelled to match, released elsewhere, deleted: only marked keys are re-read.
    cache.set('ns/mismatch', pod('mismatch', {}));
    cache.set('ns/ready', pod('ready', { uid: 'someone-else', readySince: t0 }));
    cache.delete('ns/partial');
    for (const k of ['ns/mismatch', 'ns/ready', 'ns/partial']) kept.markDirty(k);
    kept.refresh((k) => cache.get(k) as any, t0 + 16_000);
    assert.deepEqual(kept.snapshot(), { claimed: 2, fullyLabeled: 2, ready: 1, available: 1 });
    assert.deepEqual([...kept.releaseKeys()], []);
  });

  test('random changes: kept counts always equal a full recount', () => {
    let seed = 42;
    const rand = (n: number) => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n; };
    const t0 = Date.parse('2025-01-01T00:00:00Z');
    const cache = new Map<string, P>();
    const kept = new ReplicaSetPods(tallySignature(set as any), set as any, selector, [], t0);
    for (let step = 0; step < 3000; step++) {
      const now = t0 + step * 100;
      const name = `p${rand(40)}`, key = `ns/${name}`;
      if (rand(5) === 0) cache.delete(key);
      else {
        cache.set(key, pod(name, {
          uid: ['rs-uid', 'rs-uid', 'rs-uid', 'other', ''][rand(5)], ns: rand(10) ? 'ns' : 'other',
          labels: [{ app: 'k', tier: 'web' }, { app: 'k' }, { app: 'x' }][rand(3)], phase: ['Running', 'Pending', 'Failed'][rand(3)],
          readySince: rand(2) ? now - rand(20_000) : undefined, deleting: rand(8) === 0,
        }));
      }
      kept.markDirty(key);
      if (rand(4) === 0) {
        kept.refresh((k) => cache.get(k) as any, now);
        const full = new ReplicaSetPods(tallySignature(set as any), set as any, selector, [...cache.values()].filter((p) => p.metadata.namespace === 'ns' || rand(2)) as any, now);
        // Pods outside the namespace never count, whether the walk saw them or not.
        assert.deepEqual(kept.snapshot(), full.snapshot(), `step ${step}`);
        assert.deepEqual([...kept.releaseKeys()].sort(), [...full.releaseKeys()].sort(), `step ${step}`);
      }
    }
  });
});

describe('ReplicaSet controller', () => {
  let c: Cluster;
  let ctl: RunningControllers;
  before(async () => {
    c = await startCluster();
    ctl = await runControllers(c, (ctx) => [new ReplicaSetController(ctx)]);
  });
  after(async () => { ctl?.stop(); await c?.cleanup(); });

  test('creates pods from the template: generateName, labels, annotations, controller reference; status; events', async () => {
    await apply(c, rs('web', 3, { app: 'web' }, { annotations: { note: 'from-template' } }));
    const obj = await getJSON(c, rsPath('default', 'web'));
    const pods = await until(async () => { const p = owned(await listPods(c, 'default', 'app=web'), obj.metadata.uid); return p.length === 3 && p; }, '3 pods');
    for (const p of pods) {
      assert.ok(p.metadata.name.startsWith('web-'), p.metadata.name);
      assert.match(p.metadata.name.slice(4), NAME_SUFFIX);
      assert.equal(p.metadata.generateName, 'web-');
      assert.deepEqual(p.metadata.labels, { app: 'web', tier: 'web' });
      assert.deepEqual(p.metadata.annotations, { note: 'from-template' });
      assert.deepEqual(p.metadata.ownerReferences, [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web', uid: obj.metadata.uid, controller: true, blockOwnerDeletion: true }]);
      assert.equal(p.spec.containers[0].image, 'nginx:1.27');
    }
    const status = await until(async () => { const s = (await getJSON(c, rsPath('default', 'web'))).status; return s?.replicas === 3 && s.fullyLabeledReplicas === 3 && s; }, 'status');
    assert.deepEqual(status, { replicas: 3, fullyLabeledReplicas: 3, observedGeneration: 1 });
    assert.equal(await c.k('get', 'rs', 'web', '-o', 'jsonpath={.status.replicas}/{.status.readyReplicas}'), '3/');

    const describe = await until(async () => { const d = await c.k('describe', 'rs', 'web'); return (d.match(/SuccessfulCreate/g) ?? []).length === 3 && d; }, 'events in describe');
    for (const p of pods) assert.match(describe, new RegExp(`Normal\\s+SuccessfulCreate\\s+.+?\\s+replicaset-controller\\s+Created pod: ${p.metadata.name}\\n`));
    assert.match(describe, /Replicas:\s+3 current \/ 3 desired/);
    const events = await getJSON(c, '/api/v1/namespaces/default/events?fieldSelector=reason%3DSuccessfulCreate');
    const ev = events.items.find((e: any) => e.message === `Created pod: ${pods[0].metadata.name}`);
    assert.deepEqual(ev.involvedObject, { kind: 'ReplicaSet', namespace: 'default', name: 'web', uid: obj.metadata.uid, apiVersion: 'apps/v1', resourceVersion: ev.involvedObject.resourceVersion });
    assert.deepEqual(ev.source, { component: 'replicaset-controller' });
    assert.equal(ev.type, 'Normal');
  });

  test('kubectl scale rs: up and down, with SuccessfulDelete events', async () => {
    const uid = (await getJSON(c, rsPath('default', 'web'))).metadata.uid;
    assert.equal(await c.k('scale', 'rs', 'web', '--replicas=5'), 'replicaset.apps/web scaled\n');
    await until(async () => owned(await listPods(c, 'default', 'app=web'), uid).length === 5, '5 pods');
    assert.equal(await c.k('scale', 'rs', 'web', '--replicas=1'), 'replicaset.apps/web scaled\n');
    await until(async () => owned(await listPods(c, 'default', 'app=web'), uid).length === 1, '1 pod');
    const s = await until(async () => { const s = (await getJSON(c, rsPath('default', 'web'))).status; return s.replicas === 1 && s; }, 'status 1');
    assert.equal(s.observedGeneration, (await getJSON(c, rsPath('default', 'web'))).metadata.generation);
    const d = await until(async () => { const d = await c.k('describe', 'rs', 'web'); return (d.match(/SuccessfulDelete/g) ?? []).length === 4 && d; }, 'delete events');
    assert.match(d, /Normal\s+SuccessfulDelete\s+.+?\s+replicaset-controller\s+Deleted pod: web-[bcdfghjklmnpqrstvwxz2456789]{5}\n/);
    await c.k('scale', 'rs', 'web', '--replicas=0');
    await until(async () => owned(await listPods(c, 'default', 'app=web'), uid).length === 0, 'no pods');
  });

  test('scale-down deletes unscheduled before scheduled, pending before running, not ready before ready; terminating pods do not count', async () => {
    await apply(c, rs('rank', 4, { app: 'rank' }));
    const uid = (await getJSON(c, rsPath('default', 'rank'))).metadata.uid;
    const pods = await until(async () => { const p = owned(await listPods(c, 'default', 'app=rank'), uid); return p.length === 4 && p; }, '4 pods');
    const [unscheduled, pending, running, ready] = pods.map((p) => p.metadata.name);
    for (const n of [pending, running, ready]) await bindPod(c, 'default', n, 'node01');
    await setPodStatus(c, 'default', running, 'Running', false);
    await setPodStatus(c, 'default', ready, 'Running', true);
    await until(async () => (await getJSON(c, rsPath('default', 'rank'))).status.readyReplicas === 1, 'readyReplicas 1');

    const remaining = async () => active(owned(await listPods(c, 'default', 'app=rank'), uid)).map((p) => p.metadata.name).sort();
    await c.k('scale', 'rs', 'rank', '--replicas=3');
    await until(async () => (await remaining()).join() === [pending, running, ready].sort().join(), 'unscheduled deleted first');
    // The unscheduled pod is gone at once; scheduled ones wait for their kubelet (Terminating).
    assert.equal(await getJSON(c, `/api/v1/namespaces/default/pods/${unscheduled}`), undefined);
    await c.k('scale', 'rs', 'rank', '--replicas=2');
    await until(async () => (await remaining()).join() === [running, ready].sort().join(), 'pending deleted next');
    const terminating = await getJSON(c, `/api/v1/namespaces/default/pods/${pending}`);
    assert.ok(terminating.metadata.deletionTimestamp, 'scheduled pod terminates gracefully');
    await c.k('scale', 'rs', 'rank', '--replicas=1');
    await until(async () => (await remaining()).join() === ready, 'not-ready deleted before ready');
    const status = await until(async () => { const s = (await getJSON(c, rsPath('default', 'rank'))).status; return s.replicas === 1 && s; }, 'status counts only active pods');
    assert.equal(status.readyReplicas, 1);
    // Two pods still exist, terminating; the ReplicaSet does not count them.
    assert.equal(owned(await listPods(c, 'default', 'app=rank'), uid).length, 3);
  });

  test('a pod that starts terminating or finishes is replaced at once', async () => {
    await apply(c, rs('repl', 2, { app: 'repl' }));
    const uid = (await getJSON(c, rsPath('default', 'repl'))).metadata.uid;
    const pods = await until(async () => { const p = owned(await listPods(c, 'default', 'app=repl'), uid); return p.length === 2 && p; }, '2 pods');
    await bindPod(c, 'default', pods[0].metadata.name, 'node01');
    await call(c, 'DELETE', `/api/v1/namespaces/default/pods/${pods[0].metadata.name}`);
    await setPodStatus(c, 'default', pods[1].metadata.name, 'Failed', false);
    const all = await until(async () => { const p = owned(await listPods(c, 'default', 'app=repl'), uid); return active(p).length === 2 && p; }, 'two replacements');
    assert.equal(all.length, 4);
    assert.ok(all.find((p) => p.metadata.name === pods[0].metadata.name).metadata.deletionTimestamp);
    assert.equal(all.find((p) => p.metadata.name === pods[1].metadata.name).status.phase, 'Failed');
    await until(async () => (await getJSON(c, rsPath('default', 'repl'))).status.replicas === 2, 'status 2');
  });

  test('readyReplicas and availableReplicas honour minReadySeconds', async () => {
    // Long enough that a controller lagging under load still writes readyReplicas before availableReplicas.
    await apply(c, rs('avail', 2, { app: 'avail' }, { minReadySeconds: 10 }));
    const uid = (await getJSON(c, rsPath('default', 'avail'))).metadata.uid;
    const pods = await until(async () => { const p = owned(await listPods(c, 'default', 'app=avail'), uid); return p.length === 2 && p; }, '2 pods');
    for (const p of pods) {
      await bindPod(c, 'default', p.metadata.name, 'node02');
      await setPodStatus(c, 'default', p.metadata.name, 'Running', true);
    }
    const ready = await until(async () => { const s = (await getJSON(c, rsPath('default', 'avail'))).status; return s.readyReplicas === 2 && s; }, 'ready 2');
    assert.equal(ready.availableReplicas, undefined, 'not available before minReadySeconds');
    // No event arrives after the pods became ready: the controller requeues itself.
    await until(async () => (await getJSON(c, rsPath('default', 'avail'))).status.availableReplicas === 2, 'available 2');
  });

  test('adopts matching orphans and releases pods that stop matching', async () => {
    await call(c, 'POST', '/api/v1/namespaces/default/pods', { metadata: { name: 'orphan', labels: { app: 'adopt', tier: 'web' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } });
    await apply(c, rs('adopt', 2, { app: 'adopt' }));
    const uid = (await getJSON(c, rsPath('default', 'adopt'))).metadata.uid;
    const pods = await until(async () => { const p = owned(await listPods(c, 'default', 'app=adopt'), uid); return p.length === 2 && p; }, 'adopted + 1 created');
    const orphan = pods.find((p) => p.metadata.name === 'orphan');
    assert.deepEqual(orphan.metadata.ownerReferences, [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'adopt', uid, controller: true, blockOwnerDeletion: true }]);
    const created = pods.find((p) => p.metadata.name !== 'orphan').metadata.name;

    assert.equal(await c.k('label', 'pod', created, 'app=elsewhere', '--overwrite'), `pod/${created} labeled\n`);
    const released = await until(async () => { const p = await getJSON(c, `/api/v1/namespaces/default/pods/${created}`); return !p.metadata.ownerReferences?.length && p; }, 'release');
    assert.deepEqual(released.metadata.ownerReferences ?? [], []);
    await until(async () => owned(await listPods(c, 'default', 'app=adopt'), uid).length === 2, 'replacement');
    // The released pod is left alone.
    assert.ok(await getJSON(c, `/api/v1/namespaces/default/pods/${created}`));
  });
});

/** A client whose pod watch events arrive late (the controller's cache is stale for a while) and that counts pod writes. */
class LaggingClient extends RestClient {
  creates = 0;
  deletes = 0;
  override watch<T = unknown>(path: string, query: Query, onEvent: (e: WatchEvent<T>) => void): WatchHandle {
    if (!path.endsWith('/pods')) return super.watch(path, query, onEvent);
    return super.watch<T>(path, query, (e) => { setTimeout(() => onEvent(e), 400); });
  }
  override create<T = unknown>(path: string, body: unknown, query?: Query): Promise<T> {
    if (path.endsWith('/pods')) this.creates++;
    return super.create(path, body, query);
  }
  override delete<T = unknown>(path: string, options?: Record<string, unknown>, query?: Query): Promise<T> {
    if (path.includes('/pods/')) this.deletes++;
    return super.delete(path, options, query);
  }
}

/** A client that can fail pod creations (as a quota would) and records when creations start. */
class FaultyClient extends RestClient {
  failCreates = false;
  starts: number[] = [];
  override async create<T = unknown>(path: string, body: unknown, query?: Query): Promise<T> {
    if (!path.endsWith('/pods')) return super.create(path, body, query);
    this.starts.push(Date.now());
    if (this.failCreates) {
      throw new ApiStatusError({ kind: 'Status', code: 403, reason: 'Forbidden', status: 'Failure',
        message: 'pods "slow-" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=3, limited: pods=3' });
    }
    // Hold each creation so that the batches are apart in time.
    await sleep(150);
    return super.create(path, body, query);
  }
}

describe('ReplicaSet controller with a stale or failing API', () => {
  let c: Cluster;
  before(async () => { c = await startCluster(); });
  after(async () => { await c?.cleanup(); });

  test('expectations: a stale pod cache never causes extra creations', async () => {
    const base = await RestClient.fromKubeconfig(c.kubeconfig);
    const lagging = new LaggingClient(base.config);
    base.close();
    const ctl = await runControllers(c, (ctx) => [new ReplicaSetController(ctx)], { client: lagging });
    try {
      await apply(c, rs('stale', 20, { app: 'stale' }));
      const uid = (await getJSON(c, rsPath('default', 'stale'))).metadata.uid;
      await until(async () => (await getJSON(c, rsPath('default', 'stale'))).status?.replicas === 20, 'status 20');
      // The ReplicaSet's own status writes resync it while the pod events lag; so does this.
      await c.k('annotate', 'rs', 'stale', 'poke=1');
      await sleep(1000);
      assert.equal(owned(await listPods(c, 'default', 'app=stale'), uid).length, 20);
      assert.deepEqual({ creates: lagging.creates, deletes: lagging.deletes }, { creates: 20, deletes: 0 });
      await c.k('scale', 'rs', 'stale', '--replicas=5');
      await until(async () => (await getJSON(c, rsPath('default', 'stale'))).status?.replicas === 5, 'status 5');
      await c.k('annotate', 'rs', 'stale', 'poke=2', '--overwrite');
      await sleep(1000);
      assert.equal(active(owned(await listPods(c, 'default', 'app=stale'), uid)).length, 5);
      assert.deepEqual({ creates: lagging.creates, deletes: lagging.deletes }, { creates: 20, deletes: 15 });
    } finally {
      ctl.stop();
    }
  });

  test('slow start, FailedCreate events and the ReplicaFailure condition', async () => {
    const base = await RestClient.fromKubeconfig(c.kubeconfig);
    const faulty = new FaultyClient(base.config);
    base.close();
    faulty.failCreates = true;
    const ctl = await runControllers(c, (ctx) => [new ReplicaSetController(ctx)], { client: faulty });
    try {
      await apply(c, rs('slow', 10, { app: 'slow' }));
      const cond = await until(async () => (await getJSON(c, rsPath('default', 'slow'))).status?.conditions?.[0], 'ReplicaFailure condition');
      assert.equal(cond.type, 'ReplicaFailure');
      assert.equal(cond.status, 'True');
      assert.equal(cond.reason, 'FailedCreate');
      assert.equal(cond.message, 'pods "slow-" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=3, limited: pods=3');
      const d = await until(async () => { const d = await c.k('describe', 'rs', 'slow'); return /FailedCreate/.test(d) && d; }, 'FailedCreate event');
      assert.match(d, /Warning\s+FailedCreate\s+.+?\s+replicaset-controller\s+Error creating: pods "slow-" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=3, limited: pods=3\n/);
      assert.match(d, /ReplicaFailure\s+True\s+FailedCreate/);
      // Each failing sync tried one creation only (the first slow-start batch).
      const failedAttempts = faulty.starts.length;
      assert.ok(failedAttempts >= 1);

      faulty.starts = [];
      faulty.failCreates = false;
      const uid = (await getJSON(c, rsPath('default', 'slow'))).metadata.uid;
      await until(async () => owned(await listPods(c, 'default', 'app=slow'), uid).length === 10, '10 pods');
      const status = await until(async () => { const s = (await getJSON(c, rsPath('default', 'slow'))).status; return s.replicas === 10 && s; }, 'status 10');
      assert.equal(status.conditions, undefined, 'ReplicaFailure removed once creations succeed');
      // Batches of 1, 2, 4 and the remaining 3, each started together and after the previous one.
      const batches: number[] = [];
      let last = -Infinity;
      for (const t of faulty.starts) {
        if (t - last > 75) batches.push(0);
        batches[batches.length - 1]++;
        last = t;
      }
      assert.deepEqual(batches, [1, 2, 4, 3]);
    } finally {
      ctl.stop();
    }
  });
});
