import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { createProducer, registryKeys, SessionRegistry, sessionKeys, WorkerRegistry, type DeletionReport } from '@waq/shared';
import { createRedisFixture, keysUnder, type RedisFixture } from '@waq/test-utils';
import { afterEach, beforeEach, describe, expect, it, onTestFinished, vi } from 'vitest';

import { FakeWhatsApp } from './driver/fake-driver.js';
import { WorkerPool, type PoolOptions } from './pool.js';
import { FAST_CONFIG, silentLogger } from './testing/owner-harness.js';

let fixture: RedisFixture;
let registry: SessionRegistry;
let sessionDir: string;
const worlds = new Map<string, FakeWhatsApp>();
const members: { pool: WorkerPool; stop(): Promise<void> }[] = [];

beforeEach(async () => {
  fixture = await createRedisFixture();
  registry = new SessionRegistry(fixture.redis, fixture.prefix);
  sessionDir = await mkdtemp(path.join(tmpdir(), 'waq-pool-'));
});

afterEach(async () => {
  await Promise.all(members.splice(0).map((member) => member.stop()));
  worlds.clear();
  await fixture.cleanup();
  await rm(sessionDir, { recursive: true, force: true });
});

function world(sessionId: string): FakeWhatsApp {
  let found = worlds.get(sessionId);
  if (found === undefined) {
    found = new FakeWhatsApp({ qrIntervalMs: 200 });
    worlds.set(sessionId, found);
  }
  return found;
}

/** A pool member ("a worker process") with its own connection, running until the test ends or `stop()`. */
function startMember(workerId: string, capacity: number, extra: Partial<PoolOptions> = {}): { pool: WorkerPool; stop(): Promise<void> } {
  const redis = fixture.redis.duplicate();
  const { SESSION_ID: _ignored, ...shared } = { ...FAST_CONFIG, SESSION_DIR: sessionDir };
  const pool = new WorkerPool({
    redisUrl: fixture.url,
    prefix: fixture.prefix,
    redis,
    registry: new SessionRegistry(redis, fixture.prefix),
    workerId,
    capacity,
    pollMs: 100,
    config: shared,
    createDriver: (sessionId) => world(sessionId).createDriver,
    logger: silentLogger,
    ownerOptions: { watchdog: { intervalMs: 100, timeoutMs: 3_000, authenticatedTimeoutMs: 1_000 } },
    ...extra,
  });
  const abort = new AbortController();
  const done = pool.run(abort.signal);
  let stopping: Promise<void> | undefined;
  const member = {
    pool,
    stop() {
      stopping ??= (async () => {
        abort.abort();
        await done;
        redis.disconnect();
      })();
      return stopping;
    },
  };
  members.push(member);
  return member;
}

async function holders(ids: readonly string[]): Promise<(string | null)[]> {
  // One GET per session, not an MGET: on Redis Cluster the sessions' keys are in different slots.
  return Promise.all(ids.map((sessionId) => fixture.redis.get(sessionKeys({ prefix: fixture.prefix, sessionId }).lease)));
}

/** Waits until every session's lease holder is what `expected` says (null: nobody). */
async function waitForHolders(ids: readonly string[], expected: (holders: (string | null)[]) => void): Promise<(string | null)[]> {
  let last: (string | null)[] = [];
  await vi.waitFor(async () => {
    last = await holders(ids);
    expected(last);
  }, { timeout: 20_000, interval: 50 });
  return last;
}

const count = (values: readonly (string | null)[], value: string | null): number => values.filter((v) => v === value).length;

describe('WorkerPool', () => {
  const ids = ['s1', 's2', 's3'];

  it('claims sessions wanted running up to its capacity, and never one a live member holds', async () => {
    for (const id of ids) await registry.create(id);
    const a = startMember('pool-a', 2);
    await waitForHolders(ids, (h) => expect(count(h, 'pool-a')).toBe(2));
    expect(a.pool.sessions).toHaveLength(2);
    const ownedByA = (await holders(ids)).map((holder, i) => (holder === 'pool-a' ? ids[i] : undefined)).filter(Boolean);

    const b = startMember('pool-b', 2);
    await waitForHolders(ids, (h) => expect(count(h, 'pool-b')).toBe(1));
    // A second member with room took the free session only: pool-a keeps both of its own.
    const after = await holders(ids);
    expect(after.map((holder, i) => (holder === 'pool-a' ? ids[i] : undefined)).filter(Boolean)).toEqual(ownedByA);
    expect(count(after, null)).toBe(0);
    expect(b.pool.sessions).toHaveLength(1);
    // A third member joining moves nothing.
    const c = startMember('pool-c', 3);
    await c.pool.reconcile();
    expect(c.pool.sessions).toEqual([]);
    expect(await holders(ids)).toEqual(after);
  });

  it('moves the sessions of a member that stops to the members with room, at once', async () => {
    for (const id of ids) await registry.create(id);
    const a = startMember('pool-a', 3);
    await waitForHolders(ids, (h) => expect(count(h, 'pool-a')).toBe(3));
    const b = startMember('pool-b', 2);
    const c = startMember('pool-c', 1);
    await b.pool.reconcile();
    expect(b.pool.sessions).toEqual([]);
    // A graceful stop releases the leases: the others claim them without waiting for a TTL.
    const stoppedAt = Date.now();
    await a.stop();
    const moved = await waitForHolders(ids, (h) => expect(count(h, 'pool-b') + count(h, 'pool-c')).toBe(3));
    expect(Date.now() - stoppedAt).toBeLessThan(FAST_CONFIG.LEASE_TTL_MS);
    expect(count(moved, 'pool-b')).toBe(2);
    expect(count(moved, 'pool-c')).toBe(1);
    expect([...b.pool.sessions, ...c.pool.sessions].sort()).toEqual(ids);
    // The worker registry: the stopped member removed itself, the others report their sessions.
    await vi.waitFor(async () => {
      const listed = await new WorkerRegistry(fixture.redis, fixture.prefix).list();
      expect(listed.map(({ id, capacity, sessions, alive }) => ({ id, capacity, sessions, alive }))).toEqual([
        { id: 'pool-b', capacity: 2, sessions: b.pool.sessions, alive: true },
        { id: 'pool-c', capacity: 1, sessions: c.pool.sessions, alive: true },
      ]);
    }, { timeout: 20_000, interval: 50 });
  });

  it('releases a session wanted stopped, or removed from the registry, and leaves the others running', async () => {
    for (const id of ids) await registry.create(id);
    const a = startMember('pool-a', 3);
    await waitForHolders(ids, (h) => expect(h).toEqual(['pool-a', 'pool-a', 'pool-a']));
    await registry.update('s2', { desired: 'stopped' });
    await registry.remove('s3');
    await waitForHolders(ids, (h) => expect(h).toEqual(['pool-a', null, null]));
    expect(a.pool.sessions).toEqual(['s1']);
    // Wanted running again: claimed again.
    await registry.update('s2', { desired: 'running' });
    await waitForHolders(ids, (h) => expect(h).toEqual(['pool-a', 'pool-a', null]));
  });

  it('runs each session as its own owner: a connect on one shows a QR on that session only', async () => {
    for (const id of ['s1', 's2']) await registry.create(id);
    const a = startMember('pool-a', 2);
    await waitForHolders(['s1', 's2'], (h) => expect(h).toEqual(['pool-a', 'pool-a']));
    await vi.waitFor(() => expect(a.pool.owner('s1')?.owner.ownership).toBeDefined(), { timeout: 20_000 });
    await a.pool.owner('s1')?.owner.ownership?.session.connect();
    await vi.waitFor(() => expect(a.pool.owner('s1')?.owner.ownership?.session.status).toBe('QR'), { timeout: 20_000 });
    expect(a.pool.owner('s2')?.owner.ownership?.session.status).toBe('STOPPED');
    world('s1').scan();
    await vi.waitFor(() => expect(a.pool.owner('s1')?.owner.ownership?.session.status).toBe('READY'), { timeout: 20_000 });
    expect(world('s2').paired).toBe(false);
  });

  /** Connects `id` on its owner and scans its QR: READY, with a saved profile. */
  async function pair(member: { pool: WorkerPool }, id: string): Promise<void> {
    await vi.waitFor(() => expect(member.pool.owner(id)?.owner.ownership).toBeDefined(), { timeout: 20_000 });
    await member.pool.owner(id)?.owner.ownership?.session.connect();
    await vi.waitFor(() => expect(member.pool.owner(id)?.owner.ownership?.session.status).toBe('QR'), { timeout: 20_000 });
    world(id).scan();
    await vi.waitFor(() => expect(member.pool.owner(id)?.owner.ownership?.session.status).toBe('READY'), { timeout: 20_000 });
  }

  it('deletes a session marked deleted: held sends reported failed (session_deleted), queues, keys and profile gone, logged out when READY', async () => {
    for (const id of ['s1', 's2']) await registry.create(id);
    const reports: DeletionReport[] = [];
    const a = startMember('pool-a', 2, { onDeleted: (report) => reports.push(report) });
    await waitForHolders(['s1', 's2'], (h) => expect(h).toEqual(['pool-a', 'pool-a']));
    await pair(a, 's2');
    const profile = path.join(sessionDir, 'session-s2');
    await access(profile);
    // s1 never linked: its 20 sends are held.
    const producer = createProducer({ redis: fixture.url, prefix: fixture.prefix, session: 's1' });
    onTestFinished(() => producer.close());
    await producer.queues.outbox.waitUntilReady();
    const held = [];
    for (let i = 0; i < 20; i += 1) held.push((await producer.send({ to: '+4915123456789', text: `held ${i}`, idempotencyKey: `held-${i}` })).id);

    await registry.markDeleted('s1');
    await registry.markDeleted('s2');
    await vi.waitFor(() => expect(reports.map((r) => r.sessionId).sort()).toEqual(['s1', 's2']), { timeout: 20_000, interval: 50 });
    const s1 = reports.find((r) => r.sessionId === 's1');
    expect(s1?.failedSends.map((f) => f.id).sort()).toEqual([...held].sort());
    expect(new Set(s1?.failedSends.map((f) => f.code))).toEqual(new Set(['session_deleted']));
    expect(s1?.loggedOut).toBe(false);
    expect(reports.find((r) => r.sessionId === 's2')?.loggedOut).toBe(true);
    expect(world('s2').paired).toBe(false);
    expect(JSON.parse((await fixture.redis.get(registryKeys(fixture.prefix).deleted('s1'))) ?? '{}')).toMatchObject({ sessionId: 's1', failedSends: s1?.failedSends });
    for (const id of ['s1', 's2']) {
      expect(await keysUnder(fixture.redis, `${fixture.prefix}:{${id}}`)).toEqual([]);
      expect(await registry.get(id)).toBeNull();
    }
    await expect(access(profile)).rejects.toThrow(/ENOENT/);
    expect(a.pool.sessions).toEqual([]);
    await expect(producer.send({ to: '+4915123456789', text: 'late' })).rejects.toThrow(/no session "s1"/);
  });

  it('deletes a session nobody runs (wanted stopped) without starting it', async () => {
    await registry.create('s1', { desired: 'stopped' });
    const producer = createProducer({ redis: fixture.url, prefix: fixture.prefix, session: 's1' });
    onTestFinished(() => producer.close());
    await producer.queues.outbox.waitUntilReady();
    await producer.send({ to: '+4915123456789', text: 'held', idempotencyKey: 'only' });
    const reports: DeletionReport[] = [];
    const started: string[] = [];
    startMember('pool-a', 1, {
      onDeleted: (report) => reports.push(report),
      createDriver: (id) => () => {
        started.push(id);
        return world(id).createDriver();
      },
    });
    await registry.markDeleted('s1');
    await vi.waitFor(() => expect(reports).toHaveLength(1), { timeout: 20_000, interval: 50 });
    expect(reports[0]?.failedSends.map((f) => f.id)).toEqual(['only']);
    expect(started).toEqual([]);
    expect(await keysUnder(fixture.redis, `${fixture.prefix}:{s1}`)).toEqual([]);
  });

  it('drains: hands its sessions over one at a time, each READY on the other member before the next moves', async () => {
    for (const id of ids) await registry.create(id);
    const a = startMember('pool-a', 3, { drainStepTimeoutMs: 60_000 });
    await waitForHolders(ids, (h) => expect(h).toEqual(['pool-a', 'pool-a', 'pool-a']));
    for (const id of ids) await pair(a, id);
    const b = startMember('pool-b', 3);
    await b.pool.reconcile();
    expect(b.pool.sessions).toEqual([]);

    const workers = new WorkerRegistry(fixture.redis, fixture.prefix);
    expect(await workers.requestDrain('pool-a')).toBe(true);
    // Sampled every 20 ms: never more than one session away from a READY owner.
    let worst = 0;
    await vi.waitFor(async () => {
      const away = ids.filter((id) => b.pool.owner(id)?.owner.ownership?.session.status !== 'READY' && a.pool.owner(id)?.owner.ownership?.session.status !== 'READY').length;
      worst = Math.max(worst, away);
      expect(b.pool.sessions).toEqual(ids);
      for (const id of ids) expect(b.pool.owner(id)?.owner.ownership?.session.status).toBe('READY');
    }, { timeout: 60_000, interval: 20 });
    expect(worst).toBe(1);
    expect(a.pool.sessions).toEqual([]);
    await vi.waitFor(async () => expect((await workers.list()).find((w) => w.id === 'pool-a')).toMatchObject({ draining: true, sessions: [] }), { timeout: 20_000 });
  });

  it('registers its seed session once per installation', async () => {
    const a = startMember('pool-a', 1, { seed: 'default' });
    await waitForHolders(['default'], (h) => expect(h).toEqual(['pool-a']));
    expect(await registry.get('default')).toMatchObject({ desired: 'running' });
    await registry.remove('default');
    await a.pool.reconcile();
    expect(await registry.get('default')).toBeNull();
  });
});
