/**
 * `GET /v1/session/events`: the session's event stream as Server-Sent Events. Streaming does not fit
 * the `{ status, body }` handler shape, so this is the one handler that writes to the response itself.
 *
 * - each event: `id:` its Redis stream id, `event:` its type, `data:` the event as JSON;
 * - resume: `Last-Event-ID` (EventSource sends it when it reconnects) replays what came after it;
 *   without it, `?backlog=N` replays the newest N events first;
 * - heartbeat: a `:` comment line whenever a read blocks `heartbeatMs` with nothing new, so proxies keep
 *   the connection and a dead client is noticed;
 * - one dedicated blocking Redis connection per stream, disconnected when the client goes; when Redis
 *   goes, the stream ends and EventSource reconnects by itself (after `retry` ms).
 */
import { once } from 'node:events';

import { isStreamId, readRecentEvents, type RedisClient, type StoredEvent, tailEvents, toFieldProblems } from '@waq/shared';
import type { Request, Response } from 'express';

import { tooManyStreams, type BlockingConnections } from './blocking-connections.js';
import { errorResponse, type HttpResult } from './error-response.js';
import { eventsQuerySchema } from './schemas.js';

export interface SessionEventsDependencies {
  readonly redis: RedisClient;
  readonly blocking: BlockingConnections;
  /** Longest silence before a heartbeat, in ms. */
  readonly heartbeatMs: number;
  /** Sends an error answer (the app's JSON writer). */
  readonly reply: (res: Response, result: HttpResult) => void;
}

/** How long EventSource waits before reconnecting, in ms. */
const RETRY_MS = 3_000;

function formatEvent({ id, event }: StoredEvent): string {
  const { type, ...data } = event;
  return `id: ${id}\nevent: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** The handler; `eventsKey` is the session's event stream (`SessionKeys.events`). */
export function sessionEvents({ redis, blocking, heartbeatMs, reply }: SessionEventsDependencies) {
  return async (req: Request, res: Response, eventsKey: string): Promise<void> => {
    const query = eventsQuerySchema.safeParse(req.query);
    if (!query.success) return reply(res, errorResponse(422, 'invalid_query', 'invalid query parameter: see details', toFieldProblems(query.error)));
    const lastEventId = req.get('Last-Event-ID');
    if (lastEventId !== undefined && !isStreamId(lastEventId)) {
      return reply(res, errorResponse(422, 'invalid_last_event_id', 'Last-Event-ID must be an event id from this stream, e.g. 1732500000000-0', [{ path: 'Last-Event-ID', message: 'not a stream id' }]));
    }
    const lease = await blocking.acquire('waq-api-sse');
    if (lease === undefined) return reply(res, tooManyStreams(blocking.max));
    const aborted = new AbortController();
    const stop = (): void => {
      aborted.abort();
      lease.release();
    };
    req.on('close', stop);
    try {
      let after = lastEventId;
      let backlog: StoredEvent[] = [];
      if (after === undefined) ({ events: backlog, lastId: after } = await readRecentEvents(redis, eventsKey, query.data.backlog));
      res.writeHead(200, {
        'Content-Type': 'text/event-stream; charset=utf-8',
        'Cache-Control': 'no-cache, no-transform',
        Connection: 'keep-alive',
        // nginx buffers responses by default, which would hold events back.
        'X-Accel-Buffering': 'no',
      });
      const write = async (chunk: string): Promise<void> => {
        if (!res.write(chunk)) await once(res, 'drain', { signal: aborted.signal });
      };
      await write(`retry: ${RETRY_MS}\n\n`);
      for (const event of backlog) await write(formatEvent(event));
      for await (const batch of tailEvents(lease.connection, eventsKey, { after, blockMs: heartbeatMs, signal: aborted.signal })) {
        if (batch.length === 0) await write(': heartbeat\n\n');
        for (const event of batch) await write(formatEvent(event));
      }
    } catch (error) {
      if (!aborted.signal.aborted) {
        req.log.warn({ err: error }, 'event stream ended: Redis connection lost');
        if (!res.headersSent) throw error;
      }
    } finally {
      req.off('close', stop);
      stop();
      res.end();
    }
  };
}
