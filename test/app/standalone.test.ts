import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { StandaloneLb } from '../../src/app/standalone.ts';
import type { RunOptions } from '../../src/app/standalone.ts';
import { loadConfigFile } from '../../src/sources/file/index.ts';
import { createLogger } from '../../src/log.ts';
import { MemoryStateStore } from '../../src/reconcile/index.ts';
import { MemoryIpvs, MemoryVips } from '../../src/testing/memory-ipvs.ts';

// The standalone load balancer end to end above the kernel: a YAML file, real health checks against
// local HTTP servers, the real reconciler and sync loop, and an in-memory IPVS with the kernel's
// semantics. (The same behaviours against the real kernel: test/kernel/standalone.test.ts.)

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

interface Backend {
  port: number;
  status: number;
  close(): Promise<void>;
}

async function backend(): Promise<Backend> {
  const b: Backend = { port: 0, status: 200, close: async () => {} };
  const server: Server = createServer((_req, res) => res.writeHead(b.status).end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  b.port = (server.address() as AddressInfo).port;
  b.close = () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); });
  cleanups.push(() => b.close());
  return b;
}

function configText(ports: number[], extra = ''): string {
  return [
    'settings: { minSyncInterval: 10ms, resyncInterval: 1h }',
    'services:',
    '  - name: web',
    '    address: 192.0.2.10',
    '    port: 80',
    '    healthCheck: { type: http, path: /, interval: 100ms, timeout: 80ms, rise: 1, fall: 2 }',
    '    destinations:',
    ...ports.map((p) => `      - { address: 127.0.0.1, port: ${p} }`),
    extra,
  ].join('\n');
}

async function waitFor(pred: () => boolean, what: string, ms = 8000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function start(file: string) {
  const ipvs = Object.assign(new MemoryIpvs(), { close() {} });
  const vips = Object.assign(new MemoryVips(), { close() {} });
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({ write(chunk, _enc, cb) { logs.push(JSON.parse(String(chunk))); cb(); } });
  const opts: RunOptions = { config: file, metricsAddress: '127.0.0.1:0', stateDir: '/nonexistent', interface: 'ipvs0', logLevel: 'info', watch: true };
  const lb = new StandaloneLb(opts, await loadConfigFile(file), createLogger({ level: 'info', destination: sink }), {
    openKernel: async () => ({ ipvs, vips }),
    store: new MemoryStateStore(),
  });
  await lb.start();
  cleanups.push(() => lb.stop());
  const weights = (): Record<string, number> => {
    const snap = ipvs.snapshot().get('tcp 192.0.2.10:80');
    return Object.fromEntries((snap?.destinations ?? []).map((d) => [d.key, d.config.weight]));
  };
  return { lb, ipvs, vips, logs, weights };
}

describe('ipvs-maglev run (above the kernel)', () => {
  it('programs the file, takes a failed backend to weight 0 and back, and binds the VIP', async () => {
    const [a, b, c] = [await backend(), await backend(), await backend()];
    const dir = mkdtempSync(join(tmpdir(), 'ipvsm-run-'));
    const file = join(dir, 'lb.yaml');
    writeFileSync(file, configText([a.port, b.port, c.port]));
    const { lb, vips, weights } = await start(file);
    await waitFor(() => lb.isReady(), 'first sync');
    expect(weights()).toEqual({ [`127.0.0.1:${a.port}`]: 1, [`127.0.0.1:${b.port}`]: 1, [`127.0.0.1:${c.port}`]: 1 });
    expect([...vips.addresses]).toEqual(['192.0.2.10']);

    b.status = 503;
    await waitFor(() => weights()[`127.0.0.1:${b.port}`] === 0, 'failed backend at weight 0');
    expect(weights()[`127.0.0.1:${a.port}`]).toBe(1);
    const metrics = await lb.metricsText();
    expect(metrics).toContain(`ipvs_maglev_backend_up{name="web",destination="127.0.0.1:${b.port}"} 0`);
    expect(metrics).toMatch(/ipvs_maglev_operations_total\{kind="updateDestination",result="ok"\} [1-9]/);

    b.status = 200;
    await waitFor(() => weights()[`127.0.0.1:${b.port}`] === 1, 'recovered backend back at weight 1');
  });

  it('hot reload: a valid change is applied, an invalid file is refused and the running state stays', async () => {
    const [a, b, c] = [await backend(), await backend(), await backend()];
    const dir = mkdtempSync(join(tmpdir(), 'ipvsm-run-'));
    const file = join(dir, 'lb.yaml');
    writeFileSync(file, configText([a.port, b.port]));
    const { lb, ipvs, logs, weights } = await start(file);
    await waitFor(() => lb.isReady(), 'first sync');
    expect(Object.keys(weights())).toHaveLength(2);

    // Changed on disk: picked up by the file watcher, no signal needed.
    writeFileSync(file, configText([a.port, b.port, c.port]));
    await waitFor(() => Object.keys(weights()).length === 3, 'third backend added by the watcher');

    ipvs.resetCalls();
    writeFileSync(file, configText([a.port], '      - { address: 127.0.0.1, port: 99999 }'));
    await waitFor(() => logs.some((l) => l.msg === 'new configuration refused; the running one stays in force'), 'refusal logged');
    const refusal = logs.find((l) => l.msg === 'new configuration refused; the running one stays in force') as { problems: string[] };
    expect(refusal.problems).toEqual([`${file}:9:37: services[web].destinations[1].port: 99999 is out of range: must be from 1 to 65535`]);
    await lb.idle();
    expect(ipvs.writes()).toBe(0);
    expect(Object.keys(weights())).toHaveLength(3);
    expect(await lb.metricsText()).toContain('ipvs_maglev_config_reloads_total{result="rejected"} 1');

    // SIGHUP path (reload() directly): removing a backend drains it (weight 0; deleted once idle).
    writeFileSync(file, configText([a.port, b.port]));
    await lb.reload('test');
    await waitFor(() => weights()[`127.0.0.1:${c.port}`] === undefined || weights()[`127.0.0.1:${c.port}`] === 0, 'removed backend drained');
  });

  it('stopping leaves every service and destination in place (no flush)', async () => {
    const [a, b] = [await backend(), await backend()];
    const dir = mkdtempSync(join(tmpdir(), 'ipvsm-run-'));
    const file = join(dir, 'lb.yaml');
    writeFileSync(file, configText([a.port, b.port]));
    const { lb, ipvs, vips, weights } = await start(file);
    await waitFor(() => lb.isReady(), 'first sync');
    const before = weights();
    ipvs.resetCalls();
    await cleanups.pop()!(); // lb.stop()
    expect(ipvs.writes()).toBe(0);
    expect(weights()).toEqual(before);
    expect([...vips.addresses]).toEqual(['192.0.2.10']);
  });
});
