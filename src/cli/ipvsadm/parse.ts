import { clip, quote } from '../../bounded-read.ts';
import { formatAddress, parseAddress } from '../../address/address.ts';
import { serviceKeyString } from '../../ipvs/keys.ts';
import { IPVSADM_DEFAULT_SCHEDULER, IPVSADM_MAX_WEIGHT, SCHEDULER_FLAG_NAMES } from '../../ipvs/vocabulary.ts';
import type {
  DestinationConfig,
  DestinationKey,
  Family,
  ForwardingMethod,
  IpvsTimeouts,
  Protocol,
  ServiceConfig,
  ServiceKey,
  TunnelType,
} from '../../ipvs/types.ts';
import type { ServiceWithDestinations } from './format.ts';

// Parser for `ipvsadm -R` input: one ipvsadm command line per text line, as `ipvsadm -S`
// prints them, plus what people write by hand (long options, --opt=value, -p without a
// timeout, clustered short flags, "ipvsadm" prefixes, # comments). It applies ipvsadm 1.31's
// own rules (which options go with which command, defaults, the silent port copy for
// DR/tunnel destinations) so a file means here what it means to ipvsadm. Host and port
// names are refused: restoring must not depend on DNS or /etc/services.

export class RestoreSyntaxError extends Error {
  readonly code = 'RESTORE_SYNTAX';
  readonly line: number;
  constructor(line: number, message: string) {
    super(`line ${line}: ${message}`);
    this.name = 'RestoreSyntaxError';
    this.line = line;
  }
}

/**
 * One parsed `ipvsadm -R` line in ipvsadm's own terms (its -E/-e "edit" commands, `key` for what the line
 * names, the line number for messages), including the commands that are not table writes (-C, -Z, --set).
 * planRestore() checks each against the table and turns it into `IpvsOperation` writes with their undo.
 */
export type RestoreOp =
  | { op: 'addService'; line: number; key: ServiceKey; config: ServiceConfig }
  | { op: 'editService'; line: number; key: ServiceKey; config: ServiceConfig }
  | { op: 'deleteService'; line: number; key: ServiceKey }
  | { op: 'addDestination'; line: number; service: ServiceKey; key: DestinationKey; config: DestinationConfig }
  | { op: 'editDestination'; line: number; service: ServiceKey; key: DestinationKey; config: DestinationConfig }
  | { op: 'deleteDestination'; line: number; service: ServiceKey; key: DestinationKey }
  | { op: 'flush'; line: number }
  | { op: 'zero'; line: number; service?: ServiceKey }
  | { op: 'setTimeouts'; line: number; timeouts: IpvsTimeouts };

const MAX_TIMEOUT = 86400 * 31;
const INT_MAX = 2147483647;
// IPVS_SVC_PERSISTENT_TIMEOUT in ipvsadm's ip_vs.h: what a bare -p means.
const DEFAULT_PERSISTENT_TIMEOUT = 6 * 60;
const SCHEDNAME_MAXLEN = 15;
const PENAME_MAXLEN = 15;

type Command = 'add' | 'edit' | 'del' | 'flush' | 'adddest' | 'deldest' | 'editdest' | 'zero' | 'set';
type ArgKind = 'none' | 'required' | 'optional';

interface OptionSpec {
  id: string;
  arg: ArgKind;
  command?: Command;
  /** Name in ipvsadm's messages and option-legality table. */
  name: string;
}

const COMMAND_NAMES: Record<Command, string> = {
  add: 'add-service',
  edit: 'edit-service',
  del: 'delete-service',
  flush: 'flush',
  adddest: 'add-server',
  deldest: 'delete-server',
  editdest: 'edit-server',
  zero: 'zero',
  set: 'set',
};

const SPECS: OptionSpec[] = [
  { id: 'A', arg: 'none', command: 'add', name: 'add-service' },
  { id: 'E', arg: 'none', command: 'edit', name: 'edit-service' },
  { id: 'D', arg: 'none', command: 'del', name: 'delete-service' },
  { id: 'C', arg: 'none', command: 'flush', name: 'clear' },
  { id: 'a', arg: 'none', command: 'adddest', name: 'add-server' },
  { id: 'e', arg: 'none', command: 'editdest', name: 'edit-server' },
  { id: 'd', arg: 'none', command: 'deldest', name: 'delete-server' },
  { id: 'Z', arg: 'none', command: 'zero', name: 'zero' },
  { id: 'set', arg: 'none', command: 'set', name: 'set' },
  { id: 't', arg: 'required', name: 'service-address' },
  { id: 'u', arg: 'required', name: 'service-address' },
  { id: 'sctp', arg: 'required', name: 'service-address' },
  { id: 'f', arg: 'required', name: 'service-address' },
  { id: 's', arg: 'required', name: 'scheduler' },
  { id: 'p', arg: 'optional', name: 'persistent' },
  { id: 'M', arg: 'required', name: 'netmask' },
  { id: 'r', arg: 'required', name: 'real-server' },
  { id: 'm', arg: 'none', name: 'forwarding-method' },
  { id: 'i', arg: 'none', name: 'forwarding-method' },
  { id: 'g', arg: 'none', name: 'forwarding-method' },
  { id: 'w', arg: 'required', name: 'weight' },
  { id: 'x', arg: 'required', name: 'u-threshold' },
  { id: 'y', arg: 'required', name: 'l-threshold' },
  { id: '6', arg: 'none', name: 'ipv6' },
  { id: 'o', arg: 'none', name: 'ops' },
  { id: 'pe', arg: 'required', name: 'pe' },
  { id: 'b', arg: 'required', name: 'sched-flags' },
  { id: 'tun-type', arg: 'required', name: 'tun-type' },
  { id: 'tun-port', arg: 'required', name: 'tun-port' },
  { id: 'tun-nocsum', arg: 'none', name: 'tun-nocsum' },
  { id: 'tun-csum', arg: 'none', name: 'tun-csum' },
  { id: 'tun-remcsum', arg: 'none', name: 'tun-remcsum' },
];

const SHORT = new Map<string, OptionSpec>();
const LONG = new Map<string, OptionSpec>();
{
  const byId = new Map(SPECS.map((s) => [s.id, s]));
  for (const s of SPECS) if (s.id.length === 1) SHORT.set(s.id, s);
  const longNames: Record<string, string> = {
    'add-service': 'A',
    'edit-service': 'E',
    'delete-service': 'D',
    clear: 'C',
    'add-server': 'a',
    'edit-server': 'e',
    'delete-server': 'd',
    zero: 'Z',
    set: 'set',
    'tcp-service': 't',
    'udp-service': 'u',
    'sctp-service': 'sctp',
    'fwmark-service': 'f',
    scheduler: 's',
    persistent: 'p',
    netmask: 'M',
    'real-server': 'r',
    masquerading: 'm',
    ipip: 'i',
    gatewaying: 'g',
    weight: 'w',
    'u-threshold': 'x',
    'l-threshold': 'y',
    ipv6: '6',
    ops: 'o',
    pe: 'pe',
    'sched-flags': 'b',
    'tun-type': 'tun-type',
    'tun-port': 'tun-port',
    'tun-nocsum': 'tun-nocsum',
    'tun-csum': 'tun-csum',
    'tun-remcsum': 'tun-remcsum',
  };
  for (const [long, id] of Object.entries(longNames)) LONG.set(long, byId.get(id)!);
}

/** Options (by legality-table name) each command accepts; '+' marks required ones. */
const LEGAL: Record<Command, Record<string, '+' | ' '>> = {
  add: { 'service-address': '+', scheduler: ' ', persistent: ' ', netmask: ' ', ops: ' ', pe: ' ', 'sched-flags': ' ' },
  edit: { 'service-address': '+', scheduler: ' ', persistent: ' ', netmask: ' ', ops: ' ', pe: ' ', 'sched-flags': ' ' },
  del: { 'service-address': '+' },
  flush: {},
  adddest: {
    'service-address': '+',
    'real-server': '+',
    'forwarding-method': ' ',
    weight: ' ',
    'u-threshold': ' ',
    'l-threshold': ' ',
    'tun-type': ' ',
    'tun-port': ' ',
    'tun-nocsum': ' ',
    'tun-csum': ' ',
    'tun-remcsum': ' ',
  },
  editdest: {
    'service-address': '+',
    'real-server': '+',
    'forwarding-method': ' ',
    weight: ' ',
    'u-threshold': ' ',
    'l-threshold': ' ',
    'tun-type': ' ',
    'tun-port': ' ',
    'tun-nocsum': ' ',
    'tun-csum': ' ',
    'tun-remcsum': ' ',
  },
  deldest: { 'service-address': '+', 'real-server': '+' },
  zero: { 'service-address': ' ' },
  set: {},
};

const UNSUPPORTED_COMMANDS: Record<string, string> = {
  L: 'list',
  l: 'list',
  list: 'list',
  S: 'save',
  save: 'save',
  R: 'restore',
  restore: 'restore',
  'start-daemon': 'start-daemon',
  'stop-daemon': 'stop-daemon',
  h: 'help',
  help: 'help',
  v: 'version',
  version: 'version',
};

/** Splits one line into tokens the way ipvsadm's config_stream does (whitespace, "ipvsadm" dropped), plus # comments. */
export function tokenizeLine(text: string): string[] {
  const out: string[] = [];
  for (const tok of text.split(/[ \t\r]+/)) {
    if (tok === '') continue;
    if (tok.startsWith('#')) break;
    if (tok === 'ipvsadm') continue;
    out.push(tok);
  }
  return out;
}

interface ParsedAddrPort {
  family: Family;
  address: string;
  port: number | undefined;
}

function parseNumber(text: string, min: number, max: number): number | undefined {
  if (!/^[+-]?\d+$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) && n >= min && n <= max ? n : undefined;
}

/** ipvsadm parse_service(): "[v6]:port", "v6", "v4:port", "v4" (numeric only). */
function parseAddrPort(text: string, fail: (m: string) => never, what: string): ParsedAddrPort {
  if (/^\d*$/.test(text)) fail(`illegal ${what} address[:port] specified: ${quote(text)}`);
  let host = text;
  let portText: string | undefined;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close === -1 || text[close + 1] !== ':') fail(`illegal ${what} address[:port] specified: ${quote(text)} (use [IPv6]:port)`);
    host = text.slice(1, close);
    portText = text.slice(close + 2);
    const parsed = tryAddress(host);
    if (parsed?.family !== 'inet6') fail(`illegal ${what} address: ${quote(host)} is not an IPv6 address`);
    return { family: 'inet6', address: parsed.address, port: parsePort(portText, fail, what) };
  }
  const whole = host.includes(':') ? tryAddress(host) : undefined;
  if (whole && whole.family === 'inet6') return { family: 'inet6', address: whole.address, port: undefined };
  const colon = host.lastIndexOf(':');
  if (colon !== -1) {
    portText = host.slice(colon + 1);
    host = host.slice(0, colon);
  }
  const parsed = tryAddress(host);
  if (parsed?.family !== 'inet') {
    fail(`illegal ${what} address: ${quote(host)} (numeric IPv4 or IPv6 addresses only; host names are not resolved)`);
  }
  return { family: 'inet', address: parsed.address, port: portText === undefined ? undefined : parsePort(portText, fail, what) };
}

function parsePort(text: string, fail: (m: string) => never, what: string): number {
  const n = parseNumber(text, 0, 65535);
  if (n === undefined) fail(`illegal ${what} port ${quote(text)} (a number 0-65535; service names are not resolved)`);
  return n;
}

function tryAddress(text: string): { family: Family; address: string } | undefined {
  try {
    const p = parseAddress(text);
    // Canonical text through the shared formatter keeps keys comparable with what the client returns.
    return { family: p.family, address: canonical(p.family, p.bytes) };
  } catch {
    return undefined;
  }
}

function canonical(family: Family, bytes: Uint8Array): string {
  return formatAddress(family, bytes);
}

interface LineState {
  command?: Command;
  seen: Map<string, string>;
  values: Map<string, string | undefined>;
  positional: string[];
  protocol?: Protocol;
  fwmark?: number;
  ipv6Fwmark: boolean;
}

function parseOptions(tokens: string[], fail: (m: string) => never): LineState {
  const st: LineState = { seen: new Map(), values: new Map(), positional: [], ipv6Fwmark: false };
  const record = (spec: OptionSpec, value: string | undefined): void => {
    if (spec.command) {
      if (st.command) fail('multiple commands specified');
      st.command = spec.command;
      return;
    }
    if (spec.id === '6') {
      if (!st.values.has('f')) fail('-6 used before -f');
      st.ipv6Fwmark = true;
      return;
    }
    if (st.seen.has(spec.name)) fail(`multiple '${spec.name}' options specified`);
    st.seen.set(spec.name, spec.id);
    st.values.set(spec.id, value);
  };
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i];
    const takeNext = (spec: OptionSpec, shown: string): string | undefined => {
      const next = tokens[i + 1];
      if (spec.arg === 'required') {
        if (next === undefined) fail(`option ${shown} needs a value`);
        i++;
        return next;
      }
      // popt's optional argument: the next token unless it looks like an option.
      if (next !== undefined && !next.startsWith('-')) {
        i++;
        return next;
      }
      return undefined;
    };
    if (tok.startsWith('--') && tok.length > 2) {
      const eq = tok.indexOf('=');
      const name = eq === -1 ? tok.slice(2) : tok.slice(2, eq);
      const spec = LONG.get(name);
      if (!spec) {
        if (UNSUPPORTED_COMMANDS[name]) fail(`the '${UNSUPPORTED_COMMANDS[name]}' command is not allowed in restore input`);
        fail(`invalid option ${quote(tok)}`);
      }
      if (eq !== -1) {
        if (spec.arg === 'none') fail(`option --${name} takes no value`);
        record(spec, tok.slice(eq + 1));
      } else {
        record(spec, spec.arg === 'none' ? undefined : takeNext(spec, `--${name}`));
      }
      continue;
    }
    if (tok.startsWith('-') && tok.length > 1) {
      // Clustered short options (-Ln style): flags, the last may take a value.
      for (let j = 1; j < tok.length; j++) {
        const ch = tok[j];
        const spec = SHORT.get(ch);
        if (!spec) {
          if (UNSUPPORTED_COMMANDS[ch]) fail(`the '${UNSUPPORTED_COMMANDS[ch]}' command is not allowed in restore input`);
          fail(`invalid option -${ch}${tok.length > 2 ? ` in ${quote(tok)}` : ''}`);
        }
        if (spec.arg === 'none') {
          record(spec, undefined);
          continue;
        }
        const rest = tok.slice(j + 1);
        record(spec, rest !== '' ? rest : takeNext(spec, `-${ch}`));
        break;
      }
      continue;
    }
    st.positional.push(tok);
  }
  return st;
}

function parseServiceKey(st: LineState, fail: (m: string) => never): { key: ServiceKey; port: number; netmaskDefault: string } {
  const f = st.values.get('f');
  if (f !== undefined) {
    // ipvsadm prints fwmarks with %d, so marks >= 2^31 come out negative: accept those back.
    const n = parseNumber(f, -2147483648, 4294967295);
    if (n === undefined || n === 0) fail(`invalid fwmark value ${quote(f)} specified`);
    const family: Family = st.ipv6Fwmark ? 'inet6' : 'inet';
    return { key: { kind: 'fwmark', family, fwmark: n >>> 0 }, port: 0, netmaskDefault: family === 'inet6' ? '128' : '255.255.255.255' };
  }
  const protoOpt = st.values.has('t') ? 't' : st.values.has('u') ? 'u' : 'sctp';
  const protocol: Protocol = protoOpt === 't' ? 'tcp' : protoOpt === 'u' ? 'udp' : 'sctp';
  const text = st.values.get(protoOpt)!;
  const a = parseAddrPort(text, fail, 'virtual server');
  const port = a.port ?? 0;
  return {
    key: { kind: 'addr', family: a.family, protocol, address: a.address, port },
    port,
    netmaskDefault: a.family === 'inet6' ? '128' : '255.255.255.255',
  };
}

function parseSchedFlags(sched: string, text: string, fail: (m: string) => never): ServiceConfig['flags'] {
  const flags = { fallback: false, portHash: false, sched3: false };
  for (const flag of text.split(',').filter((s) => s !== '')) {
    const named = SCHEDULER_FLAG_NAMES.find((n) => n.name === flag);
    if (named === undefined) fail(`invalid scheduler flag '${clip(flag)}'`);
    if (named.scheduler !== undefined && sched !== named.scheduler) {
      fail(`incompatible scheduler flag '${clip(flag)}' (it needs scheduler ${named.scheduler}, not ${sched})`);
    }
    flags[named.field as keyof typeof flags] = true;
  }
  return flags;
}

function serviceConfig(st: LineState, key: ServiceKey, netmaskDefault: string, fail: (m: string) => never): ServiceConfig {
  const sched = st.values.get('s') ?? IPVSADM_DEFAULT_SCHEDULER;
  if (sched === '' || sched.length > SCHEDNAME_MAXLEN || !/^[A-Za-z0-9_-]+$/.test(sched)) fail(`invalid scheduler name ${quote(sched)}`);
  const persistent = st.seen.has('persistent');
  let timeout = 0;
  if (persistent) {
    const p = st.values.get('p');
    if (p === undefined) timeout = DEFAULT_PERSISTENT_TIMEOUT;
    else {
      const n = parseNumber(p, 1, MAX_TIMEOUT);
      if (n === undefined) fail(`invalid timeout value ${quote(p)} specified (1-${MAX_TIMEOUT} seconds)`);
      timeout = n;
    }
  }
  let netmask = netmaskDefault;
  const m = st.values.get('M');
  if (m !== undefined) {
    if (key.family === 'inet6') {
      const n = parseNumber(m, 1, 128);
      if (n === undefined) fail(`illegal ipv6 netmask ${quote(m)} specified (a prefix length 1-128)`);
      netmask = String(n);
    } else {
      const a = tryAddress(m);
      if (a?.family !== 'inet') fail(`illegal virtual server persistent mask ${quote(m)} specified`);
      netmask = a.address;
    }
  }
  const onePacket = st.seen.has('ops');
  if (onePacket && key.kind === 'addr' && key.protocol !== 'udp') fail('One-Packet Scheduling is only for UDP virtual services');
  if (key.kind === 'addr' && key.port === 0 && !persistent) fail('Zero port specified for non-persistent service');
  const b = st.values.get('b');
  const schedFlags = b !== undefined ? parseSchedFlags(sched, b, fail) : { fallback: false, portHash: false, sched3: false };
  const config: ServiceConfig = {
    scheduler: sched,
    flags: { persistent, onePacket, ...schedFlags },
    timeout,
    netmask,
  };
  const pe = st.values.get('pe');
  if (pe !== undefined) {
    if (pe === '' || pe.length > PENAME_MAXLEN) fail(`invalid persistence engine name ${quote(pe)}`);
    config.persistenceEngine = pe;
  }
  return config;
}

const TUN_TYPES: Record<string, TunnelType> = { ipip: 'ipip', gue: 'gue', gre: 'gre' };

function destination(
  st: LineState,
  service: ServiceKey,
  servicePort: number,
  withConfig: boolean,
  fail: (m: string) => never,
): { key: DestinationKey; config?: DestinationConfig } {
  const r = parseAddrPort(st.values.get('r')!, fail, 'real server');
  const fwdOpt = st.seen.get('forwarding-method');
  const forwarding: ForwardingMethod = fwdOpt === 'm' ? 'masq' : fwdOpt === 'i' ? 'tunnel' : 'droute';
  let port = r.port ?? servicePort;
  // ipvsadm: a DR or tunnel destination of a non-fwmark service always gets the service port.
  if (service.kind === 'addr' && (forwarding === 'tunnel' || forwarding === 'droute') && withConfig) port = servicePort;
  const key: DestinationKey = { family: r.family, address: r.address, port };
  if (!withConfig) return { key };
  if (r.family !== service.family && forwarding !== 'tunnel') fail('Different address family is allowed only for tunneling servers');
  const num = (id: string, name: string, min: number, max: number, def: number): number => {
    const v = st.values.get(id);
    if (v === undefined) return def;
    const n = parseNumber(v, min, max);
    if (n === undefined) fail(`illegal ${name} ${quote(v)} specified (${min}-${max})`);
    return n;
  };
  const config: DestinationConfig = {
    forwarding,
    weight: num('w', 'weight', 0, IPVSADM_MAX_WEIGHT, 1),
    upperThreshold: num('x', 'u_threshold', 0, INT_MAX, 0),
    lowerThreshold: num('y', 'l_threshold', 0, INT_MAX, 0),
  };
  const tunOpts = ['tun-type', 'tun-port', 'tun-nocsum', 'tun-csum', 'tun-remcsum'].filter((n) => st.seen.has(n));
  if (forwarding !== 'tunnel') {
    if (tunOpts.length > 0) fail('Tunnel options conflict with forward method');
    return { key, config };
  }
  const typeText = st.values.get('tun-type') ?? 'ipip';
  const type = TUN_TYPES[typeText];
  if (!type) fail(`illegal tunnel type ${quote(typeText)} specified (ipip, gue or gre)`);
  const csumOpts = tunOpts.filter((n) => n !== 'tun-type' && n !== 'tun-port');
  if (type === 'ipip') {
    const bad = tunOpts.find((n) => n !== 'tun-type');
    if (bad) fail(`Illegal '${bad}' option with the 'ipip' tunnel type`);
  }
  if (type === 'gre') {
    const bad = tunOpts.find((n) => n === 'tun-port' || n === 'tun-remcsum');
    if (bad) fail(`Illegal '${bad}' option with the 'gre' tunnel type`);
  }
  if (type === 'gue' && !st.seen.has('tun-port')) fail(`You need to supply the 'tun-port' option for the 'gue' tunnel type`);
  if (csumOpts.length > 1) fail(`The option '${csumOpts[1]}' conflicts with the '${csumOpts[0]}' option in the '${type}' tunnel type`);
  let tunnelPort = 0;
  if (type === 'gue') tunnelPort = num('tun-port', 'tunnel port', 1, 65535, 0);
  const tunnelFlags = st.seen.has('tun-csum') ? 1 : st.seen.has('tun-remcsum') ? 2 : 0;
  config.tunnelType = type;
  config.tunnelPort = tunnelPort;
  config.tunnelFlags = tunnelFlags;
  return { key, config };
}

function parseLine(tokens: string[], line: number): RestoreOp {
  const fail: (m: string) => never = (m) => {
    throw new RestoreSyntaxError(line, m);
  };
  const st = parseOptions(tokens, fail);
  const command = st.command;
  if (!command) fail(`no command (expected -A, -E, -D, -a, -e, -d, -C, -Z or --set) in: ${clip(tokens.join(' '), 120)}`);
  const legal = LEGAL[command];
  for (const name of st.seen.keys()) {
    if (!(name in legal)) fail(`Illegal '${name}' option with the '${COMMAND_NAMES[command]}' command`);
  }
  for (const [name, req] of Object.entries(legal)) {
    if (req === '+' && !st.seen.has(name)) fail(`You need to supply the '${name}' option for the '${COMMAND_NAMES[command]}' command`);
  }
  if (command === 'set') {
    if (st.positional.length !== 3) fail('--set option requires 3 timeout values');
    const t = st.positional.map((p) => {
      const n = parseNumber(p, 0, MAX_TIMEOUT);
      if (n === undefined) fail(`invalid timeout value ${quote(p)} specified`);
      return n;
    });
    return { op: 'setTimeouts', line, timeouts: { tcp: t[0], tcpFin: t[1], udp: t[2] } };
  }
  if (st.positional.length > 0) fail(`unexpected argument ${clip(st.positional[0])}`);
  if (command === 'flush') return { op: 'flush', line };
  if (command === 'zero') {
    if (!st.seen.has('service-address')) return { op: 'zero', line };
    return { op: 'zero', line, service: parseServiceKey(st, fail).key };
  }
  const svc = parseServiceKey(st, fail);
  switch (command) {
    case 'add':
    case 'edit':
      return {
        op: command === 'add' ? 'addService' : 'editService',
        line,
        key: svc.key,
        config: serviceConfig(st, svc.key, svc.netmaskDefault, fail),
      };
    case 'del':
      return { op: 'deleteService', line, key: svc.key };
    case 'adddest':
    case 'editdest': {
      const d = destination(st, svc.key, svc.port, true, fail);
      return { op: command === 'adddest' ? 'addDestination' : 'editDestination', line, service: svc.key, key: d.key, config: d.config! };
    }
    case 'deldest':
      return { op: 'deleteDestination', line, service: svc.key, key: destination(st, svc.key, svc.port, false, fail).key };
  }
  return fail('unreachable');
}

/**
 * Parses `ipvsadm -R` input into operations, in file order. Throws RestoreSyntaxError naming
 * the line of the first problem; nothing is returned for a file with any bad line.
 */
export function parseRestore(text: string): RestoreOp[] {
  const ops: RestoreOp[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const tokens = tokenizeLine(lines[i]);
    if (tokens.length === 0) continue;
    ops.push(parseLine(tokens, i + 1));
  }
  return ops;
}

/**
 * The services a list of add operations builds from nothing (what `ipvsadm -S` output
 * describes). Other operations are refused: use a simulation against real state for those.
 */
export function opsToEntries(ops: RestoreOp[]): ServiceWithDestinations[] {
  const byKey = new Map<string, ServiceWithDestinations>();
  for (const op of ops) {
    if (op.op === 'addService') {
      const k = serviceKeyString(op.key);
      if (byKey.has(k)) throw new RestoreSyntaxError(op.line, `service ${k} is added twice`);
      byKey.set(k, { service: { key: op.key, config: op.config }, destinations: [] });
    } else if (op.op === 'addDestination') {
      const k = serviceKeyString(op.service);
      const entry = byKey.get(k);
      if (!entry) throw new RestoreSyntaxError(op.line, `destination for service ${k}, which is not added before it`);
      entry.destinations.push({ key: op.key, config: op.config });
    } else {
      throw new RestoreSyntaxError(op.line, `'${op.op}' cannot be turned into a list of services`);
    }
  }
  return [...byKey.values()];
}
