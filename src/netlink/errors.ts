import { errnoName } from './errno.ts';

// Errors of the netlink layer, each with a stable `code`. Layers above (the IPVS client)
// translate NetlinkError's errno into their own meaning.

/** The kernel answered a request with NLMSG_ERROR (or a dump ended with an error). */
export class NetlinkError extends Error {
  readonly code = 'NETLINK_ERROR';
  /** Positive errno, e.g. 17. */
  readonly errno: number;
  /** errno name, e.g. "EEXIST". */
  readonly errnoName: string;
  /** The kernel's extended-ACK message, when it gave one. */
  readonly extAck?: string;
  /** What was being done, e.g. "IPVS NEW_SERVICE". */
  readonly operation: string;
  constructor(operation: string, errno: number, extAck?: string) {
    const name = errnoName(errno);
    super(`${operation}: ${name}${extAck ? ` (${extAck})` : ''}`);
    this.name = 'NetlinkError';
    this.operation = operation;
    this.errno = errno;
    this.errnoName = name;
    this.extAck = extAck;
  }
}

/** Bytes that are not a well-formed netlink message or attribute. */
export class DecodeError extends Error {
  readonly code = 'NETLINK_DECODE';
  constructor(message: string) {
    super(message);
    this.name = 'DecodeError';
  }
}

/** A request that cannot be encoded (a length its header field cannot hold). */
export class EncodeError extends Error {
  readonly code = 'NETLINK_ENCODE';
  constructor(message: string) {
    super(message);
    this.name = 'EncodeError';
  }
}

/** A reply that breaks the protocol (unexpected message type, truncated datagram, ...). */
export class ProtocolError extends Error {
  readonly code = 'NETLINK_PROTOCOL';
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

/** No complete answer before the call's deadline. */
export class TimeoutError extends Error {
  readonly code = 'NETLINK_TIMEOUT';
  readonly operation: string;
  readonly timeoutMs: number;
  constructor(operation: string, timeoutMs: number) {
    super(`${operation}: no answer from the kernel within ${timeoutMs} ms`);
    this.name = 'TimeoutError';
    this.operation = operation;
    this.timeoutMs = timeoutMs;
  }
}

/** A dump kept changing under us (NLM_F_DUMP_INTR or ENOBUFS) on every attempt. */
export class DumpInterruptedError extends Error {
  readonly code = 'NETLINK_DUMP_INTERRUPTED';
  readonly operation: string;
  readonly attempts: number;
  constructor(operation: string, attempts: number) {
    super(`${operation}: the dump was interrupted by concurrent changes ${attempts} times in a row; not trusting a partial result`);
    this.name = 'DumpInterruptedError';
    this.operation = operation;
    this.attempts = attempts;
  }
}

/** A socket-level failure reported by the transport (errno from send/recv). */
export class TransportError extends Error {
  readonly code = 'NETLINK_TRANSPORT';
  readonly errno: number;
  readonly errnoName: string;
  constructor(operation: string, errno: number, detail?: string) {
    const name = errnoName(errno);
    super(`${operation}: ${name}${detail ? ` (${detail})` : ''}`);
    this.name = 'TransportError';
    this.errno = errno;
    this.errnoName = name;
  }
}

/** The connection was closed. */
export class ClosedError extends Error {
  readonly code = 'NETLINK_CLOSED';
  constructor() {
    super('the netlink connection is closed');
    this.name = 'ClosedError';
  }
}
