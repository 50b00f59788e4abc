// `ipvs-maglev bench <what>`: the benchmarks. They live in bench/ (bench/commands.ts registers them),
// which only a source checkout has: the shipped package leaves bench/ and test/ out, and nothing in src/
// imports them, so the production path pulls in neither the test fakes nor the chart and progress-bar
// libraries. The path is computed at run time, so no bundler or type checker follows it.
import { existsSync } from 'node:fs';
import type { Command } from 'commander';

/** What bench/commands.ts exports. */
interface BenchEntry {
  registerBenchCommands(bench: Command): void;
}

// <checkout>/bench/commands.ts. In the built package (dist/src/cli/commands/) it points into dist/, which has no bench/.
const BENCH_ENTRY = ['..', '..', '..', 'bench', 'commands.ts'].join('/');

export async function registerBench(program: Command): Promise<void> {
  const bench = program.command('bench').description('Run a benchmark and print its measurements (JSON lines with --json)');
  const entry = new URL(BENCH_ENTRY, import.meta.url);
  if (existsSync(entry)) {
    const { registerBenchCommands } = (await import(entry.href)) as BenchEntry;
    registerBenchCommands(bench);
    return;
  }
  bench
    .argument('[benchmark...]')
    .allowUnknownOption()
    .action(() => {
      process.stderr.write(
        'ipvs-maglev bench: the benchmarks run from a source checkout (they live in its bench/ directory, which ' +
          'this installed package does not ship): clone the repository, run `bash scripts/setup.sh`, then ' +
          '`node bin/ipvs-maglev.mjs bench --help`\n',
      );
      process.exitCode = 1;
    });
}
