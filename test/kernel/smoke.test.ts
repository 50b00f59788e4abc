// Smoke test of the real-kernel harness: an IPVS Maglev (mh) service built with the real ipvsadm,
// traffic through the topology, every backend answering.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertIpvsKernel, clearIpvs, createTopology, ipvsadm, type Topology } from './lib/index.ts';

describe('real-kernel harness smoke', () => {
  let topo: Topology;
  const vip = '10.100.0.1';

  beforeAll(async () => {
    assertIpvsKernel();
    await clearIpvs();
    topo = await createTopology({ prefix: 'smk', backends: 3 });
  });

  afterAll(async () => {
    await clearIpvs().catch(() => {});
    await topo?.cleanup();
  });

  it('balances ~30 connections over 3 backends with the mh scheduler', async () => {
    await ipvsadm(['-A', '-t', `${vip}:80`, '-s', 'mh', '-b', 'mh-port']);
    for (const b of topo.backends) await ipvsadm(['-a', '-t', `${vip}:80`, '-r', `${b.ip}:80`, '-m', '-w', '1']);

    const items = Array.from({ length: 30 }, (_, i) => ({
      src: topo.client.src(i),
      sport: 20_000 + i,
      dst: vip,
      dport: 80,
    }));
    const results = await topo.connect(items);
    const failed = results.filter((r) => !r.ok);
    expect(failed, JSON.stringify(failed.slice(0, 3))).toEqual([]);
    const seen = new Set(results.map((r) => r.backend));
    expect([...seen].sort()).toEqual(['b1', 'b2', 'b3']);
    // NAT (masq): the backend saw the client's own source address and port.
    expect(results[0].peer).toBe(`${items[0].src}:${items[0].sport}`);

    const listing = await ipvsadm('-Ln');
    expect(listing).toMatch(new RegExp(`TCP\\s+${vip.replaceAll('.', '\\.')}:80 mh \\(mh-port\\)`));
    for (const b of topo.backends) expect(listing).toMatch(new RegExp(`-> ${b.ip.replaceAll('.', '\\.')}:80\\s+Masq\\s+1`));
  });

  it('serves UDP and IPv6 services through the same topology', async () => {
    const vip6 = 'fd00:100::1';
    await ipvsadm(['-A', '-u', `${vip}:80`, '-s', 'rr']);
    await ipvsadm(['-A', '-t', `[${vip6}]:80`, '-s', 'rr']);
    for (const b of topo.backends) {
      await ipvsadm(['-a', '-u', `${vip}:80`, '-r', `${b.ip}:80`, '-m']);
      await ipvsadm(['-a', '-t', `[${vip6}]:80`, '-r', `[${b.ip6}]:80`, '-m']);
    }
    const udp = await topo.connect(
      Array.from({ length: 6 }, (_, i) => ({ proto: 'udp' as const, src: topo.client.src(200 + i), dst: vip, dport: 80 })),
    );
    expect(udp.every((r) => r.ok), JSON.stringify(udp)).toBe(true);
    expect(new Set(udp.map((r) => r.backend)).size).toBe(3);
    const v6 = await topo.connect(
      Array.from({ length: 6 }, (_, i) => ({ src: topo.client.src6(i), dst: vip6, dport: 80 })),
      { concurrency: 1 },
    );
    expect(v6.every((r) => r.ok), JSON.stringify(v6)).toBe(true);
    expect(new Set(v6.map((r) => r.backend)).size).toBe(3);
    expect(v6[0].peer).toBe(`[${topo.client.src6(0)}]:${v6[0].peer?.split(']:')[1]}`);
  });
});
