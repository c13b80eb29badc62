/**
 * A throwaway `redis-server` for tests that stop, kill or restart Redis (the shared test Redis must
 * never be touched): its own port and data dir, AOF on with `appendfsync everysec` like waq's
 * docker-compose.yml, no RDB snapshots. `close()` stops it and removes the dir.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
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

export interface ThrowawayCluster {
  /** `redis+cluster://127.0.0.1:<port>,…`: every master as a seed node. */
  readonly url: string;
  readonly ports: readonly number[];
  /** Stops every node and removes the data dir. Idempotent. */
  close(): Promise<void>;
}

async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

async function run(executable: string, args: readonly string[]): Promise<string> {
  const child = spawn(executable, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`${executable} ${args.join(' ')} exited with ${code}:\n${output}`);
  return output;
}

/**
 * A throwaway Redis Cluster of `masters` masters and no replicas on free ports (cluster bus ports
 * chosen too, `cluster-port`), no persistence; resolves once every node reports `cluster_state:ok`
 * and agrees that all 16384 slots are assigned.
 */
export async function startRedisCluster({ masters = 3, executable = 'redis-server', cli = 'redis-cli' }: { masters?: number; executable?: string; cli?: string } = {}): Promise<ThrowawayCluster> {
  const dir = await mkdtemp(path.join(tmpdir(), 'waq-redis-cluster-'));
  const allPorts = await distinctFreePorts(masters * 2);
  const ports = allPorts.slice(0, masters);
  const children: ChildProcess[] = [];
  const close = async (): Promise<void> => {
    await Promise.all(
      children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = once(child, 'exit');
        child.kill('SIGKILL');
        await exited;
      }),
    );
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await Promise.all(
      ports.map(async (port, index) => {
        const nodeDir = path.join(dir, String(port));
        await mkdir(nodeDir);
        const args = ['--port', String(port), '--cluster-port', String(allPorts[masters + index]), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', path.join(nodeDir, 'nodes.conf'), '--dir', nodeDir, '--appendonly', 'no', '--save', '', '--logfile', path.join(nodeDir, 'redis.log')];
        const child = spawn(executable, args, { stdio: 'ignore' });
        children.push(child);
        await waitForPing(`redis://127.0.0.1:${port}`, child);
      }),
    );
    await run(cli, ['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '0', '--cluster-yes']);
    const deadline = Date.now() + 30_000;
    for (const port of ports) {
      const node = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1 });
      try {
        for (;;) {
          const info = String(await node.call('CLUSTER', 'INFO'));
          if (/cluster_state:ok/.test(info) && /cluster_slots_assigned:16384/.test(info) && new RegExp(`cluster_known_nodes:${masters}\\b`).test(info)) break;
          if (Date.now() > deadline) throw new Error(`Redis Cluster node ${port} is not ready after 30 s:\n${info}`);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      } finally {
        node.disconnect();
      }
    }
  } catch (error) {
    await close();
    throw error;
  }
  return { url: `redis+cluster://${ports.map((port) => `127.0.0.1:${port}`).join(',')}`, ports, close };
}
