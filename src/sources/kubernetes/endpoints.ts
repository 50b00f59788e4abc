import type { EndpointView } from './objects.ts';

// Which endpoints a Service's traffic may reach, as kube-proxy's CategorizeEndpoints decides:
// - cluster endpoints: the ready ones (narrowed to this node's zone when topology hints are
//   usable); when none is ready, the ones still serving while terminating, so a rolling update
//   of the last pod does not black-hole traffic;
// - local endpoints: the same rules restricted to endpoints on this node (traffic policy Local).

export interface EndpointContext {
  nodeName: string;
  zone: string;
}

export interface Categorized<T extends EndpointView> {
  cluster: T[];
  local: T[];
}

export function categorizeEndpoints<T extends EndpointView>(endpoints: readonly T[], topologyAware: boolean, ctx: EndpointContext): Categorized<T> {
  const useTopology = topologyAware && canUseTopology(endpoints, ctx.zone);
  let cluster = endpoints.filter((ep) => ep.ready && (!useTopology || ep.zoneHints.includes(ctx.zone)));
  if (cluster.length === 0) cluster = endpoints.filter(servingTerminating);
  let local = endpoints.filter((ep) => ep.ready && ep.nodeName === ctx.nodeName);
  if (local.length === 0) local = endpoints.filter((ep) => servingTerminating(ep) && ep.nodeName === ctx.nodeName);
  return { cluster, local };
}

function servingTerminating(ep: EndpointView): boolean {
  return ep.serving && ep.terminating;
}

/** Hints are used only when this node has a zone, every ready endpoint carries hints, and one is for our zone. */
function canUseTopology(endpoints: readonly EndpointView[], zone: string): boolean {
  if (zone === '') return false;
  let hasZone = false;
  for (const ep of endpoints) {
    if (!ep.ready) continue;
    if (ep.zoneHints.length === 0) return false;
    if (ep.zoneHints.includes(zone)) hasZone = true;
  }
  return hasZone;
}
