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
} from '../../src/ipvs/types.ts';

// Counts kernel requests made through an IpvsApi: one per call, one per write inside a batch (each is its own
// netlink message), dumps counted separately, plus the number of batch round trips.

export interface RequestCounts {
  serviceDumps: number;
  destinationDumps: number;
  otherReads: number;
  writes: number;
  batches: number;
}

export function zeroCounts(): RequestCounts {
  return { serviceDumps: 0, destinationDumps: 0, otherReads: 0, writes: 0, batches: 0 };
}

export function totalRequests(c: RequestCounts): number {
  return c.serviceDumps + c.destinationDumps + c.otherReads + c.writes;
}

export class CountingIpvs implements IpvsApi {
  counts = zeroCounts();
  private readonly inner: IpvsApi;
  /** Present only when the wrapped client can batch, so apply() keeps pipelining. */
  readonly batch?: (ops: readonly IpvsOperation[]) => Promise<ReadonlyArray<Error | undefined>>;

  constructor(inner: IpvsApi) {
    this.inner = inner;
    const b = inner.batch;
    if (b) {
      this.batch = async (ops) => {
        this.counts.batches++;
        this.counts.writes += ops.length;
        return b.call(inner, ops);
      };
    }
  }

  take(): RequestCounts {
    const c = this.counts;
    this.counts = zeroCounts();
    return c;
  }

  getInfo(): Promise<IpvsInfo> {
    this.counts.otherReads++;
    return this.inner.getInfo();
  }
  listServices(): Promise<Service[]> {
    this.counts.serviceDumps++;
    return this.inner.listServices();
  }
  getService(key: ServiceKey): Promise<Service | undefined> {
    this.counts.otherReads++;
    return this.inner.getService(key);
  }
  addService(key: ServiceKey, config: ServiceConfig): Promise<void> {
    this.counts.writes++;
    return this.inner.addService(key, config);
  }
  updateService(key: ServiceKey, config: ServiceConfig): Promise<void> {
    this.counts.writes++;
    return this.inner.updateService(key, config);
  }
  deleteService(key: ServiceKey): Promise<void> {
    this.counts.writes++;
    return this.inner.deleteService(key);
  }
  listDestinations(service: ServiceKey): Promise<Destination[]> {
    this.counts.destinationDumps++;
    return this.inner.listDestinations(service);
  }
  addDestination(service: ServiceKey, key: DestinationKey, config: DestinationConfig): Promise<void> {
    this.counts.writes++;
    return this.inner.addDestination(service, key, config);
  }
  updateDestination(service: ServiceKey, key: DestinationKey, config: DestinationConfig): Promise<void> {
    this.counts.writes++;
    return this.inner.updateDestination(service, key, config);
  }
  deleteDestination(service: ServiceKey, key: DestinationKey): Promise<void> {
    this.counts.writes++;
    return this.inner.deleteDestination(service, key);
  }
  getTimeouts(): Promise<IpvsTimeouts> {
    this.counts.otherReads++;
    return this.inner.getTimeouts();
  }
  setTimeouts(timeouts: IpvsTimeouts): Promise<void> {
    this.counts.writes++;
    return this.inner.setTimeouts(timeouts);
  }
  zero(service?: ServiceKey): Promise<void> {
    this.counts.writes++;
    return this.inner.zero(service);
  }
}
