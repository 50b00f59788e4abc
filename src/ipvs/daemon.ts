import { Encoder } from '../netlink/attribute.ts';
import type { Conn } from '../netlink/conn.ts';
import { NLM_F_DUMP } from '../netlink/constants.ts';
import { beginGenl, genlPayload, resolveFamily } from '../netlink/genetlink.ts';
import type { Message } from '../netlink/message.ts';
import { decodeAttributes, defineAttributeSet, encodeAttributes, type Values } from '../netlink/schema.ts';
import { addressBytes, AddressError, formatAddress } from '../address/address.ts';
import { IpvsDecodeError } from './codec.ts';
import { toIpvsError } from './error-map.ts';
import { InvalidArgument, KernelError } from './errors.ts';
import { IPVS_GENL_NAME, IPVS_GENL_VERSION, IpvsCmd, type IpvsCmdName } from './schema.ts';

// The kernel's IPVS connection synchronisation daemon (IPVS_CMD_NEW/DEL/GET_DAEMON), what
// `ipvsadm --start-daemon master|backup --mcast-interface IF --syncid N` drives. A master multicasts
// its connection table (protocol v1, group 224.0.0.81, UDP 8848 by default); a backup installs what it
// hears, so a NAT node that takes over a flow already knows its backend and its NAT state.
// Both roles can run at once in one namespace. Kept apart from client.ts: a different attribute set,
// and nothing on the service/destination path needs it.

export type SyncRole = 'master' | 'backup';
const STATE: Record<SyncRole, number> = { master: 1, backup: 2 };

export interface SyncDaemonConfig {
  role: SyncRole;
  /** Multicast interface (<= 15 characters). */
  interface: string;
  /** Sync ID 0-255: a backup only accepts messages of its own ID. */
  syncId: number;
  /** UDP payload size for sync messages (kernel default: from the interface MTU). */
  maxLength?: number;
  /** Multicast group (kernel default 224.0.0.81; IPv6 groups need an IPv6 interface). */
  group?: string;
  /** Base UDP port (kernel default 8848). */
  port?: number;
  /** Multicast TTL (kernel default 1). */
  ttl?: number;
}

/** What the kernel reports for a running daemon. */
export interface SyncDaemon extends SyncDaemonConfig {}

const IP_VS_IFNAME_MAXLEN = 16;

/** IPVS_DAEMON_ATTR_* (include/uapi/linux/ip_vs.h). Byte order as the kernel reads them. */
export const daemonAttrs = defineAttributeSet('ipvs daemon', {
  state: { type: 1, kind: 'u32' },
  mcastIfn: { type: 2, kind: 'string' },
  syncId: { type: 3, kind: 'u32' },
  syncMaxLen: { type: 4, kind: 'u16' },
  /** __be32 (nla_get_in_addr). */
  mcastGroup: { type: 5, kind: 'bytes' },
  mcastGroup6: { type: 6, kind: 'bytes' },
  mcastPort: { type: 7, kind: 'u16' },
  mcastTtl: { type: 8, kind: 'u8' },
});

/** The top-level attribute of daemon commands: IPVS_CMD_ATTR_DAEMON. */
const daemonCommandAttrs = defineAttributeSet('ipvs daemon command', {
  daemon: { type: 3, kind: 'nested', set: daemonAttrs },
});

function checkInt(what: string, v: number, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) throw new InvalidArgument(`${what} must be an integer in ${min}..${max}, got ${v}`);
  return v;
}

export function daemonValues(cfg: SyncDaemonConfig): Values<typeof daemonAttrs.fields> {
  const state = STATE[cfg.role];
  if (state === undefined) throw new InvalidArgument(`unknown sync daemon role ${JSON.stringify(cfg.role)} (master or backup)`);
  if (typeof cfg.interface !== 'string' || cfg.interface.length === 0 || cfg.interface.length >= IP_VS_IFNAME_MAXLEN || cfg.interface.includes('\0')) {
    throw new InvalidArgument(`sync daemon interface must be 1..${IP_VS_IFNAME_MAXLEN - 1} characters, got ${JSON.stringify(cfg.interface)}`);
  }
  const v: Values<typeof daemonAttrs.fields> = { state, mcastIfn: cfg.interface, syncId: checkInt('sync id', cfg.syncId, 0, 255) };
  if (cfg.maxLength !== undefined) v.syncMaxLen = checkInt('sync max length', cfg.maxLength, 64, 65535 - 28);
  if (cfg.port !== undefined) v.mcastPort = checkInt('sync port', cfg.port, 1, 65535);
  if (cfg.ttl !== undefined) v.mcastTtl = checkInt('sync TTL', cfg.ttl, 1, 255);
  if (cfg.group !== undefined) {
    try {
      if (cfg.group.includes(':')) v.mcastGroup6 = addressBytes(cfg.group, 'inet6');
      else v.mcastGroup = addressBytes(cfg.group, 'inet').slice(0, 4); // the union's first 4 bytes: a __be32
    } catch (e) {
      throw new InvalidArgument(`sync group: ${e instanceof AddressError ? e.message : String(e)}`, 'EINVAL', { cause: e });
    }
  }
  return v;
}

export function encodeDaemonRequest(familyId: number, cmd: number, flags: number, daemon: Values<typeof daemonAttrs.fields> | undefined): Uint8Array {
  const e = new Encoder(128);
  const at = beginGenl(e, familyId, cmd, IPVS_GENL_VERSION, flags);
  encodeAttributes(daemonCommandAttrs, e, daemon ? { daemon } : {});
  e.endMessage(at);
  return e.copy();
}

export function decodeDaemon(msg: Message): SyncDaemon {
  const { cmd, attrs } = genlPayload(msg);
  if (cmd !== IpvsCmd.NEW_DAEMON) throw new IpvsDecodeError(`expected IPVS command ${IpvsCmd.NEW_DAEMON} in a daemon reply, got ${cmd}`);
  const d = decodeAttributes(daemonCommandAttrs, attrs).daemon;
  const err = attrs.err();
  if (err) throw new IpvsDecodeError(`malformed IPVS daemon reply: ${err.message}`);
  if (!d || d.state === undefined || d.mcastIfn === undefined || d.syncId === undefined) throw new IpvsDecodeError('daemon reply without state, interface or sync id');
  const role: SyncRole | undefined = d.state === STATE.master ? 'master' : d.state === STATE.backup ? 'backup' : undefined;
  if (!role) throw new IpvsDecodeError(`daemon reply with unknown state ${d.state}`);
  const out: SyncDaemon = { role, interface: d.mcastIfn, syncId: d.syncId };
  if (d.syncMaxLen !== undefined) out.maxLength = d.syncMaxLen;
  if (d.mcastPort !== undefined) out.port = d.mcastPort;
  if (d.mcastTtl !== undefined) out.ttl = d.mcastTtl;
  if (d.mcastGroup6 !== undefined && d.mcastGroup6.length === 16) out.group = formatAddress('inet6', d.mcastGroup6);
  else if (d.mcastGroup !== undefined && d.mcastGroup.length === 4) out.group = formatAddress('inet', d.mcastGroup);
  return out;
}

/** Sync daemons of one network namespace, on a netlink Conn of their own. */
export class SyncDaemons {
  private readonly conn: Conn;
  private readonly familyId: number;

  private constructor(conn: Conn, familyId: number) {
    this.conn = conn;
    this.familyId = familyId;
  }

  static async create(conn: Conn): Promise<SyncDaemons> {
    try {
      return new SyncDaemons(conn, (await resolveFamily(conn, IPVS_GENL_NAME)).id);
    } catch (e) {
      throw toIpvsError(e, 'GETFAMILY', IPVS_GENL_NAME);
    }
  }

  close(): void {
    this.conn.close();
  }

  private async call(cmd: IpvsCmdName, subject: string, build: () => Uint8Array): Promise<Message[]> {
    try {
      return await this.conn.execute(build(), { operation: `IPVS ${cmd} ${subject}` });
    } catch (e) {
      const err = toIpvsError(e, cmd, subject);
      // EEXIST/ESRCH mean "already running"/"not running" here, not service errors.
      if (err instanceof KernelError && err.errno === 'EEXIST') throw new KernelError(`${cmd} ${subject}: a ${subject} sync daemon is already running`, 'EEXIST', { cause: e });
      throw err;
    }
  }

  /** Running daemons (at most one master and one backup). */
  async list(): Promise<SyncDaemon[]> {
    const replies = await this.call('GET_DAEMON', '(dump)', () => encodeDaemonRequest(this.familyId, IpvsCmd.GET_DAEMON, NLM_F_DUMP, undefined));
    try {
      return replies.map(decodeDaemon);
    } catch (e) {
      throw toIpvsError(e, 'GET_DAEMON', '(dump)');
    }
  }

  async start(cfg: SyncDaemonConfig): Promise<void> {
    await this.call('NEW_DAEMON', cfg.role, () => encodeDaemonRequest(this.familyId, IpvsCmd.NEW_DAEMON, 0, daemonValues(cfg)));
  }

  async stop(role: SyncRole): Promise<void> {
    await this.call('DEL_DAEMON', role, () => encodeDaemonRequest(this.familyId, IpvsCmd.DEL_DAEMON, 0, { state: STATE[role] }));
  }

  /**
   * Makes the daemon of `cfg.role` run with exactly this configuration: left alone when it already
   * does (a restart of ipvs-maglev must not interrupt synchronisation), restarted when it differs.
   * Returns what was done.
   */
  async ensure(cfg: SyncDaemonConfig): Promise<'unchanged' | 'started' | 'restarted'> {
    const running = (await this.list()).find((d) => d.role === cfg.role);
    if (running && sameDaemon(running, cfg)) return 'unchanged';
    if (running) await this.stop(cfg.role);
    await this.start(cfg);
    return running ? 'restarted' : 'started';
  }
}

/** Equal where the configuration says something; unset fields take whatever the kernel chose. */
export function sameDaemon(running: SyncDaemon, want: SyncDaemonConfig): boolean {
  if (running.role !== want.role || running.interface !== want.interface || running.syncId !== want.syncId) return false;
  for (const k of ['maxLength', 'port', 'ttl', 'group'] as const) {
    if (want[k] !== undefined && running[k] !== want[k]) return false;
  }
  return true;
}
