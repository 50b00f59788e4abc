// Public API of the Maglev core: pure functions and typed arrays, no I/O, no project imports.

export type { AddressFamily, ParsedAddress } from './address.ts';
export type { Agreement, AgreementOptions } from './agreement.ts';
export { tableAgreement } from './agreement.ts';
export { foldAddress, formatEndpoint, parseAddress } from './address.ts';
export type { MaglevErrorCode } from './errors.ts';
export { MaglevError } from './errors.ts';
export type { KernelDest, KernelLookupOptions, KernelTable } from './kernel.ts';
export { buildKernelTable, kernelLookup, kernelLookupFolded, MAX_KERNEL_WEIGHT, populateKernel } from './kernel.ts';
export { mhHashKey, mhLookupHash } from './mh-hash.ts';
export { murmur3Block6, murmur3Bytes, murmur3IPv4Flow, murmur3View, murmur3View13, murmur3Word } from './murmur3.ts';
export type { Flow, MaglevBackend, MaglevTable } from './paper.ts';
export {
  buildMaglevTable,
  DEFAULT_MAGLEV_TABLE_SIZE,
  encodeFlow,
  MAX_MAGLEV_BACKENDS,
  MAX_MAGLEV_TABLE_SIZE,
  MAX_MAGLEV_WEIGHT,
  maglevLookup,
  maglevLookupHash,
  maglevLookupIPv4,
  maglevLookupKey,
  maglevLookupView,
  populateMaglev,
} from './paper.ts';
export { DEFAULT_KERNEL_TABLE_SIZE, isPrime, KERNEL_TABLE_SIZES } from './primes.ts';
export { hsiphashWord, sipKey } from './siphash.ts';
export type { ClientSpec, DestSpec } from './spec.ts';
export { parseClientSpec, parseDestList, parseDestSpec, toKernelDests } from './spec.ts';
export type { DestinationShare, TableDiff, TableStats } from './stats.ts';
export { diffTables, tableStats } from './stats.ts';
export type { SlotTable } from './table.ts';
