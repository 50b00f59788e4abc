// The table / predict / churn / bench maglev commands, run as a user runs them: the real binary in a
// child process, checking stdout, stderr and the exit code.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

// Every case starts the real CLI (about 1 s of CPU to load all commands), on 2 shared cores.
const SLOW = 300_000;

const BIN = join(import.meta.dirname, '../../bin/ipvs-maglev.mjs');
const cli = (...args: string[]): { code: number | null; stdout: string; stderr: string } => {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};
const THREE = ['--dest', '10.0.0.1:80,10.0.0.2:80', '--dest', '10.0.0.3:80'];

describe('ipvs-maglev table', () => {
  it('shows the kernel-checked slot counts as JSON', () => {
    const r = cli('table', '--flavor', 'kernel', ...THREE, '--json');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.size).toBe(4093);
    expect(out.destinations.map((d: { dest: string; slots: number }) => [d.dest, d.slots])).toEqual([
      ['10.0.0.1:80', 1364],
      ['10.0.0.2:80', 1364],
      ['10.0.0.3:80', 1365],
    ]);
    expect(out.max).toBe(1365);
  }, SLOW);

  it('prints a readable table with max/avg, IPv6 in brackets, drained weights', () => {
    const r = cli('table', '--flavor', 'kernel', '--size', '251', '--dest', '[2001:db8::1]:80:2,[2001:DB8::2]:80:0:2');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('[2001:db8::1]:80');
    expect(r.stdout).toContain('0 (last 2)');
    expect(r.stdout).toMatch(/max \d+ {2}avg [\d.]+ {2}max\/avg [\d.]+/);
  }, SLOW);

  it('builds the maglev flavour with any prime size', () => {
    const r = cli('table', '--flavor', 'maglev', '--size', '1009', '--dest', '10.0.0.1:80:1,10.0.0.2:80:3', '--json');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.size).toBe(1009);
    expect(out.destinations.reduce((a: number, d: { slots: number }) => a + d.slots, 0)).toBe(1009);
  }, SLOW);

  it('refuses bad input with a clear message, a non-zero exit and no stack trace', () => {
    for (const args of [
      ['table', '--flavor', 'kernel', '--size', '4099', '--dest', '10.0.0.1:80'],
      ['table', '--flavor', 'maglev', '--size', '65536', '--dest', '10.0.0.1:80'],
      ['table', '--flavor', 'kernel', '--dest', '10.0.0.1:80,10.0.0.1:80'],
      ['table', '--flavor', 'kernel', '--dest', '10.0.0.300:80'],
      ['table', '--flavor', 'kernel', '--dest', '2001:db8::1:80'],
      ['table', '--flavor', 'maglev'],
      ['table', '--dest', '10.0.0.1:80'],
    ]) {
      const r = cli(...args);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr.trim().length, args.join(' ')).toBeGreaterThan(0);
      expect(r.stderr, args.join(' ')).not.toMatch(/\n\s+at /);
    }
  }, SLOW);
});

describe('ipvs-maglev predict', () => {
  it('prints "<client as given> <IP:PORT>" per client (the kernel-checked vector)', () => {
    const r = cli('predict', '--flavor', 'kernel', ...THREE, '--client', '192.168.1.100', '--client', '192.168.1.100:40000');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('192.168.1.100 10.0.0.2:80\n192.168.1.100:40000 10.0.0.2:80\n');
    const p = cli('predict', '--flavor', 'kernel', ...THREE, '--port-hash', '--client', '192.168.1.100:40000', '--json');
    expect(JSON.parse(p.stdout)).toEqual([{ client: '192.168.1.100:40000', dest: '10.0.0.3:80' }]);
  }, SLOW);

  it('reads --clients-file and prints "none" where the kernel would drop the connection', () => {
    const dir = mkdtempSync(join(tmpdir(), 'maglev-cli-'));
    const file = join(dir, 'clients');
    writeFileSync(file, '# clients\n192.168.1.100\n\n10.9.8.7\n');
    const drained = ['--dest', '10.0.0.1:80,10.0.0.2:80:0:1,10.0.0.3:80'];
    const r = cli('predict', '--flavor', 'kernel', ...drained, '--clients-file', file);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe('192.168.1.100 none');
    expect(lines).toHaveLength(2);
    const f = cli('predict', '--flavor', 'kernel', ...drained, '--fallback', '--clients-file', file, '--json');
    const out = JSON.parse(f.stdout) as { client: string; dest: string | null }[];
    expect(out[0].client).toBe('192.168.1.100');
    expect(['10.0.0.1:80', '10.0.0.3:80']).toContain(out[0].dest);
  }, SLOW);

  it('hashes the 5-tuple for the maglev flavour and needs --vip', () => {
    const ok = cli('predict', '--flavor', 'maglev', ...THREE, '--vip', '198.51.100.1:80', '--client', '192.0.2.1:40000', '--json');
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)[0].dest).toMatch(/^10\.0\.0\.[123]:80$/);
    const missing = cli('predict', '--flavor', 'maglev', ...THREE, '--client', '192.0.2.1:40000');
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('--vip');
  }, SLOW);

  it('refuses a --port-hash client without a port, a missing file and no clients at all', () => {
    expect(cli('predict', '--flavor', 'kernel', ...THREE, '--port-hash', '--client', '192.0.2.1').stderr).toContain('needs a port');
    expect(cli('predict', '--flavor', 'kernel', ...THREE, '--clients-file', '/nonexistent/clients').code).not.toBe(0);
    expect(cli('predict', '--flavor', 'kernel', ...THREE).code).not.toBe(0);
    expect(cli('predict', '--flavor', 'kernel', ...THREE, '--client', 'not-an-ip').stderr).toContain('not an IPv4 or IPv6 address');
  }, SLOW);
});

describe('ipvs-maglev churn', () => {
  it('reports the changed and the minimum fraction', () => {
    const r = cli('churn', '--flavor', 'kernel', '--before', '10.0.0.1:80,10.0.0.2:80,10.0.0.3:80', '--after', '10.0.0.1:80,10.0.0.3:80', '--json');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.size).toBe(4093);
    expect(out.minimumSlots).toBe(1364);
    expect(out.changedSlots).toBeGreaterThanOrEqual(1364);
    expect(out.changedFraction).toBeCloseTo(out.changedSlots / 4093, 12);
    const text = cli('churn', '--flavor', 'maglev', '--before', '10.0.0.1:80,10.0.0.2:80', '--after', '10.0.0.1:80,10.0.0.2:80');
    expect(text.stdout).toContain('changed 0.000% of slots (0 of 65537)');
  }, SLOW);
});

describe('ipvs-maglev bench maglev', () => {
  it('prints JSON lines in the contract shape, C lines and ratios, and the identity check', () => {
    const r = cli('bench', 'maglev', '--json', '--quick');
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    const ts = lines.filter((l) => l.impl === 'ts' && !l.churn && !l.skewedWeights);
    const skewed = lines.filter((l) => l.skewedWeights);
    expect(skewed.map((l) => `${l.tableSize}x${l.backends}`)).toEqual(['65537x201', '65537x2001']);
    for (const l of skewed) for (const k of ['equalWeightsMsMin', 'skewedMsMin', 'skewedOverEqual']) expect(typeof l[k], k).toBe('number');
    expect(ts.map((l) => `${l.flavor} ${l.tableSize}x${l.backends}`)).toEqual(['maglev 65537x100', 'maglev 65537x1000', 'maglev 655373x1000', 'kernel 65521x1000', 'kernel 4093x3']);
    for (const l of ts) {
      for (const k of ['populateMsMedian', 'populateMsMin', 'maxOverAvg', 'lookupsPerSec']) expect(typeof l[k], k).toBe('number');
    }
    expect(ts.find((l) => l.tableSize === 655373).tableBytes).toBeLessThanOrEqual(3 * 1024 * 1024);
    const churn = lines.find((l) => l.impl === 'ts' && l.churn);
    expect(churn.remove1.minimumFraction).toBeCloseTo(1 / 1000, 3);
    const check = lines.find((l) => l.impl === 'check');
    if (lines.some((l) => l.impl === 'c' && l.skipped)) return;
    expect(check).toEqual({ impl: 'check', tablesAndLookupsIdentical: true, churnIdentical: true });
    expect(lines.filter((l) => l.impl === 'ratio' && !l.churn)).toHaveLength(5);
    // The C baseline reports its standalone run and its in-process samples alone beside the paired ones.
    const cLines = lines.filter((l) => l.impl === 'c' && !l.churn);
    expect(cLines).toHaveLength(5);
    for (const l of cLines) {
      for (const k of ['standalonePopulateMsMin', 'standaloneLookupsPerSec', 'batchedLookupsPerSec', 'inProcessAlonePopulateMsMin', 'populateMsMin']) expect(l[k], k).toBeGreaterThan(0);
    }
    for (const l of lines.filter((x) => x.impl === 'ratio' && !x.churn)) for (const k of ['cPairedOverStandalone', 'cAloneOverStandalone', 'populateLoopTsOverC', 'populateLoopMinTsOverC']) expect(l[k], k).toBeGreaterThan(0);
  }, SLOW);
});

describe('output into a closed pipe', () => {
  it('stops quietly with status 0 when the reader goes away (as `| head -1` does)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ipvs-maglev-pipe-'));
    const clients = join(dir, 'clients');
    writeFileSync(clients, Array.from({ length: 200_000 }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`).join('\n'));
    const child = spawn(process.execPath, [BIN, 'predict', '--flavor', 'kernel', ...THREE, '--clients-file', clients], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    // Read the first chunk, then close our end as head does.
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    child.stdout.destroy();
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    expect(stderr).toBe('');
    expect(code).toBe(0);
  }, SLOW);
});
