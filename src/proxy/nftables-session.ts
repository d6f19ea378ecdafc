// One long-lived `nft -i` process for the nftables proxy's small transactions (partial syncs,
// stale chain deletions). Starting nft for each change costs a fork, an exec and the loading of
// its libraries — several scheduler waits, which on a busy host were most of the network-
// programming latency; a running nft only has to be woken once.
//
// In interactive mode nft runs each input line as one transaction (all commands of the line
// apply or none do) and writes errors to stderr. A transaction's end is recognised by the
// output of a harmless command sent after it (`describe`, which touches no kernel state).
// Transactions are sent one at a time. When the process dies it is started again for the next
// transaction; the caller falls back to `nft -f -` for large ones.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { NftError, nftFailure } from './nftables-exec.js';

const MARKER_COMMAND = 'describe tcp dport';
/** The last line `describe tcp dport` prints. */
const MARKER_OUTPUT = /16 bits\n$/;
/** A transaction that takes this long means nft is stuck: it is killed. */
const TIMEOUT_MS = 30_000;
/** Longer transactions go through `nft -f -` (interactive input is read line by line). */
export const MAX_LINE = 64 * 1024;

interface Pending {
  resolve(): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

export class NftSession {
  private child?: ChildProcessWithoutNullStreams;
  private stdout = '';
  private stderr = '';
  private pending?: Pending;
  /** Transactions wait for the one before them. */
  private tail: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly nft: string) {}

  /** Whether `commands` fit in one interactive line. */
  static fits(commands: readonly string[]): boolean {
    return commands.reduce((n, c) => n + c.length + 2, 0) < MAX_LINE && commands.every((c) => !c.includes('\n'));
  }

  /** Run the commands as one transaction; rejects with nft's message when it fails. */
  run(commands: readonly string[]): Promise<void> {
    const result = this.tail.then(() => this.runNow(commands));
    this.tail = result.catch(() => {});
    return result;
  }

  /** End the nft process. */
  close(): void {
    this.closed = true;
    this.child?.stdin.end();
    this.child = undefined;
  }

  private ensureChild(): ChildProcessWithoutNullStreams {
    if (this.child) return this.child;
    const child = spawn(this.nft, ['-i'], { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      this.stdout += d;
      if (MARKER_OUTPUT.test(this.stdout)) {
        // Errors of the transaction were written to stderr before the marker's output reached
        // stdout; let a poll round pass so that they have been read too.
        setImmediate(() => this.settle());
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { this.stderr += d; });
    const gone = (err?: NodeJS.ErrnoException) => {
      if (this.child === child) this.child = undefined;
      const p = this.pending;
      if (!p) return;
      this.pending = undefined;
      clearTimeout(p.timer);
      p.reject(nftFailure(this.nft, err, this.stderr || 'nft -i exited'));
    };
    child.on('error', gone);
    child.on('exit', () => gone());
    child.stdin.on('error', () => { /* reported through exit */ });
    this.child = child;
    return child;
  }

  private runNow(commands: readonly string[]): Promise<void> {
    if (this.closed) return Promise.reject(new NftError('nft session closed'));
    if (!commands.length) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const child = this.ensureChild();
      this.stdout = '';
      this.stderr = '';
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        if (this.child === child) this.child = undefined;
      }, TIMEOUT_MS);
      this.pending = { resolve, reject, timer };
      child.stdin.write(`${commands.join('; ')}\n${MARKER_COMMAND}\n`);
    });
  }

  private settle(): void {
    const p = this.pending;
    if (!p || !MARKER_OUTPUT.test(this.stdout)) return;
    this.pending = undefined;
    clearTimeout(p.timer);
    if (this.stderr.trim()) p.reject(nftFailure(this.nft, undefined, this.stderr));
    else p.resolve();
  }
}
