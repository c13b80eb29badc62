/** `POST /v1/messages` and `GET /v1/messages/:id`. */
import { idempotencyKeySchema, toFieldProblems, type FieldProblem, type Producer } from '@waq/shared';

import { errorResponse, type HttpResult } from './error-response.js';
import { sendMessageBodySchema } from './schemas.js';

export interface SendRequest {
  /** The parsed JSON body (undefined when there was none). */
  readonly body: unknown;
  /** The `Idempotency-Key` header, if any. */
  readonly idempotencyKeyHeader: string | undefined;
}

function invalid(details: readonly FieldProblem[]): HttpResult {
  return errorResponse(422, 'invalid_payload', 'the request is invalid: see details for the fields at fault', details);
}

export async function sendMessage(producer: Producer, { body, idempotencyKeyHeader }: SendRequest): Promise<HttpResult> {
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
    headers: { Location: `/v1/messages/${encodeURIComponent(accepted.id)}` },
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
