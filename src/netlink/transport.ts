// What a Conn needs from a socket. native/ implements it with a real netlink socket;
// src/netlink/testing.ts implements it with a function standing in for the kernel.

export interface Transport {
  /** The socket's netlink port id (the kernel puts it in every reply's nlmsg_pid). */
  readonly portId: number;
  /** Sends one datagram (one or more complete netlink messages). Throws TransportError. */
  send(data: Uint8Array): void;
  /**
   * The next datagram, or undefined once `deadline` (ms, same clock as Date.now()) has
   * passed. The returned view is only valid until the next receive(). Throws
   * TransportError (e.g. ENOBUFS when the kernel dropped messages for lack of buffer).
   */
  receive(deadline: number): Promise<Uint8Array | undefined>;
  /**
   * The next datagram if one is already queued, else undefined at once (never waits); the same
   * view and errors as receive(). Optional: it spares a promise per datagram of a dump, whose
   * parts the kernel queues before the system call that asked for them returns.
   */
  receiveReady?(): Uint8Array | undefined;
  close(): void;
}
