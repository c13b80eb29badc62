/**
 * Redis connections. Producers and consumers need opposite policies:
 * - **producer** (the API, the SDK in other services): fail fast. With Redis down a request must get a
 *   503 at once, not hang in ioredis's offline queue (`enableOfflineQueue: false`, one retry).
 * - **consumer** (the worker): wait. Commands queue up and go through when Redis is back
 *   (`maxRetriesPerRequest: null`, as BullMQ requires for workers).
 * Both reconnect forever with a capped backoff, and both log connection errors (throttled: ioredis
 * emits one per reconnect attempt) instead of crashing on an unhandled `error` event.
 */
import { once } from 'node:events';

import { Redis, type RedisOptions } from 'ioredis';

import type { Logger } from './logger.js';

export type RedisRole = 'producer' | 'consumer';

export interface RedisSettings {
  readonly url: string;
  readonly role: RedisRole;
  /** Shown in `CLIENT LIST` and in logs, e.g. `waq-api`. */
  readonly name: string;
  readonly logger?: Logger;
}

const retryStrategy = (attempt: number): number => Math.min(100 * 2 ** Math.min(attempt, 6), 3_000);

export function redisOptions(role: RedisRole, name: string): RedisOptions {
  const common: RedisOptions = { connectionName: name, retryStrategy, connectTimeout: 5_000 };
  return role === 'producer'
    ? { ...common, enableOfflineQueue: false, maxRetriesPerRequest: 1 }
    : { ...common, maxRetriesPerRequest: null };
}

export function createRedis({ url, role, name, logger }: RedisSettings): Redis {
  const redis = new Redis(url, redisOptions(role, name));
  let lastLogged = 0;
  redis.on('error', (error: Error) => {
    const now = Date.now();
    if (now - lastLogged < 10_000) return;
    lastLogged = now;
    logger?.warn({ err: error, connection: name }, 'Redis connection error (retrying in the background)');
  });
  redis.on('ready', () => {
    if (lastLogged !== 0) logger?.info({ connection: name }, 'Redis connection restored');
    lastLogged = 0;
  });
  return redis;
}

/** Resolves once `redis` is connected; rejects after `timeoutMs`. */
export async function waitForRedis(redis: Redis, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return;
  await once(redis, 'ready', { signal: AbortSignal.timeout(timeoutMs) }).catch((error: unknown) => {
    throw new Error(`Redis did not become ready within ${timeoutMs} ms: is it running and is REDIS_URL right?`, { cause: error });
  });
}
