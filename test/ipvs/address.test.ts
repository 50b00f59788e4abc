import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AddressError, canonicalAddress, formatAddress, isAddress, netmaskToPrefix, parseAddress, prefixToNetmask, specialAddressKind } from '../../src/ipvs/address.ts';

describe('addresses', () => {
  it('parses IPv4 into the first 4 of 16 bytes', () => {
    const p = parseAddress('192.168.1.2');
    expect(p.family).toBe('inet');
    expect([...p.bytes]).toEqual([192, 168, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('formats IPv6 canonically (RFC 5952)', () => {
    const cases: Array<[string, string]> = [
      ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['2001:0db8:0000:0001:0000:0000:0000:0001', '2001:db8:0:1::1'],
      ['::', '::'],
      ['::1', '::1'],
      ['1::', '1::'],
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
      ['::ffff:10.0.0.1', '::ffff:10.0.0.1'],
      ['fe80::1:2', 'fe80::1:2'],
      ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ];
    for (const [input, want] of cases) expect(canonicalAddress(input), input).toBe(want);
  });

  it('rejects malformed addresses with AddressError', () => {
    for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.0.0.1', '01.2.3.4', '1:2:3:4:5:6:7:8:9', '1::2::3', 'g::1', '[::1]', '10.0.0.1/32', ' 1.2.3.4', '12345::']) {
      expect(() => parseAddress(bad), bad).toThrow(AddressError);
      expect(isAddress(bad)).toBe(false);
    }
  });

  it('round-trips any 16 bytes through format and parse', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (bytes) => {
        const text = formatAddress('inet6', bytes);
        expect([...parseAddress(text).bytes]).toEqual([...bytes]);
        expect(canonicalAddress(text)).toBe(text);
      }),
    );
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 4, maxLength: 4 }), (bytes) => {
        const text = formatAddress('inet', bytes);
        expect([...parseAddress(text).bytes.subarray(0, 4)]).toEqual([...bytes]);
      }),
    );
  });

  it('converts netmasks and prefixes', () => {
    expect(netmaskToPrefix('255.255.255.0')).toBe(24);
    expect(netmaskToPrefix('0.0.0.0')).toBe(0);
    expect(netmaskToPrefix('255.255.255.255')).toBe(32);
    expect(() => netmaskToPrefix('255.0.255.0')).toThrow(AddressError);
    for (let p = 0; p <= 32; p++) expect(netmaskToPrefix(prefixToNetmask(p))).toBe(p);
  });
});

describe('specialAddressKind (addresses no Service or endpoint may use)', () => {
  it.each([
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['::', 'unspecified'],
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['::1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['169.254.169.254', 'link-local'],
    ['fe80::1', 'link-local'],
    ['febf::1', 'link-local'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['ff02::1', 'multicast'],
    ['ff05::2', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['::ffff:169.254.169.254', 'link-local'],
  ])('%s is %s', (addr, kind) => {
    expect(specialAddressKind(addr)).toBe(kind);
  });

  it.each(['10.96.0.10', '192.168.1.1', '1.1.1.1', '223.255.255.255', '240.0.0.1', '2001:db8::1', 'fec0::1', 'fd00::5', '::2', '::ffff:10.0.0.1', 'not an address'])(
    '%s is ordinary (or not an address)',
    (addr) => {
      expect(specialAddressKind(addr)).toBeUndefined();
    },
  );
});
