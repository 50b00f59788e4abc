// IP address parsing and formatting without allocation-heavy helpers or node:net, so the core
// stays pure. Addresses are held as 32-bit words in network order (IPv4: one word, IPv6: four).

import { MaglevError } from './errors.ts';

export type AddressFamily = 'inet' | 'inet6';

export interface ParsedAddress {
  readonly family: AddressFamily;
  /** Big-endian 32-bit words as unsigned numbers: 1 for IPv4, 4 for IPv6. */
  readonly words: readonly number[];
  /** Canonical text (dotted quad; RFC 5952 for IPv6). */
  readonly text: string;
}

/** Parses an IPv4 or IPv6 address (canonical or not); throws MaglevError BAD_ADDRESS. */
export function parseAddress(input: string): ParsedAddress {
  if (typeof input !== 'string') throw badAddress(String(input));
  const words = input.includes(':') ? parseIPv6Words(input) : parseIPv4Words(input);
  if (words === null) throw badAddress(input);
  if (words.length === 1) return { family: 'inet', words, text: formatIPv4(words[0]) };
  return { family: 'inet6', words, text: formatIPv6(words) };
}

/**
 * The 32-bit value `ip_vs_mh` hashes for an address: the address itself for IPv4, the XOR of the
 * four words for IPv6 (both in host order, i.e. as the numbers here).
 */
export function foldAddress(words: readonly number[]): number {
  if (words.length === 1) return words[0] >>> 0;
  return (words[0] ^ words[1] ^ words[2] ^ words[3]) >>> 0;
}

/** Writes the address bytes (4 or 16, network order) into `out` at `offset`; returns the byte count. */
export function writeAddressBytes(words: readonly number[], out: Uint8Array, offset: number): number {
  let p = offset;
  for (const w of words) {
    out[p++] = w >>> 24;
    out[p++] = (w >>> 16) & 0xff;
    out[p++] = (w >>> 8) & 0xff;
    out[p++] = w & 0xff;
  }
  return p - offset;
}

export function formatIPv4(word: number): string {
  return `${word >>> 24}.${(word >>> 16) & 0xff}.${(word >>> 8) & 0xff}.${word & 0xff}`;
}

export function formatIPv6(words: readonly number[]): string {
  const groups: number[] = [];
  for (const w of words) groups.push(w >>> 16, w & 0xffff);
  // RFC 5952: compress the longest run (>= 2) of zero groups, the first one on a tie.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (g: number): string => g.toString(16);
  if (bestStart < 0) return groups.map(hex).join(':');
  const head = groups.slice(0, bestStart).map(hex).join(':');
  const tail = groups.slice(bestStart + bestLen).map(hex).join(':');
  return `${head}::${tail}`;
}

/** Address text in an endpoint: IPv6 in brackets. */
export function formatEndpoint(address: ParsedAddress, port: number): string {
  return address.family === 'inet6' ? `[${address.text}]:${port}` : `${address.text}:${port}`;
}

function badAddress(input: string): MaglevError {
  return new MaglevError('BAD_ADDRESS', `not an IPv4 or IPv6 address: "${input}"`);
}

const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

/**
 * A dotted-quad IPv4 address as an unsigned 32-bit number, or -1 when `text` is not one. Allocates
 * nothing: the table builds call it once per destination. Accepted text is always canonical
 * (leading zeros are refused), so formatIPv4 of the result gives `text` back.
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
      // Leading zeros are refused: some parsers read them as octal, so their meaning is ambiguous.
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

function parseIPv4Words(text: string): number[] | null {
  const word = parseIPv4Word(text);
  return word < 0 ? null : [word];
}

function parseIPv6Words(text: string): number[] | null {
  if (text.length > 45) return null;
  const doubleColon = text.indexOf('::');
  if (doubleColon !== text.lastIndexOf('::')) return null;
  const groups: number[] = [];
  const parseSide = (side: string, allowTrailingIPv4: boolean): number[] | null => {
    if (side === '') return [];
    const parts = side.split(':');
    const out: number[] = [];
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      if (allowTrailingIPv4 && i === parts.length - 1 && part.includes('.')) {
        const v4 = parseIPv4Words(part);
        if (v4 === null) return null;
        out.push(v4[0] >>> 16, v4[0] & 0xffff);
      } else {
        if (!HEX_GROUP.test(part)) return null;
        out.push(Number.parseInt(part, 16));
      }
    }
    return out;
  };
  if (doubleColon < 0) {
    const all = parseSide(text, true);
    if (all === null || all.length !== 8) return null;
    groups.push(...all);
  } else {
    const head = parseSide(text.slice(0, doubleColon), false);
    const tail = parseSide(text.slice(doubleColon + 2), true);
    if (head === null || tail === null) return null;
    const missing = 8 - head.length - tail.length;
    if (missing < 1) return null;
    groups.push(...head);
    for (let i = 0; i < missing; i++) groups.push(0);
    groups.push(...tail);
  }
  const words: number[] = [];
  for (let i = 0; i < 8; i += 2) words.push(((groups[i] << 16) | groups[i + 1]) >>> 0);
  return words;
}
