import type { AnnounceMetrics } from './metrics.ts';
import { routesOf, type VipDecision } from './policy.ts';
import type { AnnouncedRoute, ApplyOutcome, Speaker, SpeakerStatus } from './types.ts';
import type { StructuredLogger } from '../structured-logger.ts';

// Hands the VIP decisions to the speaker, one change at a time (the newest decision wins when several
// arrive during an apply), logs every VIP that starts or stops being announced with the reason, and
// keeps the announcement honest when the speaker misbehaves:
//   - speaker down (BIRD not running): nothing is announced by it; the routes file stays current, so a
//     BIRD that starts later reads the right routes. Logged once per change of state, retried.
//   - speaker refusing a change that withdraws something: everything of ours is withdrawn at once
//     (the static protocols disabled) rather than leaving a stale route; retried, re-enabled on success.
// After the final withdrawal (SIGTERM) nothing is announced again by this process.

export type AnnouncerLogger = Pick<StructuredLogger, 'info' | 'warn' | 'error'>;

export interface AnnouncerOptions {
  speaker: Speaker;
  logger: AnnouncerLogger;
  metrics?: AnnounceMetrics;
  /** How often to ask the speaker for its sessions (metrics) and retry a failed change. Default 10 s. */
  statusIntervalMs?: number;
}

function key(r: AnnouncedRoute): string {
  return r.address;
}

export class Announcer {
  private readonly speaker: Speaker;
  private readonly log: AnnouncerLogger;
  private readonly metrics: AnnounceMetrics | undefined;
  private readonly statusIntervalMs: number;
  /** What the speaker announces for us as far as we know (empty until the first apply). */
  private announcedNow = new Set<string>();
  private wanted: VipDecision[] | undefined;
  /** A newer decision than the last one handed over is waiting. */
  private dirty = false;
  /** The last hand-over failed: the next poll retries it. */
  private failed = false;
  private running: Promise<void> | undefined;
  private final = false;
  private timer: NodeJS.Timeout | undefined;
  private lastProblem = '';
  private lastStatus: SpeakerStatus | undefined;

  constructor(options: AnnouncerOptions) {
    this.speaker = options.speaker;
    this.log = options.logger;
    this.metrics = options.metrics;
    this.statusIntervalMs = options.statusIntervalMs ?? 10_000;
  }

  /** The VIPs the speaker was last told to announce. */
  announced(): string[] {
    return [...this.announcedNow].sort();
  }

  status(): SpeakerStatus | undefined {
    return this.lastStatus;
  }

  startPolling(): void {
    if (this.timer) return;
    const tick = (): void => {
      this.timer = setTimeout(() => {
        void this.poll().finally(() => {
          if (this.timer) tick();
        });
      }, this.statusIntervalMs);
      this.timer.unref();
    };
    tick();
    void this.poll();
  }

  /** Ask for the routes of these decisions; resolves when they (or a newer set) were handed over. */
  update(decisions: VipDecision[]): Promise<void> {
    if (this.final) return Promise.resolve();
    this.wanted = decisions;
    this.dirty = true;
    return this.drain();
  }

  /** Withdraws every VIP now (SIGTERM, or the node stopped being ready with `final` false). */
  async withdrawAll(reason: string, opts: { final: boolean }): Promise<ApplyOutcome> {
    if (opts.final) {
      this.final = true;
      this.wanted = undefined;
    }
    await this.running;
    const before = this.announced();
    // Even when this process announced nothing yet, the routes file of a previous run may: withdraw for real.
    const outcome = await this.applyRoutes([], reason, true);
    if (before.length > 0) this.log.info({ vips: before, reason }, `withdrew ${before.length} VIP(s): ${reason}`);
    return outcome;
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private async drain(): Promise<void> {
    while (this.running) await this.running;
    if (!this.dirty || !this.wanted || this.final) return;
    const decisions = this.wanted;
    this.dirty = false;
    this.running = this.applyDecisions(decisions).finally(() => {
      this.running = undefined;
    });
    await this.running;
    if (this.dirty) await this.drain();
  }

  private async applyDecisions(decisions: VipDecision[]): Promise<void> {
    const routes = routesOf(decisions);
    const next = new Set(routes.map(key));
    const outcome = await this.applyRoutes(routes, 'decision');
    this.failed = !outcome.applied; // retried at the next poll
    if (!outcome.applied) return;
    for (const d of decisions) {
      const was = this.previouslyLogged.get(d.address);
      if (was === d.announce) continue;
      this.previouslyLogged.set(d.address, d.announce);
      const fields = { vip: d.address, reasons: d.reasons };
      if (d.announce) this.log.info(fields, `announcing ${d.address}: ${d.reasons.join('; ')}`);
      else this.log.warn(fields, `not announcing ${d.address}: ${d.reasons.join('; ')}`);
    }
    this.metrics?.setAnnounced(
      decisions.map((d) => d.address),
      next,
    );
  }

  private readonly previouslyLogged = new Map<string, boolean>();

  private async applyRoutes(routes: AnnouncedRoute[], why: string, mustWithdraw = false): Promise<ApplyOutcome> {
    const next = new Set(routes.map(key));
    let outcome: ApplyOutcome;
    try {
      outcome = await this.speaker.apply(routes);
    } catch (e) {
      outcome = { applied: false, unchanged: false, error: e instanceof Error ? e.message : String(e) };
    }
    if (outcome.applied) {
      this.metrics?.recordApply(outcome.unchanged ? 'unchanged' : 'applied');
      this.announcedNow = next;
      if (this.lastProblem) this.log.info({ speaker: this.speaker.kind }, `${this.speaker.kind}: routes applied again (${routes.length} VIP(s))`);
      this.lastProblem = '';
      if (routes.length === 0) this.previouslyLogged.clear();
      return outcome;
    }
    this.metrics?.recordApply('refused');
    const error = outcome.error ?? 'refused';
    const withdraws = mustWithdraw || [...this.announcedNow].some((v) => !next.has(v));
    if (error !== this.lastProblem) {
      this.log.error({ speaker: this.speaker.kind, err: error, why }, `${this.speaker.kind} did not take the route change: ${error}`);
      this.lastProblem = error;
    }
    if (withdraws) {
      // A route we must stop announcing may still be out there: take all of ours down rather than lie.
      const emergency = await this.speaker.emergencyWithdraw().catch((e: unknown) => ({ applied: false, unchanged: false, error: String(e) }));
      this.metrics?.recordApply('emergency_withdraw');
      if (emergency.applied) {
        this.log.error({ speaker: this.speaker.kind }, `withdrew every VIP of this node (static protocols disabled) until ${this.speaker.kind} takes the change`);
        this.announcedNow = new Set();
        this.metrics?.setAnnounced([], this.announcedNow);
      } else {
        this.log.error({ speaker: this.speaker.kind, err: emergency.error }, 'could not withdraw the VIPs either; the speaker may announce stale routes until it answers');
      }
    }
    return outcome;
  }

  private async poll(): Promise<void> {
    try {
      const s = await this.speaker.status();
      this.lastStatus = s;
      this.metrics?.setStatus(s);
      if (!s.up && s.error && s.error !== this.lastProblem) {
        this.log.error({ speaker: this.speaker.kind, err: s.error }, `${this.speaker.kind} does not answer: nothing is announced by it until it does (the routes file is kept current)`);
        this.lastProblem = s.error;
      }
    } catch (e) {
      this.log.error({ err: e instanceof Error ? e.message : String(e) }, 'speaker status failed');
    }
    if (this.failed && !this.dirty && !this.final) {
      this.dirty = true;
      await this.drain();
    }
  }
}
