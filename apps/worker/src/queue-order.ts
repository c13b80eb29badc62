/**
 * A queue's order across a change of hands. A worker that loses a session in the middle of a job (paused,
 * cut off, killed) leaves the job active until its lock expires, when BullMQ puts it back at the head of
 * its queue; a job another worker takes from that queue meanwhile is a later one. That worker puts it
 * back first (BullMQ's rate-limit error keeps it at the head) and the queue rests a moment before it is
 * looked at again, so the earlier job lands in front of it.
 *
 * For queues taken one job at a time (a session's outbox, a webhook's deliveries): any active job but
 * the one being handled is someone else's — except one this worker has just put back, which can still
 * be on its way back to the wait list. That one is a later job (it was put back for an earlier one),
 * so it is not waited for: waiting for it too would send it back behind, and then ahead of, the
 * earlier job (found by reliability scenario 14c, a stale owner resuming).
 */
import { RedisScript, type RedisClient } from '@waq/shared';
import { Queue, Worker } from 'bullmq';

export interface QueueOrderGuard {
  /**
   * Throws BullMQ's rate-limit error (the job goes back to the head, the queue rests `recheckMs`) when
   * another job of the queue is active, or an earlier one came back to the head of the queue after this
   * one was taken. `onWait` runs first, when it does.
   */
  keepBehindEarlierJob(jobId: string | undefined, onWait?: () => void): Promise<void>;
  /** Rests the whole queue for `ms` and throws BullMQ's rate-limit error (the job goes back to the head). */
  rest(ms: number): Promise<never>;
  close(): Promise<void>;
}

/** How long a job this worker put back is remembered as its own (its way back to the wait list takes milliseconds). */
const PUT_BACK_MEMORY_MS = 60_000;

/**
 * KEYS[1] the active list, KEYS[2] the wait list; ARGV[1] the job key prefix, ARGV[2] the job taken.
 * Returns `{ stalledAhead, ...activeIds }`. `stalledAhead` is 1 when the job taken came from the
 * prioritized set (it has a priority) while the head of the wait list holds a job that was taken before
 * (BullMQ's stalled check puts a job whose lock expired there, and takes the wait list first): that
 * job was taken before this one, so it is an earlier one. It got there after this job was taken —
 * else BullMQ would have handed it out instead — e.g. between the take and the look at the active list
 * (seen once: reliability 14c, a send of the new owner went before the one the stale owner had held).
 */
const LOOK = new RedisScript(`
local stalledAhead = 0
local priority = tonumber(redis.call('HGET', ARGV[1] .. ARGV[2], 'priority'))
if priority and priority > 0 then
  local head = redis.call('LINDEX', KEYS[2], -1)
  if head and head ~= ARGV[2] and redis.call('HEXISTS', ARGV[1] .. head, 'processedOn') == 1 then stalledAhead = 1 end
end
local result = { stalledAhead }
for _, id in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do result[#result + 1] = id end
return result
`);

export function queueOrderGuard(worker: Worker, recheckMs: number): QueueOrderGuard {
  // Queue.rateLimit (Worker.rateLimit is deprecated): on the worker's own connection, no new one.
  let queue: Queue | undefined;
  /** Jobs this worker put back to wait behind an earlier one, by id, with when. */
  const putBack = new Map<string, number>();
  const rest = async (ms: number): Promise<never> => {
    queue ??= new Queue(worker.name, { connection: await worker.client, prefix: worker.opts.prefix });
    await queue.rateLimit(ms);
    throw Worker.RateLimitError();
  };
  return {
    async keepBehindEarlierJob(jobId, onWait) {
      const client = await worker.client;
      const now = Date.now();
      for (const [id, at] of putBack) if (now - at > PUT_BACK_MEMORY_MS) putBack.delete(id);
      // BullMQ's client is an ioredis client (its typings name the copy of ioredis it was built against).
      const [stalledAhead, ...active] = (await LOOK.run(client as unknown as RedisClient, [worker.keys.active!, worker.keys.wait!], [worker.keys['']!, jobId ?? ''])) as [number, ...string[]];
      const earlier = active.filter((id) => id !== jobId && !putBack.has(id));
      if (earlier.length === 0 && stalledAhead !== 1) {
        if (jobId !== undefined) putBack.delete(jobId);
        return;
      }
      onWait?.();
      if (jobId !== undefined) putBack.set(jobId, now);
      return rest(recheckMs);
    },
    rest,
    async close() {
      await queue?.close();
    },
  };
}
