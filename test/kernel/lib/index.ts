// Helpers for the real-kernel suites (test/kernel/*.test.ts). See test/kernel/README.md.
export {
  type ConnectClient,
  type ConnectResult,
  type ConnectTarget,
  ConnectWorkerError,
  closeConnectClients,
  connectBatch,
  openConnectClient,
} from './connect.ts';
export {
  assertIpvsKernel,
  CommandError,
  clearIpvs,
  formatArgv,
  ipBatch,
  ipvsadm,
  NoIpvsKernelError,
  type RunOptions,
  type RunResult,
  run,
  runResult,
  sh,
  sysctl,
} from './exec.ts';
export { createTopology, type Topology, type TopologyBackend, type TopologyOptions } from './topology.ts';
export { until } from './wait.ts';
