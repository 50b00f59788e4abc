import koffi from 'koffi';

// The libc functions the netlink socket needs, bound lazily through koffi so that merely
// importing this module works on any OS; the first use on a non-Linux OS throws.

export class NotLinuxError extends Error {
  readonly code = 'NOT_LINUX';
  constructor() {
    super(`netlink needs Linux; this is ${process.platform}`);
    this.name = 'NotLinuxError';
  }
}

type Pointer = Uint8Array | null;

export interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, addr: Pointer, len: number): number;
  getsockname(fd: number, addr: Pointer, len: Pointer): number;
  setsockopt(fd: number, level: number, name: number, value: Pointer, len: number): number;
  getsockopt(fd: number, level: number, name: number, value: Pointer, len: Pointer): number;
  sendto(fd: number, buf: Pointer, len: number, flags: number, addr: Pointer, alen: number): number;
  recvfrom(fd: number, buf: Pointer, len: number, flags: number, addr: Pointer, alen: Pointer): number;
  poll(fds: Pointer, nfds: number, timeoutMs: number): number;
  /** poll() on a worker thread, so waiting never blocks the event loop. */
  pollAsync(fds: Pointer, nfds: number, timeoutMs: number): Promise<number>;
  close(fd: number): number;
  open(path: string, flags: number): number;
  setns(fd: number, nstype: number): number;
  errno(): number;
}

let cached: Libc | undefined;

export function libc(): Libc {
  if (cached) return cached;
  if (process.platform !== 'linux') throw new NotLinuxError();
  const lib = koffi.load('libc.so.6');
  const pollFn = lib.func('int poll(void *fds, uint64_t nfds, int timeout)');
  cached = {
    socket: lib.func('int socket(int domain, int type, int protocol)'),
    bind: lib.func('int bind(int fd, const void *addr, uint32_t len)'),
    getsockname: lib.func('int getsockname(int fd, void *addr, void *len)'),
    setsockopt: lib.func('int setsockopt(int fd, int level, int name, const void *value, uint32_t len)'),
    getsockopt: lib.func('int getsockopt(int fd, int level, int name, void *value, void *len)'),
    sendto: lib.func('intptr_t sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t alen)'),
    recvfrom: lib.func('intptr_t recvfrom(int fd, void *buf, size_t len, int flags, void *addr, void *alen)'),
    poll: pollFn,
    pollAsync: (fds, nfds, timeoutMs) =>
      new Promise<number>((resolve, reject) => {
        pollFn.async(fds, nfds, timeoutMs, (err: unknown, result: number) => {
          if (err) reject(err instanceof Error ? err : new Error(String(err)));
          else resolve(result);
        });
      }),
    close: lib.func('int close(int fd)'),
    open: lib.func('int open(const char *path, int flags)'),
    setns: lib.func('int setns(int fd, int nstype)'),
    errno: () => koffi.errno(),
  };
  return cached;
}

// Linux constants (x86-64 / arm64 share these).
export const AF_NETLINK = 16;
export const SOCK_RAW = 3;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SO_SNDBUF = 7;
export const SO_RCVBUF = 8;
export const SO_SNDBUFFORCE = 32;
export const SO_RCVBUFFORCE = 33;
export const MSG_DONTWAIT = 0x40;
export const MSG_TRUNC = 0x20;
export const POLLIN = 0x1;
export const POLLERR = 0x8;
export const O_RDONLY = 0;
export const O_CLOEXEC = 0o2000000;
export const CLONE_NEWNET = 0x40000000;
export const EINTR = 4;
export const EAGAIN = 11;
