// The demo behind `npm run demo` (started by scripts/demo.sh inside a throwaway namespace or VM):
// four web backends, `ipvs-maglev run` with examples/demo.yaml, a few hundred client connections,
// the per-backend distribution checked against the kernel-exact Maglev prediction, then a drain of
// one backend showing that only its clients move.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { openIpvs } from '../../src/ipvs/index.ts';
import type { Destination, ServiceKey } from '../../src/ipvs/index.ts';
import { buildKernelTable, kernelLookup } from '../../src/maglev/index.ts';
import { createTopology } from '../../test/kernel/lib/index.ts';
import type { ConnectResult, Topology } from '../../test/kernel/lib/index.ts';

const CLIENTS = Number(process.env.DEMO_CLIENTS ?? 300);
const VIP = '10.100.0.10';
const PORT = 80;
const METRICS = '127.0.0.1:9477';
const SERVICE: ServiceKey = { kind: 'addr', family: 'inet', protocol: 'tcp', address: VIP, port: PORT };
const DRAINED = 'b4';

const color = process.stdout.isTTY === true && process.env.NO_COLOR === undefined && process.env.IPVS_MAGLEV_IN_VM !== '1';
const bold = (s: string): string => (color ? `\x1b[1m${s}\x1b[0m` : s);
const say = (s = ''): void => void process.stdout.write(`${s}\n`);
const heading = (s: string): void => say(`\n${bold(s)}`);
const pct = (n: number, d: number): string => `${d === 0 ? '0.0' : ((100 * n) / d).toFixed(1)}%`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function table(header: string[], rows: (string | number)[][]): void {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  for (const [n, r] of cells.entries()) {
    say(`   ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('   ')}`);
    if (n === 0) say(`   ${widths.map((w) => '-'.repeat(w)).join('   ')}`);
  }
}

// Generous: under software emulation (the VM) on a busy machine, starting node takes tens of seconds.
async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, ms = 300_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

/** The kernel's destinations of the demo service (kernel list order: newest first). */
async function kernelDestinations(): Promise<Destination[]> {
  const ipvs = await openIpvs();
  try {
    return await ipvs.listDestinations(SERVICE);
  } finally {
    ipvs.close();
  }
}

/** Which backend the kernel's Maglev table sends each client to, recomputed in user space. */
function predict(dests: Destination[], lastWeights: Map<string, number>, clients: string[], names: Map<string, string>): string[] {
  // The kernel lists destinations newest first; its table is built in order of addition.
  const additionOrder = [...dests].reverse().map((d) => ({
    address: d.key.address,
    port: d.key.port,
    weight: d.config.weight,
    lastWeight: d.config.weight === 0 ? lastWeights.get(d.key.address) : undefined,
  }));
  const t = buildKernelTable(additionOrder);
  return clients.map((c) => {
    const i = kernelLookup(t, c, 0, { portHash: false, fallback: true });
    return i < 0 ? 'none' : (names.get(additionOrder[i].address) ?? additionOrder[i].address);
  });
}

async function send(topo: Topology, clients: string[]): Promise<ConnectResult[]> {
  return topo.connect(clients.map((src) => ({ src, dst: VIP, dport: PORT, timeoutMs: 5000 })), { concurrency: 16 });
}

async function main(): Promise<void> {
  say(bold('ipvs-maglev demo: Maglev consistent hashing on Linux IPVS'));
  say(`kernel ${release()}; ${CLIENTS} clients; everything below is created for the demo and removed at the end`);

  heading('1. Four web backends, each in its own network namespace');
  const topo = await createTopology({ prefix: 'demo', backends: 4, ports: [8080], vips: [] });
  const names = new Map(topo.backends.map((b) => [b.ip, b.name]));
  table(['backend', 'address'], topo.backends.map((b) => [b.name, `${b.ip}:8080`]));

  const work = mkdtempSync(join(tmpdir(), 'ipvsm-demo-'));
  const config = join(work, 'lb.yaml');
  copyFileSync('examples/demo.yaml', config);
  const logFile = join(work, 'run.log');
  let lb: ChildProcess | undefined;
  try {
    heading(`2. Start the load balancer: ipvs-maglev run --config examples/demo.yaml`);
    const out = openSync(logFile, 'a');
    lb = spawn(process.execPath, ['bin/ipvs-maglev.mjs', 'run', '--config', config, '--state-dir', join(work, 'state'), '--metrics-address', METRICS, '--log-level', 'info'], {
      stdio: ['ignore', out, out],
    });
    const t0 = Date.now();
    await waitFor('ipvs-maglev to be ready', async () => ((await fetch(`http://${METRICS}/readyz`)).ok ? true : undefined));
    const dests = await waitFor('4 destinations in the kernel', async () => {
      const d = await kernelDestinations();
      // All four at weight 1: a health check that has not settled yet would skew the prediction.
      return d.length === 4 && d.every((x) => x.config.weight === 1) ? d : undefined;
    });
    say(`   ready in ${((Date.now() - t0) / 1000).toFixed(1)} s: VIP ${VIP}:${PORT}, scheduler mh (Maglev, table of 4093 slots), ${dests.length} backends`);
    say(`   logs: ${logFile}   metrics: http://${METRICS}/metrics`);

    heading(`3. ${CLIENTS} clients (each its own source address) connect to http://${VIP}/`);
    const clients = Array.from({ length: CLIENTS }, (_, i) => topo.client.src(i));
    const before = await send(topo, clients);
    const lastWeights = new Map(dests.map((d) => [d.key.address, d.config.weight]));
    const changed = (await kernelDestinations()).filter((d) => d.config.weight !== 1).map((d) => names.get(d.key.address));
    if (changed.length > 0) say(`   note: health checks changed ${changed.join(', ')} to weight 0 during the test (a slow machine?)`);
    const predicted = predict(dests, lastWeights, clients, names);
    const got = before.map((r) => (r.ok ? (r.backend ?? '?') : `failed (${r.error})`));
    const matches = got.filter((b, i) => b === predicted[i]).length;
    const count = (list: string[], name: string): number => list.filter((x) => x === name).length;
    table(
      ['backend', 'connections', 'share', 'predicted'],
      topo.backends.map((b) => [b.name, count(got, b.name), pct(count(got, b.name), CLIENTS), count(predicted, b.name)]),
    );
    const failed = got.filter((g) => g.startsWith('failed')).length;
    if (failed > 0) say(`   ${failed} connections failed`);
    say(`   ${matches} of ${CLIENTS} connections landed on the backend the user-space Maglev predicted (${pct(matches, CLIENTS)}).`);

    heading(`4. Drain ${DRAINED}: remove it from the config file (ipvs-maglev sees the change and reloads)`);
    const drainedIp = topo.backend(DRAINED).ip;
    const text = readFileSync(config, 'utf8');
    const edited = text.split('\n').filter((l) => !l.includes(drainedIp)).join('\n');
    writeFileSync(`${config}.next`, edited);
    const plan = await runCapture(['bin/ipvs-maglev.mjs', 'plan', '--config', `${config}.next`, '--state-dir', join(work, 'state')]);
    say('   `ipvs-maglev plan` on the edited file said:');
    for (const line of plan.trim().split('\n')) if (line.trim() !== '') say(`     ${line}`);
    writeFileSync(config, edited);
    const during = await waitFor(`${DRAINED} at weight 0 in the kernel`, async () => {
      const d = await kernelDestinations();
      return d.find((x) => x.key.address === drainedIp)?.config.weight === 0 ? d : undefined;
    });
    say(`   ${DRAINED} is now at weight 0: it keeps its open connections and gets no new ones (mh-fallback sends them on).`);

    const after = await send(topo, clients);
    const got2 = after.map((r) => (r.ok ? (r.backend ?? '?') : `failed (${r.error})`));
    const predicted2 = predict(during, lastWeights, clients, names);
    const matches2 = got2.filter((b, i) => b === predicted2[i]).length;
    table(
      ['backend', 'before', 'after'],
      topo.backends.map((b) => [b.name, count(got, b.name), count(got2, b.name)]),
    );
    const moved = clients.filter((_, i) => got[i] !== got2[i]);
    const movedFromDrained = clients.filter((_, i) => got[i] !== got2[i] && got[i] === DRAINED).length;
    const movedOthers = moved.length - movedFromDrained;
    say(`   The same ${CLIENTS} clients again: ${moved.length} moved, ${movedFromDrained} of them had been on ${DRAINED};`);
    say(`   clients of the other backends that moved: ${movedOthers}${movedOthers === 0 ? ' (none: only the drained backend\'s flows moved)' : ''}.`);
    say(`   ${matches2} of ${CLIENTS} landed where the prediction (with the drained slots falling over) said.`);

    heading('5. Stop ipvs-maglev (SIGTERM): nothing is flushed, the kernel keeps balancing');
    lb.kill('SIGTERM');
    await new Promise((r) => lb?.once('exit', r));
    lb = undefined;
    const still = await kernelDestinations();
    const after3 = await send(topo, clients.slice(0, 20));
    say(`   after exit: the service still has ${still.length} destinations in the kernel; ${after3.filter((r) => r.ok).length} of 20 new connections answered.`);
    const ok = matches === CLIENTS && matches2 === CLIENTS && movedOthers === 0 && failed === 0;
    say(`\n${bold(ok ? 'Demo passed: the kernel did exactly what Maglev predicted.' : 'Demo finished with differences: see above and the log.')}`);
    process.exitCode = ok ? 0 : 1;
  } catch (err) {
    say(`\nlast lines of ${logFile}:`);
    say(readFileSync(logFile, 'utf8').trim().split('\n').slice(-25).join('\n'));
    throw err;
  } finally {
    if (lb) lb.kill('SIGTERM');
    await topo.cleanup();
  }
}

function runCapture(args: string[]): Promise<string> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    p.stdout.on('data', (b: Buffer) => { text += b.toString(); });
    p.stderr.on('data', (b: Buffer) => { text += b.toString(); });
    p.on('exit', () => resolve(text));
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
