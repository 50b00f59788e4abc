// kube-proxy's iptables mode, rule for rule (pkg/proxy/iptables/proxier.go, ClusterIP services):
// the nat table text it hands to `iptables-restore --noflush --counters`, in full (every sync of
// older kube-proxy) and partial (kube-proxy >= 1.26 rewrites only the top-level chains and the
// chains of services that changed). Pure: text in, text out.
import { endpointChainName, serviceChainName } from './kube-proxy-names.ts';
import { type BenchService, servicePortName } from './workload.ts';

export const MASQ_MARK = '0x4000';

export interface IptablesOptions {
  /** Traffic from outside this CIDR to a cluster IP is masqueraded (kube-proxy --cluster-cidr). */
  clusterCidr: string;
}

/** The rules kube-proxy keeps in its own top-level chains, independent of the services. */
const TOP_CHAINS = ['KUBE-SERVICES', 'KUBE-NODEPORTS', 'KUBE-POSTROUTING', 'KUBE-MARK-MASQ'] as const;

/**
 * Jumps from the built-in chains. kube-proxy installs these with `iptables -C`/`-I`, outside the
 * restore payload, so they are not part of the rule count either.
 */
export function iptablesHooks(): string {
  return [
    '*nat',
    ':KUBE-SERVICES - [0:0]',
    ':KUBE-POSTROUTING - [0:0]',
    '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
    'COMMIT',
    '',
  ].join('\n');
}

/** Removes the hooks and every chain named in `chains` (for tearing a benchmark down). */
export function iptablesTeardown(chains: Iterable<string>): string {
  const lines = ['*nat'];
  lines.push('-D PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES');
  lines.push('-D OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES');
  lines.push('-D POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING');
  const all = [...new Set(chains)];
  for (const c of all) lines.push(`:${c} - [0:0]`);
  for (const c of all) lines.push(`-X ${c}`);
  lines.push('COMMIT', '');
  return lines.join('\n');
}

function topRules(): { postrouting: string[]; markMasq: string[] } {
  return {
    postrouting: [
      `-A KUBE-POSTROUTING -m mark ! --mark ${MASQ_MARK}/${MASQ_MARK} -j RETURN`,
      `-A KUBE-POSTROUTING -j MARK --xor-mark ${MASQ_MARK}`,
      '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE',
    ],
    markMasq: [`-A KUBE-MARK-MASQ -j MARK --or-mark ${MASQ_MARK}`],
  };
}

const NODEPORTS_JUMP =
  '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS';

/** The chains and rules one service port owns, plus its jump in KUBE-SERVICES. */
export interface ServiceRules {
  readonly svcChain: string;
  readonly sepChains: readonly string[];
  readonly servicesJump: string;
  /** Rules of the KUBE-SVC chain followed by the rules of each KUBE-SEP chain. */
  readonly chainRules: readonly string[];
}

/** Probability for endpoint i of n: 1/(n-i) with 10 decimals, as Go's "%0.10f" prints it. */
export function probability(i: number, n: number): string {
  return (1 / (n - i)).toFixed(10);
}

// Every payload is built from the rules of each service; a benchmark step regenerates them for
// all N services several times (full and partial restores, counts, teardown). Under emulation
// the hashing and string building of 10,000 services costs tens of seconds per pass, so the
// rules of a service object are remembered (service objects are immutable; a changed service
// is a new object).
const rulesCache = new WeakMap<BenchService, Map<string, ServiceRules>>();

export function serviceRules(svc: BenchService, opts: IptablesOptions): ServiceRules {
  let byCidr = rulesCache.get(svc);
  if (!byCidr) {
    byCidr = new Map();
    rulesCache.set(svc, byCidr);
  }
  let r = byCidr.get(opts.clusterCidr);
  if (!r) {
    r = buildServiceRules(svc, opts);
    byCidr.set(opts.clusterCidr, r);
  }
  return r;
}

function buildServiceRules(svc: BenchService, opts: IptablesOptions): ServiceRules {
  const spn = servicePortName(svc);
  const proto = svc.protocol;
  const svcChain = serviceChainName(spn, proto);
  const match = `-m ${proto} -p ${proto} -d ${svc.clusterIP} --dport ${svc.port}`;
  const servicesJump = `-A KUBE-SERVICES -m comment --comment "${spn} cluster IP" ${match} -j ${svcChain}`;
  const svcRules = [`-A ${svcChain} -m comment --comment "${spn} cluster IP" ${match} ! -s ${opts.clusterCidr} -j KUBE-MARK-MASQ`];
  const sepRules: string[] = [];
  const sepChains: string[] = [];
  const n = svc.endpoints.length;
  for (let i = 0; i < n; i++) {
    const ep = svc.endpoints[i];
    const hostPort = `${ep.ip}:${ep.port}`;
    const sep = endpointChainName(spn, proto, hostPort);
    sepChains.push(sep);
    const stat = i < n - 1 ? ` -m statistic --mode random --probability ${probability(i, n)}` : '';
    svcRules.push(`-A ${svcChain} -m comment --comment "${spn} -> ${hostPort}"${stat} -j ${sep}`);
    sepRules.push(`-A ${sep} -m comment --comment ${quoteIfNeeded(spn)} -s ${ep.ip} -j KUBE-MARK-MASQ`);
    sepRules.push(`-A ${sep} -m comment --comment ${quoteIfNeeded(spn)} -m ${proto} -p ${proto} -j DNAT --to-destination ${hostPort}`);
  }
  return { svcChain, sepChains, servicesJump, chainRules: [...svcRules, ...sepRules] };
}

function quoteIfNeeded(s: string): string {
  return /[\s"]/.test(s) ? JSON.stringify(s) : s;
}

function assemble(declared: readonly string[], rules: readonly string[], deleted: readonly string[]): string {
  const lines: string[] = ['*nat'];
  for (const c of declared) lines.push(`:${c} - [0:0]`);
  for (const r of rules) lines.push(r);
  for (const c of deleted) lines.push(`-X ${c}`);
  lines.push('COMMIT', '');
  return lines.join('\n');
}

/** Everything kube-proxy writes on a full sync: every chain declared (hence flushed) and refilled. */
export function iptablesFullRestore(services: readonly BenchService[], opts: IptablesOptions): string {
  const declared: string[] = [...TOP_CHAINS];
  const top = topRules();
  const serviceJumps: string[] = [];
  const chainRules: string[] = [];
  for (const svc of services) {
    const r = serviceRules(svc, opts);
    declared.push(r.svcChain, ...r.sepChains);
    serviceJumps.push(r.servicesJump);
    for (const rule of r.chainRules) chainRules.push(rule);
  }
  return assemble(declared, [...top.postrouting, ...top.markMasq, ...serviceJumps, NODEPORTS_JUMP, ...chainRules], []);
}

/**
 * A partial sync from `before` to `after`: the top-level chains are always rewritten in full
 * (KUBE-SERVICES lists every service), the chains of services whose rules changed are declared
 * and refilled, chains that no longer exist are declared and deleted, all other chains are left
 * alone (not named in the payload, so iptables-restore --noflush keeps them).
 */
export function iptablesPartialRestore(before: readonly BenchService[], after: readonly BenchService[], opts: IptablesOptions): string {
  const old = new Map<string, ServiceRules>();
  for (const svc of before) {
    const r = serviceRules(svc, opts);
    old.set(r.svcChain, r);
  }
  const declared: string[] = [...TOP_CHAINS];
  const top = topRules();
  const serviceJumps: string[] = [];
  const changedRules: string[] = [];
  const live = new Set<string>();
  for (const svc of after) {
    const r = serviceRules(svc, opts);
    serviceJumps.push(r.servicesJump);
    live.add(r.svcChain);
    for (const c of r.sepChains) live.add(c);
    const prev = old.get(r.svcChain);
    if (prev && sameRules(prev, r)) continue;
    declared.push(r.svcChain, ...r.sepChains);
    for (const rule of r.chainRules) changedRules.push(rule);
  }
  const deleted: string[] = [];
  for (const r of old.values()) {
    for (const c of [r.svcChain, ...r.sepChains]) if (!live.has(c)) deleted.push(c);
  }
  declared.push(...deleted);
  return assemble(declared, [...top.postrouting, ...top.markMasq, ...serviceJumps, NODEPORTS_JUMP, ...changedRules], deleted);
}

function sameRules(a: ServiceRules, b: ServiceRules): boolean {
  if (a === b) return true;
  if (a.servicesJump !== b.servicesJump || a.chainRules.length !== b.chainRules.length) return false;
  for (let i = 0; i < a.chainRules.length; i++) if (a.chainRules[i] !== b.chainRules[i]) return false;
  return true;
}

/** Every chain a full restore of `services` declares (for teardown). */
export function iptablesChains(services: readonly BenchService[], opts: IptablesOptions): string[] {
  const out: string[] = [...TOP_CHAINS];
  for (const svc of services) {
    const r = serviceRules(svc, opts);
    out.push(r.svcChain, ...r.sepChains);
  }
  return out;
}

/** Number of `-A` rules in a restore payload. */
export function countRules(restoreText: string): number {
  let n = 0;
  for (const line of restoreText.split('\n')) if (line.startsWith('-A ')) n++;
  return n;
}

/** `-A` rules of iptablesFullRestore(services), from the remembered per-service rules. */
export function fullRestoreRuleCount(services: readonly BenchService[], opts: IptablesOptions): number {
  let n = 1 + Object.values(topRules()).reduce((k, rules) => k + rules.length, 0);
  for (const svc of services) n += 1 + serviceRules(svc, opts).chainRules.length;
  return n;
}

/** kube-proxy's nat rule count for S ClusterIP services with E endpoints each. */
export function expectedNatRules(services: number, endpoints: number): number {
  return 5 + services * (2 + 3 * endpoints);
}
