// Upstream Go struct tags and markers of the API types kubelite serves, which the client-node
// model classes (our schema source, see scripts/gen-openapi.mjs) do not carry:
//  * patch strategy / merge key (`patchStrategy:"merge"`, `patchMergeKey:"name"`): the strategic
//    merge patch behaviour of each list or map field;
//  * `+listType`, `+listMapKey`, `+mapType`, `+structType`: server-side apply's list and map semantics;
//  * zero-value and `+default=` defaults that upstream's OpenAPI publishes where the generator's
//    rules cannot infer them (non-pointer struct fields, non-omitempty scalars, explicit defaults).
// The generator overlays them as x-kubernetes-patch-strategy, x-kubernetes-patch-merge-key,
// x-kubernetes-list-type, x-kubernetes-list-map-keys, x-kubernetes-map-type, x-kubernetes-unions
// and `default`, exactly where upstream's /openapi/v3 has them.
//
// Source: k8s.io/api v0.34.9 {core,apps,discovery,coordination,node,autoscaling}/v1/types.go and
// k8s.io/apimachinery v0.34.9 pkg/apis/meta/v1/types.go, checked field by field against v0.32.9
// (every field that exists in both carries the same tags; v0.33/0.34 only added fields). It covers
// every definition reachable from the served kinds, Scale, Status, DeleteOptions and WatchEvent.

export interface FieldMarkers {
  patchStrategy?: 'merge' | 'retainKeys' | 'merge,retainKeys';
  patchMergeKey?: string;
  listType?: 'atomic' | 'set' | 'map';
  listMapKeys?: string[];
  mapType?: 'atomic' | 'granular';
}

/** Per definition, per JSON field name. */
export const FIELD_MARKERS: Record<string, Record<string, FieldMarkers>> = {
  'io.k8s.api.apps.v1.DeploymentSpec': {
    strategy: { patchStrategy: 'retainKeys' },
  },
  'io.k8s.api.apps.v1.DeploymentStatus': {
    conditions: { patchStrategy: 'merge', patchMergeKey: 'type', listType: 'map', listMapKeys: ['type'] },
  },
  'io.k8s.api.apps.v1.ReplicaSetStatus': {
    conditions: { patchStrategy: 'merge', patchMergeKey: 'type', listType: 'map', listMapKeys: ['type'] },
  },
  'io.k8s.api.core.v1.Capabilities': {
    add: { listType: 'atomic' },
    drop: { listType: 'atomic' },
  },
  'io.k8s.api.core.v1.CephFSVolumeSource': {
    monitors: { listType: 'atomic' },
  },
  'io.k8s.api.core.v1.ConfigMapProjection': {
    items: { listType: 'atomic' },
  },
  'io.k8s.api.core.v1.ConfigMapVolumeSource': {
    items: { listType: 'atomic' },
  },
  'io.k8s.api.core.v1.Container': {
    args: { listType: 'atomic' },
    command: { listType: 'atomic' },
    env: { patchStrategy: 'merge', patchMergeKey: 'name', listType: 'map', listMapKeys: ['name'] },
    envFrom: { listType: 'atomic' },
    ports: { patchStrategy: 'merge', patchMergeKey: 'containerPort', listType: 'map', listMapKeys: ['containerPort', 'protocol'] },
    resizePolicy: { listType: 'atomic' },
    restartPolicyRules: { listType: 'atomic' },
    volumeDevices: { patchStrategy: 'merge', patchMergeKey: 'devicePath', listType: 'map', listMapKeys: ['devicePath'] },
    volumeMounts: { patchStrategy: 'merge', patchMergeKey: 'mountPath', listType: 'map', listMapKeys: ['mountPath'] },
  },
  'io.k8s.api.core.v1.ContainerImage': {
    names: { listType: 'atomic' },
  },
  'io.k8s.api.core.v1.ContainerRestartRuleOnExitCodes': {
    values: { listType: 'set' },
  },
  'io.k8s.api.core.v1.ContainerStatus': {
    allocatedResourcesStatus: { patchStrategy: 'merge', patchMergeKey: 'name', listType: 'map', listMapKeys: ['name'] },
    volumeMounts: { patchStrategy: 'merge', patchMergeKey: 'mountPath', listType: 'map', listMapKeys: ['mountPath'] },
  },
  'io.k8s.api.core.v1.DownwardAPIProjection': {
    items: { listType: 'atomic' },
  },
  'io.k8s.api.core.v1.DownwardAPIVolumeSource': {
    items: { listType: 'atomic' },
  },
  'io.k8s.api.core.v1.EndpointSubset': {
    addresses: { listType: 'atomic' },
    notReadyAddresses: { listType: 'atomic' },
    ports: { listType: 'atomic' },
  },
  'io.k8s.api.core.v1.Endpoints': {
    subsets: { listType: 'atomic' },
  },
  'io.k8s.api.core.v1.EphemeralContainer': {
    args: { listType: 'atomic' },
    command: { listType: 'atomic' },
    env: { patchStrategy: 'merge', patchMergeKey: 'name', listType: 'map', listMapKeys: ['name'] },
    envFrom: { listType: 'atomic' },
    ports: { patchStrategy: 'merge', patchMergeKey: 'containerPort', listType: 'map', listMapKeys: ['containerPort', 'protocol'] },
    resizePolicy: { listType: 'atomic' },
    restartPolicyRules: { listType: 'atomic' },
    volumeDevices: { patchStrategy: 'merge', patchMergeKey: 'devicePath', listType: 'map', listMapKeys: ['devicePath'] },
    volumeMounts: { patchStrategy: 'merge', patchMergeKey: 'mountPath', listType: 'map', listMapKeys: ['mountPath'] },
  },
  'io.k8s.api.core.v1.ExecAction': {
    command: { listType: 'atomic' },
  },
  'io.k8s.api.core.v1.FCVolumeSource': {
    targetWWNs: { listType: 'atomic' },
    wwids: { listType: 'atomic' },
  },
  'io.k8s.api.core.v1.HTTPGetAction': {
    httpHeaders: { listType: 'atomic' },
  },
  'io.k8s.api.core.v1.HostAlias': {
    hostnames: { listType: 'atomic' },
  },
  'io.k8s.api.core.v1.ISCSIVolumeSource': {
    portals: { listType: 'atomic' },
  },
  'io.k8s.api.core.v1.LinuxContainerUser': {
    supplementalGroups: { listType: 'atomic' },
  },
  'io.k8s.api.core.v1.LoadBalancerIngress': {
    ports: { listType: 'atomic' },
  },
  'io.k8s.api.core.v1.LoadBalancerStatus': {
    ingress: { listType: 'atomic' },
  },
  'io.k8s.api.core.v1.NamespaceSpec': {
    finalizers: { listType: 'atomic' },
  },
  'io.k8s.api.core.v1.NamespaceStatus': {
    conditions: { patchStrategy: 'merge', patchMergeKey: 'type', listType: 'map', listMapKeys: ['type'] },
  },
  'io.k8s.api.core.v1.NodeAffinity': {
    preferredDuringSchedulingIgnoredDuringExecution: { listType: 'atomic' },
  },
  'io.k8s.api.core.v1.NodeSelector': {
    nodeSelectorTerms: { listType: 'atomic' },
  },
  'io.k8s.api.core.v1.NodeSelectorRequirement': {
    values: { listType: 'atomic' },
  },
  'io.k8s.api.core.v1.NodeSelectorTerm': {
    matchExpressions: { listType: 'atomic' },
    matchFields: { listType: 'atomic' },
  },
  'io.k8s.api.core.v1.NodeSpec': {
    podCIDRs: { patchStrategy: 'merge', listType: 'set' },
    taints: { listType: 'atomic' },
  },
  'io.k8s.api.core.v1.NodeStatus': {
    addresses: { patchStrategy: 'merge', patchMergeKey: 'type', listType: 'map', listMapKeys: ['type'] },
    conditions: { patchStrategy: 'merge', patchMergeKey: 'type', listType: 'map', listMapKeys: ['type'] },
    images: { listType: 'atomic' },
    runtimeHandlers: { listType: 'atomic' },
    volumesAttached: { listType: 'atomic' },
    volumesInUse: { listType: 'atomic' },
  },
  'io.k8s.api.core.v1.PersistentVolumeClaimSpec': {
    accessModes: { listType: 'atomic' },
  },
  'io.k8s.api.core.v1.PodAffinity': {
    preferredDuringSchedulingIgnoredDuringExecution: { listType: 'atomic' },
    requiredDuringSchedulingIgnoredDuringExecution: { listType: 'atomic' },
  },
  'io.k8s.api.core.v1.PodAffinityTerm': {
    matchLabelKeys: { listType: 'atomic' },
    mismatchLabelKeys: { listType: 'atomic' },
    namespaces: { listType: 'atomic' },
  },
  'io.k8s.api.core.v1.PodAntiAffinity': {
    preferredDuringSchedulingIgnoredDuringExecution: { listType: 'atomic' },
    requiredDuringSchedulingIgnoredDuringExecution: { listType: 'atomic' },
  },
  'io.k8s.api.core.v1.PodDNSConfig': {
    nameservers: { listType: 'atomic' },
    options: { listType: 'atomic' },
    searches: { listType: 'atomic' },
  },
  'io.k8s.api.core.v1.PodExtendedResourceClaimStatus': {
    requestMappings: { listType: 'atomic' },
  },
  'io.k8s.api.core.v1.PodSecurityContext': {
    supplementalGroups: { listType: 'atomic' },
    sysctls: { listType: 'atomic' },
  },
  'io.k8s.api.core.v1.PodSpec': {
    containers: { patchStrategy: 'merge', patchMergeKey: 'name', listType: 'map', listMapKeys: ['name'] },
    ephemeralContainers: { patchStrategy: 'merge', patchMergeKey: 'name', listType: 'map', listMapKeys: ['name'] },
    hostAliases: { patchStrategy: 'merge', patchMergeKey: 'ip', listType: 'map', listMapKeys: ['ip'] },
    imagePullSecrets: { patchStrategy: 'merge', patchMergeKey: 'name', listType: 'map', listMapKeys: ['name'] },
    initContainers: { patchStrategy: 'merge', patchMergeKey: 'name', listType: 'map', listMapKeys: ['name'] },
    nodeSelector: { mapType: 'atomic' },
    readinessGates: { listType: 'atomic' },
    resourceClaims: { patchStrategy: 'merge,retainKeys', patchMergeKey: 'name', listType: 'map', listMapKeys: ['name'] },
    schedulingGates: { patchStrategy: 'merge', patchMergeKey: 'name', listType: 'map', listMapKeys: ['name'] },
    tolerations: { listType: 'atomic' },
    topologySpreadConstraints: { patchStrategy: 'merge', patchMergeKey: 'topologyKey', listType: 'map', listMapKeys: ['topologyKey', 'whenUnsatisfiable'] },
    volumes: { patchStrategy: 'merge,retainKeys', patchMergeKey: 'name', listType: 'map', listMapKeys: ['name'] },
  },
  'io.k8s.api.core.v1.PodStatus': {
    conditions: { patchStrategy: 'merge', patchMergeKey: 'type', listType: 'map', listMapKeys: ['type'] },
    containerStatuses: { listType: 'atomic' },
    ephemeralContainerStatuses: { listType: 'atomic' },
    hostIPs: { patchStrategy: 'merge', patchMergeKey: 'ip', listType: 'atomic' },
    initContainerStatuses: { listType: 'atomic' },
    podIPs: { patchStrategy: 'merge', patchMergeKey: 'ip', listType: 'map', listMapKeys: ['ip'] },
    resourceClaimStatuses: { patchStrategy: 'merge,retainKeys', patchMergeKey: 'name', listType: 'map', listMapKeys: ['name'] },
  },
  'io.k8s.api.core.v1.ProjectedVolumeSource': {
    sources: { listType: 'atomic' },
  },
  'io.k8s.api.core.v1.RBDVolumeSource': {
    monitors: { listType: 'atomic' },
  },
  'io.k8s.api.core.v1.ResourceRequirements': {
    claims: { listType: 'map', listMapKeys: ['name'] },
  },
  'io.k8s.api.core.v1.ResourceStatus': {
    resources: { listType: 'map', listMapKeys: ['resourceID'] },
  },
  'io.k8s.api.core.v1.SecretProjection': {
    items: { listType: 'atomic' },
  },
  'io.k8s.api.core.v1.SecretVolumeSource': {
    items: { listType: 'atomic' },
  },
  'io.k8s.api.core.v1.ServiceSpec': {
    clusterIPs: { listType: 'atomic' },
    externalIPs: { listType: 'atomic' },
    ipFamilies: { listType: 'atomic' },
    loadBalancerSourceRanges: { listType: 'atomic' },
    ports: { patchStrategy: 'merge', patchMergeKey: 'port', listType: 'map', listMapKeys: ['port', 'protocol'] },
    selector: { mapType: 'atomic' },
  },
  'io.k8s.api.core.v1.ServiceStatus': {
    conditions: { patchStrategy: 'merge', patchMergeKey: 'type', listType: 'map', listMapKeys: ['type'] },
  },
  'io.k8s.api.core.v1.TopologySpreadConstraint': {
    matchLabelKeys: { listType: 'atomic' },
  },
  'io.k8s.api.discovery.v1.Endpoint': {
    addresses: { listType: 'set' },
  },
  'io.k8s.api.discovery.v1.EndpointHints': {
    forNodes: { listType: 'atomic' },
    forZones: { listType: 'atomic' },
  },
  'io.k8s.api.discovery.v1.EndpointSlice': {
    endpoints: { listType: 'atomic' },
    ports: { listType: 'atomic' },
  },
  'io.k8s.api.node.v1.Scheduling': {
    nodeSelector: { mapType: 'atomic' },
    tolerations: { listType: 'atomic' },
  },
  'io.k8s.apimachinery.pkg.apis.meta.v1.APIResource': {
    categories: { listType: 'atomic' },
    shortNames: { listType: 'atomic' },
  },
  'io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList': {
    resources: { listType: 'atomic' },
  },
  'io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions': {
    dryRun: { listType: 'atomic' },
  },
  'io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector': {
    matchExpressions: { listType: 'atomic' },
  },
  'io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement': {
    values: { listType: 'atomic' },
  },
  'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta': {
    finalizers: { patchStrategy: 'merge', listType: 'set' },
    managedFields: { listType: 'atomic' },
    ownerReferences: { patchStrategy: 'merge', patchMergeKey: 'uid', listType: 'map', listMapKeys: ['uid'] },
  },
  'io.k8s.apimachinery.pkg.apis.meta.v1.Status': {
    details: { listType: 'atomic' },
  },
  'io.k8s.apimachinery.pkg.apis.meta.v1.StatusDetails': {
    causes: { listType: 'atomic' },
  },
};

/** `+structType=atomic` / `+mapType=atomic` on a type: published as the definition's x-kubernetes-map-type. */
export const DEFINITION_MAP_TYPE: Record<string, 'atomic' | 'granular'> = {
  'io.k8s.api.core.v1.ConfigMapKeySelector': 'atomic',
  'io.k8s.api.core.v1.EndpointAddress': 'atomic',
  'io.k8s.api.core.v1.EndpointPort': 'atomic',
  'io.k8s.api.core.v1.FileKeySelector': 'atomic',
  'io.k8s.api.core.v1.LocalObjectReference': 'atomic',
  'io.k8s.api.core.v1.NodeSelector': 'atomic',
  'io.k8s.api.core.v1.NodeSelectorTerm': 'atomic',
  'io.k8s.api.core.v1.ObjectFieldSelector': 'atomic',
  'io.k8s.api.core.v1.ObjectReference': 'atomic',
  'io.k8s.api.core.v1.ResourceFieldSelector': 'atomic',
  'io.k8s.api.core.v1.SecretKeySelector': 'atomic',
  'io.k8s.api.core.v1.TypedLocalObjectReference': 'atomic',
  'io.k8s.api.discovery.v1.EndpointPort': 'atomic',
  'io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector': 'atomic',
  'io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference': 'atomic',
};

/** `+union` discriminated unions, published as the definition's x-kubernetes-unions. */
export const DEFINITION_UNIONS: Record<string, { discriminator: string; 'fields-to-discriminateBy': Record<string, string> }[]> = {
  'io.k8s.api.core.v1.AppArmorProfile': [{ discriminator: 'type', 'fields-to-discriminateBy': { localhostProfile: 'LocalhostProfile' } }],
  'io.k8s.api.core.v1.SeccompProfile': [{ discriminator: 'type', 'fields-to-discriminateBy': { localhostProfile: 'LocalhostProfile' } }],
};

/**
 * Field defaults the generator cannot derive. Its rules cover the rest: required scalars default to
 * their zero value, list items of struct type to `{}` and of scalar type to the zero value, string map
 * values to `""`, and a kind's metadata/spec/status to `{}` (non-pointer structs in Go). These are the
 * other non-pointer struct fields (`{}`), non-omitempty scalars and explicit `+default=` markers.
 */
export const FIELD_DEFAULTS: Record<string, Record<string, unknown>> = {
  'io.k8s.api.apps.v1.DeploymentSpec': { strategy: {}, template: {} },
  'io.k8s.api.apps.v1.ReplicaSetSpec': { template: {} },
  'io.k8s.api.autoscaling.v1.ScaleSpec': { replicas: 0 },
  'io.k8s.api.core.v1.AzureDiskVolumeSource': { cachingMode: 'ReadWrite', fsType: 'ext4', kind: 'Shared', readOnly: false },
  'io.k8s.api.core.v1.ConfigMapEnvSource': { name: '' },
  'io.k8s.api.core.v1.ConfigMapKeySelector': { name: '' },
  'io.k8s.api.core.v1.ConfigMapProjection': { name: '' },
  'io.k8s.api.core.v1.ConfigMapVolumeSource': { name: '' },
  'io.k8s.api.core.v1.Container': { resources: {} },
  'io.k8s.api.core.v1.ContainerPort': { protocol: 'TCP' },
  'io.k8s.api.core.v1.ContainerStatus': { lastState: {}, state: {} },
  'io.k8s.api.core.v1.EphemeralContainer': { resources: {} },
  'io.k8s.api.core.v1.Event': { involvedObject: {}, reportingComponent: '', reportingInstance: '', source: {} },
  'io.k8s.api.core.v1.FileKeySelector': { optional: false },
  'io.k8s.api.core.v1.GRPCAction': { service: '' },
  'io.k8s.api.core.v1.ISCSIVolumeSource': { iscsiInterface: 'default' },
  'io.k8s.api.core.v1.LocalObjectReference': { name: '' },
  'io.k8s.api.core.v1.NodeDaemonEndpoints': { kubeletEndpoint: {} },
  'io.k8s.api.core.v1.NodeRuntimeHandler': { name: '' },
  'io.k8s.api.core.v1.NodeStatus': { daemonEndpoints: {}, nodeInfo: {} },
  'io.k8s.api.core.v1.PersistentVolumeClaimSpec': { resources: {} },
  'io.k8s.api.core.v1.PersistentVolumeClaimTemplate': { metadata: {}, spec: {} },
  'io.k8s.api.core.v1.PodTemplateSpec': { metadata: {}, spec: {} },
  'io.k8s.api.core.v1.PreferredSchedulingTerm': { preference: {} },
  'io.k8s.api.core.v1.RBDVolumeSource': { keyring: '/etc/ceph/keyring', pool: 'rbd', user: 'admin' },
  'io.k8s.api.core.v1.ScaleIOVolumeSource': { fsType: 'xfs', storageMode: 'ThinProvisioned' },
  'io.k8s.api.core.v1.SecretEnvSource': { name: '' },
  'io.k8s.api.core.v1.SecretKeySelector': { name: '' },
  'io.k8s.api.core.v1.SecretProjection': { name: '' },
  'io.k8s.api.core.v1.ServicePort': { protocol: 'TCP' },
  'io.k8s.api.core.v1.ServiceStatus': { loadBalancer: {} },
  'io.k8s.api.core.v1.WeightedPodAffinityTerm': { podAffinityTerm: {} },
  'io.k8s.api.discovery.v1.Endpoint': { conditions: {} },
};
