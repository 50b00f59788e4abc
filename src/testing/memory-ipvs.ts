import {
  DestinationExists,
  IpvsError,
  NoSuchDestination,
  NoSuchService,
  ServiceExists,
  UnknownScheduler,
} from '../ipvs/errors.ts';
import { destinationKeyString, serviceKeyString } from '../ipvs/keys.ts';
import { SCHEDULERS } from '../ipvs/vocabulary.ts';
import type {
  Destination,
  DestinationConfig,
  DestinationKey,
  IpvsApi,
  IpvsInfo,
  IpvsOperation,
  IpvsTimeouts,
  Service,
  ServiceConfig,
  ServiceKey,
  VipApi,
} from '../ipvs/types.ts';

// An in-memory IPVS with the kernel's semantics, for unit tests of the layers above the client:
//  - NEW_SERVICE on an existing service -> EEXIST (ServiceExists); other commands on a missing one -> ESRCH;
//  - NEW_DEST on an existing dest -> EEXIST; SET/DEL_DEST on a missing dest -> ENOENT;
//  - GET_DEST on a missing service -> an empty list, not an error;
//  - a new destination goes to the HEAD of the list; dumps return list order;
//  - unknown scheduler -> ENOENT; weight > 2^31-1 or lower threshold > upper -> ERANGE; values that are not
//    u32 (negative weight) -> INVALID_ARGUMENT, refused by the netlink client before the kernel sees them;
//  - the `mh` last weight: an update to weight 0 keeps the previous weight as lastWeight.
// test/kernel/reconcile.test.ts replays scripted and random call sequences on this model and on the real
// kernel (through the netlink client) and requires identical results.
// Faults can be injected per method to test error handling.

export const KERNEL_SCHEDULERS = new Set<string>(SCHEDULERS);

interface MemDest {
  key: DestinationKey;
  config: DestinationConfig;
  lastWeight: number;
  activeConns: number;
  inactiveConns: number;
}

interface MemService {
  key: ServiceKey;
  config: ServiceConfig;
  dests: MemDest[];
}

export type IpvsMethod = keyof IpvsApi;
/** Returns an error to throw for this call, or undefined to let it through. */
export type Fault = (method: IpvsMethod, args: readonly unknown[]) => Error | undefined;

const clone = <T>(v: T): T => structuredClone(v);

export class MemoryIpvs implements IpvsApi {
  private readonly services = new Map<string, MemService>();
  /**
   * The kernel's destination trash (ip_vs_trash_get_dest): a deleted destination's connection counters, by
   * "service -> destination". Its connections keep pointing at it, so a re-add of the same destination to the
   * same service key reuses it, counters and all. (The kernel frees an unreferenced one after about a minute;
   * its counters are 0 then anyway.)
   */
  private readonly trash = new Map<string, { activeConns: number; inactiveConns: number }>();
  /** Every call by method name (reads and writes). */
  readonly calls = new Map<IpvsMethod, number>();
  fault: Fault | undefined;
  private timeouts: IpvsTimeouts = { tcp: 900, tcpFin: 120, udp: 300 };

  private enter(method: IpvsMethod, args: readonly unknown[]): void {
    this.calls.set(method, (this.calls.get(method) ?? 0) + 1);
    const err = this.fault?.(method, args);
    if (err) throw err;
  }

  /** Total calls to methods that change the kernel. */
  writes(): number {
    let n = 0;
    for (const m of ['addService', 'updateService', 'deleteService', 'addDestination', 'updateDestination', 'deleteDestination'] as const) n += this.calls.get(m) ?? 0;
    return n;
  }

  resetCalls(): void {
    this.calls.clear();
  }

  private svc(key: ServiceKey): MemService {
    const s = this.services.get(serviceKeyString(key));
    if (!s) throw new NoSuchService(`no such service ${serviceKeyString(key)}`);
    return s;
  }

  private checkServiceConfig(config: ServiceConfig): void {
    if (!KERNEL_SCHEDULERS.has(config.scheduler)) throw new UnknownScheduler(`scheduler ${config.scheduler} not found`);
  }

  /** What the netlink client refuses before sending anything (values that do not fit a u32). */
  private checkEncodable(config: DestinationConfig): void {
    for (const [name, v] of [['weight', config.weight], ['upper threshold', config.upperThreshold], ['lower threshold', config.lowerThreshold]] as const) {
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new IpvsError('INVALID_ARGUMENT', `${name} ${v} is not a u32`);
    }
  }

  private checkDestConfig(config: DestinationConfig): void {
    // The kernel keeps weights in an int: a u32 above 2^31-1 arrives negative and is refused.
    if (config.weight > 0x7fffffff) throw new IpvsError('OUT_OF_RANGE', 'weight out of range', 'ERANGE');
    if (config.lowerThreshold > config.upperThreshold) throw new IpvsError('OUT_OF_RANGE', 'lower threshold above upper threshold', 'ERANGE');
  }

  async getInfo(): Promise<IpvsInfo> {
    this.enter('getInfo', []);
    return { version: 0x010201, connTableSize: 4096 };
  }

  async listServices(): Promise<Service[]> {
    this.enter('listServices', []);
    return [...this.services.values()].map((s) => ({ key: clone(s.key), config: clone(s.config) }));
  }

  async getService(key: ServiceKey): Promise<Service | undefined> {
    this.enter('getService', [key]);
    const s = this.services.get(serviceKeyString(key));
    return s ? { key: clone(s.key), config: clone(s.config) } : undefined;
  }

  async addService(key: ServiceKey, config: ServiceConfig): Promise<void> {
    this.enter('addService', [key, config]);
    const id = serviceKeyString(key);
    if (this.services.has(id)) throw new ServiceExists(`service ${id} exists`);
    this.checkServiceConfig(config);
    this.services.set(id, { key: clone(key), config: clone(config), dests: [] });
  }

  async updateService(key: ServiceKey, config: ServiceConfig): Promise<void> {
    this.enter('updateService', [key, config]);
    const s = this.svc(key);
    this.checkServiceConfig(config);
    s.config = clone(config);
  }

  async deleteService(key: ServiceKey): Promise<void> {
    this.enter('deleteService', [key]);
    const id = serviceKeyString(key);
    for (const d of this.svc(key).dests) this.trash.set(`${id} -> ${destinationKeyString(d.key)}`, { activeConns: d.activeConns, inactiveConns: d.inactiveConns });
    this.services.delete(id);
  }

  async listDestinations(service: ServiceKey): Promise<Destination[]> {
    this.enter('listDestinations', [service]);
    const s = this.services.get(serviceKeyString(service));
    if (!s) return [];
    return s.dests.map((d) => ({ key: clone(d.key), config: clone(d.config), activeConns: d.activeConns, inactiveConns: d.inactiveConns, persistentConns: 0 }));
  }

  async addDestination(service: ServiceKey, key: DestinationKey, config: DestinationConfig): Promise<void> {
    this.enter('addDestination', [service, key, config]);
    this.checkEncodable(config);
    const s = this.svc(service);
    // ip_vs_add_dest(): range checks before the lookup.
    this.checkDestConfig(config);
    const id = destinationKeyString(key);
    if (s.dests.some((d) => destinationKeyString(d.key) === id)) throw new DestinationExists(`destination ${id} exists`);
    const trashKey = `${serviceKeyString(service)} -> ${id}`;
    const reused = this.trash.get(trashKey);
    this.trash.delete(trashKey);
    s.dests.unshift({ key: clone(key), config: clone(config), lastWeight: config.weight, activeConns: reused?.activeConns ?? 0, inactiveConns: reused?.inactiveConns ?? 0 });
  }

  async updateDestination(service: ServiceKey, key: DestinationKey, config: DestinationConfig): Promise<void> {
    this.enter('updateDestination', [service, key, config]);
    this.checkEncodable(config);
    this.svc(service);
    // ip_vs_edit_dest(): range checks before the lookup.
    this.checkDestConfig(config);
    const d = this.dest(service, key);
    d.config = clone(config);
    if (config.weight !== 0) d.lastWeight = config.weight;
  }

  async deleteDestination(service: ServiceKey, key: DestinationKey): Promise<void> {
    this.enter('deleteDestination', [service, key]);
    const s = this.svc(service);
    const id = destinationKeyString(key);
    const i = s.dests.findIndex((d) => destinationKeyString(d.key) === id);
    if (i < 0) throw new NoSuchDestination(`no such destination ${id}`);
    const [gone] = s.dests.splice(i, 1);
    this.trash.set(`${serviceKeyString(service)} -> ${id}`, { activeConns: gone.activeConns, inactiveConns: gone.inactiveConns });
  }

  async getTimeouts(): Promise<IpvsTimeouts> {
    this.enter('getTimeouts', []);
    return { ...this.timeouts };
  }

  async setTimeouts(timeouts: IpvsTimeouts): Promise<void> {
    this.enter('setTimeouts', [timeouts]);
    this.timeouts = { ...timeouts };
  }

  async zero(): Promise<void> {
    this.enter('zero', []);
  }

  private dest(service: ServiceKey, key: DestinationKey): MemDest {
    const s = this.svc(service);
    const id = destinationKeyString(key);
    const d = s.dests.find((x) => destinationKeyString(x.key) === id);
    if (!d) throw new NoSuchDestination(`no such destination ${id}`);
    return d;
  }

  // --- test helpers (not part of IpvsApi) ---

  /** Sets the connection counters of a destination, as traffic would. */
  setConnections(service: ServiceKey, key: DestinationKey, active: number, inactive = 0): void {
    const d = this.dest(service, key);
    d.activeConns = active;
    d.inactiveConns = inactive;
  }

  /** The kernel's `mh` last weight of a destination. */
  lastWeight(service: ServiceKey, key: DestinationKey): number {
    return this.dest(service, key).lastWeight;
  }

  /** A synchronous snapshot: services by key string with destinations in list order. */
  snapshot(): Map<string, { config: ServiceConfig; destinations: { key: string; config: DestinationConfig }[] }> {
    const out = new Map<string, { config: ServiceConfig; destinations: { key: string; config: DestinationConfig }[] }>();
    for (const [id, s] of this.services) {
      out.set(id, { config: clone(s.config), destinations: s.dests.map((d) => ({ key: destinationKeyString(d.key), config: clone(d.config) })) });
    }
    return out;
  }
}

/** In-memory VIP interface: adding an existing address or removing an absent one is not an error. */
export class MemoryVips implements VipApi {
  readonly addresses = new Set<string>();
  interfaceUp = false;
  calls = 0;
  fault: ((method: keyof VipApi) => Error | undefined) | undefined;

  private enter(method: keyof VipApi): void {
    this.calls++;
    const err = this.fault?.(method);
    if (err) throw err;
  }

  async ensureInterface(): Promise<void> {
    this.enter('ensureInterface');
    this.interfaceUp = true;
  }
  async listAddresses(): Promise<string[]> {
    this.enter('listAddresses');
    return [...this.addresses];
  }
  async addAddress(address: string): Promise<void> {
    this.enter('addAddress');
    this.addresses.add(address);
  }
  async removeAddress(address: string): Promise<void> {
    this.enter('removeAddress');
    this.addresses.delete(address);
  }
}

/** The in-memory kernel with the netlink client's pipelined batch(): writes run in order, one result each. */
export class BatchingMemoryIpvs extends MemoryIpvs {
  batches = 0;
  async batch(ops: readonly IpvsOperation[]): Promise<Array<Error | undefined>> {
    this.batches++;
    const out: Array<Error | undefined> = [];
    for (const o of ops) {
      try {
        switch (o.op) {
          case 'addService': await this.addService(o.service, o.config); break;
          case 'updateService': await this.updateService(o.service, o.config); break;
          case 'deleteService': await this.deleteService(o.service); break;
          case 'addDestination': await this.addDestination(o.service, o.destination, o.config); break;
          case 'updateDestination': await this.updateDestination(o.service, o.destination, o.config); break;
          case 'deleteDestination': await this.deleteDestination(o.service, o.destination); break;
        }
        out.push(undefined);
      } catch (e) {
        out.push(e instanceof Error ? e : new Error(String(e)));
      }
    }
    return out;
  }
}
