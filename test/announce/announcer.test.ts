import { describe, expect, it } from 'vitest';
import { Announcer, decideVips } from '../../src/announce/index.ts';
import type { AnnouncedRoute, ApplyOutcome, ServiceView, Speaker, SpeakerStatus } from '../../src/announce/index.ts';

// The announcement policy and the announcer's behaviour when the speaker misbehaves, over a fake
// speaker (the real BIRD driver: bird.test.ts).

class FakeSpeaker implements Speaker {
  readonly kind = 'bird' as const;
  applied: string[][] = [];
  refuse = false;
  emergencies = 0;
  async prepare(): Promise<void> {}
  async apply(routes: readonly AnnouncedRoute[]): Promise<ApplyOutcome> {
    if (this.refuse) return { applied: false, unchanged: false, error: 'refused by test' };
    this.applied.push(routes.map((r) => r.address));
    return { applied: true, unchanged: false };
  }
  async emergencyWithdraw(): Promise<ApplyOutcome> {
    this.emergencies++;
    return { applied: true, unchanged: false };
  }
  async status(): Promise<SpeakerStatus> {
    return { up: true, peers: [] };
  }
}

const quiet = { info() {}, warn() {}, error() {} };
const view = (over: Partial<ServiceView>): ServiceView => ({
  name: 'web', address: '192.0.2.10', family: 'inet', inKernel: true, syncError: false, healthChecked: true, availableDestinations: 2, ...over,
});

describe('which VIPs a node announces', () => {
  it('only served services count; one served service at an address is enough; fwmark services never', () => {
    const d = decideVips(
      [
        view({}),
        view({ name: 'web-tls', availableDestinations: 0 }),
        view({ name: 'api', address: '192.0.2.20', inKernel: false }),
        view({ name: 'db', address: '192.0.2.30', healthChecked: false }),
        view({ name: 'q', address: '192.0.2.40', syncError: true }),
        view({ name: 'mark', address: undefined }),
      ],
      true,
    );
    expect(d.map((x) => [x.address, x.announce])).toEqual([
      ['192.0.2.10', true],
      ['192.0.2.20', false],
      ['192.0.2.30', false],
      ['192.0.2.40', false],
    ]);
    expect(d[1].reasons).toEqual(['api: service missing from IPVS']);
    expect(d[2].reasons).toEqual(['db: health checks have not all run yet']);
    expect(decideVips([view({})], false)[0]).toMatchObject({ announce: false, reasons: ['web: node not ready'] });
  });
});

describe('Announcer', () => {
  it('a refused change that would withdraw a VIP takes every route down at once, and retries', async () => {
    const speaker = new FakeSpeaker();
    const a = new Announcer({ speaker, logger: quiet, statusIntervalMs: 20 });
    await a.update(decideVips([view({})], true));
    expect(a.announced()).toEqual(['192.0.2.10']);
    speaker.refuse = true;
    await a.update(decideVips([view({ availableDestinations: 0 })], true));
    expect(speaker.emergencies).toBe(1);
    expect(a.announced()).toEqual([]);
    speaker.refuse = false;
    a.startPolling();
    for (let i = 0; i < 100 && speaker.applied.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    await a.stop();
    expect(speaker.applied.at(-1)).toEqual([]);
  });

  it('a refused change that only adds routes does not withdraw the others', async () => {
    const speaker = new FakeSpeaker();
    const a = new Announcer({ speaker, logger: quiet });
    await a.update(decideVips([view({})], true));
    speaker.refuse = true;
    await a.update(decideVips([view({}), view({ name: 'api', address: '192.0.2.20' })], true));
    expect(speaker.emergencies).toBe(0);
    expect(a.announced()).toEqual(['192.0.2.10']);
  });

  it('after the final withdrawal nothing is announced again', async () => {
    const speaker = new FakeSpeaker();
    const a = new Announcer({ speaker, logger: quiet });
    await a.update(decideVips([view({})], true));
    await a.withdrawAll('SIGTERM', { final: true });
    await a.update(decideVips([view({})], true));
    expect(speaker.applied).toEqual([['192.0.2.10'], []]);
  });
});
