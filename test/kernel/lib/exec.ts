// The kernel suites' command helpers: ipvsadm, sysctl, and the check that this kernel has IPVS.
// The runner itself (run, runResult, sh, ipBatch, CommandError) is src/testing/exec.ts, which the
// benchmarks share; this module adds what only the kernel suites need.
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { type RunOptions, run } from '../../../src/testing/exec.ts';

export {
  CommandError,
  formatArgv,
  ipBatch,
  type RunOptions,
  type RunResult,
  run,
  runResult,
  sh,
} from '../../../src/testing/exec.ts';

/** `ipvsadm` with args (an array, or a string split on whitespace); resolves with stdout. */
export function ipvsadm(args: string | readonly string[], opts: RunOptions = {}): Promise<string> {
  const argv = typeof args === 'string' ? args.trim().split(/\s+/) : args;
  return run(['ipvsadm', ...argv], opts);
}

/** Sets a sysctl (in a namespace when given), e.g. sysctl('net.ipv4.ip_forward', 1). In the current
 *  namespace it writes /proc/sys directly: no process to start. */
export async function sysctl(key: string, value: string | number, netns?: string): Promise<void> {
  if (netns) {
    await run(['sysctl', '-qw', `${key}=${value}`], { netns });
    return;
  }
  try {
    await writeFile(`/proc/sys/${key.replaceAll('.', '/')}`, String(value));
  } catch (e) {
    throw new Error(`sysctl ${key}=${value}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

export class NoIpvsKernelError extends Error {
  readonly code = 'NO_IPVS_KERNEL';
  constructor() {
    super(
      'this kernel has no IPVS (or we are not root): run kernel suites with ' +
        '`bash test/kernel/vm/run-suite.sh <file>` (boots a VM with a Debian kernel)',
    );
    this.name = 'NoIpvsKernelError';
  }
}

/** Call in beforeAll of every kernel suite: fails fast (never skips) when there is no IPVS here. */
export function assertIpvsKernel(): void {
  if (process.getuid?.() !== 0 || !existsSync('/proc/net/ip_vs')) throw new NoIpvsKernelError();
}

/** Removes every IPVS service (`ipvsadm -C`). Suites call it in before/after hooks, never implicitly. */
export async function clearIpvs(): Promise<void> {
  await ipvsadm(['-C']);
}
