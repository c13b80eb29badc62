/**
 * The record of one outbound message (`keys.message(id)`, a hash written by the session owner), and
 * the status a reader reports for it, combined from the BullMQ job and the record.
 */
import { z } from 'zod';

import type { Failure } from './errors.js';
import { ackNameSchema } from './events.js';
import type { SendPriority } from './jobs.js';
import type { WaitReason } from './pacing.js';

export const messageRecordSchema = z.object({
  /** sending: the side effect may have happened (a marker written before `sendMessage`). */
  phase: z.enum(['sending', 'sent']),
  /** When the current (or last) send attempt started: the crash-dedupe looks for copies after it. */
  attemptStartedAt: z.iso.datetime(),
  waMessageId: z.string().optional(),
  sentAt: z.iso.datetime().optional(),
  ack: ackNameSchema.optional(),
  ackAt: z.iso.datetime().optional(),
});
export type MessageRecord = z.infer<typeof messageRecordSchema>;

/** Reads a record from HGETALL output; an empty or corrupt hash reads as no record. */
export function decodeMessageRecord(hash: Record<string, string>): MessageRecord | null {
  // Absent, or only the producer's idempotency fingerprint (no attempt yet): no record, without a failing parse.
  if (hash['phase'] === undefined) return null;
  const result = messageRecordSchema.safeParse(hash);
  return result.success ? result.data : null;
}

/**
 * Why a message failed for good: the worker writes `errorCode` and `errorMessage` into the record
 * before BullMQ marks the job failed (a raw job that failed validation gets them too). Read from the
 * raw hash: such a record may have no phase.
 */
export function decodeMessageFailure(hash: Record<string, string>): Failure | null {
  const code = hash['errorCode'];
  return code === undefined ? null : { code, message: hash['errorMessage'] ?? code };
}

/** The record fields of a failure (see `decodeMessageFailure`). */
export function messageFailureFields(failure: Failure): Record<'errorCode' | 'errorMessage', string> {
  return { errorCode: failure.code, errorMessage: failure.message };
}

/**
 * Record field counting the attempts that failed and were tried again in place (a failing send keeps
 * the head of the outbox through its backoff; BullMQ's `attemptsMade` does not see those).
 */
export const MESSAGE_RETRIES_FIELD = 'retries';

/** The in-place retries of a record's `retries` field (absent or garbled: none). */
export function decodeMessageRetries(value: string | null | undefined): number {
  const retries = Number(value ?? 0);
  return Number.isSafeInteger(retries) && retries > 0 ? retries : 0;
}

/** Attempts made so far: BullMQ's count plus the in-place retries in the record. */
export function messageAttempts(attemptsMade: number, hash: Record<string, string>): number {
  return attemptsMade + decodeMessageRetries(hash[MESSAGE_RETRIES_FIELD]);
}

/**
 * How long a message record lives, in seconds: eight retention periods, so it outlives the BullMQ
 * job it describes (removed after one, or seven when failed) and the idempotency key it guards.
 */
export function messageRecordTtlSeconds(retentionSeconds: number): number {
  return retentionSeconds * 8;
}

/**
 * - `queued`: waiting its turn while the session is READY;
 * - `held`: accepted while the session is not READY; goes out, in order, once it is;
 * - `scheduled`: not due yet (`sendAt`, or a raw job added with a BullMQ `delay`; a failing send is
 *   retried in place, at the head of the queue, and reads `sending` meanwhile);
 * - `waiting`: a budget of the session is spent (its daily cap, or its budget of new chats): it goes
 *   out when the budget frees (see `waiting`);
 * - `sending`: being sent now;
 * - `sent`: WhatsApp accepted it (see `ack` for delivered/read);
 * - `failed`: will not be sent (see `error`; `expired` when it was still waiting at its `expiresAt`);
 * - `cancelled`: withdrawn before it was sent (`DELETE …/messages/:id`).
 */
export const MESSAGE_STATUSES = ['queued', 'held', 'scheduled', 'waiting', 'sending', 'sent', 'failed', 'cancelled'] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

/** Statuses a message does not leave. */
export const FINAL_MESSAGE_STATUSES: ReadonlySet<MessageStatus> = new Set(['sent', 'failed', 'cancelled']);

export interface MessageView {
  readonly id: string;
  readonly status: MessageStatus;
  readonly to: string;
  /** Attempts made so far, the one under way included (time held while the session is not READY does not count). */
  readonly attempts: number;
  readonly maxAttempts: number;
  readonly acceptedAt: string;
  readonly priority: SendPriority;
  /** A scheduled send: not before then. */
  readonly sendAt?: string;
  /** Never sent after then (its own `expiresAt` / `ttlSeconds`, or the session's `messageTtlSeconds`). */
  readonly expiresAt?: string;
  /** Status `waiting`: which budget is spent, and when the send may go (at the earliest). */
  readonly waiting?: { readonly reason: WaitReason; readonly until: string };
  readonly waMessageId?: string;
  readonly sentAt?: string;
  readonly ack?: z.infer<typeof ackNameSchema>;
  readonly error?: { readonly code: string; readonly message: string };
}

/**
 * Record fields the producer writes when it accepts a message: who it is for, when it was accepted, its
 * priority and schedule, and when it expires (epoch ms). A withdrawn message's job is removed from its
 * queue, and its view is then read from these.
 */
export const RECORD_TO_FIELD = 'to';
export const RECORD_ACCEPTED_AT_FIELD = 'acceptedAt';
export const RECORD_PRIORITY_FIELD = 'priority';
export const RECORD_SEND_AT_FIELD = 'sendAt';
export const RECORD_EXPIRES_AT_FIELD = 'expiresAtMs';

/** A message's expiry as its record holds it (epoch ms), or undefined. */
export function decodeExpiresAt(hash: Record<string, string>): number | undefined {
  const value = Number(hash[RECORD_EXPIRES_AT_FIELD]);
  return Number.isSafeInteger(value) && value > 0 ? value : undefined;
}
