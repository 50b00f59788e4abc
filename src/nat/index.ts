// Masquerade (SNAT) rules for the Kubernetes data path, applied atomically with `nft -f`.
// Why nftables rather than iptables-restore + ipsets: see src/sources/kubernetes/README.md.
export { CidrError, MASQ_MARK, TABLE, cidrFamily, renderSetUpdate, renderTable, setContents } from './rules.ts';
export type { MasqueradeInput, MasqueradeVip, SetContents } from './rules.ts';
export { NftError, NftMasquerade, nftRunner } from './nft.ts';
export type { MasqueradeResult, NftRunner } from './nft.ts';
