// Health checks: probes, the monitor that runs them, and how their verdicts shape the desired state.
export { applyHealth, healthTargetId } from './apply.ts';
export { HTTP_PATH, hostHeaderProblem } from './host.ts';
export { HealthMonitor, defaultProber } from './monitor.ts';
export type { HealthChange, HealthMonitorOptions, Prober, TargetStatus } from './monitor.ts';
export { probeHttp, probeTcp } from './probe.ts';
export { DNS_QUERY_TYPES, RCODES, probeDns } from './probe-dns.ts';
export { probeExec } from './probe-exec.ts';
export { probeUdp } from './probe-udp.ts';
export { QuorumTracker, availableWeight } from './quorum.ts';
export type { QuorumChange, QuorumStatus } from './quorum.ts';
export type { HttpProbeOptions, ProbeResult } from './probe.ts';
export type { BackendHealth, DnsCheck, DnsTransport, ExecCheck, FailureAction, HealthCheckSpec, HealthCheckType, HealthTarget, QuorumPolicy, TlsCheck, UdpCheck, UdpExpect } from './types.ts';
