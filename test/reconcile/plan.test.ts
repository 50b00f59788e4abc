import { describe, expect, it } from 'vitest';
import type { Destination } from '../../src/ipvs/types.ts';
import { buildKernelTable, kernelLookup } from '../../src/maglev/index.ts';
import { defaultFlowMoveEstimator, plan, simulateMh } from '../../src/reconcile/index.ts';
import type { ActualService, DrainRecord } from '../../src/reconcile/index.ts';
import { dest, destConfig, service, state, svcConfig } from './helpers.ts';

const key = { kind: 'addr', family: 'inet', protocol: 'tcp', address: '10.0.0.1', port: 80 } as const;
const kd = (address: string, weight = 1, conns?: number): Destination => ({
  key: { family: 'inet', address, port: 8080 },
  config: destConfig({ weight }),
  activeConns: conns,
  inactiveConns: conns === undefined ? undefined : 0,
});
const actualWeb = (...dests: Destination[]): ActualService => ({ service: { key, config: svcConfig() }, destinations: dests });
const owned = { services: new Set(['tcp 10.0.0.1:80']), addresses: new Set(['10.0.0.1']) };
const none = new Map<string, DrainRecord>();

describe('plan', () => {
  it('orders operations safely: services, adds, drains, deletes, then VIPs', () => {
    const p = plan(
      // Kernel order as a canonical (largest first) list: no reorder mixes into the phases checked here.
      { services: [actualWeb(kd('10.1.0.3', 1, 0), kd('10.1.0.2', 1, 4), kd('10.1.0.1')), { service: { key: { ...key, port: 81 }, config: svcConfig() }, destinations: [] }], boundAddresses: ['10.0.0.1'] },
      state(service('web', '10.0.0.1', 80, [dest('10.1.0.1'), dest('10.1.0.9')]), service('new', '10.0.0.7', 80, [dest('10.1.0.1')])),
      { services: new Set(['tcp 10.0.0.1:80', 'tcp 10.0.0.1:81']), addresses: new Set(['10.0.0.1']) },
      none,
      0,
      { flowMoveEstimator: null },
    );
    expect(p.operations.map((o) => o.kind)).toEqual([
      'addService',
      'addDestination',
      'addDestination',
      'drainDestination',
      'deleteDestination',
      'deleteService',
      'bindAddress',
    ]);
    expect(p.drains.size).toBe(1);
    expect([...p.ownership.services].sort()).toEqual(['tcp 10.0.0.1:80', 'tcp 10.0.0.7:80']);
    expect(p.draining).toBe(1);
  });

  it('adds new destinations in canonical order, whatever the desired order', () => {
    const p = plan({ services: [], boundAddresses: undefined }, state(service('web', '10.0.0.1', 80, [dest('10.1.0.10'), dest('10.1.0.9'), dest('10.1.0.9', 80)])), owned, none, 0, { flowMoveEstimator: null });
    expect(p.operations.flatMap((o) => (o.kind === 'addDestination' ? [`${o.destination.address}:${o.destination.port}`] : []))).toEqual(['10.1.0.9:80', '10.1.0.9:8080', '10.1.0.10:8080']);
    expect(p.operations.some((o) => o.kind === 'bindAddress')).toBe(false); // addresses not managed
  });

  it('treats unset tunnel fields and false flags as equal to what the kernel reports', () => {
    const have = actualWeb({ ...kd('10.1.0.1'), config: { ...destConfig(), tunnelType: 'ipip', tunnelPort: 0, tunnelFlags: 0 } });
    have.service.config = { ...svcConfig(), flags: { fallback: true, portHash: true, persistent: false, onePacket: false, sched3: false }, persistenceEngine: '' };
    const p = plan({ services: [have], boundAddresses: undefined }, state(service('web', '10.0.0.1', 80, [dest('10.1.0.1')])), owned, none, 0);
    expect(p.operations).toEqual([]);
  });

  it('re-asserts weight 0 when someone raised a draining destination by hand, keeping the drain start', () => {
    const drains = new Map([['tcp 10.0.0.1:80 -> 10.1.0.2:8080', { service: 'tcp 10.0.0.1:80', destination: '10.1.0.2:8080', since: 5, lastWeight: 3 }]]);
    const p = plan({ services: [actualWeb(kd('10.1.0.2', 7, 2), kd('10.1.0.1'))], boundAddresses: undefined }, state(service('web', '10.0.0.1', 80, [dest('10.1.0.1')])), owned, drains, 100, { flowMoveEstimator: null });
    expect(p.operations.map((o) => o.kind)).toEqual(['drainDestination']);
    expect(p.drains.get('tcp 10.0.0.1:80 -> 10.1.0.2:8080')).toMatchObject({ since: 5, lastWeight: 7 });
  });

  it('drops drain records of destinations that vanished', () => {
    const drains = new Map([['tcp 10.0.0.1:80 -> 10.1.0.2:8080', { service: 'tcp 10.0.0.1:80', destination: '10.1.0.2:8080', since: 5, lastWeight: 3 }]]);
    const p = plan({ services: [actualWeb(kd('10.1.0.1'))], boundAddresses: undefined }, state(service('web', '10.0.0.1', 80, [dest('10.1.0.1')])), owned, drains, 100);
    expect(p.drains.size).toBe(0);
    expect(p.operations).toEqual([]);
  });

  it('plans only the services in scope', () => {
    const other = { service: { key: { ...key, port: 81 }, config: svcConfig() }, destinations: [] };
    const p = plan(
      { services: [actualWeb(kd('10.1.0.1', 1, 0)), other], boundAddresses: undefined },
      state(service('web', '10.0.0.1', 80, [])),
      { services: new Set(['tcp 10.0.0.1:80', 'tcp 10.0.0.1:81']), addresses: new Set() },
      none,
      0,
      { services: new Set(['tcp 10.0.0.1:80']), flowMoveEstimator: null },
    );
    expect(p.operations.map((o) => o.kind)).toEqual(['deleteDestination']);
    expect(p.ownership.services.has('tcp 10.0.0.1:81')).toBe(true);
  });
});

describe('mh flow moves', () => {
  it('simulates the kernel list: head insertion, last weight kept on drain', () => {
    const after = simulateMh(
      [
        { address: '10.1.0.2', port: 80, weight: 2, lastWeight: 2 },
        { address: '10.1.0.1', port: 80, weight: 1, lastWeight: 1 },
      ],
      [
        { kind: 'addDestination', service: key, name: 'w', destination: { family: 'inet', address: '10.1.0.3', port: 80 }, config: destConfig({ weight: 5 }) },
        { kind: 'drainDestination', service: key, name: 'w', destination: { family: 'inet', address: '10.1.0.2', port: 80 }, config: destConfig({ weight: 0 }) },
        { kind: 'deleteDestination', service: key, name: 'w', destination: { family: 'inet', address: '10.1.0.1', port: 80 }, reason: 'drained' },
      ],
    );
    expect(after).toEqual([
      { address: '10.1.0.3', port: 80, weight: 5, lastWeight: 5 },
      { address: '10.1.0.2', port: 80, weight: 0, lastWeight: 2 },
    ]);
  });

  it('a drain moves exactly the drained destination flows; the table itself stays put', () => {
    const before = [3, 2, 1].map((i) => ({ address: `10.0.0.${i}`, port: 80, weight: 1, lastWeight: 1 }));
    const after = before.map((d) => (d.address === '10.0.0.2' ? { ...d, weight: 0 } : d));
    const move = defaultFlowMoveEstimator(before, after, 4093);
    // Kernel-checked vector (maglev.md): .2 holds 1364 of 4093 slots.
    expect(move.changedFraction).toBeCloseTo(1364 / 4093, 10);
    expect(move.minimumFraction).toBeCloseTo(1364 / 4093, 10);
  });

  it('adding a 4th destination to 3 moves about a quarter of the flows (close to the minimum)', () => {
    const before = [3, 2, 1].map((i) => ({ address: `10.0.0.${i}`, port: 80, weight: 1, lastWeight: 1 }));
    const after = [{ address: '10.0.0.4', port: 80, weight: 1, lastWeight: 1 }, ...before];
    const move = defaultFlowMoveEstimator(before, after, 4093);
    expect(move.minimumFraction).toBeGreaterThan(0.24);
    expect(move.minimumFraction).toBeLessThan(0.26);
    expect(move.changedFraction).toBeGreaterThanOrEqual(move.minimumFraction);
    expect(move.changedFraction).toBeLessThan(0.35);
    // Cross-check one flow against a direct recomputation.
    const tb = buildKernelTable([...before].reverse(), 4093);
    expect(tb.dests[kernelLookup(tb, '192.168.1.100', 0, { portHash: false, fallback: false })].address).toBe('10.0.0.2');
  });

  it('the plan reports flow moves per mh service changed', () => {
    const p = plan(
      { services: [actualWeb(kd('10.1.0.1'), kd('10.1.0.2', 1, 5))], boundAddresses: undefined },
      state(service('web', '10.0.0.1', 80, [dest('10.1.0.1')])),
      owned,
      none,
      0,
    );
    expect(p.flowMoves).toHaveLength(1);
    expect(p.flowMoves[0].name).toBe('web');
    expect(p.flowMoves[0].changedFraction).toBeGreaterThan(0.3);
    expect(p.flowMoves[0].changedFraction).toBeLessThan(0.7);
  });
});
