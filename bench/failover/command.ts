// The `bench failover` subcommand. Needs root, IPVS and BIRD; on a host whose kernel has no IPVS it
// boots the test VM and runs itself there (results written back through VM_RW).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Command, InvalidArgumentError } from 'commander';

function positiveInt(name: string, max: number): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < 1 || n > max) throw new InvalidArgumentError(`${name} must be an integer 1-${max}`);
    return n;
  };
}

const root = fileURLToPath(new URL('../..', import.meta.url));

function hostHasIpvs(): boolean {
  if (process.getuid?.() !== 0) return false;
  if (existsSync('/proc/net/ip_vs')) return true;
  return spawnSync('modprobe', ['-q', 'ip_vs']).status === 0 && existsSync('/proc/net/ip_vs');
}

export function addFailoverBench(bench: Command): void {
  bench
    .command('failover')
    .description('three LB nodes behind BGP ECMP (real BIRD, real kernel), one killed: established connections answering over time, new-connection failures, reconvergence; mh vs controls (boots the test VM when this kernel has no IPVS)')
    .option('--flows <n>', 'long-lived connections', positiveInt('--flows', 2000), 200)
    .option('--rounds-after <n>', 'probe rounds after the router reconverged', positiveInt('--rounds-after', 100), 4)
    .option('--case <name...>', 'only these cases: mh, rr, nosloppy')
    .option('--out <dir>', 'where failover.json and the chart go', 'bench/results')
    .option('--json', 'print one JSON object per line')
    .action(async (flags: { flows: number; roundsAfter: number; case?: string[]; out: string; json?: boolean }) => {
      const out = resolve(flags.out);
      if (process.env.IPVS_MAGLEV_IN_VM !== '1' && !hostHasIpvs()) {
        // Simplest equivalent of the shared "boot the VM" helper: run this same command in the VM.
        const argv = process.argv.slice(2).filter((a, i, all) => a !== '--out' && all[i - 1] !== '--out');
        const r = spawnSync('bash', [join(root, 'test/kernel/vm/run-in-vm.sh'), 'node', join(root, 'bin/ipvs-maglev.mjs'), ...argv, '--out', out], {
          stdio: 'inherit',
          env: { ...process.env, VM_RW: [process.env.VM_RW, out].filter(Boolean).join(' '), VM_SLOTS: process.env.VM_SLOTS ?? '1' },
        });
        process.exitCode = r.status ?? 1;
        return;
      }
      const { CASES, runFailoverBench } = await import('./bench.ts');
      const names: Record<string, number> = { mh: 0, rr: 1, nosloppy: 2 };
      for (const c of flags.case ?? []) if (!(c in names)) throw new InvalidArgumentError(`--case: unknown case "${c}" (mh, rr, nosloppy)`);
      const cases = flags.case ? flags.case.map((c) => CASES[names[c]]) : CASES;
      await runFailoverBench({ flows: flags.flows, roundsAfter: flags.roundsAfter, cases, out, json: flags.json === true, write: (line) => process.stdout.write(`${line}\n`) });
    });
}
