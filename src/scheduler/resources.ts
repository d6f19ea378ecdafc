// What a pod asks of a node, as the scheduler counts it (upstream's resourcehelper.PodRequests and
// the scheduler's NodeInfo accounting): requests summed over containers, init containers taken at
// their peak, sidecars added, overhead on top; a "non-zero" variant where a container without a
// cpu or memory request counts 100m / 200Mi (used only for scoring); and host ports.
import type { Container, Pod, ResourceRequirements } from 'kubernetes-types/core/v1.js';
import { parseQuantity } from '../api/validation/quantity.js';

/** Upstream's schedutil.DefaultMilliCPURequest and DefaultMemoryRequest. */
export const DEFAULT_MILLI_CPU_REQUEST = 100;
export const DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024;

export interface Resources {
  milliCPU: number;
  memory: number;
  ephemeralStorage: number;
  /** Extended resources, hugepages, ...: name → integer value. */
  scalars?: Map<string, number>;
}

export function emptyResources(): Resources {
  return { milliCPU: 0, memory: 0, ephemeralStorage: 0 };
}

const VALUES_MAX = 4096;
const values = new Map<string, number>();
const milliValues = new Map<string, number>();

/** A quantity as an integer, rounded up (Quantity.Value, or MilliValue with `milli`); 0 if unparsable. */
export function quantityValue(q: string | number | undefined, milli = false): number {
  if (q === undefined) return 0;
  // Every pod of a workload repeats the same few quantities: remember them (the BigInt arithmetic is slow).
  const memo = milli ? milliValues : values;
  const key = typeof q === 'number' ? `#${q}` : q;
  let v = memo.get(key);
  if (v === undefined) {
    v = computeQuantityValue(q, milli);
    if (memo.size >= VALUES_MAX) memo.clear();
    memo.set(key, v);
  }
  return v;
}

function computeQuantityValue(q: string | number, milli: boolean): number {
  const parsed = parseQuantity(q);
  if ('error' in parsed) return 0;
  let { mantissa, scale } = parsed;
  if (milli) scale += 3;
  if (scale >= 0) return Number(mantissa * 10n ** BigInt(scale));
  const div = 10n ** BigInt(-scale);
  const quotient = mantissa / div;
  return Number(mantissa % div === 0n || mantissa < 0n ? quotient : quotient + 1n);
}

/** Upstream's IsScalarResourceName: extended resources, hugepages-*, attachable-volumes-*, requests.* quota names. */
export function isScalarResourceName(name: string): boolean {
  if (name.startsWith('hugepages-') || name.startsWith('attachable-volumes-') || name.startsWith('requests.')) return true;
  const slash = name.indexOf('/');
  return slash > 0 && !name.startsWith('kubernetes.io/');
}

/** Add a resource list (cpu, memory, ephemeral-storage, scalars; `pods` is not a request). */
export function addResourceList(r: Resources, list: Record<string, string | number> | undefined): void {
  if (!list) return;
  for (const name in list) {
    const q = list[name];
    switch (name) {
      case 'cpu': r.milliCPU += quantityValue(q, true); break;
      case 'memory': r.memory += quantityValue(q); break;
      case 'ephemeral-storage': r.ephemeralStorage += quantityValue(q); break;
      case 'pods': break;
      default:
        if (isScalarResourceName(name)) {
          r.scalars ??= new Map();
          r.scalars.set(name, (r.scalars.get(name) ?? 0) + quantityValue(q));
        }
    }
  }
}

function addResources(into: Resources, r: Resources): void {
  into.milliCPU += r.milliCPU;
  into.memory += r.memory;
  into.ephemeralStorage += r.ephemeralStorage;
  if (r.scalars) for (const [k, v] of r.scalars) (into.scalars ??= new Map()).set(k, (into.scalars.get(k) ?? 0) + v);
}

function maxResources(into: Resources, r: Resources): void {
  into.milliCPU = Math.max(into.milliCPU, r.milliCPU);
  into.memory = Math.max(into.memory, r.memory);
  into.ephemeralStorage = Math.max(into.ephemeralStorage, r.ephemeralStorage);
  if (r.scalars) for (const [k, v] of r.scalars) (into.scalars ??= new Map()).set(k, Math.max(into.scalars.get(k) ?? 0, v));
}

function containerRequests(c: Container, nonZero: boolean): Resources {
  const r = emptyResources();
  const requests = (c.resources as ResourceRequirements | undefined)?.requests as Record<string, string> | undefined;
  addResourceList(r, requests);
  if (nonZero) {
    if (!requests || !('cpu' in requests)) r.milliCPU = DEFAULT_MILLI_CPU_REQUEST;
    if (!requests || !('memory' in requests)) r.memory = DEFAULT_MEMORY_REQUEST;
  }
  return r;
}

/**
 * The pod's effective requests: regular containers and sidecars (restartable init containers) run
 * together; each ordinary init container runs alone next to the sidecars started before it; the
 * pod needs the larger of the two, plus its overhead.
 */
export function podRequests(pod: Pod, nonZero = false): Resources {
  const spec = pod.spec;
  const reqs = emptyResources();
  if (!spec) return reqs;
  for (const c of spec.containers ?? []) addResources(reqs, containerRequests(c, nonZero));
  const sidecars = emptyResources();
  const initPeak = emptyResources();
  for (const c of spec.initContainers ?? []) {
    const r = containerRequests(c, nonZero);
    if (c.restartPolicy === 'Always') {
      addResources(reqs, r);
      addResources(sidecars, r);
      maxResources(initPeak, sidecars);
    } else {
      addResources(r, sidecars);
      maxResources(initPeak, r);
    }
  }
  maxResources(reqs, initPeak);
  addResourceList(reqs, spec.overhead as Record<string, string> | undefined);
  return reqs;
}

export interface HostPort {
  hostIP: string;
  protocol: string;
  port: number;
}

/** The host ports the pod's containers claim (hostPort > 0), with upstream's defaults. */
export function podHostPorts(pod: Pod): HostPort[] {
  const out: HostPort[] = [];
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c.ports ?? []) {
      const port = p.hostPort ?? (pod.spec?.hostNetwork ? p.containerPort : 0);
      if (port > 0) out.push({ hostIP: p.hostIP || '0.0.0.0', protocol: p.protocol || 'TCP', port });
    }
  }
  return out;
}

/**
 * Host ports in use on one node (upstream's HostPortInfo), counted so that removing one of two
 * claims (an assumed pod and its confirmed copy are never both counted, but be safe) is exact.
 */
export class HostPortUsage {
  private readonly byIP = new Map<string, Map<string, number>>();

  add(p: HostPort, delta: 1 | -1): void {
    const key = `${p.protocol}/${p.port}`;
    let ports = this.byIP.get(p.hostIP);
    if (!ports) this.byIP.set(p.hostIP, (ports = new Map()));
    const n = (ports.get(key) ?? 0) + delta;
    if (n > 0) ports.set(key, n);
    else ports.delete(key);
    if (ports.size === 0) this.byIP.delete(p.hostIP);
  }

  get empty(): boolean {
    return this.byIP.size === 0;
  }

  /** 0.0.0.0 conflicts with every address; any other address with itself and 0.0.0.0. */
  conflicts(p: HostPort): boolean {
    const key = `${p.protocol}/${p.port}`;
    if (p.hostIP === '0.0.0.0') {
      for (const ports of this.byIP.values()) if (ports.has(key)) return true;
      return false;
    }
    return !!(this.byIP.get(p.hostIP)?.has(key) || this.byIP.get('0.0.0.0')?.has(key));
  }
}
