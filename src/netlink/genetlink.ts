import { AttributeDecoder, Encoder } from './attribute.ts';
import { CTRL_ATTR_FAMILY_ID, CTRL_ATTR_FAMILY_NAME, CTRL_ATTR_HDRSIZE, CTRL_ATTR_MAXATTR, CTRL_ATTR_VERSION, CTRL_CMD_GETFAMILY, GENL_HDRLEN, GENL_ID_CTRL, NLM_F_REQUEST } from './constants.ts';
import type { Conn } from './conn.ts';
import { DecodeError, NetlinkError, ProtocolError } from './errors.ts';
import type { Message } from './message.ts';

// Generic netlink: struct genlmsghdr after the nlmsghdr, and family ids resolved by
// name through the nlctrl family.

export interface GenlFamily {
  id: number;
  name: string;
  version: number;
  headerSize: number;
  maxAttr: number;
}

/** The family is not registered in this kernel/namespace (nlctrl answered ENOENT). */
export class FamilyNotFoundError extends Error {
  readonly code = 'NETLINK_FAMILY_NOT_FOUND';
  readonly family: string;
  constructor(family: string, options?: ErrorOptions) {
    super(`generic netlink family ${JSON.stringify(family)} is not registered in this kernel`, options);
    this.name = 'FamilyNotFoundError';
    this.family = family;
  }
}

/** Starts a generic netlink request in `e`: nlmsghdr + genlmsghdr. Returns the message offset. */
export function beginGenl(e: Encoder, familyId: number, cmd: number, version: number, flags: number): number {
  const at = e.beginMessage(familyId, flags | NLM_F_REQUEST);
  e.genlHeader(cmd, version);
  return at;
}

/** The genlmsghdr of a reply and a decoder over its attributes. */
export function genlPayload(msg: Message): { cmd: number; version: number; attrs: AttributeDecoder } {
  if (msg.payload.length < GENL_HDRLEN) throw new DecodeError(`generic netlink payload too short (${msg.payload.length} bytes)`);
  return { cmd: msg.payload[0], version: msg.payload[1], attrs: new AttributeDecoder(msg.payload, GENL_HDRLEN) };
}

export function encodeGetFamily(name: string): Uint8Array {
  const e = new Encoder(64);
  const at = beginGenl(e, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1, 0);
  e.string(CTRL_ATTR_FAMILY_NAME, name);
  e.endMessage(at);
  return e.copy();
}

export function decodeFamily(msg: Message): GenlFamily {
  const { attrs } = genlPayload(msg);
  const family: GenlFamily = { id: 0, name: '', version: 0, headerSize: 0, maxAttr: 0 };
  while (attrs.next()) {
    switch (attrs.type) {
      case CTRL_ATTR_FAMILY_ID: family.id = attrs.u16(); break;
      case CTRL_ATTR_FAMILY_NAME: family.name = attrs.string(); break;
      case CTRL_ATTR_VERSION: family.version = attrs.u32(); break;
      case CTRL_ATTR_HDRSIZE: family.headerSize = attrs.u32(); break;
      case CTRL_ATTR_MAXATTR: family.maxAttr = attrs.u32(); break;
    }
  }
  const err = attrs.err();
  if (err) throw err;
  if (family.id === 0) throw new ProtocolError('nlctrl reply carries no family id');
  return family;
}

/** Resolves a generic netlink family by name. Throws FamilyNotFoundError when absent. */
export async function resolveFamily(conn: Conn, name: string, timeoutMs?: number): Promise<GenlFamily> {
  let replies: Message[];
  try {
    replies = await conn.execute(encodeGetFamily(name), { operation: `nlctrl GETFAMILY ${name}`, timeoutMs });
  } catch (e) {
    if (e instanceof NetlinkError && e.errnoName === 'ENOENT') throw new FamilyNotFoundError(name, { cause: e });
    throw e;
  }
  if (replies.length !== 1) throw new ProtocolError(`nlctrl GETFAMILY ${name}: expected one reply, got ${replies.length}`);
  return decodeFamily(replies[0]);
}
