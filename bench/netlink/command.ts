// The `bench netlink` subcommand; the runner is loaded only when it runs, so the CLI starts fast.
import type { Command } from 'commander';
import { intFlag, runInVmUnlessIpvs } from '../support/command.ts';

export function addNetlinkBench(bench: Command): void {
  bench
    .command('netlink')
    .description('Program and dump N services x D destinations with our netlink client and with ipvsadm (-R / -Ln); needs root and IPVS (boots the test VM when this kernel has none)')
    .option('--services <n>', 'virtual services', intFlag('--services', 1, 1_000_000), 10_000)
    .option('--dests <n>', 'destinations per service', intFlag('--dests', 1, 65000), 10)
    .option('--rounds <n>', 'rounds (each programs with both tools, alternating who goes first)', intFlag('--rounds', 1, 100), 1)
    .option('--dump-repeats <n>', 'dump comparisons per programmed table (cheap extra samples of the dump phase)', intFlag('--dump-repeats', 1, 100), 1)
    .option('--scheduler <name>', 'scheduler of every service', 'rr')
    .option('--json', 'print one JSON object per line')
    .option('--no-program-baseline', 'program with our client only (skips timing ipvsadm -R, the longest phase); the dumps are still compared')
    .option('--no-syscalls', 'skip counting system calls with strace (ours and ipvsadm -Ln, one untimed read each)')
    .action(async (flags: { services: number; dests: number; rounds: number; dumpRepeats: number; scheduler: string; json?: boolean; syscalls: boolean; programBaseline: boolean }) => {
      const code = runInVmUnlessIpvs();
      if (code !== undefined) {
        process.exitCode = code;
        return;
      }
      const { runNetlinkBench } = await import('./bench.ts');
      await runNetlinkBench({
        services: flags.services,
        dests: flags.dests,
        rounds: flags.rounds,
        dumpRepeats: flags.dumpRepeats,
        scheduler: flags.scheduler,
        json: flags.json === true,
        syscalls: flags.syscalls,
        programBaseline: flags.programBaseline,
        write: (line) => process.stdout.write(`${line}\n`),
      });
    });
}
