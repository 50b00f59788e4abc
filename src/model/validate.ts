import { canonicalAddress, mappedIpv4, netmaskToPrefix, parseAddress } from '../address/address.ts';
import { destinationKeyString, serviceKeyId, serviceKeyString } from '../ipvs/keys.ts';
import type { Protocol } from '../ipvs/types.ts';
import { FORWARDING_METHODS, KERNEL_MAX_WEIGHT, SCHEDULERS, TUNNEL_TYPES } from '../ipvs/vocabulary.ts';
import type { DesiredState } from './types.ts';

// Validation of a desired state against what the kernel accepts, so bad input is refused with every problem
// listed (and a path to it) before anything reaches the kernel, instead of failing half-way through an apply.

export interface ValidationProblem {
  /** Where: `services[web].destinations[2].weight`. */
  path: string;
  message: string;
}

export class ValidationError extends Error {
  readonly code = 'INVALID_DESIRED_STATE';
  readonly problems: readonly ValidationProblem[];
  constructor(problems: readonly ValidationProblem[]) {
    const shown = problems.slice(0, 20).map((p) => `  ${p.path}: ${p.message}`);
    if (problems.length > 20) shown.push(`  ... and ${problems.length - 20} more`);
    super(`invalid desired state (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${shown.join('\n')}`);
    this.name = 'ValidationError';
    this.problems = problems;
  }
}

/** Schedulers in the Linux tree (the one list: ipvs/vocabulary.ts). */
export const KNOWN_SCHEDULERS: readonly string[] = SCHEDULERS;
const FORWARDING = new Set<string>(FORWARDING_METHODS);
const TUNNELS = new Set<string>(TUNNEL_TYPES);
const PROTOCOLS = new Set(['tcp', 'udp', 'sctp']);
const U32_MAX = 0xffffffff;
/** What the kernel accepts (ipvs/vocabulary.ts says why this differs from a file's limit). */
export const MAX_WEIGHT = KERNEL_MAX_WEIGHT;
/** IP_VS_SCHEDNAME_MAXLEN / IP_VS_PENAME_MAXLEN include the terminating NUL. */
const NAME_MAX = 15;

const isInt = (v: unknown, min: number, max: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface ValidateOptions {
  /**
   * Services already found valid (by object identity): only checked for duplicates. Lets the reconciler
   * re-validate a 10,000-service state in O(changed services) when sources reuse unchanged objects.
   */
  trusted?: WeakSet<object>;
}

/** Every problem of `state` (an empty list when valid). Takes `unknown` so it can vet what a source built. */
export function validateDesiredState(state: DesiredState | unknown, options: ValidateOptions = {}): ValidationProblem[] {
  const trusted = options.trusted;
  const problems: ValidationProblem[] = [];
  const add = (path: string, message: string): void => {
    problems.push({ path, message });
  };
  if (!isObject(state) || !Array.isArray(state.services)) {
    add('services', 'must be a list of services');
    return problems;
  }
  const seen = new Map<string, string>();
  state.services.forEach((raw: unknown, i: number) => {
    if (trusted !== undefined && isObject(raw) && trusted.has(raw)) {
      const id = serviceKeyId((raw as unknown as DesiredState['services'][number]).key);
      const first = seen.get(id);
      if (first !== undefined) add(`services[${String(raw.name)}].key`, `duplicate service ${id} (also ${first})`);
      else seen.set(id, `services[${String(raw.name)}]`);
      return;
    }
    const name = isObject(raw) && typeof raw.name === 'string' && raw.name !== '' ? raw.name : undefined;
    const at = `services[${name ?? i}]`;
    if (!isObject(raw)) {
      add(at, 'must be an object');
      return;
    }
    if (name === undefined) add(`${at}.name`, 'must be a non-empty string');
    const persistent = isObject(raw.config) && isObject(raw.config.flags) && raw.config.flags.persistent === true;
    const svc = validateServiceKey(raw.key, `${at}.key`, persistent, add);
    if (svc) {
      const id = svc.id;
      const first = seen.get(id);
      if (first !== undefined) add(`${at}.key`, `duplicate service ${id} (also ${first})`);
      else seen.set(id, at);
    }
    validateServiceConfig(raw.config, `${at}.config`, svc?.family, add);
    if (typeof raw.bindAddress !== 'boolean') add(`${at}.bindAddress`, 'must be true or false');
    else if (raw.bindAddress && svc?.kind === 'fwmark') add(`${at}.bindAddress`, 'a fwmark service has no address to bind');
    if (!Array.isArray(raw.destinations)) {
      add(`${at}.destinations`, 'must be a list');
      return;
    }
    const dests = new Map<string, number>();
    raw.destinations.forEach((d: unknown, j: number) => {
      const dat = `${at}.destinations[${j}]`;
      if (!isObject(d)) {
        add(dat, 'must be an object');
        return;
      }
      const portZeroOk = svc !== undefined && (svc.kind === 'fwmark' || svc.port === 0);
      const key = validateDestinationKey(d.key, `${dat}.key`, portZeroOk, add);
      const forwarding = isObject(d.config) ? d.config.forwarding : undefined;
      if (key && svc && key.family !== svc.family && forwarding !== 'tunnel') {
        add(`${dat}.key.family`, `${key.family} destination in an ${svc.family} service: only tunnel forwarding may mix families`);
      }
      if (key) {
        const id = destinationKeyString(key);
        const first = dests.get(id);
        if (first !== undefined) add(`${dat}.key`, `duplicate destination ${id} (also destinations[${first}])`);
        else dests.set(id, j);
      }
      validateDestinationConfig(d.config, `${dat}.config`, add);
    });
  });
  return problems;
}

/** Throws ValidationError listing every problem. */
export function assertValidDesiredState(state: unknown): asserts state is DesiredState {
  const problems = validateDesiredState(state);
  if (problems.length > 0) throw new ValidationError(problems);
}

type Add = (path: string, message: string) => void;
type CheckedServiceKey = { kind: 'addr' | 'fwmark'; family: 'inet' | 'inet6'; port: number; id: string };

function checkAddress(value: unknown, path: string, family: unknown, add: Add): boolean {
  if (typeof value !== 'string') {
    add(path, 'must be an IP address string');
    return false;
  }
  let canonical: string;
  let actual: string;
  try {
    canonical = canonicalAddress(value);
    actual = parseAddress(value).family;
  } catch {
    add(path, `not an IP address: ${JSON.stringify(value)}`);
    return false;
  }
  if (canonical !== value) add(path, `not in canonical form: write ${canonical}`);
  if ((family === 'inet' || family === 'inet6') && actual !== family) {
    add(path, `${value} is ${actual === 'inet' ? 'IPv4' : 'IPv6'} but the family is ${family}`);
  }
  return true;
}

function validateServiceKey(key: unknown, at: string, persistent: boolean, add: Add): CheckedServiceKey | undefined {
  if (!isObject(key)) {
    add(at, 'must be an object');
    return undefined;
  }
  const family = key.family;
  let ok = true;
  if (family !== 'inet' && family !== 'inet6') {
    add(`${at}.family`, 'must be inet or inet6');
    ok = false;
  }
  if (key.kind === 'fwmark') {
    if (!isInt(key.fwmark, 1, U32_MAX)) {
      add(`${at}.fwmark`, 'must be an integer 1..4294967295');
      ok = false;
    }
    if (!ok) return undefined;
    const f = family as 'inet' | 'inet6';
    return { kind: 'fwmark', family: f, port: 0, id: serviceKeyString({ kind: 'fwmark', family: f, fwmark: key.fwmark as number }) };
  }
  if (key.kind !== 'addr') {
    add(`${at}.kind`, 'must be addr or fwmark');
    return undefined;
  }
  if (typeof key.protocol !== 'string' || !PROTOCOLS.has(key.protocol)) {
    add(`${at}.protocol`, 'must be tcp, udp or sctp');
    ok = false;
  }
  if (!checkAddress(key.address, `${at}.address`, family, add)) ok = false;
  if (!isInt(key.port, 0, 65535)) {
    add(`${at}.port`, 'must be an integer 1..65535');
    ok = false;
  } else if (key.port === 0 && !persistent) {
    // As ipvsadm: port 0 means "all ports", which only makes sense with persistence.
    add(`${at}.port`, 'port 0 (all ports) is only allowed for persistent services');
  }
  if (!ok) return undefined;
  const f = family as 'inet' | 'inet6';
  const id = serviceKeyString({ kind: 'addr', family: f, protocol: key.protocol as Protocol, address: key.address as string, port: key.port as number });
  return { kind: 'addr', family: f, port: key.port as number, id };
}

function validateServiceConfig(config: unknown, at: string, family: string | undefined, add: Add): void {
  if (!isObject(config)) {
    add(at, 'must be an object');
    return;
  }
  const scheduler = config.scheduler;
  if (typeof scheduler !== 'string' || !KNOWN_SCHEDULERS.includes(scheduler)) {
    add(`${at}.scheduler`, `unknown scheduler ${JSON.stringify(scheduler)}; one of ${KNOWN_SCHEDULERS.join(', ')}`);
  }
  const flags = config.flags;
  if (!isObject(flags)) {
    add(`${at}.flags`, 'must be an object');
  } else {
    for (const [k, v] of Object.entries(flags)) {
      if (!['persistent', 'onePacket', 'fallback', 'portHash', 'sched3'].includes(k)) add(`${at}.flags.${k}`, 'unknown flag');
      else if (v !== undefined && typeof v !== 'boolean') add(`${at}.flags.${k}`, 'must be true or false');
    }
    if ((flags.fallback === true || flags.portHash === true) && scheduler !== 'mh' && scheduler !== 'sh') {
      add(`${at}.flags`, 'fallback and portHash only mean something to the mh and sh schedulers');
    }
  }
  if (!isInt(config.timeout, 0, U32_MAX)) add(`${at}.timeout`, 'must be an integer number of seconds 0..4294967295');
  else if (isObject(flags) && flags.persistent === true && config.timeout === 0) add(`${at}.timeout`, 'a persistent service needs a timeout of at least 1 second');
  const netmask = config.netmask;
  if (typeof netmask !== 'string') {
    add(`${at}.netmask`, 'must be a string');
  } else if (family === 'inet6') {
    if (!/^(12[0-8]|1[01]\d|[1-9]\d|[1-9])$/.test(netmask)) add(`${at}.netmask`, 'IPv6 netmask is a prefix length 1..128');
  } else if (family === 'inet') {
    try {
      if (canonicalAddress(netmask) !== netmask) throw new Error('not canonical');
      netmaskToPrefix(netmask);
    } catch {
      add(`${at}.netmask`, `IPv4 netmask must be a contiguous dotted quad like 255.255.255.255, not ${JSON.stringify(netmask)}`);
    }
  }
  const pe = config.persistenceEngine;
  if (pe !== undefined && (typeof pe !== 'string' || pe.length > NAME_MAX || !/^[a-z0-9_]*$/.test(pe))) {
    add(`${at}.persistenceEngine`, `must be a module name of at most ${NAME_MAX} characters (e.g. sip)`);
  }
}

function validateDestinationKey(key: unknown, at: string, portZeroOk: boolean, add: Add): { family: 'inet' | 'inet6'; address: string; port: number } | undefined {
  if (!isObject(key)) {
    add(at, 'must be an object');
    return undefined;
  }
  let ok = true;
  if (key.family !== 'inet' && key.family !== 'inet6') {
    add(`${at}.family`, 'must be inet or inet6');
    ok = false;
  }
  if (!checkAddress(key.address, `${at}.address`, key.family, add)) ok = false;
  else {
    const ipv4 = mappedIpv4(key.address as string);
    if (ipv4 !== undefined) {
      add(
        `${at}.address`,
        `${key.address} is an IPv4-mapped IPv6 address, which the kernel refuses as a destination (not a unicast IPv6 address); ` +
          `an IPv6 service reaches IPv4 backend ${ipv4} only with tunnel forwarding: write address ${ipv4} and forwarding tunnel`,
      );
      ok = false;
    }
  }
  if (!isInt(key.port, portZeroOk ? 0 : 1, 65535)) {
    add(`${at}.port`, portZeroOk ? 'must be an integer 0..65535' : 'must be an integer 1..65535');
    ok = false;
  }
  return ok ? { family: key.family as 'inet' | 'inet6', address: key.address as string, port: key.port as number } : undefined;
}

function validateDestinationConfig(config: unknown, at: string, add: Add): void {
  if (!isObject(config)) {
    add(at, 'must be an object');
    return;
  }
  if (typeof config.forwarding !== 'string' || !FORWARDING.has(config.forwarding)) add(`${at}.forwarding`, `must be ${FORWARDING_METHODS.slice(0, -1).join(', ')} or ${FORWARDING_METHODS.at(-1)}`);
  if (!isInt(config.weight, 0, MAX_WEIGHT)) add(`${at}.weight`, `must be an integer 0..${MAX_WEIGHT}`);
  const upperOk = isInt(config.upperThreshold, 0, U32_MAX);
  const lowerOk = isInt(config.lowerThreshold, 0, U32_MAX);
  if (!upperOk) add(`${at}.upperThreshold`, 'must be an integer 0..4294967295 (0 = no limit)');
  if (!lowerOk) add(`${at}.lowerThreshold`, 'must be an integer 0..4294967295');
  if (upperOk && lowerOk && (config.lowerThreshold as number) > (config.upperThreshold as number)) {
    add(`${at}.lowerThreshold`, `lower threshold ${config.lowerThreshold} is above the upper threshold ${config.upperThreshold} (the kernel refuses it)`);
  }
  const tunnel = config.forwarding === 'tunnel';
  const { tunnelType, tunnelPort, tunnelFlags } = config;
  if (!tunnel) {
    if (tunnelType !== undefined || (tunnelPort !== undefined && tunnelPort !== 0) || (tunnelFlags !== undefined && tunnelFlags !== 0)) {
      add(`${at}.tunnelType`, 'tunnel settings only apply to tunnel forwarding');
    }
    return;
  }
  if (tunnelType !== undefined && (typeof tunnelType !== 'string' || !TUNNELS.has(tunnelType))) add(`${at}.tunnelType`, `must be ${TUNNEL_TYPES.slice(0, -1).join(', ')} or ${TUNNEL_TYPES.at(-1)}`);
  if (tunnelPort !== undefined && !isInt(tunnelPort, 0, 65535)) add(`${at}.tunnelPort`, 'must be an integer 0..65535');
  if (tunnelType === 'gue' && !isInt(tunnelPort, 1, 65535)) add(`${at}.tunnelPort`, 'a GUE tunnel needs a UDP port 1..65535');
  if (tunnelFlags !== undefined && !isInt(tunnelFlags, 0, 0xffff)) add(`${at}.tunnelFlags`, 'must be an integer 0..65535');
  if (tunnelType !== 'gue' && tunnelType !== 'gre' && tunnelFlags !== undefined && tunnelFlags !== 0) add(`${at}.tunnelFlags`, 'checksum flags only apply to gue and gre tunnels');
}
