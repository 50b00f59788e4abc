import { describe, expect, it } from 'vitest';
import { toIpvsError } from '../../src/ipvs/error-map.ts';
import { DumpInterruptedError, NetlinkError, TimeoutError, TransportError } from '../../src/netlink/errors.ts';
import { FamilyNotFoundError, resolveFamily } from '../../src/netlink/genetlink.ts';
import { ackReply, testConn } from '../../src/netlink/testing.ts';

describe('translated errors keep the original as { cause }', () => {
  it('every branch of toIpvsError', () => {
    const cases: Array<[unknown, Parameters<typeof toIpvsError>[1], string]> = [
      [new NetlinkError('x', 17), 'NEW_SERVICE', 'SERVICE_EXISTS'],
      [new NetlinkError('x', 17), 'NEW_DEST', 'DESTINATION_EXISTS'],
      [new NetlinkError('x', 3), 'SET_SERVICE', 'NO_SUCH_SERVICE'],
      [new NetlinkError('x', 2), 'SET_DEST', 'NO_SUCH_DESTINATION'],
      [new NetlinkError('x', 2), 'NEW_SERVICE', 'UNKNOWN_SCHEDULER'],
      [new NetlinkError('x', 22), 'NEW_SERVICE', 'INVALID_ARGUMENT'],
      [new NetlinkError('x', 34), 'SET_DEST', 'OUT_OF_RANGE'],
      [new NetlinkError('x', 1), 'NEW_SERVICE', 'PERMISSION_DENIED'],
      [new NetlinkError('x', 16), 'NEW_SERVICE', 'KERNEL_ERROR'],
      [new TransportError('recvfrom', 105), 'GET_SERVICE', 'KERNEL_ERROR'],
      [new FamilyNotFoundError('IPVS'), 'GETFAMILY', 'NO_IPVS'],
      [new TimeoutError('x', 5), 'GET_SERVICE', 'TIMEOUT'],
      [new DumpInterruptedError('x', 5), 'GET_SERVICE', 'DUMP_INTERRUPTED'],
      [new Error('other'), 'GET_SERVICE', 'KERNEL_ERROR'],
    ];
    for (const [err, cmd, code] of cases) {
      const translated = toIpvsError(err, cmd, 'tcp 10.0.0.1:80');
      expect(translated.code).toBe(code);
      expect(translated.cause).toBe(err);
    }
  });

  it('resolveFamily: FamilyNotFoundError keeps the ENOENT NetlinkError', async () => {
    const { conn } = testConn((req) => [ackReply(req, 2)]);
    const err = await resolveFamily(conn, 'IPVS').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FamilyNotFoundError);
    expect((err as FamilyNotFoundError).cause).toBeInstanceOf(NetlinkError);
  });
});
