// The `bench k8s` subcommand; the runner is loaded only when it runs, so the CLI starts fast.
import type { Command } from 'commander';
import { intFlag, runInVmUnlessIpvs } from '../support/command.ts';

export function addK8sBench(bench: Command): void {
  bench
    .command('k8s')
    .description('N Services x E endpoints through the local API server into IPVS: initial sync and single-endpoint programming latency; needs root and IPVS (boots the test VM when this kernel has none)')
    .option('--services <n>', 'Services', intFlag('--services', 1, 60_000), 10_000)
    .option('--endpoints <n>', 'endpoints per Service', intFlag('--endpoints', 1, 1000), 10)
    .option('--changes <n>', 'single-endpoint changes in the steady stream', intFlag('--changes', 1, 100_000), 200)
    .option('--rate <n>', 'changes per second', intFlag('--rate', 1, 10_000), 20)
    .option('--min-sync-ms <n>', 'controller minimum sync interval (ms)', intFlag('--min-sync-ms', 0, 60_000), 1000)
    .option('--json', 'print one JSON object per line')
    .action(async (flags: { services: number; endpoints: number; changes: number; rate: number; minSyncMs: number; json?: boolean }) => {
      const code = runInVmUnlessIpvs();
      if (code !== undefined) {
        process.exitCode = code;
        return;
      }
      const { runK8sBench } = await import('./bench.ts');
      await runK8sBench({ ...flags, json: flags.json === true, write: (line) => process.stdout.write(`${line}\n`) });
    });
}
