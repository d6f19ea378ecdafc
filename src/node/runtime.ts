// The container runtime seen from the node agent, after the kubelet's split between the pod
// lifecycle (the agent: admission, IPs, API status, deletion) and the runtime that runs a pod's
// containers. A runtime owns everything inside the pod sandbox: init containers in order,
// restarts by restart policy with back-off, stopping with a grace period. It reports container
// states as v1 ContainerStatus objects; the agent turns them into the pod's phase and conditions.
//
// Runtimes: `sim` (src/node/runtimes/sim.ts, nothing is executed, as kwok) and `process`
// (src/node/runtimes/process.ts, each container a host process), chosen per pod by RuntimeClass.
import type { Container, ContainerStatus, Pod } from 'kubernetes-types/core/v1.js';
import { createHash, randomBytes } from 'node:crypto';
import type { Writable } from 'node:stream';

/** What the agent gives a pod's sandbox: its network identity. */
export interface Sandbox {
  /** The pod's IPs (from the node's podCIDR, or the host's for hostNetwork pods). */
  podIPs: string[];
  hostIP: string;
}

/** A runtime's view of one pod. */
export interface RuntimePodStatus {
  /** The sandbox exists and its network is set up (the PodReadyToStartContainers condition). */
  sandboxReady: boolean;
  /** Every container has stopped after stop() (or the pod finished): nothing runs any more. */
  stopped: boolean;
  /** In spec order. */
  initContainerStatuses: ContainerStatus[];
  /** In spec order (the agent sorts them as the kubelet does). */
  containerStatuses: ContainerStatus[];
}

/** How a runtime talks back to the agent about one pod. */
export interface RuntimeListener {
  /** The pod's runtime status changed: the agent reads status() again and updates the API. */
  changed(): void;
  /** A kubelet event about the pod (`Pulled`, `Created`, `Started`, `Killing`, `BackOff`...). */
  event(type: 'Normal' | 'Warning', reason: string, message: string, fieldPath?: string): void;
}

export interface Runtime {
  /** The runtime's name: the scheme of container IDs (`kubelite-sim://…`). */
  readonly name: string;
  readonly version: string;
  /**
   * Create the pod's sandbox and run its containers: init containers one after the other, then
   * the regular containers; restart them as the pod's restart policy says. Called once per pod
   * UID. A pod whose status shows containers this runtime already runs (an agent restart) may be
   * adopted as it is.
   */
  start(pod: Pod, sandbox: Sandbox, listener: RuntimeListener): void;
  /**
   * The pod is being deleted but goes on running until no service proxy sends it new
   * connections (the agent calls stop() then). A runtime that can tells the pod's clients to
   * reconnect elsewhere meanwhile (the simulated one answers HTTP with `Connection: close`);
   * the others leave it out: their processes learn of the deletion from SIGTERM.
   */
  drain?(uid: string): void;
  /**
   * Stop every container of the pod: ask them to stop, wait up to `graceSeconds`, then kill what
   * is left. Resolves once nothing runs; status() then shows every container terminated.
   */
  stop(uid: string, graceSeconds: number): Promise<void>;
  /** The pod's current status, or undefined for a pod this runtime does not know. */
  status(uid: string): RuntimePodStatus | undefined;
  /** Forget a pod (its object is gone from the API). Stops it first if it still runs. */
  remove(uid: string): void;
  /** Stop all timers and forget every pod (the agent is shutting down; nothing is reported). */
  close(): void;
  /**
   * Write the log of one container instance (by the container ID its status shows) to `out`, as
   * the kubelet's containerLogs endpoint serves it; with `follow`, until the instance stops or
   * `signal` aborts. Rejects with the message for the client when there is no such log.
   * Runtimes that run nothing leave it out: their containers have empty logs.
   */
  logs?(uid: string, containerID: string, opts: ContainerLogOptions, out: Writable, signal: AbortSignal): Promise<void>;
}

/** PodLogOptions as the kubelet hands them to the runtime. */
export interface ContainerLogOptions {
  follow: boolean;
  tailLines?: number;
  /** Entries at or after this time (epoch ms); sinceSeconds is turned into this. */
  sinceMs?: number;
  timestamps: boolean;
  limitBytes?: number;
}

/** Init containers with `restartPolicy: Always` run beside the regular containers (sidecars). */
export function isSidecar(c: Container): boolean {
  return c.restartPolicy === 'Always';
}

/**
 * The image reference as container runtimes report it in `status.image`: Docker Hub names are
 * fully qualified (`nginx` → `docker.io/library/nginx:latest`), as containerd does.
 */
export function normalizeImage(image: string): string {
  let name = image;
  let digest = '';
  const at = name.indexOf('@');
  if (at >= 0) {
    digest = name.slice(at);
    name = name.slice(0, at);
  }
  const slash = name.indexOf('/');
  const first = slash < 0 ? '' : name.slice(0, slash);
  const hasDomain = first !== '' && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (!hasDomain) name = `docker.io/${slash < 0 ? `library/${name}` : name}`;
  // A tag is a ':' after the last '/'.
  const tagged = name.lastIndexOf(':') > name.lastIndexOf('/');
  if (!tagged && !digest) name += ':latest';
  return name + digest;
}

const imageIds = new Map<string, string>();

/** A stable content-addressed image ID for a simulated or local image: `repo@sha256:…`. */
export function imageIdOf(image: string): string {
  let id = imageIds.get(image);
  if (id !== undefined) return id;
  const normalized = normalizeImage(image);
  const at = normalized.indexOf('@');
  id = at >= 0 ? normalized : `${normalized.slice(0, normalized.lastIndexOf(':'))}@sha256:${createHash('sha256').update(normalized).digest('hex')}`;
  // A cluster runs few distinct images; the bound only guards against unbounded growth.
  if (imageIds.size >= 4096) imageIds.clear();
  imageIds.set(image, id);
  return id;
}

let idPool = Buffer.alloc(0);
let idOffset = 0;

/** A random 64-hex-digit container ID, as CRI runtimes make them (random bytes drawn in batches). */
export function newContainerId(): string {
  if (idOffset + 32 > idPool.length) {
    idPool = randomBytes(32 * 256);
    idOffset = 0;
  }
  idOffset += 32;
  return idPool.toString('hex', idOffset - 32, idOffset);
}
