import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import { createServer as createTcpServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultProber, probeDns, probeExec, probeHttp, probeUdp } from '../../src/health/index.ts';
import type { DnsCheck, HealthTarget } from '../../src/health/index.ts';
import { parseConfig } from '../../src/sources/file/index.ts';

// The new checks against real servers: Node's TLS server with a certificate made by openssl, dnsmasq
// (Debian's) answering over UDP and TCP, a UDP echo socket, and programs run by exec.

const dir = mkdtempSync(join(tmpdir(), 'health-probes-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createTcpServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

describe('https', () => {
  let server: Server;
  let port: number;
  const seenSni: (string | undefined)[] = [];
  let status = 200;
  beforeAll(async () => {
    // A CA and a leaf for backend.test signed by it: verification can succeed (with the CA) and fail (without).
    const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=test CA');
    ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=backend.test');
    writeFileSync(join(dir, 'ext'), 'subjectAltName=DNS:backend.test\n');
    ssl('x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'leaf.pem', '-days', '2', '-extfile', 'ext');
    server = createServer({ key: readFileSync(join(dir, 'leaf.key')), cert: readFileSync(join(dir, 'leaf.pem')) }, (req, res) => {
      res.writeHead(req.url === '/healthz' ? status : 404).end('x');
    });
    server.on('secureConnection', (s) => seenSni.push((s as { servername?: string | false }).servername || undefined));
    port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
    return () => new Promise<void>((r) => server.close(() => r()));
  });

  it('without verification: a self-signed backend is up; the expected status decides', async () => {
    expect(await probeHttp('127.0.0.1', port, { path: '/healthz', expectStatus: 200, tls: { verify: false } }, 2000)).toEqual({ ok: true });
    expect(await probeHttp('127.0.0.1', port, { path: '/other', expectStatus: 200, tls: { verify: false } }, 2000)).toEqual({ ok: false, reason: 'HTTPS 404, expected 200' });
    status = 503;
    expect(await probeHttp('127.0.0.1', port, { path: '/healthz', expectStatus: 503, tls: { verify: false } }, 2000)).toEqual({ ok: true });
    status = 200;
  });

  it('sends SNI: the serverName, else the name of the Host header, never an address', async () => {
    seenSni.length = 0;
    await probeHttp('127.0.0.1', port, { path: '/healthz', expectStatus: 200, tls: { verify: false, serverName: 'backend.test' } }, 2000);
    await probeHttp('127.0.0.1', port, { path: '/healthz', expectStatus: 200, host: 'www.example.org:8443', tls: { verify: false } }, 2000);
    await probeHttp('127.0.0.1', port, { path: '/healthz', expectStatus: 200, tls: { verify: false } }, 2000);
    expect(seenSni).toEqual(['backend.test', 'www.example.org', undefined]);
  });

  it('with verification: passes with the CA and the right name, fails on an unknown CA or another name', async () => {
    const caFile = join(dir, 'ca.pem');
    expect(await probeHttp('127.0.0.1', port, { path: '/healthz', expectStatus: 200, tls: { verify: true, serverName: 'backend.test', caFile } }, 2000)).toEqual({ ok: true });
    const unknownCa = await probeHttp('127.0.0.1', port, { path: '/healthz', expectStatus: 200, tls: { verify: true, serverName: 'backend.test' } }, 2000);
    expect(unknownCa).toEqual({ ok: false, reason: 'HTTPS request failed: UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
    const wrongName = await probeHttp('127.0.0.1', port, { path: '/healthz', expectStatus: 200, tls: { verify: true, serverName: 'other.test', caFile } }, 2000);
    expect(wrongName).toEqual({ ok: false, reason: 'HTTPS request failed: ERR_TLS_CERT_ALTNAME_INVALID' });
    const missing = await probeHttp('127.0.0.1', port, { path: '/healthz', expectStatus: 200, tls: { verify: true, caFile: join(dir, 'nope.pem') } }, 2000);
    expect(missing.ok).toBe(false);
    expect(!missing.ok && missing.reason).toMatch(/^cannot read the CA file/);
  });

  it('a TCP server that never starts the handshake fails within the timeout', async () => {
    const held: import('node:net').Socket[] = [];
    const silent = createTcpServer((sock) => held.push(sock));
    const p = await new Promise<number>((resolve) => silent.listen(0, '127.0.0.1', () => resolve((silent.address() as AddressInfo).port)));
    const started = Date.now();
    expect(await probeHttp('127.0.0.1', p, { path: '/', expectStatus: 200, tls: { verify: false } }, 300)).toEqual({ ok: false, reason: 'no HTTPS answer within 300 ms' });
    expect(Date.now() - started).toBeLessThan(2000);
    for (const sock of held) sock.destroy();
    await new Promise<void>((r) => silent.close(() => r()));
  });
});

describe('dns against dnsmasq', () => {
  let dnsmasq: ChildProcess;
  let port: number;
  const base: DnsCheck = { query: 'up.test', queryType: 'A', transport: 'udp', expectRcode: 'NOERROR' };
  beforeAll(async () => {
    port = await freePort();
    // Authoritative for "test" with no upstream: up.test has records, any other name under test is NXDOMAIN.
    dnsmasq = spawn('dnsmasq', [
      '--no-daemon', '--no-resolv', '--no-hosts', '--pid-file=', `--port=${port}`, '--listen-address=127.0.0.1', '--bind-interfaces',
      '--host-record=up.test,192.0.2.7,2001:db8::7', '--txt-record=up.test,healthy', '--local=/test/',
    ], { stdio: 'ignore' });
    const end = Date.now() + 10_000;
    while (!(await probeDns('127.0.0.1', port, base, 200)).ok) {
      if (Date.now() > end) throw new Error('dnsmasq did not answer within 10 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    return () => {
      dnsmasq.kill();
    };
  });

  it('UDP and TCP: expected rcode and answer pass', async () => {
    for (const transport of ['udp', 'tcp'] as const) {
      expect(await probeDns('127.0.0.1', port, { ...base, transport, expectAnswer: '192.0.2.7' }, 2000)).toEqual({ ok: true });
      expect(await probeDns('127.0.0.1', port, { ...base, transport, queryType: 'AAAA', expectAnswer: '2001:db8::7' }, 2000)).toEqual({ ok: true });
      expect(await probeDns('127.0.0.1', port, { ...base, transport, queryType: 'TXT', expectAnswer: 'healthy' }, 2000)).toEqual({ ok: true });
      expect(await probeDns('127.0.0.1', port, { ...base, transport, query: 'gone.test', expectRcode: 'NXDOMAIN' }, 2000)).toEqual({ ok: true });
    }
  });

  it('another rcode or a missing answer fails, naming what came', async () => {
    expect(await probeDns('127.0.0.1', port, { ...base, query: 'gone.test' }, 2000)).toEqual({ ok: false, reason: 'DNS NXDOMAIN, expected NOERROR' });
    expect(await probeDns('127.0.0.1', port, { ...base, transport: 'tcp', expectAnswer: '192.0.2.8' }, 2000)).toEqual({ ok: false, reason: 'DNS answer 192.0.2.7, expected 192.0.2.8' });
  });

  it('no server: UDP sees the ICMP unreachable, TCP the refusal; a silent UDP server times out', async () => {
    const closed = await freePort();
    expect(await probeDns('127.0.0.1', closed, base, 1000)).toEqual({ ok: false, reason: 'DNS over UDP failed: ECONNREFUSED' });
    expect(await probeDns('127.0.0.1', closed, { ...base, transport: 'tcp' }, 1000)).toEqual({ ok: false, reason: 'DNS over TCP failed: ECONNREFUSED' });
    const silent = createSocket('udp4');
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()));
    expect(await probeDns('127.0.0.1', silent.address().port, base, 200)).toEqual({ ok: false, reason: 'no DNS answer over UDP within 200 ms' });
    silent.close();
  });
});

describe('udp', () => {
  let echo: Socket;
  let silent: Socket;
  beforeAll(async () => {
    echo = createSocket('udp4');
    echo.on('message', (msg, from) => echo.send(Buffer.concat([Buffer.from('echo '), msg]), from.port, from.address));
    silent = createSocket('udp4');
    await Promise.all([echo, silent].map((s) => new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()))));
    return () => {
      echo.close();
      silent.close();
    };
  });

  it('expect reply: an echo passes (and must contain expectReply), silence fails, a closed port reports the ICMP unreachable', async () => {
    const e = echo.address().port;
    expect(await probeUdp('127.0.0.1', e, { send: 'ping', expect: 'reply' }, 1000)).toEqual({ ok: true });
    expect(await probeUdp('127.0.0.1', e, { send: 'ping', expect: 'reply', expectReply: 'echo ping' }, 1000)).toEqual({ ok: true });
    expect(await probeUdp('127.0.0.1', e, { send: 'ping', expect: 'reply', expectReply: 'pong' }, 1000)).toEqual({ ok: false, reason: 'UDP reply does not contain "pong"' });
    expect(await probeUdp('127.0.0.1', silent.address().port, { send: 'ping', expect: 'reply' }, 200)).toEqual({ ok: false, reason: 'no UDP reply within 200 ms' });
    expect(await probeUdp('127.0.0.1', await freePort(), { send: 'ping', expect: 'reply' }, 1000)).toEqual({ ok: false, reason: 'ICMP port unreachable' });
  });

  it('expect no-unreachable: a silent open port passes after the timeout, a closed port fails', async () => {
    expect(await probeUdp('127.0.0.1', silent.address().port, { send: 'x', expect: 'no-unreachable' }, 200)).toEqual({ ok: true });
    expect(await probeUdp('127.0.0.1', await freePort(), { send: 'x', expect: 'no-unreachable' }, 1000)).toEqual({ ok: false, reason: 'ICMP port unreachable' });
  });
});

describe('exec', () => {
  const script = (name: string, body: string): string => {
    const p = join(dir, name);
    writeFileSync(p, `#!/bin/sh\n${body}\n`);
    chmodSync(p, 0o755);
    return p;
  };
  const target = { address: '10.1.2.3', port: 8080, serviceName: 'web' };

  it('exit 0 is up; another status is down with the last line of stderr; the backend is in the environment', async () => {
    const check = script('check.sh', '[ "$IPVS_MAGLEV_BACKEND_ADDRESS:$IPVS_MAGLEV_BACKEND_PORT" = "10.1.2.3:8080" ] || { echo "wrong backend" >&2; exit 4; }\n[ "$1" = up ] && exit 0\necho first >&2\necho "not ready" >&2\nexit 3');
    expect(await probeExec(target, { command: [check, 'up'] }, 2000)).toEqual({ ok: true });
    expect(await probeExec(target, { command: [check, 'down'] }, 2000)).toEqual({ ok: false, reason: `${check} exited 3: not ready` });
    expect(await probeExec({ ...target, port: 9 }, { command: [check, 'up'] }, 2000)).toEqual({ ok: false, reason: `${check} exited 4: wrong backend` });
  });

  it('arguments are never shell syntax', async () => {
    const marker = join(dir, 'injected');
    expect(await probeExec(target, { command: ['/bin/echo', `$(touch ${marker})`, `; touch ${marker}`] }, 2000)).toEqual({ ok: true });
    expect(existsSync(marker)).toBe(false);
  });

  it('a program that hangs is killed at the timeout, with what it started', async () => {
    const pidFile = join(dir, 'child.pid');
    const hang = script('hang.sh', `sleep 30 &\necho $! > ${pidFile}\nwait`);
    const started = Date.now();
    expect(await probeExec(target, { command: [hang] }, 300)).toEqual({ ok: false, reason: `${hang} did not finish within 300 ms (killed)` });
    expect(Date.now() - started).toBeLessThan(2000);
    const child = Number(readFileSync(pidFile, 'utf8'));
    await new Promise((r) => setTimeout(r, 100));
    // Gone or a zombie (in a container nothing may reap it): either way no longer running.
    const state = existsSync(`/proc/${child}/stat`) ? readFileSync(`/proc/${child}/stat`, 'utf8').split(') ')[1]?.[0] : 'gone';
    expect(['gone', 'Z']).toContain(state);
  });

  it('a missing program is a failure, not a crash', async () => {
    expect(await probeExec(target, { command: [join(dir, 'missing')] }, 1000)).toEqual({ ok: false, reason: `cannot run ${join(dir, 'missing')}: ENOENT` });
  });
});

describe('configuration of the new checks', () => {
  const yaml = (check: string) => `services:
  - name: svc
    protocol: udp
    address: 192.0.2.1
    port: 53
    healthCheck:
${check.split('\n').map((l) => `      ${l}`).join('\n')}
    destinations:
      - address: 10.0.0.1
`;
  const checkOf = (text: string): HealthTarget['check'] => parseConfig(yaml(text), '/etc/lb/lb.yaml').health[0].check;
  const problems = (text: string): string[] => {
    try {
      parseConfig(yaml(text), 'lb.yaml');
    } catch (err) {
      return (err as { issues: { line: number; column: number; path: string; message: string }[] }).issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`);
    }
    return [];
  };

  it('reads each type with its defaults', () => {
    expect(checkOf('type: dns\nquery: health.example.org.').dns).toEqual({ query: 'health.example.org', queryType: 'A', transport: 'udp', expectRcode: 'NOERROR' });
    expect(checkOf('type: dns\nquery: x.test\nqueryType: AAAA\ntransport: tcp\nexpectAnswer: "2001:DB8:0::1"').dns).toEqual({ query: 'x.test', queryType: 'AAAA', transport: 'tcp', expectRcode: 'NOERROR', expectAnswer: '2001:db8::1' });
    expect(checkOf('type: https\npath: /healthz\nserverName: api.example.org\nverify: true\ncaFile: ca.pem')).toMatchObject({ path: '/healthz', tls: { verify: true, serverName: 'api.example.org', caFile: '/etc/lb/ca.pem' } });
    expect(checkOf('type: https').tls).toEqual({ verify: false });
    expect(checkOf('type: udp\nsend: ping').udp).toEqual({ send: 'ping', expect: 'reply' });
    expect(checkOf('type: exec\ncommand: [/usr/local/bin/check, --port, 53]').exec).toEqual({ command: ['/usr/local/bin/check', '--port', '53'] });
  });

  it('refuses bad settings with file position and field', () => {
    expect(problems('type: dns')).toEqual(['7:7 services[svc].healthCheck: missing required field "query"']);
    expect(problems('type: dns\nquery: "bad name!"')).toEqual(['8:14 services[svc].healthCheck.query: "bad name!" is not valid: a DNS name such as health.example.org']);
    expect(problems('type: dns\nquery: a.test\nexpectAnswer: example.org')).toEqual(['9:21 services[svc].healthCheck.expectAnswer: "example.org" is not an IPv4 address (the answer to an A query)']);
    expect(problems('type: dns\nquery: a.test\nexpectRcode: NXDOMIAN')[0]).toMatch(/^9:20 .*expectRcode: unknown DNS response code "NXDOMIAN".*did you mean "NXDOMAIN"/);
    expect(problems('type: udp\nsend: x\npath: /')).toEqual(['9:7 services[svc].healthCheck.path: "path" applies to http/https checks only, this one is udp']);
    expect(problems('type: udp\nsend: x\nexpect: no-unreachable\nexpectReply: y')).toEqual(['10:7 services[svc].healthCheck.expectReply: expectReply needs expect: reply']);
    expect(problems('type: https\nserverName: 10.0.0.1')).toEqual(['8:19 services[svc].healthCheck.serverName: SNI carries a DNS name, not an IP address (leave it out to send none)']);
    expect(problems('type: https\ncaFile: ca.pem')).toEqual(['8:15 services[svc].healthCheck.caFile: a CA file is only used with verify: true']);
    expect(problems('type: exec\ncommand: "/bin/check --x"')).toEqual(['8:16 services[svc].healthCheck.command: must be a non-empty list (the program, then its arguments; no shell is involved), got the string "/bin/check --x"']);
    expect(problems('type: exec\ncommand: [/bin/check, {a: 1}]')).toEqual(['8:29 services[svc].healthCheck.command[1]: must be a non-empty string without NUL (up to 4096 characters), got a mapping']);
  });

  it('the default prober runs the configured type', async () => {
    const echo = createSocket('udp4');
    echo.on('message', (msg, from) => echo.send(msg, from.port, from.address));
    await new Promise<void>((r) => echo.bind(0, '127.0.0.1', () => r()));
    const t = parseConfig(yaml(`type: udp\nsend: hello\nexpectReply: hello\nport: ${echo.address().port}`), 'lb.yaml').health[0];
    expect({ ...t, address: '127.0.0.1' }.check.type).toBe('udp');
    expect(await defaultProber({ ...t, address: '127.0.0.1' })).toEqual({ ok: true });
    echo.close();
  });
});
