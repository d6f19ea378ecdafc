// Test harness: a real `kubelite up` child process on a free 127.0.0.1 port with its own data
// dir, and the real kubectl pointed at it with a private --cache-dir.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import https from 'node:https';
import YAML from 'yaml';
import { reserveNetworks } from './networks.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const KUBELITE = path.join(ROOT, 'bin/kubelite');

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Cluster {
  url: string;
  dataDir: string;
  kubeconfig: string;
  token: string;
  caPem: string;
  proc: ChildProcess;
  /** The ranges reserved for this cluster (isolatedNetwork), as passed to `up`. */
  networks?: { podCIDR: string; serviceCIDR: string };
  /** Everything the server wrote to stderr so far (structured logs). */
  logs(): string;
  kubectl(args: string[], opts?: { input?: string; env?: Record<string, string> }): Promise<KubectlResult>;
  /** kubectl that must succeed; returns stdout. */
  k(...args: string[]): Promise<string>;
  /** A raw HTTPS request with the admin token (or none / another token). */
  request(method: string, path: string, body?: unknown, opts?: { token?: string | null; headers?: Record<string, string>; raw?: string | Buffer }): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string; json(): any }>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  restart(): Promise<void>;
  cleanup(): Promise<void>;
}

interface StartOpts {
  dataDir?: string;
  args?: string[];
  env?: Record<string, string>;
  /**
   * Run `up`'s controllers, scheduler and node agents too. Off by default: most tests look at the
   * API alone, or run the components they test in the test process.
   */
  components?: boolean;
  /**
   * Give the cluster a pod CIDR and a service CIDR of its own (test/helpers/networks.ts), unless
   * `args` names them. On by default with `components`; tests that run a proxy or pods
   * themselves turn it on. Off, the cluster uses kubelite's default ranges, as the tests that
   * name addresses in them expect.
   */
  isolatedNetwork?: boolean;
}

interface Launched {
  proc: ChildProcess;
  url: string;
  kubeconfig: string;
  stderr: () => string;
  /** Resolves once stderr has been read to its end (after the process has exited). */
  stderrClosed: Promise<void>;
}

/**
 * How long `up` may take to print "Ready": with every component on a loaded 2-core machine it
 * has taken over 30 s.
 */
const READY_TIMEOUT_MS = 120_000;

/** How long stop() waits after the exit for the rest of stderr (a stray grandchild may hold the pipe). */
const STDERR_DRAIN_MS = 5_000;

async function launch(dataDir: string, args: string[], env: Record<string, string>): Promise<Launched> {
  const proc = spawn(process.execPath, [KUBELITE, 'up', '--data-dir', dataDir, '--listen', '127.0.0.1:0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let out = '', err = '';
  proc.stderr!.on('data', (d) => { err += d; });
  const stderrClosed = new Promise<void>((resolve) => proc.stderr!.once('close', () => resolve()));
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      // A server left running would keep this test process alive (and hold its address ranges).
      proc.removeAllListeners('exit');
      proc.kill('SIGKILL');
      reject(new Error(`kubelite up did not become ready in ${READY_TIMEOUT_MS / 1000} s\nstdout: ${out}\nstderr: ${err}`));
    }, READY_TIMEOUT_MS);
    proc.stdout!.on('data', (d) => {
      out += d;
      const url = /API server (https:\/\/\S+?),/.exec(out)?.[1];
      const kc = /export KUBECONFIG=(\S+)/.exec(out)?.[1];
      if (url && kc && /Ready in/.test(out)) {
        clearTimeout(timer);
        resolve({ proc, url, kubeconfig: kc, stderr: () => err, stderrClosed });
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`kubelite up exited with ${code}\nstdout: ${out}\nstderr: ${err}`));
    });
  });
}

export async function startCluster(o: StartOpts = {}): Promise<Cluster> {
  const dataDir = o.dataDir ?? mkdtempSync(path.join(tmpdir(), 'kubelite-test-'));
  const cacheDir = mkdtempSync(path.join(tmpdir(), 'kubectl-cache-'));
  const args = [...(o.components ? [] : ['--disable', 'controllers,scheduler,nodes,proxy']), ...(o.args ?? [])];
  const networks = (o.isolatedNetwork ?? o.components) ? reserveNetworks() : undefined;
  if (networks) {
    if (!args.includes('--cluster-cidr')) args.push('--cluster-cidr', networks.podCIDR);
    if (!args.includes('--service-cidr')) args.push('--service-cidr', networks.serviceCIDR);
  }
  let run: Launched;
  try {
    run = await launch(dataDir, args, o.env ?? {});
  } catch (e) {
    networks?.release();
    rmSync(cacheDir, { recursive: true, force: true });
    if (!o.dataDir) rmSync(dataDir, { recursive: true, force: true });
    throw e;
  }
  const readCreds = () => {
    const kc = YAML.parse(readFileSync(run.kubeconfig, 'utf8'));
    const cluster = kc.clusters.find((c: any) => c.name === 'kubelite').cluster;
    const user = kc.users.find((u: any) => u.name === 'kubelite').user;
    return { caPem: Buffer.from(cluster['certificate-authority-data'], 'base64').toString(), token: user.token as string };
  };
  let creds = readCreds();

  const c: Cluster = {
    get url() { return run.url; },
    dataDir,
    get kubeconfig() { return run.kubeconfig; },
    get token() { return creds.token; },
    get caPem() { return creds.caPem; },
    get proc() { return run.proc; },
    networks: networks && { podCIDR: args[args.indexOf('--cluster-cidr') + 1]!, serviceCIDR: args[args.indexOf('--service-cidr') + 1]! },
    logs: () => run.stderr(),
    kubectl(args, opts = {}) {
      return new Promise((resolve) => {
        const child = execFile('kubectl', [`--kubeconfig=${run.kubeconfig}`, `--cache-dir=${cacheDir}`, ...args], {
          env: { ...process.env, KUBECONFIG: run.kubeconfig, ...opts.env }, maxBuffer: 64 * 1024 * 1024, timeout: 120_000,
        }, (error, stdout, stderr) => {
          const code = error ? (typeof (error as any).code === 'number' ? (error as any).code : 1) : 0;
          resolve({ code, stdout, stderr });
        });
        if (opts.input !== undefined) child.stdin!.end(opts.input);
      });
    },
    async k(...args) {
      const r = await c.kubectl(args);
      if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}):\n${r.stderr}${r.stdout}`);
      return r.stdout;
    },
    request(method, p, body, opts = {}) {
      const u = new URL(p, run.url);
      const headers: Record<string, string> = { Accept: 'application/json', ...opts.headers };
      const token = opts.token === undefined ? creds.token : opts.token;
      if (token) headers.Authorization = `Bearer ${token}`;
      let payload: string | Buffer | undefined = opts.raw;
      if (payload === undefined && body !== undefined) {
        payload = JSON.stringify(body);
        headers['Content-Type'] ??= 'application/json';
      }
      // Node sends DELETE bodies without chunking, so the length must be explicit.
      if (payload !== undefined) headers['Content-Length'] = String(Buffer.byteLength(payload));
      return new Promise((resolve, reject) => {
        const req = https.request(u, { method, headers, ca: creds.caPem }, (res) => {
          let data = '';
          res.setEncoding('utf8');
          res.on('data', (d) => { data += d; });
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: data, json: () => JSON.parse(data) }));
        });
        req.on('error', reject);
        req.end(payload);
      });
    },
    async stop(signal = 'SIGTERM') {
      const p = run.proc;
      if (p.exitCode !== null || p.signalCode !== null) return p.exitCode;
      const code = await new Promise<number | null>((resolve) => {
        p.removeAllListeners('exit');
        p.once('exit', (exitCode) => resolve(exitCode));
        p.kill(signal);
      });
      // 'exit' can come before the last of stderr has been read: logs() after stop() must hold
      // everything the server wrote, its shutdown lines included.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([run.stderrClosed, new Promise((resolve) => { timer = setTimeout(resolve, STDERR_DRAIN_MS); })]);
      clearTimeout(timer);
      return code;
    },
    async restart() {
      await c.stop();
      run = await launch(dataDir, args, o.env ?? {});
      creds = readCreds();
    },
    async cleanup() {
      await c.stop();
      rmSync(cacheDir, { recursive: true, force: true });
      if (!o.dataDir) rmSync(dataDir, { recursive: true, force: true });
      networks?.release();
    },
  };
  return c;
}

/** Write a file into a fresh temp dir and return its path. */
export function tempFile(name: string, content: string): string {
  const p = path.join(mkdtempSync(path.join(tmpdir(), 'kubelite-file-')), name);
  writeFileSync(p, content);
  return p;
}
