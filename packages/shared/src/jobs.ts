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
 * the data again at dequeue; an invalid job fails at once with the reason. A file goes as `media`, a
 * reference to a file already in the media store (`{ mediaId, mimetype, size, sha256, filename? }`),
 * with `text` as its caption and `asDocument` / `asVoice` / `asSticker` where WhatsApp tells them apart.
 * Optional: `expiresAt` (never sent after it), `sendAt` (with the BullMQ option `delay` to match),
 * `priority` (`high` / `normal` / `low`, with the BullMQ option `priority` 1 / 2 / 3: a job added
 * without one is taken before all of them) and `typing`.
 */
import type { JobsOptions } from 'bullmq';
import { z } from 'zod';

import { InvalidPayloadError, UnknownJobError, type FieldProblem } from './errors.js';
import type { QueueKind } from './queues.js';
import { MEDIA_ID_PATTERN } from './media-store.js';
import { PHONE_DIGITS } from './recipient.js';
import { recipientSchema } from './recipient.js';

/** Longest text WhatsApp accepts in one message (characters). */
export const MAX_TEXT_LENGTH = 65_536;

/** A file a send carries: a reference to the media store (media-store.ts), never the bytes. */
export const mediaRefSchema = z.object({
  /** The stored file's id (`POST /v1/sessions/:id/media`, or the SDK's `uploadMedia`). */
  mediaId: z.string().regex(MEDIA_ID_PATTERN, { error: 'must be a media id such as md_… (from an upload)' }),
  /** As stored: read from the file's bytes. */
  mimetype: z.string().min(1).max(255),
  size: z.number().int().positive(),
  /** Hex SHA-256 of the bytes: part of the send's fingerprint, and how a crashed attempt's copy is recognised. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/, { error: 'must be the hex SHA-256 of the file' }),
  /** The name a document shows. */
  filename: z.string().min(1).max(255).optional(),
});
export type MediaRef = z.infer<typeof mediaRefSchema>;

const flag = z.boolean({ error: 'must be true or false' }).optional();

/**
 * A send's priority, and the BullMQ priority it is queued with (lower goes first; within one priority,
 * the order of acceptance). A job added without a BullMQ priority (a raw job) is taken before all of them.
 */
export const SEND_PRIORITIES = ['high', 'normal', 'low'] as const;
export type SendPriority = (typeof SEND_PRIORITIES)[number];
export const BULL_PRIORITY: Readonly<Record<SendPriority, number>> = { high: 1, normal: 2, low: 3 };

export const sendPayloadSchema = z
  .object({
    /** Recipient: E.164 phone number, WhatsApp user id or group id; normalised to the WhatsApp id. */
    to: recipientSchema,
    /** Message text (WhatsApp formatting such as *bold* is passed through); with a file, its caption. */
    text: z
      .string({ error: 'must be a string' })
      .min(1, { error: 'must not be empty' })
      .max(MAX_TEXT_LENGTH, { error: `must be at most ${MAX_TEXT_LENGTH} characters` })
      .optional(),
    /** A file to send (with `text` as its caption). */
    media: mediaRefSchema.optional(),
    /** Send the file as a document (any file; an image or video then keeps its quality and name). */
    asDocument: flag,
    /** Send the audio file as a voice note (push-to-talk). */
    asVoice: flag,
    /** Send the image as a sticker. */
    asSticker: flag,
    /** When the message was accepted (set by the producer; ISO 8601). */
    acceptedAt: z.iso.datetime().optional(),
    /**
     * Never sent after this moment (ISO 8601): a message still held or queued then ends `failed` with
     * code `expired`. The SDK and the API also take `ttlSeconds`, from acceptance.
     */
    expiresAt: z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time such as 2026-12-07T12:00:00Z' }).optional(),
    /** Not sent before this moment (ISO 8601): a scheduled send (a BullMQ delayed job until then). */
    sendAt: z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time such as 2026-12-07T12:00:00Z or 2026-12-07T13:00:00+01:00' }).optional(),
    /** Where the message stands in the session's queue: `high` goes before every `normal` and `low` one. */
    priority: z.enum(SEND_PRIORITIES, { error: `must be one of ${SEND_PRIORITIES.join(', ')}` }).optional(),
    /** Show "typing…" in the chat before the message, for a time that grows with the text's length. */
    typing: flag,
  })
  .superRefine((payload, context) => {
    const problem = (path: string, message: string): void => context.addIssue({ code: 'custom', path: [path], message });
    if (payload.text === undefined && payload.media === undefined) problem('text', 'is required (or media, a file to send)');
    const modes = (['asDocument', 'asVoice', 'asSticker'] as const).filter((mode) => payload[mode] === true);
    if (modes.length > 0 && payload.media === undefined) problem(modes[0]!, 'needs media: it says how to send a file');
    if (modes.length > 1) problem(modes[1]!, `only one of asDocument, asVoice, asSticker may be true (got ${modes.join(' and ')})`);
    const family = payload.media?.mimetype.split('/')[0];
    if (payload.asVoice === true && payload.media !== undefined && family !== 'audio') problem('asVoice', `needs an audio file, and this one is ${payload.media.mimetype}`);
    if (payload.asSticker === true && payload.media !== undefined && family !== 'image') problem('asSticker', `needs an image, and this one is ${payload.media.mimetype}`);
    if ((payload.asVoice === true || payload.asSticker === true) && payload.text !== undefined) {
      problem('text', `a ${payload.asVoice === true ? 'voice note' : 'sticker'} has no caption: send the text in a message of its own`);
    }
    if (payload.sendAt !== undefined && payload.expiresAt !== undefined && Date.parse(payload.expiresAt) <= Date.parse(payload.sendAt)) {
      problem('expiresAt', `is not after sendAt (${payload.sendAt}): the message would expire before it may be sent`);
    }
  });

/** How a media send is shown, as the fingerprint and the driver take it. */
export function mediaMode(payload: Pick<z.infer<typeof sendPayloadSchema>, 'asDocument' | 'asVoice' | 'asSticker'>): 'document' | 'voice' | 'sticker' | 'auto' {
  return payload.asDocument === true ? 'document' : payload.asVoice === true ? 'voice' : payload.asSticker === true ? 'sticker' : 'auto';
}

const controlPayloadSchema = z.object({
  /** Free-form note of who asked (shown in logs and Bull Board), e.g. `api`, `status-page`. */
  requestedBy: z.string().max(100).optional(),
});

/** How a device is linked: a QR code to scan (default), or a code to enter on the phone of `phoneNumber`. */
export const LINK_METHODS = ['qr', 'code'] as const;

/** A phone number as jobs carry it: digits with the country code, no `+`. */
const phoneDigitsSchema = z.string().regex(PHONE_DIGITS, { error: 'must be the digits of an international number, country code first, without +' });

const connectPayloadSchema = controlPayloadSchema
  .extend({
    method: z.enum(LINK_METHODS, { error: 'must be qr or code' }).optional(),
    /** With `method: "code"`: the number of the phone that links, digits with the country code, no `+`. */
    phoneNumber: phoneDigitsSchema.optional(),
  })
  .superRefine((payload, context) => {
    if (payload.method === 'code' && payload.phoneNumber === undefined) context.addIssue({ code: 'custom', path: ['phoneNumber'], message: 'is required to link with a code: the number of the phone that will enter it' });
    if (payload.method !== 'code' && payload.phoneNumber !== undefined) context.addIssue({ code: 'custom', path: ['phoneNumber'], message: 'goes with method "code" only' });
  });

const checkPayloadSchema = z.object({
  /** The number to look up: digits with the country code, no `+`. */
  number: phoneDigitsSchema,
  requestedBy: z.string().max(100).optional(),
});

export interface JobOptionsConfig {
  /** SEND_MAX_ATTEMPTS */
  readonly sendMaxAttempts: number;
  /** MESSAGE_RETENTION_S */
  readonly retentionSeconds: number;
}

interface CatalogEntry<Q extends QueueKind, S extends z.ZodType> {
  readonly queue: Q;
  readonly schema: S;
  /** The job's BullMQ options; `now` is when it is added (a scheduled send's delay counts from it). */
  readonly options: (config: JobOptionsConfig, payload: z.output<S>, now: number) => JobsOptions;
}

/** A catalog entry, its options typed by its own payload. */
const entry = <Q extends QueueKind, S extends z.ZodType>(value: CatalogEntry<Q, S>): CatalogEntry<Q, S> => value;

const controlOptions = (name: string) => (config: JobOptionsConfig): JobsOptions => ({
  attempts: 1,
  // A burst of identical control requests collapses into the one still waiting.
  deduplication: { id: name },
  removeOnComplete: { age: config.retentionSeconds, count: 1_000 },
  removeOnFail: { age: config.retentionSeconds, count: 1_000 },
});

export const jobCatalog = {
  connect: entry({
    queue: 'control',
    schema: connectPayloadSchema,
    // A request for a code is not collapsed into a plain connect waiting (nor into one for another number).
    options: (config, payload) => controlOptions(payload.method === 'code' ? `connect:code:${payload.phoneNumber ?? ''}` : 'connect')(config),
  }),
  logout: entry({ queue: 'control', schema: controlPayloadSchema, options: controlOptions('logout') }),
  restart: entry({ queue: 'control', schema: controlPayloadSchema, options: controlOptions('restart') }),
  /** Asks WhatsApp whether a number has an account; the worker keeps the answer (number-check.ts). */
  check: entry({
    queue: 'control',
    schema: checkPayloadSchema,
    options: (config, payload) => ({ ...controlOptions(`check:${payload.number}`)(config), removeOnComplete: { age: 3_600, count: 1_000 }, removeOnFail: { age: 3_600, count: 1_000 } }),
  }),
  send: entry({
    queue: 'outbox',
    schema: sendPayloadSchema,
    options: (config, payload, now) => ({
      priority: BULL_PRIORITY[payload.priority ?? 'normal'],
      ...(payload.sendAt === undefined ? {} : { delay: Math.max(0, Date.parse(payload.sendAt) - now) }),
      attempts: config.sendMaxAttempts,
      backoff: { type: 'exponential', delay: 2_000, jitter: 0.5 },
      // Completed jobs are the idempotency record: while one exists, its id cannot be enqueued again.
      removeOnComplete: { age: config.retentionSeconds },
      removeOnFail: { age: config.retentionSeconds * 7 },
    }),
  }),
} as const;

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
