// Service and Endpoints validation (pkg/apis/core/validation/validation.go, v1.32), plus the
// checks upstream's Service REST storage makes before allocating IPs and node ports.
import type { EndpointAddress, EndpointPort, Endpoints, Service, ServicePort, ServiceSpec } from 'kubernetes-types/core/v1.js';
import {
  child, duplicate, forbidden, GoLiteral, goQuote, goStringSlice, index, invalid, invalidEach, key, notSupported,
  required, type FieldError, type ValidationOptions,
} from './field.js';
import { ipFamilyOf, isDualStack, isIPv6String, validateCIDR, validateIP, validateNonSpecialIP } from './ip.js';
import { validateLabels } from './labels.js';
import { validateObjectMeta, validateObjectMetaUpdate } from './meta.js';
import { isDNS1123Label, isDNS1123Subdomain, isQualifiedName, isValidPortName, isValidPortNum, nameIsDNS1035Label, nameIsDNSSubdomain } from './names.js';

/** The service IP families kubelite's cluster has: single-stack IPv4. */
export const CLUSTER_IP_FAMILIES = ['IPv4'];
/** The default --service-node-port-range. */
export const NODE_PORT_RANGE = { base: 30000, size: 2768 };

const PORT_PROTOCOLS = ['SCTP', 'TCP', 'UDP'];
const SERVICE_TYPES = ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort'];
const IP_FAMILIES = ['IPv4', 'IPv6'];
const IP_FAMILY_POLICIES = ['PreferDualStack', 'RequireDualStack', 'SingleStack'];

type Spec = ServiceSpec & { trafficDistribution?: string };

export function isHeadless(spec: ServiceSpec | undefined): boolean {
  return spec?.clusterIPs?.length === 1 && spec.clusterIPs[0] === 'None';
}

/** apiservice.ExternallyAccessible. */
export function externallyAccessible(spec: ServiceSpec | undefined): boolean {
  const t = spec?.type;
  return t === 'LoadBalancer' || t === 'NodePort' || (t === 'ClusterIP' && (spec?.externalIPs?.length ?? 0) > 0);
}

function needsHealthCheck(spec: ServiceSpec): boolean {
  return spec.type === 'LoadBalancer' && spec.externalTrafficPolicy === 'Local';
}

function dns1123Label(value: string, field: string): FieldError[] {
  return invalidEach(field, value, isDNS1123Label(value));
}

/** `%#v` of the core.ServicePort upstream uses as the key of its duplicate check. */
function goServicePortKey(protocol: string, port: number): GoLiteral {
  return new GoLiteral(`core.ServicePort{Name:"", Protocol:${goQuote(protocol)}, AppProtocol:(*string)(nil), Port:${port}, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}`);
}

function validatePortNumOrName(port: number | string | undefined, field: string): FieldError[] {
  if (typeof port === 'number') return invalidEach(field, port, isValidPortNum(port));
  return invalidEach(field, port ?? '', isValidPortName(port ?? ''));
}

function validateServicePort(sp: ServicePort, requireName: boolean, names: Set<string>, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (requireName && !sp.name) errs.push(required(child(path, 'name')));
  else if (sp.name) {
    errs.push(...dns1123Label(sp.name, child(path, 'name')));
    if (names.has(sp.name)) errs.push(duplicate(child(path, 'name'), sp.name));
    else names.add(sp.name);
  }
  errs.push(...invalidEach(child(path, 'port'), sp.port, isValidPortNum(sp.port)));
  if (!sp.protocol) errs.push(required(child(path, 'protocol')));
  else if (!PORT_PROTOCOLS.includes(sp.protocol)) errs.push(notSupported(child(path, 'protocol'), sp.protocol, PORT_PROTOCOLS));
  errs.push(...validatePortNumOrName(sp.targetPort, child(path, 'targetPort')));
  if (sp.appProtocol !== undefined) errs.push(...invalidEach(child(path, 'appProtocol'), sp.appProtocol, isQualifiedName(sp.appProtocol)));
  return errs;
}

/** ValidateServiceClusterIPsRelatedFields. */
export function validateClusterIPsRelatedFields(spec: Spec): FieldError[] {
  if (spec.type === 'ExternalName') return [];
  const errs: FieldError[] = [];
  const clusterIPs = spec.clusterIPs ?? [];
  const ipsPath = 'spec.clusterIPs';
  if (spec.clusterIP) {
    if (clusterIPs.length === 0) errs.push(required(ipsPath));
    else if (clusterIPs[0] !== spec.clusterIP) errs.push(invalid(ipsPath, goStringSlice(spec.clusterIPs), 'first value must match `clusterIP`'));
  } else if (clusterIPs.length) {
    errs.push(invalid(ipsPath, goStringSlice(spec.clusterIPs), 'must be empty when `clusterIP` is not specified'));
  }
  const seen = new Set<string>();
  (spec.ipFamilies ?? []).forEach((f, i) => {
    if (!IP_FAMILIES.includes(f)) errs.push(notSupported(index('spec.ipFamilies', i), f, IP_FAMILIES));
    if (seen.has(f)) errs.push(duplicate(index('spec.ipFamilies', i), f));
    seen.add(f);
  });
  if (spec.ipFamilyPolicy !== undefined && !IP_FAMILY_POLICIES.includes(spec.ipFamilyPolicy)) {
    errs.push(notSupported('spec.ipFamilyPolicy', spec.ipFamilyPolicy, IP_FAMILY_POLICIES));
  }
  let invalidIPs = false;
  clusterIPs.forEach((ip, i) => {
    if (i === 0 && ip === 'None') {
      if (clusterIPs.length > 1) {
        invalidIPs = true;
        errs.push(invalid(ipsPath, goStringSlice(clusterIPs), "'None' must be the first and only value"));
      }
      return;
    }
    const e = validateIP(index(ipsPath, i), ip);
    if (e.length) invalidIPs = true;
    errs.push(...e);
  });
  if (clusterIPs.length > 2) errs.push(invalid(ipsPath, goStringSlice(clusterIPs), 'may only hold up to 2 values'));
  if (invalidIPs) return errs;
  if (clusterIPs.length > 1 && !isDualStack(clusterIPs.map(ipFamilyOf))) {
    errs.push(invalid(ipsPath, goStringSlice(clusterIPs), 'may specify no more than one IP for each IP family'));
  }
  const families = spec.ipFamilies ?? [];
  if (!isHeadless(spec) && clusterIPs.length && families.length) {
    clusterIPs.forEach((ip, i) => {
      if (i > families.length - 1) return;
      if (families[i] === 'IPv4' && isIPv6String(ip)) errs.push(invalid(index(ipsPath, i), ip, `expected an IPv4 value as indicated by \`ipFamilies[${i}]\``));
      if (families[i] === 'IPv6' && !isIPv6String(ip)) errs.push(invalid(index(ipsPath, i), ip, `expected an IPv6 value as indicated by \`ipFamilies[${i}]\``));
    });
  }
  return errs;
}

/**
 * The checks the Service REST storage makes of IP families against what the cluster is configured
 * with (initIPFamilyFields), which upstream reports before any other validation.
 */
function validateClusterIPFamilies(spec: Spec, old: Spec | undefined): FieldError[] {
  if (spec.type === 'ExternalName' || isUnchangedPreferDualStack(spec, old)) return [];
  const errs: FieldError[] = [];
  const policy = spec.ipFamilyPolicy;
  const clusterIPs = spec.clusterIPs ?? [];
  const families = spec.ipFamilies ?? [];
  if (old && policy !== 'SingleStack') {
    // An empty list means "not specified", not "reduced".
    if (clusterIPs.length && clusterIPs.length < (old.clusterIPs ?? []).length) {
      errs.push(invalid('spec.ipFamilyPolicy', policy ?? null, "must be 'SingleStack' to release the secondary cluster IP"));
    }
    if (families.length && families.length < (old.ipFamilies ?? []).length) {
      errs.push(invalid('spec.ipFamilyPolicy', policy ?? null, "must be 'SingleStack' to release the secondary IP family"));
    }
  }
  if (policy === 'SingleStack') {
    if (clusterIPs.length === 2) errs.push(invalid('spec.ipFamilyPolicy', policy, "must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified"));
    if (families.length === 2) errs.push(invalid('spec.ipFamilyPolicy', policy, "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified"));
  }
  clusterIPs.forEach((ip, i) => {
    if (ip === 'None' || i < families.length) return;
    const fam = ipFamilyOf(ip);
    if (fam && !CLUSTER_IP_FAMILIES.includes(fam)) errs.push(invalid(index('spec.clusterIPs', i), goStringSlice(clusterIPs), `${fam} is not configured on this cluster`));
  });
  if (errs.length) return errs;
  // Headless services without a selector may name any families.
  if (spec.clusterIP === 'None' && Object.keys(spec.selector ?? {}).length === 0) return errs;
  if (policy === 'RequireDualStack' && CLUSTER_IP_FAMILIES.length < 2) {
    errs.push(invalid('spec.ipFamilyPolicy', policy, 'this cluster is not configured for dual-stack services'));
  }
  families.forEach((f, i) => {
    if (!CLUSTER_IP_FAMILIES.includes(f)) errs.push(invalid(index('spec.ipFamilies', i), f, 'not configured on this cluster'));
  });
  return errs;
}

/** The node-port allocator's range check; it stops at the first port it cannot allocate. */
function validateNodePortRange(spec: Spec, old: Spec | undefined): FieldError[] {
  if (spec.type !== 'NodePort' && spec.type !== 'LoadBalancer') return [];
  const { base, size } = NODE_PORT_RANGE;
  const kept = new Set((old?.ports ?? []).map((p) => p.nodePort).filter(Boolean));
  const ports = spec.ports ?? [];
  for (let i = 0; i < ports.length; i++) {
    const np = ports[i]!.nodePort;
    if (!np || kept.has(np)) continue;
    if (np < base || np >= base + size) {
      return [invalid(child(index('spec.ports', i), 'nodePort'), np,
        `provided port is not in the valid range. The range of valid ports is ${base}-${base + size - 1}`)];
    }
  }
  return [];
}

/** isMatchingPreferDualStackClusterIPFields: an update that leaves a PreferDualStack service's IPs alone. */
export function isUnchangedPreferDualStack(spec: Spec, old: Spec | undefined): boolean {
  if (!old || spec.ipFamilyPolicy === undefined || old.type !== spec.type) return false;
  if (spec.type !== 'ClusterIP' && spec.type !== 'NodePort' && spec.type !== 'LoadBalancer') return false;
  if (spec.ipFamilyPolicy !== 'PreferDualStack' || (old.ipFamilyPolicy !== undefined && old.ipFamilyPolicy !== 'PreferDualStack')) return false;
  const same = (a: string[] | undefined, b: string[] | undefined) => JSON.stringify(a ?? []) === JSON.stringify(b ?? []);
  return same(spec.clusterIPs, old.clusterIPs) && same(spec.ipFamilies, old.ipFamilies);
}

/**
 * What upstream's Service storage rejects while preparing IP and port allocation, before (and
 * instead of) the validation proper: each step reports its errors alone.
 */
export function serviceStorageErrors(svc: Service, old: Service | undefined): FieldError[] {
  const spec: Spec = svc.spec ?? {};
  const oldSpec: Spec | undefined = old?.spec;
  if (spec.type !== 'ExternalName' && !isUnchangedPreferDualStack(spec, oldSpec)) {
    const related = validateClusterIPsRelatedFields(spec);
    if (related.length) return related;
    const families = validateClusterIPFamilies(spec, oldSpec);
    if (families.length) return families;
  }
  return validateNodePortRange(spec, oldSpec);
}

const LB_IP_MODES = ['Proxy', 'VIP'];

/** ValidateService. */
export function validateService(svc: Service, opts: ValidationOptions = {}): FieldError[] {
  const spec: Spec = svc.spec ?? {};
  const errs = validateObjectMeta(svc.metadata ?? {}, true, nameIsDNS1035Label);
  const ann = svc.metadata?.annotations ?? {};
  const hints = ann['service.kubernetes.io/topology-aware-hints'];
  const mode = ann['service.kubernetes.io/topology-mode'];
  if (hints !== undefined && mode !== undefined && hints !== mode) {
    errs.push(invalid(key('metadata.annotations', 'service.kubernetes.io/topology-mode'), mode, 'must match annotations[service.kubernetes.io/topology-aware-hints] when both are specified'));
  }
  const headless = isHeadless(spec);
  const ports = spec.ports ?? [];
  if (ports.length === 0 && !headless && spec.type !== 'ExternalName') errs.push(required('spec.ports'));
  switch (spec.type) {
    case 'LoadBalancer':
      if (headless) errs.push(invalid('spec.clusterIPs[0]', 'None', "may not be set to 'None' for LoadBalancer services"));
      break;
    case 'NodePort':
      if (headless) errs.push(invalid('spec.clusterIPs[0]', 'None', "may not be set to 'None' for NodePort services"));
      break;
    case 'ExternalName': {
      if (spec.clusterIPs?.length) errs.push(forbidden('spec.clusterIPs', 'may not be set for ExternalName services'));
      if (spec.ipFamilies?.length) errs.push(forbidden('spec.ipFamilies', 'may not be set for ExternalName services'));
      if (spec.ipFamilyPolicy !== undefined) errs.push(forbidden('spec.ipFamilyPolicy', 'may not be set for ExternalName services'));
      // The name (a CNAME) may end in a dot to mark it fully qualified.
      const cname = (spec.externalName ?? '').replace(/\.$/, '');
      if (cname) errs.push(...invalidEach('spec.externalName', cname, isDNS1123Subdomain(cname)));
      else errs.push(required('spec.externalName'));
      break;
    }
  }
  const names = new Set<string>();
  ports.forEach((p, i) => errs.push(...validateServicePort(p, ports.length > 1, names, index('spec.ports', i))));
  if (spec.selector) errs.push(...validateLabels(spec.selector, 'spec.selector'));
  const sa = spec.sessionAffinity;
  if (!sa) errs.push(required('spec.sessionAffinity'));
  else if (sa !== 'ClientIP' && sa !== 'None') errs.push(notSupported('spec.sessionAffinity', sa, ['ClientIP', 'None']));
  if (sa === 'ClientIP') {
    const cfgPath = 'spec.sessionAffinityConfig';
    const cfg = spec.sessionAffinityConfig;
    if (!cfg) errs.push(required(cfgPath, 'when session affinity type is ClientIP'));
    else if (!cfg.clientIP) errs.push(required(child(cfgPath, 'clientIP'), 'when session affinity type is ClientIP'));
    else if (cfg.clientIP.timeoutSeconds === undefined || cfg.clientIP.timeoutSeconds === null) {
      errs.push(required(child(cfgPath, 'clientIP', 'timeoutSeconds'), 'when session affinity type is ClientIP'));
    } else {
      const t = cfg.clientIP.timeoutSeconds;
      if (t <= 0 || t > 86400) errs.push(invalid(child(cfgPath, 'clientIP', 'timeoutSeconds'), t, 'must be greater than 0 and less than 86400'));
    }
  } else if (sa === 'None' && spec.sessionAffinityConfig) {
    errs.push(forbidden('spec.sessionAffinityConfig', 'must not be set when session affinity is None'));
  }
  errs.push(...validateClusterIPsRelatedFields(spec));
  (spec.externalIPs ?? []).forEach((ip, i) => {
    const p = index('spec.externalIPs', i);
    const e = validateIP(p, ip);
    errs.push(...(e.length ? e : validateNonSpecialIP(p, ip, opts.allowLoopbackEndpoints)));
  });
  if (!spec.type) errs.push(required('spec.type'));
  else if (!SERVICE_TYPES.includes(spec.type)) errs.push(notSupported('spec.type', spec.type, SERVICE_TYPES));
  if (spec.type === 'ClusterIP') {
    ports.forEach((p, i) => {
      if (p.nodePort) errs.push(forbidden(child(index('spec.ports', i), 'nodePort'), "may not be used when `type` is 'ClusterIP'"));
    });
  }
  const nodePorts = new Set<string>();
  ports.forEach((p, i) => {
    if (!p.nodePort) return;
    const k = `${p.protocol}/${p.nodePort}`;
    if (nodePorts.has(k)) errs.push(duplicate(child(index('spec.ports', i), 'nodePort'), p.nodePort));
    nodePorts.add(k);
  });
  const portKeys = new Set<string>();
  ports.forEach((p, i) => {
    const k = `${p.protocol}/${p.port}`;
    if (portKeys.has(k)) errs.push(duplicate(index('spec.ports', i), goServicePortKey(p.protocol ?? '', p.port)));
    portKeys.add(k);
  });
  const ranges = spec.loadBalancerSourceRanges ?? [];
  const rangesAnnotation = ann['service.beta.kubernetes.io/load-balancer-source-ranges'];
  if (ranges.length) {
    const p = 'spec.LoadBalancerSourceRanges';
    if (spec.type !== 'LoadBalancer') errs.push(forbidden(p, "may only be used when `type` is 'LoadBalancer'"));
    ranges.forEach((r, i) => errs.push(...validateCIDR(index(p, i), r.trim())));
  } else if (rangesAnnotation !== undefined) {
    const p = key('metadata.annotations', 'service.beta.kubernetes.io/load-balancer-source-ranges');
    if (spec.type !== 'LoadBalancer') errs.push(forbidden(p, "may only be used when `type` is 'LoadBalancer'"));
    const v = rangesAnnotation.trim();
    if (v) for (const r of v.split(',')) errs.push(...validateCIDR(p, r.trim()));
  }
  if (spec.allocateLoadBalancerNodePorts !== undefined && spec.type !== 'LoadBalancer') {
    errs.push(forbidden('spec.allocateLoadBalancerNodePorts', "may only be used when `type` is 'LoadBalancer'"));
  }
  // Upstream reports this one without the "spec." prefix.
  if (spec.type === 'LoadBalancer' && spec.allocateLoadBalancerNodePorts === undefined) errs.push(required('allocateLoadBalancerNodePorts'));
  errs.push(...validateLoadBalancerClass(spec, undefined));
  if (!externallyAccessible(spec)) {
    if (spec.externalTrafficPolicy) errs.push(invalid('spec.externalTrafficPolicy', spec.externalTrafficPolicy, 'may only be set for externally-accessible services'));
  } else if (!spec.externalTrafficPolicy) {
    errs.push(required('spec.externalTrafficPolicy'));
  } else if (spec.externalTrafficPolicy !== 'Cluster' && spec.externalTrafficPolicy !== 'Local') {
    errs.push(notSupported('spec.externalTrafficPolicy', spec.externalTrafficPolicy, ['Cluster', 'Local']));
  }
  const hc = spec.healthCheckNodePort ?? 0;
  if (!needsHealthCheck(spec)) {
    if (hc) errs.push(invalid('spec.healthCheckNodePort', hc, "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"));
  } else if (!hc) {
    errs.push(required('spec.healthCheckNodePort'));
  } else {
    errs.push(...invalidEach('spec.healthCheckNodePort', hc, isValidPortNum(hc)));
  }
  const itp = spec.internalTrafficPolicy;
  if (itp === undefined) {
    if (spec.type === 'NodePort' || spec.type === 'LoadBalancer' || spec.type === 'ClusterIP') errs.push(required('spec.internalTrafficPolicy'));
  } else if (itp !== 'Cluster' && itp !== 'Local') {
    errs.push(notSupported('spec.internalTrafficPolicy', itp, ['Cluster', 'Local']));
  }
  if (spec.trafficDistribution !== undefined && spec.trafficDistribution !== 'PreferClose') {
    errs.push(notSupported('spec.trafficDistribution', spec.trafficDistribution, ['PreferClose']));
  }
  return errs;
}

function validateLoadBalancerClass(spec: Spec, old: Spec | undefined): FieldError[] {
  const errs: FieldError[] = [];
  const p = 'spec.loadBalancerClass';
  if (old && old.type === 'LoadBalancer' && spec.type === 'LoadBalancer' && (old.loadBalancerClass ?? null) !== (spec.loadBalancerClass ?? null)) {
    errs.push(invalid(p, spec.loadBalancerClass ?? null, 'may not change once set'));
  }
  if (spec.type === 'LoadBalancer') {
    if (spec.loadBalancerClass !== undefined) errs.push(...invalidEach(p, spec.loadBalancerClass, isQualifiedName(spec.loadBalancerClass)));
  } else if (spec.loadBalancerClass !== undefined) {
    errs.push(forbidden(p, "may only be used when `type` is 'LoadBalancer'"));
  }
  return errs;
}


function upgradeDowngradeClusterIPs(spec: Spec, old: Spec): FieldError[] {
  if (spec.type === 'ExternalName' || old.type === 'ExternalName') return [];
  if (isHeadless(old) && isHeadless(spec)) return [];
  const errs: FieldError[] = [];
  const n = spec.clusterIPs ?? [];
  const o = old.clusterIPs ?? [];
  const value = goStringSlice(spec.clusterIPs);
  if (o.length === n.length) {
    o.forEach((ip, i) => {
      if (ip !== n[i]) errs.push(invalid(index('spec.clusterIPs', i), value, 'may not change once set'));
    });
  } else if (o.length > n.length) {
    if (n.length === 0) errs.push(invalid('spec.clusterIPs[0]', value, 'primary clusterIP can not be unset'));
    if (o.length && n.length && n[0] !== o[0]) errs.push(invalid('spec.clusterIPs[0]', value, 'may not change once set'));
    if (n.length === 1 && spec.ipFamilyPolicy !== 'SingleStack') {
      errs.push(invalid('spec.ipFamilyPolicy', spec.ipFamilyPolicy ?? null, "must be set to 'SingleStack' when releasing the secondary clusterIP"));
    }
  } else if (o.length && n[0] !== o[0]) {
    errs.push(invalid('spec.clusterIPs[0]', value, 'may not change once set'));
  }
  return errs;
}

function upgradeDowngradeIPFamilies(spec: Spec, old: Spec): FieldError[] {
  if (spec.type === 'ExternalName' || old.type === 'ExternalName') return [];
  if (isHeadless(spec) !== isHeadless(old) || isHeadless(spec)) return [];
  const errs: FieldError[] = [];
  const n = spec.ipFamilies ?? [];
  const o = old.ipFamilies ?? [];
  if (o.length === n.length) {
    o.forEach((f, i) => {
      if (f !== n[i]) errs.push(invalid('spec.ipFamilies[0]', goStringSlice(spec.ipFamilies, '[]core.IPFamily'), 'may not change once set'));
    });
  } else if (o.length > n.length) {
    if ((spec.clusterIPs ?? []).length === 0) errs.push(invalid('spec.ipFamilies[0]', goStringSlice(spec.ipFamilies, '[]core.IPFamily'), 'primary ipFamily can not be unset'));
    if (n.length && n[0] !== o[0]) errs.push(invalid('spec.ipFamilies[0]', goStringSlice(spec.clusterIPs), 'may not change once set'));
    if (n.length === 1 && spec.ipFamilyPolicy !== 'SingleStack') {
      errs.push(invalid('spec.ipFamilyPolicy', spec.ipFamilyPolicy ?? null, "must be set to 'SingleStack' when releasing the secondary ipFamily"));
    }
  } else if (o.length && n.length && n[0] !== o[0]) {
    errs.push(invalid('spec.ipFamilies[0]', goStringSlice(spec.clusterIPs), 'may not change once set'));
  }
  return errs;
}

export function validateServiceUpdate(svc: Service, old: Service, opts: ValidationOptions = {}): FieldError[] {
  const spec: Spec = svc.spec ?? {};
  const oldSpec: Spec = old.spec ?? {};
  const errs = validateObjectMetaUpdate(svc.metadata ?? {}, old.metadata ?? {});
  errs.push(...upgradeDowngradeClusterIPs(spec, oldSpec));
  errs.push(...upgradeDowngradeIPFamilies(spec, oldSpec));
  errs.push(...validateLoadBalancerClass(spec, oldSpec));
  if (needsHealthCheck(oldSpec) && needsHealthCheck(spec) && spec.healthCheckNodePort !== oldSpec.healthCheckNodePort) {
    errs.push(forbidden('spec.healthCheckNodePort', 'field is immutable'));
  }
  errs.push(...validateService(svc, opts));
  return errs;
}

export function validateServiceStatusUpdate(svc: Service, old: Service): FieldError[] {
  const errs = validateObjectMetaUpdate(svc.metadata ?? {}, old.metadata ?? {});
  const path = 'status.loadBalancer.ingress';
  const ingress = svc.status?.loadBalancer?.ingress ?? [];
  if (svc.spec?.type !== 'LoadBalancer' && ingress.length) {
    errs.push(forbidden(path, "may only be used when `spec.type` is 'LoadBalancer'"));
    return errs;
  }
  ingress.forEach((ing, i) => {
    const p = index(path, i);
    if (ing.ip) errs.push(...validateIP(child(p, 'ip'), ing.ip));
    if (ing.ipMode === undefined) {
      if (ing.ip) errs.push(required(child(p, 'ipMode'), 'must be specified when `ip` is set'));
    } else if (!ing.ip) {
      errs.push(forbidden(child(p, 'ipMode'), 'may not be specified when `ip` is not set'));
    } else if (!LB_IP_MODES.includes(ing.ipMode)) {
      errs.push(notSupported(child(p, 'ipMode'), ing.ipMode, LB_IP_MODES));
    }
    if (ing.hostname) {
      errs.push(...invalidEach(child(p, 'hostname'), ing.hostname, isDNS1123Subdomain(ing.hostname)));
      if (ipFamilyOf(ing.hostname)) errs.push(invalid(child(p, 'hostname'), ing.hostname, 'must be a DNS name, not an IP address'));
    }
  });
  return errs;
}

// ---- Endpoints ----

function validateEndpointAddress(a: EndpointAddress, path: string, opts: ValidationOptions): FieldError[] {
  // A missing ip decodes to "" in Go; validate it as such.
  const ip = a.ip ?? '';
  const errs = validateIP(child(path, 'ip'), ip);
  if (a.hostname) errs.push(...dns1123Label(a.hostname, child(path, 'hostname')));
  if (a.nodeName !== undefined) errs.push(...invalidEach(child(path, 'nodeName'), a.nodeName, nameIsDNSSubdomain(a.nodeName, false)));
  errs.push(...validateNonSpecialIP(child(path, 'ip'), ip, opts.allowLoopbackEndpoints));
  return errs;
}

function validateEndpointPort(p: EndpointPort, requireName: boolean, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (requireName && !p.name) errs.push(required(child(path, 'name')));
  else if (p.name) errs.push(...dns1123Label(p.name, child(path, 'name')));
  errs.push(...invalidEach(child(path, 'port'), p.port, isValidPortNum(p.port)));
  if (!p.protocol) errs.push(required(child(path, 'protocol')));
  else if (!PORT_PROTOCOLS.includes(p.protocol)) errs.push(notSupported(child(path, 'protocol'), p.protocol, PORT_PROTOCOLS));
  if (p.appProtocol !== undefined) errs.push(...invalidEach(child(path, 'appProtocol'), p.appProtocol, isQualifiedName(p.appProtocol)));
  return errs;
}

/** ValidateEndpoints (create and update alike). */
export function validateEndpoints(ep: Endpoints, opts: ValidationOptions = {}): FieldError[] {
  const errs = validateObjectMeta(ep.metadata ?? {}, true, nameIsDNSSubdomain);
  (ep.subsets ?? []).forEach((ss, i) => {
    const p = index('subsets', i);
    if (!ss.addresses?.length && !ss.notReadyAddresses?.length) errs.push(required(p, 'must specify `addresses` or `notReadyAddresses`'));
    (ss.addresses ?? []).forEach((a, j) => errs.push(...validateEndpointAddress(a, index(child(p, 'addresses'), j), opts)));
    (ss.notReadyAddresses ?? []).forEach((a, j) => errs.push(...validateEndpointAddress(a, index(child(p, 'notReadyAddresses'), j), opts)));
    const ports = ss.ports ?? [];
    ports.forEach((port, j) => errs.push(...validateEndpointPort(port, ports.length > 1, index(child(p, 'ports'), j))));
  });
  return errs;
}

export function validateEndpointsUpdate(ep: Endpoints, old: Endpoints, opts: ValidationOptions = {}): FieldError[] {
  return [...validateObjectMetaUpdate(ep.metadata ?? {}, old.metadata ?? {}), ...validateEndpoints(ep, opts)];
}
