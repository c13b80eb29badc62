import { readRecentEvents, sessionKeys } from '@waq/shared';
import { createRedisFixture, type RedisFixture } from '@waq/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { AckRecorder } from './ack-recorder.js';
import { StatePublisher } from './state-publisher.js';
import { silentLogger } from './testing/owner-harness.js';

let fx: RedisFixture;
beforeEach(async () => {
  fx = await createRedisFixture();
});
afterEach(async () => {
  await fx.cleanup();
});

describe('AckRecorder', () => {
  it('writes every ack of a burst: the record keeps the last level, each ack is an event, in order', async () => {
    const keys = sessionKeys({ prefix: fx.prefix, sessionId: 'default' });
    const publisher = new StatePublisher(fx.redis, keys, 'worker-1', 10_000, silentLogger, 'default');
    const recorder = new AckRecorder(fx.redis, keys, publisher, silentLogger);
    const count = 40;
    for (let i = 0; i < count; i += 1) await fx.redis.set(keys.waMessage(`wa-${i}`), `msg-${i}`);

    // A burst in one tick (as after a reconnect), then an ack for a message waq did not send.
    for (const level of [1, 2, 3]) for (let i = 0; i < count; i += 1) recorder.record(`wa-${i}`, level);
    recorder.record('wa-foreign', 2);
    await recorder.idle();

    const records = await Promise.all(Array.from({ length: count }, (_v, i) => fx.redis.hgetall(keys.message(`msg-${i}`))));
    expect(new Set(records.map((r) => r['ack']))).toEqual(new Set(['read']));
    const { events } = await readRecentEvents(fx.redis, keys.events, 1_000);
    const acks = events.map(({ event }) => event).filter((e) => e.type === 'message.ack');
    expect(acks).toHaveLength(3 * count + 1);
    expect(acks.slice(0, 3).map((e) => [e.id, e.ack])).toEqual([['msg-0', 'server'], ['msg-1', 'server'], ['msg-2', 'server']]);
    expect(acks.at(-1)).toMatchObject({ waMessageId: 'wa-foreign', ack: 'device' });
    expect(acks.at(-1)).not.toHaveProperty('id');
  });
});
