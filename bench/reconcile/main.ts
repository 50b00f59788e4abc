// Direct entry for runs where the CLI's `bench` command is not wired (e.g. inside the test VM):
//   node bench/reconcile/main.ts [services] [destinations] [backend] [results-file]
import { runReconcileBench } from './bench.ts';

const [services = '10000', destinations = '10', backend = 'auto', results] = process.argv.slice(2);
if (backend !== 'auto' && backend !== 'kernel' && backend !== 'memory') throw new Error(`backend must be auto, kernel or memory: ${backend}`);
await runReconcileBench({
  services: Number(services),
  destinations: Number(destinations),
  backend,
  batchSize: Number(process.env.BATCH_SIZE ?? 512),
  json: false,
  results,
  write: (line) => process.stdout.write(`${line}\n`),
});
