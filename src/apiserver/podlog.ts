// The pods/log subresource (pkg/registry/core/pod/rest/log.go, pod.LogLocation): GET
// /api/v1/namespaces/<ns>/pods/<name>/log decodes and validates PodLogOptions, picks the
// container (the only one when none is named), finds the pod's node and streams what the node
// agent's containerLogs endpoint answers, as upstream's LocationStreamer does. An unscheduled pod
// has an empty log; the node's errors become Status errors as its GenericHttpResponseChecker
// makes them.
import http from 'node:http';
import type { ServerResponse } from 'node:http';
import type { Node, Pod } from 'kubernetes-types/core/v1.js';
import { RESOURCES } from '../api/resources.js';
import { forbidden, invalid } from '../api/validation/field.js';
import { IS_NEGATIVE } from '../api/validation/meta.js';
import { invalidMessage } from '../api/validation/index.js';
import type { FieldError } from '../api/types.js';
import { ApiError, errors } from './errors.js';
import type { Registry } from './registry.js';

const PODS = RESOURCES.find((r) => r.plural === 'pods')!;
const NODES = RESOURCES.find((r) => r.plural === 'nodes')!;
const POD_LOG = { group: '', plural: 'pods/log' };
/** The kubelet port the API server assumes when a node reports none (--kubelet-port). */
const DEFAULT_KUBELET_PORT = 10250;
/** How much of a failed node response becomes the error message (upstream's maxReadLength). */
const MAX_ERROR_BODY = 50_000;

interface PodLogOptions {
  container?: string;
  follow: boolean;
  previous: boolean;
  timestamps: boolean;
  sinceSeconds?: number;
  sinceTime?: string;
  tailLines?: number;
  limitBytes?: number;
}

function parseBool(q: URLSearchParams, k: string): boolean {
  const v = q.get(k);
  if (v === null || v === '') return false;
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  throw errors.badRequest(`strconv.ParseBool: parsing ${JSON.stringify(v)}: invalid syntax`);
}

function parseInt64(q: URLSearchParams, k: string): number | undefined {
  const v = q.get(k);
  if (v === null || v === '') return undefined;
  if (!/^[+-]?\d+$/.test(v)) throw errors.badRequest(`strconv.ParseInt: parsing ${JSON.stringify(v)}: invalid syntax`);
  return Number(v);
}

/** The query parameters as the parameter codec decodes them into v1.PodLogOptions. */
function decodeOptions(q: URLSearchParams): PodLogOptions {
  const sinceTime = q.get('sinceTime') || undefined;
  if (sinceTime !== undefined && !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(sinceTime)) {
    throw errors.badRequest(`parsing time ${JSON.stringify(sinceTime)} as "2006-01-02T15:04:05Z07:00": cannot parse ${JSON.stringify(sinceTime)} as "2006"`);
  }
  return {
    container: q.get('container') || undefined,
    follow: parseBool(q, 'follow'),
    previous: parseBool(q, 'previous'),
    timestamps: parseBool(q, 'timestamps'),
    sinceSeconds: parseInt64(q, 'sinceSeconds'),
    sinceTime,
    tailLines: parseInt64(q, 'tailLines'),
    limitBytes: parseInt64(q, 'limitBytes'),
  };
}

/** ValidatePodLogOptions. */
function validateOptions(o: PodLogOptions): FieldError[] {
  const errs: FieldError[] = [];
  if (o.tailLines !== undefined && o.tailLines < 0) errs.push(invalid('tailLines', o.tailLines, IS_NEGATIVE));
  if (o.limitBytes !== undefined && o.limitBytes < 1) errs.push(invalid('limitBytes', o.limitBytes, 'must be greater than 0'));
  if (o.sinceSeconds !== undefined && o.sinceTime !== undefined) {
    errs.push(forbidden('', 'at most one of `sinceTime` or `sinceSeconds` may be specified'));
  } else if (o.sinceSeconds !== undefined && o.sinceSeconds < 1) {
    errs.push(invalid('sinceSeconds', o.sinceSeconds, 'must be greater than 0'));
  }
  return errs;
}

/** validateContainer: a named container must exist; no name is fine only for single-container pods. */
function chooseContainer(pod: Pod, name: string | undefined): string {
  const spec = pod.spec!;
  const podName = pod.metadata?.name ?? '';
  if (!name) {
    if (spec.containers.length === 1) return spec.containers[0]!.name;
    if (spec.containers.length === 0) throw errors.badRequest(`a container name must be specified for pod ${podName}`);
    const all = [...(spec.initContainers ?? []), ...spec.containers, ...(spec.ephemeralContainers ?? [])].map((c) => c.name);
    throw errors.badRequest(`a container name must be specified for pod ${podName}, choose one of: [${all.join(' ')}]`);
  }
  const known = [...(spec.initContainers ?? []), ...spec.containers, ...(spec.ephemeralContainers ?? [])].some((c) => c.name === name);
  if (!known) throw errors.badRequest(`container ${name} is not valid for pod ${podName}`);
  return name;
}

/** The node's address and port as the kubelet connection info getter finds them. */
function kubeletLocation(node: Node): { host: string; port: number } {
  const addresses = node.status?.addresses ?? [];
  const address = addresses.find((a) => a.type === 'InternalIP') ?? addresses.find((a) => a.type === 'Hostname') ?? addresses[0];
  if (!address) throw new ApiError(500, '', `no preferred addresses found; known addresses: []`);
  return { host: address.address, port: node.status?.daemonEndpoints?.kubeletEndpoint?.Port || DEFAULT_KUBELET_PORT };
}

/** A node's non-2xx answer as a Status error (GenericHttpResponseChecker). */
function nodeError(status: number, body: string, podName: string): ApiError {
  if (status === 400) return errors.badRequest(body);
  if (status === 500) return new ApiError(500, 'InternalError', `Internal error occurred: ${body}`, { causes: [{ message: body }] });
  const generic: Record<number, [string, string]> = {
    401: ['Unauthorized', 'the server has asked for the client to provide credentials'],
    403: ['Forbidden', body],
    404: ['NotFound', 'the server could not find the requested resource'],
    422: ['Invalid', 'the server rejected our request due to an error in our request'],
  };
  const [reason, message] = generic[status] ?? (status >= 500
    ? ['InternalError', `an error on the server (${JSON.stringify(body)}) has prevented the request from succeeding`]
    : ['', `the server responded with the status code ${status} but did not return more information`]);
  return new ApiError(status, reason, `${message} ( ${POD_LOG.plural} ${podName})`, { name: podName, kind: POD_LOG.plural });
}

/**
 * Serve GET .../pods/<name>/log. `kubeletToken` authenticates the API server to node agents.
 * Resolves to the response code; errors before the log starts are thrown as ApiErrors.
 */
export async function servePodLog(
  registry: Registry, kubeletToken: string, namespace: string, name: string, q: URLSearchParams, res: ServerResponse,
): Promise<number> {
  const opts = decodeOptions(q);
  const errs = validateOptions(opts);
  if (errs.length) throw errors.invalid({ group: '', kind: 'PodLogOptions' }, name, errs, invalidMessage('PodLogOptions', name, errs));
  const pod = (await registry.get(PODS, namespace, name)) as unknown as Pod;
  const container = chooseContainer(pod, opts.container);
  const nodeName = pod.spec?.nodeName;
  if (!nodeName) {
    // No node, no log: upstream streams nothing.
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end();
    return 200;
  }
  const node = (await registry.get(NODES, undefined, nodeName)) as unknown as Node;
  const { host, port } = kubeletLocation(node);
  const params = new URLSearchParams();
  if (opts.follow) params.set('follow', 'true');
  if (opts.previous) params.set('previous', 'true');
  if (opts.timestamps) params.set('timestamps', 'true');
  if (opts.sinceSeconds !== undefined) params.set('sinceSeconds', String(opts.sinceSeconds));
  if (opts.sinceTime !== undefined) params.set('sinceTime', opts.sinceTime);
  if (opts.tailLines !== undefined) params.set('tailLines', String(opts.tailLines));
  if (opts.limitBytes !== undefined) params.set('limitBytes', String(opts.limitBytes));
  const path = `/containerLogs/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}/${encodeURIComponent(container)}?${params}`;
  const hostPort = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;

  const upstream = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const r = http.request({ host, port, path, method: 'GET', headers: { Authorization: `Bearer ${kubeletToken}` }, agent: false }, resolve);
    r.on('error', (e: NodeJS.ErrnoException) => {
      // Upstream passes the transport error through as it is: `Error from server: Get "…": dial tcp …`.
      const why = e.code === 'ECONNREFUSED' ? `dial tcp ${hostPort}: connect: connection refused` : e.message;
      reject(new ApiError(500, '', `Get "http://${hostPort}${path}": ${why}`));
    });
    // The client going away ends the request to the node (and so a follow).
    res.once('close', () => r.destroy());
    r.end();
  });
  const status = upstream.statusCode ?? 500;
  if (status < 200 || status > 206) {
    let body = '';
    upstream.setEncoding('utf8');
    for await (const chunk of upstream) {
      if (body.length < MAX_ERROR_BODY) body += chunk;
    }
    throw nodeError(status, body.slice(0, MAX_ERROR_BODY), name);
  }
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Cache-Control': 'no-cache, private' });
  // A follow is flushed as it comes; the headers go at once so the client knows the log is open.
  if (opts.follow) res.flushHeaders();
  upstream.on('data', (d: Buffer) => {
    if (!res.write(d)) {
      upstream.pause();
      res.once('drain', () => upstream.resume());
    }
  });
  await new Promise<void>((resolve) => {
    upstream.once('end', () => { res.end(); resolve(); });
    upstream.once('error', () => { res.destroy(); resolve(); });
    res.once('close', () => { upstream.destroy(); resolve(); });
  });
  return 200;
}
