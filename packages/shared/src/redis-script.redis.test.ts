import { randomUUID } from 'node:crypto';

import { createRedisFixture, type RedisFixture } from '@waq/test-utils';
import { Cluster } from 'ioredis';
import { afterEach, beforeEach, expect, it } from 'vitest';

import { RedisScript } from './redis-script.js';

let fixture: RedisFixture;

beforeEach(async () => {
  fixture = await createRedisFixture();
});

afterEach(async () => {
  await fixture.cleanup();
});

/** How many masters know the script (`SCRIPT EXISTS` on each). */
async function knownBy(sha: string): Promise<number> {
  const nodes = fixture.redis instanceof Cluster ? fixture.redis.nodes('master') : [fixture.redis];
  const answers = await Promise.all(nodes.map(async (node) => (await node.script('EXISTS', sha)) as number[]));
  return answers.filter(([known]) => known === 1).length;
}

it('runs a script Redis does not know yet once (EVAL), then by its SHA1', async () => {
  // A body no other run has loaded: the first call meets NOSCRIPT.
  const script = new RedisScript(`-- ${randomUUID()}\nreturn redis.call('INCR', KEYS[1]) + tonumber(ARGV[1])`);
  const key = `${fixture.prefix}:counter`;
  expect(await knownBy(script.sha)).toBe(0);
  expect(await script.run(fixture.redis, [key], [10])).toBe(11);
  // Loaded where it ran: the one Redis, or the node of the key's slot on a cluster.
  expect(await knownBy(script.sha)).toBe(1);
  expect(await script.run(fixture.redis, [key], [10])).toBe(12);
  expect(await fixture.redis.get(key)).toBe('2');
});

it('passes a script error through', async () => {
  const script = new RedisScript(`-- ${randomUUID()}\nreturn redis.call('INCR', KEYS[1])`);
  await fixture.redis.set(`${fixture.prefix}:text`, 'not a number');
  await expect(script.run(fixture.redis, [`${fixture.prefix}:text`], [])).rejects.toThrow(/not an integer/);
});
