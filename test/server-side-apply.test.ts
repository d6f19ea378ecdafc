// Server-side apply end to end: the real kubectl against `kubelite up`. `apply --server-side`
// (create, unchanged, changed, conflicts after `kubectl scale`, --force-conflicts, removing fields,
// two managers), managedFields as `get --show-managed-fields` shows them, ownership recorded by
// other writes, the migration from client-side apply, and the raw API (201/200, Status of a
// conflict, fieldManager required, status subresource).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import YAML from 'yaml';
import { startCluster, tempFile, type Cluster } from './helpers/cluster.js';

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
const CONFLICT_HELP = 'Please review the fields above--they currently have other managers.';

interface Entry {
  manager: string;
  operation: string;
  apiVersion: string;
  time?: string;
  fieldsType: string;
  fieldsV1: Record<string, any>;
  subresource?: string;
}

function deployment(name: string, opts: { replicas?: number; labels?: Record<string, string>; ports?: boolean } = {}): string {
  const spec: Record<string, unknown> = {
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name } },
      spec: { containers: [{ name: 'nginx', image: 'nginx:1.27', ...(opts.ports === false ? {} : { ports: [{ containerPort: 80 }] }) }] },
    },
  };
  if (opts.replicas !== undefined) spec.replicas = opts.replicas;
  return YAML.stringify({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, labels: opts.labels ?? { app: name } }, spec });
}

describe('kubectl apply --server-side', () => {
  let c: Cluster;
  before(async () => { c = await startCluster(); });
  after(async () => { await c?.cleanup(); });

  const ssa = (manifest: string, ...flags: string[]) => c.kubectl(['apply', '--server-side', ...flags, '-f', tempFile('m.yaml', manifest)]);
  const getObj = async (name: string, resource = 'deployment') => YAML.parse(await c.k('get', resource, name, '-o', 'yaml', '--show-managed-fields'));
  const entries = async (name: string, resource = 'deployment'): Promise<Entry[]> => (await getObj(name, resource)).metadata.managedFields ?? [];
  const find = (es: Entry[], manager: string, operation: string, subresource?: string) =>
    es.find((e) => e.manager === manager && e.operation === operation && e.subresource === subresource);

  test('creates the object: serverside-applied, owned by kubectl with operation Apply', async () => {
    const r = await ssa(deployment('web', { replicas: 2, labels: { app: 'web', tier: 'frontend' } }));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'deployment.apps/web serverside-applied');
    const kubectl = find(await entries('web'), 'kubectl', 'Apply');
    assert.ok(kubectl, 'no kubectl Apply entry');
    assert.equal(kubectl.apiVersion, 'apps/v1');
    assert.equal(kubectl.fieldsType, 'FieldsV1');
    assert.match(kubectl.time!, RFC3339);
    assert.equal(kubectl.subresource, undefined);
    assert.deepEqual(kubectl.fieldsV1, {
      'f:metadata': { 'f:labels': { 'f:app': {}, 'f:tier': {} } },
      'f:spec': {
        'f:replicas': {},
        'f:selector': {},
        'f:template': {
          'f:metadata': { 'f:labels': { 'f:app': {} } },
          'f:spec': { 'f:containers': { 'k:{"name":"nginx"}': { '.': {}, 'f:image': {}, 'f:name': {}, 'f:ports': { 'k:{"containerPort":80,"protocol":"TCP"}': { '.': {}, 'f:containerPort': {} } } } } },
        },
      },
    });
    // Without --show-managed-fields kubectl hides them.
    assert.equal(YAML.parse(await c.k('get', 'deployment', 'web', '-o', 'yaml')).metadata.managedFields, undefined);
  });

  test('re-applying the same manifest changes nothing', async () => {
    const before = find(await entries('web'), 'kubectl', 'Apply');
    const r = await ssa(deployment('web', { replicas: 2, labels: { app: 'web', tier: 'frontend' } }));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'deployment.apps/web serverside-applied');
    assert.deepEqual(find(await entries('web'), 'kubectl', 'Apply'), before);
  });

  test('a changed field is applied', async () => {
    const r = await ssa(deployment('web', { replicas: 3, labels: { app: 'web', tier: 'frontend' } }));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await c.k('get', 'deployment', 'web', '-o', 'jsonpath={.spec.replicas}'), '3');
  });

  test('after kubectl scale, applying other replicas is a conflict (exit 1)', async () => {
    assert.equal((await c.k('scale', 'deployment/web', '--replicas=5')).trim(), 'deployment.apps/web scaled');
    const scale = find(await entries('web'), 'kubectl', 'Update', 'scale');
    assert.ok(scale, 'no entry for the scale subresource');
    assert.equal(scale.apiVersion, 'apps/v1');
    assert.deepEqual(scale.fieldsV1, { 'f:spec': { 'f:replicas': {} } });
    const r = await ssa(deployment('web', { replicas: 3, labels: { app: 'web', tier: 'frontend' } }));
    assert.equal(r.code, 1);
    assert.ok(r.stderr.startsWith('error: Apply failed with 1 conflict: conflict with "kubectl" with subresource "scale" using apps/v1: .spec.replicas\n'), r.stderr);
    assert.ok(r.stderr.includes(CONFLICT_HELP), r.stderr);
    assert.equal(await c.k('get', 'deployment', 'web', '-o', 'jsonpath={.spec.replicas}'), '5');
  });

  test('--force-conflicts takes the field over', async () => {
    const r = await ssa(deployment('web', { replicas: 3, labels: { app: 'web', tier: 'frontend' } }), '--force-conflicts');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await c.k('get', 'deployment', 'web', '-o', 'jsonpath={.spec.replicas}'), '3');
    const es = await entries('web');
    assert.equal(find(es, 'kubectl', 'Update', 'scale'), undefined, 'the scale entry owned only replicas');
    assert.ok(find(es, 'kubectl', 'Apply')!.fieldsV1['f:spec']['f:replicas']);
  });

  test('a field removed from the manifest is removed from the object', async () => {
    const r = await ssa(deployment('web', { replicas: 3, ports: false }));
    assert.equal(r.code, 0, r.stderr);
    const obj = await getObj('web');
    assert.deepEqual(obj.metadata.labels, { app: 'web' });
    assert.equal(obj.spec.template.spec.containers[0].ports, undefined);
    const fields = find(obj.metadata.managedFields, 'kubectl', 'Apply')!.fieldsV1;
    assert.deepEqual(fields['f:metadata'], { 'f:labels': { 'f:app': {} } });
  });

  test('two managers co-own a field; it stays until neither applies it', async () => {
    const teamB = YAML.stringify({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { replicas: 3 } });
    const r = await ssa(teamB, '--field-manager=team-b');
    assert.equal(r.code, 0, r.stderr);
    let es = await entries('web');
    assert.ok(find(es, 'team-b', 'Apply')?.fieldsV1['f:spec']['f:replicas'], 'team-b owns replicas');
    assert.ok(find(es, 'kubectl', 'Apply')?.fieldsV1['f:spec']['f:replicas'], 'kubectl still owns replicas');
    // kubectl drops replicas from its manifest: team-b still owns it, the value stays.
    assert.equal((await ssa(deployment('web', { ports: false }))).code, 0);
    assert.equal(await c.k('get', 'deployment', 'web', '-o', 'jsonpath={.spec.replicas}'), '3');
    es = await entries('web');
    assert.equal(find(es, 'kubectl', 'Apply')!.fieldsV1['f:spec']['f:replicas'], undefined);
    // team-b applying another value now conflicts with no one.
    assert.equal((await ssa(teamB.replace('replicas: 3', 'replicas: 4'), '--field-manager=team-b')).code, 0);
    assert.equal(await c.k('get', 'deployment', 'web', '-o', 'jsonpath={.spec.replicas}'), '4');
  });

  test('other writes are recorded as Update operations of their manager', async () => {
    await c.k('label', 'deployment', 'web', 'owner=alice');
    const label = find(await entries('web'), 'kubectl-label', 'Update');
    assert.ok(label, 'no kubectl-label entry');
    assert.match(label.time!, RFC3339);
    assert.deepEqual(label.fieldsV1, { 'f:metadata': { 'f:labels': { 'f:owner': {} } } });
    // Applying again leaves the label alone: kubectl never applied it.
    assert.equal((await ssa(deployment('web', { ports: false }))).code, 0);
    assert.equal(await c.k('get', 'deployment', 'web', '-o', 'jsonpath={.metadata.labels.owner}'), 'alice');
  });

  test('an object created by client-side apply migrates to server-side apply', async () => {
    const csa = await c.kubectl(['apply', '-f', tempFile('csa.yaml', deployment('csa', { replicas: 2 }))]);
    assert.equal(csa.code, 0, csa.stderr);
    assert.ok(find(await entries('csa'), 'kubectl-client-side-apply', 'Update'));
    const changed = deployment('csa', { replicas: 3 });
    // Another manager may not take the fields client-side apply set.
    const other = await ssa(changed, '--field-manager=other');
    assert.equal(other.code, 1);
    assert.ok(other.stderr.startsWith('error: Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas\n'), other.stderr);
    // kubectl may: the values are still those of its last-applied annotation.
    const r = await ssa(changed);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'deployment.apps/csa serverside-applied');
    assert.equal(r.stderr, '', 'the annotation PATCH and the managedFields migration succeed silently');
    const obj = await getObj('csa');
    assert.equal(obj.spec.replicas, 3);
    const es: Entry[] = obj.metadata.managedFields;
    assert.equal(find(es, 'kubectl-client-side-apply', 'Update'), undefined, 'the client-side-apply entry was migrated');
    assert.ok(find(es, 'kubectl', 'Apply'));
    assert.deepEqual(find(es, 'kubectl-last-applied', 'Apply')?.fieldsV1, { 'f:metadata': { 'f:annotations': { 'f:kubectl.kubernetes.io/last-applied-configuration': {} } } });
    const lastApplied = JSON.parse(obj.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']);
    assert.equal(lastApplied.spec.replicas, 3, 'the annotation follows the applied manifest');
    // Going on with server-side apply needs no more migration.
    const again = await ssa(changed);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stderr, '');
  });

  test('core kinds too: a Service', async () => {
    const svc = YAML.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] } });
    const r = await ssa(svc);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'service/web serverside-applied');
    const fields = find(await entries('web', 'service'), 'kubectl', 'Apply')!.fieldsV1;
    assert.deepEqual(fields['f:spec']['f:ports'], { 'k:{"port":80,"protocol":"TCP"}': { '.': {}, 'f:port': {}, 'f:targetPort': {} } });
    assert.deepEqual(fields['f:spec']['f:selector'], {});
  });
});

describe('server-side apply over the API', () => {
  let c: Cluster;
  before(async () => { c = await startCluster(); });
  after(async () => { await c?.cleanup(); });

  const base = '/apis/apps/v1/namespaces/default/deployments';
  const body = (replicas: number) => JSON.stringify({
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'api' },
    spec: { replicas, selector: { matchLabels: { app: 'api' } }, template: { metadata: { labels: { app: 'api' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } },
  });
  const applyPatch = (query: string, raw: string, path = `${base}/api`) =>
    c.request('PATCH', `${path}?${query}`, undefined, { raw, headers: { 'Content-Type': 'application/apply-patch+yaml' } });

  test('201 when the apply creates, 200 when it updates', async () => {
    const created = await applyPatch('fieldManager=ci', body(1));
    assert.equal(created.status, 201, created.body);
    assert.equal(created.json().metadata.managedFields[0].manager, 'ci');
    const updated = await applyPatch('fieldManager=ci', body(2));
    assert.equal(updated.status, 200, updated.body);
    assert.equal(updated.json().spec.replicas, 2);
  });

  test('a YAML body works as well as JSON', async () => {
    const r = await applyPatch('fieldManager=ci', YAML.stringify(JSON.parse(body(2))));
    assert.equal(r.status, 200, r.body);
  });

  test('fieldManager is required', async () => {
    const r = await applyPatch('', body(2));
    assert.equal(r.status, 422);
    assert.equal(r.json().message, 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch');
  });

  test('a conflict is a 409 Status with FieldManagerConflict causes; force=true overrides', async () => {
    const r = await applyPatch('fieldManager=other', body(7));
    assert.equal(r.status, 409);
    const s = r.json();
    assert.equal(s.kind, 'Status');
    assert.equal(s.reason, 'Conflict');
    assert.equal(s.message, 'Apply failed with 1 conflict: conflict with "ci": .spec.replicas');
    assert.deepEqual(s.details.causes, [{ reason: 'FieldManagerConflict', message: 'conflict with "ci"', field: '.spec.replicas' }]);
    const forced = await applyPatch('fieldManager=other&force=true', body(7));
    assert.equal(forced.status, 200, forced.body);
    assert.equal(forced.json().spec.replicas, 7);
  });

  test('a body with unknown fields fails as upstream fails it', async () => {
    const bad = JSON.parse(body(2));
    bad.spec.bogus = true;
    const r = await applyPatch('fieldManager=ci', JSON.stringify(bad));
    assert.equal(r.status, 500);
    assert.equal(r.json().message, 'failed to create typed patch object (/api; apps/v1, Kind=Deployment): .spec.bogus: field not declared in schema');
  });

  test('a status write is owned with subresource status, status fields only', async () => {
    const r = await c.request('PATCH', `${base}/api/status?fieldManager=status-writer`, { status: { observedGeneration: 1, replicas: 7 } },
      { headers: { 'Content-Type': 'application/merge-patch+json' } });
    assert.equal(r.status, 200, r.body);
    const e = (r.json().metadata.managedFields as Entry[]).find((x) => x.manager === 'status-writer');
    assert.ok(e);
    assert.equal(e.subresource, 'status');
    assert.equal(e.operation, 'Update');
    assert.deepEqual(Object.keys(e.fieldsV1), ['f:status']);
  });

  test('a write without fieldManager is recorded under its User-Agent', async () => {
    const r = await c.request('PATCH', `${base}/api`, { metadata: { annotations: { note: 'x' } } },
      { headers: { 'Content-Type': 'application/merge-patch+json', 'User-Agent': 'my-controller/v0.1 (linux/amd64)' } });
    assert.equal(r.status, 200, r.body);
    const e = (r.json().metadata.managedFields as Entry[]).find((x) => x.manager === 'my-controller');
    assert.deepEqual(e?.fieldsV1, { 'f:metadata': { 'f:annotations': { '.': {}, 'f:note': {} } } });
  });
});
