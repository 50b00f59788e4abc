// Running the system tools the benchmark drives (ip, iptables-restore, nft, ipset, sysctl), with
// a deadline and the tool's own error text on failure. Timing wraps the whole child process,
// as kube-proxy's sync time includes its iptables-restore child.
import { spawn } from 'node:child_process';

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
      resolve({ stdout, stderr, ms });
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
