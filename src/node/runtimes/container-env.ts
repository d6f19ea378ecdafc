// A container's environment as the kubelet builds it (pkg/kubelet/kubelet_pods.go makeEnvironmentVariables,
// pkg/fieldpath, third_party/forked/golang/expansion): envFrom, then env in order, each value able
// to refer to earlier ones as $(NAME); downward-API values from fieldRef and resourceFieldRef.
// kubelite adds POD_NAME, POD_NAMESPACE, POD_IP and HOSTNAME underneath (a process cannot read
// them from anywhere else), and PATH from the host so that commands are found.
//
// ConfigMaps and Secrets are not served by kubelite, so a reference to one fails as upstream's
// does when the object is missing (CreateContainerConfigError), unless it is optional.
import os from 'node:os';
import type { Container, EnvVar, Pod } from 'kubernetes-types/core/v1.js';
import { parseQuantity, type Quantity } from '../../api/validation/quantity.js';
import type { Sandbox } from '../runtime.js';

export class ContainerConfigError extends Error {}

/**
 * Expand $(NAME) references as the kubelet does: a defined name is replaced, an undefined one is
 * left as written, `$$` is a literal `$`, and any other `$` stays.
 */
export function expand(input: string, lookup: (name: string) => string | undefined): string {
  let out = '';
  for (let i = 0; i < input.length; i++) {
    const ch = input[i];
    if (ch !== '$' || i + 1 >= input.length) {
      out += ch;
      continue;
    }
    const next = input[i + 1];
    if (next === '$') {
      out += '$';
      i++;
    } else if (next === '(') {
      const close = input.indexOf(')', i + 2);
      if (close < 0) {
        // An unclosed reference is kept as written.
        out += input.slice(i);
        break;
      }
      const name = input.slice(i + 2, close);
      const value = lookup(name);
      out += value ?? `$(${name})`;
      i = close;
    } else {
      out += ch;
    }
  }
  return out;
}

/** The `k="v"` lines the downward API renders a whole label or annotation map as (sorted). */
function formatMap(m: Record<string, string> | undefined): string {
  return Object.keys(m ?? {}).sort().map((k) => `${k}=${JSON.stringify(m![k])}`).join('\n');
}

/** A fieldRef value (fieldpath.ExtractFieldPathAsString plus the kubelet's status fields). */
function fieldRefValue(pod: Pod, sandbox: Sandbox, path: string): string {
  const meta = pod.metadata ?? {};
  const subscript = /^metadata\.(labels|annotations)\['(.*)'\]$/.exec(path);
  if (subscript) return (subscript[1] === 'labels' ? meta.labels : meta.annotations)?.[subscript[2]!] ?? '';
  switch (path) {
    case 'metadata.name': return meta.name ?? '';
    case 'metadata.namespace': return meta.namespace ?? '';
    case 'metadata.uid': return meta.uid ?? '';
    case 'metadata.labels': return formatMap(meta.labels);
    case 'metadata.annotations': return formatMap(meta.annotations);
    case 'spec.nodeName': return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName': return pod.spec?.serviceAccountName ?? '';
    case 'status.hostIP': return sandbox.hostIP;
    case 'status.hostIPs': return sandbox.hostIP;
    case 'status.podIP': return sandbox.podIPs[0] ?? '';
    case 'status.podIPs': return sandbox.podIPs.join(',');
  }
  throw new ContainerConfigError(`unsupported fieldPath: ${path}`);
}

const toNumber = (q: Quantity) => Number(q.mantissa) * 10 ** q.scale;

/**
 * A resourceFieldRef value: the container's request or limit divided by the divisor, rounded up
 * (cpu in whole divisor units of milli-precision). An unset limit is the node's allocatable
 * amount, which for this runtime is the host's.
 */
function resourceFieldValue(container: Container, resource: string, divisor: string | number | undefined): string {
  const [kind, name] = resource.split('.', 2) as [string, string];
  const set = kind === 'limits' ? container.resources?.limits : container.resources?.requests;
  let raw = set?.[name];
  if (raw === undefined && kind === 'limits') {
    if (name === 'cpu') raw = String(os.cpus().length);
    else if (name === 'memory') raw = String(os.totalmem());
  }
  const q = parseQuantity(raw ?? '0');
  const d = parseQuantity(divisor ?? '1');
  if ('error' in q || 'error' in d) throw new ContainerConfigError(`invalid quantity for resource ${resource}`);
  const div = toNumber(d) || 1;
  return String(Math.ceil(toNumber(q) / div - 1e-9));
}

/**
 * The environment of a container's process. Throws ContainerConfigError for references that
 * cannot be resolved (its message is the waiting message).
 */
export function containerEnv(pod: Pod, container: Container, sandbox: Sandbox, home: string): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: home,
    HOSTNAME: pod.spec?.hostname ?? pod.metadata?.name ?? '',
    POD_NAME: pod.metadata?.name ?? '',
    POD_NAMESPACE: pod.metadata?.namespace ?? '',
    POD_IP: sandbox.podIPs[0] ?? '',
  };
  // The container's own variables, in the order they are defined: $(NAME) sees earlier ones.
  const own = new Map<string, string>();
  for (const from of container.envFrom ?? []) {
    const ref = from.configMapRef ?? from.secretRef;
    if (ref && !ref.optional) throw new ContainerConfigError(`${from.configMapRef ? 'configmap' : 'secret'} "${ref.name ?? ''}" not found`);
  }
  const lookup = (name: string) => own.get(name);
  for (const v of container.env ?? []) {
    const value = envValue(pod, container, sandbox, v, lookup);
    if (value !== undefined) own.set(v.name, value);
  }
  for (const [k, v] of own) env[k] = v;
  return env;
}

function envValue(pod: Pod, container: Container, sandbox: Sandbox, v: EnvVar, lookup: (name: string) => string | undefined): string | undefined {
  if (v.value !== undefined) return expand(v.value, lookup);
  const from = v.valueFrom;
  if (!from) return '';
  if (from.fieldRef) return fieldRefValue(pod, sandbox, from.fieldRef.fieldPath);
  if (from.resourceFieldRef) {
    const target = from.resourceFieldRef.containerName
      ? [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].find((c) => c.name === from.resourceFieldRef!.containerName) ?? container
      : container;
    return resourceFieldValue(target, from.resourceFieldRef.resource, from.resourceFieldRef.divisor);
  }
  const ref = from.configMapKeyRef ?? from.secretKeyRef;
  if (ref) {
    if (ref.optional) return undefined;
    throw new ContainerConfigError(`${from.configMapKeyRef ? 'configmap' : 'secret'} "${ref.name ?? ''}" not found`);
  }
  return '';
}

/** The command line of a container: command and args with $(NAME) expanded from its environment. */
export function commandLine(container: Container, env: Record<string, string>): string[] {
  const lookup = (name: string) => env[name];
  return [...(container.command ?? []), ...(container.args ?? [])].map((s) => expand(s, lookup));
}
