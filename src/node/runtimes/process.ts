// The process runtime (RuntimeClass handler `process`): each container of a pod is a host process
// running the container's command and args (the image is not used), in a process group of its
// own so that everything it starts is signalled with it. It behaves as the kubelet with a CRI
// runtime does (pkg/kubelet/kuberuntime, pkg/kubelet/prober):
//  * init containers one after the other, then the regular containers; sidecars (init containers
//    with restartPolicy Always) start before the next init container once started;
//  * environment from env/envFrom with fieldRef and resourceFieldRef, $(NAME) expansion, and
//    POD_NAME, POD_NAMESPACE, POD_IP, HOSTNAME (the process binds the pod IP itself: pod IPs are
//    loopback addresses, 127.244.0.0/16 by default);
//  * stdout and stderr in CRI log files, one per container instance, the previous instance kept
//    for `kubectl logs --previous`;
//  * startup, readiness and liveness probes (httpGet, tcpSocket, exec) with upstream's timing
//    fields and thresholds, driving `started`, `ready` and restarts;
//  * restarts by restartPolicy with the kubelet's crash back-off (10 s doubling to 5 min, reset
//    once a container ran 10 min), shown as CrashLoopBackOff;
//  * stopping: the preStop hook within the grace period, SIGTERM to the process group, SIGKILL
//    when the grace period (at least 2 s after the hook, as the kubelet) has run out.
//
// Processes do not outlive the runtime: close() (the agent stopping) and the exit of this Node.js
// process kill them, so a restarted agent starts its pods' containers again (restart counts
// carry on from the pod's status). When kubelite dies without its exit hook (SIGKILL, a crash),
// the parent-death signal set through util-linux's setpriv kills each container's main process
// (spawnGroup in handlers.ts).
import { mkdirSync, rmSync, statSync, unlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Writable } from 'node:stream';
import type { Container, ContainerStateTerminated, ContainerStatus, LifecycleHandler, Pod, Probe } from 'kubernetes-types/core/v1.js';
import {
  imageIdOf, isSidecar, newContainerId, normalizeImage,
  type ContainerLogOptions, type Runtime, type RuntimeListener, type RuntimePodStatus, type Sandbox,
} from '../runtime.js';
import { ContainerLogWriter, readContainerLog, tailContent } from './cri-log.js';
import { commandLine, containerEnv, ContainerConfigError } from './container-env.js';
import { killGroup, runExec, runHTTPGet, runTCP, spawnErrorText, spawnGroup, type ActionResult } from './handlers.js';

export const PROCESS_RUNTIME_NAME = 'kubelite-process';
export const PROCESS_RUNTIME_VERSION = '0.1.0';
/** The RuntimeClass handler that selects this runtime. */
export const PROCESS_RUNTIME_HANDLER = 'process';

export interface ProcessRuntimeOptions {
  /** Log files and the pods' working directories (default <tmpdir>/kubelite-process). */
  rootDir?: string;
  /** Crash-loop back-off: the second restart waits this long, doubling up to backoffMaxMs (kubelet: 10 s, 300 s). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** A container that exits this long after its last restart restarts at once (kubelet: twice the maximum back-off). */
  backoffResetMs?: number;
  /** The least time between SIGTERM and SIGKILL (the kubelet's minimumGracePeriodInSeconds, 2 s). */
  minGraceMs?: number;
}

type Kind = 'init' | 'sidecar' | 'regular';
type ProbeType = 'startup' | 'readiness' | 'liveness';
const PROBE_NAMES: Record<ProbeType, string> = { startup: 'Startup', readiness: 'Readiness', liveness: 'Liveness' };
/** setTimeout's longest delay: "no timeout" for hooks that have none (postStart). */
const NO_TIMEOUT_MS = 2 ** 31 - 1;
/** How long a dead process's output pipes may stay open (held by escaped children) before they are cut. */
const PIPE_DRAIN_MS = 1000;

interface ProbeWorker {
  type: ProbeType;
  spec: Probe;
  timer?: NodeJS.Timeout;
  lastResult?: boolean;
  run: number;
  stopped: boolean;
}

interface KillState {
  /** When the grace period ends (ms since epoch); a later kill may only bring it forward. */
  deadline: number;
  phase: 'hook' | 'term';
  timer?: NodeJS.Timeout;
  termAt?: number;
}

/** One run of a container: a process and its log. */
interface Instance {
  id: string;
  pid?: number;
  log: ContainerLogWriter;
  logPath: string;
  env: Record<string, string>;
  cwd: string;
  startedAt: string;
  /** The process has ended and its end is being recorded. */
  exiting: boolean;
  /** Its end is recorded in the container's status. */
  exited: boolean;
  exitWaiters: (() => void)[];
  probes: ProbeWorker[];
  kill?: KillState;
}

interface ProcContainer {
  spec: Container;
  kind: Kind;
  fieldPath: string;
  /** Replaced, never mutated: status() hands these objects out. */
  status: ContainerStatus;
  /** Started at least once (a restart counts from then on). */
  launched: boolean;
  /** Its container could not be created (a config error): nothing retries, as the spec cannot change. */
  createFailed: boolean;
  instance?: Instance;
  /** A pending restart. */
  timer?: NodeJS.Timeout;
  backoff?: { delayMs: number; lastUpdate: number };
  /** Log files by container ID: the current instance's and the previous one's. */
  logs: Map<string, string>;
}

interface ProcPod {
  uid: string;
  pod: Pod;
  sandbox: Sandbox;
  listener: RuntimeListener;
  containers: ProcContainer[];
  logDir: string;
  workDir: string;
  sandboxReady: boolean;
  stopping: boolean;
  stopped: boolean;
  stopDeadline: number;
  stopWaiters: (() => void)[];
}

const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

/** Go's time.Duration.String() for whole milliseconds: 300ms, 10s, 1m20s, 5m0s. */
export function goDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const totalSeconds = ms / 1000;
  const h = Math.floor(totalSeconds / 3600);
  const m = Math.floor((totalSeconds % 3600) / 60);
  const s = Number((totalSeconds % 60).toFixed(3));
  return `${h ? `${h}h` : ''}${h || m ? `${m}m` : ''}${s}s`;
}

/** Every process group this module started that may still run: killed if Node.js exits first. */
const liveGroups = new Set<number>();
let exitHookInstalled = false;
function trackGroup(pid: number): void {
  liveGroups.add(pid);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const g of liveGroups) killGroup(g, 'SIGKILL');
  });
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal ? (os.constants.signals[signal] ?? 0) : 0;
}

export class ProcessRuntime implements Runtime {
  readonly name = PROCESS_RUNTIME_NAME;
  readonly version = PROCESS_RUNTIME_VERSION;
  private readonly pods = new Map<string, ProcPod>();
  private readonly opts: Required<ProcessRuntimeOptions>;

  constructor(opts: ProcessRuntimeOptions = {}) {
    const backoffMaxMs = opts.backoffMaxMs ?? 300_000;
    this.opts = {
      rootDir: opts.rootDir ?? path.join(os.tmpdir(), 'kubelite-process'),
      backoffBaseMs: opts.backoffBaseMs ?? 10_000,
      backoffMaxMs,
      backoffResetMs: opts.backoffResetMs ?? 2 * backoffMaxMs,
      minGraceMs: opts.minGraceMs ?? 2000,
    };
  }

  // ---- pods -------------------------------------------------------------------------------

  start(pod: Pod, sandbox: Sandbox, listener: RuntimeListener): void {
    const uid = pod.metadata!.uid!;
    if (this.pods.has(uid)) return;
    const meta = pod.metadata!;
    const inits = pod.spec?.initContainers ?? [];
    const pending = inits.length ? 'PodInitializing' : 'ContainerCreating';
    const previous = new Map<string, ContainerStatus>();
    for (const s of [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]) previous.set(s.name, s);
    const make = (spec: Container, kind: Kind, fieldPath: string): ProcContainer => {
      const c: ProcContainer = {
        spec, kind, fieldPath, launched: false, createFailed: false, logs: new Map(),
        status: {
          name: spec.name, state: { waiting: { reason: pending } }, lastState: {}, ready: false, restartCount: 0,
          image: spec.image ?? '', imageID: '', started: false,
        },
      };
      // An agent restart killed this container's process: its restart count carries on.
      const old = previous.get(spec.name);
      if (old?.containerID?.startsWith(`${this.name}://`)) {
        c.launched = true;
        c.status = { ...c.status, restartCount: old.restartCount, lastState: old.lastState ?? {} };
      }
      return c;
    };
    const p: ProcPod = {
      uid, pod, sandbox, listener,
      containers: [
        ...inits.map((c) => make(c, isSidecar(c) ? 'sidecar' : 'init', `spec.initContainers{${c.name}}`)),
        ...(pod.spec?.containers ?? []).map((c) => make(c, 'regular', `spec.containers{${c.name}}`)),
      ],
      logDir: path.join(this.opts.rootDir, 'pods', `${meta.namespace}_${meta.name}_${uid}`),
      workDir: path.join(this.opts.rootDir, 'sandboxes', uid),
      sandboxReady: false, stopping: false, stopped: false, stopDeadline: Infinity, stopWaiters: [],
    };
    this.pods.set(uid, p);
    try {
      mkdirSync(p.workDir, { recursive: true });
      for (const c of p.containers) mkdirSync(path.join(p.logDir, c.spec.name), { recursive: true });
    } catch (e) {
      listener.event('Warning', 'FailedCreatePodSandBox', `Failed to create pod sandbox: ${(e as Error).message}`);
      return;
    }
    p.sandboxReady = true;
    this.advance(p);
  }

  /** Start whatever may start now: the next init container, or the regular containers. */
  private advance(p: ProcPod): void {
    if (p.stopping || !p.sandboxReady) return;
    for (const c of p.containers) {
      const idle = !c.instance && !c.timer && !c.createFailed;
      if (c.kind === 'sidecar') {
        if (idle && !c.status.state?.terminated) this.run(p, c);
        // The next init container starts once the sidecar has started (its startup probe passed).
        if (!c.status.started) return;
        continue;
      }
      if (c.kind === 'init') {
        const t = c.status.state?.terminated;
        if (t && t.exitCode === 0) continue;
        if (idle && !t) this.run(p, c);
        return;
      }
      if (idle && !c.status.state?.terminated) this.run(p, c);
    }
  }

  private podRef(p: ProcPod): string {
    return `${p.pod.metadata?.name}_${p.pod.metadata?.namespace}(${p.uid})`;
  }

  private setStatus(c: ProcContainer, patch: Partial<ContainerStatus>): void {
    c.status = { ...c.status, ...patch };
  }

  /** A container that cannot be created: it waits with the kubelet's reason and a Failed event. */
  private failCreate(p: ProcPod, c: ProcContainer, reason: string, message: string): void {
    c.createFailed = true;
    this.setStatus(c, { state: { waiting: { reason, message } }, ready: false, started: false });
    p.listener.event('Warning', 'Failed', `Error: ${message}`, c.fieldPath);
  }

  // ---- running containers -----------------------------------------------------------------

  private run(p: ProcPod, c: ProcContainer): void {
    const spec = c.spec;
    const hex = newContainerId();
    const id = `${this.name}://${hex}`;
    let env: Record<string, string>;
    try {
      env = containerEnv(p.pod, spec, p.sandbox, p.workDir);
    } catch (e) {
      if (!(e instanceof ContainerConfigError)) throw e;
      this.failCreate(p, c, 'CreateContainerConfigError', e.message);
      return;
    }
    const argv = commandLine(spec, env);
    if (!spec.command?.length) {
      // There is no image to take an entrypoint from; containerd says the same of an image without one.
      this.failCreate(p, c, 'CreateContainerError', `failed to generate container "${hex}" spec: failed to generate spec: no command specified`);
      return;
    }
    const restartCount = c.launched ? c.status.restartCount + 1 : c.status.restartCount;
    c.launched = true;
    const logPath = path.join(p.logDir, spec.name, `${restartCount}.log`);
    const inst: Instance = {
      id, log: new ContainerLogWriter(logPath), logPath, env, cwd: spec.workingDir || p.workDir,
      startedAt: now(), exiting: false, exited: false, exitWaiters: [], probes: [],
    };
    c.instance = inst;
    this.rememberLog(c, id, logPath);
    p.listener.event('Normal', 'Created', `Created container: ${spec.name}`, c.fieldPath);
    const base: Partial<ContainerStatus> = {
      restartCount, image: normalizeImage(spec.image ?? ''), imageID: imageIdOf(spec.image ?? ''), containerID: id,
    };
    const startError = this.cwdProblem(inst.cwd);
    if (startError) {
      this.setStatus(c, base);
      void this.startFailed(p, c, inst, startError);
      return;
    }
    const spawnFailed = (code: string | undefined, message: string) => {
      this.setStatus(c, base);
      void this.startFailed(p, c, inst, `exec: "${argv[0]}": ${spawnErrorText(code, message)}`);
    };
    const started = spawnGroup(argv, env, inst.cwd);
    if ('code' in started) {
      spawnFailed(started.code, started.code);
      return;
    }
    const { child } = started;
    child.stdout?.on('data', (d: Buffer) => inst.log.write('stdout', d));
    child.stderr?.on('data', (d: Buffer) => inst.log.write('stderr', d));
    if (child.pid === undefined) {
      // The spawn failed; the error follows on the next tick.
      child.once('error', (e: NodeJS.ErrnoException) => spawnFailed(e.code, e.message));
      return;
    }
    inst.pid = child.pid;
    trackGroup(child.pid);
    child.once('exit', (code, signal) => {
      // The container's main process is gone: so is everything in its group (a PID namespace
      // dies with its init). Output still in the pipes is read until they close.
      killGroup(child.pid!, 'SIGKILL');
      const drain = setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
      }, PIPE_DRAIN_MS);
      child.once('close', () => {
        clearTimeout(drain);
        void this.exited(p, c, inst, code ?? 128 + signalNumber(signal));
      });
    });
    p.listener.event('Normal', 'Started', `Started container ${spec.name}`, c.fieldPath);
    const hasStartup = !!spec.startupProbe;
    this.setStatus(c, {
      ...base, state: { running: { startedAt: inst.startedAt } }, started: !hasStartup,
      // Regular init containers are never ready while they run; others without a readiness probe are ready once started.
      ready: c.kind !== 'init' && !hasStartup && !spec.readinessProbe,
    });
    this.startProbes(p, c, inst);
    const postStart = spec.lifecycle?.postStart;
    if (postStart) void this.postStart(p, c, inst, postStart);
  }

  /** runc's complaint about a working directory that is not there. */
  private cwdProblem(cwd: string): string | undefined {
    try {
      if (statSync(cwd).isDirectory()) return undefined;
      return `chdir to cwd ("${cwd}") set in config.json failed: not a directory`;
    } catch {
      return `chdir to cwd ("${cwd}") set in config.json failed: no such file or directory`;
    }
  }

  /** Keep the logs of the current and the previous instance (the kubelet keeps one dead container per container). */
  private rememberLog(c: ProcContainer, id: string, logPath: string): void {
    c.logs.set(id, logPath);
    while (c.logs.size > 2) {
      const [oldest, file] = c.logs.entries().next().value as [string, string];
      c.logs.delete(oldest);
      try {
        unlinkSync(file);
      } catch {
        // Already gone.
      }
    }
  }

  /** The process could not be started: the container terminates with StartError (exit code 128), as under containerd. */
  private async startFailed(p: ProcPod, c: ProcContainer, inst: Instance, detail: string): Promise<void> {
    const message = `failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: ${detail}: unknown`;
    p.listener.event('Warning', 'Failed', `Error: ${message}`, c.fieldPath);
    await this.exited(p, c, inst, 128, { reason: 'StartError', message, startedAt: '1970-01-01T00:00:00Z' });
  }

  /** An instance ended (by itself, killed, or never started): record it, then restart or move on. */
  private async exited(p: ProcPod, c: ProcContainer, inst: Instance, exitCode: number, override?: Partial<ContainerStateTerminated>): Promise<void> {
    if (inst.exiting) return;
    inst.exiting = true;
    if (inst.pid !== undefined) liveGroups.delete(inst.pid);
    for (const w of inst.probes) this.stopProbe(w);
    if (inst.kill?.timer) clearTimeout(inst.kill.timer);
    inst.log.close();
    let message: string | undefined;
    if (exitCode !== 0 && c.spec.terminationMessagePolicy === 'FallbackToLogsOnError' && !override) {
      // The kubelet's fallback: the end of the log, at most 80 lines and 2048 bytes.
      message = (await tailContent(inst.logPath, 80, 2048)) || undefined;
    }
    inst.exited = true;
    const terminated: ContainerStateTerminated = {
      exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', ...(message ? { message } : {}),
      startedAt: inst.startedAt, finishedAt: now(), containerID: inst.id, ...override,
    };
    if (c.instance === inst) c.instance = undefined;
    // Completed init containers count as ready, as the kubelet reports them.
    this.setStatus(c, { state: { terminated }, ready: c.kind === 'init' && exitCode === 0, started: false });
    for (const w of inst.exitWaiters.splice(0)) w();
    if (p.stopping) {
      p.listener.changed();
      return;
    }
    const policy = p.pod.spec?.restartPolicy ?? 'Always';
    const restart = c.kind === 'sidecar' ? true
      : c.kind === 'init' ? exitCode !== 0 && policy !== 'Never'
        : policy === 'Always' || (policy === 'OnFailure' && exitCode !== 0);
    if (restart) this.restartLater(p, c, terminated);
    else if (c.kind === 'init' && exitCode === 0) this.advance(p);
    p.listener.changed();
  }

  /**
   * The kubelet's crash back-off: the first restart is immediate, each later one waits twice as
   * long as the one before (from 10 s up to 5 min); a container that exits long enough after its
   * last restart starts over without waiting.
   */
  private restartLater(p: ProcPod, c: ProcContainer, terminated: ContainerStateTerminated): void {
    this.setStatus(c, { lastState: { terminated } });
    const t = Date.now();
    const b = c.backoff;
    if (!b || t - b.lastUpdate > this.opts.backoffResetMs) {
      c.backoff = { delayMs: this.opts.backoffBaseMs, lastUpdate: t };
      this.run(p, c);
      return;
    }
    const delay = b.delayMs;
    const podRef = this.podRef(p);
    this.setStatus(c, {
      ready: false, started: false,
      state: { waiting: { reason: 'CrashLoopBackOff', message: `back-off ${goDuration(delay)} restarting failed container=${c.spec.name} pod=${podRef}` } },
    });
    p.listener.event('Warning', 'BackOff', `Back-off restarting failed container ${c.spec.name} in pod ${podRef}`, c.fieldPath);
    c.timer = setTimeout(() => {
      c.timer = undefined;
      if (p.stopping) return;
      b.delayMs = Math.min(delay * 2, this.opts.backoffMaxMs);
      b.lastUpdate = Date.now();
      this.run(p, c);
      p.listener.changed();
    }, delay);
  }

  // ---- hooks ------------------------------------------------------------------------------

  /** Run a lifecycle handler; the failure text is the kubelet's hook error message. */
  private async runHandler(p: ProcPod, c: ProcContainer, inst: Instance, h: LifecycleHandler, timeoutMs: number): Promise<string | undefined> {
    const podRef = this.podRef(p);
    if (h.exec) {
      const r = await runExec(h.exec, inst.env, inst.cwd, timeoutMs);
      if (r.ok) return undefined;
      const cmd = (h.exec.command ?? []).join(' ');
      const err = r.exitCode !== undefined ? `command '${cmd}' exited with ${r.exitCode}: ${r.output}` : r.output;
      return `Exec lifecycle hook ([${cmd}]) for Container "${c.spec.name}" in Pod "${podRef}" failed - error: ${err}, message: ${JSON.stringify(r.output)}`;
    }
    if (h.httpGet) {
      let r: ActionResult;
      try {
        r = await runHTTPGet(h.httpGet, p.sandbox.podIPs[0] ?? p.sandbox.hostIP, c.spec, timeoutMs);
      } catch (e) {
        r = { ok: false, output: (e as Error).message };
      }
      return r.ok ? undefined : `HTTP lifecycle hook (${h.httpGet.path ?? ''}) for Container "${c.spec.name}" in Pod "${podRef}" failed - error: ${r.output}`;
    }
    if (h.sleep) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(h.sleep!.seconds * 1000, timeoutMs)));
    }
    return undefined;
  }

  /** postStart: a failed hook kills the container, which then restarts as its policy says. */
  private async postStart(p: ProcPod, c: ProcContainer, inst: Instance, h: LifecycleHandler): Promise<void> {
    const failure = await this.runHandler(p, c, inst, h, NO_TIMEOUT_MS);
    if (!failure || inst.exited || inst.kill) return;
    p.listener.event('Warning', 'FailedPostStartHook', failure, c.fieldPath);
    void this.killInstance(p, c, inst, this.podGraceSeconds(p), 'FailedPostStartHook');
  }

  private podGraceSeconds(p: ProcPod): number {
    return p.pod.spec?.terminationGracePeriodSeconds ?? 30;
  }

  // ---- stopping ---------------------------------------------------------------------------

  /**
   * Stop one instance as the kubelet's killContainer does: the preStop hook within the grace
   * period, then SIGTERM to the process group and SIGKILL when what is left of the grace period
   * (at least minGraceMs) has passed. A later call may only bring the end forward.
   */
  private killInstance(p: ProcPod, c: ProcContainer, inst: Instance, graceSeconds: number, message?: string): Promise<void> {
    const done = new Promise<void>((resolve) => (inst.exited ? resolve() : inst.exitWaiters.push(resolve)));
    // A process that has ended only needs its end recorded.
    if (inst.exiting) return done;
    const deadline = Date.now() + Math.max(0, graceSeconds) * 1000;
    const k = inst.kill;
    if (k) {
      if (deadline < k.deadline) {
        k.deadline = deadline;
        if (k.phase === 'hook') {
          if (k.timer) clearTimeout(k.timer);
          k.timer = setTimeout(() => this.terminate(inst), Math.max(0, deadline - Date.now()));
        } else {
          this.armKill(inst);
        }
      }
      return done;
    }
    for (const w of inst.probes) if (w.type !== 'readiness') this.stopProbe(w);
    p.listener.event('Normal', 'Killing', message ?? `Stopping container ${c.spec.name}`, c.fieldPath);
    inst.kill = { deadline, phase: 'hook' };
    const preStop = c.spec.lifecycle?.preStop;
    if (preStop && graceSeconds > 0 && inst.pid !== undefined) {
      inst.kill.timer = setTimeout(() => this.terminate(inst), Math.max(0, deadline - Date.now()));
      void this.runHandler(p, c, inst, preStop, Math.max(0, deadline - Date.now())).then((failure) => {
        // The hook's message stays out of the event: it may carry secrets.
        if (failure) p.listener.event('Warning', 'FailedPreStopHook', 'PreStopHook failed', c.fieldPath);
        this.terminate(inst);
      });
    } else {
      this.terminate(inst);
    }
    return done;
  }

  private terminate(inst: Instance): void {
    const k = inst.kill!;
    if (k.phase === 'term' || inst.exiting) return;
    if (k.timer) clearTimeout(k.timer);
    k.phase = 'term';
    k.termAt = Date.now();
    if (inst.pid !== undefined) killGroup(inst.pid, 'SIGTERM');
    this.armKill(inst);
  }

  private armKill(inst: Instance): void {
    const k = inst.kill!;
    if (k.timer) clearTimeout(k.timer);
    const killAt = Math.max(k.deadline, k.termAt! + this.opts.minGraceMs);
    k.timer = setTimeout(() => {
      if (!inst.exiting && inst.pid !== undefined) killGroup(inst.pid, 'SIGKILL');
    }, Math.max(0, killAt - Date.now()));
  }

  stop(uid: string, graceSeconds: number): Promise<void> {
    const p = this.pods.get(uid);
    if (!p || p.stopped) return Promise.resolve();
    const done = new Promise<void>((resolve) => p.stopWaiters.push(resolve));
    const deadline = Date.now() + Math.max(0, graceSeconds) * 1000;
    if (!p.stopping) {
      p.stopping = true;
      p.stopDeadline = deadline;
      for (const c of p.containers) {
        if (c.timer) clearTimeout(c.timer);
        c.timer = undefined;
      }
      void this.stopAll(p);
    } else if (deadline < p.stopDeadline) {
      // A shorter grace period (a second delete) applies to what still runs.
      p.stopDeadline = deadline;
      for (const c of p.containers) if (c.instance && !c.instance.exited) void this.killInstance(p, c, c.instance, graceSeconds);
    }
    return done;
  }

  /** Regular (and init) containers first, then sidecars in reverse order, all within the pod's grace period. */
  private async stopAll(p: ProcPod): Promise<void> {
    const remaining = () => Math.max(0, (p.stopDeadline - Date.now()) / 1000);
    const running = (c: ProcContainer) => !!c.instance && !c.instance.exited;
    await Promise.all(p.containers.filter((c) => c.kind !== 'sidecar' && running(c)).map((c) => this.killInstance(p, c, c.instance!, remaining())));
    for (const c of p.containers.filter((x) => x.kind === 'sidecar').reverse()) {
      if (running(c)) await this.killInstance(p, c, c.instance!, remaining());
    }
    for (const c of p.containers) {
      const s = c.status.state;
      if (!s?.waiting) continue;
      const last = c.status.lastState?.terminated;
      this.setStatus(c, {
        state: { terminated: last ?? { exitCode: 137, reason: 'ContainerStatusUnknown', message: 'The container could not be located when the pod was terminated', startedAt: undefined, finishedAt: now() } },
        lastState: last ? {} : c.status.lastState, ready: false, started: false,
      });
    }
    p.sandboxReady = false;
    p.stopped = true;
    for (const w of p.stopWaiters.splice(0)) w();
    p.listener.changed();
  }

  // ---- probes -----------------------------------------------------------------------------

  private startProbes(p: ProcPod, c: ProcContainer, inst: Instance): void {
    for (const type of ['startup', 'readiness', 'liveness'] as const) {
      const spec = c.spec[`${type}Probe`];
      if (!spec) continue;
      const w: ProbeWorker = { type, spec, run: 0, stopped: false };
      inst.probes.push(w);
      // Liveness and readiness wait for the startup probe, which starts them when it passes.
      if (type === 'startup' || !c.spec.startupProbe) this.scheduleProbe(p, c, inst, w, (spec.initialDelaySeconds ?? 0) * 1000);
    }
  }

  private scheduleProbe(p: ProcPod, c: ProcContainer, inst: Instance, w: ProbeWorker, delayMs: number): void {
    if (w.stopped) return;
    if (w.timer) clearTimeout(w.timer);
    w.timer = setTimeout(() => {
      w.timer = undefined;
      void this.probe(p, c, inst, w);
    }, Math.max(0, delayMs));
  }

  private stopProbe(w: ProbeWorker): void {
    w.stopped = true;
    if (w.timer) clearTimeout(w.timer);
    w.timer = undefined;
  }

  private async runProbeAction(p: ProcPod, c: ProcContainer, inst: Instance, spec: Probe): Promise<ActionResult> {
    const timeoutMs = (spec.timeoutSeconds || 1) * 1000;
    const podIP = p.sandbox.podIPs[0] ?? p.sandbox.hostIP;
    if (spec.httpGet) return runHTTPGet(spec.httpGet, podIP, c.spec, timeoutMs);
    if (spec.tcpSocket) return runTCP(spec.tcpSocket, podIP, c.spec, timeoutMs);
    if (spec.exec) return runExec(spec.exec, inst.env, inst.cwd, timeoutMs);
    throw new Error('grpc probes are not supported by the process runtime');
  }

  /** One probe run, with the kubelet worker's thresholds and effects. */
  private async probe(p: ProcPod, c: ProcContainer, inst: Instance, w: ProbeWorker): Promise<void> {
    if (w.stopped || inst.exited || c.instance !== inst) return;
    const periodMs = (w.spec.periodSeconds || 10) * 1000;
    const began = Date.now();
    let result: ActionResult;
    try {
      result = await this.runProbeAction(p, c, inst, w.spec);
    } catch (e) {
      // A probe that cannot run is an error, not a failure: its result is thrown away.
      p.listener.event('Warning', 'Unhealthy', `${PROBE_NAMES[w.type]} probe errored: ${(e as Error).message}`, c.fieldPath);
      this.scheduleProbe(p, c, inst, w, began + periodMs - Date.now());
      return;
    }
    if (w.stopped || inst.exited || c.instance !== inst) return;
    if (!result.ok) p.listener.event('Warning', 'Unhealthy', `${PROBE_NAMES[w.type]} probe failed: ${result.output.trimEnd()}`, c.fieldPath);
    if (w.lastResult === result.ok) w.run++;
    else {
      w.lastResult = result.ok;
      w.run = 1;
    }
    const threshold = result.ok ? (w.spec.successThreshold || 1) : (w.spec.failureThreshold || 3);
    if (w.run >= threshold) this.probeResult(p, c, inst, w, result.ok);
    if (!w.stopped && !inst.exited) this.scheduleProbe(p, c, inst, w, began + periodMs - Date.now());
  }

  private probeResult(p: ProcPod, c: ProcContainer, inst: Instance, w: ProbeWorker, ok: boolean): void {
    switch (w.type) {
      case 'readiness': {
        const ready = ok && !!c.status.started && c.kind !== 'init';
        if (c.status.ready !== ready) {
          this.setStatus(c, { ready });
          p.listener.changed();
        }
        return;
      }
      case 'startup':
        if (ok) {
          this.stopProbe(w);
          this.setStatus(c, { started: true, ready: c.kind !== 'init' && !c.spec.readinessProbe });
          // Readiness and liveness begin now (after their own initial delay from the container's start).
          const sinceStart = Date.now() - Date.parse(inst.startedAt);
          for (const other of inst.probes) {
            if (other.type !== 'startup') this.scheduleProbe(p, c, inst, other, (other.spec.initialDelaySeconds ?? 0) * 1000 - sinceStart);
          }
          this.advance(p);
          p.listener.changed();
          return;
        }
        break;
      case 'liveness':
        if (ok) return;
        break;
    }
    // Liveness or startup failed: the container is killed and restarted as its policy says.
    this.stopProbe(w);
    const grace = w.spec.terminationGracePeriodSeconds ?? this.podGraceSeconds(p);
    void this.killInstance(p, c, inst, grace, `Container ${c.spec.name} failed ${w.type} probe, will be restarted`);
  }

  // ---- status, logs, cleanup --------------------------------------------------------------

  status(uid: string): RuntimePodStatus | undefined {
    const p = this.pods.get(uid);
    if (!p) return undefined;
    const init: ContainerStatus[] = [];
    const regular: ContainerStatus[] = [];
    for (const c of p.containers) (c.kind === 'regular' ? regular : init).push(c.status);
    return { sandboxReady: p.sandboxReady, stopped: p.stopped, initContainerStatuses: init, containerStatuses: regular };
  }

  async logs(uid: string, containerID: string, opts: ContainerLogOptions, out: Writable, signal: AbortSignal): Promise<void> {
    const p = this.pods.get(uid);
    for (const c of p?.containers ?? []) {
      const file = c.logs.get(containerID);
      if (file === undefined) continue;
      const live = c.instance?.id === containerID ? c.instance.log : undefined;
      try {
        await readContainerLog(file, live, opts, out, signal);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`failed to try resolving symlinks in path "${file}": lstat ${file}: no such file or directory`);
        throw e;
      }
      return;
    }
    throw new Error(`failed to get container status for ${JSON.stringify(containerID.replace(/^[^:]+:\/\//, ''))}: container not found`);
  }

  remove(uid: string): void {
    const p = this.pods.get(uid);
    if (!p) return;
    // The pod object is gone (a forced delete): stop what runs with the shortest grace, then clean up.
    void this.stop(uid, 0).then(() => {
      this.pods.delete(uid);
      this.removeDirs(p);
    });
  }

  close(): void {
    for (const p of this.pods.values()) {
      p.stopping = true;
      for (const c of p.containers) {
        if (c.timer) clearTimeout(c.timer);
        const inst = c.instance;
        if (!inst) continue;
        for (const w of inst.probes) this.stopProbe(w);
        if (inst.kill?.timer) clearTimeout(inst.kill.timer);
        if (inst.pid !== undefined && !inst.exiting) {
          killGroup(inst.pid, 'SIGKILL');
          liveGroups.delete(inst.pid);
        }
        inst.exiting = true;
        inst.exited = true;
        inst.log.close();
        for (const w of inst.exitWaiters.splice(0)) w();
      }
      for (const w of p.stopWaiters.splice(0)) w();
      this.removeDirs(p);
    }
    this.pods.clear();
  }

  private removeDirs(p: ProcPod): void {
    rmSync(p.logDir, { recursive: true, force: true });
    rmSync(p.workDir, { recursive: true, force: true });
  }
}
