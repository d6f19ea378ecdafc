// Structured logging: one JSON object per line on stderr (pino), so that logs of every
// component can be read by machines; the human-facing lines of `kubelite up` go to stdout.
import { pino, type Logger } from 'pino';

export type { Logger };

const level = process.env.KUBELITE_LOG_LEVEL ?? 'info';

export const rootLogger: Logger = pino(
  { level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime },
  pino.destination({ dest: 2, sync: false }),
);

export function logger(component: string): Logger {
  return rootLogger.child({ component });
}

export function setLogLevel(l: string): void {
  rootLogger.level = l;
}
