import { NETLINK_CAP_ACK, NETLINK_EXT_ACK, SOL_NETLINK } from '../src/netlink/constants.ts';
import { HOST_LITTLE_ENDIAN } from '../src/netlink/endian.ts';
import { TransportError } from '../src/netlink/errors.ts';
import { errnoName } from '../src/netlink/errno.ts';
import type { Transport } from '../src/netlink/transport.ts';
import {
  AF_NETLINK, CLONE_NEWNET, EAGAIN, EINTR, libc, MSG_DONTWAIT, MSG_TRUNC, O_CLOEXEC, O_RDONLY, POLLIN,
  SO_RCVBUF, SO_RCVBUFFORCE, SO_SNDBUF, SO_SNDBUFFORCE, SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_RAW, SOL_SOCKET,
} from './libc.ts';

// A non-blocking AF_NETLINK socket: the door to the kernel and nothing more (no protocol
// logic). Reads try the socket first and, only when it is empty, wait in poll() on a
// koffi worker thread with the caller's deadline, so the event loop never blocks.

const LE = HOST_LITTLE_ENDIAN;

/** A system call failed; `errnoName` says how (EPERM, ENOENT, ...). */
export class SocketError extends TransportError {
  readonly syscall: string;
  constructor(syscall: string, errno: number, detail?: string) {
    super(syscall, errno, detail);
    this.name = 'SocketError';
    this.syscall = syscall;
  }
}

/** The named network namespace does not exist or cannot be entered. */
export class NetnsError extends Error {
  readonly code = 'NETNS';
  readonly netns: string;
  readonly errnoName: string;
  constructor(netns: string, errno: number, what: string) {
    const name = errnoName(errno);
    const hint = name === 'ENOENT' ? ` (no /var/run/netns/${netns}: see \`ip netns list\`)` : name === 'EPERM' ? ' (needs CAP_SYS_ADMIN: run as root)' : '';
    super(`network namespace ${JSON.stringify(netns)}: ${what}: ${name}${hint}`);
    this.name = 'NetnsError';
    this.netns = netns;
    this.errnoName = name;
  }
}

export interface NetlinkSocketOptions {
  /** Named network namespace (/var/run/netns/NAME); the socket stays bound to it. */
  netns?: string;
  /** Receive buffer in bytes (forced when privileged). Default 4 MiB. */
  receiveBufferBytes?: number;
  /** Send buffer in bytes. Default 1 MiB. */
  sendBufferBytes?: number;
}

function u32(value: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, value >>> 0, LE);
  return b;
}

/** Runs `fn` with the calling thread inside network namespace `netns`, then switches back (also used for /proc/sys/net). */
export function inNetns<T>(netns: string, fn: () => T): T {
  const c = libc();
  if (!/^[A-Za-z0-9_.-]+$/.test(netns) || netns === '.' || netns === '..') {
    throw new NetnsError(netns, 22, 'invalid name');
  }
  const target = c.open(`/var/run/netns/${netns}`, O_RDONLY | O_CLOEXEC);
  if (target < 0) throw new NetnsError(netns, c.errno(), 'open');
  // setns() moves only the calling thread: remember where this thread was and return at once.
  const original = c.open('/proc/thread-self/ns/net', O_RDONLY | O_CLOEXEC);
  if (original < 0) {
    const errno = c.errno();
    c.close(target);
    throw new NetnsError(netns, errno, 'open /proc/thread-self/ns/net');
  }
  try {
    if (c.setns(target, CLONE_NEWNET) < 0) throw new NetnsError(netns, c.errno(), 'setns');
    let result: T | undefined;
    let failure: unknown;
    let failed = false;
    try {
      result = fn();
    } catch (e) {
      failed = true;
      failure = e;
    }
    if (c.setns(original, CLONE_NEWNET) < 0) {
      // The main thread would stay in the wrong namespace: nothing after this can be trusted.
      throw new NetnsError(netns, c.errno(), 'setns back to the original namespace');
    }
    if (failed) throw failure;
    return result as T;
  } finally {
    c.close(target);
    c.close(original);
  }
}

export class NetlinkSocket implements Transport {
  readonly portId: number;
  readonly protocol: number;
  private fd: number;
  private readonly recvBuf: Uint8Array;
  // Backed by its own ArrayBuffer: V8 keeps small typed arrays (<= 64 bytes) inside the JS heap, where
  // the garbage collector may move them while poll() on koffi's worker thread still holds the pointer.
  private readonly pollFds = new Uint8Array(new ArrayBuffer(8));
  /** struct sockaddr_nl of the kernel (port 0), the destination of every send. */
  private readonly kernelAddr = new Uint8Array(new ArrayBuffer(12));
  private polling = false;
  private closeWhenIdle = false;

  /** Opens a socket of netlink `protocol` (NETLINK_GENERIC, NETLINK_ROUTE, ...). */
  constructor(protocol: number, options: NetlinkSocketOptions = {}) {
    const c = libc();
    this.protocol = protocol;
    const open = (): number => c.socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    const fd = options.netns ? inNetns(options.netns, open) : open();
    if (fd < 0) throw new SocketError('socket(AF_NETLINK)', c.errno());
    this.fd = fd;
    try {
      this.setBuffer(SO_RCVBUFFORCE, SO_RCVBUF, options.receiveBufferBytes ?? 4 * 1024 * 1024);
      this.setBuffer(SO_SNDBUFFORCE, SO_SNDBUF, options.sendBufferBytes ?? 1024 * 1024);
      // Best effort: errors carry the kernel's message, and ACKs do not echo the request.
      c.setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, u32(1), 4);
      c.setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, u32(1), 4);
      const addr = new Uint8Array(12);
      new DataView(addr.buffer).setUint16(0, AF_NETLINK, LE);
      if (c.bind(fd, addr, 12) < 0) throw new SocketError('bind', c.errno());
      const lenBuf = u32(12);
      if (c.getsockname(fd, addr, lenBuf) < 0) throw new SocketError('getsockname', c.errno());
      this.portId = new DataView(addr.buffer).getUint32(4, LE);
    } catch (e) {
      c.close(fd);
      throw e;
    }
    // The kernel caps dump messages at 32 KiB; 64 KiB leaves room and MSG_TRUNC catches the rest.
    this.recvBuf = new Uint8Array(64 * 1024);
    new DataView(this.kernelAddr.buffer).setUint16(0, AF_NETLINK, LE);
    new DataView(this.pollFds.buffer).setInt32(0, fd, LE);
    new DataView(this.pollFds.buffer).setInt16(4, POLLIN, LE);
  }

  private setBuffer(forced: number, plain: number, bytes: number): void {
    const c = libc();
    // The FORCE variant ignores rmem_max/wmem_max but needs CAP_NET_ADMIN; fall back quietly.
    if (c.setsockopt(this.fd, SOL_SOCKET, forced, u32(bytes), 4) === 0) return;
    c.setsockopt(this.fd, SOL_SOCKET, plain, u32(bytes), 4);
  }

  send(data: Uint8Array): void {
    const c = libc();
    if (this.fd < 0) throw new SocketError('sendto', 9, 'socket closed');
    for (;;) {
      const n = c.sendto(this.fd, data, data.length, 0, this.kernelAddr, 12);
      if (n >= 0) {
        if (n !== data.length) throw new SocketError('sendto', 5, `short write: ${n} of ${data.length} bytes`);
        return;
      }
      const errno = c.errno();
      if (errno === EINTR) continue;
      throw new SocketError('sendto', errno);
    }
  }

  receiveReady(): Uint8Array | undefined {
    const c = libc();
    for (;;) {
      if (this.fd < 0) throw new SocketError('recvfrom', 9, 'socket closed');
      const n = c.recvfrom(this.fd, this.recvBuf, this.recvBuf.length, MSG_DONTWAIT | MSG_TRUNC, null, null);
      if (n >= 0) {
        if (n > this.recvBuf.length) throw new SocketError('recvfrom', 90, `message of ${n} bytes truncated to ${this.recvBuf.length}`);
        return this.recvBuf.subarray(0, n);
      }
      const errno = c.errno();
      if (errno === EINTR) continue;
      if (errno !== EAGAIN) throw new SocketError('recvfrom', errno);
      return undefined;
    }
  }

  async receive(deadline: number): Promise<Uint8Array | undefined> {
    const c = libc();
    for (;;) {
      const ready = this.receiveReady();
      if (ready !== undefined) return ready;
      const remaining = deadline - Date.now();
      if (remaining <= 0) return undefined;
      this.polling = true;
      try {
        const r = await c.pollAsync(this.pollFds, 1, Math.min(remaining, 0x7fffffff));
        if (r < 0) {
        }
      } finally {
        this.polling = false;
        if (this.closeWhenIdle) this.closeNow();
      }
    }
  }

  close(): void {
    // Never close an fd a worker thread is polling: it could be reused under it.
    if (this.polling) this.closeWhenIdle = true;
    else this.closeNow();
  }

  private closeNow(): void {
    if (this.fd >= 0) {
      libc().close(this.fd);
      this.fd = -1;
    }
  }
}
