import { DEFAULT_KERNEL_TABLE_SIZE } from '../maglev/primes.ts';
import type { DesiredDestination, DesiredService, DesiredState } from '../model/types.ts';
import type { Destination, DestinationConfig, Protocol } from '../ipvs/types.ts';
import { compareDestinationKeys, destId, destinationConfigEqual, drainKey, serviceConfigEqual, svcId } from './compare.ts';
import { CopyOnWriteSet } from './copy-on-write.ts';
import { defaultFlowMoveEstimator } from './flow-move.ts';
import { planMhReorder } from './mh-order.ts';
import { planAddresses } from './plan-addresses.ts';
import type {
  ActualService,
  ActualState,
  Conflict,
  DeleteReason,
  DrainRecord,
  DrainState,
  FlowMove,
  FlowMoveEstimator,
  KernelIndex,
  MhDest,
  Operation,
  OwnershipState,
  Plan,
  PlanOptions,
} from './types.ts';

// The planner: a pure function from (kernel state, desired state, ownership, drains, time) to the fewest
// operations that make the kernel match, in a safe order. It never looks at services it does not own,
// and never deletes anything it has not positively seen in the kernel.

export const DEFAULT_DRAIN_TIMEOUT_MS = 300_000;
export const DEFAULT_DELETE_AT_ONCE: readonly Protocol[] = ['udp', 'sctp'];
/** The kernel's mh table size unless told otherwise (CONFIG_IP_VS_MH_TAB_INDEX's default; maglev/primes.ts). */
export const DEFAULT_MH_TABLE_SIZE = DEFAULT_KERNEL_TABLE_SIZE;

/**
 * What the planner works on, indexed: the kernel and desired services by serviceKeyString (the reconciler's
 * KernelView and desired index are such maps already, so an event-driven sync copies nothing).
 */
export interface PlanInput {
  actual: KernelIndex;
  /** Desired services by serviceKeyString, in the desired state's order. */
  desired: ReadonlyMap<string, DesiredService>;
  ownership: OwnershipState;
  drains: DrainState;
  /** The clock for drain starts and timeouts (ms). */
  now: number;
  /**
   * Service key strings to plan. Services outside the scope get no operations and keep their drain records;
   * they still count for which addresses are in use. Undefined = every service.
   */
  scope?: ReadonlySet<string>;
  /**
   * Walk only the scope (sorted, so the operation order does not depend on the order changes arrived in)
   * instead of every desired and actual service: O(changed services), not O(services). Needs `scope`.
   */
  walkScopeOnly?: boolean;
}

/**
 * Plan the operations turning `actual` into `desired` (lists, as a caller has them at hand; see planIndexed).
 * `options.services` limits the plan to those service key strings, as PlanInput.scope.
 */
export function plan(
  actual: ActualState,
  desired: DesiredState,
  ownership: OwnershipState,
  drains: DrainState,
  now: number,
  options: PlanOptions & { services?: ReadonlySet<string> } = {},
): Plan {
  const services = new Map<string, ActualService>();
  for (const a of actual.services) services.set(svcId(a.service.key), a);
  const index: KernelIndex = { services, boundAddresses: actual.boundAddresses === undefined ? undefined : new Set(actual.boundAddresses) };
  return planIndexed({ actual: index, desired: indexDesired(desired.services), ownership, drains, now, scope: options.services }, options);
}

/** The options with their defaults, as the per-service planning reads them. */
interface Settings {
  readonly now: number;
  readonly drainTimeout: number;
  readonly deleteDrainedAtTimeoutOnly: boolean;
  readonly canonicalMh: boolean;
  readonly deleteAtOnce: ReadonlySet<string>;
  readonly adoptExisting: boolean;
  readonly tableSize: number;
  readonly estimator: FlowMoveEstimator | null;
}

/** The destination operations of one service, by phase, and how many of its destinations keep draining. */
interface DestinationPlan {
  /** Updates, adds and the delete+re-adds of a reorder (capacity first). */
  add: Operation[];
  drain: Operation[];
  delete: Operation[];
  draining: number;
}

/**
 * Plan the operations turning `input.actual` into `input.desired`.
 *
 * Safe order: add/update services, add/update destinations (capacity first), drain, delete destinations,
 * delete services, then bind new VIPs (their services exist by then) and unbind VIPs no service uses.
 * New destinations are added in a canonical order (address, port), and each `mh` service's kernel list is put
 * back in canonical order with the fewest delete+re-adds (mh-order.ts), so every node gets the same `mh` table
 * whatever its history. Those re-adds run in the add phase, each delete followed at once by its add.
 */
export function planIndexed(input: PlanInput, options: PlanOptions = {}): Plan {
  const settings: Settings = {
    now: input.now,
    drainTimeout: options.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS,
    deleteDrainedAtTimeoutOnly: options.deleteDrainedAtTimeoutOnly === true,
    canonicalMh: options.canonicalMhOrder !== false,
    deleteAtOnce: new Set<string>(options.deleteAtOnceProtocols ?? DEFAULT_DELETE_AT_ONCE),
    adoptExisting: options.adoptExisting === true,
    tableSize: options.mhTableSize ?? DEFAULT_MH_TABLE_SIZE,
    estimator: options.flowMoveEstimator === undefined ? defaultFlowMoveEstimator : options.flowMoveEstimator,
  };
  const { ownership, drains, scope } = input;
  const actualById = input.actual.services;
  const desiredById = input.desired;
  const inScope = (id: string): boolean => scope === undefined || scope.has(id);

  const serviceOps: Operation[] = [];
  const addDestOps: Operation[] = [];
  const drainOps: Operation[] = [];
  const deleteDestOps: Operation[] = [];
  const deleteServiceOps: Operation[] = [];
  const conflicts: Conflict[] = [];
  const flowMoves: FlowMove[] = [];
  const nextDrains = new Map<string, DrainRecord>(drains);
  const drainsByService = groupDrains(drains);
  const dropDrainsOf = (id: string): void => {
    for (const r of drainsByService.get(id) ?? []) nextDrains.delete(drainKey(r.service, r.destination));
  };
  const owned = new CopyOnWriteSet(ownership.services);
  let draining = 0;

  const scopeIds = input.walkScopeOnly && scope !== undefined ? [...scope].sort() : undefined;
  const added = new Set<string>();
  const deleted = new Set<string>();
  const newServices: string[] = [];

  for (const [id, want] of scopeIds ? pairs(scopeIds, desiredById) : desiredById) {
    if (!inScope(id)) continue;
    const have = actualById.get(id);
    if (!have) {
      if (!owned.has(id)) newServices.push(id);
      owned.add(id);
      added.add(id);
      serviceOps.push({ kind: 'addService', service: want.key, name: want.name, config: want.config });
      const sorted = [...want.destinations].sort((a, b) => compareDestinationKeys(a.key, b.key));
      for (const d of sorted) {
        addDestOps.push({ kind: 'addDestination', service: want.key, name: want.name, destination: d.key, config: d.config });
      }
      dropDrainsOf(id);
      continue;
    }
    if (!owned.has(id)) {
      if (!settings.adoptExisting) {
        conflicts.push({ service: id, name: want.name, reason: 'a service with this key exists in the kernel and is not managed by this instance' });
        continue;
      }
      newServices.push(id);
      owned.add(id);
    }
    if (!serviceConfigEqual(have.service.config, want.config)) {
      serviceOps.push({ kind: 'updateService', service: want.key, name: want.name, config: want.config });
    }
    const dests = planDestinations(settings, id, want, have, nextDrains, drainsByService.get(id));
    addDestOps.push(...dests.add);
    drainOps.push(...dests.drain);
    deleteDestOps.push(...dests.delete);
    draining += dests.draining;
    const changed = dests.add.length + dests.drain.length + dests.delete.length > 0;
    if (changed && settings.estimator && want.config.scheduler === 'mh' && have.service.config.scheduler === 'mh') {
      const beforeList = mhList(id, have.destinations, drains);
      const afterList = simulateMh(beforeList, [...dests.add, ...dests.drain, ...dests.delete]);
      try {
        const move = settings.estimator(beforeList, afterList, settings.tableSize);
        flowMoves.push({ service: id, name: want.name, ...move });
      } catch {
        // An estimate we cannot make (e.g. destinations of mixed families) never blocks a plan.
      }
    }
  }

  for (const [id, have] of scopeIds ? pairs(scopeIds, actualById) : actualById) {
    if (!inScope(id) || desiredById.has(id) || !owned.has(id)) continue;
    deleteServiceOps.push({ kind: 'deleteService', service: have.service.key, name: id });
    deleted.add(id);
    owned.delete(id);
    dropDrainsOf(id);
  }
  // Owned services that are neither in the kernel nor desired: forget them (a failed add, or deleted by hand).
  for (const id of scopeIds ?? ownership.services) {
    if (ownership.services.has(id) && inScope(id) && !actualById.has(id) && !desiredById.has(id)) {
      owned.delete(id);
      dropDrainsOf(id);
    }
  }
  // Drain records of destinations that no longer exist were dropped in planDestinations; those of services
  // in scope that vanished entirely are dropped above.

  const bound = input.actual.boundAddresses;
  const addresses =
    bound === undefined
      ? { bind: [], unbind: [], owned: ownership.addresses, newlyOwned: [] }
      : planAddresses({ bound, actual: actualById, desired: desiredById, owned: ownership.addresses, scope: scopeIds, added, deleted });

  return {
    operations: [...serviceOps, ...addDestOps, ...drainOps, ...deleteDestOps, ...deleteServiceOps, ...addresses.bind, ...addresses.unbind],
    drains: nextDrains,
    ownership: { services: owned.result(), addresses: addresses.owned },
    newlyOwned: { services: newServices, addresses: addresses.newlyOwned },
    flowMoves,
    conflicts,
    draining,
  };
}

/**
 * The destination operations of one service that exists in the kernel. Updates `drains` (the plan's drain
 * records): drains that start, continue or end, and the records of this service's destinations that are gone
 * (`recorded`: its records when the plan started).
 */
function planDestinations(
  settings: Settings,
  id: string,
  want: DesiredService,
  have: ActualService,
  drains: Map<string, DrainRecord>,
  recorded: readonly DrainRecord[] | undefined,
): DestinationPlan {
  const out: DestinationPlan = { add: [], drain: [], delete: [], draining: 0 };
  const haveById = new Map<string, Destination>();
  for (const d of have.destinations) haveById.set(destId(d.key), d);
  const wantById = new Map<string, DesiredDestination>();
  const adds: Array<Extract<Operation, { kind: 'addDestination' }>> = [];
  const updates = new Map<string, Operation>();
  for (const d of want.destinations) {
    const did = destId(d.key);
    wantById.set(did, d);
    const current = haveById.get(did);
    if (!current) {
      adds.push({ kind: 'addDestination', service: want.key, name: want.name, destination: d.key, config: d.config });
      drains.delete(drainKey(id, did));
      continue;
    }
    // Back in the desired state: a drain in progress simply ends with the update to the desired weight.
    drains.delete(drainKey(id, did));
    if (!destinationConfigEqual(current.config, d.config)) {
      updates.set(did, { kind: 'updateDestination', service: want.key, name: want.name, destination: d.key, config: d.config });
    }
  }

  const protocol = want.key.kind === 'addr' ? want.key.protocol : undefined;
  const noDrain = protocol !== undefined && settings.deleteAtOnce.has(protocol);
  const deletedIds = new Set<string>();
  const drainsById = new Map<string, Operation>();
  for (const [did, d] of haveById) {
    if (wantById.has(did)) continue;
    const dk = drainKey(id, did);
    const record = drains.get(dk);
    const conns = d.activeConns !== undefined && d.inactiveConns !== undefined ? d.activeConns + d.inactiveConns : undefined;
    const reason: DeleteReason | undefined = noDrain
      ? 'no-drain-protocol'
      : conns === 0 && !settings.deleteDrainedAtTimeoutOnly
        ? 'drained'
        : record && settings.now - record.since >= settings.drainTimeout
          ? 'drain-timeout'
          : undefined;
    if (reason !== undefined) {
      out.delete.push({ kind: 'deleteDestination', service: want.key, name: want.name, destination: d.key, reason });
      deletedIds.add(did);
      drains.delete(dk);
      continue;
    }
    const lastWeight = d.config.weight > 0 ? d.config.weight : (record?.lastWeight ?? 0);
    drains.set(dk, { service: id, destination: did, since: record?.since ?? settings.now, lastWeight });
    out.draining++;
    if (d.config.weight !== 0) {
      const config: DestinationConfig = { ...d.config, weight: 0 };
      drainsById.set(did, { kind: 'drainDestination', service: want.key, name: want.name, destination: d.key, config });
    }
  }

  if (!settings.canonicalMh || want.config.scheduler !== 'mh') {
    out.add.push(...updates.values());
    adds.sort((a, b) => compareDestinationKeys(a.destination, b.destination));
    out.add.push(...adds);
    out.drain.push(...drainsById.values());
  } else {
    planMhOrder(id, want, have, drains, { updates, adds, drainsById, wantById, deletedIds }, out);
  }

  // Drain records for destinations that are gone from the kernel.
  for (const r of recorded ?? []) {
    if (!haveById.has(r.destination)) drains.delete(drainKey(r.service, r.destination));
  }
  return out;
}

/**
 * The add and drain phases of an `mh` service kept in canonical order: updates and drains of destinations
 * that are not moved, then what goes to the head (new ones, and moved ones deleted and re-added at once).
 */
function planMhOrder(
  id: string,
  want: DesiredService,
  have: ActualService,
  drains: ReadonlyMap<string, DrainRecord>,
  planned: {
    updates: ReadonlyMap<string, Operation>;
    adds: ReadonlyArray<Extract<Operation, { kind: 'addDestination' }>>;
    drainsById: ReadonlyMap<string, Operation>;
    wantById: ReadonlyMap<string, DesiredDestination>;
    deletedIds: ReadonlySet<string>;
  },
  out: DestinationPlan,
): void {
  const current = have.destinations.filter((d) => !planned.deletedIds.has(destId(d.key))).map((d) => ({ key: d.key, item: d as Destination | undefined }));
  const reorder = planMhReorder(current, planned.adds.map((op) => ({ key: op.destination, item: undefined })));
  const moved = new Set<string>();
  for (const entry of reorder.toHead) if (entry.moved) moved.add(destId(entry.key));
  for (const [did, op] of planned.updates) if (!moved.has(did)) out.add.push(op);
  for (const [did, op] of planned.drainsById) if (!moved.has(did)) out.drain.push(op);
  const addsById = new Map(planned.adds.map((op) => [destId(op.destination), op]));
  for (const entry of reorder.toHead) {
    const did = destId(entry.key);
    if (!entry.moved) {
      out.add.push(addsById.get(did) as Operation);
      continue;
    }
    out.add.push({ kind: 'deleteDestination', service: want.key, name: want.name, destination: entry.key, reason: 'reorder' });
    const wanted = planned.wantById.get(did);
    if (wanted) {
      out.add.push({ kind: 'addDestination', service: want.key, name: want.name, destination: entry.key, config: wanted.config, reorder: true });
      continue;
    }
    // A draining destination: re-added with its last weight so its slots stay where they were, then drained
    // again at once (a destination added with weight 0 would get no slots).
    const d = entry.item as Destination;
    const lastWeight = drains.get(drainKey(id, did))?.lastWeight ?? 0;
    out.add.push({ kind: 'addDestination', service: want.key, name: want.name, destination: entry.key, config: { ...d.config, weight: lastWeight }, reorder: true });
    if (lastWeight !== 0) out.add.push({ kind: 'drainDestination', service: want.key, name: want.name, destination: entry.key, config: { ...d.config, weight: 0 } });
  }
}

/** Desired services by serviceKeyString, in order (a later duplicate key wins, as validation forbids them). */
export function indexDesired(services: readonly DesiredService[]): Map<string, DesiredService> {
  const byId = new Map<string, DesiredService>();
  for (const d of services) byId.set(svcId(d.key), d);
  return byId;
}

/** Drain records by service key string: a service's records without scanning everyone's. */
function groupDrains(drains: DrainState): ReadonlyMap<string, DrainRecord[]> {
  const byService = new Map<string, DrainRecord[]>();
  for (const r of drains.values()) {
    const list = byService.get(r.service);
    if (list) list.push(r);
    else byService.set(r.service, [r]);
  }
  return byService;
}

/** The [id, value] pairs of `ids` present in `byId`, in the order of `ids`. */
function* pairs<T>(ids: readonly string[], byId: ReadonlyMap<string, T>): Generator<[string, T]> {
  for (const id of ids) {
    const v = byId.get(id);
    if (v !== undefined) yield [id, v];
  }
}

/** The kernel's `mh` view of a destination list (kernel order), with last weights from drain records. */
export function mhList(id: string, destinations: readonly Destination[], drains: DrainState): MhDest[] {
  return destinations.map((d) => {
    const record = d.config.weight === 0 ? drains.get(drainKey(id, destId(d.key))) : undefined;
    return { address: d.key.address, port: d.key.port, weight: d.config.weight, lastWeight: record ? record.lastWeight : d.config.weight };
  });
}

/**
 * The destination list after `ops`, with the kernel's rules: a new destination goes to the head of the list
 * with last weight = its weight; an update keeps the last non-zero weight; a delete removes it.
 */
export function simulateMh(before: readonly MhDest[], ops: readonly Operation[]): MhDest[] {
  const list = before.map((d) => ({ ...d }));
  for (const op of ops) {
    if (op.kind === 'addDestination') {
      list.unshift({ address: op.destination.address, port: op.destination.port, weight: op.config.weight, lastWeight: op.config.weight });
    } else if (op.kind === 'updateDestination' || op.kind === 'drainDestination') {
      const d = list.find((x) => x.address === op.destination.address && x.port === op.destination.port);
      if (d) {
        d.weight = op.config.weight;
        if (op.config.weight !== 0) d.lastWeight = op.config.weight;
      }
    } else if (op.kind === 'deleteDestination') {
      const i = list.findIndex((x) => x.address === op.destination.address && x.port === op.destination.port);
      if (i >= 0) list.splice(i, 1);
    }
  }
  return list;
}

export type { FlowMoveEstimator };
