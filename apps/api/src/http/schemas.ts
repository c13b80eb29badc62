/**
 * The API's request and response schemas. Requests are validated with them; `/openapi.json` is
 * generated from the same objects, so the documentation cannot drift from what is enforced.
 */
import {
  ackNameSchema,
  deletionReportSchema,
  DESIRED_STATES,
  idempotencyKeySchema,
  MESSAGE_STATUSES,
  sendPayloadSchema,
  SESSION_STATUSES,
  sessionEventSchema,
  sessionIdSchema,
  sessionSettingsSchema,
  sessionStateSchema,
  sessionStatusSchema,
  createWebhookInputSchema,
  deadLetterSchema,
  updateWebhookInputSchema,
  webhookSubscriptionSchema,
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

/** Booleans in a query string. */
const queryFlag = (description: string) =>
  z
    .enum(['true', 'false', '1', '0'], { error: 'must be true or false' })
    .optional()
    .transform((value) => value === undefined ? undefined : value === 'true' || value === '1')
    .meta({ description });

export const connectQuerySchema = z.object({
  wait: queryFlag('Wait up to QR_WAIT_MS for a QR code or READY (default false).'),
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

export const messagesQuerySchema = z.object({
  status: z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value === '') return undefined;
      const statuses = value.split(',').map((part) => part.trim());
      const unknown = statuses.filter((status) => !(MESSAGE_STATUSES as readonly string[]).includes(status));
      if (unknown.length > 0) {
        ctx.addIssue({ code: 'custom', message: `unknown status ${JSON.stringify(unknown[0])}: give one or more of ${MESSAGE_STATUSES.join(', ')}, comma-separated` });
        return z.NEVER;
      }
      return statuses as (typeof MESSAGE_STATUSES)[number][];
    })
    .meta({ description: `Only messages in these statuses, comma-separated (${MESSAGE_STATUSES.join(', ')}).`, examples: ['held,failed'] }),
  limit: z
    .string()
    .regex(/^\d{1,3}$/, { error: 'must be a whole number from 1 to 200' })
    .transform(Number)
    .pipe(z.number().min(1, { error: 'must be a whole number from 1 to 200' }).max(200, { error: 'must be a whole number from 1 to 200' }))
    .default(50)
    .meta({ description: 'Most messages in the page, 1 to 200.' }),
  cursor: z.string().max(512, { error: 'is not a cursor of this list: pass the nextCursor of the previous page' }).optional().meta({ description: 'The `nextCursor` of the previous page.' }),
  order: z.enum(['desc', 'asc'], { error: 'must be desc (newest first) or asc' }).default('desc').meta({ description: 'By acceptance time: newest first (desc) or oldest first (asc).' }),
});

export const messagePageSchema = z.object({
  messages: z.array(messageViewSchema),
  nextCursor: z.string().optional().meta({ description: 'Pass as `cursor` for the next page; absent on the last page.' }),
});

export const sessionSettingsBodySchema = sessionSettingsSchema.meta({
  description: 'Per-session settings; an unset one takes the worker\'s configured value. sendIntervalMs/sendJitterMs: pacing between sends (SEND_INTERVAL_MS, SEND_JITTER_MS).',
});

export const createSessionBodySchema = z.strictObject({
  id: sessionIdSchema.meta({ description: 'The session id: 1-64 lowercase letters, digits, `-` and `_`. It names the session in URLs, Redis keys and the profile directory.', examples: ['sales'] }),
  desired: z.enum(DESIRED_STATES).optional().meta({ description: 'Whether a worker should run it (default `running`).' }),
  settings: sessionSettingsBodySchema.optional(),
});

/** A settings patch: a value sets it, `null` removes it. */
export const patchSessionBodySchema = z.strictObject({
  settings: z.strictObject({
    sendIntervalMs: sessionSettingsSchema.shape.sendIntervalMs.unwrap().nullable().optional(),
    sendJitterMs: sessionSettingsSchema.shape.sendJitterMs.unwrap().nullable().optional(),
  }).meta({ description: 'Settings to change; `null` removes one (back to the worker\'s configured value).' }),
});

export const sessionViewSchema = z.object({
  id: z.string(),
  desired: z.enum([...DESIRED_STATES, 'deleted']).meta({ description: 'What it should be doing: running (a worker owns it), stopped (no worker picks it up), deleted (being deleted).' }),
  settings: sessionSettingsSchema,
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
  state: reportedStateSchema.meta({ description: 'What its owner reports (WORKER_OFFLINE when no live worker holds it).' }),
  owner: z.string().nullable().meta({ description: 'The worker holding its lease, or null.' }),
  waitingSends: z.number().int().meta({ description: 'Sends accepted and not sent yet: held while the session is not READY, queued while it is.' }),
  backup: z
    .object({
      generation: z.number().int(),
      bytes: z.number().int().meta({ description: 'Compressed size as stored.' }),
      completedAt: z.iso.datetime(),
      ageSeconds: z.number().int(),
      stale: z.boolean().meta({ description: 'READY and older than SESSION_BACKUP_MAX_AGE_MS: a takeover now would restore an old profile (check the owner\'s log for failed backups).' }),
    })
    .nullable()
    .meta({ description: 'The newest good backup in the session store (SESSION_STORE=redis); null when there is none or the store is local.' }),
});

export const sessionListSchema = z.object({
  sessions: z.array(sessionViewSchema),
  unreadable: z.array(z.object({ id: z.string(), problem: z.string() })).meta({ description: 'Registry entries that do not parse (hand-edited, or written by a newer waq): never run.' }),
});

export const deleteSessionQuerySchema = z.object({
  wait: queryFlag('Wait (up to 30 s) for a worker to finish the deletion and answer its report (default true).'),
});

export const deletionAnswerSchema = z.object({
  deleted: z.boolean().meta({ description: 'True once a worker has removed everything; false while it is still in progress (202).' }),
  report: deletionReportSchema.nullable().meta({ description: 'Every send that was still waiting, reported failed with code `session_deleted`; null until the deletion is done.' }),
});

export const workerViewSchema = z.object({
  id: z.string(),
  host: z.string(),
  pid: z.number().int(),
  capacity: z.number().int().meta({ description: 'WORKER_MAX_SESSIONS of that worker.' }),
  sessions: z.array(z.string()).meta({ description: 'The sessions it runs.' }),
  startedAt: z.iso.datetime(),
  heartbeatAt: z.iso.datetime(),
  heartbeatEveryMs: z.number().int(),
  draining: z.boolean().meta({ description: 'It was asked to drain: it claims nothing and hands its sessions over one at a time.' }),
  alive: z.boolean().meta({ description: 'Its heartbeat is younger than three of its intervals.' }),
});

export const workerListSchema = z.object({ workers: z.array(workerViewSchema) });

export const webhookCreatedSchema = webhookSubscriptionSchema.extend({
  secret: z.string().meta({ description: 'The signing secret (`whsec_…`, Standard Webhooks): in this answer only. Keep it to verify the `webhook-signature` header.' }),
});
export const webhookViewSchema = webhookSubscriptionSchema.extend({
  deliveries: z
    .object({ waiting: z.number().int(), active: z.number().int(), deadLetters: z.number().int() })
    .meta({ description: 'Deliveries waiting and under way in its queue, and those given up (see …/failures).' }),
});
export const webhookListSchema = z.object({ webhooks: z.array(webhookViewSchema) });
export const webhookFailureListSchema = z.object({ failures: z.array(deadLetterSchema).meta({ description: 'Deliveries given up, oldest first, each with its envelope and last answer.' }) });
export const webhookRedriveSchema = z.object({ redriven: z.number().int().meta({ description: 'Dead letters put back into the queue, in their order.' }) });

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
namedSchemas.add(messagePageSchema, { id: 'MessagePage' });
namedSchemas.add(createSessionBodySchema, { id: 'CreateSessionRequest' });
namedSchemas.add(patchSessionBodySchema, { id: 'UpdateSessionRequest' });
namedSchemas.add(sessionSettingsBodySchema, { id: 'SessionSettings' });
namedSchemas.add(sessionViewSchema, { id: 'Session' });
namedSchemas.add(sessionListSchema, { id: 'SessionList' });
namedSchemas.add(deletionAnswerSchema, { id: 'SessionDeletion' });
namedSchemas.add(workerViewSchema, { id: 'Worker' });
namedSchemas.add(workerListSchema, { id: 'WorkerList' });
namedSchemas.add(createWebhookInputSchema, { id: 'CreateWebhookRequest' });
namedSchemas.add(updateWebhookInputSchema, { id: 'UpdateWebhookRequest' });
namedSchemas.add(webhookSubscriptionSchema, { id: 'Webhook' });
namedSchemas.add(webhookViewSchema, { id: 'WebhookWithDeliveries' });
namedSchemas.add(webhookCreatedSchema, { id: 'WebhookCreated' });
namedSchemas.add(webhookListSchema, { id: 'WebhookList' });
namedSchemas.add(webhookFailureListSchema, { id: 'WebhookFailureList' });
namedSchemas.add(webhookRedriveSchema, { id: 'WebhookRedrive' });

// The documentation schemas must describe what the handlers really return.
type Assert<T extends true> = T;
export type MessageSchemaMatches = Assert<z.infer<typeof messageViewSchema> extends MessageView ? (MessageView extends z.infer<typeof messageViewSchema> ? true : false) : false>;
export type StateSchemaMatches = Assert<ReportedSessionState extends z.infer<typeof reportedStateSchema> ? true : false>;
