// Running commands for the kernel suites and the benchmarks: every failure names the command, its exit
// status and its stderr, so a failing `ip`/`ipvsadm` call explains itself in the report. Test and bench
// infrastructure (src/testing): production code does not import it.
import { spawn } from 'node:child_process';

export interface RunOptions {
  /** Written to the command's stdin (else stdin is empty). */
  input?: string;
  /** Kill the command after this long (default 60 s). */
  timeoutMs?: number;
  /** Run inside this network namespace (`ip netns exec NAME ...`). */
  netns?: string;
  env?: NodeJS.ProcessEnv;
}

export interface RunResult {
  argv: readonly string[];
  /** null when killed by a signal (or by the timeout). */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export class CommandError extends Error {
  readonly code = 'COMMAND_FAILED';
  readonly result: RunResult;
  constructor(result: RunResult) {
    const why = result.timedOut
      ? 'timed out'
      : result.exitCode === null
        ? `killed by ${result.signal}`
        : `exit ${result.exitCode}`;
    const err = result.stderr.trim() || result.stdout.trim();
    super(`\`${formatArgv(result.argv)}\` failed (${why})${err ? `: ${err}` : ''}`);
    this.name = 'CommandError';
    this.result = result;
  }
}

export function formatArgv(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`)).join(' ');
}

function withNetns(argv: readonly string[], netns: string | undefined): readonly string[] {
  return netns ? ['ip', 'netns', 'exec', netns, ...argv] : argv;
}

/** Runs argv (no shell) and resolves with everything it did, whatever its exit status. */
export function runResult(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const full = withNetns(argv, opts.netns);
  return new Promise((resolve, reject) => {
    const child = spawn(full[0], full.slice(1), {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 60_000);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run \`${formatArgv(full)}\`: ${e.message}`));
    });
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      resolve({
        argv: full,
        exitCode,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
      });
    });
    child.stdin.on('error', () => {}); // the command may exit without reading its input
    child.stdin.end(opts.input ?? '');
  });
}

/** Runs argv (no shell); resolves with stdout, throws CommandError on a non-zero exit. */
export async function run(argv: readonly string[], opts: RunOptions = {}): Promise<string> {
  const r = await runResult(argv, opts);
  if (r.exitCode !== 0) throw new CommandError(r);
  return r.stdout;
}

/** Runs a /bin/sh command line; resolves with stdout, throws CommandError on a non-zero exit. */
export function sh(cmd: string, opts: RunOptions = {}): Promise<string> {
  return run(['/bin/sh', '-c', cmd], opts);
}

/** Many `ip` commands in ONE process (`ip [-n NETNS] -batch -`): one line per command, without the
 *  leading "ip". Starting a process costs ~0.1-0.5 s in the VM, so topology code batches. With
 *  force, failing lines are reported but the rest still run (for cleanup). */
export async function ipBatch(lines: readonly string[], opts: { netns?: string; force?: boolean } = {}): Promise<void> {
  if (lines.length === 0) return;
  const argv = ['ip', ...(opts.netns ? ['-n', opts.netns] : []), ...(opts.force ? ['-force'] : []), '-batch', '-'];
  const r = await runResult(argv, { input: `${lines.join('\n')}\n` });
  if (r.exitCode === 0 || opts.force) return;
  // ip names the failing line ("Command failed -:N"); quote it so the error stands on its own.
  const n = Number(/Command failed -:(\d+)/.exec(r.stderr)?.[1] ?? 0);
  throw new CommandError(n > 0 ? { ...r, stderr: `${r.stderr.trim()} [line ${n}: ${lines[n - 1]}]` } : r);
}

