import { describe, expect, it } from 'vitest';
import { Encoder } from '../../src/netlink/attribute.ts';
import { NLM_F_ACK, NLM_F_REQUEST } from '../../src/netlink/constants.ts';
import { EncodeError } from '../../src/netlink/errors.ts';
import { readHeader, setHeaderLength } from '../../src/netlink/header.ts';
import { parseMessages } from '../../src/netlink/message.ts';
import { ackReply, testConn } from '../../src/netlink/testing.ts';

describe('nlmsghdr codec and length limits', () => {
  it('an attribute over 65,535 bytes is an EncodeError, not a truncated nla_len', () => {
    const e = new Encoder();
    e.beginMessage(0x20, 0);
    expect(() => e.bytes(1, new Uint8Array(65_532))).toThrow(EncodeError);
    expect(() => new Encoder().bytes(1, new Uint8Array(65_531))).not.toThrow();
  });

  it('a nested attribute that grows past 65,535 bytes is an EncodeError', () => {
    const e = new Encoder();
    expect(() => e.nested(1, () => { for (let i = 0; i < 3; i++) e.bytes(2, new Uint8Array(30_000)); })).toThrow(/nla_len holds at most 65535/);
  });

  it('a message over 65,535 bytes keeps its exact u32 length (nlmsg_len is a u32)', () => {
    const e = new Encoder();
    const at = e.beginMessage(0x20, 0);
    for (let i = 0; i < 3; i++) e.bytes(2, new Uint8Array(30_000));
    e.endMessage(at);
    const bytes = e.copy();
    expect(bytes.length).toBe(16 + 3 * 30_004);
    expect(parseMessages(bytes)[0].payload.length).toBe(3 * 30_004);
    const view = new DataView(new ArrayBuffer(16));
    expect(() => setHeaderLength(view, 0, 2 ** 32)).toThrow(EncodeError);
  });

  it('Conn stamps flags and sequence on its copy: the caller\'s request bytes are unchanged', async () => {
    const sent: Uint8Array[] = [];
    const { conn } = testConn((req) => {
      sent.push(req.payload);
      expect(req.flags & (NLM_F_REQUEST | NLM_F_ACK)).toBe(NLM_F_REQUEST | NLM_F_ACK);
      return [ackReply(req)];
    });
    const e = new Encoder();
    const at = e.beginMessage(0x20, 0, 0, 0);
    e.u32(1, 7);
    e.endMessage(at);
    const request = e.copy();
    const before = request.slice();
    await conn.execute(request);
    await conn.batch([{ message: request }, { message: request }]);
    expect(request).toEqual(before);
    const h = readHeader(new DataView(request.buffer), 0);
    expect(h.flags & (NLM_F_REQUEST | NLM_F_ACK)).toBe(0);
    expect(sent.length).toBe(3);
  });
});
