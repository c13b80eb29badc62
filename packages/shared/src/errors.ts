/**
 * Typed errors and the retry taxonomy. Every error a user or an operator can meet is a class with a
 * stable `name` and `code` (safe to match on; never rename them) and a place in the taxonomy:
 *
 * | retry           | meaning                                                      | the worker             |
 * |-----------------|--------------------------------------------------------------|------------------------|
 * | `unrecoverable` | retrying cannot help (bad payload, recipient not on WhatsApp) | fails the job at once  |
 * | `held`          | the session cannot send now (not READY, lease lost)           | puts the job back, no attempt burnt |
 * | `rate-limited`  | WhatsApp is throttling                                        | delays the queue       |
 * | `retryable`     | anything else (timeouts, a page that died mid-send)          | exponential backoff + jitter |
 */

export type RetryClass = 'unrecoverable' | 'held' | 'rate-limited' | 'retryable';

export interface FieldProblem {
  /** Where the problem is, e.g. `to`, `body.text`, `REDIS_URL`. */
  readonly path: string;
  readonly message: string;
}

export abstract class WaqError extends Error {
  abstract override readonly name: string;
  /** Stable machine-readable code, also used in API error responses. */
  abstract readonly code: string;
  abstract readonly retry: RetryClass;
}

/** A job payload or request body does not match its schema. */
export class InvalidPayloadError extends WaqError {
  override readonly name = 'InvalidPayloadError';
  readonly code = 'invalid_payload';
  readonly retry = 'unrecoverable';
  constructor(
    readonly problems: readonly FieldProblem[],
    what = 'payload',
  ) {
    super(`invalid ${what}: ${problems.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message)).join('; ')}`);
  }
}

/** A job whose name is not in the job catalog (pushed by something other than waq's SDK). */
export class UnknownJobError extends WaqError {
  override readonly name = 'UnknownJobError';
  readonly code = 'unknown_job';
  readonly retry = 'unrecoverable';
  constructor(
    readonly jobName: string,
    known: readonly string[],
  ) {
    super(`unknown job name ${JSON.stringify(jobName.slice(0, 100))} on this queue: expected one of ${known.join(', ')}`);
  }
}

/** The recipient is well-formed but has no WhatsApp account. */
export class UnregisteredRecipientError extends WaqError {
  override readonly name = 'UnregisteredRecipientError';
  readonly code = 'recipient_not_on_whatsapp';
  readonly retry = 'unrecoverable';
  constructor() {
    super('the recipient is not registered on WhatsApp: check the number and its country code');
  }
}

/** The session is not READY: the send waits (held), it does not fail. */
export class SessionNotReadyError extends WaqError {
  override readonly name = 'SessionNotReadyError';
  readonly code = 'session_not_ready';
  readonly retry = 'held';
  constructor(readonly status: string) {
    super(`the WhatsApp session is ${status}, not READY: the message is held until it is`);
  }
}

/** This worker no longer owns the session (its lease expired or was taken): it must not act on it. */
export class LeaseLostError extends WaqError {
  override readonly name = 'LeaseLostError';
  readonly code = 'lease_lost';
  readonly retry = 'held';
  constructor(readonly sessionId: string) {
    super(`this worker no longer owns session ${sessionId}; another worker will take the job`);
  }
}

/** WhatsApp is throttling this session. */
export class RateLimitedError extends WaqError {
  override readonly name = 'RateLimitedError';
  readonly code = 'rate_limited';
  readonly retry = 'rate-limited';
  constructor(readonly retryAfterMs: number) {
    super(`WhatsApp is rate-limiting this session; retrying in ${Math.ceil(retryAfterMs / 1000)} s`);
  }
}

/** An idempotency key was reused for a different message. */
export class IdempotencyConflictError extends WaqError {
  override readonly name = 'IdempotencyConflictError';
  readonly code = 'idempotency_conflict';
  readonly retry = 'unrecoverable';
  constructor(readonly id: string) {
    super(`idempotency key ${JSON.stringify(id)} was already used for a different message: use a new key for a new message`);
  }
}

/** Environment variables are missing or malformed. */
export class ConfigError extends WaqError {
  override readonly name = 'ConfigError';
  readonly code = 'invalid_config';
  readonly retry = 'unrecoverable';
  constructor(readonly problems: readonly { variable: string; message: string }[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p.message}`).join('\n')}\nFix the variables above (see the README, "Configuration").`);
  }
}

/** Where `error` sits in the retry taxonomy; anything not known to be otherwise is retryable. */
export function retryClassOf(error: unknown): RetryClass {
  return error instanceof WaqError ? error.retry : 'retryable';
}

export interface BackoffOptions {
  /** Delay before the first retry, in ms. */
  readonly baseMs: number;
  /** Largest delay, in ms. */
  readonly maxMs: number;
  /** Source of randomness in [0, 1); injectable for tests. @defaultValue Math.random */
  readonly random?: () => number;
}

/**
 * Exponential backoff with "equal jitter": half of the exponential delay is fixed, half random, so
 * retries of many jobs (or many reconnecting workers) spread out without ever retrying immediately.
 * `attempt` counts from 1.
 */
export function backoffDelay(attempt: number, { baseMs, maxMs, random = Math.random }: BackoffOptions): number {
  const exponent = Math.min(Math.max(attempt, 1) - 1, 30);
  const ceiling = Math.min(maxMs, baseMs * 2 ** exponent);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
