// The nftables service proxy (src/proxy/nftables*.ts). The rule text is checked without root;
// against the kernel (root and the nft binary, as in CI) the proxy runs in the test process and
// programs a table of its own (`ip kubelite-test-<pid>`) for a real server with a service CIDR
// of its own (127.160.0.0/16), backends on 127.78.x.y and a node address of its own for
// NodePorts — so nothing collides with the userspace proxy tests running in another process,
// since nftables rules apply to the whole host. The scenarios every proxy mode shares
// (test/helpers/proxy-scenarios.ts: balancing, refusal without endpoints, live changes,
// terminating endpoints, ClientIP affinity and its timeout, NodePort, UDP, half-close...) run
// here with checks of the rules in the kernel added; then what is nftables' own: the table's
// life cycle (leftover replaced, deleted at stop), the refusal coming from the table, repair
// after rules changed behind the proxy's back, and `kubelite proxy --proxy-mode nftables`.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCluster, type Cluster } from './helpers/cluster.js';
import { call } from './helpers/run-controllers.js';
import { until } from './helpers/wait.js';
import { createService, putSlice, fetchName, sequential, listen, tryConnect, startBackends, type Backends } from './helpers/proxy-api.js';
import { SCENARIOS, RESTART_SCENARIOS, runScenarios, service, serviceIP, type BalanceMode, type ProxyUnderTest } from './helpers/proxy-scenarios.js';
import { RestClient } from '../src/client/rest.js';
import { controllerContext, type ControllerContext } from '../src/client/factory.js';
import { NftablesProxy, nftablesUnavailable, type NftServicePortStatus } from '../src/proxy/nftables.js';
import { ConntrackCleaner, changedUdpServing, frontendListingFilter, parseUdpFlows, staleFilters } from '../src/proxy/conntrack.js';
import { buildServiceRules, emptyRules, partialSyncScript, serviceChainName, fullSyncScript, setupScript } from '../src/proxy/nftables-rules.js';

const NS = '/api/v1/namespaces/default';
const SERVICE_CIDR = '127.160.0.0/16';
const SVC_NET = `127.160.${1 + Math.floor(Math.random() * 254)}`;
const BACKEND_NET = `127.78.${1 + Math.floor(Math.random() * 254)}`;
const NODE_IP = `127.161.${1 + Math.floor(Math.random() * 254)}.1`;
const HTTP_PORT = 18081;
const UDP_PORT = 15354;
const TABLE = `kubelite-test-${process.pid}`;

// ---- helpers ------------------------------------------------------------------------------------

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

  test('UDP frontends keep their serving endpoints (terminating too) for the conntrack cleanup', () => {
    const udp = {
      metadata: { namespace: 'default', name: 'dns' },
      spec: { type: 'NodePort', clusterIP: '127.96.0.53', clusterIPs: ['127.96.0.53'], ports: [{ name: 'dns', port: 53, protocol: 'UDP', nodePort: 30053 }] },
    } as any;
    const slices = [{
      metadata: { name: 'dns-1' }, addressType: 'IPv4',
      endpoints: [
        { addresses: ['127.0.1.1'], conditions: { ready: true, serving: true } },
        { addresses: ['127.0.1.2'], conditions: { ready: false, serving: true, terminating: true } },
        { addresses: ['127.0.1.3'], conditions: { ready: false, serving: false } },
      ],
      ports: [{ name: 'dns', port: 5353, protocol: 'UDP' }],
    }] as any;
    const r = buildServiceRules(udp, slices, { mode: 'round-robin', nodeIP: '127.0.0.1' });
    assert.deepEqual([...r.udpServing], [['127.96.0.53:53', ['127.0.1.1', '127.0.1.2']], ['*:30053', ['127.0.1.1', '127.0.1.2']]]);
    // TCP ports have none.
    assert.equal(buildServiceRules(svc(), [slice('127.0.1.1')], { mode: 'round-robin', nodeIP: '127.0.0.1' }).udpServing.size, 0);
  });

  test('conntrack listing: flows to a frontend answered by no serving endpoint are the stale ones', () => {
    const listing = [
      'udp      17 29 src=127.0.0.1 dst=127.96.0.53 sport=40001 dport=53 src=127.0.1.1 dst=127.0.0.1 sport=5353 dport=40001 mark=0 use=1',
      'udp      17 29 src=127.0.0.1 dst=127.96.0.53 sport=40002 dport=53 src=127.0.1.9 dst=127.0.0.1 sport=5353 dport=40002 mark=0 use=1',
      // Rejected while the Service had no endpoint: never translated, the reply comes from the ClusterIP.
      'udp      17 29 src=127.0.0.1 dst=127.96.0.53 sport=40003 dport=53 [UNREPLIED] src=127.96.0.53 dst=127.0.0.1 sport=53 dport=40003 mark=0 use=1',
      'udp      17 29 src=127.0.0.5 dst=127.0.0.1 sport=40004 dport=30053 src=127.0.1.9 dst=127.0.0.5 sport=5353 dport=40004 mark=0 use=1',
      // Not a Service frontend: left alone.
      'udp      17 29 src=127.0.0.1 dst=127.0.0.7 sport=40005 dport=99 src=127.0.0.7 dst=127.0.0.1 sport=99 dport=40005 mark=0 use=1',
    ].join('\n');
    const flows = parseUdpFlows(listing);
    assert.equal(flows.length, 5);
    assert.deepEqual(flows[0], { origDst: '127.96.0.53', origDport: 53, replySrc: '127.0.1.1' });
    const serving = new Map([['127.96.0.53:53', ['127.0.1.1']], ['*:30053', ['127.0.1.1']]]);
    assert.deepEqual(staleFilters(flows, serving), [
      { origDst: '127.96.0.53', origDport: 53, replySrc: '127.0.1.9' },
      { origDst: '127.96.0.53', origDport: 53, replySrc: '127.96.0.53' },
      { origDport: 30053, replySrc: '127.0.1.9' },
    ]);
  });

  test('a change cleans only the UDP frontends whose serving endpoints changed', () => {
    const before = new Map([['127.96.0.53:53', ['127.0.1.1', '127.0.1.2']], ['*:30053', ['127.0.1.1', '127.0.1.2']], ['127.96.0.54:53', ['127.0.1.5']]]);
    const after = new Map([['127.96.0.53:53', ['127.0.1.1']], ['*:30053', ['127.0.1.1']], ['127.96.0.54:53', ['127.0.1.5']], ['127.96.0.55:53', ['127.0.1.6']]]);
    assert.deepEqual([...changedUdpServing(before, after).keys()], ['127.96.0.53:53', '*:30053', '127.96.0.55:53']);
    assert.deepEqual([...changedUdpServing(undefined, after).keys()], [...after.keys()]);
    // Gone, or without a serving endpoint: nothing to clean (no entry in `after`).
    assert.equal(changedUdpServing(before, new Map()).size, 0);
    assert.deepEqual(frontendListingFilter('127.96.0.53:53'), ['--orig-dst', '127.96.0.53', '--orig-port-dst', '53']);
    assert.deepEqual(frontendListingFilter('*:30053'), ['--orig-port-dst', '30053']);
  });

  test('the cleanup lists only the flows of a few frontends, and every UDP flow once for many', async () => {
    // A stand-in for the CLI: records its arguments, lists one flow per frontend asked for (or
    // one per frontend of the test for an unfiltered listing), each answered by 127.0.1.9.
    const dir = mkdtempSync(path.join(tmpdir(), 'fake-conntrack-'));
    const calls = path.join(dir, 'calls');
    const fake = path.join(dir, 'conntrack');
    writeFileSync(fake, `#!/bin/sh
echo "$*" >> ${calls}
case "$1" in -D) echo "conntrack: 1 flow entries have been deleted." >&2; exit 0 ;; esac
dst=""; port=""
while [ $# -gt 0 ]; do case "$1" in --orig-dst) dst=$2; shift ;; --orig-port-dst) port=$2; shift ;; esac; shift; done
if [ -n "$port" ]; then
  echo "udp      17 29 src=127.0.0.1 dst=\${dst:-127.0.0.1} sport=40001 dport=$port src=127.0.1.9 dst=127.0.0.1 sport=5353 dport=40001 mark=0 use=1"
else
  for i in $(seq 1 10); do echo "udp      17 29 src=127.0.0.1 dst=127.96.1.$i sport=40001 dport=53 src=127.0.1.9 dst=127.0.0.1 sport=5353 dport=40001 mark=0 use=1"; done
fi
`);
    chmodSync(fake, 0o755);
    const log = { warn: (o: unknown, msg: string) => { throw new Error(`${msg} ${JSON.stringify(o)}`); }, debug: () => {} } as any;
    const cleaner = new ConntrackCleaner(fake, log);
    const callsMade = () => readFileSync(calls, 'utf8').trim().split('\n');
    try {
      assert.equal(await cleaner.clean(new Map([['127.96.0.53:53', ['127.0.1.1']], ['*:30053', ['127.0.1.1']]])), 2);
      assert.deepEqual(callsMade(), [
        '-L -p udp -f ipv4 --orig-dst 127.96.0.53 --orig-port-dst 53',
        '-L -p udp -f ipv4 --orig-port-dst 30053',
        '-D -p udp --orig-dst 127.96.0.53 --orig-port-dst 53 --reply-src 127.0.1.9',
        '-D -p udp --orig-port-dst 30053 --reply-src 127.0.1.9',
      ]);
      rmSync(calls);
      const many = new Map(Array.from({ length: 10 }, (_, i) => [`127.96.1.${i + 1}:53`, ['127.0.1.1']]));
      assert.equal(await cleaner.clean(many), 10);
      const made = callsMade();
      assert.deepEqual(made.filter((c) => c.startsWith('-L')), ['-L -p udp -f ipv4']);
      assert.equal(made.filter((c) => c.startsWith('-D')).length, 10);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('without the conntrack binary the cleanup says so once and does nothing', async () => {
    const warnings: string[] = [];
    const log = { warn: (_: unknown, msg: string) => { warnings.push(msg); }, debug: () => {} } as any;
    const cleaner = new ConntrackCleaner('/nonexistent/conntrack', log);
    await cleaner.probe();
    assert.equal(await cleaner.clean(new Map([['127.96.0.53:53', ['127.0.1.1']]])), 0);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /cannot clear conntrack entries/);
  });

  test('a missing nft binary is reported as such', async () => {
    assert.match((await nftablesUnavailable('/nonexistent/nft'))!, /binary was not found \(install the nftables package/);
  });
});

// ---- against the kernel -------------------------------------------------------------------------

const unavailable = await nftablesUnavailable();
const conntrackInstalled = spawnSync('conntrack', ['--version']).status === 0;
const skip = process.getuid?.() !== 0 ? 'needs root' : unavailable ? `nftables not usable: ${unavailable}` : false;

describe('nftables proxy', { skip }, () => {
  let c: Cluster;
  let client: RestClient;
  let ctx: ControllerContext;
  let proxy: NftablesProxy;
  let backends: Backends;
  let nextIP = 2;

  const statusOf = (servicePort: string): NftServicePortStatus | undefined => proxy.status().find((s) => s.servicePort === servicePort);
  const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

  const newProxy = async (mode: BalanceMode = 'round-robin') => {
    ctx = controllerContext(client);
    proxy = new NftablesProxy(ctx, { mode, nodeIP: NODE_IP, table: TABLE });
    await proxy.start();
  };

  const underTest: ProxyUnderTest = {
    get cluster() { return c; },
    get client() { return client; },
    get backends() { return backends; },
    nodeIP: NODE_IP,
    nextServiceIP: () => `${SVC_NET}.${nextIP++}`,
    rotations: 1,
    // The proxy deletes stale UDP conntrack entries with the conntrack CLI, when it is installed.
    udpFlowsLeaveGoneEndpoints: conntrackInstalled,
    programmed: async (servicePort, endpoints) => {
      await until(() => {
        const s = statusOf(servicePort);
        return s && s.endpoints.join(',') === endpoints.join(',') && s.state === (endpoints.length ? 'dnat' : 'reject');
      }, `${servicePort} programmed with ${endpoints.join(',') || 'no endpoints'}`);
    },
    rejecting: async (servicePort) => {
      const s = await until(() => statusOf(servicePort), `${servicePort} known`);
      assert.equal(s.state, 'reject');
      // Every frontend is an element of a reject map: ClusterIPs by address, NodePorts by port.
      const proto = s.protocol.toLowerCase();
      for (const fe of s.frontends) {
        const [address, port] = [fe.slice(0, fe.lastIndexOf(':')), fe.slice(fe.lastIndexOf(':') + 1)];
        const [map, key] = address === NODE_IP ? ['no-endpoint-nodeports', `${proto} . ${port}`] : ['no-endpoint-services', `${address} . ${proto} . ${port}`];
        assert.match(nft('list', 'map', 'ip', TABLE, map), new RegExp(`${escape(key)} : goto reject-chain`));
      }
    },
    refused: async (host, port) => {
      assert.equal(await tryConnect(host, port), 'ECONNREFUSED');
    },
    forgotten: async (servicePort, ip) => {
      await until(() => !statusOf(servicePort), `${servicePort} removed`);
      assert.doesNotMatch(nft('list', 'table', 'ip', TABLE), new RegExp(`${escape(ip)} `));
    },
    nodePortOpen: async (servicePort, nodePort) => {
      await until(() => statusOf(servicePort)?.frontends.includes(`${NODE_IP}:${nodePort}`), `${servicePort} at ${NODE_IP}:${nodePort}`);
    },
    nodePortClosed: async (servicePort, nodePort) => {
      await until(() => { const s = statusOf(servicePort); return s && !s.frontends.includes(`${NODE_IP}:${nodePort}`); }, 'NodePort removed');
      assert.doesNotMatch(nft('list', 'table', 'ip', TABLE), new RegExp(`tcp \\. ${nodePort} :`));
    },
    restart: async (mode) => {
      await proxy.stop();
      ctx.informers.stop();
      await newProxy(mode);
    },
    checks: {
      balancing: (service, portName, mode, endpoints) => {
        const rule = new RegExp(`numgen ${mode === 'random' ? 'random' : 'inc'} mod ${endpoints} vmap`);
        assert.match(nft('list', 'chain', 'ip', TABLE, serviceChainName('default', service, 'tcp', portName)), rule);
      },
      // The chain of the endpoint that left is flushed at once and deleted a moment later.
      endpointLeft: async (service, portName, gone, kept) => {
        const chain = (endpoint: string) => `${service}/tcp/${portName}__${endpoint.replace(/:(\d+)$/, '/$1')}`;
        await until(() => !nft('list', 'chains', 'ip').includes(chain(gone)), 'stale endpoint chain deleted');
        assert.ok(nft('list', 'chains', 'ip').includes(chain(kept)));
      },
      // The pins are in the kernel: one timed set per endpoint.
      pinned: (clientIP) => {
        assert.match(nft('list', 'table', 'ip', TABLE), new RegExp(`${escape(clientIP)} (timeout 3h )?expires`));
      },
    },
  };

  before(async () => {
    c = await startCluster({ args: ['--service-cidr', SERVICE_CIDR] });
    client = await RestClient.fromKubeconfig(c.kubeconfig, 'proxy-nftables-test');
    backends = await startBackends(BACKEND_NET, HTTP_PORT, UDP_PORT);
    // A table left behind by a crashed run: replaced at start.
    execFileSync('nft', ['-f', '-'], { input: `add table ip ${TABLE}\nadd chain ip ${TABLE} leftover-from-a-crash\n` });
    await newProxy();
  });

  after(async () => {
    await proxy?.stop().catch(() => {});
    ctx?.informers.stop();
    client?.close();
    backends?.close();
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

  runScenarios(SCENARIOS, underTest);

  test('the refusal comes from the table: a listener on the ClusterIP itself is not reached', async () => {
    // ClusterIPs are local addresses here, so an empty one refuses by itself; a listener on it
    // shows that the rule (reject from the nat chains) is what refuses.
    const ip = underTest.nextServiceIP();
    const squatter = net.createServer((s) => s.end('squatter\n'));
    await listen(squatter, ip, 8080);
    backends.track(squatter);
    assert.equal(await tryConnect(ip, 8080), 'connected', 'reachable before the Service exists');
    await createService(c, 'guarded', { ip, ports: [{ name: 'http', port: 8080, targetPort: HTTP_PORT }] });
    await until(() => statusOf('default/guarded:http')?.state === 'reject', 'rejecting');
    assert.equal(await tryConnect(ip, 8080), 'ECONNREFUSED');
    await call(c, 'DELETE', `${NS}/services/guarded`);
    await until(() => !statusOf('default/guarded:http'), 'service removed');
    assert.equal(await tryConnect(ip, 8080), 'connected', 'reachable again once the Service is gone');
  });

  test('metrics count the syncs', async () => {
    const text = await proxy.metrics.registry.metrics();
    assert.match(text, /kubeproxy_sync_proxy_rules_duration_seconds_count [1-9]/);
    assert.match(text, /kubeproxy_sync_proxy_rules_nftables_sync_failures_total 0/);
  });

  test('rules changed behind the proxy\'s back: the failed transaction is followed by a full sync that repairs them', async () => {
    const ip = await service(underTest, 'repair', { ports: [{ name: 'http', port: 8080, targetPort: HTTP_PORT }] });
    await putSlice(c, 'repair', [{ ip: backends.A }], [{ name: 'http', port: HTTP_PORT }]);
    await underTest.programmed('default/repair:http', [`${backends.A}:${HTTP_PORT}`]);
    assert.equal(await fetchName(ip, 8080), 'a');
    nft('delete', 'element', 'ip', TABLE, 'service-ips', `{ ${ip} . tcp . 8080 }`);
    assert.equal(await tryConnect(ip, 8080), 'ECONNREFUSED', 'nothing listens behind the ClusterIP');
    // Deleting the element again (no endpoints now) fails, which forces the full sync.
    await putSlice(c, 'repair', [], [{ name: 'http', port: HTTP_PORT }]);
    await until(async () => /kubeproxy_sync_proxy_rules_nftables_sync_failures_total 1\b/.test(await proxy.metrics.registry.metrics()), 'the failure counted');
    await putSlice(c, 'repair', [{ ip: backends.B }], [{ name: 'http', port: HTTP_PORT }]);
    await underTest.programmed('default/repair:http', [`${backends.B}:${HTTP_PORT}`]);
    assert.equal(await fetchName(ip, 8080), 'b');
    // The other Services came through the full sync unharmed.
    assert.equal((await sequential(3, () => fetchName(serviceIP(underTest, 'rr'), 8080))).length, 3);
  });

  runScenarios(RESTART_SCENARIOS, underTest);

  test('stop() deletes the table: the service addresses no longer lead anywhere', async () => {
    await proxy.stop();
    assert.equal(tableExists(TABLE), false);
    assert.equal(await tryConnect(serviceIP(underTest, 'rr'), 8080), 'ECONNREFUSED');
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
