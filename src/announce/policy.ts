import type { AnnouncedRoute } from './types.ts';

// Which VIPs this node may announce. A route draws traffic from the routers, so it must be true:
// a VIP is announced only while at least one of its services is served here, that is
//   - the node is ready (its last sync ran; it is not shutting down),
//   - the service exists in this node's IPVS (checked against a fresh dump, never assumed),
//   - the last sync left no error on that service,
//   - every health check of the service has run at least once (the monitor starts targets "up"; a
//     first probe must have confirmed it before we draw traffic), and
//   - the service has its quorum (src/health/quorum.ts; a sorry server serving does not count), and
//   - at least one destination is available (weight > 0 after health checks).
// Several services on one address (ports 80 and 443) share the host route: one served is enough.
// fwmark services have no address of their own and are never announced from here.

export interface ServiceView {
  name: string;
  /** Canonical VIP; undefined for fwmark services. */
  address: string | undefined;
  family: 'inet' | 'inet6';
  inKernel: boolean;
  syncError: boolean;
  healthChecked: boolean;
  /** Set while the service is short of its quorum: why, in words. */
  quorumLost?: string;
  availableDestinations: number;
}

export interface VipDecision {
  address: string;
  family: 'inet' | 'inet6';
  announce: boolean;
  /** Per service at this address: why it does (not) count, in words for the log. */
  reasons: string[];
}

export function serviceVerdict(s: ServiceView, nodeReady: boolean): string | undefined {
  if (!nodeReady) return 'node not ready';
  if (!s.inKernel) return 'service missing from IPVS';
  if (s.syncError) return 'last sync failed for this service';
  if (!s.healthChecked) return 'health checks have not all run yet';
  if (s.quorumLost !== undefined) return s.quorumLost;
  if (s.availableDestinations === 0) return 'no available destination';
  return undefined;
}

export function decideVips(services: readonly ServiceView[], nodeReady: boolean): VipDecision[] {
  const byAddress = new Map<string, VipDecision>();
  for (const s of services) {
    if (s.address === undefined) continue;
    let d = byAddress.get(s.address);
    if (!d) {
      d = { address: s.address, family: s.family, announce: false, reasons: [] };
      byAddress.set(s.address, d);
    }
    const why = serviceVerdict(s, nodeReady);
    if (why === undefined) d.announce = true;
    d.reasons.push(`${s.name}: ${why ?? `served (${s.availableDestinations} available)`}`);
  }
  return [...byAddress.values()].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
}

export function routesOf(decisions: readonly VipDecision[]): AnnouncedRoute[] {
  return decisions.filter((d) => d.announce).map((d) => ({ address: d.address, family: d.family }));
}
