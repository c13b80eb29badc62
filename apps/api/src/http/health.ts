import type { RedisClient } from '@waq/shared';

import { redisUnavailable, type HttpResult } from './error-response.js';

/** Liveness: the process is up and serving HTTP. Never touches Redis, so a Redis outage does not get the API restarted. */
export function healthz(version: string): HttpResult {
  return { status: 200, body: { status: 'ok', version } };
}

/** Readiness: Redis answers within `timeoutMs`. */
export async function readyz(redis: RedisClient, timeoutMs = 1_000): Promise<HttpResult> {
  try {
    await Promise.race([
      redis.ping(),
      new Promise((_resolve, reject) => setTimeout(() => reject(new Error('timeout')), timeoutMs).unref()),
    ]);
    return { status: 200, body: { status: 'ready', redis: 'up' } };
  } catch {
    return redisUnavailable();
  }
}
