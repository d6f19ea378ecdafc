// Bad input through the real kubectl: each class of error comes back as a Status that kubectl
// prints as it does against a real cluster, the server keeps running, and nothing acknowledged
// before is damaged.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import YAML from 'yaml';
import { startCluster, tempFile, type Cluster } from './helpers/cluster.js';

const svc = (name: string, spec: object = { selector: { app: 'web' }, ports: [{ port: 80 }] }) =>
  ({ apiVersion: 'v1', kind: 'Service', metadata: { name }, spec });
const deploy = (spec: Record<string, unknown>) => ({
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' },
  spec: { replicas: 1, selector: { matchLabels: { app: 'web' } },
    template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] } }, ...spec },
});

describe('bad input', () => {
  let c: Cluster;
  let keptUid: string;
  before(async () => {
    c = await startCluster();
    await c.k('create', '-f', tempFile('keep.yaml', YAML.stringify(svc('keep'))));
    keptUid = await c.k('get', 'svc', 'keep', '-o', 'jsonpath={.metadata.uid}');
  });
  after(async () => { await c?.cleanup(); });

  /** kubectl create -f <manifest>; returns its stderr, asserting it failed. */
  async function createFails(obj: unknown, name = 'x.yaml'): Promise<string> {
    const f = tempFile(name, typeof obj === 'string' ? obj : YAML.stringify(obj));
    const r = await c.kubectl(['create', '-f', f]);
    assert.equal(r.code, 1, `expected failure, got: ${r.stdout}`);
    return r.stderr.trim().replace(f, 'x.yaml');
  }

  test('malformed JSON → 400 BadRequest', async () => {
    const f = tempFile('bad.json', '{"apiVersion":"v1","kind":"Pod",');
    const r = await c.kubectl(['create', '--raw', '/api/v1/namespaces/default/pods', '-f', f]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^Error from server \(BadRequest\): couldn't get version\/kind; json parse error: /);
  });

  test('malformed YAML body → 400 BadRequest', async () => {
    const res = await c.request('POST', '/api/v1/namespaces/default/services', undefined,
      { raw: 'metadata:\n  name: [unclosed\n', headers: { 'Content-Type': 'application/yaml' } });
    assert.equal(res.status, 400);
    assert.equal(res.json().reason, 'BadRequest');
    assert.match(res.json().message, /^error converting YAML to JSON: /);
  });

  test('invalid names, labels, ports, protocols → 422 Invalid with causes', async () => {
    assert.equal(await createFails(svc('Bad_Name')),
      `The Service "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')`);
    const badLabel = svc('web');
    (badLabel.metadata as Record<string, unknown>).labels = { app: '-bad-' };
    assert.equal(await createFails(badLabel),
      `The Service "web" is invalid: metadata.labels: Invalid value: "-bad-": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`);
    assert.equal(await createFails(svc('web', { ports: [{ port: 70000, targetPort: 80 }] })),
      'The Service "web" is invalid: spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive');
    assert.equal(await createFails(svc('web', { ports: [{ port: 80, protocol: 'HTTP' }] })),
      'The Service "web" is invalid: spec.ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"');
    // Several errors: kubectl lists the Status causes one per line.
    assert.equal(await createFails(svc('web', { ports: [{ port: 0, targetPort: 80, protocol: 'HTTP' }] })),
      'The Service "web" is invalid: \n' +
      '* spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive\n' +
      '* spec.ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"');
    // The Status carries the causes.
    const res = await c.request('POST', '/api/v1/namespaces/default/services', svc('web', { ports: [{ port: 0, targetPort: 80 }] }));
    assert.equal(res.status, 422);
    const status = res.json();
    assert.equal(status.kind, 'Status');
    assert.equal(status.reason, 'Invalid');
    assert.deepEqual(status.details.causes, [{ reason: 'FieldValueInvalid', message: 'Invalid value: 0: must be between 1 and 65535, inclusive', field: 'spec.ports[0].port' }]);
  });

  test('invalid IPs in Endpoints → 422', async () => {
    const ep = { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'ext' }, subsets: [{ addresses: [{ ip: 'not-an-ip' }], ports: [{ port: 80 }] }] };
    // Upstream reports this address twice (IP syntax, then the special-address check).
    assert.equal(await createFails(ep), 'The Endpoints "ext" is invalid: \n' +
      '* subsets[0].addresses[0].ip: Invalid value: "not-an-ip": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)\n' +
      '* subsets[0].addresses[0].ip: Invalid value: "not-an-ip": must be a valid IP address');
  });

  test('selectors and required fields → 422', async () => {
    assert.equal(await createFails(deploy({ selector: { matchLabels: { app: 'other' } } })),
      'The Deployment "web" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{"app":"web"}: `selector` does not match template `labels`');
    const noImage = deploy({});
    (noImage.spec as any).template.spec.containers[0].image = undefined;
    assert.equal(await createFails(noImage), 'The Deployment "web" is invalid: spec.template.spec.containers[0].image: Required value');
    const badSelector = await c.kubectl(['get', 'pods', '-l', 'app in (a,']);
    assert.equal(badSelector.code, 1);
    assert.match(badSelector.stderr, /unable to parse requirement/);
  });

  test('unknown fields with fieldValidation=Strict → 400, Warn → warning', async () => {
    const typo = deploy({ replicaz: 3 });
    const err = await createFails(typo);
    assert.equal(err, 'Error from server (BadRequest): error when creating "x.yaml": Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.replicaz"');
    const f = tempFile('warn.yaml', YAML.stringify(typo));
    const warned = await c.kubectl(['create', '--validate=warn', '-f', f]);
    assert.equal(warned.code, 0, warned.stderr);
    assert.match(warned.stderr, /Warning: unknown field "spec.replicaz"/);
    assert.equal(await c.k('get', 'deploy', 'web', '-o', 'jsonpath={.spec.replicaz}'), '');
    await c.k('delete', 'deploy', 'web');
  });

  test('duplicate fields in a JSON body are strict decoding errors, in document order', async () => {
    const raw = '{"apiVersion":"v1","kind":"Service","metadata":{"name":"dup"},"spec":{"ports":[{"port":80}],"bogus":1,"ports":[{"port":81}]}}';
    const res = await c.request('POST', '/api/v1/namespaces/default/services?fieldValidation=Strict', undefined, { raw, headers: { 'Content-Type': 'application/json' } });
    assert.equal(res.status, 400);
    assert.equal(res.json().message, 'Service in version "v1" cannot be handled as a Service: strict decoding error: unknown field "spec.bogus", duplicate field "spec.ports"');
    const warn = await c.request('POST', '/api/v1/namespaces/default/services?fieldValidation=Warn', undefined, { raw, headers: { 'Content-Type': 'application/json' } });
    assert.equal(warn.status, 201);
    assert.deepEqual(warn.headers.warning, '299 - "unknown field \\"spec.bogus\\"", 299 - "duplicate field \\"spec.ports\\""');
    await c.request('DELETE', '/api/v1/namespaces/default/services/dup');
  });

  test('bodies over 3 MiB → 413', async () => {
    const big = svc('big');
    (big.metadata as Record<string, unknown>).annotations = { blob: 'x'.repeat(3 * 1024 * 1024) };
    const f = tempFile('big.json', JSON.stringify(big));
    writeFileSync(f, JSON.stringify(big));
    const r = await c.kubectl(['create', '--raw', '/api/v1/namespaces/default/services', '-f', f]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Error from server \(RequestEntityTooLarge\): Request entity too large: limit is 3145728/);
  });

  test('unknown resources → 404', async () => {
    const r = await c.kubectl(['get', 'widgets']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /error: the server doesn't have a resource type "widgets"/);
    const raw = await c.kubectl(['get', '--raw', '/api/v1/widgets']);
    assert.equal(raw.code, 1);
    assert.match(raw.stderr, /Error from server \(NotFound\): the server could not find the requested resource/);
    const missing = await c.kubectl(['get', 'svc', 'nope']);
    assert.equal(missing.stderr.trim(), 'Error from server (NotFound): services "nope" not found');
    const missingDeploy = await c.kubectl(['get', 'deploy', 'nope']);
    assert.equal(missingDeploy.stderr.trim(), 'Error from server (NotFound): deployments.apps "nope" not found');
  });

  test('duplicates → 409 AlreadyExists; stale updates → 409 Conflict', async () => {
    const f = tempFile('dup.yaml', YAML.stringify(svc('keep')));
    const r = await c.kubectl(['create', '-f', f]);
    assert.equal(r.stderr.trim(), `Error from server (AlreadyExists): error when creating "${f}": services "keep" already exists`);
    const live = JSON.parse(await c.k('get', 'svc', 'keep', '-o', 'json'));
    await c.k('label', 'svc', 'keep', 'touched=yes');
    const stale = tempFile('stale.json', JSON.stringify(live));
    const rep = await c.kubectl(['replace', '-f', stale]);
    assert.equal(rep.code, 1);
    assert.equal(rep.stderr.trim(), `Error from server (Conflict): error when replacing "${stale}": Operation cannot be fulfilled on services "keep": the object has been modified; please apply your changes to the latest version and try again`);
  });

  test('no or wrong token → 401', async () => {
    const r = await c.kubectl(['--token=not-a-token', 'get', 'pods']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /error: You must be logged in to the server \(Unauthorized\)/);
    const res = await c.request('GET', '/api/v1/namespaces', undefined, { token: null });
    assert.equal(res.status, 401);
    assert.equal(res.json().reason, 'Unauthorized');
    // Health and version stay public, as upstream.
    assert.equal((await c.request('GET', '/readyz', undefined, { token: null })).status, 200);
    assert.equal((await c.request('GET', '/version', undefined, { token: null })).status, 200);
  });

  test('the server is still up and lost nothing', async () => {
    assert.equal((await c.request('GET', '/readyz')).body, 'ok');
    assert.equal(await c.k('get', 'svc', 'keep', '-o', 'jsonpath={.metadata.uid}'), keptUid);
    assert.equal(c.proc.exitCode, null);
  });
});
