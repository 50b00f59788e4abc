import { NetlinkSocket, NetnsError } from '../../native/netlink-socket.ts';
import { NotLinuxError } from '../../native/libc.ts';
import { Conn } from '../netlink/conn.ts';
import { NETLINK_GENERIC, NETLINK_ROUTE } from '../netlink/constants.ts';
import { TransportError } from '../netlink/errors.ts';
import { IpvsClient } from './client.ts';
import { InvalidArgument, type IpvsError, KernelError } from './errors.ts';
import { permissionDenied } from './error-map.ts';
import { VipClient } from './vips.ts';
import { SyncDaemons } from './daemon.ts';
import { DEFAULT_INTERFACE } from './vocabulary.ts';

// Public surface of the IPVS client: open a client (per network namespace), the VIP
// binder, the shared types, errors and address helpers.

export interface OpenIpvsOptions {
  /** Named network namespace (/var/run/netns/NAME); default: the current one. */
  netns?: string;
  /** Deadline per kernel call, ms. Default 5000. */
  timeoutMs?: number;
}

export interface OpenVipsOptions {
  /** Dummy interface holding the VIPs. Default "ipvs0". */
  interfaceName?: string;
  netns?: string;
  timeoutMs?: number;
}

function openError(e: unknown, what: string): IpvsError | Error {
  const cause = { cause: e };
  if (e instanceof NotLinuxError) return new KernelError(e.message, undefined, cause);
  if (e instanceof NetnsError) {
    return e.errnoName === 'EPERM' ? permissionDenied(`enter network namespace ${e.netns}`, e) : new InvalidArgument(e.message, e.errnoName, cause);
  }
  if (e instanceof TransportError) {
    if (e.errnoName === 'EPERM' || e.errnoName === 'EACCES') return permissionDenied(what, e);
    return new KernelError(`${what}: ${e.message}`, e.errnoName, cause);
  }
  return e instanceof Error ? e : new KernelError(String(e));
}

function openConn(protocol: number, what: string, netns: string | undefined, timeoutMs: number | undefined): Conn {
  try {
    return new Conn(new NetlinkSocket(protocol, { netns }), { timeoutMs });
  } catch (e) {
    throw openError(e, what);
  }
}

/**
 * Opens an IPVS client on its own netlink socket (bound to `netns` if given).
 * Throws NoIpvs when the kernel has no IPVS, PermissionDenied without CAP_NET_ADMIN.
 */
export async function openIpvs(options: OpenIpvsOptions = {}): Promise<IpvsClient> {
  const conn = openConn(NETLINK_GENERIC, 'open generic netlink socket', options.netns, options.timeoutMs);
  try {
    return await IpvsClient.create(conn);
  } catch (e) {
    conn.close();
    throw e;
  }
}

/** Opens the VIP binder (rtnetlink) for the dummy interface `interfaceName` (default ipvs0). */
export async function openVips(options: OpenVipsOptions = {}): Promise<VipClient> {
  const name = options.interfaceName ?? DEFAULT_INTERFACE;
  const conn = openConn(NETLINK_ROUTE, 'open rtnetlink socket', options.netns, options.timeoutMs);
  try {
    return new VipClient(conn, name);
  } catch (e) {
    conn.close();
    throw e;
  }
}

/** Opens the connection-sync daemon controller (IPVS_CMD_*_DAEMON) of a namespace. */
export async function openSyncDaemons(options: OpenIpvsOptions = {}): Promise<SyncDaemons> {
  const conn = openConn(NETLINK_GENERIC, 'open generic netlink socket', options.netns, options.timeoutMs);
  try {
    return await SyncDaemons.create(conn);
  } catch (e) {
    conn.close();
    throw e;
  }
}

export { SyncDaemons, sameDaemon, type SyncDaemon, type SyncDaemonConfig, type SyncRole } from './daemon.ts';
export { IpvsClient, type BatchResult, type FlushGuard } from './client.ts';
export { VipClient, VipError, type VipErrorCode } from './vips.ts';
export {
  AddressError, addressBytes, addressFamily, canonicalAddress, formatAddress, isAddress, netmaskToPrefix, parseAddress,
  prefixToNetmask, type ParsedAddress,
} from '../address/address.ts';
export { formatVersion } from './codec.ts';
export * from './errors.ts';
export * from './keys.ts';
export type * from './types.ts';
export * from './vocabulary.ts';
