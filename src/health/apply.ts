import { destinationKeyString, serviceKeyString } from '../ipvs/keys.ts';
import type { DesiredState } from '../model/types.ts';
import type { HealthTarget } from './types.ts';

// Health feeds the desired state: a down backend becomes weight 0 (stays in the Maglev table with
// mh's last-weight rule, new flows fall over) or is left out (the reconciler then drains and deletes it).

export function healthTargetId(target: Pick<HealthTarget, 'service' | 'destination'>): string {
  return `${serviceKeyString(target.service)} -> ${destinationKeyString(target.destination)}`;
}

export function applyHealth(desired: DesiredState, targets: readonly HealthTarget[], isDown: (id: string) => boolean): DesiredState {
  const byId = new Map<string, HealthTarget>();
  for (const t of targets) if (isDown(t.id)) byId.set(t.id, t);
  if (byId.size === 0) return desired;
  return {
    services: desired.services.map((svc) => {
      const prefix = `${serviceKeyString(svc.key)} -> `;
      const destinations = [];
      for (const d of svc.destinations) {
        const down = byId.get(prefix + destinationKeyString(d.key));
        if (down === undefined) destinations.push(d);
        else if (down.check.onFailure === 'weight0') destinations.push({ key: d.key, config: { ...d.config, weight: 0 } });
      }
      return { ...svc, destinations };
    }),
  };
}
