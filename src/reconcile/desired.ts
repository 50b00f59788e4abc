import { ValidationError, desiredServiceEqual, validateDesiredState } from '../model/index.ts';
import type { DesiredService, DesiredState } from '../model/types.ts';
import { svcId } from './compare.ts';

// Which desired services changed since the last sync. Desired states are values: a source builds a new object
// for a changed service and reuses unchanged ones, so what changed is what is a new object, found by pointer
// compares (no keys built), and only new objects need validating.

/** Desired services that are new objects since the last sync (`came`) and the objects they replace (`gone`). */
export interface DesiredDelta {
  gone: DesiredService[];
  came: DesiredService[];
}

export class DesiredTracker {
  /** The desired services of the last sync by serviceKeyString. */
  private byId = new Map<string, DesiredService>();
  /** The same in the order given (for the identity scan of the next one). */
  private services: readonly DesiredService[] = [];
  /** Desired services already validated (by identity), so unchanged ones are not re-checked every sync. */
  private readonly validated = new WeakSet<object>();

  /** The desired services of the last sync taken in, by serviceKeyString. */
  get current(): ReadonlyMap<string, DesiredService> {
    return this.byId;
  }

  /**
   * Validates `desired`: all of it for a full sync; for an event-driven one only its new objects, unless they
   * clash with unchanged ones. Returns the problem (a message) or, when valid, the delta for an event-driven
   * sync (undefined for a full one); the services are then known valid.
   */
  admit(desired: DesiredState, full: boolean): { problem: string } | { problem?: undefined; delta: DesiredDelta | undefined } {
    const delta = full ? undefined : this.delta(desired.services);
    if (delta === undefined || !this.deltaValid(delta)) {
      const problems = validateDesiredState(desired, full ? {} : { trusted: this.validated });
      if (problems.length > 0) return { problem: new ValidationError(problems).message };
    }
    for (const s of delta?.came ?? desired.services) this.validated.add(s);
    return { delta };
  }

  /** Takes the delta into the baseline; returns the ids of services whose desired state changed. */
  commit(desired: DesiredState, delta: DesiredDelta): Set<string> {
    const changed = new Set<string>();
    const before = new Map<string, DesiredService>();
    for (const s of delta.gone) {
      const id = svcId(s.key);
      before.set(id, s);
      this.byId.delete(id);
    }
    for (const s of delta.came) this.byId.set(svcId(s.key), s);
    this.services = desired.services;
    for (const [id, prev] of before) {
      const want = this.byId.get(id);
      if (want === undefined || (want !== prev && !desiredServiceEqual(prev, want))) changed.add(id);
    }
    for (const s of delta.came) {
      const id = svcId(s.key);
      if (!before.has(id)) changed.add(id);
    }
    return changed;
  }

  /** Makes `desired` (indexed as `byId`) the baseline whole, after a full sync. */
  replace(desired: DesiredState, byId: Map<string, DesiredService>): void {
    this.byId = byId;
    this.services = desired.services;
  }

  /** O(services) pointer compares: the services that are not the same objects as at the last sync. */
  private delta(services: readonly DesiredService[]): DesiredDelta {
    const prev = this.services;
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
      if (this.byId.has(id) && !goneIds.has(id)) return false;
    }
    return true;
  }
}
