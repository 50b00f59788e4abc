import { type AttributeDecoder, Encoder, HOST_LITTLE_ENDIAN } from '../netlink/attribute.ts';
import { GENL_HDRLEN, NLA_HDRLEN, NLA_TYPE_MASK, NLM_F_DUMP } from '../netlink/constants.ts';
import { beginGenl, genlPayload } from '../netlink/genetlink.ts';
import type { Message } from '../netlink/message.ts';
import { decodeAttributes, encodeAttributes, type Values } from '../netlink/schema.ts';
import { AddressError, addressBytes, formatAddress, netmaskToPrefix } from '../address/address.ts';
import { InvalidArgument } from './errors.ts';
import { FORWARDING_METHODS, flagBits, flagsFromBits, TUNNEL_TYPES } from './vocabulary.ts';
import {
  AF_INET, AF_INET6, commandAttrs, destAttrs, FWD_MASK, FwdMethod, infoAttrs, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP,
  IPVS_GENL_VERSION, IpvsCmd, serviceAttrs, stats64Attrs, statsAttrs, TunType,
} from './schema.ts';
import type {
  Destination, DestinationConfig, DestinationKey, Family, IpvsInfo, IpvsTimeouts, Protocol, Service,
  ServiceConfig, ServiceKey, Stats,
} from './types.ts';

// Translation between the typed IPVS vocabulary (types.ts) and IPVS generic netlink
// messages. Pure: builds request bytes, decodes reply messages; no I/O.

export class IpvsDecodeError extends Error {
  readonly code = 'IPVS_DECODE';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'IpvsDecodeError';
  }
}

const LE = HOST_LITTLE_ENDIAN;
const U32_MAX = 0xffffffff;

const AF_OF: Record<Family, number> = { inet: AF_INET, inet6: AF_INET6 };
const PROTO_OF: Record<Protocol, number> = { tcp: IPPROTO_TCP, udp: IPPROTO_UDP, sctp: IPPROTO_SCTP };

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
    throw new InvalidArgument(`${what}: ${e instanceof AddressError ? e.message : String(e)}`, 'EINVAL', { cause: e });
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

function netmaskBytes(family: Family, netmask: string): Uint8Array {
  const out = new Uint8Array(4);
  if (family === 'inet') {
    // Validate it is a real (contiguous) mask; the kernel keeps it as __be32.
    try {
      netmaskToPrefix(netmask);
    } catch (e) {
      throw new InvalidArgument(`netmask: ${e instanceof Error ? e.message : String(e)}`, 'EINVAL', { cause: e });
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
    throw new IpvsDecodeError(e instanceof Error ? e.message : String(e), { cause: e });
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
  const flags = flagsFromBits(bits);
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
  return decodeServiceValues(serviceValuesOf(msg));
}

// Direct decoders of the two replies a table read is made of (NEW_SERVICE and NEW_DEST dump
// parts): one pass straight over the bytes, into objects of one fixed shape, with
// nothing copied. The generic decodeAttributes() cost ~40 us per destination (a dictionary-mode
// object per attribute set, a DataView per nested decoder, copies of every byte field), more than
// ipvsadm's whole -Ln. They take attribute numbers from serviceAttrs/destAttrs (schema.ts) and must
// give exactly what decodeAttributes() gives, errors included (property test in
// test/ipvs/codec-direct.test.ts): unknown attributes skipped, the last of a repeated one wins, a
// known attribute of the wrong size is an error, STATS (32-bit) read only when STATS64 is absent.

// Host-order and network-order reads straight from the bytes: a DataView per message would be
// one more allocation per destination.
function u16(p: Uint8Array, at: number): number {
  return LE ? p[at] | (p[at + 1] << 8) : (p[at] << 8) | p[at + 1];
}
function u16be(p: Uint8Array, at: number): number {
  return (p[at] << 8) | p[at + 1];
}
function u32(p: Uint8Array, at: number): number {
  return LE
    ? (p[at] | (p[at + 1] << 8) | (p[at + 2] << 16) | (p[at + 3] << 24)) >>> 0
    : ((p[at] << 24) | (p[at + 1] << 16) | (p[at + 2] << 8) | p[at + 3]) >>> 0;
}
const U64_SCRATCH = new DataView(new ArrayBuffer(8));
/** A u64 counter; zero (every rate of an idle destination) is the shared 0n, not a new BigInt. */
function u64(p: Uint8Array, at: number): bigint {
  if (u32(p, at) === 0 && u32(p, at + 4) === 0) return 0n;
  for (let i = 0; i < 8; i++) U64_SCRATCH.setUint8(i, p[at + i]);
  return U64_SCRATCH.getBigUint64(0, LE);
}

// The switches below dispatch on literal attribute numbers (the interpreter, which runs a cold
// `list`, jumps through a table instead of comparing schema lookups one by one); they are checked
// against the schema once, here.
const DEST_NUMBERS = {
  addr: 1, port: 2, fwdMethod: 3, weight: 4, upperThreshold: 5, lowerThreshold: 6, activeConns: 7, inactiveConns: 8,
  persistConns: 9, stats: 10, addrFamily: 11, stats64: 12, tunType: 13, tunPort: 14, tunFlags: 15,
} as const;
const SERVICE_NUMBERS = {
  af: 1, protocol: 2, addr: 3, port: 4, fwmark: 5, schedName: 6, flags: 7, timeout: 8, netmask: 9, stats: 10, peName: 11, stats64: 12,
} as const;
function checkNumbers(set: { name: string; fields: Readonly<Record<string, { type: number }>> }, numbers: Readonly<Record<string, number>>): void {
  const names = Object.keys(set.fields);
  if (names.length !== Object.keys(numbers).length || names.some((k) => numbers[k] !== set.fields[k].type)) {
    throw new Error(`codec.ts: the direct decoder's numbers for ${set.name} no longer match schema.ts`);
  }
}
checkNumbers(destAttrs, DEST_NUMBERS);
checkNumbers(serviceAttrs, SERVICE_NUMBERS);
const STATS_NUMBERS = { conns: 1, inPackets: 2, outPackets: 3, inBytes: 4, outBytes: 5, cps: 6, inPps: 7, outPps: 8, inBps: 9, outBps: 10 } as const;
checkNumbers(statsAttrs, STATS_NUMBERS);
checkNumbers(stats64Attrs, STATS_NUMBERS);

const CMD_SERVICE = commandAttrs.fields.service.type;
const CMD_DEST = commandAttrs.fields.dest.type;
const TEXT_DECODER = new TextDecoder();

type Stats64Values = Values<typeof stats64Attrs.fields>;
type Stats32Values = Values<typeof statsAttrs.fields>;

// The loops below read each attribute header inline (a call per attribute is what a cold, still
// interpreted read pays most for) and leave the error text to badHeader().

/** The error for an attribute header at `off` that is truncated or runs past `end`. */
function badHeader(p: Uint8Array, off: number, end: number, what: string): IpvsDecodeError {
  if (end - off < NLA_HDRLEN) return new IpvsDecodeError(`malformed IPVS ${what} reply: truncated attribute header at offset ${off}`);
  return new IpvsDecodeError(`malformed IPVS ${what} reply: attribute type ${u16(p, off + 2) & NLA_TYPE_MASK} has invalid length ${u16(p, off)} at offset ${off}`);
}

function wrongSize(what: string, type: number, kind: string, need: number, has: number): IpvsDecodeError {
  return new IpvsDecodeError(`malformed IPVS ${what} reply: attribute type ${type}: ${kind} needs ${need} bytes, has ${has}`);
}

/** STATS64: ten u64 counters. */
function stats64At(p: Uint8Array, from: number, end: number, what: string): Stats64Values {
  const out: Stats64Values = {
    conns: undefined, inPackets: undefined, outPackets: undefined, inBytes: undefined, outBytes: undefined,
    cps: undefined, inPps: undefined, outPps: undefined, inBps: undefined, outBps: undefined,
  };
  for (let off = from; off < end; ) {
    const len = LE ? p[off] | (p[off + 1] << 8) : (p[off] << 8) | p[off + 1];
    if (off + NLA_HDRLEN > end || len < NLA_HDRLEN || off + len > end) throw badHeader(p, off, end, what);
    const type = (LE ? p[off + 2] | (p[off + 3] << 8) : (p[off + 2] << 8) | p[off + 3]) & NLA_TYPE_MASK;
    if (type >= 1 && type <= 10) {
      if (len !== NLA_HDRLEN + 8) throw wrongSize(what, type, 'u64', 8, len - NLA_HDRLEN);
      const a = off + NLA_HDRLEN;
      const x = (p[a] | p[a + 1] | p[a + 2] | p[a + 3] | p[a + 4] | p[a + 5] | p[a + 6] | p[a + 7]) === 0 ? 0n : u64(p, a);
      switch (type) {
        case 1: out.conns = x; break;
        case 2: out.inPackets = x; break;
        case 3: out.outPackets = x; break;
        case 4: out.inBytes = x; break;
        case 5: out.outBytes = x; break;
        case 6: out.cps = x; break;
        case 7: out.inPps = x; break;
        case 8: out.outPps = x; break;
        case 9: out.inBps = x; break;
        default: out.outBps = x; break;
      }
    }
    off += (len + 3) & ~3;
  }
  return out;
}

/** STATS: u32 counters except the two byte counters (u64). */
function stats32At(p: Uint8Array, from: number, end: number, what: string): Stats32Values {
  const out: Stats32Values = {
    conns: undefined, inPackets: undefined, outPackets: undefined, inBytes: undefined, outBytes: undefined,
    cps: undefined, inPps: undefined, outPps: undefined, inBps: undefined, outBps: undefined,
  };
  for (let off = from; off < end; ) {
    const len = LE ? p[off] | (p[off + 1] << 8) : (p[off] << 8) | p[off + 1];
    if (off + NLA_HDRLEN > end || len < NLA_HDRLEN || off + len > end) throw badHeader(p, off, end, what);
    const type = (LE ? p[off + 2] | (p[off + 3] << 8) : (p[off + 2] << 8) | p[off + 3]) & NLA_TYPE_MASK;
    if (type === 4 || type === 5) {
      if (len !== NLA_HDRLEN + 8) throw wrongSize(what, type, 'u64', 8, len - NLA_HDRLEN);
      const x = u64(p, off + NLA_HDRLEN);
      if (type === 4) out.inBytes = x;
      else out.outBytes = x;
    } else if (type >= 1 && type <= 10) {
      if (len !== NLA_HDRLEN + 4) throw wrongSize(what, type, 'u32', 4, len - NLA_HDRLEN);
      const x = u32(p, off + NLA_HDRLEN);
      switch (type) {
        case 1: out.conns = x; break;
        case 2: out.inPackets = x; break;
        case 3: out.outPackets = x; break;
        case 6: out.cps = x; break;
        case 7: out.inPps = x; break;
        case 8: out.outPps = x; break;
        case 9: out.inBps = x; break;
        default: out.outBps = x; break;
      }
    }
    off += (len + 3) & ~3;
  }
  return out;
}

const STATS32_OF: Record<string, number> = { destination: DEST_NUMBERS.stats, service: SERVICE_NUMBERS.stats };

/**
 * The STATS values of an old kernel that sends no STATS64: every STATS attribute from `from` on
 * is decoded (a broken one spoils the reply, as in the generic decoder) and the last one wins.
 */
function stats32Of(p: Uint8Array, from: number, end: number, what: string, type: number): Stats32Values {
  let out: Stats32Values = {};
  for (let off = from; off < end; ) {
    const len = u16(p, off);
    if ((u16(p, off + 2) & NLA_TYPE_MASK) === type) out = stats32At(p, off + NLA_HDRLEN, off + len, what);
    off += (len + 3) & ~3;
  }
  return out;
}

function stringAt(p: Uint8Array, from: number, end: number): string {
  let stop = from;
  while (stop < end && p[stop] !== 0) stop++;
  return TEXT_DECODER.decode(p.subarray(from, stop));
}

/**
 * Decodes the one nested attribute of type `attrType` a reply carries (every occurrence is decoded,
 * so validated, and the last one wins, as with the generic decoder), checking every top-level header.
 */
function lastNested<T>(msg: Message, expectCmd: number, attrType: number, what: string, decode: (p: Uint8Array, from: number, end: number) => T): T {
  const p = msg.payload;
  if (p.length < GENL_HDRLEN) throw new IpvsDecodeError(`generic netlink payload too short (${p.length} bytes)`);
  if (p[0] !== expectCmd) throw new IpvsDecodeError(`expected IPVS command ${expectCmd} in reply, got ${p[0]}`);
  let values: T | undefined;
  for (let off = GENL_HDRLEN; off < p.length; ) {
    const len = LE ? p[off] | (p[off + 1] << 8) : (p[off] << 8) | p[off + 1];
    if (off + NLA_HDRLEN > p.length || len < NLA_HDRLEN || off + len > p.length) throw badHeader(p, off, p.length, what);
    if ((u16(p, off + 2) & NLA_TYPE_MASK) === attrType) values = decode(p, off + NLA_HDRLEN, off + len);
    off += (len + 3) & ~3;
  }
  if (values === undefined) throw new IpvsDecodeError(`${what} reply without a ${what} attribute`);
  return values;
}

function destValuesAt(p: Uint8Array, from: number, end: number): DestValues {
  const what = 'destination';
  const out: DestValues = {
    addr: undefined, port: undefined, fwdMethod: undefined, weight: undefined, upperThreshold: undefined,
    lowerThreshold: undefined, activeConns: undefined, inactiveConns: undefined, persistConns: undefined,
    stats: undefined, addrFamily: undefined, stats64: undefined, tunType: undefined, tunPort: undefined, tunFlags: undefined,
  };
  let stats32From = -1;
  for (let off = from; off < end; ) {
    const len = LE ? p[off] | (p[off + 1] << 8) : (p[off] << 8) | p[off + 1];
    if (off + NLA_HDRLEN > end || len < NLA_HDRLEN || off + len > end) throw badHeader(p, off, end, what);
    const type = (LE ? p[off + 2] | (p[off + 3] << 8) : (p[off + 2] << 8) | p[off + 3]) & NLA_TYPE_MASK;
    const at = off + NLA_HDRLEN;
    const size = len - NLA_HDRLEN;
    switch (type) {
      case 1: out.addr = p.subarray(at, at + size); break;
      case 2: if (size !== 2) throw wrongSize(what, type, 'u16', 2, size); out.port = u16be(p, at); break;
      case 11: if (size !== 2) throw wrongSize(what, type, 'u16', 2, size); out.addrFamily = u16(p, at); break;
      case 13: if (size !== 1) throw wrongSize(what, type, 'u8', 1, size); out.tunType = p[at]; break;
      case 14: if (size !== 2) throw wrongSize(what, type, 'u16', 2, size); out.tunPort = u16be(p, at); break;
      case 15: if (size !== 2) throw wrongSize(what, type, 'u16', 2, size); out.tunFlags = u16(p, at); break;
      case 12: out.stats64 = stats64At(p, at, at + size, what); break;
      case 10: if (stats32From < 0) stats32From = off; break;
      case 3: // fwdMethod
      case 4: // weight
      case 5: // upperThreshold
      case 6: // lowerThreshold
      case 7: // activeConns
      case 8: // inactiveConns
      case 9: { // persistConns
        if (size !== 4) throw wrongSize(what, type, 'u32', 4, size);
        const x = u32(p, at);
        if (type === 3) out.fwdMethod = x;
        else if (type === 4) out.weight = x;
        else if (type === 5) out.upperThreshold = x;
        else if (type === 6) out.lowerThreshold = x;
        else if (type === 7) out.activeConns = x;
        else if (type === 8) out.inactiveConns = x;
        else out.persistConns = x;
        break;
      }
    }
    off += (len + 3) & ~3;
  }
  if (out.stats64 === undefined && stats32From >= 0) out.stats = stats32Of(p, stats32From, end, what, STATS32_OF[what]);
  return out;
}

function serviceValuesAt(p: Uint8Array, from: number, end: number): ServiceValues {
  const what = 'service';
  const out: ServiceValues = {
    af: undefined, protocol: undefined, addr: undefined, port: undefined, fwmark: undefined, schedName: undefined,
    flags: undefined, timeout: undefined, netmask: undefined, stats: undefined, peName: undefined, stats64: undefined,
  };
  let stats32From = -1;
  for (let off = from; off < end; ) {
    const len = LE ? p[off] | (p[off + 1] << 8) : (p[off] << 8) | p[off + 1];
    if (off + NLA_HDRLEN > end || len < NLA_HDRLEN || off + len > end) throw badHeader(p, off, end, what);
    const type = (LE ? p[off + 2] | (p[off + 3] << 8) : (p[off + 2] << 8) | p[off + 3]) & NLA_TYPE_MASK;
    const at = off + NLA_HDRLEN;
    const size = len - NLA_HDRLEN;
    switch (type) {
      case 1: if (size !== 2) throw wrongSize(what, type, 'u16', 2, size); out.af = u16(p, at); break;
      case 2: if (size !== 2) throw wrongSize(what, type, 'u16', 2, size); out.protocol = u16(p, at); break;
      case 3: out.addr = p.subarray(at, at + size); break;
      case 4: if (size !== 2) throw wrongSize(what, type, 'u16', 2, size); out.port = u16be(p, at); break;
      case 5: if (size !== 4) throw wrongSize(what, type, 'u32', 4, size); out.fwmark = u32(p, at); break;
      case 8: if (size !== 4) throw wrongSize(what, type, 'u32', 4, size); out.timeout = u32(p, at); break;
      case 6: out.schedName = stringAt(p, at, at + size); break;
      case 11: out.peName = stringAt(p, at, at + size); break;
      case 7: out.flags = p.subarray(at, at + size); break;
      case 9: out.netmask = p.subarray(at, at + size); break;
      case 12: out.stats64 = stats64At(p, at, at + size, what); break;
      case 10: if (stats32From < 0) stats32From = off; break;
    }
    off += (len + 3) & ~3;
  }
  if (out.stats64 === undefined && stats32From >= 0) out.stats = stats32Of(p, stats32From, end, what, STATS32_OF[what]);
  return out;
}

/** The raw SERVICE values of a NEW_SERVICE reply (byte fields are views into the reply). */
export function serviceValuesOf(msg: Message): ServiceValues {
  return lastNested(msg, IpvsCmd.NEW_SERVICE, CMD_SERVICE, 'service', serviceValuesAt);
}

/** The raw DEST values of a NEW_DEST reply (byte fields are views into the reply). */
export function destValuesOf(msg: Message): DestValues {
  return lastNested(msg, IpvsCmd.NEW_DEST, CMD_DEST, 'destination', destValuesAt);
}

export function decodeDestValues(d: DestValues, serviceFamily: Family): Destination {
  const family = d.addrFamily === undefined ? serviceFamily : familyOf(d.addrFamily);
  if (!family) throw new IpvsDecodeError(`destination with unknown address family ${d.addrFamily}`);
  if (!d.addr || d.addr.length < (family === 'inet' ? 4 : 16)) throw new IpvsDecodeError('destination without a valid address');
  if (d.port === undefined) throw new IpvsDecodeError('destination without a port');
  const fwd = FORWARDING_METHODS[(d.fwdMethod ?? 0) & FWD_MASK];
  if (!fwd) throw new IpvsDecodeError(`destination with unknown forwarding method ${d.fwdMethod}`);
  const config: DestinationConfig = {
    forwarding: fwd,
    weight: d.weight ?? 0,
    upperThreshold: d.upperThreshold ?? 0,
    lowerThreshold: d.lowerThreshold ?? 0,
  };
  if (fwd === 'tunnel') {
    if (d.tunType !== undefined) {
      const t = TUNNEL_TYPES[d.tunType];
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
  return decodeDestValues(destValuesOf(msg), serviceFamily);
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
    throw new IpvsDecodeError(e instanceof Error ? e.message : String(e), { cause: e });
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

