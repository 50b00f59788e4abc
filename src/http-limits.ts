import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

// Caps for the HTTP servers anyone on the network may connect to (metrics and probes, kube-proxy style
// health check node ports): how many connections at once, how long a client may take to send its
// headers and its request, how long an idle connection stays, how large the headers may be. Node's
// defaults hold a silent connection ~60-90 s (headersTimeout 60 s, checked every 30 s) and take
// unlimited connections; these answer a probe in milliseconds and drop a half-open connection in ~6 s.
// Imports nothing of ours: the metrics server and the Kubernetes source share it.

export interface HttpLimits {
  /** Connections at once; more are closed at accept. */
  maxConnections: number;
  /** The whole header block must arrive within this. */
  headersTimeoutMs: number;
  /** The whole request must arrive within this. */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** A socket with no traffic at all is destroyed after this. */
  idleTimeoutMs: number;
  /** Bytes of request headers. */
  maxHeaderBytes: number;
}

export const HTTP_LIMITS: HttpLimits = {
  maxConnections: 64,
  headersTimeoutMs: 5000,
  requestTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5000,
  idleTimeoutMs: 10_000,
  maxHeaderBytes: 8192,
};

/** An HTTP server with the caps above (or `limits`). */
export function createLimitedServer(handler?: (req: IncomingMessage, res: ServerResponse) => void, limits: Partial<HttpLimits> = {}): Server {
  const l = { ...HTTP_LIMITS, ...limits };
  const server = createServer(
    {
      maxHeaderSize: l.maxHeaderBytes,
      headersTimeout: l.headersTimeoutMs,
      requestTimeout: l.requestTimeoutMs,
      keepAliveTimeout: l.keepAliveTimeoutMs,
      // How often the timeouts above are enforced (default 30 s, which is most of the old hold time).
      connectionsCheckingInterval: Math.min(1000, l.headersTimeoutMs),
    },
    handler,
  );
  server.maxConnections = l.maxConnections;
  server.setTimeout(l.idleTimeoutMs, (socket) => socket.destroy());
  return server;
}
