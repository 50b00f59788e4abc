import fc from 'fast-check';
import murmurhash3js from 'murmurhash3js';
import { describe, expect, it } from 'vitest';
import { hsiphashWord, mhLookupHash, murmur3Bytes, murmur3View, murmur3View13, murmur3Word, sipKey } from '../../src/maglev/index.ts';
import { mod32, mod32By, mod32Fast } from '../../src/maglev/mod.ts';
import { SIPHASH24_VECTOR_15, sipHashReference } from './sip-reference.ts';

const asBinaryString = (bytes: Uint8Array): string => String.fromCharCode(...bytes);

describe('MurmurHash3 x86_32', () => {
  it('matches the murmurhash3js package on random bytes and seeds', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.nat({ max: 0xffffffff }), (bytes, seed) => {
        expect(murmur3Bytes(bytes, 0, bytes.length, seed)).toBe(murmurhash3js.x86.hash32(asBinaryString(bytes), seed));
      }),
      { numRuns: 2000 },
    );
  });

  it('hashes a window of a larger buffer exactly like the window alone', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 40 }), fc.nat({ max: 20 }), (bytes, pad) => {
        const big = new Uint8Array(pad + bytes.length + 7).fill(0xaa);
        big.set(bytes, pad);
        expect(murmur3Bytes(big, pad, bytes.length, 7)).toBe(murmur3Bytes(bytes, 0, bytes.length, 7));
      }),
    );
  });

  it('hashes a word as its 4 little-endian bytes', () => {
    fc.assert(
      fc.property(fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xffffffff }), (word, seed) => {
        const bytes = new Uint8Array(new Uint32Array([word]).buffer);
        expect(murmur3Word(word, seed)).toBe(murmurhash3js.x86.hash32(asBinaryString(bytes), seed));
      }),
    );
  });

  it('hashes 13 bytes with the unrolled murmur3View13 exactly like the generic loop', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 13, maxLength: 13 }), fc.nat({ max: 9 }), fc.nat({ max: 0xffffffff }), (bytes, pad, seed) => {
        const big = new Uint8Array(pad + 13 + 3);
        big.set(bytes, pad);
        const view = new DataView(big.buffer);
        expect(murmur3View13(view, pad, seed) >>> 0).toBe(murmur3View(view, pad, 13, seed));
      }),
      { numRuns: 2000 },
    );
  });

  it('knows the published vectors', () => {
    const enc = new TextEncoder();
    expect(murmur3Bytes(new Uint8Array(0), 0, 0, 0)).toBe(0);
    expect(murmur3Bytes(new Uint8Array(0), 0, 0, 1)).toBe(0x514e28b7);
    const hello = enc.encode('Hello, world!');
    expect(murmur3Bytes(hello, 0, hello.length, 1234)).toBe(0xfaf6cdb3);
  });
});

describe('hsiphash (SipHash-1-3, 64-bit kernels)', () => {
  it('checks the BigInt oracle against the SipHash reference vector', () => {
    const key = Uint8Array.from({ length: 16 }, (_, i) => i);
    const k0 = new DataView(key.buffer).getBigUint64(0, true);
    const k1 = new DataView(key.buffer).getBigUint64(8, true);
    const msg = Uint8Array.from({ length: 15 }, (_, i) => i);
    expect(sipHashReference(msg, k0, k1, 2, 4)).toBe(SIPHASH24_VECTOR_15);
  });

  it('gives the kernel-checked value for v=0 under ip_vs_mh key1', () => {
    expect(hsiphashWord(0, sipKey(2654435761, 2654435761))).toBe(0x1d5a77c2);
  });

  it('precomputes key1 in mhLookupHash without changing a bit of the hash', () => {
    const key1 = sipKey(2654435761, 2654435761);
    expect(mhLookupHash(0) >>> 0).toBe(0x1d5a77c2);
    for (const word of [1, -1, 0x7fffffff, 0x80000000 | 0, 0x0a000001 + 8080]) expect(mhLookupHash(word) >>> 0).toBe(hsiphashWord(word, key1));
    fc.assert(
      fc.property(fc.nat({ max: 0xffffffff }), (word) => {
        expect(mhLookupHash(word | 0) >>> 0).toBe(hsiphashWord(word, key1));
      }),
      { numRuns: 5000 },
    );
  });

  it('equals the low 32 bits of SipHash-1-3 of 4 little-endian bytes for any word and key', () => {
    fc.assert(
      fc.property(fc.nat({ max: 0xffffffff }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (word, k0, k1) => {
        const msg = new Uint8Array(new Uint32Array([word]).buffer);
        const expected = Number(sipHashReference(msg, k0, k1, 1, 3) & 0xffffffffn);
        const key = { k0hi: Number(k0 >> 32n) | 0, k0lo: Number(k0 & 0xffffffffn) | 0, k1hi: Number(k1 >> 32n) | 0, k1lo: Number(k1 & 0xffffffffn) | 0 };
        expect(hsiphashWord(word, key)).toBe(expected);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('hash mod size', () => {
  it('mod32Fast (cached reciprocal) and mod32By (the table\'s reciprocal) equal the exact mod32 at the edges and on random values, sizes 1-3 included', () => {
    const sizes = [1, 2, 3, 251, 4093, 65521, 65537, 131071, 655373, 16777213, 0x7fffffff];
    for (const m of sizes) {
      const probes = [0, 1, m - 1, m, m + 1, 0xffffffff, 0xfffffffe, 0x80000000, 0x7fffffff];
      for (let k = Math.floor(0xffffffff / m) - 2; k <= Math.floor(0xffffffff / m); k++) probes.push(k * m - 1, k * m, k * m + 1);
      for (const h of probes) {
        if (h < 0 || h > 0xffffffff) continue;
        expect(mod32Fast(h | 0, m)).toBe(mod32(h, m));
        expect(mod32By(h | 0, m, 1 / m)).toBe(mod32(h, m));
        expect(mod32By(h, m, 1 / m)).toBe(mod32(h, m));
      }
    }
    fc.assert(
      fc.property(fc.nat({ max: 0xffffffff }), fc.constantFrom(...sizes), (h, m) => {
        expect(mod32Fast(h, m)).toBe(mod32(h, m));
        expect(mod32By(h, m, 1 / m)).toBe(mod32(h, m));
      }),
      { numRuns: 5000 },
    );
  });
});
