// A bit-exact replica of Linux's `mh` IPVS scheduler (net/netfilter/ipvs/ip_vs_mh.c): the same
// hashes, the same list order, the same weight scaling and the same populate and lookup loops,
// so we can say which real server the kernel will pick for a client before it does.

import { type AddressFamily, foldAddress, parseAddress, parseIPv4Word } from './address.ts';
import { type ValidEndpoint, checkDistinct, validateEndpoint, validateWeight } from './endpoint.ts';
import { MaglevError } from './errors.ts';
import { DEFAULT_KERNEL_TABLE_SIZE, KERNEL_TABLE_SIZES, kernelTableBits } from './primes.ts';
import { canonicalIPv4Order } from './ipv4-order.ts';
import { mhHashKey, mhLookupHash } from './mh-hash.ts';
import { mod32, mod32By, mod32Fast } from './mod.ts';
import { clearOccupied, fillRoundRobin, startWalk, takeNextFree, walkOwner } from './probe.ts';
import type { SlotTable } from './table.ts';

export interface KernelDest {
  readonly address: string;
  readonly port: number;
  /** Current weight: 0 means the destination takes no new connections. */
  readonly weight: number;
  /**
   * The weight the table was built with. The kernel keeps the previous weight when a destination is
   * set to 0 (a drain keeps its slots); default = weight (a destination added with 0 gets no slots).
   */
  readonly lastWeight?: number;
}

export interface KernelLookupOptions {
  /** mh-port (IP_VS_SVC_F_SCHED2): hash the client's source port too. */
  readonly portHash: boolean;
  /** mh-fallback (IP_VS_SVC_F_SCHED1): look further when the slot's destination is unavailable. */
  readonly fallback: boolean;
}

export interface KernelTable extends SlotTable {
  readonly flavor: 'kernel';
  /** The destinations as given (order of addition); slots index into this array. */
  readonly dests: readonly KernelDest[];
  /** Address family of the destinations; null for an empty service. */
  readonly family: AddressFamily | null;
  /** 1 where a destination can take new connections (current weight > 0). */
  readonly available: Uint8Array;
  /** Per destination (input order): the kernel's offset, skip and turns. */
  readonly offsets: Int32Array;
  readonly skips: Int32Array;
  readonly turns: Int32Array;
  readonly gcd: number;
  readonly rshift: number;
}

/** The kernel's weights are ints. */
export const MAX_KERNEL_WEIGHT = 0x7fffffff;

/**
 * Builds the table the kernel builds for a service whose destinations were added in this order
 * (as with successive `ipvsadm -a`). `size` must be one of the kernel's primes.
 */
export function buildKernelTable(destsInAdditionOrder: readonly KernelDest[], size: number = DEFAULT_KERNEL_TABLE_SIZE): KernelTable {
  checkKernelTableSize(size);
  if (!Array.isArray(destsInAdditionOrder)) throw new MaglevError('EMPTY_BACKENDS', 'destinations must be an array');
  return buildFromParsed(destsInAdditionOrder, size, parseIPv4Dests(destsInAdditionOrder) ?? parseAnyDests(destsInAdditionOrder));
}

/**
 * buildKernelTable through the general validation path only (no IPv4 fast path), for the tests
 * that check the two paths agree. Expects the size checked.
 */
export function buildKernelTableGeneric(destsInAdditionOrder: readonly KernelDest[], size: number): KernelTable {
  return buildFromParsed(destsInAdditionOrder, size, parseAnyDests(destsInAdditionOrder));
}

function buildFromParsed(destsInAdditionOrder: readonly KernelDest[], size: number, parsed: ParsedDests): KernelTable {
  const { folded, ports, weights, lastWeights } = parsed;
  const n = destsInAdditionOrder.length;

  const offsets = new Int32Array(n);
  const skips = new Int32Array(n);
  const turns = new Int32Array(n);
  const available = new Uint8Array(n);
  const slots = new Int32Array(size);

  let gcd = 0;
  let maxWeight = 0;
  for (const lw of lastWeights) {
    if (lw > 0) gcd = gcd > 0 ? greatestCommonDivisor(lw, gcd) : lw;
    if (lw > maxWeight) maxWeight = lw;
  }
  let rshift = 0;
  if (gcd >= 1) {
    const bits = 32 - Math.clz32(Math.floor(maxWeight / gcd));
    rshift = Math.max(0, bits - kernelTableBits(size));
  }
  for (let i = 0; i < n; i++) {
    const word = (folded[i] + ports[i]) | 0;
    offsets[i] = mod32Fast(mhLookupHash(word), size);
    skips[i] = mod32(mhHashKey(folded[i], ports[i], true, 0), size - 1) + 1;
    const lw = lastWeights[i];
    const scaled = gcd >= 1 ? Math.floor(lw / gcd) >> rshift : 0;
    turns[i] = scaled !== 0 ? scaled : lw !== 0 ? 1 : 0;
    available[i] = weights[i] > 0 ? 1 : 0;
  }
  // populateKernel writes every slot; without a positive weight the table is all empty (-1).
  if (gcd >= 1) populateKernel(slots, offsets, skips, turns);
  else slots.fill(-1);

  return {
    flavor: 'kernel',
    size,
    inverseSize: 1 / size,
    slots,
    keys: parsed.keys(),
    tableWeights: lastWeights,
    dests: destsInAdditionOrder.slice(),
    family: n > 0 ? parsed.family : null,
    available,
    offsets,
    skips,
    turns,
    gcd,
    rshift,
  };
}

/** Destinations reduced to what the kernel hashes and weighs, in input order. */
interface ParsedDests {
  /** foldAddress() of each destination. */
  readonly folded: Uint32Array;
  readonly ports: Int32Array;
  readonly weights: Int32Array;
  readonly lastWeights: number[];
  readonly family: AddressFamily;
  /** Canonical "address:port" of each destination. */
  keys(): readonly string[];
}

/**
 * The all-IPv4, all-valid, all-distinct case without per-destination objects (duplicates found by
 * a radix sort, ipv4-order.ts); null on anything else, which parseAnyDests then reports precisely.
 */
function parseIPv4Dests(dests: readonly KernelDest[]): ParsedDests | null {
  const n = dests.length;
  const folded = new Uint32Array(n);
  const ports = new Int32Array(n);
  const weights = new Int32Array(n);
  const lastWeights: number[] = [];
  for (let i = 0; i < n; i++) {
    const d = dests[i];
    if (typeof d !== 'object' || d === null || typeof d.address !== 'string') return null;
    const address = parseIPv4Word(d.address);
    const { port, weight } = d;
    if (address < 0 || !Number.isInteger(port) || port < 0 || port > 65535) return null;
    if (!Number.isInteger(weight) || weight < 0 || weight > MAX_KERNEL_WEIGHT) return null;
    const lastWeight = d.lastWeight === undefined ? weight : d.lastWeight;
    if (lastWeight !== weight && (weight > 0 || !Number.isInteger(lastWeight) || lastWeight < 0 || lastWeight > MAX_KERNEL_WEIGHT)) return null;
    folded[i] = address;
    ports[i] = port;
    weights[i] = weight;
    lastWeights.push(lastWeight);
  }
  if (canonicalIPv4Order(folded, ports) === null) return null;
  // Accepted IPv4 text is canonical (parseIPv4Word), so this is formatEndpoint's key.
  return { folded, ports, weights, lastWeights, family: 'inet', keys: () => dests.map((d) => `${d.address}:${d.port}`) };
}

/** Any destinations, validated one by one with precise errors (the first bad one is reported). */
function parseAnyDests(dests: readonly KernelDest[]): ParsedDests {
  const n = dests.length;
  const endpoints: ValidEndpoint[] = [];
  const folded = new Uint32Array(n);
  const ports = new Int32Array(n);
  const weights = new Int32Array(n);
  const lastWeights: number[] = [];
  for (let i = 0; i < n; i++) {
    const d = dests[i];
    const what = `destination ${i + 1}`;
    const e = validateEndpoint(d?.address, d?.port, what);
    const w = validateWeight(d.weight, MAX_KERNEL_WEIGHT, `${what} (${e.key})`);
    const lw = d.lastWeight === undefined ? w : validateWeight(d.lastWeight, MAX_KERNEL_WEIGHT, `${what} (${e.key}) last weight`);
    // The kernel updates last_weight on every non-zero weight, so they can only differ at weight 0.
    if (w > 0 && lw !== w) {
      throw new MaglevError('BAD_WEIGHT', `${what} (${e.key}): last weight ${lw} differs from weight ${w}; it can only differ when weight is 0 (a drain)`);
    }
    endpoints.push(e);
    folded[i] = foldAddress(e.address.words);
    ports[i] = e.port;
    weights[i] = w;
    lastWeights.push(lw);
  }
  checkDistinct(endpoints);
  return { folded, ports, weights, lastWeights, family: n > 0 ? endpoints[0].address.family : 'inet', keys: () => endpoints.map((e) => e.key) };
}

function checkKernelTableSize(size: number): void {
  if (!KERNEL_TABLE_SIZES.includes(size)) {
    throw new MaglevError('BAD_TABLE_SIZE', `kernel table size must be one of ${KERNEL_TABLE_SIZES.join(', ')}; got ${String(size)}`);
  }
}

/**
 * ip_vs_mh_populate(): destinations take turns in the kernel's list order, which is the reverse of
 * the order of addition (new destinations are inserted at the head of the list); on its turn a
 * destination claims `turns` free slots in a row from its permutation. Writes every slot; `turns`
 * must include a positive one. (Exported for the bench, which times this loop alone.)
 */
export function populateKernel(slots: Int32Array, offsets: Int32Array, skips: Int32Array, turns: Int32Array): void {
  const size = slots.length;
  const n = offsets.length;
  // probe.ts's map and walks are sized for these (a larger table would probe past them).
  checkKernelTableSize(size);
  // The probes read a one-byte-per-slot occupied map, not the 4-byte table (see populateMaglev).
  clearOccupied(size);
  // A walk per destination that takes turns, in the kernel's list order (reverse of addition).
  // Each takes at least one slot in the first round, so no more than `size` of them ever take one:
  // the rest need no walk (and the walks stay within probe.ts's capacity, which exceeds every
  // kernel table size).
  let count = 0;
  let single = true;
  for (let i = n - 1; i >= 0 && count < size; i--) {
    if (turns[i] < 1) continue;
    startWalk(count, offsets[i], skips[i], size, i);
    if (turns[i] !== 1) single = false;
    count++;
  }
  if (single) {
    // Equal weights (after gcd): one slot per turn, the loop the paper describes.
    fillRoundRobin(slots, count);
    return;
  }
  let left = size;
  for (;;) {
    for (let w = 0; w < count; w++) {
      const owner = walkOwner(w);
      for (let k = turns[owner]; k > 0; k--) {
        slots[takeNextFree(w, size)] = owner;
        if (--left === 0) return;
      }
    }
  }
}

/**
 * The destination (input index) the kernel picks for a new connection from `clientAddress`
 * (and `clientPort` with mh-port), or -1 when it drops it. Parses the address; for hot loops use
 * kernelLookupFolded.
 */
export function kernelLookup(table: KernelTable, clientAddress: string, clientPort: number, opts: KernelLookupOptions): number {
  const client = parseAddress(clientAddress);
  if (table.family !== null && client.family !== table.family) {
    throw new MaglevError('BAD_ADDRESS', `client ${client.text} is not of the service's address family (${table.family})`);
  }
  if (opts.portHash && (!Number.isInteger(clientPort) || clientPort < 0 || clientPort > 65535)) {
    throw new MaglevError('BAD_PORT', `client port must be an integer 0..65535, got ${String(clientPort)}`);
  }
  return kernelLookupFolded(table, foldAddress(client.words), clientPort, opts.portHash, opts.fallback);
}

/**
 * Allocation-free lookup. `foldedAddress` is foldAddress(words) (the IPv4 address as a u32, or the
 * XOR of the four IPv6 words); `clientPort` is ignored unless `portHash`.
 */
export function kernelLookupFolded(table: KernelTable, foldedAddress: number, clientPort: number, portHash: boolean, fallback: boolean): number {
  const size = table.size;
  const inverse = table.inverseSize;
  const slots = table.slots;
  const available = table.available;
  const port = portHash ? clientPort : 0;
  const first = mod32By(mhLookupHash((foldedAddress + port) | 0), size, inverse);
  const dest = slots[first];
  if (dest < 0) return -1;
  if (available[dest] === 1) return dest;
  if (!fallback) return -1;
  // ip_vs_mh_get_fallback(): rehash with growing offsets until an available destination (or an
  // empty slot, which ends the search) turns up.
  for (let o = 0; o < size; o++) {
    const rotated = (o + first) % size;
    const d = slots[mod32By(mhLookupHash((rotated + port + foldedAddress) | 0), size, inverse)];
    if (d < 0) return -1;
    if (available[d] === 1) return d;
  }
  return -1;
}

function greatestCommonDivisor(a: number, b: number): number {
  let x = a;
  let y = b;
  while (y !== 0) {
    const t = x % y;
    x = y;
    y = t;
  }
  return x;
}
