/**
 * The API's dedicated Redis connections for blocking reads (SSE streams, `connect?wait=true`): one per
 * request, closed when it ends, capped so a crowd of browsers cannot exhaust Redis's client limit.
 */
import { openBlockingConnection, type RedisClient } from '@waq/shared';

import { errorResponse, type HttpResult } from './error-response.js';

export interface BlockingLease {
  readonly connection: RedisClient;
  /** Disconnects and frees the slot; safe to call twice. */
  release(): void;
}

export class BlockingConnections {
  private readonly open = new Set<RedisClient>();
  private reserved = 0;
  private closed = false;

  constructor(
    private readonly like: RedisClient,
    /** Most connections at once. */
    readonly max: number,
  ) {}

  get active(): number {
    return this.reserved;
  }

  /** A connection, or undefined when the cap is reached. Rejects when Redis is unreachable. */
  async acquire(name: string): Promise<BlockingLease | undefined> {
    if (this.closed || this.reserved >= this.max) return undefined;
    this.reserved += 1;
    let connection: RedisClient;
    try {
      connection = await openBlockingConnection(this.like, { name, connectTimeoutMs: 3_000 });
    } catch (error) {
      this.reserved -= 1;
      throw error;
    }
    this.open.add(connection);
    let released = false;
    return {
      connection,
      release: () => {
        if (released) return;
        released = true;
        this.reserved -= 1;
        this.open.delete(connection);
        connection.disconnect();
      },
    };
  }

  /** Disconnects every connection: their pending reads reject and their requests end. */
  closeAll(): void {
    this.closed = true;
    for (const connection of this.open) connection.disconnect();
  }
}


/** The answer when every slot is taken. */
export function tooManyStreams(max: number): HttpResult {
  return errorResponse(503, 'too_many_streams', `too many live connections (${max} at most): close another event stream or retry later`, undefined, { 'Retry-After': '5' });
}
