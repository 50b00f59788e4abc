// The `bench k8s` subcommand; the runner is loaded only when it runs, so the CLI starts fast.
import { type Command, InvalidArgumentError } from 'commander';

function positiveInt(name: string, max: number): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < 1 || n > max) throw new InvalidArgumentError(`${name} must be an integer 1-${max}`);
    return n;
  };
}

function nonNegativeInt(name: string, max: number): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || n > max) throw new InvalidArgumentError(`${name} must be an integer 0-${max}`);
    return n;
  };
}

export function addK8sBench(bench: Command): void {
  bench
    .command('k8s')
    .description('N Services x E endpoints through the local API server into IPVS: initial sync and single-endpoint programming latency; needs root and IPVS (run it in the test VM)')
    .option('--services <n>', 'Services', positiveInt('--services', 60_000), 10_000)
    .option('--endpoints <n>', 'endpoints per Service', positiveInt('--endpoints', 1000), 10)
    .option('--changes <n>', 'single-endpoint changes in the steady stream', positiveInt('--changes', 100_000), 200)
    .option('--rate <n>', 'changes per second', positiveInt('--rate', 10_000), 20)
    .option('--min-sync-ms <n>', 'controller minimum sync interval (ms)', nonNegativeInt('--min-sync-ms', 60_000), 1000)
    .option('--json', 'print one JSON object per line')
    .action(async (flags: { services: number; endpoints: number; changes: number; rate: number; minSyncMs: number; json?: boolean }) => {
      const { runK8sBench } = await import('./bench.ts');
      await runK8sBench({ ...flags, json: flags.json === true, write: (line) => process.stdout.write(`${line}\n`) });
    });
}
