/**
 * The API's request and response schemas. Requests are validated with them; `/openapi.json` is
 * generated from the same objects, so the documentation cannot drift from what is enforced.
 */
import {
  ackNameSchema,
  deletionReportSchema,
  DESIRED_STATES,
  idempotencyKeySchema,
  LINK_METHODS,
  MAX_MESSAGE_TTL_S,
  MEDIA_ID_PATTERN,
  mediaRefSchema,
  numberCheckSchema,
  MESSAGE_STATUSES,
  SEND_PRIORITIES,
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
  type SessionSettings,
} from '@waq/shared';
import { z } from 'zod';

const declaredType = z.string().min(1).max(255).optional().meta({ description: 'The file\'s type, checked against its bytes (left out, it is read from them).' });
const fileName = z.string().min(1).max(255).optional().meta({ description: 'The name a document shows.' });

/** Where a send's file comes from. */
export const mediaSourceSchema = z
  .union([
    z.strictObject({
      url: z.url({ protocol: /^https?$/, error: 'must be an http or https URL' }).max(4_096).meta({ description: 'Fetched by waq, streamed, up to MEDIA_MAX_BYTES; private addresses are refused as for webhooks.' }),
      mimetype: declaredType,
      filename: fileName,
    }),
    z.strictObject({
      base64: z.base64({ error: 'must be base64 (without a data: prefix)' }).min(1).meta({ description: 'The file itself, for small files (the JSON body is limited to 512 KB).' }),
      mimetype: declaredType,
      filename: fileName,
    }),
    z.strictObject({
      mediaId: z.string().regex(MEDIA_ID_PATTERN, { error: 'must be a media id such as md_… (from POST …/media)' }).meta({ description: 'A file stored before with `POST /v1/sessions/:id/media` or the SDK\'s `uploadMedia`.' }),
      filename: fileName,
    }),
  ], { error: 'must be one of {"url": …}, {"base64": …} or {"mediaId": …}' })
  .meta({ description: 'The file to send: by URL, inline base64, or a stored file\'s id. To upload one, send the message as multipart/form-data with the file in a part named `file`.' });

/** A stored file as the API shows it: the shared reference jobs carry, described. */
export const mediaRefViewSchema = mediaRefSchema.extend({
  mimetype: mediaRefSchema.shape.mimetype.meta({ description: 'Read from the file\'s bytes.' }),
  sha256: mediaRefSchema.shape.sha256.meta({ description: 'Hex SHA-256 of the bytes.' }),
});

export const sendMessageBodySchema = z
  .object({
    to: sendPayloadSchema.shape.to.meta({ description: 'E.164 number with a leading + (spaces, dashes, dots, parentheses allowed), a WhatsApp id (`…@c.us`) or a group id (`…@g.us`).', examples: ['+49 151 23456789'] }),
    text: sendPayloadSchema.shape.text.meta({ description: 'Message text; WhatsApp formatting such as *bold* is passed through.', examples: ['Your code is 1234'] }),
    idempotencyKey: idempotencyKeySchema
      .optional()
      .meta({ description: 'Makes the send happen at most once; becomes the message id. Same as the `Idempotency-Key` header (give one or both, equal).', examples: ['order-123-confirmation'] }),
    media: mediaSourceSchema.optional(),
    asDocument: sendPayloadSchema.shape.asDocument.meta({ description: 'Send the file as a document (any file; an image or video keeps its quality and file name).' }),
    asVoice: sendPayloadSchema.shape.asVoice.meta({ description: 'Send the audio file as a voice note.' }),
    asSticker: sendPayloadSchema.shape.asSticker.meta({ description: 'Send the image as a sticker (WhatsApp Web makes the WebP).' }),
    expiresAt: sendPayloadSchema.shape.expiresAt.meta({
      description: 'Never sent after this moment: a message still held or queued then ends failed with code expired (and a message.failed event). Without it (and ttlSeconds), the session\'s messageTtlSeconds applies, if set.',
      examples: ['2026-12-07T12:05:00Z'],
    }),
    ttlSeconds: z
      .number({ error: 'must be a number of seconds' })
      .int({ error: 'must be a whole number of seconds' })
      .min(1)
      .max(MAX_MESSAGE_TTL_S)
      .optional()
      .meta({ description: 'Instead of expiresAt: never sent later than this many seconds after acceptance (a one-time code: its validity).', examples: [300] }),
    sendAt: sendPayloadSchema.shape.sendAt.meta({ description: 'A scheduled send: not before this moment (at most 7 × MESSAGE_RETENTION_S ahead). Listed as scheduled, cancellable until it is being sent.', examples: ['2026-12-08T09:00:00+01:00'] }),
    priority: sendPayloadSchema.shape.priority.meta({ description: 'high goes before every normal and low message of the session (a one-time code ahead of a campaign); within one priority, the order of acceptance. Default normal.' }),
    typing: sendPayloadSchema.shape.typing.meta({ description: 'Show "typing…" in the chat first, for a time that grows with the text\'s length.' }),
  })
  .meta({ description: 'A text, or a file (`media`) with `text` as its caption. Unknown fields are ignored.' });

/** The file part of a multipart body, as OpenAPI describes one. */
const filePart = z.string().meta({ format: 'binary', description: 'The file: streamed into the media store, its type read from its bytes.' });

/** `POST …/messages` as multipart/form-data (documentation: the handler reads the parts itself). */
export const sendMessageFormSchema = z
  .object({
    to: z.string(),
    text: z.string().optional().meta({ description: 'The caption.' }),
    idempotencyKey: z.string().optional(),
    asDocument: z.enum(['true', 'false']).optional(),
    asVoice: z.enum(['true', 'false']).optional(),
    asSticker: z.enum(['true', 'false']).optional(),
    expiresAt: z.string().optional(),
    ttlSeconds: z.string().optional().meta({ description: 'A whole number of seconds.' }),
    sendAt: z.string().optional(),
    priority: z.enum(SEND_PRIORITIES).optional(),
    typing: z.enum(['true', 'false']).optional(),
    file: filePart,
  })
  .meta({ description: 'A file upload with the message\'s fields as form fields (put them before the file part).' });

export const mediaUploadFormSchema = z.object({ file: filePart }).meta({ description: 'A file to store for later sends.' });

export const acceptedSchema = z
  .object({
    id: z.string().meta({ description: 'Message id (= idempotency key; generated when none was given).' }),
    status: z.enum(MESSAGE_STATUSES).meta({ description: '`queued`, `held` while the session is not READY (it goes out, in order, once it is), or `scheduled`. A repeat of a key: the message as it stands.' }),
    duplicate: z.boolean().meta({ description: 'True when this key had already been accepted: nothing new was enqueued.' }),
    expiresAt: z.iso.datetime().optional().meta({ description: 'When it expires, if it does.' }),
  });

export const messageViewSchema = z
  .object({
    id: z.string(),
    status: z.enum(MESSAGE_STATUSES).meta({
      description:
        'queued (waiting its turn, session READY), held (session not READY), scheduled (not due yet: sendAt, or a raw job added with a BullMQ delay; a failing send is retried in place and reads sending), waiting (for a budget of the session: see waiting), sending, sent, failed (see error; code expired: still waiting at its expiresAt), cancelled.',
    }),
    to: z.string().meta({ description: 'Normalised WhatsApp id of the recipient.' }),
    attempts: z.number().int().meta({ description: 'Send attempts so far, the one under way included (time held does not count).' }),
    maxAttempts: z.number().int(),
    acceptedAt: z.iso.datetime(),
    priority: z.enum(SEND_PRIORITIES).meta({ description: 'Its place in the session\'s queue: high goes before normal and low.' }),
    sendAt: z.iso.datetime().optional().meta({ description: 'A scheduled send: not before then.' }),
    expiresAt: z.iso.datetime().optional().meta({ description: 'Never sent after then (its own expiresAt or ttlSeconds, or the session\'s messageTtlSeconds).' }),
    waiting: z
      .object({ reason: z.enum(['daily_cap', 'new_chat_budget']), until: z.iso.datetime() })
      .optional()
      .meta({ description: 'Status waiting: the session\'s daily cap is reached, or its budget of new chats is spent (this is a first message to a recipient), until then at the earliest. Sends wait for a budget; they never fail for it.' }),
    waMessageId: z.string().optional().meta({ description: 'WhatsApp message id, once sent.' }),
    sentAt: z.iso.datetime().optional(),
    ack: ackNameSchema.optional().meta({ description: 'Delivery level reported by WhatsApp.' }),
    error: z.object({ code: z.string(), message: z.string() }).optional().meta({ description: 'Why the message failed (expired, …) or that it was cancelled.' }),
  });

export const numberCheckViewSchema = numberCheckSchema
  .extend({
    number: numberCheckSchema.shape.number.meta({ description: 'The number asked about, E.164.' }),
    onWhatsApp: numberCheckSchema.shape.onWhatsApp.meta({ description: 'Whether it has a WhatsApp account.' }),
    wid: numberCheckSchema.shape.wid.meta({ description: 'Its WhatsApp id (send to it as `to`); it may differ from `<digits>@c.us`.' }),
    checkedAt: numberCheckSchema.shape.checkedAt.meta({ description: 'When WhatsApp answered.' }),
    cached: z.boolean().meta({ description: 'True when the answer was kept from an earlier check (NUMBER_CHECK_TTL_S, NUMBER_CHECK_NEGATIVE_TTL_S).' }),
  })
  .meta({ description: 'Whether a number is on WhatsApp. Sends to a number answered "no" are refused at once while the answer is kept.' });

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
    pairingCode: z.string().optional().meta({ description: 'The code to enter on the phone (method code), as in `state.pairingCode`.', examples: ['K7QX2M9P'] }),
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
  wait: queryFlag('Wait up to QR_WAIT_MS for a QR code (with method code: a pairing code) or READY (default false; with method code, true).'),
});

/** `POST …/connect`'s optional body: link by a pairing code instead of a QR code. */
export const connectBodySchema = z
  .strictObject({
    method: z.enum(LINK_METHODS).optional().meta({ description: '`qr` (default): a QR code to scan; `code`: an 8-character code to enter on the phone of `phoneNumber` (Linked devices → Link a device → Link with phone number instead).' }),
    phoneNumber: z.string().min(1).max(40).optional().meta({ description: 'With method code: the number of the phone that links, E.164 (`+4915123456789`).', examples: ['+49 151 23456789'] }),
  })
  .superRefine((body, context) => {
    if (body.method === 'code' && body.phoneNumber === undefined) context.addIssue({ code: 'custom', path: ['phoneNumber'], message: 'is required with method "code": the number of the phone that enters the code' });
    if (body.method !== 'code' && body.phoneNumber !== undefined) context.addIssue({ code: 'custom', path: ['phoneNumber'], message: 'goes with method "code" only' });
  })
  .meta({ description: 'How to link a phone; leave the body out for a QR code.' });

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

const SETTING_DESCRIPTIONS: { readonly [K in keyof SessionSettings]-?: string } = {
  sendIntervalMs: 'Pause between two sends, ms (SEND_INTERVAL_MS).',
  sendJitterMs: 'Random extra pause of up to this many ms (SEND_JITTER_MS).',
  messageTtlSeconds: 'A send without expiresAt or ttlSeconds expires this many seconds after acceptance (no default: never).',
  dailyCap: 'Most messages in any 24 hours, 0 for no cap (SEND_DAILY_CAP).',
  newChatsPerDay: 'Most recipients written to for the first time in any 24 hours, 0 for no budget (SEND_NEW_CHATS_PER_DAY).',
  warmupAfterSeconds: 'Away (not READY) this long, or newly linked: the next sends warm up (SEND_WARMUP_AFTER_S).',
  warmupMessages: 'Sends a warm-up lasts, 0 for none (SEND_WARMUP_MESSAGES).',
  warmupIntervalMs: 'The pause before the first send of a warm-up, ms (SEND_WARMUP_INTERVAL_MS).',
  typing: 'Show "typing…" before each send that does not say (SEND_TYPING).',
};

export const sessionSettingsBodySchema = z
  .strictObject(Object.fromEntries(Object.entries(sessionSettingsSchema.shape).map(([name, schema]) => [name, schema.meta({ description: SETTING_DESCRIPTIONS[name as keyof SessionSettings] })])) as typeof sessionSettingsSchema.shape)
  .meta({ description: 'Per-session settings; an unset one takes the worker\'s configured value (the variable named).' });

export const createSessionBodySchema = z.strictObject({
  id: sessionIdSchema.meta({ description: 'The session id: 1-64 lowercase letters, digits, `-` and `_`. It names the session in URLs, Redis keys and the profile directory.', examples: ['sales'] }),
  desired: z.enum(DESIRED_STATES).optional().meta({ description: 'Whether a worker should run it (default `running`).' }),
  settings: sessionSettingsBodySchema.optional(),
});

/** A settings patch: a value sets it, `null` removes it. */
const settingsPatchShape = Object.fromEntries(
  Object.entries(sessionSettingsSchema.shape).map(([name, schema]) => [name, schema.unwrap().nullable().optional().meta({ description: SETTING_DESCRIPTIONS[name as keyof SessionSettings] })]),
) as { [K in keyof typeof sessionSettingsSchema.shape]: z.ZodOptional<z.ZodNullable<ReturnType<(typeof sessionSettingsSchema.shape)[K]['unwrap']>>> };

export const patchSessionBodySchema = z.strictObject({
  settings: z.strictObject(settingsPatchShape).meta({ description: 'Settings to change; `null` removes one (back to the worker\'s configured value).' }),
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
  pacing: z
    .object({
      intervalMs: z.number().int(),
      jitterMs: z.number().int(),
      dailyCap: z.number().int().meta({ description: '0: no cap.' }),
      newChatsPerDay: z.number().int().meta({ description: '0: no budget.' }),
      warmupAfterMs: z.number().int(),
      warmupMessages: z.number().int(),
      warmupIntervalMs: z.number().int(),
      typing: z.boolean(),
      sentLast24h: z.number().int().meta({ description: 'Sends in the last 24 hours (counted while a daily cap is set).' }),
      newChatsLast24h: z.number().int().meta({ description: 'Recipients written to for the first time in the last 24 hours.' }),
      dailyCapUntil: z.iso.datetime().nullable().meta({ description: 'The daily cap is reached: sends wait until then.' }),
      warmupLeft: z.number().int().meta({ description: 'Sends still to go at the warm-up rate.' }),
    })
    .meta({ description: 'How the session sends: its settings over the configuration (SEND_*), and how much of its budgets it used.' }),
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

export const sandboxScanResponseSchema = z.object({
  scanned: z.boolean().meta({ description: 'The QR code was scanned (false when a pairing code was entered instead).' }),
  codeEntered: z.boolean().meta({ description: 'The pairing code on screen was entered on the simulated phone.' }),
  simulator: z.unknown(),
});

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
namedSchemas.add(numberCheckViewSchema, { id: 'NumberCheck' });
namedSchemas.add(connectBodySchema, { id: 'ConnectRequest' });
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
namedSchemas.add(mediaSourceSchema, { id: 'MediaSource' });
namedSchemas.add(mediaRefViewSchema, { id: 'StoredMedia' });
namedSchemas.add(sendMessageFormSchema, { id: 'SendMessageForm' });
namedSchemas.add(mediaUploadFormSchema, { id: 'MediaUploadForm' });

// The documentation schemas must describe what the handlers really return.
type Assert<T extends true> = T;
export type MessageSchemaMatches = Assert<z.infer<typeof messageViewSchema> extends MessageView ? (MessageView extends z.infer<typeof messageViewSchema> ? true : false) : false>;
export type StateSchemaMatches = Assert<ReportedSessionState extends z.infer<typeof reportedStateSchema> ? true : false>;
