// The official JavaScript client (@kubernetes/client-node) against kubelite: typed CRUD, patch,
// errors as ApiException with Status bodies, and an informer (list + watch) that sees changes.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { startCluster, type Cluster } from './helpers/cluster.js';

describe('@kubernetes/client-node', () => {
  let c: Cluster;
  let kc: k8s.KubeConfig;
  before(async () => {
    c = await startCluster();
    kc = new k8s.KubeConfig();
    kc.loadFromFile(c.kubeconfig);
  });
  after(async () => { await c?.cleanup(); });

  test('typed CRUD on core and apps resources', async () => {
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    const ns = await core.createNamespace({ body: { metadata: { name: 'client' } } });
    assert.equal(ns.status?.phase, 'Active');
    assert.equal(ns.metadata?.labels?.['kubernetes.io/metadata.name'], 'client');

    const svc = await core.createNamespacedService({ namespace: 'client', body: {
      metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 as unknown as k8s.IntOrString }] },
    } });
    assert.equal(svc.spec?.type, 'ClusterIP');
    assert.equal(svc.spec?.sessionAffinity, 'None');
    assert.equal(svc.spec?.ports?.[0].protocol, 'TCP');

    const dep = await apps.createNamespacedDeployment({ namespace: 'client', body: {
      metadata: { name: 'web' },
      spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] } } },
    } });
    assert.equal(dep.spec?.replicas, 1);
    assert.equal(dep.spec?.strategy?.type, 'RollingUpdate');

    const list = await apps.listNamespacedDeployment({ namespace: 'client' });
    assert.deepEqual(list.items.map((d) => d.metadata?.name), ['web']);

    const patched = await apps.patchNamespacedDeployment({ namespace: 'client', name: 'web', body: { spec: { replicas: 3 } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
    assert.equal(patched.spec?.replicas, 3);
    assert.equal(patched.metadata?.generation, 2);

    const scale = await apps.readNamespacedDeploymentScale({ namespace: 'client', name: 'web' });
    assert.equal(scale.spec?.replicas, 3);

    await core.deleteNamespacedService({ namespace: 'client', name: 'web' });
    await assert.rejects(core.readNamespacedService({ namespace: 'client', name: 'web' }), (e: unknown) => {
      assert.ok(e instanceof k8s.ApiException);
      assert.equal(e.code, 404);
      assert.equal(JSON.parse(e.body as string).reason, 'NotFound');
      return true;
    });
  });

  test('an informer lists, then watches changes', async () => {
    const core = kc.makeApiClient(k8s.CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: 'inform' } } });
    await core.createNamespacedPod({ namespace: 'inform', body: { metadata: { name: 'first', labels: { app: 'x' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } });
    const informer = k8s.makeInformer(kc, '/api/v1/namespaces/inform/pods', () => core.listNamespacedPod({ namespace: 'inform' }));
    const seen: string[] = [];
    const done = new Promise<void>((resolve) => {
      informer.on('add', (p) => { seen.push(`add ${p.metadata?.name}`); if (seen.includes('delete second')) resolve(); });
      informer.on('update', (p) => { seen.push(`update ${p.metadata?.name}`); });
      informer.on('delete', (p) => { seen.push(`delete ${p.metadata?.name}`); resolve(); });
    });
    await informer.start();
    await core.createNamespacedPod({ namespace: 'inform', body: { metadata: { name: 'second' }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } });
    await core.patchNamespacedPod({ namespace: 'inform', name: 'second', body: { metadata: { labels: { touched: 'yes' } } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
    await core.deleteNamespacedPod({ namespace: 'inform', name: 'second' });
    await Promise.race([done, new Promise((_, rej) => setTimeout(() => rej(new Error(`informer saw only ${seen.join(', ')}`)), 60_000))]);
    await informer.stop();
    assert.deepEqual(seen, ['add first', 'add second', 'update second', 'delete second']);
    assert.deepEqual(informer.list('inform').map((p) => p.metadata?.name), ['first']);
  });
});
