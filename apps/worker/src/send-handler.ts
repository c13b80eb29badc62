/**
 * The send handler: delivers one message at most once.
 *
 * 1. Held: if the session is not READY (the outbox is paused, but a job taken just before the pause
 *    can still arrive here), the job goes back to the head of the queue without burning an attempt.
 * 2. Pacing: wait for the session's send slot.
 * 3. Fencing: prove this worker still owns the session before any side effect.
 * 4. Crash dedupe: the message record says what earlier attempts did. `sent` → done already (a crash
 *    between WhatsApp accepting and BullMQ completing). `sending` → an attempt was interrupted after
 *    its marker: look in the chat's recent own messages for the same text since that attempt started;
 *    if it is there, record it instead of sending a second copy.
 * 5. The marker is written in the same round trip that reads the record (a Lua script); then the side
 *    effect, then the record (WA message id, sent time) and the event in one MULTI.
 * 6. Order: a step that fails because the session is going away or WhatsApp Web's connection dropped
 *    holds the job at the head of the queue (see `heldIfSessionLost`) instead of retrying it with backoff
 *    behind the messages accepted after it.
 * 7. Account: a message accepted while an account was linked (the producer records it as `account`)
 *    is not sent from another one: AccountChangedError (unrecoverable, `account_changed`). One accepted
 *    while none was linked goes out from whichever links.
 */
import {
  AccountChangedError,
  decodeMessageRecord,
  messageRecordTtlSeconds,
  RedisScript,
  SessionNotReadyError,
  type JobPayload,
  type Logger,
  type RedisClient,
  type SessionKeys,
  UnregisteredRecipientError,
} from '@waq/shared';

import type { WhatsAppDriver } from './driver/driver.js';
import { abortableDelay, type SessionLease } from './lease.js';
import type { Pacer } from './pacer.js';
import type { StatePublisher } from './state-publisher.js';
import { withTimeout } from './with-timeout.js';

/**
 * Returns the message record as it was and, unless it says `sent`, marks this attempt: `phase=sending`
 * and its start time. KEYS[1] record; ARGV[1] attempt start (ISO 8601); ARGV[2] record TTL (s).
 */
const CLAIM_ATTEMPT = new RedisScript(`
local previous = redis.call('HGETALL', KEYS[1])
if redis.call('HGET', KEYS[1], 'phase') ~= 'sent' then
  redis.call('HSET', KEYS[1], 'phase', 'sending', 'attemptStartedAt', ARGV[1])
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return previous`);

function pairsToObject(reply: unknown): Record<string, string> {
  const object: Record<string, string> = {};
  if (!Array.isArray(reply)) return object;
  for (let i = 0; i + 1 < reply.length; i += 2) object[String(reply[i])] = String(reply[i + 1]);
  return object;
}

/** How long a failed send waits to see whether the session is going away (events trail the failure). */
const SESSION_LOSS_GRACE_MS = 2_000;
/** How long a send that failed on a dropped connection waits, active, for the connection to be back. */
const CONNECTION_WAIT_MS = 30_000;
const CONNECTION_POLL_MS = 250;
const STATE_READ_TIMEOUT_MS = 5_000;
/** Clock skew allowed between this host and WhatsApp's message timestamps (seconds granularity). */
const DEDUPE_SKEW_S = 5;
/**
 * How far back in the chat the crash-dedupe looks. Generous on purpose: a job interrupted by a crash is
 * retried only once its lock expires (up to about 2 × JOB_LOCK_MS, plus the restart), and the jobs behind
 * it keep going meanwhile, often to the same chat. With 50, a kill -9 of the worker in a 1,000-message
 * run to one number sent a duplicate (reliability suite, scenario 1). Read only on that rare path.
 */
const DEDUPE_WINDOW = 1_000;

export interface SendContext {
  readonly jobId: string;
  readonly logger: Logger;
  readonly signal: AbortSignal;
}

export interface SendResult {
  readonly waMessageId: string;
  /** True when an interrupted earlier attempt had already delivered it. */
  readonly recovered: boolean;
}

export interface SendHandlerOptions {
  readonly redis: RedisClient;
  readonly keys: SessionKeys;
  readonly lease: Pick<SessionLease, 'assertHeld'>;
  readonly publisher: StatePublisher;
  readonly pacer: Pacer;
  /** The client if the session is READY, else undefined. */
  readonly readyClient: () => WhatsAppDriver | undefined;
  /** Resolves true if the session leaves READY within `ms` (a failed send caused by the session going away). */
  readonly sessionLostWithin: (ms: number) => Promise<boolean>;
  /** MESSAGE_RETENTION_S */
  readonly retentionSeconds: number;
}

/** WhatsApp Web's connection state, or null when the page does not answer in time. */
async function connectionState(client: WhatsAppDriver): Promise<string | null> {
  return withTimeout(client.getState(), STATE_READ_TIMEOUT_MS, 'getState()').catch(() => null);
}

/** Resolves true once the connection is CONNECTED again, false after CONNECTION_WAIT_MS or on abort. */
async function connectionBack(client: WhatsAppDriver, signal: AbortSignal): Promise<boolean> {
  const deadline = Date.now() + CONNECTION_WAIT_MS;
  while (!signal.aborted && Date.now() < deadline) {
    if ((await connectionState(client)) === 'CONNECTED') return true;
    await abortableDelay(CONNECTION_POLL_MS, signal);
  }
  return false;
}

export function createSendHandler(options: SendHandlerOptions) {
  const { redis, keys, lease, publisher, pacer, readyClient, sessionLostWithin, retentionSeconds } = options;
  const recordTtl = messageRecordTtlSeconds(retentionSeconds);

  function requireClient(): WhatsAppDriver {
    const client = readyClient();
    if (client === undefined) throw new SessionNotReadyError(`session is ${publisher.status}`);
    return client;
  }

  async function recordSent(id: string, waMessageId: string, logger: Logger): Promise<void> {
    const sentAt = new Date().toISOString();
    const recordKey = keys.message(id);
    await publisher.append([{ type: 'message.sent', at: sentAt, id, waMessageId }], (multi) => {
      multi.hset(recordKey, { phase: 'sent', waMessageId, sentAt }).expire(recordKey, recordTtl);
      multi.set(keys.waMessage(waMessageId), id, 'EX', recordTtl);
    });
    logger.info({ waMessageId }, 'message sent');
  }

  async function findEarlierCopy(client: WhatsAppDriver, payload: JobPayload<'send'>, since: string): Promise<string | undefined> {
    const after = Math.floor(Date.parse(since) / 1_000) - DEDUPE_SKEW_S;
    const candidates = (await client.recentOwnMessages(payload.to, DEDUPE_WINDOW)).filter((m) => m.body === payload.text && m.timestamp >= after);
    for (const candidate of candidates) {
      // A copy already claimed by another job (the same text sent twice on purpose) is not ours.
      const owner = await redis.get(keys.waMessage(candidate.waMessageId));
      if (owner === null) return candidate.waMessageId;
    }
    return undefined;
  }

  /**
   * Runs a step that talks to WhatsApp. If it fails because the session is going away (Chromium crash,
   * unlink, disconnect) or because WhatsApp Web's connection dropped (phone or network away: state
   * TIMEOUT, the session stays READY), the job is held: back to the head of the queue without burning
   * an attempt, so it keeps its place in line, and its marker makes the next attempt look for a copy
   * first. A retry with backoff would let the messages behind it go first. After a dropped connection
   * the job stays active until the connection is back (bounded), so the queue does not spin meanwhile.
   */
  async function heldIfSessionLost<T>(client: WhatsAppDriver, signal: AbortSignal, step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (error) {
      if (error instanceof UnregisteredRecipientError) throw error;
      const cause = error instanceof Error ? error.message : String(error);
      // Read at the failure: the connection may well be back by the end of the grace period below.
      const state = await connectionState(client);
      if (await sessionLostWithin(SESSION_LOSS_GRACE_MS)) throw new SessionNotReadyError(`the session left READY during the send (${cause})`);
      if (state !== 'CONNECTED') {
        const back = await connectionBack(client, signal);
        throw new SessionNotReadyError(`WhatsApp Web's connection was ${state ?? 'unknown'} when the send failed (${cause}); ${back ? 'it is back' : `not back after ${CONNECTION_WAIT_MS / 1_000} s`}`);
      }
      throw error;
    }
  }

  return async function send(payload: JobPayload<'send'>, { jobId, logger, signal }: SendContext): Promise<SendResult> {
    requireClient();
    await pacer.wait(signal);
    if (signal.aborted) throw new SessionNotReadyError('the worker is stopping');
    const client = requireClient();
    await lease.assertHeld();

    const recordKey = keys.message(jobId);
    // One round trip: what earlier attempts did, and this attempt's "sending" marker (unless already sent).
    const hash = pairsToObject(await CLAIM_ATTEMPT.run(redis, [recordKey], [new Date().toISOString(), recordTtl]));
    const record = decodeMessageRecord(hash);
    if (record?.phase === 'sent' && record.waMessageId !== undefined) {
      logger.info({ waMessageId: record.waMessageId }, 'already sent by an earlier attempt; not sending again');
      return { waMessageId: record.waMessageId, recovered: true };
    }
    const acceptedFor = hash['account'];
    const linked = publisher.current.me?.wid;
    if (acceptedFor !== undefined && linked !== undefined && acceptedFor !== linked) throw new AccountChangedError();
    if (record?.phase === 'sending') {
      const copy = await heldIfSessionLost(client, signal, () => findEarlierCopy(client, payload, record.attemptStartedAt));
      if (copy !== undefined) {
        logger.warn({ waMessageId: copy, attemptStartedAt: record.attemptStartedAt }, 'an interrupted attempt had already delivered this message; recording it instead of sending a duplicate');
        await recordSent(jobId, copy, logger);
        return { waMessageId: copy, recovered: true };
      }
      logger.info({ attemptStartedAt: record.attemptStartedAt }, 'an interrupted attempt left no copy in the chat: sending');
    }

    const { waMessageId } = await heldIfSessionLost(client, signal, async () => {
      if (payload.to.endsWith('@c.us') && !(await client.isRegistered(payload.to))) throw new UnregisteredRecipientError();
      return client.sendText(payload.to, payload.text);
    });
    pacer.markSent();
    await recordSent(jobId, waMessageId, logger);
    return { waMessageId, recovered: false };
  };
}
