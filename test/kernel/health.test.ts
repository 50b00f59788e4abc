// Health checks, quorum and the sorry server against the real kernel: `ipvs-maglev run` as its own
// process in the root namespace (where IPVS lives), backends in network namespaces, real connections
// from the client namespace, the kernel's view read with ipvsadm. The probes here are the production
// ones, run by `run` itself against servers in the backends' namespaces: HTTP over IPv4 and IPv6,
// HTTPS with certificate verification (a Node TLS server, openssl-made CA) and DNS over UDP and TCP
// (dnsmasq). The host-only probe tests are test/health/probes.test.ts.
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess, ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertIpvsKernel, clearIpvs, createTopology, ipvsadm, runResult, until as untilOrTimeout } from './lib/index.ts';
import type { Topology } from './lib/index.ts';

const VIP = '10.100.0.40';
const VIP6 = 'fd00:100::40';
const BIN = join(process.cwd(), 'bin/ipvs-maglev.mjs');
const work = mkdtempSync(join(tmpdir(), 'ipvsm-health-'));
const IFACE = 'hltm0';
const METRICS = '127.0.0.1:19590';
/** Under TCG on a shared machine one CLI start can take tens of seconds. */
const SLOW = 600_000;

let topo: Topology;
const children: ChildProcess[] = [];
let lbLog = '';

function config(): string {
  const b = (n: string) => topo.backend(n);
  // Patient timeouts: under TCG a busy guest answers slowly (a TLS handshake can take over a second);
  // a stopped backend refuses at once anyway.
  const timing = 'interval: 3s, timeout: 3s, rise: 1, fall: 3';
  return [
    'settings: { drainTimeout: 30s, resyncInterval: 5s, minSyncInterval: 100ms }',
    'services:',
    '  - name: web',
    `    address: ${VIP}`,
    '    port: 80',
    '    quorum: 2',
    '    hysteresis: 1',
    `    sorryServer: { address: ${b('b4').ip} }`,
    `    healthCheck: { type: http, path: /healthz, ${timing} }`,
    '    destinations:',
    ...['b1', 'b2', 'b3'].map((n) => `      - { address: ${b(n).ip} }`),
    '  - name: web6',
    `    address: ${VIP6}`,
    '    port: 80',
    `    healthCheck: { type: http, path: /healthz, ${timing} }`,
    `    destinations: [{ address: "${b('b1').ip6}" }]`,
    '  - name: tls',
    `    address: ${VIP}`,
    '    port: 443',
    `    healthCheck: { type: https, path: /healthz, serverName: backend.test, verify: true, caFile: ${work}/ca.pem, ${timing} }`,
    `    destinations: [{ address: ${b('b2').ip} }]`,
    '  - name: dns-udp',
    '    protocol: udp',
    `    address: ${VIP}`,
    '    port: 53',
    '    scheduler: wrr',
    `    healthCheck: { type: dns, query: up.test, expectAnswer: 192.0.2.7, ${timing} }`,
    `    destinations: [{ address: ${b('b3').ip} }]`,
    '  - name: dns-tcp',
    `    address: ${VIP}`,
    '    port: 53',
    '    scheduler: wrr',
    `    healthCheck: { type: dns, transport: tcp, query: up.test, queryType: TXT, expectAnswer: healthy, ${timing} }`,
    `    destinations: [{ address: ${b('b3').ip} }]`,
    '',
  ].join('\n');
}

function until<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 90_000): Promise<T> {
  return untilOrTimeout(what, fn, ms, () => `--- run log (tail) ---\n${lbLog.slice(-3000)}`);
}

/** A long-lived helper process in a backend namespace; resolves once it printed its first line. */
async function inNetns(netns: string, argv: string[], readyWhen: () => Promise<boolean>): Promise<ChildProcessWithoutNullStreams> {
  const p = spawn('ip', ['netns', 'exec', netns, ...argv], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(p);
  let err = '';
  p.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  await until(`${argv[0]} in ${netns}`, async () => {
    if (p.exitCode !== null) throw new Error(`${argv[0]} exited ${p.exitCode}: ${err}`);
    return readyWhen();
  }, 60_000);
  return p;
}

async function metrics(): Promise<string> {
  return (await fetch(`http://${METRICS}/metrics`)).text();
}

/** backend_up of one service's destinations, from the metrics: "10.210.0.12:53" -> 1. */
async function backendUp(name: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const m of (await metrics()).matchAll(/^ipvs_maglev_backend_up\{name="([^"]+)",destination="([^"]+)"\} (\d)$/gm)) if (m[1] === name) out[m[2]] = Number(m[3]);
  return out;
}

/** Weights of b1, b2, b3 and the sorry server b4 in the web service (0 for one not in the kernel). */
async function webWeights(): Promise<number[]> {
  const w = await weights();
  return ['b1', 'b2', 'b3', 'b4'].map((n) => w[topo.backend(n).ip] ?? 0);
}

/** The web service's lost-quorum count in the metrics. */
async function quorumLosses(): Promise<number> {
  return Number(/ipvs_maglev_quorum_changes_total\{name="web",change="lost"\} (\d+)/.exec(await metrics())?.[1] ?? 0);
}

/** Weight per backend address of the web service, from `ipvsadm -Ln`. */
async function weights(): Promise<Record<string, number>> {
  const text = await ipvsadm(['-Ln', '-t', `${VIP}:80`]).catch(() => '');
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/->\s+(\d+\.\d+\.\d+\.\d+):\d+\s+\S+\s+(\d+)\s+(\d+)\s+(\d+)/g)) out[m[1]] = Number(m[2]);
  return out;
}

let clientOffset = 0;
/** New connections from fresh client addresses to the web VIP: which backend answered each. */
async function traffic(n: number): Promise<string[]> {
  const first = clientOffset;
  clientOffset += n;
  const results = await topo.connect(
    Array.from({ length: n }, (_, i) => ({ src: topo.client.src(first + i), dst: VIP, dport: 80, timeoutMs: 5000 })),
    { concurrency: 8 },
  );
  return results.map((r) => (r.ok ? (r.backend ?? '?') : `error:${r.error}`));
}

function count(xs: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}

let tlsServer: ChildProcess | undefined;
let dnsServer: ChildProcess | undefined;
const running = (p: ChildProcess | undefined): boolean => p !== undefined && p.exitCode === null && p.signalCode === null;

/** The TLS server in b2 and dnsmasq in b3, unless they run (a retried test starts them again). */
async function startServers(): Promise<void> {
  const ip = (n: string) => topo.backend(n).ip;
  if (!running(tlsServer)) {
    const tls = `const fs=require('fs');require('https').createServer({key:fs.readFileSync('${work}/leaf.key'),cert:fs.readFileSync('${work}/leaf.pem')},(q,s)=>s.writeHead(q.url==='/healthz'?200:404).end('tls')).listen(443,'${ip('b2')}')`;
    tlsServer = await inNetns(topo.backend('b2').netns, [process.execPath, '-e', tls], async () => (await runResult(['ip', 'netns', 'exec', topo.backend('b2').netns, 'ss', '-Htln', 'sport', '=', ':443'])).stdout.includes('443'));
  }
  if (!running(dnsServer)) {
    // Authoritative for "test" with no upstream, on UDP and TCP port 53 of b3's address.
    const dns = ['dnsmasq', '--no-daemon', '--no-resolv', '--no-hosts', '--pid-file=', '--port=53', `--listen-address=${ip('b3')}`, '--bind-interfaces', '--host-record=up.test,192.0.2.7', '--txt-record=up.test,healthy', '--local=/test/'];
    dnsServer = await inNetns(topo.backend('b3').netns, dns, async () => (await runResult(['ip', 'netns', 'exec', topo.backend('b3').netns, 'ss', '-Htuln', 'sport', '=', ':53'])).stdout.split('\n').filter((l) => l.includes(':53')).length >= 2);
  }
}

/** The log lines of backends going down and up, to explain a failed assertion. */
function healthLog(): string {
  return lbLog.split('\n').filter((l) => /backend (down|up)|quorum/.test(l)).slice(-20).join('\n');
}

beforeAll(async () => {
  assertIpvsKernel();
  await clearIpvs();
  topo = await createTopology({ prefix: 'hlt', backends: 4, ports: [80], vips: [] });

  // HTTPS in b2: a leaf for backend.test signed by a CA of our own, so verification can pass.
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: work, stdio: 'pipe' });
  ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=test CA');
  ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=backend.test');
  writeFileSync(join(work, 'ext'), 'subjectAltName=DNS:backend.test\n');
  ssl('x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'leaf.pem', '-days', '2', '-extfile', 'ext');
  await startServers();

  writeFileSync(join(work, 'lb.yaml'), config());
  const proc = spawn(process.execPath, [BIN, 'run', '--config', join(work, 'lb.yaml'), '--state-dir', join(work, 'state'), '--interface', IFACE, '--metrics-address', METRICS, '--log-level', 'info'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(proc);
  proc.stdout?.on('data', (b: Buffer) => {
    lbLog += b.toString();
  });
  proc.stderr?.on('data', (b: Buffer) => {
    lbLog += b.toString();
  });
  await until('ipvs-maglev run to be ready', async () => {
    if (proc.exitCode !== null) throw new Error(`run exited ${proc.exitCode}: ${lbLog}`);
    return (await fetch(`http://${METRICS}/readyz`)).ok;
  }, 300_000);
}, SLOW);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await clearIpvs().catch(() => {});
  await runResult(['ip', 'link', 'del', IFACE]);
  await topo?.cleanup();
});

describe('health checks against servers in network namespaces', () => {
  it('https (verified against our CA, SNI backend.test), dns over UDP and TCP (dnsmasq) and http over IPv6 pass; a stopped dnsmasq fails both dns checks', async () => {
    const b2 = `${topo.backend('b2').ip}:443`;
    const b3 = `${topo.backend('b3').ip}:53`;
    const b1v6 = `[${topo.backend('b1').ip6}]:80`;
    await startServers();
    const allUp = async () => {
      const all = { ...(await backendUp('tls')), ...(await backendUp('dns-udp')), ...(await backendUp('web6')), ...(await backendUp('dns-tcp')) };
      return Object.keys(all).length === 3 && Object.values(all).every((v) => v === 1);
    };
    await until('every check up', allUp);
    // Targets start up: after 10 s (fall 3 x interval 3 s) a failing probe would have shown. That each one
    // really probes is shown by taking its server away below.
    const since = lbLog.length;
    await new Promise((r) => setTimeout(r, 10_000));
    expect(await backendUp('tls'), healthLog()).toEqual({ [b2]: 1 });
    expect(await backendUp('dns-udp'), healthLog()).toEqual({ [b3]: 1 });
    expect(await backendUp('dns-tcp'), healthLog()).toEqual({ [b3]: 1 });
    expect(await backendUp('web6'), healthLog()).toEqual({ [b1v6]: 1 });
    expect(lbLog.slice(since)).not.toMatch(/backend down/);

    // dnsmasq goes: both DNS checks fail (UDP: ICMP unreachable or no answer; TCP: refused).
    dnsServer?.kill('SIGKILL');
    await until('dns backends down', async () => {
      const [u, t] = [await backendUp('dns-udp'), await backendUp('dns-tcp')];
      return u[b3] === 0 && t[b3] === 0;
    });
    expect(lbLog).toMatch(/"service":"dns-udp".*backend down|backend down.*"service":"dns-udp"/);
    expect(await backendUp('tls')).toEqual({ [b2]: 1 });
    // The TLS server goes: the https check fails. (The IPv6 probe fails when b1 stops, below.)
    tlsServer?.kill('SIGKILL');
    await until('tls backend down', async () => (await backendUp('tls'))[b2] === 0);
  }, SLOW);
});

describe('quorum and the sorry server with real traffic', () => {
  it('quorum lost: the sorry server answers new connections; real backends again only past quorum + hysteresis', async () => {
    const [b1, b2, b3, b4] = ['b1', 'b2', 'b3', 'b4'].map((n) => topo.backend(n));
    for (const b of [b1, b2, b3]) await b.start(); // a retried test finds them as the last attempt left them
    // b4 may still be there at weight 0 (a sorry server drained by an earlier attempt, or after a start-up flap).
    await until('every web backend at weight 1', async () => (await webWeights()).join() === '1,1,1,0');
    const lossesBefore = await quorumLosses();
    const healthy = await traffic(30);
    expect(healthy.filter((g) => g.startsWith('error'))).toEqual([]);
    expect(new Set(healthy)).toEqual(new Set(['b1', 'b2', 'b3']));

    // One of three stopped: available weight 2 = quorum 2, so the service stays up without the sorry server.
    await b1.stop();
    await until('b1 at weight 0', async () => (await weights())[b1.ip] === 0);
    await until('the IPv6 probe sees b1 go too', async () => (await backendUp('web6'))[`[${b1.ip6}]:80`] === 0);
    await new Promise((r) => setTimeout(r, 4000));
    expect(await webWeights(), healthLog()).toEqual([0, 1, 1, 0]);

    // Two stopped: quorum lost. The sorry server is added, the real ones wait at weight 0.
    await b2.stop();
    await until('the sorry server in', async () => (await weights())[b4.ip] === 1);
    expect(await webWeights(), healthLog()).toEqual([0, 0, 0, 1]);
    const sorry = await traffic(30);
    // b3 is alive but at weight 0: every new connection goes to the sorry server (mh-fallback).
    expect(count(sorry), healthLog()).toEqual({ b4: 30 });
    expect(lbLog).toContain(`quorum lost: available weight 1 < quorum 2; sorry server ${b4.ip}:80 takes new connections`);
    const m = await metrics();
    expect(m).toMatch(/ipvs_maglev_quorum_up\{service="tcp 10\.100\.0\.40:80",name="web"\} 0/);
    expect(m).toMatch(/ipvs_maglev_sorry_server_active\{service="tcp 10\.100\.0\.40:80",name="web"\} 1/);

    // b1 back: available weight 2 meets the quorum but not quorum + hysteresis (3): still the sorry server.
    await b1.start();
    await until('b1 up again', async () => (await backendUp('web'))[`${b1.ip}:80`] === 1);
    await new Promise((r) => setTimeout(r, 4000));
    expect(await webWeights(), healthLog()).toEqual([0, 0, 0, 1]);
    expect(count(await traffic(20))).toEqual({ b4: 20 });

    // b2 back: weight 3 = quorum + hysteresis. Real weights return, the sorry server drains (weight 0).
    await b2.start();
    await until('quorum back', async () => (await webWeights()).join() === '1,1,1,0');
    expect(await webWeights(), healthLog()).toEqual([1, 1, 1, 0]);
    const back = await traffic(30);
    expect(back.filter((g) => g.startsWith('error'))).toEqual([]);
    expect(back, healthLog()).not.toContain('b4');
    expect(new Set(back)).toEqual(new Set(['b1', 'b2', 'b3']));
    expect(lbLog).toContain(`quorum gained: available weight 3 >= quorum 2 + hysteresis 1; sorry server ${b4.ip}:80 drained`);
    expect(await quorumLosses()).toBe(lossesBefore + 1);
  }, SLOW);
});
