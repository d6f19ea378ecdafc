// `npm run bench -- kubectl-get [--objects N]`: what `kubectl get po` costs with N pods stored
// (default 10,000): the whole command's wall time (real kubectl, warm discovery cache), the
// server's answer to the Table request kubectl sends against the plain JSON list of the same
// pods, and the server-side Table rendering cost per row measured in this process.
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { progress, summarize, startKubelite, httpClient } from './lib.js';
import { toTable } from '../src/apiserver/tables.js';
import { RESOURCES } from '../src/api/resources.js';
import type { KObject } from '../src/api/types.js';

const args = parseArgs({ args: process.argv.slice(2), options: { objects: { type: 'string', default: '10000' } }, allowPositionals: true });
const OBJECTS = Number(args.values.objects);
const TABLE_ACCEPT = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json';

async function main(): Promise<void> {
  const k = await startKubelite();
  const c = httpClient(k, 64);
  await c.request('POST', '/api/v1/namespaces', JSON.stringify({ metadata: { name: 'bench' } }));
  progress(`storing ${OBJECTS} pods`);
  let next = 0;
  await Promise.all(Array.from({ length: 64 }, async () => {
    for (;;) {
      const i = next++;
      if (i >= OBJECTS) return;
      const r = await c.request('POST', '/api/v1/namespaces/bench/pods', JSON.stringify({
        metadata: { name: `p-${i}`, labels: { app: 'bench' } },
        spec: { nodeName: `node${String(i % 100).padStart(2, '0')}`, containers: [{ name: 'web', image: 'nginx:1.27', ports: [{ containerPort: 80 }] }] },
      }));
      if (r.status !== 201) throw new Error(`create: ${r.status} ${r.body}`);
    }
  }));

  progress('kubectl get po (5 runs after a warm-up)');
  const cache = mkdtempSync(path.join(tmpdir(), 'kubectl-cache-'));
  const kubectl = () => execFileSync('kubectl', [`--kubeconfig=${path.join(k.dataDir, 'kubeconfig')}`, `--cache-dir=${cache}`, 'get', 'po', '-n', 'bench'], { maxBuffer: 256 * 2 ** 20 });
  kubectl();
  const whole: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    const lines = kubectl().toString().split('\n').length - 2;
    whole.push(performance.now() - t);
    if (lines !== OBJECTS) throw new Error(`kubectl printed ${lines} rows`);
  }
  rmSync(cache, { recursive: true, force: true });

  progress('Table vs JSON list over HTTPS (10 each)');
  const timed = async (accept: string) => {
    const samples: number[] = [];
    let bytes = 0;
    for (let i = 0; i < 10; i++) {
      const t = performance.now();
      const r = await c.requestWithHeaders('GET', '/api/v1/namespaces/bench/pods?limit=500', { Accept: accept });
      samples.push(performance.now() - t);
      bytes = r.body.length;
    }
    return { ...summarize(samples), bytes };
  };
  const tablePage = await timed(TABLE_ACCEPT);
  const jsonPage = await timed('application/json');

  progress('Table rendering in-process');
  const list = JSON.parse((await c.request('GET', '/api/v1/namespaces/bench/pods')).body) as { items: KObject[] };
  const pods = RESOURCES.find((r) => r.plural === 'pods')!;
  for (const o of list.items) { o.kind = 'Pod'; o.apiVersion = 'v1'; }
  toTable(pods, list.items.slice(0, 100), { includeObject: 'Metadata' }); // warm-up
  const t = performance.now();
  const rounds = 5;
  for (let i = 0; i < rounds; i++) JSON.stringify(toTable(pods, list.items, { includeObject: 'Metadata' }));
  const perRowUs = ((performance.now() - t) * 1000) / (rounds * list.items.length);
  c.close();
  await k.stop();
  k.remove();

  const w = summarize(whole);
  process.stdout.write([
    `kubectl get po with ${OBJECTS} pods: p50 ${w.p50.toFixed(0)} ms, max ${Math.max(...whole).toFixed(0)} ms (whole command, kubectl pages 500 at a time)`,
    `  one page of 500 as Table: p50 ${tablePage.p50.toFixed(1)} ms (${(tablePage.bytes / 1e3).toFixed(0)} kB); as JSON list: p50 ${jsonPage.p50.toFixed(1)} ms (${(jsonPage.bytes / 1e3).toFixed(0)} kB)`,
    `  server-side Table rendering (rows + JSON): ${perRowUs.toFixed(2)} µs per pod row`,
  ].join('\n') + '\n');
  process.stdout.write(JSON.stringify({ kubectlGetMs: w, tablePage, jsonPage, tableRowUs: perRowUs }) + '\n');
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? e.stack : e}\n`);
  process.exit(1);
});
