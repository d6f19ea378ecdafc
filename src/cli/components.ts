// The cluster's components as `kubelite up` runs them in one process: controllers, scheduler and
// one node agent per node. Each is an API client (HTTPS to the API server, like any other
// client); groups get their own connection pools and shared informers so that pod-status
// traffic of many nodes does not delay controllers, or the other way round.
import { RestClient } from '../client/rest.js';
import { controllerContext } from '../client/factory.js';
import { startController, type Reconciler } from '../client/controller.js';
import { DeploymentController } from '../controllers/deployment.js';
import { ReplicaSetController } from '../controllers/replicaset.js';
import { GarbageCollector } from '../controllers/garbagecollector.js';
import { NamespaceController } from '../controllers/namespace.js';
import { NodeIPAMController } from '../controllers/nodeipam.js';
import { NodeLifecycleController } from '../controllers/nodelifecycle.js';
import { TaintEvictionController } from '../controllers/tainteviction.js';
import { PodGCController } from '../controllers/podgc.js';
import { EndpointsController, ENDPOINTS_CONTROLLER_WORKERS } from '../controllers/endpoints.js';
import { EndpointSliceController } from '../controllers/endpointslice.js';
import { EndpointSliceMirroringController } from '../controllers/endpointslice-mirroring.js';
import { Scheduler } from '../scheduler/scheduler.js';
import { NodeAgent } from '../node/agent.js';
import { UserspaceProxy } from '../proxy/userspace.js';
import type { BalanceMode } from '../proxy/balancer.js';
import { KubeletServer } from '../node/kubelet-server.js';
import { PROCESS_RUNTIME_HANDLER, ProcessRuntime } from '../node/runtimes/process.js';
import type { Runtime } from '../node/runtime.js';
import type { Logger } from '../util/log.js';
import type { Component } from './components-list.js';
import type { Pod, Service } from 'kubernetes-types/core/v1.js';
import type { KObject } from '../api/types.js';
import type { RuntimeClass } from 'kubernetes-types/node/v1.js';


export interface ComponentOptions {
  server: string;
  caPem: string;
  token: string;
  enabled: Set<Component>;
  nodes: string[];
  clusterCIDR: string;
  nodeCIDRMaskSize: number;
  /** Pods a simulated node takes (its pods capacity). */
  nodePods: number;
  /** Simulated container start time (ms) and its random extra. */
  podStartDelayMs: number;
  podStartJitterMs: number;
  /** How long a node may miss heartbeats before it is NotReady (upstream node-monitor-grace-period). */
  nodeMonitorGracePeriodMs: number;
  /**
   * RuntimeClass handlers the node agents offer besides the simulated default (default
   * ['process']: RuntimeClass handler `process` runs containers as host processes).
   */
  runtimes?: string[];
  /** Simulated pods answer traffic on their ports (default true; off for very many pods: a socket each). */
  simAnswer?: boolean;
  /** How the proxy picks an endpoint for a new connection (default round-robin). */
  balance?: BalanceMode;
  log: Logger;
}

export interface RunningComponents {
  stop(): Promise<void>;
}

/**
 * Each group has its own connection pool. The User-Agent names the upstream component it plays:
 * the server derives field managers from it (`kube-controller-manager`, `kube-scheduler`, `kubelet`).
 */
function client(o: ComponentOptions, component: string): RestClient {
  return new RestClient({ server: o.server, caPem: o.caPem, token: o.token, userAgent: `${component}/v1.32.4 (linux/amd64) kubelite/0.1.0` });
}

export async function startComponents(o: ComponentOptions): Promise<RunningComponents> {
  const stops: (() => void | Promise<void>)[] = [];
  const clients: RestClient[] = [];
  const newClient = (name: string) => {
    const c = client(o, name);
    clients.push(c);
    return c;
  };
  const run = async (r: Reconciler, workers: number) => {
    const c = await startController(r, workers);
    stops.push(() => c.stop());
  };

  if (o.enabled.has('controllers')) {
    const ctx = controllerContext(newClient('kube-controller-manager'));
    await run(new NodeIPAMController(ctx, { clusterCIDR: o.clusterCIDR, nodeCIDRMaskSize: o.nodeCIDRMaskSize }), 1);
    await run(new DeploymentController(ctx), 5);
    await run(new ReplicaSetController(ctx), 5);
    // Upstream's worker counts (--concurrent-endpoint-syncs, --concurrent-service-endpoint-syncs, mirroring).
    await run(new EndpointsController(ctx), ENDPOINTS_CONTROLLER_WORKERS);
    await run(new EndpointSliceController(ctx), 5);
    await run(new EndpointSliceMirroringController(ctx), 5);
    await run(new GarbageCollector(ctx), 20);
    await run(new NamespaceController(ctx), 10);
    await run(new NodeLifecycleController(ctx, { nodeMonitorGracePeriodMs: o.nodeMonitorGracePeriodMs }), 2);
    await run(new TaintEvictionController(ctx), 2);
    await run(new PodGCController(ctx), 1);
    stops.push(() => ctx.informers.stop());
    o.log.info({ component: 'controllers' }, 'controllers running');
  }
  if (o.enabled.has('scheduler')) {
    const ctx = controllerContext(newClient('kube-scheduler'));
    const scheduler = new Scheduler(ctx);
    await scheduler.start();
    stops.push(() => scheduler.stop(), () => ctx.informers.stop());
    o.log.info({ component: 'scheduler' }, 'scheduler running');
  }
  if (o.enabled.has('nodes') && o.nodes.length) {
    const nodeClient = newClient('kubelet');
    const ctx = controllerContext(nodeClient);
    // One pod informer for every simulated node: a watch per node costs the server far more.
    const sharedPods = ctx.informers.informer<Pod & KObject>('pods');
    const sharedServices = ctx.informers.informer<Service & KObject>('services');
    const sharedRuntimeClasses = ctx.informers.informer<RuntimeClass & KObject>('runtimeclasses');
    // One endpoint (port) for the logs of every node of this process.
    const kubeletServer = new KubeletServer({ host: '127.0.0.1', token: o.token });
    await kubeletServer.listen();
    const handlers = o.runtimes ?? [PROCESS_RUNTIME_HANDLER];
    for (const h of handlers) if (h !== PROCESS_RUNTIME_HANDLER) throw new Error(`unknown runtime handler "${h}" (known: ${PROCESS_RUNTIME_HANDLER})`);
    for (const nodeName of o.nodes) {
      const runtimes: Record<string, Runtime> = {};
      if (handlers.includes(PROCESS_RUNTIME_HANDLER)) runtimes[PROCESS_RUNTIME_HANDLER] = new ProcessRuntime();
      await run(new NodeAgent({
        nodeName, client: nodeClient, sharedPods, sharedRuntimeClasses, kubeletServer, runtimes,
        capacity: { pods: String(o.nodePods) },
        sim: { startDelayMs: o.podStartDelayMs, startJitterMs: o.podStartJitterMs, answer: o.simAnswer ?? true, services: sharedServices },
      }), 4);
    }
    stops.push(() => ctx.informers.stop(), () => kubeletServer.close());
    o.log.info({ component: 'nodes', nodes: o.nodes }, 'node agents running');
  }

  if (o.enabled.has('proxy')) {
    const ctx = controllerContext(newClient('kube-proxy'));
    const proxy = new UserspaceProxy(ctx, { mode: o.balance ?? 'round-robin', log: o.log.child({ component: 'proxy' }) });
    await proxy.start();
    stops.push(() => proxy.stop(), () => ctx.informers.stop());
    o.log.info({ component: 'proxy', balance: o.balance ?? 'round-robin' }, 'service proxy running');
  }

  return {
    async stop() {
      for (const s of stops.reverse()) await s();
      for (const c of clients) c.close();
    },
  };
}
