import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { IpvsError } from '../../src/ipvs/errors.ts';
import type { ServiceKey } from '../../src/ipvs/types.ts';
import { FileStateStore, MemoryStateStore, Reconciler } from '../../src/reconcile/index.ts';
import { MemoryIpvs, MemoryVips } from '../../src/testing/memory-ipvs.ts';
import { dest, destConfig, fakeClock, service, state, svcConfig } from './helpers.ts';

const web = (...ips: string[]) => service('web', '10.0.0.1', 80, ips.map((ip) => dest(ip)));
const webKey: ServiceKey = { kind: 'addr', family: 'inet', protocol: 'tcp', address: '10.0.0.1', port: 80 };

function setup(opts: { clock?: ReturnType<typeof fakeClock>; store?: MemoryStateStore; deleteDrainedAtTimeoutOnly?: boolean } = {}) {
  const ipvs = new MemoryIpvs();
  const vips = new MemoryVips();
  const store = opts.store ?? new MemoryStateStore();
  const clock = opts.clock ?? fakeClock();
  const r = new Reconciler({ ipvs, vips, store, now: clock.now, flowMoveEstimator: null, deleteDrainedAtTimeoutOnly: opts.deleteDrainedAtTimeoutOnly });
  return { ipvs, vips, store, clock, r };
}

describe('Reconciler', () => {
  it('converges from empty, then a second sync is empty', async () => {
    const { ipvs, vips, r } = setup();
    const desired = state(web('10.1.0.1', '10.1.0.2'), service('dns', '10.0.0.2', 53, [dest('10.1.0.9', 53)], { protocol: 'udp' }));
    const first = await r.sync(desired);
    expect(first.mode).toBe('full');
    expect(first.errors).toEqual([]);
    expect(first.counts.addService.ok).toBe(2);
    expect(first.counts.addDestination.ok).toBe(3);
    expect(first.counts.bindAddress.ok).toBe(2);
    expect([...vips.addresses].sort()).toEqual(['10.0.0.1', '10.0.0.2']);
    // Canonical add order: .1 then .2, so the kernel lists .2 first (head insertion).
    expect(ipvs.snapshot().get('tcp 10.0.0.1:80')?.destinations.map((d) => d.key)).toEqual(['10.1.0.2:8080', '10.1.0.1:8080']);
    const again = await r.sync(desired);
    expect(again.mode).toBe('incremental');
    expect(again.operations).toEqual([]);
    ipvs.resetCalls();
    const full = await r.resync(desired);
    expect(full.operations).toEqual([]);
    expect(full.reads).toEqual({ serviceDumps: 1, destinationDumps: 2 });
  });

  it('does nothing while sources are not ready', async () => {
    const { ipvs, r } = setup();
    await ipvs.addService(webKey, svcConfig());
    const report = await r.sync(undefined);
    expect(report.mode).toBe('skipped');
    expect(report.errors[0].code).toBe('NOT_READY');
    expect(ipvs.calls.get('listServices')).toBeUndefined();
    expect(ipvs.writes()).toBe(1);
  });

  it('refuses an invalid desired state without touching the kernel', async () => {
    const { ipvs, r } = setup();
    const report = await r.sync(state(service('bad', '10.0.0.1', 80, [dest('10.1.0.1', 80, { weight: -5 })])));
    expect(report.mode).toBe('skipped');
    expect(report.errors[0].code).toBe('VALIDATION');
    expect(report.errors[0].message).toContain('services[bad].destinations[0].config.weight');
    expect(ipvs.writes()).toBe(0);
  });

  it('leaves hand-made services alone, even on our VIP, and reports a conflict on the same key', async () => {
    const { ipvs, vips, r } = setup();
    const handKey: ServiceKey = { kind: 'addr', family: 'inet', protocol: 'tcp', address: '10.0.0.1', port: 22 };
    await ipvs.addService(handKey, svcConfig({ scheduler: 'rr', flags: {} }));
    await ipvs.addDestination(handKey, { family: 'inet', address: '10.9.9.9', port: 22 }, destConfig());
    await ipvs.addService({ ...webKey, port: 443 }, svcConfig());
    await r.sync(state(web('10.1.0.1'), service('tls', '10.0.0.1', 443, [dest('10.1.0.1', 443)])));
    const report = await r.resync(state());
    expect(report.conflicts).toEqual([]);
    const snap = ipvs.snapshot();
    expect([...snap.keys()].sort()).toEqual(['tcp 10.0.0.1:22', 'tcp 10.0.0.1:443']);
    expect(snap.get('tcp 10.0.0.1:443')?.destinations).toEqual([]); // conflict: never touched
    // Our service on 10.0.0.1:80 is gone, but the hand-made ones still use the VIP: it stays bound.
    expect(vips.addresses.has('10.0.0.1')).toBe(true);
    const conflict = await r.resync(state(service('tls', '10.0.0.1', 443, [dest('10.1.0.1', 443)])));
    expect(conflict.conflicts.map((c) => c.service)).toEqual(['tcp 10.0.0.1:443']);
    expect(conflict.operations).toEqual([]);
  });

  it('adopts an existing service when asked', async () => {
    const ipvs = new MemoryIpvs();
    await ipvs.addService(webKey, svcConfig({ scheduler: 'rr', flags: {} }));
    const r = new Reconciler({ ipvs, adoptExisting: true, flowMoveEstimator: null });
    const report = await r.sync(state(web('10.1.0.1')));
    expect(report.counts.updateService.ok).toBe(1);
    expect(report.counts.addDestination.ok).toBe(1);
    expect(r.owned()).toEqual(['tcp 10.0.0.1:80']);
  });

  it('unbinds a VIP when its last service goes', async () => {
    const { vips, r } = setup();
    await r.sync(state(web('10.1.0.1')));
    expect(vips.addresses.has('10.0.0.1')).toBe(true);
    const report = await r.sync(state());
    expect(report.counts.deleteService.ok).toBe(1);
    expect(report.counts.unbindAddress.ok).toBe(1);
    expect(vips.addresses.size).toBe(0);
  });

  it('never unbinds an address it did not bind', async () => {
    const { vips, r } = setup();
    vips.addresses.add('192.0.2.1');
    await r.sync(state(web('10.1.0.1')));
    await r.sync(state());
    expect([...vips.addresses]).toEqual(['192.0.2.1']);
  });

  it('makes no change when the service dump fails', async () => {
    const { ipvs, r } = setup();
    await r.sync(state(web('10.1.0.1')));
    ipvs.fault = (m) => (m === 'listServices' ? new IpvsError('DUMP_INTERRUPTED', 'dump interrupted') : undefined);
    const before = ipvs.writes();
    const report = await r.resync(state());
    expect(report.mode).toBe('skipped');
    expect(report.errors[0].code).toBe('DUMP_FAILED');
    expect(ipvs.writes()).toBe(before);
    // And the next event-driven sync is a full one again (no trusted view).
    ipvs.fault = undefined;
    const next = await r.sync(state());
    expect(next.mode).toBe('full');
    expect(next.counts.deleteService.ok).toBe(1);
  });

  it('leaves a service alone when its destination dump fails, and still syncs the others', async () => {
    const { ipvs, r } = setup();
    const other = service('other', '10.0.0.2', 80, [dest('10.1.0.5')]);
    await r.sync(state(web('10.1.0.1', '10.1.0.2'), other));
    ipvs.fault = (m, args) => (m === 'listDestinations' && (args[0] as ServiceKey).kind === 'addr' && (args[0] as { address: string }).address === '10.0.0.1' ? new IpvsError('TIMEOUT', 'timed out') : undefined);
    const report = await r.resync(state(service('other', '10.0.0.2', 80, [dest('10.1.0.6')])));
    expect(report.errors.some((e) => e.service === 'tcp 10.0.0.1:80')).toBe(true);
    const snap = ipvs.snapshot();
    expect(snap.get('tcp 10.0.0.1:80')?.destinations).toHaveLength(2); // not deleted
    expect(snap.get('tcp 10.0.0.2:80')?.destinations.map((d) => d.key)).toEqual(['10.1.0.6:8080']);
    ipvs.fault = undefined;
    const retry = await r.sync(state(service('other', '10.0.0.2', 80, [dest('10.1.0.6')])));
    expect(retry.counts.deleteService.ok).toBe(1);
  });

  it('a single change costs O(1) kernel requests: no service dump, one destination dump', async () => {
    const { ipvs, r } = setup();
    const services = Array.from({ length: 200 }, (_, i) => service(`s${i}`, `10.0.${i >> 8}.${i & 255}`, 80, [dest('10.1.0.1'), dest('10.1.0.2')]));
    await r.sync(state(...services));
    ipvs.resetCalls();
    const changed = services.slice();
    changed[17] = { ...services[17], destinations: [dest('10.1.0.1'), dest('10.1.0.3')] };
    const report = await r.sync(state(...changed));
    expect(report.mode).toBe('incremental');
    expect(ipvs.calls.get('listServices')).toBeUndefined();
    expect(ipvs.calls.get('listDestinations')).toBe(1);
    expect(report.operations.map((o) => o.operation.kind)).toEqual(['addDestination', 'deleteDestination']); // no conns: deleted at once
  });

  it('repairs drift on a full resync', async () => {
    const { ipvs, r } = setup();
    const desired = state(web('10.1.0.1', '10.1.0.2'));
    await r.sync(desired);
    await ipvs.deleteService(webKey);
    await ipvs.addService({ ...webKey, port: 81 }, svcConfig()); // hand-made: stays
    const report = await r.resync(desired);
    expect(report.counts.addService.ok).toBe(1);
    expect(report.counts.addDestination.ok).toBe(2);
    const again = await r.sync(desired);
    expect(again.operations).toEqual([]);
    // A hand change to a destination's weight is restored too.
    await ipvs.updateDestination(webKey, dest('10.1.0.1').key, destConfig({ weight: 9 }));
    const fix = await r.resync(desired);
    expect(fix.counts.updateDestination.ok).toBe(1);
    expect(ipvs.snapshot().has('tcp 10.0.0.1:81')).toBe(true);
  });

  it('handles a service deleted by hand between syncs (incremental): skip, then recreate', async () => {
    const { ipvs, r } = setup();
    await r.sync(state(web('10.1.0.1')));
    await ipvs.deleteService(webKey);
    ipvs.resetCalls();
    const report = await r.sync(state(web('10.1.0.1', '10.1.0.2')));
    expect(report.counts.addDestination.skipped).toBe(2);
    expect(ipvs.calls.get('addDestination')).toBe(1); // the second is not even tried
    const next = await r.sync(state(web('10.1.0.1', '10.1.0.2')));
    expect(next.counts.addService.ok).toBe(1);
    expect(ipvs.snapshot().get('tcp 10.0.0.1:80')?.destinations).toHaveLength(2);
  });

  it('one failing service does not block the others, and is retried', async () => {
    const { ipvs, r } = setup();
    let broken = true;
    ipvs.fault = (m, args) => (broken && m === 'addService' && (args[0] as { port: number }).port === 80 ? new IpvsError('KERNEL_ERROR', 'ENOMEM') : undefined);
    const desired = state(web('10.1.0.1'), service('b', '10.0.0.2', 80, [dest('10.1.0.2')]), service('c', '10.0.0.3', 81, [dest('10.1.0.3')]));
    const report = await r.sync(desired);
    expect(report.counts.addService).toMatchObject({ ok: 1, failed: 2 });
    expect(report.counts.addDestination).toMatchObject({ ok: 1, failed: 2 });
    expect(report.errors.filter((e) => e.code === 'KERNEL_ERROR')).toHaveLength(2);
    expect(ipvs.snapshot().has('tcp 10.0.0.3:81')).toBe(true);
    broken = false;
    const retry = await r.sync(desired);
    expect(retry.counts.addService.ok).toBe(2);
    expect(retry.errors).toEqual([]);
    expect((await r.sync(desired)).operations).toEqual([]);
  });

  describe('drain', () => {
    it('weight 0 first, deleted when connections reach 0', async () => {
      const { ipvs, r } = setup();
      await r.sync(state(web('10.1.0.1', '10.1.0.2')));
      ipvs.setConnections(webKey, dest('10.1.0.2').key, 3, 1);
      const drain = await r.sync(state(web('10.1.0.1')));
      expect(drain.operations.map((o) => o.operation.kind)).toEqual(['drainDestination']);
      expect(ipvs.lastWeight(webKey, dest('10.1.0.2').key)).toBe(1);
      expect(drain.draining).toBe(1);
      expect((await r.sync(state(web('10.1.0.1')))).operations).toEqual([]); // still busy
      ipvs.setConnections(webKey, dest('10.1.0.2').key, 0, 0);
      const done = await r.sync(state(web('10.1.0.1')));
      expect(done.operations.map((o) => o.operation)).toMatchObject([{ kind: 'deleteDestination', reason: 'drained' }]);
      expect(done.draining).toBe(0);
      expect(ipvs.snapshot().get('tcp 10.0.0.1:80')?.destinations.map((d) => d.key)).toEqual(['10.1.0.1:8080']);
    });

    it('deleted after the drain timeout even with connections', async () => {
      const clock = fakeClock();
      const { ipvs, r } = setup({ clock });
      await r.sync(state(web('10.1.0.1', '10.1.0.2')));
      ipvs.setConnections(webKey, dest('10.1.0.2').key, 5);
      await r.sync(state(web('10.1.0.1')));
      clock.advance(299_000);
      expect((await r.sync(state(web('10.1.0.1')))).operations).toEqual([]);
      clock.advance(1_000);
      const done = await r.sync(state(web('10.1.0.1')));
      expect(done.operations.map((o) => o.operation)).toMatchObject([{ kind: 'deleteDestination', reason: 'drain-timeout' }]);
    });

    it('scale-out: an idle drained destination stays (weight 0, last weight kept) until the timeout, so nodes agree', async () => {
      // Two nodes see the same change; only one has connections to the drained destination. Deleting at
      // "connections reached 0" would drop it (and its mh slots) on one node only.
      const clock = fakeClock();
      const nodes = [setup({ clock, deleteDrainedAtTimeoutOnly: true }), setup({ clock, deleteDrainedAtTimeoutOnly: true })];
      for (const n of nodes) await n.r.sync(state(web('10.1.0.1', '10.1.0.2')));
      nodes[0].ipvs.setConnections(webKey, dest('10.1.0.2').key, 4, 0);
      nodes[1].ipvs.setConnections(webKey, dest('10.1.0.2').key, 0, 0);
      for (const n of nodes) expect((await n.r.sync(state(web('10.1.0.1')))).operations.map((o) => o.operation.kind)).toEqual(['drainDestination']);
      clock.advance(299_000);
      for (const n of nodes) {
        expect((await n.r.sync(state(web('10.1.0.1')))).operations).toEqual([]);
        expect(n.ipvs.lastWeight(webKey, dest('10.1.0.2').key)).toBe(1);
      }
      clock.advance(1_000);
      for (const n of nodes) {
        const done = await n.r.sync(state(web('10.1.0.1')));
        expect(done.operations.map((o) => o.operation)).toMatchObject([{ kind: 'deleteDestination', reason: 'drain-timeout' }]);
        expect(n.ipvs.snapshot().get('tcp 10.0.0.1:80')?.destinations.map((d) => d.key)).toEqual(['10.1.0.1:8080']);
      }
    });

    it('comes back cleanly when re-added during the drain', async () => {
      const { ipvs, r } = setup();
      await r.sync(state(web('10.1.0.1', '10.1.0.2')));
      ipvs.setConnections(webKey, dest('10.1.0.2').key, 2);
      await r.sync(state(web('10.1.0.1')));
      const back = await r.sync(state(web('10.1.0.1', '10.1.0.2')));
      expect(back.operations.map((o) => o.operation.kind)).toEqual(['updateDestination']);
      expect(back.draining).toBe(0);
      expect(r.draining()).toEqual([]);
      // Same place in the kernel list: the mh table is exactly as before the drain.
      expect(ipvs.snapshot().get('tcp 10.0.0.1:80')?.destinations.map((d) => [d.key, d.config.weight])).toEqual([
        ['10.1.0.2:8080', 1],
        ['10.1.0.1:8080', 1],
      ]);
    });

    it('UDP destinations are deleted at once (kube-proxy), unless configured otherwise', async () => {
      const dns = (...ips: string[]) => service('dns', '10.0.0.53', 53, ips.map((ip) => dest(ip, 53)), { protocol: 'udp' });
      const udpKey: ServiceKey = { kind: 'addr', family: 'inet', protocol: 'udp', address: '10.0.0.53', port: 53 };
      const { ipvs, r } = setup();
      await r.sync(state(dns('10.1.0.1', '10.1.0.2')));
      ipvs.setConnections(udpKey, dest('10.1.0.2', 53).key, 0, 7);
      const report = await r.sync(state(dns('10.1.0.1')));
      expect(report.operations.map((o) => o.operation)).toMatchObject([{ kind: 'deleteDestination', reason: 'no-drain-protocol' }]);

      const ipvs2 = new MemoryIpvs();
      const r2 = new Reconciler({ ipvs: ipvs2, deleteAtOnceProtocols: [], flowMoveEstimator: null });
      await r2.sync(state(dns('10.1.0.1', '10.1.0.2')));
      ipvs2.setConnections(udpKey, dest('10.1.0.2', 53).key, 0, 7);
      expect((await r2.sync(state(dns('10.1.0.1')))).operations.map((o) => o.operation.kind)).toEqual(['drainDestination']);
    });

    it('a drain survives a restart (state file), with its start time', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'reconcile-'));
      const clock = fakeClock();
      const ipvs = new MemoryIpvs();
      const r1 = new Reconciler({ ipvs, store: new FileStateStore(dir), now: clock.now, flowMoveEstimator: null });
      await r1.sync(state(web('10.1.0.1', '10.1.0.2')));
      ipvs.setConnections(webKey, dest('10.1.0.2').key, 1);
      await r1.sync(state(web('10.1.0.1')));
      const saved = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8'));
      expect(saved.services).toEqual(['tcp 10.0.0.1:80']);
      expect(saved.drains).toMatchObject([{ destination: '10.1.0.2:8080', since: clock.now(), lastWeight: 1 }]);

      clock.advance(200_000);
      const r2 = new Reconciler({ ipvs, store: new FileStateStore(dir), now: clock.now, flowMoveEstimator: null });
      expect((await r2.sync(state(web('10.1.0.1')))).operations).toEqual([]);
      clock.advance(100_000);
      expect((await r2.sync(state(web('10.1.0.1')))).operations.map((o) => o.operation)).toMatchObject([{ kind: 'deleteDestination', reason: 'drain-timeout' }]);
      // Ownership survived the restart: removing the service deletes it.
      expect((await r2.sync(state())).counts.deleteService.ok).toBe(1);
    });
  });

  describe('ownership persistence', () => {
    it('writes ownership before creating a service', async () => {
      const store = new MemoryStateStore();
      const ipvs = new MemoryIpvs();
      let ownedAtAdd: string[] = [];
      ipvs.fault = (m) => {
        if (m === 'addService') void store.load().then((s) => { ownedAtAdd = s.services; });
        return undefined;
      };
      const r = new Reconciler({ ipvs, store, flowMoveEstimator: null });
      await r.sync(state(web('10.1.0.1')));
      expect(ownedAtAdd).toEqual(['tcp 10.0.0.1:80']);
    });

    it('a restart without the state file owns nothing and deletes nothing', async () => {
      const ipvs = new MemoryIpvs();
      await new Reconciler({ ipvs, flowMoveEstimator: null }).sync(state(web('10.1.0.1')));
      const r2 = new Reconciler({ ipvs, flowMoveEstimator: null });
      const report = await r2.sync(state());
      expect(report.operations).toEqual([]);
      expect(ipvs.snapshot().has('tcp 10.0.0.1:80')).toBe(true);
    });

    it('refuses to run on a corrupt state file, changing nothing', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'reconcile-'));
      await writeFile(join(dir, 'state.json'), '{ not json');
      const ipvs = new MemoryIpvs();
      const r = new Reconciler({ ipvs, store: new FileStateStore(dir), flowMoveEstimator: null });
      const report = await r.sync(state(web('10.1.0.1')));
      expect(report.mode).toBe('skipped');
      expect(report.errors[0].code).toBe('STATE_FILE');
      expect(ipvs.writes()).toBe(0);
    });
  });

  it('incremental: a failed destination read leaves that service alone and retries it next time', async () => {
    const { ipvs, r } = setup();
    await r.sync(state(web('10.1.0.1', '10.1.0.2')));
    ipvs.setConnections(webKey, dest('10.1.0.2').key, 0, 0);
    ipvs.fault = (m) => (m === 'listDestinations' ? new IpvsError('DUMP_INTERRUPTED', 'interrupted') : undefined);
    const failed = await r.sync(state(web('10.1.0.1')));
    expect(failed.mode).toBe('incremental');
    expect(failed.operations).toEqual([]);
    expect(failed.errors[0]).toMatchObject({ code: 'DUMP_INTERRUPTED', service: 'tcp 10.0.0.1:80' });
    ipvs.fault = undefined;
    const retried = await r.sync(state(web('10.1.0.1')));
    expect(retried.operations.map((o) => o.operation.kind)).toEqual(['deleteDestination']);
  });

  it('reports the share of flows an mh change moves (kernel-exact Maglev)', async () => {
    const ipvs = new MemoryIpvs();
    const r = new Reconciler({ ipvs });
    await r.sync(state(web('10.1.0.1', '10.1.0.2', '10.1.0.3')));
    const report = await r.sync(state(web('10.1.0.1', '10.1.0.2', '10.1.0.3', '10.1.0.4')));
    expect(report.flowMoves).toHaveLength(1);
    const move = report.flowMoves[0];
    expect(move.name).toBe('web');
    expect(move.minimumFraction).toBeGreaterThan(0.24);
    expect(move.minimumFraction).toBeLessThan(0.26);
    expect(move.changedFraction).toBeGreaterThanOrEqual(move.minimumFraction);
  });

  it('serialises concurrent calls', async () => {
    const { ipvs, r } = setup();
    const desired = state(web('10.1.0.1'));
    const [a, b] = await Promise.all([r.sync(desired), r.sync(desired)]);
    expect(a.operations.length + b.operations.length).toBe(3);
    expect(ipvs.snapshot().get('tcp 10.0.0.1:80')?.destinations).toHaveLength(1);
  });

  it('preview plans without applying', async () => {
    const { ipvs, r } = setup();
    const p = await r.preview(state(web('10.1.0.1')));
    expect(p.operations.map((o) => o.kind)).toEqual(['addService', 'addDestination', 'bindAddress']);
    expect(ipvs.writes()).toBe(0);
  });
});
