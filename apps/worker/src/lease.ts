/**
 * The session lease: the one Redis key that says which worker owns the session.
 *
 * - acquire: `SET lease <workerId> NX PX <ttl>`; standbys retry every `ttl / 10`.
 * - renew: a Lua compare-and-extend every `ttl / 3`, so two renewals can fail before the lease lapses.
 * - fencing: `assertHeld()` before every side effect (a send, a logout): free when the last renewal is
 *   less than half a TTL old (the key cannot have expired yet, and only expiry hands a lease to another
 *   worker), else the same compare-and-extend; a worker that was paused past its TTL (GC, suspended VM)
 *   finds out before it acts.
 * - loss: when a renewal finds another owner, or no renewal succeeded for a whole TTL (Redis
 *   unreachable: we can no longer prove ownership), `onLost` fires once and the owner must stop at once.
 * - early takeover of a dead owner: the holder keeps a connection of its own open, named after it
 *   (`holderConnectionName`), and renews through it. A standby that finds the lease unrenewed for more
 *   than half a TTL (so the holder's local validity is over, see fencing) and the holder's connection
 *   gone from Redis on two looks 0.6 s apart takes the lease over (compare-and-set), instead of waiting
 *   for the key to expire: a kill -9 closes the process's sockets at once, so failover starts about
 *   half a TTL after the last renewal rather than a whole TTL. Where `CLIENT LIST` is not allowed, the
 *   standby waits for expiry as before. Trade-off: a holder cut off from Redis (not dead) for more than
 *   half a TTL loses the session then instead of after a whole TTL; it is fenced the same way.
 * - a dead holder of this host: a worker id names its host and pid (`newWorkerId`). A worker restarted
 *   on the host of a holder whose process is gone (or whose pid is now its own: a container's PID 1)
 *   and whose connection is gone too takes the lease at once, without the half-TTL wait: a process that
 *   no longer exists cannot act on the session, so there is nothing to fence. The connection check
 *   guards against a live worker in another PID namespace with the same host name.
 * - the presence connection is opened before the lease is tried, and the lease is taken through it, so
 *   a holder is visible from the moment it holds (readers never see a fresh holder as dead).
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';


import { connectedClientNames, duplicateConnection, holderConnectionName, LeaseLostError, type Logger, type RedisClient, RedisScript } from '@waq/shared';

import { isAlive } from './chromium-hygiene.js';

const RENEW = new RedisScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`);

/**
 * KEYS[1] lease; ARGV[1] the holder seen dead; ARGV[2] new holder; ARGV[3] TTL (ms); ARGV[4] '1' when
 * the holder's process is known gone. Takes the lease only if that holder still has it and, unless its
 * process is known gone, has not renewed it for more than half a TTL.
 */
const TAKE_OVER = new RedisScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[4] ~= '1' and redis.call('PTTL', KEYS[1]) * 2 >= tonumber(ARGV[3]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1`);

const RELEASE = new RedisScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`);

export interface LeaseOptions {
  readonly redis: RedisClient;
  readonly key: string;
  readonly workerId: string;
  readonly sessionId: string;
  /** LEASE_TTL_MS */
  readonly ttlMs: number;
  readonly logger: Logger;
  /** Called after each successful renewal (the state's heartbeat). */
  readonly onRenewed?: (at: Date) => void;
}

const PRESENCE_RETRY_MS = 200;
const CONFIRM_ABSENCE_MS = 3 * PRESENCE_RETRY_MS;

/** A worker's id: `<host>:<pid>:<random>` (the host and pid tell a restarted worker its dead predecessor). */
export function newWorkerId(): string {
  return `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
}

/**
 * True when `holder` is a worker of this host whose process is gone: its pid does not run (or is a
 * zombie), or is this very process (a restarted container's PID 1 has its predecessor's pid).
 */
export function isDeadLocalWorker(holder: string, self: { host: string; pid: number } = { host: hostname(), pid: process.pid }): boolean {
  const match = /^(.+):(\d+):[^:]+$/.exec(holder);
  if (match === null || match[1] !== self.host) return false;
  const pid = Number(match[2]);
  return pid === self.pid || !isAlive(pid);
}

export class SessionLease {
  private renewTimer: NodeJS.Timeout | undefined;
  private lastRenewedAt = 0;
  private held = false;
  /** Why the lease was lost (taken by another worker, or not renewed in time); undefined once held again. */
  private lostReason: string | undefined;
  private lostHandlers: ((reason: string) => void)[] = [];
  /** The holder's own connection: renewals go through it, and its presence in Redis says we live. */
  private presence: RedisClient | undefined;
  private clientListRefused = false;

  constructor(private readonly options: LeaseOptions) {}

  get isHeld(): boolean {
    return this.held;
  }

  /** Whether the lease was lost while held (not given up by `release()`). */
  get isLost(): boolean {
    return this.lostReason !== undefined;
  }

  onLost(handler: (reason: string) => void): void {
    this.lostHandlers.push(handler);
  }

  /** Tries once to take the lease. */
  async tryAcquire(): Promise<boolean> {
    const { key, workerId, ttlMs } = this.options;
    // Through the presence connection: if the SET succeeds, the connection named after us is up.
    const presence = this.openPresence();
    const sentAt = Date.now();
    if ((await presence.set(key, workerId, 'PX', ttlMs, 'NX')) === 'OK' || (await this.takeOverFromDeadHolder(presence))) {
      this.startHolding(sentAt);
      return true;
    }
    return false;
  }

  /** Takes the lease from a holder that is dead: see the header for the two cases. */
  private async takeOverFromDeadHolder(presence: RedisClient): Promise<boolean> {
    const { key, workerId, ttlMs, logger } = this.options;
    const [[, holder], [, pttl]] = ((await presence.multi().get(key).pttl(key).exec()) ?? []) as [[unknown, string | null], [unknown, number]];
    if (holder === null || holder === workerId || pttl < 0 || this.clientListRefused) return false;
    const processGone = isDeadLocalWorker(holder);
    if (!processGone && pttl * 2 >= ttlMs) return false;
    if (await this.holderConnected(holder)) return false;
    // A remote holder: twice, CONFIRM_ABSENCE_MS apart, since a live holder whose connection just
    // dropped (a Redis restart) is back within PRESENCE_RETRY_MS. A local one whose process is gone
    // cannot come back.
    if (!processGone) {
      await abortableDelay(CONFIRM_ABSENCE_MS);
      if (await this.holderConnected(holder)) return false;
    }
    const taken = (await TAKE_OVER.run(presence, [key], [holder, workerId, ttlMs, processGone ? '1' : '0'])) === 1;
    if (taken && processGone) logger.warn({ previousOwner: holder }, 'the previous session owner ran on this host and its process is gone: taking over at once');
    else if (taken) logger.warn({ previousOwner: holder, unrenewedForMs: ttlMs - pttl }, 'the session owner stopped renewing its lease and its Redis connection is gone: taking over now instead of waiting for the lease to expire');
    return taken;
  }

  private async holderConnected(holder: string): Promise<boolean> {
    const names = await connectedClientNames(this.presence ?? this.options.redis);
    if (names !== undefined) return names.has(holderConnectionName(holder));
    this.clientListRefused = true;
    this.options.logger.info('CLIENT LIST is not allowed: a standby takes over only when the lease expires');
    return true;
  }

  /** One attempt, for a worker pool's claim: true when acquired; false (nothing left open) when another worker holds it or Redis failed. */
  async claimOnce(): Promise<boolean> {
    try {
      if (await this.tryAcquire()) return true;
    } catch (error) {
      this.options.logger.warn({ err: error }, 'could not reach Redis to claim the session lease');
    }
    if (!this.held) this.closePresence();
    return false;
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
    if (!this.held) this.closePresence();
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
    try {
      await RELEASE.run(redis, [key], [workerId]);
    } finally {
      this.closePresence();
    }
  }

  private get pollMs(): number {
    return Math.max(200, Math.floor(this.options.ttlMs / 10));
  }

  /** The connection named after this worker (see the header); opened once, kept while standing by and holding. */
  private openPresence(): RedisClient {
    if (this.presence !== undefined) return this.presence;
    // Reconnects every 200 ms (not with the usual backoff up to 3 s): after a Redis restart a live
    // holder must be back well within a standby's two polls, or it would look dead.
    const presence = duplicateConnection(this.options.redis, { connectionName: holderConnectionName(this.options.workerId), retryStrategy: () => PRESENCE_RETRY_MS });
    // Its errors surface as failed acquisitions and renewals (logged there); ioredis reconnects it by itself.
    presence.on('error', () => undefined);
    this.presence = presence;
    return presence;
  }

  private startHolding(sentAt: number): void {
    this.held = true;
    this.lostReason = undefined;
    this.lastRenewedAt = sentAt;
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
    const { key, workerId, ttlMs } = this.options;
    // The time the renewal was sent, not answered: Redis restarted the TTL no earlier than this, so
    // "less than half a TTL ago" by this clock is never later than by Redis's.
    const sentAt = Date.now();
    const ok = (await RENEW.run(this.presence ?? this.options.redis, [key], [workerId, ttlMs])) === 1;
    if (ok) {
      this.lastRenewedAt = sentAt;
      this.options.onRenewed?.(new Date(this.lastRenewedAt));
    }
    return ok;
  }

  private lose(reason: string): void {
    if (!this.held) return;
    this.held = false;
    this.lostReason = reason;
    this.stopTimer();
    this.closePresence();
    this.options.logger.error({ reason }, 'session lease lost: stopping everything this worker does for the session');
    for (const handler of this.lostHandlers) handler(reason);
  }

  private closePresence(): void {
    this.presence?.disconnect();
    this.presence = undefined;
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
