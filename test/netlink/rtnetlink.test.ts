import { describe, expect, it } from 'vitest';
import { IpvsError } from '../../src/ipvs/errors.ts';
import { VipClient, VipError } from '../../src/ipvs/vips.ts';
import { DecodeError, NetlinkError } from '../../src/netlink/errors.ts';
import { decodeAddressEntry, decodeLink, encodeHostAddress, RTM_NEWADDR } from '../../src/netlink/rtnetlink.ts';
import { ackReply, testConn } from '../../src/netlink/testing.ts';

const message = (type: number, payload: Uint8Array) => ({ type, flags: 0, seq: 1, pid: 0, payload });

describe('rtnetlink codec', () => {
  it('short or malformed replies are DecodeErrors', () => {
    expect(() => decodeLink(message(16, new Uint8Array(8)))).toThrow(DecodeError);
    expect(() => decodeAddressEntry(message(RTM_NEWADDR, new Uint8Array(4)))).toThrow(DecodeError);
    // ifaddrmsg, then an attribute claiming 200 bytes
    const bad = new Uint8Array([2, 32, 0, 0, 3, 0, 0, 0, 200, 0, 2, 0, 10, 0, 0, 1]);
    expect(() => decodeAddressEntry(message(RTM_NEWADDR, bad))).toThrow(/malformed RTM_NEWADDR reply/);
  });

  it('host addresses are 4 or 16 bytes', () => {
    expect(encodeHostAddress(true, 3, new Uint8Array([10, 0, 0, 1])).length).toBe(16 + 8 + 8 + 8);
    expect(() => encodeHostAddress(true, 3, new Uint8Array(5))).toThrow(RangeError);
  });
});

describe('VIP errors are the VIP module\'s own, with the netlink error as cause', () => {
  it('EPERM from the kernel', async () => {
    const { conn } = testConn((req) => [ackReply(req, 1)]);
    const err = await new VipClient(conn).ensureInterface().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VipError);
    expect(err).not.toBeInstanceOf(IpvsError);
    expect((err as VipError).code).toBe('PERMISSION_DENIED');
    expect((err as VipError).cause).toBeInstanceOf(NetlinkError);
  });

  it('a malformed RTM_NEWLINK reply', async () => {
    const { conn } = testConn((req) => [{ type: 16, payload: new Uint8Array(4) }, ackReply(req)]);
    const err = await new VipClient(conn).getLink().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'KERNEL_ERROR', message: expect.stringMatching(/RTM_NEWLINK reply too short/) });
    expect((err as VipError).cause).toBeInstanceOf(DecodeError);
  });
});
