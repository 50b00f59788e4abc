import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HealthMonitor, applyHealth, probeHttp, probeTcp } from '../../src/health/index.ts';
import type { HealthChange, HealthTarget } from '../../src/health/index.ts';
import { parseConfig } from '../../src/sources/file/index.ts';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (closers.length) await closers.pop()!();
});

function listen(server: Server | ReturnType<typeof createTcpServer>): Promise<number> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
    closers.push(() => new Promise((r) => server.close(() => r())));
  });
}

/** An HTTP server whose status (or silence) the test controls. */
async function httpBackend(): Promise<{ port: number; set(status: number | 'hang'): void; hits: () => number; paths: string[] }> {
  let mode: number | 'hang' = 200;
  let hits = 0;
  const paths: string[] = [];
  const server = createServer((req, res) => {
    hits++;
    paths.push(req.url ?? '');
    if (mode === 'hang') return; // never answers: the probe must time out
    res.writeHead(mode).end('x');
  });
  const port = await listen(server);
  closers.push(async () => server.closeAllConnections());
  return { port, set: (m) => { mode = m; }, hits: () => hits, paths };
}

/** A port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const s = createTcpServer();
  const port = await listen(s);
  await closers.pop()!();
  return port;
}

function target(port: number, over: Partial<HealthTarget['check']> = {}): HealthTarget {
  return {
    id: `tcp 192.0.2.1:80 -> 127.0.0.1:${port}`,
    serviceName: 'web',
    service: { kind: 'addr', family: 'inet', protocol: 'tcp', address: '192.0.2.1', port: 80 },
    destination: { family: 'inet', address: '127.0.0.1', port },
    address: '127.0.0.1',
    port,
    check: { type: 'http', path: '/healthz', expectStatus: 200, intervalMs: 100, timeoutMs: 80, rise: 2, fall: 2, onFailure: 'weight0', ...over },
  };
}

async function waitFor(pred: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('probes against local servers', () => {
  it('TCP: ok on a listening port, refused on a closed one', async () => {
    const s = createTcpServer((c) => c.end());
    const port = await listen(s);
    expect(await probeTcp('127.0.0.1', port, 500)).toEqual({ ok: true });
    const r = await probeTcp('127.0.0.1', await closedPort(), 500);
    expect(r).toEqual({ ok: false, reason: 'TCP connect failed: ECONNREFUSED' });
  });

  it('HTTP: expected status passes, another status fails with the status in the reason', async () => {
    const b = await httpBackend();
    expect(await probeHttp('127.0.0.1', b.port, { path: '/healthz', expectStatus: 200 }, 500)).toEqual({ ok: true });
    expect(b.paths).toEqual(['/healthz']);
    b.set(503);
    expect(await probeHttp('127.0.0.1', b.port, { path: '/healthz', expectStatus: 200 }, 500)).toEqual({ ok: false, reason: 'HTTP 503, expected 200' });
    expect(await probeHttp('127.0.0.1', b.port, { path: '/', expectStatus: 503 }, 500)).toEqual({ ok: true });
  });

  it('HTTP: a server that never answers fails within the timeout', async () => {
    const b = await httpBackend();
    b.set('hang');
    const t0 = Date.now();
    const r = await probeHttp('127.0.0.1', b.port, { path: '/', expectStatus: 200 }, 150);
    expect(r).toEqual({ ok: false, reason: 'no HTTP answer within 150 ms' });
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});

describe('HealthMonitor', () => {
  it('goes down after `fall` failures and up after `rise` successes, reporting each change once', async () => {
    const b = await httpBackend();
    const changes: HealthChange[] = [];
    const m = new HealthMonitor({ onChange: (c) => changes.push(c), jitter: 0 });
    closers.push(async () => m.stop());
    const t = target(b.port);
    m.setTargets([t]);
    await waitFor(() => b.hits() >= 3);
    expect(changes).toEqual([]); // starts up, stays up
    expect(m.isDown(t.id)).toBe(false);

    b.set(500);
    await waitFor(() => changes.length === 1);
    expect(changes[0]).toMatchObject({ state: 'down', reason: 'HTTP 500, expected 200', target: { id: t.id } });
    expect(m.isDown(t.id)).toBe(true);

    b.set(200);
    await waitFor(() => changes.length === 2);
    expect(changes[1]).toMatchObject({ state: 'up', reason: 'recovered' });
    expect(m.isDown(t.id)).toBe(false);
  });

  it('a hanging backend is detected while a healthy one keeps being probed on time (probes never block each other)', async () => {
    const slow = await httpBackend();
    const fast = await httpBackend();
    slow.set('hang');
    const changes: HealthChange[] = [];
    const m = new HealthMonitor({ onChange: (c) => changes.push(c), jitter: 0 });
    closers.push(async () => m.stop());
    m.setTargets([target(slow.port, { timeoutMs: 90 }), target(fast.port)]);
    await waitFor(() => changes.length === 1);
    expect(changes[0].target.port).toBe(slow.port);
    expect(fast.hits()).toBeGreaterThanOrEqual(2);
  });

  it('keeps state across setTargets for unchanged targets, restarts changed ones, stops removed ones', async () => {
    let calls = 0;
    const m = new HealthMonitor({ onChange: () => {}, prober: async () => { calls++; return { ok: false, reason: 'x' }; }, jitter: 0 });
    closers.push(async () => m.stop());
    const a = target(1001, { intervalMs: 20, fall: 1 });
    m.setTargets([a]);
    await waitFor(() => m.isDown(a.id));
    m.setTargets([{ ...a }]);
    expect(m.isDown(a.id)).toBe(true);
    m.setTargets([{ ...a, check: { ...a.check, path: '/other' } }]);
    expect(m.isDown(a.id)).toBe(false); // a changed check starts afresh (up)
    m.setTargets([]);
    expect(m.status()).toEqual([]);
    const before = calls;
    await new Promise((r) => setTimeout(r, 80));
    expect(calls).toBe(before);
  });
});

describe('applyHealth', () => {
  const config = parseConfig(
    [
      'services:',
      '  - name: web',
      '    address: 192.0.2.1',
      '    port: 80',
      '    healthCheck: { type: tcp }',
      '    destinations:',
      '      - { address: 10.0.0.1, weight: 5 }',
      '      - { address: 10.0.0.2, weight: 5, healthCheck: { type: tcp, onFailure: remove } }',
      '      - { address: 10.0.0.3, weight: 5 }',
      '',
    ].join('\n'),
  );

  it('leaves the desired state untouched while everything is up', () => {
    expect(applyHealth(config.desired, config.health, () => false)).toBe(config.desired);
  });

  it('down + weight0 -> weight 0; down + remove -> left out; others unchanged', () => {
    const down = new Set(['tcp 192.0.2.1:80 -> 10.0.0.1:80', 'tcp 192.0.2.1:80 -> 10.0.0.2:80']);
    const out = applyHealth(config.desired, config.health, (id) => down.has(id));
    expect(out.services[0].destinations.map((d) => [d.key.address, d.config.weight])).toEqual([
      ['10.0.0.1', 0],
      ['10.0.0.3', 5],
    ]);
    expect(config.desired.services[0].destinations[0].config.weight).toBe(5); // input not mutated
  });

  it('keeps the objects of services without a down backend (identity is what incremental syncs go by)', () => {
    const two = parseConfig(
      [
        'services:',
        '  - name: a',
        '    address: 192.0.2.1',
        '    port: 80',
        '    healthCheck: { type: tcp }',
        '    destinations: [{ address: 10.0.0.1 }, { address: 10.0.0.2 }]',
        '  - name: b',
        '    address: 192.0.2.2',
        '    port: 80',
        '    healthCheck: { type: tcp }',
        '    destinations: [{ address: 10.0.0.1 }, { address: 10.0.0.2 }]',
        '',
      ].join('\n'),
    );
    const [a, b] = two.desired.services;
    const out = applyHealth(two.desired, two.health, (id) => id === 'tcp 192.0.2.1:80 -> 10.0.0.1:80');
    expect(out).not.toBe(two.desired);
    expect(out.services[0]).not.toBe(a);
    expect(out.services[0].destinations.map((d) => d.config.weight)).toEqual([0, 1]);
    expect(out.services[0].destinations[1]).toBe(a.destinations[1]);
    expect(out.services[1]).toBe(b);
    // A down target of a service the state no longer has changes nothing at all.
    const stale: HealthTarget = { ...two.health[0], id: 'tcp 192.0.2.9:80 -> 10.0.0.1:80', service: { ...a.key, address: '192.0.2.9' } as HealthTarget['service'] };
    expect(applyHealth(two.desired, [stale], () => true)).toBe(two.desired);
  });
});
