// What changed between two service lists (by service identity), for data planes that apply
// changes incrementally (IPVS, nftables). Pure.
import type { BenchEndpoint, BenchService } from './workload.ts';

export interface ServiceChange {
  before: BenchService;
  after: BenchService;
  added: BenchEndpoint[];
  removed: BenchEndpoint[];
}

export interface ServicesDiff {
  added: BenchService[];
  removed: BenchService[];
  changed: ServiceChange[];
}

function identity(s: BenchService): string {
  return `${s.protocol} ${s.clusterIP}:${s.port}`;
}

function epKey(e: BenchEndpoint): string {
  return `${e.ip}:${e.port}`;
}

export function diffServices(before: readonly BenchService[], after: readonly BenchService[]): ServicesDiff {
  const old = new Map(before.map((s) => [identity(s), s]));
  const out: ServicesDiff = { added: [], removed: [], changed: [] };
  const seen = new Set<string>();
  for (const s of after) {
    const id = identity(s);
    seen.add(id);
    const prev = old.get(id);
    if (!prev) {
      out.added.push(s);
      continue;
    }
    const prevEps = new Set(prev.endpoints.map(epKey));
    const nowEps = new Set(s.endpoints.map(epKey));
    const added = s.endpoints.filter((e) => !prevEps.has(epKey(e)));
    const removed = prev.endpoints.filter((e) => !nowEps.has(epKey(e)));
    // Same endpoints in another order is a change for iptables (probabilities), not for sets.
    const reordered = added.length === 0 && removed.length === 0 && prev.endpoints.some((e, i) => epKey(e) !== epKey(s.endpoints[i]));
    if (added.length > 0 || removed.length > 0 || reordered) out.changed.push({ before: prev, after: s, added, removed });
  }
  for (const s of before) if (!seen.has(identity(s))) out.removed.push(s);
  return out;
}
