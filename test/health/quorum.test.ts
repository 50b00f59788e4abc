import { describe, expect, it } from 'vitest';
import { QuorumTracker } from '../../src/health/index.ts';
import type { QuorumChange, QuorumPolicy } from '../../src/health/index.ts';
import type { DesiredDestination, DesiredService, DesiredState } from '../../src/model/index.ts';

// Quorum with hysteresis and the sorry server, on desired states as health leaves them (a failed
// backend at weight 0). The kernel side (real traffic reaching the sorry server): test/kernel/health.test.ts.

const key = { kind: 'addr', family: 'inet', protocol: 'tcp', address: '192.0.2.10', port: 80 } as const;
const dest = (i: number, weight = 1): DesiredDestination => ({
  key: { family: 'inet', address: `10.0.0.${i}`, port: 80 },
  config: { forwarding: 'masq', weight, upperThreshold: 0, lowerThreshold: 0 },
});
const sorry = dest(99);

/** A service of four backends, `up` of them healthy (the others at weight 0, as applyHealth leaves them). */
function state(up: number): DesiredState {
  const svc: DesiredService = {
    key,
    name: 'web',
    config: { scheduler: 'mh', flags: { portHash: true, fallback: true }, timeout: 0, netmask: '255.255.255.255' },
    bindAddress: true,
    destinations: [1, 2, 3, 4].map((i) => dest(i, i <= up ? 1 : 0)),
  };
  return { services: [svc] };
}

function tracker(policy: Partial<QuorumPolicy>): { q: QuorumTracker; changes: QuorumChange[] } {
  const changes: QuorumChange[] = [];
  const q = new QuorumTracker({ onChange: (c) => changes.push(c) });
  q.setPolicies([{ service: key, serviceName: 'web', quorum: 1, hysteresis: 0, ...policy }]);
  return { q, changes };
}

describe('QuorumTracker', () => {
  it('flapping around the threshold: lost below quorum, regained only at quorum + hysteresis, each change reported once', () => {
    const { q, changes } = tracker({ quorum: 3, hysteresis: 1 });
    const verdicts: boolean[] = [];
    // Healthy backends over time: a backend flaps between 2 and 3 up, then a fourth comes back.
    for (const up of [4, 3, 2, 3, 2, 3, 2, 3, 4, 3, 4, 3, 2]) {
      q.apply(state(up));
      q.apply(state(up)); // asking twice changes nothing
      verdicts.push(!q.isDown('tcp 192.0.2.10:80'));
    }
    expect(verdicts).toEqual([true, true, false, false, false, false, false, false, true, true, true, true, false]);
    expect(changes.map((c) => [c.up, c.availableWeight])).toEqual([
      [false, 2],
      [true, 4],
      [false, 2],
    ]);
    expect(changes[0].reason).toBe('available weight 2 < quorum 3');
    expect(changes[1].reason).toBe('available weight 4 >= quorum 3 + hysteresis 1');
    // Without hysteresis the same flapping would have flapped the service 7 times.
    const plain = tracker({ quorum: 3 });
    for (const up of [4, 3, 2, 3, 2, 3, 2, 3, 4, 3, 4, 3, 2]) plain.q.apply(state(up));
    expect(plain.changes).toHaveLength(7);
  });

  it('the sorry server takes new connections while quorum is lost (real ones at weight 0) and leaves when it is back', () => {
    const { q, changes } = tracker({ quorum: 2, hysteresis: 1, sorryServer: sorry });
    const healthy = state(4);
    expect(q.apply(healthy)).toBe(healthy); // nothing to change: the same object

    const down = q.apply(state(1)).services[0];
    expect(down.destinations.map((d) => [d.key.address, d.config.weight])).toEqual([
      ['10.0.0.1', 0],
      ['10.0.0.2', 0],
      ['10.0.0.3', 0],
      ['10.0.0.4', 0],
      ['10.0.0.99', 1],
    ]);
    expect(changes.at(-1)).toMatchObject({ up: false, sorryServer: true });
    expect(q.status()).toEqual([expect.objectContaining({ up: false, availableWeight: 1, sorryServerActive: true })]);
    expect(q.downReason('tcp 192.0.2.10:80')).toBe('quorum lost (available weight 1, needs 3 to come back)');

    // Two backends are back: quorum (2) is met but not quorum + hysteresis (3): still the sorry server.
    expect(q.apply(state(2)).services[0].destinations.at(-1)?.key.address).toBe('10.0.0.99');
    // Three: the real destinations get their weights back and the sorry server is left out (drained).
    const up = q.apply(state(3)).services[0];
    expect(up.destinations.map((d) => [d.key.address, d.config.weight])).toEqual([
      ['10.0.0.1', 1],
      ['10.0.0.2', 1],
      ['10.0.0.3', 1],
      ['10.0.0.4', 0],
    ]);
    expect(changes.map((c) => c.up)).toEqual([false, true]);
    expect(q.status()[0].sorryServerActive).toBe(false);
  });

  it('default quorum 1: the sorry server serves exactly while no real destination is available', () => {
    const { q } = tracker({ sorryServer: sorry });
    expect(q.apply(state(1)).services[0].destinations).toHaveLength(4);
    expect(q.apply(state(0)).services[0].destinations.map((d) => d.config.weight)).toEqual([0, 0, 0, 0, 1]);
    expect(q.apply(state(1)).services[0].destinations).toHaveLength(4);
  });

  it('without a sorry server, losing quorum changes no destination (only the verdict: logs, metrics, announcement)', () => {
    const { q, changes } = tracker({ quorum: 3 });
    const short = state(2);
    expect(q.apply(short)).toBe(short);
    expect(changes).toEqual([expect.objectContaining({ up: false, sorryServer: false })]);
  });

  it('a service that starts short is reported; a reload keeps verdicts of kept services and forgets removed ones', () => {
    const { q, changes } = tracker({ quorum: 5 });
    q.apply(state(4));
    expect(changes).toEqual([expect.objectContaining({ up: false, availableWeight: 4, reason: 'available weight 4 < quorum 5' })]);
    // Reload with a lower quorum: still down until the new quorum + hysteresis is met.
    q.setPolicies([{ service: key, serviceName: 'web', quorum: 3, hysteresis: 2 }]);
    q.apply(state(4));
    expect(q.isDown('tcp 192.0.2.10:80')).toBe(true);
    q.setPolicies([]);
    expect(q.status()).toEqual([]);
    const s = state(0);
    expect(q.apply(s)).toBe(s);
  });
});
