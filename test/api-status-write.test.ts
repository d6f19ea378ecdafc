// Status writes take everything but metadata and status from the stored object, byte for byte:
// the spec is copied from the stored object, not from the patched one, which lost the nulls
// defaulting stores (a pod template's `creationTimestamp: null`) when its request was checked.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type Cluster } from './helpers/cluster.js';

/** The text of `o`'s spec as the server serialised it: the stored bytes, in their key order. */
function specText(body: string): string {
  const start = body.indexOf('"spec":');
  const end = body.indexOf(',"status":', start);
  assert.ok(start > 0 && end > start, `no spec and status in ${body}`);
  return body.slice(start, end);
}

describe('status writes keep the stored spec', () => {
  let c: Cluster;
  const path = '/apis/apps/v1/namespaces/default/deployments/keep';
  before(async () => {
    c = await startCluster();
    const created = await c.request('POST', '/apis/apps/v1/namespaces/default/deployments', {
      metadata: { name: 'keep' },
      spec: { replicas: 1, selector: { matchLabels: { app: 'keep' } },
        template: { metadata: { labels: { app: 'keep' } }, spec: { containers: [{ name: 'c', image: 'nginx:1.27' }] } } },
    });
    assert.equal(created.status, 201, created.body);
  });
  after(async () => { await c?.cleanup(); });

  test('a merge patch and a JSON patch of status leave the spec text unchanged, nulls included', async () => {
    const before = (await c.request('GET', path)).body;
    assert.match(specText(before), /"creationTimestamp":null/);
    const merged = await c.request('PATCH', `${path}/status`, { status: { observedGeneration: 1, replicas: 1 } },
      { headers: { 'Content-Type': 'application/merge-patch+json' } });
    assert.equal(merged.status, 200, merged.body);
    assert.equal(specText(merged.body), specText(before));
    const patched = await c.request('PATCH', `${path}/status`, [{ op: 'replace', path: '/status/replicas', value: 2 }],
      { headers: { 'Content-Type': 'application/json-patch+json' } });
    assert.equal(patched.status, 200, patched.body);
    assert.equal(patched.json().status.replicas, 2);
    const after = (await c.request('GET', path)).body;
    assert.equal(specText(after), specText(before));
    assert.notEqual(JSON.parse(after).metadata.resourceVersion, JSON.parse(before).metadata.resourceVersion);
  });

  test('a status write cannot change the spec, and the request is not applied to the stored object in place', async () => {
    const before = (await c.request('GET', path)).json();
    const put = await c.request('PUT', `${path}/status`, { ...before, spec: { ...before.spec, replicas: 7 }, status: { ...before.status, replicas: 3 } });
    assert.equal(put.status, 200, put.body);
    assert.equal(put.json().spec.replicas, 1);
    assert.equal(put.json().status.replicas, 3);
    // A main-resource patch after it still sees the stored spec (the status write's object was a copy).
    const scaled = await c.request('PATCH', path, { spec: { replicas: 2 } }, { headers: { 'Content-Type': 'application/strategic-merge-patch+json' } });
    assert.equal(scaled.status, 200, scaled.body);
    assert.equal(scaled.json().spec.replicas, 2);
    assert.equal(scaled.json().status.replicas, 3);
    assert.equal(scaled.json().metadata.generation, 2);
  });
});
