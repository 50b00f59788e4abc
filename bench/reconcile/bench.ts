// `ipvs-maglev bench reconcile`: what the reconciler costs at 10,000 services x 10 destinations.
//   1. plan + apply from empty (the start-up of a big node),
//   2. a second sync with nothing changed (incremental), and a full resync (drift repair),
//   3. ONE destination change among the 10,000 services, event-driven (incremental sync),
//      against the baseline of doing the same change with a full resync, in the same run.
// Kernel requests are counted with a wrapper around the IPVS client. Runs against the real kernel (netlink
// client) when IPVS is available (root, e.g. inside the test VM), otherwise against the in-memory model,
// and says which. Reported, never pass/fail.

import { writeFileSync } from 'node:fs';
import type { IpvsApi } from '../../src/ipvs/types.ts';
import type { DesiredService, DesiredState } from '../../src/model/types.ts';
import { Reconciler, type SyncReport } from '../../src/reconcile/index.ts';
import { BatchingMemoryIpvs } from '../../src/testing/memory-ipvs.ts';
import { CountingIpvs, type RequestCounts, totalRequests } from './counting.ts';

export interface ReconcileBenchOptions {
  services: number;
  destinations: number;
  backend: 'auto' | 'kernel' | 'memory';
  batchSize: number;
  json: boolean;
  /** Write a Markdown summary here. */
  results?: string;
  write: (line: string) => void;
}

interface Phase {
  phase: string;
  wallMs: number;
  cpuMs: number;
  operations: number;
  requests: number;
  counts: RequestCounts;
  errors: number;
}

function desiredState(n: number, d: number, changed?: number): DesiredState {
  const services: DesiredService[] = [];
  for (let i = 0; i < n; i++) {
    // 198.18.0.0/15 is reserved for benchmarks (RFC 2544).
    const address = `198.${18 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
    const destinations = [];
    for (let j = 0; j < d; j++) {
      const last = i === changed && j === d - 1 ? 250 : j + 1;
      destinations.push({
        key: { family: 'inet' as const, address: `10.${(i >> 8) & 255}.${i & 255}.${last}`, port: 8080 },
        config: { forwarding: 'masq' as const, weight: 1, upperThreshold: 0, lowerThreshold: 0 },
      });
    }
    services.push({
      name: `svc-${i}`,
      key: { kind: 'addr', family: 'inet', protocol: 'tcp', address, port: 80 },
      config: { scheduler: 'mh', flags: { fallback: true, portHash: true }, timeout: 0, netmask: '255.255.255.255' },
      destinations,
      bindAddress: false,
    });
  }
  return { services };
}

async function openBackend(choice: ReconcileBenchOptions['backend']): Promise<{ ipvs: IpvsApi; kind: string; close: () => void }> {
  if (choice !== 'memory') {
    try {
      const { openIpvs } = await import('../../src/ipvs/index.ts');
      const client = await openIpvs();
      await client.getInfo();
      return { ipvs: client, kind: 'kernel (netlink client)', close: () => client.close() };
    } catch (err) {
      if (choice === 'kernel') throw err;
    }
  }
  return { ipvs: new BatchingMemoryIpvs(), kind: 'memory model (src/testing/memory-ipvs.ts; no IPVS kernel here)', close: () => {} };
}

async function measure(name: string, counting: CountingIpvs, run: () => Promise<SyncReport>): Promise<Phase> {
  counting.take();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const report = await run();
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  const counts = counting.take();
  return { phase: name, wallMs, cpuMs: (cpu.user + cpu.system) / 1000, operations: report.operations.length, requests: totalRequests(counts), counts, errors: report.errors.length };
}

export async function runReconcileBench(opts: ReconcileBenchOptions): Promise<void> {
  const { services: n, destinations: d } = opts;
  const backend = await openBackend(opts.backend);
  const counting = new CountingIpvs(backend.ipvs);
  const out = (o: Record<string, unknown>, text: string): void => opts.write(opts.json ? JSON.stringify(o) : text);
  out({ bench: 'reconcile', backend: backend.kind, services: n, destinations: d, batchSize: opts.batchSize }, `bench reconcile: ${n} services x ${d} destinations, backend: ${backend.kind}, batch size ${opts.batchSize}`);

  const base = desiredState(n, d);
  // As a source does: a new object for the changed service, the unchanged ones reused (desired states are values).
  const changed: DesiredState = { services: base.services.slice() };
  changed.services[n >> 1] = desiredState(n, d, n >> 1).services[n >> 1];
  const r = new Reconciler({ ipvs: counting, batchSize: opts.batchSize, drainTimeoutMs: 0 });
  const phases: Phase[] = [];
  const show = (p: Phase): void => {
    phases.push(p);
    out(
      { ...p, counts: undefined, ...p.counts },
      `  ${p.phase.padEnd(44)} ${p.wallMs.toFixed(1).padStart(10)} ms wall ${p.cpuMs.toFixed(0).padStart(7)} ms cpu ${String(p.operations).padStart(7)} ops ${String(p.requests).padStart(7)} requests (dumps: ${p.counts.serviceDumps} svc + ${p.counts.destinationDumps} dest; ${p.counts.batches} batches)${p.errors ? ` ${p.errors} ERRORS` : ''}`,
    );
  };
  try {
    show(await measure(`initial sync from empty`, counting, () => r.sync(base)));
    show(await measure('second sync, nothing changed (incremental)', counting, () => r.sync(base)));
    show(await measure('full resync, nothing changed', counting, () => r.resync(base)));
    const one = await measure('one destination changed (incremental sync)', counting, () => r.sync(changed));
    show(one);
    const back = await measure('same change back via full resync (baseline)', counting, () => r.resync(base));
    show(back);
    out(
      { ratio: 'full-resync / incremental', wall: back.wallMs / one.wallMs, requests: back.requests / Math.max(1, one.requests) },
      `  one change: incremental is ${(back.wallMs / one.wallMs).toFixed(0)}x faster than a full resync and makes ${(back.requests / Math.max(1, one.requests)).toFixed(0)}x fewer kernel requests (${one.requests} vs ${back.requests})`,
    );
    show(await measure('teardown (all services removed)', counting, () => r.sync({ services: [] })));
  } finally {
    backend.close();
  }
  if (opts.results) writeFileSync(opts.results, markdown(backend.kind, n, d, opts.batchSize, phases));
}

function markdown(kind: string, n: number, d: number, batch: number, phases: Phase[]): string {
  const rows = phases.map(
    (p) =>
      `| ${p.phase} | ${p.wallMs.toFixed(1)} | ${p.cpuMs.toFixed(0)} | ${p.operations} | ${p.requests} | ${p.counts.serviceDumps} | ${p.counts.destinationDumps} | ${p.counts.batches} | ${p.errors} |`,
  );
  const one = phases.find((p) => p.phase.startsWith('one destination'));
  const base = phases.find((p) => p.phase.startsWith('same change back'));
  return [
    `| phase (${n} services x ${d} destinations; ${kind}; batch ${batch}) | wall ms | cpu ms | operations | kernel requests | service dumps | destination dumps | batches | errors |`,
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
    '',
    one && base
      ? `One destination change: ${one.operations} operations and ${one.requests} kernel requests event-driven, vs ${base.requests} requests for a full resync (${(base.wallMs / one.wallMs).toFixed(0)}x the wall time).`
      : '',
    '',
  ].join('\n');
}
