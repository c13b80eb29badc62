/**
 * Plain BullMQ, for the physical reference and the baselines: adds and a no-op worker with no waq code
 * in the path. Connections follow waq's policies (producer: fail fast; consumer: wait), so a baseline
 * differs from waq only by what waq does on top.
 */
import { randomUUID } from 'node:crypto';

import { createRedis } from '@waq/shared';
import { Queue, Worker, type JobsOptions, type WorkerOptions } from 'bullmq';

import { pollUntil } from './stats.js';

/** The same payload the API and the producer enqueue for `{ to: '+49 151 23456789', text }` (normalised). */
export function sendPayload(text: string): { to: string; text: string; acceptedAt: string } {
  return { to: '4915123456789@c.us', text, acceptedAt: new Date().toISOString() };
}

export interface PlainQueue {
  readonly queue: Queue;
  close(): Promise<void>;
}

export async function plainQueue(url: string, prefix: string, name = 'outbox'): Promise<PlainQueue> {
  const connection = createRedis({ url, role: 'producer', name: 'bench-plain-queue' });
  const queue = new Queue(name, { connection, prefix });
  queue.on('error', () => undefined); // a benchmark with Redis gone fails on its awaited calls instead
  await queue.waitUntilReady();
  return {
    queue,
    async close() {
      await queue.close();
      await connection.quit().catch(() => connection.disconnect());
    },
  };
}

/** `n` adds one after the other; returns adds per second. */
export async function serialAdds(queue: Queue, n: number, options: JobsOptions = {}): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < n; i++) await queue.add('send', sendPayload(`serial ${i}`), options);
  return n / ((performance.now() - started) / 1_000);
}

/** `n` adds issued at once (ioredis pipelines them on one connection); returns adds per second. */
export async function concurrentAdds(queue: Queue, n: number, options: JobsOptions = {}): Promise<number> {
  const started = performance.now();
  await Promise.all(Array.from({ length: n }, (_, i) => queue.add('send', sendPayload(`concurrent ${i}`), options)));
  return n / ((performance.now() - started) / 1_000);
}

/**
 * Drains `n` jobs already waiting in `prefix`/`name` with a no-op processor at concurrency 1; returns
 * jobs per second from `run()` to the n-th `completed` event.
 */
export async function noopDrain(url: string, prefix: string, n: number, options: Partial<WorkerOptions> = {}, name = 'outbox'): Promise<number> {
  const connection = createRedis({ url, role: 'consumer', name: 'bench-noop-worker' });
  let completed = 0;
  const worker = new Worker(name, async () => undefined, { connection, prefix, concurrency: 1, autorun: false, ...options });
  worker.on('error', () => undefined);
  worker.on('completed', () => {
    completed += 1;
  });
  try {
    await worker.waitUntilReady();
    const started = performance.now();
    void worker.run();
    await pollUntil(() => completed >= n, { timeoutMs: 600_000, intervalMs: 5, what: `${n} no-op jobs` });
    return n / ((performance.now() - started) / 1_000);
  } finally {
    await worker.close();
    await connection.quit().catch(() => connection.disconnect());
  }
}

/** Adds `n` jobs in batches of 1,000 (addBulk: one round trip each) to prepare a drain. */
export async function prefill(queue: Queue, n: number, options: JobsOptions = {}): Promise<void> {
  for (let start = 0; start < n; start += 1_000) {
    const batch = Array.from({ length: Math.min(1_000, n - start) }, (_, k) => ({ name: 'send', data: sendPayload(`job ${start + k}`), opts: { ...options, jobId: randomUUID() } }));
    await queue.addBulk(batch);
  }
}
