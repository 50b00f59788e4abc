// Scale-out behind BGP ECMP, on the real kernel with real BIRD and real traffic (issue 12, tests 4a-d, f).
// One topology (bench/failover/cluster.ts): a client, a router running BIRD with ECMP over up to four
// load-balancer nodes (each its own namespace, IPVS, BIRD and `ipvs-maglev run`), four backends reached
// over IPIP that reply straight to the router. BGP hold time 3 s, keepalive 1 s.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, DR_VIP, GUE_VIP, VIP } from '../../bench/failover/cluster.ts';
import type { SyncDaemons } from '../../src/ipvs/daemon.ts';
import { openSyncDaemons } from '../../src/ipvs/index.ts';
import { buildKernelTable, kernelLookup } from '../../src/maglev/index.ts';
import { assertIpvsKernel, run } from './lib/index.ts';

const FLOWS = 240;
// Client source ports, one range per test: a SYN from a port whose earlier connection still has an IPVS
// entry (TIME_WAIT lasts 2 min) can reuse that entry and its old backend instead of being scheduled, so
// a test that predicts the scheduler's choice must not share ports with an earlier one. Test c streams
// ~2500-3000 connections under emulation; its range leaves room for six times that. Test d's range is
// above the ephemeral range (32768-60999), so no connect() elsewhere takes one of them either.
const STREAM_PORTS = { first: 42000, last: 60999 };
const PREDICTED_PORTS = 61000;
const tally = (xs: readonly { ok: boolean }[]) => ({ ok: xs.filter((x) => x.ok).length, total: xs.length });

describe('scale-out: mh + sloppy_tcp + IPIP direct return, three nodes behind ECMP', () => {
  let c: Cluster;
  beforeAll(async () => {
    assertIpvsKernel();
    c = await Cluster.create({ prefix: 'so', extraModes: true });
    await Promise.all([1, 2, 3].map((i) => c.startNode(i)));
    await c.waitNexthops(3, 180_000);
  }, 400_000);
  afterAll(async () => {
    await c?.cleanup();
  });

  it('every node announces the VIP once it serves it; tunnel (ipip, gue) and droute all forward', async () => {
    expect(await c.nexthops()).toEqual(['10.31.0.11', '10.31.0.12', '10.31.0.13']);
    for (const vip of [GUE_VIP, DR_VIP]) expect(await c.nexthops(vip)).toHaveLength(3);
    for (const [vip, port] of [[VIP, 31000], [GUE_VIP, 31100], [DR_VIP, 31200]] as const) {
      const r = await c.fresh(24, port, vip);
      expect(tally(r), `fresh connections to ${vip}: ${JSON.stringify(r.filter((x) => !x.ok).slice(0, 3))}`).toEqual({ ok: 24, total: 24 });
    }
    for (const i of [1, 2, 3]) expect(c.lbLog(i)).toMatch(/sysctl net\.ipv4\.vs\.sloppy_tcp=1/);
  }, 120_000);

  it('a restart of ipvs-maglev (SIGUSR2, and SIGKILL) does not flap the still-valid route', async () => {
    const samples: number[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        samples.push((await c.nexthops()).length);
        await new Promise((r) => setTimeout(r, 150));
      }
    })();
    expect(await c.signalLb(1, 'SIGUSR2')).toBe(0);
    await c.startLb(c.node(1));
    await c.waitLogCount(1, /announcing 10\.100\.0\.1:/, 2, 120_000);
    c.node(1).lb?.kill('SIGKILL');
    await c.node(1).lbExit;
    await c.startLb(c.node(1));
    await c.waitLogCount(1, /announcing 10\.100\.0\.1:/, 3, 120_000);
    sampling = false;
    await sampler;
    expect(samples.length).toBeGreaterThan(5);
    expect(new Set(samples)).toEqual(new Set([3]));
  }, 300_000);

  it('a: one of three nodes dies (link cut, ipvs-maglev and BIRD SIGKILLed): >= 99% of established connections answer', async () => {
    const { opened, failed } = await c.open(FLOWS, 20000);
    expect(failed).toEqual([]);
    const onDead = await c.establishedOn(3);
    expect(onDead).toBeGreaterThan(FLOWS / 10); // ECMP spread the flows: some were on the node that dies
    const t0 = Date.now();
    await c.killNode(3);
    await c.waitNexthops(2, 60_000);
    const reconvergeMs = Date.now() - t0;
    const after = await c.probe();
    const { ok } = tally(after);
    console.log(`4a: ${opened.length} flows, ${onDead} on the killed node; reconverged in ${reconvergeMs} ms; ${ok}/${after.length} answered`);
    expect(ok / after.length).toBeGreaterThanOrEqual(0.99);
    expect(after.filter((r) => r.moved)).toEqual([]);
  }, 180_000);

  it('b: nodes join (the dead one comes back, then a 4th): no established connection breaks', async () => {
    await c.reconnectNode(3);
    await c.startNode(3);
    await c.waitNexthops(3, 120_000);
    const afterRejoin = tally(await c.probe());
    await c.startNode(4);
    await c.waitNexthops(4, 120_000);
    const afterJoin = await c.probe();
    console.log(`4b: after node 3 rejoined ${afterRejoin.ok}/${afterRejoin.total}; after node 4 joined ${tally(afterJoin).ok}/${afterJoin.length}`);
    expect(afterRejoin.ok).toBe(afterRejoin.total);
    expect(tally(afterJoin).ok).toBe(afterJoin.length);
    expect(await c.establishedOn(4)).toBeGreaterThan(0); // the router did move flows onto the new node
  }, 300_000);

  it('c: SIGTERM withdraws first, then serves the grace period: no connection breaks, no new connection fails', async () => {
    const fresh: { ok: boolean; error?: string }[] = [];
    let port = STREAM_PORTS.first;
    let streaming = true;
    const stream = (async () => {
      while (streaming && port + 8 <= STREAM_PORTS.last + 1) {
        fresh.push(...(await c.fresh(8, port)));
        port += 8;
      }
    })();
    await new Promise((r) => setTimeout(r, 1500));
    const exit = c.signalLb(2, 'SIGTERM');
    await c.waitNexthops(3, 30_000); // withdrawn while the process still serves its grace period
    const exitedBeforeWithdrawal = c.node(2).lb?.exitCode !== null;
    expect(await exit).toBe(0);
    await new Promise((r) => setTimeout(r, 1500));
    streaming = false;
    await stream;
    expect(port + 8, 'test c\'s stream ran out of source ports before the stop was over').toBeLessThanOrEqual(STREAM_PORTS.last + 1);
    const established = await c.probe();
    const log = c.lbLog(2);
    console.log(`4c: ${tally(fresh).ok}/${fresh.length} new connections during the stop; ${tally(established).ok}/${established.length} established answered`);
    expect(exitedBeforeWithdrawal).toBe(false);
    expect(log.indexOf('VIPs withdrawn')).toBeGreaterThan(0);
    expect(log.indexOf('VIPs withdrawn')).toBeLessThan(log.lastIndexOf('stopping; IPVS is left'));
    expect(fresh.filter((f) => !f.ok)).toEqual([]);
    expect(tally(established).ok).toBe(established.length);
  }, 180_000);

  it('d: a backend removed from every node: only its flows move, and all nodes agree', async () => {
    await c.startLb(c.node(2)); // back to four nodes serving
    await c.waitLogCount(2, /announcing 10\.100\.0\.1:/, 2, 120_000);
    const before = await c.probe();
    const live = [1, 2, 3, 4];
    c.removeBackend('10.31.0.104');
    for (const i of live) await c.waitLog(i, /configuration reloaded: 3 services, 9 destinations/, 60_000);
    // Drained everywhere: weight 0, still in the list (the kernel's last-weight rule keeps its slots).
    const orders: string[][] = [];
    for (const i of live) {
      for (let t = 0; ; t++) {
        const o = await c.destinationOrder(i);
        if (o.some((l) => l.startsWith('10.31.0.104:80') && / 0$/.test(l))) {
          orders.push(o);
          break;
        }
        if (t > 100) throw new Error(`node ${i}: 10.31.0.104 not drained: ${o.join(' | ')}`);
        await new Promise((r) => setTimeout(r, 300));
      }
    }
    for (const o of orders) expect(o).toEqual(orders[0]);
    // The kernel-exact replica of that shared table: which backend each new flow must get.
    const additionOrder = [...orders[0]].reverse().map((l) => {
      const [ep, , weight] = l.split(' ');
      const [address, port] = ep.split(':');
      return { address, port: Number(port), weight: Number(weight), lastWeight: 1 };
    });
    const table = buildKernelTable(additionOrder);
    const full = buildKernelTable(additionOrder.map((d) => ({ ...d, weight: 1 })));
    const name = (a: string) => `b${Number(a.split('.')[3]) - 100}`;
    const fresh = await c.fresh(64, PREDICTED_PORTS);
    let moved = 0;
    for (const f of fresh) {
      expect(f.ok).toBe(true);
      const expected = additionOrder[kernelLookup(table, '10.30.0.2', f.sport, { portHash: true, fallback: true })].address;
      const was = additionOrder[kernelLookup(full, '10.30.0.2', f.sport, { portHash: true, fallback: true })].address;
      expect(f.backend).toBe(name(expected));
      if (expected !== was) {
        moved++;
        expect(was).toBe('10.31.0.104'); // only the removed backend's flows move
      }
    }
    const after = await c.probe();
    const keep = before.filter((b) => b.ok && b.backend !== 'b4').map((b) => b.id);
    const keptOk = after.filter((a) => keep.includes(a.id) && a.ok && !a.moved).length;
    console.log(`4d: ${moved}/${fresh.length} new flows moved (all from b4); ${keptOk}/${keep.length} established flows of other backends answered`);
    expect(keptOk).toBe(keep.length);
  }, 300_000);

  it('f: BIRD down: the router withdraws the node, ipvs-maglev says so and keeps load-balancing; BIRD back: announced again', async () => {
    const hops = (await c.nexthops()).length;
    c.killBird(1);
    await c.waitNexthops(hops - 1, 30_000);
    await c.waitLog(1, /bird does not answer|BIRD is not running/, 60_000);
    await c.startBird(c.node(1));
    await c.waitNexthops(hops, 60_000);
    expect(tally(await c.probe()).ok).toBeGreaterThan(0);
  }, 180_000);

  it('the connection sync daemon: ours and ipvsadm --start-daemon read each other, and a backup learns the master\'s connections', async () => {
    const lb1 = c.node(1).netns;
    const lb2 = c.node(2).netns;
    const master = await openSyncDaemons({ netns: lb1 });
    try {
      await master.ensure({ role: 'master', interface: 'eth0', syncId: 7, port: 8849 });
      expect(await master.ensure({ role: 'master', interface: 'eth0', syncId: 7, port: 8849 })).toBe('unchanged');
      expect(await run(['ipvsadm', '-L', '--daemon'], { netns: lb1 })).toMatch(/master sync daemon \(mcast=eth0, syncid=7/);
    } finally {
      master.close();
    }
    await run(['ipvsadm', '--start-daemon', 'backup', '--mcast-interface', 'eth0', '--syncid', '7', '--mcast-port', '8849'], { netns: lb2 });
    const backup: SyncDaemons = await openSyncDaemons({ netns: lb2 });
    try {
      const listed = await backup.list();
      expect(listed).toEqual([expect.objectContaining({ role: 'backup', interface: 'eth0', syncId: 7, port: 8849 })]);
    } finally {
      backup.close();
    }
    // Entries of a node's connection table; `fresh` keeps only those a packet refreshed in the last minute.
    const conns = async (ns: string, fresh = false) =>
      new Set(
        (await run(['ipvsadm', '-Lnc'], { netns: ns }))
          .split('\n')
          .filter((l) => /ESTABLISHED/.test(l) && (!fresh || /\s1[45]:\d\d\s/.test(l)))
          .map((l) => l.trim().split(/\s+/)[3]),
      );
    const backupBefore = await conns(lb2);
    // Sync every other packet (default "3 50": after 3 packets, then every 50th) so a few probes suffice.
    await run(['sysctl', '-qw', 'net.ipv4.vs.sync_threshold=1 2'], { netns: lb1 });
    for (let i = 0; i < 3; i++) await c.probe();
    const active = [...(await conns(lb1, true))].filter((k) => !backupBefore.has(k));
    // The master sends its sync messages in batches (a buffer flushed about once a second, later under
    // emulation and load): 67 of 81 had arrived when read at once in one CI run. Poll, bounded.
    // Measured on 2026-12-03 under emulation and load: 67/81 and 61/79 (77-83%) after polling; a connection is
    // synced only when its packets cross sync_threshold, and some saw too few after the change. The check is
    // that the backup learns most of them, not all.
    const wanted = Math.floor(active.length * 0.6);
    let learned = 0;
    for (const deadline = Date.now() + 30_000; ; ) {
      const backupAfter = await conns(lb2);
      learned = active.filter((k) => backupAfter.has(k)).length;
      if (learned >= wanted || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
    console.log(`sync: ${active.length} connections carried by the master (and unknown to the backup before), ${learned} of them learned by the backup`);
    expect(active.length).toBeGreaterThan(0);
    expect(learned).toBeGreaterThanOrEqual(wanted);
  }, 180_000);
});

describe('scale-out control: rr instead of mh, same topology', () => {
  let c: Cluster;
  beforeAll(async () => {
    assertIpvsKernel();
    c = await Cluster.create({ prefix: 'sr', scheduler: 'rr' });
    await Promise.all([1, 2, 3].map((i) => c.startNode(i)));
    await c.waitNexthops(3, 180_000);
  }, 400_000);
  afterAll(async () => {
    await c?.cleanup();
  });

  it('losing one of three nodes breaks the flows the router moves to a node that picks another backend', async () => {
    const { failed } = await c.open(FLOWS, 20000);
    expect(failed).toEqual([]);
    const onDead = await c.establishedOn(3);
    await c.killNode(3);
    await c.waitNexthops(2, 60_000);
    const after = await c.probe();
    const { ok } = tally(after);
    console.log(`control rr: ${ok}/${after.length} answered after losing one node (${onDead} were on it)`);
    expect(after.length - ok).toBeGreaterThan(FLOWS * 0.1);
  }, 180_000);
});
