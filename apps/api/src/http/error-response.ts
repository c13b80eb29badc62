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

export interface HttpResult<B = unknown> {
  readonly status: number;
  readonly body: B;
  readonly headers?: Readonly<Record<string, string>>;
}

export function errorResponse(status: number, code: string, message: string, details?: readonly FieldProblem[], headers?: Record<string, string>): HttpResult<ErrorBody> {
  return { status, body: { error: { code, message, ...(details === undefined ? {} : { details }) } }, ...(headers === undefined ? {} : { headers }) };
}
