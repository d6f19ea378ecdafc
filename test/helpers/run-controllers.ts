// Running kubelite's controllers inside a test process against a real server (startCluster),
// plus the small API helpers controller tests share (waiting is in wait.ts).
import { RestClient } from '../../src/client/rest.js';
import { controllerContext, type ControllerContext } from '../../src/client/factory.js';
import { startController, type Reconciler } from '../../src/client/controller.js';
import type { Cluster } from './cluster.js';

export interface RunningControllers {
  client: RestClient;
  ctx: ControllerContext;
  stop(): void;
}

/** Start the reconcilers `make` builds on one shared informer factory; stop() ends them all. */
export async function runControllers(c: Cluster, make: (ctx: ControllerContext) => Reconciler[], opts: { client?: RestClient; workers?: number } = {}): Promise<RunningControllers> {
  const client = opts.client ?? await RestClient.fromKubeconfig(c.kubeconfig, 'kubelite-controller-test');
  const ctx = controllerContext(client);
  const running: { stop(): void }[] = [];
  for (const r of make(ctx)) running.push(await startController(r, opts.workers ?? 2));
  return {
    client, ctx,
    stop() {
      for (const r of running) r.stop();
      ctx.informers.stop();
      client.close();
    },
  };
}

/** GET a JSON path with the admin token; undefined on 404. */
export async function getJSON(c: Cluster, path: string): Promise<any> {
  const r = await c.request('GET', path);
  if (r.status === 404) return undefined;
  if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${r.body}`);
  return r.json();
}

/** A request that must succeed (2xx); returns the parsed body. */
export async function call(c: Cluster, method: string, path: string, body?: unknown, contentType?: string): Promise<any> {
  const r = await c.request(method, path, body, contentType ? { headers: { 'Content-Type': contentType } } : {});
  if (r.status < 200 || r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.body}`);
  return r.body ? r.json() : undefined;
}

/** Bind a pod to a node (as a scheduler would). */
export function bindPod(c: Cluster, ns: string, name: string, node: string): Promise<unknown> {
  return call(c, 'POST', `/api/v1/namespaces/${ns}/pods/${name}/binding`, { apiVersion: 'v1', kind: 'Binding', metadata: { name }, target: { kind: 'Node', name: node } });
}

/** Set a pod's phase and Ready condition through the status subresource (as a node agent would). */
export function setPodStatus(c: Cluster, ns: string, name: string, phase: string, ready: boolean, readySince = new Date()): Promise<unknown> {
  const t = readySince.toISOString().replace(/\.\d{3}Z$/, 'Z');
  return call(c, 'PATCH', `/api/v1/namespaces/${ns}/pods/${name}/status`, {
    status: { phase, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastProbeTime: null, lastTransitionTime: t }] },
  }, 'application/merge-patch+json');
}

/** Pods of a namespace (optionally by label selector), sorted by name. */
export async function listPods(c: Cluster, ns: string, selector?: string): Promise<any[]> {
  const q = selector ? `?labelSelector=${encodeURIComponent(selector)}` : '';
  const list = await getJSON(c, `/api/v1/namespaces/${ns}/pods${q}`);
  return (list.items as any[]).sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
}
