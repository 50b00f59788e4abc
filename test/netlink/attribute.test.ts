import { describe, expect, it } from 'vitest';
import { AttributeDecoder, Encoder } from '../../src/netlink/attribute.ts';
import { NLA_F_NESTED } from '../../src/netlink/constants.ts';
import { DecodeError } from '../../src/netlink/errors.ts';
import { parseError, parseMessages } from '../../src/netlink/message.ts';
import { decodeAttributes, defineAttributeSet, encodeAttributes } from '../../src/netlink/schema.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const bytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h.replace(/\s+/g, ''), 'hex'));

describe('attribute encoder', () => {
  it('pads every attribute to 4 bytes and picks byte order per method', () => {
    const e = new Encoder(8); // small: forces growth
    e.u8(1, 0xab);
    e.u16(2, 0x1234);
    e.u16be(3, 0x1234);
    e.u32(4, 0xdeadbeef);
    e.u32be(5, 0x0a000001);
    e.u64(6, 0x0102030405060708n);
    e.string(7, 'rr');
    e.bytes(8, new Uint8Array([1, 2, 3, 4, 5]));
    e.flag(9);
    expect(hex(e.copy())).toBe(
      [
        '0500 0100 ab000000',
        '0600 0200 3412 0000',
        '0600 0300 1234 0000',
        '0800 0400 efbeadde',
        '0800 0500 0a000001',
        '0c00 0600 0807060504030201',
        '0700 0700 727200 00',
        '0900 0800 0102030405 000000',
        '0400 0900',
      ]
        .join('')
        .replace(/\s+/g, ''),
    );
  });

  it('nests with NLA_F_NESTED and the right length', () => {
    const e = new Encoder();
    e.nested(1, () => {
      e.u32(2, 7);
      e.nested(3, () => e.u16(4, 1));
    });
    expect(hex(e.copy())).toBe('18000180' + '0800020007000000' + '0c000380' + '0600040001000000');
  });

  it('builds messages with nlmsghdr and genlmsghdr', () => {
    const e = new Encoder();
    const at = e.beginMessage(0x20, 0x5, 9, 77);
    e.genlHeader(15, 1);
    e.endMessage(at);
    expect(hex(e.copy())).toBe('14000000' + '2000' + '0500' + '09000000' + '4d000000' + '0f010000');
  });
});

describe('attribute decoder', () => {
  it('streams attributes and reads each with its byte order', () => {
    const d = new AttributeDecoder(bytes('0600 0400 0050 0000  0800 0500 0a000001  0c00 0c80 0800 0100 2a000000'));
    const seen: Array<[number, unknown]> = [];
    while (d.next()) {
      switch (d.type) {
        case 4: seen.push([4, d.u16be()]); break;
        case 5: seen.push([5, d.u32be()]); break;
        case 12: {
          const n = d.nested();
          while (n.next()) seen.push([n.type, n.u32()]);
        }
      }
    }
    expect(d.err()).toBeUndefined();
    expect(seen).toEqual([[4, 80], [5, 0x0a000001], [1, 42]]);
  });

  it('keeps the first error (sticky) and stops', () => {
    const d = new AttributeDecoder(bytes('0600 0100 0100 0000  0800 0200 01000000'));
    expect(d.next()).toBe(true);
    d.u32(); // wrong size: a u16 payload
    expect(d.err()).toBeInstanceOf(DecodeError);
    expect(d.next()).toBe(false);
    d.fail('second');
    expect(d.err()?.message).toMatch(/needs 4 bytes/);
  });

  it('rejects lengths that run past the buffer or are below the header', () => {
    for (const h of ['ff00 0100 00000000', '0200 0100', '0800 01', '0000 0100 0000']) {
      const d = new AttributeDecoder(bytes(h));
      while (d.next()) {}
      expect(d.err(), h).toBeInstanceOf(DecodeError);
    }
  });

  it('propagates nested errors to the parent', () => {
    const d = new AttributeDecoder(bytes('0c00 0180 ff00 0100 00000000'));
    expect(d.next()).toBe(true);
    const n = d.nested();
    while (n.next()) {}
    expect(n.err()).toBeInstanceOf(DecodeError);
    expect(d.err()).toBeInstanceOf(DecodeError);
  });
});

describe('declarative schema', () => {
  const inner = defineAttributeSet('inner', { count: { type: 1, kind: 'u64' } });
  const outer = defineAttributeSet('outer', {
    port: { type: 1, kind: 'u16be' },
    name: { type: 2, kind: 'string' },
    mark: { type: 3, kind: 'u32' },
    stats: { type: 4, kind: 'nested', set: inner },
    raw: { type: 5, kind: 'bytes' },
  });

  it('encodes and decodes by table, skipping unknown attributes', () => {
    const e = new Encoder();
    encodeAttributes(outer, e, { port: 443, name: 'mh', stats: { count: 5n }, raw: new Uint8Array([9]) });
    e.u32(30, 1); // unknown to the table
    const d = new AttributeDecoder(e.copy());
    const v = decodeAttributes(outer, d);
    expect(d.err()).toBeUndefined();
    expect(v).toEqual({ port: 443, name: 'mh', stats: { count: 5n }, raw: new Uint8Array([9]) });
  });

  it('refuses a table with two fields on one number', () => {
    expect(() => defineAttributeSet('bad', { a: { type: 1, kind: 'u8' }, b: { type: 1, kind: 'u16' } })).toThrow(/used twice/);
  });

  it('marks nested attributes', () => {
    const e = new Encoder();
    encodeAttributes(outer, e, { stats: {} });
    expect(new DataView(e.copy().buffer).getUint16(2, true)).toBe(4 | NLA_F_NESTED);
  });
});

describe('messages', () => {
  it('splits a datagram into aligned messages', () => {
    const msgs = parseMessages(bytes('1400000010000200010000002a000000 01020304' + '1000000003000200010000002a000000'));
    expect(msgs.map((m) => [m.type, m.flags, m.seq, m.pid, m.payload.length])).toEqual([
      [16, 2, 1, 42, 4],
      [3, 2, 1, 42, 0],
    ]);
  });

  it('rejects truncated or overlong headers', () => {
    expect(() => parseMessages(bytes('14000000'))).toThrow(DecodeError);
    expect(() => parseMessages(bytes('ff00000010000200010000002a000000'))).toThrow(DecodeError);
    expect(() => parseMessages(bytes('0400000010000200010000002a000000'))).toThrow(DecodeError);
  });

  it('reads errno and the extended-ACK message from NLMSG_ERROR', () => {
    // error -17, capped echo of the request header, then NLMSGERR_ATTR_MSG "exists".
    const payload = bytes('efffffff' + '1400000020000500070000000000000' + '0' + '0b000100' + '6578697374730000');
    const err = parseError({ type: 2, flags: 0x300, seq: 7, pid: 0, payload });
    expect(err).toMatchObject({ errno: 17, extAck: 'exists', request: { type: 0x20, seq: 7 } });
  });
});
