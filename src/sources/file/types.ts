import type { DestinationKey, ServiceKey } from '../../ipvs/types.ts';
import type { DesiredState } from '../../model/types.ts';

// What a configuration file yields: the desired IPVS state as written (all backends healthy),
// the health checks to run against it, and the controller settings.

export type HealthCheckType = 'tcp' | 'http';
/** What a failing backend turns into: weight 0 (kept, drained of new flows) or removed (drained, then deleted). */
export type FailureAction = 'weight0' | 'remove';

export interface HealthCheckSpec {
  type: HealthCheckType;
  /** Port to probe; defaults to the destination's port. */
  port?: number;
  /** HTTP only. */
  path: string;
  /** HTTP only: the status a healthy backend answers with. */
  expectStatus: number;
  /** HTTP only: Host header; defaults to the backend address. */
  host?: string;
  intervalMs: number;
  timeoutMs: number;
  /** Consecutive successes that bring a down backend up. */
  rise: number;
  /** Consecutive failures that take an up backend down. */
  fall: number;
  onFailure: FailureAction;
}

export interface HealthTarget {
  /** Stable id: "<service key> -> <destination key>". */
  id: string;
  serviceName: string;
  service: ServiceKey;
  destination: DestinationKey;
  /** Address and port the probe connects to. */
  address: string;
  port: number;
  check: HealthCheckSpec;
}

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
  settings: LbSettings;
}
