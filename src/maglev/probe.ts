// The probing shared by both populates: walks along permutations (offset + j*skip mod size), each to
// its first slot not yet taken, on a one-byte-per-slot occupied map.
//
// The occupied map and the walks are module constants of a fixed capacity, allocated once, not
// per build nor grown. TurboFan compiles an access to a typed array it knows as a constant (an
// off-heap one bound by a module `const`: js-native-context-specialization.cc, "asm.js-like code
// patterns") with its length and data pointer embedded; passed in as an argument or kept in a
// `let`, both are loaded again after every interrupt check of the probe loop. Measured with `bench
// maglev`, the populate loop alone against the same loop on scratch passed in (round 7's code, same
// hour): 0.80-0.84x the time at 65537x100, 65537x1000, 655373x1000 and kernel 65521x1000, 0.76x at
// kernel 4093x3. The memory is virtual until touched (20 MB of address space, counted in V8's
// arrayBuffers, not in the resident set): a build touches the first `size` bytes of the map and 16
// bytes a walk.
//
// A walk is WALK_FIELDS int32s: the next candidate slot, skip - size, (2*skip mod size) - size and
// the owner written into the table. A step (c + skip) mod size adds the negative step and adds size
// back when the sign says so: four int32 operations without a branch the CPU would mispredict half
// the time, and `| 0` keeps V8 from checking each add for overflow (10-15% less populate time than
// `c += skip; c -= size & ((size - 1 - c) >> 31)`). Each loop turn tests two candidates, c+skip from c
// and the next c as c+2*skip, also from c: the chain of dependent steps that the probes wait on is
// half as long. Measured against one candidate a turn: 0.90-0.95x the populate time at 65537x1000
// and 655373x1000; four candidates a turn (as maglev.c does, where it is the fastest) measured
// 0.89-1.03x and 0.83-0.87x in V8.

/** The largest table a populate fills (and the occupied map's bytes: 16 MB, virtual until used). */
export const MAX_TABLE_SIZE = 1 << 24;
/** The most walks a populate can run (the walks take 16 bytes each: 4 MB, virtual until used). */
export const MAX_WALKS = 1 << 18;

const WALK_FIELDS = 4;
const occupied = new Uint8Array(MAX_TABLE_SIZE);
const walks = new Int32Array(WALK_FIELDS * MAX_WALKS);

/** Starts a populate of a table of `size` slots: every slot free. Populates run to completion and never nest. */
export function clearOccupied(size: number): void {
  occupied.fill(0, 0, size);
}

/** Sets up walk `w` (< MAX_WALKS) from `offset` with step `skip` (1 <= skip < size), for slots of `owner`. */
export function startWalk(w: number, offset: number, skip: number, size: number, owner: number): void {
  const j = WALK_FIELDS * w;
  walks[j] = offset;
  walks[j + 1] = skip - size;
  walks[j + 2] = ((2 * skip) % size) - size;
  walks[j + 3] = owner;
}

/**
 * Takes the first free slot of walk `w`: marks it, leaves the walk at the slot after it (the one
 * it took is always occupied: probing it again was one wasted probe a slot) and returns it. There
 * must be a free slot (the populates stop when none is left).
 */
export function takeNextFree(w: number, size: number): number {
  const j = WALK_FIELDS * w;
  const back = walks[j + 1];
  const back2 = walks[j + 2];
  let c = walks[j];
  let t = 0;
  for (;;) {
    if (occupied[c] === 0) break;
    t = (c + back) | 0;
    const next = (t + ((t >> 31) & size)) | 0;
    if (occupied[next] === 0) {
      c = next;
      break;
    }
    t = (c + back2) | 0;
    c = (t + ((t >> 31) & size)) | 0;
  }
  occupied[c] = 1;
  t = (c + back) | 0;
  walks[j] = (t + ((t >> 31) & size)) | 0;
  return c;
}

/** The owner walk `w` was started for. */
export function walkOwner(w: number): number {
  return walks[WALK_FIELDS * w + 3];
}

/**
 * Walks 0..count-1 take one slot each in turn, round after round, until all of `slots` is taken
 * (the paper's round robin, and the kernel's with one turn each): writes each walk's owner.
 */
export function fillRoundRobin(slots: Int32Array, count: number): void {
  const size = slots.length;
  let left = size;
  // One flat loop whose index wraps, rather than a loop over walks inside a loop over rounds: 9%
  // less time at kernel 4093x3, where the work per slot filled (not the probing) is most of the cost.
  let w = 0;
  while (left !== 0) {
    slots[takeNextFree(w, size)] = walks[WALK_FIELDS * w + 3];
    left = (left - 1) | 0;
    w = (w + 1) | 0;
    if (w === count) w = 0;
  }
}
