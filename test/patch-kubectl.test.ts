// The PATCH bodies kubectl 1.32 really sends (see /work/shared/reference/kubectl-contract.md §3.2
// and §7), applied to live Service / Deployment / Pod objects with Kubernetes-shaped schemas.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { applyPatch, PatchError, type PatchType } from '../src/apiserver/patch/index.js';
import { resolve, schemaOf } from './fixtures/patch/schemas.js';

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
// Loosely typed so the assertions can reach deep into the fixture objects.
type Json = Record<string, any>;

function patchAs(type: PatchType, kind: 'Service' | 'Deployment' | 'Pod', live: Json, body: unknown): Json {
  const schemaName = { Service: 'io.k8s.api.core.v1.Service', Deployment: 'io.k8s.api.apps.v1.Deployment', Pod: 'io.k8s.api.core.v1.Pod' }[kind];
  return applyPatch(type, live, body, schemaOf(schemaName), resolve) as Json;
}

function liveService(): Json {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: 'nginx',
      namespace: 'default',
      uid: 'svc-uid',
      resourceVersion: '7',
      labels: { app: 'nginx' },
      annotations: { [LAST_APPLIED]: '{"apiVersion":"v1","kind":"Service"}\n' },
    },
    spec: {
      type: 'ClusterIP',
      clusterIP: '10.96.0.10',
      clusterIPs: ['10.96.0.10'],
      selector: { app: 'nginx' },
      ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 80 }],
    },
  };
}

function liveDeployment(): Json {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: 'nginx',
      namespace: 'default',
      uid: 'deploy-uid',
      generation: 1,
      labels: { app: 'nginx' },
      annotations: { [LAST_APPLIED]: '{"apiVersion":"apps/v1","kind":"Deployment"}\n' },
    },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: 'nginx' } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
      template: {
        metadata: { labels: { app: 'nginx' } },
        spec: {
          containers: [
            {
              name: 'nginx',
              image: 'nginx:1.27',
              ports: [{ containerPort: 80, protocol: 'TCP' }, { containerPort: 8080, protocol: 'TCP' }],
              env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }],
              volumeMounts: [{ name: 'data', mountPath: '/data' }],
            },
          ],
          volumes: [{ name: 'data', emptyDir: {} }],
          tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'web', effect: 'NoSchedule' }],
          nodeSelector: { disk: 'ssd' },
        },
      },
    },
    status: {
      replicas: 1,
      conditions: [
        { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' },
        { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable' },
      ],
    },
  };
}

function livePod(): Json {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'nginx-1',
      namespace: 'default',
      finalizers: ['example.com/a'],
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'nginx-abc', uid: 'rs-1', controller: true }],
    },
    spec: { containers: [{ name: 'nginx', image: 'nginx:1.27' }] },
    status: {
      phase: 'Pending',
      conditions: [
        { type: 'Ready', status: 'False' },
        { type: 'PodScheduled', status: 'True' },
      ],
      hostIPs: [{ ip: '10.0.0.1' }],
    },
  };
}

describe('kubectl apply (client-side, update path)', () => {
  test('Service: new targetPort with $setElementOrder/ports', () => {
    const annotation = '{"apiVersion":"v1","kind":"Service","spec":{"ports":[{"port":80,"targetPort":8080}]}}\n';
    const body = {
      metadata: { annotations: { [LAST_APPLIED]: annotation } },
      spec: { '$setElementOrder/ports': [{ port: 80 }], ports: [{ port: 80, targetPort: 8080 }] },
    };
    const expected = liveService();
    expected.metadata.annotations[LAST_APPLIED] = annotation;
    expected.spec.ports = [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 }];
    assert.deepEqual(patchAs('strategic', 'Service', liveService(), body), expected);
  });

  test('Service: a port added before the existing one', () => {
    const body = { spec: { '$setElementOrder/ports': [{ port: 443 }, { port: 80 }], ports: [{ port: 443, targetPort: 8443 }] } };
    const result = patchAs('strategic', 'Service', liveService(), body);
    assert.deepEqual(result.spec.ports, [
      { port: 443, targetPort: 8443 },
      { name: 'http', port: 80, protocol: 'TCP', targetPort: 80 },
    ]);
  });

  test('Deployment: replicas and container image', () => {
    const body = {
      metadata: { annotations: { [LAST_APPLIED]: '{"new":true}\n' } },
      spec: {
        replicas: 2,
        template: { spec: { '$setElementOrder/containers': [{ name: 'nginx' }], containers: [{ image: 'nginx:1.27.1', name: 'nginx' }] } },
      },
    };
    const expected = liveDeployment();
    expected.metadata.annotations[LAST_APPLIED] = '{"new":true}\n';
    expected.spec.replicas = 2;
    expected.spec.template.spec.containers[0].image = 'nginx:1.27.1';
    assert.deepEqual(patchAs('strategic', 'Deployment', liveDeployment(), body), expected);
  });

  test('Deployment: a port and an env var removed from the manifest', () => {
    const body = {
      spec: {
        template: {
          spec: {
            '$setElementOrder/containers': [{ name: 'nginx' }],
            containers: [
              {
                '$setElementOrder/env': [{ name: 'A' }],
                '$setElementOrder/ports': [{ containerPort: 80 }],
                env: [{ $patch: 'delete', name: 'B' }],
                name: 'nginx',
                ports: [{ $patch: 'delete', containerPort: 8080 }],
              },
            ],
          },
        },
      },
    };
    const container = patchAs('strategic', 'Deployment', liveDeployment(), body).spec.template.spec.containers[0];
    assert.deepEqual(container.ports, [{ containerPort: 80, protocol: 'TCP' }]);
    assert.deepEqual(container.env, [{ name: 'A', value: '1' }]);
    assert.deepEqual(container.volumeMounts, [{ name: 'data', mountPath: '/data' }]);
  });

  test('Deployment: containers reordered', () => {
    const live = liveDeployment();
    live.spec.template.spec.containers.push({ name: 'sidecar', image: 'busybox' });
    const body = { spec: { template: { spec: { '$setElementOrder/containers': [{ name: 'sidecar' }, { name: 'nginx' }] } } } };
    const names = patchAs('strategic', 'Deployment', live, body).spec.template.spec.containers.map((c: Json) => c.name);
    assert.deepEqual(names, ['sidecar', 'nginx']);
  });

  test('Deployment: strategy switched to Recreate with $retainKeys', () => {
    const body = { spec: { strategy: { $retainKeys: ['type'], rollingUpdate: null, type: 'Recreate' } } };
    assert.deepEqual(patchAs('strategic', 'Deployment', liveDeployment(), body).spec.strategy, { type: 'Recreate' });
  });

  test('Deployment: a volume switched from emptyDir to configMap with $retainKeys', () => {
    const body = {
      spec: {
        template: {
          spec: {
            '$setElementOrder/volumes': [{ name: 'data' }],
            volumes: [{ $retainKeys: ['configMap', 'name'], configMap: { name: 'cfg' }, name: 'data' }],
          },
        },
      },
    };
    const result = patchAs('strategic', 'Deployment', liveDeployment(), body);
    assert.deepEqual(result.spec.template.spec.volumes, [{ name: 'data', configMap: { name: 'cfg' } }]);
  });

  test('Deployment: an env var whose value moved to the end of the manifest', () => {
    const body = {
      spec: {
        template: {
          spec: {
            '$setElementOrder/containers': [{ name: 'nginx' }],
            containers: [{ '$setElementOrder/env': [{ name: 'B' }, { name: 'A' }], env: [{ name: 'A', value: '3' }], name: 'nginx' }],
          },
        },
      },
    };
    const env = patchAs('strategic', 'Deployment', liveDeployment(), body).spec.template.spec.containers[0].env;
    assert.deepEqual(env, [{ name: 'B', value: '2' }, { name: 'A', value: '3' }]);
  });
});

describe('kubectl set image / rollout restart / edit / patch (strategic)', () => {
  test('set image updates one container and keeps the rest', () => {
    const live = liveDeployment();
    live.spec.template.spec.containers.push({ name: 'sidecar', image: 'busybox:1.36' });
    const body = {
      spec: { template: { spec: { '$setElementOrder/containers': [{ name: 'nginx' }, { name: 'sidecar' }], containers: [{ image: 'busybox:1.37', name: 'sidecar' }] } } },
    };
    const containers = patchAs('strategic', 'Deployment', live, body).spec.template.spec.containers;
    assert.deepEqual(
      containers.map((c: Json) => [c.name, c.image]),
      [['nginx', 'nginx:1.27'], ['sidecar', 'busybox:1.37']],
    );
    assert.equal(containers[0].env.length, 2);
  });

  test('set image without $setElementOrder', () => {
    const body = { spec: { template: { spec: { containers: [{ image: 'nginx:1.28', name: 'nginx' }] } } } };
    const result = patchAs('strategic', 'Deployment', liveDeployment(), body);
    const expected = liveDeployment();
    expected.spec.template.spec.containers[0].image = 'nginx:1.28';
    assert.deepEqual(result, expected);
  });

  test('rollout restart adds a template annotation', () => {
    const body = { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': '2025-01-02T03:04:05Z' } } } } };
    const metadata = patchAs('strategic', 'Deployment', liveDeployment(), body).spec.template.metadata;
    assert.deepEqual(metadata, { labels: { app: 'nginx' }, annotations: { 'kubectl.kubernetes.io/restartedAt': '2025-01-02T03:04:05Z' } });
  });

  test('edit sends only the diff: container resources', () => {
    const body = {
      spec: {
        template: {
          spec: {
            '$setElementOrder/containers': [{ name: 'nginx' }],
            containers: [{ name: 'nginx', resources: { limits: { cpu: '500m' } } }],
          },
        },
      },
    };
    const container = patchAs('strategic', 'Deployment', liveDeployment(), body).spec.template.spec.containers[0];
    assert.deepEqual(container.resources, { limits: { cpu: '500m' } });
    assert.equal(container.image, 'nginx:1.27');
  });

  test('patch adding a container puts it first (upstream order without $setElementOrder)', () => {
    const body = { spec: { template: { spec: { containers: [{ name: 'sidecar', image: 'busybox' }] } } } };
    const containers = patchAs('strategic', 'Deployment', liveDeployment(), body).spec.template.spec.containers;
    assert.deepEqual(containers.map((c: Json) => c.name), ['sidecar', 'nginx']);
  });

  test('patch deleting a container with $patch: delete', () => {
    const live = liveDeployment();
    live.spec.template.spec.containers.push({ name: 'sidecar', image: 'busybox' });
    const body = { spec: { template: { spec: { containers: [{ name: 'nginx', $patch: 'delete' }] } } } };
    const containers = patchAs('strategic', 'Deployment', live, body).spec.template.spec.containers;
    assert.deepEqual(containers, [{ name: 'sidecar', image: 'busybox' }]);
  });

  test('tolerations have no patch strategy and are replaced', () => {
    const body = { spec: { template: { spec: { tolerations: [{ key: 'gpu', operator: 'Exists' }] } } } };
    const result = patchAs('strategic', 'Deployment', liveDeployment(), body);
    assert.deepEqual(result.spec.template.spec.tolerations, [{ key: 'gpu', operator: 'Exists' }]);
  });

  test('a nodeSelector map merges key by key', () => {
    const body = { spec: { template: { spec: { nodeSelector: { zone: 'a' } } } } };
    assert.deepEqual(patchAs('strategic', 'Deployment', liveDeployment(), body).spec.template.spec.nodeSelector, { disk: 'ssd', zone: 'a' });
  });

  test('container args are atomic and replaced', () => {
    const live = liveDeployment();
    live.spec.template.spec.containers[0].args = ['--a', '--b'];
    const body = { spec: { template: { spec: { containers: [{ name: 'nginx', args: ['--c'] }] } } } };
    assert.deepEqual(patchAs('strategic', 'Deployment', live, body).spec.template.spec.containers[0].args, ['--c']);
  });

  test('a misspelt merge key is reported like upstream', () => {
    const body = { spec: { template: { spec: { containers: [{ nmae: 'nginx', image: 'x' }] } } } };
    assert.throws(
      () => patchAs('strategic', 'Deployment', liveDeployment(), body),
      (err: unknown) =>
        err instanceof PatchError && err.code === 500 && err.message === 'map: map[image:x nmae:nginx] does not contain declared merge key: name',
    );
  });
});

describe('metadata lists', () => {
  test('finalizers merge as a set: a new one goes first', () => {
    const body = { metadata: { finalizers: ['example.com/b'] } };
    assert.deepEqual(patchAs('strategic', 'Pod', livePod(), body).metadata.finalizers, ['example.com/b', 'example.com/a']);
  });

  test('finalizers: kubectl apply removing one', () => {
    const live = livePod();
    live.metadata.finalizers = ['example.com/a', 'example.com/b'];
    const body = { metadata: { '$deleteFromPrimitiveList/finalizers': ['example.com/a'], '$setElementOrder/finalizers': ['example.com/b'] } };
    assert.deepEqual(patchAs('strategic', 'Pod', live, body).metadata.finalizers, ['example.com/b']);
  });

  test('finalizers: a null list removes them all', () => {
    assert.equal('finalizers' in patchAs('strategic', 'Pod', livePod(), { metadata: { finalizers: null } }).metadata, false);
  });

  test('ownerReferences merge by uid', () => {
    const body = { metadata: { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'nginx-def', uid: 'rs-2' }] } };
    const refs = patchAs('strategic', 'Pod', livePod(), body).metadata.ownerReferences;
    assert.deepEqual(refs.map((r: Json) => r.uid), ['rs-2', 'rs-1']);
  });

  test('ownerReferences: one removed by uid', () => {
    const body = { metadata: { ownerReferences: [{ $patch: 'delete', uid: 'rs-1' }] } };
    assert.deepEqual(patchAs('strategic', 'Pod', livePod(), body).metadata.ownerReferences, []);
  });
});

describe('status patches', () => {
  test('a pod condition merges by type and keeps its place', () => {
    const body = { status: { conditions: [{ type: 'Ready', status: 'True' }] } };
    assert.deepEqual(patchAs('strategic', 'Pod', livePod(), body).status.conditions, [
      { type: 'Ready', status: 'True' },
      { type: 'PodScheduled', status: 'True' },
    ]);
  });

  test('a deployment condition is updated in place', () => {
    const body = { status: { conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }] } };
    const conditions = patchAs('strategic', 'Deployment', liveDeployment(), body).status.conditions;
    assert.deepEqual(conditions[1], { type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' });
    assert.equal(conditions[0].type, 'Available');
  });

  test('hostIPs merge by ip although their list type is atomic', () => {
    const body = { status: { hostIPs: [{ ip: 'fd00::1' }] } };
    assert.deepEqual(patchAs('strategic', 'Pod', livePod(), body).status.hostIPs, [{ ip: 'fd00::1' }, { ip: '10.0.0.1' }]);
  });
});

describe('kubectl label / annotate / scale (merge patch)', () => {
  test('label --overwrite', () => {
    const result = patchAs('merge', 'Deployment', liveDeployment(), { metadata: { labels: { app: 'web', env: 'prod' } } });
    assert.deepEqual(result.metadata.labels, { app: 'web', env: 'prod' });
  });

  test('label removal (app-)', () => {
    const result = patchAs('merge', 'Deployment', liveDeployment(), { metadata: { labels: { app: null } } });
    assert.deepEqual(result.metadata.labels, {});
  });

  test('annotate on an object without annotations', () => {
    const live = livePod();
    const result = patchAs('merge', 'Pod', live, { metadata: { annotations: { note: 'x' } } });
    assert.deepEqual(result.metadata.annotations, { note: 'x' });
  });

  test('scale on the scale subresource', () => {
    const scale = { kind: 'Scale', apiVersion: 'autoscaling/v1', metadata: { name: 'nginx' }, spec: { replicas: 1 }, status: { replicas: 1 } };
    assert.deepEqual(applyPatch('merge', scale, { spec: { replicas: 5 } }), { ...scale, spec: { replicas: 5 } });
  });

  test('a merge patch replaces lists wholesale', () => {
    const body = { spec: { template: { spec: { containers: [{ name: 'nginx', image: 'nginx:1.28' }] } } } };
    const result = patchAs('merge', 'Deployment', liveDeployment(), body);
    assert.deepEqual(result.spec.template.spec.containers, [{ name: 'nginx', image: 'nginx:1.28' }]);
  });
});

describe('kubectl patch --type=json', () => {
  test('replace, add and remove', () => {
    const body = [
      { op: 'replace', path: '/spec/replicas', value: 3 },
      { op: 'add', path: '/metadata/labels/tier', value: 'web' },
      { op: 'remove', path: '/spec/template/spec/containers/0/env/0' },
      { op: 'add', path: '/spec/template/spec/containers/-', value: { name: 'sidecar', image: 'busybox' } },
    ];
    const result = patchAs('json', 'Deployment', liveDeployment(), body);
    assert.equal(result.spec.replicas, 3);
    assert.deepEqual(result.metadata.labels, { app: 'nginx', tier: 'web' });
    assert.deepEqual(result.spec.template.spec.containers[0].env, [{ name: 'B', value: '2' }]);
    assert.deepEqual(result.spec.template.spec.containers[1], { name: 'sidecar', image: 'busybox' });
  });

  test('an annotation key with a slash is escaped as ~1', () => {
    const body = [{ op: 'add', path: '/metadata/annotations/example.com~1owner', value: 'team-a' }];
    assert.equal(patchAs('json', 'Deployment', liveDeployment(), body).metadata.annotations['example.com/owner'], 'team-a');
  });

  test('a failed test is the generic 422', () => {
    const body = [{ op: 'test', path: '/spec/replicas', value: 9 }, { op: 'replace', path: '/spec/replicas', value: 3 }];
    assert.throws(
      () => patchAs('json', 'Deployment', liveDeployment(), body),
      (err: unknown) =>
        err instanceof PatchError &&
        err.code === 422 &&
        err.reason === 'Invalid' &&
        err.message === 'the server rejected our request due to an error in our request',
    );
  });
});
