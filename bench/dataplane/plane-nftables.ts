// kube-proxy's nftables mode: one `nft -f -` transaction per sync, with only what changed.
import { diffServices } from './diff.ts';
import { run } from './exec.ts';
import { nftAddService, nftChangeEndpoints, nftFull, nftFullRuleCount, nftTeardown } from './kube-proxy-nftables.ts';
import type { DataPlane } from './planes.ts';

export function nftablesPlane(clusterCidr: string): DataPlane {
  const opts = { clusterCidr };
  // Where nft's time goes (its user-space CPU, the kernel's CPU for the transaction), per call.
  const breakdown: Record<string, number> = {};
  const nft = async (text: string) => {
    const r = await run('nft', ['-f', '-'], { input: text });
    breakdown.nftUserCpuMs = r.userMs;
    breakdown.kernelCpuMs = r.kernelMs;
    return r.ms;
  };
  return {
    lastBreakdown: breakdown,
    name: 'nftables',
    variants: ['transaction'],
    async setup() {
      await run('nft', ['-f', '-'], { input: nftTeardown(), allowFailure: true });
    },
    program: (services) => nft(nftFull(services, opts)),
    apply(before, after) {
      const d = diffServices(before, after);
      const parts: string[] = [];
      for (const s of d.added) parts.push(nftAddService(s, opts));
      for (const c of d.changed) parts.push(nftChangeEndpoints(c.before, c.after, opts));
      // Removing whole services is never measured; a benchmark step that needs it starts over.
      if (d.removed.length > 0) return nft(nftTeardown() + nftFull(after, opts));
      return nft(parts.join(''));
    },
    async teardown() {
      await run('nft', ['-f', '-'], { input: nftTeardown(), allowFailure: true });
    },
    size: (services) => ({ rules: nftFullRuleCount(services, opts), note: 'nft rules (+1 map element per service)' }),
  };
}
