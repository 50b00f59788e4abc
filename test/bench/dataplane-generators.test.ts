import { describe, expect, it } from 'vitest';
import {
  countRules,
  expectedNatRules,
  fullRestoreRuleCount,
  iptablesChains,
  iptablesFullRestore,
  iptablesPartialRestore,
  iptablesTeardown,
  probability,
  serviceRules,
} from '../../bench/dataplane/kube-proxy-iptables.ts';
import { ipsetAdd, ipvsModeNatRules } from '../../bench/dataplane/kube-proxy-ipvs.ts';
import { base32, endpointChainName, nftEndpointChainName, nftServiceChainName, serviceChainName } from '../../bench/dataplane/kube-proxy-names.ts';
import { nftAddService, nftChangeEndpoints, nftFull, nftFullRuleCount, nftRuleCount } from '../../bench/dataplane/kube-proxy-nftables.ts';
import { type BenchService, clusterIpOf, makeWorkload, servicePortName, WorkloadError } from '../../bench/dataplane/workload.ts';

// The ClusterIP service with three endpoints of /work/shared/reference/kube-proxy.md, verbatim.
const REFERENCE = `-A KUBE-SERVICES -m comment --comment "ns1/svc1 cluster IP" -m tcp -p tcp -d 172.30.1.1 --dport 80 -j KUBE-SVC-AQI2S6QIMU7PVVRP
-A KUBE-SVC-AQI2S6QIMU7PVVRP -m comment --comment "ns1/svc1 cluster IP" -m tcp -p tcp -d 172.30.1.1 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-AQI2S6QIMU7PVVRP -m comment --comment "ns1/svc1 -> 10.0.1.1:80" -m statistic --mode random --probability 0.3333333333 -j KUBE-SEP-3JOIVZTXZZRGORX4
-A KUBE-SVC-AQI2S6QIMU7PVVRP -m comment --comment "ns1/svc1 -> 10.0.1.2:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-IO5XOSKPAXIFQXAJ
-A KUBE-SVC-AQI2S6QIMU7PVVRP -m comment --comment "ns1/svc1 -> 10.0.1.3:80" -j KUBE-SEP-XGJFVO3L2O5SRFNT
-A KUBE-SEP-3JOIVZTXZZRGORX4 -m comment --comment ns1/svc1 -s 10.0.1.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-3JOIVZTXZZRGORX4 -m comment --comment ns1/svc1 -m tcp -p tcp -j DNAT --to-destination 10.0.1.1:80
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE`.split('\n');

const svc1: BenchService = {
  namespace: 'ns1',
  name: 'svc1',
  portName: '',
  protocol: 'tcp',
  clusterIP: '172.30.1.1',
  port: 80,
  endpoints: [
    { ip: '10.0.1.1', port: 80 },
    { ip: '10.0.1.2', port: 80 },
    { ip: '10.0.1.3', port: 80 },
  ],
};
const opts = { clusterCidr: '10.0.0.0/8' };

function ruleLines(text: string): string[] {
  return text.split('\n').filter((l) => l.startsWith('-A '));
}

describe('kube-proxy chain names', () => {
  it('base32 matches RFC 4648 test vectors', () => {
    const enc = (s: string) => base32(new TextEncoder().encode(s));
    expect(enc('f')).toBe('MY');
    expect(enc('fo')).toBe('MZXQ');
    expect(enc('foobar')).toBe('MZXW6YTBOI');
  });
  it('reproduces the reference chain names', () => {
    expect(serviceChainName('ns1/svc1', 'tcp')).toBe('KUBE-SVC-AQI2S6QIMU7PVVRP');
    expect(serviceChainName('ns1/svc1', 'TCP')).toBe('KUBE-SVC-AQI2S6QIMU7PVVRP');
    expect(endpointChainName('ns1/svc1', 'tcp', '10.0.1.1:80')).toBe('KUBE-SEP-3JOIVZTXZZRGORX4');
    expect(endpointChainName('ns1/svc1', 'tcp', '10.0.1.2:80')).toBe('KUBE-SEP-IO5XOSKPAXIFQXAJ');
    expect(endpointChainName('ns1/svc1', 'tcp', '10.0.1.3:80')).toBe('KUBE-SEP-XGJFVO3L2O5SRFNT');
  });
  it('matches kube-proxy unit-test names for a named port', () => {
    // pkg/proxy/iptables/proxier_test.go: ns1/svc1 port p80 -> KUBE-SVC-XPGD46QRK7WJZT7O
    expect(serviceChainName('ns1/svc1:p80', 'tcp')).toBe('KUBE-SVC-XPGD46QRK7WJZT7O');
    expect(servicePortName({ namespace: 'ns1', name: 'svc1', portName: 'p80' })).toBe('ns1/svc1:p80');
    expect(servicePortName({ namespace: 'ns1', name: 'svc1', portName: '' })).toBe('ns1/svc1');
  });
  it('gives nftables chains their readable hashed names', () => {
    expect(nftServiceChainName('ns1', 'svc1', 'p80', 'tcp')).toMatch(/^service-[A-Z2-7]{8}-ns1\/svc1\/tcp\/p80$/);
    expect(nftEndpointChainName('ns1', 'svc1', 'p80', 'tcp', '10.180.0.1', 80)).toMatch(/^endpoint-[A-Z2-7]{8}-ns1\/svc1\/tcp\/p80__10\.180\.0\.1\/80$/);
  });
});

describe('iptables full restore', () => {
  it('produces exactly the reference rules for the reference service', () => {
    const text = iptablesFullRestore([svc1], opts);
    const lines = ruleLines(text);
    // Every reference line appears verbatim, in the reference's relative order within each chain.
    for (const ref of REFERENCE) expect(lines).toContain(ref);
    const chainOf = (l: string) => l.split(' ')[1];
    for (const chain of new Set(REFERENCE.map(chainOf))) {
      const got = lines.filter((l) => chainOf(l) === chain);
      const want = REFERENCE.filter((l) => chainOf(l) === chain);
      expect(got.slice(0, want.length)).toEqual(want);
    }
  });
  it('declares every chain before its rules and ends with COMMIT', () => {
    const text = iptablesFullRestore([svc1], opts);
    const lines = text.split('\n');
    expect(lines[0]).toBe('*nat');
    expect(lines.at(-2)).toBe('COMMIT');
    const declared = new Set(lines.filter((l) => l.startsWith(':')).map((l) => l.slice(1).split(' ')[0]));
    for (const l of ruleLines(text)) expect(declared.has(l.split(' ')[1])).toBe(true);
    expect(declared.size).toBe(4 + 1 + 3);
  });
  it('keeps KUBE-NODEPORTS as the last KUBE-SERVICES rule', () => {
    const w = makeWorkload({ services: 5, pods: ['10.0.1.1', '10.0.1.2'], endpointsPerService: 2, targetPort: 8080, servicePort: 80 });
    const services = ruleLines(iptablesFullRestore(w, opts)).filter((l) => l.startsWith('-A KUBE-SERVICES '));
    expect(services).toHaveLength(6);
    expect(services.at(-1)).toContain('-j KUBE-NODEPORTS');
    expect(services[0]).toContain('-d 172.30.0.1 ');
    expect(services[4]).toContain('-d 172.30.0.5 ');
  });
  it.each([
    [1, 1],
    [3, 4],
    [100, 4],
    [1000, 7],
  ])('has 5 + S*(2+3E) rules for S=%i, E=%i', (s, e) => {
    const pods = Array.from({ length: e }, (_, i) => `10.0.1.${i + 1}`);
    const w = makeWorkload({ services: s, pods, endpointsPerService: e, targetPort: 8080, servicePort: 80 });
    expect(countRules(iptablesFullRestore(w, opts))).toBe(expectedNatRules(s, e));
  });
  it('prints 1/(n-i) with ten decimals and gives the last endpoint no statistic', () => {
    expect([0, 1, 2, 3].map((i) => probability(i, 4))).toEqual(['0.2500000000', '0.3333333333', '0.5000000000', '1.0000000000']);
    const r = serviceRules({ ...svc1, endpoints: svc1.endpoints.slice(0, 1) }, opts);
    expect(r.chainRules[1]).not.toContain('statistic');
  });
});

describe('iptables partial restore', () => {
  const pods = ['10.0.1.1', '10.0.1.2', '10.0.1.3', '10.0.1.4', '10.0.1.5'];
  const before = makeWorkload({ services: 50, pods: pods.slice(0, 4), endpointsPerService: 4, targetPort: 8080, servicePort: 80 });

  it('adding a service rewrites KUBE-SERVICES and the new chains only', () => {
    const extra = makeWorkload({ services: 51, pods: pods.slice(0, 4), endpointsPerService: 4, targetPort: 8080, servicePort: 80 })[50];
    const after = [...before, extra];
    const text = iptablesPartialRestore(before, after, opts);
    const declared = text.split('\n').filter((l) => l.startsWith(':'));
    expect(declared).toHaveLength(4 + 1 + 4);
    const rules = ruleLines(text);
    expect(rules.filter((l) => l.startsWith('-A KUBE-SERVICES '))).toHaveLength(52);
    const r = serviceRules(extra, opts);
    for (const rule of r.chainRules) expect(rules).toContain(rule);
    expect(text).not.toContain('-X ');
    // Applying it over the old full state gives the same rules as a full restore of the new state.
    expect(applyRestore(applyRestore(new Map(), iptablesFullRestore(before, opts)), text)).toEqual(
      applyRestore(new Map(), iptablesFullRestore(after, opts)),
    );
  });

  it('changing one endpoint rewrites that service, declares the new SEP chain and deletes the old one', () => {
    const after = before.map((s, i) => (i === 7 ? { ...s, endpoints: [...s.endpoints.slice(0, 3), { ip: '10.0.1.5', port: 8080 }] } : s));
    const text = iptablesPartialRestore(before, after, opts);
    const oldSep = serviceRules(before[7], opts).sepChains[3];
    const newSep = serviceRules(after[7], opts).sepChains[3];
    expect(text).toContain(`:${newSep} - [0:0]`);
    expect(text).toContain(`-X ${oldSep}`);
    expect(applyRestore(applyRestore(new Map(), iptablesFullRestore(before, opts)), text)).toEqual(
      applyRestore(new Map(), iptablesFullRestore(after, opts)),
    );
  });

  it('teardown declares and deletes every chain', () => {
    const t = iptablesTeardown(iptablesChains(before, opts));
    expect(t.split('\n').filter((l) => l.startsWith('-X ')).length).toBe(4 + 50 * 5);
  });
});

/** A model of `iptables-restore --noflush`: a declared chain is flushed (created if new), -A appends, -X deletes. */
function applyRestore(state: Map<string, string[]>, text: string): Map<string, string[]> {
  const next = new Map([...state].map(([k, v]) => [k, [...v]]));
  for (const line of text.split('\n')) {
    if (line.startsWith(':')) next.set(line.slice(1).split(' ')[0], []);
    else if (line.startsWith('-A ')) next.get(line.split(' ')[1])!.push(line);
    else if (line.startsWith('-X ')) next.delete(line.slice(3));
  }
  return new Map([...next].sort(([a], [b]) => a.localeCompare(b)));
}

describe('IPVS mode iptables and ipsets', () => {
  it('has a constant number of nat rules and one ipset entry per service plus one per pod', () => {
    expect(countRules(ipvsModeNatRules('10.0.0.0/8'))).toBe(8);
    const w = makeWorkload({ services: 10, pods: ['10.0.1.1', '10.0.1.2', '10.0.1.3'], endpointsPerService: 2, targetPort: 8080, servicePort: 80 });
    const lines = ipsetAdd(w).split('\n').filter((l) => l.startsWith('add '));
    expect(lines.filter((l) => l.startsWith('add KUBE-CLUSTER-IP '))).toHaveLength(10);
    expect(lines.filter((l) => l.startsWith('add KUBE-LOOP-BACK '))).toEqual([
      'add KUBE-LOOP-BACK 10.0.1.1,6:8080,10.0.1.1',
      'add KUBE-LOOP-BACK 10.0.1.2,6:8080,10.0.1.2',
      'add KUBE-LOOP-BACK 10.0.1.3,6:8080,10.0.1.3',
    ]);
    // The protocol number, not "tcp": ipset would read /etc/protocols for every entry (see IP_PROTOCOL_NUMBER).
    expect(lines[0]).toBe('add KUBE-CLUSTER-IP 172.30.0.1,6:80');
  });
});

describe('nftables mode', () => {
  const w = makeWorkload({ services: 20, pods: ['10.0.1.1', '10.0.1.2', '10.0.1.3'], endpointsPerService: 3, targetPort: 8080, servicePort: 80 });
  it('uses one verdict map element per service and numgen in the service chain', () => {
    const text = nftFull(w, opts);
    expect(text.split('\n').filter((l) => l.startsWith('add element ip kube-proxy service-ips '))).toHaveLength(20);
    expect(text).toContain('add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips');
    expect(text).toMatch(/numgen random mod 3 vmap \{ 0 : goto endpoint-\S+ , 1 : goto endpoint-\S+ , 2 : goto endpoint-\S+ \}/);
    // 8 base rules, then per service 2 service-chain rules and 2 per endpoint.
    expect(nftRuleCount(text)).toBe(8 + 20 * (2 + 2 * 3));
  });
  it('adds a service and changes an endpoint in small transactions', () => {
    expect(nftRuleCount(nftAddService(w[0], opts))).toBe(2 + 2 * 3);
    const after = { ...w[3], endpoints: [w[3].endpoints[0], w[3].endpoints[1], { ip: '10.0.1.9', port: 8080 }] };
    const t = nftChangeEndpoints(w[3], after, opts);
    expect(t).toContain('flush chain ip kube-proxy service-');
    expect(t.split('\n').filter((l) => l.startsWith('delete chain '))).toHaveLength(1);
    expect(t.split('\n').filter((l) => l.startsWith('add chain '))).toHaveLength(1);
  });
});

describe('workload', () => {
  it('allocates distinct cluster IPs and rejects bad sizes', () => {
    expect(clusterIpOf(0)).toBe('172.30.0.1');
    expect(clusterIpOf(253)).toBe('172.30.0.254');
    expect(clusterIpOf(254)).toBe('172.30.1.1');
    const w = makeWorkload({ services: 10000, pods: ['10.0.1.1'], endpointsPerService: 1, targetPort: 8080, servicePort: 80 });
    expect(new Set(w.map((s) => s.clusterIP)).size).toBe(10000);
    expect(() => makeWorkload({ services: 0, pods: ['a'], endpointsPerService: 1, targetPort: 1, servicePort: 1 })).toThrow(WorkloadError);
    expect(() => makeWorkload({ services: 1, pods: ['a'], endpointsPerService: 2, targetPort: 1, servicePort: 1 })).toThrow(WorkloadError);
  });
});

describe('remembered per-service text', () => {
  const pods = ['10.0.1.1', '10.0.1.2', '10.0.1.3', '10.0.1.4'];
  const opts = { clusterCidr: '10.0.0.0/8' };
  it('gives the same payloads and counts as building from scratch, per CIDR', () => {
    const w = makeWorkload({ services: 50, pods, endpointsPerService: 4, targetPort: 8080, servicePort: 80 });
    const fresh = makeWorkload({ services: 50, pods, endpointsPerService: 4, targetPort: 8080, servicePort: 80 });
    const first = iptablesFullRestore(w, opts);
    expect(iptablesFullRestore(w, opts)).toBe(first);
    expect(iptablesFullRestore(fresh, opts)).toBe(first);
    expect(fullRestoreRuleCount(w, opts)).toBe(countRules(first));
    expect(fullRestoreRuleCount(w, opts)).toBe(expectedNatRules(50, 4));
    expect(iptablesFullRestore(w, { clusterCidr: '10.1.0.0/16' })).toContain('! -s 10.1.0.0/16');
    const nft = nftFull(w, opts);
    expect(nftFull(w, opts)).toBe(nft);
    expect(nftFullRuleCount(w, opts)).toBe(nftRuleCount(nft));
  });
  it('sees a changed service as new text (services are immutable objects)', () => {
    const w = makeWorkload({ services: 3, pods, endpointsPerService: 2, targetPort: 8080, servicePort: 80 });
    iptablesFullRestore(w, opts);
    const changed = w.map((s, i) => (i === 1 ? { ...s, endpoints: [s.endpoints[0], { ip: '10.0.1.9', port: 8080 }] } : s));
    expect(iptablesFullRestore(changed, opts)).toContain('--to-destination 10.0.1.9:8080');
    expect(iptablesPartialRestore(w, changed, opts)).toContain('--to-destination 10.0.1.9:8080');
    expect(nftChangeEndpoints(w[1], changed[1], opts)).toContain('dnat to 10.0.1.9:8080');
  });
});
