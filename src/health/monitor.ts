import type { ProbeResult } from './probe.ts';
import { probeHttp, probeTcp } from './probe.ts';
import { probeDns } from './probe-dns.ts';
import { probeExec } from './probe-exec.ts';
import { probeUdp } from './probe-udp.ts';
import type { BackendHealth, HealthCheckSpec, HealthTarget } from './types.ts';

// Runs every target's checks on its own timer: probes are asynchronous socket I/O, so hundreds run
// concurrently and none of them ever blocks the event loop or the sync loop. A target changes state
// only after `fall` consecutive failures (up -> down) or `rise` consecutive successes (down -> up).
//
// Targets start "up": a restart of the controller (or a reload that keeps a backend) must not take
// healthy backends out and move their flows while the first probes are in flight. A backend that is
// really down leaves after fall x interval.

export interface HealthChange {
  target: HealthTarget;
  state: BackendHealth;
  /** Why: the last probe's failure reason, or "recovered". */
  reason: string;
}

export interface TargetStatus {
  target: HealthTarget;
  state: BackendHealth;
  lastResult?: ProbeResult;
  lastProbeAt?: number;
}

export type Prober = (target: HealthTarget) => Promise<ProbeResult>;

export interface HealthMonitorOptions {
  onChange: (change: HealthChange) => void;
  /** Replaceable for tests; defaults to the probe the target's check type names. */
  prober?: Prober;
  /** Spread first probes over this share of the interval so many targets do not fire at once. */
  jitter?: number;
}

interface Running {
  target: HealthTarget;
  state: BackendHealth;
  successes: number;
  failures: number;
  timer?: NodeJS.Timeout;
  inFlight: boolean;
  stopped: boolean;
  lastResult?: ProbeResult;
  lastProbeAt?: number;
}

export function defaultProber(target: HealthTarget): Promise<ProbeResult> {
  const c = target.check;
  const { address, port } = target;
  switch (c.type) {
    case 'http':
      return probeHttp(address, port, { path: c.path, expectStatus: c.expectStatus, host: c.host }, c.timeoutMs);
    case 'https':
      return probeHttp(address, port, { path: c.path, expectStatus: c.expectStatus, host: c.host, tls: c.tls ?? { verify: false } }, c.timeoutMs);
    case 'dns':
      if (c.dns) return probeDns(address, port, c.dns, c.timeoutMs);
      break;
    case 'udp':
      if (c.udp) return probeUdp(address, port, c.udp, c.timeoutMs);
      break;
    case 'exec':
      if (c.exec) return probeExec(target, c.exec, c.timeoutMs);
      break;
    case 'tcp':
      return probeTcp(address, port, c.timeoutMs);
  }
  return Promise.resolve({ ok: false, reason: `a ${c.type} check without its ${c.type} settings` });
}

export class HealthMonitor {
  private readonly running = new Map<string, Running>();
  private readonly onChange: (change: HealthChange) => void;
  private readonly prober: Prober;
  private readonly jitter: number;
  constructor(options: HealthMonitorOptions) {
    this.onChange = options.onChange;
    this.prober = options.prober ?? defaultProber;
    this.jitter = options.jitter ?? 0.2;
  }

  /**
   * Replace the set of targets (on start and on every reload). A target whose id and check are
   * unchanged keeps its state and counters; new ones start up; vanished ones stop.
   */
  setTargets(targets: readonly HealthTarget[]): void {
    const next = new Map(targets.map((t) => [t.id, t]));
    for (const [id, r] of this.running) {
      const t = next.get(id);
      if (t === undefined || !sameTarget(r.target, t)) this.stopOne(id);
      else r.target = t;
    }
    for (const [id, t] of next) {
      if (this.running.has(id)) continue;
      const r: Running = { target: t, state: 'up', successes: 0, failures: 0, inFlight: false, stopped: false };
      this.running.set(id, r);
      this.schedule(r, Math.floor(Math.random() * this.jitter * t.check.intervalMs));
    }
  }

  isDown(id: string): boolean {
    return this.running.get(id)?.state === 'down';
  }

  status(): TargetStatus[] {
    return [...this.running.values()].map((r) => ({ target: r.target, state: r.state, lastResult: r.lastResult, lastProbeAt: r.lastProbeAt }));
  }

  stop(): void {
    for (const id of [...this.running.keys()]) this.stopOne(id);
  }

  private stopOne(id: string): void {
    const r = this.running.get(id);
    if (!r) return;
    r.stopped = true;
    if (r.timer) clearTimeout(r.timer);
    this.running.delete(id);
  }

  private schedule(r: Running, delayMs: number): void {
    r.timer = setTimeout(() => void this.probe(r), delayMs);
    r.timer.unref();
  }

  private async probe(r: Running): Promise<void> {
    if (r.stopped || r.inFlight) return;
    r.inFlight = true;
    const started = Date.now();
    let result: ProbeResult;
    try {
      result = await this.prober(r.target);
    } catch (err) {
      result = { ok: false, reason: err instanceof Error ? err.message : String(err) };
    }
    r.inFlight = false;
    if (r.stopped) return;
    r.lastResult = result;
    r.lastProbeAt = Date.now();
    this.record(r, result);
    // The interval runs from probe start to probe start; a slow probe does not stretch it.
    this.schedule(r, Math.max(0, r.target.check.intervalMs - (Date.now() - started)));
  }

  private record(r: Running, result: ProbeResult): void {
    const c = r.target.check;
    if (result.ok) {
      r.successes++;
      r.failures = 0;
      if (r.state === 'down' && r.successes >= c.rise) {
        r.state = 'up';
        this.onChange({ target: r.target, state: 'up', reason: 'recovered' });
      }
    } else {
      r.failures++;
      r.successes = 0;
      if (r.state === 'up' && r.failures >= c.fall) {
        r.state = 'down';
        this.onChange({ target: r.target, state: 'down', reason: result.reason });
      }
    }
  }
}

function sameTarget(a: HealthTarget, b: HealthTarget): boolean {
  return a.address === b.address && a.port === b.port && sameSpec(a.check, b.check);
}

/** Specs are plain data built field by field in one order by the reader, so their JSON compares them whole. */
function sameSpec(a: HealthCheckSpec, b: HealthCheckSpec): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
