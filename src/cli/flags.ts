// Flag parsing shared by the subcommands: durations, counts, and finding the kubeconfig as
// kubectl does.
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../util/log.js';
import { readKubeconfig, type KubeconfigCredentials } from '../client/kubeconfig.js';

/** `250ms`, `90s`, `5m`, `1h` → milliseconds. */
export function parseDuration(flag: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(v);
  if (!m) throw new Error(`--${flag}: not a duration: ${JSON.stringify(v)} (use e.g. 500ms, 90s, 5m, 1h)`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
}

export function parseCount(flag: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${flag}: not a whole number: ${JSON.stringify(v)}`);
  return n;
}

export function parseBool(flag: string, v: unknown): boolean {
  if (v === undefined || v === true || v === 'true') return true;
  if (v === false || v === 'false') return false;
  throw new Error(`--${flag}: not true or false: ${JSON.stringify(v)}`);
}

/** The kubeconfig kubectl would read: --kubeconfig, else the first file of $KUBECONFIG, else ~/.kube/config. */
export function kubeconfigPath(flag: unknown): string {
  if (flag) return path.resolve(String(flag));
  const env = process.env.KUBECONFIG?.split(path.delimiter).find(Boolean);
  return env ? path.resolve(env) : path.join(os.homedir(), '.kube', 'config');
}

/** The help of --api-socket, a flag of the commands that run components against a kubeconfig. */
export const API_SOCKET_HELP = `      --api-socket PATH     Reach the API server through its Unix socket (that of kubelite up or
                            server on this machine: DATA_DIR/api.sock by default) in plain HTTP
                            instead of TLS; the token still comes from the kubeconfig (default: HTTPS)`;

/**
 * How a component command reaches the API server: the credentials of its kubeconfig (--kubeconfig,
 * found as kubectl does), and the server's Unix socket when --api-socket names one.
 */
export async function apiConnection(values: { kubeconfig?: unknown; 'api-socket'?: unknown }): Promise<KubeconfigCredentials & { socketPath?: string }> {
  const kc = await readKubeconfig(kubeconfigPath(values.kubeconfig));
  return { ...kc, socketPath: values['api-socket'] ? String(values['api-socket']) : undefined };
}

/** Stop on SIGINT/SIGTERM: run `stop`, exit 0, or 1 if stopping fails or hangs for 10 s. */
export function onShutdown(log: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    setTimeout(() => process.exit(1), 10_000).unref();
    try {
      await stop();
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
