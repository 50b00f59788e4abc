// Running the system tools the benchmark drives (ip, iptables-restore, nft, ipset, sysctl), with
// a deadline and the tool's own error text on failure. Timing wraps the whole child process,
// as kube-proxy's sync time includes its iptables-restore child.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

export class BenchError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'BenchError';
    this.code = code;
  }
}

export interface RunResult {
  stdout: string;
  stderr: string;
  ms: number;
  /**
   * CPU time of the tool in user space and in the kernel (ms, 10 ms ticks), from the growth of
   * this process's waited-for-children times; exact while no other child ends at the same time
   * (the benchmark runs its tools one at a time; the pods and the client live on).
   */
  userMs: number;
  kernelMs: number;
}

/** cutime and cstime of this process (ticks of 1/100 s), or zeros where /proc is missing. */
export function childCpuTicks(): { user: number; kernel: number } {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields after the command name start at field 3 (state): cutime is field 16, cstime 17.
    return { user: Number(f[13]), kernel: Number(f[14]) };
  } catch {
    return { user: 0, kernel: 0 };
  }
}

export interface RunOptions {
  input?: string;
  timeoutMs?: number;
  /** Do not throw on a non-zero exit (for best-effort cleanup). */
  allowFailure?: boolean;
}

export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 600_000;
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const cpu0 = childCpuTicks();
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new BenchError('TOOL_MISSING', `cannot run ${cmd}: ${e.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const stdout = Buffer.concat(out).toString();
      const stderr = Buffer.concat(err).toString();
      if (timedOut) return reject(new BenchError('TOOL_TIMEOUT', `${cmd} ${args.join(' ')} did not finish within ${timeoutMs} ms`));
      if (code !== 0 && !opts.allowFailure) {
        const detail = stderr.trim().split('\n').slice(-5).join('\n');
        return reject(new BenchError('TOOL_FAILED', `${cmd} ${args.slice(0, 6).join(' ')} exited with ${code}: ${detail}`));
      }
      const cpu1 = childCpuTicks();
      resolve({ stdout, stderr, ms, userMs: (cpu1.user - cpu0.user) * 10, kernelMs: (cpu1.kernel - cpu0.kernel) * 10 });
    });
    child.stdin.on('error', () => {
      // The tool may exit before reading all its input; its exit status says what went wrong.
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** `ip -batch -` with many commands at once: one process instead of thousands. */
export function ipBatch(commands: readonly string[], opts: RunOptions & { netns?: string } = {}): Promise<RunResult> {
  const ns = opts.netns ? ['-n', opts.netns] : [];
  return run('ip', [...ns, '-batch', '-'], { ...opts, input: `${commands.join('\n')}\n` });
}
