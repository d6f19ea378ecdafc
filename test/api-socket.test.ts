// The API server's Unix socket (`kubelite up --api-socket`, ApiServer.listenUnix): plain HTTP on
// a 0600 file in the data directory, with the same handler as HTTPS. Requests, errors and watches
// answer the same on both; the token is still required; the file's life follows the server's
// (stale file replaced, live one refused, removed on stop); `up`'s components reach the API
// through it when asked (`--components-api socket`; their default is the in-process channel,
// test/api-channel.test.ts) and `kubelite agent --api-socket` does.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startCluster, KUBELITE, type Cluster } from './helpers/cluster.js';
import { until } from './helpers/wait.js';
import { RestClient, ApiStatusError, type WatchEvent } from '../src/client/rest.js';
import { MAX_SOCKET_PATH_BYTES } from '../src/apiserver/server.js';

const LEASES = '/apis/coordination.k8s.io/v1/namespaces/default/leases';

const socketOf = (c: Cluster) => path.join(c.dataDir, 'api.sock');
/** Clients with the admin token, or with `token` (undefined: none). */
const httpsClient = (c: Cluster, ...token: [string | undefined] | []) => new RestClient({ server: c.url, caPem: c.caPem, token: token.length ? token[0] : c.token });
const socketClient = (c: Cluster, ...token: [string | undefined] | []) => new RestClient({ server: c.url, socketPath: socketOf(c), token: token.length ? token[0] : c.token });

/** The Status an operation fails with (it must fail). */
async function statusOf(op: Promise<unknown>): Promise<unknown> {
  const e = await op.then(() => undefined, (err: unknown) => err);
  assert.ok(e instanceof ApiStatusError, `expected an ApiStatusError, got ${String(e)}`);
  return e.status;
}

/** `kubelite up` that must fail to start: its exit code and stderr. */
function upFails(dataDir: string, args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [KUBELITE, 'up', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--disable', 'controllers,scheduler,nodes,proxy', ...args],
      { timeout: 60_000 }, (error, _stdout, stderr) => resolve({ code: typeof error?.code === 'number' ? error.code : 0, stderr }));
  });
}

/** Established TCP connections to `port` as /proc/net/tcp shows them (the server's side of each). */
function tcpConnectionsTo(port: number): number {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  return readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)
    .filter((line) => {
      const [, local, , state] = line.trim().split(/\s+/);
      return local?.endsWith(`:${hexPort}`) && state === '01';
    }).length;
}

/** Connected sockets on the server's side of the Unix socket at `file` (/proc/net/unix lists them with its path). */
function unixConnectionsTo(file: string): number {
  return readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)
    .filter((line) => {
      const f = line.trim().split(/\s+/);
      // Num RefCount Protocol Flags Type St Inode Path; St 03: connected.
      return f[7] === file && f[5] === '03';
    }).length;
}

describe('the API socket answers as HTTPS does', () => {
  let c: Cluster;
  let overTLS: RestClient, overSocket: RestClient;
  before(async () => {
    c = await startCluster();
    overTLS = httpsClient(c);
    overSocket = socketClient(c);
  });
  after(async () => {
    overTLS?.close();
    overSocket?.close();
    await c?.cleanup();
  });

  test('the socket is a 0600 file in the data directory', () => {
    const st = lstatSync(socketOf(c));
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
  });

  test('GET, POST, PATCH and DELETE give the same objects; errors the same Status', async () => {
    assert.deepEqual(await overSocket.get('/api/v1/namespaces/default'), await overTLS.get('/api/v1/namespaces/default'));
    const created = await overSocket.create<{ metadata: { name: string } }>(LEASES, { metadata: { name: 'over-socket' }, spec: { holderIdentity: 'a' } });
    assert.equal(created.metadata.name, 'over-socket');
    assert.deepEqual(await overTLS.get(`${LEASES}/over-socket`), created);
    const body = { metadata: { name: 'over-socket' }, spec: { holderIdentity: 'a' } };
    const conflict = await statusOf(overSocket.create(LEASES, body));
    assert.equal((conflict as { reason: string }).reason, 'AlreadyExists');
    assert.deepEqual(conflict, await statusOf(overTLS.create(LEASES, body)));
    assert.deepEqual(await statusOf(overSocket.get(`${LEASES}/missing`)), await statusOf(overTLS.get(`${LEASES}/missing`)));
    const patched = await overSocket.patch<{ spec: Record<string, unknown> }>(`${LEASES}/over-socket`, { spec: { leaseDurationSeconds: 5 } }, 'merge');
    assert.deepEqual(patched.spec, { holderIdentity: 'a', leaseDurationSeconds: 5 });
    assert.deepEqual(await overTLS.get(`${LEASES}/over-socket`), patched);
    await overSocket.delete(`${LEASES}/over-socket`);
    assert.equal((await statusOf(overTLS.get(`${LEASES}/over-socket`)) as { code: number }).code, 404);
  });

  test('no token: 401 on the socket as on HTTPS', async () => {
    const anonymousTLS = httpsClient(c, undefined), anonymousSocket = socketClient(c, undefined);
    try {
      const status = await statusOf(anonymousSocket.get(LEASES));
      assert.equal((status as { code: number }).code, 401);
      assert.deepEqual(status, await statusOf(anonymousTLS.get(LEASES)));
      assert.equal((await statusOf(socketClient(c, 'not-a-token').get(LEASES)) as { code: number }).code, 401);
    } finally {
      anonymousTLS.close();
      anonymousSocket.close();
    }
  });

  test('a body over the limit: 413 on the socket as on HTTPS', async () => {
    const big = { metadata: { name: 'too-big', annotations: { a: 'x'.repeat(3.5 * 1024 * 1024) } } };
    const status = await statusOf(overSocket.create(LEASES, big));
    assert.equal((status as { code: number }).code, 413);
    assert.deepEqual(status, await statusOf(overTLS.create(LEASES, big)));
  });

  test('a watch on the socket sees the events a watch on HTTPS sees; a failing watch fails alike', async () => {
    const list = await overTLS.get<{ metadata: { resourceVersion: string } }>(LEASES);
    const seen: Record<string, WatchEvent[]> = { tls: [], socket: [] };
    const query = { resourceVersion: list.metadata.resourceVersion };
    const watches = [
      overTLS.watch(LEASES, query, (e) => seen.tls!.push(e)),
      overSocket.watch(LEASES, query, (e) => seen.socket!.push(e)),
    ];
    try {
      await overTLS.create(LEASES, { metadata: { name: 'watched' } });
      await overTLS.delete(`${LEASES}/watched`);
      await until(() => seen.tls!.length >= 2 && seen.socket!.length >= 2, 'both watches to see the create and the delete', 30_000);
      assert.deepEqual(seen.socket!.map((e) => e.type), ['ADDED', 'DELETED']);
      assert.deepEqual(seen.socket, seen.tls);
    } finally {
      for (const w of watches) w.stop();
    }
    const failing = (client: RestClient) => client.watch('/api/v1/namespaces/default/nosuchthings', {}, () => {}).done;
    const status = await statusOf(failing(overSocket));
    assert.equal((status as { code: number }).code, 404);
    assert.deepEqual(status, await statusOf(failing(overTLS)));
  });
});

describe('the API socket file follows the server', () => {
  const dirs: string[] = [];
  const tempDir = () => {
    const d = mkdtempSync(path.join(tmpdir(), 'kubelite-sock-'));
    dirs.push(d);
    return d;
  };
  after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

  test('removed on stop; a stale file (server killed) replaced at start; a live one refused', async () => {
    const c = await startCluster();
    try {
      assert.ok(existsSync(socketOf(c)));
      await c.stop();
      assert.ok(!existsSync(socketOf(c)), 'the socket file is removed on stop');
      await c.restart();
      await c.stop('SIGKILL');
      assert.ok(lstatSync(socketOf(c)).isSocket(), 'a killed server leaves its socket file');
      await c.restart();
      const client = socketClient(c);
      try {
        assert.ok(await client.get('/api/v1/namespaces/default'), 'the new server answers on the replaced file');
      } finally {
        client.close();
      }
      const second = await upFails(tempDir(), ['--api-socket', socketOf(c)]);
      assert.notEqual(second.code, 0);
      assert.match(second.stderr, /another server is listening on/);
      assert.ok(lstatSync(socketOf(c)).isSocket(), 'the live server keeps its socket');
    } finally {
      await c.cleanup();
    }
  });

  test('a path that is not a socket, or too long for one, is refused with a clear error', async () => {
    const notSocket = path.join(tempDir(), 'file');
    writeFileSync(notSocket, 'keep me');
    const r1 = await upFails(tempDir(), ['--api-socket', notSocket]);
    assert.notEqual(r1.code, 0);
    assert.match(r1.stderr, /exists and is not a socket/);
    assert.equal(readFileSync(notSocket, 'utf8'), 'keep me');
    const long = path.join(tempDir(), 'x'.repeat(MAX_SOCKET_PATH_BYTES));
    const r2 = await upFails(tempDir(), ['--api-socket', long]);
    assert.notEqual(r2.code, 0);
    assert.match(r2.stderr, /longer than the 107 a Unix socket address holds/);
  });

  test('--api-socket "" serves no socket', async () => {
    const c = await startCluster({ args: ['--api-socket', ''] });
    try {
      assert.ok(!existsSync(socketOf(c)));
      assert.equal((await c.request('GET', '/api/v1/namespaces/default')).status, 200);
    } finally {
      await c.cleanup();
    }
  });
});

describe('components on the socket', () => {
  const readyNodes = async (client: RestClient) => {
    const nodes = await client.get<{ items: { status?: { conditions?: { type: string; status: string }[] } }[] }>('/api/v1/nodes');
    return nodes.items.filter((n) => n.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True')).length;
  };

  test("up's components reach the API by its in-process channel, or by the socket or HTTPS when asked", async () => {
    const cases = [
      { args: [], tcp: false, unix: false },
      // The channel needs no socket: without one the components still make no connection.
      { args: ['--api-socket', ''], tcp: false, unix: false },
      { args: ['--components-api', 'socket'], tcp: false, unix: true },
      { args: ['--components-api', 'https'], tcp: true, unix: false },
    ];
    for (const k of cases) {
      const c = await startCluster({ components: true, args: ['--nodes', 'node01', ...k.args] });
      const port = Number(new URL(c.url).port);
      try {
        // Waited for over HTTPS, then that client is closed: what stays connected is the components'.
        const client = httpsClient(c);
        await until(async () => (await readyNodes(client)) === 1, 'node01 Ready');
        client.close();
        const what = `up ${k.args.join(' ')}`;
        await until(() => (tcpConnectionsTo(port) > 0) === k.tcp, `${what}: components ${k.tcp ? 'do' : 'do not'} connect over TCP`);
        await until(() => (unixConnectionsTo(socketOf(c)) > 0) === k.unix, `${what}: components ${k.unix ? 'do' : 'do not'} connect to the API socket`);
      } finally {
        await c.cleanup();
      }
    }
  });

  test('kubelite agent --api-socket registers its node and heartbeats through the socket', async () => {
    const c = await startCluster();
    const agent = spawn(process.execPath, [KUBELITE, 'agent', '--kubeconfig', c.kubeconfig, '--api-socket', socketOf(c), '--node', 'sock01'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let logs = '';
    agent.stderr!.on('data', (d) => { logs += d; });
    const client = socketClient(c);
    try {
      // Without controllers the node has no pod CIDR and stays NotReady: registered and heartbeating is what the agent does alone.
      await until(async () => (await client.get('/api/v1/nodes/sock01')) && (await client.get('/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/sock01')), 'node sock01 registered with its Lease')
        .catch((e: Error) => assert.fail(`${e.message}\nagent logs: ${logs}`));
      assert.equal(tcpConnectionsTo(Number(new URL(c.url).port)), 0, 'the agent does not use TCP');
    } finally {
      client.close();
      await new Promise<void>((resolve) => {
        if (agent.exitCode !== null) return resolve();
        agent.once('exit', () => resolve());
        agent.kill('SIGTERM');
      });
      await c.cleanup();
    }
  });
});
