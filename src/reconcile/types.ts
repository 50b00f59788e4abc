import type { DesiredState } from '../model/types.ts';
import type { Destination, IpvsOperationFields, Protocol, Service } from '../ipvs/types.ts';
import type { StructuredLogger } from '../structured-logger.ts';

// The reconciler's vocabulary: what it reads (ActualState), what it remembers across syncs
// (OwnershipState, DrainRecord), what it decides (Plan of Operations) and what it reports.

/** The reconciler's logger (pino-compatible): it never depends on pino itself. */
export type Logger = StructuredLogger;

/** A service as read from the kernel, with its destinations in kernel list order (newest first). */
export interface ActualService {
  service: Service;
  /**
   * Destinations in the kernel's list order. Only meaningful for owned services: the reconciler does
   * not read the destinations of services it does not own.
   */
  destinations: Destination[];
}

/** What the kernel holds, as far as the planner needs to know: as read (lists). */
export interface ActualState {
  services: readonly ActualService[];
  /** Addresses on our dummy interface (canonical form); undefined = addresses not managed (no bind/unbind). */
  boundAddresses: readonly string[] | undefined;
}

/** The same, indexed as the planner reads it (the reconciler's KernelView is one: no copy per sync). */
export interface KernelIndex {
  /** Every service in the kernel (owned or not) by serviceKeyString; unowned ones need no destinations. */
  services: ReadonlyMap<string, ActualService>;
  /** Addresses on our dummy interface (canonical form); undefined = addresses not managed (no bind/unbind). */
  boundAddresses: ReadonlySet<string> | undefined;
}

/**
 * What this instance owns. Keys are `serviceKeyString()` forms ("tcp 10.0.0.1:80", "fwmark 7").
 * Only owned services are ever changed or deleted; only owned addresses are ever unbound.
 */
export interface OwnershipState {
  services: ReadonlySet<string>;
  addresses: ReadonlySet<string>;
}

/** A destination being drained: removed from the desired state, kept at weight 0 until it goes quiet. */
export interface DrainRecord {
  /** serviceKeyString of the service. */
  service: string;
  /** destinationKeyString of the destination. */
  destination: string;
  /** When the drain started (ms, the reconciler's clock). */
  since: number;
  /**
   * The weight before the drain. The kernel keeps it as the `mh` "last weight", so the Maglev table does not
   * change while the destination drains; we remember it to recompute the table exactly.
   */
  lastWeight: number;
}

/** Drain records keyed by `drainKey(service, destination)`. */
export type DrainState = ReadonlyMap<string, DrainRecord>;

export type OperationKind =
  | 'addService'
  | 'updateService'
  | 'deleteService'
  | 'addDestination'
  | 'updateDestination'
  | 'drainDestination'
  | 'deleteDestination'
  | 'bindAddress'
  | 'unbindAddress';

export const OPERATION_KINDS: readonly OperationKind[] = [
  'addService',
  'updateService',
  'deleteService',
  'addDestination',
  'updateDestination',
  'drainDestination',
  'deleteDestination',
  'bindAddress',
  'unbindAddress',
];

/**
 * One step of a plan: an IPVS write (its fields are those of `IpvsOperation`, the one definition of a kernel
 * write) wrapped with what the reconciler knows about it (`name`: the desired service's human name, or the key
 * string when unknown; why a destination goes; whether it is a re-add), or a VIP change. `drainDestination` is
 * an `updateDestination` to weight 0 that starts (or re-asserts) a graceful drain. `ipvsOperation()` unwraps one.
 */
export type Operation =
  | ({ kind: 'addService'; name: string } & IpvsOperationFields<'addService'>)
  | ({ kind: 'updateService'; name: string } & IpvsOperationFields<'updateService'>)
  | ({ kind: 'deleteService'; name: string } & IpvsOperationFields<'deleteService'>)
  /** `reorder`: the second half of a delete+re-add that puts an `mh` service's list back in canonical order. */
  | ({ kind: 'addDestination'; name: string; reorder?: true } & IpvsOperationFields<'addDestination'>)
  | ({ kind: 'updateDestination'; name: string } & IpvsOperationFields<'updateDestination'>)
  | ({ kind: 'drainDestination'; name: string } & IpvsOperationFields<'updateDestination'>)
  | ({ kind: 'deleteDestination'; name: string; reason: DeleteReason } & IpvsOperationFields<'deleteDestination'>)
  | { kind: 'bindAddress'; address: string }
  | { kind: 'unbindAddress'; address: string };

/** A plan step that writes IPVS (every kind but the VIP changes). */
export type IpvsStep = Exclude<Operation, { kind: 'bindAddress' | 'unbindAddress' }>;

/** Why a destination is deleted rather than drained. */
export type DeleteReason = 'drained' | 'drain-timeout' | 'no-drain-protocol' | 'not-desired' | 'reorder';

/** Share of flows a change moves for one `mh` service (from the kernel-exact Maglev table). */
export interface FlowMove {
  service: string;
  name: string;
  /** Fraction of table slots whose destination changes. */
  changedFraction: number;
  /** The least fraction any consistent hash must move for this change (the ideal). */
  minimumFraction: number;
}

/** A desired service that collides with a service this instance does not own (left alone). */
export interface Conflict {
  service: string;
  name: string;
  reason: string;
}

export interface Plan {
  /** Operations in the order apply() runs them (see planner: safe order). */
  operations: Operation[];
  /** The drain state after these operations succeed. */
  drains: Map<string, DrainRecord>;
  /**
   * Ownership after these operations succeed (services/addresses added first, removed after deletion).
   * A set the plan did not change is the input set itself (copy on write): never mutate these.
   */
  ownership: { services: ReadonlySet<string>; addresses: ReadonlySet<string> };
  /** What `ownership` has that the input ownership had not (the write-ahead record), in plan order. */
  newlyOwned: { services: string[]; addresses: string[] };
  /** Per `mh` service whose table changes: the share of flows the change moves. */
  flowMoves: FlowMove[];
  conflicts: Conflict[];
  /** Draining destinations still waiting for their connections to end. */
  draining: number;
}

export interface PlanOptions {
  /** How long a removed destination may drain before it is deleted anyway (ms). Default 300 000 (5 min). */
  drainTimeoutMs?: number;
  /**
   * Delete a drained destination only when its drain times out, never early because this node's connections
   * to it reached 0. For scale-out behind ECMP: a drained `mh` destination keeps its slots (through its last
   * weight) until it is deleted, so nodes deleting it whenever their own connection counts allow disagree on
   * the table meanwhile (17.2% of flows at 4 backends, measured); with the timeout alone they differ only by
   * how far apart the configuration change reached them. Default false.
   */
  deleteDrainedAtTimeoutOnly?: boolean;
  /**
   * Protocols whose removed destinations are deleted at once instead of drained. Default ['udp', 'sctp']
   * (as kube-proxy: a connectionless flow has no end to wait for, and drained UDP black-holes DNS).
   */
  deleteAtOnceProtocols?: readonly Protocol[];
  /**
   * Take over a service that exists in the kernel but is not owned when the desired state names it.
   * Default false: such a service is reported as a conflict and left alone.
   */
  adoptExisting?: boolean;
  /**
   * Keep every `mh` service's kernel destination list in canonical order (see mh-order.ts), deleting and
   * re-adding the fewest destinations, so every node given the same set builds the same table whatever its
   * history. Default true; false only for tests that need a node with a history-dependent order as a control.
   */
  canonicalMhOrder?: boolean;
  /** Kernel `mh` table size (CONFIG_IP_VS_MH_TAB_INDEX); default 4093. */
  mhTableSize?: number;
  /** Computes flow-move shares; default: the kernel-exact Maglev of src/maglev. Pass null to skip (faster). */
  flowMoveEstimator?: FlowMoveEstimator | null;
}

/** A destination as the kernel's `mh` scheduler sees it, in the kernel's list order. */
export interface MhDest {
  address: string;
  port: number;
  weight: number;
  /** The weight before a drain to 0 (the kernel's last_weight). */
  lastWeight: number;
}

/**
 * Share of flows that moves when an `mh` service's destination list changes from `before` to `after`
 * (both in kernel list order, newest first).
 */
export type FlowMoveEstimator = (
  before: readonly MhDest[],
  after: readonly MhDest[],
  tableSize: number,
) => { changedFraction: number; minimumFraction: number };

export type OperationOutcome =
  /** Done as planned. */
  | 'ok'
  /** Converted: add hit EEXIST and was retried as an update (or an update hit ENOENT and became an add). */
  | 'converted'
  /** Nothing to do any more: the target was already gone (ENOENT/ESRCH on delete, or its service failed). */
  | 'skipped'
  /** Failed: reported and retried at the next sync. */
  | 'failed';

export interface OperationResult {
  operation: Operation;
  outcome: OperationOutcome;
  /** For failed/skipped operations: the error's stable code and message. */
  error?: { code: string; message: string };
}

export interface ApplyResult {
  results: OperationResult[];
  /** Counts by kind then outcome. */
  counts: Record<OperationKind, Record<OperationOutcome, number>>;
  /** Service key strings with at least one failed operation (re-read and retried next sync). */
  failedServices: Set<string>;
  failed: number;
}

export type SyncMode = 'full' | 'incremental';

export interface SyncError {
  /** Stable code: an IpvsError code, 'VALIDATION', 'DUMP_FAILED', 'NOT_READY', ... */
  code: string;
  message: string;
  service?: string;
  operation?: Operation;
}

export interface SyncReport {
  /** 'skipped' when nothing was done (sources not ready, invalid desired state, or the service dump failed). */
  mode: SyncMode | 'skipped';
  startedAt: number;
  durationMs: number;
  /** Services planned (all owned + desired on a full sync; only changed/draining ones incrementally). */
  servicesPlanned: number;
  operations: OperationResult[];
  counts: Record<OperationKind, Record<OperationOutcome, number>>;
  errors: SyncError[];
  conflicts: Conflict[];
  flowMoves: FlowMove[];
  /** Kernel reads done by this sync. */
  reads: { serviceDumps: number; destinationDumps: number };
  /** Owned services and their destinations after the sync (from the reconciler's view). */
  services: number;
  destinations: number;
  draining: number;
}

/** Persistence of ownership and drain records across restarts. */
export interface StateStore {
  load(): Promise<PersistedState>;
  /** Must be atomic: a crash leaves either the old or the new content. */
  save(state: PersistedState): Promise<void>;
}

export interface PersistedState {
  services: string[];
  addresses: string[];
  drains: DrainRecord[];
}

/** Re-exported for convenience of callers building desired states. */
export type { DesiredState };
