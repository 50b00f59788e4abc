// Every `ipvs-maglev bench <what>` subcommand, one add<X>Bench each; each runner is loaded only when its
// subcommand runs, so the CLI starts fast. src/cli/commands/bench.ts loads this file by a path computed at
// run time, and only in a source checkout: the shipped CLI never imports bench/ (nor, through it, test
// fakes, vega, resvg or cli-progress).
import type { Command } from 'commander';
import { addConnCostBench, addDataplaneBench } from './dataplane/cli.ts';
import { addFailoverBench } from './failover/command.ts';
import { addK8sBench } from './k8s/command.ts';
import { addNetlinkBench } from './netlink/command.ts';
import { addReconcileBench } from './reconcile/cli.ts';

/** Adds the benchmarks, in the order `ipvs-maglev bench --help` shows them, to the `bench` command. */
export function registerBenchCommands(bench: Command): void {
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
      const { runMaglevBench } = await import('./maglev/bench.ts');
      await runMaglevBench({ json: flags.json === true, quick: flags.quick === true, write: (line) => process.stdout.write(`${line}\n`) });
    });
}
