// VIP binding over rtnetlink against the real kernel: the dummy interface is created and
// brought up, addresses are added/listed/removed idempotently, a named namespace works,
// and a VIP bound by us carries real IPVS traffic.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openIpvs, openVips } from '../../src/ipvs/index.ts';
import type { ServiceKey } from '../../src/ipvs/types.ts';
import { assertIpvsKernel, clearIpvs, createTopology, run, type Topology } from './lib/index.ts';

const IF = 'h3vip0';

async function linkDetails(name: string, netns?: string): Promise<string> {
  return run([...(netns ? ['ip', '-n', netns] : ['ip']), '-d', 'link', 'show', name]);
}
async function addrs(name: string, netns?: string): Promise<string[]> {
  const out = await run([...(netns ? ['ip', '-n', netns] : ['ip']), '-j', 'addr', 'show', 'dev', name]);
  const parsed = JSON.parse(out) as Array<{ addr_info: Array<{ local: string; prefixlen: number; scope: string }> }>;
  return parsed[0].addr_info.filter((a) => a.scope !== 'link').map((a) => `${a.local}/${a.prefixlen}`);
}

beforeAll(async () => {
  assertIpvsKernel();
  await run(['ip', 'link', 'del', IF]).catch(() => {});
});
afterAll(async () => {
  await run(['ip', 'link', 'del', IF]).catch(() => {});
  await run(['ip', 'link', 'del', 'h3br0']).catch(() => {});
});

describe('VIP binding (rtnetlink)', () => {
  it('creates the dummy interface up, and is idempotent', async () => {
    const v = await openVips({ interfaceName: IF });
    try {
      await v.ensureInterface();
      const details = await linkDetails(IF);
      expect(details).toMatch(/dummy/);
      expect(details).toMatch(/<[^>]*\bUP\b[^>]*>/);
      await v.ensureInterface();
      // Brought back up when someone took it down.
      await run(['ip', 'link', 'set', IF, 'down']);
      await v.ensureInterface();
      expect(await linkDetails(IF)).toMatch(/<[^>]*\bUP\b[^>]*>/);
    } finally {
      v.close();
    }
  });

  it('adds, lists and removes host addresses; repeats are not errors', async () => {
    const v = await openVips({ interfaceName: IF });
    try {
      await v.ensureInterface();
      await v.addAddress('10.123.0.1');
      await v.addAddress('10.123.0.1');
      await v.addAddress('2001:DB8::7');
      expect((await addrs(IF)).sort()).toEqual(['10.123.0.1/32', '2001:db8::7/128']);
      expect((await v.listAddresses()).sort()).toEqual(['10.123.0.1', '2001:db8::7']);
      await v.removeAddress('10.123.0.1');
      await v.removeAddress('10.123.0.1');
      expect(await v.listAddresses()).toEqual(['2001:db8::7']);
      await v.removeAddress('2001:db8::7');
      expect(await v.listAddresses()).toEqual([]);
      await expect(v.addAddress('10.123.0.300')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    } finally {
      v.close();
    }
  });

  it('refuses an existing interface that is not a dummy', async () => {
    await run(['ip', 'link', 'add', 'h3br0', 'type', 'bridge']);
    const v = await openVips({ interfaceName: 'h3br0' });
    try {
      await expect(v.ensureInterface()).rejects.toThrow(/bridge interface, not dummy/);
    } finally {
      v.close();
    }
  });

  it('works inside a named network namespace', async () => {
    const ns = 'h3vipns';
    await run(['ip', 'netns', 'del', ns]).catch(() => {});
    await run(['ip', 'netns', 'add', ns]);
    try {
      const v = await openVips({ interfaceName: 'ipvs0', netns: ns });
      await v.ensureInterface();
      await v.addAddress('10.9.9.9');
      v.close();
      expect(await addrs('ipvs0', ns)).toEqual(['10.9.9.9/32']);
      await expect(run(['ip', 'link', 'show', 'ipvs0'])).rejects.toThrow();
    } finally {
      await run(['ip', 'netns', 'del', ns]).catch(() => {});
    }
  });
});

describe('a VIP bound by the client carries IPVS traffic', () => {
  let topo: Topology;
  beforeAll(async () => {
    await clearIpvs();
    topo = await createTopology({ prefix: 'h3v', backends: 2, vips: [] });
  });
  afterAll(async () => {
    await clearIpvs().catch(() => {});
    await topo?.cleanup();
  });

  it('connections to a VIP bound by the client reach every backend', { timeout: 300_000 }, async () => {
    const vip = '10.100.0.42';
    const ipvs = await openIpvs();
    const v = await openVips({ interfaceName: IF });
    try {
      const svc: ServiceKey = { kind: 'addr', family: 'inet', protocol: 'tcp', address: vip, port: 80 };
      await ipvs.addService(svc, { scheduler: 'rr', flags: {}, timeout: 0, netmask: '255.255.255.255' });
      for (const b of topo.backends) await ipvs.addDestination(svc, { family: 'inet', address: b.ip, port: 80 }, { forwarding: 'masq', weight: 1, upperThreshold: 0, lowerThreshold: 0 });
      await v.ensureInterface();
      await v.addAddress(vip);
      const ok = await topo.connect(Array.from({ length: 4 }, (_, i) => ({ src: topo.client.src(i), dst: vip, dport: 80 })));
      expect(ok.filter((r) => !r.ok)).toEqual([]);
      expect(new Set(ok.map((r) => r.backend))).toEqual(new Set(topo.backends.map((b) => b.name)));
    } finally {
      await v.removeAddress(vip);
      v.close();
      ipvs.close();
    }
  });
});
