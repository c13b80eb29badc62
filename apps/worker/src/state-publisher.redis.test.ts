import { decodeState, sessionKeys, type SessionState } from '@waq/shared';
import { createRedisFixture, type RedisFixture } from '@waq/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { StatePublisher } from './state-publisher.js';
import { silentLogger } from './testing/owner-harness.js';

let fx: RedisFixture;

beforeEach(async () => {
  fx = await createRedisFixture();
});
afterEach(async () => {
  await fx.cleanup();
});

describe('state publisher', () => {
  it("publishes no state before its first transition: a heartbeat leaves the predecessor's state alone", async () => {
    const keys = sessionKeys({ prefix: fx.prefix, sessionId: 'default' });
    const predecessor: SessionState = { sessionId: 'default', status: 'READY', since: new Date().toISOString(), owner: { workerId: 'w-old', heartbeatAt: new Date().toISOString() } };
    await fx.redis.set(keys.state, JSON.stringify(predecessor));
    const publisher = new StatePublisher(fx.redis, keys, 'w-new', 100, silentLogger, 'default');

    const renewedAt = new Date();
    await publisher.heartbeat(renewedAt);
    expect(decodeState(await fx.redis.get(keys.state))).toEqual(predecessor);

    await publisher.transition('STARTING');
    expect(decodeState(await fx.redis.get(keys.state))).toMatchObject({ status: 'STARTING', owner: { workerId: 'w-new', heartbeatAt: renewedAt.toISOString() } });
    const later = new Date(renewedAt.getTime() + 1_000);
    await publisher.heartbeat(later);
    expect(decodeState(await fx.redis.get(keys.state))).toMatchObject({ status: 'STARTING', owner: { heartbeatAt: later.toISOString() } });
  });
});
