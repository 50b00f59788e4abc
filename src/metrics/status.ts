import { destinationKeyString, serviceKeyString } from '../ipvs/keys.ts';
import type { Destination, Service } from '../ipvs/types.ts';
import { buildKernelTable } from '../maglev/index.ts';
import { DEFAULT_MH_TABLE_SIZE, type DrainRecord, type OperationResult, drainKey } from '../reconcile/index.ts';
import type { BackendHealthStatus, QuorumServiceStatus } from './registry.ts';

// What the status page shows (src/metrics/status-page/), built from what the kernel holds now: every
// owned service, its destinations in kernel order with weights, connections, health and drains, and for
// `mh` services the Maglev table the kernel has built, replicated by src/maglev (bit-exact with ip_vs_mh,
// from the list order and the last weights). A destination set to weight 0 (drained, or down with
// onFailure: weight0) keeps its slots (the kernel's last-weight rule) but takes no new flows there: the
// page shows those slots as such. The kernel does not report last weights, so they come from what was
// written: the reconciler's drain records, and LastWeights, which follows every destination write.
//
// Bounded: at most MAX_SERVICES services and MAX_DESTINATIONS destinations each are described, and a
// table is sent as at most MAX_BINS bins of consecutive slots, each with the count of slots per
// destination in it (so a downsampled strip still shows exact shares, not one guessed owner per bin).

export const MAX_SERVICES = 256;
export const MAX_DESTINATIONS = 256;
export const MAX_BINS = 512;

export interface StatusInput {
  /** Owned services with their destinations in kernel list order (newest first). */
  services: readonly { name: string; service: Service; destinations: readonly Destination[] }[];
  drains: readonly DrainRecord[];
  /** Health verdicts; a destination without one is "unchecked". */
  health: readonly BackendHealthStatus[];
  /** The kernel's mh table size (CONFIG_IP_VS_MH_TAB_INDEX; 4093 by default). */
  mhTableSize?: number;
  /** Last non-zero weights written (LastWeights); without one, a weight-0 destination has no slots. */
  lastWeights?: LastWeights;
  /** Quorum verdicts of the services that have a quorum. */
  quorum?: readonly QuorumServiceStatus[];
  /** Tables kept from the last snapshot, rebuilt only when a service's mh list changes. */
  tables?: TableCache;
}

interface MhEntry {
  address: string;
  port: number;
  weight: number;
  lastWeight: number;
}

interface BuiltTable {
  table: StatusTable;
  /** Slots per destination, in list order. */
  counts: Int32Array;
}

/** Tables already drawn, per service, with the mh list (and size) they were built from. Holds only current services. */
export class TableCache {
  private readonly byService = new Map<string, { signature: string; built: BuiltTable }>();

  get(service: string, mh: readonly MhEntry[], size: number): BuiltTable {
    let signature = String(size);
    for (const d of mh) signature += `,${d.address}/${d.port}/${d.weight}/${d.lastWeight}`;
    const hit = this.byService.get(service);
    if (hit && hit.signature === signature) return hit.built;
    const built = mhTable(mh, size);
    this.byService.set(service, { signature, built });
    return built;
  }

  keepOnly(services: ReadonlySet<string>): void {
    for (const k of this.byService.keys()) if (!services.has(k)) this.byService.delete(k);
  }

  get size(): number {
    return this.byService.size;
  }
}

function mhTable(mh: readonly MhEntry[], size: number): BuiltTable {
  // The kernel adds at the head of its list: the order of addition is the list reversed.
  const table = buildKernelTable([...mh].reverse(), size);
  const n = mh.length;
  const counts = new Int32Array(n);
  const binSlots = Math.ceil(table.size / MAX_BINS);
  const bins: string[] = [];
  const inBin = new Int32Array(n + 1);
  for (let start = 0; start < table.size; start += binSlots) {
    inBin.fill(0);
    const end = Math.min(table.size, start + binSlots);
    for (let slot = start; slot < end; slot++) {
      const d = table.slots[slot];
      // Table index d counts from the oldest destination; the page lists kernel order (newest first).
      const listIndex = d < 0 ? -1 : n - 1 - d;
      inBin[listIndex + 1]++;
      if (listIndex >= 0) counts[listIndex]++;
    }
    const pairs: string[] = [];
    for (let k = 0; k <= n; k++) if (inBin[k] > 0) pairs.push(`${k - 1}:${inBin[k]}`);
    bins.push(pairs.join(','));
  }
  return { table: { size: table.size, binSlots, bins: bins.join(';') }, counts };
}

/**
 * The last non-zero weight written to each destination, from the sync reports: what the kernel builds
 * an mh table with when the current weight is 0. One entry per destination that exists; deletes forget.
 */
export class LastWeights {
  /** By service key string, then destination key string. */
  private readonly byService = new Map<string, Map<string, number>>();
  private count = 0;

  observe(results: readonly OperationResult[]): void {
    for (const r of results) {
      if (r.outcome !== 'ok' && r.outcome !== 'converted') continue;
      const op = r.operation;
      if (op.kind === 'deleteService') {
        const service = serviceKeyString(op.service);
        this.count -= this.byService.get(service)?.size ?? 0;
        this.byService.delete(service);
        continue;
      }
      if (op.kind !== 'addDestination' && op.kind !== 'updateDestination' && op.kind !== 'drainDestination' && op.kind !== 'deleteDestination') continue;
      const service = serviceKeyString(op.service);
      const destination = destinationKeyString(op.destination);
      if (op.kind === 'deleteDestination') this.forget(service, destination);
      // Added at 0: the kernel's last weight is 0 (no slots) until a non-zero weight is written.
      else if (op.kind === 'addDestination') this.set(service, destination, op.config.weight);
      else if (op.config.weight > 0) this.set(service, destination, op.config.weight);
    }
  }

  get(service: string, destination: string): number | undefined {
    return this.byService.get(service)?.get(destination);
  }

  get size(): number {
    return this.count;
  }

  private set(service: string, destination: string, weight: number): void {
    let weights = this.byService.get(service);
    if (weights === undefined) {
      weights = new Map();
      this.byService.set(service, weights);
    }
    if (!weights.has(destination)) this.count++;
    weights.set(destination, weight);
  }

  private forget(service: string, destination: string): void {
    const weights = this.byService.get(service);
    if (weights === undefined || !weights.delete(destination)) return;
    this.count--;
    if (weights.size === 0) this.byService.delete(service);
  }
}

export interface StatusDestination {
  destination: string;
  weight: number;
  /** The weight the mh table was built with (differs from weight while draining). */
  lastWeight: number;
  activeConns: number;
  inactiveConns: number;
  health: 'up' | 'down' | 'unchecked';
  /** ms since the epoch the drain began; absent when not draining. */
  drainingSince?: number;
  /** mh services: slots of the table that are this destination's. */
  slots?: number;
}

export interface StatusTable {
  size: number;
  /** Consecutive slots per bin (the last bin may hold fewer). */
  binSlots: number;
  /**
   * Per bin, "index:count" pairs joined by ",", bins joined by ";": how many of the bin's slots each
   * destination (index in the list, -1 = empty slot) holds. A string, not nested arrays: with hundreds of
   * services, serializing ~10^5 small arrays per snapshot was most of its cost.
   */
  bins: string;
}

export interface StatusService {
  name: string;
  service: string;
  scheduler: string;
  flags: string[];
  destinations: StatusDestination[];
  /** Destinations beyond MAX_DESTINATIONS, not listed. */
  moreDestinations: number;
  table?: StatusTable;
  /** Services with a quorum: whether they hold it, and whether the sorry server takes new connections. */
  quorum?: { up: boolean; availableWeight: number; sorryServerActive: boolean };
  /** Why an mh service has no table (e.g. a table error). */
  tableError?: string;
}

export interface StatusSnapshot {
  generatedAt: string;
  services: StatusService[];
  /** Services beyond MAX_SERVICES, not listed. */
  moreServices: number;
}

export function buildStatus(input: StatusInput, now = Date.now()): StatusSnapshot {
  const health = new Map<string, boolean>();
  for (const h of input.health) health.set(`${h.serviceName}\u0000${h.destination}`, h.up);
  const drains = new Map(input.drains.map((d) => [drainKey(d.service, d.destination), d]));
  const services: StatusService[] = [];
  const quorum = new Map((input.quorum ?? []).map((q) => [q.service, q]));
  for (const s of input.services.slice(0, MAX_SERVICES)) {
    const out = describeService(s, health, drains, input.lastWeights, input.tables, input.mhTableSize ?? DEFAULT_MH_TABLE_SIZE);
    const q = quorum.get(out.service);
    if (q) out.quorum = { up: q.up, availableWeight: q.availableWeight, sorryServerActive: q.sorryServerActive };
    services.push(out);
  }
  input.tables?.keepOnly(new Set(services.map((s) => s.service)));
  return { generatedAt: new Date(now).toISOString(), services, moreServices: Math.max(0, input.services.length - MAX_SERVICES) };
}

function describeService(
  s: StatusInput['services'][number],
  health: ReadonlyMap<string, boolean>,
  drains: ReadonlyMap<string, DrainRecord>,
  lastWeights: LastWeights | undefined,
  tables: TableCache | undefined,
  tableSize: number,
): StatusService {
  const id = serviceKeyString(s.service.key);
  const mh = s.destinations.map((d) => {
    const did = destinationKeyString(d.key);
    const w = d.config.weight;
    const lastWeight = w > 0 ? w : (drains.get(drainKey(id, did))?.lastWeight ?? lastWeights?.get(id, did) ?? 0);
    return { address: d.key.address, port: d.key.port, weight: w, lastWeight };
  });
  const flags = Object.entries(s.service.config.flags)
    .filter(([, on]) => on)
    .map(([f]) => f);
  const out: StatusService = { name: s.name, service: id, scheduler: s.service.config.scheduler, flags, destinations: [], moreDestinations: Math.max(0, s.destinations.length - MAX_DESTINATIONS) };
  s.destinations.slice(0, MAX_DESTINATIONS).forEach((d, i) => {
    const did = destinationKeyString(d.key);
    const verdict = health.get(`${s.name}\u0000${did}`);
    const drain = drains.get(drainKey(id, did));
    out.destinations.push({
      destination: did,
      weight: d.config.weight,
      lastWeight: mh[i].lastWeight,
      activeConns: d.activeConns ?? 0,
      inactiveConns: d.inactiveConns ?? 0,
      health: verdict === undefined ? 'unchecked' : verdict ? 'up' : 'down',
      ...(drain ? { drainingSince: drain.since } : {}),
    });
  });
  if (s.service.config.scheduler !== 'mh' || s.destinations.length === 0) return out;
  try {
    const built = tables ? tables.get(id, mh, tableSize) : mhTable(mh, tableSize);
    out.table = built.table;
    out.destinations.forEach((d, i) => {
      d.slots = built.counts[i];
    });
  } catch (err) {
    out.tableError = err instanceof Error ? err.message : String(err);
  }
  return out;
}
