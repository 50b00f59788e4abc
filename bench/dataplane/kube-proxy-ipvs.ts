// What kube-proxy's IPVS mode adds around the IPVS table (pkg/proxy/ipvs/proxier.go): ipsets of
// cluster IP:port pairs and of hairpin endpoints, and a few nat rules that mark traffic from
// outside the cluster CIDR for masquerade. The rule count is constant in the number of services;
// only the ipsets grow. Pure: text in, text out.
import { MASQ_MARK } from './kube-proxy-iptables.ts';
import type { BenchService } from './workload.ts';

export const CLUSTER_IP_SET = 'KUBE-CLUSTER-IP';
export const LOOP_BACK_SET = 'KUBE-LOOP-BACK';
export const IPVS_NAT_CHAINS = ['KUBE-SERVICES', 'KUBE-POSTROUTING', 'KUBE-NODE-PORT', 'KUBE-LOAD-BALANCER', 'KUBE-MARK-MASQ'] as const;

export function ipvsModeNatRules(clusterCidr: string): string {
  return [
    '*nat',
    ...IPVS_NAT_CHAINS.map((c) => `:${c} - [0:0]`),
    `-A KUBE-SERVICES -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set ${CLUSTER_IP_SET} dst,dst ! -s ${clusterCidr} -j KUBE-MARK-MASQ`,
    '-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT',
    `-A KUBE-SERVICES -m set --match-set ${CLUSTER_IP_SET} dst,dst -j ACCEPT`,
    `-A KUBE-POSTROUTING -m comment --comment "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose" -m set --match-set ${LOOP_BACK_SET} dst,dst,src -j MASQUERADE`,
    `-A KUBE-POSTROUTING -m mark ! --mark ${MASQ_MARK}/${MASQ_MARK} -j RETURN`,
    `-A KUBE-POSTROUTING -j MARK --xor-mark ${MASQ_MARK}`,
    '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE',
    `-A KUBE-MARK-MASQ -j MARK --or-mark ${MASQ_MARK}`,
    'COMMIT',
    '',
  ].join('\n');
}

/** `ipset restore -exist` payload creating both sets (empty). */
export function ipsetCreate(): string {
  return [
    `create ${CLUSTER_IP_SET} hash:ip,port family inet hashsize 1024 maxelem 65536`,
    `create ${LOOP_BACK_SET} hash:ip,port,ip family inet hashsize 1024 maxelem 65536`,
    '',
  ].join('\n');
}

/**
 * IP protocol numbers. kube-proxy writes entries as "ip,tcp:port"; ipset then resolves "tcp" with
 * getprotobyname(), which opens and reads /etc/protocols once per entry. In the test VM /etc is
 * the host's over 9p, and those reads made up most of the IPVS planes' first programming (179 s
 * for 10,000 services at load 6); on a real node they cost microseconds. The number gives the
 * kernel the same entry (`ipset list` still shows "tcp:80") without the file reads.
 */
export const IP_PROTOCOL_NUMBER: Readonly<Record<BenchService['protocol'], number>> = { tcp: 6, udp: 17, sctp: 132 };

/** "ip,6:port": one ipset ip,port member. */
export function ipsetMember(ip: string, protocol: BenchService['protocol'], port: number): string {
  return `${ip},${IP_PROTOCOL_NUMBER[protocol]}:${port}`;
}

/** `ipset restore -exist` payload adding the entries of `services` (shared pods appear once). */
export function ipsetAdd(services: readonly BenchService[]): string {
  const lines: string[] = [];
  const loop = new Set<string>();
  for (const svc of services) {
    lines.push(`add ${CLUSTER_IP_SET} ${ipsetMember(svc.clusterIP, svc.protocol, svc.port)}`);
    for (const ep of svc.endpoints) loop.add(`add ${LOOP_BACK_SET} ${ipsetMember(ep.ip, svc.protocol, ep.port)},${ep.ip}`);
  }
  lines.push(...loop, '');
  return lines.join('\n');
}

export function ipsetDestroy(): string {
  return [`destroy ${CLUSTER_IP_SET}`, `destroy ${LOOP_BACK_SET}`, ''].join('\n');
}
