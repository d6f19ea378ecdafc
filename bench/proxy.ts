// `npm run bench -- proxy [--seconds N] [--connections N] [--changes N]`: the service proxy's
// data path and network-programming latency. In one run, on the same three backends (one Debian
// nginx answering a fixed body on 127.0.1.1-3), wrk measures requests/s and p99 latency, with
// keep-alive and with a new connection per request (`Connection: close`), of:
//   - direct: one backend, no proxy (wrk cannot round-robin over addresses itself);
//   - HAProxy (Debian), TCP mode, roundrobin over the three backends;
//   - kubelite's userspace proxy: `kubelite up` serving the API only plus a standalone
//     `kubelite proxy`, carrying a selectorless Service's ClusterIP to an EndpointSlice of the three;
//   - kubelite's nftables mode (root only): the userspace proxy is stopped and
//     `kubelite proxy --proxy-mode nftables` programs a third Service, the same three nginx
//     backends on a second port (see nftBackendPort), into the kernel.
// Network-programming latency, per mode (userspace, then nftables): N times, one EndpointSlice
// write makes a fresh backend the only ready endpoint of a second Service (the previous one
// unready), and the time from the write being acknowledged to the first connection through the
// ClusterIP answered by the new backend.
import { parseArgs } from 'node:util';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, loadavg, cpus } from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { progress, summarize, startKubelite, httpClient, freePort, ROOT, type HttpClient } from './lib.js';
import { deleteTable, nftablesUnavailable } from '../src/proxy/nftables.js';

const args = parseArgs({
  args: process.argv.slice(2),
  options: {
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    changes: { type: 'string', default: '50' },
  },
  allowPositionals: true,
});
const SECONDS = Number(args.values.seconds);
const CONNECTIONS = Number(args.values.connections);
const CHANGES = Number(args.values.changes);

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

async function startHaproxy(frontendPort: number, backendPort: number): Promise<void> {
  const dir = tempDir('bench-haproxy-');
  const cfg = path.join(dir, 'haproxy.cfg');
  // Debian's defaults otherwise (threads: one per core).
  writeFileSync(cfg, `
global
  maxconn 8000
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
}

interface WrkResult { rps: number; p99Ms: number; errors: number }

function parseDurationMs(value: string, unit: string): number {
  const n = Number(value);
  return unit === 'us' ? n / 1000 : unit === 'ms' ? n : unit === 's' ? n * 1000 : n * 60_000;
}

/** wrk against http://host:port/, keep-alive or a new connection per request. */
function wrk(host: string, port: number, newConnection: boolean): WrkResult {
  const argv = ['-t2', `-c${CONNECTIONS}`, `-d${SECONDS}s`, '--latency'];
  if (newConnection) argv.push('-H', 'Connection: close');
  argv.push(`http://${host}:${port}/`);
  const out = execFileSync('/usr/bin/wrk', argv, { encoding: 'utf8' });
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

const fmtRps = (n: number) => Math.round(n).toLocaleString('en-US');
const fmtMs = (n: number) => n.toFixed(2);
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;

async function main(): Promise<void> {
  const loadBefore = loadavg();
  progress(`load average at start: ${loadBefore.map((l) => l.toFixed(2)).join(' ')} (${cpus().length} cores)`);
  const backendPort = await freePort();
  // The nftables run reaches the same nginx on a port of its own. The client's TCP timestamps
  // depend on the destination address it sees (the ClusterIP there, the backend elsewhere), so
  // the backends' TIME_WAIT sockets from earlier runs would reject its reused ports (PAWS) on
  // the shared port, an artefact of running the paths one after the other from one client address.
  const nftBackendPort = await freePort();
  const haproxyPort = await freePort();

  progress('starting nginx backends, HAProxy, kubelite (API only) and kubelite proxy');
  await startNginx([backendPort, nftBackendPort]);
  await startHaproxy(haproxyPort, backendPort);
  const k = await startKubelite(undefined, ['--disable', 'controllers,scheduler,nodes,proxy']);
  cleanups.push(() => k.remove());
  cleanups.push(() => k.stop());
  const c = httpClient(k, 4);
  cleanups.push(() => c.close());
  const proxy = startProcess(process.execPath, [path.join(ROOT, 'bin/kubelite'), 'proxy', '--kubeconfig', path.join(k.dataDir, 'kubeconfig'),
    '--metrics-bind-address', '', '--log-level', 'warn'], 'kubelite proxy');

  await createService(c, 'bench-throughput', THROUGHPUT_CLUSTER_IP);
  await must(c.request('POST', SLICES, sliceBody('bench-throughput', backendPort, BACKEND_IPS.map((ip) => ({ ip, ready: true })))), [201], 'create slice');
  await waitFor('the ClusterIP to answer', async () => {
    if (proxy.proc.exitCode !== null) throw new Error(`kubelite proxy exited: ${proxy.stderr()}`);
    return (await fetchOnce(THROUGHPUT_CLUSTER_IP, SERVICE_PORT).catch(() => '')).startsWith('HTTP/1.1 200');
  });

  const targets: { name: string; host: string; port: number }[] = [
    { name: 'direct (one backend)', host: BACKEND_IPS[0]!, port: backendPort },
    { name: 'HAProxy (TCP, roundrobin)', host: HAPROXY_IP, port: haproxyPort },
    { name: 'kubelite userspace', host: THROUGHPUT_CLUSTER_IP, port: SERVICE_PORT },
  ];
  const results = new Map<string, { keepAlive: WrkResult; newConn: WrkResult }>();
  const measure = (t: { name: string; host: string; port: number }) => {
    progress(`wrk ${t.name}: keep-alive, ${SECONDS}s, ${CONNECTIONS} connections`);
    const keepAlive = wrk(t.host, t.port, false);
    progress(`wrk ${t.name}: new connection per request`);
    const newConn = wrk(t.host, t.port, true);
    results.set(t.name, { keepAlive, newConn });
  };
  for (const t of targets) measure(t);

  progress(`network programming (userspace): ${CHANGES} endpoint changes`);
  const idPort = await freePort();
  await startIdentifyingBackends(2 * CHANGES + 2, idPort);
  await createService(c, 'bench-programming', PROGRAMMING_CLUSTER_IP);
  const programming = await measureProgramming(c, idPort, 0);

  // nftables mode: the same ClusterIPs, now DNATed by the kernel. The userspace proxy stops
  // first, so that nothing answers them until the nftables proxy has programmed them.
  const nftSkip = process.getuid?.() !== 0 ? 'needs root' : await nftablesUnavailable();
  let nftProgramming: number[] | undefined;
  const nftName = 'kubelite nftables';
  if (!nftSkip) {
    await stopProcess(proxy.proc);
    progress('starting kubelite proxy --proxy-mode nftables');
    // Should the proxy not get to delete its table (killed), the bench does.
    cleanups.push(() => deleteTable('nft', 'kubelite'));
    const nftProxy = startProcess(process.execPath, [path.join(ROOT, 'bin/kubelite'), 'proxy', '--proxy-mode', 'nftables', '--kubeconfig', path.join(k.dataDir, 'kubeconfig'),
      '--metrics-bind-address', '', '--log-level', 'warn'], 'kubelite proxy --proxy-mode nftables');
    await createService(c, 'bench-nftables', NFTABLES_CLUSTER_IP);
    await must(c.request('POST', SLICES, sliceBody('bench-nftables', nftBackendPort, BACKEND_IPS.map((ip) => ({ ip, ready: true })))), [201], 'create slice');
    await waitFor('the ClusterIP to answer through nftables', async () => {
      if (nftProxy.proc.exitCode !== null) throw new Error(`kubelite proxy exited: ${nftProxy.stderr()}`);
      return (await fetchOnce(NFTABLES_CLUSTER_IP, SERVICE_PORT).catch(() => '')).startsWith('HTTP/1.1 200');
    });
    measure({ name: nftName, host: NFTABLES_CLUSTER_IP, port: SERVICE_PORT });
    progress(`network programming (nftables): ${CHANGES} endpoint changes`);
    nftProgramming = await measureProgramming(c, idPort, CHANGES + 1);
  } else {
    progress(`nftables mode skipped: ${nftSkip}`);
  }
  const prog = summarize(programming);
  const loadAfter = loadavg();

  const haproxyThreads = cpus().length;
  const lines: string[] = [];
  lines.push(`proxy benchmark, ${new Date().toISOString()}, ${cpus().length} cores; wrk -t2 -c${CONNECTIONS} -d${SECONDS}s --latency; backends: nginx (1 worker) on ${BACKEND_IPS.join(', ')}`);
  lines.push(`HAProxy ${execFileSync('/usr/sbin/haproxy', ['-v'], { encoding: 'utf8' }).split('\n')[0]!.split(' ')[2]} with Debian defaults (nbthread: one per core, ${haproxyThreads}); kubelite proxy: one Node.js ${process.version} process`);
  lines.push('');
  lines.push('| path | keep-alive req/s | keep-alive p99 ms | new-conn req/s | new-conn p99 ms |');
  lines.push('|---|---|---|---|---|');
  for (const t of targets) {
    const r = results.get(t.name)!;
    const errs = r.keepAlive.errors + r.newConn.errors;
    lines.push(`| ${t.name} | ${fmtRps(r.keepAlive.rps)} | ${fmtMs(r.keepAlive.p99Ms)} | ${fmtRps(r.newConn.rps)} | ${fmtMs(r.newConn.p99Ms)} |${errs ? ` (${errs} errors)` : ''}`);
  }
  const nft = results.get(nftName);
  if (nft) {
    const errs = nft.keepAlive.errors + nft.newConn.errors;
    lines.push(`| ${nftName} | ${fmtRps(nft.keepAlive.rps)} | ${fmtMs(nft.keepAlive.p99Ms)} | ${fmtRps(nft.newConn.rps)} | ${fmtMs(nft.newConn.p99Ms)} |${errs ? ` (${errs} errors)` : ''}`);
  } else {
    lines.push(`| ${nftName} | skipped: ${nftSkip} | | | |`);
  }
  lines.push('');
  const direct = results.get(targets[0]!.name)!, ha = results.get(targets[1]!.name)!, us = results.get(targets[2]!.name)!;
  lines.push(`userspace / HAProxy keep-alive: ${ratio(us.keepAlive.rps, ha.keepAlive.rps)} (target ≥ 1.0×)`);
  lines.push(`userspace / HAProxy new-conn:   ${ratio(us.newConn.rps, ha.newConn.rps)} (target ≥ 0.8×)`);
  lines.push(`userspace / direct keep-alive:  ${ratio(us.keepAlive.rps, direct.keepAlive.rps)}, new-conn ${ratio(us.newConn.rps, direct.newConn.rps)} (anchor: upstream's old userspace proxy 0.36×)`);
  lines.push(`HAProxy / direct keep-alive:    ${ratio(ha.keepAlive.rps, direct.keepAlive.rps)}, new-conn ${ratio(ha.newConn.rps, direct.newConn.rps)}`);
  if (nft) {
    lines.push(`nftables / direct keep-alive:   ${ratio(nft.keepAlive.rps, direct.keepAlive.rps)}, new-conn ${ratio(nft.newConn.rps, direct.newConn.rps)} (target ≥ 0.95×)`);
  } else {
    lines.push(`nftables / direct: skipped (${nftSkip}) (target ≥ 0.95×)`);
  }
  lines.push(`network programming (slice write acked → first connection answered by the new endpoint), ${prog.n} changes:`);
  lines.push(`  userspace: p50 ${fmtMs(prog.p50)} ms, p99 ${fmtMs(prog.p99)} ms, max ${fmtMs(Math.max(...programming))} ms (target p99 ≤ 50 ms)`);
  if (nftProgramming) {
    const np = summarize(nftProgramming);
    lines.push(`  nftables:  p50 ${fmtMs(np.p50)} ms, p99 ${fmtMs(np.p99)} ms, max ${fmtMs(Math.max(...nftProgramming))} ms (target p99 ≤ 50 ms)`);
  }
  lines.push(`load average: start ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, end ${loadAfter.map((l) => l.toFixed(2)).join(' ')}`);
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
