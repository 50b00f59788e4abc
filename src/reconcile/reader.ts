import type { IpvsApi, VipApi } from '../ipvs/types.ts';
import type { DesiredService } from '../model/types.ts';
import { svcId } from './compare.ts';
import type { ActualService, SyncError, SyncReport } from './types.ts';
import type { KernelView } from './view.ts';

// The kernel reads of a sync. A full read is one service dump, one destination dump per service this instance
// may change, and the VIP list; an event-driven one re-reads only the services it plans. Never plan from a
// partial read: a service whose read failed is left out of the scope (left alone) and reported.

/** Whether this instance may change a service (it owns it, or adopts it because the desired state names it). */
export type Mine = (id: string) => boolean;

export interface FullRead {
  services: ActualService[];
  bound: string[] | undefined;
  /** Services to plan: every one read whole, every desired and every owned one, but none whose read failed. */
  scope: Set<string>;
  /** Per service (or VIP interface) whose read failed. */
  errors: SyncError[];
}

export class KernelReader {
  private readonly ipvs: IpvsApi;
  private readonly vips: VipApi | undefined;
  private interfaceReady = false;

  constructor(ipvs: IpvsApi, vips: VipApi | undefined) {
    this.ipvs = ipvs;
    this.vips = vips;
  }

  /** A failed service dump is thrown (nothing can be planned); anything else is in `errors`. */
  async readFull(mine: Mine, desiredIds: Iterable<string>, owned: Iterable<string>, reads: SyncReport['reads']): Promise<FullRead> {
    const scope = new Set<string>();
    const errors: SyncError[] = [];
    reads.serviceDumps++;
    const services: ActualService[] = (await this.ipvs.listServices()).map((service) => ({ service, destinations: [] }));
    for (const s of services) {
      const id = svcId(s.service.key);
      if (mine(id)) {
        try {
          reads.destinationDumps++;
          s.destinations = await this.ipvs.listDestinations(s.service.key);
        } catch (err) {
          errors.push({ code: codeOf(err), message: `destination dump failed, service left alone: ${messageOf(err)}`, service: id });
          continue;
        }
      }
      scope.add(id);
    }
    // Desired services absent from the kernel and owned ones that vanished are planned too.
    const unreadable = new Set(errors.map((e) => e.service));
    for (const id of desiredIds) if (!unreadable.has(id)) scope.add(id);
    for (const id of owned) if (!unreadable.has(id)) scope.add(id);
    let bound: string[] | undefined;
    if (this.vips) {
      try {
        if (!this.interfaceReady) {
          await this.vips.ensureInterface();
          this.interfaceReady = true;
        }
        bound = await this.vips.listAddresses();
      } catch (err) {
        errors.push({ code: codeOf(err), message: `VIP interface unreadable, addresses left alone: ${messageOf(err)}` });
      }
    }
    return { services, bound, scope, errors };
  }

  /**
   * Brings the view's entries of `changed` up to date for an event-driven plan: a stale service is read again,
   * and the destinations of every one that is ours and stays desired. Returns the services to plan and those
   * whose read failed (left alone, marked stale, retried next sync; their errors pushed to `errors`).
   */
  async readChanged(
    view: KernelView,
    changed: Iterable<string>,
    desired: ReadonlyMap<string, DesiredService>,
    mine: Mine,
    reads: SyncReport['reads'],
    errors: SyncError[],
  ): Promise<{ scope: Set<string>; failed: Set<string> }> {
    const scope = new Set<string>();
    const failed = new Set<string>();
    for (const id of changed) {
      const want = desired.get(id);
      let have = view.services.get(id);
      const key = want?.key ?? have?.service.key;
      if (!key) continue; // neither desired nor in the kernel: nothing to do
      try {
        if (view.stale.has(id)) {
          const service = await this.ipvs.getService(key);
          view.stale.delete(id);
          if (service) {
            have = { service, destinations: have?.destinations ?? [] };
            view.services.set(id, have);
          } else {
            view.services.delete(id);
            have = undefined;
          }
        }
        // A service leaving the desired state is deleted whole: its destinations need no reading.
        if (have && want !== undefined && mine(id)) {
          reads.destinationDumps++;
          have.destinations = await this.ipvs.listDestinations(key);
        }
        scope.add(id);
      } catch (err) {
        failed.add(id);
        view.stale.add(id);
        errors.push({ code: codeOf(err), message: `read failed, service left alone: ${messageOf(err)}`, service: id });
      }
    }
    return { scope, failed };
  }
}

export function codeOf(err: unknown): string {
  if (err && typeof err === 'object' && 'code' in err && typeof err.code === 'string') return err.code;
  return 'ERROR';
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
