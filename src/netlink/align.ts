// Netlink aligns message headers, payloads and attributes to 4 bytes (NLMSG_ALIGN, NLA_ALIGN).
// Lengths are u32 on the wire: the bitwise form is signed 32-bit and would turn a length >= 2^31 - 3
// negative (a backwards step, then a RangeError far from the bad field), so large values take the slow path.
export function align4(n: number): number {
  return n < 0x7ffffffc ? (n + 3) & ~3 : Math.ceil(n / 4) * 4;
}
