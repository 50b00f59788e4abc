// `bench conn-cost`: what the first packet of a new connection costs in each data plane as the number of
// Services grows. A C client (conn-cost.c) in the client namespace times each blocking connect(): the SYN's
// way through the node (the plane's lookup, DNAT, conntrack) to a C backend and the SYN/ACK back. Under
// qemu's -icount (VM_ICOUNT=1, which this bench asks for when it boots the VM itself) the guest clock counts
// executed instructions, so the figures repeat whatever the host's load; the same client straight to the
// backend with no data plane (the baseline, measured at every N) is subtracted, leaving the plane's share.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TopLevelSpec } from 'vega-lite';
import { BenchError, run } from './exec.ts';
import type { DataPlane, PlaneName } from './planes.ts';
import { COMMON, renderChart, SHORT } from './report.ts';
import { percentile } from './stats.ts';
import { createTopology, describeTopology, destroyTopology, ipvsSysctls } from './topology.ts';
import { makeWorkload } from './workload.ts';

export const CONN_COST_SCHEMA = 'ipvs-maglev/bench-conn-cost/1';
const TARGET_PORT = 8080;
const SERVICE_PORT = 80;
/** Connections before the timed ones at each target: ARP, route and socket caches warm, not timed. */
const WARMUP = 5;
const SOURCE = fileURLToPath(new URL('./conn-cost.c', import.meta.url));

export interface ConnCostConfig {
  quick: boolean;
  sizes: number[];
  planes: PlaneName[];
  /** Timed connections per target (first service, last service, baseline). */
  connections: number;
  endpoints: number;
  /** Largest N per plane; larger ones are skipped (and listed as such). */
  maxServices?: Partial<Record<PlaneName, number>>;
}

export interface CostSummary {
  n: number;
  /** Nanoseconds of guest clock (instructions under -icount). */
  p50: number;
  p90: number;
  p99: number;
}

export interface ConnCostRun {
  plane: PlaneName;
  services: number;
  target: 'first' | 'last';
  /** connect() as measured, baseline included. */
  raw: CostSummary;
  /** raw minus the baseline's percentile of the same rank at this N: the data plane's share. */
  net: CostSummary;
}

export interface ConnCostResults {
  schema: typeof CONN_COST_SCHEMA;
  startedAt: string;
  finishedAt: string;
  /** True when the guest clock counted instructions (qemu -icount): the unit is then instructions, not time. */
  icount: boolean;
  kernel: string;
  config: ConnCostConfig;
  /** Direct connections to a backend with no data plane, measured at each N before its planes. */
  baseline: { services: number; raw: CostSummary }[];
  runs: ConnCostRun[];
  failures: { plane: PlaneName; services: number; message: string }[];
}

export function quickConnCostConfig(planes: PlaneName[]): ConnCostConfig {
  return { quick: true, sizes: [100, 1000], planes, connections: 30, endpoints: 2 };
}

export function fullConnCostConfig(planes: PlaneName[]): ConnCostConfig {
  return { quick: false, sizes: [100, 1000, 5000, 10000], planes, connections: 300, endpoints: 2 };
}

export function summarize(samples: readonly number[]): CostSummary {
  return { n: samples.length, p50: percentile(samples, 50), p90: percentile(samples, 90), p99: percentile(samples, 99) };
}

function minus(a: CostSummary, b: CostSummary): CostSummary {
  return { n: a.n, p50: a.p50 - b.p50, p90: a.p90 - b.p90, p99: a.p99 - b.p99 };
}

/** Compiles the probe with this host's cc (once per source version) and returns the binary's path. */
export async function buildProbe(): Promise<string> {
  const source = await readFile(SOURCE);
  let h = 0x811c9dc5;
  for (const b of source) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  const dir = join(tmpdir(), 'ipvs-maglev-conn-cost');
  const bin = join(dir, `conn-cost-${h.toString(16)}`);
  try {
    await readFile(bin);
    return bin;
  } catch {
    await mkdir(dir, { recursive: true });
    await run('cc', ['-O2', '-Wall', '-o', bin, SOURCE]);
    return bin;
  }
}

function startBackend(bin: string, ns: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', ns, bin, 'serve', String(TARGET_PORT)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b: Buffer) => {
      err += b.toString();
    });
    const timer = setTimeout(() => reject(new BenchError('START_TIMEOUT', `backend in ${ns} did not start: ${err}`)), 60_000);
    child.stdout.once('data', () => {
      clearTimeout(timer);
      resolve(child);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new BenchError('START_FAILED', `backend in ${ns} exited with ${code}: ${err}`));
    });
  });
}

/** Times `count` connects (after the warm-up ones) from the client namespace; nanoseconds each. */
async function connects(bin: string, ns: string, ip: string, port: number, count: number): Promise<number[]> {
  const r = await run('ip', ['netns', 'exec', ns, bin, 'connect', ip, String(port), String(count + WARMUP)], { timeoutMs: 1_800_000 });
  const values = r.stdout.trim().split('\n').map(Number);
  if (values.length !== count + WARMUP || values.some((v) => !Number.isInteger(v) || v <= 0)) {
    throw new BenchError('PROBE_OUTPUT', `conn-cost printed ${values.length} lines, not ${count + WARMUP} positive integers`);
  }
  return values.slice(WARMUP);
}

export interface ConnCostHooks {
  log?: (line: string) => void;
}

export async function runConnCost(cfg: ConnCostConfig, makePlane: (name: PlaneName, t: ReturnType<typeof describeTopology>) => Promise<DataPlane>, prefix: string, hooks: ConnCostHooks = {}): Promise<ConnCostResults> {
  const log = hooks.log ?? (() => undefined);
  const startedAt = new Date().toISOString();
  const icount = process.env.IPVS_MAGLEV_ICOUNT === '1';
  const kernel = (await run('uname', ['-r'])).stdout.trim();
  const bin = await buildProbe();
  const topology = describeTopology({ prefix, pods: cfg.endpoints });
  const baseline: ConnCostResults['baseline'] = [];
  const runs: ConnCostRun[] = [];
  const failures: ConnCostResults['failures'] = [];
  await createTopology(topology);
  await ipvsSysctls();
  const backends: ChildProcess[] = [];
  try {
    for (const ns of topology.podNs) backends.push(await startBackend(bin, ns));
    const planes = new Map<PlaneName, DataPlane>();
    for (const n of [...cfg.sizes].sort((a, b) => a - b)) {
      const base = summarize(await connects(bin, topology.clientNs, topology.podIps[0], TARGET_PORT, cfg.connections));
      baseline.push({ services: n, raw: base });
      log(`baseline (no data plane) before N=${n}: p50 ${base.p50} ns`);
      const services = makeWorkload({ services: n, pods: topology.podIps, endpointsPerService: cfg.endpoints, targetPort: TARGET_PORT, servicePort: SERVICE_PORT });
      for (const name of cfg.planes) {
        if (n > (cfg.maxServices?.[name] ?? Number.POSITIVE_INFINITY)) {
          log(`${name} N=${n}: skipped (--max-services ${name}=${cfg.maxServices?.[name]})`);
          continue;
        }
        let plane = planes.get(name);
        if (!plane) {
          plane = await makePlane(name, topology);
          planes.set(name, plane);
        }
        try {
          await plane.setup();
          const ms = await plane.program(services);
          log(`${name} N=${n}: programmed in ${Math.round(ms)} ms`);
          // First and last in rule order: kube-proxy writes KUBE-SERVICES in the services' order.
          for (const [target, svc] of [['first', services[0]], ['last', services[n - 1]]] as const) {
            const raw = summarize(await connects(bin, topology.clientNs, svc.clusterIP, SERVICE_PORT, cfg.connections));
            runs.push({ plane: name, services: n, target, raw, net: minus(raw, base) });
            log(`${name} N=${n} ${target}: p50 ${raw.p50} ns (net ${raw.p50 - base.p50})`);
          }
        } catch (e) {
          failures.push({ plane: name, services: n, message: e instanceof Error ? e.message : String(e) });
          log(`${name} N=${n}: FAILED: ${e instanceof Error ? e.message : String(e)}`);
        } finally {
          await plane.teardown(services);
        }
      }
    }
  } finally {
    for (const b of backends) b.kill('SIGKILL');
    await destroyTopology(topology);
  }
  return { schema: CONN_COST_SCHEMA, startedAt, finishedAt: new Date().toISOString(), icount, kernel, config: cfg, baseline, runs, failures };
}

/** Problems with a results object, empty when well-formed: what the quick run in CI checks. */
export function validateConnCost(value: unknown): string[] {
  const problems: string[] = [];
  const r = value as Partial<ConnCostResults> | null;
  if (typeof r !== 'object' || r === null) return ['not an object'];
  if (r.schema !== CONN_COST_SCHEMA) problems.push(`schema is not ${CONN_COST_SCHEMA}`);
  if (typeof r.icount !== 'boolean') problems.push('icount is not a boolean');
  const cfg = r.config;
  if (!cfg || !Array.isArray(cfg.sizes) || !Array.isArray(cfg.planes)) return [...problems, 'config.sizes/planes missing'];
  const ok = (s: CostSummary | undefined, positive: boolean) =>
    s !== undefined && s.n === cfg.connections && [s.p50, s.p90, s.p99].every((x) => Number.isInteger(x) && (!positive || x > 0)) && s.p50 <= s.p90 && s.p90 <= s.p99;
  for (const n of cfg.sizes) {
    const b = r.baseline?.find((x) => x.services === n);
    if (!b || !ok(b.raw, true)) problems.push(`baseline at N=${n} missing or malformed`);
    for (const plane of cfg.planes) {
      if (r.failures?.some((f) => f.plane === plane && f.services === n)) continue;
      if (n > (cfg.maxServices?.[plane] ?? Number.POSITIVE_INFINITY)) continue;
      for (const target of ['first', 'last'] as const) {
        const run = r.runs?.find((x) => x.plane === plane && x.services === n && x.target === target);
        if (!run || !ok(run.raw, true) || !Number.isInteger(run.net?.p50)) problems.push(`${plane} N=${n} ${target}: missing or malformed`);
      }
    }
  }
  return problems;
}

const unit = (r: ConnCostResults) => (r.icount ? 'k instructions' : 'µs');
const k = (ns: number) => (ns / 1000).toFixed(1);

export function connCostMarkdown(r: ConnCostResults): string {
  const lines = [
    `# Per-connection cost of the first packet (${r.config.quick ? 'quick' : 'full'} run)`,
    '',
    `${r.startedAt} .. ${r.finishedAt}, kernel ${r.kernel}, ${r.icount ? 'qemu -icount: 1 unit = 1,000 guest instructions' : 'wall clock (no -icount: noisy under emulation)'};`,
    `${r.config.connections} timed connect()s per target after ${WARMUP} untimed; ${r.config.endpoints} endpoints per service.`,
    `net = raw minus the baseline (the same client straight to a backend, no data plane) at the same N and percentile.`,
    '',
    `| N | baseline p50 / p90 / p99 (${unit(r)}) |`,
    '| --- | --- |',
    ...r.baseline.map((b) => `| ${b.services.toLocaleString('en-US')} | ${k(b.raw.p50)} / ${k(b.raw.p90)} / ${k(b.raw.p99)} |`),
    '',
    `| N | plane | first: net p50 / p90 / p99 | last: net p50 / p90 / p99 | last: raw p50 | first net p50 / IPVS rr's | last net p50 / IPVS rr's |`,
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const n of r.config.sizes) {
    const rr = (target: 'first' | 'last') => r.runs.find((x) => x.plane === 'ipvs-rr' && x.services === n && x.target === target);
    const ratio = (mine: ConnCostRun, theirs: ConnCostRun | undefined) => (theirs && theirs.net.p50 > 0 ? `${(mine.net.p50 / theirs.net.p50).toFixed(2)}x` : 'n/a');
    for (const plane of r.config.planes) {
      const first = r.runs.find((x) => x.plane === plane && x.services === n && x.target === 'first');
      const last = r.runs.find((x) => x.plane === plane && x.services === n && x.target === 'last');
      if (!first || !last) {
        const why = n > (r.config.maxServices?.[plane] ?? Number.POSITIVE_INFINITY) ? 'not run (--max-services)' : 'failed';
        lines.push(`| ${n.toLocaleString('en-US')} | ${SHORT[plane]} | ${why} | ${why} | | | |`);
        continue;
      }
      lines.push(
        `| ${n.toLocaleString('en-US')} | ${SHORT[plane]} | ${k(first.net.p50)} / ${k(first.net.p90)} / ${k(first.net.p99)} | ${k(last.net.p50)} / ${k(last.net.p90)} / ${k(last.net.p99)} | ${k(last.raw.p50)} | ${ratio(first, rr('first'))} | ${ratio(last, rr('last'))} |`,
      );
    }
  }
  for (const f of r.failures) lines.push('', `failed: ${f.plane} N=${f.services}: ${f.message}`);
  return `${lines.join('\n')}\n`;
}

export function connCostChart(r: ConnCostResults): TopLevelSpec {
  const values = r.runs.map((x) => ({ plane: SHORT[x.plane], N: x.services, target: `${x.target} service`, net: x.net.p50 / 1000 }));
  const sizes = r.config.sizes;
  return {
    ...COMMON,
    title: { text: 'First-packet cost of a new connection vs number of services (p50, baseline subtracted)', subtitle: 'solid: last service in rule order, dashed: first' },
    width: 520,
    height: 300,
    data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'N', type: 'quantitative', scale: { type: 'log', domain: [Math.min(...sizes) / 1.4, Math.max(...sizes) * 1.4] }, title: 'services (N, log scale)', axis: { values: sizes, format: '~s', labelOverlap: false } },
      y: { field: 'net', type: 'quantitative', title: `net cost (${unit(r)})` },
      color: { field: 'plane', type: 'nominal', title: 'data plane' },
      strokeDash: { field: 'target', type: 'nominal', title: 'target', sort: ['last service', 'first service'] },
    },
  } as TopLevelSpec;
}

export async function writeConnCostReport(r: ConnCostResults, outDir: string, base: string): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const written: string[] = [];
  const put = async (name: string, data: string | Uint8Array) => {
    await writeFile(join(outDir, name), data);
    written.push(join(outDir, name));
  };
  await put(`${base}.json`, `${JSON.stringify(r, null, 2)}\n`);
  await put(`${base}.md`, connCostMarkdown(r));
  if (r.runs.length > 0) {
    const { svg, png } = await renderChart(connCostChart(r));
    await put(`${base}.svg`, svg);
    await put(`${base}.png`, png);
  }
  return written;
}

/** One (plane, N, target) in two runs: raw and net p50 of each and how far apart (share of the first run's). */
export interface RepeatRow {
  plane: PlaneName;
  services: number;
  target: 'first' | 'last';
  rawP50: [number, number];
  netP50: [number, number];
  rawDiff: number;
  netDiff: number;
}

export interface Repeatability {
  rows: RepeatRow[];
  /** Per (N, target): the planes ordered by net p50 in each run, and whether the orders agree. */
  rankings: {
    services: number;
    target: 'first' | 'last';
    orders: [PlaneName[], PlaneName[]];
    /** Per run: the planes within RANKING_TIE of the one before them (shown as "≈"). */
    ties: [PlaneName[], PlaneName[]];
    same: boolean;
  }[];
  maxRawDiff: number;
  maxNetDiff: number;
}

/** Net p50s this close (relative) are a tie when rankings are compared. */
export const RANKING_TIE = 0.02;

/**
 * How well two runs agree: the target is the same ranking at every N and each plane's p50
 * within 5% of the other run's. Only (plane, N, target)s present in both runs are compared.
 */
export function compareConnCost(a: ConnCostResults, b: ConnCostResults): Repeatability {
  const rows: RepeatRow[] = [];
  const diff = (x: number, y: number) => (x === 0 ? (y === 0 ? 0 : Number.POSITIVE_INFINITY) : Math.abs(y - x) / Math.abs(x));
  for (const ra of a.runs) {
    const rb = b.runs.find((x) => x.plane === ra.plane && x.services === ra.services && x.target === ra.target);
    if (!rb) continue;
    rows.push({
      plane: ra.plane,
      services: ra.services,
      target: ra.target,
      rawP50: [ra.raw.p50, rb.raw.p50],
      netP50: [ra.net.p50, rb.net.p50],
      rawDiff: diff(ra.raw.p50, rb.raw.p50),
      netDiff: diff(ra.net.p50, rb.net.p50),
    });
  }
  const rankings: Repeatability['rankings'] = [];
  const keys = [...new Set(rows.map((r) => `${r.services}:${r.target}`))];
  for (const key of keys) {
    const group = rows.filter((r) => `${r.services}:${r.target}` === key);
    const order = (i: 0 | 1) => [...group].sort((x, y) => x.netP50[i] - y.netP50[i] || x.plane.localeCompare(y.plane)).map((r) => r.plane);
    const orders: [PlaneName[], PlaneName[]] = [order(0), order(1)];
    // Two planes closer than RANKING_TIE in either run have no order to agree on (run-to-run noise is ~1%).
    const tie = (x: RepeatRow, y: RepeatRow, i: 0 | 1) => Math.abs(x.netP50[i] - y.netP50[i]) <= RANKING_TIE * Math.min(Math.abs(x.netP50[i]), Math.abs(y.netP50[i]));
    const same = group.every((x) => group.every((y) => x === y || tie(x, y, 0) || tie(x, y, 1) || Math.sign(x.netP50[0] - y.netP50[0]) === Math.sign(x.netP50[1] - y.netP50[1])));
    const ties: [Set<PlaneName>, Set<PlaneName>] = [new Set(), new Set()];
    for (const i of [0, 1] as const) {
      const sorted = order(i).map((plane) => group.find((r) => r.plane === plane)!);
      for (let j = 1; j < sorted.length; j++) if (tie(sorted[j - 1], sorted[j], i)) ties[i].add(sorted[j].plane);
    }
    rankings.push({ services: group[0].services, target: group[0].target, orders, ties: [[...ties[0]], [...ties[1]]], same });
  }
  return { rows, rankings, maxRawDiff: Math.max(0, ...rows.map((r) => r.rawDiff)), maxNetDiff: Math.max(0, ...rows.map((r) => r.netDiff)) };
}

export function repeatabilityMarkdown(rep: Repeatability): string {
  const pct = (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(1)}%` : 'n/a');
  const lines = [
    `| N | target | plane | raw p50 run 1 / run 2 (k) | apart | net p50 run 1 / run 2 (k) | apart |`,
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...rep.rows.map(
      (r) => `| ${r.services.toLocaleString('en-US')} | ${r.target} | ${SHORT[r.plane]} | ${k(r.rawP50[0])} / ${k(r.rawP50[1])} | ${pct(r.rawDiff)} | ${k(r.netP50[0])} / ${k(r.netP50[1])} | ${pct(r.netDiff)} |`,
    ),
    '',
    '| N | target | ranking by net p50, run 1 | run 2 | same |',
    '| --- | --- | --- | --- | --- |',
    ...rep.rankings.map((g) => `| ${g.services.toLocaleString('en-US')} | ${g.target} | ${rankText(g.orders[0], g.ties[0])} | ${rankText(g.orders[1], g.ties[1])} | ${g.same ? 'yes' : 'no'} |`),
    '',
    `Largest difference: raw p50 ${pct(rep.maxRawDiff)}, net p50 ${pct(rep.maxNetDiff)}; rankings the same at ${rep.rankings.filter((g) => g.same).length} of ${rep.rankings.length} (N, target) ("≈": within ${RANKING_TIE * 100}%, no order to agree on).`,
  ];
  return `${lines.join('\n')}\n`;
}

function rankText(order: readonly PlaneName[], ties: readonly PlaneName[]): string {
  return order.map((p, i) => (i === 0 ? SHORT[p] : `${ties.includes(p) ? ' ≈ ' : ' < '}${SHORT[p]}`)).join('');
}
