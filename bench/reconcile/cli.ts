import type { Command } from 'commander';

// `ipvs-maglev bench reconcile`: registered by bench/commands.ts; the runner loads on use.

export function addReconcileBench(bench: Command): void {
  bench
    .command('reconcile')
    .description('Reconciler cost: 10,000 services x 10 destinations from empty, then one destination change (kernel requests counted)')
    .option('--services <n>', 'number of virtual services', '10000')
    .option('--destinations <n>', 'destinations per service', '10')
    .option('--backend <kind>', 'auto (kernel when IPVS is usable, else memory), kernel or memory', 'auto')
    .option('--batch-size <n>', 'writes pipelined per netlink round trip (1 = one at a time)', '512')
    .option('--results <file>', 'also write a Markdown table to this file')
    .option('--json', 'print one JSON object per line')
    .action(async (flags: { services: string; destinations: string; backend: string; batchSize: string; results?: string; json?: boolean }) => {
      const num = (v: string, name: string, min: number, max: number): number => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer ${min}..${max}, got ${JSON.stringify(v)}`);
        return n;
      };
      const backend = flags.backend;
      if (backend !== 'auto' && backend !== 'kernel' && backend !== 'memory') throw new Error(`--backend must be auto, kernel or memory, got ${JSON.stringify(backend)}`);
      const options = {
        services: num(flags.services, 'services', 1, 65536 * 2),
        destinations: num(flags.destinations, 'destinations', 1, 250),
        batchSize: num(flags.batchSize, 'batch-size', 1, 65536),
        backend: backend as 'auto' | 'kernel' | 'memory',
        json: flags.json === true,
        results: flags.results,
        write: (line: string) => process.stdout.write(`${line}\n`),
      };
      const { runReconcileBench } = await import('./bench.ts');
      await runReconcileBench(options);
    });
}
