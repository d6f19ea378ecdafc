// Shared pieces of the benchmarks: starting kubelite and etcd processes on loopback, an HTTPS
// client with keep-alive, and percentile arithmetic.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import net from 'node:net';
import https from 'node:https';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export function progress(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export function summarize(samples: number[]): { p50: number; p99: number; n: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p99: percentile(s, 99), n: s.length };
}

export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface Kubelite {
  proc: ChildProcess;
  url: string;
  token: string;
  ca: string;
  dataDir: string;
  /** ms from spawn to the first 200 from /readyz */
  readyMs: number;
  /** ms from spawn to `up`'s "Ready in" line: its components (controllers, scheduler, node agents, proxy) started too */
  runningMs: Promise<number>;
  stop(): Promise<void>;
  /** Delete the data directory (after stop). */
  remove(): void;
}

/** Start `kubelite up` and measure the time until /readyz answers 200. */
export async function startKubelite(dataDir = mkdtempSync(path.join(tmpdir(), 'kubelite-bench-')), extraArgs: string[] = []): Promise<Kubelite> {
  const port = await freePort();
  const t0 = performance.now();
  // KUBELITE_BENCH_NODE_ARGS: Node flags for the kubelite process only (a profile, heap sizes),
  // which NODE_OPTIONS cannot carry (it refuses --cpu-prof) or would also apply to the bench.
  const nodeArgs = (process.env.KUBELITE_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const proc = spawn(process.execPath, [...nodeArgs, path.join(ROOT, 'bin/kubelite'), 'up', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`, ...extraArgs], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = `https://127.0.0.1:${port}`;
  let exited = false;
  proc.on('exit', () => { exited = true; });
  const runningMs = new Promise<number>((resolve, reject) => {
    // Read to the end (a pipe nobody reads stalls a chatty child); look for the line in a short
    // tail, as it may come split over two chunks.
    let tail = '';
    let seen = false;
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      if (seen) return;
      tail = (tail + d).slice(-256);
      if (tail.includes('Ready in ')) {
        seen = true;
        resolve(performance.now() - t0);
      }
    });
    proc.on('exit', () => reject(new Error('kubelite up exited before its components started')));
  });
  runningMs.catch(() => {}); // for callers that do not wait for it
  // Poll /readyz (public, no token) until it answers 200, over one kept-alive connection so that
  // the polling does not make the starting server do a TLS handshake every few milliseconds.
  // The CA is not known yet, so verification is skipped here only.
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false });
  for (;;) {
    if (exited) throw new Error('kubelite up exited before it became ready');
    const ok = await new Promise<boolean>((resolve) => {
      const req = https.get(`${url}/readyz`, { agent }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('error', () => resolve(false));
    });
    if (ok) break;
    await new Promise((r) => setTimeout(r, 2));
  }
  const readyMs = performance.now() - t0;
  agent.destroy();
  const kc = YAML.parse(readFileSync(path.join(dataDir, 'kubeconfig'), 'utf8'));
  const token = kc.users.find((u: { name: string }) => u.name === 'kubelite').user.token;
  const ca = Buffer.from(kc.clusters.find((c: { name: string }) => c.name === 'kubelite').cluster['certificate-authority-data'], 'base64').toString();
  return {
    proc, url, token, ca, dataDir, readyMs, runningMs,
    async stop() {
      if (proc.exitCode !== null) return;
      await new Promise<void>((r) => { proc.once('exit', () => r()); proc.kill('SIGTERM'); });
    },
    remove() {
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface HttpClient {
  request(method: string, path: string, body?: string, contentType?: string): Promise<{ status: number; body: string }>;
  requestWithHeaders(method: string, path: string, extra: Record<string, string>): Promise<{ status: number; body: string }>;
  stream(path: string, onLine: (line: string) => void): { close(): void };
  /**
   * As stream, with each line handed over as the bytes received (a view valid during the call
   * only): no string is made of what the caller skips or cuts before decoding.
   */
  streamBytes(path: string, onLine: (line: Buffer) => void): { close(): void };
  close(): void;
}

export function httpClient(k: { url: string; token: string; ca: string }, maxSockets: number): HttpClient {
  const agent = new https.Agent({ keepAlive: true, maxSockets, ca: k.ca });
  const headers = { Authorization: `Bearer ${k.token}`, Accept: 'application/json' };
  return {
    request(method, p, body, contentType = 'application/json') {
      return new Promise((resolve, reject) => {
        const req = https.request(`${k.url}${p}`, { method, agent, headers: body ? { ...headers, 'Content-Type': contentType } : headers }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString() }));
        });
        req.on('error', reject);
        req.end(body);
      });
    },
    requestWithHeaders(method, p, extra) {
      return new Promise((resolve, reject) => {
        const req = https.request(`${k.url}${p}`, { method, agent, headers: { ...headers, ...extra } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString() }));
        });
        req.on('error', reject);
        req.end();
      });
    },
    stream(p, onLine) {
      let buf = '';
      const req = https.get(`${k.url}${p}`, { headers, ca: k.ca, agent: false }, (res) => {
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          buf += d;
          let i;
          while ((i = buf.indexOf('\n')) >= 0) {
            onLine(buf.slice(0, i));
            buf = buf.slice(i + 1);
          }
        });
      });
      req.on('error', () => {});
      return { close: () => req.destroy() };
    },
    streamBytes(p, onLine) {
      // Lines are cut on the bytes: a newline byte never occurs inside a UTF-8 sequence.
      let partial: Buffer[] = [];
      const req = https.get(`${k.url}${p}`, { headers, ca: k.ca, agent: false }, (res) => {
        res.on('data', (chunk: Buffer) => {
          let start = 0;
          let nl: number;
          while ((nl = chunk.indexOf(0x0a, start)) >= 0) {
            const line = partial.length === 0 ? chunk.subarray(start, nl) : Buffer.concat([...partial, chunk.subarray(start, nl)]);
            partial = [];
            start = nl + 1;
            onLine(line);
          }
          if (start < chunk.length) partial.push(start === 0 ? chunk : chunk.subarray(start));
        });
      });
      req.on('error', () => {});
      return { close: () => req.destroy() };
    },
    close() {
      agent.destroy();
    },
  };
}

export interface Etcd {
  endpoint: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** One etcd member (Debian's etcd-server) on free loopback ports with a fresh data dir. */
export async function startEtcd(): Promise<Etcd> {
  const [client, peer, metrics] = [await freePort(), await freePort(), await freePort()];
  const dir = mkdtempSync(path.join(tmpdir(), 'etcd-bench-'));
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  const proc = spawn('etcd', [
    '--name', 's1', '--data-dir', dir,
    '--listen-client-urls', `http://127.0.0.1:${client}`, '--advertise-client-urls', `http://127.0.0.1:${client}`,
    '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
    '--initial-cluster', `s1=http://127.0.0.1:${peer}`, '--initial-cluster-state', 'new',
    '--listen-metrics-urls', `http://127.0.0.1:${metrics}`, '--log-level', 'error',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d) => { err += d; });
  const endpoint = `127.0.0.1:${client}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`etcd exited: ${err}`);
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(client, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (up) break;
    if (Date.now() > deadline) throw new Error(`etcd did not start: ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    endpoint, proc,
    async stop() {
      if (proc.exitCode === null) await new Promise<void>((r) => { proc.once('exit', () => r()); proc.kill('SIGTERM'); });
      removeDir();
    },
  };
}

/** User + system CPU seconds of a process (`PID`) or one of its threads (`PID/task/TID`), from /proc. */
export function cpuSeconds(pid: number | string): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) * 1024 : NaN;
}
