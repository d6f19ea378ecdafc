// `kubelite up`: the whole cluster in one process on the embedded store.
import path from 'node:path';
import type { ParseArgsConfig } from 'node:util';
import { startApiServer } from '../apiserver/index.js';
import { writeKubeconfig } from './kubeconfig.js';
import { logger, setLogLevel } from '../util/log.js';

export const UP_HELP = `Usage: kubelite up [flags]

Run a kubelite cluster in one process: the API server on the embedded SQLite store.
On first start the data directory is created with a CA, a serving certificate, an admin
token (tokens.csv) and a kubeconfig. Stop with Ctrl-C (SIGINT) or SIGTERM.

Flags:
      --data-dir DIR        Data directory (default ./.kubelite)
      --listen HOST:PORT    Address of the HTTPS API server (default 127.0.0.1:6443; port 0 = any free port)
      --kubeconfig PATH     Write the kubeconfig here instead of DIR/kubeconfig (other entries in an
                            existing file are kept)
      --store URL           Store: sqlite://PATH (default sqlite://DIR/state.db)
      --log-level LEVEL     trace, debug, info, warn or error (default info; logs are JSON lines on stderr)
  -h, --help                Show this help
`;

export const UP_OPTIONS: ParseArgsConfig['options'] = {
  'data-dir': { type: 'string' },
  listen: { type: 'string' },
  kubeconfig: { type: 'string' },
  store: { type: 'string' },
  'log-level': { type: 'string' },
};

export async function runUp(values: Record<string, unknown>): Promise<void> {
  const started = performance.now();
  if (values['log-level']) setLogLevel(String(values['log-level']));
  const log = logger('up');
  const dataDir = path.resolve(String(values['data-dir'] ?? '.kubelite'));
  const kubeconfig = path.resolve(String(values.kubeconfig ?? path.join(dataDir, 'kubeconfig')));
  const api = await startApiServer({
    dataDir,
    listen: String(values.listen ?? '127.0.0.1:6443'),
    store: values.store ? String(values.store) : undefined,
    log: logger('apiserver'),
  });
  await writeKubeconfig(kubeconfig, { name: 'kubelite', server: api.url, caPem: api.credentials.caPem, token: api.adminToken });
  const ms = Math.round(performance.now() - started);
  process.stdout.write(
    `kubelite is running: API server ${api.url}, data in ${dataDir}\n` +
    `export KUBECONFIG=${kubeconfig}\n` +
    `Ready in ${ms} ms.\n`,
  );
  log.info({ url: api.url, dataDir, kubeconfig, ms }, 'ready');

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    try {
      await api.stop();
      log.info('stopped');
      process.exitCode = 0;
    } catch (e) {
      log.error({ err: e }, 'shutdown failed');
      process.exitCode = 1;
    }
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
}
