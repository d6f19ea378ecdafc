// `npm run bench -- proxy [--seconds N] [--connections N] [--changes N] [--rounds N]
// [--skip nftables,programming]`: the service proxy's data path and network-programming latency.
// In one run, on the same three backends (one Debian nginx answering a fixed body on
// 127.0.1.1-3), wrk measures requests/s and p99 latency, with keep-alive and with a new
// connection per request (`Connection: close`), of:
//   - direct: one backend, no proxy (wrk cannot round-robin over addresses itself);
//   - HAProxy (Debian), TCP mode, roundrobin over the three backends, with as many threads as
//     the userspace proxy has worker processes (both relay on that many cores at most);
//   - kubelite's userspace proxy: `kubelite up` serving the API only plus a standalone
//     `kubelite proxy` (its default --workers, one TCP worker process per core, unless
//     --proxy-workers N), carrying a selectorless Service's ClusterIP to an EndpointSlice of the
//     three; the CPU its processes use during each wrk run is read from /proc. Where the native
//     addon is built it accepts, dials and relays; run the bench with KUBELITE_PROXY_ACCEPT=js
//     to accept in JavaScript (native relay past the first exchange), KUBELITE_PROXY_RELAY=js
//     for the JavaScript path throughout (the header line says which ran);
//   - kubelite's nftables mode (root only): the userspace proxy is stopped and
//     `kubelite proxy --proxy-mode nftables` programs a third Service, the same three nginx
//     backends on a second port (see nftBackendPort), into the kernel;
//   - two peers of it measured just before, with only a minimal table of the bench's loaded (one
//     nat output rule: `dnat to numgen inc mod 3 map {...}`, backends on a third port): that
//     DNAT, the cost of kernel DNAT + conntrack themselves, and direct again with conntrack on
//     (any nat chain makes the kernel track every connection), the cost of conntrack alone.
//     The bench changes no sysctl; the ones that bear on new connections are printed.
// Rows are compared with rows measured next to them: the proxies (direct, HAProxy, userspace) and
// then the kernel paths (direct with no table loaded, the minimal table, kubelite's nftables
// proxy, each table loaded only for its own rows) are measured in --rounds interleaved rounds,
// each round in the reverse order of the one before, and every ratio is taken within a round,
// then its median over the rounds: the machine's state drifts (other load, the loopback's and
// conntrack's caches) by more than the differences measured, a one-shot row order turned that
// drift into ratios.
// Network-programming latency, per mode (userspace, then nftables): N times, one EndpointSlice
// write makes a fresh backend the only ready endpoint of a second Service (the previous one
// unready), and the time from the write being acknowledged to the first connection through the
// ClusterIP answered by the new backend.
import { parseArgs } from 'node:util';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, loadavg, cpus, availableParallelism } from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { progress, summarize, startKubelite, httpClient, freePort, ROOT, type HttpClient } from './lib.js';
import { deleteTable, nftablesUnavailable, runNft } from '../src/proxy/nftables.js';

const args = parseArgs({
  args: process.argv.slice(2),
  options: {
    seconds: { type: 'string', default: '10' },
    // The userspace proxy's --workers (default: kubelite proxy's own default, one per core).
    'proxy-workers': { type: 'string' },
    connections: { type: 'string', default: '50' },
    changes: { type: 'string', default: '50' },
    // Each phase's rows are measured this many times, interleaved.
    rounds: { type: 'string', default: '3' },
    // Parts to leave out: `nftables`, `programming` (comma-separated).
    skip: { type: 'string', default: '' },
  },
  allowPositionals: true,
});
const SECONDS = Number(args.values.seconds);
const CONNECTIONS = Number(args.values.connections);
const CHANGES = Number(args.values.changes);
const ROUNDS = Math.max(1, Number(args.values.rounds));
const SKIP = new Set(String(args.values.skip).split(',').filter(Boolean));

const BACKEND_IPS = ['127.0.1.1', '127.0.1.2', '127.0.1.3'];
const HAPROXY_IP = '127.0.3.1';
// Inside kubelite's default service CIDR 127.96.0.0/12, away from the addresses it allocates first.
const THROUGHPUT_CLUSTER_IP = '127.100.0.10';
const PROGRAMMING_CLUSTER_IP = '127.100.0.11';
const NFTABLES_CLUSTER_IP = '127.100.0.12';
const SERVICE_PORT = 8080;
const NS = 'default';
const MANAGED_BY = 'bench.kubelite.io';
/** The fresh backends of the network-programming measurement: 127.0.2.1, 127.0.2.2, ... */
const programmingBackendIP = (i: number) => `127.0.${2 + (i >> 8)}.${(i & 255) + 1}`;

// Everything started is stopped on the way out, on success, error or Ctrl-C, newest first.
const cleanups: (() => Promise<void> | void)[] = [];
async function cleanup(): Promise<void> {
  while (cleanups.length) {
    try {
      await cleanups.pop()!();
    } catch (e) {
      progress(`cleanup: ${(e as Error).message}`);
    }
  }
}

async function stopProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const kill = setTimeout(() => proc.kill('SIGKILL'), 5000);
    proc.once('exit', () => { clearTimeout(kill); resolve(); });
    proc.kill('SIGTERM');
  });
}

/** Spawn a long-running helper process, stopped at exit; its stderr is kept for error messages. */
function startProcess(cmd: string, argv: string[], name: string): { proc: ChildProcess; stderr: () => string } {
  const proc = spawn(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d) => { err = (err + d).slice(-4000); });
  proc.on('exit', (code, signal) => { if (code !== 0 && signal === null) progress(`${name} exited with ${code}: ${err}`); });
  cleanups.push(() => stopProcess(proc));
  return { proc, stderr: () => err };
}

function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function canConnect(host: string, port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const s = net.connect(port, host, () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** One HTTP/1.0-style exchange over a fresh connection: the whole answer as text. */
async function fetchOnce(host: string, port: number, request = 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'): Promise<string> {
  return await new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = net.connect(port, host, () => { if (request) s.write(request); });
    s.on('data', (d) => chunks.push(d));
    s.on('end', () => resolve(Buffer.concat(chunks).toString()));
    s.on('error', reject);
  });
}

async function startNginx(ports: number[]): Promise<void> {
  const dir = tempDir('bench-nginx-');
  // One worker: the backends are the same for every proxy, and the proxies need the cores more.
  writeFileSync(path.join(dir, 'nginx.conf'), `
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
daemon off;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 10000000;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
${BACKEND_IPS.flatMap((ip) => ports.map((port) => `    listen ${ip}:${port} backlog=4096;`)).join('\n')}
    location / { default_type text/plain; return 200 "hello from $server_addr\\n"; }
  }
}
`);
  const nginx = startProcess('/usr/sbin/nginx', ['-p', dir, '-e', `${dir}/error.log`, '-c', `${dir}/nginx.conf`], 'nginx');
  await waitFor('nginx', async () => {
    if (nginx.proc.exitCode !== null) throw new Error(`nginx exited: ${nginx.stderr()}`);
    return (await Promise.all(BACKEND_IPS.flatMap((ip) => ports.map((port) => canConnect(ip, port))))).every(Boolean);
  });
}

/** Start HAProxy with `threads` threads; its process id. */
async function startHaproxy(frontendPort: number, backendPort: number, threads: number): Promise<number> {
  const dir = tempDir('bench-haproxy-');
  const cfg = path.join(dir, 'haproxy.cfg');
  // Debian's defaults otherwise.
  writeFileSync(cfg, `
global
  maxconn 8000
  nbthread ${threads}
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend bench
  bind ${HAPROXY_IP}:${frontendPort} backlog 4096
  default_backend backends
backend backends
  balance roundrobin
${BACKEND_IPS.map((ip, i) => `  server b${i} ${ip}:${backendPort}`).join('\n')}
`);
  const haproxy = startProcess('/usr/sbin/haproxy', ['-db', '-f', cfg], 'haproxy');
  await waitFor('haproxy', async () => {
    if (haproxy.proc.exitCode !== null) throw new Error(`haproxy exited: ${haproxy.stderr()}`);
    return await canConnect(HAPROXY_IP, frontendPort);
  });
  return haproxy.proc.pid!;
}

// ---- nftables peers ----------------------------------------------------------------------------

const MINIMAL_DNAT_IP = '127.100.0.13';
/** Unique, as tests may program tables of their own meanwhile (nftables rules are host-wide). */
const MINIMAL_DNAT_TABLE = `kubelite-bench-dnat-${process.pid}`;

/**
 * Load the minimal DNAT table (MINIMAL_DNAT_IP:SERVICE_PORT to the backends, round-robin like
 * kubelite's default); returns what deletes it.
 */
async function loadMinimalDnat(backendPort: number): Promise<() => Promise<void>> {
  const t = `ip ${MINIMAL_DNAT_TABLE}`;
  const targets = BACKEND_IPS.map((ip, i) => `${i} : ${ip}`).join(', ');
  await runNft('nft', ['-f', '-'], [
    `add table ${t}`,
    `add chain ${t} nat-output { type nat hook output priority -100 ; policy accept ; }`,
    `add rule ${t} nat-output ip daddr ${MINIMAL_DNAT_IP} tcp dport ${SERVICE_PORT} dnat to numgen inc mod ${BACKEND_IPS.length} map { ${targets} } : ${backendPort}`,
  ].join('\n') + '\n');
  return () => deleteTable('nft', MINIMAL_DNAT_TABLE);
}

/** Kernel settings that bear on a new connection per request, as `name=value` (read, never changed). */
function connectionSysctls(): string {
  const names = ['net.ipv4.ip_local_port_range', 'net.ipv4.tcp_tw_reuse', 'net.ipv4.tcp_timestamps', 'net.ipv4.tcp_max_tw_buckets',
    'net.netfilter.nf_conntrack_max', 'net.netfilter.nf_conntrack_buckets', 'net.netfilter.nf_conntrack_tcp_timeout_time_wait', 'net.netfilter.nf_conntrack_count'];
  return names.map((n) => {
    let value = '-';
    try {
      value = readFileSync(`/proc/sys/${n.replace(/\./g, '/')}`, 'utf8').trim().replace(/\s+/g, '-');
    } catch { /* not on this kernel (nf_conntrack not loaded) */ }
    return `${n.split('.').pop()}=${value}`;
  }).join(' ');
}

/** CPU time of this process's reaped children so far (wrk, run synchronously), in clock ticks. */
function reapedChildrenTicks(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  // cutime and cstime are the 16th and 17th fields; counting starts after the command name.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[13]) + Number(fields[14]);
}

/** The nginx worker processes (children of the nginx this process started). */
function nginxWorkers(): number[] {
  const master = childPids(process.pid).find((p) => {
    try {
      return readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'nginx';
    } catch {
      return false;
    }
  });
  return master === undefined ? [] : childPids(master);
}

/**
 * nftables tables of others (tests, other benches): any nat chain among them makes the kernel
 * track every connection, the direct rows included, which then no longer measure "no netfilter".
 */
async function foreignTables(ours: string[]): Promise<string[]> {
  const listing = await runNft('nft', ['list', 'tables']).catch(() => '');
  return listing.split('\n').map((l) => l.trim().replace(/^table /, '')).filter((t) => t && !ours.includes(t));
}

interface WrkResult { rps: number; p99Ms: number; errors: number }

function parseDurationMs(value: string, unit: string): number {
  const n = Number(value);
  return unit === 'us' ? n / 1000 : unit === 'ms' ? n : unit === 's' ? n * 1000 : n * 60_000;
}

/**
 * wrk against http://host:port/, keep-alive or a new connection per request. `midway`, if given,
 * runs halfway through (while wrk's connections are open).
 */
async function wrk(host: string, port: number, newConnection: boolean, midway?: () => void): Promise<WrkResult> {
  const argv = ['-t2', `-c${CONNECTIONS}`, `-d${SECONDS}s`, '--latency'];
  if (newConnection) argv.push('-H', 'Connection: close');
  argv.push(`http://${host}:${port}/`);
  const proc = spawn('/usr/bin/wrk', argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  proc.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
  proc.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; });
  const timer = midway && setTimeout(midway, (SECONDS * 1000) / 2);
  const code = await new Promise<number | null>((resolve, reject) => {
    proc.once('error', reject);
    proc.once('close', resolve);
  });
  if (timer) clearTimeout(timer);
  if (code !== 0) throw new Error(`wrk exited with ${code}: ${err}`);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const p99 = /^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$/m.exec(out);
  if (!rps || !p99) throw new Error(`unexpected wrk output:\n${out}`);
  // Connect errors matter; with `Connection: close` wrk counts nothing else as one.
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const errors = (socketErrors ? Number(socketErrors[1]) + Number(socketErrors[3]) + Number(socketErrors[4]) : 0) + (non2xx ? Number(non2xx[1]) : 0);
  return { rps: Number(rps[1]), p99Ms: parseDurationMs(p99[1]!, p99[2]!), errors };
}

async function must(p: Promise<{ status: number; body: string }>, ok: number[], what: string): Promise<string> {
  const r = await p;
  if (!ok.includes(r.status)) throw new Error(`${what}: ${r.status} ${r.body.slice(0, 300)}`);
  return r.body;
}

async function createService(c: HttpClient, name: string, clusterIP: string): Promise<void> {
  await must(c.request('POST', `/api/v1/namespaces/${NS}/services`, JSON.stringify({
    apiVersion: 'v1', kind: 'Service', metadata: { name },
    // Selectorless: its EndpointSlices are the bench's, as for a Service fronting outside hosts.
    spec: { clusterIP, ports: [{ name: 'http', port: SERVICE_PORT, targetPort: SERVICE_PORT, protocol: 'TCP' }] },
  })), [201], `create service ${name}`);
}

function sliceBody(service: string, port: number, endpoints: { ip: string; ready: boolean }[], resourceVersion?: string): string {
  return JSON.stringify({
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: {
      name: `${service}-bench`, resourceVersion,
      labels: { 'kubernetes.io/service-name': service, 'endpointslice.kubernetes.io/managed-by': MANAGED_BY },
    },
    addressType: 'IPv4',
    ports: [{ name: 'http', port, protocol: 'TCP' }],
    endpoints: endpoints.map((e) => ({ addresses: [e.ip], conditions: { ready: e.ready } })),
  });
}

const SLICES = `/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices`;

/** Backends that say who they are as soon as a connection arrives, for the programming measurement. */
async function startIdentifyingBackends(n: number, port: number): Promise<void> {
  const servers = await Promise.all(Array.from({ length: n }, (_, i) => new Promise<net.Server>((resolve, reject) => {
    const srv = net.createServer((s) => { s.on('error', () => {}); s.end(`backend-${i}\n`); });
    srv.once('error', reject);
    srv.listen(port, programmingBackendIP(i), () => resolve(srv));
  })));
  cleanups.push(() => { for (const s of servers) s.close(); });
}

/**
 * N endpoint changes of the programming Service, each making backend `first + i` the only ready
 * endpoint; the time from each write acknowledged to the first connection it answers.
 */
async function measureProgramming(c: HttpClient, idPort: number, first: number): Promise<number[]> {
  const r = await c.request('GET', `${SLICES}/bench-programming-bench`);
  let slice = r.status === 200 ? JSON.parse(r.body) : undefined;
  if (!slice) {
    slice = JSON.parse(await must(c.request('POST', SLICES, sliceBody('bench-programming', idPort, [{ ip: programmingBackendIP(first), ready: true }])), [201], 'create slice'));
  } else {
    const body = sliceBody('bench-programming', idPort, [{ ip: programmingBackendIP(first), ready: true }], slice.metadata.resourceVersion);
    slice = JSON.parse(await must(c.request('PUT', `${SLICES}/bench-programming-bench`, body), [200], 'update slice'));
  }
  await timeUntilRoutedTo(first, performance.now());
  const samples: number[] = [];
  for (let i = first + 1; i <= first + CHANGES; i++) {
    // The new backend is the only ready endpoint, so the next connection must go to it.
    const body = sliceBody('bench-programming', idPort, [{ ip: programmingBackendIP(i - 1), ready: false }, { ip: programmingBackendIP(i), ready: true }], slice.metadata.resourceVersion);
    const w = await c.request('PUT', `${SLICES}/bench-programming-bench`, body);
    const acked = performance.now();
    if (w.status !== 200) throw new Error(`update slice: ${w.status} ${w.body.slice(0, 300)}`);
    slice = JSON.parse(w.body);
    samples.push(await timeUntilRoutedTo(i, acked));
    await new Promise((res) => setTimeout(res, 50));
  }
  return samples;
}

/** Connect through the ClusterIP until a connection is answered by backend i; ms since `since`. */
async function timeUntilRoutedTo(i: number, since: number): Promise<number> {
  const want = `backend-${i}\n`;
  const deadline = since + 10_000;
  for (;;) {
    let answer = '';
    try {
      answer = await fetchOnce(PROGRAMMING_CLUSTER_IP, SERVICE_PORT, '');
    } catch {
      // refused or reset while the listener changes: try again
    }
    if (answer === want) return performance.now() - since;
    if (performance.now() > deadline) throw new Error(`connections did not reach backend-${i} within 10 s (last answer ${JSON.stringify(answer)})`);
  }
}

/** A process's CPU time so far (user + system, /proc/PID/stat), in clock ticks; 0 once gone. */
function cpuTicks(pid: number): number {
  try {
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

/**
 * Which path carries the userspace proxy's connections: the native one (src/proxy/native-relay.ts)
 * when built and not turned off, for the A/B against accepting in JavaScript
 * (`KUBELITE_PROXY_ACCEPT=js`) and the JavaScript relay (`KUBELITE_PROXY_RELAY=js`), both
 * inherited by the proxy.
 */
function relayKind(): string {
  if (process.env.KUBELITE_PROXY_RELAY === 'js') return 'JavaScript relay (KUBELITE_PROXY_RELAY=js)';
  if (!existsSync(path.join(ROOT, 'native/build/Release/kubelite_relay.node'))) return 'JavaScript relay (native relay not built)';
  if (process.env.KUBELITE_PROXY_ACCEPT === 'js') return 'accepted in JavaScript (KUBELITE_PROXY_ACCEPT=js), native relay after the first exchange';
  return 'native accept, dial and relay (ClientIP affinity ports picked in JavaScript)';
}

/** The direct children of a process (the userspace proxy's workers). */
function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * CPU used by a proxy's process and its children over a measurement, in % of one core each; and,
 * summed over those processes and their threads, the minor page faults and the context switches
 * (voluntary: waits for events; involuntary: preemptions) over the `seconds` it lasted. Counts
 * per request vary less with other load on the machine than time does.
 */
interface ProxyCpu { primary: number; workers: number[]; seconds: number; faults: number; voluntary: number; involuntary: number }
const totalCpu = (c: ProxyCpu) => c.primary + c.workers.reduce((a, b) => a + b, 0);
/** CPU time per request in µs: all of a proxy's processes over the requests it carried. */
const cpuPerRequest = (c: ProxyCpu, r: WrkResult) => (totalCpu(c) / 100 / r.rps) * 1e6;
const CLOCK_TICKS_PER_S = 100;

/** Minor page faults (all threads) and context switches (summed over the threads) of a process so far. */
function schedCounts(pid: number): { faults: number; voluntary: number; involuntary: number } {
  const counts = { faults: 0, voluntary: 0, involuntary: 0 };
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // minflt is the 10th field; counting starts after the command name.
    counts.faults = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[7]);
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const status = readFileSync(`/proc/${pid}/task/${task}/status`, 'utf8');
      counts.voluntary += Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      counts.involuntary += Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    }
  } catch {
    // gone meanwhile: counts so far
  }
  return counts;
}

function sampleProxyCpu(pid: number): () => ProxyCpu {
  const pids = [pid, ...childPids(pid)];
  const start = pids.map(cpuTicks);
  const startCounts = pids.map(schedCounts);
  const t0 = performance.now();
  return () => {
    const seconds = (performance.now() - t0) / 1000;
    const pct = pids.map((p, i) => ((cpuTicks(p) - start[i]!) / CLOCK_TICKS_PER_S / seconds) * 100);
    const counts = pids.map(schedCounts);
    const delta = (k: 'faults' | 'voluntary' | 'involuntary') => counts.reduce((sum, c, i) => sum + c[k] - startCounts[i]![k], 0);
    return { primary: pct[0]!, workers: pct.slice(1), seconds, faults: delta('faults'), voluntary: delta('voluntary'), involuntary: delta('involuntary') };
  };
}

/** Several measurements of one proxy as one: counts summed, time summed. */
function sumCpu(cs: readonly ProxyCpu[]): ProxyCpu {
  const sum = (f: (c: ProxyCpu) => number) => cs.reduce((a, c) => a + f(c), 0);
  return { primary: 0, workers: [], seconds: sum((c) => c.seconds), faults: sum((c) => c.faults), voluntary: sum((c) => c.voluntary), involuntary: sum((c) => c.involuntary) };
}

/** Page faults and context switches (voluntary + involuntary) per request over measurements (summed with sumCpu). */
const eventsPerRequest = (c: ProxyCpu, runs: readonly WrkResult[]) => {
  const requests = runs.reduce((a, r) => a + r.rps * SECONDS, 0);
  return `${(c.faults / requests).toFixed(3)} faults, ${(c.voluntary / requests).toFixed(2)} + ${(c.involuntary / requests).toFixed(2)} switches`;
};

const fmtCpu = (c: ProxyCpu) => `primary ${c.primary.toFixed(0)}%${c.workers.length ? `, workers ${c.workers.map((w) => `${w.toFixed(0)}%`).join(' + ')}` : ''}`;

const fmtRps = (n: number) => Math.round(n).toLocaleString('en-US');
const fmtMs = (n: number) => n.toFixed(2);
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;

interface Target { name: string; host: string; port: number }
interface Row { keepAlive: WrkResult; newConn: WrkResult }

/** The median; of an even count, the mean of the middle two. */
function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Sockets a process holds (/proc/PID/fd links to `socket:`). */
function socketCount(pid: number): number {
  let n = 0;
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) n++;
      } catch { /* closed meanwhile */ }
    }
  } catch { /* gone */ }
  return n;
}

/** Rounds ordered forwards, then backwards, ...: drift over a run weighs on every row alike. */
function inRoundOrder<T>(items: readonly T[], round: number): T[] {
  return round % 2 ? [...items].reverse() : [...items];
}

async function main(): Promise<void> {
  const loadBefore = loadavg();
  progress(`load average at start: ${loadBefore.map((l) => l.toFixed(2)).join(' ')} (${cpus().length} cores)`);
  const backendPort = await freePort();
  // The nftables run reaches the same nginx on a port of its own. The client's TCP timestamps
  // depend on the destination address it sees (the ClusterIP there, the backend elsewhere), so
  // the backends' TIME_WAIT sockets from earlier runs would reject its reused ports (PAWS) on
  // the shared port, an artefact of running the paths one after the other from one client address.
  const nftBackendPort = await freePort();
  // The minimal-DNAT peer of the nftables run, likewise on a port of its own.
  const minimalDnatPort = await freePort();
  const haproxyPort = await freePort();
  const sysctlsAtStart = connectionSysctls();
  // Before the bench loads any table of its own: all are others'.
  const tablesAtStart = await foreignTables([]);

  progress('starting nginx backends, HAProxy, kubelite (API only) and kubelite proxy');
  await startNginx([backendPort, nftBackendPort, minimalDnatPort]);
  // kubelite proxy's default --workers: one per core, as HAProxy's default nbthread.
  const relayParallelism = args.values['proxy-workers'] === undefined ? availableParallelism() : Number(args.values['proxy-workers']);
  const haproxyPid = await startHaproxy(haproxyPort, backendPort, relayParallelism);
  const k = await startKubelite(undefined, ['--disable', 'controllers,scheduler,nodes,proxy']);
  cleanups.push(() => k.remove());
  cleanups.push(() => k.stop());
  const c = httpClient(k, 4);
  cleanups.push(() => c.close());
  const kubeconfig = path.join(k.dataDir, 'kubeconfig');
  const workersFlag = args.values['proxy-workers'] === undefined ? [] : ['--workers', String(args.values['proxy-workers'])];
  const proxy = startProcess(process.execPath, [path.join(ROOT, 'bin/kubelite'), 'proxy', '--kubeconfig', kubeconfig,
    '--metrics-bind-address', '', '--log-level', 'warn', ...workersFlag], 'kubelite proxy');

  await createService(c, 'bench-throughput', THROUGHPUT_CLUSTER_IP);
  await must(c.request('POST', SLICES, sliceBody('bench-throughput', backendPort, BACKEND_IPS.map((ip) => ({ ip, ready: true })))), [201], 'create slice');
  await waitFor('the ClusterIP to answer', async () => {
    if (proxy.proc.exitCode !== null) throw new Error(`kubelite proxy exited: ${proxy.stderr()}`);
    return (await fetchOnce(THROUGHPUT_CLUSTER_IP, SERVICE_PORT).catch(() => '')).startsWith('HTTP/1.1 200');
  });

  const direct: Target = { name: 'direct (one backend)', host: BACKEND_IPS[0]!, port: backendPort };
  const haproxy: Target = { name: 'HAProxy (TCP, roundrobin)', host: HAPROXY_IP, port: haproxyPort };
  const userspace: Target = { name: 'kubelite userspace', host: THROUGHPUT_CLUSTER_IP, port: SERVICE_PORT };
  const proxyTargets = [direct, haproxy, userspace];
  /** Every row's result in each round, by row name. */
  const rounds: Map<string, Row>[] = Array.from({ length: ROUNDS }, () => new Map());
  // The userspace proxy's processes: the primary and its TCP workers (none with --workers 1).
  const workerPids = childPids(proxy.proc.pid!);
  // CPU of the userspace proxy and of HAProxy while they carry load, per round: per request, the
  // one comparison that holds on a shared machine.
  const proxyCpu = new Map<string, { keepAlive: ProxyCpu; newConn: ProxyCpu }[]>([[userspace.name, []], [haproxy.name, []]]);
  /** Connections each worker relayed halfway through each keep-alive run. */
  const workerConnections: number[][] = [];
  const measureProxyRow = async (t: Target, round: number) => {
    const pid = t === userspace ? proxy.proc.pid! : t === haproxy ? haproxyPid : undefined;
    progress(`round ${round + 1}/${ROUNDS}, wrk ${t.name}: keep-alive, ${SECONDS}s, ${CONNECTIONS} connections`);
    // Each relayed connection holds two sockets in its worker (client and endpoint side).
    const idleSockets = t === userspace ? workerPids.map(socketCount) : [];
    const midway = t === userspace ? () => workerConnections.push(workerPids.map((w, i) => (socketCount(w) - idleSockets[i]!) / 2)) : undefined;
    const keepAliveCpu = pid === undefined ? undefined : sampleProxyCpu(pid);
    const keepAlive = await wrk(t.host, t.port, false, midway);
    const keepAliveUsed = keepAliveCpu?.();
    progress(`round ${round + 1}/${ROUNDS}, wrk ${t.name}: new connection per request`);
    const newConnCpu = pid === undefined ? undefined : sampleProxyCpu(pid);
    const newConn = await wrk(t.host, t.port, true);
    if (keepAliveUsed && newConnCpu) proxyCpu.get(t.name)!.push({ keepAlive: keepAliveUsed, newConn: newConnCpu() });
    rounds[round]!.set(t.name, { keepAlive, newConn });
  };
  for (let r = 0; r < ROUNDS; r++) for (const t of inRoundOrder(proxyTargets, r)) await measureProxyRow(t, r);

  let programming: number[] | undefined;
  const idPort = await freePort();
  if (!SKIP.has('programming')) {
    progress(`network programming (userspace): ${CHANGES} endpoint changes`);
    await startIdentifyingBackends(2 * CHANGES + 2, idPort);
    await createService(c, 'bench-programming', PROGRAMMING_CLUSTER_IP);
    programming = await measureProgramming(c, idPort, 0);
  }

  // nftables mode: the same ClusterIPs, now DNATed by the kernel. The userspace proxy stops
  // first, so that nothing answers them until the nftables proxy has programmed them.
  const nftSkip = SKIP.has('nftables') ? 'skipped (--skip nftables)' : process.getuid?.() !== 0 ? 'needs root' : await nftablesUnavailable();
  let nftProgramming: number[] | undefined;
  const nftTarget: Target = { name: 'kubelite nftables', host: NFTABLES_CLUSTER_IP, port: SERVICE_PORT };
  const directAgain: Target = { name: 'direct, again (no netfilter)', host: BACKEND_IPS[0]!, port: backendPort };
  const minimal: Target = { name: 'minimal DNAT (one nat rule)', host: MINIMAL_DNAT_IP, port: SERVICE_PORT };
  const conntrackOn: Target = { name: 'direct, conntrack on', host: BACKEND_IPS[0]!, port: backendPort };
  const kernelTargets = [directAgain, conntrackOn, minimal, nftTarget];
  // The kernel paths' cost per request, in the processes whose context the kernel's loopback work
  // runs in (wrk and nginx): less sensitive to other load on the machine than requests/s.
  const pathCpu: Map<string, { keepAlive: number; newConn: number }>[] = Array.from({ length: ROUNDS }, () => new Map());
  const pathTicks = () => reapedChildrenTicks() + nginxWorkers().reduce((sum, p) => sum + cpuTicks(p), 0);
  const measureKernelPath = async (t: Target, round: number) => {
    const run = async (newConnection: boolean) => {
      progress(`round ${round + 1}/${ROUNDS}, wrk ${t.name}: ${newConnection ? 'new connection per request' : `keep-alive, ${SECONDS}s, ${CONNECTIONS} connections`}`);
      const before = pathTicks();
      const r = await wrk(t.host, t.port, newConnection);
      return { r, us: ((pathTicks() - before) / CLOCK_TICKS_PER_S) * 1e6 / (r.rps * SECONDS) };
    };
    const keepAlive = await run(false), newConn = await run(true);
    rounds[round]!.set(t.name, { keepAlive: keepAlive.r, newConn: newConn.r });
    pathCpu[round]!.set(t.name, { keepAlive: keepAlive.us, newConn: newConn.us });
  };
  const startNftProxy = async () => {
    progress('starting kubelite proxy --proxy-mode nftables');
    const nftProxy = startProcess(process.execPath, [path.join(ROOT, 'bin/kubelite'), 'proxy', '--proxy-mode', 'nftables', '--kubeconfig', kubeconfig,
      '--metrics-bind-address', '', '--log-level', 'warn'], 'kubelite proxy --proxy-mode nftables');
    await waitFor('the ClusterIP to answer through nftables', async () => {
      if (nftProxy.proc.exitCode !== null) throw new Error(`kubelite proxy exited: ${nftProxy.stderr()}`);
      return (await fetchOnce(NFTABLES_CLUSTER_IP, SERVICE_PORT).catch(() => '')).startsWith('HTTP/1.1 200');
    });
    return nftProxy.proc;
  };
  if (!nftSkip) {
    await stopProcess(proxy.proc);
    // Should a proxy not get to delete its table (killed), the bench does.
    cleanups.push(() => deleteTable('nft', 'kubelite'));
    await createService(c, 'bench-nftables', NFTABLES_CLUSTER_IP);
    await must(c.request('POST', SLICES, sliceBody('bench-nftables', nftBackendPort, BACKEND_IPS.map((ip) => ({ ip, ready: true })))), [201], 'create slice');
    // Each round measures the peers next to the nftables proxy in time: direct while no table
    // is loaded; the minimal table alone (conntrack on, and its DNAT); kubelite's table alone.
    // Any nat chain makes the kernel track every connection, so the tables take turns.
    const groups: { rows: Target[]; setUp: () => Promise<() => Promise<void>> }[] = [
      { rows: [directAgain], setUp: async () => async () => {} },
      {
        rows: [conntrackOn, minimal],
        setUp: async () => {
          progress(`loading the minimal DNAT table ${MINIMAL_DNAT_TABLE}`);
          const unload = await loadMinimalDnat(minimalDnatPort);
          cleanups.push(unload); // deleting twice is harmless
          await waitFor('the minimal DNAT to answer', async () => (await fetchOnce(MINIMAL_DNAT_IP, SERVICE_PORT).catch(() => '')).startsWith('HTTP/1.1 200'));
          return unload;
        },
      },
      {
        rows: [nftTarget],
        setUp: async () => {
          const nftProxy = await startNftProxy();
          // SIGTERM: the proxy deletes its table on the way out.
          return () => stopProcess(nftProxy);
        },
      },
    ];
    for (let r = 0; r < ROUNDS; r++) {
      for (const g of inRoundOrder(groups, r)) {
        const tearDown = await g.setUp();
        for (const t of inRoundOrder(g.rows, r)) await measureKernelPath(t, r);
        await tearDown();
      }
    }
    if (!SKIP.has('programming')) {
      const nftProxy = await startNftProxy();
      progress(`network programming (nftables): ${CHANGES} endpoint changes`);
      nftProgramming = await measureProgramming(c, idPort, CHANGES + 1);
      await stopProcess(nftProxy);
    }
  } else {
    progress(`nftables mode: ${nftSkip}`);
  }
  const loadAfter = loadavg();
  const otherTables = [...new Set([...tablesAtStart, ...(await foreignTables(['ip kubelite']))])];

  const lines: string[] = [];
  lines.push(`proxy benchmark, ${new Date().toISOString()}, ${cpus().length} cores; wrk -t2 -c${CONNECTIONS} -d${SECONDS}s --latency; ${ROUNDS} rounds, the rows of a phase interleaved (round order forwards, backwards, ...); backends: nginx (1 worker) on ${BACKEND_IPS.join(', ')}`);
  lines.push(`HAProxy ${execFileSync('/usr/sbin/haproxy', ['-v'], { encoding: 'utf8' }).split('\n')[0]!.split(' ')[2]} with Debian defaults but nbthread ${relayParallelism} (the userspace proxy's worker count); kubelite proxy: Node.js ${process.version}, ${workerPids.length ? `${workerPids.length} TCP worker processes (--workers ${workerPids.length})` : 'one process (--workers 1)'}, ${relayKind()}`);
  lines.push('');
  lines.push('| path | keep-alive req/s (median) | keep-alive p99 ms | new-conn req/s (median) | new-conn p99 ms | keep-alive / new-conn req/s per round |');
  lines.push('|---|---|---|---|---|---|');
  const measured = (t: Target) => rounds.every((r) => r.has(t.name));
  for (const t of [...proxyTargets, ...kernelTargets]) {
    if (!measured(t)) continue;
    const rows = rounds.map((r) => r.get(t.name)!);
    const errs = rows.reduce((sum, r) => sum + r.keepAlive.errors + r.newConn.errors, 0);
    const med = (f: (r: Row) => number) => median(rows.map(f));
    lines.push(`| ${t.name} | ${fmtRps(med((r) => r.keepAlive.rps))} | ${fmtMs(med((r) => r.keepAlive.p99Ms))} | ${fmtRps(med((r) => r.newConn.rps))} | ${fmtMs(med((r) => r.newConn.p99Ms))} | ${rows.map((r) => `${fmtRps(r.keepAlive.rps)} / ${fmtRps(r.newConn.rps)}`).join(', ')} |${errs ? ` (${errs} errors)` : ''}`);
  }
  if (nftSkip) lines.push(`| ${nftTarget.name} | ${nftSkip} | | | | |`);
  lines.push('');
  /** a/b in each round (both measured in it), and their median. */
  const perRound = (a: Target, b: Target, f: (r: Row) => number, target?: string) => {
    const rs = rounds.map((r) => f(r.get(a.name)!) / f(r.get(b.name)!));
    return `${rs.map((x) => x.toFixed(2)).join(', ')}; median ${median(rs).toFixed(2)}×${target ? ` (target ${target})` : ''}`;
  };
  const ka = (r: Row) => r.keepAlive.rps, nc = (r: Row) => r.newConn.rps;
  lines.push('ratios per round (rows of one round measured next to each other), then their median:');
  lines.push(`  userspace / HAProxy keep-alive:   ${perRound(userspace, haproxy, ka, '≥ 1.0×')}`);
  lines.push(`  userspace / HAProxy new-conn:     ${perRound(userspace, haproxy, nc, '≥ 0.8×')}`);
  lines.push(`  userspace / direct keep-alive:    ${perRound(userspace, direct, ka)}; new-conn ${perRound(userspace, direct, nc)} (anchor: upstream's old userspace proxy 0.36×)`);
  lines.push(`  HAProxy / direct keep-alive:      ${perRound(haproxy, direct, ka)}; new-conn ${perRound(haproxy, direct, nc)}`);
  if (measured(nftTarget)) {
    lines.push(`  nftables / direct keep-alive:     ${perRound(nftTarget, directAgain, ka, '≥ 0.95×')}`);
    lines.push(`  nftables / direct new-conn:       ${perRound(nftTarget, directAgain, nc, '≥ 0.95×')}`);
    lines.push(`  nftables / minimal DNAT:          keep-alive ${perRound(nftTarget, minimal, ka)}; new-conn ${perRound(nftTarget, minimal, nc)} (kubelite's table over the least DNAT)`);
    lines.push(`  minimal DNAT / direct:            keep-alive ${perRound(minimal, directAgain, ka)}; new-conn ${perRound(minimal, directAgain, nc)} (kernel DNAT + conntrack)`);
    lines.push(`  conntrack on / direct:            keep-alive ${perRound(conntrackOn, directAgain, ka)}; new-conn ${perRound(conntrackOn, directAgain, nc)} (conntrack alone)`);
    const cpuOf = (name: string, k: 'keepAlive' | 'newConn') => median(pathCpu.map((r) => r.get(name)![k]));
    lines.push(`  wrk + nginx CPU µs per request (median), keep-alive / new-conn: ${kernelTargets.map((t) => `${t.name} ${cpuOf(t.name, 'keepAlive').toFixed(1)} / ${cpuOf(t.name, 'newConn').toFixed(1)}`).join('; ')}`);
    lines.push(`  nftables / direct, CPU per request (per round): keep-alive ${pathCpu.map((r) => (r.get(nftTarget.name)!.keepAlive / r.get(directAgain.name)!.keepAlive).toFixed(2)).join(', ')}; new-conn ${pathCpu.map((r) => (r.get(nftTarget.name)!.newConn / r.get(directAgain.name)!.newConn).toFixed(2)).join(', ')}`);
  }
  const usCpu = proxyCpu.get(userspace.name)!, haCpu = proxyCpu.get(haproxy.name)!;
  if (usCpu.length === ROUNDS && haCpu.length === ROUNDS) {
    const perReq = (cpu: { keepAlive: ProxyCpu; newConn: ProxyCpu }[], t: Target, k: 'keepAlive' | 'newConn') =>
      cpu.map((c, i) => cpuPerRequest(c[k], rounds[i]!.get(t.name)![k]).toFixed(1)).join(', ');
    lines.push(`CPU µs per request, per round: userspace keep-alive ${perReq(usCpu, userspace, 'keepAlive')}, new-conn ${perReq(usCpu, userspace, 'newConn')}; HAProxy keep-alive ${perReq(haCpu, haproxy, 'keepAlive')}, new-conn ${perReq(haCpu, haproxy, 'newConn')}`);
    lines.push(`userspace proxy CPU (% of one core), per round: keep-alive ${usCpu.map((c) => fmtCpu(c.keepAlive)).join('; ')}`);
    lines.push(`                                               new-conn ${usCpu.map((c) => fmtCpu(c.newConn)).join('; ')}`);
    lines.push(`HAProxy CPU (% of one core), per round: keep-alive ${haCpu.map((c) => totalCpu(c.keepAlive).toFixed(0)).join(', ')}; new-conn ${haCpu.map((c) => totalCpu(c.newConn).toFixed(0)).join(', ')}`);
    if (workerPids.length) lines.push(`userspace keep-alive connections per worker halfway through, per round: ${workerConnections.map((w) => w.join(' + ')).join('; ')}`);
    const events = (cpu: { keepAlive: ProxyCpu; newConn: ProxyCpu }[], t: Target, k: 'keepAlive' | 'newConn') => eventsPerRequest(sumCpu(cpu.map((c) => c[k])), rounds.map((r) => r.get(t.name)![k]));
    lines.push(`per request, keep-alive: userspace ${events(usCpu, userspace, 'keepAlive')}; HAProxy ${events(haCpu, haproxy, 'keepAlive')}`);
    lines.push(`per request, new-conn:   userspace ${events(usCpu, userspace, 'newConn')}; HAProxy ${events(haCpu, haproxy, 'newConn')}`);
  }
  if (programming) {
    const prog = summarize(programming);
    lines.push(`network programming (slice write acked → first connection answered by the new endpoint), ${prog.n} changes:`);
    lines.push(`  userspace: p50 ${fmtMs(prog.p50)} ms, p99 ${fmtMs(prog.p99)} ms, max ${fmtMs(Math.max(...programming))} ms (target p99 ≤ 50 ms)`);
  }
  if (nftProgramming) {
    const np = summarize(nftProgramming);
    lines.push(`  nftables:  p50 ${fmtMs(np.p50)} ms, p99 ${fmtMs(np.p99)} ms, max ${fmtMs(Math.max(...nftProgramming))} ms (target p99 ≤ 50 ms)`);
  }
  lines.push(`load average: start ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, end ${loadAfter.map((l) => l.toFixed(2)).join(' ')}`);
  lines.push(`sysctls (unchanged by the bench) at start: ${sysctlsAtStart}; conntrack entries at end: ${connectionSysctls().split(' ').pop()!.split('=')[1]}`);
  if (otherTables.length) lines.push(`WARNING: nftables tables of others were loaded (${otherTables.join(', ')}): conntrack may have been on for every row`);
  console.log(lines.join('\n'));
}

let exitCode = 0;
process.once('SIGINT', () => { void cleanup().then(() => process.exit(130)); });
process.once('SIGTERM', () => { void cleanup().then(() => process.exit(143)); });
try {
  await main();
} catch (e) {
  console.error(e);
  exitCode = 1;
} finally {
  await cleanup();
}
process.exit(exitCode);
