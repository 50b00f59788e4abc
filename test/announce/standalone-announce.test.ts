import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { StandaloneLb } from '../../src/app/standalone.ts';
import type { RunOptions } from '../../src/app/standalone.ts';
import { runLoadBalancer } from '../../src/app/standalone.ts';
import { loadConfigFile } from '../../src/sources/file/index.ts';
import { createLogger } from '../../src/log.ts';
import { MemoryStateStore } from '../../src/reconcile/index.ts';
import { MemoryIpvs, MemoryVips } from '../../src/testing/memory-ipvs.ts';

// `run` with a bgp section, above the kernel: the real reconciler and health checks over an in-memory
// IPVS, and the real BIRD (a process on this host, no kernel protocol, its peer on loopback) taking
// the routes. What the VIP announcement promises: announced only once served (programmed, health
// checks run once, a destination available), withdrawn when that stops or the service disappears, and
// withdrawn first on SIGTERM. (Routers, ECMP and real traffic: test/kernel/scale-out.test.ts.)

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function tcpBackend(): Promise<{ port: number; server: Server }> {
  const server = createServer((s) => s.end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return { port: (server.address() as AddressInfo).port, server };
}

function lbYaml(dir: string, ports: number[], extra: { grace?: string; bird?: string } = {}): string {
  return [
    'settings: { minSyncInterval: 10ms, resyncInterval: 1h }',
    'bgp:',
    '  localAsn: 65001',
    '  routerId: 192.0.2.1',
    `  gracePeriod: ${extra.grace ?? '0s'}`,
    '  peers: [{ address: 127.0.0.2, asn: 65000, holdTime: 3s }]',
    `  bird: { config: ${dir}/bird.conf, routes: ${dir}/routes.conf, socket: ${dir}/bird.ctl${extra.bird ?? ''} }`,
    'services:',
    '  - name: web',
    '    address: 192.0.2.10',
    '    port: 80',
    '    healthCheck: { type: tcp, interval: 300ms, timeout: 280ms, rise: 1, fall: 2 }',
    '    destinations:',
    ...ports.map((p) => `      - { address: 127.0.0.1, port: ${p} }`),
    '  - name: api',
    '    address: 192.0.2.20',
    '    port: 443',
    '    destinations: []',
    '',
  ].join('\n');
}

function routes(dir: string): string[] {
  const out = execFileSync('birdc', ['-s', join(dir, 'bird.ctl'), 'show', 'route'], { encoding: 'utf8' });
  return [...out.matchAll(/^(\S+\/\d+)\s+blackhole/gm)].map((m) => m[1]).sort();
}

async function waitFor(pred: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function startLb(dir: string, text: string) {
  const file = join(dir, 'lb.yaml');
  writeFileSync(file, text);
  const ipvs = Object.assign(new MemoryIpvs(), { close() {} });
  const vips = Object.assign(new MemoryVips(), { close() {} });
  const logs: { msg: string }[] = [];
  const sink = new Writable({ write(chunk, _e, cb) { logs.push(JSON.parse(String(chunk))); cb(); } });
  const opts: RunOptions = { config: file, metricsAddress: '127.0.0.1:0', stateDir: '/nonexistent', interface: 'ipvs0', logLevel: 'info', watch: false };
  const lb = new StandaloneLb(opts, await loadConfigFile(file), createLogger({ level: 'info', destination: sink }), {
    openKernel: async () => ({ ipvs, vips }),
    store: new MemoryStateStore(),
    skipSysctls: true,
    announceIntervalMs: 200,
  });
  await lb.start();
  cleanups.push(() => lb.stop());
  let bird: ChildProcess | undefined;
  const startBird = async () => {
    bird = spawn('bird', ['-f', '-c', join(dir, 'bird.conf'), '-s', join(dir, 'bird.ctl')], { stdio: 'ignore' });
    const child = bird;
    cleanups.push(() => void child.kill('SIGKILL'));
    for (let i = 0; i < 100 && !existsSync(join(dir, 'bird.ctl')); i++) await new Promise((r) => setTimeout(r, 50));
  };
  await startBird();
  return { lb, ipvs, logs, bird: () => bird, startBird, file };
}

describe('run with bgp: VIP announcement through BIRD', () => {
  it('announces a VIP once served, withdraws it when no destination is available or its service is missing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lb-bgp-'));
    const a = await tcpBackend();
    const { lb, ipvs, logs } = await startLb(dir, lbYaml(dir, [a.port]));
    await waitFor(() => lb.announced().length === 1, 'web announced');
    expect(lb.announced()).toEqual(['192.0.2.10']); // api has no destination: not announced
    await waitFor(() => routes(dir).length === 1, 'route in BIRD');
    expect(routes(dir)).toEqual(['192.0.2.10/32']);
    await waitFor(() => logs.some((l) => l.msg === 'not announcing 192.0.2.20: api: no available destination'), 'api not announced, with the reason');
    expect(await lb.metricsText()).toMatch(/ipvs_maglev_vip_announced\{vip="192\.0\.2\.10"\} 1/);

    // The backend dies: its health check takes it to weight 0, nothing is available, the VIP goes.
    await new Promise<void>((r) => a.server.close(() => r()));
    await waitFor(() => lb.announced().length === 0, 'web withdrawn after its backend failed');
    await waitFor(() => routes(dir).length === 0, 'route gone from BIRD');
    await waitFor(() => logs.some((l) => /^not announcing 192\.0\.2\.10: web: no available destination/.test(l.msg)), 'the reason logged');

    // Back up: announced again. Then the service vanishes from IPVS behind our back: withdrawn.
    a.server.listen(a.port, '127.0.0.1');
    await waitFor(() => lb.announced().length === 1, 'web announced again');
    await ipvs.deleteService({ kind: 'addr', family: 'inet', protocol: 'tcp', address: '192.0.2.10', port: 80 });
    await waitFor(() => logs.some((l) => /^not announcing 192\.0\.2\.10: web: service missing from IPVS/.test(l.msg)), 'withdrawn for a missing service');
  });

  it('the node stops being ready (IPVS dumps fail): every VIP is withdrawn; it comes back when they work again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lb-bgp-'));
    const a = await tcpBackend();
    const { lb, ipvs, logs } = await startLb(dir, lbYaml(dir, [a.port]));
    await waitFor(() => routes(dir).length === 1, 'announced');
    ipvs.fault = (method) => (method === 'listServices' ? new Error('dump failed (test)') : undefined);
    await lb.reload('test'); // any trigger: the next sync's dump fails, and so does the announcer's
    await waitFor(() => routes(dir).length === 0, 'withdrawn while IPVS cannot be read');
    // The log line follows BIRD's reconfiguration: wait for it rather than race it.
    await waitFor(() => logs.some((l) => l.msg === 'not announcing 192.0.2.10: web: node not ready'), 'the reason logged');
    ipvs.fault = undefined;
    await lb.reload('test');
    await waitFor(() => routes(dir).length === 1, 'announced again');
  });

  it('SIGTERM path: withdraws before the grace period and serves through it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lb-bgp-'));
    const a = await tcpBackend();
    const { lb, logs } = await startLb(dir, lbYaml(dir, [a.port], { grace: '400ms' }));
    await waitFor(() => routes(dir).length === 1, 'announced');
    const t0 = Date.now();
    const done = lb.withdrawAndGrace('SIGTERM');
    await waitFor(() => routes(dir).length === 0, 'withdrawn at once');
    expect(Date.now() - t0).toBeLessThan(400);
    await done;
    expect(Date.now() - t0).toBeGreaterThanOrEqual(400);
    expect(logs.map((l) => l.msg)).toContain('VIPs withdrawn; serving for 400 ms more while routers move the flows away');
  });

  it('a new process does not withdraw what BIRD announces before it has decided (no flap on restart)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lb-bgp-'));
    const a = await tcpBackend();
    const first = await startLb(dir, lbYaml(dir, [a.port]));
    await waitFor(() => routes(dir).length === 1, 'announced');
    await cleanups.splice(1, 1)[0](); // stop the first lb (as SIGUSR2 does), BIRD stays
    const samples: number[] = [];
    const file = first.file;
    const ipvs = Object.assign(new MemoryIpvs(), { close() {} });
    const vips = Object.assign(new MemoryVips(), { close() {} });
    const second = new StandaloneLb(
      { config: file, metricsAddress: '127.0.0.1:0', stateDir: '/nonexistent', interface: 'ipvs0', logLevel: 'silent', watch: false },
      await loadConfigFile(file),
      createLogger({ level: 'silent' }),
      { openKernel: async () => ({ ipvs, vips }), store: new MemoryStateStore(), skipSysctls: true, announceIntervalMs: 200 },
    );
    await second.start();
    cleanups.push(() => second.stop());
    const end = Date.now() + 1500;
    while (Date.now() < end) {
      samples.push(routes(dir).length);
      await new Promise((r) => setTimeout(r, 30));
    }
    expect(new Set(samples)).toEqual(new Set([1]));
    expect(second.announced()).toEqual(['192.0.2.10']);
  });

  it('BIRD missing: `run` refuses to start with a clear error and exit status 2, before touching the kernel', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lb-bgp-'));
    const file = join(dir, 'lb.yaml');
    writeFileSync(file, lbYaml(dir, [9], { bird: ', bird: /nonexistent/bird' }));
    const errors: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((s: string) => errors.push(String(s)) > 0) as typeof process.stderr.write;
    let code: number;
    try {
      code = await runLoadBalancer({ config: file, metricsAddress: '127.0.0.1:0', stateDir: dir, interface: 'ipvs0', logLevel: 'silent', watch: false });
    } finally {
      process.stderr.write = write;
    }
    expect(code).toBe(2);
    expect(errors.join('')).toMatch(/ipvs-maglev: bgp: bird --version: "\/nonexistent\/bird" not found: is BIRD 2 installed\?/);
  });
});

describe('run with bgp: quorum and the sorry server', () => {
  it('quorum lost: the VIP is withdrawn and the sorry server takes over; announced again only past quorum + hysteresis', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lb-bgp-'));
    const backends = [await tcpBackend(), await tcpBackend(), await tcpBackend()];
    const text = lbYaml(
      dir,
      backends.map((b) => b.port),
    ).replace('    destinations:\n', '    quorum: 2\n    hysteresis: 1\n    sorryServer: { address: 127.0.0.9, port: 8080 }\n    destinations:\n');
    const { lb, ipvs, logs } = await startLb(dir, text);
    const web = { kind: 'addr', family: 'inet', protocol: 'tcp', address: '192.0.2.10', port: 80 } as const;
    const weights = async () => Object.fromEntries((await ipvs.listDestinations(web)).map((d) => [`${d.key.address}:${d.key.port}`, d.config.weight]));
    const close = (b: { server: Server }) => new Promise<void>((r) => b.server.close(() => r()));
    await waitFor(() => routes(dir).length === 1, 'web announced');

    // One of three down: weight 2 still meets quorum 2.
    await close(backends[0]);
    await waitFor(() => logs.some((l) => /^backend down/.test(l.msg)), 'first backend down');
    await lb.idle();
    expect(lb.announced()).toEqual(['192.0.2.10']);
    expect((await weights())['127.0.0.9:8080']).toBeUndefined();

    // Two of three down: quorum lost. Withdrawn, the sorry server in, the real ones at weight 0.
    await close(backends[1]);
    await waitFor(() => logs.some((l) => /^quorum lost/.test(l.msg)), 'quorum lost logged');
    await waitFor(() => routes(dir).length === 0, 'withdrawn from BIRD');
    await waitFor(() => logs.some((l) => /^not announcing 192\.0\.2\.10: web: quorum lost \(available weight 1, needs 3 to come back\)/.test(l.msg)), 'the reason');
    await lb.idle();
    const [p0, p1, p2] = backends.map((b) => `127.0.0.1:${b.port}`);
    expect(await weights()).toEqual({ [p0]: 0, [p1]: 0, [p2]: 0, '127.0.0.9:8080': 1 });
    expect(logs.find((l) => /^quorum lost/.test(l.msg))?.msg).toBe('quorum lost: available weight 1 < quorum 2; sorry server 127.0.0.9:8080 takes new connections; VIP not announced');
    const m = await lb.metricsText();
    expect(m).toMatch(/ipvs_maglev_quorum_up\{service="tcp 192\.0\.2\.10:80",name="web"\} 0/);
    expect(m).toMatch(/ipvs_maglev_available_weight\{service="tcp 192\.0\.2\.10:80",name="web"\} 1/);
    expect(m).toMatch(/ipvs_maglev_sorry_server_active\{service="tcp 192\.0\.2\.10:80",name="web"\} 1/);
    expect(m).toMatch(/ipvs_maglev_quorum_changes_total\{name="web",change="lost"\} 1/);
    expect(m).toMatch(/ipvs_maglev_sorry_server_changes_total\{name="web",change="engaged"\} 1/);

    // One comes back: weight 2 = quorum, but not quorum + hysteresis: still withdrawn, still the sorry server.
    backends[0].server.listen(backends[0].port, '127.0.0.1');
    await waitFor(() => logs.filter((l) => /^backend up again/.test(l.msg)).length === 1, 'first backend up');
    await lb.idle();
    expect(routes(dir)).toEqual([]);
    expect((await weights())['127.0.0.9:8080']).toBe(1);

    // The second: weight 3 = quorum + hysteresis. Real weights back, the sorry server drained, announced again.
    backends[1].server.listen(backends[1].port, '127.0.0.1');
    await waitFor(() => logs.some((l) => /^quorum gained/.test(l.msg)), 'quorum gained logged');
    await waitFor(() => routes(dir).length === 1, 'announced again');
    await lb.idle();
    expect(await weights()).toEqual({ [p0]: 1, [p1]: 1, [p2]: 1, '127.0.0.9:8080': 0 });
    expect(logs.find((l) => /^quorum gained/.test(l.msg))?.msg).toBe('quorum gained: available weight 3 >= quorum 2 + hysteresis 1; sorry server 127.0.0.9:8080 drained');
    expect(await lb.metricsText()).toMatch(/ipvs_maglev_sorry_server_changes_total\{name="web",change="disengaged"\} 1/);
  });
});
