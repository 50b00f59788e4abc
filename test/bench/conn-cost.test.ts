import { describe, expect, it } from 'vitest';
import { CONN_COST_SCHEMA, type ConnCostResults, type ConnCostRun, compareConnCost, connCostChart, connCostMarkdown, repeatabilityMarkdown, summarize, validateConnCost } from '../../bench/dataplane/conn-cost.ts';
import { renderChart } from '../../bench/dataplane/report.ts';

const CONNECTIONS = 10;

function summary(p50: number) {
  return { n: CONNECTIONS, p50, p90: p50 + 2000, p99: p50 + 5000 };
}

/** Results in the shape runConnCost writes: iptables grows with N for the last service, IPVS does not. */
function results(): ConnCostResults {
  const sizes = [100, 1000];
  const planes = ['iptables', 'ipvs-rr'] as const;
  const baseline = sizes.map((n) => ({ services: n, raw: summary(70_000) }));
  const runs: ConnCostRun[] = [];
  for (const n of sizes) {
    for (const plane of planes) {
      for (const target of ['first', 'last'] as const) {
        const net = plane === 'iptables' ? (target === 'last' ? 15_000 + 30 * n : 15_000) : 29_000;
        const raw = summary(70_000 + net);
        runs.push({ plane, services: n, target, raw, net: { n: CONNECTIONS, p50: net, p90: net, p99: net } });
      }
    }
  }
  return {
    schema: CONN_COST_SCHEMA,
    startedAt: '2026-12-03T15:00:00.000Z',
    finishedAt: '2026-12-03T15:01:00.000Z',
    icount: true,
    kernel: '6.1.0-test',
    config: { quick: true, sizes, planes: [...planes], connections: CONNECTIONS, endpoints: 2 },
    baseline,
    runs,
    failures: [],
  };
}

describe('conn-cost summaries', () => {
  it('takes nearest-rank percentiles of the samples', () => {
    const ns = Array.from({ length: 100 }, (_, i) => (100 - i) * 1000);
    expect(summarize(ns)).toEqual({ n: 100, p50: 50_000, p90: 90_000, p99: 99_000 });
    expect(summarize([5])).toEqual({ n: 1, p50: 5, p90: 5, p99: 5 });
  });
});

describe('validateConnCost', () => {
  it('accepts a well-formed result', () => {
    expect(validateConnCost(results())).toEqual([]);
  });

  it('names what is missing or malformed', () => {
    expect(validateConnCost(null)).toEqual(['not an object']);
    const noBaseline = results();
    noBaseline.baseline = noBaseline.baseline.slice(1);
    expect(validateConnCost(noBaseline)).toEqual(['baseline at N=100 missing or malformed']);
    const noRun = results();
    noRun.runs = noRun.runs.filter((r) => !(r.plane === 'ipvs-rr' && r.services === 1000 && r.target === 'last'));
    expect(validateConnCost(noRun)).toEqual(['ipvs-rr N=1000 last: missing or malformed']);
    const short = results();
    short.runs[0].raw = { ...short.runs[0].raw, n: CONNECTIONS - 1 };
    expect(validateConnCost(short)).toEqual(['iptables N=100 first: missing or malformed']);
    const unordered = results();
    unordered.runs[1].raw = { ...unordered.runs[1].raw, p90: unordered.runs[1].raw.p50 - 1 };
    expect(validateConnCost(unordered)).toEqual(['iptables N=100 last: missing or malformed']);
    const fractional = results();
    fractional.baseline[1].raw = { ...fractional.baseline[1].raw, p50: 0.5 };
    expect(validateConnCost(fractional)).toEqual(['baseline at N=1000 missing or malformed']);
    const wrongSchema = { ...results(), schema: 'other', icount: 'yes' };
    expect(validateConnCost(wrongSchema)).toEqual([`schema is not ${CONN_COST_SCHEMA}`, 'icount is not a boolean']);
  });

  it('does not ask for figures of a failed or a skipped (plane, N)', () => {
    const r = results();
    r.runs = r.runs.filter((x) => !(x.plane === 'iptables' && x.services === 1000));
    r.failures = [{ plane: 'iptables', services: 1000, message: 'boom' }];
    expect(validateConnCost(r)).toEqual([]);
    const s = results();
    s.runs = s.runs.filter((x) => !(x.plane === 'ipvs-rr' && x.services === 1000));
    s.config.maxServices = { 'ipvs-rr': 100 };
    expect(validateConnCost(s)).toEqual([]);
  });
});

describe('conn-cost report', () => {
  it('shows the baseline, net figures in k instructions and the ratio to IPVS rr', () => {
    const md = connCostMarkdown(results());
    expect(md).toContain('qemu -icount: 1 unit = 1,000 guest instructions');
    expect(md).toContain('| 100 | 70.0 / 72.0 / 75.0 |');
    // iptables at 1,000: first net 15.0 k / IPVS rr's 29.0 k = 0.52x, last 45.0 / 29.0 = 1.55x; last at 100: 18.0 / 29.0 = 0.62x.
    expect(md).toMatch(/\| 1,000 \| iptables \| 15\.0 \/ 15\.0 \/ 15\.0 \| 45\.0 \/ 45\.0 \/ 45\.0 \| 115\.0 \| 0\.52x \| 1\.55x \|/);
    expect(md).toMatch(/\| 100 \| iptables \|.*0\.62x \|/);
    expect(md).toMatch(/\| 1,000 \| IPVS rr \|.*1\.00x \|/);
  });

  it('says when the clock was not counting instructions, and lists failures and skipped sizes', () => {
    const r = results();
    r.icount = false;
    r.runs = r.runs.filter((x) => !(x.plane === 'iptables' && x.services === 1000));
    r.failures = [{ plane: 'iptables', services: 1000, message: 'no traffic' }];
    const md = connCostMarkdown(r);
    expect(md).toContain('wall clock (no -icount');
    expect(md).toContain('| 1,000 | iptables | failed | failed | | | |');
    expect(md).toContain('failed: iptables N=1000: no traffic');
  });

  it('renders the cost chart', async () => {
    const { svg, png } = await renderChart(connCostChart(results()));
    expect(svg).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
    expect(svg).toContain('net cost (k instructions)');
    expect([...png.subarray(0, 4)]).toEqual([0x89, 0x50, 0x4e, 0x47]);
  });
});

describe('compareConnCost', () => {
  it('finds two identical runs 0% apart with the same rankings', () => {
    const rep = compareConnCost(results(), results());
    expect(rep.rows).toHaveLength(8);
    expect(rep.maxRawDiff).toBe(0);
    expect(rep.maxNetDiff).toBe(0);
    expect(rep.rankings.map((g) => [g.services, g.target, g.orders[0].join('<'), g.same])).toEqual([
      [100, 'first', 'iptables<ipvs-rr', true],
      [100, 'last', 'iptables<ipvs-rr', true],
      [1000, 'first', 'iptables<ipvs-rr', true],
      [1000, 'last', 'ipvs-rr<iptables', true],
    ]);
  });

  it('measures how far apart the p50s are and sees a ranking that flips', () => {
    const b = results();
    // IPVS rr's last service at 100 gets 10% dearer in run 2 (raw 99.0 k -> 101.9 k, net 29.0 k -> 31.9 k).
    const rr = b.runs.find((r) => r.plane === 'ipvs-rr' && r.services === 100 && r.target === 'last')!;
    rr.raw = { ...rr.raw, p50: rr.raw.p50 + 2900 };
    rr.net = { ...rr.net, p50: rr.net.p50 + 2900 };
    // iptables' last service at 1,000 becomes cheaper than IPVS rr in run 2.
    const ipt = b.runs.find((r) => r.plane === 'iptables' && r.services === 1000 && r.target === 'last')!;
    ipt.net = { ...ipt.net, p50: 20_000 };
    const rep = compareConnCost(results(), b);
    expect(rep.rows.find((x) => x.plane === 'ipvs-rr' && x.services === 100 && x.target === 'last')?.netDiff).toBeCloseTo(0.1);
    expect(rep.maxRawDiff).toBeCloseTo(2900 / 99_000);
    expect(rep.maxNetDiff).toBeCloseTo(25_000 / 45_000);
    expect(rep.rankings.filter((g) => !g.same).map((g) => `${g.services}:${g.target}`)).toEqual(['1000:last']);
    const md = repeatabilityMarkdown(rep);
    expect(md).toContain('| 100 | last | IPVS rr | 99.0 / 101.9 | 2.9% | 29.0 / 31.9 | 10.0% |');
    expect(md).toContain('| 1,000 | last | IPVS rr < iptables | iptables < IPVS rr | no |');
    expect(md).toContain('rankings the same at 3 of 4 (N, target)');
  });

  it('compares only what both runs have', () => {
    const b = results();
    b.runs = b.runs.filter((r) => r.services === 100);
    expect(compareConnCost(results(), b).rows.map((r) => r.services)).toEqual([100, 100, 100, 100]);
  });
});

describe('conn-cost --compare: ties', () => {
  it('planes within 2% of each other have no order to agree on: a swap between them is not a disagreement', () => {
    const a = results();
    const b = results();
    const iptOf = (r: typeof a) => r.runs.find((x) => x.plane === 'iptables' && x.services === 100 && x.target === 'last')!;
    const rrOf = (r: typeof a) => r.runs.find((x) => x.plane === 'ipvs-rr' && x.services === 100 && x.target === 'last')!;
    // Run 1: iptables 1% dearer than IPVS rr; run 2: 1% cheaper. Noise, not a different ranking.
    iptOf(a).net = { ...iptOf(a).net, p50: rrOf(a).net.p50 * 1.01 };
    iptOf(b).net = { ...iptOf(b).net, p50: rrOf(b).net.p50 * 0.99 };
    const rep = compareConnCost(a, b);
    const g = rep.rankings.find((x) => x.services === 100 && x.target === 'last')!;
    expect(g.same).toBe(true);
    expect(repeatabilityMarkdown(rep)).toContain('| 100 | last | IPVS rr ≈ iptables | iptables ≈ IPVS rr | yes |');
    // 5% apart is an order: swapping it is a disagreement.
    iptOf(b).net = { ...iptOf(b).net, p50: rrOf(b).net.p50 * 0.95 };
    iptOf(a).net = { ...iptOf(a).net, p50: rrOf(a).net.p50 * 1.05 };
    expect(compareConnCost(a, b).rankings.find((x) => x.services === 100 && x.target === 'last')!.same).toBe(false);
  });
});

