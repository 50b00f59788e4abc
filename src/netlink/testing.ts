import { HOST_LITTLE_ENDIAN } from './attribute.ts';
import { Encoder } from './attribute.ts';
import { Conn, type ConnOptions } from './conn.ts';
import { NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_MULTI, NLMSG_DONE, NLMSG_ERROR, NLMSG_HDRLEN, NLMSGERR_ATTR_MSG } from './constants.ts';
import { type Message, parseMessages } from './message.ts';
import type { Transport } from './transport.ts';

// A test connection (like mdlayher's nltest): the "kernel" is a function from each
// request message to the reply messages. Everything above the socket (the IPVS client,
// error mapping, dump handling) is unit-tested with it.

/** A reply from the fake kernel; seq and pid default to the request's seq and the socket's port id. */
export interface FakeReply {
  type: number;
  flags?: number;
  seq?: number;
  pid?: number;
  payload?: Uint8Array;
}

/**
 * The fake kernel: given one request, returns replies. Each element is one datagram:
 * a FakeReply, an array of FakeReply packed together, raw bytes, or an Error that the
 * transport's receive() throws at that point (e.g. a TransportError for ENOBUFS).
 */
export type FakeKernel = (request: Message) => Array<FakeReply | FakeReply[] | Uint8Array | Error>;

export class TestTransport implements Transport {
  readonly portId: number;
  /** Every request message sent, in order (copies). */
  readonly sent: Message[] = [];
  /** Every datagram sent, in order (copies). */
  readonly datagrams: Uint8Array[] = [];
  closed = false;
  private readonly kernel: FakeKernel;
  private readonly inbox: Array<Uint8Array | Error> = [];

  constructor(kernel: FakeKernel, portId = 4242) {
    this.kernel = kernel;
    this.portId = portId;
  }

  send(data: Uint8Array): void {
    this.datagrams.push(data.slice());
    for (const msg of parseMessages(data.slice())) {
      this.sent.push(msg);
      for (const out of this.kernel(msg)) {
        if (out instanceof Error || out instanceof Uint8Array) this.inbox.push(out);
        else this.inbox.push(encodeReplies(Array.isArray(out) ? out : [out], msg.seq, this.portId));
      }
    }
  }

  async receive(deadline: number): Promise<Uint8Array | undefined> {
    const next = this.inbox.shift();
    if (next === undefined) {
      // Nothing will ever come: behave like a socket that waited until its deadline.
      const wait = Math.max(0, deadline - Date.now());
      await new Promise((resolve) => setTimeout(resolve, Math.min(wait, 5)));
      return undefined;
    }
    if (next instanceof Error) throw next;
    return next;
  }

  receiveReady(): Uint8Array | undefined {
    const next = this.inbox.shift();
    if (next instanceof Error) throw next;
    return next;
  }

  close(): void {
    this.closed = true;
  }
}

export function testConn(kernel: FakeKernel, options: ConnOptions & { portId?: number } = {}): { conn: Conn; transport: TestTransport } {
  const transport = new TestTransport(kernel, options.portId);
  return { conn: new Conn(transport, options), transport };
}

/** Encodes reply messages into one datagram. */
export function encodeReplies(replies: FakeReply[], seq: number, pid: number): Uint8Array {
  const e = new Encoder(256);
  for (const r of replies) {
    const at = e.beginMessage(r.type, r.flags ?? 0, r.seq ?? seq, r.pid ?? pid);
    if (r.payload) e.raw(r.payload);
    e.endMessage(at);
  }
  return e.copy();
}

/** NLMSG_ERROR payload: errno 0 is an ACK. Capped (no request echo), with the ext-ack text if given. */
export function ackReply(request: Message, errno = 0, extAck?: string): FakeReply {
  const e = new Encoder(64);
  e.s32raw(-errno);
  // The echoed request header (capped: header only).
  e.u32raw(NLMSG_HDRLEN + request.payload.length);
  e.u16raw(request.type);
  e.u16raw(request.flags);
  e.u32raw(request.seq);
  e.u32raw(request.pid);
  let flags = NLM_F_CAPPED;
  if (extAck !== undefined) {
    e.string(NLMSGERR_ATTR_MSG, extAck);
    flags |= NLM_F_ACK_TLVS;
  }
  return { type: NLMSG_ERROR, flags, payload: e.copy() };
}

export function doneReply(errno = 0, flags = 0): FakeReply {
  const payload = new Uint8Array(4);
  new DataView(payload.buffer).setInt32(0, -errno, HOST_LITTLE_ENDIAN);
  return { type: NLMSG_DONE, flags: NLM_F_MULTI | flags, payload };
}
