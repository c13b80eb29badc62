/**
 * Real-Redis isolation for `*.redis.test.ts`: every test gets its own key prefix (so tests run in
 * parallel on one Redis without seeing each other) and everything under it is deleted afterwards.
 */
import { randomUUID } from 'node:crypto';

import { Redis } from 'ioredis';

/** The Redis the tests use: REDIS_URL (set by `npm test`), else the local default. */
export function testRedisUrl(): string {
  return process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
}

export function uniquePrefix(): string {
  return `test-${randomUUID()}`;
}

/** Deletes every key under `prefix`. */
export async function deleteByPrefix(redis: Redis, prefix: string): Promise<number> {
  let deleted = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1_000);
    cursor = next;
    if (keys.length > 0) deleted += await redis.del(...keys);
  } while (cursor !== '0');
  return deleted;
}

export interface RedisFixture {
  readonly url: string;
  readonly prefix: string;
  /** A connection for the test's own reads and writes (consumer policy: waits rather than fails). */
  readonly redis: Redis;
  /** Deletes the prefix's keys and closes the connection. */
  cleanup(): Promise<void>;
}

export async function createRedisFixture(): Promise<RedisFixture> {
  const url = testRedisUrl();
  const prefix = uniquePrefix();
  const redis = new Redis(url, { maxRetriesPerRequest: null });
  await redis.ping();
  return {
    url,
    prefix,
    redis,
    async cleanup() {
      try {
        await deleteByPrefix(redis, prefix);
      } finally {
        redis.disconnect();
      }
    },
  };
}
