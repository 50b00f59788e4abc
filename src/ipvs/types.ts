// The IPVS vocabulary shared by the client, the reconciler and the sources.
// Identity types (what names a service or a destination) are kept apart from runtime
// types (scheduler, flags, weights, counters): plans and diffs compare identities,
// and stats never make two services "different".

import type { Family } from '../address/address.ts';
import type { FwdMethod, TunType } from './schema.ts';

export type { Family };
export type Protocol = 'tcp' | 'udp' | 'sctp';

/** A virtual service is named by family plus either protocol+address+port or a firewall mark. */
export type ServiceKey =
  | { readonly kind: 'addr'; readonly family: Family; readonly protocol: Protocol; readonly address: string; readonly port: number }
  | { readonly kind: 'fwmark'; readonly family: Family; readonly fwmark: number };

/** A destination is named by its address and port within a service. */
export interface DestinationKey {
  readonly family: Family;
  readonly address: string;
  readonly port: number;
}

/** Named by the kernel's forwarding and tunnel type tables (schema.ts), so names and numbers cannot drift. */
export type ForwardingMethod = keyof typeof FwdMethod;
export type TunnelType = keyof typeof TunType;

/** Service flags by meaning; the client maps them to the kernel's bits (SCHED1..3 depend on the scheduler). */
export interface ServiceFlags {
  persistent?: boolean;
  onePacket?: boolean;
  /** SCHED1 for `mh` (mh-fallback) and `sh` (sh-fallback). */
  fallback?: boolean;
  /** SCHED2 for `mh` (mh-port) and `sh` (sh-port). */
  portHash?: boolean;
  /** SCHED3: no named meaning in any in-tree scheduler; kept so nothing read from the kernel is lost. */
  sched3?: boolean;
}

export interface ServiceConfig {
  scheduler: string;
  flags: ServiceFlags;
  /** Persistence timeout in seconds (used when flags.persistent). */
  timeout: number;
  /** IPv4: netmask as dotted quad ("255.255.255.255"); IPv6: prefix length as a string ("128"). */
  netmask: string;
  /** Persistence engine name, e.g. "sip"; empty when none. */
  persistenceEngine?: string;
}

export interface DestinationConfig {
  forwarding: ForwardingMethod;
  weight: number;
  upperThreshold: number;
  lowerThreshold: number;
  tunnelType?: TunnelType;
  tunnelPort?: number;
  /** Tunnel flags bit field (GUE checksum options); 0 when unused. */
  tunnelFlags?: number;
}

export interface Stats {
  conns: bigint;
  inPackets: bigint;
  outPackets: bigint;
  inBytes: bigint;
  outBytes: bigint;
  cps: bigint;
  inPps: bigint;
  outPps: bigint;
  inBps: bigint;
  outBps: bigint;
}

export interface Service {
  key: ServiceKey;
  config: ServiceConfig;
  stats?: Stats;
}

export interface Destination {
  key: DestinationKey;
  config: DestinationConfig;
  activeConns?: number;
  inactiveConns?: number;
  persistentConns?: number;
  stats?: Stats;
}

export interface IpvsInfo {
  /** Encoded as the kernel reports it: 0x010201 = 1.2.1. */
  version: number;
  connTableSize: number;
}

export interface IpvsTimeouts {
  tcp: number;
  tcpFin: number;
  udp: number;
}

/**
 * What the layers above need from IPVS. The netlink client implements it against the kernel;
 * tests of the reconciler implement it in memory with the kernel's semantics.
 * Destinations are returned in the kernel's list order (newest first).
 */
export interface IpvsApi {
  getInfo(): Promise<IpvsInfo>;
  listServices(): Promise<Service[]>;
  getService(key: ServiceKey): Promise<Service | undefined>;
  addService(key: ServiceKey, config: ServiceConfig): Promise<void>;
  updateService(key: ServiceKey, config: ServiceConfig): Promise<void>;
  deleteService(key: ServiceKey): Promise<void>;
  listDestinations(service: ServiceKey): Promise<Destination[]>;
  /** Optional fast path: the destinations of many services at once, the same as listDestinations() on each. */
  listDestinationsOf?(services: readonly ServiceKey[]): Promise<Destination[][]>;
  addDestination(service: ServiceKey, key: DestinationKey, config: DestinationConfig): Promise<void>;
  updateDestination(service: ServiceKey, key: DestinationKey, config: DestinationConfig): Promise<void>;
  deleteDestination(service: ServiceKey, key: DestinationKey): Promise<void>;
  getTimeouts(): Promise<IpvsTimeouts>;
  setTimeouts(timeouts: IpvsTimeouts): Promise<void>;
  zero(service?: ServiceKey): Promise<void>;
  /**
   * Optional fast path: many writes pipelined, one result per write in input order (undefined = done), each
   * the error the matching single call would have thrown. The kernel applies them in order and one failure
   * does not stop the rest. The netlink client has it; callers without it make one call per write.
   */
  batch?(ops: readonly IpvsOperation[]): Promise<ReadonlyArray<Error | undefined>>;
}

/**
 * One IPVS write, as data: what batch() takes, what the reconciler's plan entries and a restore's steps are
 * turned into. The single definition of a kernel write; the layers above wrap it, never redefine it.
 */
export type IpvsOperation =
  | { op: 'addService'; service: ServiceKey; config: ServiceConfig }
  | { op: 'updateService'; service: ServiceKey; config: ServiceConfig }
  | { op: 'deleteService'; service: ServiceKey }
  | { op: 'addDestination'; service: ServiceKey; destination: DestinationKey; config: DestinationConfig }
  | { op: 'updateDestination'; service: ServiceKey; destination: DestinationKey; config: DestinationConfig }
  | { op: 'deleteDestination'; service: ServiceKey; destination: DestinationKey };

/** The fields of the write `K` besides its name (what a wrapper of that write carries). */
export type IpvsOperationFields<K extends IpvsOperation['op']> = Omit<Extract<IpvsOperation, { op: K }>, 'op'>;

/**
 * Binding of virtual-service addresses to a local dummy interface (default "ipvs0"), so the
 * kernel delivers traffic for them locally and IPVS can take it. Implemented over rtnetlink.
 */
export interface VipApi {
  /** Create the dummy interface if missing and bring it up. */
  ensureInterface(): Promise<void>;
  /** Addresses currently on the interface (canonical form, no prefix length). */
  listAddresses(): Promise<string[]>;
  /** Add a host address (/32 or /128); adding one that exists is not an error. */
  addAddress(address: string): Promise<void>;
  /** Remove an address; removing one that is absent is not an error. */
  removeAddress(address: string): Promise<void>;
}
