/**
 * Reading a session's event stream (`keys.events`): the recent history, a resume after a known id, and a
 * live tail with `XREAD BLOCK`. Used by the API's SSE endpoint and its `connect?wait=true`; other
 * services can follow a session's events with it too.
 *
 * A live tail needs a connection of its own: `XREAD BLOCK` holds the connection for the whole block,
 * so every other command sent on it would wait. `openBlockingConnection()` makes one that fails rather
 * than waits (no offline queue, no reconnect): when Redis goes away the tail ends with an error and the
 * caller decides (an SSE client simply reconnects with `Last-Event-ID`).
 */
import { decodeEvent, type StoredEvent } from './events.js';
import { duplicateConnection, type RedisClient } from './redis.js';

/** Stream ids are `<ms>-<seq>`; anything else from a client is refused rather than passed to Redis. */
const STREAM_ID = /^\d{1,20}-\d{1,20}$/;

export function isStreamId(value: string): boolean {
  return STREAM_ID.test(value);
}

/** The newest `count` events, oldest first, and the id to tail from (`0-0` on an empty stream). */
export async function readRecentEvents(redis: RedisClient, key: string, count: number): Promise<{ events: StoredEvent[]; lastId: string }> {
  const newest = await redis.xrevrange(key, '+', '-', 'COUNT', Math.max(count, 1));
  const lastId = newest[0]?.[0] ?? '0-0';
  const events = count <= 0 ? [] : decodeEntries(newest.reverse());
  return { events, lastId };
}

/** The id of the newest event (`0-0` on an empty stream): tail from here to see only what comes next. */
export async function latestEventId(redis: RedisClient, key: string): Promise<string> {
  return (await readRecentEvents(redis, key, 0)).lastId;
}

export interface TailOptions {
  /** Yield events after this id (exclusive). */
  readonly after: string;
  /** Longest single `XREAD BLOCK`, in ms; an empty batch (`[]`) is yielded when it passes with nothing. */
  readonly blockMs: number;
  /** Largest batch. @defaultValue 100 */
  readonly count?: number;
  /** Ends the tail (the caller should also disconnect the blocking connection to cut a block short). */
  readonly signal?: AbortSignal;
}

/**
 * Yields batches of events after `after`, forever, until `signal` aborts. An empty batch means a
 * block passed with nothing new (a good moment for a heartbeat or a deadline check). Entries that do
 * not decode are skipped but still advance the cursor.
 */
export async function* tailEvents(blocking: RedisClient, key: string, { after, blockMs, count = 100, signal }: TailOptions): AsyncGenerator<StoredEvent[]> {
  let cursor = after;
  while (signal?.aborted !== true) {
    const reply = await blocking.xread('COUNT', count, 'BLOCK', Math.max(1, Math.round(blockMs)), 'STREAMS', key, cursor);
    const entries = reply?.[0]?.[1] ?? [];
    const last = entries[entries.length - 1];
    if (last !== undefined) cursor = last[0];
    // Re-read after the await (a cast, so TypeScript does not keep the loop condition's narrowing).
    if ((signal as AbortSignal | undefined)?.aborted === true) return;
    yield decodeEntries(entries);
  }
}

export interface BlockingConnectionOptions {
  /** Shown in `CLIENT LIST`, e.g. `waq-api-sse`. */
  readonly name: string;
  /** @defaultValue 5000 */
  readonly connectTimeoutMs?: number;
}

/**
 * A dedicated connection for `XREAD BLOCK`, connected before it is returned (rejects when Redis is
 * unreachable). It does not reconnect: on a dropped connection the pending read rejects at once.
 */
export async function openBlockingConnection(like: RedisClient, { name, connectTimeoutMs = 5_000 }: BlockingConnectionOptions): Promise<RedisClient> {
  const connection = duplicateConnection(like, {
    connectionName: name,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: connectTimeoutMs,
  });
  // The read that was pending rejects with the reason; this listener only keeps the process alive.
  connection.on('error', () => undefined);
  try {
    await connection.connect();
  } catch (error) {
    connection.disconnect();
    throw error;
  }
  return connection;
}

function decodeEntries(entries: readonly [string, string[]][]): StoredEvent[] {
  const events: StoredEvent[] = [];
  for (const [id, fields] of entries) {
    const decoded = decodeEvent(id, fields);
    if (decoded !== null) events.push(decoded);
  }
  return events;
}
