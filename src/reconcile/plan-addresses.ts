import type { DesiredService } from '../model/types.ts';
import type { ServiceKey } from '../ipvs/types.ts';
import { serviceAddress } from './compare.ts';
import { CopyOnWriteSet } from './copy-on-write.ts';
import type { ActualService, Operation } from './types.ts';

// The VIP half of a plan: which addresses to bind on our interface and which of ours to unbind, once the
// service half has decided which services will exist.

export interface AddressPlanInput {
  /** Addresses on the interface now. */
  bound: ReadonlySet<string>;
  actual: ReadonlyMap<string, ActualService>;
  desired: ReadonlyMap<string, DesiredService>;
  /** Addresses this instance owns. */
  owned: ReadonlySet<string>;
  /** The services a scoped plan walks; undefined = every service. */
  scope: readonly string[] | undefined;
  /** Services the plan creates and deletes. */
  added: ReadonlySet<string>;
  deleted: ReadonlySet<string>;
}

export interface AddressPlan {
  bind: Operation[];
  unbind: Operation[];
  /** Owned addresses after the plan (the input set itself when unchanged). */
  owned: ReadonlySet<string>;
  /** Addresses owned after the plan and not before, in plan order (recorded write-ahead). */
  newlyOwned: string[];
}

export function planAddresses(input: AddressPlanInput): AddressPlan {
  const { bound, actual, desired, scope } = input;
  const owned = new CopyOnWriteSet(input.owned);
  const newlyOwned: string[] = [];
  // A full plan looks at every address; a scoped one only at the addresses of the services in scope (an
  // address bound by hand or a failed bind elsewhere waits for the next full sync).
  const needed = new Set<string>();
  let unbindCandidates: Iterable<string>;
  if (scope) {
    const touched = new Set<string>();
    for (const id of scope) {
      const want = desired.get(id);
      const wantAddress = want ? serviceAddress(want.key) : undefined;
      if (want?.bindAddress && wantAddress !== undefined) needed.add(wantAddress);
      else if (wantAddress !== undefined) touched.add(wantAddress);
      const have = actual.get(id);
      const haveAddress = have ? serviceAddress(have.service.key) : undefined;
      if (haveAddress !== undefined) touched.add(haveAddress);
    }
    const candidates: string[] = [];
    for (const address of touched) if (!needed.has(address) && input.owned.has(address)) candidates.push(address);
    // A candidate still needed by a service outside the scope is in use by it too: the check below keeps it.
    unbindCandidates = candidates;
  } else {
    for (const d of desired.values()) {
      const address = serviceAddress(d.key);
      if (d.bindAddress && address !== undefined) needed.add(address);
    }
    unbindCandidates = input.owned;
  }
  const toBind: string[] = [];
  for (const address of needed) {
    if (!owned.has(address)) newlyOwned.push(address);
    owned.add(address);
    if (!bound.has(address)) toBind.push(address);
  }
  const bind: Operation[] = [];
  for (const address of toBind.sort()) bind.push({ kind: 'bindAddress', address });
  const unbind: Operation[] = [];
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
    for (const [id, a] of actual) if (!input.deleted.has(id)) use(a.service.key);
    for (const id of input.added) use(desired.get(id)?.key);
    for (const address of notNeeded.sort()) {
      if (used.has(address)) continue;
      owned.delete(address);
      if (bound.has(address)) unbind.push({ kind: 'unbindAddress', address });
    }
  }
  return { bind, unbind, owned: owned.result(), newlyOwned };
}
