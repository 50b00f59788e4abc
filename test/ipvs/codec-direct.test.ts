import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeDestination, decodeDestValues, decodeService, decodeServiceValues, destValuesOf, serviceValuesOf } from '../../src/ipvs/codec.ts';
import { destAttrs, IpvsCmd, serviceAttrs } from '../../src/ipvs/schema.ts';
import { Encoder } from '../../src/netlink/attribute.ts';
import { genlPayload } from '../../src/netlink/genetlink.ts';
import { type Message, parseMessages } from '../../src/netlink/message.ts';
import { type AttributeSet, decodeAttributes, type FieldTable, type Values } from '../../src/netlink/schema.ts';
import { call } from './replay.ts';

// The direct decoders of NEW_SERVICE / NEW_DEST replies must say exactly what the schema-driven
// decodeAttributes() says (the definition of the wire format), for real replies, mutated real
// replies and generated attribute soups: the same values, or an error from both.

function oracle<T extends FieldTable>(msg: Message, cmd: number, attrType: number, set: AttributeSet<T>): Values<T> {
  const p = genlPayload(msg);
  if (p.cmd !== cmd) throw new Error('wrong command');
  let values: Values<T> | undefined;
  const skip = new Set(['stats']) as ReadonlySet<keyof T>;
  while (p.attrs.next()) {
    if (p.attrs.type !== attrType) continue;
    const nested = p.attrs.nested();
    values = decodeAttributes(set, nested, skip);
    if (!(values as { stats64?: unknown }).stats64 && !nested.err()) values = decodeAttributes(set, p.attrs.nested());
  }
  const err = p.attrs.err();
  if (err) throw err;
  if (!values) throw new Error('no nested attribute');
  return values;
}

type Outcome = { ok: true; raw: unknown; decoded: unknown } | { ok: false };

function outcome(fn: () => unknown, finish: (raw: never) => unknown): Outcome {
  let raw: unknown;
  try {
    raw = fn();
  } catch {
    return { ok: false };
  }
  try {
    return { ok: true, raw, decoded: finish(raw as never) };
  } catch {
    return { ok: true, raw, decoded: 'error' };
  }
}

function compareDest(msg: Message): void {
  const want = outcome(() => oracle(msg, IpvsCmd.NEW_DEST, 2, destAttrs), (v) => decodeDestValues(v, 'inet'));
  const got = outcome(() => destValuesOf(msg), (v) => decodeDestValues(v, 'inet'));
  expect(got).toEqual(want);
  if (want.ok && want.decoded !== 'error') expect(decodeDestination(msg, 'inet')).toEqual(want.decoded);
}

function compareService(msg: Message): void {
  const want = outcome(() => oracle(msg, IpvsCmd.NEW_SERVICE, 1, serviceAttrs), (v) => decodeServiceValues(v));
  const got = outcome(() => serviceValuesOf(msg), (v) => decodeServiceValues(v));
  expect(got).toEqual(want);
  if (want.ok && want.decoded !== 'error') expect(decodeService(msg)).toEqual(want.decoded);
}

const captured = (name: string): Message[] => parseMessages(new Uint8Array(Buffer.from(call(name).replies[0], 'hex')));

describe('direct IPVS reply decoders = the schema decoder', () => {
  it('on real kernel replies (tcp, udp6 destinations; every kind of service)', () => {
    const dests = [...captured('listDestinations tcp'), ...captured('listDestinations udp6')];
    const services = captured('listServices');
    expect(dests.length).toBeGreaterThanOrEqual(3);
    expect(services.length).toBeGreaterThanOrEqual(5);
    for (const m of dests) {
      compareDest(m);
      expect(destValuesOf(m).stats64).toBeDefined();
    }
    for (const m of services) compareService(m);
  });

  it('on mutated real replies (flipped bytes, truncation)', () => {
    const sources: Array<[Message, (m: Message) => void]> = [
      ...captured('listDestinations tcp').map((m) => [m, compareDest] as [Message, (m: Message) => void]),
      ...captured('listServices').map((m) => [m, compareService] as [Message, (m: Message) => void]),
    ];
    fc.assert(
      fc.property(
        fc.nat({ max: sources.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { maxLength: 4 }),
        fc.option(fc.nat(), { nil: undefined }),
        (which, flips, cut) => {
          const [msg, compare] = sources[which];
          let payload = msg.payload.slice();
          for (const [at, x] of flips) payload[at % payload.length] ^= x;
          if (cut !== undefined) payload = payload.subarray(0, cut % (payload.length + 1));
          compare({ ...msg, payload });
        },
      ),
      { numRuns: 3000 },
    );
  });

  // Attribute soups: the right sizes most of the time, so values decode and duplicates, unknown
  // numbers, wrong sizes and STATS-without-STATS64 all come up.
  const attr = (maxType: number, sizes: number[]): fc.Arbitrary<{ type: number; bytes: Uint8Array }> =>
    fc.record({
      type: fc.integer({ min: 0, max: maxType }),
      size: fc.oneof(fc.constantFrom(...sizes), fc.nat({ max: 20 })),
      seed: fc.nat(),
    }).map(({ type, size, seed }) => {
      const bytes = new Uint8Array(size);
      for (let i = 0; i < size; i++) bytes[i] = (seed >>> (i % 24)) & 0xff;
      if (size >= 4 && seed % 3 === 0) bytes.set([10, 0, 0, 1]);
      if (size > 0 && seed % 5 === 0) bytes[size - 1] = 0;
      return { type, bytes };
    });
  type Node = { type: number; bytes: Uint8Array } | { type: number; children: Array<{ type: number; bytes: Uint8Array }> };
  const soup = (maxType: number, sizes: number[]): fc.Arbitrary<Node[]> =>
    fc.array(
      fc.oneof(
        { weight: 4, arbitrary: attr(maxType, sizes) as fc.Arbitrary<Node> },
        { weight: 1, arbitrary: fc.record({ type: fc.constantFrom(10, 12), children: fc.array(attr(12, [4, 8]), { maxLength: 12 }) }) },
      ),
      { maxLength: 16 },
    );

  function build(cmd: number, outer: number, nodes: Node[], extraTop: boolean): Message {
    const e = new Encoder(256);
    e.genlHeader(cmd, 1);
    if (extraTop) e.u32(4, 7);
    e.nested(outer, () => {
      for (const n of nodes) {
        if ('children' in n) e.nested(n.type, () => { for (const c of n.children) e.bytes(c.type, c.bytes); });
        else e.bytes(n.type, n.bytes);
      }
    });
    return { type: 0x20, flags: 0, seq: 1, pid: 1, payload: e.copy() };
  }

  it('on generated destination attribute sets', () => {
    fc.assert(
      fc.property(soup(16, [1, 2, 4, 16]), fc.boolean(), (nodes, extra) => compareDest(build(IpvsCmd.NEW_DEST, 2, nodes, extra))),
      { numRuns: 3000 },
    );
  });

  it('on generated service attribute sets', () => {
    fc.assert(
      fc.property(soup(13, [2, 4, 8, 16]), fc.boolean(), (nodes, extra) => compareService(build(IpvsCmd.NEW_SERVICE, 1, nodes, extra))),
      { numRuns: 3000 },
    );
  });
});
