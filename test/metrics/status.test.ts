import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { Destination, Service } from '../../src/ipvs/types.ts';
import { buildKernelTable } from '../../src/maglev/index.ts';
import { LastWeights, MAX_BINS, TableCache, MAX_SERVICES, type StatusSnapshot, buildStatus, startMetricsServer } from '../../src/metrics/index.ts';

// The status snapshot (what /status.json carries) and how the metrics server serves the page.

const svc = (address: string, scheduler = 'mh'): Service => ({
  key: { kind: 'addr', family: 'inet', protocol: 'tcp', address, port: 80 },
  config: { scheduler, flags: scheduler === 'mh' ? { portHash: true, fallback: true } : {}, timeout: 0, netmask: '255.255.255.255' },
});
const dst = (address: string, weight: number, activeConns = 0): Destination => ({
  key: { family: 'inet', address, port: 8080 },
  config: { forwarding: 'masq', weight, upperThreshold: 0, lowerThreshold: 0 },
  activeConns,
  inactiveConns: 0,
});

describe('buildStatus', () => {
  it('per mh service: exact slots per destination (as src/maglev builds the table), bins that sum to them, health and drains', () => {
    // Kernel order, newest first: 10.0.0.3 was added last.
    const dests = [dst('10.0.0.3', 2), dst('10.0.0.2', 0, 4), dst('10.0.0.1', 1)];
    const snap = buildStatus({
      services: [{ name: 'web', service: svc('192.0.2.1'), destinations: dests }],
      drains: [{ service: 'tcp 192.0.2.1:80', destination: '10.0.0.2:8080', since: 1000, lastWeight: 3 }],
      health: [
        { serviceName: 'web', destination: '10.0.0.3:8080', up: true },
        { serviceName: 'web', destination: '10.0.0.1:8080', up: false },
      ],
    });
    const [s] = snap.services;
    expect(s.flags).toEqual(['portHash', 'fallback']);
    expect(s.destinations.map((d) => [d.destination, d.weight, d.lastWeight, d.health, d.drainingSince, d.activeConns])).toEqual([
      ['10.0.0.3:8080', 2, 2, 'up', undefined, 0],
      ['10.0.0.2:8080', 0, 3, 'unchecked', 1000, 4],
      ['10.0.0.1:8080', 1, 1, 'down', undefined, 0],
    ]);
    const table = buildKernelTable(
      [
        { address: '10.0.0.1', port: 8080, weight: 1 },
        { address: '10.0.0.2', port: 8080, weight: 0, lastWeight: 3 },
        { address: '10.0.0.3', port: 8080, weight: 2 },
      ],
      4093,
    );
    const count = (i: number) => table.slots.filter((x) => x === i).length;
    expect(s.destinations.map((d) => d.slots)).toEqual([count(2), count(1), count(0)]);
    // The drained destination keeps the share its last weight gave it: 3 of 6.
    expect((s.destinations[1].slots ?? 0) / 4093).toBeCloseTo(0.5, 1);
    const t = s.table!;
    expect(t.size).toBe(4093);
    expect(t.binSlots).toBe(Math.ceil(4093 / MAX_BINS));
    const bins = t.bins.split(';').map((b) => b.split(',').map((pair) => pair.split(':').map(Number) as [number, number]));
    expect(bins).toHaveLength(Math.ceil(4093 / t.binSlots));
    const fromBins = [0, 0, 0];
    for (const bin of bins) for (const [i, c] of bin) fromBins[i] += c;
    expect(fromBins).toEqual(s.destinations.map((d) => d.slots));
    // Bin 0 holds exactly the first binSlots slots of the kernel table.
    const first = new Map<number, number>();
    for (let slot = 0; slot < t.binSlots; slot++) first.set(2 - table.slots[slot], (first.get(2 - table.slots[slot]) ?? 0) + 1);
    expect(new Map(bins[0])).toEqual(first);
  });

  it('non-mh services have no table; a service with no destinations has none either', () => {
    const snap = buildStatus({ services: [{ name: 'a', service: svc('192.0.2.1', 'wrr'), destinations: [dst('10.0.0.1', 1)] }, { name: 'b', service: svc('192.0.2.2'), destinations: [] }], drains: [], health: [] });
    expect(snap.services.map((s) => s.table)).toEqual([undefined, undefined]);
  });

  it('bounded: services beyond MAX_SERVICES are counted, not described', () => {
    const services = Array.from({ length: MAX_SERVICES + 44 }, (_, i) => ({ name: `s${i}`, service: svc(`10.1.${i >> 8}.${i & 255}`, 'rr'), destinations: [] }));
    const snap = buildStatus({ services, drains: [], health: [] });
    expect(snap.services).toHaveLength(MAX_SERVICES);
    expect(snap.moreServices).toBe(44);
  });
});

describe('the status page on the metrics server', () => {
  const snapshot: StatusSnapshot = { generatedAt: '2026-12-01T00:00:00.000Z', services: [], moreServices: 0 };

  it('is off unless asked for', async () => {
    const srv = await startMetricsServer('127.0.0.1:0', new Registry(), () => ({ ready: true }));
    try {
      for (const p of ['/status', '/status.json', '/status/page.js']) expect((await fetch(`http://${srv.address}${p}`)).status).toBe(404);
    } finally {
      await srv.close();
    }
  });

  it('serves the page under a CSP that allows nothing from elsewhere, and one snapshot per second to any number of readers', async () => {
    let calls = 0;
    let fail = false;
    const srv = await startMetricsServer('127.0.0.1:0', new Registry(), () => ({ ready: true }), {
      status: async () => {
        calls++;
        await new Promise((r) => setTimeout(r, 50));
        if (fail) throw new Error('kernel dump failed');
        return snapshot;
      },
    });
    try {
      const html = await fetch(`http://${srv.address}/status`);
      expect(html.headers.get('content-type')).toContain('text/html');
      expect(html.headers.get('content-security-policy')).toContain("default-src 'none'; script-src 'self'");
      expect(html.headers.get('x-content-type-options')).toBe('nosniff');
      const body = await html.text();
      expect(body).toContain('/status/page.js');
      expect(body).not.toMatch(/https?:\/\//);
      for (const p of ['/status/page.js', '/status/page.css']) {
        const r = await fetch(`http://${srv.address}${p}`);
        expect(r.status).toBe(200);
        expect(await r.text()).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
      }
      const answers = await Promise.all(Array.from({ length: 20 }, () => fetch(`http://${srv.address}/status.json`).then((r) => r.json() as Promise<StatusSnapshot>)));
      expect(answers.every((a) => a.generatedAt === snapshot.generatedAt)).toBe(true);
      expect(calls).toBe(1);
      await new Promise((r) => setTimeout(r, 1100));
      fail = true;
      const failed = await fetch(`http://${srv.address}/status.json`);
      expect(failed.status).toBe(500);
      expect(await failed.text()).toContain('kernel dump failed');
      fail = false;
      // A failed read is not cached.
      expect((await fetch(`http://${srv.address}/status.json`)).status).toBe(200);
      expect(calls).toBe(3);
    } finally {
      await srv.close();
    }
  });
});

describe('TableCache', () => {
  it('rebuilds a table only when the mh list changes, and holds only the services of the last snapshot', () => {
    const tables = new TableCache();
    const input = (w: number) => ({ services: [{ name: 'web', service: svc('192.0.2.1'), destinations: [dst('10.0.0.1', w), dst('10.0.0.2', 1)] }], drains: [], health: [], tables });
    const a = buildStatus(input(1)).services[0].table;
    const b = buildStatus(input(1)).services[0].table;
    expect(b).toBe(a);
    const c = buildStatus(input(3)).services[0];
    expect(c.table).not.toBe(a);
    expect((c.destinations[0].slots ?? 0) / 4093).toBeCloseTo(0.75, 1);
    expect(tables.size).toBe(1);
    buildStatus({ services: [], drains: [], health: [], tables });
    expect(tables.size).toBe(0);
  });
});

describe('LastWeights', () => {
  const key = svc('192.0.2.1').key;
  const d = { family: 'inet', address: '10.0.0.1', port: 8080 } as const;
  const cfg = (weight: number) => ({ forwarding: 'masq', weight, upperThreshold: 0, lowerThreshold: 0 }) as const;
  it('keeps the last non-zero weight written, as the kernel does for mh; forgets deleted destinations and services', () => {
    const lw = new LastWeights();
    lw.observe([{ operation: { kind: 'addDestination', service: key, name: 'web', destination: d, config: cfg(3) }, outcome: 'ok' }]);
    lw.observe([{ operation: { kind: 'updateDestination', service: key, name: 'web', destination: d, config: cfg(0) }, outcome: 'ok' }]);
    expect(lw.get('tcp 192.0.2.1:80', '10.0.0.1:8080')).toBe(3);
    lw.observe([{ operation: { kind: 'updateDestination', service: key, name: 'web', destination: d, config: cfg(5) }, outcome: 'failed' }]);
    expect(lw.get('tcp 192.0.2.1:80', '10.0.0.1:8080')).toBe(3);
    const snap = buildStatus({ services: [{ name: 'web', service: svc('192.0.2.1'), destinations: [dst('10.0.0.1', 0), dst('10.0.0.2', 1)] }], drains: [], health: [], lastWeights: lw });
    expect(snap.services[0].destinations.map((x) => x.lastWeight)).toEqual([3, 1]);
    expect((snap.services[0].destinations[0].slots ?? 0) / 4093).toBeCloseTo(0.75, 1);
    lw.observe([{ operation: { kind: 'deleteService', service: key, name: 'web' }, outcome: 'ok' }]);
    expect(lw.size).toBe(0);
  });
});
