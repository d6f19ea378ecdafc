// `npm run bench -- transport [--requests N] [--concurrency N]`: what carrying one small API
// request costs the serving thread, by transport, before any API work: Node's HTTP/1.1 server on
// a Unix socket (how `up`'s components reached the API server until the in-process channel, and
// still do with `up --components-api socket`) against a MessagePort round trip from a worker
// thread (the in-process API channel's carrier, src/apiserver/channel.ts). Both serve the same
// Event-sized JSON body: parse it, answer a fixed Event-sized JSON object. Printed: requests/s
// and the serving thread's CPU µs per request (from /proc), and their ratio.
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { cpuSeconds, progress } from './lib.js';

const BODY = JSON.stringify({
  metadata: { name: 'load-1.18f3a1', namespace: 'default' },
  involvedObject: { kind: 'Pod', namespace: 'default', name: 'load-1', uid: '0b0c1e6a-1111-2222-3333-444455556666', apiVersion: 'v1', fieldPath: 'spec.containers{web}' },
  reason: 'Pulled', message: 'Container image "nginx:1.27" already present on machine', source: { component: 'kubelet', host: 'node001' },
  firstTimestamp: '2026-11-27T23:00:00Z', lastTimestamp: '2026-11-27T23:00:00Z', count: 1, type: 'Normal', eventTime: null,
});
const ANSWER = JSON.stringify({ kind: 'Event', apiVersion: 'v1', ...JSON.parse(BODY), metadata: { name: 'load-1.18f3a1', namespace: 'default', uid: 'u'.repeat(36), resourceVersion: '12345', creationTimestamp: '2026-11-27T23:00:00Z' } });

/** CPU seconds of this process's main thread (user + system). */
const mainThreadCpu = () => cpuSeconds(`${process.pid}/task/${process.pid}`);

interface Result { seconds: number; cpuUsPerRequest: number }

/** Runs the client side in a worker thread (its CPU is not the serving thread's) until it reports done. */
function runClient(mode: 'http' | 'port', requests: number, concurrency: number, socketPath?: string): { worker: Worker; done: Promise<void> } {
  const worker = new Worker(new URL(import.meta.url), { workerData: { mode, requests, concurrency, socketPath } });
  const done = new Promise<void>((resolve, reject) => {
    worker.on('message', (m: { done?: boolean }) => { if (m.done) resolve(); });
    worker.on('error', reject);
  });
  return { worker, done };
}

async function measure(run: () => Promise<void>, requests: number): Promise<Result> {
  const c0 = mainThreadCpu();
  const t0 = performance.now();
  await run();
  return { seconds: (performance.now() - t0) / 1000, cpuUsPerRequest: ((mainThreadCpu() - c0) / requests) * 1e6 };
}

async function overHttp(requests: number, concurrency: number): Promise<Result> {
  const dir = mkdtempSync(path.join(tmpdir(), 'kubelite-transport-'));
  const socketPath = path.join(dir, 'api.sock');
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      JSON.parse(Buffer.concat(chunks).toString('utf8'));
      res.writeHead(201, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' });
      res.end(ANSWER);
    });
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  try {
    return await measure(() => runClient('http', requests, concurrency, socketPath).done, requests);
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function overPort(requests: number, concurrency: number): Promise<Result> {
  return measure(async () => {
    const { worker, done } = runClient('port', requests, concurrency);
    // The serving side, as the channel's server: parse the body, post the answer.
    worker.on('message', (batch: { id: number; body: string }[] | { done: boolean }) => {
      if (!Array.isArray(batch)) return;
      const out = batch.map((m) => {
        JSON.parse(m.body);
        return { id: m.id, status: 201, body: ANSWER };
      });
      worker.postMessage(out);
    });
    await done;
    await worker.terminate();
  }, requests);
}

/** The client thread: `concurrency` loops of requests, over HTTP (keep-alive) or the port (batched per turn, as the channel does). */
async function client(o: { mode: 'http' | 'port'; requests: number; concurrency: number; socketPath?: string }): Promise<void> {
  let next = 0;
  let send: () => Promise<void>;
  if (o.mode === 'http') {
    const agent = new http.Agent({ keepAlive: true, maxSockets: o.concurrency });
    send = () => new Promise<void>((resolve, reject) => {
      const req = http.request({ socketPath: o.socketPath, path: '/api/v1/namespaces/default/events', method: 'POST', agent,
        headers: { 'Content-Type': 'application/json', Authorization: 'Bearer x' } }, (res) => {
        res.on('data', () => {});
        res.on('end', resolve);
      });
      req.on('error', reject);
      req.end(BODY);
    });
  } else {
    const waiting = new Map<number, () => void>();
    let outbox: { id: number; body: string }[] = [];
    parentPort!.on('message', (batch: { id: number; body: string }[]) => {
      for (const m of batch) {
        JSON.parse(m.body);
        waiting.get(m.id)!();
        waiting.delete(m.id);
      }
    });
    let id = 0;
    send = () => new Promise<void>((resolve) => {
      const mine = id++;
      waiting.set(mine, resolve);
      outbox.push({ id: mine, body: BODY });
      if (outbox.length === 1) setImmediate(() => { parentPort!.postMessage(outbox); outbox = []; });
    });
  }
  await Promise.all(Array.from({ length: o.concurrency }, async () => {
    while (next < o.requests) {
      next++;
      await send();
    }
  }));
  parentPort!.postMessage({ done: true });
}

async function main(): Promise<void> {
  const args = parseArgs({ options: { requests: { type: 'string', default: '40000' }, concurrency: { type: 'string', default: '16' } } });
  const requests = Number(args.values.requests), concurrency = Number(args.values.concurrency);
  progress(`${requests} requests, ${concurrency} at a time, over HTTP on a Unix socket`);
  const h = await overHttp(requests, concurrency);
  progress(`${requests} requests, ${concurrency} at a time, over a MessagePort`);
  const p = await overPort(requests, concurrency);
  const line = (name: string, r: Result) => `${name.padEnd(24)} ${(requests / r.seconds).toFixed(0).padStart(8)} req/s   ${r.cpuUsPerRequest.toFixed(1).padStart(6)} µs CPU per request on the serving thread\n`;
  process.stdout.write(line('HTTP/1.1, Unix socket', h) + line('MessagePort', p) +
    `MessagePort / HTTP: ${(p.cpuUsPerRequest / h.cpuUsPerRequest).toFixed(2)}× the serving thread's CPU per request, ${((requests / p.seconds) / (requests / h.seconds)).toFixed(1)}× the rate\n`);
  process.stdout.write(JSON.stringify({ requests, concurrency, http: h, port: p }) + '\n');
}

if (isMainThread) {
  main().catch((e) => {
    process.stderr.write(`bench failed: ${e instanceof Error ? e.stack : e}\n`);
    process.exit(1);
  });
} else {
  void client(workerData as { mode: 'http' | 'port'; requests: number; concurrency: number; socketPath?: string });
}
