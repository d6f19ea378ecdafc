// The in-process API channel (src/apiserver/channel.ts, src/client/channel.ts): how `up`'s
// component threads reach its API server. Over a MessagePort, a RestClient must see what it sees
// over HTTPS — objects, Status errors, watch events, a 410 on an expired resourceVersion, a LIST
// bigger than the flow-control window — and the transport must keep a socket's behaviour: flow
// control with acks, a reset before the head fails the request, a stopped watch closes the
// server's response, a closed port fails what is open. `up --components-api` picks the transport.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import { startApiServer, type RunningApiServer } from '../src/apiserver/index.js';
import { ApiChannelServer, REQUESTS_PER_TURN, type ChannelRequest, type ChannelResponse } from '../src/apiserver/channel.js';
import { ApiChannel } from '../src/client/channel.js';
import { RestClient, ApiStatusError, type WatchEvent } from '../src/client/rest.js';
import { logger } from '../src/util/log.js';
import { KUBELITE } from './helpers/cluster.js';
import { until } from './helpers/wait.js';

const LEASES = '/apis/coordination.k8s.io/v1/namespaces/default/leases';

/** A server side and a client side joined by a fresh MessageChannel (both in this thread). */
function channelPair(handler: (req: ChannelRequest, res: ChannelResponse) => void): { server: ApiChannelServer; client: ApiChannel; closePort(): void } {
  const { port1, port2 } = new MessageChannel();
  const server = new ApiChannelServer(handler);
  server.attach(port1);
  return { server, client: new ApiChannel(port2), closePort: () => port1.close() };
}

async function statusOf(op: Promise<unknown>): Promise<unknown> {
  const e = await op.then(() => undefined, (err: unknown) => err);
  assert.ok(e instanceof ApiStatusError, `expected an ApiStatusError, got ${String(e)}`);
  return e.status;
}

describe('a RestClient on the channel sees what it sees over HTTPS', () => {
  let dataDir: string;
  let api: RunningApiServer;
  let channelServer: ApiChannelServer;
  let overTLS: RestClient, overChannel: RestClient;
  before(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'kubelite-channel-'));
    api = await startApiServer({ dataDir, listen: '127.0.0.1:0', log: logger('test') });
    api.server.setReady(true);
    const { port1, port2 } = new MessageChannel();
    channelServer = new ApiChannelServer((req, res) => api.server.serveInProcess(req, res));
    channelServer.attach(port1);
    overTLS = new RestClient({ server: api.url, caPem: api.credentials.caPem, token: api.adminToken });
    overChannel = new RestClient({ server: api.url, token: api.adminToken, channel: new ApiChannel(port2) });
  });
  after(async () => {
    overTLS?.close();
    overChannel?.close();
    channelServer?.close();
    await api?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('GET, POST, PATCH and DELETE give the same objects; errors the same Status', async () => {
    assert.deepEqual(await overChannel.get('/api/v1/namespaces/default'), await overTLS.get('/api/v1/namespaces/default'));
    const created = await overChannel.create<{ metadata: { name: string } }>(LEASES, { metadata: { name: 'over-channel' }, spec: { holderIdentity: 'a' } });
    assert.equal(created.metadata.name, 'over-channel');
    assert.deepEqual(await overTLS.get(`${LEASES}/over-channel`), created);
    const body = { metadata: { name: 'over-channel' }, spec: { holderIdentity: 'a' } };
    const conflict = await statusOf(overChannel.create(LEASES, body));
    assert.equal((conflict as { reason: string }).reason, 'AlreadyExists');
    assert.deepEqual(conflict, await statusOf(overTLS.create(LEASES, body)));
    assert.deepEqual(await statusOf(overChannel.get(`${LEASES}/missing`)), await statusOf(overTLS.get(`${LEASES}/missing`)));
    const patched = await overChannel.patch<{ spec: Record<string, unknown> }>(`${LEASES}/over-channel`, { spec: { leaseDurationSeconds: 5 } }, 'strategic');
    assert.deepEqual(patched.spec, { holderIdentity: 'a', leaseDurationSeconds: 5 });
    // The answer without managedFields, cut from its bytes on this side too.
    const trimmed = await overChannel.patch<{ metadata: Record<string, unknown> }>(`${LEASES}/over-channel`, { spec: { leaseDurationSeconds: 6 } }, 'merge', undefined, { omitManagedFields: true });
    assert.equal(trimmed.metadata.managedFields, undefined);
    assert.equal(trimmed.metadata.name, 'over-channel');
    await overChannel.delete(`${LEASES}/over-channel`);
    assert.equal((await statusOf(overTLS.get(`${LEASES}/over-channel`)) as { code: number }).code, 404);
  });

  test('the token is checked as on HTTPS', async () => {
    const { port1, port2 } = new MessageChannel();
    channelServer.attach(port1);
    const anonymous = new RestClient({ server: api.url, channel: new ApiChannel(port2) });
    const wrong = new RestClient({ server: api.url, token: 'not-a-token', channel: anonymous.config.channel });
    try {
      assert.equal((await statusOf(anonymous.get(LEASES)) as { code: number }).code, 401);
      assert.equal((await statusOf(wrong.get(LEASES)) as { code: number }).code, 401);
    } finally {
      port1.close();
    }
  });

  test('a LIST larger than the flow-control window arrives whole', async () => {
    // 40 objects of 16 KB: the answer is written in chunks, each waiting for the client's ack.
    const big = 'x'.repeat(16 * 1024);
    await Promise.all(Array.from({ length: 40 }, (_, i) => overTLS.create(LEASES, { metadata: { name: `big-${i}`, labels: { big: 'yes' }, annotations: { big } } })));
    const viaChannel = await overChannel.get<{ items: { metadata: { name: string } }[] }>(LEASES, { labelSelector: 'big=yes' });
    const viaTLS = await overTLS.get<{ items: unknown[] }>(LEASES, { labelSelector: 'big=yes' });
    assert.equal(viaChannel.items.length, 40);
    assert.deepEqual(viaChannel.items, viaTLS.items);
  });

  test('a watch streams the events a watch over HTTPS gets, and stops', async () => {
    const start = await overTLS.get<{ metadata: { resourceVersion: string } }>(LEASES);
    const seen: { channel: string[]; tls: string[] } = { channel: [], tls: [] };
    const record = (into: string[]) => (e: WatchEvent<{ metadata: { name: string } }>) => into.push(`${e.type} ${e.object.metadata.name}`);
    const q = { resourceVersion: start.metadata.resourceVersion, labelSelector: 'w=yes' };
    const w1 = overChannel.watch(LEASES, q, record(seen.channel));
    const w2 = overTLS.watch(LEASES, q, record(seen.tls));
    for (let i = 0; i < 5; i++) await overTLS.create(LEASES, { metadata: { name: `w-${i}`, labels: { w: 'yes' } } });
    await overTLS.delete(`${LEASES}/w-0`);
    await until(() => seen.channel.length === 6 && seen.tls.length === 6, 'six events on both watches');
    assert.deepEqual(seen.channel, seen.tls);
    assert.deepEqual(seen.channel, ['ADDED w-0', 'ADDED w-1', 'ADDED w-2', 'ADDED w-3', 'ADDED w-4', 'DELETED w-0']);
    w1.stop();
    w2.stop();
    await w1.done;
    await w2.done;
  });

  test('an expired resourceVersion fails the watch with the same 410 Status', async () => {
    // Upstream answers a watch from a compacted revision with a 200 and one ERROR event.
    const watchFails = async (c: RestClient) => {
      const events: WatchEvent<unknown>[] = [];
      const w = c.watch(LEASES, { resourceVersion: '1' }, (e) => events.push(e));
      const refused = await w.done.then(() => undefined, (err: unknown) => (err instanceof ApiStatusError ? err.status : err));
      w.stop();
      return { events, refused };
    };
    await api.store.compact((await api.store.list('/registry/')).revision);
    const viaChannel = await watchFails(overChannel), viaTLS = await watchFails(overTLS);
    assert.deepEqual(viaChannel, viaTLS);
    const status = (viaChannel.events[0]?.object ?? viaChannel.refused) as { code?: number };
    assert.equal(status?.code, 410, JSON.stringify(viaChannel));
  });
});

describe('the channel keeps a socket\'s behaviour', () => {
  test('flow control: a stream pauses at the window and resumes on acks, in order', async () => {
    const chunks = 200, size = 10_000;
    let drains = 0;
    const { client, server } = channelPair((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.flushHeaders();
      let i = 0;
      const more = () => {
        while (i < chunks) {
          const ok = res.write(String(i % 10).repeat(size));
          i++;
          if (!ok) {
            drains++;
            res.once('drain', more);
            return;
          }
        }
        res.end();
      };
      more();
    });
    const got: Buffer[] = [];
    let status = 0;
    await new Promise<void>((resolve, reject) => {
      client.stream('/x', {}, {
        head: (s) => { status = s; },
        data: (c) => got.push(Buffer.from(c)),
        end: (aborted) => (aborted ? reject(new Error('aborted')) : resolve()),
      });
    });
    server.close();
    const all = Buffer.concat(got);
    assert.equal(status, 200);
    assert.equal(all.length, chunks * size);
    for (let i = 0; i < chunks; i++) assert.equal(all[i * size], 0x30 + (i % 10), `chunk ${i} in order`);
    assert.ok(drains > 0, 'the writer had to wait for acks at least once');
  });

  test('a response destroyed before its head fails the request as a reset', async () => {
    const { client, server } = channelPair((_req, res) => { res.destroy(); });
    await assert.rejects(client.request('GET', '/x', {}), (e: NodeJS.ErrnoException) => e.code === 'ECONNRESET');
    server.close();
  });

  test('a stopped stream closes the server\'s response', async () => {
    let closed = false;
    let res!: ChannelResponse;
    const { client, server } = channelPair((_req, r) => {
      res = r;
      r.writeHead(200);
      r.flushHeaders();
      r.write('first\n');
      r.on('close', () => { closed = true; });
    });
    let cancel = () => {};
    await new Promise<void>((resolve) => {
      cancel = client.stream('/x', {}, { head: () => {}, data: () => resolve(), end: () => {} });
    });
    cancel();
    await until(() => closed, 'the response closed');
    assert.equal(res.destroyed, true);
    assert.equal(res.write('late\n'), false);
    server.close();
  });

  test('a port with a long queue does not hold up another port\'s request', async () => {
    // Port A posts 1,000 requests in one message (as a node agents' thread does in a rollout);
    // port B's one request is posted once the server has started on A's. Served as they arrived,
    // B's would wait behind all of A's; served in turns, it waits a few turns at most (the
    // message takes a turn or two to come through).
    const count = 1000;
    const served: string[] = [];
    const server = new ApiChannelServer((req, res) => {
      served.push(req.url);
      if (req.url === '/a/0') void b.request('GET', '/b', {});
      res.writeHead(200);
      res.end('ok');
    });
    const ports = [new MessageChannel(), new MessageChannel()];
    for (const p of ports) server.attach(p.port1);
    const a = new ApiChannel(ports[0]!.port2), b = new ApiChannel(ports[1]!.port2);
    const answers = await Promise.all(Array.from({ length: count }, (_, i) => a.request('GET', `/a/${i}`, {})));
    await until(() => served.includes('/b'), 'B\'s request served');
    server.close();
    assert.equal(answers.length, count);
    assert.deepEqual(served.filter((u) => u.startsWith('/a/')), Array.from({ length: count }, (_, i) => `/a/${i}`), 'A\'s requests in order');
    const at = served.indexOf('/b');
    assert.ok(at < 4 * REQUESTS_PER_TURN, `B's request was served ${at + 1}th of ${count + 1} (${REQUESTS_PER_TURN} per turn)`);
  });

  test('a closed port fails open requests and ends open streams', async () => {
    const { client, closePort } = channelPair(() => { /* never answers */ });
    const pending = client.request('GET', '/x', {});
    let ended: boolean | undefined;
    client.stream('/y', {}, { head: () => {}, data: () => {}, end: (aborted) => { ended = aborted; } });
    await new Promise((r) => setTimeout(r, 20));
    closePort();
    await assert.rejects(pending, (e: NodeJS.ErrnoException) => e.code === 'ECONNRESET');
    await until(() => ended !== undefined, 'the stream ended');
    assert.equal(ended, true);
    await assert.rejects(client.request('GET', '/z', {}), (e: NodeJS.ErrnoException) => e.code === 'ECONNRESET');
  });
});

describe('up --components-api', () => {
  test('an unknown mode is refused before anything starts', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'kubelite-channel-up-'));
    try {
      const out = await new Promise<{ code: number; stderr: string }>((resolve) => {
        execFile(process.execPath, [KUBELITE, 'up', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--components-api', 'pigeon'],
          { timeout: 60_000 }, (error, _stdout, stderr) => resolve({ code: typeof error?.code === 'number' ? error.code : 0, stderr }));
      });
      assert.notEqual(out.code, 0);
      assert.match(out.stderr, /--components-api: unknown mode "pigeon" \(known: channel, socket, https\)/);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
