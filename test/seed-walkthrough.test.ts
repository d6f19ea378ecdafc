// The seed's walk-through on `kubelite up` with all its components, driven by the real kubectl:
// the unchanged nginx-deploy.yaml gives three Running pods on node01/node02; deleting them gives
// three new pods with new names and IPs; scale, image change (rolling update), rollout undo;
// deleting the Deployment deletes its ReplicaSets and pods.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startCluster, ROOT, type Cluster } from './helpers/cluster.js';
import { until } from './helpers/wait.js';
import { ipv4ToInt, parseCIDR4 } from '../src/node/ipam.js';

function inCIDR(ip: string, cidr: string): boolean {
  const c = parseCIDR4(cidr);
  const n = ipv4ToInt(ip)!;
  return n >= c.base && n < c.base + c.size;
}

const MANIFEST = path.join(ROOT, 'examples/nginx-deploy.yaml');
const SAFE = '[bcdfghjklmnpqrstvwxz2456789]';
const POD_NAME = new RegExp(`^deployment-nginx-${SAFE}{1,10}-${SAFE}{5}$`);

interface PodRow { name: string; ready: string; status: string; ip: string; node: string }

describe('the seed walk-through', () => {
  let c: Cluster;
  before(async () => { c = await startCluster({ components: true, args: ['--pod-start-delay', '100ms'] }); });
  after(async () => { await c?.cleanup(); });

  /** `kubectl get po -o wide`, parsed. */
  async function pods(): Promise<PodRow[]> {
    const out = await c.k('get', 'po', '-o', 'wide', '--no-headers');
    return out.trim().split('\n').filter(Boolean).map((l) => {
      const [name, ready, status, , , ip, node] = l.split(/\s{2,}|\s+/);
      return { name, ready, status, ip, node };
    });
  }

  const running = (n: number, exclude: string[] = []) => until(async () => {
    const ps = (await pods()).filter((p) => !exclude.includes(p.name));
    return ps.length === n && ps.every((p) => p.status === 'Running' && p.ready === '1/1') ? ps : undefined;
  }, `${n} running pods`);

  test('apply the unchanged manifest: three pods Running on node01 and node02', async () => {
    assert.equal(await c.k('apply', '-f', MANIFEST), 'service/nginx-svc-clusterip created\ndeployment.apps/deployment-nginx created\n');
    const ps = await running(3);
    for (const p of ps) {
      assert.match(p.name, POD_NAME);
      assert.match(p.node, /^node0[12]$/);
      assert.ok(inCIDR(p.ip, c.networks!.podCIDR), `${p.ip} in the cluster's pod CIDR ${c.networks!.podCIDR}`);
    }
    assert.equal(new Set(ps.map((p) => p.ip)).size, 3, 'each pod has its own IP');
    assert.deepEqual([...new Set(ps.map((p) => p.node))].sort(), ['node01', 'node02'], 'spread over both nodes');
    // The Deployment's status follows the pods' through the ReplicaSet's, two controllers later.
    await until(async () => /deployment-nginx\s+3\/3\s+3\s+3\s+/.test(await c.k('get', 'deploy', 'deployment-nginx')), 'kubectl get deploy showing 3/3 3 3');
  });

  test('deleting the pods brings three new pods with new names and new IPs', async () => {
    const old = await pods();
    const out = await c.k('delete', 'po', ...old.map((p) => p.name));
    assert.equal(out, old.map((p) => `pod "${p.name}" deleted\n`).join(''));
    const fresh = await running(3, old.map((p) => p.name));
    for (const p of fresh) {
      assert.ok(!old.some((o) => o.name === p.name), `${p.name} is new`);
      assert.ok(!old.some((o) => o.ip === p.ip), `${p.ip} is a new IP`);
      assert.match(p.name, POD_NAME);
    }
  });

  test('scale, rolling update, rollout status and undo', async () => {
    assert.equal(await c.k('scale', 'deploy', 'deployment-nginx', '--replicas=5'), 'deployment.apps/deployment-nginx scaled\n');
    await running(5);
    const rs1 = (await c.k('get', 'rs', '-o', 'name')).trim();
    assert.equal(await c.k('set', 'image', 'deploy/deployment-nginx', 'container-nginx=nginx:1.15'), 'deployment.apps/deployment-nginx image updated\n');
    const status = await c.kubectl(['rollout', 'status', 'deploy/deployment-nginx', '--timeout=90s']);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /deployment "deployment-nginx" successfully rolled out\n$/);
    const after = await running(5);
    const images = JSON.parse(await c.k('get', 'po', '-o', 'json')).items.map((p: any) => p.spec.containers[0].image);
    assert.deepEqual([...new Set(images)], ['nginx:1.15']);
    assert.equal(new Set(after.map((p) => p.name.split('-').slice(0, 3).join('-'))).size, 1, 'one ReplicaSet runs the pods');
    const rsAll = (await c.k('get', 'rs', '-o', 'name')).trim().split('\n');
    assert.equal(rsAll.length, 2);
    assert.ok(rsAll.includes(rs1));

    assert.equal(await c.k('rollout', 'undo', 'deploy/deployment-nginx'), 'deployment.apps/deployment-nginx rolled back\n');
    const undone = await c.kubectl(['rollout', 'status', 'deploy/deployment-nginx', '--timeout=90s']);
    assert.equal(undone.code, 0, undone.stderr);
    await until(async () => {
      const items = JSON.parse(await c.k('get', 'po', '-o', 'json')).items;
      return items.length === 5 && items.every((p: any) => p.spec.containers[0].image === 'nginx:1.14.1' && !p.metadata.deletionTimestamp) ? true : undefined;
    }, 'the old template back');
    const history = await c.k('rollout', 'history', 'deploy/deployment-nginx');
    assert.match(history, /REVISION\s+CHANGE-CAUSE\n2\s+<none>\n3\s+<none>\n/);
  });

  test('deleting the Deployment deletes its ReplicaSets and pods', async () => {
    assert.equal(await c.k('delete', 'deploy', 'deployment-nginx'), 'deployment.apps "deployment-nginx" deleted\n');
    await until(async () => {
      const rs = (await c.kubectl(['get', 'rs', '-o', 'name'])).stdout.trim();
      const po = (await c.kubectl(['get', 'po', '-o', 'name'])).stdout.trim();
      return rs === '' && po === '' ? true : undefined;
    }, 'no ReplicaSets and no pods');
  });
});
