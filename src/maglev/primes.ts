// Table sizes: the kernel's fixed prime list for `mh`, and a primality test for the paper flavour.

/** Sizes a Linux `mh` table can have (CONFIG_IP_VS_MH_TAB_INDEX 8..17 picks one at kernel build time). */
export const KERNEL_TABLE_SIZES: readonly number[] = [251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071];

/** The size of a stock kernel build (CONFIG_IP_VS_MH_TAB_INDEX=12). */
export const DEFAULT_KERNEL_TABLE_SIZE = 4093;

/** The kernel derives its weight precision from the table index: TAB_BITS = INDEX / 2. */
export function kernelTableBits(size: number): number {
  const index = KERNEL_TABLE_SIZES.indexOf(size);
  return index < 0 ? -1 : (index + 8) >> 1;
}

/** Trial division is plenty: table sizes are bounded well below 2^32. */
export function isPrime(n: number): boolean {
  if (!Number.isSafeInteger(n) || n < 2) return false;
  if (n % 2 === 0) return n === 2;
  if (n % 3 === 0) return n === 3;
  for (let d = 5; d * d <= n; d += 6) {
    if (n % d === 0 || n % (d + 2) === 0) return false;
  }
  return true;
}
