import { align4 } from './align.ts';
import { AttributeDecoder, HOST_LITTLE_ENDIAN } from './attribute.ts';
import { NLM_F_ACK_TLVS, NLM_F_CAPPED, NLMSG_HDRLEN, NLMSGERR_ATTR_MSG, NLMSGERR_ATTR_OFFS } from './constants.ts';
import { DecodeError } from './errors.ts';
import { type Header, headerFlags, headerLength, headerPid, headerSeq, headerType } from './header.ts';

// A message is a struct nlmsghdr (header.ts) then the payload.

export interface Message {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  /** The payload (a view into the receive buffer, not a copy). */
  payload: Uint8Array;
}

const LE = HOST_LITTLE_ENDIAN;

/**
 * Splits one datagram into messages. Throws DecodeError on a malformed header or a
 * length that runs past the datagram.
 */
export function parseMessages(data: Uint8Array): Message[] {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const out: Message[] = [];
  let off = 0;
  while (off < data.length) {
    if (data.length - off < NLMSG_HDRLEN) throw new DecodeError(`truncated netlink header at offset ${off}`);
    const len = headerLength(view, off);
    if (len < NLMSG_HDRLEN || off + len > data.length) {
      throw new DecodeError(`netlink message at offset ${off} has invalid length ${len} (datagram ${data.length} bytes)`);
    }
    out.push({
      type: headerType(view, off),
      flags: headerFlags(view, off),
      seq: headerSeq(view, off),
      pid: headerPid(view, off),
      payload: data.subarray(off + NLMSG_HDRLEN, off + len),
    });
    off += align4(len);
  }
  return out;
}

export interface ErrorPayload {
  /** 0 for an ACK, else a positive errno. */
  errno: number;
  /** Header of the request this answers. */
  request: Omit<Header, 'len'>;
  /** Extended-ACK message (NLMSGERR_ATTR_MSG). */
  extAck?: string;
  /** Extended-ACK offset of the offending attribute in the request. */
  extAckOffset?: number;
}

/** Decodes a NLMSG_ERROR payload (struct nlmsgerr + optional extended-ACK TLVs). */
export function parseError(msg: Message): ErrorPayload {
  const p = msg.payload;
  if (p.length < 4 + NLMSG_HDRLEN) throw new DecodeError(`NLMSG_ERROR payload too short (${p.length} bytes)`);
  const view = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const error = view.getInt32(0, LE);
  // struct nlmsgerr { int error; struct nlmsghdr msg; }
  const reqLen = headerLength(view, 4);
  const request = { type: headerType(view, 4), flags: headerFlags(view, 4), seq: headerSeq(view, 4), pid: headerPid(view, 4) };
  const result: ErrorPayload = { errno: error < 0 ? -error : error, request };
  if (msg.flags & NLM_F_ACK_TLVS) {
    // Without NLM_F_CAPPED the whole request is echoed before the TLVs.
    let tlvStart = 4 + NLMSG_HDRLEN;
    if (!(msg.flags & NLM_F_CAPPED)) {
      if (reqLen < NLMSG_HDRLEN) throw new DecodeError(`NLMSG_ERROR echoes a request of invalid length ${reqLen}`);
      tlvStart = 4 + align4(reqLen);
    }
    if (tlvStart <= p.length) {
      const d = new AttributeDecoder(p, tlvStart);
      while (d.next()) {
        if (d.type === NLMSGERR_ATTR_MSG) result.extAck = d.string();
        else if (d.type === NLMSGERR_ATTR_OFFS) result.extAckOffset = d.u32();
      }
      const err = d.err();
      if (err) throw err;
    }
  }
  return result;
}

/** The signed errno carried by NLMSG_DONE (0 when the dump ended normally). */
export function parseDoneErrno(msg: Message): number {
  if (msg.payload.length < 4) return 0;
  const v = new DataView(msg.payload.buffer, msg.payload.byteOffset, msg.payload.byteLength).getInt32(0, LE);
  return v < 0 ? -v : v;
}
