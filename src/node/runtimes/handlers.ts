// The actions of probes and lifecycle hooks as the kubelet runs them (pkg/probe/http, tcp, exec;
// pkg/kubelet/lifecycle): an HTTP GET to the pod IP (2xx and 3xx succeed), a TCP connect, a
// command run beside the container's process with its environment, and a sleep. Results carry
// the kubelet's output texts, which it puts into `Unhealthy` events.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { spawn } from 'node:child_process';
import type { Container, ContainerPort, ExecAction, HTTPGetAction, TCPSocketAction } from 'kubernetes-types/core/v1.js';

/** The kubelet's probe User-Agent (kube-probe/<major>.<minor>). */
const PROBE_USER_AGENT = 'kube-probe/1.32';

/** An action's outcome; `exitCode` is set when an exec'd command ran and exited non-zero. */
export type ActionResult = { ok: true; output: string } | { ok: false; output: string; exitCode?: number };

/** A probe's port: a number, or the name of one of the container's ports. */
export function resolvePort(port: number | string, container: Container): number {
  if (typeof port === 'number') return port;
  const named = (container.ports ?? []).find((p: ContainerPort) => p.name === port);
  if (named) return named.containerPort;
  const n = Number(port);
  if (Number.isInteger(n) && n > 0 && n < 65536) return n;
  throw new Error(`couldn't find port: ${port} in ${JSON.stringify(container.ports ?? [])}`);
}

/** Go's net/http error texts for the failures a probe meets most (`dial tcp …: connect: connection refused`). */
function dialError(e: NodeJS.ErrnoException, address: string): string {
  switch (e.code) {
    case 'ECONNREFUSED': return `dial tcp ${address}: connect: connection refused`;
    case 'ECONNRESET': return `read tcp ${address}: read: connection reset by peer`;
    case 'EADDRNOTAVAIL': return `dial tcp ${address}: connect: cannot assign requested address`;
    case 'EHOSTUNREACH': return `dial tcp ${address}: connect: no route to host`;
    default: return `dial tcp ${address}: ${e.message}`;
  }
}

const hostPort = (host: string, port: number) => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

/** httpGet: GET scheme://host:port/path with the probe's headers; 200–399 succeeds. */
export function runHTTPGet(action: HTTPGetAction, podIP: string, container: Container, timeoutMs: number): Promise<ActionResult> {
  const scheme = (action.scheme ?? 'HTTP').toLowerCase();
  const host = action.host || podIP;
  const port = resolvePort(action.port, container);
  let path = action.path ?? '';
  if (!path.startsWith('/')) path = `/${path}`;
  const url = `${scheme}://${hostPort(host, port)}${path}`;
  const headers: Record<string, string> = { 'User-Agent': PROBE_USER_AGENT, Accept: '*/*' };
  for (const h of action.httpHeaders ?? []) headers[h.name] = h.value;
  return new Promise((resolve) => {
    const lib = scheme === 'https' ? https : http;
    let settled = false;
    const done = (r: ActionResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const req = lib.request({ host, port, path, method: 'GET', headers, agent: false, rejectUnauthorized: false }, (res) => {
      // The body is read (up to the kubelet's 10 KiB) only to be part of the output.
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { if (body.length < 10 * 1024) body += d; });
      res.on('end', () => {
        const code = res.statusCode ?? 0;
        done(code >= 200 && code < 400 ? { ok: true, output: body } : { ok: false, output: `HTTP probe failed with statuscode: ${code}` });
      });
      res.on('error', (e) => done({ ok: false, output: `Get "${url}": ${e.message}` }));
    });
    const timer = setTimeout(() => {
      req.destroy();
      done({ ok: false, output: `Get "${url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)` });
    }, timeoutMs);
    req.on('error', (e: NodeJS.ErrnoException) => done({ ok: false, output: `Get "${url}": ${dialError(e, hostPort(host, port))}` }));
    req.end();
  });
}

/** tcpSocket: a connection that opens succeeds. */
export function runTCP(action: TCPSocketAction, podIP: string, container: Container, timeoutMs: number): Promise<ActionResult> {
  const host = action.host || podIP;
  const port = resolvePort(action.port, container);
  const address = hostPort(host, port);
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ ok: false, output: `dial tcp ${address}: i/o timeout` });
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ ok: true, output: '' });
    });
    socket.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ ok: false, output: dialError(e, address) });
    });
  });
}

/** The message containerd gives for an exec whose binary cannot be started. */
function execStartError(cmd: string, e: NodeJS.ErrnoException): string {
  const why = e.code === 'ENOENT' ? 'executable file not found in $PATH' : e.code === 'EACCES' ? 'permission denied' : e.message;
  return `OCI runtime exec failed: exec failed: unable to start container process: exec: "${cmd}": ${why}: unknown`;
}

/**
 * exec: run the command with the container's environment and working directory; exit 0
 * succeeds, the output (stdout and stderr, at most 10 KiB) is the result's output.
 */
export function runExec(action: ExecAction, env: Record<string, string>, cwd: string, timeoutMs: number): Promise<ActionResult> {
  const cmd = action.command ?? [];
  if (!cmd.length) return Promise.resolve({ ok: false, output: 'OCI runtime exec failed: exec failed: no command specified: unknown' });
  return new Promise((resolve) => {
    let output = '';
    let settled = false;
    const child = spawn(cmd[0]!, cmd.slice(1), { env, cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const collect = (d: Buffer) => { if (output.length < 10 * 1024) output += d.toString('utf8'); };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    const finish = (r: ActionResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const timer = setTimeout(() => {
      if (child.pid) killGroup(child.pid, 'SIGKILL');
      finish({ ok: false, output: `command "${cmd.join(' ')}" timed out` });
    }, timeoutMs);
    child.once('error', (e: NodeJS.ErrnoException) => finish({ ok: false, output: execStartError(cmd[0]!, e) }));
    child.once('close', (code) => {
      if (code === 0) finish({ ok: true, output });
      // A failed command's output is all the kubelet reports, even when it is empty.
      else finish({ ok: false, output, exitCode: code ?? undefined });
    });
  });
}

/** Signal a whole process group (the container's processes); a group already gone is fine. */
export function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: nothing left to signal.
  }
}
