import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IpvsClient } from '../../src/ipvs/client.ts';
import { IpvsError } from '../../src/ipvs/errors.ts';
import { Conn } from '../../src/netlink/conn.ts';
import { parseMessages } from '../../src/netlink/message.ts';
import type { Transport } from '../../src/netlink/transport.ts';
import { call } from './replay.ts';

// Mutated real kernel replies through the whole client: the result is a value or a typed
// IpvsError, never another exception, never a hang.

interface Mutation {
  flips: Array<[number, number]>;
  truncate: number | undefined;
}

class MutatingTransport implements Transport {
  readonly portId = 99;
  private readonly replies: Uint8Array[];
  private readonly mutation: Mutation;
  private inbox: Uint8Array[] = [];
  constructor(replies: Uint8Array[], mutation: Mutation) {
    this.replies = replies;
    this.mutation = mutation;
  }
  send(data: Uint8Array): void {
    const seq = new DataView(data.buffer, data.byteOffset).getUint32(8, true);
    this.inbox = this.replies.map((r, i) => {
      const copy = r.slice();
      const dv = new DataView(copy.buffer);
      let p = 0;
      while (p + 16 <= copy.length) {
        dv.setUint32(p + 8, seq, true);
        dv.setUint32(p + 12, this.portId, true);
        const len = dv.getUint32(p, true);
        if (len < 16) break;
        p += (len + 3) & ~3;
      }
      if (i === 0) {
        for (const [at, v] of this.mutation.flips) if (copy.length) copy[at % copy.length] ^= v;
        if (this.mutation.truncate !== undefined) return copy.subarray(0, this.mutation.truncate % (copy.length + 1));
      }
      return copy;
    });
  }
  async receive(): Promise<Uint8Array | undefined> {
    return this.inbox.shift();
  }
  close(): void {}
}

const family = { id: 32, name: 'IPVS', version: 1, headerSize: 0, maxAttr: 6 };
const tcp = { kind: 'addr', family: 'inet', protocol: 'tcp', address: '10.0.0.1', port: 80 } as const;
// [fixture, run, test name when it differs from the fixture's]
const scenarios: Array<[string, (c: IpvsClient) => Promise<unknown>, string?]> = [
  ['listServices', (c) => c.listServices()],
  ['listDestinations tcp', (c) => c.listDestinations(tcp)],
  ['listDestinations tcp', (c) => c.listDestinationsOf([tcp, tcp, tcp]), 'listDestinationsOf (three dumps in one conversation)'],
  ['getService tcp', (c) => c.getService(tcp)],
  ['getInfo', (c) => c.getInfo()],
  ['getTimeouts', (c) => c.getTimeouts()],
  ['addService tcp again (EEXIST)', (c) => c.addService(tcp, { scheduler: 'rr', flags: {}, timeout: 0, netmask: '255.255.255.255' })],
];

describe('client fuzz with mutated kernel replies', () => {
  for (const [name, run, title] of scenarios) {
    it(title ?? name, async () => {
      const replies = call(name).replies.map((h) => new Uint8Array(Buffer.from(h, 'hex')));
      expect(parseMessages(replies[0]).length).toBeGreaterThan(0);
      const mutation = fc.record({
        flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { maxLength: 6 }),
        truncate: fc.option(fc.nat(), { nil: undefined }),
      });
      await fc.assert(
        fc.asyncProperty(mutation, async (m) => {
          const client = new IpvsClient(new Conn(new MutatingTransport(replies, m), { timeoutMs: 20 }), family);
          try {
            await run(client);
          } catch (e) {
            expect(e, String(e)).toBeInstanceOf(IpvsError);
          }
        }),
        { numRuns: 300 },
      );
    });
  }
});
