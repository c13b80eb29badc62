import type { Writable } from 'node:stream';

import { createRedisFixture, keysUnder, type RedisFixture } from '@waq/test-utils';
import { Worker } from 'bullmq';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { IdempotencyConflictError, InvalidPayloadError, SessionNotFoundError } from './errors.js';
import { encodeEvent } from './events.js';
import { sessionKeys } from './keys.js';
import { createProducer, type Producer } from './producer.js';
import { messageFailureFields } from './messages.js';
import { holderConnectionName } from './owner-liveness.js';
import { createRedis, masterNodes, type RedisClient } from './redis.js';
import { SessionRegistry } from './session-registry.js';
import type { SessionState } from './state.js';

let fixture: RedisFixture;
let producer: Producer;
let registry: SessionRegistry;
const cleanups: (() => Promise<void>)[] = [];

beforeEach(async () => {
  fixture = await createRedisFixture();
  registry = new SessionRegistry(fixture.redis, fixture.prefix);
  await registry.create('default');
  producer = createProducer({ redis: fixture.url, prefix: fixture.prefix });
  await producer.queues.outbox.waitUntilReady();
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await producer.close();
  await fixture.cleanup();
});

function keys() {
  return sessionKeys({ prefix: fixture.prefix, sessionId: 'default' });
}

/** Publishes what a live owner would: the state, and the lease taken through its named connection. */
async function publishState(status: SessionState['status'], workerId: string | null = 'w1'): Promise<void> {
  const now = new Date().toISOString();
  const state: SessionState = { sessionId: 'default', status, since: now, ...(workerId === null ? {} : { owner: { workerId, heartbeatAt: now } }) };
  await fixture.redis.set(keys().state, JSON.stringify(state));
  if (workerId === null) await fixture.redis.del(keys().lease);
  else await ownerConnection(workerId).set(keys().lease, workerId, 'PX', 10_000);
}

const owners = new Map<string, RedisClient>();
/** A connection named like a lease holder's: the owner's sign of life (owner-liveness.ts). */
function ownerConnection(workerId: string): RedisClient {
  let connection = owners.get(workerId);
  if (connection === undefined) {
    connection = createRedis({ url: fixture.url, role: 'consumer', name: holderConnectionName(workerId) });
    owners.set(workerId, connection);
    const closing = connection;
    cleanups.push(async () => {
      owners.delete(workerId);
      closing.disconnect();
    });
  }
  return connection;
}

/** A stand-in for the worker's send handler, so the producer's read side can be observed. */
function startFakeSender(outcome: (data: { to: string; text: string }) => Promise<void> | void): void {
  const worker = new Worker(
    'outbox',
    async (job) => {
      await outcome(job.data as { to: string; text: string });
      const id = String(job.id);
      await fixture.redis.hset(keys().message(id), { phase: 'sent', attemptStartedAt: new Date().toISOString(), waMessageId: `true_${id}`, sentAt: new Date().toISOString() });
      await fixture.redis.xadd(keys().events, '*', ...encodeEvent({ type: 'message.sent', at: new Date().toISOString(), id, waMessageId: `true_${id}` }));
    },
    { connection: createRedis({ url: fixture.url, role: 'consumer', name: 'test-sender' }), prefix: keys().bullPrefix },
  );
  cleanups.push(() => worker.close());
}

describe('producer.send', () => {
  it('enqueues a normalised send job whose id is the idempotency key', async () => {
    await publishState('READY');
    const accepted = await producer.send({ to: '+49 151 23456789', text: 'hello', idempotencyKey: 'order-1' });
    expect(accepted).toEqual({ id: 'order-1', status: 'queued', duplicate: false });
    const job = await producer.queues.outbox.getJob('order-1');
    expect(job?.name).toBe('send');
    expect(job?.data).toMatchObject({ to: '4915123456789@c.us', text: 'hello' });
    expect(job?.opts.attempts).toBe(5);
  });

  it('generates an id when no key is given', async () => {
    const a = await producer.send({ to: '+4915123456789', text: 'a' });
    const b = await producer.send({ to: '+4915123456789', text: 'a' });
    expect(a.id).not.toBe(b.id);
    expect(await producer.queues.outbox.getJobCountByTypes('waiting', 'prioritized')).toBe(2);
  });

  it('accepts a repeat of the same key once, and refuses the key for a different message', async () => {
    await producer.send({ to: '+4915123456789', text: 'hello', idempotencyKey: 'k-1' });
    expect(await producer.send({ to: '4915123456789@c.us', text: 'hello', idempotencyKey: 'k-1' })).toMatchObject({ id: 'k-1', duplicate: true });
    await expect(producer.send({ to: '+4915123456789', text: 'other', idempotencyKey: 'k-1' })).rejects.toBeInstanceOf(IdempotencyConflictError);
    expect(await producer.queues.outbox.getJobCountByTypes('waiting', 'prioritized')).toBe(1);
  });

  it('keeps a message once under concurrent repeats of its key', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, () => producer.send({ to: '+4915123456789', text: 'once', idempotencyKey: 'race-1' })));
    expect(new Set(results.map((r) => r.id))).toEqual(new Set(['race-1']));
    expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
    expect(await producer.queues.outbox.getJobCountByTypes('waiting', 'prioritized')).toBe(1);
  });

  it('reports sends accepted while the session is not READY as held', async () => {
    await publishState('QR');
    expect((await producer.send({ to: '+4915123456789', text: 'x' })).status).toBe('held');
    await publishState('READY', null);
    expect((await producer.send({ to: '+4915123456789', text: 'x' })).status).toBe('held');
    await publishState('READY');
    expect((await producer.send({ to: '+4915123456789', text: 'x' })).status).toBe('queued');
    await publishState('DISCONNECTED');
    expect((await producer.send({ to: '+4915123456789', text: 'x' })).status).toBe('held');
  });

  it('writes a burst of sends to Redis in a few socket writes, not two per send', async () => {
    await producer.send({ to: '+4915123456789', text: 'warm-up' }); // Redis learns the scripts
    // The sockets of the connection (on Redis Cluster, of each node it is connected to: one holds the session's slot).
    const sockets = masterNodes(producer.queues.connection).flatMap((node) => (node as unknown as { stream?: Writable }).stream ?? []);
    let writes = 0;
    for (const socket of sockets) {
      for (const method of ['_write', '_writev'] as const) {
        const original = socket[method];
        if (typeof original !== 'function') continue;
        socket[method] = function (this: Writable, ...args: unknown[]) {
          writes += 1;
          return (original as (...a: unknown[]) => void).apply(this, args);
        } as never;
      }
    }
    const accepted = await Promise.all(Array.from({ length: 50 }, (_, i) => producer.send({ to: '+4915123456789', text: `burst ${i}` })));
    expect(new Set(accepted.map((a) => a.id)).size).toBe(50);
    expect(await producer.queues.outbox.getJobCountByTypes('waiting', 'prioritized')).toBe(51);
    // 100 commands (a claim and an add per send) without coalescing.
    expect(writes).toBeGreaterThan(0);
    expect(writes).toBeLessThanOrEqual(5);
  });

  it('lets nothing invalid reach Redis', async () => {
    await expect(producer.send({ to: '0151 2345678', text: 'x' })).rejects.toThrow(/to: phone number has no country code/);
    await expect(producer.send({ to: '+4915123456789', text: '' })).rejects.toBeInstanceOf(InvalidPayloadError);
    await expect(producer.send({ to: '+4915123456789', text: 'x', idempotencyKey: 'a:b' })).rejects.toThrow(/idempotencyKey/);
    await expect(producer.send(null as never)).rejects.toBeInstanceOf(InvalidPayloadError);
    // Only the registration and the queues' own metadata (written when a Queue is created) may exist.
    expect((await keysUnder(fixture.redis, fixture.prefix)).filter((key) => !key.endsWith(':meta')).sort()).toEqual([registry.key, keys().registered, keys().settings].sort());
  });

  it('refuses a send to a session that is not registered, with or without a key, and keeps no job or record of it', async () => {
    const typo = producer.session('sales');
    await expect(typo.send({ to: '+4915123456789', text: 'x' })).rejects.toBeInstanceOf(SessionNotFoundError);
    await expect(typo.send({ to: '+4915123456789', text: 'x', idempotencyKey: 'k-typo' })).rejects.toThrow(/there is no session "sales"/);
    expect(await typo.queues.outbox.getJobCounts('waiting', 'prioritized', 'paused', 'delayed', 'active')).toEqual({ waiting: 0, prioritized: 0, paused: 0, delayed: 0, active: 0 });
    expect(await fixture.redis.exists(typo.queues.keys.message('k-typo'), typo.queues.keys.messages)).toBe(0);

    await registry.create('sales');
    expect((await typo.send({ to: '+4915123456789', text: 'x', idempotencyKey: 'k-typo' })).duplicate).toBe(false);
    await registry.markDeleted('sales');
    await expect(typo.send({ to: '+4915123456789', text: 'y' })).rejects.toBeInstanceOf(SessionNotFoundError);
    expect(await typo.queues.outbox.getJobCountByTypes('waiting', 'prioritized')).toBe(1);
  });

  it('addresses other sessions on the same connection, each with its own queues and ids', async () => {
    await registry.create('sales');
    const sales = producer.session('sales');
    expect(producer.session('sales')).toBe(sales);
    expect(sales.sessionId).toBe('sales');
    await producer.send({ to: '+4915123456789', text: 'default', idempotencyKey: 'same-key' });
    await sales.send({ to: '+4915123456789', text: 'sales', idempotencyKey: 'same-key' });
    expect((await producer.queues.outbox.getJob('same-key'))?.data).toMatchObject({ text: 'default' });
    expect((await sales.queues.outbox.getJob('same-key'))?.data).toMatchObject({ text: 'sales' });
    expect(sales.queues.outbox.opts.prefix).toBe(`${fixture.prefix}:{sales}`);
    expect(() => producer.session('no spaces')).toThrow(InvalidPayloadError);
    const named = createProducer({ redis: fixture.redis, prefix: fixture.prefix, session: 'sales' });
    cleanups.push(() => named.close());
    expect((await named.getMessage('same-key'))?.id).toBe('same-key');
  });
});

describe('producer.send with expiry, schedule and priority', () => {
  it('records the expiry from ttlSeconds or expiresAt, in the record and the expiries, and answers it', async () => {
    await publishState('READY');
    const before = Date.now();
    const ttl = await producer.send({ to: '+4915123456789', text: 'code 1', ttlSeconds: 300, idempotencyKey: 'ttl-1' });
    expect(Date.parse(ttl.expiresAt ?? '') - before).toBeGreaterThanOrEqual(300_000 - 1_000);
    expect(Date.parse(ttl.expiresAt ?? '') - before).toBeLessThanOrEqual(300_000 + 1_000);
    const at = new Date(Date.now() + 60_000).toISOString();
    const own = await producer.send({ to: '+4915123456789', text: 'code 2', expiresAt: at });
    expect(own.expiresAt).toBe(at);
    expect(await fixture.redis.zrange(keys().expiries, 0, -1, 'WITHSCORES')).toEqual([own.id, String(Date.parse(at)), 'ttl-1', String(Date.parse(ttl.expiresAt!))]);
    expect(await fixture.redis.hmget(keys().message('ttl-1'), 'to', 'expiresAtMs')).toEqual(['4915123456789@c.us', String(Date.parse(ttl.expiresAt!))]);
    expect(await producer.getMessage('ttl-1')).toMatchObject({ status: 'queued', priority: 'normal', expiresAt: ttl.expiresAt });
    // Without either, no expiry (the session has no messageTtlSeconds).
    const none = await producer.send({ to: '+4915123456789', text: 'no expiry' });
    expect(none).not.toHaveProperty('expiresAt');
    expect(await fixture.redis.zscore(keys().expiries, none.id)).toBeNull();
  });

  it('queues a scheduled send as a delayed job and a priority with its BullMQ priority', async () => {
    await publishState('READY');
    const sendAt = new Date(Date.now() + 3_600_000).toISOString();
    const scheduled = await producer.send({ to: '+4915123456789', text: 'later', sendAt, priority: 'low' });
    expect(scheduled.status).toBe('scheduled');
    const job = await producer.queues.outbox.getJob(scheduled.id);
    expect(job?.opts).toMatchObject({ priority: 3 });
    expect(job?.opts.delay).toBeGreaterThan(3_500_000);
    expect(await producer.getMessage(scheduled.id)).toMatchObject({ status: 'scheduled', sendAt, priority: 'low' });
    const urgent = await producer.send({ to: '+4915123456789', text: 'now', priority: 'high' });
    expect((await producer.queues.outbox.getJob(urgent.id))?.opts.priority).toBe(1);
  });

  it.each([
    [{ ttlSeconds: 0 }, 'ttlSeconds', /from 1 to 2592000/],
    [{ ttlSeconds: 1.5 }, 'ttlSeconds', /whole number/],
    [{ ttlSeconds: 60, expiresAt: '2099-01-01T00:00:00Z' }, 'ttlSeconds', /not both/],
    [{ expiresAt: '2020-01-01T00:00:00Z' }, 'expiresAt', /in the past/],
    [{ sendAt: '2099-01-01T00:00:00Z' }, 'sendAt', /days ahead/],
    [{ sendAt: '2099-01-01T00:00:00Z', expiresAt: '2098-01-01T00:00:00Z' }, 'expiresAt', /not after sendAt/],
  ])('refuses %j naming %s, and keeps nothing of it', async (timing, field, message) => {
    const error = await producer.send({ to: '+4915123456789', text: 'x', idempotencyKey: 'refused-1', ...timing }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InvalidPayloadError);
    expect((error as InvalidPayloadError).problems).toContainEqual({ path: field, message: expect.stringMatching(message) });
    expect(await fixture.redis.exists(keys().message('refused-1'), keys().expiries)).toBe(0);
  });
});

describe('producer.listMessages', () => {
  it('lists messages newest first or in order, filtered by status, a page at a time, ties in one millisecond included', async () => {
    const at = '2026-12-02T10:00:00.000Z';
    // 7 sends in one millisecond, then 5 later ones: pages of 3 must neither skip nor repeat any.
    for (let i = 0; i < 12; i += 1) {
      await producer.send({ to: '+4915123456789', text: `m${i}`, idempotencyKey: `m-${String(i).padStart(2, '0')}`, acceptedAt: i < 7 ? at : new Date(Date.parse(at) + i).toISOString() });
    }
    const all = async (order: 'asc' | 'desc', status?: ('held' | 'failed')[]): Promise<string[]> => {
      const ids: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await producer.listMessages({ limit: 3, order, ...(cursor === undefined ? {} : { cursor }), ...(status === undefined ? {} : { status }) });
        expect(page.messages.length).toBeLessThanOrEqual(3);
        ids.push(...page.messages.map((m) => m.id));
        cursor = page.nextCursor;
      } while (cursor !== undefined);
      return ids;
    };
    const ascending = Array.from({ length: 12 }, (_, i) => `m-${String(i).padStart(2, '0')}`);
    expect(await all('asc')).toEqual(ascending);
    expect(await all('desc')).toEqual([...ascending].reverse());
    expect(await all('asc', ['held'])).toEqual(ascending);
    expect(await all('asc', ['failed'])).toEqual([]);
    expect((await producer.listMessages({ limit: 1 })).messages[0]).toMatchObject({ id: 'm-11', status: 'held', to: '4915123456789@c.us' });
    await expect(producer.listMessages({ cursor: 'nonsense' })).rejects.toThrow(/cursor/);
  });
});

describe('producer control jobs', () => {
  it('enqueues connect, logout and restart on the control queue, collapsing repeats while waiting', async () => {
    const first = await producer.connect('test');
    const second = await producer.connect('test');
    await producer.logout();
    await producer.restart();
    expect(second.id).toBe(first.id);
    const jobs = await producer.queues.control.getJobs(['waiting']);
    expect(jobs.map((j) => j.name).sort()).toEqual(['connect', 'logout', 'restart']);
    expect(jobs.find((j) => j.name === 'connect')?.data).toEqual({ requestedBy: 'test' });
  });
});

describe('producer.getState', () => {
  it('reports WORKER_OFFLINE without a lease and the published state with one', async () => {
    expect((await producer.getState()).status).toBe('WORKER_OFFLINE');
    await publishState('READY');
    expect((await producer.getState()).status).toBe('READY');
    await fixture.redis.del(keys().lease);
    expect(await producer.getState()).toMatchObject({ status: 'WORKER_OFFLINE', lastPublishedStatus: 'READY' });
  });

  it("reports WORKER_OFFLINE as soon as the owner's connection is gone, long before its lease expires, and holds sends then", async () => {
    await publishState('READY', 'w-dies');
    expect((await producer.getState()).status).toBe('READY');
    expect((await producer.send({ to: '+4915123456789', text: 'before' })).status).toBe('queued');
    const killedAt = Date.now();
    ownerConnection('w-dies').disconnect(); // what a kill -9 does to the owner's sockets
    await expect.poll(async () => (await producer.getState()).status, { timeout: 10_000, interval: 50 }).toBe('WORKER_OFFLINE');
    const detectedMs = Date.now() - killedAt;
    expect(await fixture.redis.pttl(keys().lease)).toBeGreaterThan(5_000); // the lease still stands
    expect(detectedMs).toBeLessThan(2_000);
    expect(await producer.getState()).toMatchObject({ lastPublishedStatus: 'READY', lastError: { code: 'worker_offline' } });
    expect((await producer.send({ to: '+4915123456789', text: 'after' })).status).toBe('held');
  });

  it("reports STARTING while a new owner holds the lease and its predecessor's READY is still stored", async () => {
    await publishState('READY', 'w-old');
    await ownerConnection('w-new').set(keys().lease, 'w-new', 'PX', 10_000);
    expect((await producer.getState()).status).toBe('STARTING');
    expect((await producer.send({ to: '+4915123456789', text: 'x' })).status).toBe('held');
  });
});

describe('producer.getMessage and waitForMessage', () => {
  it('returns null for an unknown id', async () => {
    expect(await producer.getMessage('nope')).toBeNull();
    await expect(producer.waitForMessage('nope', { timeoutMs: 1_000 })).rejects.toThrow(/unknown/);
  });

  it('follows a message from held to sent', async () => {
    const { id } = await producer.send({ to: '+4915123456789', text: 'x' });
    expect(await producer.getMessage(id)).toMatchObject({ id, status: 'held', to: '4915123456789@c.us', attempts: 0, maxAttempts: 5 });
    await publishState('READY');
    expect((await producer.getMessage(id))?.status).toBe('queued');
    startFakeSender(() => undefined);
    const sent = await producer.waitForMessage(id, { timeoutMs: 10_000 });
    expect(sent).toMatchObject({ id, status: 'sent', waMessageId: `true_${id}` });
    expect(sent.sentAt).toBeDefined();
  });

  it('reports a failure with the code and reason the worker recorded, and send_failed for one it did not', async () => {
    await publishState('READY');
    const { id } = await producer.send({ to: '+4915123456789', text: 'recorded' });
    const other = await producer.send({ to: '+4915123456789', text: 'not recorded' });
    const worker = new Worker(
      'outbox',
      async (job) => {
        // As the worker does: the failure goes into the record before the job fails.
        if (job.id === id) await fixture.redis.hset(keys().message(id), messageFailureFields({ code: 'recipient_not_on_whatsapp', message: 'not registered' }));
        throw Object.assign(new Error(job.id === id ? 'not registered' : 'page crashed'), { name: 'UnrecoverableError' });
      },
      { connection: createRedis({ url: fixture.url, role: 'consumer', name: 'test-failer' }), prefix: keys().bullPrefix },
    );
    cleanups.push(() => worker.close());
    expect(await producer.waitForMessage(id, { timeoutMs: 10_000 })).toMatchObject({ status: 'failed', error: { code: 'recipient_not_on_whatsapp', message: 'not registered' } });
    expect(await producer.waitForMessage(other.id, { timeoutMs: 10_000 })).toMatchObject({ status: 'failed', error: { code: 'send_failed', message: 'page crashed' } });
  });

  it('records the linked account with a new send, and none while no account is linked', async () => {
    await publishState('READY');
    await fixture.redis.set(keys().state, JSON.stringify({ ...JSON.parse((await fixture.redis.get(keys().state)) ?? '{}'), me: { wid: '4915000000001@c.us' } }));
    const linked = await producer.send({ to: '+4915123456789', text: 'x', idempotencyKey: 'with-account' });
    expect(await fixture.redis.hget(keys().message(linked.id), 'account')).toBe('4915000000001@c.us');
    await publishState('LOGGED_OUT');
    const unlinked = await producer.send({ to: '+4915123456789', text: 'x' });
    expect(await fixture.redis.hget(keys().message(unlinked.id), 'account')).toBeNull();
    await fixture.redis.set(keys().state, '{not json');
    const corrupt = await producer.send({ to: '+4915123456789', text: 'x' });
    expect(await fixture.redis.hget(keys().message(corrupt.id), 'account')).toBeNull();
  });

  it('times out with the status it last saw', async () => {
    const { id } = await producer.send({ to: '+4915123456789', text: 'x' });
    await expect(producer.waitForMessage(id, { timeoutMs: 300 })).rejects.toThrow(/not sent or failed within 300 ms/);
  });
});

describe('producer connection policy', () => {
  it('fails fast when Redis is unreachable instead of hanging', async () => {
    const offline = createProducer({ redis: 'redis://127.0.0.1:1', prefix: fixture.prefix });
    const started = Date.now();
    await expect(offline.send({ to: '+4915123456789', text: 'x' })).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(2_000);
    await offline.close();
  });
});
