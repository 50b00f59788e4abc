import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LbMetrics } from '../../../src/metrics/index.ts';
import type { Logger } from '../../../src/reconcile/types.ts';
import { KubernetesController } from '../../../src/app/kubernetes-controller.ts';
import { EventRecorder, type EventLimits, type EventOutcome, type EventSink, apiEventSink } from '../../../src/sources/kubernetes/events.ts';
import type { TranslationWarning } from '../../../src/sources/kubernetes/objects.ts';
import { FakeApiServer, type KubeObject } from '../../../src/testing/fake-apiserver.ts';
import { MemoryIpvs, MemoryVips } from '../../../src/testing/memory-ipvs.ts';
import { MemoryStateStore } from '../../../src/reconcile/store.ts';
import { service } from './builders.ts';
import { waitFor } from './wait.ts';

// Warnings as Kubernetes Events, written by real client-node calls to the project's fake API server
// (src/testing/fake-apiserver.ts, the one the kernel Kubernetes suite uses), with a controlled clock.

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

let server: FakeApiServer;
let clock: number;
const recorders: EventRecorder[] = [];

beforeEach(async () => {
  server = await new FakeApiServer().start();
  clock = Date.parse('2026-12-01T10:00:00Z');
});
afterEach(async () => {
  for (const r of recorders.splice(0)) await r.stop();
  await server.stop();
});

function recorder(limits: Partial<EventLimits> = {}, nodeName = 'node-a', sink: EventSink = apiEventSink(server.kubeConfig())): { r: EventRecorder; outcomes: EventOutcome[] } {
  const outcomes: EventOutcome[] = [];
  const r = new EventRecorder({ sink, nodeName, logger: quiet, limits: { retryDelayMs: 5, ...limits }, now: () => clock, onOutcome: (o) => outcomes.push(o) });
  recorders.push(r);
  return { r, outcomes };
}

const warning = (object: string, reason = 'InvalidAnnotation', message = 'ipvs-maglev.io/scheduler: "xx" is not an IPVS scheduler', kind: TranslationWarning['kind'] = 'Service'): TranslationWarning => ({
  kind,
  object,
  reason,
  message,
  uid: `uid-${object}`,
});

type Ev = KubeObject & { involvedObject: Record<string, string>; count: number; message: string; reason: string; type: string; lastTimestamp: string; firstTimestamp: string; source: Record<string, string> };
const events = (): Ev[] => server.list('Event') as Ev[];

describe('EventRecorder against the fake API server', () => {
  it('writes a Warning Event on the object, in its namespace, and patches count/lastTimestamp on a repeat', async () => {
    const { r, outcomes } = recorder();
    r.record(warning('tenant-a/web'));
    await r.flush();
    expect(events()).toHaveLength(1);
    const [e] = events();
    expect(e.metadata.namespace).toBe('tenant-a');
    expect(e.metadata.name).toMatch(/^web\.[0-9a-f]{16}$/);
    expect(e.involvedObject).toEqual({ kind: 'Service', apiVersion: 'v1', namespace: 'tenant-a', name: 'web', uid: 'uid-tenant-a/web' });
    expect(e).toMatchObject({ type: 'Warning', reason: 'InvalidAnnotation', count: 1, source: { component: 'ipvs-maglev', host: 'node-a' }, reportingComponent: 'ipvs-maglev' });
    clock += 60_000;
    r.record(warning('tenant-a/web'));
    r.record(warning('tenant-a/web'));
    await r.flush();
    expect(events()).toHaveLength(1);
    expect(events()[0].count).toBe(3);
    expect(Date.parse(events()[0].lastTimestamp)).toBe(clock);
    expect(Date.parse(events()[0].firstTimestamp)).toBe(clock - 60_000);
    expect(outcomes).toEqual(['created', 'patched', 'patched']);
    expect(server.counts.create.events).toBe(1);
    expect(server.counts.patch.events).toBe(2);
  });

  it('EndpointSlices get discovery.k8s.io/v1 Events; Nodes get theirs in "default"; nameless or malformed objects get none', async () => {
    const { r, outcomes } = recorder();
    r.record(warning('ns1/web-abc', 'RefusedAddress', 'endpoint 127.0.0.1 is a loopback address; skipped', 'EndpointSlice'));
    r.record(warning('node-a', 'BadNodeAddress', 'x', 'Node'));
    r.record({ kind: 'Object', object: '', reason: 'MalformedObject', message: 'item 3 has no kind; skipped' });
    r.record(warning('', 'X', 'no name'));
    r.record(warning('../kube-system/evil'));
    r.record(warning('kube-system/UPPER'));
    await r.flush();
    const byNs = Object.fromEntries(events().map((e) => [e.metadata.namespace, e.involvedObject]));
    expect(byNs).toEqual({
      ns1: { kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1', namespace: 'ns1', name: 'web-abc', uid: 'uid-ns1/web-abc' },
      default: { kind: 'Node', apiVersion: 'v1', name: 'node-a', uid: 'uid-node-a' },
    });
    expect(outcomes.filter((o) => o === 'unsupported')).toHaveLength(4);
  });

  it('aggregates like client-go: the 10th distinct message of one reason within 10 minutes becomes one combined Event', async () => {
    const { r } = recorder();
    for (let i = 1; i <= 14; i++) r.record(warning('ns1/web', 'RefusedAddress', `endpoint 10.0.0.${i} refused`));
    await r.flush();
    const list = events();
    expect(list).toHaveLength(10);
    const combined = list.filter((e) => e.message.startsWith('(combined from similar events): '));
    expect(combined).toHaveLength(1);
    expect(combined[0]).toMatchObject({ count: 5, message: '(combined from similar events): endpoint 10.0.0.14 refused' });
    // After the window, a new message stands on its own again.
    clock += 601_000;
    r.record(warning('ns1/web', 'RefusedAddress', 'endpoint 10.0.0.99 refused'));
    await r.flush();
    expect(events().some((e) => e.message === 'endpoint 10.0.0.99 refused' && e.count === 1)).toBe(true);
  });

  it('spam filter: 25 Events per object at once, then one per 5 minutes; held-back repeats are counted in the next write', async () => {
    const { r, outcomes } = recorder();
    for (let i = 0; i < 40; i++) r.record(warning('ns1/web', `Reason${i}`, 'm'));
    await r.flush();
    expect(events()).toHaveLength(25);
    expect(outcomes.filter((o) => o === 'filtered')).toHaveLength(15);
    r.record(warning('ns1/web', 'Reason0', 'm'));
    r.record(warning('ns1/web', 'Reason0', 'm'));
    expect(outcomes.at(-1)).toBe('filtered');
    clock += 300_000;
    r.record(warning('ns1/web', 'Reason0', 'm'));
    await r.flush();
    expect(events().find((e) => e.reason === 'Reason0')?.count).toBe(4);
    // Another object has its own bucket.
    r.record(warning('ns1/other'));
    await r.flush();
    expect(events()).toHaveLength(26);
  });

  it('a hostile namespace cannot use up the node: a bucket per namespace (50), and Events only ever in their own namespace', async () => {
    const { r, outcomes } = recorder();
    for (let i = 0; i < 200; i++) r.record(warning(`hostile/svc-${i}`));
    r.record(warning('victim/web'));
    await r.flush();
    const list = events();
    expect(list.filter((e) => e.metadata.namespace === 'hostile')).toHaveLength(50);
    expect(list.filter((e) => e.metadata.namespace === 'victim')).toHaveLength(1);
    expect(list.every((e) => e.metadata.namespace === e.involvedObject.namespace)).toBe(true);
    expect(outcomes.filter((o) => o === 'filtered')).toHaveLength(150);
  });

  it('a total bucket per node bounds all namespaces together', async () => {
    const { r } = recorder({ totalBurst: 30 });
    for (let n = 0; n < 10; n++) for (let i = 0; i < 10; i++) r.record(warning(`ns${n}/svc-${i}`));
    await r.flush();
    expect(events()).toHaveLength(30);
  });

  it('controllers of two nodes seeing the same warning make one Event (the second gets 409 and leaves it)', async () => {
    const a = recorder({}, 'node-a');
    const b = recorder({}, 'node-b');
    a.r.record(warning('ns1/web'));
    await a.r.flush();
    b.r.record(warning('ns1/web'));
    b.r.record(warning('ns1/web'));
    await b.r.flush();
    expect(events()).toHaveLength(1);
    expect(events()[0]).toMatchObject({ count: 1, source: { host: 'node-a' } });
    expect(b.outcomes).toEqual(['exists', 'exists']);
  });

  it('an Event deleted or expired on the server is created again on the next repeat', async () => {
    const { r, outcomes } = recorder();
    r.record(warning('ns1/web'));
    await r.flush();
    server.remove('Event', 'ns1', events()[0].metadata.name);
    r.record(warning('ns1/web'));
    await r.flush();
    expect(events()).toHaveLength(1);
    expect(events()[0].count).toBe(2);
    expect(outcomes).toEqual(['created', 'created']);
  });

  it('retries 5xx with backoff up to the attempt limit; gives up at once on 403', async () => {
    let failures = 2;
    server.fault = (req) => (req.method === 'POST' && failures-- > 0 ? 503 : undefined);
    const { r, outcomes } = recorder();
    r.record(warning('ns1/web'));
    await r.flush();
    expect(outcomes).toEqual(['created']);
    expect(server.counts.create.events).toBe(3);
    server.fault = (req) => (req.method === 'POST' ? 403 : undefined);
    r.record(warning('ns1/other'));
    await r.flush();
    expect(outcomes.at(-1)).toBe('failed');
    expect(server.counts.create.events).toBe(4);
    server.fault = (req) => (req.method === 'POST' ? 500 : undefined);
    r.record(warning('ns1/third'));
    await r.flush();
    expect(server.counts.create.events).toBe(4 + 5);
  });

  it('stop() ends a write waiting to retry at once, and records nothing after', async () => {
    server.fault = (req) => (req.method === 'POST' ? 503 : undefined);
    const { r, outcomes } = recorder({ retryDelayMs: 60_000 });
    r.record(warning('ns1/web'));
    await waitFor(() => (server.counts.create.events ?? 0) === 1);
    const t0 = Date.now();
    await r.stop();
    expect(Date.now() - t0).toBeLessThan(1000);
    r.record(warning('ns1/other'));
    await r.flush();
    expect(server.counts.create.events).toBe(1);
    expect(outcomes).toEqual([]);
  });

  it('the queue is bounded: with the API server stuck, new Events are dropped, not queued without end', async () => {
    let release: () => void = () => {};
    const stuck = new Promise<void>((resolve) => {
      release = resolve;
    });
    const calls: string[] = [];
    const sink: EventSink = {
      create: async (ns) => {
        calls.push(ns);
        await stuck;
      },
      patch: async () => {},
    };
    const { r, outcomes } = recorder({ queueLength: 5 }, 'node-a', sink);
    for (let i = 0; i < 20; i++) r.record(warning(`ns${i}/web`));
    // One in flight, five waiting, the rest dropped.
    expect(r.pending).toBe(5);
    expect(outcomes.filter((o) => o === 'dropped')).toHaveLength(14);
    release();
    await r.flush();
    expect(calls).toHaveLength(6);
  });

  it('long names and messages are cut to what the API server accepts', async () => {
    const { r } = recorder();
    const name = `s${'x'.repeat(250)}`;
    r.record(warning(`ns1/${name}`, 'InvalidAnnotation', 'm'.repeat(5000)));
    await r.flush();
    const [e] = events();
    expect(e.metadata.name.length).toBeLessThanOrEqual(253);
    expect(e.message.length).toBe(1024);
    expect(e.involvedObject.name).toBe(name);
  });
});

describe('KubernetesController with Events', () => {
  it('an invalid annotation on a Service becomes an Event on that Service (with its uid), counted in the metrics', async () => {
    const metrics = new LbMetrics();
    const created = server.create(
      service('shop', 'web', { clusterIP: '10.96.0.10', ports: [{ name: 'http', port: 80 }] }, { annotations: { 'ipvs-maglev.io/scheduler': 'fastest' } }),
    );
    const c = new KubernetesController({
      kubeConfig: server.kubeConfig(),
      nodeName: 'node-a',
      ipvs: new MemoryIpvs(),
      vips: new MemoryVips(),
      store: new MemoryStateStore(),
      logger: quiet,
      minSyncIntervalMs: 30,
      fullResyncIntervalMs: 0,
      restartDelayMs: 50,
      planOptions: { flowMoveEstimator: null },
      metrics,
      events: { sink: apiEventSink(server.kubeConfig()) },
    });
    c.start();
    try {
      await waitFor(() => events().length > 0);
      await c.eventsFlushed();
      const [e] = events();
      expect(e.metadata.namespace).toBe('shop');
      expect(e.involvedObject).toEqual({ kind: 'Service', apiVersion: 'v1', namespace: 'shop', name: 'web', uid: created.metadata.uid });
      expect(e).toMatchObject({ reason: 'InvalidAnnotation', type: 'Warning', count: 1 });
      expect(e.message).toContain('"fastest" is not an IPVS scheduler');
      expect(await metrics.registry.getSingleMetricAsString('ipvs_maglev_kubernetes_warning_events_total')).toContain('outcome="created"} 1');
    } finally {
      await c.stop();
    }
  });
});
