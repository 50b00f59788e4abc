import { describe, expect, it } from 'vitest';
import { assertValidDesiredState, ValidationError, validateDesiredState } from '../../src/model/index.ts';
import type { DesiredState } from '../../src/model/types.ts';
import { dest, service, state } from '../reconcile/helpers.ts';

const paths = (s: unknown): string[] => validateDesiredState(s).map((p) => p.path);

describe('validateDesiredState', () => {
  it('accepts a valid IPv4 and IPv6 state, fwmark, tunnel across families', () => {
    const s = state(
      service('web', '10.0.0.1', 80, [dest('10.1.0.1'), dest('10.1.0.2', 8080, { weight: 0x7fffffff })]),
      service('v6', '2001:db8::1', 443, [dest('2001:db8::10', 443)]),
      {
        name: 'marked',
        key: { kind: 'fwmark', family: 'inet', fwmark: 7 },
        config: { scheduler: 'wrr', flags: {}, timeout: 0, netmask: '255.255.255.255' },
        destinations: [dest('10.1.0.1', 0), dest('2001:db8::2', 0, { forwarding: 'tunnel', tunnelType: 'gue', tunnelPort: 6080 })],
        bindAddress: false,
      },
    );
    expect(validateDesiredState(s)).toEqual([]);
    expect(() => assertValidDesiredState(s)).not.toThrow();
  });

  it('lists every problem with a path, not just the first', () => {
    const s = state(
      service('web', '10.0.0.01', 0, [
        dest('10.1.0.1', 70000),
        dest('10.1.0.2', 80, { weight: -1 }),
        dest('10.1.0.3', 80, { lowerThreshold: 10, upperThreshold: 5 }),
        dest('10.1.0.3', 80),
      ]),
    );
    const p = paths(s);
    expect(p).toContain('services[web].key.address');
    expect(p).toContain('services[web].key.port');
    expect(p).toContain('services[web].destinations[0].key.port');
    expect(p).toContain('services[web].destinations[1].config.weight');
    expect(p).toContain('services[web].destinations[2].config.lowerThreshold');
    expect(p).toContain('services[web].destinations[3].key');
    expect(() => assertValidDesiredState(s)).toThrow(ValidationError);
  });

  it('refuses non-canonical addresses and says the canonical form', () => {
    const problems = validateDesiredState(state(service('v6', '2001:DB8:0::1', 80, [])));
    expect(problems[0].message).toContain('2001:db8::1');
  });

  it.each([
    ['family mismatch', state({ ...service('a', '10.0.0.1', 80, []), key: { kind: 'addr', family: 'inet6', protocol: 'tcp', address: '10.0.0.1', port: 80 } }), 'services[a].key.address'],
    ['unknown scheduler', state(service('a', '10.0.0.1', 80, [], { config: { scheduler: 'fancy' } })), 'services[a].config.scheduler'],
    ['unknown protocol', state({ ...service('a', '10.0.0.1', 80, []), key: { kind: 'addr', family: 'inet', protocol: 'icmp' as 'tcp', address: '10.0.0.1', port: 80 } }), 'services[a].key.protocol'],
    ['port 0 without persistence', state(service('a', '10.0.0.1', 0, [])), 'services[a].key.port'],
    ['mh flags on rr', state(service('a', '10.0.0.1', 80, [], { config: { scheduler: 'rr' } })), 'services[a].config.flags'],
    ['bad netmask', state(service('a', '10.0.0.1', 80, [], { config: { netmask: '255.0.255.0' } })), 'services[a].config.netmask'],
    ['persistent without timeout', state(service('a', '10.0.0.1', 80, [], { config: { flags: { persistent: true }, timeout: 0 } })), 'services[a].config.timeout'],
    ['fwmark 0', state({ ...service('a', '10.0.0.1', 80, []), key: { kind: 'fwmark', family: 'inet', fwmark: 0 }, bindAddress: false }), 'services[a].key.fwmark'],
    ['fwmark bound', state({ ...service('a', '10.0.0.1', 80, []), key: { kind: 'fwmark', family: 'inet', fwmark: 3 }, bindAddress: true }), 'services[a].bindAddress'],
    ['v6 dest in v4 service (masq)', state(service('a', '10.0.0.1', 80, [dest('2001:db8::2', 80)])), 'services[a].destinations[0].key.family'],
    ['gue without port', state(service('a', '10.0.0.1', 80, [dest('10.0.0.2', 80, { forwarding: 'tunnel', tunnelType: 'gue' })])), 'services[a].destinations[0].config.tunnelPort'],
    ['tunnel fields on masq', state(service('a', '10.0.0.1', 80, [dest('10.0.0.2', 80, { tunnelType: 'gre' })])), 'services[a].destinations[0].config.tunnelType'],
    ['weight 2^31', state(service('a', '10.0.0.1', 80, [dest('10.0.0.2', 80, { weight: 2 ** 31 })])), 'services[a].destinations[0].config.weight'],
    ['fractional weight', state(service('a', '10.0.0.1', 80, [dest('10.0.0.2', 80, { weight: 1.5 })])), 'services[a].destinations[0].config.weight'],
    ['unknown forwarding', state(service('a', '10.0.0.1', 80, [dest('10.0.0.2', 80, { forwarding: 'nat' as 'masq' })])), 'services[a].destinations[0].config.forwarding'],
    ['dest port 0 on a port service', state(service('a', '10.0.0.1', 80, [dest('10.0.0.2', 0)])), 'services[a].destinations[0].key.port'],
  ])('%s', (_label, s, path) => {
    expect(paths(s)).toContain(path);
  });

  it('finds duplicate services and names both places', () => {
    const problems = validateDesiredState(state(service('a', '10.0.0.1', 80, []), service('b', '10.0.0.1', 80, [])));
    expect(problems).toHaveLength(1);
    expect(problems[0].path).toBe('services[b].key');
    expect(problems[0].message).toContain('services[a]');
  });

  it('allows port 0 for persistent services and their destinations', () => {
    expect(paths(state(service('a', '10.0.0.1', 0, [dest('10.0.0.2', 0)], { config: { flags: { persistent: true }, timeout: 300 } })))).toEqual([]);
  });

  it('does not crash on garbage', () => {
    for (const g of [null, 42, 'x', {}, { services: [null, 1, { name: 'x' }] }, { services: [{ name: 'y', key: {}, config: {}, destinations: [null], bindAddress: 1 }] }]) {
      expect(() => validateDesiredState(g as unknown as DesiredState)).not.toThrow();
      expect(validateDesiredState(g as unknown as DesiredState).length).toBeGreaterThan(0);
    }
  });

  it('limits the error message but keeps every problem', () => {
    const s = state(...Array.from({ length: 30 }, (_, i) => service(`s${i}`, '10.0.0.1', 70000 + i, [])));
    const err = new ValidationError(validateDesiredState(s));
    expect(err.problems.length).toBe(30);
    expect(err.message).toContain('and 10 more');
    expect(err.code).toBe('INVALID_DESIRED_STATE');
  });
});
