import type { Destination, ForwardingMethod, IpvsInfo, Protocol, Service, ServiceConfig, Stats } from '../../ipvs/types.ts';
import { schedulerFlagNames } from '../../ipvs/vocabulary.ts';
import { numericHostPort } from './inet.ts';
import { sortDestinationsLikeIpvsadm, sortServicesLikeIpvsadm } from './sort.ts';

// Text output identical, byte for byte, to ipvsadm 1.31 (`ipvsadm -S -n`, `ipvsadm -L -n` with
// --stats / --rate / --thresholds / --persistent-conn / --tun-info / --exact). The printf
// formats below are the ones in ipvsadm.c (print_title, print_service_entry,
// print_tunnel_rule, print_largenum); keep them in step with it, not "tidier".

export interface ServiceWithDestinations {
  service: Service;
  destinations: Destination[];
}

/** Which `ipvsadm -L` variant to print; at most one applies, in ipvsadm's precedence order. */
export interface ListOptions {
  stats?: boolean;
  rate?: boolean;
  thresholds?: boolean;
  persistentConn?: boolean;
  tunInfo?: boolean;
  /** --exact: full numbers instead of K/M/G/T. */
  exact?: boolean;
  /** --nosort: kernel order instead of ipvsadm's sort. */
  noSort?: boolean;
}

export interface SaveOptions {
  /**
   * ipvsadm -S never prints thresholds, so a save/restore through ipvsadm loses them.
   * With this set, "-x U -y L" is appended to destinations that have any; ipvsadm -R accepts it.
   */
  thresholds?: boolean;
  noSort?: boolean;
}

const SCHED1 = 'fallback';
const SCHED2 = 'portHash';

/** printf("%-Ns") */
function padEnd(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}
/** printf("%Ns") */
function padStart(s: string, n: number): string {
  return s.length >= n ? s : ' '.repeat(n - s.length) + s;
}
/** printf("%d") of a value the kernel holds as u32 but ipvsadm prints as int. */
function asInt(v: number): string {
  return String(v | 0);
}
/** printf("%u") */
function asUint(v: number): string {
  return String(v >>> 0);
}

const PROTOCOL_OPTION: Record<Protocol, string> = { tcp: '-t', udp: '-u', sctp: '--sctp-service' };
const PROTOCOL_NAME: Record<Protocol, string> = { tcp: 'TCP', udp: 'UDP', sctp: 'SCTP' };
const FWD_SWITCH: Record<ForwardingMethod, string> = {
  masq: '-m',
  tunnel: '-i',
  local: '-g',
  droute: '-g',
  // fwd_switch() returns NULL here and glibc's printf prints it as "(null)".
  bypass: '(null)',
};
const FWD_NAME: Record<ForwardingMethod, string> = {
  masq: 'Masq',
  local: 'Local',
  tunnel: 'Tunnel',
  droute: 'Route',
  bypass: '(null)',
};
const TUN_FLAG_OPTS = ['--tun-nocsum', '--tun-csum', '--tun-remcsum'];
const TUN_FLAG_SHORT = ['-c', '+c', 'r+c'];

function schedFlagsText(config: ServiceConfig): string {
  return schedulerFlagNames(config.scheduler, config.flags).join(',');
}

function hasSchedFlags(config: ServiceConfig): boolean {
  return Boolean(config.flags[SCHED1] || config.flags[SCHED2] || config.flags.sched3);
}

function isDefaultNetmask(service: Service): boolean {
  return service.key.family === 'inet' ? service.config.netmask === '255.255.255.255' : Number(service.config.netmask) === 128;
}

function netmaskText(service: Service): string {
  // IPv6: printf("%i") of the prefix length.
  return service.key.family === 'inet' ? service.config.netmask : asInt(Number(service.config.netmask));
}

function ruleServiceName(service: Service): string {
  const k = service.key;
  if (k.kind === 'fwmark') return k.family === 'inet6' ? `-f ${asInt(k.fwmark)} -6` : `-f ${asInt(k.fwmark)}`;
  return `${PROTOCOL_OPTION[k.protocol]} ${numericHostPort(k.family, k.address, k.port)}`;
}

function listServiceName(service: Service): string {
  const k = service.key;
  if (k.kind === 'fwmark') return k.family === 'inet6' ? `FWM  ${asInt(k.fwmark)} IPv6` : `FWM  ${asInt(k.fwmark)}`;
  const name = `${padEnd(PROTOCOL_NAME[k.protocol], 4)} ${numericHostPort(k.family, k.address, k.port)}`;
  return k.family === 'inet6' ? name : name.slice(0, 33);
}

function destName(d: Destination, truncate: boolean): string {
  const name = numericHostPort(d.key.family, d.key.address, d.key.port);
  return truncate && d.key.family !== 'inet6' ? name.slice(0, 28) : name;
}

function tunFlagIndex(d: Destination): number {
  return d.config.tunnelFlags ?? 0;
}

function saveDestination(svcName: string, d: Destination, opts: SaveOptions): string {
  const c = d.config;
  let line = `-a ${svcName} -r ${destName(d, false)} ${FWD_SWITCH[c.forwarding]} -w ${asInt(c.weight)}`;
  if (opts.thresholds && (c.upperThreshold !== 0 || c.lowerThreshold !== 0)) {
    line += ` -x ${asUint(c.upperThreshold)} -y ${asUint(c.lowerThreshold)}`;
  }
  if (c.forwarding === 'tunnel') {
    const type = c.tunnelType ?? 'ipip';
    // tun_flags indexes a 3-entry table in ipvsadm; other values have no ipvsadm spelling.
    const flags = TUN_FLAG_OPTS[tunFlagIndex(d)] ?? `--tun-flags-${tunFlagIndex(d)}`;
    if (type === 'gre') line += ` --tun-type gre ${flags}`;
    else if (type === 'gue') line += ` --tun-type gue --tun-port ${c.tunnelPort ?? 0} ${flags}`;
    else line += ' --tun-type ipip';
  }
  return `${line}\n`;
}

/** Exactly what `ipvsadm -S -n` prints for these services. */
export function formatSave(entries: ServiceWithDestinations[], opts: SaveOptions = {}): string {
  const sorted = opts.noSort ? entries : sortServicesLikeIpvsadm(entries);
  let out = '';
  for (const { service, destinations } of sorted) {
    const svcName = ruleServiceName(service);
    const c = service.config;
    out += `-A ${svcName} -s ${c.scheduler}`;
    if (c.flags.persistent) {
      out += ` -p ${asUint(c.timeout)}`;
      if (!isDefaultNetmask(service)) out += ` -M ${netmaskText(service)}`;
    }
    if (c.persistenceEngine) out += ` --pe ${c.persistenceEngine}`;
    if (c.flags.onePacket) out += ' -o';
    if (hasSchedFlags(c)) out += ` -b ${schedFlagsText(c)}`;
    out += '\n';
    const dests = opts.noSort ? destinations : sortDestinationsLikeIpvsadm(destinations);
    for (const d of dests) out += saveDestination(svcName, d, opts);
  }
  return out;
}

/** print_largenum(): 9 columns, K/M/G/T above 100 million unless --exact. */
export function formatLargeNum(v: bigint, exact = false): string {
  if (exact) {
    const s = v.toString();
    return padStart(s, s.length <= 8 ? 9 : s.length + 1);
  }
  if (v < 100000000n) return padStart(v.toString(), 9);
  if (v < 1000000000n) return `${padStart((v / 1000n).toString(), 8)}K`;
  if (v < 100000000000n) return `${padStart((v / 1000000n).toString(), 8)}M`;
  if (v < 100000000000000n) return `${padStart((v / 1000000000n).toString(), 8)}G`;
  return `${padStart((v / 1000000000000n).toString(), 8)}T`;
}

const ZERO_STATS: Stats = {
  conns: 0n,
  inPackets: 0n,
  outPackets: 0n,
  inBytes: 0n,
  outBytes: 0n,
  cps: 0n,
  inPps: 0n,
  outPps: 0n,
  inBps: 0n,
  outBps: 0n,
};

function title(opts: ListOptions): string {
  const addr = padEnd('Prot LocalAddress:Port', 33);
  const row = '  -> RemoteAddress:Port\n';
  if (opts.stats) return `${addr} ${['Conns', 'InPkts', 'OutPkts', 'InBytes', 'OutBytes'].map((s) => padStart(s, 8)).join(' ')}\n${row}`;
  if (opts.rate) return `${addr} ${['CPS', 'InPPS', 'OutPPS', 'InBPS', 'OutBPS'].map((s) => padStart(s, 8)).join(' ')}\n${row}`;
  if (opts.thresholds) return `${addr} ${['Uthreshold', 'Lthreshold', 'ActiveConn', 'InActConn'].map((s) => padEnd(s, 10)).join(' ')}\n${row}`;
  if (opts.persistentConn) return `${addr} ${padEnd('Weight', 9)} ${padEnd('PersistConn', 11)} ${padEnd('ActiveConn', 10)} ${padEnd('InActConn', 10)}\n${row}`;
  if (opts.tunInfo) {
    return 'Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n';
  }
  return 'Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n';
}

function tunInfo(d: Destination): string {
  const c = d.config;
  if (c.forwarding !== 'tunnel') return 'n/a';
  const flags = TUN_FLAG_SHORT[tunFlagIndex(d)] ?? '?';
  switch (c.tunnelType ?? 'ipip') {
    case 'ipip':
      return 'ipip';
    case 'gue':
      return `gue:${c.tunnelPort ?? 0}:${flags}`.slice(0, 15);
    case 'gre':
      return `gre:${flags}`;
    default:
      return 'n/a';
  }
}

function listServiceLine(service: Service, opts: ListOptions): string {
  const name = listServiceName(service);
  const c = service.config;
  const s = service.stats ?? ZERO_STATS;
  const n = (v: bigint): string => formatLargeNum(v, opts.exact);
  if (opts.stats) return `${padEnd(name, 33)}${n(s.conns)}${n(s.inPackets)}${n(s.outPackets)}${n(s.inBytes)}${n(s.outBytes)}\n`;
  if (opts.rate) return `${padEnd(name, 33)}${n(s.cps)}${n(s.inPps)}${n(s.outPps)}${n(s.inBps)}${n(s.outBps)}\n`;
  return `${name} ${c.scheduler}${listFlags(service)}\n`;
}

function listFlags(service: Service): string {
  const c = service.config;
  let out = '';
  if (hasSchedFlags(c)) out += ` (${schedFlagsText(c)})`;
  if (c.flags.persistent) {
    out += ` persistent ${asUint(c.timeout)}`;
    if (!isDefaultNetmask(service)) out += ` mask ${netmaskText(service)}`;
    if (c.persistenceEngine) out += ` pe ${c.persistenceEngine}`;
  }
  if (c.flags.onePacket) out += ' ops';
  return out;
}

function listDestLine(d: Destination, opts: ListOptions): string {
  const name = destName(d, true);
  const c = d.config;
  const s = d.stats ?? ZERO_STATS;
  const n = (v: bigint): string => formatLargeNum(v, opts.exact);
  const active = asUint(d.activeConns ?? 0);
  const inactive = asUint(d.inactiveConns ?? 0);
  if (opts.stats) return `  -> ${padEnd(name, 28)}${n(s.conns)}${n(s.inPackets)}${n(s.outPackets)}${n(s.inBytes)}${n(s.outBytes)}\n`;
  if (opts.rate) {
    return `  -> ${padEnd(name, 28)} ${padStart(s.cps.toString(), 8)} ${padStart(s.inPps.toString(), 8)} ${padStart(s.outPps.toString(), 8)}${n(s.inBps)}${n(s.outBps)}\n`;
  }
  if (opts.thresholds) {
    return `  -> ${padEnd(name, 28)} ${padEnd(asUint(c.upperThreshold), 10)} ${padEnd(asUint(c.lowerThreshold), 10)} ${padEnd(active, 10)} ${padEnd(inactive, 10)}\n`;
  }
  if (opts.persistentConn) {
    return `  -> ${padEnd(name, 28)} ${padEnd(asUint(c.weight), 9)} ${padEnd(asUint(d.persistentConns ?? 0), 11)} ${padEnd(active, 10)} ${padEnd(inactive, 10)}\n`;
  }
  if (opts.tunInfo) {
    return `  -> ${padEnd(name, 28)} ${padEnd(FWD_NAME[c.forwarding], 7)} ${padEnd(tunInfo(d), 13)} ${padEnd(asInt(c.weight), 6)} ${padEnd(active, 10)} ${padEnd(inactive, 10)}\n`;
  }
  return `  -> ${padEnd(name, 28)} ${padEnd(FWD_NAME[c.forwarding], 7)} ${padEnd(asInt(c.weight), 6)} ${padEnd(active, 10)} ${padEnd(inactive, 10)}\n`;
}

/** "1.2.1" from the kernel's 0x010201. */
export function ipvsVersionText(version: number): string {
  return `${(version >> 16) & 0xff}.${(version >> 8) & 0xff}.${version & 0xff}`;
}

/** Exactly what `ipvsadm -L -n [--stats|--rate|...]` prints for these services. */
export function formatList(entries: ServiceWithDestinations[], info: IpvsInfo, opts: ListOptions = {}): string {
  let out = `IP Virtual Server version ${ipvsVersionText(info.version)} (size=${asInt(info.connTableSize)})\n`;
  out += title(opts);
  const sorted = opts.noSort ? entries : sortServicesLikeIpvsadm(entries);
  for (const { service, destinations } of sorted) {
    out += listServiceLine(service, opts);
    const dests = opts.noSort ? destinations : sortDestinationsLikeIpvsadm(destinations);
    for (const d of dests) out += listDestLine(d, opts);
  }
  return out;
}
