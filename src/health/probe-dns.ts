import { createSocket } from 'node:dgram';
import { connect, isIPv6 } from 'node:net';
import { randomInt } from 'node:crypto';
import * as packet from 'dns-packet';
import type { Answer, DecodedPacket, RecordType } from 'dns-packet';
import type { ProbeResult } from './probe.ts';
import { detach, settleOnce } from './probe.ts';
import type { DnsCheck } from './types.ts';

// A DNS check: one query (over UDP or TCP) to the backend itself, healthy when the answer carries the
// expected response code and, if asked, an expected record. Encoding and decoding are dns-packet's.

/** RFC 1035/2136 response codes by number (the 4-bit header field). */
export const RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED', 'YXDOMAIN', 'YXRRSET', 'NXRRSET', 'NOTAUTH', 'NOTZONE'] as const;
/** Record types a check may ask for: those whose answer dns-packet decodes to comparable text. */
export const DNS_QUERY_TYPES = ['A', 'AAAA', 'CNAME', 'NS', 'PTR', 'MX', 'TXT', 'SOA', 'SRV'] as const;

/** A DNS message over TCP is at most 64 KiB plus its 2-byte length; over UDP a datagram is bounded anyway. */
const MAX_TCP_MESSAGE = 65_537;

export function probeDns(address: string, port: number, check: DnsCheck, timeoutMs: number): Promise<ProbeResult> {
  const id = randomInt(0, 0x10000);
  const query: packet.Packet = {
    type: 'query',
    id,
    flags: packet.RECURSION_DESIRED,
    questions: [{ type: check.queryType as RecordType, name: check.query, class: 'IN' }],
  };
  const exchange = check.transport === 'tcp' ? exchangeTcp : exchangeUdp;
  return exchange(address, port, query, timeoutMs).then((reply) => (typeof reply === 'string' ? { ok: false, reason: reply } : judge(reply, id, check)));
}

function judge(reply: Buffer, id: number, check: DnsCheck): ProbeResult {
  let msg: DecodedPacket;
  try {
    msg = packet.decode(reply);
  } catch (err) {
    return { ok: false, reason: `undecodable DNS answer: ${err instanceof Error ? err.message : String(err)}` };
  }
  if (msg.id !== id || msg.type !== 'response') return { ok: false, reason: 'the DNS answer does not belong to the query' };
  const rcode = RCODES[(msg.flags ?? 0) & 0xf] ?? `RCODE${(msg.flags ?? 0) & 0xf}`;
  if (rcode !== check.expectRcode) return { ok: false, reason: `DNS ${rcode}, expected ${check.expectRcode}` };
  if (check.expectAnswer === undefined) return { ok: true };
  const want = normalise(check.expectAnswer);
  const got = (msg.answers ?? []).filter((a) => a.type === check.queryType).map(answerText);
  if (got.some((t) => normalise(t) === want)) return { ok: true };
  return { ok: false, reason: `DNS answer ${got.length === 0 ? 'empty' : got.slice(0, 3).join(', ')}, expected ${check.expectAnswer}` };
}

function normalise(text: string): string {
  return text.toLowerCase().replace(/\.$/, '');
}

/** An answer's data as text: an address, a name, or the fields of MX/SOA/SRV/TXT joined by spaces. */
export function answerText(a: Answer): string {
  if (a.type === 'OPT') return '';
  const d: unknown = a.data;
  if (typeof d === 'string') return d;
  if (Buffer.isBuffer(d)) return d.toString('utf8');
  if (Array.isArray(d)) return d.map((x) => (Buffer.isBuffer(x) ? x.toString('utf8') : String(x))).join('');
  if (a.type === 'MX') return `${a.data.preference} ${a.data.exchange}`;
  if (a.type === 'SRV') return `${a.data.priority ?? 0} ${a.data.weight ?? 0} ${a.data.port} ${a.data.target}`;
  if (a.type === 'SOA') return `${a.data.mname} ${a.data.rname} ${a.data.serial ?? 0}`;
  return JSON.stringify(d);
}

function exchangeUdp(address: string, port: number, query: packet.Packet, timeoutMs: number): Promise<Buffer | string> {
  return new Promise((resolve) => {
    const socket = createSocket(isIPv6(address) ? 'udp6' : 'udp4');
    const done = settleOnce<Buffer | string>(resolve, timeoutMs, () => `no DNS answer over UDP within ${timeoutMs} ms`, () => {
      detach(socket);
      socket.close();
    });
    // Connected: only the backend's datagrams are delivered, and an ICMP unreachable surfaces as ECONNREFUSED.
    socket.on('error', (err: NodeJS.ErrnoException) => done(`DNS over UDP failed: ${err.code ?? err.message}`));
    socket.on('message', (msg) => done(msg));
    socket.connect(port, address, () => socket.send(packet.encode(query)));
  });
}

function exchangeTcp(address: string, port: number, query: packet.Packet, timeoutMs: number): Promise<Buffer | string> {
  return new Promise((resolve) => {
    const socket = connect({ host: address, port, noDelay: true });
    const chunks: Buffer[] = [];
    let length = 0;
    const done = settleOnce<Buffer | string>(resolve, timeoutMs, () => `no DNS answer over TCP within ${timeoutMs} ms`, () => {
      detach(socket);
      socket.destroy();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => done(`DNS over TCP failed: ${err.code ?? err.message}`));
    socket.once('connect', () => socket.write(packet.streamEncode(query)));
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      length += chunk.length;
      if (length > MAX_TCP_MESSAGE) return done('DNS over TCP: answer longer than a DNS message can be');
      const all = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
      if (all.length >= 2 && all.length >= 2 + all.readUInt16BE(0)) done(all.subarray(2, 2 + all.readUInt16BE(0)));
    });
    socket.on('end', () => done('DNS over TCP: the server closed the connection before answering'));
  });
}
