// Imperative kubectl commands and the apply family against kubelite, output compared with what
// upstream kubectl prints. Commands that need controllers (rollout status, wait on pods made by a
// Deployment...) are tested with the controllers' issue.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync } from 'node:fs';
import YAML from 'yaml';
import { startCluster, tempFile, type Cluster } from './helpers/cluster.js';

const deployment = {
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', labels: { app: 'web' } },
  spec: { replicas: 2, selector: { matchLabels: { app: 'web' } },
    template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx:1.27', ports: [{ containerPort: 80 }] }] } } },
};

describe('imperative kubectl commands', () => {
  let c: Cluster;
  before(async () => {
    c = await startCluster();
    await c.k('apply', '-f', tempFile('web.yaml', YAML.stringify(deployment)));
  });
  after(async () => { await c?.cleanup(); });

  test('create namespace|deployment|service (protobuf bodies)', async () => {
    assert.equal(await c.k('create', 'namespace', 'team'), 'namespace/team created\n');
    assert.equal(await c.k('create', 'deployment', 'api', '--image=nginx:1.27', '--replicas=2', '--port=80', '-n', 'team'), 'deployment.apps/api created\n');
    assert.equal(await c.k('create', 'service', 'clusterip', 'api', '--tcp=80:8080', '-n', 'team'), 'service/api created\n');
    assert.equal(await c.k('create', 'service', 'nodeport', 'np', '--tcp=80:8080', '--node-port=30080', '-n', 'team'), 'service/np created\n');
    const d = JSON.parse(await c.k('get', 'deploy', 'api', '-n', 'team', '-o', 'json'));
    assert.equal(d.spec.replicas, 2);
    assert.equal(d.spec.strategy.type, 'RollingUpdate');
    assert.deepEqual(d.spec.template.spec.containers[0].ports, [{ containerPort: 80, protocol: 'TCP' }]);
    const s = JSON.parse(await c.k('get', 'svc', 'api', '-n', 'team', '-o', 'json'));
    assert.deepEqual(s.spec.ports, [{ name: '80-8080', port: 80, protocol: 'TCP', targetPort: 8080 }]);
    assert.deepEqual(s.spec.selector, { app: 'api' });
    assert.equal(await c.k('get', 'svc', 'np', '-n', 'team', '-o', 'jsonpath={.spec.type} {.spec.ports[0].nodePort}'), 'NodePort 30080');
  });

  test('label and annotate, with --overwrite and removal', async () => {
    assert.equal(await c.k('label', 'deploy', 'web', 'tier=front'), 'deployment.apps/web labeled\n');
    const clash = await c.kubectl(['label', 'deploy', 'web', 'tier=back']);
    assert.equal(clash.code, 1);
    assert.equal(clash.stderr, "error: 'tier' already has a value (front), and --overwrite is false\n");
    assert.equal(await c.k('label', 'deploy', 'web', 'tier=back', '--overwrite'), 'deployment.apps/web labeled\n');
    assert.equal(await c.k('label', 'deploy', 'web', 'tier-'), 'deployment.apps/web unlabeled\n');
    assert.equal(await c.k('annotate', 'deploy', 'web', 'owner=team-a'), 'deployment.apps/web annotated\n');
    assert.equal(await c.k('get', 'deploy', 'web', '-o', 'jsonpath={.metadata.labels.tier}|{.metadata.annotations.owner}'), '|team-a');
  });

  test('scale, set image, rollout restart, edit', async () => {
    assert.equal(await c.k('scale', 'deploy', 'web', '--replicas=5'), 'deployment.apps/web scaled\n');
    assert.equal(await c.k('get', 'deploy', 'web', '-o', 'jsonpath={.spec.replicas}'), '5');
    assert.equal(await c.k('set', 'image', 'deploy/web', 'web=nginx:1.28'), 'deployment.apps/web image updated\n');
    assert.equal(await c.k('get', 'deploy', 'web', '-o', 'jsonpath={.spec.template.spec.containers[0].image}'), 'nginx:1.28');
    assert.equal(await c.k('rollout', 'restart', 'deploy/web'), 'deployment.apps/web restarted\n');
    assert.match(await c.k('get', 'deploy', 'web', '-o', 'jsonpath={.spec.template.metadata.annotations}'), /kubectl\.kubernetes\.io\/restartedAt/);
    // kubectl edit runs $EDITOR on a temp file of the object, then sends a strategic merge patch.
    const editor = tempFile('editor.sh', '#!/bin/sh\nsed -i "s/replicas: 5/replicas: 3/" "$1"\n');
    chmodSync(editor, 0o755);
    const edited = await c.kubectl(['edit', 'deploy', 'web'], { env: { EDITOR: editor, KUBE_EDITOR: editor } });
    assert.equal(edited.code, 0, edited.stderr);
    assert.equal(edited.stdout, 'deployment.apps/web edited\n');
    assert.equal(await c.k('get', 'deploy', 'web', '-o', 'jsonpath={.spec.replicas}'), '3');
    // 1 create, +1 annotate (a Deployment's annotations count, as upstream), scale, set image, restart, edit
    assert.equal(await c.k('get', 'deploy', 'web', '-o', 'jsonpath={.metadata.generation}'), '6');
  });

  test('expose, diff, apply --prune, delete -f', async () => {
    assert.equal(await c.k('expose', 'deployment', 'web', '--port=8080', '--target-port=80'), 'service/web exposed\n');
    const svc = JSON.parse(await c.k('get', 'svc', 'web', '-o', 'json'));
    assert.deepEqual(svc.spec.selector, { app: 'web' });
    assert.deepEqual(svc.spec.ports, [{ port: 8080, protocol: 'TCP', targetPort: 80 }]);
    assert.equal(svc.spec.type, 'ClusterIP');

    const a = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'a', labels: { set: 'p' } }, spec: { ports: [{ port: 80 }] } };
    const b = { ...a, metadata: { name: 'b', labels: { set: 'p' } } };
    const both = tempFile('both.yaml', `${YAML.stringify(a)}---\n${YAML.stringify(b)}`);
    assert.equal(await c.k('apply', '-f', both), 'service/a created\nservice/b created\n');
    // diff: exit 1 and a unified diff when the live object differs, exit 0 when not
    const changedA = tempFile('a.yaml', YAML.stringify({ ...a, spec: { ports: [{ port: 81 }] } }));
    const diff = await c.kubectl(['diff', '-f', changedA]);
    assert.equal(diff.code, 1, diff.stderr);
    assert.match(diff.stdout, /^-  - port: 80$/m);
    assert.match(diff.stdout, /^\+  - port: 81$/m);
    assert.equal(await c.k('get', 'svc', 'a', '-o', 'jsonpath={.spec.ports[0].port}'), '80', 'diff changed nothing (dryRun)');
    assert.equal((await c.kubectl(['diff', '-f', both])).code, 0);
    // prune: b is no longer in the file
    const onlyA = tempFile('only-a.yaml', YAML.stringify(a));
    const pruned = await c.kubectl(['apply', '--prune', '-l', 'set=p', '-f', onlyA, '--prune-allowlist=core/v1/Service']);
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.equal(pruned.stdout, 'service/a unchanged\nservice/b pruned\n');
    assert.equal(await c.k('delete', '-f', onlyA), 'service "a" deleted\n');
  });

  test('wait for a condition', async () => {
    await c.request('POST', '/api/v1/namespaces/default/pods', { metadata: { name: 'w' }, spec: { containers: [{ name: 'c', image: 'nginx' }] } });
    const waiting = c.kubectl(['wait', '--for=condition=Ready', 'pod/w', '--timeout=30s']);
    await new Promise((r) => setTimeout(r, 300));
    const pod = (await c.request('GET', '/api/v1/namespaces/default/pods/w')).json();
    pod.status = { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] };
    assert.equal((await c.request('PUT', '/api/v1/namespaces/default/pods/w/status', pod)).status, 200);
    const r = await waiting;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'pod/w condition met\n');
    const none = await c.kubectl(['wait', '--for=condition=Ready', 'pod', '-l', 'app=none', '--timeout=2s']);
    assert.equal(none.stderr, 'error: no matching resources found\n');
  });

  test('api-resources, api-versions, cluster-info, version, explain', async () => {
    assert.equal(await c.k('api-resources'), [
      'NAME             SHORTNAMES   APIVERSION               NAMESPACED   KIND',
      'endpoints        ep           v1                       true         Endpoints',
      'events           ev           v1                       true         Event',
      'namespaces       ns           v1                       false        Namespace',
      'nodes            no           v1                       false        Node',
      'pods             po           v1                       true         Pod',
      'services         svc          v1                       true         Service',
      'deployments      deploy       apps/v1                  true         Deployment',
      'replicasets      rs           apps/v1                  true         ReplicaSet',
      'leases                        coordination.k8s.io/v1   true         Lease',
      'endpointslices                discovery.k8s.io/v1      true         EndpointSlice',
      'runtimeclasses                node.k8s.io/v1           false        RuntimeClass',
      '',
    ].join('\n'));
    assert.equal(await c.k('api-versions'), 'apps/v1\ncoordination.k8s.io/v1\ndiscovery.k8s.io/v1\nnode.k8s.io/v1\nv1\n');
    assert.equal(await c.k('cluster-info'), `Kubernetes control plane is running at ${c.url}\n\nTo further debug and diagnose cluster problems, use 'kubectl cluster-info dump'.\n`);
    assert.equal(await c.k('version'), 'Client Version: v1.32.4-dispatcher\nKustomize Version: v5.5.0\nServer Version: v1.32.4+kubelite\n');
    const explain = await c.k('explain', 'service.spec.ports.port');
    assert.match(explain, /^KIND:\s+Service\nVERSION:\s+v1\n\nFIELD: port <integer>\n/);
    assert.match(explain, /The port that will be exposed by this service\./);
  });
});
