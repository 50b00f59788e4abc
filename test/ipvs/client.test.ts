import { describe, expect, it } from 'vitest';
import { IpvsClient } from '../../src/ipvs/client.ts';
import { IpvsRequests } from '../../src/ipvs/codec.ts';
import { NLM_F_DUMP_INTR, NLM_F_MULTI } from '../../src/netlink/constants.ts';
import { IpvsError } from '../../src/ipvs/errors.ts';
import type { Message } from '../../src/netlink/message.ts';
import { ackReply, doneReply, type FakeReply, testConn } from '../../src/netlink/testing.ts';
import type { FakeKernel } from '../../src/netlink/testing.ts';

const family = { id: 32, name: 'IPVS', version: 1, headerSize: 0, maxAttr: 6 };
const tcp = { kind: 'addr', family: 'inet', protocol: 'tcp', address: '10.0.0.1', port: 80 } as const;
const cfg = { scheduler: 'rr', flags: {}, timeout: 0, netmask: '255.255.255.255' };
const dcfg = { forwarding: 'masq', weight: 1, upperThreshold: 0, lowerThreshold: 0 } as const;
const d1 = { family: 'inet', address: '10.1.0.1', port: 80 } as const;

function client(kernel: FakeKernel, timeoutMs = 100) {
  const { conn, transport } = testConn(kernel, { timeoutMs, dumpAttempts: 3 });
  return { c: new IpvsClient(conn, family), transport };
}

const errno = (n: number): FakeKernel => (req) => [ackReply(req, n)];

describe('IpvsClient error mapping', () => {
  const cases: Array<[string, number, (c: IpvsClient) => Promise<unknown>, string]> = [
    ['EPERM on any command', 1, (c) => c.getInfo(), 'PERMISSION_DENIED'],
    ['EEXIST on NEW_SERVICE', 17, (c) => c.addService(tcp, cfg), 'SERVICE_EXISTS'],
    ['EEXIST on NEW_DEST', 17, (c) => c.addDestination(tcp, d1, dcfg), 'DESTINATION_EXISTS'],
    ['ESRCH on SET_SERVICE', 3, (c) => c.updateService(tcp, cfg), 'NO_SUCH_SERVICE'],
    ['ESRCH on NEW_DEST', 3, (c) => c.addDestination(tcp, d1, dcfg), 'NO_SUCH_SERVICE'],
    ['ESRCH on ZERO', 3, (c) => c.zero(tcp), 'NO_SUCH_SERVICE'],
    ['ENOENT on SET_DEST', 2, (c) => c.updateDestination(tcp, d1, dcfg), 'NO_SUCH_DESTINATION'],
    ['ENOENT on DEL_DEST', 2, (c) => c.deleteDestination(tcp, d1), 'NO_SUCH_DESTINATION'],
    ['ENOENT on NEW_SERVICE', 2, (c) => c.addService(tcp, cfg), 'UNKNOWN_SCHEDULER'],
    ['EINVAL', 22, (c) => c.addDestination(tcp, d1, dcfg), 'INVALID_ARGUMENT'],
    ['ERANGE', 34, (c) => c.addDestination(tcp, d1, dcfg), 'OUT_OF_RANGE'],
    ['anything else', 12, (c) => c.addService(tcp, cfg), 'KERNEL_ERROR'],
  ];
  for (const [name, n, fn, code] of cases) {
    it(name, async () => {
      const { c } = client(errno(n));
      await expect(fn(c)).rejects.toMatchObject({ code });
    });
  }

  it('PermissionDenied explains what is needed', async () => {
    const { c } = client(errno(1));
    await expect(c.listServices()).rejects.toThrow(/needs CAP_NET_ADMIN \(run as root\)/);
  });

  it('a kernel that never answers gives IpvsTimeout', async () => {
    const { c } = client(() => [], 20);
    await expect(c.getInfo()).rejects.toMatchObject({ name: 'IpvsTimeout', code: 'TIMEOUT' });
  });

  it('a dump interrupted on every attempt gives DumpInterrupted, not a partial list', async () => {
    const { c, transport } = client(() => [doneReply(0, NLM_F_DUMP_INTR | NLM_F_MULTI)]);
    await expect(c.listServices()).rejects.toMatchObject({ code: 'DUMP_INTERRUPTED' });
    expect(transport.sent).toHaveLength(3);
  });

  it('a malformed reply is a KernelError, not a crash', async () => {
    const { c } = client((req) => [{ type: 32, payload: new Uint8Array([1, 1, 0, 0, 200, 0, 1, 0]) }, ackReply(req)]);
    await expect(c.getInfo()).rejects.toMatchObject({ code: 'KERNEL_ERROR' });
  });

  it('getService answers undefined for ESRCH', async () => {
    const { c } = client(errno(3));
    expect(await c.getService(tcp)).toBeUndefined();
  });
});

describe('IpvsClient input validation (nothing is sent)', () => {
  const bad: Array<[string, (c: IpvsClient) => Promise<unknown>]> = [
    ['bad address', (c) => c.addService({ ...tcp, address: '10.0.0.256' }, cfg)],
    ['family mismatch', (c) => c.addService({ ...tcp, address: '::1' }, cfg)],
    ['port range', (c) => c.addService({ ...tcp, port: 70000 }, cfg)],
    ['fwmark 0', (c) => c.addService({ kind: 'fwmark', family: 'inet', fwmark: 0 }, cfg)],
    ['protocol', (c) => c.addService({ ...tcp, protocol: 'icmp' as never }, cfg)],
    ['scheduler too long', (c) => c.addService(tcp, { ...cfg, scheduler: 'x'.repeat(16) })],
    ['non-contiguous netmask', (c) => c.addService(tcp, { ...cfg, netmask: '255.0.255.0' })],
    ['IPv6 netmask', (c) => c.addService({ ...tcp, family: 'inet6', address: '::1' }, { ...cfg, netmask: '129' })],
    ['weight', (c) => c.addDestination(tcp, d1, { ...dcfg, weight: -1 })],
    ['weight fraction', (c) => c.addDestination(tcp, d1, { ...dcfg, weight: 1.5 })],
    ['forwarding', (c) => c.addDestination(tcp, d1, { ...dcfg, forwarding: 'nat' as never })],
    ['tunnel type', (c) => c.addDestination(tcp, d1, { ...dcfg, forwarding: 'tunnel', tunnelType: 'vxlan' as never })],
    ['timeouts', (c) => c.setTimeouts({ tcp: -1, tcpFin: 0, udp: 0 })],
  ];
  for (const [name, fn] of bad) {
    it(name, async () => {
      const { c, transport } = client((req) => [ackReply(req)]);
      await expect(fn(c)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      expect(transport.sent).toHaveLength(0);
    });
  }

  it('flush needs its explicit guard', async () => {
    const { c, transport } = client((req) => [ackReply(req)]);
    await expect(c.flush({} as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(c.flush(undefined as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(transport.sent).toHaveLength(0);
    await c.flush({ allServicesInNamespace: true });
    expect(transport.sent).toHaveLength(1);
  });

  it('batch reports invalid operations without sending them and sends the rest', async () => {
    const { c, transport } = client((req) => [ackReply(req)]);
    const results = await c.batch([
      { op: 'addService', service: tcp, config: cfg },
      { op: 'addService', service: { ...tcp, port: -1 }, config: cfg },
      { op: 'addDestination', service: tcp, destination: d1, config: dcfg },
    ]);
    expect(results.map((r) => r?.code)).toEqual([undefined, 'INVALID_ARGUMENT', undefined]);
    expect(transport.sent).toHaveLength(2);
  });
});

describe('request encoding (hand-laid golden bytes)', () => {
  it('NEW_SERVICE tcp 10.0.0.1:80 rr', () => {
    const hex = Buffer.from(new IpvsRequests(0x20).newService(tcp, cfg)).toString('hex');
    expect(hex).toBe(
      [
        '68000000 2000 0100 00000000 00000000', // nlmsghdr: 104 bytes, family 0x20, REQUEST
        '01 01 0000', // genlmsghdr: NEW_SERVICE, version 1
        '5400 0180', // SERVICE, nested
        '0600 0100 0200 0000', // AF = AF_INET
        '0600 0200 0600 0000', // PROTOCOL = TCP
        '1400 0300 0a000001 000000000000000000000000', // ADDR (16 bytes)
        '0600 0400 0050 0000', // PORT, network order
        '0700 0600 727200 00', // SCHED_NAME "rr\0"
        '0c00 0700 00000000 ffffffff', // FLAGS {flags 0, mask ~0}
        '0800 0800 00000000', // TIMEOUT
        '0800 0900 ffffffff', // NETMASK 255.255.255.255
      ]
        .join('')
        .replace(/\s+/g, ''),
    );
  });

  it('NEW_DEST with tunnel attributes only for tunnel forwarding', () => {
    const r = new IpvsRequests(0x20);
    const tun = Buffer.from(r.newDest(tcp, d1, { ...dcfg, forwarding: 'tunnel', tunnelType: 'gre', tunnelPort: 0, tunnelFlags: 0 })).toString('hex');
    expect(tun).toContain('05000d0002000000'); // TUN_TYPE = GRE (u8)
    const masq = Buffer.from(r.newDest(tcp, d1, { ...dcfg, tunnelType: 'gre' })).toString('hex');
    expect(masq).not.toContain('05000d00');
  });
});

describe('IpvsClient.listDestinationsOf (every service in one conversation)', () => {
  const svc = (i: number) => ({ kind: 'addr', family: 'inet', protocol: 'tcp', address: `10.0.0.${i}`, port: 80 }) as const;
  const dest = (a: string, port: number) => ({ family: 'inet', address: a, port }) as const;
  // The kernel's lists, in its own (unsorted, newest-first) order: the client must keep it.
  const lists: Record<string, Array<ReturnType<typeof dest>>> = {
    '10.0.0.1': [dest('10.1.0.9', 80), dest('10.1.0.2', 80), dest('10.1.0.5', 81)],
    '10.0.0.2': [],
    '10.0.0.3': [dest('10.3.0.3', 8080), dest('10.3.0.1', 8080)],
  };
  const replies = new IpvsRequests(family.id);
  const serviceOf = (req: Message): string => {
    // GET_DEST carries the SERVICE attribute; its ADDR's first 4 bytes name our test services.
    const hex = Buffer.from(req.payload).toString('hex');
    const at = hex.indexOf('14000300');
    return Buffer.from(hex.slice(at + 8, at + 16), 'hex').join('.');
  };
  const destParts = (req: Message, flags = NLM_F_MULTI): FakeReply[] =>
    (lists[serviceOf(req)] ?? []).map((d) => ({
      type: family.id,
      flags,
      payload: replies.newDest(svc(0), d, { ...dcfg, weight: d.port }).subarray(16),
    }));
  const kernel = (tweak?: (req: Message, n: number) => ReturnType<FakeKernel> | undefined): FakeKernel => {
    let n = 0;
    return (req) => tweak?.(req, ++n) ?? [destParts(req), [doneReply()]];
  };

  it('returns each service destinations in the kernel order, the same as listDestinations per service', async () => {
    const { c, transport } = client(kernel());
    const services = [svc(1), svc(2), svc(3), svc(4)];
    const all = await c.listDestinationsOf(services);
    expect(all.map((ds) => ds.map((d) => `${d.key.address}:${d.key.port}`))).toEqual([
      ['10.1.0.9:80', '10.1.0.2:80', '10.1.0.5:81'],
      [],
      ['10.3.0.3:8080', '10.3.0.1:8080'],
      [],
    ]);
    expect(all[0][2]).toMatchObject({ config: { forwarding: 'masq', weight: 81 } });
    expect(transport.sent).toHaveLength(4);
    const one = [];
    for (const s of services) one.push(await c.listDestinations(s));
    expect(all).toEqual(one);
  });

  it('an interrupted dump in the middle is asked again and its partial reply never shows', async () => {
    const { c, transport } = client(
      kernel((req, n) => (n === 2 ? [destParts(req, NLM_F_MULTI | NLM_F_DUMP_INTR).slice(0, 1), [doneReply(0, NLM_F_DUMP_INTR)]] : undefined)),
    );
    const all = await c.listDestinationsOf([svc(1), svc(3), svc(1)]);
    expect(all.map((ds) => ds.length)).toEqual([3, 2, 3]);
    expect(transport.sent).toHaveLength(4);
  });

  it('a dump interrupted on every attempt is DumpInterrupted naming its service', async () => {
    const { c } = client(kernel((req) => (serviceOf(req) === '10.0.0.3' ? [[doneReply(0, NLM_F_DUMP_INTR | NLM_F_MULTI)]] : undefined)));
    const err = await c.listDestinationsOf([svc(1), svc(3)]).catch((e) => e);
    expect(err).toBeInstanceOf(IpvsError);
    expect(err).toMatchObject({ code: 'DUMP_INTERRUPTED' });
    expect(err.message).toContain('tcp 10.0.0.3:80');
  });

  it('kernel errors are typed and name the service', async () => {
    const { c } = client(kernel((req) => (serviceOf(req) === '10.0.0.3' ? [ackReply(req, 1)] : undefined)));
    const err = await c.listDestinationsOf([svc(1), svc(3)]).catch((e) => e);
    expect(err).toMatchObject({ code: 'PERMISSION_DENIED' });
    expect(err.message).toContain('GET_DEST tcp 10.0.0.3:80');
  });

  it('a malformed reply is a KernelError naming the service, and the socket stays usable', async () => {
    const bad: FakeReply = { type: family.id, flags: NLM_F_MULTI, payload: new Uint8Array([5, 1, 0, 0, 200, 0, 2, 0]) };
    const { c } = client(kernel((req, n) => (n === 2 ? [[bad, ...destParts(req)], [doneReply()]] : undefined)));
    const err = await c.listDestinationsOf([svc(1), svc(3)]).catch((e) => e);
    expect(err).toMatchObject({ code: 'KERNEL_ERROR' });
    expect(err.message).toContain('GET_DEST tcp 10.0.0.3:80');
    expect((await c.listDestinationsOf([svc(3)]))[0]).toHaveLength(2);
  });

  it('an invalid service key is InvalidArgument and nothing is sent', async () => {
    const { c, transport } = client(kernel());
    await expect(c.listDestinationsOf([svc(1), { ...svc(2), address: '10.0.0.300' }])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(transport.sent).toHaveLength(0);
  });
});
