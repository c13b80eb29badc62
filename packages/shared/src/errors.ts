/**
 * Typed errors and the retry taxonomy: the one home of both. Every error a user or an operator can
 * meet is a class with a stable `name` and `code` (safe to match on; never rename them) and a place in
 * the taxonomy:
 *
 * | retry           | meaning                                                      | the worker             |
 * |-----------------|--------------------------------------------------------------|------------------------|
 * | `unrecoverable` | retrying cannot help (bad payload, recipient not on WhatsApp, another account linked) | fails the job at once |
 * | `held`          | the session cannot send now (not READY, connection away, lease lost, shutting down) | puts the job back at the head, no attempt burnt |
 * | `retryable`     | anything else (timeouts, a page that died mid-send)          | exponential backoff + jitter; a send in place, at the head of the queue |
 *
 * A job that fails for good carries its failure as data, `{ code, message }` (`failureOf`): the worker
 * writes it into the message record and the `message.failed` event; nothing parses it out of a string.
 * (There is no rate-limited class: whatsapp-web.js reports no throttling signal to map onto one.)
 */

export type RetryClass = 'unrecoverable' | 'held' | 'retryable';

/** Why a job failed for good, as users see it (`GET /v1/messages/:id` → `error`, `message.failed`). */
export interface Failure {
  readonly code: string;
  readonly message: string;
}

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

/** A video send on a browser without the codecs WhatsApp Web needs for it, with MEDIA_VIDEO_FALLBACK=fail. */
export class VideoUnsupportedError extends WaqError {
  override readonly name = 'VideoUnsupportedError';
  readonly code = 'video_unsupported';
  readonly retry = 'unrecoverable';
  constructor() {
    super(
      "this worker's browser cannot decode H.264/AAC video, which WhatsApp Web needs to send a video: send it with asDocument: true, set MEDIA_VIDEO_FALLBACK=document, or run the worker with Google Chrome or Debian's Chromium (CHROMIUM_PATH)",
    );
  }
}

/** The session cannot send now (not READY, connection away, shutting down): the send waits (held), it does not fail. */
export class SessionNotReadyError extends WaqError {
  override readonly name = 'SessionNotReadyError';
  readonly code = 'session_not_ready';
  readonly retry = 'held';
  constructor(readonly detail: string) {
    super(`the WhatsApp session cannot send now (${detail}): the message is held until it is READY`);
  }
}

/**
 * The message was accepted while one WhatsApp account was linked, and another one is linked now: it
 * is not sent from a number its sender did not mean (no numbers in the text: it reaches logs).
 */
export class AccountChangedError extends WaqError {
  override readonly name = 'AccountChangedError';
  readonly code = 'account_changed';
  readonly retry = 'unrecoverable';
  constructor() {
    super('this message was accepted for the WhatsApp account linked at the time, and a different account is linked now: it was not sent from the other number. Send it again to send it from the account linked now');
  }
}

/**
 * A number check asked of a session that is not READY: only a linked device may ask WhatsApp. Not held
 * like a send: the question is answered now or not at all (the caller asks again).
 */
export class NumberCheckUnavailableError extends WaqError {
  override readonly name = 'NumberCheckUnavailableError';
  readonly code = 'session_not_ready';
  readonly retry = 'unrecoverable';
  constructor(readonly status: string) {
    super(`the session is ${status}: WhatsApp answers a number check only while it is READY; connect it, or try again once it is`);
  }
}

/** A number check was asked of WhatsApp and not answered in time; the answer is kept once it comes. */
export class NumberCheckPendingError extends WaqError {
  override readonly name = 'NumberCheckPendingError';
  readonly code = 'check_pending';
  readonly retry = 'held';
  constructor(readonly waitedMs: number) {
    super(`WhatsApp did not answer within ${waitedMs} ms (the session's worker may be busy connecting): ask again in a few seconds, the answer is kept once it comes`);
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

/** An idempotency key was reused for a different message. */
export class IdempotencyConflictError extends WaqError {
  override readonly name = 'IdempotencyConflictError';
  readonly code = 'idempotency_conflict';
  readonly retry = 'unrecoverable';
  constructor(readonly id: string) {
    super(`idempotency key ${JSON.stringify(id)} was already used for a different message: use a new key for a new message`);
  }
}

/** The session a request or job names is not registered (never created, or deleted). */
export class SessionNotFoundError extends WaqError {
  override readonly name = 'SessionNotFoundError';
  readonly code = 'session_not_found';
  readonly retry = 'unrecoverable';
  constructor(readonly sessionId: string) {
    super(`there is no session ${JSON.stringify(sessionId)}: create it first (POST /v1/sessions), or check the id`);
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

/** The failure to report for `error`: its own code when it is one of ours, else `send_failed`. */
export function failureOf(error: unknown): Failure {
  if (error instanceof WaqError) return { code: error.code, message: error.message };
  return { code: 'send_failed', message: error instanceof Error ? error.message : String(error) };
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
