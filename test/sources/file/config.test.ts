import { writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfigFile, parseConfig } from '../../../src/sources/file/index.ts';
import { validateDesiredState } from '../../../src/model/validate.ts';
import { BAD_INPUT, errorOf } from './bad-input.ts';

describe('YAML config: the bad-input table', () => {
  it.each(BAD_INPUT)('$name -> file:line:column, field path, clear message', (c) => {
    const err = errorOf(c.yaml);
    const first = err.issues[0];
    expect(first.message).toMatch(c.message);
    expect({ line: first.line, column: first.column, path: first.path }).toEqual({ line: c.line, column: c.column, path: c.path });
    expect(err.message).toContain(c.line > 0 ? `lb.yaml:${c.line}:${c.column}: ` : 'lb.yaml: ');
    expect(err.message).not.toMatch(/\n\s+at /); // no stack-trace-like noise in the message
  });

  it('reports every problem of a file in one pass, in file order', () => {
    const err = errorOf(
      'services:\n  - name: web\n    protocol: tcpp\n    address: 192.0.2.1\n    port: 99999\n    destinations:\n      - { address: 10.0.0.300, weight: -5 }\n',
    );
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.issues.map((i) => i.path)).toEqual([
      'services[web].protocol',
      'services[web].port',
      'services[web].destinations[0].address',
      'services[web].destinations[0].weight',
    ]);
  });
});

describe('YAML config: what a valid file becomes', () => {
  it('applies the documented defaults (mh with mh-port + mh-fallback, masq, weight 1, service port)', () => {
    const c = parseConfig('services:\n  - name: web\n    address: 192.0.2.1\n    port: 80\n    destinations:\n      - address: 10.0.0.1\n');
    expect(c.desired.services).toEqual([
      {
        name: 'web',
        key: { kind: 'addr', family: 'inet', protocol: 'tcp', address: '192.0.2.1', port: 80 },
        config: { scheduler: 'mh', flags: { portHash: true, fallback: true }, timeout: 0, netmask: '255.255.255.255' },
        bindAddress: true,
        destinations: [
          { key: { family: 'inet', address: '10.0.0.1', port: 80 }, config: { forwarding: 'masq', weight: 1, upperThreshold: 0, lowerThreshold: 0 } },
        ],
      },
    ]);
    expect(c.health).toEqual([]);
    expect(c.settings).toEqual({});
  });

  it('canonicalises IPv6 addresses and uses prefix-length netmasks', () => {
    const c = parseConfig(
      'services:\n  - name: v6\n    address: 2001:DB8:0:0::10\n    port: 443\n    persistence: { timeout: 5m, netmask: 64 }\n    flags: []\n    destinations:\n      - { address: "2001:db8:0:1:0:0:0:1" }\n',
    );
    const s = c.desired.services[0];
    expect(s.key).toEqual({ kind: 'addr', family: 'inet6', protocol: 'tcp', address: '2001:db8::10', port: 443 });
    expect(s.config).toEqual({ scheduler: 'mh', flags: { persistent: true }, timeout: 300, netmask: '64' });
    expect(s.destinations[0].key).toEqual({ family: 'inet6', address: '2001:db8:0:1::1', port: 443 });
  });

  it('builds health targets: service-level check inherited, per-destination override, false disables', () => {
    const c = parseConfig(
      [
        'services:',
        '  - name: web',
        '    address: 192.0.2.1',
        '    port: 80',
        '    healthCheck: { type: http, path: /healthz, expectStatus: 204, interval: 2s, timeout: 500ms, onFailure: remove }',
        '    destinations:',
        '      - { address: 10.0.0.1, port: 8080 }',
        '      - { address: 10.0.0.2, port: 8080, healthCheck: { type: tcp, port: 22 } }',
        '      - { address: 10.0.0.3, port: 8080, healthCheck: false }',
        '',
      ].join('\n'),
    );
    expect(c.health.map((h) => [h.id, h.address, h.port, h.check.type])).toEqual([
      ['tcp 192.0.2.1:80 -> 10.0.0.1:8080', '10.0.0.1', 8080, 'http'],
      ['tcp 192.0.2.1:80 -> 10.0.0.2:8080', '10.0.0.2', 22, 'tcp'],
    ]);
    expect(c.health[0].check).toEqual({ type: 'http', path: '/healthz', expectStatus: 204, intervalMs: 2000, timeoutMs: 500, rise: 2, fall: 3, onFailure: 'remove' });
  });

  it('reads fwmark services, scheduler flags and settings', () => {
    const c = parseConfig(
      'settings: { drainTimeout: 30s, resyncInterval: 1m, minSyncInterval: 250ms }\nservices:\n  - name: m\n    fwmark: 7\n    scheduler: sh\n    flags: [sh-port, sh-fallback, one-packet]\n    destinations:\n      - { address: 10.0.0.1, port: 0, forwarding: droute, weight: 0 }\n',
    );
    expect(c.settings).toEqual({ drainTimeoutMs: 30_000, resyncIntervalMs: 60_000, minSyncIntervalMs: 250 });
    const s = c.desired.services[0];
    expect(s.key).toEqual({ kind: 'fwmark', family: 'inet', fwmark: 7 });
    expect(s.bindAddress).toBe(false);
    expect(s.config.flags).toEqual({ portHash: true, fallback: true, onePacket: true });
    expect(s.destinations[0].config).toMatchObject({ forwarding: 'droute', weight: 0 });
  });

  it('accepts the shipped examples', async () => {
    for (const file of ['examples/lb.yaml', 'examples/demo.yaml']) {
      const c = await loadConfigFile(file);
      expect(c.desired.services.length).toBeGreaterThan(0);
    }
  });

  it('says clearly when the file cannot be read', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ipvsm-'));
    await expect(loadConfigFile(join(dir, 'missing.yaml'))).rejects.toMatchObject({ code: 'CONFIG_UNREADABLE', message: expect.stringMatching(/missing.yaml: cannot read the configuration: no such file/) });
    const path = join(dir, 'ok.yaml');
    await writeFile(path, 'services: []\n');
    await expect(loadConfigFile(path)).resolves.toMatchObject({ file: path, desired: { services: [] } });
  });
});

describe('YAML config: IPv4-mapped IPv6 destinations (issue 13)', () => {
  it('::ffff:a.b.c.d, however written, is read as one canonical form, and refused with the kernel\'s reason and the IPv4 way to write it', () => {
    for (const written of ['::ffff:10.0.0.1', '::FFFF:a00:1', '0:0:0:0:0:ffff:10.0.0.1']) {
      const text = `services:\n  - name: web6\n    address: 2001:db8::10\n    port: 80\n    destinations: [{ address: "${written}", port: 8080 }]\n`;
      const err = (() => {
        try {
          parseConfig(text, 'lb.yaml');
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(err, written).toBeInstanceOf(ConfigError);
      const message = (err as ConfigError).message;
      // Located in the file; not the old "not in canonical form" disagreement between two address modules.
      expect(message).toContain('lb.yaml:5:31: services[web6].destinations[0].key.address: ::ffff:10.0.0.1 is an IPv4-mapped IPv6 address, which the kernel refuses');
      expect(message).toContain('write address 10.0.0.1 and forwarding tunnel');
      expect(message).not.toContain('canonical form');
    }
  });

  it('what the message tells the user to write validates: the IPv4 address with tunnel forwarding', () => {
    const c = parseConfig('services:\n  - name: web6\n    address: 2001:db8::10\n    port: 80\n    destinations: [{ address: 10.0.0.1, port: 8080, forwarding: tunnel }]\n');
    expect(c.desired.services[0].destinations.map((d) => [d.key, d.config.forwarding])).toEqual([[{ family: 'inet', address: '10.0.0.1', port: 8080 }, 'tunnel']]);
    expect(validateDesiredState(c.desired)).toEqual([]);
  });
});
