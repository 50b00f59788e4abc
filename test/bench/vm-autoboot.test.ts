// The benches that need IPVS boot the test VM themselves on a host without it, and bring their
// results back (bench/support/command.ts runInVmUnlessIpvs): a real VM boot with the cheapest such
// bench (conn-cost, one plane, N = 100, three connections; about a minute), its result file read on
// the host afterwards. On a host whose kernel has IPVS the bench runs directly, so there is no
// boot path to test and this is skipped.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type ConnCostResults, validateConnCost } from '../../bench/dataplane/conn-cost.ts';
import { hostHasIpvs } from '../../bench/support/command.ts';

const root = join(import.meta.dirname, '..', '..');
const canBoot = process.getuid?.() === 0 && process.env.IPVS_MAGLEV_IN_VM !== '1' && !hostHasIpvs();

describe.skipIf(!canBoot)('a bench on a host without IPVS', () => {
  const out = mkdtempSync(join(tmpdir(), 'vm-autoboot-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('boots the VM itself and its result file is on the host afterwards', () => {
    const r = spawnSync(process.execPath, ['bin/ipvs-maglev.mjs', 'bench', 'conn-cost', '--services', '100', '--planes', 'iptables', '--connections', '3', '--prefix', 'vab', '--out', out], {
      cwd: root,
      encoding: 'utf8',
      // The slot lock may queue this behind another VM run.
      timeout: 30 * 60_000,
      env: { ...process.env, VM_SLOTS: '1' },
    });
    expect(r.stderr).toContain('running the bench in the test VM');
    expect(r.status, r.stderr.slice(-2000)).toBe(0);
    const file = join(out, 'conn-cost.json');
    expect(existsSync(file), `${file} after the VM exited; stderr: ${r.stderr.slice(-1000)}`).toBe(true);
    const results = JSON.parse(readFileSync(file, 'utf8')) as ConnCostResults;
    expect(validateConnCost(results)).toEqual([]);
    // Measured in the guest: its kernel, not this host's, and with the instruction-counting clock
    // conn-cost asks run-in-vm.sh for.
    expect(results.kernel).not.toBe(release());
    expect(results.icount).toBe(true);
    expect(existsSync(join(out, 'conn-cost.md'))).toBe(true);
  }, 31 * 60_000);
});
