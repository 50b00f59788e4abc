import { destId, drainKey, svcId } from './compare.ts';
import { CopyOnWriteSet } from './copy-on-write.ts';
import type { DrainRecord, OperationResult, OwnershipState, Plan, StateStore } from './types.ts';

// What this instance owns (services, VIPs) and which destinations it is draining, kept in step with the state
// file: new ownership is saved BEFORE anything is created (write-ahead), so a crash never leaves a service we
// made without knowing it is ours; what a plan gives up is saved after it ran, keeping whatever a failed
// operation leaves in the kernel.

export class OwnershipLedger {
  private readonly store: StateStore;
  private loaded = false;
  // Never mutated in place: plans share them (copy on write), so a change is a new set.
  private ownedServices: ReadonlySet<string> = new Set<string>();
  private ownedAddresses: ReadonlySet<string> = new Set<string>();
  private drainRecords = new Map<string, DrainRecord>();

  constructor(store: StateStore) {
    this.store = store;
  }

  get ownership(): OwnershipState {
    return { services: this.ownedServices, addresses: this.ownedAddresses };
  }

  get services(): ReadonlySet<string> {
    return this.ownedServices;
  }

  /** Drain records by drainKey(service, destination). */
  get drains(): ReadonlyMap<string, DrainRecord> {
    return this.drainRecords;
  }

  /** Reads the state file once; later calls do nothing. */
  async load(): Promise<void> {
    if (this.loaded) return;
    const state = await this.store.load();
    this.ownedServices = new Set(state.services);
    this.ownedAddresses = new Set(state.addresses);
    this.drainRecords = new Map(state.drains.map((d) => [drainKey(d.service, d.destination), d]));
    this.loaded = true;
  }

  /**
   * Records the plan's new services and addresses as ours and saves that before any of them is created. On a
   * failed save the ledger is as before and the error is thrown: nothing may be created then.
   */
  async recordAhead(newlyOwned: Plan['newlyOwned']): Promise<void> {
    const services = newlyOwned.services.filter((s) => !this.ownedServices.has(s));
    const addresses = newlyOwned.addresses.filter((a) => !this.ownedAddresses.has(a));
    if (services.length === 0 && addresses.length === 0) return;
    const before = { services: this.ownedServices, addresses: this.ownedAddresses };
    this.ownedServices = new Set([...this.ownedServices, ...services]);
    this.ownedAddresses = new Set([...this.ownedAddresses, ...addresses]);
    try {
      await this.persist();
    } catch (err) {
      this.ownedServices = before.services;
      this.ownedAddresses = before.addresses;
      throw err;
    }
  }

  /**
   * Takes in the ownership and drains the plan leads to, keeping what its failed operations still leave in the
   * kernel (a service or address not deleted stays ours, a drain not ended goes on), and saves them when they
   * changed. A failed save is thrown; the ledger holds the new state anyway (the next change saves it again).
   */
  async settle(result: Pick<Plan, 'ownership' | 'drains'>, applied: readonly OperationResult[]): Promise<void> {
    // The plan's sets may be our own when it changed nothing (copy on write): copy before adding back.
    const services = new CopyOnWriteSet(result.ownership.services);
    const addresses = new CopyOnWriteSet(result.ownership.addresses);
    const drains = result.drains;
    for (const r of applied) {
      if (r.outcome !== 'failed') continue;
      const op = r.operation;
      if (op.kind === 'deleteService') services.add(svcId(op.service));
      if (op.kind === 'unbindAddress') addresses.add(op.address);
      if (op.kind === 'deleteDestination') {
        const key = drainKey(svcId(op.service), destId(op.destination));
        const old = this.drainRecords.get(key);
        if (old) drains.set(key, old);
      }
    }
    // Both sets only ever lose members here (what is new was recorded write-ahead): equal sizes, equal sets.
    const changed =
      services.result().size !== this.ownedServices.size || addresses.result().size !== this.ownedAddresses.size || !sameDrains(drains, this.drainRecords);
    this.ownedServices = services.result();
    this.ownedAddresses = addresses.result();
    this.drainRecords = drains;
    if (changed) await this.persist();
  }

  private async persist(): Promise<void> {
    await this.store.save({
      services: [...this.ownedServices].sort(),
      addresses: [...this.ownedAddresses].sort(),
      drains: [...this.drainRecords.values()],
    });
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
