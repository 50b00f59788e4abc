import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { ProbeResult } from './probe.ts';
import { detach, settleOnce } from './probe.ts';
import type { UdpCheck } from './types.ts';

// A UDP check sends one datagram on a connected socket. The kernel reports an ICMP port unreachable
// for a connected UDP socket as ECONNREFUSED, which is how "no-unreachable" tells a closed port from
// an open one that stays silent.

export function probeUdp(address: string, port: number, check: UdpCheck, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const socket = createSocket(isIPv6(address) ? 'udp6' : 'udp4');
    const done = settleOnce<ProbeResult>(
      resolve,
      timeoutMs,
      () => (check.expect === 'no-unreachable' ? { ok: true } : { ok: false, reason: `no UDP reply within ${timeoutMs} ms` }),
      () => {
        detach(socket);
        socket.close();
      },
    );
    socket.on('error', (err: NodeJS.ErrnoException) =>
      done({ ok: false, reason: err.code === 'ECONNREFUSED' ? 'ICMP port unreachable' : `UDP probe failed: ${err.code ?? err.message}` }),
    );
    socket.on('message', (msg) => {
      if (check.expectReply === undefined || msg.toString('utf8').includes(check.expectReply)) done({ ok: true });
      else done({ ok: false, reason: `UDP reply does not contain ${JSON.stringify(check.expectReply)}` });
    });
    socket.connect(port, address, () => socket.send(Buffer.from(check.send, 'utf8')));
  });
}
