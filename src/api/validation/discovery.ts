// EndpointSlice validation (pkg/apis/discovery/validation, v1.32).
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { child, duplicate, index, invalid, invalidEach, notSupported, required, tooMany, type FieldError, type ValidationOptions } from './field.js';
import { validateIPv4Address, validateIPv6Address, validateNonSpecialIP } from './ip.js';
import { validateLabels } from './labels.js';
import { validateObjectMeta, validateObjectMetaUpdate } from './meta.js';
import { fullyQualifiedDomainNameError, isDNS1123Label, isQualifiedName, isValidLabelValue, nameIsDNSSubdomain } from './names.js';

const ADDRESS_TYPES = ['FQDN', 'IPv4', 'IPv6'];
const PORT_PROTOCOLS = ['SCTP', 'TCP', 'UDP'];
const MAX_TOPOLOGY_LABELS = 16;
const MAX_ADDRESSES = 100;
const MAX_PORTS = 20000;
const MAX_ENDPOINTS = 1000;
const MAX_ZONE_HINTS = 8;

function validateEndpoints(slice: EndpointSlice, opts: ValidationOptions): FieldError[] {
  const endpoints = slice.endpoints ?? [];
  if (endpoints.length > MAX_ENDPOINTS) return [tooMany('endpoints', endpoints.length, MAX_ENDPOINTS)];
  const errs: FieldError[] = [];
  endpoints.forEach((ep, i) => {
    const p = index('endpoints', i);
    const ap = child(p, 'addresses');
    const addrs = ep.addresses ?? [];
    if (addrs.length === 0) errs.push(required(ap, 'must contain at least 1 address'));
    else if (addrs.length > MAX_ADDRESSES) errs.push(tooMany(ap, addrs.length, MAX_ADDRESSES));
    addrs.forEach((a, j) => {
      const f = index(ap, j);
      // Addresses of unknown types are left alone; the type itself is reported below.
      switch (slice.addressType) {
        case 'IPv4':
          errs.push(...validateIPv4Address(f, a), ...validateNonSpecialIP(f, a, opts.allowLoopbackEndpoints));
          break;
        case 'IPv6':
          errs.push(...validateIPv6Address(f, a), ...validateNonSpecialIP(f, a, opts.allowLoopbackEndpoints));
          break;
        case 'FQDN': {
          const e = fullyQualifiedDomainNameError(a);
          if (e === 'required') errs.push(required(f));
          else if (e) errs.push(invalid(f, e.value, e.message));
          break;
        }
      }
    });
    if (ep.nodeName !== undefined) errs.push(...invalidEach(child(p, 'nodeName'), ep.nodeName, nameIsDNSSubdomain(ep.nodeName, false)));
    const tp = child(p, 'deprecatedTopology');
    const topology = ep.deprecatedTopology ?? {};
    if (Object.keys(topology).length > MAX_TOPOLOGY_LABELS) errs.push(tooMany(tp, Object.keys(topology).length, MAX_TOPOLOGY_LABELS));
    errs.push(...validateLabels(topology, tp));
    if (ep.hostname !== undefined) errs.push(...invalidEach(child(p, 'hostname'), ep.hostname, isDNS1123Label(ep.hostname)));
    const zones = ep.hints?.forZones;
    if (zones) {
      const zp = child(p, 'hints', 'forZones');
      if (zones.length > MAX_ZONE_HINTS) {
        errs.push(tooMany(zp, zones.length, MAX_ZONE_HINTS));
      } else {
        const seen = new Set<string>();
        zones.forEach((z, k) => {
          const np = child(index(zp, k), 'name');
          if (seen.has(z.name)) errs.push(duplicate(np, z.name));
          seen.add(z.name);
          errs.push(...invalidEach(np, z.name, isValidLabelValue(z.name)));
        });
      }
    }
  });
  return errs;
}

function validatePorts(slice: EndpointSlice): FieldError[] {
  const ports = slice.ports ?? [];
  if (ports.length > MAX_PORTS) return [tooMany('ports', ports.length, MAX_PORTS)];
  const errs: FieldError[] = [];
  const names = new Set<string>();
  ports.forEach((port, i) => {
    const p = index('ports', i);
    const name = port.name ?? '';
    if (name) errs.push(...invalidEach(child(p, 'name'), name, isDNS1123Label(name)));
    if (names.has(name)) errs.push(duplicate(child(p, 'name'), name));
    names.add(name);
    if (port.protocol === undefined) errs.push(required(child(p, 'protocol')));
    else if (!PORT_PROTOCOLS.includes(port.protocol)) errs.push(notSupported(child(p, 'protocol'), port.protocol, PORT_PROTOCOLS));
    if (port.appProtocol !== undefined) errs.push(...invalidEach(child(p, 'appProtocol'), port.appProtocol, isQualifiedName(port.appProtocol)));
  });
  return errs;
}

export function validateEndpointSlice(slice: EndpointSlice, opts: ValidationOptions = {}): FieldError[] {
  const errs = validateObjectMeta(slice.metadata ?? {}, true, nameIsDNSSubdomain);
  const at = slice.addressType;
  if (!at) errs.push(required('addressType'));
  else if (!ADDRESS_TYPES.includes(at)) errs.push(notSupported('addressType', at, ADDRESS_TYPES));
  errs.push(...validateEndpoints(slice, opts));
  errs.push(...validatePorts(slice));
  return errs;
}

export function validateEndpointSliceUpdate(slice: EndpointSlice, old: EndpointSlice, opts: ValidationOptions = {}): FieldError[] {
  const errs = [...validateObjectMetaUpdate(slice.metadata ?? {}, old.metadata ?? {}), ...validateEndpointSlice(slice, opts)];
  if ((slice.addressType ?? '') !== (old.addressType ?? '')) errs.push(invalid('addressType', slice.addressType ?? '', 'field is immutable'));
  return errs;
}
