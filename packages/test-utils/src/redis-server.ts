/**
 * A throwaway `redis-server` for tests that stop, kill or restart Redis (the shared test Redis must
 * never be touched): its own port and data dir, AOF on with `appendfsync everysec` like waq's
 * docker-compose.yml, no RDB snapshots. `close()` stops it and removes the dir.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { Redis } from 'ioredis';

import { freePort } from './processes.js';

export interface RedisServerOptions {
  /** @defaultValue `redis-server` on the PATH */
  readonly executable?: string;
  /** @defaultValue 'everysec' */
  readonly appendfsync?: 'always' | 'everysec' | 'no';
}

export interface ThrowawayRedis {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** Whether the server process is running now. */
  readonly running: boolean;
  /** Stops the server: SIGTERM (Redis flushes the AOF and exits) or SIGKILL (a crash). */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** Starts it again on the same port and data dir; resolves once it answers PING. */
  start(): Promise<void>;
  /** Stops it (SIGKILL if needed) and removes the data dir. Idempotent. */
  close(): Promise<void>;
}

async function waitForPing(url: string, child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode} before answering PING`);
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
    probe.on('error', () => undefined); // a refused connection is what this loop waits out; connect() rejects with it
    try {
      await probe.connect();
      // While it loads the AOF, Redis answers LOADING: wait for a real PONG.
      if ((await probe.ping()) === 'PONG') return;
    } catch {
      if (Date.now() > deadline) throw new Error(`redis-server on ${url} did not answer PING within ${timeoutMs} ms`);
    } finally {
      probe.disconnect();
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export async function startThrowawayRedis({ executable = 'redis-server', appendfsync = 'everysec' }: RedisServerOptions = {}): Promise<ThrowawayRedis> {
  const dir = await mkdtemp(path.join(tmpdir(), 'waq-redis-'));
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;

  const launch = async (): Promise<void> => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', appendfsync, '--save', '', '--logfile', path.join(dir, 'redis.log')];
    child = spawn(executable, args, { stdio: 'ignore' });
    await waitForPing(url, child);
  };
  const stop = async (signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> => {
    const running = child;
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return;
    const exited = once(running, 'exit');
    running.kill(signal);
    const timer = setTimeout(() => running.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };

  await launch();
  return {
    url,
    port,
    dir,
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    stop,
    start: launch,
    async close() {
      await stop('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    },
  };
}
