import type { DestinationKey } from '../ipvs/types.ts';
import { compareDestinationKeys } from './compare.ts';

// The kernel's `mh` table is a function of the destination list order, and the only way to change that order is
// to delete a destination and add it again (it goes to the head). So nodes that reached the same set through
// different histories disagree on some flows unless the order is put back to a canonical one: the list sorted
// by compareDestinationKeys, largest at the head — what adding a set in ascending order from scratch gives, so
// every service created by earlier versions is already canonical, and a backend with a higher address than the
// others (the usual new one) costs no re-add.

/** Compare for the canonical kernel (dump) order: descending key order, head first. */
export function compareCanonicalMh(a: DestinationKey, b: DestinationKey): number {
  return compareDestinationKeys(b, a);
}

export interface MhReorder<T> {
  /**
   * What to put at the head, in the order to add it (each goes to the head, so the last one ends first):
   * `moved` entries are deleted and re-added, the others are new.
   */
  readonly toHead: ReadonlyArray<{ readonly key: DestinationKey; readonly item: T; readonly moved: boolean }>;
  /** How many existing destinations must be deleted and re-added. */
  readonly moves: number;
}

/**
 * The fewest delete+re-add operations that make a list canonical.
 *
 * Deleting and re-adding puts a destination at the head; what is never touched keeps its relative order at the
 * tail. So the untouched destinations must be a suffix of the canonical order that the current list already has
 * in that order (and that holds no new destination): the longest such suffix is kept, everything before it is
 * (re-)added tail-most first. Any smaller set of moves would leave some untouched destination out of place.
 * O(n log n) for the sort, O(n) after.
 *
 * `current` is the kernel list (head first) after this plan's deletions; `added` are destinations not in it.
 */
export function planMhReorder<T>(
  current: ReadonlyArray<{ readonly key: DestinationKey; readonly item: T }>,
  added: ReadonlyArray<{ readonly key: DestinationKey; readonly item: T }>,
): MhReorder<T> {
  const all: Array<{ key: DestinationKey; item: T; at: number }> = [];
  for (let i = 0; i < current.length; i++) all.push({ key: current[i].key, item: current[i].item, at: i });
  for (const a of added) all.push({ key: a.key, item: a.item, at: -1 });
  all.sort((x, y) => compareCanonicalMh(x.key, y.key));
  let k = all.length;
  let next = Number.POSITIVE_INFINITY;
  while (k > 0) {
    const at = all[k - 1].at;
    if (at < 0 || at >= next) break;
    next = at;
    k--;
  }
  const toHead: Array<{ key: DestinationKey; item: T; moved: boolean }> = [];
  let moves = 0;
  for (let i = k - 1; i >= 0; i--) {
    const moved = all[i].at >= 0;
    if (moved) moves++;
    toHead.push({ key: all[i].key, item: all[i].item, moved });
  }
  return { toHead, moves };
}

/** Whether a kernel list (head first) is in canonical order. */
export function isCanonicalMhOrder(list: readonly DestinationKey[]): boolean {
  for (let i = 1; i < list.length; i++) if (compareCanonicalMh(list[i - 1], list[i]) > 0) return false;
  return true;
}
