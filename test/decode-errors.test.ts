// A body whose values have the wrong JSON type is rejected as upstream's decoder rejects it: 400 with
// `<Kind> in version "v1" cannot be handled as a <Kind>: <decode error>`. The expected texts below are
// what a v1.32 kube-apiserver answers (Go's encoding/json via sigs.k8s.io/json, IntOrString,
// resource.Quantity and metav1.Time/MicroTime decoding), checked against Go's own decoder where the
// behaviour comes from the standard library. Whatever the decoder accepts must then survive
// defaulting and validation without throwing, which the fuzz test at the end checks.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import YAML from 'yaml';
import { decodeError, replaceNulls } from '../src/api/schema.js';
import { applyDefaults } from '../src/api/defaults.js';
import { validateCreate } from '../src/api/validation/index.js';
import type { KObject } from '../src/api/types.js';
import { startCluster, type Cluster } from './helpers/cluster.js';

const API_VERSIONS: Record<string, string> = { Deployment: 'apps/v1', Service: 'v1', Pod: 'v1', Endpoints: 'v1', Event: 'v1' };
const QUANTITY_FORMAT = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
const QUANTITY_SUFFIX = "unable to parse quantity's suffix";
const RFC3339 = '"2006-01-02T15:04:05Z07:00"';

const decode = (kind: string, body: string) => decodeError(API_VERSIONS[kind]!, kind, JSON.parse(body));
const podTemplate = (spec: object) => JSON.stringify({ spec: { template: { spec } } });
const container = (fields: object) => JSON.stringify({ spec: { containers: [{ name: 'c', ...fields }] } });

/** [kind, request body, the decode error (undefined: the body decodes)] */
type Case = [string, string, string | undefined];

function table(cases: Case[]): void {
  for (const [kind, body, expected] of cases) {
    test(`${kind} ${body}`, () => assert.equal(decode(kind, body), expected));
  }
}

describe('type mismatches name the struct, the field path from the root and the Go type', () => {
  table([
    ['Deployment', '{"spec":{"replicas":"3"}}', 'json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32'],
    ['Deployment', '{"spec":{"replicas":true}}', 'json: cannot unmarshal bool into Go struct field DeploymentSpec.spec.replicas of type int32'],
    ['Deployment', '{"metadata":{"name":5}}', 'json: cannot unmarshal number into Go struct field ObjectMeta.metadata.name of type string'],
    ['Deployment', '{"metadata":{"labels":{"app":1}}}', 'json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string'],
    ['Deployment', '{"metadata":{"labels":["app"]}}', 'json: cannot unmarshal array into Go struct field ObjectMeta.metadata.labels of type map[string]string'],
    ['Deployment', '{"metadata":{"finalizers":"a"}}', 'json: cannot unmarshal string into Go struct field ObjectMeta.metadata.finalizers of type []string'],
    ['Deployment', '{"metadata":{"uid":1}}', 'json: cannot unmarshal number into Go struct field ObjectMeta.metadata.uid of type types.UID'],
    ['Deployment', '{"spec":"x"}', 'json: cannot unmarshal string into Go struct field Deployment.spec of type v1.DeploymentSpec'],
    ['Deployment', '{"spec":[]}', 'json: cannot unmarshal array into Go struct field Deployment.spec of type v1.DeploymentSpec'],
    ['Deployment', '{"spec":{"selector":"app=nginx"}}', 'json: cannot unmarshal string into Go struct field DeploymentSpec.spec.selector of type v1.LabelSelector'],
    ['Deployment', '{"spec":{"selector":{"matchLabels":{"app":false}}}}', 'json: cannot unmarshal bool into Go struct field LabelSelector.spec.selector.matchLabels of type string'],
    ['Deployment', podTemplate({ containers: {} }), 'json: cannot unmarshal object into Go struct field PodSpec.spec.template.spec.containers of type []v1.Container'],
    ['Deployment', podTemplate({ containers: [5] }), 'json: cannot unmarshal number into Go struct field PodSpec.spec.template.spec.containers of type v1.Container'],
    ['Deployment', podTemplate({ containers: [{ name: ['c'] }] }), 'json: cannot unmarshal array into Go struct field Container.spec.template.spec.containers.name of type string'],
    ['Deployment', podTemplate({ containers: [{ name: 'c', ports: [{ containerPort: '80' }] }] }), 'json: cannot unmarshal string into Go struct field ContainerPort.spec.template.spec.containers.ports.containerPort of type int32'],
    ['Deployment', podTemplate({ containers: [{ name: 'c', ports: [{ containerPort: 80, protocol: 6 }] }] }), 'json: cannot unmarshal number into Go struct field ContainerPort.spec.template.spec.containers.ports.protocol of type v1.Protocol'],
    ['Deployment', '{"spec":{"paused":"true"}}', 'json: cannot unmarshal string into Go struct field DeploymentSpec.spec.paused of type bool'],
    ['Deployment', '{"spec":{"strategy":{"type":1}}}', 'json: cannot unmarshal number into Go struct field DeploymentStrategy.spec.strategy.type of type v1.DeploymentStrategyType'],
    ['Deployment', '{"status":{"conditions":[{"status":true}]}}', 'json: cannot unmarshal bool into Go struct field DeploymentCondition.status.conditions.status of type v1.ConditionStatus'],
    ['Service', '{"spec":{"ports":[{"port":"80"}]}}', 'json: cannot unmarshal string into Go struct field ServicePort.spec.ports.port of type int32'],
    ['Service', '{"spec":{"ports":[{"port":80,"protocol":6}]}}', 'json: cannot unmarshal number into Go struct field ServicePort.spec.ports.protocol of type v1.Protocol'],
    ['Service', '{"spec":{"ports":[{"port":80,"nodePort":"30080"}]}}', 'json: cannot unmarshal string into Go struct field ServicePort.spec.ports.nodePort of type int32'],
    ['Service', '{"spec":{"ports":{"port":80}}}', 'json: cannot unmarshal object into Go struct field ServiceSpec.spec.ports of type []v1.ServicePort'],
    ['Service', '{"spec":{"type":true}}', 'json: cannot unmarshal bool into Go struct field ServiceSpec.spec.type of type v1.ServiceType'],
    ['Service', '{"spec":{"selector":"app=nginx"}}', 'json: cannot unmarshal string into Go struct field ServiceSpec.spec.selector of type map[string]string'],
    ['Service', '{"spec":{"ipFamilies":"IPv4"}}', 'json: cannot unmarshal string into Go struct field ServiceSpec.spec.ipFamilies of type []v1.IPFamily'],
    ['Service', '{"spec":{"ipFamilies":[4]}}', 'json: cannot unmarshal number into Go struct field ServiceSpec.spec.ipFamilies of type v1.IPFamily'],
    ['Service', '{"spec":{"sessionAffinityConfig":{"clientIP":{"timeoutSeconds":"10800"}}}}', 'json: cannot unmarshal string into Go struct field ClientIPConfig.spec.sessionAffinityConfig.clientIP.timeoutSeconds of type int32'],
    ['Service', '{"spec":{"allocateLoadBalancerNodePorts":"false"}}', 'json: cannot unmarshal string into Go struct field ServiceSpec.spec.allocateLoadBalancerNodePorts of type bool'],
    ['Pod', container({ image: 1 }), 'json: cannot unmarshal number into Go struct field Container.spec.containers.image of type string'],
    ['Pod', container({ command: 'sleep 1' }), 'json: cannot unmarshal string into Go struct field Container.spec.containers.command of type []string'],
    ['Pod', container({ command: ['sleep', 1] }), 'json: cannot unmarshal number into Go struct field Container.spec.containers.command of type string'],
    ['Pod', '{"spec":{"terminationGracePeriodSeconds":"30"}}', 'json: cannot unmarshal string into Go struct field PodSpec.spec.terminationGracePeriodSeconds of type int64'],
    ['Pod', container({ livenessProbe: { initialDelaySeconds: '5' } }), 'json: cannot unmarshal string into Go struct field Probe.spec.containers.livenessProbe.initialDelaySeconds of type int32'],
    ['Pod', container({ securityContext: { capabilities: { add: 'NET_ADMIN' } } }), 'json: cannot unmarshal string into Go struct field Capabilities.spec.containers.securityContext.capabilities.add of type []v1.Capability'],
    ['Pod', '{"spec":{"restartPolicy":1}}', 'json: cannot unmarshal number into Go struct field PodSpec.spec.restartPolicy of type v1.RestartPolicy'],
    ['Pod', '{"spec":{"hostNetwork":"true"}}', 'json: cannot unmarshal string into Go struct field PodSpec.spec.hostNetwork of type bool'],
    ['Pod', '{"spec":{"nodeSelector":{"disk":["ssd"]}}}', 'json: cannot unmarshal array into Go struct field PodSpec.spec.nodeSelector of type string'],
    ['Pod', container({ resources: 'small' }), 'json: cannot unmarshal string into Go struct field Container.spec.containers.resources of type v1.ResourceRequirements'],
    ['Pod', container({ resources: { limits: '1' } }), 'json: cannot unmarshal string into Go struct field ResourceRequirements.spec.containers.resources.limits of type v1.ResourceList'],
    ['Pod', '{"status":{"phase":1}}', 'json: cannot unmarshal number into Go struct field PodStatus.status.phase of type v1.PodPhase'],
    ['Endpoints', '{"subsets":{}}', 'json: cannot unmarshal object into Go struct field Endpoints.subsets of type []v1.EndpointSubset'],
    ['Endpoints', '{"subsets":[{"addresses":"10.0.0.250"}]}', 'json: cannot unmarshal string into Go struct field EndpointSubset.subsets.addresses of type []v1.EndpointAddress'],
    ['Endpoints', '{"subsets":[{"addresses":[{"ip":10}]}]}', 'json: cannot unmarshal number into Go struct field EndpointAddress.subsets.addresses.ip of type string'],
    ['Endpoints', '{"subsets":[{"addresses":[{"ip":"10.0.0.1","nodeName":[]}]}]}', 'json: cannot unmarshal array into Go struct field EndpointAddress.subsets.addresses.nodeName of type string'],
    ['Endpoints', '{"subsets":[{"addresses":[{"ip":"10.0.0.1","targetRef":{"kind":"Pod","uid":5}}]}]}', 'json: cannot unmarshal number into Go struct field ObjectReference.subsets.addresses.targetRef.uid of type types.UID'],
    ['Endpoints', '{"subsets":[{"ports":[{"port":"80"}]}]}', 'json: cannot unmarshal string into Go struct field EndpointPort.subsets.ports.port of type int32'],
    ['Endpoints', '{"subsets":[{"ports":[{"port":80,"protocol":true}]}]}', 'json: cannot unmarshal bool into Go struct field EndpointPort.subsets.ports.protocol of type v1.Protocol'],
  ]);
});

describe('numbers that are no integer of the field type are named with their text', () => {
  table([
    ['Deployment', '{"spec":{"replicas":1.5}}', 'json: cannot unmarshal number 1.5 into Go struct field DeploymentSpec.spec.replicas of type int32'],
    ['Deployment', '{"spec":{"replicas":3000000000}}', 'json: cannot unmarshal number 3000000000 into Go struct field DeploymentSpec.spec.replicas of type int32'],
    ['Deployment', '{"spec":{"replicas":-2147483649}}', 'json: cannot unmarshal number -2147483649 into Go struct field DeploymentSpec.spec.replicas of type int32'],
    ['Deployment', '{"spec":{"replicas":-2147483648}}', undefined],
    ['Pod', '{"spec":{"activeDeadlineSeconds":9223372036854775808}}', 'json: cannot unmarshal number 9223372036854775808 into Go struct field PodSpec.spec.activeDeadlineSeconds of type int64'],
    ['Pod', '{"spec":{"activeDeadlineSeconds":3000000000}}', undefined],
    ['Pod', '{"spec":{"tolerations":[{"key":"k","tolerationSeconds":1.5}]}}', 'json: cannot unmarshal number 1.5 into Go struct field Toleration.spec.tolerations.tolerationSeconds of type int64'],
  ]);
});

describe('IntOrString decodes a string, or anything else as an int32', () => {
  table([
    ['Deployment', '{"spec":{"strategy":{"rollingUpdate":{"maxSurge":true}}}}', 'json: cannot unmarshal bool into Go struct field RollingUpdateDeployment.spec.strategy.rollingUpdate.maxSurge of type int32'],
    ['Deployment', '{"spec":{"strategy":{"rollingUpdate":{"maxUnavailable":1.5}}}}', 'json: cannot unmarshal number 1.5 into Go struct field RollingUpdateDeployment.spec.strategy.rollingUpdate.maxUnavailable of type int32'],
    ['Deployment', '{"spec":{"strategy":{"rollingUpdate":{"maxSurge":{}}}}}', 'json: cannot unmarshal object into Go struct field RollingUpdateDeployment.spec.strategy.rollingUpdate.maxSurge of type int32'],
    ['Deployment', '{"spec":{"strategy":{"rollingUpdate":{"maxSurge":4294967296}}}}', 'json: cannot unmarshal number 4294967296 into Go struct field RollingUpdateDeployment.spec.strategy.rollingUpdate.maxSurge of type int32'],
    ['Service', '{"spec":{"ports":[{"port":80,"targetPort":1.5}]}}', 'json: cannot unmarshal number 1.5 into Go struct field ServicePort.spec.ports.targetPort of type int32'],
    ['Service', '{"spec":{"ports":[{"port":80,"targetPort":{"intVal":80}}]}}', 'json: cannot unmarshal object into Go struct field ServicePort.spec.ports.targetPort of type int32'],
    ['Service', '{"spec":{"ports":[{"port":80,"targetPort":[80]}]}}', 'json: cannot unmarshal array into Go struct field ServicePort.spec.ports.targetPort of type int32'],
    ['Service', '{"spec":{"ports":[{"port":80,"targetPort":"http"}]}}', undefined],
    ['Pod', container({ livenessProbe: { httpGet: { port: [] } } }), 'json: cannot unmarshal array into Go struct field HTTPGetAction.spec.containers.livenessProbe.httpGet.port of type int32'],
  ]);
});

describe('Quantity parses a number or string and reports ParseQuantity errors as they are', () => {
  table([
    ['Pod', container({ resources: { limits: { cpu: '1x' } } }), QUANTITY_FORMAT],
    ['Pod', container({ resources: { limits: { cpu: '' } } }), QUANTITY_FORMAT],
    ['Pod', container({ resources: { limits: { cpu: '1 2' } } }), QUANTITY_FORMAT],
    ['Pod', container({ resources: { limits: { memory: '500mi' } } }), QUANTITY_SUFFIX],
    ['Pod', container({ resources: { limits: { memory: '1Ki5' } } }), QUANTITY_SUFFIX],
    ['Pod', container({ resources: { limits: { memory: '1e99999999999999999999' } } }), QUANTITY_SUFFIX],
    ['Pod', container({ resources: { limits: { cpu: true } } }), QUANTITY_FORMAT],
    ['Pod', container({ resources: { limits: { cpu: {} } } }), QUANTITY_FORMAT],
    ['Pod', '{"spec":{"overhead":{"memory":[]}}}', QUANTITY_FORMAT],
    ['Pod', container({ resources: { limits: { cpu: 0.5, memory: ' 1Gi ' }, requests: { cpu: '+.5', memory: '1e3', storage: '2E' } } }), undefined],
  ]);
});

describe('Time and MicroTime decode a string with time.Parse', () => {
  const at = (t: string) => JSON.stringify({ metadata: { creationTimestamp: t } });
  table([
    ['Deployment', '{"spec":{"template":{"metadata":{"creationTimestamp":"yesterday"}}}}', `parsing time "yesterday" as ${RFC3339}: cannot parse "yesterday" as "2006"`],
    ['Deployment', '{"status":{"conditions":[{"status":"True","lastUpdateTime":"2024-01-01"}]}}', `parsing time "2024-01-01" as ${RFC3339}: cannot parse "" as "T"`],
    ['Deployment', '{"metadata":{"creationTimestamp":5}}', 'json: cannot unmarshal number into Go struct field ObjectMeta.metadata.creationTimestamp of type string'],
    ['Deployment', '{"metadata":{"creationTimestamp":{}}}', 'json: cannot unmarshal object into Go struct field ObjectMeta.metadata.creationTimestamp of type string'],
    ['Deployment', '{"metadata":{"deletionTimestamp":"2024-02-30T00:00:00Z"}}', 'parsing time "2024-02-30T00:00:00Z": day out of range'],
    ['Deployment', at('2023-02-29T00:00:00Z'), 'parsing time "2023-02-29T00:00:00Z": day out of range'],
    ['Deployment', at('2024-13-01T00:00:00Z'), 'parsing time "2024-13-01T00:00:00Z": month out of range'],
    ['Deployment', at('2024-01-01T25:00:00Z'), 'parsing time "2024-01-01T25:00:00Z": hour out of range'],
    ['Deployment', at('2024-01-01T10:60:00Z'), 'parsing time "2024-01-01T10:60:00Z": minute out of range'],
    ['Deployment', at('2024-01-01T10:00:61Z'), 'parsing time "2024-01-01T10:00:61Z": second out of range'],
    ['Deployment', at('2024-01-01T00:00:00'), `parsing time "2024-01-01T00:00:00" as ${RFC3339}: cannot parse "" as "Z07:00"`],
    ['Deployment', at('2024-01-01T00:00:00Zjunk'), 'parsing time "2024-01-01T00:00:00Zjunk": extra text: "junk"'],
    ['Deployment', at('2024-01-01 00:00:00Z'), `parsing time "2024-01-01 00:00:00Z" as ${RFC3339}: cannot parse " 00:00:00Z" as "T"`],
    ['Deployment', at('2024-1-01T00:00:00Z'), `parsing time "2024-1-01T00:00:00Z" as ${RFC3339}: cannot parse "1-01T00:00:00Z" as "01"`],
    ['Deployment', at('24-01-01T00:00:00Z'), `parsing time "24-01-01T00:00:00Z" as ${RFC3339}: cannot parse "24-01-01T00:00:00Z" as "2006"`],
    ['Deployment', at('2024-01-01T00:00:00+0100'), `parsing time "2024-01-01T00:00:00+0100" as ${RFC3339}: cannot parse "+0100" as "Z07:00"`],
    ['Deployment', at('2024-01-01T00:00:00+25:00'), 'parsing time "2024-01-01T00:00:00+25:00": time zone offset hour out of range'],
    ['Deployment', at('"quoted" é'), `parsing time "\\"quoted\\" \\xc3\\xa9" as ${RFC3339}: cannot parse "\\"quoted\\" \\xc3\\xa9" as "2006"`],
    ['Deployment', at('2024-01-01T00:00:00.123456789+01:00'), undefined],
    ['Deployment', at('2024-01-01T00:00:00,5Z'), undefined],
    ['Deployment', at('2024-01-01T3:04:05Z'), undefined],
    ['Event', '{"eventTime":"2024-01-01T00:00:00Z"}', 'parsing time "2024-01-01T00:00:00Z" as "2006-01-02T15:04:05.000000Z07:00": cannot parse "Z" as ".000000"'],
    ['Event', '{"eventTime":"2024-01-01T00:00:00.123Z"}', 'parsing time "2024-01-01T00:00:00.123Z" as "2006-01-02T15:04:05.000000Z07:00": cannot parse ".123Z" as ".000000"'],
    ['Event', '{"eventTime":"2024-01-01T00:00:00.-12345Z"}', 'parsing time "2024-01-01T00:00:00.-12345Z": fractional second out of range'],
    ['Event', '{"eventTime":1}', 'json: cannot unmarshal number into Go struct field Event.eventTime of type string'],
    ['Event', '{"eventTime":"2024-01-01T00:00:00.123456Z"}', undefined],
  ]);
});

describe('which error is reported', () => {
  table([
    // The first mismatch in document order ...
    ['Deployment', '{"spec":{"replicas":"3","paused":"yes"}}', 'json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32'],
    ['Deployment', '{"spec":{"paused":"yes","replicas":"3"}}', 'json: cannot unmarshal string into Go struct field DeploymentSpec.spec.paused of type bool'],
    ['Event', '{"count":"1","firstTimestamp":"2024-01-01T00:00:00Z"}', 'json: cannot unmarshal string into Go struct field Event.count of type int32'],
    // ... unless a type's own decoding fails later on, which ends decoding at once.
    ['Deployment', '{"metadata":{"name":5},"spec":{"strategy":{"rollingUpdate":{"maxSurge":true}}}}', 'json: cannot unmarshal bool into Go struct field RollingUpdateDeployment.spec.strategy.rollingUpdate.maxSurge of type int32'],
    ['Deployment', '{"metadata":{"name":5,"creationTimestamp":"x"}}', `parsing time "x" as ${RFC3339}: cannot parse "x" as "2006"`],
    ['Deployment', '{"spec":{"strategy":{"rollingUpdate":{"maxSurge":true}}},"metadata":{"creationTimestamp":"x"}}', 'json: cannot unmarshal bool into Go struct field RollingUpdateDeployment.spec.strategy.rollingUpdate.maxSurge of type int32'],
    // Keys that match no field (case-sensitively) are skipped with their values.
    ['Deployment', '{"spec":{"replicass":"3","template":{"spec":{"containers":[{"name":"c","imagee":5}]}}}}', undefined],
    ['Deployment', '{"spec":{"Replicas":"3"}}', undefined],
  ]);

  test('an unknown kind has no decode errors', () => {
    assert.equal(decodeError('v1', 'NoSuchKind', { spec: 5 }), undefined);
  });
});

describe('null is the zero value, never an error', () => {
  table([
    ['Deployment', '{"metadata":{"name":null,"labels":null,"creationTimestamp":null},"spec":{"replicas":null,"selector":null,"template":null,"strategy":{"rollingUpdate":{"maxSurge":null}}},"status":null}', undefined],
    ['Deployment', '{"metadata":{"labels":{"a":null},"finalizers":[null]},"spec":{"template":{"spec":{"containers":[null,{"name":"c","ports":[null],"command":[null]}]}}}}', undefined],
    ['Service', '{"spec":{"type":null,"ports":[{"port":80,"targetPort":null}],"selector":{"app":null}}}', undefined],
    ['Pod', container({ resources: { limits: { cpu: null }, requests: null }, livenessProbe: { httpGet: { port: null } } }), undefined],
    ['Endpoints', '{"subsets":[{"addresses":[null],"ports":[{"port":null,"protocol":null}]}]}', undefined],
  ]);

  test('replaceNulls removes null fields and makes null items and map values zero values', () => {
    const obj = JSON.parse(JSON.stringify({
      metadata: { name: 'x', labels: { a: null, b: 'c' }, annotations: null, finalizers: [null, 'f'], creationTimestamp: null, unknown: null },
      spec: {
        replicas: null,
        template: {
          spec: {
            containers: [null, { name: 'c', command: [null], ports: [null, { containerPort: null }], resources: { limits: { cpu: null } } }],
          },
        },
      },
    }));
    replaceNulls('apps/v1', 'Deployment', obj);
    assert.deepEqual(obj, {
      metadata: { name: 'x', labels: { a: '', b: 'c' }, finalizers: ['', 'f'], unknown: null },
      spec: {
        template: {
          spec: {
            containers: [{}, { name: 'c', command: [''], ports: [{}, {}], resources: { limits: { cpu: '0' } } }],
          },
        },
      },
    });
  });
});

// The seed's manifests (nginx-deploy.yaml and ep.yaml), in the namespace the server puts them in.
const SEED_YAML = `
apiVersion: v1
kind: Service
metadata:
  namespace: default
  name: nginx-svc-clusterip
spec:
  type: ClusterIP
  selector:
    app: nginx
  ports:
  - name: clusterip-nginx
    port: 80
    targetPort: 80
    protocol: TCP
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: deployment-nginx
  namespace: default
spec:
  replicas: 3
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      name: pod-nginx
      labels:
        app: nginx
    spec:
      containers:
      - name: container-nginx
        image: nginx:1.14.1
      restartPolicy: Always
---
apiVersion: v1
kind: Endpoints
metadata:
  name: harbor-huangxin
  namespace: default
subsets:
- addresses:
  - ip: 10.0.0.250
  ports:
  - port: 80
    protocol: TCP
---
apiVersion: v1
kind: Service
metadata:
  name: harbor-huangxin
  namespace: default
spec:
  type: ClusterIP
  ports:
  - port: 80
    targetPort: 80
`;
const SEED = YAML.parseAllDocuments(SEED_YAML).map((d) => JSON.parse(JSON.stringify(d.toJSON())) as KObject);

/** A pod that reaches far into PodSpec: probes, resources, security contexts, volumes, times. */
const RICH_POD: KObject = {
  apiVersion: 'v1', kind: 'Pod',
  metadata: { name: 'web-0', namespace: 'default', labels: { app: 'web' }, annotations: { note: 'x' }, finalizers: ['example.com/f'] },
  spec: {
    containers: [{
      name: 'web', image: 'nginx:1.14.1', command: ['nginx'], args: ['-g', 'daemon off;'],
      ports: [{ name: 'http', containerPort: 80, protocol: 'TCP' }],
      env: [{ name: 'A', value: 'b' }, { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }],
      resources: { limits: { cpu: '500m', memory: '128Mi' }, requests: { cpu: 0.25 } },
      livenessProbe: { httpGet: { path: '/', port: 'http' }, initialDelaySeconds: 5, periodSeconds: 10 },
      readinessProbe: { tcpSocket: { port: 80 } },
      securityContext: { runAsUser: 1000, capabilities: { add: ['NET_ADMIN'] }, readOnlyRootFilesystem: true },
      volumeMounts: [{ name: 'data', mountPath: '/data' }],
    }],
    initContainers: [{ name: 'init', image: 'busybox', command: ['true'] }],
    volumes: [{ name: 'data', emptyDir: { sizeLimit: '1Gi' } }, { name: 'cfg', configMap: { name: 'cfg', items: [{ key: 'a', path: 'a' }] } }],
    tolerations: [{ key: 'k', operator: 'Equal', value: 'v', effect: 'NoExecute', tolerationSeconds: 60 }],
    nodeSelector: { disk: 'ssd' },
    affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }] } } },
    terminationGracePeriodSeconds: 30, hostNetwork: false, dnsPolicy: 'ClusterFirst',
  },
  status: { phase: 'Pending', conditions: [{ type: 'Ready', status: 'False', lastTransitionTime: '2024-01-01T00:00:00Z' }], startTime: '2024-01-01T00:00:00Z' },
};

function createPipeline(obj: KObject): void {
  const kind = obj.kind!;
  replaceNulls(API_VERSIONS[kind]!, kind, obj);
  obj.metadata ??= {};
  applyDefaults(kind, obj);
  validateCreate(kind, obj);
}

describe('valid objects decode', () => {
  for (const obj of [...SEED, RICH_POD]) {
    test(`${obj.kind} ${obj.metadata.name}`, () => {
      assert.equal(decodeError(API_VERSIONS[obj.kind!]!, obj.kind!, obj), undefined);
      // What the server stores after defaulting (null timestamps and all) must decode again, or it could not be patched.
      const stored = structuredClone(obj);
      createPipeline(stored);
      assert.deepEqual(validateCreate(obj.kind!, stored), []);
      assert.equal(decodeError(API_VERSIONS[obj.kind!]!, obj.kind!, stored), undefined);
    });
  }
});

// Fuzzing: valid objects with leaves and subtrees replaced by values of other JSON types (or removed).
// Whatever decodes must go through defaulting and validation without throwing.

/** A small deterministic generator (LCG), so that a failure reproduces. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (Math.imul(state, 1103515245) + 12345) & 0x7fffffff;
    return state / 0x80000000;
  };
}

const REPLACEMENTS: unknown[] = [
  '', 'x', '80', 'TCP', '100m', '2024-01-01T00:00:00Z', 0, -1, 1.5, 80, 3000000000, true, false, null,
  {}, { name: 'x' }, { a: null }, [], ['x'], [{}], [null], [1],
];

/** Every position in a JSON value, as the parent and the key that holds it. */
function positions(value: unknown, out: [Record<string | number, unknown>, string | number][] = []) {
  if (value && typeof value === 'object') {
    for (const key of Object.keys(value)) {
      const parent = value as Record<string, unknown>;
      out.push([parent, Array.isArray(value) ? Number(key) : key]);
      positions(parent[key], out);
    }
  }
  return out;
}

test('an Endpoints address without ip is a validation error', () => {
  const ep = structuredClone(SEED[2]!);
  ep.subsets = [{ addresses: [{}], ports: [{ port: 80, protocol: 'TCP' }] }];
  assert.equal(decodeError('v1', 'Endpoints', ep), undefined);
  applyDefaults('Endpoints', ep);
  assert.notDeepEqual(validateCreate('Endpoints', ep), []);
});

test('fuzz: whatever decodes survives defaulting and validation', () => {
  const next = random(20240601);
  const bases = [...SEED, RICH_POD];
  const failures: string[] = [];
  let decoded = 0;
  for (let i = 0; i < 4000; i++) {
    const base = bases[i % bases.length]!;
    const obj = structuredClone(base);
    for (let edits = 1 + Math.floor(next() * 3); edits > 0; edits--) {
      const all = positions(obj);
      const [parent, key] = all[Math.floor(next() * all.length)]!;
      if (typeof key === 'string' && next() < 0.25) delete parent[key];
      else parent[key] = structuredClone(REPLACEMENTS[Math.floor(next() * REPLACEMENTS.length)]);
    }
    const body = JSON.stringify(obj);
    const message = decodeError(API_VERSIONS[base.kind!]!, base.kind!, obj);
    if (message !== undefined) {
      assert.match(message, /^(json: cannot unmarshal |quantities must match |unable to parse quantity's suffix$|parsing time ")/, body);
      continue;
    }
    decoded++;
    // The server takes the kind from the URL.
    obj.kind = base.kind;
    try {
      createPipeline(obj);
    } catch (e) {
      failures.push(`${body}\n  ${(e as Error).stack?.split('\n').slice(0, 3).join('\n  ')}`);
    }
  }
  assert.deepEqual(failures, []);
  // The mutations must leave enough objects decodable for the test to mean something.
  assert.ok(decoded > 500, `only ${decoded} mutated objects decoded`);
});

describe('the API server answers decode errors with 400 on create, update and patch', () => {
  let c: Cluster;
  const path = '/apis/apps/v1/namespaces/default/deployments';
  const deployment = (spec: object) => ({
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' },
    spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] } }, ...spec },
  });
  const REPLICAS = 'Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32';

  before(async () => { c = await startCluster(); });
  after(async () => { await c?.cleanup(); });

  async function rejected(res: { status: number; json(): any }, message: string): Promise<void> {
    assert.equal(res.status, 400);
    assert.deepEqual([res.json().reason, res.json().message], ['BadRequest', message]);
  }

  test('create', async () => {
    await rejected(await c.request('POST', path, deployment({ replicas: '3' })), REPLICAS);
    // A type error wins over unknown fields, as upstream's decoder reports it first.
    await rejected(await c.request('POST', `${path}?fieldValidation=Strict`, deployment({ replicaz: 1, replicas: '3' })), REPLICAS);
  });

  test('nulls are zero values: the object is created as if they were absent', async () => {
    const body = deployment({ replicas: null, paused: null });
    (body.metadata as Record<string, unknown>).labels = { tier: null };
    const res = await c.request('POST', path, body);
    assert.equal(res.status, 201, res.body);
    assert.deepEqual([res.json().metadata.labels, res.json().spec.replicas, 'paused' in res.json().spec], [{ tier: '' }, 1, false]);
  });

  test('update and patch', async () => {
    const current = (await c.request('GET', `${path}/web`)).json();
    await rejected(await c.request('PUT', `${path}/web`, { ...current, spec: { ...current.spec, replicas: '3' } }), REPLICAS);
    await rejected(await c.request('PATCH', `${path}/web`, { spec: { replicas: '3' } }, { headers: { 'Content-Type': 'application/merge-patch+json' } }), REPLICAS);
    await rejected(await c.request('PATCH', `${path}/web`, { spec: { template: { spec: { containers: [{ name: 'web', resources: { limits: { cpu: 'lots' } } }] } } } },
      { headers: { 'Content-Type': 'application/strategic-merge-patch+json' } }),
      `Deployment in version "v1" cannot be handled as a Deployment: ${QUANTITY_FORMAT}`);
    assert.equal((await c.request('GET', `${path}/web`)).json().metadata.resourceVersion, current.metadata.resourceVersion);
  });
});
