// RestClient's connection pool (src/client/http1.ts) against servers that answer in every shape
// HTTP/1.1 allows: Content-Length, chunks split anywhere, a body up to the close, interim 1xx,
// Connection: close; its limits (connections, reuse), a server that closes an idle connection
// just as a request is sent on it, and idle connections not keeping the process alive; and both
// over a Unix socket (the API server's private channel): plain HTTP, the same Host and headers.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { Http1Pool } from '../src/client/http1.js';
import { RestClient, ApiStatusError } from '../src/client/rest.js';

/**
 * A raw TCP server (or one on the Unix socket `socketPath`); `onRequest` sees each request's head
 * and body (Content-Length bodies only) and the socket.
 */
async function rawServer(onRequest: (head: string, body: string, socket: net.Socket, index: number) => void, socketPath?: string): Promise<{ port: number; sockets: net.Socket[]; close(): Promise<void> }> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => {
    sockets.push(socket);
    let buf = Buffer.alloc(0);
    let index = 0;
    socket.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.toString('latin1', 0, end);
        const length = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < end + 4 + length) return;
        const body = buf.toString('utf8', end + 4, end + 4 + length);
        buf = buf.subarray(end + 4 + length);
        onRequest(head, body, socket, index++);
      }
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((r) => (socketPath ? server.listen(socketPath, r) : server.listen(0, '127.0.0.1', r)));
  return {
    port: socketPath ? 0 : (server.address() as AddressInfo).port,
    sockets,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

const pool = (port: number, maxConnections = 4) => new Http1Pool({ host: '127.0.0.1', port, maxConnections, headers: { Accept: 'application/json', 'User-Agent': 'test/1' } });

describe('HTTP/1.1 pool', () => {
  test('sends one well-formed request and reads a Content-Length answer; multi-byte text survives', async () => {
    const heads: string[] = [];
    const bodies: string[] = [];
    const srv = await rawServer((head, body, socket) => {
      heads.push(head);
      bodies.push(body);
      const out = Buffer.from(JSON.stringify({ echo: body }));
      socket.write(`HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: ${out.length}\r\n\r\n`);
      socket.write(out);
    });
    const p = pool(srv.port);
    const body = JSON.stringify({ message: 'naïve – 日本語 🚀' });
    const a = await p.request('POST', '/api/v1/namespaces/default/events?x=1', body, 'application/merge-patch+json');
    assert.equal(a.status, 201);
    assert.equal(a.statusText, 'Created');
    assert.deepEqual(JSON.parse(a.body.toString('utf8')), { echo: body });
    const lines = heads[0]!.split('\r\n');
    assert.equal(lines[0], 'POST /api/v1/namespaces/default/events?x=1 HTTP/1.1');
    assert.ok(lines.includes(`Host: 127.0.0.1:${srv.port}`));
    assert.ok(lines.includes('User-Agent: test/1'));
    assert.ok(lines.includes('Content-Type: application/merge-patch+json'));
    assert.ok(lines.includes(`Content-Length: ${Buffer.byteLength(body)}`));
    assert.equal(bodies[0], body);
    p.close();
    await srv.close();
  });

  test('chunked answers cut anywhere, interim 1xx answers, and bodies that run to the close', async () => {
    const big = 'x'.repeat(200_000) + 'é';
    const srv = await rawServer((head, _body, socket) => {
      const path = head.split(' ')[1];
      if (path === '/chunked') {
        const text = `HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${Buffer.byteLength(big).toString(16)};ext=1\r\n${big}\r\n3\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n`;
        const bytes = Buffer.from(text);
        // Every few bytes at first (inside the head and the size line), then in large pieces.
        let at = 0;
        const step = () => {
          if (at >= bytes.length) return;
          const n = at < 120 ? 7 : 65_536;
          socket.write(bytes.subarray(at, at + n));
          at += n;
          setImmediate(step);
        };
        step();
      } else {
        socket.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end');
      }
    });
    const p = pool(srv.port);
    const a = await p.request('GET', '/chunked');
    assert.equal(a.status, 200);
    assert.equal(a.body.toString('utf8'), big + 'abc');
    const b = await p.request('GET', '/close');
    assert.equal(b.body.toString(), 'until the end');
    p.close();
    await srv.close();
  });

  test('reuses a kept-alive connection, opens at most maxConnections, and not one answered with Connection: close', async () => {
    let closeNext = false;
    const srv = await rawServer((_head, _body, socket) => {
      const close = closeNext;
      closeNext = false;
      // Answer later, so that concurrent requests pile up.
      setTimeout(() => socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 2\r\n${close ? 'Connection: close\r\n' : ''}\r\nok`), 5);
    });
    const p = pool(srv.port, 3);
    for (let i = 0; i < 5; i++) await p.request('GET', '/');
    assert.equal(srv.sockets.length, 1, 'sequential requests share one connection');
    await Promise.all(Array.from({ length: 20 }, () => p.request('GET', '/')));
    assert.equal(srv.sockets.length, 3, 'never more than maxConnections');
    p.close();
    // One connection at most: the request after an answer with Connection: close needs a new one.
    const one = pool(srv.port, 1);
    closeNext = true;
    await one.request('GET', '/');
    await one.request('GET', '/');
    assert.equal(srv.sockets.length, 5, 'the connection answered with Connection: close was not reused');
    one.close();
    await srv.close();
  });

  test('a GET on a connection the server closed while idle is sent again; a POST fails', async () => {
    // The server answers the first request of each connection and closes it at the second
    // without answering: what a client sees when its request crosses the server's idle close.
    const srv = await rawServer((_head, _body, socket, index) => {
      if (index === 0) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst');
      else socket.destroy();
    });
    const p = pool(srv.port, 1);
    assert.equal((await p.request('GET', '/')).body.toString(), 'first');
    const again = await p.request('GET', '/');
    assert.equal(again.body.toString(), 'first', 'answered on a new connection');
    assert.equal(srv.sockets.length, 2);
    await assert.rejects(p.request('POST', '/', '{}'), /socket hang up|ECONNRESET/);
    p.close();
    await srv.close();
  });

  test('a refused connection rejects every request waiting for it', async () => {
    const srv = await rawServer(() => {});
    const { port } = srv;
    await srv.close();
    const p = pool(port, 1);
    const results = await Promise.allSettled([p.request('GET', '/'), p.request('GET', '/'), p.request('GET', '/')]);
    assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected', 'rejected']);
    assert.match(String((results[0] as PromiseRejectedResult).reason), /ECONNREFUSED/);
    p.close();
  });

  test('bad paths and header values are refused before anything is sent', async () => {
    assert.throws(() => new Http1Pool({ host: '127.0.0.1', port: 1, maxConnections: 1, headers: { 'User-Agent': 'a\r\nX: y' } }), TypeError);
    const p = pool(1);
    await assert.rejects(p.request('GET', '/a b'), TypeError);
    p.close();
  });

  test('over a Unix socket: plain HTTP to the path, Host the server\'s host and port, connections reused; never with TLS', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'http1-sock-'));
    const socketPath = path.join(dir, 'api.sock');
    const heads: string[] = [];
    const srv = await rawServer((head, _body, socket) => {
      heads.push(head);
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    }, socketPath);
    const headers = { Accept: 'application/json', Authorization: 'Bearer t0k' };
    const p = new Http1Pool({ host: '127.0.0.1', port: 6443, socketPath, maxConnections: 4, headers });
    try {
      for (let i = 0; i < 2; i++) assert.equal((await p.request('GET', '/api/v1/pods')).body.toString(), 'ok');
      assert.equal(srv.sockets.length, 1, 'one kept-alive connection');
      const lines = heads[0]!.split('\r\n');
      assert.equal(lines[0], 'GET /api/v1/pods HTTP/1.1');
      assert.ok(lines.includes('Host: 127.0.0.1:6443'), heads[0]);
      assert.ok(lines.includes('Authorization: Bearer t0k'), heads[0]);
      assert.throws(() => new Http1Pool({ host: '127.0.0.1', port: 6443, socketPath, tls: {}, maxConnections: 1, headers }), TypeError);
    } finally {
      p.close();
      await srv.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('an idle connection does not keep the process alive', async () => {
    const srv = await rawServer((_h, _b, socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
    const module = path.join(path.dirname(fileURLToPath(import.meta.url)), '../src/client/http1.js');
    // The child makes one request and returns from its script: it must exit long before the 30 s idle timeout.
    const script = `import { Http1Pool } from ${JSON.stringify(module)};
      const p = new Http1Pool({ host: '127.0.0.1', port: ${srv.port}, maxConnections: 1, headers: {} });
      const a = await p.request('GET', '/'); process.stdout.write(a.body.toString());`;
    const out = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
    });
    assert.equal(out, 'ok');
    await srv.close();
  });
});

/** A pod answer with managedFields, and the same name elsewhere (an annotation, a status field) that must stay. */
const POD_WITH_MANAGED_FIELDS = {
  kind: 'Pod', apiVersion: 'v1',
  metadata: {
    name: 'p', resourceVersion: '7', annotations: { managedFields: 'kept' },
    managedFields: [{ manager: 'kubelet', operation: 'Update', fieldsV1: { 'f:status': { 'f:phase': {} } } }],
    uid: 'u1',
  },
  status: { phase: 'Running', managedFields: { also: 'kept' } },
};

describe('RestClient over the pool', () => {
  let server: http.Server;
  let client: RestClient;
  const seen: { method: string; url: string; auth?: string; type?: string; body: string }[] = [];
  before(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, auth: req.headers.authorization, type: req.headers['content-type'], body: Buffer.concat(chunks).toString() });
        if (req.url!.startsWith('/status')) {
          res.writeHead(409, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ kind: 'Status', status: 'Failure', reason: 'AlreadyExists', code: 409, message: 'exists' }));
        } else if (req.url!.startsWith('/pod')) {
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify(POD_WITH_MANAGED_FIELDS));
        } else if (req.url!.startsWith('/plain')) {
          res.writeHead(502, 'Bad Gateway', { 'Content-Type': 'text/plain' });
          res.end('upstream down');
        } else {
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ kind: 'Thing', method: req.method }));
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    client = new RestClient({ server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, token: 't0k', userAgent: 'kubelite/test' });
  });
  after(async () => {
    client.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  test('JSON in and out, query strings, bearer token, patch content types', async () => {
    assert.deepEqual(await client.get('/thing', { labelSelector: 'a=b', limit: 5, skip: undefined }), { kind: 'Thing', method: 'GET' });
    await client.patch('/thing', { a: 1 }, 'strategic');
    await client.delete('/thing', { propagationPolicy: 'Foreground' });
    assert.equal(seen[0]!.url, '/thing?labelSelector=a%3Db&limit=5');
    assert.equal(seen[0]!.auth, 'Bearer t0k');
    assert.equal(seen[1]!.type, 'application/strategic-merge-patch+json');
    assert.equal(seen[1]!.body, '{"a":1}');
    assert.equal(seen[2]!.method, 'DELETE');
    assert.equal(seen[2]!.body, '{"propagationPolicy":"Foreground"}');
  });

  test('a Status answer is the error; a non-JSON error body becomes its message', async () => {
    await assert.rejects(client.create('/status', {}), (e: unknown) => e instanceof ApiStatusError && e.code === 409 && e.reason === 'AlreadyExists' && e.message === 'exists');
    await assert.rejects(client.get('/plain'), (e: unknown) => e instanceof ApiStatusError && e.code === 502 && e.message === 'upstream down' && e.reason === 'Bad Gateway');
  });

  test('omitManagedFields parses a success without metadata.managedFields and nothing else cut; errors as ever', async () => {
    const { managedFields: _, ...metadata } = POD_WITH_MANAGED_FIELDS.metadata;
    assert.deepEqual(await client.request('PATCH', '/pod', { body: {}, omitManagedFields: true }), { ...POD_WITH_MANAGED_FIELDS, metadata });
    // Without the option the answer is whole.
    assert.deepEqual(await client.request('PATCH', '/pod', { body: {} }), POD_WITH_MANAGED_FIELDS);
    assert.deepEqual(await client.request('GET', '/thing', { omitManagedFields: true }), { kind: 'Thing', method: 'GET' });
    await assert.rejects(client.request('POST', '/status', { body: {}, omitManagedFields: true }), (e: unknown) => e instanceof ApiStatusError && e.reason === 'AlreadyExists');
  });

  test('ignoreResult skips the body of a success, not an error', async () => {
    assert.equal(await client.request('POST', '/thing', { body: {}, ignoreResult: true }), undefined);
    await assert.rejects(client.request('POST', '/status', { body: {}, ignoreResult: true }), ApiStatusError);
  });
});

describe('RestClient over a Unix socket', () => {
  test('requests and watches go to the socket in plain HTTP with the headers and Host they have over HTTPS', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rest-sock-'));
    const socketPath = path.join(dir, 'api.sock');
    const seen: { url: string; host?: string; auth?: string; agent?: string }[] = [];
    const server = http.createServer((req, res) => {
      seen.push({ url: req.url!, host: req.headers.host, auth: req.headers.authorization, agent: req.headers['user-agent'] });
      res.writeHead(200, { 'Content-Type': 'application/json' });
      if (req.url!.includes('watch=true')) {
        res.write('{"type":"ADDED","object":{"kind":"Pod","metadata":{"name":"a"}}}\n');
        res.end('{"type":"DELETED","object":{"kind":"Pod","metadata":{"name":"a"}}}\n');
      } else res.end('{"kind":"PodList","items":[]}');
    });
    await new Promise<void>((r) => server.listen(socketPath, r));
    // An https URL: only its host and port are used, as Host; nothing is sent to them.
    const client = new RestClient({ server: 'https://127.0.0.1:6443', socketPath, token: 't0k', userAgent: 'kubelite/test' });
    try {
      assert.deepEqual(await client.get('/api/v1/pods'), { kind: 'PodList', items: [] });
      const events: string[] = [];
      await client.watch<{ metadata: { name: string } }>('/api/v1/pods', { resourceVersion: '5' }, (e) => events.push(`${e.type} ${e.object.metadata.name}`)).done;
      assert.deepEqual(events, ['ADDED a', 'DELETED a']);
      assert.equal(seen[1]!.url, '/api/v1/pods?resourceVersion=5&watch=true');
      for (const s of seen) {
        assert.equal(s.host, '127.0.0.1:6443');
        assert.equal(s.auth, 'Bearer t0k');
        assert.equal(s.agent, 'kubelite/test');
      }
    } finally {
      client.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
