import { describe, expect, it } from 'vitest';
import { buildKernelTable, buildMaglevTable, diffTables, MaglevError, type SlotTable, tableStats } from '../../src/maglev/index.ts';

const table = (slots: number[], keys: string[], weights = keys.map(() => 1)): SlotTable => ({
  size: slots.length,
  inverseSize: 1 / slots.length,
  slots: Int32Array.from(slots),
  keys,
  tableWeights: weights,
});

describe('tableStats', () => {
  it('counts slots, empty slots, max/avg and weighted balance', () => {
    const s = tableStats(table([0, 0, 1, -1, 2, 2, 2], ['a', 'b', 'c'], [1, 1, 2]));
    expect(s.destinations.map((d) => d.slots)).toEqual([2, 1, 3]);
    expect(s.emptySlots).toBe(1);
    expect(s.max).toBe(3);
    expect(s.avg).toBe(2);
    expect(s.maxOverAvg).toBe(1.5);
    // 6 filled slots by weights 1:1:2 -> expected 1.5, 1.5, 3.
    expect(s.maxOverExpected).toBeCloseTo(2 / 1.5, 12);
  });
});

describe('diffTables', () => {
  it('matches destinations by address:port, not by index', () => {
    const a = table([0, 1, 0, 1], ['x', 'y']);
    const b = table([1, 0, 1, 0], ['y', 'x']);
    expect(diffTables(a, b).changedSlots).toBe(0);
  });

  it('counts changed owners and the minimum move (sum of slots owners lose)', () => {
    const a = table([0, 1, 2, 0, 1, 2], ['x', 'y', 'z']);
    const b = table([0, 1, 0, 1, 0, 1], ['x', 'y']);
    const d = diffTables(a, b);
    expect(d.changedSlots).toBe(4);
    expect(d.minimumSlots).toBe(2);
    expect(d.changedFraction).toBeCloseTo(4 / 6, 12);
    expect(d.minimumFraction).toBeCloseTo(2 / 6, 12);
  });

  it('treats empty slots as an owner of their own', () => {
    const empty = buildKernelTable([], 251);
    const full = buildKernelTable([{ address: '10.0.0.1', port: 80, weight: 1 }], 251);
    expect(diffTables(empty, full)).toMatchObject({ changedSlots: 251, minimumSlots: 251 });
    expect(diffTables(full, empty)).toMatchObject({ changedSlots: 251, minimumSlots: 251 });
  });

  it('reports the known cost of plain Maglev: 1 of 1000 removed at M=65537 moves several times the minimum', () => {
    const backends = Array.from({ length: 1000 }, (_, i) => ({ address: `10.0.${(i + 1) >> 8}.${(i + 1) & 0xff}`, port: 8080 }));
    const d = diffTables(buildMaglevTable(backends), buildMaglevTable(backends.slice(1)));
    expect(d.minimumFraction).toBeGreaterThan(0.0009);
    expect(d.minimumFraction).toBeLessThan(0.0011);
    expect(d.changedFraction / d.minimumFraction).toBeGreaterThan(2);
    expect(d.changedFraction / d.minimumFraction).toBeLessThan(15);
  });

  it('counts slots whose owner is drained (same owner, now unavailable) apart from moved ones', () => {
    const dests = [
      { address: '10.0.0.1', port: 80, weight: 1 },
      { address: '10.0.0.2', port: 80, weight: 1 },
    ];
    const before = buildKernelTable(dests);
    const after = buildKernelTable([dests[0], { ...dests[1], weight: 0, lastWeight: 1 }]);
    const d = diffTables(before, after);
    expect(d.changedSlots).toBe(0);
    expect(d.drainedSlots).toBe(tableStats(before).destinations[1].slots);
    expect(diffTables(after, before).drainedSlots).toBe(0);
  });

  it('refuses tables of different sizes', () => {
    expect(() => diffTables(table([0], ['a']), table([0, 0], ['a']))).toThrow(MaglevError);
  });
});
