import type { DestinationKey, ServiceKey } from '../ipvs/types.ts';
import { destinationKeyString, serviceKeyId } from '../ipvs/keys.ts';

export { destinationConfigEqual, serviceConfigEqual } from '../model/equal.ts';

/** Map key of a drain record. */
export function drainKey(service: string, destination: string): string {
  return `${service} -> ${destination}`;
}

/** Map key of a service: its serviceKeyString, remembered per key object. */
export function svcId(key: ServiceKey): string {
  return serviceKeyId(key);
}

export function destId(key: DestinationKey): string {
  return destinationKeyString(key);
}

/** Address of an address-keyed service, undefined for fwmark services. */
export function serviceAddress(key: ServiceKey): string | undefined {
  return key.kind === 'addr' ? key.address : undefined;
}

/**
 * Total order on destinations (family, address bytes, port). New destinations are added in this order, so
 * every node adding the same set from scratch ends up with the same kernel list and the same `mh` table.
 */
export function compareDestinationKeys(a: DestinationKey, b: DestinationKey): number {
  if (a.family !== b.family) return a.family === 'inet' ? -1 : 1;
  const c = compareAddresses(a.address, b.address);
  return c !== 0 ? c : a.port - b.port;
}

function compareAddresses(a: string, b: string): number {
  if (a === b) return 0;
  const wa = addressWords(a);
  const wb = addressWords(b);
  for (let i = 0; i < wa.length && i < wb.length; i++) {
    if (wa[i] !== wb[i]) return wa[i] - wb[i];
  }
  return wa.length - wb.length || (a < b ? -1 : 1);
}

function addressWords(address: string): number[] {
  if (!address.includes(':')) return address.split('.').map((p) => Number(p));
  const [head, tail] = address.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined ? (tail ? tail.split(':') : []) : [];
  const out: number[] = [];
  for (const g of h) out.push(Number.parseInt(g, 16) || 0);
  if (tail !== undefined) for (let i = h.length + t.length; i < 8; i++) out.push(0);
  for (const g of t) out.push(Number.parseInt(g, 16) || 0);
  return out;
}
