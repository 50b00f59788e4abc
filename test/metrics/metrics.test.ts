import { afterEach, describe, expect, it } from 'vitest';
import type { Stats } from '../../src/ipvs/types.ts';
import { AddressError, LbMetrics, parseListenAddress, startMetricsServer } from '../../src/metrics/index.ts';
import type { MetricsServer, ServiceStats } from '../../src/metrics/index.ts';

const servers: MetricsServer[] = [];
afterEach(async () => {
  while (servers.length) await servers.pop()!.close();
});

function stats(conns: number, pkts: number, bytes: number): Stats {
  const b = BigInt;
  return { conns: b(conns), inPackets: b(pkts), outPackets: b(pkts + 1), inBytes: b(bytes), outBytes: b(bytes * 2), cps: 0n, inPps: 0n, outPps: 0n, inBps: 0n, outBps: 0n };
}

function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('metrics exposition', () => {
  it('exposes sync results, kernel counters and health over HTTP; one kernel read per scrape', async () => {
    let reads = 0;
    const kernel: ServiceStats[] = [
      {
        name: 'web',
        service: 'tcp 192.0.2.1:80',
        stats: stats(42, 100, 5000),
        destinations: [
          { destination: '10.0.0.1:80', weight: 3, activeConns: 4, inactiveConns: 2, stats: stats(30, 70, 3000) },
          { destination: '10.0.0.2:80', weight: 0, activeConns: 1, inactiveConns: 0, stats: stats(12, 30, 2000) },
        ],
      },
    ];
    const m = new LbMetrics(
      {
        kernelStats: async () => {
          reads++;
          return kernel;
        },
        health: () => [
          { serviceName: 'web', destination: '10.0.0.1:80', up: true },
          { serviceName: 'web', destination: '10.0.0.2:80', up: false },
        ],
      },
      { processMetrics: false },
    );
    m.recordSync({
      mode: 'full',
      durationMs: 30,
      counts: { addService: { ok: 1, converted: 0, skipped: 0, failed: 0 }, addDestination: { ok: 1, converted: 0, skipped: 0, failed: 1 } },
      errors: [{ code: 'KERNEL_ERROR' }],
      flowMoves: [{ service: 'tcp 192.0.2.1:80', name: 'web', changedFraction: 0.26, minimumFraction: 0.25 }],
      services: 1,
      destinations: 2,
    });
    m.observeTableBuild(0.0004);
    m.recordReload('rejected');
    let ready = false;
    const server = await startMetricsServer('127.0.0.1:0', m.registry, () => (ready ? { ready } : { ready, reason: 'first sync pending' }));
    servers.push(server);
    const base = `http://${server.address}`;

    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(reads).toBe(1);
    expect(sample(text, 'ipvs_maglev_sync_duration_seconds_count', { mode: 'full' })).toBe(1);
    expect(sample(text, 'ipvs_maglev_sync_duration_seconds_sum', { mode: 'full' })).toBeCloseTo(0.03);
    expect(sample(text, 'ipvs_maglev_operations_total', { kind: 'addDestination', result: 'failed' })).toBe(1);
    expect(sample(text, 'ipvs_maglev_operations_total', { kind: 'addService', result: 'ok' })).toBe(1);
    expect(sample(text, 'ipvs_maglev_sync_errors_total', { code: 'KERNEL_ERROR' })).toBe(1);
    expect(sample(text, 'ipvs_maglev_services')).toBe(1);
    expect(sample(text, 'ipvs_maglev_destinations')).toBe(2);
    expect(sample(text, 'ipvs_maglev_flow_move_share', { name: 'web' })).toBe(0.26);
    expect(sample(text, 'ipvs_maglev_flow_move_minimum_share', { name: 'web' })).toBe(0.25);
    expect(sample(text, 'ipvs_maglev_maglev_table_build_seconds_count')).toBe(1);
    expect(sample(text, 'ipvs_maglev_config_reloads_total', { result: 'rejected' })).toBe(1);
    expect(sample(text, 'ipvs_maglev_service_connections_total', { name: 'web' })).toBe(42);
    expect(sample(text, 'ipvs_maglev_service_packets_total', { name: 'web', direction: 'out' })).toBe(101);
    expect(sample(text, 'ipvs_maglev_service_bytes_total', { name: 'web', direction: 'in' })).toBe(5000);
    expect(sample(text, 'ipvs_maglev_destination_connections_total', { destination: '10.0.0.2:80' })).toBe(12);
    expect(sample(text, 'ipvs_maglev_destination_bytes_total', { destination: '10.0.0.1:80', direction: 'out' })).toBe(6000);
    expect(sample(text, 'ipvs_maglev_destination_active_connections', { destination: '10.0.0.1:80' })).toBe(4);
    expect(sample(text, 'ipvs_maglev_destination_inactive_connections', { destination: '10.0.0.1:80' })).toBe(2);
    expect(sample(text, 'ipvs_maglev_destination_weight', { destination: '10.0.0.2:80' })).toBe(0);
    expect(sample(text, 'ipvs_maglev_backend_up', { destination: '10.0.0.1:80' })).toBe(1);
    expect(sample(text, 'ipvs_maglev_backend_up', { destination: '10.0.0.2:80' })).toBe(0);
    expect(text).toContain('# TYPE ipvs_maglev_service_connections_total counter');

    // The kernel's counters are re-read at the next scrape, not cached forever.
    kernel[0].stats = stats(50, 100, 5000);
    await new Promise((r) => setTimeout(r, 80));
    const again = await (await fetch(`${base}/metrics`)).text();
    expect(sample(again, 'ipvs_maglev_service_connections_total', { name: 'web' })).toBe(50);
    expect(reads).toBe(2);

    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const notReady = await fetch(`${base}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.text()).toBe('not ready: first sync pending\n');
    ready = true;
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });

  it('a failing kernel read leaves the kernel metrics empty instead of failing the scrape', async () => {
    const m = new LbMetrics({ kernelStats: () => Promise.reject(new Error('netlink down')) }, { processMetrics: false });
    const text = await m.registry.metrics();
    expect(text).toContain('# TYPE ipvs_maglev_service_connections_total counter');
    expect(sample(text, 'ipvs_maglev_service_connections_total')).toBeUndefined();
  });

  it('parses listen addresses and rejects bad ones clearly', async () => {
    expect(parseListenAddress('127.0.0.1:9477')).toEqual({ host: '127.0.0.1', port: 9477 });
    expect(parseListenAddress('[::1]:9477')).toEqual({ host: '::1', port: 9477 });
    expect(parseListenAddress(':9477')).toEqual({ host: '::', port: 9477 });
    for (const bad of ['9477', '1.2.3.4:99999', '::1:80', 'host:port']) expect(() => parseListenAddress(bad)).toThrow(AddressError);
    const m = new LbMetrics({}, { processMetrics: false });
    const first = await startMetricsServer('127.0.0.1:0', m.registry, () => ({ ready: true }));
    servers.push(first);
    await expect(startMetricsServer(first.address, m.registry, () => ({ ready: true }))).rejects.toThrow(/address already in use/);
  });
});
