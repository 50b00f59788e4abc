import type { Server } from 'node:http';
import type { Registry } from 'prom-client';
import { type HttpLimits, createLimitedServer } from '../http-limits.ts';

// The HTTP endpoints: /metrics (Prometheus text), /healthz (the process is alive and its event loop
// turns), /readyz (the first sync succeeded and the configuration is loaded). Capped connections, header
// and idle times (../http-limits.ts): whoever can reach the port cannot hold it.

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

/** The line to log when metrics listen beyond loopback (an explicit choice: the default is 127.0.0.1). */
export function exposureWarning(server: MetricsServer): string {
  return `metrics listen on ${server.address}, beyond loopback: anyone who can reach it reads every service name, backend and flow share; the default is 127.0.0.1:9477`;
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

export async function startMetricsServer(listen: string, registry: Registry, readiness: () => Readiness, limits: Partial<HttpLimits> = {}): Promise<MetricsServer> {
  const { host, port } = parseListenAddress(listen);
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
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics, /healthz or /readyz\n');
  }, limits);
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
