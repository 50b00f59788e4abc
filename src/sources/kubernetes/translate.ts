import { quote } from '../../bounded-read.ts';
import type { DestinationConfig, Family, ServiceConfig, ServiceKey } from '../../ipvs/types.ts';
import { serviceKeyId } from '../../ipvs/keys.ts';
import type { DesiredDestination, DesiredService, DesiredState } from '../../model/types.ts';
import { type CanonicalAddress, addressOrderKey, canonicalize } from '../../address/address.ts';
import { schedulerFromAnnotations } from './annotations.ts';
import { categorizeEndpoints } from './endpoints.ts';
import {
  type EndpointSliceView,
  type EndpointView,
  type NodePortRange,
  type NodeView,
  type ServicePortView,
  type ServiceView,
  type TranslationWarning,
  parseEndpointSlice,
  parseNode,
  parseService,
} from './objects.ts';

// Services + EndpointSlices + this node -> the IPVS virtual servers kube-proxy's IPVS mode
// would program on this node (see README.md for where we differ). Pure: no I/O, no clock.
// The controller calls translateService per Service and caches the result (a single endpoint
// change retranslates one Service); `k8s translate` and tests call translate() on everything.

export interface NodeContext {
  nodeName: string;
  /** Addresses node ports are served on. */
  nodeIPs: CanonicalAddress[];
  /** topology.kubernetes.io/zone of this node ("" when unknown). */
  zone: string;
}

export interface TranslateOptions {
  nodeName: string;
  /** Node addresses for node ports; when absent, the InternalIP/ExternalIP addresses of our Node object. */
  nodeIPs?: readonly string[];
  /** The cluster's node port range (default 30000-32767); node ports outside it are refused. */
  nodePortRange?: NodePortRange;
}

export interface Translation {
  state: DesiredState;
  /** What each virtual server of `state.services` is (same index): masquerade rules need it. */
  vips: VipInfo[];
  warnings: TranslationWarning[];
}

export interface ServiceTranslation {
  /** "namespace/name" of the Service. */
  service: string;
  /** metadata.creationTimestamp in ms (Infinity when unknown): the older Service keeps a contested address. */
  created: number;
  services: DesiredService[];
  /** Same length and order as `services`. */
  vips: VipInfo[];
  warnings: TranslationWarning[];
}

export type VipKind = 'cluster IP' | 'external IP' | 'load balancer IP' | 'node port';

export interface VipInfo {
  kind: VipKind;
  /** Traffic policy Local applies (only local endpoints; the client address is kept, so no masquerade). */
  local: boolean;
  /** Load-balancer IPs only: the client CIDRs allowed in (loadBalancerSourceRanges); absent = everyone. */
  sourceRanges?: readonly string[];
}

const DESTINATION: DestinationConfig = { forwarding: 'masq', weight: 1, upperThreshold: 0, lowerThreshold: 0 };

/**
 * Virtual servers one Service may produce (ports x families x addresses multiply). Past it, the Service's
 * external and load-balancer IPs are left out, then its node ports: its cluster IPs are always programmed.
 */
export const MAX_VIRTUAL_SERVERS_PER_SERVICE = 4096;

/** The node context from flags and/or our Node object; bad flag addresses are an error for the caller. */
export function nodeContext(nodeName: string, nodeIPs: readonly string[] | undefined, node: NodeView | undefined): NodeContext {
  let ips: CanonicalAddress[];
  if (nodeIPs && nodeIPs.length > 0) {
    ips = [];
    for (const raw of nodeIPs) {
      const ip = canonicalize(raw.trim());
      if (!ip) throw new InvalidNodeIPError(raw);
      if (!ips.some((x) => x.address === ip.address)) ips.push(ip);
    }
  } else {
    ips = node ? [...node.addresses] : [];
  }
  return { nodeName, nodeIPs: ips, zone: node?.zone ?? '' };
}

export class InvalidNodeIPError extends Error {
  readonly code = 'INVALID_NODE_IP';
  constructor(raw: string) {
    super(`--node-ip: ${quote(raw)} is not an IP address`);
    this.name = 'InvalidNodeIPError';
  }
}

/** Virtual servers of one Service. `slices` are the EndpointSlices labelled for it (any family). */
export function translateService(svc: ServiceView, slices: readonly EndpointSliceView[], node: NodeContext): ServiceTranslation {
  const warnings: TranslationWarning[] = [];
  const id = `${svc.namespace}/${svc.name}`;
  const { scheduler, flags } = schedulerFromAnnotations(svc.annotations, id, warnings);
  const services: DesiredService[] = [];
  const vips: VipInfo[] = [];

  // The count before any work: a Service of many ports and many addresses must not blow up alone.
  const perFamily = (f: Family, list: readonly CanonicalAddress[]): number => list.filter((a) => a.family === f).length;
  const nodePorts = svc.ports.filter((p) => p.nodePort !== 0).length;
  let external = true;
  let withNodePorts = true;
  const count = (): number =>
    svc.clusterIPs.reduce(
      (n, c) =>
        n +
        svc.ports.length * (1 + (external ? perFamily(c.family, svc.externalIPs) + perFamily(c.family, svc.loadBalancerIPs) : 0)) +
        (withNodePorts ? nodePorts * perFamily(c.family, node.nodeIPs) : 0),
      0,
    );
  if (count() > MAX_VIRTUAL_SERVERS_PER_SERVICE) {
    const wanted = count();
    external = false;
    if (count() > MAX_VIRTUAL_SERVERS_PER_SERVICE) withNodePorts = false;
    warnings.push({
      kind: 'Service',
      object: id,
      reason: 'TooManyVirtualServers',
      message: `the Service needs ${wanted} virtual servers, more than ${MAX_VIRTUAL_SERVERS_PER_SERVICE}; its external and load-balancer IPs${withNodePorts ? '' : ' and node ports'} are not programmed`,
    });
  }

  for (const port of svc.ports) {
    const name = `${id}:${port.name || String(port.port)}`;
    for (const clusterIP of svc.clusterIPs) {
      const family = clusterIP.family;
      const persistent = svc.affinityTimeout !== undefined;
      const config: ServiceConfig = {
        scheduler,
        flags: persistent ? { ...flags, persistent: true } : { ...flags },
        timeout: svc.affinityTimeout ?? 0,
        netmask: family === 'inet' ? '255.255.255.255' : '128',
      };
      const endpoints = endpointsFor(svc, port, family, slices);
      const { cluster, local } = categorizeEndpoints(endpoints, svc.topologyAware, node);
      const internal = toDestinations(svc.internalPolicyLocal ? local : cluster);
      const externalDests = toDestinations(svc.externalPolicyLocal ? local : cluster);

      const add = (kind: VipKind, address: string, vport: number, bind: boolean, dests: DesiredDestination[]): void => {
        const key: ServiceKey = { kind: 'addr', family, protocol: port.protocol, address, port: vport };
        services.push({ key, config: { ...config, flags: { ...config.flags } }, name: kind === 'cluster IP' ? name : `${name} ${kind}`, destinations: dests.map(copyDest), bindAddress: bind });
        vips.push({
          kind,
          local: kind === 'cluster IP' ? svc.internalPolicyLocal : svc.externalPolicyLocal,
          ...(kind === 'load balancer IP' && svc.loadBalancerSourceRanges.length > 0 ? { sourceRanges: svc.loadBalancerSourceRanges } : {}),
        });
      };
      add('cluster IP', clusterIP.address, port.port, true, internal);
      if (external) {
        for (const ip of svc.externalIPs) if (ip.family === family) add('external IP', ip.address, port.port, true, externalDests);
        for (const ip of svc.loadBalancerIPs) if (ip.family === family) add('load balancer IP', ip.address, port.port, true, externalDests);
      }
      if (withNodePorts && port.nodePort !== 0) for (const ip of node.nodeIPs) if (ip.family === family) add('node port', ip.address, port.nodePort, false, externalDests);
    }
  }
  return { service: id, created: svc.created, services, vips, warnings };
}

interface PortedEndpoint extends EndpointView {
  port: number;
}

/** Endpoints of one Service port and family, merged across slices; a duplicate ready copy wins (as kube-proxy). */
function endpointsFor(svc: ServiceView, port: ServicePortView, family: Family, slices: readonly EndpointSliceView[]): PortedEndpoint[] {
  const byKey = new Map<string, PortedEndpoint>();
  for (const slice of slices) {
    if (slice.family !== family || slice.namespace !== svc.namespace || slice.serviceName !== svc.name) continue;
    const slicePort = slice.ports.find((p) => p.name === port.name && p.protocol === port.protocol);
    if (!slicePort) continue;
    for (const ep of slice.endpoints) {
      const key = `${ep.address}|${slicePort.port}`;
      const seen = byKey.get(key);
      if (!seen || (!seen.ready && ep.ready)) byKey.set(key, { ...ep, port: slicePort.port });
    }
  }
  return [...byKey.values()];
}

function toDestinations(endpoints: readonly PortedEndpoint[]): DesiredDestination[] {
  // The sort key once per endpoint, not twice per comparison.
  return endpoints
    .map((ep) => ({ order: addressOrderKey(ep.address), dest: { key: { family: ep.family, address: ep.address, port: ep.port }, config: DESTINATION } }))
    .sort((a, b) => (a.order < b.order ? -1 : a.order > b.order ? 1 : a.dest.key.port - b.dest.key.port))
    .map((e) => e.dest);
}

function copyDest(d: DesiredDestination): DesiredDestination {
  return { key: d.key, config: { ...d.config } };
}

/** Addresses no Service may take as an external or load-balancer IP (besides every Service's cluster IP). */
export interface ReservedAddresses {
  /** The addresses of every Node (and --node-ip): an external IP equal to one would capture the node's ports. */
  nodeAddresses: ReadonlySet<string>;
}

const NO_RESERVED: ReservedAddresses = { nodeAddresses: new Set() };

/**
 * Joins per-Service results into one desired state, deciding who gets a contested address:
 * - cluster IPs and node ports always win: the API server allocates them, one Service each;
 * - an external or load-balancer IP (set by whoever may edit a Service: CVE-2020-8554) is refused when it
 *   is any Service's cluster IP or a node address;
 * - two claims of one virtual server of the same class go to the older Service (metadata.creationTimestamp),
 *   then the first in namespace/name order: a new Service cannot take what an existing one has.
 * Every refusal is a warning naming the other Service.
 */
export function assemble(perService: Iterable<ServiceTranslation>, reserved: ReservedAddresses = NO_RESERVED): Translation {
  const list = [...perService];
  const warnings: TranslationWarning[] = [];
  for (const t of list) if (t.warnings.length > 0) warnings.push(...t.warnings);

  // Claims per virtual server key, by class; the winner is the oldest claimant (then the first in order).
  const clusterIPOwner = new Map<string, number>();
  const winners = new Map<string, number>();
  const externalWinners = new Map<string, number>();
  const better = (a: number, b: number | undefined): boolean => b === undefined || list[a].created < list[b].created;
  list.forEach((t, ti) => {
    for (let i = 0; i < t.services.length; i++) {
      const kind = t.vips[i].kind;
      const key = t.services[i].key;
      const k = serviceKeyId(key);
      if (kind === 'cluster IP' || kind === 'node port') {
        if (better(ti, winners.get(k))) winners.set(k, ti);
        if (kind === 'cluster IP' && key.kind === 'addr' && better(ti, clusterIPOwner.get(key.address))) clusterIPOwner.set(key.address, ti);
      } else if (better(ti, externalWinners.get(k))) externalWinners.set(k, ti);
    }
  });

  const services: DesiredService[] = [];
  const vips: VipInfo[] = [];
  const reported = new Set<string>();
  const refuse = (t: ServiceTranslation, reason: string, message: string): void => {
    const once = `${t.service}|${reason}|${message}`;
    if (reported.has(once)) return;
    reported.add(once);
    warnings.push({ kind: 'Service', object: t.service, reason, message });
  };
  list.forEach((t, ti) => {
    for (let i = 0; i < t.services.length; i++) {
      const s = t.services[i];
      const v = t.vips[i];
      const k = serviceKeyId(s.key);
      const address = s.key.kind === 'addr' ? s.key.address : '';
      if (v.kind === 'cluster IP' || v.kind === 'node port') {
        const w = winners.get(k) ?? ti;
        if (w !== ti) {
          refuse(t, 'VirtualServerConflict', `${k} is already programmed for ${list[w].service}; not programmed for ${s.name}`);
          continue;
        }
      } else {
        const what = v.kind === 'external IP' ? 'external IP' : 'load-balancer IP';
        const clusterOwner = clusterIPOwner.get(address);
        if (clusterOwner !== undefined) {
          const whose = clusterOwner === ti ? 'this Service' : list[clusterOwner].service;
          refuse(t, 'ExternalIPRefused', `${what} ${address} is the cluster IP of ${whose}; refused`);
          continue;
        }
        if (reserved.nodeAddresses.has(address)) {
          refuse(t, 'ExternalIPRefused', `${what} ${address} is a node address; refused (it would capture the node's own ports)`);
          continue;
        }
        const other = winners.get(k) ?? externalWinners.get(k) ?? ti;
        if (other !== ti) {
          refuse(t, 'VirtualServerConflict', `${k} is already programmed for ${list[other].service}; not programmed for ${s.name}`);
          continue;
        }
      }
      services.push(s);
      vips.push(v);
    }
  });
  return { state: { services }, vips, warnings };
}

export interface KubernetesObjects {
  services: readonly unknown[];
  endpointSlices: readonly unknown[];
  nodes: readonly unknown[];
}

/** Everything in one call: parse, translate each Service (in namespace/name order), assemble. */
export function translate(objects: KubernetesObjects, options: TranslateOptions): Translation {
  const warnings: TranslationWarning[] = [];
  const services: ServiceView[] = [];
  for (const o of objects.services) {
    const p = parseService(o, { nodePortRange: options.nodePortRange });
    warnings.push(...p.warnings);
    if (p.value) services.push(p.value);
  }
  const slicesByService = new Map<string, EndpointSliceView[]>();
  for (const o of objects.endpointSlices) {
    const p = parseEndpointSlice(o);
    warnings.push(...p.warnings);
    if (!p.value) continue;
    const k = `${p.value.namespace}/${p.value.serviceName}`;
    const list = slicesByService.get(k);
    if (list) list.push(p.value);
    else slicesByService.set(k, [p.value]);
  }
  let self: NodeView | undefined;
  const nodeAddresses = new Set<string>();
  for (const o of objects.nodes) {
    const p = parseNode(o);
    warnings.push(...p.warnings);
    if (p.value?.name === options.nodeName) self = p.value;
    for (const a of p.value?.addresses ?? []) nodeAddresses.add(a.address);
  }
  const node = nodeContext(options.nodeName, options.nodeIPs, self);
  for (const a of node.nodeIPs) nodeAddresses.add(a.address);
  services.sort(compareServiceViews);
  const seen = new Set<string>();
  const per: ServiceTranslation[] = [];
  for (const svc of services) {
    const id = `${svc.namespace}/${svc.name}`;
    if (seen.has(id)) {
      warnings.push({ kind: 'Service', object: id, reason: 'DuplicateObject', message: 'the Service appears twice; the second copy is ignored' });
      continue;
    }
    seen.add(id);
    per.push(translateService(svc, slicesByService.get(id) ?? [], node));
  }
  const out = assemble(per, { nodeAddresses });
  return { state: out.state, vips: out.vips, warnings: [...warnings, ...out.warnings] };
}

export function compareServiceViews(a: { namespace: string; name: string }, b: { namespace: string; name: string }): number {
  return a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}
