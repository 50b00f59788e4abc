// The kernel's hsiphash as built on 64-bit Linux: SipHash-1-3 (one compression round, three
// finalisation rounds) over 64-bit lanes, truncated to 32 bits. `ip_vs_mh` only ever hashes one
// 4-byte word, so this is specialised to that input. JavaScript has no fast 64-bit integers
// (BigInt allocates), so each lane is a pair of 32-bit halves and every step is spelled out.

/** A SipHash key: two 64-bit words, each given as [high 32 bits, low 32 bits]. */
export interface SipKey {
  readonly k0hi: number;
  readonly k0lo: number;
  readonly k1hi: number;
  readonly k1lo: number;
}

// "somepseudorandomlygeneratedbytes", the SipHash initialisation constants.
const V0_HI = 0x736f6d65;
const V0_LO = 0x70736575;
const V1_HI = 0x646f7261;
const V1_LO = 0x6e646f6d;
const V2_HI = 0x6c796765;
const V2_LO = 0x6e657261;
const V3_HI = 0x74656462;
const V3_LO = 0x79746573;

/**
 * hsiphash(&word, 4, key) on a 64-bit kernel: SipHash-1-3 of 4 little-endian bytes, low 32 bits, unsigned.
 *
 * Fully unrolled (the four SipRounds are written out, one compression and three finalisation) with
 * `h`/`l` halves per lane: V8 keeps all eight halves in registers as int32 and the whole hash is
 * straight-line code. A 64-bit add is lo = al + bl, hi = ah + bh + carry, the carry being the
 * unsigned compare lo < al (a setb; measured ~25% faster than the sign-bit formula
 * ((a & b) | ((a | b) & ~sum)) >>> 31). Rotations by 32 are a swap of the halves.
 */
export function hsiphashWord(word: number, key: SipKey): number {
  let v0h = V0_HI ^ key.k0hi;
  let v0l = V0_LO ^ key.k0lo;
  let v1h = V1_HI ^ key.k1hi;
  let v1l = V1_LO ^ key.k1lo;
  let v2h = V2_HI ^ key.k0hi;
  let v2l = V2_LO ^ key.k0lo;
  // The final block b = (length 4 << 56) | message: high half 0x04000000, low half the word.
  const bl = word | 0;
  let v3h = V3_HI ^ key.k1hi ^ 0x04000000;
  let v3l = V3_LO ^ key.k1lo ^ bl;
  let lo = 0;
  let t = 0;
  // Compression round (v3 ^= b above; v0 ^= b after).
  lo = (v0l + v1l) | 0;
  v0h = (v0h + v1h + Number(lo >>> 0 < v0l >>> 0)) | 0;
  v0l = lo;
  t = (v1h << 13) | (v1l >>> 19);
  v1l = (v1l << 13) | (v1h >>> 19);
  v1h = t;
  v1h ^= v0h;
  v1l ^= v0l;
  t = v0h;
  v0h = v0l;
  v0l = t;
  lo = (v2l + v3l) | 0;
  v2h = (v2h + v3h + Number(lo >>> 0 < v2l >>> 0)) | 0;
  v2l = lo;
  t = (v3h << 16) | (v3l >>> 16);
  v3l = (v3l << 16) | (v3h >>> 16);
  v3h = t;
  v3h ^= v2h;
  v3l ^= v2l;
  lo = (v0l + v3l) | 0;
  v0h = (v0h + v3h + Number(lo >>> 0 < v0l >>> 0)) | 0;
  v0l = lo;
  t = (v3h << 21) | (v3l >>> 11);
  v3l = (v3l << 21) | (v3h >>> 11);
  v3h = t;
  v3h ^= v0h;
  v3l ^= v0l;
  lo = (v2l + v1l) | 0;
  v2h = (v2h + v1h + Number(lo >>> 0 < v2l >>> 0)) | 0;
  v2l = lo;
  t = (v1h << 17) | (v1l >>> 15);
  v1l = (v1l << 17) | (v1h >>> 15);
  v1h = t;
  v1h ^= v2h;
  v1l ^= v2l;
  t = v2h;
  v2h = v2l;
  v2l = t;
  v0h ^= 0x04000000;
  v0l ^= bl;
  // Finalisation: v2 ^= 0xff, then three rounds.
  v2l ^= 0xff;
  lo = (v0l + v1l) | 0;
  v0h = (v0h + v1h + Number(lo >>> 0 < v0l >>> 0)) | 0;
  v0l = lo;
  t = (v1h << 13) | (v1l >>> 19);
  v1l = (v1l << 13) | (v1h >>> 19);
  v1h = t;
  v1h ^= v0h;
  v1l ^= v0l;
  t = v0h;
  v0h = v0l;
  v0l = t;
  lo = (v2l + v3l) | 0;
  v2h = (v2h + v3h + Number(lo >>> 0 < v2l >>> 0)) | 0;
  v2l = lo;
  t = (v3h << 16) | (v3l >>> 16);
  v3l = (v3l << 16) | (v3h >>> 16);
  v3h = t;
  v3h ^= v2h;
  v3l ^= v2l;
  lo = (v0l + v3l) | 0;
  v0h = (v0h + v3h + Number(lo >>> 0 < v0l >>> 0)) | 0;
  v0l = lo;
  t = (v3h << 21) | (v3l >>> 11);
  v3l = (v3l << 21) | (v3h >>> 11);
  v3h = t;
  v3h ^= v0h;
  v3l ^= v0l;
  lo = (v2l + v1l) | 0;
  v2h = (v2h + v1h + Number(lo >>> 0 < v2l >>> 0)) | 0;
  v2l = lo;
  t = (v1h << 17) | (v1l >>> 15);
  v1l = (v1l << 17) | (v1h >>> 15);
  v1h = t;
  v1h ^= v2h;
  v1l ^= v2l;
  t = v2h;
  v2h = v2l;
  v2l = t;
  lo = (v0l + v1l) | 0;
  v0h = (v0h + v1h + Number(lo >>> 0 < v0l >>> 0)) | 0;
  v0l = lo;
  t = (v1h << 13) | (v1l >>> 19);
  v1l = (v1l << 13) | (v1h >>> 19);
  v1h = t;
  v1h ^= v0h;
  v1l ^= v0l;
  t = v0h;
  v0h = v0l;
  v0l = t;
  lo = (v2l + v3l) | 0;
  v2h = (v2h + v3h + Number(lo >>> 0 < v2l >>> 0)) | 0;
  v2l = lo;
  t = (v3h << 16) | (v3l >>> 16);
  v3l = (v3l << 16) | (v3h >>> 16);
  v3h = t;
  v3h ^= v2h;
  v3l ^= v2l;
  lo = (v0l + v3l) | 0;
  v0h = (v0h + v3h + Number(lo >>> 0 < v0l >>> 0)) | 0;
  v0l = lo;
  t = (v3h << 21) | (v3l >>> 11);
  v3l = (v3l << 21) | (v3h >>> 11);
  v3h = t;
  v3h ^= v0h;
  v3l ^= v0l;
  lo = (v2l + v1l) | 0;
  v2h = (v2h + v1h + Number(lo >>> 0 < v2l >>> 0)) | 0;
  v2l = lo;
  t = (v1h << 17) | (v1l >>> 15);
  v1l = (v1l << 17) | (v1h >>> 15);
  v1h = t;
  v1h ^= v2h;
  v1l ^= v2l;
  t = v2h;
  v2h = v2l;
  v2l = t;
  lo = (v0l + v1l) | 0;
  v0h = (v0h + v1h + Number(lo >>> 0 < v0l >>> 0)) | 0;
  v0l = lo;
  t = (v1h << 13) | (v1l >>> 19);
  v1l = (v1l << 13) | (v1h >>> 19);
  v1h = t;
  v1h ^= v0h;
  v1l ^= v0l;
  t = v0h;
  v0h = v0l;
  v0l = t;
  lo = (v2l + v3l) | 0;
  v2h = (v2h + v3h + Number(lo >>> 0 < v2l >>> 0)) | 0;
  v2l = lo;
  t = (v3h << 16) | (v3l >>> 16);
  v3l = (v3l << 16) | (v3h >>> 16);
  v3h = t;
  v3h ^= v2h;
  v3l ^= v2l;
  lo = (v0l + v3l) | 0;
  v0h = (v0h + v3h + Number(lo >>> 0 < v0l >>> 0)) | 0;
  v0l = lo;
  t = (v3h << 21) | (v3l >>> 11);
  v3l = (v3l << 21) | (v3h >>> 11);
  v3h = t;
  v3h ^= v0h;
  v3l ^= v0l;
  lo = (v2l + v1l) | 0;
  v2h = (v2h + v1h + Number(lo >>> 0 < v2l >>> 0)) | 0;
  v2l = lo;
  t = (v1h << 17) | (v1l >>> 15);
  v1l = (v1l << 17) | (v1h >>> 15);
  v1h = t;
  v1h ^= v2h;
  v1l ^= v2l;
  t = v2h;
  v2h = v2l;
  v2l = t;
  return (v0l ^ v1l ^ v2l ^ v3l) >>> 0;
}

/** Builds a key from two 64-bit words given as non-negative safe integers (the kernel's constants fit). */
export function sipKey(k0: number, k1: number): SipKey {
  return {
    k0hi: Math.floor(k0 / 0x100000000) | 0,
    k0lo: k0 % 0x100000000 | 0,
    k1hi: Math.floor(k1 / 0x100000000) | 0,
    k1lo: k1 % 0x100000000 | 0,
  };
}
