import { describe, expect, it } from 'vitest';
import { applyRestore, RestoreApplyError, type RestoreTarget } from '../../src/cli/ipvsadm/apply.ts';
import { formatSave, type ServiceWithDestinations } from '../../src/cli/ipvsadm/format.ts';
import { opsToEntries, parseRestore } from '../../src/cli/ipvsadm/parse.ts';
import { planRestore, RestoreConflictError } from '../../src/cli/ipvsadm/plan.ts';
import type { BatchResult } from '../../src/ipvs/client.ts';
import { InvalidArgument, type IpvsError } from '../../src/ipvs/errors.ts';
import { destinationKeyString, serviceKeyString } from '../../src/ipvs/keys.ts';
import type { IpvsOperation, IpvsTimeouts, ServiceKey } from '../../src/ipvs/types.ts';

// A table in memory that applies IpvsOperations like the kernel (and can be told to refuse one).
class FakeIpvs implements RestoreTarget {
  table = new Map<string, ServiceWithDestinations>();
  timeouts: IpvsTimeouts = { tcp: 900, tcpFin: 120, udp: 300 };
  refuse?: (op: IpvsOperation) => boolean;
  zeroed: Array<ServiceKey | undefined> = [];
  writes = 0;

  constructor(text = '') {
    for (const e of opsToEntries(parseRestore(text))) this.table.set(serviceKeyString(e.service.key), e);
  }

  entries(): ServiceWithDestinations[] {
    return [...this.table.values()];
  }

  private one(op: IpvsOperation): IpvsError | undefined {
    if (this.refuse?.(op)) return new InvalidArgument('refused by the test');
    this.writes++;
    const k = serviceKeyString(op.service);
    const s = this.table.get(k);
    switch (op.op) {
      case 'addService':
        if (s) return new InvalidArgument('EEXIST');
        this.table.set(k, { service: { key: op.service, config: op.config }, destinations: [] });
        return undefined;
      case 'updateService':
        if (!s) return new InvalidArgument('ESRCH');
        s.service = { key: op.service, config: op.config };
        return undefined;
      case 'deleteService':
        if (!s) return new InvalidArgument('ESRCH');
        this.table.delete(k);
        return undefined;
      default: {
        if (!s) return new InvalidArgument('ESRCH');
        const dk = destinationKeyString(op.destination);
        const i = s.destinations.findIndex((d) => destinationKeyString(d.key) === dk);
        if (op.op === 'addDestination') {
          if (i !== -1) return new InvalidArgument('EEXIST');
          s.destinations.unshift({ key: op.destination, config: op.config });
        } else if (i === -1) return new InvalidArgument('ENOENT');
        else if (op.op === 'updateDestination') s.destinations[i] = { key: op.destination, config: op.config };
        else s.destinations.splice(i, 1);
        return undefined;
      }
    }
  }

  async batch(ops: readonly IpvsOperation[]): Promise<BatchResult> {
    return ops.map((op) => this.one(op));
  }
  async zero(service?: ServiceKey): Promise<void> {
    this.zeroed.push(service);
  }
  async setTimeouts(t: IpvsTimeouts): Promise<void> {
    this.timeouts = { tcp: t.tcp || this.timeouts.tcp, tcpFin: t.tcpFin || this.timeouts.tcpFin, udp: t.udp || this.timeouts.udp };
  }
}

const BASE = `-A -t 10.0.0.1:80 -s rr
-a -t 10.0.0.1:80 -r 10.1.0.1:80 -m -w 1
-a -t 10.0.0.1:80 -r 10.1.0.2:80 -m -w 2
-A -u 10.0.0.1:53 -s wlc
-a -u 10.0.0.1:53 -r 10.1.0.1:53 -m -w 1
`;

async function restore(fake: FakeIpvs, text: string): Promise<number> {
  return applyRestore(fake, planRestore(parseRestore(text), fake.entries(), fake.timeouts));
}

describe('planRestore', () => {
  const conflicts: [string, RegExp][] = [
    ['-A -t 10.0.0.1:80 -s rr', /line 1: service tcp 10.0.0.1:80 already exists/],
    ['-E -t 10.9.9.9:80 -s rr', /line 1: no such service tcp 10.9.9.9:80/],
    ['-D -t 10.9.9.9:80', /no such service/],
    ['-a -t 10.9.9.9:80 -r 10.1.0.1 -m', /no such service tcp 10.9.9.9:80/],
    ['-a -t 10.0.0.1:80 -r 10.1.0.1:80 -m', /destination 10.1.0.1:80 of tcp 10.0.0.1:80 already exists/],
    ['-e -t 10.0.0.1:80 -r 10.1.0.9:80 -m', /no such destination 10.1.0.9:80/],
    ['-d -t 10.0.0.1:80 -r 10.1.0.9:80', /no such destination/],
    ['-a -t 10.0.0.1:80 -r 10.1.0.9:80 -m -x 5 -y 6', /lower threshold 6 is above upper threshold 5/],
    ['-Z -t 10.9.9.9:80', /no such service/],
    ['-D -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.1.0.7 -m', /line 2: no such service tcp 10.0.0.1:80/],
    ['-C\n-E -u 10.0.0.1:53', /line 2: no such service udp 10.0.0.1:53/],
  ];
  for (const [text, re] of conflicts) {
    it(`refuses ${JSON.stringify(text)} before applying anything`, () => {
      const fake = new FakeIpvs(BASE);
      expect(() => planRestore(parseRestore(text), fake.entries(), fake.timeouts)).toThrow(RestoreConflictError);
      expect(() => planRestore(parseRestore(text), fake.entries(), fake.timeouts)).toThrow(re);
      expect(fake.writes).toBe(0);
    });
  }

  it('follows the file: a service deleted then added again is fine', () => {
    const fake = new FakeIpvs(BASE);
    const steps = planRestore(parseRestore('-D -t 10.0.0.1:80\n-A -t 10.0.0.1:80 -s mh\n-a -t 10.0.0.1:80 -r 10.1.0.1 -m\n'), fake.entries(), fake.timeouts);
    expect(steps.map((s) => (s.kind === 'write' ? s.op.op : s.kind))).toEqual(['deleteService', 'addService', 'addDestination']);
  });
});

describe('applyRestore', () => {
  it('applies everything in order', async () => {
    const fake = new FakeIpvs(BASE);
    const n = await restore(fake, '-C\n-A -f 7 -s rr\n-a -f 7 -r 10.1.0.5:0 -g\n--set 60 0 0\n-Z\n');
    expect(n).toBe(2 + 2 + 1 + 1);
    expect(formatSave(fake.entries())).toBe('-A -f 7 -s rr\n-a -f 7 -r 10.1.0.5:0 -g -w 1\n');
    expect(fake.timeouts).toEqual({ tcp: 60, tcpFin: 120, udp: 300 });
    expect(fake.zeroed).toEqual([undefined]);
  });

  it('rolls back every applied step when the kernel refuses one, leaving the table as it was', async () => {
    const fake = new FakeIpvs(BASE);
    const before = formatSave(fake.entries());
    fake.refuse = (op) => op.op === 'addService' && op.service.kind === 'addr' && op.service.address === '10.5.5.5';
    const text = [
      '-A -t 10.4.4.4:80 -s rr',
      '-a -t 10.4.4.4:80 -r 10.1.0.1 -m',
      '-D -t 10.0.0.1:80',
      '-e -u 10.0.0.1:53 -r 10.1.0.1:53 -m -w 9',
      '-E -u 10.0.0.1:53 -s sh',
      '--set 1 2 3',
      '-A -t 10.5.5.5:80 -s rr',
      '-a -t 10.5.5.5:80 -r 10.1.0.1 -m',
    ].join('\n');
    const err = await restore(fake, text).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RestoreApplyError);
    expect((err as RestoreApplyError).line).toBe(7);
    expect((err as RestoreApplyError).rollbackFailures).toBe(0);
    expect((err as Error).message).toMatch(/^line 7: the kernel refused it: refused by the test; nothing applied \(6 operations rolled back\)/);
    fake.refuse = undefined;
    expect(formatSave(fake.entries())).toBe(before);
    expect(fake.timeouts).toEqual({ tcp: 900, tcpFin: 120, udp: 300 });
  });

  it('rolls back a flush by re-adding services and destinations', async () => {
    const fake = new FakeIpvs(BASE);
    const before = formatSave(fake.entries());
    fake.refuse = (op) => op.op === 'addService' && op.service.kind === 'fwmark';
    await expect(restore(fake, '-C\n-A -f 1 -s rr\n')).rejects.toThrow(/line 2: .*nothing applied \(2 operations rolled back\)/);
    fake.refuse = undefined;
    expect(formatSave(fake.entries())).toBe(before);
  });

  it('says so when the rollback itself fails', async () => {
    const fake = new FakeIpvs(BASE);
    fake.refuse = (op) => op.op === 'addService' || op.op === 'deleteService';
    const err = (await restore(fake, '-a -t 10.0.0.1:80 -r 10.1.0.3 -m\n-A -t 10.6.6.6:80\n').catch((e: unknown) => e)) as RestoreApplyError;
    expect(err.rollbackFailures).toBe(0);
    fake.refuse = (op) => op.op === 'addService' || op.op === 'deleteDestination';
    const err2 = (await restore(fake, '-a -t 10.0.0.1:80 -r 10.1.0.4 -m\n-A -t 10.6.6.6:80\n').catch((e: unknown) => e)) as RestoreApplyError;
    expect(err2.rollbackFailures).toBe(1);
    expect(err2.message).toMatch(/ROLLBACK INCOMPLETE: 1 undo operation\(s\) failed/);
  });
});

// Failure injection for the gaps of "all or nothing": a batch that fails as a whole after some of its writes
// landed, undo operations that fail, and -Z, which cannot be undone.
class FlakyIpvs extends FakeIpvs {
  /** Writes that go through before the next batch throws (a dying socket), once. */
  dieAfter: number | undefined;
  readFails = false;
  override async batch(ops: readonly IpvsOperation[]): Promise<BatchResult> {
    if (this.dieAfter !== undefined) {
      const n = this.dieAfter;
      this.dieAfter = undefined;
      await super.batch(ops.slice(0, n));
      throw new Error('netlink socket: connection reset');
    }
    return super.batch(ops);
  }
  async readTable(): Promise<ServiceWithDestinations[]> {
    if (this.readFails) throw new Error('netlink socket: connection reset');
    return structuredClone(this.entries());
  }
}

async function restoreWithTable(fake: FlakyIpvs, text: string): Promise<number> {
  const before = structuredClone(fake.entries());
  return applyRestore(fake, planRestore(parseRestore(text), fake.entries(), fake.timeouts), before);
}

const CHANGES = ['-A -t 10.4.4.4:80 -s rr', '-a -t 10.4.4.4:80 -r 10.1.0.1 -m', '-D -u 10.0.0.1:53', '-e -t 10.0.0.1:80 -r 10.1.0.2:80 -m -w 7', '--set 1 2 3', '-A -t 10.5.5.5:80 -s rr'].join('\n');

describe('applyRestore: failures whose effect is unknown', () => {
  it('a batch that dies part-way is rolled back by comparing the table with its state before', async () => {
    const fake = new FlakyIpvs(BASE);
    const before = formatSave(fake.entries());
    fake.dieAfter = 3; // three writes of the batch land, then the socket dies
    const err = (await restoreWithTable(fake, CHANGES).catch((e: unknown) => e)) as RestoreApplyError;
    expect(err).toBeInstanceOf(RestoreApplyError);
    expect(err.rollbackFailures).toBe(0);
    expect(err.message).toMatch(/^line 1: the kernel connection failed: netlink socket: connection reset; nothing applied \(the table was put back by comparison: 3 write\(s\) after reading the table back\)$/);
    expect(formatSave(fake.entries())).toBe(before);
  });

  it('when the table cannot be read back either, it says the table may be partly changed', async () => {
    const fake = new FlakyIpvs(BASE);
    fake.dieAfter = 2;
    fake.readFails = true;
    const err = (await restoreWithTable(fake, CHANGES).catch((e: unknown) => e)) as RestoreApplyError;
    expect(err.rollbackFailures).toBe(-1);
    expect(err.message).toContain('the table may be partly changed (the table could not be read back or repaired: netlink socket: connection reset): check it with ipvs-maglev list');
  });

  it('a later batch dying undoes the timeouts set before it too', async () => {
    const fake = new FlakyIpvs(BASE);
    const text = '--set 1 2 3\n-A -t 10.4.4.4:80 -s rr\n-a -t 10.4.4.4:80 -r 10.1.0.1 -m\n';
    fake.dieAfter = 1;
    await expect(restoreWithTable(fake, text)).rejects.toThrow(/nothing applied \(the table was put back by comparison/);
    expect(fake.timeouts).toEqual({ tcp: 900, tcpFin: 120, udp: 300 });
    expect(formatSave(fake.entries())).toBe(formatSave(new FakeIpvs(BASE).entries()));
  });

  it('an undo that fails is repaired by comparison', async () => {
    const fake = new FlakyIpvs(BASE);
    const before = formatSave(fake.entries());
    let refusedUndo = false;
    // The new service is refused; the undo of the edited destination (an update) is refused once.
    fake.refuse = (op) => {
      if (op.op === 'addService' && op.service.kind === 'addr' && op.service.address === '10.5.5.5') return true;
      if (op.op === 'updateDestination' && op.config.weight === 2 && !refusedUndo) {
        refusedUndo = true;
        return true;
      }
      return false;
    };
    const err = (await restoreWithTable(fake, CHANGES).catch((e: unknown) => e)) as RestoreApplyError;
    expect(err.line).toBe(6);
    expect(err.rollbackFailures).toBe(0);
    expect(err.message).toMatch(/nothing applied \(1 undo operation\(s\) failed, first: refused by the test; the table was put back by comparison: 1 write\(s\) after reading the table back\)/);
    fake.refuse = undefined;
    expect(formatSave(fake.entries())).toBe(before);
  });
});

describe('applyRestore: -Z cannot be undone, so it runs last', () => {
  it('a restore that rolls back has zeroed nothing', async () => {
    const fake = new FakeIpvs(BASE);
    fake.refuse = (op) => op.op === 'addService';
    await expect(restore(fake, '-Z\n-Z -t 10.0.0.1:80\n-A -t 10.7.7.7:80 -s rr\n')).rejects.toThrow(/line 3: .*nothing applied/);
    expect(fake.zeroed).toEqual([]);
  });

  it('zero steps come after every write, and a service deleted later in the file is not zeroed', () => {
    const fake = new FakeIpvs(BASE);
    const steps = planRestore(parseRestore('-Z -t 10.0.0.1:80\n-Z -u 10.0.0.1:53\n-D -u 10.0.0.1:53\n-A -t 10.8.8.8:80 -s rr\n'), fake.entries(), fake.timeouts);
    expect(steps.map((s) => (s.kind === 'write' ? s.op.op : `${s.kind} line ${s.line}`))).toEqual(['deleteService', 'addService', 'zero line 1']);
  });
});
