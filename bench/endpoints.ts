// `npm run bench -- endpoints [--sizes 1x3,10000x100000] [--rate 100] [--seconds 30]`:
// Endpoints/EndpointSlice convergence latency. For each size S×P, S Services each select P/S pods
// in one namespace; the API server runs alone (`kubelite up --disable ...`) and, once every object
// is written, the controllers start as `kubelite controllers` in a process of their own (so that
// their CPU and memory can be read from /proc) and their initial sync is timed. Once the
// controllers and the API server are idle again, pods' Ready
// conditions are flipped at --rate changes/s through pods/status, and for
// each change the time from the status write being acknowledged to a watcher having seen both
// the Endpoints and the EndpointSlices of its Service reflect it. Also: controller CPU per change
// and the bytes of the objects written per change (Endpoints vs EndpointSlices), from the watch,
// and in which second of the run any change over 100 ms happened (a stall bunches them).
// The controllers use the API server's Unix socket unless `--api-socket off` (then HTTPS).
// `--probe DIR` adds, per process and thread, the GC pauses and event-loop stalls of the timed
// window and how many of the changes over 20 ms overlapped them (bench/stall-probe.ts).
import { parseArgs } from 'node:util';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { readFileSync, readdirSync, mkdirSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { loadavg } from 'node:os';
import { progress, summarize, percentile, startKubelite, httpClient, ROOT, cpuSeconds } from './lib.js';
import { RestClient } from '../src/client/rest.js';
import { cutManagedFields } from '../src/client/watch-decode.js';
import type { ProbeEvent } from './stall-probe.js';

const args = parseArgs({
  args: process.argv.slice(2),
  options: {
    sizes: { type: 'string', default: '1x3,10000x100000' },
    rate: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '30' },
    // Extra flags for `kubelite controllers`, e.g. `--controllers-args='--controllers endpoint,endpointslice'`.
    'controllers-args': { type: 'string', default: '' },
    // Extra Node.js flags for the controllers process, e.g. `--controllers-node-args='--max-semi-space-size=8'`.
    'controllers-node-args': { type: 'string', default: '' },
    // Write a V8 CPU profile of the controllers process into this directory.
    'cpu-prof': { type: 'string' },
    // Record GC pauses and event-loop stalls of every process and thread into this directory
    // (bench/stall-probe.ts) and report them for the timed window and for the slow changes.
    probe: { type: 'string' },
    // With --probe: also write CPU profiles of the API server and the controllers covering the
    // timed window only (DIR/<pid>.cpuprofile; the profiler's own cost is in the figures then).
    'probe-profile': { type: 'boolean', default: false },
    // on: the controllers reach the API server through its Unix socket, as `kubelite up`'s own
    // controllers do; off: over HTTPS, as controllers on another machine would.
    'api-socket': { type: 'string', default: 'on' },
  },
  allowPositionals: true,
});
const SIZES = String(args.values.sizes).split(',').map((s) => s.split('x').map(Number) as [number, number]);
const RATE = Number(args.values.rate);
const SECONDS = Number(args.values.seconds);
const CONTROLLERS_ARGS = String(args.values['controllers-args']).split(/\s+/).filter(Boolean);
const CONTROLLERS_NODE_ARGS = String(args.values['controllers-node-args']).split(/\s+/).filter(Boolean);
const CPU_PROF = args.values['cpu-prof'] as string | undefined;
const PROBE_DIR = args.values.probe ? path.resolve(String(args.values.probe)) : undefined;
if (!['on', 'off'].includes(String(args.values['api-socket']))) throw new Error('--api-socket is on or off');
const API_SOCKET = args.values['api-socket'] === 'on';
const PROBE_PROFILE = PROBE_DIR !== undefined && args.values['probe-profile'] === true;
/** A change this much slower than the target (20 ms) is reported with the second it happened in. */
const SLOW_MS = 100;
/** The issue's p99 target: changes slower than this are matched with the probe's stalls. */
const TARGET_MS = 20;
/** CPU seconds per second (controllers + API server together) below which they count as idle. */
const SETTLE_IDLE_CPU = 0.05;
const SETTLE_MAX_MS = 60_000;
const NS = 'bench';

/**
 * CPU seconds of each thread of a process, summed by thread name (`main`, else
 * `/proc/PID/task/TID/comm`: kubelite names its own threads; V8's GC helpers and libuv's pool
 * keep what they are given, often the process's name). Threads that
 * ended before the read are missing, so a difference of two reads covers live threads only.
 */
function threadCpuSeconds(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      // The main thread carries the process's name; V8's helper threads often do too.
      const name = tid === String(pid) ? 'main' : readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      out.set(name, (out.get(name) ?? 0) + cpuSeconds(`${pid}/task/${tid}`));
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return out;
}

/** `name ms, …` per change for the threads that used any CPU between two threadCpuSeconds reads. */
function threadCpuPerChange(before: Map<string, number>, after: Map<string, number>, changes: number): string {
  return [...after].map(([name, s]) => [name, ((s - (before.get(name) ?? 0)) * 1000) / changes] as const)
    .filter(([, ms]) => ms >= 0.005).sort((a, b) => b[1] - a[1])
    .map(([name, ms]) => `${name} ${ms.toFixed(2)}`).join(', ');
}

/** Resident set size of a process, MiB. */
function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

/** The i-th pod's IP: stored data only (nothing connects to it), unique, inside 127.244.0.0/14. */
const podIP = (i: number) => `127.${244 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;

async function parallel(n: number, total: number, f: (i: number) => Promise<void>, label: string): Promise<void> {
  let next = 0, done = 0;
  const t0 = Date.now();
  const tick = setInterval(() => progress(`${label}: ${done}/${total} (${Math.round(done / ((Date.now() - t0) / 1000))}/s)`), 5000);
  try {
    await Promise.all(Array.from({ length: n }, async () => {
      for (;;) {
        const i = next++;
        if (i >= total) return;
        await f(i);
        done++;
      }
    }));
  } finally {
    clearInterval(tick);
  }
}

async function must(p: Promise<{ status: number; body: string }>, ok: number[], what: string): Promise<string> {
  const r = await p;
  if (!ok.includes(r.status)) throw new Error(`${what}: ${r.status} ${r.body.slice(0, 300)}`);
  return r.body;
}

/**
 * The bytes of the object in a watch event line of `lineBytes` bytes: the line less the
 * `{"type":"…","object":…}` envelope the API server wraps around the object's stored text
 * (re-serialising the parsed object to count it cost the bench, which shares the cores with what
 * it times, as much as parsing it).
 */
function objectBytes(lineBytes: number, type: string): number {
  return lineBytes - `{"type":"${type}","object":}`.length;
}

/**
 * A watch event line decoded as kubelite's informers decode it: managedFields, which the bench
 * never reads, are cut from the bytes before parsing (src/client/watch-decode.ts); everything
 * the bench checks (names, labels, addresses, conditions) is parsed from the server's text.
 */
function decodeEvent(line: Buffer): { type: string; object: any } {
  return JSON.parse(line.toString('utf8', 0, cutManagedFields(line)));
}

/** View.until's key for a condition that any Service's event can change. */
const ANY_SERVICE = '';

/** What the watchers know: per Service, the ready IPs in its Endpoints and in its slices. */
class View {
  endpoints = new Map<string, Set<string>>();
  slices = new Map<string, Map<string, Set<string>>>(); // service → slice name → ready IPs
  epBytes = 0; epWrites = 0; sliceBytes = 0; sliceWrites = 0;
  /** Ready addresses over all Endpoints, and over all slices: kept as events come (not recounted per event). */
  readyInEndpoints = 0; readyInSlices = 0;
  /**
   * Checks to run on events, by the Service whose events can satisfy them (ANY_SERVICE: every
   * event): a stall leaves many changes waiting, and checking all of them on every event made the
   * bench's own CPU grow with the backlog, on the cores it shares with what it times.
   */
  waiters = new Map<string, Set<() => void>>();

  onEndpoints(line: Buffer): void {
    const lineBytes = line.length;
    const ev = decodeEvent(line);
    if (ev.type === 'BOOKMARK' || ev.type === 'ERROR') return;
    const o = ev.object;
    if (ev.type !== 'DELETED') { this.epBytes += objectBytes(lineBytes, ev.type); this.epWrites++; }
    const ips = new Set<string>();
    if (ev.type !== 'DELETED') for (const s of o.subsets ?? []) for (const a of s.addresses ?? []) ips.add(a.ip);
    this.readyInEndpoints += ips.size - (this.endpoints.get(o.metadata.name)?.size ?? 0);
    this.endpoints.set(o.metadata.name, ips);
    this.wake(o.metadata.name);
  }

  onSlice(line: Buffer): void {
    const lineBytes = line.length;
    const ev = decodeEvent(line);
    if (ev.type === 'BOOKMARK' || ev.type === 'ERROR') return;
    const o = ev.object;
    const svc = o.metadata.labels?.['kubernetes.io/service-name'];
    if (!svc) return;
    if (ev.type !== 'DELETED') { this.sliceBytes += objectBytes(lineBytes, ev.type); this.sliceWrites++; }
    let m = this.slices.get(svc);
    if (!m) this.slices.set(svc, (m = new Map()));
    this.readyInSlices -= m.get(o.metadata.name)?.size ?? 0;
    if (ev.type === 'DELETED') m.delete(o.metadata.name);
    else {
      const ips = new Set<string>((o.endpoints ?? []).filter((e: any) => e.conditions?.ready !== false).flatMap((e: any) => e.addresses));
      m.set(o.metadata.name, ips);
      this.readyInSlices += ips.size;
    }
    this.wake(svc);
  }

  private wake(svc: string): void {
    for (const w of this.waiters.get(svc) ?? []) w();
    for (const w of this.waiters.get(ANY_SERVICE) ?? []) w();
  }

  /** Whether the Endpoints and the slices of `svc` agree that `ip` is (or is not) ready. */
  reflects(svc: string, ip: string, ready: boolean): boolean {
    const inEp = this.endpoints.get(svc)?.has(ip) ?? false;
    let inSlices = false;
    for (const s of this.slices.get(svc)?.values() ?? []) if (s.has(ip)) inSlices = true;
    return inEp === ready && inSlices === ready;
  }

  /** Resolves true once `pred` holds, checked on each event of `svc` (false after the timeout). */
  until(svc: string, pred: () => boolean, timeoutMs: number): Promise<boolean> {
    if (pred()) return Promise.resolve(true);
    let waiters = this.waiters.get(svc);
    if (!waiters) this.waiters.set(svc, (waiters = new Set()));
    const mine = waiters;
    return new Promise((resolve) => {
      const check = () => {
        if (!pred()) return;
        finish(true);
      };
      const finish = (v: boolean) => {
        clearTimeout(timer);
        mine.delete(check);
        if (mine.size === 0 && this.waiters.get(svc) === mine) this.waiters.delete(svc);
        resolve(v);
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      mine.add(check);
    });
  }

  totalReady(): { ep: number; slices: number } {
    return { ep: this.readyInEndpoints, slices: this.readyInSlices };
  }
}

/**
 * The timed status write, through kubelite's own REST client (a non-2xx answer throws): it keeps
 * one connection pool name instead of deriving it from the TLS options on every request, which
 * made the bench's writes cost it more CPU than they must on the cores it shares with what it
 * times. The answer (the whole pod) is not decoded: the bench needs only its status code.
 */
async function readyPatch(c: RestClient, i: number, ready: boolean): Promise<void> {
  const status = ready ? 'True' : 'False';
  await c.request('PATCH', `/api/v1/namespaces/${NS}/pods/pod-${i}/status`, {
    body: { status: { conditions: [{ type: 'Ready', status }, { type: 'ContainersReady', status }] } },
    contentType: 'application/strategic-merge-patch+json', ignoreResult: true,
  });
}

/**
 * Connections the writer opens before the timed window. Its pool opens a connection when every
 * open one is busy; opened inside the window, each TLS handshake (CPU on the API server and the
 * bench) landed on the first second's changes.
 */
const WRITER_WARM_CONNECTIONS = 8;

async function run(services: number, pods: number): Promise<Record<string, number | string>> {
  const k = await startKubelite(undefined, ['--disable', 'controllers,scheduler,nodes,proxy']);
  const c = httpClient(k, 64);
  const writer = new RestClient({ server: k.url, caPem: k.ca, token: k.token });
  let ctl: ChildProcess | undefined;
  try {
    await must(c.request('POST', '/api/v1/namespaces', JSON.stringify({ metadata: { name: NS } })), [201], 'namespace');
    // The pods' nodes must exist: the EndpointSlice controller skips pods on unknown nodes, as upstream.
    for (let n = 0; n < 100; n++) {
      await must(c.request('POST', '/api/v1/nodes', JSON.stringify({ metadata: { name: `node-${n}` } })), [201], 'node');
      const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      await must(c.request('PATCH', `/api/v1/nodes/node-${n}/status`, JSON.stringify({
        status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', lastHeartbeatTime: now, lastTransitionTime: now }] },
      }), 'application/strategic-merge-patch+json'), [200], 'node status');
    }
    await parallel(32, services, async (s) => {
      await must(c.request('POST', `/api/v1/namespaces/${NS}/services`, JSON.stringify({
        metadata: { name: `svc-${s}` }, spec: { selector: { app: `svc-${s}` }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
      })), [201], 'service');
    }, 'services');
    const created0 = Date.now();
    await parallel(64, pods, async (i) => {
      await must(c.request('POST', `/api/v1/namespaces/${NS}/pods`, JSON.stringify({
        metadata: { name: `pod-${i}`, labels: { app: `svc-${i % services}` } },
        spec: {
          nodeName: `node-${i % 100}`, containers: [{ name: 'web', image: 'nginx:1.27', ports: [{ containerPort: 8080 }] }],
        },
      })), [201], 'pod');
      const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      const cond = (type: string) => ({ type, status: 'True', lastTransitionTime: now });
      await must(c.request('PATCH', `/api/v1/namespaces/${NS}/pods/pod-${i}/status`, JSON.stringify({
        status: { phase: 'Running', podIP: podIP(i), podIPs: [{ ip: podIP(i) }], hostIP: '127.0.0.1',
          conditions: [cond('PodScheduled'), cond('Initialized'), cond('ContainersReady'), cond('Ready')] },
      }), 'application/strategic-merge-patch+json'), [200], 'pod status');
    }, 'pods (create + Ready)');
    const createS = (Date.now() - created0) / 1000;

    const view = new View();
    const w1 = c.streamBytes(`/api/v1/namespaces/${NS}/endpoints?watch=true&allowWatchBookmarks=true`, (l) => view.onEndpoints(l));
    const w2 = c.streamBytes(`/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices?watch=true&allowWatchBookmarks=true`, (l) => view.onSlice(l));
    // The controllers start once every object exists: their initial sync at full size (what a
    // controller-manager restart does) is the convergence measured, and creating the pods does
    // not pay for an Endpoints and a slice write per pod on the way.
    progress('starting the controllers; waiting for every pod to be in its Service\'s Endpoints and EndpointSlices');
    const nodeArgs = [...CONTROLLERS_NODE_ARGS, ...(CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', CPU_PROF] : [])];
    const t0 = Date.now();
    // The bench's nodes have no agents: they reported Ready once and the grace period outlasts the
    // run, so that node lifecycle neither taints them nor marks their pods NotReady.
    const socketArgs = API_SOCKET ? ['--api-socket', path.join(k.dataDir, 'api.sock')] : [];
    const proc = ctl = spawn(process.execPath, [...nodeArgs, path.join(ROOT, 'bin/kubelite'), 'controllers', '--kubeconfig', path.join(k.dataDir, 'kubeconfig'), ...socketArgs,
      '--leader-elect', 'false', '--disable', 'scheduler', '--node-monitor-grace-period', '24h', ...CONTROLLERS_ARGS], { stdio: ['ignore', 'ignore', 'inherit'] });
    const waiting = setInterval(() => progress(`ready in Endpoints / slices: ${JSON.stringify(view.totalReady())}, controllers RSS ${rssMiB(proc.pid!)} MiB`), 10_000);
    const converged = await view.until(ANY_SERVICE, () => { const t = view.totalReady(); return t.ep === pods && t.slices === pods; }, 600_000);
    clearInterval(waiting);
    if (!converged) throw new Error(`did not converge: ${JSON.stringify(view.totalReady())}`);
    const initialS = (Date.now() - t0) / 1000;
    const rssConverged = { api: rssMiB(k.proc.pid!), ctl: rssMiB(proc.pid!) };

    // Concurrent reads make the writer's pool open its connections now, outside the window.
    await Promise.all(Array.from({ length: WRITER_WARM_CONNECTIONS }, (_, i) => writer.get(`/api/v1/namespaces/${NS}/pods/pod-${i % pods}`)));

    // The initial sync leaves work behind after the last pod shows up in the Endpoints and slices
    // (slices of other Services, status and trigger-time writes): changes timed during it measure
    // that backlog (at full size every slow change fell in the first second), not the steady
    // state at 100 changes/s. So wait until the controllers and the API server are idle: under
    // SETTLE_IDLE_CPU of CPU in a second, for at most SETTLE_MAX_MS.
    const settleStart = Date.now();
    let busyCpu = cpuSeconds(proc.pid!) + cpuSeconds(k.proc.pid!);
    while (Date.now() - settleStart < SETTLE_MAX_MS) {
      await new Promise((r) => setTimeout(r, 1000));
      const now = cpuSeconds(proc.pid!) + cpuSeconds(k.proc.pid!);
      const used = now - busyCpu;
      busyCpu = now;
      if (used < SETTLE_IDLE_CPU) break;
    }
    const settleS = (Date.now() - settleStart) / 1000;

    progress(`flipping Ready on random pods, ${RATE}/s for ${SECONDS} s`);
    const ready = new Array<boolean>(pods).fill(true);
    const busy = new Set<number>();
    const fromAck: number[] = [], fromSend: number[] = [];
    /** Changes seen over SLOW_MS after their ack, by the second of the flip phase they were sent in. */
    const slowBySecond = new Map<number, number>();
    let timeouts = 0;
    const bytes0 = { ep: view.epBytes, epW: view.epWrites, sl: view.sliceBytes, slW: view.sliceWrites };
    const cpu0 = cpuSeconds(proc.pid!), apiCpu0 = cpuSeconds(k.proc.pid!), benchCpu0 = process.cpuUsage();
    const threads0 = { ctl: threadCpuSeconds(proc.pid!), api: threadCpuSeconds(k.proc.pid!), bench: threadCpuSeconds(process.pid) };
    const inflight: Promise<void>[] = [];
    const total = RATE * SECONDS;
    /** Wall-clock spans (send → seen) of the changes over TARGET_MS from ack, for the probe's report. */
    const overTarget: Span[] = [];
    // With the probe, the API server, the controllers and the bench itself profile their CPU for the timed window only.
    const toggleProfiles = () => { if (PROBE_PROFILE) for (const pid of [k.proc.pid!, proc.pid!, process.pid]) process.kill(pid, 'SIGUSR2'); };
    toggleProfiles();
    const start = performance.now();
    for (let n = 0; n < total; n++) {
      const due = start + (n * 1000) / RATE;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      let i: number;
      do i = Math.floor(Math.random() * pods); while (busy.has(i) && busy.size < pods);
      busy.add(i);
      const want = !ready[i];
      ready[i] = want;
      const svc = `svc-${i % services}`, ip = podIP(i);
      inflight.push((async () => {
        const sent = performance.now();
        await readyPatch(writer, i, want);
        const acked = performance.now();
        const ok = await view.until(svc, () => view.reflects(svc, ip, want), 30_000);
        const seen = performance.now();
        if (!ok) timeouts++;
        else {
          if (seen - acked > TARGET_MS) overTarget.push({ from: performance.timeOrigin + sent, to: performance.timeOrigin + seen });
          fromAck.push(Math.max(0, seen - acked));
          fromSend.push(seen - sent);
          if (seen - acked > SLOW_MS) {
            const second = Math.floor((sent - start) / 1000);
            slowBySecond.set(second, (slowBySecond.get(second) ?? 0) + 1);
          }
        }
        busy.delete(i);
      })());
    }
    await Promise.all(inflight);
    toggleProfiles();
    const window: Span = { from: performance.timeOrigin + start, to: performance.timeOrigin + performance.now() };
    // When the slow changes happened tells a steady cost from a stall (they bunch in one second).
    const slow = [...slowBySecond].sort((x, y) => x[0] - y[0]).map(([sec, n]) => `${sec}s:${n}`);
    progress(`changes over ${SLOW_MS} ms from ack, by second of the run: ${slow.join(' ') || 'none'}`);
    const cpu = cpuSeconds(proc.pid!) - cpu0, apiCpu = cpuSeconds(k.proc.pid!) - apiCpu0;
    const benchCpuUs = process.cpuUsage(benchCpu0);
    // Per thread: the main threads' share against GC helpers, libuv's pool and the SQLite writer.
    progress(`CPU ms per change by thread: controllers: ${threadCpuPerChange(threads0.ctl, threadCpuSeconds(proc.pid!), total)}`);
    progress(`  API: ${threadCpuPerChange(threads0.api, threadCpuSeconds(k.proc.pid!), total)}`);
    progress(`  bench: ${threadCpuPerChange(threads0.bench, threadCpuSeconds(process.pid), total)}`);
    w1.close(); w2.close();
    if (PROBE_DIR) reportStalls(PROBE_DIR, { api: k.proc.pid!, controllers: proc.pid!, bench: process.pid }, window, overTarget);
    const a = summarize(fromAck), s = summarize(fromSend);
    const epW = view.epWrites - bytes0.epW, slW = view.sliceWrites - bytes0.slW;
    return {
      size: `${services} Services × ${pods} pods`,
      podsCreateS: Number(createS.toFixed(1)),
      // From the controllers' start (every object written) until every pod is in its Endpoints and slices.
      initialConvergenceS: Number(initialS.toFixed(1)),
      // Then until the controllers and the API server were idle, before the changes began.
      settleS: Number(settleS.toFixed(1)),
      changes: total, timeouts,
      p50AckMs: Number(a.p50.toFixed(2)), p99AckMs: Number(a.p99.toFixed(2)),
      p50SendMs: Number(s.p50.toFixed(2)), p99SendMs: Number(s.p99.toFixed(2)),
      controllerCpuMsPerChange: Number(((cpu * 1000) / total).toFixed(2)),
      // The API server's, for the status writes and everything the controllers write and watch.
      apiCpuMsPerChange: Number(((apiCpu * 1000) / total).toFixed(2)),
      // The bench's own (status writes, two watches, the timing): it runs on the same cores.
      benchCpuMsPerChange: Number(((benchCpuUs.user + benchCpuUs.system) / 1000 / total).toFixed(2)),
      endpointsWritesPerChange: Number((epW / total).toFixed(2)),
      endpointsBytesPerChange: Math.round((view.epBytes - bytes0.ep) / total),
      sliceWritesPerChange: Number((slW / total).toFixed(2)),
      sliceBytesPerChange: Math.round((view.sliceBytes - bytes0.sl) / total),
      apiRssMiB: Math.max(rssConverged.api, rssMiB(k.proc.pid!)),
      controllersRssMiB: Math.max(rssConverged.ctl, rssMiB(proc.pid!)),
      loadavg1m: Number(loadavg()[0].toFixed(2)),
      controllersChannel: API_SOCKET ? 'unix socket' : 'https',
    };
  } finally {
    c.close();
    writer.close();
    // Wait for the controllers to exit (their CPU profile is written on exit), then the server.
    const proc = ctl;
    if (proc && proc.exitCode === null) await new Promise<void>((r) => { proc.once('exit', () => r()); proc.kill('SIGTERM'); });
    await k.stop();
    k.remove();
  }
}

interface Span { from: number; to: number }

/** A probe event at least this long counts as a stall that can explain a slow change. */
const STALL_MS = 5;

/**
 * Per process and thread, over the timed window: GC pauses (count, p99, max, total) and
 * event-loop stalls; then, for the changes over TARGET_MS, how many overlapped a stall of
 * STALL_MS or more in each thread (a change can overlap several).
 */
function reportStalls(dir: string, pids: Record<string, number>, window: Span, slow: Span[]): void {
  const names = new Map(Object.entries(pids).map(([name, pid]) => [pid, name]));
  const rows: Record<string, number | string>[] = [];
  for (const file of readdirSync(dir)) {
    const m = /^(\d+)-(\d+)\.jsonl$/.exec(file);
    if (!m || !names.has(Number(m[1]))) continue;
    const thread = `${names.get(Number(m[1]))}${m[2] === '0' ? '' : ` worker ${m[2]}`}`;
    const events = readFileSync(path.join(dir, file), 'utf8').split('\n').filter(Boolean)
      .map((l) => JSON.parse(l) as ProbeEvent)
      .filter((e) => e.ms > 0 && e.t + e.ms >= window.from && e.t <= window.to);
    const gc = events.filter((e) => e.kind === 'gc').map((e) => e.ms).sort((a, b) => a - b);
    const lags = events.filter((e) => e.kind === 'lag').map((e) => e.ms).sort((a, b) => a - b);
    const stalls = events.filter((e) => e.ms >= STALL_MS);
    const slowHit = slow.filter((s) => stalls.some((e) => e.t <= s.to && e.t + e.ms >= s.from)).length;
    rows.push({
      thread,
      gcPauses: gc.length, gcP99Ms: Number(percentile(gc, 99).toFixed(1)), gcMaxMs: Number((gc.at(-1) ?? 0).toFixed(1)),
      gcTotalMs: Math.round(gc.reduce((a, b) => a + b, 0)),
      [`lagsOver${STALL_MS}ms`]: lags.filter((l) => l >= STALL_MS).length, lagMaxMs: Number((lags.at(-1) ?? 0).toFixed(1)),
      [`slowChangesOverlapping (of ${slow.length})`]: slowHit,
    });
  }
  progress(`GC pauses and event-loop stalls during the timed window (probe in ${dir}):`);
  console.table(rows);
}

async function main(): Promise<void> {
  if (PROBE_DIR) {
    // Every process started from here (API server, its writer thread, the controllers) loads the probe.
    mkdirSync(PROBE_DIR, { recursive: true });
    process.env.KUBELITE_STALL_PROBE_DIR = PROBE_DIR;
    const probe = pathToFileURL(path.join(path.dirname(new URL(import.meta.url).pathname), 'stall-probe.js')).href;
    process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --import ${probe}`.trim();
    await import('./stall-probe.js');
  }
  const results = [];
  for (const [s, p] of SIZES) {
    progress(`size ${s} × ${p}`);
    results.push(await run(s, p));
  }
  console.table(results);
  console.log(JSON.stringify(results));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
