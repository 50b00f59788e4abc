import type { Logger } from './types.ts';

// A bounded-frequency sync runner (kube-proxy's BoundedFrequencyRunner, simplified): bursts of events become
// one sync, syncs start at least `minIntervalMs` apart, a full resync runs every `fullResyncIntervalMs`, two
// syncs never overlap, and a failed sync is retried with exponential backoff.

export interface SyncLoopOptions<R> {
  /** One sync: `full` asks for a full resync (drift repair), otherwise an event-driven one. */
  sync: (full: boolean) => Promise<R>;
  /** Minimum time between the starts of two syncs. Default 1000 ms. */
  minIntervalMs?: number;
  /** Period of full resyncs; 0 disables them. Default 30 000 ms. */
  fullResyncIntervalMs?: number;
  /** First retry delay after a failed sync, doubled up to `maxRetryIntervalMs`. Default 1000 ms. */
  retryIntervalMs?: number;
  /** Default 30 000 ms. */
  maxRetryIntervalMs?: number;
  /** Whether a completed sync still needs a retry (e.g. its report lists failed operations). Default: never. */
  needsRetry?: (result: R) => boolean;
  logger?: Logger;
}

export class SyncLoop<R = unknown> {
  private readonly opts: Required<Omit<SyncLoopOptions<R>, 'logger' | 'needsRetry'>> & Pick<SyncLoopOptions<R>, 'needsRetry' | 'logger'>;
  private running: Promise<void> | undefined;
  private pending = false;
  private pendingFull = false;
  private lastStart = Number.NEGATIVE_INFINITY;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private resyncTimer: ReturnType<typeof setTimeout> | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private retryDelay: number;
  private started = false;
  private stopped = false;
  /** Number of syncs run so far (full ones included). */
  runs = 0;

  constructor(options: SyncLoopOptions<R>) {
    this.opts = {
      sync: options.sync,
      minIntervalMs: options.minIntervalMs ?? 1000,
      fullResyncIntervalMs: options.fullResyncIntervalMs ?? 30_000,
      retryIntervalMs: options.retryIntervalMs ?? 1000,
      maxRetryIntervalMs: options.maxRetryIntervalMs ?? 30_000,
      needsRetry: options.needsRetry,
      logger: options.logger,
    };
    this.retryDelay = this.opts.retryIntervalMs;
  }

  /** Starts the loop with a full sync right away. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.triggerFull();
  }

  /** Asks for an event-driven sync; calls within the minimum interval coalesce into one. */
  trigger(): void {
    this.pending = true;
    this.schedule();
  }

  /** Asks for a full resync (coalesced like trigger). */
  triggerFull(): void {
    this.pending = true;
    this.pendingFull = true;
    this.schedule();
  }

  /** Stops scheduling and waits for a running sync to finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of [this.timer, this.resyncTimer, this.retryTimer]) if (t) clearTimeout(t);
    this.timer = this.resyncTimer = this.retryTimer = undefined;
    await this.running;
  }

  /** Resolves once no sync is running or pending (tests, graceful shutdown). */
  async idle(): Promise<void> {
    while (this.running || (this.pending && !this.stopped)) {
      if (this.running) await this.running;
      else await new Promise((resolve) => setTimeout(resolve, Math.max(1, this.lastStart + this.opts.minIntervalMs - Date.now())));
    }
  }

  private schedule(): void {
    if (this.stopped || !this.started || this.running || this.timer || !this.pending) return;
    const delay = Math.max(0, this.lastStart + this.opts.minIntervalMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.runNow();
    }, delay);
  }

  private runNow(): void {
    if (this.stopped || this.running) return;
    const full = this.pendingFull;
    this.pending = false;
    this.pendingFull = false;
    this.lastStart = Date.now();
    this.runs++;
    if (full) this.armResync();
    this.running = this.opts
      .sync(full)
      .then(
        (result) => {
          if (this.opts.needsRetry?.(result)) this.armRetry(full, 'sync left failed operations');
          else this.retryDelay = this.opts.retryIntervalMs;
        },
        (err: unknown) => {
          this.opts.logger?.error({ err: err instanceof Error ? err.message : String(err), full }, 'sync failed');
          this.armRetry(full, 'sync threw');
        },
      )
      .finally(() => {
        this.running = undefined;
        this.schedule();
      });
  }

  private armResync(): void {
    if (this.resyncTimer) clearTimeout(this.resyncTimer);
    this.resyncTimer = undefined;
    if (this.opts.fullResyncIntervalMs <= 0 || this.stopped) return;
    this.resyncTimer = setTimeout(() => {
      this.resyncTimer = undefined;
      this.triggerFull();
    }, this.opts.fullResyncIntervalMs);
  }

  private armRetry(full: boolean, why: string): void {
    if (this.stopped || this.retryTimer) return;
    const delay = this.retryDelay;
    this.retryDelay = Math.min(this.retryDelay * 2, this.opts.maxRetryIntervalMs);
    this.opts.logger?.warn({ retryInMs: delay, full }, `${why}; retrying`);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (full) this.triggerFull();
      else this.trigger();
    }, delay);
  }
}
