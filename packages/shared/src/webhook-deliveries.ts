/**
 * The durable side of webhooks, shared by the worker that delivers and the API that shows and
 * redrives: each subscription's delivery queue (BullMQ `webhook-<id>` with the session's prefix, so
 * in the session's slot), what a delivery job holds, and the dead letters.
 *
 * A delivery job is one event for one subscription: its envelope (posted as is, so every attempt and
 * every redelivery posts the same bytes) and its delivery id (the `webhook-id` header). Its job id is
 * the delivery id, so adding it twice (a dispatch repeated after a crash) adds it once.
 */
import { Job, Queue, QueueKeys, type JobsOptions } from 'bullmq';
import { z } from 'zod';

import { sessionKeys, type SessionKeys } from './keys.js';
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

function deliveryJobOptions(jobId: string): JobsOptions {
  return { jobId, removeOnComplete: { age: FINISHED_DELIVERY_AGE_S }, removeOnFail: { age: FINISHED_DELIVERY_AGE_S } };
}

/** Adds one delivery (once: its job id is its delivery id). */
export async function addDelivery(queue: Queue, job: DeliveryJob): Promise<void> {
  await queue.add('deliver', deliveryJobSchema.parse(job), deliveryJobOptions(job.deliveryId));
}

export async function recordDeadLetter({ redis, prefix, sessionId }: WebhookScope, webhookId: string, letter: DeadLetter): Promise<void> {
  const key = sessionKeys({ prefix, sessionId }).webhookDead(webhookId);
  await redis.multi().rpush(key, JSON.stringify(deadLetterSchema.parse(letter))).ltrim(key, -DEAD_LETTERS_KEPT, -1).exec();
}

/** The dead letters as stored (`raw`, to remove exactly those) and parsed; entries that do not parse are left out. */
async function readDeadLetters({ redis, prefix, sessionId }: WebhookScope, webhookId: string): Promise<{ raw: string; letter: DeadLetter }[]> {
  const raw = await redis.lrange(sessionKeys({ prefix, sessionId }).webhookDead(webhookId), 0, -1);
  return raw.flatMap((entry) => {
    try {
      const parsed = deadLetterSchema.safeParse(JSON.parse(entry));
      return parsed.success ? [{ raw: entry, letter: parsed.data }] : [];
    } catch {
      return [];
    }
  });
}

export async function listDeadLetters(scope: WebhookScope, webhookId: string): Promise<DeadLetter[]> {
  return (await readDeadLetters(scope, webhookId)).map(({ letter }) => letter);
}

/**
 * Puts a subscription's dead letters back at the head of its delivery queue, in their order (ahead of
 * the deliveries waiting; a delivery being attempted finishes that attempt, and any next one comes after
 * them: the worker looks at the head of the queue before each attempt), with their delivery ids (a
 * receiver that got one after all drops the repeat), and takes them off the list. Returns how many.
 *
 * The jobs are added in one transaction, so a consumer taking jobs meanwhile cannot take a later letter
 * before an earlier one; then exactly the letters read are taken off the list. Each redriven job's id is
 * its delivery id and the time it was given up: a redrive repeated (two at once, or after a crash
 * between the two steps) adds each letter once.
 */
export async function redriveDeadLetters(scope: WebhookScope, webhookId: string): Promise<number> {
  const key = sessionKeys({ prefix: scope.prefix, sessionId: scope.sessionId }).webhookDead(webhookId);
  const letters = await readDeadLetters(scope, webhookId);
  if (letters.length === 0) return 0;
  const queue = webhookQueue(scope, webhookId);
  try {
    const multi = (await queue.client).multi();
    // LIFO pushes to the head: the last letter first, so the first ends up in front.
    for (const { letter } of [...letters].reverse()) {
      const jobId = `${letter.deliveryId}-r${Date.parse(letter.lastAttemptAt)}`;
      await new Job(queue, 'deliver', deliveryJobSchema.parse({ deliveryId: letter.deliveryId, envelope: letter.envelope }), { ...deliveryJobOptions(jobId), lifo: true }, jobId).addJob(multi);
    }
    const failed = ((await multi.exec()) ?? []).find(([error]) => error !== null);
    if (failed !== undefined) throw failed[0] as Error;
  } finally {
    await queue.close();
  }
  const remove = scope.redis.multi();
  for (const { raw } of letters) remove.lrem(key, 1, raw);
  await remove.exec();
  return letters.length;
}

/** How a webhook's deliveries stand: waiting and active in its queue, and its dead letters. */
export interface WebhookHealth {
  readonly waiting: number;
  readonly active: number;
  readonly deadLetters: number;
}

/** A webhook queue's BullMQ keys: its wait and active lists, and the prefix of its job hashes (`<prefix><job id>`). */
export function webhookQueueKeys(keys: Pick<SessionKeys, 'bullPrefix'>, webhookId: string): { wait: string; active: string; jobPrefix: string } {
  const queue = new QueueKeys(keys.bullPrefix);
  const name = webhookQueueName(webhookId);
  return { wait: queue.toKey(name, 'wait'), active: queue.toKey(name, 'active'), jobPrefix: queue.toKey(name, '') };
}

export async function webhookHealth({ redis, prefix, sessionId }: WebhookScope, webhookId: string): Promise<WebhookHealth> {
  const keys = sessionKeys({ prefix, sessionId });
  const queue = webhookQueueKeys(keys, webhookId);
  const [waiting, active, deadLetters] = await Promise.all([redis.llen(queue.wait), redis.llen(queue.active), redis.llen(keys.webhookDead(webhookId))]);
  return { waiting, active, deadLetters };
}
