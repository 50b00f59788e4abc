import type { Destination, DestinationConfig, Service, ServiceConfig, ServiceKey, Stats } from '../../src/ipvs/types.ts';
import type { ServiceWithDestinations } from '../../src/cli/ipvsadm/format.ts';

// A small table covering every branch of ipvsadm's printing: all protocols, IPv6, fwmark
// (v4 and v6), persistence with netmask, one-packet, sh/mh flags, masq/DR/tunnel (ipip, gue,
// gre), thresholds, and two addresses that ipvsadm's u32-difference comparator sorts
// "backwards" (200.0.0.1 before 10.0.0.1).

export function flags(f: Partial<ServiceConfig['flags']> = {}): ServiceConfig['flags'] {
  return { persistent: false, onePacket: false, fallback: false, portHash: false, sched3: false, ...f };
}

export function svc(key: ServiceKey, config: Partial<ServiceConfig> & { flags?: ServiceConfig['flags'] } = {}, stats?: Stats): Service {
  const netmask = key.family === 'inet6' ? '128' : '255.255.255.255';
  return { key, config: { scheduler: 'wlc', timeout: 0, netmask, ...config, flags: config.flags ?? flags() }, ...(stats ? { stats } : {}) };
}

export function dest(address: string, port: number, config: Partial<DestinationConfig> = {}, extra: Partial<Destination> = {}): Destination {
  const family = address.includes(':') ? 'inet6' : 'inet';
  return {
    key: { family, address, port },
    config: { forwarding: 'masq', weight: 1, upperThreshold: 0, lowerThreshold: 0, ...config },
    ...extra,
  };
}

export function stats(n: bigint): Stats {
  return { conns: n, inPackets: n * 2n, outPackets: n * 3n, inBytes: n * 100n, outBytes: n * 1000n, cps: n, inPps: n, outPps: n, inBps: n * 10n, outBps: n * 20n };
}

export const SAMPLE: ServiceWithDestinations[] = [
  {
    service: svc({ kind: 'addr', family: 'inet', protocol: 'tcp', address: '10.0.0.1', port: 80 }, { scheduler: 'mh', flags: flags({ fallback: true, portHash: true }) }, stats(5n)),
    destinations: [
      dest('10.0.1.2', 8080, { weight: 1 }, { activeConns: 3, inactiveConns: 7, persistentConns: 0, stats: stats(2n) }),
      dest('10.0.1.1', 8080, { weight: 2, upperThreshold: 100, lowerThreshold: 10 }, { activeConns: 1, inactiveConns: 0, persistentConns: 0, stats: stats(3n) }),
    ],
  },
  {
    service: svc({ kind: 'addr', family: 'inet', protocol: 'udp', address: '10.0.0.1', port: 53 }, { scheduler: 'rr', timeout: 300, netmask: '255.255.255.0', flags: flags({ persistent: true, onePacket: true }) }),
    destinations: [dest('10.0.1.1', 53, { forwarding: 'droute', weight: 0 })],
  },
  {
    service: svc({ kind: 'fwmark', family: 'inet', fwmark: 7 }),
    destinations: [dest('10.0.2.1', 0, { forwarding: 'tunnel', tunnelType: 'gue', tunnelPort: 6080, tunnelFlags: 1 })],
  },
  {
    service: svc({ kind: 'fwmark', family: 'inet6', fwmark: 8 }, { scheduler: 'sh', flags: flags({ portHash: true }) }),
    destinations: [dest('2001:db8::5', 0, { forwarding: 'droute' })],
  },
  {
    service: svc({ kind: 'addr', family: 'inet6', protocol: 'tcp', address: '2001:db8::1', port: 443 }, { scheduler: 'wrr', timeout: 600, netmask: '64', flags: flags({ persistent: true }), persistenceEngine: 'sip' }),
    destinations: [dest('2001:db8::10', 443, { weight: 3 }), dest('10.9.9.9', 443, { forwarding: 'tunnel', tunnelType: 'ipip', tunnelPort: 0, tunnelFlags: 0 })],
  },
  {
    service: svc({ kind: 'addr', family: 'inet', protocol: 'sctp', address: '10.0.0.2', port: 3868 }, { scheduler: 'lc' }),
    destinations: [dest('10.0.1.9', 3868, { forwarding: 'tunnel', tunnelType: 'gre', tunnelPort: 0, tunnelFlags: 0 })],
  },
  {
    service: svc({ kind: 'addr', family: 'inet', protocol: 'tcp', address: '200.0.0.1', port: 80 }, { scheduler: 'rr' }),
    destinations: [],
  },
];
