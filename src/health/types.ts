import type { DestinationKey, ServiceKey } from '../ipvs/types.ts';

// What a health check is and whom it probes. Sources (the YAML file) produce these; the monitor runs them.

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
  /** Stable id: "<service key> -> <destination key>", e.g. "tcp 192.0.2.10:80 -> 10.0.0.1:8080". */
  id: string;
  serviceName: string;
  service: ServiceKey;
  destination: DestinationKey;
  /** Address and port the probe connects to. */
  address: string;
  port: number;
  check: HealthCheckSpec;
}

export type BackendHealth = 'up' | 'down';
