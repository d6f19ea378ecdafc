// The userspace proxy's TCP frontends served by the native relay (native/relay.c, tcp.ts'
// NativeListener, the `native` TCP implementation): the addon's thread accepts, picks the
// endpoint from the table JavaScript programs, dials and relays, with no JavaScript per
// connection. What a connection accepted in JavaScript gets must hold here too: no usable
// endpoint resets the client at once (counted as rejected); round-robin follows the table's
// order; a refused dial is retried on another endpoint (counted); ClientIP affinity (handed to
// JavaScript) keeps a client on its endpoint; a table change leaves open connections alone; a
// closed listener accepts no more while its connections carry on; stopping ends them.
// The same cases run again in a child process with KUBELITE_PROXY_RELAY=js, where the `native`
// implementation falls back to accepting in JavaScript, so both paths must behave alike.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Balancer } from '../src/proxy/balancer.js';
import type { ProxyEndpoint } from '../src/proxy/endpoints.js';
import type { ProxyCounters } from '../src/proxy/metrics.js';
import { nativeAcceptAvailable } from '../src/proxy/native-relay.js';
import { createTcpFrontend, nativeCountersOf, type Relayed, type TcpFrontend } from '../src/proxy/tcp.js';
import { until } from './helpers/wait.js';
import { readAll } from './helpers/sockets.js';

const HOST = '127.0.0.1';
const TEST_TIMEOUT_MS = 30_000;
const JS_ONLY = process.env.KUBELITE_PROXY_RELAY === 'js';
const ADDON = fileURLToPath(new URL('../../native/build/Release/kubelite_relay.node', import.meta.url));
/** Where the addon is built (and not turned off), the native path must be the one taken. */
const NATIVE = !JS_ONLY && process.platform === 'linux' && existsSync(ADDON);

const endpoint = (port: number): ProxyEndpoint => ({ ip: HOST, port, key: `${HOST}:${port}`, ready: true, serving: true, terminating: false });

/** A backend that names itself on every connection, then echoes until the client's FIN. */
async function backend(name: string): Promise<net.Server> {
  const srv = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {});
    s.write(`${name}\n`);
    s.pipe(s);
  });
  await new Promise<void>((resolve) => srv.listen(0, HOST, resolve));
  return srv;
}
const portOf = (srv: net.Server) => (srv.address() as net.AddressInfo).port;

async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, HOST, resolve));
  const port = portOf(probe);
  await new Promise((r) => probe.close(r));
  return port;
}

/** Connect and read the backend's name line; the socket stays open. */
async function whoAnswers(port: number): Promise<{ name: string; socket: net.Socket }> {
  const socket = net.connect({ host: HOST, port, allowHalfOpen: true });
  return new Promise((resolve, reject) => {
    let got = '';
    socket.once('error', reject);
    const onData = (d: Buffer) => {
      got += d.toString();
      const nl = got.indexOf('\n');
      if (nl < 0) return;
      socket.off('data', onData);
      socket.pause();
      resolve({ name: got.slice(0, nl), socket });
    };
    socket.on('data', onData);
  });
}

/** What the endpoint echoes of `text` sent on a held connection (then closed by this side). */
async function echoOf(socket: net.Socket, text: string): Promise<string> {
  const echoed = readAll(socket);
  socket.resume();
  socket.end(text);
  return (await echoed).toString();
}

/** How a connection attempt ends: the error code, or 'open' when it stays up. */
function outcome(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host: HOST, port });
    let connected = false;
    s.once('connect', () => { connected = true; });
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    s.once('close', () => resolve(connected ? 'closed' : 'not connected'));
    s.once('data', () => { resolve('open'); s.destroy(); });
  });
}

describe(`TCP frontends served natively (${NATIVE ? 'native listener' : 'fallback: accepted in JavaScript'})`, () => {
  const counters: ProxyCounters = { accepted: { TCP: 0, UDP: 0 }, active: { TCP: 0, UDP: 0 }, rejected: { TCP: 0, UDP: 0 }, dialErrors: 0 };
  const open = new Set<Relayed>();
  const frontends: TcpFrontend[] = [];
  const servers: net.Server[] = [];
  const names = new Map<number, string>();

  /** The counters of this test's frontends: JavaScript's plus the native listeners'. */
  function totals(): ProxyCounters {
    const n = nativeCountersOf(open);
    return {
      accepted: { TCP: counters.accepted.TCP + (n?.accepted.TCP ?? 0), UDP: 0 },
      active: { TCP: counters.active.TCP + (n?.active.TCP ?? 0), UDP: 0 },
      rejected: { TCP: counters.rejected.TCP + (n?.rejected.TCP ?? 0), UDP: 0 },
      dialErrors: counters.dialErrors + (n?.dialErrors ?? 0),
    };
  }

  async function listen(balancer: () => Balancer<ProxyEndpoint>): Promise<{ port: number; fe: TcpFrontend }> {
    const port = await freePort();
    const fe = createTcpFrontend({ balancer, open, counters }, 'native');
    await new Promise<void>((resolve, reject) => fe.listen(HOST, port, (err) => (err ? reject(err) : resolve())));
    frontends.push(fe);
    return { port, fe };
  }

  let a: number, b: number, c: number;
  before(async () => {
    for (const name of ['a', 'b', 'c']) {
      const srv = await backend(name);
      servers.push(srv);
      names.set(portOf(srv), name);
    }
    [a, b, c] = servers.map(portOf) as [number, number, number];
  });
  after(async () => {
    for (const fe of frontends) fe.close();
    for (const r of open) r.destroy();
    for (const s of servers) s.close();
  });

  test('the native path is the one taken where the addon is built', { skip: !NATIVE }, () => {
    assert.equal(nativeAcceptAvailable(), true);
  });

  test('round-robin follows the table, and the connections are counted natively', { timeout: TEST_TIMEOUT_MS }, async () => {
    const balancer = new Balancer<ProxyEndpoint>('round-robin');
    balancer.setEndpoints([endpoint(a), endpoint(b), endpoint(c)]);
    const { port } = await listen(() => balancer);
    const before = totals().accepted.TCP;
    const seen: string[] = [];
    for (let i = 0; i < 9; i++) {
      const { name, socket } = await whoAnswers(port);
      seen.push(name);
      socket.destroy();
    }
    assert.deepEqual(seen, ['a', 'b', 'c', 'a', 'b', 'c', 'a', 'b', 'c']);
    assert.equal(totals().accepted.TCP - before, 9);
    if (NATIVE) {
      // Nothing went through JavaScript's relay.
      assert.equal(counters.accepted.TCP, 0);
      assert.equal(nativeCountersOf(open)!.accepted.TCP, 9);
    }
  });

  test('random picks only endpoints of the table', { timeout: TEST_TIMEOUT_MS }, async () => {
    const balancer = new Balancer<ProxyEndpoint>('random');
    balancer.setEndpoints([endpoint(b), endpoint(c)]);
    const { port } = await listen(() => balancer);
    const seen = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const { name, socket } = await whoAnswers(port);
      seen.add(name);
      socket.destroy();
    }
    assert.deepEqual([...seen].sort(), ['b', 'c']);
  });

  test('no usable endpoint: the client is reset at once and counted as rejected', { timeout: TEST_TIMEOUT_MS }, async () => {
    const balancer = new Balancer<ProxyEndpoint>('round-robin');
    const { port } = await listen(() => balancer);
    const before = totals().rejected.TCP;
    assert.equal(await outcome(port), 'ECONNRESET');
    assert.equal(await outcome(port), 'ECONNRESET');
    await until(() => totals().rejected.TCP - before === 2, 'two rejected', 5000);
  });

  test('a refused dial is retried on another endpoint; with every endpoint refusing, the client is reset', { timeout: TEST_TIMEOUT_MS }, async () => {
    const refused1 = await freePort(), refused2 = await freePort(), refused3 = await freePort();
    const balancer = new Balancer<ProxyEndpoint>('round-robin');
    balancer.setEndpoints([endpoint(refused1), endpoint(a)]);
    const { port } = await listen(() => balancer);
    const errorsBefore = totals().dialErrors;
    for (let i = 0; i < 4; i++) {
      const { name, socket } = await whoAnswers(port);
      assert.equal(name, 'a');
      socket.destroy();
    }
    assert.ok(totals().dialErrors - errorsBefore >= 2, `dial errors ${totals().dialErrors - errorsBefore}`);
    balancer.setEndpoints([endpoint(refused1), endpoint(refused2), endpoint(refused3), endpoint(b)]);
    frontends.at(-1)!.refresh?.();
    // Three endpoints tried and failed: given up, as in JavaScript (MAX_DIALS), whatever is left.
    const outcomes = new Set<string>();
    for (let i = 0; i < 4; i++) outcomes.add(await outcome(port));
    assert.ok(outcomes.has('ECONNRESET'), `outcomes ${[...outcomes]}`);
  });

  test('a table change leaves open connections alone; new ones follow it at once', { timeout: TEST_TIMEOUT_MS }, async () => {
    let balancer = new Balancer<ProxyEndpoint>('round-robin');
    balancer.setEndpoints([endpoint(a)]);
    const { port, fe } = await listen(() => balancer);
    const first = await whoAnswers(port);
    assert.equal(first.name, 'a');
    // Endpoints of the same balancer change, then the balancer itself is replaced.
    balancer.setEndpoints([endpoint(b)]);
    fe.refresh?.();
    assert.equal((await whoAnswers(port).then((r) => (r.socket.destroy(), r.name))), 'b');
    balancer = new Balancer<ProxyEndpoint>('round-robin');
    balancer.setEndpoints([endpoint(c)]);
    fe.refresh?.();
    assert.equal((await whoAnswers(port).then((r) => (r.socket.destroy(), r.name))), 'c');
    // The first connection still goes to a, both ways.
    assert.equal(await echoOf(first.socket, 'still here'), 'still here');
  });

  test('ClientIP affinity keeps a client on its endpoint (picked in JavaScript)', { timeout: TEST_TIMEOUT_MS }, async () => {
    const balancer = new Balancer<ProxyEndpoint>('round-robin');
    balancer.setEndpoints([endpoint(a), endpoint(b), endpoint(c)]);
    balancer.setAffinity(60_000);
    const { port, fe } = await listen(() => balancer);
    const inJavaScript = counters.accepted.TCP;
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const { name, socket } = await whoAnswers(port);
      seen.add(name);
      socket.destroy();
    }
    assert.equal(seen.size, 1, `one endpoint for one client: ${[...seen]}`);
    assert.equal(balancer.pinnedClients, 1);
    // The native listener handed every one of them to JavaScript, which keeps the affinity table.
    assert.equal(counters.accepted.TCP - inJavaScript, 6);
    // Affinity off: round-robin in the native table again.
    balancer.setAffinity(undefined);
    fe.refresh?.();
    const after = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const { name, socket } = await whoAnswers(port);
      after.add(name);
      socket.destroy();
    }
    assert.equal(after.size, 3);
  });

  test('a closed listener accepts no more; its connections carry on', { timeout: TEST_TIMEOUT_MS }, async () => {
    const balancer = new Balancer<ProxyEndpoint>('round-robin');
    balancer.setEndpoints([endpoint(b)]);
    const { port, fe } = await listen(() => balancer);
    const kept = await whoAnswers(port);
    fe.close();
    assert.equal(await outcome(port), 'ECONNREFUSED');
    assert.equal(await echoOf(kept.socket, 'after close'), 'after close');
  });

  test('stopping ends the connections; every connection is counted out', { timeout: TEST_TIMEOUT_MS }, async () => {
    const balancer = new Balancer<ProxyEndpoint>('round-robin');
    balancer.setEndpoints([endpoint(a)]);
    const { port } = await listen(() => balancer);
    const held = [await whoAnswers(port), await whoAnswers(port), await whoAnswers(port)];
    await until(() => totals().active.TCP >= 3, 'three connections active', 5000);
    const closed = held.map(({ socket }) => new Promise<void>((resolve) => {
      socket.on('error', () => {});
      socket.on('end', () => socket.end());
      socket.once('close', () => resolve());
      socket.resume();
    }));
    for (const r of [...open]) r.destroy();
    await Promise.all(closed);
    await until(() => totals().active.TCP === 0, 'no connection left', 10_000);
  });
});

test('connections ending while the process spawns children: the relay survives (no stale epoll registration)', { skip: !NATIVE, timeout: 60_000 }, () => {
  // In a child process of its own (test/fixtures/native-relay-churn.ts): a relay that closes a
  // socket without taking it out of its epoll set first crashes the process within seconds there.
  const script = fileURLToPath(new URL('./fixtures/native-relay-churn.js', import.meta.url));
  const run = spawnSync(process.execPath, [script, '2000'], { encoding: 'utf8', timeout: 50_000 });
  assert.equal(run.signal, null, `the process died of ${run.signal}: ${run.stderr}`);
  assert.equal(run.status, 0, run.stdout + run.stderr);
  const r = JSON.parse(run.stdout.trim().split('\n').at(-1)!);
  assert.equal(r.failures, 0, run.stdout);
  assert.ok(r.connections > 0 && r.spawns > 0, run.stdout);
});

test('the same cases accepted in JavaScript (KUBELITE_PROXY_RELAY=js)', { skip: JS_ONLY, timeout: 120_000 }, () => {
  const run = spawnSync(process.execPath, ['--test', fileURLToPath(import.meta.url)], {
    env: { ...process.env, KUBELITE_PROXY_RELAY: 'js' },
    encoding: 'utf8',
  });
  assert.equal(run.status, 0, run.stdout + run.stderr);
});
