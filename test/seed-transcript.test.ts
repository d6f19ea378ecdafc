// The golden transcript test: the seed's kubectl command sequence against `kubelite up` (all
// components), every output line compared with the seed's transcript (test/golden/seed/) after
// masking only what must vary between clusters — see test/golden/seed/README.md for the masks and
// for the seed's own inconsistencies. Beyond the text, the values must agree with each other: the
// Endpoints are exactly the pods' IPs.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startCluster, ROOT, type Cluster } from './helpers/cluster.js';
import { until } from './helpers/wait.js';

const GOLDEN = path.join(ROOT, 'test/golden/seed');
/** The one address that is input, not allocated: the seed's hand-written endpoint. */
const FIXED_IPS = new Set(['10.0.0.250']);
/** The seed's ep.yaml and its transcript disagree on the objects' name (see the README). */
const RENAMES: [string, string][] = [['harbor-huangxin', 'endpoint-huangsir']];

function mask(text: string): string[] {
  return text.split('\n').filter((l) => l.trim() !== '').map((line) => line
    .replace(/\bdeployment-nginx-[a-z0-9]{1,10}-[a-z0-9]{5}\b/g, 'deployment-nginx-<HASH>-<ID>')
    .replace(/\b\d{1,3}(\.\d{1,3}){3}\b/g, (ip) => (FIXED_IPS.has(ip) ? ip : '<IP>'))
    .replace(/\bnode0[12]\b/g, '<NODE>')
    .replace(/(?<=\s)\d+[smhdy](\d+[smh])?(?=\s|$)/g, '<AGE>')
    .replace(/ {2,}/g, '  ')
    .trimEnd());
}

const golden = (file: string) => mask(readFileSync(path.join(GOLDEN, file), 'utf8'));

/** Our output with the seed's names: the manifest's renamed objects, and the API server's port. */
function ours(out: string, apiPort: string): string {
  let s = out;
  for (const [from, to] of RENAMES) s = s.replaceAll(from, to);
  // Tests listen on a free port; the seed's API server (and `kubelite up` by default) on 6443.
  return s.replaceAll(`:${apiPort}`, ':6443');
}

describe('the seed transcript, line by line', () => {
  let c: Cluster;
  before(async () => { c = await startCluster({ components: true, args: ['--pod-start-delay', '100ms'] }); });
  after(async () => { await c?.cleanup(); });

  interface PodRow { name: string; ip: string }
  async function runningPods(exclude: string[] = []): Promise<PodRow[]> {
    return until(async () => {
      const items = JSON.parse(await c.k('get', 'po', '-o', 'json')).items as any[];
      const ps = items.filter((p) => !exclude.includes(p.metadata.name));
      const ok = ps.length === 3 && ps.every((p) => !p.metadata.deletionTimestamp && p.status.phase === 'Running'
        && p.status.conditions?.some((cd: any) => cd.type === 'Ready' && cd.status === 'True'));
      return ok ? ps.map((p) => ({ name: p.metadata.name, ip: p.status.podIP })) : undefined;
    }, 'three Running pods');
  }

  /** The Service's endpoints as the slices say (what describe prints), once they equal `ips`. */
  async function endpointsEqual(svc: string, ips: string[]): Promise<void> {
    const want = ips.map((ip) => `${ip}:80`).sort().join(',');
    await until(async () => {
      const ep = JSON.parse(await c.k('get', 'ep', svc, '-o', 'json'));
      const have = (ep.subsets ?? []).flatMap((s: any) => (s.addresses ?? []).map((a: any) => `${a.ip}:80`)).sort().join(',');
      const slices = JSON.parse(await c.k('get', 'endpointslices', '-l', `kubernetes.io/service-name=${svc}`, '-o', 'json')).items;
      const fromSlices = slices.flatMap((s: any) => (s.endpoints ?? []).filter((e: any) => e.conditions?.ready).flatMap((e: any) => e.addresses.map((a: string) => `${a}:80`))).sort().join(',');
      return have === want && fromSlices === want ? true : undefined;
    }, `${svc} endpoints = ${want}`);
  }

  /** describe svc, with the one line kubectl 1.32 adds over the seed's kubectl checked and removed. */
  async function describeSvc(name: string): Promise<string> {
    const out = await c.k('describe', 'svc', name);
    assert.match(out, /^Internal Traffic Policy:\s+Cluster$/m);
    return out.replace(/^Internal Traffic Policy:.*\n/m, '');
  }

  function compare(actual: string, file: string) {
    assert.deepEqual(mask(ours(actual, new URL(c.url).port)), golden(file), `kubectl output differs from the seed's ${file}:\n${actual}`);
  }

  let first: PodRow[] = [];

  test('kubectl get po -o wide: three Running pods', async () => {
    await c.k('apply', '-f', path.join(ROOT, 'examples/nginx-deploy.yaml'));
    first = await runningPods();
    compare(await c.k('get', 'po', '-o', 'wide'), '01-get-po-wide.txt');
  });

  test('kubectl describe svc: Endpoints equal the pod IPs', async () => {
    await endpointsEqual('nginx-svc-clusterip', first.map((p) => p.ip));
    const out = await describeSvc('nginx-svc-clusterip');
    compare(out, '02-describe-svc.txt');
    const line = out.match(/^Endpoints:\s+(\S+)$/m)![1];
    assert.deepEqual(line.split(',').sort(), first.map((p) => `${p.ip}:80`).sort());
    const ip = JSON.parse(await c.k('get', 'svc', 'nginx-svc-clusterip', '-o', 'json')).spec.clusterIP;
    assert.match(out, new RegExp(`^IP:\\s+${ip.replaceAll('.', '\\.')}$`, 'm'));
  });

  test('kubectl get endpoints', async () => {
    const out = await c.k('get', 'endpoints');
    // The seed's author cropped the `kubernetes` row here (it is in the later listing, 07).
    assert.match(out, /^kubernetes\s+127\.0\.0\.1:\d+\s+\S+$/m);
    compare(out.replace(/^kubernetes\s.*\n/m, ''), '03-get-endpoints.txt');
  });

  let second: PodRow[] = [];

  test('kubectl delete po: three new pods with new IPs', async () => {
    compare(await c.k('delete', 'po', ...first.map((p) => p.name)), '04-delete-po.txt');
    second = await runningPods(first.map((p) => p.name));
    for (const p of second) assert.ok(!first.some((o) => o.ip === p.ip), `${p.ip} is new`);
    compare(await c.k('get', 'po', '-o', 'wide'), '05-get-po-wide.txt');
  });

  test('the Endpoints follow the new pods by themselves', async () => {
    await endpointsEqual('nginx-svc-clusterip', second.map((p) => p.ip));
    const out = await describeSvc('nginx-svc-clusterip');
    compare(out, '06-describe-svc.txt');
    assert.deepEqual(out.match(/^Endpoints:\s+(\S+)$/m)![1].split(',').sort(), second.map((p) => `${p.ip}:80`).sort());
    compare(await c.k('get', 'endpoints'), '07-get-endpoints.txt');
  });

  test('hand-written Endpoints for a Service without a selector', async () => {
    await c.k('apply', '-f', path.join(ROOT, 'examples/ep.yaml'));
    // kubectl 1.32's describe reads EndpointSlices: the mirroring controller must have made one.
    await until(async () => {
      const out = await c.k('describe', 'svc', 'harbor-huangxin');
      return /^Endpoints:\s+10\.0\.0\.250:80$/m.test(out) ? true : undefined;
    }, 'the mirrored EndpointSlice');
    compare(await describeSvc('harbor-huangxin'), '08-describe-svc-handwritten.txt');
    compare(await c.k('get', 'ep', 'harbor-huangxin'), '09-get-ep-handwritten.txt');
  });
});
