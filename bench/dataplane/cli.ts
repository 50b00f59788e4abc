// `ipvs-maglev bench dataplane`: kube-proxy-style iptables (and nftables) against IPVS rr and
// IPVS mh on this kernel. Needs root and a kernel with IPVS; on a host without, it runs itself in
// the test VM with --out shared read-write, so the results land here.
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { intFlag, runInVmUnlessIpvs } from '../support/command.ts';
import { DEFAULT_PLANES, PLANE_NAMES, type PlaneName } from './planes.ts';

interface Flags {
  quick?: boolean;
  services?: number[];
  endpoints?: number;
  planes?: PlaneName[];
  latencyCount?: number;
  duration?: number;
  flows?: number;
  out: string;
  json?: boolean;
  render?: string;
  prefix: string;
  maxServices?: Partial<Record<PlaneName, number>>;
}

function sizeList(text: string): number[] {
  const parse = intFlag('each service count', 1, 60_000);
  const sizes = text.split(',').map((s) => parse(s.trim()));
  if (new Set(sizes).size !== sizes.length) throw new InvalidArgumentError(`service counts must be distinct, got "${text}"`);
  return sizes;
}

function planeList(text: string): PlaneName[] {
  const planes = text.split(',').map((s) => s.trim());
  for (const p of planes) {
    if (!(PLANE_NAMES as readonly string[]).includes(p)) throw new InvalidArgumentError(`unknown data plane "${p}" (choose from ${PLANE_NAMES.join(', ')})`);
  }
  return planes as PlaneName[];
}

/** "nftables=5000,iptables=1000", or "none" for no limits. */
function maxServicesList(text: string): Partial<Record<PlaneName, number>> {
  const out: Partial<Record<PlaneName, number>> = {};
  if (text.trim() === 'none') return out;
  const parse = intFlag('a plane\'s service limit', 1, 60_000);
  for (const part of text.split(',')) {
    const [plane, n, extra] = part.split('=').map((x) => x.trim());
    if (n === undefined || extra !== undefined) throw new InvalidArgumentError(`max services must look like nftables=5000, got "${part}"`);
    planeList(plane);
    out[plane as PlaneName] = parse(n);
  }
  return out;
}

function prefixName(text: string): string {
  if (!/^[a-z][a-z0-9]{0,5}$/.test(text)) throw new InvalidArgumentError(`prefix must be 1-6 lower-case letters/digits starting with a letter, got "${text}"`);
  return text;
}

export function addDataplaneBench(bench: Command): void {
  bench
    .command('dataplane')
    .description('kube-proxy-style iptables and nftables vs IPVS rr and IPVS mh (Maglev) on this kernel: programming time, first-packet latency, connection rate and CPU, churn (root and IPVS; boots the test VM when this kernel has none)')
    .option('--quick', 'N up to 1000 and few connections (CI smoke run; timings not for reporting)')
    .option('--services <list>', 'service counts N, comma-separated (default 100,1000,5000,10000; quick: 100,1000)', sizeList)
    .option('--endpoints <n>', 'endpoints per service (default 4)', intFlag('endpoints', 1, 32))
    .option('--planes <list>', `data planes, comma-separated, from ${PLANE_NAMES.join(',')} (default ${DEFAULT_PLANES.join(',')}; iptables = legacy backend)`, planeList)
    .option('--latency-count <n>', 'connections per latency target (default 200; quick: 30)', intFlag('latency count', 1, 100_000))
    .option('--duration <ms>', 'connection-rate phase per run in ms (default 4000; quick: 1500)', intFlag('duration', 1, 600_000))
    .option('--flows <n>', 'flows with fixed source ports for the churn step (default 1000; quick: 200)', intFlag('flows', 1, 20_000))
    .option('--max-services <plane=n,...>', 'largest N per data plane, or "none" (default in full runs: nftables=5000, whose first load grows quadratically with N)', maxServicesList)
    .option('--out <dir>', 'directory for the JSON, Markdown and charts', 'bench/results')
    .option('--json', 'also print the results JSON on stdout')
    .option('--render <results.json>', 'only re-render the Markdown and charts from a results file')
    .option('--prefix <name>', 'prefix of the namespaces and interfaces created', prefixName, 'imb')
    .action(async (flags: Flags) => {
      const code = await dataplaneCommand(flags);
      if (code !== 0) process.exitCode = code;
    });
}

async function dataplaneCommand(flags: Flags): Promise<number> {
  const { writeReport } = await import('./report.ts');
  const { validateResults } = await import('./results.ts');
  if (flags.render) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readFile(flags.render, 'utf8'));
    } catch (e) {
      process.stderr.write(`error: cannot read results from ${flags.render}: ${(e as Error).message}\n`);
      return 2;
    }
    const problems = validateResults(parsed);
    if (problems.length > 0) {
      process.stderr.write(`error: ${flags.render} is not a dataplane results file: ${problems.slice(0, 3).join('; ')}\n`);
      return 2;
    }
    const results = parsed as import('./results.ts').BenchResults;
    const written = await writeReport(results, flags.out, results.config.quick ? 'dataplane-quick' : 'dataplane');
    process.stderr.write(`wrote ${written.join(', ')}\n`);
    return 0;
  }
  const inVm = runInVmUnlessIpvs(flags.out);
  if (inVm !== undefined) return inVm;
  if (process.getuid?.() !== 0) {
    process.stderr.write('error: bench dataplane needs root (it creates network namespaces and programs the kernel)\n');
    return 2;
  }
  const { fullConfig, quickConfig, runDataplaneBench, totalSteps } = await import('./run.ts');
  const base = flags.quick ? quickConfig() : fullConfig();
  const planes = flags.planes ?? [...DEFAULT_PLANES];
  const config = {
    ...base,
    planes,
    sizes: flags.services ?? base.sizes,
    endpoints: flags.endpoints ?? base.endpoints,
    latencyCount: flags.latencyCount ?? base.latencyCount,
    rateDurationMs: flags.duration ?? base.rateDurationMs,
    flowCount: flags.flows ?? base.flowCount,
    maxServices: flags.maxServices ?? base.maxServices,
    prefix: flags.prefix,
  };
  const { makePlaneFactory } = await import('./factory.ts');
  let factory: Awaited<ReturnType<typeof makePlaneFactory>>;
  try {
    factory = await makePlaneFactory(planes);
  } catch (e) {
    process.stderr.write(`error: ${(e as Error).message}\n`);
    return 2;
  }
  const progress = await makeProgress(totalSteps(config));
  const abort = new AbortController();
  const onSignal = () => {
    process.stderr.write('\ninterrupted: finishing the current step, then removing namespaces and rules...\n');
    abort.abort();
  };
  process.once('SIGINT', onSignal);
  let results: import('./results.ts').BenchResults;
  try {
    const { mkdir, writeFile } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const partialPath = join(flags.out, `${config.quick ? 'dataplane-quick' : 'dataplane'}.partial.json`);
    await mkdir(flags.out, { recursive: true });
    const checkpoint = (partial: import('./results.ts').BenchResults) => writeFile(partialPath, `${JSON.stringify(partial, null, 2)}\n`);
    results = await runDataplaneBench(config, factory.make, { step: progress.step, log: progress.log, signal: abort.signal, checkpoint });
    await import('node:fs/promises').then((fs) => fs.rm(partialPath, { force: true }));
  } catch (e) {
    progress.stop();
    process.stderr.write(`error: ${(e as Error).message}\n`);
    return 1;
  } finally {
    process.removeListener('SIGINT', onSignal);
    await factory.close();
  }
  progress.stop();
  const written = await writeReport(results, flags.out, config.quick ? 'dataplane-quick' : 'dataplane');
  if (flags.json) process.stdout.write(`${JSON.stringify(results)}\n`);
  process.stderr.write(`wrote ${written.join(', ')}\n`);
  for (const f of results.failures) process.stderr.write(`failed: ${f.plane} N=${f.services} (${f.step}): ${f.message}\n`);
  return results.failures.length > 0 ? 1 : 0;
}

/**
 * A progress bar on an interactive terminal; one timestamped line per step otherwise. The VM's
 * console is a tty too, but the host reads it line by line, so CI (set in the VM) gets lines.
 */
async function makeProgress(total: number): Promise<{ step: (label: string) => void; log: (line: string) => void; stop: () => void }> {
  if (process.stderr.isTTY && !process.env.CI) {
    const { SingleBar, Presets } = await import('cli-progress');
    const bar = new SingleBar({ format: 'dataplane [{bar}] {value}/{total} {label}', stream: process.stderr, hideCursor: true }, Presets.shades_classic);
    bar.start(total, 0, { label: 'starting' });
    return {
      step: (label) => bar.increment(1, { label }),
      log: (line) => bar.update({ label: line }),
      stop: () => bar.stop(),
    };
  }
  let done = 0;
  const t0 = Date.now();
  return {
    step: (label) => {
      done++;
      process.stderr.write(`[${done}/${total} ${Math.round((Date.now() - t0) / 1000)}s] ${label}\n`);
    },
    log: (line) => process.stderr.write(`  [${Math.round((Date.now() - t0) / 1000)}s] ${line}\n`),
    stop: () => undefined,
  };
}

interface ConnCostFlags {
  quick?: boolean;
  services?: number[];
  planes?: PlaneName[];
  connections?: number;
  maxServices?: Partial<Record<PlaneName, number>>;
  out: string;
  prefix: string;
  compare?: [string, string];
}

function filePair(text: string): [string, string] {
  const files = text.split(',');
  if (files.length !== 2 || files.some((f) => f.trim() === '')) throw new InvalidArgumentError(`--compare wants two result files "a.json,b.json", got "${text}"`);
  return [files[0].trim(), files[1].trim()];
}

const CONN_COST_PLANES: readonly PlaneName[] = ['iptables', 'nftables', 'ipvs-rr', 'ipvs-mh'];

export function addConnCostBench(bench: Command): void {
  bench
    .command('conn-cost')
    .description('first-packet cost of a new connection per data plane (iptables, nftables, IPVS rr, IPVS mh) vs number of services, from a C client timed under qemu instruction counting (boots the test VM with VM_ICOUNT=1 when this kernel has no IPVS)')
    .option('--quick', 'N = 100 and 1000, 30 connections a target (CI check of the figures\' form)')
    .option('--services <list>', 'service counts N, comma-separated (default 100,1000,5000,10000)', sizeList)
    .option('--planes <list>', `data planes, comma-separated, from ${PLANE_NAMES.join(',')} (default ${CONN_COST_PLANES.join(',')})`, planeList)
    .option('--connections <n>', 'timed connections per target (default 300; quick: 30)', intFlag('connections', 1, 100_000))
    .option('--max-services <plane=n,...>', 'largest N per data plane, or "none" (default: nftables=5000, whose first load grows quadratically with N)', maxServicesList)
    .option('--out <dir>', 'directory for the JSON, Markdown and chart', 'bench/results')
    .option('--prefix <name>', 'prefix of the namespaces and interfaces created', prefixName, 'imc')
    .option('--compare <a.json,b.json>', 'only compare two result files: each p50 in both runs, how far apart, and whether the rankings agree (Markdown on stdout)', filePair)
    .action(async (flags: ConnCostFlags) => {
      const code = await connCostCommand(flags);
      if (code !== 0) process.exitCode = code;
    });
}

async function connCostCommand(flags: ConnCostFlags): Promise<number> {
  if (flags.compare) return compareConnCostFiles(flags.compare);
  const inVm = runInVmUnlessIpvs(flags.out, { VM_ICOUNT: '1' });
  if (inVm !== undefined) return inVm;
  if (process.getuid?.() !== 0) {
    process.stderr.write('error: bench conn-cost needs root (it creates network namespaces and programs the kernel)\n');
    return 2;
  }
  const { fullConnCostConfig, quickConnCostConfig, runConnCost, writeConnCostReport } = await import('./conn-cost.ts');
  const planes = flags.planes ?? [...CONN_COST_PLANES];
  const base = flags.quick ? quickConnCostConfig(planes) : fullConnCostConfig(planes);
  const config = { ...base, sizes: flags.services ?? base.sizes, connections: flags.connections ?? base.connections, maxServices: flags.maxServices ?? (flags.quick ? {} : { nftables: 5000 }) };
  const { makePlaneFactory } = await import('./factory.ts');
  let factory: Awaited<ReturnType<typeof makePlaneFactory>>;
  try {
    factory = await makePlaneFactory(planes);
  } catch (e) {
    process.stderr.write(`error: ${(e as Error).message}\n`);
    return 2;
  }
  const t0 = Date.now();
  const log = (line: string) => process.stderr.write(`  [${Math.round((Date.now() - t0) / 1000)}s] ${line}\n`);
  let results: import('./conn-cost.ts').ConnCostResults;
  try {
    results = await runConnCost(config, factory.make, flags.prefix, { log });
  } catch (e) {
    process.stderr.write(`error: ${(e as Error).message}\n`);
    return 1;
  } finally {
    await factory.close();
  }
  const written = await writeConnCostReport(results, flags.out, config.quick ? 'conn-cost-quick' : 'conn-cost');
  process.stderr.write(`wrote ${written.join(', ')}\n`);
  for (const f of results.failures) process.stderr.write(`failed: ${f.plane} N=${f.services}: ${f.message}\n`);
  return results.failures.length > 0 ? 1 : 0;
}

async function compareConnCostFiles(files: [string, string]): Promise<number> {
  const { compareConnCost, repeatabilityMarkdown, validateConnCost } = await import('./conn-cost.ts');
  const runs: import('./conn-cost.ts').ConnCostResults[] = [];
  for (const file of files) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readFile(file, 'utf8'));
    } catch (e) {
      process.stderr.write(`error: cannot read results from ${file}: ${(e as Error).message}\n`);
      return 2;
    }
    const problems = validateConnCost(parsed);
    if (problems.length > 0) {
      process.stderr.write(`error: ${file} is not a conn-cost results file: ${problems.slice(0, 3).join('; ')}\n`);
      return 2;
    }
    runs.push(parsed as import('./conn-cost.ts').ConnCostResults);
  }
  process.stdout.write(repeatabilityMarkdown(compareConnCost(runs[0], runs[1])));
  return 0;
}
