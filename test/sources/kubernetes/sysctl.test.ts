import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { applySysctls, kernelBefore, kubeProxySysctls } from '../../../src/sources/kubernetes/sysctl.ts';

describe('kube-proxy IPVS-mode sysctls', () => {
  it('lists conntrack, expire_nodest_conn, expire_quiescent_template, ip_forward; conn_reuse_mode=0 before 5.9; strict ARP on request', () => {
    const keys = (r: string, strictArp = false) => kubeProxySysctls({ kernelRelease: r, strictArp }).map((s) => `${s.key}=${s.value}`);
    expect(keys('6.1.0-28-amd64')).toEqual(['net/ipv4/vs/conntrack=1', 'net/ipv4/vs/expire_nodest_conn=1', 'net/ipv4/vs/expire_quiescent_template=1', 'net/ipv4/ip_forward=1']);
    expect(keys('5.4.0-150-generic')).toContain('net/ipv4/vs/conn_reuse_mode=0');
    expect(keys('6.1.0', true)).toEqual(expect.arrayContaining(['net/ipv4/conf/all/arp_ignore=1', 'net/ipv4/conf/all/arp_announce=2']));
    expect(kernelBefore('5.8.18', 5, 9)).toBe(true);
    expect(kernelBefore('5.9.0', 5, 9)).toBe(false);
    expect(kernelBefore('4.19.0', 5, 9)).toBe(true);
  });

  it('every sysctl is under net/: the DaemonSet mounts only the host\'s /proc/sys/net', () => {
    for (const s of kubeProxySysctls({ kernelRelease: '5.4.0', strictArp: true })) expect(s.key).toMatch(/^net\//);
  });

  it('writes each value with a log line saying what it was and why; a missing one is a warning, not a crash', async () => {
    const root = mkdtempSync(join(tmpdir(), 'sysctl-'));
    mkdirSync(join(root, 'net/ipv4/vs'), { recursive: true });
    writeFileSync(join(root, 'net/ipv4/vs/conntrack'), '0\n');
    writeFileSync(join(root, 'net/ipv4/ip_forward'), '1\n');
    const lines: string[] = [];
    const log = { debug() {}, info: (_o: object, m?: string) => lines.push(`info ${m}`), warn: (_o: object, m?: string) => lines.push(`warn ${m}`), error() {} };
    const r = await applySysctls(kubeProxySysctls({ kernelRelease: '6.1.0', strictArp: false }), log, root);
    expect(readFileSync(join(root, 'net/ipv4/vs/conntrack'), 'utf8')).toBe('1');
    expect(lines[0]).toMatch(/^info sysctl net\.ipv4\.vs\.conntrack=1 \(was 0\): /);
    expect(lines).toContain('warn cannot set sysctl net.ipv4.vs.expire_nodest_conn=1: not present (module not loaded?)');
    expect(lines.at(-1)).toMatch(/^info sysctl net\.ipv4\.ip_forward=1 \(already set\)/);
    expect(r.filter((x) => x.error).map((x) => x.key)).toEqual(['net/ipv4/vs/expire_nodest_conn', 'net/ipv4/vs/expire_quiescent_template']);
  });
});
