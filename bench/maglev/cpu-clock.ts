// A precise per-thread CPU clock for the bench: clock_gettime(CLOCK_THREAD_CPUTIME_ID) through
// koffi. process.threadCpuUsage() comes from getrusage, which Linux accounts in scheduler ticks
// (4 ms at HZ=250): too coarse for a 0.03 ms populate. Falls back to wall time if libc cannot be
// loaded, and says so.

import koffi from 'koffi';

const CLOCK_THREAD_CPUTIME_ID = 3;

export interface Clock {
  readonly kind: 'thread-cpu' | 'wall';
  nowMs(): number;
}

export function threadCpuClock(): Clock {
  try {
    const libc = koffi.load('libc.so.6');
    koffi.struct('bench_timespec', { tv_sec: 'int64_t', tv_nsec: 'int64_t' });
    const clockGettime = libc.func('int clock_gettime(int clk, _Out_ bench_timespec *ts)');
    const ts = { tv_sec: 0, tv_nsec: 0 };
    const probe = (): number => {
      if (clockGettime(CLOCK_THREAD_CPUTIME_ID, ts) !== 0) throw new Error('clock_gettime failed');
      return Number(ts.tv_sec) * 1e3 + Number(ts.tv_nsec) / 1e6;
    };
    probe();
    return { kind: 'thread-cpu', nowMs: probe };
  } catch {
    return { kind: 'wall', nowMs: () => performance.now() };
  }
}
