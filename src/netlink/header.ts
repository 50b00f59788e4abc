import { HOST_LITTLE_ENDIAN } from './endian.ts';
import { EncodeError } from './errors.ts';

// struct nlmsghdr { u32 len; u16 type; u16 flags; u32 seq; u32 pid; }: the one place that knows
// where its fields sit. The field accessors take a DataView and an offset (no object per message)
// because the batched write path stamps hundreds of headers per datagram.

export interface Header {
  len: number;
  type: number;
  flags: number;
  seq: number;
  pid: number;
}

const LE = HOST_LITTLE_ENDIAN;
const LEN = 0;
const TYPE = 4;
const FLAGS = 6;
const SEQ = 8;
const PID = 12;
/** nlmsg_len is a u32. */
export const NLMSG_MAX_LENGTH = 0xffffffff;

export function writeHeader(view: DataView, at: number, len: number, type: number, flags: number, seq: number, pid: number): void {
  setHeaderLength(view, at, len);
  view.setUint16(at + TYPE, type, LE);
  view.setUint16(at + FLAGS, flags, LE);
  view.setUint32(at + SEQ, seq >>> 0, LE);
  view.setUint32(at + PID, pid >>> 0, LE);
}

export function readHeader(view: DataView, at: number): Header {
  return {
    len: view.getUint32(at + LEN, LE),
    type: view.getUint16(at + TYPE, LE),
    flags: view.getUint16(at + FLAGS, LE),
    seq: view.getUint32(at + SEQ, LE),
    pid: view.getUint32(at + PID, LE),
  };
}

export function headerLength(view: DataView, at: number): number {
  return view.getUint32(at + LEN, LE);
}
export function headerType(view: DataView, at: number): number {
  return view.getUint16(at + TYPE, LE);
}
export function headerFlags(view: DataView, at: number): number {
  return view.getUint16(at + FLAGS, LE);
}
export function headerSeq(view: DataView, at: number): number {
  return view.getUint32(at + SEQ, LE);
}
export function headerPid(view: DataView, at: number): number {
  return view.getUint32(at + PID, LE);
}

/** Sets nlmsg_len; a length the u32 cannot hold is an EncodeError, not a wrapped number. */
export function setHeaderLength(view: DataView, at: number, len: number): void {
  if (!(len >= 0 && len <= NLMSG_MAX_LENGTH)) throw new EncodeError(`netlink message length ${len} does not fit nlmsg_len (u32)`);
  view.setUint32(at + LEN, len, LE);
}

/** What a connection stamps on a request it sends: its flags (NLM_F_REQUEST, NLM_F_ACK, ...) and sequence number. */
export function stampRequest(view: DataView, at: number, flags: number, seq: number): void {
  view.setUint16(at + FLAGS, flags, LE);
  view.setUint32(at + SEQ, seq >>> 0, LE);
}
