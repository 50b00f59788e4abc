// Small statistics for the report. Pure.

/** Nearest-rank percentile (p in 0..100) of unsorted samples; NaN for none. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export interface LatencySummary {
  n: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  errors: number;
}

export function summarizeLatency(samplesUs: readonly number[], errors: number): LatencySummary {
  const r = (x: number) => Math.round(x * 10) / 10;
  return { n: samplesUs.length, p50Us: r(percentile(samplesUs, 50)), p90Us: r(percentile(samplesUs, 90)), p99Us: r(percentile(samplesUs, 99)), errors };
}

/** max/avg of the per-endpoint counts over `endpoints` (missing ones count 0); 1 is perfect. */
export function maxOverAvg(counts: Record<string, number>, endpoints: readonly string[]): number {
  const values = endpoints.map((e) => counts[e] ?? 0);
  const sum = values.reduce((a, b) => a + b, 0);
  if (sum === 0) return Number.NaN;
  return Math.max(...values) / (sum / values.length);
}

export interface FlowMoves {
  flows: number;
  /** Flows answered both times. */
  compared: number;
  /** Share of compared flows that reached another endpoint after the change. */
  movedShare: number;
  /** Share of flows that were NOT on the removed endpoint and moved anyway (0 is ideal). */
  needlessMovedShare: number;
  /** Share of flows that were on the removed endpoint (they must move). */
  onRemovedShare: number;
}

export function flowMoves(before: readonly (string | null)[], after: readonly (string | null)[], removed: string): FlowMoves {
  let compared = 0;
  let moved = 0;
  let onRemoved = 0;
  let stayedCandidates = 0;
  let needless = 0;
  for (let i = 0; i < before.length; i++) {
    const a = before[i];
    const b = after[i];
    if (a === null || b === null) continue;
    compared++;
    if (a !== b) moved++;
    if (a === removed) onRemoved++;
    else {
      stayedCandidates++;
      if (a !== b) needless++;
    }
  }
  return {
    flows: before.length,
    compared,
    movedShare: compared ? moved / compared : Number.NaN,
    needlessMovedShare: stayedCandidates ? needless / stayedCandidates : Number.NaN,
    onRemovedShare: compared ? onRemoved / compared : Number.NaN,
  };
}

export interface CpuSample {
  busy: number;
  kernel: number;
  total: number;
}

/** Parses the aggregate "cpu" line of /proc/stat (USER_HZ ticks). */
export function parseProcStat(text: string): CpuSample {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) throw new Error('no aggregate cpu line in /proc/stat');
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  const busy = user + nice + system + irq + softirq + (steal || 0);
  return { busy, kernel: system + irq + softirq, total: busy + idle + iowait };
}
