import type { DestinationConfig, DestinationKey, ServiceConfig, ServiceKey } from '../ipvs/types.ts';

// The desired state: what a source (YAML file, Kubernetes) wants IPVS to look like.
// Sources build it; the reconciler compares it with what the kernel holds.
// Addresses are canonical (IPv4 dotted quad, IPv6 RFC 5952 lower-case compressed).

export interface DesiredDestination {
  key: DestinationKey;
  config: DestinationConfig;
}

export interface DesiredService {
  key: ServiceKey;
  config: ServiceConfig;
  /** Human name for logs and metrics, e.g. "web" or "default/kubernetes:https". */
  name: string;
  destinations: DesiredDestination[];
  /**
   * Bind the service address to the dummy interface so locally delivered traffic reaches IPVS.
   * Not applicable to fwmark services.
   */
  bindAddress: boolean;
}

export interface DesiredState {
  services: DesiredService[];
}
