/**
 * The warm-up after an absence: a session that comes back READY after being away at least
 * `warmupAfterMs` (phone off, worker down, or never linked before) sends its next `warmupMessages`
 * slower (pacer.ts), so a backlog held meanwhile does not go out in a burst.
 *
 * When the session was last READY is kept in Redis (`pacing.readyUntil`, written on every lease
 * renewal while READY and when it leaves READY), so the answer survives a worker that dies: a takeover
 * within seconds is no absence, a phone away for an hour is. A warm-up under way is kept there too
 * (`warmupLeft` / `warmupTotal`, the first written with every send): the next owner goes on with it.
 */
import { PACING_FIELDS, type Logger, type PacingPolicy, type RedisClient, type SessionKeys, type SessionStatus } from '@waq/shared';

import type { Pacer } from './pacer.js';

export interface WarmupTrackerOptions {
  readonly redis: RedisClient;
  readonly keys: SessionKeys;
  readonly pacer: Pacer;
  readonly policy: () => Pick<PacingPolicy, 'warmupAfterMs' | 'warmupMessages'>;
  readonly logger: Logger;
  /** @defaultValue Date.now */
  readonly now?: () => number;
}

export class WarmupTracker {
  private ready = false;
  private starting: Promise<void> = Promise.resolve();

  constructor(private readonly options: WarmupTrackerOptions) {}

  /** The session's status changed (the owner's `status` events). */
  onStatus(status: SessionStatus): void {
    const wasReady = this.ready;
    this.ready = status === 'READY';
    if (this.ready && !wasReady) this.starting = this.detach(this.onReady(), 'starting the warm-up');
    if (!this.ready && wasReady) this.detach(this.markReady(), 'recording when the session was last READY');
  }

  /** Resolves once the pacer knows whether the latest READY starts a warm-up (the outbox resumes after it). */
  whenStarted(): Promise<void> {
    return this.starting;
  }

  /** The lease was renewed: while READY, the session was READY until now. */
  onRenewed(status: SessionStatus): void {
    if (status === 'READY' && this.ready) this.detach(this.markReady(), 'recording when the session was last READY');
  }

  /**
   * READY again: starts a warm-up after an absence of `warmupAfterMs` or more (or a first link), or goes
   * on with one a previous owner left unfinished. Resolves once the pacer knows.
   */
  async onReady(): Promise<void> {
    const { redis, keys, pacer, policy, logger, now = Date.now } = this.options;
    const { warmupAfterMs, warmupMessages } = policy();
    const [readyUntil, left, total] = (await redis.hmget(keys.pacing, PACING_FIELDS.readyUntil, PACING_FIELDS.warmupLeft, PACING_FIELDS.warmupTotal)).map((value) => (value === null ? undefined : Number(value)));
    const awayMs = readyUntil === undefined ? undefined : now() - readyUntil;
    let warmup = { total: 0, left: 0 };
    if (warmupMessages > 0 && (awayMs === undefined || awayMs >= warmupAfterMs)) {
      warmup = { total: warmupMessages, left: warmupMessages };
      logger.info({ awayS: awayMs === undefined ? undefined : Math.round(awayMs / 1_000), messages: warmupMessages }, awayMs === undefined ? 'first time READY: the next messages go out at a warm-up rate' : 'READY after an absence: the next messages go out at a warm-up rate');
    } else if (warmupMessages > 0 && left !== undefined && total !== undefined && left > 0) {
      warmup = { total, left };
      logger.info({ left, of: total }, 'going on with the warm-up the previous owner started');
    }
    pacer.startWarmup(warmup.total, warmup.left);
    await redis.hset(keys.pacing, PACING_FIELDS.readyUntil, now(), PACING_FIELDS.warmupLeft, warmup.left, PACING_FIELDS.warmupTotal, warmup.total);
  }

  private async markReady(): Promise<void> {
    const { redis, keys, now = Date.now } = this.options;
    await redis.hset(keys.pacing, PACING_FIELDS.readyUntil, now());
  }

  private detach(work: Promise<unknown>, what: string): Promise<void> {
    return work.then(
      () => undefined,
      (error: unknown) => this.options.logger.warn({ err: error }, `${what} failed`),
    );
  }
}
