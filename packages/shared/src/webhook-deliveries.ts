/**
 * The durable side of webhooks, shared by the worker that delivers and the API that shows and
 * redrives: each subscription's delivery queue (BullMQ `webhook-<id>` with the session's prefix, so
 * in the session's slot), what a delivery job holds, and the dead letters.
 *
 * A delivery job is one event for one subscription: its envelope (posted as is, so every attempt and
 * every redelivery posts the same bytes) and its delivery id (the `webhook-id` header). Its job id is
 * the delivery id, so adding it twice (a dispatch repeated after a crash) adds it once.
 */
import { Queue } from 'bullmq';
import { z } from 'zod';

import { sessionKeys } from './keys.js';
import type { RedisClient } from './redis.js';
import { WEBHOOK_EVENT_TYPES } from './webhook-registry.js';

export function webhookQueueName(webhookId: string): string {
  return `webhook-${webhookId}`;
}

export const webhookEnvelopeSchema = z.object({
  id: z.string(),
  type: z.enum(WEBHOOK_EVENT_TYPES),
  session: z.string(),
  seq: z.number().int().positive(),
  timestamp: z.string(),
  data: z.record(z.string(), z.unknown()),
});

export const deliveryJobSchema = z.object({
  deliveryId: z.string(),
  envelope: webhookEnvelopeSchema,
  /** Set by the first attempt: the retry period runs from it. */
  firstAttemptAt: z.number().int().optional(),
  attempts: z.number().int().min(0).optional(),
});
export type DeliveryJob = z.infer<typeof deliveryJobSchema>;

export const deadLetterSchema = z.object({
  deliveryId: z.string(),
  envelope: webhookEnvelopeSchema,
  attempts: z.number().int(),
  firstAttemptAt: z.iso.datetime(),
  lastAttemptAt: z.iso.datetime(),
  /** The last answer's HTTP status, or null when there was none (timeout, refused connection). */
  status: z.number().int().nullable(),
  reason: z.string(),
  /** The first bytes of the last answer. */
  answer: z.string(),
});
export type DeadLetter = z.infer<typeof deadLetterSchema>;

/** Dead letters kept per subscription (the oldest go first past it). */
export const DEAD_LETTERS_KEPT = 10_000;

/** How long finished delivery jobs are kept: a dispatch repeated within it is recognised and not posted twice. */
export const FINISHED_DELIVERY_AGE_S = 86_400;

export interface WebhookScope {
  readonly redis: RedisClient;
  readonly prefix: string;
  readonly sessionId: string;
}

export function webhookQueue({ redis, prefix, sessionId }: WebhookScope, webhookId: string): Queue {
  return new Queue(webhookQueueName(webhookId), { connection: redis, prefix: sessionKeys({ prefix, sessionId }).bullPrefix });
}

/** Adds one delivery (once: its job id is its delivery id, or `jobId` for a redrive). */
export async function addDelivery(queue: Queue, job: DeliveryJob, jobId = job.deliveryId): Promise<void> {
  await queue.add('deliver', deliveryJobSchema.parse(job), { jobId, removeOnComplete: { age: FINISHED_DELIVERY_AGE_S }, removeOnFail: { age: FINISHED_DELIVERY_AGE_S } });
}

export async function recordDeadLetter({ redis, prefix, sessionId }: WebhookScope, webhookId: string, letter: DeadLetter): Promise<void> {
  const key = sessionKeys({ prefix, sessionId }).webhookDead(webhookId);
  await redis.multi().rpush(key, JSON.stringify(deadLetterSchema.parse(letter))).ltrim(key, -DEAD_LETTERS_KEPT, -1).exec();
}

export async function listDeadLetters({ redis, prefix, sessionId }: WebhookScope, webhookId: string): Promise<DeadLetter[]> {
  const raw = await redis.lrange(sessionKeys({ prefix, sessionId }).webhookDead(webhookId), 0, -1);
  return raw.flatMap((entry) => {
    try {
      const parsed = deadLetterSchema.safeParse(JSON.parse(entry));
      return parsed.success ? [parsed.data] : [];
    } catch {
      return [];
    }
  });
}

/**
 * Puts a subscription's dead letters back into its delivery queue, in their order, with their delivery
 * ids (a receiver that got one after all drops the repeat), and empties the list. Returns how many.
 */
export async function redriveDeadLetters(scope: WebhookScope, webhookId: string): Promise<number> {
  const key = sessionKeys({ prefix: scope.prefix, sessionId: scope.sessionId }).webhookDead(webhookId);
  const letters = await listDeadLetters(scope, webhookId);
  if (letters.length === 0) return 0;
  const queue = webhookQueue(scope, webhookId);
  try {
    const at = Date.now();
    for (const [index, letter] of letters.entries()) await addDelivery(queue, { deliveryId: letter.deliveryId, envelope: letter.envelope }, `${letter.deliveryId}-r${at}-${index}`);
    await scope.redis.ltrim(key, letters.length, -1);
  } finally {
    await queue.close();
  }
  return letters.length;
}

/** How a webhook's deliveries stand: waiting and active in its queue, and its dead letters. */
export interface WebhookHealth {
  readonly waiting: number;
  readonly active: number;
  readonly deadLetters: number;
}

export async function webhookHealth({ redis, prefix, sessionId }: WebhookScope, webhookId: string): Promise<WebhookHealth> {
  const keys = sessionKeys({ prefix, sessionId });
  const queue = `${keys.bullPrefix}:${webhookQueueName(webhookId)}`;
  const [waiting, active, deadLetters] = await Promise.all([redis.llen(`${queue}:wait`), redis.llen(`${queue}:active`), redis.llen(keys.webhookDead(webhookId))]);
  return { waiting, active, deadLetters };
}
