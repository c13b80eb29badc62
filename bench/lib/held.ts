/**
 * The held-sends scenario shared by the dispatch and cost cases, on waq's real worker code with the fake
 * driver: N sends accepted (`producer.send`) while the session is not READY, then the phone links
 * (`FakeWhatsApp.scan()` after `producer.connect()`) and the outbox drains. Also its baseline: the same
 * jobs drained by a raw BullMQ Worker with a no-op processor and the worker's queue settings.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { createRedis, jobCatalog, QUEUE_NAMES, type Producer } from '@waq/shared';
import { Worker, type JobsOptions, type Queue } from 'bullmq';

import { FakeWhatsApp } from '../../apps/worker/src/driver/fake-driver.js';
import { sendPayload } from './bull.js';
import { deletePrefix, usedMemory } from './redis.js';
import { pollUntil } from './stats.js';
import { scopeConfig, sessionClient, startOwner, type SessionScope } from './waq-session.js';

export const RECIPIENT = '+49 151 23456789';

/** Production config but no pacing: these cases measure the machinery, not the configured send rate. */
export const NO_PACING = { SEND_INTERVAL_MS: '0', SEND_JITTER_MS: '0', SEND_DAILY_CAP: '0', SEND_NEW_CHATS_PER_DAY: '0', SEND_WARMUP_MESSAGES: '0' } as const;

/** Runs `task(i)` for i in 0..n-1 with `concurrency` in flight; returns calls per second. */
async function ratePerSecond(n: number, concurrency: number, task: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      while (next < n) await task(next++);
    }),
  );
  return n / ((performance.now() - started) / 1_000);
}

/**
 * Accepts `n` sends through the producer SDK with `concurrency` calls in flight; text and idempotency
 * key are `<tag>-<i>`. Returns sends per second.
 */
export function fillSends(producer: Producer, n: number, concurrency: number, tag: string): Promise<number> {
  return ratePerSecond(n, concurrency, (i) => producer.send({ to: RECIPIENT, text: `${tag}-${i}`, idempotencyKey: `${tag}-${i}` }));
}

/** Baseline fill: plain `queue.add`s of what the producer would enqueue, `concurrency` in flight. */
export function fillPlain(queue: Queue, n: number, concurrency: number, options: JobsOptions): Promise<number> {
  return ratePerSecond(n, concurrency, (i) => queue.add('send', sendPayload(`plain-${i}`), { ...options, jobId: `plain-${i}` }));
}

/**
 * The order in which the outbox will hand out its waiting jobs: first the jobs without a BullMQ priority,
 * which BullMQ LPUSHes and workers take from the right (the reverse of the list: `paused` while paused,
 * else `wait`), then the prioritized ones (waq's sends) by score, priority first and then the order they
 * were added in. With concurrent producers this is the true acceptance order: the order Redis ran the adds in.
 */
export async function acceptanceOrder(queue: Queue): Promise<string[]> {
  const client = await queue.client;
  const [paused, waiting, prioritized] = await Promise.all([
    client.lrange(queue.toKey('paused'), 0, -1),
    client.lrange(queue.toKey('wait'), 0, -1),
    client.zrange(queue.toKey('prioritized'), 0, -1),
  ]);
  return [...[...paused, ...waiting].reverse(), ...prioritized];
}

export interface HeldDrainResult {
  /** Sends accepted per second while filling. */
  readonly fillRate: number;
  /** `used_memory` after the fill minus before, divided by n (only meaningful on a Redis of our own). */
  readonly bytesPerSend: number;
  /** Jobs per second from the scan to the n-th completed job. */
  readonly drainRate: number;
  readonly drainSeconds: number;
  /** The fake phone received every message once, in acceptance order. */
  readonly inOrder: boolean;
  readonly orderProblem?: string;
}

async function withScope<T>(url: string, prefix: string, body: (scope: SessionScope) => Promise<T>): Promise<T> {
  const sessionDir = await mkdtemp(path.join(tmpdir(), 'waq-bench-session-'));
  const cleaner = createRedis({ url, role: 'consumer', name: 'bench-cleaner' });
  try {
    return await body({ url, prefix, sessionDir, env: NO_PACING });
  } finally {
    await deletePrefix(cleaner, prefix);
    await cleaner.quit().catch(() => cleaner.disconnect());
    await rm(sessionDir, { recursive: true, force: true });
  }
}

/** waq: n held sends, READY, drain; checks the order against what the fake phone received. */
export async function heldDrain(url: string, prefix: string, n: number, fillConcurrency: number): Promise<HeldDrainResult> {
  return withScope(url, prefix, async (scope) => {
    const world = new FakeWhatsApp();
    const client = await sessionClient(scope);
    const owner = startOwner(scope, world.createDriver);
    try {
      await client.waitForStatus('STOPPED', 30_000);
      const memBefore = await usedMemory(client.observer);
      const fillRate = await fillSends(client.producer, n, fillConcurrency, 'held');
      const memAfter = await usedMemory(client.observer);
      const expected = await acceptanceOrder(client.producer.queues.outbox);
      await client.producer.connect('bench');
      await client.waitForStatus('QR', 30_000);
      const started = performance.now();
      world.scan();
      await pollUntil(async () => (await client.producer.queues.outbox.getCompletedCount()) >= n, { timeoutMs: Math.max(120_000, n * 5), intervalMs: 10, what: `${n} held sends to drain` });
      const drainSeconds = (performance.now() - started) / 1_000;
      const received = world.sent.map((m) => m.body);
      const orderProblem =
        expected.length !== n ? `${expected.length} jobs were waiting instead of ${n}`
        : received.length !== n ? `the phone received ${received.length} messages instead of ${n}`
        : firstDifference(expected, received);
      return { fillRate, bytesPerSend: (memAfter - memBefore) / n, drainRate: n / drainSeconds, drainSeconds, inOrder: orderProblem === undefined, ...(orderProblem === undefined ? {} : { orderProblem }) };
    } finally {
      await owner.stop();
      await client.close();
    }
  });
}

function firstDifference(expected: readonly string[], received: readonly string[]): string | undefined {
  const index = expected.findIndex((id, i) => id !== received[i]);
  return index === -1 ? undefined : `position ${index}: expected ${expected[index]}, the phone received ${received[index]}`;
}

export interface PlainDrainResult {
  readonly bytesPerSend: number;
  readonly drainRate: number;
}

/**
 * Baseline: n plain `queue.add`s of the same payloads with the same job options (no waq message record)
 * into an outbox nobody consumes, then a raw BullMQ Worker with a no-op processor, concurrency 1 and the
 * worker's lock and stall settings (apps/worker/src/consumers.ts).
 */
export async function plainDrain(url: string, prefix: string, n: number, fillConcurrency: number): Promise<PlainDrainResult> {
  return withScope(url, prefix, async (scope) => {
    const config = scopeConfig(scope);
    const client = await sessionClient(scope);
    const connection = createRedis({ url, role: 'consumer', name: 'bench-noop-outbox' });
    let worker: Worker | undefined;
    try {
      const memBefore = await usedMemory(client.observer);
      await fillPlain(client.producer.queues.outbox, n, fillConcurrency, jobCatalog.send.options({ sendMaxAttempts: config.SEND_MAX_ATTEMPTS, retentionSeconds: config.MESSAGE_RETENTION_S }, { to: '', text: '' }, Date.now()));
      const memAfter = await usedMemory(client.observer);
      worker = new Worker(QUEUE_NAMES.outbox, async () => undefined, {
        connection,
        prefix: client.keys.bullPrefix,
        autorun: false,
        concurrency: 1,
        lockDuration: config.JOB_LOCK_MS,
        stalledInterval: config.JOB_LOCK_MS,
        maxStalledCount: 10,
      });
      worker.on('error', () => undefined);
      await worker.waitUntilReady();
      const started = performance.now();
      void worker.run();
      await pollUntil(async () => (await client.producer.queues.outbox.getCompletedCount()) >= n, { timeoutMs: Math.max(120_000, n * 5), intervalMs: 10, what: `${n} no-op jobs` });
      return { bytesPerSend: (memAfter - memBefore) / n, drainRate: n / ((performance.now() - started) / 1_000) };
    } finally {
      await worker?.close();
      await connection.quit().catch(() => connection.disconnect());
      await client.close();
    }
  });
}
