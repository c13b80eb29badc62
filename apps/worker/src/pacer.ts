/**
 * Send pacing: a minimum interval between two sends of the session, plus random jitter, so a burst
 * of jobs goes out at a human-looking rate instead of the machine-gun pattern WhatsApp's anti-spam
 * systems flag. Jobs wait (inside the handler, holding their place in line); they never fail for it.
 */
import { abortableDelay } from './lease.js';

export interface PacerOptions {
  /** SEND_INTERVAL_MS */
  readonly intervalMs: number;
  /** SEND_JITTER_MS */
  readonly jitterMs: number;
  /** @defaultValue Math.random */
  readonly random?: () => number;
  /** @defaultValue Date.now */
  readonly now?: () => number;
}

export class Pacer {
  private nextAt = 0;

  constructor(private readonly options: PacerOptions) {}

  /** How long the next send must still wait, in ms. */
  get waitMs(): number {
    return Math.max(0, this.nextAt - (this.options.now ?? Date.now)());
  }

  async wait(signal?: AbortSignal): Promise<void> {
    const ms = this.waitMs;
    if (ms > 0) await abortableDelay(ms, signal);
  }

  /** Call after a message went out. */
  markSent(): void {
    const { intervalMs, jitterMs, random = Math.random, now = Date.now } = this.options;
    if (intervalMs === 0 && jitterMs === 0) return;
    this.nextAt = now() + intervalMs + Math.round(random() * jitterMs);
  }
}
