import { closeSync, openSync, readSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inNetns } from '../native/netlink-socket.ts';
import type { StructuredLogger } from './structured-logger.ts';

// The one sysctl writer: both modes set kernel knobs at start (Kubernetes mode kube-proxy's IPVS set,
// scale-out mode the sloppy_* knobs a node needs to take over flows), each with a log line saying the
// value, what it was and why, because they are host-wide (per network namespace) and an operator must
// be able to see what we changed. Failures are logged and returned, never thrown: a missing knob
// (module not loaded) must not stop a load balancer that works without it.

export interface SysctlSetting {
  /** Path under /proc/sys, e.g. "net/ipv4/vs/conntrack". */
  key: string;
  value: string;
  why: string;
}

export interface SysctlResult {
  key: string;
  value: string;
  previous: string | undefined;
  error?: string;
}

export type SysctlLogger = Pick<StructuredLogger, 'info' | 'warn'>;

export interface SysctlTarget {
  /** Where /proc/sys is mounted (tests point it at a directory). Default /proc/sys. */
  root?: string;
  /**
   * Named network namespace whose knobs to set. /proc/sys/net resolves to the namespace of the
   * thread that opens it, so each file is opened from inside the namespace (setns on this thread).
   */
  netns?: string;
}

/** Writes each setting; `target` may be a root directory (the Kubernetes mode's historical form). */
export async function applySysctls(settings: readonly SysctlSetting[], logger: SysctlLogger, target: string | SysctlTarget = {}): Promise<SysctlResult[]> {
  const { root = '/proc/sys', netns } = typeof target === 'string' ? { root: target } : target;
  const results: SysctlResult[] = [];
  for (const s of settings) {
    const path = join(root, s.key);
    const sysctl = s.key.replaceAll('/', '.');
    const fields = netns === undefined ? { sysctl, value: s.value } : { sysctl, value: s.value, netns };
    const where = netns === undefined ? '' : ` in netns ${netns}`;
    let previous: string | undefined;
    try {
      previous = inside(netns, () => readKnob(path)).trim();
      if (previous !== s.value) inside(netns, () => writeFileSync(path, s.value));
      logger.info({ ...fields, previous }, previous === s.value ? `sysctl ${sysctl}=${s.value}${where} (already set): ${s.why}` : `sysctl ${sysctl}=${s.value}${where} (was ${previous}): ${s.why}`);
      results.push({ key: s.key, value: s.value, previous });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const message = e.code === 'ENOENT' ? 'not present (module not loaded?)' : e.code === 'EROFS' || e.code === 'EACCES' ? `${e.code}: is ${root} mounted writable?` : (e.message ?? String(err));
      logger.warn({ ...fields, err: message }, `cannot set sysctl ${sysctl}=${s.value}${where}: ${message}`);
      results.push({ key: s.key, value: s.value, previous, error: message });
    }
  }
  return results;
}

/** A sysctl value is a line or a few words; reading at most 4 KiB bounds a knob that is not one. */
const MAX_SYSCTL_BYTES = 4096;

function readKnob(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(MAX_SYSCTL_BYTES);
    const n = readSync(fd, buf, 0, MAX_SYSCTL_BYTES, 0);
    return buf.toString('utf8', 0, n);
  } finally {
    closeSync(fd);
  }
}

function inside<T>(netns: string | undefined, fn: () => T): T {
  return netns === undefined ? fn() : inNetns(netns, fn);
}
