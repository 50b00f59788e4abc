// The benchmark's little cluster, built with iproute2 around the current network namespace,
// which plays the node: backend pods in their own namespaces on a bridge, a client namespace
// routed through the node (outside the cluster CIDR, so service traffic is masqueraded as on a
// real node), and a dummy interface for IPVS virtual addresses. Everything is named with a
// prefix so it can be found and removed again; nothing leaves the node.
import { ipBatch, run } from './exec.ts';

export interface TopologyOptions {
  /** Prefix of every namespace and interface we create (short: Linux allows 15-char ifnames). */
  prefix: string;
  pods: number;
}

export interface Topology {
  readonly prefix: string;
  readonly clientNs: string;
  readonly clientIp: string;
  readonly podNs: readonly string[];
  readonly podIps: readonly string[];
  readonly podNames: readonly string[];
  readonly bridge: string;
  /** Created by the IPVS planes (VipApi.ensureInterface), removed with the topology. */
  readonly dummy: string;
  readonly clusterCidr: string;
}

export const CLUSTER_CIDR = '10.0.0.0/8';
const POD_GATEWAY = '10.0.1.254';
const CLIENT_GATEWAY = '192.168.77.1';
const CLIENT_IP = '192.168.77.2';

export function describeTopology(opts: TopologyOptions): Topology {
  if (opts.pods < 1 || opts.pods > 200) throw new RangeError(`pods must be 1..200, got ${opts.pods}`);
  const podNames = Array.from({ length: opts.pods }, (_, i) => `pod${i}`);
  return {
    prefix: opts.prefix,
    clientNs: `${opts.prefix}-client`,
    clientIp: CLIENT_IP,
    podNs: podNames.map((p) => `${opts.prefix}-${p}`),
    podIps: podNames.map((_, i) => `10.0.1.${i + 1}`),
    podNames,
    bridge: `${opts.prefix}-br`,
    dummy: `${opts.prefix}-vips`,
    clusterCidr: CLUSTER_CIDR,
  };
}

async function sysctl(ns: string | undefined, settings: Record<string, string>, optional = false): Promise<void> {
  const args = Object.entries(settings).map(([k, v]) => `${k}=${v}`);
  const cmd = ns ? ['ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', ...args]] as const : ['sysctl', ['-q', '-w', ...args]] as const;
  await run(cmd[0], cmd[1], { allowFailure: optional });
}

export async function createTopology(t: Topology): Promise<void> {
  await destroyTopology(t);
  const cmds: string[] = [];
  cmds.push(`link add ${t.bridge} type bridge`, `address add ${POD_GATEWAY}/24 dev ${t.bridge}`, `link set ${t.bridge} up`);
  for (let i = 0; i < t.podNs.length; i++) {
    cmds.push(`netns add ${t.podNs[i]}`);
    cmds.push(`link add ${t.prefix}-p${i} type veth peer name eth0 netns ${t.podNs[i]}`);
    cmds.push(`link set ${t.prefix}-p${i} master ${t.bridge}`, `link set ${t.prefix}-p${i} up`);
  }
  cmds.push(`netns add ${t.clientNs}`);
  cmds.push(`link add ${t.prefix}-c type veth peer name eth0 netns ${t.clientNs}`);
  cmds.push(`address add ${CLIENT_GATEWAY}/24 dev ${t.prefix}-c`, `link set ${t.prefix}-c up`);
  await ipBatch(cmds);
  for (let i = 0; i < t.podNs.length; i++) {
    await ipBatch([`address add ${t.podIps[i]}/24 dev eth0`, 'link set eth0 up', 'link set lo up', `route add default via ${POD_GATEWAY}`], { netns: t.podNs[i] });
  }
  await ipBatch([`address add ${CLIENT_IP}/24 dev eth0`, 'link set eth0 up', 'link set lo up', `route add default via ${CLIENT_GATEWAY}`], { netns: t.clientNs });
  await sysctl(undefined, { 'net.ipv4.ip_forward': '1', 'net.ipv4.conf.all.rp_filter': '0', 'net.ipv4.conf.default.rp_filter': '0' });
  // Many short connections from one client address: use the whole port range.
  await sysctl(t.clientNs, { 'net.ipv4.ip_local_port_range': '1024 65535' });
}

/** Sysctls kube-proxy's IPVS mode sets (kube-proxy.md); absent keys (no IPVS loaded) are ignored. */
export async function ipvsSysctls(): Promise<void> {
  await sysctl(undefined, {
    'net.ipv4.vs.conntrack': '1',
    'net.ipv4.vs.expire_nodest_conn': '1',
    'net.ipv4.vs.expire_quiescent_template': '1',
  }, true);
}

export async function destroyTopology(t: Topology): Promise<void> {
  const cmds = [...t.podNs, t.clientNs].map((ns) => `netns del ${ns}`);
  cmds.push(`link del ${t.bridge}`, `link del ${t.dummy}`);
  // -force: keep going past the ones that do not exist.
  await run('ip', ['-force', '-batch', '-'], { input: `${cmds.join('\n')}\n`, allowFailure: true });
}
