import { AttributeDecoder, Encoder, HOST_LITTLE_ENDIAN } from '../netlink/attribute.ts';
import { NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST } from '../netlink/constants.ts';
import type { Conn } from '../netlink/conn.ts';
import { NetlinkError } from '../netlink/errors.ts';
import type { Message } from '../netlink/message.ts';
import { AddressError, formatAddress, parseAddress } from './address.ts';
import { InvalidArgument, type IpvsError, KernelError } from './errors.ts';
import { permissionDenied, toIpvsError } from './error-map.ts';
import type { VipApi } from './types.ts';

// VIP binding over rtnetlink: a dummy interface (default "ipvs0") holding the virtual
// service addresses as /32 or /128 host addresses, so the kernel delivers their traffic
// locally where IPVS takes it.

const RTM_NEWLINK = 16;
const RTM_GETLINK = 18;
const RTM_NEWADDR = 20;
const RTM_DELADDR = 21;
const RTM_GETADDR = 22;
const IFLA_IFNAME = 3;
const IFLA_LINKINFO = 18;
const IFLA_INFO_KIND = 1;
const IFF_UP = 0x1;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const IFA_F_NODAD = 0x02;
const IFA_F_PERMANENT = 0x80;
const AF_UNSPEC = 0;
const AF_INET = 2;
const AF_INET6 = 10;

export interface LinkInfo {
  index: number;
  name: string;
  flags: number;
  kind?: string;
}

/** Builds rtnetlink requests (pure; exported for golden-byte tests). */
export const rtRequests = {
  getLink(name: string): Uint8Array {
    const e = new Encoder(64);
    const at = e.beginMessage(RTM_GETLINK, NLM_F_REQUEST);
    ifinfomsg(e, 0, 0, 0);
    e.string(IFLA_IFNAME, name);
    e.endMessage(at);
    return e.copy();
  },
  createDummy(name: string): Uint8Array {
    const e = new Encoder(64);
    const at = e.beginMessage(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL);
    ifinfomsg(e, 0, IFF_UP, IFF_UP);
    e.string(IFLA_IFNAME, name);
    e.nested(IFLA_LINKINFO, () => e.string(IFLA_INFO_KIND, 'dummy'));
    e.endMessage(at);
    return e.copy();
  },
  setUp(index: number): Uint8Array {
    const e = new Encoder(64);
    const at = e.beginMessage(RTM_NEWLINK, NLM_F_REQUEST);
    ifinfomsg(e, index, IFF_UP, IFF_UP);
    e.endMessage(at);
    return e.copy();
  },
  dumpAddresses(): Uint8Array {
    const e = new Encoder(64);
    const at = e.beginMessage(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP);
    ifaddrmsg(e, AF_UNSPEC, 0, 0, 0);
    e.endMessage(at);
    return e.copy();
  },
  address(add: boolean, index: number, address: string): Uint8Array {
    const { family, bytes } = parseAddress(address);
    const v4 = family === 'inet';
    const raw = v4 ? bytes.subarray(0, 4) : bytes;
    const e = new Encoder(64);
    const at = e.beginMessage(add ? RTM_NEWADDR : RTM_DELADDR, NLM_F_REQUEST | (add ? NLM_F_CREATE | NLM_F_REPLACE : 0));
    // IPv6 VIPs skip duplicate address detection, else they stay "tentative" for seconds.
    ifaddrmsg(e, v4 ? AF_INET : AF_INET6, v4 ? 32 : 128, v4 ? IFA_F_PERMANENT : IFA_F_PERMANENT | IFA_F_NODAD, index);
    if (v4) e.bytes(IFA_LOCAL, raw);
    e.bytes(IFA_ADDRESS, raw);
    e.endMessage(at);
    return e.copy();
  },
};

function ifinfomsg(e: Encoder, index: number, flags: number, change: number): void {
  e.u8raw(AF_UNSPEC);
  e.u8raw(0);
  e.u16raw(0);
  e.s32raw(index);
  e.u32raw(flags);
  e.u32raw(change);
}

function ifaddrmsg(e: Encoder, family: number, prefixLen: number, flags: number, index: number): void {
  e.u8raw(family);
  e.u8raw(prefixLen);
  e.u8raw(flags & 0xff);
  e.u8raw(0); // RT_SCOPE_UNIVERSE
  e.u32raw(index);
}

export function decodeLink(msg: Message): LinkInfo {
  const p = msg.payload;
  if (p.length < 16) throw new KernelError(`RTM_NEWLINK reply too short (${p.length} bytes)`);
  const view = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const info: LinkInfo = { index: view.getInt32(4, HOST_LITTLE_ENDIAN), flags: view.getUint32(8, HOST_LITTLE_ENDIAN), name: '' };
  const d = new AttributeDecoder(p, 16);
  while (d.next()) {
    if (d.type === IFLA_IFNAME) info.name = d.string();
    else if (d.type === IFLA_LINKINFO) {
      const n = d.nested();
      while (n.next()) if (n.type === IFLA_INFO_KIND) info.kind = n.string();
    }
  }
  const err = d.err();
  if (err) throw new KernelError(`malformed RTM_NEWLINK reply: ${err.message}`);
  return info;
}

/** Addresses of interface `index` from RTM_NEWADDR dump parts, canonical, in kernel order; IPv6 link-local excluded. */
export function decodeAddresses(msgs: Message[], index: number): string[] {
  const out: string[] = [];
  for (const msg of msgs) {
    const p = msg.payload;
    if (p.length < 8) throw new KernelError(`RTM_NEWADDR reply too short (${p.length} bytes)`);
    const family = p[0];
    const ifindex = new DataView(p.buffer, p.byteOffset, p.byteLength).getUint32(4, HOST_LITTLE_ENDIAN);
    if (ifindex !== index || (family !== AF_INET && family !== AF_INET6)) continue;
    let local: Uint8Array | undefined;
    let address: Uint8Array | undefined;
    const d = new AttributeDecoder(p, 8);
    while (d.next()) {
      if (d.type === IFA_LOCAL) local = d.bytes();
      else if (d.type === IFA_ADDRESS) address = d.bytes();
    }
    const err = d.err();
    if (err) throw new KernelError(`malformed RTM_NEWADDR reply: ${err.message}`);
    const a = local ?? address;
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

function vipError(e: unknown, what: string): IpvsError {
  if (e instanceof NetlinkError) {
    if (e.errnoName === 'EPERM' || e.errnoName === 'EACCES') return permissionDenied(what);
    if (e.errnoName === 'EOPNOTSUPP' && what.startsWith('create')) {
      return new KernelError(`${what}: the kernel has no dummy interfaces: load the dummy module (modprobe dummy)`, e.errnoName);
    }
    return new KernelError(`${what}: ${e.errnoName}${e.extAck ? ` (${e.extAck})` : ''}`, e.errnoName);
  }
  if (e instanceof AddressError) return new InvalidArgument(`${what}: ${e.message}`);
  return toIpvsError(e, 'GETFAMILY', what);
}

export class VipClient implements VipApi {
  private readonly conn: Conn;
  readonly interfaceName: string;

  constructor(conn: Conn, interfaceName = 'ipvs0') {
    if (!validInterfaceName(interfaceName)) throw new InvalidArgument(`invalid interface name ${JSON.stringify(interfaceName)} (1-15 characters)`);
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
      if (replies.length !== 1) throw new KernelError(`RTM_GETLINK ${this.interfaceName}: expected one reply, got ${replies.length}`);
      return decodeLink(replies[0]);
    } catch (e) {
      if (e instanceof NetlinkError && e.errnoName === 'ENODEV') return undefined;
      throw vipError(e, `look up interface ${this.interfaceName}`);
    }
  }

  private async requireLink(): Promise<LinkInfo> {
    const link = await this.getLink();
    if (!link) throw new KernelError(`interface ${this.interfaceName} does not exist (ensureInterface() creates it)`, 'ENODEV');
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
      throw new InvalidArgument(`interface ${this.interfaceName} exists but is a ${link.kind} interface, not dummy`);
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
