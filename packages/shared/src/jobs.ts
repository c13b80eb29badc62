/**
 * The job catalog: every job waq knows, with its payload schema, its queue and its default options.
 * From it come `JobName`, `JobPayload<K>` (what a handler receives), `JobInput<K>` (what a producer
 * may pass, before normalisation) and `JobHandlers`, a handler map that fails to compile when a job
 * has no handler.
 *
 * Payloads evolve additively: a new field is optional, so jobs already in Redis and producers on an
 * older version stay valid. A breaking change gets a new job name. Payload schemas strip unknown
 * fields instead of rejecting them, so an older worker still serves a newer producer's jobs.
 *
 * Raw format (for producers that do not use the SDK, e.g. plain BullMQ in another language):
 * queue `outbox` with BullMQ prefix `<WAQ_PREFIX>:{<SESSION_ID>}`, job name `send`, data
 * `{ "to": "+4915123456789", "text": "hello" }`, job id = idempotency key. The worker validates
 * the data again at dequeue; an invalid job fails at once with the reason.
 */
import type { JobsOptions } from 'bullmq';
import { z } from 'zod';

import { InvalidPayloadError, UnknownJobError, type FieldProblem } from './errors.js';
import type { QueueKind } from './queues.js';
import { recipientSchema } from './recipient.js';

/** Longest text WhatsApp accepts in one message (characters). */
export const MAX_TEXT_LENGTH = 65_536;

export const sendPayloadSchema = z.object({
  /** Recipient: E.164 phone number, WhatsApp user id or group id; normalised to the WhatsApp id. */
  to: recipientSchema,
  /** Message text (WhatsApp formatting such as *bold* is passed through). */
  text: z
    .string({ error: 'must be a string' })
    .min(1, { error: 'must not be empty' })
    .max(MAX_TEXT_LENGTH, { error: `must be at most ${MAX_TEXT_LENGTH} characters` }),
  /** When the message was accepted (set by the producer; ISO 8601). */
  acceptedAt: z.iso.datetime().optional(),
});

const controlPayloadSchema = z.object({
  /** Free-form note of who asked (shown in logs and Bull Board), e.g. `api`, `status-page`. */
  requestedBy: z.string().max(100).optional(),
});

export interface JobOptionsConfig {
  /** SEND_MAX_ATTEMPTS */
  readonly sendMaxAttempts: number;
  /** MESSAGE_RETENTION_S */
  readonly retentionSeconds: number;
}

interface CatalogEntry<S extends z.ZodType> {
  readonly queue: QueueKind;
  readonly schema: S;
  readonly options: (config: JobOptionsConfig) => JobsOptions;
}

const controlOptions = (name: string) => (config: JobOptionsConfig): JobsOptions => ({
  attempts: 1,
  // A burst of identical control requests collapses into the one still waiting.
  deduplication: { id: name },
  removeOnComplete: { age: config.retentionSeconds, count: 1_000 },
  removeOnFail: { age: config.retentionSeconds, count: 1_000 },
});

export const jobCatalog = {
  connect: { queue: 'control', schema: controlPayloadSchema, options: controlOptions('connect') },
  logout: { queue: 'control', schema: controlPayloadSchema, options: controlOptions('logout') },
  restart: { queue: 'control', schema: controlPayloadSchema, options: controlOptions('restart') },
  send: {
    queue: 'outbox',
    schema: sendPayloadSchema,
    options: (config) => ({
      attempts: config.sendMaxAttempts,
      backoff: { type: 'exponential', delay: 2_000, jitter: 0.5 },
      // Completed jobs are the idempotency record: while one exists, its id cannot be enqueued again.
      removeOnComplete: { age: config.retentionSeconds },
      removeOnFail: { age: config.retentionSeconds * 7 },
    }),
  },
} as const satisfies Record<string, CatalogEntry<z.ZodType>>;

export type JobCatalog = typeof jobCatalog;
export type JobName = keyof JobCatalog;
/** What a handler receives: the payload after validation and normalisation. */
export type JobPayload<K extends JobName> = z.output<JobCatalog[K]['schema']>;
/** What a producer may pass. */
export type JobInput<K extends JobName> = z.input<JobCatalog[K]['schema']>;
export type JobNameOf<Q extends QueueKind> = { [K in JobName]: JobCatalog[K]['queue'] extends Q ? K : never }[JobName];

export const JOB_NAMES = Object.keys(jobCatalog) as JobName[];

export function isJobName(name: string): name is JobName {
  return Object.hasOwn(jobCatalog, name);
}

/** A handler for every job in the catalog; a job added without a handler fails to compile. */
export type JobHandlers<Context, Result = unknown> = {
  readonly [K in JobName]: (payload: JobPayload<K>, context: Context) => Promise<Result>;
};

/** zod issues → field problems with dotted paths (`to`, `options.linkPreview`). */
export function toFieldProblems(error: z.ZodError, basePath: readonly (string | number)[] = []): FieldProblem[] {
  return error.issues.map((issue) => ({
    path: [...basePath, ...issue.path.map(String)].join('.'),
    message: issue.message,
  }));
}

/** Validates and normalises a payload for `name`; throws `InvalidPayloadError` naming the fields. */
export function parseJobPayload<K extends JobName>(name: K, data: unknown): JobPayload<K> {
  const result = jobCatalog[name].schema.safeParse(data);
  if (!result.success) throw new InvalidPayloadError(toFieldProblems(result.error), `${name} job payload`);
  return result.data as JobPayload<K>;
}

export type ParsedJob = { [K in JobName]: { readonly name: K; readonly payload: JobPayload<K> } }[JobName];

/**
 * Dequeue-side validation of a job from `queue`: the name must be in the catalog and belong to that
 * queue, and the payload must match. Throws `UnknownJobError` or `InvalidPayloadError` (both
 * unrecoverable) otherwise.
 */
export function parseQueuedJob(queue: QueueKind, name: string, data: unknown): ParsedJob {
  const expected = JOB_NAMES.filter((n) => jobCatalog[n].queue === queue);
  if (!isJobName(name) || jobCatalog[name].queue !== queue) throw new UnknownJobError(name, expected);
  return { name, payload: parseJobPayload(name, data) } as ParsedJob;
}

/** Idempotency keys double as BullMQ job ids, which cannot contain ":" nor be integers. */
export const idempotencyKeySchema = z
  .string({ error: 'must be a string' })
  .regex(/^[A-Za-z0-9._~-]{1,128}$/, { error: 'must be 1-128 characters of A-Z, a-z, 0-9, ".", "_", "~" or "-"' })
  .refine((key) => !/^\d+$/.test(key), { error: 'must not be only digits (add a letter or a prefix, e.g. "order-123")' });
