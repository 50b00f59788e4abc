import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

// Metrics of Kubernetes mode, registered next to the load balancer's (src/metrics).
// network_programming_duration_seconds follows kube-proxy's
// kubeproxy_network_programming_duration_seconds: from the change (the EndpointSlice's
// last-change-trigger-time, else when the event reached us) to the kernel being programmed.

const PREFIX = 'ipvs_maglev_';

export class KubernetesMetrics {
  readonly programmingLatency: Histogram;
  readonly events: Counter<'kind' | 'type'>;
  readonly informerErrors: Counter<'kind'>;
  readonly warnings: Gauge;
  readonly masquerade: Counter<'mode'>;
  readonly relists: Counter<'kind'>;
  readonly warningEvents: Counter<'outcome'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.programmingLatency = new Histogram({
      name: `${PREFIX}network_programming_duration_seconds`,
      help: 'Time from a Service/EndpointSlice/Node change to the kernel being programmed for it',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300],
      registers,
    });
    this.events = new Counter({ name: `${PREFIX}kubernetes_events_total`, help: 'Informer events received, by kind and type', labelNames: ['kind', 'type'], registers });
    this.informerErrors = new Counter({ name: `${PREFIX}kubernetes_informer_errors_total`, help: 'List/watch failures (each followed by a restart)', labelNames: ['kind'], registers });
    this.relists = new Counter({ name: `${PREFIX}kubernetes_lists_total`, help: 'Completed lists (initial, after 410 Gone, after restarts)', labelNames: ['kind'], registers });
    this.warnings = new Gauge({ name: `${PREFIX}kubernetes_translation_warnings`, help: 'Objects or values currently skipped or defaulted (see the logs and Events)', registers });
    this.warningEvents = new Counter({
      name: `${PREFIX}kubernetes_warning_events_total`,
      help: 'Translation warnings as Kubernetes Events, by outcome (created, patched, exists, filtered, unsupported, dropped, failed)',
      labelNames: ['outcome'],
      registers,
    });
    this.masquerade = new Counter({ name: `${PREFIX}masquerade_updates_total`, help: 'nftables masquerade updates, by mode (full, incremental, unchanged, failed)', labelNames: ['mode'], registers });
  }
}
