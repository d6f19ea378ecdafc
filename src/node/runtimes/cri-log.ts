// Container log files in the kubelet's CRI format, as containerd writes them under /var/log/pods:
// one entry per line, `<RFC3339Nano time> <stdout|stderr> <F|P> <content>`, where P marks a piece
// of a line longer than the runtime's 16 KiB buffer and F the piece that ends it. The reader does
// what the kubelet's ReadLogs does for `kubectl logs`: tail, since, timestamps, byte limit, and
// follow until the container instance stops.
import { closeSync, openSync, renameSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Writable } from 'node:stream';

/** containerd splits lines at its read buffer size. */
const MAX_LINE_PIECE = 16 * 1024;
/** The kubelet's default containerLogMaxSize: past it the file is rotated (kubectl logs reads the current file only). */
const DEFAULT_MAX_FILE_BYTES = 10 * 1024 * 1024;

export type LogStreamName = 'stdout' | 'stderr';

/** RFC 3339 with up to nanosecond digits, trailing zeros dropped, as Go's time.RFC3339Nano. */
function rfc3339Nano(epochMs: number): string {
  const iso = new Date(Math.floor(epochMs)).toISOString(); // 2024-01-02T03:04:05.678Z
  const subMs = Math.floor((epochMs - Math.floor(epochMs)) * 1e6);
  const frac = (iso.slice(20, 23) + String(subMs).padStart(6, '0')).replace(/0+$/, '');
  return `${iso.slice(0, 19)}${frac ? `.${frac}` : ''}Z`;
}

/** Wall-clock time with sub-millisecond digits, so that the entries of one burst keep their order. */
function nowPrecise(): number {
  return performance.timeOrigin + performance.now();
}

/** Parse an RFC 3339 time with any number of fraction digits to epoch milliseconds (fractional). */
export function parseRFC3339(s: string): number | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/.exec(s);
  if (!m) return undefined;
  const base = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(base)) return undefined;
  return base + (m[2] ? Number(`0.${m[2]}`) * 1000 : 0);
}

/** A listener of a live log: raw CRI lines as they are written, then the end of the instance. */
interface LiveListener {
  line(raw: Buffer): void;
  end(): void;
}

/**
 * The log of one container instance while it runs: its output is split into CRI entries and
 * appended to the file synchronously, so a reader that notes `size` and subscribes in the same
 * tick sees every entry exactly once (the file up to `size`, the rest live).
 */
export class ContainerLogWriter {
  private fd: number;
  private written = 0;
  private readonly pending: Record<LogStreamName, Buffer> = { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) };
  private readonly listeners = new Set<LiveListener>();
  private closed = false;

  constructor(readonly path: string, private readonly maxFileBytes = DEFAULT_MAX_FILE_BYTES) {
    this.fd = openSync(path, 'a');
  }

  /** Bytes in the current file. */
  get size(): number {
    return this.written;
  }

  get ended(): boolean {
    return this.closed;
  }

  write(stream: LogStreamName, chunk: Buffer): void {
    if (this.closed) return;
    let buf = this.pending[stream].length ? Buffer.concat([this.pending[stream], chunk]) : chunk;
    const entries: Buffer[] = [];
    for (;;) {
      const nl = buf.indexOf(0x0a);
      if (nl >= 0 && nl <= MAX_LINE_PIECE) {
        entries.push(this.entry(stream, 'F', buf.subarray(0, nl)));
        buf = buf.subarray(nl + 1);
      } else if (buf.length > MAX_LINE_PIECE) {
        entries.push(this.entry(stream, 'P', buf.subarray(0, MAX_LINE_PIECE)));
        buf = buf.subarray(MAX_LINE_PIECE);
      } else {
        break;
      }
    }
    this.pending[stream] = Buffer.from(buf);
    this.append(entries);
  }

  /** The instance's output has ended: what is left of a line becomes a full entry. */
  close(): void {
    if (this.closed) return;
    const entries: Buffer[] = [];
    for (const stream of ['stdout', 'stderr'] as const) {
      if (this.pending[stream].length) entries.push(this.entry(stream, 'F', this.pending[stream]));
      this.pending[stream] = Buffer.alloc(0);
    }
    this.append(entries);
    this.closed = true;
    closeSync(this.fd);
    for (const l of this.listeners) l.end();
    this.listeners.clear();
  }

  /** Follow the live log; returns the unsubscribe function. Calls `end` at once if it has ended. */
  subscribe(listener: LiveListener): () => void {
    if (this.closed) {
      listener.end();
      return () => {};
    }
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private entry(stream: LogStreamName, tag: 'F' | 'P', content: Buffer): Buffer {
    return Buffer.concat([Buffer.from(`${rfc3339Nano(nowPrecise())} ${stream} ${tag} `), content, Buffer.from('\n')]);
  }

  private append(entries: Buffer[]): void {
    if (!entries.length) return;
    const data = entries.length === 1 ? entries[0]! : Buffer.concat(entries);
    if (this.written > 0 && this.written + data.length > this.maxFileBytes) this.rotate();
    writeSync(this.fd, data);
    this.written += data.length;
    for (const e of entries) for (const l of this.listeners) l.line(e);
  }

  /** Keep one rotated file (`<path>.1`), as the kubelet's log manager keeps older ones beside the current. */
  private rotate(): void {
    closeSync(this.fd);
    renameSync(this.path, `${this.path}.1`);
    this.fd = openSync(this.path, 'a');
    this.written = 0;
  }
}

export interface LogReadOptions {
  follow: boolean;
  /** Only the last N lines (entries) of the file. */
  tailLines?: number;
  /** Only entries at or after this time (epoch ms). */
  sinceMs?: number;
  /** Prefix each line with its RFC3339Nano time. */
  timestamps: boolean;
  /** Stop after this many bytes. */
  limitBytes?: number;
}

interface ParsedEntry {
  time: string;
  timeMs: number;
  partial: boolean;
  content: Buffer;
}

/** One raw CRI line (without or with its newline); undefined when it does not parse. */
function parseEntry(raw: Buffer): ParsedEntry | undefined {
  const end = raw.length && raw[raw.length - 1] === 0x0a ? raw.length - 1 : raw.length;
  const s1 = raw.indexOf(0x20);
  const s2 = s1 < 0 ? -1 : raw.indexOf(0x20, s1 + 1);
  const s3 = s2 < 0 ? -1 : raw.indexOf(0x20, s2 + 1);
  if (s3 < 0 || s3 > end) return undefined;
  const time = raw.toString('latin1', 0, s1);
  const timeMs = parseRFC3339(time);
  if (timeMs === undefined) return undefined;
  const tag = raw.toString('latin1', s2 + 1, s3);
  return { time, timeMs, partial: tag === 'P', content: raw.subarray(s3 + 1, end) };
}

/** Split file bytes into raw lines (each without its newline). */
function splitLines(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  for (;;) {
    const nl = data.indexOf(0x0a, start);
    if (nl < 0) break;
    out.push(data.subarray(start, nl));
    start = nl + 1;
  }
  return out;
}

/** Write with back-pressure; false once the output is gone. */
async function writeOut(out: Writable, data: Buffer, signal: AbortSignal): Promise<boolean> {
  if (out.destroyed || signal.aborted) return false;
  if (out.write(data)) return true;
  await new Promise<void>((resolve) => {
    const done = () => {
      out.off('drain', done);
      out.off('close', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    out.once('drain', done);
    out.once('close', done);
    signal.addEventListener('abort', done, { once: true });
  });
  return !out.destroyed && !signal.aborted;
}

/** Formats entries as the kubelet writes them to the client, with its byte limit. */
class LogFormatter {
  private remaining: number;
  /** The previous entry was a partial line: the next one continues it without a timestamp. */
  private midLine = false;

  constructor(private readonly opts: LogReadOptions) {
    this.remaining = opts.limitBytes ?? Infinity;
  }

  get exhausted(): boolean {
    return this.remaining <= 0;
  }

  /** The bytes to send for one entry (empty when filtered out). */
  format(e: ParsedEntry): Buffer {
    if (this.opts.sinceMs !== undefined && e.timeMs < this.opts.sinceMs && !this.midLine) return Buffer.alloc(0);
    const parts: Buffer[] = [];
    if (this.opts.timestamps && !this.midLine) parts.push(Buffer.from(`${e.time} `));
    parts.push(e.content);
    if (!e.partial) parts.push(Buffer.from('\n'));
    this.midLine = e.partial;
    let data = Buffer.concat(parts);
    if (data.length > this.remaining) data = data.subarray(0, this.remaining);
    this.remaining -= data.length;
    return data;
  }
}

/**
 * Stream a container instance's log file to `out`. With `follow` and a live writer, keeps
 * streaming new entries until the instance's output ends, `signal` aborts or the byte limit is
 * reached. Rejects when the file cannot be read.
 */
export async function readContainerLog(path: string, live: ContainerLogWriter | undefined, opts: LogReadOptions, out: Writable, signal: AbortSignal): Promise<void> {
  const formatter = new LogFormatter(opts);
  const following = opts.follow && live !== undefined && !live.ended;
  // Snapshot the file's length and subscribe in the same tick: nothing is missed or repeated.
  const queue: Buffer[] = [];
  let ended = !following;
  let wake: (() => void) | undefined;
  const unsubscribe = following
    ? live!.subscribe({
      line: (raw) => { queue.push(raw); wake?.(); },
      end: () => { ended = true; wake?.(); },
    })
    : () => {};
  const size = following ? live!.size : undefined;
  const onAbort = () => wake?.();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const fh = await open(path, 'r');
    let data: Buffer;
    try {
      const length = size ?? (await fh.stat()).size;
      data = Buffer.alloc(length);
      let off = 0;
      while (off < length) {
        const { bytesRead } = await fh.read(data, off, length - off, off);
        if (bytesRead === 0) break;
        off += bytesRead;
      }
      data = data.subarray(0, off);
    } finally {
      await fh.close();
    }
    let lines = splitLines(data);
    if (opts.tailLines !== undefined) lines = opts.tailLines === 0 ? [] : lines.slice(-opts.tailLines);
    for (const raw of lines) {
      const e = parseEntry(raw);
      if (!e) continue;
      const bytes = formatter.format(e);
      if (bytes.length && !(await writeOut(out, bytes, signal))) return;
      if (formatter.exhausted) return;
    }
    while (following) {
      while (queue.length) {
        const e = parseEntry(queue.shift()!);
        if (!e) continue;
        const bytes = formatter.format(e);
        if (bytes.length && !(await writeOut(out, bytes, signal))) return;
        if (formatter.exhausted) return;
      }
      if (ended || signal.aborted || out.destroyed) return;
      await new Promise<void>((resolve) => { wake = resolve; });
      wake = undefined;
    }
  } finally {
    unsubscribe();
    signal.removeEventListener('abort', onAbort);
  }
}

/** The last `maxLines` lines of a log file, at most `maxBytes` (termination message FallbackToLogsOnError). */
export async function tailContent(path: string, maxLines: number, maxBytes: number): Promise<string> {
  let data: Buffer;
  try {
    const fh = await open(path, 'r');
    try {
      data = await fh.readFile();
    } finally {
      await fh.close();
    }
  } catch {
    return '';
  }
  const parts: Buffer[] = [];
  for (const raw of splitLines(data).slice(-maxLines)) {
    const e = parseEntry(raw);
    if (e) parts.push(e.content, Buffer.from(e.partial ? '' : '\n'));
  }
  const all = Buffer.concat(parts);
  return all.subarray(Math.max(0, all.length - maxBytes)).toString('utf8');
}
