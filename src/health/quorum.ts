import { serviceKeyString } from '../ipvs/keys.ts';
import type { DesiredService, DesiredState } from '../model/types.ts';
import type { QuorumPolicy } from './types.ts';

// Quorum per service, as keepalived's checker does it: the available weight is the sum of the weights of
// the destinations still in service after health checks (a failed one is at weight 0 or left out). The
// verdict has memory (a Schmitt trigger): up -> down below `quorum`, down -> up only at `quorum +
// hysteresis`, so a backend flapping at the threshold does not flap the service, its sorry server or
// its announcement. For one input the verdict is stable, so applying the same state twice changes
// nothing: callers may ask for the desired state as often as they like.
//
// While a service is down and has a sorry server, its real destinations go to weight 0 and the sorry
// server is added. Weight 0, not removal (keepalived removes them): established connections to backends
// still alive carry on, mh keeps their table slots (last-weight rule), so when quorum comes back the
// weights return and no flow of the real backends moves; only the sorry server is drained away.

export interface QuorumChange {
  policy: QuorumPolicy;
  /** The new verdict. */
  up: boolean;
  availableWeight: number;
  /** The sorry server takes new connections from now on (down), or no longer (up). */
  sorryServer: boolean;
  /** In words for the log, e.g. "available weight 2 < quorum 3". */
  reason: string;
}

export interface QuorumStatus {
  policy: QuorumPolicy;
  up: boolean;
  availableWeight: number;
  sorryServerActive: boolean;
}

interface Verdict {
  policy: QuorumPolicy;
  up: boolean;
  availableWeight: number;
}

/** Sum of the weights of the destinations that take new connections. */
export function availableWeight(svc: DesiredService): number {
  let sum = 0;
  for (const d of svc.destinations) sum += d.config.weight;
  return sum;
}

export class QuorumTracker {
  private policies = new Map<string, QuorumPolicy>();
  private readonly verdicts = new Map<string, Verdict>();
  private readonly onChange: (change: QuorumChange) => void;

  constructor(options: { onChange: (change: QuorumChange) => void }) {
    this.onChange = options.onChange;
  }

  /** On start and on every reload. A service that keeps its key keeps its verdict (thresholds may change). */
  setPolicies(policies: readonly QuorumPolicy[]): void {
    this.policies = new Map(policies.map((p) => [serviceKeyString(p.service), p]));
    for (const id of [...this.verdicts.keys()]) if (!this.policies.has(id)) this.verdicts.delete(id);
    for (const [id, v] of this.verdicts) v.policy = this.policies.get(id) ?? v.policy;
  }

  /** The desired state (health already applied) with the verdicts brought up to date and sorry servers in. */
  apply(desired: DesiredState): DesiredState {
    if (this.policies.size === 0) return desired;
    let changed = false;
    const services = desired.services.map((svc) => {
      const id = serviceKeyString(svc.key);
      const policy = this.policies.get(id);
      if (policy === undefined) return svc;
      const up = this.judge(id, policy, availableWeight(svc));
      if (up || policy.sorryServer === undefined) return svc;
      changed = true;
      return {
        ...svc,
        destinations: [...svc.destinations.map((d) => (d.config.weight === 0 ? d : { key: d.key, config: { ...d.config, weight: 0 } })), policy.sorryServer],
      };
    });
    return changed ? { services } : desired;
  }

  /** Whether the service (by serviceKeyString) lost its quorum at the last apply. */
  isDown(serviceId: string): boolean {
    return this.verdicts.get(serviceId)?.up === false;
  }

  /** Why a service is down, for the announcement log; undefined while up or without a policy. */
  downReason(serviceId: string): string | undefined {
    const v = this.verdicts.get(serviceId);
    if (v === undefined || v.up) return undefined;
    return `quorum lost (available weight ${v.availableWeight}, needs ${v.policy.quorum + v.policy.hysteresis} to come back)`;
  }

  status(): QuorumStatus[] {
    return [...this.verdicts.values()].map((v) => ({
      policy: v.policy,
      up: v.up,
      availableWeight: v.availableWeight,
      sorryServerActive: !v.up && v.policy.sorryServer !== undefined,
    }));
  }

  private judge(id: string, policy: QuorumPolicy, weight: number): boolean {
    const { quorum, hysteresis } = policy;
    const v = this.verdicts.get(id);
    if (v === undefined) {
      // A new service is judged without hysteresis; only a service that starts short is reported.
      const up = weight >= quorum;
      this.verdicts.set(id, { policy, up, availableWeight: weight });
      if (!up) this.report(policy, false, weight, `available weight ${weight} < quorum ${quorum}`);
      return up;
    }
    v.availableWeight = weight;
    if (v.up && weight < quorum) {
      v.up = false;
      this.report(policy, false, weight, `available weight ${weight} < quorum ${quorum}`);
    } else if (!v.up && weight >= quorum + hysteresis) {
      v.up = true;
      this.report(policy, true, weight, `available weight ${weight} >= quorum ${quorum} + hysteresis ${hysteresis}`);
    }
    return v.up;
  }

  private report(policy: QuorumPolicy, up: boolean, availableWeight: number, reason: string): void {
    this.onChange({ policy, up, availableWeight, sorryServer: policy.sorryServer !== undefined, reason });
  }
}
