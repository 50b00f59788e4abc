import { dirname, isAbsolute, resolve } from 'node:path';
import { isScalar, isSeq } from 'yaml';
import type { Node } from 'yaml';
import type { DestinationConfig, DestinationKey, ServiceConfig, ServiceFlags, ServiceKey } from '../../ipvs/types.ts';
import { destinationKeyString, serviceKeyString } from '../../ipvs/keys.ts';
import { quote } from '../../bounded-read.ts';
import { HTTP_PATH, hostHeaderProblem } from '../../health/host.ts';
import type { DesiredDestination, DesiredService } from '../../model/types.ts';
import { readBgp, readConnectionSync } from './bgp.ts';
import type { Fields, Reader } from './reader.ts';
import { childPath, describe, readBool, readChoice, readDuration, readFields, readInt, readList, readString } from './reader.ts';
import type { FailureAction, HealthCheckSpec, HealthCheckType, HealthTarget, LbSettings, LoadedConfig, QuorumPolicy } from './types.ts';
import type { DnsCheck, ExecCheck, TlsCheck, UdpCheck, UdpExpect } from '../../health/types.ts';
import { DNS_QUERY_TYPES, RCODES } from '../../health/probe-dns.ts';
import { type Family, canonicalize, isIpv4Netmask } from '../../address/address.ts';
import { DEFAULT_MH_FLAGS as DEFAULT_MH_FLAGS_BY_FIELD, DEFAULT_SCHEDULER, FORWARDING_METHODS, IPVSADM_MAX_WEIGHT, SCHEDULER_FLAG_NAMES, SCHEDULERS, type SchedulerName, TUNNEL_TYPES } from '../../ipvs/vocabulary.ts';
import { closest } from './values.ts';

// The configuration schema (documented for users in examples/README.md). This module turns a parsed
// YAML document into the desired state, recording every problem with its position via the Reader.

/** The kernel's schedulers (ipvs/vocabulary.ts), ours first: error messages list the default first. */
const SCHEDULER_CHOICES: readonly SchedulerName[] = [DEFAULT_SCHEDULER, ...SCHEDULERS.filter((s) => s !== DEFAULT_SCHEDULER)];
const PROTOCOLS = ['tcp', 'udp', 'sctp'] as const;
/** Scheduler flags by ipvsadm's names (`-b`) for the schedulers that name them, plus one-packet (`-o`). */
const FLAG_NAMES: readonly string[] = [...SCHEDULER_FLAG_NAMES.filter((n) => n.scheduler !== undefined).map((n) => n.name), 'one-packet'];
/** What an `mh` service gets when it names no flags (ipvs/vocabulary.ts DEFAULT_MH_FLAGS), by the names a file uses. */
export const DEFAULT_MH_FLAGS = SCHEDULER_FLAG_NAMES.filter((n) => n.scheduler === 'mh' && DEFAULT_MH_FLAGS_BY_FIELD[n.field] === true).map((n) => n.name);

/** What a file may set: ipvsadm's limit (ipvs/vocabulary.ts says why it is not the kernel's). */
export const MAX_WEIGHT = IPVSADM_MAX_WEIGHT;
const MAX_U32 = 0xffff_ffff;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,62}$/;

const TOP_FIELDS = ['services', 'settings', 'bgp', 'connectionSync'];
const SETTINGS_FIELDS = ['drainTimeout', 'resyncInterval', 'minSyncInterval'];
const SERVICE_FIELDS = ['name', 'protocol', 'address', 'port', 'fwmark', 'family', 'scheduler', 'flags', 'persistence', 'bindAddress', 'healthCheck', 'destinations', 'quorum', 'hysteresis', 'sorryServer'];
const PERSISTENCE_FIELDS = ['timeout', 'netmask', 'engine'];
const DESTINATION_FIELDS = ['address', 'port', 'weight', 'forwarding', 'upperThreshold', 'lowerThreshold', 'tunnelType', 'tunnelPort', 'healthCheck'];
const CHECK_TYPES: readonly HealthCheckType[] = ['tcp', 'http', 'https', 'dns', 'udp', 'exec'];
/** Fields every check takes, then those of each type. */
const CHECK_COMMON = ['type', 'port', 'interval', 'timeout', 'rise', 'fall', 'onFailure'];
const CHECK_TYPE_FIELDS: Record<HealthCheckType, readonly string[]> = {
  tcp: [],
  http: ['path', 'expectStatus', 'host'],
  https: ['path', 'expectStatus', 'host', 'serverName', 'verify', 'caFile'],
  dns: ['query', 'queryType', 'transport', 'expectRcode', 'expectAnswer'],
  udp: ['send', 'expect', 'expectReply'],
  exec: ['command'],
};
const CHECK_FIELDS = [...new Set([...CHECK_COMMON, ...Object.values(CHECK_TYPE_FIELDS).flat()])];
/** A DNS name in presentation form: labels of 1-63 letters, digits, "-" or "_", up to 253 characters. */
const DNS_NAME = /^(?=.{1,253}\.?$)(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)*[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.?$/;
const UDP_EXPECT: readonly UdpExpect[] = ['reply', 'no-unreachable'];
const MAX_UDP_PAYLOAD = 1400;
const MAX_ARGS = 64;
const MAX_ARG_LENGTH = 4096;

export const CHECK_DEFAULTS = { intervalMs: 5000, timeoutMs: 2000, rise: 2, fall: 3, path: '/', expectStatus: 200, onFailure: 'weight0' } as const;

export function readConfig(r: Reader, root: unknown): Omit<LoadedConfig, 'file'> {
  const out: Omit<LoadedConfig, 'file'> = { desired: { services: [] }, health: [], quorum: [], settings: {} };
  if (root === null || root === undefined || (isScalar(root) && root.value === null)) {
    r.fail(root, '', 'the file is empty: expected a mapping with a "services" list');
    return out;
  }
  const top = readFields(r, root, '', TOP_FIELDS, 'the configuration');
  if (!top) return out;
  if (top.has('settings')) out.settings = readSettings(r, top.get('settings'), 'settings');
  if (top.has('bgp')) {
    const bgp = readBgp(r, top.get('bgp'), 'bgp');
    if (bgp) out.bgp = bgp;
  }
  if (top.has('connectionSync')) {
    const sync = readConnectionSync(r, top.get('connectionSync'), 'connectionSync');
    if (sync) out.connectionSync = sync;
  }
  const list = top.get('services');
  if (list === undefined) {
    r.fail(top.node, '', 'missing required field "services" (a list of virtual services; may be empty: services: [])');
    return out;
  }
  const seq = readList(r, list, 'services', '"services"');
  if (!seq) return out;
  const names = new Map<string, string>();
  const keys = new Map<string, string>();
  seq.items.forEach((item, index) => {
    const svc = readService(r, item, index);
    if (!svc) return;
    const { service, health, quorum, name, key, nameNode, keyNode, path } = svc;
    if (name !== undefined) {
      const firstByName = names.get(name);
      if (firstByName !== undefined) r.fail(nameNode, childPath(path, 'name'), `duplicate service name "${name}" (first used at ${firstByName})`);
      else names.set(name, position(r, nameNode));
    }
    if (key !== undefined) {
      const id = serviceKeyString(key);
      const firstByKey = keys.get(id);
      if (firstByKey !== undefined) r.fail(keyNode, path, `duplicate service ${id} (already defined at ${firstByKey})`);
      else keys.set(id, position(r, keyNode));
    }
    if (service) {
      out.desired.services.push(service);
      out.health.push(...health);
      if (quorum) out.quorum.push(quorum);
    }
  });
  r.issues.sort((a, b) => a.line - b.line || a.column - b.column);
  return out;
}

function position(r: Reader, node: unknown): string {
  const range = (node as { range?: number[] } | null)?.range;
  if (!range) return 'an earlier entry';
  const p = r.position(range[0]);
  return `${r.file}:${p.line}:${p.column}`;
}


function readSettings(r: Reader, node: unknown, path: string): LbSettings {
  const f = readFields(r, node, path, SETTINGS_FIELDS, '"settings"');
  if (!f) return {};
  const settings: LbSettings = {};
  const day = 86_400_000;
  const drain = readDuration(r, f, 'drainTimeout', 0, day);
  if (drain !== undefined) settings.drainTimeoutMs = drain;
  const resync = readDuration(r, f, 'resyncInterval', 1000, day);
  if (resync !== undefined) settings.resyncIntervalMs = resync;
  const minSync = readDuration(r, f, 'minSyncInterval', 0, 60_000);
  if (minSync !== undefined) settings.minSyncIntervalMs = minSync;
  return settings;
}

interface ReadService {
  /** Undefined when the service has problems (they are in the reader); name and key may still be known. */
  service?: DesiredService;
  name?: string;
  key?: ServiceKey;
  health: HealthTarget[];
  quorum?: QuorumPolicy;
  nameNode: Node;
  keyNode: Node;
  path: string;
}

function readService(r: Reader, node: unknown, index: number): ReadService | undefined {
  // Name the path after the service as soon as we know its name: errors read better that way.
  let path = `services[${index}]`;
  const before = r.issues.length;
  const f = readFields(r, node, path, SERVICE_FIELDS, 'a service');
  if (!f) return undefined;
  const name = readString(r, f, 'name', { required: true, pattern: NAME, patternHint: 'letters, digits and . _ : / - (up to 63), starting with a letter or digit' });
  if (name !== undefined) {
    path = `services[${name}]`;
    relabel(r, before, `services[${index}]`, path);
  }
  const g = f.withPath(path);

  const key = readServiceKey(r, g);
  const scheduler = readChoice(r, g, 'scheduler', SCHEDULER_CHOICES, { what: 'scheduler' }) ?? (g.has('scheduler') ? undefined : DEFAULT_SCHEDULER);
  const flags = readFlags(r, g, scheduler);
  const config: ServiceConfig = {
    scheduler: scheduler ?? DEFAULT_SCHEDULER,
    flags: flags ?? {},
    timeout: 0,
    netmask: key?.family === 'inet6' ? '128' : '255.255.255.255',
  };
  if (g.has('persistence')) readPersistence(r, g.get('persistence'), g.at('persistence'), key?.family ?? 'inet', config);
  const bind = readBool(r, g, 'bindAddress');
  if (bind === true && key?.kind === 'fwmark') r.fail(g.get('bindAddress'), g.at('bindAddress'), 'a fwmark service has no address to bind');

  const serviceCheck = g.has('healthCheck') ? readCheck(r, g.get('healthCheck'), g.at('healthCheck'), false) : undefined;
  const destinations: DesiredDestination[] = [];
  const health: HealthTarget[] = [];
  const destList = g.get('destinations');
  if (destList === undefined) {
    r.fail(g.node, path, 'missing required field "destinations" (a list; may be empty: destinations: [])');
  } else {
    const seq = readList(r, destList, g.at('destinations'), '"destinations"');
    const seen = new Map<string, string>();
    seq?.items.forEach((item, di) => {
      const d = readDestination(r, item, `${g.at('destinations')}[${di}]`, key, serviceCheck);
      if (!d) return;
      const id = destinationKeyString(d.dest.key);
      const first = seen.get(id);
      if (first !== undefined) {
        r.fail(item, `${g.at('destinations')}[${di}]`, `duplicate destination ${id} (already listed at ${first})`);
        return;
      }
      seen.set(id, position(r, item));
      destinations.push(d.dest);
      if (d.check && key && name !== undefined) {
        health.push({
          id: `${serviceKeyString(key)} -> ${destinationKeyString(d.dest.key)}`,
          serviceName: name,
          service: key,
          destination: d.dest.key,
          address: d.dest.key.address,
          port: d.check.port ?? d.dest.key.port,
          check: d.check,
        });
      }
    });
  }
  const quorum = readQuorum(r, g, key, config, destinations);
  const valid = key !== undefined && name !== undefined && r.issues.length === before;
  return {
    service: valid ? { key, config, name, destinations, bindAddress: key.kind === 'addr' && bind !== false } : undefined,
    name,
    key,
    health,
    quorum: valid && quorum ? { service: key, serviceName: name, ...quorum } : undefined,
    nameNode: g.get('name') ?? g.node,
    keyNode: g.node,
    path,
  };
}

/** The largest quorum or hysteresis: the kernel keeps weights in a signed 32-bit int. */
const MAX_QUORUM = 0x7fff_ffff;

/** quorum, hysteresis and sorryServer of a service; undefined when it sets none of them. */
function readQuorum(
  r: Reader,
  f: Fields,
  key: ServiceKey | undefined,
  config: ServiceConfig,
  destinations: readonly DesiredDestination[],
): Omit<QuorumPolicy, 'service' | 'serviceName'> | undefined {
  if (!f.has('quorum') && !f.has('hysteresis') && !f.has('sorryServer')) return undefined;
  // keepalived's default quorum is 1: without one, the service is down when no destination is available.
  const policy: Omit<QuorumPolicy, 'service' | 'serviceName'> = { quorum: readInt(r, f, 'quorum', 1, MAX_QUORUM) ?? 1, hysteresis: readInt(r, f, 'hysteresis', 0, MAX_QUORUM) ?? 0 };
  const node = f.get('sorryServer');
  if (node === undefined) return policy;
  const path = f.at('sorryServer');
  const d = readDestination(r, node, path, key, undefined, { sorry: true });
  if (!d) return policy;
  const id = destinationKeyString(d.dest.key);
  if (destinations.some((x) => destinationKeyString(x.key) === id)) {
    r.fail(node, path, `${id} is also a destination of this service: the sorry server must be another one (it takes over while the real ones are short)`);
    return policy;
  }
  // While the sorry server serves, the real destinations sit at weight 0 in their table slots: mh and sh send
  // a flow hashed to one of them on to the next available destination only with their fallback flag.
  if ((config.scheduler === 'mh' || config.scheduler === 'sh') && !config.flags.fallback) {
    r.fail(node, path, `a sorry server with the ${config.scheduler} scheduler needs the ${config.scheduler}-fallback flag: without it, new connections hashed to a real destination at weight 0 are dropped instead of reaching the sorry server`);
    return policy;
  }
  policy.sorryServer = d.dest;
  return policy;
}

function relabel(r: Reader, from: number, oldPrefix: string, newPrefix: string): void {
  for (let i = from; i < r.issues.length; i++) {
    const issue = r.issues[i];
    if (issue.path.startsWith(oldPrefix)) issue.path = newPrefix + issue.path.slice(oldPrefix.length);
  }
}

function readServiceKey(r: Reader, f: Fields): ServiceKey | undefined {
  const hasFwmark = f.has('fwmark');
  if (hasFwmark) {
    for (const k of ['address', 'port', 'protocol']) {
      if (f.has(k)) r.fail(f.keyNode(k), f.at(k), `a service has either "fwmark" or "address"+"port"+"protocol", not both`);
    }
    const fwmark = readInt(r, f, 'fwmark', 1, MAX_U32);
    const family = readChoice(r, f, 'family', ['inet', 'inet6'] as const, { what: 'family' }) ?? 'inet';
    return fwmark === undefined ? undefined : { kind: 'fwmark', family, fwmark };
  }
  if (f.has('family')) r.fail(f.keyNode('family'), f.at('family'), 'only fwmark services name a family; an address service takes it from its address');
  if (!f.has('address')) return r.fail(f.node, f.path, 'missing required field "address" (or "fwmark")');
  const address = readAddress(r, f, 'address');
  const port = readInt(r, f, 'port', 1, 65535, { required: true });
  const protocol = readChoice(r, f, 'protocol', PROTOCOLS, { what: 'protocol' }) ?? (f.has('protocol') ? undefined : 'tcp');
  if (!address || port === undefined || protocol === undefined) return undefined;
  return { kind: 'addr', family: address.family, protocol, address: address.address, port };
}

function readAddress(r: Reader, f: Fields, key: string): { address: string; family: Family } | undefined {
  const text = readString(r, f, key, { required: true });
  if (text === undefined) return undefined;
  const parsed = canonicalize(text);
  if (!parsed) return r.fail(f.get(key), f.at(key), `${quote(text)} is not an IPv4 or IPv6 address`);
  return parsed;
}

function readFlags(r: Reader, f: Fields, scheduler: string | undefined): ServiceFlags | undefined {
  const node = f.get('flags');
  if (node === undefined) {
    if (f.has('flags')) return {};
    return scheduler === 'mh' ? { ...DEFAULT_MH_FLAGS_BY_FIELD } : {};
  }
  if (!isSeq(node)) return r.fail(node, f.at('flags'), `must be a list of flag names (${FLAG_NAMES.join(', ')}), got ${describe(node)}`);
  const flags: ServiceFlags = {};
  node.items.forEach((item, i) => {
    const path = `${f.at('flags')}[${i}]`;
    const v = isScalar(item) ? item.value : undefined;
    if (typeof v !== 'string' || !(FLAG_NAMES as readonly string[]).includes(v)) {
      const hint = typeof v === 'string' ? closest(v, FLAG_NAMES) : undefined;
      r.fail(item, path, `unknown flag ${describe(item)}; known: ${FLAG_NAMES.join(', ')}${hint ? ` (did you mean "${hint}"?)` : ''}`);
      return;
    }
    if (v === 'one-packet') {
      flags.onePacket = true;
      return;
    }
    const named = SCHEDULER_FLAG_NAMES.find((n) => n.name === v);
    if (named?.scheduler === undefined) return;
    if (scheduler !== undefined && named.scheduler !== scheduler) {
      r.fail(item, path, `flag "${v}" belongs to the "${named.scheduler}" scheduler, this service uses "${scheduler}"`);
      return;
    }
    flags[named.field] = true;
  });
  return flags;
}

function readPersistence(r: Reader, node: unknown, path: string, family: Family, config: ServiceConfig): void {
  const f = readFields(r, node, path, PERSISTENCE_FIELDS, '"persistence"');
  if (!f) return;
  const ms = readDuration(r, f, 'timeout', 1000, MAX_U32 * 1000);
  config.flags.persistent = true;
  config.timeout = ms === undefined ? 300 : Math.round(ms / 1000);
  const maskNode = f.get('netmask');
  if (maskNode !== undefined) {
    const v = isScalar(maskNode) ? maskNode.value : undefined;
    if (family === 'inet6') {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 128) r.fail(maskNode, f.at('netmask'), `an IPv6 netmask is a prefix length from 1 to 128, got ${describe(maskNode)}`);
      else config.netmask = String(v);
    } else if (typeof v !== 'string' || !isIpv4Netmask(v)) {
      r.fail(maskNode, f.at('netmask'), `an IPv4 netmask is a dotted mask such as 255.255.255.0, got ${describe(maskNode)}`);
    } else config.netmask = v;
  }
  const engine = readString(r, f, 'engine', { pattern: /^[a-z0-9_]{1,15}$/, patternHint: 'a persistence engine name such as "sip"' });
  if (engine !== undefined) config.persistenceEngine = engine;
}

function readDestination(
  r: Reader,
  node: unknown,
  path: string,
  service: ServiceKey | undefined,
  serviceCheck: HealthCheckSpec | undefined,
  opts: { sorry?: boolean } = {},
): { dest: DesiredDestination; check?: HealthCheckSpec } | undefined {
  const before = r.issues.length;
  const f = readFields(r, node, path, DESTINATION_FIELDS, opts.sorry ? 'a sorry server' : 'a destination');
  if (!f) return undefined;
  if (opts.sorry && f.has('healthCheck')) {
    // As keepalived's sorry_server: it is the last resort, used without asking whether it is up.
    r.fail(f.keyNode('healthCheck'), f.at('healthCheck'), 'a sorry server is not health-checked (it is the last resort while the real destinations are short)');
    return undefined;
  }
  const address = readAddress(r, f, 'address');
  // Default: the service's port; for fwmark services 0 (= the packet's own destination port, as ipvsadm).
  const defaultPort = service === undefined ? undefined : service.kind === 'addr' ? service.port : 0;
  let port = readInt(r, f, 'port', service?.kind === 'fwmark' ? 0 : 1, 65535);
  if (port === undefined && !f.has('port')) port = defaultPort;
  const weight = readInt(r, f, 'weight', 0, MAX_WEIGHT) ?? 1;
  const forwarding = readChoice(r, f, 'forwarding', FORWARDING_METHODS, { what: 'forwarding method' }) ?? 'masq';
  const upper = readInt(r, f, 'upperThreshold', 0, MAX_U32) ?? 0;
  const lower = readInt(r, f, 'lowerThreshold', 0, MAX_U32) ?? 0;
  // The kernel refuses lower > upper with ERANGE even when upper is 0 (no limit).
  if (lower > upper) r.fail(f.get('lowerThreshold'), f.at('lowerThreshold'), `lowerThreshold ${lower} is above upperThreshold ${upper}`);
  const config: DestinationConfig = { forwarding, weight, upperThreshold: upper, lowerThreshold: lower };
  if (f.has('tunnelType') || f.has('tunnelPort')) {
    if (forwarding !== 'tunnel') r.fail(f.keyNode(f.has('tunnelType') ? 'tunnelType' : 'tunnelPort'), path, 'tunnelType/tunnelPort need forwarding: tunnel');
    config.tunnelType = readChoice(r, f, 'tunnelType', TUNNEL_TYPES, { what: 'tunnel type' }) ?? 'ipip';
    const tport = readInt(r, f, 'tunnelPort', 1, 65535);
    if (tport !== undefined) config.tunnelPort = tport;
    if (config.tunnelType === 'gue' && tport === undefined) r.fail(f.node, path, 'a GUE tunnel needs "tunnelPort"');
  }
  if (address && service && address.family !== service.family && forwarding !== 'tunnel') {
    r.fail(f.get('address'), f.at('address'), `an ${address.family === 'inet' ? 'IPv4' : 'IPv6'} destination in an ${service.family === 'inet' ? 'IPv4' : 'IPv6'} service needs forwarding: tunnel`);
  }
  let check = serviceCheck;
  const checkNode = f.get('healthCheck');
  if (checkNode !== undefined) {
    if (isScalar(checkNode) && checkNode.value === false) check = undefined;
    else check = readCheck(r, checkNode, f.at('healthCheck'), true);
  }
  if (check && check.port === undefined && port === 0) r.fail(f.node, path, 'a destination with port 0 needs healthCheck.port');
  if (!address || port === undefined || r.issues.length > before) return undefined;
  const key: DestinationKey = { family: address.family, address: address.address, port };
  return check ? { dest: { key, config }, check } : { dest: { key, config } };
}

function readCheck(r: Reader, node: unknown, path: string, allowFalse: boolean): HealthCheckSpec | undefined {
  const f = readFields(r, node, path, CHECK_FIELDS, allowFalse ? 'a health check (or false to disable it)' : 'a health check');
  if (!f) return undefined;
  const type = readChoice(r, f, 'type', CHECK_TYPES, { required: true, what: 'health check type' });
  const port = readInt(r, f, 'port', 1, 65535);
  const intervalMs = readDuration(r, f, 'interval', 100, 3_600_000) ?? CHECK_DEFAULTS.intervalMs;
  const timeoutMs = readDuration(r, f, 'timeout', 10, 600_000) ?? Math.min(CHECK_DEFAULTS.timeoutMs, intervalMs);
  if (timeoutMs > intervalMs) r.fail(f.get('timeout'), f.at('timeout'), `timeout (${timeoutMs} ms) must not exceed interval (${intervalMs} ms)`);
  const rise = readInt(r, f, 'rise', 1, 100) ?? CHECK_DEFAULTS.rise;
  const fall = readInt(r, f, 'fall', 1, 100) ?? CHECK_DEFAULTS.fall;
  const onFailure: FailureAction = readChoice(r, f, 'onFailure', ['weight0', 'remove'] as const, { what: 'onFailure' }) ?? CHECK_DEFAULTS.onFailure;
  if (type === undefined) return undefined;
  const own = CHECK_TYPE_FIELDS[type];
  for (const k of CHECK_FIELDS) {
    if (f.has(k) && !CHECK_COMMON.includes(k) && !own.includes(k)) {
      const users = CHECK_TYPES.filter((t) => CHECK_TYPE_FIELDS[t].includes(k)).join('/');
      r.fail(f.keyNode(k), f.at(k), `"${k}" applies to ${users} checks only, this one is ${type}`);
    }
  }
  const spec: HealthCheckSpec = { type, path: CHECK_DEFAULTS.path, expectStatus: CHECK_DEFAULTS.expectStatus, intervalMs, timeoutMs, rise, fall, onFailure };
  if (port !== undefined) spec.port = port;
  if (type === 'http' || type === 'https') {
    spec.path = readString(r, f, 'path', { pattern: HTTP_PATH, patternHint: 'an absolute path such as /healthz, printable ASCII (percent-encode the rest)' }) ?? spec.path;
    spec.expectStatus = readInt(r, f, 'expectStatus', 100, 599) ?? spec.expectStatus;
    const host = readString(r, f, 'host');
    const hostProblem = host === undefined ? undefined : hostHeaderProblem(host);
    if (hostProblem) r.fail(f.get('host'), f.at('host'), `${quote(host)} is not a valid Host header: ${hostProblem}`);
    else if (host !== undefined) spec.host = host;
  }
  if (type === 'https') spec.tls = readTls(r, f);
  if (type === 'dns') spec.dns = readDns(r, f);
  if (type === 'udp') spec.udp = readUdp(r, f);
  if (type === 'exec') {
    const exec = readExec(r, f);
    if (exec === undefined) return undefined;
    spec.exec = exec;
  }
  return spec;
}

function readTls(r: Reader, f: Fields): TlsCheck {
  const tls: TlsCheck = { verify: readBool(r, f, 'verify') ?? false };
  const serverName = readString(r, f, 'serverName', { pattern: DNS_NAME, patternHint: 'a DNS name (SNI carries names, not addresses)' });
  if (serverName !== undefined) {
    if (canonicalize(serverName)) r.fail(f.get('serverName'), f.at('serverName'), 'SNI carries a DNS name, not an IP address (leave it out to send none)');
    else tls.serverName = serverName.replace(/\.$/, '');
  }
  const caFile = readString(r, f, 'caFile', { pattern: /^[^\0]{1,4096}$/, patternHint: 'a file path' });
  if (caFile !== undefined) {
    if (!tls.verify) r.fail(f.get('caFile'), f.at('caFile'), 'a CA file is only used with verify: true');
    // Relative to the configuration file, as an operator reads it next to lb.yaml.
    tls.caFile = isAbsolute(caFile) ? caFile : resolve(dirname(r.file), caFile);
  }
  return tls;
}

function readDns(r: Reader, f: Fields): DnsCheck {
  const query = readString(r, f, 'query', { required: true, pattern: DNS_NAME, patternHint: 'a DNS name such as health.example.org' }) ?? '.';
  const queryType = readChoice(r, f, 'queryType', DNS_QUERY_TYPES, { what: 'DNS record type' }) ?? 'A';
  const transport = readChoice(r, f, 'transport', ['udp', 'tcp'] as const, { what: 'DNS transport' }) ?? 'udp';
  const expectRcode = readChoice(r, f, 'expectRcode', RCODES, { what: 'DNS response code' }) ?? 'NOERROR';
  const dns: DnsCheck = { query: query.replace(/\.$/, ''), queryType, transport, expectRcode };
  const answer = readString(r, f, 'expectAnswer');
  if (answer !== undefined) {
    if (queryType === 'A' || queryType === 'AAAA') {
      const ip = canonicalize(answer);
      if (ip === undefined || (ip.family === 'inet') !== (queryType === 'A')) {
        r.fail(f.get('expectAnswer'), f.at('expectAnswer'), `${quote(answer)} is not an ${queryType === 'A' ? 'IPv4' : 'IPv6'} address (the answer to an ${queryType} query)`);
      } else dns.expectAnswer = ip.address;
    } else dns.expectAnswer = answer;
  }
  return dns;
}

function readUdp(r: Reader, f: Fields): UdpCheck {
  const send = readString(r, f, 'send', { required: true }) ?? '';
  if (Buffer.byteLength(send) > MAX_UDP_PAYLOAD) r.fail(f.get('send'), f.at('send'), `at most ${MAX_UDP_PAYLOAD} bytes (one unfragmented datagram)`);
  const expect = readChoice(r, f, 'expect', UDP_EXPECT, { what: 'UDP expectation' }) ?? 'reply';
  const udp: UdpCheck = { send, expect };
  const reply = readString(r, f, 'expectReply');
  if (reply !== undefined) {
    if (expect !== 'reply') r.fail(f.keyNode('expectReply'), f.at('expectReply'), 'expectReply needs expect: reply');
    udp.expectReply = reply;
  }
  return udp;
}

function readExec(r: Reader, f: Fields): ExecCheck | undefined {
  const node = f.get('command');
  if (node === undefined) return r.fail(f.node, f.path, 'missing required field "command" (a list: the program, then its arguments)');
  if (!isSeq(node) || node.items.length === 0) {
    return r.fail(node, f.at('command'), `must be a non-empty list (the program, then its arguments; no shell is involved), got ${describe(node)}`);
  }
  if (node.items.length > MAX_ARGS) return r.fail(node, f.at('command'), `at most ${MAX_ARGS} items, got ${node.items.length}`);
  const command: string[] = [];
  node.items.forEach((item, i) => {
    const v = isScalar(item) ? item.value : undefined;
    const text = typeof v === 'number' ? String(v) : v;
    if (typeof text !== 'string' || text === '' || text.length > MAX_ARG_LENGTH || text.includes('\0')) {
      r.fail(item, `${f.at('command')}[${i}]`, `must be a non-empty string without NUL (up to ${MAX_ARG_LENGTH} characters), got ${describe(item)}`);
    } else command.push(text);
  });
  return command.length === node.items.length ? { command } : undefined;
}
