// The kernel is the judge of src/maglev's `kernel` flavour: real `mh` services configured with the
// real ipvsadm, real TCP connections from chosen source addresses and ports, and for EVERY
// connection the backend that answered must be the one kernelLookup predicts (or, where it
// predicts "none", the connection must fail). Each scenario makes >= 200 connections.
//
// IPVS remembers connections by (src, sport, dst, dport) for a while and sends a reused tuple to
// its old destination whatever the scheduler would say now, so every connection in this file uses
// a source address/port pair no other connection uses.
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildKernelTable, type KernelDest, kernelLookup } from '../../src/maglev/index.ts';
import { assertIpvsKernel, type ConnectResult, clearIpvs, createTopology, ipvsadm, type Topology } from './lib/index.ts';

// Debian's kernels are built with CONFIG_IP_VS_MH_TAB_INDEX=12.
const TABLE_SIZE = 4093;
const CONNECTIONS = 240;
const VIP = '10.100.0.1';
const VIP6 = 'fd00:100::1';
// Hundreds of connections through an emulated (TCG) VM on 2 shared cores.
const SCENARIO_TIMEOUT = 900_000;

interface Client {
  src: string;
  sport: number;
}

describe('kernel flavour predicts the real ip_vs_mh scheduler', () => {
  let topo: Topology;
  // Each scenario draws fresh source addresses: see the note above on connection reuse.
  let nextSource = 0;
  const takeSources = (n: number): number[] => Array.from({ length: n }, () => nextSource++);

  beforeAll(async () => {
    assertIpvsKernel();
    await clearIpvs();
    topo = await createTopology({ prefix: 'mhp', backends: 6, ports: [80] });
  }, 180_000);

  afterAll(async () => {
    await clearIpvs().catch(() => {});
    await topo?.cleanup();
  });

  /** Creates the service, adds destinations in this order (name, weight), optionally edits weights after. */
  async function service(opts: { v6?: boolean; flags: string[]; dests: [string, number][]; edits?: [string, number][] }): Promise<KernelDest[]> {
    const vip = opts.v6 ? `[${VIP6}]:80` : `${VIP}:80`;
    const addr = (name: string): string => (opts.v6 ? topo.backend(name).ip6 : topo.backend(name).ip);
    const target = (name: string): string => (opts.v6 ? `[${addr(name)}]:80` : `${addr(name)}:80`);
    await clearIpvs();
    await ipvsadm(['-A', '-t', vip, '-s', 'mh', ...(opts.flags.length > 0 ? ['-b', opts.flags.join(',')] : [])]);
    for (const [name, w] of opts.dests) await ipvsadm(['-a', '-t', vip, '-r', target(name), '-m', '-w', String(w)]);
    const model: KernelDest[] = opts.dests.map(([name, w]) => ({ address: addr(name), port: 80, weight: w }));
    for (const [name, w] of opts.edits ?? []) {
      await ipvsadm(['-e', '-t', vip, '-r', target(name), '-m', '-w', String(w)]);
      const i = opts.dests.findIndex(([n]) => n === name);
      const before = model[i];
      // The kernel keeps the last non-zero weight for the table: a drain keeps its slots.
      model[i] = w === 0 ? { ...before, weight: 0, lastWeight: before.lastWeight ?? before.weight } : { ...before, weight: w, lastWeight: undefined };
    }
    return model;
  }

  /**
   * Connects every client. The emulated VM on shared cores is slow enough that a SYN can time out;
   * a connection predicted to reach a backend that timed out is retried with the same tuple (IPVS
   * keeps the destination it chose for that tuple, so a retry cannot hide a wrong choice: it would
   * reach the same wrong backend again).
   */
  async function connectAll(clients: Client[], dst: string, expectNone: boolean[]): Promise<ConnectResult[]> {
    const items = clients.map((c, i) => ({ src: c.src, sport: c.sport, dst, dport: 80, timeoutMs: expectNone[i] ? 3000 : 10_000 }));
    const results = await topo.connect(items, { concurrency: 8 });
    for (let attempt = 0; attempt < 3; attempt++) {
      const retry = results.flatMap((r, i) => (!r.ok && !expectNone[i] && r.error === 'ETIMEDOUT' ? [i] : []));
      if (retry.length === 0) break;
      const again = await topo.connect(
        retry.map((i) => ({ ...items[i], timeoutMs: 20_000 })),
        { concurrency: 4 },
      );
      retry.forEach((i, k) => {
        results[i] = again[k];
      });
    }
    return results;
  }

  /** Connects every client and checks the answering backend against the prediction, one by one. */
  async function checkAll(model: KernelDest[], clients: Client[], opts: { portHash: boolean; fallback: boolean; v6?: boolean }): Promise<{ none: number; perBackend: Map<string, number> }> {
    const table = buildKernelTable(model, TABLE_SIZE);
    const nameOf = new Map(topo.backends.map((b) => [opts.v6 ? b.ip6 : b.ip, b.name]));
    const expected = clients.map((c) => {
      const i = kernelLookup(table, c.src, c.sport, opts);
      return i < 0 ? null : (nameOf.get(model[i].address) ?? '?');
    });
    const results = await connectAll(
      clients,
      opts.v6 ? VIP6 : VIP,
      expected.map((e) => e === null),
    );
    const mismatches: string[] = [];
    const perBackend = new Map<string, number>();
    results.forEach((r, i) => {
      const got = r.ok ? (r.backend ?? '?') : null;
      if (got !== expected[i]) mismatches.push(`${clients[i].src}:${clients[i].sport} predicted ${expected[i] ?? 'none'} got ${got ?? `none (${r.error})`}`);
      if (got) perBackend.set(got, (perBackend.get(got) ?? 0) + 1);
    });
    expect(mismatches, mismatches.slice(0, 10).join('\n')).toEqual([]);
    return { none: expected.filter((e) => e === null).length, perBackend };
  }

  const distinctSources = (n: number, v6 = false): Client[] => takeSources(n).map((i) => ({ src: v6 ? topo.client.src6(i) : topo.client.src(i), sport: 30_000 + (i % 20_000) }));
  const sourcesTimesPorts = (addresses: number, ports: number): Client[] =>
    takeSources(addresses).flatMap((i) => Array.from({ length: ports }, (_, p) => ({ src: topo.client.src(i), sport: 20_000 + p * 97 + (i % 50) })));

  it('without mh-port: equal weights, 5 destinations, clients by source address', async () => {
    const model = await service({ flags: [], dests: [['b1', 1], ['b2', 1], ['b3', 1], ['b4', 1], ['b5', 1]] });
    const { perBackend } = await checkAll(model, distinctSources(CONNECTIONS), { portHash: false, fallback: false });
    expect(perBackend.size).toBe(5);
  }, SCENARIO_TIMEOUT);

  it('without mh-port: the port is ignored (same address, many ports, one backend each)', async () => {
    const model = await service({ flags: [], dests: [['b3', 1], ['b1', 1], ['b2', 1]] });
    const clients = sourcesTimesPorts(30, 8);
    await checkAll(model, clients, { portHash: false, fallback: false });
  }, SCENARIO_TIMEOUT);

  it('with mh-port and weights 1:2:3:1:5 (added out of name order)', async () => {
    const model = await service({ flags: ['mh-port'], dests: [['b4', 1], ['b2', 2], ['b6', 3], ['b1', 1], ['b5', 5]] });
    const { perBackend } = await checkAll(model, sourcesTimesPorts(40, 6), { portHash: true, fallback: false });
    expect(perBackend.size).toBe(5);
  }, SCENARIO_TIMEOUT);

  it('with weights that need gcd and rshift (100, 300, 2000, 7) and a destination added with weight 0', async () => {
    const model = await service({ flags: ['mh-port'], dests: [['b1', 100], ['b2', 300], ['b3', 2000], ['b4', 7], ['b5', 0]] });
    expect(buildKernelTable(model, TABLE_SIZE).rshift).toBe(5);
    const { perBackend } = await checkAll(model, sourcesTimesPorts(40, 6), { portHash: true, fallback: false });
    expect(perBackend.has('b5')).toBe(false);
  }, SCENARIO_TIMEOUT);

  it('a destination drained to weight 0 with mh-fallback: its clients move, nobody else does', async () => {
    const model = await service({
      flags: ['mh-port', 'mh-fallback'],
      dests: [['b1', 1], ['b2', 1], ['b3', 2], ['b4', 1]],
      edits: [['b3', 0]],
    });
    expect(model[2]).toMatchObject({ weight: 0, lastWeight: 2 });
    const { none, perBackend } = await checkAll(model, sourcesTimesPorts(40, 6), { portHash: true, fallback: true });
    expect(none).toBe(0);
    expect(perBackend.has('b3')).toBe(false);
  }, SCENARIO_TIMEOUT);

  it('a destination drained to weight 0 without mh-fallback: exactly its clients get no destination', async () => {
    const model = await service({ flags: ['mh-port'], dests: [['b1', 1], ['b2', 1], ['b3', 1], ['b4', 1]], edits: [['b2', 0]] });
    const { none } = await checkAll(model, sourcesTimesPorts(40, 6), { portHash: true, fallback: false });
    expect(none).toBeGreaterThan(20);
  }, SCENARIO_TIMEOUT);

  it('IPv6: the address folds to the XOR of its words', async () => {
    const model = await service({ v6: true, flags: [], dests: [['b1', 1], ['b2', 1], ['b3', 1], ['b4', 1]] });
    const { perBackend } = await checkAll(model, distinctSources(CONNECTIONS, true), { portHash: false, fallback: false, v6: true });
    expect(perBackend.size).toBe(4);
  }, SCENARIO_TIMEOUT);

  it('the `predict` command agrees with the kernel too', async () => {
    await service({ flags: ['mh-port', 'mh-fallback'], dests: [['b2', 1], ['b5', 3], ['b1', 1]], edits: [['b5', 0]] });
    const clients = sourcesTimesPorts(40, 6);
    const dir = mkdtempSync(join(tmpdir(), 'mhp-'));
    const file = join(dir, 'clients.txt');
    writeFileSync(file, clients.map((c) => `${c.src}:${c.sport}\n`).join(''));
    const ip = (n: string): string => topo.backend(n).ip;
    const { stdout } = await promisify(execFile)(process.execPath, [
      'bin/ipvs-maglev.mjs', 'predict', '--flavor', 'kernel', '--port-hash', '--fallback',
      '--dest', `${ip('b2')}:80:1,${ip('b5')}:80:0:3,${ip('b1')}:80:1`, '--clients-file', file, '--json',
    ]);
    const predicted = JSON.parse(stdout) as { client: string; dest: string | null }[];
    expect(predicted).toHaveLength(clients.length);
    const results = await connectAll(
      clients,
      VIP,
      predicted.map((p) => p.dest === null),
    );
    const byAddress = new Map(topo.backends.map((b) => [`${b.ip}:80`, b.name]));
    const mismatches = results.flatMap((r, i) => {
      const want = predicted[i].dest === null ? null : byAddress.get(predicted[i].dest as string);
      const got = r.ok ? r.backend : null;
      return want === got ? [] : [`${predicted[i].client}: predicted ${want} got ${got ?? r.error}`];
    });
    expect(mismatches, mismatches.slice(0, 10).join('\n')).toEqual([]);
  }, SCENARIO_TIMEOUT);
});
