import type { Conn } from '../netlink/conn.ts';
import { ClosedError, DecodeError, DumpInterruptedError, NetlinkError, ProtocolError, TimeoutError, TransportError } from '../netlink/errors.ts';
import type { Message } from '../netlink/message.ts';
import { AF_INET, AF_INET6 } from '../netlink/constants.ts';
import {
  decodeAddressEntry, decodeLink, encodeCreateDummy, encodeDumpAddresses, encodeGetLink, encodeHostAddress,
  encodeSetUp, IFF_UP, type LinkInfo,
} from '../netlink/rtnetlink.ts';
import { AddressError, formatAddress, parseAddress } from '../address/address.ts';
import type { VipApi } from './types.ts';
import { DEFAULT_INTERFACE } from './vocabulary.ts';

// VIP binding over rtnetlink: a dummy interface (default "ipvs0") holding the virtual
// service addresses as /32 or /128 host addresses, so the kernel delivers their traffic
// locally where IPVS takes it.

export type { LinkInfo } from '../netlink/rtnetlink.ts';

export type VipErrorCode = 'INVALID_ARGUMENT' | 'PERMISSION_DENIED' | 'TIMEOUT' | 'DUMP_INTERRUPTED' | 'KERNEL_ERROR';

// The names the IPVS layer's errors of the same meaning carry, so logs and output read as before.
const VIP_ERROR_NAMES: Record<VipErrorCode, string> = {
  INVALID_ARGUMENT: 'InvalidArgument',
  PERMISSION_DENIED: 'PermissionDenied',
  TIMEOUT: 'IpvsTimeout',
  DUMP_INTERRUPTED: 'DumpInterrupted',
  KERNEL_ERROR: 'KernelError',
};

/** A failure of the VIP binding (the interface or its addresses); `cause` keeps the netlink error. */
export class VipError extends Error {
  readonly code: VipErrorCode;
  /** errno name from the kernel (e.g. "EPERM"), when the error came from the kernel. */
  readonly errno?: string;
  constructor(code: VipErrorCode, message: string, errno?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = VIP_ERROR_NAMES[code];
    this.code = code;
    this.errno = errno;
  }
}

/** Builds rtnetlink requests from text addresses (pure; exported for golden-byte tests). */
export const rtRequests = {
  getLink: encodeGetLink,
  createDummy: encodeCreateDummy,
  setUp: encodeSetUp,
  dumpAddresses: encodeDumpAddresses,
  address(add: boolean, index: number, address: string): Uint8Array {
    const { family, bytes } = parseAddress(address);
    return encodeHostAddress(add, index, family === 'inet' ? bytes.subarray(0, 4) : bytes);
  },
};

/** Addresses of interface `index` from RTM_NEWADDR dump parts, canonical, in kernel order; IPv6 link-local excluded. */
export function decodeAddresses(msgs: Message[], index: number): string[] {
  const out: string[] = [];
  for (const msg of msgs) {
    const { index: ifindex, family, address: a } = decodeAddressEntry(msg);
    if (ifindex !== index || (family !== AF_INET && family !== AF_INET6)) continue;
    const need = family === AF_INET ? 4 : 16;
    if (!a || a.length !== need) continue;
    // The kernel gives every up IPv6 interface a link-local address; it is no VIP.
    if (family === AF_INET6 && a[0] === 0xfe && (a[1] & 0xc0) === 0x80) continue;
    out.push(formatAddress(family === AF_INET ? 'inet' : 'inet6', a));
  }
  return out;
}

function validInterfaceName(name: string): boolean {
  return name.length >= 1 && name.length <= 15 && /^[A-Za-z0-9_.:-]+$/.test(name) && name !== '.' && name !== '..';
}

function vipError(e: unknown, what: string): VipError {
  if (e instanceof VipError) return e;
  const cause = { cause: e };
  if (e instanceof NetlinkError || e instanceof TransportError) {
    if (e.errnoName === 'EPERM' || e.errnoName === 'EACCES') return new VipError('PERMISSION_DENIED', `${what}: needs CAP_NET_ADMIN (run as root)`, 'EPERM', cause);
    if (e instanceof NetlinkError && e.errnoName === 'EOPNOTSUPP' && what.startsWith('create')) {
      return new VipError('KERNEL_ERROR', `${what}: the kernel has no dummy interfaces: load the dummy module (modprobe dummy)`, e.errnoName, cause);
    }
    const ext = e instanceof NetlinkError && e.extAck ? ` (${e.extAck})` : '';
    return new VipError('KERNEL_ERROR', `${what}: ${e.errnoName}${ext}`, e.errnoName, cause);
  }
  if (e instanceof AddressError || e instanceof RangeError) return new VipError('INVALID_ARGUMENT', `${what}: ${e.message}`, 'EINVAL', cause);
  if (e instanceof TimeoutError) return new VipError('TIMEOUT', `${what}: ${e.message}`, undefined, cause);
  if (e instanceof DumpInterruptedError) return new VipError('DUMP_INTERRUPTED', `${what}: ${e.message}`, undefined, cause);
  // The codec's messages already say which reply was malformed.
  if (e instanceof DecodeError) return new VipError('KERNEL_ERROR', e.message, undefined, cause);
  if (e instanceof ProtocolError) return new VipError('KERNEL_ERROR', `${what}: malformed reply from the kernel: ${e.message}`, undefined, cause);
  if (e instanceof ClosedError) return new VipError('KERNEL_ERROR', `${what}: the VIP client is closed`, undefined, cause);
  return new VipError('KERNEL_ERROR', `${what}: ${e instanceof Error ? e.message : String(e)}`, undefined, cause);
}

export class VipClient implements VipApi {
  private readonly conn: Conn;
  readonly interfaceName: string;

  constructor(conn: Conn, interfaceName = DEFAULT_INTERFACE) {
    if (!validInterfaceName(interfaceName)) throw new VipError('INVALID_ARGUMENT', `invalid interface name ${JSON.stringify(interfaceName)} (1-15 characters)`);
    this.conn = conn;
    this.interfaceName = interfaceName;
  }

  close(): void {
    this.conn.close();
  }

  /** The interface, or undefined when it does not exist. */
  async getLink(): Promise<LinkInfo | undefined> {
    try {
      const replies = await this.conn.execute(rtRequests.getLink(this.interfaceName), { operation: `RTM_GETLINK ${this.interfaceName}` });
      if (replies.length !== 1) throw new VipError('KERNEL_ERROR', `RTM_GETLINK ${this.interfaceName}: expected one reply, got ${replies.length}`);
      return decodeLink(replies[0]);
    } catch (e) {
      if (e instanceof NetlinkError && e.errnoName === 'ENODEV') return undefined;
      throw vipError(e, `look up interface ${this.interfaceName}`);
    }
  }

  private async requireLink(): Promise<LinkInfo> {
    const link = await this.getLink();
    if (!link) throw new VipError('KERNEL_ERROR', `interface ${this.interfaceName} does not exist (ensureInterface() creates it)`, 'ENODEV');
    return link;
  }

  async ensureInterface(): Promise<void> {
    let link = await this.getLink();
    if (!link) {
      try {
        await this.conn.execute(rtRequests.createDummy(this.interfaceName), { operation: `RTM_NEWLINK ${this.interfaceName}` });
      } catch (e) {
        // Someone else created it meanwhile: fine, it is checked below.
        if (!(e instanceof NetlinkError && e.errnoName === 'EEXIST')) throw vipError(e, `create dummy interface ${this.interfaceName}`);
      }
      link = await this.requireLink();
    }
    if (link.kind !== undefined && link.kind !== 'dummy') {
      throw new VipError('INVALID_ARGUMENT', `interface ${this.interfaceName} exists but is a ${link.kind} interface, not dummy`);
    }
    if (!(link.flags & IFF_UP)) {
      try {
        await this.conn.execute(rtRequests.setUp(link.index), { operation: `RTM_NEWLINK ${this.interfaceName} up` });
      } catch (e) {
        throw vipError(e, `bring interface ${this.interfaceName} up`);
      }
    }
  }

  async listAddresses(): Promise<string[]> {
    const link = await this.requireLink();
    try {
      const replies = await this.conn.execute(rtRequests.dumpAddresses(), { operation: 'RTM_GETADDR (dump)' });
      return decodeAddresses(replies, link.index);
    } catch (e) {
      throw vipError(e, `list addresses of ${this.interfaceName}`);
    }
  }

  async addAddress(address: string): Promise<void> {
    const link = await this.requireLink();
    try {
      await this.conn.execute(rtRequests.address(true, link.index, address), { operation: `RTM_NEWADDR ${address}` });
    } catch (e) {
      if (e instanceof NetlinkError && e.errnoName === 'EEXIST') return;
      throw vipError(e, `add address ${address} to ${this.interfaceName}`);
    }
  }

  async removeAddress(address: string): Promise<void> {
    const link = await this.requireLink();
    try {
      await this.conn.execute(rtRequests.address(false, link.index, address), { operation: `RTM_DELADDR ${address}` });
    } catch (e) {
      if (e instanceof NetlinkError && (e.errnoName === 'EADDRNOTAVAIL' || e.errnoName === 'ENOENT')) return;
      throw vipError(e, `remove address ${address} from ${this.interfaceName}`);
    }
  }
}
