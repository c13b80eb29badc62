import { createRedisFixture, type RedisFixture } from '@waq/test-utils';
import { afterEach, beforeEach, describe, expect, it, onTestFinished } from 'vitest';

import { registryKeys, sessionKeys } from './keys.js';
import { sessionIdSchema, SessionRegistry } from './session-registry.js';

let fixture: RedisFixture;
let clock: number;
let registry: SessionRegistry;
beforeEach(async () => {
  fixture = await createRedisFixture();
  clock = Date.parse('2026-12-01T10:00:00.000Z');
  registry = new SessionRegistry(fixture.redis, fixture.prefix, () => new Date(clock));
});
afterEach(async () => {
  await fixture.cleanup();
});

describe('session ids', () => {
  it('takes lowercase letters, digits, "-" and "_", 1 to 64 characters', () => {
    for (const id of ['default', 'sales-1', 'support_de', 'a', 'x'.repeat(64)]) expect(sessionIdSchema.safeParse(id).success).toBe(true);
    for (const id of ['', 'Sales', 'a b', 'a/b', 'a:b', '{a}', 'ü', 'x'.repeat(65)]) expect(sessionIdSchema.safeParse(id).success, id).toBe(false);
    expect(sessionIdSchema.safeParse('Sales').error?.issues[0]?.message).toBe('must be 1-64 characters: lowercase letters, digits, "-" and "_"');
  });
});

describe('SessionRegistry', () => {
  it('creates a session wanted running, once: a second create returns the first record untouched', async () => {
    const first = await registry.create('sales', { settings: { sendIntervalMs: 2_000 } });
    expect(first).toEqual({
      created: true,
      record: { id: 'sales', desired: 'running', settings: { sendIntervalMs: 2_000 }, createdAt: '2026-12-01T10:00:00.000Z', updatedAt: '2026-12-01T10:00:00.000Z' },
    });
    clock += 60_000;
    const again = await registry.create('sales', { desired: 'stopped' });
    expect(again).toEqual({ created: false, record: first.record });
    expect(await fixture.redis.hkeys(registryKeys(fixture.prefix).sessions)).toEqual(['sales']);
  });

  it('gives one winner when two processes create the same id at once', async () => {
    const connection = fixture.redis.duplicate();
    onTestFinished(() => connection.disconnect());
    const other = new SessionRegistry(connection, fixture.prefix);
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? registry : other).create('race')));
    expect(results.filter((result) => result.created)).toHaveLength(1);
    expect(new Set(results.map((result) => JSON.stringify(result.record))).size).toBe(1);
  });

  it('refuses an invalid id or setting before anything reaches Redis', async () => {
    await expect(registry.create('Sales')).rejects.toThrow(/lowercase letters/);
    await expect(registry.create('ok', { settings: { sendIntervalMs: -1 } })).rejects.toThrow(/sendIntervalMs/);
    await expect(registry.create('ok', { settings: { pacing: 1 } as never })).rejects.toThrow(/pacing/);
    expect(await fixture.redis.exists(registryKeys(fixture.prefix).sessions)).toBe(0);
  });

  it('lists sessions by id and sets apart an entry it cannot read', async () => {
    for (const id of ['support', 'default', 'sales']) await registry.create(id);
    await fixture.redis.hset(registryKeys(fixture.prefix).sessions, 'broken', '{"id":"broken","desired":"sideways"}', 'garbled', 'not json');
    const { sessions, unreadable } = await registry.list();
    expect(sessions.map((s) => s.id)).toEqual(['default', 'sales', 'support']);
    expect(unreadable).toEqual([
      { id: 'broken', problem: expect.stringContaining('desired') },
      { id: 'garbled', problem: 'not JSON' },
    ]);
    expect(await registry.get('broken')).toBeNull();
    expect(await registry.get('nope')).toBeNull();
  });

  it('updates the desired state and settings atomically: settings merge, null removes one', async () => {
    await registry.create('sales', { settings: { sendIntervalMs: 2_000, sendJitterMs: 500 } });
    clock += 1_000;
    const stopped = await registry.update('sales', { desired: 'stopped' });
    expect(stopped).toMatchObject({ desired: 'stopped', settings: { sendIntervalMs: 2_000, sendJitterMs: 500 }, updatedAt: '2026-12-01T10:00:01.000Z', createdAt: '2026-12-01T10:00:00.000Z' });
    const patched = await registry.update('sales', { settings: { sendIntervalMs: 0, sendJitterMs: null } });
    expect(patched).toMatchObject({ desired: 'stopped', settings: { sendIntervalMs: 0 } });
    expect(patched?.settings).not.toHaveProperty('sendJitterMs');
    const cleared = await registry.update('sales', { settings: { sendIntervalMs: null } });
    expect(cleared?.settings).toEqual({});
    expect(await registry.get('sales')).toEqual(cleared);
    expect(await registry.update('nope', { desired: 'running' })).toBeNull();
    await expect(registry.update('sales', { settings: { sendIntervalMs: 1.5 } })).rejects.toThrow(/sendIntervalMs/);
  });

  it('concurrent patches of different fields both land', async () => {
    await registry.create('sales');
    const connection = fixture.redis.duplicate();
    onTestFinished(() => connection.disconnect());
    const other = new SessionRegistry(connection, fixture.prefix);
    await Promise.all([registry.update('sales', { desired: 'stopped' }), other.update('sales', { settings: { sendIntervalMs: 3_000 } })]);
    expect(await registry.get('sales')).toMatchObject({ desired: 'stopped', settings: { sendIntervalMs: 3_000 } });
  });

  it('removes a session from the registry', async () => {
    await registry.create('sales');
    expect(await registry.remove('sales')).toBe(true);
    expect(await registry.remove('sales')).toBe(false);
    expect(await registry.get('sales')).toBeNull();
  });

  it('keeps a marker key in the session\'s own slot while it is registered: set on create, gone on delete and remove', async () => {
    const marker = sessionKeys({ prefix: fixture.prefix, sessionId: 'sales' }).registered;
    await registry.create('sales');
    expect(await fixture.redis.get(marker)).toBe('2026-12-01T10:00:00.000Z');
    await fixture.redis.del(marker); // a crash between the two writes of a create
    await registry.create('sales');
    expect(await fixture.redis.exists(marker)).toBe(1);
    expect(await registry.markDeleted('sales')).toMatchObject({ desired: 'deleted' });
    expect(await fixture.redis.exists(marker)).toBe(0);
    expect(await registry.markDeleted('nope')).toBeNull();
    await registry.create('support');
    await registry.remove('support');
    expect(await fixture.redis.exists(sessionKeys({ prefix: fixture.prefix, sessionId: 'support' }).registered)).toBe(0);
  });

  it('makes a deletion final: no patch or create brings the session back', async () => {
    await registry.create('sales');
    await registry.markDeleted('sales');
    expect(await registry.update('sales', { desired: 'running' })).toMatchObject({ desired: 'deleted' });
    expect(await registry.create('sales')).toMatchObject({ created: false, record: { desired: 'deleted' } });
    expect(await fixture.redis.exists(sessionKeys({ prefix: fixture.prefix, sessionId: 'sales' }).registered)).toBe(0);
  });

  it('seeds the configured session once per installation, capitals of a waq 0.1 SESSION_ID included; a deleted one stays deleted', async () => {
    expect(await registry.seed('Legacy_1')).toBe(true);
    expect(await registry.get('Legacy_1')).toMatchObject({ id: 'Legacy_1', desired: 'running' });
    expect(await registry.seed('Legacy_1')).toBe(false);
    await registry.remove('Legacy_1');
    expect(await registry.seed('Legacy_1')).toBe(false);
    expect(await registry.get('Legacy_1')).toBeNull();
    await expect(registry.create('Legacy_2')).rejects.toThrow(/lowercase/);
    await expect(registry.seed('a b')).rejects.toThrow(/letters, digits/);
  });
});
