/**
 * The BullMQ queues of one session, and the typed `enqueue()` every producer goes through.
 */
import { hash, randomUUID } from 'node:crypto';

import { Queue, type Job, type JobsOptions } from 'bullmq';

import { idempotencyKeySchema, jobCatalog, mediaMode, parseJobPayload, toFieldProblems, type JobInput, type JobName, type JobOptionsConfig, type JobPayload } from './jobs.js';
import { InvalidPayloadError } from './errors.js';
import { sessionKeys, type KeyScope, type SessionKeys } from './keys.js';
import type { Logger } from './logger.js';
import { QUEUE_NAMES, type QueueKind } from './queues.js';
import type { RedisClient } from './redis.js';

export interface SessionQueues {
  readonly keys: SessionKeys;
  /**
   * The connection the queues use. BullMQ defines its ~50 Lua scripts on it, and ioredis copies them
   * into every `multi()`/`pipeline()` built on that connection (about 50 µs each): waq's own
   * transactions go through a connection of their own.
   */
  readonly connection: RedisClient;
  readonly control: Queue;
  readonly outbox: Queue;
  /** Closes both queues; safe to call twice. Does not close the shared Redis connection. */
  close(): Promise<void>;
}

/**
 * Waits (2 s at most) for BullMQ queues or workers to finish initialising, before they are closed. One on
 * a shared connection that is closed while its initialisation (a Redis INFO) is still under way reports
 * that INFO's failure as an 'error' event after close() removed every listener: an unhandled rejection
 * (BullMQ 5). Seen when a Redis Cluster connection is closed right after use.
 */
export async function settleInitialisation(objects: readonly { waitUntilReady(): Promise<unknown> }[], maxMs = 2_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, maxMs)));
  await Promise.race([Promise.allSettled(objects.map((object) => object.waitUntilReady())), timeout]);
  clearTimeout(timer);
}

export interface SessionQueuesOptions {
  /**
   * Whether the queues write their meta hash (BullMQ's version and events cap) when they open; true by
   * default. False for a session's deletion: a deletion that finds nothing to delete leaves no key behind.
   */
  readonly writeMeta?: boolean;
}

export function createSessionQueues(connection: RedisClient, scope: KeyScope, logger?: Logger, { writeMeta = true }: SessionQueuesOptions = {}): SessionQueues {
  const keys = sessionKeys(scope);
  const make = (kind: QueueKind): Queue => {
    const queue = new Queue(QUEUE_NAMES[kind], { connection, prefix: keys.bullPrefix, skipMetasUpdate: !writeMeta });
    queue.on('error', (error: Error) => logger?.warn({ err: error, queue: kind }, 'queue error'));
    return queue;
  };
  const control = make('control');
  const outbox = make('outbox');
  let closing: Promise<void> | undefined;
  return {
    keys,
    connection,
    control,
    outbox,
    close() {
      closing ??= (async () => {
        await settleInitialisation([control, outbox]);
        await Promise.allSettled([control.close(), outbox.close()]);
      })();
      return closing;
    },
  };
}

export interface EnqueueOptions {
  /** BullMQ job id; for sends, the idempotency key. Generated when absent. */
  readonly jobId?: string;
}

/**
 * Validates `input` against the catalog schema (throws `InvalidPayloadError` naming the field) and
 * adds it to the job's queue with the catalog's default options. Nothing invalid reaches Redis.
 */
export async function enqueue<K extends JobName>(
  queues: SessionQueues,
  config: JobOptionsConfig,
  name: K,
  input: JobInput<K>,
  { jobId }: EnqueueOptions = {},
): Promise<Job<JobPayload<K>>> {
  const payload = parseJobPayload(name, input);
  const entry = jobCatalog[name];
  const queue = queues[entry.queue];
  const id = jobId === undefined ? undefined : parseJobId(jobId);
  const options = (entry.options as (config: JobOptionsConfig, payload: JobPayload<K>, now: number) => JobsOptions)(config, payload, Date.now());
  return (await queue.add(name, payload, { ...options, ...(id === undefined ? {} : { jobId: id }) })) as Job<JobPayload<K>>;
}

export function parseJobId(id: string, field = 'idempotencyKey'): string {
  const result = idempotencyKeySchema.safeParse(id);
  if (!result.success) throw new InvalidPayloadError(toFieldProblems(result.error, [field]), field);
  return result.data;
}

export function newMessageId(): string {
  return randomUUID();
}

/** A stable digest of what makes two sends "the same message" for idempotency purposes. */
export function sendFingerprint(payload: Pick<JobPayload<'send'>, 'to' | 'text' | 'media' | 'asDocument' | 'asVoice' | 'asSticker'>): string {
  // A text-only send keeps the fingerprint it had before media existed (keys claimed by older producers).
  const parts: unknown[] = [payload.to, payload.text];
  if (payload.media !== undefined) parts.push(payload.media.sha256, mediaMode(payload));
  return hash('sha256', JSON.stringify(parts), 'base64url');
}
