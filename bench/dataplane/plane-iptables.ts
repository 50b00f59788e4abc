// kube-proxy's iptables mode: iptables-restore --noflush --counters of the generated nat table.
import { BenchError, run } from './exec.ts';
import { fullRestoreRuleCount, iptablesChains, iptablesFullRestore, iptablesHooks, iptablesPartialRestore, iptablesTeardown } from './kube-proxy-iptables.ts';
import type { DataPlane } from './planes.ts';
import type { BenchService } from './workload.ts';

const RESTORE_ARGS = ['-w', '5', '--noflush', '--counters'];

/** kube-proxy's iptables mode through `iptables-legacy-restore` (name "iptables") or `iptables-nft-restore`. */
export function iptablesPlane(clusterCidr: string, backend: 'legacy' | 'nft' = 'legacy'): DataPlane {
  const restoreCommand = backend === 'legacy' ? 'iptables-legacy-restore' : 'iptables-nft-restore';
  const opts = { clusterCidr };
  // Where the restore's time goes (its user-space CPU, the kernel's CPU), per call.
  const breakdown: Record<string, number> = {};
  const restore = async (text: string) => {
    const r = await run(restoreCommand, RESTORE_ARGS, { input: text });
    breakdown.restoreUserCpuMs = r.userMs;
    breakdown.kernelCpuMs = r.kernelMs;
    return r.ms;
  };
  return {
    lastBreakdown: breakdown,
    name: backend === 'legacy' ? 'iptables' : 'iptables-nft',
    variants: ['full-restore', 'partial-restore'],
    wholeStateVariants: ['full-restore'],
    async setup() {
      await restore(iptablesHooks());
    },
    program: (services) => restore(iptablesFullRestore(services, opts)),
    apply(before, after, variant) {
      if (variant === 'full-restore') return restore(iptablesFullRestore(after, opts));
      if (variant === 'partial-restore') return restore(iptablesPartialRestore(before, after, opts));
      throw new BenchError('BAD_VARIANT', `iptables has no variant ${variant}`);
    },
    async teardown(services: readonly BenchService[]) {
      await run(restoreCommand, RESTORE_ARGS, { input: iptablesTeardown(iptablesChains(services, opts)), allowFailure: true });
    },
    size: (services) => ({ rules: fullRestoreRuleCount(services, opts), note: 'nat rules in KUBE-* chains' }),
  };
}
