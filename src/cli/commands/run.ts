import type { Command } from 'commander';
import { LIST_LIMIT, capLines } from '../../bounded-read.ts';
import { HealthMonitor, applyHealth } from '../../health/index.ts';
import type { HealthChange } from '../../health/index.ts';
import { destinationKeyString, openIpvs, openVips, serviceKeyString } from '../../ipvs/index.ts';
import type { IpvsApi, VipApi } from '../../ipvs/index.ts';
import { createLogger, isLogLevel, LOG_LEVELS } from '../../log.ts';
import type { Logger } from '../../log.ts';
import { buildKernelTable } from '../../maglev/index.ts';
import { LbMetrics, exposureWarning, startMetricsServer } from '../../metrics/index.ts';
import type { MetricsServer, ServiceStats } from '../../metrics/index.ts';
import type { DesiredState } from '../../model/index.ts';
import { DEFAULT_MH_TABLE_SIZE, FileStateStore, Reconciler, StateFileHealth, SyncLoop, defaultFlowMoveEstimator } from '../../reconcile/index.ts';
import type { FlowMoveEstimator, StateStore, SyncReport } from '../../reconcile/index.ts';
import { ConfigError, formatIssue, watchConfig } from '../../sources/file/index.ts';
import type { ConfigWatcher, LoadedConfig } from '../../sources/file/index.ts';
import { DEFAULT_INTERFACE, DEFAULT_STATE_DIR, EXIT_KERNEL, kernelErrorMessage } from './plan.ts';
import { loadValidConfig, maxConfigSizeOption, reportConfigError, summary } from './validate.ts';

// `ipvs-maglev run --config lb.yaml`: the standalone load balancer. Keeps IPVS in line with the file
// and the health of the backends, reloads on SIGHUP and on file change (an invalid new file is refused
// and the running configuration stays), exposes metrics, and on SIGTERM/SIGINT just stops: nothing is
// flushed or deleted, so established connections survive a restart.

export interface RunOptions {
  config: string;
  metricsAddress: string;
  stateDir: string;
  interface: string;
  netns?: string;
  logLevel: string;
  watch: boolean;
  /** --max-config-size (bytes); default DEFAULT_MAX_CONFIG_BYTES. */
  maxConfigSize?: number;
}

const DEFAULT_METRICS = '127.0.0.1:9477';
const DEFAULT_RESYNC_MS = 60_000;
const DEFAULT_MIN_SYNC_MS = 1000;
/** While destinations drain, look at their connection counts this often (to delete them once idle). */
const DRAIN_POLL_MS = 5000;

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('run the standalone load balancer: program IPVS from a YAML file, health-check backends, serve metrics')
    .requiredOption('-c, --config <file>', 'the configuration file (see examples/README.md)')
    .option('--metrics-address <host:port>', 'where /metrics, /healthz and /readyz listen', DEFAULT_METRICS)
    .option('--state-dir <dir>', 'where ownership of IPVS services is recorded across restarts', DEFAULT_STATE_DIR)
    .option('--interface <name>', 'dummy interface that holds the VIPs', DEFAULT_INTERFACE)
    .option('--netns <name>', 'network namespace (/var/run/netns/NAME) to program')
    .option('--log-level <level>', `one of ${LOG_LEVELS.join(', ')}`, process.env.LOG_LEVEL ?? 'info')
    .option('--no-watch', 'do not reload when the file changes (SIGHUP still reloads)')
    .addOption(maxConfigSizeOption())
    .action(async (opts: RunOptions) => {
      process.exitCode = await runLoadBalancer(opts);
    });
}

/** Runs until SIGTERM/SIGINT; resolves to the exit status. */
export async function runLoadBalancer(opts: RunOptions): Promise<number> {
  if (!isLogLevel(opts.logLevel)) {
    process.stderr.write(`ipvs-maglev: unknown --log-level "${opts.logLevel}"; expected one of ${LOG_LEVELS.join(', ')}\n`);
    return 2;
  }
  // Everything that can be refused is checked before the kernel is touched.
  let config: LoadedConfig;
  try {
    config = await loadValidConfig(opts.config, { maxBytes: opts.maxConfigSize });
  } catch (err) {
    reportConfigError(err);
    return Number(process.exitCode);
  }
  const log = createLogger({ level: opts.logLevel });
  const lb = new StandaloneLb(opts, config, log);
  try {
    await lb.start();
  } catch (err) {
    await lb.stop();
    const message = kernelErrorMessage(err) ?? (err instanceof Error ? err.message : String(err));
    process.stderr.write(`ipvs-maglev: ${message}\n`);
    return EXIT_KERNEL;
  }
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.on('SIGHUP', () => void lb.reload('SIGHUP'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  log.info({ signal }, 'stopping; IPVS is left as it is (no flush), connections keep flowing');
  await lb.stop();
  return 0;
}

/** What the load balancer programs; tests pass in-memory ones, `run` opens the kernel's. */
export interface Kernel {
  ipvs: IpvsApi & { close(): void };
  vips: VipApi & { close(): void };
}

export interface StandaloneDeps {
  openKernel?: (opts: RunOptions) => Promise<Kernel>;
  store?: StateStore;
}

async function openKernel(opts: RunOptions): Promise<Kernel> {
  const ipvs = await openIpvs({ netns: opts.netns });
  try {
    return { ipvs, vips: await openVips({ interfaceName: opts.interface, netns: opts.netns }) };
  } catch (err) {
    ipvs.close();
    throw err;
  }
}

/** The running load balancer: config + health -> desired state -> reconciler, plus metrics. */
export class StandaloneLb {
  private config: LoadedConfig;
  private readonly opts: RunOptions;
  private readonly log: Logger;
  private readonly metrics: LbMetrics;
  private readonly health: HealthMonitor;
  private readonly deps: StandaloneDeps;
  private ipvs: Kernel['ipvs'] | undefined;
  private vips: Kernel['vips'] | undefined;
  private reconciler: Reconciler | undefined;
  private loop: SyncLoop<SyncReport> | undefined;
  private server: MetricsServer | undefined;
  private watcher: ConfigWatcher | undefined;
  private drainTimer: NodeJS.Timeout | undefined;
  private ready = false;
  private lastError = 'first sync pending';
  private readonly stateFile: StateFileHealth;

  constructor(opts: RunOptions, config: LoadedConfig, log: Logger, deps: StandaloneDeps = {}) {
    this.opts = opts;
    this.deps = deps;
    this.config = config;
    this.log = log;
    this.metrics = new LbMetrics();
    this.health = new HealthMonitor({ onChange: (c) => this.onHealthChange(c) });
    this.stateFile = new StateFileHealth(log);
  }

  /** The desired state now: the file's, with failed backends at weight 0 or left out. */
  desired(): DesiredState {
    return applyHealth(this.config.desired, this.config.health, (id) => this.health.isDown(id));
  }

  async start(): Promise<void> {
    const { opts, log } = this;
    // The metrics port first: failing on it must not leave a half-started controller behind.
    this.server = await startMetricsServer(opts.metricsAddress, this.metrics.registry, () =>
      this.stateFile.problem !== undefined ? { ready: false, reason: this.stateFile.problem } : { ready: this.ready, reason: this.lastError },
    );
    if (this.server.exposed) log.warn({ metrics: this.server.address }, exposureWarning(this.server));
    const kernel = await (this.deps.openKernel ?? openKernel)(opts);
    this.ipvs = kernel.ipvs;
    this.vips = kernel.vips;
    const settings = this.config.settings;
    this.reconciler = new Reconciler({
      ipvs: this.ipvs,
      vips: this.vips,
      store: this.deps.store ?? new FileStateStore(opts.stateDir),
      logger: log,
      drainTimeoutMs: settings.drainTimeoutMs,
      flowMoveEstimator: this.timedEstimator(),
      onReport: (r) => this.onReport(r),
    });
    const reconciler = this.reconciler;
    this.loop = new SyncLoop<SyncReport>({
      sync: (full) => (full ? reconciler.resync(this.desired()) : reconciler.sync(this.desired())),
      needsRetry: (r) => r.errors.length > 0,
      minIntervalMs: settings.minSyncIntervalMs ?? DEFAULT_MIN_SYNC_MS,
      fullResyncIntervalMs: settings.resyncIntervalMs ?? DEFAULT_RESYNC_MS,
      logger: log,
    });
    this.metrics.setSources({ kernelStats: () => this.kernelStats(), health: () => this.healthStatus() });
    this.health.setTargets(this.config.health);
    if (opts.watch) this.watcher = watchConfig(opts.config, () => void this.reload('file changed'), undefined, opts.maxConfigSize);
    log.info(
      { config: opts.config, metrics: this.server.address, stateDir: opts.stateDir, interface: opts.interface, netns: opts.netns ?? null },
      `running: ${summary(this.config)}`,
    );
    this.loop.start();
  }

  /** Re-reads the file; an invalid one is refused and the running configuration stays. */
  async reload(why: string): Promise<void> {
    try {
      const next = await loadValidConfig(this.opts.config, { maxBytes: this.opts.maxConfigSize });
      if (JSON.stringify(next.settings) !== JSON.stringify(this.config.settings)) {
        this.log.warn({ running: this.config.settings, file: next.settings }, 'changed "settings" take effect at the next restart; services and health checks are reloaded now');
        next.settings = this.config.settings;
      }
      this.config = next;
      this.health.setTargets(next.health);
      this.metrics.recordReload('applied');
      this.log.info({ why }, `configuration reloaded: ${summary(next)}`);
      this.loop?.trigger();
    } catch (err) {
      this.metrics.recordReload('rejected');
      const problems = err instanceof ConfigError ? capLines(err.issues.map(formatIssue), LIST_LIMIT, err.total) : [err instanceof Error ? err.message : String(err)];
      this.log.error({ why, problems }, 'new configuration refused; the running one stays in force');
    }
  }

  /** Resolves when no sync is running or pending (tests). */
  async idle(): Promise<void> {
    await this.loop?.idle();
  }

  /** Current metrics text (tests, debugging). */
  metricsText(): Promise<string> {
    return this.metrics.registry.metrics();
  }

  isReady(): boolean {
    return this.ready;
  }

  async stop(): Promise<void> {
    this.watcher?.close();
    this.health.stop();
    if (this.drainTimer) clearTimeout(this.drainTimer);
    await this.loop?.stop();
    await this.server?.close();
    this.ipvs?.close();
    this.vips?.close();
  }

  private onHealthChange(c: HealthChange): void {
    const fields = { service: c.target.serviceName, backend: destinationKeyString(c.target.destination), reason: c.reason };
    if (c.state === 'down') this.log.warn(fields, `backend down: ${c.target.check.onFailure === 'remove' ? 'removing it' : 'weight 0'}`);
    else this.log.info(fields, 'backend up again');
    this.loop?.trigger();
  }

  private onReport(r: SyncReport): void {
    this.metrics.recordSync(r, (s) => this.reconciler?.owns(s) ?? true);
    this.stateFile.observe(r.errors);
    if (r.mode !== 'skipped') {
      this.ready = true;
      this.lastError = '';
    } else if (!this.ready) {
      this.lastError = r.errors.map((e) => e.message).join('; ') || 'sync skipped';
    }
    for (const m of r.flowMoves) {
      this.log.info({ service: m.name, moved: round(m.changedFraction), minimum: round(m.minimumFraction) }, 'maglev table changed');
    }
    // Drained destinations are deleted once idle; look again soon rather than at the next full resync.
    if (r.draining > 0 && !this.drainTimer) {
      this.drainTimer = setTimeout(() => {
        this.drainTimer = undefined;
        this.loop?.trigger();
      }, DRAIN_POLL_MS);
      this.drainTimer.unref();
    }
  }

  /** The reconciler's flow-move estimate, with the Maglev table build timed for the metrics. */
  private timedEstimator(): FlowMoveEstimator | null {
    const inner = defaultFlowMoveEstimator;
    if (!inner) return null;
    return (before, after, tableSize) => {
      const t0 = performance.now();
      const additionOrder = [...after].reverse();
      buildKernelTable(additionOrder, tableSize || DEFAULT_MH_TABLE_SIZE);
      this.metrics.observeTableBuild((performance.now() - t0) / 1000);
      return inner(before, after, tableSize);
    };
  }

  private async kernelStats(): Promise<ServiceStats[]> {
    const ipvs = this.ipvs;
    const reconciler = this.reconciler;
    if (!ipvs || !reconciler) return [];
    const owned = new Set(reconciler.owned());
    const names = new Map(this.config.desired.services.map((s) => [serviceKeyString(s.key), s.name]));
    const out: ServiceStats[] = [];
    for (const svc of await ipvs.listServices()) {
      const id = serviceKeyString(svc.key);
      if (!owned.has(id)) continue;
      const dests = await ipvs.listDestinations(svc.key);
      out.push({
        name: names.get(id) ?? id,
        service: id,
        stats: svc.stats,
        destinations: dests.map((d) => ({
          destination: destinationKeyString(d.key),
          weight: d.config.weight,
          activeConns: d.activeConns,
          inactiveConns: d.inactiveConns,
          stats: d.stats,
        })),
      });
    }
    return out;
  }

  private healthStatus(): { serviceName: string; destination: string; up: boolean }[] {
    return this.health.status().map((s) => ({ serviceName: s.target.serviceName, destination: destinationKeyString(s.target.destination), up: s.state === 'up' }));
  }
}

function round(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}
