/**
 * Redis for the benchmarks: the shared one (REDIS_URL, default 127.0.0.1:6379) under a unique prefix,
 * or a throwaway `redis-server` when a case needs Redis to itself (memory per held send reads the
 * server-wide `used_memory`, which other test runs on a shared Redis would move).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { scanKeys, type RedisClient } from '@waq/shared';
import { Redis } from 'ioredis';

import { pollUntil } from './stats.js';

export function benchPrefix(kind: string): string {
  return `bench-${kind}-${randomUUID().slice(0, 8)}`;
}

/** Deletes every key under `prefix` (UNLINK: a 1M-job prefix must not block Redis for seconds). */
export async function deletePrefix(redis: RedisClient, prefix: string): Promise<void> {
  for await (const keys of scanKeys(redis, `${prefix}*`, 5_000)) await redis.unlink(...keys);
}

export async function usedMemory(redis: RedisClient): Promise<number> {
  const info = await redis.info('memory');
  const match = /^used_memory:(\d+)/m.exec(info);
  if (match === null) throw new Error('INFO memory has no used_memory');
  return Number(match[1]);
}

export async function redisVersion(redis: RedisClient): Promise<string> {
  return /^redis_version:(\S+)/m.exec(await redis.info('server'))?.[1] ?? 'unknown';
}

/** A free TCP port on loopback (bind to 0, read it, close). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface ThrowawayRedis {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * A private `redis-server` on a free port: no persistence (like the shared test Redis), data in a temp
 * dir removed on close. Only this process's keys live there, so `used_memory` deltas are ours alone.
 */
export async function startThrowawayRedis(redisServer = 'redis-server'): Promise<ThrowawayRedis> {
  const dir = await mkdtemp(path.join(tmpdir(), 'waq-bench-redis-'));
  const port = await freePort();
  const child: ChildProcess = spawn(redisServer, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `redis://127.0.0.1:${port}`;
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => undefined); // refused until the server listens: retried below
  try {
    await pollUntil(
      async () => {
        try {
          if (probe.status !== 'ready') await probe.connect();
          return (await probe.ping()) === 'PONG';
        } catch {
          probe.disconnect();
          return false;
        }
      },
      { timeoutMs: 10_000, intervalMs: 50, what: `redis-server on port ${port}` },
    );
  } finally {
    probe.disconnect();
  }
  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    close() {
      closing ??= (async () => {
        if (child.exitCode === null && child.pid !== undefined) child.kill('SIGTERM');
        await exited;
        await rm(dir, { recursive: true, force: true });
      })();
      return closing;
    },
  };
}
