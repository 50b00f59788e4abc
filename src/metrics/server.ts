import { readFileSync } from 'node:fs';
import type { Server, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { type HttpLimits, createLimitedServer } from '../http-limits.ts';
import type { StatusSnapshot } from './status.ts';

// The HTTP endpoints: /metrics (Prometheus text), /healthz (the process is alive and its event loop
// turns), /readyz (the first sync succeeded and the configuration is loaded), and when asked for
// (--status-page) the read-only status page: /status (HTML, script and style from ./status-page/, served
// under a Content-Security-Policy that allows nothing from elsewhere) and /status.json. Capped
// connections, header and idle times (../http-limits.ts): whoever can reach the port cannot hold it.

export interface MetricsServerOptions {
  limits?: Partial<HttpLimits>;
  /** Serves the status page when given: the current snapshot (read at most once per STATUS_MIN_AGE_MS). */
  status?: () => Promise<StatusSnapshot>;
}

/** Requests within this time of a snapshot share it: a busy page (or many) costs one kernel read per second. */
export const STATUS_MIN_AGE_MS = 1000;

const PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const PAGE_FILES: Readonly<Record<string, { file: string; type: string }>> = {
  '/status': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/status/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/status/page.js': { file: 'page.js', type: 'text/javascript; charset=utf-8' },
  '/status/page.css': { file: 'page.css', type: 'text/css; charset=utf-8' },
};

const pageCache = new Map<string, Buffer>();
function pageFile(name: string): Buffer {
  let b = pageCache.get(name);
  if (!b) {
    b = readFileSync(new URL(`./status-page/${name}`, import.meta.url));
    pageCache.set(name, b);
  }
  return b;
}

function sendPage(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  res
    .writeHead(status, { 'content-type': type, 'content-security-policy': PAGE_CSP, 'x-content-type-options': 'nosniff', 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' })
    .end(body);
}

export interface Readiness {
  ready: boolean;
  /** Shown in the /readyz body when not ready. */
  reason?: string;
}

export interface MetricsServer {
  /** The address actually bound ("127.0.0.1:9477"; port resolved when 0 was asked). */
  address: string;
  /** Bound beyond loopback: anyone who can reach it reads every service name and flow share. */
  exposed: boolean;
  close(): Promise<void>;
}

/** Where /metrics, /healthz and /readyz listen unless told otherwise (run and controller): loopback only. */
export const DEFAULT_METRICS_ADDRESS = '127.0.0.1:9477';

/** The line to log when metrics listen beyond loopback (an explicit choice: the default is 127.0.0.1). */
export function exposureWarning(server: MetricsServer): string {
  return `metrics listen on ${server.address}, beyond loopback: anyone who can reach it reads every service name, backend and flow share; the default is ${DEFAULT_METRICS_ADDRESS}`;
}

export class AddressError extends Error {
  readonly code = 'BAD_ADDRESS';
  constructor(message: string) {
    super(message);
    this.name = 'AddressError';
  }
}

/** "127.0.0.1:9477", "[::1]:9477", ":9477" (all addresses), "localhost:9477". */
export function parseListenAddress(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535) throw new AddressError(`bad listen address "${text}": expected HOST:PORT such as 127.0.0.1:9477, [::1]:9477 or :9477`);
  const host = m[1] ?? m[2];
  return { host: host === '' ? '::' : host, port };
}

export async function startMetricsServer(listen: string, registry: Registry, readiness: () => Readiness, options: MetricsServerOptions = {}): Promise<MetricsServer> {
  const { host, port } = parseListenAddress(listen);
  const status = options.status;
  // The serialized snapshot is shared too: with hundreds of services it is megabytes of JSON.
  let snapshot: { at: number; value: Promise<string> } | undefined;
  const currentStatus = (fetchStatus: () => Promise<StatusSnapshot>): Promise<string> => {
    const now = Date.now();
    if (!snapshot || now - snapshot.at >= STATUS_MIN_AGE_MS) {
      const value = fetchStatus().then((s) => JSON.stringify(s));
      snapshot = { at: now, value };
      // A failed read is not kept: the next request tries again.
      value.catch(() => {
        if (snapshot?.value === value) snapshot = undefined;
      });
    }
    return snapshot.value;
  };
  const server: Server = createLimitedServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics collection failed: ${String(err)}\n`),
      );
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    if (path === '/readyz') {
      const r = readiness();
      res.writeHead(r.ready ? 200 : 503, { 'content-type': 'text/plain' }).end(r.ready ? 'ready\n' : `not ready: ${r.reason ?? 'starting'}\n`);
      return;
    }
    if (status && path === '/status.json') {
      currentStatus(status).then(
        (json) => sendPage(res, 200, 'application/json', json),
        (err: unknown) => sendPage(res, 500, 'text/plain', `status collection failed: ${err instanceof Error ? err.message : String(err)}\n`),
      );
      return;
    }
    const page = status ? PAGE_FILES[path] : undefined;
    if (page) {
      sendPage(res, 200, page.type, pageFile(page.file));
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: try /metrics, /healthz or /readyz${status ? ', /status' : ''}\n`);
  }, options.limits);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new AddressError(`cannot listen on ${listen} for metrics: ${err.code === 'EADDRINUSE' ? 'address already in use' : err.message}`)),
    );
    server.listen(port, host, () => resolve());
  });
  const bound = server.address();
  const address = bound !== null && typeof bound === 'object' ? (bound.family === 'IPv6' ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`) : listen;
  const boundHost = bound !== null && typeof bound === 'object' ? bound.address : host;
  return {
    address,
    exposed: !(boundHost === 'localhost' || boundHost === '::1' || boundHost.startsWith('127.')),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
