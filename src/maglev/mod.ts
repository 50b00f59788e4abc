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
// by a cached reciprocal instead of dividing (a float64 multiply is ~4 cycles, a divide ~13). For
// u < 2^32 and inv = 1/m rounded, u * inv is within 2^32 * 2^-52 = 2^-20 of u / m, so its floor
// is off by at most one and one compare-and-correct makes the remainder exact; the tests check it
// against mod32 on the edges (multiples of m and their neighbours, 2^32 - 1).
let reciprocalOf = 1;
let reciprocal = 1;

/** mod32(h, m) through a cached 1/m: for hot loops that reduce many hashes by the same m. */
export function mod32Fast(h: number, m: number): number {
  if (m !== reciprocalOf) {
    reciprocalOf = m;
    reciprocal = 1 / m;
  }
  const u = h >>> 0;
  const r = u - Math.floor(u * reciprocal) * m;
  return r >= m ? r - m : r < 0 ? r + m : r;
}
