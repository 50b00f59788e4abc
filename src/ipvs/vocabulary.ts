import { FwdMethod, SvcFlag, TunType } from './schema.ts';
import type { ForwardingMethod, ServiceFlags, TunnelType } from './types.ts';

// The kernel's IPVS vocabulary, one table each: schedulers, forwarding methods, service flags (encoded
// and decoded from the same list, named as ipvsadm names them), weight limits and the VIP interface.
// Every layer that names one of these (the codec, the model's validation, the file and Kubernetes
// sources, the ipvsadm-compatible commands) reads it from here.

/** The schedulers of Linux's net/netfilter/ipvs (ip_vs_<name>.ko). */
export const SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh', 'twos'] as const;
export type SchedulerName = (typeof SCHEDULERS)[number];

export function isScheduler(name: unknown): name is SchedulerName {
  return typeof name === 'string' && (SCHEDULERS as readonly string[]).includes(name);
}

/** Our default (the file and Kubernetes sources): Maglev, so every node picks the same backend. */
export const DEFAULT_SCHEDULER: SchedulerName = 'mh';
/**
 * What an `mh` service gets unless told otherwise (the file and Kubernetes sources): per-connection hashing
 * (mh-port, so one client's connections spread) and fall-over from drained backends (mh-fallback: a flow
 * whose destination has weight 0 is re-hashed, which is what draining needs).
 */
export const DEFAULT_MH_FLAGS: Readonly<ServiceFlags> = { portHash: true, fallback: true };
/** ipvsadm's default when -s is left out (its restore format relies on it). */
export const IPVSADM_DEFAULT_SCHEDULER: SchedulerName = 'wlc';

/** Forwarding methods, indexed by the kernel's IP_VS_CONN_F_* value. */
export const FORWARDING_METHODS: readonly ForwardingMethod[] = byValue(FwdMethod);
export const TUNNEL_TYPES: readonly TunnelType[] = byValue(TunType);

function byValue<K extends string>(table: Readonly<Record<K, number>>): K[] {
  const out: K[] = [];
  for (const name of Object.keys(table) as K[]) out[table[name]] = name;
  return out;
}

type FlagField = keyof ServiceFlags;

/** Each service flag's kernel bit, in bit order: flagBits and flagsFromBits both walk this list. */
const FLAG_BITS: readonly { readonly field: FlagField; readonly bit: number }[] = [
  { field: 'persistent', bit: SvcFlag.PERSISTENT },
  { field: 'onePacket', bit: SvcFlag.ONEPACKET },
  { field: 'fallback', bit: SvcFlag.SCHED1 },
  { field: 'portHash', bit: SvcFlag.SCHED2 },
  { field: 'sched3', bit: SvcFlag.SCHED3 },
];

export function flagBits(flags: ServiceFlags): number {
  let bits = 0;
  for (const f of FLAG_BITS) if (flags[f.field]) bits |= f.bit;
  return bits;
}

export function flagsFromBits(bits: number): ServiceFlags {
  const flags: ServiceFlags = {};
  for (const f of FLAG_BITS) if (bits & f.bit) flags[f.field] = true;
  return flags;
}

/**
 * The scheduler flags' names, as ipvsadm -b spells them: the sh and mh schedulers give SCHED1 and SCHED2
 * a meaning (and a name of their own), every other scheduler sees flag-1..flag-3. lb.yaml uses the
 * named ones plus `one-packet`.
 */
export const SCHEDULER_FLAG_NAMES: readonly { readonly name: string; readonly field: FlagField; readonly scheduler?: SchedulerName }[] = [
  { name: 'mh-port', field: 'portHash', scheduler: 'mh' },
  { name: 'mh-fallback', field: 'fallback', scheduler: 'mh' },
  { name: 'sh-port', field: 'portHash', scheduler: 'sh' },
  { name: 'sh-fallback', field: 'fallback', scheduler: 'sh' },
  { name: 'flag-1', field: 'fallback' },
  { name: 'flag-2', field: 'portHash' },
  { name: 'flag-3', field: 'sched3' },
];

/** The -b names of a service's scheduler flags, SCHED1 first (ipvsadm's order). */
export function schedulerFlagNames(scheduler: string, flags: ServiceFlags): string[] {
  const named = scheduler === 'sh' || scheduler === 'mh';
  const out: string[] = [];
  for (const field of ['fallback', 'portHash', 'sched3'] as const) {
    if (!flags[field]) continue;
    const entry = SCHEDULER_FLAG_NAMES.find((n) => n.field === field && (named ? n.scheduler === scheduler : n.scheduler === undefined));
    if (entry) out.push(entry.name);
  }
  return out;
}

/**
 * Weights. The kernel takes any int >= 0 (ip_vs_ctl refuses only a negative one; the attribute is a u32
 * read as int), so what the model accepts and the client encodes is 0..KERNEL_MAX_WEIGHT. What a person
 * writes (lb.yaml, like ipvsadm -w) is held to ipvsadm's 0..65535, so that whatever a file programs can be
 * saved and restored with ipvsadm, and relative weights stay in the range every tool agrees on.
 */
export const KERNEL_MAX_WEIGHT = 0x7fffffff;
export const IPVSADM_MAX_WEIGHT = 65535;

/** The dummy interface that holds the VIPs in standalone mode (kube-proxy's is kube-ipvs0). */
export const DEFAULT_INTERFACE = 'ipvs0';
export const KUBE_PROXY_INTERFACE = 'kube-ipvs0';
