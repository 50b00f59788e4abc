// The benchmark's procedure: build the cluster, then for each data plane and size N program the
// services, measure, change, measure again, and tear down. Every loop is bounded by a count or a
// duration, and traffic never leaves the namespaces we created.
import { readFile } from 'node:fs/promises';
import { cpus, release, totalmem } from 'node:os';
import { BenchError, run } from './exec.ts';
import type { DataPlane, PlaneName } from './planes.ts';
import { type BenchConfig, type BenchResults, type ChurnRun, type Environment, type Failure, type PlaneRun, RESULTS_SCHEMA, type Skipped } from './results.ts';
import { flowMoves, maxOverAvg, parseProcStat, summarizeLatency } from './stats.ts';
import { createTopology, describeTopology, destroyTopology, ipvsSysctls, type Topology } from './topology.ts';
import { type Client, startClient, startPods } from './traffic.ts';
import { type BenchService, clusterIpOf, makeWorkload, serviceName } from './workload.ts';

export const TARGET_PORT = 8080;
export const SERVICE_PORT = 80;
const CONNECT_TIMEOUT_MS = 3000;
/** Long enough for IPVS and conntrack to forget reset connections (CLOSE state lasts 10 s). */
const FLOW_STATE_EXPIRY_MS = 11_000;
const FLOW_BASE_PORT = 20000;

export interface RunOptions extends BenchConfig {
  prefix: string;
}

export function quickConfig(): Omit<BenchConfig, 'planes'> {
  return { quick: true, sizes: [100, 1000], endpoints: 4, latencyCount: 30, rateDurationMs: 1500, rateConcurrency: 8, rateTargets: 32, flowCount: 200 };
}

export function fullConfig(): Omit<BenchConfig, 'planes'> {
  return {
    quick: false,
    sizes: [100, 1000, 5000, 10000],
    endpoints: 4,
    latencyCount: 200,
    rateDurationMs: 4000,
    rateConcurrency: 8,
    rateTargets: 64,
    flowCount: 1000,
    maxServices: { nftables: 5000 },
  };
}

/** Steps reported to the progress callback for one (plane, N); churn adds one for the smallest N. */
export const STEPS_PER_RUN = 6;
export function totalSteps(cfg: BenchConfig): number {
  let steps = 0;
  for (const p of cfg.planes) {
    const max = cfg.maxServices?.[p] ?? Number.POSITIVE_INFINITY;
    const run = cfg.sizes.filter((n) => n <= max).length;
    // A skipped (plane, N) is one step; churn adds one at the smallest N.
    steps += run * STEPS_PER_RUN + (cfg.sizes.length - run) + (run > 0 ? 1 : 0);
  }
  return steps;
}

export type PlaneFactory = (name: PlaneName, topology: Topology) => Promise<DataPlane>;

export interface RunHooks {
  step?: (label: string) => void;
  log?: (line: string) => void;
  /** Called with the results so far after each (size, plane), so a run cut short leaves data. */
  checkpoint?: (partial: BenchResults) => Promise<void>;
  /** Stops the run between steps (Ctrl-C); namespaces and rules are still removed. */
  signal?: AbortSignal;
}

async function tryText(cmd: string, args: string[]): Promise<string> {
  try {
    const r = await run(cmd, args, { timeoutMs: 10_000 });
    return (r.stdout || r.stderr).trim().split('\n')[0];
  } catch {
    return 'unavailable';
  }
}

export async function collectEnvironment(): Promise<Environment> {
  const ipvs = await readFile('/proc/net/ip_vs', 'utf8').then((t) => t.split('\n')[0], () => 'no IPVS');
  return {
    kernel: release(),
    inVm: process.env.IPVS_MAGLEV_IN_VM === '1',
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryMiB: Math.round(totalmem() / 2 ** 20),
    node: process.version,
    iptables: `${await tryText('iptables-legacy', ['-V'])}; ${await tryText('iptables-nft', ['-V'])}`,
    nft: await tryText('nft', ['--version']),
    ipset: await tryText('ipset', ['version']),
    ipvs,
  };
}

async function readCpu() {
  return parseProcStat(await readFile('/proc/stat', 'utf8'));
}

function addCounts(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}

/** `count` services spread evenly over the rule order, first and last included. */
export function spread<T>(items: readonly T[], count: number): T[] {
  if (items.length <= count) return [...items];
  const out: T[] = [];
  for (let k = 0; k < count; k++) out.push(items[Math.round((k * (items.length - 1)) / (count - 1))]);
  return out;
}

function withEndpointReplaced(services: readonly BenchService[], index: number, ip: string): BenchService[] {
  return services.map((s, i) => (i === index ? { ...s, endpoints: [...s.endpoints.slice(0, -1), { ip, port: s.endpoints[0].port }] } : s));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runDataplaneBench(opts: RunOptions, makePlane: PlaneFactory, hooks: RunHooks = {}): Promise<BenchResults> {
  const interrupted = () => new BenchError('INTERRUPTED', 'interrupted');
  const step = (label: string) => {
    hooks.step?.(label);
    if (hooks.signal?.aborted) throw interrupted();
  };
  const log = hooks.log ?? (() => undefined);
  const startedAt = new Date().toISOString();
  const environment = await collectEnvironment();
  const sizes = [...opts.sizes].sort((a, b) => a - b);
  const topology = describeTopology({ prefix: opts.prefix, pods: opts.endpoints + 1 });
  const pods = topology.podIps.slice(0, opts.endpoints);
  const podNameOf = new Map(topology.podIps.map((ip, i) => [ip, topology.podNames[i]]));
  const spareIp = topology.podIps[opts.endpoints];
  const runs: PlaneRun[] = [];
  const churn: ChurnRun[] = [];
  const failures: Failure[] = [];
  const skipped: Skipped[] = [];
  let touched: BenchService[] = [];

  await createTopology(topology);
  await ipvsSysctls();
  log('topology ready');
  const stopPods = await startPods(topology.podNs, topology.podNames, TARGET_PORT).then((p) => p.stop, async (e) => {
    await destroyTopology(topology);
    throw e;
  });
  let client: Client | undefined;
  try {
    client = await startClient(topology.clientNs);
    log('pods and client started');
    // Sizes outside, planes inside: a run cut short still compares every plane at the sizes it did.
    const planes = new Map<PlaneName, DataPlane>();
    for (const n of sizes) {
      // One service list per N for every plane: the planes remember the text they built per service object.
      const workload = makeWorkload({ services: n, pods, endpointsPerService: opts.endpoints, targetPort: TARGET_PORT, servicePort: SERVICE_PORT });
      for (const planeName of opts.planes) {
        const max = opts.maxServices?.[planeName];
        if (max !== undefined && n > max) {
          skipped.push({ plane: planeName, services: n, reason: `above this plane's limit of ${max} services (--max-services ${planeName}=${max})` });
          log(`${planeName} N=${n}: skipped (limit ${max})`);
          hooks.step?.(`${planeName} N=${n} skipped`);
          continue;
        }
        let plane = planes.get(planeName);
        if (!plane) {
          plane = await makePlane(planeName, topology);
          planes.set(planeName, plane);
        }
        const services = workload;
        // Every service version ever applied, so teardown finds all chains, even after a failure.
        touched = [...services];
        let stepName = 'setup';
        const phases = phaseClock();
        try {
          log(`${planeName} N=${n}: programming`);
          await plane.setup();
          phases.mark('setup');
          stepName = 'program';
          const programMs = await plane.program(services);
          phases.mark('program');
          const programBreakdownMs = plane.lastBreakdown ? Object.fromEntries(Object.entries(plane.lastBreakdown).map(([k, v]) => [k, round(v)])) : undefined;
          log(`${planeName} N=${n}: programmed in ${Math.round(programMs)} ms${programBreakdownMs ? ` ${JSON.stringify(programBreakdownMs)}` : ''}`);
          step(`${planeName} N=${n} programmed`);
          stepName = 'measure';
          const r = await measure(plane, services, n, client, phases);
          const run: PlaneRun = { ...r.run, programMs: round(programMs), ...(programBreakdownMs ? { programBreakdownMs } : {}), phasesMs: phases.ms };
          runs.push(run);
          if (n === sizes[0]) {
            stepName = 'churn';
            const c = await measureChurn(plane, r.current, n, client);
            churn.push(c.run);
            phases.mark('churn');
            step(`${planeName} churn`);
          }
        } catch (e) {
          if (hooks.signal?.aborted) throw e;
          const message = e instanceof Error ? e.message : String(e);
          failures.push({ plane: planeName, services: n, step: stepName, message });
          log(`${planeName} N=${n}: FAILED in ${stepName}: ${message}`);
        } finally {
          await plane.teardown(touched);
          phases.mark('teardown');
          log(`${planeName} N=${n}: phases ${JSON.stringify(phases.ms)}`);
          hooks.step?.(`${planeName} N=${n} torn down`);
        }
        if (hooks.signal?.aborted) throw interrupted();
        await hooks.checkpoint?.(snapshot());
      }
    }
  } finally {
    client?.stop();
    stopPods();
    await destroyTopology(topology);
  }
  return snapshot();

  function snapshot(): BenchResults {
    return { schema: RESULTS_SCHEMA, startedAt, finishedAt: new Date().toISOString(), environment, config: stripPrefix(opts), runs, churn, failures, skipped };
  }

  // The helpers below share the run's options and counters; as closures the procedure above
  // reads as the list of steps it is.
  async function measure(plane: DataPlane, services: BenchService[], n: number, c: Client, phases: PhaseClock): Promise<{ run: Omit<PlaneRun, 'programMs'>; current: BenchService[] }> {
    const backends: Record<string, number> = {};
    const first = services[0];
    const last = services[n - 1];
    const warm = await c.probe({ host: first.clusterIP, port: SERVICE_PORT, count: 3, timeoutMs: CONNECT_TIMEOUT_MS });
    if (warm.errorCount === 3) throw new BenchError('NO_TRAFFIC', `no connection to ${first.clusterIP}:${SERVICE_PORT} got through: ${warm.errors[0]}`);
    const latFirst = await c.probe({ host: first.clusterIP, port: SERVICE_PORT, count: opts.latencyCount, timeoutMs: CONNECT_TIMEOUT_MS });
    const latLast = await c.probe({ host: last.clusterIP, port: SERVICE_PORT, count: opts.latencyCount, timeoutMs: CONNECT_TIMEOUT_MS });
    addCounts(backends, latFirst.backends);
    addCounts(backends, latLast.backends);
    phases.mark('latency');
    step(`${plane.name} N=${n} latency`);

    const targets = spread(services, opts.rateTargets).map((s) => ({ host: s.clusterIP, port: SERVICE_PORT }));
    const cpu0 = await readCpu();
    const rate = await c.rate({ targets, durationMs: opts.rateDurationMs, concurrency: opts.rateConcurrency, timeoutMs: CONNECT_TIMEOUT_MS });
    const cpu1 = await readCpu();
    addCounts(backends, rate.backends);
    // USER_HZ is 100 on Linux: one tick is 10 ms = 10,000 us.
    const perConn = (ticks: number) => (rate.completed > 0 ? round((ticks * 10_000) / rate.completed) : Number.NaN);
    phases.mark('rate');
    step(`${plane.name} N=${n} rate`);

    const extra: BenchService = { ...services[0], name: serviceName(n), clusterIP: clusterIpOf(n) };
    const withExtra = [...services, extra];
    touched.push(extra);
    const addServiceMs = await timeVariants(plane, services, withExtra);
    log(`${plane.name} N=${n}: add service ${JSON.stringify(addServiceMs)}`);
    const probeExtra = await c.probe({ host: extra.clusterIP, port: SERVICE_PORT, count: 3, timeoutMs: CONNECT_TIMEOUT_MS });
    if (probeExtra.errorCount > 0) throw new BenchError('NO_TRAFFIC', `the added service ${extra.clusterIP} does not answer: ${probeExtra.errors[0]}`);
    addCounts(backends, probeExtra.backends);
    phases.mark('addService');
    step(`${plane.name} N=${n} add service`);

    const mid = Math.floor(n / 2);
    const changed = withEndpointReplaced(withExtra, mid, spareIp);
    touched.push(changed[mid]);
    const changeEndpointMs = await timeVariants(plane, withExtra, changed);
    log(`${plane.name} N=${n}: change endpoint ${JSON.stringify(changeEndpointMs)}`);
    const probeChanged = await c.probe({ host: changed[mid].clusterIP, port: SERVICE_PORT, count: 8, timeoutMs: CONNECT_TIMEOUT_MS });
    if (probeChanged.errorCount > 0) throw new BenchError('NO_TRAFFIC', `the changed service ${changed[mid].clusterIP} does not answer: ${probeChanged.errors[0]}`);
    phases.mark('changeEndpoint');
    step(`${plane.name} N=${n} change endpoint`);

    const size = plane.size(services);
    return {
      current: changed,
      run: {
        plane: plane.name,
        services: n,
        endpoints: opts.endpoints,
        rules: size.rules,
        rulesNote: size.note,
        addServiceMs,
        changeEndpointMs,
        latencyFirst: summarizeLatency(latFirst.latenciesUs, latFirst.errorCount),
        latencyLast: summarizeLatency(latLast.latenciesUs, latLast.errorCount),
        rate: {
          durationMs: rate.elapsedMs,
          completed: rate.completed,
          errors: rate.errorCount,
          connsPerSec: round((rate.completed * 1000) / rate.elapsedMs),
          cpuUsPerConn: perConn(cpu1.busy - cpu0.busy),
          kernelCpuUsPerConn: perConn(cpu1.kernel - cpu0.kernel),
        },
        backends,
      },
    };
  }

  /**
   * Times the change before -> after once per variant. Variants whose cost depends on the
   * kernel's state run first, each from `before` (reverting in between, untimed); variants that
   * rewrite the whole state run last from `after`, where they do the very same work without
   * the cost of a revert (at 10,000 services a revert is a 10-20 s iptables-restore here).
   */
  async function timeVariants(plane: DataPlane, before: readonly BenchService[], after: readonly BenchService[]): Promise<Record<string, number>> {
    const whole = new Set(plane.wholeStateVariants ?? []);
    const stateful = plane.variants.filter((v) => !whole.has(v));
    const ms: Record<string, number> = {};
    let atAfter = false;
    for (const v of [...stateful, ...plane.variants.filter((x) => whole.has(x))]) {
      if (atAfter && !whole.has(v)) await plane.apply(after, before, v);
      ms[v] = round(await plane.apply(before, after, v));
      atAfter = true;
    }
    return Object.fromEntries(plane.variants.map((v) => [v, ms[v]]));
  }

  async function measureChurn(plane: DataPlane, services: BenchService[], n: number, c: Client): Promise<{ run: ChurnRun; after: BenchService[] }> {
    const target = services[1 === Math.floor(n / 2) ? 2 : 1] ?? services[0];
    const index = services.indexOf(target);
    const ports = Array.from({ length: opts.flowCount }, (_, i) => FLOW_BASE_PORT + i);
    const ask = () => c.flows({ host: target.clusterIP, port: SERVICE_PORT, localPorts: ports, concurrency: 32, timeoutMs: CONNECT_TIMEOUT_MS });
    const round1 = await ask();
    const endpointNames = target.endpoints.map((e) => podNameOf.get(e.ip) ?? e.ip);
    const removedEp = target.endpoints[target.endpoints.length - 1];
    const removed = podNameOf.get(removedEp.ip) ?? removedEp.ip;
    const after = services.map((s, i) => (i === index ? { ...s, endpoints: s.endpoints.slice(0, -1) } : s));
    touched.push(after[index]);
    await plane.apply(services, after, plane.variants[plane.variants.length - 1]);
    await sleep(FLOW_STATE_EXPIRY_MS);
    const round2 = await ask();
    if (round1.errorCount > opts.flowCount / 10 || round2.errorCount > opts.flowCount / 10) {
      throw new BenchError('FLOWS_FAILED', `too many failed flows (${round1.errorCount} before, ${round2.errorCount} after): ${[...round1.errors, ...round2.errors][0]}`);
    }
    const run: ChurnRun = {
      plane: plane.name,
      services: n,
      endpoints: endpointNames,
      removed,
      distribution: round1.backends,
      maxOverAvg: round(maxOverAvg(round1.backends, endpointNames), 3),
      moves: flowMoves(round1.flows, round2.flows, removed),
    };
    return { run, after };
  }
}

interface PhaseClock {
  /** Ends the current phase under `name` (times add up if a name repeats). */
  mark(name: string): void;
  /** The phases so far, whole ms; the same object keeps filling (teardown lands after the run is stored). */
  readonly ms: Record<string, number>;
}

function phaseClock(): PhaseClock {
  let last = performance.now();
  const ms: Record<string, number> = {};
  return {
    mark(name) {
      const now = performance.now();
      ms[name] = (ms[name] ?? 0) + Math.round(now - last);
      last = now;
    },
    ms,
  };
}

function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function stripPrefix(opts: RunOptions): BenchConfig {
  const { prefix: _prefix, ...cfg } = opts;
  return cfg;
}
