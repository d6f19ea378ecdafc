// A kubeconfig cluster's tls-server-name: the server is reached at 127.0.0.1, but its certificate
// names only api.kubelite.test and 127.0.0.2, so a client must send that name (SNI) and verify the
// certificate against it — as kubectl does. The real kubectl runs against the same kubeconfigs as
// a reference.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import YAML from 'yaml';
import { ensureServingCredentials } from '../src/apiserver/pki.js';
import { RestClient, type WatchEvent } from '../src/client/rest.js';

const CERT_NAME = 'api.kubelite.test';
const CERT_IP = '127.0.0.2';

describe('kubeconfig tls-server-name', () => {
  let dir: string;
  let server: https.Server;
  let url: string;
  let caPem: string;
  /** The SNI of every TLS connection the server accepted. */
  const sniSeen: (string | false | null)[] = [];

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'kubelite-tls-name-'));
    // A serving certificate without 127.0.0.1: reaching it there must fail without tls-server-name.
    const creds = await ensureServingCredentials(dir, [CERT_NAME], [CERT_IP]);
    caPem = creds.caPem;
    server = https.createServer({ cert: creds.certPem, key: creds.keyPem }, (req, res) => {
      res.setHeader('Content-Type', 'application/json');
      if (req.url?.startsWith('/api/v1/pods') && req.url.includes('watch=true')) {
        res.end(`${JSON.stringify({ type: 'ADDED', object: { kind: 'Pod', metadata: { name: 'p' } } })}\n`);
        return;
      }
      res.end(JSON.stringify({ major: '1', minor: '32', gitVersion: 'v1.32.4' }));
    });
    server.on('secureConnection', (s) => sniSeen.push(s.servername));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(() => {
    server.closeAllConnections();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A kubeconfig for the test server, with the given tls-server-name (none when undefined). */
  function kubeconfig(name: string, tlsServerName: string | undefined): string {
    const cluster: Record<string, string> = { server: url, 'certificate-authority-data': Buffer.from(caPem).toString('base64') };
    if (tlsServerName !== undefined) cluster['tls-server-name'] = tlsServerName;
    const file = path.join(dir, `${name}.kubeconfig`);
    writeFileSync(file, YAML.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'c',
      clusters: [{ name: 'c', cluster }], users: [{ name: 'u', user: { token: 't' } }],
      contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
    }));
    return file;
  }

  function kubectl(file: string): Promise<{ code: number; stderr: string }> {
    return new Promise((resolve) => {
      execFile('kubectl', [`--kubeconfig=${file}`, `--cache-dir=${path.join(dir, 'kubectl-cache')}`, 'get', '--raw', '/version'], { timeout: 60_000 },
        (error, _stdout, stderr) => resolve({ code: error ? 1 : 0, stderr }));
    });
  }

  test('a name in the certificate: requests and watches work, and the name is sent as SNI', async () => {
    const file = kubeconfig('right', CERT_NAME);
    const client = await RestClient.fromKubeconfig(file);
    try {
      sniSeen.length = 0;
      const version = await client.get<{ gitVersion: string }>('/version');
      assert.equal(version.gitVersion, 'v1.32.4');
      const events: WatchEvent[] = [];
      const w = client.watch('/api/v1/pods', {}, (e) => events.push(e));
      await w.done;
      assert.deepEqual(events.map((e) => e.type), ['ADDED']);
      assert.deepEqual(sniSeen, [CERT_NAME, CERT_NAME], 'the pooled connection and the watch connection both send the name');
    } finally {
      client.close();
    }
    assert.equal((await kubectl(file)).code, 0, 'kubectl accepts the same kubeconfig');
  });

  test('an IP address as tls-server-name is checked against the IP SANs and not sent as SNI', async () => {
    const client = await RestClient.fromKubeconfig(kubeconfig('ip', CERT_IP));
    try {
      sniSeen.length = 0;
      assert.equal((await client.get<{ gitVersion: string }>('/version')).gitVersion, 'v1.32.4');
      assert.deepEqual(sniSeen, [false], 'SNI carries host names only (RFC 6066)');
    } finally {
      client.close();
    }
  });

  test('without tls-server-name the certificate does not match 127.0.0.1', async () => {
    const file = kubeconfig('none', undefined);
    const client = await RestClient.fromKubeconfig(file);
    try {
      await assert.rejects(client.get('/version'), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
    } finally {
      client.close();
    }
    assert.notEqual((await kubectl(file)).code, 0, 'kubectl rejects it too');
  });

  test('a name not in the certificate fails with an error naming tls-server-name', async () => {
    const file = kubeconfig('wrong', 'wrong.kubelite.test');
    const client = await RestClient.fromKubeconfig(file);
    try {
      await assert.rejects(client.get('/version'), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
        assert.match(e.message, /tls-server-name "wrong\.kubelite\.test"/);
        assert.match(e.message, /api\.kubelite\.test/, 'the message names what the certificate is valid for');
        return true;
      });
      await assert.rejects(client.watch('/api/v1/pods', {}, () => {}).done, { code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
    } finally {
      client.close();
    }
    const k = await kubectl(file);
    assert.notEqual(k.code, 0);
    assert.match(k.stderr, /wrong\.kubelite\.test/, 'kubectl names the wrong name as well');
  });
});
