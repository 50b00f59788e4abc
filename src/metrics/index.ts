// Prometheus metrics of the load balancer and the HTTP server that exposes them.
export { LbMetrics } from './registry.ts';
export type { BackendHealthStatus, DestinationStats, MetricsSources, QuorumServiceStatus, ServiceStats, SyncOutcome } from './registry.ts';
export { AddressError, DEFAULT_METRICS_ADDRESS, exposureWarning, parseListenAddress, startMetricsServer } from './server.ts';
export type { MetricsServer, MetricsServerOptions, Readiness } from './server.ts';
export { buildStatus, LastWeights, TableCache, MAX_BINS, MAX_DESTINATIONS, MAX_SERVICES } from './status.ts';
export type { StatusDestination, StatusInput, StatusService, StatusSnapshot, StatusTable } from './status.ts';
