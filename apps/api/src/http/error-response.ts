/**
 * Every error the API returns comes from this one builder:
 * `{ "error": { "code": "...", "message": "...", "details": [...] } }`. Messages say what is wrong and
 * what to do; `details` lists the fields at fault. Never a stack trace.
 */
import type { FieldProblem } from '@waq/shared';

export interface ErrorBody {
  readonly error: {
    readonly code: string;
    readonly message: string;
    readonly details?: readonly FieldProblem[];
  };
}

/**
 * What a handler returns. `body` is sent as JSON, unless `headers` set a `Content-Type` and the body is
 * a string or a Buffer (a QR image, a page), which is then sent as is.
 */
export interface HttpResult<B = unknown> {
  readonly status: number;
  readonly body: B;
  readonly headers?: Readonly<Record<string, string>>;
}

export function errorResponse(status: number, code: string, message: string, details?: readonly FieldProblem[], headers?: Record<string, string>): HttpResult<ErrorBody> {
  return { status, body: { error: { code, message, ...(details === undefined ? {} : { details }) } }, ...(headers === undefined ? {} : { headers }) };
}

/** Seconds a client should wait before retrying while Redis is unreachable. */
export const REDIS_RETRY_AFTER_S = 5;

export function redisUnavailable(): HttpResult<ErrorBody> {
  return errorResponse(503, 'redis_unavailable', 'Redis is not reachable: the API cannot accept or read jobs until it is; retry later', undefined, {
    'Retry-After': String(REDIS_RETRY_AFTER_S),
  });
}
