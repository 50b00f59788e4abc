// The probing shared by both populates: a walk along one permutation (offset + j*skip mod size)
// to its first slot not yet taken, on a one-byte-per-slot occupied map.
//
// A walk is WALK_FIELDS int32s at walk[j..] (a populate may keep more of its own per-walk fields
// after them): the next candidate slot, then skip - size and (2*skip mod size) - size. A step
// (c + skip) mod size adds the negative step and adds size back when the sign says so: four int32
// operations without a branch the CPU would mispredict half the time, and `| 0` keeps V8 from
// checking each add for overflow (10-15% less populate time than `c += skip; c -= size & ((size -
// 1 - c) >> 31)`). Each loop turn tests two candidates, c+skip from c and the next c as c+2*skip,
// also from c: the chain of dependent steps that the probes wait on is half as long. Measured on the dev
// machine, minimum of 40 interleaved populates, 5 runs, against one candidate a turn: 0.90-0.95x
// the populate time at 65537x1000 and the same at 655373x1000; four candidates a turn (as maglev.c
// does, where it is the fastest) measured 0.89-1.03x and 0.83-0.87x in V8.

export const WALK_FIELDS = 3;

// The occupied map and the walks are scratch, kept between builds (populates run to completion
// and never nest): a fresh map and walk array per build were two zeroed allocations and their
// garbage. Grown to the largest size asked, never shrunk: at most MAX_MAGLEV_TABLE_SIZE bytes
// (16 MB) for the map.
let usedScratch = new Uint8Array(0);
let walkScratch = new Int32Array(0);

/** An all-zero occupied map of at least `size` bytes (indices 0..size-1 are what count). */
export function occupiedMap(size: number): Uint8Array {
  if (usedScratch.length < size) usedScratch = new Uint8Array(size);
  else usedScratch.fill(0, 0, size);
  return usedScratch;
}

/** Scratch for walks: at least `length` int32s, contents undefined (startWalk sets each walk). */
export function walkState(length: number): Int32Array {
  if (walkScratch.length < length) walkScratch = new Int32Array(Math.max(length, 2 * walkScratch.length));
  return walkScratch;
}

/** Sets up the walk at walk[j..] for a permutation starting at `offset` with step `skip` (1 <= skip < size). */
export function startWalk(walk: Int32Array, j: number, offset: number, skip: number, size: number): void {
  walk[j] = offset;
  walk[j + 1] = skip - size;
  walk[j + 2] = ((2 * skip) % size) - size;
}

/**
 * Takes the first free slot of the walk at walk[j..]: marks it in `used`, leaves the walk at the
 * slot after it and returns it. There must be a free slot (the populates stop when none is left).
 */
export function takeNextFree(used: Uint8Array, walk: Int32Array, j: number, size: number): number {
  // nextProbe (mod.ts) written out: called through its import, V8 kept a load and two compares
  // per probe in the loop (the module binding's cell: not the hole, still the same function).
  const back = walk[j + 1];
  const back2 = walk[j + 2];
  let c = walk[j];
  let t = 0;
  for (;;) {
    if (used[c] === 0) break;
    t = (c + back) | 0;
    const next = (t + ((t >> 31) & size)) | 0;
    if (used[next] === 0) {
      c = next;
      break;
    }
    t = (c + back2) | 0;
    c = (t + ((t >> 31) & size)) | 0;
  }
  used[c] = 1;
  t = (c + back) | 0;
  walk[j] = (t + ((t >> 31) & size)) | 0;
  return c;
}
