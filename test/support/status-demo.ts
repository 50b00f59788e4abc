import { mkdtempSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { StandaloneLb } from '../../src/app/standalone.ts';
import { loadConfigFile } from '../../src/sources/file/index.ts';
import { createLogger } from '../../src/log.ts';
import { MemoryStateStore } from '../../src/reconcile/index.ts';
import { MemoryIpvs, MemoryVips } from '../../src/testing/memory-ipvs.ts';

// A standalone load balancer for the status page's browser test and its screenshot script: the real
// configuration loader, health checks (against local HTTP backends), reconciler and metrics server with
// the status page on; only IPVS is the in-memory model with the kernel's semantics (src/testing/memory-ipvs.ts).

export interface DemoBackend {
  port: number;
  /** HTTP status the backend answers its health check with. */
  status: number;
}

export interface DemoDest {
  backend: DemoBackend;
  weight?: number;
}

export interface StatusDemo {
  lb: StandaloneLb;
  ipvs: MemoryIpvs;
  url: string;
  backends: DemoBackend[];
  /** Rewrites the file with these services and reloads it. */
  configure(services: DemoService[]): Promise<void>;
  stop(): Promise<void>;
}

export interface DemoService {
  name: string;
  address: string;
  port: number;
  scheduler?: string;
  dests: DemoDest[];
  quorum?: number;
  sorryServer?: DemoBackend;
}

function configText(services: DemoService[]): string {
  const lines = ['settings: { minSyncInterval: 10ms, resyncInterval: 1h, drainTimeout: 1h }', 'services:'];
  for (const s of services) {
    lines.push(`  - name: ${s.name}`, `    address: ${s.address}`, `    port: ${s.port}`);
    if (s.scheduler) lines.push(`    scheduler: ${s.scheduler}`);
    if (s.quorum !== undefined) lines.push(`    quorum: ${s.quorum}`);
    if (s.sorryServer) lines.push(`    sorryServer: { address: 127.0.0.1, port: ${s.sorryServer.port} }`);
    lines.push('    healthCheck: { type: http, path: /, interval: 100ms, timeout: 80ms, rise: 1, fall: 2 }', '    destinations:');
    for (const d of s.dests) lines.push(`      - { address: 127.0.0.1, port: ${d.backend.port}${d.weight === undefined ? '' : `, weight: ${d.weight}`} }`);
  }
  return `${lines.join('\n')}\n`;
}

export async function startStatusDemo(backendCount: number, services: (backends: DemoBackend[]) => DemoService[]): Promise<StatusDemo> {
  const servers: Server[] = [];
  const backends: DemoBackend[] = [];
  for (let i = 0; i < backendCount; i++) {
    const b: DemoBackend = { port: 0, status: 200 };
    const server = createServer((_req, res) => res.writeHead(b.status).end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    b.port = (server.address() as AddressInfo).port;
    servers.push(server);
    backends.push(b);
  }
  const file = join(mkdtempSync(join(tmpdir(), 'status-demo-')), 'lb.yaml');
  writeFileSync(file, configText(services(backends)));
  const ipvs = Object.assign(new MemoryIpvs(), { close() {} });
  const vips = Object.assign(new MemoryVips(), { close() {} });
  const quiet = new Writable({ write: (_c, _e, cb) => cb() });
  const lb = new StandaloneLb(
    { config: file, metricsAddress: '127.0.0.1:0', stateDir: '/nonexistent', interface: 'ipvs0', logLevel: 'info', watch: false, statusPage: true },
    await loadConfigFile(file),
    createLogger({ level: 'info', destination: quiet }),
    { openKernel: async () => ({ ipvs, vips }), store: new MemoryStateStore() },
  );
  await lb.start();
  await lb.idle();
  return {
    lb,
    ipvs,
    url: `http://${lb.metricsAddress()}`,
    backends,
    configure: async (next) => {
      writeFileSync(file, configText(next));
      await lb.reload('test');
      await lb.idle();
    },
    stop: async () => {
      await lb.stop();
      for (const s of servers) {
        s.closeAllConnections();
        await new Promise<void>((r) => s.close(() => r()));
      }
    },
  };
}
