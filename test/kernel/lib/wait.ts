// Polling for a condition in the kernel suites: the processes they start (run, controller, BIRD,
// backends) converge on their own schedule, more slowly under emulation.

/**
 * Calls `fn` every 250 ms until it returns something other than undefined or false, and returns that;
 * a throw counts as "not yet". After `ms`, fails with `what`, the last error and, if given, `context()`
 * (e.g. the tail of a process's log).
 */
export async function until<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 60_000, context?: () => string): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}${context ? `\n${context()}` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
