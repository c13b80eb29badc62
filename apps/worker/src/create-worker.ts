/**
 * The worker's wiring, in one place (`main.ts`, the E2E harnesses and `bench/` start workers through
 * it): the pool's Redis connection, the session registry (the configured SESSION_ID registered on the
 * installation's first start), the metrics, and a `WorkerPool` of WORKER_MAX_SESSIONS sessions.
 */
import { type Config, createRedis, type Logger, type RedisClient, SessionRegistry } from '@waq/shared';

import type { DriverFactory } from './driver/driver.js';
import type { WorkerHealth } from './health-server.js';
import { newWorkerId } from './lease.js';
import { WorkerMetrics } from './metrics.js';
import { WorkerPool, type PoolOptions } from './pool.js';

export interface WorkerDependencies {
  readonly logger: Logger;
  /** The driver factory of one session (create-driver.ts). */
  readonly createDriver: (sessionId: string) => DriverFactory;
  /** Where the profiles are (the driver choice decides: sandbox profiles live apart). @defaultValue config.SESSION_DIR */
  readonly sessionDir?: string;
  /** @defaultValue newWorkerId() (host and pid) */
  readonly workerId?: string;
  /** Extra pool options (tests shorten the poll and the watchdog; the terminal QR). */
  readonly pool?: Partial<Pick<PoolOptions, 'pollMs' | 'drainStepTimeoutMs' | 'ownerOptions' | 'onDeleted'>>;
}

export interface RunningWorker {
  readonly workerId: string;
  readonly pool: WorkerPool;
  /** The pool's own connection (registry, liveness, heartbeat). */
  readonly redis: RedisClient;
  readonly metrics: WorkerMetrics;
  /** What `/healthz` reports. */
  health(): WorkerHealth;
  /** Graceful stop: every session stopped (active job finished, client closed, lease released), the record removed. Idempotent. */
  stop(): Promise<void>;
}

export function createWorker(config: Config, { logger, createDriver, sessionDir = config.SESSION_DIR, workerId = newWorkerId(), pool: extra = {} }: WorkerDependencies): RunningWorker {
  const redis = createRedis({ url: config.REDIS_URL, role: 'consumer', name: `waq-pool:${workerId}`, logger });
  const registry = new SessionRegistry(redis, config.WAQ_PREFIX);
  const metrics = new WorkerMetrics();
  const { SESSION_ID, ...shared } = config;
  const pool = new WorkerPool({
    ...extra,
    redisUrl: config.REDIS_URL,
    prefix: config.WAQ_PREFIX,
    redis,
    registry,
    workerId,
    capacity: config.WORKER_MAX_SESSIONS,
    startConcurrency: config.WORKER_START_CONCURRENCY,
    config: { ...shared, SESSION_DIR: sessionDir },
    seed: SESSION_ID,
    createDriver,
    logger,
    metrics,
  });
  const abort = new AbortController();
  const done = pool.run(abort.signal);
  let stopping: Promise<void> | undefined;
  return {
    workerId,
    pool,
    redis,
    metrics,
    health: () => ({
      workerId,
      capacity: config.WORKER_MAX_SESSIONS,
      draining: pool.isDraining,
      sessions: pool.sessions.map((id) => {
        const status = pool.owner(id)?.owner.ownership?.session.status;
        return status === undefined ? { id } : { id, status };
      }),
    }),
    stop() {
      stopping ??= (async () => {
        abort.abort();
        await done;
        await redis.quit().catch(() => redis.disconnect());
      })();
      return stopping;
    },
  };
}
