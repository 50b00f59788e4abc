import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Logger } from '../../src/reconcile/types.ts';
import { MemoryStateStore } from '../../src/reconcile/store.ts';
import { KubernetesController } from '../../src/app/kubernetes-controller.ts';
import { FakeApiServer } from '../../src/testing/fake-apiserver.ts';
import { MemoryIpvs, MemoryVips } from '../../src/testing/memory-ipvs.ts';
import { service, slice } from '../sources/kubernetes/builders.ts';
import { waitFor } from '../sources/kubernetes/wait.ts';

// The status page's snapshot in Kubernetes mode (controller --status-page): the controller against the
// project's fake API server (real client-node informers) and the in-memory IPVS model. The page itself is
// tested in a browser in test/metrics/status-page.test.ts.

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };
let server: FakeApiServer;
beforeEach(async () => {
  server = await new FakeApiServer().start();
});
afterEach(async () => {
  await server.stop();
});

describe('KubernetesController status page snapshot', () => {
  it('lists the owned virtual servers with their Maglev table, and shows an endpoint leaving as a drain that keeps its slots', async () => {
    server.create(service('shop', 'web', { clusterIP: '10.96.0.20', ports: [{ name: 'http', port: 80 }] }));
    const eps = (ips: string[]) => slice('shop', 'web', 'web-1', [{ name: 'http', port: 8080 }], ips.map((ip) => ({ ip })));
    server.create(eps(['10.1.0.1', '10.1.0.2', '10.1.0.3']));
    const ipvs = new MemoryIpvs();
    const c = new KubernetesController({
      kubeConfig: server.kubeConfig(),
      nodeName: 'node-a',
      ipvs,
      vips: new MemoryVips(),
      store: new MemoryStateStore(),
      logger: quiet,
      minSyncIntervalMs: 30,
      fullResyncIntervalMs: 0,
      restartDelayMs: 50,
      planOptions: { flowMoveEstimator: null, drainTimeoutMs: 3_600_000 },
    });
    c.start();
    try {
      await waitFor(() => ipvs.snapshot().get('tcp 10.96.0.20:80')?.destinations.length === 3);
      await c.idle();
      let snap = await c.status();
      expect(snap.services.map((s) => [s.name, s.service, s.scheduler])).toEqual([['shop/web:http', 'tcp 10.96.0.20:80', 'mh']]);
      const before = Object.fromEntries(snap.services[0].destinations.map((d) => [d.destination, d.slots]));
      expect(Object.values(before).reduce((a, b) => (a ?? 0) + (b ?? 0), 0)).toBe(4093);
      // The endpoint goes while it still has connections: drained at weight 0, slots kept.
      ipvs.setConnections({ kind: 'addr', family: 'inet', protocol: 'tcp', address: '10.96.0.20', port: 80 }, { family: 'inet', address: '10.1.0.2', port: 8080 }, 3);
      server.update(eps(['10.1.0.1', '10.1.0.3']));
      await waitFor(() => ipvs.snapshot().get('tcp 10.96.0.20:80')?.destinations.some((d) => d.config.weight === 0) === true);
      await c.idle();
      snap = await c.status();
      const drained = snap.services[0].destinations.find((d) => d.destination === '10.1.0.2:8080');
      expect(drained).toMatchObject({ weight: 0, lastWeight: 1, activeConns: 3 });
      expect(drained?.drainingSince).toBeTypeOf('number');
      expect(Object.fromEntries(snap.services[0].destinations.map((d) => [d.destination, d.slots]))).toEqual(before);
    } finally {
      await c.stop();
    }
  });
});
