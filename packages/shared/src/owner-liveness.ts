/**
 * Is a session's owner alive? The lease key alone cannot say: it outlives a dead holder by up to a TTL
 * (15 s by default). The sign of life that goes at once is the holder's own Redis connection: a worker
 * holds each lease through a connection named after itself (`holderConnectionName`), and a kill -9
 * closes the process's sockets, so Redis drops that connection within milliseconds. Readers (the API,
 * the SDK's `getState()`, standbys) look it up with `CLIENT LIST`.
 *
 * - One look answers for every holder, and is cached (`maxAgeMs`, 500 ms by default): the send path
 *   reads the cached answer and never waits for a look (`peek`), `getState()` waits for a fresh one
 *   (`check`).
 * - A holder counts as dead only when its connection was absent on two looks at least `confirmMs`
 *   apart: a live holder whose connection just dropped (a Redis restart) reconnects within 200 ms.
 * - Where `CLIENT LIST` is not allowed (managed Redis with ACLs), every holder counts as alive: readers
 *   fall back to the lease's expiry, as before.
 * - A host that dies without closing its sockets keeps its connection listed until Redis's TCP
 *   keepalive gives up; the lease's expiry covers that case.
 */
import { masterNodes, type RedisClient } from './redis.js';

import type { Logger } from './logger.js';

/** The name of the connection a worker keeps open while it holds (or tries to take) a lease. */
export function holderConnectionName(workerId: string): string {
  return `waq-lease-holder:${workerId.replace(/[^\w.:@-]/g, '_')}`;
}

/**
 * The names of the clients connected to Redis, or undefined when `CLIENT LIST` is refused.
 * Other errors (Redis unreachable) are thrown. On Redis Cluster, the names connected to any master: a
 * holder's connection reaches the node of each lease it renews, not necessarily the others.
 */
export async function connectedClientNames(redis: RedisClient): Promise<ReadonlySet<string> | undefined> {
  let lists: string[];
  try {
    lists = await Promise.all(masterNodes(redis).map(async (node) => String(await node.call('CLIENT', 'LIST', 'TYPE', 'normal'))));
  } catch (error) {
    if (isRefusal(error)) return undefined;
    throw error;
  }
  const names = new Set<string>();
  for (const line of lists.join('\n').split('\n')) {
    const name = / name=(\S*) /.exec(` ${line} `)?.[1];
    if (name) names.add(name);
  }
  return names;
}

/** ACL (`NOPERM`) or a renamed/disabled command (`ERR unknown command`). */
function isRefusal(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return /NOPERM|unknown command|unknown subcommand|not allowed/i.test(message);
}

export interface LivenessOptions {
  /** How old a look may be before `check` looks again (and `peek` starts a look). @defaultValue 500 */
  readonly maxAgeMs?: number;
  /** How far apart two looks must be that both miss a holder before it counts as dead. @defaultValue 300 */
  readonly confirmMs?: number;
  readonly logger?: Logger;
}

interface Look {
  readonly at: number;
  /** undefined: CLIENT LIST refused. */
  readonly names: ReadonlySet<string> | undefined;
}

/** Holders not asked about for this long are forgotten (their absence record is dropped). */
const FORGET_AFTER_MS = 60_000;

export class OwnerLiveness {
  private last: Look | undefined;
  private looking: Promise<Look> | undefined;
  /** Holders asked about: when each was last asked, and since when its connection has been missing. */
  private readonly watched = new Map<string, { askedAt: number; absentSince?: number }>();
  private refusalLogged = false;
  private readonly maxAgeMs: number;
  private readonly confirmMs: number;

  constructor(
    private readonly redis: RedisClient,
    private readonly options: LivenessOptions = {},
  ) {
    this.maxAgeMs = options.maxAgeMs ?? 500;
    this.confirmMs = options.confirmMs ?? 300;
  }

  /**
   * The cached answer, without waiting: false only when `holder`'s connection is known gone. Starts a
   * look in the background when the last one is stale. For hot paths (a send's "queued or held").
   */
  peek(holder: string): boolean {
    const entry = this.watch(holder);
    if (this.stale()) void this.look().catch(() => undefined);
    return !this.confirmedGone(entry);
  }

  /** A fresh answer: looks again when the last look is stale, and confirms an absence before saying dead. */
  async check(holder: string): Promise<boolean> {
    const entry = this.watch(holder);
    if (this.stale()) await this.look();
    if (entry.absentSince !== undefined && !this.confirmedGone(entry)) {
      await delay(entry.absentSince + this.confirmMs - Date.now());
      await this.look(true);
    }
    return !this.confirmedGone(entry);
  }

  private watch(holder: string): { askedAt: number; absentSince?: number } {
    const now = Date.now();
    let entry = this.watched.get(holder);
    if (entry === undefined) {
      entry = { askedAt: now };
      this.watched.set(holder, entry);
      // Judge a newcomer by the look we have: its absence counts from that look.
      if (this.last?.names !== undefined && !this.last.names.has(holderConnectionName(holder))) entry.absentSince = this.last.at;
    }
    entry.askedAt = now;
    return entry;
  }

  private confirmedGone(entry: { absentSince?: number }): boolean {
    return entry.absentSince !== undefined && this.last !== undefined && this.last.at - entry.absentSince >= this.confirmMs;
  }

  private stale(): boolean {
    return this.last === undefined || Date.now() - this.last.at > this.maxAgeMs;
  }

  /** One CLIENT LIST at a time; callers arriving meanwhile share it (unless `fresh`: then one after it). */
  private look(fresh = false): Promise<Look> {
    if (this.looking !== undefined && !fresh) return this.looking;
    const previous = this.looking ?? Promise.resolve(undefined);
    const looking = previous
      .catch(() => undefined)
      .then(async () => {
        const at = Date.now();
        const names = await connectedClientNames(this.redis);
        this.record({ at, names });
        return this.last as Look;
      })
      .finally(() => {
        if (this.looking === looking) this.looking = undefined;
      });
    this.looking = looking;
    return looking;
  }

  private record(look: Look): void {
    this.last = look;
    if (look.names === undefined) {
      if (!this.refusalLogged) this.options.logger?.info('CLIENT LIST is not allowed: a dead session owner is noticed only when its lease expires');
      this.refusalLogged = true;
    }
    for (const [holder, entry] of this.watched) {
      if (look.at - entry.askedAt > FORGET_AFTER_MS) {
        this.watched.delete(holder);
      } else if (look.names === undefined || look.names.has(holderConnectionName(holder))) {
        delete entry.absentSince;
      } else {
        entry.absentSince ??= look.at;
      }
    }
  }
}

function delay(ms: number): Promise<void> {
  return ms <= 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, ms));
}
