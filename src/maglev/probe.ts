// The probing shared by both populates: a walk along one permutation (offset + j*skip mod size)
// to its first slot not yet taken, on a one-byte-per-slot occupied map.
//
// A walk is WALK_FIELDS int32s at walk[j..] (a populate may keep more of its own per-walk fields
// after them): the next candidate slot, then skip - size and
// (2*skip mod size) - size (see nextProbe for the minus). Each loop turn tests two candidates, c+skip
// from c and the next c as c+2*skip, also from c: the chain of dependent steps that the probes
// wait on (each nextProbe is four dependent int32 operations) is half as long. Measured on the dev
// machine, minimum of 40 interleaved populates, 5 runs, against one candidate a turn: 0.90-0.95x
// the populate time at 65537x1000 and the same at 655373x1000; four candidates a turn (as maglev.c
// does, where it is the fastest) measured 0.89-1.03x and 0.83-0.87x in V8.

import { nextProbe } from './mod.ts';

export const WALK_FIELDS = 3;

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
  const back = walk[j + 1];
  const back2 = walk[j + 2];
  let c = walk[j];
  for (;;) {
    if (used[c] === 0) break;
    const next = nextProbe(c, back, size);
    if (used[next] === 0) {
      c = next;
      break;
    }
    c = nextProbe(c, back2, size);
  }
  used[c] = 1;
  walk[j] = nextProbe(c, back, size);
  return c;
}
