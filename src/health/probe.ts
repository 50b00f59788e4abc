import { request } from 'node:http';
import { connect } from 'node:net';

// One probe = one attempt, bounded by a timeout, never rejecting: the answer is ok or a reason.

export type ProbeResult = { ok: true } | { ok: false; reason: string };

/**
 * Runs a timeout's verdict only after pending I/O had its turn. Timers run before I/O callbacks in
 * each event-loop turn, so after the loop was busy (a reload, a GC pause, a slow machine) a timer
 * could otherwise fail a probe whose answer is already waiting in the socket.
 */
function late(fn: () => void): void {
  setImmediate(fn);
}

export function probeTcp(address: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const socket = connect({ host: address, port, noDelay: true });
    let settled = false;
    const done = (result: ProbeResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.removeAllListeners();
      socket.on('error', () => {});
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => late(() => done({ ok: false, reason: `no TCP connection within ${timeoutMs} ms` })), timeoutMs);
    socket.once('connect', () => done({ ok: true }));
    socket.once('error', (err: NodeJS.ErrnoException) => done({ ok: false, reason: `TCP connect failed: ${err.code ?? err.message}` }));
  });
}

export interface HttpProbeOptions {
  path: string;
  expectStatus: number;
  host?: string;
}

export function probeHttp(address: string, port: number, opts: HttpProbeOptions, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (result: ProbeResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(result);
    };
    let req: ReturnType<typeof request>;
    try {
      req = request({
        host: address,
        port,
        path: opts.path,
        method: 'GET',
        agent: false,
        headers: { host: opts.host ?? (address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`), 'user-agent': 'ipvs-maglev-health', connection: 'close' },
      });
    } catch (err) {
      // A path or Host header the HTTP client refuses (the configuration reader refuses them first).
      resolve({ ok: false, reason: `cannot send the HTTP request: ${err instanceof Error ? err.message : String(err)}` });
      return;
    }
    // One deadline for the whole exchange (connect + headers), not per socket event.
    const timer = setTimeout(() => late(() => done({ ok: false, reason: `no HTTP answer within ${timeoutMs} ms` })), timeoutMs);
    req.on('response', (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      done(status === opts.expectStatus ? { ok: true } : { ok: false, reason: `HTTP ${status}, expected ${opts.expectStatus}` });
    });
    req.on('error', (err: NodeJS.ErrnoException) => done({ ok: false, reason: `HTTP request failed: ${err.code ?? err.message}` }));
    req.end();
  });
}
