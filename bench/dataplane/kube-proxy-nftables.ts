// kube-proxy's nftables mode (pkg/proxy/nftables, Kubernetes >= 1.31) for ClusterIP services:
// one verdict map from "daddr . proto . dport" to a per-service chain, so the lookup cost does not
// grow with the number of services; the service chain picks an endpoint with `numgen random`.
// Payloads for `nft -f -`. Pure: text in, text out.
import { nftEndpointChainName, nftServiceChainName } from './kube-proxy-names.ts';
import { MASQ_MARK } from './kube-proxy-iptables.ts';
import type { BenchService } from './workload.ts';

export const NFT_TABLE = 'kube-proxy';
const T = `ip ${NFT_TABLE}`;

export interface NftOptions {
  clusterCidr: string;
}

function base(): string[] {
  return [
    `add table ${T} { comment "rules for kube-proxy" ; }`,
    `add chain ${T} mark-for-masquerade`,
    `add rule ${T} mark-for-masquerade mark set mark or ${MASQ_MARK}`,
    `add chain ${T} masquerading`,
    `add rule ${T} masquerading mark and ${MASQ_MARK} == 0 return`,
    `add rule ${T} masquerading mark set mark xor ${MASQ_MARK}`,
    `add rule ${T} masquerading masquerade fully-random`,
    `add chain ${T} services`,
    `add chain ${T} nat-prerouting { type nat hook prerouting priority dstnat ; }`,
    `add rule ${T} nat-prerouting jump services`,
    `add chain ${T} nat-output { type nat hook output priority -100 ; }`,
    `add rule ${T} nat-output jump services`,
    `add chain ${T} nat-postrouting { type nat hook postrouting priority srcnat ; }`,
    `add rule ${T} nat-postrouting jump masquerading`,
    `add map ${T} service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }`,
    `add rule ${T} services ip daddr . meta l4proto . th dport vmap @service-ips`,
  ];
}

interface ServiceChains {
  readonly svcChain: string;
  readonly epChains: readonly string[];
  /** Creates the endpoint chains, then the service chain, then the map element. */
  readonly add: readonly string[];
}

// Remembered per (immutable) service object, as for iptables: building the text of 10,000
// services again for every step costs tens of seconds under emulation.
const chainsCache = new WeakMap<BenchService, Map<string, ServiceChains>>();

function serviceChains(svc: BenchService, opts: NftOptions): ServiceChains {
  let byCidr = chainsCache.get(svc);
  if (!byCidr) {
    byCidr = new Map();
    chainsCache.set(svc, byCidr);
  }
  let c = byCidr.get(opts.clusterCidr);
  if (!c) {
    c = buildServiceChains(svc, opts);
    byCidr.set(opts.clusterCidr, c);
  }
  return c;
}

function buildServiceChains(svc: BenchService, opts: NftOptions): ServiceChains {
  const svcChain = nftServiceChainName(svc.namespace, svc.name, svc.portName, svc.protocol);
  const add: string[] = [];
  const epChains: string[] = [];
  for (const ep of svc.endpoints) {
    const c = nftEndpointChainName(svc.namespace, svc.name, svc.portName, svc.protocol, ep.ip, ep.port);
    epChains.push(c);
    add.push(`add chain ${T} ${c}`);
    add.push(`add rule ${T} ${c} ip saddr ${ep.ip} jump mark-for-masquerade`);
    add.push(`add rule ${T} ${c} meta l4proto ${svc.protocol} dnat to ${ep.ip}:${ep.port}`);
  }
  add.push(`add chain ${T} ${svcChain}`);
  add.push(...serviceChainRules(svc, svcChain, epChains, opts));
  add.push(`add element ${T} service-ips { ${svc.clusterIP} . ${svc.protocol} . ${svc.port} : goto ${svcChain} }`);
  return { svcChain, epChains, add };
}

function serviceChainRules(svc: BenchService, svcChain: string, epChains: readonly string[], opts: NftOptions): string[] {
  const vmap = epChains.map((c, i) => `${i} : goto ${c}`).join(' , ');
  return [
    `add rule ${T} ${svcChain} ip daddr ${svc.clusterIP} ${svc.protocol} dport ${svc.port} ip saddr != ${opts.clusterCidr} jump mark-for-masquerade`,
    `add rule ${T} ${svcChain} numgen random mod ${epChains.length} vmap { ${vmap} }`,
  ];
}

/** The whole table from scratch (kube-proxy's first sync). */
export function nftFull(services: readonly BenchService[], opts: NftOptions): string {
  const lines = base();
  for (const svc of services) lines.push(...serviceChains(svc, opts).add);
  lines.push('');
  return lines.join('\n');
}

/** One transaction adding a service (kube-proxy's nftables mode only sends what changed). */
export function nftAddService(svc: BenchService, opts: NftOptions): string {
  return [...serviceChains(svc, opts).add, ''].join('\n');
}

/** One transaction moving a service from `before` to `after` endpoints (same service identity). */
export function nftChangeEndpoints(before: BenchService, after: BenchService, opts: NftOptions): string {
  const old = serviceChains(before, opts);
  const now = serviceChains(after, opts);
  const lines: string[] = [];
  const oldSet = new Set(old.epChains);
  const newSet = new Set(now.epChains);
  for (let i = 0; i < after.endpoints.length; i++) {
    const c = now.epChains[i];
    if (oldSet.has(c)) continue;
    const ep = after.endpoints[i];
    lines.push(`add chain ${T} ${c}`);
    lines.push(`add rule ${T} ${c} ip saddr ${ep.ip} jump mark-for-masquerade`);
    lines.push(`add rule ${T} ${c} meta l4proto ${after.protocol} dnat to ${ep.ip}:${ep.port}`);
  }
  lines.push(`flush chain ${T} ${now.svcChain}`);
  lines.push(...serviceChainRules(after, now.svcChain, now.epChains, opts));
  for (const c of old.epChains) if (!newSet.has(c)) lines.push(`delete chain ${T} ${c}`);
  lines.push('');
  return lines.join('\n');
}

export function nftTeardown(): string {
  return `delete table ${T}\n`;
}

/** Rules nftFull(services) holds, counted from the remembered per-service text (no 20 MB string). */
export function nftFullRuleCount(services: readonly BenchService[], opts: NftOptions): number {
  let n = nftRuleCount(base().join('\n'));
  for (const svc of services) for (const line of serviceChains(svc, opts).add) if (line.startsWith('add rule ')) n++;
  return n;
}

/** Rules in a payload (each `add rule` line), for reporting. */
export function nftRuleCount(text: string): number {
  let n = 0;
  for (const line of text.split('\n')) if (line.startsWith('add rule ')) n++;
  return n;
}
