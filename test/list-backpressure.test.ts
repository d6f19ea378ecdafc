// A large LIST read by a slow client: the server waits for the socket to drain many times on
// one response, and must neither leave listeners behind (Node warns past 10 on one emitter) nor
// lose bytes.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { startCluster, type Cluster } from './helpers/cluster.js';

const PODS = 24;
const ANNOTATION_BYTES = 200 * 1024; // under the 256 KiB annotation limit; ~4.8 MB in all

describe('a large LIST to a slow reader', () => {
  let c: Cluster;
  before(async () => {
    c = await startCluster();
    const filler = 'x'.repeat(ANNOTATION_BYTES);
    for (let i = 0; i < PODS; i++) {
      const r = await c.request('POST', '/api/v1/namespaces/default/pods', {
        metadata: { name: `big-${i}`, annotations: { filler } },
        spec: { containers: [{ name: 'c', image: 'nginx' }] },
      });
      assert.equal(r.status, 201, r.body);
    }
  });
  after(async () => { await c?.cleanup(); });

  test('arrives whole, and the server leaves no listeners behind', async () => {
    const body = await new Promise<string>((resolve, reject) => {
      const req = https.get(new URL('/api/v1/namespaces/default/pods', c.url), { ca: c.caPem, headers: { Authorization: `Bearer ${c.token}` } }, (res) => {
        const chunks: Buffer[] = [];
        // Read in small sips with pauses, so the server's writes back up again and again.
        res.on('data', (d: Buffer) => {
          chunks.push(d);
          res.pause();
          setTimeout(() => res.resume(), 2);
        });
        res.on('end', () => resolve(Buffer.concat(chunks).toString()));
        res.on('error', reject);
      });
      req.on('error', reject);
    });
    const list = JSON.parse(body);
    assert.equal(list.items.length, PODS);
    assert.ok(list.items.every((p: any) => p.metadata.annotations.filler.length === ANNOTATION_BYTES));
    assert.doesNotMatch(c.logs(), /MaxListenersExceededWarning/);
  });
});
