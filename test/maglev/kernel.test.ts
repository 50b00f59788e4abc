import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  buildKernelTable,
  foldAddress,
  KERNEL_TABLE_SIZES,
  type KernelDest,
  kernelLookup,
  kernelLookupFolded,
  MaglevError,
  mhHashKey,
  parseAddress,
  populateKernel,
  tableStats,
} from '../../src/maglev/index.ts';
import { referenceKernelTable } from './kernel-reference.ts';

const three: KernelDest[] = [
  { address: '10.0.0.1', port: 80, weight: 1 },
  { address: '10.0.0.2', port: 80, weight: 1 },
  { address: '10.0.0.3', port: 80, weight: 1 },
];
const noFlags = { portHash: false, fallback: false };
const countsOf = (slots: Int32Array, n: number): number[] => {
  const c = new Array<number>(n).fill(0);
  for (const s of slots) if (s >= 0) c[s]++;
  return c;
};

describe('kernel flavour: the kernel-checked vector (M=4093, three destinations)', () => {
  const table = buildKernelTable(three);

  it('computes the kernel offsets and skips', () => {
    expect(table.size).toBe(4093);
    expect([...table.offsets]).toEqual([3167, 1231, 1631]);
    expect([...table.skips]).toEqual([700, 3544, 3453]);
  });

  it('gives .3/.2/.1 1365/1364/1364 slots', () => {
    expect(countsOf(table.slots, 3)).toEqual([1364, 1364, 1365]);
    const stats = tableStats(table);
    expect(stats.destinations.map((d) => [d.key, d.slots])).toEqual([
      ['10.0.0.1:80', 1364],
      ['10.0.0.2:80', 1364],
      ['10.0.0.3:80', 1365],
    ]);
    expect(stats.max).toBe(1365);
    expect(stats.maxOverAvg).toBeCloseTo(1365 / (4093 / 3), 10);
  });

  it('sends 192.168.1.100 to slot 1341 -> 10.0.0.2 without mh-port, and to 10.0.0.3 from port 40000 with it', () => {
    const fold = foldAddress(parseAddress('192.168.1.100').words);
    expect(mhHashKey(fold, 0, false, 0) % 4093).toBe(1341);
    expect(table.slots[1341]).toBe(1);
    expect(kernelLookup(table, '192.168.1.100', 40000, noFlags)).toBe(1);
    expect(kernelLookup(table, '192.168.1.100', 40000, { portHash: true, fallback: false })).toBe(2);
  });
});

describe('kernel flavour: agrees with a line-by-line transcription of ip_vs_mh.c', () => {
  const tabBits = (size: number): number => (KERNEL_TABLE_SIZES.indexOf(size) + 8) >> 1;
  const destArb = fc
    .uniqueArray(fc.tuple(fc.nat({ max: 255 }), fc.constantFrom(80, 443, 8080)), { minLength: 0, maxLength: 12, selector: ([a, p]) => `${a}:${p}` })
    .chain((ids) =>
      fc.tuple(
        fc.constant(ids),
        fc.array(fc.oneof(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 100000 })), { minLength: ids.length, maxLength: ids.length }),
        fc.array(fc.boolean(), { minLength: ids.length, maxLength: ids.length }),
      ),
    )
    .map(([ids, weights, drained]) =>
      ids.map(([a, port], i): KernelDest => (drained[i] && weights[i] > 0 ? { address: `10.1.0.${a}`, port, weight: 0, lastWeight: weights[i] } : { address: `10.1.0.${a}`, port, weight: weights[i] })),
    );

  it('on random weights, drains and orders, for small kernel sizes', () => {
    fc.assert(
      fc.property(destArb, fc.constantFrom(251, 509, 1021, 4093), (dests, size) => {
        const table = buildKernelTable(dests, size);
        expect([...table.slots]).toEqual([...referenceKernelTable(dests, size, tabBits(size))]);
      }),
      { numRuns: 150 },
    );
  });

  it('with more destinations than slots: only the first `size` in list order take a slot', () => {
    // The populate starts no walk for the destinations that cannot take a slot in the first round.
    const many = (n: number, weight: (i: number) => number): KernelDest[] =>
      Array.from({ length: n }, (_, i) => ({ address: `10.2.${i >> 8}.${i & 255}`, port: 80, weight: weight(i) }));
    for (const dests of [many(300, () => 1), many(300, (i) => 1 + (i % 3)), many(700, (i) => (i % 5 === 0 ? 0 : 2))]) {
      const table = buildKernelTable(dests, 251);
      expect([...table.slots]).toEqual([...referenceKernelTable(dests, 251, tabBits(251))]);
    }
    const equal = countsOf(buildKernelTable(many(300, () => 1), 251).slots, 300);
    expect(equal.slice(0, 49).every((c) => c === 0) && equal.slice(49).every((c) => c === 1)).toBe(true);
  });
});

describe('kernel flavour: weights', () => {
  it('scales by gcd: weights 2:4:6 build the same table as 1:2:3', () => {
    const a = buildKernelTable(three.map((d, i) => ({ ...d, weight: i + 1 })));
    const b = buildKernelTable(three.map((d, i) => ({ ...d, weight: 2 * (i + 1) })));
    expect(b.gcd).toBe(2);
    expect([...a.slots]).toEqual([...b.slots]);
    expect([...a.turns]).toEqual([1, 2, 3]);
  });

  it('shifts weights above TAB_BITS (6 at M=4093): 1 and 1000 -> turns 1 and 62 (1000 >> 4)', () => {
    const t = buildKernelTable([
      { address: '10.0.0.1', port: 80, weight: 1 },
      { address: '10.0.0.2', port: 80, weight: 1000 },
    ]);
    expect(t.rshift).toBe(4);
    expect([...t.turns]).toEqual([1, 62]);
    const c = countsOf(t.slots, 2);
    // 64 full rounds of 63 slots fill 4032; .2 comes first in the kernel's list and takes the last 61.
    expect(c).toEqual([64, 4093 - 64]);
  });

  it('gives no slots to a destination added with weight 0', () => {
    const t = buildKernelTable([...three, { address: '10.0.0.4', port: 80, weight: 0 }]);
    expect(countsOf(t.slots, 4)[3]).toBe(0);
    expect([...t.slots]).toEqual([...buildKernelTable(three).slots]);
  });

  it('leaves every slot empty when all weights are 0, and lookups find nothing', () => {
    const t = buildKernelTable(three.map((d) => ({ ...d, weight: 0 })));
    expect(t.slots.every((s) => s === -1)).toBe(true);
    expect(kernelLookup(t, '192.168.1.100', 1, { portHash: true, fallback: true })).toBe(-1);
    const empty = buildKernelTable([]);
    expect(kernelLookup(empty, '192.168.1.100', 1, noFlags)).toBe(-1);
  });
});

describe('kernel flavour: a drained destination (weight 0, last weight kept)', () => {
  const drained = three.map((d, i) => (i === 1 ? { ...d, weight: 0, lastWeight: 1 } : d));
  const before = buildKernelTable(three);
  const after = buildKernelTable(drained);

  it('keeps its slots', () => {
    expect([...after.slots]).toEqual([...before.slots]);
  });

  it('drops its clients without mh-fallback and moves only them with it', () => {
    let moved = 0;
    for (let i = 0; i < 2000; i++) {
      const client = `172.16.${i >> 8}.${i & 0xff}`;
      const was = kernelLookup(before, client, 0, noFlags);
      const plain = kernelLookup(after, client, 0, noFlags);
      const fb = kernelLookup(after, client, 0, { portHash: false, fallback: true });
      if (was === 1) {
        expect(plain).toBe(-1);
        expect(fb === 0 || fb === 2).toBe(true);
        moved++;
      } else {
        expect(plain).toBe(was);
        expect(fb).toBe(was);
      }
    }
    expect(moved).toBeGreaterThan(500);
  });

  it('follows the kernel fallback walk: rehash with offsets first_slot, first_slot+1, ...', () => {
    const fold = foldAddress(parseAddress('172.16.0.7').words);
    for (let port = 0; port < 300; port++) {
      const first = mhHashKey(fold, port, false, 0) % 4093;
      let expected = after.slots[first];
      if (after.available[expected] !== 1) {
        expected = -1;
        for (let o = 0; o < 4093; o++) {
          const d = after.slots[mhHashKey(fold, port, false, (o + first) % 4093) % 4093];
          if (d < 0) break;
          if (after.available[d] === 1) {
            expected = d;
            break;
          }
        }
      }
      expect(kernelLookupFolded(after, fold, port, true, true)).toBe(expected);
    }
  });
});

describe('kernel flavour: IPv6', () => {
  it('folds the address to the XOR of its words and accepts any spelling', () => {
    const dests = [
      { address: '2001:db8::1', port: 80, weight: 1 },
      { address: '2001:DB8:0:0::2', port: 80, weight: 1 },
    ];
    const t = buildKernelTable(dests);
    expect(t.family).toBe('inet6');
    expect(t.keys).toEqual(['[2001:db8::1]:80', '[2001:db8::2]:80']);
    const fold = (0x20010db8 ^ 0 ^ 0 ^ 0x1) >>> 0;
    expect(t.offsets[0]).toBe(mhHashKey(fold, 80, false, 0) % 4093);
    expect(kernelLookup(t, '2001:db8:ffff::9', 0, noFlags)).toBe(kernelLookup(t, '2001:0db8:ffff:0:0:0:0:9', 0, noFlags));
  });
});

describe('kernel flavour: bad input', () => {
  const code = (fn: () => unknown): string => {
    try {
      fn();
    } catch (err) {
      if (err instanceof MaglevError) return err.code;
      throw err;
    }
    return 'no error';
  };
  it('refuses sizes the kernel cannot have', () => {
    expect(code(() => buildKernelTable(three, 4099))).toBe('BAD_TABLE_SIZE');
    expect(code(() => buildKernelTable(three, 65537))).toBe('BAD_TABLE_SIZE');
    const one = new Int32Array([1]);
    expect(code(() => populateKernel(new Int32Array(262147), one, one, one))).toBe('BAD_TABLE_SIZE');
  });
  it('refuses duplicates, mixed families, bad addresses, ports and weights', () => {
    expect(code(() => buildKernelTable([three[0], { ...three[0], weight: 3 }]))).toBe('DUPLICATE_BACKEND');
    expect(code(() => buildKernelTable([three[0], { address: '::1', port: 80, weight: 1 }]))).toBe('MIXED_FAMILY');
    expect(code(() => buildKernelTable([{ address: '10.0.0.256', port: 80, weight: 1 }]))).toBe('BAD_ADDRESS');
    expect(code(() => buildKernelTable([{ address: '10.0.0.1', port: 70000, weight: 1 }]))).toBe('BAD_PORT');
    for (const weight of [-1, Number.NaN, 1.5, 2 ** 31, Number.POSITIVE_INFINITY]) {
      expect(code(() => buildKernelTable([{ address: '10.0.0.1', port: 80, weight }]))).toBe('BAD_WEIGHT');
    }
    expect(code(() => buildKernelTable([{ address: '10.0.0.1', port: 80, weight: 2, lastWeight: 3 }]))).toBe('BAD_WEIGHT');
  });
  it('refuses a client of the other family', () => {
    expect(code(() => kernelLookup(buildKernelTable(three), '::1', 0, noFlags))).toBe('BAD_ADDRESS');
  });
});
