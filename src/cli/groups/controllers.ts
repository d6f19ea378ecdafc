// The controllers group of `kubelite up` (kube-controller-manager's part): one informer factory,
// each controller with upstream's worker count. Loaded only where the group runs (components.ts).
import { controllerContext } from '../../client/factory.js';
import { DeploymentController } from '../../controllers/deployment.js';
import { ReplicaSetController } from '../../controllers/replicaset.js';
import { GarbageCollector } from '../../controllers/garbagecollector.js';
import { NamespaceController } from '../../controllers/namespace.js';
import { NodeIPAMController } from '../../controllers/nodeipam.js';
import { NodeLifecycleController } from '../../controllers/nodelifecycle.js';
import { TaintEvictionController } from '../../controllers/tainteviction.js';
import { PodGCController } from '../../controllers/podgc.js';
import { EndpointsController, ENDPOINTS_CONTROLLER_WORKERS } from '../../controllers/endpoints.js';
import { EndpointSliceController } from '../../controllers/endpointslice.js';
import { EndpointSliceMirroringController } from '../../controllers/endpointslice-mirroring.js';
import type { GroupEnv } from '../components.js';

export async function start({ o, newClient, run, onStop }: GroupEnv): Promise<void> {
  const ctx = controllerContext(newClient('kube-controller-manager'));
  const on = (name: string) => !o.controllers || o.controllers.has(name);
  if (on('node-ipam-controller')) await run(new NodeIPAMController(ctx, { clusterCIDR: o.clusterCIDR, nodeCIDRMaskSize: o.nodeCIDRMaskSize }), 1);
  if (on('deployment-controller')) await run(new DeploymentController(ctx), 5);
  if (on('replicaset-controller')) await run(new ReplicaSetController(ctx), 5);
  // Upstream's worker counts (--concurrent-endpoint-syncs, --concurrent-service-endpoint-syncs, mirroring).
  if (on('endpoints-controller')) await run(new EndpointsController(ctx), ENDPOINTS_CONTROLLER_WORKERS);
  if (on('endpointslice-controller')) await run(new EndpointSliceController(ctx), 5);
  if (on('endpointslice-mirroring-controller')) await run(new EndpointSliceMirroringController(ctx), 5);
  if (on('garbage-collector-controller')) await run(new GarbageCollector(ctx), 20);
  if (on('namespace-controller')) await run(new NamespaceController(ctx), 10);
  if (on('node-lifecycle-controller')) await run(new NodeLifecycleController(ctx, { nodeMonitorGracePeriodMs: o.nodeMonitorGracePeriodMs }), 2);
  if (on('taint-eviction-controller')) await run(new TaintEvictionController(ctx), 2);
  if (on('pod-garbage-collector-controller')) await run(new PodGCController(ctx), 1);
  onStop(() => ctx.informers.stop());
  o.log.info({ component: 'controllers' }, 'controllers running');
}
