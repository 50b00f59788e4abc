import { afterEach, describe, expect, it } from 'vitest';
import { serviceKeyString } from '../../src/ipvs/keys.ts';
import type { ServiceKey } from '../../src/ipvs/types.ts';
import { LbMetrics } from '../../src/metrics/index.ts';
import type { MasqueradeInput } from '../../src/nat/rules.ts';
import type { Logger, SyncReport } from '../../src/reconcile/types.ts';
import { MemoryStateStore } from '../../src/reconcile/store.ts';
import { LAST_CHANGE_TRIGGER_TIME } from '../../src/sources/kubernetes/cluster-state.ts';
import { type ControllerOptions, KubernetesController } from '../../src/app/kubernetes-controller.ts';
import { FakeApiServer, type KubeObject } from '../../src/testing/fake-apiserver.ts';
import { MemoryIpvs, MemoryVips } from '../../src/testing/memory-ipvs.ts';
import { type EndpointSpec, node, service, slice } from '../sources/kubernetes/builders.ts';
import { waitFor } from '../sources/kubernetes/wait.ts';

// The controller against the fake API server (real client-node informers over HTTP) and the
// in-memory IPVS model of src/testing.

const NODE = 'node-a';
const logs: string[] = [];
const logger: Logger = {
  debug() {},
  info(_o, m) {
    logs.push(`info ${m}`);
  },
  warn(_o, m) {
    logs.push(`warn ${m}`);
  },
  error(_o, m) {
    logs.push(`error ${m}`);
  },
};

let server: FakeApiServer;
const controllers: KubernetesController[] = [];
afterEach(async () => {
  for (const c of controllers.splice(0)) await c.stop();
  await server?.stop();
  logs.length = 0;
});

const webSvc = (extra: Record<string, unknown> = {}) =>
  service('ns1', 'web', { type: 'NodePort', clusterIP: '10.96.0.10', ports: [{ name: 'http', port: 80, nodePort: 30080 }], ...extra });
const webSlice = (eps: EndpointSpec[], name = 'web-1') => slice('ns1', 'web', name, [{ name: 'http', port: 8080 }], eps) as KubeObject;
const tcp = (address: string, port: number): ServiceKey => ({ kind: 'addr', family: 'inet', protocol: 'tcp', address, port });

interface Rig {
  ipvs: MemoryIpvs;
  vips: MemoryVips;
  store: MemoryStateStore;
  reports: { report: SyncReport; full: boolean; latenciesMs: number[] }[];
  masq: MasqueradeInput[];
}

function rig(): Rig {
  return { ipvs: new MemoryIpvs(), vips: new MemoryVips(), store: new MemoryStateStore(), reports: [], masq: [] };
}

function startController(r: Rig, extra: Partial<ControllerOptions> = {}): KubernetesController {
  const c = new KubernetesController({
    kubeConfig: server.kubeConfig(),
    nodeName: NODE,
    ipvs: r.ipvs,
    vips: r.vips,
    store: r.store,
    logger,
    minSyncIntervalMs: 30,
    fullResyncIntervalMs: 0,
    restartDelayMs: 50,
    planOptions: { flowMoveEstimator: null },
    masquerade: {
      clusterCIDRs: ['10.244.0.0/16'],
      masqueradeAll: false,
      applier: {
        apply: async (input) => {
          r.masq.push(input);
          return { mode: 'incremental', lines: 1 };
        },
      },
    },
    onSynced: (info) => r.reports.push(info),
    ...extra,
  });
  controllers.push(c);
  c.start();
  return c;
}

/** "tcp 10.96.0.10:80 -> 10.1.0.1:8080@1 ..." for every service in the memory kernel. */
function kernel(ipvs: MemoryIpvs): string[] {
  return [...ipvs.snapshot()]
    .map(([k, s]) => `${k} ${s.config.scheduler} -> ${s.destinations.map((d) => `${d.key}@${d.config.weight}`).sort().join(' ')}`.trimEnd())
    .sort();
}

async function settle(c: KubernetesController, _r: Rig, cond: () => boolean): Promise<void> {
  await waitFor(() => cond(), 8000);
  await c.idle();
}

describe('Kubernetes controller with the fake API server', () => {
  it('start-up sync: programs every Service once all informers have listed, binds VIPs, becomes ready', async () => {
    server = await new FakeApiServer().start();
    server.create(node(NODE, [{ type: 'InternalIP', address: '192.168.0.10' }]) as KubeObject);
    server.create(webSvc());
    server.create(webSlice([{ ip: '10.1.0.1' }, { ip: '10.1.0.2' }]));
    const r = rig();
    const c = startController(r);
    expect(c.readiness().ready).toBe(false);
    await settle(c, r, () => r.reports.some((x) => x.report.mode !== 'skipped'));
    expect(kernel(r.ipvs)).toEqual(['tcp 10.96.0.10:80 mh -> 10.1.0.1:8080@1 10.1.0.2:8080@1', 'tcp 192.168.0.10:30080 mh -> 10.1.0.1:8080@1 10.1.0.2:8080@1']);
    expect([...r.vips.addresses]).toEqual(['10.96.0.10']);
    expect(c.readiness()).toEqual({ ready: true });
    expect(r.masq.at(-1)?.vips.map((v) => `${v.kind} ${v.address}`)).toEqual(['cluster IP 10.96.0.10', 'node port 192.168.0.10']);
    expect(logs).toContain('info all informers synced; starting syncs');
  });

  it('deletes nothing before every informer has synced', async () => {
    server = await new FakeApiServer().start();
    server.create(webSvc());
    const r = rig();
    // A virtual server we own from a previous run, no longer in the cluster.
    await r.store.save({ services: ['tcp 10.96.9.9:80'], addresses: [], drains: [] });
    await r.ipvs.addService(tcp('10.96.9.9', 80), { scheduler: 'mh', flags: {}, timeout: 0, netmask: '255.255.255.255' });
    let failSlices = true;
    server.fault = ({ plural }) => (plural === 'endpointslices' && failSlices ? 500 : undefined);
    const c = startController(r);
    await waitFor(() => logs.some((l) => l.includes('restarting the informer')));
    await new Promise((res) => setTimeout(res, 300));
    expect(kernel(r.ipvs)).toEqual(['tcp 10.96.9.9:80 mh ->']);
    expect(r.ipvs.writes()).toBe(1);
    expect(r.reports).toEqual([]);
    expect(c.readiness()).toMatchObject({ ready: false, reason: 'informers have not listed yet' });
    failSlices = false;
    await settle(c, r, () => !kernel(r.ipvs).some((k) => k.startsWith('tcp 10.96.9.9')));
    expect(kernel(r.ipvs)).toEqual(['tcp 10.96.0.10:80 mh ->']);
  });

  it('follows adds, updates and deletes of Services and EndpointSlices', async () => {
    server = await new FakeApiServer().start();
    const r = rig();
    const c = startController(r, { nodeIPs: ['192.168.0.10'] });
    await settle(c, r, () => r.reports.length > 0);
    expect(kernel(r.ipvs)).toEqual([]);

    server.create(webSvc());
    server.create(webSlice([{ ip: '10.1.0.1' }]));
    await settle(c, r, () => kernel(r.ipvs).length === 2 && kernel(r.ipvs)[0].includes('10.1.0.1'));

    // Scale up, then change the Service: a second port and session affinity.
    server.update(webSlice([{ ip: '10.1.0.1' }, { ip: '10.1.0.3' }]));
    server.update(webSvc({ sessionAffinity: 'ClientIP', ports: [{ name: 'http', port: 80, nodePort: 30080 }, { name: 'admin', port: 81, protocol: 'UDP' }] }));
    await settle(c, r, () => kernel(r.ipvs).length === 3 && kernel(r.ipvs)[0].includes('10.1.0.3'));
    const snap = r.ipvs.snapshot();
    expect(snap.get('tcp 10.96.0.10:80')?.config.flags.persistent).toBe(true);
    expect(snap.get('tcp 10.96.0.10:80')?.config.timeout).toBe(10800);
    expect(snap.get('udp 10.96.0.10:81')?.destinations).toEqual([]);

    // Delete the slice: the virtual servers stay, without destinations (connections drain first).
    server.remove('EndpointSlice', 'ns1', 'web-1');
    await settle(c, r, () => (r.ipvs.snapshot().get('tcp 10.96.0.10:80')?.destinations.length ?? -1) === 0);

    // Delete the Service: its virtual servers and VIP go.
    server.remove('Service', 'ns1', 'web');
    await settle(c, r, () => kernel(r.ipvs).length === 0);
    expect([...r.vips.addresses]).toEqual([]);
  });

  it('terminating endpoints: a terminating pod drains; serving+terminating ones are used when no pod is ready', async () => {
    server = await new FakeApiServer().start();
    server.create(webSvc());
    server.create(webSlice([{ ip: '10.1.0.1' }, { ip: '10.1.0.2' }]));
    const r = rig();
    const c = startController(r, { nodeIPs: ['192.168.0.10'] });
    await settle(c, r, () => kernel(r.ipvs).length === 2);
    r.ipvs.setConnections(tcp('10.96.0.10', 80), { family: 'inet', address: '10.1.0.2', port: 8080 }, 3);

    server.update(webSlice([{ ip: '10.1.0.1' }, { ip: '10.1.0.2', ready: false, serving: true, terminating: true }]));
    await settle(c, r, () => kernel(r.ipvs).includes('tcp 10.96.0.10:80 mh -> 10.1.0.1:8080@1 10.1.0.2:8080@0'));

    // The last ready pod terminates too: both serve while terminating, so both are used.
    server.update(webSlice([{ ip: '10.1.0.1', ready: false, serving: true, terminating: true }, { ip: '10.1.0.2', ready: false, serving: true, terminating: true }]));
    await settle(c, r, () => kernel(r.ipvs).includes('tcp 10.96.0.10:80 mh -> 10.1.0.1:8080@1 10.1.0.2:8080@1'));
  });

  it('survives a watch disconnect (re-watch) and a 410 Gone (relist), catching up on missed changes', async () => {
    server = await new FakeApiServer().start();
    server.create(webSvc());
    server.create(webSlice([{ ip: '10.1.0.1' }]));
    server.create(service('ns1', 'api', { clusterIP: '10.96.0.20', ports: [{ port: 443 }] }) as KubeObject);
    const r = rig();
    const c = startController(r, { nodeIPs: ['192.168.0.10'] });
    await settle(c, r, () => kernel(r.ipvs).length === 3);
    await waitFor(() => server.openWatches === 3);

    // Network failure: sockets destroyed; changes happen meanwhile; history still covers them.
    server.disconnectWatches(true);
    server.update(webSlice([{ ip: '10.1.0.1' }, { ip: '10.1.0.5' }]));
    await settle(c, r, () => kernel(r.ipvs).some((k) => k.includes('10.1.0.5')));
    await waitFor(() => server.openWatches === 3);
    const listsBefore = { ...server.counts.list };

    // A longer outage: the history is compacted, so the informers must relist; a Service
    // deleted during the gap must be noticed as deleted.
    server.disconnectWatches(true);
    server.remove('Service', 'ns1', 'api');
    server.update(webSlice([{ ip: '10.1.0.5' }]));
    server.compact();
    await settle(c, r, () => kernel(r.ipvs).length === 2 && !kernel(r.ipvs).some((k) => k.includes('10.1.0.1:')));
    expect(server.counts.expired).toBeGreaterThanOrEqual(1);
    expect(server.counts.list.services).toBeGreaterThan(listsBefore.services);
    expect(kernel(r.ipvs)).toEqual(['tcp 10.96.0.10:80 mh -> 10.1.0.5:8080@1', 'tcp 192.168.0.10:30080 mh -> 10.1.0.5:8080@1']);
  });

  it('restart: a new controller adopts what the old one programmed without flushing, and applies changes made meanwhile', async () => {
    server = await new FakeApiServer().start();
    server.create(webSvc());
    server.create(webSlice([{ ip: '10.1.0.1' }, { ip: '10.1.0.2' }]));
    const r = rig();
    const c1 = startController(r, { nodeIPs: ['192.168.0.10'] });
    await settle(c1, r, () => kernel(r.ipvs).length === 2);
    await c1.stop();
    controllers.splice(controllers.indexOf(c1), 1);
    const before = kernel(r.ipvs);
    expect(before).toHaveLength(2); // stop() leaves everything in place

    server.update(webSlice([{ ip: '10.1.0.1' }, { ip: '10.1.0.2' }, { ip: '10.1.0.3' }]));
    r.ipvs.resetCalls();
    r.reports.length = 0;
    const c2 = startController(r, { nodeIPs: ['192.168.0.10'] });
    await settle(c2, r, () => kernel(r.ipvs)[0]?.includes('10.1.0.3') === true);
    expect(r.ipvs.calls.get('deleteService') ?? 0).toBe(0);
    expect(r.ipvs.calls.get('addService') ?? 0).toBe(0);
    expect(r.ipvs.calls.get('deleteDestination') ?? 0).toBe(0);
    expect(r.ipvs.calls.get('addDestination')).toBe(2);
    expect(r.reports.flatMap((x) => x.report.conflicts)).toEqual([]);
  });

  it('coalesces bursts into few syncs and reports programming latency from the trigger time', async () => {
    server = await new FakeApiServer().start();
    server.create(webSvc());
    server.create(webSlice([{ ip: '10.1.0.1' }]));
    const r = rig();
    const metrics = new LbMetrics({}, { processMetrics: false });
    const c = startController(r, { nodeIPs: ['192.168.0.10'], minSyncIntervalMs: 300, metrics });
    await settle(c, r, () => kernel(r.ipvs).length === 2);
    const syncsBefore = r.reports.length;
    const t0 = Date.now();
    for (let i = 2; i <= 40; i++) {
      const s = webSlice(Array.from({ length: i }, (_, k) => ({ ip: `10.1.0.${k + 1}` })));
      s.metadata.annotations = { [LAST_CHANGE_TRIGGER_TIME]: new Date(Date.now() - 5).toISOString() };
      server.update(s);
    }
    await settle(c, r, () => kernel(r.ipvs)[0]?.includes('10.1.0.40:8080') === true);
    const syncs = r.reports.length - syncsBefore;
    expect(syncs).toBeGreaterThanOrEqual(1);
    expect(syncs).toBeLessThanOrEqual(3);
    const lat = r.reports.slice(syncsBefore).flatMap((x) => x.latenciesMs);
    expect(lat.length).toBe(39);
    for (const l of lat) expect(l).toBeGreaterThanOrEqual(4);
    expect(Math.max(...lat)).toBeLessThan(Date.now() - t0 + 100);
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/ipvs_maglev_network_programming_duration_seconds_count 39/);
    expect(text).toMatch(/ipvs_maglev_kubernetes_events_total\{kind="EndpointSlice",type="update"\} 39/);
  });

  it('pages large lists (limit/continue) through the generated client', async () => {
    server = await new FakeApiServer().start();
    for (let i = 0; i < 7; i++) server.create(service('ns1', `s${i}`, { clusterIP: `10.96.1.${i + 1}`, ports: [{ port: 80 }] }));
    const r = rig();
    const c = startController(r, { pageSize: 2 });
    await settle(c, r, () => kernel(r.ipvs).length === 7);
    expect(server.counts.list.services).toBe(4);
  });

  it('logs invalid annotations once and keeps the default scheduler', async () => {
    server = await new FakeApiServer().start();
    const bad = webSvc();
    bad.metadata.annotations = { 'ipvs-maglev.io/scheduler': 'fastest' };
    server.create(bad);
    const r = rig();
    const c = startController(r, { nodeIPs: ['192.168.0.10'] });
    await settle(c, r, () => kernel(r.ipvs).length === 2);
    server.create(webSlice([{ ip: '10.1.0.1' }]));
    await settle(c, r, () => kernel(r.ipvs)[0].includes('10.1.0.1'));
    expect(kernel(r.ipvs)[0]).toContain(' mh ');
    expect(logs.filter((l) => l.includes('"fastest" is not an IPVS scheduler'))).toHaveLength(1);
  });

  it('masquerade input: node ports with externalTrafficPolicy Local are not masqueraded; endpoints feed hairpin', async () => {
    server = await new FakeApiServer().start();
    server.create(webSvc({ externalTrafficPolicy: 'Local' }));
    server.create(webSlice([{ ip: '10.1.0.1', node: NODE }]));
    const r = rig();
    const c = startController(r, { nodeIPs: ['192.168.0.10'] });
    await settle(c, r, () => r.masq.length > 0 && (r.masq.at(-1)?.endpoints.length ?? 0) > 0);
    const last = r.masq.at(-1);
    expect(last?.vips).toEqual([
      { family: 'inet', protocol: 'tcp', address: '10.96.0.10', port: 80, kind: 'cluster IP', local: false },
      { family: 'inet', protocol: 'tcp', address: '192.168.0.10', port: 30080, kind: 'node port', local: true },
    ]);
    expect(last?.endpoints).toEqual([{ family: 'inet', address: '10.1.0.1' }]);
    expect(serviceKeyString(tcp('10.96.0.10', 80))).toBe('tcp 10.96.0.10:80');
  });
});
