import { LIST_LIMIT, capLines } from '../bounded-read.ts';
import { AnnounceError, AnnounceMetrics, Announcer, createSpeaker, decideVips } from '../announce/index.ts';
import type { ServiceView, Speaker } from '../announce/index.ts';
import { HealthMonitor, QuorumTracker, applyHealth } from '../health/index.ts';
import type { HealthChange, QuorumChange } from '../health/index.ts';
import { destinationKeyString, openSyncDaemons, serviceKeyString } from '../ipvs/index.ts';
import type { Destination, Service } from '../ipvs/index.ts';
import { createLogger, isLogLevel, LOG_LEVELS } from '../log.ts';
import type { Logger } from '../log.ts';
import { buildKernelTable } from '../maglev/index.ts';
import { LastWeights, LbMetrics, TableCache, buildStatus, exposureWarning, startMetricsServer } from '../metrics/index.ts';
import type { MetricsServer, QuorumServiceStatus, ServiceStats, StatusSnapshot } from '../metrics/index.ts';
import type { DesiredState } from '../model/index.ts';
import { DEFAULT_MH_TABLE_SIZE, FileStateStore, Reconciler, StateFileHealth, SyncLoop, defaultFlowMoveEstimator } from '../reconcile/index.ts';
import type { FlowMoveEstimator, StateStore, SyncReport } from '../reconcile/index.ts';
import { ConfigError, formatIssue, loadConfigFile, watchConfig } from '../sources/file/index.ts';
import type { ConfigWatcher, LoadedConfig } from '../sources/file/index.ts';
import { applySysctls } from '../sysctl.ts';
import type { SysctlSetting } from '../sysctl.ts';
import { reportConfigError, summary } from './config.ts';
import { DEFAULT_MIN_SYNC_MS, DRAIN_POLL_MS, STANDALONE_RESYNC_MS } from './defaults.ts';
import { EXIT_BAD_CONFIG, EXIT_KERNEL, kernelErrorMessage } from './exit.ts';
import { type Kernel, openKernel } from './kernel.ts';

// The standalone load balancer (`ipvs-maglev run --config lb.yaml`). Keeps IPVS in line with the file
// and the health of the backends, reloads on SIGHUP and on file change (an invalid new file is refused
// and the running configuration stays), exposes metrics, and on SIGTERM/SIGINT just stops: nothing is
// flushed or deleted, so established connections survive a restart.
// With a `bgp` section (scale-out behind ECMP routers) it also announces, through BIRD, the VIPs this
// node serves; SIGTERM/SIGINT then withdraw them first and keep serving for bgp.gracePeriod before
// exiting (a drain), while SIGUSR2 exits at once leaving routes and IPVS as they are (an in-place
// restart or upgrade: the next process takes the routes over without a flap).

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
  /** Hidden --no-canonical-mh-order: leave mh lists in history order (only as a test's control). */
  canonicalMhOrder?: boolean;
  /** --status-page: serve /status and /status.json on the metrics port (default off). */
  statusPage?: boolean;
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
    config = await loadConfigFile(opts.config, { maxBytes: opts.maxConfigSize });
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
    if (err instanceof AnnounceError) {
      // BIRD missing or refusing its configuration: a setup problem a restart cannot fix.
      process.stderr.write(`ipvs-maglev: bgp: ${err.message}\n`);
      return EXIT_BAD_CONFIG;
    }
    const message = kernelErrorMessage(err) ?? (err instanceof Error ? err.message : String(err));
    process.stderr.write(`ipvs-maglev: ${message}\n`);
    return EXIT_KERNEL;
  }
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.on('SIGHUP', () => void lb.reload('SIGHUP'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGUSR2', () => resolve('SIGUSR2'));
  });
  if (signal === 'SIGUSR2') {
    log.info({ signal }, 'restarting: VIP announcements and IPVS are left as they are for the next process');
  } else {
    await lb.withdrawAndGrace(signal);
    log.info({ signal }, 'stopping; IPVS is left as it is (no flush), connections keep flowing');
  }
  await lb.stop();
  return 0;
}


export interface StandaloneDeps {
  openKernel?: (opts: RunOptions) => Promise<Kernel>;
  store?: StateStore;
  /** The BGP speaker driver (tests pass a fake; `run` drives BIRD). */
  createSpeaker?: (cfg: NonNullable<LoadedConfig['bgp']>, source: string) => Speaker;
  /** Period of announcement safety checks and speaker status polls. Default 10 s. */
  announceIntervalMs?: number;
  /** Tests without a kernel: do not write /proc/sys or start sync daemons. */
  skipSysctls?: boolean;
  skipSyncDaemon?: boolean;
}

/** What a scale-out node needs to carry on a flow another node began (it never saw the SYN). */
export const TAKE_OVER_SYSCTLS: readonly SysctlSetting[] = [
  { key: 'net/ipv4/vs/sloppy_tcp', value: '1', why: 'scale-out: take over TCP flows that another load-balancer node started (no SYN seen here)' },
  { key: 'net/ipv4/vs/sloppy_sctp', value: '1', why: 'scale-out: take over SCTP associations that another node started' },
];

/** The running load balancer: config + health -> desired state -> reconciler, plus metrics. */
export class StandaloneLb {
  private config: LoadedConfig;
  private readonly opts: RunOptions;
  private readonly log: Logger;
  private readonly metrics: LbMetrics;
  private readonly health: HealthMonitor;
  private readonly quorum: QuorumTracker;
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
  /** The last sync ran (not skipped): false again when a dump fails, and the node stops announcing. */
  private lastSyncOk = false;
  private lastSyncErrors = new Set<string>();
  private announcer: Announcer | undefined;
  private speaker: Speaker | undefined;
  private evaluating: Promise<void> | undefined;
  private evaluateAgain = false;
  private announceTimer: NodeJS.Timeout | undefined;
  private shuttingDown = false;
  /** Until the first decision, whatever BIRD announces (a previous process's routes) is left alone. */
  private decidedOnce = false;
  private firstDecisionDeadline = 0;
  /** The weights mh tables are built with, for the status page (the kernel does not report them). */
  private readonly lastWeights = new LastWeights();
  private readonly statusTables = new TableCache();

  constructor(opts: RunOptions, config: LoadedConfig, log: Logger, deps: StandaloneDeps = {}) {
    this.opts = opts;
    this.deps = deps;
    this.config = config;
    this.log = log;
    this.metrics = new LbMetrics();
    this.health = new HealthMonitor({ onChange: (c) => this.onHealthChange(c) });
    this.quorum = new QuorumTracker({ onChange: (c) => this.onQuorumChange(c) });
    this.quorum.setPolicies(config.quorum);
    this.stateFile = new StateFileHealth(log);
  }

  /** The desired state now: the file's, with failed backends at weight 0 or left out, and sorry servers of services short of quorum. */
  desired(): DesiredState {
    return this.quorum.apply(applyHealth(this.config.desired, this.config.health, (id) => this.health.isDown(id)));
  }

  async start(): Promise<void> {
    const { opts, log } = this;
    const bgp = this.config.bgp;
    if (bgp) {
      // Before anything else: BIRD missing or refusing its configuration is a setup error, reported
      // before the kernel is touched. Nothing is withdrawn here: what BIRD announces stays until this
      // node has decided what it serves (restarts do not flap routes).
      this.speaker = (this.deps.createSpeaker ?? createSpeaker)(bgp, opts.config);
      await this.speaker.prepare();
    }
    // The metrics port first: failing on it must not leave a half-started controller behind.
    this.server = await startMetricsServer(
      opts.metricsAddress,
      this.metrics.registry,
      () => (this.stateFile.problem !== undefined ? { ready: false, reason: this.stateFile.problem } : { ready: this.ready, reason: this.lastError }),
      { status: opts.statusPage ? () => this.status() : undefined },
    );
    if (this.server.exposed) log.warn({ metrics: this.server.address }, exposureWarning(this.server));
    const kernel = await (this.deps.openKernel ?? ((o: RunOptions) => openKernel({ interfaceName: o.interface, netns: o.netns })))(opts);
    this.ipvs = kernel.ipvs;
    this.vips = kernel.vips;
    if (bgp?.takeOverFlows && !this.deps.skipSysctls) await applySysctls(TAKE_OVER_SYSCTLS, log, { netns: opts.netns });
    if (this.config.connectionSync && !this.deps.skipSyncDaemon) await this.startSyncDaemons();
    if (this.speaker && bgp) {
      this.announcer = new Announcer({ speaker: this.speaker, logger: log, metrics: new AnnounceMetrics(this.metrics.registry, bgp.speaker), statusIntervalMs: this.deps.announceIntervalMs });
      this.announcer.startPolling();
      // A node that cannot get ready must not keep a previous process's routes forever.
      const longestCheck = Math.max(0, ...this.config.health.map((t) => t.check.intervalMs * (t.check.fall + 1)));
      this.firstDecisionDeadline = Date.now() + Math.max(30_000, longestCheck);
      this.scheduleAnnounceCheck();
    }
    const settings = this.config.settings;
    this.reconciler = new Reconciler({
      ipvs: this.ipvs,
      vips: this.vips,
      store: this.deps.store ?? new FileStateStore(opts.stateDir),
      logger: log,
      drainTimeoutMs: settings.drainTimeoutMs,
      // Behind ECMP every node must keep the same mh table: drained destinations go at the timeout only.
      deleteDrainedAtTimeoutOnly: bgp !== undefined,
      canonicalMhOrder: opts.canonicalMhOrder !== false,
      flowMoveEstimator: this.timedEstimator(),
      onReport: (r) => this.onReport(r),
    });
    const reconciler = this.reconciler;
    this.loop = new SyncLoop<SyncReport>({
      sync: (full) => (full ? reconciler.resync(this.desired()) : reconciler.sync(this.desired())),
      needsRetry: (r) => r.errors.length > 0,
      minIntervalMs: settings.minSyncIntervalMs ?? DEFAULT_MIN_SYNC_MS,
      fullResyncIntervalMs: settings.resyncIntervalMs ?? STANDALONE_RESYNC_MS,
      logger: log,
    });
    this.metrics.setSources({ kernelStats: () => this.kernelStats(), health: () => this.healthStatus(), quorum: () => this.quorumStatus() });
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
      const next = await loadConfigFile(this.opts.config, { maxBytes: this.opts.maxConfigSize });
      if (JSON.stringify(next.settings) !== JSON.stringify(this.config.settings)) {
        this.log.warn({ running: this.config.settings, file: next.settings }, 'changed "settings" take effect at the next restart; services and health checks are reloaded now');
        next.settings = this.config.settings;
      }
      for (const k of ['bgp', 'connectionSync'] as const) {
        if (JSON.stringify(next[k]) !== JSON.stringify(this.config[k])) {
          this.log.warn({ section: k }, `changed "${k}" takes effect at the next restart; services and health checks are reloaded now`);
        }
      }
      if (this.config.bgp) next.bgp = this.config.bgp;
      else delete next.bgp;
      if (this.config.connectionSync) next.connectionSync = this.config.connectionSync;
      else delete next.connectionSync;
      this.config = next;
      this.health.setTargets(next.health);
      this.quorum.setPolicies(next.quorum);
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

  /** Where /metrics (and /status) listen, the port resolved ("127.0.0.1:40123"); undefined before start. */
  metricsAddress(): string | undefined {
    return this.server?.address;
  }

  isReady(): boolean {
    return this.ready;
  }

  /** The VIPs this node announces now (tests). */
  announced(): string[] {
    return this.announcer?.announced() ?? [];
  }

  /**
   * SIGTERM with BGP: withdraw every VIP first, then keep serving (IPVS, health checks) for the grace
   * period, so routers move the flows to the other nodes while this one still forwards what arrives.
   */
  async withdrawAndGrace(signal: string): Promise<void> {
    this.shuttingDown = true;
    const announcer = this.announcer;
    const bgp = this.config.bgp;
    if (!announcer || !bgp) return;
    const outcome = await announcer.withdrawAll(`${signal}: stopping`, { final: true });
    if (!outcome.applied) this.log.error({ err: outcome.error }, 'withdrawal on stop was not confirmed by the speaker');
    this.log.info({ gracePeriodMs: bgp.gracePeriodMs }, `VIPs withdrawn; serving for ${bgp.gracePeriodMs} ms more while routers move the flows away`);
    await new Promise((resolve) => setTimeout(resolve, bgp.gracePeriodMs));
  }

  async stop(): Promise<void> {
    this.shuttingDown = true;
    if (this.announceTimer) clearTimeout(this.announceTimer);
    await this.evaluating;
    await this.announcer?.stop();
    this.watcher?.close();
    this.health.stop();
    if (this.drainTimer) clearTimeout(this.drainTimer);
    await this.loop?.stop();
    await this.server?.close();
    this.ipvs?.close();
    this.vips?.close();
  }

  private async startSyncDaemons(): Promise<void> {
    const daemons = await openSyncDaemons({ netns: this.opts.netns });
    try {
      for (const cfg of this.config.connectionSync ?? []) {
        const done = await daemons.ensure(cfg);
        this.log.info({ ...cfg, done }, `IPVS connection sync daemon (${cfg.role}) on ${cfg.interface}, sync id ${cfg.syncId}: ${done}`);
      }
    } finally {
      daemons.close();
    }
  }

  /** Re-evaluate the announcements soon; repeated while first health checks are outstanding. */
  private scheduleAnnounceCheck(delayMs = 0): void {
    if (!this.announcer || this.shuttingDown) return;
    if (this.announceTimer) clearTimeout(this.announceTimer);
    this.announceTimer = setTimeout(() => {
      this.announceTimer = undefined;
      void this.evaluateAnnouncements();
    }, delayMs);
    this.announceTimer.unref();
  }

  /** What each VIP's services look like from here now, for the announcement policy. */
  private async evaluateAnnouncements(): Promise<void> {
    if (this.evaluating) {
      this.evaluateAgain = true;
      return this.evaluating;
    }
    this.evaluating = (async () => {
      const announcer = this.announcer;
      const ipvs = this.ipvs;
      if (!announcer || !ipvs || this.shuttingDown) return;
      let present: Set<string> | undefined;
      try {
        present = new Set((await ipvs.listServices()).map((s) => serviceKeyString(s.key)));
      } catch (err) {
        this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'cannot read IPVS services: announcing nothing until it works again');
      }
      const probed = new Map<string, boolean>();
      for (const t of this.health.status()) {
        const id = serviceKeyString(t.target.service);
        probed.set(id, (probed.get(id) ?? true) && t.lastProbeAt !== undefined);
      }
      const views: ServiceView[] = this.desired().services.map((svc) => {
        const id = serviceKeyString(svc.key);
        return {
          name: svc.name,
          address: svc.key.kind === 'addr' ? svc.key.address : undefined,
          family: svc.key.family,
          inKernel: present?.has(id) ?? false,
          syncError: this.lastSyncErrors.has(id),
          healthChecked: probed.get(id) ?? true,
          quorumLost: this.quorum.downReason(id),
          availableDestinations: svc.destinations.filter((d) => d.config.weight > 0).length,
        };
      });
      const nodeReady = this.ready && this.lastSyncOk && present !== undefined && !this.shuttingDown;
      if (this.shuttingDown) return;
      const waiting = views.some((v) => !v.healthChecked);
      if (!this.decidedOnce) {
        if ((!nodeReady || waiting) && Date.now() < this.firstDecisionDeadline) {
          this.scheduleAnnounceCheck(500);
          return;
        }
        this.decidedOnce = true;
      }
      await announcer.update(decideVips(views, nodeReady));
      // First health checks still outstanding: look again shortly. Otherwise a slow safety net catches
      // services deleted behind our back (never a route for a VIP whose service is missing).
      this.scheduleAnnounceCheck(waiting ? 500 : (this.deps.announceIntervalMs ?? 10_000));
    })().finally(() => {
      this.evaluating = undefined;
    });
    await this.evaluating;
    if (this.evaluateAgain) {
      this.evaluateAgain = false;
      await this.evaluateAnnouncements();
    }
  }

  private onHealthChange(c: HealthChange): void {
    this.scheduleAnnounceCheck(0);
    const fields = { service: c.target.serviceName, backend: destinationKeyString(c.target.destination), reason: c.reason };
    if (c.state === 'down') this.log.warn(fields, `backend down: ${c.target.check.onFailure === 'remove' ? 'removing it' : 'weight 0'}`);
    else this.log.info(fields, 'backend up again');
    this.loop?.trigger();
  }

  private onQuorumChange(c: QuorumChange): void {
    const { policy } = c;
    const sorry = policy.sorryServer === undefined ? undefined : destinationKeyString(policy.sorryServer.key);
    const fields = { service: policy.serviceName, availableWeight: c.availableWeight, quorum: policy.quorum, hysteresis: policy.hysteresis, sorryServer: sorry ?? null };
    if (!c.up) this.log.warn(fields, `quorum lost: ${c.reason}; ${sorry ? `sorry server ${sorry} takes new connections` : 'no sorry server, the remaining destinations keep serving'}${this.config.bgp ? '; VIP not announced' : ''}`);
    else this.log.info(fields, `quorum gained: ${c.reason}${sorry ? `; sorry server ${sorry} drained` : ''}`);
    this.metrics.recordQuorumChange(policy.serviceName, c.up, c.sorryServer);
    this.scheduleAnnounceCheck(0);
    this.loop?.trigger();
  }

  private onReport(r: SyncReport): void {
    this.metrics.recordSync(r, (s) => this.reconciler?.owns(s) ?? true);
    this.lastWeights.observe(r.operations);
    this.stateFile.observe(r.errors);
    if (r.mode !== 'skipped') {
      this.ready = true;
      this.lastError = '';
    } else if (!this.ready) {
      this.lastError = r.errors.map((e) => e.message).join('; ') || 'sync skipped';
    }
    this.lastSyncOk = r.mode !== 'skipped';
    this.lastSyncErrors = new Set(r.errors.flatMap((e) => (e.service === undefined ? [] : [e.service])));
    if (this.announcer) void this.evaluateAnnouncements();
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

  /** The owned services as the kernel holds them now, destinations in kernel order, with the file's names. */
  private async ownedServices(): Promise<{ name: string; service: Service; destinations: Destination[] }[]> {
    const ipvs = this.ipvs;
    const reconciler = this.reconciler;
    if (!ipvs || !reconciler) return [];
    const owned = new Set(reconciler.owned());
    const names = new Map(this.config.desired.services.map((s) => [serviceKeyString(s.key), s.name]));
    const out: { name: string; service: Service; destinations: Destination[] }[] = [];
    for (const svc of await ipvs.listServices()) {
      const id = serviceKeyString(svc.key);
      if (!owned.has(id)) continue;
      out.push({ name: names.get(id) ?? id, service: svc, destinations: await ipvs.listDestinations(svc.key) });
    }
    return out;
  }

  private async kernelStats(): Promise<ServiceStats[]> {
    return (await this.ownedServices()).map(({ name, service, destinations }) => ({
      name,
      service: serviceKeyString(service.key),
      stats: service.stats,
      destinations: destinations.map((d) => ({
        destination: destinationKeyString(d.key),
        weight: d.config.weight,
        activeConns: d.activeConns,
        inactiveConns: d.inactiveConns,
        stats: d.stats,
      })),
    }));
  }

  /** What the status page shows (--status-page). */
  async status(): Promise<StatusSnapshot> {
    return buildStatus({
      services: await this.ownedServices(),
      drains: this.reconciler?.draining() ?? [],
      health: this.healthStatus(),
      mhTableSize: DEFAULT_MH_TABLE_SIZE,
      lastWeights: this.lastWeights,
      tables: this.statusTables,
      quorum: this.quorumStatus(),
    });
  }

  private quorumStatus(): QuorumServiceStatus[] {
    return this.quorum.status().map((s) => ({
      serviceName: s.policy.serviceName,
      service: serviceKeyString(s.policy.service),
      up: s.up,
      availableWeight: s.availableWeight,
      sorryServerActive: s.sorryServerActive,
    }));
  }

  private healthStatus(): { serviceName: string; destination: string; up: boolean }[] {
    return this.health.status().map((s) => ({ serviceName: s.target.serviceName, destination: destinationKeyString(s.target.destination), up: s.state === 'up' }));
  }
}

function round(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}
