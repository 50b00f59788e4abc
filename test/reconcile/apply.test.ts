import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { IpvsError } from '../../src/ipvs/errors.ts';
import type { ServiceKey } from '../../src/ipvs/types.ts';
import { apply, FileStateStore, StateFileError } from '../../src/reconcile/index.ts';
import type { Operation } from '../../src/reconcile/index.ts';
import { MemoryIpvs, MemoryVips } from '../../src/testing/memory-ipvs.ts';
import { destConfig, svcConfig } from './helpers.ts';

const key: ServiceKey = { kind: 'addr', family: 'inet', protocol: 'tcp', address: '10.0.0.1', port: 80 };
const d1 = { family: 'inet' as const, address: '10.1.0.1', port: 80 };

describe('apply', () => {
  it('EEXIST on add becomes an update; ENOENT on update becomes an add', async () => {
    const ipvs = new MemoryIpvs();
    await ipvs.addService(key, svcConfig({ scheduler: 'rr', flags: {} }));
    await ipvs.addDestination(key, d1, destConfig());
    const ops: Operation[] = [
      { kind: 'addService', service: key, name: 'w', config: svcConfig() },
      { kind: 'addDestination', service: key, name: 'w', destination: d1, config: destConfig({ weight: 5 }) },
      { kind: 'updateDestination', service: key, name: 'w', destination: { ...d1, address: '10.1.0.2' }, config: destConfig({ weight: 2 }) },
    ];
    const res = await apply({ operations: ops }, ipvs);
    expect(res.results.map((r) => r.outcome)).toEqual(['converted', 'converted', 'converted']);
    const snap = ipvs.snapshot().get('tcp 10.0.0.1:80');
    expect(snap?.config.scheduler).toBe('mh');
    expect(snap?.destinations.map((d) => [d.key, d.config.weight])).toEqual([
      ['10.1.0.2:80', 2],
      ['10.1.0.1:80', 5],
    ]);
  });

  it('deleting what is already gone is skipped, not failed', async () => {
    const ipvs = new MemoryIpvs();
    await ipvs.addService(key, svcConfig());
    const res = await apply(
      {
        operations: [
          { kind: 'deleteDestination', service: key, name: 'w', destination: d1, reason: 'drained' },
          { kind: 'drainDestination', service: key, name: 'w', destination: d1, config: destConfig({ weight: 0 }) },
          { kind: 'deleteService', service: { ...key, port: 81 }, name: 'x' },
        ],
      },
      ipvs,
    );
    expect(res.results.map((r) => [r.outcome, r.error?.code])).toEqual([
      ['skipped', 'NO_SUCH_DESTINATION'],
      ['skipped', 'NO_SUCH_DESTINATION'],
      ['skipped', 'NO_SUCH_SERVICE'],
    ]);
    expect(res.failed).toBe(0);
  });

  it('other errors fail the operation and the rest of that service, not the other services', async () => {
    const ipvs = new MemoryIpvs();
    const vips = new MemoryVips();
    const other: ServiceKey = { ...key, port: 81 };
    const ops: Operation[] = [
      { kind: 'addService', service: key, name: 'w', config: svcConfig({ scheduler: 'nope' }) },
      { kind: 'addService', service: other, name: 'o', config: svcConfig() },
      { kind: 'addDestination', service: key, name: 'w', destination: d1, config: destConfig() },
      { kind: 'addDestination', service: other, name: 'o', destination: d1, config: destConfig({ lowerThreshold: 5, upperThreshold: 1 }) },
      { kind: 'bindAddress', address: '10.0.0.1' },
    ];
    const res = await apply({ operations: ops }, ipvs, vips);
    expect(res.results.map((r) => [r.outcome, r.error?.code])).toEqual([
      ['failed', 'UNKNOWN_SCHEDULER'],
      ['ok', undefined],
      ['failed', 'SERVICE_FAILED'],
      ['failed', 'OUT_OF_RANGE'],
      ['ok', undefined],
    ]);
    expect([...res.failedServices].sort()).toEqual(['tcp 10.0.0.1:80', 'tcp 10.0.0.1:81']);
    expect(res.counts.addService).toEqual({ ok: 1, converted: 0, skipped: 0, failed: 1 });
    expect(vips.addresses.has('10.0.0.1')).toBe(true);
  });

  it('a VIP error is reported', async () => {
    const vips = new MemoryVips();
    vips.fault = () => new IpvsError('PERMISSION_DENIED', 'EPERM');
    const res = await apply({ operations: [{ kind: 'bindAddress', address: '10.0.0.1' }] }, new MemoryIpvs(), vips);
    expect(res.results[0]).toMatchObject({ outcome: 'failed', error: { code: 'PERMISSION_DENIED' } });
  });
});

describe('FileStateStore', () => {
  it('round-trips, writes atomically (no temp file left), and starts empty', async () => {
    const dir = join(await mkdtemp(join(tmpdir(), 'store-')), 'nested');
    const store = new FileStateStore(dir);
    expect(await store.load()).toEqual({ services: [], addresses: [], drains: [] });
    const state = { services: ['tcp 10.0.0.1:80'], addresses: ['10.0.0.1'], drains: [{ service: 'tcp 10.0.0.1:80', destination: '10.1.0.1:80', since: 5, lastWeight: 2 }] };
    await store.save(state);
    expect(await new FileStateStore(dir).load()).toEqual(state);
    expect(await readdir(dir)).toEqual(['state.json']);
    expect(JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')).version).toBe(1);
  });

  it('refuses corrupt or foreign files with a clear error', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'store-'));
    for (const [text, msg] of [
      ['nope', 'not valid JSON'],
      ['{"version":2,"services":[],"addresses":[],"drains":[]}', 'unsupported version'],
      ['{"version":1,"services":[1],"addresses":[],"drains":[]}', 'services must be a list of strings'],
      ['{"version":1,"services":[],"addresses":[],"drains":[{"service":"x"}]}', 'malformed drain record'],
    ]) {
      await writeFile(join(dir, 'state.json'), text);
      const err = await new FileStateStore(dir).load().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StateFileError);
      expect((err as Error).message).toContain(msg);
    }
  });
});

describe('apply with a batching client', () => {
  it('pipelines writes and still handles each error on its own', async () => {
    const { BatchingMemoryIpvs } = await import('../../src/testing/memory-ipvs.ts');
    const ipvs = new BatchingMemoryIpvs();
    await ipvs.addService(key, svcConfig());
    await ipvs.addDestination(key, d1, destConfig());
    const other: ServiceKey = { ...key, port: 81 };
    const bad: ServiceKey = { ...key, port: 82 };
    const ops: Operation[] = [
      { kind: 'addService', service: key, name: 'w', config: svcConfig() }, // EEXIST -> update
      { kind: 'addService', service: bad, name: 'b', config: svcConfig({ scheduler: 'nope' }) }, // fails
      { kind: 'addService', service: other, name: 'o', config: svcConfig() },
      { kind: 'addDestination', service: key, name: 'w', destination: d1, config: destConfig({ weight: 3 }) }, // EEXIST -> update
      { kind: 'addDestination', service: bad, name: 'b', destination: d1, config: destConfig() }, // blocked by its service
      { kind: 'addDestination', service: other, name: 'o', destination: d1, config: destConfig() },
      { kind: 'bindAddress', address: '10.0.0.1' },
    ];
    const res = await apply({ operations: ops }, ipvs, new MemoryVips(), { batchSize: 4 });
    expect(res.results.map((r) => [r.outcome, r.error?.code])).toEqual([
      ['converted', undefined],
      ['failed', 'UNKNOWN_SCHEDULER'],
      ['ok', undefined],
      ['converted', undefined],
      ['failed', 'SERVICE_FAILED'],
      ['ok', undefined],
      ['ok', undefined],
    ]);
    expect(ipvs.batches).toBe(2);
    expect(ipvs.snapshot().get('tcp 10.0.0.1:80')?.destinations[0].config.weight).toBe(3);
  });
});
