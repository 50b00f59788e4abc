// Turns results into the Markdown summary and the charts (vega-lite -> vega -> SVG -> PNG).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { BenchResults, PlaneRun } from './results.ts';

const PLANE_LABEL: Record<string, string> = {
  iptables: 'iptables (kube-proxy, legacy)',
  'iptables-nft': 'iptables-nft (kube-proxy)',
  nftables: 'nftables (kube-proxy)',
  'ipvs-rr': 'IPVS rr',
  'ipvs-mh': 'IPVS mh (Maglev)',
};

export const SHORT: Record<string, string> = { iptables: 'iptables', 'iptables-nft': 'iptables-nft', nftables: 'nftables', 'ipvs-rr': 'IPVS rr', 'ipvs-mh': 'IPVS mh (Maglev)' };

const fmt = (x: number, digits = 0) => (Number.isFinite(x) ? x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : 'n/a');
const pct = (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(1)}%` : 'n/a');

function variants(ms: Record<string, number>): string {
  const entries = Object.entries(ms);
  if (entries.length === 1) return fmt(entries[0][1], 1);
  return entries.map(([k, v]) => `${fmt(v, 1)} (${k})`).join('<br>');
}

function byN(runs: readonly PlaneRun[]): PlaneRun[] {
  return [...runs].sort((a, b) => a.services - b.services || a.plane.localeCompare(b.plane));
}

export function markdownSummary(r: BenchResults): string {
  const e = r.environment;
  const c = r.config;
  const lines: string[] = [];
  lines.push(`# Data-plane benchmark${c.quick ? ' (quick run)' : ''}`, '');
  lines.push(`Measured by \`ipvs-maglev bench dataplane\` from ${r.startedAt} to ${r.finishedAt}.`, '');
  lines.push(
    `Environment: kernel ${e.kernel}${e.inVm ? ' in a qemu VM (software emulation, TCG)' : ''}, ${e.cpus} CPU (${e.cpuModel}), ${fmt(e.memoryMiB)} MiB, Node ${e.node}; ${e.iptables}; ${e.nft}; ${e.ipset}; ${e.ipvs}.`,
    '',
  );
  lines.push(
    `Workload: N ClusterIP services x ${c.endpoints} endpoints (all services share the same ${c.endpoints} backend pods, each a server in its own network namespace); the client is a namespace outside the cluster CIDR, so every connection is masqueraded. Latency: ${c.latencyCount} sequential connections (connect + one request/response) per target; rate: ${c.rateConcurrency} parallel connections for ${c.rateDurationMs / 1000} s over ${c.rateTargets} services spread over the rule order; churn: ${c.flowCount} flows with fixed source ports, before and after one endpoint is removed.`,
    '',
  );
  lines.push('## Programming time (ms)', '');
  lines.push('| N | data plane | rules / entries | program all | add one service | change one endpoint |', '|---:|---|---:|---:|---:|---:|');
  for (const run of byN(r.runs)) {
    const breakdown = run.programBreakdownMs ? `<br>(${Object.entries(run.programBreakdownMs).map(([k, v]) => `${k.replace(/Ms$/, '')} ${fmt(v)}`).join(', ')})` : '';
    lines.push(`| ${fmt(run.services)} | ${PLANE_LABEL[run.plane]} | ${fmt(run.rules)} | ${fmt(run.programMs)}${breakdown} | ${variants(run.addServiceMs)} | ${variants(run.changeEndpointMs)} |`);
  }
  const phased = byN(r.runs).filter((run) => run.phasesMs);
  if (phased.length > 0) {
    const names = [...new Set(phased.flatMap((run) => Object.keys(run.phasesMs ?? {})))];
    const wallS = (Date.parse(r.finishedAt) - Date.parse(r.startedAt)) / 1000;
    lines.push('', '## Where the run\'s time went (wall seconds per phase, everything included)', '');
    lines.push(`Whole run: ${fmt(wallS / 60, 1)} min from start to finish (plus the VM's boot). Each phase includes the text generation, untimed reverts, probes and waits around the timed work above.`, '');
    lines.push(`| N | data plane | ${names.join(' | ')} | total |`, `|---:|---|${names.map(() => '---:|').join('')}---:|`);
    for (const run of phased) {
      const p = run.phasesMs ?? {};
      const total = Object.values(p).reduce((a, b) => a + b, 0);
      lines.push(`| ${fmt(run.services)} | ${PLANE_LABEL[run.plane]} | ${names.map((k) => (p[k] === undefined ? '' : fmt(p[k] / 1000, 1))).join(' | ')} | ${fmt(total / 1000, 1)} |`);
    }
  }
  lines.push('', '## First-packet latency (µs): connect + one request/response', '');
  lines.push('| N | data plane | first service p50 / p90 / p99 | last service p50 / p90 / p99 | errors |', '|---:|---|---:|---:|---:|');
  for (const run of byN(r.runs)) {
    const f = run.latencyFirst;
    const l = run.latencyLast;
    lines.push(`| ${fmt(run.services)} | ${PLANE_LABEL[run.plane]} | ${fmt(f.p50Us)} / ${fmt(f.p90Us)} / ${fmt(f.p99Us)} | ${fmt(l.p50Us)} / ${fmt(l.p90Us)} / ${fmt(l.p99Us)} | ${f.errors + l.errors} |`);
  }
  lines.push('', '## New connections: rate and CPU', '');
  lines.push('| N | data plane | connections/s | CPU µs per connection (all) | kernel CPU µs per connection | errors |', '|---:|---|---:|---:|---:|---:|');
  for (const run of byN(r.runs)) {
    lines.push(`| ${fmt(run.services)} | ${PLANE_LABEL[run.plane]} | ${fmt(run.rate.connsPerSec)} | ${fmt(run.rate.cpuUsPerConn)} | ${fmt(run.rate.kernelCpuUsPerConn)} | ${run.rate.errors} |`);
  }
  if (r.churn.length > 0) {
    lines.push('', '## Distribution and churn (one endpoint removed)', '');
    lines.push('| N | data plane | max/avg over endpoints | flows moved | moved although not on the removed endpoint | on the removed endpoint |', '|---:|---|---:|---:|---:|---:|');
    for (const ch of r.churn) {
      lines.push(`| ${fmt(ch.services)} | ${PLANE_LABEL[ch.plane]} | ${fmt(ch.maxOverAvg, 3)} | ${pct(ch.moves.movedShare)} | ${pct(ch.moves.needlessMovedShare)} | ${pct(ch.moves.onRemovedShare)} |`);
    }
  }
  if (r.skipped && r.skipped.length > 0) {
    lines.push('', '## Not run', '');
    for (const k of r.skipped) lines.push(`- ${PLANE_LABEL[k.plane]} at N=${fmt(k.services)}: ${k.reason}`);
  }
  if (r.failures.length > 0) {
    lines.push('', '## Failures', '');
    for (const f of r.failures) lines.push(`- ${f.plane} at N=${f.services}, step ${f.step}: ${f.message}`);
  }
  lines.push('');
  return lines.join('\n');
}

/** Log scale over the run's sizes with some room at both ends, so the last size keeps its label. */
function nScale(r: BenchResults): { type: 'log'; domain: [number, number] } {
  const sizes = r.config.sizes.length > 0 ? r.config.sizes : [1];
  return { type: 'log', domain: [Math.min(...sizes) / 1.4, Math.max(...sizes) * 1.4] };
}

export const COMMON = {
  $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
  background: 'white',
  config: { font: 'DejaVu Sans', axis: { labelFontSize: 11, titleFontSize: 12 }, legend: { labelFontSize: 11, titleFontSize: 12, labelLimit: 260 }, title: { fontSize: 14 } },
} as const;

export function latencyChart(r: BenchResults): TopLevelSpec {
  const values = r.runs.flatMap((run) => [
    { plane: SHORT[run.plane], N: run.services, target: 'last service', p50: run.latencyLast.p50Us, p90: run.latencyLast.p90Us },
    { plane: SHORT[run.plane], N: run.services, target: 'first service', p50: run.latencyFirst.p50Us, p90: run.latencyFirst.p90Us },
  ]);
  return {
    ...COMMON,
    title: { text: 'First-packet latency vs number of services (p50)', subtitle: 'TCP connect + one request/response; solid: last service in rule order, dashed: first' },
    width: 520,
    height: 300,
    data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'N', type: 'quantitative', scale: nScale(r), title: 'services (N, log scale)', axis: { values: r.config.sizes, format: '~s', labelOverlap: false } },
      y: { field: 'p50', type: 'quantitative', title: 'p50 latency (µs)' },
      color: { field: 'plane', type: 'nominal', title: 'data plane' },
      strokeDash: { field: 'target', type: 'nominal', title: 'target', sort: ['last service', 'first service'] },
      tooltip: [{ field: 'plane' }, { field: 'N' }, { field: 'target' }, { field: 'p50' }, { field: 'p90' }],
    },
  } as TopLevelSpec;
}

export function programmingChart(r: BenchResults): TopLevelSpec {
  // Dashed lines send only the change (iptables partial restore, one nft transaction, a few
  // netlink writes); solid lines rewrite the whole state (first programming, iptables full restore).
  const values: { plane: string; N: number; step: string; sends: string; ms: number }[] = [];
  const sends = (variant: string) => (variant === 'full-restore' ? 'the whole state' : 'only the change');
  for (const run of r.runs) {
    const plane = SHORT[run.plane];
    values.push({ plane, N: run.services, step: 'program all services', sends: 'the whole state', ms: Math.max(run.programMs, 0.1) });
    for (const [v, ms] of Object.entries(run.addServiceMs)) values.push({ plane, N: run.services, step: 'add one service', sends: sends(v), ms: Math.max(ms, 0.1) });
    for (const [v, ms] of Object.entries(run.changeEndpointMs)) values.push({ plane, N: run.services, step: 'change one endpoint', sends: sends(v), ms: Math.max(ms, 0.1) });
  }
  return {
    ...COMMON,
    title: { text: 'Programming time vs number of services', subtitle: 'wall time of the programming step, log scales; dashed: only the change is sent (iptables: partial restore)' },
    data: { values },
    facet: { column: { field: 'step', type: 'nominal', title: null, sort: ['program all services', 'add one service', 'change one endpoint'], header: { labelFontSize: 12 } } },
    spec: {
      width: 240,
      height: 260,
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'N', type: 'quantitative', scale: nScale(r), title: 'services (N)', axis: { values: r.config.sizes, format: '~s', labelOverlap: false } },
        y: { field: 'ms', type: 'quantitative', scale: { type: 'log' }, title: 'milliseconds' },
        color: { field: 'plane', type: 'nominal', title: 'data plane' },
        strokeDash: { field: 'sends', type: 'nominal', title: 'sends', sort: ['the whole state', 'only the change'] },
        detail: { field: 'sends' },
      },
    },
    resolve: { scale: { y: 'shared' } },
  } as TopLevelSpec;
}

export function churnChart(r: BenchResults): TopLevelSpec {
  const values = r.churn.flatMap((ch) => {
    const necessary = ch.moves.onRemovedShare;
    const needless = Math.max(0, ch.moves.movedShare - necessary);
    return [
      { plane: SHORT[ch.plane], kind: 'was on the removed endpoint', share: necessary },
      { plane: SHORT[ch.plane], kind: 'moved needlessly', share: needless },
    ];
  });
  const e = r.churn[0]?.endpoints.length ?? r.config.endpoints;
  return {
    ...COMMON,
    title: { text: `Flows moved when one of ${e} endpoints is removed`, subtitle: `${r.config.flowCount} flows with fixed source ports; the ideal is 1/${e} = ${pct(1 / e)}` },
    width: 420,
    height: 260,
    data: { values },
    layer: [
      {
        mark: 'bar',
        encoding: {
          x: { field: 'plane', type: 'nominal', title: null, axis: { labelAngle: 0, labelLimit: 200 } },
          y: { field: 'share', type: 'quantitative', aggregate: 'sum', title: 'share of flows that changed endpoint', axis: { format: '%' }, scale: { domain: [0, 1] } },
          color: { field: 'kind', type: 'nominal', title: null, sort: ['was on the removed endpoint', 'moved needlessly'], scale: { range: ['#4c78a8', '#e45756'] }, legend: { orient: 'bottom', labelLimit: 400 } },
        },
      },
      { data: { values: [{ ideal: 1 / e }] }, mark: { type: 'rule', strokeDash: [4, 4], color: 'black' }, encoding: { y: { field: 'ideal', type: 'quantitative' } } },
    ],
  } as TopLevelSpec;
}

export async function renderChart(spec: TopLevelSpec): Promise<{ svg: string; png: Uint8Array }> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  const png = new Resvg(svg, { fitTo: { mode: 'zoom', value: 2 }, background: 'white', font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } }).render().asPng();
  return { svg, png };
}

/** Writes <base>.json, <base>.md and the three charts as SVG and PNG; returns the paths written. */
export async function writeReport(r: BenchResults, outDir: string, base: string): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const written: string[] = [];
  const put = async (name: string, data: string | Uint8Array) => {
    const p = join(outDir, name);
    await writeFile(p, data);
    written.push(p);
  };
  await put(`${base}.json`, `${JSON.stringify(r, null, 2)}\n`);
  await put(`${base}.md`, markdownSummary(r));
  const charts: [string, TopLevelSpec | undefined][] = [
    ['latency', r.runs.length > 0 ? latencyChart(r) : undefined],
    ['programming', r.runs.length > 0 ? programmingChart(r) : undefined],
    ['churn', r.churn.length > 0 ? churnChart(r) : undefined],
  ];
  for (const [name, spec] of charts) {
    if (!spec) continue;
    const { svg, png } = await renderChart(spec);
    await put(`${base}-${name}.svg`, svg);
    await put(`${base}-${name}.png`, png);
  }
  return written;
}
