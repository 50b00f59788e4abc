import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SyncLoop } from '../../src/reconcile/index.ts';

describe('SyncLoop', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  function recorder(durationMs = 0, fail: () => boolean = () => false) {
    const calls: { full: boolean; at: number }[] = [];
    let active = 0;
    let maxActive = 0;
    const sync = async (full: boolean) => {
      calls.push({ full, at: Date.now() });
      active++;
      maxActive = Math.max(maxActive, active);
      await new Promise((r) => setTimeout(r, durationMs));
      active--;
      if (fail()) throw new Error('boom');
      return { ok: true };
    };
    return { calls, sync, maxActive: () => maxActive };
  }

  it('starts with a full sync, coalesces bursts, respects the minimum interval', async () => {
    const rec = recorder();
    const loop = new SyncLoop({ sync: rec.sync, minIntervalMs: 1000, fullResyncIntervalMs: 0 });
    const t0 = Date.now();
    loop.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(rec.calls).toEqual([{ full: true, at: t0 }]);
    for (let i = 0; i < 50; i++) loop.trigger();
    await vi.advanceTimersByTimeAsync(999);
    expect(rec.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(rec.calls).toHaveLength(2);
    expect(rec.calls[1]).toEqual({ full: false, at: t0 + 1000 });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(rec.calls).toHaveLength(2); // nothing pending, nothing run
    await loop.stop();
  });

  it('never runs two syncs at once; an event during a sync runs right after it', async () => {
    const rec = recorder(5000);
    const loop = new SyncLoop({ sync: rec.sync, minIntervalMs: 1000, fullResyncIntervalMs: 0 });
    loop.start();
    await vi.advanceTimersByTimeAsync(100);
    loop.trigger();
    await vi.advanceTimersByTimeAsync(4000);
    expect(rec.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(rec.calls).toHaveLength(2);
    expect(rec.maxActive()).toBe(1);
    await vi.advanceTimersByTimeAsync(5000);
    await loop.stop();
  });

  it('runs a periodic full resync', async () => {
    const rec = recorder();
    const loop = new SyncLoop({ sync: rec.sync, minIntervalMs: 1000, fullResyncIntervalMs: 30_000 });
    loop.start();
    await vi.advanceTimersByTimeAsync(95_000);
    expect(rec.calls.map((c) => c.full)).toEqual([true, true, true, true]);
    // (a zero-delay timer takes 1 ms under fake timers)
    expect(rec.calls.map((c) => Math.round((c.at - rec.calls[0].at) / 100) * 100)).toEqual([0, 30_000, 60_000, 90_000]);
    await loop.stop();
  });

  it('retries failures with exponential backoff and resets after a success', async () => {
    let failures = 3;
    const rec = recorder(0, () => failures-- > 0);
    const warn = vi.fn();
    const logger = { debug() {}, info() {}, warn, error() {} };
    const loop = new SyncLoop({ sync: rec.sync, minIntervalMs: 100, fullResyncIntervalMs: 0, retryIntervalMs: 1000, logger });
    loop.start();
    await vi.advanceTimersByTimeAsync(20_000);
    expect(rec.calls.map((c) => Math.round((c.at - rec.calls[0].at) / 100) * 100)).toEqual([0, 1000, 3000, 7000]);
    expect(warn).toHaveBeenCalledTimes(3);
    await loop.stop();
  });

  it('retries when the result says so', async () => {
    let n = 0;
    const loop = new SyncLoop({
      sync: async () => ++n,
      needsRetry: (x) => x < 3,
      minIntervalMs: 10,
      fullResyncIntervalMs: 0,
      retryIntervalMs: 100,
    });
    loop.start();
    await vi.advanceTimersByTimeAsync(1000);
    expect(n).toBe(3);
    await loop.stop();
  });

  it('stop() waits for the running sync and nothing runs afterwards', async () => {
    const rec = recorder(3000);
    const loop = new SyncLoop({ sync: rec.sync, minIntervalMs: 10, fullResyncIntervalMs: 1000 });
    loop.start();
    await vi.advanceTimersByTimeAsync(10);
    let stopped = false;
    const p = loop.stop().then(() => {
      stopped = true;
    });
    await vi.advanceTimersByTimeAsync(2000);
    expect(stopped).toBe(false);
    await vi.advanceTimersByTimeAsync(1000);
    await p;
    expect(stopped).toBe(true);
    loop.trigger();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(rec.calls).toHaveLength(1);
  });

  it('trigger before start waits for start', async () => {
    const rec = recorder();
    const loop = new SyncLoop({ sync: rec.sync, fullResyncIntervalMs: 0 });
    loop.trigger();
    await vi.advanceTimersByTimeAsync(5000);
    expect(rec.calls).toHaveLength(0);
    loop.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(rec.calls.map((c) => c.full)).toEqual([true]);
    await vi.advanceTimersByTimeAsync(10);
    await loop.stop();
  });
});
