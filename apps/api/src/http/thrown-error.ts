/**
 * The one place where a thrown error becomes an HTTP answer: domain errors with their stable codes,
 * Redis connection failures as 503 + Retry-After, body-parser failures as 4xx, and anything else as a
 * 500 that says nothing about internals.
 */
import { IdempotencyConflictError, InvalidPayloadError, NumberCheckPendingError, NumberCheckUnavailableError, SessionNotFoundError, UnregisteredRecipientError } from '@waq/shared';

import { errorResponse, redisUnavailable, type HttpResult } from './error-response.js';

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

/**
 * ioredis 5 and BullMQ 5 report a lost connection in several ways: the fail-fast producer connection
 * (`enableOfflineQueue: false`) rejects with "Stream isn't writeable…", a dropped one with
 * "Connection is closed.", a retried one with `MaxRetriesPerRequestError`, a socket with a Node errno.
 */
export function isRedisConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'MaxRetriesPerRequestError') return true;
  const code = (error as NodeJS.ErrnoException).code;
  if (code !== undefined && NETWORK_CODES.has(code)) return true;
  return /Stream isn't writeable|Connection is closed|enableOfflineQueue|connect ETIMEDOUT|Reached the max retries/i.test(error.message);
}

/** Errors from express's body parsers carry an HTTP status and a `type`. */
interface BodyParserError {
  readonly status?: number;
  readonly type?: string;
}

export function errorFromThrown(error: unknown): HttpResult | undefined {
  if (error instanceof InvalidPayloadError) {
    return errorResponse(422, 'invalid_payload', 'the request is invalid: see details for the fields at fault', error.problems);
  }
  if (error instanceof IdempotencyConflictError) return errorResponse(409, error.code, error.message, [{ path: 'idempotencyKey', message: 'already used for a different message' }]);
  // The send script found no registered session: deleted since the route checked, or never created.
  if (error instanceof SessionNotFoundError) return errorResponse(404, error.code, error.message);
  // WhatsApp said (within NUMBER_CHECK_NEGATIVE_TTL_S) that the number has no account.
  if (error instanceof UnregisteredRecipientError) return errorResponse(422, error.code, error.message, [{ path: 'to', message: 'has no WhatsApp account' }]);
  if (error instanceof NumberCheckUnavailableError) return errorResponse(409, error.code, error.message);
  if (error instanceof NumberCheckPendingError) return errorResponse(503, error.code, error.message, undefined, { 'Retry-After': '2' });
  if (isRedisConnectionError(error)) return redisUnavailable();
  const parser = error as BodyParserError;
  switch (parser.type) {
    case 'entity.parse.failed':
      return errorResponse(400, 'invalid_json', 'the request body is not valid JSON');
    case 'entity.too.large':
      return errorResponse(413, 'payload_too_large', 'the request body is too large');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return errorResponse(415, 'unsupported_encoding', 'send the body as UTF-8 JSON, uncompressed');
    case 'request.aborted':
      return errorResponse(400, 'request_aborted', 'the request body was not received completely');
    default:
      if (typeof parser.status === 'number' && parser.status >= 400 && parser.status < 500) {
        return errorResponse(parser.status, 'bad_request', 'the request could not be read');
      }
      return undefined;
  }
}

export function internalError(): HttpResult {
  return errorResponse(500, 'internal', 'internal error: the request was not completed; try again, and check the API logs if it persists');
}
