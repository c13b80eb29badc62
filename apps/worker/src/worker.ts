/**
 * The worker's wiring, in one place: a session's two Redis connections (connections.ts), its
 * `SessionOwner`, and the run/stop lifecycle. `main.ts`, the owner test harness and `bench/` all start
 * their owners through `startSessionOwner`, so what is measured and tested is what runs.
 */
import type { RedisClient, SessionQueues } from '@waq/shared';

import { createOwnerConnections } from './connections.js';
import type { SessionMetrics } from './metrics.js';
import { SessionOwner, type OwnerOptions, type OwnerOutcome } from './owner.js';

export interface SessionOwnerOptions extends Omit<OwnerOptions, 'redis' | 'queues' | 'metrics'> {
  readonly redisUrl: string;
  /** WAQ_PREFIX */
  readonly prefix: string;
  /** Name of the two connections in `CLIENT LIST` (`<name>`, `<name>-queues`). @defaultValue 'waq-worker' */
  readonly connectionName?: string;
  /** The session's metrics, made from its queues (they read its job counts). */
  readonly metrics?: (queues: SessionQueues) => SessionMetrics;
}

export interface RunningOwner {
  readonly owner: SessionOwner;
  readonly workerId: string;
  /** waq's own connection (records, events, state). */
  readonly redis: RedisClient;
  readonly queues: SessionQueues;
  readonly metrics: SessionMetrics | undefined;
  /** Resolves with how the owner's run ended (after `stop()`; with `claim: 'once'` also by itself). */
  readonly done: Promise<OwnerOutcome>;
  /** Graceful stop, as on SIGTERM: the active job finished, the client closed, the lease released, the connections closed. Idempotent. */
  stop(): Promise<void>;
}

/** Connects, then runs the owner (standby until it holds the session's lease) until `stop()`. */
export function startSessionOwner({ redisUrl, prefix, connectionName = 'waq-worker', metrics, ...options }: SessionOwnerOptions): RunningOwner {
  const { redis, queues, close } = createOwnerConnections(redisUrl, { prefix, sessionId: options.config.SESSION_ID }, connectionName, options.logger);
  const workerMetrics = metrics?.(queues);
  const owner = new SessionOwner({ ...options, redis, queues, ...(workerMetrics === undefined ? {} : { metrics: workerMetrics }) });
  const abort = new AbortController();
  const done = owner.run(abort.signal);
  let stopping: Promise<void> | undefined;
  return {
    owner,
    metrics: workerMetrics,
    workerId: options.workerId,
    redis,
    queues,
    done,
    stop() {
      stopping ??= (async () => {
        abort.abort();
        await done;
        await close();
      })();
      return stopping;
    },
  };
}
