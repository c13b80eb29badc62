import { describe, expect, it } from 'vitest';

import { Pacer } from './pacer.js';

describe('Pacer', () => {
  it('lets the first send through and spaces the next by interval plus jitter', () => {
    let now = 1_000;
    const pacer = new Pacer({ intervalMs: 1_000, jitterMs: 500, random: () => 0.5, now: () => now });
    expect(pacer.waitMs).toBe(0);
    pacer.markSent();
    expect(pacer.waitMs).toBe(1_250);
    now += 1_000;
    expect(pacer.waitMs).toBe(250);
    now += 1_000;
    expect(pacer.waitMs).toBe(0);
  });

  it('never waits when pacing is disabled', () => {
    const pacer = new Pacer({ intervalMs: 0, jitterMs: 0 });
    pacer.markSent();
    expect(pacer.waitMs).toBe(0);
  });

  it('stops waiting when aborted', async () => {
    const pacer = new Pacer({ intervalMs: 60_000, jitterMs: 0 });
    pacer.markSent();
    const controller = new AbortController();
    const waiting = pacer.wait(controller.signal);
    controller.abort();
    await expect(waiting).resolves.toBeUndefined();
  });
});
