// `ipvs-maglev bench dataplane --quick` and `bench conn-cost --quick` on a real IPVS kernel (the test
// VM): every data plane must carry traffic to every endpoint and the result files must be
// well-formed. Timings and costs are measured but never asserted here.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConnCostResults, validateConnCost } from '../../bench/dataplane/conn-cost.ts';
import { DEFAULT_PLANES } from '../../bench/dataplane/planes.ts';
import { type BenchResults, validateResults } from '../../bench/dataplane/results.ts';
import { quickConfig } from '../../bench/dataplane/run.ts';

const root = join(import.meta.dirname, '..', '..');
const hasIpvs = (() => {
  try {
    return readFileSync('/proc/net/ip_vs', 'utf8').length > 0 && process.getuid?.() === 0;
  } catch {
    return false;
  }
})();

describe.skipIf(!hasIpvs)('bench dataplane --quick on a real kernel', () => {
  let out: string;
  let status: number | null;
  let stderr: string;
  let results: BenchResults;

  beforeAll(() => {
    out = mkdtempSync(join(tmpdir(), 'dataplane-quick-'));
    const r = spawnSync(process.execPath, ['bin/ipvs-maglev.mjs', 'bench', 'dataplane', '--quick', '--prefix', 'dpq', '--out', out], {
      cwd: root,
      encoding: 'utf8',
      timeout: 25 * 60_000,
    });
    status = r.status;
    stderr = r.stderr;
    results = JSON.parse(readFileSync(join(out, 'dataplane-quick.json'), 'utf8'));
  }, 26 * 60_000);

  afterAll(() => {
    if (out) rmSync(out, { recursive: true, force: true });
  });

  it('finishes without failures', () => {
    expect(results.failures, stderr.slice(-2000)).toEqual([]);
    expect(status, stderr.slice(-2000)).toBe(0);
  });

  it('writes well-formed results, a summary and the charts', () => {
    expect(validateResults(results)).toEqual([]);
    expect(results.config.quick).toBe(true);
    expect(readFileSync(join(out, 'dataplane-quick.md'), 'utf8')).toContain('## First-packet latency');
    for (const chart of ['latency', 'programming', 'churn']) {
      expect(readFileSync(join(out, `dataplane-quick-${chart}.svg`), 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
      const png = readFileSync(join(out, `dataplane-quick-${chart}.png`));
      expect([...png.subarray(0, 4)]).toEqual([0x89, 0x50, 0x4e, 0x47]);
      expect(statSync(join(out, `dataplane-quick-${chart}.png`)).size).toBeGreaterThan(5000);
    }
  });

  it('measured every data plane at every quick size', () => {
    const got = results.runs.map((r) => `${r.plane}@${r.services}`).sort();
    const want = DEFAULT_PLANES.flatMap((p) => quickConfig().sizes.map((n) => `${p}@${n}`)).sort();
    expect(got).toEqual(want);
  });

  it('every data plane carried traffic to every endpoint', () => {
    const endpoints = Array.from({ length: results.config.endpoints }, (_, i) => `pod${i}`);
    for (const run of results.runs) {
      for (const e of endpoints) expect(run.backends[e] ?? 0, `${run.plane} N=${run.services} -> ${e}`).toBeGreaterThan(0);
      expect(run.latencyFirst.n + run.latencyLast.n, `${run.plane} N=${run.services}`).toBe(2 * results.config.latencyCount);
      expect(run.rate.completed, `${run.plane} N=${run.services}`).toBeGreaterThan(0);
    }
  });

  it('measured churn per data plane, and Maglev moved few flows that did not have to move', () => {
    expect(results.churn.map((c) => c.plane).sort()).toEqual([...DEFAULT_PLANES].sort());
    for (const c of results.churn) {
      expect(c.moves.compared, c.plane).toBeGreaterThan(results.config.flowCount * 0.9);
      expect(Object.keys(c.distribution).sort(), c.plane).toEqual([...c.endpoints].sort());
    }
    // Behaviour, not timing: with mh-port the kernel's Maglev table keeps almost every flow that
    // was not on the removed endpoint where it was; random (iptables) and rr move most of them.
    const mh = results.churn.find((c) => c.plane === 'ipvs-mh')!;
    const iptables = results.churn.find((c) => c.plane === 'iptables')!;
    expect(mh.moves.needlessMovedShare).toBeLessThan(0.15);
    expect(iptables.moves.needlessMovedShare).toBeGreaterThan(0.4);
  });
});

// The per-connection cost figures: present for every plane, N and target, and well-formed (counts,
// integer percentiles in order, the baseline at every N); their values are the bench's to report.
describe.skipIf(!hasIpvs)('bench conn-cost --quick on a real kernel', () => {
  let out: string;
  let status: number | null;
  let stderr: string;
  let results: ConnCostResults;

  beforeAll(() => {
    out = mkdtempSync(join(tmpdir(), 'conn-cost-quick-'));
    const r = spawnSync(process.execPath, ['bin/ipvs-maglev.mjs', 'bench', 'conn-cost', '--quick', '--prefix', 'ccq', '--out', out], {
      cwd: root,
      encoding: 'utf8',
      timeout: 10 * 60_000,
    });
    status = r.status;
    stderr = r.stderr;
    results = JSON.parse(readFileSync(join(out, 'conn-cost-quick.json'), 'utf8'));
  }, 11 * 60_000);

  afterAll(() => {
    if (out) rmSync(out, { recursive: true, force: true });
  });

  it('finishes without failures and writes well-formed cost figures for every plane, N and target', () => {
    expect(results.failures, stderr.slice(-2000)).toEqual([]);
    expect(status, stderr.slice(-2000)).toBe(0);
    expect(validateConnCost(results)).toEqual([]);
    const got = results.runs.map((r) => `${r.plane}@${r.services}:${r.target}`).sort();
    const want = results.config.planes.flatMap((p) => results.config.sizes.flatMap((n) => [`${p}@${n}:first`, `${p}@${n}:last`])).sort();
    expect(got).toEqual(want);
    expect([...results.config.planes].sort()).toEqual(['iptables', 'ipvs-mh', 'ipvs-rr', 'nftables']);
  });

  it('writes the Markdown table and the chart', () => {
    const md = readFileSync(join(out, 'conn-cost-quick.md'), 'utf8');
    expect(md).toContain('baseline p50 / p90 / p99');
    for (const plane of ['iptables', 'nftables', 'IPVS rr', 'IPVS mh (Maglev)']) expect(md).toContain(`| 1,000 | ${plane} |`);
    expect(readFileSync(join(out, 'conn-cost-quick.svg'), 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
    expect([...readFileSync(join(out, 'conn-cost-quick.png')).subarray(0, 4)]).toEqual([0x89, 0x50, 0x4e, 0x47]);
  });
});
