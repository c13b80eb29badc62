/**
 * The session lease: the one Redis key that says which worker owns the session.
 *
 * - acquire: `SET lease <workerId> NX PX <ttl>`; standbys retry every `ttl / 5`.
 * - renew: a Lua compare-and-extend every `ttl / 3`, so two renewals can fail before the lease lapses.
 * - fencing: `assertHeld()` before every side effect (a send, a logout): free when the last renewal is
 *   less than half a TTL old (the key cannot have expired yet, and only expiry hands a lease to another
 *   worker), else the same compare-and-extend; a worker that was paused past its TTL (GC, suspended VM)
 *   finds out before it acts.
 * - loss: when a renewal finds another owner, or no renewal succeeded for a whole TTL (Redis
 *   unreachable: we can no longer prove ownership), `onLost` fires once and the owner must stop at once.
 */
import type { Redis } from 'ioredis';

import { LeaseLostError, type Logger } from '@waq/shared';

const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`;

export interface LeaseOptions {
  readonly redis: Redis;
  readonly key: string;
  readonly workerId: string;
  readonly sessionId: string;
  /** LEASE_TTL_MS */
  readonly ttlMs: number;
  readonly logger: Logger;
  /** Called after each successful renewal (the state's heartbeat). */
  readonly onRenewed?: (at: Date) => void;
}

export class SessionLease {
  private renewTimer: NodeJS.Timeout | undefined;
  private lastRenewedAt = 0;
  private held = false;
  private lostHandlers: ((reason: string) => void)[] = [];

  constructor(private readonly options: LeaseOptions) {}

  get isHeld(): boolean {
    return this.held;
  }

  onLost(handler: (reason: string) => void): void {
    this.lostHandlers.push(handler);
  }

  /** Tries once to take the lease. */
  async tryAcquire(): Promise<boolean> {
    const { redis, key, workerId, ttlMs } = this.options;
    const result = await redis.set(key, workerId, 'PX', ttlMs, 'NX');
    if (result !== 'OK') return false;
    this.startHolding();
    return true;
  }

  /**
   * Waits until this worker owns the session (standby until then). Resolves true once acquired,
   * false when `signal` aborts first.
   */
  async acquire(signal: AbortSignal): Promise<boolean> {
    const { logger, ttlMs, redis, key } = this.options;
    let announced = false;
    while (!signal.aborted) {
      try {
        if (await this.tryAcquire()) return true;
        if (!announced) {
          logger.info({ owner: await redis.get(key), retryMs: this.pollMs }, 'session is owned by another worker: standing by');
          announced = true;
        }
      } catch (error) {
        logger.warn({ err: error }, 'could not reach Redis to acquire the session lease; retrying');
      }
      await abortableDelay(Math.min(this.pollMs, ttlMs), signal);
    }
    return false;
  }

  /** Proves ownership and extends it; throws `LeaseLostError` when this worker is no longer owner. */
  async assertHeld(): Promise<void> {
    if (!this.held) throw new LeaseLostError(this.options.sessionId);
    if (Date.now() - this.lastRenewedAt < this.options.ttlMs / 2) return;
    if (!(await this.renewOnce())) throw new LeaseLostError(this.options.sessionId);
  }

  /** Gives the lease up (only if still ours) so a standby can take over at once. */
  async release(): Promise<void> {
    this.stopTimer();
    if (!this.held) return;
    this.held = false;
    const { redis, key, workerId } = this.options;
    await redis.eval(RELEASE, 1, key, workerId);
  }

  private get pollMs(): number {
    return Math.max(200, Math.floor(this.options.ttlMs / 5));
  }

  private startHolding(): void {
    this.held = true;
    this.lastRenewedAt = Date.now();
    this.options.onRenewed?.(new Date(this.lastRenewedAt));
    this.stopTimer();
    this.renewTimer = setInterval(() => void this.tick(), Math.floor(this.options.ttlMs / 3));
    this.renewTimer.unref();
  }

  private async tick(): Promise<void> {
    if (!this.held) return;
    try {
      if (!(await this.renewOnce())) this.lose('another worker holds the session lease');
    } catch (error) {
      const silentFor = Date.now() - this.lastRenewedAt;
      this.options.logger.warn({ err: error, silentForMs: silentFor }, 'could not renew the session lease');
      if (silentFor >= this.options.ttlMs) this.lose(`the lease could not be renewed for ${silentFor} ms (Redis unreachable)`);
    }
  }

  private async renewOnce(): Promise<boolean> {
    const { redis, key, workerId, ttlMs } = this.options;
    const ok = (await redis.eval(RENEW, 1, key, workerId, String(ttlMs))) === 1;
    if (ok) {
      this.lastRenewedAt = Date.now();
      this.options.onRenewed?.(new Date(this.lastRenewedAt));
    }
    return ok;
  }

  private lose(reason: string): void {
    if (!this.held) return;
    this.held = false;
    this.stopTimer();
    this.options.logger.error({ reason }, 'session lease lost: stopping everything this worker does for the session');
    for (const handler of this.lostHandlers) handler(reason);
  }

  private stopTimer(): void {
    if (this.renewTimer !== undefined) clearInterval(this.renewTimer);
    this.renewTimer = undefined;
  }
}

export function abortableDelay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
