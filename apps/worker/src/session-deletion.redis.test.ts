import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { createProducer, SessionRegistry, sessionKeys } from '@waq/shared';
import { createRedisFixture, keysUnder, type RedisFixture } from '@waq/test-utils';
import { afterEach, beforeEach, describe, expect, it, onTestFinished } from 'vitest';

import { deleteSession, type DeletionOptions } from './session-deletion.js';
import { FAST_CONFIG, silentLogger } from './testing/owner-harness.js';

let fixture: RedisFixture;
let registry: SessionRegistry;
let sessionDir: string;

beforeEach(async () => {
  fixture = await createRedisFixture();
  registry = new SessionRegistry(fixture.redis, fixture.prefix);
  sessionDir = await mkdtemp(path.join(tmpdir(), 'waq-deletion-'));
});

afterEach(async () => {
  await fixture.cleanup();
  await rm(sessionDir, { recursive: true, force: true });
});

function options(sessionId: string, workerId: string): DeletionOptions {
  return {
    redisUrl: fixture.url,
    prefix: fixture.prefix,
    sessionId,
    workerId,
    registry,
    sessionDir,
    leaseTtlMs: FAST_CONFIG.LEASE_TTL_MS,
    retentionSeconds: 600,
    loggedOut: false,
    logger: silentLogger,
  };
}

async function sendHeld(sessionId: string, idempotencyKey: string): Promise<void> {
  const producer = createProducer({ redis: fixture.url, prefix: fixture.prefix, session: sessionId });
  onTestFinished(() => producer.close());
  // The producer fails fast rather than queueing commands: wait for its connection.
  await producer.queues.outbox.waitUntilReady();
  await producer.send({ to: '+4915123456789', text: 'held', idempotencyKey });
}

describe('deleteSession', () => {
  it('reports the waiting sends and removes every key; run again (a stale look at the registry), it does nothing and leaves nothing', async () => {
    await registry.create('s1', { desired: 'stopped' });
    await sendHeld('s1', 'first');
    await registry.markDeleted('s1');

    const report = await deleteSession(options('s1', 'worker-a'));
    expect(report?.failedSends.map((f) => f.id)).toEqual(['first']);
    expect(await keysUnder(fixture.redis, `${fixture.prefix}:{s1}`)).toEqual([]);
    expect(await registry.get('s1')).toBeNull();

    // A second member read the registry before the first run removed the entry.
    expect(await deleteSession(options('s1', 'worker-b'))).toBeUndefined();
    expect(await keysUnder(fixture.redis, `${fixture.prefix}:{s1}`)).toEqual([]);
  });

  it("reports the logout of the owner that stopped before another worker ran the deletion", async () => {
    await registry.create('s1', { desired: 'stopped' });
    await registry.markDeleted('s1');
    // What the owner writes once it has logged out, before it stops and gives the lease up (pool.ts).
    await fixture.redis.set(sessionKeys({ prefix: fixture.prefix, sessionId: 's1' }).deletionLoggedOut, new Date().toISOString());

    const report = await deleteSession(options('s1', 'another-worker'));
    expect(report?.loggedOut).toBe(true);
    expect(await registry.deletionReport('s1')).toMatchObject({ loggedOut: true });
    expect(await keysUnder(fixture.redis, `${fixture.prefix}:{s1}`)).toEqual([]);
  });

  it('does not touch a session created again with the same id', async () => {
    await registry.create('s1', { desired: 'stopped' });
    await registry.markDeleted('s1');
    expect((await deleteSession(options('s1', 'worker-a')))?.failedSends).toEqual([]);

    await registry.create('s1', { desired: 'stopped' });
    await sendHeld('s1', 'after-recreate');
    expect(await deleteSession(options('s1', 'worker-b'))).toBeUndefined();

    expect((await registry.get('s1'))?.desired).toBe('stopped');
    const producer = createProducer({ redis: fixture.url, prefix: fixture.prefix, session: 's1' });
    onTestFinished(() => producer.close());
    expect((await producer.queues.outbox.getJobs(['waiting', 'prioritized', 'delayed'])).map((job) => job.id)).toEqual(['after-recreate']);
  });
});
