// The reconciler: keeps IPVS in line with a desired state, touching only what this instance owns.
//
//   const reconciler = new Reconciler({ ipvs, vips, store: new FileStateStore(stateDir), logger });
//   const loop = new SyncLoop({
//     sync: (full) => (full ? reconciler.resync(source.current()) : reconciler.sync(source.current())),
//     needsRetry: (report) => report.errors.length > 0,
//     minIntervalMs: 1000, fullResyncIntervalMs: 30_000, logger,
//   });
//   loop.start();            // full sync now, then periodic full resyncs
//   source.on('change', () => loop.trigger());   // event-driven, coalesced
//
// `source.current()` returns undefined until the source has loaded: such syncs read and change nothing.
// Treat desired states as immutable values: build new objects for changed services (reusing unchanged ones is
// encouraged: event-driven syncs recognise them by identity and skip re-validating them).
// Dry run (`plan` command): `await reconciler.preview(desired)` -> Plan (operations, flowMoves, conflicts).
// Lower level, pure: plan(actual, desired, ownership, drains, now, options) (or planIndexed(input, options) on
// maps) and apply(plan, ipvs, vips).
// Ownership across restarts: see README.md in this folder.

export { apply, emptyCounts, ipvsOperation } from './apply.ts';
export type { ApplyOptions } from './apply.ts';
export { compareDestinationKeys, drainKey } from './compare.ts';
export { defaultFlowMoveEstimator } from './flow-move.ts';
export { compareCanonicalMh, isCanonicalMhOrder, planMhReorder } from './mh-order.ts';
export type { MhReorder } from './mh-order.ts';
export { SyncLoop } from './loop.ts';
export type { SyncLoopOptions } from './loop.ts';
export { DEFAULT_DELETE_AT_ONCE, DEFAULT_DRAIN_TIMEOUT_MS, DEFAULT_MH_TABLE_SIZE, mhList, plan, planIndexed, simulateMh } from './plan.ts';
export type { PlanInput } from './plan.ts';
export { Reconciler } from './reconciler.ts';
export type { ReconcilerOptions } from './reconciler.ts';
export { FileStateStore, MemoryStateStore, STATE_FILE_ERROR, StateFileError, StateFileHealth } from './store.ts';
export { OPERATION_KINDS } from './types.ts';
export type {
  ActualService,
  ActualState,
  ApplyResult,
  Conflict,
  DeleteReason,
  DrainRecord,
  DrainState,
  FlowMove,
  FlowMoveEstimator,
  IpvsStep,
  KernelIndex,
  Logger,
  MhDest,
  Operation,
  OperationKind,
  OperationOutcome,
  OperationResult,
  OwnershipState,
  PersistedState,
  Plan,
  PlanOptions,
  StateStore,
  SyncError,
  SyncMode,
  SyncReport,
} from './types.ts';
