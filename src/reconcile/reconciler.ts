import type { DesiredService, DesiredState } from '../model/types.ts';
import { ValidationError, desiredServiceEqual, validateDesiredState } from '../model/index.ts';
import type { IpvsApi, VipApi } from '../ipvs/types.ts';
import { apply, emptyCounts } from './apply.ts';
import { destId, drainKey, svcId } from './compare.ts';
import { CopyOnWriteSet } from './copy-on-write.ts';
import { indexDesired, planIndexed } from './plan.ts';
import { MemoryStateStore } from './store.ts';
import type {
  ActualService,
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

/** Desired services that are new objects since the last sync (`came`) and the objects they replace (`gone`). */
interface DesiredDelta {
  gone: DesiredService[];
  came: DesiredService[];
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
 */
export class Reconciler {
  private readonly ipvs: IpvsApi;
  private readonly vips: VipApi | undefined;
  private readonly store: StateStore;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly options: ReconcilerOptions;
  private readonly view = new KernelView();
  private loaded = false;
  private haveFullView = false;
  private interfaceReady = false;
  // Never mutated in place: plans share them (copy on write), so a change is a new set.
  private ownedServices: ReadonlySet<string> = new Set<string>();
  private ownedAddresses: ReadonlySet<string> = new Set<string>();
  private drains = new Map<string, DrainRecord>();
  private lastDesired = new Map<string, DesiredService>();
  /** The desired services of the last sync, in the order given (for the identity scan of the next one). */
  private lastServices: readonly DesiredService[] = [];
  /** Owned services in the view and their destinations, as of the last report. */
  private totals = { services: 0, destinations: 0 };
  /** Services to plan at the next incremental sync whatever the desired state says (read or apply failed). */
  private retry = new Set<string>();
  private queue: Promise<unknown> = Promise.resolve();
  /** Desired services already validated (by identity), so unchanged ones are not re-checked every sync. */
  private readonly validated = new WeakSet<object>();

  constructor(options: ReconcilerOptions) {
    this.options = options;
    this.ipvs = options.ipvs;
    this.vips = options.vips;
    this.store = options.store ?? new MemoryStateStore();
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
      await this.load();
      const view = new KernelView();
      const reads = { serviceDumps: 0, destinationDumps: 0 };
      const read = await this.readFull(view, desired, reads);
      if (read.error) throw read.error;
      return planIndexed({ actual: view, desired: indexDesired(desired.services), ownership: this.ownership(), drains: this.drains, now: this.now(), scope: read.scope }, this.options);
    });
  }

  /** Service key strings this instance owns. */
  owned(): string[] {
    return [...this.ownedServices].sort();
  }

  /** Whether this instance owns the service (a key string as in owned()); O(1). */
  owns(service: string): boolean {
    return this.ownedServices.has(service);
  }

  /** Destinations currently draining. */
  draining(): DrainRecord[] {
    return [...this.drains.values()];
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private ownership() {
    return { services: this.ownedServices, addresses: this.ownedAddresses };
  }

  private async load(): Promise<void> {
    if (this.loaded) return;
    const state = await this.store.load();
    this.ownedServices = new Set(state.services);
    this.ownedAddresses = new Set(state.addresses);
    this.drains = new Map(state.drains.map((d) => [drainKey(d.service, d.destination), d]));
    this.loaded = true;
  }

  private async persist(): Promise<void> {
    await this.store.save({
      services: [...this.ownedServices].sort(),
      addresses: [...this.ownedAddresses].sort(),
      drains: [...this.drains.values()],
    });
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
    const delta = mode === 'full' ? undefined : this.desiredDelta(desired.services);
    if (delta === undefined || !this.deltaValid(delta)) {
      const problems = validateDesiredState(desired, mode === 'full' ? {} : { trusted: this.validated });
      if (problems.length > 0) return skipped({ code: 'VALIDATION', message: new ValidationError(problems).message });
    }
    for (const s of delta?.came ?? desired.services) this.validated.add(s);
    try {
      await this.load();
    } catch (err) {
      return skipped({ code: codeOf(err), message: messageOf(err) });
    }

    let scope: Set<string>;
    if (mode === 'full') {
      const view = new KernelView();
      const read = await this.readFull(view, desired, reads);
      if (read.error) {
        this.haveFullView = false;
        return skipped({ code: 'DUMP_FAILED', message: `service dump failed, nothing changed: ${messageOf(read.error)}` });
      }
      for (const e of read.serviceErrors) errors.push(e);
      this.view.replaceAll([...view.services.values()], view.boundAddresses ? [...view.boundAddresses] : undefined);
      this.haveFullView = true;
      this.retry = new Set(read.serviceErrors.map((e) => e.service ?? ''));
      scope = read.scope;
    } else {
      scope = await this.readChanged(this.commitDelta(desired, delta ?? { gone: [], came: [] }), reads, errors);
    }

    const desiredById = mode === 'full' ? indexDesired(desired.services) : this.lastDesired;
    const result = planIndexed(
      {
        actual: this.view,
        desired: desiredById,
        ownership: this.ownership(),
        drains: this.drains,
        now: this.now(),
        scope,
        walkScopeOnly: mode === 'incremental',
      },
      this.options,
    );
    for (const c of result.conflicts) this.log.warn({ service: c.service, name: c.name }, c.reason);

    // An event-driven sync keeps the owned totals up to date from the services it planned.
    const countedBefore = mode === 'incremental' ? this.countOwned(scope) : undefined;

    // Write-ahead: record new services/addresses as ours before creating them.
    const newlyOwned = result.newlyOwned.services.filter((s) => !this.ownedServices.has(s));
    const newAddresses = result.newlyOwned.addresses.filter((a) => !this.ownedAddresses.has(a));
    if (newlyOwned.length > 0 || newAddresses.length > 0) {
      const ownedBefore = { services: this.ownedServices, addresses: this.ownedAddresses };
      this.ownedServices = new Set([...this.ownedServices, ...newlyOwned]);
      this.ownedAddresses = new Set([...this.ownedAddresses, ...newAddresses]);
      try {
        await this.persist();
      } catch (err) {
        this.ownedServices = ownedBefore.services;
        this.ownedAddresses = ownedBefore.addresses;
        // The desired state was already taken in as the new baseline: only a full sync can be trusted next.
        this.haveFullView = false;
        return skipped({ code: codeOf(err), message: `cannot record ownership, nothing changed: ${messageOf(err)}` });
      }
    }

    const applied = await apply(result, this.ipvs, this.vips, {
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

    // Commit ownership and drains, keeping what a failed operation still leaves in the kernel.
    // The plan's sets may be our own when it changed nothing (copy on write): copy before adding back.
    const services = new CopyOnWriteSet(result.ownership.services);
    const addresses = new CopyOnWriteSet(result.ownership.addresses);
    const drains = result.drains;
    for (const r of applied.results) {
      const op = r.operation;
      if (r.outcome === 'failed') {
        errors.push({ code: r.error?.code ?? 'ERROR', message: r.error?.message ?? 'failed', service: 'service' in op ? svcId(op.service) : undefined, operation: op });
        if (op.kind === 'deleteService') services.add(svcId(op.service));
        if (op.kind === 'unbindAddress') addresses.add(op.address);
        // Scoped plans only look at the addresses of the services they touch: retry through a full one.
        if (op.kind === 'bindAddress' || op.kind === 'unbindAddress') this.haveFullView = false;
        if (op.kind === 'deleteDestination') {
          const key = drainKey(svcId(op.service), destId(op.destination));
          const old = this.drains.get(key);
          if (old) drains.set(key, old);
        }
      }
    }
    for (const s of applied.failedServices) this.retry.add(s);
    for (const s of this.view.stale) this.retry.add(s);
    // Both sets only ever lose members here (what is new was recorded write-ahead): equal sizes, equal sets.
    const changed = services.result().size !== this.ownedServices.size || addresses.result().size !== this.ownedAddresses.size || !sameDrains(drains, this.drains);
    this.ownedServices = services.result();
    this.ownedAddresses = addresses.result();
    this.drains = drains;
    if (changed) {
      try {
        await this.persist();
      } catch (err) {
        errors.push({ code: codeOf(err), message: `cannot save state: ${messageOf(err)}` });
      }
    }
    if (mode === 'full') {
      this.lastDesired = desiredById;
      this.lastServices = desired.services;
    }

    if (countedBefore) {
      const after = this.countOwned(scope);
      this.totals = {
        services: this.totals.services + after.services - countedBefore.services,
        destinations: this.totals.destinations + after.destinations - countedBefore.destinations,
      };
    }
    const report = this.report(mode, startedAt, t0, scope.size, applied.results, errors, reads, result);
    const level = applied.failed > 0 ? 'warn' : applied.results.length > 0 ? 'info' : 'debug';
    this.log[level]({ mode, ops: applied.results.length, failed: applied.failed, ms: Math.round(report.durationMs), draining: result.draining }, 'sync done');
    return report;
  }

  /** One service dump, one destination dump per owned (or adoptable) service, the VIP list. */
  private async readFull(
    view: KernelView,
    desired: DesiredState,
    reads: SyncReport['reads'],
  ): Promise<{ error?: unknown; scope: Set<string>; serviceErrors: SyncError[] }> {
    const scope = new Set<string>();
    const serviceErrors: SyncError[] = [];
    let services: ActualService[];
    try {
      reads.serviceDumps++;
      services = (await this.ipvs.listServices()).map((service) => ({ service, destinations: [] }));
    } catch (error) {
      return { error, scope, serviceErrors };
    }
    const desiredIds = new Set(desired.services.map((s) => svcId(s.key)));
    for (const s of services) {
      const id = svcId(s.service.key);
      const mine = this.ownedServices.has(id) || (this.options.adoptExisting === true && desiredIds.has(id));
      if (mine) {
        try {
          reads.destinationDumps++;
          s.destinations = await this.ipvs.listDestinations(s.service.key);
        } catch (err) {
          // Never plan a service from a partial read: leave it alone this round.
          serviceErrors.push({ code: codeOf(err), message: `destination dump failed, service left alone: ${messageOf(err)}`, service: id });
          continue;
        }
      }
      scope.add(id);
    }
    // Desired services absent from the kernel and owned ones that vanished are planned too.
    const unreadable = new Set(serviceErrors.map((e) => e.service));
    for (const id of desiredIds) if (!unreadable.has(id)) scope.add(id);
    for (const id of this.ownedServices) if (!unreadable.has(id)) scope.add(id);
    let bound: string[] | undefined;
    if (this.vips) {
      try {
        if (!this.interfaceReady) {
          await this.vips.ensureInterface();
          this.interfaceReady = true;
        }
        bound = await this.vips.listAddresses();
      } catch (err) {
        serviceErrors.push({ code: codeOf(err), message: `VIP interface unreadable, addresses left alone: ${messageOf(err)}` });
      }
    }
    view.replaceAll(services, bound);
    return { scope, serviceErrors };
  }

  /**
   * The desired services that are not the same objects as at the last sync: O(services) pointer compares, no
   * keys built. Sources reuse unchanged service objects (see the class comment), so this is what changed.
   */
  private desiredDelta(services: readonly DesiredService[]): DesiredDelta {
    const prev = this.lastServices;
    const gone: DesiredService[] = [];
    const came: DesiredService[] = [];
    if (prev.length === services.length) {
      for (let i = 0; i < services.length; i++) {
        if (prev[i] !== services[i]) {
          gone.push(prev[i]);
          came.push(services[i]);
        }
      }
      return { gone, came };
    }
    const before = new Set(prev);
    const after = new Set(services);
    for (const s of services) if (!before.has(s)) came.push(s);
    for (const s of prev) if (!after.has(s)) gone.push(s);
    return { gone, came };
  }

  /** Whether the new service objects are valid and clash with no unchanged service (else: validate it all). */
  private deltaValid(delta: DesiredDelta): boolean {
    if (validateDesiredState({ services: delta.came }, { trusted: this.validated }).length > 0) return false;
    const goneIds = new Set(delta.gone.map((s) => svcId(s.key)));
    for (const s of delta.came) {
      const id = svcId(s.key);
      if (this.lastDesired.has(id) && !goneIds.has(id)) return false;
    }
    return true;
  }

  /** Takes the delta into the desired baseline; returns the ids of services whose desired state changed. */
  private commitDelta(desired: DesiredState, delta: DesiredDelta): Set<string> {
    const changed = new Set<string>(this.retry);
    const before = new Map<string, DesiredService>();
    for (const s of delta.gone) {
      const id = svcId(s.key);
      before.set(id, s);
      this.lastDesired.delete(id);
    }
    for (const s of delta.came) this.lastDesired.set(svcId(s.key), s);
    this.lastServices = desired.services;
    for (const [id, prev] of before) {
      const want = this.lastDesired.get(id);
      if (want === undefined || (want !== prev && !desiredServiceEqual(prev, want))) changed.add(id);
    }
    for (const s of delta.came) {
      const id = svcId(s.key);
      if (!before.has(id)) changed.add(id);
    }
    return changed;
  }

  /** The services an incremental sync must plan (`changed`, plus draining ones), their destinations freshly read. */
  private async readChanged(changed: Set<string>, reads: SyncReport['reads'], errors: SyncError[]): Promise<Set<string>> {
    const current = this.lastDesired;
    for (const d of this.drains.values()) changed.add(d.service);
    this.retry = new Set();

    const scope = new Set<string>();
    for (const id of changed) {
      const want = current.get(id);
      let have = this.view.services.get(id);
      const key = want?.key ?? have?.service.key;
      if (!key) continue; // neither desired nor in the kernel: nothing to do
      try {
        if (this.view.stale.has(id)) {
          const service = await this.ipvs.getService(key);
          this.view.stale.delete(id);
          if (service) {
            have = { service, destinations: have?.destinations ?? [] };
            this.view.services.set(id, have);
          } else {
            this.view.services.delete(id);
            have = undefined;
          }
        }
        const mine = this.ownedServices.has(id) || (this.options.adoptExisting === true && want !== undefined);
        // A service leaving the desired state is deleted whole: its destinations need no reading.
        if (have && mine && want !== undefined) {
          reads.destinationDumps++;
          have.destinations = await this.ipvs.listDestinations(key);
        }
        scope.add(id);
      } catch (err) {
        this.retry.add(id);
        this.view.stale.add(id);
        errors.push({ code: codeOf(err), message: `read failed, service left alone: ${messageOf(err)}`, service: id });
      }
    }
    return scope;
  }

  /** Owned services of `ids` present in the view, and their destinations. */
  private countOwned(ids: Iterable<string>): { services: number; destinations: number } {
    let services = 0;
    let destinations = 0;
    for (const id of ids) {
      const s = this.ownedServices.has(id) ? this.view.services.get(id) : undefined;
      if (!s) continue;
      services++;
      destinations += s.destinations.length;
    }
    return { services, destinations };
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
    const { services, destinations } = mode === 'incremental' ? this.totals : this.countOwned(this.ownedServices);
    this.totals = { services, destinations };
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
      draining: this.drains.size,
    };
    this.options.onReport?.(report);
    return report;
  }
}

function sameDrains(a: ReadonlyMap<string, DrainRecord>, b: ReadonlyMap<string, DrainRecord>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) {
    const w = b.get(k);
    if (!w || w.since !== v.since || w.lastWeight !== v.lastWeight) return false;
  }
  return true;
}

function codeOf(err: unknown): string {
  if (err && typeof err === 'object' && 'code' in err && typeof err.code === 'string') return err.code;
  return 'ERROR';
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
