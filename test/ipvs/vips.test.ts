import { describe, expect, it } from 'vitest';
import { decodeAddresses, rtRequests, VipClient } from '../../src/ipvs/vips.ts';
import { Conn } from '../../src/netlink/conn.ts';
import { ackReply, testConn } from '../../src/netlink/testing.ts';
import { call, ReplayTransport } from './replay.ts';

function replay(...names: string[]): { vips: VipClient; transport: ReplayTransport } {
  const transport = new ReplayTransport(names.map(call));
  return { vips: new VipClient(new Conn(transport, { timeoutMs: 200 }), 'ipvs0'), transport };
}

describe('VIP binding over rtnetlink (captured kernel replies)', () => {
  it('creates the dummy interface up when missing, and leaves an existing one alone', async () => {
    const { vips, transport } = replay('ensureInterface create', 'ensureInterface existing');
    await vips.ensureInterface();
    await vips.ensureInterface();
    expect(transport.mismatches).toEqual([]);
    expect(transport.complete).toBe(true);
  });

  it('reports a missing interface as undefined', async () => {
    const { vips, transport } = replay('getLink missing');
    expect(await vips.getLink()).toBeUndefined();
    expect(transport.mismatches).toEqual([]);
  });

  it('adds, lists and removes addresses idempotently', async () => {
    const { vips, transport } = replay('addAddress v4', 'addAddress v4 again', 'addAddress v6', 'listAddresses', 'removeAddress v4', 'removeAddress v4 again');
    await vips.addAddress('10.0.0.1');
    await vips.addAddress('10.0.0.1');
    await vips.addAddress('2001:db8::1');
    // The kernel's own fe80:: link-local address is left out.
    expect(await vips.listAddresses()).toEqual(['10.0.0.1', '2001:db8::1']);
    await vips.removeAddress('10.0.0.1');
    await vips.removeAddress('10.0.0.1');
    expect(transport.mismatches).toEqual([]);
    expect(transport.complete).toBe(true);
  });

  it('golden bytes: RTM_NEWADDR for an IPv4 /32', () => {
    const hex = Buffer.from(rtRequests.address(true, 7, '10.0.0.1')).toString('hex');
    expect(hex).toBe(
      '28000000' + '1400' + '0105' + '00000000' + '00000000' + // nlmsghdr: len 40, RTM_NEWADDR, REQUEST|CREATE|REPLACE
        '02' + '20' + '80' + '00' + '07000000' + // ifaddrmsg: AF_INET, /32, IFA_F_PERMANENT, universe, ifindex 7
        '0800' + '0200' + '0a000001' + // IFA_LOCAL
        '0800' + '0100' + '0a000001', // IFA_ADDRESS
    );
  });

  it('rejects a bad interface name or address with a typed error before sending', async () => {
    const { conn } = testConn(() => []);
    expect(() => new VipClient(conn, 'a/b')).toThrow(/invalid interface name/);
    expect(() => new VipClient(conn, 'x'.repeat(16))).toThrow(/invalid interface name/);
    const link = { type: 16, payload: new Uint8Array([0, 0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]) };
    const { conn: c2 } = testConn((req) => (req.type === 18 ? [link, ackReply(req)] : [ackReply(req)]));
    const vips = new VipClient(c2, 'ipvs0');
    await expect(vips.addAddress('10.0.0.300')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('maps EPERM to PermissionDenied', async () => {
    const { conn } = testConn((req) => [ackReply(req, 1)]);
    await expect(new VipClient(conn).ensureInterface()).rejects.toMatchObject({ name: 'PermissionDenied', code: 'PERMISSION_DENIED' });
  });

  it('decodeAddresses skips other interfaces and malformed entries', () => {
    const msg = (family: number, index: number, addr: number[]) => {
      const p = new Uint8Array(8 + 4 + ((addr.length + 3) & ~3));
      p[0] = family;
      new DataView(p.buffer).setUint32(4, index, true);
      new DataView(p.buffer).setUint16(8, 4 + addr.length, true);
      new DataView(p.buffer).setUint16(10, 1, true);
      p.set(addr, 12);
      return { type: 20, flags: 0, seq: 0, pid: 0, payload: p };
    };
    expect(decodeAddresses([msg(2, 3, [10, 0, 0, 1]), msg(2, 4, [10, 0, 0, 2]), msg(2, 3, [1, 2])], 3)).toEqual(['10.0.0.1']);
  });
});
