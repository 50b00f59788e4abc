import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IpvsError } from '../../src/ipvs/errors.ts';
import { serviceKeyString } from '../../src/ipvs/keys.ts';
import type { ServiceKey } from '../../src/ipvs/types.ts';
import { destinationConfigEqual, serviceConfigEqual } from '../../src/model/index.ts';
import type { DesiredService, DesiredState } from '../../src/model/types.ts';
import { MemoryStateStore, Reconciler } from '../../src/reconcile/index.ts';
import { BatchingMemoryIpvs, MemoryIpvs, MemoryVips } from '../../src/testing/memory-ipvs.ts';
import { dest, service } from './helpers.ts';

// Small pools so random states overlap a lot: same keys, same destinations, hand-made services on our VIPs.
const VIPS = ['10.0.0.1', '10.0.0.2', '2001:db8::1'];
const PORTS = [80, 443];
const BACKENDS = ['10.1.0.1', '10.1.0.2', '10.1.0.3', '10.1.0.4', '10.1.0.5'];
const BACKENDS6 = ['2001:db8:1::1', '2001:db8:1::2', '2001:db8:1::3', '2001:db8:1::a', '2001:db8:1::b'];

const arbService: fc.Arbitrary<DesiredService> = fc
  .record({
    vip: fc.constantFrom(...VIPS),
    port: fc.constantFrom(...PORTS),
    protocol: fc.constantFrom('tcp' as const, 'udp' as const),
    scheduler: fc.constantFrom('mh', 'rr', 'wlc'),
    fallback: fc.boolean(),
    dests: fc.uniqueArray(fc.record({ i: fc.nat(4), port: fc.constantFrom(80, 8080), weight: fc.nat(3) }), { selector: (d) => `${d.i}:${d.port}`, maxLength: 5 }),
    bind: fc.boolean(),
  })
  .map((r) => {
    const pool = r.vip.includes(':') ? BACKENDS6 : BACKENDS;
    return service(
      `${r.protocol}-${r.vip}-${r.port}`,
      r.vip,
      r.port,
      r.dests.map((d) => dest(pool[d.i % pool.length], d.port, { weight: d.weight })),
      { protocol: r.protocol, bindAddress: r.bind, config: { scheduler: r.scheduler, flags: r.scheduler === 'mh' ? { fallback: r.fallback, portHash: true } : {} } },
    );
  });

const arbState: fc.Arbitrary<DesiredState> = fc
  .uniqueArray(arbService, { selector: (s) => serviceKeyString(s.key), maxLength: 6 })
  .map((services) => ({ services }));

interface World {
  ipvs: MemoryIpvs;
  vips: MemoryVips;
  store: MemoryStateStore;
  handMade: Set<string>;
}

/** A kernel left by an earlier run of ours (with `before`), plus hand-made services and live connections. */
async function world(before: DesiredState, handMade: DesiredState, conns: number[], batching: boolean): Promise<World> {
  const ipvs = batching ? new BatchingMemoryIpvs() : new MemoryIpvs();
  const vips = new MemoryVips();
  const store = new MemoryStateStore();
  await new Reconciler({ ipvs, vips, store, flowMoveEstimator: null }).sync(before);
  const hand = new Set<string>();
  for (const s of handMade.services) {
    try {
      await ipvs.addService(s.key, s.config);
    } catch {
      continue; // ours already
    }
    hand.add(serviceKeyString(s.key));
    for (const d of s.destinations) await ipvs.addDestination(s.key, d.key, d.config);
  }
  let c = 0;
  for (const s of await ipvs.listServices()) {
    for (const d of await ipvs.listDestinations(s.key)) ipvs.setConnections(s.key, d.key, conns[c++ % conns.length] ?? 0);
  }
  return { ipvs, vips, store, handMade: hand };
}

describe.each([false, true])('reconciler properties (in-memory kernel, batched writes: %s)', (batching) => {
  it('random actual + desired converge in one sync; a second sync is empty; hand-made services untouched', async () => {
    await fc.assert(
      fc.asyncProperty(arbState, arbState, arbState, fc.array(fc.nat(2), { minLength: 1, maxLength: 7 }), async (before, handMade, desired, conns) => {
        const w = await world(before, handMade, conns, batching);
        const handBefore = new Map([...w.ipvs.snapshot()].filter(([k]) => w.handMade.has(k)));
        const r = new Reconciler({ ipvs: w.ipvs, vips: w.vips, store: w.store, flowMoveEstimator: null });
        const report = await r.sync(desired);
        expect(report.errors).toEqual([]);

        const snap = w.ipvs.snapshot();
        // Ownership: hand-made services are exactly as they were.
        for (const [k, v] of handBefore) expect(snap.get(k)).toEqual(v);
        const conflicts = new Set(report.conflicts.map((c) => c.service));
        for (const c of conflicts) expect(w.handMade.has(c)).toBe(true);
        // Every desired service (not in conflict) is in the kernel exactly as desired, plus draining dests at weight 0.
        for (const s of desired.services) {
          const id = serviceKeyString(s.key);
          if (conflicts.has(id)) continue;
          const got = snap.get(id);
          expect(got).toBeDefined();
          if (!got) continue;
          expect(serviceConfigEqual(got.config, s.config)).toBe(true);
          const want = new Map(s.destinations.map((d) => [`${d.key.address.includes(':') ? `[${d.key.address}]` : d.key.address}:${d.key.port}`, d.config]));
          for (const d of got.destinations) {
            const cfg = want.get(d.key);
            if (cfg) expect(destinationConfigEqual(cfg, d.config)).toBe(true);
            else {
              // A leftover may only be a TCP destination draining at weight 0.
              expect(s.key.kind === 'addr' && s.key.protocol === 'tcp').toBe(true);
              expect(d.config.weight).toBe(0);
            }
          }
          for (const k of want.keys()) expect(got.destinations.some((d) => d.key === k)).toBe(true);
        }
        // Owned services that are no longer desired are gone; nothing else is.
        const desiredIds = new Set(desired.services.map((s) => serviceKeyString(s.key)));
        for (const k of snap.keys()) expect(desiredIds.has(k) || w.handMade.has(k)).toBe(true);
        // VIPs: every desired bound address is there.
        for (const s of desired.services) if (s.bindAddress && s.key.kind === 'addr' && !conflicts.has(serviceKeyString(s.key))) expect(w.vips.addresses.has(s.key.address)).toBe(true);

        // Idempotent: both the incremental and the full sync find nothing to do.
        expect((await r.sync(desired)).operations).toEqual([]);
        expect((await r.resync(desired)).operations).toEqual([]);
      }),
      { numRuns: 100 },
    );
  });

  it('never deletes on partial information: failed dumps change nothing they did not read', async () => {
    await fc.assert(
      fc.asyncProperty(arbState, arbState, fc.boolean(), fc.array(fc.boolean(), { minLength: 1, maxLength: 6 }), async (before, desired, serviceDumpFails, destDumpFails) => {
        const w = await world(before, { services: [] }, [1], batching);
        const snapBefore = w.ipvs.snapshot();
        let call = 0;
        const failed = new Set<string>();
        w.ipvs.fault = (m, args) => {
          if (m === 'listServices' && serviceDumpFails) return new IpvsError('DUMP_INTERRUPTED', 'interrupted');
          if (m === 'listDestinations' && destDumpFails[call++ % destDumpFails.length]) {
            failed.add(serviceKeyString(args[0] as ServiceKey));
            return new IpvsError('DUMP_INTERRUPTED', 'interrupted');
          }
          return undefined;
        };
        const r = new Reconciler({ ipvs: w.ipvs, vips: w.vips, store: w.store, flowMoveEstimator: null });
        const writesBefore = w.ipvs.writes();
        await r.sync(desired);
        const snap = w.ipvs.snapshot();
        if (serviceDumpFails) {
          expect(w.ipvs.writes()).toBe(writesBefore);
          return;
        }
        for (const id of failed) expect(snap.get(id)).toEqual(snapBefore.get(id));
      }),
      { numRuns: 100 },
    );
  });

  it('with random kernel errors, other services still converge, and the next sync finishes the job', async () => {
    await fc.assert(
      fc.asyncProperty(arbState, arbState, fc.array(fc.boolean(), { minLength: 1, maxLength: 9 }), async (before, desired, failPattern) => {
        const w = await world(before, { services: [] }, [0], batching);
        let n = 0;
        w.ipvs.fault = (m) => (m !== 'listServices' && m !== 'listDestinations' && m !== 'getService' && failPattern[n++ % failPattern.length] ? new IpvsError('KERNEL_ERROR', 'ENOMEM') : undefined);
        const r = new Reconciler({ ipvs: w.ipvs, vips: w.vips, store: w.store, flowMoveEstimator: null });
        const first = await r.sync(desired);
        const failedServices = new Set(first.errors.map((e) => e.service));
        // A service without errors is complete after the first sync.
        const snap = w.ipvs.snapshot();
        for (const s of desired.services) {
          const id = serviceKeyString(s.key);
          if (failedServices.has(id)) continue;
          expect(snap.get(id)?.destinations.length ?? -1).toBeGreaterThanOrEqual(s.destinations.length);
        }
        w.ipvs.fault = undefined;
        const second = await r.sync(desired);
        expect(second.errors).toEqual([]);
        expect((await r.resync(desired)).operations).toEqual([]);
      }),
      { numRuns: 100 },
    );
  });
});
