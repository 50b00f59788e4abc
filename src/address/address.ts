// The one definition of an IP address for every layer (maglev, ipvs, model, reconcile, the sources,
// the CLI): parse an IPv4/IPv6 string into the 16-byte form the kernel uses (IPv4 in the first 4
// bytes), format it back in the canonical text form (IPv4 dotted quad; IPv6 RFC 5952: lower case,
// longest zero run compressed, IPv4-mapped as ::ffff:a.b.c.d, which is also how the kernel's
// addresses are printed back to us), order addresses, and classify the special ones. Pure: no I/O,
// imports nothing, so the lowest layers can use it.

export type Family = 'inet' | 'inet6';

export class AddressError extends Error {
  readonly code = 'INVALID_ADDRESS';
  constructor(message: string) {
    super(message);
    this.name = 'AddressError';
  }
}

export interface ParsedAddress {
  family: Family;
  /** 16 bytes; IPv4 occupies the first 4, the rest is zero. */
  bytes: Uint8Array;
}

const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

/**
 * A dotted-quad IPv4 address as an unsigned 32-bit number, or -1 when `text` is not one. Allocates
 * nothing: the Maglev table builds call it once per destination. Accepted text is always canonical
 * (leading zeros are refused: some parsers read them as octal, so their meaning is ambiguous).
 */
export function parseIPv4Word(text: string): number {
  let word = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 46 /* . */) {
      if (digits === 0 || dots === 3) return -1;
      word = word * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (ch >= 48 && ch <= 57) {
      if (digits === 1 && octet === 0) return -1;
      octet = octet * 10 + (ch - 48);
      if (octet > 255) return -1;
      digits++;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || digits === 0) return -1;
  return word * 256 + octet;
}

function parseIpv4Into(text: string, out: Uint8Array, offset: number): boolean {
  const word = parseIPv4Word(text);
  if (word < 0) return false;
  out[offset] = word >>> 24;
  out[offset + 1] = (word >>> 16) & 0xff;
  out[offset + 2] = (word >>> 8) & 0xff;
  out[offset + 3] = word & 0xff;
  return true;
}

function parseIpv6Into(text: string, out: Uint8Array): boolean {
  if (text.length === 0 || text.length > 45) return false;
  const doubleColon = text.indexOf('::');
  if (doubleColon !== -1 && text.indexOf('::', doubleColon + 1) !== -1) return false;
  const groups: number[] = [];
  const parseSide = (side: string, allowV4Tail: boolean): number[] | undefined => {
    if (side === '') return [];
    const parts = side.split(':');
    const words: number[] = [];
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      if (allowV4Tail && i === parts.length - 1 && p.includes('.')) {
        const v4 = new Uint8Array(4);
        if (!parseIpv4Into(p, v4, 0)) return undefined;
        words.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else {
        if (!HEX_GROUP.test(p)) return undefined;
        words.push(Number.parseInt(p, 16));
      }
    }
    return words;
  };
  if (doubleColon === -1) {
    const all = parseSide(text, true);
    if (all?.length !== 8) return false;
    groups.push(...all);
  } else {
    const head = parseSide(text.slice(0, doubleColon), false);
    const tail = parseSide(text.slice(doubleColon + 2), true);
    if (!head || !tail || head.length + tail.length > 7) return false;
    groups.push(...head);
    for (let i = head.length + tail.length; i < 8; i++) groups.push(0);
    groups.push(...tail);
  }
  for (let i = 0; i < 8; i++) {
    out[i * 2] = groups[i] >> 8;
    out[i * 2 + 1] = groups[i] & 0xff;
  }
  return true;
}

/** Parses an IPv4 or IPv6 address (no brackets, no prefix, no zone). Throws AddressError. */
export function parseAddress(text: string): ParsedAddress {
  const bytes = new Uint8Array(16);
  if (text.includes(':')) {
    if (parseIpv6Into(text, bytes)) return { family: 'inet6', bytes };
  } else if (parseIpv4Into(text, bytes, 0)) {
    return { family: 'inet', bytes };
  }
  throw new AddressError(`invalid IP address: ${JSON.stringify(text)}`);
}

/** The family of a valid address, or undefined when the text is not an address. */
export function addressFamily(text: string): Family | undefined {
  try {
    return parseAddress(text).family;
  } catch {
    return undefined;
  }
}

export function isAddress(text: string, family?: Family): boolean {
  const f = addressFamily(text);
  return f !== undefined && (family === undefined || f === family);
}

/** Formats 4 (IPv4) or 16 bytes of `bytes` starting at `offset` in canonical text form. */
export function formatAddress(family: Family, bytes: Uint8Array, offset = 0): string {
  if (family === 'inet') {
    return `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`;
  }
  const words = new Array<number>(8);
  for (let i = 0; i < 8; i++) words[i] = (bytes[offset + i * 2] << 8) | bytes[offset + i * 2 + 1];
  if (words[0] === 0 && words[1] === 0 && words[2] === 0 && words[3] === 0 && words[4] === 0 && words[5] === 0xffff) {
    return `::ffff:${bytes[offset + 12]}.${bytes[offset + 13]}.${bytes[offset + 14]}.${bytes[offset + 15]}`;
  }
  // RFC 5952: compress the longest run (first one on ties) of two or more zero groups.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number): string => {
    let s = '';
    for (let i = from; i < to; i++) s += (i > from ? ':' : '') + words[i].toString(16);
    return s;
  };
  if (bestStart === -1) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLen, 8)}`;
}

/** The canonical text form of any valid address ("2001:DB8:0::1" -> "2001:db8::1"). */
export function canonicalAddress(text: string): string {
  const { family, bytes } = parseAddress(text);
  return formatAddress(family, bytes);
}

/**
 * The IPv4 address inside an IPv4-mapped IPv6 address in canonical form ("::ffff:10.0.0.1" -> "10.0.0.1"),
 * else undefined. The kernel refuses these as IPVS destinations (ip_vs_new_dest wants a unicast IPv6
 * address and ipv6_addr_type() calls them MAPPED, not UNICAST), so every source refuses them first.
 */
export function mappedIpv4(canonical: string): string | undefined {
  return canonical.startsWith('::ffff:') && canonical.includes('.') ? canonical.slice(7) : undefined;
}

export interface CanonicalAddress {
  family: Family;
  address: string;
}

/**
 * The family and canonical text of an address as a user or an API object wrote it, or undefined when
 * it is not one (zone ids, prefixes and brackets are refused). The sources call it once per address.
 */
export function canonicalize(text: string): CanonicalAddress | undefined {
  // IPv4 first and without allocation: accepted dotted quads are already canonical.
  if (!text.includes(':')) return parseIPv4Word(text) < 0 ? undefined : { family: 'inet', address: text };
  const bytes = new Uint8Array(16);
  if (!parseIpv6Into(text, bytes)) return undefined;
  return { family: 'inet6', address: formatAddress('inet6', bytes) };
}

/**
 * Total order on addresses: IPv4 before IPv6, then numerically by bytes. Text that is not an address
 * sorts after every address, by its text, so the order stays total.
 */
export function compareAddresses(a: string, b: string): number {
  if (a === b) return 0;
  // IPv4 pairs (nearly every destination list) without allocating.
  const wa = parseIPv4Word(a);
  const wb = parseIPv4Word(b);
  if (wa >= 0 && wb >= 0) return wa - wb;
  const ka = addressOrderKey(a);
  const kb = addressOrderKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : a < b ? -1 : 1;
}

/** A string whose order is compareAddresses' order, for sorting many addresses with one parse each. */
export function addressOrderKey(text: string): string {
  let parsed: ParsedAddress;
  try {
    parsed = parseAddress(text);
  } catch {
    return `9${text}`;
  }
  const n = parsed.family === 'inet' ? 4 : 16;
  let key = parsed.family === 'inet' ? '4' : '6';
  for (let i = 0; i < n; i++) key += parsed.bytes[i].toString(16).padStart(2, '0');
  return key;
}

/** 16-byte kernel form of an address that must be of `family`. */
export function addressBytes(text: string, family: Family): Uint8Array {
  const parsed = parseAddress(text);
  if (parsed.family !== family) {
    throw new AddressError(`address ${text} is not ${family === 'inet' ? 'IPv4' : 'IPv6'}`);
  }
  return parsed.bytes;
}

/** IPv4 netmask "255.255.255.0" <-> prefix length 24; throws on non-contiguous masks. */
export function netmaskToPrefix(mask: string): number {
  const { family, bytes } = parseAddress(mask);
  if (family !== 'inet') throw new AddressError(`invalid IPv4 netmask: ${mask}`);
  const v = ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0;
  let n = 0;
  while (n < 32 && (v & (0x80000000 >>> n)) !== 0) n++;
  if (((v << n) >>> 0) !== 0 && n < 32) throw new AddressError(`non-contiguous netmask: ${mask}`);
  return n;
}

/** A contiguous IPv4 netmask in dotted form ("255.255.255.0"). */
export function isIpv4Netmask(text: string): boolean {
  try {
    netmaskToPrefix(text);
    return true;
  } catch {
    return false;
  }
}

export function prefixToNetmask(prefix: number): string {
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32) throw new AddressError(`invalid IPv4 prefix length: ${prefix}`);
  const v = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return `${v >>> 24}.${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`;
}

/** Addresses that are never a Service's or an endpoint's own: refused wherever a source supplies one. */
export type SpecialAddressKind = 'unspecified' | 'loopback' | 'link-local' | 'multicast' | 'broadcast';

/**
 * What is special about an address (as Kubernetes' ValidateEndpointIP, plus all multicast and the IPv4
 * broadcast address), or undefined for an ordinary unicast address or text that is not an address.
 * IPv4-mapped IPv6 (::ffff:a.b.c.d) is judged by its IPv4 address.
 */
export function specialAddressKind(text: string): SpecialAddressKind | undefined {
  if (!text.includes(':')) {
    // IPv4 (the common case, once per endpoint): no bytes built.
    const w = parseIPv4Word(text);
    if (w < 0) return undefined;
    return ipv4Kind(w >>> 24, (w >>> 16) & 0xff, w === 0xffffffff);
  }
  let parsed: ParsedAddress;
  try {
    parsed = parseAddress(text);
  } catch {
    return undefined;
  }
  const b = parsed.bytes;
  if (b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) return ipv4Kind(b[12], b[13], b[12] === 255 && b[13] === 255 && b[14] === 255 && b[15] === 255);
  if (b.every((x) => x === 0)) return 'unspecified';
  if (b.subarray(0, 15).every((x) => x === 0) && b[15] === 1) return 'loopback';
  if (b[0] === 0xfe && (b[1] & 0xc0) === 0x80) return 'link-local';
  if (b[0] === 0xff) return 'multicast';
  return undefined;
}

function ipv4Kind(a: number, b: number, broadcast: boolean): SpecialAddressKind | undefined {
  if (a === 0) return 'unspecified'; // 0.0.0.0/8: "this network", never a destination
  if (a === 127) return 'loopback';
  if (a === 169 && b === 254) return 'link-local';
  if (a >= 224 && a <= 239) return 'multicast';
  if (broadcast) return 'broadcast';
  return undefined;
}
