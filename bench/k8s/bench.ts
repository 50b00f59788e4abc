// `ipvs-maglev bench k8s`: N Services x E endpoints through the local API server (src/testing/
// fake-apiserver.ts: the real list/watch protocol over HTTP, real client-node informers) into
// IPVS, with the real controller code. Measures:
//   1. initial sync: controller start -> every virtual server and destination programmed;
//      baseline: `ipvsadm -R` of the very same rules into an empty table (the kernel tool's time);
//   2. programming latency of single-endpoint changes under a steady stream of them: from the
//      EndpointSlice's last-change-trigger-time (set just before the API write) to the kernel
//      programmed (the controller's network_programming_duration); baseline: `ipvsadm` doing one
//      destination change (a process spawn + one netlink request).
// Reported, not asserted. Runs in a private network namespace created for the run (IPVS state is
// per namespace), so the host's table is never touched.

import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { formatSave } from '../../src/cli/ipvsadm/format.ts';
import { toEntries } from '../../src/cli/commands/k8s.ts';
import { openIpvs, openVips } from '../../src/ipvs/index.ts';
import type { Logger, SyncReport } from '../../src/reconcile/types.ts';
import { MemoryStateStore } from '../../src/reconcile/store.ts';
import { LAST_CHANGE_TRIGGER_TIME } from '../../src/sources/kubernetes/cluster-state.ts';
import { KubernetesController } from '../../src/app/kubernetes-controller.ts';
import { FakeApiServer, type KubeObject } from '../../src/testing/fake-apiserver.ts';

export interface K8sBenchOptions {
  services: number;
  endpoints: number;
  changes: number;
  /** Changes per second in the steady stream. */
  rate: number;
  minSyncMs: number;
  json: boolean;
  write: (line: string) => void;
}

export class K8sBenchError extends Error {
  readonly code = 'K8S_BENCH';
  constructor(message: string) {
    super(message);
    this.name = 'K8sBenchError';
  }
}

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

function run(argv: string[], input = ''): Promise<{ code: number | null; ms: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    child.on('error', (e) => reject(new K8sBenchError(`cannot run ${argv[0]}: ${e.message}`)));
    child.on('close', (code) => resolve({ code, ms: performance.now() - t0, stderr }));
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}

async function must(argv: string[], input = ''): Promise<number> {
  const r = await run(argv, input);
  if (r.code !== 0) throw new K8sBenchError(`${argv.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  return r.ms;
}

const clusterIP = (i: number) => `10.96.${(i >> 8) & 255}.${i & 255}`;
const podIP = (i: number, k: number) => `10.${64 + (((i * 16 + k) >> 16) & 63)}.${((i * 16 + k) >> 8) & 255}.${(i * 16 + k) & 255}`;

function svcObject(i: number): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace: `ns${i % 100}`, name: `svc-${i}` },
    spec: { type: 'ClusterIP', clusterIP: clusterIP(i), clusterIPs: [clusterIP(i)], ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 }] },
  };
}

function sliceObject(i: number, ips: string[], trigger?: number): KubeObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      namespace: `ns${i % 100}`,
      name: `svc-${i}-abcde`,
      labels: { 'kubernetes.io/service-name': `svc-${i}` },
      ...(trigger === undefined ? {} : { annotations: { [LAST_CHANGE_TRIGGER_TIME]: new Date(trigger).toISOString() } }),
    },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'node-b' })),
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

export async function runK8sBench(opts: K8sBenchOptions): Promise<void> {
  if (process.getuid?.() !== 0) throw new K8sBenchError('bench k8s needs root and IPVS: run it in the test VM (bash test/kernel/vm/run-in-vm.sh node bin/ipvs-maglev.mjs bench k8s)');
  const ns = `k8sbench${process.pid}`;
  const say = (o: Record<string, unknown>, text: string) => opts.write(opts.json ? JSON.stringify(o) : text);
  await must(['ip', 'netns', 'add', ns]);
  const api = await new FakeApiServer({ historyLimit: 1_000_000 }).start();
  let controller: KubernetesController | undefined;
  try {
    const ipvs = await openIpvs({ netns: ns });
    const vips = await openVips({ netns: ns, interfaceName: 'kube-ipvs0' });
    const ips: string[][] = [];
    for (let i = 0; i < opts.services; i++) {
      ips.push(Array.from({ length: opts.endpoints }, (_, k) => podIP(i, k)));
      api.create(svcObject(i));
      api.create(sliceObject(i, ips[i]));
    }
    say({ phase: 'setup', services: opts.services, endpoints: opts.endpoints }, `# ${opts.services} Services x ${opts.endpoints} endpoints in the local API server (netns ${ns})`);

    // 1. Initial sync.
    const expectDests = opts.services * opts.endpoints;
    const reports: { report: SyncReport; latenciesMs: number[] }[] = [];
    let firstDone: (() => void) | undefined;
    const first = new Promise<void>((r) => {
      firstDone = r;
    });
    controller = new KubernetesController({
      kubeConfig: api.kubeConfig(),
      nodeName: 'node-a',
      nodeIPs: ['192.168.0.10'],
      ipvs,
      vips,
      store: new MemoryStateStore(),
      logger: quiet,
      minSyncIntervalMs: opts.minSyncMs,
      fullResyncIntervalMs: 0,
      planOptions: { flowMoveEstimator: null },
      onSynced: (info) => {
        reports.push(info);
        if (info.report.mode !== 'skipped' && info.report.destinations >= expectDests) firstDone?.();
      },
    });
    const t0 = performance.now();
    controller.start();
    await controller.synced;
    const listedMs = performance.now() - t0;
    await first;
    const initialMs = performance.now() - t0;
    const programmed = reports.find((r) => r.report.mode !== 'skipped' && r.report.destinations >= expectDests)?.report;
    const kernelServices = (await ipvs.listServices()).length;
    if (kernelServices !== opts.services) throw new K8sBenchError(`kernel has ${kernelServices} services, expected ${opts.services}`);
    const desired = controller.state.desired().state;

    // Baseline: ipvsadm -R of the same rules into an empty table (in the same namespace, after a flush).
    const rules = formatSave(toEntries(desired));
    const snapshot = await ipvs.listServices();
    await controller.stop();
    controller = undefined;
    await must(['ip', 'netns', 'exec', ns, 'ipvsadm', '-C']);
    const ipvsadmMs = await must(['ip', 'netns', 'exec', ns, 'ipvsadm', '-R'], rules);
    const restored = (await ipvs.listServices()).length;
    if (restored !== snapshot.length) throw new K8sBenchError(`ipvsadm -R restored ${restored} services, expected ${snapshot.length}`);
    say(
      { phase: 'initial', listMs: round(listedMs), initialSyncMs: round(initialMs), syncMs: round(programmed?.durationMs ?? Number.NaN), ipvsadmRestoreMs: round(ipvsadmMs), ratio: round(initialMs / ipvsadmMs, 2) },
      `initial sync: ${round(initialMs)} ms (informers listed in ${round(listedMs)} ms; the reconcile sync itself ${round(programmed?.durationMs ?? Number.NaN)} ms)\n` +
        `  baseline ipvsadm -R of the same ${opts.services} services / ${expectDests} destinations: ${round(ipvsadmMs)} ms -> ratio ${round(initialMs / ipvsadmMs, 2)}x`,
    );

    // 2. Steady stream of single-endpoint changes. Restart the controller on the table ipvsadm made
    // (it adopts nothing it does not own, so start from a flushed table again: a second initial sync).
    await must(['ip', 'netns', 'exec', ns, 'ipvsadm', '-C']);
    reports.length = 0;
    let ready: (() => void) | undefined;
    const readyP = new Promise<void>((r) => {
      ready = r;
    });
    controller = new KubernetesController({
      kubeConfig: api.kubeConfig(),
      nodeName: 'node-a',
      nodeIPs: ['192.168.0.10'],
      ipvs,
      vips,
      store: new MemoryStateStore(),
      logger: quiet,
      minSyncIntervalMs: opts.minSyncMs,
      fullResyncIntervalMs: 0,
      planOptions: { flowMoveEstimator: null },
      onSynced: (info) => {
        reports.push(info);
        if (info.report.mode !== 'skipped' && info.report.destinations >= expectDests) ready?.();
      },
    });
    controller.start();
    await readyP;
    reports.length = 0;
    const latencies: number[] = [];
    const interval = 1000 / opts.rate;
    const streamStart = performance.now();
    let next = 0;
    for (let c = 0; c < opts.changes; c++) {
      const i = (c * 7919) % opts.services;
      const k = c % opts.endpoints;
      ips[i][k] = podIP(opts.services + c, k); // a pod replaced: one endpoint out, one in
      api.update(sliceObject(i, ips[i], Date.now()));
      next += interval;
      const wait = streamStart + next - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    const deadline = Date.now() + 60_000;
    while (reports.flatMap((r) => r.latenciesMs).length < opts.changes && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const r of reports) latencies.push(...r.latenciesMs);
    latencies.sort((a, b) => a - b);
    const syncs = reports.filter((r) => r.report.mode !== 'skipped');
    const ops = syncs.reduce((n, r) => n + r.report.operations.length, 0);
    const syncMsSorted = syncs.map((r) => r.report.durationMs).sort((a, b) => a - b);

    // Baseline: ipvsadm doing one destination change (delete + add), as a user would.
    const base: number[] = [];
    const svc0 = `${clusterIP(0)}:80`;
    for (let n = 0; n < 20; n++) {
      const ip = podIP(opts.services + opts.changes + n, 0);
      const a = await must(['ip', 'netns', 'exec', ns, 'ipvsadm', '-a', '-t', svc0, '-r', `${ip}:8080`, '-m', '-w', '1']);
      const d = await must(['ip', 'netns', 'exec', ns, 'ipvsadm', '-d', '-t', svc0, '-r', `${ip}:8080`]);
      base.push(a, d);
    }
    base.sort((a, b) => a - b);
    const p50 = percentile(latencies, 50);
    const p99 = percentile(latencies, 99);
    const b50 = percentile(base, 50);
    say(
      {
        phase: 'stream',
        changes: opts.changes,
        measured: latencies.length,
        ratePerSec: opts.rate,
        minSyncMs: opts.minSyncMs,
        p50Ms: round(p50),
        p99Ms: round(p99),
        maxMs: round(latencies.at(-1) ?? Number.NaN),
        syncs: syncs.length,
        opsPerChange: round(ops / Math.max(1, latencies.length), 2),
        syncP50Ms: round(percentile(syncMsSorted, 50)),
        syncP99Ms: round(percentile(syncMsSorted, 99)),
        ipvsadmOneOpP50Ms: round(b50),
        ratioP50: round(p50 / b50, 2),
      },
      `single-endpoint changes at ${opts.rate}/s (${latencies.length}/${opts.changes} measured), min sync interval ${opts.minSyncMs} ms:\n` +
        `  programming latency p50 ${round(p50)} ms, p99 ${round(p99)} ms, max ${round(latencies.at(-1) ?? Number.NaN)} ms\n` +
        `  ${syncs.length} syncs (p50 ${round(percentile(syncMsSorted, 50))} ms, p99 ${round(percentile(syncMsSorted, 99))} ms each), ${round(ops / Math.max(1, latencies.length), 2)} kernel operations per change\n` +
        `  baseline: one ipvsadm destination change p50 ${round(b50)} ms -> ratio p50 ${round(p50 / b50, 2)}x`,
    );
  } finally {
    await controller?.stop();
    await api.stop();
    await run(['ip', 'netns', 'del', ns]);
  }
}
