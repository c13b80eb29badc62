/**
 * The worker's two Redis connections: one for BullMQ's queues and workers, one for waq's own records,
 * events and state. BullMQ defines its ~50 Lua scripts on the connection it is given, and ioredis copies
 * them into every `multi()` built on that connection (about 50 µs each, on every send and ack batch).
 */
import { createRedis, createSessionQueues, type KeyScope, type Logger, type RedisClient, type SessionQueues, type SessionQueuesOptions } from '@waq/shared';

export interface OwnerConnections {
  /** waq's own reads and writes. */
  readonly redis: RedisClient;
  readonly queues: SessionQueues;
  /** Closes the queues, then both connections (QUIT, else disconnect). Safe to call twice. */
  close(): Promise<void>;
}

export function createOwnerConnections(url: string, scope: KeyScope, name: string, logger?: Logger, queueOptions?: SessionQueuesOptions): OwnerConnections {
  const redis = createRedis({ url, role: 'consumer', name, logger });
  const queues = createSessionQueues(createRedis({ url, role: 'consumer', name: `${name}-queues`, logger }), scope, logger, queueOptions);
  let closing: Promise<void> | undefined;
  return {
    redis,
    queues,
    close() {
      closing ??= (async () => {
        await queues.close();
        await Promise.all([redis, queues.connection].map((connection) => connection.quit().then(() => undefined, () => connection.disconnect())));
      })();
      return closing;
    },
  };
}
