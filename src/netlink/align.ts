// Netlink aligns message headers, payloads and attributes to 4 bytes (NLMSG_ALIGN, NLA_ALIGN).
export function align4(n: number): number {
  return (n + 3) & ~3;
}
