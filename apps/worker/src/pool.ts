/**
 * A worker pool member: owns up to `capacity` sessions of the registry at once, each with its own
 * lease, owner, queues and driver (one `startSessionOwner` per session, `claim: 'once'`).
 *
 * Every `pollMs` it reconciles what it runs with the registry:
 * - a session it runs that is gone from the registry or wanted `stopped` is stopped (gracefully: active
 *   job finished, client closed, lease released, so the session is free at once);
 * - a session marked `deleted` is logged out (when READY), stopped, then deleted (session-deletion.ts);
 *   one marked deleted that nobody holds is claimed for its deletion alone (no Chromium is started);
 * - while it has room, it claims sessions wanted `running` that no live worker holds: no lease, or a
 *   holder whose named Redis connection is gone (`OwnerLiveness`) and whose lease the takeover rules
 *   of lease.ts let go (unrenewed for half a TTL, or the holder's process on this host is gone). A
 *   session READY on a live worker is never taken (a member joining moves nothing). The claim itself
 *   applies the lease's rules again; a claim that finds the session taken ends at once;
 * - new claims are staggered: at most `startConcurrency` of its sessions may be starting at a time
 *   (Chromiums starting at once on few cores make every one of them slow), the sessions that have
 *   waited longest first. A session with no saved profile sits STOPPED until a `connect`: not starting;
 * - a session's settings (pacing) are read live by its owner, so a PATCH applies to the next send;
 * - drain (`POST /v1/workers/:id/drain`): it claims nothing more and releases its sessions one at a
 *   time, each once the one before is owned by another live worker (READY again if it was READY), or
 *   after `drainStepTimeoutMs`.
 *
 * It writes its own record (host, capacity, sessions, draining) into the worker registry after every
 * reconciliation and removes it when it stops.
 */
import { hostname } from 'node:os';

import {
  decodeState,
  OwnerLiveness,
  pacingPolicy,
  sessionKeys,
  type DeletionReport,
  type Logger,
  type RedisClient,
  type SessionRecord,
  type SessionRegistry,
  type SessionSettings,
  type SessionStatus,
  WorkerRegistry,
} from '@waq/shared';

import type { DriverFactory } from './driver/driver.js';
import { abortableDelay, isDeadLocalWorker } from './lease.js';
import type { PoolFigures, WorkerMetrics } from './metrics.js';
import type { OwnerConfig } from './owner.js';
import { deleteSession } from './session-deletion.js';
import { startSessionOwner, type RunningOwner, type SessionOwnerOptions } from './worker.js';

export interface PoolOptions {
  readonly redisUrl: string;
  /** WAQ_PREFIX */
  readonly prefix: string;
  /** For the registry and the liveness looks (the pool's own reads). */
  readonly redis: RedisClient;
  readonly registry: SessionRegistry;
  readonly workerId: string;
  /** Most sessions owned at once (WORKER_MAX_SESSIONS). */
  readonly capacity: number;
  /** Most of its sessions starting at once (WORKER_START_CONCURRENCY). @defaultValue 2 */
  readonly startConcurrency?: number;
  /** How often the registry is reconciled, in ms. @defaultValue 1000 */
  readonly pollMs?: number;
  /** Longest wait, while draining, for a released session to be taken up elsewhere. @defaultValue 120000 */
  readonly drainStepTimeoutMs?: number;
  /** Config every session shares; SESSION_ID is each session's, pacing a session's settings may override. */
  readonly config: Omit<OwnerConfig, 'SESSION_ID'>;
  readonly createDriver: (sessionId: string) => DriverFactory;
  readonly logger: Logger;
  readonly metrics?: WorkerMetrics;
  /** Extra owner options (watchdog timings in tests, the terminal QR). */
  readonly ownerOptions?: Partial<Pick<SessionOwnerOptions, 'watchdog' | 'profileFs' | 'onQrCode'>>;
  /** Called with each deletion this member completed. */
  readonly onDeleted?: (report: DeletionReport) => void;
  /** A session to register once per installation before the first claim (the configured SESSION_ID; retried until Redis answers). */
  readonly seed?: string;
}

/** Statuses of a session still starting: a claim counts against `startConcurrency` until its lease is held and it has left them. */
const STARTING: ReadonlySet<SessionStatus> = new Set(['STARTING', 'AUTHENTICATED']);

function isStarting(running: RunningOwner): boolean {
  const status = running.owner.ownership?.session.status;
  return status === undefined || STARTING.has(status);
}

/** A session released by a drain, until another worker has it. */
interface Handover {
  readonly sessionId: string;
  readonly wasReady: boolean;
  readonly deadline: number;
}

export class WorkerPool {
  private readonly owners = new Map<string, RunningOwner>();
  private readonly liveness: OwnerLiveness;
  /** When each session was first seen without a live holder (longest-waiting first). */
  private readonly waitingSince = new Map<string, number>();
  /** Each owned session's settings, as last read from the registry (its owner reads them live). */
  private readonly settings = new Map<string, SessionSettings>();
  /** Deletions running now, by session. */
  private readonly deletions = new Map<string, Promise<void>>();
  private readonly workers: WorkerRegistry;
  private readonly startedAt = new Date().toISOString();
  private draining = false;
  private handover: Handover | undefined;
  private seedPending: boolean;

  constructor(private readonly options: PoolOptions) {
    this.liveness = new OwnerLiveness(options.redis);
    this.workers = new WorkerRegistry(options.redis, options.prefix);
    this.seedPending = options.seed !== undefined;
    options.metrics?.watchPool(() => this.figures());
  }

  /** The sessions this member runs now (claimed, whether or not its owner holds the lease yet). */
  get sessions(): string[] {
    return [...this.owners.keys()].sort();
  }

  get isDraining(): boolean {
    return this.draining;
  }

  owner(sessionId: string): RunningOwner | undefined {
    return this.owners.get(sessionId);
  }

  figures(): PoolFigures {
    return { capacity: this.options.capacity, owned: this.owners.size, starting: [...this.owners.values()].filter(isStarting).length };
  }

  /** Reconciles every `pollMs` until `signal` aborts, then stops every session it runs. */
  async run(signal: AbortSignal): Promise<void> {
    const { pollMs = 1_000, logger } = this.options;
    let joined = false;
    while (!signal.aborted) {
      try {
        const registered = await this.reconcile();
        await this.heartbeat(pollMs);
        if (!joined) logger.info({ registered, claimed: this.sessions.length, capacity: this.options.capacity }, 'joined the worker pool');
        joined = true;
      } catch (error) {
        logger.warn({ err: error }, 'could not reconcile the sessions with the registry; retrying');
      }
      await abortableDelay(pollMs, signal);
    }
    await Promise.all([...this.owners.keys()].map((id) => this.release(id)));
    await Promise.all(this.deletions.values());
    await this.workers.remove(this.options.workerId).catch((error: unknown) => logger.warn({ err: error }, 'could not remove this worker from the worker registry'));
  }

  private async heartbeat(everyMs: number): Promise<void> {
    const { workerId, capacity } = this.options;
    await this.workers.heartbeat({
      id: workerId,
      host: hostname(),
      pid: process.pid,
      capacity,
      sessions: this.sessions,
      startedAt: this.startedAt,
      heartbeatAt: new Date().toISOString(),
      heartbeatEveryMs: everyMs,
      draining: this.draining,
    });
  }

  /** One reconciliation (see the header); returns how many sessions the registry holds. */
  async reconcile(): Promise<number> {
    const { registry, capacity, startConcurrency = 2, workerId, logger, seed } = this.options;
    if (this.seedPending && seed !== undefined) {
      if (await registry.seed(seed)) logger.info({ sessionId: seed }, 'registered the configured session (SESSION_ID) in the session registry');
      this.seedPending = false;
    }
    const [{ sessions }, drainRequested] = await Promise.all([registry.list(), this.workers.drainRequested(workerId)]);
    if (drainRequested && !this.draining) logger.warn({ sessions: this.sessions.length }, 'asked to drain: claiming nothing more, handing the sessions over one at a time');
    this.draining = drainRequested;
    const byId = new Map(sessions.map((s) => [s.id, s] as const));
    for (const session of sessions) if (this.owners.has(session.id)) this.settings.set(session.id, session.settings);

    for (const id of [...this.owners.keys()]) {
      const desired = byId.get(id)?.desired;
      if (desired === 'deleted') this.startDeletion(id);
      else if (desired !== 'running') await this.release(id);
    }
    const deleted = sessions.filter((s) => s.desired === 'deleted' && !this.owners.has(s.id) && !this.deletions.has(s.id));
    for (const session of await this.unowned(deleted)) this.startDeletion(session.id);

    if (this.draining) {
      await this.drainStep(byId);
      return sessions.length;
    }
    let room = capacity - this.owners.size;
    let starting = [...this.owners.values()].filter(isStarting).length;
    if (room <= 0 || starting >= startConcurrency) return sessions.length;
    const candidates = sessions.filter((s) => s.desired === 'running' && !this.owners.has(s.id) && !this.deletions.has(s.id));
    for (const session of await this.unowned(candidates)) {
      if (room <= 0 || starting >= startConcurrency) break;
      await registry.markRegistered(session);
      this.claim(session);
      room -= 1;
      starting += 1;
    }
    return sessions.length;
  }

  /** Releases the next session of a drain once the one before has a new owner (or its wait ran out). */
  private async drainStep(byId: ReadonlyMap<string, SessionRecord>): Promise<void> {
    const { redis, prefix, logger, drainStepTimeoutMs = 120_000 } = this.options;
    if (this.handover !== undefined) {
      const { sessionId, wasReady, deadline } = this.handover;
      const keys = sessionKeys({ prefix, sessionId });
      const [holder, state] = await redis.mget(keys.lease, keys.state);
      const taken = holder !== null && holder !== undefined && holder !== this.options.workerId && (await this.liveness.check(holder));
      const settled = taken && (!wasReady || decodeState(state ?? null)?.status === 'READY');
      if (!settled && Date.now() < deadline) return;
      if (settled) logger.info({ sessionId, newOwner: holder }, 'drain: the session runs on another worker now');
      else logger.warn({ sessionId }, 'drain: no other worker took the session up in time; handing over the next one anyway');
      this.handover = undefined;
    }
    const next = this.sessions.find((id) => byId.get(id)?.desired === 'running');
    if (next === undefined) return;
    const wasReady = this.owners.get(next)?.owner.ownership?.session.status === 'READY';
    logger.info({ sessionId: next, left: this.owners.size - 1 }, 'drain: handing a session over');
    this.handover = { sessionId: next, wasReady, deadline: Date.now() + drainStepTimeoutMs };
    await this.release(next);
  }

  /** Sessions that may be claimed: no live holder, or a dead one whose lease the takeover rules let go; longest-waiting first. */
  private async unowned(candidates: readonly SessionRecord[]): Promise<SessionRecord[]> {
    const { redis, prefix, config } = this.options;
    if (candidates.length === 0) return [];
    const leases = candidates.map((s) => sessionKeys({ prefix, sessionId: s.id }).lease);
    // Commands, not a pipeline: on Redis Cluster the leases live on different nodes, and ioredis sends
    // commands issued together in one write per node anyway.
    const replies = await Promise.all(leases.map((key) => Promise.all([redis.get(key), redis.pttl(key)])));
    const now = Date.now();
    const free: SessionRecord[] = [];
    for (const [index, session] of candidates.entries()) {
      const [holder, pttl] = replies[index] ?? [null, -2];
      if (holder !== null) {
        if (await this.liveness.check(holder)) {
          this.waitingSince.delete(session.id);
          continue;
        }
        // A dead holder's session waits until lease.ts would let a claim take over (unrenewed for half
        // a TTL, or its process on this host gone): no claim is set up and torn down every poll meanwhile.
        if (!this.waitingSince.has(session.id)) this.waitingSince.set(session.id, now);
        if (pttl * 2 >= config.LEASE_TTL_MS && !isDeadLocalWorker(holder)) continue;
      }
      if (!this.waitingSince.has(session.id)) this.waitingSince.set(session.id, now);
      free.push(session);
    }
    return free.sort((a, b) => (this.waitingSince.get(a.id) ?? now) - (this.waitingSince.get(b.id) ?? now));
  }

  private claim(record: SessionRecord): void {
    const { redisUrl, prefix, workerId, config, createDriver, logger, ownerOptions, metrics } = this.options;
    const sessionId = record.id;
    const sessionLogger = logger.child({ sessionId });
    this.settings.set(sessionId, record.settings);
    const settings = (): SessionSettings => this.settings.get(sessionId) ?? {};
    const running = startSessionOwner({
      ...ownerOptions,
      redisUrl,
      prefix,
      connectionName: `${workerId}:${sessionId}`,
      config: { ...config, SESSION_ID: sessionId },
      pacing: () => pacingPolicy(settings(), config),
      workerId,
      createDriver: createDriver(sessionId),
      logger: sessionLogger,
      claim: 'once',
      ...(metrics === undefined ? {} : { metrics: (queues) => metrics.session(sessionId, queues) }),
    });
    this.owners.set(sessionId, running);
    this.waitingSince.delete(sessionId);
    void running.done
      .then(async (outcome) => {
        // Ended by itself: another worker had it, or the lease was lost. Free the slot; the next
        // reconciliation looks again.
        if (this.owners.get(sessionId) !== running) return;
        this.forget(sessionId);
        if (outcome === 'lost') sessionLogger.warn('session lease lost: the slot is free for another session');
        await running.stop();
      })
      .catch((error: unknown) => sessionLogger.warn({ err: error }, 'could not close a session that ended'));
  }

  private forget(sessionId: string): void {
    this.owners.delete(sessionId);
    this.settings.delete(sessionId);
    this.options.metrics?.forget(sessionId);
  }

  private async release(sessionId: string): Promise<void> {
    const running = this.owners.get(sessionId);
    if (running === undefined) return;
    this.forget(sessionId);
    await running.stop();
  }

  /** Logs a READY session out, stops it, and deletes it (in the background; one at a time per session). */
  private startDeletion(sessionId: string): void {
    if (this.deletions.has(sessionId)) return;
    const { logger, redis, redisUrl, prefix, workerId, registry, config, onDeleted } = this.options;
    const sessionLogger = logger.child({ sessionId });
    const running = this.owners.get(sessionId);
    const deletion = (async () => {
      let loggedOut = false;
      if (running !== undefined) {
        const session = running.owner.ownership?.session;
        if (session?.status === 'READY') {
          sessionLogger.info('session deleted: logging out of WhatsApp');
          loggedOut = await session.logout().then(
            () => true,
            (error: unknown) => {
              sessionLogger.warn({ err: error }, 'session deleted: the logout failed; deleting the local session anyway');
              return false;
            },
          );
          // Stopping gives the lease up, and another member may run the deletion before this one
          // claims it again: the logout is written where that member's deletion reads it.
          if (loggedOut) {
            await redis
              .set(sessionKeys({ prefix, sessionId }).deletionLoggedOut, new Date().toISOString(), 'EX', config.MESSAGE_RETENTION_S)
              .catch((error: unknown) => sessionLogger.warn({ err: error }, 'could not record the logout for the deletion report; it may say loggedOut: false'));
          }
        }
        this.forget(sessionId);
        await running.stop();
      }
      const report = await deleteSession({ redisUrl, prefix, sessionId, workerId, registry, sessionDir: config.SESSION_DIR, leaseTtlMs: config.LEASE_TTL_MS, retentionSeconds: config.MESSAGE_RETENTION_S, loggedOut, logger: sessionLogger });
      if (report !== undefined) onDeleted?.(report);
    })()
      .catch((error: unknown) => sessionLogger.error({ err: error }, 'could not delete the session; retrying on the next reconciliation'))
      .finally(() => this.deletions.delete(sessionId));
    this.deletions.set(sessionId, deletion);
  }
}
