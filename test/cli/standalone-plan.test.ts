import { describe, expect, it } from 'vitest';
import { formatPlan, readOnlyVips } from '../../src/cli/commands/plan.ts';
import { Reconciler, MemoryStateStore } from '../../src/reconcile/index.ts';
import { parseConfig } from '../../src/sources/file/index.ts';
import { MemoryIpvs, MemoryVips } from '../../src/testing/memory-ipvs.ts';

// `plan` is a dry run: it reads, plans and prints; the in-memory kernel and VIP interface stay untouched.

const yaml = (backends: string[]): string =>
  ['services:', '  - name: web', '    address: 192.0.2.10', '    port: 80', '    destinations:', ...backends.map((b) => `      - { address: ${b}, port: 8080 }`), ''].join('\n');

describe('plan (dry run)', () => {
  it('prints the operations in apply order and the flow-move share, and writes nothing', async () => {
    const ipvs = new MemoryIpvs();
    const vips = new MemoryVips();
    const store = new MemoryStateStore();
    // First bring the kernel to four backends, as `run` would have.
    const live = new Reconciler({ ipvs, vips, store });
    await live.resync(parseConfig(yaml(['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4'])).desired);
    // 10.0.0.4 carries connections, so removing it starts a drain rather than an immediate delete.
    ipvs.setConnections({ kind: 'addr', family: 'inet', protocol: 'tcp', address: '192.0.2.10', port: 80 }, { family: 'inet', address: '10.0.0.4', port: 8080 }, 3);
    ipvs.resetCalls();
    const vipCalls = vips.calls;
    const saves = store.saves;

    const dry = new Reconciler({ ipvs, vips: readOnlyVips(vips), store });
    const plan = await dry.preview(parseConfig(yaml(['10.0.0.1', '10.0.0.2', '10.0.0.3'])).desired);
    const text = formatPlan(plan, 'ipvs0');
    expect(text).toMatch(/^1 operation \(in the order run would apply them\):\n {2}~ destination web -> 10\.0\.0\.4:8080 drain/);
    expect(text).toMatch(/Flows moved, per mh service .*\n {2}web \(tcp 192\.0\.2\.10:80\): \d+\.\d% of flows move; the least any consistent hash could move: \d+\.\d%/);
    expect(ipvs.writes()).toBe(0);
    expect(store.saves).toBe(saves);
    expect(vips.calls - vipCalls).toBeLessThanOrEqual(1); // one listAddresses, no ensureInterface/add/remove
  });

  it('says so when there is nothing to do', async () => {
    const ipvs = new MemoryIpvs();
    const vips = new MemoryVips();
    const store = new MemoryStateStore();
    const desired = parseConfig(yaml(['10.0.0.1'])).desired;
    await new Reconciler({ ipvs, vips, store }).resync(desired);
    const plan = await new Reconciler({ ipvs, vips: readOnlyVips(vips), store }).preview(desired);
    expect(formatPlan(plan, 'ipvs0')).toBe('No changes: the kernel already matches the configuration.\n');
  });

  it('a read-only VIP binder refuses to write', async () => {
    const ro = readOnlyVips(new MemoryVips());
    await expect(ro.addAddress('192.0.2.1')).rejects.toThrow(/dry run/);
    await expect(ro.removeAddress('192.0.2.1')).rejects.toThrow(/dry run/);
  });
});
