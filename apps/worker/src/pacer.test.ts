import { describe, expect, it } from 'vitest';

import { Pacer } from './pacer.js';

const policy = (intervalMs: number, jitterMs: number, warmupIntervalMs = 10_000) => () => ({ intervalMs, jitterMs, warmupIntervalMs });

describe('Pacer', () => {
  it('lets the first send through and spaces the next by interval plus jitter', () => {
    let now = 1_000;
    const pacer = new Pacer({ policy: policy(1_000, 500), random: () => 0.5, now: () => now });
    expect(pacer.waitMs).toBe(0);
    pacer.markSent();
    expect(pacer.waitMs).toBe(1_250);
    now += 1_000;
    expect(pacer.waitMs).toBe(250);
    now += 1_000;
    expect(pacer.waitMs).toBe(0);
  });

  it('never waits when pacing is disabled', () => {
    const pacer = new Pacer({ policy: policy(0, 0) });
    pacer.markSent();
    expect(pacer.waitMs).toBe(0);
  });

  it('reads the policy at every send', () => {
    let interval = 1_000;
    const now = 0;
    const pacer = new Pacer({ policy: () => ({ intervalMs: interval, jitterMs: 0, warmupIntervalMs: 0 }), now: () => now });
    pacer.markSent();
    expect(pacer.waitMs).toBe(1_000);
    interval = 3_000;
    pacer.markSent();
    expect(pacer.waitMs).toBe(3_000);
  });

  it('warms up: the first send waits the warm-up interval, then the pause goes down evenly to the normal one', () => {
    let now = 0;
    const pacer = new Pacer({ policy: policy(1_000, 0, 11_000), now: () => now });
    pacer.startWarmup(5);
    const pauses: number[] = [pacer.waitMs];
    for (let i = 0; i < 7; i += 1) {
      now += pacer.waitMs;
      pacer.markSent();
      pauses.push(pacer.waitMs);
    }
    expect(pauses).toEqual([11_000, 9_000, 7_000, 5_000, 3_000, 1_000, 1_000, 1_000]);
    expect(pacer.warmupLeft).toBe(0);
  });

  it('goes on with a warm-up another worker started, where it was', () => {
    const now = 0;
    const pacer = new Pacer({ policy: policy(1_000, 0, 11_000), now: () => now });
    pacer.startWarmup(5, 2);
    expect(pacer.warmupLeft).toBe(2);
    expect(pacer.waitMs).toBe(5_000);
  });

  it('stops waiting when aborted', async () => {
    const pacer = new Pacer({ policy: policy(60_000, 0) });
    pacer.markSent();
    const controller = new AbortController();
    const waiting = pacer.wait(controller.signal);
    controller.abort();
    await expect(waiting).resolves.toBeUndefined();
  });
});
