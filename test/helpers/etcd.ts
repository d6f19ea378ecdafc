// Test harness: real etcd members (Debian's etcd-server) on free 127.0.0.1 ports, each with its
// own data directory under one temporary directory. One member or a 3-member cluster; members
// can be killed and restarted, and the leader found, for fault tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const ETCD_BINARY = process.env.ETCD_BINARY ?? '/usr/bin/etcd';

/** Why etcd tests cannot run here, or undefined when they can. */
export function etcdMissing(): string | undefined {
  return existsSync(ETCD_BINARY) ? undefined : `${ETCD_BINARY} not found (apt-get install etcd-server; .ci/run does)`;
}

export interface EtcdMember {
  name: string;
  /** http://127.0.0.1:PORT, as the client endpoint. */
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  /** True while the process runs. */
  readonly running: boolean;
  /** The tail of what the process wrote to stderr (etcd logs there). */
  logs(): string;
}

export interface EtcdCluster {
  members: EtcdMember[];
  /** The client URLs of every member. */
  endpoints: string[];
  /** The kubelite store URL naming every member: etcd://127.0.0.1:P1,127.0.0.1:P2,... */
  storeUrl: string;
  /** The current leader, as the running members see it (waits up to 20 s for one). */
  leader(): Promise<EtcdMember>;
  /** Kills the member (SIGKILL unless told) and waits for the process to end. */
  kill(member: EtcdMember, signal?: NodeJS.Signals): Promise<void>;
  /** Starts a stopped member again over its data directory and waits until it is healthy. */
  restart(member: EtcdMember): Promise<void>;
  /** Waits until every running member answers /health with a leader. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** Kills every member and removes the data. */
  cleanup(): Promise<void>;
}

export interface EtcdOptions {
  /** 1 (default) or 3 members. */
  members?: 1 | 3;
  /**
   * etcd's --experimental-watch-progress-notify-interval (default here 1 s, etcd's own is 10 min):
   * how often idle watches get a progress notification, which is what moves Watch.progress().
   */
  progressNotifyIntervalMs?: number;
  /** More etcd flags for every member. */
  args?: string[];
}

const TAIL_BYTES = 64 * 1024;

class Member implements EtcdMember {
  proc: ChildProcess | undefined;
  exited: Promise<void> = Promise.resolve();
  private stderrTail = '';

  constructor(
    readonly name: string,
    readonly clientPort: number,
    readonly peerPort: number,
    readonly metricsPort: number,
    readonly dataDir: string,
  ) {}

  get clientUrl(): string {
    return `http://127.0.0.1:${this.clientPort}`;
  }

  get peerUrl(): string {
    return `http://127.0.0.1:${this.peerPort}`;
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  logs(): string {
    return this.stderrTail;
  }

  start(initialCluster: string, state: 'new' | 'existing', extraArgs: string[]): void {
    const args = [
      '--name', this.name,
      '--data-dir', this.dataDir,
      '--listen-client-urls', this.clientUrl,
      '--advertise-client-urls', this.clientUrl,
      '--listen-peer-urls', this.peerUrl,
      '--initial-advertise-peer-urls', this.peerUrl,
      '--initial-cluster', initialCluster,
      '--initial-cluster-state', state,
      '--initial-cluster-token', 'kubelite-test',
      // Without an explicit metrics URL etcd would also listen on a default port.
      '--listen-metrics-urls', `http://127.0.0.1:${this.metricsPort}`,
      '--logger', 'zap',
      '--log-outputs', 'stderr',
      '--log-level', 'warn',
      ...extraArgs,
    ];
    const proc = spawn(ETCD_BINARY, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-TAIL_BYTES);
    });
    this.exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    this.proc = proc;
  }

  async kill(signal: NodeJS.Signals): Promise<void> {
    if (this.running) this.proc!.kill(signal);
    await this.exited;
  }
}

/** Start attempts: a port found free can be taken by someone else before etcd binds it. */
const START_ATTEMPTS = 3;

export async function startEtcd(opts: EtcdOptions = {}): Promise<EtcdCluster> {
  const missing = etcdMissing();
  if (missing) throw new Error(missing);
  for (let attempt = 1; ; attempt++) {
    try {
      return await startEtcdOnFreePorts(opts);
    } catch (err) {
      // Other test files run beside this one, and every outgoing connection takes an ephemeral
      // port from the range free ports come from: on a port lost that way, try new ones.
      if (attempt >= START_ATTEMPTS || !/address already in use/.test((err as Error).message)) throw err;
    }
  }
}

async function startEtcdOnFreePorts(opts: EtcdOptions): Promise<EtcdCluster> {
  const count = opts.members ?? 1;
  const root = mkdtempSync(path.join(tmpdir(), 'kubelite-etcd-'));
  const ports = await freePorts(count * 3);
  const members = Array.from(
    { length: count },
    (_, i) => new Member(`m${i + 1}`, ports[i * 3]!, ports[i * 3 + 1]!, ports[i * 3 + 2]!, path.join(root, `m${i + 1}`)),
  );
  const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
  const extraArgs = [
    '--experimental-watch-progress-notify-interval',
    `${opts.progressNotifyIntervalMs ?? 1000}ms`,
    ...(opts.args ?? []),
  ];

  const cluster: EtcdCluster = {
    members,
    endpoints: members.map((m) => m.clientUrl),
    storeUrl: `etcd://${members.map((m) => `127.0.0.1:${m.clientPort}`).join(',')}`,
    async leader() {
      const deadline = Date.now() + 20_000;
      for (;;) {
        for (const m of members) {
          if (!m.running) continue;
          const status = await memberStatus(m).catch(() => undefined);
          if (!status || status.leader === '0') continue;
          for (const candidate of members) {
            if (!candidate.running) continue;
            const own = await memberStatus(candidate).catch(() => undefined);
            if (own?.header.member_id === status.leader) return candidate;
          }
        }
        if (Date.now() > deadline) throw new Error(`no etcd leader found\n${logsOf(members)}`);
        await sleep(100);
      }
    },
    async kill(member, signal = 'SIGKILL') {
      await (member as Member).kill(signal);
    },
    async restart(member) {
      const m = member as Member;
      if (m.running) throw new Error(`etcd member ${m.name} is running`);
      m.start(initialCluster, 'existing', extraArgs);
      await waitHealthy([m], 30_000);
    },
    waitHealthy: (timeoutMs = 30_000) => waitHealthy(members.filter((m) => m.running), timeoutMs),
    async cleanup() {
      await Promise.all(members.map((m) => m.kill('SIGKILL')));
      rmSync(root, { recursive: true, force: true });
    },
  };

  for (const m of members) m.start(initialCluster, 'new', extraArgs);
  try {
    await waitHealthy(members, 30_000);
  } catch (err) {
    await cluster.cleanup();
    throw err;
  }
  return cluster;
}

async function waitHealthy(members: Member[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const m of members) {
    for (;;) {
      if (!m.running) throw new Error(`etcd member ${m.name} exited\n${m.logs()}`);
      // /health answers true once the member has a leader and no alarm.
      const health = await fetchJson(`${m.clientUrl}/health`).catch(() => undefined);
      if ((health as { health?: string } | undefined)?.health === 'true') break;
      if (Date.now() > deadline) throw new Error(`etcd member ${m.name} not healthy in ${timeoutMs} ms\n${m.logs()}`);
      await sleep(50);
    }
  }
}

interface StatusResponse {
  header: { member_id: string };
  leader: string;
}

/** Maintenance.Status through etcd's JSON gateway (no gRPC client needed here). */
async function memberStatus(m: Member): Promise<StatusResponse> {
  return (await fetchJson(`${m.clientUrl}/v3/maintenance/status`, {})) as StatusResponse;
}

async function fetchJson(url: string, body?: unknown): Promise<unknown> {
  const res = await fetch(url, {
    method: body === undefined ? 'GET' : 'POST',
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(2000),
  });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res.json();
}

/** Ports the kernel hands out for 127.0.0.1, released again for etcd to bind. */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

function logsOf(members: Member[]): string {
  return members.map((m) => `--- ${m.name}:\n${m.logs()}`).join('\n');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
