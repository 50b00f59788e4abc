// ip_vs_mh's hash: hsiphash of one u32 (offset + port + folded address) under one of two fixed keys.
// Building a table hashes each destination twice (once per key), which the generic hsiphashWord
// does; a lookup hashes every new connection under the first key, which is the hot path here.

import { hsiphashWord, type SipKey, sipKey } from './siphash.ts';

// Fixed keys in ip_vs_mh.c: no per-boot secret, which is what makes the table predictable.
const HASH1: SipKey = sipKey(2654435761, 2654435761);
const HASH2: SipKey = sipKey(2654446892, 2654446892);

/** ip_vs_mh_hashkey(): hsiphash of (offset + port + folded address) as a u32; unsigned result. */
export function mhHashKey(foldedAddress: number, port: number, useSecondKey: boolean, offset: number): number {
  return hsiphashWord((offset + port + foldedAddress) | 0, useSecondKey ? HASH2 : HASH1);
}

/**
 * hsiphashWord(word, HASH1) as a signed int32 (`>>> 0` gives the unsigned hash): the lookup hash.
 *
 * With the key fixed, SipHash's initial state is a constant, and so is the first half of the
 * compression round (v0 += v1; v1 = rotl(v1, 13) ^ v0; v0 = rotl(v0, 32)), which does not touch
 * the message: both are folded into the literals below (test/maglev/hash.test.ts checks this
 * function against the generic one). The message only enters v3's low half (its high half holds the
 * length byte 4 << 24). The last round skips the high halves that feed only the dropped upper
 * 32 bits. Per lookup that leaves ~250 int32 operations where native 64-bit code needs ~60. The result is an int32 because this function is too large for V8 to
 * inline and a returned uint32 above 2^31 would be boxed in a heap number on every call.
 * The 64-bit carry is an unsigned compare of the low halves (setb), cheaper than the sign-bit
 * formula; 64-bit rotations by 32 are a swap of the halves and cost nothing.
 */
export function mhLookupHash(word: number): number {
  let v0h = 0xde9733a0 | 0;
  let v0l = 0xd7dedfc7 | 0;
  let v1h = 0x3992e1cd | 0;
  let v1l = 0xbc4cbf2d | 0;
  let v2h = 0x6c796765 | 0;
  let v2l = 0xf0520bd0 | 0;
  let v3h = 0x70656462 | 0;
  let v3l = (0xe7431cc2 ^ word) | 0;
  let lo = 0;
  let t = 0;
  // The rest of the compression round.
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
  // v0 ^= b closes the compression round; v2 ^= 0xff opens the finalisation.
  v0h ^= 0x04000000;
  v0l ^= word;
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
  // The last round: only the low halves reach the result, so the high halves nothing reads are not computed.
  lo = (v0l + v1l) | 0;
  v0h = (v0h + v1h + Number(lo >>> 0 < v0l >>> 0)) | 0;
  v0l = lo;
  t = (v1h << 13) | (v1l >>> 19);
  v1l = (v1l << 13) | (v1h >>> 19);
  v1h = t;
  v1h ^= v0h;
  v1l ^= v0l;
  // v0 = rotl(v0, 32): its new low half is the old high half.
  v0l = v0h;
  lo = (v2l + v3l) | 0;
  v2h = (v2h + v3h + Number(lo >>> 0 < v2l >>> 0)) | 0;
  v2l = lo;
  t = (v3h << 16) | (v3l >>> 16);
  v3l = (v3l << 16) | (v3h >>> 16);
  v3h = t;
  v3h ^= v2h;
  v3l ^= v2l;
  v0l = (v0l + v3l) | 0;
  v3l = ((v3l << 21) | (v3h >>> 11)) ^ v0l;
  lo = (v2l + v1l) | 0;
  v2h = (v2h + v1h + Number(lo >>> 0 < v2l >>> 0)) | 0;
  v2l = lo;
  v1l = ((v1l << 17) | (v1h >>> 15)) ^ v2l;
  // v2 = rotl(v2, 32): its low half is the high half.
  return v0l ^ v1l ^ v2h ^ v3l;
}
