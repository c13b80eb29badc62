/**
 * Send pacing: a minimum interval between two sends of the session, plus random jitter, so a burst
 * of jobs goes out at a human-looking rate instead of the machine-gun pattern WhatsApp's anti-spam
 * systems flag. Jobs wait (inside the handler, holding their place in line); they never fail for it.
 *
 * After an absence (warm-up, see `startWarmup`) the first sends go slower: their pause goes down evenly
 * from the warm-up interval to the normal one, so a backlog held while the phone was away does not go
 * out at full speed the moment it is back.
 */
import { warmupIntervalMs, type PacingPolicy } from '@waq/shared';

import { abortableDelay } from './lease.js';

export interface PacerOptions {
  /** The session's policy, read at every send (a PATCH of its settings applies to the next one). */
  readonly policy: () => Pick<PacingPolicy, 'intervalMs' | 'jitterMs' | 'warmupIntervalMs'>;
  /** @defaultValue Math.random */
  readonly random?: () => number;
  /** @defaultValue Date.now */
  readonly now?: () => number;
}

export class Pacer {
  private nextAt = 0;
  private warmup = { done: 0, total: 0 };

  constructor(private readonly options: PacerOptions) {}

  /** How long the next send must still wait, in ms. */
  get waitMs(): number {
    return Math.max(0, this.nextAt - (this.options.now ?? Date.now)());
  }

  /** Sends still to go at a warm-up rate. */
  get warmupLeft(): number {
    return this.warmup.total - this.warmup.done;
  }

  /**
   * Starts a warm-up of `total` sends, `left` of them still to go (a worker taking the session over in
   * the middle of one goes on with it). The first of them waits the full warm-up interval.
   */
  startWarmup(total: number, left = total): void {
    this.warmup = { done: Math.max(0, total - left), total };
    if (left > 0) this.nextAt = Math.max(this.nextAt, (this.options.now ?? Date.now)() + this.interval());
  }

  async wait(signal?: AbortSignal): Promise<void> {
    const ms = this.waitMs;
    if (ms > 0) await abortableDelay(ms, signal);
  }

  /** Call after a message went out. */
  markSent(): void {
    const { jitterMs } = this.options.policy();
    const { random = Math.random, now = Date.now } = this.options;
    if (this.warmupLeft > 0) this.warmup = { ...this.warmup, done: this.warmup.done + 1 };
    const interval = this.interval();
    if (interval === 0 && jitterMs === 0) return;
    this.nextAt = now() + interval + Math.round(random() * jitterMs);
  }

  /** The pause before the next send: the warm-up's while one is under way, else the policy's. */
  private interval(): number {
    const policy = this.options.policy();
    return this.warmupLeft > 0 ? warmupIntervalMs(policy, this.warmup.done, this.warmup.total) : policy.intervalMs;
  }
}
