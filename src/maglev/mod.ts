// `hash mod size` for 32-bit hashes. In V8, `(h >>> 0) % m` on a value that may exceed int32 is a
// float64 remainder (a libc fmod call, ~17 ns here), and a signed int32 `%` deoptimises on the
// -0 a negative dividend can give. A float64 division and floor is exact for u < 2^32 and
// m < 2^31 (the quotient's fractional part, >= 1/m, is far above the rounding error) and costs a
// few ns. Measured on the dev machine: 2.8 ns against 17 ns for `(h >>> 0) % m`.

/** (h as unsigned 32-bit) mod m, for 0 < m < 2^31. */
export function mod32(h: number, m: number): number {
  const u = h >>> 0;
  return u - Math.floor(u / m) * m;
}

// The lookups take `hash mod size` once per packet with the same size every time, so they multiply
// by the table's reciprocal (SlotTable.inverseSize, computed when the table is built) instead of
// dividing. For u < 2^32 and inv = 1/m rounded, u * inv is within (u / m) * 2^-52 <= 2^-20 / m of
// u / m, less than the distance 1/m from u / m to the next integer above it, so truncating it gives
// floor(u / m), or one less when u is an exact multiple of m. The remainder, in 0..2m-1 before the
// last correction, is the same whether computed exactly or in wrapping int32 arithmetic (ToInt32 and
// Math.imul agree modulo 2^32 even where the quotient does not fit an int32, m < 4), so no size needs a
// slow path. That path is what the lookups wait on between the hash and the table load (conversion,
// multiply, truncation, imul: ~20 cycles of latency where floor() and float products and differences
// took ~32). The tests check it against mod32 on the edges (multiples of m and their neighbours,
// 2^32 - 1) and on random values.

/** mod32(h, m) for 0 < m < 2^31 given inverse = 1 / m: no division, no state, no branch but the last correction. */
export function mod32By(h: number, m: number, inverse: number): number {
  const q = ((h >>> 0) * inverse) | 0;
  const r = ((h | 0) - Math.imul(q, m)) | 0;
  return r >= m ? r - m : r;
}

// The reciprocal kept in module state (mod32Fast) cost the lookups ~20% against the table's own
// (bench round 6): every read of a module-level `let` is checked against the hole (TDZ) and the
// cache is compared on each call. Kept for loops that reduce many hashes by one size and have no
// table yet (the kernel flavour's offsets).
let reciprocalOf = 1;
let reciprocal = 1;

/** mod32(h, m) through a cached 1/m: for build loops that reduce many hashes by the same m. */
export function mod32Fast(h: number, m: number): number {
  if (m !== reciprocalOf) {
    reciprocalOf = m;
    reciprocal = 1 / m;
  }
  return mod32By(h, m, reciprocal);
}
