// What every table shares, whatever the flavour: a typed array of slots holding destination
// indices, and the identity (address:port) of each destination so tables can be compared.

export interface SlotTable {
  readonly size: number;
  /** 1 / size, for the lookups' hash mod size without a division (mod.ts mod32By). */
  readonly inverseSize: number;
  /** Owner of each slot: an index into the table's destinations, or -1 for an empty slot. */
  readonly slots: Int32Array;
  /** Canonical "address:port" of each destination (IPv6 in brackets), indexed like the slots' values. */
  readonly keys: readonly string[];
  /** The weight each destination was given slots for (the kernel's "last weight" for a drained one). */
  readonly tableWeights: readonly number[];
}
