import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Stats } from '../ipvs/types.ts';

// The load balancer's Prometheus metrics. Sync results are pushed in (recordSync); kernel counters
// and health states are pulled at scrape time through callbacks, so a scrape always shows what the
// kernel holds now, and nothing polls the kernel when nobody scrapes.

/** What recordSync needs from a sync report (the reconciler's SyncReport has this shape). */
export interface SyncOutcome {
  mode: string;
  durationMs: number;
  counts: Readonly<Record<string, Readonly<Record<string, number>>>>;
  errors: readonly { code: string }[];
  flowMoves: readonly { name: string; service: string; changedFraction: number; minimumFraction: number }[];
  services: number;
  destinations: number;
}

export interface DestinationStats {
  /** "10.0.0.1:8080" */
  destination: string;
  weight: number;
  activeConns?: number;
  inactiveConns?: number;
  stats?: Stats;
}

export interface ServiceStats {
  /** Human name from the configuration. */
  name: string;
  /** "tcp 192.0.2.10:80" */
  service: string;
  stats?: Stats;
  destinations: DestinationStats[];
}

export interface BackendHealthStatus {
  serviceName: string;
  /** "10.0.0.1:8080" */
  destination: string;
  up: boolean;
}

export interface QuorumServiceStatus {
  serviceName: string;
  /** "tcp 192.0.2.10:80" */
  service: string;
  up: boolean;
  availableWeight: number;
  sorryServerActive: boolean;
}

export interface MetricsSources {
  /** Kernel counters of the services this instance owns; read once per scrape. */
  kernelStats?: () => Promise<ServiceStats[]>;
  /** Current verdict of every health-checked backend. */
  health?: () => BackendHealthStatus[];
  /** Quorum verdict of every service that sets quorum, hysteresis or sorryServer. */
  quorum?: () => QuorumServiceStatus[];
}

const PREFIX = 'ipvs_maglev_';

export class LbMetrics {
  readonly registry = new Registry();
  private readonly syncDuration: Histogram<'mode'>;
  private readonly operations: Counter<'kind' | 'result'>;
  private readonly syncErrors: Counter<'code'>;
  private readonly lastSyncErrors: Gauge<'code'>;
  private readonly syncs: Counter<'mode'>;
  private readonly services: Gauge;
  private readonly destinations: Gauge;
  private readonly tableBuild: Histogram;
  /** The last flow move per service (by service key), until the service goes: the gauges render it. */
  private readonly flowMoves = new Map<string, { name: string; changed: number; minimum: number }>();
  private readonly configReloads: Counter<'result'>;
  private readonly lastSync: Gauge;
  private readonly quorumChanges: Counter<'name' | 'change'>;
  private readonly sorryChanges: Counter<'name' | 'change'>;
  private sources: MetricsSources;
  /** One kernel read serves all kernel metrics of one scrape. */
  private pending: Promise<ServiceStats[]> | undefined;

  constructor(sources: MetricsSources = {}, options: { processMetrics?: boolean } = {}) {
    this.sources = sources;
    const registers = [this.registry];
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: PREFIX });
    this.syncDuration = new Histogram({
      name: `${PREFIX}sync_duration_seconds`,
      help: 'Duration of a reconcile sync (read kernel state, plan, apply)',
      labelNames: ['mode'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.syncs = new Counter({ name: `${PREFIX}syncs_total`, help: 'Syncs run, by mode (full, incremental, skipped)', labelNames: ['mode'], registers });
    this.operations = new Counter({
      name: `${PREFIX}operations_total`,
      help: 'IPVS operations applied, by kind and result (ok, converted, skipped, failed)',
      labelNames: ['kind', 'result'],
      registers,
    });
    this.syncErrors = new Counter({ name: `${PREFIX}sync_errors_total`, help: 'Errors reported by syncs, by code', labelNames: ['code'], registers });
    this.lastSyncErrors = new Gauge({
      name: `${PREFIX}last_sync_errors`,
      help: 'Errors of the last sync, by code (STATE_FILE: the state file cannot be read or written, nothing is synced); no series when it had none',
      labelNames: ['code'],
      registers,
    });
    this.services = new Gauge({ name: `${PREFIX}services`, help: 'Virtual services this instance manages in the kernel', registers });
    this.destinations = new Gauge({ name: `${PREFIX}destinations`, help: 'Destinations of the managed services in the kernel', registers });
    this.tableBuild = new Histogram({
      name: `${PREFIX}maglev_table_build_seconds`,
      help: 'Time to build one kernel-exact Maglev table (for flow-move estimates)',
      buckets: [0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1],
      registers,
    });
    // Rendered from the map at scrape time, so a series goes when its service goes (or is renamed).
    const moves = this.flowMoves;
    new Gauge({
      name: `${PREFIX}flow_move_share`,
      help: 'Share of flows the last planned change of an mh service moved (0..1)',
      labelNames: ['service', 'name'],
      registers,
      collect() {
        this.reset();
        for (const [service, m] of moves) this.set({ service, name: m.name }, m.changed);
      },
    });
    new Gauge({
      name: `${PREFIX}flow_move_minimum_share`,
      help: 'Least share of flows any consistent hash had to move for that same change (0..1)',
      labelNames: ['service', 'name'],
      registers,
      collect() {
        this.reset();
        for (const [service, m] of moves) this.set({ service, name: m.name }, m.minimum);
      },
    });
    this.configReloads = new Counter({ name: `${PREFIX}config_reloads_total`, help: 'Configuration reloads, by result (applied, rejected)', labelNames: ['result'], registers });
    this.lastSync = new Gauge({ name: `${PREFIX}last_sync_timestamp_seconds`, help: 'Unix time of the last sync that read the kernel', registers });
    this.quorumChanges = new Counter({ name: `${PREFIX}quorum_changes_total`, help: 'Quorum verdict changes of a service (lost, gained)', labelNames: ['name', 'change'], registers });
    this.sorryChanges = new Counter({ name: `${PREFIX}sorry_server_changes_total`, help: 'Times a service\'s sorry server took over new connections (engaged) or gave them back (disengaged)', labelNames: ['name', 'change'], registers });
    this.registerPulled(registers);
  }

  recordQuorumChange(name: string, up: boolean, hasSorryServer: boolean): void {
    this.quorumChanges.inc({ name, change: up ? 'gained' : 'lost' });
    if (hasSorryServer) this.sorryChanges.inc({ name, change: up ? 'disengaged' : 'engaged' });
  }

  setSources(sources: MetricsSources): void {
    this.sources = sources;
  }

  /**
   * Takes a sync's results. `owns` says which services still exist (are this instance's): the flow-move
   * series of the others are dropped, so per-service series do not pile up as services come and go.
   */
  recordSync(report: SyncOutcome, owns?: (service: string) => boolean): void {
    this.syncs.inc({ mode: report.mode });
    if (report.mode !== 'skipped') {
      this.syncDuration.observe({ mode: report.mode }, report.durationMs / 1000);
      this.services.set(report.services);
      this.destinations.set(report.destinations);
      this.lastSync.set(Date.now() / 1000);
    }
    for (const [kind, byResult] of Object.entries(report.counts)) {
      for (const [result, n] of Object.entries(byResult)) if (n > 0) this.operations.inc({ kind, result }, n);
    }
    for (const e of report.errors) this.syncErrors.inc({ code: e.code });
    this.lastSyncErrors.reset();
    for (const e of report.errors) this.lastSyncErrors.inc({ code: e.code });
    for (const m of report.flowMoves) this.flowMoves.set(m.service, { name: m.name, changed: m.changedFraction, minimum: m.minimumFraction });
    if (owns && report.mode !== 'skipped') for (const service of this.flowMoves.keys()) if (!owns(service)) this.flowMoves.delete(service);
  }

  observeTableBuild(seconds: number): void {
    this.tableBuild.observe(seconds);
  }

  recordReload(result: 'applied' | 'rejected'): void {
    this.configReloads.inc({ result });
  }

  private kernel(): Promise<ServiceStats[]> {
    const read = this.sources.kernelStats;
    if (!read) return Promise.resolve([]);
    if (!this.pending) {
      this.pending = read().catch(() => []);
      // Every metric of one scrape awaits the same read; the next scrape reads afresh.
      const clear = (): void => {
        this.pending = undefined;
      };
      void this.pending.then(() => setTimeout(clear, 50).unref());
    }
    return this.pending;
  }

  private registerPulled(registers: Registry[]): void {
    const self = this;
    const counter = (name: string, help: string, labelNames: string[], fill: (c: Counter<string>, s: ServiceStats[]) => void): void => {
      new Counter({
        name: PREFIX + name,
        help,
        labelNames,
        registers,
        async collect() {
          const stats = await self.kernel();
          this.reset();
          fill(this, stats);
        },
      });
    };
    const gauge = (name: string, help: string, labelNames: string[], fill: (g: Gauge<string>, s: ServiceStats[]) => void): void => {
      new Gauge({
        name: PREFIX + name,
        help,
        labelNames,
        registers,
        async collect() {
          const stats = await self.kernel();
          this.reset();
          fill(this, stats);
        },
      });
    };
    const svcLabels = ['service', 'name'];
    const dstLabels = ['service', 'name', 'destination'];
    const dirLabels = (l: string[]): string[] => [...l, 'direction'];
    counter('service_connections_total', 'Connections the kernel scheduled for a virtual service', svcLabels, (c, all) => {
      for (const s of all) if (s.stats) c.inc({ service: s.service, name: s.name }, Number(s.stats.conns));
    });
    counter('service_packets_total', 'Packets through a virtual service, by direction (in, out)', dirLabels(svcLabels), (c, all) => {
      for (const s of all) {
        if (!s.stats) continue;
        c.inc({ service: s.service, name: s.name, direction: 'in' }, Number(s.stats.inPackets));
        c.inc({ service: s.service, name: s.name, direction: 'out' }, Number(s.stats.outPackets));
      }
    });
    counter('service_bytes_total', 'Bytes through a virtual service, by direction (in, out)', dirLabels(svcLabels), (c, all) => {
      for (const s of all) {
        if (!s.stats) continue;
        c.inc({ service: s.service, name: s.name, direction: 'in' }, Number(s.stats.inBytes));
        c.inc({ service: s.service, name: s.name, direction: 'out' }, Number(s.stats.outBytes));
      }
    });
    counter('destination_connections_total', 'Connections the kernel scheduled to a destination', dstLabels, (c, all) => {
      for (const s of all) for (const d of s.destinations) if (d.stats) c.inc({ service: s.service, name: s.name, destination: d.destination }, Number(d.stats.conns));
    });
    counter('destination_packets_total', 'Packets to/from a destination, by direction (in, out)', dirLabels(dstLabels), (c, all) => {
      for (const s of all) {
        for (const d of s.destinations) {
          if (!d.stats) continue;
          c.inc({ service: s.service, name: s.name, destination: d.destination, direction: 'in' }, Number(d.stats.inPackets));
          c.inc({ service: s.service, name: s.name, destination: d.destination, direction: 'out' }, Number(d.stats.outPackets));
        }
      }
    });
    counter('destination_bytes_total', 'Bytes to/from a destination, by direction (in, out)', dirLabels(dstLabels), (c, all) => {
      for (const s of all) {
        for (const d of s.destinations) {
          if (!d.stats) continue;
          c.inc({ service: s.service, name: s.name, destination: d.destination, direction: 'in' }, Number(d.stats.inBytes));
          c.inc({ service: s.service, name: s.name, destination: d.destination, direction: 'out' }, Number(d.stats.outBytes));
        }
      }
    });
    gauge('destination_active_connections', 'Established connections to a destination (kernel ActiveConn)', dstLabels, (g, all) => {
      for (const s of all) for (const d of s.destinations) if (d.activeConns !== undefined) g.set({ service: s.service, name: s.name, destination: d.destination }, d.activeConns);
    });
    gauge('destination_inactive_connections', 'Other connections to a destination (kernel InActConn)', dstLabels, (g, all) => {
      for (const s of all) for (const d of s.destinations) if (d.inactiveConns !== undefined) g.set({ service: s.service, name: s.name, destination: d.destination }, d.inactiveConns);
    });
    gauge('destination_weight', 'Weight of a destination in the kernel (0 = drained or failed its health check)', dstLabels, (g, all) => {
      for (const s of all) for (const d of s.destinations) g.set({ service: s.service, name: s.name, destination: d.destination }, d.weight);
    });
    const quorumGauge = (name: string, help: string, value: (q: QuorumServiceStatus) => number): void => {
      new Gauge({
        name: PREFIX + name,
        help,
        labelNames: svcLabels,
        registers,
        collect() {
          this.reset();
          for (const q of self.sources.quorum?.() ?? []) this.set({ service: q.service, name: q.serviceName }, value(q));
        },
      });
    };
    quorumGauge('quorum_up', 'Whether a service with a quorum has it (1) or is short of it (0)', (q) => (q.up ? 1 : 0));
    quorumGauge('available_weight', 'Weight of the destinations of a service with a quorum that take new connections after health checks', (q) => q.availableWeight);
    quorumGauge('sorry_server_active', '1 while the sorry server of a service takes its new connections', (q) => (q.sorryServerActive ? 1 : 0));
    new Gauge({
      name: `${PREFIX}backend_up`,
      help: 'Health check verdict per backend (1 up, 0 down)',
      labelNames: ['name', 'destination'],
      registers,
      collect() {
        this.reset();
        for (const h of self.sources.health?.() ?? []) this.set({ name: h.serviceName, destination: h.destination }, h.up ? 1 : 0);
      },
    });
  }
}
