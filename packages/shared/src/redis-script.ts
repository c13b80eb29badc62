/**
 * A Lua script run by its SHA1 (`EVALSHA`: the body crosses the wire once per Redis lifetime), falling
 * back to `EVAL` when Redis does not know it yet (first use, a restart, `SCRIPT FLUSH`). `NOSCRIPT`
 * means nothing ran, so the fallback is still a single execution. Every Lua script of waq's runs through it.
 *
 * One script instead of a `MULTI` where a transaction is on a hot path: ioredis builds a Pipeline object
 * per `multi()` and copies into it every script defined on the connection (BullMQ defines about 50 on
 * the connections its queues use), which costs more CPU than the commands themselves.
 */
import { createHash } from 'node:crypto';

import type { RedisClient } from './redis.js';

export class RedisScript {
  readonly sha: string;

  constructor(readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  async run(redis: RedisClient, keys: readonly string[], args: readonly (string | number | Buffer)[]): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return redis.eval(this.lua, keys.length, ...keys, ...args);
    }
  }
}
