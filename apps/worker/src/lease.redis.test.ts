import { createRedis, holderConnectionName, type RedisClient } from '@waq/shared';
import { clientNames, createRedisFixture, type RedisFixture } from '@waq/test-utils';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { hostname } from 'node:os';

import { afterEach, beforeEach, describe, expect, it, onTestFinished } from 'vitest';

import { SessionLease } from './lease.js';
import { silentLogger } from './testing/owner-harness.js';

const TTL_MS = 6_000;
let fx: RedisFixture;
let key: string;

beforeEach(async () => {
  fx = await createRedisFixture();
  key = `${fx.prefix}:lease`;
});
afterEach(async () => {
  await fx.cleanup();
});

function connection(name: string): RedisClient {
  const redis = createRedis({ url: fx.url, role: 'consumer', name });
  onTestFinished(() => redis.disconnect());
  return redis;
}

/** A standby waiting for the lease; resolves with the time it got it. */
function standBy(workerId: string): Promise<number> {
  const lease = new SessionLease({ redis: connection(`${workerId}-main`), key, workerId, sessionId: 'default', ttlMs: TTL_MS, logger: silentLogger });
  const abort = new AbortController();
  onTestFinished(async () => {
    abort.abort();
    await lease.release();
  });
  return lease.acquire(abort.signal).then((acquired) => {
    expect(acquired).toBe(true);
    return Date.now();
  });
}

describe('session lease', () => {
  it('renews through a connection named after the holder, and closes it on release', async () => {
    const lease = new SessionLease({ redis: connection('holder-main'), key, workerId: 'host:1:abc', sessionId: 'default', ttlMs: TTL_MS, logger: silentLogger });
    expect(await lease.tryAcquire()).toBe(true);
    const named = async () => (await clientNames(fx.redis)).includes(holderConnectionName('host:1:abc'));
    // At once, not eventually: a reader must never see a fresh holder without its connection.
    expect(await named()).toBe(true);
    await lease.release();
    await expect.poll(named).toBe(false);
    expect(await fx.redis.get(key)).toBeNull();
  });

  it('takes over from a holder whose connection is gone once it is half a TTL unrenewed, before the lease expires', async () => {
    // A holder killed with -9 right after renewing: the lease is fresh, its connection gone.
    const setAt = Date.now();
    await fx.redis.set(key, 'dead-holder', 'PX', TTL_MS);
    const acquiredAt = await standBy('standby');
    expect(await fx.redis.get(key)).toBe('standby');
    expect(acquiredAt - setAt).toBeGreaterThanOrEqual(TTL_MS / 2);
    expect(acquiredAt - setAt).toBeLessThan(TTL_MS);
  });

  it('does not take over from a holder whose connection is alive: it waits for the lease to expire', async () => {
    connection(holderConnectionName('slow-holder'));
    const ttl = Math.floor(TTL_MS * 0.45); // already unrenewed for more than half a TTL
    const setAt = Date.now();
    await fx.redis.set(key, 'slow-holder', 'PX', ttl);
    await expect.poll(async () => String(await fx.redis.call('CLIENT', 'LIST', 'TYPE', 'normal')).includes(` name=${holderConnectionName('slow-holder')} `)).toBe(true);
    const acquiredAt = await standBy('standby');
    expect(acquiredAt - setAt).toBeGreaterThanOrEqual(ttl);
  });

  it('takes over at once from a dead worker of this host (its pid is gone), without waiting half a TTL', async () => {
    const holder = `${hostname()}:${await deadPid()}:ghost`;
    const setAt = Date.now();
    await fx.redis.set(key, holder, 'PX', TTL_MS);
    const acquiredAt = await standBy(`${hostname()}:${process.pid}:new`);
    expect(acquiredAt - setAt).toBeLessThan(TTL_MS / 2);
  });

  it("takes over at once from a predecessor that had its own pid (a restarted container's PID 1)", async () => {
    const setAt = Date.now();
    await fx.redis.set(key, `${hostname()}:${process.pid}:before`, 'PX', TTL_MS);
    const acquiredAt = await standBy(`${hostname()}:${process.pid}:after`);
    expect(acquiredAt - setAt).toBeLessThan(TTL_MS / 2);
  });

  it('does not take over early from a holder of this host whose pid is gone but whose connection lives (another PID namespace)', async () => {
    const holder = `${hostname()}:${await deadPid()}:other-namespace`;
    connection(holderConnectionName(holder));
    await expect.poll(async () => String(await fx.redis.call('CLIENT', 'LIST', 'TYPE', 'normal')).includes(` name=${holderConnectionName(holder)} `)).toBe(true);
    const ttl = 2_000;
    const setAt = Date.now();
    await fx.redis.set(key, holder, 'PX', ttl);
    const acquiredAt = await standBy(`${hostname()}:${process.pid}:new`);
    expect(acquiredAt - setAt).toBeGreaterThanOrEqual(ttl);
  });

  it('does not take over from a live process of this host', async () => {
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    onTestFinished(() => void child.kill('SIGKILL'));
    const setAt = Date.now();
    await fx.redis.set(key, `${hostname()}:${child.pid ?? 0}:alive`, 'PX', TTL_MS);
    // Its connection is gone (it never had one), but its process runs: only the half-TTL rule applies.
    const acquiredAt = await standBy(`${hostname()}:${process.pid}:new`);
    expect(acquiredAt - setAt).toBeGreaterThanOrEqual(TTL_MS / 2);
  });
});

/** The pid of a process that ran on this host and has exited (and been reaped). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await once(child, 'exit');
  return child.pid ?? 0;
}
