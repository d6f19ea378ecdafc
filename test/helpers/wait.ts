// Waiting in tests: poll a condition instead of sleeping for a guessed time.

type Falsy = false | 0 | '' | null | undefined;

/**
 * Poll `fn` until it returns a truthy value (returned). An error thrown by `fn` counts as "not
 * yet": the state being waited for often makes reads fail on the way (a pod not created yet, a
 * server restarting). Fails after `ms` with the last value and the last error seen.
 */
export async function until<T>(fn: () => Promise<T | Falsy> | T | Falsy, what: string, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  let last: T | Falsy;
  let lastErr: unknown;
  for (;;) {
    try {
      last = await fn();
      if (last) return last as T;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > end) {
      throw new Error(`timed out waiting for ${what}; last value: ${JSON.stringify(last)}${lastErr ? `; last error: ${(lastErr as Error).message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
