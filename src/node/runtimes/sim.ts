// The simulated runtime: nothing is executed (as kwok). A pod's sandbox and containers "start"
// after a configurable delay and then run until the pod is stopped; init containers run for a
// moment and complete; restart policy and crash-loop back-off behave as the kubelet's. Container
// statuses look like a CRI runtime's: `kubelite-sim://<id>` container IDs, fully qualified image
// names and image IDs, start and finish times.
//
// A container can be made to exit, for trying restart policies and Jobs, with the pod annotation
// `sim.kubelite.io/exit: "<container>=<after>[:<exit code>],..."` (e.g. `main=2s:1`): the
// container exits that long after each start.
//
// With `answer`, running pods also answer on their pod IP (src/node/runtimes/sim-answer.ts):
// HTTP with their name, an echo for other TCP, UDP echoed with their name in front.
import type { Container, ContainerState, ContainerStatus, Pod, Service } from 'kubernetes-types/core/v1.js';
import { imageIdOf, isSidecar, newContainerId, normalizeImage, type Runtime, type RuntimeListener, type RuntimePodStatus, type Sandbox } from '../runtime.js';
import type { Informer } from '../../client/informer.js';
import type { KObject } from '../../api/types.js';
import { PodAnswerer } from './sim-answer.js';

export const SIM_RUNTIME_NAME = 'kubelite-sim';
export const SIM_RUNTIME_VERSION = '0.1.0';
export const SIM_EXIT_ANNOTATION = 'sim.kubelite.io/exit';

export interface SimRuntimeOptions {
  /** Time from start() until the sandbox is up and the first containers run (default 250 ms). */
  startDelayMs?: number;
  /** A random extra start delay, uniform in [0, startJitterMs) (default 500 ms). */
  startJitterMs?: number;
  /** How long a simulated init container runs before it completes (default 250 ms). */
  initRunMs?: number;
  /**
   * How long a container takes to exit once asked to stop (default 0: at once, as nginx does on
   * SIGTERM). Longer than the pod's grace period means it is killed when that runs out (137).
   */
  stopDelayMs?: number;
  /** Crash-loop back-off: the second restart waits this long, doubling up to backoffMaxMs (kubelet: 10 s, 300 s). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /**
   * Running pods listen on their pod IP and answer (default false: a socket per pod and port
   * costs file descriptors, which benchmarks of many pods do not want): at their containerPorts,
   * and with `services`, also at the ports Services target them on.
   */
  answer?: boolean;
  /**
   * Services, for `answer` (a shared informer may be given; it is started here if nobody did and
   * never stopped here). A pod's labels are read when it starts.
   */
  services?: Informer<Service & KObject>;
}

type Kind = 'init' | 'sidecar' | 'regular';

interface SimContainer {
  spec: Container;
  kind: Kind;
  fieldPath: string;
  /** Replaced, never mutated: status() hands these objects out. */
  status: ContainerStatus;
  /** Started at least once (a waiting container that never ran is still being created). */
  launched: boolean;
  /** A pending exit, readiness or restart. */
  timer?: NodeJS.Timeout;
  exitPlan?: { afterMs: number; code: number };
}

interface SimPod {
  uid: string;
  /**
   * What is read of the pod after its start: identity, labels and spec. Not the object given to
   * start(): the agent's informer replaces that with newer versions, and holding on to it kept
   * an outdated copy of every running pod's metadata and status alive.
   */
  pod: Pod;
  /** The pod's IP, which it answers on. */
  ip: string;
  listener: RuntimeListener;
  containers: SimContainer[];
  sandboxReady: boolean;
  /** Being deleted and still running: see Runtime.drain. */
  draining: boolean;
  stopping: boolean;
  stopped: boolean;
  startTimer?: NodeJS.Timeout;
  stopTimer?: NodeJS.Timeout;
  /** When the pending stop completes (ms since epoch) and how the still-running containers end. */
  stopAt?: number;
  stopWaiters: (() => void)[];
}

const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

function parseDurationMs(s: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(s.trim());
  return m ? Number(m[1]) * { ms: 1, s: 1000, m: 60_000 }[m[2] as 'ms' | 's' | 'm'] : undefined;
}

/** `main=2s:1,side=500ms` → per-container exit plans; malformed entries are ignored. */
function exitPlans(pod: Pod): Map<string, { afterMs: number; code: number }> {
  const plans = new Map<string, { afterMs: number; code: number }>();
  const raw = pod.metadata?.annotations?.[SIM_EXIT_ANNOTATION];
  if (!raw) return plans;
  for (const entry of raw.split(',')) {
    const m = /^\s*([^=\s]+)\s*=\s*([^:\s]+)\s*(?::\s*(\d+))?\s*$/.exec(entry);
    const afterMs = m ? parseDurationMs(m[2]!) : undefined;
    if (m && afterMs !== undefined) plans.set(m[1]!, { afterMs, code: m[3] ? Number(m[3]) : 0 });
  }
  return plans;
}

export class SimRuntime implements Runtime {
  readonly name = SIM_RUNTIME_NAME;
  readonly version = SIM_RUNTIME_VERSION;
  private readonly pods = new Map<string, SimPod>();
  private readonly opts: Required<Omit<SimRuntimeOptions, 'answer' | 'services'>>;
  private readonly answerer?: PodAnswerer;

  constructor(opts: SimRuntimeOptions = {}) {
    this.opts = {
      startDelayMs: opts.startDelayMs ?? 250,
      startJitterMs: opts.startJitterMs ?? 500,
      initRunMs: opts.initRunMs ?? 250,
      stopDelayMs: opts.stopDelayMs ?? 0,
      backoffBaseMs: opts.backoffBaseMs ?? 10_000,
      backoffMaxMs: opts.backoffMaxMs ?? 300_000,
    };
    if (opts.answer) this.answerer = new PodAnswerer(opts.services);
  }

  start(pod: Pod, sandbox: Sandbox, listener: RuntimeListener): void {
    const uid = pod.metadata!.uid!;
    if (this.pods.has(uid)) return;
    const plans = exitPlans(pod);
    const inits = pod.spec?.initContainers ?? [];
    const hasInit = inits.length > 0;
    const make = (spec: Container, kind: Kind, fieldPath: string): SimContainer => ({
      spec, kind, fieldPath, launched: false, exitPlan: plans.get(spec.name),
      status: {
        name: spec.name,
        // Before the sandbox exists the kubelet shows PodInitializing for pods with init containers.
        state: { waiting: { reason: hasInit ? 'PodInitializing' : 'ContainerCreating' } },
        lastState: {}, ready: false, restartCount: 0, image: spec.image ?? '', imageID: '', started: false,
      },
    });
    const m = pod.metadata!;
    const p: SimPod = {
      uid, pod: { metadata: { name: m.name, namespace: m.namespace, uid, labels: m.labels }, spec: pod.spec }, ip: sandbox.podIPs[0] ?? '', listener, sandboxReady: false, draining: false, stopping: false, stopped: false, stopWaiters: [],
      containers: [
        ...inits.map((c) => make(c, isSidecar(c) ? 'sidecar' : 'init', `spec.initContainers{${c.name}}`)),
        ...(pod.spec?.containers ?? []).map((c) => make(c, 'regular', `spec.containers{${c.name}}`)),
      ],
    };
    this.pods.set(uid, p);
    if (this.adopt(p, pod.status)) {
      this.syncAnswer(p);
      return;
    }
    const delay = this.opts.startDelayMs + Math.random() * this.opts.startJitterMs;
    if (delay <= 0) {
      // No delay: the pod's first status already shows it running (one status write, as kwok).
      p.sandboxReady = true;
      this.advance(p);
      return;
    }
    p.startTimer = setTimeout(() => {
      p.startTimer = undefined;
      p.sandboxReady = true;
      this.advance(p);
      p.listener.changed();
    }, delay);
  }

  /**
   * An agent restart: the API shows this runtime's containers running (the sim has no state to
   * lose), so carry on with them rather than start new ones.
   */
  private adopt(p: SimPod, status: Pod['status']): boolean {
    if (status?.phase !== 'Running' || !status.podIP) return false;
    const known = new Map<string, ContainerStatus>();
    for (const s of [...(status.initContainerStatuses ?? []), ...(status.containerStatuses ?? [])]) known.set(s.name, s);
    const ours = (s: ContainerStatus | undefined) => !!s?.containerID?.startsWith(`${this.name}://`);
    for (const c of p.containers) {
      const s = known.get(c.spec.name);
      if (!ours(s)) return false;
      if (c.kind === 'init' ? !s!.state?.terminated : !s!.state?.running) return false;
    }
    for (const c of p.containers) {
      c.status = known.get(c.spec.name)!;
      c.launched = true;
    }
    p.sandboxReady = true;
    return true;
  }

  /** Start whatever may start now: the next init container, or the regular containers. */
  private advance(p: SimPod): void {
    this.startContainers(p);
    this.syncAnswer(p);
  }

  private startContainers(p: SimPod): void {
    if (p.stopping || !p.sandboxReady) return;
    for (const c of p.containers) {
      if (c.kind === 'sidecar') {
        if (!c.launched) this.run(p, c);
        continue; // the next init container starts once a sidecar has started
      }
      if (c.kind === 'init') {
        const t = c.status.state?.terminated;
        if (t && t.exitCode === 0) continue;
        if (!c.launched) this.run(p, c);
        return; // running, failed or backing off: nothing after it starts yet
      }
      if (!c.launched) this.run(p, c);
    }
  }

  private run(p: SimPod, c: SimContainer): void {
    const name = c.spec.name;
    const image = c.spec.image ?? '';
    const ev = p.listener;
    ev.event('Normal', 'Pulled', `Container image "${image}" already present on machine`, c.fieldPath);
    ev.event('Normal', 'Created', `Created container: ${name}`, c.fieldPath);
    ev.event('Normal', 'Started', `Started container ${name}`, c.fieldPath);
    const restartCount = c.launched ? c.status.restartCount + 1 : c.status.restartCount;
    c.launched = true;
    const probe = c.spec.readinessProbe;
    // Regular init containers are never ready while they run; without a readiness probe the
    // others are ready at once; with one, after its initial delay (the simulated probe succeeds).
    const readyNow = c.kind !== 'init' && !probe;
    c.status = {
      name,
      state: { running: { startedAt: now() } },
      lastState: c.status.lastState ?? {},
      ready: readyNow,
      restartCount,
      image: normalizeImage(image),
      imageID: imageIdOf(image),
      containerID: `${this.name}://${newContainerId()}`,
      started: true,
    };
    if (c.exitPlan || c.kind === 'init') {
      const plan = c.exitPlan ?? { afterMs: this.opts.initRunMs, code: 0 };
      c.timer = setTimeout(() => {
        c.timer = undefined;
        this.exit(p, c, plan.code);
      }, plan.afterMs);
    } else if (probe) {
      c.timer = setTimeout(() => {
        c.timer = undefined;
        if (!c.status.state?.running) return;
        c.status = { ...c.status, ready: true };
        p.listener.changed();
      }, (probe.initialDelaySeconds ?? 0) * 1000);
    }
  }

  private terminatedState(c: SimContainer, exitCode: number, reason: string, message?: string): ContainerState {
    const startedAt = c.status.state?.running?.startedAt;
    return {
      terminated: {
        exitCode, reason, ...(message ? { message } : {}),
        ...(startedAt ? { startedAt } : {}),
        finishedAt: now(),
        ...(c.status.containerID ? { containerID: c.status.containerID } : {}),
      },
    };
  }

  /** A container exited by itself: record it, then restart it or move on, as the restart policy says. */
  private exit(p: SimPod, c: SimContainer, code: number): void {
    if (p.stopping) return;
    const state = this.terminatedState(c, code, code === 0 ? 'Completed' : 'Error');
    // Init containers that completed count as ready (the kubelet reports them so).
    c.status = { ...c.status, state, ready: c.kind === 'init' && code === 0, started: false };
    const policy = p.pod.spec?.restartPolicy ?? 'Always';
    const restart = c.kind === 'sidecar' ? true
      : c.kind === 'init' ? code !== 0 && policy !== 'Never'
        : policy === 'Always' || (policy === 'OnFailure' && code !== 0);
    if (restart) this.restartLater(p, c, state);
    else if (c.kind === 'init' && code === 0) this.advance(p);
    this.syncAnswer(p);
    p.listener.changed();
  }

  /** The kubelet restarts at once the first time, then backs off 10 s, 20 s, 40 s... up to 5 minutes. */
  private restartLater(p: SimPod, c: SimContainer, terminated: ContainerState): void {
    const n = c.status.restartCount;
    const delay = n === 0 ? 0 : Math.min(this.opts.backoffMaxMs, this.opts.backoffBaseMs * 2 ** (n - 1));
    c.status = { ...c.status, lastState: terminated };
    if (delay === 0) {
      this.run(p, c);
      return;
    }
    const podRef = `${p.pod.metadata?.name}_${p.pod.metadata?.namespace}(${p.uid})`;
    c.status = {
      ...c.status, ready: false, started: false,
      state: { waiting: { reason: 'CrashLoopBackOff', message: `back-off ${Math.round(delay / 1000)}s restarting failed container=${c.spec.name} pod=${podRef}` } },
    };
    p.listener.event('Warning', 'BackOff', `Back-off restarting failed container ${c.spec.name} in pod ${podRef}`, c.fieldPath);
    c.timer = setTimeout(() => {
      c.timer = undefined;
      if (!p.stopping) {
        this.run(p, c);
        this.syncAnswer(p);
        p.listener.changed();
      }
    }, delay);
  }

  /** HTTP answers of a pod being deleted carry `Connection: close` (src/node/runtimes/sim-answer.ts). */
  drain(uid: string): void {
    const p = this.pods.get(uid);
    if (!p || p.draining) return;
    p.draining = true;
    this.answerer?.drain(uid);
  }

  stop(uid: string, graceSeconds: number): Promise<void> {
    const p = this.pods.get(uid);
    if (!p || p.stopped) return Promise.resolve();
    const graceMs = Math.max(0, graceSeconds) * 1000;
    // Nothing running (still being created, or finished) stops at once.
    const running = p.containers.some((c) => c.status.state?.running);
    const at = Date.now() + (running ? Math.min(this.opts.stopDelayMs, graceMs) : 0);
    const done = new Promise<void>((resolve) => p.stopWaiters.push(resolve));
    if (!p.stopping) {
      p.stopping = true;
      if (p.startTimer) clearTimeout(p.startTimer);
      for (const c of p.containers) {
        if (c.timer) clearTimeout(c.timer);
        c.timer = undefined;
        if (c.status.state?.running) p.listener.event('Normal', 'Killing', `Stopping container ${c.spec.name}`, c.fieldPath);
      }
    }
    // A second stop may only bring the end forward (a shorter grace period), as the kubelet does.
    if (p.stopAt === undefined || at < p.stopAt) {
      p.stopAt = at;
      const killed = running && this.opts.stopDelayMs > graceMs;
      if (p.stopTimer) clearTimeout(p.stopTimer);
      p.stopTimer = setTimeout(() => this.finishStop(p, killed), at - Date.now());
    }
    return done;
  }

  private finishStop(p: SimPod, killed: boolean): void {
    p.stopTimer = undefined;
    for (const c of p.containers) {
      const s = c.status.state;
      if (s?.running) {
        // Containers that ignored the stop request until the grace period ran out are killed.
        c.status = { ...c.status, state: killed ? this.terminatedState(c, 137, 'Error') : this.terminatedState(c, 0, 'Completed'), ready: false, started: false };
      } else if (s?.waiting) {
        const last = c.status.lastState?.terminated;
        c.status = last
          ? { ...c.status, state: { terminated: last }, lastState: {}, ready: false, started: false }
          : { ...c.status, state: this.terminatedState(c, 137, 'ContainerStatusUnknown', 'The container could not be located when the pod was terminated'), ready: false, started: false };
      }
    }
    p.sandboxReady = false;
    p.stopped = true;
    this.syncAnswer(p);
    for (const w of p.stopWaiters.splice(0)) w();
    p.listener.changed();
  }

  status(uid: string): RuntimePodStatus | undefined {
    const p = this.pods.get(uid);
    if (!p) return undefined;
    const init: ContainerStatus[] = [];
    const regular: ContainerStatus[] = [];
    for (const c of p.containers) (c.kind === 'regular' ? regular : init).push(c.status);
    return { sandboxReady: p.sandboxReady, stopped: p.stopped, initContainerStatuses: init, containerStatuses: regular };
  }

  remove(uid: string): void {
    const p = this.pods.get(uid);
    if (!p) return;
    this.clearTimers(p);
    this.answerer?.close(uid);
    for (const w of p.stopWaiters.splice(0)) w();
    this.pods.delete(uid);
  }

  close(): void {
    for (const p of this.pods.values()) {
      this.clearTimers(p);
      for (const w of p.stopWaiters.splice(0)) w();
    }
    this.pods.clear();
    this.answerer?.closeAll();
  }

  /**
   * A pod answers while one of its regular containers runs (a crash-looping pod stops answering
   * while it backs off); a stopping pod keeps answering until its containers have stopped.
   */
  private syncAnswer(p: SimPod): void {
    if (!this.answerer) return;
    const running = !p.stopped && p.sandboxReady && p.containers.some((c) => c.kind === 'regular' && c.status.state?.running);
    if (running) {
      this.answerer.open(p.pod, p.ip);
      if (p.draining) this.answerer.drain(p.uid);
    } else this.answerer.close(p.uid);
  }

  private clearTimers(p: SimPod): void {
    if (p.startTimer) clearTimeout(p.startTimer);
    if (p.stopTimer) clearTimeout(p.stopTimer);
    for (const c of p.containers) if (c.timer) clearTimeout(c.timer);
  }
}
