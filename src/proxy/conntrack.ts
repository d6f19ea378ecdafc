// Clearing stale UDP conntrack entries for the nftables proxy, as kube-proxy does after each sync
// (pkg/proxy/conntrack CleanStaleEntries): UDP has no connection to end, so without this a flow
// keeps the translation conntrack recorded for it — to an endpoint that has left, or to the
// reject of a Service that had none — for as long as datagrams keep it alive. Every UDP entry
// whose original destination is a UDP Service frontend (ClusterIP / external / load-balancer
// address and port, or any address at a NodePort) and whose reply source is not a serving
// endpoint of that Service port is deleted; a Service port without serving endpoints is left
// alone (its flows have nowhere better to go). The next datagram of such a flow is translated
// anew by the current rules.
//
// kube-proxy speaks netlink; here the conntrack CLI (Debian package conntrack) does: a listing,
// then one deletion per stale (frontend, endpoint) pair. A change to a few frontends lists only
// their flows (the CLI filters by original destination), so that its cost does not grow with
// every UDP flow on the host; a full sync lists all UDP flows once. Without the CLI the proxy
// carries on and says once that stale UDP flows stay where they are.
import { spawn } from 'node:child_process';
import type { Logger } from '../util/log.js';

/**
 * The UDP frontends of programmed Service ports and the IPs of their serving endpoints. Keys:
 * `address:port` for a ClusterIP, external or load-balancer frontend, `*:port` for a NodePort
 * (matched at any destination address, as upstream).
 */
export type UdpServing = Map<string, readonly string[]>;

const NODE_PORT_ANY_ADDRESS = '*';
/**
 * Up to this many frontends are listed one by one (a CLI run each); more are looked for in one
 * listing of every UDP flow, which costs one run however many frontends there are.
 */
const FILTERED_LISTINGS_MAX = 8;

export function udpFrontendKey(address: string | undefined, port: number): string {
  return `${address ?? NODE_PORT_ANY_ADDRESS}:${port}`;
}

/** The CLI's listing filter for one frontend: its address (none for a NodePort) and port. */
export function frontendListingFilter(key: string): string[] {
  const colon = key.lastIndexOf(':');
  const address = key.slice(0, colon), port = key.slice(colon + 1);
  return [...(address === NODE_PORT_ANY_ADDRESS ? [] : ['--orig-dst', address]), '--orig-port-dst', port];
}

/**
 * The frontends of `next` whose serving endpoints differ from `previous`'s: the only ones whose
 * flows a change can have left stale. A frontend that is gone, or has no serving endpoint any
 * more, is left alone as in `staleFilters`.
 */
export function changedUdpServing(previous: UdpServing | undefined, next: UdpServing): UdpServing {
  const changed: UdpServing = new Map();
  for (const [key, ips] of next) {
    const before = previous?.get(key);
    if (!before || before.length !== ips.length || before.some((ip, i) => ip !== ips[i])) changed.set(key, ips);
  }
  return changed;
}

/** A UDP conntrack entry, the parts the cleanup looks at. */
export interface UdpFlow {
  origDst: string;
  origDport: number;
  replySrc: string;
}

/**
 * Parse `conntrack -L -p udp` output: per line, the first `dst=`/`dport=` are the original
 * direction's, the second `src=` the reply direction's (the endpoint after DNAT).
 */
export function parseUdpFlows(listing: string): UdpFlow[] {
  const flows: UdpFlow[] = [];
  for (const line of listing.split('\n')) {
    if (!line.startsWith('udp')) continue;
    const src = [...line.matchAll(/ src=(\S+)/g)].map((m) => m[1]!);
    const dst = / dst=(\S+)/.exec(line)?.[1];
    const dport = / dport=(\d+)/.exec(line)?.[1];
    if (src.length < 2 || dst === undefined || dport === undefined) continue;
    flows.push({ origDst: dst, origDport: Number(dport), replySrc: src[1]! });
  }
  return flows;
}

/** A deletion filter: `--orig-dst` (absent for a NodePort), `--orig-port-dst`, `--reply-src`. */
export interface StaleFilter {
  origDst?: string;
  origDport: number;
  replySrc: string;
}

/** The filters that delete the flows not answered by a serving endpoint of their frontend. */
export function staleFilters(flows: readonly UdpFlow[], serving: UdpServing): StaleFilter[] {
  const out = new Map<string, StaleFilter>();
  for (const f of flows) {
    const byAddress = serving.get(udpFrontendKey(f.origDst, f.origDport));
    if (byAddress && !byAddress.includes(f.replySrc)) {
      out.set(`${f.origDst}:${f.origDport}>${f.replySrc}`, { origDst: f.origDst, origDport: f.origDport, replySrc: f.replySrc });
    }
    const byNodePort = serving.get(udpFrontendKey(undefined, f.origDport));
    if (byNodePort && !byNodePort.includes(f.replySrc)) {
      out.set(`*:${f.origDport}>${f.replySrc}`, { origDport: f.origDport, replySrc: f.replySrc });
    }
  }
  return [...out.values()];
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Set when the binary could not be started. */
  spawnError?: NodeJS.ErrnoException;
}

function run(binary: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', (e: NodeJS.ErrnoException) => resolve({ code: null, stdout, stderr, spawnError: e }));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export class ConntrackCleaner {
  /** The CLI is missing or not permitted: said once, never tried again. */
  private unavailable = false;

  constructor(private readonly binary: string, private readonly log: Logger) {}

  /** Check once at start that the CLI runs, so that its absence is said before any UDP flow needs it. */
  async probe(): Promise<void> {
    this.failed(await run(this.binary, ['--version']), 'probe');
  }

  /**
   * Delete the stale UDP entries of the frontends in `serving`; resolves with how many filters
   * were applied. Never rejects: a failure is logged and the flows stay until they idle out.
   */
  async clean(serving: UdpServing): Promise<number> {
    if (this.unavailable || !serving.size) return 0;
    const listings = serving.size <= FILTERED_LISTINGS_MAX ? [...serving.keys()].map(frontendListingFilter) : [[]];
    const flows: UdpFlow[] = [];
    for (const filter of listings) {
      const listed = await run(this.binary, ['-L', '-p', 'udp', '-f', 'ipv4', ...filter]);
      if (this.failed(listed, 'list')) return 0;
      flows.push(...parseUdpFlows(listed.stdout));
    }
    const filters = staleFilters(flows, serving);
    for (const f of filters) {
      const args = ['-D', '-p', 'udp', ...(f.origDst ? ['--orig-dst', f.origDst] : []), '--orig-port-dst', String(f.origDport), '--reply-src', f.replySrc];
      const deleted = await run(this.binary, args);
      // Exit code 1 with nothing deleted: the flow ended meanwhile.
      if (deleted.code === 1 && /0 flow entries/.test(deleted.stderr)) continue;
      if (this.failed(deleted, 'delete')) return 0;
    }
    if (filters.length) this.log.debug({ filters: filters.length }, 'stale UDP conntrack entries deleted');
    return filters.length;
  }

  private failed(r: Run, what: string): boolean {
    if (r.code === 0) return false;
    if (r.spawnError?.code === 'ENOENT' || /Operation not permitted|Permission denied/.test(r.stderr)) {
      this.unavailable = true;
      const why = r.spawnError ? `the ${this.binary} binary was not found (install the conntrack package)` : r.stderr.trim().split('\n')[0];
      this.log.warn({ reason: why }, 'cannot clear conntrack entries: UDP flows keep an endpoint that has left until they idle out');
      return true;
    }
    this.log.warn({ err: (r.spawnError?.message ?? r.stderr.trim()).slice(0, 500) }, `conntrack ${what} failed; stale UDP flows stay until they idle out`);
    return true;
  }
}
