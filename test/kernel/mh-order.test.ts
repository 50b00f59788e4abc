// Test 4e of issue 12, and what re-establishing the canonical mh order costs (issue 12 item 2), on the real kernel.
// Three load-balancer nodes, each a network namespace with its own IPVS and its own `ipvs-maglev run`, reach the
// same final backends through different histories (one from the start, one got a backend late, one lost one and
// got it back). Without canonical order (the hidden --no-canonical-mh-order: how nodes behaved before) their
// kernel lists differ, `audit` says so and real clients get different backends from different nodes; restarted
// with canonical order, the reconcilers reorder their lists, `audit --netns` says 0% and every client gets the
// same backend from every node. Connections held open across the reorder batch show what it does to them.
//
//   client ns mo-c (AnyIP 10.200.0.0/16) -- root ns (router: per-source-port policy routes pick the node)
//     -- bridge mo-lan 10.41.0.1/24 -- nodes mo-n1..3 (10.41.0.11-13; VIP on their dummy, IPVS mh, IPIP out)
//                                   -- backends mo-b1..4 (10.41.0.101-104; tunl0, VIP on lo, reply direct)
//
// The service hashes the client address only (no mh-port), so one client (one source address) can be sent
// through each node (by source port range) and must land on the same backend.
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowClient } from '../../bench/failover/cluster.ts';
import { openIpvs } from '../../src/ipvs/index.ts';
import type { ServiceKey } from '../../src/ipvs/types.ts';
import { buildKernelTable, kernelLookup, type KernelTable } from '../../src/maglev/index.ts';
import { planMhReorder } from '../../src/reconcile/index.ts';
import { assertIpvsKernel, connectBatch, closeConnectClients, ipBatch, run, runResult } from './lib/index.ts';
import { type BackendServer, startBackendServer } from './lib/backend-process.ts';

const P = 'mo';
const VIP = '10.100.0.1';
const FLOW_PORT = 8081;
const NODES = [1, 2, 3];
const BACKENDS = [1, 2, 3, 4].map((j) => ({ name: `b${j}`, netns: `${P}-b${j}`, address: `10.41.0.${100 + j}` }));
const nodeNs = (i: number) => `${P}-n${i}`;
const nodeAddr = (i: number) => `10.41.0.${10 + i}`;
/** Source ports routed through node i (policy rules in the root namespace). */
const portBase = (i: number) => 30000 + 1000 * i;
const BIN = join(process.cwd(), 'bin/ipvs-maglev.mjs');
const NODE_FLAGS = ['--no-wasm-tier-up', '--no-wasm-dynamic-tiering'];
const work = mkdtempSync(join(tmpdir(), 'mh-order-'));
const WEB: ServiceKey = { kind: 'addr', family: 'inet', protocol: 'tcp', address: VIP, port: 80 };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const lbs = new Map<number, { child: ChildProcess; exit: Promise<number | null> }>();
let backends: BackendServer | undefined;
let flowServer: ChildProcess | undefined;
let flows: FlowClient | undefined;

function config(backendIds: readonly number[]): string {
  const dests = backendIds.map((j) => `      - { address: ${BACKENDS[j - 1].address}, forwarding: tunnel }`);
  const svc = (name: string, port: number, flags: string) => [`  - name: ${name}`, `    address: ${VIP}`, `    port: ${port}`, '    scheduler: mh', `    flags: [${flags}]`, '    destinations:', ...dests];
  return ['settings: { minSyncInterval: 100ms, resyncInterval: 600s, drainTimeout: 60s }', 'services:', ...svc('web', 80, 'mh-fallback'), ...svc('flows', FLOW_PORT, 'mh-port, mh-fallback'), ''].join('\n');
}

const logOf = (i: number) => readFileSync(join(work, `n${i}`, 'lb.log'), 'utf8');

async function waitLog(i: number, re: RegExp, count: number, timeoutMs = 120_000): Promise<void> {
  const g = new RegExp(re.source, 'g');
  for (const end = Date.now() + timeoutMs; (logOf(i).match(g)?.length ?? 0) < count; ) {
    if (Date.now() > end) throw new Error(`node ${i}: fewer than ${count} lines matching ${re}; log tail:\n${logOf(i).slice(-3000)}`);
    await sleep(200);
  }
}

function startLb(i: number, canonical: boolean): void {
  const dir = join(work, `n${i}`);
  const args = [...NODE_FLAGS, BIN, 'run', '-c', join(dir, 'lb.yaml'), '--netns', nodeNs(i), '--state-dir', join(dir, 'state'), '--interface', 'mo0', '--metrics-address', `127.0.0.1:${19_580 + i}`, '--no-watch', '--log-level', 'debug'];
  if (!canonical) args.push('--no-canonical-mh-order');
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  const log = createWriteStream(join(dir, 'lb.log'), { flags: 'a' });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  lbs.set(i, { child, exit: new Promise((resolve) => child.once('exit', (code) => resolve(code))) });
}

/** Rewrites node i's configuration, reloads it (SIGHUP) and waits for the sync that follows. */
async function reconfigure(i: number, backendIds: readonly number[]): Promise<void> {
  const before = (logOf(i).match(/configuration reloaded/g) ?? []).length;
  writeFileSync(join(work, `n${i}`, 'lb.yaml'), config(backendIds));
  lbs.get(i)?.child.kill('SIGHUP');
  await waitLog(i, /configuration reloaded/, before + 1);
  await waitForOrder(i, backendIds.length);
}

/** The kernel's list of the web service on node i (head first), once it has `count` destinations. */
async function waitForOrder(i: number, count: number, timeoutMs = 120_000): Promise<string[]> {
  for (const end = Date.now() + timeoutMs; ; ) {
    const order = await kernelOrder(i).catch(() => [] as string[]);
    if (order.length === count) return order;
    if (Date.now() > end) throw new Error(`node ${i}: ${order.length} destinations, waited for ${count}; log tail:\n${logOf(i).slice(-3000)}`);
    await sleep(300);
  }
}

async function kernelOrder(i: number, key: ServiceKey = WEB): Promise<string[]> {
  const ipvs = await openIpvs({ netns: nodeNs(i) });
  try {
    return (await ipvs.listDestinations(key)).map((d) => d.key.address);
  } finally {
    ipvs.close();
  }
}

/** The kernel replica's table for node i's list (addition order = the list reversed); all weights 1. */
const tableOf = (order: readonly string[]): KernelTable => buildKernelTable([...order].reverse().map((address) => ({ address, port: 80, weight: 1 })));
const backendName = (address: string) => BACKENDS.find((b) => b.address === address)?.name;
/** The backend address the kernel replica picks for a new connection from `src` (slots index the addition order). */
const pick = (table: KernelTable, src: string): string => table.keys[kernelLookup(table, src, 0, { portHash: false, fallback: true })].split(':')[0];

async function audit(): Promise<{ code: number | null; report: { services: { service: string; status: string; agreement?: { differentFraction: number; slotsDiffer: number } }[] } }> {
  // Generous: under emulation, with three `run` processes starting beside it, Node alone can take a minute to start.
  const r = await runResult([process.execPath, ...NODE_FLAGS, BIN, 'audit', '--json', ...NODES.flatMap((i) => ['--netns', nodeNs(i)])], { timeoutMs: 240_000 });
  if (r.exitCode === 2 || r.stdout === '') throw new Error(`audit failed (exit ${r.exitCode}${r.timedOut ? ', timed out' : ''}): ${r.stderr}`);
  return { code: r.exitCode, report: JSON.parse(r.stdout) };
}

/** Each client address through each node (its own source port range): which backend answered. */
async function traffic(clients: readonly string[], round: number): Promise<Map<string, (string | undefined)[]>> {
  const out = new Map<string, (string | undefined)[]>();
  for (const i of NODES) {
    const results = await connectBatch(
      `${P}-c`,
      clients.map((src, k) => ({ src, sport: portBase(i) + round * 100 + k, dst: VIP, dport: 80, timeoutMs: 15_000 })),
      { concurrency: 8 },
    );
    results.forEach((r, k) => {
      const row = out.get(clients[k]) ?? [];
      row[i - 1] = r.ok ? r.backend : `failed: ${r.error}`;
      out.set(clients[k], row);
    });
  }
  return out;
}

// No retries: the tests are steps of one history (a retry would restart nodes again and reuse held ports).
describe('4e: nodes with different histories end with identical mh tables', { retry: 0 }, () => {
  beforeAll(async () => {
    assertIpvsKernel();
    await runResult(['modprobe', 'ipip']); // before the namespaces: each then gets a tunl0
    const stale = (await runResult(['ip', 'netns', 'list'])).stdout.split('\n').map((l) => l.split(' ')[0]).filter((n) => n.startsWith(`${P}-`));
    await ipBatch([...stale.map((n) => `netns del ${n}`), `link del ${P}-lan`, `link del ${P}-c0`], { force: true });
    const all = [`${P}-c`, ...NODES.map(nodeNs), ...BACKENDS.map((b) => b.netns)];
    await ipBatch([
      ...all.map((n) => `netns add ${n}`),
      `link add ${P}-lan type bridge`,
      `addr add 10.41.0.1/24 dev ${P}-lan`,
      `link set ${P}-lan up`,
      `link add ${P}-c0 type veth peer name eth0 netns ${P}-c`,
      `addr add 10.40.0.1/30 dev ${P}-c0`,
      `link set ${P}-c0 up`,
      'route add 10.200.0.0/16 via 10.40.0.2',
      ...[...NODES.map((i) => `n${i}`), ...BACKENDS.map((b) => b.name)].flatMap((n) => [`link add ${P}-${n} type veth peer name eth0 netns ${P}-${n}`, `link set ${P}-${n} master ${P}-lan`, `link set ${P}-${n} up`]),
      // The router: a client's source port range picks the node; other ports (the long-lived flows) go to node 2.
      ...NODES.flatMap((i) => [`route add ${VIP}/32 via ${nodeAddr(i)} table ${100 + i}`, `rule add ipproto tcp sport ${portBase(i)}-${portBase(i) + 999} lookup ${100 + i}`]),
      `route add ${VIP}/32 via ${nodeAddr(2)}`,
    ]);
    await run(['sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0']);
    await ipBatch(['link set lo up', 'addr add 10.40.0.2/30 dev eth0', 'link set eth0 up', 'route add default via 10.40.0.1', 'route add local 10.200.0.0/16 dev lo'], { netns: `${P}-c` });
    for (const i of NODES) {
      await ipBatch(['link set lo up', `addr add ${nodeAddr(i)}/24 dev eth0`, 'link set eth0 up', 'route add default via 10.41.0.1'], { netns: nodeNs(i) });
      await run(['sysctl', '-qw', 'net.ipv4.conf.all.rp_filter=0'], { netns: nodeNs(i) });
    }
    for (const b of BACKENDS) {
      await ipBatch(['link set lo up', `addr add ${b.address}/24 dev eth0`, 'link set eth0 up', 'route add default via 10.41.0.1'], { netns: b.netns });
      await run(['bash', join(process.cwd(), 'scripts/backend-dsr.sh'), 'up', VIP], { netns: b.netns });
    }
    backends = await startBackendServer(BACKENDS.map((b) => ({ name: b.name, netns: b.netns, ports: [80] })));
    flowServer = spawn(process.execPath, [...NODE_FLAGS, join(process.cwd(), 'bench/failover/backend-server.ts'), JSON.stringify(BACKENDS.map((b) => ({ name: b.name, netns: b.netns, port: FLOW_PORT })))], { stdio: ['pipe', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      flowServer?.stdout?.once('data', () => resolve());
      flowServer?.once('exit', (code) => reject(new Error(`flow backend server exited ${code}`)));
    });
    flows = new FlowClient(`${P}-c`);
    await flows.ready();
    // Histories, with the order left as the kernel makes it (as before canonical order).
    const start: Record<number, number[]> = { 1: [1, 2, 3, 4], 2: [1, 2, 4], 3: [1, 2, 3, 4] };
    for (const i of NODES) {
      mkdirSync(join(work, `n${i}`, 'state'), { recursive: true, mode: 0o700 });
      writeFileSync(join(work, `n${i}`, 'lb.yaml'), config(start[i]));
      writeFileSync(join(work, `n${i}`, 'lb.log'), '');
      startLb(i, false);
    }
    await Promise.all(NODES.map((i) => waitForOrder(i, start[i].length, 240_000)));
    await reconfigure(2, [1, 2, 3, 4]); // node 2 gets b3 late
    await reconfigure(3, [1, 3, 4]); // node 3 loses b2 (drained: no connections, deleted at once) ...
    await reconfigure(3, [1, 2, 3, 4]); // ... and gets it back
  }, 600_000);

  afterAll(async () => {
    flows?.kill();
    for (const { child } of lbs.values()) child.kill('SIGKILL');
    await backends?.kill();
    flowServer?.stdin?.end();
    flowServer?.kill('SIGKILL');
    await closeConnectClients();
    const all = [`${P}-c`, ...NODES.map(nodeNs), ...BACKENDS.map((b) => b.netns)];
    await ipBatch([...all.map((n) => `netns del ${n}`), `link del ${P}-lan`, `link del ${P}-c0`, ...NODES.map((i) => `rule del lookup ${100 + i}`)], { force: true });
  }, 120_000);

  let clients: string[] = [];

  it('control: with the order of each history, audit sees the difference and real clients get different backends from different nodes', async () => {
    const orders = await Promise.all(NODES.map((i) => kernelOrder(i)));
    console.log(`4e control: kernel orders ${orders.map((o, n) => `n${n + 1}=[${o.map(backendName).join(' ')}]`).join(' ')}`);
    expect(new Set(orders.map((o) => o.join())).size).toBeGreaterThan(1);
    const a = await audit();
    const web = a.report.services.find((s) => s.service === `tcp ${VIP}:80`);
    console.log(`4e control: audit exit ${a.code}, web ${((web?.agreement?.differentFraction ?? 0) * 100).toFixed(2)}% of flows differ (${web?.agreement?.slotsDiffer} slots)`);
    expect(a.code).toBe(1);
    expect(web?.status).toBe('differ');
    // Clients the replica says disagree, and as many it says agree: the kernel must do what the replica says.
    const tables = orders.map(tableOf);
    const differ: string[] = [];
    const agree: string[] = [];
    for (let n = 1; n < 8000 && (differ.length < 12 || agree.length < 12); n++) {
      const src = `10.200.${n >> 8}.${n & 255}`;
      if ((n & 255) === 0) continue;
      const picks = tables.map((t) => pick(t, src));
      const list = new Set(picks).size > 1 ? differ : agree;
      if (list.length < 12) list.push(src);
    }
    clients = [...differ, ...agree];
    const seen = await traffic(clients, 0);
    let disagreeing = 0;
    for (const [src, row] of seen) {
      const predicted = tables.map((t) => backendName(pick(t, src)));
      expect(row, `client ${src}`).toEqual(predicted);
      if (new Set(row).size > 1) disagreeing++;
    }
    console.log(`4e control: ${disagreeing}/${clients.length} chosen clients got different backends from different nodes (kernel = replica for all ${clients.length * NODES.length})`);
    expect(disagreeing).toBe(differ.length);
  }, 300_000);

  it('canonical order: restarted nodes reorder their lists; audit says 0% (exit 0); every client gets the same backend everywhere; held connections survive the reorder batch', async () => {
    // Long-lived connections through node 2, whose lists get reordered: what the reconciler will delete and re-add.
    const held = await (flows as FlowClient).request<{ opened: { id: number; backend: string }[]; failed: unknown[] }>({ op: 'open', count: 40, host: VIP, port: FLOW_PORT, firstPort: 41000, timeoutMs: 15_000 });
    expect(held.failed).toEqual([]);
    const n2 = await kernelOrder(2, { ...WEB, port: FLOW_PORT });
    const reorder = planMhReorder(n2.map((address) => ({ key: { family: 'inet' as const, address, port: FLOW_PORT }, item: address })), []);
    const reAdded = new Set(reorder.toHead.filter((e) => e.moved).map((e) => backendName(e.key.address)));
    const onMoved = held.opened.filter((f) => reAdded.has(f.backend)).length;
    // New connections through node 2 all along the restart and its reorder batch.
    const fresh: { ok: boolean; error?: string }[] = [];
    let streaming = true;
    let port = 50000;
    const stream = (async () => {
      while (streaming) {
        const r = await (flows as FlowClient).request<{ results: { ok: boolean; error?: string }[] }>({ op: 'fresh', count: 8, host: VIP, port: FLOW_PORT, firstPort: port, timeoutMs: 10_000 });
        fresh.push(...r.results);
        port += 8;
      }
    })();
    for (const i of NODES) {
      lbs.get(i)?.child.kill('SIGTERM');
      await lbs.get(i)?.exit;
      startLb(i, true);
    }
    let a = await audit();
    for (const end = Date.now() + 240_000; a.code !== 0 && Date.now() < end; a = await audit()) await sleep(1000);
    await sleep(1500);
    streaming = false;
    await stream;
    const orders = await Promise.all(NODES.map((i) => kernelOrder(i)));
    console.log(`4e canonical: kernel orders ${orders.map((o, n) => `n${n + 1}=[${o.map(backendName).join(' ')}]`).join(' ')}; audit exit ${a.code}`);
    expect(a.code).toBe(0);
    for (const s of a.report.services) expect(s.agreement?.differentFraction, s.service).toBe(0);
    for (const o of orders) expect(o).toEqual(['10.41.0.104', '10.41.0.103', '10.41.0.102', '10.41.0.101']);
    expect(reAdded.size).toBeGreaterThan(0);
    expect(logOf(2)).toMatch(/deleteDestination/);

    const probe = await (flows as FlowClient).request<{ results: { ok: boolean; moved?: boolean; error?: string }[] }>({ op: 'probe', timeoutMs: 10_000 });
    const answered = probe.results.filter((r) => r.ok && !r.moved).length;
    console.log(`4e reorder batch: ${answered}/${probe.results.length} held connections answered from their backend (${onMoved} were on the re-added ${[...reAdded].join(', ')}); ${fresh.filter((f) => f.ok).length}/${fresh.length} new connections during the restart and reorder succeeded`);
    expect(answered).toBe(probe.results.length);
    expect(fresh.filter((f) => !f.ok)).toEqual([]);

    const table = tableOf(orders[0]);
    const seen = await traffic(clients, 1);
    for (const [src, row] of seen) {
      const predicted = backendName(pick(table, src));
      expect(row, `client ${src}`).toEqual(NODES.map(() => predicted));
    }
    console.log(`4e canonical: ${seen.size}/${clients.length} clients got the same backend from all ${NODES.length} nodes`);
  }, 600_000);

  it('what a reorder costs, measured: delete + re-add of the head destination pipelined in one batch vs as two requests 2 s apart', async () => {
    // Node 2 again (the router's default for these ports). Re-adding the head destination leaves the list
    // canonical, so the reconciler has nothing to undo. Held connections: the ones opened above plus new ones.
    const opened = await (flows as FlowClient).request<{ opened: { backend: string }[]; failed: unknown[] }>({ op: 'open', count: 40, host: VIP, port: FLOW_PORT, firstPort: 45000, timeoutMs: 15_000 });
    expect(opened.failed).toEqual([]);
    const key: ServiceKey = { ...WEB, port: FLOW_PORT };
    const head = { family: 'inet' as const, address: '10.41.0.104', port: FLOW_PORT };
    const ipvs = await openIpvs({ netns: nodeNs(2) });
    const results: Record<string, unknown> = {};
    try {
      const config = (await ipvs.listDestinations(key)).find((d) => d.key.address === head.address)?.config;
      if (!config) throw new Error('no b4 on node 2');
      for (const method of ['one batch', 'two requests 2 s apart'] as const) {
        const onHead = (await (flows as FlowClient).request<{ results: { ok: boolean; backend?: string }[] }>({ op: 'probe', timeoutMs: 10_000 })).results.filter((r) => r.backend === 'b4').length;
        const fresh: { ok: boolean }[] = [];
        let streaming = true;
        let p = method === 'one batch' ? 55000 : 60000;
        const stream = (async () => {
          while (streaming) {
            fresh.push(...(await (flows as FlowClient).request<{ results: { ok: boolean }[] }>({ op: 'fresh', count: 8, host: VIP, port: FLOW_PORT, firstPort: p, timeoutMs: 10_000 })).results);
            p += 8;
          }
        })();
        await sleep(1000);
        let during: { ok: boolean; moved?: boolean; backend?: string; ms: number }[] = [];
        if (method === 'one batch') {
          const errs = await ipvs.batch([
            { op: 'deleteDestination', service: key, destination: head },
            { op: 'addDestination', service: key, destination: head, config },
          ]);
          expect(errs.filter((e) => e !== undefined)).toEqual([]);
        } else {
          await ipvs.deleteDestination(key, head);
          // Ask every held connection for an answer while b4 is out of the list.
          const probing = (flows as FlowClient).request<{ results: { ok: boolean; moved?: boolean; backend?: string; ms: number }[] }>({ op: 'probe', timeoutMs: 10_000 });
          await sleep(2000);
          await ipvs.addDestination(key, head, config);
          during = (await probing).results;
        }
        await sleep(1000);
        streaming = false;
        await stream;
        const after = (await (flows as FlowClient).request<{ results: { ok: boolean; moved?: boolean }[] }>({ op: 'probe', timeoutMs: 10_000 })).results;
        results[method] = {
          heldOnReAdded: onHead,
          heldAnsweredAfter: `${after.filter((r) => r.ok && !r.moved).length}/${after.length}`,
          heldAnsweredDuringGap: method === 'one batch' ? 'n/a (no gap)' : `${during.filter((r) => r.ok && !r.moved).length}/${during.length}`,
          // How long the held connections on the deleted destination waited for their answer (TCP retransmits).
          slowestAnswerOnReAddedMs: Math.max(0, ...during.filter((r) => r.backend === 'b4').map((r) => r.ms)),
          slowestAnswerOnOthersMs: Math.max(0, ...during.filter((r) => r.backend !== 'b4').map((r) => r.ms)),
          newConnectionsOk: `${fresh.filter((f) => f.ok).length}/${fresh.length}`,
        };
        if (method === 'one batch') {
          expect(after.filter((r) => !r.ok || r.moved)).toEqual([]);
          expect(fresh.filter((f) => !f.ok)).toEqual([]);
        }
      }
      expect((await ipvs.listDestinations(key)).map((d) => d.key.address)[0]).toBe(head.address);
    } finally {
      ipvs.close();
    }
    console.log(`reorder cost: ${JSON.stringify(results)}`);
  }, 300_000);
});
