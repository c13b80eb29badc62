/** `POST …/messages`, `GET …/messages` (a page of the list) and `GET …/messages/:id`, for one session. */
import { idempotencyKeySchema, toFieldProblems, type FieldProblem, type MediaRef, type Producer } from '@waq/shared';

import { errorResponse, type HttpResult } from './error-response.js';
import { discardMedia, markStoredFor, MediaInputError, storeMediaSource, type MediaDependencies } from './media.js';
import { messagesQuerySchema, sendMessageBodySchema } from './schemas.js';

export interface SendRequest {
  /** The parsed JSON body (undefined when there was none). */
  readonly body: unknown;
  /** The `Idempotency-Key` header, if any. */
  readonly idempotencyKeyHeader: string | undefined;
  /** Where the session's messages are (`/v1/sessions/sales/messages`): the answer's Location is under it. */
  readonly messagesPath: string;
  /** How files are fetched and stored. */
  readonly media: MediaDependencies;
  /** A file already stored from this request (a multipart upload): the send carries it. */
  readonly uploaded?: MediaRef | undefined;
}

function invalid(details: readonly FieldProblem[]): HttpResult {
  return errorResponse(422, 'invalid_payload', 'the request is invalid: see details for the fields at fault', details);
}

export async function sendMessage(producer: Producer, request: SendRequest): Promise<HttpResult> {
  try {
    return await acceptMessage(producer, request);
  } catch (error) {
    if (error instanceof MediaInputError) return error.result;
    throw error;
  }
}

async function acceptMessage(producer: Producer, { body, idempotencyKeyHeader, messagesPath, media: mediaDeps, uploaded }: SendRequest): Promise<HttpResult> {
  // A file stored for this request and then refused (or a repeat of a send already accepted) is removed.
  const discard = async (): Promise<void> => {
    if (stored !== undefined) await discardMedia(producer, stored).catch(() => undefined);
  };
  let stored = uploaded;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    await discard();
    return invalid([{ path: '', message: 'the body must be a JSON object such as {"to": "+49 151 23456789", "text": "hello"}' }]);
  }
  const parsed = sendMessageBodySchema.safeParse(body);
  const problems = parsed.success ? [] : toFieldProblems(parsed.error);
  let headerKey: string | undefined;
  if (idempotencyKeyHeader !== undefined) {
    const key = idempotencyKeySchema.safeParse(idempotencyKeyHeader);
    if (key.success) headerKey = key.data;
    else problems.push(...toFieldProblems(key.error, ['Idempotency-Key']));
  }
  if (parsed.success && parsed.data.media !== undefined && uploaded !== undefined) problems.push({ path: 'media', message: 'give the file once: as the uploaded part or as media, not both' });
  if (!parsed.success || problems.length > 0) {
    await discard();
    return invalid(problems);
  }
  const { to, text, idempotencyKey: bodyKey, media: source, asDocument, asVoice, asSticker, expiresAt, ttlSeconds, sendAt, priority, typing } = parsed.data;
  if (headerKey !== undefined && bodyKey !== undefined && headerKey !== bodyKey) {
    await discard();
    return invalid([{ path: 'idempotencyKey', message: 'differs from the Idempotency-Key header: give the key once, or the same in both' }]);
  }
  const idempotencyKey = headerKey ?? bodyKey;
  let media = uploaded;
  if (source !== undefined) {
    media = await storeMediaSource(mediaDeps, source);
    // A reference to a file stored before is not this request's to remove.
    if (!('mediaId' in source)) stored = media;
  }
  let accepted;
  try {
    accepted = await producer.send({
      to,
      ...(text === undefined ? {} : { text }),
      ...(media === undefined ? {} : { media }),
      ...(asDocument === undefined ? {} : { asDocument }),
      ...(asVoice === undefined ? {} : { asVoice }),
      ...(asSticker === undefined ? {} : { asSticker }),
      ...(expiresAt === undefined ? {} : { expiresAt }),
      ...(ttlSeconds === undefined ? {} : { ttlSeconds }),
      ...(sendAt === undefined ? {} : { sendAt }),
      ...(priority === undefined ? {} : { priority }),
      ...(typing === undefined ? {} : { typing }),
      ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
    });
  } catch (error) {
    await discard();
    throw error;
  }
  if (accepted.duplicate) await discard();
  // A file fetched or uploaded for this message alone goes once it is sent (a stored one may serve many).
  else if (stored !== undefined) await markStoredFor(producer, stored, accepted.id);
  return {
    status: 202,
    body: { id: accepted.id, status: accepted.status, duplicate: accepted.duplicate, ...(accepted.expiresAt === undefined ? {} : { expiresAt: accepted.expiresAt }) },
    headers: { Location: `${messagesPath}/${encodeURIComponent(accepted.id)}` },
  };
}

export async function getMessage(producer: Producer, id: string): Promise<HttpResult> {
  // Ids are idempotency keys; anything else cannot name a message (and is not sent to Redis).
  const message = idempotencyKeySchema.safeParse(id).success ? await producer.getMessage(id) : null;
  if (message === null) return messageNotFound(id);
  return { status: 200, body: message };
}

/**
 * `DELETE …/messages/:id`: withdraws a message that is not being sent yet (queued, held, scheduled).
 * 200 with the message, now `cancelled`; 409 when it is too late (being sent, sent, or ended already);
 * 404 when there is no such message.
 */
export async function cancelMessage(producer: Producer, id: string): Promise<HttpResult> {
  const { outcome, message } = await producer.cancelMessage(id);
  switch (outcome) {
    case 'withdrawn':
      return { status: 200, body: message ?? { id, status: 'cancelled' } };
    case 'unknown':
      return messageNotFound(id);
    case 'sending':
      return errorResponse(409, 'message_sending', 'the message is being sent (or an attempt was interrupted and may have reached WhatsApp): it can no longer be cancelled', [{ path: 'id', message: `is ${message?.status ?? 'sending'}` }]);
    default:
      return errorResponse(409, 'message_final', `the message is ${message?.status ?? 'no longer waiting'}: only a message not yet being sent can be cancelled`, [{ path: 'id', message: `is ${message?.status ?? outcome}` }]);
  }
}

function messageNotFound(id: string): HttpResult {
  return errorResponse(404, 'message_not_found', `no message with id ${JSON.stringify(id.slice(0, 128))}: it was never accepted, or it is past its retention (MESSAGE_RETENTION_S)`);
}

export async function listMessages(producer: Producer, query: unknown): Promise<HttpResult> {
  const parsed = messagesQuerySchema.safeParse(query);
  if (!parsed.success) return errorResponse(422, 'invalid_query', 'invalid query parameter: see details', toFieldProblems(parsed.error));
  const { status, limit, cursor, order } = parsed.data;
  // A cursor that does not decode is the producer's InvalidPayloadError: a 422 naming `cursor`.
  const page = await producer.listMessages({ limit, order, ...(status === undefined ? {} : { status }), ...(cursor === undefined ? {} : { cursor }) });
  return { status: 200, body: page };
}
