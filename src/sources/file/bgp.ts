import type { AnnounceConfig, BgpPeer, BirdPaths } from '../../announce/types.ts';
import type { SyncDaemonConfig } from '../../ipvs/daemon.ts';
import type { Reader } from './reader.ts';
import { childPath, readBool, readChoice, readDuration, readFields, readInt, readList, readString } from './reader.ts';
import { canonicalize } from '../../address/address.ts';

// The scale-out sections of lb.yaml: `bgp` (VIP announcement through BIRD) and `connectionSync`
// (the kernel's IPVS sync daemon, for NAT nodes). Documented in examples/README.md and the README.

const BGP_FIELDS = ['speaker', 'localAsn', 'routerId', 'peers', 'gracePeriod', 'takeOverFlows', 'bird'];
const PEER_FIELDS = ['name', 'address', 'asn', 'holdTime', 'keepalive', 'bfd', 'password'];
const BIRD_FIELDS = ['config', 'routes', 'socket', 'bird', 'birdc'];
const SYNC_FIELDS = ['role', 'interface', 'syncId', 'maxLength', 'group', 'port', 'ttl'];

export const BIRD_DEFAULTS: BirdPaths = {
  config: '/run/ipvs-maglev/bird.conf',
  routes: '/run/ipvs-maglev/bird-routes.conf',
  socket: '/run/bird/bird.ctl',
  bird: 'bird',
  birdc: 'birdc',
};
export const DEFAULT_GRACE_MS = 5000;
/** BGP's own default (RFC 4271 suggests 90 s). */
const DEFAULT_HOLD_S = 90;
const MAX_ASN = 0xffff_ffff;
/** A BIRD symbol; reserved words are caught by `bird -p` at start. */
const PEER_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,31}$/;
/** Paths and commands go into BIRD's quoted strings and argv: no quote, backslash, newline. */
const SAFE_PATH = /^\/[^"\\\n\r\0]*$/;
const SAFE_COMMAND = /^[^"\\\n\r\0\s]+$/;

export function readBgp(r: Reader, node: unknown, path: string): AnnounceConfig | undefined {
  const before = r.issues.length;
  const f = readFields(r, node, path, BGP_FIELDS, '"bgp"');
  if (!f) return undefined;
  const speaker = readChoice(r, f, 'speaker', ['bird'] as const, { what: 'BGP speaker' }) ?? 'bird';
  const localAsn = readInt(r, f, 'localAsn', 1, MAX_ASN);
  const routerIdText = readString(r, f, 'routerId');
  let routerId: string | undefined;
  if (routerIdText !== undefined) {
    const a = canonicalize(routerIdText);
    if (a?.family !== 'inet') r.fail(f.get('routerId'), f.at('routerId'), `"${routerIdText}" is not an IPv4 address (a BGP router id is written as one)`);
    else routerId = a.address;
  }
  const gracePeriodMs = readDuration(r, f, 'gracePeriod', 0, 3_600_000) ?? DEFAULT_GRACE_MS;
  const takeOverFlows = readBool(r, f, 'takeOverFlows') ?? true;
  const bird = readBirdPaths(r, f.get('bird'), f.at('bird'), f.has('bird'));
  const peers: BgpPeer[] = [];
  const peersNode = f.get('peers');
  if (peersNode !== undefined) {
    const seq = readList(r, peersNode, f.at('peers'), '"peers"');
    const names = new Set<string>();
    const addresses = new Set<string>();
    seq?.items.forEach((item, i) => {
      const p = readPeer(r, item, `${f.at('peers')}[${i}]`, i);
      if (!p) return;
      if (names.has(p.name)) r.fail(item, `${f.at('peers')}[${i}].name`, `duplicate peer name "${p.name}"`);
      if (addresses.has(p.address)) r.fail(item, `${f.at('peers')}[${i}].address`, `duplicate peer address ${p.address}`);
      names.add(p.name);
      addresses.add(p.address);
      peers.push(p);
    });
    if (seq && seq.items.length === 0) r.fail(peersNode, f.at('peers'), 'needs at least one peer (or leave "peers" out and include our routes into your own BIRD configuration via bird.config)');
  }
  const managed = f.has('peers');
  if (managed) {
    if (!f.has('localAsn')) r.fail(f.node, path, 'missing required field "localAsn" (this node\'s AS number; needed with "peers")');
    if (!f.has('routerId')) r.fail(f.node, path, 'missing required field "routerId" (an IPv4 address naming this node; needed with "peers")');
  } else {
    for (const k of ['localAsn', 'routerId']) {
      if (f.has(k)) r.fail(f.keyNode(k), f.at(k), `"${k}" is used only with "peers"; without peers, BIRD's own configuration (bird.config) sets it`);
    }
    if (!bird?.explicitConfig) r.fail(f.node, path, 'either "peers" (ipvs-maglev writes the BIRD configuration) or "bird.config" (your BIRD configuration, which includes bird.routes)');
  }
  if (r.issues.length > before || !bird) return undefined;
  const cfg: AnnounceConfig = { speaker, mode: managed ? 'managed' : 'include', peers, bird: bird.paths, gracePeriodMs, takeOverFlows };
  if (localAsn !== undefined) cfg.localAsn = localAsn;
  if (routerId !== undefined) cfg.routerId = routerId;
  return cfg;
}

function readBirdPaths(r: Reader, node: unknown, path: string, present: boolean): { paths: BirdPaths; explicitConfig: boolean } | undefined {
  if (!present) return { paths: { ...BIRD_DEFAULTS }, explicitConfig: false };
  const f = readFields(r, node, path, BIRD_FIELDS, '"bgp.bird"');
  if (!f) return undefined;
  const pathHint = 'an absolute path without quotes, backslashes or line breaks';
  const p = (k: 'config' | 'routes' | 'socket') => readString(r, f, k, { pattern: SAFE_PATH, patternHint: pathHint }) ?? BIRD_DEFAULTS[k];
  const c = (k: 'bird' | 'birdc') => readString(r, f, k, { pattern: SAFE_COMMAND, patternHint: 'a command name or path without spaces or quotes' }) ?? BIRD_DEFAULTS[k];
  const paths: BirdPaths = { config: p('config'), routes: p('routes'), socket: p('socket'), bird: c('bird'), birdc: c('birdc') };
  if (paths.config === paths.routes) r.fail(f.get('routes') ?? f.node, childPath(path, 'routes'), 'the routes file must not be the BIRD configuration itself');
  return { paths, explicitConfig: f.has('config') };
}

function readPeer(r: Reader, node: unknown, path: string, index: number): BgpPeer | undefined {
  const before = r.issues.length;
  const f = readFields(r, node, path, PEER_FIELDS, 'a BGP peer');
  if (!f) return undefined;
  const name = readString(r, f, 'name', { pattern: PEER_NAME, patternHint: 'letters, digits and _ (up to 32), starting with a letter or _' }) ?? `peer${index + 1}`;
  const text = readString(r, f, 'address', { required: true });
  const address = text === undefined ? undefined : canonicalize(text);
  if (text !== undefined && !address) r.fail(f.get('address'), f.at('address'), `"${text}" is not an IPv4 or IPv6 address`);
  const asn = readInt(r, f, 'asn', 1, MAX_ASN, { required: true });
  // BGP: a hold time is 0 (no keepalives) or at least 3 s; BIRD takes up to 65535.
  const holdMs = readDuration(r, f, 'holdTime', 3000, 65_535_000);
  const holdTimeS = holdMs === undefined ? DEFAULT_HOLD_S : Math.round(holdMs / 1000);
  if (holdMs !== undefined && holdMs % 1000 !== 0) r.fail(f.get('holdTime'), f.at('holdTime'), 'BGP timers are whole seconds');
  const keepMs = readDuration(r, f, 'keepalive', 1000, 65_535_000);
  if (keepMs !== undefined && keepMs % 1000 !== 0) r.fail(f.get('keepalive'), f.at('keepalive'), 'BGP timers are whole seconds');
  if (keepMs !== undefined && keepMs >= holdTimeS * 1000) r.fail(f.get('keepalive'), f.at('keepalive'), `keepalive (${keepMs / 1000} s) must be shorter than holdTime (${holdTimeS} s)`);
  const bfd = readBool(r, f, 'bfd') ?? false;
  const password = readString(r, f, 'password', { pattern: /^[^"\\\n\r\0]{1,80}$/, patternHint: 'up to 80 characters, without quotes, backslashes or line breaks' });
  if (r.issues.length > before || !address || asn === undefined) return undefined;
  const peer: BgpPeer = { name, address: address.address, asn, holdTimeS, bfd };
  if (keepMs !== undefined) peer.keepaliveS = keepMs / 1000;
  if (password !== undefined) peer.password = password;
  return peer;
}

export function readConnectionSync(r: Reader, node: unknown, path: string): SyncDaemonConfig[] | undefined {
  const before = r.issues.length;
  const f = readFields(r, node, path, SYNC_FIELDS, '"connectionSync"');
  if (!f) return undefined;
  const role = readChoice(r, f, 'role', ['master', 'backup', 'both'] as const, { required: true, what: 'sync role' });
  const iface = readString(r, f, 'interface', { required: true, pattern: /^[A-Za-z0-9_.:@-]{1,15}$/, patternHint: 'an interface name of up to 15 characters' });
  const syncId = readInt(r, f, 'syncId', 0, 255) ?? 0;
  const maxLength = readInt(r, f, 'maxLength', 64, 65_507);
  const port = readInt(r, f, 'port', 1, 65_535);
  const ttl = readInt(r, f, 'ttl', 1, 255);
  const groupText = readString(r, f, 'group');
  let group: string | undefined;
  if (groupText !== undefined) {
    const a = canonicalize(groupText);
    const multicast = a && (a.family === 'inet' ? /^2(2[4-9]|3\d)\./.test(a.address) : a.address.toLowerCase().startsWith('ff'));
    if (!a || !multicast) r.fail(f.get('group'), f.at('group'), `"${groupText}" is not a multicast address (224.0.0.0/4 or ff00::/8)`);
    else group = a.address;
  }
  if (r.issues.length > before || role === undefined || iface === undefined) return undefined;
  const base: Omit<SyncDaemonConfig, 'role'> = { interface: iface, syncId };
  if (maxLength !== undefined) base.maxLength = maxLength;
  if (port !== undefined) base.port = port;
  if (ttl !== undefined) base.ttl = ttl;
  if (group !== undefined) base.group = group;
  const roles = role === 'both' ? (['master', 'backup'] as const) : [role];
  return roles.map((role) => ({ role, ...base }));
}
