import { Counter, Gauge, type Registry } from 'prom-client';
import type { SpeakerStatus } from './types.ts';

// What an operator watches on a scale-out node: which VIPs it announces, whether the speaker answers,
// whether each BGP session is established, and how route changes went.

const PREFIX = 'ipvs_maglev_';

export class AnnounceMetrics {
  private readonly vip: Gauge<'vip'>;
  private readonly announced: Gauge;
  private readonly speakerUp: Gauge<'speaker'>;
  private readonly peer: Gauge<'peer'>;
  private readonly applies: Counter<'outcome'>;
  private readonly knownVips = new Set<string>();
  private readonly knownPeers = new Set<string>();
  private readonly speaker: string;

  constructor(registry: Registry, speaker: string) {
    this.speaker = speaker;
    const registers = [registry];
    this.vip = new Gauge({ name: `${PREFIX}vip_announced`, help: '1 while this node announces the VIP to its BGP peers, else 0', labelNames: ['vip'], registers });
    this.announced = new Gauge({ name: `${PREFIX}announced_vips`, help: 'VIPs this node announces now', registers });
    this.speakerUp = new Gauge({ name: `${PREFIX}bgp_speaker_up`, help: '1 when the BGP speaker answered its last status query', labelNames: ['speaker'], registers });
    this.peer = new Gauge({ name: `${PREFIX}bgp_session_established`, help: '1 while the BGP session with the peer is Established', labelNames: ['peer'], registers });
    this.applies = new Counter({ name: `${PREFIX}announce_applies_total`, help: 'route changes handed to the speaker, by outcome', labelNames: ['outcome'], registers });
  }

  setAnnounced(all: readonly string[], announced: ReadonlySet<string>): void {
    for (const v of all) this.knownVips.add(v);
    for (const v of this.knownVips) this.vip.set({ vip: v }, announced.has(v) ? 1 : 0);
    this.announced.set(announced.size);
  }

  recordApply(outcome: 'applied' | 'unchanged' | 'refused' | 'emergency_withdraw'): void {
    this.applies.inc({ outcome });
  }

  setStatus(s: SpeakerStatus): void {
    this.speakerUp.set({ speaker: this.speaker }, s.up ? 1 : 0);
    const seen = new Set(s.peers.map((p) => p.name));
    for (const p of s.peers) {
      this.knownPeers.add(p.name);
      this.peer.set({ peer: p.name }, p.established ? 1 : 0);
    }
    for (const name of this.knownPeers) if (!seen.has(name)) this.peer.set({ peer: name }, 0);
  }
}
