import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BirdSpeaker, MANAGED_MARKER, parseBgpProtocols, renderManagedConfig, renderRoutes } from '../../src/announce/index.ts';
import type { AnnounceConfig } from '../../src/announce/index.ts';

// The BIRD driver against the real BIRD 2 (Debian bird2, installed by scripts/vm-deps.sh): its
// parse-only mode judges what we render, and a BIRD process on this host (no kernel protocol, so it
// touches no routing table; its one peer is on loopback) takes our route changes over its socket.

const cleanups: (() => void)[] = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});

function config(dir: string, over: Partial<AnnounceConfig> = {}): AnnounceConfig {
  return {
    speaker: 'bird',
    mode: 'managed',
    localAsn: 65001,
    routerId: '192.0.2.1',
    peers: [{ name: 'tor', address: '127.0.0.2', asn: 65000, holdTimeS: 3, keepaliveS: 1, bfd: false }],
    bird: { config: join(dir, 'bird.conf'), routes: join(dir, 'routes.conf'), socket: join(dir, 'bird.ctl'), bird: 'bird', birdc: 'birdc' },
    gracePeriodMs: 0,
    takeOverFlows: true,
    ...over,
  };
}

function birdParses(text: string, dir: string): string {
  const f = join(dir, `check-${Math.random().toString(36).slice(2)}.conf`);
  writeFileSync(f, text);
  try {
    execFileSync('bird', ['-p', '-c', f], { stdio: 'pipe' });
    return 'ok';
  } catch (e) {
    return String((e as { stderr?: Buffer }).stderr ?? e);
  }
}

async function startBird(cfg: AnnounceConfig): Promise<ChildProcess> {
  const child = spawn('bird', ['-f', '-c', cfg.bird.config, '-s', cfg.bird.socket], { stdio: 'ignore' });
  cleanups.push(() => child.kill('SIGKILL'));
  for (let i = 0; i < 100 && !existsSync(cfg.bird.socket); i++) await new Promise((r) => setTimeout(r, 50));
  return child;
}

function routesInBird(cfg: AnnounceConfig): string[] {
  const out = execFileSync('birdc', ['-s', cfg.bird.socket, 'show', 'route'], { encoding: 'utf8' });
  return [...out.matchAll(/^(\S+\/\d+)\s+blackhole/gm)].map((m) => m[1]).sort();
}

describe('BIRD configuration we render', () => {
  it('is accepted by bird -p: managed config with password, BFD and an IPv6 peer; routes of both families', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bird-'));
    const cfg = config(dir, {
      peers: [
        { name: 'tor1', address: '127.0.0.2', asn: 65000, holdTimeS: 9, bfd: true, password: 's3cret pass' },
        { name: 'tor2', address: '2001:db8::1', asn: 4_200_000_000, holdTimeS: 3, keepaliveS: 1, bfd: false },
      ],
    });
    writeFileSync(cfg.bird.routes, renderRoutes([{ address: '192.0.2.10', family: 'inet' }, { address: '2001:db8:10::1', family: 'inet6' }]));
    const main = renderManagedConfig(cfg, 'lb.yaml');
    expect(main.startsWith(MANAGED_MARKER)).toBe(true);
    expect(main).toContain('hold time 9;');
    expect(main).toContain('keepalive time 3;'); // a third of the hold time when not given
    expect(main).toContain('password "s3cret pass";');
    expect(main).toContain('bfd on;');
    expect(birdParses(main, dir)).toBe('ok');
    expect(renderRoutes([])).toContain('protocol static ipvs_maglev4 {\n  ipv4;\n}');
  });
});

describe('BirdSpeaker with a running BIRD', () => {
  it('announces, changes and withdraws routes through birdc configure; an unchanged set does not touch BIRD', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bird-'));
    const cfg = config(dir);
    const speaker = new BirdSpeaker(cfg, 'lb.yaml');
    await speaker.prepare();
    expect(readFileSync(cfg.bird.routes, 'utf8')).toBe(renderRoutes([])); // created empty: nothing to withdraw yet
    await startBird(cfg);
    const a = { address: '192.0.2.10', family: 'inet' as const };
    const b = { address: '192.0.2.11', family: 'inet' as const };
    const v6 = { address: '2001:db8::10', family: 'inet6' as const };
    expect(await speaker.apply([a, b, v6])).toEqual({ applied: true, unchanged: false });
    expect(routesInBird(cfg)).toEqual(['192.0.2.10/32', '192.0.2.11/32', '2001:db8::10/128']);
    expect(await speaker.apply([b, a, v6])).toEqual({ applied: true, unchanged: true });
    expect(await speaker.apply([a])).toEqual({ applied: true, unchanged: false });
    expect(routesInBird(cfg)).toEqual(['192.0.2.10/32']);
    const status = await speaker.status();
    expect(status.up).toBe(true);
    expect(status.peers).toEqual([expect.objectContaining({ name: 'tor', established: false })]);
    expect(await speaker.apply([])).toEqual({ applied: true, unchanged: false });
    expect(routesInBird(cfg)).toEqual([]);
  });

  it('emergencyWithdraw disables our static protocols; the next good apply enables them again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bird-'));
    const cfg = config(dir);
    const speaker = new BirdSpeaker(cfg, 'lb.yaml');
    await speaker.prepare();
    await startBird(cfg);
    const a = { address: '192.0.2.10', family: 'inet' as const };
    await speaker.apply([a]);
    expect(routesInBird(cfg)).toEqual(['192.0.2.10/32']);
    expect((await speaker.emergencyWithdraw()).applied).toBe(true);
    expect(routesInBird(cfg)).toEqual([]);
    expect((await speaker.apply([a])).applied).toBe(true);
    expect(routesInBird(cfg)).toEqual(['192.0.2.10/32']);
  });

  it('BIRD not running: apply says so and keeps the routes file current (a BIRD started later reads it)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bird-'));
    const cfg = config(dir);
    const speaker = new BirdSpeaker(cfg, 'lb.yaml');
    await speaker.prepare();
    const out = await speaker.apply([{ address: '192.0.2.10', family: 'inet' }]);
    expect(out.applied).toBe(false);
    expect(out.error).toMatch(/^BIRD is not running \(no control socket .*bird\.ctl\)/);
    expect((await speaker.status()).up).toBe(false);
    await startBird(cfg);
    expect(routesInBird(cfg)).toEqual(['192.0.2.10/32']);
  });

  it('refuses to start when BIRD is missing, when the managed config path holds a file not ours, or when BIRD rejects the operator config', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bird-'));
    await expect(new BirdSpeaker(config(dir, { bird: { ...config(dir).bird, bird: '/nonexistent/bird' } }), 'lb.yaml').prepare()).rejects.toMatchObject({
      code: 'SPEAKER_MISSING',
      message: expect.stringMatching(/"\/nonexistent\/bird" not found: is BIRD 2 installed\? \(Debian: apt-get install bird2\)/),
    });
    const cfg = config(dir);
    writeFileSync(cfg.bird.config, 'router id 1.2.3.4;\n');
    await expect(new BirdSpeaker(cfg, 'lb.yaml').prepare()).rejects.toMatchObject({ code: 'SPEAKER_CONFIG', message: expect.stringMatching(/refusing to overwrite .*not written by ipvs-maglev/) });
    const operator = config(dir, { mode: 'include', peers: [], localAsn: undefined, routerId: undefined });
    writeFileSync(operator.bird.config, `router id 1.2.3.4;\ninclude "${operator.bird.routes}";\nprotocol nonsense x {}\n`);
    await expect(new BirdSpeaker(operator, 'lb.yaml').prepare()).rejects.toMatchObject({ code: 'SPEAKER_CONFIG', message: expect.stringMatching(/BIRD refuses .*bird\.conf:3/) });
  });

  it('include mode: only the routes file is ours; a change the operator config makes BIRD refuse is rolled back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bird-'));
    const cfg = config(dir, { mode: 'include', peers: [], localAsn: undefined, routerId: undefined });
    const operatorText = `router id 1.2.3.4;\nprotocol device {}\ninclude "${cfg.bird.routes}";\n`;
    writeFileSync(cfg.bird.config, operatorText);
    const speaker = new BirdSpeaker(cfg, 'lb.yaml');
    await speaker.prepare();
    await startBird(cfg);
    expect((await speaker.apply([{ address: '192.0.2.10', family: 'inet' }])).applied).toBe(true);
    expect(readFileSync(cfg.bird.config, 'utf8')).toBe(operatorText);
    // The operator defines a protocol of the same name: BIRD refuses, our previous file stays.
    writeFileSync(cfg.bird.config, `${operatorText}protocol static ipvs_maglev4 { ipv4; }\n`);
    const out = await speaker.apply([{ address: '192.0.2.11', family: 'inet' }]);
    expect(out.applied).toBe(false);
    expect(out.error).toMatch(/BIRD refuses the configuration \(kept the previous routes file\)/);
    expect(readFileSync(cfg.bird.routes, 'utf8')).toContain('192.0.2.10/32');
  });
});

describe('parseBgpProtocols', () => {
  it('reads BGP rows of birdc show protocols', () => {
    const text = [
      'BIRD 2.0.12 ready.',
      'Name       Proto      Table      State  Since         Info',
      'device1    Device     ---        up     19:04:02.689  ',
      'tor1       BGP        ---        up     19:04:05.100  Established   ',
      'tor2       BGP        ---        start  2026-12-01 19:04:02  Active        Socket: Connection refused',
    ].join('\n');
    expect(parseBgpProtocols(text)).toEqual([
      { name: 'tor1', state: 'Established', established: true },
      { name: 'tor2', state: 'Active Socket: Connection refused', established: false },
    ]);
  });
});
