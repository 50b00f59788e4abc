import { describe, expect, it } from 'vitest';
import { diffServices } from '../../bench/dataplane/diff.ts';
import { churnChart, latencyChart, markdownSummary, programmingChart, renderChart } from '../../bench/dataplane/report.ts';
import { type BenchResults, type PlaneRun, RESULTS_SCHEMA, validateResults } from '../../bench/dataplane/results.ts';
import { fullConfig, quickConfig, spread, totalSteps } from '../../bench/dataplane/run.ts';
import { flowMoves, maxOverAvg, parseProcStat, percentile, summarizeLatency } from '../../bench/dataplane/stats.ts';
import { describeTopology } from '../../bench/dataplane/topology.ts';
import { makeWorkload } from '../../bench/dataplane/workload.ts';

describe('stats', () => {
  it('takes nearest-rank percentiles', () => {
    const xs = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(percentile(xs, 50)).toBe(50);
    expect(percentile(xs, 90)).toBe(90);
    expect(percentile(xs, 99)).toBe(99);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
    expect(summarizeLatency([1, 2, 3, 4], 1)).toEqual({ n: 4, p50Us: 2, p90Us: 4, p99Us: 4, errors: 1 });
  });
  it('computes max/avg with missing endpoints counted as zero', () => {
    expect(maxOverAvg({ a: 10, b: 10 }, ['a', 'b'])).toBe(1);
    expect(maxOverAvg({ a: 20 }, ['a', 'b'])).toBe(2);
    expect(maxOverAvg({}, ['a'])).toBeNaN();
  });
  it('separates necessary from needless flow moves', () => {
    const before = ['a', 'b', 'c', 'd', 'a', null];
    const after = ['a', 'c', 'c', 'a', 'b', 'a'];
    const m = flowMoves(before, after, 'd');
    expect(m.compared).toBe(5);
    expect(m.movedShare).toBeCloseTo(3 / 5);
    expect(m.onRemovedShare).toBeCloseTo(1 / 5);
    expect(m.needlessMovedShare).toBeCloseTo(2 / 4);
  });
  it('reads busy and kernel ticks from /proc/stat', () => {
    const s = parseProcStat('cpu  100 5 40 1000 10 3 7 0 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n');
    expect(s).toEqual({ busy: 155, kernel: 50, total: 1165 });
    expect(() => parseProcStat('intr 1')).toThrow();
  });
});

describe('diffServices', () => {
  const pods = ['10.0.1.1', '10.0.1.2', '10.0.1.3', '10.0.1.4'];
  const w = makeWorkload({ services: 5, pods, endpointsPerService: 3, targetPort: 8080, servicePort: 80 });
  it('finds added, removed and changed services and endpoints', () => {
    const extra = makeWorkload({ services: 6, pods, endpointsPerService: 3, targetPort: 8080, servicePort: 80 })[5];
    const after = [...w.slice(1), extra].map((s, i) => (i === 1 ? { ...s, endpoints: [s.endpoints[0], { ip: '10.0.1.9', port: 8080 }] } : s));
    const d = diffServices(w, after);
    expect(d.added.map((s) => s.clusterIP)).toEqual([extra.clusterIP]);
    expect(d.removed.map((s) => s.clusterIP)).toEqual([w[0].clusterIP]);
    expect(d.changed).toHaveLength(1);
    expect(d.changed[0].added).toEqual([{ ip: '10.0.1.9', port: 8080 }]);
    expect(d.changed[0].removed).toHaveLength(2);
  });
  it('sees nothing when nothing changed', () => {
    expect(diffServices(w, w)).toEqual({ added: [], removed: [], changed: [] });
  });
});

describe('run plan', () => {
  it('spreads targets over the rule order including both ends', () => {
    const xs = Array.from({ length: 1000 }, (_, i) => i);
    const s = spread(xs, 64);
    expect(s).toHaveLength(64);
    expect(s[0]).toBe(0);
    expect(s.at(-1)).toBe(999);
    expect(spread([1, 2], 64)).toEqual([1, 2]);
  });
  it('keeps the quick run small and the full run at the issue sizes', () => {
    expect(Math.max(...quickConfig().sizes)).toBeLessThanOrEqual(1000);
    expect(fullConfig().sizes).toEqual([100, 1000, 5000, 10000]);
    expect(totalSteps({ ...quickConfig(), planes: ['iptables', 'ipvs-mh'] })).toBe(2 * (2 * 6 + 1));
    // Full run: nftables stops at 5,000 (3 sizes run + churn, 1 skipped step); the others run all four.
    expect(fullConfig().maxServices).toEqual({ nftables: 5000 });
    expect(totalSteps({ ...fullConfig(), planes: ['iptables', 'nftables'] })).toBe(4 * 6 + 1 + (3 * 6 + 1 + 1));
  });
  it('names namespaces and interfaces within the kernel limits', () => {
    const t = describeTopology({ prefix: 'imb', pods: 5 });
    expect(t.podNs).toHaveLength(5);
    expect(t.podIps[4]).toBe('10.0.1.5');
    for (const ifname of [t.bridge, t.dummy, `${t.prefix}-p199`, `${t.prefix}-c`]) expect(ifname.length).toBeLessThanOrEqual(15);
    expect(() => describeTopology({ prefix: 'imb', pods: 0 })).toThrow(RangeError);
  });
});

function sampleResults(): BenchResults {
  const lat = { n: 30, p50Us: 400, p90Us: 600, p99Us: 900, errors: 0 };
  const run = (plane: 'iptables' | 'ipvs-mh', services: number): PlaneRun => ({
    plane,
    services,
    endpoints: 4,
    rules: 5 + services * 14,
    rulesNote: 'x',
    programMs: services / 10,
    ...(plane === 'ipvs-mh' ? { programBreakdownMs: { vipsMs: 1, ipsetMs: 2, netlinkMs: 3 } } : {}),
    addServiceMs: plane === 'iptables' ? { 'full-restore': services / 10, 'partial-restore': 5 } : ({ netlink: 1 } as Record<string, number>),
    changeEndpointMs: plane === 'iptables' ? { 'full-restore': services / 10, 'partial-restore': 5 } : ({ netlink: 1 } as Record<string, number>),
    latencyFirst: lat,
    latencyLast: { ...lat, p50Us: plane === 'iptables' ? 400 + services : 400 },
    rate: { durationMs: 1500, completed: 3000, errors: 0, connsPerSec: 2000, cpuUsPerConn: 900, kernelCpuUsPerConn: 250 },
    backends: { pod0: 1, pod1: 1, pod2: 1, pod3: 1 },
    phasesMs: { setup: 100, program: services * 10, latency: 2000, teardown: 500 },
  });
  return {
    schema: RESULTS_SCHEMA,
    startedAt: '2026-01-01T00:00:00Z',
    finishedAt: '2026-01-01T00:05:00Z',
    environment: { kernel: '6.1.0', inVm: true, cpus: 2, cpuModel: 'QEMU', memoryMiB: 3000, node: 'v24', iptables: 'iptables v1.8.9 (nf_tables)', nft: 'nftables', ipset: 'ipset', ipvs: 'IP Virtual Server version 1.2.1 (size=4096)' },
    config: { ...quickConfig(), planes: ['iptables', 'ipvs-mh'] },
    runs: [run('iptables', 100), run('ipvs-mh', 100), run('iptables', 1000), run('ipvs-mh', 1000)],
    churn: [
      { plane: 'iptables', services: 100, endpoints: ['pod0', 'pod1', 'pod2', 'pod3'], removed: 'pod3', distribution: { pod0: 50 }, maxOverAvg: 1.1, moves: { flows: 200, compared: 200, movedShare: 0.75, needlessMovedShare: 0.66, onRemovedShare: 0.25 } },
      { plane: 'ipvs-mh', services: 100, endpoints: ['pod0', 'pod1', 'pod2', 'pod3'], removed: 'pod3', distribution: { pod0: 50 }, maxOverAvg: 1.05, moves: { flows: 200, compared: 200, movedShare: 0.27, needlessMovedShare: 0.02, onRemovedShare: 0.25 } },
    ],
    failures: [],
  };
}

describe('results and report', () => {
  it('accepts well-formed results and names what is wrong with bad ones', () => {
    expect(validateResults(sampleResults())).toEqual([]);
    expect(validateResults(null)).toEqual(['results are not an object']);
    expect(validateResults({ ...sampleResults(), schema: 'x' })[0]).toContain('schema');
    const bad = sampleResults() as unknown as { runs: Record<string, unknown>[] };
    bad.runs[0].programMs = 'fast';
    expect(validateResults(bad)).toContain('runs[0].programMs is not a number');
  });
  it('writes one table row per run and per churn measurement', () => {
    const md = markdownSummary(sampleResults());
    expect(md).toContain('| 1,000 | iptables (kube-proxy, legacy) | 14,005 | 100 | 100.0 (full-restore)<br>5.0 (partial-restore) |');
    expect(md).toContain('| 100 | IPVS mh (Maglev) | 1.050 | 27.0% | 2.0% | 25.0% |');
    expect(md).toContain('(vips 1, ipset 2, netlink 3)');
    expect(md).not.toContain('## Failures');
    expect(md).toContain('Whole run: 5.0 min');
    expect(md).toContain('| N | data plane | setup | program | latency | teardown | total |');
    expect(md).toContain('| 1,000 | IPVS mh (Maglev) | 0.1 | 10.0 | 2.0 | 0.5 | 12.6 |');
  });
  it('renders the three charts to SVG and PNG', async () => {
    const r = sampleResults();
    for (const spec of [latencyChart(r), programmingChart(r), churnChart(r)]) {
      const { svg, png } = await renderChart(spec);
      expect(svg.startsWith('<svg')).toBe(true);
      expect(svg).toContain('</svg>');
      expect([...png.slice(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      expect(png.length).toBeGreaterThan(5000);
    }
  });
});

describe('tool CPU accounting', () => {
  it('reports the user and kernel CPU a tool used', async () => {
    const { run, childCpuTicks } = await import('../../bench/dataplane/exec.ts');
    const t = childCpuTicks();
    expect(Number.isInteger(t.user) && Number.isInteger(t.kernel)).toBe(true);
    const r = await run('sh', ['-c', 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done']);
    expect(r.userMs).toBeGreaterThan(0);
    expect(r.userMs + r.kernelMs).toBeLessThanOrEqual(r.ms * 2 + 20);
  });
});
