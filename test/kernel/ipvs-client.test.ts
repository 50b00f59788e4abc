// The netlink IPVS client against a real IPVS kernel: every operation, every kernel error
// mapped to its typed error, a named network namespace, stats after real traffic, and
// 2,000 services x 10 destinations created and read back intact (one service at a time and all
// services in one conversation).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type IpvsClient, type IpvsOperation, openIpvs } from '../../src/ipvs/index.ts';
import type { DestinationConfig, DestinationKey, ServiceConfig, ServiceKey } from '../../src/ipvs/types.ts';
import { validateDesiredState } from '../../src/model/validate.ts';
import { assertIpvsKernel, clearIpvs, createTopology, ipvsadm, run, type Topology } from './lib/index.ts';

const tcp: ServiceKey = { kind: 'addr', family: 'inet', protocol: 'tcp', address: '10.0.0.1', port: 80 };
const udp6: ServiceKey = { kind: 'addr', family: 'inet6', protocol: 'udp', address: '2001:db8::1', port: 53 };
const sctp: ServiceKey = { kind: 'addr', family: 'inet', protocol: 'sctp', address: '10.0.0.2', port: 3868 };
const fw: ServiceKey = { kind: 'fwmark', family: 'inet', fwmark: 7 };
const fw6: ServiceKey = { kind: 'fwmark', family: 'inet6', fwmark: 0xffffffff };
const rr: ServiceConfig = { scheduler: 'rr', flags: {}, timeout: 0, netmask: '255.255.255.255' };
const masq: DestinationConfig = { forwarding: 'masq', weight: 1, upperThreshold: 0, lowerThreshold: 0 };
const dest = (address: string, port = 80): DestinationKey => ({ family: address.includes(':') ? 'inet6' : 'inet', address, port });

let c: IpvsClient;

beforeAll(async () => {
  assertIpvsKernel();
  await clearIpvs();
  c = await openIpvs({ timeoutMs: 30_000 });
});
afterAll(async () => {
  await clearIpvs().catch(() => {});
  c?.close();
});

describe('info and timeouts', () => {
  it('getInfo matches /proc/net/ip_vs', async () => {
    const info = await c.getInfo();
    const header = readFileSync('/proc/net/ip_vs', 'utf8').split('\n')[0];
    const m = /version (\d+)\.(\d+)\.(\d+) \(size=(\d+)\)/.exec(header);
    expect(m).not.toBeNull();
    expect(info.version).toBe((Number(m![1]) << 16) | (Number(m![2]) << 8) | Number(m![3]));
    expect(info.connTableSize).toBe(Number(m![4]));
  });

  it('setTimeouts / getTimeouts round-trip and agree with ipvsadm', async () => {
    const before = await c.getTimeouts();
    await c.setTimeouts({ tcp: 901, tcpFin: 121, udp: 301 });
    expect(await c.getTimeouts()).toEqual({ tcp: 901, tcpFin: 121, udp: 301 });
    expect(await ipvsadm(['-L', '--timeout'])).toMatch(/901 121 301/);
    await c.setTimeouts(before);
    expect(await c.getTimeouts()).toEqual(before);
  });
});

describe('services and destinations', () => {
  beforeEach(async () => {
    await clearIpvs();
  });

  it('creates every kind of service and reads it back exactly, in one dump', async () => {
    const wanted: Array<[ServiceKey, ServiceConfig]> = [
      [tcp, { scheduler: 'mh', flags: { fallback: true, portHash: true }, timeout: 0, netmask: '255.255.255.255' }],
      [udp6, { scheduler: 'sh', flags: { persistent: true, fallback: true, portHash: true }, timeout: 300, netmask: '64' }],
      [sctp, { scheduler: 'wlc', flags: { persistent: true, onePacket: true, sched3: true }, timeout: 60, netmask: '255.255.255.0' }],
      [fw, { scheduler: 'wrr', flags: { onePacket: true }, timeout: 0, netmask: '255.255.255.255' }],
      [fw6, { scheduler: 'lc', flags: {}, timeout: 0, netmask: '128' }],
      [{ ...tcp, port: 5060, protocol: 'udp' }, { scheduler: 'rr', flags: { persistent: true }, timeout: 30, netmask: '255.255.255.255', persistenceEngine: 'sip' }],
    ];
    for (const [key, config] of wanted) await c.addService(key, config);
    const listed = await c.listServices();
    expect(listed).toHaveLength(wanted.length);
    for (const [key, config] of wanted) {
      const got = listed.find((s) => JSON.stringify(s.key) === JSON.stringify(key));
      expect(got?.config, JSON.stringify(key)).toEqual(config);
      expect(got?.stats?.conns).toBe(0n);
      expect((await c.getService(key))?.config).toEqual(config);
    }
    const text = await ipvsadm('-Ln');
    expect(text).toMatch(/TCP\s+10\.0\.0\.1:80 mh \(mh-fallback,mh-port\)/);
    expect(text).toMatch(/UDP\s+\[2001:db8::1\]:53 sh \(sh-fallback,sh-port\) persistent 300 mask 64/);
    expect(text).toMatch(/FWM\s+7 wrr ops/);
    expect(text).toMatch(/persistent 30 pe sip/);
    expect(await c.getService({ ...tcp, port: 81 })).toBeUndefined();
  });

  it('every forwarding method, thresholds, u32 weights, IPv6 and cross-family tunnel destinations', async () => {
    await c.addService(tcp, rr);
    await c.addService(udp6, { ...rr, netmask: '128' });
    const v4: Array<[DestinationKey, DestinationConfig]> = [
      [dest('192.168.1.1'), { forwarding: 'masq', weight: 0, upperThreshold: 0, lowerThreshold: 0 }],
      [dest('192.168.1.2'), { forwarding: 'droute', weight: 2147483647, upperThreshold: 1000, lowerThreshold: 10 }],
      [dest('192.168.1.3'), { forwarding: 'tunnel', weight: 5, upperThreshold: 0, lowerThreshold: 0, tunnelType: 'ipip', tunnelPort: 0, tunnelFlags: 0 }],
      [dest('192.168.1.4'), { forwarding: 'tunnel', weight: 5, upperThreshold: 0, lowerThreshold: 0, tunnelType: 'gue', tunnelPort: 6080, tunnelFlags: 0 }],
      [dest('192.168.1.5'), { forwarding: 'tunnel', weight: 5, upperThreshold: 0, lowerThreshold: 0, tunnelType: 'gre', tunnelPort: 0, tunnelFlags: 0 }],
      [dest('192.168.1.6'), { forwarding: 'bypass', weight: 1, upperThreshold: 0, lowerThreshold: 0 }],
    ];
    for (const [k, cfg] of v4) await c.addDestination(tcp, k, cfg);
    await c.addDestination(tcp, dest('127.0.0.1', 8080), { ...masq, forwarding: 'local' });
    const got = await c.listDestinations(tcp);
    // The kernel lists newest first.
    expect(got.map((d) => d.key)).toEqual([dest('127.0.0.1', 8080), ...v4.map(([k]) => k).reverse()]);
    for (const [k, cfg] of v4) expect(got.find((d) => d.key.address === k.address)?.config).toEqual(cfg);
    expect(got[0].config.forwarding).toBe('local');
    for (const d of got) expect(d).toMatchObject({ activeConns: 0, inactiveConns: 0, persistentConns: 0 });

    await c.addDestination(udp6, dest('2001:db8::10', 53), masq);
    await c.addDestination(udp6, dest('192.168.1.9', 53), { ...masq, forwarding: 'tunnel', tunnelType: 'ipip' });
    const six = await c.listDestinations(udp6);
    expect(six.map((d) => [d.key, d.config.forwarding])).toEqual([
      [dest('192.168.1.9', 53), 'tunnel'],
      [dest('2001:db8::10', 53), 'masq'],
    ]);
    expect(await ipvsadm('-Ln')).toMatch(/-> 192\.168\.1\.4:80\s+Tunnel\s+5/);
  });

  it('updates and deletes services and destinations', async () => {
    await c.addService(tcp, rr);
    await c.addDestination(tcp, dest('192.168.1.1'), masq);
    await c.addDestination(tcp, dest('192.168.1.2'), masq);
    await c.updateService(tcp, { scheduler: 'mh', flags: { portHash: true }, timeout: 0, netmask: '255.255.255.255' });
    expect((await c.getService(tcp))?.config).toEqual({ scheduler: 'mh', flags: { portHash: true }, timeout: 0, netmask: '255.255.255.255' });
    await c.updateDestination(tcp, dest('192.168.1.1'), { ...masq, weight: 7, upperThreshold: 9, lowerThreshold: 3 });
    expect((await c.listDestinations(tcp)).find((d) => d.key.address === '192.168.1.1')?.config).toEqual({ ...masq, weight: 7, upperThreshold: 9, lowerThreshold: 3 });
    await c.deleteDestination(tcp, dest('192.168.1.2'));
    expect((await c.listDestinations(tcp)).map((d) => d.key.address)).toEqual(['192.168.1.1']);
    await c.deleteService(tcp);
    expect(await c.listServices()).toEqual([]);
    expect(await c.listDestinations(tcp)).toEqual([]);
  });

  it('zero() and flush()', async () => {
    await c.addService(tcp, rr);
    await c.addService(sctp, rr);
    await c.zero(tcp);
    await c.zero();
    await expect(c.zero({ ...tcp, port: 1 })).rejects.toMatchObject({ code: 'NO_SUCH_SERVICE' });
    await c.flush({ allServicesInNamespace: true });
    expect(await c.listServices()).toEqual([]);
  });

  it('maps every kernel error to its typed error', async () => {
    await c.addService(tcp, rr);
    await c.addDestination(tcp, dest('192.168.1.1'), masq);
    const missing = { ...tcp, port: 81 };
    const cases: Array<[() => Promise<unknown>, string, string]> = [
      [() => c.addService(tcp, rr), 'ServiceExists', 'EEXIST'],
      [() => c.updateService(missing, rr), 'NoSuchService', 'ESRCH'],
      [() => c.deleteService(missing), 'NoSuchService', 'ESRCH'],
      [() => c.addDestination(missing, dest('192.168.1.1'), masq), 'NoSuchService', 'ESRCH'],
      [() => c.addDestination(tcp, dest('192.168.1.1'), masq), 'DestinationExists', 'EEXIST'],
      [() => c.updateDestination(tcp, dest('192.168.1.7'), masq), 'NoSuchDestination', 'ENOENT'],
      [() => c.deleteDestination(tcp, dest('192.168.1.7')), 'NoSuchDestination', 'ENOENT'],
      [() => c.addService(missing, { ...rr, scheduler: 'nosuch' }), 'UnknownScheduler', 'ENOENT'],
      [() => c.addDestination(tcp, dest('192.168.1.8'), { ...masq, upperThreshold: 5, lowerThreshold: 6 }), 'OutOfRange', 'ERANGE'],
      [() => c.addDestination(tcp, dest('192.168.1.8'), { ...masq, weight: 0x80000000 }), 'OutOfRange', 'ERANGE'],
      // An IPv6 real server behind an IPv4 service needs tunnelling.
      [() => c.addDestination(tcp, dest('2001:db8::9'), masq), 'InvalidArgument', 'EINVAL'],
    ];
    for (const [fn, name, errno] of cases) {
      const err = await fn().then(() => undefined, (e: unknown) => e);
      expect(err, `${name} ${errno}`).toMatchObject({ name, errno });
    }
  });

  it('refuses an IPv4-mapped destination (::ffff:a.b.c.d) in an IPv6 service whatever the forwarding, takes its IPv4 address with tunnel forwarding, and validate says so first', async () => {
    // Issue 13: ip_vs_new_dest refuses IPv6 destinations that are not unicast, and ipv6_addr_type() gives
    // ::ffff:a.b.c.d IPV6_ADDR_MAPPED without IPV6_ADDR_UNICAST. The model check must agree with the kernel.
    const svc6: ServiceKey = { kind: 'addr', family: 'inet6', protocol: 'tcp', address: 'fd00:100::20', port: 80 };
    const rr6: ServiceConfig = { ...rr, netmask: '128' };
    await c.addService(svc6, rr6);
    for (const forwarding of ['masq', 'droute', 'tunnel'] as const) {
      const err = await c.addDestination(svc6, dest('::ffff:10.9.0.2', 8080), { ...masq, forwarding }).then(() => undefined, (e: unknown) => e);
      expect(err, forwarding).toMatchObject({ name: 'InvalidArgument', errno: 'EINVAL' });
    }
    expect(await c.listDestinations(svc6)).toEqual([]);
    const tunnel: DestinationConfig = { ...masq, forwarding: 'tunnel', tunnelType: 'ipip', tunnelPort: 0, tunnelFlags: 0 };
    await c.addDestination(svc6, dest('10.9.0.2', 8080), tunnel);
    expect((await c.listDestinations(svc6)).map((d) => [d.key.family, d.key.address, d.config.forwarding])).toEqual([['inet', '10.9.0.2', 'tunnel']]);

    const state = (address: string, config: DestinationConfig) => ({
      services: [{ name: 'web6', key: svc6, config: rr6, bindAddress: true, destinations: [{ key: dest(address, 8080), config }] }],
    });
    const refused = validateDesiredState(state('::ffff:10.9.0.2', masq));
    expect(refused.map((p) => p.path)).toEqual(['services[web6].destinations[0].key.address']);
    expect(refused[0].message).toMatch(/IPv4-mapped.*the kernel refuses.*10\.9\.0\.2.*tunnel/);
    expect(validateDesiredState(state('10.9.0.2', tunnel))).toEqual([]);
  });

  it('PermissionDenied without CAP_NET_ADMIN', () => {
    const index = fileURLToPath(new URL('../../src/ipvs/index.ts', import.meta.url));
    const script = `import(${JSON.stringify(index)}).then((m) => m.openIpvs()).then((c) => c.listServices()).then(() => console.log('ALLOWED'), (e) => console.log(e.name + ': ' + e.message))`;
    const out = execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', process.execPath, '-e', script], { encoding: 'utf8' });
    expect(out.trim()).toMatch(/^PermissionDenied: .*needs CAP_NET_ADMIN \(run as root\)/);
  });
});

describe('batch', () => {
  beforeEach(async () => {
    await clearIpvs();
  });

  it('2,000 services x 10 destinations are created and read back intact', { timeout: 900_000 }, async () => {
    const ops: IpvsOperation[] = [];
    const expected = new Map<string, string[]>();
    for (let i = 0; i < 2000; i++) {
      const service: ServiceKey = { kind: 'addr', family: 'inet', protocol: i % 2 ? 'udp' : 'tcp', address: `10.1.${i >> 8}.${i & 255}`, port: 80 + (i % 7) };
      ops.push({ op: 'addService', service, config: { ...rr, scheduler: i % 3 ? 'rr' : 'mh' } });
      const dests: string[] = [];
      for (let d = 0; d < 10; d++) {
        const destination = dest(`10.2.${d}.${(i % 250) + 1}`, 8000 + d);
        ops.push({ op: 'addDestination', service, destination, config: { ...masq, weight: i * 10 + d } });
        dests.push(`${destination.address}:${destination.port}/${i * 10 + d}`);
      }
      expected.set(JSON.stringify(service), dests.reverse());
    }
    const results = await c.batch(ops);
    expect(results.filter(Boolean)).toEqual([]);
    const services = await c.listServices();
    expect(services).toHaveLength(2000);
    for (const s of services) {
      const want = expected.get(JSON.stringify(s.key));
      expect(want, JSON.stringify(s.key)).toBeDefined();
      const got = (await c.listDestinations(s.key)).map((d) => `${d.key.address}:${d.key.port}/${d.config.weight}`);
      expect(got).toEqual(want);
    }
    // The same table through the back-to-back dumps of listDestinationsOf: the kernel's order, per service.
    const all = await c.listDestinationsOf(services.map((s) => s.key));
    expect(all).toHaveLength(2000);
    services.forEach((s, i) => {
      expect(all[i].map((d) => `${d.key.address}:${d.key.port}/${d.config.weight}`)).toEqual(expected.get(JSON.stringify(s.key)));
    });
    const saved = await ipvsadm('-Sn');
    expect(saved.split('\n').filter((l) => l.startsWith('-a')).length).toBe(20_000);
  });
});

describe('named network namespace', () => {
  const ns = 'h3ipvs';
  beforeAll(async () => {
    await run(['ip', 'netns', 'del', ns]).catch(() => {});
    await run(['ip', 'netns', 'add', ns]);
  });
  afterAll(async () => {
    await run(['ip', 'netns', 'del', ns]).catch(() => {});
  });

  it('acts inside /var/run/netns/NAME and leaves the caller where it was', async () => {
    await clearIpvs();
    const inside = await openIpvs({ netns: ns });
    try {
      await inside.addService(tcp, rr);
      expect((await inside.listServices()).map((s) => s.key)).toEqual([tcp]);
      expect(await c.listServices()).toEqual([]);
      // A socket opened after that is in the original namespace again.
      const again = await openIpvs();
      expect(await again.listServices()).toEqual([]);
      again.close();
      expect(await run(['ip', 'netns', 'exec', ns, 'ipvsadm', '-Ln'])).toMatch(/10\.0\.0\.1:80 rr/);
    } finally {
      inside.close();
    }
  });

  it('a missing namespace is a clear error', async () => {
    await expect(openIpvs({ netns: 'no-such-ns' })).rejects.toThrow(/no-such-ns.*ENOENT.*ip netns list/);
  });
});

describe('stats after real traffic', () => {
  let topo: Topology;
  beforeAll(async () => {
    await clearIpvs();
    topo = await createTopology({ prefix: 'h3s', backends: 3 });
  });
  afterAll(async () => {
    await topo?.cleanup();
  });

  it('counts connections, packets and bytes per service and destination; zero() resets them', { timeout: 300_000 }, async () => {
    const vip = topo.vips[0];
    const svc: ServiceKey = { kind: 'addr', family: 'inet', protocol: 'tcp', address: vip, port: 80 };
    await c.addService(svc, rr);
    for (const b of topo.backends) await c.addDestination(svc, dest(b.ip), masq);
    const results = await topo.connect(Array.from({ length: 30 }, (_, i) => ({ src: topo.client.src(i), sport: 30_000 + i, dst: vip, dport: 80 })));
    expect(results.filter((r) => !r.ok)).toEqual([]);
    // The kernel publishes counters from its rate estimator, every 2 s: wait for them.
    let s = (await c.getService(svc))!;
    for (let i = 0; i < 20 && s.stats?.conns !== 30n; i++) {
      await new Promise((r) => setTimeout(r, 500));
      s = (await c.getService(svc))!;
    }
    expect(s.stats?.conns).toBe(30n);
    expect(s.stats!.inPackets).toBeGreaterThanOrEqual(90n);
    expect(s.stats!.outPackets).toBeGreaterThan(0n);
    expect(s.stats!.inBytes).toBeGreaterThan(0n);
    expect(s.stats!.outBytes).toBeGreaterThan(0n);
    const dests = await c.listDestinations(svc);
    expect(dests.map((d) => d.stats?.conns)).toEqual([10n, 10n, 10n]);
    // Closed TCP connections linger in TIME_WAIT: counted as inactive.
    expect(dests.reduce((n, d) => n + (d.activeConns ?? 0) + (d.inactiveConns ?? 0), 0)).toBe(30);
    expect((await c.listServices()).find((x) => x.key.kind === 'addr' && x.key.address === vip)?.stats?.conns).toBe(30n);
    await c.zero(svc);
    expect((await c.getService(svc))?.stats?.conns).toBe(0n);
    expect((await c.listDestinations(svc)).map((d) => d.stats?.conns)).toEqual([0n, 0n, 0n]);
  });
});
