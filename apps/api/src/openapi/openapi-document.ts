/**
 * `/openapi.json` (OpenAPI 3.1), generated from the zod schemas the handlers validate with
 * (`http/schemas.ts`) by zod 4's native `z.toJSONSchema()`. Operations are listed here; a test checks
 * that every route the app serves is documented and vice versa, and another that `redocly lint`
 * (config: /redocly.yaml) finds nothing in the document.
 */
import { z } from 'zod';

import {
  connectQuerySchema,
  deleteSessionQuerySchema,
  eventsQuerySchema,
  messagesQuerySchema,
  namedSchemas,
  qrQuerySchema,
} from '../http/schemas.js';

type JsonSchema = Record<string, unknown>;
const ref = (id: string): JsonSchema => ({ $ref: `#/components/schemas/${id}` });
const json = (schema: JsonSchema) => ({ 'application/json': { schema } });
const errorResponse = (description: string) => ({ description, content: json(ref('Error')) });

/** The groups operations are listed under, with what each holds. */
const TAGS = {
  Sessions: 'The sessions of the deployment (one WhatsApp number each): create, list, settings, start, stop, delete.',
  Messages: 'Sending text messages and files from a session and reading what became of them.',
  Media: 'Files for sends, stored in the session\'s media store (Redis, with a TTL), and reading them back.',
  Session: 'One WhatsApp session: linking a phone (QR code), logging out, restarting, live events.',
  'Default session': 'The routes of waq 0.1, kept as aliases of the per-session routes for the `SESSION_ID` session (`default` unless configured).',
  Webhooks: 'A session’s webhook subscriptions: where its events are posted, signed (Standard Webhooks).',
  Workers: 'The worker pool: which worker runs which sessions, and draining one.',
  Sandbox: 'Sandbox mode only (`WAQ_SANDBOX=1`): drives the offline WhatsApp Web simulator.',
  Operations: 'Liveness, readiness and Prometheus metrics, for orchestrators and monitoring.',
} as const;

export interface Operation {
  readonly method: 'get' | 'post' | 'patch' | 'delete';
  readonly path: string;
  /**
   * camelCase, unique, and stable: client generators name their methods after it, so renaming one
   * breaks generated clients.
   */
  readonly operationId: string;
  readonly tag: keyof typeof TAGS;
  readonly summary: string;
  readonly description?: string;
  readonly query?: z.ZodObject;
  readonly pathParams?: Readonly<Record<string, string>>;
  readonly headers?: readonly { name: string; description: string; schema?: JsonSchema }[];
  readonly requestBody?: string;
  /** The body may be left out. */
  readonly optionalBody?: boolean;
  /** The body may also be `multipart/form-data` of this schema. */
  readonly multipartBody?: string;
  readonly responses: Readonly<Record<string, unknown>>;
  /** Public endpoints (no API key). */
  readonly public?: boolean;
}

const COMMON_ERRORS = {
  '401': errorResponse('No or wrong API key.'),
  '503': errorResponse('Redis is unreachable; retry after `Retry-After` seconds.'),
};

const NOT_FOUND_SESSION = 'No such session (`session_not_found`).';
const SESSION_PARAM = { session: 'The session id.' } as const;

/** An operation of one session: served at `/v1/sessions/{session}<path>` and, for SESSION_ID, at `alias.path`. */
interface SessionOperation extends Omit<Operation, 'path' | 'operationId' | 'tag'> {
  readonly tag: 'Messages' | 'Media' | 'Session' | 'Sandbox';
  readonly path: string;
  readonly operationId: string;
  readonly alias: { readonly path: string; readonly operationId: string };
}

const SESSION_OPERATIONS: readonly SessionOperation[] = [
  {
    method: 'post',
    path: '/messages',
    operationId: 'sendSessionMessage',
    alias: { path: '/v1/messages', operationId: 'sendMessage' },
    tag: 'Messages',
    summary: 'Send a text message or a file',
    description:
      'Accepts the message and queues it. Accepted whatever the session state: while it is not READY the message is `held` and goes out, in order, once it is. ' +
      'With `expiresAt` or `ttlSeconds` (or the session\'s `messageTtlSeconds`) it is never sent after that moment: still waiting then, it ends `failed` with code `expired`. ' +
      'With `sendAt` it is `scheduled` until then; `priority: high` goes before the session\'s normal and low messages. ' +
      'With an idempotency key (header or body) a repeat returns the same id and enqueues nothing; the same key with a different message is a 409. Keys are per session. ' +
      'A file comes as `media` (a URL waq fetches, inline base64, or a stored file\'s id) or as a multipart/form-data upload (part `file`); its type is read from its bytes, and the job carries only a reference to it (the file\'s sha256 is part of the idempotency fingerprint).',
    headers: [{ name: 'Idempotency-Key', description: 'Same as the body field `idempotencyKey`; becomes the message id.' }],
    requestBody: 'SendMessageRequest',
    multipartBody: 'SendMessageForm',
    responses: {
      '202': { description: 'Accepted (also for a repeat of the same key: `duplicate` is true).', content: json(ref('Accepted')), headers: { Location: { description: 'The message URL.', schema: { type: 'string' } } } },
      '400': errorResponse('The body is not valid JSON, a multipart body cannot be read (`invalid_multipart`), or a multipart upload was cut off (`upload_incomplete`).'),
      '404': errorResponse(NOT_FOUND_SESSION),
      '409': errorResponse('The idempotency key was already used for a different message.'),
      '413': errorResponse('The body is too large, or the file is over MEDIA_MAX_BYTES (`media_too_large`).'),
      '415': errorResponse('The body is neither `application/json` nor `multipart/form-data`.'),
      '422': errorResponse('A field is invalid; `details` names it. The recipient has no WhatsApp account (`recipient_not_on_whatsapp`, a kept number check). For files: `media_fetch_failed`, `media_url_refused`, `media_type_mismatch`, `media_not_found`.'),
      ...COMMON_ERRORS,
    },
  },
  {
    method: 'post',
    path: '/media',
    operationId: 'uploadSessionMedia',
    alias: { path: '/v1/media', operationId: 'uploadMedia' },
    tag: 'Media',
    summary: 'Store a file for sends',
    description: 'Stores a file (multipart part `file`, or `{"url": …}` / `{"base64": …}`) for `POST …/messages` with `media: {"mediaId": …}`. Kept for MEDIA_RETENTION_S.',
    requestBody: 'MediaSource',
    multipartBody: 'MediaUploadForm',
    responses: {
      '201': { description: 'Stored.', content: json(ref('StoredMedia')) },
      '400': errorResponse('The body is not valid JSON, a multipart body cannot be read (`invalid_multipart`), or the upload was cut off (`upload_incomplete`).'),
      '404': errorResponse(NOT_FOUND_SESSION),
      '413': errorResponse('The file is over MEDIA_MAX_BYTES (`media_too_large`).'),
      '415': errorResponse('The body is neither `application/json` nor `multipart/form-data`.'),
      '422': errorResponse('The file was refused (`media_fetch_failed`, `media_url_refused`, `media_type_mismatch`, `media_empty`); `details` names the input.'),
      ...COMMON_ERRORS,
    },
  },
  {
    method: 'get',
    path: '/media/{mediaId}',
    operationId: 'getSessionMedia',
    alias: { path: '/v1/media/{mediaId}', operationId: 'getMedia' },
    tag: 'Media',
    summary: 'Read a stored file',
    description: 'The file\'s bytes, streamed, with its type, `ETag` (its sha256) and one `Range` (bytes=a-b).',
    pathParams: { mediaId: 'The file id (`md_…`).' },
    responses: {
      '200': { description: 'The file.', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
      '206': { description: 'The range asked for.', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
      '404': errorResponse('No such file (never stored, or past MEDIA_RETENTION_S), or no such session.'),
      '416': { description: 'The range is outside the file.' },
      ...COMMON_ERRORS,
    },
  },
  {
    method: 'get',
    path: '/messages',
    operationId: 'listSessionMessages',
    alias: { path: '/v1/messages', operationId: 'listMessages' },
    tag: 'Messages',
    summary: 'List the session’s messages',
    description: 'By acceptance time, newest first unless `order=asc`, optionally only some statuses (what is held, what failed), a page at a time: pass `nextCursor` as `cursor` for the next. Messages past their retention are not listed.',
    query: messagesQuerySchema,
    responses: {
      '200': { description: 'A page of messages.', content: json(ref('MessagePage')) },
      '404': errorResponse(NOT_FOUND_SESSION),
      '422': errorResponse('Invalid query parameter (`details` names it), or a cursor of another list.'),
      ...COMMON_ERRORS,
    },
  },
  {
    method: 'get',
    path: '/messages/{id}',
    operationId: 'getSessionMessage',
    alias: { path: '/v1/messages/{id}', operationId: 'getMessage' },
    tag: 'Messages',
    summary: 'Read a message’s status',
    pathParams: { id: 'The message id (the idempotency key).' },
    responses: {
      '200': { description: 'The message.', content: json(ref('Message')) },
      '404': errorResponse('No such message (never accepted, or past retention), or no such session.'),
      ...COMMON_ERRORS,
    },
  },
  {
    method: 'delete',
    path: '/messages/{id}',
    operationId: 'cancelSessionMessage',
    alias: { path: '/v1/messages/{id}', operationId: 'cancelMessage' },
    tag: 'Messages',
    summary: 'Cancel a message not yet being sent',
    description:
      'Withdraws a queued, held or scheduled message: it is never sent, ends `cancelled`, and a `message.cancelled` event is written. ' +
      'A message being sent (or whose interrupted attempt may have reached WhatsApp) cannot be cancelled any more.',
    pathParams: { id: 'The message id (the idempotency key).' },
    responses: {
      '200': { description: 'Cancelled: the message, now `cancelled`.', content: json(ref('Message')) },
      '404': errorResponse('No such message (never accepted, or past retention), or no such session.'),
      '409': errorResponse('Too late: being sent (`message_sending`), or sent, failed or cancelled already (`message_final`).'),
      ...COMMON_ERRORS,
    },
  },
  {
    method: 'post',
    path: '/connect',
    operationId: 'connectSessionById',
    alias: { path: '/v1/session/connect', operationId: 'connectSession' },
    tag: 'Session',
    summary: 'Connect (show a QR code or a pairing code, or restore the saved session)',
    description:
      'Queues a `connect` control job (idempotent in the worker). With `wait=true` the request waits up to QR_WAIT_MS for a QR code or READY and returns the state then. ' +
      'With `{"method": "code", "phoneNumber": "+…"}` it asks for a pairing code instead, to enter on that phone (Linked devices → Link a device → Link with phone number instead), waits for it by default and answers it as `pairingCode`; it is renewed before it expires (a `pairing_code` event each time). A QR code already shown stays as the fallback.',
    query: connectQuerySchema,
    requestBody: 'ConnectRequest',
    optionalBody: true,
    responses: {
      '200': { description: 'With wait: the wait ended with a QR code (or the pairing code asked for), READY, or FAILED.', content: json(ref('ConnectResponse')) },
      '202': { description: 'Queued (without wait, or the wait ran out first).', content: json(ref('ConnectResponse')) },
      '404': errorResponse(NOT_FOUND_SESSION),
      '422': errorResponse('Invalid query parameter or body (`details` names it): method code needs phoneNumber, an international number.'),
      ...COMMON_ERRORS,
    },
  },
  {
    method: 'post',
    path: '/logout',
    operationId: 'logoutSessionById',
    alias: { path: '/v1/session/logout', operationId: 'logoutSession' },
    tag: 'Session',
    summary: 'Log out and unlink the gateway',
    description: 'Queues a `logout` control job. Queued messages stay held until a phone is linked again.',
    responses: { '202': { description: 'Queued.', content: json(ref('JobAccepted')) }, '404': errorResponse(NOT_FOUND_SESSION), ...COMMON_ERRORS },
  },
  {
    method: 'post',
    path: '/restart',
    operationId: 'restartSessionById',
    alias: { path: '/v1/session/restart', operationId: 'restartSession' },
    tag: 'Session',
    summary: 'Restart the session’s browser',
    description: 'Queues a `restart` control job: the worker closes Chromium and starts it again, restoring the saved session without a QR code. Sends stay held meanwhile.',
    responses: { '202': { description: 'Queued.', content: json(ref('JobAccepted')) }, '404': errorResponse(NOT_FOUND_SESSION), ...COMMON_ERRORS },
  },
  {
    method: 'get',
    path: '/contacts/{number}',
    operationId: 'checkSessionNumber',
    alias: { path: '/v1/contacts/{number}', operationId: 'checkNumber' },
    tag: 'Session',
    summary: 'Check whether a number is on WhatsApp',
    description:
      'The kept answer (`cached: true`), or asked of WhatsApp through the session\'s worker, waiting up to 10 s. ' +
      'Answers are kept for NUMBER_CHECK_TTL_S (NUMBER_CHECK_NEGATIVE_TTL_S for a number without an account); every send to a number uses them, and a send to a number without an account is refused at once (422 `recipient_not_on_whatsapp`).',
    pathParams: { number: 'The number, E.164 (`+4915123456789`; URL-encode the +, or give `4915123456789@c.us`).' },
    responses: {
      '200': { description: 'The answer.', content: json(ref('NumberCheck')) },
      '404': errorResponse(NOT_FOUND_SESSION),
      '409': errorResponse('The session is not READY (`session_not_ready`): only a linked device may ask.'),
      '422': errorResponse('Not a phone number; `details` says why.'),
      '503': errorResponse('WhatsApp did not answer within 10 s (`check_pending`): ask again after `Retry-After` seconds; the answer is kept once it comes. Or Redis is unreachable.'),
      '401': COMMON_ERRORS['401'],
    },
  },
  {
    method: 'get',
    path: '/qr',
    operationId: 'getSessionQrCode',
    alias: { path: '/v1/session/qr', operationId: 'getQrCode' },
    tag: 'Session',
    summary: 'The QR code to scan',
    description: 'As PNG, SVG, text (for a terminal) or JSON. 404 with the reason when there is none: `already_linked` (READY), `not_started`, `qr_expired`, `qr_pending` (starting or already scanned), or `session_not_found`.',
    query: qrQuerySchema,
    responses: {
      '200': {
        description: 'The QR code.',
        content: { 'image/png': { schema: { type: 'string', format: 'binary' } }, 'image/svg+xml': { schema: { type: 'string' } }, 'text/plain': { schema: { type: 'string' } }, ...json(ref('QrCode')) },
      },
      '404': errorResponse('No QR code now; `code` says why.'),
      '422': errorResponse('Invalid `format`.'),
      ...COMMON_ERRORS,
    },
  },
  {
    method: 'get',
    path: '/events',
    operationId: 'streamEventsOfSession',
    alias: { path: '/v1/session/events', operationId: 'streamSessionEvents' },
    tag: 'Session',
    summary: 'Live session events (Server-Sent Events)',
    description:
      'A `text/event-stream`: each event has the stream id as `id`, its type as `event` (state, qr, message.sent, message.failed, message.ack, message.incoming) and a SessionEvent as JSON `data`. ' +
      'Resume after a disconnect with the `Last-Event-ID` header (EventSource does it by itself). A comment line is sent as a heartbeat while idle. Concurrent streams are capped: 503 when full.',
    query: eventsQuerySchema,
    headers: [{ name: 'Last-Event-ID', description: 'Resume after this event id.' }],
    responses: {
      '200': { description: 'The event stream.', content: { 'text/event-stream': { schema: ref('SessionEvent') } } },
      '404': errorResponse(NOT_FOUND_SESSION),
      '422': errorResponse('Invalid `backlog` or `Last-Event-ID`.'),
      ...COMMON_ERRORS,
    },
  },
  {
    method: 'post',
    path: '/sandbox/scan',
    operationId: 'simulateSessionQrScan',
    alias: { path: '/v1/sandbox/scan', operationId: 'simulateQrScan' },
    tag: 'Sandbox',
    summary: 'Simulate scanning the QR code (sandbox mode only)',
    description: 'Asks the simulator phone of the session’s account (at WAQ_SIM_URL) to scan the QR code on screen, or, when a pairing code is shown, to enter that code. 404 unless WAQ_SANDBOX is on.',
    responses: {
      '200': { description: 'Scanned, or the pairing code entered (`codeEntered`).', content: json(ref('SandboxScan')) },
      '404': errorResponse('Sandbox mode is off, or no such session.'),
      '409': errorResponse('There is no QR code to scan (`no_qr`), or the simulated phone refused the pairing code (`code_refused`).'),
      '502': errorResponse('The simulator did not answer.'),
      ...COMMON_ERRORS,
    },
  },
];

const sessionView = (description: string) => ({ description, content: json(ref('Session')) });

const REGISTRY_OPERATIONS: readonly Operation[] = [
  {
    method: 'post',
    path: '/v1/sessions',
    operationId: 'createSession',
    tag: 'Sessions',
    summary: 'Create a session',
    description: 'Registers a session; a worker of the pool with room claims it (unless `desired` is `stopped`). Then `POST /v1/sessions/{session}/connect?wait=true` shows its QR code.',
    requestBody: 'CreateSessionRequest',
    responses: {
      '201': { ...sessionView('Created.'), headers: { Location: { description: 'The session URL.', schema: { type: 'string' } } } },
      '400': errorResponse('The body is not valid JSON.'),
      '409': errorResponse('A session of that id exists (`session_exists`), or is being deleted (`session_deleting`).'),
      '415': errorResponse('The body is not `application/json`.'),
      '422': errorResponse('A field is invalid; `details` names it.'),
      ...COMMON_ERRORS,
    },
  },
  {
    method: 'get',
    path: '/v1/sessions',
    operationId: 'listSessions',
    tag: 'Sessions',
    summary: 'List the sessions',
    description: 'Every session by id, with its desired state, settings, reported state and owning worker.',
    responses: { '200': { description: 'The sessions.', content: json(ref('SessionList')) }, ...COMMON_ERRORS },
  },
  {
    method: 'get',
    path: '/v1/sessions/{session}',
    operationId: 'describeSession',
    tag: 'Sessions',
    summary: 'Read a session',
    pathParams: SESSION_PARAM,
    responses: { '200': sessionView('The session.'), '404': errorResponse(NOT_FOUND_SESSION), ...COMMON_ERRORS },
  },
  {
    method: 'patch',
    path: '/v1/sessions/{session}',
    operationId: 'updateSession',
    tag: 'Sessions',
    summary: 'Change a session’s settings',
    description: 'Merges the settings given (`null` removes one); the owning worker applies them within a few seconds, without a restart.',
    pathParams: SESSION_PARAM,
    requestBody: 'UpdateSessionRequest',
    responses: {
      '200': sessionView('The session, changed.'),
      '400': errorResponse('The body is not valid JSON.'),
      '404': errorResponse(NOT_FOUND_SESSION),
      '409': errorResponse('The session is being deleted.'),
      '415': errorResponse('The body is not `application/json`.'),
      '422': errorResponse('A field is invalid; `details` names it.'),
      ...COMMON_ERRORS,
    },
  },
  {
    method: 'delete',
    path: '/v1/sessions/{session}',
    operationId: 'deleteSession',
    tag: 'Sessions',
    summary: 'Delete a session',
    description:
      'From this request on the session accepts no send. A worker then logs it out of WhatsApp (when READY), stops its Chromium, reports every send still waiting as failed with code `session_deleted`, and removes its queues, keys and profile. ' +
      'Waits for that (up to 30 s) unless `wait=false`; repeating the request after it is done answers the report again (while it is kept, MESSAGE_RETENTION_S).',
    pathParams: SESSION_PARAM,
    query: deleteSessionQuerySchema,
    responses: {
      '200': { description: 'Deleted: the report of the sends that were still waiting.', content: json(ref('SessionDeletion')) },
      '202': { description: 'Marked deleted; a worker has not finished yet (none is running, or it is slow).', content: json(ref('SessionDeletion')) },
      '404': errorResponse(NOT_FOUND_SESSION),
      '422': errorResponse('Invalid `wait`.'),
      ...COMMON_ERRORS,
    },
  },
  {
    method: 'post',
    path: '/v1/sessions/{session}/start',
    operationId: 'startSession',
    tag: 'Sessions',
    summary: 'Want the session running',
    description: 'A worker of the pool with room claims it and restores it (no QR code when it was linked).',
    pathParams: SESSION_PARAM,
    responses: { '200': sessionView('The session.'), '404': errorResponse(NOT_FOUND_SESSION), '409': errorResponse('The session is being deleted.'), ...COMMON_ERRORS },
  },
  {
    method: 'post',
    path: '/v1/sessions/{session}/stop',
    operationId: 'stopSession',
    tag: 'Sessions',
    summary: 'Want the session stopped',
    description: 'Its worker closes it (the link to the phone stays: `start` restores it without a QR code) and no worker picks it up until `start`. Sends are still accepted, and held.',
    pathParams: SESSION_PARAM,
    responses: { '200': sessionView('The session.'), '404': errorResponse(NOT_FOUND_SESSION), '409': errorResponse('The session is being deleted.'), ...COMMON_ERRORS },
  },
];

const WEBHOOK_PARAMS = { session: 'The session id.', webhook: 'The webhook id (`wh_…`).' } as const;
const NOT_FOUND_WEBHOOK = 'No such session (`session_not_found`) or webhook (`webhook_not_found`).';
const JSON_BODY_ERRORS = {
  '400': errorResponse('The body is not valid JSON.'),
  '415': errorResponse('The body is not `application/json`.'),
  '422': errorResponse('A field is invalid (`details` names it), or the URL is an address webhooks are not posted to (loopback, private, link-local) while WEBHOOK_ALLOW_PRIVATE is off.'),
};

const WEBHOOK_OPERATIONS: readonly Operation[] = [
  {
    method: 'post',
    path: '/v1/sessions/{session}/webhooks',
    operationId: 'createWebhook',
    tag: 'Webhooks',
    summary: 'Subscribe a URL to a session’s events',
    description: 'Events: `message.incoming`, `message.sent`, `message.ack`, `message.failed`, `session.status` and, opt-in, `session.qr` (all but `session.qr` when `events` is left out). The answer carries the signing secret, generated unless given: it is never shown again.',
    pathParams: SESSION_PARAM,
    requestBody: 'CreateWebhookRequest',
    responses: {
      '201': { description: 'Created, with its secret.', content: json(ref('WebhookCreated')), headers: { Location: { description: 'The webhook URL.', schema: { type: 'string' } } } },
      '404': errorResponse(NOT_FOUND_SESSION),
      ...JSON_BODY_ERRORS,
      ...COMMON_ERRORS,
    },
  },
  {
    method: 'get',
    path: '/v1/sessions/{session}/webhooks',
    operationId: 'listWebhooks',
    tag: 'Webhooks',
    summary: 'List a session’s webhooks',
    pathParams: SESSION_PARAM,
    responses: { '200': { description: 'The webhooks, oldest first (without their secrets).', content: json(ref('WebhookList')) }, '404': errorResponse(NOT_FOUND_SESSION), ...COMMON_ERRORS },
  },
  {
    method: 'get',
    path: '/v1/sessions/{session}/webhooks/{webhook}',
    operationId: 'describeWebhook',
    tag: 'Webhooks',
    summary: 'Read a webhook',
    pathParams: WEBHOOK_PARAMS,
    responses: { '200': { description: 'The webhook (without its secret), with how its deliveries stand.', content: json(ref('WebhookWithDeliveries')) }, '404': errorResponse(NOT_FOUND_WEBHOOK), ...COMMON_ERRORS },
  },
  {
    method: 'patch',
    path: '/v1/sessions/{session}/webhooks/{webhook}',
    operationId: 'updateWebhook',
    tag: 'Webhooks',
    summary: 'Change a webhook',
    description: 'Changes its URL, events, or whether it is enabled; `enabled: true` also resumes a webhook paused after failing deliveries.',
    pathParams: WEBHOOK_PARAMS,
    requestBody: 'UpdateWebhookRequest',
    responses: { '200': { description: 'The webhook, changed.', content: json(ref('Webhook')) }, '404': errorResponse(NOT_FOUND_WEBHOOK), ...JSON_BODY_ERRORS, ...COMMON_ERRORS },
  },
  {
    method: 'delete',
    path: '/v1/sessions/{session}/webhooks/{webhook}',
    operationId: 'deleteWebhook',
    tag: 'Webhooks',
    summary: 'Delete a webhook',
    pathParams: WEBHOOK_PARAMS,
    responses: { '204': { description: 'Deleted.' }, '404': errorResponse(NOT_FOUND_WEBHOOK), ...COMMON_ERRORS },
  },
  {
    method: 'get',
    path: '/v1/sessions/{session}/webhooks/{webhook}/failures',
    operationId: 'listWebhookFailures',
    tag: 'Webhooks',
    summary: 'List a webhook’s dead letters',
    description: 'Deliveries given up after WEBHOOK_RETRY_PERIOD_MS of retries, or at once on an answer that retrying would not change (4xx other than 408 and 429, a redirect, a refused address): oldest first, each with its last answer.',
    pathParams: WEBHOOK_PARAMS,
    responses: { '200': { description: 'The dead letters.', content: json(ref('WebhookFailureList')) }, '404': errorResponse(NOT_FOUND_WEBHOOK), ...COMMON_ERRORS },
  },
  {
    method: 'post',
    path: '/v1/sessions/{session}/webhooks/{webhook}/redrive',
    operationId: 'redriveWebhook',
    tag: 'Webhooks',
    summary: 'Deliver a webhook’s dead letters again',
    description: 'Puts them back at the head of the webhook’s queue, in their order, ahead of the deliveries waiting, with their `webhook-id`s (a receiver that did get one drops the repeat). On a paused webhook, redrive first and then resume it: the receiver gets everything in `seq` order.',
    pathParams: WEBHOOK_PARAMS,
    responses: { '200': { description: 'How many were put back.', content: json(ref('WebhookRedrive')) }, '404': errorResponse(NOT_FOUND_WEBHOOK), ...COMMON_ERRORS },
  },
];

const WORKER_OPERATIONS: readonly Operation[] = [
  {
    method: 'get',
    path: '/v1/workers',
    operationId: 'listWorkers',
    tag: 'Workers',
    summary: 'List the workers of the pool',
    description: 'Every worker that wrote its record in the last hour, with its capacity, sessions and whether it is alive.',
    responses: { '200': { description: 'The workers.', content: json(ref('WorkerList')) }, ...COMMON_ERRORS },
  },
  {
    method: 'post',
    path: '/v1/workers/{id}/drain',
    operationId: 'drainWorker',
    tag: 'Workers',
    summary: 'Drain a worker',
    description: 'The worker claims nothing more and hands its sessions over one at a time, each to be READY on another worker before the next goes; then it can be stopped without a gap.',
    pathParams: { id: 'The worker id (WORKER_ID).' },
    responses: {
      '202': { description: 'Asked.', content: json({ type: 'object', properties: { worker: { oneOf: [ref('Worker'), { type: 'null' }] } }, required: ['worker'] }) },
      '404': errorResponse('No such worker.'),
      ...COMMON_ERRORS,
    },
  },
];

/** A session operation at `/v1/sessions/{session}…`. */
function named(op: SessionOperation): Operation {
  const { alias: _alias, path, operationId, ...rest } = op;
  return { ...rest, path: `/v1/sessions/{session}${path}`, operationId, pathParams: { ...SESSION_PARAM, ...op.pathParams } };
}

/** The same operation at its waq 0.1 address, for the SESSION_ID session. */
function aliased(op: SessionOperation): Operation {
  const { alias, path, operationId: _operationId, ...rest } = op;
  return {
    ...rest,
    path: alias.path,
    operationId: alias.operationId,
    tag: 'Default session',
    description: `For the \`SESSION_ID\` session: the same as \`${op.method.toUpperCase()} /v1/sessions/{session}${path}\`. ${op.description ?? ''}`.trim(),
  };
}

export const OPERATIONS: readonly Operation[] = [
  ...REGISTRY_OPERATIONS,
  ...SESSION_OPERATIONS.map(named),
  ...WEBHOOK_OPERATIONS,
  ...WORKER_OPERATIONS,
  ...SESSION_OPERATIONS.map(aliased),
  {
    method: 'get',
    path: '/v1/session',
    operationId: 'getSession',
    tag: 'Default session',
    summary: 'Read the session state',
    description: 'For the `SESSION_ID` session: its `state` as in `GET /v1/sessions/{session}`. What the owning worker last published; WORKER_OFFLINE when no live worker holds the lease (none does, or its Redis connection is gone); STARTING while a new owner has not published yet.',
    responses: { '200': { description: 'The state.', content: json(ref('SessionState')) }, '404': errorResponse(NOT_FOUND_SESSION), ...COMMON_ERRORS },
  },
  { method: 'get', path: '/healthz', operationId: 'getLiveness', tag: 'Operations', summary: 'Liveness: the process is up', public: true, responses: { '200': { description: 'Up.' } } },
  {
    method: 'get',
    path: '/readyz',
    operationId: 'getReadiness',
    tag: 'Operations',
    summary: 'Readiness: Redis is reachable',
    public: true,
    responses: { '200': { description: 'Ready.' }, '503': COMMON_ERRORS['503'] },
  },
  {
    method: 'get',
    path: '/metrics',
    operationId: 'getMetrics',
    tag: 'Operations',
    summary: 'Prometheus metrics',
    description: 'HTTP requests by route and status (count and duration), queue depths by session and job state, each session’s status (one-hot), Redis reachability.',
    responses: { '200': { description: 'Prometheus text format.', content: { 'text/plain': { schema: { type: 'string' } } } }, '401': COMMON_ERRORS['401'] },
  },
];

function queryParameters(schema: z.ZodObject): unknown[] {
  const object = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as { properties?: Record<string, JsonSchema> };
  return Object.entries(object.properties ?? {}).map(([name, property]) => {
    const { description, ...rest } = property;
    return { name, in: 'query', required: false, ...(description === undefined ? {} : { description }), schema: rest };
  });
}

export function openApiDocument(version: string): Record<string, unknown> {
  const { schemas } = z.toJSONSchema(namedSchemas, { io: 'input', unrepresentable: 'any', uri: (id) => `#/components/schemas/${id}` }) as { schemas: Record<string, JsonSchema> };
  for (const schema of Object.values(schemas)) {
    // Component schemas are named by their key; a `$id` or `$schema` inside them is noise to OpenAPI tools.
    delete schema['$schema'];
    delete schema['$id'];
  }
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of OPERATIONS) {
    const parameters = [
      ...Object.entries(op.pathParams ?? {}).map(([name, description]) => ({ name, in: 'path', required: true, description, schema: { type: 'string' } })),
      ...(op.query === undefined ? [] : queryParameters(op.query)),
      ...(op.headers ?? []).map((h) => ({ name: h.name, in: 'header', required: false, description: h.description, schema: h.schema ?? { type: 'string' } })),
    ];
    (paths[op.path] ??= {})[op.method] = {
      operationId: op.operationId,
      tags: [op.tag],
      summary: op.summary,
      ...(op.description === undefined ? {} : { description: op.description }),
      ...(parameters.length === 0 ? {} : { parameters }),
      ...(op.requestBody === undefined
        ? {}
        : { requestBody: { required: op.optionalBody !== true, content: { ...json(ref(op.requestBody)), ...(op.multipartBody === undefined ? {} : { 'multipart/form-data': { schema: ref(op.multipartBody) } }) } } }),
      responses: op.responses,
      ...(op.public === true ? { security: [] } : {}),
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'waq API',
      version,
      description:
        'Self-hosted WhatsApp gateway. Authenticate with `Authorization: Bearer <API key>` or `X-Api-Key: <API key>` on every route but /healthz and /readyz. ' +
        'Errors are `{ "error": { "code", "message", "details" } }`.',
    },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }, { apiKey: [] }],
    tags: Object.entries(TAGS).map(([name, description]) => ({ name, description })),
    paths,
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'The API key as a bearer token.' },
        apiKey: { type: 'apiKey', in: 'header', name: 'X-Api-Key' },
      },
      schemas,
    },
  };
}
