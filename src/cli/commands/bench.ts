// `ipvs-maglev bench <what>`: the benchmarks. One add<X>Bench per subcommand; each runner is loaded
// only when its subcommand runs, so the CLI starts fast.

import type { Command } from 'commander';
import { addConnCostBench, addDataplaneBench } from '../../../bench/dataplane/cli.ts';
import { addFailoverBench } from '../../../bench/failover/command.ts';
import { addK8sBench } from '../../../bench/k8s/command.ts';
import { addNetlinkBench } from '../../../bench/netlink/command.ts';
import { addReconcileBench } from '../../../bench/reconcile/cli.ts';

export function registerBench(program: Command): void {
  const bench = program.command('bench').description('Run a benchmark and print its measurements (JSON lines with --json)');
  addMaglevBench(bench);
  addDataplaneBench(bench);
  addConnCostBench(bench);
  addReconcileBench(bench);
  addNetlinkBench(bench);
  addK8sBench(bench);
  addFailoverBench(bench);
}

function addMaglevBench(bench: Command): void {
  bench
    .command('maglev')
    .description('Maglev table populate and lookup speed, balance and churn, against a C baseline built with cc -O2')
    .option('--json', 'print one JSON object per line')
    .option('--quick', 'fewer lookups and repetitions (a smoke run, not for reporting)')
    .action(async (flags: { json?: boolean; quick?: boolean }) => {
      const { runMaglevBench } = await import('../../../bench/maglev/bench.ts');
      await runMaglevBench({ json: flags.json === true, quick: flags.quick === true, write: (line) => process.stdout.write(`${line}\n`) });
    });
}
