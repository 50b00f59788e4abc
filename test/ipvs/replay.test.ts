import { describe, expect, it } from 'vitest';
import { IpvsClient } from '../../src/ipvs/client.ts';
import { Conn } from '../../src/netlink/conn.ts';
import { call, captured, ReplayTransport } from './replay.ts';

// Decoding of real kernel replies (captured in the VM, Debian kernel) and golden request
// bytes: each replayed call must send exactly the bytes the kernel accepted then.

const family = { id: 32, name: 'IPVS', version: 1, headerSize: 0, maxAttr: 6 };
const tcp = { kind: 'addr', family: 'inet', protocol: 'tcp', address: '10.0.0.1', port: 80 } as const;
const udp6 = { kind: 'addr', family: 'inet6', protocol: 'udp', address: '2001:db8::1', port: 53 } as const;
const sctp = { kind: 'addr', family: 'inet', protocol: 'sctp', address: '10.0.0.2', port: 3868 } as const;
const fwmark = { kind: 'fwmark', family: 'inet', fwmark: 7 } as const;
const fwmark6 = { kind: 'fwmark', family: 'inet6', fwmark: 4294967295 } as const;
const d1 = { family: 'inet', address: '192.168.1.2', port: 8080 } as const;
const d2 = { family: 'inet', address: '192.168.1.3', port: 8080 } as const;
const d6 = { family: 'inet6', address: '2001:db8::10', port: 53 } as const;
const zeroStats = { conns: 0n, inPackets: 0n, outPackets: 0n, inBytes: 0n, outBytes: 0n, cps: 0n, inPps: 0n, outPps: 0n, inBps: 0n, outBps: 0n };

function replay(...names: string[]): { client: IpvsClient; transport: ReplayTransport } {
  const transport = new ReplayTransport(names.map(call));
  return { client: new IpvsClient(new Conn(transport, { timeoutMs: 200 }), family), transport };
}

async function expectReplay<T>(name: string, fn: (c: IpvsClient) => Promise<T>): Promise<T> {
  const { client, transport } = replay(name);
  const result = await fn(client);
  expect(transport.mismatches).toEqual([]);
  expect(transport.complete).toBe(true);
  return result;
}

describe('captured kernel conversations', () => {
  it('come from a real kernel', () => {
    expect(captured.kernel).toMatch(/^\d+\.\d+/);
    expect(captured.calls.length).toBeGreaterThan(40);
  });

  it('resolves the IPVS family from the nlctrl reply', async () => {
    const transport = new ReplayTransport([call('resolve IPVS')]);
    const client = await IpvsClient.create(new Conn(transport));
    expect(transport.mismatches).toEqual([]);
    expect(client.family).toMatchObject({ id: 32, name: 'IPVS', version: 1 });
  });

  it('getInfo and timeouts', async () => {
    expect(await expectReplay('getInfo', (c) => c.getInfo())).toEqual({ version: 0x010201, connTableSize: 4096 });
    expect(await expectReplay('getTimeouts', (c) => c.getTimeouts())).toEqual({ tcp: 900, tcpFin: 120, udp: 300 });
    await expectReplay('setTimeouts', (c) => c.setTimeouts({ tcp: 901, tcpFin: 121, udp: 301 }));
    await expectReplay('setTimeouts restore', (c) => c.setTimeouts({ tcp: 900, tcpFin: 120, udp: 300 }));
  });

  it('service writes send the accepted bytes', async () => {
    await expectReplay('addService tcp mh', (c) => c.addService(tcp, { scheduler: 'mh', flags: { portHash: true, fallback: true }, timeout: 0, netmask: '255.255.255.255' }));
    await expectReplay('addService udp6 sh persistent', (c) => c.addService(udp6, { scheduler: 'sh', flags: { persistent: true, portHash: true }, timeout: 300, netmask: '64' }));
    await expectReplay('addService sctp wlc sip', (c) => c.addService(sctp, { scheduler: 'wlc', flags: { persistent: true, onePacket: true, sched3: true }, timeout: 60, netmask: '255.255.255.0' }));
    await expectReplay('addService fwmark', (c) => c.addService(fwmark, { scheduler: 'wrr', flags: { onePacket: true }, timeout: 0, netmask: '255.255.255.255' }));
    await expectReplay('addService fwmark6', (c) => c.addService(fwmark6, { scheduler: 'rr', flags: {}, timeout: 0, netmask: '128' }));
    await expectReplay('updateService tcp', (c) => c.updateService(tcp, { scheduler: 'mh', flags: { portHash: true }, timeout: 0, netmask: '255.255.255.255' }));
    await expectReplay('deleteService', (c) => c.deleteService(sctp));
    await expectReplay('zero tcp', (c) => c.zero(tcp));
    await expectReplay('zero all', (c) => c.zero());
    await expectReplay('flush', (c) => c.flush({ allServicesInNamespace: true }));
  });

  it('destination writes send the accepted bytes', async () => {
    await expectReplay('addDestination droute', (c) => c.addDestination(tcp, d1, { forwarding: 'droute', weight: 3, upperThreshold: 0, lowerThreshold: 0 }));
    await expectReplay('addDestination tunnel gue', (c) => c.addDestination(tcp, d2, { forwarding: 'tunnel', weight: 2147483647, upperThreshold: 100, lowerThreshold: 10, tunnelType: 'gue', tunnelPort: 6080, tunnelFlags: 0 }));
    await expectReplay('addDestination masq v6', (c) => c.addDestination(udp6, d6, { forwarding: 'masq', weight: 0, upperThreshold: 0, lowerThreshold: 0 }));
    await expectReplay('updateDestination', (c) => c.updateDestination(tcp, d1, { forwarding: 'droute', weight: 5, upperThreshold: 0, lowerThreshold: 0 }));
    await expectReplay('deleteDestination', (c) => c.deleteDestination(tcp, d2));
  });

  it('maps every captured kernel error to its typed error', async () => {
    const cases: Array<[string, (c: IpvsClient) => Promise<unknown>, string, string]> = [
      ['addService tcp again (EEXIST)', (c) => c.addService(tcp, { scheduler: 'rr', flags: {}, timeout: 0, netmask: '255.255.255.255' }), 'ServiceExists', 'SERVICE_EXISTS'],
      ['addService unknown scheduler (ENOENT)', (c) => c.addService({ ...tcp, port: 81 }, { scheduler: 'nosuch', flags: {}, timeout: 0, netmask: '255.255.255.255' }), 'UnknownScheduler', 'UNKNOWN_SCHEDULER'],
      ['updateService missing (ESRCH)', (c) => c.updateService({ ...tcp, port: 81 }, { scheduler: 'rr', flags: {}, timeout: 0, netmask: '255.255.255.255' }), 'NoSuchService', 'NO_SUCH_SERVICE'],
      ['addDestination again (EEXIST)', (c) => c.addDestination(tcp, d1, { forwarding: 'droute', weight: 3, upperThreshold: 0, lowerThreshold: 0 }), 'DestinationExists', 'DESTINATION_EXISTS'],
      ['addDestination thresholds (ERANGE)', (c) => c.addDestination(tcp, { ...d1, port: 9 }, { forwarding: 'masq', weight: 1, upperThreshold: 5, lowerThreshold: 6 }), 'OutOfRange', 'OUT_OF_RANGE'],
      ['updateDestination missing (ENOENT)', (c) => c.updateDestination(tcp, { ...d1, port: 1 }, { forwarding: 'droute', weight: 5, upperThreshold: 0, lowerThreshold: 0 }), 'NoSuchDestination', 'NO_SUCH_DESTINATION'],
      ['deleteDestination missing (ENOENT)', (c) => c.deleteDestination(tcp, d2), 'NoSuchDestination', 'NO_SUCH_DESTINATION'],
      ['deleteService missing (ESRCH)', (c) => c.deleteService(sctp), 'NoSuchService', 'NO_SUCH_SERVICE'],
    ];
    for (const [name, fn, cls, code] of cases) {
      const { client, transport } = replay(name);
      const err = await fn(client).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(transport.mismatches, name).toEqual([]);
      expect(err, name).toMatchObject({ name: cls, code });
      expect(call(name).error?.startsWith(cls), name).toBe(true);
    }
  });

  it('decodes the service dump: IPv4/IPv6, tcp/udp/sctp, fwmark, flags, netmasks, STATS64', async () => {
    const services = await expectReplay('listServices', (c) => c.listServices());
    const byKey = new Map(services.map((s) => [JSON.stringify(s.key), s]));
    expect(services).toHaveLength(5);
    expect(byKey.get(JSON.stringify(tcp))).toEqual({ key: tcp, config: { scheduler: 'mh', flags: { portHash: true }, timeout: 0, netmask: '255.255.255.255' }, stats: zeroStats });
    expect(byKey.get(JSON.stringify(udp6))).toEqual({ key: udp6, config: { scheduler: 'sh', flags: { persistent: true, portHash: true }, timeout: 300, netmask: '64' }, stats: zeroStats });
    expect(byKey.get(JSON.stringify(sctp))).toEqual({ key: sctp, config: { scheduler: 'wlc', flags: { persistent: true, onePacket: true, sched3: true }, timeout: 60, netmask: '255.255.255.0' }, stats: zeroStats });
    expect(byKey.get(JSON.stringify(fwmark))).toEqual({ key: fwmark, config: { scheduler: 'wrr', flags: { onePacket: true }, timeout: 0, netmask: '255.255.255.255' }, stats: zeroStats });
    expect(byKey.get(JSON.stringify(fwmark6))).toEqual({ key: fwmark6, config: { scheduler: 'rr', flags: {}, timeout: 0, netmask: '128' }, stats: zeroStats });
  });

  it('getService: found and missing', async () => {
    const s = await expectReplay('getService tcp', (c) => c.getService(tcp));
    expect(s?.key).toEqual(tcp);
    expect(s?.config.scheduler).toBe('mh');
    expect(await expectReplay('getService missing', (c) => c.getService({ ...tcp, port: 81 }))).toBeUndefined();
  });

  it('decodes destination dumps in kernel order (newest first), u32 weights, tunnel fields', async () => {
    const dests = await expectReplay('listDestinations tcp', (c) => c.listDestinations(tcp));
    expect(dests.map((d) => d.key)).toEqual([d2, d1]);
    expect(dests[0].config).toEqual({ forwarding: 'tunnel', weight: 2147483647, upperThreshold: 100, lowerThreshold: 10, tunnelType: 'gue', tunnelPort: 6080, tunnelFlags: 0 });
    expect(dests[1].config).toEqual({ forwarding: 'droute', weight: 5, upperThreshold: 0, lowerThreshold: 0 });
    expect(dests[1]).toMatchObject({ activeConns: 0, inactiveConns: 0, persistentConns: 0, stats: zeroStats });
    const v6 = await expectReplay('listDestinations udp6', (c) => c.listDestinations(udp6));
    expect(v6.map((d) => [d.key, d.config.forwarding])).toEqual([[d6, 'masq']]);
    expect(await expectReplay('listDestinations missing', (c) => c.listDestinations({ ...tcp, port: 81 }))).toEqual([]);
  });

  it('batch: per-operation results from pipelined ACKs', async () => {
    const results = await expectReplay('batch', (c) =>
      c.batch([
        { op: 'addService', service: sctp, config: { scheduler: 'rr', flags: {}, timeout: 0, netmask: '255.255.255.255' } },
        { op: 'addService', service: sctp, config: { scheduler: 'rr', flags: {}, timeout: 0, netmask: '255.255.255.255' } },
        { op: 'addDestination', service: sctp, destination: d1, config: { forwarding: 'masq', weight: 1, upperThreshold: 0, lowerThreshold: 0 } },
        { op: 'deleteDestination', service: sctp, destination: d2 },
        { op: 'updateService', service: sctp, config: { scheduler: 'wrr', flags: {}, timeout: 0, netmask: '255.255.255.255' } },
        { op: 'updateDestination', service: sctp, destination: d1, config: { forwarding: 'masq', weight: 4, upperThreshold: 0, lowerThreshold: 0 } },
        { op: 'deleteService', service: sctp },
      ]),
    );
    expect(results.map((r) => r?.code)).toEqual([undefined, 'SERVICE_EXISTS', undefined, 'NO_SUCH_DESTINATION', undefined, undefined, undefined]);
    expect(call('batch').requests).toHaveLength(1); // all seven in one datagram
  });
});
