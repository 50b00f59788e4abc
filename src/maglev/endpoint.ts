// Validation shared by both flavours: a destination is an address, a port and integer weights.

import { type ParsedAddress, formatEndpoint, parseAddress } from './address.ts';
import { MaglevError } from './errors.ts';

export interface ValidEndpoint {
  readonly address: ParsedAddress;
  readonly port: number;
  readonly key: string;
}

export function validateEndpoint(address: string, port: number, what: string): ValidEndpoint {
  let parsed: ParsedAddress;
  try {
    parsed = parseAddress(address);
  } catch (err) {
    if (err instanceof MaglevError) throw new MaglevError('BAD_ADDRESS', `${what}: ${err.message}`);
    throw err;
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new MaglevError('BAD_PORT', `${what}: port must be an integer 0..65535, got ${String(port)}`);
  }
  return { address: parsed, port, key: formatEndpoint(parsed, port) };
}

export function validateWeight(weight: unknown, max: number, what: string): number {
  if (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 0 || weight > max) {
    throw new MaglevError('BAD_WEIGHT', `${what}: weight must be an integer 0..${max}, got ${String(weight)}`);
  }
  return weight;
}

/** Refuses two entries with the same address:port and mixed address families. */
export function checkDistinct(endpoints: readonly ValidEndpoint[]): void {
  const seen = new Set<string>();
  for (const e of endpoints) {
    if (seen.has(e.key)) throw new MaglevError('DUPLICATE_BACKEND', `destination ${e.key} is listed twice`);
    seen.add(e.key);
  }
  if (endpoints.length > 0) {
    const family = endpoints[0].address.family;
    const other = endpoints.find((e) => e.address.family !== family);
    if (other) {
      throw new MaglevError('MIXED_FAMILY', `${endpoints[0].key} and ${other.key} are of different address families`);
    }
  }
}
