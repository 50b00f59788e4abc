import type { AnnounceConfig } from '../../announce/types.ts';
import type { SyncDaemonConfig } from '../../ipvs/daemon.ts';
import type { DesiredState } from '../../model/types.ts';

// What a configuration file yields: the desired IPVS state as written (all backends healthy),
// the health checks to run against it, quorum and sorry servers, and the controller settings.

export type { FailureAction, HealthCheckSpec, HealthCheckType, HealthTarget, QuorumPolicy } from '../../health/types.ts';
import type { HealthTarget, QuorumPolicy } from '../../health/types.ts';

export interface LbSettings {
  /** How long a removed destination keeps its connections before it is deleted anyway. */
  drainTimeoutMs?: number;
  /** Period of the full resync that repairs hand-made changes. */
  resyncIntervalMs?: number;
  /** Minimum time between two event-driven syncs. */
  minSyncIntervalMs?: number;
}

export interface LoadedConfig {
  file: string;
  desired: DesiredState;
  health: HealthTarget[];
  /** The services that set quorum, hysteresis or sorryServer. */
  quorum: QuorumPolicy[];
  settings: LbSettings;
  /** Scale-out: announce the VIPs this node serves through a BGP speaker (the "bgp" section). */
  bgp?: AnnounceConfig;
  /** Scale-out with NAT: the kernel's connection sync daemon(s) to run (the "connectionSync" section). */
  connectionSync?: SyncDaemonConfig[];
}
