import { defineAttributeSet } from '../netlink/schema.ts';

// The IPVS generic netlink family (include/uapi/linux/ip_vs.h): commands and one
// attribute table per attribute set. Byte order is part of each table entry.

export const IPVS_GENL_NAME = 'IPVS';
export const IPVS_GENL_VERSION = 1;

export const IpvsCmd = {
  NEW_SERVICE: 1,
  SET_SERVICE: 2,
  DEL_SERVICE: 3,
  GET_SERVICE: 4,
  NEW_DEST: 5,
  SET_DEST: 6,
  DEL_DEST: 7,
  GET_DEST: 8,
  NEW_DAEMON: 9,
  DEL_DAEMON: 10,
  GET_DAEMON: 11,
  SET_CONFIG: 12,
  GET_CONFIG: 13,
  SET_INFO: 14,
  GET_INFO: 15,
  ZERO: 16,
  FLUSH: 17,
} as const;
export type IpvsCmdName = keyof typeof IpvsCmd;

export const CMD_NAMES: Record<number, IpvsCmdName> = Object.fromEntries(
  Object.entries(IpvsCmd).map(([name, n]) => [n, name as IpvsCmdName]),
);

/** Stats with 32-bit counters, except the byte counters (IPVS_*_ATTR_STATS). */
export const statsAttrs = defineAttributeSet('ipvs stats', {
  conns: { type: 1, kind: 'u32' },
  inPackets: { type: 2, kind: 'u32' },
  outPackets: { type: 3, kind: 'u32' },
  inBytes: { type: 4, kind: 'u64' },
  outBytes: { type: 5, kind: 'u64' },
  cps: { type: 6, kind: 'u32' },
  inPps: { type: 7, kind: 'u32' },
  outPps: { type: 8, kind: 'u32' },
  inBps: { type: 9, kind: 'u32' },
  outBps: { type: 10, kind: 'u32' },
});

/** Stats with 64-bit counters (IPVS_*_ATTR_STATS64). */
export const stats64Attrs = defineAttributeSet('ipvs stats64', {
  conns: { type: 1, kind: 'u64' },
  inPackets: { type: 2, kind: 'u64' },
  outPackets: { type: 3, kind: 'u64' },
  inBytes: { type: 4, kind: 'u64' },
  outBytes: { type: 5, kind: 'u64' },
  cps: { type: 6, kind: 'u64' },
  inPps: { type: 7, kind: 'u64' },
  outPps: { type: 8, kind: 'u64' },
  inBps: { type: 9, kind: 'u64' },
  outBps: { type: 10, kind: 'u64' },
});

export const serviceAttrs = defineAttributeSet('ipvs service', {
  af: { type: 1, kind: 'u16' },
  protocol: { type: 2, kind: 'u16' },
  addr: { type: 3, kind: 'bytes' },
  port: { type: 4, kind: 'u16be' },
  fwmark: { type: 5, kind: 'u32' },
  schedName: { type: 6, kind: 'string' },
  /** struct ip_vs_flags { u32 flags; u32 mask; } in host order. */
  flags: { type: 7, kind: 'bytes' },
  timeout: { type: 8, kind: 'u32' },
  /** IPv4: the mask's 4 bytes in network order; IPv6: the prefix length as a host-order u32. */
  netmask: { type: 9, kind: 'bytes' },
  stats: { type: 10, kind: 'nested', set: statsAttrs },
  peName: { type: 11, kind: 'string' },
  stats64: { type: 12, kind: 'nested', set: stats64Attrs },
});

export const destAttrs = defineAttributeSet('ipvs destination', {
  addr: { type: 1, kind: 'bytes' },
  port: { type: 2, kind: 'u16be' },
  fwdMethod: { type: 3, kind: 'u32' },
  weight: { type: 4, kind: 'u32' },
  upperThreshold: { type: 5, kind: 'u32' },
  lowerThreshold: { type: 6, kind: 'u32' },
  activeConns: { type: 7, kind: 'u32' },
  inactiveConns: { type: 8, kind: 'u32' },
  persistConns: { type: 9, kind: 'u32' },
  stats: { type: 10, kind: 'nested', set: statsAttrs },
  addrFamily: { type: 11, kind: 'u16' },
  stats64: { type: 12, kind: 'nested', set: stats64Attrs },
  tunType: { type: 13, kind: 'u8' },
  tunPort: { type: 14, kind: 'u16be' },
  tunFlags: { type: 15, kind: 'u16' },
});

/** Top-level attributes of IPVS commands (IPVS_CMD_ATTR_*). */
export const commandAttrs = defineAttributeSet('ipvs command', {
  service: { type: 1, kind: 'nested', set: serviceAttrs },
  dest: { type: 2, kind: 'nested', set: destAttrs },
  timeoutTcp: { type: 4, kind: 'u32' },
  timeoutTcpFin: { type: 5, kind: 'u32' },
  timeoutUdp: { type: 6, kind: 'u32' },
});

/** Top-level attributes of the GET_INFO reply (IPVS_INFO_ATTR_*). */
export const infoAttrs = defineAttributeSet('ipvs info', {
  version: { type: 1, kind: 'u32' },
  connTableSize: { type: 2, kind: 'u32' },
});

export { AF_INET, AF_INET6 } from '../netlink/constants.ts';
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_SCTP = 132;

export const SvcFlag = {
  PERSISTENT: 0x1,
  HASHED: 0x2,
  ONEPACKET: 0x4,
  SCHED1: 0x8,
  SCHED2: 0x10,
  SCHED3: 0x20,
} as const;

export const FWD_MASK = 0x7;
export const FwdMethod = { masq: 0, local: 1, tunnel: 2, droute: 3, bypass: 4 } as const;
export const TunType = { ipip: 0, gue: 1, gre: 2 } as const;
