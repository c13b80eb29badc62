/**
 * The API's request and response schemas. Requests are validated with them; `/openapi.json` is
 * generated from the same objects, so the documentation cannot drift from what is enforced.
 */
import {
  ackNameSchema,
  idempotencyKeySchema,
  MESSAGE_STATUSES,
  sendPayloadSchema,
  SESSION_STATUSES,
  sessionEventSchema,
  sessionStateSchema,
  sessionStatusSchema,
  type MessageView,
  type ReportedSessionState,
} from '@waq/shared';
import { z } from 'zod';

export const sendMessageBodySchema = z
  .object({
    to: sendPayloadSchema.shape.to.meta({ description: 'E.164 number with a leading + (spaces, dashes, dots, parentheses allowed), a WhatsApp id (`…@c.us`) or a group id (`…@g.us`).', examples: ['+49 151 23456789'] }),
    text: sendPayloadSchema.shape.text.meta({ description: 'Message text; WhatsApp formatting such as *bold* is passed through.', examples: ['Your code is 1234'] }),
    idempotencyKey: idempotencyKeySchema
      .optional()
      .meta({ description: 'Makes the send happen at most once; becomes the message id. Same as the `Idempotency-Key` header (give one or both, equal).', examples: ['order-123-confirmation'] }),
  })
  .meta({ description: 'Unknown fields are ignored.' });

export const acceptedSchema = z
  .object({
    id: z.string().meta({ description: 'Message id (= idempotency key; generated when none was given).' }),
    status: z.enum(MESSAGE_STATUSES).meta({ description: '`queued`, or `held` while the session is not READY: it goes out, in order, once it is.' }),
    duplicate: z.boolean().meta({ description: 'True when this key had already been accepted: nothing new was enqueued.' }),
  });

export const messageViewSchema = z
  .object({
    id: z.string(),
    status: z.enum(MESSAGE_STATUSES).meta({
      description: 'queued (waiting its turn, session READY), held (session not READY), delayed (a raw job added with a BullMQ delay; a failing send is retried in place and reads sending), sending, sent, failed.',
    }),
    to: z.string().meta({ description: 'Normalised WhatsApp id of the recipient.' }),
    attempts: z.number().int().meta({ description: 'Send attempts so far (time held does not count).' }),
    maxAttempts: z.number().int(),
    acceptedAt: z.iso.datetime(),
    waMessageId: z.string().optional().meta({ description: 'WhatsApp message id, once sent.' }),
    sentAt: z.iso.datetime().optional(),
    ack: ackNameSchema.optional().meta({ description: 'Delivery level reported by WhatsApp.' }),
    error: z.object({ code: z.string(), message: z.string() }).optional().meta({ description: 'Why the message failed.' }),
  });

export const reportedStateSchema = sessionStateSchema
  .extend({
    status: z.enum([...SESSION_STATUSES, 'WORKER_OFFLINE']).meta({
      description: 'WORKER_OFFLINE: no live worker holds the session lease (none does, or its Redis connection is gone), whatever it last published. Only READY sends.',
    }),
    lastPublishedStatus: sessionStatusSchema.optional().meta({ description: 'What the gone worker last published, when WORKER_OFFLINE.' }),
  });

export const connectResponseSchema = z
  .object({
    job: z.object({ id: z.string() }).meta({ description: 'The control job that asks the worker to connect.' }),
    state: reportedStateSchema,
    waited: z.boolean().meta({ description: 'Whether the request waited for a QR code or READY.' }),
  });

export const jobResponseSchema = z.object({ job: z.object({ id: z.string() }) });

export const qrJsonSchema = z
  .object({ value: z.string().meta({ description: 'The string encoded in the QR code.' }), expiresAt: z.iso.datetime() });

export const QR_FORMATS = ['png', 'svg', 'text', 'json'] as const;
export const qrQuerySchema = z.object({
  format: z.enum(QR_FORMATS, { error: `must be one of ${QR_FORMATS.join(', ')}` }).default('png'),
});

export const connectQuerySchema = z.object({
  wait: z
    .enum(['true', 'false', '1', '0'], { error: 'must be true or false' })
    .optional()
    .transform((value) => value === 'true' || value === '1'),
});

export const eventsQuerySchema = z.object({
  // Digits only: `z.coerce.number()` would take " " (and "", "0x10", "1e2") as a number (the fuzz
  // scenario found `backlog=%20` opening a stream instead of a 422).
  backlog: z
    .string()
    .regex(/^\d{1,3}$/, { error: 'must be a whole number from 0 to 100' })
    .transform(Number)
    .pipe(z.number().max(100, { error: 'must be a whole number from 0 to 100' }))
    .default(0)
    .meta({ description: 'Replay this many of the most recent events first, 0 to 100 (ignored when resuming with Last-Event-ID).' }),
});

export const sandboxScanResponseSchema = z.object({ scanned: z.literal(true), simulator: z.unknown() });

export const errorBodySchema = z
  .object({
    error: z.object({
      code: z.string().meta({ description: 'Stable machine-readable code.' }),
      message: z.string().meta({ description: 'What is wrong and what to do.' }),
      details: z.array(z.object({ path: z.string(), message: z.string() })).optional().meta({ description: 'The fields at fault.' }),
    }),
  });


/** The named schemas of `/openapi.json` (`#/components/schemas/<id>`), referenced wherever they appear. */
export const namedSchemas = z.registry<{ id: string }>();
namedSchemas.add(sendMessageBodySchema, { id: 'SendMessageRequest' });
namedSchemas.add(acceptedSchema, { id: 'Accepted' });
namedSchemas.add(messageViewSchema, { id: 'Message' });
namedSchemas.add(reportedStateSchema, { id: 'SessionState' });
namedSchemas.add(connectResponseSchema, { id: 'ConnectResponse' });
namedSchemas.add(jobResponseSchema, { id: 'JobAccepted' });
namedSchemas.add(qrJsonSchema, { id: 'QrCode' });
namedSchemas.add(sandboxScanResponseSchema, { id: 'SandboxScan' });
namedSchemas.add(errorBodySchema, { id: 'Error' });
namedSchemas.add(sessionEventSchema, { id: 'SessionEvent' });

// The documentation schemas must describe what the handlers really return.
type Assert<T extends true> = T;
export type MessageSchemaMatches = Assert<z.infer<typeof messageViewSchema> extends MessageView ? (MessageView extends z.infer<typeof messageViewSchema> ? true : false) : false>;
export type StateSchemaMatches = Assert<ReportedSessionState extends z.infer<typeof reportedStateSchema> ? true : false>;
