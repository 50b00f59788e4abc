import { request } from 'node:http';
import { request as requestTls } from 'node:https';
import { connect, isIP } from 'node:net';
import { readBoundedFile } from '../bounded-read.ts';
import type { TlsCheck } from './types.ts';

// One probe = one attempt, bounded by a timeout, never rejecting: the answer is ok or a reason.

export type ProbeResult = { ok: true } | { ok: false; reason: string };

/**
 * Runs a timeout's verdict only after pending I/O had its turn. Timers run before I/O callbacks in
 * each event-loop turn, so after the loop was busy (a reload, a GC pause, a slow machine) a timer
 * could otherwise fail a probe whose answer is already waiting in the socket.
 */
export function late(fn: () => void): void {
  setImmediate(fn);
}

/**
 * A probe's single verdict: the first call of the returned function wins; it clears the deadline,
 * tears the socket down and resolves. Later calls (an error after the answer, an 'end' after a reply,
 * a deadline that fired while the answer was being handled) do nothing. `onTimeout` runs only if
 * nothing settled first, so it may act (kill a process) without checking.
 */
export function settleOnce<T>(resolve: (result: T) => void, timeoutMs: number, onTimeout: () => T, teardown: () => void): (result: T) => void {
  let settled = false;
  const done = (result: T): void => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    teardown();
    resolve(result);
  };
  const timer = setTimeout(
    () =>
      late(() => {
        if (!settled) done(onTimeout());
      }),
    timeoutMs,
  );
  return done;
}

/**
 * Detaches a probe's socket once its verdict is in: no handler of ours runs again, and an error the
 * socket still emits (a reset while closing) has a listener, so it cannot crash the process.
 */
export function detach(socket: NodeJS.EventEmitter): void {
  socket.removeAllListeners();
  socket.on('error', () => {});
}

export function probeTcp(address: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const socket = connect({ host: address, port, noDelay: true });
    const done = settleOnce<ProbeResult>(resolve, timeoutMs, () => ({ ok: false, reason: `no TCP connection within ${timeoutMs} ms` }), () => {
      detach(socket);
      socket.destroy();
    });
    socket.once('connect', () => done({ ok: true }));
    socket.once('error', (err: NodeJS.ErrnoException) => done({ ok: false, reason: `TCP connect failed: ${err.code ?? err.message}` }));
  });
}

export interface HttpProbeOptions {
  path: string;
  expectStatus: number;
  host?: string;
  /** Set: HTTPS with these TLS settings. */
  tls?: TlsCheck;
}

/** A CA bundle is a few hundred KiB at most; a bigger "CA file" is a mistake, not something to load per probe. */
const MAX_CA_BYTES = 1 << 20;

export async function probeHttp(address: string, port: number, opts: HttpProbeOptions, timeoutMs: number): Promise<ProbeResult> {
  const started = Date.now();
  let ca: string | undefined;
  if (opts.tls?.caFile !== undefined) {
    try {
      ca = await readBoundedFile(opts.tls.caFile, { maxBytes: MAX_CA_BYTES, what: `health check CA file ${opts.tls.caFile}`, regularOnly: true });
    } catch (err) {
      return { ok: false, reason: `cannot read the CA file: ${err instanceof Error ? err.message : String(err)}` };
    }
  }
  return exchange(address, port, opts, Math.max(1, timeoutMs - (Date.now() - started)), ca);
}

function exchange(address: string, port: number, opts: HttpProbeOptions, timeoutMs: number, ca: string | undefined): Promise<ProbeResult> {
  const scheme = opts.tls ? 'HTTPS' : 'HTTP';
  return new Promise((resolve) => {
    let req: ReturnType<typeof request>;
    const headers = { host: opts.host ?? (address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`), 'user-agent': 'ipvs-maglev-health', connection: 'close' };
    try {
      const common = { host: address, port, path: opts.path, method: 'GET', agent: false as const, headers };
      if (opts.tls) {
        const servername = opts.tls.serverName ?? sniFromHost(opts.host);
        req = requestTls({
          ...common,
          // An empty servername sends no SNI (an IP address must not be sent as one, RFC 6066 section 3).
          // With verify on, the certificate is checked against the servername, else against the address.
          servername: servername ?? '',
          rejectUnauthorized: opts.tls.verify,
          ...(ca === undefined ? {} : { ca }),
        });
      } else req = request(common);
    } catch (err) {
      // A path or Host header the HTTP client refuses (the configuration reader refuses them first).
      resolve({ ok: false, reason: `cannot send the ${scheme} request: ${err instanceof Error ? err.message : String(err)}` });
      return;
    }
    // One deadline for the whole exchange (connect + handshake + headers), not per socket event.
    // The request keeps its listeners: destroying it emits an error that must find ours (a no-op once settled).
    const done = settleOnce<ProbeResult>(resolve, timeoutMs, () => ({ ok: false, reason: `no ${scheme} answer within ${timeoutMs} ms` }), () => req.destroy());
    req.on('response', (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      done(status === opts.expectStatus ? { ok: true } : { ok: false, reason: `${scheme} ${status}, expected ${opts.expectStatus}` });
    });
    req.on('error', (err: NodeJS.ErrnoException) => done({ ok: false, reason: `${scheme} request failed: ${err.code ?? err.message}` }));
    req.end();
  });
}

/** The SNI a Host header implies: its name without the port; none for an IP address. */
function sniFromHost(host: string | undefined): string | undefined {
  if (host === undefined || host.startsWith('[')) return undefined;
  const name = host.replace(/:\d+$/, '').replace(/\.$/, '');
  return isIP(name) === 0 ? name : undefined;
}
