import { readFileSync } from 'node:fs';
import { parseMessages } from '../../src/netlink/message.ts';
import type { Transport } from '../../src/netlink/transport.ts';

// Replays a conversation captured from the real kernel (fixtures/kernel-replies.json, made
// by capture-fixtures.ts in the VM): every request the client sends must equal the
// captured one byte for byte (sequence aside), and the kernel's captured datagrams come
// back with sequence and port id rewritten to the live ones.

export interface CapturedCall {
  name: string;
  requests: string[];
  replies: string[];
  error?: string;
}

export const captured: { kernel: string; calls: CapturedCall[] } = JSON.parse(
  readFileSync(new URL('./fixtures/kernel-replies.json', import.meta.url), 'utf8'),
);

export function call(name: string): CapturedCall {
  const c = captured.calls.find((x) => x.name === name);
  if (!c) throw new Error(`no captured call named ${name}`);
  return c;
}

const fromHex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Splits captured request datagrams into single messages (hex, sequence zeroed). */
export function requestMessages(c: CapturedCall): string[] {
  const out: string[] = [];
  for (const datagram of c.requests) {
    const bytes = fromHex(datagram);
    let off = 0;
    while (off < bytes.length) {
      const len = new DataView(bytes.buffer).getUint32(off, true);
      const msg = bytes.slice(off, off + len);
      msg.fill(0, 8, 12);
      out.push(toHex(msg));
      off += (len + 3) & ~3;
    }
  }
  return out;
}

/** The captured reply datagrams grouped by the request they answer (by sequence, in order). */
function replyGroups(c: CapturedCall): Uint8Array[][] {
  const groups: Uint8Array[][] = [];
  const bySeq = new Map<number, Uint8Array[]>();
  for (const h of c.replies) {
    const d = fromHex(h);
    const seq = parseMessages(d)[0].seq;
    let g = bySeq.get(seq);
    if (!g) {
      g = [];
      bySeq.set(seq, g);
      groups.push(g);
    }
    g.push(d);
  }
  return groups;
}

export class ReplayTransport implements Transport {
  readonly portId = 31337;
  /** Requests sent by the client that differ from the captured ones. */
  readonly mismatches: Array<{ expected: string | undefined; actual: string }> = [];
  private readonly expected: string[] = [];
  private readonly groups: Uint8Array[][] = [];
  private readonly inbox: Uint8Array[] = [];
  private sentCount = 0;

  constructor(calls: CapturedCall[]) {
    for (const c of calls) {
      this.expected.push(...requestMessages(c));
      this.groups.push(...replyGroups(c));
    }
  }

  send(data: Uint8Array): void {
    let off = 0;
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    while (off < data.length) {
      const len = view.getUint32(off, true);
      const msg = data.slice(off, off + len);
      const seq = view.getUint32(off + 8, true);
      msg.fill(0, 8, 12);
      const actual = toHex(msg);
      const expected = this.expected[this.sentCount];
      if (actual !== expected) this.mismatches.push({ expected, actual });
      for (const d of this.groups[this.sentCount] ?? []) {
        const copy = d.slice();
        const dv = new DataView(copy.buffer);
        let p = 0;
        while (p < copy.length) {
          dv.setUint32(p + 8, seq, true);
          dv.setUint32(p + 12, this.portId, true);
          p += (dv.getUint32(p, true) + 3) & ~3;
        }
        this.inbox.push(copy);
      }
      this.sentCount++;
      off += (len + 3) & ~3;
    }
  }

  async receive(): Promise<Uint8Array | undefined> {
    return this.inbox.shift();
  }

  close(): void {}

  /** Every captured request was sent. */
  get complete(): boolean {
    return this.sentCount === this.expected.length;
  }
}
