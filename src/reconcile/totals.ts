import type { KernelView } from './view.ts';

// The owned services and destinations a sync report gives. A full sync counts them all; an event-driven one
// only recounts the services it planned (before and after) and adjusts the running totals, so a report costs
// O(changed services), not O(services).

export interface Totals {
  services: number;
  destinations: number;
}

export class OwnedTotals {
  private readonly view: KernelView;
  private totals: Totals = { services: 0, destinations: 0 };

  constructor(view: KernelView) {
    this.view = view;
  }

  /** Owned services of `ids` present in the view, and their destinations. */
  count(owned: ReadonlySet<string>, ids: Iterable<string>): Totals {
    let services = 0;
    let destinations = 0;
    for (const id of ids) {
      const s = owned.has(id) ? this.view.services.get(id) : undefined;
      if (!s) continue;
      services++;
      destinations += s.destinations.length;
    }
    return { services, destinations };
  }

  /** Folds an event-driven sync into the totals: `before` and `after` are count() of its scope around it. */
  adjust(before: Totals, after: Totals): void {
    this.totals = {
      services: this.totals.services + after.services - before.services,
      destinations: this.totals.destinations + after.destinations - before.destinations,
    };
  }

  /** The totals to report: the running ones after an event-driven sync, else a full count (which resets them). */
  report(incremental: boolean, owned: ReadonlySet<string>): Totals {
    this.totals = incremental ? this.totals : this.count(owned, owned);
    return this.totals;
  }
}
