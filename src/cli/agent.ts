// `kubelite agent`: one node agent (the kubelet's part) as a process of its own, pointed at the
// API with a kubeconfig: it registers the Node, heartbeats on its Lease in kube-node-lease, and
// runs the pods bound to it.
import type { ParseArgsConfig } from 'node:util';
import { logger, setLogLevel } from '../util/log.js';
import { API_SOCKET_HELP, apiConnection, onShutdown, parseCount, parseDuration } from './flags.js';

export const AGENT_HELP = `Usage: kubelite agent --node NAME [flags]

Run the node agent of one node against the API server of a kubeconfig.

Flags:
      --node NAME           The node's name (required)
      --kubeconfig PATH     Kubeconfig (default $KUBECONFIG, else ~/.kube/config)
${API_SOCKET_HELP}
      --node-pods N         Pods the node can run (its pods capacity; default 110)
      --pod-start-delay DURATION
                            How long a simulated container takes to start, plus up to the same
                            again at random (default 250ms)
      --log-level LEVEL     trace, debug, info, warn or error (default info)
  -h, --help                Show this help
`;

export const AGENT_OPTIONS: ParseArgsConfig['options'] = {
  node: { type: 'string' },
  kubeconfig: { type: 'string' },
  'api-socket': { type: 'string' },
  'node-pods': { type: 'string' },
  'pod-start-delay': { type: 'string' },
  'log-level': { type: 'string' },
};

export async function runAgent(values: Record<string, unknown>): Promise<void> {
  if (values['log-level']) setLogLevel(String(values['log-level']));
  const log = logger('agent');
  const node = values.node ? String(values.node) : '';
  if (!node) throw new Error('--node NAME is required');
  const str = (k: string, d: string) => (values[k] === undefined ? d : String(values[k]));
  const podStartDelayMs = parseDuration('pod-start-delay', str('pod-start-delay', '250ms'));
  const kc = await apiConnection(values);
  const { startComponents } = await import('./components.js');
  const running = await startComponents({
    server: kc.server, socketPath: kc.socketPath, caPem: kc.caPem ?? '', token: kc.token ?? '', tlsServerName: kc.tlsServerName, insecure: kc.insecure,
    enabled: new Set(['nodes']), nodes: [node],
    nodePods: parseCount('node-pods', str('node-pods', '110')),
    podStartDelayMs, podStartJitterMs: podStartDelayMs,
    clusterCIDR: '', nodeCIDRMaskSize: 0, nodeMonitorGracePeriodMs: 0,
    log: logger('components'),
  });
  // The handler before the announcement: a SIGTERM right after it must stop the agent cleanly.
  onShutdown(log, () => running.stop());
  log.info({ node, server: kc.server }, 'node agent running');
}
