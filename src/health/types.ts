import type { DestinationKey, ServiceKey } from '../ipvs/types.ts';
import type { DesiredDestination } from '../model/types.ts';

// What a health check is and whom it probes. Sources (the YAML file) produce these; the monitor runs them.

export type HealthCheckType = 'tcp' | 'http' | 'https' | 'dns' | 'udp' | 'exec';
/** What a failing backend turns into: weight 0 (kept, drained of new flows) or removed (drained, then deleted). */
export type FailureAction = 'weight0' | 'remove';

/** https only: how the TLS session is set up. */
export interface TlsCheck {
  /** Server name sent in the SNI extension and checked against the certificate when verifying. */
  serverName?: string;
  /** Verify the certificate chain and name; off by default (backends commonly use self-signed certificates). */
  verify: boolean;
  /** PEM file of the CAs to verify against instead of the system's; read at each probe so a rotated CA is picked up. */
  caFile?: string;
}

export type DnsTransport = 'udp' | 'tcp';

/** dns only. */
export interface DnsCheck {
  /** The name asked for, e.g. "health.example.org". */
  query: string;
  /** Record type, e.g. "A", "AAAA", "SOA". */
  queryType: string;
  transport: DnsTransport;
  /** The response code a healthy server answers with, by name ("NOERROR", "NXDOMAIN", ...). */
  expectRcode: string;
  /** When set, one answer record's data (an address, a name) must equal this text. */
  expectAnswer?: string;
}

/**
 * udp only. "reply": a datagram must come back within the timeout. "no-unreachable": up unless an ICMP
 * port unreachable arrives within the timeout (for servers that answer nothing to an arbitrary payload;
 * it cannot tell a silent dead host from a live one, which is why "reply" is the default).
 */
export type UdpExpect = 'reply' | 'no-unreachable';

export interface UdpCheck {
  /** The datagram sent (UTF-8). */
  send: string;
  expect: UdpExpect;
  /** "reply" only: the reply must contain this text. */
  expectReply?: string;
}

/** exec only: a program run directly (never through a shell); exit status 0 = up. */
export interface ExecCheck {
  /** argv: the program (absolute path or found on PATH) and its arguments. */
  command: string[];
}

export interface HealthCheckSpec {
  type: HealthCheckType;
  /** Port to probe; defaults to the destination's port. */
  port?: number;
  /** HTTP/HTTPS only. */
  path: string;
  /** HTTP/HTTPS only: the status a healthy backend answers with. */
  expectStatus: number;
  /** HTTP/HTTPS only: Host header; defaults to the backend address. */
  host?: string;
  tls?: TlsCheck;
  dns?: DnsCheck;
  udp?: UdpCheck;
  exec?: ExecCheck;
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

/**
 * Per service, keepalived's `quorum`, `hysteresis` and `sorry_server`: the service is up while the
 * weight of its available destinations (health-checked up, weight > 0) is at least `quorum`; once
 * down it is up again only at `quorum + hysteresis`. While it is down, new connections go to the
 * sorry server if there is one, and a scale-out node withdraws the VIP.
 */
export interface QuorumPolicy {
  service: ServiceKey;
  serviceName: string;
  /** Minimum available weight (a count when every weight is 1); at least 1. */
  quorum: number;
  /** Extra available weight needed to come back up; 0 = none. */
  hysteresis: number;
  /** The destination that takes new connections while the service is down (not health-checked). */
  sorryServer?: DesiredDestination;
}
