import type { SysctlSetting } from '../../sysctl.ts';

// The writer is shared with the standalone scale-out mode (src/sysctl.ts).
export { applySysctls, type SysctlResult, type SysctlSetting } from '../../sysctl.ts';

// The sysctls kube-proxy sets in IPVS mode (pkg/proxy/ipvs/proxier.go), set once at start with a
// log line each. They are host-wide (per network namespace), so we say what we changed.

export interface SysctlOptions {
  /** `uname -r`, to decide conn_reuse_mode. */
  kernelRelease: string;
  /** kube-proxy --ipvs-strict-arp: do not answer ARP for VIPs bound to the dummy interface. */
  strictArp: boolean;
}

export function kubeProxySysctls(opts: SysctlOptions): SysctlSetting[] {
  const list: SysctlSetting[] = [
    { key: 'net/ipv4/vs/conntrack', value: '1', why: 'keep conntrack entries for IPVS connections, so masquerade rules apply to them' },
    { key: 'net/ipv4/vs/expire_nodest_conn', value: '1', why: 'drop connections to a deleted destination at once instead of black-holing them' },
    { key: 'net/ipv4/vs/expire_quiescent_template', value: '1', why: 'expire persistence templates of weight-0 (draining) destinations' },
    { key: 'net/ipv4/ip_forward', value: '1', why: 'forward traffic to endpoints on other nodes' },
  ];
  if (kernelBefore(opts.kernelRelease, 5, 9)) {
    list.push({ key: 'net/ipv4/vs/conn_reuse_mode', value: '0', why: 'kernels before 5.9 delay a reused port by 1 s with mode 1 (kubernetes#70747)' });
  }
  if (opts.strictArp) {
    list.push(
      { key: 'net/ipv4/conf/all/arp_ignore', value: '1', why: 'strict ARP: answer only for addresses on the receiving interface' },
      { key: 'net/ipv4/conf/all/arp_announce', value: '2', why: 'strict ARP: never announce VIPs from the dummy interface' },
    );
  }
  return list;
}

export function kernelBefore(release: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) return false;
  const a = Number(m[1]);
  const b = Number(m[2]);
  return a < major || (a === major && b < minor);
}
