// Merge and strategic merge patches of the status subresource: the stored spec stays exactly as it
// was whatever the patch says about it, metadata and status take the patch, and a patch whose
// top-level fields go beyond metadata and status is still applied to the whole object (so its
// errors are the whole object's).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { SqliteStore } from '../src/store/sqlite.js';
import type { Registry } from '../src/apiserver/registry.js';
import { registryOnStore, write, POD, type RegistryOnStore } from './helpers/registry.js';
import { ApiError } from '../src/apiserver/errors.js';
import type { KObject } from '../src/api/types.js';

describe('status subresource patches', () => {
  let opened: RegistryOnStore, store: SqliteStore, registry: Registry;
  before(async () => {
    opened = await registryOnStore('kubelite-status-patch-');
    ({ store, registry } = opened);
  });
  after(() => opened?.close());

  let n = 0;
  async function newPod(): Promise<{ name: string; stored: KObject }> {
    const name = `pod-${n++}`;
    await registry.create(POD, 'default', { metadata: { name, labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } }, write('controller'));
    await registry.patch(POD, 'default', name, 'strategic', { status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True', lastProbeTime: null }] } }, write('kubelet'), 'status');
    return { name, stored: await registry.get(POD, 'default', name) };
  }

  for (const type of ['strategic', 'merge'] as const) {
    test(`${type}: status and labels change, the spec stays byte for byte, even when the patch names it`, async () => {
      const { name, stored } = await newPod();
      const patch = { metadata: { labels: { tier: 'front' } }, spec: { activeDeadlineSeconds: 5 }, status: { message: 'hello' } };
      const { obj } = await registry.patch(POD, 'default', name, type, patch, write('kubelet'), 'status');
      const now = await registry.get(POD, 'default', name);
      assert.equal(JSON.stringify(now.spec), JSON.stringify(stored.spec));
      assert.deepEqual(now.metadata.labels, { app: 'web', tier: 'front' });
      assert.equal((now.status as { message?: string }).message, 'hello');
      assert.equal(obj.metadata.resourceVersion, now.metadata.resourceVersion);
      // The kubelet's entry owns the status and label it wrote; the spec stays the controller's.
      const kubelet = now.metadata.managedFields!.find((e) => e.manager === 'kubelet')!;
      assert.equal(kubelet.subresource, 'status');
      assert.ok('f:message' in (kubelet.fieldsV1 as { 'f:status': object })['f:status']);
      assert.ok(!('f:spec' in (kubelet.fieldsV1 as object)));
    });

    test(`${type}: a status-only patch keeps the spec and the stored nulls of the status`, async () => {
      const { name, stored } = await newPod();
      await registry.patch(POD, 'default', name, type, { status: { message: 'x' } }, write('kubelet'), 'status');
      const now = await registry.get(POD, 'default', name);
      assert.equal(JSON.stringify(now.spec), JSON.stringify(stored.spec));
      assert.deepEqual((now.status as { conditions: unknown[] }).conditions, (stored.status as { conditions: unknown[] }).conditions);
    });
  }

  test('a status patch that gives the spec a value of the wrong type fails as a whole object would', async () => {
    const { name } = await newPod();
    await assert.rejects(
      registry.patch(POD, 'default', name, 'merge', { spec: 'x', status: { message: 'y' } }, write('kubelet'), 'status'),
      (e: unknown) => e instanceof ApiError && e.code === 400 && /cannot unmarshal string into Go struct field Pod\.spec/.test(e.message),
    );
  });

  test('unknown status fields are still refused under Strict', async () => {
    const { name } = await newPod();
    await assert.rejects(
      registry.patch(POD, 'default', name, 'strategic', { status: { bogus: 1 } }, write('kubelet'), 'status'),
      (e: unknown) => e instanceof ApiError && e.code === 400 && /unknown field "status\.bogus"/.test(e.message),
    );
  });
});
