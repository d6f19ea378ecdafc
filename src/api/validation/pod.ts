// Pod and pod-template validation (pkg/apis/core/validation/validation.go, v1.32 behaviour with
// the feature gates a default v1.32 cluster has on).
import type {
  Container, ContainerPort, EnvFromSource, EnvVar, Lifecycle, LifecycleHandler, Pod, PodSpec, PodTemplateSpec,
  Probe, Toleration, Volume, VolumeMount,
} from 'kubernetes-types/core/v1.js';
import {
  child, duplicate, forbidden, GoLiteral, goQuote, goStringSlice, index, invalid, invalidEach, key,
  notFound, notSupported, required, type FieldError,
} from './field.js';
import { isDualStack, ipFamilyOf, validateIP } from './ip.js';
import { validateLabelName, validateLabels } from './labels.js';
import { FIELD_IMMUTABLE, validateAnnotations, validateNonnegative, validateObjectMeta, validateObjectMetaUpdate } from './meta.js';
import {
  inclusiveRangeError, isConfigMapKey, isDNS1123Label, isDNS1123Subdomain, isHTTPHeaderName, isQualifiedName,
  byteLength, isRelaxedEnvVarName, isValidGroupID, isValidLabelValue, isValidPortName, isValidPortNum, isValidUserID,
  nameIsDNSSubdomain,
} from './names.js';
import { quantityOrError, validateContainerResourceName, validateContainerResources, validateResourceQuantityValue } from './resources.js';

export interface PodValidationOptions {
  /** The spec belongs to a Pod, not to a template inside another object. */
  resourceIsPod: boolean;
}

const PORT_PROTOCOLS = ['SCTP', 'TCP', 'UDP'];
const FILE_MODE_ERROR = 'must be a number between 0 and 0777 (octal), both inclusive';
const MAX_INT32 = 2147483647;

function dns1123Label(value: string, field: string): FieldError[] {
  return invalidEach(field, value, isDNS1123Label(value));
}

function dns1123Subdomain(value: string, field: string): FieldError[] {
  return invalidEach(field, value, isDNS1123Subdomain(value));
}

function qualifiedName(value: string, field: string): FieldError[] {
  return invalidEach(field, value, isQualifiedName(value));
}

// ---- paths inside volumes ----

function validatePathNoBacksteps(target: string, field: string): FieldError[] {
  return target.split('/').includes('..') ? [invalid(field, target, "must not contain '..'")] : [];
}

function validateLocalDescendingPath(target: string, field: string): FieldError[] {
  const errs: FieldError[] = [];
  if (target.startsWith('/')) errs.push(invalid(field, target, 'must be a relative path'));
  errs.push(...validatePathNoBacksteps(target, field));
  return errs;
}

function validateLocalNonReservedPath(target: string, field: string): FieldError[] {
  const errs = validateLocalDescendingPath(target, field);
  if (target.startsWith('..') && !target.startsWith('../')) errs.push(invalid(field, target, "must not start with '..'"));
  return errs;
}

function validateFileMode(mode: number | undefined, field: string): FieldError[] {
  return mode !== undefined && (mode > 0o777 || mode < 0) ? [invalid(field, mode, FILE_MODE_ERROR)] : [];
}

function validateKeyToPaths(items: { key: string; path: string; mode?: number }[] | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  (items ?? []).forEach((kp, i) => {
    const p = index(path, i);
    if (!kp.key) errs.push(required(child(p, 'key')));
    if (!kp.path) errs.push(required(child(p, 'path')));
    else errs.push(...validateLocalNonReservedPath(kp.path, child(p, 'path')));
    errs.push(...validateFileMode(kp.mode, child(p, 'mode')));
  });
  return errs;
}

// ---- volumes ----

// The volume sources in the order upstream checks them; the second name is the path upstream
// reports a second source under (two of them carry historical typos).
const VOLUME_SOURCES: [keyof Volume, string][] = [
  ['emptyDir', 'emptyDir'], ['hostPath', 'hostPath'], ['gitRepo', 'gitRepo'], ['gcePersistentDisk', 'gcePersistentDisk'],
  ['awsElasticBlockStore', 'awsElasticBlockStore'], ['secret', 'secret'], ['nfs', 'nfs'], ['iscsi', 'iscsi'],
  ['glusterfs', 'glusterfs'], ['flocker', 'flocker'], ['persistentVolumeClaim', 'persistentVolumeClaim'], ['rbd', 'rbd'],
  ['cinder', 'cinder'], ['cephfs', 'cephFS'], ['quobyte', 'quobyte'], ['downwardAPI', 'downwarAPI'], ['fc', 'fc'],
  ['flexVolume', 'flexVolume'], ['configMap', 'configMap'], ['azureFile', 'azureFile'], ['vsphereVolume', 'vsphereVolume'],
  ['photonPersistentDisk', 'photonPersistentDisk'], ['portworxVolume', 'portworxVolume'], ['azureDisk', 'azureDisk'],
  ['storageos', 'storageos'], ['projected', 'projected'], ['scaleIO', 'scaleIO'], ['csi', 'csi'], ['ephemeral', 'ephemeral'],
  ['image' as keyof Volume, 'image'],
];
const HOST_PATH_TYPES = ['', 'BlockDevice', 'CharDevice', 'Directory', 'DirectoryOrCreate', 'File', 'FileOrCreate', 'Socket'];

/**
 * The checks of the common volume sources. Sources kubelite cannot provide (cloud disks, iSCSI,
 * ...) are accepted with only the one-source rule checked.
 */
function validateVolumeSource(vol: Volume, path: string): FieldError[] {
  const errs: FieldError[] = [];
  let count = 0;
  for (const [source, reportedAs] of VOLUME_SOURCES) {
    if (vol[source] === undefined || vol[source] === null) continue;
    if (count > 0) {
      errs.push(forbidden(child(path, reportedAs), 'may not specify more than 1 volume type'));
      continue;
    }
    count++;
    const p = child(path, source);
    switch (source) {
      case 'emptyDir': {
        const limit = vol.emptyDir!.sizeLimit;
        if (limit !== undefined) {
          const q = quantityOrError(limit, child(p, 'sizeLimit'), errs);
          if (q && q.mantissa < 0n) errs.push(forbidden(child(p, 'sizeLimit'), 'SizeLimit field must be a valid resource quantity'));
        }
        break;
      }
      case 'hostPath': {
        const hp = vol.hostPath!;
        if (!hp.path) {
          errs.push(required(child(p, 'path')));
          break;
        }
        errs.push(...validatePathNoBacksteps(hp.path, child(p, 'path')));
        if (hp.type !== undefined && !HOST_PATH_TYPES.includes(hp.type)) errs.push(notSupported(child(p, 'type'), hp.type, HOST_PATH_TYPES));
        break;
      }
      case 'secret': {
        const s = vol.secret!;
        if (!s.secretName) errs.push(required(child(p, 'secretName')));
        errs.push(...validateFileMode(s.defaultMode, child(p, 'defaultMode')));
        errs.push(...validateKeyToPaths(s.items, child(p, 'items')));
        break;
      }
      case 'configMap': {
        const c = vol.configMap!;
        if (!c.name) errs.push(required(child(p, 'name')));
        errs.push(...validateFileMode(c.defaultMode, child(p, 'defaultMode')));
        errs.push(...validateKeyToPaths(c.items, child(p, 'items')));
        break;
      }
      case 'persistentVolumeClaim':
        if (!vol.persistentVolumeClaim!.claimName) errs.push(required(child(p, 'claimName')));
        break;
    }
  }
  if (count === 0) errs.push(required(path, 'must specify a volume type'));
  return errs;
}

function validateVolumes(volumes: Volume[] | undefined, path: string, errs: FieldError[]): Set<string> {
  const names = new Set<string>();
  (volumes ?? []).forEach((vol, i) => {
    const p = index(path, i);
    const namePath = child(p, 'name');
    const el = validateVolumeSource(vol, p);
    if (!vol.name) el.push(required(namePath));
    else el.push(...dns1123Label(vol.name, namePath));
    if (names.has(vol.name)) el.push(duplicate(namePath, vol.name));
    // A volume with errors is left out, so mounts of it are reported as not found.
    if (el.length === 0) names.add(vol.name);
    else errs.push(...el);
  });
  return names;
}

// ---- containers ----

function validateContainerPorts(ports: ContainerPort[] | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const names = new Set<string>();
  (ports ?? []).forEach((port, i) => {
    const p = index(path, i);
    if (port.name) {
      const msgs = isValidPortName(port.name);
      if (msgs.length) errs.push(...invalidEach(child(p, 'name'), port.name, msgs));
      else if (names.has(port.name)) errs.push(duplicate(child(p, 'name'), port.name));
      else names.add(port.name);
    }
    if (!port.containerPort) errs.push(required(child(p, 'containerPort')));
    else errs.push(...invalidEach(child(p, 'containerPort'), port.containerPort, isValidPortNum(port.containerPort)));
    if (port.hostPort) errs.push(...invalidEach(child(p, 'hostPort'), port.hostPort, isValidPortNum(port.hostPort)));
    if (!port.protocol) errs.push(required(child(p, 'protocol')));
    else if (!PORT_PROTOCOLS.includes(port.protocol)) errs.push(notSupported(child(p, 'protocol'), port.protocol, PORT_PROTOCOLS));
  });
  return errs;
}

const DOWNWARD_API_LABELS = new Set([
  'metadata.annotations', 'metadata.labels', 'metadata.name', 'metadata.namespace', 'metadata.uid', 'spec.nodeName',
  'spec.restartPolicy', 'spec.serviceAccountName', 'spec.schedulerName', 'status.phase', 'status.hostIP',
  'status.hostIPs', 'status.podIP', 'status.podIPs',
]);
const ENV_FIELD_PATHS = [
  'metadata.name', 'metadata.namespace', 'metadata.uid', 'spec.nodeName', 'spec.serviceAccountName', 'status.hostIP',
  'status.hostIPs', 'status.podIP', 'status.podIPs',
].sort();
const ENV_RESOURCE_FIELDS = [
  'limits.cpu', 'limits.ephemeral-storage', 'limits.memory', 'requests.cpu', 'requests.ephemeral-storage', 'requests.memory',
];

/** fieldpath.SplitMaybeSubscriptedPath: `metadata.labels['key']`. */
function splitSubscript(fieldPath: string): [string, string] | undefined {
  if (!fieldPath.endsWith("']")) return undefined;
  const s = fieldPath.slice(0, -2);
  const at = s.indexOf("['");
  if (at <= 0) return undefined;
  return [s.slice(0, at), s.slice(at + 2)];
}

function validateObjectFieldSelector(fs: { apiVersion?: string; fieldPath: string }, path: string): FieldError[] {
  if (!fs.apiVersion) return [required(child(path, 'apiVersion'))];
  if (!fs.fieldPath) return [required(child(path, 'fieldPath'))];
  let label = fs.fieldPath;
  const sub = splitSubscript(label);
  let convertError: string | undefined;
  if (fs.apiVersion !== 'v1') convertError = `unsupported pod version: ${fs.apiVersion}`;
  else if (sub && sub[0] !== 'metadata.annotations' && sub[0] !== 'metadata.labels') convertError = `field label does not support subscript: ${label}`;
  else if (!sub && label === 'spec.host') label = 'spec.nodeName';
  else if (!sub && !DOWNWARD_API_LABELS.has(label)) convertError = `field label not supported: ${label}`;
  if (convertError) return [invalid(child(path, 'fieldPath'), fs.fieldPath, `error converting fieldPath: ${convertError}`)];
  if (sub) {
    return sub[0] === 'metadata.annotations' ? qualifiedName(sub[1].toLowerCase(), path) : qualifiedName(sub[1], path);
  }
  if (!ENV_FIELD_PATHS.includes(label)) return [notSupported(child(path, 'fieldPath'), label, ENV_FIELD_PATHS)];
  return [];
}

function validateKeySelector(s: { name?: string; key: string }, path: string): FieldError[] {
  const errs = invalidEach(child(path, 'name'), s.name ?? '', nameIsDNSSubdomain(s.name ?? '', false));
  if (!s.key) errs.push(required(child(path, 'key')));
  else errs.push(...invalidEach(child(path, 'key'), s.key, isConfigMapKey(s.key)));
  return errs;
}

function validateEnv(vars: EnvVar[] | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  (vars ?? []).forEach((ev, i) => {
    const p = index(path, i);
    if (!ev.name) errs.push(required(child(p, 'name')));
    else errs.push(...invalidEach(child(p, 'name'), ev.name, isRelaxedEnvVarName(ev.name)));
    const from = ev.valueFrom;
    if (!from) return;
    const fp = child(p, 'valueFrom');
    let sources = 0;
    if (from.fieldRef) {
      sources++;
      errs.push(...validateObjectFieldSelector(from.fieldRef, child(fp, 'fieldRef')));
    }
    if (from.resourceFieldRef) {
      sources++;
      const r = from.resourceFieldRef;
      const rp = child(fp, 'resourceFieldRef');
      if (!r.resource) errs.push(required(child(rp, 'resource')));
      else if (!ENV_RESOURCE_FIELDS.includes(r.resource) && !r.resource.startsWith('requests.hugepages-') && !r.resource.startsWith('limits.hugepages-')) {
        errs.push(notSupported(child(rp, 'resource'), r.resource, ENV_RESOURCE_FIELDS));
      }
    }
    if (from.configMapKeyRef) {
      sources++;
      errs.push(...validateKeySelector(from.configMapKeyRef, child(fp, 'configMapKeyRef')));
    }
    if (from.secretKeyRef) {
      sources++;
      errs.push(...validateKeySelector(from.secretKeyRef, child(fp, 'secretKeyRef')));
    }
    if (sources === 0) errs.push(invalid(fp, '', 'must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`'));
    else if (ev.value) errs.push(invalid(fp, '', 'may not be specified when `value` is not empty'));
    else if (sources > 1) errs.push(invalid(fp, '', 'may not have more than one field specified at a time'));
  });
  return errs;
}

function validateEnvFrom(sources: EnvFromSource[] | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  (sources ?? []).forEach((ev, i) => {
    const p = index(path, i);
    if (ev.prefix) errs.push(...invalidEach(child(p, 'prefix'), ev.prefix, isRelaxedEnvVarName(ev.prefix)));
    let count = 0;
    for (const [ref, name] of [['configMapRef', ev.configMapRef?.name], ['secretRef', ev.secretRef?.name]] as const) {
      if (!ev[ref]) continue;
      count++;
      const np = child(p, ref, 'name');
      if (!name) errs.push(required(np));
      else errs.push(...invalidEach(np, name, nameIsDNSSubdomain(name, true)));
    }
    if (count === 0) errs.push(invalid(path, '', 'must specify one of: `configMapRef` or `secretRef`'));
    else if (count > 1) errs.push(invalid(path, '', 'may not have more than one field specified at a time'));
  });
  return errs;
}

const PROPAGATION_MODES = ['Bidirectional', 'HostToContainer', 'None'];
const RECURSIVE_READ_ONLY = ['Disabled', 'Enabled', 'IfPossible'];

function validateVolumeMounts(mounts: VolumeMount[] | undefined, volumes: Set<string>, ctr: Container, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const mountPoints = new Set<string>();
  (mounts ?? []).forEach((m, i) => {
    const p = index(path, i);
    if (!m.name) errs.push(required(child(p, 'name')));
    if (!volumes.has(m.name)) errs.push(notFound(child(p, 'name'), m.name));
    if (!m.mountPath) errs.push(required(child(p, 'mountPath')));
    if (mountPoints.has(m.mountPath)) errs.push(invalid(child(p, 'mountPath'), m.mountPath, 'must be unique'));
    mountPoints.add(m.mountPath);
    // Upstream reports sub-path problems on the list's path, not the entry's.
    if (m.subPath) errs.push(...validateLocalDescendingPath(m.subPath, child(path, 'subPath')));
    if (m.subPathExpr) {
      if (m.subPath) errs.push(invalid(child(p, 'subPathExpr'), m.subPathExpr, 'subPathExpr and subPath are mutually exclusive'));
      errs.push(...validateLocalDescendingPath(m.subPathExpr, child(path, 'subPathExpr')));
    }
    if (m.mountPropagation !== undefined) {
      const mp = child(path, 'mountPropagation');
      if (!PROPAGATION_MODES.includes(m.mountPropagation)) errs.push(notSupported(mp, m.mountPropagation, PROPAGATION_MODES));
      else if (m.mountPropagation === 'Bidirectional' && !ctr.securityContext?.privileged) {
        errs.push(forbidden(mp, 'Bidirectional mount propagation is available only to privileged containers'));
      }
    }
    const rro = (m as VolumeMount & { recursiveReadOnly?: string }).recursiveReadOnly;
    if (rro !== undefined) {
      const rp = child(path, 'recursiveReadOnly');
      if (rro === 'Enabled' || rro === 'IfPossible') {
        if (!m.readOnly) errs.push(forbidden(rp, 'may only be specified when readOnly is true'));
        if (m.mountPropagation !== undefined && m.mountPropagation !== 'None') errs.push(forbidden(rp, 'may only be specified when mountPropagation is None or not specified'));
      } else if (rro !== 'Disabled') {
        errs.push(notSupported(rp, rro, RECURSIVE_READ_ONLY));
      }
    }
  });
  return errs;
}

function validatePortNumOrName(port: number | string | undefined, field: string): FieldError[] {
  if (typeof port === 'number') return invalidEach(field, port, isValidPortNum(port));
  return invalidEach(field, port ?? '', isValidPortName(port ?? ''));
}

type Handler = Pick<LifecycleHandler, 'exec' | 'httpGet' | 'tcpSocket' | 'sleep'> & Pick<Probe, 'grpc'>;

function validateHandler(h: Handler, gracePeriod: number | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  let count = 0;
  const one = (name: string, check: () => FieldError[]) => {
    if (count > 0) errs.push(forbidden(child(path, name), 'may not specify more than 1 handler type'));
    else {
      count++;
      errs.push(...check());
    }
  };
  if (h.exec) one('exec', () => (h.exec!.command?.length ? [] : [required(child(path, 'exec', 'command'))]));
  if (h.httpGet) {
    one('httpGet', () => {
      const g = h.httpGet!;
      const p = child(path, 'httpGet');
      const e: FieldError[] = [];
      if (!g.path) e.push(required(child(p, 'path')));
      e.push(...validatePortNumOrName(g.port, child(p, 'port')));
      if (g.scheme !== 'HTTP' && g.scheme !== 'HTTPS') e.push(notSupported(child(p, 'scheme'), g.scheme ?? '', ['HTTP', 'HTTPS']));
      for (const hdr of g.httpHeaders ?? []) e.push(...invalidEach(child(p, 'httpHeaders'), hdr.name, isHTTPHeaderName(hdr.name)));
      return e;
    });
  }
  if (h.tcpSocket) one('tcpSocket', () => validatePortNumOrName(h.tcpSocket!.port, child(path, 'tcpSocket', 'port')));
  if (h.grpc) one('grpc', () => validatePortNumOrName(h.grpc!.port, child(path, 'grpc', 'port')));
  if (h.sleep) {
    one('sleep', () => {
      const s = h.sleep!.seconds;
      if (gracePeriod !== undefined && (s <= 0 || s > gracePeriod)) {
        return [invalid(child(path, 'sleep'), s, `must be greater than 0 and less than terminationGracePeriodSeconds (${gracePeriod}). Enable AllowPodLifecycleSleepActionZeroValue feature gate for zero sleep.`)];
      }
      return [];
    });
  }
  if (count === 0) errs.push(required(path, 'must specify a handler type'));
  return errs;
}

function validateProbe(probe: Probe, gracePeriod: number | undefined, path: string): FieldError[] {
  const errs = validateHandler({ exec: probe.exec, httpGet: probe.httpGet, tcpSocket: probe.tcpSocket, grpc: probe.grpc }, gracePeriod, path);
  for (const f of ['initialDelaySeconds', 'timeoutSeconds', 'periodSeconds', 'successThreshold', 'failureThreshold'] as const) {
    errs.push(...validateNonnegative(probe[f], child(path, f)));
  }
  const tgps = probe.terminationGracePeriodSeconds;
  if (tgps !== undefined && tgps <= 0) errs.push(invalid(child(path, 'terminationGracePeriodSeconds'), tgps, 'must be greater than 0'));
  return errs;
}

function validateProbes(ctr: Container, gracePeriod: number | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  for (const kind of ['livenessProbe', 'readinessProbe', 'startupProbe'] as const) {
    const probe = ctr[kind];
    if (!probe) continue;
    const p = child(path, kind);
    errs.push(...validateProbe(probe, gracePeriod, p));
    if (kind === 'readinessProbe') {
      if (probe.terminationGracePeriodSeconds !== undefined) {
        errs.push(invalid(child(p, 'terminationGracePeriodSeconds'), probe.terminationGracePeriodSeconds, 'must not be set for readinessProbes'));
      }
    } else if (probe.successThreshold !== 1) {
      errs.push(invalid(child(p, 'successThreshold'), probe.successThreshold ?? 0, 'must be 1'));
    }
  }
  return errs;
}

function validateLifecycle(lc: Lifecycle, gracePeriod: number | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (lc.postStart) errs.push(...validateHandler(lc.postStart, gracePeriod, child(path, 'postStart')));
  if (lc.preStop) errs.push(...validateHandler(lc.preStop, gracePeriod, child(path, 'preStop')));
  return errs;
}

const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'];
const PROC_MOUNT_TYPES = ['Default', 'Unmasked'];
const SECCOMP_TYPES = ['Localhost', 'RuntimeDefault', 'Unconfined'];

function validateSeccompProfile(profile: { type: string; localhostProfile?: string } | undefined, path: string): FieldError[] {
  if (!profile) return [];
  const errs: FieldError[] = [];
  const t = child(path, 'type');
  if (!profile.type) errs.push(required(t, 'type is required when seccompProfile is set'));
  else if (!SECCOMP_TYPES.includes(profile.type)) errs.push(notSupported(t, profile.type, SECCOMP_TYPES));
  if (profile.type === 'Localhost') {
    if (profile.localhostProfile === undefined) errs.push(required(child(path, 'localhostProfile'), 'must be set when seccomp type is Localhost'));
    else errs.push(...validateLocalDescendingPath(profile.localhostProfile, child(path, 'localhostProfile')));
  } else if (profile.localhostProfile !== undefined) {
    errs.push(invalid(child(path, 'localhostProfile'), profile.localhostProfile, 'can only be set when seccomp type is Localhost'));
  }
  return errs;
}

function validateResizePolicy(policies: { resourceName: string; restartPolicy: string }[] | undefined, path: string, podRestartPolicy: string | undefined): FieldError[] {
  const errs: FieldError[] = [];
  const seen = new Set<string>();
  (policies ?? []).forEach((p, i) => {
    if (seen.has(p.resourceName)) errs.push(duplicate(index(path, i), p.resourceName));
    seen.add(p.resourceName);
    if (!p.resourceName) errs.push(required(path));
    else if (p.resourceName !== 'cpu' && p.resourceName !== 'memory') errs.push(notSupported(path, p.resourceName, ['cpu', 'memory']));
    if (!p.restartPolicy) errs.push(required(path));
    else if (p.restartPolicy !== 'NotRequired' && p.restartPolicy !== 'RestartContainer') errs.push(notSupported(path, p.restartPolicy, ['NotRequired', 'RestartContainer']));
    if (podRestartPolicy === 'Never' && p.restartPolicy !== 'NotRequired') {
      errs.push(invalid(path, p.restartPolicy, "must be 'NotRequired' when `restartPolicy` is 'Never'"));
    }
  });
  return errs;
}

function validateContainerCommon(ctr: Container, volumes: Set<string>, podClaimNames: string[], path: string, spec: PodSpec, hostUsers: boolean): FieldError[] {
  const errs: FieldError[] = [];
  const namePath = child(path, 'name');
  if (!ctr.name) errs.push(required(namePath));
  else errs.push(...dns1123Label(ctr.name, namePath));
  if (!ctr.image) errs.push(required(child(path, 'image')));
  const tmp = ctr.terminationMessagePolicy;
  if (!tmp) errs.push(required(child(path, 'terminationMessagePolicy')));
  else if (tmp !== 'File' && tmp !== 'FallbackToLogsOnError') errs.push(notSupported(child(path, 'terminationMessagePolicy'), tmp, ['File', 'FallbackToLogsOnError']));
  errs.push(...validateContainerPorts(ctr.ports, child(path, 'ports')));
  errs.push(...validateEnv(ctr.env, child(path, 'env')));
  errs.push(...validateEnvFrom(ctr.envFrom, child(path, 'envFrom')));
  errs.push(...validateVolumeMounts(ctr.volumeMounts, volumes, ctr, child(path, 'volumeMounts')));
  const pp = ctr.imagePullPolicy;
  if (!pp) errs.push(required(child(path, 'imagePullPolicy')));
  else if (!PULL_POLICIES.includes(pp)) errs.push(notSupported(child(path, 'imagePullPolicy'), pp, PULL_POLICIES));
  errs.push(...validateContainerResources(ctr.resources, child(path, 'resources'), podClaimNames));
  errs.push(...validateResizePolicy(ctr.resizePolicy, child(path, 'resizePolicy'), spec.restartPolicy));
  const sc = ctr.securityContext;
  if (sc) {
    const sp = child(path, 'securityContext');
    if (sc.runAsUser !== undefined) errs.push(...invalidEach(child(sp, 'runAsUser'), sc.runAsUser, isValidUserID(sc.runAsUser)));
    if (sc.runAsGroup !== undefined) errs.push(...invalidEach(child(sp, 'runAsGroup'), sc.runAsGroup, isValidGroupID(sc.runAsGroup)));
    if (sc.procMount !== undefined) {
      if (!PROC_MOUNT_TYPES.includes(sc.procMount)) errs.push(notSupported(child(sp, 'procMount'), sc.procMount, PROC_MOUNT_TYPES));
      if (hostUsers && sc.procMount === 'Unmasked') errs.push(invalid(child(sp, 'procMount'), sc.procMount, '`hostUsers` must be false to use `Unmasked`'));
    }
    errs.push(...validateSeccompProfile(sc.seccompProfile, child(sp, 'seccompProfile')));
  }
  return errs;
}

function hostPortConflicts(containers: Container[], path: string): FieldError[] {
  const errs: FieldError[] = [];
  const seen = new Set<string>();
  containers.forEach((ctr, ci) => {
    (ctr.ports ?? []).forEach((port, pi) => {
      if (!port.hostPort) return;
      const id = `${port.protocol ?? ''}/${port.hostIP ?? ''}/${port.hostPort}`;
      if (seen.has(id)) errs.push(duplicate(child(index(child(index(path, ci), 'ports'), pi), 'hostPort'), id));
      else seen.add(id);
    });
  });
  return errs;
}

function validateContainers(spec: PodSpec, volumes: Set<string>, podClaimNames: string[], path: string, hostUsers: boolean): FieldError[] {
  const containers = spec.containers ?? [];
  if (containers.length === 0) return [required(path)];
  const errs: FieldError[] = [];
  const names = new Set<string>();
  containers.forEach((ctr, i) => {
    const p = index(path, i);
    errs.push(...validateContainerCommon(ctr, volumes, podClaimNames, p, spec, hostUsers));
    if (names.has(ctr.name)) errs.push(duplicate(child(p, 'name'), ctr.name));
    else names.add(ctr.name);
    if (ctr.lifecycle) errs.push(...validateLifecycle(ctr.lifecycle, spec.terminationGracePeriodSeconds, child(p, 'lifecycle')));
    errs.push(...validateProbes(ctr, spec.terminationGracePeriodSeconds, p));
    if (ctr.restartPolicy !== undefined) errs.push(forbidden(child(p, 'restartPolicy'), 'may not be set for non-init containers'));
  });
  errs.push(...hostPortConflicts(containers, path));
  return errs;
}

function validateInitContainers(spec: PodSpec, volumes: Set<string>, podClaimNames: string[], path: string, hostUsers: boolean): FieldError[] {
  const errs: FieldError[] = [];
  const names = new Set((spec.containers ?? []).map((c) => c.name));
  (spec.initContainers ?? []).forEach((ctr, i) => {
    const p = index(path, i);
    errs.push(...validateContainerCommon(ctr, volumes, podClaimNames, p, spec, hostUsers));
    let restartAlways = false;
    if (ctr.restartPolicy !== undefined) {
      if (ctr.restartPolicy !== 'Always') errs.push(notSupported(child(p, 'restartPolicy'), ctr.restartPolicy, ['Always']));
      restartAlways = ctr.restartPolicy === 'Always';
    }
    if (names.has(ctr.name)) errs.push(duplicate(child(p, 'name'), ctr.name));
    else if (ctr.name) names.add(ctr.name);
    // Init containers run one by one, so host ports are only checked within each.
    errs.push(...hostPortConflicts([ctr], path));
    if (restartAlways) {
      if (ctr.lifecycle) errs.push(...validateLifecycle(ctr.lifecycle, spec.terminationGracePeriodSeconds, child(p, 'lifecycle')));
      errs.push(...validateProbes(ctr, spec.terminationGracePeriodSeconds, p));
    } else {
      for (const f of ['lifecycle', 'livenessProbe', 'readinessProbe', 'startupProbe'] as const) {
        if (ctr[f]) errs.push(forbidden(child(p, f), 'may not be set for init containers without restartPolicy=Always'));
      }
    }
    if (ctr.resizePolicy?.length) errs.push(invalid(child(p, 'resizePolicy'), new GoLiteral(goResizePolicies(ctr.resizePolicy)), 'must not be set for init containers'));
  });
  return errs;
}

function goResizePolicies(list: { resourceName: string; restartPolicy: string }[]): string {
  return `[]core.ContainerResizePolicy{${list.map((p) => `core.ContainerResizePolicy{ResourceName:${goQuote(p.resourceName)}, RestartPolicy:${goQuote(p.restartPolicy)}}`).join(', ')}}`;
}

// ---- the pod spec ----

const RESTART_POLICIES = ['Always', 'OnFailure', 'Never'];
const DNS_POLICIES = ['ClusterFirstWithHostNet', 'ClusterFirst', 'Default', 'None'];
const TAINT_EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'];

export function validateTaintEffect(effect: string | undefined, allowEmpty: boolean, field: string): FieldError[] {
  if (!allowEmpty && !effect) return [required(field)];
  if (effect && !TAINT_EFFECTS.includes(effect)) return [notSupported(field, effect, TAINT_EFFECTS)];
  return [];
}

export function validateTolerations(tolerations: Toleration[] | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  (tolerations ?? []).forEach((t, i) => {
    const p = index(path, i);
    if (t.key) errs.push(...validateLabelName(t.key, child(p, 'key')));
    if (!t.key && t.operator !== 'Exists') {
      errs.push(invalid(child(p, 'operator'), t.operator ?? '', 'operator must be Exists when `key` is empty, which means "match all values and all keys"'));
    }
    if (t.tolerationSeconds !== undefined && t.effect !== 'NoExecute') {
      errs.push(invalid(child(p, 'effect'), t.effect ?? '', "effect must be 'NoExecute' when `tolerationSeconds` is set"));
    }
    switch (t.operator ?? '') {
      case 'Equal':
      case '': {
        const msgs = isValidLabelValue(t.value ?? '');
        if (msgs.length) errs.push(invalid(child(p, 'operator'), t.value ?? '', msgs.join(';')));
        break;
      }
      case 'Exists':
        if (t.value) errs.push(invalid(child(p, 'operator'), t.value, "value must be empty when `operator` is 'Exists'"));
        break;
      default:
        errs.push(notSupported(child(p, 'operator'), t.operator, ['Equal', 'Exists']));
    }
    if (t.effect) errs.push(...validateTaintEffect(t.effect, true, child(p, 'effect')));
  });
  return errs;
}

// Printed in the error message exactly as upstream's regexp source.
const SYSCTL_RE = new RegExp('^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$');

function validatePodSecurityContext(spec: PodSpec, path: string): FieldError[] {
  const sc = spec.securityContext;
  if (!sc) return [];
  const errs: FieldError[] = [];
  if (sc.fsGroup !== undefined) errs.push(...invalidEach(child(path, 'fsGroup'), sc.fsGroup, isValidGroupID(sc.fsGroup)));
  if (sc.runAsUser !== undefined) errs.push(...invalidEach(child(path, 'runAsUser'), sc.runAsUser, isValidUserID(sc.runAsUser)));
  if (sc.runAsGroup !== undefined) errs.push(...invalidEach(child(path, 'runAsGroup'), sc.runAsGroup, isValidGroupID(sc.runAsGroup)));
  (sc.supplementalGroups ?? []).forEach((g, i) => errs.push(...invalidEach(index(child(path, 'supplementalGroups'), i), g, isValidGroupID(g))));
  if (spec.shareProcessNamespace && spec.hostPID) {
    errs.push(invalid(child(path, 'shareProcessNamespace'), true, 'ShareProcessNamespace and HostPID cannot both be enabled'));
  }
  const seen = new Set<string>();
  (sc.sysctls ?? []).forEach((s, i) => {
    const np = child(index(child(path, 'sysctls'), i), 'name');
    if (!s.name) errs.push(required(np));
    else if (byteLength(s.name) > 253 || !SYSCTL_RE.test(s.name)) {
      errs.push(invalid(np, s.name, `must have at most 253 characters and match regex ${SYSCTL_RE.source}`));
    } else if (seen.has(s.name)) errs.push(duplicate(np, s.name));
    seen.add(s.name);
  });
  const fcp = sc.fsGroupChangePolicy;
  if (fcp !== undefined && fcp !== 'OnRootMismatch' && fcp !== 'Always') errs.push(notSupported(child(path, 'fsGroupChangePolicy'), fcp, ['Always', 'OnRootMismatch']));
  errs.push(...validateSeccompProfile(sc.seccompProfile, child(path, 'seccompProfile')));
  return errs;
}

function validateDNSConfig(spec: PodSpec, path: string): FieldError[] {
  const cfg = spec.dnsConfig;
  if (spec.dnsPolicy === 'None') {
    if (!cfg) return [required(path, 'must provide `dnsConfig` when `dnsPolicy` is None')];
    if (!cfg.nameservers?.length) return [required(child(path, 'nameservers'), 'must provide at least one DNS nameserver when `dnsPolicy` is None')];
  }
  if (!cfg) return [];
  const errs: FieldError[] = [];
  const ns = cfg.nameservers ?? [];
  if (ns.length > 3) errs.push(invalid(child(path, 'nameservers'), goStringSlice(ns), 'must not have more than 3 nameservers'));
  ns.forEach((n, i) => errs.push(...validateIP(index(child(path, 'nameservers'), i), n)));
  const searches = cfg.searches ?? [];
  if (searches.length > 32) errs.push(invalid(child(path, 'searches'), goStringSlice(searches), 'must not have more than 32 search paths'));
  if (searches.join(' ').length > 2048) {
    errs.push(invalid(child(path, 'searches'), goStringSlice(searches), 'must not have more than 2048 characters (including spaces) in the search list'));
  }
  searches.forEach((s, i) => errs.push(...dns1123Subdomain(s.replace(/\.$/, ''), index(child(path, 'searches'), i))));
  (cfg.options ?? []).forEach((o, i) => {
    if (!o.name) errs.push(required(index(child(path, 'options'), i), 'must not be empty'));
  });
  return errs;
}

/** Priority values of the two classes every cluster has; other classes do not exist in kubelite. */
export const SYSTEM_PRIORITY_CLASSES: Record<string, number> = {
  'system-cluster-critical': 2000000000,
  'system-node-critical': 2000001000,
};

/** ValidatePodSpec. */
export function validatePodSpec(spec: PodSpec, path: string, opts: PodValidationOptions): FieldError[] {
  const errs: FieldError[] = [];
  if (spec.terminationGracePeriodSeconds === undefined || spec.terminationGracePeriodSeconds === null) {
    errs.push(required(child(path, 'terminationGracePeriodSeconds')));
  }
  const hostUsers = spec.hostUsers ?? true;
  const volumes = validateVolumes(spec.volumes, child(path, 'volumes'), errs);
  const podClaimNames = (spec.resourceClaims ?? []).map((c) => c.name).filter(Boolean);
  (spec.resourceClaims ?? []).forEach((c, i) => {
    const np = child(index(child(path, 'resourceClaims'), i), 'name');
    if (!c.name) errs.push(required(np));
    else if (podClaimNames.indexOf(c.name) !== i) errs.push(duplicate(np, c.name));
    else errs.push(...dns1123Label(c.name, np));
  });
  errs.push(...validateContainers(spec, volumes, podClaimNames, child(path, 'containers'), hostUsers));
  errs.push(...validateInitContainers(spec, volumes, podClaimNames, child(path, 'initContainers'), hostUsers));
  errs.push(...validateEphemeralContainers(spec, volumes, podClaimNames, child(path, 'ephemeralContainers'), hostUsers));
  if (spec.hostNetwork) {
    (spec.containers ?? []).forEach((c, ci) => (c.ports ?? []).forEach((port, pi) => {
      const hp = port.hostPort ?? 0;
      if ((opts.resourceIsPod || hp !== 0) && hp !== port.containerPort) {
        errs.push(invalid(child(index(child(index(child(path, 'containers'), ci), 'ports'), pi), 'hostPort'), hp, 'must match `containerPort` when `hostNetwork` is true'));
      }
    }));
  }
  const rp = spec.restartPolicy;
  if (!rp) errs.push(required(child(path, 'restartPolicy')));
  else if (!RESTART_POLICIES.includes(rp)) errs.push(notSupported(child(path, 'restartPolicy'), rp, RESTART_POLICIES));
  const dp = spec.dnsPolicy;
  if (!dp) errs.push(required(child(path, 'dnsPolicy')));
  else if (!DNS_POLICIES.includes(dp)) errs.push(notSupported(child(path, 'dnsPolicy'), dp, DNS_POLICIES));
  errs.push(...validateLabels(spec.nodeSelector, child(path, 'nodeSelector')));
  errs.push(...validatePodSecurityContext(spec, child(path, 'securityContext')));
  errs.push(...validateDNSConfig(spec, child(path, 'dnsConfig')));
  (spec.readinessGates ?? []).forEach((g, i) => errs.push(...qualifiedName(g.conditionType, child(index(child(path, 'readinessGates'), i), 'conditionType'))));
  const gates = new Set<string>();
  (spec.schedulingGates ?? []).forEach((g, i) => {
    const gp = index(child(path, 'schedulingGates'), i);
    errs.push(...qualifiedName(g.name, gp));
    if (gates.has(g.name)) errs.push(duplicate(gp, g.name));
    gates.add(g.name);
  });
  if (spec.hostUsers === false) {
    if (spec.hostNetwork) errs.push(forbidden(child(path, 'hostNetwork'), 'when `pod.Spec.HostUsers` is false'));
    if (spec.hostPID) errs.push(forbidden(child(path, 'HostPID'), 'when `pod.Spec.HostUsers` is false'));
    if (spec.hostIPC) errs.push(forbidden(child(path, 'HostIPC'), 'when `pod.Spec.HostUsers` is false'));
  }
  if (spec.serviceAccountName) errs.push(...invalidEach(child(path, 'serviceAccountName'), spec.serviceAccountName, nameIsDNSSubdomain(spec.serviceAccountName, false)));
  if (spec.nodeName) errs.push(...invalidEach(child(path, 'nodeName'), spec.nodeName, nameIsDNSSubdomain(spec.nodeName, false)));
  const ads = spec.activeDeadlineSeconds;
  if (ads !== undefined && (ads < 1 || ads > MAX_INT32)) errs.push(invalid(child(path, 'activeDeadlineSeconds'), ads, inclusiveRangeError(1, MAX_INT32)));
  if (spec.hostname) errs.push(...dns1123Label(spec.hostname, child(path, 'hostname')));
  if (spec.subdomain) errs.push(...dns1123Label(spec.subdomain, child(path, 'subdomain')));
  errs.push(...validateTolerations(spec.tolerations, child(path, 'tolerations')));
  (spec.hostAliases ?? []).forEach((ha, i) => {
    const hp = index(child(path, 'hostAliases'), i);
    errs.push(...validateIP(child(hp, 'ip'), ha.ip ?? ''));
    (ha.hostnames ?? []).forEach((h, j) => errs.push(...dns1123Subdomain(h, index(child(hp, 'hostnames'), j))));
  });
  if (spec.priorityClassName) errs.push(...invalidEach(child(path, 'priorityClassName'), spec.priorityClassName, nameIsDNSSubdomain(spec.priorityClassName, false)));
  if (spec.runtimeClassName !== undefined) errs.push(...invalidEach(child(path, 'runtimeClassName'), spec.runtimeClassName, nameIsDNSSubdomain(spec.runtimeClassName, false)));
  const pp = spec.preemptionPolicy;
  if (pp !== undefined) {
    if (!pp) errs.push(required(child(path, 'preemptionPolicy')));
    else if (pp !== 'PreemptLowerPriority' && pp !== 'Never') errs.push(notSupported(child(path, 'preemptionPolicy'), pp, ['PreemptLowerPriority', 'Never']));
  }
  for (const name of Object.keys(spec.overhead ?? {}).sort()) {
    const f = key(child(path, 'overhead', 'limits'), name);
    errs.push(...validateContainerResourceName(name, f));
    const q = quantityOrError(spec.overhead![name]!, f, errs);
    if (q) errs.push(...validateResourceQuantityValue(name, q, f));
  }
  if (spec.os) {
    const op = child(path, 'os');
    if (!spec.os.name) errs.push(required(child(op, 'name'), 'cannot be empty'));
    else if (spec.os.name !== 'linux' && spec.os.name !== 'windows') errs.push(notSupported(op, spec.os.name, ['linux', 'windows']));
  }
  return errs;
}

function validateEphemeralContainers(spec: PodSpec, volumes: Set<string>, podClaimNames: string[], path: string, hostUsers: boolean): FieldError[] {
  const errs: FieldError[] = [];
  const others = new Set([...(spec.containers ?? []), ...(spec.initContainers ?? [])].map((c) => c.name));
  const all = new Set(others);
  (spec.ephemeralContainers ?? []).forEach((ec, i) => {
    const p = index(path, i);
    errs.push(...validateContainerCommon(ec as Container, volumes, podClaimNames, p, spec, hostUsers));
    if (ec.image && ec.image.trim() !== ec.image) errs.push(invalid(child(p, 'image'), ec.image, 'must not have leading or trailing whitespace'));
    if (all.has(ec.name)) errs.push(duplicate(child(p, 'name'), ec.name));
    else all.add(ec.name);
    if (ec.targetContainerName && !others.has(ec.targetContainerName)) errs.push(notFound(child(p, 'targetContainerName'), ec.targetContainerName));
    // Fields outside upstream's allow-list, in struct order.
    for (const f of ['ports', 'resources', 'resizePolicy', 'restartPolicy', 'livenessProbe', 'readinessProbe', 'startupProbe', 'lifecycle'] as const) {
      const v = (ec as Container)[f];
      const set = Array.isArray(v) ? v.length > 0 : v !== undefined && (typeof v !== 'object' || Object.keys(v).length > 0);
      if (set) errs.push(forbidden(child(p, f), 'cannot be set for an Ephemeral Container'));
    }
    (ec.volumeMounts ?? []).forEach((vm, j) => {
      if (vm.subPath) errs.push(forbidden(child(index(child(p, 'volumeMounts'), j), 'subPath'), 'cannot be set for an Ephemeral Container'));
      if (vm.subPathExpr) errs.push(forbidden(child(index(child(p, 'volumeMounts'), j), 'subPathExpr'), 'cannot be set for an Ephemeral Container'));
    });
  });
  return errs;
}

// ---- pod annotations ----

const MIRROR_POD_ANNOTATION = 'kubernetes.io/config.mirror';
const POD_DELETION_COST = 'controller.kubernetes.io/pod-deletion-cost';
const TOLERATIONS_ANNOTATION = 'scheduler.alpha.kubernetes.io/tolerations';

/** helper.GetDeletionCostFromPodAnnotations: no '+' sign or leading zeros, and within int32. */
function validDeletionCost(v: string): boolean {
  if (!(v.startsWith('-') || v === '0' || /^[1-9]/.test(v))) return false;
  if (!/^-?[0-9]+$/.test(v)) return false;
  const n = Number(v);
  return n >= -2147483648 && n <= MAX_INT32;
}

export function validatePodSpecificAnnotations(annotations: Record<string, string> | undefined, spec: PodSpec, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const a = annotations ?? {};
  if (MIRROR_POD_ANNOTATION in a && !spec.nodeName) {
    errs.push(invalid(key(path, MIRROR_POD_ANNOTATION), a[MIRROR_POD_ANNOTATION]!, 'must set spec.nodeName if mirror pod annotation is set'));
  }
  if (a[TOLERATIONS_ANNOTATION]) {
    try {
      const tolerations = JSON.parse(a[TOLERATIONS_ANNOTATION]) as Toleration[];
      errs.push(...validateTolerations(tolerations, child(path, TOLERATIONS_ANNOTATION)));
    } catch (e) {
      errs.push(invalid(path, TOLERATIONS_ANNOTATION, (e as Error).message));
    }
  }
  if (POD_DELETION_COST in a && !validDeletionCost(a[POD_DELETION_COST]!)) {
    errs.push(invalid(key(path, POD_DELETION_COST), a[POD_DELETION_COST]!, 'must be a 32bit integer'));
  }
  return errs;
}

// ---- pods ----

function validatePodMetadataAndSpec(pod: Pod): FieldError[] {
  const spec = pod.spec ?? ({} as PodSpec);
  const errs = validateObjectMeta(pod.metadata ?? {}, true, nameIsDNSSubdomain);
  errs.push(...validatePodSpecificAnnotations(pod.metadata?.annotations, spec, 'metadata.annotations'));
  errs.push(...validatePodSpec(spec, 'spec', { resourceIsPod: true }));
  if (!spec.serviceAccountName) {
    (spec.volumes ?? []).forEach((v, vi) => (v.projected?.sources ?? []).forEach((s, si) => {
      if (s.serviceAccountToken) {
        errs.push(forbidden(`spec.volumes[${vi}].projected.sources[${si}].serviceAccountToken`, 'must not be specified when serviceAccountName is not set'));
      }
    }));
  }
  for (const list of ['containers', 'initContainers'] as const) {
    (spec[list] ?? []).forEach((c, i) => {
      if (c.image !== undefined && c.image.trim() !== c.image) errs.push(invalid(`spec.${list}[${i}].image`, c.image, 'must not have leading or trailing whitespace'));
    });
  }
  return errs;
}

export function validatePodCreate(pod: Pod): FieldError[] {
  const errs = validatePodMetadataAndSpec(pod);
  const spec = pod.spec ?? ({} as PodSpec);
  if (spec.ephemeralContainers?.length) errs.push(forbidden('spec.ephemeralContainers', 'cannot be set on create'));
  if (spec.nodeName && spec.schedulingGates?.length) errs.push(forbidden('spec.nodeName', 'cannot be set until all schedulingGates have been cleared'));
  return errs;
}

const UPDATABLE_POD_SPEC_FIELDS = [
  '`spec.containers[*].image`',
  '`spec.initContainers[*].image`',
  '`spec.activeDeadlineSeconds`',
  '`spec.tolerations` (only additions to existing tolerations)',
  '`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)',
];

function validatePodSpecificAnnotationUpdates(pod: Pod, old: Pod): FieldError[] {
  const errs: FieldError[] = [];
  const path = 'metadata.annotations';
  const na = pod.metadata?.annotations ?? {};
  const oa = old.metadata?.annotations ?? {};
  for (const [k, v] of Object.entries(oa)) {
    if (k in na && na[k] === v) continue;
    if (k.startsWith('container.apparmor.security.beta.kubernetes.io/')) errs.push(forbidden(key(path, k), 'may not remove or update AppArmor annotations'));
    if (k === MIRROR_POD_ANNOTATION) errs.push(forbidden(key(path, k), 'may not remove or update mirror pod annotation'));
  }
  for (const k of Object.keys(na)) {
    if (k in oa) continue;
    if (k.startsWith('container.apparmor.security.beta.kubernetes.io/')) errs.push(forbidden(key(path, k), 'may not add AppArmor annotations'));
    if (k === MIRROR_POD_ANNOTATION) errs.push(forbidden(key(path, k), 'may not add mirror pod annotation'));
  }
  errs.push(...validatePodSpecificAnnotations(na, pod.spec ?? ({} as PodSpec), path));
  return errs;
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

/** JSON with sorted keys and empty containers dropped, for semantic equality of API objects. */
function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const c = canonical((v as Record<string, unknown>)[k]);
      if (c === undefined || c === null) continue;
      out[k] = c;
    }
    return out;
  }
  return v;
}

/**
 * A readable account of what changed in a pod spec. Upstream appends go-cmp's diff of the
 * internal structs, which we cannot reproduce byte for byte.
 */
function podSpecDiff(oldSpec: PodSpec, newSpec: PodSpec): string {
  const lines = ['  core.PodSpec{'];
  const o = canonical(oldSpec) as Record<string, unknown>;
  const n = canonical(newSpec) as Record<string, unknown>;
  for (const k of [...new Set([...Object.keys(o), ...Object.keys(n)])].sort()) {
    if (JSON.stringify(o[k]) === JSON.stringify(n[k])) continue;
    if (k in o) lines.push(`- \t${k}: ${JSON.stringify(o[k])},`);
    if (k in n) lines.push(`+ \t${k}: ${JSON.stringify(n[k])},`);
  }
  lines.push('  }');
  return lines.join('\n') + '\n';
}

function tolerationsOnlyAdded(newT: Toleration[] | undefined, oldT: Toleration[] | undefined, path: string): FieldError[] {
  for (const old of oldT ?? []) {
    const found = (newT ?? []).some((t) => deepEqual({ ...old, tolerationSeconds: undefined }, { ...t, tolerationSeconds: undefined }));
    if (!found) return [forbidden(path, 'existing toleration can not be modified except its tolerationSeconds')];
  }
  return validateTolerations(newT, path);
}

export function validatePodUpdate(pod: Pod, old: Pod): FieldError[] {
  const errs = validateObjectMetaUpdate(pod.metadata ?? {}, old.metadata ?? {});
  errs.push(...validatePodMetadataAndSpec(pod));
  errs.push(...validatePodSpecificAnnotationUpdates(pod, old));
  const spec = pod.spec ?? ({} as PodSpec);
  const oldSpec = old.spec ?? ({} as PodSpec);
  for (const list of ['containers', 'initContainers'] as const) {
    const nc = spec[list] ?? [];
    const oc = oldSpec[list] ?? [];
    if (nc.length !== oc.length) {
      errs.push(forbidden(`spec.${list}`, 'pod updates may not add or remove containers'));
      return errs;
    }
    nc.forEach((c, i) => {
      if (!c.image) errs.push(required(`spec.${list}[${i}].image`));
      if (c.image && c.image.trim() !== c.image) errs.push(invalid(`spec.${list}[${i}].image`, c.image, 'must not have leading or trailing whitespace'));
    });
  }
  const nads = spec.activeDeadlineSeconds;
  const oads = oldSpec.activeDeadlineSeconds;
  if (nads !== undefined && nads !== null) {
    if (nads < 0 || nads > MAX_INT32) {
      errs.push(invalid('spec.activeDeadlineSeconds', nads, inclusiveRangeError(0, MAX_INT32)));
      return errs;
    }
    if (oads !== undefined && oads !== null && oads < nads) {
      errs.push(invalid('spec.activeDeadlineSeconds', nads, 'must be less than or equal to previous value'));
      return errs;
    }
  } else if (oads !== undefined && oads !== null) {
    errs.push(invalid('spec.activeDeadlineSeconds', null, 'must not update from a positive integer to nil value'));
  }
  errs.push(...tolerationsOnlyAdded(spec.tolerations, oldSpec.tolerations, 'spec.tolerations'));
  const newGates = spec.schedulingGates ?? [];
  const oldGateNames = new Set((oldSpec.schedulingGates ?? []).map((g) => g.name));
  newGates.forEach((g, i) => {
    if (!oldGateNames.has(g.name)) errs.push(forbidden(`spec.schedulingGates[${i}].name`, `only deletion is allowed, but found new scheduling gate '${g.name}'`));
  });
  if (deepEqual(spec, oldSpec)) return errs;
  // Put back what may change, then anything still different is a forbidden change.
  const munged: PodSpec = JSON.parse(JSON.stringify(spec)) as PodSpec;
  munged.containers = (munged.containers ?? []).map((c, i) => ({ ...c, image: oldSpec.containers[i]!.image }));
  if (munged.initContainers) munged.initContainers = munged.initContainers.map((c, i) => ({ ...c, image: oldSpec.initContainers![i]!.image }));
  munged.activeDeadlineSeconds = oldSpec.activeDeadlineSeconds;
  munged.schedulingGates = oldSpec.schedulingGates;
  munged.tolerations = oldSpec.tolerations;
  const otg = oldSpec.terminationGracePeriodSeconds;
  if (otg !== undefined && otg < 0 && munged.terminationGracePeriodSeconds === 1) munged.terminationGracePeriodSeconds = otg;
  if ((oldSpec.schedulingGates ?? []).length > 0) {
    // A gated pod may still get scheduling constraints added.
    munged.nodeSelector = oldSpec.nodeSelector;
    if (munged.affinity || oldSpec.affinity) munged.affinity = { ...(munged.affinity ?? {}), nodeAffinity: oldSpec.affinity?.nodeAffinity };
  }
  if (!deepEqual(munged, oldSpec)) {
    errs.push(forbidden('spec', `pod updates may not change fields other than ${UPDATABLE_POD_SPEC_FIELDS.join(',')}\n${podSpecDiff(oldSpec, munged)}`));
  }
  return errs;
}

const SYSTEM_POD_CONDITIONS = ['PodScheduled', 'Ready', 'Initialized'];

function validateStatusIPs(list: { ip?: string }[] | undefined, path: string, what: 'PodIP' | 'HostIP'): FieldError[] {
  const errs: FieldError[] = [];
  const ips = (list ?? []).map((p) => p.ip ?? '');
  ips.forEach((ip, i) => errs.push(...validateIP(index(path, i), ip)));
  if (ips.length > 1) {
    const goList = new GoLiteral(`[]core.${what}{${ips.map((ip) => `core.${what}{IP:${goQuote(ip)}}`).join(', ')}}`);
    if (errs.length === 0 && (!isDualStack(ips.map(ipFamilyOf)) || ips.length > 2)) {
      errs.push(invalid(path, goList, 'may specify no more than one IP for each IP family'));
    }
    const seen = new Set<string>();
    ips.forEach((ip, i) => {
      if (seen.has(ip)) errs.push(duplicate(index(path, i), new GoLiteral(`core.${what}{IP:${goQuote(ip)}}`)));
      seen.add(ip);
    });
  }
  return errs;
}

function isTerminatedBlocking(status: { state?: { terminated?: { exitCode: number } } }, restartPolicy: string | undefined): boolean {
  const t = status.state?.terminated;
  if (!t) return false;
  return !(t.exitCode !== 0 && restartPolicy === 'OnFailure');
}

export function validatePodStatusUpdate(pod: Pod, old: Pod): FieldError[] {
  const errs = validateObjectMetaUpdate(pod.metadata ?? {}, old.metadata ?? {});
  errs.push(...validatePodSpecificAnnotationUpdates(pod, old));
  const status = pod.status ?? {};
  const oldStatus = old.status ?? {};
  (status.conditions ?? []).forEach((c, i) => {
    // Upstream reports custom condition types under metadata (sic).
    if (!SYSTEM_POD_CONDITIONS.includes(c.type)) errs.push(...qualifiedName(c.type, `metadata.conditions[${i}].Type`));
  });
  if ((pod.spec?.nodeName ?? '') !== (old.spec?.nodeName ?? '')) errs.push(forbidden('status.nodeName', 'may not be changed directly'));
  const nnn = status.nominatedNodeName;
  if (nnn && nnn !== oldStatus.nominatedNodeName) errs.push(...invalidEach('status.nominatedNodeName', nnn, nameIsDNSSubdomain(nnn, false)));
  if ((status.qosClass ?? '') !== (oldStatus.qosClass ?? '')) errs.push(invalid('status.qosClass', status.qosClass ?? '', FIELD_IMMUTABLE));
  const restartPolicy = old.spec?.restartPolicy;
  const transitions = (newList: typeof status.containerStatuses, oldList: typeof status.containerStatuses, path: string, policy: string | undefined, skip: (name: string) => boolean) => {
    if (policy === 'Always') return;
    (oldList ?? []).forEach((os, i) => {
      if (!isTerminatedBlocking(os, policy) || skip(os.name)) return;
      for (const ns of newList ?? []) {
        if (ns.name === os.name && !ns.state?.terminated) errs.push(forbidden(`${path}[${i}].state`, 'may not be transitioned to non-terminated state'));
      }
    });
  };
  transitions(status.containerStatuses, oldStatus.containerStatuses, 'status.containerStatuses', restartPolicy, () => false);
  const sidecars = new Set((old.spec?.initContainers ?? []).filter((c) => c.restartPolicy === 'Always').map((c) => c.name));
  transitions(status.initContainerStatuses, oldStatus.initContainerStatuses, 'status.initContainerStatuses', restartPolicy, (n) => sidecars.has(n));
  transitions(status.ephemeralContainerStatuses, oldStatus.ephemeralContainerStatuses, 'status.ephemeralContainerStatuses', 'Never', () => false);
  errs.push(...validateStatusIPs(status.podIPs, 'status.podIPs', 'PodIP'));
  const hostIPs = status.hostIPs ?? [];
  if (hostIPs.length) {
    if ((status.hostIP ?? '') !== (hostIPs[0]!.ip ?? '')) errs.push(invalid('status.hostIPs[0].ip', hostIPs[0]!.ip ?? '', 'must be equal to `hostIP`'));
    errs.push(...validateStatusIPs(hostIPs, 'status.hostIPs', 'HostIP'));
  }
  return errs;
}

// ---- pod templates ----

/** ValidatePodTemplateSpec. */
export function validatePodTemplateSpec(t: PodTemplateSpec | undefined, path: string): FieldError[] {
  const meta = t?.metadata ?? {};
  const spec = t?.spec ?? ({} as PodSpec);
  const errs = validateLabels(meta.labels, child(path, 'labels'));
  errs.push(...validateAnnotations(meta.annotations, child(path, 'annotations')));
  errs.push(...validatePodSpecificAnnotations(meta.annotations, spec, child(path, 'annotations')));
  errs.push(...validatePodSpec(spec, child(path, 'spec'), { resourceIsPod: false }));
  if (spec.ephemeralContainers?.length) errs.push(forbidden(child(path, 'spec', 'ephemeralContainers'), 'ephemeral containers not allowed in pod template'));
  return errs;
}

