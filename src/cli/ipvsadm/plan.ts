import type { IpvsOperation } from '../../ipvs/client.ts';
import { destinationKeyString, serviceKeyString } from '../../ipvs/keys.ts';
import type { Destination, IpvsTimeouts, Service, ServiceKey } from '../../ipvs/types.ts';
import type { ServiceWithDestinations } from './format.ts';
import type { RestoreOp } from './parse.ts';

// Restore is all-or-nothing. Before anything is sent, the operations are played against a copy
// of the current table with the kernel's rules (EEXIST, ESRCH, ENOENT, ERANGE), so a file that
// would fail half-way is refused whole, naming its line. Each step carries its inverse, so if
// the kernel still refuses something (an unknown scheduler, an unroutable destination) the
// steps already applied can be undone.

export class RestoreConflictError extends Error {
  readonly code = 'RESTORE_CONFLICT';
  readonly line: number;
  constructor(line: number, message: string) {
    super(`line ${line}: ${message}`);
    this.name = 'RestoreConflictError';
    this.line = line;
  }
}

export type RestoreStep =
  | { kind: 'write'; line: number; op: IpvsOperation; undo: IpvsOperation[] }
  | { kind: 'zero'; line: number; service?: ServiceKey }
  | { kind: 'timeouts'; line: number; timeouts: IpvsTimeouts; undo: IpvsTimeouts };

interface ModelService {
  service: Service;
  dests: Map<string, Destination>;
}

function restoreOps(m: ModelService): IpvsOperation[] {
  const ops: IpvsOperation[] = [{ op: 'addService', service: m.service.key, config: m.service.config }];
  // Re-add in reverse so the kernel's newest-first list comes back in its original order.
  for (const d of [...m.dests.values()].reverse()) ops.push({ op: 'addDestination', service: m.service.key, destination: d.key, config: d.config });
  return ops;
}

/**
 * Checks every operation against `current` (and the current timeouts) and returns the steps
 * to apply, each with its undo. Throws RestoreConflictError for the first operation the kernel
 * would refuse.
 */
export function planRestore(ops: RestoreOp[], current: ServiceWithDestinations[], timeouts: IpvsTimeouts): RestoreStep[] {
  const model = new Map<string, ModelService>();
  for (const e of current) {
    model.set(serviceKeyString(e.service.key), { service: e.service, dests: new Map(e.destinations.map((d) => [destinationKeyString(d.key), d])) });
  }
  let liveTimeouts = timeouts;
  const steps: RestoreStep[] = [];
  const need = (line: number, key: ServiceKey): ModelService => {
    const m = model.get(serviceKeyString(key));
    if (!m) throw new RestoreConflictError(line, `no such service ${serviceKeyString(key)}`);
    return m;
  };
  for (const op of ops) {
    switch (op.op) {
      case 'addService': {
        const k = serviceKeyString(op.key);
        if (model.has(k)) throw new RestoreConflictError(op.line, `service ${k} already exists`);
        model.set(k, { service: { key: op.key, config: op.config }, dests: new Map() });
        steps.push({ kind: 'write', line: op.line, op: { op: 'addService', service: op.key, config: op.config }, undo: [{ op: 'deleteService', service: op.key }] });
        break;
      }
      case 'editService': {
        const m = need(op.line, op.key);
        const old = m.service.config;
        m.service = { key: m.service.key, config: op.config };
        steps.push({
          kind: 'write',
          line: op.line,
          op: { op: 'updateService', service: op.key, config: op.config },
          undo: [{ op: 'updateService', service: op.key, config: old }],
        });
        break;
      }
      case 'deleteService': {
        const m = need(op.line, op.key);
        model.delete(serviceKeyString(op.key));
        steps.push({ kind: 'write', line: op.line, op: { op: 'deleteService', service: op.key }, undo: restoreOps(m) });
        break;
      }
      case 'addDestination':
      case 'editDestination': {
        const m = need(op.line, op.service);
        const dk = destinationKeyString(op.key);
        const old = m.dests.get(dk);
        const what = `destination ${dk} of ${serviceKeyString(op.service)}`;
        if (op.op === 'addDestination' && old) throw new RestoreConflictError(op.line, `${what} already exists`);
        if (op.op === 'editDestination' && !old) throw new RestoreConflictError(op.line, `no such ${what}`);
        if (op.config.lowerThreshold > op.config.upperThreshold) {
          throw new RestoreConflictError(op.line, `${what}: lower threshold ${op.config.lowerThreshold} is above upper threshold ${op.config.upperThreshold} (the kernel refuses it)`);
        }
        m.dests.set(dk, { key: op.key, config: op.config });
        if (op.op === 'addDestination') {
          steps.push({
            kind: 'write',
            line: op.line,
            op: { op: 'addDestination', service: op.service, destination: op.key, config: op.config },
            undo: [{ op: 'deleteDestination', service: op.service, destination: op.key }],
          });
        } else {
          steps.push({
            kind: 'write',
            line: op.line,
            op: { op: 'updateDestination', service: op.service, destination: op.key, config: op.config },
            undo: [{ op: 'updateDestination', service: op.service, destination: op.key, config: old!.config }],
          });
        }
        break;
      }
      case 'deleteDestination': {
        const m = need(op.line, op.service);
        const dk = destinationKeyString(op.key);
        const old = m.dests.get(dk);
        if (!old) throw new RestoreConflictError(op.line, `no such destination ${dk} of ${serviceKeyString(op.service)}`);
        m.dests.delete(dk);
        steps.push({
          kind: 'write',
          line: op.line,
          op: { op: 'deleteDestination', service: op.service, destination: op.key },
          undo: [{ op: 'addDestination', service: op.service, destination: old.key, config: old.config }],
        });
        break;
      }
      case 'flush':
        // -C: one deletion per service, each undoable, instead of a FLUSH that cannot be.
        for (const m of model.values()) {
          steps.push({ kind: 'write', line: op.line, op: { op: 'deleteService', service: m.service.key }, undo: restoreOps(m) });
        }
        model.clear();
        break;
      case 'zero':
        if (op.service) need(op.line, op.service);
        steps.push({ kind: 'zero', line: op.line, service: op.service });
        break;
      case 'setTimeouts':
        steps.push({ kind: 'timeouts', line: op.line, timeouts: op.timeouts, undo: liveTimeouts });
        liveTimeouts = {
          tcp: op.timeouts.tcp || liveTimeouts.tcp,
          tcpFin: op.timeouts.tcpFin || liveTimeouts.tcpFin,
          udp: op.timeouts.udp || liveTimeouts.udp,
        };
        break;
    }
  }
  return steps;
}
