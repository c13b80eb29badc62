/**
 * The queue-order guard on real Redis and BullMQ, at the moment that matters: a job another worker
 * held comes back to the queue (its lock expired) after this worker took a later one.
 */
import { createRedisFixture, type RedisFixture } from '@waq/test-utils';
import { Queue, Worker, type Job } from 'bullmq';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { queueOrderGuard, type QueueOrderGuard } from './queue-order.js';

let fixture: RedisFixture;
let prefix: string;
let queue: Queue;
const workers: Worker[] = [];
const connections: { quit(): Promise<unknown> }[] = [];

beforeEach(async () => {
  fixture = await createRedisFixture();
  // One hash tag: every key of the queue in one slot (Redis Cluster).
  prefix = `${fixture.prefix}:{order}`;
  queue = new Queue('sends', { connection: fixture.redis, prefix });
});

afterEach(async () => {
  await Promise.all(workers.splice(0).map((worker) => worker.close(true)));
  await Promise.all(connections.splice(0).map((connection) => connection.quit()));
  await queue.close();
  await fixture.cleanup();
});

describe('queue order guard', () => {
  it('puts a job back when an earlier one comes back to the queue between its take and its look', async () => {
    await queue.add('send', { n: 0 }, { jobId: 'first', priority: 2 });
    await queue.add('send', { n: 1 }, { jobId: 'second', priority: 2 });
    // A stale worker holds the first job.
    const stale = new Worker('sends', null, { connection: fixture.redis, prefix, lockDuration: 60_000 });
    workers.push(stale);
    const held = await stale.getNextJob('stale-token');
    expect(held?.id).toBe('first');

    let open: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    let reachedGate: () => void = () => undefined;
    const atGate = new Promise<void>((resolve) => {
      reachedGate = resolve;
    });
    const done: string[] = [];
    const connection = fixture.redis.duplicate();
    connections.push(connection);
    let guard: QueueOrderGuard | undefined;
    const worker = new Worker(
      'sends',
      async (job: Job) => {
        if (job.id === 'second' && done.length === 0) {
          reachedGate();
          await gate;
        }
        await guard!.keepBehindEarlierJob(job.id);
        done.push(String(job.id));
      },
      { connection, prefix, concurrency: 1, drainDelay: 1 },
    );
    workers.push(worker);
    guard = queueOrderGuard(worker, 50);

    await atGate; // this worker took the second job; it has not looked at the queue yet
    // The first job's lock expires and BullMQ's stalled check moves it to the head of the wait list.
    const key = (name: string): string => `${prefix}:sends:${name}`;
    await fixture.redis.multi().del(key('first:lock')).lrem(key('active'), 1, 'first').rpush(key('wait'), 'first').zadd(key('marker'), 0, '0').exec();
    open();

    await vi.waitFor(() => expect(done).toEqual(['first', 'second']), { timeout: 20_000, interval: 20 });
    await guard.close();
  });
});
