import { DEFAULT_KERNEL_TABLE_SIZE } from '../maglev/primes.ts';
import type { DesiredDestination, DesiredService, DesiredState } from '../model/types.ts';
import type { Destination, DestinationConfig, Protocol, ServiceKey } from '../ipvs/types.ts';
import {
  compareDestinationKeys,
  destId,
  destinationConfigEqual,
  drainKey,
  serviceAddress,
  serviceConfigEqual,
  svcId,
} from './compare.ts';
import { defaultFlowMoveEstimator } from './flow-move.ts';
import { planMhReorder } from './mh-order.ts';
import type {
  ActualService,
  ActualState,
  Conflict,
  DeleteReason,
  DrainRecord,
  DrainState,
  FlowMove,
  FlowMoveEstimator,
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

export interface PlanScope {
  /**
   * Service key strings to plan. Services outside the scope get no operations and keep their drain records;
   * they still count for which addresses are in use. Undefined = every service.
   */
  services?: ReadonlySet<string>;
  /**
   * `desired.services` by serviceKeyString, when the caller keeps such an index up to date. With a scope and a
   * map of actual services, the plan then walks only the scope: O(changed services), not O(services).
   */
  desiredIndex?: ReadonlyMap<string, DesiredService>;
}

/**
 * Plan the operations turning `actual` into `desired`.
 *
 * Safe order: add/update services, add/update destinations (capacity first), drain, delete destinations,
 * delete services, then bind new VIPs (their services exist by then) and unbind VIPs no service uses.
 * New destinations are added in a canonical order (address, port), and each `mh` service's kernel list is put
 * back in canonical order with the fewest delete+re-adds (mh-order.ts), so every node gets the same `mh` table
 * whatever its history. Those re-adds run in the add phase, each delete followed at once by its add.
 */
export function plan(
  actual: ActualState,
  desired: DesiredState,
  ownership: OwnershipState,
  drains: DrainState,
  now: number,
  options: PlanOptions & PlanScope = {},
): Plan {
  const drainTimeout = options.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
  const deleteAtOnce = new Set<string>(options.deleteAtOnceProtocols ?? DEFAULT_DELETE_AT_ONCE);
  const tableSize = options.mhTableSize ?? DEFAULT_MH_TABLE_SIZE;
  const estimator = options.flowMoveEstimator === undefined ? defaultFlowMoveEstimator : options.flowMoveEstimator;
  const scope = options.services;
  const inScope = (id: string): boolean => scope === undefined || scope.has(id);

  const serviceOps: Operation[] = [];
  const addDestOps: Operation[] = [];
  const drainOps: Operation[] = [];
  const deleteDestOps: Operation[] = [];
  const deleteServiceOps: Operation[] = [];
  const conflicts: Conflict[] = [];
  const flowMoves: FlowMove[] = [];
  const nextDrains = new Map<string, DrainRecord>(drains);
  const owned = new CopyOnWriteSet(ownership.services);
  let draining = 0;

  const actualById = indexActual(actual.services);
  const desiredById = options.desiredIndex ?? indexDesired(desired.services);
  // With a scope and both indexes, walk only the scope (sorted, so the operation order does not depend on
  // the order changes arrived in); otherwise walk everything in desired order, as a full sync does.
  const walkScope = scope !== undefined && options.desiredIndex !== undefined && !Array.isArray(actual.services);
  const scopeIds = walkScope ? [...scope].sort() : undefined;
  const added = new Set<string>();
  const deleted = new Set<string>();
  const newServices: string[] = [];
  const newAddresses: string[] = [];

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
      dropDrainsOf(nextDrains, id);
      continue;
    }
    if (!owned.has(id)) {
      if (!options.adoptExisting) {
        conflicts.push({ service: id, name: want.name, reason: 'a service with this key exists in the kernel and is not managed by this instance' });
        continue;
      }
      newServices.push(id);
      owned.add(id);
    }
    if (!serviceConfigEqual(have.service.config, want.config)) {
      serviceOps.push({ kind: 'updateService', service: want.key, name: want.name, config: want.config });
    }
    const before = addDestOps.length + drainOps.length + deleteDestOps.length;
    const beforeDrainOps = drainOps.length;
    const beforeDeleteOps = deleteDestOps.length;
    const beforeAddOps = addDestOps.length;
    draining += planDestinations(id, want, have, nextDrains, now, drainTimeout, options.deleteDrainedAtTimeoutOnly === true, options.canonicalMhOrder !== false, deleteAtOnce, addDestOps, drainOps, deleteDestOps);
    const changed = addDestOps.length + drainOps.length + deleteDestOps.length !== before;
    if (changed && estimator && want.config.scheduler === 'mh' && have.service.config.scheduler === 'mh') {
      const ops = [
        ...addDestOps.slice(beforeAddOps),
        ...drainOps.slice(beforeDrainOps),
        ...deleteDestOps.slice(beforeDeleteOps),
      ];
      const beforeList = mhList(id, have.destinations, drains);
      const afterList = simulateMh(beforeList, ops);
      try {
        const move = estimator(beforeList, afterList, tableSize);
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
    dropDrainsOf(nextDrains, id);
  }
  // Owned services that are neither in the kernel nor desired: forget them (a failed add, or deleted by hand).
  for (const id of scopeIds ?? ownership.services) {
    if (ownership.services.has(id) && inScope(id) && !actualById.has(id) && !desiredById.has(id)) {
      owned.delete(id);
      dropDrainsOf(nextDrains, id);
    }
  }
  // Drain records of destinations that no longer exist were dropped in planDestinations; those of services
  // in scope that vanished entirely are dropped above.

  const addressOps: Operation[] = [];
  const unbindOps: Operation[] = [];
  const ownedAddresses = new CopyOnWriteSet(ownership.addresses);
  if (actual.boundAddresses !== undefined) {
    const bound: ReadonlySet<string> = Array.isArray(actual.boundAddresses) ? new Set(actual.boundAddresses) : (actual.boundAddresses as ReadonlySet<string>);
    // A full plan looks at every address; a scoped one only at the addresses of the services in scope (an
    // address bound by hand or a failed bind elsewhere waits for the next full sync).
    let needed: Set<string>;
    let unbindCandidates: Iterable<string>;
    if (scopeIds) {
      needed = new Set<string>();
      const touched = new Set<string>();
      for (const id of scopeIds) {
        const want = desiredById.get(id);
        const wantAddress = want ? serviceAddress(want.key) : undefined;
        if (want?.bindAddress && wantAddress !== undefined) needed.add(wantAddress);
        else if (wantAddress !== undefined) touched.add(wantAddress);
        const haveAddress = actualById.get(id) ? serviceAddress((actualById.get(id) as ActualService).service.key) : undefined;
        if (haveAddress !== undefined) touched.add(haveAddress);
      }
      const candidates: string[] = [];
      for (const address of touched) if (!needed.has(address) && ownership.addresses.has(address)) candidates.push(address);
      // A candidate still needed by a service outside the scope is in use by it too: the check below keeps it.
      unbindCandidates = candidates;
    } else {
      needed = new Set<string>();
      for (const d of desiredById.values()) {
        const address = serviceAddress(d.key);
        if (d.bindAddress && address !== undefined) needed.add(address);
      }
      unbindCandidates = ownership.addresses;
    }
    const toBind: string[] = [];
    for (const address of needed) {
      if (!ownedAddresses.has(address)) newAddresses.push(address);
      ownedAddresses.add(address);
      if (!bound.has(address)) toBind.push(address);
    }
    for (const address of toBind.sort()) addressOps.push({ kind: 'bindAddress', address });
    const notNeeded: string[] = [];
    for (const address of unbindCandidates) if (!needed.has(address)) notNeeded.push(address);
    if (notNeeded.length > 0) {
      // Addresses of the services that will exist after the plan ("is this VIP still in use"); only
      // worked out when some owned address is no longer needed, which is rare.
      const used = new Set<string>();
      const use = (key: ServiceKey | undefined): void => {
        const address = key ? serviceAddress(key) : undefined;
        if (address !== undefined) used.add(address);
      };
      for (const [id, a] of actualById) if (!deleted.has(id)) use(a.service.key);
      for (const id of added) use(desiredById.get(id)?.key);
      for (const address of notNeeded.sort()) {
        if (used.has(address)) continue;
        ownedAddresses.delete(address);
        if (bound.has(address)) unbindOps.push({ kind: 'unbindAddress', address });
      }
    }
  }

  return {
    operations: [...serviceOps, ...addDestOps, ...drainOps, ...deleteDestOps, ...deleteServiceOps, ...addressOps, ...unbindOps],
    drains: nextDrains,
    ownership: { services: owned.result(), addresses: ownedAddresses.result() },
    newlyOwned: { services: newServices, addresses: newAddresses },
    flowMoves,
    conflicts,
    draining,
  };
}

/** Returns how many destinations of this service keep draining. */
function planDestinations(
  id: string,
  want: DesiredService,
  have: ActualService,
  drains: Map<string, DrainRecord>,
  now: number,
  drainTimeout: number,
  deleteDrainedAtTimeoutOnly: boolean,
  canonicalMh: boolean,
  deleteAtOnce: ReadonlySet<string>,
  addOps: Operation[],
  drainOps: Operation[],
  deleteOps: Operation[],
): number {
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
  const noDrain = protocol !== undefined && deleteAtOnce.has(protocol);
  let draining = 0;
  const deletedIds = new Set<string>();
  const drainsById = new Map<string, Operation>();
  for (const [did, d] of haveById) {
    if (wantById.has(did)) continue;
    const dk = drainKey(id, did);
    const record = drains.get(dk);
    const conns = d.activeConns !== undefined && d.inactiveConns !== undefined ? d.activeConns + d.inactiveConns : undefined;
    const reason: DeleteReason | undefined = noDrain
      ? 'no-drain-protocol'
      : conns === 0 && !deleteDrainedAtTimeoutOnly
        ? 'drained'
        : record && now - record.since >= drainTimeout
          ? 'drain-timeout'
          : undefined;
    if (reason !== undefined) {
      deleteOps.push({ kind: 'deleteDestination', service: want.key, name: want.name, destination: d.key, reason });
      deletedIds.add(did);
      drains.delete(dk);
      continue;
    }
    const lastWeight = d.config.weight > 0 ? d.config.weight : (record?.lastWeight ?? 0);
    drains.set(dk, { service: id, destination: did, since: record?.since ?? now, lastWeight });
    draining++;
    if (d.config.weight !== 0) {
      const config: DestinationConfig = { ...d.config, weight: 0 };
      drainsById.set(did, { kind: 'drainDestination', service: want.key, name: want.name, destination: d.key, config });
    }
  }

  if (!canonicalMh || want.config.scheduler !== 'mh') {
    addOps.push(...updates.values());
    adds.sort((a, b) => compareDestinationKeys(a.destination, b.destination));
    addOps.push(...adds);
    drainOps.push(...drainsById.values());
  } else {
    const current = have.destinations.filter((d) => !deletedIds.has(destId(d.key))).map((d) => ({ key: d.key, item: d as Destination | undefined }));
    const reorder = planMhReorder(current, adds.map((op) => ({ key: op.destination, item: undefined })));
    const moved = new Set<string>();
    for (const entry of reorder.toHead) if (entry.moved) moved.add(destId(entry.key));
    for (const [did, op] of updates) if (!moved.has(did)) addOps.push(op);
    for (const [did, op] of drainsById) if (!moved.has(did)) drainOps.push(op);
    const addsById = new Map(adds.map((op) => [destId(op.destination), op]));
    for (const entry of reorder.toHead) {
      const did = destId(entry.key);
      if (!entry.moved) {
        addOps.push(addsById.get(did) as Operation);
        continue;
      }
      addOps.push({ kind: 'deleteDestination', service: want.key, name: want.name, destination: entry.key, reason: 'reorder' });
      const wanted = wantById.get(did);
      if (wanted) {
        addOps.push({ kind: 'addDestination', service: want.key, name: want.name, destination: entry.key, config: wanted.config, reorder: true });
        continue;
      }
      // A draining destination: re-added with its last weight so its slots stay where they were, then drained
      // again at once (a destination added with weight 0 would get no slots).
      const d = entry.item as Destination;
      const lastWeight = drains.get(drainKey(id, did))?.lastWeight ?? 0;
      addOps.push({ kind: 'addDestination', service: want.key, name: want.name, destination: entry.key, config: { ...d.config, weight: lastWeight }, reorder: true });
      if (lastWeight !== 0) addOps.push({ kind: 'drainDestination', service: want.key, name: want.name, destination: entry.key, config: { ...d.config, weight: 0 } });
    }
  }

  // Drain records for destinations that are gone from the kernel.
  const prefix = `${id} -> `;
  for (const [k, r] of drains) {
    if (k.startsWith(prefix) && !haveById.has(r.destination)) drains.delete(k);
  }
  return draining;
}

/** A set that copies its base only when first changed: most scoped plans change no ownership at all. */
export class CopyOnWriteSet {
  private readonly base: ReadonlySet<string>;
  private own: Set<string> | undefined;
  constructor(base: ReadonlySet<string>) {
    this.base = base;
  }
  has(x: string): boolean {
    return (this.own ?? this.base).has(x);
  }
  add(x: string): void {
    if (this.has(x)) return;
    this.own ??= new Set(this.base);
    this.own.add(x);
  }
  delete(x: string): void {
    if (!this.has(x)) return;
    this.own ??= new Set(this.base);
    this.own.delete(x);
  }
  result(): ReadonlySet<string> {
    return this.own ?? this.base;
  }
}

function indexActual(services: ActualState['services']): ReadonlyMap<string, ActualService> {
  if (!Array.isArray(services)) return services as ReadonlyMap<string, ActualService>;
  const byId = new Map<string, ActualService>();
  for (const a of services as readonly ActualService[]) byId.set(svcId(a.service.key), a);
  return byId;
}

function indexDesired(services: readonly DesiredService[]): ReadonlyMap<string, DesiredService> {
  const byId = new Map<string, DesiredService>();
  for (const d of services) byId.set(svcId(d.key), d);
  return byId;
}

/** The [id, value] pairs of `ids` present in `byId`, in the order of `ids`. */
function* pairs<T>(ids: readonly string[], byId: ReadonlyMap<string, T>): Generator<[string, T]> {
  for (const id of ids) {
    const v = byId.get(id);
    if (v !== undefined) yield [id, v];
  }
}

function dropDrainsOf(drains: Map<string, DrainRecord>, id: string): void {
  for (const [k, r] of drains) if (r.service === id) drains.delete(k);
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
