// The actions of probes and lifecycle hooks as the kubelet runs them (pkg/probe/http, tcp, exec;
// pkg/kubelet/lifecycle): an HTTP GET to the pod IP (2xx and 3xx succeed), a TCP connect, a
// command run beside the container's process with its environment, and a sleep. Results carry
// the kubelet's output texts, which it puts into `Unhealthy` events.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import path from 'node:path';
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

/**
 * util-linux's setpriv, where present: `setpriv --pdeathsig SIGKILL -- CMD` sets the parent-death
 * signal and execs CMD in place (same pid and process group), so the process is killed by the
 * kernel when the thread that spawned it is gone — also when kubelite is killed or crashes and its
 * exit hook never runs (containers kept their pod IP:port bound before).
 */
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => executable(p) === true);

function executable(file: string): true | 'ENOENT' | 'EACCES' {
  try {
    if (!statSync(file).isFile()) return 'EACCES';
    accessSync(file, fsConstants.X_OK);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'ENOENT' : 'EACCES';
  }
}

/**
 * The file execvp would run for `cmd` (a path when it has a slash, else looked up in PATH), or
 * why there is none — the spawn errors the container's start reports, known before setpriv runs.
 */
export function lookPath(cmd: string, pathEnv: string, cwd: string): { file: string } | { code: 'ENOENT' | 'EACCES' } {
  if (cmd.includes('/')) {
    const file = path.resolve(cwd, cmd);
    const ok = executable(file);
    return ok === true ? { file } : { code: ok };
  }
  let code: 'ENOENT' | 'EACCES' = 'ENOENT';
  for (const dir of pathEnv.split(':')) {
    const file = path.resolve(cwd, dir || '.', cmd);
    const ok = executable(file);
    if (ok === true) return { file };
    if (ok === 'EACCES') code = 'EACCES';
  }
  return { code };
}

/**
 * Start `argv` in a process group of its own (so that everything it starts is signalled with it),
 * with pipes for stdout and stderr, through setpriv where present. A command that cannot be found
 * or run is known before setpriv runs and returned as the spawn error code; without setpriv, a
 * spawn error comes as the child's 'error' event, as from spawn().
 */
export function spawnGroup(argv: string[], env: Record<string, string>, cwd: string): { child: ChildProcess } | { code: 'ENOENT' | 'EACCES' } {
  let command = argv;
  if (SETPRIV) {
    const found = lookPath(argv[0]!, env.PATH ?? '', cwd);
    if ('code' in found) return found;
    command = [SETPRIV, '--pdeathsig', 'SIGKILL', '--', found.file, ...argv.slice(1)];
  }
  return { child: spawn(command[0]!, command.slice(1), { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] }) };
}

/** Why a command could not be started, in runc's words (`exec: "CMD": WHY`). */
export function spawnErrorText(code: string | undefined, message: string): string {
  return code === 'ENOENT' ? 'executable file not found in $PATH' : code === 'EACCES' ? 'permission denied' : message;
}

/** The message containerd gives for an exec whose binary cannot be started. */
function execStartError(cmd: string, code: string | undefined, message: string): string {
  const why = spawnErrorText(code, message);
  return `OCI runtime exec failed: exec failed: unable to start container process: exec: "${cmd}": ${why}: unknown`;
}

/**
 * exec: run the command with the container's environment and working directory; exit 0
 * succeeds, the output (stdout and stderr, at most 10 KiB) is the result's output.
 */
export function runExec(action: ExecAction, env: Record<string, string>, cwd: string, timeoutMs: number): Promise<ActionResult> {
  const cmd = action.command ?? [];
  if (!cmd.length) return Promise.resolve({ ok: false, output: 'OCI runtime exec failed: exec failed: no command specified: unknown' });
  const started = spawnGroup(cmd, env, cwd);
  if ('code' in started) return Promise.resolve({ ok: false, output: execStartError(cmd[0]!, started.code, started.code) });
  const { child } = started;
  return new Promise((resolve) => {
    let output = '';
    let settled = false;
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
    child.once('error', (e: NodeJS.ErrnoException) => finish({ ok: false, output: execStartError(cmd[0]!, e.code, e.message) }));
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
