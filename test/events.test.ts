// The event recorder (src/client/events.ts) against a real server: events as client-go writes
// them, repeats counted on one object, similar events combined, and kubectl describe showing them.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type Cluster } from './helpers/cluster.js';
import { RestClient } from '../src/client/rest.js';
import { EventRecorder } from '../src/client/events.js';

describe('event recorder', () => {
  let c: Cluster;
  let client: RestClient;
  let pod: any;
  before(async () => {
    c = await startCluster();
    client = await RestClient.fromKubeconfig(c.kubeconfig, 'events-test');
    pod = await client.create('/api/v1/namespaces/default/pods', { metadata: { name: 'web' }, spec: { containers: [{ name: 'c', image: 'nginx' }] } });
  });
  after(async () => { client?.close(); await c?.cleanup(); });

  test('an event names its object, repeats count up, describe lists them', async () => {
    const rec = new EventRecorder(client, { component: 'kubelet', host: 'node01' });
    rec.event({ ...pod, kind: 'Pod', apiVersion: 'v1' }, 'Normal', 'Pulled', 'Container image "nginx" already present on machine');
    rec.event({ ...pod, kind: 'Pod', apiVersion: 'v1' }, 'Normal', 'Pulled', 'Container image "nginx" already present on machine');
    rec.event({ ...pod, kind: 'Pod', apiVersion: 'v1' }, 'Warning', 'BackOff', 'Back-off restarting failed container c');
    await rec.flush();
    const events = (await client.get<any>('/api/v1/namespaces/default/events', { fieldSelector: `involvedObject.uid=${pod.metadata.uid}` })).items;
    assert.equal(events.length, 2);
    const pulled = events.find((e: any) => e.reason === 'Pulled');
    assert.match(pulled.metadata.name, /^web\.[0-9a-f]+$/);
    assert.equal(pulled.count, 2);
    assert.deepEqual(pulled.involvedObject, { kind: 'Pod', namespace: 'default', name: 'web', uid: pod.metadata.uid, apiVersion: 'v1', resourceVersion: pod.metadata.resourceVersion });
    assert.deepEqual(pulled.source, { component: 'kubelet', host: 'node01' });
    assert.equal(pulled.type, 'Normal');

    const out = await c.k('describe', 'pod', 'web');
    const lines = out.split('\n');
    const at = lines.findIndex((l) => l.startsWith('Events:'));
    assert.ok(at >= 0, out);
    assert.match(lines[at + 1], /^\s+Type\s+Reason\s+Age\s+From\s+Message$/);
    assert.ok(lines.some((l) => /^\s+Normal\s+Pulled\s+\S+ \(x2 over \S+\)\s+kubelet\s+Container image "nginx" already present on machine$/.test(l)), out);
    assert.ok(lines.some((l) => /^\s+Warning\s+BackOff\s+\S+\s+kubelet\s+Back-off restarting failed container c$/.test(l)), out);
  });

  test('ten different messages for one reason are combined', async () => {
    const rec = new EventRecorder(client, { component: 'test-controller' });
    for (let i = 0; i < 12; i++) rec.event({ ...pod, kind: 'Pod', apiVersion: 'v1' }, 'Warning', 'Failed', `attempt ${i} failed`);
    await rec.flush();
    const events = (await client.get<any>('/api/v1/namespaces/default/events', { fieldSelector: 'reason=Failed' })).items;
    const combined = events.filter((e: any) => e.message.startsWith('(combined from similar events): '));
    assert.equal(combined.length, 1);
    assert.equal(combined[0].count, 3);
    assert.equal(events.length, 10);
  });

  test('cluster-scoped objects get their events in default; the spam filter caps a burst', async () => {
    const node = await client.create<any>('/api/v1/nodes', { metadata: { name: 'node-e' } });
    const rec = new EventRecorder(client, { component: 'node-controller' });
    for (let i = 0; i < 30; i++) rec.event({ ...node, kind: 'Node', apiVersion: 'v1' }, 'Normal', 'RegisteredNode', `Node node-e event: Registered Node node-e in Controller ${i}`);
    await rec.flush();
    const events = (await client.get<any>('/api/v1/namespaces/default/events', { fieldSelector: 'involvedObject.name=node-e' })).items;
    const total = events.reduce((n: number, e: any) => n + e.count, 0);
    assert.equal(total, 25);
  });
});
