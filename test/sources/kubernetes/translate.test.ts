import { describe, expect, it } from 'vitest';
import { serviceKeyString } from '../../../src/ipvs/keys.ts';
import type { DesiredState } from '../../../src/model/types.ts';
import { type KubernetesObjects, type TranslateOptions, translate } from '../../../src/sources/kubernetes/translate.ts';
import { node, service, slice } from './builders.ts';

// Cases follow kube-proxy's IPVS proxier tests (pkg/proxy/ipvs/proxier_test.go) where they
// apply: TestNodePortIPv4/IPv6, TestIPv4Proxier, TestIPv6Proxier, TestExternalIPs,
// TestOnlyLocalExternalIPs, TestLoadBalancer, TestOnlyLocalNodePorts, TestOnlyLocalLoadBalancing,
// TestSessionAffinity, TestNoEndpointsToService, TestTestInternalTrafficPolicyE2E,
// Test_EndpointSliceReadyAndTerminating{Cluster,Local}, Test_EndpointSliceOnlyReadyAndTerminating*,
// TestTopologyHints, plus headless/ExternalName skipping.

const NODE = 'node-a';
const OPTS: TranslateOptions = { nodeName: NODE, nodeIPs: ['192.168.0.10', 'fd00::10'] };

function run(objs: Partial<KubernetesObjects>, opts: TranslateOptions = OPTS) {
  return translate({ services: objs.services ?? [], endpointSlices: objs.endpointSlices ?? [], nodes: objs.nodes ?? [] }, opts);
}

/** One line per virtual server: key, scheduler+flags, persistence, bind, destinations. */
function lines(state: DesiredState): string[] {
  return state.services.map((s) => {
    const f = s.config.flags;
    const flags = [f.portHash ? 'port' : '', f.fallback ? 'fallback' : '', f.persistent ? `persistent=${s.config.timeout}` : ''].filter(Boolean).join(',');
    const dests = s.destinations.map((d) => `${d.key.family === 'inet6' ? `[${d.key.address}]` : d.key.address}:${d.key.port}`).join(' ');
    return `${serviceKeyString(s.key)} ${s.config.scheduler}${flags ? `(${flags})` : ''}${s.bindAddress ? ' bind' : ''} -> ${dests}`.trimEnd();
  });
}

const web = (spec: Record<string, unknown> = {}, extra = {}) =>
  service('ns1', 'web', { clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10'], ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 }], ...spec }, extra);
const webSlice = (eps: Parameters<typeof slice>[4], ports = [{ name: 'http', port: 8080 }]) => slice('ns1', 'web', 'web-abc', ports, eps);

describe('ClusterIP', () => {
  it('programs one mh virtual server with mh-port and mh-fallback and one masq destination per ready endpoint', () => {
    const { state, warnings } = run({ services: [web()], endpointSlices: [webSlice([{ ip: '10.1.0.2' }, { ip: '10.1.0.1', ready: true }])] });
    expect(warnings).toEqual([]);
    expect(lines(state)).toEqual(['tcp 10.96.0.10:80 mh(port,fallback) bind -> 10.1.0.1:8080 10.1.0.2:8080']);
    const s = state.services[0];
    expect(s.name).toBe('ns1/web:http');
    expect(s.config.netmask).toBe('255.255.255.255');
    expect(s.destinations[0].config).toEqual({ forwarding: 'masq', weight: 1, upperThreshold: 0, lowerThreshold: 0 });
  });

  it('keeps the virtual server of a Service without endpoints (TestNoEndpointsToService)', () => {
    const { state } = run({ services: [web()] });
    expect(lines(state)).toEqual(['tcp 10.96.0.10:80 mh(port,fallback) bind ->']);
  });

  it('handles TCP, UDP and SCTP ports of one Service, matching slice ports by name and protocol', () => {
    const svc = service('kube-system', 'dns', {
      clusterIP: '10.96.0.53',
      ports: [
        { name: 'dns', port: 53, protocol: 'UDP' },
        { name: 'dns-tcp', port: 53, protocol: 'TCP' },
        { name: 'sig', port: 3868, protocol: 'SCTP' },
      ],
    });
    const sl = slice('kube-system', 'dns', 'dns-1', [{ name: 'dns', port: 5353, protocol: 'UDP' }, { name: 'dns-tcp', port: 5354, protocol: 'TCP' }, { name: 'sig', port: 3868, protocol: 'SCTP' }], [{ ip: '10.1.0.5' }]);
    expect(lines(run({ services: [svc], endpointSlices: [sl] }).state)).toEqual([
      'udp 10.96.0.53:53 mh(port,fallback) bind -> 10.1.0.5:5353',
      'tcp 10.96.0.53:53 mh(port,fallback) bind -> 10.1.0.5:5354',
      'sctp 10.96.0.53:3868 mh(port,fallback) bind -> 10.1.0.5:3868',
    ]);
  });

  it('merges endpoints from several slices and deduplicates, a ready copy winning', () => {
    const a = slice('ns1', 'web', 'web-a', [{ name: 'http', port: 8080 }], [{ ip: '10.1.0.1' }, { ip: '10.1.0.2', ready: false }]);
    const b = slice('ns1', 'web', 'web-b', [{ name: 'http', port: 8080 }], [{ ip: '10.1.0.2', ready: true }, { ip: '10.1.0.3' }]);
    expect(lines(run({ services: [web()], endpointSlices: [a, b] }).state)).toEqual(['tcp 10.96.0.10:80 mh(port,fallback) bind -> 10.1.0.1:8080 10.1.0.2:8080 10.1.0.3:8080']);
  });

  it('ignores slices of other Services, other namespaces and other port names', () => {
    const other = slice('ns1', 'api', 'api-1', [{ name: 'http', port: 8080 }], [{ ip: '10.1.9.9' }]);
    const otherNs = slice('ns2', 'web', 'web-1', [{ name: 'http', port: 8080 }], [{ ip: '10.1.9.8' }]);
    const otherPort = slice('ns1', 'web', 'web-2', [{ name: 'metrics', port: 9090 }], [{ ip: '10.1.9.7' }]);
    expect(lines(run({ services: [web()], endpointSlices: [other, otherNs, otherPort] }).state)).toEqual(['tcp 10.96.0.10:80 mh(port,fallback) bind ->']);
  });

  it('ignores headless and ExternalName Services without a warning', () => {
    const headless = service('ns1', 'db', { clusterIP: 'None', clusterIPs: ['None'], ports: [{ port: 5432 }] });
    const ext = service('ns1', 'ext', { type: 'ExternalName', externalName: 'example.com', ports: [{ port: 443 }] });
    const r = run({ services: [headless, ext], endpointSlices: [slice('ns1', 'db', 'db-1', [{ port: 5432 }], [{ ip: '10.1.0.9' }])] });
    expect(r.state.services).toEqual([]);
    expect(r.warnings).toEqual([]);
  });

  it('canonicalises IPv6 addresses written in any case or expansion', () => {
    const svc = service('ns1', 'v6', { clusterIP: 'FD00:0:0:0::A', clusterIPs: ['FD00:0:0:0::A'], ipFamilies: ['IPv6'], ports: [{ port: 80 }] });
    const sl = slice('ns1', 'v6', 'v6-1', [{ port: 8080 }], [{ ip: 'FD00:1:0:0:0:0:0:2' }], 'IPv6');
    const r = run({ services: [svc], endpointSlices: [sl] });
    expect(lines(r.state)).toEqual(['tcp [fd00::a]:80 mh(port,fallback) bind -> [fd00:1::2]:8080']);
    expect(r.state.services[0].config.netmask).toBe('128');
  });

  it('skips an IPv4-mapped endpoint in an IPv6 slice (the kernel refuses it) with a warning, keeping the slice\'s other endpoints', () => {
    const svc = service('ns1', 'v6', { clusterIP: 'fd00::a', clusterIPs: ['fd00::a'], ipFamilies: ['IPv6'], ports: [{ port: 80 }] });
    const sl = slice('ns1', 'v6', 'v6-1', [{ port: 8080 }], [{ ip: '::FFFF:a01:2' }, { ip: 'fd00:1::2' }], 'IPv6');
    const r = run({ services: [svc], endpointSlices: [sl] });
    expect(lines(r.state)).toEqual(['tcp [fd00::a]:80 mh(port,fallback) bind -> [fd00:1::2]:8080']);
    expect(r.warnings.map((w) => [w.reason, w.message])).toEqual([
      ['InvalidEndpoint', 'endpoints[0] address ::ffff:10.1.0.2 is an IPv4-mapped IPv6 address, which IPVS refuses as a destination; endpoint skipped'],
    ]);
  });
});

describe('dual-stack (TestIPv4Proxier / TestIPv6Proxier)', () => {
  it('programs one virtual server per family with the endpoints of that family only', () => {
    const svc = web({ clusterIPs: ['10.96.0.10', 'fd00::10'], ipFamilies: ['IPv4', 'IPv6'], type: 'NodePort', ports: [{ name: 'http', port: 80, nodePort: 30080 }] });
    const v4 = webSlice([{ ip: '10.1.0.1' }]);
    const v6 = slice('ns1', 'web', 'web-v6', [{ name: 'http', port: 8080 }], [{ ip: 'fd00:1::1' }], 'IPv6');
    expect(lines(run({ services: [svc], endpointSlices: [v4, v6] }).state)).toEqual([
      'tcp 10.96.0.10:80 mh(port,fallback) bind -> 10.1.0.1:8080',
      'tcp 192.168.0.10:30080 mh(port,fallback) -> 10.1.0.1:8080',
      'tcp [fd00::10]:80 mh(port,fallback) bind -> [fd00:1::1]:8080',
      'tcp [fd00::10]:30080 mh(port,fallback) -> [fd00:1::1]:8080',
    ]);
  });

  it('a single-stack IPv4 Service gets no IPv6 virtual servers and ignores IPv6 slices', () => {
    const v6 = slice('ns1', 'web', 'web-v6', [{ name: 'http', port: 8080 }], [{ ip: 'fd00:1::1' }], 'IPv6');
    expect(lines(run({ services: [web()], endpointSlices: [v6] }).state)).toEqual(['tcp 10.96.0.10:80 mh(port,fallback) bind ->']);
  });

  it('skips FQDN slices', () => {
    const fq = slice('ns1', 'web', 'web-fqdn', [{ name: 'http', port: 8080 }], [{ ip: '10.1.0.1' }], 'FQDN');
    expect(run({ services: [web()], endpointSlices: [fq] }).state.services[0].destinations).toEqual([]);
  });
});

describe('NodePort (TestNodePortIPv4 / TestNodePortIPv6)', () => {
  const np = (extra: Record<string, unknown> = {}) => web({ type: 'NodePort', ports: [{ name: 'http', port: 80, nodePort: 30080 }], ...extra });

  it('programs one unbound virtual server per node address of the family', () => {
    const r = run({ services: [np()], endpointSlices: [webSlice([{ ip: '10.1.0.1' }])] }, { nodeName: NODE, nodeIPs: ['192.168.0.10', '10.0.0.10', 'fd00::10'] });
    expect(lines(r.state)).toEqual([
      'tcp 10.96.0.10:80 mh(port,fallback) bind -> 10.1.0.1:8080',
      'tcp 192.168.0.10:30080 mh(port,fallback) -> 10.1.0.1:8080',
      'tcp 10.0.0.10:30080 mh(port,fallback) -> 10.1.0.1:8080',
    ]);
    expect(r.state.services[1].name).toBe('ns1/web:http node port');
  });

  it('takes node addresses from our Node object when --node-ip is not given', () => {
    const n = node(NODE, [{ type: 'Hostname', address: NODE }, { type: 'ExternalIP', address: '203.0.113.7' }, { type: 'InternalIP', address: '192.168.0.11' }]);
    const otherNode = node('node-b', [{ type: 'InternalIP', address: '192.168.0.12' }]);
    const r = run({ services: [np()], nodes: [otherNode, n] }, { nodeName: NODE });
    expect(lines(r.state).slice(1)).toEqual(['tcp 192.168.0.11:30080 mh(port,fallback) ->', 'tcp 203.0.113.7:30080 mh(port,fallback) ->']);
  });

  it('a ClusterIP Service with a stray nodePort field gets no node port', () => {
    const svc = web({ ports: [{ name: 'http', port: 80, nodePort: 30080 }] });
    expect(run({ services: [svc] }).state.services).toHaveLength(1);
  });

  it('externalTrafficPolicy Local: node ports reach only local endpoints, the cluster IP all (TestOnlyLocalNodePorts)', () => {
    const r = run({
      services: [np({ externalTrafficPolicy: 'Local' })],
      endpointSlices: [webSlice([{ ip: '10.1.0.1', node: NODE }, { ip: '10.1.0.2', node: 'node-b' }])],
    });
    expect(lines(r.state)).toEqual([
      'tcp 10.96.0.10:80 mh(port,fallback) bind -> 10.1.0.1:8080 10.1.0.2:8080',
      'tcp 192.168.0.10:30080 mh(port,fallback) -> 10.1.0.1:8080',
    ]);
  });

  it('externalTrafficPolicy Local with no local endpoint keeps the node port with no destinations', () => {
    const r = run({ services: [np({ externalTrafficPolicy: 'Local' })], endpointSlices: [webSlice([{ ip: '10.1.0.2', node: 'node-b' }])] });
    expect(lines(r.state)[1]).toBe('tcp 192.168.0.10:30080 mh(port,fallback) ->');
  });
});

describe('external IPs and load balancers', () => {
  it('binds each external IP of the family (TestExternalIPs), in any Service type', () => {
    const r = run({ services: [web({ externalIPs: ['198.51.100.1', '198.51.100.2', 'not-an-ip', '2001:db8::1'] })], endpointSlices: [webSlice([{ ip: '10.1.0.1' }])] });
    expect(lines(r.state)).toEqual([
      'tcp 10.96.0.10:80 mh(port,fallback) bind -> 10.1.0.1:8080',
      'tcp 198.51.100.1:80 mh(port,fallback) bind -> 10.1.0.1:8080',
      'tcp 198.51.100.2:80 mh(port,fallback) bind -> 10.1.0.1:8080',
    ]);
    expect(r.warnings.map((w) => w.reason)).toEqual(['InvalidExternalIP']);
  });

  it('external IPs with externalTrafficPolicy Local use local endpoints only (TestOnlyLocalExternalIPs)', () => {
    const svc = web({ type: 'NodePort', externalIPs: ['198.51.100.1'], externalTrafficPolicy: 'Local', ports: [{ name: 'http', port: 80, nodePort: 30080 }] });
    const r = run({ services: [svc], endpointSlices: [webSlice([{ ip: '10.1.0.1', node: NODE }, { ip: '10.1.0.2', node: 'node-b' }])] });
    expect(lines(r.state)[1]).toBe('tcp 198.51.100.1:80 mh(port,fallback) bind -> 10.1.0.1:8080');
  });

  it('binds LoadBalancer ingress IPs, skipping hostnames and ipMode Proxy (TestLoadBalancer)', () => {
    const status = { loadBalancer: { ingress: [{ ip: '203.0.113.5' }, { hostname: 'lb.example.com' }, { ip: '203.0.113.6', ipMode: 'Proxy' }, { ip: '203.0.113.7', ipMode: 'VIP' }] } };
    const svc = web({ type: 'LoadBalancer', ports: [{ name: 'http', port: 80, nodePort: 30080 }] }, { status });
    expect(lines(run({ services: [svc], endpointSlices: [webSlice([{ ip: '10.1.0.1' }])] }).state)).toEqual([
      'tcp 10.96.0.10:80 mh(port,fallback) bind -> 10.1.0.1:8080',
      'tcp 203.0.113.5:80 mh(port,fallback) bind -> 10.1.0.1:8080',
      'tcp 203.0.113.7:80 mh(port,fallback) bind -> 10.1.0.1:8080',
      'tcp 192.168.0.10:30080 mh(port,fallback) -> 10.1.0.1:8080',
    ]);
  });

  it('LoadBalancer without node ports (allocateLoadBalancerNodePorts false) and Local policy (TestOnlyLocalLoadBalancing)', () => {
    const status = { loadBalancer: { ingress: [{ ip: '203.0.113.5' }] } };
    const svc = web({ type: 'LoadBalancer', externalTrafficPolicy: 'Local', allocateLoadBalancerNodePorts: false }, { status });
    const r = run({ services: [svc], endpointSlices: [webSlice([{ ip: '10.1.0.1', node: 'node-b' }, { ip: '10.1.0.3', node: NODE }])] });
    expect(lines(r.state)).toEqual(['tcp 10.96.0.10:80 mh(port,fallback) bind -> 10.1.0.1:8080 10.1.0.3:8080', 'tcp 203.0.113.5:80 mh(port,fallback) bind -> 10.1.0.3:8080']);
  });

  it('carries loadBalancerSourceRanges (spec, else the annotation) to the load-balancer IPs only; bad ranges are warned and skipped', () => {
    const status = { loadBalancer: { ingress: [{ ip: '203.0.113.5' }] } };
    const spec = { type: 'LoadBalancer', loadBalancerSourceRanges: ['198.51.100.0/24', ' 2001:DB8::/32', 'nope', '10.0.0.0/33'], ports: [{ name: 'http', port: 80, nodePort: 30080 }] };
    const r = run({ services: [web(spec, { status })], endpointSlices: [webSlice([{ ip: '10.1.0.1' }])] });
    expect(r.vips.map((v) => [v.kind, v.sourceRanges])).toEqual([
      ['cluster IP', undefined],
      ['load balancer IP', ['198.51.100.0/24', '2001:db8::/32']],
      ['node port', undefined],
    ]);
    expect(r.warnings.filter((w) => w.reason === 'InvalidSourceRange').map((w) => w.message)).toEqual([
      'loadBalancerSourceRanges entry "nope" is not a CIDR; ignored',
      'loadBalancerSourceRanges entry "10.0.0.0/33" is not a CIDR; ignored',
    ]);
    const annotated = web({ type: 'LoadBalancer', ports: [{ name: 'http', port: 80, nodePort: 30080 }] }, {
      status,
      annotations: { 'service.beta.kubernetes.io/load-balancer-source-ranges': '192.0.2.0/24, 198.51.100.7/32' },
    });
    expect(run({ services: [annotated], endpointSlices: [webSlice([{ ip: '10.1.0.1' }])] }).vips[1].sourceRanges).toEqual(['192.0.2.0/24', '198.51.100.7/32']);
  });

  it('a bad healthCheckNodePort is warned about and ignored; the Service is still programmed', () => {
    const status = { loadBalancer: { ingress: [{ ip: '203.0.113.5' }] } };
    const spec = { type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 70000, ports: [{ name: 'http', port: 80, nodePort: 30080 }] };
    const r = run({ services: [web(spec, { status })], endpointSlices: [webSlice([{ ip: '10.1.0.1', node: NODE }])] });
    expect(r.warnings.filter((w) => w.reason === 'InvalidPort').map((w) => w.message)).toEqual(['spec.healthCheckNodePort 70000 is not a port number; no health check served']);
    expect(lines(r.state)).toContain('tcp 203.0.113.5:80 mh(port,fallback) bind -> 10.1.0.1:8080');
  });

  it('ignores the LB status of a Service that is not type LoadBalancer', () => {
    const svc = web({}, { status: { loadBalancer: { ingress: [{ ip: '203.0.113.5' }] } } });
    expect(run({ services: [svc] }).state.services).toHaveLength(1);
  });
});

describe('session affinity (TestSessionAffinity)', () => {
  it('ClientIP -> persistent with the Service timeout', () => {
    const svc = web({ sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 300 } } });
    const s = run({ services: [svc] }).state.services[0];
    expect(s.config.flags).toEqual({ portHash: true, fallback: true, persistent: true });
    expect(s.config.timeout).toBe(300);
  });

  it('ClientIP without a timeout uses 10800 s; a bad timeout warns and uses 10800', () => {
    expect(run({ services: [web({ sessionAffinity: 'ClientIP' })] }).state.services[0].config.timeout).toBe(10800);
    const r = run({ services: [web({ sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 999999 } } })] });
    expect(r.state.services[0].config.timeout).toBe(10800);
    expect(r.warnings[0]).toMatchObject({ kind: 'Service', object: 'ns1/web', reason: 'InvalidSessionAffinity' });
  });

  it('None -> not persistent, timeout 0', () => {
    const s = run({ services: [web()] }).state.services[0];
    expect(s.config.flags.persistent).toBeUndefined();
    expect(s.config.timeout).toBe(0);
  });
});

describe('endpoint conditions (Test_EndpointSliceReadyAndTerminating*)', () => {
  it('uses ready endpoints only while any is ready', () => {
    const eps = [
      { ip: '10.1.0.1', ready: true, serving: true, terminating: false },
      { ip: '10.1.0.2', ready: false, serving: true, terminating: true },
      { ip: '10.1.0.3', ready: false, serving: false, terminating: true },
      { ip: '10.1.0.4', ready: false, serving: false, terminating: false },
    ];
    expect(lines(run({ services: [web()], endpointSlices: [webSlice(eps)] }).state)).toEqual(['tcp 10.96.0.10:80 mh(port,fallback) bind -> 10.1.0.1:8080']);
  });

  it('falls back to serving+terminating endpoints when none is ready (OnlyReadyAndTerminating)', () => {
    const eps = [
      { ip: '10.1.0.2', ready: false, serving: true, terminating: true },
      { ip: '10.1.0.3', ready: false, serving: false, terminating: true },
      { ip: '10.1.0.4', ready: false, serving: true, terminating: false },
    ];
    expect(lines(run({ services: [web()], endpointSlices: [webSlice(eps)] }).state)).toEqual(['tcp 10.96.0.10:80 mh(port,fallback) bind -> 10.1.0.2:8080']);
  });

  it('treats missing conditions as ready and not terminating (API semantics)', () => {
    expect(run({ services: [web()], endpointSlices: [webSlice([{ ip: '10.1.0.1' }])] }).state.services[0].destinations).toHaveLength(1);
  });

  it('Local policy falls back to local serving+terminating endpoints even when remote ready ones exist', () => {
    const svc = web({ type: 'NodePort', externalTrafficPolicy: 'Local', ports: [{ name: 'http', port: 80, nodePort: 30080 }] });
    const eps = [
      { ip: '10.1.0.1', ready: true, node: 'node-b' },
      { ip: '10.1.0.2', ready: false, serving: true, terminating: true, node: NODE },
      { ip: '10.1.0.3', ready: false, serving: false, terminating: true, node: NODE },
    ];
    expect(lines(run({ services: [svc], endpointSlices: [webSlice(eps)] }).state)).toEqual([
      'tcp 10.96.0.10:80 mh(port,fallback) bind -> 10.1.0.1:8080',
      'tcp 192.168.0.10:30080 mh(port,fallback) -> 10.1.0.2:8080',
    ]);
  });
});

describe('internalTrafficPolicy (TestTestInternalTrafficPolicyE2E)', () => {
  const eps = [{ ip: '10.1.0.1', node: NODE }, { ip: '10.1.0.2', node: 'node-b' }, { ip: '10.1.0.3', node: NODE }];
  it('Cluster -> all endpoints', () => {
    expect(run({ services: [web({ internalTrafficPolicy: 'Cluster' })], endpointSlices: [webSlice(eps)] }).state.services[0].destinations).toHaveLength(3);
  });
  it('Local -> only this node’s endpoints on the cluster IP, all on node ports', () => {
    const svc = web({ internalTrafficPolicy: 'Local', type: 'NodePort', ports: [{ name: 'http', port: 80, nodePort: 30080 }] });
    expect(lines(run({ services: [svc], endpointSlices: [webSlice(eps)] }).state)).toEqual([
      'tcp 10.96.0.10:80 mh(port,fallback) bind -> 10.1.0.1:8080 10.1.0.3:8080',
      'tcp 192.168.0.10:30080 mh(port,fallback) -> 10.1.0.1:8080 10.1.0.2:8080 10.1.0.3:8080',
    ]);
  });
  it('Local with no local endpoints -> virtual server with no destinations', () => {
    expect(run({ services: [web({ internalTrafficPolicy: 'Local' })], endpointSlices: [webSlice([{ ip: '10.1.0.2', node: 'node-b' }])] }).state.services[0].destinations).toEqual([]);
  });
});

describe('topology hints (TestTopologyHints)', () => {
  const zoneNode = node(NODE, [{ type: 'InternalIP', address: '192.168.0.10' }], 'zone-a');
  const hinted = [
    { ip: '10.1.0.1', zones: ['zone-a'] },
    { ip: '10.1.0.2', zones: ['zone-b'] },
    { ip: '10.1.0.3', zones: ['zone-a', 'zone-b'] },
  ];
  const topo = { annotations: { 'service.kubernetes.io/topology-mode': 'Auto' } };
  it('narrows to endpoints hinted for our zone when the Service asks for it', () => {
    const r = run({ services: [web({}, topo)], endpointSlices: [webSlice(hinted)], nodes: [zoneNode] });
    expect(lines(r.state)).toEqual(['tcp 10.96.0.10:80 mh(port,fallback) bind -> 10.1.0.1:8080 10.1.0.3:8080']);
    const r2 = run({ services: [web({ trafficDistribution: 'PreferClose' })], endpointSlices: [webSlice(hinted)], nodes: [zoneNode] });
    expect(r2.state.services[0].destinations).toHaveLength(2);
  });
  it('uses all endpoints when the Service does not ask, when one endpoint lacks hints, or when no hint is for our zone', () => {
    expect(run({ services: [web()], endpointSlices: [webSlice(hinted)], nodes: [zoneNode] }).state.services[0].destinations).toHaveLength(3);
    const missing = [...hinted, { ip: '10.1.0.4' }];
    expect(run({ services: [web({}, topo)], endpointSlices: [webSlice(missing)], nodes: [zoneNode] }).state.services[0].destinations).toHaveLength(4);
    const otherZone = [{ ip: '10.1.0.2', zones: ['zone-b'] }, { ip: '10.1.0.5', zones: ['zone-c'] }];
    expect(run({ services: [web({}, topo)], endpointSlices: [webSlice(otherZone)], nodes: [zoneNode] }).state.services[0].destinations).toHaveLength(2);
  });
});

describe('annotations', () => {
  it('chooses another scheduler (no mh flags) and turns mh flags off', () => {
    const rr = run({ services: [web({}, { annotations: { 'ipvs-maglev.io/scheduler': 'wrr' } })] });
    expect(rr.warnings).toEqual([]);
    expect(rr.state.services[0].config.scheduler).toBe('wrr');
    expect(rr.state.services[0].config.flags).toEqual({});
    const noPort = run({ services: [web({}, { annotations: { 'ipvs-maglev.io/mh-port': 'false', 'ipvs-maglev.io/mh-fallback': 'False' } })] });
    expect(noPort.state.services[0].config.flags).toEqual({ portHash: false, fallback: false });
  });

  it('reports invalid values and uses the defaults', () => {
    const r = run({ services: [web({}, { annotations: { 'ipvs-maglev.io/scheduler': 'maglev', 'ipvs-maglev.io/mh-port': 'yes' } })] });
    expect(r.state.services[0].config).toMatchObject({ scheduler: 'mh', flags: { portHash: true, fallback: true } });
    expect(r.warnings.map((w) => [w.object, w.reason])).toEqual([
      ['ns1/web', 'InvalidAnnotation'],
      ['ns1/web', 'InvalidAnnotation'],
    ]);
    expect(r.warnings[0].message).toContain('"maglev" is not an IPVS scheduler');
    expect(r.warnings[1].message).toContain('ipvs-maglev.io/mh-port: "yes" is not "true" or "false"');
  });

  it('warns that mh flags are ignored with another scheduler', () => {
    const r = run({ services: [web({}, { annotations: { 'ipvs-maglev.io/scheduler': 'rr', 'ipvs-maglev.io/mh-fallback': 'false' } })] });
    expect(r.warnings[0].message).toContain('ignored');
  });
});

describe('malformed objects: warnings, never a crash', () => {
  const bad: [string, unknown][] = [
    ['not an object', 42],
    ['null', null],
    ['no name', { metadata: {}, spec: { clusterIP: '10.96.0.1', ports: [{ port: 80 }] } }],
    ['bad cluster IP', service('ns1', 'x', { clusterIP: '10.96.0.300', ports: [{ port: 80 }] })],
    ['no cluster IP', service('ns1', 'x', { ports: [{ port: 80 }] })],
    ['bad type', service('ns1', 'x', { type: 'Magic', clusterIP: '10.96.0.1', ports: [{ port: 80 }] })],
    ['two v4 cluster IPs', service('ns1', 'x', { clusterIPs: ['10.96.0.1', '10.96.0.2'], ports: [{ port: 80 }] })],
  ];
  for (const [what, obj] of bad) {
    it(`skips a Service with ${what}`, () => {
      const r = run({ services: [obj, web()] });
      expect(r.state.services).toHaveLength(1);
      expect(r.warnings.length).toBeGreaterThan(0);
    });
  }

  it('skips bad ports but keeps the good ones', () => {
    const svc = web({ ports: [{ port: 0 }, { port: 'http' }, { port: 81, protocol: 'ICMP' }, { name: 'ok', port: 82 }, { port: 82 }] });
    const r = run({ services: [svc] });
    expect(lines(r.state)).toEqual(['tcp 10.96.0.10:82 mh(port,fallback) bind ->']);
    expect(r.warnings.map((w) => w.reason)).toEqual(['InvalidPort', 'InvalidPort', 'InvalidPort', 'InvalidPort']);
  });

  it('skips bad slices and endpoints', () => {
    const badType = { ...webSlice([{ ip: '10.1.0.1' }]), addressType: 'IPX' };
    const badEp = webSlice([{ ip: 'zzz' }, { ip: 'fd00::1' }, { ip: '10.1.0.7' }]);
    const notObject = 'slice';
    const r = run({ services: [web()], endpointSlices: [badType, badEp, notObject, { metadata: { name: 'x' }, endpoints: 'oops' }] });
    expect(lines(r.state)).toEqual(['tcp 10.96.0.10:80 mh(port,fallback) bind -> 10.1.0.7:8080']);
    expect(r.warnings.map((w) => w.reason)).toEqual(['InvalidEndpointSlice', 'InvalidEndpoint', 'InvalidEndpoint', 'MalformedObject']);
  });

  it('two Services claiming the same external IP and port: the first by namespace/name wins, the other is warned', () => {
    const a = service('ns1', 'a', { clusterIP: '10.96.0.1', externalIPs: ['198.51.100.1'], ports: [{ port: 80 }] });
    const b = service('ns1', 'b', { clusterIP: '10.96.0.2', externalIPs: ['198.51.100.1'], ports: [{ port: 80 }] });
    for (const order of [[a, b], [b, a]]) {
      const r = run({ services: order });
      expect(r.state.services.map((s) => s.name)).toEqual(['ns1/a:80', 'ns1/a:80 external IP', 'ns1/b:80']);
      expect(r.warnings).toEqual([expect.objectContaining({ object: 'ns1/b', reason: 'VirtualServerConflict' })]);
    }
  });

  it('rejects a bad --node-ip with a typed error', () => {
    expect(() => run({ services: [web()] }, { nodeName: NODE, nodeIPs: ['1.2.3'] })).toThrow(/--node-ip: "1.2.3" is not an IP address/);
  });
});
