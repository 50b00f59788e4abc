import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AttributeDecoder } from '../../src/netlink/attribute.ts';
import { Conn } from '../../src/netlink/conn.ts';
import { DecodeError, DumpInterruptedError, NetlinkError, ProtocolError, TimeoutError } from '../../src/netlink/errors.ts';
import { parseError, parseMessages } from '../../src/netlink/message.ts';
import { decodeAttributes } from '../../src/netlink/schema.ts';
import { commandAttrs } from '../../src/ipvs/schema.ts';
import { TestTransport } from '../../src/netlink/testing.ts';

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
