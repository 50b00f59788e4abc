import { describe, expect, it } from 'vitest';
import { formatEndpoint, MaglevError, parseAddress, parseClientSpec, parseDestList, parseDestSpec } from '../../src/maglev/index.ts';

describe('addresses', () => {
  it('parses and canonicalises IPv4 and IPv6', () => {
    expect(parseAddress('10.0.0.1')).toEqual({ family: 'inet', words: [0x0a000001], text: '10.0.0.1' });
    expect(parseAddress('2001:DB8:0:0:0:0:0:1').text).toBe('2001:db8::1');
    expect(parseAddress('::').text).toBe('::');
    expect(parseAddress('::1').words).toEqual([0, 0, 0, 1]);
    expect(parseAddress('1:0:0:2:0:0:0:3').text).toBe('1:0:0:2::3');
    expect(parseAddress('1:0:0:2:0:0:3:4').text).toBe('1::2:0:0:3:4');
    expect(parseAddress('::ffff:192.0.2.1').words).toEqual([0, 0, 0xffff, 0xc0000201]);
    expect(formatEndpoint(parseAddress('2001:db8::1'), 80)).toBe('[2001:db8::1]:80');
  });
  it('refuses what is not an address', () => {
    for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.0.0.1', '01.2.3.4', '1::2::3', '12345::', 'g::1', '1:2:3:4:5:6:7:8:9', 'fe80::1%eth0', ' 10.0.0.1']) {
      expect(() => parseAddress(bad), bad).toThrow(MaglevError);
    }
  });
});

describe('destination and client specs', () => {
  it('reads IP:PORT[:WEIGHT[:LASTWEIGHT]] with IPv6 in brackets', () => {
    expect(parseDestSpec('10.0.0.1:80')).toEqual({ address: '10.0.0.1', port: 80, weight: 1 });
    expect(parseDestSpec('10.0.0.1:80:5')).toEqual({ address: '10.0.0.1', port: 80, weight: 5 });
    expect(parseDestSpec('10.0.0.1:80:0:5')).toEqual({ address: '10.0.0.1', port: 80, weight: 0, lastWeight: 5 });
    expect(parseDestSpec('[2001:db8::1]:443:2')).toEqual({ address: '2001:db8::1', port: 443, weight: 2 });
  });
  it('splits comma lists and keeps order', () => {
    expect(parseDestList(['10.0.0.1:80,10.0.0.2:80', '10.0.0.3:80:2']).map((d) => d.address)).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.3']);
  });
  it('refuses malformed specs with a typed error', () => {
    for (const bad of ['10.0.0.1', '10.0.0.1:', '10.0.0.1:x', '10.0.0.1:80:-1', '10.0.0.1:99999', '2001:db8::1:80', '[2001:db8::1:80', '10.0.0.1:80:1:1:1']) {
      expect(() => parseDestSpec(bad), bad).toThrow(MaglevError);
    }
  });
  it('reads clients with or without a port', () => {
    expect(parseClientSpec('192.0.2.1')).toEqual({ address: '192.0.2.1' });
    expect(parseClientSpec('192.0.2.1:4000')).toEqual({ address: '192.0.2.1', port: 4000 });
    expect(parseClientSpec('2001:db8::5')).toEqual({ address: '2001:db8::5' });
    expect(parseClientSpec('[2001:db8::5]:4000')).toEqual({ address: '2001:db8::5', port: 4000 });
  });
});
