import { spawn } from 'node:child_process';
import type { ProbeResult } from './probe.ts';
import { settleOnce } from './probe.ts';
import type { ExecCheck } from './types.ts';

// An exec check runs a program directly (no shell: nothing in the configuration is ever parsed as
// shell syntax) in its own process group, so a timeout kills the program and whatever it started.
// Its output is discarded (the last line of stderr, capped, goes into the failure reason).

const STDERR_KEEP = 512;

export interface ExecTarget {
  address: string;
  port: number;
  serviceName: string;
}

export function probeExec(target: ExecTarget, check: ExecCheck, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const [program, ...args] = check.command;
    let stderr = '';
    const child = spawn(program, args, {
      shell: false,
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: {
        ...process.env,
        IPVS_MAGLEV_BACKEND_ADDRESS: target.address,
        IPVS_MAGLEV_BACKEND_PORT: String(target.port),
        IPVS_MAGLEV_SERVICE: target.serviceName,
      },
    });
    const kill = (): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    };
    // The program exited or could not start: nothing to tear down (the exit handler kills the group).
    const done = settleOnce<ProbeResult>(
      resolve,
      timeoutMs,
      () => {
        kill();
        return { ok: false, reason: `${program} did not finish within ${timeoutMs} ms (killed)` };
      },
      () => {},
    );
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_KEEP);
    });
    child.on('error', (err: NodeJS.ErrnoException) => done({ ok: false, reason: `cannot run ${program}: ${err.code ?? err.message}` }));
    // 'exit', not 'close': a child the program left behind may hold stderr open; it goes with the group.
    child.on('exit', (code, signal) => {
      kill();
      if (code === 0) return done({ ok: true });
      const last = stderr.trim().split('\n').pop()?.slice(0, 200);
      done({ ok: false, reason: `${program} ${signal ? `killed by ${signal}` : `exited ${code}`}${last ? `: ${last}` : ''}` });
    });
  });
}
