import { createRedisFixture, type RedisFixture } from '@waq/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { isStreamId, latestEventId, openBlockingConnection, readRecentEvents, tailEvents } from './event-stream.js';
import { encodeEvent, type SessionEvent } from './events.js';

let fixture: RedisFixture;
const key = () => `${fixture.prefix}:{default}:events`;
const at = () => new Date().toISOString();
const add = async (event: SessionEvent) => (await fixture.redis.xadd(key(), '*', ...encodeEvent(event))) as string;

beforeEach(async () => {
  fixture = await createRedisFixture();
});
afterEach(async () => {
  await fixture.cleanup();
});

describe('event stream reading', () => {
  it('reads the newest events oldest first, and the id to tail from', async () => {
    expect(await readRecentEvents(fixture.redis, key(), 5)).toEqual({ events: [], lastId: '0-0' });
    const ids = [await add({ type: 'state', at: at(), status: 'STARTING' }), await add({ type: 'state', at: at(), status: 'QR' }), await add({ type: 'qr', at: at(), expiresAt: at() })];
    const recent = await readRecentEvents(fixture.redis, key(), 2);
    expect(recent.events.map((e) => e.id)).toEqual(ids.slice(1));
    expect(recent.lastId).toBe(ids[2]);
    expect(await latestEventId(fixture.redis, key())).toBe(ids[2]);
  });

  it('tails events after an id, yields an empty batch when a block passes, and stops on abort', async () => {
    const blocking = await openBlockingConnection(fixture.redis, { name: 'test-tail' });
    const abort = new AbortController();
    try {
      const first = await add({ type: 'state', at: at(), status: 'STARTING' });
      const tail = tailEvents(blocking, key(), { after: '0-0', blockMs: 50, signal: abort.signal });
      const ids = async (): Promise<string[] | undefined> => {
        const result = await tail.next();
        return result.done === true ? undefined : result.value.map((stored) => stored.id);
      };
      expect(await ids()).toEqual([first]);
      expect(await ids()).toEqual([]);
      const second = await add({ type: 'state', at: at(), status: 'READY' });
      let batch = await ids();
      while (batch?.length === 0) batch = await ids();
      expect(batch).toEqual([second]);
      abort.abort();
      expect(await ids()).toBeUndefined();
    } finally {
      blocking.disconnect();
    }
  });

  it('refuses to open a blocking connection to an unreachable Redis, and checks stream ids', async () => {
    const { Redis } = await import('ioredis');
    const dead = new Redis('redis://127.0.0.1:1', { lazyConnect: true });
    await expect(openBlockingConnection(dead, { name: 'test-dead', connectTimeoutMs: 500 })).rejects.toThrow();
    dead.disconnect();
    expect(isStreamId('1732500000000-0')).toBe(true);
    expect(isStreamId('$')).toBe(false);
    expect(isStreamId('0 STREAMS x')).toBe(false);
  });
});
