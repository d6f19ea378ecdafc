// Names the calling thread for the operating system (Linux: /proc/thread-self/comm, at most 15
// bytes), so that `top -H`, `perf` and the workloads benchmark can tell kubelite's threads apart:
// every thread of a Node process is otherwise called "node".
import { writeFileSync } from 'node:fs';

export function nameThisThread(name: string): void {
  try {
    writeFileSync('/proc/thread-self/comm', name.slice(0, 15));
  } catch {
    // Not Linux, or /proc not mounted: the name is only a convenience.
  }
}
