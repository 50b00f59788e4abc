import type { DestinationConfig, Family, ServiceConfig, ServiceKey } from '../../ipvs/types.ts';
import { serviceKeyId } from '../../ipvs/keys.ts';
import type { DesiredDestination, DesiredService, DesiredState } from '../../model/types.ts';
import { type CanonicalAddress, canonicalAddress, compareAddresses } from './address.ts';
import { schedulerFromAnnotations } from './annotations.ts';
import { categorizeEndpoints } from './endpoints.ts';
import {
  type EndpointSliceView,
  type EndpointView,
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
}

export interface Translation {
  state: DesiredState;
  /** What each virtual server of `state.services` is (same index): masquerade rules need it. */
  vips: VipInfo[];
  warnings: TranslationWarning[];
}

export interface ServiceTranslation {
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

/** The node context from flags and/or our Node object; bad flag addresses are an error for the caller. */
export function nodeContext(nodeName: string, nodeIPs: readonly string[] | undefined, node: NodeView | undefined): NodeContext {
  let ips: CanonicalAddress[];
  if (nodeIPs && nodeIPs.length > 0) {
    ips = [];
    for (const raw of nodeIPs) {
      const ip = canonicalAddress(raw.trim());
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
    super(`--node-ip: ${JSON.stringify(raw)} is not an IP address`);
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
      const external = toDestinations(svc.externalPolicyLocal ? local : cluster);

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
      for (const ip of svc.externalIPs) if (ip.family === family) add('external IP', ip.address, port.port, true, external);
      for (const ip of svc.loadBalancerIPs) if (ip.family === family) add('load balancer IP', ip.address, port.port, true, external);
      if (port.nodePort !== 0) for (const ip of node.nodeIPs) if (ip.family === family) add('node port', ip.address, port.nodePort, false, external);
    }
  }
  return { services, vips, warnings };
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
  return endpoints
    .map((ep) => ({ key: { family: ep.family, address: ep.address, port: ep.port }, config: DESTINATION }))
    .sort((a, b) => compareAddresses(a.key.address, b.key.address) || a.key.port - b.key.port);
}

function copyDest(d: DesiredDestination): DesiredDestination {
  return { key: d.key, config: { ...d.config } };
}

/**
 * Joins per-Service results into one desired state. Two Services claiming the same virtual server
 * (say the same external IP and port) would fight over it: the first in namespace/name order keeps
 * it and the other gets a warning, so the outcome does not depend on event order.
 */
export function assemble(perService: Iterable<ServiceTranslation>): Translation {
  const warnings: TranslationWarning[] = [];
  const owners = new Map<string, string>();
  const services: DesiredService[] = [];
  const vips: VipInfo[] = [];
  for (const t of perService) {
    if (t.warnings.length > 0) warnings.push(...t.warnings);
    for (let i = 0; i < t.services.length; i++) {
      const s = t.services[i];
      const k = serviceKeyId(s.key);
      const owner = owners.get(k);
      if (owner !== undefined) {
        const object = s.name.split(':')[0];
        warnings.push({ kind: 'Service', object, reason: 'VirtualServerConflict', message: `${k} is already programmed for ${owner}; not programmed for ${s.name}` });
        continue;
      }
      owners.set(k, s.name);
      services.push(s);
      vips.push(t.vips[i]);
    }
  }
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
    const p = parseService(o);
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
  for (const o of objects.nodes) {
    const p = parseNode(o);
    warnings.push(...p.warnings);
    if (p.value?.name === options.nodeName) self = p.value;
  }
  const node = nodeContext(options.nodeName, options.nodeIPs, self);
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
  const out = assemble(per);
  return { state: out.state, vips: out.vips, warnings: [...warnings, ...out.warnings] };
}

export function compareServiceViews(a: { namespace: string; name: string }, b: { namespace: string; name: string }): number {
  return a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}
