// Zero dropped requests during `kubectl rollout restart` (issue 6, item 4): `kubelite up` with
// every component (simulated pods that answer, userspace proxy), a Deployment of three pods
// behind a ClusterIP Service, and steady HTTP load through the ClusterIP — sequential and
// concurrent clients opening a new connection per request, and keep-alive clients — while the
// real kubectl restarts the Deployment and waits for the rollout. Every request must succeed,
// and the answers must come from the old pods during the rollout and from every new pod after
// it (so a load that never reached the pods being replaced cannot pass).
//
// What makes it hold (src/node/agent.ts, src/node/runtimes/sim-answer.ts): a deleted pod keeps
// serving until the EndpointSlices show it terminating and a drain for the proxies has passed,
// and meanwhile answers with `Connection: close` so keep-alive clients reconnect elsewhere.
// The same under the process runtime, whose containers get SIGTERM only then: a Node HTTP server
// that exits at once on SIGTERM, under clients opening a new connection per request (keep-alive
// connections to a process that exits are its own business, as upstream).
//
// Then the rule itself, with a node agent in this process and EndpointSlices written by hand: a
// deleted pod serves (with `Connection: close`) while a slice offers it as ready, stops a drain
// period after the slice shows it terminating, and never outlives its grace period; a pod no
// slice offers, or one deleted with grace 0, stops at once.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startCluster, type Cluster } from './helpers/cluster.js';
import { call } from './helpers/run-controllers.js';
import { until, sleep } from './helpers/wait.js';
import { startAgentCluster, type AgentCluster } from './helpers/node-agents.js';
import { reserveNetworks } from './helpers/networks.js';
import type { RestClient } from '../src/client/rest.js';
import type { Informer } from '../src/client/informer.js';
import { SimRuntime } from '../src/node/runtimes/sim.js';
const PORT = 8080;
/** Rollouts per test run: each one replaces all three pods under load. */
const ROLLOUTS = 2;

/** A Service and a Deployment of three pods behind it, named `name`, as JSON manifests. */
function manifests(name: string, pod: Record<string, unknown>): string {
  const labels = { app: name };
  return JSON.stringify({
    apiVersion: 'v1', kind: 'List', items: [
      { apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { selector: labels, ports: [{ name: 'http', port: PORT, targetPort: PORT }] } },
      {
        apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name },
        spec: { replicas: 3, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: pod } },
      },
    ],
  });
}

const SIM_POD = { containers: [{ name: 'web', image: 'nginx:1.27', ports: [{ containerPort: PORT }] }] };

/** The process runtime's server: answers as a simulated pod does; exits at once on SIGTERM (Node's default). */
const SERVER = `
const name = process.env.POD_NAME;
require('http').createServer((req, res) => {
  if (req.url === '/ready') return res.end('ready');
  res.writeHead(200, { 'Content-Type': 'text/plain', 'X-Kubelite-Pod': name });
  res.end(name + '\\n');
}).listen(${PORT}, process.env.POD_IP);
`;
const PROCESS_POD = {
  runtimeClassName: 'process',
  containers: [{
    name: 'web', image: 'node:20', command: [process.execPath, '-e', SERVER], ports: [{ containerPort: PORT }],
    readinessProbe: { httpGet: { path: '/ready', port: PORT }, periodSeconds: 1 },
  }],
};

interface Answer { at: number; pod: string }
interface Failure { at: number; client: string; error: string }

/** One GET; resolves with the pod that answered, rejects with why it failed. */
function get(host: string, agent: http.Agent | false): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port: PORT, path: '/', agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('error', reject);
      res.on('end', () => {
        const pod = res.headers['x-kubelite-pod'];
        if (res.statusCode !== 200 || typeof pod !== 'string' || body !== `${pod}\n`) {
          reject(new Error(`status ${res.statusCode}, pod ${String(pod)}, body ${JSON.stringify(body)}`));
        } else resolve(pod);
      });
    });
    req.setTimeout(10_000, () => req.destroy(new Error('no answer in 10 s')));
    req.on('error', reject);
    req.end();
  });
}

/** Clients sending requests back to back until stopped. */
class Load {
  readonly answers: Answer[] = [];
  readonly failures: Failure[] = [];
  private running = true;
  private readonly loops: Promise<void>[] = [];
  private readonly agents: http.Agent[] = [];

  constructor(host: string, clients: { newConnection: number; keepAlive: number }) {
    for (let i = 0; i < clients.newConnection; i++) this.loops.push(this.loop(host, `new-connection-${i}`, false));
    for (let i = 0; i < clients.keepAlive; i++) {
      // One socket per client, reused for every request while the server keeps it open.
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      this.agents.push(agent);
      this.loops.push(this.loop(host, `keep-alive-${i}`, agent));
    }
  }

  private async loop(host: string, client: string, agent: http.Agent | false): Promise<void> {
    while (this.running) {
      try {
        this.answers.push({ at: Date.now(), pod: await get(host, agent) });
      } catch (e) {
        this.failures.push({ at: Date.now(), client, error: (e as Error).message });
      }
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    for (const a of this.agents) a.destroy();
  }
}

async function podNames(c: Cluster, app: string): Promise<string[]> {
  const list = JSON.parse(await c.k('get', 'pods', '-l', `app=${app}`, '-o', 'json'));
  return list.items.map((p: { metadata: { name: string } }) => p.metadata.name).sort();
}

/** Apply the Service and Deployment, wait for the rollout, and for every pod to answer through the ClusterIP. */
async function deploy(c: Cluster, name: string, pod: Record<string, unknown>): Promise<string> {
  const applied = await c.kubectl(['apply', '-f', '-'], { input: manifests(name, pod) });
  assert.equal(applied.code, 0, applied.stderr);
  await c.k('rollout', 'status', `deploy/${name}`, '--timeout=60s');
  const clusterIP: string = JSON.parse(await c.k('get', 'svc', name, '-o', 'json')).spec.clusterIP;
  const pods = await podNames(c, name);
  await until(async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) seen.add(await get(clusterIP, false));
    return pods.every((p) => seen.has(p));
  }, `all pods of ${name} answering through the ClusterIP`, 60_000);
  return clusterIP;
}

/**
 * `kubectl rollout restart` and `rollout status` under load, then load on until the old pods are
 * gone from the API (their whole shutdown happens under load) and every new pod has answered.
 */
async function restartUnderLoad(c: Cluster, name: string, clusterIP: string, clients: { newConnection: number; keepAlive: number }) {
  const oldPods = await podNames(c, name);
  assert.equal(oldPods.length, 3);
  const load = new Load(clusterIP, clients);
  try {
    await new Promise((r) => setTimeout(r, 500)); // steady load before the restart
    const restartAt = Date.now();
    await c.k('rollout', 'restart', `deploy/${name}`);
    await c.k('rollout', 'status', `deploy/${name}`, '--timeout=120s');
    const newPods = await until(async () => {
      const now = await podNames(c, name);
      return now.length === 3 && now.every((p) => !oldPods.includes(p)) ? now : undefined;
    }, 'the old pods gone, three new ones left', 120_000);
    const since = Date.now();
    await until(() => newPods.every((p) => load.answers.some((a) => a.at >= since && a.pod === p)), 'every new pod answering', 30_000);
    await load.stop();
    const served = (pods: string[]) => load.answers.filter((a) => a.at >= restartAt && pods.includes(a.pod)).length;
    return {
      requests: load.answers.length + load.failures.length, failures: load.failures,
      byOld: served(oldPods), byNew: newPods.map((p) => served([p])),
      strangers: load.answers.filter((a) => !oldPods.includes(a.pod) && !newPods.includes(a.pod)).length,
    };
  } finally {
    await load.stop();
  }
}

describe('kubectl rollout restart under load through the ClusterIP: no request fails', () => {
  let c: Cluster;
  before(async () => {
    c = await startCluster({
      components: true,
      // Pod and service ranges of its own: test/helpers/networks.ts (components: true).
      args: ['--pod-start-delay', '100ms'],
    });
  });
  after(async () => { await c?.cleanup(); });

  const check = (t: { diagnostic(m: string): void }, r: Awaited<ReturnType<typeof restartUnderLoad>>) => {
    t.diagnostic(`requests ${r.requests}, failures ${r.failures.length}; after the restart: ${r.byOld} answered by old pods, ${r.byNew.join('+')} by the new ones`);
    assert.deepEqual(r.failures.slice(0, 10), [], `${r.failures.length} failed requests`);
    assert.ok(r.byOld > 0, 'old pods served after the restart began');
    assert.ok(r.byNew.every((n) => n > 0), 'every new pod served');
    assert.equal(r.strangers, 0, 'every answer came from an old or a new pod');
  };

  test('simulated pods, clients with a new connection per request and keep-alive clients', async (t) => {
    const ip = await deploy(c, 'web', SIM_POD);
    for (let round = 1; round <= ROLLOUTS; round++) {
      t.diagnostic(`rollout ${round}`);
      check(t, await restartUnderLoad(c, 'web', ip, { newConnection: 4, keepAlive: 2 }));
    }
  });

  test('process runtime: a server that exits on SIGTERM, clients with a new connection per request', async (t) => {
    await c.kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name: 'process' }, handler: 'process' }) })
      .then((r) => assert.equal(r.code, 0, r.stderr));
    const ip = await deploy(c, 'proc', PROCESS_POD);
    check(t, await restartUnderLoad(c, 'proc', ip, { newConnection: 4, keepAlive: 0 }));
  });
});

describe('a deleted pod serves until the EndpointSlices stop offering it, then for the drain period', () => {
  const NODE = 'drain-node';
  const NS = '/api/v1/namespaces/default';
  const SLICES = '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices';
  const DRAIN_MS = 300;
  // A pod range reserved machine-wide (test/helpers/networks.ts): the pods bind their addresses.
  const networks = reserveNetworks();
  const podNet = networks.podCIDR.split('.').slice(0, 3).join('.');
  let h: AgentCluster;
  let c: Cluster;
  let client: RestClient;
  let slices: Informer<any>;

  before(async () => {
    // No IPAM controller: the pod CIDR it would assign is set by hand below. No endpoint
    // controller runs either: the test writes the EndpointSlices.
    h = await startAgentCluster({ userAgent: 'zero-drop-test', ipam: false });
    ({ c, client } = h);
    const runtime = new SimRuntime({ answer: true, startDelayMs: 0, startJitterMs: 0 });
    // The agent's EndpointSlice informer is the test's too: a deletion must come after the agent
    // has seen the slice that offers the pod (its own watch would lag the test's writes).
    slices = h.ctx.informers.informer<any>('endpointslices');
    await h.startAgent({ nodeName: NODE, runtime, endpointDrainMs: DRAIN_MS, sharedEndpointSlices: slices }, 2);
    await call(c, 'PATCH', `/api/v1/nodes/${NODE}`, { spec: { podCIDR: `${podNet}.0/24`, podCIDRs: [`${podNet}.0/24`] } }, 'application/merge-patch+json');
  });

  after(async () => {
    await h?.stop();
    networks.release();
  });

  /** A running pod listening on PORT, offered as a ready endpoint by a slice of its own; its IP and UID. */
  async function servingPod(name: string): Promise<{ ip: string; uid: string }> {
    await call(c, 'POST', `${NS}/pods`, {
      apiVersion: 'v1', kind: 'Pod', metadata: { name },
      spec: { nodeName: NODE, containers: [{ name: 'web', image: 'nginx', ports: [{ containerPort: PORT }] }] },
    });
    const pod = await until(async () => {
      const p = await client.get<any>(`${NS}/pods/${name}`);
      return p.status?.phase === 'Running' && p.status.podIP && p;
    }, `${name} running`);
    const ip: string = pod.status.podIP;
    await call(c, 'POST', SLICES, {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: { name, labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4', ports: [{ name: 'http', port: PORT, protocol: 'TCP' }],
      endpoints: [{ addresses: [ip], conditions: { ready: true, serving: true, terminating: false }, targetRef: { kind: 'Pod', namespace: 'default', name, uid: pod.metadata.uid } }],
    });
    await until(() => get(ip, false).catch(() => undefined), `${name} answering`);
    await until(() => slices.get(`default/${name}`), `the agent seeing the slice of ${name}`);
    return { ip, uid: pod.metadata.uid };
  }

  /** GET / on the pod; the answering pod and the Connection header. */
  const ask = (ip: string) => new Promise<{ pod: string; connection?: string }>((resolve, reject) => {
    http.get({ host: ip, port: PORT, path: '/', agent: false, headers: { Connection: 'keep-alive' } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ pod: String(res.headers['x-kubelite-pod']), connection: res.headers.connection }));
    }).on('error', reject);
  });
  const gone = async (name: string) => (await c.request('GET', `${NS}/pods/${name}`)).status === 404;

  test('while a slice offers it as ready it serves, with Connection: close; once the slice says terminating, it stops after the drain', async () => {
    const { ip, uid } = await servingPod('drained');
    assert.deepEqual(await ask(ip), { pod: 'drained', connection: 'keep-alive' });
    await call(c, 'DELETE', `${NS}/pods/drained`);
    await sleep(1500); // far longer than the drain: only the slice holds the pod now
    assert.equal(await gone('drained'), false, 'the pod is still there, terminating');
    assert.deepEqual(await ask(ip), { pod: 'drained', connection: 'close' }, 'it serves, telling keep-alive clients to go');

    const markedAt = Date.now();
    await call(c, 'PATCH', `${SLICES}/drained`, {
      endpoints: [{ addresses: [ip], conditions: { ready: false, serving: true, terminating: true }, targetRef: { kind: 'Pod', namespace: 'default', name: 'drained', uid } }],
    }, 'application/merge-patch+json');
    await until(() => gone('drained'), 'the pod gone once the slice shows it terminating');
    assert.ok(Date.now() - markedAt >= DRAIN_MS, 'not before the drain period has passed');
    await assert.rejects(ask(ip), /ECONNREFUSED/);
  });

  test('the grace period bounds the wait: a pod the slices go on offering stops when it ends', async () => {
    const { ip } = await servingPod('bounded');
    await call(c, 'DELETE', `${NS}/pods/bounded`, { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 2 });
    await until(() => gone('bounded'), 'the pod gone after its grace period');
    await assert.rejects(ask(ip), /ECONNREFUSED/);
  });

  test('a pod no slice offers stops at once; so does one deleted with grace 0', async () => {
    const { ip: offeredIP } = await servingPod('forced');
    await call(c, 'POST', `${NS}/pods`, {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'unlisted' },
      spec: { nodeName: NODE, containers: [{ name: 'web', image: 'nginx', ports: [{ containerPort: PORT }] }] },
    });
    const ip = await until(async () => {
      const p = await client.get<any>(`${NS}/pods/unlisted`);
      return p.status?.phase === 'Running' && p.status.podIP;
    }, 'unlisted running');
    await until(() => ask(ip).catch(() => undefined), 'unlisted answering');
    // Both deletions race a pod that a slice offers and that has a long grace period: the two
    // must be gone while that one still serves.
    const { ip: heldIP } = await servingPod('held');
    await call(c, 'DELETE', `${NS}/pods/held`);
    await call(c, 'DELETE', `${NS}/pods/unlisted`);
    await call(c, 'DELETE', `${NS}/pods/forced`, { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0 });
    await until(async () => (await gone('unlisted')) && (await gone('forced')), 'both gone');
    await assert.rejects(ask(ip), /ECONNREFUSED/);
    await assert.rejects(ask(offeredIP), /ECONNREFUSED/);
    assert.equal((await ask(heldIP)).pod, 'held', 'the offered pod still serves');
    assert.equal(await gone('held'), false);
  });
});
