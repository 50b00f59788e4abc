import { AttributeDecoder, Encoder, HOST_LITTLE_ENDIAN } from './attribute.ts';
import { AF_INET, AF_INET6, AF_UNSPEC, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST } from './constants.ts';
import { DecodeError } from './errors.ts';
import type { Message } from './message.ts';

// The slice of rtnetlink (NETLINK_ROUTE) the VIP binding needs: links (ifinfomsg + IFLA_*) and
// addresses (ifaddrmsg + IFA_*). Numbers from include/uapi/linux/rtnetlink.h, if_link.h, if_addr.h.
// Pure codec: addresses are raw bytes here; text forms belong to the layer that has an address module.

export const RTM_NEWLINK = 16;
export const RTM_GETLINK = 18;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;
export const IFLA_IFNAME = 3;
export const IFLA_LINKINFO = 18;
export const IFLA_INFO_KIND = 1;
export const IFF_UP = 0x1;
export const IFA_ADDRESS = 1;
export const IFA_LOCAL = 2;
export const IFA_F_NODAD = 0x02;
export const IFA_F_PERMANENT = 0x80;
/** sizeof(struct ifinfomsg) */
const IFINFOMSG_LEN = 16;
/** sizeof(struct ifaddrmsg) */
const IFADDRMSG_LEN = 8;

export interface LinkInfo {
  index: number;
  name: string;
  flags: number;
  kind?: string;
}

/** One RTM_NEWADDR entry: the interface, the family and IFA_LOCAL (else IFA_ADDRESS) as bytes. */
export interface AddressEntry {
  index: number;
  family: number;
  address: Uint8Array | undefined;
}

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

export function encodeGetLink(name: string): Uint8Array {
  const e = new Encoder(64);
  const at = e.beginMessage(RTM_GETLINK, NLM_F_REQUEST);
  ifinfomsg(e, 0, 0, 0);
  e.string(IFLA_IFNAME, name);
  e.endMessage(at);
  return e.copy();
}

export function encodeCreateDummy(name: string): Uint8Array {
  const e = new Encoder(64);
  const at = e.beginMessage(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL);
  ifinfomsg(e, 0, IFF_UP, IFF_UP);
  e.string(IFLA_IFNAME, name);
  e.nested(IFLA_LINKINFO, () => e.string(IFLA_INFO_KIND, 'dummy'));
  e.endMessage(at);
  return e.copy();
}

export function encodeSetUp(index: number): Uint8Array {
  const e = new Encoder(64);
  const at = e.beginMessage(RTM_NEWLINK, NLM_F_REQUEST);
  ifinfomsg(e, index, IFF_UP, IFF_UP);
  e.endMessage(at);
  return e.copy();
}

export function encodeDumpAddresses(): Uint8Array {
  const e = new Encoder(64);
  const at = e.beginMessage(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP);
  ifaddrmsg(e, AF_UNSPEC, 0, 0, 0);
  e.endMessage(at);
  return e.copy();
}

/** RTM_NEWADDR (add) or RTM_DELADDR of a host address (/32 or /128): 4 bytes for AF_INET, 16 for AF_INET6. */
export function encodeHostAddress(add: boolean, index: number, address: Uint8Array): Uint8Array {
  const v4 = address.length === 4;
  if (!v4 && address.length !== 16) throw new RangeError(`a host address is 4 or 16 bytes, not ${address.length}`);
  const e = new Encoder(64);
  const at = e.beginMessage(add ? RTM_NEWADDR : RTM_DELADDR, NLM_F_REQUEST | (add ? NLM_F_CREATE | NLM_F_REPLACE : 0));
  // IPv6 VIPs skip duplicate address detection, else they stay "tentative" for seconds.
  ifaddrmsg(e, v4 ? AF_INET : AF_INET6, v4 ? 32 : 128, v4 ? IFA_F_PERMANENT : IFA_F_PERMANENT | IFA_F_NODAD, index);
  if (v4) e.bytes(IFA_LOCAL, address);
  e.bytes(IFA_ADDRESS, address);
  e.endMessage(at);
  return e.copy();
}

/** Decodes an RTM_NEWLINK reply. Throws DecodeError. */
export function decodeLink(msg: Message): LinkInfo {
  const p = msg.payload;
  if (p.length < IFINFOMSG_LEN) throw new DecodeError(`RTM_NEWLINK reply too short (${p.length} bytes)`);
  const view = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const info: LinkInfo = { index: view.getInt32(4, HOST_LITTLE_ENDIAN), flags: view.getUint32(8, HOST_LITTLE_ENDIAN), name: '' };
  const d = new AttributeDecoder(p, IFINFOMSG_LEN);
  while (d.next()) {
    if (d.type === IFLA_IFNAME) info.name = d.string();
    else if (d.type === IFLA_LINKINFO) {
      const n = d.nested();
      while (n.next()) if (n.type === IFLA_INFO_KIND) info.kind = n.string();
    }
  }
  const err = d.err();
  if (err) throw new DecodeError(`malformed RTM_NEWLINK reply: ${err.message}`);
  return info;
}

/** Decodes one RTM_NEWADDR dump part; `address` is a view into the message. Throws DecodeError. */
export function decodeAddressEntry(msg: Message): AddressEntry {
  const p = msg.payload;
  if (p.length < IFADDRMSG_LEN) throw new DecodeError(`RTM_NEWADDR reply too short (${p.length} bytes)`);
  const family = p[0];
  const index = new DataView(p.buffer, p.byteOffset, p.byteLength).getUint32(4, HOST_LITTLE_ENDIAN);
  let local: Uint8Array | undefined;
  let address: Uint8Array | undefined;
  const d = new AttributeDecoder(p, IFADDRMSG_LEN);
  while (d.next()) {
    if (d.type === IFA_LOCAL) local = d.bytes();
    else if (d.type === IFA_ADDRESS) address = d.bytes();
  }
  const err = d.err();
  if (err) throw new DecodeError(`malformed RTM_NEWADDR reply: ${err.message}`);
  return { index, family, address: local ?? address };
}
