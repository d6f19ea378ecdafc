// API benchmark: `npm run bench -- api [--seconds N] [--objects N]`.
// Measures, against a real `kubelite up` process over HTTPS:
//   - creates/s with 1, 8 and 64 concurrent clients (fsync-durable), from a Node.js client and,
//     where Debian's wrk is installed, from wrk (a C load generator, so that the figure is less
//     bounded by the client sharing the machine's cores); and raw etcd puts/s from a Node.js etcd
//     client with the same number of writers in the same run (Debian etcd-server), printed as a
//     ratio of the Node.js-client figures (the same kind of client on both sides);
//   - GET and LIST latency with N pods stored (default 10,000);
//   - write → watch event latency p50/p99, and p99 from the write's response (the watch path alone);
//   - time from start to /readyz on a fresh and on an N-object data dir; RSS.
import { parseArgs } from 'node:util';
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { Etcd3 } from 'etcd3';
import { progress, summarize, startKubelite, httpClient, startEtcd, rssOf, ROOT, type HttpClient, type Kubelite } from './lib.js';

const args = parseArgs({
  args: process.argv.slice(2),
  options: { seconds: { type: 'string', default: '5' }, objects: { type: 'string', default: '10000' }, 'no-etcd': { type: 'boolean', default: false }, store: { type: 'string' } },
  allowPositionals: true,
});
const SECONDS = Number(args.values.seconds);
const OBJECTS = Number(args.values.objects);
const CONCURRENCY = [1, 8, 64];

function podBody(name: string): string {
  return JSON.stringify({
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, labels: { app: 'bench', tier: 'backend', 'pod-template-hash': '6d84458cd8' }, annotations: { 'bench/note': 'x'.repeat(200) } },
    spec: { containers: [{ name: 'web', image: 'nginx:1.27', ports: [{ containerPort: 80, name: 'http' }],
      env: [{ name: 'MODE', value: 'bench' }], resources: { requests: { cpu: '100m', memory: '64Mi' } } }] },
  });
}

/** Run `concurrency` workers for `seconds`, each calling op(i) back to back; returns ops/s. */
async function closedLoop(concurrency: number, seconds: number, op: (i: number) => Promise<void>): Promise<number> {
  let next = 0, done = 0;
  const deadline = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < deadline) {
      await op(next++);
      done++;
    }
  }));
  return done / ((performance.now() - t0) / 1000);
}

function hasWrk(): boolean {
  return spawnSync('wrk', ['--version']).error === undefined;
}

/** wrk with bench/wrk-create.lua: creates/s and the p99 latency in ms. */
function wrkCreates(k: Kubelite, namespace: string, concurrency: number, seconds: number, run: string): { perSecond: number; p99Ms: number } {
  const out = execFileSync('wrk', [`-t${Math.min(2, concurrency)}`, `-c${concurrency}`, `-d${seconds}s`, '-s', path.join(ROOT, 'bench/wrk-create.lua'), k.url], {
    env: { ...process.env, TOKEN: k.token, RUN: run, TARGET_PATH: `/api/v1/namespaces/${namespace}/pods` }, encoding: 'utf8',
  });
  const m = /WRK_RESULT (\d+) (\d+) (\d+) (\d+)/.exec(out);
  if (!m) throw new Error(`unexpected wrk output: ${out}`);
  const [requests, durationUs, errors, p99Us] = m.slice(1).map(Number);
  if (errors > 0) throw new Error(`wrk: ${errors} of ${requests} creates failed`);
  return { perSecond: requests / (durationUs / 1e6), p99Ms: p99Us / 1000 };
}

async function createNamespace(c: HttpClient, name: string): Promise<void> {
  const r = await c.request('POST', '/api/v1/namespaces', JSON.stringify({ metadata: { name } }));
  if (r.status !== 201) throw new Error(`namespace ${name}: ${r.status} ${r.body}`);
}

interface WatchLatency {
  p50: number;
  p99: number;
  n: number;
  /** From the create's response to its event: the watch path alone, without the write's own latency. */
  afterResponse: { p50: number; p99: number };
}

/** 1,000 sequential creates, each timed from sending to its ADDED event on an open watch. */
async function watchLatency(c: HttpClient, namespace: string): Promise<WatchLatency> {
  const sent = new Map<string, number>();
  const answered = new Map<string, number>();
  const latencies: number[] = [];
  const afterResponse: number[] = [];
  await createNamespace(c, namespace);
  const listRv = JSON.parse((await c.request('GET', `/api/v1/namespaces/${namespace}/pods`)).body).metadata.resourceVersion;
  const watch = c.stream(`/api/v1/namespaces/${namespace}/pods?watch=true&resourceVersion=${listRv}`, (line) => {
    const ev = JSON.parse(line);
    const name = ev.object.metadata.name;
    const t = sent.get(name);
    if (t === undefined || ev.type !== 'ADDED') return;
    const now = performance.now();
    latencies.push(now - t);
    // An event may arrive before the create's response: that counts as no delay.
    afterResponse.push(Math.max(0, now - (answered.get(name) ?? now)));
  });
  await new Promise((r) => setTimeout(r, 200));
  for (let i = 0; i < 1000; i++) {
    const name = `w-${i}`;
    sent.set(name, performance.now());
    await c.request('POST', `/api/v1/namespaces/${namespace}/pods`, podBody(name));
    answered.set(name, performance.now());
  }
  await new Promise((r) => setTimeout(r, 500));
  watch.close();
  const { p50, p99 } = summarize(afterResponse);
  return { ...summarize(latencies), afterResponse: { p50, p99 } };
}

/** Node-client creates/s at each concurrency against a running kubelite. */
async function createRates(k: Kubelite, prefix: string): Promise<Record<number, number>> {
  const out: Record<number, number> = {};
  for (const conc of CONCURRENCY) {
    const c = httpClient(k, conc);
    const ns = `${prefix}-c${conc}`;
    await createNamespace(c, ns);
    progress(`${prefix}: creates with ${conc} concurrent client(s) for ${SECONDS}s`);
    out[conc] = await closedLoop(conc, SECONDS, async (i) => {
      const r = await c.request('POST', `/api/v1/namespaces/${ns}/pods`, podBody(`p-${i}`));
      if (r.status !== 201) throw new Error(`create: ${r.status} ${r.body}`);
    });
    c.close();
  }
  return out;
}

async function main(): Promise<void> {
  const results: Record<string, unknown> = {};

  progress('fresh start → /readyz (5 runs)');
  const fresh: number[] = [];
  for (let i = 0; i < 5; i++) {
    const k = await startKubelite();
    fresh.push(k.readyMs);
    await k.stop();
    k.remove();
  }
  results.freshStartMs = summarize(fresh).p50;

  const k = await startKubelite();
  const rssIdle = rssOf(k.proc.pid!);
  const creates = await createRates(k, 'bench');
  results.createsPerSecond = creates;
  const wrk: Record<number, { perSecond: number; p99Ms: number }> = {};
  if (hasWrk()) {
    const c = httpClient(k, 1);
    await createNamespace(c, 'bench-wrk');
    c.close();
    for (const conc of CONCURRENCY) {
      progress(`creates from wrk with ${conc} connection(s) for ${SECONDS}s`);
      wrk[conc] = wrkCreates(k, 'bench-wrk', conc, SECONDS, `c${conc}`);
    }
    results.wrkCreates = wrk;
  } else {
    progress('wrk is not installed (apt-get install wrk): skipping the wrk runs');
  }

  // Fill up to OBJECTS pods in one namespace for the read benchmarks.
  const c = httpClient(k, 64);
  await createNamespace(c, 'bench-read');
  progress(`storing ${OBJECTS} pods`);
  let made = 0;
  await Promise.all(Array.from({ length: 64 }, async () => {
    for (;;) {
      const i = made++;
      if (i >= OBJECTS) return;
      const r = await c.request('POST', '/api/v1/namespaces/bench-read/pods', podBody(`r-${i}`));
      if (r.status !== 201) throw new Error(`create: ${r.status} ${r.body}`);
    }
  }));

  progress('GET latency (2000 sequential GETs)');
  const gets: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const name = `r-${Math.floor(Math.random() * OBJECTS)}`;
    const t = performance.now();
    const r = await c.request('GET', `/api/v1/namespaces/bench-read/pods/${name}`);
    gets.push(performance.now() - t);
    if (r.status !== 200) throw new Error(`get: ${r.status}`);
  }
  results.getMs = summarize(gets);

  progress(`LIST latency (20 lists of ${OBJECTS} pods)`);
  const lists: number[] = [];
  let listBytes = 0;
  for (let i = 0; i < 20; i++) {
    const t = performance.now();
    const r = await c.request('GET', '/api/v1/namespaces/bench-read/pods');
    lists.push(performance.now() - t);
    listBytes = r.body.length;
    if (r.status !== 200) throw new Error(`list: ${r.status}`);
  }
  results.listMs = { ...summarize(lists), bytes: listBytes };

  progress('write → watch event latency (1000 sequential writes)');
  results.watchLatencyMs = await watchLatency(c, 'bench-watch');
  results.rssBytes = { idle: rssIdle, loaded: rssOf(k.proc.pid!) };
  c.close();
  await k.stop();

  progress(`restart on a data dir with ${OBJECTS}+ objects → /readyz`);
  const restarts: number[] = [];
  for (let i = 0; i < 3; i++) {
    const k2 = await startKubelite(k.dataDir);
    restarts.push(k2.readyMs);
    if (i === 2) (results.rssBytes as Record<string, number>).afterRestart = rssOf(k2.proc.pid!);
    await k2.stop();
  }
  k.remove();
  results.loadedStartMs = summarize(restarts).p50;

  if (!args.values['no-etcd']) {
    const etcd = await startEtcd();
    const client = new Etcd3({ hosts: `http://${etcd.endpoint}` });
    const value = podBody('etcd-value');
    const puts: Record<number, number> = {};
    for (const conc of CONCURRENCY) {
      progress(`etcd puts with ${conc} concurrent writer(s) for ${SECONDS}s`);
      puts[conc] = await closedLoop(conc, SECONDS, async (i) => { await client.put(`/registry/pods/bench-c${conc}/p-${i}`).value(value); });
    }
    client.close();
    await etcd.stop();
    results.etcdPutsPerSecond = puts;
  }

  // The same API measured on etcd (`--store etcd`): a fresh one-member etcd and a kubelite on it.
  let onEtcd: { creates: Record<number, number>; watch: WatchLatency } | undefined;
  if (args.values.store === 'etcd') {
    const etcd = await startEtcd();
    const ke = await startKubelite(undefined, ['--store', `etcd://${etcd.endpoint}`]);
    try {
      const creates = await createRates(ke, 'etcd');
      const c = httpClient(ke, 1);
      progress('etcd store: write → watch event latency (1000 sequential writes)');
      const watch = await watchLatency(c, 'etcd-watch');
      c.close();
      onEtcd = { creates, watch };
      results.onEtcd = onEtcd;
    } finally {
      await ke.stop();
      ke.remove();
      await etcd.stop();
    }
  } else if (args.values.store !== undefined && args.values.store !== 'sqlite') {
    throw new Error(`--store: sqlite (default) or etcd, not ${args.values.store}`);
  }

  // Report
  const lines: string[] = [];
  const f = (n: number, d = 1) => n.toFixed(d);
  lines.push('kubelite API benchmark (HTTPS, fsync-durable writes)');
  for (const conc of CONCURRENCY) {
    const e = (results.etcdPutsPerSecond as Record<number, number> | undefined)?.[conc];
    lines.push(`  creates/s, ${String(conc).padStart(2)} clients: ${f(creates[conc], 0).padStart(7)} (Node client)` +
      (e ? `   etcd puts/s: ${f(e, 0).padStart(7)}   ratio: ${f(creates[conc] / e, 2)}` : '') +
      (wrk[conc] ? `   wrk: ${f(wrk[conc].perSecond, 0).padStart(6)}/s, p99 ${f(wrk[conc].p99Ms)} ms` : ''));
  }
  const g = results.getMs as { p50: number; p99: number }, l = results.listMs as { p50: number; p99: number; bytes: number };
  const w = results.watchLatencyMs as WatchLatency;
  lines.push(`  GET with ${OBJECTS} pods stored: p50 ${f(g.p50, 2)} ms, p99 ${f(g.p99, 2)} ms`);
  lines.push(`  LIST of ${OBJECTS} pods (${(l.bytes / 1e6).toFixed(1)} MB): p50 ${f(l.p50)} ms, p99 ${f(l.p99)} ms`);
  lines.push(`  write → watch event: p50 ${f(w.p50, 2)} ms, p99 ${f(w.p99, 2)} ms (${w.n} events); from the write's response: p99 ${f(w.afterResponse.p99, 2)} ms`);
  lines.push(`  start → /readyz: fresh ${f(results.freshStartMs as number, 0)} ms, with ${OBJECTS}+ objects ${f(results.loadedStartMs as number, 0)} ms`);
  const rss = results.rssBytes as Record<string, number>;
  lines.push(`  RSS: idle ${f(rss.idle / 2 ** 20)} MiB, after the run ${f(rss.loaded / 2 ** 20)} MiB, restarted with data ${f(rss.afterRestart / 2 ** 20)} MiB`);
  if (onEtcd) {
    lines.push('kubelite on etcd (--store etcd) vs on SQLite, same run, Node client:');
    for (const conc of CONCURRENCY) {
      lines.push(`  creates/s, ${String(conc).padStart(2)} clients: etcd store ${f(onEtcd.creates[conc], 0).padStart(7)}   SQLite ${f(creates[conc], 0).padStart(7)}   ratio etcd/SQLite: ${f(onEtcd.creates[conc] / creates[conc], 2)}`);
    }
    lines.push(`  write → watch event: etcd store p50 ${f(onEtcd.watch.p50, 2)} ms, p99 ${f(onEtcd.watch.p99, 2)} ms; SQLite p99 ${f(w.p99, 2)} ms; ratio of p99s ${f(onEtcd.watch.p99 / w.p99, 2)}`);
    lines.push(`  from the write's response to its event: etcd store p99 ${f(onEtcd.watch.afterResponse.p99, 2)} ms; SQLite p99 ${f(w.afterResponse.p99, 2)} ms`);
  }
  process.stdout.write(lines.join('\n') + '\n');
  process.stdout.write(JSON.stringify(results) + '\n');
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? e.stack : e}\n`);
  process.exit(1);
});
