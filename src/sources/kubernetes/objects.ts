import { quote } from '../../bounded-read.ts';
import type { Family, Protocol } from '../../ipvs/types.ts';
import { type CanonicalAddress, canonicalize, mappedIpv4, specialAddressKind } from '../../address/address.ts';

// Narrowing of Kubernetes objects (as the API server, an informer or a YAML file hands them
// over: untrusted `unknown`) into the few fields translation reads. Every defect becomes a
// warning naming the object; a defect that makes an object unusable skips that object (or
// just the port/endpoint concerned), it never throws. Work per object is linear in its size and
// every list is capped (OBJECT_CAPS): one object cannot stall the controller on every node at once.

/**
 * Entries read per list of one object; the rest is ignored with a warning. The EndpointSlice caps are the
 * API server's own; the others are far above any real Service (the API server has no cap of its own there).
 */
export const OBJECT_CAPS = {
  servicePorts: 1000,
  externalIPs: 64,
  loadBalancerIngress: 64,
  sourceRanges: 1000,
  sliceEndpoints: 1000,
  slicePorts: 100,
  zoneHints: 8,
  nodeAddresses: 64,
} as const;

/** Node ports outside this range are refused (the API server's --service-node-port-range; kube's default). */
export interface NodePortRange {
  min: number;
  max: number;
}
export const DEFAULT_NODE_PORT_RANGE: NodePortRange = { min: 30000, max: 32767 };

export interface ParseOptions {
  nodePortRange?: NodePortRange;
}

/** "30000-32767" -> the range, or undefined when the text is not MIN-MAX with 1 <= MIN <= MAX <= 65535. */
export function parseNodePortRange(text: string): NodePortRange | undefined {
  const m = /^(\d{1,5})-(\d{1,5})$/.exec(text.trim());
  if (!m) return undefined;
  const min = Number(m[1]);
  const max = Number(m[2]);
  return min >= 1 && min <= max && max <= 65535 ? { min, max } : undefined;
}

export interface TranslationWarning {
  kind: 'Service' | 'EndpointSlice' | 'Node' | 'Object';
  /** "namespace/name" (or just the name for cluster-scoped objects); "" when the object has none. */
  object: string;
  /** CamelCase reason, usable as a Kubernetes Event reason. */
  reason: string;
  message: string;
  /** The object's metadata.uid, when known (ClusterState adds it before reporting). */
  uid?: string;
}

export interface ServicePortView {
  name: string;
  protocol: Protocol;
  port: number;
  /** 0 when the port has no node port. */
  nodePort: number;
}

export interface ServiceView {
  namespace: string;
  name: string;
  /** metadata.creationTimestamp in ms since the epoch; Infinity when absent or unreadable. */
  created: number;
  type: 'ClusterIP' | 'NodePort' | 'LoadBalancer';
  /** Canonical cluster IPs, at most one per family, primary first. */
  clusterIPs: CanonicalAddress[];
  ports: ServicePortView[];
  externalIPs: CanonicalAddress[];
  loadBalancerIPs: CanonicalAddress[];
  /** Client CIDRs allowed to reach the load-balancer IPs (spec.loadBalancerSourceRanges); empty = everyone. */
  loadBalancerSourceRanges: string[];
  /** Persistence timeout in seconds when sessionAffinity is ClientIP, else undefined. */
  affinityTimeout: number | undefined;
  externalPolicyLocal: boolean;
  internalPolicyLocal: boolean;
  /** kube-proxy's health check port (LoadBalancer + externalTrafficPolicy Local only); 0 = none. */
  healthCheckNodePort: number;
  /** Topology-aware routing asked for (trafficDistribution PreferClose/PreferSameZone or topology-mode Auto). */
  topologyAware: boolean;
  annotations: Readonly<Record<string, string>>;
}

export interface EndpointView {
  family: Family;
  address: string;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  nodeName: string;
  zoneHints: readonly string[];
}

export interface SlicePortView {
  name: string;
  protocol: Protocol;
  port: number;
}

export interface EndpointSliceView {
  namespace: string;
  name: string;
  serviceName: string;
  family: Family;
  ports: SlicePortView[];
  endpoints: EndpointView[];
}

export interface NodeView {
  name: string;
  /** InternalIP then ExternalIP addresses, canonical, deduplicated. */
  addresses: CanonicalAddress[];
  zone: string;
}

export type Parsed<T> = { value: T | undefined; warnings: TranslationWarning[] };

export const DEFAULT_AFFINITY_TIMEOUT = 10800;
const MAX_AFFINITY_TIMEOUT = 86400;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function asRecord(v: unknown): Record<string, unknown> {
  return isRecord(v) ? v : {};
}

function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function asString(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** "10.0.0.0/8" or "2001:db8::/32" with the address in canonical form, or undefined. */
function canonicalCidr(raw: string): string | undefined {
  const slash = raw.indexOf('/');
  if (slash < 0) return undefined;
  const ip = canonicalize(raw.slice(0, slash));
  const bitsText = raw.slice(slash + 1);
  const bits = Number(bitsText);
  if (!ip || !/^\d{1,3}$/.test(bitsText) || bits > (ip.family === 'inet' ? 32 : 128)) return undefined;
  return `${ip.address}/${bits}`;
}

function isPort(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535;
}

function parseProtocol(v: unknown): Protocol | undefined {
  if (v === undefined || v === null) return 'tcp';
  if (v === 'TCP') return 'tcp';
  if (v === 'UDP') return 'udp';
  if (v === 'SCTP') return 'sctp';
  return undefined;
}

interface Meta {
  namespace: string;
  name: string;
  annotations: Record<string, string>;
  labels: Record<string, string>;
  created: number;
}

function readMeta(obj: Record<string, unknown>, namespaced: boolean): Meta | undefined {
  const meta = asRecord(obj.metadata);
  const name = asString(meta.name);
  const namespace = namespaced ? asString(meta.namespace) ?? 'default' : '';
  if (!name) return undefined;
  const stamp = asString(meta.creationTimestamp);
  const created = stamp === undefined ? Number.NaN : Date.parse(stamp);
  return { name, namespace, annotations: stringMap(meta.annotations), labels: stringMap(meta.labels), created: Number.isNaN(created) ? Number.POSITIVE_INFINITY : created };
}

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(asRecord(v))) if (typeof val === 'string') out[k] = val;
  return out;
}

function objectName(meta: Meta): string {
  return meta.namespace ? `${meta.namespace}/${meta.name}` : meta.name;
}

/** The first `max` entries of a list (all of an ordinary one), with a warning when some are left out. */
function capped(list: unknown[], max: number, field: string, warn: (reason: string, message: string) => void): unknown[] {
  if (list.length <= max) return list;
  warn('TooManyEntries', `${field} has ${list.length} entries; only the first ${max} are read (the per-object cap)`);
  return list.slice(0, max);
}

function inRange(port: number, range: NodePortRange): boolean {
  return port >= range.min && port <= range.max;
}

/** A Service this controller programs, or undefined (with the reason as a warning, or silently for headless/ExternalName). */
export function parseService(obj: unknown, options: ParseOptions = {}): Parsed<ServiceView> {
  const nodePortRange = options.nodePortRange ?? DEFAULT_NODE_PORT_RANGE;
  const warnings: TranslationWarning[] = [];
  if (!isRecord(obj)) return { value: undefined, warnings: [objectWarning('Service', 'a Service is not an object')] };
  const meta = readMeta(obj, true);
  if (!meta) return { value: undefined, warnings: [objectWarning('Service', 'a Service has no metadata.name')] };
  const id = objectName(meta);
  const warn = (reason: string, message: string): void => {
    warnings.push({ kind: 'Service', object: id, reason, message });
  };
  const skip = (message: string): Parsed<ServiceView> => {
    warn('InvalidService', `${message}; the Service is skipped`);
    return { value: undefined, warnings };
  };
  const spec = asRecord(obj.spec);
  const status = asRecord(obj.status);
  const type = spec.type ?? 'ClusterIP';
  if (type === 'ExternalName') return { value: undefined, warnings };
  if (type !== 'ClusterIP' && type !== 'NodePort' && type !== 'LoadBalancer') return skip(`spec.type ${quote(type)} is not a Service type`);

  const rawIPs = Array.isArray(spec.clusterIPs) && spec.clusterIPs.length > 0 ? spec.clusterIPs : spec.clusterIP === undefined ? [] : [spec.clusterIP];
  if (rawIPs.length === 0) return skip('spec.clusterIP is not set');
  if (rawIPs[0] === 'None' || rawIPs[0] === '') return { value: undefined, warnings }; // headless: DNS only
  const clusterIPs: CanonicalAddress[] = [];
  if (rawIPs.length > 2) return skip(`spec.clusterIPs has ${rawIPs.length} addresses; a Service has at most one per family`);
  for (const raw of rawIPs) {
    const ip = typeof raw === 'string' ? canonicalize(raw) : undefined;
    if (!ip) return skip(`spec.clusterIPs has ${quote(raw)}, which is not an IP address`);
    const special = specialAddressKind(ip.address);
    if (special) return skip(`spec.clusterIPs has ${ip.address}, a ${special} address`);
    if (clusterIPs.some((c) => c.family === ip.family)) return skip('spec.clusterIPs has two addresses of the same family');
    clusterIPs.push(ip);
  }

  const ports: ServicePortView[] = [];
  const portKeys = new Set<string>();
  if (!Array.isArray(spec.ports)) warn('InvalidService', 'spec.ports is not a list; the Service gets no virtual servers');
  for (const [i, rawPort] of capped(asArray(spec.ports), OBJECT_CAPS.servicePorts, 'spec.ports', warn).entries()) {
    const p = asRecord(rawPort);
    const name = asString(p.name) ?? '';
    const protocol = parseProtocol(p.protocol);
    if (!protocol) {
      warn('InvalidPort', `spec.ports[${i}].protocol ${quote(p.protocol)} is not TCP, UDP or SCTP; port skipped`);
      continue;
    }
    if (!isPort(p.port)) {
      warn('InvalidPort', `spec.ports[${i}].port ${quote(p.port)} is not a port number (1-65535); port skipped`);
      continue;
    }
    let nodePort = 0;
    if (p.nodePort !== undefined && p.nodePort !== null && type !== 'ClusterIP') {
      if (!isPort(p.nodePort)) warn('InvalidPort', `spec.ports[${i}].nodePort ${quote(p.nodePort)} is not a port number; no node port for it`);
      // A node port is served on every node address: outside the cluster's range it could take over sshd, the kubelet, ...
      else if (!inRange(p.nodePort, nodePortRange)) {
        warn('InvalidPort', `spec.ports[${i}].nodePort ${p.nodePort} is outside the node port range ${nodePortRange.min}-${nodePortRange.max} (--node-port-range); no node port for it`);
      } else nodePort = p.nodePort;
    }
    const portKey = `${p.port}/${protocol}`;
    if (portKeys.has(portKey)) {
      warn('InvalidPort', `spec.ports[${i}] repeats port ${p.port}/${protocol}; skipped`);
      continue;
    }
    portKeys.add(portKey);
    ports.push({ name, protocol, port: p.port, nodePort });
  }

  const externalIPs = readIPs(capped(asArray(spec.externalIPs), OBJECT_CAPS.externalIPs, 'spec.externalIPs', warn), (raw, why) =>
    warn('InvalidExternalIP', `spec.externalIPs entry ${raw} ${why}; ignored`),
  );
  let loadBalancerIPs: CanonicalAddress[] = [];
  if (type === 'LoadBalancer') {
    const ingressIPs: unknown[] = [];
    for (const rawIngress of capped(asArray(asRecord(status.loadBalancer).ingress), OBJECT_CAPS.loadBalancerIngress, 'status.loadBalancer.ingress', warn)) {
      const ingress = asRecord(rawIngress);
      if (ingress.ip === undefined) continue; // hostname-only ingress: nothing to bind
      // ipMode Proxy: the load balancer proxies to node ports itself; kube-proxy does not bind the VIP.
      if (ingress.ipMode === 'Proxy') continue;
      ingressIPs.push(ingress.ip);
    }
    loadBalancerIPs = readIPs(ingressIPs, (raw, why) => warn('InvalidLoadBalancerIP', `status.loadBalancer.ingress ip ${raw} ${why}; ignored`));
  }

  // As kube-proxy: the spec field, else the older annotation (comma separated).
  const loadBalancerSourceRanges: string[] = [];
  if (type === 'LoadBalancer') {
    const fromSpec = asArray(spec.loadBalancerSourceRanges);
    const annotation = meta.annotations['service.beta.kubernetes.io/load-balancer-source-ranges'];
    const raw: unknown[] = fromSpec.length > 0 ? fromSpec : annotation ? annotation.split(',', OBJECT_CAPS.sourceRanges + 1) : [];
    const seen = new Set<string>();
    for (const r of capped(raw, OBJECT_CAPS.sourceRanges, 'loadBalancerSourceRanges', warn)) {
      const cidr = typeof r === 'string' ? canonicalCidr(r.trim()) : undefined;
      if (cidr === undefined) warn('InvalidSourceRange', `loadBalancerSourceRanges entry ${quote(r)} is not a CIDR; ignored`);
      else if (!seen.has(cidr)) {
        seen.add(cidr);
        loadBalancerSourceRanges.push(cidr);
      }
    }
  }

  let affinityTimeout: number | undefined;
  if (spec.sessionAffinity === 'ClientIP') {
    const t = asRecord(asRecord(asRecord(spec.sessionAffinityConfig).clientIP)).timeoutSeconds;
    if (t === undefined || t === null) affinityTimeout = DEFAULT_AFFINITY_TIMEOUT;
    else if (typeof t === 'number' && Number.isInteger(t) && t >= 1 && t <= MAX_AFFINITY_TIMEOUT) affinityTimeout = t;
    else {
      warn('InvalidSessionAffinity', `sessionAffinityConfig.clientIP.timeoutSeconds ${quote(t)} is not 1-${MAX_AFFINITY_TIMEOUT}; using ${DEFAULT_AFFINITY_TIMEOUT}`);
      affinityTimeout = DEFAULT_AFFINITY_TIMEOUT;
    }
  } else if (spec.sessionAffinity !== undefined && spec.sessionAffinity !== 'None' && spec.sessionAffinity !== null) {
    warn('InvalidSessionAffinity', `spec.sessionAffinity ${quote(spec.sessionAffinity)} is not None or ClientIP; using None`);
  }

  const topologyMode = meta.annotations['service.kubernetes.io/topology-mode'] ?? meta.annotations['service.kubernetes.io/topology-aware-hints'] ?? '';
  const topologyAware =
    spec.trafficDistribution === 'PreferClose' || spec.trafficDistribution === 'PreferSameZone' || topologyMode === 'Auto' || topologyMode === 'auto';

  // As kube-proxy's ExternalPolicyLocal: only for externally reachable Services (node ports, LB, external IPs).
  const externalPolicyLocal = spec.externalTrafficPolicy === 'Local' && (type !== 'ClusterIP' || externalIPs.length > 0);
  // As kube-proxy (NeedsHealthCheck): served only for LoadBalancer Services with externalTrafficPolicy Local.
  let healthCheckNodePort = 0;
  if (type === 'LoadBalancer' && externalPolicyLocal && spec.healthCheckNodePort !== undefined && spec.healthCheckNodePort !== null) {
    if (!isPort(spec.healthCheckNodePort)) warn('InvalidPort', `spec.healthCheckNodePort ${quote(spec.healthCheckNodePort)} is not a port number; no health check served`);
    else if (!inRange(spec.healthCheckNodePort, nodePortRange)) {
      warn('InvalidPort', `spec.healthCheckNodePort ${spec.healthCheckNodePort} is outside the node port range ${nodePortRange.min}-${nodePortRange.max} (--node-port-range); no health check served`);
    } else healthCheckNodePort = spec.healthCheckNodePort;
  }
  return {
    value: {
      namespace: meta.namespace,
      name: meta.name,
      created: meta.created,
      type,
      clusterIPs,
      ports,
      externalIPs,
      loadBalancerIPs,
      loadBalancerSourceRanges,
      affinityTimeout,
      externalPolicyLocal,
      internalPolicyLocal: spec.internalTrafficPolicy === 'Local',
      healthCheckNodePort,
      topologyAware,
      annotations: meta.annotations,
    },
    warnings,
  };
}

/**
 * Canonical, de-duplicated (linear: a Set) addresses a Service may take: not loopback, link-local, multicast,
 * unspecified or broadcast, which would capture the node's own traffic (169.254.169.254 is the cloud metadata
 * service, 127.0.0.1 every local daemon).
 */
function readIPs(raw: readonly unknown[], onBad: (quoted: string, why: string) => void): CanonicalAddress[] {
  const out: CanonicalAddress[] = [];
  const seen = new Set<string>();
  for (const r of raw) {
    const ip = typeof r === 'string' ? canonicalize(r) : undefined;
    if (!ip) {
      onBad(quote(r), 'is not an IP address');
      continue;
    }
    const special = specialAddressKind(ip.address);
    if (special) onBad(ip.address, `is a ${special} address`);
    else if (!seen.has(ip.address)) {
      seen.add(ip.address);
      out.push(ip);
    }
  }
  return out;
}

const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** An EndpointSlice's usable endpoints, or undefined when it belongs to no Service or is FQDN. */
export function parseEndpointSlice(obj: unknown): Parsed<EndpointSliceView> {
  const warnings: TranslationWarning[] = [];
  if (!isRecord(obj)) return { value: undefined, warnings: [objectWarning('EndpointSlice', 'an EndpointSlice is not an object')] };
  const meta = readMeta(obj, true);
  if (!meta) return { value: undefined, warnings: [objectWarning('EndpointSlice', 'an EndpointSlice has no metadata.name')] };
  const id = objectName(meta);
  const warn = (reason: string, message: string): void => {
    warnings.push({ kind: 'EndpointSlice', object: id, reason, message });
  };
  const serviceName = meta.labels[SERVICE_NAME_LABEL];
  if (!serviceName) return { value: undefined, warnings }; // not managed for a Service (e.g. a custom slice)
  let family: Family;
  if (obj.addressType === 'IPv4') family = 'inet';
  else if (obj.addressType === 'IPv6') family = 'inet6';
  else if (obj.addressType === 'FQDN') return { value: undefined, warnings };
  else {
    warn('InvalidEndpointSlice', `addressType ${quote(obj.addressType)} is not IPv4, IPv6 or FQDN; slice skipped`);
    return { value: undefined, warnings };
  }

  const ports: SlicePortView[] = [];
  for (const [i, rawPort] of capped(asArray(obj.ports), OBJECT_CAPS.slicePorts, 'ports', warn).entries()) {
    const p = asRecord(rawPort);
    const protocol = parseProtocol(p.protocol);
    if (!protocol) {
      warn('InvalidEndpointPort', `ports[${i}].protocol ${quote(p.protocol)} is not TCP, UDP or SCTP; port skipped`);
      continue;
    }
    // A nil port means "all ports" and is only valid for Services without selector ports; kube-proxy skips it.
    if (p.port === undefined || p.port === null) continue;
    if (!isPort(p.port)) {
      warn('InvalidEndpointPort', `ports[${i}].port ${quote(p.port)} is not a port number; port skipped`);
      continue;
    }
    ports.push({ name: asString(p.name) ?? '', protocol, port: p.port });
  }

  const endpoints: EndpointView[] = [];
  for (const [i, rawEp] of capped(asArray(obj.endpoints), OBJECT_CAPS.sliceEndpoints, 'endpoints', warn).entries()) {
    const ep = asRecord(rawEp);
    const first = asArray(ep.addresses)[0];
    const ip = typeof first === 'string' ? canonicalize(first) : undefined;
    if (!ip) {
      warn('InvalidEndpoint', `endpoints[${i}].addresses[0] ${quote(first)} is not an IP address; endpoint skipped`);
      continue;
    }
    if (ip.family !== family) {
      warn('InvalidEndpoint', `endpoints[${i}] address ${ip.address} is not of addressType ${String(obj.addressType)}; endpoint skipped`);
      continue;
    }
    // As the API server's ValidateEndpointIP (and all multicast): such an "endpoint" is the node itself or its metadata service.
    const special = specialAddressKind(ip.address);
    if (special) {
      warn('InvalidEndpoint', `endpoints[${i}] address ${ip.address} is a ${special} address; endpoint skipped`);
      continue;
    }
    // The API server refuses these in an IPv6 slice too; the kernel would refuse the destination.
    if (mappedIpv4(ip.address) !== undefined) {
      warn('InvalidEndpoint', `endpoints[${i}] address ${ip.address} is an IPv4-mapped IPv6 address, which IPVS refuses as a destination; endpoint skipped`);
      continue;
    }
    const c = asRecord(ep.conditions);
    // API semantics: a nil ready/serving means "ready"; a nil terminating means "not terminating".
    const ready = c.ready !== false;
    const serving = c.serving === undefined || c.serving === null ? ready : c.serving !== false;
    const terminating = c.terminating === true;
    const zoneHints: string[] = [];
    for (const z of asArray(asRecord(ep.hints).forZones).slice(0, OBJECT_CAPS.zoneHints)) {
      const name = asString(asRecord(z).name);
      if (name) zoneHints.push(name);
    }
    endpoints.push({ family, address: ip.address, ready, serving, terminating, nodeName: asString(ep.nodeName) ?? '', zoneHints });
  }

  return { value: { namespace: meta.namespace, name: meta.name, serviceName, family, ports, endpoints }, warnings };
}

export function parseNode(obj: unknown): Parsed<NodeView> {
  const warnings: TranslationWarning[] = [];
  if (!isRecord(obj)) return { value: undefined, warnings: [objectWarning('Node', 'a Node is not an object')] };
  const meta = readMeta(obj, false);
  if (!meta) return { value: undefined, warnings: [objectWarning('Node', 'a Node has no metadata.name')] };
  const addresses: CanonicalAddress[] = [];
  const seen = new Set<string>();
  const warn = (reason: string, message: string): void => {
    warnings.push({ kind: 'Node', object: meta.name, reason, message });
  };
  const raw = capped(asArray(asRecord(obj.status).addresses), OBJECT_CAPS.nodeAddresses, 'status.addresses', warn);
  for (const wanted of ['InternalIP', 'ExternalIP']) {
    for (const rawAddr of raw) {
      const a = asRecord(rawAddr);
      if (a.type !== wanted) continue;
      const ip = typeof a.address === 'string' ? canonicalize(a.address) : undefined;
      if (!ip) warn('InvalidNodeAddress', `status.addresses ${wanted} ${quote(a.address)} is not an IP address; ignored`);
      else if (!seen.has(ip.address)) {
        seen.add(ip.address);
        addresses.push(ip);
      }
    }
  }
  return { value: { name: meta.name, addresses, zone: meta.labels['topology.kubernetes.io/zone'] ?? '' }, warnings };
}

function objectWarning(kind: TranslationWarning['kind'], message: string): TranslationWarning {
  return { kind, object: '', reason: 'MalformedObject', message: `${message}; skipped` };
}
