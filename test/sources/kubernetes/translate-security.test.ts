import { describe, expect, it } from 'vitest';
import { serviceKeyString } from '../../../src/ipvs/keys.ts';
import { ClusterState } from '../../../src/sources/kubernetes/cluster-state.ts';
import { OBJECT_CAPS, parseService } from '../../../src/sources/kubernetes/objects.ts';
import { type KubernetesObjects, MAX_VIRTUAL_SERVERS_PER_SERVICE, type TranslateOptions, translate } from '../../../src/sources/kubernetes/translate.ts';
import type { KubeObject } from '../../../src/testing/fake-apiserver.ts';
import { node, service, slice } from './builders.ts';

// One namespace must not take another's address (issue 11, CVE-2020-8554's class): cluster IPs and node ports
// always win; external and load-balancer IPs that are a cluster IP, a node address or a loopback, link-local,
// multicast, unspecified or broadcast address are refused with a warning; among equals the older Service wins.
// And the work per object is linear with stated caps.

const NODE = 'node-a';
const OPTS: TranslateOptions = { nodeName: NODE, nodeIPs: ['192.168.0.10'] };

function run(objs: Partial<KubernetesObjects>, opts: TranslateOptions = OPTS) {
  return translate({ services: objs.services ?? [], endpointSlices: objs.endpointSlices ?? [], nodes: objs.nodes ?? [] }, opts);
}

/** "proto addr:port <- namespace/name" per virtual server. */
function owners(objs: Partial<KubernetesObjects>, opts?: TranslateOptions): string[] {
  return run(objs, opts).state.services.map((s) => `${serviceKeyString(s.key)} <- ${s.name.split(':')[0]}`);
}

function created(obj: KubeObject, at: string): KubeObject {
  return { ...obj, metadata: { ...obj.metadata, creationTimestamp: at } };
}

const kubeDns = service('kube-system', 'kube-dns', { clusterIP: '10.96.0.10', ports: [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, protocol: 'TCP' }] });

describe('address takeover across namespaces', () => {
  it('an external IP equal to a cluster IP is refused: attacker/evil cannot take cluster DNS (udp 10.96.0.10:53)', () => {
    const evil = service('attacker', 'evil', { clusterIP: '10.96.5.5', externalIPs: ['10.96.0.10'], ports: [{ port: 53, protocol: 'UDP' }] });
    const r = run({ services: [evil, kubeDns], endpointSlices: [slice('kube-system', 'kube-dns', 'dns-1', [{ name: 'dns', port: 53, protocol: 'UDP' }], [{ ip: '10.244.0.5' }])] });
    const dns = r.state.services.find((s) => serviceKeyString(s.key) === 'udp 10.96.0.10:53');
    expect(dns?.name).toBe('kube-system/kube-dns:dns');
    expect(dns?.destinations.map((d) => d.key.address)).toEqual(['10.244.0.5']);
    expect(owners({ services: [evil, kubeDns] })).toEqual(['udp 10.96.5.5:53 <- attacker/evil', 'udp 10.96.0.10:53 <- kube-system/kube-dns', 'tcp 10.96.0.10:53 <- kube-system/kube-dns']);
    expect(r.warnings).toContainEqual({ kind: 'Service', object: 'attacker/evil', reason: 'ExternalIPRefused', message: 'external IP 10.96.0.10 is the cluster IP of kube-system/kube-dns; refused' });
  });

  it('a cluster IP wins over an external IP even when the external IP\'s Service is older, and on any port', () => {
    const squatter = created(service('a', 'squat', { clusterIP: '10.96.9.9', externalIPs: ['10.96.0.10'], ports: [{ port: 8080 }] }), '2020-01-01T00:00:00Z');
    const later = created(kubeDns, '2024-01-01T00:00:00Z');
    expect(owners({ services: [squatter, later] })).not.toContain('tcp 10.96.0.10:8080 <- a/squat');
  });

  it('a node port wins over an external IP on a node address, and an external IP on a node address is refused (kubelet port 10250)', () => {
    const victim = service('prod', 'victim', { type: 'NodePort', clusterIP: '10.96.1.1', ports: [{ port: 80, nodePort: 30080 }] });
    const evil = service('dev', 'evil', { clusterIP: '10.96.2.2', externalIPs: ['192.168.0.10'], ports: [{ port: 30080 }, { port: 10250 }] });
    const r = run({ services: [evil, victim] });
    expect(owners({ services: [evil, victim] })).toEqual([
      'tcp 10.96.2.2:30080 <- dev/evil',
      'tcp 10.96.2.2:10250 <- dev/evil',
      'tcp 10.96.1.1:80 <- prod/victim',
      'tcp 192.168.0.10:30080 <- prod/victim',
    ]);
    expect(r.warnings).toContainEqual({
      kind: 'Service',
      object: 'dev/evil',
      reason: 'ExternalIPRefused',
      message: "external IP 192.168.0.10 is a node address; refused (it would capture the node's own ports)",
    });
  });

  it('every Node\'s addresses are reserved, not only this node\'s, and so are load-balancer ingress IPs on them', () => {
    const other = node('node-b', [{ type: 'InternalIP', address: '192.168.0.11' }, { type: 'ExternalIP', address: '203.0.113.11' }]);
    const lb = service('x', 'lb', { type: 'LoadBalancer', clusterIP: '10.96.3.3', externalIPs: ['192.168.0.11'], ports: [{ port: 443, nodePort: 30443 }] }, { status: { loadBalancer: { ingress: [{ ip: '203.0.113.11' }, { ip: '198.51.100.7' }] } } });
    const r = run({ services: [lb], nodes: [other] });
    expect(owners({ services: [lb], nodes: [other] })).toEqual(['tcp 10.96.3.3:443 <- x/lb', 'tcp 198.51.100.7:443 <- x/lb', 'tcp 192.168.0.10:30443 <- x/lb']);
    expect(r.warnings.map((w) => w.message)).toEqual([
      "external IP 192.168.0.11 is a node address; refused (it would capture the node's own ports)",
      "load-balancer IP 203.0.113.11 is a node address; refused (it would capture the node's own ports)",
    ]);
  });

  it('two claims of one node port: the older Service keeps it, not the one whose namespace sorts first', () => {
    const victim = created(service('prod', 'victim', { type: 'NodePort', clusterIP: '10.96.1.1', ports: [{ port: 80, nodePort: 30080 }] }), '2023-05-01T10:00:00Z');
    const evil = created(service('dev', 'evil', { type: 'NodePort', clusterIP: '10.96.2.2', ports: [{ port: 80, nodePort: 30080 }] }), '2025-01-01T00:00:00Z');
    const r = run({ services: [evil, victim] });
    expect(owners({ services: [evil, victim] })).toContain('tcp 192.168.0.10:30080 <- prod/victim');
    expect(owners({ services: [evil, victim] })).not.toContain('tcp 192.168.0.10:30080 <- dev/evil');
    expect(r.warnings).toContainEqual({ kind: 'Service', object: 'dev/evil', reason: 'VirtualServerConflict', message: 'tcp 192.168.0.10:30080 is already programmed for prod/victim; not programmed for dev/evil:80 node port' });
  });

  it('two Services with one external IP: the older keeps it; with no creation times, namespace/name order decides', () => {
    const a = created(service('zzz', 'first', { clusterIP: '10.96.1.1', externalIPs: ['198.51.100.1'], ports: [{ port: 80 }] }), '2021-01-01T00:00:00Z');
    const b = created(service('aaa', 'second', { clusterIP: '10.96.1.2', externalIPs: ['198.51.100.1'], ports: [{ port: 80 }] }), '2022-01-01T00:00:00Z');
    expect(owners({ services: [a, b] })).toContain('tcp 198.51.100.1:80 <- zzz/first');
    const plainA = service('zzz', 'first', { clusterIP: '10.96.1.1', externalIPs: ['198.51.100.1'], ports: [{ port: 80 }] });
    const plainB = service('aaa', 'second', { clusterIP: '10.96.1.2', externalIPs: ['198.51.100.1'], ports: [{ port: 80 }] });
    expect(owners({ services: [plainA, plainB] })).toContain('tcp 198.51.100.1:80 <- aaa/second');
  });

  it.each([
    ['127.0.0.1', 'loopback'],
    ['0.0.0.0', 'unspecified'],
    ['169.254.169.254', 'link-local'],
    ['224.0.0.251', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['::1', 'loopback'],
    ['fe80::1', 'link-local'],
    ['ff02::fb', 'multicast'],
  ])('an external or load-balancer IP %s (%s) is refused with a warning', (ip, kind) => {
    const svc = service('x', 'lb', { type: 'LoadBalancer', clusterIP: '10.96.3.3', externalIPs: [ip], ports: [{ port: 80, nodePort: 30081 }] }, { status: { loadBalancer: { ingress: [{ ip }] } } });
    const r = run({ services: [svc] }, { nodeName: NODE, nodeIPs: [] });
    expect(owners({ services: [svc] }, { nodeName: NODE, nodeIPs: [] })).toEqual(['tcp 10.96.3.3:80 <- x/lb']);
    expect(r.warnings.map((w) => `${w.reason}: ${w.message}`)).toEqual([
      `InvalidExternalIP: spec.externalIPs entry ${ip} is a ${kind} address; ignored`,
      `InvalidLoadBalancerIP: status.loadBalancer.ingress ip ${ip} is a ${kind} address; ignored`,
    ]);
  });

  it('a Service whose cluster IP is loopback is skipped', () => {
    const r = run({ services: [service('x', 'lo', { clusterIP: '127.0.0.1', ports: [{ port: 22 }] })] });
    expect(r.state.services).toEqual([]);
    expect(r.warnings[0].message).toBe('spec.clusterIPs has 127.0.0.1, a loopback address; the Service is skipped');
  });
});

describe('values the API server itself rejects', () => {
  it('node ports outside the node port range (nodePort: 22) are refused; --node-port-range widens it', () => {
    const ssh = service('x', 'ssh', { type: 'NodePort', clusterIP: '10.96.4.4', ports: [{ port: 22, nodePort: 22 }, { name: 'ok', port: 80, nodePort: 30080 }] });
    const r = run({ services: [ssh] });
    expect(owners({ services: [ssh] })).toEqual(['tcp 10.96.4.4:22 <- x/ssh', 'tcp 10.96.4.4:80 <- x/ssh', 'tcp 192.168.0.10:30080 <- x/ssh']);
    expect(r.warnings.map((w) => w.message)).toEqual(['spec.ports[0].nodePort 22 is outside the node port range 30000-32767 (--node-port-range); no node port for it']);
    expect(owners({ services: [ssh] }, { ...OPTS, nodePortRange: { min: 1, max: 32767 } })).toContain('tcp 192.168.0.10:22 <- x/ssh');
  });

  it('a health check node port outside the range is not served', () => {
    const lb = service('x', 'lb', { type: 'LoadBalancer', clusterIP: '10.96.3.3', externalTrafficPolicy: 'Local', healthCheckNodePort: 10250, ports: [{ port: 80, nodePort: 30081 }] });
    const p = parseService(lb);
    expect(p.value?.healthCheckNodePort).toBe(0);
    expect(p.warnings.map((w) => w.message)).toEqual(['spec.healthCheckNodePort 10250 is outside the node port range 30000-32767 (--node-port-range); no health check served']);
  });

  it('endpoints 127.0.0.1, 0.0.0.0, 169.254.169.254, ::1 and fe80::1 are skipped with a warning', () => {
    const web = service('ns1', 'web', { clusterIP: '10.96.0.50', ports: [{ port: 80 }] });
    const eps = slice('ns1', 'web', 'web-1', [{ port: 8080 }], [{ ip: '127.0.0.1' }, { ip: '0.0.0.0' }, { ip: '169.254.169.254' }, { ip: '10.244.1.1' }]);
    const r = run({ services: [web], endpointSlices: [eps] });
    expect(r.state.services[0].destinations.map((d) => d.key.address)).toEqual(['10.244.1.1']);
    expect(r.warnings.map((w) => w.message)).toEqual([
      'endpoints[0] address 127.0.0.1 is a loopback address; endpoint skipped',
      'endpoints[1] address 0.0.0.0 is a unspecified address; endpoint skipped',
      'endpoints[2] address 169.254.169.254 is a link-local address; endpoint skipped',
    ]);
    const v6 = slice('ns1', 'web', 'web-6', [{ port: 8080 }], [{ ip: '::1' }, { ip: 'fe80::1' }], 'IPv6');
    expect(run({ services: [web], endpointSlices: [v6] }).warnings).toHaveLength(2);
  });
});

describe('bounded work per object', () => {
  it('50,000 external IPs: linear de-duplication, only the first OBJECT_CAPS.externalIPs read, with a warning', () => {
    const ips = Array.from({ length: 50_000 }, (_, i) => `198.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    const t0 = performance.now();
    const p = parseService(service('x', 'many', { clusterIP: '10.96.7.7', externalIPs: ips, ports: [{ port: 80 }] }));
    const ms = performance.now() - t0;
    expect(p.value?.externalIPs).toHaveLength(OBJECT_CAPS.externalIPs);
    expect(p.warnings.map((w) => w.message)).toEqual([`spec.externalIPs has 50000 entries; only the first ${OBJECT_CAPS.externalIPs} are read (the per-object cap)`]);
    expect(ms).toBeLessThan(2000); // was 29 s in k8s translate (O(n^2)); a generous bound, not a benchmark
  });

  it('duplicates are removed linearly: 200,000 copies of one source range and of one port', () => {
    const lb = service(
      'x',
      'dup',
      { type: 'LoadBalancer', clusterIP: '10.96.7.8', loadBalancerSourceRanges: new Array(OBJECT_CAPS.sourceRanges).fill('10.0.0.0/8'), externalIPs: new Array(OBJECT_CAPS.externalIPs).fill('198.51.100.9'), ports: new Array(200_000).fill({ port: 80, nodePort: 30080 }) },
      {},
    );
    const p = parseService(lb);
    expect(p.value?.loadBalancerSourceRanges).toEqual(['10.0.0.0/8']);
    expect(p.value?.externalIPs.map((a) => a.address)).toEqual(['198.51.100.9']);
    expect(p.value?.ports).toHaveLength(1);
    expect(p.warnings.filter((w) => w.reason === 'TooManyEntries').map((w) => w.message)).toEqual([`spec.ports has 200000 entries; only the first ${OBJECT_CAPS.servicePorts} are read (the per-object cap)`]);
  });

  it('EndpointSlices are read up to the API server\'s own caps (1000 endpoints, 100 ports)', () => {
    const eps = slice('ns1', 'web', 'web-1', [{ port: 8080 }], Array.from({ length: 1500 }, (_, i) => ({ ip: `10.244.${i >> 8}.${i & 255}` })));
    const r = run({ services: [service('ns1', 'web', { clusterIP: '10.96.0.50', ports: [{ port: 80 }] })], endpointSlices: [eps] });
    expect(r.state.services[0].destinations).toHaveLength(OBJECT_CAPS.sliceEndpoints);
    expect(r.warnings.map((w) => w.message)).toEqual(['endpoints has 1500 entries; only the first 1000 are read (the per-object cap)']);
  });

  it('a Service whose ports x addresses exceed MAX_VIRTUAL_SERVERS_PER_SERVICE keeps its cluster IPs and drops its external IPs', () => {
    const ports = Array.from({ length: 1000 }, (_, i) => ({ name: `p${i}`, port: 1000 + i }));
    const ext = Array.from({ length: 10 }, (_, i) => `198.51.100.${i + 1}`);
    const r = run({ services: [service('x', 'wide', { clusterIP: '10.96.8.8', externalIPs: ext, ports })] });
    expect(r.state.services).toHaveLength(1000);
    expect(r.state.services.every((s) => s.key.kind === 'addr' && s.key.address === '10.96.8.8')).toBe(true);
    expect(r.warnings.map((w) => w.message)).toEqual([
      `the Service needs 11000 virtual servers, more than ${MAX_VIRTUAL_SERVERS_PER_SERVICE}; its external and load-balancer IPs are not programmed`,
    ]);
  });
});

describe('the controller\'s incremental state makes the same decisions', () => {
  it('an attacker added later is refused; the victim deleted, the address is free; a Node address change re-checks', () => {
    const warnings: string[] = [];
    const state = new ClusterState({ nodeName: NODE, nodeIPs: ['192.168.0.10'], onWarning: (w) => warnings.push(`${w.object}: ${w.message}`) });
    const apply = (kind: 'Service' | 'Node', type: 'add' | 'update' | 'delete', object: KubeObject) => state.apply({ kind, type, object, receivedAt: 0 });
    apply('Service', 'add', kubeDns);
    const keys = () => state.desired().state.services.map((s) => `${serviceKeyString(s.key)} <- ${s.name.split(':')[0]}`);
    expect(keys()).toEqual(['udp 10.96.0.10:53 <- kube-system/kube-dns', 'tcp 10.96.0.10:53 <- kube-system/kube-dns']);
    const evil = service('attacker', 'evil', { clusterIP: '10.96.5.5', externalIPs: ['10.96.0.10', '203.0.113.50'], ports: [{ port: 53, protocol: 'UDP' }] });
    apply('Service', 'add', evil);
    expect(keys()).toEqual(['udp 10.96.5.5:53 <- attacker/evil', 'udp 203.0.113.50:53 <- attacker/evil', 'udp 10.96.0.10:53 <- kube-system/kube-dns', 'tcp 10.96.0.10:53 <- kube-system/kube-dns']);
    expect(warnings).toEqual(['attacker/evil: external IP 10.96.0.10 is the cluster IP of kube-system/kube-dns; refused']);
    apply('Service', 'delete', kubeDns);
    expect(keys()).toEqual(['udp 10.96.5.5:53 <- attacker/evil', 'udp 10.96.0.10:53 <- attacker/evil', 'udp 203.0.113.50:53 <- attacker/evil']);
    // Another node takes 203.0.113.50 as its address: the external IP is refused from the next join on.
    apply('Node', 'add', node('node-b', [{ type: 'ExternalIP', address: '203.0.113.50' }]));
    expect(keys()).toEqual(['udp 10.96.5.5:53 <- attacker/evil', 'udp 10.96.0.10:53 <- attacker/evil']);
    expect(warnings.at(-1)).toBe("attacker/evil: external IP 203.0.113.50 is a node address; refused (it would capture the node's own ports)");
  });
});
