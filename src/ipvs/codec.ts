import { type AttributeDecoder, Encoder, HOST_LITTLE_ENDIAN } from '../netlink/attribute.ts';
import { NLM_F_DUMP } from '../netlink/constants.ts';
import { beginGenl, genlPayload } from '../netlink/genetlink.ts';
import type { Message } from '../netlink/message.ts';
import { type AttributeSet, decodeAttributes, encodeAttributes, type FieldTable, type Values } from '../netlink/schema.ts';
import { AddressError, addressBytes, formatAddress, netmaskToPrefix } from './address.ts';
import { InvalidArgument } from './errors.ts';
import {
  AF_INET, AF_INET6, commandAttrs, destAttrs, FWD_MASK, FwdMethod, infoAttrs, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP,
  IPVS_GENL_VERSION, IpvsCmd, serviceAttrs, type stats64Attrs, type statsAttrs, SvcFlag, TunType,
} from './schema.ts';
import type {
  Destination, DestinationConfig, DestinationKey, Family, ForwardingMethod, IpvsInfo, IpvsTimeouts, Protocol, Service,
  ServiceConfig, ServiceFlags, ServiceKey, Stats, TunnelType,
} from './types.ts';

// Translation between the typed IPVS vocabulary (types.ts) and IPVS generic netlink
// messages. Pure: builds request bytes, decodes reply messages; no I/O.

export class IpvsDecodeError extends Error {
  readonly code = 'IPVS_DECODE';
  constructor(message: string) {
    super(message);
    this.name = 'IpvsDecodeError';
  }
}

const LE = HOST_LITTLE_ENDIAN;
const U32_MAX = 0xffffffff;

const AF_OF: Record<Family, number> = { inet: AF_INET, inet6: AF_INET6 };
const PROTO_OF: Record<Protocol, number> = { tcp: IPPROTO_TCP, udp: IPPROTO_UDP, sctp: IPPROTO_SCTP };
const FWD_NAMES: ForwardingMethod[] = ['masq', 'local', 'tunnel', 'droute', 'bypass'];
const TUN_NAMES: TunnelType[] = ['ipip', 'gue', 'gre'];

function familyOf(af: number | undefined): Family | undefined {
  return af === AF_INET ? 'inet' : af === AF_INET6 ? 'inet6' : undefined;
}

function protocolOf(p: number | undefined): Protocol | undefined {
  return p === IPPROTO_TCP ? 'tcp' : p === IPPROTO_UDP ? 'udp' : p === IPPROTO_SCTP ? 'sctp' : undefined;
}

function checkInt(what: string, v: number, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) throw new InvalidArgument(`${what} must be an integer in ${min}..${max}, got ${v}`);
  return v;
}

function addr(text: string, family: Family, what: string): Uint8Array {
  try {
    return addressBytes(text, family);
  } catch (e) {
    throw new InvalidArgument(`${what}: ${e instanceof AddressError ? e.message : String(e)}`);
  }
}

type ServiceValues = Values<typeof serviceAttrs.fields>;
type DestValues = Values<typeof destAttrs.fields>;

/** The attributes that name a service: AF plus FWMARK, or PROTOCOL+ADDR+PORT. */
export function serviceIdentity(key: ServiceKey): ServiceValues {
  if (key.family !== 'inet' && key.family !== 'inet6') throw new InvalidArgument(`unknown address family ${String(key.family)}`);
  if (key.kind === 'fwmark') {
    return { af: AF_OF[key.family], fwmark: checkInt('fwmark', key.fwmark, 1, U32_MAX) };
  }
  const protocol = PROTO_OF[key.protocol];
  if (protocol === undefined) throw new InvalidArgument(`unknown protocol ${String(key.protocol)} (tcp, udp or sctp)`);
  return {
    af: AF_OF[key.family],
    protocol,
    addr: addr(key.address, key.family, 'service address'),
    port: checkInt('service port', key.port, 0, 65535),
  };
}

export function flagBits(flags: ServiceFlags): number {
  let bits = 0;
  if (flags.persistent) bits |= SvcFlag.PERSISTENT;
  if (flags.onePacket) bits |= SvcFlag.ONEPACKET;
  if (flags.fallback) bits |= SvcFlag.SCHED1;
  if (flags.portHash) bits |= SvcFlag.SCHED2;
  if (flags.sched3) bits |= SvcFlag.SCHED3;
  return bits;
}

function netmaskBytes(family: Family, netmask: string): Uint8Array {
  const out = new Uint8Array(4);
  if (family === 'inet') {
    // Validate it is a real (contiguous) mask; the kernel keeps it as __be32.
    try {
      netmaskToPrefix(netmask);
    } catch (e) {
      throw new InvalidArgument(`netmask: ${e instanceof Error ? e.message : String(e)}`);
    }
    out.set(addr(netmask, 'inet', 'netmask').subarray(0, 4));
  } else {
    const plen = Number(netmask);
    checkInt('IPv6 netmask (prefix length)', plen, 1, 128);
    if (String(plen) !== netmask.trim()) throw new InvalidArgument(`IPv6 netmask must be a prefix length, got ${JSON.stringify(netmask)}`);
    new DataView(out.buffer).setUint32(0, plen, LE);
  }
  return out;
}

/** Identity plus everything NEW/SET_SERVICE require (scheduler, flags, timeout, netmask). */
export function serviceFull(key: ServiceKey, config: ServiceConfig): ServiceValues {
  const v = serviceIdentity(key);
  if (typeof config.scheduler !== 'string' || config.scheduler.length === 0 || config.scheduler.length > 15) {
    throw new InvalidArgument(`scheduler name must be 1..15 characters, got ${JSON.stringify(config.scheduler)}`);
  }
  v.schedName = config.scheduler;
  const flags = new Uint8Array(8);
  const dv = new DataView(flags.buffer);
  dv.setUint32(0, flagBits(config.flags ?? {}), LE);
  // Mask: every bit we own; the kernel keeps HASHED itself.
  dv.setUint32(4, U32_MAX, LE);
  v.flags = flags;
  v.timeout = checkInt('persistence timeout', config.timeout ?? 0, 0, U32_MAX);
  v.netmask = netmaskBytes(key.family, config.netmask ?? (key.family === 'inet' ? '255.255.255.255' : '128'));
  if (config.persistenceEngine) {
    if (config.persistenceEngine.length > 15) throw new InvalidArgument('persistence engine name longer than 15 characters');
    v.peName = config.persistenceEngine;
  }
  return v;
}

export function destIdentity(key: DestinationKey): DestValues {
  if (key.family !== 'inet' && key.family !== 'inet6') throw new InvalidArgument(`unknown address family ${String(key.family)}`);
  return {
    addr: addr(key.address, key.family, 'destination address'),
    port: checkInt('destination port', key.port, 0, 65535),
    addrFamily: AF_OF[key.family],
  };
}

export function destFull(key: DestinationKey, config: DestinationConfig): DestValues {
  const v = destIdentity(key);
  const fwd = FwdMethod[config.forwarding];
  if (fwd === undefined) throw new InvalidArgument(`unknown forwarding method ${JSON.stringify(config.forwarding)} (masq, local, tunnel, droute, bypass)`);
  v.fwdMethod = fwd;
  v.weight = checkInt('weight', config.weight, 0, U32_MAX);
  v.upperThreshold = checkInt('upper threshold', config.upperThreshold ?? 0, 0, U32_MAX);
  v.lowerThreshold = checkInt('lower threshold', config.lowerThreshold ?? 0, 0, U32_MAX);
  if (config.forwarding === 'tunnel') {
    if (config.tunnelType !== undefined) {
      const t = TunType[config.tunnelType];
      if (t === undefined) throw new InvalidArgument(`unknown tunnel type ${JSON.stringify(config.tunnelType)} (ipip, gue, gre)`);
      v.tunType = t;
    }
    if (config.tunnelPort !== undefined) v.tunPort = checkInt('tunnel port', config.tunnelPort, 0, 65535);
    if (config.tunnelFlags !== undefined) v.tunFlags = checkInt('tunnel flags', config.tunnelFlags, 0, 0xffff);
  }
  return v;
}

/** Builds IPVS request messages; reuses one encoder buffer, returns a fresh copy per request. */
export class IpvsRequests {
  private readonly e = new Encoder(1024);
  private readonly familyId: number;

  constructor(familyId: number) {
    this.familyId = familyId;
  }

  private build(cmd: number, flags: number, values: Values<typeof commandAttrs.fields>): Uint8Array {
    const e = this.e;
    e.reset();
    const at = beginGenl(e, this.familyId, cmd, IPVS_GENL_VERSION, flags);
    encodeAttributes(commandAttrs, e, values);
    e.endMessage(at);
    return e.copy();
  }

  newService(key: ServiceKey, config: ServiceConfig): Uint8Array {
    return this.build(IpvsCmd.NEW_SERVICE, 0, { service: serviceFull(key, config) });
  }
  setService(key: ServiceKey, config: ServiceConfig): Uint8Array {
    return this.build(IpvsCmd.SET_SERVICE, 0, { service: serviceFull(key, config) });
  }
  delService(key: ServiceKey): Uint8Array {
    return this.build(IpvsCmd.DEL_SERVICE, 0, { service: serviceIdentity(key) });
  }
  getService(key: ServiceKey): Uint8Array {
    return this.build(IpvsCmd.GET_SERVICE, 0, { service: serviceIdentity(key) });
  }
  dumpServices(): Uint8Array {
    return this.build(IpvsCmd.GET_SERVICE, NLM_F_DUMP, {});
  }
  newDest(service: ServiceKey, key: DestinationKey, config: DestinationConfig): Uint8Array {
    return this.build(IpvsCmd.NEW_DEST, 0, { service: serviceIdentity(service), dest: destFull(key, config) });
  }
  setDest(service: ServiceKey, key: DestinationKey, config: DestinationConfig): Uint8Array {
    return this.build(IpvsCmd.SET_DEST, 0, { service: serviceIdentity(service), dest: destFull(key, config) });
  }
  delDest(service: ServiceKey, key: DestinationKey): Uint8Array {
    return this.build(IpvsCmd.DEL_DEST, 0, { service: serviceIdentity(service), dest: destIdentity(key) });
  }
  dumpDests(service: ServiceKey): Uint8Array {
    return this.build(IpvsCmd.GET_DEST, NLM_F_DUMP, { service: serviceIdentity(service) });
  }
  getInfo(): Uint8Array {
    return this.build(IpvsCmd.GET_INFO, 0, {});
  }
  getConfig(): Uint8Array {
    return this.build(IpvsCmd.GET_CONFIG, 0, {});
  }
  /** A zero timeout leaves that timeout unchanged (kernel semantics). */
  setConfig(t: IpvsTimeouts): Uint8Array {
    return this.build(IpvsCmd.SET_CONFIG, 0, {
      timeoutTcp: checkInt('TCP timeout', t.tcp, 0, 0x7fffffff),
      timeoutTcpFin: checkInt('TCP FIN timeout', t.tcpFin, 0, 0x7fffffff),
      timeoutUdp: checkInt('UDP timeout', t.udp, 0, 0x7fffffff),
    });
  }
  zero(service?: ServiceKey): Uint8Array {
    return this.build(IpvsCmd.ZERO, 0, service ? { service: serviceIdentity(service) } : {});
  }
  flush(): Uint8Array {
    return this.build(IpvsCmd.FLUSH, 0, {});
  }
}

function statsFrom(v: Values<typeof stats64Attrs.fields> | Values<typeof statsAttrs.fields> | undefined): Stats | undefined {
  if (!v) return undefined;
  const b = (x: number | bigint | undefined): bigint => (x === undefined ? 0n : BigInt(x));
  return {
    conns: b(v.conns),
    inPackets: b(v.inPackets),
    outPackets: b(v.outPackets),
    inBytes: b(v.inBytes),
    outBytes: b(v.outBytes),
    cps: b(v.cps),
    inPps: b(v.inPps),
    outPps: b(v.outPps),
    inBps: b(v.inBps),
    outBps: b(v.outBps),
  };
}

/** Reads the top-level command attributes of a reply; throws IpvsDecodeError on malformed bytes. */
function commandValues(msg: Message, expectCmd: number): Values<typeof commandAttrs.fields> {
  let payload: { cmd: number; attrs: AttributeDecoder };
  try {
    payload = genlPayload(msg);
  } catch (e) {
    throw new IpvsDecodeError(e instanceof Error ? e.message : String(e));
  }
  if (payload.cmd !== expectCmd) throw new IpvsDecodeError(`expected IPVS command ${expectCmd} in reply, got ${payload.cmd}`);
  const values = decodeAttributes(commandAttrs, payload.attrs);
  const err = payload.attrs.err();
  if (err) throw new IpvsDecodeError(`malformed IPVS reply: ${err.message}`);
  return values;
}

export function decodeServiceValues(s: ServiceValues): Service {
  const family = familyOf(s.af);
  if (!family) throw new IpvsDecodeError(`service with unknown address family ${s.af}`);
  let key: ServiceKey;
  if (s.fwmark) {
    key = { kind: 'fwmark', family, fwmark: s.fwmark };
  } else {
    const protocol = protocolOf(s.protocol);
    if (!protocol) throw new IpvsDecodeError(`service with unknown protocol ${s.protocol}`);
    if (!s.addr || s.addr.length < (family === 'inet' ? 4 : 16)) throw new IpvsDecodeError('service without a valid address');
    if (s.port === undefined) throw new IpvsDecodeError('service without a port');
    key = { kind: 'addr', family, protocol, address: formatAddress(family, s.addr), port: s.port };
  }
  if (s.schedName === undefined) throw new IpvsDecodeError('service without a scheduler');
  let bits = 0;
  if (s.flags) {
    if (s.flags.length < 4) throw new IpvsDecodeError('service flags attribute too short');
    bits = new DataView(s.flags.buffer, s.flags.byteOffset, s.flags.byteLength).getUint32(0, LE);
  }
  const flags: ServiceFlags = {};
  if (bits & SvcFlag.PERSISTENT) flags.persistent = true;
  if (bits & SvcFlag.ONEPACKET) flags.onePacket = true;
  if (bits & SvcFlag.SCHED1) flags.fallback = true;
  if (bits & SvcFlag.SCHED2) flags.portHash = true;
  if (bits & SvcFlag.SCHED3) flags.sched3 = true;
  let netmask = family === 'inet' ? '255.255.255.255' : '128';
  if (s.netmask) {
    if (s.netmask.length !== 4) throw new IpvsDecodeError(`service netmask attribute has ${s.netmask.length} bytes`);
    if (family === 'inet') netmask = formatAddress('inet', s.netmask);
    else netmask = String(new DataView(s.netmask.buffer, s.netmask.byteOffset, 4).getUint32(0, LE));
  }
  const config: ServiceConfig = { scheduler: s.schedName, flags, timeout: s.timeout ?? 0, netmask };
  if (s.peName) config.persistenceEngine = s.peName;
  const service: Service = { key, config };
  const stats = statsFrom(s.stats64 ?? s.stats);
  if (stats) service.stats = stats;
  return service;
}

/** Decodes a NEW_SERVICE reply (dump part or GET_SERVICE answer). */
export function decodeService(msg: Message): Service {
  return decodeServiceValues(nestedValues(msg, IpvsCmd.NEW_SERVICE, commandAttrs.fields.service.type, serviceAttrs, 'service'));
}

// The kernel sends both STATS and STATS64; decoding only the 64-bit set halves the work of
// a dump. STATS is read only from kernels too old to send STATS64.
const SKIP_STATS32: ReadonlySet<string> = new Set(['stats']);

/** Decodes the one nested attribute set (SERVICE or DEST) a reply carries. */
function nestedValues<T extends FieldTable>(msg: Message, expectCmd: number, attrType: number, set: AttributeSet<T>, what: string): Values<T> {
  const { cmd, attrs } = genlPayloadOrThrow(msg);
  if (cmd !== expectCmd) throw new IpvsDecodeError(`expected IPVS command ${expectCmd} in reply, got ${cmd}`);
  let values: Values<T> | undefined;
  while (attrs.next()) {
    if (attrs.type !== attrType) continue;
    const nested = attrs.nested();
    values = decodeAttributes(set, nested, SKIP_STATS32 as ReadonlySet<keyof T>);
    if (!(values as { stats64?: unknown }).stats64 && !nested.err()) values = decodeAttributes(set, attrs.nested());
  }
  const err = attrs.err();
  if (err) throw new IpvsDecodeError(`malformed IPVS ${what} reply: ${err.message}`);
  if (!values) throw new IpvsDecodeError(`${what} reply without a ${what} attribute`);
  return values;
}

export function decodeDestValues(d: DestValues, serviceFamily: Family): Destination {
  const family = d.addrFamily === undefined ? serviceFamily : familyOf(d.addrFamily);
  if (!family) throw new IpvsDecodeError(`destination with unknown address family ${d.addrFamily}`);
  if (!d.addr || d.addr.length < (family === 'inet' ? 4 : 16)) throw new IpvsDecodeError('destination without a valid address');
  if (d.port === undefined) throw new IpvsDecodeError('destination without a port');
  const fwd = FWD_NAMES[(d.fwdMethod ?? 0) & FWD_MASK];
  if (!fwd) throw new IpvsDecodeError(`destination with unknown forwarding method ${d.fwdMethod}`);
  const config: DestinationConfig = {
    forwarding: fwd,
    weight: d.weight ?? 0,
    upperThreshold: d.upperThreshold ?? 0,
    lowerThreshold: d.lowerThreshold ?? 0,
  };
  if (fwd === 'tunnel') {
    if (d.tunType !== undefined) {
      const t = TUN_NAMES[d.tunType];
      if (!t) throw new IpvsDecodeError(`destination with unknown tunnel type ${d.tunType}`);
      config.tunnelType = t;
    }
    if (d.tunPort !== undefined) config.tunnelPort = d.tunPort;
    if (d.tunFlags !== undefined) config.tunnelFlags = d.tunFlags;
  }
  const dest: Destination = {
    key: { family, address: formatAddress(family, d.addr), port: d.port },
    config,
    activeConns: d.activeConns ?? 0,
    inactiveConns: d.inactiveConns ?? 0,
    persistentConns: d.persistConns ?? 0,
  };
  const stats = statsFrom(d.stats64 ?? d.stats);
  if (stats) dest.stats = stats;
  return dest;
}

/** Decodes a NEW_DEST reply (a GET_DEST dump part). */
export function decodeDestination(msg: Message, serviceFamily: Family): Destination {
  return decodeDestValues(nestedValues(msg, IpvsCmd.NEW_DEST, commandAttrs.fields.dest.type, destAttrs, 'destination'), serviceFamily);
}

export function decodeInfo(msg: Message): IpvsInfo {
  const { cmd, attrs } = genlPayloadOrThrow(msg);
  if (cmd !== IpvsCmd.SET_INFO) throw new IpvsDecodeError(`expected SET_INFO reply, got command ${cmd}`);
  const v = decodeAttributes(infoAttrs, attrs);
  const err = attrs.err();
  if (err) throw new IpvsDecodeError(`malformed IPVS info reply: ${err.message}`);
  if (v.version === undefined || v.connTableSize === undefined) throw new IpvsDecodeError('IPVS info reply lacks version or table size');
  return { version: v.version, connTableSize: v.connTableSize };
}

function genlPayloadOrThrow(msg: Message): { cmd: number; attrs: AttributeDecoder } {
  try {
    return genlPayload(msg);
  } catch (e) {
    throw new IpvsDecodeError(e instanceof Error ? e.message : String(e));
  }
}

export function decodeTimeouts(msg: Message): IpvsTimeouts {
  const v = commandValues(msg, IpvsCmd.SET_CONFIG);
  return { tcp: v.timeoutTcp ?? 0, tcpFin: v.timeoutTcpFin ?? 0, udp: v.timeoutUdp ?? 0 };
}

/** "1.2.1" from 0x010201. */
export function formatVersion(version: number): string {
  return `${(version >> 16) & 0xff}.${(version >> 8) & 0xff}.${version & 0xff}`;
}

