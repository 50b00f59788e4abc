import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { NftMasquerade, type NftRunner } from '../../src/nat/nft.ts';
import { type MasqueradeInput, cidrFamily, renderSetUpdate, renderTable, setContents } from '../../src/nat/rules.ts';

const input = (over: Partial<MasqueradeInput> = {}): MasqueradeInput => ({
  clusterCIDRs: ['10.244.0.0/16'],
  masqueradeAll: false,
  vips: [
    { family: 'inet', protocol: 'tcp', address: '10.96.0.1', port: 443, kind: 'cluster IP', local: false },
    { family: 'inet', protocol: 'udp', address: '192.168.0.10', port: 30053, kind: 'node port', local: false },
    { family: 'inet', protocol: 'tcp', address: '192.168.0.10', port: 30080, kind: 'node port', local: true },
    { family: 'inet6', protocol: 'tcp', address: 'fd00::1', port: 80, kind: 'external IP', local: false },
    { family: 'inet', protocol: 'sctp', address: '203.0.113.5', port: 3868, kind: 'load balancer IP', local: false },
  ],
  endpoints: [
    { family: 'inet', address: '10.244.1.5' },
    { family: 'inet6', address: 'fd00:10:244::5' },
  ],
  ...over,
});

describe('masquerade rules', () => {
  it('fills the sets as kube-proxy decides: Local-policy node ports and external IPs are left out', () => {
    const s = setContents(input());
    expect([...(s.get('cluster-ips-v4') ?? [])]).toEqual(['10.96.0.1 . tcp . 443']);
    expect([...(s.get('node-ports') ?? [])]).toEqual(['udp . 30053']);
    expect([...(s.get('external-ips-v6') ?? [])]).toEqual(['fd00::1 . tcp . 80']);
    expect([...(s.get('external-ips-v4') ?? [])]).toEqual(['203.0.113.5 . sctp . 3868']);
    expect([...(s.get('hairpin-v4') ?? [])]).toEqual(['10.244.1.5 . 10.244.1.5']);
    expect([...(s.get('cluster-cidrs-v4') ?? [])]).toEqual(['10.244.0.0/16']);
  });

  it('drops traffic to a load-balancer IP from outside its source ranges (only ranges of its own family allow)', () => {
    const vips: MasqueradeInput['vips'] = [
      { family: 'inet', protocol: 'tcp', address: '203.0.113.5', port: 80, kind: 'load balancer IP', local: false, sourceRanges: ['198.51.100.0/24', '2001:db8::/32'] },
      { family: 'inet6', protocol: 'tcp', address: '2001:db8:5::1', port: 80, kind: 'load balancer IP', local: true, sourceRanges: ['198.51.100.0/24'] },
    ];
    const s = setContents(input({ vips }));
    expect([...(s.get('firewall-v4') ?? [])]).toEqual(['203.0.113.5 . tcp . 80']);
    expect([...(s.get('firewall-allow-v4') ?? [])]).toEqual(['203.0.113.5 . tcp . 80 . 198.51.100.0/24']);
    // Local policy skips masquerade, not the firewall; no IPv6 range: closed to everyone over IPv6.
    expect([...(s.get('firewall-v6') ?? [])]).toEqual(['2001:db8:5::1 . tcp . 80']);
    expect([...(s.get('firewall-allow-v6') ?? [])]).toEqual([]);
    const t = renderTable(input({ vips }));
    expect(t).toContain('    type filter hook prerouting priority dstnat - 10; policy accept;');
    expect(t).toContain('    ip daddr . meta l4proto . th dport @firewall-v4 ip daddr . meta l4proto . th dport . ip saddr != @firewall-allow-v4 drop');
    expect(t).toMatch(/set firewall-allow-v4 \{\n {4}type ipv4_addr \. inet_proto \. inet_service \. ipv4_addr\n {4}flags interval\n/);
  });

  it('renders one replace-the-table transaction; cluster IPs are masqueraded only from outside the cluster CIDR', () => {
    const t = renderTable(input());
    expect(t.startsWith('add table inet ipvs-maglev\ndelete table inet ipvs-maglev\ntable inet ipvs-maglev {\n')).toBe(true);
    expect(t).toContain('ip daddr . meta l4proto . th dport @cluster-ips-v4 ip saddr != @cluster-cidrs-v4 jump mark-for-masquerade');
    // No IPv6 cluster CIDR: IPv6 cluster-IP traffic cannot be told apart, so it is not masqueraded.
    expect(t).not.toContain('@cluster-ips-v6 ip6 saddr');
    expect(t).not.toMatch(/@cluster-ips-v6 jump/);
    expect(t).toContain('fib daddr type local meta l4proto . th dport @node-ports jump mark-for-masquerade');
    expect(t).toContain('meta mark set meta mark | 0x00004000');
    expect(t).toContain('masquerade fully-random');
    const all = renderTable(input({ masqueradeAll: true, clusterCIDRs: [] }));
    expect(all).toContain('ip daddr . meta l4proto . th dport @cluster-ips-v4 jump mark-for-masquerade');
    expect(all).toContain('ip6 daddr . meta l4proto . th dport @cluster-ips-v6 jump mark-for-masquerade');
  });

  it.skipIf(spawnSync('nft', ['--version']).status !== 0)('the rendered table passes `nft -c` (syntax and set types)', () => {
    const r = spawnSync('nft', ['-c', '-f', '-'], { input: renderTable(input({ clusterCIDRs: ['10.244.0.0/16', 'fd00:10:244::/56'] })), encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('incremental updates carry only the changed elements', () => {
    const before = setContents(input());
    const after = setContents(input({ endpoints: [{ family: 'inet', address: '10.244.1.6' }, { family: 'inet6', address: 'fd00:10:244::5' }] }));
    expect(renderSetUpdate(before, after)).toBe(
      'delete element inet ipvs-maglev hairpin-v4 { 10.244.1.5 . 10.244.1.5 }\nadd element inet ipvs-maglev hairpin-v4 { 10.244.1.6 . 10.244.1.6 }\n',
    );
    expect(renderSetUpdate(after, after)).toBe('');
  });

  it('validates CIDRs', () => {
    expect(cidrFamily('10.0.0.0/8')).toBe('inet');
    expect(cidrFamily('fd00::/56')).toBe('inet6');
    for (const bad of ['10.0.0.0', '10.0.0.0/33', '300.0.0.0/8', 'fd00::/129', 'x/8']) expect(() => cidrFamily(bad)).toThrow(/not a CIDR/);
  });
});

describe('NftMasquerade', () => {
  function fakeNft(failOn?: (args: readonly string[], stdin?: string) => boolean) {
    const calls: { args: readonly string[]; stdin?: string }[] = [];
    const run: NftRunner = async (args, stdin) => {
      calls.push({ args, stdin });
      if (failOn?.(args, stdin)) throw new Error('nft failed');
      return '';
    };
    return { calls, run };
  }

  it('writes the whole table first, then only changes, nothing when unchanged', async () => {
    const nft = fakeNft();
    const m = new NftMasquerade(nft.run);
    expect((await m.apply(input())).mode).toBe('full');
    expect((await m.apply(input())).mode).toBe('unchanged');
    const r = await m.apply(input({ endpoints: [] }));
    expect(r).toEqual({ mode: 'incremental', lines: 2 });
    expect(nft.calls.map((c) => c.args.join(' '))).toEqual(['-f -', '-f -']);
    expect(nft.calls[1].stdin).toContain('delete element inet ipvs-maglev hairpin-v4');
  });

  it('rewrites everything when options change, when an update fails, or when a verify finds the table gone', async () => {
    let failIncremental = false;
    let tableGone = false;
    const nft = fakeNft((args, stdin) => (failIncremental && (stdin ?? '').includes(' element ')) || (tableGone && args[0] === 'list'));
    const m = new NftMasquerade(nft.run);
    await m.apply(input());
    expect((await m.apply(input({ masqueradeAll: true }))).mode).toBe('full');
    failIncremental = true;
    expect((await m.apply(input({ masqueradeAll: true, endpoints: [{ family: 'inet', address: '10.244.9.9' }] }))).mode).toBe('full');
    failIncremental = false;
    tableGone = true;
    expect((await m.apply(input({ masqueradeAll: true, endpoints: [{ family: 'inet', address: '10.244.9.9' }] }), true)).mode).toBe('full');
  });

  it('a failing full write is reported (thrown) and retried in full next time', async () => {
    let fail = true;
    const nft = fakeNft(() => fail);
    const m = new NftMasquerade(nft.run);
    await expect(m.apply(input())).rejects.toThrow('nft failed');
    fail = false;
    expect((await m.apply(input())).mode).toBe('full');
  });
});
