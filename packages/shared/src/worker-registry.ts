/**
 * The worker registry: which pool members are up, with their host, capacity and sessions, for
 * operators (`GET /v1/workers`) and for the pool's own decisions. One Redis hash, `<p>:workers`,
 * field = worker id, value = the JSON record, rewritten by each member on every reconciliation and
 * removed on a graceful stop. Drain requests (`POST /v1/workers/:id/drain`) sit in a hash of their own,
 * `<p>:workers:drain` (worker id → requested at), so a member's heartbeat never overwrites one.
 *
 * A member that died leaves its record behind: a reader judges it by the heartbeat's age (older than
 * three of its own intervals: not alive), and `list()` drops records older than `FORGET_AFTER_MS`.
 */
import { z } from 'zod';

import { registryKeys } from './keys.js';
import type { RedisClient } from './redis.js';

export const workerRecordSchema = z.object({
  id: z.string().min(1),
  host: z.string(),
  pid: z.number().int(),
  capacity: z.number().int().min(0),
  sessions: z.array(z.string()),
  startedAt: z.iso.datetime(),
  heartbeatAt: z.iso.datetime(),
  /** How often this member writes its record, in ms. */
  heartbeatEveryMs: z.number().int().positive(),
  /** It was asked to drain: it claims nothing and hands its sessions over one at a time. */
  draining: z.boolean().default(false),
});
export type WorkerRecord = z.input<typeof workerRecordSchema>;

export interface WorkerView extends z.infer<typeof workerRecordSchema> {
  /** Its heartbeat is younger than three of its intervals. */
  readonly alive: boolean;
}

/** Records of members silent for this long are deleted by `list()`. */
export const FORGET_AFTER_MS = 60 * 60_000;

export class WorkerRegistry {
  readonly key: string;
  private readonly drainKey: string;

  constructor(
    private readonly redis: RedisClient,
    prefix: string,
  ) {
    this.key = registryKeys(prefix).workers;
    this.drainKey = `${this.key}:drain`;
  }

  /** Asks member `id` to drain; false when no such member is registered. */
  async requestDrain(id: string, at = new Date()): Promise<boolean> {
    if ((await this.redis.hexists(this.key, id)) === 0) return false;
    await this.redis.hsetnx(this.drainKey, id, at.toISOString());
    return true;
  }

  /** Whether member `id` was asked to drain. */
  async drainRequested(id: string): Promise<boolean> {
    return (await this.redis.hexists(this.drainKey, id)) === 1;
  }

  async heartbeat(record: WorkerRecord): Promise<void> {
    await this.redis.hset(this.key, record.id, JSON.stringify(workerRecordSchema.parse(record)));
  }

  /** Removes a member's record and its drain request (a graceful stop). */
  async remove(id: string): Promise<void> {
    // Two commands, not a MULTI: the two keys are in different slots on Redis Cluster.
    await Promise.all([this.redis.hdel(this.key, id), this.redis.hdel(this.drainKey, id)]);
  }

  /** Every member, by id, alive or not; records long silent (or unreadable) are deleted. */
  async list(now = Date.now()): Promise<WorkerView[]> {
    const views: WorkerView[] = [];
    const forgotten: string[] = [];
    for (const [id, raw] of Object.entries(await this.redis.hgetall(this.key))) {
      const record = parse(raw);
      if (record === null || now - Date.parse(record.heartbeatAt) > FORGET_AFTER_MS) {
        forgotten.push(id);
        continue;
      }
      views.push({ ...record, alive: now - Date.parse(record.heartbeatAt) < 3 * record.heartbeatEveryMs });
    }
    if (forgotten.length > 0) await Promise.all([this.redis.hdel(this.key, ...forgotten), this.redis.hdel(this.drainKey, ...forgotten)]);
    return views.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }
}

function parse(raw: string): z.infer<typeof workerRecordSchema> | null {
  try {
    const result = workerRecordSchema.safeParse(JSON.parse(raw));
    return result.success ? result.data : null;
  } catch {
    return null;
  }
}
