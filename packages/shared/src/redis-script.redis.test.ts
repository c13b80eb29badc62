import { randomUUID } from 'node:crypto';

import { createRedisFixture, type RedisFixture } from '@waq/test-utils';
import { afterEach, beforeEach, expect, it } from 'vitest';

import { RedisScript } from './redis-script.js';

let fixture: RedisFixture;

beforeEach(async () => {
  fixture = await createRedisFixture();
});

afterEach(async () => {
  await fixture.cleanup();
});

it('runs a script Redis does not know yet once (EVAL), then by its SHA1', async () => {
  // A body no other run has loaded: the first call meets NOSCRIPT.
  const script = new RedisScript(`-- ${randomUUID()}\nreturn redis.call('INCR', KEYS[1]) + tonumber(ARGV[1])`);
  const key = `${fixture.prefix}:counter`;
  expect(await fixture.redis.script('EXISTS', script.sha)).toEqual([0]);
  expect(await script.run(fixture.redis, [key], [10])).toBe(11);
  expect(await fixture.redis.script('EXISTS', script.sha)).toEqual([1]);
  expect(await script.run(fixture.redis, [key], [10])).toBe(12);
  expect(await fixture.redis.get(key)).toBe('2');
});

it('passes a script error through', async () => {
  const script = new RedisScript(`-- ${randomUUID()}\nreturn redis.call('INCR', KEYS[1])`);
  await fixture.redis.set(`${fixture.prefix}:text`, 'not a number');
  await expect(script.run(fixture.redis, [`${fixture.prefix}:text`], [])).rejects.toThrow(/not an integer/);
});
