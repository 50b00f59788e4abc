// Binds many VIPs to the dummy interface in one pipelined rtnetlink conversation (several
// RTM_NEWADDR per datagram, a bounded window in flight), the way our controller programs IPVS
// itself through the client's batch(). One request per address, as with VipApi.addAddress,
// but without a link lookup and a round trip per address: at 10,000 services those cost
// more than the kernel's own work under emulation.
import { NetlinkSocket } from '../../native/netlink-socket.ts';
import type { VipClient } from '../../src/ipvs/index.ts';
import { rtRequests } from '../../src/ipvs/vips.ts';
import { Conn } from '../../src/netlink/conn.ts';
import { NETLINK_ROUTE } from '../../src/netlink/constants.ts';
import { NetlinkError } from '../../src/netlink/errors.ts';
import { BenchError } from './exec.ts';

/** Errno names that mean "already as asked" for an add / a delete. */
const ALREADY = { add: new Set(['EEXIST']), remove: new Set(['EADDRNOTAVAIL', 'ENOENT']) } as const;

export interface VipBatch {
  add(addresses: readonly string[]): Promise<void>;
  remove(addresses: readonly string[]): Promise<void>;
  close(): void;
}

export function openVipBatch(vips: VipClient, timeoutMs = 60_000): VipBatch {
  const conn = new Conn(new NetlinkSocket(NETLINK_ROUTE), { timeoutMs });
  async function apply(kind: 'add' | 'remove', addresses: readonly string[]): Promise<void> {
    if (addresses.length === 0) return;
    const link = await vips.getLink();
    if (!link) throw new BenchError('NO_INTERFACE', `interface ${vips.interfaceName} does not exist`);
    const requests = addresses.map((a) => ({ message: rtRequests.address(kind === 'add', link.index, a), operation: `${kind} address ${a}` }));
    const outcome = await conn.batch(requests);
    const failed = outcome.filter((e): e is Error => e !== undefined && !(e instanceof NetlinkError && ALREADY[kind].has(e.errnoName)));
    if (failed.length > 0) throw new BenchError('VIP_FAILED', `${failed.length} of ${addresses.length} VIP ${kind}s failed, first: ${failed[0].message}`);
  }
  return {
    add: (addresses) => apply('add', addresses),
    remove: (addresses) => apply('remove', addresses),
    close: () => conn.close(),
  };
}
