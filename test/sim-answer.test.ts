// Pods that answer (the sim runtime's `answer` option, src/node/runtimes/sim-answer.ts): HTTP with
// the pod's name, an echo for other TCP, UDP echoed with the pod's name in front; listening at
// containerPorts and at the ports Services target the pod on; serving while terminating until
// the containers have stopped. First against the runtime alone, then under a node agent with a
// real server, Services and the userspace proxy in front: a ClusterIP that answers with a pod name.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import dgram from 'node:dgram';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { SimRuntime } from '../src/node/runtimes/sim.js';
import { sniff } from '../src/node/runtimes/sim-answer.js';
import type { RuntimeListener } from '../src/node/runtime.js';
import type { Cluster } from './helpers/cluster.js';
import { startAgentCluster, type AgentCluster } from './helpers/node-agents.js';
import { call } from './helpers/run-controllers.js';
import { until } from './helpers/wait.js';
import { reserveNetworks } from './helpers/networks.js';
import type { RestClient } from '../src/client/rest.js';
import { UserspaceProxy } from '../src/proxy/userspace.js';

/**
 * This run's addresses, reserved machine-wide (test/helpers/networks.ts) so that no cluster or run
 * of this file elsewhere binds them: the first /24 of the pod block, an address of the service block.
 */
const NETWORKS = reserveNetworks();
const POD_NET = NETWORKS.podCIDR.split('.').slice(0, 3).join('.');
after(() => NETWORKS.release());
const quiet: RuntimeListener = { changed() {}, event() {} };

interface HttpAnswer { status: number; pod?: string; namespace?: string; body: string }

function get(host: string, port: number, opts: { method?: string; agent?: http.Agent } = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, path: '/anything?x=1', method: opts.method ?? 'GET', agent: opts.agent ?? false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({
        status: res.statusCode!, body,
        pod: res.headers['x-kubelite-pod'] as string | undefined,
        namespace: res.headers['x-kubelite-pod-namespace'] as string | undefined,
      }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Send raw bytes (optionally in pieces), half-close, and collect everything until the server ends. */
function rawExchange(host: string, port: number, pieces: string[], gapMs = 0): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, allowHalfOpen: true });
    let got = '';
    s.on('data', (d) => { got += d; });
    s.on('end', () => {
      s.end();
      resolve(got);
    });
    s.on('error', reject);
    s.once('connect', async () => {
      for (const p of pieces) {
        s.write(p);
        if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
      }
      s.end();
    });
  });
}

function connectCode(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
  });
}

function udpAsk(host: string, port: number, msg: string): Promise<string> {
  const s = dgram.createSocket('udp4');
  return new Promise((resolve, reject) => {
    s.once('message', (m) => {
      s.close();
      resolve(m.toString());
    });
    s.once('error', (e) => {
      s.close();
      reject(e);
    });
    s.send(msg, port, host);
  });
}

function simPod(name: string, uid: string, ports: { containerPort: number; protocol?: string }[], labels: Record<string, string> = {}): Pod {
  return {
    metadata: { name, namespace: 'default', uid, labels },
    spec: { containers: [{ name: 'main', image: 'nginx', ports }] },
  };
}

describe('sim runtime: pods that answer', () => {
  test('sniffing the first bytes tells HTTP from anything else', () => {
    assert.equal(sniff(Buffer.from('GET / HTTP/1.1\r\n')), 'http');
    assert.equal(sniff(Buffer.from('DELETE /x HTTP/1.1\r\n')), 'http');
    assert.equal(sniff(Buffer.from('GE')), 'more');
    assert.equal(sniff(Buffer.from('OPTIONS')), 'more');
    assert.equal(sniff(Buffer.from('GETS')), 'echo');
    assert.equal(sniff(Buffer.from('hello')), 'echo');
    assert.equal(sniff(Buffer.from([0x16, 0x03, 0x01])), 'echo');
  });

  test('a running pod answers HTTP with its name, echoes other TCP, and echoes UDP with its name in front', async () => {
    const ip = `${POD_NET}.10`;
    const rt = new SimRuntime({ answer: true, startDelayMs: 0, startJitterMs: 0 });
    try {
      rt.start(simPod('web-1', 'uid-1', [{ containerPort: 8080 }, { containerPort: 5353, protocol: 'UDP' }]), { podIPs: [ip], hostIP: '127.0.0.1' }, quiet);
      const first = await until(() => get(ip, 8080), 'the pod answers');
      assert.deepEqual(first, { status: 200, pod: 'web-1', namespace: 'default', body: 'web-1\n' });
      const head = await get(ip, 8080, { method: 'HEAD' });
      assert.equal(head.pod, 'web-1');
      assert.equal(head.body, '');
      // Keep-alive: two requests on one connection.
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      assert.equal((await get(ip, 8080, { agent })).body, 'web-1\n');
      assert.equal((await get(ip, 8080, { agent })).body, 'web-1\n');
      agent.destroy();
      // A request line that arrives in pieces is still HTTP.
      const split = await rawExchange(ip, 8080, ['GE', 'T / HTTP/1.0\r\n\r\n'], 20);
      assert.match(split, /^HTTP\/1\.1 200 OK\r\n/);
      assert.match(split, /\r\nX-Kubelite-Pod: web-1\r\n/i);
      assert.match(split, /\r\n\r\nweb-1\n$/);
      // Not HTTP: echoed; the echo ends when the client's side does.
      assert.equal(await rawExchange(ip, 8080, ['hello\n', 'world\n']), 'hello\nworld\n');
      assert.equal(await rawExchange(ip, 8080, ['G']), 'G', 'too short to tell: echoed');
      assert.equal(await udpAsk(ip, 5353, 'ping'), 'web-1: ping');
    } finally {
      rt.close();
    }
  });

  test('a terminating pod serves until its containers have stopped; then nothing listens', async () => {
    const ip = `${POD_NET}.11`;
    // Containers that take an hour to stop: the pod is killed when its (shortened) grace period ends.
    const rt = new SimRuntime({ answer: true, startDelayMs: 0, startJitterMs: 0, stopDelayMs: 3_600_000 });
    try {
      rt.start(simPod('web-2', 'uid-2', [{ containerPort: 8080 }]), { podIPs: [ip], hostIP: '127.0.0.1' }, quiet);
      await until(() => get(ip, 8080), 'the pod answers');
      const open = net.connect({ host: ip, port: 8080 });
      await new Promise((r) => open.once('connect', r));
      const closed = new Promise((r) => open.once('close', r));
      open.on('error', () => {});
      const graceful = rt.stop('uid-2', 30);
      assert.equal((await get(ip, 8080)).body, 'web-2\n', 'still serving while terminating');
      await Promise.all([rt.stop('uid-2', 0), graceful]);
      assert.equal(await connectCode(ip, 8080), 'ECONNREFUSED');
      await closed; // open connections end with the pod
    } finally {
      rt.close();
    }
  });

  test('without `answer` a simulated pod opens no socket', async () => {
    const ip = `${POD_NET}.12`;
    const rt = new SimRuntime({ startDelayMs: 0, startJitterMs: 0 });
    try {
      rt.start(simPod('quiet', 'uid-3', [{ containerPort: 8080 }]), { podIPs: [ip], hostIP: '127.0.0.1' }, quiet);
      assert.equal(rt.status('uid-3')?.containerStatuses[0]?.state?.running !== undefined, true);
      assert.equal(await connectCode(ip, 8080), 'ECONNREFUSED');
    } finally {
      rt.close();
    }
  });
});

describe('sim runtime under a node agent: Services target pods, the proxy reaches them', () => {
  const NODE = 'answer-node';
  const NS = '/api/v1/namespaces/default';
  let h: AgentCluster;
  let c: Cluster;
  let client: RestClient;
  // In the service block reserved above, which is this cluster's service CIDR.
  const clusterIP = `${NETWORKS.serviceCIDR.split('.').slice(0, 3).join('.')}.7`;

  before(async () => {
    // No IPAM controller: the pod CIDR it would assign is set by hand below.
    // The cluster allocates ClusterIPs from the reserved block only: the proxy below binds every
    // ClusterIP, and one allocated from the default range could be another test cluster's.
    h = await startAgentCluster({ userAgent: 'sim-answer-test', ipam: false, args: ['--service-cidr', NETWORKS.serviceCIDR] });
    ({ c, client } = h);
    const runtime = new SimRuntime({ answer: true, services: h.ctx.informers.informer('services'), startDelayMs: 0, startJitterMs: 0 });
    await h.startAgent({ nodeName: NODE, runtime }, 2);
    await call(c, 'PATCH', `/api/v1/nodes/${NODE}`, { spec: { podCIDR: `${POD_NET}.0/24`, podCIDRs: [`${POD_NET}.0/24`] } }, 'application/merge-patch+json');
    const proxy = new UserspaceProxy(h.ctx);
    await proxy.start();
    h.defer(() => proxy.stop());
  });

  after(async () => {
    await h?.stop();
  });

  const service = (name: string, targetPort: number, ip?: string) => call(c, 'POST', `${NS}/services`, {
    apiVersion: 'v1', kind: 'Service', metadata: { name },
    spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 8080, targetPort }], ...(ip ? { clusterIP: ip, clusterIPs: [ip] } : {}) },
  });

  test('a pod listens at its containerPorts and wherever a Service targets it; a ClusterIP answers with its name', async () => {
    await service('web', 9090, clusterIP);
    await call(c, 'POST', `${NS}/pods`, {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-1', labels: { app: 'web' } },
      spec: { nodeName: NODE, containers: [{ name: 'nginx', image: 'nginx', ports: [{ containerPort: 8080 }] }] },
    });
    const podIP = await until(async () => {
      const p = await client.get<any>(`${NS}/pods/web-1`);
      return p.status?.phase === 'Running' && p.status.podIP;
    }, 'pod running with an IP');
    assert.ok(podIP.startsWith(`${POD_NET}.`), podIP);
    assert.equal((await until(() => get(podIP, 8080), 'containerPort answers')).pod, 'web-1');
    assert.equal((await until(() => get(podIP, 9090), 'the Service targetPort answers')).pod, 'web-1');

    // A Service created later is picked up live, and its port closes when it goes.
    await service('web-extra', 9191);
    assert.equal((await until(() => get(podIP, 9191).catch(() => undefined), 'a new Service targetPort answers')).pod, 'web-1');
    await call(c, 'DELETE', `${NS}/services/web-extra`);
    await until(async () => (await connectCode(podIP, 9191)) === 'ECONNREFUSED', 'the port closes with its Service');

    // Through the proxy: an EndpointSlice written by hand (no endpoint controller runs here).
    await call(c, 'POST', '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices', {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: { name: 'web-manual', labels: { 'kubernetes.io/service-name': 'web' } },
      addressType: 'IPv4', endpoints: [{ addresses: [podIP], conditions: { ready: true } }],
      ports: [{ name: 'http', port: 9090, protocol: 'TCP' }],
    });
    const viaService = await until(() => get(clusterIP, 8080).catch(() => undefined), 'the ClusterIP answers');
    assert.deepEqual(viaService, { status: 200, pod: 'web-1', namespace: 'default', body: 'web-1\n' });

    // Deleted: the pod stops (at once: simulated containers exit on SIGTERM) and stops listening.
    await call(c, 'DELETE', `${NS}/pods/web-1`);
    await until(async () => (await connectCode(podIP, 8080)) === 'ECONNREFUSED', 'the deleted pod stops listening');
  });
});
