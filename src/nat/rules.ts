import { addressFamily } from '../address/address.ts';
import type { Family, Protocol } from '../ipvs/types.ts';

// The masquerade (SNAT) rules a Service data path needs next to IPVS, as nftables text for
// `nft -f`. Same decisions as kube-proxy's IPVS mode (KUBE-MARK-MASQ / KUBE-POSTROUTING and its
// ipsets), expressed with nftables sets:
// - traffic to a cluster IP from outside the cluster CIDRs (or all of it with masqueradeAll);
// - traffic to external IPs and load-balancer IPs, and to node ports on a local address, unless
//   the Service's externalTrafficPolicy is Local (which must keep the client address);
// - hairpin: a pod reaching itself through a Service (after IPVS's DNAT, source == destination).
// Marked packets (mark 0x4000, as kube-proxy) are masqueraded in postrouting. Everything lives
// in one table of our own, `inet ipvs-maglev`, so we never touch anyone else's rules. The same table
// drops traffic to load-balancer IPs from outside their loadBalancerSourceRanges.

export const TABLE = 'ipvs-maglev';
export const MASQ_MARK = 0x4000;

export interface MasqueradeVip {
  family: Family;
  protocol: Protocol;
  address: string;
  port: number;
  kind: 'cluster IP' | 'external IP' | 'load balancer IP' | 'node port';
  /** Traffic policy Local: keep the client address. */
  local: boolean;
  /** Client CIDRs allowed to reach this VIP (Kubernetes loadBalancerSourceRanges); absent = everyone. */
  sourceRanges?: readonly string[];
}

export interface MasqueradeInput {
  /** Pod CIDRs ("10.244.0.0/16", "fd00:10:244::/56"). */
  clusterCIDRs: readonly string[];
  masqueradeAll: boolean;
  vips: readonly MasqueradeVip[];
  /** Endpoint addresses (for hairpin). */
  endpoints: readonly { family: Family; address: string }[];
}

/** Set name -> elements (as nft writes them); the unit of incremental updates. */
export type SetContents = Map<string, Set<string>>;

interface SetDef {
  name: string;
  type: string;
  interval?: boolean;
}

const SETS: readonly SetDef[] = [
  { name: 'cluster-ips-v4', type: 'ipv4_addr . inet_proto . inet_service' },
  { name: 'cluster-ips-v6', type: 'ipv6_addr . inet_proto . inet_service' },
  { name: 'external-ips-v4', type: 'ipv4_addr . inet_proto . inet_service' },
  { name: 'external-ips-v6', type: 'ipv6_addr . inet_proto . inet_service' },
  { name: 'node-ports', type: 'inet_proto . inet_service' },
  { name: 'hairpin-v4', type: 'ipv4_addr . ipv4_addr' },
  { name: 'hairpin-v6', type: 'ipv6_addr . ipv6_addr' },
  // VIPs with source ranges, and the (VIP, source CIDR) pairs allowed in: everything else to them is dropped.
  { name: 'firewall-v4', type: 'ipv4_addr . inet_proto . inet_service' },
  { name: 'firewall-v6', type: 'ipv6_addr . inet_proto . inet_service' },
  { name: 'firewall-allow-v4', type: 'ipv4_addr . inet_proto . inet_service . ipv4_addr', interval: true },
  { name: 'firewall-allow-v6', type: 'ipv6_addr . inet_proto . inet_service . ipv6_addr', interval: true },
  { name: 'cluster-cidrs-v4', type: 'ipv4_addr', interval: true },
  { name: 'cluster-cidrs-v6', type: 'ipv6_addr', interval: true },
];

export class CidrError extends Error {
  readonly code = 'INVALID_CIDR';
  constructor(raw: string) {
    super(`--cluster-cidr: ${JSON.stringify(raw.slice(0, 64))} is not a CIDR such as 10.244.0.0/16 or fd00:10:244::/56`);
    this.name = 'CidrError';
  }
}

export function cidrFamily(raw: string): Family {
  const m = /^([0-9a-fA-F:.]+)\/(\d{1,3})$/.exec(raw.trim());
  if (!m) throw new CidrError(raw);
  // The address must parse as one ("::::::/64" is not), and the prefix fit its family.
  const family = addressFamily(m[1]);
  if (family === undefined || Number(m[2]) > (family === 'inet' ? 32 : 128)) throw new CidrError(raw);
  return family;
}

/** What the sets should hold for this input. */
export function setContents(input: MasqueradeInput): SetContents {
  const sets: SetContents = new Map(SETS.map((d) => [d.name, new Set<string>()]));
  const add = (name: string, element: string): void => {
    sets.get(name)?.add(element);
  };
  for (const v of input.vips) {
    const sfx = v.family === 'inet' ? 'v4' : 'v6';
    const tuple = `${v.address} . ${v.protocol} . ${v.port}`;
    if (v.sourceRanges && v.sourceRanges.length > 0) {
      add(`firewall-${sfx}`, tuple);
      // A range of the other family allows nothing here (as kube-proxy: that family is then closed).
      for (const r of v.sourceRanges) if (cidrFamily(r) === v.family) add(`firewall-allow-${sfx}`, `${tuple} . ${r}`);
    }
    if (v.kind === 'cluster IP') add(`cluster-ips-${sfx}`, tuple);
    else if (v.local) continue;
    else if (v.kind === 'node port') add('node-ports', `${v.protocol} . ${v.port}`);
    else add(`external-ips-${sfx}`, tuple);
  }
  for (const e of input.endpoints) add(`hairpin-${e.family === 'inet' ? 'v4' : 'v6'}`, `${e.address} . ${e.address}`);
  for (const c of input.clusterCIDRs) add(`cluster-cidrs-${cidrFamily(c) === 'inet' ? 'v4' : 'v6'}`, c.trim());
  return sets;
}

/** The rules (not the set contents): they change only with the options. */
function chains(input: MasqueradeInput): string[] {
  const hasCidr = (f: 'v4' | 'v6') => input.clusterCIDRs.some((c) => (cidrFamily(c) === 'inet') === (f === 'v4'));
  const out: string[] = [];
  out.push('  chain mark-for-masquerade {', `    meta mark set meta mark | ${hex(MASQ_MARK)}`, '  }');
  out.push('  chain services {');
  for (const [f, ip] of [['v4', 'ip'], ['v6', 'ip6']] as const) {
    const match = `${ip} daddr . meta l4proto . th dport @cluster-ips-${f}`;
    // Without a cluster CIDR we cannot tell pods from outsiders: as kube-proxy, masquerade nothing then.
    if (input.masqueradeAll) out.push(`    ${match} jump mark-for-masquerade`);
    else if (hasCidr(f)) out.push(`    ${match} ${ip} saddr != @cluster-cidrs-${f} jump mark-for-masquerade`);
    out.push(`    ${ip} daddr . meta l4proto . th dport @external-ips-${f} jump mark-for-masquerade`);
  }
  out.push('    fib daddr type local meta l4proto . th dport @node-ports jump mark-for-masquerade');
  out.push('  }');
  // Source ranges are enforced before IPVS sees the packet (it takes it at local-in), as kube-proxy's
  // KUBE-LOAD-BALANCER-FW does for traffic arriving from outside the node.
  out.push(
    '  chain firewall {',
    '    type filter hook prerouting priority dstnat - 10; policy accept;',
    '    ip daddr . meta l4proto . th dport @firewall-v4 ip daddr . meta l4proto . th dport . ip saddr != @firewall-allow-v4 drop',
    '    ip6 daddr . meta l4proto . th dport @firewall-v6 ip6 daddr . meta l4proto . th dport . ip6 saddr != @firewall-allow-v6 drop',
    '  }',
  );
  out.push('  chain prerouting {', '    type nat hook prerouting priority dstnat; policy accept;', '    jump services', '  }');
  out.push('  chain output {', '    type nat hook output priority -100; policy accept;', '    jump services', '  }');
  out.push(
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    '    ip daddr . ip saddr @hairpin-v4 masquerade',
    '    ip6 daddr . ip6 saddr @hairpin-v6 masquerade',
    `    meta mark & ${hex(MASQ_MARK)} == 0 return`,
    `    meta mark set meta mark ^ ${hex(MASQ_MARK)}`,
    '    masquerade fully-random',
    '  }',
  );
  return out;
}

/**
 * The whole table, replacing any previous one in a single transaction: `nft -f` applies a file
 * atomically, so packets see either the old rules or the new ones, never a half-written table.
 */
export function renderTable(input: MasqueradeInput, sets: SetContents = setContents(input)): string {
  const lines = [`add table inet ${TABLE}`, `delete table inet ${TABLE}`, `table inet ${TABLE} {`];
  for (const d of SETS) {
    lines.push(`  set ${d.name} {`, `    type ${d.type}`);
    if (d.interval) lines.push('    flags interval');
    const elements = [...(sets.get(d.name) ?? [])];
    if (elements.length > 0) lines.push(`    elements = { ${elements.join(', ')} }`);
    lines.push('  }');
  }
  lines.push(...chains(input), '}', '');
  return lines.join('\n');
}

/** Element changes from `before` to `after` as one nft transaction; "" when nothing changed. */
export function renderSetUpdate(before: SetContents, after: SetContents): string {
  const lines: string[] = [];
  for (const d of SETS) {
    const b = before.get(d.name) ?? new Set<string>();
    const a = after.get(d.name) ?? new Set<string>();
    const removed = [...b].filter((e) => !a.has(e));
    const added = [...a].filter((e) => !b.has(e));
    for (const chunk of chunks(removed)) lines.push(`delete element inet ${TABLE} ${d.name} { ${chunk.join(', ')} }`);
    for (const chunk of chunks(added)) lines.push(`add element inet ${TABLE} ${d.name} { ${chunk.join(', ')} }`);
  }
  return lines.length === 0 ? '' : lines.join('\n') + '\n';
}

function chunks(items: string[], size = 1000): string[][] {
  const out: string[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}
