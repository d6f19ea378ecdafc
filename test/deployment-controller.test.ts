// The Deployment controller against a real server, driven and checked through the API and the
// real kubectl: ReplicaSet naming and ownership, RollingUpdate within maxSurge/maxUnavailable at
// every step, Recreate, pause/resume, proportional scaling, undo, restart, history and its
// cleanup, hash collisions, status and conditions, `kubectl rollout status/history`, events, and
// a controller restart in the middle of a rollout. The ReplicaSet controller is simulated by
// FakeReplicaSets below, which lets pods become available one step at a time.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { PodTemplateSpec } from 'kubernetes-types/core/v1.js';
import { startCluster, type Cluster } from './helpers/cluster.js';
import { RestClient } from '../src/client/rest.js';
import { controllerContext, type ControllerContext } from '../src/client/factory.js';
import { startController } from '../src/client/controller.js';
import type { Informer } from '../src/client/informer.js';
import { DeploymentController } from '../src/controllers/deployment.js';
import {
  type DeploymentObject, type ReplicaSetObject,
  podTemplateHash, equalIgnoreHash, resolveFenceposts, setCondition, newCondition, proportion, safeEncodeString,
  setNewReplicaSetAnnotations, lastRevision,
} from '../src/controllers/deployment-util.js';

// ---- unit tests of the pure parts ---------------------------------------------------------------

const template = (image: string, labels: Record<string, string> = { app: 'web' }): PodTemplateSpec => ({
  metadata: { labels },
  spec: { containers: [{ name: 'web', image, imagePullPolicy: 'IfNotPresent', terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File', resources: {} }], restartPolicy: 'Always', dnsPolicy: 'ClusterFirst', schedulerName: 'default-scheduler', securityContext: {}, terminationGracePeriodSeconds: 30 },
});

describe('pod-template-hash', () => {
  test('is stable: the same template always gives the same value', () => {
    // Pinned: a change here changes every ReplicaSet name of existing Deployments.
    assert.equal(podTemplateHash(template('nginx:1.25')), '795486f766');
    assert.equal(podTemplateHash(template('nginx:1.25')), podTemplateHash(structuredClone(template('nginx:1.25'))));
  });

  test('does not depend on key order, empty values or the hash label', () => {
    const t = template('nginx:1.25');
    const reordered: PodTemplateSpec = { spec: t.spec, metadata: { labels: { app: 'web', 'pod-template-hash': 'xyz' }, annotations: {} } };
    assert.equal(podTemplateHash(reordered), podTemplateHash(t));
    assert.ok(equalIgnoreHash(reordered, t));
  });

  test('changes with the template and with collisionCount', () => {
    const base = podTemplateHash(template('nginx:1.25'));
    assert.notEqual(podTemplateHash(template('nginx:1.26')), base);
    assert.notEqual(podTemplateHash(template('nginx:1.25', { app: 'web', tier: 'fe' })), base);
    const c0 = podTemplateHash(template('nginx:1.25'), 0);
    const c1 = podTemplateHash(template('nginx:1.25'), 1);
    assert.notEqual(c0, base, 'a collisionCount of 0 is still hashed (a pointer to 0 is not nil)');
    assert.notEqual(c1, c0);
    assert.ok(!equalIgnoreHash(template('nginx:1.25'), template('nginx:1.26')));
  });

  test('has upstream form: decimal digits of a uint32 mapped onto the safe alphabet', () => {
    assert.equal(safeEncodeString('0123456789'), '456789bcdf');
    // Upstream examples (semantics doc §6.1).
    assert.equal(safeEncodeString('3757792159'), '7c9ccf659f');
    assert.equal(safeEncodeString('210549776'), '65498fccb');
    for (const image of ['a', 'b', 'nginx', 'redis:7', 'x'.repeat(100)]) {
      assert.match(podTemplateHash(template(image)), /^[456789bcdf]{1,10}$/);
    }
  });
});

describe('deployment utilities', () => {
  test('maxSurge rounds up, maxUnavailable down, both 0 means unavailable 1', () => {
    assert.deepEqual(resolveFenceposts('25%', '25%', 1), { surge: 1, unavailable: 0 });
    assert.deepEqual(resolveFenceposts('25%', '25%', 4), { surge: 1, unavailable: 1 });
    assert.deepEqual(resolveFenceposts('25%', '25%', 10), { surge: 3, unavailable: 2 });
    assert.deepEqual(resolveFenceposts('10%', '10%', 5), { surge: 1, unavailable: 0 });
    assert.deepEqual(resolveFenceposts(0, '10%', 5), { surge: 0, unavailable: 1 });
    assert.deepEqual(resolveFenceposts(2, 3, 10), { surge: 2, unavailable: 3 });
  });

  test('setCondition keeps the transition time when only the reason changes, and moves the condition last', () => {
    const status = {};
    setCondition(status, newCondition('Progressing', 'True', 'NewReplicaSetCreated', 'a', Date.parse('2024-01-01T00:00:00Z')));
    setCondition(status, newCondition('Available', 'False', 'MinimumReplicasUnavailable', 'b', Date.parse('2024-01-01T00:00:01Z')));
    setCondition(status, newCondition('Progressing', 'True', 'ReplicaSetUpdated', 'c', Date.parse('2024-01-01T00:00:02Z')));
    const s = status as { conditions: { type: string; reason: string; lastTransitionTime: string; lastUpdateTime: string }[] };
    assert.deepEqual(s.conditions.map((c) => c.type), ['Available', 'Progressing']);
    assert.equal(s.conditions[1].lastTransitionTime, '2024-01-01T00:00:00Z');
    assert.equal(s.conditions[1].lastUpdateTime, '2024-01-01T00:00:02Z');
    // Same status and reason: nothing changes, not even the message.
    setCondition(status, newCondition('Progressing', 'True', 'ReplicaSetUpdated', 'd', Date.parse('2024-01-01T00:00:03Z')));
    assert.equal(s.conditions[1].lastUpdateTime, '2024-01-01T00:00:02Z');
  });

  test('proportions of a scaling event follow the max-replicas annotation', () => {
    const d = { metadata: {}, spec: { replicas: 20, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 3, maxUnavailable: 2 } } } } as never;
    const rs = (n: number) => ({ metadata: { annotations: { 'deployment.kubernetes.io/max-replicas': '13' } }, spec: { replicas: n } }) as never;
    // 8 of 13 → round(8·23/13) = 14: +6; then 5 of 13 → round(5·23/13) = 9: +4 (within the 10 to add).
    assert.equal(proportion(rs(8), d, 10, 0), 6);
    assert.equal(proportion(rs(5), d, 10, 6), 4);
  });

  test('a ReplicaSet that comes back gets the next revision and remembers its old one', () => {
    const d = { metadata: { annotations: { 'kubernetes.io/change-cause': 'v1', 'kubectl.kubernetes.io/last-applied-configuration': '{}' } }, spec: { replicas: 3, strategy: { type: 'Recreate' } } } as never;
    const rs = { metadata: { annotations: { 'deployment.kubernetes.io/revision': '1' } }, spec: { replicas: 0 } } as unknown as ReplicaSetObject;
    assert.ok(setNewReplicaSetAnnotations(d, rs, '3', true));
    assert.deepEqual(rs.metadata.annotations, { 'deployment.kubernetes.io/revision': '3', 'deployment.kubernetes.io/revision-history': '1', 'kubernetes.io/change-cause': 'v1' });
    assert.ok(!setNewReplicaSetAnnotations(d, rs, '3', true));
    assert.equal(lastRevision([rs, { metadata: { annotations: { 'deployment.kubernetes.io/revision': '2' } }, spec: { replicas: 0 } } as unknown as ReplicaSetObject]), 2);
  });
});

// ---- a simulated ReplicaSet controller ---------------------------------------------------------------

interface SimSet {
  owner?: string;
  name: string;
  namespace: string;
  /** Pods that exist (status.replicas). */
  total: number;
  available: number;
  /** Pods of a template with a `broken` image never become available. */
  broken: boolean;
  written?: string;
}

interface Invariant {
  owner: string;
  maxTotal: number;
  minAvailable: number;
  steps: number;
  violations: string[];
}

/**
 * Writes ReplicaSet status as the ReplicaSet controller would, with pods reduced to counts:
 * pods appear as soon as spec.replicas grows and go (unavailable ones first) as soon as it
 * shrinks; in auto mode they are available at once, otherwise one per tick(). Invariants over a
 * Deployment's ReplicaSets are checked on every change.
 */
class FakeReplicaSets {
  auto = true;
  readonly sets = new Map<string, SimSet>();
  private readonly chains = new Map<string, Promise<void>>();
  private readonly invariants: Invariant[] = [];

  constructor(private readonly client: RestClient, private readonly inf: Informer<ReplicaSetObject>) {}

  async start(): Promise<void> {
    this.inf.on({
      add: (rs) => this.observe(rs),
      update: (_old, rs) => this.observe(rs),
      delete: (rs) => { this.sets.delete(rs.metadata.uid!); },
    });
    await this.inf.start();
    for (const rs of this.inf.list()) this.observe(rs);
  }

  private observe(rs: ReplicaSetObject): void {
    const uid = rs.metadata.uid!;
    let s = this.sets.get(uid);
    if (!s) {
      s = {
        owner: rs.metadata.ownerReferences?.find((r) => r.controller)?.uid, name: rs.metadata.name!, namespace: rs.metadata.namespace!,
        total: 0, available: 0, broken: (rs.spec?.template?.spec?.containers ?? []).some((c) => c.image?.includes('broken')),
      };
      this.sets.set(uid, s);
    }
    s.owner = rs.metadata.ownerReferences?.find((r) => r.controller)?.uid;
    const spec = rs.spec?.replicas ?? 0;
    if (spec < s.total) {
      const drop = s.total - spec;
      s.available -= Math.max(0, drop - (s.total - s.available));
      s.total = spec;
    } else if (spec > s.total) {
      s.total = spec;
    }
    if (this.auto && !s.broken) s.available = s.total;
    this.check();
    this.write(uid);
  }

  /** One more pod becomes available; false if none is waiting. */
  tick(owner?: string): boolean {
    for (const [uid, s] of this.sets) {
      if ((owner && s.owner !== owner) || s.broken || s.available >= s.total) continue;
      s.available++;
      this.check();
      this.write(uid);
      return true;
    }
    return false;
  }

  setAuto(on: boolean): void {
    this.auto = on;
    if (!on) return;
    for (const [uid, s] of this.sets) {
      if (!s.broken && s.available < s.total) {
        s.available = s.total;
        this.write(uid);
      }
    }
  }

  waiting(owner: string): number {
    let n = 0;
    for (const s of this.sets.values()) if (s.owner === owner && !s.broken) n += s.total - s.available;
    return n;
  }

  watchInvariants(owner: string, maxTotal: number, minAvailable: number): Invariant {
    const inv: Invariant = { owner, maxTotal, minAvailable, steps: 0, violations: [] };
    this.invariants.push(inv);
    return inv;
  }

  unwatch(inv: Invariant): void {
    this.invariants.splice(this.invariants.indexOf(inv), 1);
  }

  private check(): void {
    for (const inv of this.invariants) {
      let total = 0, available = 0;
      const parts: string[] = [];
      for (const s of this.sets.values()) {
        if (s.owner !== inv.owner) continue;
        total += s.total;
        available += s.available;
        parts.push(`${s.name}=${s.available}/${s.total}`);
      }
      inv.steps++;
      if (total > inv.maxTotal) inv.violations.push(`${total} pods > ${inv.maxTotal}: ${parts.join(' ')}`);
      if (available < inv.minAvailable) inv.violations.push(`${available} available < ${inv.minAvailable}: ${parts.join(' ')}`);
    }
  }

  /** Write the status for one ReplicaSet (writes per ReplicaSet are serialised, each with the state at its time). */
  private write(uid: string): void {
    const prev = this.chains.get(uid) ?? Promise.resolve();
    const next = prev.then(async () => {
      const s = this.sets.get(uid);
      if (!s) return;
      const rs = this.inf.get(`${s.namespace}/${s.name}`);
      if (!rs || rs.metadata.uid !== uid) return;
      const status = {
        replicas: s.total, fullyLabeledReplicas: s.total || null, readyReplicas: s.available || null,
        availableReplicas: s.available || null, observedGeneration: rs.metadata.generation,
      };
      const key = JSON.stringify(status);
      if (key === s.written) return;
      try {
        await this.client.patch(`/apis/apps/v1/namespaces/${s.namespace}/replicasets/${s.name}/status`, { status }, 'merge');
        s.written = key;
      } catch {
        // Deleted meanwhile.
      }
    });
    this.chains.set(uid, next);
  }

  async idle(): Promise<void> {
    await Promise.all(this.chains.values());
  }
}

// ---- against a server ----------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await sleep(25);
  }
}

interface DeploymentOpts {
  replicas?: number;
  image?: string;
  strategy?: 'RollingUpdate' | 'Recreate';
  maxSurge?: number | string;
  maxUnavailable?: number | string;
  progressDeadlineSeconds?: number;
  revisionHistoryLimit?: number;
  minReadySeconds?: number;
  paused?: boolean;
  annotations?: Record<string, string>;
}

function manifest(name: string, o: DeploymentOpts = {}): Record<string, unknown> {
  const strategy = o.strategy === 'Recreate' ? { type: 'Recreate' }
    : { type: 'RollingUpdate', rollingUpdate: { ...(o.maxSurge !== undefined ? { maxSurge: o.maxSurge } : {}), ...(o.maxUnavailable !== undefined ? { maxUnavailable: o.maxUnavailable } : {}) } };
  return {
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name, ...(o.annotations ? { annotations: o.annotations } : {}) },
    spec: {
      replicas: o.replicas ?? 3,
      selector: { matchLabels: { app: name } },
      strategy,
      ...(o.progressDeadlineSeconds !== undefined ? { progressDeadlineSeconds: o.progressDeadlineSeconds } : {}),
      ...(o.revisionHistoryLimit !== undefined ? { revisionHistoryLimit: o.revisionHistoryLimit } : {}),
      ...(o.minReadySeconds !== undefined ? { minReadySeconds: o.minReadySeconds } : {}),
      ...(o.paused ? { paused: true } : {}),
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'web', image: o.image ?? 'nginx:1.25' }] } },
    },
  };
}

describe('deployment controller', () => {
  let c: Cluster;
  let client: RestClient;
  let fakeCtx: ControllerContext;
  let fake: FakeReplicaSets;
  let ctx: ControllerContext;
  let controller: { stop(): void; done: Promise<void> };
  let nsCounter = 0;

  const startDeploymentController = async () => {
    ctx = controllerContext(await RestClient.fromKubeconfig(c.kubeconfig, 'deployment-controller'));
    controller = await startController(new DeploymentController(ctx), 2);
  };
  const stopDeploymentController = async () => {
    controller.stop();
    await controller.done;
    await ctx.recorder({ component: 'deployment-controller' }).flush();
    ctx.client.close();
  };

  before(async () => {
    c = await startCluster();
    client = await RestClient.fromKubeconfig(c.kubeconfig, 'deployment-test');
    fakeCtx = controllerContext(await RestClient.fromKubeconfig(c.kubeconfig, 'fake-replicaset-controller'));
    fake = new FakeReplicaSets(fakeCtx.client, fakeCtx.informers.informer<ReplicaSetObject>('replicasets'));
    await fake.start();
    await startDeploymentController();
  });
  after(async () => {
    await stopDeploymentController().catch(() => undefined);
    fakeCtx?.informers.stop();
    fakeCtx?.client.close();
    client?.close();
    await c?.cleanup();
  });

  const newNamespace = async () => {
    const ns = `deploy-${++nsCounter}`;
    await client.create('/api/v1/namespaces', { metadata: { name: ns } });
    return ns;
  };
  const apply = async (ns: string, obj: unknown) => {
    const r = await c.kubectl(['apply', '-n', ns, '-f', '-'], { input: JSON.stringify(obj) });
    assert.equal(r.code, 0, r.stderr);
  };
  const getD = (ns: string, name: string) => client.get<DeploymentObject>(`/apis/apps/v1/namespaces/${ns}/deployments/${name}`);
  const listRS = async (ns: string) => (await client.get<{ items: ReplicaSetObject[] }>(`/apis/apps/v1/namespaces/${ns}/replicasets`)).items;
  const revisionOf = (rs: ReplicaSetObject) => rs.metadata.annotations?.['deployment.kubernetes.io/revision'];
  const imageOf = (rs: ReplicaSetObject) => rs.spec?.template?.spec?.containers[0].image;
  const cond = (d: DeploymentObject, type: string) => d.status?.conditions?.find((x) => x.type === type);
  /** The Deployment once the controller has observed its generation and finished rolling out. */
  const rolledOut = (ns: string, name: string) => waitFor(`${ns}/${name} rolled out`, async () => {
    const d = await getD(ns, name);
    const s = d.status ?? {};
    const n = d.spec?.replicas ?? 0;
    const ok = (s.observedGeneration ?? 0) >= (d.metadata.generation ?? 0) && (s.updatedReplicas ?? 0) === n && (s.replicas ?? 0) === n
      && (s.availableReplicas ?? 0) === n && cond(d, 'Progressing')?.reason === 'NewReplicaSetAvailable';
    return ok && d;
  });
  const observed = (ns: string, name: string) => waitFor(`${ns}/${name} observed`, async () => {
    const d = await getD(ns, name);
    return (d.status?.observedGeneration ?? 0) >= (d.metadata.generation ?? 0) && d;
  });
  const events = async (ns: string, name: string) => {
    await ctx.recorder({ component: 'deployment-controller' }).flush();
    const list = await client.get<{ items: { reason: string; message: string; type: string; source: { component: string }; involvedObject: { kind: string; name: string } }[] }>(`/api/v1/namespaces/${ns}/events`);
    return list.items.filter((e) => e.involvedObject.kind === 'Deployment' && e.involvedObject.name === name);
  };

  /**
   * Drive a rollout in manual mode: make one pod available at a time until the Deployment has
   * rolled out, checking the surge/availability invariants at every step.
   */
  const stepThroughRollout = async (ns: string, name: string, change: () => Promise<void>, limits: { maxTotal: number; minAvailable: number }) => {
    const d0 = await getD(ns, name);
    const inv = fake.watchInvariants(d0.metadata.uid!, limits.maxTotal, limits.minAvailable);
    fake.setAuto(false);
    try {
      await change();
      await waitFor('the rollout to finish', async () => {
        const d = await getD(ns, name);
        const s = d.status ?? {};
        const n = d.spec?.replicas ?? 0;
        if ((s.observedGeneration ?? 0) >= (d.metadata.generation ?? 0) && s.updatedReplicas === n && s.replicas === n && s.availableReplicas === n
          && cond(d, 'Progressing')?.reason === 'NewReplicaSetAvailable') return true;
        if (fake.waiting(d0.metadata.uid!) > 0) {
          fake.tick(d0.metadata.uid!);
          await fake.idle();
        }
        return false;
      }, 60_000);
    } finally {
      fake.setAuto(true);
      fake.unwatch(inv);
    }
    assert.deepEqual(inv.violations, []);
    return inv;
  };

  test('creates a ReplicaSet <deployment>-<hash> with labels, selector, owner, annotations, and reports status', async () => {
    const ns = await newNamespace();
    await apply(ns, manifest('web', { replicas: 3 }));
    const d = await rolledOut(ns, 'web');
    const rss = await listRS(ns);
    assert.equal(rss.length, 1);
    const rs = rss[0];
    const hash = podTemplateHash(d.spec!.template, d.status?.collisionCount);
    assert.equal(rs.metadata.name, `web-${hash}`);
    assert.deepEqual(rs.metadata.labels, { app: 'web', 'pod-template-hash': hash });
    assert.deepEqual(rs.spec!.selector, { matchLabels: { app: 'web', 'pod-template-hash': hash } });
    assert.deepEqual(rs.spec!.template!.metadata!.labels, { app: 'web', 'pod-template-hash': hash });
    assert.equal(rs.spec!.replicas, 3);
    assert.deepEqual(rs.metadata.ownerReferences, [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: d.metadata.uid, controller: true, blockOwnerDeletion: true }]);
    assert.equal(rs.metadata.annotations?.['deployment.kubernetes.io/revision'], '1');
    assert.equal(rs.metadata.annotations?.['deployment.kubernetes.io/desired-replicas'], '3');
    assert.equal(rs.metadata.annotations?.['deployment.kubernetes.io/max-replicas'], '4');
    assert.equal(rs.metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration'], undefined, 'last-applied is never copied');

    const s = d.status!;
    assert.equal(s.observedGeneration, d.metadata.generation);
    assert.equal(s.replicas, 3);
    assert.equal(s.updatedReplicas, 3);
    assert.equal(s.readyReplicas, 3);
    assert.equal(s.availableReplicas, 3);
    assert.equal(s.unavailableReplicas, undefined);
    const available = cond(d, 'Available')!;
    assert.equal(available.status, 'True');
    assert.equal(available.reason, 'MinimumReplicasAvailable');
    assert.equal(available.message, 'Deployment has minimum availability.');
    const progressing = cond(d, 'Progressing')!;
    assert.equal(progressing.status, 'True');
    assert.equal(progressing.message, `ReplicaSet "web-${hash}" has successfully progressed.`);
    for (const x of [available, progressing]) {
      assert.match(x.lastUpdateTime!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.match(x.lastTransitionTime!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    }

    const ev = await waitFor('the scaling event', async () => {
      const list = await events(ns, 'web');
      return list.find((e) => e.reason === 'ScalingReplicaSet') && list;
    });
    const scaling = ev.filter((e) => e.reason === 'ScalingReplicaSet');
    assert.deepEqual(scaling.map((e) => e.message), [`Scaled up replica set web-${hash} to 3`]);
    assert.equal(scaling[0].type, 'Normal');
    assert.equal(scaling[0].source.component, 'deployment-controller');

    const r = await c.kubectl(['rollout', 'status', 'deploy/web', '-n', ns, '--timeout=30s']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'deployment "web" successfully rolled out\n');

    const describe = await c.k('describe', 'deploy', 'web', '-n', ns);
    assert.match(describe, /Replicas:\s+3 desired \| 3 updated \| 3 total \| 3 available \| 0 unavailable/);
    assert.match(describe, /Available\s+True\s+MinimumReplicasAvailable/);
    assert.match(describe, /Progressing\s+True\s+NewReplicaSetAvailable/);
    assert.match(describe, new RegExp(`NewReplicaSet:\\s+web-${hash} \\(3/3 replicas created\\)`));
    assert.match(describe, new RegExp(`Normal\\s+ScalingReplicaSet\\s+\\S+\\s+deployment-controller\\s+Scaled up replica set web-${hash} to 3`));
    const get = await c.k('get', 'deploy', 'web', '-n', ns, '--no-headers');
    assert.match(get, /^web\s+3\/3\s+3\s+3\s+/);
  });

  test('the Deployment carries the revision of its new ReplicaSet', async () => {
    const ns = await newNamespace();
    await c.k('create', 'deployment', 'web', '--image=nginx:1.25', '--replicas=2', '-n', ns);
    await rolledOut(ns, 'web');
    const d = await waitFor('the revision annotation', async () => {
      const x = await getD(ns, 'web');
      return x.metadata.annotations?.['deployment.kubernetes.io/revision'] === '1' && x;
    });
    assert.equal(d.metadata.generation, 1, 'status writes do not bump the generation');
    const r = await c.kubectl(['rollout', 'status', 'deploy/web', '-n', ns, '--revision=1', '--timeout=10s']);
    assert.equal(r.code, 0, r.stderr);
    // kubectl's undo replaces /metadata/annotations with a JSON patch: that needs annotations to replace.
    await c.k('set', 'image', 'deploy/web', 'nginx=nginx:1.26', '-n', ns);
    await rolledOut(ns, 'web');
    const undo = await c.kubectl(['rollout', 'undo', 'deploy/web', '-n', ns]);
    assert.equal(undo.code, 0, undo.stderr);
    await rolledOut(ns, 'web');
    await waitFor('revision 3', async () => (await getD(ns, 'web')).metadata.annotations?.['deployment.kubernetes.io/revision'] === '3' || undefined);
  });

  test('without minimum availability the Deployment is not Available and counts unavailable replicas', async () => {
    const ns = await newNamespace();
    await apply(ns, manifest('web', { replicas: 3, image: 'example/broken:0' }));
    const d = await waitFor('the status', async () => {
      const x = await getD(ns, 'web');
      return x.status?.replicas === 3 && x;
    });
    const available = cond(d, 'Available')!;
    assert.equal(available.status, 'False');
    assert.equal(available.reason, 'MinimumReplicasUnavailable');
    assert.equal(available.message, 'Deployment does not have minimum availability.');
    assert.equal(d.status!.unavailableReplicas, 3);
    assert.equal(d.status!.availableReplicas, undefined);
    const [rs] = await listRS(ns);
    const progressing = cond(d, 'Progressing')!;
    assert.equal(progressing.status, 'True');
    assert.match(progressing.reason!, /^(NewReplicaSetCreated|ReplicaSetUpdated)$/);
    assert.match(progressing.message!, new RegExp(`^(Created new replica set "${rs.metadata.name}"|ReplicaSet "${rs.metadata.name}" is progressing\\.)$`));
    const once = await c.kubectl(['rollout', 'status', 'deploy/web', '-n', ns, '--watch=false']);
    assert.equal(once.stdout, 'Waiting for deployment "web" rollout to finish: 0 of 3 updated replicas are available...\n');
  });

  test('minReadySeconds is copied to the new ReplicaSet and kept in step without a rollout', async () => {
    const ns = await newNamespace();
    await apply(ns, manifest('web', { replicas: 2, minReadySeconds: 5 }));
    await rolledOut(ns, 'web');
    assert.equal((await listRS(ns))[0].spec!.minReadySeconds, 5);
    await c.k('patch', 'deploy/web', '-n', ns, '-p', '{"spec":{"minReadySeconds":1}}');
    await waitFor('minReadySeconds 1 on the ReplicaSet', async () => (await listRS(ns))[0].spec?.minReadySeconds === 1 || undefined);
    assert.equal((await listRS(ns)).length, 1);
  });

  test('scaling resizes the ReplicaSet and records the event with both sizes', async () => {
    const ns = await newNamespace();
    await apply(ns, manifest('web', { replicas: 2 }));
    await rolledOut(ns, 'web');
    await c.k('scale', 'deploy/web', '--replicas=5', '-n', ns);
    await rolledOut(ns, 'web');
    await c.k('scale', 'deploy/web', '--replicas=1', '-n', ns);
    const d = await rolledOut(ns, 'web');
    const [rs] = await listRS(ns);
    assert.equal(rs.spec!.replicas, 1);
    assert.equal(rs.metadata.annotations?.['deployment.kubernetes.io/desired-replicas'], '1');
    assert.equal(rs.metadata.annotations?.['deployment.kubernetes.io/max-replicas'], '2');
    assert.equal(d.status!.replicas, 1);
    const msgs = await waitFor('scaling events', async () => {
      const m = (await events(ns, 'web')).filter((e) => e.reason === 'ScalingReplicaSet').map((e) => e.message);
      return m.length === 3 && m;
    });
    assert.deepEqual(msgs, [
      `Scaled up replica set ${rs.metadata.name} to 2`,
      `Scaled up replica set ${rs.metadata.name} to 5 from 2`,
      `Scaled down replica set ${rs.metadata.name} to 1 from 5`,
    ]);
  });

  for (const tc of [
    { replicas: 4, maxSurge: undefined, maxUnavailable: undefined, surge: 1, unavailable: 1 },
    { replicas: 10, maxSurge: 3, maxUnavailable: 2, surge: 3, unavailable: 2 },
    { replicas: 3, maxSurge: 0, maxUnavailable: 1, surge: 0, unavailable: 1 },
    { replicas: 1, maxSurge: undefined, maxUnavailable: undefined, surge: 1, unavailable: 0 },
    { replicas: 5, maxSurge: '40%', maxUnavailable: '0%', surge: 2, unavailable: 0 },
  ]) {
    test(`RollingUpdate of ${tc.replicas} (maxSurge ${tc.maxSurge ?? '25%'}, maxUnavailable ${tc.maxUnavailable ?? '25%'}) stays within ${tc.surge} extra and ${tc.unavailable} unavailable at every step`, async () => {
      const ns = await newNamespace();
      await apply(ns, manifest('web', { replicas: tc.replicas, maxSurge: tc.maxSurge, maxUnavailable: tc.maxUnavailable }));
      const before = await rolledOut(ns, 'web');
      const oldName = (await listRS(ns))[0].metadata.name;
      const inv = await stepThroughRollout(ns, 'web', () => c.k('set', 'image', 'deploy/web', 'web=nginx:1.26', '-n', ns).then(() => undefined),
        { maxTotal: tc.replicas + tc.surge, minAvailable: tc.replicas - tc.unavailable });
      assert.ok(inv.steps >= tc.replicas, `only ${inv.steps} steps observed`);
      const rss = await listRS(ns);
      assert.equal(rss.length, 2);
      const newRS = rss.find((rs) => imageOf(rs) === 'nginx:1.26')!;
      const oldRS = rss.find((rs) => rs.metadata.name === oldName)!;
      assert.equal(newRS.spec!.replicas, tc.replicas);
      assert.equal(oldRS.spec!.replicas, 0);
      assert.equal(revisionOf(oldRS), '1');
      assert.equal(revisionOf(newRS), '2');
      const d = await getD(ns, 'web');
      assert.ok((d.metadata.generation ?? 0) > (before.metadata.generation ?? 0));
      assert.equal(cond(d, 'Progressing')!.message, `ReplicaSet "${newRS.metadata.name}" has successfully progressed.`);
      // The recorder combines the 10th and later different messages of one reason, as client-go's does.
      const msgs = (await events(ns, 'web')).filter((e) => e.reason === 'ScalingReplicaSet').map((e) => e.message.replace(/^\(combined from similar events\): /, ''));
      assert.ok(msgs.some((m) => m.startsWith(`Scaled down replica set ${oldName} to 0 from `)), msgs.join('\n'));
      // Created with its first replicas (no "from"), or — with maxSurge 0 — created empty and then scaled up from 0.
      assert.ok(msgs.some((m) => m.startsWith(`Scaled up replica set ${newRS.metadata.name} to `) && (!m.includes(' from ') || m.endsWith(' from 0'))), msgs.join('\n'));
      for (const m of msgs) assert.match(m, /^Scaled (up|down) replica set web-[456789bcdf]+ to \d+( from \d+)?$/);
    });
  }

  test('kubectl rollout status prints upstream\'s progress lines and exits 0 when done', async () => {
    const ns = await newNamespace();
    await apply(ns, manifest('web', { replicas: 4 }));
    await rolledOut(ns, 'web');
    fake.setAuto(false);
    try {
      await c.k('set', 'image', 'deploy/web', 'web=nginx:1.26', '-n', ns);
      // Frozen after the first step: 1 new (unavailable) + 3 old.
      await waitFor('the first step', async () => {
        const d = await getD(ns, 'web');
        const s = d.status ?? {};
        return (s.observedGeneration ?? 0) >= (d.metadata.generation ?? 0) && s.updatedReplicas === 2 && s.replicas === 5 && d;
      });
      const once = await c.kubectl(['rollout', 'status', 'deploy/web', '-n', ns, '--watch=false']);
      assert.equal(once.code, 0, once.stderr);
      assert.equal(once.stdout, 'Waiting for deployment "web" rollout to finish: 2 out of 4 new replicas have been updated...\n');

      const running = c.kubectl(['rollout', 'status', 'deploy/web', '-n', ns, '--timeout=60s']);
      await waitFor('the rollout', async () => {
        const d = await getD(ns, 'web');
        if (cond(d, 'Progressing')?.reason === 'NewReplicaSetAvailable' && d.status?.availableReplicas === 4 && d.status?.replicas === 4) return true;
        fake.tick(d.metadata.uid!);
        await fake.idle();
        await sleep(100);
        return false;
      }, 60_000);
      const r = await running;
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trimEnd().split('\n');
      for (const l of lines) {
        assert.match(l, /^(Waiting for deployment "web" rollout to finish: (\d+ out of 4 new replicas have been updated|\d+ old replicas are pending termination|\d+ of \d+ updated replicas are available)\.\.\.|deployment "web" successfully rolled out)$/);
      }
      assert.equal(lines.at(-1), 'deployment "web" successfully rolled out');
    } finally {
      fake.setAuto(true);
    }
  });

  test('a rollout without progress exceeds its deadline: condition, status and kubectl rollout status exit code', async () => {
    const ns = await newNamespace();
    await apply(ns, manifest('web', { replicas: 2, progressDeadlineSeconds: 2 }));
    await rolledOut(ns, 'web');
    await c.k('set', 'image', 'deploy/web', 'web=example/broken:1', '-n', ns);
    // The deadline (2 s) can pass before the new ReplicaSet's status counts its pod: wait for the
    // condition together with the counts it is reported with, not for the condition alone.
    const d = await waitFor('ProgressDeadlineExceeded with the new pod counted', async () => {
      const x = await getD(ns, 'web');
      return cond(x, 'Progressing')?.reason === 'ProgressDeadlineExceeded' && x.status?.replicas === 3 && x.status?.updatedReplicas === 1 && x;
    });
    const newRS = (await listRS(ns)).find((rs) => imageOf(rs) === 'example/broken:1')!;
    const p = cond(d, 'Progressing')!;
    assert.equal(p.status, 'False');
    assert.equal(p.message, `ReplicaSet "${newRS.metadata.name}" has timed out progressing.`);
    // maxSurge 1 (25% of 2, rounded up), maxUnavailable 0: one new pod, both old ones stay.
    assert.equal(d.status!.replicas, 3);
    assert.equal(d.status!.updatedReplicas, 1);
    assert.equal(d.status!.availableReplicas, 2);
    assert.equal(d.status!.unavailableReplicas, 1);
    assert.equal(cond(d, 'Available')!.status, 'True');
    const r = await c.kubectl(['rollout', 'status', 'deploy/web', '-n', ns, '--timeout=10s']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'error: deployment "web" exceeded its progress deadline\n');
    // Undoing the broken rollout brings the old ReplicaSet back and clears the timeout.
    const undo = await c.kubectl(['rollout', 'undo', 'deploy/web', '-n', ns]);
    assert.equal(undo.code, 0, undo.stderr);
    const done = await rolledOut(ns, 'web');
    assert.equal(cond(done, 'Progressing')!.status, 'True');
  });

  test('Recreate scales all old pods down, waits for them to be gone, then scales the new ReplicaSet up', async () => {
    const ns = await newNamespace();
    await apply(ns, manifest('web', { replicas: 3, strategy: 'Recreate' }));
    await rolledOut(ns, 'web');
    const [oldRS] = await listRS(ns);
    // A pod of the old ReplicaSet that is still there (e.g. terminating) holds the new one back.
    await client.create(`/api/v1/namespaces/${ns}/pods`, {
      metadata: { name: 'straggler', labels: { app: 'web', 'pod-template-hash': oldRS.metadata.labels!['pod-template-hash'] }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: oldRS.metadata.name, uid: oldRS.metadata.uid, controller: true }] },
      spec: { containers: [{ name: 'web', image: 'nginx:1.25' }] },
    });
    const states: string[] = [];
    const record = setInterval(() => {
      const parts = [...fake.sets.values()].filter((s) => s.namespace === ns).map((s) => `${s.name}:${s.total}`);
      states.push(parts.join(','));
    }, 5);
    try {
      await c.k('set', 'image', 'deploy/web', 'web=nginx:1.26', '-n', ns);
      await waitFor('the old ReplicaSet scaled to 0', async () => (await client.get<ReplicaSetObject>(`/apis/apps/v1/namespaces/${ns}/replicasets/${oldRS.metadata.name}`)).status?.replicas === 0 || undefined);
      await observed(ns, 'web');
      // Wait for the controller to have looked at the state with the old ReplicaSet at 0.
      await waitFor('the status to show no replicas', async () => (await getD(ns, 'web')).status?.replicas === undefined || undefined);
      assert.equal((await listRS(ns)).length, 1, 'no new ReplicaSet while an old pod exists');
      await client.delete(`/api/v1/namespaces/${ns}/pods/straggler`, { gracePeriodSeconds: 0 });
      await rolledOut(ns, 'web');
    } finally {
      clearInterval(record);
    }
    const rss = await listRS(ns);
    assert.equal(rss.length, 2);
    const newRS = rss.find((rs) => imageOf(rs) === 'nginx:1.26')!;
    assert.equal(newRS.spec!.replicas, 3);
    assert.equal(newRS.metadata.annotations?.['deployment.kubernetes.io/max-replicas'], '3', 'Recreate has no surge');
    // Never old and new pods at once.
    for (const s of states) {
      const counts = s.split(',').filter(Boolean).map((x) => x.split(':'));
      const withPods = counts.filter(([, n]) => Number(n) > 0);
      assert.ok(withPods.length <= 1, `old and new pods at once: ${s}`);
    }
    const msgs = (await events(ns, 'web')).filter((e) => e.reason === 'ScalingReplicaSet').map((e) => e.message);
    assert.deepEqual(msgs.slice(-2), [`Scaled down replica set ${oldRS.metadata.name} to 0 from 3`, `Scaled up replica set ${newRS.metadata.name} to 3`]);
  });

  test('pause holds a template change back while scaling stays proportional; resume rolls it out', async () => {
    const ns = await newNamespace();
    await apply(ns, manifest('web', { replicas: 2 }));
    await rolledOut(ns, 'web');
    const r1 = await c.kubectl(['rollout', 'pause', 'deploy/web', '-n', ns]);
    assert.equal(r1.code, 0, r1.stderr);
    assert.equal(r1.stdout, 'deployment.apps/web paused\n');
    let d = await waitFor('the paused condition', async () => {
      const x = await getD(ns, 'web');
      return cond(x, 'Progressing')?.reason === 'DeploymentPaused' && x;
    });
    assert.equal(cond(d, 'Progressing')!.status, 'Unknown');
    assert.equal(cond(d, 'Progressing')!.message, 'Deployment is paused');
    await c.k('set', 'image', 'deploy/web', 'web=nginx:1.26', '-n', ns);
    await c.k('scale', 'deploy/web', '--replicas=4', '-n', ns);
    d = await observed(ns, 'web');
    await waitFor('the scale', async () => (await getD(ns, 'web')).status?.availableReplicas === 4 || undefined);
    let rss = await listRS(ns);
    assert.equal(rss.length, 1, 'no rollout while paused');
    assert.equal(rss[0].spec!.replicas, 4);
    assert.equal(imageOf(rss[0]), 'nginx:1.25');
    const rs = await c.kubectl(['rollout', 'status', 'deploy/web', '-n', ns, '--watch=false']);
    assert.equal(rs.stdout, 'Waiting for deployment "web" rollout to finish: 0 out of 4 new replicas have been updated...\n');

    const r2 = await c.kubectl(['rollout', 'resume', 'deploy/web', '-n', ns]);
    assert.equal(r2.stdout, 'deployment.apps/web resumed\n');
    d = await rolledOut(ns, 'web');
    rss = await listRS(ns);
    assert.equal(rss.length, 2);
    assert.equal(rss.find((x) => imageOf(x) === 'nginx:1.26')!.spec!.replicas, 4);
  });

  test('scaling in the middle of a rollout scales old and new ReplicaSets in proportion', async () => {
    const ns = await newNamespace();
    await apply(ns, manifest('web', { replicas: 10, maxSurge: 3, maxUnavailable: 2 }));
    await rolledOut(ns, 'web');
    const [oldRS] = await listRS(ns);
    // New pods never become available: the rollout stops at 8 old + 5 new (13 = 10 + maxSurge).
    await c.k('set', 'image', 'deploy/web', 'web=example/broken:2', '-n', ns);
    const sizes = async () => {
      const rss = await listRS(ns);
      return { old: rss.find((x) => x.metadata.name === oldRS.metadata.name)!.spec!.replicas, new: rss.find((x) => imageOf(x) === 'example/broken:2')?.spec!.replicas };
    };
    await waitFor('8 old + 5 new', async () => {
      const s = await sizes();
      return s.old === 8 && s.new === 5 && (await getD(ns, 'web')).status?.replicas === 13;
    });
    await c.k('scale', 'deploy/web', '--replicas=20', '-n', ns);
    // 23 = 20 + 3 spread over 8:5 → old round(8·23/13) = 14, new round(5·23/13) = 9.
    await waitFor('14 old + 9 new', async () => {
      const s = await sizes();
      return s.old === 14 && s.new === 9;
    });
    const newName = (await listRS(ns)).find((x) => imageOf(x) === 'example/broken:2')!.metadata.name;
    const msgs = await waitFor('the events', async () => {
      const m = (await events(ns, 'web')).filter((e) => e.reason === 'ScalingReplicaSet').map((e) => e.message);
      return m.includes(`Scaled up replica set ${newName} to 9 from 5`) && m;
    });
    assert.ok(msgs.includes(`Scaled up replica set ${oldRS.metadata.name} to 14 from 8`), msgs.join('\n'));
    for (const rs of await listRS(ns)) {
      assert.equal(rs.metadata.annotations?.['deployment.kubernetes.io/desired-replicas'], '20');
      assert.equal(rs.metadata.annotations?.['deployment.kubernetes.io/max-replicas'], '23');
    }
    // Scaling down while paused is proportional too: 23 → 13 (10 + 3).
    await c.k('rollout', 'pause', 'deploy/web', '-n', ns);
    await c.k('scale', 'deploy/web', '--replicas=10', '-n', ns);
    await waitFor('8 old + 5 new again', async () => {
      const s = await sizes();
      return s.old === 8 && s.new === 5;
    });
  });

  test('kubectl rollout undo makes the old ReplicaSet the new one with the next revision; history shows change-causes', async () => {
    const ns = await newNamespace();
    await apply(ns, manifest('web', { replicas: 2 }));
    await rolledOut(ns, 'web');
    await c.k('annotate', 'deploy/web', '-n', ns, 'kubernetes.io/change-cause=first');
    // An annotation does not bump the generation, so rolledOut() cannot tell it was seen: wait
    // for the copy on the ReplicaSet, or the template change below could reach the controller in
    // the same sync and the first ReplicaSet would never carry it.
    await waitFor('change-cause first on the ReplicaSet', async () => (await listRS(ns))[0]?.metadata.annotations?.['kubernetes.io/change-cause'] === 'first' || undefined);
    await c.k('set', 'image', 'deploy/web', 'web=nginx:1.26', '-n', ns);
    await c.k('annotate', 'deploy/web', '-n', ns, '--overwrite', 'kubernetes.io/change-cause=second');
    await rolledOut(ns, 'web');
    const rss = await listRS(ns);
    const first = rss.find((x) => imageOf(x) === 'nginx:1.25')!;
    const second = rss.find((x) => imageOf(x) === 'nginx:1.26')!;
    await waitFor('change-causes on the ReplicaSets', async () => {
      const all = await listRS(ns);
      return all.find((x) => x.metadata.name === second.metadata.name)?.metadata.annotations?.['kubernetes.io/change-cause'] === 'second' || undefined;
    });
    assert.equal(first.metadata.annotations?.['kubernetes.io/change-cause'], 'first');

    const history = await c.k('rollout', 'history', 'deploy/web', '-n', ns);
    assert.match(history, /^deployment\.apps\/web \nREVISION\s+CHANGE-CAUSE\n1\s+first\n2\s+second\n\n$/);

    const undo = await c.kubectl(['rollout', 'undo', 'deploy/web', '-n', ns]);
    assert.equal(undo.code, 0, undo.stderr);
    assert.equal(undo.stdout, 'deployment.apps/web rolled back\n');
    await waitFor('the old ReplicaSet to come back as revision 3', async () => {
      const all = await listRS(ns);
      const back = all.find((x) => x.metadata.name === first.metadata.name)!;
      return revisionOf(back) === '3' && back.spec?.replicas === 2 && back;
    });
    const d = await rolledOut(ns, 'web');
    assert.equal(d.spec!.template!.spec!.containers[0].image, 'nginx:1.25');
    assert.equal(d.metadata.annotations?.['kubernetes.io/change-cause'], 'first', 'the change-cause comes back with the template');
    const all = await listRS(ns);
    assert.equal(all.length, 2, 'no new ReplicaSet: the old one is reused');
    const back = all.find((x) => x.metadata.name === first.metadata.name)!;
    assert.equal(back.metadata.annotations?.['deployment.kubernetes.io/revision-history'], '1');
    assert.equal(all.find((x) => x.metadata.name === second.metadata.name)!.spec!.replicas, 0);
    const history2 = await c.k('rollout', 'history', 'deploy/web', '-n', ns);
    assert.match(history2, /REVISION\s+CHANGE-CAUSE\n2\s+second\n3\s+first\n/);

    // Undo to an explicit revision, and to one that does not exist.
    const undo2 = await c.kubectl(['rollout', 'undo', 'deploy/web', '-n', ns, '--to-revision=2']);
    assert.equal(undo2.code, 0, undo2.stderr);
    await waitFor('revision 4', async () => revisionOf((await listRS(ns)).find((x) => x.metadata.name === second.metadata.name)!) === '4' || undefined);
    await rolledOut(ns, 'web');
    const undo3 = await c.kubectl(['rollout', 'undo', 'deploy/web', '-n', ns, '--to-revision=9']);
    assert.equal(undo3.code, 1);
    assert.match(undo3.stderr, /unable to find specified revision 9 in history/);
  });

  test('the deprecated rollbackTo annotation rolls back in the controller, with upstream\'s events', async () => {
    const ns = await newNamespace();
    await apply(ns, manifest('web', { replicas: 1 }));
    await rolledOut(ns, 'web');
    await c.k('set', 'image', 'deploy/web', 'web=nginx:1.26', '-n', ns);
    await rolledOut(ns, 'web');
    await c.k('annotate', 'deploy/web', '-n', ns, 'deprecated.deployment.rollback.to=1');
    const d = await waitFor('the rollback', async () => {
      const x = await getD(ns, 'web');
      return x.spec?.template?.spec?.containers[0].image === 'nginx:1.25' && !x.metadata.annotations?.['deprecated.deployment.rollback.to'] && x;
    });
    assert.equal(d.spec!.template!.metadata!.labels!['pod-template-hash'], undefined);
    await rolledOut(ns, 'web');
    await c.k('annotate', 'deploy/web', '-n', ns, 'deprecated.deployment.rollback.to=7');
    await waitFor('the annotation to be cleared', async () => !(await getD(ns, 'web')).metadata.annotations?.['deprecated.deployment.rollback.to'] || undefined);
    const ev = await waitFor('the rollback events', async () => {
      const list = await events(ns, 'web');
      return list.some((e) => e.reason === 'DeploymentRollbackRevisionNotFound') && list;
    });
    const rollback = ev.find((e) => e.reason === 'DeploymentRollback')!;
    assert.equal(rollback.type, 'Normal');
    assert.equal(rollback.message, 'Rolled back deployment "web" to revision 1');
    const notFound = ev.find((e) => e.reason === 'DeploymentRollbackRevisionNotFound')!;
    assert.equal(notFound.type, 'Warning');
    assert.equal(notFound.message, 'Unable to find the revision to rollback to.');
  });

  test('kubectl rollout restart rolls out a new ReplicaSet', async () => {
    const ns = await newNamespace();
    await apply(ns, manifest('web', { replicas: 2 }));
    await rolledOut(ns, 'web');
    const r = await c.kubectl(['rollout', 'restart', 'deploy/web', '-n', ns]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'deployment.apps/web restarted\n');
    await rolledOut(ns, 'web');
    const rss = await listRS(ns);
    assert.equal(rss.length, 2);
    const restarted = rss.find((x) => x.spec?.template?.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt'])!;
    assert.equal(restarted.spec!.replicas, 2);
    assert.equal(revisionOf(restarted), '2');
    assert.equal(rss.find((x) => x !== restarted)!.spec!.replicas, 0);
  });

  test('old ReplicaSets beyond revisionHistoryLimit are deleted once they have no replicas', async () => {
    const ns = await newNamespace();
    await apply(ns, manifest('web', { replicas: 1, revisionHistoryLimit: 2 }));
    await rolledOut(ns, 'web');
    for (const v of ['1.26', '1.27', '1.28', '1.29']) {
      await c.k('set', 'image', 'deploy/web', `web=nginx:${v}`, '-n', ns);
      await rolledOut(ns, 'web');
    }
    const rss = await waitFor('the cleanup', async () => {
      const all = await listRS(ns);
      return all.length === 3 && all;
    });
    assert.deepEqual(rss.map(revisionOf).sort(), ['3', '4', '5']);
    assert.deepEqual(rss.map(imageOf).sort(), ['nginx:1.27', 'nginx:1.28', 'nginx:1.29']);
  });

  test('a ReplicaSet name taken by another template is a hash collision: collisionCount goes up, the name changes', async () => {
    const ns = await newNamespace();
    await apply(ns, manifest('web', { replicas: 2, paused: true }));
    const d = await observed(ns, 'web');
    assert.equal((await listRS(ns)).length, 0, 'a paused new Deployment creates nothing');
    const hash = podTemplateHash(d.spec!.template);
    // Someone else's ReplicaSet, with a different template, under the name the Deployment wants.
    await client.create(`/apis/apps/v1/namespaces/${ns}/replicasets`, {
      metadata: { name: `web-${hash}`, labels: { app: 'other' } },
      spec: { replicas: 0, selector: { matchLabels: { app: 'other' } }, template: { metadata: { labels: { app: 'other' } }, spec: { containers: [{ name: 'x', image: 'busybox' }] } } },
    });
    await c.k('rollout', 'resume', 'deploy/web', '-n', ns);
    const done = await rolledOut(ns, 'web');
    assert.equal(done.status!.collisionCount, 1);
    const mine = (await listRS(ns)).filter((x) => x.metadata.ownerReferences?.[0]?.uid === d.metadata.uid);
    assert.equal(mine.length, 1);
    assert.equal(mine[0].metadata.name, `web-${podTemplateHash(d.spec!.template, 1)}`);
    assert.notEqual(mine[0].metadata.name, `web-${hash}`);
  });

  test('orphaned ReplicaSets matching the selector are adopted; owned ones that stop matching are released', async () => {
    const ns = await newNamespace();
    await apply(ns, manifest('web', { replicas: 2 }));
    const d = await rolledOut(ns, 'web');
    const [rs] = await listRS(ns);
    // Orphan it: the controller adopts it again (and does not create another).
    await client.patch(`/apis/apps/v1/namespaces/${ns}/replicasets/${rs.metadata.name}`, { metadata: { ownerReferences: null } }, 'merge');
    await waitFor('adoption', async () => {
      const x = await client.get<ReplicaSetObject>(`/apis/apps/v1/namespaces/${ns}/replicasets/${rs.metadata.name}`);
      return x.metadata.ownerReferences?.[0]?.uid === d.metadata.uid || undefined;
    });
    const adopted = await client.get<ReplicaSetObject>(`/apis/apps/v1/namespaces/${ns}/replicasets/${rs.metadata.name}`);
    assert.deepEqual(adopted.metadata.ownerReferences, [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: d.metadata.uid, controller: true, blockOwnerDeletion: true }]);
    assert.equal((await listRS(ns)).length, 1);
    // Relabel it out of the selector: it is released, and a new one takes its place.
    await client.patch(`/apis/apps/v1/namespaces/${ns}/replicasets/${rs.metadata.name}`, { metadata: { labels: { app: 'elsewhere' } } }, 'merge');
    await waitFor('release', async () => {
      const x = await client.get<ReplicaSetObject>(`/apis/apps/v1/namespaces/${ns}/replicasets/${rs.metadata.name}`);
      return !x.metadata.ownerReferences?.length || undefined;
    });
    await rolledOut(ns, 'web');
  });

  test('a controller restarted in the middle of a rollout converges', async () => {
    const ns = await newNamespace();
    await apply(ns, manifest('web', { replicas: 6, maxSurge: 2, maxUnavailable: 1 }));
    const d0 = await rolledOut(ns, 'web');
    const inv = fake.watchInvariants(d0.metadata.uid!, 8, 5);
    fake.setAuto(false);
    try {
      await c.k('set', 'image', 'deploy/web', 'web=nginx:1.26', '-n', ns);
      await waitFor('the rollout to start', async () => (await getD(ns, 'web')).status?.updatedReplicas || undefined);
      for (let i = 0; i < 3; i++) {
        fake.tick(d0.metadata.uid!);
        await fake.idle();
        await sleep(50);
      }
      await stopDeploymentController();
      // Changes while no controller runs: more pods become available.
      for (let i = 0; i < 2; i++) fake.tick(d0.metadata.uid!);
      await fake.idle();
      await startDeploymentController();
      await waitFor('the rollout to finish', async () => {
        const d = await getD(ns, 'web');
        if (cond(d, 'Progressing')?.reason === 'NewReplicaSetAvailable' && d.status?.availableReplicas === 6 && d.status?.replicas === 6 && d.status?.updatedReplicas === 6) return true;
        fake.tick(d0.metadata.uid!);
        await fake.idle();
        return false;
      }, 60_000);
    } finally {
      fake.setAuto(true);
      fake.unwatch(inv);
    }
    assert.deepEqual(inv.violations, []);
    const rss = await listRS(ns);
    assert.equal(rss.length, 2);
    assert.deepEqual(rss.map((x) => x.spec!.replicas).sort(), [0, 6]);
  });
});
