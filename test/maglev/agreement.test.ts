import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildKernelTable, kernelLookupFolded, type KernelDest, tableAgreement } from '../../src/maglev/index.ts';

const M = 251;
const dests = (ids: readonly number[], weights: Record<number, number> = {}, last: Record<number, number> = {}): KernelDest[] =>
  ids.map((i) => ({ address: `10.1.0.${i}`, port: 80, weight: weights[i] ?? 1, lastWeight: last[i] ?? weights[i] ?? 1 }));

/** The share by brute force: 20,000 clients (hash inputs from a Weyl sequence, not the audit's sampler). */
function bruteForce(tables: ReturnType<typeof buildKernelTable>[], fallback: boolean): number {
  let differ = 0;
  const n = 20_000;
  for (let i = 0; i < n; i++) {
    const v = Math.imul(i, 0x9e3779b1) + 0x7f4a7c15;
    const picks = tables.map((t) => {
      const d = kernelLookupFolded(t, v | 0, 0, false, fallback);
      return d < 0 ? '' : t.keys[d];
    });
    if (picks.some((p) => p !== picks[0])) differ++;
  }
  return differ / n;
}

describe('tableAgreement', () => {
  it('identical lists agree exactly; the same set in another order does not', () => {
    const a = buildKernelTable(dests([1, 2, 3, 4, 5, 6, 7, 8]), 4093);
    const same = tableAgreement([a, buildKernelTable(dests([1, 2, 3, 4, 5, 6, 7, 8]), 4093)], { fallback: false });
    expect(same).toMatchObject({ slotsDiffer: 0, differentFraction: 0, exact: true });
    // The measurement: one node got the 5th backend late (it went to the head of the list).
    const late = tableAgreement([a, buildKernelTable(dests([1, 2, 3, 4, 6, 7, 8, 5]), 4093)], { fallback: false });
    expect(late.exact).toBe(true);
    expect(late.slotsDiffer).toBeGreaterThan(0);
    expect(late.differentFraction).toBe(late.slotsDiffer / 4093);
  });

  it('is the share of clients that land differently (exact without weight 0, sampled with it), for any lists', () => {
    fc.assert(
      fc.property(
        fc.shuffledSubarray([1, 2, 3, 4, 5, 6], { minLength: 1 }),
        fc.shuffledSubarray([1, 2, 3, 4, 5, 6], { minLength: 1 }),
        fc.boolean(),
        fc.boolean(),
        (x, y, drain, fallback) => {
          const w = drain ? { [x[0]]: 0 } : {};
          const ta = buildKernelTable(dests(x, w, { [x[0]]: 1 }), M);
          const tb = buildKernelTable(dests(y), M);
          const got = tableAgreement([ta, tb], { fallback });
          const want = bruteForce([ta, tb], fallback);
          // Both are within sampling error of the truth (sigma <= 0.0036 for 20,000 clients).
          expect(Math.abs(got.differentFraction - want)).toBeLessThan(got.exact ? 0.015 : 0.022);
          if (x.join() === y.join() && !drain) expect(got.differentFraction).toBe(0);
        },
      ),
      { numRuns: 25 },
    );
  }, 120_000);

  it('three nodes: a slot counts when any one of them differs', () => {
    const a = buildKernelTable(dests([1, 2, 3]), M);
    const b = buildKernelTable(dests([1, 2, 3]), M);
    const c = buildKernelTable(dests([2, 1, 3]), M);
    const pair = tableAgreement([a, c], { fallback: false });
    expect(tableAgreement([a, b, c], { fallback: false }).slotsDiffer).toBe(pair.slotsDiffer);
    expect(tableAgreement([a, b], { fallback: false }).slotsDiffer).toBe(0);
  });

  it('refuses one table or tables of different sizes', () => {
    const a = buildKernelTable(dests([1]), M);
    expect(() => tableAgreement([a], { fallback: false })).toThrow(/two tables/);
    expect(() => tableAgreement([a, buildKernelTable(dests([1]), 509)], { fallback: false })).toThrow(/different sizes/);
  });
});
