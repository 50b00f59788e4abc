import type { Server } from 'node:http';
import { createLimitedServer } from '../../http-limits.ts';
import type { StructuredLogger as Logger } from '../../structured-logger.ts';
import type { HealthCheckTarget } from './cluster-state.ts';

// kube-proxy's service health server: for each LoadBalancer Service with externalTrafficPolicy Local, an
// HTTP server on its healthCheckNodePort that answers 200 while this node has ready endpoints of the
// Service and 503 otherwise, so the cloud load balancer sends traffic only to nodes that can serve it
// locally. Same body and headers as kube-proxy (pkg/proxy/healthcheck), which load balancers parse.
// These ports face the network, so connections, header and idle times are capped (../../http-limits.ts).

/** Load balancers probe from many addresses at once: more room than the metrics port. */
const HEALTH_CHECK_MAX_CONNECTIONS = 256;

interface Entry {
  server: Server;
  target: HealthCheckTarget;
  listening: boolean;
}

export interface HealthCheckServersOptions {
  logger: Logger;
  /** Address to listen on; default all addresses (kube-proxy: the node port addresses). */
  host?: string;
  /** Whether the proxy itself is healthy (kube-proxy's serviceProxyHealthy); false answers 503 everywhere. */
  proxyHealthy?: () => boolean;
}

export class HealthCheckServers {
  private readonly opts: HealthCheckServersOptions;
  private readonly byPort = new Map<number, Entry>();

  constructor(opts: HealthCheckServersOptions) {
    this.opts = opts;
  }

  /** Serves exactly `targets`: opens new ports, closes gone ones, updates counts in place. */
  async sync(targets: readonly HealthCheckTarget[]): Promise<void> {
    const wanted = new Map<number, HealthCheckTarget>();
    for (const t of targets) {
      const other = wanted.get(t.port);
      if (other) {
        this.opts.logger.warn({ port: t.port, service: `${t.namespace}/${t.name}`, other: `${other.namespace}/${other.name}` }, 'two Services claim one health check node port; serving the first');
        continue;
      }
      wanted.set(t.port, t);
    }
    const closing: Promise<void>[] = [];
    for (const [port, entry] of this.byPort) {
      if (wanted.has(port)) continue;
      this.byPort.delete(port);
      closing.push(close(entry.server));
    }
    const opening: Promise<void>[] = [];
    for (const [port, target] of wanted) {
      const entry = this.byPort.get(port);
      if (entry?.listening) {
        entry.target = target;
        continue;
      }
      if (entry) {
        // Failed to listen last time (port in use): try again with a fresh server.
        this.byPort.delete(port);
        closing.push(close(entry.server));
      }
      opening.push(this.open(port, target));
    }
    await Promise.all([...closing, ...opening]);
  }

  /** Ports currently served (tests, metrics). */
  ports(): number[] {
    return [...this.byPort].filter(([, e]) => e.listening).map(([p]) => p).sort((a, b) => a - b);
  }

  async stop(): Promise<void> {
    const all = [...this.byPort.values()];
    this.byPort.clear();
    await Promise.all(all.map((e) => close(e.server)));
  }

  private open(port: number, target: HealthCheckTarget): Promise<void> {
    const entry: Entry = { server: createLimitedServer(undefined, { maxConnections: HEALTH_CHECK_MAX_CONNECTIONS }), target, listening: false };
    entry.server.on('request', (_req, res) => {
      const t = entry.target;
      const healthy = this.opts.proxyHealthy?.() ?? true;
      const body = {
        service: { namespace: t.namespace, name: t.name },
        localEndpoints: t.localEndpoints,
        serviceProxyHealthy: healthy,
      };
      res.writeHead(t.localEndpoints > 0 && healthy ? 200 : 503, {
        'Content-Type': 'application/json',
        'X-Content-Type-Options': 'nosniff',
        'X-Load-Balancing-Endpoint-Weight': String(t.localEndpoints),
      });
      res.end(JSON.stringify(body, null, 2));
    });
    this.byPort.set(port, entry);
    return new Promise((resolve) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        this.opts.logger.warn({ port, service: `${target.namespace}/${target.name}`, err: err.code ?? err.message }, 'cannot serve the health check node port; retrying at the next sync');
        resolve();
      };
      entry.server.once('error', onError);
      entry.server.listen({ port, host: this.opts.host }, () => {
        entry.server.off('error', onError);
        entry.listening = true;
        this.opts.logger.info({ port, service: `${target.namespace}/${target.name}` }, 'serving health check node port');
        resolve();
      });
    });
  }
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
