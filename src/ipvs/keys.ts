import type { DestinationKey, ServiceKey } from './types.ts';

// Canonical string forms of identities, used as map keys and in messages.
// They match ipvsadm's notation: "tcp 10.0.0.1:80", "fwmark 7", "[2001:db8::1]:80".

export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

export function serviceKeyString(key: ServiceKey): string {
  if (key.kind === 'fwmark') return `fwmark ${key.fwmark}${key.family === 'inet6' ? ' inet6' : ''}`;
  return `${key.protocol} ${hostPort(key.address, key.port)}`;
}

const keyIds = new WeakMap<ServiceKey, string>();

/**
 * serviceKeyString, remembered per key object: keys are values (never mutated once built), and the sync path
 * asks for the same 10,000 keys again on every sync; building and hashing fresh strings was most of its cost.
 */
export function serviceKeyId(key: ServiceKey): string {
  let id = keyIds.get(key);
  if (id === undefined) {
    id = serviceKeyString(key);
    keyIds.set(key, id);
  }
  return id;
}

export function destinationKeyString(key: DestinationKey): string {
  return hostPort(key.address, key.port);
}
