import type { DestinationConfig, ServiceConfig } from '../ipvs/types.ts';
import { destinationKeyString, serviceKeyString } from '../ipvs/keys.ts';
import type { DesiredService } from './types.ts';

// Equality of runtime configs as the kernel stores them. Fields the kernel always reports (tunnel type 0,
// port 0, flags 0, empty persistence engine, flags false) compare equal to "unset", so a desired state that
// omits them is not re-applied on every sync.

export function serviceConfigEqual(a: ServiceConfig, b: ServiceConfig): boolean {
  return (
    a.scheduler === b.scheduler &&
    a.timeout === b.timeout &&
    a.netmask === b.netmask &&
    (a.persistenceEngine ?? '') === (b.persistenceEngine ?? '') &&
    !!a.flags.persistent === !!b.flags.persistent &&
    !!a.flags.onePacket === !!b.flags.onePacket &&
    !!a.flags.fallback === !!b.flags.fallback &&
    !!a.flags.portHash === !!b.flags.portHash &&
    !!a.flags.sched3 === !!b.flags.sched3
  );
}

export function destinationConfigEqual(a: DestinationConfig, b: DestinationConfig): boolean {
  return (
    a.forwarding === b.forwarding &&
    a.weight === b.weight &&
    a.upperThreshold === b.upperThreshold &&
    a.lowerThreshold === b.lowerThreshold &&
    (a.tunnelType ?? 'ipip') === (b.tunnelType ?? 'ipip') &&
    (a.tunnelPort ?? 0) === (b.tunnelPort ?? 0) &&
    (a.tunnelFlags ?? 0) === (b.tunnelFlags ?? 0)
  );
}

/** Same kernel-visible meaning (destination order is irrelevant: the reconciler adds in canonical order). */
export function desiredServiceEqual(a: DesiredService, b: DesiredService): boolean {
  if (a === b) return true;
  if (serviceKeyString(a.key) !== serviceKeyString(b.key) || a.key.family !== b.key.family) return false;
  if (a.name !== b.name || a.bindAddress !== b.bindAddress || !serviceConfigEqual(a.config, b.config)) return false;
  const n = a.destinations.length;
  if (n !== b.destinations.length) return false;
  // Fast path: same destinations in the same order (the usual case for a rebuilt but unchanged state).
  let i = 0;
  for (; i < n; i++) {
    const x = a.destinations[i];
    const y = b.destinations[i];
    if (x.key.address !== y.key.address || x.key.port !== y.key.port || x.key.family !== y.key.family) break;
    if (!destinationConfigEqual(x.config, y.config)) return false;
  }
  if (i === n) return true;
  const byKey = new Map<string, DestinationConfig>();
  for (const d of a.destinations) byKey.set(destinationKeyString(d.key), d.config);
  for (const d of b.destinations) {
    const c = byKey.get(destinationKeyString(d.key));
    if (!c || !destinationConfigEqual(c, d.config)) return false;
  }
  return true;
}
