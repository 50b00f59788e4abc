// What the bench needs from src/maglev, in one place.

export type { KernelTable, MaglevTable, SlotTable } from '../../src/maglev/index.ts';
export { buildKernelTable, buildMaglevTable, diffTables, kernelLookupFolded, MAX_MAGLEV_WEIGHT, maglevLookupIPv4, maglevLookupKey, populateKernel, populateMaglev, tableStats } from '../../src/maglev/index.ts';

export function formatIPv4ForBench(word: number): string {
  return `${word >>> 24}.${(word >>> 16) & 0xff}.${(word >>> 8) & 0xff}.${word & 0xff}`;
}
