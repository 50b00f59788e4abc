import type { BatchRequest, Conn, DumpRequest } from '../netlink/conn.ts';
import { type GenlFamily, resolveFamily } from '../netlink/genetlink.ts';
import type { Message } from '../netlink/message.ts';
import { decodeDestination, decodeInfo, decodeService, decodeTimeouts, IpvsRequests } from './codec.ts';
import { toIpvsError } from './error-map.ts';
import { InvalidArgument, type IpvsError } from './errors.ts';
import { destinationKeyString, serviceKeyString } from './keys.ts';
import { IPVS_GENL_NAME, type IpvsCmdName } from './schema.ts';
import type {
  Destination, DestinationConfig, DestinationKey, IpvsApi, IpvsInfo, IpvsOperation, IpvsTimeouts, Service, ServiceConfig, ServiceKey,
} from './types.ts';


// The typed IPVS client over a netlink Conn. One request per call, except listServices
// (one dump for all services, with STATS64) and batch() (many writes pipelined).

/** Per operation: undefined when it succeeded, else its typed error. Same order as the input. */
export type BatchResult = Array<IpvsError | undefined>;

export interface FlushGuard {
  /** Must be literally true: FLUSH removes every service in the namespace, including other tools'. */
  allServicesInNamespace: true;
}

function destSubject(service: ServiceKey, dest: DestinationKey): string {
  return `${destinationKeyString(dest)} of ${serviceKeyString(service)}`;
}

export class IpvsClient implements IpvsApi {
  private readonly conn: Conn;
  private readonly req: IpvsRequests;
  readonly family: GenlFamily;

  constructor(conn: Conn, family: GenlFamily) {
    this.conn = conn;
    this.family = family;
    this.req = new IpvsRequests(family.id);
  }

  /** Resolves the IPVS family on `conn` and returns a client; NoIpvs when the kernel lacks it. */
  static async create(conn: Conn): Promise<IpvsClient> {
    let family: GenlFamily;
    try {
      family = await resolveFamily(conn, IPVS_GENL_NAME);
    } catch (e) {
      throw toIpvsError(e, 'GETFAMILY', IPVS_GENL_NAME);
    }
    return new IpvsClient(conn, family);
  }

  close(): void {
    this.conn.close();
  }

  /** Builds the request lazily inside the try, so bad input becomes a typed error too. */
  private async call(cmd: IpvsCmdName, subject: string, build: () => Uint8Array): Promise<Message[]> {
    try {
      return await this.conn.execute(build(), { operation: `IPVS ${cmd}${subject ? ` ${subject}` : ''}` });
    } catch (e) {
      throw toIpvsError(e, cmd, subject);
    }
  }

  private decode<T>(cmd: IpvsCmdName, subject: string, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw toIpvsError(e, cmd, subject);
    }
  }

  async getInfo(): Promise<IpvsInfo> {
    const replies = await this.call('GET_INFO', '', () => this.req.getInfo());
    return this.decode('GET_INFO', '', () => {
      if (replies.length !== 1) throw new InvalidArgument(`expected one GET_INFO reply, got ${replies.length}`);
      return decodeInfo(replies[0]);
    });
  }

  async getTimeouts(): Promise<IpvsTimeouts> {
    const replies = await this.call('GET_CONFIG', '', () => this.req.getConfig());
    return this.decode('GET_CONFIG', '', () => {
      if (replies.length !== 1) throw new InvalidArgument(`expected one GET_CONFIG reply, got ${replies.length}`);
      return decodeTimeouts(replies[0]);
    });
  }

  /** Sets the TCP, TCP-FIN and UDP timeouts (seconds); 0 leaves that one unchanged. */
  async setTimeouts(timeouts: IpvsTimeouts): Promise<void> {
    await this.call('SET_CONFIG', '', () => this.req.setConfig(timeouts));
  }

  /** All services, in one dump, with 64-bit stats (decoded as the replies arrive). */
  async listServices(): Promise<Service[]> {
    try {
      const [services] = await this.conn.dumps([{ message: this.req.dumpServices(), operation: 'IPVS GET_SERVICE (dump)' }], decodeService);
      return services;
    } catch (e) {
      throw toIpvsError(e, 'GET_SERVICE', '(dump)');
    }
  }

  async getService(key: ServiceKey): Promise<Service | undefined> {
    const subject = safeSubject(() => serviceKeyString(key));
    let replies: Message[];
    try {
      replies = await this.call('GET_SERVICE', subject, () => this.req.getService(key));
    } catch (e) {
      if ((e as IpvsError).code === 'NO_SUCH_SERVICE') return undefined;
      throw e;
    }
    return this.decode('GET_SERVICE', subject, () => {
      if (replies.length !== 1) throw new InvalidArgument(`expected one GET_SERVICE reply, got ${replies.length}`);
      return decodeService(replies[0]);
    });
  }

  async addService(key: ServiceKey, config: ServiceConfig): Promise<void> {
    await this.call('NEW_SERVICE', safeSubject(() => serviceKeyString(key)), () => this.req.newService(key, config));
  }

  async updateService(key: ServiceKey, config: ServiceConfig): Promise<void> {
    await this.call('SET_SERVICE', safeSubject(() => serviceKeyString(key)), () => this.req.setService(key, config));
  }

  async deleteService(key: ServiceKey): Promise<void> {
    await this.call('DEL_SERVICE', safeSubject(() => serviceKeyString(key)), () => this.req.delService(key));
  }

  /** Destinations of a service in the kernel's list order; empty when the service does not exist. */
  async listDestinations(service: ServiceKey): Promise<Destination[]> {
    const subject = safeSubject(() => serviceKeyString(service));
    const replies = await this.call('GET_DEST', subject, () => this.req.dumpDests(service));
    return this.decode('GET_DEST', subject, () => replies.map((m) => decodeDestination(m, service.family)));
  }

  /**
   * The destinations of many services (per service in the kernel's list order, empty for a
   * missing one): one GET_DEST dump per service, run back to back in one conversation and
   * decoded as the replies arrive. Same result as listDestinations() per service.
   */
  async listDestinationsOf(services: readonly ServiceKey[]): Promise<Destination[][]> {
    const requests: DumpRequest[] = new Array(services.length);
    for (let i = 0; i < services.length; i++) {
      const service = services[i];
      const subject = safeSubject(() => serviceKeyString(service));
      try {
        requests[i] = { message: this.req.dumpDests(service), operation: `IPVS GET_DEST ${subject}` };
      } catch (e) {
        throw toIpvsError(e, 'GET_DEST', subject);
      }
    }
    let decoding = -1;
    try {
      return await this.conn.dumps(requests, (msg, i) => {
        decoding = i;
        return decodeDestination(msg, services[i].family);
      });
    } catch (e) {
      // Name the service whose dump failed: the conversation's errors carry its operation.
      const operation = (e as { operation?: unknown }).operation;
      let k = typeof operation === 'string' ? requests.findIndex((r) => r.operation === operation) : -1;
      if (k < 0) k = decoding;
      throw toIpvsError(e, 'GET_DEST', k >= 0 ? (requests[k].operation ?? '').slice('IPVS GET_DEST '.length) : `(${services.length} services)`);
    }
  }

  async addDestination(service: ServiceKey, key: DestinationKey, config: DestinationConfig): Promise<void> {
    await this.call('NEW_DEST', safeSubject(() => destSubject(service, key)), () => this.req.newDest(service, key, config));
  }

  async updateDestination(service: ServiceKey, key: DestinationKey, config: DestinationConfig): Promise<void> {
    await this.call('SET_DEST', safeSubject(() => destSubject(service, key)), () => this.req.setDest(service, key, config));
  }

  async deleteDestination(service: ServiceKey, key: DestinationKey): Promise<void> {
    await this.call('DEL_DEST', safeSubject(() => destSubject(service, key)), () => this.req.delDest(service, key));
  }

  /** Zeroes the counters of one service, or of all services when none is given. */
  async zero(service?: ServiceKey): Promise<void> {
    await this.call('ZERO', service ? safeSubject(() => serviceKeyString(service)) : '', () => this.req.zero(service));
  }

  /** Removes EVERY virtual service in the namespace. Never called implicitly; needs an explicit guard. */
  async flush(guard: FlushGuard): Promise<void> {
    if (guard?.allServicesInNamespace !== true) {
      throw new InvalidArgument('flush removes every IPVS service in the namespace: pass { allServicesInNamespace: true } to confirm');
    }
    await this.call('FLUSH', '', () => this.req.flush());
  }

  /**
   * Applies many writes pipelined (several per datagram, bounded in flight) and returns a
   * typed error or undefined per operation, in input order. The kernel applies them in
   * order and one failure does not stop the rest. Invalid input is reported for that
   * operation without sending it.
   */
  async batch(ops: readonly IpvsOperation[]): Promise<BatchResult> {
    const results: BatchResult = new Array(ops.length).fill(undefined);
    const requests: BatchRequest[] = [];
    const index: number[] = [];
    const meta: Array<{ cmd: IpvsCmdName; subject: string }> = [];
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i];
      let cmd: IpvsCmdName = 'NEW_SERVICE';
      let subject = '';
      try {
        let message: Uint8Array;
        switch (op.op) {
          case 'addService': cmd = 'NEW_SERVICE'; subject = serviceKeyString(op.service); message = this.req.newService(op.service, op.config); break;
          case 'updateService': cmd = 'SET_SERVICE'; subject = serviceKeyString(op.service); message = this.req.setService(op.service, op.config); break;
          case 'deleteService': cmd = 'DEL_SERVICE'; subject = serviceKeyString(op.service); message = this.req.delService(op.service); break;
          case 'addDestination': cmd = 'NEW_DEST'; subject = destSubject(op.service, op.destination); message = this.req.newDest(op.service, op.destination, op.config); break;
          case 'updateDestination': cmd = 'SET_DEST'; subject = destSubject(op.service, op.destination); message = this.req.setDest(op.service, op.destination, op.config); break;
          case 'deleteDestination': cmd = 'DEL_DEST'; subject = destSubject(op.service, op.destination); message = this.req.delDest(op.service, op.destination); break;
          default: throw new InvalidArgument(`unknown batch operation ${JSON.stringify((op as { op: unknown }).op)}`);
        }
        requests.push({ message, operation: `IPVS ${cmd} ${subject}` });
        index.push(i);
        meta.push({ cmd, subject });
      } catch (e) {
        results[i] = toIpvsError(e, cmd, subject);
      }
    }
    let outcome: Array<Error | undefined>;
    try {
      outcome = await this.conn.batch(requests);
    } catch (e) {
      throw toIpvsError(e, meta[0]?.cmd ?? 'NEW_SERVICE', `(batch of ${ops.length})`);
    }
    for (let k = 0; k < outcome.length; k++) {
      const err = outcome[k];
      if (err) results[index[k]] = toIpvsError(err, meta[k].cmd, meta[k].subject);
    }
    return results;
  }
}

function safeSubject(fn: () => string): string {
  try {
    return fn();
  } catch {
    return '(invalid key)';
  }
}
