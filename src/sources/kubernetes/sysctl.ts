import { writeFile } from 'node:fs/promises';
import { readBoundedFile } from '../../bounded-read.ts';
import { join } from 'node:path';
import type { Logger } from '../../reconcile/types.ts';

// The sysctls kube-proxy sets in IPVS mode (pkg/proxy/ipvs/proxier.go), set once at start with a
// log line each. They are host-wide (per network namespace), so we say what we changed.

export interface SysctlSetting {
  /** Path under /proc/sys, e.g. "net/ipv4/vs/conntrack". */
  key: string;
  value: string;
  why: string;
}

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

export interface SysctlResult {
  key: string;
  value: string;
  previous: string | undefined;
  error?: string;
}

/** Writes each setting under `root` (default /proc/sys); failures are logged and returned, not thrown. */
export async function applySysctls(settings: readonly SysctlSetting[], logger: Logger, root = '/proc/sys'): Promise<SysctlResult[]> {
  const results: SysctlResult[] = [];
  for (const s of settings) {
    const path = join(root, s.key);
    const sysctl = s.key.replaceAll('/', '.');
    let previous: string | undefined;
    try {
      previous = (await readBoundedFile(path, { maxBytes: 4096, what: path })).trim();
      if (previous !== s.value) await writeFile(path, s.value);
      logger.info({ sysctl, value: s.value, previous }, previous === s.value ? `sysctl ${sysctl}=${s.value} (already set): ${s.why}` : `sysctl ${sysctl}=${s.value} (was ${previous}): ${s.why}`);
      results.push({ key: s.key, value: s.value, previous });
    } catch (err) {
      // A read failure is a BoundedReadError carrying the errno; a write failure a plain system error.
      const e = err as NodeJS.ErrnoException & { errno?: unknown };
      const code = typeof e.errno === 'string' ? e.errno : e.code;
      const message = code === 'ENOENT' ? 'not present (module not loaded?)' : code === 'EROFS' || code === 'EACCES' ? `${code}: is ${root} mounted writable?` : (e.message ?? String(err));
      logger.warn({ sysctl, value: s.value, err: message }, `cannot set sysctl ${sysctl}=${s.value}: ${message}`);
      results.push({ key: s.key, value: s.value, previous, error: message });
    }
  }
  return results;
}
