// Event-driven syncs plan only what changed (by object identity) and look only at the addresses of the
// services they touch. Whatever the sequence of changes, they must leave the kernel exactly where a full
// sync would: after each one, a full read + plan finds nothing to do, and the owned totals they report
// match a recount.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DesiredService } from '../../src/model/types.ts';
import { MemoryStateStore, Reconciler } from '../../src/reconcile/index.ts';
import { MemoryIpvs, MemoryVips } from '../../src/testing/memory-ipvs.ts';
import { dest, service, state } from './helpers.ts';

const VIPS = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '2001:db8::1'];
const PORTS = [80, 443];
const BACKENDS = ['10.1.0.1', '10.1.0.2', '10.1.0.3', '10.1.0.4'];

// An edit of the desired list: a service set to a destination set (added or replaced), or removed.
const edit = fc.oneof(
  fc.record({
    op: fc.constant('set' as const),
    vip: fc.constantFrom(...VIPS),
    port: fc.constantFrom(...PORTS),
    backends: fc.subarray(BACKENDS),
    bind: fc.boolean(),
    weight: fc.constantFrom(1, 2),
  }),
  fc.record({ op: fc.constant('remove' as const), vip: fc.constantFrom(...VIPS), port: fc.constantFrom(...PORTS) }),
  fc.record({ op: fc.constant('shuffle' as const), seed: fc.nat() }),
);

function recount(ipvs: MemoryIpvs, owned: readonly string[]): { services: number; destinations: number } {
  const snap = ipvs.snapshot();
  let services = 0;
  let destinations = 0;
  for (const id of owned) {
    const s = snap.get(id);
    if (!s) continue;
    services++;
    destinations += s.destinations.length;
  }
  return { services, destinations };
}

describe('incremental syncs', () => {
  it('leave the kernel where a full sync would, for any sequence of changes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(edit, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 8 }), async (steps) => {
        const ipvs = new MemoryIpvs();
        const vips = new MemoryVips();
        const r = new Reconciler({ ipvs, vips, store: new MemoryStateStore(), flowMoveEstimator: null });
        // Services keep their object identity while unchanged, as sources are required to do.
        let list: DesiredService[] = [service('seed', '10.0.0.1', 80, [dest('10.1.0.1')])];
        await r.sync(state(...list));
        for (const step of steps) {
          for (const e of step) {
            if (e.op === 'shuffle') {
              if (list.length > 1) list = [...list.slice(e.seed % list.length), ...list.slice(0, e.seed % list.length)];
              continue;
            }
            const at = list.findIndex((s) => s.key.kind === 'addr' && s.key.address === e.vip && s.key.port === e.port);
            if (e.op === 'remove') {
              if (at >= 0) list = list.filter((_, i) => i !== at);
              continue;
            }
            const next = service(`${e.vip}:${e.port}`, e.vip, e.port, e.backends.map((b) => dest(e.vip.includes(':') ? `2001:db8:1::${b.split('.')[3]}` : b, 8080, { weight: e.weight })), { bindAddress: e.bind });
            list = at >= 0 ? list.map((s, i) => (i === at ? next : s)) : [...list, next];
          }
          const desired = state(...list);
          const report = await r.sync(desired);
          expect(report.errors).toEqual([]);
          expect({ services: report.services, destinations: report.destinations }).toEqual(recount(ipvs, r.owned()));
          const full = await r.preview(desired);
          expect(full.operations.map((o) => o.kind)).toEqual([]);
        }
      }),
      { numRuns: 150 },
    );
  });
});
