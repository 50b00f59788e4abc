// Maglev as published (Eisenbud et al., NSDI 2016, section 3.4), with weights.
//
// - Backends are named by address:port and sorted canonically (IPv4 before IPv6, then address
//   bytes, then port) before populating, so every node builds the same table whatever order its
//   configuration lists them in.
// - offset = murmur3(name, OFFSET_SEED) mod M, skip = murmur3(name, SKIP_SEED) mod (M-1) + 1, where
//   name is the address bytes (4 or 16, network order) followed by the port (2 bytes, big-endian).
// - Weights follow Katran's "MaglevV2": each round every backend adds its weight to a counter and,
//   whenever the counter reaches the largest weight, takes its next free preferred slot and
//   subtracts that weight. With equal weights this is exactly the paper's round robin; a backend of
//   weight 0 takes no slot (maintenance).
// - The permutation is walked on the fly (perm += skip mod M): no N x M matrix.
// - Lookup: table[murmur3(5-tuple, FLOW_SEED) mod M], the tuple being source address, destination
//   address, source port, destination port (big-endian) and protocol: 13 bytes for IPv4, 37 for IPv6.

import { type AddressFamily, parseAddress, parseIPv4Word, writeAddressBytes } from './address.ts';
import { type ValidEndpoint, validateEndpoint, validateWeight } from './endpoint.ts';
import { MaglevError } from './errors.ts';
import { mod32, mod32By } from './mod.ts';
import { canonicalIPv4Order } from './ipv4-order.ts';
import { murmur3Block6, murmur3Bytes, murmur3IPv4Flow, murmur3View, murmur3View13 } from './murmur3.ts';
import { isPrime } from './primes.ts';
import { clearOccupied, fillRoundRobin, MAX_TABLE_SIZE, MAX_WALKS, startWalk, takeNextFree } from './probe.ts';
import type { SlotTable } from './table.ts';

export interface MaglevBackend {
  readonly address: string;
  readonly port: number;
  /** Relative weight, integer 0..MAX_MAGLEV_WEIGHT; default 1. */
  readonly weight?: number;
}

export interface MaglevTable extends SlotTable {
  readonly flavor: 'maglev';
  /** The backends in canonical order; slots index into this array (and into keys). */
  readonly backends: readonly MaglevBackend[];
  readonly family: AddressFamily;
  readonly offsets: Int32Array;
  readonly skips: Int32Array;
}

export const DEFAULT_MAGLEV_TABLE_SIZE = 65537;
/** Bounded so a typo cannot ask for gigabytes (Int32Array of 2^24 slots = 64 MB); probe.ts's capacity. */
export const MAX_MAGLEV_TABLE_SIZE = MAX_TABLE_SIZE;
/** 262,144: the populate's walk capacity (probe.ts). Maglev wants M >> N, and M <= 2^24. */
export const MAX_MAGLEV_BACKENDS = MAX_WALKS;
/** Bounded so the weighted populate's round numbers (at most table size x weight) stay exact in a double. */
export const MAX_MAGLEV_WEIGHT = 65535;

export const OFFSET_SEED = 0;
export const SKIP_SEED = 0x9e3779b9 | 0;
export const FLOW_SEED = 0x5bd1e995 | 0;

export function buildMaglevTable(backends: readonly MaglevBackend[], size: number = DEFAULT_MAGLEV_TABLE_SIZE): MaglevTable {
  if (!Array.isArray(backends) || backends.length === 0) {
    throw new MaglevError('EMPTY_BACKENDS', 'a maglev table needs at least one backend');
  }
  if (!Number.isInteger(size) || size > MAX_MAGLEV_TABLE_SIZE || !isPrime(size)) {
    throw new MaglevError('BAD_TABLE_SIZE', `maglev table size must be a prime <= ${MAX_MAGLEV_TABLE_SIZE}; got ${String(size)}`);
  }
  checkBackendCount(backends.length);
  if (size < backends.length) {
    throw new MaglevError('BAD_TABLE_SIZE', `table size ${size} is smaller than the number of backends (${backends.length})`);
  }
  return buildIPv4Table(backends, size) ?? buildMaglevTableGeneric(backends, size);
}

/** Checked before the backends are read, and again by populateMaglev for its direct callers. */
function checkBackendCount(n: number): void {
  if (n > MAX_MAGLEV_BACKENDS) throw new MaglevError('TOO_MANY_BACKENDS', `a maglev table takes at most ${MAX_MAGLEV_BACKENDS} backends; got ${n}`);
}

/**
 * The common case, all backends IPv4 and valid, without per-backend objects: addresses and ports
 * go into typed arrays, a radix sort gives the canonical order (ipv4-order.ts) and each name is
 * hashed from two numbers. Returns null on anything else (IPv6, a bad field, a duplicate, no
 * positive weight); buildMaglevTableGeneric, the general path, then builds the table or throws its precise
 * error.
 */
function buildIPv4Table(backends: readonly MaglevBackend[], size: number): MaglevTable | null {
  const n = backends.length;
  const addresses = new Uint32Array(n);
  const ports = new Int32Array(n);
  let positive = false;
  for (let i = 0; i < n; i++) {
    const b = backends[i];
    if (typeof b !== 'object' || b === null || typeof b.address !== 'string') return null;
    const address = parseIPv4Word(b.address);
    const port = b.port;
    if (address < 0 || !Number.isInteger(port) || port < 0 || port > 65535) return null;
    const weight = b.weight === undefined ? 1 : b.weight;
    if (!Number.isInteger(weight) || weight < 0 || weight > MAX_MAGLEV_WEIGHT) return null;
    if (weight > 0) positive = true;
    addresses[i] = address;
    ports[i] = port;
  }
  if (!positive) return null;
  const order = canonicalIPv4Order(addresses, ports);
  if (order === null) return null;
  const offsets = new Int32Array(n);
  const skips = new Int32Array(n);
  const weights = new Int32Array(n);
  const tableWeights: number[] = [];
  const sortedBackends: MaglevBackend[] = [];
  for (let r = 0; r < n; r++) {
    const i = order[r];
    const b = backends[i];
    // The name's bytes are the address (big-endian) then the port (big-endian); murmur3 reads
    // them as a little-endian block and a little-endian 2-byte tail.
    const a = addresses[i];
    const block = (a >>> 24) | ((a >>> 8) & 0xff00) | ((a << 8) & 0xff0000) | (a << 24);
    const tail = (ports[i] >>> 8) | ((ports[i] & 0xff) << 8);
    offsets[r] = mod32(murmur3Block6(block, tail, OFFSET_SEED), size);
    skips[r] = mod32(murmur3Block6(block, tail, SKIP_SEED), size - 1) + 1;
    const weight = b.weight === undefined ? 1 : b.weight;
    weights[r] = weight;
    tableWeights.push(weight);
    sortedBackends.push(b);
  }
  const slots = new Int32Array(size);
  populateMaglev(slots, offsets, skips, weights);
  // Accepted IPv4 text is canonical (parseIPv4Word), so this is formatEndpoint's key. (Not a lazy
  // getter: a getter in an object literal gives every table its own hidden class, which turns the
  // lookups' `table.slots` into megamorphic loads.)
  const keys = sortedBackends.map((x) => `${x.address}:${x.port}`);
  // Same properties in the same order as buildMaglevTableGeneric: one hidden class for both.
  return { flavor: 'maglev', size, inverseSize: 1 / size, slots, keys, tableWeights, backends: sortedBackends, family: 'inet', offsets, skips };
}

/**
 * Any backends (IPv4 or IPv6), validated one by one with precise errors; buildMaglevTable's general
 * path, exported so the tests can check the IPv4 fast path against it. Expects the size checked.
 */
export function buildMaglevTableGeneric(backends: readonly MaglevBackend[], size: number): MaglevTable {
  const entries: { e: ValidEndpoint; weight: number; backend: MaglevBackend }[] = [];
  for (let i = 0; i < backends.length; i++) {
    const b = backends[i];
    const e = validateEndpoint(b?.address, b?.port, `backend ${i + 1}`);
    const weight = b.weight === undefined ? 1 : validateWeight(b.weight, MAX_MAGLEV_WEIGHT, `backend ${i + 1} (${e.key})`);
    entries.push({ e, weight, backend: b });
  }
  if (!entries.some((x) => x.weight > 0)) {
    throw new MaglevError('NO_POSITIVE_WEIGHT', 'every backend has weight 0: nothing can take traffic');
  }
  entries.sort((a, b) => compareEndpoints(a.e, b.e));
  // Sorted, duplicates are neighbours and the families sit at the two ends.
  for (let i = 1; i < entries.length; i++) {
    if (compareEndpoints(entries[i - 1].e, entries[i].e) === 0) {
      throw new MaglevError('DUPLICATE_BACKEND', `destination ${entries[i].e.key} is listed twice`);
    }
  }
  const first = entries[0].e;
  const last = entries[entries.length - 1].e;
  if (first.address.family !== last.address.family) {
    throw new MaglevError('MIXED_FAMILY', `${first.key} and ${last.key} are of different address families`);
  }

  const n = entries.length;
  const offsets = new Int32Array(n);
  const skips = new Int32Array(n);
  const weights = new Int32Array(n);
  const name = new Uint8Array(18);
  for (let i = 0; i < n; i++) {
    const len = writeBackendName(entries[i].e, name);
    offsets[i] = mod32(murmur3Bytes(name, 0, len, OFFSET_SEED), size);
    skips[i] = mod32(murmur3Bytes(name, 0, len, SKIP_SEED), size - 1) + 1;
    weights[i] = entries[i].weight;
  }
  const slots = new Int32Array(size);
  populateMaglev(slots, offsets, skips, weights);
  return {
    flavor: 'maglev',
    size,
    inverseSize: 1 / size,
    slots,
    keys: entries.map((x) => x.e.key),
    tableWeights: entries.map((x) => x.weight),
    backends: entries.map((x) => x.backend),
    family: entries[0].e.address.family,
    offsets,
    skips,
  };
}

/**
 * The populate loop on given permutations (exported for the paper's test vector, which fixes
 * offsets and skips directly). Writes every slot of `slots` (whatever it held before); weights must
 * include a positive one.
 */
export function populateMaglev(slots: Int32Array, offsets: Int32Array, skips: Int32Array, weights: Int32Array): void {
  const size = slots.length;
  const n = offsets.length;
  if (size > MAX_MAGLEV_TABLE_SIZE) throw new MaglevError('BAD_TABLE_SIZE', `maglev table size must be <= ${MAX_MAGLEV_TABLE_SIZE}; got ${size}`);
  checkBackendCount(n);
  // The probes read a one-byte-per-slot occupied map, not the 4-byte table: 64 KB at M=65537
  // where the table is 256 KB, so the ~12 probes a slot mostly hit L1/L2; the table is only
  // written, once a slot. (Measured: 0.86x the populate time at 65537x1000, 0.63x at 655373.)
  clearOccupied(size);
  let maxWeight = 0;
  let equal = true;
  for (let i = 0; i < n; i++) {
    startWalk(i, offsets[i], skips[i], size, i);
    if (weights[i] > maxWeight) maxWeight = weights[i];
    if (weights[i] !== weights[0]) equal = false;
  }
  if (equal) {
    // The common case without counters: the paper's plain round robin.
    fillRoundRobin(slots, n);
    return;
  }
  populateWeighted(slots, weights, maxWeight);
}

// The weighted populate, on the walks populateMaglev started. (Its own function: inlined into
// populateMaglev beside the round robin, it slowed the equal-weights loop.) The paper's loop adds
// each weight to a counter every round and lets a backend take a slot when its counter reaches the
// largest weight W. Run literally that is O(N x M x W / sum W)
// (one backend at 65535 among 200 at 1 spends ~65535 rounds per light backend's slot). The k-th slot
// of backend i is taken in round ceil(k*W/w_i), and within a round backends go in index order, so
// the same sequence of takes comes from a heap ordered by (round, index): O(M log N), same table.
function populateWeighted(slots: Int32Array, weights: Int32Array, maxWeight: number): void {
  const size = slots.length;
  const n = weights.length;
  let filled = 0;
  const nextRound = new Float64Array(n);
  const taken = new Float64Array(n);
  const heap = new Int32Array(n);
  let heapSize = 0;
  const before = (a: number, b: number): boolean => nextRound[a] < nextRound[b] || (nextRound[a] === nextRound[b] && a < b);
  for (let i = 0; i < n; i++) {
    if (weights[i] <= 0) continue;
    nextRound[i] = ceilDiv(maxWeight, weights[i]);
    let at = heapSize++;
    while (at > 0) {
      const parent = (at - 1) >> 1;
      if (!before(i, heap[parent])) break;
      heap[at] = heap[parent];
      at = parent;
    }
    heap[at] = i;
  }
  for (;;) {
    const i = heap[0];
    slots[takeNextFree(i, size)] = i;
    if (++filled === size) return;
    taken[i]++;
    nextRound[i] = ceilDiv((taken[i] + 1) * maxWeight, weights[i]);
    // Sift the root down: it is the only key that changed, and it only grew.
    let at = 0;
    for (;;) {
      const left = 2 * at + 1;
      if (left >= heapSize) break;
      const right = left + 1;
      const child = right < heapSize && before(heap[right], heap[left]) ? right : left;
      if (!before(heap[child], i)) break;
      heap[at] = heap[child];
      at = child;
    }
    heap[at] = i;
  }
}

// ceil(a / b) for integers below 2^53: the float quotient can be off by one ulp at ~1e12, so the
// result is corrected with exact integer products.
function ceilDiv(a: number, b: number): number {
  let q = Math.ceil(a / b);
  if (q * b < a) q++;
  else if ((q - 1) * b >= a) q--;
  return q;
}

/** The backend (index into table.backends) for a 32-bit flow hash. */
export function maglevLookupHash(table: MaglevTable, hash: number): number {
  return table.slots[mod32(hash, table.size)];
}

// The hot lookup reads the key through a DataView (one unaligned load per 4-byte block, see
// murmur3.ts). The view is cached per key array, compared by identity: cheaper than reading
// `key.buffer` (a getter V8 does not inline) on every call. The cache is a const object, not two
// module-level `let`s: V8 checks every read of a `let` binding against the hole (TDZ), and those
// checks cost 11-13% of the lookup rate (bench round 6).
const keyViewCache: { of: Uint8Array | undefined; view: DataView<ArrayBufferLike> } = { of: undefined, view: new DataView(new ArrayBuffer(0)) };

/**
 * Allocation-free lookup on an encoded flow key (see encodeFlow) at key[offset .. offset+length).
 * A key outside the array is a RangeError: for the 13-byte IPv4 key the view's own bounds checks
 * raise it (an explicit range check cost 8% of the lookup rate), for other lengths an explicit one.
 */
export function maglevLookupKey(table: MaglevTable, key: Uint8Array, offset: number, length: number): number {
  const cache = keyViewCache;
  if (key !== cache.of) {
    cache.of = key;
    cache.view = new DataView(key.buffer, key.byteOffset, key.byteLength);
  }
  if (length === 13) return table.slots[mod32By(murmur3View13(cache.view, offset, FLOW_SEED), table.size, table.inverseSize)];
  if (offset < 0 || length < 0 || offset + length > key.length) {
    throw new RangeError(`maglevLookupKey: bytes ${offset}..${offset + length} outside a key array of ${key.length}`);
  }
  return table.slots[mod32By(murmur3View(cache.view, offset, length, FLOW_SEED), table.size, table.inverseSize)];
}

/**
 * maglevLookup of an IPv4 flow already parsed into numbers (header fields a caller holds as
 * numbers, e.g. decoded netlink attributes): the same backend, with no key bytes written or read.
 * Allocation-free, but not faster than maglevLookupKey on bytes already in network order: murmur3
 * reads little-endian blocks, so the three words are byte-swapped here, where the key bytes are
 * read as they lie (bench: 0.8-0.9x maglevLookupKey's rate). `srcAddress` and `dstAddress` as parseIPv4Word gives
 * them (a.b.c.d as a << 24 | b << 16 | c << 8 | d, signed or unsigned); only the low 16 bits of the
 * ports and the low 8 of the protocol are hashed, unchecked: this is the per-packet path, the
 * checking one is maglevLookup.
 */
export function maglevLookupIPv4(table: MaglevTable, srcAddress: number, dstAddress: number, srcPort: number, dstPort: number, protocol: number): number {
  const hash = murmur3IPv4Flow(srcAddress, dstAddress, (srcPort << 16) | (dstPort & 0xffff), protocol, FLOW_SEED);
  return table.slots[mod32By(hash, table.size, table.inverseSize)];
}

/** As maglevLookupKey, on a DataView (byte offsets into the view). */
export function maglevLookupView(table: MaglevTable, view: DataView, offset: number, length: number): number {
  const hash = length === 13 ? murmur3View13(view, offset, FLOW_SEED) : murmur3View(view, offset, length, FLOW_SEED);
  return table.slots[mod32By(hash, table.size, table.inverseSize)];
}

export interface Flow {
  readonly srcAddress: string;
  readonly dstAddress: string;
  readonly srcPort: number;
  readonly dstPort: number;
  /** IP protocol number (6 = TCP, 17 = UDP, 132 = SCTP). */
  readonly protocol: number;
}

/** Encodes a 5-tuple as the flow key hashed by lookups; returns its length (13 or 37 bytes). */
export function encodeFlow(flow: Flow, out: Uint8Array, offset: number): number {
  const src = parseAddress(flow.srcAddress);
  const dst = parseAddress(flow.dstAddress);
  if (src.family !== dst.family) throw new MaglevError('BAD_FLOW', `flow mixes ${src.text} and ${dst.text}`);
  for (const [name, p] of [['source port', flow.srcPort], ['destination port', flow.dstPort]] as const) {
    if (!Number.isInteger(p) || p < 0 || p > 65535) throw new MaglevError('BAD_PORT', `flow ${name} must be 0..65535, got ${String(p)}`);
  }
  if (!Number.isInteger(flow.protocol) || flow.protocol < 0 || flow.protocol > 255) {
    throw new MaglevError('BAD_FLOW', `flow protocol must be an IP protocol number 0..255, got ${String(flow.protocol)}`);
  }
  let p = offset;
  p += writeAddressBytes(src.words, out, p);
  p += writeAddressBytes(dst.words, out, p);
  out[p++] = flow.srcPort >>> 8;
  out[p++] = flow.srcPort & 0xff;
  out[p++] = flow.dstPort >>> 8;
  out[p++] = flow.dstPort & 0xff;
  out[p++] = flow.protocol;
  return p - offset;
}

const flowScratch = new Uint8Array(37);

/** The backend (index into table.backends) for a 5-tuple. */
export function maglevLookup(table: MaglevTable, flow: Flow): number {
  const len = encodeFlow(flow, flowScratch, 0);
  return maglevLookupKey(table, flowScratch, 0, len);
}

function writeBackendName(e: ValidEndpoint, out: Uint8Array): number {
  const len = writeAddressBytes(e.address.words, out, 0);
  out[len] = e.port >>> 8;
  out[len + 1] = e.port & 0xff;
  return len + 2;
}

function compareEndpoints(a: ValidEndpoint, b: ValidEndpoint): number {
  const wa = a.address.words;
  const wb = b.address.words;
  if (wa.length !== wb.length) return wa.length - wb.length;
  for (let i = 0; i < wa.length; i++) {
    if (wa[i] !== wb[i]) return wa[i] - wb[i];
  }
  return a.port - b.port;
}
