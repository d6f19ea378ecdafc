// Validation reports upstream's reasons, field paths and messages (kubectl prints them verbatim).
// Every expected message below is written out as a v1.32 kube-apiserver phrases it.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { applyDefaults } from '../src/api/defaults.js';
import type { FieldError, KObject } from '../src/api/types.js';
import {
  formatQuantity, invalidMessage, isDNS1035Label, isDNS1123Label, isDNS1123Subdomain, isValidIP, parseQuantity,
  validateCreate, validateLabels, validateStatusUpdate, validateUpdate,
} from '../src/api/validation/index.js';

type Expected = [FieldError['reason'], string, string][];

const SUBDOMAIN_MSG = String.raw`a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`;
const LABEL_MSG = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_MSG = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const LABEL_VALUE_MSG = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const NAME_PART_MSG = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const QUANTITY_MSG = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

const NAMESPACED_KINDS = new Set(['Pod', 'Service', 'Endpoints', 'Event', 'Deployment', 'ReplicaSet', 'EndpointSlice', 'Lease', 'Scale']);

function prepare(kind: string, raw: Record<string, unknown>): KObject {
  const o = structuredClone(raw) as KObject;
  o.kind = kind;
  o.metadata = { name: 'x', ...(NAMESPACED_KINDS.has(kind) ? { namespace: 'default' } : {}), ...(o.metadata ?? {}) };
  applyDefaults(kind, o);
  return o;
}

/** A stored object: what the server set on create is there. */
function stored(kind: string, raw: Record<string, unknown>): KObject {
  const o = prepare(kind, raw);
  Object.assign(o.metadata, { uid: 'd2a7e8f0-0000-4000-8000-000000000001', creationTimestamp: '2025-05-10T13:14:00Z', resourceVersion: '7' });
  return o;
}

function tuples(errs: FieldError[]): Expected {
  return errs.map((e) => [e.reason, e.field, e.message]);
}

function expectCreate(kind: string, raw: Record<string, unknown>, expected: Expected): void {
  assert.deepEqual(tuples(validateCreate(kind, prepare(kind, raw))), expected);
}

const container = { name: 'web', image: 'nginx:1.27' };
const podSpec = { containers: [container] };
const template = { metadata: { labels: { app: 'nginx' } }, spec: podSpec };
const deploymentSpec = { replicas: 2, selector: { matchLabels: { app: 'nginx' } }, template };
const port80 = { name: 'http', port: 80 };

describe('valid objects pass', () => {
  const valid: [string, Record<string, unknown>][] = [
    ['Service', { metadata: { name: 'nginx-svc-clusterip' }, spec: { type: 'ClusterIP', selector: { app: 'nginx' }, ports: [{ name: 'clusterip-nginx', port: 80, targetPort: 80, protocol: 'TCP' }] } }],
    ['Service', { metadata: { name: 'harbor-huangxin' }, spec: { type: 'ClusterIP', ports: [{ port: 80, targetPort: 80 }] } }],
    ['Service', { spec: { type: 'NodePort', sessionAffinity: 'ClientIP', ports: [{ port: 80, nodePort: 30080, targetPort: 'http' }] } }],
    ['Service', { spec: { clusterIP: 'None', ports: [] } }],
    ['Service', { spec: { type: 'ExternalName', externalName: 'registry.example.com.' } }],
    ['Service', { spec: { type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 31000, ports: [port80] } }],
    ['Endpoints', { metadata: { name: 'harbor-huangxin' }, subsets: [{ addresses: [{ ip: '10.0.0.250' }], ports: [{ port: 80, protocol: 'TCP' }] }] }],
    ['Deployment', { metadata: { name: 'deployment-nginx' }, spec: { replicas: 3, selector: { matchLabels: { app: 'nginx' } }, template: { metadata: { name: 'pod-nginx', labels: { app: 'nginx' } }, spec: { containers: [{ name: 'container-nginx', image: 'nginx:1.14.1' }], restartPolicy: 'Always' } } } }],
    ['Deployment', { spec: { ...deploymentSpec, strategy: { type: 'Recreate' } } }],
    ['ReplicaSet', { spec: deploymentSpec }],
    ['Pod', { metadata: { generateName: 'web-', name: 'web-x7k2p', labels: { 'app.kubernetes.io/name': 'web' }, annotations: { 'example.com/Owner': 'me' } }, spec: { ...podSpec, containers: [{ ...container, ports: [{ name: 'http', containerPort: 80 }], env: [{ name: 'MY.VAR-1', value: 'x' }], resources: { limits: { cpu: '1', memory: '1Gi' } } }] } }],
    ['EndpointSlice', { addressType: 'IPv4', endpoints: [{ addresses: ['10.244.0.5'], conditions: { ready: true } }], ports: [{ name: 'http', port: 80 }] }],
    ['EndpointSlice', { addressType: 'FQDN', endpoints: [{ addresses: ['db.example.com'] }] }],
    ['Lease', { spec: { holderIdentity: 'node01', leaseDurationSeconds: 40 } }],
    ['Node', { metadata: { name: 'node01' }, spec: { podCIDRs: ['10.244.1.0/24'], taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] }, status: { capacity: { cpu: '4', pods: '110' } } }],
    ['Namespace', { metadata: { name: 'team-a' } }],
    ['Event', { involvedObject: { kind: 'Pod', name: 'p', namespace: 'default' }, reason: 'Started', message: 'Started container', type: 'Normal', count: 1 }],
    ['Scale', { spec: { replicas: 0 } }],
  ];
  for (const [kind, raw] of valid) {
    test(`${kind} ${JSON.stringify(raw).slice(0, 80)}`, () => assert.deepEqual(validateCreate(kind, prepare(kind, raw)), []));
  }
});

describe('object metadata', () => {
  const cases: [string, string, Record<string, unknown>, Expected][] = [
    ['name is required', 'Pod', { metadata: { name: '' }, spec: podSpec }, [['FieldValueRequired', 'metadata.name', 'Required value: name or generateName is required']]],
    ['pod names are DNS subdomains', 'Pod', { metadata: { name: 'my_pod' }, spec: podSpec }, [['FieldValueInvalid', 'metadata.name', `Invalid value: "my_pod": ${SUBDOMAIN_MSG}`]]],
    ['service names are DNS-1035 labels', 'Service', { metadata: { name: '1web' }, spec: { ports: [port80] } }, [['FieldValueInvalid', 'metadata.name', `Invalid value: "1web": ${DNS1035_MSG}`]]],
    ['namespace names are DNS-1123 labels', 'Namespace', { metadata: { name: 'team.a' } }, [['FieldValueInvalid', 'metadata.name', 'Invalid value: "team.a": must not contain dots']]],
    ['generateName may end in a dash but must otherwise be valid', 'Pod', { metadata: { generateName: 'Web-', name: 'web-abcde' }, spec: podSpec }, [['FieldValueInvalid', 'metadata.generateName', `Invalid value: "Web-": ${SUBDOMAIN_MSG}`]]],
    ['label keys and values', 'Pod', { metadata: { labels: { '-bad': 'x', good: 'bad value' } }, spec: podSpec }, [
      ['FieldValueInvalid', 'metadata.labels', `Invalid value: "-bad": ${NAME_PART_MSG}`],
      ['FieldValueInvalid', 'metadata.labels', `Invalid value: "bad value": ${LABEL_VALUE_MSG}`],
    ]],
    ['label key prefixes are subdomains', 'Service', { metadata: { labels: { 'Example.com/app': 'x' } }, spec: { ports: [port80] } }, [
      ['FieldValueInvalid', 'metadata.labels', `Invalid value: "Example.com/app": prefix part ${SUBDOMAIN_MSG}`],
    ]],
    ['annotation keys', 'Pod', { metadata: { annotations: { 'bad key': 'v' } }, spec: podSpec }, [['FieldValueInvalid', 'metadata.annotations', `Invalid value: "bad key": ${NAME_PART_MSG}`]]],
    ['annotations are limited to 256 KiB', 'Pod', { metadata: { annotations: { a: 'x'.repeat(262144) } }, spec: podSpec }, [['FieldValueTooLong', 'metadata.annotations', 'Too long: may not be more than 262144 bytes']]],
    ['owner references need a uid', 'Pod', { metadata: { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs' }] }, spec: podSpec }, [['FieldValueInvalid', 'metadata.ownerReferences.uid', 'Invalid value: "": uid must not be empty']]],
    ['unqualified finalizers must be standard ones', 'Pod', { metadata: { finalizers: ['custom'] }, spec: podSpec }, [['FieldValueInvalid', 'metadata.finalizers[0]', 'Invalid value: "custom": name is neither a standard finalizer name nor is it fully qualified']]],
    ['cluster-scoped objects have no namespace', 'Node', { metadata: { namespace: 'default' } }, [['FieldValueForbidden', 'metadata.namespace', 'Forbidden: not allowed on this type']]],
  ];
  for (const [name, kind, raw, expected] of cases) test(name, () => expectCreate(kind, raw, expected));
});

describe('pods', () => {
  const withContainer = (c: Record<string, unknown>) => ({ spec: { containers: [{ ...container, ...c }] } });
  const cases: [string, Record<string, unknown>, Expected][] = [
    ['containers are required', { spec: {} }, [['FieldValueRequired', 'spec.containers', 'Required value']]],
    ['container names are DNS labels', withContainer({ name: 'Web' }), [['FieldValueInvalid', 'spec.containers[0].name', `Invalid value: "Web": ${LABEL_MSG}`]]],
    ['container names are unique', { spec: { containers: [container, container] } }, [['FieldValueDuplicate', 'spec.containers[1].name', 'Duplicate value: "web"']]],
    ['image is required', withContainer({ image: '' }), [['FieldValueRequired', 'spec.containers[0].image', 'Required value']]],
    ['image may not be padded', withContainer({ image: ' nginx' }), [['FieldValueInvalid', 'spec.containers[0].image', 'Invalid value: " nginx": must not have leading or trailing whitespace']]],
    ['container ports', withContainer({ ports: [{ containerPort: 0 }, { containerPort: 70000, protocol: 'ICMP' }, { name: 'HTTP', containerPort: 81 }] }), [
      ['FieldValueRequired', 'spec.containers[0].ports[0].containerPort', 'Required value'],
      ['FieldValueInvalid', 'spec.containers[0].ports[1].containerPort', 'Invalid value: 70000: must be between 1 and 65535, inclusive'],
      ['FieldValueNotSupported', 'spec.containers[0].ports[1].protocol', 'Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"'],
      ['FieldValueInvalid', 'spec.containers[0].ports[2].name', 'Invalid value: "HTTP": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)'],
      ['FieldValueInvalid', 'spec.containers[0].ports[2].name', 'Invalid value: "HTTP": must contain at least one letter (a-z)'],
    ]],
    ['restartPolicy values', { spec: { ...podSpec, restartPolicy: 'Sometimes' } }, [['FieldValueNotSupported', 'spec.restartPolicy', 'Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"']]],
    ['imagePullPolicy values', withContainer({ imagePullPolicy: 'Sometimes' }), [['FieldValueNotSupported', 'spec.containers[0].imagePullPolicy', 'Unsupported value: "Sometimes": supported values: "Always", "IfNotPresent", "Never"']]],
    ['quantities must parse', withContainer({ resources: { limits: { cpu: 'lots' } } }), [
      ['FieldValueInvalid', 'spec.containers[0].resources.limits[cpu]', `Invalid value: "lots": ${QUANTITY_MSG}`],
      ['FieldValueInvalid', 'spec.containers[0].resources.requests[cpu]', `Invalid value: "lots": ${QUANTITY_MSG}`],
    ]],
    ['requests may not exceed limits', withContainer({ resources: { limits: { cpu: '100m' }, requests: { cpu: '0.2' } } }), [
      ['FieldValueInvalid', 'spec.containers[0].resources.requests', 'Invalid value: "200m": must be less than or equal to cpu limit of 100m'],
    ]],
    ['resource names', withContainer({ resources: { requests: { gpu: '1' } } }), [
      ['FieldValueInvalid', 'spec.containers[0].resources.requests[gpu]', 'Invalid value: "gpu": must be a standard resource type or fully qualified'],
      ['FieldValueInvalid', 'spec.containers[0].resources.requests[gpu]', 'Invalid value: "gpu": must be a standard resource for containers'],
    ]],
    ['env var names', withContainer({ env: [{ name: 'A=B', value: '1' }, { name: '' }] }), [
      ['FieldValueInvalid', 'spec.containers[0].env[0].name', "Invalid value: \"A=B\": a valid environment variable name must consist only of printable ASCII characters other than '='"],
      ['FieldValueRequired', 'spec.containers[0].env[1].name', 'Required value'],
    ]],
    ['volume mounts need a volume', withContainer({ volumeMounts: [{ name: 'data', mountPath: '/data' }] }), [['FieldValueNotFound', 'spec.containers[0].volumeMounts[0].name', 'Not found: "data"']]],
    ['liveness probes succeed once', withContainer({ livenessProbe: { tcpSocket: { port: 80 }, successThreshold: 2 } }), [['FieldValueInvalid', 'spec.containers[0].livenessProbe.successThreshold', 'Invalid value: 2: must be 1']]],
    ['tolerations', { spec: { ...podSpec, tolerations: [{ operator: 'Equal', value: 'x' }] } }, [['FieldValueInvalid', 'spec.tolerations[0].operator', 'Invalid value: "Equal": operator must be Exists when `key` is empty, which means "match all values and all keys"']]],
    ['ephemeral containers are not accepted on create', { spec: { ...podSpec, ephemeralContainers: [{ name: 'debug', image: 'busybox:1' }] } }, [['FieldValueForbidden', 'spec.ephemeralContainers', 'Forbidden: cannot be set on create']]],
  ];
  for (const [name, raw, expected] of cases) test(name, () => expectCreate('Pod', raw, expected));

  test('updates may change images but not other fields', () => {
    const old = stored('Pod', { spec: podSpec });
    const newImage = structuredClone(old);
    (newImage.spec as { containers: { image: string }[] }).containers[0]!.image = 'nginx:1.28';
    assert.deepEqual(validateUpdate('Pod', newImage, old), []);
    const moreTolerations = structuredClone(old);
    (moreTolerations.spec as { tolerations: object[] }).tolerations.push({ key: 'dedicated', operator: 'Exists', effect: 'NoSchedule' });
    assert.deepEqual(validateUpdate('Pod', moreTolerations, old), []);
    const changed = structuredClone(old);
    (changed.spec as { restartPolicy: string }).restartPolicy = 'Never';
    const errs = validateUpdate('Pod', changed, old);
    assert.equal(errs.length, 1);
    assert.equal(errs[0]!.reason, 'FieldValueForbidden');
    assert.equal(errs[0]!.field, 'spec');
    assert.ok(errs[0]!.message.startsWith('Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n'), errs[0]!.message);
    assert.match(errs[0]!.message, /restartPolicy/);
  });

  test('an update needs the resourceVersion; the registry and the strategy both report it', () => {
    const old = stored('Pod', { spec: podSpec });
    const next = structuredClone(old);
    delete next.metadata.resourceVersion;
    const errs = validateUpdate('Pod', next, old);
    assert.deepEqual(tuples(errs), [
      ['FieldValueInvalid', 'metadata.resourceVersion', 'Invalid value: "": must be specified for an update'],
      ['FieldValueInvalid', 'metadata.resourceVersion', 'Invalid value: "": must be specified for an update'],
    ]);
    assert.equal(invalidMessage('Pod', 'x', errs), 'Pod "x" is invalid: metadata.resourceVersion: Invalid value: "": must be specified for an update');
  });

  test('status updates: QoS class is immutable, pod IPs must be IPs', () => {
    const old = stored('Pod', { spec: podSpec, status: { phase: 'Pending', qosClass: 'BestEffort' } });
    const next = structuredClone(old);
    next.status = { phase: 'Running', qosClass: 'Guaranteed', podIPs: [{ ip: '127.1.0.300' }] };
    assert.deepEqual(tuples(validateStatusUpdate('Pod', next, old)), [
      ['FieldValueInvalid', 'status.qosClass', 'Invalid value: "Guaranteed": field is immutable'],
      ['FieldValueInvalid', 'status.podIPs[0]', 'Invalid value: "127.1.0.300": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'],
    ]);
    const running = structuredClone(old);
    running.status = { phase: 'Running', podIP: '127.1.0.5', hostIP: '127.0.0.1' };
    applyDefaults('Pod', running, old);
    assert.deepEqual(validateStatusUpdate('Pod', running, old), []);
  });
});

describe('deployments and replica sets', () => {
  const spec = (s: Record<string, unknown>) => ({ spec: { ...deploymentSpec, ...s } });
  const cases: [string, string, Record<string, unknown>, Expected][] = [
    ['the template must match the selector', 'Deployment', spec({ template: { ...template, metadata: { labels: { app: 'other' } } } }), [
      ['FieldValueInvalid', 'spec.template.metadata.labels', 'Invalid value: map[string]string{"app":"other"}: `selector` does not match template `labels`'],
    ]],
    ['the selector is required', 'Deployment', spec({ selector: undefined }), [
      ['FieldValueRequired', 'spec.selector', 'Required value'],
      ['FieldValueInvalid', 'spec.template.metadata.labels', 'Invalid value: map[string]string{"app":"nginx"}: `selector` does not match template `labels`'],
    ]],
    ['the selector may not be empty', 'Deployment', spec({ selector: {} }), [
      ['FieldValueInvalid', 'spec.selector', 'Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment'],
    ]],
    ['replicas may not be negative', 'Deployment', spec({ replicas: -1 }), [['FieldValueInvalid', 'spec.replicas', 'Invalid value: -1: must be greater than or equal to 0']]],
    ['maxSurge and maxUnavailable may not both be 0', 'Deployment', spec({ strategy: { rollingUpdate: { maxSurge: 0, maxUnavailable: 0 } } }), [
      ['FieldValueInvalid', 'spec.strategy.rollingUpdate.maxUnavailable', 'Invalid value: intstr.IntOrString{Type:0, IntVal:0, StrVal:""}: may not be 0 when `maxSurge` is 0'],
    ]],
    ['percentages', 'Deployment', spec({ strategy: { rollingUpdate: { maxSurge: 'lots', maxUnavailable: '120%' } } }), [
      ['FieldValueInvalid', 'spec.strategy.rollingUpdate.maxSurge', "Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:\"lots\"}: a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"],
      ['FieldValueInvalid', 'spec.strategy.rollingUpdate.maxUnavailable', 'Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:"120%"}: must not be greater than 100%'],
    ]],
    ['Recreate takes no rolling-update parameters', 'Deployment', spec({ strategy: { type: 'Recreate', rollingUpdate: { maxSurge: 1 } } }), [
      ['FieldValueForbidden', 'spec.strategy.rollingUpdate', "Forbidden: may not be specified when strategy `type` is 'Recreate'"],
    ]],
    ['strategy types', 'Deployment', spec({ strategy: { type: 'BlueGreen' } }), [
      ['FieldValueNotSupported', 'spec.strategy', 'Unsupported value: apps.DeploymentStrategy{Type:"BlueGreen", RollingUpdate:(*apps.RollingUpdateDeployment)(nil)}: supported values: "Recreate", "RollingUpdate"'],
    ]],
    ['pods of a deployment always restart', 'Deployment', spec({ template: { ...template, spec: { ...podSpec, restartPolicy: 'Never' } } }), [
      ['FieldValueNotSupported', 'spec.template.spec.restartPolicy', 'Unsupported value: "Never": supported values: "Always"'],
    ]],
    ['the template is validated as a pod spec', 'Deployment', spec({ template: { ...template, spec: { containers: [{ name: 'nginx', image: '' }] } } }), [
      ['FieldValueRequired', 'spec.template.spec.containers[0].image', 'Required value'],
    ]],
    ['progressDeadlineSeconds exceeds minReadySeconds', 'Deployment', spec({ minReadySeconds: 600 }), [
      ['FieldValueInvalid', 'spec.progressDeadlineSeconds', 'Invalid value: 600: must be greater than minReadySeconds'],
    ]],
    ['ReplicaSet selectors too', 'ReplicaSet', spec({ selector: { matchExpressions: [{ key: 'app', operator: 'In' }] } }), [
      ['FieldValueRequired', 'spec.selector.matchExpressions[0].values', "Required value: must be specified when `operator` is 'In' or 'NotIn'"],
      ['FieldValueInvalid', 'spec.selector', 'Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement{v1.LabelSelectorRequirement{Key:"app", Operator:"In", Values:[]string(nil)}}}: invalid label selector'],
    ]],
  ];
  for (const [name, kind, raw, expected] of cases) test(name, () => expectCreate(kind, raw, expected));

  test('the selector is immutable', () => {
    const old = stored('Deployment', { spec: deploymentSpec });
    const next = structuredClone(old);
    const s = next.spec as { selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> } } };
    s.selector.matchLabels = { app: 'nginx2' };
    s.template.metadata.labels = { app: 'nginx2' };
    assert.deepEqual(tuples(validateUpdate('Deployment', next, old)), [
      ['FieldValueInvalid', 'spec.selector', 'Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"nginx2"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable'],
    ]);
  });
});

describe('services', () => {
  const svc = (spec: Record<string, unknown>) => ({ spec });
  const cases: [string, Record<string, unknown>, Expected][] = [
    ['ports are required', svc({ selector: { app: 'x' } }), [['FieldValueRequired', 'spec.ports', 'Required value']]],
    ['ports are 1-65535', svc({ ports: [{ port: 0, targetPort: 8080 }, { name: 'b', port: 65536, targetPort: 8080 }] }), [
      ['FieldValueRequired', 'spec.ports[0].name', 'Required value'],
      ['FieldValueInvalid', 'spec.ports[0].port', 'Invalid value: 0: must be between 1 and 65535, inclusive'],
      ['FieldValueInvalid', 'spec.ports[1].port', 'Invalid value: 65536: must be between 1 and 65535, inclusive'],
    ]],
    ['several ports need unique names', svc({ ports: [{ name: 'web', port: 80 }, { name: 'web', port: 81 }] }), [['FieldValueDuplicate', 'spec.ports[1].name', 'Duplicate value: "web"']]],
    ['port names are DNS labels', svc({ ports: [{ name: 'Web', port: 80 }] }), [['FieldValueInvalid', 'spec.ports[0].name', `Invalid value: "Web": ${LABEL_MSG}`]]],
    ['protocols', svc({ ports: [{ port: 80, protocol: 'ICMP' }] }), [['FieldValueNotSupported', 'spec.ports[0].protocol', 'Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"']]],
    ['port and protocol pairs are unique', svc({ ports: [{ name: 'a', port: 80 }, { name: 'b', port: 80 }] }), [
      ['FieldValueDuplicate', 'spec.ports[1]', 'Duplicate value: core.ServicePort{Name:"", Protocol:"TCP", AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}'],
    ]],
    ['target ports by name are IANA service names', svc({ ports: [{ port: 80, targetPort: 'HTTP' }] }), [
      ['FieldValueInvalid', 'spec.ports[0].targetPort', 'Invalid value: "HTTP": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)'],
      ['FieldValueInvalid', 'spec.ports[0].targetPort', 'Invalid value: "HTTP": must contain at least one letter (a-z)'],
    ]],
    ['types', svc({ type: 'Magic', ports: [port80] }), [['FieldValueNotSupported', 'spec.type', 'Unsupported value: "Magic": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"']]],
    ['session affinity values', svc({ sessionAffinity: 'Sticky', ports: [port80] }), [['FieldValueNotSupported', 'spec.sessionAffinity', 'Unsupported value: "Sticky": supported values: "ClientIP", "None"']]],
    ['session affinity timeout', svc({ sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 0 } }, ports: [port80] }), [
      ['FieldValueInvalid', 'spec.sessionAffinityConfig.clientIP.timeoutSeconds', 'Invalid value: 0: must be greater than 0 and less than 86400'],
    ]],
    ['selectors are labels', svc({ selector: { app: 'my app' }, ports: [port80] }), [['FieldValueInvalid', 'spec.selector', `Invalid value: "my app": ${LABEL_VALUE_MSG}`]]],
    ['clusterIP must be an IP or None (checked before anything else)', { metadata: { name: 'Bad' }, ...svc({ clusterIP: '10.96.0.300', ports: [port80] }) }, [
      ['FieldValueInvalid', 'spec.clusterIPs[0]', 'Invalid value: "10.96.0.300": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'],
    ]],
    ['None is not for NodePort services', svc({ type: 'NodePort', clusterIP: 'None', ports: [port80] }), [
      ['FieldValueInvalid', 'spec.clusterIPs[0]', `Invalid value: "None": may not be set to 'None' for NodePort services`],
    ]],
    ['IPv6 is not configured', svc({ ipFamilies: ['IPv6'], ports: [port80] }), [['FieldValueInvalid', 'spec.ipFamilies[0]', 'Invalid value: "IPv6": not configured on this cluster']]],
    ['dual-stack is not configured', svc({ ipFamilyPolicy: 'RequireDualStack', selector: { app: 'x' }, ports: [port80] }), [
      ['FieldValueInvalid', 'spec.ipFamilyPolicy', 'Invalid value: "RequireDualStack": this cluster is not configured for dual-stack services'],
    ]],
    ['ipFamilyPolicy values', svc({ ipFamilyPolicy: 'Both', ports: [port80] }), [
      ['FieldValueNotSupported', 'spec.ipFamilyPolicy', 'Unsupported value: "Both": supported values: "PreferDualStack", "RequireDualStack", "SingleStack"'],
    ]],
    ['node ports come from the node port range', svc({ type: 'NodePort', ports: [{ port: 80, nodePort: 80 }] }), [
      ['FieldValueInvalid', 'spec.ports[0].nodePort', 'Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767'],
    ]],
    ['ClusterIP services have no node ports', svc({ ports: [{ port: 80, nodePort: 30080 }] }), [
      ['FieldValueForbidden', 'spec.ports[0].nodePort', "Forbidden: may not be used when `type` is 'ClusterIP'"],
    ]],
    ['ExternalName needs a DNS name', svc({ type: 'ExternalName', externalName: 'not_a_host' }), [['FieldValueInvalid', 'spec.externalName', `Invalid value: "not_a_host": ${SUBDOMAIN_MSG}`]]],
    ['externalIPs may not be loopback', svc({ externalIPs: ['127.0.0.1'], ports: [port80] }), [
      ['FieldValueInvalid', 'spec.externalIPs[0]', 'Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)'],
    ]],
  ];
  for (const [name, raw, expected] of cases) test(name, () => expectCreate('Service', raw, expected));

  test('the cluster IP may not change', () => {
    const old = stored('Service', { spec: { ports: [port80] } });
    Object.assign(old.spec as object, { clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10'] });
    const next = structuredClone(old);
    Object.assign(next.spec as object, { clusterIP: '10.96.0.11', clusterIPs: ['10.96.0.11'] });
    applyDefaults('Service', next, old);
    assert.deepEqual(tuples(validateUpdate('Service', next, old)), [
      ['FieldValueInvalid', 'spec.clusterIPs[0]', 'Invalid value: []string{"10.96.0.11"}: may not change once set'],
    ]);
  });

  test('a resubmitted manifest without the allocated IP is accepted', () => {
    const old = stored('Service', { spec: { ports: [port80] } });
    Object.assign(old.spec as object, { clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10'] });
    const next = prepare('Service', { spec: { ports: [port80] } });
    next.metadata = structuredClone(old.metadata);
    applyDefaults('Service', next, old);
    assert.deepEqual(validateUpdate('Service', next, old), []);
  });
});

describe('endpoints', () => {
  const ep = (subset: Record<string, unknown>) => ({ subsets: [subset] });
  const cases: [string, Record<string, unknown>, Expected][] = [
    ['addresses must be IPs', ep({ addresses: [{ ip: 'registry' }], ports: [{ port: 80 }] }), [
      ['FieldValueInvalid', 'subsets[0].addresses[0].ip', 'Invalid value: "registry": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'],
      ['FieldValueInvalid', 'subsets[0].addresses[0].ip', 'Invalid value: "registry": must be a valid IP address'],
    ]],
    ['loopback addresses are rejected', ep({ addresses: [{ ip: '127.0.0.1' }], ports: [{ port: 80 }] }), [
      ['FieldValueInvalid', 'subsets[0].addresses[0].ip', 'Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)'],
    ]],
    ['link-local addresses are rejected', ep({ notReadyAddresses: [{ ip: '169.254.169.254' }] }), [
      ['FieldValueInvalid', 'subsets[0].notReadyAddresses[0].ip', 'Invalid value: "169.254.169.254": may not be in the link-local range (169.254.0.0/16, fe80::/10)'],
    ]],
    ['a subset needs addresses', ep({ ports: [{ port: 80 }] }), [['FieldValueRequired', 'subsets[0]', 'Required value: must specify `addresses` or `notReadyAddresses`']]],
    ['ports', ep({ addresses: [{ ip: '10.0.0.250' }], ports: [{ port: 70000 }, { port: 81, protocol: 'HTTP' }] }), [
      ['FieldValueRequired', 'subsets[0].ports[0].name', 'Required value'],
      ['FieldValueInvalid', 'subsets[0].ports[0].port', 'Invalid value: 70000: must be between 1 and 65535, inclusive'],
      ['FieldValueRequired', 'subsets[0].ports[1].name', 'Required value'],
      ['FieldValueNotSupported', 'subsets[0].ports[1].protocol', 'Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"'],
    ]],
  ];
  for (const [name, raw, expected] of cases) test(name, () => expectCreate('Endpoints', raw, expected));

  test('loopback addresses can be allowed explicitly (kubelite runs pods there)', () => {
    const obj = prepare('Endpoints', ep({ addresses: [{ ip: '127.1.0.5' }, { ip: '0.0.0.0' }], ports: [{ port: 80 }] }));
    assert.deepEqual(tuples(validateCreate('Endpoints', obj, { allowLoopbackEndpoints: true })), [
      ['FieldValueInvalid', 'subsets[0].addresses[1].ip', 'Invalid value: "0.0.0.0": may not be unspecified (0.0.0.0)'],
    ]);
    const slice = prepare('EndpointSlice', { addressType: 'IPv4', endpoints: [{ addresses: ['127.1.0.5'] }] });
    assert.equal(validateCreate('EndpointSlice', slice).length, 1);
    assert.deepEqual(validateCreate('EndpointSlice', slice, { allowLoopbackEndpoints: true }), []);
  });
});

describe('endpoint slices', () => {
  const cases: [string, Record<string, unknown>, Expected][] = [
    ['address types', { addressType: 'IP' }, [['FieldValueNotSupported', 'addressType', 'Unsupported value: "IP": supported values: "FQDN", "IPv4", "IPv6"']]],
    ['at most 1000 endpoints', { addressType: 'IPv4', endpoints: Array.from({ length: 1001 }, (_, i) => ({ addresses: [`10.1.${i >> 8}.${i & 255}`] })) }, [
      ['FieldValueTooMany', 'endpoints', 'Too many: 1001: must have at most 1000 items'],
    ]],
    ['addresses follow the address type', { addressType: 'IPv4', endpoints: [{ addresses: ['fd00::1'] }, { addresses: [] }] }, [
      ['FieldValueInvalid', 'endpoints[0].addresses[0]', 'Invalid value: "fd00::1": must be a valid IPv4 address'],
      ['FieldValueRequired', 'endpoints[1].addresses', 'Required value: must contain at least 1 address'],
    ]],
    ['port names are unique', { addressType: 'IPv4', ports: [{ port: 80 }, { port: 81 }] }, [['FieldValueDuplicate', 'ports[1].name', 'Duplicate value: ""']]],
  ];
  for (const [name, raw, expected] of cases) test(name, () => expectCreate('EndpointSlice', raw, expected));
});

describe('other kinds', () => {
  const cases: [string, string, Record<string, unknown>, Expected][] = [
    ['lease durations are positive', 'Lease', { spec: { leaseDurationSeconds: 0, leaseTransitions: -1 } }, [
      ['FieldValueInvalid', 'spec.leaseDurationSeconds', 'Invalid value: 0: must be greater than 0'],
      ['FieldValueInvalid', 'spec.leaseTransitions', 'Invalid value: -1: must be greater than or equal to 0'],
    ]],
    ['node pod CIDRs', 'Node', { spec: { podCIDR: '10.244.0.0/33' } }, [
      ['FieldValueInvalid', 'spec.podCIDRs[0]', 'Invalid value: "10.244.0.0/33": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'],
    ]],
    ['node taints (reported under metadata, as upstream does)', 'Node', { spec: { taints: [{ key: 'k', effect: 'Sometimes' }, { key: 'a', effect: 'NoSchedule' }, { key: 'a', effect: 'NoSchedule' }] } }, [
      ['FieldValueNotSupported', 'metadata.taints[0].effect', 'Unsupported value: "Sometimes": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"'],
      ['FieldValueDuplicate', 'metadata.taints[2]', 'Duplicate value: core.Taint{Key:"a", Value:"", Effect:"NoSchedule", TimeAdded:(*v1.Time)(nil)}: taints must be unique by key and effect pair'],
    ]],
    ['namespace names', 'Namespace', { metadata: { name: 'Team_A' } }, [['FieldValueInvalid', 'metadata.name', `Invalid value: "Team_A": ${LABEL_MSG}`]]],
    ['events belong to the namespace of their object', 'Event', { involvedObject: { kind: 'Pod', name: 'p', namespace: 'other' } }, [
      ['FieldValueInvalid', 'involvedObject.namespace', 'Invalid value: "other": does not match event.namespace'],
    ]],
    ['event names only need to be path segments', 'Event', { metadata: { name: 'a/b' }, involvedObject: { kind: 'Node', name: 'n' } }, [
      ['FieldValueInvalid', 'metadata.name', "Invalid value: \"a/b\": may not contain '/'"],
    ]],
    ['scale replicas', 'Scale', { spec: { replicas: -1 } }, [['FieldValueInvalid', 'spec.replicas', 'Invalid value: -1: must be greater than or equal to 0']]],
  ];
  for (const [name, kind, raw, expected] of cases) test(name, () => expectCreate(kind, raw, expected));

  test('namespace status follows the deletion timestamp', () => {
    const old = stored('Namespace', { metadata: { name: 'team-a' } });
    const next = structuredClone(old);
    next.status = { phase: 'Terminating' };
    assert.deepEqual(tuples(validateStatusUpdate('Namespace', next, old)), [
      ['FieldValueInvalid', 'status.Phase', "Invalid value: \"Terminating\": may only be 'Active' if `deletionTimestamp` is empty"],
    ]);
  });

  test('endpoint slice address types are immutable', () => {
    const old = stored('EndpointSlice', { addressType: 'IPv4' });
    const next = structuredClone(old);
    next.addressType = 'IPv6';
    assert.deepEqual(tuples(validateUpdate('EndpointSlice', next, old)), [['FieldValueInvalid', 'addressType', 'Invalid value: "IPv6": field is immutable']]);
  });
});

describe('the 422 message', () => {
  const portErr: FieldError = { reason: 'FieldValueInvalid', field: 'spec.ports[0].port', message: 'Invalid value: 0: must be between 1 and 65535, inclusive' };
  const nameErr: FieldError = { reason: 'FieldValueRequired', field: 'spec.ports[0].name', message: 'Required value' };

  test('one error, several errors, duplicates, none', () => {
    assert.equal(invalidMessage('Service', 'x', [portErr]), 'Service "x" is invalid: spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive');
    assert.equal(invalidMessage('Service', 'x', [nameErr, portErr, nameErr]),
      'Service "x" is invalid: [spec.ports[0].name: Required value, spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive]');
    assert.equal(invalidMessage('Service', 'x', []), 'Service "x" is invalid');
  });

  test('kinds outside the core group are qualified by their group', () => {
    const err: FieldError = { reason: 'FieldValueRequired', field: 'spec.template.spec.containers[0].image', message: 'Required value' };
    assert.equal(invalidMessage('Deployment', 'nginx', [err]), 'Deployment.apps "nginx" is invalid: spec.template.spec.containers[0].image: Required value');
    assert.equal(invalidMessage('EndpointSlice', 's', [err]).split(' ')[0], 'EndpointSlice.discovery.k8s.io');
    assert.equal(invalidMessage('Lease', 'l', [err]).split(' ')[0], 'Lease.coordination.k8s.io');
    assert.equal(invalidMessage('Scale', 'web', [err]).split(' ')[0], 'Scale.autoscaling');
  });

  test('values are quoted as Go quotes them', () => {
    const errs = validateCreate('Pod', prepare('Pod', { metadata: { name: 'a"b\tc' }, spec: podSpec }));
    assert.equal(errs[0]!.message, `Invalid value: "a\\"b\\tc": ${SUBDOMAIN_MSG}`);
  });
});

describe('building blocks', () => {
  test('name checks', () => {
    assert.deepEqual(isDNS1123Label('web-1'), []);
    assert.deepEqual(isDNS1123Label('a'.repeat(64)), ['must be no more than 63 characters']);
    assert.deepEqual(isDNS1123Label('Web'), [LABEL_MSG]);
    assert.deepEqual(isDNS1123Subdomain('registry.example.com'), []);
    assert.deepEqual(isDNS1123Subdomain('-x'), [SUBDOMAIN_MSG]);
    assert.deepEqual(isDNS1035Label('9lives'), [DNS1035_MSG]);
    assert.deepEqual(validateLabels({ 'app.kubernetes.io/name': 'web', tier: '' }, 'metadata.labels'), []);
  });

  test('IP addresses as Go parses them', () => {
    for (const ip of ['10.0.0.250', '127.0.0.1', '010.000.000.001', '::1', 'fd00::1', '::ffff:10.0.0.1', '1:2:3:4:5:6:7::8']) assert.ok(isValidIP(ip), ip);
    for (const ip of ['10.0.0', '10.0.0.256', 'fe80::1%eth0', ':::1', '1::2::3', 'registry', '']) assert.ok(!isValidIP(ip), ip);
  });

  test('quantities in canonical form', () => {
    const cases: [string, string][] = [
      ['0.5', '500m'], ['1024Mi', '1Gi'], ['1.5Gi', '1536Mi'], ['100m', '100m'], ['1e3', '1e3'], ['12e2', '1200'],
      ['2000m', '2'], ['1000000m', '1k'], ['0.1Ki', '102400m'], ['-1Ki', '-1Ki'], ['129e6', '129e6'], ['0', '0'],
    ];
    for (const [input, canonical] of cases) {
      const q = parseQuantity(input);
      assert.ok(!('error' in q), input);
      assert.equal(formatQuantity(q), canonical, input);
    }
    assert.deepEqual(parseQuantity('1Kb'), { error: QUANTITY_MSG });
    assert.deepEqual(parseQuantity('1Mm'), { error: "unable to parse quantity's suffix" });
  });
});

test('quantities with huge exponents are decided without huge arithmetic', () => {
  const big = parseQuantity('1e999999999');
  const tiny = parseQuantity('1e-999999999');
  assert.ok(!('error' in big) && !('error' in tiny));
  assert.equal(formatQuantity(big as Parameters<typeof formatQuantity>[0]), '9223372036854775807');
  assert.equal(formatQuantity(tiny as Parameters<typeof formatQuantity>[0]), '1e-9');
  assert.deepEqual(parseQuantity('1e99999999999999999999'), { error: "unable to parse quantity's suffix" });
});
