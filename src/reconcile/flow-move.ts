import { buildKernelTable, type KernelTable } from '../maglev/index.ts';
import type { FlowMoveEstimator, MhDest } from './types.ts';

// Share of flows an `mh` change moves. We rebuild the kernel's Maglev table before and after the change
// (src/maglev, bit-exact with ip_vs_mh, from the kernel's list order and last weights) and compare, slot by
// slot, who actually serves new flows: the slot's destination when its current weight is > 0, otherwise
// nobody (mh-fallback or a drop). So a drain, which keeps the table itself unchanged thanks to the last-weight
// rule, still counts the drained destination's flows as moved: they do move.

/** Default estimator: kernel-exact Maglev. Lists are in kernel order (newest first). */
export const defaultFlowMoveEstimator: FlowMoveEstimator = (before, after, tableSize) => {
  const a = buildKernelTable(toAdditionOrder(before), tableSize);
  const b = buildKernelTable(toAdditionOrder(after), tableSize);
  return compareServing(a, b);
};

/** The kernel inserts new destinations at the head: addition order is the list reversed. */
function toAdditionOrder(list: readonly MhDest[]): MhDest[] {
  const out: MhDest[] = [];
  for (let i = list.length - 1; i >= 0; i--) out.push(list[i]);
  return out;
}

/** Per slot, the key of the destination serving new flows there, or -1 for nobody. */
function servingOwners(table: KernelTable, ids: Map<string, number>): Int32Array {
  const byDest = new Int32Array(table.keys.length);
  for (let i = 0; i < table.keys.length; i++) {
    let id = ids.get(table.keys[i]);
    if (id === undefined) {
      id = ids.size;
      ids.set(table.keys[i], id);
    }
    byDest[i] = table.available[i] ? id : -1;
  }
  const out = new Int32Array(table.size);
  for (let s = 0; s < table.size; s++) {
    const d = table.slots[s];
    out[s] = d < 0 ? -1 : byDest[d];
  }
  return out;
}

export function compareServing(before: KernelTable, after: KernelTable): { changedFraction: number; minimumFraction: number } {
  const ids = new Map<string, number>();
  const a = servingOwners(before, ids);
  const b = servingOwners(after, ids);
  const size = before.size;
  const countsA = new Int32Array(ids.size + 1);
  const countsB = new Int32Array(ids.size + 1);
  let changed = 0;
  for (let s = 0; s < size; s++) {
    if (a[s] !== b[s]) changed++;
    countsA[a[s] + 1]++;
    countsB[b[s] + 1]++;
  }
  // The least any scheme must move: what each server (and "nobody") loses between the two distributions.
  let minimum = 0;
  for (let i = 0; i < countsA.length; i++) minimum += Math.max(0, countsA[i] - countsB[i]);
  return { changedFraction: changed / size, minimumFraction: minimum / size };
}
