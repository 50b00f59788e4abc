import { align4 } from './align.ts';
import { NLA_F_NESTED, NLA_HDRLEN, NLA_TYPE_MASK, NLMSG_HDRLEN } from './constants.ts';
import { HOST_LITTLE_ENDIAN } from './endian.ts';
import { DecodeError, EncodeError } from './errors.ts';
import { setHeaderLength, writeHeader } from './header.ts';

// Attribute encoding and decoding (struct nlattr: u16 len, u16 type, payload, pad to 4).
// "Host order" values use the machine's byte order, as the kernel does; values the kernel
// keeps in network order (ports, IPv4 netmasks) have explicit *be methods.

export { HOST_LITTLE_ENDIAN };
const LE = HOST_LITTLE_ENDIAN;
const TEXT_ENCODER = new TextEncoder();
const TEXT_DECODER = new TextDecoder();
/** nla_len is a u16: a longer attribute cannot be said on the wire. */
export const NLA_MAX_LENGTH = 0xffff;

function checkAttributeLength(type: number, len: number): void {
  if (len > NLA_MAX_LENGTH) throw new EncodeError(`attribute type ${type & NLA_TYPE_MASK} would be ${len} bytes; nla_len holds at most ${NLA_MAX_LENGTH}`);
}

/**
 * Writes netlink messages and attributes into one growable buffer that is reused
 * between messages, so encoding a request allocates only its final copy.
 */
export class Encoder {
  private buf: Uint8Array;
  private view: DataView;
  /** Write position. */
  pos = 0;

  constructor(initialSize = 4096) {
    this.buf = new Uint8Array(initialSize);
    this.view = new DataView(this.buf.buffer);
  }

  reset(): void {
    this.pos = 0;
  }

  private reserve(n: number): void {
    const need = this.pos + n;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  /** Appends raw bytes (already laid out), then pads to 4. */
  raw(bytes: Uint8Array): void {
    this.reserve(align4(bytes.length));
    this.buf.set(bytes, this.pos);
    this.pad(bytes.length);
  }

  private pad(len: number): void {
    const padded = align4(len);
    for (let i = len; i < padded; i++) this.buf[this.pos + i] = 0;
    this.pos += padded;
  }

  /** Writes a struct nlmsghdr with length 0 (fixed by endMessage); returns its offset. */
  beginMessage(type: number, flags: number, seq = 0, pid = 0): number {
    this.reserve(NLMSG_HDRLEN);
    const at = this.pos;
    writeHeader(this.view, at, 0, type, flags, seq, pid);
    this.pos += NLMSG_HDRLEN;
    return at;
  }

  endMessage(at: number): void {
    setHeaderLength(this.view, at, this.pos - at);
  }

  /** struct genlmsghdr { u8 cmd; u8 version; u16 reserved; } */
  genlHeader(cmd: number, version: number): void {
    this.reserve(4);
    this.buf[this.pos] = cmd;
    this.buf[this.pos + 1] = version;
    this.buf[this.pos + 2] = 0;
    this.buf[this.pos + 3] = 0;
    this.pos += 4;
  }

  /** Fixed-size family header fields written directly into the payload (e.g. ifinfomsg). */
  u8raw(v: number): void {
    this.reserve(1);
    this.buf[this.pos++] = v;
  }
  u16raw(v: number): void {
    this.reserve(2);
    this.view.setUint16(this.pos, v, LE);
    this.pos += 2;
  }
  u32raw(v: number): void {
    this.reserve(4);
    this.view.setUint32(this.pos, v >>> 0, LE);
    this.pos += 4;
  }
  s32raw(v: number): void {
    this.reserve(4);
    this.view.setInt32(this.pos, v, LE);
    this.pos += 4;
  }

  private header(type: number, payloadLen: number): void {
    checkAttributeLength(type, NLA_HDRLEN + payloadLen);
    this.reserve(NLA_HDRLEN + align4(payloadLen));
    this.view.setUint16(this.pos, NLA_HDRLEN + payloadLen, LE);
    this.view.setUint16(this.pos + 2, type, LE);
    this.pos += NLA_HDRLEN;
  }

  u8(type: number, v: number): void {
    this.header(type, 1);
    this.buf[this.pos] = v;
    this.pad(1);
  }
  u16(type: number, v: number): void {
    this.header(type, 2);
    this.view.setUint16(this.pos, v, LE);
    this.pad(2);
  }
  u16be(type: number, v: number): void {
    this.header(type, 2);
    this.view.setUint16(this.pos, v, false);
    this.pad(2);
  }
  u32(type: number, v: number): void {
    this.header(type, 4);
    this.view.setUint32(this.pos, v >>> 0, LE);
    this.pos += 4;
  }
  s32(type: number, v: number): void {
    this.header(type, 4);
    this.view.setInt32(this.pos, v, LE);
    this.pos += 4;
  }
  u32be(type: number, v: number): void {
    this.header(type, 4);
    this.view.setUint32(this.pos, v >>> 0, false);
    this.pos += 4;
  }
  u64(type: number, v: bigint): void {
    this.header(type, 8);
    this.view.setBigUint64(this.pos, v, LE);
    this.pos += 8;
  }
  bytes(type: number, v: Uint8Array): void {
    this.header(type, v.length);
    this.buf.set(v, this.pos);
    this.pad(v.length);
  }
  /** NUL-terminated string (NLA_NUL_STRING / NLA_STRING both accept it). */
  string(type: number, v: string): void {
    const encoded = TEXT_ENCODER.encode(v);
    this.header(type, encoded.length + 1);
    this.buf.set(encoded, this.pos);
    this.buf[this.pos + encoded.length] = 0;
    this.pad(encoded.length + 1);
  }
  flag(type: number): void {
    this.header(type, 0);
  }
  /** A nested attribute; NLA_F_NESTED is set as modern kernels expect (strict validation). */
  nested(type: number, fill: () => void, setNestedFlag = true): void {
    this.reserve(NLA_HDRLEN);
    const at = this.pos;
    this.view.setUint16(at + 2, setNestedFlag ? type | NLA_F_NESTED : type, LE);
    this.pos += NLA_HDRLEN;
    fill();
    checkAttributeLength(type, this.pos - at);
    this.view.setUint16(at, this.pos - at, LE);
  }

  /** A copy of everything written since `from`. */
  copy(from = 0): Uint8Array {
    return this.buf.slice(from, this.pos);
  }
}

/**
 * Streaming attribute decoder with a sticky error: after the first malformed attribute
 * or wrongly sized read, next() returns false and err() tells why, so call sites stay a
 * flat `while (d.next()) switch (d.type) { ... }` followed by one error check.
 */
export class AttributeDecoder {
  private readonly buf: Uint8Array;
  private readonly view: DataView;
  private readonly end: number;
  private off: number;
  private start = 0;
  private len = 0;
  private error: DecodeError | undefined;
  /** Attribute type with the NESTED / NET_BYTEORDER bits removed. */
  type = 0;
  /** Raw type field, flags included. */
  rawType = 0;

  constructor(buf: Uint8Array, offset = 0, end = buf.length) {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.off = offset;
    this.end = Math.min(end, buf.length);
  }

  next(): boolean {
    if (this.error) return false;
    if (this.off >= this.end) return false;
    if (this.end - this.off < NLA_HDRLEN) {
      this.fail(`truncated attribute header at offset ${this.off}`);
      return false;
    }
    const len = this.view.getUint16(this.off, LE);
    const rawType = this.view.getUint16(this.off + 2, LE);
    if (len < NLA_HDRLEN || this.off + len > this.end) {
      this.fail(`attribute type ${rawType & NLA_TYPE_MASK} has invalid length ${len} at offset ${this.off}`);
      return false;
    }
    this.rawType = rawType;
    this.type = rawType & NLA_TYPE_MASK;
    this.start = this.off + NLA_HDRLEN;
    this.len = len - NLA_HDRLEN;
    this.off += align4(len);
    return true;
  }

  err(): DecodeError | undefined {
    return this.error;
  }

  /** Records an error found by the caller (e.g. an unexpected value); the first one sticks. */
  fail(message: string): void {
    if (!this.error) this.error = new DecodeError(message);
  }

  /** Payload length of the current attribute. */
  get length(): number {
    return this.len;
  }

  private need(n: number, what: string): boolean {
    if (this.len === n) return true;
    this.fail(`attribute type ${this.type}: ${what} needs ${n} bytes, has ${this.len}`);
    return false;
  }

  u8(): number {
    return this.need(1, 'u8') ? this.buf[this.start] : 0;
  }
  u16(): number {
    return this.need(2, 'u16') ? this.view.getUint16(this.start, LE) : 0;
  }
  u16be(): number {
    return this.need(2, 'u16') ? this.view.getUint16(this.start, false) : 0;
  }
  u32(): number {
    return this.need(4, 'u32') ? this.view.getUint32(this.start, LE) : 0;
  }
  s32(): number {
    return this.need(4, 's32') ? this.view.getInt32(this.start, LE) : 0;
  }
  u32be(): number {
    return this.need(4, 'u32') ? this.view.getUint32(this.start, false) : 0;
  }
  u64(): bigint {
    return this.need(8, 'u64') ? this.view.getBigUint64(this.start, LE) : 0n;
  }
  /** A view (not a copy) of the payload; valid while the receive buffer is. */
  bytes(): Uint8Array {
    return this.buf.subarray(this.start, this.start + this.len);
  }
  /** A string, up to the first NUL. */
  string(): string {
    let stop = this.start;
    const limit = this.start + this.len;
    while (stop < limit && this.buf[stop] !== 0) stop++;
    return TEXT_DECODER.decode(this.buf.subarray(this.start, stop));
  }
  /** A decoder over the nested attributes; its errors propagate to this one. */
  nested(): AttributeDecoder {
    return new NestedDecoder(this, this.buf, this.start, this.start + this.len);
  }
}

class NestedDecoder extends AttributeDecoder {
  private readonly parent: AttributeDecoder;
  constructor(parent: AttributeDecoder, buf: Uint8Array, offset: number, end: number) {
    super(buf, offset, end);
    this.parent = parent;
  }
  override fail(message: string): void {
    super.fail(message);
    this.parent.fail(message);
  }
}
