// The standalone load balancer against the real kernel: `ipvs-maglev run` as a separate process,
// real traffic through the topology of test/kernel/lib, the kernel's own view read with ipvsadm.
import { spawn } from 'node:child_process';
import type { ChildProcess, ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { BAD_INPUT } from '../sources/file/bad-input.ts';
import { assertIpvsKernel, clearIpvs, createTopology, ipvsadm, runResult, until } from './lib/index.ts';
import type { Topology } from './lib/index.ts';

const VIP = '10.100.0.20';
const ECHO_PORT = 9000;
const BIN = join(process.cwd(), 'bin/ipvs-maglev.mjs');
const work = mkdtempSync(join(tmpdir(), 'ipvsm-standalone-'));
const stateDir = join(work, 'state');
const configFile = join(work, 'lb.yaml');
const IFACE = 'ipvsm0';
let metricsPort = 19_480;
/** Per-test budget: under TCG on a shared machine one CLI start can take tens of seconds. */
const SLOW = 600_000;

let topo: Topology;
const children: ChildProcess[] = [];

function config(opts: { backends: string[]; echoBackends?: string[]; resync?: string }): string {
  const ip = (n: string) => topo.backend(n).ip;
  return [
    `settings: { drainTimeout: 12s, resyncInterval: ${opts.resync ?? '2s'}, minSyncInterval: 100ms }`,
    'services:',
    '  - name: web',
    `    address: ${VIP}`,
    '    port: 80',
    '    flags: [mh-port, mh-fallback]',
    // Patient timeouts: under TCG a busy guest answers slowly; a dead backend refuses at once anyway.
    '    healthCheck: { type: http, path: /healthz, interval: 1s, timeout: 1s, rise: 1, fall: 3 }',
    '    destinations:',
    ...opts.backends.map((n) => `      - { address: ${ip(n)}, port: 80 }`),
    '  - name: echo',
    `    address: ${VIP}`,
    `    port: ${ECHO_PORT}`,
    '    flags: [mh-fallback]',
    '    destinations:',
    ...(opts.echoBackends ?? opts.backends).map((n) => `      - { address: ${ip(n)}, port: ${ECHO_PORT} }`),
    '',
  ].join('\n');
}

/** The kernel's view: "-A -t 10.100.0.20:80 -s mh -b mh-fallback,mh-port" and "-a ... -w 1" lines, sorted. */
async function kernelRules(): Promise<string[]> {
  return (await ipvsadm(['-Sn'])).split('\n').filter((l) => l.trim() !== '').sort();
}

/** weight per backend address of one service, from `ipvsadm -Ln`. */
async function weights(port: number): Promise<Record<string, number>> {
  const text = await ipvsadm(['-Ln', '-t', `${VIP}:${port}`]).catch(() => '');
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/->\s+(\d+\.\d+\.\d+\.\d+):\d+\s+\S+\s+(\d+)\s+(\d+)\s+(\d+)/g)) out[m[1]] = Number(m[2]);
  return out;
}

interface RunningLb {
  proc: ChildProcess;
  metrics: string;
  log: () => string;
  stop(): Promise<number | null>;
}

async function startLb(): Promise<RunningLb> {
  const metrics = `127.0.0.1:${metricsPort++}`;
  const proc = spawn(process.execPath, [BIN, 'run', '--config', configFile, '--state-dir', stateDir, '--interface', IFACE, '--metrics-address', metrics, '--log-level', 'debug'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(proc);
  let log = '';
  proc.stdout?.on('data', (b: Buffer) => { log += b.toString(); });
  proc.stderr?.on('data', (b: Buffer) => { log += b.toString(); });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  await until('ipvs-maglev run to be ready', async () => {
    if (proc.exitCode !== null) throw new Error(`run exited ${proc.exitCode}: ${log}`);
    return (await fetch(`http://${metrics}/readyz`)).ok;
  }, 300_000);
  return {
    proc,
    metrics,
    log: () => log,
    stop: async () => {
      proc.kill('SIGTERM');
      return exited;
    },
  };
}

/** Connections from distinct client addresses to the web service: which backend answered each. */
async function traffic(n: number, offset = 0): Promise<string[]> {
  const results = await topo.connect(
    Array.from({ length: n }, (_, i) => ({ src: topo.client.src(offset + i), dst: VIP, dport: 80, timeoutMs: 5000 })),
    { concurrency: 8 },
  );
  return results.map((r) => (r.ok ? (r.backend ?? '?') : `error:${r.error}`));
}

const echoServers: ChildProcess[] = [];
/** A TCP echo server on ECHO_PORT in every backend namespace, answering "<backend> <line>". */
async function startEchoServers(): Promise<void> {
  for (const b of topo.backends) {
    const code = `const n=require('net');n.createServer(s=>{s.on('error',()=>{});s.on('data',d=>s.write('${b.name} '+d))}).listen(${ECHO_PORT},'0.0.0.0',()=>console.log('ready'))`;
    const p = spawn('ip', ['netns', 'exec', b.netns, process.execPath, '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
    echoServers.push(p);
    await new Promise<void>((resolve, reject) => {
      p.stdout.once('data', () => resolve());
      p.once('exit', (c) => reject(new Error(`echo server ${b.name} exited ${c}`)));
    });
  }
}

interface LongConnection {
  backend: () => string | undefined;
  echoes: () => number;
  closed: () => string | undefined;
  close(): void;
}

/** One long-lived TCP connection from the client namespace through the VIP, sending a line every 200 ms. */
async function longConnection(src: string): Promise<LongConnection> {
  const code = [
    "const s=require('net').connect({host:process.argv[1],port:+process.argv[2],localAddress:process.argv[3]});",
    "let buf='';s.on('connect',()=>setInterval(()=>s.write('ping\\n'),200));",
    "s.on('data',d=>{buf+=d;let i;while((i=buf.indexOf('\\n'))>=0){console.log('echo '+buf.slice(0,i));buf=buf.slice(i+1)}});",
    "s.on('error',e=>{console.log('closed '+e.code);process.exit(0)});s.on('close',()=>{console.log('closed eof');process.exit(0)});",
    "process.stdin.on('data',()=>{s.end()});",
  ].join('');
  const p: ChildProcessWithoutNullStreams = spawn('ip', ['netns', 'exec', topo.client.netns, process.execPath, '-e', code, VIP, String(ECHO_PORT), src]);
  children.push(p);
  let backend: string | undefined;
  let echoes = 0;
  let closed: string | undefined;
  let buf = '';
  p.stdout.on('data', (b: Buffer) => {
    buf += b.toString();
    let i = buf.indexOf('\n');
    while (i >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      i = buf.indexOf('\n');
      if (line.startsWith('echo ')) {
        echoes++;
        backend = line.split(' ')[1];
      } else if (line.startsWith('closed ')) closed = line.slice(7);
    }
  });
  const c: LongConnection = { backend: () => backend, echoes: () => echoes, closed: () => closed, close: () => p.stdin.write('x') };
  await until('the long-lived connection to answer', async () => echoes > 0 || (closed !== undefined && Promise.reject(new Error(`closed: ${closed}`))), 30_000);
  return c;
}

/** Asserts the connection keeps answering for a while. */
async function stillAlive(c: LongConnection, what: string): Promise<void> {
  const n = c.echoes();
  await until(`${what}: the long-lived connection to keep answering`, async () => {
    if (c.closed()) throw new Error(`connection closed (${c.closed()})`);
    return c.echoes() >= n + 5;
  }, 30_000);
}

beforeAll(async () => {
  assertIpvsKernel();
  await clearIpvs();
  topo = await createTopology({ prefix: 'sa', backends: 4, ports: [80], vips: [] });
  await startEchoServers();
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  for (const p of echoServers) p.kill('SIGKILL');
  await clearIpvs().catch(() => {});
  await runResult(['ip', 'link', 'del', IFACE]);
  await topo?.cleanup();
});

describe('ipvs-maglev run against the real kernel', () => {
  it('bad input: validate, plan and run refuse it with file:line:column, exit 2, and nothing changes in the kernel', async () => {
    // Some state made by hand, which must survive untouched.
    await ipvsadm(['-A', '-t', '10.100.0.99:80', '-s', 'rr']);
    const before = await kernelRules();
    // The whole table in this process (a CLI start costs tens of seconds under TCG), then one real process.
    let stderr = '';
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stderr += String(chunk);
      return true;
    });
    try {
      for (const [i, c] of BAD_INPUT.entries()) {
        const file = join(work, `bad-${i}.yaml`);
        writeFileSync(file, c.yaml);
        for (const args of [['validate'], ['plan', '--state-dir', stateDir, '--interface', IFACE], ['run', '--state-dir', stateDir, '--interface', IFACE, '--metrics-address', '127.0.0.1:19479']]) {
          stderr = '';
          process.exitCode = undefined;
          await main(['node', 'ipvs-maglev', args[0], '--config', file, ...args.slice(1)]);
          expect(process.exitCode, `${c.name}: ${args[0]}: ${stderr}`).toBe(2);
          expect(stderr).toContain(c.line > 0 ? `${file}:${c.line}:${c.column}: ` : `${file}: `);
          expect(stderr).toMatch(c.message);
        }
      }
    } finally {
      spy.mockRestore();
      process.exitCode = undefined;
    }
    const file = join(work, 'bad-proc.yaml');
    writeFileSync(file, BAD_INPUT.find((c) => c.name === 'weight out of range')!.yaml);
    const r = await runResult([process.execPath, BIN, 'run', '--config', file, '--state-dir', stateDir, '--interface', IFACE, '--metrics-address', '127.0.0.1:19479'], { timeoutMs: SLOW });
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toContain(`${file}:6:38: services[web].destinations[0].weight: 70000 is out of range`);
    expect(await kernelRules()).toEqual(before);
    expect((await runResult(['ip', 'link', 'show', IFACE])).exitCode).not.toBe(0); // not even the VIP interface
    await ipvsadm(['-D', '-t', '10.100.0.99:80']);
  }, SLOW);

  it('plan is a dry run: it lists the operations and the kernel stays as it was', async () => {
    writeFileSync(configFile, config({ backends: ['b1', 'b2', 'b3'] }));
    const before = await kernelRules();
    const r = await runResult([process.execPath, BIN, 'plan', '--config', configFile, '--state-dir', stateDir, '--interface', IFACE], { timeoutMs: SLOW });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain(`+ service     web (tcp ${VIP}:80) scheduler mh [mh-port, mh-fallback]`);
    expect(r.stdout).toContain(`+ destination web -> ${topo.backend('b1').ip}:80 (weight 1, masq)`);
    expect(await kernelRules()).toEqual(before);
    expect((await runResult(['ip', 'link', 'show', IFACE])).exitCode).not.toBe(0);
  }, SLOW);

  let lb: RunningLb;
  let long: LongConnection;

  it('traffic through the configured services reaches every backend', async () => {
    lb = await startLb();
    expect(await kernelRules()).toEqual(
      [
        `-A -t ${VIP}:80 -s mh -b mh-fallback,mh-port`,
        `-A -t ${VIP}:${ECHO_PORT} -s mh -b mh-fallback`,
        ...['b1', 'b2', 'b3'].map((n) => `-a -t ${VIP}:80 -r ${topo.backend(n).ip}:80 -m -w 1`),
        ...['b1', 'b2', 'b3'].map((n) => `-a -t ${VIP}:${ECHO_PORT} -r ${topo.backend(n).ip}:${ECHO_PORT} -m -w 1`),
      ].sort(),
    );
    expect((await runResult(['ip', '-o', 'addr', 'show', 'dev', IFACE])).stdout).toContain(`${VIP}/32`);
    const got = await traffic(60);
    expect(got.filter((g) => g.startsWith('error'))).toEqual([]);
    expect(new Set(got)).toEqual(new Set(['b1', 'b2', 'b3']));
    // The kernel folds its per-CPU counters into the totals every 2 s: poll until all 60 show.
    const metrics = await until('the 60 connections in the metrics', async () => {
      const text = await (await fetch(`http://${lb.metrics}/metrics`)).text();
      return /ipvs_maglev_service_connections_total\{service="tcp 10\.100\.0\.20:80",name="web"\} ([6-9]\d|\d{3,})\n/.test(text) ? text : undefined;
    }, 20_000);
    expect(metrics).toContain('ipvs_maglev_services 2');
    expect(metrics).toMatch(/ipvs_maglev_destination_connections_total\{service="tcp 10\.100\.0\.20:80",name="web",destination="10\.210\.0\.11:80"\} [1-9]/);
    expect(metrics).toContain(`ipvs_maglev_backend_up{name="web",destination="10.210.0.11:80"} 1`);
  }, SLOW);

  it('a killed backend is detected (weight 0) and its traffic moves to the others', async () => {
    await topo.backend('b2').stop();
    await until('b2 at weight 0', async () => (await weights(80))[topo.backend('b2').ip] === 0);
    const got = await traffic(60);
    expect(got.filter((g) => g.startsWith('error'))).toEqual([]);
    expect(got).not.toContain('b2');
    await topo.backend('b2').start();
    await until('b2 back at weight 1', async () => (await weights(80))[topo.backend('b2').ip] === 1);
  }, SLOW);

  it('hot reload: a changed file is applied; an invalid one is refused and the kernel keeps the old state', async () => {
    writeFileSync(configFile, config({ backends: ['b1', 'b2', 'b3', 'b4'], echoBackends: ['b1', 'b2', 'b3'] }));
    await until('b4 added', async () => (await weights(80))[topo.backend('b4').ip] === 1);
    const before = await kernelRules();
    const valid = readFileSync(configFile, 'utf8');
    writeFileSync(configFile, valid.replace('port: 80\n', 'port: 80000\n'));
    await until('the refusal to be logged', async () => lb.log().includes('new configuration refused'));
    expect(lb.log()).toContain(`${configFile}:5:11: services[web].port: 80000 is out of range`);
    lb.proc.kill('SIGHUP'); // a reload by signal refuses it the same way
    await new Promise((r) => setTimeout(r, 1500));
    expect(await kernelRules()).toEqual(before);
    expect(lb.proc.exitCode).toBeNull();
    writeFileSync(configFile, valid);
  }, SLOW);

  it('drift repair: a service deleted by hand with ipvsadm -D comes back', async () => {
    const before = await kernelRules();
    await ipvsadm(['-D', '-t', `${VIP}:80`]);
    await until('the periodic resync to restore the service', async () => JSON.stringify(await kernelRules()) === JSON.stringify(before), 30_000);
  }, SLOW);

  it('an established long-lived connection survives a restart of run (no flush at stop or start)', async () => {
    long = await longConnection(topo.client.src(500));
    const backend = long.backend()!;
    const before = await kernelRules();
    expect(await lb.stop()).toBe(0);
    expect(await kernelRules()).toEqual(before);
    await stillAlive(long, 'while ipvs-maglev is stopped');
    lb = await startLb();
    await stillAlive(long, 'after the restart');
    expect(await kernelRules(), lb.log().slice(-4000)).toEqual(before);
    expect(long.backend()).toBe(backend);
    expect(lb.log()).not.toMatch(/"op":"(addService|deleteService|deleteDestination)"/);
  }, SLOW);

  it('...and survives its backend being drained, until the drain ends', async () => {
    const backend = long.backend()!;
    const ip = topo.backend(backend).ip;
    const rest = ['b1', 'b2', 'b3'].filter((n) => n !== backend);
    writeFileSync(configFile, config({ backends: ['b1', 'b2', 'b3', 'b4'], echoBackends: rest }));
    await until(`${backend} drained to weight 0`, async () => (await weights(ECHO_PORT))[ip] === 0);
    const t0 = Date.now();
    await stillAlive(long, 'during the drain');
    expect((await weights(ECHO_PORT))[ip]).toBe(0); // still there: it has a connection
    // New connections go to the others meanwhile (mh-fallback).
    const fresh = await longConnection(topo.client.src(501));
    expect(fresh.backend()).not.toBe(backend);
    fresh.close();
    await until('the drain to end (timeout) and the destination to be deleted', async () => !(ip in (await weights(ECHO_PORT))), 60_000);
    expect(Date.now() - t0).toBeGreaterThan(5_000);
    long.close();
    await lb.stop();
  }, SLOW);

  it('an IPv6 service and an IPv4-mapped destination: validate refuses ::ffff: with the kernel\'s reason, and what it says to write (IPv4, tunnel) is programmed and reads back as written', async () => {
    const b1 = topo.backend('b1').ip;
    const words = b1.split('.').map(Number);
    // Written the way a user might (upper case, hex tail): one canonical form in every layer and every message.
    const asTyped = `::FFFF:${((words[0] << 8) | words[1]).toString(16)}:${((words[2] << 8) | words[3]).toString(16)}`;
    const file = (dest: string) => ['services:', '  - name: web6', '    address: fd00:100::20', '    port: 80', '    destinations:', `      - ${dest}`, ''].join('\n');
    writeFileSync(configFile, file(`{ address: "${asTyped}", port: 80 }`));
    const refused = await runResult([process.execPath, BIN, 'validate', '--config', configFile], { timeoutMs: SLOW });
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toContain(`${configFile}:6:20: services[web6].destinations[0].key.address: ::ffff:${b1} is an IPv4-mapped IPv6 address, which the kernel refuses`);
    expect(refused.stderr).toContain(`write address ${b1} and forwarding tunnel`);

    writeFileSync(configFile, file(`{ address: ${b1}, port: 80, forwarding: tunnel }`));
    const v6 = await startLb();
    try {
      await until('the IPv6 service with its IPv4 tunnel destination in the kernel', async () => (await ipvsadm(['-Ln', '-t', '[fd00:100::20]:80']).catch(() => '')).includes(`-> ${b1}:80`));
      expect(await ipvsadm(['-Ln', '-t', '[fd00:100::20]:80'])).toMatch(new RegExp(`-> ${b1.replaceAll('.', '\\.')}:80\\s+Tunnel`));
      // What the kernel dumps back compares equal to the desired state: nothing left to do.
      const plan = await runResult([process.execPath, BIN, 'plan', '--config', configFile, '--state-dir', stateDir, '--interface', IFACE], { timeoutMs: SLOW });
      expect(plan.exitCode, plan.stderr).toBe(0);
      expect(plan.stdout, v6.log().slice(-4000)).toContain('No changes: the kernel already matches the configuration.');
    } finally {
      expect(await v6.stop()).toBe(0);
    }
  }, SLOW);
});
