import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { auditExitCode, auditSources, type AuditSource, formatAudit } from '../../src/cli/commands/audit.ts';
import { inAdditionOrder } from '../../src/cli/commands/save.ts';
import { formatSave, type ServiceWithDestinations } from '../../src/cli/ipvsadm/format.ts';
import { opsToEntries, parseRestore } from '../../src/cli/ipvsadm/parse.ts';
import { dest, flags, svc } from './ipvsadm-fixtures.ts';

const WEB = { kind: 'addr' as const, family: 'inet' as const, protocol: 'tcp' as const, address: '10.0.0.1', port: 80 };
const DNS = { ...WEB, protocol: 'udp' as const, port: 53 };
/** A node's table, destinations given in the kernel's list order (head first), as a dump returns them. */
const dumped = (order: number[], over: { scheduler?: string; fallback?: boolean; weights?: Record<number, number> } = {}): ServiceWithDestinations => ({
  service: svc(WEB, { scheduler: over.scheduler ?? 'mh', flags: flags({ portHash: true, fallback: over.fallback ?? false }) }),
  destinations: order.map((i) => dest(`10.1.0.${i}`, 8080, { weight: over.weights?.[i] ?? 1 })),
});
const node = (name: string, ...services: ServiceWithDestinations[]): AuditSource => ({ name, services: inAdditionOrder(services) });

describe('save --kernel-order', () => {
  it('restoring the file, one add after the other, rebuilds the kernel lists in the same order', () => {
    const table = [dumped([5, 8, 7, 6, 4, 3, 2, 1])];
    const text = formatSave(inAdditionOrder(table), { noSort: true });
    const rebuilt: string[] = [];
    for (const d of opsToEntries(parseRestore(text))[0].destinations) rebuilt.unshift(d.key.address); // head insertion
    expect(rebuilt).toEqual(table[0].destinations.map((d) => d.key.address));
  });
});

describe('auditSources', () => {
  it('0% for the same order, the issue measurement for two histories, and the exit codes', () => {
    const agree = auditSources([node('a', dumped([8, 7, 6, 5, 4, 3, 2, 1])), node('b', dumped([8, 7, 6, 5, 4, 3, 2, 1]))]);
    expect(agree.services[0]).toMatchObject({ status: 'agree' });
    expect(auditExitCode(agree)).toBe(0);
    // The orders the VM showed for two nodes with different histories (issue 12).
    const differ = auditSources([node('a', dumped([5, 8, 7, 6, 4, 3, 2, 1])), node('b', dumped([2, 8, 7, 6, 5, 4, 3, 1]))]);
    const s = differ.services[0];
    expect(s.status).toBe('differ');
    if (s.status !== 'differ') return;
    expect(s.agreement.exact).toBe(true);
    expect(s.agreement.differentFraction).toBeGreaterThan(0.0005);
    expect(s.agreement.differentFraction).toBeLessThan(0.01);
    expect(auditExitCode(differ)).toBe(1);
    expect(formatAudit(differ)).toMatch(/tcp 10\.0\.0\.1:80: 0\.\d\d% of flows land on different backends \(exact: \d+ of 4093 slots differ\)/);
  });

  it('a service missing on a node, different schedulers or flags are errors (exit 2); non-mh services are skipped', () => {
    const dns: ServiceWithDestinations = { service: svc(DNS, { scheduler: 'rr' }), destinations: [dest('10.1.0.1', 53)] };
    const r = auditSources([node('a', dumped([2, 1]), dns), node('b', dumped([2, 1]), dns), node('c', dumped([2, 1]))]);
    expect(r.services.find((s) => s.service === 'udp 10.0.0.1:53')).toMatchObject({ status: 'error', reason: 'only in a, b; missing in c' });
    expect(auditExitCode(r)).toBe(2);
    const sched = auditSources([node('a', dumped([2, 1])), node('b', dumped([2, 1], { scheduler: 'wrr' }))]);
    expect(sched.services[0]).toMatchObject({ status: 'error', reason: 'different schedulers: mh in a, wrr in b' });
    const fl = auditSources([node('a', dumped([2, 1])), node('b', dumped([2, 1], { fallback: true }))]);
    expect(fl.services[0]).toMatchObject({ status: 'error', reason: 'different mh flags: [mh-port] in a, [mh-port,mh-fallback] in b' });
    const rr = auditSources([node('a', dns), node('b', dns)]);
    expect(rr.services[0].status).toBe('skipped');
    expect(auditExitCode(rr)).toBe(0);
  });

  it('a destination at weight 0 (draining) with the same list on every node agrees; its flows are sampled when lists differ', () => {
    const drained = { fallback: true, weights: { 2: 0 } };
    const same = auditSources([node('a', dumped([3, 2, 1], drained)), node('b', dumped([3, 2, 1], drained))]);
    expect(same.services[0]).toMatchObject({ status: 'agree', assumedLastWeights: 2 });
    const other = auditSources([node('a', dumped([3, 2, 1], drained)), node('b', dumped([2, 3, 1], drained))]);
    const s = other.services[0];
    expect(s.status).toBe('differ');
    if (s.status === 'differ') expect(s.agreement.fallbackSampled).toBeGreaterThan(1000);
  });
});

describe('ipvs-maglev audit (the binary)', () => {
  const BIN = join(import.meta.dirname, '../../bin/ipvs-maglev.mjs');
  const dir = mkdtempSync(join(tmpdir(), 'audit-cli-'));
  const cli = (args: string[]) => {
    const r = spawnSync(process.execPath, [BIN, 'audit', ...args], { encoding: 'utf8', timeout: 120_000, cwd: dir });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const save = (name: string, order: number[]): string => {
    writeFileSync(join(dir, name), formatSave(inAdditionOrder([dumped(order)]), { noSort: true }));
    return name;
  };

  it('exit 0 / 1 / 2 with text and JSON; clear errors for bad input', () => {
    const a = save('a.save', [8, 7, 6, 5, 4, 3, 2, 1]);
    const b = save('b.save', [8, 7, 6, 5, 4, 3, 2, 1]);
    const c = save('c.save', [5, 8, 7, 6, 4, 3, 2, 1]);
    expect(cli([a, b])).toMatchObject({ code: 0, stderr: '' });
    expect(cli([a, b]).stdout).toContain('tcp 10.0.0.1:80: 0% of flows land on different backends (exact: 0 of 4093 slots differ)');
    const differ = cli(['--json', a, b, c]);
    expect(differ.code).toBe(1);
    const report = JSON.parse(differ.stdout);
    expect(report.sources).toEqual(['a.save', 'b.save', 'c.save']);
    expect(report.services[0].status).toBe('differ');
    expect(report.services[0].agreement.slotsDiffer).toBeGreaterThan(0);

    writeFileSync(join(dir, 'garbage'), 'hello world\n');
    expect(cli([a, 'garbage'])).toMatchObject({ code: 2, stdout: '' });
    expect(cli([a, 'garbage']).stderr).toMatch(/^ipvs-maglev: audit: garbage: line 1: /);
    expect(cli([a, 'missing.save']).stderr).toBe('ipvs-maglev: audit: cannot read missing.save: no such file\n');
    expect(cli([a]).stderr).toBe("ipvs-maglev: audit: needs at least two nodes' tables (files, --netns NAME, --local); got 1\n");
    const big = cli([a, '/dev/zero', '--max-input-size', '1MiB']);
    expect(big.code).toBe(2);
    expect(big.stderr).toContain('/dev/zero is larger than the limit of 1 MiB; raise it with --max-input-size');
    expect(cli([a, b, '--table-size', '1000']).code).not.toBe(0);
  }, 300_000);
});
