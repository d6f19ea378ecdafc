// The nftables service proxy (src/proxy/nftables*.ts). The rule text is checked without root;
// against the kernel (root and the nft binary, as in CI) the proxy runs in the test process and
// programs a table of its own (`ip kubelite-test-<pid>`) for a real server with a service CIDR
// of its own (127.160.0.0/16), backends on 127.78.x.y and a node address of its own for
// NodePorts — so nothing collides with the userspace proxy tests running in another process,
// since nftables rules apply to the whole host. Scenarios mirror test/proxy.test.ts: balancing,
// refusal without endpoints, live changes, terminating endpoints, ClientIP affinity and its
// timeout, NodePort, UDP, and the table's life cycle (leftover replaced, deleted at stop).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import dgram from 'node:dgram';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCluster, type Cluster } from './helpers/cluster.js';
import { call } from './helpers/run-controllers.js';
import { until, sleep } from './helpers/wait.js';
import { createService, putSlice, fetchName, count, sequential, listen, keepAliveClient } from './helpers/proxy-api.js';
import { RestClient } from '../src/client/rest.js';
import { controllerContext, type ControllerContext } from '../src/client/factory.js';
import { NftablesProxy, nftablesUnavailable, type NftServicePortStatus } from '../src/proxy/nftables.js';
import { buildServiceRules, emptyRules, partialSyncScript, serviceChainName, fullSyncScript, setupScript } from '../src/proxy/nftables-rules.js';

const NS = '/api/v1/namespaces/default';
const SLICES = '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices';
const SERVICE_CIDR = '127.160.0.0/16';
const SVC_NET = `127.160.${1 + Math.floor(Math.random() * 254)}`;
const BACKEND_NET = `127.78.${1 + Math.floor(Math.random() * 254)}`;
const NODE_IP = `127.161.${1 + Math.floor(Math.random() * 254)}.1`;
const A = `${BACKEND_NET}.1`, B = `${BACKEND_NET}.2`, C = `${BACKEND_NET}.3`;
const NAMES: Record<string, string> = { [A]: 'a', [B]: 'b', [C]: 'c' };
const HTTP_PORT = 18081;
const UDP_PORT = 15354;
const TABLE = `kubelite-test-${process.pid}`;

// ---- helpers ------------------------------------------------------------------------------------

/** Connect and report how it went: `connected`, or the error code (`ECONNREFUSED`...), or `timeout`. */
function tryConnect(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.setTimeout(5_000, () => {
      s.destroy();
      resolve('timeout');
    });
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
  });
}

function nft(...args: string[]): string {
  return execFileSync('nft', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function tableExists(table: string): boolean {
  try {
    nft('list', 'table', 'ip', table);
    return true;
  } catch {
    return false;
  }
}

// ---- rule text (no root needed) ----------------------------------------------------------------

describe('nftables rules', () => {
  const svc = (affinity?: number) => ({
    metadata: { namespace: 'default', name: 'web' },
    spec: {
      type: 'NodePort', clusterIP: '127.96.0.10', clusterIPs: ['127.96.0.10'],
      ports: [{ name: 'http', port: 80, protocol: 'TCP', nodePort: 30080 }],
      ...(affinity ? { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: affinity } } } : {}),
    },
  }) as any;
  const slice = (...ips: string[]) => ({
    metadata: { name: 'web-1' }, addressType: 'IPv4',
    endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  }) as any;

  test('a Service port: map elements to its chain, numgen over endpoint chains, affinity sets', () => {
    const r = buildServiceRules(svc(60), [slice('127.0.1.2', '127.0.1.1')], { mode: 'round-robin', nodeIP: '127.0.0.1' });
    const chain = serviceChainName('default', 'web', 'tcp', 'http');
    assert.match(chain, /^service-[0-9A-F]{8}-default\/web\/tcp\/http$/);
    assert.deepEqual([...r.elements.get('service-ips')!], [['127.96.0.10 . tcp . 80', `goto ${chain}`]]);
    assert.deepEqual([...r.elements.get('service-nodeports')!], [['tcp . 30080', `goto ${chain}`]]);
    const rules = r.chains.get(chain)!;
    // Affinity first (one per endpoint, in IP:port order), then the spreading rule.
    assert.equal(rules.length, 3);
    assert.match(rules[0]!, /^ip saddr @affinity-\w{8}-default\/web\/tcp\/http__127\.0\.1\.1\/8080 goto endpoint-\w{8}-default\/web\/tcp\/http__127\.0\.1\.1\/8080$/);
    assert.match(rules[2]!, /^numgen inc mod 2 vmap \{ 0 : goto endpoint-\S+127\.0\.1\.1\/8080, 1 : goto endpoint-\S+127\.0\.1\.2\/8080 \}$/);
    const ep = [...r.chains].find(([n]) => n.startsWith('endpoint-') && n.endsWith('127.0.1.2/8080'))![1];
    assert.deepEqual(ep.slice(1), ['meta l4proto tcp dnat to 127.0.1.2:8080']);
    assert.match(ep[0]!, /^update @affinity-\S+ \{ ip saddr \}$/);
    assert.deepEqual([...r.affinitySets.values()], [60, 60]);
    assert.match(buildServiceRules(svc(), [slice('127.0.1.1')], { mode: 'random', nodeIP: '127.0.0.1' }).chains.get(chain)!.at(-1)!, /^numgen random mod 1 /);
    // Endpoints off loopback get upstream's hairpin masquerade mark.
    const remote = buildServiceRules(svc(), [slice('10.1.2.3')], { mode: 'random', nodeIP: '127.0.0.1' });
    assert.ok([...remote.chains.values()].some((rs) => rs[0] === 'ip saddr 10.1.2.3 jump mark-for-masquerade'));
  });

  test('no usable endpoints: the frontends go to the reject maps and no chains are written', () => {
    const r = buildServiceRules(svc(), [], { mode: 'round-robin', nodeIP: '127.0.0.1' });
    assert.deepEqual([...r.elements.get('no-endpoint-services')!], [['127.96.0.10 . tcp . 80', 'goto reject-chain']]);
    assert.deepEqual([...r.elements.get('no-endpoint-nodeports')!], [['tcp . 30080', 'goto reject-chain']]);
    assert.equal(r.chains.size, 0);
    assert.equal(r.elements.get('service-ips')!.size, 0);
  });

  test('a frontend another Service holds is left out', () => {
    const r = buildServiceRules(svc(), [slice('127.0.1.1')], { mode: 'round-robin', nodeIP: '127.0.0.1', taken: (c) => c === 'nodeport tcp . 30080' });
    assert.equal(r.elements.get('service-nodeports')!.size, 0);
    assert.deepEqual(r.ports[0]!.conflicts, ['127.0.0.1:30080']);
  });

  test('a partial sync touches only what changed, in an order nft accepts', () => {
    const before = buildServiceRules(svc(60), [slice('127.0.1.1', '127.0.1.2')], { mode: 'round-robin', nodeIP: '127.0.0.1' });
    const after = buildServiceRules(svc(60), [slice('127.0.1.1')], { mode: 'round-robin', nodeIP: '127.0.0.1' });
    const { commands, stale } = partialSyncScript('t', before, after);
    assert.equal(stale.length, 1);
    assert.match(stale[0]!, /^endpoint-.*127\.0\.1\.2\/8080$/);
    // The remaining endpoint's chain is unchanged and not rewritten; the map elements stay.
    assert.ok(!commands.some((c) => /127\.0\.1\.1\/8080/.test(c) && c.startsWith('flush chain')), commands.join('\n'));
    assert.ok(!commands.some((c) => c.includes(' element ')), commands.join('\n'));
    const idx = (re: RegExp) => commands.findIndex((c) => re.test(c));
    assert.ok(idx(/^flush chain ip t service-/) < idx(/^delete set ip t affinity-.*127\.0\.1\.2/), 'unreferenced before deleted');
    assert.ok(idx(/^delete set/) < idx(/^add rule ip t service-.* numgen inc mod 1 /));
    // Nothing changes: nothing to do.
    assert.deepEqual(partialSyncScript('t', after, after).commands, []);
    // A new Service: sets, then endpoint chains, then the service chain, then the map elements.
    const fresh = partialSyncScript('t', emptyRules(), before).commands;
    const order = ['add set', 'add chain ip t endpoint-', 'add chain ip t service-', 'add element'].map((p) => fresh.findIndex((c) => c.startsWith(p)));
    assert.deepEqual([...order].sort((x, y) => x - y), order, fresh.join('\n'));
  });

  test('a full sync flushes leftovers and deletes sets whose timeout changed', () => {
    const rules = buildServiceRules(svc(60), [slice('127.0.1.1')], { mode: 'round-robin', nodeIP: '127.0.0.1' });
    const set = [...rules.affinitySets.keys()][0]!;
    const { script, stale } = fullSyncScript('t', ['127.0.0.1'], [rules], { chains: new Set(['service-X-old/svc/tcp/']), sets: new Map([[set, 30]]) }, false);
    assert.deepEqual(stale, ['service-X-old/svc/tcp/']);
    assert.match(script, /^flush chain ip t service-X-old\/svc\/tcp\/$/m);
    assert.match(script, new RegExp(`^delete set ip t ${set.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`, 'm'));
    assert.match(script, /^add element ip t nodeport-ips \{ 127\.0\.0\.1 \}$/m);
    assert.doesNotMatch(script, /delete table/);
    assert.match(fullSyncScript('t', [], [], { chains: new Set(), sets: new Map() }, true).script, /^add table ip t\ndelete table ip t\n/);
  });

  test('only nat chains are hooked, so established packets run none of our rules', () => {
    const script = setupScript('t', ['127.0.0.1']);
    const hooked = script.filter((c) => / hook /.test(c)).map((c) => /^add chain ip t (\S+) \{ type (\w+) hook (\w+)/.exec(c)!.slice(1).join(' '));
    // conntrack runs nat chains for the first packet of a connection only; a filter chain would
    // run for every packet of every connection on the host.
    assert.deepEqual(hooked, ['nat-prerouting nat prerouting', 'nat-output nat output', 'nat-postrouting nat postrouting']);
    for (const hook of ['nat-output', 'nat-prerouting']) {
      assert.deepEqual(script.filter((c) => c.startsWith(`add rule ip t ${hook} `)), [`add rule ip t ${hook} jump services`, `add rule ip t ${hook} jump endpoints-check`]);
    }
  });

  test('a missing nft binary is reported as such', async () => {
    assert.match((await nftablesUnavailable('/nonexistent/nft'))!, /binary was not found \(install the nftables package/);
  });
});

// ---- against the kernel -------------------------------------------------------------------------

const unavailable = await nftablesUnavailable();
const skip = process.getuid?.() !== 0 ? 'needs root' : unavailable ? `nftables not usable: ${unavailable}` : false;

describe('nftables proxy', { skip }, () => {
  let c: Cluster;
  let client: RestClient;
  let ctx: ControllerContext;
  let proxy: NftablesProxy;
  const servers: { close(): void }[] = [];
  let nextIP = 2;
  const svcIP = () => `${SVC_NET}.${nextIP++}`;

  const statusOf = (servicePort: string): NftServicePortStatus | undefined => proxy.status().find((s) => s.servicePort === servicePort);
  const programmed = (servicePort: string, endpoints: string[]) =>
    until(() => {
      const s = statusOf(servicePort);
      return s && s.endpoints.join(',') === endpoints.join(',') && s;
    }, `${servicePort} programmed with ${endpoints.join(',') || 'no endpoints'}`);

  const newProxy = async (mode: 'round-robin' | 'random' = 'round-robin') => {
    ctx = controllerContext(client);
    proxy = new NftablesProxy(ctx, { mode, nodeIP: NODE_IP, table: TABLE });
    await proxy.start();
  };

  before(async () => {
    c = await startCluster({ args: ['--service-cidr', SERVICE_CIDR] });
    client = await RestClient.fromKubeconfig(c.kubeconfig, 'proxy-nftables-test');
    for (const ip of [A, B, C]) {
      const s = http.createServer((_req, res) => res.end(`${NAMES[ip]}\n`));
      await listen(s, ip, HTTP_PORT);
      servers.push(s);
      const u = dgram.createSocket('udp4');
      u.on('message', (m, r) => u.send(`${NAMES[ip]}:${m}`, r.port, r.address));
      await new Promise<void>((resolve) => u.bind(UDP_PORT, ip, () => resolve()));
      servers.push(u);
    }
    // A table left behind by a crashed run: replaced at start.
    execFileSync('nft', ['-f', '-'], { input: `add table ip ${TABLE}\nadd chain ip ${TABLE} leftover-from-a-crash\n` });
    await newProxy();
  });

  after(async () => {
    await proxy?.stop().catch(() => {});
    ctx?.informers.stop();
    client?.close();
    for (const s of servers) s.close();
    await c?.cleanup();
    // Whatever happened, leave no rules on the host.
    if (tableExists(TABLE)) nft('delete', 'table', 'ip', TABLE);
  });

  test('the leftover table was replaced by the proxy\'s', () => {
    const listing = nft('list', 'table', 'ip', TABLE);
    assert.doesNotMatch(listing, /leftover-from-a-crash/);
    assert.match(listing, /chain nat-output \{\n\s+type nat hook output priority -100; policy accept;/);
    assert.doesNotMatch(listing, /type filter hook/);
    assert.match(listing, /map service-ips \{\n\s+type ipv4_addr \. inet_proto \. inet_service : verdict/);
    assert.match(listing, new RegExp(`set nodeport-ips \\{[^}]*elements = \\{ ${NODE_IP.replace(/\./g, '\\.')} \\}`));
  });

  test('round-robin (numgen inc) spreads new connections evenly over the ready endpoints', async () => {
    const ip = svcIP();
    await createService(c, 'rr', { ip, ports: [{ name: 'http', port: 8080, targetPort: HTTP_PORT }] });
    await putSlice(c, 'rr', [{ ip: A }, { ip: B }, { ip: C }], [{ name: 'http', port: HTTP_PORT }]);
    await programmed('default/rr:http', [A, B, C].map((x) => `${x}:${HTTP_PORT}`));
    assert.match(nft('list', 'chain', 'ip', TABLE, serviceChainName('default', 'rr', 'tcp', 'http')), /numgen inc mod 3 vmap/);
    const names = await sequential(30, () => fetchName(ip, 8080));
    assert.deepEqual(count(names), { a: 10, b: 10, c: 10 });
    assert.ok(names.every((n, i) => n === names[i % 3]), names.join(' '));
  });

  test('a change to another Service leaves this one\'s rules alone (its rotation goes on)', async () => {
    const ip = `${SVC_NET}.2`; // rr's
    const first = await fetchName(ip, 8080);
    const other = svcIP();
    await createService(c, 'bystander', { ip: other, ports: [{ name: 'http', port: 8080, targetPort: HTTP_PORT }] });
    await putSlice(c, 'bystander', [{ ip: A }], [{ name: 'http', port: HTTP_PORT }]);
    await programmed('default/bystander:http', [`${A}:${HTTP_PORT}`]);
    await putSlice(c, 'bystander', [{ ip: B }], [{ name: 'http', port: HTTP_PORT }]);
    await programmed('default/bystander:http', [`${B}:${HTTP_PORT}`]);
    const next = await fetchName(ip, 8080);
    const order = ['a', 'b', 'c'];
    assert.equal(next, order[(order.indexOf(first) + 1) % 3], 'the counter was not reset by rewriting the chain');
  });

  test('a Service without usable endpoints refuses connections at once, and opens when it gets one', async () => {
    const ip = svcIP();
    await createService(c, 'empty', { ip, ports: [{ name: 'http', port: 8080, targetPort: HTTP_PORT }] });
    const s = await until(() => statusOf('default/empty:http'), 'rejecting');
    assert.equal(s.state, 'reject');
    assert.equal(await tryConnect(ip, 8080), 'ECONNREFUSED');
    await putSlice(c, 'empty', [{ ip: A }], [{ name: 'http', port: HTTP_PORT }]);
    await programmed('default/empty:http', [`${A}:${HTTP_PORT}`]);
    assert.equal(await fetchName(ip, 8080), 'a');
    await putSlice(c, 'empty', [], [{ name: 'http', port: HTTP_PORT }]);
    await programmed('default/empty:http', []);
    assert.equal(await tryConnect(ip, 8080), 'ECONNREFUSED');
    assert.match(nft('list', 'map', 'ip', TABLE, 'no-endpoint-services'), new RegExp(`${ip.replace(/\./g, '\\.')} \\. tcp \\. 8080 : goto reject-chain`));
    await call(c, 'DELETE', `${NS}/services/empty`);
    await until(() => !statusOf('default/empty:http'), 'service removed');
    assert.doesNotMatch(nft('list', 'table', 'ip', TABLE), new RegExp(ip.replace(/\./g, '\\.') + ' '));
  });

  test('the refusal comes from the table: a listener on the ClusterIP itself is not reached', async () => {
    // ClusterIPs are local addresses here, so an empty one refuses by itself; a listener on it
    // shows that the rule (reject from the nat chains) is what refuses.
    const ip = svcIP();
    const squatter = net.createServer((s) => s.end());
    await listen(squatter, ip, 8080);
    servers.push(squatter);
    assert.equal(await tryConnect(ip, 8080), 'connected', 'reachable before the Service exists');
    await createService(c, 'guarded', { ip, ports: [{ name: 'http', port: 8080, targetPort: HTTP_PORT }] });
    await until(() => statusOf('default/guarded:http')?.state === 'reject', 'rejecting');
    assert.equal(await tryConnect(ip, 8080), 'ECONNREFUSED');
    await call(c, 'DELETE', `${NS}/services/guarded`);
    await until(() => !statusOf('default/guarded:http'), 'service removed');
    assert.equal(await tryConnect(ip, 8080), 'connected', 'reachable again once the Service is gone');
  });

  test('endpoint changes apply live; an established connection to a removed endpoint carries on', async () => {
    const ip = svcIP();
    await createService(c, 'live', { ip, ports: [{ name: 'http', port: 8080, targetPort: HTTP_PORT }] });
    await putSlice(c, 'live', [{ ip: A }, { ip: B }], [{ name: 'http', port: HTTP_PORT }]);
    await programmed('default/live:http', [`${A}:${HTTP_PORT}`, `${B}:${HTTP_PORT}`]);
    const { ask, close } = keepAliveClient(ip, 8080);
    const first = await ask();
    const other = first.name === 'a' ? B : A;
    await putSlice(c, 'live', [{ ip: other }], [{ name: 'http', port: HTTP_PORT }]);
    await programmed('default/live:http', [`${other}:${HTTP_PORT}`]);
    const again = await ask();
    assert.equal(again.localPort, first.localPort, 'the same connection');
    assert.equal(again.name, first.name, 'still going to the endpoint that left');
    close();
    assert.deepEqual(await sequential(4, () => fetchName(ip, 8080)), Array(4).fill(NAMES[other]));
    // The chain of the endpoint that left is flushed at once and deleted a moment later.
    const gone = first.name === 'a' ? A : B;
    await until(() => !nft('list', 'chains', 'ip').includes(`live/tcp/http__${gone}/${HTTP_PORT}`), 'stale endpoint chain deleted');
    assert.ok(nft('list', 'chains', 'ip').includes(`live/tcp/http__${other}/${HTTP_PORT}`));
  });

  test('terminating endpoints serve only while no ready endpoint exists', async () => {
    const ip = svcIP();
    await createService(c, 'term', { ip, ports: [{ name: 'http', port: 8080, targetPort: HTTP_PORT }] });
    await putSlice(c, 'term', [
      { ip: A, ready: false, serving: true, terminating: true },
      { ip: B, ready: false, serving: false, terminating: true },
    ], [{ name: 'http', port: HTTP_PORT }]);
    await programmed('default/term:http', [`${A}:${HTTP_PORT}`]);
    assert.deepEqual(await sequential(6, () => fetchName(ip, 8080)), Array(6).fill('a'));
    await putSlice(c, 'term', [
      { ip: A, ready: false, serving: true, terminating: true },
      { ip: B, ready: false, serving: false, terminating: true },
      { ip: C },
    ], [{ name: 'http', port: HTTP_PORT }]);
    await programmed('default/term:http', [`${C}:${HTTP_PORT}`]);
    assert.deepEqual(await sequential(6, () => fetchName(ip, 8080)), Array(6).fill('c'));
  });

  test('hairpin: an endpoint reaching its own Service through the ClusterIP is answered by itself', async () => {
    const ip = svcIP();
    await createService(c, 'hairpin', { ip, ports: [{ name: 'http', port: 8080, targetPort: HTTP_PORT }] });
    await putSlice(c, 'hairpin', [{ ip: A }], [{ name: 'http', port: HTTP_PORT }]);
    await programmed('default/hairpin:http', [`${A}:${HTTP_PORT}`]);
    assert.deepEqual(await sequential(3, () => fetchName(ip, 8080, A)), ['a', 'a', 'a']);
  });

  test('sessionAffinity ClientIP pins each client address to one endpoint; different clients spread', async () => {
    const ip = svcIP();
    await createService(c, 'sticky', { ip, ports: [{ name: 'http', port: 8080, targetPort: HTTP_PORT }], affinitySeconds: 10800 });
    await putSlice(c, 'sticky', [{ ip: A }, { ip: B }, { ip: C }], [{ name: 'http', port: HTTP_PORT }]);
    await programmed('default/sticky:http', [A, B, C].map((x) => `${x}:${HTTP_PORT}`));
    const perClient: Record<string, string[]> = {};
    for (const clientIP of ['127.0.0.41', '127.0.0.42', '127.0.0.43']) {
      perClient[clientIP] = await sequential(6, () => fetchName(ip, 8080, clientIP));
    }
    for (const [clientIP, names] of Object.entries(perClient)) assert.equal(new Set(names).size, 1, `${clientIP} stuck to one endpoint: ${names}`);
    assert.equal(new Set(Object.values(perClient).map((n) => n[0])).size, 3, 'three clients, three endpoints');
    // The pins are in the kernel: one timed set per endpoint.
    assert.match(nft('list', 'table', 'ip', TABLE), /127\.0\.0\.41 (timeout 3h )?expires/);
    // An endpoint that leaves releases its clients; the others stay pinned.
    const pinned = perClient['127.0.0.41']![0]!;
    const left = [A, B, C].filter((x) => NAMES[x] !== pinned);
    await putSlice(c, 'sticky', left.map((x) => ({ ip: x })), [{ name: 'http', port: HTTP_PORT }]);
    await programmed('default/sticky:http', left.map((x) => `${x}:${HTTP_PORT}`));
    const moved = await sequential(4, () => fetchName(ip, 8080, '127.0.0.41'));
    assert.equal(new Set(moved).size, 1);
    assert.notEqual(moved[0], pinned);
    assert.deepEqual(await sequential(3, () => fetchName(ip, 8080, '127.0.0.42')), Array(3).fill(perClient['127.0.0.42']![0]));
  });

  test('ClientIP affinity ends after timeoutSeconds without connections', async () => {
    const ip = svcIP();
    await createService(c, 'brief', { ip, ports: [{ name: 'http', port: 8080, targetPort: HTTP_PORT }], affinitySeconds: 1 });
    await putSlice(c, 'brief', [{ ip: A }, { ip: B }, { ip: C }], [{ name: 'http', port: HTTP_PORT }]);
    await programmed('default/brief:http', [A, B, C].map((x) => `${x}:${HTTP_PORT}`));
    const first = await fetchName(ip, 8080, '127.0.0.51');
    const second = await fetchName(ip, 8080, '127.0.0.52');
    assert.notEqual(first, second);
    assert.equal(await fetchName(ip, 8080, '127.0.0.51'), first, 'pinned within the timeout');
    await sleep(1500);
    // The rotation goes on to the third endpoint: the first client is no longer pinned.
    const later = await fetchName(ip, 8080, '127.0.0.51');
    assert.notEqual(later, first);
    assert.notEqual(later, second);
    assert.equal(await fetchName(ip, 8080, '127.0.0.51'), later, 'pinned anew');
  });

  test('NodePort: the node address at the nodePort reaches the Service too', async () => {
    const ip = svcIP();
    const nodePort = 30000 + Math.floor(Math.random() * 2700);
    await createService(c, 'np', { ip, type: 'NodePort', ports: [{ name: 'http', port: 8080, targetPort: HTTP_PORT, nodePort }] });
    await putSlice(c, 'np', [{ ip: B }], [{ name: 'http', port: HTTP_PORT }]);
    const s = await programmed('default/np:http', [`${B}:${HTTP_PORT}`]);
    assert.ok(s.frontends.includes(`${NODE_IP}:${nodePort}`), s.frontends.join(' '));
    assert.equal(await fetchName(NODE_IP, nodePort), 'b');
    assert.equal(await fetchName(ip, 8080), 'b');
    // Without endpoints the NodePort rejects too.
    await putSlice(c, 'np', [], [{ name: 'http', port: HTTP_PORT }]);
    await programmed('default/np:http', []);
    assert.match(nft('list', 'map', 'ip', TABLE, 'no-endpoint-nodeports'), new RegExp(`tcp \\. ${nodePort} : goto reject-chain`));
    assert.equal(await tryConnect(NODE_IP, nodePort), 'ECONNREFUSED');
    // Back to ClusterIP: the NodePort is gone.
    await putSlice(c, 'np', [{ ip: B }], [{ name: 'http', port: HTTP_PORT }]);
    const svc = await client.get<any>(`${NS}/services/np`);
    svc.spec.type = 'ClusterIP';
    delete svc.spec.ports[0].nodePort;
    await client.update(`${NS}/services/np`, svc);
    await until(() => { const st = statusOf('default/np:http'); return st && st.state === 'dnat' && st.frontends.length === 1; }, 'NodePort removed');
    assert.doesNotMatch(nft('list', 'table', 'ip', TABLE), new RegExp(`tcp \\. ${nodePort} :`));
  });

  test('UDP: flows are spread, each flow keeps its endpoint, replies come from the service address', async () => {
    const ip = svcIP();
    await createService(c, 'dns', { ip, ports: [{ name: 'dns', port: 53, targetPort: UDP_PORT, protocol: 'UDP' }] });
    await putSlice(c, 'dns', [{ ip: A }, { ip: B }, { ip: C }], [{ name: 'dns', port: UDP_PORT, protocol: 'UDP' }]);
    await programmed('default/dns:dns', [A, B, C].map((x) => `${x}:${UDP_PORT}`));
    const clients = await Promise.all([1, 2, 3].map(() => new Promise<dgram.Socket>((resolve) => {
      const s = dgram.createSocket('udp4');
      s.bind(0, '127.0.0.1', () => resolve(s));
    })));
    const ask = (s: dgram.Socket, msg: string) => new Promise<{ text: string; from: string }>((resolve) => {
      s.once('message', (m, r) => resolve({ text: m.toString(), from: `${r.address}:${r.port}` }));
      s.send(msg, 53, ip);
    });
    try {
      const firsts: string[] = [];
      for (const s of clients) {
        const r = await ask(s, 'hello');
        assert.equal(r.from, `${ip}:53`);
        assert.match(r.text, /^[abc]:hello$/);
        firsts.push(r.text.split(':')[0]!);
      }
      assert.deepEqual([...firsts].sort(), ['a', 'b', 'c'], 'three flows, three endpoints');
      for (const [i, s] of clients.entries()) assert.equal((await ask(s, 'again')).text, `${firsts[i]}:again`, 'a flow keeps its endpoint');
    } finally {
      for (const s of clients) s.close();
    }
  });

  test('metrics count the syncs', async () => {
    const text = await proxy.metrics.registry.metrics();
    assert.match(text, /kubeproxy_sync_proxy_rules_duration_seconds_count [1-9]/);
    assert.match(text, /kubeproxy_sync_proxy_rules_nftables_sync_failures_total 0/);
  });

  test('rules changed behind the proxy\'s back: the failed transaction is followed by a full sync that repairs them', async () => {
    const ip = svcIP();
    await createService(c, 'repair', { ip, ports: [{ name: 'http', port: 8080, targetPort: HTTP_PORT }] });
    await putSlice(c, 'repair', [{ ip: A }], [{ name: 'http', port: HTTP_PORT }]);
    await programmed('default/repair:http', [`${A}:${HTTP_PORT}`]);
    assert.equal(await fetchName(ip, 8080), 'a');
    nft('delete', 'element', 'ip', TABLE, 'service-ips', `{ ${ip} . tcp . 8080 }`);
    assert.equal(await tryConnect(ip, 8080), 'ECONNREFUSED', 'nothing listens behind the ClusterIP');
    // Deleting the element again (no endpoints now) fails, which forces the full sync.
    await putSlice(c, 'repair', [], [{ name: 'http', port: HTTP_PORT }]);
    await until(async () => /kubeproxy_sync_proxy_rules_nftables_sync_failures_total 1\b/.test(await proxy.metrics.registry.metrics()), 'the failure counted');
    await putSlice(c, 'repair', [{ ip: B }], [{ name: 'http', port: HTTP_PORT }]);
    await programmed('default/repair:http', [`${B}:${HTTP_PORT}`]);
    assert.equal(await fetchName(ip, 8080), 'b');
    // The other Services came through the full sync unharmed.
    assert.equal((await sequential(3, () => fetchName(`${SVC_NET}.2`, 8080))).length, 3);
  });

  test('random balancing (numgen random) spreads over every endpoint', async () => {
    await proxy.stop();
    ctx.informers.stop();
    await newProxy('random');
    await programmed('default/rr:http', [A, B, C].map((x) => `${x}:${HTTP_PORT}`));
    assert.match(nft('list', 'chain', 'ip', TABLE, serviceChainName('default', 'rr', 'tcp', 'http')), /numgen random mod 3 vmap/);
    const names = await sequential(60, () => fetchName(`${SVC_NET}.2`, 8080));
    const seen = count(names);
    assert.deepEqual(Object.keys(seen).sort(), ['a', 'b', 'c'], JSON.stringify(seen));
    assert.equal(names.every((n, i) => i < 3 || n === names[i - 3]), false, 'not a strict rotation');
  });

  test('stop() deletes the table: the service addresses no longer lead anywhere', async () => {
    await proxy.stop();
    assert.equal(tableExists(TABLE), false);
    assert.equal(await tryConnect(`${SVC_NET}.2`, 8080), 'ECONNREFUSED');
  });
});

describe('kubelite proxy --proxy-mode nftables', { skip }, () => {
  test('programs its table and deletes it on SIGTERM', async () => {
    const c = await startCluster({ args: ['--service-cidr', SERVICE_CIDR] });
    const table = `kubelite-cli-${process.pid}`;
    try {
      const cli = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/proxy.js');
      const child = spawn(process.execPath, ['--input-type=module', '-e',
        'const m = await import(process.argv[1]); await m.runProxy({ kubeconfig: process.argv[2], "proxy-mode": "nftables", "nftables-table": process.argv[3], "node-ip": process.argv[4], "metrics-bind-address": "" }, []);',
        cli, c.kubeconfig, table, NODE_IP], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (d) => { stderr += d; });
      const exited = new Promise<number | null>((resolve) => child.on('exit', (n) => resolve(n)));
      // The kubernetes Service (first address of the service CIDR) shows up in its map.
      await until(() => tableExists(table) && /127\.160\.0\.1 \. tcp \. 443 : goto service-/.test(nft('list', 'map', 'ip', table, 'service-ips')), 'table programmed', 30_000)
        .catch((e: Error) => { throw new Error(`${e.message}\n${stderr}`); });
      child.kill('SIGTERM');
      assert.equal(await exited, 0, stderr);
      assert.equal(tableExists(table), false);
    } finally {
      if (tableExists(table)) nft('delete', 'table', 'ip', table);
      await c.cleanup();
    }
  });
});

describe('kubelite proxy --proxy-mode nftables without root', { skip: process.getuid?.() !== 0 ? 'not root: cannot switch to an unprivileged user' : false }, () => {
  test('fails at once with a clear message', async () => {
    const c = await startCluster();
    const kubeconfigCopy = path.join(tmpdir(), `kubelite-nft-test-${process.pid}.kubeconfig`);
    try {
      writeFileSync(kubeconfigCopy, readFileSync(c.kubeconfig), { mode: 0o644 });
      const cli = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/proxy.js');
      const child = spawn(process.execPath, ['--input-type=module', '-e',
        'const m = await import(process.argv[1]); await m.runProxy({ kubeconfig: process.argv[2], "proxy-mode": "nftables", "metrics-bind-address": "" }, []);',
        cli, kubeconfigCopy], { uid: 65534, gid: 65534, stdio: ['ignore', 'ignore', 'pipe'], cwd: tmpdir() });
      let stderr = '';
      child.stderr!.on('data', (d) => { stderr += d; });
      const code = await new Promise<number | null>((resolve) => child.on('exit', (n) => resolve(n)));
      assert.notEqual(code, 0);
      assert.match(stderr, /nftables mode needs root \(CAP_NET_ADMIN\)/);
    } finally {
      rmSync(kubeconfigCopy, { force: true });
      await c.cleanup();
    }
  });
});
