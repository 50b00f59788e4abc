// The shape of bench/results/dataplane.json (schema "ipvs-maglev/bench-dataplane/v1").
import type { PlaneName } from './planes.ts';
import type { FlowMoves, LatencySummary } from './stats.ts';

export const RESULTS_SCHEMA = 'ipvs-maglev/bench-dataplane/v1';

export interface Environment {
  kernel: string;
  inVm: boolean;
  cpus: number;
  cpuModel: string;
  memoryMiB: number;
  node: string;
  iptables: string;
  nft: string;
  ipset: string;
  ipvs: string;
}

export interface BenchConfig {
  quick: boolean;
  sizes: number[];
  endpoints: number;
  planes: PlaneName[];
  latencyCount: number;
  rateDurationMs: number;
  rateConcurrency: number;
  rateTargets: number;
  flowCount: number;
  /**
   * Largest N a plane is run at (absent: no limit). Full runs stop nftables at 5,000: its first
   * load grows quadratically with N on this kernel and alone would take longer than the whole
   * run's 30-minute budget at 10,000 (see RESULTS.md).
   */
  maxServices?: Partial<Record<PlaneName, number>>;
}

export interface PlaneRun {
  plane: PlaneName;
  services: number;
  endpoints: number;
  rules: number;
  rulesNote: string;
  programMs: number;
  /**
   * IPVS planes: how programMs splits into netlink writes, VIP binding and ipset loading.
   * iptables / nftables: the CPU time of the restore tool in user space and of the kernel.
   */
  programBreakdownMs?: Record<string, number>;
  /** Per variant (iptables: full-restore / partial-restore). */
  addServiceMs: Record<string, number>;
  changeEndpointMs: Record<string, number>;
  latencyFirst: LatencySummary;
  latencyLast: LatencySummary;
  rate: {
    durationMs: number;
    completed: number;
    errors: number;
    connsPerSec: number;
    /** CPU time of the whole machine (client, backends and kernel) per connection. */
    cpuUsPerConn: number;
    /** Only system + irq + softirq time: where the data plane works. */
    kernelCpuUsPerConn: number;
  };
  /** Connections answered per endpoint (pod name) over every traffic step of this run. */
  backends: Record<string, number>;
  /**
   * Wall time of each phase of this (plane, N), everything included (text generation, reverts,
   * probes, teardown): where the run's minutes go, as opposed to the timed kernel work above.
   */
  phasesMs?: Record<string, number>;
}

export interface ChurnRun {
  plane: PlaneName;
  services: number;
  endpoints: string[];
  removed: string;
  /** Connections per endpoint before the change, one per source port. */
  distribution: Record<string, number>;
  maxOverAvg: number;
  moves: FlowMoves;
}

export interface Failure {
  plane: PlaneName;
  services: number;
  step: string;
  message: string;
}

/** A (plane, N) the configuration left out, and why. */
export interface Skipped {
  plane: PlaneName;
  services: number;
  reason: string;
}

export interface BenchResults {
  schema: typeof RESULTS_SCHEMA;
  startedAt: string;
  finishedAt: string;
  environment: Environment;
  config: BenchConfig;
  runs: PlaneRun[];
  churn: ChurnRun[];
  failures: Failure[];
  skipped?: Skipped[];
}

/** Structural check of a parsed results file; returns the problems found (empty when well-formed). */
export function validateResults(value: unknown): string[] {
  const problems: string[] = [];
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObj(value)) return ['results are not an object'];
  if (value.schema !== RESULTS_SCHEMA) problems.push(`schema is ${String(value.schema)}, want ${RESULTS_SCHEMA}`);
  for (const k of ['environment', 'config']) if (!isObj(value[k])) problems.push(`${k} missing`);
  for (const k of ['runs', 'churn', 'failures']) if (!Array.isArray(value[k])) problems.push(`${k} is not a list`);
  if (problems.length > 0) return problems;
  (value.runs as unknown[]).forEach((r, i) => {
    if (!isObj(r)) {
      problems.push(`runs[${i}] is not an object`);
      return;
    }
    for (const k of ['services', 'rules', 'programMs']) if (typeof r[k] !== 'number' || !Number.isFinite(r[k])) problems.push(`runs[${i}].${k} is not a number`);
    for (const k of ['latencyFirst', 'latencyLast', 'rate', 'backends', 'addServiceMs', 'changeEndpointMs']) if (!isObj(r[k])) problems.push(`runs[${i}].${k} missing`);
  });
  (value.churn as unknown[]).forEach((c, i) => {
    if (!isObj(c) || !isObj(c.moves) || typeof c.maxOverAvg !== 'number') problems.push(`churn[${i}] is malformed`);
  });
  return problems;
}
