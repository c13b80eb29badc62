/**
 * Withdraws a session's messages at their expiry. A message that expires while it is held (the session
 * not READY, its outbox paused), scheduled or queued never reaches a handler in time: the sweeper ends
 * it `failed` with code `expired` (record and `message.failed` event in one script) and removes its job.
 * The send handler checks the expiry again when it claims a message, so one that comes up between two
 * sweeps is not sent either.
 *
 * It runs for as long as this worker owns the session, whatever the session's state; sweeps by two
 * workers at once (a handover) are harmless, the record decides each withdrawal once.
 */
import { EXPIRED, removeWithdrawnJob, withdrawMessage, type Logger, type RedisClient, type SessionKeys } from '@waq/shared';
import type { Queue } from 'bullmq';

export interface ExpirySweeperOptions {
  readonly redis: RedisClient;
  readonly keys: SessionKeys;
  readonly outbox: Queue;
  readonly logger: Logger;
  /** EVENTS_MAX_LEN */
  readonly eventsMaxLen: number;
  /** How often due expiries are looked for, in ms. @defaultValue 1000 */
  readonly intervalMs?: number;
  /** Called with each message withdrawn whose job it removed (metrics; one being handled is counted by its handler). */
  readonly onExpired?: () => void;
}

/** Due expiries handled per round trip. */
const BATCH = 100;

export class ExpirySweeper {
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<unknown> | undefined;
  private stopped = false;

  constructor(private readonly options: ExpirySweeperOptions) {}

  start(): void {
    if (this.timer !== undefined || this.stopped) return;
    this.timer = setInterval(() => {
      this.sweeping ??= this.sweep()
        .catch((error: unknown) => this.options.logger.warn({ err: error }, 'could not withdraw the messages past their expiry; trying again'))
        .finally(() => (this.sweeping = undefined));
    }, this.options.intervalMs ?? 1_000);
    this.timer.unref();
  }

  /** Stops sweeping; waits for a sweep under way. Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.sweeping;
  }

  /** Withdraws every message whose expiry has come; returns how many. */
  async sweep(now = Date.now()): Promise<number> {
    const { redis, keys, outbox, logger, eventsMaxLen, onExpired } = this.options;
    let withdrawn = 0;
    for (;;) {
      const due = await redis.zrangebyscore(keys.expiries, '-inf', now, 'LIMIT', 0, BATCH);
      // Every outcome but `not_due` takes the id out of the due range (or a minute ahead: `sending`).
      let moved = 0;
      for (const id of due) {
        if (this.stopped) return withdrawn;
        const outcome = await withdrawMessage({ redis, keys, id, code: EXPIRED, eventsMaxLen, now });
        if (outcome !== 'not_due') moved += 1;
        if (outcome !== 'withdrawn') continue;
        withdrawn += 1;
        const removed = await removeWithdrawnJob(outbox, id);
        // A job being handled is counted by its handler, which fails it as expired.
        if (removed) onExpired?.();
        logger.info({ jobId: id, removed }, removed ? 'message expired before it was sent: withdrawn' : 'message expired before it was sent: withdrawn (its job is being handled, and fails)');
      }
      if (due.length < BATCH || moved === 0) return withdrawn;
    }
  }
}
