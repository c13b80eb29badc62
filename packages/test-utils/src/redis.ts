/**
 * Real-Redis isolation for `*.redis.test.ts`: every test gets its own key prefix (so tests run in
 * parallel on one Redis without seeing each other) and everything under it is deleted afterwards.
 */
import { randomUUID } from 'node:crypto';

import { Cluster, Redis } from 'ioredis';

/** The Redis the tests use: REDIS_URL (set by `npm test`, or a Redis Cluster by the cluster layer), else the local default. */
export function testRedisUrl(): string {
  return process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
}

/** A test's own connection: to one Redis, or to the cluster layer's Redis Cluster. */
export type TestRedis = Redis | Cluster;

/** Whether `url` names a Redis Cluster (`redis+cluster://host:port,…`, as waq's REDIS_URL does). */
export function isClusterUrl(url: string): boolean {
  return url.startsWith('redis+cluster://');
}

/** A connection for a test (waits rather than fails); a cluster URL's seed nodes are `host:port`, without credentials. */
export function connectTestRedis(url: string): TestRedis {
  if (!isClusterUrl(url)) return new Redis(url, { maxRetriesPerRequest: null });
  const nodes = url.slice('redis+cluster://'.length).split(',').map((node) => {
    const [host = '127.0.0.1', port = '6379'] = node.split(':');
    return { host, port: Number(port) };
  });
  return new Cluster(nodes, { redisOptions: { maxRetriesPerRequest: null } });
}

export function uniquePrefix(): string {
  return `test-${randomUUID()}`;
}

/** The name of every client connection (`CLIENT LIST`), on every master of a cluster: one entry per connection. */
export async function clientNames(redis: TestRedis): Promise<string[]> {
  const nodes = redis instanceof Cluster ? redis.nodes('master') : [redis];
  const lists = await Promise.all(nodes.map(async (node) => String(await node.call('CLIENT', 'LIST', 'TYPE', 'normal'))));
  return lists.flatMap((list) => list.split('\n').flatMap((line) => / name=(\S+) /.exec(` ${line} `)?.[1] ?? []));
}

/** Every key under `prefix`, from every master of a cluster. */
export async function keysUnder(redis: TestRedis, prefix: string): Promise<string[]> {
  const nodes = redis instanceof Cluster ? redis.nodes('master') : [redis];
  return (await Promise.all(nodes.map((node) => node.keys(`${prefix}:*`)))).flat();
}

/** Deletes every key under `prefix` (on a cluster: node by node, key by key, since the keys span slots). */
export async function deleteByPrefix(redis: TestRedis, prefix: string): Promise<number> {
  let deleted = 0;
  const nodes = redis instanceof Cluster ? redis.nodes('master') : [redis];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1_000);
      cursor = next;
      if (keys.length === 0) continue;
      deleted += redis instanceof Cluster ? (await Promise.all(keys.map((key) => redis.del(key)))).reduce((a, b) => a + b, 0) : await redis.del(...keys);
    } while (cursor !== '0');
  }
  return deleted;
}

export interface RedisFixture {
  readonly url: string;
  readonly prefix: string;
  /** A connection for the test's own reads and writes (consumer policy: waits rather than fails). */
  readonly redis: TestRedis;
  /** Deletes the prefix's keys and closes the connection. */
  cleanup(): Promise<void>;
}

export async function createRedisFixture(): Promise<RedisFixture> {
  const url = testRedisUrl();
  const prefix = uniquePrefix();
  const redis = connectTestRedis(url);
  await redis.ping();
  return {
    url,
    prefix,
    redis,
    async cleanup() {
      try {
        await deleteByPrefix(redis, prefix);
      } finally {
        redis.disconnect();
      }
    },
  };
}
