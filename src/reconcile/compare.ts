import { compareAddresses } from '../address/address.ts';
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
