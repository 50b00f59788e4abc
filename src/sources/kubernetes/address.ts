import { isIPv4, isIPv6 } from 'node:net';
import type { Family } from '../../ipvs/types.ts';

// Kubernetes objects carry addresses as the user typed them ("2001:DB8::0:1"); the desired
// state wants them canonical (RFC 5952) so that keys compare equal to what the kernel dumps.

export interface CanonicalAddress {
  family: Family;
  address: string;
}

/** Canonical form of an IP literal, or undefined when it is not one (zone ids and prefixes are refused). */
export function canonicalAddress(raw: string): CanonicalAddress | undefined {
  if (isIPv4(raw)) return { family: 'inet', address: raw };
  if (!isIPv6(raw) || raw.includes('%')) return undefined;
  // The WHATWG URL serializer compresses the first longest zero run and lower-cases: RFC 5952.
  const host = new URL(`http://[${raw}]/`).hostname;
  return { family: 'inet6', address: host.slice(1, -1) };
}

/** A string whose order is the addresses' numeric order (IPv4 before IPv6), so output is stable and readable. */
export function addressSortKey(address: string): string {
  if (!address.includes(':')) {
    return '4' + address.split('.').map((o) => o.padStart(3, '0')).join('.');
  }
  const [head, tail = ''] = address.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === '' ? [] : tail.split(':');
  const groups = address.includes('::') ? [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  return '6' + groups.map((g) => g.padStart(4, '0')).join(':');
}
