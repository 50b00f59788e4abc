// The `bench failover` subcommand. Needs root, IPVS and BIRD; on a host whose kernel has no IPVS it
// boots the test VM and runs itself there (results written back through VM_RW).
import { resolve } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { intFlag, runInVmUnlessIpvs } from '../support/command.ts';

export function addFailoverBench(bench: Command): void {
  bench
    .command('failover')
    .description('three LB nodes behind BGP ECMP (real BIRD, real kernel), one killed: established connections answering over time, new-connection failures, reconvergence; mh vs controls (boots the test VM when this kernel has no IPVS)')
    .option('--flows <n>', 'long-lived connections', intFlag('--flows', 1, 2000), 200)
    .option('--rounds-after <n>', 'probe rounds after the router reconverged', intFlag('--rounds-after', 1, 100), 4)
    .option('--case <name...>', 'only these cases: mh, rr, nosloppy')
    .option('--out <dir>', 'where failover.json and the chart go', 'bench/results')
    .option('--json', 'print one JSON object per line')
    .action(async (flags: { flows: number; roundsAfter: number; case?: string[]; out: string; json?: boolean }) => {
      const out = resolve(flags.out);
      const names: Record<string, number> = { mh: 0, rr: 1, nosloppy: 2 };
      for (const c of flags.case ?? []) if (!(c in names)) throw new InvalidArgumentError(`--case: unknown case "${c}" (mh, rr, nosloppy)`);
      const code = runInVmUnlessIpvs(out);
      if (code !== undefined) {
        process.exitCode = code;
        return;
      }
      const { CASES, runFailoverBench } = await import('./bench.ts');
      const cases = flags.case ? flags.case.map((c) => CASES[names[c]]) : CASES;
      await runFailoverBench({ flows: flags.flows, roundsAfter: flags.roundsAfter, cases, out, json: flags.json === true, write: (line) => process.stdout.write(`${line}\n`) });
    });
}
