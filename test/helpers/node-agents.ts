// The set-up of the node agent tests: a real API server, and in the test process the node IPAM
// controller (it gives nodes their podCIDRs; a test may set them by hand instead), node agents
// as kubelets on their nodes, and whatever other controllers a test runs beside them.
import { startCluster, type Cluster } from './cluster.js';
import { RestClient } from '../../src/client/rest.js';
import { controllerContext, type ControllerContext } from '../../src/client/factory.js';
import { startController, type Reconciler } from '../../src/client/controller.js';
import { NodeAgent, type NodeAgentOptions } from '../../src/node/agent.js';
import { NodeIPAMController, type NodeIPAMOptions } from '../../src/controllers/nodeipam.js';

export const PODS = '/api/v1/namespaces/default/pods';

export interface AgentCluster {
  c: Cluster;
  client: RestClient;
  ctx: ControllerContext;
  /** Start a node agent on this cluster's client with `workers` pod workers (4 unless said). */
  startAgent(opts: Omit<NodeAgentOptions, 'client'>, workers?: number): Promise<NodeAgent>;
  /** Stop the agent last started for `nodeName`, as a kubelet that goes away (its node object stays). */
  stopAgent(nodeName: string): void;
  /** Run a controller on `ctx` with `workers` workers until stop(). */
  run(controller: Reconciler, workers?: number): Promise<void>;
  /** Something else to end at stop(), in reverse order with the agents and controllers. */
  defer(stop: () => unknown): void;
  /** A pod of the default namespace. */
  getPod(name: string): Promise<any>;
  /** The pod once it is Running and Ready; false before. */
  runningReady(name: string): Promise<any>;
  /** Stop what was started (last started first), then the server. */
  stop(): Promise<void>;
}

/**
 * A server with the node IPAM controller (`ipam`: its options; false: none runs and nodes get
 * their podCIDRs from the test) and nothing else yet: agents and controllers are started through
 * the handle returned. `args` go to `up` (e.g. the service CIDR a test reserved).
 */
export async function startAgentCluster(o: { userAgent: string; ipam?: NodeIPAMOptions | false; args?: string[] }): Promise<AgentCluster> {
  const c = await startCluster({ args: o.args });
  const client = await RestClient.fromKubeconfig(c.kubeconfig, o.userAgent);
  const ctx = controllerContext(client);
  const stops: (() => unknown)[] = [];
  const agents = new Map<string, { stop(): void }>();
  const getPod = (name: string) => client.get<any>(`${PODS}/${name}`);
  const h: AgentCluster = {
    c, client, ctx, getPod,
    async startAgent(opts, workers = 4) {
      const agent = new NodeAgent({ ...opts, client });
      const ctl = await startController(agent, workers);
      agents.set(opts.nodeName, ctl);
      stops.push(() => ctl.stop());
      return agent;
    },
    stopAgent(nodeName) {
      const ctl = agents.get(nodeName);
      if (!ctl) throw new Error(`no agent was started for ${nodeName}`);
      ctl.stop();
    },
    async run(controller, workers = 1) {
      const ctl = await startController(controller, workers);
      stops.push(() => ctl.stop());
    },
    defer(stop) {
      stops.push(stop);
    },
    async runningReady(name) {
      const p = await getPod(name);
      return p.status?.phase === 'Running' && p.status.conditions?.find((x: any) => x.type === 'Ready')?.status === 'True' && p;
    },
    async stop() {
      for (const s of stops.reverse()) await s();
      ctx.informers.stop();
      client.close();
      await c.cleanup();
    },
  };
  if (o.ipam !== false) {
    try {
      await h.run(new NodeIPAMController(ctx, o.ipam), 1);
    } catch (e) {
      await h.stop();
      throw e;
    }
  }
  return h;
}
