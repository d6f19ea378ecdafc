// `kubelite proxy`: the service proxy as a process of its own, pointed at the API with a
// kubeconfig (kube-proxy's place). Userspace mode: sockets on every Service frontend, no root.
// nftables mode: kernel rules in table `ip kubelite`, root.
import http from 'node:http';
import { availableParallelism } from 'node:os';
import type { ParseArgsConfig } from 'node:util';
import { RestClient } from '../client/rest.js';
import { controllerContext } from '../client/factory.js';
import { logger, setLogLevel } from '../util/log.js';
import { PROXY_MODES, type ProxyMode } from './components-list.js';
import { API_SOCKET_HELP, apiConnection, onShutdown, parseDuration } from './flags.js';
import type { BalanceMode } from '../proxy/balancer.js';

export const PROXY_HELP = `Usage: kubelite proxy [flags]

Run the service proxy against the API server of a kubeconfig. It watches Services and
EndpointSlices and carries traffic sent to every Service's cluster IPs, external IPs and
load-balancer IPs at each port, and to the node address at each NodePort, to the Service's
ready endpoints (or, when none is ready, to those still serving while terminating).

userspace mode (the default) needs no root: it listens on each of those addresses. A Service
without usable endpoints is not listened on, so connections to it are refused at once. Ports
below 1024 need root (or CAP_NET_BIND_SERVICE); without it they fail with a message in the log
while the other Services keep working. Service cluster IPs in 127.0.0.0/8 (kubelite's default
127.96.0.0/12) work on Linux without configuration.

nftables mode (--proxy-mode nftables) needs root (CAP_NET_ADMIN) and the nft command (Debian
package nftables). It programs the table "ip kubelite" as kube-proxy's nftables mode does:
DNAT in the output and prerouting hooks to the endpoints, chosen per new connection with
numgen (inc for round-robin, random for random), ClientIP affinity through timed sets, and a
reject for Services without usable endpoints. Changes rewrite only the changed Service's
rules; the table is deleted on exit (SIGINT/SIGTERM) and a table left by a crashed run is
replaced at start. Established connections keep their endpoint across changes (conntrack).

Flags:
      --kubeconfig PATH     Kubeconfig (default $KUBECONFIG, else ~/.kube/config)
${API_SOCKET_HELP}
      --proxy-mode MODE     userspace (default) or nftables
      --nftables-table NAME nftables: the table to own, family ip (default kubelite; another
                            name lets several proxies share a host, e.g. in tests)
      --balance POLICY      How a new connection picks an endpoint: round-robin (default) or
                            random; sessionAffinity: ClientIP Services pin each client first
      --node-ip IP          The address NodePorts listen on (default 127.0.0.1)
      --workers N           userspace: worker processes relaying TCP, sharing each listening
                            socket (default: one per core, ${availableParallelism()} here; 1: no workers, TCP
                            is relayed by the proxy process itself). Round-robin rotates per
                            worker; ClientIP affinity stays one table; UDP stays in the proxy
      --udp-idle-timeout DURATION
                            userspace: a UDP flow with no traffic for this long ends (default 30s)
      --metrics-bind-address HOST:PORT
                            Serve /metrics and /healthz here (default 127.0.0.1:10249; "" for none)
      --log-level LEVEL     trace, debug, info, warn or error (default info)
  -h, --help                Show this help
`;

export const PROXY_OPTIONS: ParseArgsConfig['options'] = {
  kubeconfig: { type: 'string' },
  'api-socket': { type: 'string' },
  'proxy-mode': { type: 'string' },
  'nftables-table': { type: 'string' },
  balance: { type: 'string' },
  'node-ip': { type: 'string' },
  'udp-idle-timeout': { type: 'string' },
  workers: { type: 'string' },
  'metrics-bind-address': { type: 'string' },
  'log-level': { type: 'string' },
};

const BALANCE_MODES: BalanceMode[] = ['round-robin', 'random'];

/** The running proxy, whichever mode: what the command needs of it. */
interface RunningProxy {
  readonly metrics: { registry: { metrics(): Promise<string>; contentType: string } };
  stop(): void | Promise<void>;
}

export async function runProxy(values: Record<string, unknown>, _positionals: string[] = []): Promise<void> {
  if (values['log-level']) setLogLevel(String(values['log-level']));
  const log = logger('proxy');
  const str = (k: string, d: string) => (values[k] === undefined ? d : String(values[k]));
  const mode = str('proxy-mode', 'userspace') as ProxyMode;
  if (!PROXY_MODES.includes(mode)) throw new Error(`--proxy-mode: unsupported mode "${mode}" (supported: ${PROXY_MODES.join(', ')})`);
  const balance = str('balance', 'round-robin') as BalanceMode;
  if (!BALANCE_MODES.includes(balance)) throw new Error(`--balance: unknown policy "${balance}" (known: ${BALANCE_MODES.join(', ')})`);
  const nodeIP = str('node-ip', '127.0.0.1');
  const workers = Number(str('workers', String(availableParallelism())));
  if (!Number.isInteger(workers) || workers < 1) throw new Error(`--workers: not a positive integer: ${JSON.stringify(values.workers)}`);
  const udpIdleTimeoutMs = parseDuration('udp-idle-timeout', str('udp-idle-timeout', '30s'));
  const metricsAddress = str('metrics-bind-address', '127.0.0.1:10249');
  const metricsMatch = metricsAddress ? /^(.*):(\d+)$/.exec(metricsAddress) : undefined;
  if (metricsAddress && !metricsMatch) throw new Error(`--metrics-bind-address: not HOST:PORT: ${JSON.stringify(metricsAddress)}`);

  const kc = await apiConnection(values);
  // kube-proxy's User-Agent, so that field managers and audit read as upstream's.
  const client = new RestClient({ ...kc, userAgent: 'kube-proxy/v1.32.4 (linux/amd64) kubelite/0.1.0' });
  const ctx = controllerContext(client);
  let proxy: RunningProxy & { start(): Promise<void> };
  if (mode === 'nftables') {
    const { NftablesProxy } = await import('../proxy/nftables.js');
    proxy = new NftablesProxy(ctx, { mode: balance, nodeIP, log, table: str('nftables-table', 'kubelite') });
  } else {
    const { UserspaceProxy } = await import('../proxy/userspace.js');
    proxy = new UserspaceProxy(ctx, { mode: balance, nodeIP, udpIdleTimeoutMs, log, workers });
  }
  let metricsServer: http.Server | undefined;
  const started = proxy.start();
  // Installed before the start completes: a signal meanwhile (a table half programmed, workers
  // starting) still leads to a clean stop once the start is over.
  onShutdown(log, async () => {
    if (!(await started.then(() => true, () => false))) return;
    await proxy.stop();
    metricsServer?.close();
    ctx.informers.stop();
    client.close();
  });
  try {
    await started;
  } catch (e) {
    // Not root, no nft, workers that cannot start: say so and leave, rather than run without
    // carrying anything.
    ctx.informers.stop();
    client.close();
    throw e;
  }

  if (metricsMatch) {
    metricsServer = http.createServer((req, res) => {
      if (req.url === '/metrics') {
        proxy.metrics.registry.metrics().then((body) => {
          res.writeHead(200, { 'Content-Type': proxy.metrics.registry.contentType });
          res.end(body);
        }, (e: Error) => {
          res.writeHead(500);
          res.end(e.message);
        });
      } else if (req.url === '/healthz' || req.url === '/livez') {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.end('ok');
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    // Metrics are a convenience: a taken port is reported, not fatal.
    metricsServer.on('error', (e) => log.warn({ address: metricsAddress, err: e.message }, 'cannot serve metrics'));
    metricsServer.listen(Number(metricsMatch[2]), metricsMatch[1]!.replace(/^\[(.*)\]$/, '$1') || undefined);
  }
  log.info({ server: kc.server, mode, balance, nodeIP, ...(mode === 'userspace' ? { workers } : {}) }, 'proxy running');
}
