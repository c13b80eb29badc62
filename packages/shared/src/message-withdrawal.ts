/**
 * Withdrawing a message before it is sent: at its expiry (`expired`, by the session owner) or on request
 * (`cancelled`, `DELETE …/messages/:id`). The message record decides, atomically, against the send
 * handler's claim (which marks the record `sending` in a script of its own on the same key): either
 * the withdrawal comes first, and the handler finds it and sends nothing, or the claim does, and the
 * message can no longer be withdrawn. The record and the event (`message.failed` with code `expired`,
 * or `message.cancelled`) are written by the same script, so a reader never sees one without the other.
 *
 * The caller then removes the job from its queue (`removeWithdrawnJob`); an active job cannot be
 * removed (BullMQ keeps its lock) and is failed by its handler instead, which reports nothing more.
 */
import type { Queue } from 'bullmq';

import { WaqError } from './errors.js';
import { encodeEvent } from './events.js';
import type { SessionKeys } from './keys.js';
import { messageFailureFields, RECORD_EXPIRES_AT_FIELD } from './messages.js';
import { RedisScript } from './redis-script.js';
import type { RedisClient } from './redis.js';

/** Why a message was withdrawn: its failure code. */
export type WithdrawalCode = 'expired' | 'cancelled';

export const EXPIRED = 'expired' satisfies WithdrawalCode;
export const CANCELLED = 'cancelled' satisfies WithdrawalCode;

/** Failure codes written by a withdrawal, which reported itself: nobody reports them again. */
export const WITHDRAWAL_CODES: ReadonlySet<string> = new Set<WithdrawalCode>([EXPIRED, CANCELLED]);

export function isWithdrawalCode(code: string | undefined): code is WithdrawalCode {
  return code !== undefined && WITHDRAWAL_CODES.has(code);
}

/**
 * The send handler found its message withdrawn (or withdrew it, at its expiry): the job fails at once,
 * and its record and event, written by the withdrawal, are not written again.
 */
export class MessageWithdrawnError extends WaqError {
  override readonly name = 'MessageWithdrawnError';
  readonly retry = 'unrecoverable';
  constructor(readonly code: WithdrawalCode) {
    super(code === EXPIRED ? 'the message expired before it could be sent: it was not sent' : 'the message was cancelled before it was sent');
  }
}

/**
 * - `withdrawn`: done, record and event written;
 * - `unknown`: no record (never accepted, or past retention);
 * - `sent`: too late, WhatsApp has it;
 * - `sending`: an attempt is under way (or was interrupted: it may have reached WhatsApp);
 * - `final`: it failed, expired or was cancelled already;
 * - `not_due`: an expiry asked for before the message's `expiresAt` (clocks apart): left alone.
 */
export type WithdrawalOutcome = 'withdrawn' | 'unknown' | 'sent' | 'sending' | 'final' | 'not_due';

/**
 * KEYS[1] record, KEYS[2] expiries, KEYS[3] events; ARGV[1] message id, ARGV[2] code, ARGV[3] message,
 * ARGV[4] events MAXLEN, ARGV[5] event type, ARGV[6] event data (JSON), ARGV[7] '1' to withdraw a record
 * marked `sending` (the owner looked in the chat and found no copy), ARGV[8] now (ms).
 */
const WITHDRAW = new RedisScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 'unknown'
end
local phase = redis.call('HGET', KEYS[1], 'phase')
local outcome = nil
if phase == 'sent' then outcome = 'sent'
elseif redis.call('HGET', KEYS[1], 'errorCode') == 'expired' or redis.call('HGET', KEYS[1], 'errorCode') == 'cancelled' then outcome = 'final'
elseif phase == 'sending' and ARGV[7] ~= '1' then outcome = 'sending'
end
if outcome then
  -- An attempt under way settles it; look again in a minute (not at every sweep) in case it was cut off.
  if outcome == 'sending' then redis.call('ZADD', KEYS[2], tonumber(ARGV[8]) + 60000, ARGV[1])
  else redis.call('ZREM', KEYS[2], ARGV[1]) end
  return outcome
end
if ARGV[2] == 'expired' then
  local expiresAt = tonumber(redis.call('HGET', KEYS[1], '${RECORD_EXPIRES_AT_FIELD}'))
  if expiresAt == nil or tonumber(ARGV[8]) < expiresAt then return 'not_due' end
end
redis.call('HSET', KEYS[1], 'errorCode', ARGV[2], 'errorMessage', ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'type', ARGV[5], 'data', ARGV[6])
return 'withdrawn'`);

export interface WithdrawOptions {
  readonly redis: RedisClient;
  readonly keys: SessionKeys;
  readonly id: string;
  readonly code: WithdrawalCode;
  /** EVENTS_MAX_LEN */
  readonly eventsMaxLen: number;
  /** Withdraw a record marked `sending`: only the owner, once it found no copy of the message in the chat. */
  readonly force?: boolean;
  /** @defaultValue Date.now() */
  readonly now?: number;
}

/** What users read for a withdrawal (the record's `errorMessage`, the event's `reason`). */
export function withdrawalMessage(code: WithdrawalCode, at: Date): string {
  return code === EXPIRED
    ? `the message expired at ${at.toISOString()} before it could be sent (its expiresAt, ttlSeconds or the session's messageTtlSeconds): it was not sent`
    : 'the message was cancelled before it was sent';
}

export async function withdrawMessage({ redis, keys, id, code, eventsMaxLen, force = false, now = Date.now() }: WithdrawOptions): Promise<WithdrawalOutcome> {
  const at = new Date(now).toISOString();
  const reason = withdrawalMessage(code, new Date(now));
  const fields = encodeEvent(code === EXPIRED ? { type: 'message.failed', at, id, code, reason } : { type: 'message.cancelled', at, id });
  const failure = messageFailureFields({ code, message: reason });
  const reply = await WITHDRAW.run(redis, [keys.message(id), keys.expiries, keys.events], [id, failure.errorCode, failure.errorMessage, eventsMaxLen, fields[1], fields[3], force ? '1' : '0', now]);
  return String(reply) as WithdrawalOutcome;
}

/**
 * Removes a withdrawn message's job from its queue. False when it could not be (active: its handler
 * finds the record withdrawn and fails it) or is gone already.
 */
export async function removeWithdrawnJob(outbox: Queue, id: string): Promise<boolean> {
  return (await outbox.remove(id)) === 1;
}
