import type { Destination, IpvsInfo, Service, ServiceKey, Stats } from '../../ipvs/types.ts';
import type { ServiceWithDestinations } from './format.ts';
import { ipvsVersionText } from './format.ts';
import { sortDestinationsLikeIpvsadm, sortServicesLikeIpvsadm } from './sort.ts';

// The `ipvs-maglev list --json` document. A stable shape for scripts:
//
// {
//   "ipvs": { "version": "1.2.1", "connTableSize": 4096 },
//   "services": [{
//     "key": { "kind": "addr", "family": "inet"|"inet6", "protocol": "tcp"|"udp"|"sctp", "address": "10.0.0.1", "port": 80 }
//          | { "kind": "fwmark", "family": "inet"|"inet6", "fwmark": 7 },
//     "config": { "scheduler": "mh", "flags": { "persistent", "onePacket", "fallback", "portHash", "sched3": booleans },
//                 "timeout": 0, "netmask": "255.255.255.255" | "128", "persistenceEngine": null | "sip" },
//     "stats": { "conns", "inPackets", "outPackets", "inBytes", "outBytes", "cps", "inPps", "outPps", "inBps", "outBps" },
//     "destinations": [{
//       "key": { "family", "address", "port" },
//       "config": { "forwarding": "masq"|"local"|"tunnel"|"droute"|"bypass", "weight", "upperThreshold", "lowerThreshold",
//                   "tunnel": null | { "type": "ipip"|"gue"|"gre", "port": 0, "flags": 0 } },
//       "activeConns", "inactiveConns", "persistentConns": numbers,
//       "stats": { ...as above }
//     }]
//   }]
// }
//
// Every key is always present. Counters the kernel keeps as u64 (all of "stats") are decimal
// strings, since they can exceed 2^53; u32 values (weights, thresholds, connection counts) are
// numbers. Services and destinations are in ipvsadm's listing order.

export interface JsonStats {
  conns: string;
  inPackets: string;
  outPackets: string;
  inBytes: string;
  outBytes: string;
  cps: string;
  inPps: string;
  outPps: string;
  inBps: string;
  outBps: string;
}

export interface JsonDestination {
  key: { family: string; address: string; port: number };
  config: {
    forwarding: string;
    weight: number;
    upperThreshold: number;
    lowerThreshold: number;
    tunnel: { type: string; port: number; flags: number } | null;
  };
  activeConns: number;
  inactiveConns: number;
  persistentConns: number;
  stats: JsonStats;
}

export interface JsonService {
  key: ServiceKey;
  config: {
    scheduler: string;
    flags: { persistent: boolean; onePacket: boolean; fallback: boolean; portHash: boolean; sched3: boolean };
    timeout: number;
    netmask: string;
    persistenceEngine: string | null;
  };
  stats: JsonStats;
  destinations: JsonDestination[];
}

export interface JsonTable {
  ipvs: { version: string; connTableSize: number };
  services: JsonService[];
}

function jsonStats(s: Stats | undefined): JsonStats {
  const v = (x: bigint | undefined): string => (x ?? 0n).toString();
  return {
    conns: v(s?.conns),
    inPackets: v(s?.inPackets),
    outPackets: v(s?.outPackets),
    inBytes: v(s?.inBytes),
    outBytes: v(s?.outBytes),
    cps: v(s?.cps),
    inPps: v(s?.inPps),
    outPps: v(s?.outPps),
    inBps: v(s?.inBps),
    outBps: v(s?.outBps),
  };
}

function jsonKey(k: ServiceKey): ServiceKey {
  return k.kind === 'fwmark'
    ? { kind: 'fwmark', family: k.family, fwmark: k.fwmark }
    : { kind: 'addr', family: k.family, protocol: k.protocol, address: k.address, port: k.port };
}

function jsonService(s: Service, destinations: Destination[]): JsonService {
  const f = s.config.flags;
  return {
    key: jsonKey(s.key),
    config: {
      scheduler: s.config.scheduler,
      flags: {
        persistent: f.persistent === true,
        onePacket: f.onePacket === true,
        fallback: f.fallback === true,
        portHash: f.portHash === true,
        sched3: f.sched3 === true,
      },
      timeout: s.config.timeout,
      netmask: s.config.netmask,
      persistenceEngine: s.config.persistenceEngine ? s.config.persistenceEngine : null,
    },
    stats: jsonStats(s.stats),
    destinations: destinations.map(jsonDestination),
  };
}

function jsonDestination(d: Destination): JsonDestination {
  const c = d.config;
  return {
    key: { family: d.key.family, address: d.key.address, port: d.key.port },
    config: {
      forwarding: c.forwarding,
      weight: c.weight,
      upperThreshold: c.upperThreshold,
      lowerThreshold: c.lowerThreshold,
      tunnel: c.forwarding === 'tunnel' ? { type: c.tunnelType ?? 'ipip', port: c.tunnelPort ?? 0, flags: c.tunnelFlags ?? 0 } : null,
    },
    activeConns: d.activeConns ?? 0,
    inactiveConns: d.inactiveConns ?? 0,
    persistentConns: d.persistentConns ?? 0,
    stats: jsonStats(d.stats),
  };
}

/** The `list --json` document for a table read from the kernel. */
export function toJsonTable(entries: ServiceWithDestinations[], info: IpvsInfo): JsonTable {
  return {
    ipvs: { version: ipvsVersionText(info.version), connTableSize: info.connTableSize },
    services: sortServicesLikeIpvsadm(entries).map((e) => jsonService(e.service, sortDestinationsLikeIpvsadm(e.destinations))),
  };
}
