// `npm run bench -- workloads [--replicas 10000,100000] [--nodes 100] [--components-api channel|socket|https]`: one `apply` of a
// Deployment with N replicas over simulated nodes; time until every pod is Ready (the
// Deployment's status.readyReplicas), pods/s, and the kubelite process's peak RSS and CPU time:
// in all and per pod, and that of its main thread (the API server; the components run on threads
// of their own). CPU and requests are counted until the rollout's writes have stopped (no write
// but the node agents' Lease renewals for a second), not at Ready: the event recorders still
// hold Events then, more or fewer depending on the transport. CPU per pod is the figure to compare on a shared machine, where wall time
// depends on what else runs (the load average is printed with it). CPU per pod of every busy
// thread of the process follows, labelled by the name kubelite gives it (`kl-sqlite`,
// `kl-controllers`, `kl-scheduler`, `kl-nodes`; src/util/thread-name.ts), `main` for the API
// server's thread, and `node#<tid>` for the rest (V8's garbage-collection helpers, libuv's pool).
// `--components-api` is passed to `up`: how its components reach the API (the in-process channel
// by default, the API socket, or HTTPS), for an A/B of the transports.
// During the rollout a probe GETs one small object (the `kubernetes` Service) every 50 ms over a
// connection of its own, as a user's kubectl would: its latency shows whether the API server
// still answers others while its components flood it.
// Anchor: kwok reports 10,000 pods Running within 60 s on a CI runner.
import { parseArgs } from 'node:util';
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { progress, startKubelite, httpClient, cpuSeconds, summarize } from './lib.js';

const args = parseArgs({
  args: process.argv.slice(2),
  options: { replicas: { type: 'string', default: '10000,100000' }, nodes: { type: 'string', default: '100' }, timeout: { type: 'string', default: '600' }, 'components-api': { type: 'string', default: 'channel' } },
  allowPositionals: true,
});
const SIZES = String(args.values.replicas).split(',').map(Number);
const NODES = Number(args.values.nodes);
const TIMEOUT_S = Number(args.values.timeout);
const COMPONENTS_API = String(args.values['components-api']);

/** Peak resident set size and CPU seconds (user + system) of a process and of its main thread, from /proc. */
function usage(pid: number): { peakRssBytes: number; cpuSeconds: number; mainThreadCpuSeconds: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const hwm = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) * 1024;
  return { peakRssBytes: hwm, cpuSeconds: cpuSeconds(pid), mainThreadCpuSeconds: cpuSeconds(`${pid}/task/${pid}`) };
}

/** CPU seconds and name of each thread of a process (by thread id); threads that ended meanwhile are missing. */
function threadCPU(pid: number): Map<number, { name: string; seconds: number }> {
  const out = new Map<number, { name: string; seconds: number }>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      out.set(Number(tid), { name, seconds: cpuSeconds(`${pid}/task/${tid}`) });
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return out;
}


/** apiserver_request_total from /metrics, summed over response codes, by `VERB resource[/subresource]`. */
async function requestCounts(c: ReturnType<typeof httpClient>): Promise<Map<string, number>> {
  const text = (await c.request('GET', '/metrics')).body;
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const labels = Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    const key = `${labels.verb} ${labels.resource}${labels.subresource ? `/${labels.subresource}` : ''}`;
    out.set(key, (out.get(key) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return out;
}

/** Writes other than the node agents' Lease heartbeats (which never stop), from /metrics. */
async function rolloutWrites(c: ReturnType<typeof httpClient>): Promise<number> {
  let n = 0;
  for (const [key, count] of await requestCounts(c)) {
    if (/^(POST|PUT|PATCH|DELETE) /.test(key) && !key.endsWith(' leases')) n += count;
  }
  return n;
}

/** Waits until no rollout write was served for a second (at most SETTLE_MAX_S); the seconds waited. */
const SETTLE_MAX_S = 60;
async function settle(c: ReturnType<typeof httpClient>): Promise<number> {
  const t0 = performance.now();
  let last = await rolloutWrites(c);
  for (;;) {
    await new Promise((r) => setTimeout(r, 1000));
    const now = await rolloutWrites(c);
    if (now === last || (performance.now() - t0) / 1000 > SETTLE_MAX_S) return (performance.now() - t0) / 1000;
    last = now;
  }
}

interface RunResult {
  replicas: number;
  nodes: number;
  /** How the components reached the API (up --components-api). */
  componentsApi: string;
  seconds: number;
  /** Seconds after Ready until the rollout's writes stopped (CPU and requests are counted until then). */
  settleSeconds: number;
  podsPerSecond: number;
  peakRssMiB: number;
  cpuSeconds: number;
  apiThreadCpuSeconds: number;
  loadBefore: number;
  loadAfter: number;
  /** [thread ('main', its kubelite name, or name#id), CPU ms per pod], in creation order. */
  threadMsPerPod: [string, number][];
  /** [`VERB resource`, API requests per pod] during the run, the busiest first (at least 0.01 per pod). */
  requestsPerPod: [string, number][];
  /** Latency of the probe's GETs from the apply to Ready, ms. */
  probe: { p50: number; p99: number; max: number; n: number };
}

/** GETs `path` every `everyMs` until stopped; the latencies in ms. */
function startProbe(c: ReturnType<typeof httpClient>, path: string, everyMs: number): { stop(): Promise<number[]> } {
  const latencies: number[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const t = performance.now();
      const answer = await c.request('GET', path);
      if (answer.status !== 200) throw new Error(`probe GET ${path}: ${answer.status} ${answer.body}`);
      latencies.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return latencies;
    },
  };
}

async function run(replicas: number): Promise<RunResult> {
  const nodes = Array.from({ length: NODES }, (_, i) => `node${String(i + 1).padStart(3, '0')}`);
  const perNode = Math.ceil((replicas / NODES) * 1.2) + 10;
  const k = await startKubelite(undefined, [
    '--nodes', nodes.join(','),
    '--node-pods', String(perNode),
    // Room for every node's pod CIDR: a /10 split into /20s (4,094 pods each).
    '--cluster-cidr', '127.128.0.0/10', '--node-cidr-mask-size', '20',
    '--pod-start-delay', '0ms',
    // A listening socket per pod would measure the host's socket table, not the control plane.
    '--sim-answer', 'false', '--disable', 'proxy',
    '--components-api', COMPONENTS_API,
  ]);
  const c = httpClient(k, 8);
  progress(`waiting for ${NODES} nodes to be Ready`);
  for (;;) {
    const list = JSON.parse((await c.request('GET', '/api/v1/nodes')).body) as { items: { status?: { conditions?: { type: string; status: string }[] } }[] };
    const ready = list.items.filter((n) => n.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True')).length;
    if (ready === NODES) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  const before = usage(k.proc.pid!);
  const threadsBefore = threadCPU(k.proc.pid!);
  const loadBefore = loadavg()[0]!;
  const requestsBefore = await requestCounts(c);
  progress(`apply a Deployment with ${replicas} replicas`);
  const probeClient = httpClient(k, 1);
  const probe = startProbe(probeClient, '/api/v1/namespaces/default/services/kubernetes', 50);
  const t0 = performance.now();
  const created = await c.request('POST', '/apis/apps/v1/namespaces/default/deployments', JSON.stringify({
    metadata: { name: 'load' },
    spec: { replicas, selector: { matchLabels: { app: 'load' } },
      template: { metadata: { labels: { app: 'load' } }, spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] } } },
  }));
  if (created.status !== 201) throw new Error(`create: ${created.status} ${created.body}`);
  let ready = 0;
  let last = 0;
  while (ready < replicas) {
    if ((performance.now() - t0) / 1000 > TIMEOUT_S) throw new Error(`only ${ready}/${replicas} Ready after ${TIMEOUT_S} s`);
    await new Promise((r) => setTimeout(r, 500));
    const d = JSON.parse((await c.request('GET', '/apis/apps/v1/namespaces/default/deployments/load')).body);
    ready = d.status?.readyReplicas ?? 0;
    if (performance.now() - last > 5000) {
      last = performance.now();
      progress(`${ready}/${replicas} Ready after ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const latencies = await probe.stop();
  probeClient.close();
  // The CPU is counted until the rollout's writes have stopped, not at Ready: the event
  // recorders' queues (and batched status updates) still hold work then, more or less of it
  // depending on the transport, and per-pod figures must compare the same work.
  const settleSeconds = await settle(c);
  const after = usage(k.proc.pid!);
  const threadsAfter = threadCPU(k.proc.pid!);
  const loadAfter = loadavg()[0]!;
  const requestsAfter = await requestCounts(c);
  c.close();
  await k.stop();
  k.remove();
  const cpuSeconds = after.cpuSeconds - before.cpuSeconds;
  // Threads with at least 1 % of the CPU, in creation order (see the top of this file).
  const threadMsPerPod: [string, number][] = [];
  for (const [tid, t] of [...threadsAfter].sort((a, b) => a[0] - b[0])) {
    const used = t.seconds - (threadsBefore.get(tid)?.seconds ?? 0);
    const label = tid === k.proc.pid ? 'main' : t.name.startsWith('kl-') ? t.name : `${t.name}#${tid}`;
    if (used >= cpuSeconds / 100) threadMsPerPod.push([label, Math.round((used / replicas) * 1e5) / 100]);
  }
  const requestsPerPod: [string, number][] = [...requestsAfter]
    .map(([key, n]): [string, number] => [key, Math.round(((n - (requestsBefore.get(key) ?? 0)) / replicas) * 100) / 100])
    .filter(([, perPod]) => perPod >= 0.01)
    .sort((a, b) => b[1] - a[1]);
  return { replicas, nodes: NODES, componentsApi: COMPONENTS_API, seconds, settleSeconds, podsPerSecond: replicas / seconds, peakRssMiB: after.peakRssBytes / 2 ** 20,
    cpuSeconds, apiThreadCpuSeconds: after.mainThreadCpuSeconds - before.mainThreadCpuSeconds, loadBefore, loadAfter, threadMsPerPod, requestsPerPod,
    probe: { ...summarize(latencies), max: Math.max(...latencies) } };
}

async function main(): Promise<void> {
  const results = [];
  for (const n of SIZES) {
    const r = await run(n);
    results.push(r);
    process.stdout.write(`${n} pods over ${r.nodes} nodes (components reach the API by ${COMPONENTS_API}): all Ready in ${r.seconds.toFixed(1)} s (${r.podsPerSecond.toFixed(0)} pods/s), ` +
      `peak RSS ${r.peakRssMiB.toFixed(0)} MiB, CPU ${r.cpuSeconds.toFixed(1)} s up to ${r.settleSeconds.toFixed(0)} s after Ready, when the writes stopped (${(r.cpuSeconds / (r.seconds + r.settleSeconds) * 100).toFixed(0)} % of one core; ` +
      `${(r.cpuSeconds / n * 1000).toFixed(2)} ms per pod, of which the API server's thread ${(r.apiThreadCpuSeconds / n * 1000).toFixed(2)} ms), ` +
      `load average ${r.loadBefore.toFixed(1)} → ${r.loadAfter.toFixed(1)}\n` +
      `  CPU ms per pod by thread: ${r.threadMsPerPod.map(([t, ms]) => `${t} ${ms.toFixed(2)}`).join(', ')}\n` +
      `  API requests per pod: ${r.requestsPerPod.map(([key, perPod]) => `${key} ${perPod.toFixed(2)}`).join(', ')}\n` +
      `  a small GET every 50 ms during the rollout (${r.probe.n}): p50 ${r.probe.p50.toFixed(1)} ms, p99 ${r.probe.p99.toFixed(1)} ms, max ${r.probe.max.toFixed(1)} ms\n`);
  }
  process.stdout.write(JSON.stringify(results) + '\n');
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? e.stack : e}\n`);
  process.exit(1);
});
