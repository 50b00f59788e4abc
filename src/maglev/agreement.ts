// Do several nodes' `mh` tables send each flow to the same destination? Compared slot by slot on the kernel
// replica's lookup tables (never per client, never an N x M matrix): a flow's first slot is hash(client) mod M
// on every node, so where every node's destination at a slot can take the flow, the nodes agree on all flows
// hashing there exactly when they name the same destination. Only flows whose first slot holds a destination
// that cannot take them (weight 0) on some node follow mh-fallback's rehash, which depends on the client and
// not on the slot: those are sampled (deterministic clients hashing to such slots) and said to be.

import { MaglevError } from './errors.ts';
import type { KernelTable } from './kernel.ts';
import { kernelLookupFolded } from './kernel.ts';
import { mhLookupHash } from './mh-hash.ts';
import { mod32 } from './mod.ts';

export interface AgreementOptions {
  /** mh-fallback is set: flows whose slot is unavailable look further. */
  readonly fallback: boolean;
  /** Flows hashing to unavailable slots to sample (default 20,000). */
  readonly samples?: number;
  /** Client hash inputs to draw at most while looking for those flows (default 2,000,000). */
  readonly maxDraws?: number;
}

export interface Agreement {
  readonly size: number;
  /** Slots where every node has an available destination and they are not all the same one. */
  readonly slotsDiffer: number;
  /** Slots where some node's destination is unavailable (their flows are sampled). */
  readonly fallbackSlots: number;
  readonly fallbackSampled: number;
  readonly fallbackDiffer: number;
  /** Share of flows that do not land on the same destination (or the same drop) on every node. */
  readonly differentFraction: number;
  /** True when no flow needed sampling: the share is exact. */
  readonly exact: boolean;
}

const DEFAULT_SAMPLES = 20_000;
const DEFAULT_MAX_DRAWS = 2_000_000;

export function tableAgreement(tables: readonly KernelTable[], options: AgreementOptions): Agreement {
  if (tables.length < 2) throw new MaglevError('EMPTY_BACKENDS', 'agreement needs at least two tables');
  const size = tables[0].size;
  for (const t of tables) {
    if (t.size !== size) throw new MaglevError('BAD_TABLE_SIZE', `tables of different sizes (${size} and ${t.size})`);
  }
  // Destination keys as small ids shared by all tables; -1 = no destination (drop), -2 = unavailable.
  const ids = new Map<string, number>();
  const owners = tables.map((t) => {
    const byDest = new Int32Array(t.keys.length);
    for (let i = 0; i < t.keys.length; i++) {
      let id = ids.get(t.keys[i]);
      if (id === undefined) {
        id = ids.size;
        ids.set(t.keys[i], id);
      }
      byDest[i] = t.available[i] === 1 ? id : -2;
    }
    return byDest;
  });
  const fallbackSlot = new Uint8Array(size);
  let slotsDiffer = 0;
  let fallbackSlots = 0;
  for (let s = 0; s < size; s++) {
    let first = 0;
    let differ = false;
    let unavailable = false;
    for (let n = 0; n < tables.length; n++) {
      const d = tables[n].slots[s];
      const owner = d < 0 ? -1 : owners[n][d];
      if (owner === -2) unavailable = true;
      if (n === 0) first = owner;
      else if (owner !== first) differ = true;
    }
    if (unavailable && options.fallback) {
      fallbackSlot[s] = 1;
      fallbackSlots++;
    } else if (differ) slotsDiffer++;
  }
  let sampled = 0;
  let sampledDiffer = 0;
  if (fallbackSlots > 0) {
    const want = options.samples ?? DEFAULT_SAMPLES;
    const maxDraws = options.maxDraws ?? DEFAULT_MAX_DRAWS;
    // The lookup hashes (client address + port) as one u32: drawing that value covers every client.
    let x = 0x9e3779b9;
    for (let draw = 0; draw < maxDraws && sampled < want; draw++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      const v = x | 0;
      if (fallbackSlot[mod32(mhLookupHash(v), size)] === 0) continue;
      sampled++;
      const pick = (n: number): string | undefined => {
        const d = kernelLookupFolded(tables[n], v, 0, false, true);
        return d < 0 ? undefined : tables[n].keys[d];
      };
      const a = pick(0);
      for (let n = 1; n < tables.length; n++) {
        if (pick(n) !== a) {
          sampledDiffer++;
          break;
        }
      }
    }
  }
  const fallbackShare = sampled > 0 ? sampledDiffer / sampled : 0;
  return {
    size,
    slotsDiffer,
    fallbackSlots,
    fallbackSampled: sampled,
    fallbackDiffer: sampledDiffer,
    differentFraction: (slotsDiffer + fallbackSlots * fallbackShare) / size,
    exact: fallbackSlots === 0,
  };
}
