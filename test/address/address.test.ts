import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AddressError, addressOrderKey, canonicalAddress, canonicalize, compareAddresses, formatAddress, isIpv4Netmask, isAddress, netmaskToPrefix, parseAddress, parseIPv4Word, prefixToNetmask, specialAddressKind } from '../../src/address/address.ts';

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

describe('the one address module: what every layer shares', () => {
  it('canonicalize gives family and canonical text, or undefined for anything that is not a bare address', () => {
    expect(canonicalize('10.0.0.1')).toEqual({ family: 'inet', address: '10.0.0.1' });
    expect(canonicalize('2001:DB8:0::1')).toEqual({ family: 'inet6', address: '2001:db8::1' });
    // The case the file source and the model used to disagree on: one form, as the kernel's dump is printed.
    for (const mapped of ['::ffff:10.0.0.1', '::FFFF:a00:1', '0:0:0:0:0:ffff:10.0.0.1', '::ffff:0a00:0001']) {
      expect(canonicalize(mapped), mapped).toEqual({ family: 'inet6', address: '::ffff:10.0.0.1' });
      expect(canonicalAddress(mapped)).toBe('::ffff:10.0.0.1');
    }
    for (const bad of ['', 'fe80::1%eth0', '10.0.0.1/32', '[::1]', '010.0.0.1', 'example.com']) expect(canonicalize(bad), bad).toBeUndefined();
  });

  it('canonicalize agrees with parse + format on random addresses (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (text) => {
        const p = parseAddress(text);
        expect(canonicalize(text)).toEqual({ family: p.family, address: formatAddress(p.family, p.bytes) });
      }),
    );
  });

  it('parseIPv4Word is the dotted quad as an unsigned number, -1 otherwise', () => {
    expect(parseIPv4Word('10.0.0.1')).toBe(0x0a000001);
    expect(parseIPv4Word('255.255.255.255')).toBe(0xffffffff);
    for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.0.0.1', '01.2.3.4', '1.2.3.4 ', '::1']) expect(parseIPv4Word(bad), bad).toBe(-1);
  });

  it('compareAddresses: IPv4 before IPv6, then numeric (not text) order; addressOrderKey sorts the same', () => {
    const sorted = ['10.0.0.2', '10.0.0.10', '192.168.0.1', '::1', '::ffff:10.0.0.1', '2001:db8::2', '2001:db8::10'];
    const shuffled = [...sorted].reverse();
    expect([...shuffled].sort(compareAddresses)).toEqual(sorted);
    expect([...shuffled].sort((a, b) => (addressOrderKey(a) < addressOrderKey(b) ? -1 : 1))).toEqual(sorted);
    expect(compareAddresses('2001:db8::1', '2001:DB8:0::1')).not.toBe(0); // texts differ: only canonical text is compared equal
    expect(compareAddresses('10.0.0.1', 'not an address')).toBeLessThan(0);
  });

  it('isIpv4Netmask accepts contiguous dotted masks only', () => {
    expect(['255.255.255.255', '255.255.255.0', '0.0.0.0', '255.128.0.0'].map(isIpv4Netmask)).toEqual([true, true, true, true]);
    expect(['255.0.255.0', '255.255.255.1', '::', '24', '255.255.255'].map(isIpv4Netmask)).toEqual([false, false, false, false, false]);
  });
});

