import { destinationKeyString, serviceKeyString } from '../../ipvs/keys.ts';
import type { Destination, IpvsOperation, IpvsTimeouts, Service, ServiceKey } from '../../ipvs/types.ts';
import { destinationConfigEqual, serviceConfigEqual } from '../../model/equal.ts';
import type { ServiceWithDestinations } from './format.ts';
import type { RestoreOp } from './parse.ts';

// Restore is all-or-nothing. Before anything is sent, the operations are played against a copy
// of the current table with the kernel's rules (EEXIST, ESRCH, ENOENT, ERANGE), so a file that
// would fail half-way is refused whole, naming its line. Each step carries its inverse, so if
// the kernel still refuses something (an unknown scheduler, an unroutable destination) the
// steps already applied can be undone. Zeroing counters (-Z) cannot be undone, so the zero steps
// come last, after every rule took effect: a rolled-back restore never zeroed anything.

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
  const zeros: Extract<RestoreStep, { kind: 'zero' }>[] = [];
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
        zeros.push({ kind: 'zero', line: op.line, service: op.service });
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
  // Deferred zeros: a service the file deletes afterwards takes its counters with it (nothing to zero);
  // one deleted and added again is new, its counters start at zero anyway.
  for (const z of zeros) if (!z.service || model.has(serviceKeyString(z.service))) steps.push(z);
  return steps;
}

/**
 * The writes that turn table `now` back into `before` (a rollback by comparison, when which writes landed is
 * unknown). Destinations come back as sets: one re-added goes to the head of the kernel's list, so the
 * order an `mh` table is built from can differ from before.
 */
export function tableRepairOps(before: readonly ServiceWithDestinations[], now: readonly ServiceWithDestinations[]): IpvsOperation[] {
  const ops: IpvsOperation[] = [];
  const was = new Map(before.map((e) => [serviceKeyString(e.service.key), e]));
  const is = new Map(now.map((e) => [serviceKeyString(e.service.key), e]));
  for (const [k, e] of is) if (!was.has(k)) ops.push({ op: 'deleteService', service: e.service.key });
  for (const [k, b] of was) {
    const n = is.get(k);
    const service = b.service.key;
    if (!n) {
      ops.push(...restoreOps({ service: b.service, dests: new Map(b.destinations.map((d) => [destinationKeyString(d.key), d])) }));
      continue;
    }
    if (!serviceConfigEqual(n.service.config, b.service.config)) ops.push({ op: 'updateService', service, config: b.service.config });
    const wasDests = new Map(b.destinations.map((d) => [destinationKeyString(d.key), d]));
    const isDests = new Map(n.destinations.map((d) => [destinationKeyString(d.key), d]));
    for (const [dk, d] of isDests) if (!wasDests.has(dk)) ops.push({ op: 'deleteDestination', service, destination: d.key });
    for (const d of [...b.destinations].reverse()) {
      const cur = isDests.get(destinationKeyString(d.key));
      if (!cur) ops.push({ op: 'addDestination', service, destination: d.key, config: d.config });
      else if (!destinationConfigEqual(cur.config, d.config)) ops.push({ op: 'updateDestination', service, destination: d.key, config: d.config });
    }
  }
  return ops;
}
