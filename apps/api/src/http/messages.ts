/** `POST …/messages`, `GET …/messages` (a page of the list) and `GET …/messages/:id`, for one session. */
import { idempotencyKeySchema, toFieldProblems, type FieldProblem, type Producer } from '@waq/shared';

import { errorResponse, type HttpResult } from './error-response.js';
import { messagesQuerySchema, sendMessageBodySchema } from './schemas.js';

export interface SendRequest {
  /** The parsed JSON body (undefined when there was none). */
  readonly body: unknown;
  /** The `Idempotency-Key` header, if any. */
  readonly idempotencyKeyHeader: string | undefined;
  /** Where the session's messages are (`/v1/sessions/sales/messages`): the answer's Location is under it. */
  readonly messagesPath: string;
}

function invalid(details: readonly FieldProblem[]): HttpResult {
  return errorResponse(422, 'invalid_payload', 'the request is invalid: see details for the fields at fault', details);
}

export async function sendMessage(producer: Producer, { body, idempotencyKeyHeader, messagesPath }: SendRequest): Promise<HttpResult> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
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
  if (!parsed.success || problems.length > 0) return invalid(problems);
  const { to, text, idempotencyKey: bodyKey } = parsed.data;
  if (headerKey !== undefined && bodyKey !== undefined && headerKey !== bodyKey) {
    return invalid([{ path: 'idempotencyKey', message: 'differs from the Idempotency-Key header: give the key once, or the same in both' }]);
  }
  const idempotencyKey = headerKey ?? bodyKey;
  const accepted = await producer.send({ to, text, ...(idempotencyKey === undefined ? {} : { idempotencyKey }) });
  return {
    status: 202,
    body: { id: accepted.id, status: accepted.status, duplicate: accepted.duplicate },
    headers: { Location: `${messagesPath}/${encodeURIComponent(accepted.id)}` },
  };
}

export async function getMessage(producer: Producer, id: string): Promise<HttpResult> {
  // Ids are idempotency keys; anything else cannot name a message (and is not sent to Redis).
  const message = idempotencyKeySchema.safeParse(id).success ? await producer.getMessage(id) : null;
  if (message === null) {
    return errorResponse(404, 'message_not_found', `no message with id ${JSON.stringify(id.slice(0, 128))}: it was never accepted, or it is past its retention (MESSAGE_RETENTION_S)`);
  }
  return { status: 200, body: message };
}

export async function listMessages(producer: Producer, query: unknown): Promise<HttpResult> {
  const parsed = messagesQuerySchema.safeParse(query);
  if (!parsed.success) return errorResponse(422, 'invalid_query', 'invalid query parameter: see details', toFieldProblems(parsed.error));
  const { status, limit, cursor, order } = parsed.data;
  // A cursor that does not decode is the producer's InvalidPayloadError: a 422 naming `cursor`.
  const page = await producer.listMessages({ limit, order, ...(status === undefined ? {} : { status }), ...(cursor === undefined ? {} : { cursor }) });
  return { status: 200, body: page };
}
