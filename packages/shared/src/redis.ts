/**
 * Redis connections. Producers and consumers need opposite policies:
 * - **producer** (the API, the SDK in other services): fail fast. With Redis down a request must get a
 *   503 at once, not hang in ioredis's offline queue (`enableOfflineQueue: false`, one retry).
 * - **consumer** (the worker): wait. Commands queue up and go through when Redis is back
 *   (`maxRetriesPerRequest: null`, as BullMQ requires for workers).
 * Both reconnect forever with a capped backoff, and both log connection errors (throttled: ioredis
 * emits one per reconnect attempt) instead of crashing on an unhandled `error` event.
 *
 * `REDIS_URL` names one Redis (`redis://`, `rediss://` for TLS) or a Redis Cluster
 * (`redis+cluster://` / `rediss+cluster://`, one or more seed nodes separated by commas: the rest of the
 * cluster is discovered from them). Everything waq stores works on a cluster: the keys of one session
 * share a hash tag (keys.ts), so each script, MULTI and BullMQ queue touches one slot; installation-wide
 * keys are single keys. What differs on a cluster is only what spans nodes: a key scan, `CLIENT LIST`
 * and pipelines, which go node by node (`masterNodes`).
 */
import { once } from 'node:events';

import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';

import type { Logger } from './logger.js';
import { parseClusterUrl, type ClusterTarget } from './redis-url.js';

/** A connection to one Redis or to a Redis Cluster: waq's code takes either. */
export type RedisClient = Redis | Cluster;

export type RedisRole = 'producer' | 'consumer';

export interface RedisSettings {
  /** REDIS_URL: `redis[s]://…` or `redis[s]+cluster://host:port[,host:port…]`. */
  readonly url: string;
  readonly role: RedisRole;
  /** Shown in `CLIENT LIST` and in logs, e.g. `waq-api`. */
  readonly name: string;
  readonly logger?: Logger;
}

const retryStrategy = (attempt: number): number => Math.min(100 * 2 ** Math.min(attempt, 6), 3_000);

export function redisOptions(role: RedisRole, name: string): RedisOptions {
  const common: RedisOptions = { connectionName: name, retryStrategy, connectTimeout: 5_000 };
  return role === 'producer'
    ? { ...common, enableOfflineQueue: false, maxRetriesPerRequest: 1 }
    : { ...common, maxRetriesPerRequest: null };
}

function clusterOptions(target: ClusterTarget, role: RedisRole, name: string): ClusterOptions {
  const { enableOfflineQueue, ...node } = redisOptions(role, name);
  return {
    redisOptions: {
      ...node,
      ...(target.username === undefined ? {} : { username: target.username }),
      ...(target.password === undefined ? {} : { password: target.password }),
      ...(target.tls ? { tls: {} } : {}),
    },
    enableOfflineQueue: enableOfflineQueue ?? true,
    clusterRetryStrategy: retryStrategy,
    // Managed clusters with TLS announce addresses whose certificates name the host, not the IP.
    ...(target.tls ? { dnsLookup: (address: string, callback: (error: null, address: string) => void) => callback(null, address) } : {}),
  };
}

export function createRedis({ url, role, name, logger }: RedisSettings): RedisClient {
  const cluster = parseClusterUrl(url);
  const redis: RedisClient = cluster === undefined ? new Redis(url, redisOptions(role, name)) : new Cluster([...cluster.nodes], clusterOptions(cluster, role, name));
  let lastLogged = 0;
  redis.on('error', (error: Error) => {
    const now = Date.now();
    if (now - lastLogged < 10_000) return;
    lastLogged = now;
    logger?.warn({ err: error, connection: name }, 'Redis connection error (retrying in the background)');
  });
  redis.on('ready', () => {
    if (lastLogged !== 0) logger?.info({ connection: name }, 'Redis connection restored');
    lastLogged = 0;
  });
  return redis;
}

export function isCluster(redis: RedisClient): redis is Cluster {
  return redis instanceof Cluster;
}

/**
 * The connections to every master: the one Redis itself, or each master node of a cluster. Throws
 * while a cluster knows no master yet (not connected): an empty list would read as "no keys, no clients".
 */
export function masterNodes(redis: RedisClient): Redis[] {
  if (!isCluster(redis)) return [redis];
  const masters = redis.nodes('master');
  if (masters.length === 0) throw new Error(`Redis Cluster is not connected yet (status ${redis.status}): no master node known`);
  return masters;
}

/** What a second connection changes from the one it copies (`duplicateConnection`). */
export interface ConnectionOverrides {
  readonly connectionName?: string;
  readonly lazyConnect?: boolean;
  readonly enableOfflineQueue?: boolean;
  readonly maxRetriesPerRequest?: number | null;
  /** Delay before reconnect attempt `n`, in ms; null stops reconnecting. */
  readonly retryStrategy?: (attempt: number) => number | null;
  readonly connectTimeout?: number;
}

/**
 * A new connection to the same Redis or cluster with `overrides` (ioredis's `duplicate`, whose cluster
 * form takes cluster-level options: reconnecting and the offline queue belong to the cluster, the
 * connection name and timeouts to each node connection).
 */
export function duplicateConnection(redis: RedisClient, overrides: ConnectionOverrides): RedisClient {
  if (!isCluster(redis)) return redis.duplicate(overrides);
  const { lazyConnect, enableOfflineQueue, retryStrategy, ...node } = overrides;
  return redis.duplicate([], {
    redisOptions: { ...redis.options.redisOptions, ...node },
    ...(lazyConnect === undefined ? {} : { lazyConnect }),
    ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
    ...(retryStrategy === undefined ? {} : { clusterRetryStrategy: (attempt: number) => retryStrategy(attempt) }),
  });
}

/** Every key matching `pattern`, node by node on a cluster (`SCAN` only sees the node it is sent to). */
export async function* scanKeys(redis: RedisClient, pattern: string, count = 500): AsyncGenerator<string[]> {
  for (const node of masterNodes(redis)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', count);
      cursor = next;
      if (keys.length > 0) yield keys;
    } while (cursor !== '0');
  }
}

/** Resolves once `redis` is connected; rejects after `timeoutMs`. */
export async function waitForRedis(redis: RedisClient, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return;
  await once(redis, 'ready', { signal: AbortSignal.timeout(timeoutMs) }).catch((error: unknown) => {
    throw new Error(`Redis did not become ready within ${timeoutMs} ms: is it running and is REDIS_URL right?`, { cause: error });
  });
}
