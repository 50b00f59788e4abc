import { describe, expect, it } from 'vitest';
import { parseStraceSummary, SyscallCountError } from '../../bench/netlink/syscalls.ts';

// The table `strace -c -o FILE` writes (strace 6.1), with and without an errors column.
const SAMPLE = `% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 61.07    0.004510           4      1001           recvfrom
 30.12    0.002224           4       501         1 sendto
  8.81    0.000651          21        30           futex
------ ----------- ----------- --------- --------- ----------------
100.00    0.007385           4      1532         1 total
`;

describe('bench netlink: strace -c summary', () => {
  it('reads the calls per system call and the total', () => {
    const s = parseStraceSummary(SAMPLE);
    expect(s.total).toBe(1532);
    expect(s.byName).toEqual({ recvfrom: 1001, sendto: 501, futex: 30 });
    expect(Object.keys(s.byName)[0]).toBe('recvfrom');
  });

  it('a summary without a total row is an error, not zero', () => {
    expect(() => parseStraceSummary('strace: attach: ptrace(PTRACE_SEIZE, 1): Operation not permitted\n')).toThrow(SyscallCountError);
  });
});
