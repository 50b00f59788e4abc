import { describe, expect, it } from 'vitest';
import { FwdMethod, SvcFlag, TunType } from '../../src/ipvs/schema.ts';
import type { ServiceFlags } from '../../src/ipvs/types.ts';
import { FORWARDING_METHODS, SCHEDULER_FLAG_NAMES, TUNNEL_TYPES, flagBits, flagsFromBits, schedulerFlagNames } from '../../src/ipvs/vocabulary.ts';

describe('the IPVS vocabulary: one table per concept', () => {
  it('flags encode and decode through the same list: every combination of the five bits round-trips', () => {
    const fields: (keyof ServiceFlags)[] = ['persistent', 'onePacket', 'fallback', 'portHash', 'sched3'];
    for (let mask = 0; mask < 32; mask++) {
      const flags: ServiceFlags = {};
      fields.forEach((f, i) => {
        if (mask & (1 << i)) flags[f] = true;
      });
      expect(flagsFromBits(flagBits(flags))).toEqual(flags);
    }
    expect(flagBits({ fallback: true, portHash: true })).toBe(SvcFlag.SCHED1 | SvcFlag.SCHED2);
    expect(flagsFromBits(SvcFlag.HASHED)).toEqual({}); // a kernel-internal bit is not a user flag
  });

  it('forwarding methods and tunnel types are indexed by the kernel numbers', () => {
    for (const [name, n] of Object.entries(FwdMethod)) expect(FORWARDING_METHODS[n]).toBe(name);
    for (const [name, n] of Object.entries(TunType)) expect(TUNNEL_TYPES[n]).toBe(name);
  });

  it('scheduler flag names as ipvsadm prints them, per scheduler', () => {
    const all: ServiceFlags = { fallback: true, portHash: true, sched3: true };
    expect(schedulerFlagNames('mh', all)).toEqual(['mh-fallback', 'mh-port']);
    expect(schedulerFlagNames('sh', { portHash: true })).toEqual(['sh-port']);
    expect(schedulerFlagNames('rr', all)).toEqual(['flag-1', 'flag-2', 'flag-3']);
    // Every named flag sets exactly the field that decodes back to its own name.
    for (const n of SCHEDULER_FLAG_NAMES) expect(schedulerFlagNames(n.scheduler ?? 'rr', { [n.field]: true })).toEqual([n.name]);
  });
});
