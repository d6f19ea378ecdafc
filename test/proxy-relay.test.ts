// The userspace proxy's TCP relay past its first exchange, where the native relay (native/relay.c,
// src/proxy/native-relay.ts) takes a connection over when it is built: bytes, half-close (a FIN
// one way while the other direction goes on), resets in either direction, the connection counts
// and stopping. The same cases run again in a child process with KUBELITE_PROXY_RELAY=js, the
// JavaScript relay that is used where the addon is not built, so both must behave alike.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { Balancer } from '../src/proxy/balancer.js';
import type { ProxyEndpoint } from '../src/proxy/endpoints.js';
import type { ProxyCounters } from '../src/proxy/metrics.js';
import { nativeRelayAvailable } from '../src/proxy/native-relay.js';
import { createTcpFrontend, type Relayed, type TcpFrontend } from '../src/proxy/tcp.js';
import { until } from './helpers/wait.js';
import { readAll, readBytes } from './helpers/sockets.js';

const HOST = '127.0.0.1';
const TEST_TIMEOUT_MS = 30_000;
const JS_ONLY = process.env.KUBELITE_PROXY_RELAY === 'js';
const ADDON = fileURLToPath(new URL('../../native/build/Release/kubelite_relay.node', import.meta.url));

/** The error a socket ends with (undefined when it closes without one). */
function closing(s: net.Socket): Promise<string | undefined> {
  return new Promise((resolve) => {
    let code: string | undefined;
    s.on('error', (e: NodeJS.ErrnoException) => { code = e.code; });
    s.once('close', () => resolve(code));
  });
}

describe(`TCP relay past the first exchange (${JS_ONLY ? 'JavaScript relay' : 'native relay where built'})`, () => {
  const counters: ProxyCounters = { accepted: { TCP: 0, UDP: 0 }, active: { TCP: 0, UDP: 0 }, rejected: { TCP: 0, UDP: 0 }, dialErrors: 0 };
  const open = new Set<Relayed>();
  let frontend: TcpFrontend;
  let server: net.Server;
  let port: number;
  /** The endpoint's side of each connection, in order. */
  const accepted: net.Socket[] = [];
  let nextAccepted: ((s: net.Socket) => void)[] = [];

  before(async () => {
    server = net.createServer({ allowHalfOpen: true }, (s) => {
      accepted.push(s);
      const waiter = nextAccepted.shift();
      if (waiter) waiter(s);
    });
    await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
    const balancer = new Balancer<ProxyEndpoint>('round-robin');
    const backend = (server.address() as net.AddressInfo).port;
    balancer.setEndpoints([{ ip: HOST, port: backend, key: `${HOST}:${backend}`, ready: true, serving: true, terminating: false }]);
    frontend = createTcpFrontend({ balancer: () => balancer, open, counters }, 'handles');
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, HOST, resolve));
    port = (probe.address() as net.AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    await new Promise<void>((resolve, reject) => frontend.listen(HOST, port, (err) => (err ? reject(err) : resolve())));
  });
  after(async () => {
    frontend.close();
    for (const s of accepted) s.destroy();
    server.close();
  });

  /**
   * A connection through the relay that has carried a few exchanges of different sizes, so that
   * it is past the hand-over: the client's and the endpoint's sockets.
   */
  async function exchanged(): Promise<{ client: net.Socket; endpoint: net.Socket }> {
    const endpointSide = new Promise<net.Socket>((resolve) => nextAccepted.push(resolve));
    const client = net.connect({ host: HOST, port, allowHalfOpen: true });
    await new Promise((resolve) => client.once('connect', resolve));
    const endpoint = await endpointSide;
    for (const size of [10, 300, 5, 70_000, 1, 2000]) {
      const request = randomBytes(size);
      const received = readBytes(endpoint, size);
      client.write(request);
      assert.deepEqual(await received, request, `a request of ${size} bytes`);
      const response = randomBytes(size * 2);
      const answered = readBytes(client, size * 2);
      endpoint.write(response);
      assert.deepEqual(await answered, response, `a response of ${size * 2} bytes`);
    }
    return { client, endpoint };
  }

  test('the native relay loads where it is built', { skip: JS_ONLY || process.platform !== 'linux' }, () => {
    assert.equal(nativeRelayAvailable(), existsSync(ADDON), `addon ${ADDON}`);
  });

  test('bytes arrive whole and in order both ways, in chunks of every size and all at once', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { client, endpoint } = await exchanged();
    // Both directions at once, megabytes each, neither side reading for a while: writes are left
    // pending both ways and each direction must hold its reading back.
    const up = randomBytes(8 * 1024 * 1024), down = randomBytes(8 * 1024 * 1024);
    client.pause();
    endpoint.pause();
    const upArrived = readAll(endpoint), downArrived = readAll(client);
    client.end(up);
    endpoint.end(down);
    await new Promise((r) => setTimeout(r, 300));
    client.resume();
    endpoint.resume();
    assert.ok((await upArrived).equals(up), 'client → endpoint');
    assert.ok((await downArrived).equals(down), 'endpoint → client');
  });

  test('half-close by the client: its FIN arrives after its bytes, and the endpoint can still answer', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { client, endpoint } = await exchanged();
    const atEndpoint = readAll(endpoint);
    const atClient = readAll(client);
    client.end('last words');
    assert.equal((await atEndpoint).toString(), 'last words');
    // The endpoint's direction is still open: several writes, then its own FIN.
    endpoint.write('answer 1, ');
    await new Promise((r) => setTimeout(r, 50));
    endpoint.end('answer 2');
    assert.equal((await atClient).toString(), 'answer 1, answer 2');
    assert.equal(await closing(client), undefined);
  });

  test('half-close by the endpoint: the client gets everything and its FIN, and can still send', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { client, endpoint } = await exchanged();
    const atClient = readAll(client);
    const atEndpoint = readAll(endpoint);
    endpoint.end('bye');
    assert.equal((await atClient).toString(), 'bye');
    const more = randomBytes(300_000);
    client.end(more);
    assert.ok((await atEndpoint).equals(more));
    assert.equal(await closing(endpoint), undefined);
  });

  test('a client that resets: the endpoint is reset', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { client, endpoint } = await exchanged();
    const endpointClosed = closing(endpoint);
    client.resetAndDestroy();
    assert.equal(await endpointClosed, 'ECONNRESET');
  });

  test('an endpoint that resets: the client is reset', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { client, endpoint } = await exchanged();
    const clientClosed = closing(client);
    endpoint.resetAndDestroy();
    assert.equal(await clientClosed, 'ECONNRESET');
  });

  test('every connection ended is counted out', { timeout: TEST_TIMEOUT_MS }, async () => {
    await until(() => counters.active.TCP === 0 && open.size === 0, 'no connection left', 10_000);
    assert.ok(counters.accepted.TCP >= 5, `accepted ${counters.accepted.TCP}`);
  });

  test('stopping ends the connections being relayed', { timeout: TEST_TIMEOUT_MS }, async () => {
    const pairs = [await exchanged(), await exchanged(), await exchanged()];
    assert.equal(counters.active.TCP, 3);
    const clientsClosed = pairs.map((p) => closing(p.client));
    // Half-open clients: the relay's close shows as a FIN (or a reset), which they answer.
    for (const p of pairs) p.client.on('end', () => p.client.end()).resume();
    for (const c of [...open]) c.destroy();
    await Promise.all(clientsClosed);
    await until(() => counters.active.TCP === 0 && open.size === 0, 'the stopped connections counted out', 10_000);
  });
});

test('the same cases with the JavaScript relay', { skip: JS_ONLY, timeout: 120_000 }, () => {
  const run = spawnSync(process.execPath, ['--test', fileURLToPath(import.meta.url)], {
    env: { ...process.env, KUBELITE_PROXY_RELAY: 'js' },
    encoding: 'utf8',
  });
  assert.equal(run.status, 0, run.stdout + run.stderr);
});
