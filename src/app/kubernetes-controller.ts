import type { KubeConfig } from '@kubernetes/client-node';
import type { IpvsApi, VipApi } from '../ipvs/types.ts';
import { LastWeights, type LbMetrics, TableCache, buildStatus } from '../metrics/index.ts';
import type { Readiness, StatusSnapshot } from '../metrics/index.ts';
import { serviceKeyString } from '../ipvs/keys.ts';
import type { Destination, Service } from '../ipvs/types.ts';
import type { MasqueradeInput, MasqueradeVip } from '../nat/rules.ts';
import type { MasqueradeResult } from '../nat/nft.ts';
import { Reconciler } from '../reconcile/reconciler.ts';
import { StateFileHealth } from '../reconcile/store.ts';
import { SyncLoop } from '../reconcile/loop.ts';
import type { Logger, PlanOptions, StateStore, SyncReport } from '../reconcile/types.ts';
import { ClusterState } from '../sources/kubernetes/cluster-state.ts';
import type { HealthCheckServers } from '../sources/kubernetes/health-check-server.ts';
import { ClusterWatch } from '../sources/kubernetes/informers.ts';
import { KubernetesMetrics } from '../sources/kubernetes/metrics.ts';
import type { NodePortRange } from '../sources/kubernetes/objects.ts';
import type { Translation } from '../sources/kubernetes/translate.ts';
import { EventRecorder, type EventLimits, type EventSink } from '../sources/kubernetes/events.ts';
import { type WarningRecorder, logWarnings } from '../sources/kubernetes/warnings.ts';
import { DEFAULT_MIN_SYNC_MS, KUBERNETES_RESYNC_MS } from './defaults.ts';

// The Kubernetes controller: informers feed the cluster state; a coalescing sync loop (minimum
// interval, periodic full resync) turns it into the desired state and hands it to the
// reconciler, then brings the masquerade rules in line. Nothing is synced — so nothing can be
// deleted — before every informer has completed its first list.

export interface MasqueradeApplier {
  apply(input: MasqueradeInput, verify?: boolean): Promise<MasqueradeResult>;
}

export interface ControllerOptions {
  kubeConfig: KubeConfig;
  nodeName: string;
  /** Node addresses for node ports; default: our Node's InternalIP/ExternalIP. */
  nodeIPs?: readonly string[];
  /** The cluster's node port range (the API server's --service-node-port-range); default 30000-32767. */
  nodePortRange?: NodePortRange;
  /** Where translation warnings go (default: log lines). */
  warnings?: WarningRecorder;
  /** Also record each warning as a Kubernetes Event on the object it names (events.ts); omitted = logs only. */
  events?: { sink: EventSink; limits?: Partial<EventLimits> };
  ipvs: IpvsApi;
  vips?: VipApi;
  /** Ownership across restarts (FileStateStore in production). */
  store?: StateStore;
  logger: Logger;
  /** Default 1000 ms. */
  minSyncIntervalMs?: number;
  /** Default 30 000 ms. */
  fullResyncIntervalMs?: number;
  /** Passed to the reconciler (drain timeout, ...). */
  planOptions?: PlanOptions;
  /** Masquerade rules; omitted = none (e.g. a CNI that masquerades itself, or tests without nft). */
  masquerade?: { applier: MasqueradeApplier; clusterCIDRs: readonly string[]; masqueradeAll: boolean };
  /** The standalone metrics; Kubernetes metrics are added to its registry. */
  metrics?: LbMetrics;
  /** List page size (default 500). */
  pageSize?: number;
  /** Informer restart delay after an error (default 1000 ms, doubling). */
  restartDelayMs?: number;
  /** kube-proxy's health check node ports (LoadBalancer + externalTrafficPolicy Local); omitted = not served. */
  healthChecks?: HealthCheckServers;
  /** Called after every sync with the latencies (ms) of the changes it programmed (tests, benchmarks). */
  onSynced?: (info: { report: SyncReport; full: boolean; latenciesMs: number[] }) => void;
}

export class KubernetesController {
  readonly state: ClusterState;
  private readonly opts: ControllerOptions;
  private readonly watch: ClusterWatch;
  private readonly reconciler: Reconciler;
  private readonly loop: SyncLoop<SyncReport>;
  private readonly k8sMetrics: KubernetesMetrics | undefined;
  private firstSyncDone = false;
  private lastError: string | undefined;
  private masqueradeFailing = false;
  private masqueradeApplied: Translation['state'] | undefined;
  private readonly stateFile: StateFileHealth;
  private readonly eventRecorder: EventRecorder | undefined;
  /** The weights mh tables are built with, for the status page (the kernel does not report them). */
  private readonly lastWeights = new LastWeights();
  private readonly statusTables = new TableCache();
  /** Names of the desired services ("ns/name:port"), by service key, as of the last sync. */
  private names = new Map<string, string>();

  constructor(opts: ControllerOptions) {
    this.opts = opts;
    const log = opts.logger;
    this.k8sMetrics = opts.metrics ? new KubernetesMetrics(opts.metrics.registry) : undefined;
    this.stateFile = new StateFileHealth(log);
    const warnings = opts.warnings ?? logWarnings(log);
    const events = opts.events;
    this.eventRecorder = events
      ? new EventRecorder({ sink: events.sink, limits: events.limits, nodeName: opts.nodeName, logger: log, onOutcome: (o) => this.k8sMetrics?.warningEvents.inc({ outcome: o }) })
      : undefined;
    this.state = new ClusterState({
      nodeName: opts.nodeName,
      nodeIPs: opts.nodeIPs,
      nodePortRange: opts.nodePortRange,
      onWarning: (w) => {
        warnings.record(w);
        this.eventRecorder?.record(w);
      },
    });
    this.reconciler = new Reconciler({
      ...opts.planOptions,
      ipvs: opts.ipvs,
      vips: opts.vips,
      store: opts.store,
      logger: log,
    });
    this.loop = new SyncLoop<SyncReport>({
      sync: (full) => this.sync(full),
      minIntervalMs: opts.minSyncIntervalMs ?? DEFAULT_MIN_SYNC_MS,
      fullResyncIntervalMs: opts.fullResyncIntervalMs ?? KUBERNETES_RESYNC_MS,
      needsRetry: (r) => r.errors.length > 0,
      logger: log,
    });
    this.watch = new ClusterWatch({
      kubeConfig: opts.kubeConfig,
      logger: log,
      pageSize: opts.pageSize,
      restartDelayMs: opts.restartDelayMs,
      onEvent: (e) => {
        this.k8sMetrics?.events.inc({ kind: e.kind, type: e.type });
        this.state.apply(e);
        this.loop.trigger();
      },
      onError: (kind) => this.k8sMetrics?.informerErrors.inc({ kind }),
      onListed: (kind) => this.k8sMetrics?.relists.inc({ kind }),
    });
  }

  /** Starts the informers; the sync loop starts once they have all listed. */
  start(): void {
    this.watch.start();
    void this.watch.synced.then(() => {
      this.opts.logger.info({ services: this.state.serviceCount }, 'all informers synced; starting syncs');
      this.state.recordLatencySince(Date.now());
      this.loop.start();
    });
  }

  /** Stops watching and syncing. Leaves IPVS, addresses and rules in place (connections survive a restart). */
  async stop(): Promise<void> {
    await this.watch.stop();
    await this.loop.stop();
    await this.opts.healthChecks?.stop();
    await this.eventRecorder?.stop();
  }

  /** Resolves when every Event queued so far has been written or given up on (tests). */
  eventsFlushed(): Promise<void> {
    return this.eventRecorder?.flush() ?? Promise.resolve();
  }

  /** Resolves when every informer has listed once. */
  get synced(): Promise<void> {
    return this.watch.synced;
  }

  /** Waits until no sync is running or pending. */
  idle(): Promise<void> {
    return this.loop.idle();
  }

  readiness(): Readiness {
    if (!this.watch.isSynced) return { ready: false, reason: 'informers have not listed yet' };
    // Fail safe is not enough: a state file that blocks every sync must show, even after the first one.
    if (this.stateFile.problem !== undefined) return { ready: false, reason: this.stateFile.problem };
    if (!this.firstSyncDone) return { ready: false, reason: this.lastError ?? 'first sync not done' };
    return { ready: true };
  }

  /** What the status page shows (--status-page): the owned virtual servers as the kernel holds them now. */
  async status(): Promise<StatusSnapshot> {
    const services: { name: string; service: Service; destinations: Destination[] }[] = [];
    for (const svc of await this.opts.ipvs.listServices()) {
      const id = serviceKeyString(svc.key);
      if (!this.reconciler.owns(id)) continue;
      services.push({ name: this.names.get(id) ?? id, service: svc, destinations: await this.opts.ipvs.listDestinations(svc.key) });
    }
    return buildStatus({ services, drains: this.reconciler.draining(), health: [], lastWeights: this.lastWeights, tables: this.statusTables });
  }

  /** Owned virtual servers (for metrics sources and tests). */
  owned(): string[] {
    return this.reconciler.owned();
  }

  private async sync(full: boolean): Promise<SyncReport> {
    const ready = this.watch.isSynced;
    const translation = ready ? this.state.desired() : undefined;
    this.k8sMetrics?.warnings.set(translation?.warnings.length ?? 0);
    const times = this.state.takeTriggerTimes();
    const desired = translation?.state;
    const report = full ? await this.reconciler.resync(desired) : await this.reconciler.sync(desired);
    this.lastWeights.observe(report.operations);
    if (desired) this.names = new Map(desired.services.map((s) => [serviceKeyString(s.key), s.name]));
    this.opts.metrics?.recordSync(report, (s) => this.reconciler.owns(s));
    this.stateFile.observe(report.errors);
    let ok = report.mode !== 'skipped' && report.errors.length === 0;
    if (ok && translation && this.opts.masquerade) ok = await this.applyMasquerade(translation, full);
    if (ready && this.opts.healthChecks) await this.opts.healthChecks.sync(this.state.healthChecks());
    const done = Date.now();
    const latenciesMs: number[] = [];
    if (ok) {
      for (const t of times) {
        latenciesMs.push(done - t);
        this.k8sMetrics?.programmingLatency.observe((done - t) / 1000);
      }
      this.firstSyncDone = true;
      this.lastError = undefined;
    } else {
      this.state.restoreTriggerTimes(times);
      this.lastError = report.errors[0]?.message ?? this.lastError;
    }
    this.opts.logger.debug({ mode: report.mode, full, ms: report.durationMs, ops: report.operations.length, errors: report.errors.length }, 'sync done');
    this.opts.onSynced?.({ report, full, latenciesMs });
    return report;
  }

  private async applyMasquerade(translation: Translation, full: boolean): Promise<boolean> {
    const m = this.opts.masquerade;
    if (!m) return true;
    // The same desired state (ClusterState returns the same object when nothing changed) needs no new rules.
    if (!full && translation.state === this.masqueradeApplied) return true;
    try {
      const result = await m.applier.apply(masqueradeInput(translation, m.clusterCIDRs, m.masqueradeAll), full);
      this.masqueradeApplied = translation.state;
      this.k8sMetrics?.masquerade.inc({ mode: result.mode });
      if (this.masqueradeFailing) this.opts.logger.info({}, 'masquerade rules applied again');
      this.masqueradeFailing = false;
      return true;
    } catch (err) {
      this.masqueradeApplied = undefined;
      this.k8sMetrics?.masquerade.inc({ mode: 'failed' });
      this.lastError = `masquerade rules: ${err instanceof Error ? err.message : String(err)}`;
      if (!this.masqueradeFailing) this.opts.logger.error({ err: this.lastError }, 'cannot apply masquerade rules; retrying at the next sync');
      this.masqueradeFailing = true;
      return false;
    }
  }
}

export function masqueradeInput(t: Translation, clusterCIDRs: readonly string[], masqueradeAll: boolean): MasqueradeInput {
  const vips: MasqueradeVip[] = [];
  const seen = new Set<string>();
  const endpoints: { family: 'inet' | 'inet6'; address: string }[] = [];
  t.state.services.forEach((s, i) => {
    if (s.key.kind !== 'addr') return;
    const v = t.vips[i];
    vips.push({ family: s.key.family, protocol: s.key.protocol, address: s.key.address, port: s.key.port, kind: v.kind, local: v.local, ...(v.sourceRanges ? { sourceRanges: v.sourceRanges } : {}) });
    for (const d of s.destinations) {
      if (seen.has(d.key.address)) continue;
      seen.add(d.key.address);
      endpoints.push({ family: d.key.family, address: d.key.address });
    }
  });
  return { clusterCIDRs, masqueradeAll, vips, endpoints };
}
