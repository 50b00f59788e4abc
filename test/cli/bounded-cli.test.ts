// Every file and stdin reader of the CLI is bounded and says how to raise the bound; and the messages that
// used to mislead (issue 11, item 11) say what is wrong. The real binary in a child process.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const SLOW = 300_000;
const BIN = join(import.meta.dirname, '../../bin/ipvs-maglev.mjs');
const dir = mkdtempSync(join(tmpdir(), 'bounded-cli-'));
const cli = (args: string[], stdin?: number) => {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000, stdio: [stdin ?? 'pipe', 'pipe', 'pipe'] });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};
const THREE = ['--dest', '10.0.0.1:80,10.0.0.2:80,10.0.0.3:80'];

describe('bounded readers', () => {
  it('predict --clients-file /dev/zero stops at --max-input-size instead of taking all memory', () => {
    const r = cli(['predict', '--flavor', 'kernel', ...THREE, '--clients-file', '/dev/zero', '--max-input-size', '1MiB']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('ipvs-maglev: --clients-file /dev/zero is larger than the limit of 1 MiB; raise it with --max-input-size SIZE (e.g. --max-input-size 4MiB)\n');
  }, SLOW);

  it('restore < /dev/zero stops at the limit with a clear message, not a V8 out-of-memory crash', () => {
    const r = cli(['restore', '--max-input-size', '2MiB'], openSync('/dev/zero', 'r'));
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('ipvs-maglev: restore: stdin is larger than the limit of 2 MiB; raise it with --max-input-size SIZE (e.g. --max-input-size 8MiB)\n');
    expect(r.stderr).not.toMatch(/FATAL|Native stack/);
  }, SLOW);

  it('restore --help says where "all or nothing" ends', () => {
    const r = cli(['restore', '--help']);
    expect(r.stdout).toContain('-Z (zero counters) cannot be undone: zeroing runs last');
    expect(r.stdout).toContain('If the kernel connection fails mid-way, or an undo fails, the table is read back');
    expect(r.stdout).toContain('--max-input-size <size>');
  }, SLOW);
});

describe('messages that used to mislead', () => {
  it('--dest 2001:db8::1 (IPv6 without brackets) says so, not "port db8"', () => {
    for (const cmd of [['table', '--flavor', 'kernel', '--dest', '2001:db8::1'], ['table', '--flavor', 'kernel', '--dest', '2001:db8::1:80']]) {
      const r = cli(cmd);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(': an IPv6 destination goes in brackets before its port, e.g. [2001:db8::1]:80');
      expect(r.stderr).not.toContain('"db8"');
    }
    const churn = cli(['churn', '--flavor', 'kernel', '--before', '10.0.0.1:80', '--after', 'fd00::1:80']);
    expect(churn.stderr).toContain('--after "fd00::1:80": an IPv6 destination goes in brackets');
    expect(cli(['table', '--flavor', 'kernel', '--dest', '[2001:db8::1]:80,10.0.0.1:80:2:1']).stderr).not.toContain('brackets');
  }, SLOW);

  it('an empty --clients-file says the file has no clients', () => {
    const empty = join(dir, 'empty.txt');
    writeFileSync(empty, '# nothing here\n\n');
    const r = cli(['predict', '--flavor', 'kernel', ...THREE, '--clients-file', empty]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`--clients-file ${empty} has no clients (only blank lines and # comments)`);
    expect(r.stderr).not.toContain('give at least one');
  }, SLOW);
});
