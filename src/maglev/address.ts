// Maglev's view of an address: the 32-bit words (network order) the hashes consume. Parsing and the
// canonical text come from the one address module; this file only adds the word form.

import { formatAddress, type Family, parseAddress as parseAddressBytes, parseIPv4Word } from '../address/address.ts';
import { MaglevError } from './errors.ts';

export { parseIPv4Word };
export type AddressFamily = Family;

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
  let parsed: ReturnType<typeof parseAddressBytes>;
  try {
    parsed = parseAddressBytes(input);
  } catch {
    throw badAddress(input);
  }
  const { family, bytes } = parsed;
  const words: number[] = [];
  for (let i = 0; i < (family === 'inet' ? 4 : 16); i += 4) {
    words.push(((bytes[i] << 24) | (bytes[i + 1] << 16) | (bytes[i + 2] << 8) | bytes[i + 3]) >>> 0);
  }
  return { family, words, text: formatAddress(family, bytes) };
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

/** Address text in an endpoint: IPv6 in brackets. */
export function formatEndpoint(address: ParsedAddress, port: number): string {
  return address.family === 'inet6' ? `[${address.text}]:${port}` : `${address.text}:${port}`;
}

function badAddress(input: string): MaglevError {
  return new MaglevError('BAD_ADDRESS', `not an IPv4 or IPv6 address: "${input}"`);
}
