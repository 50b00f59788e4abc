import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { probeHttp } from '../../../src/health/probe.ts';
import { ConfigError, MAX_ISSUES, loadConfigFile, parseConfig } from '../../../src/sources/file/index.ts';
import { errorOf } from './bad-input.ts';

// Bounded work for every configuration file: size and value-count limits (small here), capped problem
// lists, bounded quotes of bad values, no FIFO hangs, and values the HTTP prober would refuse at run time.

const dir = mkdtempSync(join(tmpdir(), 'cfg-bounds-'));

async function loadError(path: string, maxBytes?: number): Promise<ConfigError> {
  const err = await loadConfigFile(path, { maxBytes }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  return err as ConfigError;
}

const web = (check: string): string =>
  `services:\n  - name: web\n    address: 192.0.2.1\n    port: 80\n    healthCheck: {type: http, ${check}}\n    destinations: [{address: 10.0.0.1}]\n`;

describe('configuration file bounds', () => {
  it('refuses a file over --max-config-size, saying how to raise it', async () => {
    const path = join(dir, 'big.yaml');
    writeFileSync(path, `services: []\n#${'.'.repeat(3072 - 15)}\n`);
    const err = await loadError(path, 1024);
    expect(err.code).toBe('CONFIG_UNREADABLE');
    expect(err.message).toContain(`${path}: the configuration is 3 KiB, more than the limit of 1 KiB; raise it with --max-config-size SIZE`);
  });

  it('refuses a file with more values than its size limit allows (services: [1,1,1,...]) before parsing it', async () => {
    const path = join(dir, 'ones.yaml');
    writeFileSync(path, `services: [${'1,'.repeat(2000)}1]\n`);
    const err = await loadError(path, 12 * 1024);
    expect(err.message).toContain('the configuration has more than 1,024 values (the size limit of 12 KiB allows one per 12 bytes); raise it with --max-config-size SIZE');
  });

  it('keeps at most MAX_ISSUES problems, counts the rest and lists a few in the message', () => {
    const err = errorOf(`services: [${'1,'.repeat(2999)}1]\n`);
    expect(err.total).toBe(3000);
    expect(err.issues).toHaveLength(MAX_ISSUES);
    expect(err.message.split('\n')).toHaveLength(22); // head, 20 problems, "... and N more"
    expect(err.message).toContain('invalid configuration (3,000 problems):');
    expect(err.message).toMatch(/\n {2}\.\.\. and 2,980 more$/);
  });

  it('quotes a bounded slice of a huge bad value', () => {
    const name = 'x'.repeat(1_000_000);
    const err = errorOf(`services:\n  - name: web\n    address: ${name}\n    port: 80\n    destinations: []\n  - name: ${name}\n    address: 192.0.2.2\n    port: 80\n    destinations: []\n  - {name: w2, address: 192.0.2.3, port: 80, destinations: [], ${name}: 1}\n`);
    expect(err.message.length).toBeLessThan(1500);
    expect(err.message).toContain(`services[web].address: "${'x'.repeat(64)}"... (999936 more characters) is not an IPv4 or IPv6 address`);
    expect(err.message).toContain('(999936 more characters) is not valid: letters, digits');
    expect(err.message).toContain('unknown field "xxxxxxxx');
  });

  it('refuses a FIFO as the configuration instead of waiting for a writer', async () => {
    const path = join(dir, 'fifo.yaml');
    expect(spawnSync('mkfifo', [path]).status).toBe(0);
    const err = await loadError(path);
    expect(err.message).toContain(`${path}: the configuration is not a regular file`);
  });

  it('validate --max-config-size: the CLI flag sets the limit and a bad size is a usage error', () => {
    const path = join(dir, 'small.yaml');
    writeFileSync(path, `services: []\n${'#\n'.repeat(600)}`);
    const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/ipvs-maglev.mjs', 'validate', '-c', path, ...args], { encoding: 'utf8' });
    expect(cli().status).toBe(0);
    const small = cli('--max-config-size', '1KiB');
    expect(small.status).toBe(2);
    expect(small.stderr).toContain('more than the limit of 1 KiB; raise it with --max-config-size SIZE');
    const bad = cli('--max-config-size', 'lots');
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain('"lots" is not a size such as 64MiB, 1GiB or a number of bytes');
  });
});

describe('HTTP health checks: values every probe would fail on are refused when the file is read', () => {
  it.each([
    ['CR/LF header injection', 'host: "example.com\\r\\nX-Evil: 1"', 'must be printable ASCII without spaces (no CR, LF, NUL or other control characters)'],
    ['NUL', 'host: "a\\0b"', 'must be printable ASCII'],
    ['space', 'host: "a b"', 'must be printable ASCII'],
    ['bare IPv6', 'host: "2001:db8::1"', 'an IPv6 address goes in brackets'],
    ['bad port', 'host: "example.com:99999"', 'the port must be 1-65535'],
    ['bad bracket', 'host: "[nope]:80"', 'an IPv6 address in brackets must be a valid address'],
  ])('host with %s', (_name, field, message) => {
    const err = errorOf(web(field));
    expect(err.issues[0].path).toBe('services[web].healthCheck.host');
    expect(err.issues[0].message).toContain('is not a valid Host header');
    expect(err.issues[0].message).toContain(message);
  });

  it('a path with a control character', () => {
    const err = errorOf(web('path: "/health\\0z"'));
    expect(err.issues[0].path).toBe('services[web].healthCheck.path');
  });

  it.each(['example.com', 'example.com:8080', '10.0.0.1', '10.0.0.1:80', '[2001:db8::1]', '[2001:db8::1]:8443', 'my_host.internal.'])('accepts host %s', (host) => {
    const c = parseConfig(web(`host: "${host}"`), 'lb.yaml');
    expect(c.health[0].check.host).toBe(host);
  });

  it('the prober itself answers (does not throw) when the HTTP client refuses a header', async () => {
    const r = await probeHttp('127.0.0.1', 9, { path: '/', expectStatus: 200, host: 'a\r\nb' }, 500);
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.reason).toMatch(/^cannot send the HTTP request: /);
  });
});
