// The nodes group of `kubelite up`: one node agent (kubelet) per simulated node, sharing one client,
// informers and kubelet server. Loaded only where the group runs (components.ts).
import { controllerContext } from '../../client/factory.js';
import { BOUND_PODS, NodeAgent } from '../../node/agent.js';
import { KubeletServer } from '../../node/kubelet-server.js';
import { PROCESS_RUNTIME_HANDLER, ProcessRuntime } from '../../node/runtimes/process.js';
import type { Runtime } from '../../node/runtime.js';
import type { KObject } from '../../api/types.js';
import type { Pod, Service } from 'kubernetes-types/core/v1.js';
import type { RuntimeClass } from 'kubernetes-types/node/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import type { GroupEnv } from '../components.js';

export async function start({ o, newClient, run, onStop }: GroupEnv): Promise<void> {
  const nodeClient = newClient('kubelet');
  const ctx = controllerContext(nodeClient);
  // One pod informer for every simulated node: a watch per node costs the server far more.
  // It keeps bound pods only (the agents' concern), skipping the others' events unparsed.
  const sharedPods = ctx.informers.selectedInformer<Pod & KObject>('pods', 'bound', BOUND_PODS);
  const sharedServices = ctx.informers.informer<Service & KObject>('services');
  const sharedRuntimeClasses = ctx.informers.informer<RuntimeClass & KObject>('runtimeclasses');
  // Deleted pods serve until the slices show them terminating (src/node/agent.ts): one watch for all.
  const sharedEndpointSlices = ctx.informers.informer<EndpointSlice & KObject>('endpointslices');
  // One endpoint (port) for the logs of every node of this process.
  const kubeletServer = new KubeletServer({ host: '127.0.0.1', token: o.token });
  await kubeletServer.listen();
  const handlers = o.runtimes ?? [PROCESS_RUNTIME_HANDLER];
  for (const h of handlers) if (h !== PROCESS_RUNTIME_HANDLER) throw new Error(`unknown runtime handler "${h}" (known: ${PROCESS_RUNTIME_HANDLER})`);
  // The agents start side by side: each start is mostly waiting for the API (registering its
  // Node, syncing, its first status and Lease), one after the other ~80 ms per node.
  await Promise.all(o.nodes.map((nodeName) => {
    const runtimes: Record<string, Runtime> = {};
    if (handlers.includes(PROCESS_RUNTIME_HANDLER)) runtimes[PROCESS_RUNTIME_HANDLER] = new ProcessRuntime();
    return run(new NodeAgent({
      nodeName, client: nodeClient, sharedPods, sharedRuntimeClasses, sharedEndpointSlices, kubeletServer, runtimes,
      capacity: { pods: String(o.nodePods) },
      sim: { startDelayMs: o.podStartDelayMs, startJitterMs: o.podStartJitterMs, answer: o.simAnswer ?? true, services: sharedServices },
    }), 4);
  }));
  onStop(() => ctx.informers.stop(), () => kubeletServer.close());
  o.log.info({ component: 'nodes', nodes: o.nodes }, 'node agents running');
}
