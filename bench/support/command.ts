// What every `bench <x>` subcommand shares: integer flags with a bound, and running the command in
// the test VM when this host's kernel has no IPVS (the benches that program IPVS need a real one).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError } from 'commander';

/** A commander parser for an integer flag in [min, max]. */
export function intFlag(name: string, min: number, max: number): (text: string) => number {
  return (text: string) => {
    const n = Number(text);
    if (!/^\d+$/.test(text) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer ${min}-${max}, got "${text}"`);
    return n;
  };
}

const root = fileURLToPath(new URL('../..', import.meta.url));

/** True when this process can program IPVS here: root, and the kernel has (or can load) ip_vs. */
export function hostHasIpvs(): boolean {
  if (process.getuid?.() !== 0) return false;
  if (existsSync('/proc/net/ip_vs')) return true;
  return spawnSync('modprobe', ['-q', 'ip_vs']).status === 0 && existsSync('/proc/net/ip_vs');
}

/**
 * When the host cannot run an IPVS bench, runs this same command line in the test VM and returns its
 * exit code; otherwise returns undefined and the caller runs the bench here. The guest writes only
 * where VM_RW lets it, so `outDir` (the bench's output folder, made absolute and created first) is
 * shared read-write and the results land on the host. `vmEnv` adds settings for run-in-vm.sh (e.g. VM_ICOUNT=1);
 * the caller's own environment wins, so a user can override them.
 */
export function runInVmUnlessIpvs(outDir?: string, vmEnv: Record<string, string> = {}): number | undefined {
  if (process.env.IPVS_MAGLEV_IN_VM === '1' || process.env.IPVS_MAGLEV_DIRECT === '1' || hostHasIpvs()) return undefined;
  const argv = process.argv.slice(2).filter((a, i, all) => a !== '--out' && all[i - 1] !== '--out' && !a.startsWith('--out='));
  const rw = [process.env.VM_RW].filter((d): d is string => Boolean(d));
  if (outDir !== undefined) {
    const out = resolve(outDir);
    mkdirSync(out, { recursive: true });
    argv.push('--out', out);
    rw.push(out);
  }
  process.stderr.write('this kernel has no IPVS (or this is not root): running the bench in the test VM (test/kernel/vm/run-in-vm.sh)\n');
  const r = spawnSync('bash', [join(root, 'test/kernel/vm/run-in-vm.sh'), 'node', join(root, 'bin/ipvs-maglev.mjs'), ...argv], {
    stdio: 'inherit',
    env: { ...vmEnv, ...process.env, VM_RW: rw.join(' '), VM_SLOTS: process.env.VM_SLOTS ?? '1' },
  });
  return r.status ?? 1;
}
