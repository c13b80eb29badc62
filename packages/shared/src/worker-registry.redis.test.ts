import { createRedisFixture, type RedisFixture } from '@waq/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { registryKeys } from './keys.js';
import { FORGET_AFTER_MS, WorkerRegistry, type WorkerRecord } from './worker-registry.js';

let fixture: RedisFixture;
let workers: WorkerRegistry;
beforeEach(async () => {
  fixture = await createRedisFixture();
  workers = new WorkerRegistry(fixture.redis, fixture.prefix);
});
afterEach(async () => {
  await fixture.cleanup();
});

const NOW = Date.parse('2026-12-01T10:00:00.000Z');
const record = (id: string, heartbeatAgoMs: number, sessions: string[] = []): WorkerRecord => ({
  id,
  host: 'host-1',
  pid: 42,
  capacity: 4,
  sessions,
  startedAt: '2026-12-01T09:00:00.000Z',
  heartbeatAt: new Date(NOW - heartbeatAgoMs).toISOString(),
  heartbeatEveryMs: 1_000,
  draining: false,
});

describe('WorkerRegistry', () => {
  it('lists members by id, alive while the heartbeat is younger than three intervals', async () => {
    await workers.heartbeat(record('w-b', 500, ['s1', 's2']));
    await workers.heartbeat(record('w-a', 3_500));
    expect(await workers.list(NOW)).toEqual([
      { ...record('w-a', 3_500), alive: false },
      { ...record('w-b', 500, ['s1', 's2']), alive: true },
    ]);
  });

  it('rewrites a member on each heartbeat and forgets it on remove', async () => {
    await workers.heartbeat(record('w-a', 2_000));
    await workers.heartbeat(record('w-a', 0, ['s1']));
    expect(await workers.list(NOW)).toEqual([{ ...record('w-a', 0, ['s1']), alive: true }]);
    await workers.remove('w-a');
    expect(await workers.list(NOW)).toEqual([]);
  });

  it('deletes records silent for an hour, and unreadable ones, when listing', async () => {
    await workers.heartbeat(record('w-old', FORGET_AFTER_MS + 1));
    await workers.heartbeat(record('w-new', 0));
    await fixture.redis.hset(registryKeys(fixture.prefix).workers, 'w-bad', '{"id":1}');
    expect((await workers.list(NOW)).map((w) => w.id)).toEqual(['w-new']);
    expect(await fixture.redis.hkeys(registryKeys(fixture.prefix).workers)).toEqual(['w-new']);
  });

  it('refuses a malformed record before it reaches Redis', async () => {
    await expect(workers.heartbeat({ ...record('w-a', 0), capacity: -1 })).rejects.toThrow(/capacity/);
    expect(await fixture.redis.exists(registryKeys(fixture.prefix).workers)).toBe(0);
  });

  it('keeps a drain request apart from the heartbeats, for registered members only, until the member is removed', async () => {
    expect(await workers.requestDrain('w-a')).toBe(false);
    await workers.heartbeat(record('w-a', 0));
    expect(await workers.drainRequested('w-a')).toBe(false);
    expect(await workers.requestDrain('w-a')).toBe(true);
    await workers.heartbeat({ ...record('w-a', 0), draining: true });
    expect(await workers.drainRequested('w-a')).toBe(true);
    expect((await workers.list(NOW))[0]?.draining).toBe(true);
    await workers.remove('w-a');
    expect(await workers.drainRequested('w-a')).toBe(false);
  });
});
