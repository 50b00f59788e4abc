import { NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, NLMSG_HDRLEN, NLMSG_NOOP, NLMSG_OVERRUN } from './constants.ts';
import { ClosedError, DumpInterruptedError, NetlinkError, ProtocolError, TimeoutError, TransportError } from './errors.ts';
import { headerFlags, headerLength, headerType, stampRequest } from './header.ts';
import { type Message, parseDoneErrno, parseError, parseMessages } from './message.ts';
import type { Transport } from './transport.ts';

// A netlink connection: one verb, execute(request) -> replies. It numbers requests,
// keeps only replies with our sequence number and port id, waits for the ACK (writes)
// or NLMSG_DONE (dumps), retries interrupted dumps instead of returning partial ones,
// turns NLMSG_ERROR into NetlinkError, and enforces a deadline per call. Calls are
// serialized: a netlink socket carries one conversation at a time.

export interface ConnOptions {
  /** Deadline per call, in ms. Default 5000. */
  timeoutMs?: number;
  /** How many times an interrupted dump is tried before giving up. Default 5. */
  dumpAttempts?: number;
  /** Largest datagram a batch sends at once. Default 64 KiB. */
  batchBytes?: number;
  /** Most unacknowledged requests a batch keeps in flight (bounded by the receive buffer). Default 256. */
  batchWindow?: number;
  now?: () => number;
  /** First sequence number used (tests of the 2^32 wrap); default random. */
  initialSequence?: number;
}

export interface ExecuteOptions {
  /** Names the operation in errors, e.g. "IPVS NEW_SERVICE". */
  operation?: string;
  timeoutMs?: number;
}

/** One dump of Conn.dumps(). */
export interface DumpRequest {
  message: Uint8Array;
  operation?: string;
}

/**
 * Turns one data message of dump number `request` into a value while its bytes are valid:
 * `msg.payload` is a view into the receive buffer that the next read reuses, so keep none of it.
 */
export type DumpDecoder<T> = (msg: Message, request: number) => T;

/** One request of a batch. */
export interface BatchRequest {
  message: Uint8Array;
  operation?: string;
}

const isDump = (flags: number): boolean => (flags & NLM_F_DUMP) === NLM_F_DUMP;

export class Conn {
  private readonly transport: Transport;
  private readonly timeoutMs: number;
  private readonly dumpAttempts: number;
  private readonly batchBytes: number;
  private readonly batchWindow: number;
  private readonly now: () => number;
  private seq: number;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** Sequence of a dump abandoned at its deadline: drained before the next dump (else EBUSY). */
  private abandonedDump: number | undefined;
  /** Requests are copied here and stamped (flags, sequence) in the copy: the caller's bytes stay as given. */
  private sendBuffer = new Uint8Array(64 * 1024);
  private sendView = new DataView(this.sendBuffer.buffer);

  constructor(transport: Transport, options: ConnOptions = {}) {
    this.transport = transport;
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.dumpAttempts = options.dumpAttempts ?? 5;
    this.batchBytes = options.batchBytes ?? 64 * 1024;
    this.batchWindow = options.batchWindow ?? 256;
    this.now = options.now ?? Date.now;
    // Start somewhere arbitrary so replies meant for an earlier process are not mistaken for ours.
    this.seq = options.initialSequence !== undefined ? options.initialSequence >>> 0 : (Math.floor(Math.random() * 0x7fffffff) + 1) >>> 0;
  }

  get portId(): number {
    return this.transport.portId;
  }

  /**
   * Sends one request (NLM_F_REQUEST and, for non-dumps, NLM_F_ACK are set on it) and
   * returns the data messages of the reply. A dump (NLM_F_DUMP) returns all its parts,
   * and is retried when the kernel marks it interrupted.
   */
  execute(request: Uint8Array, options: ExecuteOptions = {}): Promise<Message[]> {
    return this.serialized(() => this.executeNow(request, options));
  }

  /**
   * Runs many dumps back to back as one conversation and decodes each data message as it
   * arrives (no copy of the reply). Returns, per request, the decoded values in the kernel's
   * order. The kernel runs one dump per socket at a time (a second dump request while one is
   * open is refused with EBUSY), so the requests cannot share a datagram: each is sent the
   * moment the previous one is done, without a promise round trip per dump. An interrupted
   * dump is asked again on its own (the finished ones stand); any error, including one thrown
   * by `decode`, ends the whole call. Each dump has its own deadline (`timeoutMs`).
   */
  dumps<T>(requests: readonly DumpRequest[], decode: DumpDecoder<T>, options: ExecuteOptions = {}): Promise<T[][]> {
    return this.serialized(() => this.dumpsNow(requests, decode, options));
  }

  /**
   * Sends many write requests pipelined (several per datagram, a bounded number in
   * flight) and collects one ACK per request. Returns, per request, undefined on
   * success or the error the kernel gave it; one failing request does not stop the
   * others. Throws only if the conversation itself fails (deadline, closed socket).
   */
  batch(requests: readonly BatchRequest[], options: ExecuteOptions = {}): Promise<Array<Error | undefined>> {
    return this.serialized(() => this.batchNow(requests, options));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.transport.close();
  }

  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0;
    if (this.seq === 0) this.seq = 1;
    return this.seq;
  }

  private async executeNow(request: Uint8Array, options: ExecuteOptions): Promise<Message[]> {
    if (this.closed) throw new ClosedError();
    if (request.length < NLMSG_HDRLEN) throw new ProtocolError('request shorter than a netlink header');
    const view = new DataView(request.buffer, request.byteOffset, request.byteLength);
    const flags = headerFlags(view, 0);
    const operation = options.operation ?? `netlink type ${headerType(view, 0)}`;
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const deadline = this.now() + timeoutMs;
    if (!isDump(flags)) {
      const seq = this.nextSeq();
      this.transport.send(this.stamped(request, flags | NLM_F_REQUEST | NLM_F_ACK, seq));
      const out: Message[] = [];
      // Replies are views into the receive buffer, which the next receive reuses: copy.
      await this.collect(seq, false, operation, deadline, timeoutMs, (msg) => out.push({ ...msg, payload: msg.payload.slice() }));
      return out;
    }
    const out: Message[] = [];
    // Replies are views into the receive buffer, which the next receive reuses: copy.
    await this.dumpNow(request, operation, timeoutMs, (msg) => out.push({ ...msg, payload: msg.payload.slice() }), () => {
      out.length = 0;
    });
    return out;
  }

  private async dumpsNow<T>(requests: readonly DumpRequest[], decode: DumpDecoder<T>, options: ExecuteOptions): Promise<T[][]> {
    if (this.closed) throw new ClosedError();
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const results: T[][] = new Array(requests.length);
    for (let i = 0; i < requests.length; i++) {
      const { message, operation } = requests[i];
      if (message.length < NLMSG_HDRLEN) throw new ProtocolError(`${operation ?? `netlink dump ${i}`}: request shorter than a netlink header`);
      if (!isDump(headerFlags(new DataView(message.buffer, message.byteOffset, message.byteLength), 0))) throw new ProtocolError(`${operation ?? `netlink dump ${i}`}: Conn.dumps takes dump requests only`);
    }
    for (let i = 0; i < requests.length; i++) {
      const { message } = requests[i];
      const operation = requests[i].operation ?? `netlink dump ${i}`;
      let values: T[] = [];
      await this.dumpNow(message, operation, timeoutMs, (msg) => values.push(decode(msg, i)), () => {
        values = [];
      });
      results[i] = values;
    }
    return results;
  }

  /**
   * Sends one dump request and feeds every data message of its reply to `sink`; asks again
   * (after `restart`) when the kernel marks the dump interrupted, up to dumpAttempts times.
   */
  private async dumpNow(request: Uint8Array, operation: string, timeoutMs: number, sink: (msg: Message) => void, restart: () => void): Promise<void> {
    const flags = headerFlags(new DataView(request.buffer, request.byteOffset, request.byteLength), 0) | NLM_F_REQUEST;
    const deadline = this.now() + timeoutMs;
    if (this.abandonedDump !== undefined) await this.drainAbandonedDump(deadline, operation, timeoutMs);
    for (let attempt = 1; ; attempt++) {
      const seq = this.nextSeq();
      this.transport.send(this.stamped(request, flags, seq));
      try {
        await this.collect(seq, true, operation, deadline, timeoutMs, sink);
        return;
      } catch (e) {
        const retry = e instanceof DumpRestart;
        if (!retry) throw e;
        if (attempt >= this.dumpAttempts) throw new DumpInterruptedError(operation, attempt);
        restart();
      }
    }
  }

  /** Makes room for `bytes` in the send buffer, keeping its first `keep` bytes. */
  private growSendBuffer(bytes: number, keep: number): void {
    if (bytes <= this.sendBuffer.length) return;
    const grown = new Uint8Array(Math.max(this.sendBuffer.length * 2, bytes));
    grown.set(this.sendBuffer.subarray(0, keep));
    this.sendBuffer = grown;
    this.sendView = new DataView(grown.buffer);
  }

  /** A copy of `request` in the send buffer with `flags` and `seq` in its header. */
  private stamped(request: Uint8Array, flags: number, seq: number): Uint8Array {
    this.growSendBuffer(request.length, 0);
    this.sendBuffer.set(request);
    stampRequest(this.sendView, 0, flags, seq);
    return this.sendBuffer.subarray(0, request.length);
  }

  /** Reads replies for `seq` until its ACK (write) or DONE (dump), handing data messages to `sink`. */
  private async collect(seq: number, dump: boolean, operation: string, deadline: number, timeoutMs: number, sink: (msg: Message) => void): Promise<void> {
    let interrupted = false;
    let failed = false;
    let failure: unknown;
    for (;;) {
      let datagram: Uint8Array | undefined;
      try {
        datagram = this.transport.receiveReady?.() ?? (await this.transport.receive(deadline));
      } catch (e) {
        // The kernel dropped messages: a dump can be asked again; a lost ACK cannot be recovered.
        if (dump && e instanceof TransportError && e.errnoName === 'ENOBUFS') throw new DumpRestart();
        throw e;
      }
      if (datagram === undefined) {
        if (dump) this.abandonedDump = seq;
        if (failed) throw failure;
        throw new TimeoutError(operation, timeoutMs);
      }
      for (const msg of parseMessages(datagram)) {
        if (msg.seq !== seq || (msg.pid !== 0 && this.transport.portId !== 0 && msg.pid !== this.transport.portId)) continue;
        if (msg.type === NLMSG_NOOP) continue;
        if (msg.type === NLMSG_OVERRUN) throw new ProtocolError(`${operation}: NLMSG_OVERRUN`);
        if (msg.type === NLMSG_ERROR) {
          const err = parseError(msg);
          if (failed) throw failure;
          if (err.errno !== 0) throw new NetlinkError(operation, err.errno, err.extAck);
          if (!dump) return;
          continue;
        }
        if (msg.flags & NLM_F_DUMP_INTR) interrupted = true;
        if (msg.type === NLMSG_DONE) {
          if (!dump) throw new ProtocolError(`${operation}: unexpected NLMSG_DONE for a non-dump request`);
          if (failed) throw failure;
          const errno = parseDoneErrno(msg);
          if (errno !== 0) throw new NetlinkError(operation, errno);
          if (interrupted) throw new DumpRestart();
          return;
        }
        if (!dump) sink(msg);
        else if (!failed) {
          try {
            sink(msg);
          } catch (e) {
            // Read the rest of this dump before failing: the kernel keeps a socket's dump open until
            // its DONE is read and refuses the next one meanwhile (EBUSY).
            failed = true;
            failure = e;
          }
        }
      }
    }
  }

  private async drainAbandonedDump(deadline: number, operation: string, timeoutMs: number): Promise<void> {
    const seq = this.abandonedDump;
    for (;;) {
      const datagram = this.transport.receiveReady?.() ?? (await this.transport.receive(deadline));
      if (datagram === undefined) throw new TimeoutError(`${operation} (draining an earlier dump)`, timeoutMs);
      for (const msg of parseMessages(datagram)) {
        if (msg.seq === seq && (msg.type === NLMSG_DONE || msg.type === NLMSG_ERROR)) {
          this.abandonedDump = undefined;
          return;
        }
      }
    }
  }

  private async batchNow(requests: readonly BatchRequest[], options: ExecuteOptions): Promise<Array<Error | undefined>> {
    if (this.closed) throw new ClosedError();
    const results: Array<Error | undefined> = new Array(requests.length).fill(undefined);
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    let i = 0;
    while (i < requests.length) {
      // Fill one datagram with as many requests as fit in the window.
      const first = i;
      let bytes = 0;
      while (i < requests.length && i - first < this.batchWindow) {
        const len = requests[i].message.length;
        if (len < NLMSG_HDRLEN) throw new ProtocolError('request shorter than a netlink header');
        if (bytes > 0 && bytes + len > this.batchBytes) break;
        this.growSendBuffer(bytes + len, bytes);
        this.sendBuffer.set(requests[i].message, bytes);
        bytes += (len + 3) & ~3;
        i++;
      }
      const count = i - first;
      // Replies are matched by offset from the first sequence number, so a batch's numbers must be
      // contiguous: one that would cross 2^32 (where nextSeq skips 0) starts again from 1 instead.
      if (this.seq + count > 0xffffffff) this.seq = 0;
      const baseSeq = this.seq + 1;
      const view = this.sendView;
      let off = 0;
      for (let k = 0; k < count; k++) {
        const flags = headerFlags(view, off);
        if (isDump(flags)) throw new ProtocolError('a dump cannot be part of a batch');
        stampRequest(view, off, flags | NLM_F_REQUEST | NLM_F_ACK, this.nextSeq());
        off += (headerLength(view, off) + 3) & ~3;
      }
      this.transport.send(this.sendBuffer.subarray(0, bytes));
      const deadline = this.now() + timeoutMs;
      let pending = count;
      const acked = new Uint8Array(count);
      const operationOf = (k: number): string => requests[first + k].operation ?? `netlink request ${first + k}`;
      while (pending > 0) {
        let datagram: Uint8Array | undefined;
        try {
          datagram = this.transport.receiveReady?.() ?? (await this.transport.receive(deadline));
        } catch (e) {
          if (!(e instanceof TransportError)) throw e;
          // The kernel dropped ACKs: the outcome of the unacknowledged requests is unknown.
          for (let k = 0; k < count; k++) if (!acked[k]) results[first + k] = e;
          pending = 0;
          break;
        }
        if (datagram === undefined) throw new TimeoutError(`${operationOf(count - pending)} (batch of ${requests.length})`, timeoutMs);
        for (const msg of parseMessages(datagram)) {
          if (msg.type !== NLMSG_ERROR) continue;
          const k = (msg.seq - baseSeq) >>> 0;
          if (k >= count || acked[k]) continue;
          const err = parseError(msg);
          acked[k] = 1;
          pending--;
          if (err.errno !== 0) results[first + k] = new NetlinkError(operationOf(k), err.errno, err.extAck);
        }
      }
    }
    return results;
  }
}

/** Internal signal: the dump must be asked again. */
class DumpRestart extends Error {}
