import { describe, expect, it } from 'vitest';
import { LbMetrics } from '../../src/metrics/index.ts';
import type { ServiceStats, SyncOutcome } from '../../src/metrics/index.ts';
import { Reconciler } from '../../src/reconcile/index.ts';
import { MemoryIpvs } from '../../src/testing/memory-ipvs.ts';
import { dest, service, state } from '../reconcile/helpers.ts';

// Every per-service and per-destination series goes when its object goes: 100,000 distinct Services used
// to leave 100,000 flow-move series behind (179 MB of heap, a 19 MB /metrics).

const outcome = (over: Partial<SyncOutcome>): SyncOutcome => ({ mode: 'incremental', durationMs: 1, counts: {}, errors: [], flowMoves: [], services: 0, destinations: 0, ...over });
const seriesOf = (text: string, name: string): string[] => text.split('\n').filter((l) => l.startsWith(`${name}{`));

describe('per-service series go with their service', () => {
  it('flow-move gauges: dropped when the service is no longer owned, relabelled (not duplicated) on a rename', async () => {
    const m = new LbMetrics({}, { processMetrics: false });
    const owned = new Set<string>();
    const flowMoves = Array.from({ length: 10_000 }, (_, i) => {
      const s = `tcp 10.0.${i >> 8}.${i & 255}:80`;
      owned.add(s);
      return { service: s, name: `svc-${i}`, changedFraction: 0.3, minimumFraction: 0.25 };
    });
    m.recordSync(outcome({ flowMoves }), (s) => owned.has(s));
    let text = await m.registry.metrics();
    expect(seriesOf(text, 'ipvs_maglev_flow_move_share')).toHaveLength(10_000);
    expect(seriesOf(text, 'ipvs_maglev_flow_move_minimum_share')).toHaveLength(10_000);

    // All but one go away; the survivor is renamed.
    owned.clear();
    owned.add('tcp 10.0.0.7:80');
    m.recordSync(outcome({ flowMoves: [{ service: 'tcp 10.0.0.7:80', name: 'renamed', changedFraction: 0.1, minimumFraction: 0.1 }] }), (s) => owned.has(s));
    text = await m.registry.metrics();
    expect(seriesOf(text, 'ipvs_maglev_flow_move_share')).toEqual(['ipvs_maglev_flow_move_share{service="tcp 10.0.0.7:80",name="renamed"} 0.1']);
    expect(seriesOf(text, 'ipvs_maglev_flow_move_minimum_share')).toHaveLength(1);

    // A skipped sync (nothing read) proves nothing about what exists: nothing is dropped.
    m.recordSync(outcome({ mode: 'skipped' }), () => false);
    expect(seriesOf(await m.registry.metrics(), 'ipvs_maglev_flow_move_share')).toHaveLength(1);
  });

  it('through the reconciler: an mh service whose destinations changed, then deleted, leaves no series', async () => {
    const m = new LbMetrics({}, { processMetrics: false });
    const ipvs = new MemoryIpvs();
    const r: Reconciler = new Reconciler({ ipvs, onReport: (rep) => m.recordSync(rep, (s) => r.owns(s)) });
    const web = (dests: string[]) => service('web', '192.0.2.1', 80, dests.map((a) => dest(a)));
    await r.sync(state(web(['10.1.0.1', '10.1.0.2', '10.1.0.3'])));
    await r.sync(state(web(['10.1.0.1', '10.1.0.2', '10.1.0.3', '10.1.0.4'])));
    expect(seriesOf(await m.registry.metrics(), 'ipvs_maglev_flow_move_share')).toEqual([expect.stringMatching(/^ipvs_maglev_flow_move_share\{service="tcp 192\.0\.2\.1:80",name="web"\} 0\.\d+$/)]);
    await r.sync(state());
    expect(ipvs.snapshot().size).toBe(0);
    expect(seriesOf(await m.registry.metrics(), 'ipvs_maglev_flow_move_share')).toEqual([]);
    expect(seriesOf(await m.registry.metrics(), 'ipvs_maglev_flow_move_minimum_share')).toEqual([]);
  });

  it('kernel and health series are read at scrape time: a service or destination that is gone has none', async () => {
    let kernel: ServiceStats[] = [{ name: 'web', service: 'tcp 192.0.2.1:80', destinations: [{ destination: '10.0.0.1:80', weight: 1, activeConns: 0, inactiveConns: 0 }] }];
    let health = [{ serviceName: 'web', destination: '10.0.0.1:80', up: true }];
    const m = new LbMetrics({ kernelStats: async () => kernel, health: () => health }, { processMetrics: false });
    let text = await m.registry.metrics();
    expect(seriesOf(text, 'ipvs_maglev_destination_weight')).toHaveLength(1);
    expect(seriesOf(text, 'ipvs_maglev_backend_up')).toHaveLength(1);
    kernel = [];
    health = [];
    await new Promise((r) => setTimeout(r, 60)); // one kernel read serves one scrape (50 ms)
    text = await m.registry.metrics();
    for (const name of ['ipvs_maglev_destination_weight', 'ipvs_maglev_destination_active_connections', 'ipvs_maglev_service_connections_total', 'ipvs_maglev_backend_up']) {
      expect(seriesOf(text, name), name).toEqual([]);
    }
  });

  it('last-sync error series exist only while the last sync had that error', async () => {
    const m = new LbMetrics({}, { processMetrics: false });
    m.recordSync(outcome({ mode: 'skipped', errors: [{ code: 'STATE_FILE' }] }));
    expect(seriesOf(await m.registry.metrics(), 'ipvs_maglev_last_sync_errors')).toEqual(['ipvs_maglev_last_sync_errors{code="STATE_FILE"} 1']);
    m.recordSync(outcome({}));
    expect(seriesOf(await m.registry.metrics(), 'ipvs_maglev_last_sync_errors')).toEqual([]);
  });
});
