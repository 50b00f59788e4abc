import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { serviceKeyString } from '../../src/ipvs/keys.ts';
import type { DestinationKey } from '../../src/ipvs/types.ts';
import { buildKernelTable } from '../../src/maglev/index.ts';
import type { DesiredState } from '../../src/model/types.ts';
import { compareCanonicalMh, isCanonicalMhOrder, MemoryStateStore, planMhReorder, Reconciler } from '../../src/reconcile/index.ts';
import { describeOperation } from '../../src/cli/commands/plan.ts';
import { MemoryIpvs } from '../../src/testing/memory-ipvs.ts';
import { dest, fakeClock, service } from './helpers.ts';

const POOL = ['10.1.0.1', '10.1.0.2', '10.1.0.3', '10.1.0.4', '10.1.0.5', '10.1.0.6', '10.1.0.7', '10.1.0.8'];
const key = (address: string): DestinationKey => ({ family: 'inet', address, port: 8080 });
const text = (k: DestinationKey): string => `${k.address}:${k.port}`;

/**
 * The fewest re-adds by brute force: every subset of the current list may stay untouched; the rest (and the
 * new ones) are added in the only order that can end canonical. The smallest count whose result is canonical.
 */
function bruteForceMoves(current: readonly DestinationKey[], added: readonly DestinationKey[]): number {
  let best = Number.POSITIVE_INFINITY;
  for (let mask = 0; mask < 1 << current.length; mask++) {
    const kept = current.filter((_, i) => mask & (1 << i));
    const readd = [...current.filter((_, i) => !(mask & (1 << i))), ...added].sort((a, b) => compareCanonicalMh(b, a));
    const list = [...kept];
    for (const k of readd) list.unshift(k);
    if (isCanonicalMhOrder(list)) best = Math.min(best, current.length - kept.length);
  }
  return best;
}

/** Applies a reorder the way the kernel would: moved ones leave, then each goes to the head in turn. */
function applyReorder(current: readonly DestinationKey[], toHead: ReadonlyArray<{ key: DestinationKey; moved: boolean }>): DestinationKey[] {
  const moved = new Set(toHead.filter((e) => e.moved).map((e) => text(e.key)));
  const list = current.filter((k) => !moved.has(text(k)));
  for (const e of toHead) list.unshift(e.key);
  return list;
}

const arbSplit = fc
  .shuffledSubarray(POOL, { minLength: 0, maxLength: POOL.length })
  .chain((current) => fc.record({ current: fc.constant(current), added: fc.subarray(POOL.filter((a) => !current.includes(a))) }));

describe('planMhReorder', () => {
  it('leaves any list canonical with the fewest delete+re-adds (checked against brute force)', () => {
    fc.assert(
      fc.property(arbSplit, ({ current, added }) => {
        const cur = current.map(key);
        const add = added.map(key);
        const r = planMhReorder(
          cur.map((k) => ({ key: k, item: k })),
          add.map((k) => ({ key: k, item: k })),
        );
        const after = applyReorder(cur, r.toHead);
        expect(isCanonicalMhOrder(after)).toBe(true);
        expect(after.map(text).sort()).toEqual([...cur, ...add].map(text).sort());
        expect(r.moves).toBe(bruteForceMoves(cur, add));
        expect(r.toHead.filter((e) => !e.moved).length).toBe(add.length);
      }),
      { numRuns: 500 },
    );
  });

  it('costs nothing for a canonical list and for a new largest address; a middle one moves the larger ones', () => {
    const canonical = ['10.1.0.7', '10.1.0.5', '10.1.0.2'].map(key);
    expect(planMhReorder(canonical.map((k) => ({ key: k, item: 0 })), []).toHead).toEqual([]);
    expect(planMhReorder(canonical.map((k) => ({ key: k, item: 0 })), [{ key: key('10.1.0.9'), item: 0 }]).moves).toBe(0);
    const r = planMhReorder(canonical.map((k) => ({ key: k, item: 0 })), [{ key: key('10.1.0.4'), item: 0 }]);
    expect(r.toHead.map((e) => `${e.key.address}${e.moved ? ' moved' : ''}`)).toEqual(['10.1.0.4', '10.1.0.5 moved', '10.1.0.7 moved']);
  });
});

// A history step: the desired backends (pool indexes) and their weights, and the connection count each kernel
// destination shows before the step (so removed ones drain instead of going at once).
const arbStep = fc.record({
  backends: fc.subarray([0, 1, 2, 3, 4, 5, 6, 7], { minLength: 1 }),
  weight: fc.integer({ min: 1, max: 3 }),
  conns: fc.nat(2),
  advanceMs: fc.constantFrom(0, 1_000, 400_000),
});
type Step = { backends: number[]; weight: number; conns: number; advanceMs: number };

const desiredOf = (backends: readonly number[], weight: number, scheduler = 'mh'): DesiredState => ({
  services: [
    service(
      'web',
      '10.0.0.1',
      80,
      backends.map((i) => dest(POOL[i], 8080, { weight })),
      { config: { scheduler, flags: scheduler === 'mh' ? { fallback: true, portHash: true } : {} } },
    ),
  ],
});
const SVC = desiredOf([0], 1).services[0].key;
const SVC_ID = serviceKeyString(SVC);

/** Replays a history with the order left as the kernel makes it (as before this change, or as another node). */
async function replay(history: readonly Step[], deleteDrainedAtTimeoutOnly: boolean, scheduler = 'mh') {
  const ipvs = new MemoryIpvs();
  const store = new MemoryStateStore();
  const clock = fakeClock();
  const old = new Reconciler({ ipvs, store, now: clock.now, flowMoveEstimator: null, canonicalMhOrder: false, deleteDrainedAtTimeoutOnly });
  for (const step of history) {
    if ((await ipvs.listServices()).length > 0) for (const d of await ipvs.listDestinations(SVC)) ipvs.setConnections(SVC, d.key, step.conns);
    clock.advance(step.advanceMs);
    await old.resync(desiredOf(step.backends, step.weight, scheduler));
  }
  return { ipvs, store, clock };
}

async function kernelOrder(ipvs: MemoryIpvs): Promise<DestinationKey[]> {
  return (await ipvs.listDestinations(SVC)).map((d) => d.key);
}

describe('canonical mh order in the reconciler', () => {
  it('any history of adds, deletes, drains and re-adds: one reconcile leaves the order canonical with the fewest re-adds, drains keep their slots', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(arbStep, { minLength: 1, maxLength: 8 }), arbStep, fc.boolean(), async (history, last, atTimeoutOnly) => {
        const { ipvs, store, clock } = await replay(history, atTimeoutOnly);
        for (const d of await ipvs.listDestinations(SVC)) ipvs.setConnections(SVC, d.key, last.conns);
        clock.advance(last.advanceMs);
        const before = await ipvs.listDestinations(SVC);
        const r = new Reconciler({ ipvs, store, now: clock.now, flowMoveEstimator: null, deleteDrainedAtTimeoutOnly: atTimeoutOnly });
        const report = await r.resync(desiredOf(last.backends, last.weight));
        expect(report.errors).toEqual([]);
        const after = await kernelOrder(ipvs);
        expect(isCanonicalMhOrder(after)).toBe(true);

        // Minimal: the re-adds equal the brute-force least for the list left after this sync's real deletions.
        const ops = report.operations.map((o) => o.operation);
        const deleted = new Set(ops.flatMap((o) => (o.kind === 'deleteDestination' && o.reason !== 'reorder' ? [text(o.destination)] : [])));
        const current = before.map((d) => d.key).filter((k) => !deleted.has(text(k)));
        const added = ops.flatMap((o) => (o.kind === 'addDestination' && !o.reorder ? [o.destination] : []));
        const reorders = ops.filter((o) => o.kind === 'deleteDestination' && o.reason === 'reorder').length;
        expect(reorders).toBe(bruteForceMoves(current, added));
        expect(ops.filter((o) => o.kind === 'addDestination' && o.reorder).length).toBe(reorders);

        // A draining destination keeps its last weight (its slots) and its connections through a re-add.
        for (const d of before) {
          const now = (await ipvs.listDestinations(SVC)).find((x) => text(x.key) === text(d.key));
          if (!now || last.backends.some((i) => POOL[i] === d.key.address)) continue;
          expect(now.config.weight).toBe(0);
          expect(now.activeConns).toBe(d.activeConns);
          const record = r.draining().find((x) => x.destination === text(d.key));
          expect(ipvs.lastWeight(SVC, d.key)).toBe(record?.lastWeight);
        }
        // And it stays put: the next sync has nothing to do.
        expect((await r.resync(desiredOf(last.backends, last.weight))).operations.filter((o) => o.operation.kind !== 'deleteDestination' || o.operation.reason === 'reorder')).toEqual([]);
      }),
      { numRuns: 150 },
    );
  });

  it('two nodes with different histories and the same final set build the same kernel table', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(arbStep, { minLength: 1, maxLength: 6 }), fc.array(arbStep, { minLength: 1, maxLength: 6 }), arbStep, async (h1, h2, last) => {
        const tables: Int32Array[] = [];
        const orders: string[][] = [];
        for (const h of [h1, h2]) {
          const { ipvs, store, clock } = await replay(h, true);
          const r = new Reconciler({ ipvs, store, now: clock.now, flowMoveEstimator: null, deleteDrainedAtTimeoutOnly: true });
          // The final set's drains start, then time out: both nodes hold exactly the final set.
          await r.resync(desiredOf(last.backends, last.weight));
          clock.advance(1_000_000);
          await r.resync(desiredOf(last.backends, last.weight));
          const list = await ipvs.listDestinations(SVC);
          orders.push(list.map((d) => text(d.key)));
          const additionOrder = list.map((d) => ({ address: d.key.address, port: d.key.port, weight: d.config.weight, lastWeight: ipvs.lastWeight(SVC, d.key) })).reverse();
          tables.push(buildKernelTable(additionOrder, 4093).slots);
        }
        expect(orders[0]).toEqual(orders[1]);
        expect(tables[0]).toEqual(tables[1]);
      }),
      { numRuns: 60 },
    );
  });

  it('never reorders a service that is not mh', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(arbStep, { minLength: 1, maxLength: 6 }), arbStep, fc.constantFrom('rr', 'wlc', 'sh'), async (history, last, scheduler) => {
        const { ipvs, store, clock } = await replay(history, false, scheduler);
        clock.advance(last.advanceMs);
        const r = new Reconciler({ ipvs, store, now: clock.now, flowMoveEstimator: null });
        const before = (await kernelOrder(ipvs)).map(text);
        const report = await r.resync(desiredOf(last.backends, last.weight, scheduler));
        const ops = report.operations.map((o) => o.operation);
        expect(ops.some((o) => (o.kind === 'deleteDestination' && o.reason === 'reorder') || (o.kind === 'addDestination' && o.reorder))).toBe(false);
        // Untouched destinations keep their relative order.
        const after = (await kernelOrder(ipvs)).map(text);
        const survivors = after.filter((k) => before.includes(k));
        expect(survivors).toEqual(before.filter((k) => survivors.includes(k)));
      }),
      { numRuns: 100 },
    );
  });

  it('an event-driven sync of a changed service reorders it too (one destination added in the middle)', async () => {
    const ipvs = new MemoryIpvs();
    const store = new MemoryStateStore();
    const r = new Reconciler({ ipvs, store, flowMoveEstimator: null });
    await r.sync(desiredOf([0, 1, 3, 4], 1));
    const report = await r.sync(desiredOf([0, 1, 2, 3, 4], 1));
    expect(report.mode).toBe('incremental');
    expect((await kernelOrder(ipvs)).map((k) => k.address)).toEqual(['10.1.0.5', '10.1.0.4', '10.1.0.3', '10.1.0.2', '10.1.0.1']);
    // 10.1.0.3 is new; 10.1.0.4 and 10.1.0.5 are in front of it in canonical order: re-added, nothing else.
    expect(report.operations.map((o) => describeOperation(o.operation).split(' (')[0])).toEqual([
      '+ destination web -> 10.1.0.3:8080',
      '- destination web -> 10.1.0.4:8080',
      '+ destination web -> 10.1.0.4:8080',
      '- destination web -> 10.1.0.5:8080',
      '+ destination web -> 10.1.0.5:8080',
    ]);
  });

  it('the plan shows a reorder as a delete followed by its re-add', async () => {
    const ipvs = new MemoryIpvs();
    const store = new MemoryStateStore();
    const old = new Reconciler({ ipvs, store, flowMoveEstimator: null, canonicalMhOrder: false });
    await old.resync(desiredOf([0, 1, 3], 1));
    await old.resync(desiredOf([0, 1, 2, 3], 1)); // 10.1.0.3 added late: at the head, out of order
    expect((await kernelOrder(ipvs)).map((k) => k.address)).toEqual(['10.1.0.3', '10.1.0.4', '10.1.0.2', '10.1.0.1']);
    const p = await new Reconciler({ ipvs, store }).preview(desiredOf([0, 1, 2, 3], 1));
    expect(p.operations.map(describeOperation)).toEqual([
      '- destination web -> 10.1.0.4:8080 (reorder: re-added by the next operation)',
      '+ destination web -> 10.1.0.4:8080 (weight 1, masq) re-added at the head: canonical mh order',
    ]);
    expect(p.flowMoves).toHaveLength(1);
    expect(p.flowMoves[0].service).toBe(SVC_ID);
    expect(p.flowMoves[0].changedFraction).toBeGreaterThan(0);
  });
});
