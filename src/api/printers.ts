// Server-side printing: the columns and cells of the `meta.k8s.io/v1` Table that `kubectl get`
// renders, following upstream's table printers (pkg/printers/internalversion/printers.go, v1.32)
// rule for rule, and the AGE strings of k8s.io/apimachinery/pkg/util/duration.HumanDuration.
// kubectl prints the cells verbatim, so every string here is what the user reads.
//
// The apiserver always renders the wide variant (upstream's TableConvertor passes Wide: true):
// every cell of every column is in each row, and kubectl drops the priority-1 columns itself
// unless it was asked for `-o wide`.
//
// Row functions run once per object of a list (10,000 pods in one `kubectl get pods -A`), so they
// read fields directly, build each cell once and compile no regular expressions.
import type { Lease } from 'kubernetes-types/coordination/v1.js';
import type { Deployment, ReplicaSet } from 'kubernetes-types/apps/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import type { RuntimeClass } from 'kubernetes-types/node/v1.js';
import type {
  Container, Endpoints, Event, LoadBalancerStatus, Namespace, Node, Pod, Service,
} from 'kubernetes-types/core/v1.js';
import type { KObject } from './types.js';
import { labelKeyProblem, labelValueProblem, type LabelSelectorSpec } from './selectors.js';

export interface TableColumnDefinition {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

/** A cell as upstream serialises it: strings, and JSON numbers where the Go printer appends an int64. */
export type TableCell = string | number;

export interface TableRowCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

export interface Printer {
  readonly columns: readonly TableColumnDefinition[];
  /** The cells of one object's row, one per column; `now` is the time AGE is measured against (ms). */
  cells(obj: KObject, now: number): TableCell[];
  /** Row conditions (upstream marks finished pods `Completed`). */
  conditions?(obj: KObject): readonly TableRowCondition[] | undefined;
}

// --- AGE -----------------------------------------------------------------------------------

/**
 * duration.HumanDuration: about two significant figures, as `kubectl get` shows ages. Works on
 * whole seconds truncated toward zero; up to a second in the future still counts as now.
 */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  const days = Math.floor(hours / 24);
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${days}d` : `${days}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${days}d`;
  const years = Math.floor(days / 365);
  if (hours < 24 * 365 * 8) {
    const d = days % 365;
    return d === 0 ? `${years}y` : `${years}y${d}d`;
  }
  return `${years}y`;
}

/** Go's zero time.Time (0001-01-01T00:00:00Z), which metav1.Time treats as unset. */
const ZERO_TIME = -62135596800000;

/** A metav1.Time / MicroTime as ms since the epoch; unset, null or unparsable is the zero time. */
function timeOf(t: string | null | undefined): number {
  if (!t) return ZERO_TIME;
  const ms = Date.parse(t);
  return Number.isNaN(ms) ? ZERO_TIME : ms;
}

/** translateTimestampSince: the age of a timestamp, `<unknown>` when it is unset. */
export function timestampSince(t: string | null | undefined, now: number): string {
  const ms = timeOf(t);
  return ms === ZERO_TIME ? '<unknown>' : humanDuration(now - ms);
}

// --- shared cell formats --------------------------------------------------------------------

/** labels.FormatLabels: `k=v` sorted by key, joined by `,`; `<none>` when empty. */
export function formatLabels(labels: Record<string, string> | null | undefined): string {
  if (!labels) return '<none>';
  const keys = Object.keys(labels);
  if (keys.length === 0) return '<none>';
  keys.sort();
  let out = '';
  for (let i = 0; i < keys.length; i++) out += (i ? ',' : '') + keys[i] + '=' + labels[keys[i]];
  return out;
}

const SELECTOR_OPS = new Map([['In', 'in'], ['NotIn', 'notin'], ['Exists', 'exists'], ['DoesNotExist', '!']]);

/**
 * metav1.LabelSelectorAsSelector(...).String(): requirements sorted by key, set values sorted; a
 * null or empty selector prints as ''. undefined when upstream's NewRequirement rejects it.
 */
export function labelSelectorString(spec: LabelSelectorSpec | null | undefined): string | undefined {
  if (!spec) return '';
  const reqs: { key: string; text: string }[] = [];
  const matchLabels = spec.matchLabels ?? {};
  for (const key of Object.keys(matchLabels)) {
    const v = matchLabels[key];
    if (labelKeyProblem(key) || labelValueProblem(v)) return undefined;
    reqs.push({ key, text: `${key}=${v}` });
  }
  for (const e of spec.matchExpressions ?? []) {
    const op = SELECTOR_OPS.get(e.operator);
    const values = e.values ?? [];
    if (!op || labelKeyProblem(e.key)) return undefined;
    if ((op === 'in' || op === 'notin') === (values.length === 0)) return undefined;
    for (const v of values) if (labelValueProblem(v)) return undefined;
    const text = op === 'exists' ? e.key : op === '!' ? `!${e.key}` : `${e.key} ${op} (${[...values].sort().join(',')})`;
    reqs.push({ key: e.key, text });
  }
  reqs.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  let out = '';
  for (let i = 0; i < reqs.length; i++) out += (i ? ',' : '') + reqs[i].text;
  return out;
}

/** metav1.FormatLabelSelector: `<none>` when empty, `<error>` when invalid. */
function formatLabelSelector(spec: LabelSelectorSpec | null | undefined): string {
  const s = labelSelectorString(spec);
  return s === undefined ? '<error>' : s === '' ? '<none>' : s;
}

/** layoutContainerCells: container names and images, each comma-joined. */
function containerCells(containers: readonly Container[] | undefined): [string, string] {
  let names = '', images = '';
  if (containers) {
    for (let i = 0; i < containers.length; i++) {
      if (i) { names += ','; images += ','; }
      names += containers[i].name ?? '';
      images += containers[i].image ?? '';
    }
  }
  return [names, images];
}

/** listWithMoreString: at most three entries, then ` + N more...`; `<unset>` when empty. */
function listWithMore(list: string, shown: number, total: number): string {
  if (total > shown) return `${list} + ${total - shown} more...`;
  return list === '' ? '<unset>' : list;
}

/** net.JoinHostPort: IPv6 hosts in brackets. */
function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

const MAX_LISTED = 3;

// --- column definitions ---------------------------------------------------------------------
// Descriptions are what upstream serves: the API field documentation (SwaggerDoc) it names.

const DOC = {
  name: 'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names',
  creationTimestamp: 'CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata',
  containers: 'Names of each container in the template.',
  images: 'Images referenced by each container in the template.',
};

function column(name: string, type: string, description: string, priority = 0, format = ''): TableColumnDefinition {
  return { name, type, format, description, priority };
}

const NAME = column('Name', 'string', DOC.name, 0, 'name');
const AGE = column('Age', 'string', DOC.creationTimestamp);

const POD_COLUMNS = [
  NAME,
  column('Ready', 'string', 'The aggregate readiness state of this pod for accepting traffic.'),
  column('Status', 'string', 'The aggregate status of the containers in this pod.'),
  column('Restarts', 'string', 'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.'),
  AGE,
  column('IP', 'string', 'podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.', 1),
  column('Node', 'string', 'NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for scheduling by the scheduler defined in schedulerName. Once this field is set, the kubelet for this node becomes responsible for the lifecycle of this pod. This field should not be used to express a desire for the pod to be scheduled on a specific node. https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename', 1),
  column('Nominated Node', 'string', 'nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods. This field does not guarantee that the pod will be scheduled on this node. Scheduler may decide to place the pod elsewhere if other nodes become available sooner. Scheduler may also decide to give the resources on this node to a higher priority pod that is created after preemption. As a result, this field may be different than PodSpec.nodeName when the pod is scheduled.', 1),
  column('Readiness Gates', 'string', 'If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its containers are ready AND all conditions specified in the readiness gates have status equal to "True" More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates', 1),
];

const SERVICE_COLUMNS = [
  NAME,
  column('Type', 'string', 'type determines how the Service is exposed. Defaults to ClusterIP. Valid options are ExternalName, ClusterIP, NodePort, and LoadBalancer. "ClusterIP" allocates a cluster-internal IP address for load-balancing to endpoints. Endpoints are determined by the selector or if that is not specified, by manual construction of an Endpoints object or EndpointSlice objects. If clusterIP is "None", no virtual IP is allocated and the endpoints are published as a set of endpoints rather than a virtual IP. "NodePort" builds on ClusterIP and allocates a port on every node which routes to the same endpoints as the clusterIP. "LoadBalancer" builds on NodePort and creates an external load-balancer (if supported in the current cloud) which routes to the same endpoints as the clusterIP. "ExternalName" aliases this service to the specified externalName. Several other fields do not apply to ExternalName services. More info: https://kubernetes.io/docs/concepts/services-networking/service/#publishing-services-service-types'),
  column('Cluster-IP', 'string', 'clusterIP is the IP address of the service and is usually assigned randomly. If an address is specified manually, is in-range (as per system configuration), and is not in use, it will be allocated to the service; otherwise creation of the service will fail. This field may not be changed through updates unless the type field is also being changed to ExternalName (which requires this field to be blank) or the type field is being changed from ExternalName (in which case this field may optionally be specified, as describe above).  Valid values are "None", empty string (""), or a valid IP address. Setting this to "None" makes a "headless service" (no virtual IP), which is useful when direct endpoint connections are preferred and proxying is not required.  Only applies to types ClusterIP, NodePort, and LoadBalancer. If this field is specified when creating a Service of type ExternalName, creation will fail. This field will be wiped when updating a Service to type ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies'),
  column('External-IP', 'string', 'externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.  These IPs are not managed by Kubernetes.  The user is responsible for ensuring that traffic arrives at a node with this IP.  A common example is external load-balancers that are not part of the Kubernetes system.'),
  column('Port(s)', 'string', 'The list of ports that are exposed by this service. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies'),
  AGE,
  column('Selector', 'string', 'Route service traffic to pods with label keys and values matching this selector. If empty or not present, the service is assumed to have an external process managing its endpoints, which Kubernetes will not modify. Only applies to types ClusterIP, NodePort, and LoadBalancer. Ignored if type is ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/service/', 1),
];

const ENDPOINTS_COLUMNS = [
  NAME,
  column('Endpoints', 'string', 'The set of all endpoints is the union of all subsets. Addresses are placed into subsets according to the IPs they share. A single address with multiple ports, some of which are ready and some of which are not (because they come from different containers) will result in the address being displayed in different subsets for the different ports. No address will appear in both Addresses and NotReadyAddresses in the same subset. Sets of addresses and ports that comprise a service.'),
  AGE,
];

const NODE_ADDRESSES_DOC = "List of addresses reachable to the node. Queried from cloud provider, if available. More info: https://kubernetes.io/docs/concepts/nodes/node/#addresses Note: This field is declared as mergeable, but the merge key is not sufficiently unique, which can cause data corruption when it is merged. Callers should instead use a full-replacement patch. See https://pr.k8s.io/79391 for an example. Consumers should assume that addresses can change during the lifetime of a Node. However, there are some exceptions where this may not be possible, such as Pods that inherit a Node's address in its own status or consumers of the downward API (status.hostIP).";

const NODE_COLUMNS = [
  NAME,
  column('Status', 'string', 'The status of the node'),
  column('Roles', 'string', 'The roles of the node'),
  AGE,
  column('Version', 'string', 'Kubelet Version reported by the node.'),
  column('Internal-IP', 'string', NODE_ADDRESSES_DOC, 1),
  column('External-IP', 'string', NODE_ADDRESSES_DOC, 1),
  column('OS-Image', 'string', 'OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).', 1),
  column('Kernel-Version', 'string', "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).", 1),
  column('Container-Runtime', 'string', 'ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).', 1),
];

const EVENT_COLUMNS = [
  column('Last Seen', 'string', 'The time at which the most recent occurrence of this event was recorded.'),
  column('Type', 'string', 'Type of this event (Normal, Warning), new types could be added in the future'),
  column('Reason', 'string', "This should be a short, machine understandable string that gives the reason for the transition into the object's current status."),
  column('Object', 'string', 'The object that this event is about.'),
  column('Subobject', 'string', 'If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]. For example, if the object reference is to a container within a pod, this would take on a value like: "spec.containers{name}" (where "name" refers to the name of the container that triggered the event) or if no container name is specified "spec.containers[2]" (container with index 2 in this pod). This syntax is chosen only to have some well-defined way of referencing a part of an object.', 1),
  column('Source', 'string', 'The component reporting this event. Should be a short machine understandable string.', 1),
  column('Message', 'string', 'A human-readable description of the status of this operation.'),
  column('First Seen', 'string', 'The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)', 1),
  column('Count', 'string', 'The number of times this event has occurred.', 1),
  column('Name', 'string', DOC.name, 1, 'name'),
];

const NAMESPACE_COLUMNS = [NAME, column('Status', 'string', 'The status of the namespace'), AGE];

const DEPLOYMENT_COLUMNS = [
  NAME,
  column('Ready', 'string', 'Number of the pod with ready state'),
  column('Up-to-date', 'string', 'Total number of non-terminated pods targeted by this deployment that have the desired template spec.'),
  column('Available', 'string', 'Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.'),
  AGE,
  column('Containers', 'string', DOC.containers, 1),
  column('Images', 'string', DOC.images, 1),
  column('Selector', 'string', 'Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.', 1),
];

const REPLICASET_COLUMNS = [
  NAME,
  column('Desired', 'integer', 'Replicas is the number of desired replicas. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller/#what-is-a-replicationcontroller'),
  column('Current', 'integer', 'Replicas is the most recently oberved number of replicas. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller/#what-is-a-replicationcontroller'),
  column('Ready', 'integer', 'The number of ready replicas for this replica set.'),
  AGE,
  column('Containers', 'string', DOC.containers, 1),
  column('Images', 'string', DOC.images, 1),
  column('Selector', 'string', 'Selector is a label query over pods that should match the replica count. If the selector is empty, it is defaulted to the labels present on the pod template. Label keys and values that must match in order to be controlled by this replica set. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors', 1),
];

const ENDPOINTSLICE_COLUMNS = [
  NAME,
  column('AddressType', 'string', 'addressType specifies the type of address carried by this EndpointSlice. All addresses in this slice must be the same type. This field is immutable after creation. The following address types are currently supported: * IPv4: Represents an IPv4 Address. * IPv6: Represents an IPv6 Address. * FQDN: Represents a Fully Qualified Domain Name.'),
  column('Ports', 'string', 'ports specifies the list of network ports exposed by each endpoint in this slice. Each port must have a unique name. When ports is empty, it indicates that there are no defined ports. When a port is defined with a nil port value, it indicates "all ports". Each slice may include a maximum of 100 ports.'),
  column('Endpoints', 'string', 'endpoints is a list of unique endpoints in this slice. Each slice may include a maximum of 1000 endpoints.'),
  AGE,
];

const LEASE_COLUMNS = [
  NAME,
  column('Holder', 'string', 'holderIdentity contains the identity of the holder of a current lease. If Coordinated Leader Election is used, the holder identity must be equal to the elected LeaseCandidate.metadata.name field.'),
  AGE,
];

const RUNTIMECLASS_COLUMNS = [NAME, column('Handler', 'string', 'RuntimeClass Handler'), AGE];

/** Upstream's default table convertor, for kinds that have no printer: NAME and CREATED AT. */
const DEFAULT_COLUMNS = [NAME, column('Created At', 'date', DOC.creationTimestamp)];

// --- pods -----------------------------------------------------------------------------------

const POD_SUCCEEDED: readonly TableRowCondition[] = [{ type: 'Completed', status: 'True', reason: 'Succeeded', message: 'The pod has completed successfully.' }];
const POD_FAILED: readonly TableRowCondition[] = [{ type: 'Completed', status: 'True', reason: 'Failed', message: 'The pod failed.' }];

/** The node lifecycle controller's reason for pods on an unreachable node (NodeUnreachablePodReason). */
const NODE_LOST = 'NodeLost';

function podCells(obj: KObject, now: number): TableCell[] {
  const pod = obj as unknown as Pod;
  const spec = pod.spec;
  const status = pod.status;
  const phase = status?.phase ?? '';
  const conditions = status?.conditions;
  let reason = status?.reason || phase;
  if (conditions) {
    for (const c of conditions) if (c.type === 'PodScheduled' && c.reason === 'SchedulingGated') reason = 'SchedulingGated';
  }

  let restarts = 0;
  let sidecarRestarts = 0;
  let readyContainers = 0;
  let totalContainers = spec?.containers?.length ?? 0;
  let lastRestart = ZERO_TIME;
  let lastSidecarRestart = ZERO_TIME;

  // Init containers with restartPolicy Always are sidecars: they count as containers of the pod.
  const initSpecs = spec?.initContainers;
  let sidecars: Set<string> | undefined;
  if (initSpecs) {
    for (const c of initSpecs) {
      if (c.restartPolicy === 'Always') (sidecars ??= new Set()).add(c.name);
    }
    if (sidecars) totalContainers += sidecars.size;
  }

  let initializing = false;
  const initStatuses = status?.initContainerStatuses;
  if (initStatuses) {
    for (let i = 0; i < initStatuses.length; i++) {
      const c = initStatuses[i];
      const isSidecar = sidecars !== undefined && sidecars.has(c.name);
      restarts += c.restartCount ?? 0;
      const lastTerminated = c.lastState?.terminated;
      if (lastTerminated) {
        const finished = timeOf(lastTerminated.finishedAt);
        if (lastRestart < finished) lastRestart = finished;
      }
      if (isSidecar) {
        sidecarRestarts += c.restartCount ?? 0;
        if (lastTerminated) {
          const finished = timeOf(lastTerminated.finishedAt);
          if (lastSidecarRestart < finished) lastSidecarRestart = finished;
        }
      }
      const terminated = c.state?.terminated;
      const waiting = c.state?.waiting;
      if (terminated && (terminated.exitCode ?? 0) === 0) continue;
      if (isSidecar && c.started) {
        if (c.ready) readyContainers++;
        continue;
      }
      // The first init container that has not finished decides the status.
      if (terminated) {
        if (terminated.reason) reason = `Init:${terminated.reason}`;
        else if (terminated.signal) reason = `Init:Signal:${terminated.signal}`;
        else reason = `Init:ExitCode:${terminated.exitCode ?? 0}`;
      } else if (waiting?.reason && waiting.reason !== 'PodInitializing') {
        reason = `Init:${waiting.reason}`;
      } else {
        reason = `Init:${i}/${initSpecs?.length ?? 0}`;
      }
      initializing = true;
      break;
    }
  }

  if (!initializing || podInitialized(pod)) {
    restarts = sidecarRestarts;
    lastRestart = lastSidecarRestart;
    let hasRunning = false;
    const statuses = status?.containerStatuses;
    if (statuses) {
      // From the last container to the first: the first container with a reason has the last word.
      for (let i = statuses.length - 1; i >= 0; i--) {
        const c = statuses[i];
        restarts += c.restartCount ?? 0;
        const lastTerminated = c.lastState?.terminated;
        if (lastTerminated) {
          const finished = timeOf(lastTerminated.finishedAt);
          if (lastRestart < finished) lastRestart = finished;
        }
        const waiting = c.state?.waiting;
        const terminated = c.state?.terminated;
        if (waiting?.reason) {
          reason = waiting.reason;
        } else if (terminated?.reason) {
          reason = terminated.reason;
        } else if (terminated) {
          reason = terminated.signal ? `Signal:${terminated.signal}` : `ExitCode:${terminated.exitCode ?? 0}`;
        } else if (c.ready && c.state?.running) {
          hasRunning = true;
          readyContainers++;
        }
      }
    }
    // A pod whose main container completed while a sidecar still runs is not done yet.
    if (reason === 'Completed' && hasRunning) reason = podReady(pod) ? 'Running' : 'NotReady';
  }

  if (pod.metadata?.deletionTimestamp) {
    if (status?.reason === NODE_LOST) reason = 'Unknown';
    else if (phase !== 'Succeeded' && phase !== 'Failed') reason = 'Terminating';
  }

  const restartsCell = restarts !== 0 && lastRestart !== ZERO_TIME
    ? `${restarts} (${humanDuration(now - lastRestart)} ago)`
    : String(restarts);

  // The internal PodStatus takes podIP over podIPs[0] when both are set (v1 conversion).
  const ip = status?.podIP || status?.podIPs?.[0]?.ip || '<none>';
  let readinessGates = '<none>';
  const gates = spec?.readinessGates;
  if (gates && gates.length > 0) {
    let trueConditions = 0;
    for (const gate of gates) {
      if (!conditions) break;
      for (const c of conditions) {
        if (c.type === gate.conditionType) {
          if (c.status === 'True') trueConditions++;
          break;
        }
      }
    }
    readinessGates = `${trueConditions}/${gates.length}`;
  }

  return [
    pod.metadata?.name ?? '',
    `${readyContainers}/${totalContainers}`,
    reason,
    restartsCell,
    timestampSince(pod.metadata?.creationTimestamp, now),
    ip,
    spec?.nodeName || '<none>',
    status?.nominatedNodeName || '<none>',
    readinessGates,
  ];
}

function podInitialized(pod: Pod): boolean {
  for (const c of pod.status?.conditions ?? []) if (c.type === 'Initialized') return c.status === 'True';
  return false;
}

function podReady(pod: Pod): boolean {
  for (const c of pod.status?.conditions ?? []) if (c.type === 'Ready' && c.status === 'True') return true;
  return false;
}

function podConditions(obj: KObject): readonly TableRowCondition[] | undefined {
  const phase = (obj as unknown as Pod).status?.phase;
  return phase === 'Succeeded' ? POD_SUCCEEDED : phase === 'Failed' ? POD_FAILED : undefined;
}

// --- services, endpoints, endpoint slices ----------------------------------------------------

/** Width of a LoadBalancer's ingress list outside wide output. */
const LOAD_BALANCER_WIDTH = 16;

/**
 * loadBalancerStatusStringer: sorted unique ingress IPs (hostnames where there is no IP), cut to
 * 16 characters unless wide. Served tables are always wide, so kubectl shows the whole list.
 */
export function loadBalancerIngress(lb: LoadBalancerStatus | undefined, wide: boolean): string {
  const seen = new Set<string>();
  for (const ing of lb?.ingress ?? []) {
    if (ing.ip) seen.add(ing.ip);
    else if (ing.hostname) seen.add(ing.hostname);
  }
  const r = [...seen].sort().join(',');
  return !wide && r.length > LOAD_BALANCER_WIDTH ? `${r.slice(0, LOAD_BALANCER_WIDTH - 3)}...` : r;
}

/** getServiceExternalIP. */
export function serviceExternalIP(svc: Service, wide: boolean): string {
  const spec = svc.spec;
  const externalIPs = spec?.externalIPs ?? [];
  switch (spec?.type) {
    case 'ClusterIP':
    case 'NodePort':
      return externalIPs.length > 0 ? externalIPs.join(',') : '<none>';
    case 'LoadBalancer': {
      const lbIPs = loadBalancerIngress(svc.status?.loadBalancer, wide);
      if (externalIPs.length > 0) return lbIPs ? `${lbIPs},${externalIPs.join(',')}` : externalIPs.join(',');
      return lbIPs || '<pending>';
    }
    case 'ExternalName':
      return spec.externalName ?? '';
  }
  return '<unknown>';
}

function servicePorts(svc: Service): string {
  const ports = svc.spec?.ports;
  if (!ports || ports.length === 0) return '<none>';
  let out = '';
  for (let i = 0; i < ports.length; i++) {
    const p = ports[i];
    if (i) out += ',';
    out += p.nodePort && p.nodePort > 0
      ? `${p.port ?? 0}:${p.nodePort}/${p.protocol ?? ''}`
      : `${p.port ?? 0}/${p.protocol ?? ''}`;
  }
  return out;
}

function serviceCells(obj: KObject, now: number): TableCell[] {
  const svc = obj as unknown as Service;
  const spec = svc.spec;
  return [
    svc.metadata?.name ?? '',
    spec?.type ?? '',
    spec?.clusterIPs?.[0] || spec?.clusterIP || '<none>',
    // The apiserver renders wide (upstream's TableConvertor), so the ingress list is never cut.
    serviceExternalIP(svc, true),
    servicePorts(svc),
    timestampSince(svc.metadata?.creationTimestamp, now),
    formatLabels(spec?.selector),
  ];
}

/**
 * formatEndpoints: ready `ip:port` pairs in stored order (ports outer, addresses inner), bare IPs
 * for subsets without ports; at most three, then ` + N more...`. Not-ready addresses never show,
 * so subsets with only those print as an empty cell.
 */
export function formatEndpoints(ep: Endpoints): string {
  const subsets = ep.subsets;
  if (!subsets || subsets.length === 0) return '<none>';
  let list = '';
  let listed = 0;
  let count = 0;
  let more = false;
  const add = (s: string): boolean => {
    if (listed === MAX_LISTED) { more = true; return false; }
    list += listed++ ? ',' + s : s;
    return true;
  };
  for (const ss of subsets) {
    const addresses = ss.addresses ?? [];
    const ports = ss.ports ?? [];
    if (ports.length === 0) {
      // Headless services may have no ports.
      count += addresses.length;
      for (const a of addresses) if (!add(a.ip ?? '')) break;
      continue;
    }
    for (const port of ports) {
      count += addresses.length;
      for (const a of addresses) if (!add(joinHostPort(a.ip ?? '', port.port ?? 0))) break;
    }
  }
  return more ? `${list} + ${count - MAX_LISTED} more...` : list;
}

function endpointsCells(obj: KObject, now: number): TableCell[] {
  const ep = obj as unknown as Endpoints;
  return [ep.metadata?.name ?? '', formatEndpoints(ep), timestampSince(ep.metadata?.creationTimestamp, now)];
}

/** formatDiscoveryPorts: port numbers (the name when there is none, `*` for neither). */
function endpointSlicePorts(slice: EndpointSlice): string {
  let list = '';
  let listed = 0;
  let count = 0;
  for (const p of slice.ports ?? []) {
    if (listed < MAX_LISTED) {
      const port = p.port !== undefined && p.port !== null ? String(p.port) : p.name ?? '*';
      list += listed++ ? ',' + port : port;
    }
    count++;
  }
  return listWithMore(list, listed, count);
}

/** formatDiscoveryEndpoints: addresses of every endpoint, ready or not. */
function endpointSliceEndpoints(slice: EndpointSlice): string {
  let list = '';
  let listed = 0;
  let count = 0;
  for (const e of slice.endpoints ?? []) {
    for (const address of e.addresses ?? []) {
      if (listed < MAX_LISTED) list += listed++ ? ',' + address : address;
      count++;
    }
  }
  return listWithMore(list, listed, count);
}

function endpointSliceCells(obj: KObject, now: number): TableCell[] {
  const slice = obj as unknown as EndpointSlice;
  return [
    slice.metadata?.name ?? '',
    slice.addressType ?? '',
    endpointSlicePorts(slice),
    endpointSliceEndpoints(slice),
    timestampSince(slice.metadata?.creationTimestamp, now),
  ];
}

// --- nodes, namespaces, events, leases, runtime classes ----------------------------------------

const NODE_ROLE_PREFIX = 'node-role.kubernetes.io/';
const NODE_ROLE_LABEL = 'kubernetes.io/role';

/** findNodeRoles: `node-role.kubernetes.io/<role>` keys and the `kubernetes.io/role` value, sorted. */
export function nodeRoles(labels: Record<string, string> | undefined): string {
  if (!labels) return '<none>';
  const roles = new Set<string>();
  for (const k of Object.keys(labels)) {
    if (k.startsWith(NODE_ROLE_PREFIX)) {
      const role = k.slice(NODE_ROLE_PREFIX.length);
      if (role) roles.add(role);
    } else if (k === NODE_ROLE_LABEL && labels[k]) {
      roles.add(labels[k]);
    }
  }
  return roles.size === 0 ? '<none>' : [...roles].sort().join(',');
}

function nodeAddress(node: Node, type: string): string {
  for (const a of node.status?.addresses ?? []) if (a.type === type) return a.address;
  return '<none>';
}

function nodeCells(obj: KObject, now: number): TableCell[] {
  const node = obj as unknown as Node;
  // The last Ready condition counts, as in upstream's condition map.
  let ready: string | undefined;
  for (const c of node.status?.conditions ?? []) if (c.type === 'Ready') ready = c.status;
  let status = ready === undefined ? 'Unknown' : ready === 'True' ? 'Ready' : 'NotReady';
  if (node.spec?.unschedulable) status += ',SchedulingDisabled';
  const info = node.status?.nodeInfo;
  return [
    node.metadata?.name ?? '',
    status,
    nodeRoles(node.metadata?.labels),
    timestampSince(node.metadata?.creationTimestamp, now),
    info?.kubeletVersion ?? '',
    nodeAddress(node, 'InternalIP'),
    nodeAddress(node, 'ExternalIP'),
    info?.osImage || '<unknown>',
    info?.kernelVersion || '<unknown>',
    info?.containerRuntimeVersion || '<unknown>',
  ];
}

function namespaceCells(obj: KObject, now: number): TableCell[] {
  const ns = obj as unknown as Namespace;
  return [ns.metadata?.name ?? '', ns.status?.phase ?? '', timestampSince(ns.metadata?.creationTimestamp, now)];
}

function eventCells(obj: KObject, now: number): TableCell[] {
  const ev = obj as unknown as Event;
  const firstSeen = timeOf(ev.firstTimestamp) === ZERO_TIME
    ? timestampSince(ev.eventTime, now)
    : timestampSince(ev.firstTimestamp, now);
  let lastSeen = timeOf(ev.lastTimestamp) === ZERO_TIME ? firstSeen : timestampSince(ev.lastTimestamp, now);
  let count = ev.count ?? 0;
  if (ev.series) {
    lastSeen = timestampSince(ev.series.lastObservedTime, now);
    count = ev.series.count ?? 0;
  } else if (count === 0) {
    // Singleton events of the events.k8s.io API carry no count.
    count = 1;
  }
  const involved = ev.involvedObject;
  const kind = (involved?.kind ?? '').toLowerCase();
  const target = involved?.name ? `${kind}/${involved.name}` : kind;
  const component = ev.source?.component || ev.reportingComponent || '';
  const host = ev.source?.host || ev.reportingInstance || '';
  return [
    lastSeen,
    ev.type ?? '',
    ev.reason ?? '',
    target,
    involved?.fieldPath ?? '',
    host ? `${component}, ${host}` : component,
    (ev.message ?? '').trim(),
    firstSeen,
    count,
    ev.metadata?.name ?? '',
  ];
}

function leaseCells(obj: KObject, now: number): TableCell[] {
  const lease = obj as unknown as Lease;
  return [lease.metadata?.name ?? '', lease.spec?.holderIdentity ?? '', timestampSince(lease.metadata?.creationTimestamp, now)];
}

function runtimeClassCells(obj: KObject, now: number): TableCell[] {
  const rc = obj as unknown as RuntimeClass;
  return [rc.metadata?.name ?? '', rc.handler ?? '', timestampSince(rc.metadata?.creationTimestamp, now)];
}

// --- workloads ------------------------------------------------------------------------------

function deploymentCells(obj: KObject, now: number): TableCell[] {
  const d = obj as unknown as Deployment;
  const status = d.status;
  const [names, images] = containerCells(d.spec?.template?.spec?.containers);
  const selector = labelSelectorString(d.spec?.selector);
  return [
    d.metadata?.name ?? '',
    `${status?.readyReplicas ?? 0}/${d.spec?.replicas ?? 0}`,
    status?.updatedReplicas ?? 0,
    status?.availableReplicas ?? 0,
    timestampSince(d.metadata?.creationTimestamp, now),
    names,
    images,
    selector === undefined ? '<invalid>' : selector,
  ];
}

function replicaSetCells(obj: KObject, now: number): TableCell[] {
  const rs = obj as unknown as ReplicaSet;
  const [names, images] = containerCells(rs.spec?.template?.spec?.containers);
  return [
    rs.metadata?.name ?? '',
    rs.spec?.replicas ?? 0,
    rs.status?.replicas ?? 0,
    rs.status?.readyReplicas ?? 0,
    timestampSince(rs.metadata?.creationTimestamp, now),
    names,
    images,
    formatLabelSelector(rs.spec?.selector),
  ];
}

/** The creation time as upstream's default convertor writes it: RFC 3339 in UTC, whole seconds. */
function createdAt(t: string | null | undefined): string {
  return `${new Date(timeOf(t)).toISOString().slice(0, 19)}Z`;
}

// --- the table of printers ------------------------------------------------------------------

/** Printers by kind. */
export const PRINTERS: Readonly<Record<string, Printer>> = {
  Pod: { columns: POD_COLUMNS, cells: podCells, conditions: podConditions },
  Service: { columns: SERVICE_COLUMNS, cells: serviceCells },
  Endpoints: { columns: ENDPOINTS_COLUMNS, cells: endpointsCells },
  EndpointSlice: { columns: ENDPOINTSLICE_COLUMNS, cells: endpointSliceCells },
  Node: { columns: NODE_COLUMNS, cells: nodeCells },
  Namespace: { columns: NAMESPACE_COLUMNS, cells: namespaceCells },
  Event: { columns: EVENT_COLUMNS, cells: eventCells },
  Lease: { columns: LEASE_COLUMNS, cells: leaseCells },
  RuntimeClass: { columns: RUNTIMECLASS_COLUMNS, cells: runtimeClassCells },
  Deployment: { columns: DEPLOYMENT_COLUMNS, cells: deploymentCells },
  ReplicaSet: { columns: REPLICASET_COLUMNS, cells: replicaSetCells },
};

const DEFAULT_PRINTER: Printer = {
  columns: DEFAULT_COLUMNS,
  cells: (obj) => [obj.metadata?.name ?? '', createdAt(obj.metadata?.creationTimestamp)],
};

/** The printer of a kind; kinds without one get upstream's default NAME / CREATED AT table. */
export function printerFor(kind: string): Printer {
  return PRINTERS[kind] ?? DEFAULT_PRINTER;
}
