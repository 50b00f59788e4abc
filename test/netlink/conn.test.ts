import { describe, expect, it } from 'vitest';
import { Encoder } from '../../src/netlink/attribute.ts';
import { NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_MULTI, NLM_F_REQUEST } from '../../src/netlink/constants.ts';
import { DumpInterruptedError, NetlinkError, ProtocolError, TimeoutError, TransportError } from '../../src/netlink/errors.ts';
import { decodeFamily, encodeGetFamily, FamilyNotFoundError, resolveFamily } from '../../src/netlink/genetlink.ts';
import type { Message } from '../../src/netlink/message.ts';
import { ackReply, doneReply, type FakeReply, testConn } from '../../src/netlink/testing.ts';

function request(type: number, flags = 0): Uint8Array {
  const e = new Encoder(32);
  const at = e.beginMessage(type, flags);
  e.u32raw(0xabcd);
  e.endMessage(at);
  return e.copy();
}

const data = (n: number, flags = 0): FakeReply => ({ type: 0x30, flags, payload: new Uint8Array([n, 0, 0, 0]) });
const values = (msgs: Message[]): number[] => msgs.map((m) => m.payload[0]);

describe('Conn.execute', () => {
  it('sets REQUEST|ACK and a fresh sequence, and returns data before the ACK', async () => {
    const { conn, transport } = testConn((req) => [data(1), data(2), ackReply(req)]);
    expect(values(await conn.execute(request(0x30)))).toEqual([1, 2]);
    expect(values(await conn.execute(request(0x30)))).toEqual([1, 2]);
    const [a, b] = transport.sent;
    expect(a.flags & (NLM_F_REQUEST | NLM_F_ACK)).toBe(NLM_F_REQUEST | NLM_F_ACK);
    expect(b.seq).toBe((a.seq + 1) >>> 0);
  });

  it('ignores replies with another sequence number or port id', async () => {
    const { conn } = testConn((req) => [
      { ...data(9), seq: req.seq - 1 },
      { ...data(8), pid: 1 },
      { ...ackReply(req), seq: req.seq + 5 },
      data(1),
      ackReply(req),
    ]);
    expect(values(await conn.execute(request(0x30)))).toEqual([1]);
  });

  it('turns NLMSG_ERROR into NetlinkError with errno name and extended ACK', async () => {
    const { conn } = testConn((req) => [ackReply(req, 17, 'Service already exists')]);
    const err = await conn.execute(request(0x30), { operation: 'IPVS NEW_SERVICE' }).catch((e) => e);
    expect(err).toBeInstanceOf(NetlinkError);
    expect(err).toMatchObject({ errno: 17, errnoName: 'EEXIST', extAck: 'Service already exists', operation: 'IPVS NEW_SERVICE' });
    expect(err.message).toBe('IPVS NEW_SERVICE: EEXIST (Service already exists)');
  });

  it('collects a multipart dump until NLMSG_DONE, across datagrams', async () => {
    const { conn, transport } = testConn(() => [[data(1, NLM_F_MULTI), data(2, NLM_F_MULTI)], data(3, NLM_F_MULTI), doneReply()]);
    expect(values(await conn.execute(request(0x30, NLM_F_DUMP)))).toEqual([1, 2, 3]);
    expect(transport.sent[0].flags & NLM_F_ACK).toBe(0);
  });

  it('retries an interrupted dump and never returns the partial one', async () => {
    let calls = 0;
    const { conn, transport } = testConn(() => {
      calls++;
      if (calls < 3) return [data(1, NLM_F_MULTI | NLM_F_DUMP_INTR), doneReply(0, NLM_F_DUMP_INTR)];
      return [data(7, NLM_F_MULTI), data(8, NLM_F_MULTI), doneReply()];
    });
    expect(values(await conn.execute(request(0x30, NLM_F_DUMP)))).toEqual([7, 8]);
    expect(transport.sent).toHaveLength(3);
  });

  it('gives up with DumpInterruptedError when every attempt is interrupted', async () => {
    const { conn, transport } = testConn(() => [data(1, NLM_F_MULTI | NLM_F_DUMP_INTR), doneReply()], { dumpAttempts: 4 });
    await expect(conn.execute(request(0x30, NLM_F_DUMP), { operation: 'dump' })).rejects.toBeInstanceOf(DumpInterruptedError);
    expect(transport.sent).toHaveLength(4);
  });

  it('restarts a dump after ENOBUFS (the kernel dropped part of it)', async () => {
    let calls = 0;
    const { conn } = testConn(() => {
      calls++;
      if (calls === 1) return [data(1, NLM_F_MULTI), new TransportError('recvfrom', 105)];
      return [data(2, NLM_F_MULTI), doneReply()];
    });
    expect(values(await conn.execute(request(0x30, NLM_F_DUMP)))).toEqual([2]);
  });

  it('reports a dump that ends with an error in NLMSG_DONE', async () => {
    const { conn } = testConn(() => [data(1, NLM_F_MULTI), doneReply(16)]);
    await expect(conn.execute(request(0x30, NLM_F_DUMP))).rejects.toMatchObject({ errnoName: 'EBUSY' });
  });

  it('times out at the deadline instead of waiting forever', async () => {
    const { conn } = testConn(() => [], { timeoutMs: 30 });
    const started = Date.now();
    await expect(conn.execute(request(0x30), { operation: 'slow' })).rejects.toBeInstanceOf(TimeoutError);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('drains a dump abandoned at its deadline before the next dump', async () => {
    let calls = 0;
    const { conn, transport } = testConn(
      () => {
        calls++;
        return calls === 1 ? [] : [data(5, NLM_F_MULTI), doneReply()];
      },
      { timeoutMs: 20 },
    );
    await expect(conn.execute(request(0x30, NLM_F_DUMP))).rejects.toBeInstanceOf(TimeoutError);
    // The old dump's end arrives late, then the new dump's answer.
    const late = transport.sent[0];
    (transport as unknown as { inbox: Uint8Array[] }).inbox.push(
      (await import('../../src/netlink/testing.ts')).encodeReplies([doneReply()], late.seq, transport.portId),
    );
    expect(values(await conn.execute(request(0x30, NLM_F_DUMP)))).toEqual([5]);
  });

  it('rejects NLMSG_DONE for a non-dump request as a protocol error', async () => {
    const { conn } = testConn(() => [doneReply()]);
    await expect(conn.execute(request(0x30))).rejects.toBeInstanceOf(ProtocolError);
  });

  it('serializes concurrent calls on one socket', async () => {
    const { conn, transport } = testConn((req) => [data(req.payload[0]), ackReply(req)]);
    const results = await Promise.all([1, 2, 3].map(async (n) => {
      const r = request(0x30);
      r[16] = n;
      return values(await conn.execute(r));
    }));
    expect(results).toEqual([[1], [2], [3]]);
    expect(transport.sent.map((m) => m.payload[0])).toEqual([1, 2, 3]);
  });
});

describe('Conn.dumps (many dumps back to back, decoded as they arrive)', () => {
  const dump = (n: number) => ({ message: request(0x30 + n, NLM_F_DUMP), operation: `dump ${n}` });
  const decodeFirst = (m: Message, i: number): string => `${i}:${m.payload[0]}`;
  // Dump k answers k data messages (values 10k+1..), split over two datagrams like the kernel does.
  const perType = (req: Message): FakeReply[][] => {
    const k = req.type - 0x30;
    const parts: FakeReply[] = [];
    for (let j = 1; j <= k; j++) parts.push(data(10 * k + j, NLM_F_MULTI));
    return [parts, [doneReply()]];
  };

  it('returns every dump in request order, each in reply order, one request on the wire at a time', async () => {
    const { conn, transport } = testConn(perType);
    const out = await conn.dumps([dump(2), dump(0), dump(3)], decodeFirst);
    expect(out).toEqual([['0:21', '0:22'], [], ['2:31', '2:32', '2:33']]);
    expect(transport.datagrams).toHaveLength(3);
    const seqs = transport.sent.map((m) => m.seq);
    expect(seqs[1]).toBe((seqs[0] + 1) >>> 0);
    expect(transport.sent.every((m) => (m.flags & (NLM_F_REQUEST | NLM_F_DUMP | NLM_F_ACK)) === (NLM_F_REQUEST | NLM_F_DUMP))).toBe(true);
  });

  it('asks an interrupted dump in the middle again, alone, and never returns its partial reply', async () => {
    let second = 0;
    const { conn, transport } = testConn((req) => {
      if (req.type === 0x32 && ++second < 3) return [[data(99, NLM_F_MULTI | NLM_F_DUMP_INTR)], [doneReply(0, NLM_F_DUMP_INTR)]];
      return perType(req);
    });
    const out = await conn.dumps([dump(1), dump(2), dump(3)], decodeFirst);
    expect(out).toEqual([['0:11'], ['1:21', '1:22'], ['2:31', '2:32', '2:33']]);
    expect(transport.sent.map((m) => m.type - 0x30)).toEqual([1, 2, 2, 2, 3]);
  });

  it('restarts the dump the kernel dropped messages of (ENOBUFS) and goes on', async () => {
    let first = true;
    const { conn } = testConn((req) => {
      if (req.type === 0x32 && first) {
        first = false;
        return [new TransportError('recvfrom', 105)];
      }
      return perType(req);
    });
    expect(await conn.dumps([dump(1), dump(2)], decodeFirst)).toEqual([['0:11'], ['1:21', '1:22']]);
  });

  it('gives DumpInterruptedError naming the dump that kept changing', async () => {
    const { conn } = testConn((req) => (req.type === 0x32 ? [[data(1, NLM_F_MULTI | NLM_F_DUMP_INTR)], [doneReply()]] : perType(req)), { dumpAttempts: 2 });
    const err = await conn.dumps([dump(1), dump(2), dump(3)], decodeFirst).catch((e) => e);
    expect(err).toBeInstanceOf(DumpInterruptedError);
    expect(err).toMatchObject({ operation: 'dump 2', attempts: 2 });
  });

  it('stops at a dump the kernel refuses, with a NetlinkError naming it', async () => {
    const { conn, transport } = testConn((req) => (req.type === 0x32 ? [ackReply(req, 16)] : perType(req)));
    const err = await conn.dumps([dump(1), dump(2), dump(3)], decodeFirst).catch((e) => e);
    expect(err).toBeInstanceOf(NetlinkError);
    expect(err).toMatchObject({ operation: 'dump 2', errnoName: 'EBUSY' });
    expect(transport.sent).toHaveLength(2);
  });

  it('a decode error reads the rest of that dump first, so the next dump on the socket works', async () => {
    const { conn } = testConn(perType);
    const err = await conn
      .dumps([dump(1), dump(3)], (m, i) => {
        if (m.payload[0] === 31) throw new ProtocolError('bad reply');
        return `${i}:${m.payload[0]}`;
      })
      .catch((e) => e);
    expect(err).toBeInstanceOf(ProtocolError);
    // Nothing of dump 3 is left unread: a fresh dump gets its own reply, not a leftover.
    expect(await conn.dumps([dump(2)], decodeFirst)).toEqual([['0:21', '0:22']]);
  });

  it('times out per dump at its deadline', async () => {
    const { conn } = testConn((req) => (req.type === 0x32 ? [[data(21, NLM_F_MULTI)]] : perType(req)), { timeoutMs: 30 });
    const err = await conn.dumps([dump(1), dump(2)], decodeFirst).catch((e) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect(err).toMatchObject({ operation: 'dump 2' });
  });

  it('refuses a request that is not a dump before sending anything', async () => {
    const { conn, transport } = testConn(perType);
    await expect(conn.dumps([dump(1), { message: request(0x31) }], decodeFirst)).rejects.toBeInstanceOf(ProtocolError);
    expect(transport.sent).toHaveLength(0);
  });
});

describe('Conn.batch', () => {
  it('pipelines many requests per datagram and reports each result in order', async () => {
    const { conn, transport } = testConn((req) => [ackReply(req, req.payload[0] % 3 === 0 ? 17 : 0)], { batchWindow: 4 });
    const reqs = Array.from({ length: 10 }, (_, i) => {
      const r = request(0x30);
      r[16] = i;
      return { message: r, operation: `op ${i}` };
    });
    const results = await conn.batch(reqs);
    expect(results.map((r) => (r ? (r as NetlinkError).errnoName : 'ok'))).toEqual(['EEXIST', 'ok', 'ok', 'EEXIST', 'ok', 'ok', 'EEXIST', 'ok', 'ok', 'EEXIST']);
    expect(transport.datagrams).toHaveLength(3); // windows of 4, 4, 2
    expect(transport.sent.every((m) => (m.flags & NLM_F_ACK) !== 0)).toBe(true);
    expect(new Set(transport.sent.map((m) => m.seq)).size).toBe(10);
  });

  it('splits datagrams at the byte limit', async () => {
    const { conn, transport } = testConn((req) => [ackReply(req)], { batchBytes: 60 });
    const results = await conn.batch(Array.from({ length: 5 }, () => ({ message: request(0x30) })));
    expect(results).toEqual([undefined, undefined, undefined, undefined, undefined]);
    expect(transport.datagrams.map((d) => d.length)).toEqual([60, 40]);
  });

  it('accepts ACKs in any order', async () => {
    const { conn } = testConn((req) => [ackReply(req, req.payload[0] === 1 ? 2 : 0)]);
    const reqs = [0, 1, 2].map((i) => {
      const r = request(0x30);
      r[16] = i;
      return { message: r };
    });
    const results = await conn.batch(reqs);
    expect(results.map((r) => r?.constructor.name)).toEqual([undefined, 'NetlinkError', undefined]);
  });

  it('marks unacknowledged requests when the kernel dropped ACKs (ENOBUFS)', async () => {
    let n = 0;
    const { conn } = testConn((req) => (n++ === 0 ? [ackReply(req), new TransportError('recvfrom', 105)] : []));
    const results = await conn.batch([{ message: request(0x30) }, { message: request(0x30) }]);
    expect(results[0]).toBeUndefined();
    expect(results[1]).toMatchObject({ errnoName: 'ENOBUFS' });
  });

  it('refuses dumps', async () => {
    const { conn } = testConn(() => []);
    await expect(conn.batch([{ message: request(0x30, NLM_F_DUMP) }])).rejects.toBeInstanceOf(ProtocolError);
  });
});

describe('generic netlink family resolution', () => {
  it('resolves through nlctrl', async () => {
    const reply = (): FakeReply => {
      const e = new Encoder();
      e.genlHeader(1, 2);
      e.u16(1, 0x21);
      e.string(2, 'IPVS');
      e.u32(3, 1);
      e.u32(5, 6);
      return { type: 0x10, payload: e.copy() };
    };
    const { conn, transport } = testConn((req) => [reply(), ackReply(req)]);
    expect(await resolveFamily(conn, 'IPVS')).toEqual({ id: 0x21, name: 'IPVS', version: 1, headerSize: 0, maxAttr: 6 });
    expect(Buffer.from(transport.datagrams[0]).toString('hex').slice(32)).toBe(Buffer.from(encodeGetFamily('IPVS')).toString('hex').slice(32));
  });

  it('ENOENT means the family is absent', async () => {
    const { conn } = testConn((req) => [ackReply(req, 2)]);
    await expect(resolveFamily(conn, 'IPVS')).rejects.toBeInstanceOf(FamilyNotFoundError);
  });

  it('rejects a reply without a family id', () => {
    const e = new Encoder();
    e.genlHeader(1, 2);
    expect(() => decodeFamily({ type: 0x10, flags: 0, seq: 0, pid: 0, payload: e.copy() })).toThrow(ProtocolError);
  });
});
