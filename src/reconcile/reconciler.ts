import { ValidationError, validateDesiredState } from '../model/index.ts';
import type { DesiredService, DesiredState } from '../model/types.ts';
import type { IpvsApi, VipApi } from '../ipvs/types.ts';
import { apply, emptyCounts, isIpvsStep } from './apply.ts';
import { svcId } from './compare.ts';
import { DesiredTracker } from './desired.ts';
import { OwnershipLedger } from './ledger.ts';
import { indexDesired, planIndexed } from './plan.ts';
import { codeOf, type FullRead, KernelReader, type Mine, messageOf } from './reader.ts';
import { MemoryStateStore } from './store.ts';
import { OwnedTotals } from './totals.ts';
import type {
  DrainRecord,
  Logger,
  OperationResult,
  Plan,
  PlanOptions,
  StateStore,
  SyncError,
  SyncMode,
  SyncReport,
} from './types.ts';
import { KernelView } from './view.ts';

export interface ReconcilerOptions extends PlanOptions {
  ipvs: IpvsApi;
  /** The VIP interface; without it addresses are not bound or unbound. */
  vips?: VipApi;
  /** Where ownership and drains survive restarts; default in memory (lost on restart). */
  store?: StateStore;
  logger?: Logger;
  /** Wall clock in ms (drain start times are persisted, so it must survive restarts). Default Date.now. */
  now?: () => number;
  /** Called after every applied operation (metrics). */
  onOperation?: (result: OperationResult) => void;
  /** Called with every sync report (metrics). */
  onReport?: (report: SyncReport) => void;
  /** Writes pipelined per round trip when the client can batch (see apply()). Default 512. */
  batchSize?: number;
}

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * Keeps IPVS in line with a desired state, touching only what this instance owns.
 *
 * - `sync(desired)`: event-driven. Plans only the services whose desired state changed since the last sync
 *   (plus draining, failed and stale ones) against the reconciler's cached view of the kernel, re-reading
 *   just those services' destinations: one changed destination costs O(1) kernel requests.
 *   The first call (and any call after a failed full read) is a full resync.
 * - `resync(desired)`: full. One service dump, one destination dump per owned service, the VIP list; repairs
 *   drift (hand changes to owned services) and re-checks everything.
 * - `preview(desired)`: a full read and a plan, nothing applied (the `plan` command).
 *
 * Desired states are values: a source must not mutate a DesiredService (or its destinations) after handing it
 * over; it builds a new object for a changed service and may reuse unchanged ones (which makes event-driven
 * syncs cheaper: they are recognised by identity). A full resync re-validates and re-plans everything anyway.
 *
 * `desired === undefined` means "sources not ready": nothing is read or changed. A failed service dump
 * changes nothing; a failed destination dump leaves that service alone. Calls are serialised.
 *
 * A sync runs the parts in this order, each its own module: DesiredTracker admits the desired state and says
 * what changed (desired.ts); KernelReader reads the kernel (reader.ts) into the KernelView (view.ts); the
 * planner plans (plan.ts); OwnershipLedger records new ownership write-ahead (ledger.ts); apply() writes
 * (apply.ts); the ledger settles ownership and drains; OwnedTotals keeps the report's totals (totals.ts).
 */
export class Reconciler {
  private readonly ipvs: IpvsApi;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly options: ReconcilerOptions;
  private readonly view = new KernelView();
  private readonly reader: KernelReader;
  private readonly ledger: OwnershipLedger;
  private readonly desired = new DesiredTracker();
  private readonly totals = new OwnedTotals(this.view);
  private haveFullView = false;
  /** Services to plan at the next incremental sync whatever the desired state says (read or apply failed). */
  private retry = new Set<string>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: ReconcilerOptions) {
    this.options = options;
    this.ipvs = options.ipvs;
    this.reader = new KernelReader(options.ipvs, options.vips);
    this.ledger = new OwnershipLedger(options.store ?? new MemoryStateStore());
    this.log = options.logger ?? silent;
    this.now = options.now ?? Date.now;
  }

  /** Event-driven sync (incremental once a full view exists). */
  sync(desired: DesiredState | undefined): Promise<SyncReport> {
    return this.serial(() => this.run(desired, this.haveFullView ? 'incremental' : 'full'));
  }

  /** Full resync: re-reads everything this instance owns and repairs drift. */
  resync(desired: DesiredState | undefined): Promise<SyncReport> {
    return this.serial(() => this.run(desired, 'full'));
  }

  /** Reads the kernel fully and plans, applying nothing. Throws on a failed read or an invalid state. */
  preview(desired: DesiredState): Promise<Plan> {
    return this.serial(async () => {
      const problems = validateDesiredState(desired);
      if (problems.length > 0) throw new ValidationError(problems);
      await this.ledger.load();
      const desiredById = indexDesired(desired.services);
      const reads = { serviceDumps: 0, destinationDumps: 0 };
      const read = await this.reader.readFull(this.mine(desiredById), desiredById.keys(), this.ledger.services, reads);
      const view = new KernelView();
      view.replaceAll(read.services, read.bound);
      return planIndexed({ actual: view, desired: desiredById, ownership: this.ledger.ownership, drains: this.ledger.drains, now: this.now(), scope: read.scope }, this.options);
    });
  }

  /** Service key strings this instance owns. */
  owned(): string[] {
    return [...this.ledger.services].sort();
  }

  /** Whether this instance owns the service (a key string as in owned()); O(1). */
  owns(service: string): boolean {
    return this.ledger.services.has(service);
  }

  /** Destinations currently draining. */
  draining(): DrainRecord[] {
    return [...this.ledger.drains.values()];
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** The services this instance may change: owned ones, and desired ones when adopting. */
  private mine(desired: ReadonlyMap<string, unknown>): Mine {
    const owned = this.ledger.services;
    const adopt = this.options.adoptExisting === true;
    return (id) => owned.has(id) || (adopt && desired.has(id));
  }

  private async run(desired: DesiredState | undefined, mode: SyncMode): Promise<SyncReport> {
    const startedAt = this.now();
    const t0 = performance.now();
    const errors: SyncError[] = [];
    const reads = { serviceDumps: 0, destinationDumps: 0 };
    const skipped = (error: SyncError): SyncReport => {
      errors.push(error);
      this.log.warn({ code: error.code, err: error.message }, 'sync skipped');
      return this.report('skipped', startedAt, t0, 0, [], errors, reads, undefined);
    };
    if (desired === undefined) return skipped({ code: 'NOT_READY', message: 'sources not ready: nothing read or changed' });
    // A full resync re-checks everything; an event-driven sync checks only the services that are new objects.
    const admitted = this.desired.admit(desired, mode === 'full');
    if (admitted.problem !== undefined) return skipped({ code: 'VALIDATION', message: admitted.problem });
    try {
      await this.ledger.load();
    } catch (err) {
      return skipped({ code: codeOf(err), message: messageOf(err) });
    }

    let scope: Set<string>;
    let desiredById: ReadonlyMap<string, DesiredService>;
    let fullById: Map<string, DesiredService> | undefined;
    if (mode === 'full') {
      fullById = indexDesired(desired.services);
      desiredById = fullById;
      let read: FullRead;
      try {
        read = await this.reader.readFull(this.mine(fullById), fullById.keys(), this.ledger.services, reads);
      } catch (err) {
        this.haveFullView = false;
        return skipped({ code: 'DUMP_FAILED', message: `service dump failed, nothing changed: ${messageOf(err)}` });
      }
      for (const e of read.errors) errors.push(e);
      this.view.replaceAll(read.services, read.bound);
      this.haveFullView = true;
      this.retry = new Set(read.errors.map((e) => e.service ?? ''));
      scope = read.scope;
    } else {
      const changed = new Set<string>(this.retry);
      for (const id of this.desired.commit(desired, admitted.delta ?? { gone: [], came: [] })) changed.add(id);
      // Draining destinations are planned at every sync: their connections end, their timeouts pass.
      for (const d of this.ledger.drains.values()) changed.add(d.service);
      desiredById = this.desired.current;
      const read = await this.reader.readChanged(this.view, changed, desiredById, this.mine(desiredById), reads, errors);
      this.retry = read.failed;
      scope = read.scope;
    }

    const result = planIndexed(
      {
        actual: this.view,
        desired: desiredById,
        ownership: this.ledger.ownership,
        drains: this.ledger.drains,
        now: this.now(),
        scope,
        walkScopeOnly: mode === 'incremental',
      },
      this.options,
    );
    for (const c of result.conflicts) this.log.warn({ service: c.service, name: c.name }, c.reason);

    // An event-driven sync keeps the owned totals up to date from the services it planned.
    const countedBefore = mode === 'incremental' ? this.totals.count(this.ledger.services, scope) : undefined;

    try {
      await this.ledger.recordAhead(result.newlyOwned);
    } catch (err) {
      // The desired state was already taken in as the new baseline: only a full sync can be trusted next.
      this.haveFullView = false;
      return skipped({ code: codeOf(err), message: `cannot record ownership, nothing changed: ${messageOf(err)}` });
    }

    const applied = await apply(result, this.ipvs, this.options.vips, {
      batchSize: this.options.batchSize,
      onResult: (r) => {
        this.view.record(r);
        if (r.outcome === 'failed') {
          this.log.warn({ op: r.operation.kind, code: r.error?.code, err: r.error?.message }, 'operation failed; retried at the next sync');
        } else {
          this.log.debug({ op: r.operation.kind, outcome: r.outcome }, 'operation');
        }
        this.options.onOperation?.(r);
      },
    });

    for (const r of applied.results) {
      if (r.outcome !== 'failed') continue;
      const op = r.operation;
      errors.push({ code: r.error?.code ?? 'ERROR', message: r.error?.message ?? 'failed', service: isIpvsStep(op) ? svcId(op.service) : undefined, operation: op });
      // Scoped plans only look at the addresses of the services they touch: retry through a full one.
      if (op.kind === 'bindAddress' || op.kind === 'unbindAddress') this.haveFullView = false;
    }
    for (const s of applied.failedServices) this.retry.add(s);
    for (const s of this.view.stale) this.retry.add(s);
    try {
      await this.ledger.settle(result, applied.results);
    } catch (err) {
      errors.push({ code: codeOf(err), message: `cannot save state: ${messageOf(err)}` });
    }
    if (fullById) this.desired.replace(desired, fullById);

    if (countedBefore) this.totals.adjust(countedBefore, this.totals.count(this.ledger.services, scope));
    const report = this.report(mode, startedAt, t0, scope.size, applied.results, errors, reads, result);
    const level = applied.failed > 0 ? 'warn' : applied.results.length > 0 ? 'info' : 'debug';
    this.log[level]({ mode, ops: applied.results.length, failed: applied.failed, ms: Math.round(report.durationMs), draining: result.draining }, 'sync done');
    return report;
  }

  private report(
    mode: SyncReport['mode'],
    startedAt: number,
    t0: number,
    planned: number,
    results: OperationResult[],
    errors: SyncError[],
    reads: SyncReport['reads'],
    result: Plan | undefined,
  ): SyncReport {
    const counts = emptyCounts();
    for (const r of results) counts[r.operation.kind][r.outcome]++;
    const { services, destinations } = this.totals.report(mode === 'incremental', this.ledger.services);
    const report: SyncReport = {
      mode,
      startedAt,
      durationMs: performance.now() - t0,
      servicesPlanned: planned,
      operations: results,
      counts,
      errors,
      conflicts: result?.conflicts ?? [],
      flowMoves: result?.flowMoves ?? [],
      reads,
      services,
      destinations,
      draining: this.ledger.drains.size,
    };
    this.options.onReport?.(report);
    return report;
  }
}
