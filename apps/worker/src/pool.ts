/**
 * A worker pool member: owns up to `capacity` sessions of the registry at once, each with its own
 * lease, owner, queues and driver (one `startSessionOwner` per session, `claim: 'once'`).
 *
 * Every `pollMs` it reconciles what it runs with the registry:
 * - a session it runs that is gone from the registry or wanted `stopped` is stopped (gracefully: active
 *   job finished, client closed, lease released, so the session is free at once);
 * - while it has room, it claims sessions wanted `running` that no live worker holds: no lease, or a
 *   holder whose named Redis connection is gone (`OwnerLiveness`, one `CLIENT LIST` per look, cached).
 *   A session READY on a live worker is never taken (a pool member joining moves nothing). The claim
 *   itself applies the lease's takeover rules (lease.ts); a claim that finds the session taken ends at
 *   once and frees its slot;
 * - new claims are staggered: at most `startConcurrency` of its sessions may be starting at a time
 *   (Chromiums starting at once on few cores make every one of them slow), the sessions that have
 *   waited longest first (no lease the longest; in registry order otherwise).
 *
 * It writes its own record (host, capacity, sessions) into the worker registry after every
 * reconciliation and removes it when it stops.
 *
 * Not yet: drain, and the API's session routes
 * (issue 15). `main.ts` still runs one session with `claim: 'standby'`.
 */
import { hostname } from 'node:os';

import { OwnerLiveness, type Logger, type SessionRecord, type SessionRegistry, sessionKeys, type SessionStatus, WorkerRegistry } from '@waq/shared';
import type { Redis } from 'ioredis';

import type { DriverFactory } from './driver/driver.js';
import { abortableDelay } from './lease.js';
import type { OwnerConfig } from './owner.js';
import { startSessionOwner, type RunningOwner, type SessionOwnerOptions } from './worker.js';

export interface PoolOptions {
  readonly redisUrl: string;
  /** WAQ_PREFIX */
  readonly prefix: string;
  /** For the registry and the liveness looks (the pool's own reads). */
  readonly redis: Redis;
  readonly registry: SessionRegistry;
  readonly workerId: string;
  /** Most sessions owned at once (WORKER_MAX_SESSIONS). */
  readonly capacity: number;
  /** Most of its sessions starting at once. @defaultValue 2 */
  readonly startConcurrency?: number;
  /** How often the registry is reconciled, in ms. @defaultValue 1000 */
  readonly pollMs?: number;
  /** Config every session shares; SESSION_ID is each session's. */
  readonly config: Omit<OwnerConfig, 'SESSION_ID'>;
  readonly createDriver: (sessionId: string) => DriverFactory;
  readonly logger: Logger;
  /** Extra owner options (watchdog timings in tests). */
  readonly ownerOptions?: Partial<Pick<SessionOwnerOptions, 'watchdog' | 'profileFs'>>;
}

/** Statuses of a session still starting: a claim counts against `startConcurrency` until its lease is held and it has left them. */
const STARTING: ReadonlySet<SessionStatus> = new Set(['STARTING', 'AUTHENTICATED']);

function isStarting(running: RunningOwner): boolean {
  const status = running.owner.ownership?.session.status;
  return status === undefined || STARTING.has(status);
}

export class WorkerPool {
  private readonly owners = new Map<string, RunningOwner>();
  private readonly liveness: OwnerLiveness;
  /** When each session was first seen without a live holder (longest-waiting first). */
  private readonly waitingSince = new Map<string, number>();
  private readonly workers: WorkerRegistry;
  private readonly startedAt = new Date().toISOString();

  constructor(private readonly options: PoolOptions) {
    this.liveness = new OwnerLiveness(options.redis);
    this.workers = new WorkerRegistry(options.redis, options.prefix);
  }

  /** The sessions this member runs now (claimed, whether or not its owner holds the lease yet). */
  get sessions(): string[] {
    return [...this.owners.keys()].sort();
  }

  owner(sessionId: string): RunningOwner | undefined {
    return this.owners.get(sessionId);
  }

  /** Reconciles every `pollMs` until `signal` aborts, then stops every session it runs. */
  async run(signal: AbortSignal): Promise<void> {
    const { pollMs = 1_000, logger } = this.options;
    while (!signal.aborted) {
      try {
        await this.reconcile();
        await this.heartbeat(pollMs);
      } catch (error) {
        logger.warn({ err: error }, 'could not reconcile the sessions with the registry; retrying');
      }
      await abortableDelay(pollMs, signal);
    }
    await Promise.all([...this.owners.keys()].map((id) => this.release(id)));
    await this.workers.remove(this.options.workerId).catch((error: unknown) => logger.warn({ err: error }, 'could not remove this worker from the worker registry'));
  }

  private async heartbeat(everyMs: number): Promise<void> {
    const { workerId, capacity } = this.options;
    await this.workers.heartbeat({ id: workerId, host: hostname(), pid: process.pid, capacity, sessions: this.sessions, startedAt: this.startedAt, heartbeatAt: new Date().toISOString(), heartbeatEveryMs: everyMs });
  }

  /** One reconciliation (see the header). */
  async reconcile(): Promise<void> {
    const { registry, capacity, startConcurrency = 2 } = this.options;
    const { sessions } = await registry.list();
    const wanted = new Map(sessions.filter((s) => s.desired === 'running').map((s) => [s.id, s] as const));
    await Promise.all([...this.owners.keys()].filter((id) => !wanted.has(id)).map((id) => this.release(id)));

    let room = capacity - this.owners.size;
    let starting = [...this.owners.values()].filter(isStarting).length;
    if (room <= 0 || starting >= startConcurrency) return;
    for (const session of await this.unowned([...wanted.values()].filter((s) => !this.owners.has(s.id)))) {
      if (room <= 0 || starting >= startConcurrency) break;
      this.claim(session.id);
      room -= 1;
      starting += 1;
    }
  }

  /** Sessions with no live holder, longest-waiting first. */
  private async unowned(candidates: readonly SessionRecord[]): Promise<SessionRecord[]> {
    const { redis, prefix } = this.options;
    if (candidates.length === 0) return [];
    const holders = await redis.mget(...candidates.map((s) => sessionKeys({ prefix, sessionId: s.id }).lease));
    const now = Date.now();
    const free: SessionRecord[] = [];
    for (const [index, session] of candidates.entries()) {
      const holder = holders[index];
      const alive = holder !== null && holder !== undefined && (await this.liveness.check(holder));
      if (alive) {
        this.waitingSince.delete(session.id);
        continue;
      }
      if (!this.waitingSince.has(session.id)) this.waitingSince.set(session.id, now);
      free.push(session);
    }
    return free.sort((a, b) => (this.waitingSince.get(a.id) ?? now) - (this.waitingSince.get(b.id) ?? now));
  }

  private claim(sessionId: string): void {
    const { redisUrl, prefix, workerId, config, createDriver, logger, ownerOptions } = this.options;
    const sessionLogger = logger.child({ sessionId });
    const running = startSessionOwner({
      ...ownerOptions,
      redisUrl,
      prefix,
      connectionName: `${workerId}:${sessionId}`,
      config: { ...config, SESSION_ID: sessionId },
      workerId,
      createDriver: createDriver(sessionId),
      logger: sessionLogger,
      claim: 'once',
    });
    this.owners.set(sessionId, running);
    this.waitingSince.delete(sessionId);
    void running.done.then(async (outcome) => {
      // Ended by itself: another worker had it, or the lease was lost. Free the slot; the next
      // reconciliation looks again.
      if (this.owners.get(sessionId) !== running) return;
      this.owners.delete(sessionId);
      if (outcome === 'lost') sessionLogger.warn('session lease lost: the slot is free for another session');
      await running.stop();
    }).catch((error: unknown) => sessionLogger.warn({ err: error }, 'could not close a session that ended'));
  }

  private async release(sessionId: string): Promise<void> {
    const running = this.owners.get(sessionId);
    if (running === undefined) return;
    this.owners.delete(sessionId);
    await running.stop();
  }
}
