// Defaulting produces what a v1.32 cluster stores: the seed's manifests are checked against the
// objects a real cluster returns for them (before the controllers and allocators touch them).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { applyDefaults, imageTag } from '../src/api/defaults.js';
import type { KObject } from '../src/api/types.js';

function defaulted(kind: string, obj: object, old?: object): KObject {
  const o = structuredClone(obj) as KObject;
  applyDefaults(kind, o, old as KObject | undefined);
  return o;
}

// nginx-deploy.yaml from the seed.
const seedService = {
  apiVersion: 'v1', kind: 'Service',
  metadata: { namespace: 'default', name: 'nginx-svc-clusterip' },
  spec: { type: 'ClusterIP', selector: { app: 'nginx' }, ports: [{ name: 'clusterip-nginx', port: 80, targetPort: 80, protocol: 'TCP' }] },
};
const seedDeployment = {
  apiVersion: 'apps/v1', kind: 'Deployment',
  metadata: { name: 'deployment-nginx', namespace: 'default' },
  spec: {
    replicas: 3,
    selector: { matchLabels: { app: 'nginx' } },
    template: {
      metadata: { name: 'pod-nginx', labels: { app: 'nginx' } },
      spec: { containers: [{ name: 'container-nginx', image: 'nginx:1.14.1' }], restartPolicy: 'Always' },
    },
  },
};
// ep.yaml from the seed.
const seedEndpoints = {
  apiVersion: 'v1', kind: 'Endpoints',
  metadata: { name: 'harbor-huangxin', namespace: 'default' },
  subsets: [{ addresses: [{ ip: '10.0.0.250' }], ports: [{ port: 80, protocol: 'TCP' }] }],
};
const seedSelectorlessService = {
  apiVersion: 'v1', kind: 'Service',
  metadata: { name: 'harbor-huangxin', namespace: 'default' },
  spec: { type: 'ClusterIP', ports: [{ port: 80, targetPort: 80 }] },
};

describe('seed manifests', () => {
  test('the nginx Service gets everything but its cluster IP, which the allocator adds', () => {
    assert.deepEqual(defaulted('Service', seedService), {
      apiVersion: 'v1', kind: 'Service',
      metadata: { namespace: 'default', name: 'nginx-svc-clusterip' },
      spec: {
        internalTrafficPolicy: 'Cluster',
        ipFamilies: ['IPv4'],
        ipFamilyPolicy: 'SingleStack',
        ports: [{ name: 'clusterip-nginx', port: 80, protocol: 'TCP', targetPort: 80 }],
        selector: { app: 'nginx' },
        sessionAffinity: 'None',
        type: 'ClusterIP',
      },
      status: { loadBalancer: {} },
    });
  });

  test('the nginx Deployment', () => {
    assert.deepEqual(defaulted('Deployment', seedDeployment), {
      apiVersion: 'apps/v1', kind: 'Deployment',
      metadata: { name: 'deployment-nginx', namespace: 'default' },
      spec: {
        progressDeadlineSeconds: 600,
        replicas: 3,
        revisionHistoryLimit: 10,
        selector: { matchLabels: { app: 'nginx' } },
        strategy: { rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' }, type: 'RollingUpdate' },
        template: {
          metadata: { creationTimestamp: null, labels: { app: 'nginx' }, name: 'pod-nginx' },
          spec: {
            containers: [{
              image: 'nginx:1.14.1',
              imagePullPolicy: 'IfNotPresent',
              name: 'container-nginx',
              resources: {},
              terminationMessagePath: '/dev/termination-log',
              terminationMessagePolicy: 'File',
            }],
            dnsPolicy: 'ClusterFirst',
            restartPolicy: 'Always',
            schedulerName: 'default-scheduler',
            securityContext: {},
            terminationGracePeriodSeconds: 30,
          },
        },
      },
      status: {},
    });
  });

  test('a pod made from the Deployment template gets the pod-only defaults and admission fields', () => {
    const template = defaulted('Deployment', seedDeployment).spec as { template: { metadata: object; spec: object } };
    const pod = {
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name: 'deployment-nginx-6d84458cd8-g8lkv', namespace: 'default', labels: { app: 'nginx', 'pod-template-hash': '6d84458cd8' } },
      spec: structuredClone(template.template.spec),
    };
    assert.deepEqual(defaulted('Pod', pod), {
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name: 'deployment-nginx-6d84458cd8-g8lkv', namespace: 'default', labels: { app: 'nginx', 'pod-template-hash': '6d84458cd8' } },
      spec: {
        containers: [{
          image: 'nginx:1.14.1',
          imagePullPolicy: 'IfNotPresent',
          name: 'container-nginx',
          resources: {},
          terminationMessagePath: '/dev/termination-log',
          terminationMessagePolicy: 'File',
        }],
        dnsPolicy: 'ClusterFirst',
        enableServiceLinks: true,
        preemptionPolicy: 'PreemptLowerPriority',
        priority: 0,
        restartPolicy: 'Always',
        schedulerName: 'default-scheduler',
        securityContext: {},
        serviceAccount: 'default',
        serviceAccountName: 'default',
        terminationGracePeriodSeconds: 30,
        tolerations: [
          { effect: 'NoExecute', key: 'node.kubernetes.io/not-ready', operator: 'Exists', tolerationSeconds: 300 },
          { effect: 'NoExecute', key: 'node.kubernetes.io/unreachable', operator: 'Exists', tolerationSeconds: 300 },
        ],
      },
      status: {},
    });
  });

  test('the hand-written Endpoints', () => {
    const ep = structuredClone(seedEndpoints);
    delete (ep.subsets[0]!.ports[0] as { protocol?: string }).protocol;
    assert.deepEqual(defaulted('Endpoints', ep), seedEndpoints);
  });

  test('the selector-less Service', () => {
    assert.deepEqual(defaulted('Service', seedSelectorlessService).spec, {
      internalTrafficPolicy: 'Cluster',
      ipFamilies: ['IPv4'],
      ipFamilyPolicy: 'SingleStack',
      ports: [{ port: 80, protocol: 'TCP', targetPort: 80 }],
      sessionAffinity: 'None',
      type: 'ClusterIP',
    });
  });

  test('defaulting twice changes nothing', () => {
    for (const [kind, obj] of [['Service', seedService], ['Deployment', seedDeployment], ['Endpoints', seedEndpoints]] as const) {
      const once = defaulted(kind, obj);
      assert.deepEqual(defaulted(kind, once), once);
    }
  });
});

describe('pods', () => {
  test('container ports default to TCP and kubectl run pods look as on a real cluster', () => {
    const pod = defaulted('Pod', {
      metadata: { name: 'p1', namespace: 'default' },
      spec: { containers: [{ name: 'p1', image: 'nginx', ports: [{ containerPort: 80 }] }] },
    });
    const spec = pod.spec as { containers: { ports: object[]; imagePullPolicy: string }[] };
    assert.deepEqual(spec.containers[0]!.ports, [{ containerPort: 80, protocol: 'TCP' }]);
    assert.equal(spec.containers[0]!.imagePullPolicy, 'Always');
  });

  test('imagePullPolicy follows the image tag', () => {
    const cases: [string, string][] = [
      ['nginx', 'latest'], ['nginx:latest', 'latest'], ['nginx:1.27', '1.27'], ['library/nginx:1.27', '1.27'],
      ['registry.local:5000/team/app', 'latest'], ['registry.local:5000/team/app:v2', 'v2'], ['localhost/app:dev', 'dev'],
      [`nginx@sha256:${'a'.repeat(64)}`, ''], [`nginx:1.27@sha256:${'a'.repeat(64)}`, '1.27'],
      ['Nginx', ''], ['', ''], ['nginx:', ''],
    ];
    for (const [image, tag] of cases) assert.equal(imageTag(image), tag, image);
  });

  test('requests default to limits in pods, quantities become canonical', () => {
    const pod = defaulted('Pod', {
      metadata: { name: 'p', namespace: 'default' },
      spec: { containers: [{ name: 'c', image: 'nginx:1', resources: { limits: { cpu: '0.5', memory: '1024Mi' }, requests: { cpu: '100m' } } }] },
    });
    const c = (pod.spec as { containers: { resources: object }[] }).containers[0]!;
    assert.deepEqual(c.resources, { limits: { cpu: '500m', memory: '1Gi' }, requests: { cpu: '100m', memory: '1Gi' } });
  });

  test('templates do not get requests from limits, pod-only fields or admission fields', () => {
    const d = defaulted('Deployment', {
      metadata: { name: 'd', namespace: 'default' },
      spec: { selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'x', resources: { limits: { cpu: 1 } } }] } } },
    });
    const spec = (d.spec as { template: { spec: Record<string, unknown> & { containers: { resources: object }[] } } }).template.spec;
    assert.deepEqual(spec.containers[0]!.resources, { limits: { cpu: '1' } });
    for (const f of ['enableServiceLinks', 'priority', 'tolerations', 'serviceAccountName']) assert.equal(spec[f], undefined, f);
  });

  test('existing tolerations of the node conditions are respected', () => {
    const pod = defaulted('Pod', {
      metadata: { name: 'p', namespace: 'default' },
      spec: { containers: [{ name: 'c', image: 'x:1' }], tolerations: [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists' }] },
    });
    assert.deepEqual((pod.spec as { tolerations: object[] }).tolerations, [
      { key: 'node.kubernetes.io/unreachable', operator: 'Exists' },
      { effect: 'NoExecute', key: 'node.kubernetes.io/not-ready', operator: 'Exists', tolerationSeconds: 300 },
    ]);
    const tolerateAll = defaulted('Pod', { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'x:1' }], tolerations: [{ operator: 'Exists' }] } });
    assert.deepEqual((tolerateAll.spec as { tolerations: object[] }).tolerations, [{ operator: 'Exists' }]);
  });

  test('probes, host networking, volumes and the deprecated serviceAccount field', () => {
    const pod = defaulted('Pod', {
      metadata: { name: 'p', namespace: 'default' },
      spec: {
        hostNetwork: true,
        serviceAccount: 'builder',
        volumes: [{ name: 'scratch' }, { name: 'cfg', configMap: { name: 'cfg' } }],
        containers: [{ name: 'c', image: 'x:1', ports: [{ containerPort: 8080 }], livenessProbe: { httpGet: { port: 8080 } } }],
      },
    });
    const spec = pod.spec as Record<string, unknown> & { containers: Record<string, unknown>[] };
    assert.equal(spec.serviceAccountName, 'builder');
    assert.equal(spec.serviceAccount, 'builder');
    assert.deepEqual(spec.volumes, [{ name: 'scratch', emptyDir: {} }, { name: 'cfg', configMap: { name: 'cfg', defaultMode: 420 } }]);
    assert.deepEqual(spec.containers[0]!.ports, [{ containerPort: 8080, hostPort: 8080, protocol: 'TCP' }]);
    assert.deepEqual(spec.containers[0]!.livenessProbe, {
      httpGet: { port: 8080, path: '/', scheme: 'HTTP' }, timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3,
    });
  });

  test('status: pod IPs and host IPs stay in sync, zero values appear, QoS class is kept on update', () => {
    const old = { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'x:1' }] }, status: { phase: 'Pending', qosClass: 'BestEffort' } };
    const pod = defaulted('Pod', {
      ...old,
      status: {
        phase: 'Running', podIP: '127.1.0.5', hostIP: '127.0.0.1',
        conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2025-01-01T00:00:00Z' }],
        containerStatuses: [{ name: 'c', state: { running: { startedAt: '2025-01-01T00:00:00Z' } } }],
      },
    }, defaulted('Pod', old));
    assert.deepEqual(pod.status, {
      phase: 'Running', qosClass: 'BestEffort',
      podIP: '127.1.0.5', podIPs: [{ ip: '127.1.0.5' }],
      hostIP: '127.0.0.1', hostIPs: [{ ip: '127.0.0.1' }],
      conditions: [{ type: 'Ready', status: 'True', lastProbeTime: null, lastTransitionTime: '2025-01-01T00:00:00Z' }],
      containerStatuses: [{
        name: 'c', state: { running: { startedAt: '2025-01-01T00:00:00Z' } }, lastState: {}, ready: false, restartCount: 0, image: '', imageID: '',
      }],
    });
  });

  test('the system priority classes have their values; updates keep what admission set', () => {
    const pod = defaulted('Pod', { metadata: { name: 'p' }, spec: { priorityClassName: 'system-node-critical', containers: [{ name: 'c', image: 'x:1' }] } });
    assert.equal((pod.spec as { priority: number }).priority, 2000001000);
    const updated = defaulted('Pod', { metadata: { name: 'p' }, spec: { priorityClassName: 'system-node-critical', containers: [{ name: 'c', image: 'x:2' }] } }, pod);
    assert.equal((updated.spec as { priority: number }).priority, 2000001000);
  });
});

describe('workloads', () => {
  test('an empty strategy from kubectl create deployment is defaulted', () => {
    const d = defaulted('Deployment', {
      metadata: { name: 'web', labels: { app: 'web' } },
      spec: { replicas: 2, selector: { matchLabels: { app: 'web' } }, strategy: {}, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'nginx', image: 'nginx:1.27', ports: [{ containerPort: 80 }], resources: {} }] } } },
      status: {},
    });
    assert.deepEqual((d.spec as { strategy: object }).strategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } });
  });

  test('Recreate gets no rolling-update parameters; replicas default to 1', () => {
    const d = defaulted('Deployment', { metadata: { name: 'd' }, spec: { strategy: { type: 'Recreate' }, selector: {}, template: {} } });
    assert.deepEqual((d.spec as { strategy: object }).strategy, { type: 'Recreate' });
    assert.equal((d.spec as { replicas: number }).replicas, 1);
  });

  test('ReplicaSet', () => {
    const rs = defaulted('ReplicaSet', { metadata: { name: 'r' }, spec: { selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'x:1' }] } } } });
    assert.equal((rs.spec as { replicas: number }).replicas, 1);
    assert.deepEqual(rs.status, { replicas: 0 });
  });
});

describe('services', () => {
  const svc = (spec: object) => ({ metadata: { name: 's', namespace: 'default' }, spec });

  test('ClientIP affinity gets its timeout, None drops the config', () => {
    assert.deepEqual((defaulted('Service', svc({ sessionAffinity: 'ClientIP', ports: [{ port: 80 }] })).spec as Record<string, unknown>).sessionAffinityConfig,
      { clientIP: { timeoutSeconds: 10800 } });
    const none = defaulted('Service', svc({ sessionAffinityConfig: { clientIP: { timeoutSeconds: 5 } }, ports: [{ port: 80 }] }));
    assert.equal((none.spec as Record<string, unknown>).sessionAffinityConfig, undefined);
  });

  test('externally reachable types get externalTrafficPolicy; LoadBalancer allocates node ports', () => {
    const np = defaulted('Service', svc({ type: 'NodePort', ports: [{ port: 80, targetPort: 'http' }] })).spec as Record<string, unknown>;
    assert.equal(np.externalTrafficPolicy, 'Cluster');
    assert.deepEqual(np.ports, [{ port: 80, targetPort: 'http', protocol: 'TCP' }]);
    const lb = defaulted('Service', svc({ type: 'LoadBalancer', ports: [{ port: 80 }] })).spec as Record<string, unknown>;
    assert.equal(lb.allocateLoadBalancerNodePorts, true);
    const ip = defaulted('Service', svc({ externalIPs: ['10.1.2.3'], ports: [{ port: 80 }] })).spec as Record<string, unknown>;
    assert.equal(ip.externalTrafficPolicy, 'Cluster');
  });

  test('IP families: headless without selector asks for both, ExternalName gets none', () => {
    const headless = defaulted('Service', svc({ clusterIP: 'None', ports: [{ port: 80 }] })).spec as Record<string, unknown>;
    assert.deepEqual([headless.clusterIPs, headless.ipFamilyPolicy, headless.ipFamilies], [['None'], 'RequireDualStack', ['IPv4', 'IPv6']]);
    const headlessSel = defaulted('Service', svc({ clusterIP: 'None', selector: { a: 'b' }, ports: [{ port: 80 }] })).spec as Record<string, unknown>;
    assert.deepEqual([headlessSel.ipFamilyPolicy, headlessSel.ipFamilies], ['SingleStack', ['IPv4']]);
    const ext = defaulted('Service', svc({ type: 'ExternalName', externalName: 'example.com' })).spec as Record<string, unknown>;
    assert.deepEqual(ext, { type: 'ExternalName', externalName: 'example.com', sessionAffinity: 'None' });
    const v6 = defaulted('Service', svc({ clusterIP: 'fd00::1', ports: [{ port: 80 }] })).spec as Record<string, unknown>;
    assert.equal(v6.ipFamilies, undefined, 'an unconfigured family is left for validation to reject');
  });

  test('an update keeps allocated values the client left out', () => {
    const stored = defaulted('Service', svc({ type: 'NodePort', ports: [{ name: 'http', port: 80 }] }));
    const spec = stored.spec as { clusterIP?: string; clusterIPs?: string[]; ports: { nodePort?: number }[] };
    spec.clusterIP = '10.96.0.20';
    spec.clusterIPs = ['10.96.0.20'];
    spec.ports[0]!.nodePort = 30080;
    const put = defaulted('Service', svc({ type: 'NodePort', ports: [{ name: 'http', port: 80 }] }), stored).spec as Record<string, unknown>;
    assert.equal(put.clusterIP, '10.96.0.20');
    assert.deepEqual(put.clusterIPs, ['10.96.0.20']);
    assert.deepEqual(put.ports, [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 80, nodePort: 30080 }]);
    // Switching to ClusterIP drops the node ports and the external traffic policy nobody changed.
    const toClusterIP = defaulted('Service', { ...stored, spec: { ...(stored.spec as object), type: 'ClusterIP' } }, stored).spec as Record<string, unknown>;
    assert.deepEqual(toClusterIP.ports, [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 80 }]);
    assert.equal(toClusterIP.externalTrafficPolicy, undefined);
  });
});

describe('other kinds', () => {
  test('Namespace: name label and phase', () => {
    assert.deepEqual(defaulted('Namespace', { metadata: { name: 'team-a' } }), {
      metadata: { name: 'team-a', labels: { 'kubernetes.io/metadata.name': 'team-a' } }, spec: {}, status: { phase: 'Active' },
    });
  });

  test('Node: allocatable from capacity and the zero values of its status', () => {
    assert.deepEqual(defaulted('Node', { metadata: { name: 'node01' }, spec: { podCIDR: '10.244.1.0/24' }, status: { capacity: { cpu: '4', memory: '8192Mi' } } }), {
      metadata: { name: 'node01' },
      spec: { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24'] },
      status: {
        capacity: { cpu: '4', memory: '8Gi' },
        allocatable: { cpu: '4', memory: '8Gi' },
        daemonEndpoints: { kubeletEndpoint: { Port: 0 } },
        nodeInfo: {
          architecture: '', bootID: '', containerRuntimeVersion: '', kernelVersion: '', kubeProxyVersion: '', kubeletVersion: '',
          machineID: '', operatingSystem: '', osImage: '', systemUUID: '',
        },
      },
    });
  });

  test('Event and Lease zero values', () => {
    const ev = defaulted('Event', { metadata: { name: 'e', namespace: 'default' }, involvedObject: { kind: 'Pod', name: 'p', namespace: 'default' }, reason: 'Started', type: 'Normal' });
    assert.deepEqual(ev, {
      metadata: { name: 'e', namespace: 'default' }, involvedObject: { kind: 'Pod', name: 'p', namespace: 'default' }, reason: 'Started', type: 'Normal',
      source: {}, firstTimestamp: null, lastTimestamp: null, eventTime: null, reportingComponent: '', reportingInstance: '',
    });
    assert.deepEqual(defaulted('Lease', { metadata: { name: 'l' } }).spec, {});
  });

  test('EndpointSlice ports and empty lists', () => {
    const slice = defaulted('EndpointSlice', { metadata: { name: 's' }, addressType: 'IPv4', endpoints: [{ addresses: ['10.0.0.1'] }], ports: [{ port: 80 }] });
    assert.deepEqual([slice.endpoints, slice.ports], [[{ addresses: ['10.0.0.1'], conditions: {} }], [{ port: 80, name: '', protocol: 'TCP' }]]);
    const empty = defaulted('EndpointSlice', { metadata: { name: 's' }, addressType: 'IPv4' });
    assert.deepEqual([empty.endpoints, empty.ports], [null, null]);
  });
});
