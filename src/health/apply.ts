import { destinationKeyString, serviceKeyId, serviceKeyString } from '../ipvs/keys.ts';
import type { DesiredDestination, DesiredService, DesiredState } from '../model/types.ts';
import type { HealthTarget } from './types.ts';

// Health feeds the desired state: a down backend becomes weight 0 (stays in the Maglev table with
// mh's last-weight rule, new flows fall over) or is left out (the reconciler then drains and deletes it).

export function healthTargetId(target: Pick<HealthTarget, 'service' | 'destination'>): string {
  return `${serviceKeyString(target.service)} -> ${destinationKeyString(target.destination)}`;
}

/**
 * The desired state with down backends applied. A service none of whose destinations is down keeps its
 * object (and so does the state when nothing is down): the reconciler's event-driven sync recognises unchanged
 * services by identity, so one down backend costs one service's plan, not all of them.
 */
export function applyHealth(desired: DesiredState, targets: readonly HealthTarget[], isDown: (id: string) => boolean): DesiredState {
  // Down targets by service, then by destination: looked up by key, never by matching id strings.
  const down = new Map<string, Map<string, HealthTarget>>();
  for (const t of targets) {
    if (!isDown(t.id)) continue;
    const service = serviceKeyId(t.service);
    let byDestination = down.get(service);
    if (byDestination === undefined) {
      byDestination = new Map();
      down.set(service, byDestination);
    }
    byDestination.set(destinationKeyString(t.destination), t);
  }
  if (down.size === 0) return desired;
  let changed = false;
  const services = desired.services.map((svc) => {
    const byDestination = down.get(serviceKeyId(svc.key));
    const next = byDestination === undefined ? svc : withDown(svc, byDestination);
    if (next !== svc) changed = true;
    return next;
  });
  return changed ? { ...desired, services } : desired;
}

function withDown(svc: DesiredService, down: ReadonlyMap<string, HealthTarget>): DesiredService {
  const destinations: DesiredDestination[] = [];
  let changed = false;
  for (const d of svc.destinations) {
    const target = down.get(destinationKeyString(d.key));
    if (target === undefined) destinations.push(d);
    else if (target.check.onFailure === 'weight0') {
      destinations.push({ key: d.key, config: { ...d.config, weight: 0 } });
      changed = true;
    } else changed = true;
  }
  return changed ? { ...svc, destinations } : svc;
}
