// The generated OpenAPI definitions, the /openapi handler, unknown/duplicate field detection, and
// the real kubectl (explain, client-side validation, server-side strict errors) against a tiny stub
// server that serves only /version, aggregated discovery, OpenAPI and a strict-decoding POST.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import {
  definitions, findUnknownFields, pruneUnknownFields, resolveRef, resolveSchema, schemaForKind, strictDecodingErrors, type SchemaNode,
} from '../src/api/schema.js';
import { serveOpenAPI } from '../src/apiserver/openapi.js';
import { aggregatedContentType, coreAggregated, groupsAggregated } from '../src/apiserver/discovery.js';
import { RESOURCES, apiVersionOf } from '../src/api/resources.js';

const CORE = 'io.k8s.api.core.v1';
const META = 'io.k8s.apimachinery.pkg.apis.meta.v1';
const def = (name: string): SchemaNode => {
  const d = definitions()[name];
  assert.ok(d, `definition ${name} exists`);
  return d;
};
const prop = (name: string, field: string): SchemaNode => {
  const p = def(name).properties?.[field];
  assert.ok(p, `${name}.${field} exists`);
  return p;
};
const refOf = (node: SchemaNode | undefined) => (node?.allOf?.[0] ?? node)?.$ref;

describe('generated definitions', () => {
  test('upstream names and shapes of the special types', () => {
    assert.deepEqual(def(`${META}.Time`), { description: def(`${META}.Time`).description, type: 'string', format: 'date-time' });
    assert.equal(def(`${META}.MicroTime`).format, 'date-time');
    assert.equal(def('io.k8s.apimachinery.pkg.util.intstr.IntOrString')['x-kubernetes-int-or-string'], true);
    assert.equal(def('io.k8s.apimachinery.pkg.util.intstr.IntOrString').format, 'int-or-string');
    assert.equal(def('io.k8s.apimachinery.pkg.api.resource.Quantity')['x-kubernetes-int-or-string'], true);
    assert.equal(def(`${META}.FieldsV1`).type, 'object');
    for (const name of [`${CORE}.PodSpec`, `${META}.ObjectMeta`, `${META}.Status`, `${META}.DeleteOptions`, `${META}.Patch`,
      'io.k8s.api.autoscaling.v1.Scale', 'io.k8s.api.discovery.v1.EndpointSlice', 'io.k8s.api.coordination.v1.LeaseList']) def(name);
  });

  test('every served kind and its list has a definition carrying its GVK', () => {
    for (const r of RESOURCES) {
      for (const kind of [r.kind, r.listKind]) {
        const node = schemaForKind(apiVersionOf(r), kind);
        assert.ok(node, `${apiVersionOf(r)} ${kind}`);
        assert.deepEqual(node['x-kubernetes-group-version-kind'], [{ group: r.group, kind, version: r.version }]);
      }
    }
    assert.equal(schemaForKind('autoscaling/v1', 'Scale'), def('io.k8s.api.autoscaling.v1.Scale'));
    assert.equal(schemaForKind('apps/v1', 'DeleteOptions'), def(`${META}.DeleteOptions`));
    assert.equal(schemaForKind('v1', 'Nope'), undefined);
  });

  test('fields: refs wrapped upstream-style, required, formats, maps', () => {
    const containers = prop(`${CORE}.PodSpec`, 'containers');
    assert.equal(containers.type, 'array');
    assert.deepEqual(containers.items, { allOf: [{ $ref: `#/components/schemas/${CORE}.Container` }], default: {} });
    assert.deepEqual(def(`${CORE}.PodSpec`).required, ['containers']);
    assert.deepEqual(prop(`${CORE}.ContainerPort`, 'containerPort'), {
      type: 'integer', format: 'int32', description: prop(`${CORE}.ContainerPort`, 'containerPort').description, default: 0,
    });
    assert.equal(prop(`${CORE}.ContainerPort`, 'protocol').default, 'TCP');
    assert.equal(refOf(prop(`${META}.ObjectMeta`, 'creationTimestamp')), `#/components/schemas/${META}.Time`);
    assert.equal(refOf(prop('io.k8s.api.coordination.v1.LeaseSpec', 'renewTime')), `#/components/schemas/${META}.MicroTime`);
    assert.deepEqual(prop(`${CORE}.ResourceRequirements`, 'limits').additionalProperties,
      { $ref: '#/components/schemas/io.k8s.apimachinery.pkg.api.resource.Quantity' });
    assert.deepEqual(prop(`${META}.ObjectMeta`, 'labels').additionalProperties, { type: 'string', default: '' });
    const targetPort = prop(`${CORE}.ServicePort`, 'targetPort');
    assert.equal(refOf(targetPort), '#/components/schemas/io.k8s.apimachinery.pkg.util.intstr.IntOrString');
    assert.match(targetPort.description ?? '', /^Number or name of the port to access on the pods/);
    assert.deepEqual(prop('io.k8s.api.apps.v1.Deployment', 'spec').default, {});
    // Descriptions keep upstream's paragraph breaks where kubernetes-types has them.
    assert.match(prop(`${META}.ObjectMeta`, 'creationTimestamp').description ?? '', /in UTC\.\n\nPopulated by the system/);
  });

  test('patch and list extensions from the Go struct tags', () => {
    const containers = prop(`${CORE}.PodSpec`, 'containers');
    assert.equal(containers['x-kubernetes-patch-strategy'], 'merge');
    assert.equal(containers['x-kubernetes-patch-merge-key'], 'name');
    assert.equal(containers['x-kubernetes-list-type'], 'map');
    assert.deepEqual(containers['x-kubernetes-list-map-keys'], ['name']);
    assert.equal(prop(`${CORE}.PodSpec`, 'volumes')['x-kubernetes-patch-strategy'], 'merge,retainKeys');
    assert.equal(prop('io.k8s.api.apps.v1.DeploymentSpec', 'strategy')['x-kubernetes-patch-strategy'], 'retainKeys');
    assert.deepEqual(prop(`${CORE}.ServiceSpec`, 'ports')['x-kubernetes-list-map-keys'], ['port', 'protocol']);
    assert.equal(prop(`${CORE}.ServiceSpec`, 'ports')['x-kubernetes-patch-merge-key'], 'port');
    assert.equal(prop(`${CORE}.Container`, 'ports')['x-kubernetes-patch-merge-key'], 'containerPort');
    assert.equal(prop(`${META}.ObjectMeta`, 'finalizers')['x-kubernetes-list-type'], 'set');
    assert.equal(prop(`${META}.ObjectMeta`, 'ownerReferences')['x-kubernetes-patch-merge-key'], 'uid');
    // Merges by ip in a strategic merge patch, yet atomic for server-side apply.
    assert.equal(prop(`${CORE}.PodStatus`, 'hostIPs')['x-kubernetes-patch-merge-key'], 'ip');
    assert.equal(prop(`${CORE}.PodStatus`, 'hostIPs')['x-kubernetes-list-type'], 'atomic');
    assert.equal(prop(`${CORE}.EndpointSubset`, 'addresses')['x-kubernetes-list-type'], 'atomic');
    assert.equal(prop(`${CORE}.EndpointSubset`, 'addresses')['x-kubernetes-patch-merge-key'], undefined);
    assert.equal(def(`${META}.LabelSelector`)['x-kubernetes-map-type'], 'atomic');
  });

  test('resolveSchema and resolveRef follow allOf/$ref', () => {
    assert.equal(resolveSchema(prop(`${CORE}.PodSpec`, 'containers').items), def(`${CORE}.Container`));
    assert.equal(resolveRef(`#/components/schemas/${CORE}.Pod`), def(`${CORE}.Pod`));
    assert.equal(resolveRef('#/definitions/x'), undefined);
  });
});

describe('unknown and duplicate fields', () => {
  const deployment = () => ({
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name: 'web', labels: { 'app.kubernetes.io/name': 'web' }, creationTimestamp: null,
      managedFields: [{ manager: 'x', fieldsV1: { 'f:spec': { 'f:anything': {} } } }] },
    spec: {
      replicaz: 2,
      selector: { matchLabels: { app: 'web' } },
      strategy: { rollingUpdate: { maxSurge: '25%', maxUnavailable: 1 } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: { containers: [{ name: 'a', image: 'nginx' }, { name: 'b', imagee: 'nginx', resources: { limits: { cpu: '1' } } }] },
      },
    },
    status: { replicas: 1, bogus: true },
    extra: { nested: 1 },
  });

  test('paths as upstream prints them', () => {
    assert.deepEqual(findUnknownFields('apps/v1', 'Deployment', deployment()),
      ['spec.replicaz', 'spec.template.spec.containers[1].imagee', 'status.bogus', 'extra']);
    assert.deepEqual(findUnknownFields('v1', 'Service', { spec: { ports: [{ port: 80, targetPort: 'http', nodeport: 1 }] } }),
      ['spec.ports[0].nodeport']);
    assert.deepEqual(findUnknownFields('v1', 'Pod', { metadata: { labels: { a: 'b' } }, spec: { containers: [] } }), []);
    // Wrong JSON types are the decoder's type errors, not unknown fields.
    assert.deepEqual(findUnknownFields('v1', 'Pod', { spec: 'x', metadata: [1] }), []);
    assert.deepEqual(findUnknownFields('example.com/v1', 'Widget', { anything: 1 }), []);
  });

  test('pruneUnknownFields drops them', () => {
    const obj = deployment();
    assert.equal(pruneUnknownFields('apps/v1', 'Deployment', obj).length, 4);
    assert.deepEqual(findUnknownFields('apps/v1', 'Deployment', obj), []);
    assert.equal((obj.spec.template.spec.containers[1] as Record<string, unknown>).name, 'b');
    assert.equal('imagee' in obj.spec.template.spec.containers[1], false);
    assert.deepEqual(obj.status, { replicas: 1 });
  });

  test('strictDecodingErrors: document order, duplicates of known fields and map keys, each message once', () => {
    const body = '{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"a","name":"b","labels":{"x":"1","x":"2"}},' +
      '"spec":{"replicas":1, "replicas" : 2,"foo":1,"foo":2,"template":{"spec":{"containers":[{"name":"c","ima\\u0067ee":"x",' +
      '"im\\u0061ge":"y","image":"z"}]}}},"status":{"conditions":[{"type":"A","type":"B","x":[{"y":1}]}]}}';
    JSON.parse(body);
    assert.deepEqual(strictDecodingErrors('apps/v1', 'Deployment', body), [
      'duplicate field "metadata.name"',
      'duplicate field "metadata.labels.x"',
      'duplicate field "spec.replicas"',
      'unknown field "spec.foo"',
      'unknown field "spec.template.spec.containers[0].imagee"',
      'duplicate field "spec.template.spec.containers[0].image"',
      'duplicate field "status.conditions[0].type"',
      'unknown field "status.conditions[0].x"',
    ]);
    // Opaque values (FieldsV1) and unknown subtrees are not looked into.
    assert.deepEqual(strictDecodingErrors('v1', 'Pod',
      '{"metadata":{"managedFields":[{"fieldsV1":{"a":1,"a":2}}]},"zzz":{"a":1,"a":2}}'), ['unknown field "zzz"']);
    assert.deepEqual(strictDecodingErrors('v1', 'Service', ' { "spec" : { "ports" : [ ] , "type" : null } } '), []);
  });
});

describe('OpenAPI handler', () => {
  const get = (url: string, headers: http.IncomingHttpHeaders = {}) => {
    const u = new URL(url, 'http://127.0.0.1');
    return serveOpenAPI(u.pathname, u.searchParams, headers);
  };
  const index = () => JSON.parse(String(get('/openapi/v3')!.body)) as { paths: Record<string, { serverRelativeURL: string }> };

  test('index lists every group-version with a hashed URL', () => {
    const paths = index().paths;
    assert.deepEqual(Object.keys(paths), ['api/v1', 'apis/apps/v1', 'apis/coordination.k8s.io/v1', 'apis/discovery.k8s.io/v1', 'apis/node.k8s.io/v1']);
    assert.match(paths['api/v1'].serverRelativeURL, /^\/openapi\/v3\/api\/v1\?hash=[0-9A-F]{128}$/);
  });

  test('group-version documents: PATCH operations kubectl recognises, only the schemas needed', () => {
    const doc = JSON.parse(String(get(index().paths['apis/apps/v1'].serverRelativeURL)!.body));
    assert.equal(doc.openapi, '3.0.0');
    const item = doc.paths['/apis/apps/v1/namespaces/{namespace}/deployments/{name}'];
    assert.deepEqual(item.patch['x-kubernetes-group-version-kind'], { group: 'apps', kind: 'Deployment', version: 'v1' });
    assert.equal(item.patch['x-kubernetes-action'], 'patch');
    assert.equal(item.patch.operationId, 'patchAppsV1NamespacedDeployment');
    assert.deepEqual(item.patch.parameters.map((p: { name: string }) => p.name), ['dryRun', 'fieldManager', 'fieldValidation', 'force']);
    assert.ok(item.patch.requestBody.content['application/strategic-merge-patch+json']);
    const scale = doc.paths['/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale'];
    assert.deepEqual(scale.put['x-kubernetes-group-version-kind'], { group: 'autoscaling', kind: 'Scale', version: 'v1' });
    assert.ok(doc.paths['/apis/apps/v1/replicasets'].get);
    assert.ok(doc.components.schemas['io.k8s.api.autoscaling.v1.Scale']);
    assert.ok(doc.components.schemas[`${CORE}.PodSpec`]);
    assert.equal(doc.components.schemas[`${CORE}.Service`], undefined);
    const core = JSON.parse(String(get(index().paths['api/v1'].serverRelativeURL)!.body));
    assert.equal(core.paths['/api/v1/namespaces/{name}'].delete.operationId, 'deleteCoreV1Namespace');
    assert.equal(core.paths['/api/v1/namespaces/{name}/finalize'].put['x-kubernetes-action'], 'put');
    assert.equal(core.paths['/api/v1/namespaces/{namespace}/endpoints'].post.description, 'create Endpoints');
    assert.equal(core.paths['/api/v1/namespaces'].delete, undefined, 'namespaces have no deletecollection');
  });

  test('ETag, If-None-Match → 304, caching headers, stale hash → 301', () => {
    const url = index().paths['api/v1'].serverRelativeURL;
    const first = get(url)!;
    assert.equal(first.status, 200);
    assert.equal(first.headers['Content-Type'], 'application/json');
    assert.equal(first.headers['Cache-Control'], 'public, immutable');
    assert.equal(first.headers.Etag, `"${new URL(url, 'http://x').searchParams.get('hash')}"`);
    const again = get(url, { 'if-none-match': first.headers.Etag })!;
    assert.equal(again.status, 304);
    assert.equal(again.body, '');
    assert.equal(get(url, { 'if-none-match': '"other", W/' + first.headers.Etag })!.status, 304);
    assert.equal(get(url, { 'if-none-match': '"other"' })!.status, 200);
    assert.equal(get('/openapi/v3/api/v1')!.headers['Cache-Control'], 'no-cache, private');
    const stale = get('/openapi/v3/api/v1?hash=0123')!;
    assert.equal(stale.status, 301);
    assert.equal(stale.headers.Location, url);
    const idx = get('/openapi/v3')!;
    assert.equal(get('/openapi/v3', { 'if-none-match': idx.headers.Etag })!.status, 304);
    assert.equal(get(url, { accept: 'application/com.github.proto-openapi.spec.v3.v1.0+protobuf' })!.status, 406);
  });

  test('v2 is an empty protobuf document; other paths are not ours', () => {
    const v2 = get('/openapi/v2')!;
    assert.equal(v2.status, 200);
    assert.equal(v2.body.length, 0);
    assert.equal(v2.headers['Content-Type'], 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf');
    assert.equal(get('/openapi/v3/apis/batch/v1'), undefined);
    assert.equal(get('/api/v1'), undefined);
  });
});

// ---------------------------------------------------------------------------------------------

const KUBECTL = '/usr/bin/kubectl';

describe('real kubectl against a stub server', { skip: existsSync(KUBECTL) ? false : `${KUBECTL} not installed` }, () => {
  let server: http.Server;
  let dir: string;
  let base: string[];
  /** `METHOD path?query` of every request, with ` (If-None-Match) -> 304` appended when revalidated. */
  const requests: string[] = [];

  const statusBody = (code: number, reason: string, message: string) =>
    JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'kubelite-openapi-'));
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => { body += d; });
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://127.0.0.1');
        requests.push(`${req.method} ${url.pathname}${url.search}`);
        const send = (status: number, contentType: string, data: string | Buffer, headers: Record<string, string> = {}) => {
          res.writeHead(status, { 'Content-Type': contentType, ...headers });
          res.end(data);
        };
        if (url.pathname === '/version') return send(200, 'application/json', JSON.stringify({ major: '1', minor: '32', gitVersion: 'v1.32.4' }));
        if (url.pathname === '/api') return send(200, aggregatedContentType('v2'), JSON.stringify(coreAggregated('v2')));
        if (url.pathname === '/apis') return send(200, aggregatedContentType('v2'), JSON.stringify(groupsAggregated('v2')));
        const openapi = serveOpenAPI(url.pathname, url.searchParams, req.headers);
        if (openapi?.status === 304) requests[requests.length - 1] += ' (If-None-Match) -> 304';
        if (openapi) {
          res.writeHead(openapi.status, openapi.headers);
          return res.end(openapi.body);
        }
        if (req.method === 'POST') {
          // What the real server does with fieldValidation=Strict.
          const obj = JSON.parse(body) as { apiVersion: string; kind: string };
          const errs = strictDecodingErrors(obj.apiVersion, obj.kind, body);
          if (errs.length) {
            const version = obj.apiVersion.split('/').pop();
            return send(400, 'application/json', statusBody(400, 'BadRequest',
              `${obj.kind} in version "${version}" cannot be handled as a ${obj.kind}: strict decoding error: ${errs.join(', ')}`));
          }
          return send(201, 'application/json', body);
        }
        send(404, 'application/json', statusBody(404, 'NotFound', 'not found'));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    writeFileSync(path.join(dir, 'kubeconfig'), '');
    base = [`--kubeconfig=${path.join(dir, 'kubeconfig')}`, `--server=http://127.0.0.1:${(server.address() as AddressInfo).port}`];
    writeFileSync(path.join(dir, 'good.yaml'), MANIFEST);
    writeFileSync(path.join(dir, 'bad.yaml'), MANIFEST.replace('replicas: 2', 'replicaz: 2').replace('image: nginx', 'imagee: nginx'));
  });

  after(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs kubectl with its own cache directory `cache` (kubectl caches /version, discovery and OpenAPI there). */
  const kubectl = (cache: string, ...args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(KUBECTL, [...base, `--cache-dir=${path.join(dir, cache)}`, ...args], { cwd: dir, timeout: 60_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
      });
    });

  test('kubectl explain service.spec', async () => {
    const r = await kubectl('explain-svc', 'explain', 'service.spec');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^KIND:\s+Service\nVERSION:\s+v1\n\nFIELD: spec <ServiceSpec>\n/);
    assert.match(r.stdout, /DESCRIPTION:\n {4}Spec defines the behavior of a service\./);
    assert.match(r.stdout, /ServiceSpec describes the attributes that a user creates on a service\./);
    assert.match(r.stdout, /\n {2}ports\t<\[\]ServicePort>\n {4}The list of ports that are exposed by this service\./);
    assert.match(r.stdout, /\n {2}selector\t<map\[string\]string>\n/);
    assert.match(r.stdout, /\n {2}type\t<string>\n/);
  });

  test('kubectl explain deployment.spec.template.spec.containers.ports', async () => {
    const r = await kubectl('explain-deploy', 'explain', 'deployment.spec.template.spec.containers.ports');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^GROUP:\s+apps\nKIND:\s+Deployment\nVERSION:\s+v1\n\nFIELD: ports <\[\]ContainerPort>\n/);
    assert.match(r.stdout, /\n {2}containerPort\t<integer> -required-\n {4}Number of port to expose on the pod's IP address\./);
    assert.match(r.stdout, /\n {2}protocol\t<string>\n/);
  });

  test('kubectl apply --dry-run=client validates against the OpenAPI documents', async () => {
    requests.length = 0;
    const r = await kubectl('apply', 'apply', '--dry-run=client', '-f', 'good.yaml', '-o', 'name');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'service/web\ndeployment.apps/web\n');
    assert.ok(requests.some((q) => q.startsWith('GET /openapi/v3/api/v1?hash=')), requests.join('\n'));
    assert.ok(requests.some((q) => q.startsWith('GET /openapi/v3/apis/apps/v1?hash=')), requests.join('\n'));
    assert.ok(!requests.some((q) => q.startsWith('GET /openapi/v2')), 'the v3 documents sufficed');
    // Second run, same cache: the index is revalidated (304), the hashed documents are immutable.
    // The server advertises fieldValidation, so kubectl leaves unknown fields to it.
    requests.length = 0;
    const bad = await kubectl('apply', 'apply', '--dry-run=client', '-f', 'bad.yaml', '-o', 'name');
    assert.equal(bad.code, 0, bad.stderr);
    assert.ok(requests.includes('GET /openapi/v3?timeout=32s (If-None-Match) -> 304'), requests.join('\n'));
    assert.ok(!requests.some((q) => q.startsWith('GET /openapi/v3/api')), requests.join('\n'));
  });

  test('kubectl create -f with a typo gets upstream\'s strict decoding error', async () => {
    requests.length = 0;
    const r = await kubectl('create', 'create', '-f', 'bad.yaml');
    assert.equal(r.code, 1);
    assert.equal(r.stdout, 'service/web created\n');
    assert.equal(r.stderr.trim(), 'Error from server (BadRequest): error when creating "bad.yaml": Deployment in version "v1" cannot be handled ' +
      'as a Deployment: strict decoding error: unknown field "spec.replicaz", unknown field "spec.template.spec.containers[0].imagee"');
    assert.ok(requests.includes('POST /apis/apps/v1/namespaces/default/deployments?fieldManager=kubectl-create&fieldValidation=Strict'), requests.join('\n'));
  });
});

const MANIFEST = `apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports:
        - containerPort: 80
`;
