// A watcher that stops reading must not stall the server or other watchers: its buffer is
// bounded, then it is disconnected (its client re-watches from its last resourceVersion).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import https from 'node:https';
import { startCluster, type Cluster } from './helpers/cluster.js';
import { until } from './helpers/wait.js';

describe('slow watchers', () => {
  let c: Cluster;
  before(async () => { c = await startCluster({ args: ['--watch-max-buffer', '262144'] }); });
  after(async () => { await c?.cleanup(); });

  test('a stalled watcher is disconnected; a reading watcher gets every event', async () => {
    const rv = (await c.request('GET', '/api/v1/namespaces/default/pods')).json().metadata.resourceVersion;
    const url = new URL(c.url);
    const path = `/api/v1/namespaces/default/pods?watch=true&resourceVersion=${rv}`;

    // The stalled watcher: sends its request, then never reads.
    const slow = tls.connect({ host: url.hostname, port: Number(url.port), ca: c.caPem, servername: 'localhost' });
    await new Promise<void>((resolve) => slow.once('secureConnect', () => resolve()));
    slow.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${c.token}\r\n\r\n`);
    slow.pause();
    const slowClosed = new Promise<void>((resolve) => slow.once('close', () => resolve()));

    // The reading watcher.
    const N = 600;
    let added = 0;
    const fast = new Promise<void>((resolve, reject) => {
      let buf = '';
      const req = https.get(new URL(path, c.url), { headers: { Authorization: `Bearer ${c.token}` }, ca: c.caPem }, (res) => {
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          buf += d;
          let i;
          while ((i = buf.indexOf('\n')) >= 0) {
            if (JSON.parse(buf.slice(0, i)).type === 'ADDED') added++;
            buf = buf.slice(i + 1);
            if (added === N) { req.destroy(); resolve(); }
          }
        });
        res.on('close', () => { if (added < N) reject(new Error(`the reading watcher was closed after ${added} events`)); });
      });
      req.on('error', (e) => { if (added < N) reject(e); });
    });

    // ~10 MB of events: far more than socket buffers and the 256 KiB watch buffer hold.
    const blob = 'x'.repeat(16 * 1024);
    let next = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < N) {
        const i = next++;
        const res = await c.request('POST', '/api/v1/namespaces/default/pods', {
          metadata: { name: `big-${i}`, annotations: { blob } }, spec: { containers: [{ name: 'c', image: 'nginx' }] },
        });
        assert.equal(res.status, 201);
      }
    }));
    await fast;
    assert.equal(added, N);

    slow.resume(); // drain whatever was sent; the server has ended the connection
    await slowClosed;
    // The counter, the log line (on the server's stderr pipe) and the socket's close are three
    // effects of one decision with no order among them as the test sees them: wait for each.
    const terminated = async () => Number(/apiserver_terminated_watchers_total\{resource="pods"\} (\d+)/.exec((await c.request('GET', '/metrics')).body)?.[1] ?? 0);
    await until(async () => (await terminated()) >= 1, 'the slow watcher counted as terminated');
    await until(() => /closing watch of an unresponsive client/.test(c.logs()), 'the server logging the closed watch');
    assert.equal((await c.request('GET', '/readyz')).body, 'ok');
  });
});
