// `ipvs-maglev bench failover`: what losing one of three load-balancer nodes does to connections, per
// scheduler and mode, on the real kernel with real BIRD and traffic (the cluster of cluster.ts).
// For each case: open N long-lived TCP connections through the router's ECMP, then in rounds ask every
// connection for one answer and open a few new connections; kill one node (link cut, ipvs-maglev and
// BIRD SIGKILLed) after two rounds and keep going until well after BGP reconverged. Reported (JSON +
// chart): the share of established connections answering per round, the window in which new
// connections failed, and kill-to-reconverge time (until the router's route lost the dead next hop).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { renderChart } from '../dataplane/report.ts';
import { Cluster, type Scheduler } from './cluster.ts';

export interface FailoverCase {
  name: string;
  scheduler: Scheduler;
  takeOverFlows: boolean;
}

export const CASES: readonly FailoverCase[] = [
  { name: 'mh + sloppy_tcp (IPIP DSR)', scheduler: 'mh', takeOverFlows: true },
  { name: 'rr + sloppy_tcp (control)', scheduler: 'rr', takeOverFlows: true },
  { name: 'mh without sloppy_tcp (control)', scheduler: 'mh', takeOverFlows: false },
];

export interface Round {
  /** Seconds since the kill (negative before it). */
  t: number;
  answered: number;
  total: number;
  freshOk: number;
  freshTotal: number;
}

export interface CaseResult {
  case: FailoverCase;
  flows: number;
  onKilledNode: number;
  killToReconvergeMs: number;
  rounds: Round[];
  /** Established connections answering in the last round. */
  survived: number;
  survivedShare: number;
  /** From the first to the last failed new connection, seconds since the kill; null when none failed. */
  freshFailWindow: { from: number; to: number; failed: number; total: number } | null;
}

export interface FailoverResults {
  startedAt: string;
  finishedAt: string;
  environment: { kernel: string; node: string; load: string; inVm: boolean };
  flows: number;
  results: CaseResult[];
}

export interface FailoverOptions {
  flows: number;
  /** Rounds after reconvergence. */
  roundsAfter: number;
  cases: readonly FailoverCase[];
  out: string;
  json: boolean;
  write: (line: string) => void;
}

async function runCase(c: FailoverCase, opts: FailoverOptions, say: (s: string) => void): Promise<CaseResult> {
  const cluster = await Cluster.create({ prefix: 'bf', scheduler: c.scheduler, takeOverFlows: c.takeOverFlows });
  try {
    await Promise.all([1, 2, 3].map((i) => cluster.startNode(i)));
    await cluster.waitNexthops(3, 180_000);
    const { opened, failed } = await cluster.open(opts.flows, 20000);
    if (failed.length > 0) throw new Error(`${failed.length} connections failed to open: ${JSON.stringify(failed.slice(0, 3))}`);
    const rounds: (Round & { at: number })[] = [];
    let freshPort = 40000;
    let killAt = 0;
    let reconvergedAt = 0;
    let onKilledNode = 0;
    const round = async () => {
      const probe = await cluster.probe(2000);
      const fresh = await cluster.fresh(4, freshPort, undefined, 2000);
      freshPort += 4;
      rounds.push({ at: Date.now(), t: 0, answered: probe.filter((p) => p.ok).length, total: probe.length, freshOk: fresh.filter((f) => f.ok).length, freshTotal: fresh.length });
      return fresh;
    };
    const freshFails: number[] = [];
    let freshTotal = 0;
    for (let i = 0; i < 2; i++) await round();
    onKilledNode = await cluster.establishedOn(3);
    killAt = Date.now();
    await cluster.killNode(3);
    const watch = cluster.waitNexthops(2, 120_000).then(() => {
      reconvergedAt = Date.now();
    });
    let after = 0;
    while (after < opts.roundsAfter) {
      const fresh = await round();
      const t = (Date.now() - killAt) / 1000;
      freshTotal += fresh.length;
      for (const f of fresh) if (!f.ok) freshFails.push(t);
      if (reconvergedAt) after++;
      if (Date.now() - killAt > 300_000) break;
    }
    await watch;
    for (const r of rounds) r.t = (r.at - killAt) / 1000;
    const last = rounds[rounds.length - 1];
    const result: CaseResult = {
      case: c,
      flows: opened.length,
      onKilledNode,
      killToReconvergeMs: reconvergedAt - killAt,
      rounds: rounds.map(({ at: _, ...r }) => r),
      survived: last.answered,
      survivedShare: last.answered / last.total,
      freshFailWindow: freshFails.length ? { from: freshFails[0], to: freshFails[freshFails.length - 1], failed: freshFails.length, total: freshTotal } : null,
    };
    say(
      `${c.name}: ${result.survived}/${result.flows} established connections answer after losing one of 3 nodes (${onKilledNode} were on it); ` +
        `reconverged in ${(result.killToReconvergeMs / 1000).toFixed(1)} s; new connections failed: ${result.freshFailWindow ? `${result.freshFailWindow.failed}/${freshTotal}, from ${result.freshFailWindow.from.toFixed(1)} s to ${result.freshFailWindow.to.toFixed(1)} s after the kill` : `0/${freshTotal}`}`,
    );
    return result;
  } finally {
    await cluster.cleanup();
  }
}

export function failoverChart(r: FailoverResults): TopLevelSpec {
  const values = r.results.flatMap((c) => c.rounds.map((x) => ({ case: c.case.name, t: Number(x.t.toFixed(2)), share: x.answered / x.total })));
  const kills = r.results.map((c) => ({ case: c.case.name, reconverge: c.killToReconvergeMs / 1000 }));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: `Established connections answering around the loss of one of 3 LB nodes (${r.flows} connections)`, subtitle: 'node killed at t = 0 (link cut, ipvs-maglev and BIRD SIGKILLed); dashed: router reconverged' },
    width: 640,
    height: 300,
    layer: [
      {
        data: { values },
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 't', type: 'quantitative', title: 'seconds since the kill' },
          y: { field: 'share', type: 'quantitative', title: 'established connections answering', axis: { format: '%' }, scale: { domain: [0, 1] } },
          color: { field: 'case', type: 'nominal', title: null, legend: { orient: 'bottom', labelLimit: 400 } },
        },
      },
      { data: { values: kills }, mark: { type: 'rule', strokeDash: [4, 4] }, encoding: { x: { field: 'reconverge', type: 'quantitative' }, color: { field: 'case', type: 'nominal' } } },
    ],
  } as TopLevelSpec;
}

export async function runFailoverBench(opts: FailoverOptions): Promise<FailoverResults> {
  const say = (s: string) => opts.write(opts.json ? JSON.stringify({ event: 'note', text: s }) : s);
  const { readFileSync } = await import('node:fs');
  const startedAt = new Date().toISOString();
  const results: CaseResult[] = [];
  for (const c of opts.cases) {
    const r = await runCase(c, opts, say);
    results.push(r);
    if (opts.json) opts.write(JSON.stringify({ event: 'case', ...r }));
  }
  const out: FailoverResults = {
    startedAt,
    finishedAt: new Date().toISOString(),
    environment: {
      kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
      node: process.version,
      load: readFileSync('/proc/loadavg', 'utf8').trim(),
      inVm: process.env.IPVS_MAGLEV_IN_VM === '1',
    },
    flows: opts.flows,
    results,
  };
  await mkdir(opts.out, { recursive: true });
  await writeFile(join(opts.out, 'failover.json'), `${JSON.stringify(out, null, 2)}\n`);
  const { svg, png } = await renderChart(failoverChart(out));
  await writeFile(join(opts.out, 'failover.svg'), svg);
  await writeFile(join(opts.out, 'failover.png'), png);
  say(`wrote ${join(opts.out, 'failover.json')}, failover.svg, failover.png`);
  return out;
}
