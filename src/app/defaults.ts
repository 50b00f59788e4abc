// Defaults of the two programs (`run` and `controller`) and the commands that read what they write
// (`plan`). One place, so the standalone load balancer, the Kubernetes controller and their flags agree.

export { DEFAULT_METRICS_ADDRESS } from '../metrics/server.ts';
export { DEFAULT_INTERFACE, KUBE_PROXY_INTERFACE } from '../ipvs/vocabulary.ts';

/** Where ownership of IPVS services is recorded across restarts (run, controller; plan reads it). */
export const DEFAULT_STATE_DIR = '/var/lib/ipvs-maglev';

/** Least time between two syncs: bursts of changes coalesce into one (both programs). */
export const DEFAULT_MIN_SYNC_MS = 1000;

/** Standalone: full resync (drift repair) when the file does not say (settings.resyncInterval). */
export const STANDALONE_RESYNC_MS = 60_000;

/** Kubernetes: full resync period, kube-proxy's --sync-period default. */
export const KUBERNETES_RESYNC_MS = 30_000;

/** While destinations drain, look at their connection counts this often (to delete them once idle). */
export const DRAIN_POLL_MS = 5000;

/** "1s", "30s", "250ms": a default in milliseconds as the controller's duration flags write it. */
export function durationText(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}
