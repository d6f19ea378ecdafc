// Every verb on every resource through the real kubectl: create -f, apply -f (create, configure,
// unchanged), get (-o json, -o name), get -w, patch (strategic, merge, json), replace, label,
// annotate, delete.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import YAML from 'yaml';
import { startCluster, tempFile, type Cluster } from './helpers/cluster.js';
import { until } from './helpers/wait.js';

interface Case {
  /** kubectl resource name and the `kind/name` kubectl prints. */
  resource: string;
  printed: string;
  manifest: Record<string, any>;
  /** A change for `apply -f`, applied to a copy of the manifest. */
  change: (m: Record<string, any>) => void;
  /** jsonpath that shows the change, and its value after the change. */
  check: [string, string];
  strategic: [string, string, string]; // patch, jsonpath, expected
  merge: [string, string, string];
  json: [string, string, string];
  namespaced: boolean;
}

const pod = (name: string) => ({
  apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { app: 'web' } },
  spec: { containers: [{ name: 'web', image: 'nginx:1.27', ports: [{ containerPort: 80 }] }] },
});

const CASES: Case[] = [
  {
    resource: 'namespaces', printed: 'namespace/team-a', namespaced: false,
    manifest: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a', labels: { team: 'a' } } },
    change: (m) => { m.metadata.labels.team = 'b'; },
    check: ['{.metadata.labels.team}', 'b'],
    strategic: ['{"metadata":{"labels":{"s":"1"}}}', '{.metadata.labels.s}', '1'],
    merge: ['{"metadata":{"annotations":{"m":"2"}}}', '{.metadata.annotations.m}', '2'],
    json: ['[{"op":"add","path":"/metadata/labels/j","value":"3"}]', '{.metadata.labels.j}', '3'],
  },
  {
    resource: 'nodes', printed: 'node/node-x', namespaced: false,
    manifest: { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-x' }, spec: { podCIDR: '127.244.9.0/24' } },
    change: (m) => { m.spec.unschedulable = true; },
    check: ['{.spec.unschedulable}', 'true'],
    strategic: ['{"spec":{"taints":[{"key":"k","value":"v","effect":"NoSchedule"}]}}', '{.spec.taints[0].key}', 'k'],
    merge: ['{"metadata":{"labels":{"zone":"z1"}}}', '{.metadata.labels.zone}', 'z1'],
    json: ['[{"op":"replace","path":"/spec/unschedulable","value":false}]', '{.spec.unschedulable}', 'false'],
  },
  {
    resource: 'pods', printed: 'pod/web-1', namespaced: true,
    manifest: pod('web-1'),
    change: (m) => { m.spec.containers[0].image = 'nginx:1.28'; },
    check: ['{.spec.containers[0].image}', 'nginx:1.28'],
    strategic: ['{"spec":{"containers":[{"name":"web","image":"nginx:1.29"}]}}', '{.spec.containers[0].image}', 'nginx:1.29'],
    merge: ['{"metadata":{"labels":{"tier":"front"}}}', '{.metadata.labels.tier}', 'front'],
    json: ['[{"op":"replace","path":"/spec/containers/0/image","value":"nginx:1.30"}]', '{.spec.containers[0].image}', 'nginx:1.30'],
  },
  {
    resource: 'services', printed: 'service/web', namespaced: true,
    manifest: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] } },
    change: (m) => { m.spec.ports[0].targetPort = 9090; },
    check: ['{.spec.ports[0].targetPort}', '9090'],
    // Merged by port: 80 gets a name (two ports must both be named), 443 is added.
    strategic: ['{"spec":{"ports":[{"port":80,"name":"http"},{"port":443,"targetPort":8443,"name":"https"}]}}', '{.spec.ports[?(@.port==443)].name}', 'https'],
    merge: ['{"spec":{"sessionAffinity":"ClientIP"}}', '{.spec.sessionAffinity}', 'ClientIP'],
    json: ['[{"op":"replace","path":"/spec/selector/app","value":"api"}]', '{.spec.selector.app}', 'api'],
  },
  {
    resource: 'endpoints', printed: 'endpoints/ext', namespaced: true,
    manifest: { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'ext' }, subsets: [{ addresses: [{ ip: '127.0.0.10' }], ports: [{ port: 80, protocol: 'TCP' }] }] },
    change: (m) => { m.subsets[0].addresses[0].ip = '127.0.0.11'; },
    check: ['{.subsets[0].addresses[0].ip}', '127.0.0.11'],
    strategic: ['{"subsets":[{"addresses":[{"ip":"127.0.0.12"}],"ports":[{"port":81}]}]}', '{.subsets[0].ports[0].port}', '81'],
    merge: ['{"metadata":{"labels":{"x":"y"}}}', '{.metadata.labels.x}', 'y'],
    json: ['[{"op":"replace","path":"/subsets/0/addresses/0/ip","value":"127.0.0.13"}]', '{.subsets[0].addresses[0].ip}', '127.0.0.13'],
  },
  {
    resource: 'events', printed: 'event/web-1.1', namespaced: true,
    manifest: { apiVersion: 'v1', kind: 'Event', metadata: { name: 'web-1.1' }, involvedObject: { kind: 'Pod', name: 'web-1', namespace: 'default' },
      reason: 'Started', message: 'Started container web', type: 'Normal', source: { component: 'kubelet' }, count: 1 },
    change: (m) => { m.count = 2; },
    check: ['{.count}', '2'],
    strategic: ['{"message":"Started again"}', '{.message}', 'Started again'],
    merge: ['{"count":5}', '{.count}', '5'],
    json: ['[{"op":"replace","path":"/reason","value":"Pulled"}]', '{.reason}', 'Pulled'],
  },
  {
    resource: 'deployments', printed: 'deployment.apps/web', namespaced: true,
    manifest: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' },
      spec: { replicas: 2, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } },
        spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] } } } },
    change: (m) => { m.spec.replicas = 3; },
    check: ['{.spec.replicas}', '3'],
    strategic: ['{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.28"}]}}}}', '{.spec.template.spec.containers[0].image}', 'nginx:1.28'],
    merge: ['{"spec":{"paused":true}}', '{.spec.paused}', 'true'],
    json: ['[{"op":"replace","path":"/spec/replicas","value":4}]', '{.spec.replicas}', '4'],
  },
  {
    resource: 'replicasets', printed: 'replicaset.apps/web-rs', namespaced: true,
    manifest: { apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'web-rs' },
      spec: { replicas: 1, selector: { matchLabels: { app: 'rs' } }, template: { metadata: { labels: { app: 'rs' } },
        spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] } } } },
    change: (m) => { m.spec.replicas = 2; },
    check: ['{.spec.replicas}', '2'],
    strategic: ['{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.28"}]}}}}', '{.spec.template.spec.containers[0].image}', 'nginx:1.28'],
    merge: ['{"spec":{"minReadySeconds":5}}', '{.spec.minReadySeconds}', '5'],
    json: ['[{"op":"replace","path":"/spec/replicas","value":0}]', '{.spec.replicas}', '0'],
  },
  {
    resource: 'endpointslices', printed: 'endpointslice.discovery.k8s.io/web-abc', namespaced: true,
    manifest: { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'web-abc', labels: { 'kubernetes.io/service-name': 'web' } },
      addressType: 'IPv4', endpoints: [{ addresses: ['127.0.0.20'], conditions: { ready: true } }], ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
    change: (m) => { m.endpoints[0].addresses = ['127.0.0.21']; },
    check: ['{.endpoints[0].addresses[0]}', '127.0.0.21'],
    strategic: ['{"ports":[{"name":"http","port":81,"protocol":"TCP"}]}', '{.ports[0].port}', '81'],
    merge: ['{"metadata":{"labels":{"x":"y"}}}', '{.metadata.labels.x}', 'y'],
    json: ['[{"op":"replace","path":"/endpoints/0/addresses/0","value":"127.0.0.22"}]', '{.endpoints[0].addresses[0]}', '127.0.0.22'],
  },
  {
    resource: 'leases', printed: 'lease.coordination.k8s.io/leader', namespaced: true,
    manifest: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'leader' }, spec: { holderIdentity: 'a', leaseDurationSeconds: 15 } },
    change: (m) => { m.spec.holderIdentity = 'b'; },
    check: ['{.spec.holderIdentity}', 'b'],
    strategic: ['{"spec":{"leaseTransitions":1}}', '{.spec.leaseTransitions}', '1'],
    merge: ['{"spec":{"holderIdentity":"c"}}', '{.spec.holderIdentity}', 'c'],
    json: ['[{"op":"replace","path":"/spec/leaseDurationSeconds","value":30}]', '{.spec.leaseDurationSeconds}', '30'],
  },
];

describe('kubectl verbs on every resource', () => {
  let c: Cluster;
  before(async () => { c = await startCluster(); });
  after(async () => { await c?.cleanup(); });

  for (const tc of CASES) {
    test(tc.resource, async (t) => {
      const name = tc.printed.split('/')[1];
      const kind = tc.printed.split('/')[0];
      const get = (jsonpath: string) => c.k('get', tc.resource, name, '-o', `jsonpath=${jsonpath}`);

      // get -w with watch events, running through the whole life of the object.
      const watch = spawn('kubectl', [`--kubeconfig=${c.kubeconfig}`, `--cache-dir=${c.dataDir}/kcache-w-${tc.resource}`,
        'get', tc.resource, '--watch', '--output-watch-events', '-o', 'json'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let watchOut = '';
      watch.stdout.on('data', (d) => { watchOut += d; });
      t.after(() => { watch.kill(); });

      /** The watch's events about this object so far (the last line may be half written: left out). */
      const watched = (): any[] => watchOut.split(/\n(?=\{)/).filter((chunk) => chunk.trim()).flatMap((chunk) => {
        try {
          return [JSON.parse(chunk)];
        } catch {
          return [];
        }
      }).filter((e: any) => e.object.metadata.name === name);

      const file = tempFile(`${tc.resource}.yaml`, YAML.stringify(tc.manifest));
      assert.equal((await c.k('create', '-f', file)).trim(), `${tc.printed} created`);
      // kubectl lists, then watches from the list: once it has printed the object (from its
      // list or as an event) no later change can be missed. It may start after the create.
      await until(() => watched().length > 0, 'kubectl get --watch printing the object');
      const created = JSON.parse(await c.k('get', tc.resource, name, '-o', 'json'));
      assert.equal(created.metadata.name, name);
      assert.match(created.metadata.uid, /^[0-9a-f-]{36}$/);
      assert.match(created.metadata.creationTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      if (tc.namespaced) assert.equal(created.metadata.namespace, 'default');
      assert.match((await c.k('get', tc.resource, '-o', 'name')), new RegExp(`^${tc.printed.replace(/\./g, '\\.')}$`, 'm'));

      // apply: a create-d object without the annotation is configured (with upstream's warning), then unchanged.
      const changed = structuredClone(tc.manifest);
      tc.change(changed);
      const applyFile = tempFile(`${tc.resource}-2.yaml`, YAML.stringify(changed));
      const applied = await c.kubectl(['apply', '-f', applyFile]);
      assert.equal(applied.code, 0, applied.stderr);
      assert.equal(applied.stdout.trim(), `${tc.printed} configured`);
      assert.match(applied.stderr, /missing the kubectl.kubernetes.io\/last-applied-configuration annotation/);
      assert.equal(await get(tc.check[0]), tc.check[1]);
      assert.equal((await c.k('apply', '-f', applyFile)).trim(), `${tc.printed} unchanged`);

      // patches of each type
      for (const [type, [p, path, want]] of [['strategic', tc.strategic], ['merge', tc.merge], ['json', tc.json]] as const) {
        assert.equal((await c.k('patch', tc.resource, name, '--type', type, '-p', p)).trim(), `${tc.printed} patched`, `${type} patch`);
        assert.equal(await get(path), want, `${type} patch result`);
      }

      // label, annotate, replace
      assert.equal((await c.k('label', tc.resource, name, 'verified=yes')).trim(), `${tc.printed} labeled`);
      assert.equal(await get('{.metadata.labels.verified}'), 'yes');
      assert.equal((await c.k('annotate', tc.resource, name, 'note=hello')).trim(), `${tc.printed} annotated`);
      const live = JSON.parse(await c.k('get', tc.resource, name, '-o', 'json'));
      live.metadata.labels = { ...live.metadata.labels, replaced: 'true' };
      const replaceFile = tempFile(`${tc.resource}-3.json`, JSON.stringify(live));
      assert.equal((await c.k('replace', '-f', replaceFile)).trim(), `${tc.printed} replaced`);
      assert.equal(await get('{.metadata.labels.replaced}'), 'true');

      // delete (namespaces wait for the namespace controller, so don't wait for them here)
      const del = await c.kubectl(['delete', tc.resource, name, ...(tc.resource === 'namespaces' ? ['--wait=false'] : [])]);
      assert.equal(del.code, 0, del.stderr);
      assert.equal(del.stdout.trim(), `${kind} "${name}" deleted`);
      if (tc.resource === 'namespaces') {
        assert.equal(await get('{.status.phase}'), 'Terminating');
      } else {
        const gone = await c.kubectl(['get', tc.resource, name]);
        assert.equal(gone.code, 1);
        assert.match(gone.stderr, /Error from server \(NotFound\): .* not found/);
      }

      // the watch saw the whole history in order: ADDED, MODIFIED..., DELETED (a namespace stays,
      // Terminating, as no namespace controller runs here)
      const final = (e: any) => (tc.resource === 'namespaces' ? e.object.status?.phase === 'Terminating' : e.type === 'DELETED');
      await until(() => watched().some(final), 'the watch printing the deletion');
      watch.kill();
      const events = watched();
      assert.ok(events.length >= 8, `watch saw ${events.length} events: ${watchOut.slice(0, 500)}`);
      assert.equal(events[0].type, 'ADDED');
      const last = events[events.length - 1];
      assert.equal(last.type, tc.resource === 'namespaces' ? 'MODIFIED' : 'DELETED');
      const rvs = events.map((e: any) => Number(e.object.metadata.resourceVersion));
      assert.deepEqual(rvs, [...rvs].sort((a, b) => a - b), 'resourceVersions increase');
    });
  }
});
