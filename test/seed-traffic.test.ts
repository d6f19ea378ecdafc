// The seed's load-distribution scenario with kubectl and curl on `kubelite up` (all components),
// once with each proxy mode (userspace, nftables): requests to the Service's ClusterIP are spread over the three pods; with
// `sessionAffinity: ClientIP`, each client address sticks to one pod while different clients
// spread; a pod being deleted receives nothing once it is terminating.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import path from 'node:path';
import { startCluster, ROOT, type Cluster } from './helpers/cluster.js';
import { until } from './helpers/wait.js';

/** `curl` the URL from a given local address; returns the answering pod's name (the body). */
function curl(url: string, from = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('curl', ['-sS', '--max-time', '5', '--interface', from, url], (err, stdout, stderr) => {
      if (err) reject(new Error(`curl ${url} from ${from}: ${stderr || err.message}`));
      else resolve(stdout.trim());
    });
  });
}

/** nftables mode needs root (checked above) and the nft command (Debian nftables; .ci/run installs it). */
const nftMissing = spawnSync('nft', ['--version']).status !== 0 && 'the nft command is missing';

// The userspace proxy also with two worker processes: each balances on its own, so round-robin
// holds per worker and the totals may differ by up to the worker count.
for (const { mode, workers } of [{ mode: 'userspace', workers: 1 }, { mode: 'userspace', workers: 2 }, { mode: 'nftables', workers: 1 }] as const) {
describe(`the seed: traffic to the Service is spread over its pods (${mode} proxy${workers > 1 ? `, ${workers} workers` : ''})`, { skip: (process.getuid?.() !== 0 && 'port 80 and nftables need root') || (mode === 'nftables' && nftMissing) }, () => {
  let c: Cluster;
  let url = '';
  let pods: string[] = [];
  before(async () => {
    c = await startCluster({ components: true, args: ['--pod-start-delay', '100ms', '--proxy-mode', mode, '--proxy-workers', String(workers)] });
    await c.k('apply', '-f', path.join(ROOT, 'examples/nginx-deploy.yaml'));
    const ip = JSON.parse(await c.k('get', 'svc', 'nginx-svc-clusterip', '-o', 'json')).spec.clusterIP;
    url = `http://${ip}/`;
    await c.k('rollout', 'status', 'deploy/deployment-nginx', '--timeout=60s');
    pods = (await c.k('get', 'po', '-l', 'app=nginx', '-o', 'name')).trim().split('\n').map((n) => n.replace('pod/', '')).sort();
    // Every pod reachable through the proxy: the endpoints have been programmed.
    await until(async () => {
      const seen = new Set<string>();
      for (let i = 0; i < 9; i++) seen.add(await curl(url));
      return seen.size === 3 ? true : undefined;
    }, 'all three pods answering through the ClusterIP');
  });
  after(async () => { await c?.cleanup(); });

  test('30 requests to the ClusterIP reach all three pods, round-robin', async () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 30; i++) {
      const pod = await curl(url);
      counts.set(pod, (counts.get(pod) ?? 0) + 1);
    }
    assert.deepEqual([...counts.keys()].sort(), pods);
    if (workers === 1) assert.deepEqual([...counts.values()], [10, 10, 10], 'round-robin gives each pod a third');
    else for (const n of counts.values()) assert.ok(Math.abs(n - 10) <= workers, `round-robin per worker keeps each pod near a third: ${[...counts.values()]}`);
  });

  test('sessionAffinity: ClientIP pins each client address to one pod', async () => {
    await c.k('patch', 'svc', 'nginx-svc-clusterip', '-p', '{"spec":{"sessionAffinity":"ClientIP"}}');
    assert.match(await c.k('describe', 'svc', 'nginx-svc-clusterip'), /^Session Affinity:\s+ClientIP$/m);
    const clients = Array.from({ length: 12 }, (_, i) => `127.0.0.${10 + i}`);
    const chosen = new Map<string, string>();
    // The proxy applies the change live: wait until one client sticks.
    await until(async () => {
      const a = await curl(url, clients[0]);
      for (let i = 0; i < 5; i++) if ((await curl(url, clients[0])) !== a) return undefined;
      return true;
    }, 'affinity applied');
    for (const from of clients) {
      const first = await curl(url, from);
      for (let i = 0; i < 5; i++) assert.equal(await curl(url, from), first, `${from} sticks to ${first}`);
      chosen.set(from, first);
    }
    assert.ok(new Set(chosen.values()).size > 1, `different clients spread: ${JSON.stringify([...chosen])}`);
  });

  test('a pod being deleted receives nothing once it is terminating', async () => {
    await c.k('patch', 'svc', 'nginx-svc-clusterip', '-p', '{"spec":{"sessionAffinity":"None"}}');
    const victim = pods[0];
    await c.k('delete', 'po', victim, '--wait=false');
    await until(async () => {
      const p = JSON.parse(await c.k('get', 'po', victim, '-o', 'json'));
      return p.metadata.deletionTimestamp ? true : undefined;
    }, `${victim} terminating`).catch(() => true); // already gone is terminating too
    // Once the Endpoints drop it, no request reaches it.
    await until(async () => {
      const ep = JSON.parse(await c.k('get', 'ep', 'nginx-svc-clusterip', '-o', 'json'));
      const names = (ep.subsets ?? []).flatMap((s: any) => (s.addresses ?? []).map((a: any) => a.targetRef?.name));
      return names.includes(victim) ? undefined : true;
    }, `${victim} out of the endpoints`);
    // The proxy follows the slices through a watch of its own: wait until a round over the
    // endpoints left misses the victim, then every request must.
    await until(async () => {
      for (let i = 0; i < 6; i++) if ((await curl(url)) === victim) return undefined;
      return true;
    }, `the proxy leaving ${victim} out`);
    for (let i = 0; i < 30; i++) assert.notEqual(await curl(url), victim);
  });
});
}
