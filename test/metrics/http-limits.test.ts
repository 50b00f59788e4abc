import { connect, type Socket } from 'node:net';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { HTTP_LIMITS } from '../../src/http-limits.ts';
import { exposureWarning, startMetricsServer } from '../../src/metrics/index.ts';
import { HealthCheckServers } from '../../src/sources/kubernetes/health-check-server.ts';

// Whoever can reach the metrics port (or a health check node port) cannot hold it: connections, header time,
// idle time and header size are capped. Small limits here; the defaults are in src/http-limits.ts.

function open(port: number): Promise<{ socket: Socket; closedAfterMs: Promise<number>; received: () => string }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    let data = '';
    const socket = connect({ host: '127.0.0.1', port });
    socket.on('data', (b: Buffer) => {
      data += b.toString();
    });
    const closedAfterMs = new Promise<number>((r) => socket.once('close', () => r(Date.now() - t0)));
    socket.once('error', () => {});
    socket.once('connect', () => resolve({ socket, closedAfterMs, received: () => data }));
    socket.once('error', reject);
  });
}

describe('HTTP server caps', () => {
  it('the defaults are tight: a half-open connection is dropped within seconds, not Node\'s 60-90 s', () => {
    expect(HTTP_LIMITS.headersTimeoutMs).toBeLessThanOrEqual(5000);
    expect(HTTP_LIMITS.idleTimeoutMs).toBeLessThanOrEqual(10_000);
    expect(HTTP_LIMITS.maxConnections).toBeLessThanOrEqual(64);
  });

  it('drops a silent connection and a trickling one after headersTimeout, with a 408', async () => {
    const srv = await startMetricsServer('127.0.0.1:0', new Registry(), () => ({ ready: true }), { limits: { headersTimeoutMs: 300, requestTimeoutMs: 600 } });
    try {
      const port = Number(srv.address.split(':')[1]);
      const silent = await open(port);
      const trickle = await open(port);
      trickle.socket.write('GET /metrics HTTP/1.1\r\n');
      const timer = setInterval(() => trickle.socket.write('X'), 50);
      const [a, b] = await Promise.all([silent.closedAfterMs, trickle.closedAfterMs]);
      clearInterval(timer);
      expect(a).toBeLessThan(3000);
      expect(b).toBeLessThan(3000);
      expect(silent.received()).toMatch(/^HTTP\/1\.1 408 Request Timeout/);
    } finally {
      await srv.close();
    }
  });

  it('accepts at most maxConnections at once and refuses oversized headers with a 431', async () => {
    const srv = await startMetricsServer('127.0.0.1:0', new Registry(), () => ({ ready: true }), { limits: { maxConnections: 3, maxHeaderBytes: 1024 } });
    try {
      const port = Number(srv.address.split(':')[1]);
      const held = await Promise.all([open(port), open(port), open(port)]);
      const fourth = await open(port);
      expect(await fourth.closedAfterMs).toBeLessThan(2000);
      for (const h of held) h.socket.destroy();
      await Promise.all(held.map((h) => h.closedAfterMs));
      await new Promise((r) => setTimeout(r, 50));
      const big = await fetch(`http://${srv.address}/healthz`, { headers: { 'x-big': 'a'.repeat(4000) } });
      expect(big.status).toBe(431);
      expect((await fetch(`http://${srv.address}/healthz`)).status).toBe(200);
    } finally {
      await srv.close();
    }
  });

  it('says when metrics are exposed beyond loopback (wider exposure is an explicit choice)', async () => {
    for (const [listen, exposed] of [['127.0.0.1:0', false], ['[::1]:0', false], ['0.0.0.0:0', true], [':0', true]] as const) {
      const srv = await startMetricsServer(listen, new Registry(), () => ({ ready: true }));
      expect(srv.exposed, listen).toBe(exposed);
      if (exposed) expect(exposureWarning(srv)).toMatch(/beyond loopback: anyone who can reach it reads every service name, backend and flow share; the default is 127\.0\.0\.1:9477$/);
      await srv.close();
    }
  });

  it('health check node ports use the same caps', async () => {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const log = { debug() {}, info() {}, warn() {}, error() {} };
    const hc = new HealthCheckServers({ logger: log, host: '127.0.0.1' });
    await hc.sync([{ port, namespace: 'ns', name: 'lb', localEndpoints: 1 }]);
    try {
      expect((await fetch(`http://127.0.0.1:${port}/`, { headers: { 'x-big': 'a'.repeat(16_000) } })).status).toBe(431);
      expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(200);
    } finally {
      await hc.stop();
    }
  });
});
