// The set-up of the node agent tests: a real API server, and in the test process the node IPAM
// controller (it gives nodes their podCIDRs) and node agents, as kubelets on their nodes.
import { startCluster, type Cluster } from './cluster.js';
import { RestClient } from '../../src/client/rest.js';
import { controllerContext, type ControllerContext } from '../../src/client/factory.js';
import { startController } from '../../src/client/controller.js';
import { NodeAgent, type NodeAgentOptions } from '../../src/node/agent.js';
import { NodeIPAMController, type NodeIPAMOptions } from '../../src/controllers/nodeipam.js';

export const PODS = '/api/v1/namespaces/default/pods';

export interface AgentCluster {
  c: Cluster;
  client: RestClient;
  ctx: ControllerContext;
  /** Start a node agent on this cluster's client, with 4 pod workers; stop() ends it. */
  startAgent(opts: Omit<NodeAgentOptions, 'client'>): Promise<NodeAgent>;
  /** A pod of the default namespace. */
  getPod(name: string): Promise<any>;
  /** The pod once it is Running and Ready; false before. */
  runningReady(name: string): Promise<any>;
  /** Stop the agents and the controller (last started first), then the server. */
  stop(): Promise<void>;
}

export async function startAgentCluster(o: { userAgent: string; ipam?: NodeIPAMOptions }): Promise<AgentCluster> {
  const c = await startCluster();
  const client = await RestClient.fromKubeconfig(c.kubeconfig, o.userAgent);
  const ctx = controllerContext(client);
  const stops: (() => void)[] = [];
  const getPod = (name: string) => client.get<any>(`${PODS}/${name}`);
  const h: AgentCluster = {
    c, client, ctx, getPod,
    async startAgent(opts) {
      const agent = new NodeAgent({ ...opts, client });
      const ctl = await startController(agent, 4);
      stops.push(() => ctl.stop());
      return agent;
    },
    async runningReady(name) {
      const p = await getPod(name);
      return p.status?.phase === 'Running' && p.status.conditions?.find((x: any) => x.type === 'Ready')?.status === 'True' && p;
    },
    async stop() {
      for (const s of stops.reverse()) s();
      ctx.informers.stop();
      client.close();
      await c.cleanup();
    },
  };
  try {
    const ipam = await startController(new NodeIPAMController(ctx, o.ipam), 1);
    stops.push(() => ipam.stop());
  } catch (e) {
    await h.stop();
    throw e;
  }
  return h;
}
