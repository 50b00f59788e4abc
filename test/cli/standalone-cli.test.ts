import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { BAD_INPUT } from '../sources/file/bad-input.ts';

// The bad-input table through the three commands that read a configuration: each case must end in a
// clear message naming file:line:column (or the file) and the field, and a non-zero exit, before any
// kernel access (this host has no IPVS: reaching the kernel would print a different error).

const dir = mkdtempSync(join(tmpdir(), 'ipvsm-cli-'));
let stderr = '';
let stdout = '';

beforeEach(() => {
  stderr = '';
  stdout = '';
  process.exitCode = undefined;
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
});
afterEach(() => {
  vi.restoreAllMocks();
  process.exitCode = undefined;
});

describe.each(['validate', 'plan', 'run'])('%s --config <bad file>', (command) => {
  it.each(BAD_INPUT.map((c, i) => ({ ...c, i })))('$name', async (c) => {
    const file = join(dir, `${command}-${c.i}.yaml`);
    writeFileSync(file, c.yaml);
    const extra = command === 'run' ? ['--state-dir', join(dir, 'state'), '--metrics-address', '127.0.0.1:0'] : command === 'plan' ? ['--state-dir', join(dir, 'state')] : [];
    await main(['node', 'ipvs-maglev', command, '--config', file, ...extra]);
    expect(process.exitCode).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^ipvs-maglev: invalid configuration \(\d+ problems?\):\n/);
    expect(stderr).toContain(c.line > 0 ? `${file}:${c.line}:${c.column}: ` : `${file}: `);
    expect(stderr).toMatch(c.message);
    expect(stderr).not.toMatch(/kernel|IPVS|\n\s+at /);
  });
});

describe('validate', () => {
  it('accepts the shipped examples and summarises them', async () => {
    await main(['node', 'ipvs-maglev', 'validate', '--config', 'examples/demo.yaml']);
    expect(process.exitCode).toBeUndefined();
    expect(stdout).toBe('examples/demo.yaml: valid (1 service, 4 destinations, 4 health checks)\n');
  });

  it('names a missing file plainly', async () => {
    await main(['node', 'ipvs-maglev', 'validate', '--config', join(dir, 'nope.yaml')]);
    expect(process.exitCode).toBe(2);
    expect(stderr).toContain('nope.yaml: cannot read the configuration: no such file');
  });

  it('--json prints the desired state', async () => {
    await main(['node', 'ipvs-maglev', 'validate', '--config', 'examples/demo.yaml', '--json']);
    const out = JSON.parse(stdout) as { desired: { services: { name: string; destinations: unknown[] }[] } };
    expect(out.desired.services[0].name).toBe('web');
    expect(out.desired.services[0].destinations).toHaveLength(4);
  });
});

describe('as a real process', () => {
  const bin = join(process.cwd(), 'bin/ipvs-maglev.mjs');
  it.each(['validate', 'plan', 'run'])('%s exits 2 with the message only, no stack trace', (command) => {
    const file = join(dir, `proc-${command}.yaml`);
    writeFileSync(file, 'services:\n  - name: web\n    address: 192.0.2.1\n    port: 80\n    destinations:\n      - { address: 10.0.0.1, weight: 70000 }\n');
    const r = spawnSync(process.execPath, [bin, command, '--config', file], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      `ipvs-maglev: invalid configuration (1 problem):\n  ${file}:6:38: services[web].destinations[0].weight: 70000 is out of range: must be from 0 to 65535\n`,
    );
  });

  it('run refuses a bad --metrics-address before touching the kernel', () => {
    const r = spawnSync(process.execPath, [bin, 'run', '--config', 'examples/demo.yaml', '--metrics-address', 'nonsense', '--state-dir', join(dir, 'state')], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('ipvs-maglev: bad listen address "nonsense": expected HOST:PORT such as 127.0.0.1:9477, [::1]:9477 or :9477\n');
  });
});
