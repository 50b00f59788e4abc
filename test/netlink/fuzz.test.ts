import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AttributeDecoder } from '../../src/netlink/attribute.ts';
import { Conn } from '../../src/netlink/conn.ts';
import { DecodeError, DumpInterruptedError, NetlinkError, ProtocolError, TimeoutError } from '../../src/netlink/errors.ts';
import { parseError, parseMessages } from '../../src/netlink/message.ts';
import { decodeAttributes } from '../../src/netlink/schema.ts';
import { commandAttrs } from '../../src/ipvs/schema.ts';
import { ackReply, TestTransport, testConn } from '../../src/netlink/testing.ts';

// Random and mutated bytes must end in a typed error (or a value), never an uncaught
// exception of another kind, and never a hang.

const typed = (e: unknown): boolean =>
  e instanceof DecodeError || e instanceof ProtocolError || e instanceof NetlinkError || e instanceof TimeoutError || e instanceof DumpInterruptedError;

describe('decoder fuzz', () => {
  it('parseMessages / parseError: value or DecodeError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
        try {
          for (const m of parseMessages(bytes)) if (m.type === 2) parseError(m);
        } catch (e) {
          expect(e).toBeInstanceOf(DecodeError);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('attribute decoding never throws: errors stay sticky', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        const d = new AttributeDecoder(bytes);
        decodeAttributes(commandAttrs, d);
        const err = d.err();
        if (err) expect(err).toBeInstanceOf(DecodeError);
      }),
      { numRuns: 3000 },
    );
  });

  it('attribute-shaped random input (valid lengths, random types and payloads)', () => {
    const attr = fc.record({ type: fc.integer({ min: 0, max: 0xffff }), payload: fc.uint8Array({ maxLength: 40 }) });
    fc.assert(
      fc.property(fc.array(attr, { maxLength: 12 }), (attrs) => {
        const parts: number[] = [];
        for (const a of attrs) {
          const len = 4 + a.payload.length;
          parts.push(len & 0xff, len >> 8, a.type & 0xff, a.type >> 8, ...a.payload);
          while (parts.length % 4) parts.push(0);
        }
        const d = new AttributeDecoder(new Uint8Array(parts));
        decodeAttributes(commandAttrs, d);
        const err = d.err();
        if (err) expect(err).toBeInstanceOf(DecodeError);
      }),
      { numRuns: 2000 },
    );
  });

  it('a Conn fed random datagrams answers with a value or a typed error, within its deadline', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 4 }), fc.boolean(), async (datagrams, dump) => {
        const transport = new TestTransport(() => datagrams);
        const conn = new Conn(transport, { timeoutMs: 10 });
        const req = new Uint8Array(16);
        new DataView(req.buffer).setUint32(0, 16, true);
        new DataView(req.buffer).setUint16(4, 0x20, true);
        if (dump) new DataView(req.buffer).setUint16(6, 0x300, true);
        try {
          await conn.execute(req);
        } catch (e) {
          expect(typed(e), String(e)).toBe(true);
        }
      }),
      { numRuns: 200 },
    );
  });
});

// Lengths are u32 on the wire; values >= 2^31 once went negative in 32-bit arithmetic and ended in a
// RangeError instead of a DecodeError. Sequence numbers near 2^32 must wrap without losing ACKs.
describe('decoder fuzz: u32 edges', () => {
  const bigLength = fc.oneof(fc.integer({ min: 0x7ffffff0, max: 0xffffffff }), fc.integer({ min: 0, max: 64 }));

  const errorMessage = (reqLen: number, flags: number, tail: Uint8Array): Uint8Array => {
    const b = new Uint8Array(16 + 4 + 16 + tail.length);
    const v = new DataView(b.buffer);
    v.setUint32(0, b.length, true);
    v.setUint16(4, 2, true); // NLMSG_ERROR
    v.setUint16(6, flags, true);
    v.setInt32(16, -1, true);
    v.setUint32(20, reqLen, true);
    b.set(tail, 36);
    return b;
  };

  it('an NLMSG_ERROR echoing a request length >= 2^31 is a DecodeError or a value, not a RangeError', () => {
    // NLM_F_ACK_TLVS (0x200) without NLM_F_CAPPED: the TLVs start after the echoed request.
    expect(() => parseError(parseMessages(errorMessage(0x80000000, 0x200, new Uint8Array(8)))[0])).not.toThrow(RangeError);
    fc.assert(
      fc.property(bigLength, fc.integer({ min: 0, max: 0x300 }), fc.uint8Array({ maxLength: 32 }), (reqLen, flags, tail) => {
        try {
          for (const m of parseMessages(errorMessage(reqLen, flags, tail))) if (m.type === 2) parseError(m);
        } catch (e) {
          expect(e).toBeInstanceOf(DecodeError);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('a message length field >= 2^31 is a DecodeError', () => {
    fc.assert(
      fc.property(bigLength, fc.uint8Array({ minLength: 16, maxLength: 64 }), (len, bytes) => {
        const b = bytes.slice();
        new DataView(b.buffer).setUint32(0, len, true);
        try {
          parseMessages(b);
        } catch (e) {
          expect(e).toBeInstanceOf(DecodeError);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('batches starting anywhere near 2^32 get every ACK matched to its request', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0xffffffff - 40, max: 0xffffffff }), fc.integer({ min: 1, max: 20 }), async (start, n) => {
        const { conn, transport } = testConn((req) => [ackReply(req, req.payload[0] % 2 ? 17 : 0)], { initialSequence: start, timeoutMs: 50 });
        const reqs = Array.from({ length: n }, (_, i) => {
          const r = new Uint8Array(20);
          const v = new DataView(r.buffer);
          v.setUint32(0, 20, true);
          v.setUint16(4, 0x30, true);
          r[16] = i;
          return { message: r };
        });
        const results = await conn.batch(reqs);
        expect(results.map((r) => (r ? (r as NetlinkError).errno : 0))).toEqual(reqs.map((_, i) => (i % 2 ? 17 : 0)));
        expect(transport.sent.every((m) => m.seq !== 0 && m.seq <= 0xffffffff)).toBe(true);
        const after = await conn.batch([reqs[0]]);
        expect(after).toEqual([undefined]);
      }),
      { numRuns: 200 },
    );
  });
});
