// Listening sockets created inside another network namespace, by this process: setns(2) on the
// main thread, socket/bind/listen, setns back. A socket keeps the namespace it was created in, so one
// process serves every backend namespace (starting one node per backend costs seconds in the VM).
import { closeSync, openSync } from 'node:fs';
import koffi from 'koffi';

const AF_INET6 = 10;
const SOCK_STREAM = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_REUSEADDR = 2;
const IPPROTO_IPV6 = 41;
const IPV6_V6ONLY = 26;
const CLONE_NEWNET = 0x40000000;

interface Libc {
  setns: (fd: number, nstype: number) => number;
  socket: (domain: number, type: number, protocol: number) => number;
  setsockopt: (fd: number, level: number, name: number, value: Buffer, len: number) => number;
  bind: (fd: number, addr: Buffer, len: number) => number;
  listen: (fd: number, backlog: number) => number;
  close: (fd: number) => number;
}

let libc: Libc | undefined;
function load(): Libc {
  if (libc) return libc;
  const lib = koffi.load('libc.so.6');
  libc = {
    setns: lib.func('int setns(int fd, int nstype)'),
    socket: lib.func('int socket(int domain, int type, int protocol)'),
    setsockopt: lib.func('int setsockopt(int fd, int level, int name, void *value, uint32_t len)'),
    bind: lib.func('int bind(int fd, void *addr, uint32_t len)'),
    listen: lib.func('int listen(int fd, int backlog)'),
    close: lib.func('int close(int fd)'),
  } as Libc;
  return libc;
}

function check(rc: number, what: string): number {
  if (rc < 0) throw new Error(`${what}: errno ${koffi.errno()}`);
  return rc;
}

/** A dual-stack ([::]:port, IPv4 too) socket in network namespace `netns` (a /run/netns name), bound
 *  and, for TCP, listening. Returns its fd: hand it to net.Server.listen({fd}) / dgram bind({fd}). */
export function socketInNetns(netns: string, proto: 'tcp' | 'udp', port: number): number {
  const c = load();
  const home = openSync('/proc/thread-self/ns/net', 'r');
  const target = openSync(`/run/netns/${netns}`, 'r');
  let fd = -1;
  try {
    check(c.setns(target, CLONE_NEWNET), `setns ${netns}`);
    try {
      fd = check(c.socket(AF_INET6, (proto === 'tcp' ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0), 'socket');
      const one = Buffer.alloc(4);
      one.writeInt32LE(1);
      const zero = Buffer.alloc(4);
      check(c.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, one, 4), 'SO_REUSEADDR');
      check(c.setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, zero, 4), 'IPV6_V6ONLY');
      const sa = Buffer.alloc(28); // sockaddr_in6 for [::]:port
      sa.writeUInt16LE(AF_INET6, 0);
      sa.writeUInt16BE(port, 2);
      check(c.bind(fd, sa, sa.length), `bind [::]:${port} in ${netns}`);
      if (proto === 'tcp') check(c.listen(fd, 511), 'listen');
    } finally {
      // Back home whatever happened: the rest of this thread must not live in the backend's namespace.
      if (c.setns(home, CLONE_NEWNET) < 0) {
        process.stderr.write(`fatal: cannot return to the original network namespace (errno ${koffi.errno()})\n`);
        process.exit(70);
      }
    }
  } catch (e) {
    if (fd >= 0) c.close(fd);
    throw e;
  } finally {
    closeSync(home);
    closeSync(target);
  }
  return fd;
}
