// MurmurHash3 x86_32 (Austin Appleby, public domain) with Math.imul so every step stays in int32.
// Reads bytes straight from a typed array so hashing a flow key allocates nothing.

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;
// The block step's addend as an int32: written as 0xe6546b64 (above 2^31) the add was a float64
// add and a truncation in V8; as an int32 it is one lea (measured 3-5% more 13-byte hashes/s).
const N1 = 0xe6546b64 | 0;

// Reading 4-byte blocks through a DataView compiles to one unaligned load each, where four byte
// loads and shifts cost ~3.5x more per hash (8 ns against 29 ns for a 13-byte flow key here). One
// view per underlying buffer is cached, so steady-state hashing allocates nothing.
let cachedBuffer: ArrayBufferLike | undefined;
let cachedView: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));

/** MurmurHash3 x86_32 of `length` bytes of `data` starting at `start`; unsigned result. */
export function murmur3Bytes(data: Uint8Array, start: number, length: number, seed: number): number {
  if (start < 0 || length < 0 || start + length > data.length) {
    throw new RangeError(`murmur3Bytes: bytes ${start}..${start + length} outside an array of ${data.length}`);
  }
  if (data.buffer !== cachedBuffer) {
    cachedBuffer = data.buffer;
    cachedView = new DataView(data.buffer);
  }
  return murmur3View(cachedView, data.byteOffset + start, length, seed);
}

/** MurmurHash3 x86_32 of `length` bytes of a DataView from byte `start`; unsigned result. */
export function murmur3View(view: DataView, start: number, length: number, seed: number): number {
  let h = seed | 0;
  const blockEnd = start + (length & ~3);
  let p = start;
  for (; p < blockEnd; p += 4) {
    let k = view.getInt32(p, true);
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + N1) | 0;
  }
  const tail = length & 3;
  if (tail !== 0) {
    let k = 0;
    if (tail === 3) k ^= view.getUint8(p + 2) << 16;
    if (tail >= 2) k ^= view.getUint8(p + 1) << 8;
    k ^= view.getUint8(p);
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
  }
  return fmix32(h ^ length);
}

/**
 * murmur3View(view, start, 13, seed) as a signed int32: the IPv4 flow key of every lookup. The
 * length is fixed, so there is no tail switch; the three blocks stay a loop because written out
 * the function exceeds V8's inlining limit (460 bytes of bytecode), and being inlined into the
 * lookup is worth more (~15-30% more lookups/s here) than the unrolling. Signed so that V8 returns
 * it as a small integer rather than boxing a uint32 above 2^31 when it is not inlined.
 */
export function murmur3View13(view: DataView, start: number, seed: number): number {
  let h = seed | 0;
  const end = start + 12;
  for (let p = start; p < end; p += 4) {
    let k = Math.imul(view.getInt32(p, true), C1);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, C2);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + N1) | 0;
  }
  let k = Math.imul(view.getUint8(end), C1);
  k = (k << 15) | (k >>> 17);
  h ^= Math.imul(k, C2);
  h ^= 13;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/**
 * MurmurHash3 x86_32 of 6 bytes b0..b5 given as two numbers, `block` = b0 | b1 << 8 | b2 << 16 |
 * b3 << 24 and `tail` = b4 | b5 << 8, as a signed int32: an IPv4 backend's name (address and port)
 * hashed without a byte buffer.
 */
export function murmur3Block6(block: number, tail: number, seed: number): number {
  let k = Math.imul(block | 0, C1);
  k = (k << 15) | (k >>> 17);
  let h = (seed | 0) ^ Math.imul(k, C2);
  h = (h << 13) | (h >>> 19);
  h = (Math.imul(h, 5) + N1) | 0;
  k = Math.imul(tail & 0xffff, C1);
  k = (k << 15) | (k >>> 17);
  h ^= Math.imul(k, C2);
  h ^= 6;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/**
 * murmur3View13 of the IPv4 flow key given as numbers, without a byte buffer: `src` and `dst` as
 * parseIPv4Word gives them (a.b.c.d as a << 24 | b << 16 | c << 8 | d), `ports` as
 * srcPort << 16 | dstPort, `protocol` in its low byte. The key's bytes are big-endian, murmur3 reads
 * little-endian blocks: each word is byte-swapped.
 */
export function murmur3IPv4Flow(src: number, dst: number, ports: number, protocol: number, seed: number): number {
  const h = swappedBlock(swappedBlock(swappedBlock(seed | 0, src), dst), ports);
  let k = Math.imul(protocol & 0xff, C1);
  k = (k << 15) | (k >>> 17);
  return fmix32Signed(h ^ Math.imul(k, C2) ^ 13);
}

// One block step on a big-endian word (byte-swapped to the little-endian block murmur3 reads).
// Helpers rather than the steps written out: written out the function was 596 bytes of bytecode,
// above V8's inlining limit (460), and not being inlined into the lookup boxed every unsigned
// address above 2^31 passed to it.
function swappedBlock(h: number, w: number): number {
  let k = Math.imul((w >>> 24) | ((w >>> 8) & 0xff00) | ((w << 8) & 0xff0000) | (w << 24), C1);
  k = (k << 15) | (k >>> 17);
  const x = h ^ Math.imul(k, C2);
  return (Math.imul((x << 13) | (x >>> 19), 5) + N1) | 0;
}

function fmix32Signed(x: number): number {
  let h = x ^ (x >>> 16);
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** MurmurHash3 x86_32 of one 32-bit word taken as 4 little-endian bytes. */
export function murmur3Word(word: number, seed: number): number {
  let k = Math.imul(word | 0, C1);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, C2);
  let h = (seed | 0) ^ k;
  h = (h << 13) | (h >>> 19);
  h = (Math.imul(h, 5) + N1) | 0;
  return fmix32(h ^ 4);
}

function fmix32(x: number): number {
  let h = x;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
