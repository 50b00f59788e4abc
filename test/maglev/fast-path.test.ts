// The all-IPv4 fast paths of both table builds (typed arrays, radix sort, buffer-free name hash) against the
// general paths they short-cut: same slots, same keys, same weights, same backends, any order.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildKernelTable, buildMaglevTable, type KernelDest, type MaglevBackend, murmur3Block6, murmur3Bytes } from '../../src/maglev/index.ts';
import { canonicalIPv4Order } from '../../src/maglev/ipv4-order.ts';
import { buildKernelTableGeneric } from '../../src/maglev/kernel.ts';
import { buildMaglevTableGeneric } from '../../src/maglev/paper.ts';

// Addresses from a few bytes so that shared prefixes, equal ports and duplicates all happen.
const endpointArb = fc.record({
  address: fc.tuple(fc.constantFrom(10, 192, 255), fc.nat({ max: 3 }), fc.nat({ max: 255 }), fc.nat({ max: 255 })).map((b) => b.join('.')),
  port: fc.oneof(fc.constantFrom(80, 8080), fc.nat({ max: 65535 })),
});

const compare = (a: { address: number; port: number }, b: { address: number; port: number }): number => a.address - b.address || a.port - b.port;

describe('canonicalIPv4Order (radix sort)', () => {
  it('orders like a comparator sort and returns null exactly when an endpoint repeats', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat({ max: 0xffffffff }), fc.nat({ max: 65535 })), { maxLength: 300 }), fc.boolean(), (pairs, narrow) => {
        // `narrow` squeezes addresses and ports into a few values, so duplicates are common.
        const items = pairs.map(([a, p]) => (narrow ? { address: (a % 5) * 0x01010101, port: p % 3 } : { address: a, port: p }));
        const addresses = Uint32Array.from(items, (x) => x.address);
        const ports = Int32Array.from(items, (x) => x.port);
        const order = canonicalIPv4Order(addresses, ports);
        const distinct = new Set(items.map((x) => `${x.address}:${x.port}`)).size === items.length;
        if (!distinct) {
          expect(order).toBeNull();
          return;
        }
        const expected = items.map((_, i) => i).sort((i, j) => compare(items[i], items[j]));
        expect(order === null ? null : [...order]).toEqual(expected);
      }),
      { numRuns: 500 },
    );
  });

  it('keeps input that is already in order as it is', () => {
    const addresses = Uint32Array.from({ length: 1000 }, (_, i) => 0x0a000001 + i);
    const ports = new Int32Array(1000).fill(8080);
    expect([...(canonicalIPv4Order(addresses, ports) ?? [])]).toEqual([...addresses.keys()]);
  });
});

describe('murmur3Block6', () => {
  it('hashes 6 bytes given as a block and a tail like murmur3Bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 6, maxLength: 6 }), fc.nat({ max: 0xffffffff }), (b, seed) => {
        const block = b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24);
        expect(murmur3Block6(block, b[4] | (b[5] << 8), seed) >>> 0).toBe(murmur3Bytes(b, 0, 6, seed));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('IPv4 fast paths against the general paths', () => {
  it('maglev: identical table, keys, weights and backend order', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(endpointArb, fc.option(fc.nat({ max: 5 }), { nil: undefined })), { minLength: 1, maxLength: 60, selector: ([e]) => `${e.address}:${e.port}` }),
        fc.constantFrom(251, 1009, 4099),
        (list, size) => {
          const backends: MaglevBackend[] = list.map(([e, weight]) => (weight === undefined ? e : { ...e, weight }));
          fc.pre(backends.some((b) => b.weight === undefined || b.weight > 0) && size >= backends.length);
          const fast = buildMaglevTable(backends, size);
          const general = buildMaglevTableGeneric(backends, size);
          expect([...fast.slots]).toEqual([...general.slots]);
          expect(fast.keys).toEqual(general.keys);
          expect(fast.tableWeights).toEqual(general.tableWeights);
          expect(fast.backends).toEqual(general.backends);
          expect([...fast.offsets]).toEqual([...general.offsets]);
          expect([...fast.skips]).toEqual([...general.skips]);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('kernel: identical table, keys and weights, drained destinations included', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(endpointArb, fc.nat({ max: 4 }), fc.nat({ max: 4 })), { maxLength: 40, selector: ([e]) => `${e.address}:${e.port}` }),
        fc.constantFrom(251, 1021),
        (list, size) => {
          const dests: KernelDest[] = list.map(([e, weight, last]) => (weight === 0 ? { ...e, weight, lastWeight: last } : { ...e, weight }));
          const fast = buildKernelTable(dests, size);
          const general = buildKernelTableGeneric(dests, size);
          expect([...fast.slots]).toEqual([...general.slots]);
          expect(fast.keys).toEqual(general.keys);
          expect(fast.tableWeights).toEqual(general.tableWeights);
          expect([...fast.available]).toEqual([...general.available]);
          expect([...fast.turns]).toEqual([...general.turns]);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('falls back to the general path for its errors', () => {
    const code = (f: () => unknown): string | undefined => {
      try {
        f();
      } catch (err) {
        return (err as { code?: string }).code;
      }
      return undefined;
    };
    const a = { address: '10.0.0.1', port: 80 };
    expect(code(() => buildMaglevTable([a, { address: '10.0.0.2', port: 80 }, { ...a, weight: 3 }]))).toBe('DUPLICATE_BACKEND');
    expect(code(() => buildMaglevTable([a, { address: '10.0.0.2', port: 80.5 }]))).toBe('BAD_PORT');
    expect(code(() => buildMaglevTable([{ ...a, weight: 0 }]))).toBe('NO_POSITIVE_WEIGHT');
    expect(code(() => buildKernelTable([{ ...a, weight: 1 }, { address: '10.0.0.2', port: 80, weight: 1 }, { ...a, weight: 2 }]))).toBe('DUPLICATE_BACKEND');
    expect(code(() => buildKernelTable([{ ...a, weight: 1, lastWeight: 2 }]))).toBe('BAD_WEIGHT');
  });
});
