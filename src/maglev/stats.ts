// Balance and churn of tables of either flavour.

import { MaglevError } from './errors.ts';
import type { SlotTable } from './table.ts';

export interface DestinationShare {
  readonly key: string;
  readonly tableWeight: number;
  readonly slots: number;
  /** slots / (share of the table this destination's weight asks for); 1 = exactly its due. */
  readonly overExpected: number;
}

export interface TableStats {
  readonly size: number;
  /** One entry per destination, in the table's destination order. */
  readonly destinations: readonly DestinationShare[];
  readonly emptySlots: number;
  /** Largest slot count among destinations with a positive table weight. */
  readonly max: number;
  /** Filled slots divided by the number of destinations with a positive table weight. */
  readonly avg: number;
  /** max / avg: the balance figure for equal weights (1 = perfect). */
  readonly maxOverAvg: number;
  /** Largest overExpected: the balance figure that also holds for unequal weights. */
  readonly maxOverExpected: number;
}

export function tableStats(table: SlotTable): TableStats {
  const counts = slotCounts(table);
  const n = table.keys.length;
  let totalWeight = 0;
  let participants = 0;
  for (const w of table.tableWeights) {
    if (w > 0) {
      totalWeight += w;
      participants++;
    }
  }
  const filled = table.size - counts[n];
  const destinations: DestinationShare[] = [];
  let max = 0;
  let maxOverExpected = 0;
  for (let i = 0; i < n; i++) {
    const w = table.tableWeights[i];
    const expected = totalWeight > 0 ? (filled * w) / totalWeight : 0;
    const overExpected = expected > 0 ? counts[i] / expected : 0;
    destinations.push({ key: table.keys[i], tableWeight: w, slots: counts[i], overExpected });
    if (w > 0 && counts[i] > max) max = counts[i];
    if (overExpected > maxOverExpected) maxOverExpected = overExpected;
  }
  const avg = participants > 0 ? filled / participants : 0;
  return {
    size: table.size,
    destinations,
    emptySlots: counts[n],
    max,
    avg,
    maxOverAvg: avg > 0 ? max / avg : 0,
    maxOverExpected,
  };
}

export interface TableDiff {
  readonly size: number;
  /** Slots whose owner (matched by address:port; "empty" counts as an owner) differs. */
  readonly changedSlots: number;
  readonly changedFraction: number;
  /**
   * The fewest slots any algorithm must reassign to go from the first table's slot counts to the
   * second's: the sum over owners of the slots they lose.
   */
  readonly minimumSlots: number;
  readonly minimumFraction: number;
  /**
   * Slots that keep their owner but whose owner stops taking new connections (a kernel drain to
   * weight 0): their flows move too (with mh-fallback) or get no destination (without). 0 for tables
   * without availability (the maglev flavour).
   */
  readonly drainedSlots: number;
  readonly drainedFraction: number;
}

/** Compares two tables of the same size; destinations are matched by address:port. */
export function diffTables(before: SlotTable, after: SlotTable): TableDiff {
  if (before.size !== after.size) {
    throw new MaglevError('TABLE_SIZE_MISMATCH', `cannot compare tables of ${before.size} and ${after.size} slots: lookups map flows differently`);
  }
  // Translate the first table's destination indices into the second's (-2: gone from the second).
  const afterIndex = new Map<string, number>();
  for (let i = 0; i < after.keys.length; i++) afterIndex.set(after.keys[i], i);
  const translate = new Int32Array(before.keys.length);
  for (let i = 0; i < before.keys.length; i++) translate[i] = afterIndex.get(before.keys[i]) ?? -2;
  const size = before.size;
  const a = before.slots;
  const b = after.slots;
  const availableBefore = availability(before);
  const availableAfter = availability(after);
  let changed = 0;
  let drained = 0;
  for (let s = 0; s < size; s++) {
    const owner = a[s] < 0 ? -1 : translate[a[s]];
    if (owner !== b[s]) changed++;
    else if (owner >= 0 && availableBefore[a[s]] === 1 && availableAfter[owner] === 0) drained++;
  }
  // Lost slots per owner: owners present before (including "empty"), against their count after.
  const countsBefore = slotCounts(before);
  const countsAfter = slotCounts(after);
  let minimum = Math.max(0, countsBefore[before.keys.length] - countsAfter[after.keys.length]);
  for (let i = 0; i < before.keys.length; i++) {
    const j = translate[i];
    const left = j >= 0 ? countsAfter[j] : 0;
    minimum += Math.max(0, countsBefore[i] - left);
  }
  return {
    size,
    changedSlots: changed,
    changedFraction: changed / size,
    minimumSlots: minimum,
    minimumFraction: minimum / size,
    drainedSlots: drained,
    drainedFraction: drained / size,
  };
}

/** 1 per destination that takes new connections; tables without the notion count as all available. */
function availability(table: SlotTable): Uint8Array {
  const available = (table as { available?: unknown }).available;
  if (available instanceof Uint8Array && available.length === table.keys.length) return available;
  return new Uint8Array(table.keys.length).fill(1);
}

/** Slots per destination; the extra last entry counts empty slots. */
function slotCounts(table: SlotTable): Int32Array {
  const n = table.keys.length;
  const counts = new Int32Array(n + 1);
  const slots = table.slots;
  for (let s = 0; s < slots.length; s++) {
    const d = slots[s];
    counts[d < 0 ? n : d]++;
  }
  return counts;
}
