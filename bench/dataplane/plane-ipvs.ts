// IPVS as kube-proxy's IPVS mode lays it out (a virtual server per cluster IP:port, VIPs bound to
// a dummy interface, masquerade through ipsets + a constant handful of iptables rules), but
// programmed through this project's netlink client. Scheduler `rr` (kube-proxy's default) or
// `mh` with mh-port + mh-fallback (Maglev).
import type { BatchResult, IpvsOperation } from '../../src/ipvs/index.ts';
import type { DestinationConfig, IpvsApi, ServiceConfig, ServiceKey, VipApi } from '../../src/ipvs/types.ts';
import { diffServices } from './diff.ts';
import { BenchError, run } from './exec.ts';
import { iptablesHooks, iptablesTeardown } from './kube-proxy-iptables.ts';
import { IPVS_NAT_CHAINS, ipsetAdd, ipsetCreate, ipsetDestroy, ipsetMember, ipvsModeNatRules } from './kube-proxy-ipvs.ts';
import type { DataPlane } from './planes.ts';
import type { VipBatch } from './vip-batch.ts';
import type { BenchEndpoint, BenchService } from './workload.ts';

export interface IpvsPlaneDeps {
  /** With `batch` (IpvsClient), bulk programming pipelines its writes over one socket. */
  ipvs: IpvsApi & { batch?: (ops: readonly IpvsOperation[]) => Promise<BatchResult> };
  vips: VipApi;
  /** With it, VIPs are bound and unbound in one pipelined rtnetlink batch instead of one call each. */
  vipBatch?: VipBatch;
  clusterCidr: string;
  /** The dummy interface holding the VIPs (flushed at teardown in one step). */
  dummyInterface: string;
  /** Requests kept in flight at once (the client pipelines them over one socket). */
  window?: number;
}

/** The same iptables backend as the `iptables` plane, so both modes are compared on equal terms. */
const IPTABLES_RESTORE = 'iptables-legacy-restore';

const DEST: DestinationConfig = { forwarding: 'masq', weight: 1, upperThreshold: 0, lowerThreshold: 0 };

export function serviceConfigFor(scheduler: 'rr' | 'mh'): ServiceConfig {
  return {
    scheduler,
    flags: scheduler === 'mh' ? { portHash: true, fallback: true } : {},
    timeout: 0,
    netmask: '255.255.255.255',
  };
}

function keyOf(s: BenchService): ServiceKey {
  return { kind: 'addr', family: 'inet', protocol: s.protocol, address: s.clusterIP, port: s.port };
}

function destKey(e: BenchEndpoint) {
  return { family: 'inet' as const, address: e.ip, port: e.port };
}

/** Runs `tasks` with at most `window` in flight, in order of start. */
async function windowed(tasks: readonly (() => Promise<void>)[], window: number): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < tasks.length) await tasks[next++]();
  };
  await Promise.all(Array.from({ length: Math.min(window, tasks.length) }, lane));
}

export function ipvsPlane(scheduler: 'rr' | 'mh', deps: IpvsPlaneDeps): DataPlane {
  const config = serviceConfigFor(scheduler);
  const window = deps.window ?? 64;
  const { ipvs, vips } = deps;
  const ipset = (text: string) => run('ipset', ['restore', '-exist'], { input: text });

  const breakdown: Record<string, number> = {};
  const timed = async (what: string, fn: () => Promise<unknown>) => {
    const t0 = performance.now();
    await fn();
    breakdown[what] = (breakdown[what] ?? 0) + performance.now() - t0;
  };

  async function addServices(services: readonly BenchService[]): Promise<void> {
    await timed('vipsMs', () => (deps.vipBatch ? deps.vipBatch.add(services.map((s) => s.clusterIP)) : windowed(services.map((s) => () => vips.addAddress(s.clusterIP)), window)));
    await timed('ipsetMs', async () => {
      const r = await ipset(ipsetAdd(services));
      // ipset's own CPU and the kernel's, to tell its parsing from the set's insertions.
      breakdown.ipsetUserCpuMs = (breakdown.ipsetUserCpuMs ?? 0) + r.userMs;
      breakdown.ipsetKernelCpuMs = (breakdown.ipsetKernelCpuMs ?? 0) + r.kernelMs;
    });
    await timed('netlinkMs', async () => {
      if (ipvs.batch) {
        // One pipelined batch; the kernel applies a socket's messages in order, services first.
        const ops: IpvsOperation[] = services.map((s) => ({ op: 'addService', service: keyOf(s), config }));
        for (const s of services) for (const e of s.endpoints) ops.push({ op: 'addDestination', service: keyOf(s), destination: destKey(e), config: DEST });
        const results = await ipvs.batch(ops);
        const failed = results.findIndex((r) => r !== undefined);
        if (failed >= 0) throw new BenchError('IPVS_FAILED', `${results.filter((r) => r).length} of ${ops.length} IPVS writes failed, first: ${results[failed]?.message}`);
        return;
      }
      // A service must exist before its destinations: one task per service keeps that order.
      await windowed(
        services.map((s) => async () => {
          await ipvs.addService(keyOf(s), config);
          await Promise.all(s.endpoints.map((e) => ipvs.addDestination(keyOf(s), destKey(e), DEST)));
        }),
        window,
      );
    });
  }

  async function removeServices(services: readonly BenchService[]): Promise<void> {
    await windowed(services.map((s) => () => ipvs.deleteService(keyOf(s))), window);
    if (deps.vipBatch) await deps.vipBatch.remove(services.map((s) => s.clusterIP));
    else await windowed(services.map((s) => () => vips.removeAddress(s.clusterIP)), window);
    const dels = services.map((s) => `del KUBE-CLUSTER-IP ${ipsetMember(s.clusterIP, s.protocol, s.port)}`);
    await ipset(`${dels.join('\n')}\n`);
  }

  return {
    name: scheduler === 'mh' ? 'ipvs-mh' : 'ipvs-rr',
    variants: ['netlink'],
    async setup() {
      await vips.ensureInterface();
      await ipset(ipsetCreate());
      await run(IPTABLES_RESTORE, ['-w', '5', '--noflush'], { input: iptablesHooks() });
      await run(IPTABLES_RESTORE, ['-w', '5', '--noflush'], { input: ipvsModeNatRules(deps.clusterCidr) });
    },
    lastBreakdown: breakdown,
    async program(services) {
      for (const k of Object.keys(breakdown)) delete breakdown[k];
      const t0 = performance.now();
      await addServices(services);
      return performance.now() - t0;
    },
    async apply(before, after) {
      for (const k of Object.keys(breakdown)) delete breakdown[k];
      const t0 = performance.now();
      const d = diffServices(before, after);
      if (d.added.length > 0) await addServices(d.added);
      for (const c of d.changed) {
        const key = keyOf(c.after);
        if (c.added.length > 0) await ipset(ipsetAdd([{ ...c.after, endpoints: c.added }]).split('\n').filter((l) => !l.startsWith('add KUBE-CLUSTER-IP')).join('\n'));
        await Promise.all(c.added.map((e) => ipvs.addDestination(key, destKey(e), DEST)));
        await Promise.all(c.removed.map((e) => ipvs.deleteDestination(key, destKey(e))));
      }
      if (d.removed.length > 0) await removeServices(d.removed);
      return performance.now() - t0;
    },
    async teardown(services) {
      const unique = [...new Map(services.map((s) => [`${s.clusterIP}:${s.port}`, s])).values()];
      if (ipvs.batch) {
        // Results per operation: a service that was never added just reports NO_SUCH_SERVICE.
        await ipvs.batch(unique.map((s) => ({ op: 'deleteService', service: keyOf(s) }))).catch(() => undefined);
      } else {
        await windowed(unique.map((s) => () => ipvs.deleteService(keyOf(s)).catch(() => undefined)), window);
      }
      await run('ip', ['address', 'flush', 'dev', deps.dummyInterface], { allowFailure: true });
      await run(IPTABLES_RESTORE, ['-w', '5', '--noflush'], { input: iptablesTeardown(IPVS_NAT_CHAINS), allowFailure: true });
      await run('ipset', ['restore'], { input: ipsetDestroy(), allowFailure: true });
    },
    size: (services) => ({
      rules: services.length + services.reduce((n, s) => n + s.endpoints.length, 0),
      note: 'IPVS services + destinations (8 iptables rules, 2 ipsets)',
    }),
  };
}
