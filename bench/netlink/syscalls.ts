// System-call counts for `bench netlink`, from `strace -c`: where the time of a dump goes that a
// stopwatch cannot show (calls per reply, polls, futex wake-ups of helper threads).
//
// Ours runs inside this process, so strace attaches to it (-p, every thread with -f) just for the
// read and is stopped with SIGINT, which makes it print its summary; ipvsadm is run under strace
// whole (its process start included, a fixed ~100 calls). Traced runs are slow: never timed.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SyscallCounts {
  total: number;
  /** Calls per system call name, largest first. */
  byName: Record<string, number>;
}

export class SyscallCountError extends Error {
  readonly code = 'SYSCALL_COUNT';
  constructor(message: string) {
    super(message);
    this.name = 'SyscallCountError';
  }
}

// One row of the `strace -c` table: % time, seconds, usecs/call, calls, [errors], name.
const ROW = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?([a-z_0-9]+)\s*$/;

/** Parses the summary table `strace -c -o FILE` writes. */
export function parseStraceSummary(text: string): SyscallCounts {
  const byName: Record<string, number> = {};
  let total = -1;
  for (const line of text.split('\n')) {
    const m = ROW.exec(line);
    if (!m) continue;
    const calls = Number(m[1]);
    if (m[2] === 'total') total = calls;
    else byName[m[2]] = (byName[m[2]] ?? 0) + calls;
  }
  if (total < 0) throw new SyscallCountError(`no "total" row in the strace summary:\n${text.slice(0, 500)}`);
  const sorted = Object.fromEntries(Object.entries(byName).sort((a, b) => b[1] - a[1]));
  return { total, byName: sorted };
}

function tempFile(): { file: string; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'ipvs-maglev-strace-'));
  return { file: join(dir, 'summary'), done: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Counts the system calls every thread of this process makes while `fn` runs. */
export async function countOwnSyscalls(fn: () => Promise<unknown>): Promise<SyscallCounts> {
  const { file, done } = tempFile();
  try {
    const strace = spawn('strace', ['-f', '-c', '-o', file, '-p', String(process.pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
    const exited = new Promise<number | null>((resolve, reject) => {
      strace.on('error', (e) => reject(new SyscallCountError(`cannot run strace: ${e.message} (scripts/vm-deps.sh installs it)`)));
      strace.on('close', (code) => resolve(code));
    });
    let stderr = '';
    // strace says "Process N attached" once per thread; tracing starts with the first.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new SyscallCountError(`strace did not attach within 10 s: ${stderr.slice(0, 300)}`)), 10_000);
      strace.stderr.on('data', (b: Buffer) => {
        stderr += b.toString('utf8');
        if (/attached/.test(stderr)) {
          clearTimeout(timer);
          resolve();
        }
      });
      exited.then((code) => {
        clearTimeout(timer);
        reject(new SyscallCountError(`strace exited (${code}) before attaching: ${stderr.slice(0, 300)}`));
      }, reject);
    });
    // Let it attach to the remaining threads too before the measured work starts.
    await new Promise((resolve) => setTimeout(resolve, 200));
    try {
      await fn();
    } finally {
      strace.kill('SIGINT');
      await exited.catch(() => undefined);
    }
    return parseStraceSummary(readFileSync(file, 'utf8'));
  } finally {
    done();
  }
}

/** Runs `prefix strace -f -c argv` (prefix e.g. `ip netns exec NS`) and returns the counts; the command must exit 0. */
export async function countCommandSyscalls(argv: string[], prefix: string[] = []): Promise<SyscallCounts> {
  const { file, done } = tempFile();
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      const full = [...prefix, 'strace', '-f', '-c', '-o', file, ...argv];
      const child = spawn(full[0], full.slice(1), { stdio: ['ignore', 'ignore', 'ignore'] });
      child.on('error', (e) => reject(new SyscallCountError(`cannot run strace: ${e.message}`)));
      child.on('close', resolve);
    });
    if (code !== 0) throw new SyscallCountError(`strace ${argv.join(' ')} exited ${code}`);
    return parseStraceSummary(readFileSync(file, 'utf8'));
  } finally {
    done();
  }
}
