// The reconciler against a real IPVS kernel, and the in-memory model its unit tests use checked against the
// same kernel: every claim src/testing/memory-ipvs.ts makes about kernel semantics (error codes, head
// insertion, dump order, last weight) is replayed here on both and must agree.
import fc from 'fast-check';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type IpvsClient, openIpvs, openVips, type VipClient } from '../../src/ipvs/index.ts';
import type { DestinationConfig, DestinationKey, IpvsApi, ServiceConfig, ServiceKey } from '../../src/ipvs/types.ts';
import type { DesiredService, DesiredState } from '../../src/model/types.ts';
import { MemoryStateStore, Reconciler } from '../../src/reconcile/index.ts';
import { MemoryIpvs } from '../../src/testing/memory-ipvs.ts';
import { assertIpvsKernel, clearIpvs, ipvsadm, run } from './lib/index.ts';

const VIP_DEV = 'rcn0';
let c: IpvsClient;
let vips: VipClient;

beforeAll(async () => {
  assertIpvsKernel();
  await clearIpvs();
  c = await openIpvs({ timeoutMs: 30_000 });
  vips = await openVips({ interfaceName: VIP_DEV });
});
afterAll(async () => {
  await clearIpvs().catch(() => {});
  await run(['ip', 'link', 'del', VIP_DEV]).catch(() => {});
  c?.close();
});
beforeEach(async () => {
  await clearIpvs();
});

const svcKey = (port: number): ServiceKey => ({ kind: 'addr', family: 'inet', protocol: 'tcp', address: '10.77.0.1', port });
const mh: ServiceConfig = { scheduler: 'mh', flags: { fallback: true, portHash: true }, timeout: 0, netmask: '255.255.255.255' };
const dk = (i: number): DestinationKey => ({ family: 'inet', address: `10.78.0.${i}`, port: 8080 });
const dc = (weight: number, lower = 0, upper = 0): DestinationConfig => ({ forwarding: 'masq', weight, upperThreshold: upper, lowerThreshold: lower });

type Step =
  | { op: 'addService' | 'updateService'; port: number; scheduler: string }
  | { op: 'deleteService'; port: number }
  | { op: 'listDestinations'; port: number }
  | { op: 'addDestination' | 'updateDestination'; port: number; dest: number; weight: number; lower: number; upper: number }
  | { op: 'deleteDestination'; port: number; dest: number };

async function perform(api: IpvsApi, s: Step): Promise<unknown> {
  try {
    switch (s.op) {
      case 'addService':
        return await api.addService(svcKey(s.port), { ...mh, scheduler: s.scheduler, flags: s.scheduler === 'mh' ? mh.flags : {} });
      case 'updateService':
        return await api.updateService(svcKey(s.port), { ...mh, scheduler: s.scheduler, flags: s.scheduler === 'mh' ? mh.flags : {} });
      case 'deleteService':
        return await api.deleteService(svcKey(s.port));
      case 'listDestinations':
        return (await api.listDestinations(svcKey(s.port))).map((d) => [d.key.address, d.key.port, d.config.weight, d.config.lowerThreshold, d.config.upperThreshold]);
      case 'addDestination':
        return await api.addDestination(svcKey(s.port), dk(s.dest), dc(s.weight, s.lower, s.upper));
      case 'updateDestination':
        return await api.updateDestination(svcKey(s.port), dk(s.dest), dc(s.weight, s.lower, s.upper));
      case 'deleteDestination':
        return await api.deleteDestination(svcKey(s.port), dk(s.dest));
    }
  } catch (e) {
    return { error: (e as { code?: string }).code };
  }
}

async function state(api: IpvsApi): Promise<unknown> {
  const services = await api.listServices();
  const out: unknown[] = [];
  for (const s of services.sort((a, b) => (a.key.kind === 'addr' && b.key.kind === 'addr' ? a.key.port - b.key.port : 0))) {
    const ds = await api.listDestinations(s.key);
    out.push([s.key, s.config.scheduler, ds.map((d) => [d.key.address, d.config.weight])]);
  }
  return out;
}

const arbStep: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ op: fc.constantFrom('addService' as const, 'updateService' as const), port: fc.integer({ min: 1, max: 2 }), scheduler: fc.constantFrom('mh', 'rr', 'nosuch') }),
  fc.record({ op: fc.constant('deleteService' as const), port: fc.integer({ min: 1, max: 2 }) }),
  fc.record({ op: fc.constant('listDestinations' as const), port: fc.integer({ min: 1, max: 3 }) }),
  fc.record({
    op: fc.constantFrom('addDestination' as const, 'updateDestination' as const),
    port: fc.integer({ min: 1, max: 3 }),
    dest: fc.integer({ min: 1, max: 4 }),
    weight: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.constant(-1), fc.constant(2 ** 31)),
    lower: fc.constantFrom(0, 5),
    upper: fc.constantFrom(0, 10),
  }),
  fc.record({ op: fc.constant('deleteDestination' as const), port: fc.integer({ min: 1, max: 3 }), dest: fc.integer({ min: 1, max: 4 }) }),
);

describe('the in-memory model agrees with the kernel', () => {
  it('on a scripted sequence: errors, head insertion, empty dump for a missing service', async () => {
    const steps: Step[] = [
      { op: 'listDestinations', port: 9 },
      { op: 'addDestination', port: 1, dest: 1, weight: 1, lower: 0, upper: 0 },
      { op: 'addService', port: 1, scheduler: 'mh' },
      { op: 'addService', port: 1, scheduler: 'mh' },
      { op: 'addService', port: 2, scheduler: 'nosuch' },
      { op: 'addDestination', port: 1, dest: 1, weight: 1, lower: 0, upper: 0 },
      { op: 'addDestination', port: 1, dest: 2, weight: 2, lower: 0, upper: 0 },
      { op: 'addDestination', port: 1, dest: 3, weight: 3, lower: 0, upper: 0 },
      { op: 'addDestination', port: 1, dest: 3, weight: 3, lower: 0, upper: 0 },
      { op: 'updateDestination', port: 1, dest: 4, weight: 1, lower: 0, upper: 0 },
      { op: 'updateDestination', port: 1, dest: 2, weight: -1, lower: 0, upper: 0 },
      { op: 'updateDestination', port: 1, dest: 2, weight: 1, lower: 5, upper: 0 },
      { op: 'updateDestination', port: 1, dest: 2, weight: 0, lower: 0, upper: 0 },
      { op: 'listDestinations', port: 1 },
      { op: 'addDestination', port: 1, dest: 1, weight: 2 ** 31, lower: 0, upper: 0 },
      { op: 'updateDestination', port: 1, dest: 4, weight: 1, lower: 5, upper: 0 },
      { op: 'deleteDestination', port: 1, dest: 4 },
      { op: 'deleteDestination', port: 2, dest: 1 },
      { op: 'updateService', port: 2, scheduler: 'rr' },
      { op: 'deleteService', port: 2 },
      { op: 'deleteService', port: 1 },
    ];
    const mem = new MemoryIpvs();
    const got: unknown[] = [];
    const want: unknown[] = [];
    for (const s of steps) {
      want.push(await perform(c, s));
      got.push(await perform(mem, s));
    }
    expect(got).toEqual(want);
    // The claims themselves, as the kernel answered them:
    expect(want[0]).toEqual([]); // dump of a missing service: empty, not an error
    expect(want[1]).toEqual({ error: 'NO_SUCH_SERVICE' });
    expect(want[3]).toEqual({ error: 'SERVICE_EXISTS' });
    expect(want[4]).toEqual({ error: 'UNKNOWN_SCHEDULER' });
    expect(want[8]).toEqual({ error: 'DESTINATION_EXISTS' });
    expect(want[9]).toEqual({ error: 'NO_SUCH_DESTINATION' });
    expect(want[10]).toEqual({ error: 'INVALID_ARGUMENT' }); // refused by the client: not a u32
    expect(want[11]).toEqual({ error: 'OUT_OF_RANGE' });
    expect(want[13]).toEqual([
      ['10.78.0.3', 8080, 3, 0, 0],
      ['10.78.0.2', 8080, 0, 0, 0],
      ['10.78.0.1', 8080, 1, 0, 0],
    ]); // newest first
    expect(want[14]).toEqual({ error: 'OUT_OF_RANGE' }); // 2^31 is negative as the kernel's int: refused before "exists"
    expect(want[15]).toEqual({ error: 'OUT_OF_RANGE' }); // range checked before "no such destination"
  });

  it('on random sequences (results of every step and the final state)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(arbStep, { minLength: 5, maxLength: 25 }), async (steps) => {
        await clearIpvs();
        const mem = new MemoryIpvs();
        for (const s of steps) expect([s, await perform(mem, s)]).toEqual([s, await perform(c, s)]);
        expect(await state(mem)).toEqual(await state(c));
      }),
      { numRuns: 25 },
    );
  });
});

const desiredService = (port: number, dests: number[], weight = 1): DesiredService => ({
  name: `web${port}`,
  key: svcKey(port),
  config: mh,
  destinations: dests.map((i) => ({ key: dk(i), config: dc(weight) })),
  bindAddress: true,
});
const desired = (...services: DesiredService[]): DesiredState => ({ services });

describe('Reconciler on the real kernel', () => {
  it('converges, is idempotent, binds the VIP, keeps hand-made services, repairs drift', async () => {
    const store = new MemoryStateStore();
    const r = new Reconciler({ ipvs: c, vips, store });
    await ipvsadm(['-A', '-t', '10.77.0.1:22', '-s', 'rr']);
    await ipvsadm(['-a', '-t', '10.77.0.1:22', '-r', '10.78.0.9:22', '-m']);
    const want = desired(desiredService(80, [1, 2, 3]), desiredService(443, [4]));

    const first = await r.sync(want);
    expect(first.errors).toEqual([]);
    expect(first.counts.addService.ok).toBe(2);
    expect(first.counts.addDestination.ok).toBe(4);
    expect(await vips.listAddresses()).toContain('10.77.0.1');
    const listing = await ipvsadm(['-Ln']);
    expect(listing).toMatch(/TCP {2}10\.77\.0\.1:80 mh \(mh-fallback,mh-port\)/);
    expect((await r.sync(want)).operations).toEqual([]);
    expect((await r.resync(want)).operations).toEqual([]);

    // Drift: a service deleted by hand and a weight changed by hand come back at the next full resync.
    await ipvsadm(['-D', '-t', '10.77.0.1:443']);
    await ipvsadm(['-e', '-t', '10.77.0.1:80', '-r', '10.78.0.2:8080', '-m', '-w', '7']);
    const repair = await r.resync(want);
    expect(repair.counts.addService.ok).toBe(1);
    expect(repair.counts.updateDestination.ok).toBe(1);
    expect((await r.resync(want)).operations).toEqual([]);

    // Everything of ours goes; the hand-made service (on the same VIP) stays, and so does the VIP it uses.
    const gone = await r.sync(desired());
    expect(gone.counts.deleteService.ok).toBe(2);
    const left = await c.listServices();
    expect(left.map((s) => (s.key.kind === 'addr' ? s.key.port : 0))).toEqual([22]);
    expect(await vips.listAddresses()).toContain('10.77.0.1');
    await ipvsadm(['-D', '-t', '10.77.0.1:22']);
    const unbind = await r.resync(desired());
    expect(unbind.counts.unbindAddress.ok).toBe(1);
    expect(await vips.listAddresses()).not.toContain('10.77.0.1');
  });

  it('deletes a removed destination with no connections at once; a re-added one goes to the head, and the order is made canonical again', async () => {
    const r = new Reconciler({ ipvs: c, store: new MemoryStateStore(), deleteAtOnceProtocols: [] });
    await r.sync(desired(desiredService(80, [1, 2, 3])));
    const drain = await r.sync(desired(desiredService(80, [1, 3])));
    const kinds = drain.operations.map((o) => o.operation.kind);
    expect(kinds).toEqual(['deleteDestination']); // the kernel reports 0 connections: nothing to wait for
    const readd = await r.sync(desired(desiredService(80, [1, 2, 3])));
    // The kernel puts the re-added .2 at the head (2 3 1); the canonical mh order (largest first) is 3 2 1, so .3 is
    // deleted and re-added after it in the same batch.
    expect(readd.operations.map((o) => `${o.operation.kind} ${'destination' in o.operation ? o.operation.destination.address : ''}`)).toEqual([
      'addDestination 10.78.0.2',
      'deleteDestination 10.78.0.3',
      'addDestination 10.78.0.3',
    ]);
    const order = (await c.listDestinations(svcKey(80))).map((d) => d.key.address);
    expect(order).toEqual(['10.78.0.3', '10.78.0.2', '10.78.0.1']);
  });
});
