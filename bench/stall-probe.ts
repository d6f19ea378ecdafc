// Preloaded into every process and thread of a bench run (`NODE_OPTIONS=--import <this file>`,
// set by bench/endpoints.ts with --probe DIR), it records what can hold up one thread: each
// garbage-collection pause, and each time the event loop ran late (a synchronous stretch of work:
// a big JSON parse, an fsync in the SQLite writer thread). One line per event is appended to
// DIR/<pid>-<threadId>.jsonl as it happens, so nothing depends on how the process ends; the
// bench reads the files afterwards and matches the events with its slow changes by wall time.
// SIGUSR2 to a process starts a CPU profile of its main thread and the next SIGUSR2 writes it to
// DIR/<pid>.cpuprofile, so that a profile covers the bench's timed window only; with
// KUBELITE_STALL_PROBE_HEAP=1 also an allocation profile, DIR/<pid>.heapprofile.
import { PerformanceObserver, performance, constants, type PerformanceEntry } from 'node:perf_hooks';
import { appendFileSync } from 'node:fs';
import path from 'node:path';
import { threadId, isMainThread } from 'node:worker_threads';
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';

/** One line of a probe file. `t` is the wall-clock start in ms since the epoch. */
export interface ProbeEvent {
  kind: 'gc' | 'lag';
  t: number;
  ms: number;
  /** For gc: minor (scavenge), major (mark-compact), incremental, weakcb. */
  gc?: string;
}

/** How often the event loop is sampled, and the lateness below which a sample is not recorded. */
const TICK_MS = 5;
const LAG_RECORD_MS = 4;

const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

function install(dir: string): void {
  const file = path.join(dir, `${process.pid}-${threadId}.jsonl`);
  const write = (e: ProbeEvent) => appendFileSync(file, JSON.stringify(e) + '\n');
  write({ kind: 'lag', t: Date.now(), ms: 0 }); // marks the file as started even if nothing happens
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const detail = (entry as PerformanceEntry & { detail?: { kind?: number } }).detail;
      write({ kind: 'gc', t: performance.timeOrigin + entry.startTime, ms: entry.duration, gc: GC_KINDS[detail?.kind ?? 0] ?? String(detail?.kind) });
    }
  }).observe({ entryTypes: ['gc'] });
  let expected = performance.now() + TICK_MS;
  setInterval(() => {
    const now = performance.now();
    const late = now - expected;
    if (late >= LAG_RECORD_MS) write({ kind: 'lag', t: performance.timeOrigin + expected, ms: late });
    expected = now + TICK_MS;
  }, TICK_MS).unref();
}

/**
 * Sampling interval of the allocation profile (KUBELITE_STALL_PROBE_HEAP=1): one sample per this
 * many bytes allocated, objects collected since included, so that it shows where garbage comes from.
 */
const HEAP_SAMPLING_BYTES = 32 * 1024;

/** Toggles a CPU profile (and with KUBELITE_STALL_PROBE_HEAP=1 an allocation profile) on SIGUSR2 (see the header). */
function installProfiler(dir: string, heap: boolean): void {
  let session: Session | undefined;
  process.on('SIGUSR2', () => {
    if (!session) {
      session = new Session();
      session.connect();
      session.post('Profiler.enable', () => session!.post('Profiler.start'));
      if (heap) {
        session.post('HeapProfiler.enable', () => session!.post('HeapProfiler.startSampling', {
          samplingInterval: HEAP_SAMPLING_BYTES, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true,
        } as object));
      }
      return;
    }
    const done = session;
    session = undefined;
    done.post('Profiler.stop', (err, result) => {
      if (!err) writeFileSync(path.join(dir, `${process.pid}.cpuprofile`), JSON.stringify(result.profile));
      if (!heap) return done.disconnect();
      done.post('HeapProfiler.stopSampling', (herr, hresult) => {
        if (!herr) writeFileSync(path.join(dir, `${process.pid}.heapprofile`), JSON.stringify(hresult.profile));
        done.disconnect();
      });
    });
  });
}

const dir = process.env.KUBELITE_STALL_PROBE_DIR;
if (dir) {
  install(dir);
  if (isMainThread) installProfiler(dir, process.env.KUBELITE_STALL_PROBE_HEAP === '1');
}
